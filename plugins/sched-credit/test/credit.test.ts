/**
 * Credit (Xen's credit1) on a real host: dom0 builds MiniOS guests through Xc and sets their
 * weight and cap with XEN_DOMCTL_scheduler_op (struct xen_domctl_sched_credit), and the pool's
 * tslice / ratelimit / migration delay with XEN_SYSCTL_scheduler_op (struct
 * xen_sysctl_credit_schedule). Figures come from the vCPUs' runstate times, the trace (runstate,
 * switch and the policy's TRC_SCHED_CLASS records) and, for white-box checks, the policy's records.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuSet, Errno, Prio, RUNSTATE, XEN_DOMCTL_SCHEDOP, abi, ms, sec, us, type Ns, type TopologySpec, type TraceRecord, type Values } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import {
  CSCHED_MIN_TIMER,
  PRI,
  TRC_CSCHED,
  creditScheduler,
  xenDomctlSchedCredit,
  xenSysctlCreditSchedule,
} from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import { WakeLatency, shares, summarize } from '../../../tools/src/metrics';
import { setDomainSchedParams, setPoolSchedParams, ParamError } from '../../../tools/src/toolstack/sched';
import { XentraceWriter, occupants } from '../../../tools/src/trace/xentrace';
import { PRELUDE, Workdir, parseKv, toolchain } from '../../../test/conformance/cc';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CREDIT = creditScheduler.schedId;
type Ctl = Values<typeof xenSysctlCreditSchedule.fields>;

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
  /** Hard affinity of every vCPU at creation. */
  pin?: number[];
}
const hog = (weight = 256, extra: Partial<Spec> = {}): Spec => ({ weight, ...extra });
/** Wakes every 10 ms plus up to 10 ms of jitter (so ticks meet it at any phase), runs `work`. */
const interactive = (weight: number, work = ms(1)): Spec => ({
  kernel: 'minios-interactive',
  cmdline: `period=${ms(10)} jitter=${ms(10)} work=${work} ws=${16 * 1024}`,
  weight,
});

/** The policy's private records, for white-box checks. */
interface URec {
  pri: number;
  credit: number;
  active: boolean;
  runq: { runq: URec[]; cpu: number } | null;
  unit: { domid: number; vcpuId: number; runnable: boolean; isRunning: boolean; isIdle: boolean };
  dom?: { weight: number };
}
interface GRec {
  weight: number;
  activeDoms: { weight: number; activeUnits: URec[] }[];
}

function creditHost(specs: Spec[], o: { cpus?: number | TopologySpec; ctl?: Partial<Ctl>; seed?: number } = {}) {
  const host = new Host({ cpus: o.cpus ?? 1, memoryMiB: 256, scheduler: 'credit', seed: o.seed ?? 1 });
  const nr = host.hv.fw.pcpus.length;
  const ids = host.run('build', function* ({ xc }) {
    if (o.ctl) xc.schedGlobalSet(0, CREDIT, xenSysctlCreditSchedule, o.ctl);
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
      xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: s.weight ?? 256, cap: s.cap ?? 0 });
      if (s.pin) for (let v = 0; v < vcpus; v++) xc.setVcpuAffinity(id, v, CpuSet.of(s.pin), null, nr);
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
  /** CPU used by each domain over the next `ns`. */
  const measure = (ns: Ns) => {
    const c0 = ids.map(cpu);
    host.runFor(ns);
    return ids.map((id, i) => cpu(id) - c0[i]);
  };
  const g = () => host.hv.fw.pools.get(0)!.g as GRec;
  const unit = (id: number, v = 0) => dom(id).vcpus[v].priv as URec;
  const clean = () => {
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  };
  return { host, ids, dom, cpu, record, measure, g, unit, clean };
}

const policyRecs = (name: string) => (r: TraceRecord) => r.type === 'policy' && r.policy === 'credit' && r.name === name;

/**
 * Wake-up latencies of domain I's vCPU 0, split by the priority it had when it woke (read at the
 * blocked → runnable record, before the wake hook runs): UNDER or BOOST wakes are boosted, OVER
 * wakes are not.
 */
function latencyByPri(h: ReturnType<typeof creditHost>, I: number) {
  const boosted: number[] = [];
  const over: number[] = [];
  let woke: { pri: number; t: number } | null = null;
  const unsub = h.host.hv.trace.subscribe((r) => {
    if (r.type !== 'runstate' || r.dom !== I || r.vcpu !== 0) return;
    if (r.from === RUNSTATE.blocked && r.to === RUNSTATE.runnable) woke = { pri: h.unit(I).pri, t: r.t };
    else if (r.from === RUNSTATE.runnable && r.to === RUNSTATE.running && woke) {
      (woke.pri === PRI.OVER ? over : boosted).push(r.t - woke.t);
      woke = null;
    } else woke = null;
  });
  return { boosted, over, unsub };
}

