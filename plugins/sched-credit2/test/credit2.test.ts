/**
 * Credit2 (Xen's default since 4.12) on a real host: dom0 builds MiniOS guests through Xc and sets
 * weight and cap with XEN_DOMCTL_scheduler_op (struct xen_domctl_sched_credit2), and the pool's
 * ratelimit (and our runqueue-arrangement word) with XEN_SYSCTL_scheduler_op. Figures come from the
 * vCPUs' runstate times, the trace (runstate, switch, migrate and the policy's TRC_SCHED_CLASS
 * records) and, for white-box checks, the policy's records.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuSet, Errno, RUNSTATE, XEN_DOMCTL_SCHEDOP, abi, ms, pcpuid, sec, us, type Ns, type TopologySpec, type TraceRecord, type Values } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import {
  CSCHED2_CREDIT_INIT,
  CSCHED2_CREDIT_MIN,
  CSCHED2_MIGRATE_RESIST,
  RUNQUEUE,
  TRC_CSCHED2,
  credit2PoolParams,
  credit2Scheduler,
  xenDomctlSchedCredit2,
  xenSysctlCredit2Schedule,
} from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import { WakeLatency, shares, summarize } from '../../../tools/src/metrics';
import { setPoolSchedParams } from '../../../tools/src/toolstack/sched';
import { XentraceWriter, occupants } from '../../../tools/src/trace/xentrace';
import { PRELUDE, Workdir, parseKv, toolchain } from '../../../test/conformance/cc';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CREDIT2 = credit2Scheduler.schedId;
type Pool = Values<typeof credit2PoolParams.fields>;
const TWO_BY_TWO: TopologySpec = { sockets: 2, coresPerSocket: 2, threadsPerCore: 1 };

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

interface Spec {
  kernel?: 'minios-cpuhog' | 'minios-interactive';
  cmdline?: string;
  vcpus?: number;
  weight?: number;
  cap?: number;
  /** Hard affinity per vCPU at creation (one list for all, or one per vCPU). */
  pin?: number[] | number[][];
}
const hog = (weight = 256, extra: Partial<Spec> = {}): Spec => ({ weight, ...extra });
const interactive = (weight = 256, work = ms(1)): Spec => ({
  kernel: 'minios-interactive',
  cmdline: `period=${ms(10)} jitter=${ms(10)} work=${work} ws=${16 * 1024}`,
  weight,
});

/** The policy's private records, for white-box checks. */
interface RQ {
  id: number;
  nrCpus: number;
  active: Set<number>;
  runq: URec[];
  svc: URec[];
  maxWeight: number;
  load: number;
}
interface URec {
  rqd: RQ | null;
  credit: number;
  weight: number;
  onRunq: boolean;
  budget: number;
  parked: boolean;
  unit: { domid: number; vcpuId: number; res: number; runnable: boolean; isRunning: boolean; isIdle: boolean };
}
interface GRec {
  rqs: RQ[];
  migrateResist: number;
  ratelimitUs: number;
}

function credit2Host(specs: Spec[], o: { cpus?: number | TopologySpec; pool?: Partial<Pool>; seed?: number; resist?: Ns } = {}) {
  const host = new Host({ cpus: o.cpus ?? 1, memoryMiB: 256, scheduler: 'credit2', seed: o.seed ?? 1 });
  const nr = host.hv.fw.pcpus.length;
  const g = () => host.hv.fw.pools.get(0)!.g as GRec;
  // sched_credit2_migrate_resist is a boot option in Xen: set before anything runs
  if (o.resist !== undefined) g().migrateResist = o.resist;
  const ids = host.run('build', function* ({ xc }) {
    if (o.pool) xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, o.pool);
    const out = specs.map((s, i) => {
      const vcpus = s.vcpus ?? 1;
      const id = buildDomain(xc, {
        name: `d${i}`,
        memoryMiB: 8,
        vcpus,
        kernel: s.kernel ?? 'minios-cpuhog',
        cmdline: s.cmdline ?? `chunk=${ms(1)} ws=${64 * 1024} threads=${vcpus}`,
        paused: true,
      }).domid;
      xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: s.weight ?? 256, cap: s.cap ?? 0 });
      if (s.pin)
        for (let v = 0; v < vcpus; v++) {
          const m = Array.isArray(s.pin[0]) ? (s.pin as number[][])[v] : (s.pin as number[]);
          xc.setVcpuAffinity(id, v, CpuSet.of(m), null, nr);
        }
      return id;
    });
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const dom = (id: number) => host.hv.domains.get(id)!;
  const cpu = (id: number): Ns => dom(id).vcpus.reduce((a, v) => a + v.cpuTime(host.now), 0);
  const record = (pred: (r: TraceRecord) => boolean) => {
    const out: TraceRecord[] = [];
    const unsub = host.hv.trace.subscribe((r) => {
      if (pred(r)) out.push(r);
    });
    return { out, unsub };
  };
  const measure = (ns: Ns) => {
    const c0 = ids.map(cpu);
    host.runFor(ns);
    return ids.map((id, i) => cpu(id) - c0[i]);
  };
  const rqOfCpu = (c: number) => (host.hv.fw.pcpus[c].priv as { rqd: RQ }).rqd;
  const clean = () => {
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  };
  return { host, ids, dom, cpu, record, measure, g, rqOfCpu, clean };
}
type H = ReturnType<typeof credit2Host>;

