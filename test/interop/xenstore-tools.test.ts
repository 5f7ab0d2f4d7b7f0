/**
 * Xen's own xenstore clients against `xt host`: xenstore-utils, test-xenstore (xen-utils-4.17),
 * xenstore-control and python's pyxs, over the live host's Unix socket. Skipped, with the reason,
 * only if those binaries are not installed (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XS, XsParser, encode, message, cstrings, bstr } from '@xenotype/xenstore';

const XT = join(__dirname, '..', '..', 'tools', 'bin', 'xt.mjs');
const BIN = '/usr/bin';
const TEST_XENSTORE = '/usr/lib/xen-4.17/bin/test-xenstore';
const CONTROL = '/usr/lib/xen-4.17/bin/xenstore-control';
const PY = '/usr/bin/python3';
const missing = [`${BIN}/xenstore-read`, TEST_XENSTORE, CONTROL, PY].filter((p) => !existsSync(p));
const pyxs = existsSync(PY) && spawnSync(PY, ['-c', 'import pyxs'], { encoding: 'utf8' }).status === 0;
const skip = missing.length > 0 ? `Xen's tools are not installed (${missing.join(', ')})` : '';

let dir = '';
let socket = '';
let proc: ChildProcess | null = null;
let hostErr = '';

function tool(name: string, args: string[], opts: { timeout?: number } = {}) {
  const r = spawnSync(name.startsWith('/') ? name : `${BIN}/${name}`, args, { env: { ...process.env, XENSTORED_PATH: socket }, encoding: 'utf8', timeout: opts.timeout ?? 10_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!!skip)(`Xen's xenstore clients against xt host${skip ? ` — skipped: ${skip}` : ''}`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xt-host-test-'));
    socket = join(dir, 'socket');
    proc = spawn(process.execPath, [XT, 'host', '--socket', socket, '--guest', 'web:minios-idle'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (hostErr += d));
    const t0 = Date.now();
    while (!out.includes('xenstored socket:')) {
      if (proc.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`xt host did not start: ${hostErr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(out).toContain(`export XENSTORED_PATH=${socket}`);
  }, 40_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('xenstore-write, -read (several keys, -p), -exists, -list, -ls -f -p, -rm (-t), -chmod (-r)', () => {
    expect(tool('xenstore-write', ['/cli/a', '1', '/cli/b/c', '2'])).toMatchObject({ code: 0 });
    expect(tool('xenstore-read', ['/cli/a', '/cli/b/c']).out).toBe('1\n2\n');
    expect(tool('xenstore-read', ['-p', '/cli/b/c']).out).toBe('/cli/b/c: 2\n');
    expect(tool('xenstore-exists', ['/cli/a']).code).toBe(0);
    expect(tool('xenstore-exists', ['/cli/nope']).code).toBe(1);
    expect(tool('xenstore-list', ['/cli']).out).toBe('a\nb\n');
    expect(tool('xenstore-list', ['-p', '/cli']).out).toBe('/cli/a\n/cli/b\n');
    expect(tool('xenstore-chmod', ['/cli/a', 'r0', 'b3'])).toMatchObject({ code: 0 });
    expect(tool('xenstore-ls', ['-p', '/cli']).out).toMatch(/^a = "1" .*\(r0,b3\)$/m);
    expect(tool('xenstore-chmod', ['-r', '/cli/b', 'n0', 'r1'])).toMatchObject({ code: 0 });
    expect(tool('xenstore-ls', ['-f', '-p', '/cli']).out).toBe(
      ['/cli/a = "1"   (r0,b3)', '/cli/b = ""   (n0,r1)', '/cli/b/c = "2"   (n0,r1)', ''].join('\n'),
    );
    // the guest was introduced with libxl's layout
    expect(tool('xenstore-read', ['/local/domain/1/name']).out).toBe('web\n');
    expect(tool('xenstore-ls', ['-p', '/local/domain/1']).out).toMatch(/^data = "" .*\(n1\)$/m);
    expect(tool('xenstore-rm', ['/cli/nonexistent']).code).toBe(0);
    const bad = tool('xenstore-rm', ['/cli/no/such']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/could not remove path/);
    expect(tool('xenstore-rm', ['-t', '/cli/b/c']).code).toBe(0);
    expect(tool('xenstore-exists', ['/cli/b']).code).toBe(1);
    expect(tool('xenstore-exists', ['/cli/a']).code).toBe(0);
    expect(tool('xenstore-write', ['rel/x', 'y']).code).toBe(0);
    expect(tool('xenstore-read', ['/local/domain/0/rel/x']).out).toBe('y\n');
  });

  it('xenstore-list of 400 long children goes through DIRECTORY_PART', () => {
    const names = Array.from({ length: 400 }, (_, i) => `child-with-a-long-name-${i}`);
    const args = names.flatMap((n) => [`/many/${n}`, '']);
    for (let i = 0; i < args.length; i += 200) expect(tool('xenstore-write', args.slice(i, i + 200)).code).toBe(0);
    const r = tool('xenstore-list', ['/many']);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(names);
  });

  it('xenstore-watch -n 4 prints the initial event, then each change, removal included', async () => {
    tool('xenstore-write', ['/cli/w', '0']);
    const w = spawn(`${BIN}/xenstore-watch`, ['-n', '4', '/cli/w'], { env: { ...process.env, XENSTORED_PATH: socket } });
    let out = '';
    w.stdout.on('data', (d) => (out += d));
    const t0 = Date.now();
    while (!out.includes('/cli/w')) {
      if (Date.now() - t0 > 10_000) throw new Error('no initial watch event');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(tool('xenstore-write', ['/cli/w/x', '1']).code).toBe(0);
    expect(tool('xenstore-write', ['/cli/w', '2']).code).toBe(0);
    expect(tool('xenstore-rm', ['/cli/w']).code).toBe(0);
    const code = await new Promise<number | null>((r) => w.once('exit', r));
    expect(code).toBe(0);
    expect(out).toBe('/cli/w\n/cli/w/x\n/cli/w\n/cli/w\n');
  });

  it('test-xenstore passes all 12 tests', () => {
    const r = tool(TEST_XENSTORE, [], { timeout: 60_000 });
    expect(r.code, r.out + r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0].trim())).toEqual(['read 1', 'read 2000', 'write 1', 'write 2000', 'dir', 'rm node', 'rm dir', 'ta empty', 'ta empty x', 'ta rmw', 'ta rmw x', 'ta err']);
    expect(r.out).not.toMatch(/failed/);
    for (const l of lines) expect(l).toMatch(/: \d+ ns$/);
  });

  it('xenstore-control: help, quota, check', () => {
    const h = tool(CONTROL, ['help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^quota\t\[set <name> <val>\|<domid>\]$/m);
    expect(tool(CONTROL, ['quota']).out).toMatch(/^nodes +: +1000 Nodes per domain$/m);
    expect(tool(CONTROL, ['check']).code).toBe(0);
  });

  it.skipIf(!pyxs)('pyxs: read, write, list, perms, transactions, watches (skipped if python3-pyxs is missing)', () => {
    const py = `
from pyxs import Client
c = Client(unix_socket_path=${JSON.stringify(socket)}); c.connect()
c.write(b'/py/a', b'hello'); print(c.read(b'/py/a').decode(), c.list(b'/py'), c.get_perms(b'/py/a'))
c.set_perms(b'/py/a', [b'r0', b'w1']); print(c.get_perms(b'/py/a'))
c.transaction(); c.write(b'/py/t', b'x'); print('commit', c.commit())
print(c.read(b'/py/t').decode(), c.exists(b'/py/nope'), c.get_domain_path(3).decode(), c.is_domain_introduced(1))
with c.monitor() as m:
    m.watch(b'/py', b'tok')
    c.write(b'/py/c', b'1')
    it = m.wait()
    print(next(it)); print(next(it))
c.close()
`;
    const r = spawnSync(PY, ['-c', py], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        "hello [b'a'] [b'n0']",
        "[b'r0', b'w1']",
        'commit True',
        'x False /local/domain/3 True',
        "Event(path=b'/py', token=b'tok')",
        "Event(path=b'/py/c', token=b'tok')",
        '',
      ].join('\n'),
    );
  });

  it('malformed frames over the socket get errors or a closed connection; the daemon keeps serving', async () => {
    const talk = (frames: Uint8Array[]) =>
      new Promise<{ replies: string[]; closed: boolean }>((resolve) => {
        const s = net.createConnection(socket);
        const p = new XsParser();
        const replies: string[] = [];
        let closed = false;
        s.on('data', (d) => {
          p.push(d);
          for (let r = p.next(); r.kind === 'packet'; r = p.next()) replies.push(`${r.msg.type === XS.ERROR ? 'ERR ' : ''}${bstr(r.msg.payload).replace(/\0$/, '')}`);
        });
        s.on('close', () => {
          closed = true;
        });
        s.on('error', () => {});
        s.on('connect', () => {
          for (const f of frames) s.write(f);
          setTimeout(() => {
            s.destroy();
            resolve({ replies, closed });
          }, 300);
        });
      });
    const r1 = await talk([
      encode(message(XS.READ, '/tool')), // no NUL
      encode(message(999, '')),
      encode(message(XS.WRITE, '/a//b\0x')),
      encode(message(XS.TRANSACTION_END, 'T\0', 0, 5)),
      encode(message(XS.WATCH, cstrings('/x', 't', '3'))),
    ]);
    expect(r1).toEqual({ replies: ['ERR EINVAL', 'ERR ENOSYS', 'ERR EINVAL', 'ERR ENOENT', 'ERR EINVAL'], closed: false });
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(12, 5000, true);
    const r2 = await talk([encode(message(XS.READ, '/tool\0')), huge, encode(message(XS.READ, '/tool\0'))]);
    expect(r2.replies).toEqual(['']);
    expect(r2.closed).toBe(true);
    expect(tool('xenstore-read', ['/cli/a']).out).toBe('1\n');
    expect(hostErr).not.toMatch(/internal error/);
  });
});