describe('credit: weights', () => {
  // 4 s at 30 ms slices: ~130 slices; each share is off by at most a fraction of one slice (~0.7 %).
  it('CPU hogs on one pCPU share it by weight (256 / 512 / 1024) within 2 %', () => {
    const weights = [256, 512, 1024];
    const { host, measure, clean } = creditHost(weights.map((w) => hog(w)));
    host.runFor(ms(500));
    const used = measure(sec(4));
    const rows = shares(weights.map((w, i) => ({ name: `w${w}`, weight: w, cpuNs: used[i] })));
    for (const r of rows) expect(Math.abs(r.error)).toBeLessThanOrEqual(0.02);
    expect(used.reduce((a, b) => a + b, 0)).toBeGreaterThan(sec(4) - ms(5)); // work-conserving
    clean();
  });

  // Weight is per vCPU in credit1 (prv->weight adds the domain's weight per active vCPU), and a
  // vCPU can use at most one pCPU: credit_peak redistributes what the 1024 hog cannot use.
  it('on 2 pCPUs, shares follow weights where a vCPU can use them, one pCPU at most (1024 → 1.0, 512 → 0.5, 256 → 0.25)', () => {
    const weights = [256, 256, 512, 1024];
    const { host, measure, clean } = creditHost(weights.map((w) => hog(w)), { cpus: 2 });
    host.runFor(ms(500));
    const T = sec(4);
    const pcpus = measure(T).map((u) => u / T);
    const want = [0.25, 0.25, 0.5, 1.0];
    pcpus.forEach((p, i) => expect(Math.abs(p - want[i])).toBeLessThanOrEqual(0.03));
    clean();
  });
});

describe('credit: caps', () => {
  it('a capped hog gets its cap and no more (25 % ± 0.5 % next to an uncapped hog; 30 % ± 0.5 % alone, the pCPU idling)', () => {
    {
      const { host, ids, dom, measure, clean } = creditHost([hog(256, { cap: 25 }), hog(256)]);
      host.runFor(ms(500));
      const off0 = dom(ids[0]).vcpus[0].runstateTime[RUNSTATE.offline];
      const T = sec(3);
      const [capped, free] = measure(T).map((u) => u / T);
      expect(Math.abs(capped - 0.25)).toBeLessThanOrEqual(0.005);
      expect(free).toBeGreaterThanOrEqual(0.74); // the rest goes to the uncapped hog
      // the capped vCPU spends most of its time parked (offline), not runnable
      expect(dom(ids[0]).vcpus[0].runstateTime[RUNSTATE.offline] - off0).toBeGreaterThan(T / 2);
      clean();
    }
    {
      const { host, measure, clean } = creditHost([hog(256, { cap: 30 })]);
      const idle0 = () => host.hv.fw.pcpus[0].idle.cpuTime(host.now);
      host.runFor(ms(500));
      const i0 = idle0();
      const T = sec(3);
      const [capped] = measure(T).map((u) => u / T);
      expect(Math.abs(capped - 0.3)).toBeLessThanOrEqual(0.005);
      expect((idle0() - i0) / T).toBeGreaterThan(0.68); // a cap is not work-conserving
      clean();
    }
  });

  it('a cap covers the whole domain: 2 vCPUs capped at 50 % use half a pCPU between them, on 2 pCPUs', () => {
    const { host, measure, clean } = creditHost([hog(256, { vcpus: 2, cap: 50 }), hog(256)], { cpus: 2 });
    host.runFor(ms(500));
    const T = sec(3);
    const [capped, free] = measure(T).map((u) => u / T);
    expect(Math.abs(capped - 0.5)).toBeLessThanOrEqual(0.01);
    expect(free).toBeGreaterThan(0.95);
    clean();
  });
});

