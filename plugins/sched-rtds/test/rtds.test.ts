/**
 * RTDS (Xen's rt.c) on a real host: dom0 stays in an rr Pool-0 on pCPU 0, and an RTDS cpupool
 * holds the other pCPUs and the guests, so dom0's toolstack work never competes for the servers'
 * reservations. Parameters go through XEN_DOMCTL_scheduler_op (putvcpuinfo with records in dom0's
 * memory, passed by guest handle). Every figure is measured from the trace — the guests' running
 * intervals (runstate records) cut at each period boundary — and checked against the policy's own
 * miss counters and DEADLINE_MISS records.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL,
  Errno,
  HYPERVISOR,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_DOMCTL_SCHEDOP,
  abi,
  ms,
  sec,
  us,
  type Ns,
  type TraceRecord,
} from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import {
  RTDS_DEFAULT_BUDGET,
  RTDS_DEFAULT_PERIOD,
  RTDS_TRACE,
  checkRtds,
  rtdsScheduler,
  rtdsStats,
  xenDomctlSchedRtds,
  xenDomctlSchedVcpus,
  xenDomctlSchedparamVcpu,
  type RtdsUnit,
} from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import type { Xc } from '../../../tools/src/xc/xc';

const RTDS = rtdsScheduler.schedId;

/** One server: period and budget in µs, extratime on unless false. */
interface Server {
  period: number;
  budget: number;
  extra?: boolean;
}
interface Guest {
  servers: Server[];
  /** MiniOS workload and its command line (default: a CPU hog with one thread per vCPU). */
  kernel?: string;
  cmdline?: string;
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

type Rec = Partial<{ vcpuid: number; period: number; budget: number; flags: number }>;
const putVcpus = (xc: Xc, id: number, recs: Rec[]) => xc.schedVcpuOp(id, RTDS, XEN_DOMCTL_SCHEDOP.putvcpuinfo, xenDomctlSchedVcpus, xenDomctlSchedparamVcpu, recs);
const getVcpus = (xc: Xc, id: number, vcpus: number[]) =>
  xc.schedVcpuOp(id, RTDS, XEN_DOMCTL_SCHEDOP.getvcpuinfo, xenDomctlSchedVcpus, xenDomctlSchedparamVcpu, vcpus.map((vcpuid) => ({ vcpuid }))).elems;

/**
 * A host with `pcpus` pCPUs in an RTDS pool (plus pCPU 0 for dom0 under rr), the guests built
 * there with their servers set by putvcpuinfo, then unpaused. Records runstate changes of the
 * guests and every RTDS trace record from the start.
 */
function rtdsHost(pcpus: number, guests: Guest[], seed = 1) {
  const host = new Host({ cpus: pcpus + 1, memoryMiB: 256, scheduler: 'rr', seed });
  const runstates: TraceRecord[] = [];
  const policy: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => {
    if (r.type === 'runstate' && r.dom !== 0 && r.dom !== 0x7fff) runstates.push(r);
    else if (r.type === 'policy' && r.policy === 'rtds') policy.push(r);
  });
  const { pool, ids } = host.run('setup', function* ({ xc }) {
    for (let c = 1; c <= pcpus; c++) xc.cpupoolRemoveCpu(0, c);
    const pool = xc.cpupoolCreate(RTDS);
    for (let c = 1; c <= pcpus; c++) xc.cpupoolAddCpu(pool, c);
    const ids = guests.map((g, i) => {
      const n = g.servers.length;
      const id = buildDomain(xc, {
        name: `rt${i}`,
        memoryMiB: 8,
        vcpus: n,
        kernel: g.kernel ?? 'minios-cpuhog',
        cmdline: g.cmdline ?? `threads=${n} chunk=${ms(1)} ws=${16 * 1024}`,
        cpupool: pool,
        paused: true,
      }).domid;
      putVcpus(xc, id, g.servers.map((s, v) => ({ vcpuid: v, period: s.period, budget: s.budget, flags: s.extra === false ? 0 : 1 })));
      return id;
    });
    for (const id of ids) xc.domainUnpause(id);
    return { pool, ids };
  });
  const g = () => host.hv.fw.pools.get(pool)!.g;
  const unit = (dom: number, vcpu = 0) => host.hv.domains.get(dom)!.vcpus[vcpu].priv as RtdsUnit;
  return { host, pool, ids, runstates, policy, g, unit };
}

