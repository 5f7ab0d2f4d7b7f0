/**
 * Benchmarks. Each figure stands beside a baseline measured in the same run, and the ratio is what
 * to compare across machines (absolute times vary with load; ratios hold).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, EventHeap, Rng, ms, sec, type Hypervisor } from '@xenotype/core';
import { bvtCtl, bvtScheduler } from '@xenotype/sched-bvt';
import { Host } from '../host/host';
import { SCHEDULERS } from '../host/registry';
import { buildDomain } from '../toolstack/builder';
import { setPoolSchedParams } from '../toolstack/sched';
import { PerfettoTraceWriter } from '../trace/perfetto';
import { XentraceWriter } from '../trace/xentrace';
import type { Xc } from '../xc/xc';
import { runXenstoreBench, xenstoreBenchUnavailable } from './xenstore';
import { runKvRingBench } from './rings';
import { runBlkifBench } from './blkif';
import { kvmBenchUnavailable, runKvmBlkifBench, runKvmBvtShares, runKvmExitBench, simBlkifMiBs } from './kvm';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defaultRegistry } from '../host/registry';
import { Scenario, readScenario } from '../scenario/load';
import { runScenario } from '../runner/run';

export interface BenchResult {
  name: string;
  figure: number;
  unit: string;
  baseline: number;
  baselineUnit: string;
  ratio: number;
  line: string;
  extra?: Record<string, number>;
}

const wall = () => performance.now();

/** A bare binary-heap loop: pop the earliest event, push one a random delay later. */
function bareHeapLoop(events: number, seed: number): number {
  const h = new EventHeap();
  const r = new Rng(seed);
  let seq = 0;
  for (let i = 0; i < 64; i++) h.push({ time: r.int(0, 1000), prio: 0, seq: seq++, fn: () => {} });
  const t0 = wall();
  for (let i = 0; i < events; i++) {
    const e = h.pop()!;
    h.push({ time: e.time + r.int(1, 1000), prio: 0, seq: seq++, fn: e.fn });
  }
  return wall() - t0;
}

function engineEvents(): BenchResult {
  const n = 2_000_000;
  const e = new Engine(7);
  const r = new Rng(7);
  let left = n;
  const tick = () => {
    if (--left > 0) e.after(r.int(1, 1000), 0, tick);
  };
  for (let i = 0; i < 64; i++) e.after(r.int(0, 1000), 0, tick);
  const t0 = wall();
  e.run();
  const engineMs = wall() - t0;
  const bareMs = bareHeapLoop(e.executed, 7);
  const eps = e.executed / (engineMs / 1000);
  const bare = e.executed / (bareMs / 1000);
  return result('engine-events', eps, 'events/s', bare, 'heap ops/s', eps / bare);
}

function pingpong(): BenchResult {
  const rounds = 20_000;
  const host = new Host({ cpus: 3, memoryMiB: 256, scheduler: 'rr', seed: 1 });
  const ids = host.run('build', function* ({ xc }) {
    return setupPingPong(xc, rounds);
  });
  const e0 = host.hv.engine.executed;
  const t0 = wall();
  host.run('wait', function* ({ xc, os }) {
    while (!xc.domainGetInfo(ids.ping)?.shutdown) yield* os.sleep(ms(1));
  }, sec(600));
  const simMs = wall() - t0;
  const events = host.hv.engine.executed - e0;
  const bareMs = bareHeapLoop(events, 3);
  const rtps = rounds / (simMs / 1000);
  const baseline = rounds / (bareMs / 1000);
  return result('evtchn-pingpong', rtps, 'round trips/s', baseline, 'round trips/s of a bare heap loop with the same event count', rtps / baseline, { events });
}

/**
 * Two domains joined by an interdomain event channel that the toolstack prepares before they boot:
 * pong's unbound port names ping's (requested) domid and reaches pong on its command line.
 */
