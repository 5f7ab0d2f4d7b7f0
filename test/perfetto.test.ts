/**
 * Perfetto / Chrome trace-event JSON export: two runs (round robin and BVT) of a scenario on 2 pCPUs
 * — CPU hogs, an interactive guest, an event-channel ping-pong pair, a hog paused for a while — are
 * written to one file, which must
 *  - validate against a JSON Schema of the Trace Event Format written from the public definition
 *    (test/trace-event-format.schema.json), with ajv;
 *  - give each run its own process ("pCPUs (rr)", "pCPUs (bvt)") with one named thread per pCPU;
 *  - carry timestamps and durations as µs with exactly three decimals (ns precision), and slices
 *    on one pCPU track that never overlap;
 *  - add up, per vCPU, its slices to the hypervisor's own running time (Vcpu.runstateTime), to the
 *    nanosecond;
 *  - hold one wake instant per wake record and one event-channel instant per send, and runnable
 *    counters that never go negative.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { ms, type TraceRecord } from '@xenotype/core';
import { bvtCtl, bvtScheduler } from '@xenotype/sched-bvt';
import { rrScheduler, rrobinCtl } from '@xenotype/sched-rr';
import { Host } from '../tools/src/host/host';
import { buildDomain } from '../tools/src/toolstack/builder';
import { setupPingPong } from '../tools/src/bench/bench';
import { PerfettoTraceWriter, usec } from '../tools/src/trace/perfetto';
import schema from './trace-event-format.schema.json';

const dir = mkdtempSync(join(tmpdir(), 'xenotype-perfetto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface RunFacts {
  running: Map<string, number>;
  wakes: number;
  sends: number;
}

function run(scheduler: 'rr' | 'bvt', w: PerfettoTraceWriter): RunFacts {
  const host = new Host({ cpus: 2, memoryMiB: 512, scheduler, seed: 5 });
  w.attach(host.hv.trace, scheduler);
  const facts: RunFacts = { running: new Map(), wakes: 0, sends: 0 };
  let lastT = 0;
  host.hv.trace.subscribe((r: TraceRecord) => {
    lastT = r.t;
    if (r.type === 'wake') facts.wakes++;
    if (r.type === 'evtchn_send') facts.sends++;
  });
  const hog = host.run('build', function* ({ xc }) {
    if (scheduler === 'rr') xc.schedGlobalSet(0, rrScheduler.schedId, rrobinCtl, { slice: ms(5) });
    else xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: ms(5) });
    const h = buildDomain(xc, { name: 'hog0', memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}` }).domid;
    buildDomain(xc, { name: 'hog1', memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1) + 333}` });
    buildDomain(xc, { name: 'int', memoryMiB: 8, vcpus: 1, kernel: 'minios-interactive', cmdline: `period=${ms(4)} jitter=${ms(1)} work=${300_000}` });
    setupPingPong(xc, 200);
    return h;
  });
  host.runFor(ms(80));
  host.run('pause', function* ({ xc }) {
    xc.domainPause(hog);
    return 0;
  });
  host.runFor(ms(30));
  host.run('unpause', function* ({ xc }) {
    xc.domainUnpause(hog);
    return 0;
  });
  host.runFor(ms(80));
  // the writer closes stints still open at the run's last record
  for (const d of host.hv.domains.values())
    for (const v of d.vcpus) {
      let ns = v.runstateTime[0];
      if (v.isRunning) ns += lastT - v.stateEntryTime;
      if (ns > 0) facts.running.set(`d${d.id}v${v.id}`, ns);
    }
  return facts;
}

interface Ev {
  ph: string;
  name: string;
  cat?: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  s?: string;
  args: Record<string, unknown>;
}

describe('Perfetto trace-event JSON export', () => {
  const file = join(dir, 'two-runs.json');
  const w = new PerfettoTraceWriter(file);
  const rr = run('rr', w);
  const bvt = run('bvt', w);
  w.close();
  const text = readFileSync(file, 'utf8');
  const trace = JSON.parse(text) as { displayTimeUnit: string; traceEvents: Ev[] };
  const events = trace.traceEvents;

  it('validates against the Trace Event Format schema', () => {
    // strict, except that a phase's `required` names fields declared once at the top, and ids may be strings or numbers
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    const validate = ajv.compile(schema);
    const ok = validate(trace);
    expect(validate.errors?.slice(0, 5) ?? []).toEqual([]);
    expect(ok).toBe(true);
    // and the schema has teeth: broken events are refused
    expect(validate({ traceEvents: [{ ph: 'X', name: 'a', ts: 1, pid: 1, tid: 1 }] })).toBe(false); // no dur
    expect(validate({ traceEvents: [{ ph: 'M', name: 'thread_name', pid: 1, tid: 1, args: {} }] })).toBe(false);
    expect(validate({ traceEvents: [{ ph: 'C', name: 'c', ts: 1, pid: 1, args: { x: 'one' } }] })).toBe(false);
    expect(validate({ traceEvents: [{ ph: 'i', name: 'i', ts: 1, pid: 1, tid: 1, s: 'x' }] })).toBe(false);
    expect(validate({ displayTimeUnit: 'us', traceEvents: [] })).toBe(false);
    expect(trace.displayTimeUnit).toBe('ns');
  });

  it('names one process per run and one thread per pCPU', () => {
    const meta = events.filter((e) => e.ph === 'M');
    const procs = meta.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args.name]);
    expect(procs).toEqual([
      [1, 'pCPUs (rr)'],
      [2, 'pCPUs (bvt)'],
    ]);
    for (const pid of [1, 2]) {
      const threads = meta.filter((e) => e.pid === pid && e.name === 'thread_name').map((e) => [e.tid, e.args.name]);
      expect(threads.sort()).toEqual([
        [0, 'xen'],
        [1, 'pCPU 0'],
        [2, 'pCPU 1'],
      ]);
    }
    // every event sits in a named process and thread
    const named = new Set(meta.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}`));
    for (const e of events) if (e.ph === 'X' || e.ph === 'i') expect(named.has(`${e.pid}/${e.tid}`)).toBe(true);
  });

  it('writes timestamps and durations as µs with ns precision', () => {
    const values = [...text.matchAll(/"(ts|dur)":([^,}]+)/g)].map((m) => m[2]);
    expect(values.length).toBeGreaterThan(1000);
    for (const v of values) expect(v).toMatch(/^\d+\.\d{3}$/);
    expect(usec(1_234_567)).toBe('1234.567');
    expect(usec(5)).toBe('0.005');
    expect(usec(0)).toBe('0.000');
  });

  const ns = (us: number) => Math.round(us * 1000);

  it('never overlaps slices on a pCPU track', () => {
    const tracks = new Map<string, Ev[]>();
    for (const e of events.filter((x) => x.ph === 'X')) {
      const k = `${e.pid}/${e.tid}`;
      if (!tracks.has(k)) tracks.set(k, []);
      tracks.get(k)!.push(e);
    }
    expect([...tracks.keys()].sort()).toEqual(['1/1', '1/2', '2/1', '2/2']);
    for (const [, xs] of tracks) {
      xs.sort((a, b) => a.ts - b.ts);
      for (let i = 1; i < xs.length; i++) expect(ns(xs[i - 1].ts) + ns(xs[i - 1].dur!)).toBeLessThanOrEqual(ns(xs[i].ts));
      for (const x of xs) {
        expect(x.name).toMatch(/^d\d+v\d+$/);
        expect(x.name).toBe(`d${x.args.domain}v${x.args.vcpu}`);
        expect(typeof x.args.slice_ns).toBe('number');
        expect(ns(x.dur!)).toBeGreaterThan(0);
      }
    }
  });

  it("adds up each vCPU's slices to the hypervisor's running time, to the ns", () => {
    for (const [pid, facts] of [
      [1, rr],
      [2, bvt],
    ] as const) {
      const sum = new Map<string, number>();
      for (const e of events) if (e.ph === 'X' && e.pid === pid) sum.set(e.name, (sum.get(e.name) ?? 0) + ns(e.dur!));
      expect(sum).toEqual(facts.running);
      expect(facts.running.size).toBeGreaterThanOrEqual(6); // dom0, hogs, interactive, ping, pong
    }
  });

  it('marks wakes and event-channel sends as instants, and counts runnable vCPUs per pCPU', () => {
    for (const [pid, facts] of [
      [1, rr],
      [2, bvt],
    ] as const) {
      const inst = events.filter((e) => e.ph === 'i' && e.pid === pid);
      expect(inst.filter((e) => e.cat === 'wake').length).toBe(facts.wakes);
      const sends = inst.filter((e) => e.cat === 'evtchn');
      expect(sends.length).toBe(facts.sends);
      expect(facts.sends).toBeGreaterThan(50);
      // a send sits on the pCPU where its sender runs
      expect(sends.every((e) => e.tid > 0)).toBe(true);
      expect(inst.some((e) => e.cat === 'domain' && e.name.startsWith('dom_add'))).toBe(true);
      const counters = events.filter((e) => e.ph === 'C' && e.pid === pid);
      expect(counters.length).toBeGreaterThan(10);
      for (const c of counters) {
        expect(Object.keys(c.args).sort()).toEqual(['cpu0', 'cpu1']);
        for (const v of Object.values(c.args)) expect(v).toBeGreaterThanOrEqual(0);
      }
      expect(counters.some((c) => (c.args.cpu0 as number) + (c.args.cpu1 as number) >= 2)).toBe(true);
    }
  });
});
