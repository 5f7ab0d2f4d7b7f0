/**
 * The reference: Xen 4.17's C xenstored (Debian's xen-utils-4.17), started on a private socket for
 * benchmarks and interop tests. It needs a hypervisor to start, so it runs under a small
 * LD_PRELOAD shim (tools/native/xenstored-shim.c, compiled on first use with the system's C
 * compiler) that stands in for the Xen devices; only socket clients talk to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SHIM_SOURCE = join(HERE, '..', '..', 'native', 'xenstored-shim.c');

/** Where Xen's binaries are (Debian's layout), or null. */
export function findXenstored(): string | null {
  for (const p of ['/usr/lib/xen-4.17/bin/xenstored', '/usr/lib/xen/bin/xenstored']) if (existsSync(p)) return p;
  return null;
}

/** Run the system's C compiler (cc, else gcc); an error message if it cannot or fails. */
export function compileC(args: string[]): { error?: string } {
  for (const cc of ['cc', 'gcc']) {
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    if (r.error) continue;
    if (r.status !== 0) return { error: `${cc} failed (is libxen-dev installed?): ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}` };
    return {};
  }
  return { error: 'no C compiler (cc or gcc) found' };
}

/** Compile the shim (cached by source hash); returns its path, or an error message. */
export function buildShim(): { path: string } | { error: string } {
  const src = readFileSync(SHIM_SOURCE);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'xenotype-native');
  const out = join(dir, `xenstored-shim-${hash}.so`);
  if (existsSync(out)) return { path: out };
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = compileC(['-O2', '-shared', '-fPIC', '-o', tmp, SHIM_SOURCE, '-ldl']);
  if (r.error) return { error: r.error };
  spawnSync('mv', [tmp, out]);
  return { path: out };
}

export interface CXenstored {
  readonly socket: string;
  readonly proc: ChildProcess;
  readonly dir: string;
  /** Replace the set of existing domains (besides dom0). */
  setDomains(ids: number[]): void;
  /** Wake the daemon as an event would: a guest's store port, or VIRQ_DOM_EXC. */
  kick(virq?: boolean): void;
  /** The file that is guest `domid`'s ring page once it is introduced. */
  ringFile(domid: number): string;
  stop(): Promise<void>;
}

/** Why the reference daemon cannot run here, or null if it can. */
export function cXenstoredUnavailable(): string | null {
  if (!findXenstored()) return 'xenstored from xen-utils-4.17 is not installed';
  const s = buildShim();
  return 'error' in s ? s.error : null;
}

/** Start the C daemon on a fresh socket; resolves once it accepts connections. */
export async function startCXenstored(opts: { domains?: number[]; args?: string[] } = {}): Promise<CXenstored> {
  const bin = findXenstored();
  if (!bin) throw new Error('xenstored from xen-utils-4.17 is not installed');
  const shim = buildShim();
  if ('error' in shim) throw new Error(shim.error);
  const dir = mkdtempSync(join(tmpdir(), 'cxenstored-'));
  const socket = join(dir, 'socket');
  const setDomains = (ids: number[]) => writeFileSync(join(dir, 'domains'), ids.join(','));
  setDomains(opts.domains ?? []);
  const proc = spawn(bin, ['-N', ...(opts.args ?? [])], {
    env: { ...process.env, LD_PRELOAD: shim.path, XENSTORED_RUNDIR: dir, XENSTORED_PATH: socket, XS_SHIM_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const t0 = Date.now();
  while (!existsSync(socket)) {
    if (proc.exitCode !== null) throw new Error(`xenstored exited (${proc.exitCode}): ${err.trim()}`);
    if (Date.now() - t0 > 5000) {
      proc.kill();
      throw new Error('xenstored did not create its socket within 5 s');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    socket,
    proc,
    dir,
    setDomains,
    kick: (virq = false) => {
      const fd = openSync(join(dir, 'evtchn'), constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, virq ? 'V' : 'e');
      } finally {
        closeSync(fd);
      }
    },
    ringFile: (domid) => join(dir, `ring-${domid}`),
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
