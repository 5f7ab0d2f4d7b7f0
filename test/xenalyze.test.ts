/**
 * xentrace export against Xen's own xenalyze (Debian xen-utils-common, /usr/bin/xenalyze).
 *
 * Scenarios on 2–4 pCPUs — CPU hogs, interactive guests that sleep and wake, one hog paused for a
 * while (so offline time appears), an event-channel ping-pong pair whose ping shuts itself down and
 * is destroyed, domains built by dom0 while tracing — run under round robin,
 * BVT, every other registered scheduler, and a test policy that hands vCPUs between pCPUs in the
 * same nanosecond. The trace is written with XentraceWriter, opened and closed with
 * CONTINUE_RUNNING marks (T0, T1), and read by `xenalyze --cpu-hz=2G`:
 *
 *  - `--summary`: for every vCPU (idle vCPUs, domid 32767, included) and every runstate, the count
 *    of periods and the average in cycles must equal what the hypervisor's accounting predicts;
 *  - `--scatterplot-runstate`: every transition at ns precision; the time xenalyze keeps each vCPU
 *    in each runstate, summed, must equal the hypervisor's accounting (Vcpu.runstateTime) to the
 *    nanosecond;
 *  - `--dump-all`: every runstate and continue record is decoded, one line each;
 *  - xenalyze reports no TSC skew, no "Strange" transition, no error.
 *
 * Expected values follow xenalyze's semantics: a vCPU is accounted from the moment xenalyze first
 * sees it running (the T0 mark for pCPUs' current vCPUs; its first X→running change for the
 * others: earlier runnable/offline time is "INIT" to xenalyze); periods still open at T1 are not
 * closed (xenalyze closes no state at end of file) except running ones, which the T1 mark closes.
 * Expected = Vcpu.runstateTime at T1 (+ the running vCPU's open period) − its value when accounting
 * started. Counts are of periods of positive length, split where xenalyze splits them (each
 * runstate change and each CONTINUE_RUNNING).
 *
 * Also: the event ids and record layout against <xen/trace.h>, compiled with gcc.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ms, type AnySchedulerOps, type Hypervisor, type PcpuId, type SchedContext, type SchedUnit, type TraceRecord, type Vcpu } from '@xenotype/core';
import { bvtCtl, bvtScheduler } from '@xenotype/sched-bvt';
import { rrScheduler, rrobinCtl } from '@xenotype/sched-rr';
import { Host } from '../tools/src/host/host';
import { defaultRegistry, SCHEDULERS } from '../tools/src/host/registry';
import { buildDomain } from '../tools/src/toolstack/builder';
import { setupPingPong } from '../tools/src/bench/bench';
import { TRC, XentraceWriter, eventPasses, occupants, runstateEvent, schedClassEvent, tscConverter } from '../tools/src/trace/xentrace';
import { Workdir, toolchain } from './conformance/cc';

const XENALYZE = '/usr/bin/xenalyze';
const have = existsSync(XENALYZE);
if (!have) console.warn(`xenalyze tests skipped: ${XENALYZE} not found (install xen-utils-common)`);
const skipNote = have ? '' : ` [SKIPPED: ${XENALYZE} not found]`;

const dir = mkdtempSync(join(tmpdir(), 'xenotype-xenalyze-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STATES = ['running', 'runnable', 'blocked', 'offline'] as const;

// ------------------------------------------------------------------ the hypervisor's side

/** Per vCPU: accounting as xenalyze will do it, from the hypervisor's own runstate times. */
interface Expect {
  v: Vcpu;
  start: number[] | null;
  lastT: number;
  counts: number[];
}

class Expectations {
  readonly by = new Map<string, Expect>();
  runstateRecords = 0;
  continueRecords = 0;
  constructor(private readonly hv: Hypervisor) {}

  private vcpu(dom: number, vcpu: number): Vcpu {
    const d = dom === 32767 ? this.hv.idleDomain : this.hv.domains.get(dom)!;
    return d.vcpus[vcpu];
  }
  private get(dom: number, vcpu: number): Expect {
    const key = `${dom}v${vcpu}`;
    let e = this.by.get(key);
    if (!e) this.by.set(key, (e = { v: this.vcpu(dom, vcpu), start: null, lastT: 0, counts: [0, 0, 0, 0] }));
    return e;
  }

