/**
 * Atropos (Xen 2.0's sched_atropos.c) on a real host: dom0 builds MiniOS guests through Xc and sets
 * their (period, slice, latency, xtratime) with XEN_DOMCTL_scheduler_op while they are paused. The
 * per-period figures come from the trace's switch records: each guest's running intervals, cut at
 * its period boundaries (the deadlines the policy keeps, read once at the start of the window).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Errno, ms, sec, us, type Ns, type TraceRecord, type Values } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { AtState, BESTEFFORT_QUANTUM, atroposAdjdom, atroposCtl, atroposScheduler } from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import { stressScheduler } from '../../../tools/test/sched-stress';

const ATROPOS = atroposScheduler.schedId;
const IDLE = 0x7fff;
type Adj = Values<typeof atroposAdjdom.fields>;

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
  adj?: Partial<Adj>;
  kernel?: 'minios-cpuhog' | 'minios-interactive';
  cmdline?: string;
}
/** The policy's per-unit record, read for white-box checks. */
interface URec {
  deadline: number;
  period: number;
  slice: number;
  remain: number;
  state: AtState;
  q: 'run' | 'wait' | null;
}

/** A one-pCPU Atropos host with `guests` built paused, their parameters set, then unpaused. */
function atroposHost(guests: Guest[], minSlice = 0) {
  const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'atropos', seed: 1 });
  const ids = host.run('build', function* ({ xc }) {
    if (minSlice) xc.schedGlobalSet(0, ATROPOS, atroposCtl, { min_slice: minSlice });
    const out = guests.map((g, i) => {
      const id = buildDomain(xc, { name: `g${i}`, memoryMiB: 8, vcpus: 1, kernel: g.kernel ?? 'minios-cpuhog', cmdline: g.cmdline ?? `chunk=${ms(1)}`, paused: true }).domid;
      if (g.adj) xc.schedDomainSet(id, ATROPOS, atroposAdjdom, g.adj);
      return id;
    });
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const unit = (id: number) => host.hv.domains.get(id)!.vcpus[0].priv as URec;
  return { host, ids, unit };
}

/** Running intervals per domain over [from, to) on pCPU 0, from switch records. */
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
    return { from, to, cpuIn, total: (dom: number) => cpuIn(dom, from, to) };
  };
}

/** CPU time a domain received in each of its whole periods inside [from, to), given one deadline. */
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