const policyRecs = (name: string) => (r: TraceRecord) => r.type === 'policy' && r.policy === 'credit2' && r.name === name;
/** Migrations of guest vCPUs (dom0's own are not counted). */
const guestMigrations = (r: TraceRecord) => r.type === 'migrate' && r.dom !== 0;

describe('credit2: weights', () => {
  it('CPU hogs on one pCPU share it by weight (256 / 512 / 1024) within 2 %', () => {
    const weights = [256, 512, 1024];
    const { host, measure, clean } = credit2Host(weights.map((w) => hog(w)));
    host.runFor(ms(500));
    const used = measure(sec(4));
    const rows = shares(weights.map((w, i) => ({ name: `w${w}`, weight: w, cpuNs: used[i] })));
    for (const r of rows) expect(Math.abs(r.error)).toBeLessThanOrEqual(0.02);
    clean();
  });

  it('2 sockets × 2 cores (two runqueues): domains of weight 256 / 512 / 1024 with 4 vCPUs each, 2 on each socket, get 4 pCPUs in 1 : 2 : 4 within 3 %', () => {
    const perSocket = [[0, 1], [0, 1], [2, 3], [2, 3]];
    const weights = [256, 512, 1024];
    const h = credit2Host(weights.map((w) => hog(w, { vcpus: 4, pin: perSocket })), { cpus: TWO_BY_TWO });
    const { host, ids, dom, measure, rqOfCpu, clean } = h;
    expect(rqOfCpu(0)).toBe(rqOfCpu(1));
    expect(rqOfCpu(2)).toBe(rqOfCpu(3));
    expect(rqOfCpu(0)).not.toBe(rqOfCpu(2));
    host.runFor(ms(500));
    const perVcpu0 = ids.map((id) => dom(id).vcpus.map((v) => v.cpuTime(host.now)));
    const T = sec(4);
    const used = measure(T);
    const rows = shares(weights.map((w, i) => ({ name: `w${w}`, weight: w, cpuNs: used[i] })));
    for (const r of rows) expect(Math.abs(r.error)).toBeLessThanOrEqual(0.03);
    expect(used.reduce((a, b) => a + b, 0)).toBeGreaterThan(4 * T - ms(10));
    // each vCPU: 2 pCPUs × w / Σw of its runqueue (2 × (256 + 512 + 1024))
    ids.forEach((id, i) =>
      dom(id).vcpus.forEach((v, j) => expect(Math.abs((v.cpuTime(host.now) - perVcpu0[i][j]) / T - (2 * weights[i]) / 3584)).toBeLessThanOrEqual(0.02)),
    );
    clean();
  });

  // Credit2 balances runqueues by load (runnable vCPUs), not by weight: weights are honoured among
  // the vCPUs that share a runqueue. With free placement the mix differs between runqueues, and
  // each vCPU gets (pCPUs of its runqueue) × its weight / Σ weights of its runqueue.
  it('weights are honoured within each runqueue: each vCPU gets its runqueue\'s pCPUs × w / Σw there (free placement, 2 × 2)', () => {
    const weights = [256, 512, 1024];
    const h = credit2Host(weights.map((w) => hog(w, { vcpus: 4 })), { cpus: TWO_BY_TWO });
    const { host, ids, dom, clean } = h;
    host.runFor(sec(1));
    const vcpus = ids.flatMap((id) => dom(id).vcpus);
    const c0 = vcpus.map((v) => v.cpuTime(host.now));
    const moves = h.record((r) => guestMigrations(r) && h.rqOfCpu(r.type === 'migrate' ? r.from : 0) !== h.rqOfCpu(r.type === 'migrate' ? r.to : 0));
    const T = sec(3);
    host.runFor(T);
    moves.unsub();
    expect(moves.out).toEqual([]); // settled: nobody changes runqueue in the window
    const rqOf = (v: (typeof vcpus)[number]) => (v.priv as URec).rqd!;
    vcpus.forEach((v, i) => {
      const rq = rqOf(v);
      const sumW = vcpus.filter((x) => rqOf(x) === rq).reduce((a, x) => a + (x.priv as URec).weight, 0);
      const want = (rq.nrCpus * (v.priv as URec).weight) / sumW;
      expect(Math.abs((v.cpuTime(host.now) - c0[i]) / T - want)).toBeLessThanOrEqual(0.02);
    });
    // and the runqueues carry the same load: 6 guest vCPUs each
    expect(h.g().rqs.map((r) => r.svc.filter((u) => u.unit.domid !== 0).length)).toEqual([6, 6]);
    clean();
  });
});

