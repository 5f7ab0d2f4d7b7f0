/**
 * The HTML report renders: results of two small sweeps (the BVT latency experiment and a reduced
 * scalability sweep) written as reports, opened in headless Chromium (Debian's /usr/bin/chromium
 * through playwright-core), and checked for their plots — inline SVG charts with their titles and
 * marks (a CDF line per policy, a bar per domain and policy, timeline segments, a throughput line
 * per slice) — and for being self-contained. A full-page screenshot is written to a temp file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { defaultRegistry } from '../tools/src/host/registry';
import { Scenario, readScenario } from '../tools/src/scenario/load';
import { planSweep, seedList, type Axis } from '../tools/src/sweep/plan';
import { runLocal } from '../tools/src/sweep/local';
import { assembleResults, writeResults } from '../tools/src/sweep/results';
import { writeReport } from '../tools/src/report/report';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
const dir = mkdtempSync(join(tmpdir(), 'xt-report-'));

async function report(name: string, axes: Axis[], seeds: number, untilNs: number): Promise<string> {
  const plan = planSweep(new Scenario(readScenario(name)), axes, seedList(seeds), defaultRegistry(), { untilNs });
  const res = assembleResults(plan, await runLocal(plan, { jobs: 0 }));
  const out = join(dir, name);
  writeResults(out, res);
  return writeReport(out, res);
}

let browser: Browser;
beforeAll(async () => {
  if (have) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
});
afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!have)('xt report', () => {
  it('the BVT latency report shows its plots in Chromium', async () => {
    const html = await report('bvt-latency', [{ name: 'policy', values: ['rr', 'bvt', 'bvt-warp', 'credit'] }], 2, 1_000_000_000);
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/<script|<link|src="http|href="http/); // self-contained
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`file://${html}`);
    const n = (sel: string) => page.locator(sel).count();
    const got = {
      h1: await page.locator('h1').textContent(),
      figures: await n('figure.chart'),
      svgs: await n('figure.chart svg'),
      titles: await page.locator('figure.chart svg .role-title-text').allTextContents(),
      cdfLines: await n('#latency-cdf .mark-line path'),
      p99Points: (await n('#latency-p99 .mark-symbol path')) + (await n('#latency-p99 .mark-rect path')),
      shareBars: await n('#cpu-share .mark-rect path'),
      timelineSegments: await n('#timeline-0 .mark-rect path'),
      summaryRows: await n('table tr'),
    };
    expect(got.h1).toBe('bvt-latency');
    expect(got.figures).toBe(8);
    expect(got.svgs).toBe(8);
    expect(got.titles).toEqual([
      'Wake-up latency CDF',
      'Wake-up latency, 99th percentile (mean ± 95% CI)',
      'CPU share against entitlement (ticks)',
      'Aggregate throughput (mean ± 95% CI)',
      'pCPU timeline: policy=rr, seed 1',
      'pCPU timeline: policy=bvt, seed 1',
      'pCPU timeline: policy=bvt-warp, seed 1',
      'pCPU timeline: policy=credit, seed 1',
    ]);
    expect(got.cdfLines).toBe(4); // one CDF per policy
    expect(got.p99Points).toBe(4);
    expect(got.shareBars).toBeGreaterThanOrEqual(16); // 4 hogs × 4 policies
    expect(got.timelineSegments).toBeGreaterThan(8);
    expect(got.summaryRows).toBeGreaterThan(4 + 8);
    const png = join(dir, 'bvt-latency.png');
    await page.screenshot({ path: png, fullPage: true });
    expect(statSync(png).size).toBeGreaterThan(50_000);
    await page.close();
  });

  it('the scalability report plots throughput against the domain count, one line per slice', async () => {
    const html = await report('scalability', [{ name: 'n', values: [1, 2, 4] }, { name: 'slice', values: ['5ms', '50ms'] }], 1, 800_000_000);
    const page = await browser.newPage();
    await page.goto(`file://${html}`);
    const got = {
      titles: await page.locator('figure.chart svg .role-title-text').allTextContents(),
      lines: await page.locator('#throughput-vs-domains .mark-line path').count(),
      legend: await page.locator('#throughput-vs-domains .role-legend-label text').allTextContents(),
      xTicks: await page.locator('#throughput-vs-domains .role-axis-label text').allTextContents(),
    };
    expect(got.titles).toContain('Normalised aggregate throughput against domain count');
    expect(got.lines).toBe(2);
    expect(got.legend).toEqual(['slice=5ms', 'slice=50ms']);
    expect(got.xTicks).toEqual(expect.arrayContaining(['1', '2', '4']));
    await page.screenshot({ path: join(dir, 'scalability.png'), fullPage: true });
    await page.close();
  });
});