describe('credit: BOOST and wake-up latency', () => {
  /** 3 hogs and one interactive domain on one pCPU; latency of the interactive one by its priority at wake. */
  function run(weight: number, work: Ns) {
    const h = creditHost([hog(), hog(), hog(), interactive(weight, work)]);
    const { host, ids, unit } = h;
    const I = ids[3];
    host.runFor(ms(500));
    const lat = new WakeLatency(new Set([I]));
    const unsubLat = host.hv.trace.subscribe(lat.observe);
    const byPri = latencyByPri(h, I);
    const boosts = h.record(policyRecs('boost_start'));
    host.runFor(sec(3));
    unsubLat();
    byPri.unsub();
    boosts.unsub();
    h.clean();
    return { all: summarize(lat.samples.get(I)!), boosted: byPri.boosted, over: byPri.over, boosts: boosts.out, I, softirq: host.hv.costs.softirqNs };
  }
  const frac = (xs: number[], pred: (x: number) => boolean) => xs.filter(pred).length / xs.length;

  it('an I/O-bound vCPU woken while UNDER is boosted and runs within ratelimit (p50 = softirqNs), far below a hog\'s 30 ms slice', () => {
    const r = run(256, ms(1));
    expect(r.all.n).toBeGreaterThanOrEqual(250);
    expect(r.all.p50).toBe(r.softirq);
    expect(r.boosted.length).toBeGreaterThanOrEqual(0.9 * r.all.n);
    // boosted wakes preempt at once, or once the hog has run its ratelimit (1 ms)
    expect(frac(r.boosted, (x) => x <= ms(1) + r.softirq)).toBeGreaterThanOrEqual(0.98);
    // BOOST_START (event 7) records name the domain and vCPU
    expect(r.boosts.length).toBeGreaterThan(10);
    const b = r.boosts[0];
    expect(b.type === 'policy' && [b.traceClass, b.event, b.data[0], b.data[1]]).toEqual([0, TRC_CSCHED.BOOST_START, r.I, 0]);
  });

  it('a vCPU that overruns its share wakes OVER, is not boosted, and waits behind UNDER hogs (median ≥ 10 ms)', () => {
    // weight 32 among three 256 hogs is a 4 % share; it asks for ~20 %
    const r = run(32, ms(2));
    expect(r.over.length).toBeGreaterThanOrEqual(10);
    const over = summarize(r.over);
    expect(over.p50).toBeGreaterThanOrEqual(ms(10));
    expect(over.max).toBeGreaterThanOrEqual(ms(30));
    // while it is UNDER again (between overruns) it is boosted like any other
    expect(frac(r.boosted, (x) => x <= ms(1) + r.softirq)).toBeGreaterThanOrEqual(0.9);
    expect(over.p50).toBeGreaterThan(1000 * summarize(r.boosted).p50);
  });
});

describe('credit: ratelimit', () => {
  function stints(ratelimitUs: number) {
    const h = creditHost([hog(), hog(), hog(), interactive(256, ms(1))], { ctl: { tslice_ms: 30, ratelimit_us: ratelimitUs, vcpu_migr_delay_us: 0 } });
    const { host, ids } = h;
    const hogs = new Set(ids.slice(0, 3));
    host.runFor(ms(300));
    const sw = h.record((r) => r.type === 'switch' && hogs.has(r.prevDom));
    const rl = h.record(policyRecs('ratelimit'));
    const lat = latencyByPri(h, ids[3]);
    host.runFor(sec(2));
    lat.unsub();
    sw.unsub();
    rl.unsub();
    h.clean();
    const ran = sw.out.map((r) => (r.type === 'switch' ? r.prevRan : NaN));
    // boosted wakes only: an OVER wake waits for its turn whatever the ratelimit
    return { ran, lat: lat.boosted, rl: rl.out, softirq: host.hv.costs.softirqNs };
  }

  it('with ratelimit 5 ms no hog is preempted before it has run 5 ms, and a boosted wake waits at most that long', () => {
    const r = stints(5000);
    expect(r.ran.length).toBeGreaterThan(100);
    expect(Math.min(...r.ran)).toBeGreaterThanOrEqual(ms(5));
    expect(Math.max(...r.lat)).toBeLessThanOrEqual(ms(5) + r.softirq);
    expect(r.lat.some((x) => x > ms(1))).toBe(true); // the limit did hold it back
    // TRC_CSCHED_RATELIMIT: d:v16 and the runtime so far, below the limit
    expect(r.rl.length).toBeGreaterThan(10);
    for (const x of r.rl) if (x.type === 'policy') expect(x.data[1]).toBeLessThan(ms(5));
  });

  it('with ratelimit 0 a boosted wake preempts a hog however briefly it has run', () => {
    const r = stints(0);
    expect(Math.min(...r.ran)).toBeLessThan(ms(1));
    expect(summarize(r.lat).p50).toBe(r.softirq);
    expect(r.rl).toEqual([]);
  });

  it('a prev that ran less than CSCHED_MIN_TIMER is kept for CSCHED_MIN_TIMER (as the code does)', () => {
    const h = creditHost([hog(), hog()], { ctl: { tslice_ms: 30, ratelimit_us: 1000, vcpu_migr_delay_us: 0 } });
    const { host } = h;
    host.runFor(ms(100));
    // Reschedule the pCPU 10 µs after a hog was switched in: it is kept, with a 100 µs slice.
    const dec = h.record((r) => r.type === 'switch' || r.type === 'continue');
    let poked = false;
    const unsub = host.hv.trace.subscribe((r) => {
      if (!poked && r.type === 'switch' && r.nextDom !== 0) {
        poked = true;
        host.hv.engine.at(r.t + us(10), Prio.TIMER, () => host.hv.fw.raise(host.hv.fw.pcpus[0].id));
      }
    });
    host.runFor(ms(40));
    unsub();
    dec.unsub();
    const cont = dec.out.find((r) => r.type === 'continue' && r.dom !== 0);
    expect(cont && cont.type === 'continue' && cont.slice).toBe(CSCHED_MIN_TIMER);
    h.clean();
  });
});

