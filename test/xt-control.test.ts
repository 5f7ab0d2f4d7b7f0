/**
 * Acting on a live host as xl acts on Xen: the control socket runs each request as a dom0 job
 * through Xc; the CLI commands are thin clients. Bad requests get one-line errors; nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveHost } from '../tools/src/host/live';
import { controlRequest } from '../tools/src/control/client';

const XT = join(__dirname, '..', 'tools', 'bin', 'xt.mjs');
/** Run xt asynchronously (the live host lives in this process and must keep pumping). */
const xt = (args: string[], host: string) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, [XT, ...args], { env: { ...process.env, XENOTYPE_HOST: host } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });

let dir: string;
let live: LiveHost;
let ctl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xt-ctl-'));
  live = new LiveHost({
    socket: join(dir, 'xs'),
    host: { cpus: 2, memoryMiB: 256, scheduler: 'credit' },
    guests: [
      { name: 'web', kernel: 'minios-cpuhog', memoryMiB: 8 },
      { name: 'db', kernel: 'minios-interactive', memoryMiB: 8 },
    ],
  });
  await live.start();
  ctl = live.control.path;
}, 30_000);

afterAll(async () => {
  await live.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('live host control', () => {
  it('lists domains with names from xenstore', async () => {
    const l = (await controlRequest(ctl, 'list')) as { name: string; domid: number; pool: number }[];
    expect(l.map((d) => [d.name, d.domid])).toEqual([['Domain-0', 0], ['web', 1], ['db', 2]]);
  });

  it('sets and reads credit parameters (xl sched-credit), refusing bad values and the wrong policy', async () => {
    expect(await controlRequest(ctl, 'sched', { domid: 1, params: { weight: 512, cap: 40 } })).toEqual({ scheduler: 'credit', domid: 1, params: { weight: 512, cap: 40 } });
    await expect(controlRequest(ctl, 'sched', { domid: 1, params: { weight: 70000 } })).rejects.toThrow(/weight must be between 1 and 65535/);
    await expect(controlRequest(ctl, 'sched', { domid: 1, params: { warp: 1 } })).rejects.toThrow(/no per-domain parameter "warp" \(have: weight, cap\)/);
    await expect(controlRequest(ctl, 'sched', { domid: 1, params: {}, expect: 'bvt' })).rejects.toThrow(/runs credit, not bvt/);
    await expect(controlRequest(ctl, 'sched', { domid: 77 })).rejects.toThrow(/no domain 77/);
    expect(((await controlRequest(ctl, 'sched', { domid: 1 })) as { params: object }).params).toEqual({ weight: 512, cap: 40 });
    // the CLI, as a user types it
    const r = await xt(['sched-credit', '-d', '1', '-w', '256'], ctl);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('credit: weight=256 cap=40\n');
    const bad = await xt(['sched-rtds', '-d', '1', '-P', '100'], ctl);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('xt: that pool runs credit, not rtds\n');
  }, 30_000);

  it('swaps a running domain’s scheduler by moving it to a BVT pool', async () => {
    const { pool } = (await controlRequest(ctl, 'cpupool-create', { scheduler: 'bvt' })) as { pool: number };
    await controlRequest(ctl, 'cpupool-cpu-remove', { pool: 0, cpu: 1 });
    await controlRequest(ctl, 'cpupool-cpu-add', { pool, cpu: 1 });
    await controlRequest(ctl, 'cpupool-migrate', { domid: 2, pool });
    const pools = (await controlRequest(ctl, 'cpupool-list')) as { pool: number; scheduler: string; cpus: number[]; domains: number }[];
    expect(pools).toEqual([
      { pool: 0, scheduler: 'credit', cpus: [0], domains: 2 },
      { pool, scheduler: 'bvt', cpus: [1], domains: 1 },
    ]);
    expect(((await controlRequest(ctl, 'sched', { domid: 2, params: { mcu_adv: 5 } })) as { scheduler: string }).scheduler).toBe('bvt');
    const v = (await controlRequest(ctl, 'vcpu-list', { domid: 2 })) as { cpu: number }[];
    expect(v[0].cpu).toBe(1);
    await expect(controlRequest(ctl, 'cpupool-migrate', { domid: 2, pool: 9 })).rejects.toThrow(/ENOENT/);
    await expect(controlRequest(ctl, 'cpupool-create', { scheduler: 'nope' })).rejects.toThrow(/unknown scheduler "nope"/);
    expect(live.host.hv.checkInvariants()).toEqual([]);
  }, 30_000);

  it('a malformed request gets an error; the host carries on', async () => {
    await expect(controlRequest(ctl, 'frobnicate')).rejects.toThrow(/unknown operation "frobnicate"/);
    await expect(controlRequest(ctl, 'pause', { domid: 'x' })).rejects.toThrow(/domid must be an integer/);
    const r = await xt(['list'], join(dir, 'nothing-here'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^xt: no live host at .*nothing-here/);
    expect(((await controlRequest(ctl, 'list')) as unknown[]).length).toBe(3);
  }, 30_000);
});
