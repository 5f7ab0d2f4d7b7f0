/** Plain-text tables of a run and of a sweep's summary, for the terminal. */
import type { MeanCI } from '../metrics';
import type { ComboSummary } from '../sweep/results';
import type { ResolvedScenario } from '../scenario/types';
import type { RunResult } from './run';

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
const signed = (x: number | null) => (x === null ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`);
const usec = (x: number | null) => (x === null ? '—' : `${(x / 1000).toFixed(1)}`);
const num = (x: number | null, d = 1) => (x === null ? '—' : x.toFixed(d));

function table(head: string[], rows: string[][], leftCols = 1): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i < leftCols ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), ...rows.map(line)];
}

export function formatRun(r: RunResult, sc: ResolvedScenario): string {
  const out: string[] = [];
  const params = Object.entries(r.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  out.push(`${sc.name}${params ? ` (${params})` : ''}, seed ${r.seed}: ${sc.host.nrCpus} pCPU(s), ${sc.domains.length} guest(s); ${(r.window.ns / 1e6).toFixed(1)} ms measured after ${sc.warmupNs / 1e6} ms warm-up`);
  if (r.status !== 'ok') {
    out.push(`  FAILED: ${r.error}`);
    if (r.domains.length === 0) return out.join('\n');
  }
  out.push('');
  out.push(
    ...table(
      ['domain', 'pool', 'weight', 'cpu ms', 'share', 'entitled', 'error', 'units/s', 'wake n', 'p50 µs', 'p99 µs', 'max µs'],
      r.domains.map((d) => [
        d.name + (d.crashed ? ' (crashed)' : ''),
        d.pool,
        String(d.weight),
        (d.cpuNs / 1e6).toFixed(1),
        pct(d.share),
        pct(d.entitled),
        signed(d.shareError),
        num(d.throughput),
        d.latency ? String(d.latency.n) : '—',
        usec(d.latency?.p50 ?? null),
        usec(d.latency?.p99 ?? null),
        usec(d.latency?.max ?? null),
      ]),
      2,
    ),
  );
  const a = r.aggregate;
  out.push('');
  out.push(`  aggregate: ${num(a.throughput)} work units/s, normalised throughput ${num(a.normalizedThroughput, 4)}, largest |share error| ${pct(a.maxShareError)}, pCPUs ${pct(a.busy)} busy, ${a.switches} switches`);
  return out.join('\n');
}

const ci = (m: MeanCI | null, scale = 1, d = 1) => (m ? `${(m.mean * scale).toFixed(d)}${m.ci95 === null ? '' : ` ± ${(m.ci95 * scale).toFixed(d)}`}` : '—');

export function formatSummary(summary: ComboSummary[]): string {
  const rows: string[][] = [];
  for (const s of summary) {
    const lat = s.groups.find((g) => g.latencyP99);
    rows.push([s.label, `${s.runs - s.failed}/${s.runs}`, String(s.guests), ci(s.throughput), ci(s.normalizedThroughput, 1, 4), ci(s.maxShareError, 100), lat ? `${ci(lat.latencyP99, 1e-3)} (${lat.group})` : '—']);
  }
  return table(['combination', 'ok', 'guests', 'units/s', 'normalised', '|share err| %', 'p99 wake µs'], rows).join('\n');
}
