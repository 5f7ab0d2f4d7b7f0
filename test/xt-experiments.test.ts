/**
 * xt run, sweep, report and list-* end to end, on good input: output, files and exit codes. The
 * sweep runs once on worker threads started from the xt launcher (tsx registered in each worker)
 * and once in xt's own thread; their files must be identical.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const dir = mkdtempSync(join(tmpdir(), 'xt-exp-'));
const xt = (...args: string[]) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000, cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const TINY = join(dir, 'tiny.yaml');
writeFileSync(
  TINY,
  `name: tiny
description: two CPU hogs of weights 1 and 3 and a ticking guest on one pCPU under BVT
params:
  n: 2
host:
  cpus: 1
  memoryMiB: 256
  pools:
    - scheduler: bvt
      params:
        bvt: { ctx_allow: 2ms }
domains:
  - name: hog{i}
    count: \${n}
    weight: 1
    memoryMiB: 8
    workload: { type: cpuhog, chunk: 500us }
  - name: tick
    memoryMiB: 8
    workload: { type: interactive, period: 5ms, jitter: 1ms, work: 200us }
duration: 400ms
warmup: 50ms
measure:
  share: [hog*]
  latency: [tick]
`,
);

describe('xt experiments', () => {
  it('run --json: one JSON object with the run figures', () => {
    const r = xt('run', TINY, '--json', '--seed', '3', '--param', 'n=3');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ format: 'xenotype-run/1', id: 'n=3 seed=3', seed: 3, status: 'ok', error: null, params: { n: 3 } });
    expect(j.domains.map((d: { name: string }) => d.name)).toEqual(['hog1', 'hog2', 'hog3', 'tick']);
    const hogs = j.domains.filter((d: { group: string }) => d.group === 'hog');
    expect(hogs.reduce((a: number, d: { share: number }) => a + d.share, 0)).toBeCloseTo(1, 5);
    for (const d of hogs) expect(Math.abs(d.shareError)).toBeLessThan(0.05);
    const tick = j.domains.find((d: { name: string }) => d.name === 'tick');
    expect(tick.latency.n).toBeGreaterThan(50);
    expect(tick.latency.cdf).toHaveLength(101);
    expect(tick.throughput).toBeGreaterThan(150);
    expect(j.window.ns).toBeGreaterThanOrEqual(400e6);
    expect(j.invariantErrors).toEqual([]);
    expect(r.err).toMatch(/running tiny/);
  });

  it('run prints a table; --trace picks the format by extension; --out writes results and a report', () => {
    const out = join(dir, 'one');
    const r = xt('run', 'bvt-latency', '--param', 'policy=rr', '--until', '1s', '--trace', join(dir, 't.json'), '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^bvt-latency \(policy=rr scheduler=rr warp=0 slice=5ms\), seed 1: 1 pCPU\(s\), 5 guest\(s\); 50\d\.\d ms measured after 500 ms warm-up/);
    expect(r.out).toMatch(/ domain +pool +weight +cpu ms +share +entitled +error +units\/s +wake n +p50 µs +p99 µs +max µs/);
    expect(r.out).toMatch(/\n {2}interactive +Pool-0 +2 /);
    expect(r.err).toMatch(/trace: \d+ records written to .*t\.json \(perfetto\)/);
    const trace = JSON.parse(readFileSync(join(dir, 't.json'), 'utf8'));
    expect(JSON.stringify(trace).length).toBeGreaterThan(10_000);
    for (const f of ['results.json', 'results.csv', 'summary.csv', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(res.runs).toHaveLength(1);
    expect(res.summary[0].groups.map((g: { group: string }) => g.group)).toEqual(['hog', 'interactive']);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^run,combo,seed,policy,status,domain,group,domid,/);
    expect(csv).toHaveLength(1 + 5);
    // a JSON-lines trace, and xentrace binary
    expect(xt('run', TINY, '--trace', join(dir, 't.jsonl')).code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 't.jsonl'), 'utf8').split('\n')[0])).toHaveProperty('type');
    expect(xt('run', TINY, '--trace', join(dir, 't.xentrace')).code).toBe(0);
    expect(statSync(join(dir, 't.xentrace')).size).toBeGreaterThan(1000);
  });

  it('sweep: the cross product on worker threads equals the same sweep in one thread, byte for byte', () => {
    const a = xt('sweep', TINY, '--param', 'n=1,2', '--param', 'domains.tick.weight=1,2', '--seeds', '2', '--jobs', '2', '--out', 'par');
    expect(a.code).toBe(0);
    expect(a.err).toMatch(/sweep tiny: 4 combination\(s\) × 2 seed\(s\) = 8 runs on 2 worker thread\(s\)/);
    expect(a.out).toMatch(/combination +ok +guests/);
    expect(a.out).toMatch(/n=2 domains\.tick\.weight=2 +2\/2 +3 /);
    const b = xt('sweep', TINY, '--param', 'n=1,2', '--param', 'domains.tick.weight=1,2', '--seeds', '2', '--jobs', '0', '--out', 'ser', '--no-report');
    expect(b.code).toBe(0);
    for (const f of ['results.json', 'results.csv', 'summary.csv']) expect(readFileSync(join(dir, 'par', f)).equals(readFileSync(join(dir, 'ser', f))), f).toBe(true);
    expect(existsSync(join(dir, 'ser', 'report.html'))).toBe(false);
    const res = JSON.parse(readFileSync(join(dir, 'par', 'results.json'), 'utf8'));
    expect(res.runs.map((r: { id: string }) => r.id)).toEqual([
      'n=1 domains.tick.weight=1 seed=1',
      'n=1 domains.tick.weight=1 seed=2',
      'n=1 domains.tick.weight=2 seed=1',
      'n=1 domains.tick.weight=2 seed=2',
      'n=2 domains.tick.weight=1 seed=1',
      'n=2 domains.tick.weight=1 seed=2',
      'n=2 domains.tick.weight=2 seed=1',
      'n=2 domains.tick.weight=2 seed=2',
    ]);
    const s = res.summary[2];
    expect(s).toMatchObject({ label: 'n=2 domains.tick.weight=1', runs: 2, failed: 0, guests: 3 });
    expect(s.throughput.n).toBe(2);
    expect(s.throughput.ci95).not.toBeNull();
    // xt report re-renders the same page from the results
    const before = readFileSync(join(dir, 'par', 'report.html'), 'utf8');
    const rep = xt('report', 'par', '--out', join(dir, 'again.html'));
    expect(rep.code).toBe(0);
    expect(readFileSync(join(dir, 'again.html'), 'utf8')).toBe(before);
  });

  it('list-schedulers, list-workloads, list-scenarios, list-devices', () => {
    const s = JSON.parse(xt('list-schedulers', '--json').out);
    const bvt = s.find((x: { name: string }) => x.name === 'bvt');
    expect(bvt.poolParams.map((p: { name: string }) => p.name)).toContain('ctx_allow');
    expect(bvt.domainParams.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['mcu_adv', 'warpback', 'warpvalue', 'warpl', 'warpu']));
    expect(s.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['rr', 'bvt', 'credit']));
    expect(xt('list-schedulers').out).toMatch(/ctx_allow \(ns\) +\d+\.\.\d+, default 5000000/);
    const w = JSON.parse(xt('list-workloads', '--json').out);
    expect(w.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['cpuhog', 'interactive', 'forkbomb', 'memhog']));
    const sc = JSON.parse(xt('list-scenarios', '--json').out);
    expect(sc.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['bvt-latency', 'isolation', 'scalability']));
    expect(sc.find((x: { name: string }) => x.name === 'bvt-latency').sweep).toEqual([{ name: 'policy', values: ['rr', 'bvt', 'bvt-warp', 'credit'] }]);
    const d = xt('list-devices', '--json');
    expect(d.code).toBe(0);
    expect(Array.isArray(JSON.parse(d.out))).toBe(true);
  });
});
