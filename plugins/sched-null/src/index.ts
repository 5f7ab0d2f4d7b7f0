/**
 * null — static 1:1 assignment of units to pCPUs (Dario Faggioli 2017; Xen 4.9+,
 * xen/common/sched/null.c; schedulers.md §2.9).
 *
 * Design: a pCPU of the pool is either free or assigned exactly one unit, and then runs that unit
 * whenever it is runnable and idles otherwise: no time slices (next_time −1), no preemption, no
 * load balancing. A unit gets its pCPU when it comes online in the pool (insert, or the wake that
 * brings it online): its current pCPU if free and allowed, else a free pCPU in its soft affinity,
 * then in its hard affinity. With no free pCPU it waits in a FIFO `waitq`. When a pCPU frees up
 * (its unit removed, gone offline or migrated away) it takes the first waiter allowed there (a
 * pass over waiters with effective soft affinity for it, then one on hard affinity); a pCPU that
 * joins the pool, or finds itself free in do_schedule, scans the waitq the same way.
 *
 * State: per pool the waitq and `cpusFree`; per pCPU the assigned unit; per unit the pCPU it is
 * assigned to (`cpu`), which is the policy's truth — the framework learns the placement when the
 * unit is next switched in there (Xen's sched_set_res at assignment), so the unit's `res` may lag
 * while it is blocked or paused.
 *
 * Trace (TRC_SCHED_CLASS_EVT(SNULL = 5, n), words as Xen's u16 pairs, low half first): 1
 * PICKED_CPU {unit,dom} cpu; 2 UNIT_ASSIGN {unit,dom} cpu; 3 UNIT_DEASSIGN {unit,dom} cpu;
 * 4 MIGRATE {unit,dom} {cpu,new_cpu}; 5 SCHEDULE {tasklet,cpu} {unit,dom} (−1: none); 6 TASKLET.
 *
 * Choices, stated:
 *  - Where the framework, going by a lagging `res`, would not move a unit, the policy does: a pCPU
 *    removed from the pool while its unit's placement lags has the unit migrated (re-placed as a
 *    unit coming online: its `res` if free and allowed, else the waitq); a hard-affinity change
 *    that excludes the assigned pCPU but not the lagging `res` deassigns it into the waitq and
 *    tickles the free pCPUs it may use. In Xen `res` never lags, so these cannot arise.
 *  - Widening a waiting unit's hard affinity tickles the free pCPUs it now allows (Xen leaves it
 *    waiting until some other event frees or rescans a pCPU).
 *  - No adjust/adjust_global (no parameters).
 *
 * Invariants (checkNull): every pCPU has at most one assigned unit and every unit at most one
 * pCPU, and the two records agree; cpusFree is exactly the pool's pCPUs without a unit; a unit is
 * never both assigned and waiting; only online units are assigned or waiting; a pCPU runs only idle
 * or its assigned unit; a waiting unit never runs.
 */
import { BALANCE_HARD, BALANCE_SOFT, XEN_SCHEDULER, balanceMask, hasSoftAffinity, type CpuSet, type PcpuId, type SchedContext, type SchedUnit, type SchedulerOps } from '@xenotype/core';

/** null trace events (TRC_SCHED_CLASS_EVT(SNULL = 5, n)). */
export const NULL_TRACE = {
  PICKED_CPU: 1,
  UNIT_ASSIGN: 2,
  UNIT_DEASSIGN: 3,
  MIGRATE: 4,
  SCHEDULE: 5,
  TASKLET: 6,
} as const;

interface G {
  ctx: SchedContext;
  waitq: NullUnit[];
  cpusFree: Set<PcpuId>;
  units: Set<NullUnit>;
}
interface P {
  cpu: PcpuId;
  unit: NullUnit | null;
}
/** The policy's per-unit record (exported for white-box tests and tools). */
export interface NullUnit {
  readonly unit: SchedUnit;
  /** The pCPU this unit is assigned to, or null. */
  cpu: PcpuId | null;
  /** In the waitq. */
  waiting: boolean;
}

const enum Step {
  soft = 0,
  hard = 1,
}

const ud = (u: SchedUnit) => u.priv as NullUnit;
const ud16 = (u: SchedUnit) => ((u.vcpuId & 0xffff) | ((u.domid & 0xffff) << 16)) >>> 0;

