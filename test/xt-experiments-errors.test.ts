/**
 * xt run, sweep, report and worker on bad input: one line on stderr naming the file, line:column,
 * field and what was expected, no stack trace, exit code 2; a failure while running exits 1. And
 * --help on every experiment command.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
const dir = mkdtempSync(join(tmpdir(), 'xt-err-'));
const xt = (...args: string[]) => {
  const r = spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000, cwd: dir });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const GOOD = `name: tiny
params:
  n: 2
host:
  cpus: 1
  memoryMiB: 128
  pools:
    - scheduler: rr
domains:
  - name: hog{i}
    count: \${n}
    memoryMiB: 8
    workload: { type: cpuhog, chunk: 500us }
duration: 200ms
`;
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return name;
};
file('good.yaml', GOOD);
file('type.yaml', GOOD.replace('    memoryMiB: 8', '    memoryMiB: eight'));
file('field.yaml', GOOD.replace('    memoryMiB: 8', '    memoryMiB: 8\n    colour: red'));
file('required.yaml', GOOD.replace('    memoryMiB: 8\n', ''));
file('sched.yaml', GOOD.replace('scheduler: rr', 'scheduler: fifo'));
file('syntax.yaml', GOOD.replace('  cpus: 1', '  cpus: [1'));
file('bad.json', '{ "name": "j", "host": { "cpus": 1, "memoryMiB": 128, "pools": [{ "scheduler": "rr" }] }, "domains": [], "duration": "1s" }');

describe('xt experiments on bad input', () => {
  it.each([
    [['run', 'nosuch.yaml'], /^error: scenario file "nosuch\.yaml" not found \(nor a built-in scenario of that name; built-in: .*bvt-latency/],
    [['run', 'type.yaml'], /^error: type\.yaml:12:16: domains\[0\]\.memoryMiB: expected an integer, got "eight"$/],
    [['run', 'field.yaml'], /^error: field\.yaml:13:5: domains\[0\]\.colour: unknown field "colour" \(expected one of: name, group, count, memoryMiB, /],
    [['run', 'required.yaml'], /^error: required\.yaml:10:5: domains\[0\]: missing required field "memoryMiB"$/],
    [['run', 'sched.yaml'], /^error: sched\.yaml:8:18: host\.pools\[0\]\.scheduler: unknown scheduler "fifo" \(registered: .*bvt.*\)$/],
    [['run', 'syntax.yaml'], /^error: syntax\.yaml:\d+:\d+: not valid YAML\/JSON: /],
    [['run', 'bad.json'], /^error: bad\.json:1:\d+: domains: expected at least 1 item\(s\)$/],
    [['run', 'good.yaml', '--param', 'n'], /^error: --param "n": expected name=value$/],
    [['run', 'good.yaml', '--param', 'm=3'], /^error: scenario "tiny" has no parameter "m" \(declared: n; /],
    [['run', 'good.yaml', '--param', 'n=abc'], /^error: good\.yaml:11:12: domains\[0\]\.count: expected an integer, got "abc" \(from \$\{n\}\) \[with n=abc\]$/],
    [['run', 'good.yaml', '--trace', 't.txt'], /^error: cannot tell the trace format of "t\.txt": use \.json, /],
    [['run', 'bvt-latency', '--param', 'policy=fifo'], /^error: builtin:bvt-latency: parameter policy: expected one of rr, bvt, bvt-warp, credit, got "fifo" \[with policy=fifo\]$/],
    [['sweep', 'good.yaml', '--param', 'n=1,x', '--jobs', '0'], /^error: good\.yaml:11:12: domains\[0\]\.count: expected an integer, got "x" \(from \$\{n\}\) \[with n=x\]$/],
    [['sweep', 'good.yaml', '--redis', 'localhost:6379'], /^error: --redis "localhost:6379": expected a redis:\/\/ or rediss:\/\/ URL$/],
    [['report', 'nowhere'], /^error: nowhere\/results\.json: not found \(xt report takes a directory written by xt sweep or xt run --out\)$/],
    [['worker'], /required option '--redis <url>' not specified/],
  ])('xt %j: one line, exit 2', (args, re) => {
    const r = xt(...(args as string[]));
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err.trim()).toMatch(re as RegExp);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
    expect(r.code).toBe(2);
  });

  it('failures while running are one line and exit 1', () => {
    const t = xt('run', 'good.yaml', '--trace', '/nonexistent-dir/x/t.jsonl');
    expect(t.code).toBe(1);
    expect(t.err.trim().split('\n').at(-1)).toMatch(/^xt: .*ENOENT/);
    const redis = xt('sweep', 'good.yaml', '--redis', 'redis://127.0.0.1:1', '--no-progress');
    expect(redis.code).toBe(1);
    expect(redis.err.trim().split('\n').at(-1)).toMatch(/^xt: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: /);
  });

  it('--help works for every experiment command', () => {
    for (const c of ['run', 'sweep', 'report', 'worker', 'list-schedulers', 'list-devices', 'list-workloads', 'list-scenarios']) {
      const r = xt(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out).toMatch(new RegExp(`Usage: xt ${c}`));
    }
  });
});
