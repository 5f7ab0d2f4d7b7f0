/**
 * The paper's figures beside ours, for the built-in scenarios that reproduce its experiments
 * (chosen by scenario name): scalability (Figure 6, §4.5), isolation (§4.4), concurrent (§4.3,
 * Figures 4–5) and bvt-latency (the BVT paper's wake-up claim, §3.3.1). Each comparison is a
 * table — the claim, the paper's figure, ours (mean ± 95% CI over seeds, computed from the runs),
 * whether the claim's shape holds by a stated criterion — and plain paragraphs on where and why our
 * numbers differ: what the model includes and what it leaves out. The paper's figures come from
 * ../shared/reference/paper.md; what that fact sheet marks UNVERIFIED is marked so here.
 *
 * Pure functions of the results: `xt report` renders them as HTML, `xt sweep` prints them.
 */
import { meanCI, type MeanCI } from '../metrics';
import type { RunResult } from '../runner/run';
import type { ComboSummary, SweepResults } from '../sweep/results';
import type { Scalar } from '../scenario/types';

export interface PaperRow {
  claim: string;
  /** The paper's figure, as the paper (or our fact sheet) states it. */
  paper: string;
  /** Ours, formatted. */
  ours: string;
  /** Whether the claim's shape holds here (null: not measured in these results). */
  holds: boolean | null;
  /** The criterion `holds` was judged by. */
  criterion: string;
}

export interface PaperComparison {
  title: string;
  source: string;
  rows: PaperRow[];
  /** Where our numbers differ from the paper's and why. */
  differences: string[];
  /** A chart of ours (with the paper's known points as marks), when the comparison has one. */
  chart?: PaperChart;
}

export interface PaperChart {
  kind: 'line' | 'bars';
  title: string;
  caption: string;
  xTitle: string;
  yTitle: string;
  /** Mean with its 95% interval, per x and series. */
  rows: { x: number | string; series: string; mean: number; lo: number; hi: number }[];
  /** The paper's figures, drawn as red crosses. */
  marks?: { x: number | string; y: number; label: string }[];
  logX?: boolean;
  yDomain?: [number, number];
}

const row = (x: number | string, series: string, m: MeanCI | null) => (m ? [{ x, series, mean: m.mean, lo: m.mean - (m.ci95 ?? 0), hi: m.mean + (m.ci95 ?? 0) }] : []);

// ------------------------------------------------------------------ helpers

const same = (a: Scalar | undefined, b: Scalar) => a !== undefined && String(a) === String(b);

function find(res: SweepResults, where: Record<string, Scalar>): ComboSummary | undefined {
  return res.summary.find((s) => Object.entries(where).every(([k, v]) => same(s.params[k], v)));
}

function runsOf(res: SweepResults, s: ComboSummary | undefined): RunResult[] {
  return s ? res.runs.filter((r) => r.combo === s.combo && r.status === 'ok') : [];
}

/** A figure of each ok run of a combination, keyed by seed. */
function bySeed(res: SweepResults, s: ComboSummary | undefined, f: (r: RunResult) => number | null | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of runsOf(res, s)) {
    const v = f(r);
    if (typeof v === 'number' && Number.isFinite(v)) out.set(r.seed, v);
  }
  return out;
}

const ci = (xs: Iterable<number>): MeanCI | null => meanCI([...xs]);

/** 1 − a/b per seed (runs paired by seed: the same seed draws the same randomness where the two share it). */
function drop(a: Map<number, number>, b: Map<number, number>): MeanCI | null {
  const xs: number[] = [];
  for (const [seed, x] of a) {
    const y = b.get(seed);
    if (y !== undefined && y > 0) xs.push(1 - x / y);
  }
  return ci(xs);
}

