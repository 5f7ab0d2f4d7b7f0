/**
 * One run of a resolved scenario with one seed — a pure function of (scenario, seed): the same
 * inputs give the same RunResult on any thread or machine (nothing here reads the wall clock).
 *
 * The host boots with dom0; a dom0 job creates the cpupools, sets their scheduler parameters,
 * builds every domain paused (with its scheduler parameters, reservation and devices), then all are
 * unpaused at one instant. After the warm-up a dom0 job samples, at one virtual instant, every
 * domain's CPU time (getdomaininfo) and its work counters (the guest's counters page, mapped with
 * Xc.mapForeign: the toolstack reads the guest's own count); a second sample closes the window.
 * Wake-up latencies and per-pCPU occupancy come from the trace (runstate and switch records), for
 * wake-ups and stints within the window. Metric definitions: docs/metrics.md.
 */
import { SHUTDOWN, TraceBus, type Hypervisor, type TraceRecord } from '@xenotype/core';
import { Host } from '../host/host';
import { defaultRegistry } from '../host/registry';
import { buildDomain } from '../toolstack/builder';
import { setDomainSchedParams, setPoolSchedParams } from '../toolstack/sched';
import { PcpuTimeline, WakeLatency, cdfPoints, normalizedThroughput, percentile, shares, summarize, throughputPerSec } from '../metrics';
import type { ResolvedScenario, Scalar } from '../scenario/types';
import { isScenarioDevice, type ScenarioDevice } from './devices';
import type { Registry } from '@xenotype/core';
import type { Xc } from '../xc/xc';
import { Xenstored } from '../xenstored/service';
import { introduceDomain } from '../toolstack/xenstore';
import { weightParams } from '../scenario/load';

/** xenstored's per-domain quotas in experiment runs (Xen's defaults: 10 transactions, 128 watches, 1000 nodes). */
export const RUNNER_XENSTORE_QUOTAS = { transactions: 256, watches: 4096, nodes: 16384 };

/** Changes when a RunResult's meaning changes; remote workers refuse jobs of another version. */
export const RESULT_FORMAT = 'xenotype-run/1';

export interface LatencyResult {
  n: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  /** Quantiles at 0, 1, …, 100 % (ns); [] without samples. */
  cdf: number[];
}

export interface DomainResult {
  name: string;
  group: string;
  domid: number;
  pool: string;
  vcpus: number;
  weight: number;
  /** CPU time used in the window (ns). */
  cpuNs: number;
  /** Among the domains measured for share (else null). */
  share: number | null;
  entitled: number | null;
  shareError: number | null;
  /** Work units done in the window, from the guest's counters page (null: not measured or no counters). */
  workUnits: number | null;
  /** Work units per second. */
  throughput: number | null;
  latency: LatencyResult | null;
  /** The guest's counters at the end of the window ([0] work units; [3..7] workload-specific). */
  counters: number[] | null;
  crashed: boolean;
}

export interface GroupResult {
  group: string;
  domains: number;
  cpuNs: number;
  share: number | null;
  entitled: number | null;
  throughput: number | null;
  /** Wake-ups of all the group's measured domains pooled. */
  latency: LatencyResult | null;
}

export interface RunResult {
  format: string;
  id: string;
  /** Index of the parameter combination in the sweep. */
  combo: number;
  seed: number;
  params: Record<string, Scalar>;
  status: 'ok' | 'failed';
  error: string | null;
  window: { startNs: number; endNs: number; ns: number };
  domains: DomainResult[];
  groups: GroupResult[];
  aggregate: {
    guests: number;
    /** Sum of the measured domains' work units per second. */
    throughput: number | null;
    /** See metrics.ts normalizedThroughput; null when no measured workload has a fixed CPU cost per unit. */
    normalizedThroughput: number | null;
    maxShareError: number | null;
    /** Share of the window the pCPUs were busy (any domain but idle). */
    busy: number;
    switches: number;
  };
  pcpus: { cpu: number; pool: string; busyNs: number; switches: number }[];
  /** Who ran where for the first timelineNs of the window: [cpu, start, end, domain index or -1 idle, -2 dom0]. */
  timeline: { ns: number; segments: [number, number, number, number][] } | null;
  invariantErrors: string[];
  engineEvents: number;
}