  /** The T0 mark: pCPUs' current vCPUs are accounted from now. */
  open(t: number): void {
    for (const pc of this.hv.fw.pcpus) {
      const e = this.get(pc.curr.domain.id, pc.curr.id);
      e.start = [...e.v.runstateTime];
      e.start[0] += t - e.v.stateEntryTime;
      e.lastT = t;
    }
  }

  observe = (r: TraceRecord): void => {
    if (r.type === 'runstate') {
      this.runstateRecords++;
      const e = this.get(r.dom, r.vcpu);
      if (e.start) {
        if (r.t > e.lastT) e.counts[r.from]++;
        e.lastT = r.t;
      } else if (r.to === 0) {
        e.start = [...e.v.runstateTime]; // the bus emits after the hypervisor's update
        e.lastT = r.t;
      }
    } else if (r.type === 'continue') {
      this.continueRecords++;
      const e = this.get(r.dom, r.vcpu);
      if (e.start && r.t > e.lastT) e.counts[0]++;
      if (e.start) e.lastT = r.t;
    }
  };

  /** The T1 mark: running periods close now; expected totals per vCPU (ns) and counts. */
  close(t: number): Map<string, { ns: number[]; counts: number[] }> {
    const out = new Map<string, { ns: number[]; counts: number[] }>();
    for (const [key, e] of this.by) {
      if (!e.start) continue;
      const end = [...e.v.runstateTime];
      if (e.v.isRunning) {
        end[0] += t - e.v.stateEntryTime;
        if (t > e.lastT) e.counts[0]++;
      }
      out.set(key, { ns: end.map((x, i) => x - e.start![i]), counts: e.counts });
    }
    return out;
  }
}

// ------------------------------------------------------------------ xenalyze's side