describe('credit: work stealing and placement', () => {
  function uneven(delayUs: number) {
    // Four hogs pinned to pCPU 0, then allowed anywhere: nothing moves them but the policy.
    const h = creditHost([0, 1, 2, 3].map(() => hog(256, { pin: [0] })), { cpus: 2, ctl: { tslice_ms: 30, ratelimit_us: 1000, vcpu_migr_delay_us: delayUs } });
    const { host, ids } = h;
    host.runFor(ms(200));
    expect(ids.map((id) => h.dom(id).vcpus[0].res)).toEqual([0, 0, 0, 0]);
    host.run('unpin', function* ({ xc }) {
      for (const id of ids) xc.setVcpuAffinity(id, 0, CpuSet.of([0, 1]), null, 2);
    });
    const stolen = h.record(policyRecs('stolen_unit'));
    const migr = h.record((r) => r.type === 'migrate' && r.dom !== 0);
    const idle1 = () => host.hv.fw.pcpus[1].idle.cpuTime(host.now);
    const i0 = idle1();
    const T = sec(3);
    const pcpus = h.measure(T).map((u) => u / T);
    stolen.unsub();
    migr.unsub();
    h.clean();
    return { pcpus, idle1: (idle1() - i0) / T, stolen: stolen.out, migrations: migr.out.length };
  }

  it('hogs all placed on one pCPU of two spread by stealing: the other pCPU never idles and each hog gets half a pCPU ± 3 %', () => {
    const r = uneven(0);
    expect(r.idle1).toBeLessThan(0.01);
    for (const p of r.pcpus) expect(Math.abs(p - 0.5)).toBeLessThanOrEqual(0.03);
    expect(r.stolen.length).toBeGreaterThanOrEqual(1);
    // TRC_CSCHED_STOLEN_UNIT: peer pCPU, domain, vCPU
    const s = r.stolen[0];
    expect(s.type === 'policy' && [s.event, s.data[0]]).toEqual([TRC_CSCHED.STOLEN_UNIT, 0]);
    expect(r.migrations).toBeLessThanOrEqual(10); // once balanced, units stay put
  });

  it('vcpu_migr_delay_us: units that ran within the delay are cache-hot and not stolen (100 ms: 1 + 3 split stays)', () => {
    const r = uneven(100_000);
    expect(r.stolen).toEqual([]);
    // the one that moved was the running unit, sent away by a tick's pick_resource
    const sorted = [...r.pcpus].sort((a, b) => b - a);
    expect(sorted[0]).toBeGreaterThan(0.99);
    for (const p of sorted.slice(1)) expect(Math.abs(p - 1 / 3)).toBeLessThanOrEqual(0.01);
  });

  it('pick_resource spreads work over idle cores before SMT siblings: a hog next to a busy sibling moves to the idle core', () => {
    // 1 socket × 2 cores × 2 threads; hog 0 runs on cpu 0, hog 1 on its sibling cpu 1. Once hog 1
    // may run anywhere, a tick's pick finds core 1 (cpus 2, 3) idler than core 0 and moves it.
    const topo = { sockets: 1, coresPerSocket: 2, threadsPerCore: 2 };
    const h = creditHost([hog(256, { pin: [0] }), hog(256, { pin: [1] })], { cpus: topo });
    const { host, ids } = h;
    host.runFor(ms(100));
    expect(h.dom(ids[1]).vcpus[0].res).toBe(1);
    host.run('unpin', function* ({ xc }) {
      xc.setVcpuAffinity(ids[1], 0, CpuSet.range(4), null, 4);
    });
    const picks = h.record(policyRecs('picked_cpu'));
    host.runFor(ms(100));
    picks.unsub();
    expect(h.dom(ids[0]).vcpus[0].res).toBe(0);
    expect([2, 3]).toContain(h.dom(ids[1]).vcpus[0].res);
    // TRC_CSCHED_PICKED_CPU: domain, vCPU, the pCPU chosen
    expect(picks.out.some((r) => r.type === 'policy' && r.data[0] === ids[1] && [2, 3].includes(r.data[2]))).toBe(true);
    h.clean();
  });

  it('across sockets it moves only to a socket at least twice as idle (2 × 2: a lone hog on each socket stays)', () => {
    const h = creditHost([hog(256, { pin: [0] }), hog(256, { pin: [1] })], { cpus: { sockets: 2, coresPerSocket: 2, threadsPerCore: 1 } });
    const { host, ids } = h;
    host.runFor(ms(100));
    host.run('unpin', function* ({ xc }) {
      xc.setVcpuAffinity(ids[1], 0, CpuSet.range(4), null, 4);
    });
    host.runFor(ms(200));
    // socket 0 counts 1 idle pCPU (cpu 1 itself), socket 1 counts 2: not strictly more than twice
    expect(h.dom(ids[1]).vcpus[0].res).toBe(1);
    h.clean();
  });
});