describe('credit2: caps', () => {
  it('a capped hog gets its cap and no more: 25 % ± 0.5 % next to a hog, its vCPU parked (offline) meanwhile', () => {
    const { host, ids, dom, measure, clean } = credit2Host([hog(256, { cap: 25 }), hog()]);
    host.runFor(ms(500));
    const off0 = dom(ids[0]).vcpus[0].runstateTime[RUNSTATE.offline];
    const T = sec(3);
    const [capped, free] = measure(T).map((u) => u / T);
    expect(Math.abs(capped - 0.25)).toBeLessThanOrEqual(0.005);
    expect(free).toBeGreaterThanOrEqual(0.74);
    expect(dom(ids[0]).vcpus[0].runstateTime[RUNSTATE.offline] - off0).toBeGreaterThan(T / 2);
    clean();
  });

  it('a cap covers the whole domain (2 vCPUs capped at 50 % on 2 pCPUs: half a pCPU), and cap 0 removes it', () => {
    const h = credit2Host([hog(256, { vcpus: 2, cap: 50 }), hog()], { cpus: 2 });
    const { host, ids, measure, clean } = h;
    host.runFor(ms(500));
    const T = sec(2);
    expect(Math.abs(measure(T)[0] / T - 0.5)).toBeLessThanOrEqual(0.01);
    host.run('uncap', function* ({ xc }) {
      xc.schedDomainSet(ids[0], CREDIT2, xenDomctlSchedCredit2, { weight: 0, cap: 0 });
    });
    host.runFor(ms(200));
    // Uncapped, 3 equal vCPUs share 2 pCPUs. Not exactly 2/3 each: a reset clips the credit of a
    // vCPU running on the other pCPU at CREDIT_INIT + CARRYOVER_MAX, as Xen's does.
    const [a, b] = measure(T).map((u) => u / T);
    expect(a).toBeGreaterThan(1.2);
    expect(b).toBeGreaterThan(0.5);
    expect(a + b).toBeGreaterThan(1.99);
    expect(h.dom(ids[0]).vcpus.every((v) => !(v.priv as URec).parked && v.runnable)).toBe(true);
    clean();
  });
});

