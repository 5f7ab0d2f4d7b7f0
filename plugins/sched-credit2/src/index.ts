/**
 * Credit2 — Xen's credit2 (xen/common/sched/credit2.c in 4.17; George Dunlap 2009), Xen's default
 * scheduler since 4.12. ../shared/reference/schedulers.md §2.6.
 *
 * Design: per-runqueue credit in nanoseconds, with load balancing between runqueues.
 *  - pCPUs are grouped into runqueues by topology (one per socket by default; per cpu, core, node
 *    or all, at most 16 pCPUs each). A runqueue holds its runnable, not running units sorted by
 *    credit (descending); any of its pCPUs may run them.
 *  - Every unit starts with CREDIT_INIT (10 ms) of credit. Running burns it at max_weight / weight
 *    credit per ns (max_weight: the largest weight assigned to the runqueue), so the heaviest burns
 *    1 per ns and lighter ones faster; credit never goes below CREDIT_MIN (−10 ms).
 *  - When the best credit of a runqueue (the chosen unit or the head of the queue) is ≤ 0, every
 *    unit of the runqueue gets +CREDIT_INIT (+2 × when the chosen one sits at CREDIT_MIN), clipped
 *    at CREDIT_INIT + CARRYOVER_MAX: a credit reset, which also triggers balance_load.
 *  - do_schedule picks the first queued unit with more credit than prev (prev keeps running
 *    otherwise), skipping units hard-pinned elsewhere, units reserved for another tickled pCPU,
 *    units from another pCPU that do not beat prev by migrate_resist (500 µs), and capped units
 *    without budget. A runnable prev that ran less than ratelimit (1 ms) keeps the pCPU. The slice
 *    runs until the chosen unit's credit would equal the next waiter's (or 0), converted to time by
 *    weight / max_weight, within the cap budget, clamped to [max(MIN_TIMER, rest of ratelimit),
 *    MAX_TIMER] = [500 µs, 10 ms]. Prev goes back on the queue after the switch (context_saved).
 *  - Wake (runq_tickle): an idle, untickled pCPU of the runqueue (fully idle cores first, the
 *    unit's own pCPU preferred, soft affinity first); else the busy pCPU with the best
 *    tickle_score (credit difference, minus migrate_resist off its own pCPU, plus soft-affinity
 *    bonuses), among those whose current unit has run ratelimit − 50 µs.
 *  - Load: each runqueue and unit keeps an exponentially decaying average of its instantaneous load
 *    (runnable units; window 2^30 ns, sampled in 1024 ns units, 18 fractional bits). balance_load
 *    looks for the runqueue farthest in b_avgload; if the difference is ≥ 1 vCPU (or ≥ 1/8 when
 *    overloaded), it tries every push, pull and swap of units and applies the best.
 *    pick_resource takes the runqueue with the lowest b_avgload (own load discounted).
 *  - Cap: a capped domain gets tot_budget = cap% × 10 ms every 10 ms (a per-domain timer); a unit
 *    grabs max(tot_budget / nr_units, 500 µs) of it before running and returns the rest when it
 *    stops; without budget it is parked (ctx.park) until a replenishment or a return unparks it.
 *
 * Parameters: per domain struct xen_domctl_sched_credit2 { u16 weight; u16 cap; } (putinfo ignores
 * weight 0; cap 0 removes the cap; a cap above 100 × nr_units is -EINVAL); per pool
 * struct xen_sysctl_credit2_schedule { u32 ratelimit_us; } (0, or 100..500000, else -EINVAL)
 * followed, in the sysctl union, by a word of ours: `runqueue`, the runqueue arrangement (Xen's
 * credit2_runqueue boot option, per pool here): 1 cpu, 2 core, 3 socket (default), 4 node, 5 all;
 * 0 in putinfo leaves it unchanged (so a caller knowing only Xen's struct, its buffer zeroed,
 * changes nothing). Changing it regroups the pool's pCPUs at once: units keep their credit and
 * move to the runqueue of their pCPU; load averages restart from the instantaneous load.
 *
 * Choices, stated:
 *  - NUMA nodes are sockets (ctx.topology has no separate node level): `node` equals `socket`.
 *  - insert_unit keeps the framework's initial placement (round robin over the pool, as Xen's
 *    sched_select_initial_cpu); Xen 4.17 re-picks with pick_resource there.
 *  - balance_load moves a queued (or blocked) unit through the framework's migration path
 *    (ctx.requestMigrate: pick_resource names a pCPU of the target runqueue, then migrate, then
 *    wake), as it does for a running one; Xen moves a queued unit in place. A queued unit's runstate
 *    therefore passes runnable → offline → runnable within the same instant.
 *  - The unit that the ongoing do_schedule has just chosen is not a balancing candidate: Xen would
 *    flag it for migration while switching to it anyway, and our framework runs no unit that is not
 *    runnable.
 *  - As in 4.17, balance_load's capacity test (load_max, cpus_max) uses the last runqueue the scan
 *    visited, not necessarily the one farthest in load; and pick_resource cycles from the pick_bias
 *    of the hard-affinity best runqueue even when it settles on the soft-affinity one.
 *  - adjust validates before it changes anything: Xen 4.17 applies a new weight before it rejects
 *    an out-of-range cap with -EINVAL; here a rejected putinfo leaves weight and cap as they were.
 *  - remove_unit unparks a unit parked for lack of budget (Xen leaves the flag to whoever comes
 *    next), so that a domain moved to another pool is not left paused.
 *  - Parking the current unit in do_schedule (no budget left) goes through ctx.park, whose sleep
 *    makes the framework raise one more reschedule of that pCPU (1 × softirqNs later); it finds
 *    the new unit running and keeps it.
 *  - Trylocks never fail here, so the fallback paths that Xen takes on lock contention are not
 *    exercised; the trace records they would emit are not either. Tasklets do not exist.
 *  - sched_smt_power_savings is off (Xen's default).
 *
 * Invariants:
 *  - every unit of the pool is assigned to exactly one active runqueue (`u.rqd`, in its `svc`
 *    list), the one of its pCPU, except while a migration is in flight;
 *  - a unit is on its runqueue's queue only while runnable and neither running nor just chosen;
 *    the queue is sorted by credit, non-increasing;
 *  - rqd.load = runnable units of the runqueue (queued or running); max_weight = largest weight
 *    assigned (at least 1);
 *  - credit ≥ CREDIT_MIN for every unit; the idle units' credit is IDLE_CREDIT and never changes;
 *  - a capped unit holds budget ≥ 0 whenever it is picked; `u.parked` ⇔ it holds a ctx.park pause
 *    and sits on its domain's parked list.
 */