function fmt(m: MeanCI | null, scale: number, unit: string, digits: number): string {
  if (!m) return '—';
  const v = (m.mean * scale).toFixed(digits);
  return m.ci95 === null ? `${v}${unit}` : `${v} ± ${(m.ci95 * scale).toFixed(digits)}${unit}`;
}
const pct = (m: MeanCI | null, digits = 1) => fmt(m, 100, ' %', digits);
const usec = (m: MeanCI | null) => (m && m.mean >= 1e6 ? fmt(m, 1e-6, ' ms', 2) : fmt(m, 1e-3, ' µs', 1));
const num = (xs: Scalar[]) => xs.map(Number).filter((x) => Number.isFinite(x));

const groupOf = (r: RunResult, g: string) => r.groups.find((x) => x.group === g);

/** The pCPU each domain (by index) ran on most in the run's timeline. */
function placement(r: RunResult): Map<number, number> {
  const t = new Map<number, Map<number, number>>();
  for (const [cpu, a, b, k] of r.timeline?.segments ?? []) {
    if (k < 0) continue;
    if (!t.has(k)) t.set(k, new Map());
    t.get(k)!.set(cpu, (t.get(k)!.get(cpu) ?? 0) + b - a);
  }
  return new Map([...t].map(([k, m]) => [k, [...m].sort((x, y) => y[1] - x[1])[0][0]]));
}

// ------------------------------------------------------------------ Figure 6