/** Running intervals of one vCPU from runstate records (open ones closed at `end`). */
function runningIntervals(recs: readonly TraceRecord[], dom: number, vcpu: number, end: Ns): [Ns, Ns][] {
  const out: [Ns, Ns][] = [];
  let start: Ns | null = null;
  for (const r of recs) {
    if (r.type !== 'runstate' || r.dom !== dom || r.vcpu !== vcpu) continue;
    if (r.to === 0) start = r.t;
    else if (r.from === 0 && start !== null) {
      out.push([start, r.t]);
      start = null;
    }
  }
  if (start !== null) out.push([start, end]);
  return out;
}

/**
 * CPU time the vCPU received in each of its whole periods inside [from, to): its periods are the
 * grid of its current deadline minus multiples of its period (deadlines advance by whole periods).
 */
function perPeriod(recs: readonly TraceRecord[], u: RtdsUnit, from: Ns, to: Ns): number[] {
  const iv = runningIntervals(recs, u.unit.domid, u.unit.vcpuId, to);
  const first = u.curDeadline - Math.floor((u.curDeadline - from) / u.period) * u.period;
  const out: number[] = [];
  for (let s = first; s + u.period <= to; s += u.period) {
    let sum = 0;
    for (const [a, b] of iv) sum += Math.max(0, Math.min(b, s + u.period) - Math.max(a, s));
    out.push(sum);
  }
  return out;
}

const misses = (policy: readonly TraceRecord[]) => policy.filter((r) => r.type === 'policy' && r.event === RTDS_TRACE.DEADLINE_MISS);

