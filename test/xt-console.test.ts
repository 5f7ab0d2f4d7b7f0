import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const xt = (...args: string[]) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('xt console', () => {
  it('boots a guest, types input into its console and prints what it wrote', () => {
    const r = xt('console', '7', '--kernel', 'minios-echo', '--cmdline', 'lines=2', '--input', 'hi there\\nquit\\n', '--for', '50ms');
    expect(r.err).toMatch(/domain 7 \(minios-echo\) after 0\.050 s of virtual time: \d+ bytes of console output; shut down \(code 0\)/);
    expect(r.code).toBe(0);
    expect(r.out).toBe('line 1 of 2\nline 2 of 2\necho: hi there\nbye\n');
  });

  it.each([
    [['console'], /no live host to attach to; give --kernel/],
    [['console', '--kernel', 'nope'], /unknown kernel "nope" \(have: .*minios-echo/],
    [['console', 'x', '--kernel', 'minios-echo'], /must be an integer/],
  ])('xt %j fails with one line and exit code 2', (args, msg) => {
    const r = xt(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(msg);
  });
});