function xenalyze(file: string, args: string[]): { out: string; err: string } {
  const r = spawnSync(XENALYZE, ['--cpu-hz=2G', ...args, file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`xenalyze ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  return { out: r.stdout, err: r.stderr };
}

/** Per-vCPU runstate lines of --summary: `name: count seconds avg_cycles {p5|p50|p95}`. */
function parseSummary(out: string): Map<string, Record<string, { count: number; avg: number }>> {
  const res = new Map<string, Record<string, { count: number; avg: number }>>();
  let dom = -1;
  let cur: Record<string, { count: number; avg: number }> | null = null;
  for (const line of out.split('\n')) {
    let m = /^\|-- Domain (\d+) --\|/.exec(line);
    if (m) {
      dom = Number(m[1]);
      cur = null;
      continue;
    }
    m = /^-- v(\d+) --/.exec(line);
    if (m) {
      res.set(`${dom}v${m[1]}`, (cur = {}));
      continue;
    }
    m = /^\s+(running|runnable|blocked|offline|lost):\s+(\d+)\s+[\d.]+s\s+(\d+)/.exec(line);
    if (m && cur) cur[m[1]] = { count: Number(m[2]), avg: Number(m[3]) };
  }
  return res;
}

/** Time in each state per vCPU from --scatterplot-runstate (two lines per transition, ns precision). */
function integrateScatter(out: string): Map<string, number[]> {
  const Y: Record<string, number> = { '3': 0, '2': 1, '0': 2, '1': 3 }; // runstate_graph → runstate
  const last = new Map<string, number>();
  const res = new Map<string, number[]>();
  const lines = out.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const a = /^(\d+v\d+) (\d+)\.(\d{9}) (-?\d+)$/.exec(lines[i]);
    if (!a) continue;
    const b = /^(\d+v\d+) (\d+)\.(\d{9}) (-?\d+)$/.exec(lines[i + 1]);
    if (!b || b[1] !== a[1]) throw new Error(`unpaired scatterplot line: ${lines[i]}`);
    i++;
    const key = a[1];
    const t = Number(a[2]) * 1e9 + Number(a[3]);
    const prev = last.get(key);
    const state = Y[a[4]];
    if (prev !== undefined && state !== undefined) {
      let acc = res.get(key);
      if (!acc) res.set(key, (acc = [0, 0, 0, 0]));
      acc[state] += t - prev;
    }
    last.set(key, t);
  }
  return res;
}

/** Lines that mean xenalyze disagreed with the trace. */
const BAD = /Strange|skew|FATAL|WARNING|unexpected|Unexpected|not updating|lost|Lost|error/;
const badLines = (err: string) =>
  err
    .split('\n')
    .filter((l) => BAD.test(l) && !/deactivate_pcpu: setting d\d+v\d+ to state LOST/.test(l))
    .slice(0, 10);

// ------------------------------------------------------------------ scenarios

/**
 * A test policy that hands vCPUs between pCPUs in the same nanosecond: one global FIFO and slices
 * that end on a common grid, so pCPUs rescheduling together pass the vCPU one of them just put
 * back to the next (with one more runnable vCPU than pCPUs, a chain through every pCPU).
 */
function handoffScheduler(sliceNs: number): AnySchedulerOps {
  interface G {
    ctx: SchedContext;
    q: SchedUnit[];
  }
  const drop = (g: G, u: SchedUnit) => {
    const i = g.q.indexOf(u);
    if (i >= 0) g.q.splice(i, 1);
  };
  return {
    name: 'global FIFO (test)',
    optName: 'handoff',
    schedId: 99,
    init: (ctx): G => ({ ctx, q: [] }),
    deinit: () => {},
    allocUdata: () => ({}),
    freeUdata: () => {},
    switchSched: () => {},
    pickResource: (_g: G, u: SchedUnit) => u.res,
    insertUnit: (g: G, u: SchedUnit) => {
      if (u.runnable && !g.q.includes(u)) g.q.push(u);
    },
    removeUnit: drop,
    sleep: drop,
    wake: (g: G, u: SchedUnit) => {
      if (!u.isRunning && !g.q.includes(u)) g.q.push(u);
      for (const c of g.ctx.cpus().ids) if (g.ctx.curr(c).isIdle) g.ctx.tickle(c);
    },
    doSchedule: (g: G, prev: SchedUnit, _now: number, cpu: PcpuId) => {
      if (!prev.isIdle && prev.runnable && !g.q.includes(prev)) g.q.push(prev);
      const i = g.q.findIndex((u) => u.runnable && (!u.isRunning || u === prev) && u.hardAffinity.has(cpu));
      if (i < 0) return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
      const [next] = g.q.splice(i, 1);
      return { next, sliceNs: sliceNs - (g.ctx.now() % sliceNs) }; // slices end on a common grid

    },
  };
}

interface Scenario {
  name: string;
  scheduler: string;
  cpus: number;
  registryExtra?: AnySchedulerOps;
  setup?: (xc: import('../tools/src/xc/xc').Xc) => void;
  hogs: number;
}

interface Outcome {
  file: string;
  expected: Map<string, { ns: number[]; counts: number[] }>;
  exp: Expectations;
  writer: XentraceWriter;
  pausedKey: string;
  /** The ping domain shut itself down and was destroyed during the trace. */
  pingDone: boolean;
}

function runScenario(s: Scenario): Outcome {
  const registry = defaultRegistry();
  if (s.registryExtra) registry.registerScheduler(s.registryExtra);
  const host = new Host({ cpus: s.cpus, memoryMiB: 512, scheduler: s.scheduler, seed: 11 }, registry);
  host.runFor(ms(1) + 123); // T0 > 0: xenalyze treats TSC 0 as "no time yet"
  const file = join(dir, `${s.name}.xentrace`);
  const writer = new XentraceWriter(file, { pcpus: s.cpus, tscHz: host.hv.tscHz, pollNs: ms(20) });
  writer.attach(host.hv.trace);
  const exp = new Expectations(host.hv);
  host.hv.trace.subscribe(exp.observe);
  writer.mark(host.now, occupants(host.hv));
  exp.open(host.now);

  const ids = host.run('build', function* ({ xc }) {
    s.setup?.(xc);
    const out: number[] = [];
    for (let i = 0; i < s.hogs; i++) out.push(buildDomain(xc, { name: `hog${i}`, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1) + 37 * i}` }).domid);
    out.push(buildDomain(xc, { name: 'int1', memoryMiB: 8, vcpus: 1, kernel: 'minios-interactive', cmdline: `period=${ms(7)} jitter=${ms(2)} work=${ms(1)}` }).domid);
    out.push(buildDomain(xc, { name: 'int2', memoryMiB: 8, vcpus: 2, kernel: 'minios-interactive', cmdline: `period=${ms(3)} jitter=${ms(1)} work=${200_000}` }).domid);
    setupPingPong(xc, 10); // ping shuts itself down after 10 round trips
    return out;
  });
  host.runFor(ms(120));
  const paused = ids[0];
  host.run('pause', function* ({ xc }) {
    xc.domainPause(paused);
    return 0;
  });
  host.runFor(ms(60));
  host.run('unpause', function* ({ xc }) {
    xc.domainUnpause(paused);
    return 0;
  });
  host.runFor(ms(60));
  const pingDone = host.run('reap', function* ({ xc }) {
    const done = !!xc.domainGetInfo(100)?.shutdown;
    if (done) xc.domainDestroy(100);
    return done;
  });
  host.runFor(ms(60));
  const t1 = host.now;
  writer.mark(t1, occupants(host.hv));
  writer.close();
  const errs = host.hv.checkInvariants();
  if (errs.length) throw new Error(`invariants: ${errs[0]}`);
  return { file, expected: exp.close(t1), exp, writer, pausedKey: `${paused}v0`, pingDone };
}