import {
  BALANCE_HARD,
  BALANCE_SOFT,
  balanceMask,
  hasSoftAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SCHEDULER,
  XEN_SYSCTL_SCHEDOP,
  ms,
  pcpuid,
  struct,
  u16,
  u32,
  us,
  type CpuSet,
  type Ns,
  type PcpuId,
  type PolicyTimer,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

// ------------------------------------------------------------------ constants (credit2.c, sysctl.h)

export const CSCHED2_DEFAULT_WEIGHT = 256;
export const CSCHED2_MIN_TIMER = us(500);
export const CSCHED2_CREDIT_INIT = ms(10);
export const CSCHED2_CREDIT_MIN = -CSCHED2_CREDIT_INIT;
export const CSCHED2_IDLE_CREDIT = CSCHED2_CREDIT_MIN - 1;
export const CSCHED2_CARRYOVER_MAX = CSCHED2_MIN_TIMER;
/** sched_credit2_migrate_resist default (µs). */
export const CSCHED2_MIGRATE_RESIST = us(500);
export const CSCHED2_MIGRATE_COMPENSATION = us(50);
export const CSCHED2_RATELIMIT_TICKLE_TOLERANCE = us(50);
export const CSCHED2_CREDIT_RESET = 0;
export const CSCHED2_MAX_TIMER = CSCHED2_CREDIT_INIT;
/** credit2_cap_period_ms default: the budget replenishment period. */
export const CSCHED2_BDGT_REPL_PERIOD = ms(10);
export const LOADAVG_GRANULARITY_SHIFT = 10;
export const LOADAVG_WINDOW_SHIFT = 30;
export const LOADAVG_PRECISION_SHIFT = 18;
export const MAX_CPUS_RUNQ = 16;
export const XEN_SYSCTL_SCHED_RATELIMIT_MAX = 500_000;
export const XEN_SYSCTL_SCHED_RATELIMIT_MIN = 100;
export const SCHED_DEFAULT_RATELIMIT_US = 1000;

/** Runqueue arrangements (our `runqueue` word = Xen's OPT_RUNQUEUE_* + 1; 0 = unchanged). */
export const RUNQUEUE = { cpu: 1, core: 2, socket: 3, node: 4, all: 5 } as const;
export type Arrangement = (typeof RUNQUEUE)[keyof typeof RUNQUEUE];

/** TRC_SCHED_CLASS_EVT(CSCHED2, n) event numbers. */
export const TRC_CSCHED2 = {
  TICK: 1,
  RUNQ_POS: 2,
  CREDIT_BURN: 3,
  CREDIT_ADD: 4,
  TICKLE_CHECK: 5,
  TICKLE: 6,
  CREDIT_RESET: 7,
  SCHED_TASKLET: 8,
  UPDATE_LOAD: 9,
  RUNQ_ASSIGN: 10,
  UPDATE_UNIT_LOAD: 11,
  UPDATE_RUNQ_LOAD: 12,
  TICKLE_NEW: 13,
  RUNQ_MAX_WEIGHT: 14,
  MIGRATE: 15,
  LOAD_CHECK: 16,
  LOAD_BALANCE: 17,
  PICKED_CPU: 19,
  RUNQ_CANDIDATE: 20,
  SCHEDULE: 21,
  RATELIMIT: 22,
  RUNQ_CAND_CHECK: 23,
} as const;

/** struct xen_domctl_sched_credit2 (domctl.h). */
export const xenDomctlSchedCredit2 = struct('struct xen_domctl_sched_credit2', 4, { weight: u16(0), cap: u16(2) });
/** struct xen_sysctl_credit2_schedule (sysctl.h). */
export const xenSysctlCredit2Schedule = struct('struct xen_sysctl_credit2_schedule', 4, { ratelimit_us: u32(0) });
/** Xen's struct followed by our runqueue-arrangement word (the sysctl union has room for it). */
export const credit2PoolParams = struct('struct xen_sysctl_credit2_schedule + runqueue', 8, { ratelimit_us: u32(0), runqueue: u32(4) });

// ------------------------------------------------------------------ records

interface RQ {
  id: number;
  /** pCPUs allocated to it (active or about to be). */
  refcnt: number;
  nrCpus: number;
  active: Set<number>;
  idle: Set<number>;
  tickled: Set<number>;
  /** pCPUs whose whole core is idle and untickled. */
  smtIdle: Set<number>;
  /** Runnable, not running units, by credit (descending). */
  runq: U[];
  /** Units assigned to this runqueue. */
  svc: U[];
  maxWeight: number;
  pickBias: number;
  load: number;
  loadLastUpdate: number;
  avgload: number;
  bAvgload: number;
}

interface P {
  cpu: number;
  rqd: RQ;
  /** Its SMT siblings that are in the same runqueue (itself included). */
  siblingMask: Set<number>;
}

interface D {
  dom: SchedDomain;
  weight: number;
  cap: number;
  nrUnits: number;
  totBudget: Ns;
  budget: Ns;
  nextRepl: Ns;
  replTimer: PolicyTimer;
  /** Units waiting for budget (most recent first). */
  parked: U[];
}

interface U {
  unit: SchedUnit;
  dom: D | undefined;
  rqd: RQ | null;
  credit: number;
  weight: number;
  residual: number;
  /** Chosen by do_schedule and not yet context-saved (CSFLAG_scheduled). */
  scheduled: boolean;
  /** Requeue it in context_saved (CSFLAG_delayed_runq_add). */
  delayedRunqAdd: boolean;
  /** balance_load asked to move it to migrateRqd (CSFLAG_runq_migrate_request). */
  migrateRequest: boolean;
  migrateRqd: RQ | null;
  yield: boolean;
  pinned: boolean;
  /** Budget held (Infinity: the domain has no cap). */
  budget: number;
  budgetQuota: number;
  startTime: Ns;
  loadLastUpdate: number;
  avgload: number;
  onRunq: boolean;
  /** The pCPU tickled to pick it up, or -1. */
  tickledCpu: number;
  parked: boolean;
}

interface G {
  ctx: SchedContext;
  ratelimitUs: number;
  arrangement: Arrangement;
  maxCpusRunq: number;
  migrateResist: Ns;
  /** Load window shift net of the granularity shift, and fractional bits. */
  W: number;
  P: number;
  underTolerance: number;
  overTolerance: number;
  /** Runqueues, by id (Xen's prv->rql). */
  rqs: RQ[];
  initialized: Set<number>;
  doms: D[];
  /** The pCPU whose do_schedule is running, or -1. */
  inSchedule: number;
  siblings: number[][];
}

const ud = (u: SchedUnit) => u.priv as U;
const pd = (g: G, cpu: number) => g.ctx.pdata<P>(pcpuid(cpu));
const c2rqd = (g: G, cpu: number) => pd(g, cpu).rqd;
const hasCap = (u: U) => u.budget !== Infinity;

// ------------------------------------------------------------------ cpumask helpers

/** cpumask_cycle: the first cpu of `set` after n, wrapping; -1 if empty. */
function cycle(n: number, set: Iterable<number>): number {
  let first = -1;
  let after = -1;
  for (const c of set) {
    if (first < 0 || c < first) first = c;
    if (c > n && (after < 0 || c < after)) after = c;
  }
  return after >= 0 ? after : first;
}
/** cpumask_test_or_cycle: n itself if in `set`, else cycle. */
const testOrCycle = (n: number, set: Set<number>) => (set.has(n) ? n : cycle(n, set));
const inter = (a: Iterable<number>, b: { has(x: number): boolean }): Set<number> => {
  const out = new Set<number>();
  for (const x of a) if (b.has(x)) out.add(x);
  return out;
};
const minus = (a: Iterable<number>, b: { has(x: number): boolean }): Set<number> => {
  const out = new Set<number>();
  for (const x of a) if (!b.has(x)) out.add(x);
  return out;
};
const subset = (a: Iterable<number>, b: { has(x: number): boolean }) => {
  for (const x of a) if (!b.has(x)) return false;
  return true;
};
const intersects = (a: Iterable<number>, b: { has(x: number): boolean }) => {
  for (const x of a) if (b.has(x)) return true;
  return false;
};


// ------------------------------------------------------------------ tracing

const dv = (unit: SchedUnit) => ((unit.vcpuId & 0xffff) | (unit.domid << 16)) >>> 0;
const lo = (x: number) => Math.max(0, x) % 2 ** 32;
const hi = (x: number) => Math.floor(Math.max(0, x) / 2 ** 32) >>> 0;
function trace(g: G, ev: number, data: number[]): void {
  g.ctx.trace(ev, data.map((x) => x >>> 0));
}

// ------------------------------------------------------------------ runqueue arrangement

function cpuRunqueueMatch(g: G, rqd: RQ, cpu: number): boolean {
  const t = g.ctx.topology;
  const peer = pcpuid(rqd.pickBias);
  const c = pcpuid(cpu);
  switch (g.arrangement) {
    case RUNQUEUE.all:
      return true;
    case RUNQUEUE.core:
      return t.sameCore(peer, c);
    case RUNQUEUE.socket:
    case RUNQUEUE.node:
      return t.sameSocket(peer, c);
    default:
      return false;
  }
}

/** Would cpu and its siblings fit in rqd, counting the siblings of those already there? */
function siblingsMatch(g: G, rqd: RQ, cpu: number, maxCpus: number): boolean {
  const seen = new Set<number>();
  let tot = 0;
  for (const r of rqd.active) {
    if (!intersects(g.siblings[r], seen)) {
      for (const s of g.siblings[r]) seen.add(s);
      tot += g.siblings[r].length;
    }
  }
  return tot + g.siblings[cpu].length <= maxCpus;
}

/** cpu_add_to_runqueue: the runqueue `cpu` belongs to, created if needed. */
function addToRunqueue(g: G, cpu: number): RQ {
  const n = g.ctx.topology.nrCpus;
  const minRqs = Math.floor((n - 1) / g.maxCpusRunq) + 1;
  const maxCpusRunq = Math.floor(n / minRqs);
  let valid: RQ | null = null;
  let rqi = 0;
  let rqiUnused = false;
  let insertAt = 0;
  for (let i = 0; i < g.rqs.length; i++) {
    const rqd = g.rqs[i];
    if (!rqiUnused && rqd.id > rqi) rqiUnused = true;
    if (cpuRunqueueMatch(g, rqd, cpu)) {
      if (intersects(g.siblings[cpu], rqd.active)) {
        valid = rqd; // keep SMT siblings together, always
        break;
      }
      if (rqd.refcnt < maxCpusRunq && siblingsMatch(g, rqd, cpu, maxCpusRunq)) {
        if (!valid || rqd.refcnt < valid.refcnt) valid = rqd;
      }
    }
    if (!rqiUnused) {
      rqi++;
      insertAt = i + 1;
    }
  }
  if (!valid) {
    valid = {
      id: rqi,
      refcnt: 0,
      nrCpus: 0,
      active: new Set(),
      idle: new Set(),
      tickled: new Set(),
      smtIdle: new Set(),
      runq: [],
      svc: [],
      maxWeight: 1,
      pickBias: cpu,
      load: 0,
      loadLastUpdate: 0,
      avgload: 0,
      bAvgload: 0,
    };
    g.rqs.splice(insertAt, 0, valid);
  }
  valid.refcnt++;
  return valid;
}

/** init_cpu_runqueue: activate `cpu` in its runqueue. */
function initCpuRunqueue(g: G, p: P, cpu: number): void {
  const rqd = p.rqd;
  if (rqd.nrCpus === 0) {
    rqd.maxWeight = 1;
    rqd.runq = [];
    rqd.svc = [];
  }
  p.siblingMask = new Set([cpu]);
  if (rqd.nrCpus > 0)
    for (const r of g.siblings[cpu])
      if (rqd.active.has(r)) {
        pd(g, r).siblingMask.add(cpu);
        p.siblingMask.add(r);
      }
  rqd.idle.add(cpu);
  rqd.active.add(cpu);
  g.initialized.add(cpu);
  rqd.smtIdle.add(cpu);
  rqd.nrCpus++;
  if (rqd.nrCpus === 1) rqd.pickBias = cpu;
}

function deinitCpuRunqueue(g: G, p: P, cpu: number): void {
  const rqd = p.rqd;
  rqd.idle.delete(cpu);
  rqd.smtIdle.delete(cpu);
  rqd.active.delete(cpu);
  rqd.tickled.delete(cpu);
  for (const r of rqd.active) pd(g, r).siblingMask.delete(cpu);
  rqd.nrCpus--;
  if (rqd.nrCpus > 0 && rqd.pickBias === cpu) rqd.pickBias = Math.min(...rqd.active);
  g.initialized.delete(cpu);
}

function releaseRunqueue(g: G, rqd: RQ): void {
  rqd.refcnt--;
  if (rqd.refcnt === 0) g.rqs.splice(g.rqs.indexOf(rqd), 1);
}

// ------------------------------------------------------------------ load tracking

function updateRunqLoad(g: G, rqd: RQ, change: number, now: Ns): void {
  const W = 2 ** g.W;
  const t = Math.floor(now / 2 ** LOADAVG_GRANULARITY_SHIFT);
  const load = rqd.load;
  const lp = load * 2 ** g.P;
  if (rqd.loadLastUpdate + W < t) {
    rqd.avgload = lp;
    rqd.bAvgload = lp;
  } else {
    const delta = Math.max(0, t - rqd.loadLastUpdate);
    rqd.avgload = rqd.avgload + Math.floor((delta * lp) / W) - Math.floor((delta * rqd.avgload) / W);
    rqd.bAvgload = rqd.bAvgload + Math.floor((delta * lp) / W) - Math.floor((delta * rqd.bAvgload) / W);
  }
  rqd.load += change;
  rqd.loadLastUpdate = t;
  trace(g, TRC_CSCHED2.UPDATE_RUNQ_LOAD, [lo(rqd.avgload), hi(rqd.avgload), lo(rqd.bAvgload), hi(rqd.bAvgload), (rqd.load & 0xffff) | ((rqd.id & 0xff) << 16) | ((g.P & 0xff) << 24)]);
}

function updateSvcLoad(g: G, svc: U, change: number, now: Ns): void {
  const W = 2 ** g.W;
  const t = Math.floor(now / 2 ** LOADAVG_GRANULARITY_SHIFT);
  const unitLoad = change === -1 ? 1 : change === 1 ? 0 : svc.unit.runnable ? 1 : 0;
  const lp = unitLoad * 2 ** g.P;
  if (svc.loadLastUpdate + W < t) svc.avgload = lp;
  else {
    const delta = Math.max(0, t - svc.loadLastUpdate);
    svc.avgload = svc.avgload + Math.floor((delta * lp) / W) - Math.floor((delta * svc.avgload) / W);
  }
  svc.loadLastUpdate = t;
  trace(g, TRC_CSCHED2.UPDATE_UNIT_LOAD, [lo(svc.avgload), hi(svc.avgload), dv(svc.unit), g.P]);
}

function updateLoad(g: G, rqd: RQ, svc: U | null, change: number, now: Ns): void {
  trace(g, TRC_CSCHED2.UPDATE_LOAD, []);
  updateRunqLoad(g, rqd, change, now);
  if (svc) updateSvcLoad(g, svc, change, now);
}

// ------------------------------------------------------------------ runqueue membership

function updateMaxWeight(g: G, rqd: RQ, newWeight: number, oldWeight: number): void {
  if (newWeight > rqd.maxWeight) rqd.maxWeight = newWeight;
  else if (oldWeight === rqd.maxWeight) {
    let m = 1;
    for (const s of rqd.svc) if (s.weight > m) m = s.weight;
    rqd.maxWeight = m;
  }
  trace(g, TRC_CSCHED2.RUNQ_MAX_WEIGHT, [(rqd.id & 0xffff) | ((rqd.maxWeight & 0xffff) << 16)]);
}

function runqAssign(g: G, svc: U, rqd: RQ): void {
  svc.rqd = rqd;
  rqd.svc.push(svc);
  updateMaxWeight(g, rqd, svc.weight, 0);
  rqd.bAvgload += svc.avgload;
  trace(g, TRC_CSCHED2.RUNQ_ASSIGN, [dv(svc.unit), rqd.id]);
}

function runqDeassign(g: G, svc: U): void {
  const rqd = svc.rqd;
  if (!rqd) return;
  rqd.svc.splice(rqd.svc.indexOf(svc), 1);
  updateMaxWeight(g, rqd, 0, svc.weight);
  rqd.bAvgload = Math.max(rqd.bAvgload - svc.avgload, 0);
  svc.rqd = null;
}

function runqInsert(g: G, svc: U): void {
  const rqd = svc.rqd!;
  if (svc.onRunq) throw new Error(`d${svc.unit.domid}v${svc.unit.vcpuId} already queued`);
  let pos = 0;
  while (pos < rqd.runq.length && svc.credit <= rqd.runq[pos].credit) pos++;
  rqd.runq.splice(pos, 0, svc);
  svc.onRunq = true;
  trace(g, TRC_CSCHED2.RUNQ_POS, [dv(svc.unit), pos]);
}

function runqRemove(svc: U): void {
  if (!svc.onRunq) return;
  const q = svc.rqd!.runq;
  q.splice(q.indexOf(svc), 1);
  svc.onRunq = false;
}

// ------------------------------------------------------------------ credit

function t2cUpdate(rqd: RQ, time: Ns, svc: U): void {
  const v = time * rqd.maxWeight + svc.residual;
  svc.residual = v % svc.weight;
  const val = svc.credit - Math.floor(v / svc.weight);
  svc.credit = val < CSCHED2_CREDIT_MIN ? CSCHED2_CREDIT_MIN : val;
}

const c2t = (rqd: RQ, credit: number, svc: U): Ns => Math.floor((credit * svc.weight) / rqd.maxWeight);

function burnCredits(g: G, rqd: RQ, svc: U, now: Ns): void {
  if (svc.unit.isIdle) return;
  const delta = now - svc.startTime;
  if (delta > 0) {
    t2cUpdate(rqd, delta, svc);
    if (hasCap(svc)) svc.budget -= delta;
    svc.startTime = now;
  }
  trace(g, TRC_CSCHED2.CREDIT_BURN, [dv(svc.unit), svc.credit, hasCap(svc) ? svc.budget : -(2 ** 31), delta]);
}

function resetCredit(g: G, cpu: number, now: Ns, snext: U): void {
  const rqd = c2rqd(g, cpu);
  let reset = CSCHED2_CREDIT_INIT;
  if (snext.credit === CSCHED2_CREDIT_MIN) reset += CSCHED2_CREDIT_INIT;
  for (const svc of rqd.svc) {
    const svcCpu = svc.unit.res;
    if (g.ctx.curr(svcCpu) === svc.unit) {
      burnCredits(g, rqd, svc, now);
      if (svc.budget <= 0) tickleCpu(g, svcCpu, rqd);
    }
    const start = svc.credit;
    svc.credit += reset;
    if (svc.credit > CSCHED2_CREDIT_INIT + CSCHED2_CARRYOVER_MAX) svc.credit = CSCHED2_CREDIT_INIT + CSCHED2_CARRYOVER_MAX;
    svc.startTime = now;
    trace(g, TRC_CSCHED2.CREDIT_RESET, [dv(svc.unit), start, svc.credit]);
  }
}

// ------------------------------------------------------------------ tickling

function smtIdleMaskSet(g: G, cpu: number, idlers: Set<number>, mask: Set<number>): void {
  const sib = pd(g, cpu).siblingMask;
  if (subset(sib, idlers)) for (const s of sib) mask.add(s);
}
function smtIdleMaskClear(g: G, cpu: number, mask: Set<number>): void {
  const sib = pd(g, cpu).siblingMask;
  if (subset(sib, mask)) for (const s of sib) mask.delete(s);
}

function tickleCpu(g: G, cpu: number, rqd: RQ): void {
  rqd.tickled.add(cpu);
  smtIdleMaskClear(g, cpu, rqd.smtIdle);
  g.ctx.tickle(pcpuid(cpu));
}

function isPreemptable(svc: U, now: Ns, ratelimit: Ns): boolean {
  if (ratelimit <= CSCHED2_RATELIMIT_TICKLE_TOLERANCE) return true;
  return now - svc.unit.stateEntryTime > ratelimit - CSCHED2_RATELIMIT_TICKLE_TOLERANCE;
}

function tickleScore(g: G, now: Ns, nu: U, cpu: number): number {
  const rqd = c2rqd(g, cpu);
  const cur = ud(g.ctx.curr(pcpuid(cpu)));
  if (cur.unit.isIdle || !isPreemptable(cur, now, us(g.ratelimitUs))) return -1;
  burnCredits(g, rqd, cur, now);
  let score = nu.credit - cur.credit;
  if (nu.unit.res !== cpu) score -= g.migrateResist;
  if (score > 0) {
    if (nu.unit.softAffinity.has(cpu)) score += CSCHED2_CREDIT_INIT;
    if (!cur.unit.softAffinity.has(cpu)) score += CSCHED2_CREDIT_INIT;
  }
  trace(g, TRC_CSCHED2.TICKLE_CHECK, [dv(cur.unit), cur.credit, score]);
  return score;
}

/** runq_tickle: which pCPU of its runqueue should pick up `nu`, just queued. */
function runqTickle(g: G, nu: U, now: Ns): void {
  const unit = nu.unit;
  const cpu: number = unit.res;
  const rqd = c2rqd(g, cpu);
  const online = g.ctx.cpus();
  trace(g, TRC_CSCHED2.TICKLE_NEW, [dv(unit), cpu, nu.credit]);
  let ipid = -1;

  if (nu.pinned && rqd.idle.has(cpu) && !rqd.tickled.has(cpu)) ipid = cpu;
  else {
    let allowed = new Set<number>();
    for (const step of [BALANCE_SOFT, BALANCE_HARD]) {
      if (step === BALANCE_SOFT && !hasSoftAffinity(unit, g.ctx.cpus())) continue;
      allowed = inter(balanceMask(unit, step).ids, online);
      // Fully idle cores first, then any idle and untickled pCPU; its own pCPU preferred.
      let i = testOrCycle(cpu, inter(rqd.smtIdle, allowed));
      if (i < 0) i = testOrCycle(cpu, inter(minus(rqd.idle, rqd.tickled), allowed));
      if (i >= 0) {
        ipid = i;
        break;
      }
    }
    if (ipid < 0) {
      // Busy, untickled pCPUs of the runqueue: the best tickle_score wins.
      const mask = inter(minus(minus(rqd.active, rqd.idle), rqd.tickled), allowed);
      let max = 0;
      let done = false;
      if (mask.delete(cpu)) {
        const score = tickleScore(g, now, nu, cpu);
        if (score > max) {
          max = score;
          ipid = cpu;
          if (unit.softAffinity.has(cpu)) done = true;
        }
      }
      if (!done)
        for (const i of [...mask].sort((a, b) => a - b)) {
          const score = tickleScore(g, now, nu, i);
          if (score > max) {
            max = score;
            ipid = i;
          }
        }
      if (ipid < 0) return;
    }
  }
  trace(g, TRC_CSCHED2.TICKLE, [ipid & 0xffff]);
  tickleCpu(g, ipid, rqd);
  nu.tickledCpu = ipid;
}

// ------------------------------------------------------------------ budget (caps)

function parkUnit(g: G, svc: U): void {
  // The sleep hook takes it off the queue (and out of the load) if it was queued.
  svc.parked = true;
  svc.dom!.parked.unshift(svc);
  g.ctx.park(svc.unit, true);
}

function grabBudget(g: G, svc: U): boolean {
  const d = svc.dom!;
  if (svc.budget > 0) return true;
  // An overrun (budget < 0) comes out of the domain's pool.
  d.budget += svc.budget;
  if (d.budget > 0) {
    const b = d.budget >= svc.budgetQuota ? svc.budgetQuota : d.budget;
    svc.budget = b;
    d.budget -= b;
  } else {
    svc.budget = 0;
    parkUnit(g, svc);
  }
  return svc.budget > 0;
}

function returnBudget(svc: U): U[] {
  const d = svc.dom!;
  d.budget += svc.budget;
  svc.budget = 0;
  if (d.budget > 0) return takeParked(d);
  return [];
}

function takeParked(d: D): U[] {
  const out = d.parked;
  d.parked = [];
  return out;
}

function unparkUnits(g: G, list: U[]): void {
  for (const svc of list) {
    if (!svc.parked) continue;
    svc.parked = false;
    g.ctx.park(svc.unit, false); // → wake: requeued (or delayed add) if runnable
  }
}

function replenish(g: G, d: D): void {
  const now = g.ctx.now();
  d.nextRepl += CSCHED2_BDGT_REPL_PERIOD;
  d.budget += d.totBudget;
  while (d.nextRepl <= now) {
    d.nextRepl += CSCHED2_BDGT_REPL_PERIOD;
    d.budget += d.totBudget;
  }
  if (d.budget > 0) {
    d.budget = Math.min(d.budget, d.totBudget);
    unparkUnits(g, takeParked(d));
  }
  if (d.cap !== 0) d.replTimer.set(d.nextRepl);
}

// ------------------------------------------------------------------ load balancing

function unitIsMigrateable(g: G, svc: U, rqd: RQ): boolean {
  return !svc.migrateRequest && svc.unit.hardAffinity.and(g.ctx.cpus()).ids.some((c) => rqd.active.has(c));
}

/** Move `svc` to runqueue `trqd` through the framework's migration path. */
function migrateTo(g: G, svc: U, trqd: RQ): void {
  if (svc.scheduled) trace(g, TRC_CSCHED2.MIGRATE, [dv(svc.unit), (svc.rqd!.id & 0xffff) | ((trqd.id & 0xffff) << 16)]);
  svc.migrateRqd = trqd;
  svc.migrateRequest = true;
  g.ctx.requestMigrate(svc.unit);
}

function balanceLoad(g: G, cpu: number, now: Ns, exclude: U): void {
  const lrqd = c2rqd(g, cpu);
  updateRunqLoad(g, lrqd, 0, now);
  let loadDelta = 0;
  let maxDeltaRqd: RQ | null = null;
  let last: RQ | null = null;
  for (const rqd of g.rqs) {
    last = rqd;
    if (rqd === lrqd || rqd.nrCpus === 0) continue;
    updateRunqLoad(g, rqd, 0, now);
    const delta = Math.abs(lrqd.bAvgload - rqd.bAvgload);
    if (delta > loadDelta) {
      loadDelta = delta;
      maxDeltaRqd = rqd;
    }
  }
  if (!maxDeltaRqd || !last) return;
  // 4.17 takes the capacity figures from the last runqueue scanned (st.orqd), see the header.
  const loadMax = Math.max(lrqd.bAvgload, last.bAvgload);
  const cpusMax = Math.max(lrqd.nrCpus, last.nrCpus);
  trace(g, TRC_CSCHED2.LOAD_CHECK, [(lrqd.id & 0xffff) | ((last.id & 0xffff) << 16), loadDelta]);
  const P = g.P;
  if (loadMax < cpusMax * 2 ** P) {
    if (loadDelta < 2 ** (P + g.underTolerance)) return;
  } else if (loadDelta < 2 ** (P + g.overTolerance)) return;

  const orqd = maxDeltaRqd;
  trace(g, TRC_CSCHED2.LOAD_BALANCE, [lo(lrqd.bAvgload), hi(lrqd.bAvgload), lo(orqd.bAvgload), hi(orqd.bAvgload), (lrqd.id & 0xffff) | ((orqd.id & 0xffff) << 16)]);

  let best = loadDelta;
  let bestPush: U | null = null;
  let bestPull: U | null = null;
  const consider = (push: U | null, pull: U | null) => {
    let l = lrqd.bAvgload;
    let o = orqd.bAvgload;
    if (push) {
      l -= push.avgload;
      o += push.avgload;
    }
    if (pull) {
      l += pull.avgload;
      o -= pull.avgload;
    }
    const delta = Math.abs(l - o);
    if (delta < best) {
      best = delta;
      bestPush = push;
      bestPull = pull;
    }
  };
  const ok = (svc: U, to: RQ) => svc !== exclude && unitIsMigrateable(g, svc, to);
  let innerUpdated = false;
  for (const push of lrqd.svc) {
    updateSvcLoad(g, push, 0, now);
    if (!ok(push, orqd)) continue;
    for (const pull of orqd.svc) {
      if (!innerUpdated) updateSvcLoad(g, pull, 0, now);
      if (!ok(pull, lrqd)) continue;
      consider(push, pull);
    }
    innerUpdated = true;
    consider(push, null);
  }
  for (const pull of orqd.svc) {
    if (!ok(pull, lrqd)) continue;
    consider(null, pull);
  }
  const push = bestPush as U | null;
  const pull = bestPull as U | null;
  if (push) migrateTo(g, push, orqd);
  if (pull) migrateTo(g, pull, lrqd);
}

// ------------------------------------------------------------------ scheduling

function runqCandidate(g: G, rqd: RQ, scurr: U, cpu: number, now: Ns): U {
  const prev = scurr.unit;
  let snext: U;
  let yieldNow = false;
  if (prev.isIdle) snext = scurr;
  else {
    yieldNow = scurr.yield;
    scurr.yield = false;
    if (!yieldNow && g.ratelimitUs > 0 && prev.runnable && now - prev.stateEntryTime < us(g.ratelimitUs)) {
      trace(g, TRC_CSCHED2.RATELIMIT, [dv(prev), now - prev.stateEntryTime]);
      return scurr;
    }
    let softAffPreempt = false;
    if (hasSoftAffinity(prev, g.ctx.cpus())) {
      const soft = balanceMask(prev, BALANCE_SOFT);
      if (!soft.has(cpu)) {
        const free = minus(inter(soft.ids, rqd.idle), rqd.tickled);
        softAffPreempt = intersects(free, g.ctx.cpus());
      }
    }
    snext = prev.runnable && !softAffPreempt ? scurr : ud(g.ctx.idleUnit(pcpuid(cpu)));
  }

  for (const svc of [...rqd.runq]) {
    if (!svc.onRunq) continue; // parked meanwhile
    trace(g, TRC_CSCHED2.RUNQ_CAND_CHECK, [dv(svc.unit)]);
    if (!yieldNow && svc.credit <= snext.credit) break;
    if (!svc.unit.runnable) continue;
    if (!svc.unit.hardAffinity.has(cpu)) continue;
    if (svc.tickledCpu !== -1 && svc.tickledCpu !== cpu && rqd.tickled.has(svc.tickledCpu)) continue;
    if (svc.unit.res !== cpu && snext.credit + g.migrateResist > svc.credit) continue;
    if (hasCap(svc) && !grabBudget(g, svc)) continue;
    snext = svc;
    break;
  }
  trace(g, TRC_CSCHED2.RUNQ_CANDIDATE, [dv(snext.unit), snext.tickledCpu, snext.credit]);
  return snext;
}

/** csched2_runtime: how long snext may run. */
function runtime(g: G, cpu: number, snext: U, now: Ns): Ns {
  if (snext.unit.isIdle) return -1;
  const rqd = c2rqd(g, cpu);
  let minTime = CSCHED2_MIN_TIMER;
  if (g.ratelimitUs > 0) {
    let rl = us(g.ratelimitUs);
    if (snext.unit.isRunning) rl = snext.unit.stateEntryTime + us(g.ratelimitUs) - now;
    if (rl > minTime) minTime = rl;
  }
  let rtCredit = snext.credit;
  const swait = rqd.runq[0];
  if (swait && swait.credit > 0) rtCredit = snext.credit - swait.credit;
  let time = rtCredit > 0 ? c2t(rqd, rtCredit, snext) : 0;
  if (hasCap(snext)) time = snext.budget < time ? snext.budget : time;
  if (time < minTime) time = minTime;
  else if (time > CSCHED2_MAX_TIMER) time = CSCHED2_MAX_TIMER;
  return time;
}

function schedule(g: G, prev: SchedUnit, now: Ns, cpu: number, taskletWork: boolean) {
  const rqd = c2rqd(g, cpu);
  const scurr = ud(prev);
  const tickled = rqd.tickled.delete(cpu);
  if (tickled) smtIdleMaskSet(g, cpu, minus(rqd.idle, rqd.tickled), rqd.smtIdle);
  trace(g, TRC_CSCHED2.SCHEDULE, [
    (cpu & 0xffff) | ((rqd.id & 0xffff) << 16),
    (taskletWork ? 1 : 0) | ((prev.isIdle ? 1 : 0) << 8) | ((rqd.smtIdle.has(cpu) ? 1 : 0) << 16) | ((tickled ? 1 : 0) << 24),
  ]);

  burnCredits(g, rqd, scurr, now);
  // Capped and overrun: try to get more budget, else it is parked.
  if (scurr.budget <= 0) grabBudget(g, scurr);

  let snext: U;
  if (taskletWork) {
    scurr.yield = false;
    trace(g, TRC_CSCHED2.SCHED_TASKLET, []);
    snext = ud(g.ctx.idleUnit(pcpuid(cpu)));
  } else snext = runqCandidate(g, rqd, scurr, cpu, now);

  if (snext !== scurr && !prev.isIdle && prev.runnable) scurr.delayedRunqAdd = true;

  let migrated = false;
  if (!snext.unit.isIdle) {
    if (snext !== scurr) {
      runqRemove(snext);
      snext.scheduled = true;
    } else updateLoad(g, rqd, snext, 0, now);
    if (rqd.idle.delete(cpu)) smtIdleMaskClear(g, cpu, rqd.smtIdle);
    // End of a credit epoch: the best credit in the runqueue is used up.
    const top = rqd.runq.length === 0 ? snext.credit : Math.max(snext.credit, rqd.runq[0].credit);
    if (top <= CSCHED2_CREDIT_RESET) {
      resetCredit(g, cpu, now, snext);
      balanceLoad(g, cpu, now, snext);
    }
    snext.startTime = now;
    snext.tickledCpu = -1;
    if (snext.unit.res !== cpu) {
      snext.credit += CSCHED2_MIGRATE_COMPENSATION;
      migrated = true;
    }
  } else {
    if (taskletWork) {
      if (rqd.idle.delete(cpu)) smtIdleMaskClear(g, cpu, rqd.smtIdle);
    } else if (!rqd.idle.has(cpu)) {
      rqd.idle.add(cpu);
      smtIdleMaskSet(g, cpu, minus(rqd.idle, rqd.tickled), rqd.smtIdle);
    }
    updateLoad(g, rqd, null, 0, now);
  }
  return { next: snext.unit, sliceNs: runtime(g, cpu, snext, now), migrated };
}

// ------------------------------------------------------------------ pick_resource

function fallbackCpu(g: G, svc: U): number {
  const unit = svc.unit;
  for (const step of [BALANCE_SOFT, BALANCE_HARD]) {
    if (step === BALANCE_SOFT && !hasSoftAffinity(unit, g.ctx.cpus())) continue;
    const m = balanceMask(unit, step).and(g.ctx.cpus());
    if (m.has(unit.res)) return unit.res;
    const inRq = svc.rqd ? m.ids.filter((c) => svc.rqd!.active.has(c)) : [];
    if (inRq.length > 0) return inRq[0];
    if (step === BALANCE_SOFT) continue;
    if (!m.isEmpty) return m.ids[0];
  }
  return unit.res;
}

function resPick(g: G, unit: SchedUnit): PcpuId {
  const svc = ud(unit);
  const mask = unit.hardAffinity.and(g.ctx.cpus());
  let newCpu = -1;
  let chosen: RQ | null = null;
  let minAvg = Infinity;
  if (svc.migrateRequest) {
    svc.migrateRequest = false;
    const t = svc.migrateRqd;
    const there = t && t.nrCpus > 0 ? mask.ids.filter((c) => t.active.has(c)) : [];
    if (t && there.length > 0) {
      newCpu = cycle(t.pickBias, there);
      t.pickBias = newCpu;
      chosen = t;
      minAvg = t.bAvgload;
    }
  }
  if (newCpu < 0) {
    const hasSoft = hasSoftAffinity(unit, g.ctx.cpus());
    let minRqd: RQ | null = null;
    let minS: RQ | null = null;
    let minSAvg = Infinity;
    for (const rqd of g.rqs) {
      if (rqd.nrCpus === 0 || !mask.ids.some((c) => rqd.active.has(c))) continue;
      const avg = rqd === svc.rqd ? Math.max(rqd.bAvgload - svc.avgload, 0) : rqd.bAvgload;
      if (hasSoft && avg < minSAvg && mask.ids.some((c) => rqd.active.has(c) && unit.softAffinity.has(c))) {
        minSAvg = avg;
        minS = rqd;
      }
      if (avg < minAvg) {
        minAvg = avg;
        minRqd = rqd;
      }
    }
    let cands: number[] = [];
    if (hasSoft && minS) cands = mask.ids.filter((c) => unit.softAffinity.has(c) && minS!.active.has(c));
    else if (minRqd) cands = mask.ids.filter((c) => minRqd!.active.has(c));
    if (minRqd && cands.length > 0) {
      newCpu = cycle(minRqd.pickBias, cands);
      minRqd.pickBias = newCpu;
      chosen = hasSoft && minS ? minS : minRqd;
    } else {
      newCpu = fallbackCpu(g, svc);
      chosen = pd(g, newCpu)?.rqd ?? null;
      minAvg = chosen?.bAvgload ?? 0;
    }
  }
  trace(g, TRC_CSCHED2.PICKED_CPU, [lo(minAvg), hi(minAvg), dv(unit), ((chosen?.id ?? 0xffff) & 0xffff) | ((newCpu & 0xffff) << 16)]);
  return pcpuid(newCpu);
}

// ------------------------------------------------------------------ regrouping (our runqueue parameter)

/** Regroup the pool's pCPUs by g.arrangement, carrying every unit to the runqueue of its pCPU. */
function rearrange(g: G): void {
  const now = g.ctx.now();
  const cpus = [...g.initialized].sort((a, b) => a - b);
  const units = g.rqs.flatMap((r) => r.svc);
  const queued = new Set(units.filter((u) => u.onRunq));
  for (const u of units) {
    u.onRunq = false;
    u.rqd = null;
    u.tickledCpu = -1;
    u.migrateRequest = false;
  }
  g.rqs = [];
  g.initialized.clear();
  for (const c of cpus) {
    // As cpus join a pool one by one: allocate (choose the runqueue), then activate.
    const p = pd(g, c);
    p.rqd = addToRunqueue(g, c);
    initCpuRunqueue(g, p, c);
  }
  for (const c of cpus) {
    const p = pd(g, c);
    if (!g.ctx.curr(pcpuid(c)).isIdle) {
      p.rqd.idle.delete(c);
      smtIdleMaskClear(g, c, p.rqd.smtIdle);
    }
  }
  for (const u of units) runqAssign(g, u, c2rqd(g, u.unit.res));
  for (const u of units) if (queued.has(u)) runqInsert(g, u);
  const t = Math.floor(now / 2 ** LOADAVG_GRANULARITY_SHIFT);
  for (const r of g.rqs) {
    r.load = r.svc.filter((u) => u.onRunq || (u.unit.isRunning && u.unit.runnable)).length;
    r.avgload = r.bAvgload = r.load * 2 ** g.P;
    r.loadLastUpdate = t;
  }
  for (const c of cpus) g.ctx.tickle(pcpuid(c));
}

// ------------------------------------------------------------------ the policy

export const credit2Scheduler: SchedulerOps<G, P, D, U> = {
  name: 'SMP Credit Scheduler rev2',
  optName: 'credit2',
  schedId: XEN_SCHEDULER.CREDIT2,
  doc: "Xen's credit2 (default since 4.12): per-runqueue credit burnt by weight, reset when exhausted; load balancing between runqueues; caps by budget.",
  traceClass: 1,
  traceEvents: {
    [TRC_CSCHED2.TICK]: 'tick',
    [TRC_CSCHED2.RUNQ_POS]: 'runq_pos',
    [TRC_CSCHED2.CREDIT_BURN]: 'credit_burn',
    [TRC_CSCHED2.CREDIT_ADD]: 'credit_add',
    [TRC_CSCHED2.TICKLE_CHECK]: 'tickle_check',
    [TRC_CSCHED2.TICKLE]: 'tickle',
    [TRC_CSCHED2.CREDIT_RESET]: 'credit_reset',
    [TRC_CSCHED2.SCHED_TASKLET]: 'sched_tasklet',
    [TRC_CSCHED2.UPDATE_LOAD]: 'update_load',
    [TRC_CSCHED2.RUNQ_ASSIGN]: 'runq_assign',
    [TRC_CSCHED2.UPDATE_UNIT_LOAD]: 'update_unit_load',
    [TRC_CSCHED2.UPDATE_RUNQ_LOAD]: 'update_runq_load',
    [TRC_CSCHED2.TICKLE_NEW]: 'tickle_new',
    [TRC_CSCHED2.RUNQ_MAX_WEIGHT]: 'runq_max_weight',
    [TRC_CSCHED2.MIGRATE]: 'migrate',
    [TRC_CSCHED2.LOAD_CHECK]: 'load_check',
    [TRC_CSCHED2.LOAD_BALANCE]: 'load_balance',
    [TRC_CSCHED2.PICKED_CPU]: 'picked_cpu',
    [TRC_CSCHED2.RUNQ_CANDIDATE]: 'runq_candidate',
    [TRC_CSCHED2.SCHEDULE]: 'schedule',
    [TRC_CSCHED2.RATELIMIT]: 'ratelimit',
    [TRC_CSCHED2.RUNQ_CAND_CHECK]: 'runq_cand_check',
  },
  domainParams: {
    layout: xenDomctlSchedCredit2,
    params: [
      { name: 'weight', field: 'weight', min: 1, max: 65535, default: CSCHED2_DEFAULT_WEIGHT, doc: 'relative share of CPU time (0 in putinfo: unchanged)' },
      { name: 'cap', field: 'cap', min: 0, max: 65535, default: 0, unit: '%', doc: 'most CPU the domain may use, in % of one pCPU (≤ 100 × its vCPUs); 0 = no cap' },
    ],
  },
  globalParams: {
    layout: credit2PoolParams,
    params: [
      { name: 'ratelimit_us', field: 'ratelimit_us', min: 0, max: XEN_SYSCTL_SCHED_RATELIMIT_MAX, default: SCHED_DEFAULT_RATELIMIT_US, unit: 'µs', doc: 'least run time before a preemption; 0 = off, else 100..500000' },
      { name: 'runqueue', field: 'runqueue', min: 0, max: 5, default: RUNQUEUE.socket, doc: 'runqueue arrangement (ours; Xen: credit2_runqueue boot option): 1 cpu, 2 core, 3 socket, 4 node (= socket), 5 all; 0 = unchanged' },
    ],
  },

  init: (ctx) => {
    const topo = ctx.topology;
    return {
      ctx,
      ratelimitUs: SCHED_DEFAULT_RATELIMIT_US,
      arrangement: RUNQUEUE.socket,
      maxCpusRunq: MAX_CPUS_RUNQ,
      migrateResist: CSCHED2_MIGRATE_RESIST,
      W: LOADAVG_WINDOW_SHIFT - LOADAVG_GRANULARITY_SHIFT,
      P: LOADAVG_PRECISION_SHIFT,
      underTolerance: 0,
      overTolerance: -3,
      rqs: [],
      initialized: new Set(),
      doms: [],
      inSchedule: -1,
      siblings: topo.cpus.map((c) => topo.cpus.filter((o) => o.core === c.core).map((o) => o.id as number)),
    };
  },
  deinit: () => {},

  allocPdata: (g, cpu) => ({ cpu, rqd: addToRunqueue(g, cpu), siblingMask: new Set([cpu as number]) }),
  switchSched: (g, cpu, p) => initCpuRunqueue(g, p!, cpu),
  deinitPdata: (g, p, cpu) => {
    if (p) deinitCpuRunqueue(g, p, cpu);
  },
  freePdata: (g, p) => {
    if (p) releaseRunqueue(g, p.rqd);
  },

  allocDomdata: (g, dom) => {
    const d: D = {
      dom,
      weight: CSCHED2_DEFAULT_WEIGHT,
      cap: 0,
      nrUnits: 0,
      totBudget: 0,
      budget: 0,
      nextRepl: 0,
      replTimer: undefined as unknown as PolicyTimer,
      parked: [],
    };
    d.replTimer = g.ctx.timer(() => replenish(g, d));
    g.doms.push(d);
    return d;
  },
  freeDomdata: (g, d) => {
    if (!d) return;
    d.replTimer.stop();
    const i = g.doms.indexOf(d);
    if (i >= 0) g.doms.splice(i, 1);
  },

  allocUdata: (g, unit, dom) => ({
    unit,
    dom,
    rqd: null,
    credit: unit.isIdle ? CSCHED2_IDLE_CREDIT : CSCHED2_CREDIT_INIT,
    weight: unit.isIdle ? 0 : (dom?.weight ?? CSCHED2_DEFAULT_WEIGHT),
    residual: 0,
    scheduled: false,
    delayedRunqAdd: false,
    migrateRequest: false,
    migrateRqd: null,
    yield: false,
    pinned: unit.hardAffinity.size === 1,
    budget: Infinity,
    budgetQuota: 0,
    startTime: 0,
    // A new unit starts at half a vCPU of load.
    loadLastUpdate: Math.floor(g.ctx.now() / 2 ** LOADAVG_GRANULARITY_SHIFT),
    avgload: unit.isIdle ? 0 : 2 ** (g.P - 1),
    onRunq: false,
    tickledCpu: -1,
    parked: false,
  }),
  freeUdata: () => {},

  insertUnit: (g, unit) => {
    const svc = ud(unit);
    runqAssign(g, svc, c2rqd(g, unit.res));
    svc.dom!.nrUnits++;
  },
  removeUnit: (g, unit) => {
    const svc = ud(unit);
    if (svc.onRunq) {
      updateLoad(g, svc.rqd!, svc, -1, g.ctx.now());
      runqRemove(svc);
    }
    if (svc.parked) {
      const d = svc.dom!;
      d.parked.splice(d.parked.indexOf(svc), 1);
      unparkUnits(g, [svc]);
      runqRemove(svc); // (the domain is paused: the unpark queues nothing)
    }
    runqDeassign(g, svc);
    svc.dom!.nrUnits--;
  },

  sleep: (g, unit) => {
    const svc = ud(unit);
    if (g.ctx.curr(unit.res) === unit) {
      if (g.inSchedule !== unit.res) tickleCpu(g, unit.res, svc.rqd!);
    } else if (svc.onRunq) {
      updateLoad(g, svc.rqd!, svc, -1, g.ctx.now());
      runqRemove(svc);
    } else svc.delayedRunqAdd = false;
  },

  wake: (g, unit) => {
    const svc = ud(unit);
    if (g.ctx.curr(unit.res) === unit || svc.onRunq) return;
    if (svc.scheduled) {
      svc.delayedRunqAdd = true;
      return;
    }
    if (!svc.rqd) runqAssign(g, svc, c2rqd(g, unit.res));
    const now = g.ctx.now();
    updateLoad(g, svc.rqd!, svc, 1, now);
    runqInsert(g, svc);
    runqTickle(g, svc, now);
  },

  yield: (_g, unit) => {
    ud(unit).yield = true;
  },

  contextSaved: (g, unit) => {
    const svc = ud(unit);
    const now = g.ctx.now();
    svc.scheduled = false;
    let wereParked: U[] = [];
    if (hasCap(svc) && svc.budget > 0) wereParked = returnBudget(svc);
    const delayed = svc.delayedRunqAdd;
    svc.delayedRunqAdd = false;
    if (delayed && unit.runnable) {
      runqInsert(g, svc);
      runqTickle(g, svc, now);
    } else if (!unit.isIdle) updateLoad(g, svc.rqd!, svc, -1, now);
    unparkUnits(g, wereParked);
  },

  doSchedule: (g, prev, now, cpu, taskletWork) => {
    g.inSchedule = cpu;
    try {
      return schedule(g, prev, now, cpu, taskletWork);
    } finally {
      g.inSchedule = -1;
    }
  },

  pickResource: (g, unit) => resPick(g, unit),

  migrate: (g, unit, newCpu) => {
    const svc = ud(unit);
    const trqd = c2rqd(g, newCpu);
    if (trqd === svc.rqd) return;
    trace(g, TRC_CSCHED2.MIGRATE, [dv(unit), ((svc.rqd?.id ?? 0xffff) & 0xffff) | ((trqd.id & 0xffff) << 16)]);
    // The framework put it to sleep first (it is not queued); its wake queues it on trqd.
    if (svc.onRunq) {
      updateLoad(g, svc.rqd!, svc, -1, g.ctx.now());
      runqRemove(svc);
    }
    runqDeassign(g, svc);
    runqAssign(g, svc, trqd);
  },

  adjust: (g, dom, cmd, buf) => {
    const d = dom.priv as D;
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      xenDomctlSchedCredit2.write(buf, 0, { weight: d.weight, cap: d.cap });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = xenDomctlSchedCredit2.read(buf, 0);
    if (a.cap !== 0 && a.cap > 100 * d.nrUnits) return -Errno.EINVAL;
    const units = dom.units.map(ud).filter((s) => s.rqd);
    if (a.weight !== 0) {
      const old = d.weight;
      d.weight = a.weight;
      for (const svc of units) {
        svc.weight = d.weight;
        updateMaxWeight(g, svc.rqd!, svc.weight, old);
      }
    }
    const now = g.ctx.now();
    if (a.cap !== 0) {
      d.totBudget = Math.floor((CSCHED2_BDGT_REPL_PERIOD * a.cap) / 100);
      for (const svc of units) svc.budgetQuota = Math.max(Math.floor(d.totBudget / d.nrUnits), CSCHED2_MIN_TIMER);
      if (d.cap === 0) {
        d.budget = d.totBudget;
        d.nextRepl = now + CSCHED2_BDGT_REPL_PERIOD;
        d.replTimer.set(d.nextRepl);
        for (const svc of units) {
          if (svc.unit.isRunning) {
            // Account the current run uncapped, then make it grab budget at once.
            const c = svc.unit.res;
            burnCredits(g, c2rqd(g, c), svc, now);
            tickleCpu(g, c, c2rqd(g, c));
          }
          svc.budget = 0;
        }
      }
      d.cap = a.cap;
    } else if (d.cap !== 0) {
      d.replTimer.stop();
      for (const svc of units) {
        svc.budget = Infinity;
        svc.budgetQuota = 0;
      }
      d.cap = 0;
      unparkUnits(g, takeParked(d));
    }
    return 0;
  },

  adjustGlobal: (g, cmd, buf) => {
    const L = credit2PoolParams;
    if (cmd === XEN_SYSCTL_SCHEDOP.putinfo) {
      const a = L.read(buf, 0);
      if (a.ratelimit_us !== 0 && (a.ratelimit_us > XEN_SYSCTL_SCHED_RATELIMIT_MAX || a.ratelimit_us < XEN_SYSCTL_SCHED_RATELIMIT_MIN)) return -Errno.EINVAL;
      if (a.runqueue > RUNQUEUE.all) return -Errno.EINVAL;
      g.ratelimitUs = a.ratelimit_us;
      if (a.runqueue !== 0 && a.runqueue !== g.arrangement) {
        g.arrangement = a.runqueue as Arrangement;
        rearrange(g);
      }
    } else if (cmd !== XEN_SYSCTL_SCHEDOP.getinfo) return -Errno.EINVAL;
    L.write(buf, 0, { ratelimit_us: g.ratelimitUs, runqueue: g.arrangement });
    return 0;
  },

  adjustAffinity: (_g, unit, hard) => {
    if (hard) ud(unit).pinned = hard.size === 1;
  },

  dumpSettings: (g) =>
    [
      `Active queues: ${g.rqs.filter((r) => r.nrCpus > 0).length} ratelimit=${g.ratelimitUs}us runqueue=${Object.entries(RUNQUEUE).find(([, v]) => v === g.arrangement)?.[0]}`,
      ...g.rqs.map(
        (r) =>
          `Runqueue ${r.id}: cpus={${[...r.active].sort((a, b) => a - b).join(',')}} max_weight=${r.maxWeight} pick_bias=${r.pickBias} load=${r.load} avgload=${r.avgload} (~${Math.round((r.avgload * 100) / 2 ** g.P)}%) idle={${[...r.idle].join(',')}} tickled={${[...r.tickled].join(',')}}` +
          ` runq: ${r.runq.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}(credit=${u.credit})`).join(' ')}`,
      ),
      ...g.doms.map((d) => `Domain ${d.dom.domid}: w=${d.weight} cap=${d.cap} units=${d.nrUnits} budget=${d.budget}/${d.totBudget}`),
    ].join('\n'),
  dumpCpuState: (g, cpu) => {
    const c = g.ctx.curr(cpu);
    const s = ud(c);
    return `cpu ${cpu} runq=${c2rqd(g, cpu).id} ` + (c.isIdle ? 'idle' : `run: d${c.domid}v${c.vcpuId} credit=${s.credit} w=${s.weight}${hasCap(s) ? ` budget=${s.budget}` : ''}`);
  },
};

export default credit2Scheduler;
