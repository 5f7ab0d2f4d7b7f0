/**
 * Benchmarks. Each figure stands beside a baseline measured in the same run, and the ratio is what
 * to compare across machines (absolute times vary with load; ratios hold).
 */
import { Engine, EventHeap, Rng, ms, sec } from '@xenotype/core';
import { bvtCtl, bvtScheduler } from '@xenotype/sched-bvt';
import { Host } from '../host/host';
import { buildDomain } from '../toolstack/builder';
import type { Xc } from '../xc/xc';

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

function result(name: string, figure: number, unit: string, baseline: number, baselineUnit: string, ratio: number, extra?: Record<string, number>): BenchResult {
  const f = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
  const line = `${name.padEnd(18)} ${f(figure)} ${unit}  |  baseline ${f(baseline)} ${baselineUnit}  |  ratio ${ratio.toFixed(3)}${extra ? '  ' + Object.entries(extra).map(([k, v]) => `${k}=${f(v)}`).join(' ') : ''}`;
  return { name, figure, unit, baseline, baselineUnit, ratio, line, extra };
}

export const BENCHMARKS = [
  { name: 'engine-events', run: engineEvents },
  { name: 'evtchn-pingpong', run: pingpong },
  { name: 'sim-128-domains', run: sim128 },
];

export function runBenchmarks(only?: string[], log?: (l: string) => void): BenchResult[] {
  const out: BenchResult[] = [];
  for (const b of BENCHMARKS) {
    if (only && !only.includes(b.name)) continue;
    log?.(`bench ${b.name}...`);
    out.push(b.run());
  }
  return out;
}
