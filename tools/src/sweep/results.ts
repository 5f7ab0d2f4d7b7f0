/**
 * The results of a sweep (or of one run): every RunResult, keyed and ordered by the plan, and per
 * parameter combination the mean and 95% confidence interval (Student t) of each figure over the
 * seeds. Written as results.json (everything), results.csv (one row per run and domain) and
 * summary.csv (one row per combination, group and figure). Nothing depends on wall time, paths or
 * the order in which runs finished, so the same sweep gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { meanCI, type MeanCI } from '../metrics';
import type { RunResult } from '../runner/run';
import type { Scalar } from '../scenario/types';
import type { Axis, SweepPlan } from './plan';

export const RESULTS_FORMAT = 'xenotype-results/1';

export interface GroupSummary {
  group: string;
  domains: number;
  /** The group's summed share of the compared domains and its entitlement (mean over seeds). */
  share: MeanCI | null;
  entitled: number | null;
  /** (share / entitled − 1) of the group's summed share. */
  shareError: MeanCI | null;
  throughput: MeanCI | null;
  latencyMean: MeanCI | null;
  latencyP50: MeanCI | null;
  latencyP99: MeanCI | null;
  /** Mean over seeds of each quantile (0..100 %) of the pooled wake-up latencies (ns). */
  latencyCdf: number[];
}

export interface DomainSummary {
  name: string;
  group: string;
  weight: number;
  share: MeanCI | null;
  entitled: number | null;
  shareError: MeanCI | null;
  throughput: MeanCI | null;
  latencyP99: MeanCI | null;
}

export interface ComboSummary {
  combo: number;
  label: string;
  params: Record<string, Scalar>;
  runs: number;
  failed: number;
  guests: number;
  throughput: MeanCI | null;
  normalizedThroughput: MeanCI | null;
  maxShareError: MeanCI | null;
  busy: MeanCI | null;
  groups: GroupSummary[];
  domains: DomainSummary[];
}

export interface SweepResults {
  format: string;
  scenario: { name: string; description: string; source: string; preset?: string };
  axes: Axis[];
  seeds: number[];
  combos: { index: number; label: string; params: Record<string, Scalar> }[];
  runs: RunResult[];
  summary: ComboSummary[];
}

/** The JSON form of a value: what a run looks like after crossing a thread, a file or Redis. */
export function canonical<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const num = (xs: (number | null | undefined)[]) => xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
const ci = (xs: (number | null | undefined)[]) => roundCI(meanCI(num(xs)));

function roundCI(m: MeanCI | null): MeanCI | null {
  if (!m) return null;
  const r = (x: number) => Number(x.toPrecision(10));
  return { n: m.n, mean: r(m.mean), sd: r(m.sd), ci95: m.ci95 === null ? null : r(m.ci95) };
}

function meanCurve(curves: number[][]): number[] {
  const cs = curves.filter((c) => c.length === 101);
  if (cs.length === 0) return [];
  return Array.from({ length: 101 }, (_, k) => Math.round(cs.reduce((a, c) => a + c[k], 0) / cs.length));
}

function summarizeCombo(combo: { index: number; label: string; params: Record<string, Scalar> }, runs: RunResult[]): ComboSummary {
  const ok = runs.filter((r) => r.status === 'ok');
  const first = ok[0] ?? runs[0];
  const groups: GroupSummary[] = (first?.groups ?? []).map((g0) => {
    const gs = ok.map((r) => r.groups.find((g) => g.group === g0.group)).filter((g) => !!g);
    return {
      group: g0.group,
      domains: g0.domains,
      share: ci(gs.map((g) => g.share)),
      entitled: g0.entitled,
      shareError: ci(gs.map((g) => (g.share !== null && g.entitled ? g.share / g.entitled - 1 : null))),
      throughput: ci(gs.map((g) => g.throughput)),
      latencyMean: ci(gs.map((g) => g.latency?.mean)),
      latencyP50: ci(gs.map((g) => g.latency?.p50)),
      latencyP99: ci(gs.map((g) => g.latency?.p99)),
      latencyCdf: meanCurve(gs.map((g) => g.latency?.cdf ?? [])),
    };
  });
  const domains: DomainSummary[] = (first?.domains ?? []).map((d0) => {
    const ds = ok.map((r) => r.domains.find((d) => d.name === d0.name)).filter((d) => !!d);
    return {
      name: d0.name,
      group: d0.group,
      weight: d0.weight,
      share: ci(ds.map((d) => d.share)),
      entitled: d0.entitled,
      shareError: ci(ds.map((d) => d.shareError)),
      throughput: ci(ds.map((d) => d.throughput)),
      latencyP99: ci(ds.map((d) => d.latency?.p99)),
    };
  });
  return {
    combo: combo.index,
    label: combo.label,
    params: combo.params,
    runs: runs.length,
    failed: runs.length - ok.length,
    guests: first?.aggregate.guests ?? 0,
    throughput: ci(ok.map((r) => r.aggregate.throughput)),
    normalizedThroughput: ci(ok.map((r) => r.aggregate.normalizedThroughput)),
    maxShareError: ci(ok.map((r) => r.aggregate.maxShareError)),
    busy: ci(ok.map((r) => r.aggregate.busy)),
    groups,
    domains,
  };
}

