/**
 * xenstore throughput over the Unix socket: Xen's libxenstore driving one persistent connection
 * (tools/native/xsbench.c: 2000 keys; write of new nodes, overwrite, read, and transactions of
 * start + write + commit), against `xt host` (dom0's xenstored in a live host, paced to the wall
 * clock) and, in the same run with the same client, against Xen 4.17's C xenstored (under its
 * no-hypervisor shim). Rounds alternate between the two daemons; each figure is the best of the
 * rounds, after one warm-up round per daemon (our daemon's JIT warms up there).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildShim, compileC, findXenstored } from '../xenstored/c-reference';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLIENT_SOURCE = join(HERE, '..', '..', 'native', 'xsbench.c');
const XT = join(HERE, '..', '..', 'bin', 'xt.mjs');

export interface XsFigures {
  write_new: number;
  write: number;
  read: number;
  tx: number;
}

export interface XenstoreBench {
  ours: XsFigures;
  c: XsFigures;
  rounds: number;
  ops: number;
  txs: number;
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Compile the libxenstore client (cached by source hash); its path, or why it cannot be built. */
export function buildClient(): { path: string } | { error: string } {
  const src = readFileSync(CLIENT_SOURCE);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'xenotype-native');
  const out = join(dir, `xsbench-${hash}`);
  if (existsSync(out)) return { path: out };
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = compileC(['-O2', '-o', tmp, CLIENT_SOURCE, '-lxenstore']);
  if (r.error) return { error: r.error };
  spawnSync('mv', [tmp, out]);
  return { path: out };
}

function waitSocket(path: string, proc: ChildProcess, what: string, ms = 30_000): void {
  const t0 = Date.now();
  while (!existsSync(path)) {
    if (proc.exitCode !== null) throw new Error(`${what} exited early`);
    if (Date.now() - t0 > ms) throw new Error(`${what} did not create ${path}`);
    sleep(10);
  }
  sleep(50);
}

function runClient(client: string, socket: string, ops: number, txs: number): XsFigures {
  const r = spawnSync(client, [String(ops), String(txs)], { env: { ...process.env, XENSTORED_PATH: socket }, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`xsbench failed: ${r.stderr.trim() || r.error?.message}`);
  return JSON.parse(r.stdout) as XsFigures;
}

const best = (a: XsFigures, b: XsFigures): XsFigures => ({ write_new: Math.max(a.write_new, b.write_new), write: Math.max(a.write, b.write), read: Math.max(a.read, b.read), tx: Math.max(a.tx, b.tx) });
const ZERO: XsFigures = { write_new: 0, write: 0, read: 0, tx: 0 };

/** Why the benchmark cannot run here, or null. */
export function xenstoreBenchUnavailable(): string | null {
  if (!findXenstored()) return 'xenstored (xen-utils-4.17) is not installed';
  const s = buildShim();
  if ('error' in s) return s.error;
  const c = buildClient();
  return 'error' in c ? c.error : null;
}

export function runXenstoreBench(opts: { rounds?: number; ops?: number; txs?: number } = {}): XenstoreBench {
  const rounds = opts.rounds ?? 5;
  const ops = opts.ops ?? 20_000;
  const txs = opts.txs ?? 5_000;
  const client = buildClient();
  if ('error' in client) throw new Error(client.error);
  const shim = buildShim();
  if ('error' in shim) throw new Error(shim.error);
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-xsbench-'));
  const procs: ChildProcess[] = [];
  try {
    const ourSock = join(dir, 'xt', 'socket');
    const ours = spawn(process.execPath, [XT, 'host', '--socket', ourSock], { stdio: 'ignore' });
    procs.push(ours);
    const cDir = join(dir, 'c');
    mkdirSync(cDir);
    const cSock = join(cDir, 'socket');
    const c = spawn(findXenstored()!, ['-N'], { stdio: 'ignore', env: { ...process.env, LD_PRELOAD: shim.path, XENSTORED_RUNDIR: cDir, XENSTORED_PATH: cSock } });
    procs.push(c);
    waitSocket(ourSock, ours, 'xt host');
    waitSocket(cSock, c, 'C xenstored');
    runClient(client.path, ourSock, ops, txs); // warm-up
    runClient(client.path, cSock, ops, txs);
    let o = ZERO;
    let r = ZERO;
    for (let i = 0; i < rounds; i++) {
      r = best(r, runClient(client.path, cSock, ops, txs));
      o = best(o, runClient(client.path, ourSock, ops, txs));
    }
    return { ours: o, c: r, rounds, ops, txs };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    sleep(100);
    rmSync(dir, { recursive: true, force: true });
  }
}