describe('credit2: load balancing and migrations', () => {
  it('balance_load spreads hogs placed on one socket over both runqueues: two move, then all 4 pCPUs stay busy with no migration', () => {
    const h = credit2Host([0, 1, 2, 3].map(() => hog(256, { pin: [0, 1] })), { cpus: TWO_BY_TWO });
    const { host, ids, dom, clean } = h;
    host.runFor(ms(300));
    expect(new Set(ids.map((id) => (dom(id).vcpus[0].priv as URec).rqd!.id)).size).toBe(1);
    host.run('unpin', function* ({ xc }) {
      for (const id of ids) xc.setVcpuAffinity(id, 0, CpuSet.range(4), null, 4);
    });
    const balance = h.record(policyRecs('load_balance'));
    const across = h.record((r) => r.type === 'migrate' && r.dom !== 0 && h.rqOfCpu(r.from) !== h.rqOfCpu(r.to));
    // b_avgload is a ~1 s moving average: the second move comes once the averages show the gap
    host.runFor(sec(1));
    const within = h.record(guestMigrations);
    const idle = () => host.hv.fw.pcpus.map((p) => p.idle.cpuTime(host.now));
    const i0 = idle();
    const T = sec(2);
    const pcpus = h.measure(T).map((u) => u / T);
    balance.unsub();
    across.unsub();
    within.unsub();
    const rqs = ids.map((id) => (dom(id).vcpus[0].priv as URec).rqd!.id);
    expect([...rqs].sort()).toEqual([0, 0, 1, 1]);
    expect(across.out.length).toBe(2);
    // TRC_CSCHED2_LOAD_BALANCE: lrq:16 | orq:16 in the last word
    expect(balance.out.length).toBeGreaterThanOrEqual(2);
    for (const b of balance.out) if (b.type === 'policy') expect([b.data[4] & 0xffff, b.data[4] >>> 16].sort()).toEqual([0, 1]);
    // then: a pCPU per hog, no pCPU idling, nobody moving
    for (const p of pcpus) expect(p).toBeGreaterThan(0.99);
    idle().forEach((x, i) => expect(x - i0[i]).toBeLessThan(T / 100));
    expect(within.out).toEqual([]);
    clean();
  });

  it('migrate_resist (500 µs) keeps vCPUs on their pCPUs: 12 vCPUs on 4 pCPUs barely migrate; without it they migrate hundreds of times a second', () => {
    const run = (resist: Ns) => {
      const h = credit2Host([256, 512, 1024].map((w) => hog(w, { vcpus: 4 })), { cpus: TWO_BY_TWO, resist });
      h.host.runFor(sec(1));
      const m = h.record(guestMigrations);
      const T = sec(2);
      const used = h.measure(T);
      m.unsub();
      h.clean();
      return { migrations: m.out.length, used };
    };
    const resisted = run(CSCHED2_MIGRATE_RESIST);
    const free = run(0);
    expect(resisted.migrations).toBeLessThanOrEqual(10);
    expect(free.migrations).toBeGreaterThanOrEqual(400);
    // the shares are the same either way (to 3 %)
    resisted.used.forEach((u, i) => expect(Math.abs(u / free.used[i] - 1)).toBeLessThanOrEqual(0.03));
  });

});

describe('credit2: wake-ups, tickling and ratelimit', () => {
  function run(ratelimitUs: number) {
    const h = credit2Host([hog(), hog(), hog(), interactive()], { pool: { ratelimit_us: ratelimitUs } });
    const { host, ids } = h;
    const hogs = new Set(ids.slice(0, 3));
    host.runFor(ms(300));
    const lat = new WakeLatency(new Set([ids[3]]));
    const unsub = host.hv.trace.subscribe(lat.observe);
    const sw = h.record((r) => r.type === 'switch' && hogs.has(r.prevDom) && r.nextDom === ids[3]);
    const tk = h.record(policyRecs('tickle'));
    host.runFor(sec(2));
    unsub();
    sw.unsub();
    tk.unsub();
    h.clean();
    return { lat: lat.samples.get(ids[3])!, ran: sw.out.map((r) => (r.type === 'switch' ? r.prevRan : NaN)), tickles: tk.out, softirq: host.hv.costs.softirqNs };
  }

  it('a waking vCPU with more credit preempts a hog once the hog has run ratelimit (1 ms): latency ≤ 1 ms', () => {
    const r = run(1000);
    expect(r.lat.length).toBeGreaterThanOrEqual(150);
    expect(Math.max(...r.lat)).toBeLessThanOrEqual(ms(1) + r.softirq);
    expect(Math.min(...r.ran)).toBeGreaterThanOrEqual(ms(1));
    // Hogs' slices end when their credit meets the next waiter's, so most wakes need no tickle;
    // TRC_CSCHED2_TICKLE (6) names the pCPU poked when one does: cpu:16
    expect(r.tickles.length).toBeGreaterThan(0);
    for (const t of r.tickles) if (t.type === 'policy') expect([t.traceClass, t.event, t.data]).toEqual([1, TRC_CSCHED2.TICKLE, [0]]);
  });

  it('ratelimit 2 ms: no hog is preempted before 2 ms; ratelimit 0: wakes preempt at once (latency = softirqNs)', () => {
    const two = run(2000);
    expect(Math.min(...two.ran)).toBeGreaterThanOrEqual(ms(2));
    expect(Math.max(...two.lat)).toBeLessThanOrEqual(ms(2) + two.softirq);
    expect(two.lat.some((x) => x > ms(1))).toBe(true);
    const none = run(0);
    expect(summarize(none.lat).max).toBe(none.softirq);
    expect(Math.min(...none.ran)).toBeLessThan(ms(1));
  });

  it('slices stay within [MIN_TIMER, MAX_TIMER] = [500 µs, 10 ms]', () => {
    const h = credit2Host([hog(256), hog(1024), interactive()], { pool: { ratelimit_us: 0 } });
    h.host.runFor(ms(200));
    const dec = h.record((r) => (r.type === 'switch' && r.nextDom !== 32767) || (r.type === 'continue' && r.dom !== 32767));
    h.host.runFor(sec(1));
    dec.unsub();
    const slices = dec.out.map((r) => (r.type === 'switch' || r.type === 'continue' ? r.slice : NaN));
    expect(slices.length).toBeGreaterThan(100);
    expect(Math.min(...slices)).toBe(us(500));
    expect(Math.max(...slices)).toBeLessThanOrEqual(ms(10));
    expect(Math.max(...slices)).toBeGreaterThan(ms(9));
    h.clean();
  });
});