export function setupPingPong(xc: Xc, rounds: number, pingId = 100, pongId = 101): { ping: number; pong: number } {
  let port = 0;
  buildDomain(xc, {
    name: 'pong',
    domid: pongId,
    memoryMiB: 8,
    vcpus: 1,
    kernel: 'minios-pingpong',
    cmdline: (id) => `role=pong port=${(port = xc.evtchnAllocUnbound(id, pingId))}`,
  });
  buildDomain(xc, { name: 'ping', domid: pingId, memoryMiB: 8, vcpus: 1, kernel: 'minios-pingpong', cmdline: `role=ping remote=${pongId} rport=${port} rounds=${rounds}` });
  return { ping: pingId, pong: pongId };
}

function sim128(): BenchResult {
  const host = new Host({ cpus: 2, memoryMiB: 4096, scheduler: 'bvt', seed: 1 });
  host.run('build', function* ({ xc }) {
    xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: ms(5) });
    for (let i = 0; i < 128; i++) buildDomain(xc, { name: `hog${i}`, memoryMiB: 16, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)} ws=${256 * 1024}` });
    return 0;
  });
  const e0 = host.hv.engine.executed;
  const t0 = wall();
  host.runFor(sec(60));
  const simMs = wall() - t0;
  const events = host.hv.engine.executed - e0;
  const decisions = host.hv.fw.pcpus.reduce((a, p) => a + p.decisions, 0);
  const bareMs = bareHeapLoop(events, 5);
  return result('sim-128-domains', simMs, 'ms wall for 60 s virtual', bareMs, 'ms bare heap (same event count)', simMs / bareMs, { events, decisions, speedup: 60_000 / simMs });
}

/**
 * Pool parameters that make the policies comparable in the benchmarks: the paper's 5 ms slice where
 * a policy's default is something else for historical reasons. Every other policy — including ones
 * registered later — runs with its own defaults.
 */
export const BENCH_POOL_PARAMS: Readonly<Record<string, Record<string, number>>> = {
  rr: { slice: ms(5) },
  bvt: { ctx_allow: ms(5) },
};

/** A host with `n` CPU-bound domains under `scheduler` (built, not yet run). */
function hogHost(scheduler: string, cpus: number, n = 128): Host {
  const host = new Host({ cpus, memoryMiB: 4096, scheduler, seed: 1 });
  const ops = host.registry.scheduler(scheduler);
  host.run('build', function* ({ xc }) {
    const params = BENCH_POOL_PARAMS[scheduler];
    if (params) setPoolSchedParams(xc, ops, 0, params);
    for (let i = 0; i < n; i++) buildDomain(xc, { name: `hog${i}`, memoryMiB: 16, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)} ws=${256 * 1024}` });
    return 0;
  });
  return host;
}

const decisionsOf = (hv: Hypervisor) => hv.fw.pcpus.reduce((a, p) => a + p.decisions, 0);

/**
 * Trace export overhead: the 128-domain run (BVT, 2 pCPUs, 5 ms) for 60 s of virtual time with a
 * writer attached, against the same run without: after a warm-up run, each measured five times,
 * alternating, best of five (the machine's other load only ever adds time). The writer's final
 * flush counts.
 */