/** `guests`: the scenario's guests run (false for policies that by default run dom0 only). */
function checkAgainstXenalyze(o: Outcome, guests = true): void {
  // --summary: counts and average cycles per vCPU and runstate
  const sum = xenalyze(o.file, ['--summary']);
  expect(badLines(sum.err)).toEqual([]);
  const summary = parseSummary(sum.out);
  // --scatterplot-runstate: totals to the nanosecond
  const sc = xenalyze(o.file, ['--scatterplot-runstate']);
  expect(badLines(sc.err)).toEqual([]);
  const totals = integrateScatter(sc.out);

  let compared = 0;
  for (const [key, e] of o.expected) {
    const got = summary.get(key) ?? {};
    const ns = totals.get(key) ?? [0, 0, 0, 0];
    STATES.forEach((name, i) => {
      const want = e.counts[i] > 0 ? { count: e.counts[i], avg: Math.floor((2 * e.ns[i]) / e.counts[i]) } : undefined;
      expect({ key, name, ...got[name] }).toEqual({ key, name, ...want });
      expect({ key, name, ns: ns[i] }).toEqual({ key, name, ns: e.ns[i] });
      compared++;
    });
    expect(got.lost).toBeUndefined();
  }
  // nothing xenalyze accounted that we did not expect
  for (const key of summary.keys()) if (!key.startsWith('32768v')) expect(o.expected.has(key) || Object.keys(summary.get(key)!).length === 0, key).toBe(true);
  expect(compared).toBeGreaterThanOrEqual(guests ? 20 : 8);

  // the paused hog shows offline time
  if (guests) {
    expect(o.expected.get(o.pausedKey)!.ns[3]).toBeGreaterThan(ms(50));
    expect(summary.get(o.pausedKey)!.offline.count).toBeGreaterThanOrEqual(1);
  }

  // --dump-all decodes every record: one line per runstate change and continue (marks included)
  const dump = xenalyze(o.file, ['--dump-all']);
  const lines = dump.out.split('\n');
  expect(lines.filter((l) => / runstate_change d\d+v\d+ /.test(l)).length).toBe(o.exp.runstateRecords);
  expect(lines.filter((l) => / runstate_continue d\d+v\d+ /.test(l)).length).toBe(o.exp.continueRecords + 2 * o.writer.stats.firstTsc.length);
  expect(lines.some((l) => / sched_switch prev d\d+v\d+, run for /.test(l))).toBe(true);
  expect(lines.some((l) => / vcpu_wake d\d+v\d+/.test(l))).toBe(true);
  expect(lines.some((l) => / sched_init_domain d\d+/.test(l))).toBe(true);
  expect(lines.some((l) => / hypercall 1d \(sched_op\) block/.test(l))).toBe(true);
  if (guests) expect(lines.some((l) => / vcpu_block d\d+v\d+/.test(l))).toBe(true);
  if (o.pingDone) {
    expect(lines.some((l) => / sched_shutdown d100v0, reason = 0/.test(l))).toBe(true);
    expect(lines.some((l) => / sched_destroy_domain d100/.test(l))).toBe(true);
  }
}

