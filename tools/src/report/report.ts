/**
 * `xt report`: a self-contained HTML page from a results directory — what was run, a table of every
 * figure per parameter combination (mean ± 95% CI over seeds), and the plots (inline SVG: latency
 * CDFs and p99s, CPU share against entitlement, throughput against domain count, per-pCPU
 * timelines). No scripts, no external resources: the file opens anywhere, offline.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MeanCI } from '../metrics';
import { RESULTS_FORMAT, RESULTS_JSON, type SweepResults } from '../sweep/results';
import { buildCharts, paperChart, renderSvg } from './charts';
import { paperComparison } from './paper';

export class ReportInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportInputError';
  }
}

export function readResults(dir: string): SweepResults {
  const file = join(dir, RESULTS_JSON);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ReportInputError(`${file}: not found (xt report takes a directory written by xt sweep or xt run --out)`);
  }
  let res: SweepResults;
  try {
    res = JSON.parse(text) as SweepResults;
  } catch (e) {
    throw new ReportInputError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (res?.format !== RESULTS_FORMAT) throw new ReportInputError(`${file}: expected results of format ${RESULTS_FORMAT}, got ${JSON.stringify(res?.format)}`);
  return res;
}

const esc = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function sig(x: number): string {
  if (Math.abs(x) < 1e-12) return '0';
  const a = Math.abs(x);
  return a >= 1000 ? Math.round(x).toLocaleString('en-US') : a >= 1 ? x.toFixed(a >= 100 ? 1 : 2) : x.toPrecision(3);
}
/** mean ± ci95 (scaled); an interval below a billionth of the mean is rounding noise: ± 0. */
function fmtCI(m: MeanCI | null, scale = 1, unit = '', fixed?: number): string {
  if (!m) return '<span class="na">—</span>';
  const f = (x: number) => (fixed === undefined ? sig(x) : (Math.abs(x) < 0.5 * 10 ** -fixed ? 0 : x).toFixed(fixed));
  const ci = m.ci95 === null ? null : m.ci95 <= Math.abs(m.mean) * 1e-9 ? 0 : m.ci95;
  const mean = f(m.mean * scale);
  return ci === null ? `${mean}${unit}` : `${mean} <span class="ci">± ${f(ci * scale)}</span>${unit}`;
}
const pct = (m: MeanCI | null) => fmtCI(m, 100, '%', 2);
const usec = (m: MeanCI | null) => fmtCI(m, 1e-3, ' µs');

const STYLE = `
body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; } .ci { color: #777; font-size: 0.9em; } .na { color: #bbb; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; max-width: 720px; } .meta td { text-align: left; }
.failed { color: #b00; } .desc { color: #444; max-width: 820px; }
table.paper td { text-align: left; vertical-align: top; max-width: 330px; } .holds { color: #080; font-weight: bold; } .fails { color: #b00; font-weight: bold; }
.differences p { max-width: 900px; color: #333; }`;

