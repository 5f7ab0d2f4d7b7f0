/**
 * Determinism: the demo (dom0, five hogs and an interactive guest under RR and then BVT) run twice
 * with one seed gives byte-identical traces in every export format — JSON lines, Perfetto JSON and
 * xentrace (one file per run) — and identical reports; another seed gives other traces (the
 * interactive guest's jitter comes from its domain's seeded random stream).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ms, sec } from '@xenotype/core';
import { demoJson, runDemo, type DemoReport } from '../tools/src/demo/demo';
import { JsonlTraceWriter } from '../tools/src/trace/jsonl';
import { openTrace } from '../tools/src/trace/open';

const dir = mkdtempSync(join(tmpdir(), 'xenotype-determinism-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The other formats, written from the same runs: Perfetto JSON and xentrace (one file per run). */
const OTHER = ['json', 'xentrace'] as const;

function tracedDemo(seed: number, file: string): { report: DemoReport; records: number; bytes: Buffer; other: Record<string, Buffer[]> } {
  const path = join(dir, file);
  const w = new JsonlTraceWriter(path);
  const sinks = OTHER.map((ext) => openTrace(path.replace(/\.jsonl$/, `.${ext}`)));
  let report: DemoReport;
  try {
    report = runDemo({
      seed,
      durationNs: sec(2),
      warmupNs: ms(200),
      onTrace: (run, bus) => {
        w.attach(bus, run);
        for (const s of sinks) s.attach(bus, run);
      },
    });
  } finally {
    w.close();
    for (const s of sinks) s.close();
  }
  const other = Object.fromEntries(OTHER.map((ext, i) => [ext, sinks[i].files.map((f) => readFileSync(f))]));
  return { report, records: w.records, bytes: readFileSync(path), other };
}

describe('determinism', () => {
  it('the demo with one seed gives byte-identical traces and identical reports; another seed another trace', () => {
    const a = tracedDemo(7, 'a.jsonl');
    const b = tracedDemo(7, 'b.jsonl');
    const c = tracedDemo(8, 'c.jsonl');

    // the traces are substantial and hold both runs
    expect(a.records).toBeGreaterThan(5_000);
    const text = a.bytes.toString('utf8');
    expect(text.split('\n').length - 1).toBe(a.records);
    expect(text).toContain('{"run":"rr",');
    expect(text).toContain('{"run":"bvt",');

    // same seed: same bytes, same figures
    expect(b.records).toBe(a.records);
    expect(b.bytes.length).toBe(a.bytes.length);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    expect(b.report).toEqual(a.report);
    expect(demoJson(b.report)).toBe(demoJson(a.report));
    expect(a.report.seed).toBe(7);
    expect(a.report.runs.map((r) => r.scheduler)).toEqual(['rr', 'bvt']);

    // every format: same bytes for the same seed (xentrace: one file per run), others for another
    expect(a.other.xentrace.length).toBe(2);
    for (const ext of OTHER)
      a.other[ext].forEach((bytes, i) => {
        expect(bytes.length).toBeGreaterThan(10_000);
        expect(b.other[ext][i].equals(bytes), `${ext} file ${i}`).toBe(true);
        expect(c.other[ext][i].equals(bytes), `${ext} file ${i}, another seed`).toBe(false);
      });

    // another seed: the interactive guest's jitter differs, so do the trace and its wake-ups
    expect(c.bytes.equals(a.bytes)).toBe(false);
    const firstDiff = a.bytes.findIndex((x, i) => x !== c.bytes[i]);
    expect(firstDiff).toBeGreaterThan(0); // boot is seed-independent up to the first random draw
    expect(c.report.runs[0].latency).not.toEqual(a.report.runs[0].latency);
  });
});