describe('credit: accounting', () => {
  it('a vCPU becomes active when a tick finds it running; active weight is Σ weight of active vCPUs; idle vCPUs leave the list', () => {
    const h = creditHost([hog(256), hog(768), { ...interactive(256), cmdline: `period=${ms(50)} jitter=0 work=${us(100)}` }]);
    const { host, ids, g, unit } = h;
    host.runFor(sec(1));
    const G = g();
    const active = G.activeDoms.flatMap((d) => d.activeUnits);
    expect(G.weight).toBe(G.activeDoms.reduce((a, d) => a + d.weight * d.activeUnits.length, 0));
    expect(unit(ids[0]).active && unit(ids[1]).active).toBe(true);
    expect(active).toContain(unit(ids[0]));
    // the interactive one runs 0.2 % of the time: ticks do not catch it, so it never earns credit
    expect(unit(ids[2]).active).toBe(false);
    // credit is bounded: [-300, 300] after every accounting
    for (const u of active) expect(Math.abs(u.credit)).toBeLessThanOrEqual(300 + 10 * 30);
    h.clean();
  });

  it('tslice_ms sets the slice and the accounting period: 10 ms slices for hogs', () => {
    const h = creditHost([hog(), hog()], { ctl: { tslice_ms: 10, ratelimit_us: 1000, vcpu_migr_delay_us: 0 } });
    const { host } = h;
    host.runFor(ms(100));
    const dec = h.record((r) => r.type === 'switch' && r.nextDom !== 0);
    host.runFor(ms(500));
    dec.unsub();
    const slices = new Set(dec.out.map((r) => (r.type === 'switch' ? r.slice : 0)));
    expect([...slices]).toEqual([ms(10)]);
    expect(dec.out.length).toBeGreaterThanOrEqual(45);
    h.clean();
  });

  it('emits TRC_CSCHED_SCHEDULE (event 9) as one word cpu:16 | tasklet:8 | idle:8 and TICKLE (6) with the pCPU', () => {
    const h = creditHost([hog(), interactive(256)], { cpus: 2 });
    const { host } = h;
    const recs = h.record((r) => r.type === 'policy' && r.policy === 'credit');
    host.runFor(ms(100));
    recs.unsub();
    const sched = recs.out.filter((r) => r.type === 'policy' && r.event === TRC_CSCHED.SCHEDULE);
    expect(sched.length).toBeGreaterThan(0);
    for (const r of sched) if (r.type === 'policy') expect(r.data.length === 1 && (r.data[0] & 0xffff) < 2 && ((r.data[0] >>> 8) & 0xff) === 0).toBe(true);
    expect(sched.some((r) => r.type === 'policy' && r.data[0] >>> 24 === 1)).toBe(true); // from idle
    const tickles = recs.out.filter((r) => r.type === 'policy' && r.event === TRC_CSCHED.TICKLE);
    expect(tickles.length).toBeGreaterThan(0);
    for (const r of tickles) if (r.type === 'policy') expect([0, 1]).toContain(r.data[0]);
    expect(Object.keys(creditScheduler.traceEvents!).map(Number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    h.clean();
  });
});

describe('credit: parameters', () => {
  it('sysctl: out-of-range tslice, ratelimit or migration delay is -EINVAL and changes nothing', () => {
    const { host } = creditHost([]);
    const r = host.run('ctl', function* ({ xc }) {
      const get = () => xc.schedGlobalGet(0, CREDIT, xenSysctlCreditSchedule);
      const initial = get();
      const bad: Partial<Ctl>[] = [
        { tslice_ms: 0 },
        { tslice_ms: 1001 },
        { ratelimit_us: 99 },
        { ratelimit_us: 500_001 },
        { tslice_ms: 1, ratelimit_us: 2000 }, // ratelimit above tslice
        { vcpu_migr_delay_us: 100_001 },
      ];
      const rcs = bad.map((b) => rcOf(() => xc.schedGlobalSet(0, CREDIT, xenSysctlCreditSchedule, { ...initial, ...b })));
      const afterBad = get();
      const ok = [
        rcOf(() => xc.schedGlobalSet(0, CREDIT, xenSysctlCreditSchedule, { tslice_ms: 1000, ratelimit_us: 500_000, vcpu_migr_delay_us: 100_000 })),
        rcOf(() => xc.schedGlobalSet(0, CREDIT, xenSysctlCreditSchedule, { tslice_ms: 1, ratelimit_us: 0, vcpu_migr_delay_us: 0 })),
      ];
      const wrongId = rcOf(() => xc.schedGlobalGet(0, 6, xenSysctlCreditSchedule));
      return { initial, rcs, afterBad, ok, afterOk: get(), wrongId };
    });
    expect(r.initial).toEqual({ tslice_ms: 30, ratelimit_us: 1000, vcpu_migr_delay_us: 0 });
    expect(r.rcs).toEqual(Array(6).fill(-Errno.EINVAL));
    expect(r.afterBad).toEqual(r.initial);
    expect(r.ok).toEqual([0, 0]);
    expect(r.afterOk).toEqual({ tslice_ms: 1, ratelimit_us: 0, vcpu_migr_delay_us: 0 });
    expect(r.wrongId).toBe(-Errno.EINVAL);
  });

  it('domctl: weight 0 and cap 0xFFFF leave the value unchanged; get/put vcpuinfo and another scheduler id are -EINVAL', () => {
    const { host, ids } = creditHost([hog()]);
    const id = ids[0];
    const r = host.run('adjust', function* ({ xc }) {
      const get = () => xc.schedDomainGet(id, CREDIT, xenDomctlSchedCredit);
      const initial = get();
      xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: 700, cap: 40 });
      const set = get();
      xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: 0, cap: 0xffff });
      const unchanged = get();
      xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: 0, cap: 0 });
      const uncapped = get();
      const rcs = [
        rcOf(() => xc.schedDomainSet(id, 6, xenDomctlSchedCredit, { weight: 5, cap: 5 })), // credit2's id
        rcOf(() => xc.schedDomainSet(id, 8, xenDomctlSchedCredit, { weight: 5, cap: 5 })), // rtds'
      ];
      return { initial, set, unchanged, uncapped, rcs, after: get() };
    });
    expect(r.initial).toEqual({ weight: 256, cap: 0 });
    expect(r.set).toEqual({ weight: 700, cap: 40 });
    expect(r.unchanged).toEqual({ weight: 700, cap: 40 });
    expect(r.uncapped).toEqual({ weight: 700, cap: 0 });
    expect(r.rcs).toEqual([-Errno.EINVAL, -Errno.EINVAL]);
    expect(r.after).toEqual({ weight: 700, cap: 0 });
    // putvcpuinfo / getvcpuinfo (cmd 2, 3): the policy refuses them
    const d = host.hv.domains.get(id)!;
    expect(host.hv.fw.adjust(d, XEN_DOMCTL_SCHEDOP.putvcpuinfo, {} as never)).toBe(-Errno.EINVAL);
    expect(host.hv.fw.adjust(d, XEN_DOMCTL_SCHEDOP.getvcpuinfo, {} as never)).toBe(-Errno.EINVAL);
  });

  it('parameters by name through the toolstack (xl sched-credit -d / -s)', () => {
    const { host, ids } = creditHost([hog()]);
    const r = host.run('xl', function* ({ xc }) {
      const dom = setDomainSchedParams(xc, creditScheduler, ids[0], { weight: 512 });
      const pool = setPoolSchedParams(xc, creditScheduler, 0, { tslice_ms: 5, ratelimit_us: 500 });
      let err = '';
      try {
        setPoolSchedParams(xc, creditScheduler, 0, { tslice_ms: 0 });
      } catch (e) {
        if (e instanceof ParamError) err = e.message;
      }
      return { dom, pool, err };
    });
    expect(r.dom).toEqual({ weight: 512, cap: 0 });
    expect(r.pool).toEqual({ tslice_ms: 5, ratelimit_us: 500, vcpu_migr_delay_us: 0 });
    expect(r.err).toMatch(/tslice_ms must be between 1 and 1000/);
  });
});

