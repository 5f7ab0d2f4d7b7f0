/**
 * `xt demo`: one pCPU, dom0 and six guests — five CPU hogs of different weights and one
 * interactive guest that wakes every 10 ms (plus jitter from its domain's random stream) for 1 ms
 * of CPU — run under round robin (5 ms slice, BVT's ctx_allow) and under BVT with warp for the
 * interactive guest. For each: every hog's CPU share against its weight's entitlement among the
 * hogs, and the interactive guest's wake-up latency (blocked → runnable → running).
 */
import { ms, sec, type Ns, type TraceBus } from '@xenotype/core';
import { bvtAdjdom, bvtCtl, bvtScheduler, mcuAdvanceForWeight } from '@xenotype/sched-bvt';
import { rrScheduler, rrobinCtl } from '@xenotype/sched-rr';
import { Host } from '../host/host';
import { buildDomain } from '../toolstack/builder';
import { kvmDemoPlatform, kvmHog, kvmInteractive } from './kvm';
import { WakeLatency, shares, summarize, type LatencySummary, type ShareRow } from '../metrics';

export interface DemoOptions {
  seed: number;
  /** Measured virtual time (after warm-up). */
  durationNs: Ns;
  warmupNs: Ns;
  /** Called with each run's trace bus before the run starts (to attach writers). */
  onTrace?: (run: string, bus: TraceBus) => void;
  log?: (line: string) => void;
  /** `sim` (default): virtual time; `kvm`: the guests are xtkernel on real vCPUs, in real time. */
  backend?: 'sim' | 'kvm';
}

export const DEMO_DEFAULTS: DemoOptions = { seed: 1, durationNs: sec(20), warmupNs: ms(500) };

export const HOGS = [
  { name: 'hog1', weight: 1 },
  { name: 'hog2', weight: 2 },
  { name: 'hog3', weight: 2 },
  { name: 'hog4', weight: 5 },
  { name: 'hog5', weight: 10 },
];
export const INTERACTIVE = { name: 'interactive', weight: 5, periodNs: ms(10), jitterNs: ms(2), workNs: ms(1) };
/** BVT warp for the interactive guest: warp value (virtual-time units), warpl, warpu (ms). */
export const WARP = { warpvalue: 1_000_000, warpl: 10, warpu: 100 };
export const SLICE = ms(5);

export interface RunResult {
  scheduler: string;
  description: string;
  hogs: ShareRow[];
  interactiveCpuNs: number;
  latency: LatencySummary;
  maxShareError: number;
  /** kvm: the guests' own counters — each hog's work units, the interactive guest's wake-ups and mean lateness (ns). */
  guest?: { hogWork: number[]; wakeups: number; meanLatenessNs: number };
}

export interface DemoReport {
  seed: number;
  durationNs: Ns;
  warmupNs: Ns;
  runs: RunResult[];
  p99Ratio: number;
  checks: { latencyRatioOk: boolean; bvtSharesOk: boolean };
}

function runOne(scheduler: 'rr' | 'bvt', o: DemoOptions): RunResult {
  const kvm = o.backend === 'kvm';
  const platform = kvm ? kvmDemoPlatform() : undefined;
  try {
    return runOn(scheduler, o, platform);
  } finally {
    platform?.dispose();
  }
}