function scalability(res: SweepResults): PaperComparison {
  const ns = [...new Set(num(res.summary.map((s) => s.params.n)))].sort((a, b) => a - b);
  const nMax = ns[ns.length - 1];
  const slices = [...new Set(res.summary.map((s) => String(s.params.slice)))];
  const nt = (n: number, slice: string) => bySeed(res, find(res, { n, slice }), (r) => r.aggregate.normalizedThroughput);
  const loss = (n: number, slice: string) => ci([...nt(n, slice).values()].map((x) => 1 - x));
  const have = (slice: string) => slices.includes(slice) && nMax !== undefined;
  const l5 = have('5ms') ? loss(nMax, '5ms') : null;
  const l50 = have('50ms') ? loss(nMax, '50ms') : null;
  const rel = have('5ms') && have('50ms') ? drop(nt(nMax, '5ms'), nt(nMax, '50ms')) : null;
  const nShared = ns.find((n) => n >= 4);
  const l5shared = nShared !== undefined && have('5ms') ? loss(nShared, '5ms') : null;
  const l1 = ns.includes(1) ? ci([...slices.flatMap((s) => [...nt(1, s).values()])].map((x) => 1 - x)) : null;
  const at = nMax === 128 ? '128 domains' : `${nMax} domains (the paper's point is 128)`;
  const rows: PaperRow[] = [
    {
      claim: `Aggregate throughput lost at ${at}, 5 ms slice`,
      paper: '7.5 % (against native Linux)',
      ours: l5 ? `${pct(l5)} against an ideal machine; ${pct(rel)} against our 50 ms line` : '—',
      holds: l5 ? l5.mean > 0.075 / 2 && l5.mean < 0.075 * 2 : null,
      criterion: 'within a factor of two of 7.5 %',
    },
    {
      claim: `The same at ${at}, 50 ms slice`,
      paper: '“almost closes the gap” with native Linux',
      ours: l50 ? pct(l50, 2) : '—',
      holds: l5 && l50 ? l50.mean < 0.015 && l50.mean < l5.mean / 3 : null,
      criterion: 'under 1.5 % and under a third of the 5 ms loss',
    },
    {
      claim: 'The 5 ms loss comes with sharing a pCPU',
      paper: 'Fig. 6: the 5 ms line falls below the 50 ms one as domains are added (values UNVERIFIED)',
      ours: l1 && l5shared ? `${pct(l1, 2)} with one domain; ${pct(l5shared)} at ${nShared} domains; ${pct(l5)} at ${nMax}` : '—',
      holds: l1 && l5shared ? l1.mean < 0.005 && l5shared.mean > 10 * Math.max(l1.mean, 1e-4) : null,
      criterion: 'under 0.5 % alone; ten times that once domains share pCPUs',
    },
  ];
  return {
    title: 'Figure 6 (§4.5): scalability to 128 domains',
    source: 'Barham et al., SOSP 2003, §4.5 and Fig. 6 (paper.md §2.7)',
    rows,
    chart: {
      kind: 'line',
      title: 'Figure 6: ours beside the paper',
      caption:
        'Our normalised aggregate throughput (mean over seeds, 95% CI) against domain count, per slice, with the paper’s published point as a red cross (Xen, 5 ms slice, 128 domains: 7.5 % below native Linux; the paper’s y axis is relative to Linux, ours to an ideal machine). The rest of the paper’s Figure 6 is not in our sources.',
      xTitle: 'guest domains',
      yTitle: 'normalised throughput',
      rows: slices.flatMap((sl) => ns.flatMap((n) => row(n, `ours, slice ${sl}`, ci(nt(n, sl).values())))),
      marks: [{ x: 128, y: 0.925, label: 'paper: Xen, 5 ms, 128 domains (7.5 % below Linux)' }],
      logX: true,
      yDomain: [0.85, 1],
    },
    differences: [
      'Baseline. The paper normalises to native Linux running the same programs as processes with slices of 50 ms or more, which pays its own cache refills; we normalise to an ideal machine that never switches. Our 50 ms line plays Linux’s part: the paper’s 7.5 % compares with our 5 ms loss measured against our 50 ms line.',
      'Shape. In the model the loss appears as soon as two domains share a pCPU and then stays flat up to 128: a pCPU switches once per slice whatever the number of domains, and a working set that fills the L2 is reloaded in full after every switch once anyone else ran. The paper’s figure (its exact values are not in our sources: UNVERIFIED) shows the 5 ms line falling away towards 128 domains. What would make the loss grow with n and is left out: the hypervisor’s and guest kernels’ own footprint in the cache (page tables, Xen’s 20 kB per domain), TLB reach, BVT’s O(n) run-queue scan, per-domain timer events and dom0’s daemons.',
      'What the model includes: a fixed switch cost (1.97 µs, lmbench 2p/0K on Xen) and an LRU refill of the evicted part of the incoming domain’s working set at 1.75 B/ns (lmbench 16p/64K on Xen) into a 512 KiB L2 (the 2.4 GHz Xeon’s) — the sosp03 preset, fixed before any run. Left out: both CPUs refilling at once over one front-side bus (which would slow refills), the L1 and trace cache, branch predictors, and the lmbench figures’ own uncertainty (recalled values, UNVERIFIED against the PDF).',
      'Work is counted in 100 µs units at completion, read from the guests’ own counters, so each window is quantised to a unit per domain (under 0.1 % of a 20 s window at 128 domains); domains start at seeded random instants within 20 ms, so seeds differ only in phase and the intervals are narrow.',
    ],
  };
}

// ------------------------------------------------------------------ BVT wake-up latency