describe('credit2: credit', () => {
  it('credit resets when the best credit of a runqueue is used up: +CREDIT_INIT, clipped at 10.5 ms; never below CREDIT_MIN', () => {
    const h = credit2Host([hog(256), hog(512)]);
    const { host } = h;
    host.runFor(ms(100));
    const resets = h.record(policyRecs('credit_reset'));
    const burns = h.record(policyRecs('credit_burn'));
    host.runFor(ms(500));
    resets.unsub();
    burns.unsub();
    expect(resets.out.length).toBeGreaterThan(10);
    for (const r of resets.out)
      if (r.type === 'policy') {
        const [, start, end] = r.data.map((x) => x | 0);
        expect(end).toBe(Math.min(start + CSCHED2_CREDIT_INIT, CSCHED2_CREDIT_INIT + us(500)));
      }
    for (const b of burns.out) if (b.type === 'policy') expect(b.data[1] | 0).toBeGreaterThanOrEqual(CSCHED2_CREDIT_MIN);
    // uncapped: the budget word is INT_MIN
    expect(burns.out.every((b) => b.type === 'policy' && b.data[2] === 0x80000000)).toBe(true);
    h.clean();
  });
});

describe('credit2: runqueue arrangement (our per-pool parameter)', () => {
  it('socket by default; cpu, core and all regroup the pool\'s pCPUs live, and hogs keep their shares', () => {
    const topo = { sockets: 2, coresPerSocket: 2, threadsPerCore: 2 };
    const h = credit2Host([hog(256), hog(256), hog(512), hog(1024)], { cpus: topo });
    const { host, g, clean } = h;
    const groups = () => g().rqs.filter((r) => r.nrCpus > 0).map((r) => [...r.active].sort((a, b) => a - b));
    expect(groups()).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    const set = (runqueue: number) =>
      host.run('rq', function* ({ xc }) {
        return setPoolSchedParams(xc, credit2Scheduler, 0, { runqueue });
      });
    expect(set(RUNQUEUE.core)).toEqual({ ratelimit_us: 1000, runqueue: RUNQUEUE.core });
    expect(groups()).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    host.runFor(ms(100));
    set(RUNQUEUE.cpu);
    expect(groups()).toEqual([[0], [1], [2], [3], [4], [5], [6], [7]]);
    host.runFor(ms(100));
    set(RUNQUEUE.all);
    expect(groups()).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    // 4 hogs on 8 pCPUs: one pCPU each, whatever the grouping
    host.runFor(ms(100));
    const T = sec(1);
    for (const p of h.measure(T)) expect(p / T).toBeGreaterThan(0.99);
    // every unit is assigned to the runqueue of its pCPU
    for (const d of host.hv.domains.values()) for (const v of d.vcpus) expect((v.priv as URec).rqd).toBe(h.rqOfCpu(v.res));
    clean();
  });
});