/** Assemble results in plan order from runs keyed by id (extra or repeated ids are ignored). */
export function assembleResults(plan: SweepPlan, byId: ReadonlyMap<string, RunResult>): SweepResults {
  const runs = plan.runs.map((p) => {
    const r = byId.get(p.id);
    if (!r) throw new Error(`no result for run "${p.id}"`);
    return canonical(r);
  });
  const combos = plan.combos.map((c) => ({ index: c.index, label: c.label, params: c.scenario.params }));
  const summary = combos.map((c) => summarizeCombo(c, runs.filter((r) => r.combo === c.index)));
  return { format: RESULTS_FORMAT, scenario: plan.scenario, axes: plan.axes, seeds: plan.seeds, combos, runs, summary };
}

// ------------------------------------------------------------------ files

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csvLine = (cells: unknown[]) => cells.map(csvCell).join(',');

export function resultsCsv(res: SweepResults): string {
  const axes = res.axes.map((a) => a.name);
  const head = ['run', 'combo', 'seed', ...axes, 'status', 'domain', 'group', 'domid', 'pool', 'weight', 'vcpus', 'cpu_ns', 'share', 'entitled', 'share_error', 'work_units', 'throughput', 'lat_n', 'lat_mean_ns', 'lat_p50_ns', 'lat_p90_ns', 'lat_p99_ns', 'lat_max_ns', 'crashed'];
  const rows = [csvLine(head)];
  for (const r of res.runs) {
    const pre = [r.id, r.combo, r.seed, ...axes.map((a) => r.params[a]), r.status];
    if (r.domains.length === 0) rows.push(csvLine(pre));
    for (const d of r.domains) {
      const l = d.latency;
      rows.push(csvLine([...pre, d.name, d.group, d.domid, d.pool, d.weight, d.vcpus, d.cpuNs, d.share, d.entitled, d.shareError, d.workUnits, d.throughput, l?.n, l?.mean, l?.p50, l?.p90, l?.p99, l?.max, d.crashed]));
    }
  }
  return rows.join('\n') + '\n';
}

export function summaryCsv(res: SweepResults): string {
  const axes = res.axes.map((a) => a.name);
  const rows = [csvLine(['combo', 'label', ...axes, 'group', 'figure', 'n', 'mean', 'ci95'])];
  const put = (s: ComboSummary, group: string, fig: string, m: MeanCI | null) => {
    if (m) rows.push(csvLine([s.combo, s.label, ...axes.map((a) => s.params[a]), group, fig, m.n, m.mean, m.ci95]));
  };
  for (const s of res.summary) {
    put(s, '', 'throughput', s.throughput);
    put(s, '', 'normalized_throughput', s.normalizedThroughput);
    put(s, '', 'max_share_error', s.maxShareError);
    put(s, '', 'busy', s.busy);
    for (const g of s.groups) {
      put(s, g.group, 'share', g.share);
      put(s, g.group, 'share_error', g.shareError);
      put(s, g.group, 'throughput', g.throughput);
      put(s, g.group, 'latency_mean_ns', g.latencyMean);
      put(s, g.group, 'latency_p50_ns', g.latencyP50);
      put(s, g.group, 'latency_p99_ns', g.latencyP99);
    }
  }
  return rows.join('\n') + '\n';
}

export const RESULTS_JSON = 'results.json';

/** Write results.json, results.csv and summary.csv into `dir`; returns the paths. */
export function writeResults(dir: string, res: SweepResults): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [
    [join(dir, RESULTS_JSON), JSON.stringify(res, null, 1) + '\n'],
    [join(dir, 'results.csv'), resultsCsv(res)],
    [join(dir, 'summary.csv'), summaryCsv(res)],
  ];
  for (const [f, text] of files) writeFileSync(f, text);
  return files.map((f) => f[0]);
}
