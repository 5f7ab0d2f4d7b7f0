/**
 * `xt compare`: the demo's scenario — one pCPU, dom0, five CPU hogs with weights 1, 2, 2, 5 and 10
 * and an interactive guest (weight 5) that wakes every 10 ms (+ up to 2 ms of jitter) for 1 ms of
 * CPU — run under each named scheduler, one host per scheduler, same seed. Each domain's weight is
 * translated into the policy's own parameter (WEIGHTINGS); a policy with no such parameter runs
 * with its defaults and its hogs are still scored against the weights, so the table shows what
 * ignoring them costs. Every policy runs as shipped (its default slice, quantum or tslice); no warp,
 * no boost tuning.
 *
 * Figures (tools/src/metrics.ts): each hog's CPU share among the hogs against its weight's
 * entitlement, and the interactive guest's wake-up latency (blocked → runnable → running).
 */
import { ms, sec, type Ns, type Registry } from '@xenotype/core';
import { mcuAdvanceForWeight } from '@xenotype/sched-bvt';
import { Host } from '../host/host';
import { defaultRegistry } from '../host/registry';
import { buildDomain } from '../toolstack/builder';
import { setDomainSchedParams } from '../toolstack/sched';
import { WakeLatency, shares, summarize, type LatencySummary, type ShareRow } from '../metrics';
import { HOGS, INTERACTIVE } from './demo';

/** How a weight (1..10) becomes each policy's per-domain parameters, by scheduler name. */
export const WEIGHTINGS: Readonly<Record<string, (w: number) => Record<string, number>>> = {
  bvt: (w) => ({ mcu_adv: mcuAdvanceForWeight(w), warpback: 0 }),
  credit: (w) => ({ weight: 256 * w }),
  credit2: (w) => ({ weight: 256 * w }),
  lottery: (w) => ({ tickets: 100 * w }),
  // sEDF's weight-driven mode: a slice of 95 ms × w / Σw every 100 ms (no slack: extra time is
  // shared by another weight, extraweight, which would flatten the shares)
  sedf: (w) => ({ weight: w, extratime: 0, period: ms(100) }),
};

/** What `xt compare` runs when no list is given: these, as far as they are registered. */
export const DEFAULT_COMPARE = ['rr', 'bvt', 'credit', 'lottery'];

export interface CompareOptions {
  seed: number;
  /** Measured virtual time, after warm-up. */
  durationNs: Ns;
  warmupNs: Ns;
  /** A fresh registry per host (a host registers its dom0 kernel in it); default: every built-in plugin. */
  registry: () => Registry;
  /** Weightings for policies WEIGHTINGS does not know (or to override it), by scheduler name. */
  weightings?: Readonly<Record<string, (w: number) => Record<string, number>>>;
  log?: (line: string) => void;
}

export const COMPARE_DEFAULTS: CompareOptions = { seed: 1, durationNs: sec(10), warmupNs: ms(500), registry: defaultRegistry };

export interface CompareRow {
  scheduler: string;
  /** Whether the weights were given to the policy (it has a WEIGHTINGS entry). */
  weighted: boolean;
  hogs: ShareRow[];
  maxShareError: number;
  interactiveCpuNs: Ns;
  latency: LatencySummary;
}

export interface CompareReport {
  seed: number;
  durationNs: Ns;
  warmupNs: Ns;
  rows: CompareRow[];
}

/** The default list, keeping those `registry` knows (credit's row appears once it is registered). */
export function defaultSchedulerNames(registry: Registry = defaultRegistry()): string[] {
  return DEFAULT_COMPARE.filter((n) => registry.has('scheduler', n));
}