describe('credit: invariants under random operations', () => {
  /** Policy invariants, read from its records. */
  function policyInvariants(h: ReturnType<typeof creditHost>): string[] {
    const errs: string[] = [];
    const G = h.g();
    const seen = new Set<URec>();
    for (const pc of h.host.hv.fw.pcpus) {
      const p = pc.priv as { runq: URec[] } | undefined;
      if (!p) continue;
      for (const u of p.runq) {
        const name = `d${u.unit.domid}v${u.unit.vcpuId}`;
        if (seen.has(u)) errs.push(`${name} on two run queues`);
        seen.add(u);
        if (u.runq !== (p as unknown)) errs.push(`${name}: runq field disagrees`);
        if (!u.unit.runnable) errs.push(`${name} queued but not runnable`);
        if (u.unit.isRunning) errs.push(`${name} queued while running`);
        if (u.unit.isIdle) errs.push(`idle unit queued`);
      }
    }
    let w = 0;
    for (const d of G.activeDoms) {
      if (d.activeUnits.length === 0) errs.push('active domain without active units');
      w += d.weight * d.activeUnits.length;
      for (const u of d.activeUnits) if (!u.active) errs.push('active list holds an inactive unit');
    }
    if (w !== G.weight) errs.push(`weight ${G.weight} != Σ ${w}`);
    // every runnable, not running unit is queued somewhere
    for (const d of h.host.hv.domains.values())
      if (d.alive && d.pool.ops === creditScheduler)
        for (const v of d.vcpus) {
          const u = v.priv as URec;
          if (v.runnable && !v.isRunning && !u.runq && !h.host.hv.fw.reschedulePending(v.res)) errs.push(`${v} runnable but queued nowhere`);
        }
    return errs;
  }

  it('random weights, caps, pins, pauses and parameter changes keep the framework\'s and the policy\'s invariants', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('weight' as const), d: fc.nat(3), w: fc.integer({ min: 1, max: 2000 }) }),
      fc.record({ k: fc.constant('cap' as const), d: fc.nat(3), c: fc.constantFrom(0, 10, 50, 100, 150) }),
      fc.record({ k: fc.constant('pin' as const), d: fc.nat(3), cpus: fc.subarray([0, 1, 2], { minLength: 1 }) }),
      fc.record({ k: fc.constant('pause' as const), d: fc.nat(3) }),
      fc.record({ k: fc.constant('ctl' as const), t: fc.integer({ min: 1, max: 50 }), r: fc.constantFrom(0, 100, 1000), m: fc.constantFrom(0, 1000, 50_000) }),
      fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: 1, max: ms(40) }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), fc.nat(1000), (ops, seed) => {
        const h = creditHost([hog(), hog(512, { vcpus: 2 }), interactive(256), hog(128)], { cpus: 3, seed });
        const paused = new Set<number>();
        for (const o of ops) {
          if (o.k === 'run') h.host.runFor(o.ns);
          else
            h.host.run('op', function* ({ xc }) {
              const id = 'd' in o ? h.ids[o.d] : 0;
              if (o.k === 'weight') xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: o.w, cap: 0xffff });
              else if (o.k === 'cap') xc.schedDomainSet(id, CREDIT, xenDomctlSchedCredit, { weight: 0, cap: o.c });
              else if (o.k === 'pin') for (let v = 0; v < h.dom(id).vcpus.length; v++) xc.setVcpuAffinity(id, v, CpuSet.of(o.cpus), null, 3);
              else if (o.k === 'pause') {
                if (paused.delete(id)) xc.domainUnpause(id);
                else {
                  paused.add(id);
                  xc.domainPause(id);
                }
              } else if (o.k === 'ctl') xc.schedGlobalSet(0, CREDIT, xenSysctlCreditSchedule, { tslice_ms: o.t, ratelimit_us: Math.min(o.r, o.t * 1000), vcpu_migr_delay_us: o.m });
            });
          expect(h.host.hv.checkInvariants()).toEqual([]);
          expect(policyInvariants(h)).toEqual([]);
        }
        expect(h.host.hv.fw.policyErrors).toEqual([]);
      }),
      { numRuns: 25, seed: 42 },
    );
  });
});