export interface RunOptions {
  id?: string;
  combo?: number;
  registry?: Registry;
  /** Called with the trace bus before the host boots (attach trace writers here: dom0's boot is traced too). */
  onTrace?: (bus: TraceBus) => void;
  /** Called with the host once dom0 has booted, before anything else is built. */
  onHost?: (host: Host) => void;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
const r3 = (x: number) => Math.round(x * 1e3) / 1e3;

function latencyOf(samples: number[]): LatencyResult {
  if (samples.length === 0) return { n: 0, mean: null, p50: null, p90: null, p99: null, max: null, cdf: [] };
  const s = summarize(samples);
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: s.n, mean: s.mean, p50: s.p50, p90: percentile(sorted, 90), p99: s.p99, max: s.max, cdf: cdfPoints(sorted) };
}

const COUNTERS_RE = /counters@gfn (\d+)/;
const NR_COUNTERS = 8;

interface Sample {
  t: number;
  cpu: number[];
  counters: (number[] | null)[];
  crashed: boolean[];
}

function sample(xc: Xc, ids: number[], gfns: Map<number, number>, now: () => number): Sample {
  const cpu: number[] = [];
  const counters: (number[] | null)[] = [];
  const crashed: boolean[] = [];
  for (const id of ids) {
    const info = xc.domainGetInfo(id);
    cpu.push(info?.cpuTime ?? 0);
    crashed.push(!!info && info.shutdown && info.shutdownCode === SHUTDOWN.crash);
    const gfn = gfns.get(id);
    let c: number[] | null = null;
    if (gfn !== undefined && info && !info.dying) {
      try {
        const [a] = xc.mapForeign(id, [gfn]);
        try {
          c = Array.from({ length: NR_COUNTERS }, (_, i) => xc.os.cpu.mem.getU64(a + i * 8));
        } finally {
          xc.unmapForeign([a]);
        }
      } catch {
        c = null;
      }
    }
    counters.push(c);
  }
  return { t: now(), cpu, counters, crashed };
}

export function runScenario(sc: ResolvedScenario, seed: number, opts: RunOptions = {}): RunResult {
  const base = {
    format: RESULT_FORMAT,
    id: opts.id ?? `seed=${seed}`,
    combo: opts.combo ?? 0,
    seed,
    params: sc.params,
  };
  try {
    return { ...base, ...execute(sc, seed, opts) };
  } catch (e) {
    return {
      ...base,
      status: 'failed',
      error: (e as Error)?.message ?? String(e),
      window: { startNs: 0, endNs: 0, ns: 0 },
      domains: [],
      groups: [],
      aggregate: { guests: sc.domains.length, throughput: null, normalizedThroughput: null, maxShareError: null, busy: 0, switches: 0 },
      pcpus: [],
      timeline: null,
      invariantErrors: [],
      engineEvents: 0,
    };
  }
}

function execute(sc: ResolvedScenario, seed: number, opts: RunOptions): Omit<RunResult, 'format' | 'id' | 'combo' | 'seed' | 'params'> {
  const registry = opts.registry ?? defaultRegistry();
  const pools = sc.host.pools;
  const trace = new TraceBus();
  opts.onTrace?.(trace);
  const devTypes = [...new Set(sc.domains.flatMap((d) => d.devices.map((x) => x.type)))];
  // split drivers find each other through xenstore: run xenstored in dom0 when there are devices,
  // with per-domain quotas raised as for a host with many domains (C xenstored's --transaction,
  // --watch-nb, --entry-nb): one driver domain handshakes with every guest's device at once
  const xsd = devTypes.length > 0 ? new Xenstored({ quotas: RUNNER_XENSTORE_QUOTAS }) : null;
  const host = new Host(
    {
      cpus: sc.host.cpus,
      memoryMiB: sc.host.memoryMiB,
      scheduler: pools[0].scheduler,
      seed,
      costs: sc.host.costs,
      dom0: { memoryMiB: sc.host.dom0.memoryMiB, vcpus: sc.host.dom0.vcpus },
      trace,
      ...(xsd ? { services: [xsd] } : {}),
    },
    registry,
  );
  const devices = devTypes.map((t) => registry.device<unknown>(t));
  try {
    opts.onHost?.(host);
    return measure(sc, host, registry, xsd, devTypes, opts);
  } finally {
    for (const d of devices) if (isScenarioDevice(d)) d.dispose?.(host);
  }
}

