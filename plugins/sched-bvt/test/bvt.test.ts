/**
 * Borrowed Virtual Time (Xen 2.0's sched_bvt.c) on a real host: dom0 builds MiniOS guests through
 * Xc, sets per-domain parameters with XEN_DOMCTL_scheduler_op and ctx_allow / slice_mode with
 * XEN_SYSCTL_scheduler_op; the figures come from the trace, the vCPUs' runstate times and the
 * policy's own records (svt, avt).
 */
import { describe, expect, it } from 'vitest';
import { Errno, ms, sec, us, type Ns, type TraceRecord, type Values } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { CTX_MIN, DEFAULT_CTX_ALLOW, MCU, bvtAdjdom, bvtCtl, bvtScheduler, mcuAdvanceForWeight } from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import type { Xc } from '../../../tools/src/xc/xc';
import { WakeLatency, shares, summarize } from '../../../tools/src/metrics';

const BVT = bvtScheduler.schedId;
type Adj = Values<typeof bvtAdjdom.fields>;

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

interface GuestSpec {
  name: string;
  kernel: 'minios-cpuhog' | 'minios-interactive';
  cmdline?: string;
  adj?: Partial<Adj>;
}

const NO_WARP = { warpback: 0, warpvalue: 0, warpl: 2000, warpu: 1000 };
const hog = (name: string, mcu_adv = 10, adj: Partial<Adj> = {}): GuestSpec => ({
  name,
  kernel: 'minios-cpuhog',
  cmdline: `chunk=${ms(1)} ws=${64 * 1024}`,
  adj: { mcu_adv, ...NO_WARP, ...adj },
});
const interactive = (adj: Partial<Adj>): GuestSpec => ({
  name: 'interactive',
  kernel: 'minios-interactive',
  cmdline: `period=${ms(10)} jitter=${ms(2)} work=${ms(1)} ws=${16 * 1024}`,
  adj: { mcu_adv: 10, ...NO_WARP, ...adj },
});

/** The policy's private records, read for white-box checks. */
interface PRec {
  svt: number;
  runq: { avt: number; evt: number; unit: { domid: number } }[];
}
interface URec {
  avt: number;
  evt: number;
  warp: boolean;
}

function build(xc: Xc, g: GuestSpec): number {
  const id = buildDomain(xc, { name: g.name, memoryMiB: 8, vcpus: 1, kernel: g.kernel, cmdline: g.cmdline, paused: true }).domid;
  if (g.adj) xc.schedDomainSet(id, BVT, bvtAdjdom, g.adj);
  return id;
}