function pdataOf(g: G, cpu: PcpuId): P | undefined {
  return g.ctx.cpus().has(cpu) ? g.ctx.pdata<P>(cpu) : undefined;
}

const hasSoft = (g: G, unit: SchedUnit): boolean => hasSoftAffinity(unit, g.ctx.cpus());
/** affinity_balance_cpumask ∩ pool. */
const poolBalanceMask = (g: G, unit: SchedUnit, step: Step): CpuSet => balanceMask(unit, step === Step.soft ? BALANCE_SOFT : BALANCE_HARD).and(g.ctx.cpus());

const checkAffinity = (g: G, unit: SchedUnit, cpu: PcpuId, step: Step) => poolBalanceMask(g, unit, step).has(cpu);

/** Where a unit is (assigned) or was last placed. */
const master = (n: NullUnit): PcpuId => n.cpu ?? n.unit.res;

/** pick_res: own pCPU if free (or ours) and allowed; else a free one, soft step then hard; else any allowed. */
function pickRes(g: G, n: NullUnit): PcpuId {
  const unit = n.unit;
  const cpu = master(n);
  const npc = pdataOf(g, cpu);
  let out: PcpuId | undefined;
  for (const step of [Step.soft, Step.hard]) {
    if (step === Step.soft && !hasSoft(g, unit)) continue;
    const mask = poolBalanceMask(g, unit, step);
    if (npc && (npc.unit === null || npc.unit === n) && mask.has(cpu)) {
      out = cpu;
      break;
    }
    out = mask.ids.find((c) => g.cpusFree.has(c));
    if (out !== undefined) break;
  }
  out ??= unit.hardAffinity.and(g.ctx.cpus()).first() ?? cpu;
  g.ctx.trace(NULL_TRACE.PICKED_CPU, [ud16(unit), out]);
  return out;
}

function assign(g: G, n: NullUnit, cpu: PcpuId): void {
  const p = pdataOf(g, cpu)!;
  p.unit = n;
  n.cpu = cpu;
  g.cpusFree.delete(cpu);
  g.ctx.trace(NULL_TRACE.UNIT_ASSIGN, [ud16(n.unit), cpu]);
}

function unwait(g: G, n: NullUnit): void {
  if (!n.waiting) return;
  g.waitq.splice(g.waitq.indexOf(n), 1);
  n.waiting = false;
}

function enwait(g: G, n: NullUnit): void {
  if (n.waiting) return;
  g.waitq.push(n);
  n.waiting = true;
}

/** The first waiter allowed on `cpu` (soft pass, then hard pass), or null. */
function firstWaiter(g: G, cpu: PcpuId): NullUnit | null {
  for (const step of [Step.soft, Step.hard]) {
    for (const w of g.waitq) {
      if (step === Step.soft && !hasSoft(g, w.unit)) continue;
      if (checkAffinity(g, w.unit, cpu, step)) return w;
    }
  }
  return null;
}

/** unit_deassign: free the unit's pCPU and hand it to the first allowed waiter; true if one took it. */
function deassign(g: G, n: NullUnit): boolean {
  const cpu = n.cpu!;
  const p = g.ctx.pdata<P>(cpu);
  if (p && p.unit === n) p.unit = null;
  n.cpu = null;
  g.cpusFree.add(cpu);
  g.ctx.trace(NULL_TRACE.UNIT_DEASSIGN, [ud16(n.unit), cpu]);
  if (!g.ctx.cpus().has(cpu)) return false;
  const w = firstWaiter(g, cpu);
  if (!w) return false;
  unwait(g, w);
  assign(g, w, cpu);
  g.ctx.tickle(cpu);
  return true;
}

/** Put `n` in the waitq and poke the free pCPUs it may use; the first to schedule takes it. */
function waitAndTickle(g: G, n: NullUnit): void {
  enwait(g, n);
  for (const c of n.unit.hardAffinity.and(g.ctx.cpus()).ids) if (g.cpusFree.has(c)) g.ctx.tickle(c);
}

