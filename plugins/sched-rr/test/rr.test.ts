/**
 * Round robin (Xen 2.0's sched_rrobin.c) on a real host: dom0 builds MiniOS guests through Xc and
 * sets the slice with XEN_SYSCTL_scheduler_op; the figures come from the trace and the vCPUs'
 * runstate times.
 */
import { describe, expect, it } from 'vitest';
import { Errno, ms, sec, us, type Ns, type TraceRecord } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { bvtAdjdom } from '@xenotype/sched-bvt';
import { RR_DEFAULT_SLICE, RR_MIN_SLICE, rrScheduler, rrobinCtl } from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import type { Xc } from '../../../tools/src/xc/xc';
import { WakeLatency, shares, summarize } from '../../../tools/src/metrics';

const RR = rrScheduler.schedId;

/** The errno of a failed Xc call (0 if it succeeded). */
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
}

const hogSpec = (name: string): GuestSpec => ({ name, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)} ws=${64 * 1024}` });
const interactiveSpec = (name = 'interactive'): GuestSpec => ({
  name,
  kernel: 'minios-interactive',
  cmdline: `period=${ms(10)} jitter=${ms(2)} work=${ms(1)} ws=${16 * 1024}`,
});

/** A one-pCPU RR host with `guests` built (paused), `setup` run in dom0, then all unpaused. */
function rrHost(guests: GuestSpec[], setup: (xc: Xc, ids: number[]) => void = () => {}, seed = 1) {
  const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'rr', seed });
  const ids = host.run('build', function* ({ xc }) {
    const out = guests.map((g) => buildDomain(xc, { name: g.name, memoryMiB: 8, vcpus: 1, kernel: g.kernel, cmdline: g.cmdline, paused: true }).domid);
    setup(xc, out);
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
  return { host, ids, cpu, record };
}

describe('round robin', () => {
  it('gives CPU hogs equal shares within 1%, whatever weights they were meant to have', () => {
    const weights = [1, 2, 5, 10];
    let refused: number[] = [];
    const { host, ids, cpu } = rrHost(
      weights.map((w) => hogSpec(`hog-w${w}`)),
      (xc, out) => {
        xc.schedGlobalSet(0, RR, rrobinCtl, { slice: ms(5) });
        // RR has no per-domain parameters: every attempt to give a weight is refused
        refused = out.map((id, i) => rcOf(() => xc.schedDomainSet(id, RR, bvtAdjdom, { mcu_adv: Math.floor(10 / weights[i]) })));
      },
    );
    expect(refused).toEqual(weights.map(() => -Errno.EINVAL));
    host.runFor(ms(200));
    const before = ids.map(cpu);
    host.runFor(sec(2));
    const used = ids.map((id, i) => cpu(id) - before[i]);
    const rows = shares(weights.map((w, i) => ({ name: `hog-w${w}`, weight: 1, cpuNs: used[i] })));
    for (const r of rows) expect(Math.abs(r.share / 0.25 - 1)).toBeLessThanOrEqual(0.01);
    // and together they had the whole pCPU but for switch costs (dom0 is blocked)
    const total = used.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(sec(2) * 0.99);
    expect(total).toBeLessThanOrEqual(sec(2));
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('honours the configured slice: a hog runs exactly one slice while others wait, and a lone hog continues every slice', () => {
    const SLICE = ms(3);
    const { host, ids, record } = rrHost([hogSpec('a'), hogSpec('b'), hogSpec('c')], (xc) => xc.schedGlobalSet(0, RR, rrobinCtl, { slice: SLICE }));
    const softirq = host.hv.costs.softirqNs;
    const hogs = new Set(ids);
    const sw = record((r) => r.type === 'switch');
    host.runFor(ms(300));
    sw.unsub();
    const stints = sw.out.filter((r) => r.type === 'switch' && hogs.has(r.prevDom) && hogs.has(r.nextDom));
    expect(stints.length).toBeGreaterThanOrEqual(95);
    for (const r of stints) {
      if (r.type !== 'switch') continue;
      expect(r.nextWaited).toBeGreaterThan(0); // the next hog was waiting
      expect(r.slice).toBe(SLICE);
      // the slice timer expires after SLICE; schedule() runs softirqNs later (the cost model)
      expect(r.prevRan).toBe(SLICE + softirq);
    }
    // strict rotation a, b, c, a, b, c, ...
    const order = stints.map((r) => (r.type === 'switch' ? r.nextDom : -1));
    for (let i = 3; i < order.length; i++) expect(order[i]).toBe(order[i - 3]);
    expect(new Set(order.slice(0, 3)).size).toBe(3);

    // a new slice set at run time applies from the next decision on
    const NEW = ms(7);
    host.run('slice', function* ({ xc }) {
      xc.schedGlobalSet(0, RR, rrobinCtl, { slice: NEW });
    });
    host.runFor(ms(20)); // let the stints granted before the change end
    const sw2 = record((r) => r.type === 'switch');
    host.runFor(ms(300));
    sw2.unsub();
    const later = sw2.out.filter((r) => r.type === 'switch' && hogs.has(r.prevDom) && hogs.has(r.nextDom));
    expect(later.length).toBeGreaterThanOrEqual(40);
    for (const r of later) if (r.type === 'switch') expect([r.slice, r.prevRan]).toEqual([NEW, NEW + softirq]);

    // pause two hogs: the third is alone and is re-decided ('continue') every slice
    host.run('pause', function* ({ xc }) {
      xc.domainPause(ids[1]);
      xc.domainPause(ids[2]);
    });
    host.runFor(ms(30));
    const cont = record((r) => r.type === 'continue' || r.type === 'switch');
    host.runFor(ms(100));
    cont.unsub();
    const c = cont.out.filter((r) => r.type === 'continue');
    expect(c.length).toBe(cont.out.length); // no switch at all
    expect(c.length).toBeGreaterThanOrEqual(13);
    for (let i = 0; i < c.length; i++) {
      const r = c[i];
      if (r.type !== 'continue') continue;
      expect([r.dom, r.slice]).toEqual([ids[0], NEW]);
      if (i > 0) expect(r.t - c[i - 1].t).toBe(NEW + softirq);
      if (i > 0 && c[i - 1].type === 'continue') expect(r.ran - (c[i - 1] as { ran: number }).ran).toBe(NEW + softirq);
    }
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('queues a woken domain at the head: it preempts only an idle pCPU, so its wake latency is at most one slice', () => {
    const SLICE = ms(3);
    const { host, ids, record } = rrHost([hogSpec('h1'), hogSpec('h2'), hogSpec('h3'), hogSpec('h4'), interactiveSpec()], (xc) =>
      xc.schedGlobalSet(0, RR, rrobinCtl, { slice: SLICE }),
    );
    const softirq = host.hv.costs.softirqNs;
    const inter = ids[4];
    const hogs = new Set(ids.slice(0, 4));
    host.runFor(ms(100));
    const lat = new WakeLatency(new Set([inter]));
    const unsub = host.hv.trace.subscribe(lat.observe);
    const recs = record((r) => r.type === 'switch' || (r.type === 'runstate' && r.dom === inter));
    host.runFor(sec(2));
    unsub();
    recs.unsub();
    const s = summarize(lat.samples.get(inter)!);
    expect(s.n).toBeGreaterThanOrEqual(150);
    // at most the rest of the running hog's slice (a FIFO tail would be up to four slices)
    expect(s.max).toBeLessThanOrEqual(SLICE + softirq);
    // and not a preemption: on average it waits about half a slice
    expect(s.p50).toBeGreaterThanOrEqual(SLICE / 4);
    expect(s.mean).toBeGreaterThanOrEqual(SLICE / 4);
    // every wake-up while a hog runs: the very next decision (at the hog's full slice) picks it
    let checked = 0;
    const r = recs.out;
    for (let i = 0; i < r.length; i++) {
      const w = r[i];
      if (w.type !== 'runstate' || w.from !== 2 || w.to !== 1) continue;
      const next = r.slice(i + 1).find((x) => x.type === 'switch');
      if (!next || next.type !== 'switch' || !hogs.has(next.prevDom)) continue;
      expect(next.nextDom).toBe(inter);
      expect(next.prevRan).toBe(SLICE + softirq);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(150);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('an interactive domain alone wakes onto the idle pCPU after exactly softirqNs', () => {
    const { host, ids } = rrHost([interactiveSpec()]);
    host.runFor(ms(50));
    const lat = new WakeLatency(new Set([ids[0]]));
    const unsub = host.hv.trace.subscribe(lat.observe);
    host.runFor(ms(500));
    unsub();
    const samples = lat.samples.get(ids[0])!;
    expect(samples.length).toBeGreaterThanOrEqual(40);
    expect(new Set(samples)).toEqual(new Set([host.hv.costs.softirqNs]));
  });

  it('sets and gets the slice with XEN_SYSCTL_scheduler_op, refuses a bad slice with -EINVAL and has no per-domain adjust', () => {
    const { host, ids } = rrHost([hogSpec('a')]);
    const r = host.run('sysctl', function* ({ xc }) {
      const get = () => xc.schedGlobalGet(0, RR, rrobinCtl).slice;
      const out: Record<string, number> = {};
      out.initial = get();
      xc.schedGlobalSet(0, RR, rrobinCtl, { slice: ms(3) });
      out.afterSet = get();
      out.tooSmall = rcOf(() => xc.schedGlobalSet(0, RR, rrobinCtl, { slice: RR_MIN_SLICE - 1 }));
      out.zero = rcOf(() => xc.schedGlobalSet(0, RR, rrobinCtl, { slice: 0 }));
      out.tooLarge = rcOf(() => xc.schedGlobalSet(0, RR, rrobinCtl, { slice: 10_000_000_001 }));
      out.afterBad = get();
      out.wrongSchedId = rcOf(() => xc.schedGlobalSet(0, 0, rrobinCtl, { slice: ms(4) }));
      out.noSuchPool = rcOf(() => xc.schedGlobalGet(7, RR, rrobinCtl));
      out.min = rcOf(() => xc.schedGlobalSet(0, RR, rrobinCtl, { slice: RR_MIN_SLICE }));
      out.afterMin = get();
      out.domSet = rcOf(() => xc.schedDomainSet(ids[0], RR, rrobinCtl, { slice: ms(1) }));
      out.domGet = rcOf(() => xc.schedDomainGet(ids[0], RR, rrobinCtl));
      xc.schedGlobalSet(0, RR, rrobinCtl, { slice: us(2500) });
      return out;
    });
    expect(r).toEqual({
      initial: RR_DEFAULT_SLICE,
      afterSet: ms(3),
      tooSmall: -Errno.EINVAL,
      zero: -Errno.EINVAL,
      tooLarge: -Errno.EINVAL,
      afterBad: ms(3),
      wrongSchedId: -Errno.EINVAL,
      noSuchPool: -Errno.EINVAL,
      min: 0,
      afterMin: RR_MIN_SLICE,
      domSet: -Errno.EINVAL,
      domGet: -Errno.EINVAL,
    });
    expect(RR_DEFAULT_SLICE).toBe(ms(10));
    expect(RR_MIN_SLICE).toBe(us(10));
    expect(rrScheduler.dumpSettings!(host.hv.pool0.g as never)).toBe('rr_slice = 2500000 ns');
  });
});