/** A one-pCPU BVT host: ctx_allow / slice_mode set, `guests` built with their parameters, then unpaused. */
function bvtHost(guests: GuestSpec[], ctl: { ctx_allow?: number; slice_mode?: number } = {}, seed = 1) {
  const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'bvt', seed });
  const ids = host.run('build', function* ({ xc }) {
    xc.schedGlobalSet(0, BVT, bvtCtl, { ctx_allow: ms(5), ...ctl });
    const out = guests.map((g) => build(xc, g));
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const cpu = (id: number): Ns => host.hv.domains.get(id)!.vcpus[0].cpuTime(host.now);
  const record = (pred: (r: TraceRecord) => boolean) => {
    const out: TraceRecord[] = [];
    const unsub = host.hv.trace.subscribe((r) => {
      if (pred(r)) out.push(r);
    });
    return { out, unsub };
  };
  const pcpu = () => host.hv.fw.pcpus[0].priv as PRec;
  const unit = (id: number) => host.hv.domains.get(id)!.vcpus[0].priv as URec;
  return { host, ids, cpu, record, pcpu, unit };
}

describe('BVT', () => {
  // Over 4 s the weight-1 hog runs ~220 ms in stints of at least ctx_allow (5 ms), so where the
  // window cuts its last stint moves its share by up to ~2%: 3% leaves room for that and no more.
  it('gives CPU hogs shares that follow their weights (mcu_adv = 10 / weight) within 3%', () => {
    const weights = [1, 2, 5, 10];
    expect(weights.map(mcuAdvanceForWeight)).toEqual([10, 5, 2, 1]);
    const { host, ids, cpu } = bvtHost(weights.map((w) => hog(`hog-w${w}`, mcuAdvanceForWeight(w))));
    host.runFor(ms(200));
    const before = ids.map(cpu);
    host.runFor(sec(4));
    const rows = shares(weights.map((w, i) => ({ name: `w${w}`, weight: w, cpuNs: cpu(ids[i]) - before[i] })));
    for (const r of rows) expect(Math.abs(r.error)).toBeLessThanOrEqual(0.03);
    // (round robin would give each 25%: the weight-1 hog would get +350%)
    expect(rows[0].share).toBeLessThan(0.06);
    expect(rows[3].share).toBeGreaterThan(0.54);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a warped interactive domain preempts at once (wake latency = softirqNs); unwarped under load it waits', () => {
    const WARP = { warpback: 1, warpvalue: 1_000_000, warpl: 10, warpu: 100 };
    const run = (warped: boolean) => {
      const hogs = [1, 2, 5, 10].map((w) => hog(`hog-w${w}`, mcuAdvanceForWeight(w)));
      const { host, ids, cpu } = bvtHost([...hogs, interactive(warped ? WARP : {})]);
      const inter = ids[4];
      host.runFor(ms(100));
      const lat = new WakeLatency(new Set([inter]));
      const unsub = host.hv.trace.subscribe(lat.observe);
      const c0 = cpu(inter);
      host.runFor(sec(2));
      unsub();
      expect(host.hv.checkInvariants()).toEqual([]);
      return { s: summarize(lat.samples.get(inter)!), cpu: cpu(inter) - c0, softirq: host.hv.costs.softirqNs };
    };
    const w = run(true);
    expect(w.s.n).toBeGreaterThanOrEqual(150);
    expect(w.s.max).toBe(w.softirq);
    expect(w.s.p50).toBe(w.softirq);
    // it gets all the CPU it asks for: 1 ms per ~11 ms period
    expect(w.cpu).toBeGreaterThanOrEqual(ms(170));
    const u = run(false);
    // same guest, same weight, no warp: it waits for the hogs' slices to end
    expect(u.s.p50).toBeGreaterThanOrEqual(ms(1));
    expect(u.s.p99).toBeGreaterThanOrEqual(ms(5));
    expect(u.s.p50).toBeGreaterThan(1000 * w.s.p50);
  });

  describe('warpl and warpu', () => {
    // A warps by far more than any gap in virtual time (1e6 units = 10 s of its running), so while
    // warped it is always picked, and its slice is ~10 s: only warpl can end the warped run.
    const WARPL = 20;
    const WARPU = 50;
    const setup = (warpl: number, warpu: number) =>
      bvtHost([hog('A', 10, { warpback: 1, warpvalue: 1_000_000, warpl, warpu }), hog('B', 10)]);

    // warpu 40: the warp comes back while B runs (A is queued); warpu 50: while A runs unwarped
    it.each([
      { warpu: 40, runs: 13 },
      { warpu: WARPU, runs: 11 },
    ])('a CPU-bound warped domain loses its warp after warpl of running and regains it warpu later (warpu $warpu ms)', ({ warpu, runs }) => {
      const { host, ids, cpu, record, unit } = setup(WARPL, warpu);
      const [a, b] = ids;
      const softirq = host.hv.costs.softirqNs;
      const dec = record((r) => r.type === 'switch' || r.type === 'continue');
      const c0 = ids.map(cpu);
      host.runFor(ms(750));
      dec.unsub();
      // decisions that run A with a warped slice (~10 s) start a warped run
      const isA = (r: TraceRecord) => (r.type === 'switch' ? r.nextDom === a : r.type === 'continue' && r.dom === a);
      const warpedRuns: number[] = [];
      const out = dec.out;
      for (let i = 0; i < out.length; i++) {
        const r = out[i];
        if (!isA(r) || (r.type !== 'switch' && r.type !== 'continue') || r.slice < sec(1)) continue;
        warpedRuns.push(r.t);
        // A runs undisturbed until warpl has passed; then it is descheduled for B at once
        const next = out[i + 1];
        expect(next).toBeDefined();
        expect(next.type).toBe('switch');
        if (next.type === 'switch') expect([next.t - r.t, next.prevDom, next.nextDom]).toEqual([ms(WARPL) + softirq, a, b]);
      }
      // a warped run every warpl + warpu (+ the reschedule's softirqNs), from the start to ~720 ms
      expect(warpedRuns.length).toBe(runs);
      for (let k = 1; k < warpedRuns.length; k++) expect(warpedRuns[k] - warpedRuns[k - 1]).toBe(ms(WARPL + warpu) + softirq);
      // between warped runs they share by virtual time: over the whole run, half each within 3%
      const used = ids.map((id, i) => cpu(id) - c0[i]);
      for (const u of used) expect(Math.abs(u / (used[0] + used[1]) - 0.5)).toBeLessThanOrEqual(0.03);
      // 750 ms in, the last warped run (from ~700 or ~720 ms) has ended; the next is due after 750 ms
      expect(unit(a).warp).toBe(false);
      expect(host.hv.checkInvariants()).toEqual([]);
    });

    it('without warpl the warped hog runs alone; with warpu = 0 it warps once and never again', () => {
      {
        const { host, ids, cpu } = setup(0, WARPU);
        const c0 = ids.map(cpu);
        host.runFor(ms(500));
        expect(cpu(ids[1]) - c0[1]).toBe(0); // B starves: the warp has no limit
        expect(cpu(ids[0]) - c0[0]).toBeGreaterThanOrEqual(ms(500) - us(10));
      }
      {
        const { host, ids, cpu, record, unit } = setup(WARPL, 0);
        const dec = record((r) => (r.type === 'switch' && r.nextDom === ids[0]) || (r.type === 'continue' && r.dom === ids[0]));
        const c0 = ids.map(cpu);
        host.runFor(ms(500));
        dec.unsub();
        const warped = dec.out.filter((r) => (r.type === 'switch' || r.type === 'continue') && r.slice >= sec(1));
        expect(warped.length).toBe(1);
        expect(unit(ids[0]).warp).toBe(false);
        const adj = host.run('get', function* ({ xc }) {
          return xc.schedDomainGet(ids[0], BVT, bvtAdjdom);
        });
        expect(adj.warpback).toBe(0); // warping stopped for good
        const used = ids.map((id, i) => cpu(id) - c0[i]);
        for (const u of used) expect(Math.abs(u / (used[0] + used[1]) - 0.5)).toBeLessThanOrEqual(0.03);
      }
    });
  });

  it('keeps each pCPU\'s SVT monotonic, with every queued unit at or above it', () => {
    const { host, pcpu } = bvtHost([hog('h1', 10), hog('h2', 3), hog('h3', 1), interactive({ warpback: 1, warpvalue: 500, warpl: 5, warpu: 20 })]);
    let last = -1;
    let rises = 0;
    for (let i = 0; i < 1500; i++) {
      host.runFor(us(997)); // not a divisor of the slices: samples land at every phase
      const p = pcpu();
      expect(p.svt).toBeGreaterThanOrEqual(last);
      if (p.svt > last) rises++;
      last = p.svt;
      for (const u of p.runq) expect(u.avt).toBeGreaterThanOrEqual(p.svt);
    }
    expect(rises).toBeGreaterThanOrEqual(100);
    expect(last).toBeGreaterThan(0);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('validates adjust: mcu_adv 0 or a negative warpl / warpu is -EINVAL and changes nothing', () => {
    const { host, ids } = bvtHost([hog('a', 10)]);
    const id = ids[0];
    const good: Adj = { mcu_adv: 3, warpback: 1, warpvalue: -777, warpl: 15, warpu: 40 };
    const r = host.run('adjust', function* ({ xc }) {
      const initial = xc.schedDomainGet(id, BVT, bvtAdjdom);
      xc.schedDomainSet(id, BVT, bvtAdjdom, good);
      const afterSet = xc.schedDomainGet(id, BVT, bvtAdjdom);
      const rcs = [
        rcOf(() => xc.schedDomainSet(id, BVT, bvtAdjdom, { ...good, mcu_adv: 0 })),
        rcOf(() => xc.schedDomainSet(id, BVT, bvtAdjdom, { ...good, mcu_adv: 9, warpl: -1 })),
        rcOf(() => xc.schedDomainSet(id, BVT, bvtAdjdom, { ...good, mcu_adv: 9, warpu: -5 })),
        rcOf(() => xc.schedDomainSet(id, 3, bvtAdjdom, { ...good, mcu_adv: 9 })), // RR's sched_id
      ];
      const afterBad = xc.schedDomainGet(id, BVT, bvtAdjdom);
      return { initial, afterSet, rcs, afterBad };
    });
    // a domain built above had mcu_adv 10, no warp, warpl 2000 ms, warpu 1000 ms
    expect(r.initial).toEqual({ mcu_adv: 10, warpback: 0, warpvalue: 0, warpl: 2000, warpu: 1000 });
    expect(r.afterSet).toEqual(good);
    expect(r.rcs).toEqual([-Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL]);
    expect(r.afterBad).toEqual(good);
  });

  it('validates ctx_allow (>= 10 µs) and slice_mode through sysctl', () => {
    const { host } = bvtHost([]);
    const r = host.run('ctl', function* ({ xc }) {
      const get = () => xc.schedGlobalGet(0, BVT, bvtCtl);
      const initial = get();
      const rcs = [
        rcOf(() => xc.schedGlobalSet(0, BVT, bvtCtl, { ctx_allow: CTX_MIN - 1 })),
        rcOf(() => xc.schedGlobalSet(0, BVT, bvtCtl, { ctx_allow: 0 })),
        rcOf(() => xc.schedGlobalSet(0, BVT, bvtCtl, { slice_mode: 2 })),
      ];
      const afterBad = get();
      const ok = rcOf(() => xc.schedGlobalSet(0, BVT, bvtCtl, { ctx_allow: CTX_MIN, slice_mode: 1 }));
      return { initial, rcs, afterBad, ok, afterOk: get() };
    });
    expect(r.initial).toEqual({ ctx_allow: ms(5), slice_mode: 0 }); // set by bvtHost
    expect(r.rcs).toEqual([-Errno.EINVAL, -Errno.EINVAL, -Errno.EINVAL]);
    expect(r.afterBad).toEqual({ ctx_allow: ms(5), slice_mode: 0 });
    expect(r.ok).toBe(0);
    expect(r.afterOk).toEqual({ ctx_allow: us(10), slice_mode: 1 });
    expect(CTX_MIN).toBe(us(10));
    expect(DEFAULT_CTX_ALLOW).toBe(ms(5));
  });

  it('slice_mode 1 (Xen 2.0 arithmetic) gives slices of ctx_allow plus a few ns; mode 0 scales the gap by MCU', () => {
    const CTX = ms(5);
    const run = (mode: number) => {
      const { host, ids, record } = bvtHost([hog('w1', 10), hog('w2', 5), hog('w10', 1)], { ctx_allow: CTX, slice_mode: mode });
      const hogs = new Set(ids);
      host.runFor(ms(100));
      // every decision for a hog (a switch to it or a continue of it) and the slice it was granted
      const dec = record((r) => (r.type === 'switch' && hogs.has(r.nextDom)) || (r.type === 'continue' && hogs.has(r.dom)));
      host.runFor(ms(1500));
      dec.unsub();
      expect(host.hv.checkInvariants()).toEqual([]);
      return dec.out.map((r) => (r.type === 'switch' || r.type === 'continue' ? r.slice : NaN));
    };
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const xen = run(1);
    expect(xen.length).toBeGreaterThanOrEqual(280); // 1.5 s / 5 ms
    for (const s of xen) {
      expect(s).toBeGreaterThanOrEqual(CTX);
      expect(s).toBeLessThan(CTX + MCU); // the MCU count is added as ns
    }
    expect(xen.some((s) => s > CTX)).toBe(true);
    const scaled = run(0);
    for (const s of scaled) expect((s - CTX) % MCU).toBe(0);
    expect(Math.max(...scaled)).toBeGreaterThanOrEqual(CTX + 20 * MCU);
    expect(mean(scaled)).toBeGreaterThan(1.3 * mean(xen));
    expect(scaled.length).toBeLessThan(xen.length);
  });

  it('a domain created later starts at SVT: it neither starves the others nor is starved', () => {
    const { host, ids, cpu, pcpu, unit } = bvtHost([hog('old1', 10), hog('old2', 10)]);
    host.runFor(ms(800));
    const svtBefore = pcpu().svt;
    expect(svtBefore).toBeGreaterThan(10_000); // the old hogs have run ~400 ms each: ~40000 units
    let created = -1;
    host.run('late', function* ({ xc }) {
      created = build(xc, hog('late', 10));
    });
    // at creation (paused) its avt and evt are the SVT of its pCPU, not 0
    expect(unit(created).avt).toBeGreaterThanOrEqual(svtBefore);
    expect(unit(created).avt).toBeLessThanOrEqual(pcpu().svt);
    host.run('unpause', function* ({ xc }) {
      xc.domainUnpause(created);
    });
    const all = [...ids, created];
    const c0 = all.map(cpu);
    host.runFor(ms(300));
    const used = all.map((id, i) => cpu(id) - c0[i]);
    const total = used.reduce((a, b) => a + b, 0);
    for (const u of used) expect(Math.abs(u / total - 1 / 3)).toBeLessThanOrEqual(0.03);
    expect(host.hv.checkInvariants()).toEqual([]);
  });
});
