import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const xt = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('xt host', () => {
  it('runs paced to the wall clock for --duration, prints its socket (honouring XENSTORED_PATH), then stops cleanly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xt-host-'));
    try {
      const socket = join(dir, 'xs.sock');
      const r = xt(['host', '--duration', '1s', '--guest', 'web:minios-idle:8'], { XENSTORED_PATH: socket });
      expect(r.code, r.err).toBe(0);
      const control = join(dir, 'control');
      expect(r.out).toBe(`xenstored socket: ${socket}\ncontrol socket: ${control}\nexport XENSTORED_PATH=${socket}\nexport XENOTYPE_HOST=${control}\n`);
      expect(r.err).toMatch(/guest web: domain 1/);
      const virt = Number(/stopped at ([\d.]+) s virtual/.exec(r.err)![1]);
      expect(virt).toBeGreaterThan(0.9); // virtual time followed the wall clock
      expect(virt).toBeLessThan(30);
      expect(existsSync(socket)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['host', '--cpus', 'abc'], /--cpus.*must be an integer/],
    [['host', '--guest', 'bad name'], /--guest.*name\[:kernel\[:memMiB\]\]/],
    [['host', '--duration', 'soon'], /--duration.*duration/],
  ])('xt %j fails with one line and exit code 2', (args, msg) => {
    const r = xt(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(msg);
  });
});
