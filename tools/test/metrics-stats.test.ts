/**
 * The statistics behind every figure over seeds (Student t quantiles, mean and 95% interval), the
 * latency CDF points, normalised throughput and per-pCPU occupancy from switch records.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TraceRecord } from '@xenotype/core';
import { PcpuTimeline, cdfPoints, meanCI, normalizedThroughput, percentile, studentTCdf, studentTQuantile, throughputPerSec } from '../src/metrics';

describe('figures over seeds', () => {
  it('Student t 0.975 quantiles match the table', () => {
    const table: [number, number][] = [
      [1, 12.7062047],
      [2, 4.30265273],
      [3, 3.18244631],
      [4, 2.77644511],
      [9, 2.26215716],
      [29, 2.04522964],
      [120, 1.97993041],
      [1e6, 1.95996636],
    ];
    for (const [df, t] of table) expect(studentTQuantile(0.975, df)).toBeCloseTo(t, 6);
    expect(studentTQuantile(0.025, 4)).toBeCloseTo(-2.77644511, 6);
  });

  it('the t CDF is a CDF and the quantile inverts it', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 0.99, noNaN: true }), fc.integer({ min: 1, max: 200 }), (p, df) => {
        expect(studentTCdf(studentTQuantile(p, df), df)).toBeCloseTo(p, 9);
      }),
    );
    expect(studentTCdf(0, 3)).toBeCloseTo(0.5, 12);
  });

  it('mean and 95% interval', () => {
    expect(meanCI([])).toBeNull();
    expect(meanCI([5])).toEqual({ n: 1, mean: 5, sd: 0, ci95: null });
    const m = meanCI([2, 4, 4, 4, 5, 5, 7, 9])!;
    expect(m.mean).toBe(5);
    expect(m.sd).toBeCloseTo(2.13808994, 7);
    expect(m.ci95).toBeCloseTo((2.36462425 * 2.13808994) / Math.sqrt(8), 6);
    expect(meanCI([3, 3, 3])!.ci95).toBe(0);
    expect(meanCI([1, NaN, 3])!.n).toBe(2); // non-finite values (missing figures) are left out
  });
});

describe('distributions and rates', () => {
  it('CDF points are the nearest-rank quantiles at 0..100 %', () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i * 7919) % 1000);
    const c = cdfPoints(xs);
    const s = [...xs].sort((a, b) => a - b);
    expect(c).toHaveLength(101);
    expect(c[0]).toBe(s[0]);
    expect(c[50]).toBe(percentile(s, 50));
    expect(c[100]).toBe(s[199]);
    for (let k = 1; k <= 100; k++) expect(c[k]).toBeGreaterThanOrEqual(c[k - 1]);
    expect(cdfPoints([])).toEqual([]);
  });

  it('throughput and normalised throughput', () => {
    expect(throughputPerSec(500, 250_000_000)).toBe(2000);
    expect(normalizedThroughput(1.8e9, 1e9, 2)).toBeCloseTo(0.9, 12);
    expect(normalizedThroughput(1, 0, 2)).toBe(0);
  });
});

describe('per-pCPU occupancy', () => {
  const sw = (t: number, cpu: number, prevDom: number, nextDom: number): TraceRecord => ({ t, cpu, type: 'switch', prevDom, prevVcpu: 0, nextDom, nextVcpu: 0, prevRan: 0, nextWaited: 0, slice: -1 });
  it('busy time, switches and segments inside the window only', () => {
    const tl = new PcpuTimeline(2);
    for (const r of [sw(0, 0, 32767, 1), sw(0, 1, 32767, 2), sw(50, 0, 1, 3)]) tl.observe(r);
    tl.open(100, 50); // window from 100; keep segments up to 150
    for (const r of [sw(120, 1, 2, 32767), sw(130, 0, 3, 1), sw(160, 1, 32767, 2), sw(170, 0, 1, 32767)]) tl.observe(r);
    tl.finish(200);
    expect(tl.busyNs).toEqual([70, 60]); // cpu0: dom3 100..130 + dom1 130..170; cpu1: dom2 100..120 + dom2 160..200
    expect(tl.switches).toEqual([2, 2]);
    expect(tl.segments).toEqual([
      { cpu: 0, start: 0, end: 30, dom: 3 },
      { cpu: 0, start: 30, end: 50, dom: 1 },
      { cpu: 1, start: 0, end: 20, dom: 2 },
      { cpu: 1, start: 20, end: 50, dom: 32767 },
    ]);
  });
});