describe('RTDS', () => {
  // EDF on one pCPU schedules any set with U ≤ 1. Periods 10, 20 and 50 ms; U = 0.3 + 0.3 + 0.2.
  const FEASIBLE_1: Server[] = [
    { period: 10_000, budget: 3_000 },
    { period: 20_000, budget: 6_000 },
    { period: 50_000, budget: 10_000 },
  ];

  it.each([true, false])('meets every deadline of a feasible set on one pCPU (U = 0.8, extratime %s): each busy vCPU gets its budget in every period', (extra) => {
    const { host, ids, runstates, policy, g, unit } = rtdsHost(1, FEASIBLE_1.map((s) => ({ servers: [{ ...s, extra }] })));
    host.runFor(ms(100)); // boot, first periods
    const from = host.now;
    host.runFor(sec(2));
    const to = host.now;
    const units = ids.map((id) => unit(id));
    for (const u of units) {
      const got = perPeriod(runstates, u, from, to);
      expect(got.length).toBe(Math.floor(sec(2) / u.period) - 1);
      for (const ns of got) expect(ns).toBeGreaterThanOrEqual(u.budget);
      // without extratime the budget is also a ceiling: it stops within one softirq of exhaustion
      if (!extra) for (const ns of got) expect(ns).toBeLessThanOrEqual(u.budget + host.hv.costs.softirqNs);
    }
    const stats = rtdsStats(g());
    expect(stats.map((s) => s.misses)).toEqual([0, 0, 0]);
    // every period of every server was judged (they are never blocked): 2.1 s / period, less the first
    for (const s of stats) expect(s.periods).toBeGreaterThanOrEqual(Math.floor(ms(2100) / s.period) - 2);
    expect(misses(policy)).toEqual([]);
    // the pCPU: all of it with extratime; 80% (plus the overshoots) without
    const cpu = ids.reduce((n, id) => n + host.hv.domains.get(id)!.vcpus[0].cpuTime(to), 0);
    if (extra) expect(cpu).toBeGreaterThan(0.995 * Number(to));
    expect(checkRtds(g())).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  // Global EDF on m = 2 pCPUs: U = 1.4 ≤ m − (m − 1)·u_max = 1.6 (Goossens, Funk, Baruah), so every
  // deadline is met. Five servers in two domains, per-vCPU parameters, periods 10 to 50 ms.
  it('meets every deadline of a feasible set on two pCPUs under global EDF (U = 1.4, u_max = 0.4)', () => {
    const guests: Guest[] = [
      { servers: [{ period: 10_000, budget: 4_000 }, { period: 20_000, budget: 6_000 }, { period: 25_000, budget: 5_000 }] },
      { servers: [{ period: 40_000, budget: 12_000 }, { period: 50_000, budget: 10_000 }] },
    ];
    const { host, ids, runstates, policy, g, unit } = rtdsHost(2, guests);
    host.runFor(ms(100));
    const from = host.now;
    host.runFor(sec(2));
    const to = host.now;
    let periods = 0;
    guests.forEach((gs, i) =>
      gs.servers.forEach((_, v) => {
        const u = unit(ids[i], v);
        const got = perPeriod(runstates, u, from, to);
        expect(got.length).toBe(Math.floor(sec(2) / u.period) - 1);
        for (const ns of got) expect(ns).toBeGreaterThanOrEqual(u.budget);
        periods += got.length;
      }),
    );
    expect(periods).toBe(199 + 99 + 79 + 49 + 39);
    expect(rtdsStats(g()).map((s) => s.misses)).toEqual([0, 0, 0, 0, 0]);
    expect(misses(policy)).toEqual([]);
    // both pCPUs were used: the servers migrate between them (global, not partitioned, EDF)
    const cpusOf = new Set(runstates.filter((r) => r.type === 'runstate' && r.to === 0).map((r) => r.cpu));
    expect([...cpusOf].sort()).toEqual([1, 2]);
    expect(checkRtds(g())).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  // U = 1.2 on one pCPU: three 10 ms / 4 ms servers with aligned deadlines ask 12 ms of every 10.
  // Every period ends with at least one of them short, and the shortfalls add up to the 2 ms of
  // excess demand (EDF's FIFO tie order decides who is short; the one preempted at the boundary
  // also comes up a few µs short, one softirq per switch).
  it('reports misses for an infeasible set (U = 1.2 on one pCPU): every period, short by the 2 ms of excess demand', () => {
    const servers = [0, 1, 2].map(() => ({ servers: [{ period: 10_000, budget: 4_000, extra: false }] }));
    const { host, ids, runstates, policy, g, unit } = rtdsHost(1, servers);
    host.runFor(ms(100));
    const from = host.now;
    const missesBefore = rtdsStats(g()).reduce((n, s) => n + s.misses, 0);
    host.runFor(sec(1));
    const to = host.now;
    const stats = rtdsStats(g());
    const total = stats.reduce((n, s) => n + s.misses, 0) - missesBefore;
    // the trace says the same, with what was left of the budget at each deadline
    const traced = misses(policy).filter((r) => r.t > from && r.t <= to);
    expect(traced.length).toBe(total);
    const byDeadline = new Map<number, number>();
    for (const r of traced) {
      if (r.type !== 'policy') continue;
      expect(ids).toContain(r.data[0] >>> 16);
      const left = r.data[3] + r.data[4] * 2 ** 32;
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(ms(2) + us(5));
      byDeadline.set(r.t, (byDeadline.get(r.t) ?? 0) + left);
    }
    // 100 deadlines in the window, each with 2 ms (± a few µs of switching) not delivered
    expect(byDeadline.size).toBe(100);
    for (const short of byDeadline.values()) {
      expect(short).toBeGreaterThanOrEqual(ms(2) - us(5));
      expect(short).toBeLessThanOrEqual(ms(2) + us(10));
    }
    expect(total).toBeGreaterThanOrEqual(100);
    expect(total).toBeLessThanOrEqual(200);
    // the dump (debug key 'r') reports them per vCPU and in all
    const dump = rtdsScheduler.dumpSettings!(g() as never);
    expect(dump).toContain(`${stats.reduce((n, s) => n + s.misses, 0)} deadline misses`);
    for (const s of stats) expect(dump).toContain(`d${s.dom}v0 period=${ms(10)} budget=${ms(4)} extra=0`);
    // per period the three received the whole pCPU between them: two got their 4 ms, one ~2 ms
    const got = ids.map((id) => perPeriod(runstates, unit(id), from, to));
    expect(got[0].length).toBe(99);
    for (let k = 0; k < got[0].length; k++) {
      const row = got.map((p) => p[k]).sort((a, b) => a - b);
      expect(row[0] + row[1] + row[2]).toBeGreaterThan(ms(10) - us(10));
      expect(row[0]).toBeGreaterThan(ms(1.99));
      expect(row[0]).toBeLessThan(ms(2.01));
      expect(row[1]).toBeGreaterThan(ms(3.99));
    }
    expect(checkRtds(g())).toEqual([]);
  });

  it('extratime lets a vCPU use idle time beyond its budget; without it the vCPU gets its budget only', () => {
    const run = (extra: boolean) => {
      const { host, ids, g } = rtdsHost(1, [{ servers: [{ period: 10_000, budget: 2_000, extra }] }]);
      host.runFor(ms(50));
      const v = host.hv.domains.get(ids[0])!.vcpus[0];
      const c0 = v.cpuTime(host.now);
      host.runFor(sec(1));
      expect(checkRtds(g())).toEqual([]);
      return { share: (v.cpuTime(host.now) - c0) / sec(1), level: (v.priv as RtdsUnit).priorityLevel };
    };
    const on = run(true);
    const off = run(false);
    expect(on.share).toBeGreaterThan(0.999); // alone on its pCPU: all of it
    expect(off.share).toBeGreaterThanOrEqual(0.2); // 2 ms per 10 ms
    expect(off.share).toBeLessThan(0.2 + 100 * 2 * us(1) / sec(1));
    // Two servers of U = 0.25 each: the one with extratime absorbs the idle half.
    const { host, ids } = rtdsHost(1, [
      { servers: [{ period: 10_000, budget: 2_500, extra: true }] },
      { servers: [{ period: 20_000, budget: 5_000, extra: false }] },
    ]);
    host.runFor(ms(100));
    const [a, b] = ids.map((id) => host.hv.domains.get(id)!.vcpus[0]);
    const c0 = [a.cpuTime(host.now), b.cpuTime(host.now)];
    host.runFor(sec(1));
    const sa = (a.cpuTime(host.now) - c0[0]) / sec(1);
    const sb = (b.cpuTime(host.now) - c0[1]) / sec(1);
    expect(sb).toBeGreaterThanOrEqual(0.25);
    expect(sb).toBeLessThan(0.251);
    expect(sa).toBeGreaterThan(0.745);
    expect(sa + sb).toBeGreaterThan(0.999);
  });

  // The guest computes 1 ms every 3 ms (about 3.3 ms per 10 ms period) on a 10 ms / 3 ms server
  // without extratime: its budget survives each block, so it runs several stints per period until
  // the 3 ms are used, then waits for the next period.
  it('is a deferrable server: budget left when the vCPU blocks is kept for its next wake-up in the period', () => {
    const { host, ids, runstates, g, unit } = rtdsHost(1, [
      { servers: [{ period: 10_000, budget: 3_000, extra: false }], kernel: 'minios-interactive', cmdline: `period=${ms(3)} jitter=0 work=${ms(1)}` },
    ]);
    host.runFor(ms(100));
    const from = host.now;
    host.runFor(ms(500));
    const to = host.now;
    const u = unit(ids[0]);
    const got = perPeriod(runstates, u, from, to);
    expect(got.length).toBe(49);
    for (const ns of got) {
      expect(ns).toBeGreaterThanOrEqual(ms(3));
      expect(ns).toBeLessThanOrEqual(ms(3) + host.hv.costs.softirqNs);
    }
    // at least three stints per period: blocking did not forfeit the rest of the budget
    const iv = runningIntervals(runstates, ids[0], 0, to);
    const first = u.curDeadline - Math.floor((u.curDeadline - from) / u.period) * u.period;
    for (let s = first; s + u.period <= to; s += u.period) expect(iv.filter(([a]) => a >= s && a < s + u.period).length).toBeGreaterThanOrEqual(3);
    // (a polling server would forfeit the rest at the first block: ~1 ms per period). Its periods
    // are not judged for misses: it is not awake for any whole period.
    expect(rtdsStats(g())[0]).toMatchObject({ periods: 0, misses: 0 });
    expect(checkRtds(g())).toEqual([]);
  });

  it('a waking vCPU with an earlier deadline preempts the latest-deadline running vCPU (runq_tickle)', () => {
    // Two hogs keep both pCPUs busy; a vCPU with a 5 ms period wakes every 7–8 ms for 1 ms. At each
    // wake-up the tickle (traced right after the wake) must name the pCPU running the
    // lowest-priority server — the higher level, then the later deadline — and that pCPU switches
    // to the woken vCPU one softirq later.
    const { host, ids, g, unit } = rtdsHost(2, [
      { servers: [{ period: 100_000, budget: 60_000 }] },
      { servers: [{ period: 150_000, budget: 60_000 }] },
      { servers: [{ period: 5_000, budget: 2_000 }], kernel: 'minios-interactive', cmdline: `period=${ms(7)} jitter=${ms(1)} work=${ms(1)}` },
    ]);
    host.runFor(ms(50));
    const inter = ids[2];
    let expected: { t: number; cpu: number } | null = null;
    const seen: { want: number; got: number; switched: boolean }[] = [];
    let ties = 0;
    let pending: { t: number; cpu: number } | null = null;
    const unsub = host.hv.trace.subscribe((r) => {
      if (r.type === 'wake' && r.dom === inter) {
        const cur = [1, 2].map((c) => host.hv.fw.pcpus[c].curr);
        if (cur.some((v) => v.isIdle)) return;
        const [a, b] = cur.map((v) => v.priv as RtdsUnit);
        // (on a tie either pCPU is right: runq_tickle keeps the first it meets)
        const lower = a.priorityLevel !== b.priorityLevel ? (a.priorityLevel > b.priorityLevel ? 1 : 2) : a.curDeadline > b.curDeadline ? 1 : a.curDeadline < b.curDeadline ? 2 : -1;
        expected = { t: r.t, cpu: lower };
      } else if (r.type === 'policy' && r.event === RTDS_TRACE.TICKLE && expected && r.t === expected.t) {
        if (expected.cpu < 0) ties++;
        seen.push({ want: expected.cpu < 0 ? r.data[0] : expected.cpu, got: r.data[0], switched: false });
        pending = { t: r.t, cpu: r.data[0] };
        expected = null;
      } else if (r.type === 'switch' && pending && r.nextDom === inter) {
        seen[seen.length - 1].switched = r.cpu === pending.cpu && r.t === pending.t + host.hv.costs.softirqNs;
        pending = null;
      }
    });
    host.runFor(sec(1));
    unsub();
    expect(seen.length).toBeGreaterThanOrEqual(100);
    expect(seen.length - ties).toBeGreaterThanOrEqual(100);
    for (const s of seen) expect(s).toEqual({ want: s.want, got: s.want, switched: true });
    // both pCPUs were chosen at some point (the hogs' priorities cross over time)
    expect(new Set(seen.map((s) => s.got)).size).toBe(2);
    expect(unit(inter).misses).toBe(0);
    expect(checkRtds(g())).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  describe('parameters', () => {
    it('putvcpuinfo / getvcpuinfo per vCPU; putinfo for all; getinfo returns the defaults', () => {
      const { host, ids } = rtdsHost(1, [{ servers: [{ period: 10_000, budget: 4_000 }, { period: 20_000, budget: 5_000, extra: false }, { period: 30_000, budget: 30_000 }] }]);
      const id = ids[0];
      const r = host.run('params', function* ({ xc }) {
        const initial = getVcpus(xc, id, [0, 1, 2]);
        const defaults = xc.schedDomainGet(id, RTDS, xenDomctlSchedRtds);
        xc.schedDomainSet(id, RTDS, xenDomctlSchedRtds, { period: 8_000, budget: 2_000, flags: 0 });
        const afterPut = getVcpus(xc, id, [2, 0, 1]);
        return { initial, defaults, afterPut, defaultsAfter: xc.schedDomainGet(id, RTDS, xenDomctlSchedRtds) };
      });
      expect(r.initial).toEqual([
        { vcpuid: 0, period: 10_000, budget: 4_000, flags: 1 },
        { vcpuid: 1, period: 20_000, budget: 5_000, flags: 0 },
        { vcpuid: 2, period: 30_000, budget: 30_000, flags: 1 },
      ]);
      expect(r.defaults).toEqual({ period: RTDS_DEFAULT_PERIOD / 1000, budget: RTDS_DEFAULT_BUDGET / 1000, flags: 1 });
      expect(r.afterPut).toEqual([2, 0, 1].map((vcpuid) => ({ vcpuid, period: 8_000, budget: 2_000, flags: 0 })));
      expect(r.defaultsAfter).toEqual(r.defaults); // as Xen: getinfo reports the defaults
    });

    it('rejects budget > period, zeros and budgets under 10 µs with -EINVAL, changing nothing', () => {
      const { host, ids } = rtdsHost(1, [{ servers: [{ period: 10_000, budget: 4_000 }, { period: 20_000, budget: 5_000, extra: false }] }]);
      const id = ids[0];
      const r = host.run('bad', function* ({ xc }) {
        const before = getVcpus(xc, id, [0, 1]);
        const put = (v: Partial<{ period: number; budget: number; flags: number }>) => rcOf(() => xc.schedDomainSet(id, RTDS, xenDomctlSchedRtds, v));
        const rcs = [
          put({ period: 1_000, budget: 2_000, flags: 1 }), // budget > period
          put({ period: 0, budget: 0, flags: 1 }),
          put({ period: 1_000, budget: 0, flags: 1 }),
          put({ period: 0, budget: 10, flags: 1 }),
          put({ period: 1_000, budget: 9, flags: 1 }), // under RTDS_MIN_BUDGET
          put({ period: 9, budget: 9, flags: 1 }), // under RTDS_MIN_PERIOD
          // per vCPU: one bad record among good ones changes none of them
          rcOf(() => putVcpus(xc, id, [{ vcpuid: 0, period: 5_000, budget: 1_000, flags: 0 }, { vcpuid: 1, period: 5_000, budget: 6_000, flags: 1 }])),
          rcOf(() => putVcpus(xc, id, [{ vcpuid: 0, period: 5_000, budget: 1_000, flags: 0 }, { vcpuid: 2, period: 5_000, budget: 1_000, flags: 1 }])), // no vCPU 2
          rcOf(() => putVcpus(xc, id, [{ vcpuid: 1, period: 5_000, budget: 0, flags: 1 }])),
          rcOf(() => getVcpus(xc, id, [0, 7])),
          rcOf(() => xc.schedDomainSet(id, 3, xenDomctlSchedRtds, { period: 5_000, budget: 1_000 })), // rr's sched_id
        ];
        const after = getVcpus(xc, id, [0, 1]);
        // the edge values are accepted
        const ok = [
          rcOf(() => put({ period: 10, budget: 10, flags: 1 })),
          rcOf(() => putVcpus(xc, id, [{ vcpuid: 1, period: 5_000, budget: 5_000, flags: 0 }])),
        ];
        return { before, rcs, after, ok, edge: getVcpus(xc, id, [0, 1]) };
      });
      expect(r.rcs).toEqual(Array(r.rcs.length).fill(-Errno.EINVAL));
      expect(r.after).toEqual(r.before);
      expect(r.before).toEqual([
        { vcpuid: 0, period: 10_000, budget: 4_000, flags: 1 },
        { vcpuid: 1, period: 20_000, budget: 5_000, flags: 0 },
      ]);
      expect(r.ok).toEqual([0, 0]);
      expect(r.edge).toEqual([
        { vcpuid: 0, period: 10, budget: 10, flags: 1 },
        { vcpuid: 1, period: 5_000, budget: 5_000, flags: 0 },
      ]);
    });

    it('reads the records through the guest handle: an unmapped handle is -EFAULT; more than 64 records take several calls', () => {
      const { host, ids, unit } = rtdsHost(1, [{ servers: Array.from({ length: 70 }, () => ({ period: 10_000, budget: 100 })), kernel: 'minios-idle', cmdline: '' }]);
      const id = ids[0];
      const r = host.run('handle', function* ({ xc, os }) {
        const at = os.pages.alloc() * 4096;
        const mem = os.cpu.mem;
        const raw = (cmd: number, handle: number, nr: number) => {
          abi.xen_domctl.init(mem, at, { cmd: DOMCTL.scheduler_op, interface_version: XEN_DOMCTL_INTERFACE_VERSION, domain: id });
          abi.xen_domctl_scheduler_op.write(mem, at + abi.DOMCTL_U, { sched_id: RTDS, cmd });
          xenDomctlSchedVcpus.write(mem, at + abi.DOMCTL_U + abi.DOMCTL_SCHEDOP_U, { vcpus: handle, nr_vcpus: nr });
          return { rc: os.cpu.hypercall(HYPERVISOR.domctl, at), nr: xenDomctlSchedVcpus.get(mem, at + abi.DOMCTL_U + abi.DOMCTL_SCHEDOP_U, 'nr_vcpus') };
        };
        const unmapped = 0x7f00_0000_0000;
        const faults = [raw(XEN_DOMCTL_SCHEDOP.putvcpuinfo, unmapped, 1).rc, raw(XEN_DOMCTL_SCHEDOP.getvcpuinfo, unmapped, 3).rc];
        // 70 records in dom0's memory: one raw call handles 64 and says so
        const arr = at + 1024;
        for (let v = 0; v < 70; v++) xenDomctlSchedparamVcpu.init(mem, arr + v * 16, { vcpuid: v, period: 20_000, budget: 1_000, flags: 1 });
        const first = raw(XEN_DOMCTL_SCHEDOP.putvcpuinfo, arr, 70);
        const v63 = unit(id, 63).period;
        const v64 = unit(id, 64).period;
        // Xc re-issues the call for the rest, as libxc does
        const all = putVcpus(xc, id, Array.from({ length: 70 }, (_, v) => ({ vcpuid: v, period: 30_000, budget: 2_000, flags: 0 })));
        return { faults, first, v63, v64, nr: all.nr };
      });
      expect(r.faults).toEqual([-Errno.EFAULT, -Errno.EFAULT]);
      expect(r.first).toEqual({ rc: 0, nr: 64 });
      expect([r.v63, r.v64]).toEqual([ms(20), ms(10)]);
      expect(r.nr).toBe(70);
      for (let v = 0; v < 70; v++) expect([unit(id, v).period, unit(id, v).budget, unit(id, v).extratime]).toEqual([ms(30), ms(2), false]);
    });

    it('turning extratime on for a depleted vCPU refills it at the next level and runs it again', () => {
      const { host, ids, g, unit } = rtdsHost(1, [{ servers: [{ period: 100_000, budget: 5_000, extra: false }] }]);
      // run until the server is depleted in some period
      let u = unit(ids[0]);
      for (let i = 0; i < 200 && u.q !== 'depleted'; i++) host.runFor(ms(1));
      expect(u.q).toBe('depleted');
      const v = host.hv.domains.get(ids[0])!.vcpus[0];
      const c0 = v.cpuTime(host.now);
      host.run('extra', function* ({ xc }) {
        putVcpus(xc, ids[0], [{ vcpuid: 0, period: 100_000, budget: 5_000, flags: 1 }]);
      });
      u = unit(ids[0]);
      expect(u.priorityLevel).toBeGreaterThanOrEqual(1);
      host.runFor(ms(20));
      expect(v.cpuTime(host.now) - c0).toBeGreaterThan(ms(19));
      expect(checkRtds(g())).toEqual([]);
    });
  });

  it('boots as the host scheduler: dom0 and guests share one RTDS pool; moving domains in and out keeps its queues sound', () => {
    const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rtds', seed: 3 });
    const ids = host.run('build', function* ({ xc }) {
      const out = [0, 1, 2].map((i) => buildDomain(xc, { name: `g${i}`, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}`, paused: true }).domid);
      for (const id of out) putVcpus(xc, id, [{ vcpuid: 0, period: 10_000, budget: 3_000, flags: 0 }]);
      for (const id of out) xc.domainUnpause(id);
      return out;
    });
    const g0 = () => host.hv.fw.pools.get(0)!.g;
    host.runFor(ms(300));
    expect(checkRtds(g0())).toEqual([]);
    expect(rtdsStats(g0()).filter((s) => s.dom !== 0).map((s) => s.misses)).toEqual([0, 0, 0]);
    // into an rr pool and back
    host.run('move', function* ({ xc }) {
      xc.cpupoolRemoveCpu(0, 1);
      const p = xc.cpupoolCreate(3);
      xc.cpupoolAddCpu(p, 1);
      xc.cpupoolMoveDomain(p, ids[0]);
      return p;
    });
    host.runFor(ms(100));
    expect(checkRtds(g0())).toEqual([]);
    host.run('back', function* ({ xc }) {
      xc.cpupoolMoveDomain(0, ids[0]);
      xc.domainDestroy(ids[1]);
    });
    host.runFor(ms(200));
    expect(checkRtds(g0())).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });
});