/** Check the policy's invariants (see the header); returns the violations. */
export function checkNull(g: unknown): string[] {
  const p = g as G;
  const errs: string[] = [];
  const name = (n: NullUnit) => `d${n.unit.domid}v${n.unit.vcpuId}`;
  const pool = p.ctx.cpus();
  for (const cpu of pool.ids) {
    const pc = p.ctx.pdata<P>(cpu);
    if (pc.unit && pc.unit.cpu !== cpu) errs.push(`cpu ${cpu} holds ${name(pc.unit)}, which says cpu ${pc.unit.cpu}`);
    if ((pc.unit === null) !== p.cpusFree.has(cpu)) errs.push(`cpu ${cpu}: free=${p.cpusFree.has(cpu)} but unit=${pc.unit ? name(pc.unit) : '-'}`);
    const cur = p.ctx.curr(cpu);
    if (!cur.isIdle && pc.unit?.unit !== cur) errs.push(`cpu ${cpu} runs d${cur.domid}v${cur.vcpuId}, assigned ${pc.unit ? name(pc.unit) : 'nothing'}`);
  }
  for (const c of p.cpusFree) if (!pool.has(c)) errs.push(`free cpu ${c} is not in the pool`);
  for (const n of p.units) {
    if (n.cpu !== null && (!pool.has(n.cpu) || p.ctx.pdata<P>(n.cpu).unit !== n)) errs.push(`${name(n)} says cpu ${n.cpu}, which does not hold it`);
    if (n.cpu !== null && n.waiting) errs.push(`${name(n)} both assigned and waiting`);
    if ((n.cpu !== null || n.waiting) && !n.unit.online) errs.push(`${name(n)} offline but assigned or waiting`);
    if (n.waiting && n.unit.isRunning) errs.push(`${name(n)} waiting but running`);
    if (n.waiting !== p.waitq.includes(n)) errs.push(`${name(n)}: waiting flag disagrees with the waitq`);
  }
  return errs;
}

/** Assignments and the waitq of a pool instance (for tools and tests). */
export function nullState(g: unknown): { assigned: Map<PcpuId, SchedUnit>; waitq: SchedUnit[]; free: PcpuId[] } {
  const p = g as G;
  const assigned = new Map<PcpuId, SchedUnit>();
  for (const cpu of p.ctx.cpus().ids) {
    const u = p.ctx.pdata<P>(cpu).unit;
    if (u) assigned.set(cpu, u.unit);
  }
  return { assigned, waitq: p.waitq.map((n) => n.unit), free: [...p.cpusFree].sort((a, b) => a - b) };
}