function bvtLatency(res: SweepResults): PaperComparison {
  const p99 = (policy: string) => ci(bySeed(res, find(res, { policy }), (r) => groupOf(r, 'interactive')?.latency?.p99).values());
  const share = (policy: string) => ci(bySeed(res, find(res, { policy }), (r) => r.aggregate.maxShareError).values());
  const [warp, bvt, rr, credit] = ['bvt-warp', 'bvt', 'rr', 'credit'].map(p99);
  const [sWarp, sBvt, sRr] = ['bvt-warp', 'bvt', 'rr'].map(share);
  const worst = [bvt, rr, credit].filter((m): m is MeanCI => !!m);
  return {
    title: 'BVT’s wake-up latency (§3.3.1; Duda & Cheriton, SOSP 1999)',
    source: 'Barham et al., SOSP 2003, §3.3.1; Duda & Cheriton, SOSP 1999, abstract (paper.md §3.9, §4)',
    rows: [
      {
        claim: 'Warping gives a latency-sensitive domain prompt wake-ups beside CPU-bound ones',
        paper: 'BVT: “low latency” for interactive threads (no figure in our sources: UNVERIFIED); Xen chose BVT for its “low-latency wake-up”',
        ours: `p99 ${usec(warp)} with warp; ${usec(bvt)} without; rr ${usec(rr)}; credit ${usec(credit)}`,
        holds: warp && worst.length ? worst.every((m) => warp.mean * 10 < m.mean) : null,
        criterion: 'p99 with warp under a tenth of every other policy’s',
      },
      {
        claim: 'Weighted sharing holds while one domain warps',
        paper: 'BVT: weighted shares “even when a real-time thread misbehaves”',
        ours: `largest |share error| of the weighted hogs: ${pct(sWarp)} with warp, ${pct(sBvt)} without; rr (no weights) ${pct(sRr)}`,
        holds: sWarp && sBvt ? sWarp.mean < 0.05 && sBvt.mean < 0.05 : null,
        criterion: 'under 5 % with and without warp',
      },
      {
        claim: 'Without warp a woken domain waits up to a slice',
        paper: 'SOSP’03’s code ignored the warp parameters (C03): the paper’s Xen ran BVT without effective warping',
        ours: `p99 without warp ${usec(bvt)} (ctx_allow 5 ms)`,
        holds: bvt ? bvt.mean > 100_000 : null,
        criterion: 'over 0.1 ms: BVT without warp is not what gives prompt wake-ups',
      },
    ],
    differences: [
      'The BVT paper’s own measurements (its MPEG-player latency, dispatch overhead, the mcu and C its Linux implementation used) were not reachable: its claims are compared in shape only.',
      'Wake-up latency here runs from blocked → runnable to running (docs/metrics.md): it includes the scheduling softirq (1 µs) and the wait behind other vCPUs, not the guest’s upcall or the switch cost paid after it runs. With warp the woken domain preempts at once, so its latency is the softirq delay alone.',
      'Warp follows Xen 2.0 (warp value, warpl and warpu timers); Xen 1.0 — the SOSP’03 system — accepted the warp parameters but ignored them, so the paper’s own Xen behaved like our “bvt” row. Credit’s BOOST gives prompt wake-ups to a domain that has not used its credit, which is why its p99 depends on the seed.',
    ],
  };
}

// ------------------------------------------------------------------ §4.4 performance isolation