describe('credit: ABI', () => {
  const tc = toolchain();
  it.skipIf(!tc.ok)(`struct xen_domctl_sched_credit and xen_sysctl_credit_schedule match Xen's headers${tc.ok ? '' : ` [SKIPPED: ${tc.reason}]`}`, () => {
    const w = new Workdir();
    try {
      const exe = w.compile(
        'credit',
        `${PRELUDE}
#define P(k, v) printf("%s=%ld\\n", k, (long)(v))
int main(void) {
  P("d.size", sizeof(struct xen_domctl_sched_credit));
  P("d.weight", offsetof(struct xen_domctl_sched_credit, weight));
  P("d.cap", offsetof(struct xen_domctl_sched_credit, cap));
  P("s.size", sizeof(struct xen_sysctl_credit_schedule));
  P("s.tslice_ms", offsetof(struct xen_sysctl_credit_schedule, tslice_ms));
  P("s.ratelimit_us", offsetof(struct xen_sysctl_credit_schedule, ratelimit_us));
  P("s.vcpu_migr_delay_us", offsetof(struct xen_sysctl_credit_schedule, vcpu_migr_delay_us));
  P("TSLICE_MAX", XEN_SYSCTL_CSCHED_TSLICE_MAX);
  P("TSLICE_MIN", XEN_SYSCTL_CSCHED_TSLICE_MIN);
  P("MGR_DLY_MAX", XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US);
  P("RL_MAX", XEN_SYSCTL_SCHED_RATELIMIT_MAX);
  P("RL_MIN", XEN_SYSCTL_SCHED_RATELIMIT_MIN);
  P("ID", XEN_SCHEDULER_CREDIT);
  P("u.domctl", offsetof(struct xen_domctl_scheduler_op, u.credit));
  P("u.sysctl", offsetof(struct xen_sysctl_scheduler_op, u.sched_credit));
  return 0;
}
`,
      );
      const kv = Object.fromEntries([...parseKv(w.run(exe))].map(([k, v]) => [k, Number(v)]));
      const D = xenDomctlSchedCredit;
      const S = xenSysctlCreditSchedule;
      expect(kv).toEqual({
        'd.size': D.size,
        'd.weight': D.fields.weight.off,
        'd.cap': D.fields.cap.off,
        's.size': S.size,
        's.tslice_ms': S.fields.tslice_ms.off,
        's.ratelimit_us': S.fields.ratelimit_us.off,
        's.vcpu_migr_delay_us': S.fields.vcpu_migr_delay_us.off,
        TSLICE_MAX: 1000,
        TSLICE_MIN: 1,
        MGR_DLY_MAX: 100_000,
        RL_MAX: 500_000,
        RL_MIN: 100,
        ID: CREDIT,
        'u.domctl': abi.DOMCTL_SCHEDOP_U,
        'u.sysctl': abi.SYSCTL_SCHEDOP_U,
      });
    } finally {
      w.dispose();
    }
  });
});