describe('credit2: parameters', () => {
  it('sysctl: ratelimit outside 0 or 100..500000, or an unknown arrangement, is -EINVAL and changes nothing; 0 keeps the arrangement', () => {
    const { host } = credit2Host([]);
    const r = host.run('ctl', function* ({ xc }) {
      const get = () => xc.schedGlobalGet(0, CREDIT2, credit2PoolParams);
      const initial = get();
      const rcs = [
        rcOf(() => xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, { ratelimit_us: 99 })),
        rcOf(() => xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, { ratelimit_us: 500_001 })),
        rcOf(() => xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, { ratelimit_us: 500, runqueue: 6 })),
      ];
      const afterBad = get();
      const ok = [rcOf(() => xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, { ratelimit_us: 0, runqueue: 0 })), rcOf(() => xc.schedGlobalSet(0, CREDIT2, xenSysctlCredit2Schedule, { ratelimit_us: 100 }))];
      return { initial, rcs, afterBad, ok, after: get(), xenOnly: xc.schedGlobalGet(0, CREDIT2, xenSysctlCredit2Schedule) };
    });
    expect(r.initial).toEqual({ ratelimit_us: 1000, runqueue: RUNQUEUE.socket });
    expect(r.rcs).toEqual([-Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL]);
    expect(r.afterBad).toEqual(r.initial);
    expect(r.ok).toEqual([0, 0]);
    expect(r.after).toEqual({ ratelimit_us: 100, runqueue: RUNQUEUE.socket });
    expect(r.xenOnly).toEqual({ ratelimit_us: 100 });
  });

  it('domctl: cap above 100 × vCPUs is -EINVAL and changes nothing (weight included); weight 0 is unchanged; cap 0 removes the cap', () => {
    const { host, ids } = credit2Host([hog(256, { vcpus: 2 })], { cpus: 2 });
    const id = ids[0];
    const r = host.run('adjust', function* ({ xc }) {
      const get = () => xc.schedDomainGet(id, CREDIT2, xenDomctlSchedCredit2);
      const initial = get();
      xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: 300, cap: 200 });
      const set = get();
      const bad = rcOf(() => xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: 999, cap: 201 }));
      const afterBad = get();
      xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: 0, cap: 150 });
      const weight0 = get();
      xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: 0, cap: 0 });
      const uncapped = get();
      const wrongId = rcOf(() => xc.schedDomainSet(id, 5, xenDomctlSchedCredit2, { weight: 5, cap: 0 }));
      return { initial, set, bad, afterBad, weight0, uncapped, wrongId };
    });
    expect(r.initial).toEqual({ weight: 256, cap: 0 });
    expect(r.set).toEqual({ weight: 300, cap: 200 });
    expect(r.bad).toBe(-Errno.EINVAL);
    expect(r.afterBad).toEqual({ weight: 300, cap: 200 });
    expect(r.weight0).toEqual({ weight: 300, cap: 150 });
    expect(r.uncapped).toEqual({ weight: 300, cap: 0 });
    expect(r.wrongId).toBe(-Errno.EINVAL);
    const d = host.hv.domains.get(id)!;
    expect(host.hv.fw.adjust(d, XEN_DOMCTL_SCHEDOP.putvcpuinfo, {} as never)).toBe(-Errno.EINVAL);
    // the units carry the weight, and the runqueue's max_weight follows
    for (const v of d.vcpus) expect((v.priv as URec).weight).toBe(300);
  });
});

