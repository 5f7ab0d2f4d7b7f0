/**
 * Scale-out through Redis: a real redis-server on loopback (random port, temp dir, no
 * persistence), `xt sweep --redis` enqueueing and collecting, `xt worker` processes running the
 * runs. A worker is killed (SIGKILL) in the middle of a run: its run must be re-queued (stalled-job
 * detection, short lock) and done by the other worker; every run is done to completion exactly
 * once, and the result files are byte-identical to the same sweep run locally.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const REDIS = '/usr/bin/redis-server';
const dir = mkdtempSync(join(tmpdir(), 'xt-redis-'));
const have = existsSync(REDIS);

// Runs of ~0.5–1 s wall each: long enough to kill a worker in the middle of one.
const SCENARIO = join(dir, 'slow.yaml');
writeFileSync(
  SCENARIO,
  `name: slow
params:
  slice: 1ms
host:
  cpus: 1
  memoryMiB: 256
  pools:
    - scheduler: rr
      params:
        rr:
          slice: \${slice}
domains:
  - name: hog{i}
    count: 4
    memoryMiB: 8
    workload: { type: cpuhog, chunk: 100us }
  - name: tick
    memoryMiB: 8
    workload: { type: interactive, period: 1ms, jitter: 500us, work: 100us }
duration: 6s
warmup: 100ms
measure:
  share: [hog*]
  latency: [tick]
`,
);
const SWEEP = ['sweep', SCENARIO, '--param', 'slice=1ms,2ms', '--seeds', '3', '--no-progress'];

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

interface Proc {
  p: ChildProcess;
  err: string;
  out: string;
  exited: Promise<number | null>;
}
function start(cmd: string, args: string[]): Proc {
  const p = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: Proc = { p, err: '', out: '', exited: new Promise((res) => p.once('exit', (code) => res(code))) };
  p.stdout!.on('data', (d) => (proc.out += d));
  p.stderr!.on('data', (d) => (proc.err += d));
  return proc;
}
const xt = (...args: string[]) => start(process.execPath, [XT, ...args]);

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let redis: Proc;
let url = '';
beforeAll(async () => {
  if (!have) return;
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = start(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes']);
  await until('redis-server', () => /Ready to accept connections/.test(redis.out + redis.err), 10_000);
});
afterAll(async () => {
  if (redis && redis.p.exitCode === null) {
    redis.p.kill('SIGTERM');
    await redis.exited;
  }
});

describe.skipIf(!have)('distributed sweep through Redis', () => {
  it('a worker killed mid-run loses nothing: its run is re-queued and done once; files equal a local sweep', async () => {
    const lock = ['--lock-duration', '1000', '--stalled-interval', '400'];
    const a = xt('worker', '--redis', url, '--jobs', '1', ...lock);
    await until('worker A ready', () => /waiting for runs/.test(a.err));
    const sweep = xt(...SWEEP, '--redis', url, '--out', 'dist');
    await until('worker A to start a run', () => /run "[^"]+" started/.test(a.err));
    const victim = /run "([^"]+)" started/.exec(a.err)![1];
    a.p.kill('SIGKILL');
    expect(await a.exited).toBeNull(); // killed by the signal
    expect(a.err).not.toMatch(new RegExp(`run "${victim}" ok`));

    const b = xt('worker', '--redis', url, '--jobs', '2', ...lock);
    expect(await sweep.exited).toBe(0);
    expect(sweep.err).toMatch(/queued 6 run\(s\) of 6/);
    expect(sweep.out).toMatch(/slice=2ms +3\/3 /);
    b.p.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(b.err).toMatch(/SIGTERM: finishing the runs in hand/);

    // every run completed exactly once across both workers, the victim by B
    const done = [...(a.err + b.err).matchAll(/run "([^"]+)" ok in/g)].map((m) => m[1]).sort();
    const ids = ['slice=1ms seed=1', 'slice=1ms seed=2', 'slice=1ms seed=3', 'slice=2ms seed=1', 'slice=2ms seed=2', 'slice=2ms seed=3'];
    expect(done).toEqual(ids);
    expect(b.err).toMatch(new RegExp(`run "${victim}" ok in`));
    const res = JSON.parse(readFileSync(join(dir, 'dist', 'results.json'), 'utf8'));
    expect(res.runs.map((r: { id: string }) => r.id)).toEqual(ids);

    // the same sweep on this machine: the same bytes
    const local = spawnSync(process.execPath, [XT, ...SWEEP, '--jobs', '0', '--out', 'local'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(local.status).toBe(0);
    for (const f of ['results.json', 'results.csv', 'summary.csv', 'report.html']) expect(readFileSync(join(dir, 'dist', f)).equals(readFileSync(join(dir, 'local', f))), f).toBe(true);
  });
});