function isolation(res: SweepResults): PaperComparison {
  const tp = (config: string, group: string) => bySeed(res, find(res, { config }), (r) => groupOf(r, group)?.throughput);
  const dropOf = (config: string, group: string) => drop(tp(config, group), tp('alone', group));
  const osdb = dropOf('isolated', 'osdb');
  const web = dropOf('isolated', 'web');
  const configs = res.summary.map((s) => String(s.params.config)).filter((c) => c !== 'alone' && c !== 'isolated');
  const ctl = configs.map((c) => ({ c, osdb: dropOf(c, 'osdb'), web: dropOf(c, 'web') }));
  const none = ctl.find((x) => x.c === 'none');
  const worstCtl = none ?? ctl.sort((a, b) => Math.max(b.osdb?.mean ?? 0, b.web?.mean ?? 0) - Math.max(a.osdb?.mean ?? 0, a.web?.mean ?? 0))[0];
  const allConfigs = res.summary.map((s) => String(s.params.config)).filter((c) => c !== 'alone');
  const relRows = allConfigs.flatMap((c) =>
    ['osdb', 'web'].flatMap((g) => {
      const m = dropOf(c, g);
      return row(c, g === 'osdb' ? 'OSDB-like queries' : 'web-like requests', m && { ...m, mean: 1 - m.mean });
    }),
  );
  return {
    chart: {
      kind: 'bars',
      title: 'Throughput beside the antisocial domains, relative to running without them',
      caption: 'Each useful domain’s throughput in each configuration over its throughput without the antisocial domains (runs paired by seed; mean, 95% CI). The paper: OSDB-IR 0.96, SPEC WEB99 0.98 with Xen’s mechanisms; native Linux unusable.',
      xTitle: 'configuration',
      yTitle: 'throughput relative to alone',
      rows: relRows,
    },
    title: 'Performance isolation (§4.4)',
    source: 'Barham et al., SOSP 2003, §4.4 (paper.md §2.6)',
    rows: [
      {
        claim: 'OSDB-IR beside two antisocial domains, against running without them',
        paper: '4 % lower',
        ours: `${pct(osdb)} lower (our disk+CPU query domain)`,
        holds: osdb ? osdb.mean < 0.1 : null,
        criterion: 'under 10 % lower',
      },
      {
        claim: 'SPEC WEB99 beside two antisocial domains',
        paper: '2 % lower',
        ours: `${pct(web)} lower (our UDP request/response server)`,
        holds: web ? web.mean < 0.1 : null,
        criterion: 'under 10 % lower',
      },
      {
        claim: 'The same antisocial load without isolation mechanisms',
        paper: 'native Linux: “unusable” for the benchmarks (no figure)',
        ours: worstCtl ? ctl.map((x) => `${x.c}: OSDB ${pct(x.osdb)}, web ${pct(x.web)} lower`).join('; ') : '—',
        holds: worstCtl ? Math.max(worstCtl.osdb?.mean ?? 0, worstCtl.web?.mean ?? 0) > 0.25 : null,
        criterion: 'with no mechanism, some useful domain over 25 % lower',
      },
    ],
    differences: [
      'Workloads. OSDB-IR (PostgreSQL queries) is modelled as a domain doing CPU work per query with a random 4 KiB read from its virtual disk per query, a few queries in flight; SPEC WEB99 as a UDP request/response server with CPU work per request, driven by closed-loop clients in a cpupool of their own (the paper’s client machines). Throughput is queries or requests completed per second, counted in the guests. There is no file system, buffer cache, TCP or Apache: the figures compare in shape, not in units.',
      'Antisocial domains, as in the paper: a disk hog (sequential 64 KiB writes, many in flight — dd; the paper’s second load, many small files in large directories, is not modelled) and a CPU and memory hog (a fork bomb filling its process table beside a memory hog that grows to its reservation, is refused, frees everything and starts again). Memory is partitioned by reservations, so the memory hog cannot take the others’ memory; there is no paging to thrash, which is half of why native Linux became unusable in the paper.',
      'Mechanisms and the control. With isolation: blkback’s round-robin batches between vbds (the paper’s VBD scheduler) and per-domain CPU scheduling with equal weights. The control turns them off: one FIFO request queue for every vbd, and CPU weights as a per-process scheduler would give them (the fork bomb’s domain weighted by its process count, as native Linux would share the CPU among its processes). BVT keeps a run queue per pCPU and never moves a domain: the web server shares its pCPU with the fork bomb, the query domain with the disk hog — so the CPU control starves the web server and the disk is what the query domain feels.',
      'The disk. The query domain’s drop is its reads waiting behind the disk hog’s writes (a read takes about 40 ms instead of 9), and the round-robin batches do not prevent it: fifo-disk gives the same figures as isolated. A frontend’s ring has 32 slots, so the hog never has more than 32 requests at the disk, and blkback refills the disk’s queue whenever fewer than 32 are pending (the paper’s low-water mark): every refill takes whatever has arrived, so requests reach the disk in arrival order under either policy, and a read waits behind the hog’s ~30 queued writes. Round robin only holds a hog back when it has more than the low-water mark outstanding (blkback’s own unit test shows it). The paper calls its 4 % “somewhat fortuitous” given its simple disk scheduler; our query domain reads from disk on 10 % of its queries, a guess at a buffer-cache miss rate, and its drop follows that guess.',
      'The drivers. In Xen 1.0 the disk and network drivers ran inside the hypervisor and never waited for a slice; ours run in driver domains scheduled by BVT like any guest. We give the driver domains weight 8 (ddweight) so that a woken driver domain runs ahead of CPU-bound guests; with weight 1 the network driver domain waits behind the fork bomb and the web server’s drop grows from about 5 % to about 8 %.',
      'What remains with isolation is the cost the paper names: extra context switches and cache refills (the sosp03 cost model), and the disk head moving between the query domain’s reads and the hog’s writes.',
    ],
  };
}