function runOn(scheduler: 'rr' | 'bvt', o: DemoOptions, platform: ReturnType<typeof kvmDemoPlatform> | undefined): RunResult {
  const kvm = platform !== undefined;
  const host = new Host({ cpus: 1, memoryMiB: 512, scheduler, seed: o.seed, platform });
  const counters = new Map<number, number>();
  if (kvm)
    host.hv.trace.subscribe((r) => {
      const m = r.type === 'console' ? /counters@gfn (\d+)/.exec((r as unknown as { text: string }).text) : null;
      if (m) counters.set((r as unknown as { dom: number }).dom, Number(m[1]));
    });
  o.onTrace?.(scheduler, host.hv.trace);
  const names = [...HOGS.map((h) => h.name), INTERACTIVE.name];
  const ids = host.run('build', function* ({ xc }) {
    if (scheduler === 'rr') xc.schedGlobalSet(0, rrScheduler.schedId, rrobinCtl, { slice: SLICE });
    else xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: SLICE });
    const out: number[] = [];
    for (const h of HOGS) {
      const d = buildDomain(xc, kvm ? kvmHog(h.name) : { name: h.name, memoryMiB: 16, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)} ws=${256 * 1024}`, paused: true });
      if (scheduler === 'bvt') xc.schedDomainSet(d.domid, bvtScheduler.schedId, bvtAdjdom, { mcu_adv: mcuAdvanceForWeight(h.weight), warpback: 0, warpvalue: 0, warpl: 2000, warpu: 1000 });
      out.push(d.domid);
    }
    const i = INTERACTIVE;
    const d = buildDomain(
      xc,
      kvm
        ? kvmInteractive(i.name, { ...i, seed: o.seed })
        : {
            name: i.name,
            memoryMiB: 16,
            vcpus: 1,
            kernel: 'minios-interactive',
            cmdline: `period=${i.periodNs} jitter=${i.jitterNs} work=${i.workNs} ws=${16 * 1024}`,
            paused: true,
          },
    );
    if (scheduler === 'bvt') xc.schedDomainSet(d.domid, bvtScheduler.schedId, bvtAdjdom, { mcu_adv: mcuAdvanceForWeight(i.weight), warpback: 1, ...WARP });
    out.push(d.domid);
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const interactiveId = ids[ids.length - 1];
  const lat = new WakeLatency(new Set([interactiveId]));
  const unsub = host.hv.trace.subscribe(lat.observe);
  host.runFor(o.warmupNs);
  const cpu = () => host.run('sample', function* ({ xc }) { return ids.map((id) => xc.domainGetInfo(id)!.cpuTime); });
  /** The guests' own counter i (kvm: read from guest memory), per domain. */
  const guestCounter = (i: number) => ids.map((id) => (counters.has(id) ? host.hv.domains.get(id)!.mem.view.getU64(counters.get(id)! * 4096 + i * 8) : 0));
  const before = cpu();
  const gBefore = kvm ? [guestCounter(0), guestCounter(1), guestCounter(2)] : [];
  lat.from = host.now;
  host.runFor(o.durationNs);
  lat.to = host.now;
  const gAfter = kvm ? [guestCounter(0), guestCounter(1), guestCounter(2)] : [];
  const after = cpu();
  unsub();
  const used = ids.map((_, k) => after[k] - before[k]);
  const hogs = shares(HOGS.map((h, k) => ({ name: h.name, weight: h.weight, cpuNs: used[k] })));
  const latency = summarize(lat.samples.get(interactiveId)!);
  const errs = host.hv.checkInvariants();
  if (errs.length > 0) throw new Error(`invariant violated during the ${scheduler} run: ${errs[0]}`);
  const crashed = ids.map((id) => host.hv.domains.get(id)!).find((d) => d.crashReason !== null);
  if (crashed) throw new Error(`${names[ids.indexOf(crashed.id)]} crashed during the ${scheduler} run: ${crashed.crashReason}`);
  const last = ids.length - 1;
  const wakeups = kvm ? gAfter[1][last] - gBefore[1][last] : 0;
  const guest = kvm
    ? { hogWork: HOGS.map((_, k) => gAfter[0][k] - gBefore[0][k]), wakeups, meanLatenessNs: wakeups > 0 ? Math.round((gAfter[2][last] - gBefore[2][last]) / wakeups) : 0 }
    : undefined;
  return {
    guest,
    scheduler,
    description: scheduler === 'rr' ? `round robin, slice ${SLICE / 1e6} ms` : `BVT, ctx_allow ${SLICE / 1e6} ms, warp for ${INTERACTIVE.name}`,
    hogs,
    interactiveCpuNs: used[used.length - 1],
    latency,
    maxShareError: Math.max(...hogs.map((h) => Math.abs(h.error))),
  };
}

export function runDemo(opts: Partial<DemoOptions> = {}): DemoReport {
  const o = { ...DEMO_DEFAULTS, ...opts };
  const runs = (['rr', 'bvt'] as const).map((s) => {
    o.log?.(`running ${s} for ${o.durationNs / 1e9} s of ${o.backend === 'kvm' ? 'real time, guests on KVM' : 'virtual time'} (seed ${o.seed})`);
    return runOne(s, o);
  });
  const [rr, bvt] = runs;
  const p99Ratio = bvt.latency.p99 / rr.latency.p99;
  return {
    seed: o.seed,
    durationNs: o.durationNs,
    warmupNs: o.warmupNs,
    runs,
    p99Ratio,
    checks: { latencyRatioOk: p99Ratio <= 0.2, bvtSharesOk: bvt.maxShareError <= 0.05 },
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const usec = (x: number) => `${(x / 1000).toFixed(1)} µs`;

export function formatDemo(r: DemoReport): string {
  const out: string[] = [];
  const real = r.runs.some((x) => x.guest);
  out.push(`xenotype demo — 1 pCPU, dom0 + ${HOGS.length} CPU hogs + 1 interactive guest, seed ${r.seed}, ${r.durationNs / 1e9} s${real ? ' of real time (guests: xtkernel on KVM)' : ''} measured after ${r.warmupNs / 1e6} ms warm-up`);
  for (const run of r.runs) {
    out.push('');
    out.push(`== ${run.scheduler}: ${run.description}`);
    out.push(`   ${'guest'.padEnd(12)} ${'weight'.padStart(6)} ${'cpu time'.padStart(12)} ${'share'.padStart(8)} ${'entitled'.padStart(9)} ${'error'.padStart(8)}`);
    for (const h of run.hogs)
      out.push(`   ${h.name.padEnd(12)} ${String(h.weight).padStart(6)} ${`${(h.cpuNs / 1e6).toFixed(1)} ms`.padStart(12)} ${pct(h.share).padStart(8)} ${pct(h.entitled).padStart(9)} ${`${h.error >= 0 ? '+' : ''}${(h.error * 100).toFixed(1)}%`.padStart(8)}`);
    const l = run.latency;
    out.push(`   ${INTERACTIVE.name}: ${(run.interactiveCpuNs / 1e6).toFixed(1)} ms CPU; wake-up latency over ${l.n} wake-ups: p50 ${usec(l.p50)}, p99 ${usec(l.p99)}, max ${usec(l.max)}`);
    if (run.guest) {
      const total = run.guest.hogWork.reduce((a, b) => a + b, 0) || 1;
      out.push(`   guests' own counters: hog work shares ${run.guest.hogWork.map((w) => pct(w / total)).join(' ')}; ${INTERACTIVE.name} woke ${run.guest.wakeups} times, ${usec(run.guest.meanLatenessNs)} late on average`);
    }
  }
  out.push('');
  const [, bvt] = r.runs;
  out.push(`BVT p99 / RR p99 = ${r.p99Ratio.toFixed(4)} (goal ≤ 0.2): ${r.checks.latencyRatioOk ? 'met' : 'NOT MET'}`);
  out.push(`BVT largest hog share error = ${(bvt.maxShareError * 100).toFixed(2)}% (goal ≤ 5%): ${r.checks.bvtSharesOk ? 'met' : 'NOT MET'}`);
  return out.join('\n');
}

/** The report as JSON: durations as integer nanoseconds. */
export function demoJson(r: DemoReport): string {
  return JSON.stringify(r, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1e6) / 1e6 : v));
}