function measure(sc: ResolvedScenario, host: Host, registry: Registry, xsd: Xenstored | null, devTypes: string[], opts: RunOptions): Omit<RunResult, 'format' | 'id' | 'combo' | 'seed' | 'params'> {
  const pools = sc.host.pools;
  const hv: Hypervisor = host.hv;
  const bus = hv.trace;

  // Observers from the start: guests announce their counters page on the console at boot.
  const gfns = new Map<number, number>();
  const timeline = new PcpuTimeline(sc.host.nrCpus);
  const unsubs = [
    bus.subscribe((r: TraceRecord) => {
      if (r.type === 'console') {
        const m = COUNTERS_RE.exec(r.text);
        if (m && !gfns.has(r.dom)) gfns.set(r.dom, Number(m[1]));
      }
    }),
    bus.subscribe(timeline.observe),
  ];

  const ops = pools.map((p) => registry.scheduler(p.scheduler));
  const built = host.run('build', function* (sys) {
    const { xc } = sys;
    const xs = xsd?.client(sys.os) ?? null;
    const poolIds = [0];
    for (const p of pools.slice(1)) {
      for (const c of p.cpus) xc.cpupoolRemoveCpu(0, c);
      const id = xc.cpupoolCreate(ops[p.index].schedId);
      for (const c of p.cpus) xc.cpupoolAddCpu(id, c);
      poolIds.push(id);
    }
    pools.forEach((p, i) => setPoolSchedParams(xc, ops[i], poolIds[i], p.params));
    setDomainSchedParams(xc, ops[0], 0, sc.host.dom0.sched);
    for (const t of devTypes) {
      const dev = registry.device<unknown>(t);
      if (!isScenarioDevice(dev)) throw new Error(`device "${t}" is registered but is not a ScenarioDevice (no attach hook)`);
      if (dev.setupHost)
        yield* dev.setupHost({
          host,
          sys,
          xs: xs!,
          schedFor: (w) => weightParams(ops[0], w),
          uses: sc.domains.flatMap((d) => d.devices.filter((x) => x.type === t).map((x) => ({ domain: d.name, params: x.params }))),
        });
    }
    const ids: number[] = [];
    for (const d of sc.domains) {
      const b = buildDomain(xc, { name: d.name, memoryMiB: d.memoryMiB, vcpus: d.vcpus, kernel: d.workload.kernel, cmdline: d.workload.cmdline, cpupool: poolIds[d.pool], paused: true });
      if (xs) yield* introduceDomain(xs, b);
      if (d.maxMemoryMiB > d.memoryMiB) xc.domainMaxMem(b.domid, d.maxMemoryMiB * 1024);
      setDomainSchedParams(xc, ops[d.pool], b.domid, d.sched);
      for (const x of d.devices) yield* registry.device<ScenarioDevice>(x.type).attach({ host, sys, xs: xs!, domid: b.domid, domain: d.name, params: x.params });
      ids.push(b.domid);
    }
    return { ids, poolIds };
  });
  const ids = built.ids;
  opts.log?.(`built ${ids.length} domains in ${pools.length} pool(s); warm-up ${sc.warmupNs / 1e6} ms`);

  const latIdx = sc.domains.map((d, i) => (d.measure.latency ? i : -1)).filter((i) => i >= 0);
  const lat = new WakeLatency(new Set(latIdx.map((i) => ids[i])));
  lat.from = Infinity;
  unsubs.push(bus.subscribe(lat.observe));

  host.run('start', function* ({ xc }) {
    for (const id of ids) xc.domainUnpause(id);
  });
  host.runFor(sc.warmupNs);
  const now = () => host.now;
  const s0 = host.run('sample-start', function* ({ xc }) {
    const s = sample(xc, ids, gfns, now);
    lat.from = s.t;
    timeline.open(s.t, sc.timelineNs);
    return s;
  });
  host.runFor(sc.durationNs);
  const s1 = host.run('sample-end', function* ({ xc }) {
    const s = sample(xc, ids, gfns, now);
    lat.to = s.t;
    timeline.finish(s.t);
    return s;
  });
  for (const u of unsubs) u();
  const windowNs = s1.t - s0.t;
  opts.log?.(`measured ${(windowNs / 1e6).toFixed(1)} ms of virtual time`);

  // per domain
  const cpuNs = ids.map((_, i) => s1.cpu[i] - s0.cpu[i]);
  const shareIdx = sc.domains.map((d, i) => (d.measure.share ? i : -1)).filter((i) => i >= 0);
  const shareRows = shares(shareIdx.map((i) => ({ name: sc.domains[i].name, weight: sc.domains[i].weight, cpuNs: cpuNs[i] })));
  const shareOf = new Map(shareIdx.map((i, k) => [i, shareRows[k]]));
  const samplesOf = (i: number) => lat.samples.get(ids[i]) ?? [];
  const domains: DomainResult[] = sc.domains.map((d, i) => {
    const sh = shareOf.get(i);
    const c0 = s0.counters[i];
    const c1 = s1.counters[i];
    const units = d.measure.throughput && c0 && c1 ? c1[0] - c0[0] : null;
    return {
      name: d.name,
      group: d.group,
      domid: ids[i],
      pool: pools[d.pool].name,
      vcpus: d.vcpus,
      weight: d.weight,
      cpuNs: cpuNs[i],
      share: sh ? r6(sh.share) : null,
      entitled: sh ? r6(sh.entitled) : null,
      shareError: sh ? r6(sh.error) : null,
      workUnits: units,
      throughput: units === null ? null : r3(throughputPerSec(units, windowNs)),
      latency: d.measure.latency ? latencyOf(samplesOf(i)) : null,
      counters: c1,
      crashed: s1.crashed[i],
    };
  });

  // per group (in order of first appearance)
  const groupNames = [...new Set(sc.domains.map((d) => d.group))];
  const groups: GroupResult[] = groupNames.map((g) => {
    const idx = sc.domains.map((d, i) => (d.group === g ? i : -1)).filter((i) => i >= 0);
    const mine = idx.map((i) => domains[i]);
    const withShare = mine.filter((d) => d.share !== null);
    const withTp = mine.filter((d) => d.throughput !== null);
    const withLat = idx.filter((i) => sc.domains[i].measure.latency);
    return {
      group: g,
      domains: idx.length,
      cpuNs: mine.reduce((a, d) => a + d.cpuNs, 0),
      share: withShare.length ? r6(withShare.reduce((a, d) => a + d.share!, 0)) : null,
      entitled: withShare.length ? r6(withShare.reduce((a, d) => a + d.entitled!, 0)) : null,
      throughput: withTp.length ? r3(withTp.reduce((a, d) => a + d.throughput!, 0)) : null,
      latency: withLat.length ? latencyOf(withLat.flatMap(samplesOf)) : null,
    };
  });

  // aggregate
  const tpIdx = sc.domains.map((d, i) => (d.measure.throughput && domains[i].workUnits !== null ? i : -1)).filter((i) => i >= 0);
  const unitIdx = tpIdx.filter((i) => sc.domains[i].workload.unitNs !== null);
  const workNs = unitIdx.reduce((a, i) => a + domains[i].workUnits! * sc.domains[i].workload.unitNs!, 0);
  const poolsUsed = [...new Set(unitIdx.map((i) => sc.domains[i].pool))];
  const usable = Math.min(
    poolsUsed.reduce((a, p) => a + pools[p].cpus.length, 0),
    unitIdx.reduce((a, i) => a + sc.domains[i].vcpus, 0),
  );
  const poolOfCpu = (c: number) => pools.find((p) => p.cpus.includes(c))?.name ?? '';
  const busyNs = timeline.busyNs.reduce((a, b) => a + b, 0);
  const errs = hv.checkInvariants();

  // timeline: domain index, -1 idle, -2 dom0, -3 other
  const domIndex = new Map(ids.map((id, i) => [id, i]));
  const segs = timeline.segments.map((s): [number, number, number, number] => [s.cpu, s.start, s.end, s.dom === 32767 ? -1 : s.dom === 0 ? -2 : (domIndex.get(s.dom) ?? -3)]);

  return {
    status: errs.length > 0 ? 'failed' : 'ok',
    error: errs.length > 0 ? `invariant violated: ${errs[0]}` : null,
    window: { startNs: s0.t, endNs: s1.t, ns: windowNs },
    domains,
    groups,
    aggregate: {
      guests: sc.domains.length,
      throughput: tpIdx.length ? r3(tpIdx.reduce((a, i) => a + domains[i].throughput!, 0)) : null,
      normalizedThroughput: unitIdx.length ? r6(normalizedThroughput(workNs, windowNs, usable)) : null,
      maxShareError: shareRows.length ? r6(Math.max(...shareRows.map((s) => Math.abs(s.error)))) : null,
      busy: r6(busyNs / (windowNs * sc.host.nrCpus)),
      switches: timeline.switches.reduce((a, b) => a + b, 0),
    },
    pcpus: timeline.busyNs.map((b, c) => ({ cpu: c, pool: poolOfCpu(c), busyNs: b, switches: timeline.switches[c] })),
    timeline: sc.timelineNs > 0 ? { ns: Math.min(sc.timelineNs, windowNs), segments: segs } : null,
    invariantErrors: errs.slice(0, 10),
    engineEvents: hv.engine.executed,
  };
}