describe('credit2: invariants under random operations', () => {
  function policyInvariants(h: H): string[] {
    const errs: string[] = [];
    const G = h.g();
    const fw = h.host.hv.fw;
    const assigned = new Map<URec, RQ>();
    for (const rq of G.rqs) {
      for (const u of rq.svc) {
        const name = `d${u.unit.domid}v${u.unit.vcpuId}`;
        if (assigned.has(u)) errs.push(`${name} assigned twice`);
        assigned.set(u, rq);
        if (u.rqd !== rq) errs.push(`${name}: rqd disagrees with svc list`);
        if (u.credit < CSCHED2_CREDIT_MIN) errs.push(`${name}: credit ${u.credit} below CREDIT_MIN`);
      }
      if (rq.nrCpus === 0) continue;
      let maxW = 1;
      for (const u of rq.svc) maxW = Math.max(maxW, u.weight);
      if (rq.maxWeight !== maxW) errs.push(`rq${rq.id}: max_weight ${rq.maxWeight}, want ${maxW}`);
      for (let i = 0; i < rq.runq.length; i++) {
        const u = rq.runq[i];
        const name = `d${u.unit.domid}v${u.unit.vcpuId}`;
        if (!u.onRunq || u.rqd !== rq) errs.push(`${name} queued on rq${rq.id} but flagged otherwise`);
        if (!u.unit.runnable) errs.push(`${name} queued but not runnable`);
        if (u.unit.isRunning) errs.push(`${name} queued while running`);
        if (i > 0 && rq.runq[i - 1].credit < u.credit) errs.push(`rq${rq.id} not sorted by credit`);
      }
      const running = [...rq.active].filter((c) => !fw.pcpus[c].curr.isIdle).length;
      const load = rq.runq.length + running;
      if (rq.load !== load) errs.push(`rq${rq.id}: load ${rq.load}, queued + running = ${load}`);
    }
    for (const d of h.host.hv.domains.values())
      if (d.alive && d.pool.ops === credit2Scheduler)
        for (const v of d.vcpus) {
          const u = v.priv as URec;
          if (!assigned.has(u)) errs.push(`${v} assigned to no runqueue`);
          else if (assigned.get(u) !== h.rqOfCpu(v.res as number)) errs.push(`${v} on rq${u.rqd?.id}, its pCPU ${v.res} in rq${h.rqOfCpu(v.res).id}`);
          if (v.runnable && !v.isRunning && !u.onRunq && !fw.reschedulePending(v.res)) {
            // a runnable unit is queued, unless a reschedule is about to pick it up
            if (![...h.rqOfCpu(v.res).active].some((c) => fw.reschedulePending(pcpuid(c)))) errs.push(`${v} runnable but not queued`);
          }
          if (u.parked !== ((v.pauseFlags & (1 << 8)) !== 0)) errs.push(`${v}: parked flag disagrees with VPF_parked`);
        }
    return errs;
  }

  it('random weights, caps, pins, pauses, ratelimits and regroupings keep the framework\'s and the policy\'s invariants', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('weight' as const), d: fc.nat(3), w: fc.integer({ min: 1, max: 2000 }) }),
      fc.record({ k: fc.constant('cap' as const), d: fc.nat(3), c: fc.constantFrom(0, 10, 50, 100) }),
      fc.record({ k: fc.constant('pin' as const), d: fc.nat(3), cpus: fc.subarray([0, 1, 2, 3], { minLength: 1 }) }),
      fc.record({ k: fc.constant('pause' as const), d: fc.nat(3) }),
      fc.record({ k: fc.constant('ctl' as const), r: fc.constantFrom(0, 100, 1000, 5000), q: fc.nat(5) }),
      fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: 1, max: ms(40) }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), fc.nat(1000), (ops, seed) => {
        const h = credit2Host([hog(), hog(512, { vcpus: 2 }), interactive(), hog(128)], { cpus: TWO_BY_TWO, seed });
        const paused = new Set<number>();
        for (const o of ops) {
          if (o.k === 'run') h.host.runFor(o.ns);
          else
            h.host.run('op', function* ({ xc }) {
              const id = 'd' in o ? h.ids[o.d] : 0;
              if (o.k === 'weight') xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: o.w, cap: xc.schedDomainGet(id, CREDIT2, xenDomctlSchedCredit2).cap });
              else if (o.k === 'cap') xc.schedDomainSet(id, CREDIT2, xenDomctlSchedCredit2, { weight: 0, cap: o.c });
              else if (o.k === 'pin') for (let v = 0; v < h.dom(id).vcpus.length; v++) xc.setVcpuAffinity(id, v, CpuSet.of(o.cpus), null, 4);
              else if (o.k === 'pause') {
                if (paused.delete(id)) xc.domainUnpause(id);
                else {
                  paused.add(id);
                  xc.domainPause(id);
                }
              } else if (o.k === 'ctl') xc.schedGlobalSet(0, CREDIT2, credit2PoolParams, { ratelimit_us: o.r, runqueue: o.q });
            });
          expect(h.host.hv.checkInvariants()).toEqual([]);
          expect(policyInvariants(h)).toEqual([]);
        }
        expect(h.host.hv.fw.policyErrors).toEqual([]);
      }),
      { numRuns: 25, seed: 7 },
    );
  });
});

describe('credit2: ABI', () => {
  const tc = toolchain();
  it.skipIf(!tc.ok)(`struct xen_domctl_sched_credit2 and xen_sysctl_credit2_schedule match Xen's headers; our word fits in the union${tc.ok ? '' : ` [SKIPPED: ${tc.reason}]`}`, () => {
    const w = new Workdir();
    try {
      const exe = w.compile(
        'credit2',
        `${PRELUDE}
#define P(k, v) printf("%s=%ld\\n", k, (long)(v))
int main(void) {
  struct xen_sysctl_scheduler_op op;
  P("d.size", sizeof(struct xen_domctl_sched_credit2));
  P("d.weight", offsetof(struct xen_domctl_sched_credit2, weight));
  P("d.cap", offsetof(struct xen_domctl_sched_credit2, cap));
  P("s.size", sizeof(struct xen_sysctl_credit2_schedule));
  P("s.ratelimit_us", offsetof(struct xen_sysctl_credit2_schedule, ratelimit_us));
  P("union", sizeof(op.u));
  P("ID", XEN_SCHEDULER_CREDIT2);
  P("u.domctl", offsetof(struct xen_domctl_scheduler_op, u.credit2));
  P("u.sysctl", offsetof(struct xen_sysctl_scheduler_op, u.sched_credit2));
  return 0;
}
`,
      );
      const kv = Object.fromEntries([...parseKv(w.run(exe))].map(([k, v]) => [k, Number(v)]));
      expect(kv).toEqual({
        'd.size': xenDomctlSchedCredit2.size,
        'd.weight': xenDomctlSchedCredit2.fields.weight.off,
        'd.cap': xenDomctlSchedCredit2.fields.cap.off,
        's.size': xenSysctlCredit2Schedule.size,
        's.ratelimit_us': credit2PoolParams.fields.ratelimit_us.off,
        union: kv.union,
        ID: CREDIT2,
        'u.domctl': abi.DOMCTL_SCHEDOP_U,
        'u.sysctl': abi.SYSCTL_SCHEDOP_U,
      });
      expect(credit2PoolParams.size).toBeLessThanOrEqual(kv.union);
    } finally {
      w.dispose();
    }
  });
});

