/**
 * The null scheduler on a real host: each vCPU owns a pCPU or waits in the FIFO waitq. Checked
 * from the trace (UNIT_ASSIGN / UNIT_DEASSIGN records against every switch record) and from the
 * policy's own records, under fixed scenarios and under random sequences of wake-ups, blocks,
 * pauses, affinity changes, domain creation and destruction, pool moves and pCPU moves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuSet, ms, us, type TraceRecord } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { NULL_TRACE, checkNull, nullScheduler, nullState } from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import type { Xc } from '../../../tools/src/xc/xc';

const NULL = nullScheduler.schedId;
const IDLE = 0x7fff;

/**
 * Watches the trace: keeps, per pCPU, the unit the null policy assigned there (from its ASSIGN and
 * DEASSIGN records) and checks every switch on a null pCPU against it.
 */
function watch(host: Host) {
  const assigned = new Map<number, string>();
  const violations: string[] = [];
  let switches = 0;
  // what is assigned already (dom0 got its pCPU at boot, before anyone watched)
  for (const pool of host.hv.fw.pools.values())
    if (pool.ops === nullScheduler) for (const [c, u] of nullState(pool.g).assigned) assigned.set(c, `${u.domid}.${u.vcpuId}`);
  const nullCpus = () => new Set<number>([...host.hv.fw.pools.values()].filter((p) => p.ops === nullScheduler).flatMap((p) => p.cpus.ids));
  const unsub = host.hv.trace.subscribe((r: TraceRecord) => {
    if (r.type === 'policy' && r.policy === 'null') {
      const who = `${r.data[0] >>> 16}.${r.data[0] & 0xffff}`;
      if (r.event === NULL_TRACE.UNIT_ASSIGN) {
        if (assigned.has(r.data[1])) violations.push(`${r.t}: cpu ${r.data[1]} assigned ${who} while holding ${assigned.get(r.data[1])}`);
        for (const [c, u] of assigned) if (u === who) violations.push(`${r.t}: ${who} assigned to cpu ${r.data[1]} while on cpu ${c}`);
        assigned.set(r.data[1], who);
      } else if (r.event === NULL_TRACE.UNIT_DEASSIGN) {
        if (assigned.get(r.data[1]) !== who) violations.push(`${r.t}: cpu ${r.data[1]} deassigned ${who}, held ${assigned.get(r.data[1])}`);
        assigned.delete(r.data[1]);
      }
    } else if (r.type === 'switch' && nullCpus().has(r.cpu)) {
      switches++;
      const next = `${r.nextDom}.${r.nextVcpu}`;
      if (r.nextDom !== IDLE && assigned.get(r.cpu) !== next) violations.push(`${r.t}: cpu ${r.cpu} runs ${next}, assigned ${assigned.get(r.cpu) ?? 'nothing'}`);
      if (r.slice !== -1) violations.push(`${r.t}: cpu ${r.cpu} got a slice of ${r.slice}`);
    }
  });
  return { assigned, violations, unsub, switches: () => switches };
}

/** Every null pool's invariants, plus liveness: no waiter may use a free pCPU not about to schedule. */
function checkPools(host: Host, all = true): string[] {
  const errs: string[] = [];
  for (const pool of host.hv.fw.pools.values()) {
    if (pool.ops !== nullScheduler) continue;
    errs.push(...checkNull(pool.g).map((e) => `pool ${pool.id}: ${e}`));
    const s = nullState(pool.g);
    for (const w of s.waitq)
      for (const c of s.free)
        if (w.hardAffinity.has(c) && !host.hv.fw.reschedulePending(c)) errs.push(`pool ${pool.id}: d${w.domid}v${w.vcpuId} waits while cpu ${c} is free`);
  }
  return [...errs, ...host.hv.fw.policyErrors, ...(all ? host.hv.checkInvariants() : [])];
}

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

