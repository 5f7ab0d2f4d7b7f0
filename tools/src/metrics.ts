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

// ------------------------------------------------------------------ figures over several seeds

/**
 * Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz), the textbook
 * method; accurate to ~1e-14 here, which is far below what a 95% interval needs.
 */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbeta = lgamma(a + b) - lgamma(a) - lgamma(b);
  const front = Math.exp(Math.log(x) * a + Math.log(1 - x) * b + lbeta);
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = Math.abs(d) < tiny ? tiny : d;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + num / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    f *= d * c;
    num = -((a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + num / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return (front * f) / a;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9). */
function lgamma(x: number): number {
  const g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61503916999185, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  x -= 1;
  let a = g[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += g[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Student's t distribution with `df` degrees of freedom: P(T ≤ t). */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1)), by bisection. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return NaN;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Mean of a figure over n seeds with its 95% confidence interval (Student t, n − 1 df). */
export interface MeanCI {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one sample. */
  sd: number;
  /** Half-width of the 95% interval: t(0.975, n − 1) · sd / √n; null with fewer than two samples. */
  ci95: number | null;
}

export function meanCI(samples: readonly number[]): MeanCI | null {
  const xs = samples.filter((x) => Number.isFinite(x));
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: 0, ci95: null };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { n, mean, sd, ci95: (studentTQuantile(0.975, n - 1) * sd) / Math.sqrt(n) };
}

// ------------------------------------------------------------------ distributions and rates

/** The empirical CDF as its quantile function at 0, 1, …, 100 % (nearest rank); [] without samples. */
export function cdfPoints(samples: readonly number[]): number[] {
  if (samples.length === 0) return [];
  const s = [...samples].sort((a, b) => a - b);
  return Array.from({ length: 101 }, (_, k) => percentile(s, k));
}

/** Work units per second of virtual time. */
export function throughputPerSec(units: number, windowNs: number): number {
  return windowNs > 0 ? (units * 1e9) / windowNs : 0;
}

/**
 * Normalised aggregate throughput: the CPU time of the work units done (units × CPU per unit),
 * over the CPU time the measured domains could have used (window × min(pCPUs of their pools,
 * their vCPUs)). 1.0 means every such CPU-second became work; overheads (switches, cache refills,
 * dom0, hypercalls) pull it below 1.
 */
export function normalizedThroughput(workNs: number, windowNs: number, usableCpus: number): number {
  return windowNs > 0 && usableCpus > 0 ? workNs / (windowNs * usableCpus) : 0;
}

// ------------------------------------------------------------------ per-pCPU occupancy

export interface TimelineSegment {
  cpu: number;
  /** ns since the start of the window. */
  start: number;
  end: number;
  dom: number;
}

/**
 * Who ran on each pCPU, from the scheduler's `switch` records: busy (non-idle) time and switch
 * count per pCPU within the window [open, finish), and the segments of its first `keepNs`.
 * Subscribe before domains start so every pCPU's occupant is known when the window opens.
 */
export class PcpuTimeline {
  private cur = new Map<number, { dom: number; since: number }>();
  readonly busyNs: number[];
  readonly switches: number[];
  readonly segments: TimelineSegment[] = [];
  private from = Infinity;
  private to = Infinity;
  private keepNs = 0;

  constructor(readonly nrCpus: number, readonly idleDom = 32767) {
    this.busyNs = new Array(nrCpus).fill(0);
    this.switches = new Array(nrCpus).fill(0);
  }

  observe = (r: TraceRecord): void => {
    if (r.type !== 'switch') return;
    this.close(r.cpu, r.t);
    this.cur.set(r.cpu, { dom: r.nextDom, since: r.t });
    if (r.t >= this.from && r.t < this.to) this.switches[r.cpu]++;
  };

  private close(cpu: number, t: number): void {
    const c = this.cur.get(cpu);
    if (!c) return;
    const a = Math.max(c.since, this.from);
    const b = Math.min(t, this.to);
    if (b <= a) return;
    if (c.dom !== this.idleDom) this.busyNs[cpu] += b - a;
    const keepEnd = Math.min(b, this.from + this.keepNs);
    if (keepEnd > a) this.segments.push({ cpu, start: a - this.from, end: keepEnd - this.from, dom: c.dom });
  }

  /** Open the window at `t`, keeping segments for its first `keepNs`. */
  open(t: number, keepNs = 0): void {
    this.from = t;
    this.keepNs = keepNs;
  }

  /** Close the window at `t` (stints still running are cut there). */
  finish(t: number): void {
    this.to = t;
    for (const cpu of [...this.cur.keys()].sort((x, y) => x - y)) {
      this.close(cpu, t);
      this.cur.set(cpu, { dom: this.cur.get(cpu)!.dom, since: t });
    }
    this.segments.sort((x, y) => x.cpu - y.cpu || x.start - y.start);
  }
}