describe('credit: xentrace records as xenalyze reads them', () => {
  const have = existsSync('/usr/bin/xenalyze');
  it.skipIf(!have)(`xenalyze --dump-all decodes our TRC_CSCHED_* records with Xen's payloads${have ? '' : ' [SKIPPED: /usr/bin/xenalyze not found]'}`, () => {
    const w = new Workdir();
    try {
      // 2 pCPUs; two hogs and an interactive domain start pinned to pCPU 0, then may go anywhere
      const h = creditHost([hog(256, { pin: [0] }), hog(256, { pin: [0] }), { ...interactive(256), pin: [0] }], { cpus: 2, ctl: { tslice_ms: 30, ratelimit_us: 5000, vcpu_migr_delay_us: 0 } });
      const { host, ids } = h;
      const file = w.file('credit.xentrace');
      const x = new XentraceWriter(file, { pcpus: 2, tscHz: host.hv.tscHz, pollNs: ms(20) }).attach(host.hv.trace);
      x.mark(host.now, occupants(host.hv));
      host.runFor(ms(100));
      host.run('unpin', function* ({ xc }) {
        for (const id of ids) xc.setVcpuAffinity(id, 0, CpuSet.of([0, 1]), null, 2);
      });
      host.runFor(ms(300));
      x.mark(host.now, occupants(host.hv));
      x.close();
      const r = spawnSync('/usr/bin/xenalyze', ['--cpu-hz=2G', '--dump-all', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
      expect(r.status).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => l.includes('csched:') || l.includes('csched: '));
      const has = (re: RegExp) => lines.some((l) => re.test(l));
      const [A, B, I] = ids;
      expect(has(new RegExp(`csched: d${I}v0 boosted`))).toBe(true);
      expect(has(new RegExp(`csched:acct_start d(${A}|${B})v0, active_vcpus 1`))).toBe(true);
      expect(has(new RegExp(`csched:pick_cpu [01] for d(${A}|${B}|${I})v0`))).toBe(true);
      expect(has(/csched:runq_tickle, cpu [01]$/)).toBe(true);
      expect(has(/csched:schedule cpu 1, idle/)).toBe(true);
      expect(has(new RegExp(`csched:stolen_vcpu d(0|${A}|${B}|${I})v0 from cpu 0`))).toBe(true);
      expect(has(/csched:load_balance checking 0/)).toBe(true);
      expect(has(new RegExp(`csched:ratelimit, d(${A}|${B})v0 run only \\d+\\.\\d+us`))).toBe(true);
      expect(r.stdout + r.stderr).not.toMatch(/Strange|error|FATAL/i);
      h.clean();
    } finally {
      w.dispose();
    }
  });
});
