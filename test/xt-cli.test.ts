import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const xt = (...args: string[]) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('xt', () => {
  it('demo --json prints one JSON object with integer nanoseconds; logs go to stderr', () => {
    const r = xt('demo', '--json', '--duration', '2s', '--seed', '3');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.seed).toBe(3);
    expect(j.durationNs).toBe(2e9);
    expect(j.runs.map((x: { scheduler: string }) => x.scheduler)).toEqual(['rr', 'bvt']);
    for (const run of j.runs) {
      for (const k of ['p50', 'p99', 'max']) expect(Number.isInteger(run.latency[k])).toBe(true);
      for (const h of run.hogs) expect(Number.isInteger(h.cpuNs)).toBe(true);
    }
    expect(j.checks).toEqual({ latencyRatioOk: true, bvtSharesOk: true });
    expect(r.err).toMatch(/running rr/);
  });

  it('demo prints the table and writes a trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-'));
    const file = join(dir, 't.jsonl');
    const r = xt('demo', '--duration', '1s', '--trace', file);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/== rr: round robin, slice 5 ms/);
    expect(r.out).toMatch(/== bvt: BVT/);
    expect(r.out).toMatch(/BVT p99 \/ RR p99 = .* met/);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(1000);
    const first = JSON.parse(lines[0]);
    expect(first.run).toBe('rr');
    expect(lines.some((l) => JSON.parse(l).run === 'bvt')).toBe(true);
  });

  it.each([
    [['demo', '--seed', 'abc'], /--seed.*must be an integer/],
    [['demo', '--duration', '-5'], /--duration.*duration/],
    [['demo', '--frobnicate'], /unknown option/],
    [['nosuch'], /unknown command/],
    [['bench', '--only', 'nope'], /--only.*Allowed choices/],
  ])('xt %j fails with one line and exit code 2', (args, msg) => {
    const r = xt(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('a failure while running is one line and exit code 1', () => {
    const r = xt('demo', '--duration', '1s', '--trace', '/nonexistent-dir/x/trace.jsonl');
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^xt: .*ENOENT/);
  });

  it('--help works for every command', () => {
    for (const args of [['--help'], ['demo', '--help'], ['bench', '--help']]) {
      const r = xt(...args);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: xt/);
    }
  });
});
