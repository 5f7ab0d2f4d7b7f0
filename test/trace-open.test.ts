/**
 * Trace format selection by extension (tools/src/trace/open.ts) and `xt demo --trace`: .json is
 * Perfetto JSON with one process per run, .xentrace/.trc/.bin one xentrace file per run (starting
 * with a CPU_CHANGE record), .jsonl JSON lines; any other extension is a one-line usage error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceBus, type TraceRecord } from '@xenotype/core';
import { openTrace, runFile, traceFormat, TraceFormatError } from '../tools/src/trace/open';
import { TRC } from '../tools/src/trace/xentrace';

const dir = mkdtempSync(join(tmpdir(), 'xenotype-trace-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const xt = (...args: string[]) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** Two tiny "runs": a vCPU switched in and out on pCPU 0. */
function feed(bus: TraceBus, t0: number): void {
  const recs: TraceRecord[] = [
    { t: t0, cpu: 0, type: 'switch', prevDom: 32767, prevVcpu: 0, nextDom: 1, nextVcpu: 0, prevRan: t0, nextWaited: 10, slice: 5000 },
    { t: t0, cpu: 0, type: 'runstate', dom: 32767, vcpu: 0, from: 0, to: 1 },
    { t: t0, cpu: 0, type: 'runstate', dom: 1, vcpu: 0, from: 1, to: 0 },
    { t: t0 + 5000, cpu: 0, type: 'switch', prevDom: 1, prevVcpu: 0, nextDom: 32767, nextVcpu: 0, prevRan: 5000, nextWaited: 0, slice: -1 },
    { t: t0 + 5000, cpu: 0, type: 'runstate', dom: 1, vcpu: 0, from: 0, to: 2 },
    { t: t0 + 5000, cpu: 0, type: 'runstate', dom: 32767, vcpu: 0, from: 1, to: 0 },
  ];
  for (const r of recs) bus.emit(r);
}

describe('trace format by extension', () => {
  it('maps extensions to formats and refuses others', () => {
    expect(traceFormat('a/b.json')).toBe('perfetto');
    expect(traceFormat('t.xentrace')).toBe('xentrace');
    expect(traceFormat('t.TRC')).toBe('xentrace');
    expect(traceFormat('t.bin')).toBe('xentrace');
    expect(traceFormat('t.jsonl')).toBe('jsonl');
    expect(() => traceFormat('t.txt')).toThrow(TraceFormatError);
    expect(() => traceFormat('trace')).toThrow(/\.json, \.xentrace, \.trc, \.bin, \.jsonl/);
    expect(runFile('/x/trace.xentrace', 'rr')).toBe('/x/trace.rr.xentrace');
  });

  it.each([['json'], ['xentrace'], ['jsonl']])('writes two runs as .%s', (ext) => {
    const path = join(dir, `two.${ext}`);
    const sink = openTrace(path);
    for (const [i, run] of ['rr', 'bvt'].entries()) {
      const bus = new TraceBus();
      sink.attach(bus, run);
      feed(bus, 1000 + i);
    }
    sink.close();
    if (ext === 'xentrace') {
      expect(sink.files).toEqual([join(dir, 'two.rr.xentrace'), join(dir, 'two.bvt.xentrace')]);
      for (const f of sink.files) {
        const b = readFileSync(f);
        expect(b.readUInt32LE(0)).toBe((TRC.TRACE_CPU_CHANGE | (2 << 28)) >>> 0);
        expect(b.readUInt32LE(4)).toBe(0); // cpu 0
        expect(b.readUInt32LE(8)).toBe(b.length - 12); // one window holding everything
      }
      expect(sink.records).toBe(2 * 10); // 3 switch records + 2 runstate records, twice, per run
    } else {
      expect(sink.files).toEqual([path]);
      const text = readFileSync(path, 'utf8');
      if (ext === 'json') {
        const j = JSON.parse(text);
        expect(j.traceEvents.filter((e: { name: string }) => e.name === 'process_name').map((e: { args: { name: string } }) => e.args.name)).toEqual(['pCPUs (rr)', 'pCPUs (bvt)']);
        expect(j.traceEvents.filter((e: { ph: string }) => e.ph === 'X')).toHaveLength(2);
      } else {
        const lines = text.trim().split('\n').map((l) => JSON.parse(l));
        expect(lines).toHaveLength(12);
        expect(lines[0].run).toBe('rr');
        expect(lines[11].run).toBe('bvt');
      }
    }
  });
});

describe('xt demo --trace', () => {
  it('picks Perfetto for .json and xentrace (one file per run) for .xentrace', () => {
    const json = join(dir, 'demo.json');
    let r = xt('demo', '--duration', '300ms', '--trace', json);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/perfetto records written to .*demo\.json/);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(new Set(j.traceEvents.map((e: { pid: number }) => e.pid))).toEqual(new Set([1, 2]));

    const xen = join(dir, 'demo.xentrace');
    r = xt('demo', '--duration', '300ms', '--trace', xen);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/xentrace records written to .*demo\.rr\.xentrace, .*demo\.bvt\.xentrace/);
    expect(existsSync(join(dir, 'demo.rr.xentrace')) && existsSync(join(dir, 'demo.bvt.xentrace'))).toBe(true);
    expect(existsSync(xen)).toBe(false);
  });

  it('refuses an extension it cannot write, in one line with exit code 2', () => {
    const r = xt('demo', '--trace', join(dir, 'trace.txt'));
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/--trace.*cannot tell the trace format/);
  });
});
