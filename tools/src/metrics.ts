/**
 * Metrics, defined once (docs/metrics.md explains each):
 *  - CPU share: a domain's CPU time over the sum of the compared domains' CPU times in the window;
 *    its error is share / entitlement − 1, entitlement being weight over the compared weights.
 *  - Wake-up latency: from the instant a vCPU becomes runnable after being blocked (runstate
 *    blocked → runnable) to the instant it next runs (runnable → running).
 *  - Percentiles use the nearest-rank method on integer nanoseconds, so they are exact and
 *    reproducible.
 */
import type { TraceRecord } from '@xenotype/core';

export function percentile(sortedAsc: readonly number[], p: number): number {
  if (sortedAsc.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sortedAsc.length);
  return sortedAsc[Math.min(sortedAsc.length, Math.max(1, rank)) - 1];
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN, mean: s.length ? Math.round(sum / s.length) : NaN };
}

/** Collects wake-up latencies of chosen domains from the trace, within [from, to). */
export class WakeLatency {
  private wokeAt = new Map<string, number>();
  readonly samples = new Map<number, number[]>();
  from = 0;
  to = Infinity;

  constructor(readonly domains: ReadonlySet<number>) {
    for (const d of domains) this.samples.set(d, []);
  }

  observe = (r: TraceRecord): void => {
    if (r.type !== 'runstate' || !this.domains.has(r.dom)) return;
    const k = `${r.dom}.${r.vcpu}`;
    if (r.from === 2 && r.to === 1) this.wokeAt.set(k, r.t);
    else if (r.from === 1 && r.to === 0) {
      const w = this.wokeAt.get(k);
      this.wokeAt.delete(k);
      if (w !== undefined && w >= this.from && w < this.to) this.samples.get(r.dom)!.push(r.t - w);
    } else if (r.to !== 1) this.wokeAt.delete(k);
  };
}

export interface ShareRow {
  name: string;
  weight: number;
  cpuNs: number;
  share: number;
  entitled: number;
  error: number;
}

export function shares(rows: { name: string; weight: number; cpuNs: number }[]): ShareRow[] {
  const totalW = rows.reduce((a, r) => a + r.weight, 0);
  const totalC = rows.reduce((a, r) => a + r.cpuNs, 0);
  return rows.map((r) => {
    const share = totalC > 0 ? r.cpuNs / totalC : 0;
    const entitled = r.weight / totalW;
    return { ...r, share, entitled, error: share / entitled - 1 };
  });
}