export const nullScheduler: SchedulerOps<G, P, undefined, NullUnit> = {
  name: 'null Scheduler',
  optName: 'null',
  schedId: XEN_SCHEDULER.NULL,
  doc: 'Xen null: each unit statically owns a pCPU (FIFO waitq when none is free); no slicing, no preemption.',
  traceClass: 5,
  traceEvents: {
    [NULL_TRACE.PICKED_CPU]: 'null:picked_cpu',
    [NULL_TRACE.UNIT_ASSIGN]: 'null:unit_assign',
    [NULL_TRACE.UNIT_DEASSIGN]: 'null:unit_deassign',
    [NULL_TRACE.MIGRATE]: 'null:migrate',
    [NULL_TRACE.SCHEDULE]: 'null:schedule',
    [NULL_TRACE.TASKLET]: 'null:sched_tasklet',
  },

  init: (ctx) => ({ ctx, waitq: [], cpusFree: new Set(), units: new Set() }),
  deinit: () => {},
  allocPdata: (_g, cpu) => ({ cpu, unit: null }),
  deinitPdata: (g, p, cpu) => {
    g.cpusFree.delete(cpu);
    const n = p.unit;
    p.unit = null;
    if (n) {
      // Its placement lagged (see Choices), so the framework did not move it: have it re-placed
      // (pick_resource, then the wake that finds it unassigned).
      n.cpu = null;
      g.ctx.trace(NULL_TRACE.UNIT_DEASSIGN, [ud16(n.unit), cpu]);
      g.ctx.requestMigrate(n.unit);
    }
  },
  allocUdata: (g, unit) => {
    const n: NullUnit = { unit, cpu: null, waiting: false };
    if (!unit.isIdle) g.units.add(n);
    return n;
  },
  freeUdata: (g, n) => {
    if (n) g.units.delete(n);
  },
  switchSched: (g, cpu, p) => {
    p!.unit = null;
    g.cpusFree.add(cpu);
  },

  insertUnit: (g, unit) => {
    const n = ud(unit);
    if (!unit.online) return;
    const cpu = pickRes(g, n);
    if (pdataOf(g, cpu)?.unit === null) assign(g, n, cpu); // the wake that follows pokes it
    else enwait(g, n);
  },

  removeUnit: (g, unit) => {
    const n = ud(unit);
    if (n.waiting) unwait(g, n);
    else if (n.cpu !== null) deassign(g, n);
  },

  wake: (g, unit) => {
    const n = ud(unit);
    if (unit.isRunning || n.waiting) return;
    if (n.cpu !== null) {
      g.ctx.tickle(n.cpu);
      return;
    }
    // Coming back online: its last pCPU if free and allowed (soft too, if that matters)...
    const cpu = unit.res;
    if (pdataOf(g, cpu)?.unit === null && checkAffinity(g, unit, cpu, Step.hard)) {
      if (!hasSoft(g, unit) || checkAffinity(g, unit, cpu, Step.soft)) {
        assign(g, n, cpu);
        g.ctx.tickle(cpu);
        return;
      }
    }
    // ...else wait, and let the first free pCPU that schedules take it.
    waitAndTickle(g, n);
  },

  sleep: (g, unit) => {
    const n = ud(unit);
    let tickled = false;
    if (!unit.online) {
      if (n.waiting) unwait(g, n);
      else if (n.cpu !== null) tickled = deassign(g, n);
    }
    if (!tickled && unit.isRunning) g.ctx.tickle(unit.res);
  },

  doSchedule: (g, _prev, _now, cpu, tasklet) => {
    const p = g.ctx.pdata<P>(cpu);
    const cur = p.unit?.unit;
    g.ctx.trace(NULL_TRACE.SCHEDULE, [((tasklet ? 1 : 0) | (cpu << 16)) >>> 0, cur ? ud16(cur) : 0xffffffff]);
    const idle = g.ctx.idleUnit(cpu);
    if (tasklet) {
      g.ctx.trace(NULL_TRACE.TASKLET, []);
      return { next: idle, sliceNs: -1 };
    }
    let next = p.unit;
    if (next === null) {
      // New in the pool, or freed: take the first waiter allowed here.
      const w = firstWaiter(g, cpu);
      if (w) {
        unwait(g, w);
        assign(g, w, cpu);
        next = w;
      } else g.cpusFree.add(cpu);
    }
    if (next === null || !next.unit.runnable) return { next: idle, sliceNs: -1 };
    return { next: next.unit, sliceNs: -1, migrated: next.unit.res !== cpu };
  },

  pickResource: (g, unit) => pickRes(g, ud(unit)),

  migrate: (g, unit, newCpu) => {
    const n = ud(unit);
    const from = master(n);
    if (from === newCpu) return;
    g.ctx.trace(NULL_TRACE.MIGRATE, [ud16(unit), ((from & 0xffff) | ((newCpu & 0xffff) << 16)) >>> 0]);
    if (n.cpu !== null) deassign(g, n);
    if (!unit.online) {
      unwait(g, n);
      return;
    }
    if (pdataOf(g, newCpu)?.unit === null && checkAffinity(g, unit, newCpu, Step.hard)) {
      unwait(g, n);
      assign(g, n, newCpu);
    } else enwait(g, n);
  },

  adjustAffinity: (g, unit, hard) => {
    const n = ud(unit);
    if (!hard) return;
    if (n.waiting) {
      for (const c of hard.and(g.ctx.cpus()).ids) if (g.cpusFree.has(c)) g.ctx.tickle(c);
      return;
    }
    // Assigned outside the new mask while `res` lags inside it: the framework will not move it.
    if (n.cpu !== null && !hard.has(n.cpu) && hard.has(unit.res) && !unit.isRunning) {
      deassign(g, n);
      enwait(g, n);
      for (const c of hard.and(g.ctx.cpus()).ids) if (g.cpusFree.has(c)) g.ctx.tickle(c);
    }
  },

  dumpSettings: (g) => {
    const s = nullState(g);
    const name = (u: SchedUnit) => `d${u.domid}v${u.vcpuId}`;
    return [
      `null: free cpus {${s.free.join(',')}}`,
      ...[...s.assigned].map(([c, u]) => `  cpu ${c} <- ${name(u)}`),
      `waitq: ${s.waitq.map(name).join(' ')}`,
    ].join('\n');
  },
  dumpCpuState: (g, cpu) => {
    const u = g.ctx.pdata<P>(cpu).unit;
    return `cpu ${cpu}: ${u ? `d${u.unit.domid}v${u.unit.vcpuId}` : 'free'}`;
  },
};

export default nullScheduler;