function runOne(name: string, o: CompareOptions): CompareRow {
  const host = new Host({ cpus: 1, memoryMiB: 512, scheduler: name, seed: o.seed }, o.registry());
  const ops = host.registry.scheduler(name);
  const weighting = o.weightings?.[name] ?? WEIGHTINGS[name];
  const guests = [...HOGS.map((h) => ({ ...h, interactive: false })), { name: INTERACTIVE.name, weight: INTERACTIVE.weight, interactive: true }];
  const ids = host.run('build', function* ({ xc }) {
    const out = guests.map((g) => {
      const i = INTERACTIVE;
      const cmdline = g.interactive ? `period=${i.periodNs} jitter=${i.jitterNs} work=${i.workNs} ws=${16 * 1024}` : `chunk=${ms(1)} ws=${256 * 1024}`;
      const d = buildDomain(xc, { name: g.name, memoryMiB: 16, vcpus: 1, kernel: g.interactive ? 'minios-interactive' : 'minios-cpuhog', cmdline, paused: true });
      if (weighting) setDomainSchedParams(xc, ops, d.domid, weighting(g.weight));
      return d.domid;
    });
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const inter = ids[ids.length - 1];
  const lat = new WakeLatency(new Set([inter]));
  const unsub = host.hv.trace.subscribe(lat.observe);
  host.runFor(o.warmupNs);
  const cpu = () => ids.map((id) => host.hv.domains.get(id)!.vcpus[0].cpuTime(host.now));
  const before = cpu();
  lat.from = host.now;
  host.runFor(o.durationNs);
  lat.to = host.now;
  const used = cpu().map((c, k) => c - before[k]);
  unsub();
  const errs = host.hv.checkInvariants();
  if (errs.length > 0) throw new Error(`invariant violated during the ${name} run: ${errs[0]}`);
  const hogs = shares(HOGS.map((h, k) => ({ name: h.name, weight: h.weight, cpuNs: used[k] })));
  return {
    scheduler: name,
    weighted: weighting !== undefined,
    hogs,
    maxShareError: Math.max(...hogs.map((h) => Math.abs(h.error))),
    interactiveCpuNs: used[used.length - 1],
    latency: summarize(lat.samples.get(inter)!),
  };
}

/** Run the scenario under each scheduler in `names` (registry names, e.g. ['bvt', 'credit', 'lottery']). */
export function compareSchedulers(names: string[], opts: Partial<CompareOptions> = {}): CompareReport {
  const o = { ...COMPARE_DEFAULTS, ...opts };
  const rows = names.map((n) => {
    o.log?.(`running ${n} for ${o.durationNs / 1e9} s of virtual time (seed ${o.seed})`);
    return runOne(n, o);
  });
  return { seed: o.seed, durationNs: o.durationNs, warmupNs: o.warmupNs, rows };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const dur = (x: number) => (x < 1e6 ? `${(x / 1e3).toFixed(1)} µs` : `${(x / 1e6).toFixed(1)} ms`);

export function formatCompare(r: CompareReport): string {
  const out: string[] = [];
  out.push(`1 pCPU: ${HOGS.length} CPU hogs (weights ${HOGS.map((h) => h.weight).join(', ')}) + 1 interactive guest, seed ${r.seed}, ${r.durationNs / 1e9} s after ${r.warmupNs / 1e6} ms warm-up`);
  out.push('');
  const head = ['scheduler', ...HOGS.map((h) => `w${h.weight}`), 'max err', 'inter cpu', 'wake p50', 'wake p99', 'wake max'];
  const width = [10, ...HOGS.map(() => 7), 8, 10, 10, 10, 10];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(' ').trimEnd();
  out.push(line(head));
  out.push(line(['(entitled)', ...(r.rows[0]?.hogs ?? []).map((h) => pct(h.entitled)), '', '', '', '', '']));
  for (const row of r.rows) {
    const l = row.latency;
    out.push(line([row.scheduler + (row.weighted ? '' : '*'), ...row.hogs.map((h) => pct(h.share)), pct(row.maxShareError), dur(row.interactiveCpuNs), dur(l.p50), dur(l.p99), dur(l.max)]));
  }
  if (r.rows.some((x) => !x.weighted)) out.push('', '* no weight parameter: run with its defaults');
  return out.join('\n');
}

/** The report as JSON: durations as integer nanoseconds. */
export function compareJson(r: CompareReport): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1e6) / 1e6 : v));
}
