/**
 * sEDF (Xen 3.0–4.5's sched_sedf.c) on a real host: dom0 builds MiniOS guests through Xc and sets
 * their parameters with XEN_DOMCTL_scheduler_op (Xen 4.5's struct xen_domctl_sched_sedf) while they
 * are paused. Per-period figures come from the trace's switch records — each guest's running
 * intervals cut at its period boundaries [deadline − period, deadline), the deadlines being the
 * policy's own (read once at the start of the window).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Errno, ms, sec, us, type Ns, type TraceRecord, type Values } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import {
  EXTRA_QUANTUM,
  EXTRA_RUN_PEN,
  PERIOD_MAX,
  PERIOD_MIN,
  SLICE_MIN,
  WEIGHT_PERIOD,
  WEIGHT_SAFETY,
  sedfScheduler,
  xenDomctlSchedSedf,
  type SedfUnit,
} from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import { stressScheduler } from '../../../tools/test/sched-stress';

const SEDF = sedfScheduler.schedId;
const IDLE = 0x7fff;
type Params = Values<typeof xenDomctlSchedSedf.fields>;

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

interface Guest {
  params?: Partial<Params>;
  kernel?: 'minios-cpuhog' | 'minios-interactive';
  cmdline?: string;
}

/** A one-pCPU sEDF host with `guests` built paused, their parameters set, then unpaused. */
function sedfHost(guests: Guest[], seed = 1) {
  const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'sedf', seed });
  const ids = host.run('build', function* ({ xc }) {
    const out = guests.map((g, i) => {
      const id = buildDomain(xc, { name: `g${i}`, memoryMiB: 8, vcpus: 1, kernel: g.kernel ?? 'minios-cpuhog', cmdline: g.cmdline ?? `chunk=${ms(1)}`, paused: true }).domid;
      if (g.params) xc.schedDomainSet(id, SEDF, xenDomctlSchedSedf, g.params);
      return id;
    });
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const unit = (id: number) => host.hv.domains.get(id)!.vcpus[0].priv as SedfUnit;
  return { host, ids, unit };
}

/** Running intervals per domain on pCPU 0 from switch records, from now until the returned function is called. */
function record(host: Host) {
  const switches: Extract<TraceRecord, { type: 'switch' }>[] = [];
  const from = host.now;
  const first = host.hv.fw.pcpus[0].curr.domain.id;
  const unsub = host.hv.trace.subscribe((r) => {
    if (r.type === 'switch') switches.push(r);
  });
  return () => {
    unsub();
    const to = host.now;
    const iv = new Map<number, [Ns, Ns][]>();
    let cur: number = first;
    let since = from;
    const close = (t: Ns) => {
      if (!iv.has(cur)) iv.set(cur, []);
      iv.get(cur)!.push([since, t]);
    };
    for (const s of switches) {
      expect(s.prevDom).toBe(cur);
      close(s.t);
      cur = s.nextDom;
      since = s.t;
    }
    close(to);
    const cpuIn = (dom: number, a: Ns, b: Ns) => (iv.get(dom) ?? []).reduce((n, [x, y]) => n + Math.max(0, Math.min(y, b) - Math.max(x, a)), 0);
    return { from, to, switches, cpuIn, total: (dom: number) => cpuIn(dom, from, to) };
  };
}

/** CPU a domain received in each whole period [d − P, d) inside [from, to), given one deadline d. */
function perPeriod(cpuIn: (d: number, a: Ns, b: Ns) => Ns, dom: number, deadline: Ns, period: Ns, from: Ns, to: Ns): Ns[] {
  let start = deadline - period;
  while (start < from) start += period;
  const out: Ns[] = [];
  for (; start + period <= to; start += period) out.push(cpuIn(dom, start, start + period));
  return out;
}

// Utilisation 5/20 + 10/50 + 25/100 = 70%: feasible, with 30% slack.
const SET = [
  { period: ms(20), slice: ms(5) },
  { period: ms(50), slice: ms(10) },
  { period: ms(100), slice: ms(25) },
];

const share = (xs: number[]) => {
  const t = xs.reduce((a, b) => a + b, 0);
  return xs.map((x) => x / t);
};

describe('sEDF', () => {
  it.each([{ extratime: 0 }, { extratime: 1 }])('sEDF meets the deadlines of a feasible set (extratime $extratime)', ({ extratime }) => {
    const { host, ids, unit } = sedfHost(SET.map((s) => ({ params: { period: s.period, slice: s.slice, latency: 0, extratime, weight: 0 } })));
    host.runFor(ms(200));
    const dls = ids.map((id) => unit(id).deadlAbs);
    const done = record(host);
    host.runFor(sec(2));
    const m = done();
    const extra: number[] = [];
    ids.forEach((id, i) => {
      const got = perPeriod(m.cpuIn, id, dls[i], SET[i].period, m.from, m.to);
      expect(got.length).toBeGreaterThanOrEqual(sec(2) / SET[i].period - 1); // 99, 39 and 19 whole periods
      // every period gets its slice before its deadline — to the ns without extra time
      for (const g of got) extratime ? expect(g).toBeGreaterThanOrEqual(SET[i].slice) : expect(g).toBe(SET[i].slice);
      extra.push(m.total(id) - (sec(2) / SET[i].period) * SET[i].slice);
    });
    if (!extratime) {
      expect(extra).toEqual([0, 0, 0]);
      expect(m.total(IDLE)).toBe(sec(2) * 0.3);
    } else {
      // the slack goes round the L1 queue by score = (period << 10) / slice: in proportion to each
      // domain's utilisation (25% : 20% : 25%), within 2%; what is idle is the ends of gaps too short
      // for a whole 500 µs quantum
      const want = share(SET.map((s) => s.slice / s.period));
      share(extra).forEach((x, i) => expect(Math.abs(x / want[i] - 1)).toBeLessThanOrEqual(0.02));
      expect(m.total(IDLE)).toBeLessThan(sec(2) * 0.02);
      expect(extra.reduce((a, b) => a + b, 0)).toBeGreaterThan(sec(2) * 0.28);
    }
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  });

  it('weight-driven domains share what time-driven ones leave: slice = w × (100 − 5 − booked) ms / Σw', () => {
    // T books 5 ms per 20 ms = 25 ms per 100 ms; W1 and W3 split 100 − 5 − 25 = 70 ms as 1 : 3
    const { host, ids } = sedfHost([
      { params: { period: ms(20), slice: ms(5), extratime: 0 } },
      { params: { weight: 1, extratime: 0 } },
      { params: { weight: 3, extratime: 0 } },
    ]);
    const got = host.run('get', function* ({ xc }) {
      return ids.map((id) => xc.schedDomainGet(id, SEDF, xenDomctlSchedSedf));
    });
    expect(got.map((p) => [p.period, p.slice, p.weight])).toEqual([
      [ms(20), ms(5), 0],
      [WEIGHT_PERIOD, ms(17.5), 1],
      [WEIGHT_PERIOD, ms(52.5), 3],
    ]);
    expect(WEIGHT_PERIOD - WEIGHT_SAFETY).toBe(ms(95));
    host.runFor(ms(300));
    const done = record(host);
    host.runFor(sec(2));
    const m = done();
    // 20 periods of 100 ms: exactly the computed slices, and WEIGHT_SAFETY's 5% left idle
    expect(ids.map((id) => m.total(id))).toEqual([ms(500), ms(350), ms(1050)]);
    expect(m.total(IDLE)).toBe(ms(100));
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('extratime-only weights (period 0) share the slack by extraweight: 1 : 3', () => {
    const { host, ids, unit } = sedfHost([{ params: { weight: 1, extratime: 1 } }, { params: { weight: 3, extratime: 1 } }]);
    expect(ids.map((id) => [unit(id).extraweight, unit(id).weight, unit(id).slice])).toEqual([
      [1, 0, 0],
      [3, 0, 0],
    ]);
    host.runFor(ms(100));
    const done = record(host);
    host.runFor(sec(2));
    const m = done();
    const s = share(ids.map((id) => m.total(id)));
    expect(Math.abs(s[0] - 0.25)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(s[1] - 0.75)).toBeLessThanOrEqual(0.01);
    // all of it in 500 µs quanta: each switch to a guest grants EXTRA_QUANTUM
    const grants = new Set(m.switches.filter((r) => ids.includes(r.nextDom)).map((r) => r.slice));
    expect([...grants]).toEqual([EXTRA_QUANTUM]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a short block loses the rest of the period and is compensated in the L0 queue, which preempts L1 extra time', () => {
    // A blocks after 3 ms of its 10 ms slice and wakes inside its period; B is busy with extra time
    const { host, ids, unit } = sedfHost([
      { kernel: 'minios-interactive', cmdline: `period=${ms(20)} jitter=${ms(4)} work=${ms(3)}`, params: { period: ms(20), slice: ms(10), extratime: 0 } },
      { params: { period: ms(100), slice: ms(40), extratime: 1 } },
    ]);
    const [a, b] = ids;
    host.runFor(ms(200));
    const s0 = { ...unit(a).stats };
    const wakes: { waited: Ns; bInUtilExtra: boolean; aRunsL0: boolean }[] = [];
    let woke = -1;
    let bInUtilExtra = false;
    const unsub = host.hv.trace.subscribe((r) => {
      if (r.type === 'runstate' && r.dom === a && r.from === 2 && r.to === 1) {
        woke = r.t;
        bInUtilExtra = host.hv.fw.pcpus[0].curr.domain.id === b && (unit(b).status & 4) !== 0; // EXTRA_RUN_UTIL
      }
      if (r.type === 'runstate' && r.dom === a && r.from === 1 && r.to === 0 && woke >= 0) {
        wakes.push({ waited: r.t - woke, bInUtilExtra, aRunsL0: (unit(a).status & EXTRA_RUN_PEN) !== 0 }); // as picked
        woke = -1;
      }
    });
    host.runFor(sec(1));
    unsub();
    const st = unit(a).stats;
    const short = st.shortBlocks - s0.shortBlocks;
    expect(short).toBeGreaterThanOrEqual(40); // of ~50 wake-ups
    expect(st.penExtraBlocks - s0.penExtraBlocks).toBe(short); // each lost part of its slice
    expect(st.penExtraSlices - s0.penExtraSlices).toBeGreaterThanOrEqual(15);
    // woken into L0 while B runs L1 extra time: A preempts B at once (should_switch)
    const preempting = wakes.filter((w) => w.bInUtilExtra && w.aRunsL0);
    expect(preempting.length).toBeGreaterThanOrEqual(10);
    for (const w of preempting) expect(w.waited).toBe(host.hv.costs.softirqNs);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('latency is stored and returned, but inert: the schedule is identical to the ns', () => {
    const run = (latency: number) => {
      const { host, ids } = sedfHost([
        { kernel: 'minios-interactive', cmdline: `period=${ms(10)} jitter=${ms(3)} work=${ms(2)}`, params: { period: ms(40), slice: ms(10), latency, extratime: 1 } },
        { params: { period: ms(50), slice: ms(20), latency, extratime: 1 } },
      ]);
      const done = record(host);
      host.runFor(sec(1));
      const m = done();
      const got = host.run('get', function* ({ xc }) {
        return xc.schedDomainGet(ids[0], SEDF, xenDomctlSchedSedf).latency;
      });
      return { got, sw: m.switches.map((r) => `${r.t}:${r.nextDom}:${r.slice}`) };
    };
    const a = run(0);
    const b = run(ms(5));
    expect([a.got, b.got]).toEqual([0, ms(5)]);
    expect(a.sw.length).toBeGreaterThan(200);
    expect(b.sw).toEqual(a.sw);
  });

  it('validates putinfo: period/slice limits, period 0 without a weight → -EINVAL, nothing changed; defaults as Xen 4.5', () => {
    const { host, ids } = sedfHost([{}]);
    const id = ids[0];
    const good: Params = { period: ms(30), slice: ms(7), latency: ms(3), extratime: 0, weight: 0 };
    const r = host.run('adjust', function* ({ xc }) {
      const dom0 = xc.schedDomainGet(0, SEDF, xenDomctlSchedSedf);
      const initial = xc.schedDomainGet(id, SEDF, xenDomctlSchedSedf);
      xc.schedDomainSet(id, SEDF, xenDomctlSchedSedf, good);
      const afterSet = xc.schedDomainGet(id, SEDF, xenDomctlSchedSedf);
      const bad: Partial<Params>[] = [
        { period: 0, weight: 0 },
        { period: PERIOD_MIN - 1, slice: SLICE_MIN },
        { period: PERIOD_MAX + 1, slice: ms(1) },
        { period: ms(10), slice: ms(10) + 1 },
        { period: ms(10), slice: SLICE_MIN - 1 },
        { weight: 0x8000 },
      ];
      const rcs = bad.map((b) => rcOf(() => xc.schedDomainSet(id, SEDF, xenDomctlSchedSedf, { ...good, ...b })));
      rcs.push(rcOf(() => xc.schedDomainSet(id, 5, xenDomctlSchedSedf, good))); // credit's sched_id
      const afterBad = xc.schedDomainGet(id, SEDF, xenDomctlSchedSedf);
      const edges = [
        { period: PERIOD_MIN, slice: SLICE_MIN },
        { period: PERIOD_MAX, slice: PERIOD_MAX },
      ].map((e) => rcOf(() => xc.schedDomainSet(id, SEDF, xenDomctlSchedSedf, { ...good, ...e })));
      return { dom0, initial, afterSet, rcs, afterBad, edges };
    });
    const BEST_EFFORT = { period: ms(100), slice: 0, latency: 0, extratime: 1, weight: 0 };
    expect(r.dom0).toEqual(BEST_EFFORT);
    expect(r.initial).toEqual(BEST_EFFORT);
    expect(r.afterSet).toEqual(good);
    expect(r.rcs).toEqual(Array(7).fill(-Errno.EINVAL));
    expect(r.afterBad).toEqual(good);
    expect(r.edges).toEqual([0, 0]);
    expect([PERIOD_MIN, PERIOD_MAX, SLICE_MIN, EXTRA_QUANTUM]).toEqual([us(10), sec(10), us(5), us(500)]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it("lays out Xen 4.5's struct xen_domctl_sched_sedf (32 bytes)", () => {
    expect(xenDomctlSchedSedf.size).toBe(32);
    expect(Object.fromEntries(Object.entries(xenDomctlSchedSedf.fields).map(([k, f]) => [k, [f.off, f.type]]))).toEqual({
      period: [0, 'u64'],
      slice: [8, 'u64'],
      latency: [16, 'u64'],
      extratime: [24, 'u32'],
      weight: [28, 'u32'],
    });
  });
});

describe('sEDF under random pause / unpause / pin / adjust on 2 pCPUs', () => {
  it('keeps its queues consistent: queued iff awake, on its own pCPU, runq by deadline, waitq by period begin, extra queues by score', () => {
    const period = fc.integer({ min: ms(1), max: ms(200) });
    const timeDriven = fc.tuple(period, fc.integer({ min: 0, max: 100 }), fc.nat(1)).map(([p, s, extratime]) => ({ period: p, slice: Math.floor((p * s) / 500), latency: ms(1), extratime, weight: 0 }));
    const weighted = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.nat(1), fc.boolean()).map(([weight, extratime, zero]) => ({ period: zero ? 0 : ms(100), slice: 0, latency: 0, extratime, weight }));
    stressScheduler({
      scheduler: 'sedf',
      schedId: SEDF,
      layout: xenDomctlSchedSedf,
      // a guest books at most 20% (slice ≤ period / 5); weight-driven guests share what is left
      params: fc.oneof(timeDriven, weighted),
      check: (vcpus) => {
        const errs: string[] = [];
        const pool = vcpus[0].domain.pool;
        const lists = new Map<SedfUnit, string>();
        const extra = new Map<SedfUnit, string[]>();
        type P = { runq: SedfUnit[]; waitq: SedfUnit[]; extraq: [SedfUnit[], SedfUnit[]] };
        for (const cpu of pool.cpuIds) {
          const pd = pool.ctx.pdata<P>(cpu);
          const sorted = (q: SedfUnit[], key: (u: SedfUnit) => number, name: string) => {
            for (let i = 1; i < q.length; i++) if (key(q[i - 1]) > key(q[i])) errs.push(`cpu ${cpu} ${name} out of order`);
          };
          sorted(pd.runq, (u) => u.deadlAbs, 'runq');
          sorted(pd.waitq, (u) => u.deadlAbs - u.period, 'waitq');
          sorted(pd.extraq[0], (u) => u.score[0], 'L0');
          sorted(pd.extraq[1], (u) => u.score[1], 'L1');
          for (const [name, q] of [['runq', pd.runq], ['waitq', pd.waitq]] as const)
            for (const u of q) {
              if (lists.has(u)) errs.push(`a unit is on ${lists.get(u)} and cpu ${cpu} ${name}`);
              lists.set(u, `cpu ${cpu} ${name}`);
            }
          pd.extraq.forEach((q, i) => {
            for (const u of q) extra.set(u, [...(extra.get(u) ?? []), `cpu ${cpu} L${i}`]);
          });
        }
        for (const v of vcpus) {
          const u = v.priv as SedfUnit;
          const awake = !(u.status & 16);
          const where = lists.get(u);
          // a running vCPU put to sleep keeps its queues until do_schedule (pending) takes it off
          const settled = !v.isRunning;
          if (settled && awake !== (where !== undefined)) errs.push(`${v} awake=${awake} queued on ${where}`);
          if (where && !where.startsWith(`cpu ${v.res} `)) errs.push(`${v} on cpu ${v.res} but queued on ${where}`);
          if (settled && v.runnable !== awake) errs.push(`${v} runnable=${v.runnable} but awake=${awake}`);
          for (const e of extra.get(u) ?? []) if (!e.startsWith(`cpu ${v.res} `) || (settled && !awake)) errs.push(`${v} (cpu ${v.res}, awake=${awake}) on ${e}`);
          if ((u.status & 6) === 6) errs.push(`${v} runs both L0 and L1`);
          if (u.status & 6 && !v.isRunning) errs.push(`${v} flagged running extra time but not running`);
        }
        return errs;
      },
    });
  });
});