describe('Atropos', () => {
  it.each([
    { xtratime: 0, idle: 0.3 },
    { xtratime: 1, idle: 0 },
  ])('Atropos gives each domain its slice in every period of a feasible set (xtratime $xtratime)', ({ xtratime }) => {
    const { host, ids, unit } = atroposHost(SET.map((s) => ({ adj: { nat_period: s.period, nat_slice: s.slice, latency: s.period, xtratime } })));
    host.runFor(ms(200));
    const dls = ids.map((id) => unit(id).deadline);
    ids.forEach((id, i) => expect([unit(id).period, unit(id).slice]).toEqual([SET[i].period, SET[i].slice])); // natural by now
    const done = record(host);
    host.runFor(sec(2));
    const m = done();
    ids.forEach((id, i) => {
      const got = perPeriod(m.cpuIn, id, dls[i], SET[i].period, m.from, m.to);
      expect(got.length).toBe(sec(2) / SET[i].period); // 100, 40 and 20 whole periods
      // every period: at least the slice (without extra time: exactly the slice, to the ns)
      for (const g of got) xtratime ? expect(g).toBeGreaterThanOrEqual(SET[i].slice) : expect(g).toBe(SET[i].slice);
    });
    const idle = m.total(IDLE);
    if (xtratime) {
      // the 30% of slack is shared by the three: nothing idles, each gets more than its guarantee
      expect(idle).toBe(0);
      ids.forEach((id, i) => expect(m.total(id)).toBeGreaterThanOrEqual((sec(2) / SET[i].period) * SET[i].slice + ms(50)));
    } else {
      expect(idle).toBe(sec(2) * 0.3);
    }
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  });

  it("with Xen 2.0's 5 ms floor (min_slice) an overrun is carried: the guarantee holds on average, not per period", () => {
    const { host, ids, unit } = atroposHost(
      SET.map((s) => ({ adj: { nat_period: s.period, nat_slice: s.slice, latency: s.period, xtratime: 0 } })),
      BESTEFFORT_QUANTUM,
    );
    host.runFor(ms(200));
    const dls = ids.map((id) => unit(id).deadline);
    const done = record(host);
    host.runFor(sec(2));
    const m = done();
    const b = perPeriod(m.cpuIn, ids[1], dls[1], SET[1].period, m.from, m.to);
    // a 10 ms slice cut a few µs short by another domain's replenishment is topped up with a 5 ms
    // slice: ~5 ms of debt, so the next period gets ~5 ms
    expect(Math.min(...b)).toBeLessThanOrEqual(SET[1].slice - ms(4));
    expect(Math.max(...b)).toBeGreaterThanOrEqual(SET[1].slice + ms(4));
    // ... and over the 40 periods it averages out to the slice within one period's debt
    const sum = b.reduce((x, y) => x + y, 0);
    expect(Math.abs(sum - 40 * SET[1].slice)).toBeLessThanOrEqual(BESTEFFORT_QUANTUM);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('after a long block the period is the latency and the slice scaled to match; both double back to natural', () => {
    // wakes every 100 ms and works 15 ms (2.5 + 5 + 7.5 in its first three periods, ending 70 ms
    // after the wake-up): each wake-up comes long after its last deadline
    const { host, ids, unit } = atroposHost([
      { kernel: 'minios-interactive', cmdline: `period=${ms(100)} jitter=0 work=${ms(15)}`, adj: { nat_period: ms(40), nat_slice: ms(10), latency: ms(10), xtratime: 0 } },
      { adj: { nat_period: ms(100), nat_slice: ms(50), latency: ms(100), xtratime: 1 } }, // a busy neighbour
    ]);
    const id = ids[0];
    host.runFor(ms(300));
    const seen: string[] = [];
    for (let i = 0; i < 4000; i++) {
      host.runFor(us(50));
      const u = unit(id);
      const k = `${u.period / 1e6}/${u.slice / 1e6}`;
      if (seen[seen.length - 1] !== k) seen.push(k);
    }
    // 200 ms: two wake-ups, each 10/2.5 → 20/5 → 40/10 (ms)
    expect(seen.slice(seen.indexOf('10/2.5'))).toEqual(['10/2.5', '20/5', '40/10', '10/2.5', '20/5', '40/10']);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a short block keeps remain: the unit waits UNBLOCKED, behind guaranteed work but ahead of extra time', () => {
    // A: 2 ms of work every 20 ms, guaranteed 30 ms per 100 ms, so its wake-ups mostly come before its
    // deadline with time left; B: busy, guaranteed 12 ms per 30 ms, takes extra time
    const { host, ids, unit } = atroposHost([
      { kernel: 'minios-interactive', cmdline: `period=${ms(20)} jitter=0 work=${ms(2)}`, adj: { nat_period: ms(100), nat_slice: ms(30), latency: ms(100), xtratime: 0 } },
      { adj: { nat_period: ms(30), nat_slice: ms(12), latency: ms(30), xtratime: 1 } },
    ]);
    const [a, b] = ids;
    host.runFor(ms(300));
    const lat: { waited: Ns; bGuaranteed: boolean; picked: string }[] = [];
    let wokeAt = -1;
    let bGuaranteed = false;
    const unsub = host.hv.trace.subscribe((r) => {
      if (r.type === 'runstate' && r.dom === a && r.from === 2 && r.to === 1) {
        wokeAt = r.t;
        bGuaranteed = unit(b).q === 'run'; // B still had guaranteed time when A woke
      }
      if (r.type === 'runstate' && r.dom === a && r.from === 1 && r.to === 0 && wokeAt >= 0) {
        lat.push({ waited: r.t - wokeAt, bGuaranteed, picked: `${unit(a).state}:${unit(a).q}` }); // as do_schedule picked it
        wokeAt = -1;
      }
    });
    host.runFor(sec(1));
    unsub();
    // most wake-ups come before A's deadline with remain left: UNBLOCKED, picked from the wait queue
    const short = lat.filter((l) => l.picked === `${AtState.UNBLOCKED}:wait`);
    const long = lat.filter((l) => l.picked === `${AtState.RUNNABLE}:run`);
    expect(short.length + long.length).toBe(lat.length);
    expect(lat.length).toBeGreaterThanOrEqual(45);
    expect(short.length).toBeGreaterThanOrEqual(30);
    const behind = short.filter((l) => l.bGuaranteed);
    const ahead = short.filter((l) => !l.bGuaranteed);
    expect(behind.length).toBeGreaterThanOrEqual(10);
    expect(ahead.length).toBeGreaterThanOrEqual(20);
    // while B has guaranteed time A waits for it (up to B's 12 ms slice); once B runs on extra
    // time, A preempts it at once (the softirq's latency)
    for (const l of behind) expect(l.waited).toBeGreaterThanOrEqual(ms(1));
    for (const l of ahead) expect(l.waited).toBe(host.hv.costs.softirqNs);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('domains left at the defaults (10 s / 10 ms) run best effort: the slack is shared round robin in 5 ms quanta', () => {
    const { host, ids } = atroposHost([{}, {}, {}]);
    host.runFor(ms(100));
    const done = record(host);
    host.runFor(sec(3));
    const m = done();
    const used = ids.map((id) => m.total(id));
    const total = used.reduce((x, y) => x + y, 0);
    expect(total).toBeGreaterThanOrEqual(sec(3) - ms(1));
    for (const u of used) expect(Math.abs(u / total - 1 / 3)).toBeLessThanOrEqual(0.01);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('validates adjust: latency 0, latency > period or slice > period is -EINVAL and changes nothing; defaults as Xen 2.0', () => {
    const { host, ids } = atroposHost([{}]);
    const id = ids[0];
    const good: Adj = { nat_period: ms(30), nat_slice: ms(7), latency: ms(3), xtratime: 0 };
    const r = host.run('adjust', function* ({ xc }) {
      const dom0 = xc.schedDomainGet(0, ATROPOS, atroposAdjdom);
      const initial = xc.schedDomainGet(id, ATROPOS, atroposAdjdom);
      xc.schedDomainSet(id, ATROPOS, atroposAdjdom, good);
      const afterSet = xc.schedDomainGet(id, ATROPOS, atroposAdjdom);
      const rcs = [
        rcOf(() => xc.schedDomainSet(id, ATROPOS, atroposAdjdom, { ...good, latency: 0 })),
        rcOf(() => xc.schedDomainSet(id, ATROPOS, atroposAdjdom, { ...good, latency: ms(30) + 1 })),
        rcOf(() => xc.schedDomainSet(id, ATROPOS, atroposAdjdom, { ...good, nat_slice: ms(31) })),
        rcOf(() => xc.schedDomainSet(id, 0, atroposAdjdom, good)), // BVT's sched_id
      ];
      const afterBad = xc.schedDomainGet(id, ATROPOS, atroposAdjdom);
      // xtratime is a flag: any non-zero value reads back as 1 (Xen's !!)
      xc.schedDomainSet(id, ATROPOS, atroposAdjdom, { ...good, latency: ms(30), nat_slice: ms(30), xtratime: 7 });
      const edge = xc.schedDomainGet(id, ATROPOS, atroposAdjdom);
      return { dom0, initial, afterSet, rcs, afterBad, edge };
    });
    expect(r.dom0).toEqual({ nat_period: ms(20), nat_slice: ms(15), latency: ms(5), xtratime: 1 });
    expect(r.initial).toEqual({ nat_period: sec(10), nat_slice: ms(10), latency: sec(10), xtratime: 1 });
    expect(r.afterSet).toEqual(good);
    expect(r.rcs).toEqual([-Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL]);
    expect(r.afterBad).toEqual(good);
    expect(r.edge).toEqual({ nat_period: ms(30), nat_slice: ms(30), latency: ms(30), xtratime: 1 });
  });

  it('lays out struct atropos_adjdom packed, as Xen 2.0 declared it (28 bytes), and validates min_slice', () => {
    expect(atroposAdjdom.size).toBe(28);
    expect(Object.fromEntries(Object.entries(atroposAdjdom.fields).map(([k, f]) => [k, f.off]))).toEqual({ nat_period: 0, nat_slice: 8, latency: 16, xtratime: 24 });
    const { host } = atroposHost([]);
    const r = host.run('ctl', function* ({ xc }) {
      const initial = xc.schedGlobalGet(0, ATROPOS, atroposCtl);
      const bad = rcOf(() => xc.schedGlobalSet(0, ATROPOS, atroposCtl, { min_slice: sec(1) + 1 }));
      xc.schedGlobalSet(0, ATROPOS, atroposCtl, { min_slice: BESTEFFORT_QUANTUM });
      return { initial, bad, after: xc.schedGlobalGet(0, ATROPOS, atroposCtl) };
    });
    expect(r).toEqual({ initial: { min_slice: 0 }, bad: -Errno.EINVAL, after: { min_slice: ms(5) } });
  });
});

describe('Atropos under random pause / unpause / pin / adjust on 2 pCPUs', () => {
  it('keeps its queues consistent: every runnable vCPU on exactly one queue of its pCPU, both sorted by deadline', () => {
    const p = fc.integer({ min: ms(1), max: ms(200) });
    stressScheduler({
      scheduler: 'atropos',
      schedId: ATROPOS,
      layout: atroposAdjdom,
      // a guest books at most 20% (slice ≤ period / 5); some sets are invalid (-EINVAL)
      params: fc.tuple(p, fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 120 }), fc.nat(1)).map(([nat_period, s, l, xtratime]) => ({
        nat_period,
        nat_slice: Math.floor((nat_period * s) / 500),
        latency: Math.floor((nat_period * l) / 100),
        xtratime,
      })),
      check: (vcpus) => {
        const errs: string[] = [];
        const pcpus = vcpus[0].domain.pool.cpuIds;
        const seen = new Map<unknown, string>();
        for (const cpu of pcpus) {
          const pd = vcpus[0].domain.pool.ctx.pdata<{ runq: URec[]; waitq: URec[] }>(cpu);
          for (const [name, q] of [['runq', pd.runq], ['waitq', pd.waitq]] as const) {
            for (let i = 1; i < q.length; i++) if (q[i - 1].deadline > q[i].deadline) errs.push(`cpu ${cpu} ${name} out of order`);
            for (const u of q) {
              if (seen.has(u)) errs.push(`a unit is on ${seen.get(u)} and cpu ${cpu} ${name}`);
              seen.set(u, `cpu ${cpu} ${name}`);
              if ((u.state === AtState.WAIT || u.state === AtState.UNBLOCKED) !== (name === 'waitq')) errs.push(`state ${u.state} on ${name}`);
            }
          }
        }
        for (const v of vcpus) {
          const u = v.priv as URec;
          const where = seen.get(u);
          if ((v.runnable || v.isRunning) !== (where !== undefined) && !(v.isRunning && !v.runnable)) errs.push(`${v} runnable=${v.runnable} queued on ${where}`);
          if (where && !where.startsWith(`cpu ${v.res} `)) errs.push(`${v} on cpu ${v.res} but queued on ${where}`);
        }
        return errs;
      },
    });
  });
});