describe('xentrace export read by xenalyze', () => {
  it.skipIf(!have)(`round robin, 2 pCPUs: runstate totals equal the hypervisor's to the ns${skipNote}`, () => {
    const o = runScenario({
      name: 'rr',
      scheduler: 'rr',
      cpus: 2,
      hogs: 3,
      setup: (xc) => xc.schedGlobalSet(0, rrScheduler.schedId, rrobinCtl, { slice: ms(5) }),
    });
    expect(o.writer.stats.unordered).toBe(0);
    expect(o.pingDone).toBe(true);
    checkAgainstXenalyze(o);
  });

  it.skipIf(!have)(`BVT, 2 pCPUs: runstate totals equal the hypervisor's to the ns${skipNote}`, () => {
    const o = runScenario({
      name: 'bvt',
      scheduler: 'bvt',
      cpus: 2,
      hogs: 3,
      setup: (xc) => xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: ms(5) }),
    });
    expect(o.writer.stats.unordered).toBe(0);
    checkAgainstXenalyze(o);
  });

  it.skipIf(!have)(`vCPUs handed between 4 pCPUs in the same nanosecond keep exact totals${skipNote}`, () => {
    const o = runScenario({ name: 'handoff', scheduler: 'handoff', cpus: 4, hogs: 5, registryExtra: handoffScheduler(ms(1)) });
    // the scenario does what it is for: vCPUs with records on two pCPUs at one TSC, some of
    // which needed a filler to be read in order
    expect(o.writer.stats.crossCpu).toBeGreaterThan(50);
    expect(o.writer.stats.fillers).toBeGreaterThan(0);
    expect(o.writer.stats.unordered).toBe(0);
    checkAgainstXenalyze(o);
  });

  for (const s of SCHEDULERS.filter((x) => x !== rrScheduler && x !== bvtScheduler))
    it.skipIf(!have)(`${s.optName}, 3 pCPUs: runstate totals equal the hypervisor's to the ns${skipNote}`, () => {
      const o = runScenario({ name: s.optName, scheduler: s.optName, cpus: 3, hogs: 3 });
      expect(o.writer.stats.unordered).toBe(0);
      checkAgainstXenalyze(o, s.optName !== 'arinc653');
    });
});

// ------------------------------------------------------------------ the format against trace.h

const tc = toolchain();
describe('xentrace records against <xen/trace.h>', () => {
  it.skipIf(!tc.ok || !existsSync('/usr/include/xen/trace.h'))(`event ids and t_rec layout${tc.ok ? '' : ` [SKIPPED: ${tc.reason}]`}`, () => {
    const names = Object.keys(TRC).filter((k) => k !== 'ALL' && k !== 'GEN' && k !== 'SCHED' && k !== 'PV') as (keyof typeof TRC)[];
    const w = new Workdir();
    try {
      const src = `#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include <xen/trace.h>
int main(void) {
${names.map((n) => `  printf("${n} %lu\\n", (unsigned long)(TRC_${n}));`).join('\n')}
  printf("ALL %lu\\nGEN %lu\\nSCHED %lu\\nPV %lu\\n", (unsigned long)TRC_ALL, (unsigned long)TRC_GEN, (unsigned long)TRC_SCHED, (unsigned long)TRC_PV);
  printf("CSCHED_5 %lu\\nRTDS_2 %lu\\n", (unsigned long)TRC_SCHED_CLASS_EVT(CSCHED, 5), (unsigned long)TRC_SCHED_CLASS_EVT(RTDS, 2));
  printf("t_rec %zu\\nextra_off_tsc %zu\\nextra_off_notsc %zu\\n", sizeof(struct t_rec), offsetof(struct t_rec, u.cycles.extra_u32), offsetof(struct t_rec, u.nocycles.extra_u32));
  struct t_rec r = {0}; r.event = 0x21011; r.extra_u32 = 1; r.cycles_included = 1;
  printf("header %lu\\n", (unsigned long)*(uint32_t *)&r);
  return 0;
}
`;
      const out = w.run(w.compile('trace', src));
      const got = Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
      for (const n of [...names, 'ALL', 'GEN', 'SCHED', 'PV'] as const) expect({ n, v: TRC[n] }).toEqual({ n, v: got[n] });
      expect(schedClassEvent(0, 5)).toBe(got.CSCHED_5);
      expect(schedClassEvent(4, 2)).toBe(got.RTDS_2);
      expect(runstateEvent(1, 0)).toBe(0x21101);
      // header word: event | extra_u32 << 28 | cycles_included << 31, then TSC words, then data
      expect(got.header).toBe((runstateEvent(0, 1) | (1 << 28) | 0x80000000) >>> 0);
      expect(got.extra_off_tsc).toBe(12);
      expect(got.extra_off_notsc).toBe(4);
      expect(got.t_rec).toBe(40);

      // and a file: CPU_CHANGE first, then the records as laid out above
      const file = join(dir, 'tiny.xentrace');
      const x = new XentraceWriter(file, { pcpus: 1 });
      x.write({ t: 5, cpu: 0, type: 'runstate', dom: 3, vcpu: 1, from: 1, to: 0 });
      x.close();
      const b = readFileSync(file);
      expect([...new Uint32Array(b.buffer, b.byteOffset, b.length / 4)]).toEqual([
        (TRC.TRACE_CPU_CHANGE | (2 << 28)) >>> 0, 0, 16,
        (runstateEvent(1, 0) | (1 << 28) | 0x80000000) >>> 0, 10, 0, (3 << 16) | 1,
      ]);
    } finally {
      w.dispose();
    }
  });
});