export async function renderReport(res: SweepResults): Promise<string> {
  const charts = buildCharts(res);
  const svgs = await Promise.all(charts.map((c) => renderSvg(c.spec)));
  const failed = res.runs.filter((r) => r.status !== 'ok');
  const h: string[] = [];
  h.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>xenotype — ${esc(res.scenario.name)}</title><style>${STYLE}</style></head><body>`);
  h.push(`<h1>${esc(res.scenario.name)}</h1>`);
  if (res.scenario.description) h.push(`<p class="desc">${esc(res.scenario.description)}</p>`);
  h.push('<table class="meta">');
  h.push(`<tr><th class="l">scenario</th><td>${esc(res.scenario.source)}</td></tr>`);
  h.push(`<tr><th class="l">swept</th><td>${res.axes.length ? res.axes.map((a) => `${esc(a.name)} ∈ {${a.values.map(esc).join(', ')}}`).join('; ') : 'nothing (the scenario’s defaults)'}</td></tr>`);
  if (res.scenario.preset) h.push(`<tr><th class="l">preset</th><td>${esc(res.scenario.preset)}</td></tr>`);
  h.push(`<tr><th class="l">seeds</th><td>${res.seeds.join(', ')}</td></tr>`);
  h.push(`<tr><th class="l">runs</th><td>${res.runs.length}${failed.length ? ` <span class="failed">(${failed.length} failed)</span>` : ''}</td></tr>`);
  h.push('</table>');

  const cmp = paperComparison(res);
  if (cmp) {
    h.push(`<h2 id="paper">Beside the paper: ${esc(cmp.title)}</h2><p class="desc">Source: ${esc(cmp.source)}. Ours: mean over seeds <span class="ci">± half-width of the 95% confidence interval</span>.</p>`);
    h.push('<table class="paper"><tr><th class="l">claim</th><th class="l">paper</th><th class="l">ours</th><th class="l">shape holds?</th></tr>');
    for (const r of cmp.rows)
      h.push(
        `<tr><td>${esc(r.claim)}</td><td>${esc(r.paper)}</td><td>${esc(r.ours)}</td><td>${r.holds === null ? '<span class="na">not measured</span>' : r.holds ? '<span class="holds">yes</span>' : '<span class="fails">no</span>'} <span class="ci">(${esc(r.criterion)})</span></td></tr>`,
      );
    h.push('</table>');
    const pc = paperChart(cmp);
    if (pc) h.push(`<figure id="${esc(pc.id)}" class="paper-chart">${await renderSvg(pc.spec)}<figcaption>${esc(pc.caption)}</figcaption></figure>`);
    h.push('<h3>Where our numbers differ, and why</h3><div class="differences">');
    for (const p of cmp.differences) h.push(`<p>${esc(p)}</p>`);
    h.push('</div>');
  }

  h.push('<h2>Summary</h2><p>Mean over seeds <span class="ci">± half-width of the 95% confidence interval (Student t)</span>. Definitions: docs/metrics.md.</p>');
  h.push('<table><tr><th class="l">combination</th><th>runs</th><th>guests</th><th>throughput (units/s)</th><th>normalised throughput</th><th>max |share error|</th><th>pCPUs busy</th></tr>');
  for (const s of res.summary)
    h.push(`<tr><td class="l">${esc(s.label)}</td><td>${s.runs}${s.failed ? ` <span class="failed">(${s.failed} failed)</span>` : ''}</td><td>${s.guests}</td><td>${fmtCI(s.throughput)}</td><td>${fmtCI(s.normalizedThroughput)}</td><td>${pct(s.maxShareError)}</td><td>${pct(s.busy)}</td></tr>`);
  h.push('</table>');

  h.push('<h2>Per group</h2>');
  h.push('<table><tr><th class="l">combination</th><th class="l">group</th><th>domains</th><th>CPU share</th><th>entitled</th><th>share error</th><th>throughput (units/s)</th><th>wake-up mean</th><th>p50</th><th>p99</th></tr>');
  for (const s of res.summary)
    for (const g of s.groups)
      h.push(
        `<tr><td class="l">${esc(s.label)}</td><td class="l">${esc(g.group)}</td><td>${g.domains}</td><td>${pct(g.share)}</td><td>${g.entitled === null ? '<span class="na">—</span>' : `${sig(g.entitled * 100)}%`}</td><td>${pct(g.shareError)}</td><td>${fmtCI(g.throughput)}</td><td>${usec(g.latencyMean)}</td><td>${usec(g.latencyP50)}</td><td>${usec(g.latencyP99)}</td></tr>`,
      );
  h.push('</table>');

  h.push('<h2>Plots</h2>');
  charts.forEach((c, i) => h.push(`<figure id="${esc(c.id)}" class="chart">${svgs[i]}<figcaption>${esc(c.caption)}</figcaption></figure>`));

  if (failed.length) {
    h.push('<h2 class="failed">Failed runs</h2><table><tr><th class="l">run</th><th class="l">error</th></tr>');
    for (const r of failed) h.push(`<tr><td class="l">${esc(r.id)}</td><td class="l">${esc(r.error)}</td></tr>`);
    h.push('</table>');
  }
  h.push('<p class="ci">Written by xt report (xenotype). Raw data: results.json, results.csv, summary.csv.</p></body></html>');
  return h.join('\n');
}

export const REPORT_HTML = 'report.html';

/** Render `dir`/results.json (or `res`) to `out` (default `dir`/report.html); returns the path. */
export async function writeReport(dir: string, res?: SweepResults, out?: string): Promise<string> {
  const r = res ?? readResults(dir);
  const file = out ?? join(dir, REPORT_HTML);
  writeFileSync(file, await renderReport(r));
  return file;
}
