/**
 * The report's plots as Vega-Lite specs, rendered to SVG headlessly (vega's View with renderer
 * 'none'), so the HTML embeds them inline and needs no script or network to display.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SweepResults } from '../sweep/results';
import type { PaperComparison } from './paper';

export interface Chart {
  id: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

const WIDTH = 560;
const us = (ns: number) => Math.round(ns / 10) / 100;
/** Latencies are drawn on log scales, so those below this (µs) are drawn at it. */
const LAT_FLOOR_US = 0.1;
const CONFIG = { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', title: { fontSize: 14, anchor: 'start' as const }, view: { stroke: '#ddd' } };

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const v = compile({ config: CONFIG, ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(v), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const err = (m: { mean: number; ci95: number | null } | null) => (m ? { mean: m.mean, lo: m.mean - (m.ci95 ?? 0), hi: m.mean + (m.ci95 ?? 0) } : null);

/** Bars with 95% CI error bars: rows {x, series, mean, lo, hi}. */
function barsWithErrors(title: string, rows: Record<string, unknown>[], xTitle: string, yTitle: string, series: boolean, extra: Record<string, unknown>[] = [], yScale?: Record<string, unknown>): TopLevelSpec {
  const x = { field: 'x', type: 'nominal' as const, title: xTitle, sort: null, axis: { labelAngle: rows.length > 8 ? -40 : 0, labelLimit: 160 } };
  const off = series ? { xOffset: { field: 'series', type: 'nominal' as const, sort: null } } : {};
  const color = series ? { color: { field: 'series', type: 'nominal' as const, title: null, sort: null } } : { color: { value: '#4c78a8' } };
  return {
    title,
    width: WIDTH,
    height: 260,
    data: { values: rows },
    layer: [
      // bars need a zero baseline; on a log scale the means are drawn as points
      { mark: yScale ? { type: 'point', filled: true, size: 90 } : { type: 'bar' }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: yTitle, ...(yScale ? { scale: yScale } : {}) }, ...off, ...color } },
      { mark: { type: 'rule', color: '#222' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, ...off } },
      ...extra,
    ],
  } as unknown as TopLevelSpec;
}

export function buildCharts(res: SweepResults): Chart[] {
  const charts: Chart[] = [];
  const sum = res.summary;
  const multi = sum.length > 1;

  // 1. wake-up latency CDFs
  const cdfRows: Record<string, unknown>[] = [];
  const latGroups = new Set<string>();
  for (const s of sum)
    for (const g of s.groups)
      if (g.latencyCdf.length === 101) {
        latGroups.add(g.group);
        g.latencyCdf.forEach((v, k) => cdfRows.push({ series: s.label, group: g.group, latency: Math.max(LAT_FLOOR_US, us(v)), fraction: k / 100 }));
      }
  if (cdfRows.length) {
    charts.push({
      id: 'latency-cdf',
      title: 'Wake-up latency CDF',
      caption: `Wake-up latency (blocked → runnable → running) of the measured domains: for each combination, the mean over seeds of each percentile of the pooled wake-ups. Log scale; latencies below ${LAT_FLOOR_US} µs are drawn at ${LAT_FLOOR_US} µs.`,
      spec: {
        title: 'Wake-up latency CDF',
        width: WIDTH,
        height: 280,
        data: { values: cdfRows },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x: { field: 'latency', type: 'quantitative', title: 'wake-up latency (µs)', scale: { type: 'log' } },
          y: { field: 'fraction', type: 'quantitative', title: 'fraction of wake-ups ≤ x' },
          color: { field: 'series', type: 'nominal', title: null, sort: null },
          ...(latGroups.size > 1 ? { strokeDash: { field: 'group', type: 'nominal', title: 'group' } } : {}),
        },
      } as TopLevelSpec,
    });
    // p99 bars with CIs
    const rows: Record<string, unknown>[] = [];
    for (const s of sum)
      for (const g of s.groups) {
        const e = err(g.latencyP99);
        if (e) rows.push({ x: s.label, series: g.group, mean: Math.max(LAT_FLOOR_US, us(e.mean)), lo: Math.max(LAT_FLOOR_US, us(e.lo)), hi: Math.max(LAT_FLOOR_US, us(e.hi)) });
      }
    const spread = Math.max(...rows.map((r) => r.hi as number)) / Math.max(LAT_FLOOR_US, Math.min(...rows.map((r) => r.mean as number)));
    charts.push({
      id: 'latency-p99',
      title: 'Wake-up latency, 99th percentile',
      caption: `p99 wake-up latency per combination: mean over seeds, error bars the 95% confidence interval (Student t), cut at ${LAT_FLOOR_US} µs${spread > 100 ? '; log scale' : ''}.`,
      spec: barsWithErrors('Wake-up latency, 99th percentile (mean ± 95% CI)', rows, multi ? 'combination' : 'group', 'p99 wake-up latency (µs)', latGroups.size > 1, [], spread > 100 ? { type: 'log' } : undefined),
    });
  }

  // 2. CPU share per domain against entitlement
  const byDomain = Math.max(0, ...sum.map((s) => s.domains.filter((d) => d.share).length)) <= 16;
  const shareRows: Record<string, unknown>[] = [];
  const entRows: Record<string, unknown>[] = [];
  for (const s of sum) {
    const items = byDomain ? s.domains.map((d) => ({ name: d.name, share: d.share, entitled: d.entitled })) : s.groups.map((g) => ({ name: g.group, share: g.share, entitled: g.entitled }));
    for (const it of items) {
      const e = err(it.share);
      if (!e) continue;
      shareRows.push({ x: it.name, series: s.label, mean: e.mean, lo: e.lo, hi: e.hi });
      if (it.entitled !== null) entRows.push({ x: it.name, series: s.label, entitled: it.entitled });
    }
  }
  if (shareRows.length) {
    const x = { field: 'x', type: 'nominal' as const, sort: null };
    charts.push({
      id: 'cpu-share',
      title: 'CPU share per domain',
      caption: `CPU share of each ${byDomain ? 'domain' : 'group'} among the domains compared for share (mean over seeds, 95% CI), with its entitlement (weight over the compared weights) as a black tick.`,
      spec: barsWithErrors('CPU share against entitlement (ticks)', shareRows, byDomain ? 'domain' : 'group', 'CPU share', multi, [
        { data: { values: entRows }, mark: { type: 'tick', color: '#000', thickness: 2 }, encoding: { x, ...(multi ? { xOffset: { field: 'series', type: 'nominal', sort: null } } : {}), y: { field: 'entitled', type: 'quantitative' } } },
      ]),
    });
  }

  // 3. throughput against domain count (or per combination)
  const counts = new Set(sum.map((s) => s.guests));
  const norm = sum.filter((s) => s.normalizedThroughput);
  // an axis counts domains only if its values are numbers (a label such as config=alone that
  // happens to change the domain count is a configuration, not a count)
  const countAxes = res.axes.filter((a) => {
    if (!a.values.every((v) => typeof v === 'number' || /^\d+$/.test(String(v)))) return false;
    const by = new Map<string, Set<number>>();
    for (const s of sum) {
      const rest = JSON.stringify(res.axes.filter((b) => b.name !== a.name).map((b) => s.params[b.name]));
      if (!by.has(rest)) by.set(rest, new Set());
      by.get(rest)!.add(s.guests);
    }
    return [...by.values()].some((v) => v.size > 1);
  });
  if (counts.size > 1 && norm.length && countAxes.length > 0) {
    const seriesOf = (s: (typeof sum)[number]) => res.axes.filter((a) => !countAxes.includes(a)).map((a) => `${a.name}=${s.params[a.name]}`).join(' ') || 'all';
    const rows = norm.map((s) => ({ guests: s.guests, series: seriesOf(s), ...err(s.normalizedThroughput)! }));
    charts.push({
      id: 'throughput-vs-domains',
      title: 'Normalised aggregate throughput against domain count',
      caption: 'Work done by the measured domains over the CPU time they could use (1.0 = no overhead), against the number of guest domains: mean over seeds with 95% CI.',
      spec: {
        title: 'Normalised aggregate throughput against domain count',
        width: WIDTH,
        height: 280,
        data: { values: rows },
        encoding: {
          x: { field: 'guests', type: 'quantitative', title: 'guest domains', scale: { type: 'log', base: 2 }, axis: { values: [...counts].sort((a, b) => a - b) } },
          color: { field: 'series', type: 'nominal', title: null, sort: null },
        },
        layer: [
          { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', type: 'quantitative', title: 'normalised throughput', scale: { zero: false } } } },
          { mark: { type: 'rule' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        ],
      } as TopLevelSpec,
    });
  } else {
    const rows = sum.filter((s) => s.throughput).map((s) => ({ x: s.label, series: s.label, ...err(s.throughput)! }));
    if (rows.length)
      charts.push({
        id: 'throughput',
        title: 'Aggregate throughput',
        caption: 'Work units per second of all measured domains, read from the guests’ own counters: mean over seeds with 95% CI.',
        spec: barsWithErrors('Aggregate throughput (mean ± 95% CI)', rows, 'combination', 'work units / s', false),
      });
  }

  // 4. per-pCPU timelines (first successful run of up to six combinations)
  for (const s of sum.slice(0, 6)) {
    const run = res.runs.find((r) => r.combo === s.combo && r.status === 'ok' && r.timeline && r.timeline.segments.length);
    if (!run || !run.timeline) continue;
    const names = run.domains.map((d) => d.name);
    const who = (k: number) => (k >= 0 ? names[k] : k === -2 ? 'dom0' : k === -1 ? 'idle' : 'other');
    const rows = run.timeline.segments.filter((g) => g[3] !== -1).map(([cpu, a, b, k]) => ({ cpu: `pCPU ${cpu}`, start: a / 1e6, end: b / 1e6, who: who(k) }));
    const domainsShown = new Set(rows.map((r) => r.who)).size;
    charts.push({
      id: `timeline-${s.combo}`,
      title: `pCPU timeline — ${s.label}`,
      caption: `Which domain ran on each pCPU during the first ${run.timeline.ns / 1e6} ms of the measured window (${run.id}); gaps are idle time.`,
      spec: {
        title: `pCPU timeline: ${s.label}, seed ${run.seed}`,
        width: WIDTH,
        height: Math.max(40, 28 * run.pcpus.length),
        data: { values: rows },
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'cpu', type: 'ordinal', title: null },
          x: { field: 'start', type: 'quantitative', title: 'ms into the window', scale: { domain: [0, run.timeline.ns / 1e6] } },
          x2: { field: 'end' },
          color: { field: 'who', type: 'nominal', title: 'domain', legend: domainsShown > 24 ? null : {}, scale: { scheme: domainsShown > 10 ? 'tableau20' : 'tableau10' } },
          tooltip: [{ field: 'who' }, { field: 'start' }, { field: 'end' }],
        },
      } as TopLevelSpec,
    });
  }
  return charts;
}

/** The chart of a paper comparison: ours with 95% CIs, and the paper's known figures as red crosses. */
export function paperChart(cmp: PaperComparison): Chart | null {
  const c = cmp.chart;
  if (!c || c.rows.length === 0) return null;
  const marks = c.marks ?? [];
  const numeric = c.rows.every((r) => typeof r.x === 'number');
  const xs = [...new Set([...c.rows.map((r) => r.x), ...marks.map((m) => m.x)])];
  const x = numeric
    ? { field: 'x', type: 'quantitative' as const, title: c.xTitle, ...(c.logX ? { scale: { type: 'log', base: 2 } } : {}), axis: { values: xs } }
    : { field: 'x', type: 'nominal' as const, title: c.xTitle, sort: null, axis: { labelAngle: 0 } };
  const y = { field: 'mean', type: 'quantitative' as const, title: c.yTitle, scale: c.yDomain ? { domain: c.yDomain } : { zero: c.kind === 'bars' } };
  const series = { field: 'series', type: 'nominal' as const, title: null, sort: null };
  const ours =
    c.kind === 'line'
      ? [
          { mark: { type: 'line', point: true }, encoding: { x, y, color: series } },
          { mark: { type: 'rule' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: series } },
        ]
      : [
          { mark: { type: 'bar' }, encoding: { x, y, xOffset: series, color: series } },
          { mark: { type: 'rule', color: '#222' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, xOffset: series } },
        ];
  const paper = marks.length
    ? [
        { data: { values: marks }, mark: { type: 'point', shape: 'cross', size: 160, filled: true, color: '#d62728' }, encoding: { x: { ...x, title: null }, y: { field: 'y', type: 'quantitative' }, tooltip: [{ field: 'label' }] } },
        { data: { values: marks }, mark: { type: 'text', align: 'right', dx: -10, dy: -10, color: '#d62728', fontSize: 11 }, encoding: { x: { ...x, title: null }, y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } } },
      ]
    : [];
  return {
    id: 'paper-figure',
    title: c.title,
    caption: c.caption,
    spec: { title: c.title, width: WIDTH, height: 280, layer: [{ data: { values: c.rows }, layer: ours }, ...paper] } as unknown as TopLevelSpec,
  };
}