// ------------------------------------------------------------------ the writer's own rules

/** Decode a xentrace file: per CPU_CHANGE window, its cpu and records {event, tsc, data}. */
function decode(file: string): { cpu: number; recs: { event: number; tsc: number | null; data: number[] }[] }[] {
  const b = readFileSync(file);
  const w = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
  const out: { cpu: number; recs: { event: number; tsc: number | null; data: number[] }[] }[] = [];
  let i = 0;
  while (i < w.length) {
    expect(w[i] & 0x0fffffff).toBe(TRC.TRACE_CPU_CHANGE);
    const cpu = w[i + 1];
    const end = i + 3 + w[i + 2] / 4;
    i += 3;
    const recs = [];
    while (i < end) {
      const h = w[i++];
      const n = (h >>> 28) & 7;
      const tsc = h & 0x80000000 ? w[i] + w[i + 1] * 2 ** 32 : null;
      if (tsc !== null) i += 2;
      recs.push({ event: h & 0x0fffffff, tsc, data: [...w.subarray(i, i + n)] });
      i += n;
    }
    out.push({ cpu, recs });
  }
  return out;
}

describe('xentrace writer', () => {
  it('converts ns to TSC exactly at any frequency', () => {
    expect(tscConverter(2e9)(123_456_789)).toBe(246_913_578);
    expect(tscConverter(2.4e9)(1e15 + 1)).toBe(2.4e15 + 2); // ⌊(10¹⁵+1) × 2.4⌋
    expect(tscConverter(3e9)(7)).toBe(21);
    expect(tscConverter(999_999_937)(1e12)).toBe(999_999_937_000); // BigInt path
    expect(tscConverter(1_999_999_999)(3)).toBe(5); // ⌊5.999999997⌋
  });

  it("filters events with Xen's mask rules (xentrace -e)", () => {
    expect(eventPasses(TRC.ALL, runstateEvent(0, 1))).toBe(true);
    expect(eventPasses(TRC.SCHED, runstateEvent(0, 1))).toBe(true);
    expect(eventPasses(TRC.SCHED, TRC.PV_HYPERCALL_V2)).toBe(false);
    expect(eventPasses(TRC.SCHED_MIN, TRC.SCHED_WAKE)).toBe(false); // subclass 8 not in 1
    expect(eventPasses(TRC.SCHED_MIN, TRC.SCHED_CONTINUE_RUNNING)).toBe(true);
    const file = join(dir, 'mask.xentrace');
    const x = new XentraceWriter(file, { mask: TRC.SCHED_MIN });
    x.write({ t: 1, cpu: 0, type: 'wake', dom: 1, vcpu: 0 });
    x.write({ t: 1, cpu: 0, type: 'runstate', dom: 1, vcpu: 0, from: 2, to: 1 });
    x.write({ t: 1, cpu: 0, type: 'hypercall', dom: 1, vcpu: 0, nr: 29, op: 1, rc: 0 });
    x.close();
    expect(decode(file)[0].recs.map((r) => r.event)).toEqual([runstateEvent(2, 1)]);
  });

  it('flushes per-pCPU windows as it goes (bounded memory), one CPU_CHANGE per pCPU per flush', () => {
    const file = join(dir, 'windows.xentrace');
    const x = new XentraceWriter(file, { pcpus: 3, pollNs: 1e6, flushBytes: 1 << 30 });
    for (let k = 0; k < 10; k++) x.write({ t: 1 + k * 1e6, cpu: k % 2, type: 'wake', dom: 1, vcpu: 0 });
    x.close();
    const ws = decode(file);
    expect(ws.slice(0, 3).map((w) => w.cpu)).toEqual([0, 1, 2]); // the first flush names every pCPU
    expect(ws.length).toBeGreaterThan(5);
    expect(ws.slice(3).every((w) => w.recs.length > 0)).toBe(true); // later flushes: pCPUs with data
    expect(ws.flatMap((w) => w.recs).map((r) => r.tsc)).toEqual(Array.from({ length: 10 }, (_, k) => 2 * (1 + k * 1e6)));
  });

  it("orders a same-nanosecond hand-off with a filler, keeps runstate TSCs exact, follows Xen's record choices", () => {
    const file = join(dir, 'handoff.xentrace');
    const x = new XentraceWriter(file, { pcpus: 2 });
    x.mark(100, [
      { cpu: 0, dom: 32767, vcpu: 0 },
      { cpu: 1, dom: 5, vcpu: 0 },
    ]);
    const t = 1000;
    // pCPU 1 puts d5v0 back; pCPU 0, in the same ns, picks it (emitted in that order)
    x.write({ t, cpu: 1, type: 'switch', prevDom: 5, prevVcpu: 0, nextDom: 32767, nextVcpu: 1, prevRan: 900, nextWaited: 0, slice: -1 });
    x.write({ t, cpu: 1, type: 'runstate', dom: 5, vcpu: 0, from: 0, to: 1 });
    x.write({ t, cpu: 1, type: 'runstate', dom: 32767, vcpu: 1, from: 1, to: 0 });
    x.write({ t, cpu: 0, type: 'switch', prevDom: 32767, prevVcpu: 0, nextDom: 5, nextVcpu: 0, prevRan: 900, nextWaited: 0, slice: 5000 });
    x.write({ t, cpu: 0, type: 'runstate', dom: 32767, vcpu: 0, from: 0, to: 1 });
    x.write({ t, cpu: 0, type: 'migrate', dom: 5, vcpu: 0, from: 1, to: 0 }); // no Xen record
    x.write({ t, cpu: 0, type: 'runstate', dom: 5, vcpu: 0, from: 1, to: 0 });
    x.write({ t: 2000, cpu: -1, type: 'crash', dom: 5, why: 'test' });
    x.write({ t: 2000, cpu: -1, type: 'shutdown', dom: 5, vcpu: 0, reason: 3 }); // domain_crash: untraced
    x.write({ t: 3000, cpu: -1, type: 'shutdown', dom: 6, vcpu: 0, reason: 0 });
    x.write({ t: 3000, cpu: -1, type: 'evtchn_send', dom: 6, port: 1, rdom: 0, rport: 2 }); // no Xen record
    x.close();
    const recs = decode(file).flatMap((w) => w.recs.map((r) => ({ cpu: w.cpu, ...r })));
    const filler = recs.find((r) => r.event === TRC.TRACE_WRAP_BUFFER)!;
    expect(filler).toEqual({ cpu: 1, event: TRC.TRACE_WRAP_BUFFER, tsc: 2 * t - 1, data: [] });
    expect(recs.filter((r) => r.event !== TRC.TRACE_WRAP_BUFFER && r.tsc !== 200 && r.tsc! < 4000).every((r) => r.tsc === 2 * t)).toBe(true);
    expect(recs.filter((r) => r.cpu === 0 && r.tsc === 2 * t).map((r) => r.event)).toEqual([
      TRC.SCHED_SWITCH_INFPREV,
      TRC.SCHED_SWITCH_INFNEXT,
      TRC.SCHED_SWITCH,
      runstateEvent(0, 1),
      runstateEvent(1, 0),
    ]);
    expect(recs.find((r) => r.event === TRC.SCHED_SWITCH_INFNEXT && r.cpu === 1)!.data).toEqual([32767, 1, 0, 0xffffffff]);
    expect(recs.filter((r) => r.event === TRC.SCHED_SHUTDOWN).map((r) => r.data)).toEqual([[6, 0, 0]]);
    expect(recs.filter((r) => r.event === TRC.SCHED_CONTINUE_RUNNING).map((r) => [r.cpu, r.data[0]])).toEqual([
      [0, (32767 << 16) >>> 0],
      [1, 5 << 16],
    ]);
    expect(x.stats).toMatchObject({ fillers: 1, crossCpu: 1, unordered: 0 });
  });
});