function traceOverhead(format: 'xentrace' | 'perfetto'): BenchResult {
  const secs = 60;
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-bench-'));
  try {
    const once = (traced: boolean) => {
      const host = hogHost('bvt', 2);
      const file = join(dir, format === 'xentrace' ? 'bench.xentrace' : 'bench.json');
      const w = !traced ? null : format === 'xentrace' ? new XentraceWriter(file, { pcpus: 2, tscHz: host.hv.tscHz }) : new PerfettoTraceWriter(file);
      w?.attach(host.hv.trace);
      const t0 = wall();
      host.runFor(sec(secs));
      w?.close();
      return { ms: wall() - t0, records: w?.records ?? 0, bytes: w ? statSync(file).size : 0 };
    };
    let base = Infinity;
    let traced = { ms: Infinity, records: 0, bytes: 0 };
    once(false);
    for (let i = 0; i < 5; i++) {
      base = Math.min(base, once(false).ms);
      const t = once(true);
      if (t.ms < traced.ms) traced = t;
    }
    return result(`trace-${format}`, traced.ms, `ms wall for ${secs} s virtual, traced`, base, 'ms untraced', traced.ms / base, {
      records: traced.records,
      MiB: traced.bytes / 2 ** 20,
      'records/s': traced.records / (traced.ms / 1000),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Scheduling decisions per second of wall time, for every registered policy with 128 CPU-bound
 * domains on 2 and on 16 pCPUs (10 s of virtual time each), beside a bare binary-heap loop of the
 * same event count (best of three): the baseline is the decision rate if each event cost only a heap
 * operation. Policies registered in host/registry.ts are picked up as they are added.
 */
function schedDecisions(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const s of SCHEDULERS)
    for (const cpus of [2, 16]) {
      const host = hogHost(s.optName, cpus);
      const d0 = decisionsOf(host.hv);
      const e0 = host.hv.engine.executed;
      const t0 = wall();
      host.runFor(sec(10));
      const simMs = wall() - t0;
      const decisions = decisionsOf(host.hv) - d0;
      const events = host.hv.engine.executed - e0;
      const bareMs = Math.min(bareHeapLoop(events, 9), bareHeapLoop(events, 9), bareHeapLoop(events, 9));
      const dps = decisions / (simMs / 1000);
      const bare = decisions / (bareMs / 1000);
      out.push(result(`sched-${s.optName}-${cpus}cpu`, dps, 'decisions/s', bare, 'decisions/s of a bare heap loop (same event count)', dps / bare, { decisions, events, policyErrors: host.hv.fw.policyErrors.length }));
    }
  return out;
}

function result(name: string, figure: number, unit: string, baseline: number, baselineUnit: string, ratio: number, extra?: Record<string, number>): BenchResult {
  const f = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : Number.isInteger(x) ? String(x) : x.toFixed(2));
  const line = `${name.padEnd(22)} ${f(figure)} ${unit}  |  baseline ${f(baseline)} ${baselineUnit}  |  ratio ${ratio.toFixed(3)}${extra ? '  ' + Object.entries(extra).map(([k, v]) => `${k}=${f(v)}`).join(' ') : ''}`;
  return { name, figure, unit, baseline, baselineUnit, ratio, line, extra };
}

/**
 * xenstore operations per second over the Unix socket from one persistent libxenstore client, `xt
 * host` against Xen 4.17's C xenstored driven by the same client in the same run (see
 * ./xenstore.ts). Three figures: reads, writes (overwrites), transactions (start + write + commit).
 */
function xenstoreSocket(): BenchResult[] {
  const why = xenstoreBenchUnavailable();
  if (why) return [{ name: 'xenstore-socket', figure: NaN, unit: 'ops/s', baseline: NaN, baselineUnit: 'ops/s', ratio: NaN, line: `${'xenstore-socket'.padEnd(22)} skipped: ${why}` }];
  const r = runXenstoreBench();
  const extra = (k: 'read' | 'write' | 'tx') => ({ rounds: r.rounds, ...(k === 'write' ? { write_new: r.ours.write_new, c_write_new: r.c.write_new } : {}) });
  return [
    result('xenstore-read', r.ours.read, 'reads/s (xt host)', r.c.read, 'reads/s (C xenstored, same client)', r.ours.read / r.c.read, extra('read')),
    result('xenstore-write', r.ours.write, 'writes/s (xt host)', r.c.write, 'writes/s (C xenstored, same client)', r.ours.write / r.c.write, extra('write')),
    result('xenstore-tx', r.ours.tx, 'transactions/s (xt host)', r.c.tx, 'transactions/s (C xenstored, same client)', r.ours.tx / r.c.tx, extra('tx')),
  ];
}

/**
 * blkif throughput (./blkif.ts): MiB/s of wall time for the simulation to move 32 MiB from a guest
 * through blkfront, blkback in a driver domain and into an image file, in 4 KiB and in 64 KiB
 * requests, beside copying the same bytes between Uint8Arrays in the same chunks.
 */
function blkif(): BenchResult[] {
  const mib = 32;
  return [4096, 65536].map((size) => {
    const r = runBlkifBench(size, mib);
    const sim = mib / (r.simMs / 1000);
    const copy = mib / (r.copyMs / 1000);
    return result(`blkif-${size / 1024}k`, sim, 'MiB/s (blkfront → blkback → file)', copy, 'MiB/s (Uint8Array copies)', sim / copy, { ringRequests: r.ringRequests, events: r.events, simMs: r.simMs });
  });
}

/**
 * Ring round trips per second for small requests (./rings.ts): a guest's kv frontend sends small
 * GETs one at a time to the kv backend in a driver domain (ring request, kick, answer, kick back,
 * through the simulated hypervisor), beside the toy loop without a hypervisor: the same round trips
 * between a FrontRing and a BackRing over one local page. `virtual` is the modelled rate.
 */
function kvRing(): BenchResult {
  const r = runKvRingBench(20_000);
  if (r.wrong) throw new Error(`kv bench: ${r.wrong} wrong answers`);
  const rtps = r.roundTrips / (r.simMs / 1000);
  const bare = r.roundTrips / (r.bareMs / 1000);
  return result('kv-ring-roundtrips', rtps, 'round trips/s (kv frontend ↔ backend in a driver domain)', bare, 'round trips/s (FrontRing ↔ BackRing, no hypervisor)', rtps / bare, {
    events: r.events,
    'virtual round trips/s': r.roundTrips / (r.virtualNs / 1e9),
  });
}

const XT = fileURLToPath(new URL('../../bin/xt.mjs', import.meta.url));

/**
 * The paper's Figure 6 at full size (`xt sweep scalability --preset full`: 1..128 domains × 5 and
 * 50 ms × 5 seeds, 20 s of virtual time each), run by the CLI in one thread (--jobs 0) and on every
 * core: wall time of each, the ratio is the speed-up of the parallel sweep.
 */
function scalabilitySweep(): BenchResult {
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-bench-sweep-'));
  try {
    const sweep = (jobs: number) => {
      const t0 = wall();
      execFileSync(process.execPath, [XT, 'sweep', 'scalability', '--preset', 'full', '--jobs', String(jobs), '--no-report', '--no-progress', '--out', join(dir, `j${jobs}`)], { stdio: 'ignore' });
      return wall() - t0;
    };
    const cores = availableParallelism();
    const serial = sweep(0);
    const parallel = sweep(cores);
    return result('scalability-sweep', parallel, `ms wall, full Figure 6 sweep on ${cores} cores`, serial, 'ms wall in one thread', serial / parallel, { cores, runs: 80 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Peak memory of the 128-domain run of Figure 6 (5 ms, the full preset's 20 s): the process's
 * resident set and V8 heap sampled during the run (every 20 000 trace records), beside the resident
 * set before it; and the machine frames the run made resident (4 KiB each, allocated on first touch).
 */
function scalabilityMemory(): BenchResult {
  const sc = new Scenario(readScenario('scalability'));
  const p = sc.preset('full');
  const resolved = sc.resolve([...p.params, { name: 'n', value: 128 }, { name: 'slice', value: '5ms' }], defaultRegistry());
  global.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  let frames = 0;
  let host: Host | null = null;
  let seen = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    if (host) frames = Math.max(frames, host.hv.store.residentFrames);
  };
  const t0 = wall();
  const r = runScenario(resolved, 1, { onHost: (h) => (host = h), onTrace: (bus) => bus.subscribe(() => void (++seen % 20_000 === 0 && sample())) });
  sample();
  const MiB = 2 ** 20;
  return result('scalability-128-memory', peakRss / MiB, 'MiB peak RSS, 128-domain run', before.rss / MiB, 'MiB RSS before it', peakRss / before.rss, {
    peakHeapMiB: peakHeap / MiB,
    residentFramesMiB: (frames * 4096) / MiB,
    framesPerDomain: frames / 129,
    wallMs: wall() - t0,
    ok: r.status === 'ok' ? 1 : 0,
  });
}

/**
 * The KVM backend (./kvm.ts), only where /dev/kvm is: hypercall round trip against a bare exit,
 * upcall latency, blkif throughput against the simulation's, BVT 1:2 shares from guest counters.
 */
function kvm(): BenchResult[] {
  const why = kvmBenchUnavailable();
  if (why) return [{ name: 'kvm', figure: NaN, unit: '', baseline: NaN, baselineUnit: '', ratio: NaN, line: `${'kvm'.padEnd(22)} skipped: ${why}` }];
  const e = runKvmExitBench();
  const us = (ns: number) => ns / 1000;
  const lat = [...e.upcallNs].sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  const mib = 8;
  const blk = runKvmBlkifBench(mib * 1024);
  const sim = simBlkifMiBs(mib);
  const bvt = runKvmBvtShares();
  return [
    result('kvm-hypercall', us(e.hypercallNs), 'µs per hypercall round trip (guest ring 3 → TypeScript → guest)', us(e.bareExitNs), 'µs per bare port-I/O exit (addon)', e.hypercallNs / e.bareExitNs, { bareExitGuestUs: us(e.bareExitGuestNs) }),
    result('kvm-upcall', us(mean), 'µs mean upcall latency (dom0 send → guest sees it)', us(e.bareExitNs), 'µs per bare exit', mean / e.bareExitNs, { p50: us(q(0.5)), p99: us(q(0.99)), max: us(lat[lat.length - 1]), samples: lat.length }),
    result('kvm-blkif', blk.writeMiBs, `MiB/s guest blkfront writes (${mib} MiB, 44 KiB × 8 in flight)`, sim, 'MiB/s the same bytes through the simulation (wall)', blk.writeMiBs / sim, { readMiBs: blk.readMiBs, verified: blk.ok ? 1 : 0 }),
    result('kvm-bvt-1:2', bvt.shares[1], 'share of work, weight-2 guest (its own counters)', bvt.entitled[1], 'entitled share', bvt.shares[1] / bvt.entitled[1], { weight1Share: bvt.shares[0] }),
  ];
}

export const BENCHMARKS: { name: string; run: () => BenchResult | BenchResult[] }[] = [
  { name: 'engine-events', run: engineEvents },
  { name: 'evtchn-pingpong', run: pingpong },
  { name: 'sim-128-domains', run: sim128 },
  { name: 'trace-xentrace', run: () => traceOverhead('xentrace') },
  { name: 'trace-perfetto', run: () => traceOverhead('perfetto') },
  { name: 'sched-decisions', run: schedDecisions },
  { name: 'xenstore-socket', run: xenstoreSocket },
  { name: 'kv-ring', run: kvRing },
  { name: 'blkif', run: blkif },
  { name: 'kvm', run: kvm },
  { name: 'scalability-sweep', run: scalabilitySweep },
  { name: 'scalability-memory', run: scalabilityMemory },
];

export function runBenchmarks(only?: string[], log?: (l: string) => void): BenchResult[] {
  const out: BenchResult[] = [];
  for (const b of BENCHMARKS) {
    if (only && !only.includes(b.name)) continue;
    log?.(`bench ${b.name}...`);
    const r = b.run();
    out.push(...(Array.isArray(r) ? r : [r]));
  }
  return out;
}