// ------------------------------------------------------------------ §4.3 concurrent virtual machines

function concurrent(res: SweepResults): PaperComparison {
  const isDiff = (s: ComboSummary) => String(s.params.wt ?? 1) !== '1';
  const eq = res.summary.filter((s) => !isDiff(s));
  const ns = [...new Set(num(eq.map((s) => s.params.n)))].sort((a, b) => a - b);
  const agg = (n: number) => bySeed(res, eq.find((s) => same(s.params.n, n)), (r) => r.groups.filter((g) => g.group === 'web').reduce((a, g) => a + (g.throughput ?? 0), 0));
  const a1 = ns.includes(1) ? agg(1) : null;
  const a2 = ns.includes(2) ? agg(2) : null;
  const nMax = ns[ns.length - 1];
  const aMax = nMax !== undefined ? agg(nMax) : null;
  const ratio = (a: Map<number, number> | null, b: Map<number, number> | null) => {
    if (!a || !b) return null;
    const xs: number[] = [];
    for (const [seed, x] of a) if (b.has(seed) && b.get(seed)! > 0) xs.push(x / b.get(seed)!);
    return ci(xs);
  };
  const r21 = ratio(a2, a1);
  const peak = ns.length ? Math.max(...ns.map((n) => ci(agg(n).values())?.mean ?? 0)) : 0;
  const rMax = aMax && peak > 0 ? ci([...aMax.values()].map((x) => x / peak)) : null;
  const diff = res.summary.find(isDiff);
  let diffErr: MeanCI | null = null;
  let diffErrCpu: MeanCI | null = null;
  if (diff) {
    const xs: number[] = [];
    const ys: number[] = [];
    const err = (ds: RunResult['domains']) => {
      const tot = ds.reduce((a, d) => a + d.throughput!, 0);
      const wsum = ds.reduce((a, d) => a + d.weight, 0);
      return tot > 0 ? Math.max(...ds.map((d) => Math.abs(d.throughput! / tot / (d.weight / wsum) - 1))) : null;
    };
    for (const r of runsOf(res, diff)) {
      const web = r.domains.filter((d) => d.group === 'web' && d.throughput !== null);
      const e = err(web);
      if (e !== null) xs.push(e);
      // BVT keeps a run queue per pCPU: where each server ran (from the window's timeline)
      const cpuOf = placement(r);
      const byCpu = new Map<number, RunResult['domains']>();
      for (const d of web) {
        const c = cpuOf.get(r.domains.indexOf(d));
        if (c === undefined) continue;
        if (!byCpu.has(c)) byCpu.set(c, []);
        byCpu.get(c)!.push(d);
      }
      const per = [...byCpu.values()].map(err).filter((x): x is number => x !== null);
      if (per.length) ys.push(Math.max(...per));
    }
    diffErr = ci(xs);
    diffErrCpu = ci(ys);
  }
  return {
    chart: {
      kind: 'line',
      title: 'Aggregate throughput of n servers (equal weights)',
      caption: 'Requests per second completed by all the servers together against the number of server domains (mean over seeds, 95% CI). The paper’s Figures 4 and 5 have the same shape: a second domain on the second CPU nearly doubles throughput; more lose a little.',
      xTitle: 'server domains',
      yTitle: 'requests / s (all servers)',
      rows: ns.flatMap((n) => row(n, 'ours', ci(agg(n).values()))),
      logX: true,
    },
    title: 'Concurrent virtual machines (§4.3, Figures 4 and 5)',
    source: 'Barham et al., SOSP 2003, §4.3 (paper.md §2.5)',
    rows: [
      {
        claim: 'A second domain on the second CPU',
        paper: 'OSDB: “almost doubles” throughput; SPEC WEB99: one domain already gains 9 % from interrupt work moved to the idle CPU',
        ours: r21 ? `2 domains: ${fmt(r21, 1, '×', 2)} the throughput of 1` : '—',
        holds: r21 ? r21.mean > 1.6 : null,
        criterion: 'over 1.6×',
      },
      {
        claim: `More domains (${nMax ?? '—'})`,
        paper: 'lose a little to context switches and disk-head movement; Xen within a few % of native SMP Linux',
        ours: rMax ? `${nMax} domains: ${pct(rMax)} of the best aggregate` : '—',
        holds: rMax ? rMax.mean > 0.85 : null,
        criterion: 'within 15 % of the best',
      },
      {
        claim: '8(diff): 8 domains with BVT weights 1..8 (mcu_advance only)',
        paper: 'OSDB-IR: each within 4 % of its expected share; OLTP not proportional (weak disk scheduler)',
        ours: diff ? `largest |share error| of throughput: ${pct(diffErr)} against w / Σw over all 8; ${pct(diffErrCpu)} against the weights sharing each pCPU` : 'not in these results (--param servers=8(diff))',
        holds: diffErr ? diffErr.mean < 0.1 : null,
        criterion: 'under 10 % against w / Σw',
      },
    ],
    differences: [
      'The server is a UDP request/response server with a fixed CPU cost per request (our network workload), not Apache under SPEC WEB99 or PostgreSQL under OSDB: the metric is requests per second, not conformant clients or tuples per second, so only the shape compares. Clients are closed-loop load generators in a cpupool of their own (the paper’s client machines), each keeping a few requests in flight to one server.',
      'Our one-domain point is a uniprocessor domain on two pCPUs: the driver domain (netback) and dom0 run on the other pCPU, which is the paper’s +9 % from moving interrupt work to the idle CPU.',
      'Native Linux (one SMP kernel running N servers, or chrooted PostgreSQL instances) is not modelled, so the paper’s comparisons with it (within a few %, 25–35 % below Xen for OSDB) have no counterpart here.',
      '8(diff) uses SOSP-era BVT: weights only through mcu_advance (840 / weight, exact for 1..8), no warp, Xen 1.0’s slice arithmetic. Shares are measured as each server’s share of the completed requests against weight over the weights. BVT keeps one run queue per pCPU and places domains round robin as they are created, never moving them: servers 1, 3, 5, 7 share one pCPU and 2, 4, 6, 8 the other (with the network driver domain), so weights hold within each pCPU (1/16 … 7/16 and 2/20 … 8/20 of it) but not across the machine, where w / Σw asks for 1/36 … 8/36 of both pCPUs: up to ±12 % by construction. How the paper’s 8 domains were placed is not stated.',
    ],
  };
}

export const PAPER_COMPARISONS: Record<string, (res: SweepResults) => PaperComparison> = {
  scalability,
  'bvt-latency': bvtLatency,
  isolation,
  concurrent,
};

/** The comparison for these results' scenario, or null when it is not one of the paper's. */
export function paperComparison(res: SweepResults): PaperComparison | null {
  const f = Object.hasOwn(PAPER_COMPARISONS, res.scenario.name) ? PAPER_COMPARISONS[res.scenario.name] : undefined;
  return f ? f(res) : null;
}

/** Plain text for the terminal. */
export function formatPaperComparison(c: PaperComparison): string {
  const out = [`Beside the paper — ${c.title} (${c.source})`];
  for (const r of c.rows) {
    out.push(`  ${r.holds === null ? '·' : r.holds ? '✓' : '✗'} ${r.claim}`);
    out.push(`      paper: ${r.paper}`);
    out.push(`      ours:  ${r.ours}`);
    out.push(`      (${r.holds === null ? 'not measured here' : r.holds ? 'holds' : 'does not hold'}: ${r.criterion})`);
  }
  return out.join('\n');
}