describe('credit2: xentrace records as xenalyze reads them', () => {
  const have = existsSync('/usr/bin/xenalyze');
  it.skipIf(!have)(`xenalyze --dump-all decodes our TRC_CSCHED2_* records with Xen's payloads${have ? '' : ' [SKIPPED: /usr/bin/xenalyze not found]'}`, () => {
    const w = new Workdir();
    try {
      // 2 sockets × 1 core: two runqueues. Hogs start on socket 0; balance_load moves one.
      const h = credit2Host([hog(256, { pin: [0] }), hog(512, { pin: [0] }), { ...interactive(), pin: [0] }], { cpus: { sockets: 2, coresPerSocket: 1, threadsPerCore: 1 } });
      const { host, ids } = h;
      const file = w.file('credit2.xentrace');
      const x = new XentraceWriter(file, { pcpus: 2, tscHz: host.hv.tscHz, pollNs: ms(20) }).attach(host.hv.trace);
      x.mark(host.now, occupants(host.hv));
      host.runFor(ms(100));
      host.run('unpin', function* ({ xc }) {
        for (const id of ids) xc.setVcpuAffinity(id, 0, CpuSet.of([0, 1]), null, 2);
      });
      host.runFor(ms(400));
      x.mark(host.now, occupants(host.hv));
      x.close();
      const r = spawnSync('/usr/bin/xenalyze', ['--cpu-hz=2G', '--dump-all', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
      expect(r.status).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => l.includes('csched2:'));
      const has = (re: RegExp) => lines.some((l) => re.test(l));
      const [A, B, I] = ids;
      const any = `(${A}|${B}|${I})`;
      expect(has(new RegExp(`csched2:runq_insert d${any}v0, position \\d+`))).toBe(true);
      expect(has(new RegExp(`csched2:burn_credits d${any}v0, credit = -?\\d+, delta = \\d+`))).toBe(true);
      expect(has(new RegExp(`csched2:reset_credits d${any}v0, credit_start = -?\\d+, credit_end = 10500000`))).toBe(true);
      expect(has(/csched2:update_rq_load rq# [01], load = \d+, avgload = [\d.]+% \(\d+\), b_avgload/)).toBe(true);
      expect(has(new RegExp(`csched2:update_vcpu_load d${any}v0, vcpu_load = [\\d.]+%`))).toBe(true);
      expect(has(/csched2:update_max_weight rq# [01], max_weight = (256|512)/)).toBe(true);
      expect(has(new RegExp(`csched2:runq_assign d${any}v0 on rq# [01]`))).toBe(true);
      expect(has(/csched2:schedule cpu [01], rq# [01]/)).toBe(true);
      expect(has(/csched2:load_balance_check lrq# [01], orq# [01], delta = \d+/)).toBe(true);
      expect(has(/csched2:load_balance_begin lrq# [01], avg_load = \d+ -- orq# [01], avg_load = \d+/)).toBe(true);
      expect(has(new RegExp(`csched2:migrate d${any}v0 rq# 0 --> rq# 1`))).toBe(true);
      expect(has(new RegExp(`csched2:runq_tickle_new d${any}v0, processor = [01], credit = -?\\d+`))).toBe(true);
      expect(has(new RegExp(`csched2:runq_candidate d(${any}|32767)v[01], credit = -?\\d+`))).toBe(true);
      expect(r.stdout + r.stderr).not.toMatch(/Strange|error|FATAL/i);
      h.clean();
    } finally {
      w.dispose();
    }
  });
});