describe('null', () => {
  it('gives each vCPU a pCPU of its own; with none free it waits, and takes the first pCPU that frees', () => {
    const host = new Host({ cpus: 4, memoryMiB: 256, scheduler: 'null', seed: 4 });
    const w = watch(host);
    const g = () => host.hv.fw.pools.get(0)!.g;
    const hog = (xc: Xc, name: string) => buildDomain(xc, { name, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}` }).domid;
    const [a, b, c] = host.run('build', function* ({ xc }) {
      return [hog(xc, 'a'), hog(xc, 'b'), hog(xc, 'c')];
    });
    host.runFor(ms(10));
    // dom0 kept pCPU 0; the three hogs took the other three
    const s1 = nullState(g());
    expect([...s1.assigned].map(([cpu, u]) => [cpu, u.domid]).sort()).toEqual([
      [0, 0],
      [1, a],
      [2, b],
      [3, c],
    ]);
    const d = host.run('late', function* ({ xc }) {
      return hog(xc, 'd');
    });
    host.runFor(ms(100));
    const vd = host.hv.domains.get(d)!.vcpus[0];
    expect(nullState(g()).waitq).toEqual([vd]);
    expect(vd.cpuTime(host.now)).toBe(0);
    // each hog owns its pCPU: 100 ms of CPU in 100 ms, never preempted (no slices)
    const cpu = (id: number) => host.hv.domains.get(id)!.vcpus[0].cpuTime(host.now);
    const before = [a, b, c].map(cpu);
    host.runFor(ms(100));
    [a, b, c].forEach((id, i) => expect(cpu(id) - before[i]).toBe(ms(100)));
    // destroy b: its pCPU goes to d at once (the assignment is traced at the destroy instant)
    const assignAt: number[] = [];
    const un = host.hv.trace.subscribe((r) => {
      if (r.type === 'policy' && r.policy === 'null' && r.event === NULL_TRACE.UNIT_ASSIGN && r.data[0] >>> 16 === d) assignAt.push(r.t, r.data[1]);
    });
    const killedAt = host.run('destroy', function* ({ xc, os }) {
      xc.domainDestroy(b);
      return os.now();
    });
    un();
    expect(assignAt[1]).toBe(2);
    expect(assignAt[0] - killedAt).toBeLessThan(us(5)); // the hypercall's instant
    const d0 = cpu(d);
    host.runFor(ms(100));
    expect(cpu(d) - d0).toBe(ms(100) - host.hv.costs.softirqNs); // switched in one softirq after
    expect(nullState(g()).waitq).toEqual([]);
    expect(w.violations).toEqual([]);
    expect(checkPools(host)).toEqual([]);
  });

  it('places by soft affinity, then hard; a waiter whose hard affinity excludes the freed pCPU keeps waiting', () => {
    const host = new Host({ cpus: 4, memoryMiB: 256, scheduler: 'null', seed: 6 });
    const w = watch(host);
    const g = () => host.hv.fw.pools.get(0)!.g;
    const r = host.run('build', function* ({ xc }) {
      const mk = (name: string) => buildDomain(xc, { name, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}`, paused: true }).domid;
      const a = mk('a');
      const b = mk('b');
      const c = mk('c');
      const e = mk('e');
      // a prefers cpu 3; b may only run on 1; c may run on 1–2 (prefers 2); e may only run on 1
      xc.setVcpuAffinity(a, 0, null, CpuSet.of([3]), 4);
      xc.setVcpuAffinity(b, 0, CpuSet.of([1]), null, 4);
      xc.setVcpuAffinity(c, 0, CpuSet.of([1, 2]), CpuSet.of([2]), 4);
      xc.setVcpuAffinity(e, 0, CpuSet.of([1]), null, 4);
      for (const id of [a, b, c, e]) xc.domainUnpause(id);
      return { a, b, c, e };
    });
    host.runFor(ms(20));
    const s = nullState(g());
    const on = (id: number) => [...s.assigned].find(([, u]) => u.domid === id)?.[0];
    expect([on(r.a), on(r.b), on(r.c)]).toEqual([3, 1, 2]);
    expect(s.waitq.map((u) => u.domid)).toEqual([r.e]);
    // c's pCPU (2) frees: e may not run there, so it keeps waiting; b's (1) frees: e takes it
    host.run('destroy c', function* ({ xc }) {
      xc.domainDestroy(r.c);
    });
    host.runFor(ms(5));
    expect(nullState(g()).waitq.map((u) => u.domid)).toEqual([r.e]);
    expect(nullState(g()).free).toEqual([2]);
    host.run('destroy b', function* ({ xc }) {
      xc.domainDestroy(r.b);
    });
    host.runFor(ms(5));
    expect([...nullState(g()).assigned].find(([, u]) => u.domid === r.e)?.[0]).toBe(1);
    expect(nullState(g()).waitq).toEqual([]);
    expect(w.violations).toEqual([]);
    expect(checkPools(host)).toEqual([]);
  });

  it('a pCPU joining the pool takes the first waiter; one leaving it sends its vCPU to a free pCPU or the waitq', () => {
    const host = new Host({ cpus: 4, memoryMiB: 256, scheduler: 'null', seed: 8 });
    const w = watch(host);
    const g = () => host.hv.fw.pools.get(0)!.g;
    const ids = host.run('shrink', function* ({ xc }) {
      xc.cpupoolRemoveCpu(0, 3);
      xc.cpupoolRemoveCpu(0, 2);
      return [0, 1, 2].map((i) => buildDomain(xc, { name: `h${i}`, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}` }).domid);
    });
    host.runFor(ms(10));
    // pCPUs 0 (dom0) and 1 (the first hog): the other two wait, in creation order
    expect(nullState(g()).waitq.map((u) => u.domid)).toEqual([ids[1], ids[2]]);
    host.run('grow', function* ({ xc }) {
      xc.cpupoolAddCpu(0, 2);
    });
    host.runFor(ms(1));
    expect(nullState(g()).waitq.map((u) => u.domid)).toEqual([ids[2]]);
    expect(nullState(g()).assigned.get(2 as never)?.domid).toBe(ids[1]);
    // pCPU 1 leaves: its hog has nowhere free to go, so it queues behind the waiter
    host.run('rm', function* ({ xc }) {
      xc.cpupoolRemoveCpu(0, 1);
    });
    host.runFor(ms(1));
    expect(nullState(g()).waitq.map((u) => u.domid)).toEqual([ids[2], ids[0]]);
    host.run('add both', function* ({ xc }) {
      xc.cpupoolAddCpu(0, 1);
      xc.cpupoolAddCpu(0, 3);
    });
    host.runFor(ms(1));
    expect(nullState(g()).waitq).toEqual([]);
    expect(w.violations).toEqual([]);
    expect(checkPools(host)).toEqual([]);
  });

  // Random sequences of operations on a host with two null pools (Pool-0: pCPUs 0–2 with dom0,
  // pool 1: pCPUs 3–4). Guests are interactive (they block and wake on their own) or CPU hogs.
  type Cmd =
    | { k: 'create'; pool: number; vcpus: number; hog: boolean; period: number; work: number }
    | { k: 'destroy' | 'pause' | 'unpause' | 'move'; dom: number }
    | { k: 'hard' | 'soft'; dom: number; vcpu: number; mask: number }
    | { k: 'cpu'; cpu: number }
    | { k: 'run'; us: number };
  const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ k: fc.constant('create' as const), pool: fc.integer({ min: 0, max: 1 }), vcpus: fc.integer({ min: 1, max: 2 }), hog: fc.boolean(), period: fc.integer({ min: 500, max: 5000 }), work: fc.integer({ min: 50, max: 2000 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('destroy' as const, 'pause' as const, 'unpause' as const, 'move' as const), dom: fc.nat(20) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('hard' as const, 'soft' as const), dom: fc.nat(20), vcpu: fc.nat(1), mask: fc.integer({ min: 1, max: 31 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('cpu' as const), cpu: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('run' as const), us: fc.integer({ min: 1, max: 5_000 }) }) },
  );

  it('never runs two vCPUs on one pCPU, and never leaves a waiter beside a free pCPU (random wake/block/pause/affinity/pool moves)', () => {
    let runs = 0;
    let totalSwitches = 0;
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 8, maxLength: 30 }), (cmds) => {
        const host = new Host({ cpus: 5, memoryMiB: 128, scheduler: 'null', seed: 11 });
        const w = watch(host);
        const pool1 = host.run('pools', function* ({ xc }) {
          xc.cpupoolRemoveCpu(0, 4);
          xc.cpupoolRemoveCpu(0, 3);
          const p = xc.cpupoolCreate(NULL);
          xc.cpupoolAddCpu(p, 3);
          xc.cpupoolAddCpu(p, 4);
          return p;
        });
        const doms: number[] = [];
        const errs: string[] = [];
        for (const c of cmds) {
          if (c.k === 'run') host.runFor(us(c.us));
          else
            host.run(c.k, function* ({ xc }) {
              const dom = 'dom' in c && doms.length > 0 ? doms[c.dom % doms.length] : undefined;
              switch (c.k) {
                case 'create':
                  if (doms.length >= 8) break;
                  doms.push(
                    buildDomain(xc, {
                      name: `g${doms.length}`,
                      memoryMiB: 4,
                      vcpus: c.vcpus,
                      kernel: c.hog ? 'minios-cpuhog' : 'minios-interactive',
                      cmdline: c.hog ? `threads=${c.vcpus} chunk=${ms(1)}` : `period=${us(c.period)} jitter=${us(100)} work=${us(c.work)}`,
                      cpupool: c.pool === 0 ? 0 : pool1,
                    }).domid,
                  );
                  break;
                case 'destroy':
                  if (dom !== undefined) {
                    xc.domainDestroy(dom);
                    doms.splice(doms.indexOf(dom), 1);
                  }
                  break;
                case 'pause':
                  if (dom !== undefined) rcOf(() => xc.domainPause(dom));
                  break;
                case 'unpause':
                  if (dom !== undefined) rcOf(() => xc.domainUnpause(dom));
                  break;
                case 'move':
                  if (dom !== undefined) rcOf(() => xc.cpupoolMoveDomain(xc.domainGetInfo(dom)!.cpupool === 0 ? pool1 : 0, dom));
                  break;
                case 'hard':
                case 'soft':
                  if (dom !== undefined && c.vcpu < host.hv.domains.get(dom)!.vcpus.length) {
                    const m = CpuSet.of([0, 1, 2, 3, 4].filter((i) => c.mask & (1 << i)));
                    rcOf(() => xc.setVcpuAffinity(dom, c.vcpu, c.k === 'hard' ? m : null, c.k === 'soft' ? m : null, 5));
                  }
                  break;
                case 'cpu': {
                  // move a pCPU to the other pool, keeping at least one in each
                  const inPool0 = host.hv.fw.pcpus[c.cpu].pool?.id === 0;
                  const from = inPool0 ? 0 : pool1;
                  if (xc.cpupoolInfo(from, 5).cpus.size > 1 && rcOf(() => xc.cpupoolRemoveCpu(from, c.cpu)) === 0) xc.cpupoolAddCpu(inPool0 ? pool1 : 0, c.cpu);
                  break;
                }
              }
            });
          errs.push(...checkPools(host, false));
          if (errs.length > 0) break;
        }
        host.runFor(ms(5));
        errs.push(...checkPools(host), ...w.violations);
        w.unsub();
        runs++;
        totalSwitches += w.switches();
        expect(errs).toEqual([]);
      }),
      { numRuns: 100, seed: 0x5eed },
    );
    expect(runs).toBe(100);
    expect(totalSwitches).toBeGreaterThan(1000); // the scenarios did run guests
  });
});
