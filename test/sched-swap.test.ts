/**
 * Swapping schedulers at run time with cpupools (Xen 4.1+): dom0 creates a pool with another
 * policy, moves a pCPU into it and migrates a running domain there — all through Xc's
 * XEN_SYSCTL_cpupool_op calls from a dom0 job, as `xl cpupool-create / cpupool-cpu-remove /
 * cpupool-cpu-add / cpupool-migrate` do. The domain must keep running under its new policy, its
 * runstate times must stay consistent, and the trace must show the move.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuSet, Errno, RUNSTATE, XEN_SCHEDULER, ms, sec, type Ns, type TraceRecord } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { bvtAdjdom, bvtScheduler } from '@xenotype/sched-bvt';
import { creditScheduler, xenDomctlSchedCredit } from '@xenotype/sched-credit';
import { credit2Scheduler } from '@xenotype/sched-credit2';
import { Host } from '../tools/src/host/host';
import { buildDomain } from '../tools/src/toolstack/builder';

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

/** A 2-pCPU host on `scheduler` with two CPU hogs, A and B, running in Pool-0. */
function twoHogs(scheduler: string, seed = 3) {
  const host = new Host({ cpus: 2, memoryMiB: 256, scheduler, seed });
  const trace: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => {
    if (r.type === 'pool_move' || r.type === 'migrate' || r.type === 'runstate' || r.type === 'policy_error') trace.push(r);
  });
  const [A, B] = host.run('build', function* ({ xc }) {
    const ids = ['A', 'B'].map((name) => buildDomain(xc, { name, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}`, paused: true }).domid);
    for (const id of ids) xc.domainUnpause(id);
    return ids;
  });
  const vcpu = (id: number) => host.hv.domains.get(id)!.vcpus[0];
  const cpu = (id: number): Ns => vcpu(id).cpuTime(host.now);
  /** Runstate times of A's vCPU add up to its lifetime, the current stint included. */
  const runstateSum = (id: number) => {
    const v = vcpu(id);
    const t = v.runstateTime;
    return { sum: t[0] + t[1] + t[2] + t[3] + (host.now - v.stateEntryTime), lifetime: host.now - host.hv.domains.get(id)!.createdAt };
  };
  const clean = () => {
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  };
  return { host, trace, A, B, vcpu, cpu, runstateSum, clean };
}

describe('swapping schedulers with cpupools', () => {
  it('a domain moved from a BVT pool to a credit pool mid-run keeps running, its runstate times stay consistent, and the trace shows the move', () => {
    const { host, trace, A, B, vcpu, cpu, runstateSum, clean } = twoHogs('bvt');
    host.runFor(ms(300));
    expect(host.hv.domains.get(A)!.pool.ops).toBe(bvtScheduler);
    const a0 = cpu(A);
    expect(a0).toBeGreaterThan(ms(250)); // it was running (one pCPU each)

    const moved = host.run('cpupool', function* ({ xc }) {
      const pool = xc.cpupoolCreate(XEN_SCHEDULER.CREDIT);
      xc.cpupoolRemoveCpu(0, 1);
      const added = xc.cpupoolAddCpu(pool, 1);
      xc.cpupoolMoveDomain(pool, A);
      return { pool, added, info: xc.cpupoolInfo(pool, 2), pool0: xc.cpupoolInfo(0, 2), dom: xc.domainGetInfo(A) };
    });
    const pool = moved.pool;
    const tMove = host.now;
    expect(pool).toBe(1);
    expect(moved.added).toBe(1);
    expect([moved.info.schedId, moved.info.nDom, moved.info.cpus.ids]).toEqual([XEN_SCHEDULER.CREDIT, 1, [1]]);
    expect([moved.pool0.schedId, moved.pool0.cpus.ids]).toEqual([XEN_SCHEDULER.BVT, [0]]);
    expect(moved.dom!.cpupool).toBe(pool);

    // The trace shows the move: one pool_move record, A from pool 0 to the new pool.
    const moves = trace.filter((r) => r.type === 'pool_move');
    expect(moves.map((r) => r.type === 'pool_move' && [r.dom, r.from, r.to])).toEqual([[A, 0, pool]]);
    // A's vCPU was descheduled and put back at the instant of the move (paused, offline for 0 ns)
    const mv = moves[0].t;
    const around = trace.filter((r) => r.type === 'runstate' && r.dom === A && r.t === mv).map((r) => (r.type === 'runstate' ? [r.from, r.to] : []));
    expect(around.some(([f, t]) => f === RUNSTATE.running && t !== RUNSTATE.running)).toBe(true);
    expect(around[around.length - 1][1]).toBe(RUNSTATE.runnable);
    // now credit's: its policy record is credit's, it sits on pCPU 1, the pool's only pCPU
    expect(host.hv.domains.get(A)!.pool.ops).toBe(creditScheduler);
    expect(vcpu(A).res).toBe(1);
    expect(vcpu(A).priv).toHaveProperty('pri');

    // It keeps running: alone on pCPU 1, it gets all of it; B keeps pCPU 0.
    const a1 = cpu(A);
    const b1 = cpu(B);
    host.runFor(sec(1));
    expect(cpu(A) - a1).toBeGreaterThan(sec(1) - ms(5));
    expect(cpu(B) - b1).toBeGreaterThan(sec(1) - ms(10));
    const rs = runstateSum(A);
    expect(rs.sum).toBe(rs.lifetime);
    expect(vcpu(A).runstateTime[RUNSTATE.running] + (host.now - vcpu(A).stateEntryTime)).toBe(cpu(A));
    clean();

    // Credit governs it now: its parameters go through credit's sched_id, not BVT's any more.
    const rcs = host.run('params', function* ({ xc }) {
      const bvt = rcOf(() => xc.schedDomainSet(A, XEN_SCHEDULER.BVT, bvtAdjdom, { mcu_adv: 10 }));
      xc.schedDomainSet(A, XEN_SCHEDULER.CREDIT, xenDomctlSchedCredit, { weight: 512, cap: 40 });
      return { bvt, got: xc.schedDomainGet(A, XEN_SCHEDULER.CREDIT, xenDomctlSchedCredit) };
    });
    expect(rcs.bvt).toBe(-Errno.EINVAL);
    expect(rcs.got).toEqual({ weight: 512, cap: 40 });
    host.runFor(ms(200));
    const a2 = cpu(A);
    host.runFor(sec(2));
    expect(Math.abs((cpu(A) - a2) / sec(2) - 0.4)).toBeLessThanOrEqual(0.01); // the cap holds
    clean();

    // And back: A to Pool-0 (BVT), the pool emptied and destroyed, its pCPU returned.
    host.run('back', function* ({ xc }) {
      xc.cpupoolMoveDomain(0, A);
      xc.cpupoolRemoveCpu(pool, 1);
      xc.cpupoolDestroy(pool);
      xc.cpupoolAddCpu(0, 1);
    });
    expect(trace.filter((r) => r.type === 'pool_move').map((r) => r.type === 'pool_move' && [r.dom, r.from, r.to])).toEqual([
      [A, 0, pool],
      [A, pool, 0],
    ]);
    expect(host.hv.fw.pools.has(pool)).toBe(false);
    expect(host.hv.domains.get(A)!.pool.ops).toBe(bvtScheduler);
    const a3 = cpu(A);
    const b3 = cpu(B);
    host.runFor(sec(1));
    // back under BVT: A was placed on pCPU 0 (Pool-0's only pCPU when it moved) and BVT, like Xen
    // 2.0's, never balances, so the two hogs share pCPU 0 while pCPU 1 idles
    expect(vcpu(A).res).toBe(0);
    expect(Math.abs((cpu(A) - a3) / sec(1) - 0.5)).toBeLessThanOrEqual(0.03);
    expect(Math.abs((cpu(B) - b3) / sec(1) - 0.5)).toBeLessThanOrEqual(0.03);
    const rs2 = runstateSum(A);
    expect(rs2.sum).toBe(rs2.lifetime);
    expect(host.now - tMove).toBeGreaterThan(sec(4));
    clean();
  });

  it.each([
    ['credit', XEN_SCHEDULER.CREDIT2, credit2Scheduler],
    ['credit2', XEN_SCHEDULER.CREDIT, creditScheduler],
    ['credit2', XEN_SCHEDULER.BVT, bvtScheduler],
    ['rr', XEN_SCHEDULER.CREDIT2, credit2Scheduler],
  ] as const)('%s → scheduler %i: the moved domain keeps running under its new policy', (from, toId, toOps) => {
    const { host, trace, A, B, vcpu, cpu, runstateSum, clean } = twoHogs(from);
    host.runFor(ms(200));
    const pool = host.run('cpupool', function* ({ xc }) {
      const p = xc.cpupoolCreate(toId);
      xc.cpupoolRemoveCpu(0, 1);
      xc.cpupoolAddCpu(p, 1);
      xc.cpupoolMoveDomain(p, A);
      return p;
    });
    expect(host.hv.domains.get(A)!.pool.ops).toBe(toOps);
    expect(trace.filter((r) => r.type === 'pool_move').length).toBe(1);
    const a = cpu(A);
    const b = cpu(B);
    host.runFor(ms(500));
    expect(cpu(A) - a).toBeGreaterThan(ms(490));
    expect(cpu(B) - b).toBeGreaterThan(ms(480));
    expect(vcpu(A).res).toBe(1);
    const rs = runstateSum(A);
    expect(rs.sum).toBe(rs.lifetime);
    expect(pool).toBe(1);
    clean();
  });

  it('random pool operations (create, add / remove pCPUs, move domains, pin) across credit, credit2 and BVT pools keep every invariant', () => {
    const ids = [XEN_SCHEDULER.CREDIT, XEN_SCHEDULER.CREDIT2, XEN_SCHEDULER.BVT] as const;
    const op = fc.oneof(
      fc.record({ k: fc.constant('create' as const), s: fc.constantFrom(...ids) }),
      fc.record({ k: fc.constant('addcpu' as const), p: fc.nat(3), c: fc.nat(2) }),
      fc.record({ k: fc.constant('rmcpu' as const), p: fc.nat(3), c: fc.nat(2) }),
      fc.record({ k: fc.constant('move' as const), p: fc.nat(3), d: fc.nat(2) }),
      fc.record({ k: fc.constant('pin' as const), d: fc.nat(2), cpus: fc.subarray([0, 1, 2], { minLength: 1 }) }),
      fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: 1, max: ms(60) }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom('credit', 'credit2'), fc.array(op, { minLength: 1, maxLength: 14 }), (boot, ops) => {
        const host = new Host({ cpus: 3, memoryMiB: 256, scheduler: boot, seed: 5 });
        const doms = host.run('build', function* ({ xc }) {
          const out = [1, 2, 1].map((vcpus, i) =>
            buildDomain(xc, { name: `g${i}`, memoryMiB: 8, vcpus, kernel: i === 2 ? 'minios-interactive' : 'minios-cpuhog', cmdline: i === 2 ? `period=${ms(5)} work=${ms(1)}` : `chunk=${ms(1)} threads=${vcpus}`, paused: true }).domid,
          );
          for (const id of out) xc.domainUnpause(id);
          return out;
        });
        for (const o of ops) {
          if (o.k === 'run') host.runFor(o.ns);
          else
            host.run('op', function* ({ xc }) {
              // failures (busy pCPU, empty pool, no such pool...) are answers, not errors
              rcOf(() => {
                if (o.k === 'create') xc.cpupoolCreate(o.s);
                else if (o.k === 'addcpu') xc.cpupoolAddCpu(o.p, o.c);
                else if (o.k === 'rmcpu') xc.cpupoolRemoveCpu(o.p, o.c);
                else if (o.k === 'move') xc.cpupoolMoveDomain(o.p, doms[o.d]);
                else if (o.k === 'pin') for (let v = 0; v < host.hv.domains.get(doms[o.d])!.vcpus.length; v++) xc.setVcpuAffinity(doms[o.d], v, CpuSet.of(o.cpus), null, 3);
              });
            });
          expect(host.hv.checkInvariants()).toEqual([]);
          expect(host.hv.fw.policyErrors).toEqual([]);
        }
        // whatever happened, a runnable guest vCPU in a pool with pCPUs it may use makes progress
        const before = doms.map((d) => host.hv.domains.get(d)!.vcpus.map((v) => v.cpuTime(host.now)));
        host.runFor(ms(200));
        doms.forEach((d, i) =>
          host.hv.domains.get(d)!.vcpus.forEach((v, j) => {
            const usable = v.hardAffinity.and(v.domain.pool.cpus);
            if (v.domain.pauseCount === 0 && !usable.isEmpty && v.online && i < 2) expect(v.cpuTime(host.now) - before[i][j]).toBeGreaterThan(0);
          }),
        );
      }),
      { numRuns: 40, seed: 11 },
    );
  });

  it('moving a domain to a nonexistent pool is -ENOENT and changes nothing; an unknown scheduler id makes no pool (-ENOENT)', () => {
    const { host, A, vcpu, cpu, clean } = twoHogs('credit');
    host.runFor(ms(200));
    const before = { pool: host.hv.domains.get(A)!.pool, priv: vcpu(A).priv, res: vcpu(A).res, pools: [...host.hv.fw.pools.keys()] };
    const r = host.run('bad', function* ({ xc }) {
      return {
        move: rcOf(() => xc.cpupoolMoveDomain(7, A)),
        create: rcOf(() => xc.cpupoolCreate(42)),
        pools: xc.cpupoolInfo(0, 2),
        dom: xc.domainGetInfo(A),
      };
    });
    expect(r.move).toBe(-Errno.ENOENT);
    expect(r.create).toBe(-Errno.ENOENT); // scheduler_alloc()
    expect([...host.hv.fw.pools.keys()]).toEqual(before.pools);
    expect(host.hv.domains.get(A)!.pool).toBe(before.pool);
    expect(vcpu(A).priv).toBe(before.priv);
    expect(vcpu(A).res).toBe(before.res);
    expect(r.dom!.cpupool).toBe(0);
    const a = cpu(A);
    host.runFor(ms(300));
    expect(cpu(A) - a).toBeGreaterThan(ms(290));
    clean();
  });
});
