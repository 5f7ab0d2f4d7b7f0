/**
 * The lottery policy (the example of docs/write-a-scheduler.md) on a real host: tickets set with
 * XEN_DOMCTL_scheduler_op, the quantum with XEN_SYSCTL_scheduler_op, CPU shares from the vCPUs'
 * runstate times, decisions from the trace.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Errno, ms, sec, type Ns } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { DEFAULT_QUANTUM, DEFAULT_TICKETS, LOTTERY_SCHED_ID, MAX_TICKETS, QUANTUM_MAX, QUANTUM_MIN, lotteryCtl, lotteryParams, lotteryScheduler } from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import { defaultRegistry } from '../../../tools/src/host/registry';
import { shares } from '../../../tools/src/metrics';
import { stressScheduler } from '../../../tools/test/sched-stress';

const LOTTERY = lotteryScheduler.schedId;

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

/** One pCPU, a CPU hog per entry of `tickets`, unpaused together. */
function lotteryHost(tickets: number[], seed = 1) {
  const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'lottery', seed });
  const ids = host.run('build', function* ({ xc }) {
    const out = tickets.map((t, i) => {
      const id = buildDomain(xc, { name: `hog${i}`, memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)}`, paused: true }).domid;
      xc.schedDomainSet(id, LOTTERY, lotteryParams, { tickets: t });
      return id;
    });
    for (const id of out) xc.domainUnpause(id);
    return out;
  });
  const cpu = (id: number): Ns => host.hv.domains.get(id)!.vcpus[0].cpuTime(host.now);
  return { host, ids, cpu };
}

const TICKETS = [100, 200, 500];

describe('lottery', () => {
  it('CPU shares converge to the ticket proportions (1 : 2 : 5), the error shrinking like 1/√draws', () => {
    const { host, ids, cpu } = lotteryHost(TICKETS);
    host.runFor(ms(100));
    const c0 = ids.map(cpu);
    const rows: { horizon: Ns; maxErr: number; bound: number }[] = [];
    let t = 0;
    for (const horizon of [sec(1), sec(10), sec(60)]) {
      host.runFor(horizon - t);
      t = horizon;
      const r = shares(TICKETS.map((w, i) => ({ name: `t${w}`, weight: w, cpuNs: cpu(ids[i]) - c0[i] })));
      // each quantum is a Bernoulli draw: the smallest holder (p = 1/8) has the largest relative
      // spread, sqrt((1 − p) / (p · draws)); 3σ of it bounds every domain's error
      const draws = horizon / DEFAULT_QUANTUM;
      const bound = 3 * Math.sqrt((1 - 1 / 8) / ((1 / 8) * draws));
      const maxErr = Math.max(...r.map((x) => Math.abs(x.error)));
      expect(maxErr).toBeLessThanOrEqual(bound);
      rows.push({ horizon, maxErr, bound });
    }
    // 200, 2000 and 12000 draws: 3σ = 56%, 18% and 7.2%; over a minute every share is within 3%
    expect(rows.map((r) => Math.round(r.bound * 1000) / 10)).toEqual([56.1, 17.7, 7.2]);
    expect(rows[2].maxErr).toBeLessThanOrEqual(0.03);
    expect(rows[2].maxErr).toBeLessThan(rows[0].maxErr);
    expect(host.hv.checkInvariants()).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
  });

  it('is deterministic: the same seed gives the same draws, another seed other draws and the same shares', () => {
    const run = (seed: number) => {
      const { host, ids, cpu } = lotteryHost(TICKETS, seed);
      const picks: string[] = [];
      host.hv.trace.subscribe((r) => {
        if (r.type === 'switch') picks.push(`${r.t}:${r.nextDom}`);
        if (r.type === 'continue') picks.push(`${r.t}:=${r.dom}`);
      });
      host.runFor(sec(10));
      return { picks, used: ids.map(cpu) };
    };
    const a = run(7);
    const b = run(7);
    const c = run(8);
    expect(a.picks.length).toBeGreaterThanOrEqual(1900); // a draw every 5 ms
    expect(b.picks).toEqual(a.picks);
    expect(b.used).toEqual(a.used);
    expect(c.picks).not.toEqual(a.picks);
    for (const x of [a, c]) {
      const r = shares(TICKETS.map((w, i) => ({ name: `${w}`, weight: w, cpuNs: x.used[i] })));
      for (const row of r) expect(Math.abs(row.error)).toBeLessThanOrEqual(0.18); // 3σ at 2000 draws
    }
  });

  it('validates tickets (1..1e6) and the quantum (100 µs..1 s); -EINVAL changes nothing', () => {
    const { host, ids } = lotteryHost([DEFAULT_TICKETS]);
    const id = ids[0];
    const r = host.run('adjust', function* ({ xc }) {
      const initial = xc.schedDomainGet(id, LOTTERY, lotteryParams).tickets;
      xc.schedDomainSet(id, LOTTERY, lotteryParams, { tickets: 42 });
      const rcs = [0, MAX_TICKETS + 1].map((tickets) => rcOf(() => xc.schedDomainSet(id, LOTTERY, lotteryParams, { tickets })));
      const after = xc.schedDomainGet(id, LOTTERY, lotteryParams).tickets;
      const q0 = xc.schedGlobalGet(0, LOTTERY, lotteryCtl).quantum;
      const qrcs = [QUANTUM_MIN - 1, QUANTUM_MAX + 1].map((quantum) => rcOf(() => xc.schedGlobalSet(0, LOTTERY, lotteryCtl, { quantum })));
      xc.schedGlobalSet(0, LOTTERY, lotteryCtl, { quantum: ms(2) });
      return { initial, rcs, after, q0, qrcs, q1: xc.schedGlobalGet(0, LOTTERY, lotteryCtl).quantum };
    });
    expect(r).toEqual({ initial: DEFAULT_TICKETS, rcs: [-Errno.EINVAL, -Errno.EINVAL], after: 42, q0: DEFAULT_QUANTUM, qrcs: [-Errno.EINVAL, -Errno.EINVAL], q1: ms(2) });
  });

  it('registers under its own id (16), which no Xen scheduler uses', () => {
    expect(LOTTERY_SCHED_ID).toBe(16);
    const reg = defaultRegistry();
    expect(reg.scheduler('lottery')).toBe(lotteryScheduler);
    expect(reg.schedulerById(16)).toBe(lotteryScheduler);
    for (const name of reg.list('scheduler')) if (name !== 'lottery') expect(reg.scheduler(name).schedId).toBeLessThan(16);
  });
});

describe('lottery under random pause / unpause / pin / adjust on 2 pCPUs', () => {
  it('keeps every runnable vCPU on exactly one run queue, its pCPU’s, and every vCPU runs once unpaused', () => {
    type Rec = { unit: { res: number }; queued: boolean };
    stressScheduler({
      scheduler: 'lottery',
      schedId: LOTTERY,
      layout: lotteryParams,
      params: fc.record({ tickets: fc.integer({ min: 0, max: 2000 }), pad: fc.constant(0) }), // 0 is -EINVAL
      live: true,
      check: (vcpus) => {
        const errs: string[] = [];
        const pool = vcpus[0].domain.pool;
        const where = new Map<Rec, number>();
        for (const cpu of pool.cpuIds)
          for (const u of pool.ctx.pdata<{ runq: Rec[] }>(cpu).runq) {
            if (where.has(u)) errs.push(`a unit is queued on cpus ${where.get(u)} and ${cpu}`);
            where.set(u, cpu);
            if (!u.queued) errs.push(`a queued unit is not flagged queued`);
          }
        for (const v of vcpus) {
          const u = v.priv as Rec;
          if (v.runnable !== where.has(u) && !(v.isRunning && !v.runnable)) errs.push(`${v} runnable=${v.runnable} queued=${where.has(u)}`);
          if (where.has(u) && where.get(u) !== v.res) errs.push(`${v} on cpu ${v.res}, queued on ${where.get(u)}`);
        }
        return errs;
      },
    });
  });
});
