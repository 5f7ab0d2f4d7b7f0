/**
 * The scheduler comparison behind `xt compare` and docs/write-a-scheduler.md: the same scenario
 * under several policies, one row each; a policy joins the default list as soon as it is registered.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Registry, sec } from '@xenotype/core';
import { MiniOS, WORKLOADS } from '@xenotype/minios';
import { bvtScheduler } from '@xenotype/sched-bvt';
import { rrScheduler } from '@xenotype/sched-rr';
import { lotteryScheduler } from '@xenotype/sched-lottery';
import { DEFAULT_COMPARE, compareJson, compareSchedulers, defaultSchedulerNames, formatCompare } from '../src/demo/compare';
import { defaultRegistry } from '../src/host/registry';
import { HOGS } from '../src/demo/demo';

/** A registry holding only rr, BVT and lottery (and the MiniOS kernels): a host without credit. */
function withoutCredit(): Registry {
  const r = new Registry();
  for (const s of [rrScheduler, bvtScheduler, lotteryScheduler]) r.registerScheduler(s);
  for (const [name, w] of Object.entries(WORKLOADS)) r.registerKernel(`minios-${name}`, () => new MiniOS(w.app, name), w.doc);
  return r;
}

describe('compare', () => {
  it('runs the same scenario under bvt, rr and lottery: BVT follows the weights, rr ignores them, lottery follows them loosely', () => {
    const r = compareSchedulers(['bvt', 'rr', 'lottery'], { durationNs: sec(4), registry: withoutCredit });
    expect(r.rows.map((x) => [x.scheduler, x.weighted])).toEqual([
      ['bvt', true],
      ['rr', false],
      ['lottery', true],
    ]);
    const [bvt, rr, lottery] = r.rows;
    for (const row of r.rows) expect(row.hogs.map((h) => h.weight)).toEqual(HOGS.map((h) => h.weight));
    expect(bvt.maxShareError).toBeLessThanOrEqual(0.03);
    // rr: a fifth each, so the weight-1 hog gets four times its 5% entitlement
    for (const h of rr.hogs) expect(Math.abs(h.share - 0.2)).toBeLessThanOrEqual(0.01);
    expect(rr.maxShareError).toBeGreaterThanOrEqual(2.9);
    // lottery: 800 draws in 4 s; the weight-1 hog (p = 1/20) has a 3σ relative spread of ~46%
    expect(lottery.maxShareError).toBeLessThanOrEqual(0.46);
    // lottery has no preemption on wake: the interactive guest waits for draws it has ~20% odds to win
    expect(lottery.latency.p50).toBeGreaterThan(100 * bvt.latency.p50);
    const text = formatCompare(r);
    expect(text).toMatch(/^bvt +5\.\d%/m);
    expect(text).toMatch(/^rr\* +/m);
    expect(text).toMatch(/no weight parameter/);
    const j = JSON.parse(compareJson(r));
    for (const row of j.rows) for (const k of ['p50', 'p99', 'max']) expect(Number.isInteger(row.latency[k])).toBe(true);
  });

  it("credit's row appears by default once credit is registered", () => {
    expect(DEFAULT_COMPARE).toEqual(['rr', 'bvt', 'credit', 'lottery']);
    expect(defaultSchedulerNames(withoutCredit())).toEqual(['rr', 'bvt', 'lottery']);
    const reg = defaultRegistry();
    expect(defaultSchedulerNames(reg)).toEqual(DEFAULT_COMPARE.filter((n) => reg.has('scheduler', n)));
    if (reg.has('scheduler', 'credit')) expect(defaultSchedulerNames(reg)).toContain('credit');
  });

  it('xt compare prints the table (or JSON) and rejects an unknown scheduler with one line', () => {
    const XT = join(__dirname, '..', 'bin', 'xt.mjs');
    const xt = (...args: string[]) => spawnSync(process.execPath, [XT, ...args], { encoding: 'utf8', timeout: 60_000 });
    const ok = xt('compare', '--schedulers', 'bvt,lottery', '--duration', '1s', '--json');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).rows.map((x: { scheduler: string }) => x.scheduler)).toEqual(['bvt', 'lottery']);
    expect(ok.stderr).toMatch(/running lottery/);
    const bad = xt('compare', '--schedulers', 'bvt,nosuch');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/unknown scheduler "nosuch"/);
  });
});
