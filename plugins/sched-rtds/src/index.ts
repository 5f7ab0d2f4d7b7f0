/**
 * RTDS — global EDF over deferrable servers (Xen 4.5+, xen/common/sched/rt.c; Sisu Xi, Meng Xu,
 * Tianyang Chen, Dagaen Golomb; schedulers.md §2.7).
 *
 * Design: every vCPU is a server with a period and a budget (µs over the domctl; defaults 10 000 /
 * 4 000). Its deadline is the end of its current period; at each period boundary the budget is
 * refilled and whatever was left is discarded. The budget burns only while the vCPU runs and is
 * kept while it is blocked (a deferrable server). One instance per cpupool holds:
 *  - `runq`: every runnable, not running unit with budget (or extratime), ordered by
 *    (priority_level, deadline) — global EDF, FIFO among equals;
 *  - `depletedq`: units that used their budget without extratime, until their replenishment;
 *  - `replq`: every awake unit, ordered by deadline, driven by one replenishment timer (a policy
 *    timer) armed at the earliest deadline;
 *  - `tickled`: pCPUs already asked to reschedule and not yet done so.
 * do_schedule burns prev's budget, takes the first runq unit allowed on this pCPU (keeping prev if
 * it still has budget and higher priority) and asks to be called again when that budget runs out
 * (idle: no timer). A running unit is on no queue; it goes back to the runq in context_saved
 * ("delayed runq add"), where it may tickle another pCPU (global EDF pushes it there). runq_tickle
 * pokes an idle, untickled pCPU in the unit's affinity (its own first, then cycling), else the pCPU
 * running the lowest-priority (latest-deadline) unit, if the new one beats it.
 *
 * Extratime (default on): a unit that exhausts its budget drops one priority level and gets a full
 * budget again, so it runs in time no reservation claims; without extratime it waits in the
 * depletedq until its next period.
 *
 * Deadline misses are observable (not in Xen): when a unit's period ends while it is awake with
 * level-0 budget left and it was awake for the whole period (a busy server did not get its
 * reservation), its miss counter rises and a DEADLINE_MISS record (event 7) is traced. A unit that
 * woke during the period is not judged: a deferrable server cannot promise its budget to demand
 * that arrives late. `periods` counts judged periods.
 *
 * Parameters: XEN_DOMCTL_scheduler_op with `struct xen_domctl_sched_rtds { u32 period, budget,
 * flags }` (µs; flags bit 0 = XEN_DOMCTL_SCHEDRT_extra): putinfo applies to every vCPU, getinfo
 * returns the defaults (as Xen: per-vCPU values come from getvcpuinfo). putvcpuinfo / getvcpuinfo
 * read `v { handle vcpus; u32 nr_vcpus; }` and copy xen_domctl_schedparam_vcpu records from and to
 * the caller's memory through that handle. Bounds: 10 µs ≤ budget ≤ period ≤ STIME_DELTA_MAX.
 *
 * Choices, stated:
 *  - putinfo validates as putvcpuinfo does (zero, budget > period, < 10 µs → -EINVAL) and honours
 *    the extratime flag: Xen 4.17 only rejects zeros and ignores flags, although libxl sends them;
 *    upstream added the same validation in 2026 (eec1a570c0). getinfo reports the default flags
 *    (extratime) too, where Xen leaves the caller's flags word as it was.
 *  - putvcpuinfo checks every record of a call before changing anything: nothing changes on error
 *    (Xen 4.17 applies the records before the bad one). A call handles at most 64 records and
 *    reports how many in nr_vcpus, as Xen does when its preemption check fires after 64; libxc (and
 *    our Xc) re-issue the call for the rest.
 *  - Turning extratime on for a depleted unit refills it at the next priority level and moves it to
 *    the runq (upstream 37b49cb48e; 4.17 could put a unit without budget on the runq).
 *  - do_schedule skips (and dequeues) non-runnable units at the runq head until it finds a runnable
 *    one (upstream 0f1dec89d3, 4.18; 4.17 ran idle instead). priority_level saturates (410d44fcf3).
 *  - The replenishment handler tickles for every replenished unit waiting in the runq (runq_tickle
 *    decides whether it preempts anyone). Xen tickles only units that were depleted, so a queued
 *    extratime unit that regains level 0 waits behind a lower-priority running unit until that
 *    unit's slice ends — up to a whole budget of priority inversion. Measured with Xen's rule on
 *    the feasible sets of our tests (extratime on): a 10 ms / 3 ms server got 0.997 ms in one
 *    period on one pCPU (U = 0.8), and a 10 ms / 4 ms server 3.998 ms on two (U = 1.4).
 *  - The framework calls context_saved synchronously at the switch, so the "scheduled" /
 *    "delayed runq add" window of Xen collapses to the switch instant; the flags are kept anyway.
 *
 * Invariants (checkRtds):
 *  - a unit is on at most one of runq / depletedq, and on neither while it runs;
 *  - every runq unit has budget > 0 and the runq is sorted by (level, deadline);
 *  - replq holds exactly the awake (queued or running) units, sorted by deadline, and the
 *    replenishment timer is armed at replq's head deadline whenever replq is not empty;
 *  - a depletedq unit has no extratime and budget 0.
 */
import {
  hasSoftAffinity,
  balanceMask,
  BALANCE_STEPS,
  BALANCE_SOFT,
  pickByAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SCHEDULER,
  BufferBytes,
  struct,
  u32,
  u64,
  us,
  type ByteAccess,
  type Ns,
  type PcpuId,
  type PolicyTimer,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

export const RTDS_DEFAULT_PERIOD = us(10_000);
export const RTDS_DEFAULT_BUDGET = us(4_000);
export const RTDS_MIN_PERIOD = us(10);
export const RTDS_MIN_BUDGET = us(10);
/** Xen's STIME_DELTA_MAX (s_time_t is signed 64-bit); no u32 count of µs comes near it. */
export const RTDS_MAX_PERIOD = 2 ** 62;
/** XEN_DOMCTL_SCHEDRT_extra. */
export const XEN_DOMCTL_SCHEDRT_extra = 1;
const UPDATE_LIMIT_SHIFT = 10;
const MAX_PRIORITY_LEVEL = 0xffffffff;

/** struct xen_domctl_sched_rtds (domctl.h): the putinfo/getinfo payload, in µs. */
export const xenDomctlSchedRtds = struct('struct xen_domctl_sched_rtds', 12, { period: u32(0), budget: u32(4), flags: u32(8) });
/** struct xen_domctl_schedparam_vcpu with its union read as `rtds` (one record of put/getvcpuinfo). */
export const xenDomctlSchedparamVcpu = struct('struct xen_domctl_schedparam_vcpu', 16, {
  period: u32(0, 'u.rtds.period'),
  budget: u32(4, 'u.rtds.budget'),
  flags: u32(8, 'u.rtds.flags'),
  vcpuid: u32(12),
});
/** The scheduler_op union's `v` member: a guest handle to the records and their count. */
export const xenDomctlSchedVcpus = struct('__typeof__(((struct xen_domctl_scheduler_op *)0)->u.v)', 16, {
  vcpus: u64(0),
  nr_vcpus: u32(8),
  padding: u32(12),
});

/** RTDS trace events (TRC_SCHED_CLASS_EVT(RTDS = 4, n)); 7 is ours. */
export const RTDS_TRACE = {
  TICKLE: 1,
  RUNQ_PICK: 2,
  BUDGET_BURN: 3,
  BUDGET_REPLENISH: 4,
  SCHED_TASKLET: 5,
  SCHEDULE: 6,
  /** Not in Xen: d:v16, u64 deadline, u64 budget left (ns). */
  DEADLINE_MISS: 7,
} as const;

interface G {
  ctx: SchedContext;
  runq: RtdsUnit[];
  depletedq: Set<RtdsUnit>;
  replq: RtdsUnit[];
  replTimer: PolicyTimer;
  tickled: Set<PcpuId>;
  /** Every non-idle unit of this pool (for dumps and checks). */
  units: Set<RtdsUnit>;
  /** Deadline misses of units that have since left the pool. */
  missesGone: number;
}

/** The policy's per-unit record (exported for white-box tests and tools). */
export interface RtdsUnit {
  readonly unit: SchedUnit;
  period: Ns;
  budget: Ns;
  extratime: boolean;
  curBudget: Ns;
  lastStart: Ns;
  curDeadline: Ns;
  priorityLevel: number;
  /** Which queue the unit is on. */
  q: 'run' | 'depleted' | null;
  onReplq: boolean;
  /** RTDS_scheduled: on a pCPU (set at pick, cleared in context_saved). */
  scheduled: boolean;
  /** RTDS_delayed_runq_add: re-queue in context_saved. */
  delayedRunqAdd: boolean;
  /** RTDS_depleted: ran out of budget without extratime. */
  depleted: boolean;
  // ---- observation (not in Xen)
  /** Start of the current period (its deadline − period when it was set). */
  periodStart: Ns;
  /** When the unit last became awake (entered replq). */
  awakeSince: Ns;
  /** Periods judged (the unit was awake for all of them) and deadlines missed among them. */
  periods: number;
  misses: number;
}

const ud = (u: SchedUnit) => u.priv as RtdsUnit;
const dv16 = (u: SchedUnit) => (((u.domid & 0xffff) << 16) | (u.vcpuId & 0xffff)) >>> 0;
const lo32 = (v: number) => (v >= 0 ? v % 2 ** 32 : (v % 2 ** 32) + 2 ** 32) >>> 0;
const hi32 = (v: number) => Math.floor(v / 2 ** 32) >>> 0;

/** > 0 if v1 has higher priority than v2 (lower level, then earlier deadline); < 0 if lower. */
function compare(v1: RtdsUnit, v2: RtdsUnit): number {
  const prio = v2.priorityLevel - v1.priorityLevel;
  return prio !== 0 ? prio : v2.curDeadline - v1.curDeadline;
}

function trace(g: G, ev: number, data: number[]): void {
  g.ctx.trace(ev, data);
}

/** rt_update_deadline: move to the period containing `now`, refill, level 0. */
function updateDeadline(g: G, now: Ns, s: RtdsUnit): void {
  if (s.curDeadline + s.period * 2 ** UPDATE_LIMIT_SHIFT > now) {
    do s.curDeadline += s.period;
    while (s.curDeadline <= now);
  } else {
    const count = Math.floor((now - s.curDeadline) / s.period) + 1;
    s.curDeadline += count * s.period;
  }
  s.periodStart = s.curDeadline - s.period;
  s.lastStart = now; // time run before `now` belonged to the old period
  s.curBudget = s.budget;
  s.priorityLevel = 0;
  trace(g, RTDS_TRACE.BUDGET_REPLENISH, [dv16(s.unit), s.priorityLevel, lo32(s.curDeadline), hi32(s.curDeadline), lo32(s.curBudget), hi32(s.curBudget)]);
}

function qRemove(g: G, s: RtdsUnit): void {
  if (s.q === 'run') g.runq.splice(g.runq.indexOf(s), 1);
  else if (s.q === 'depleted') g.depletedq.delete(s);
  s.q = null;
}

/** Insert by priority after every unit of equal or higher priority; true if it became the head. */
function sortedInsert(q: RtdsUnit[], s: RtdsUnit, cmp: (a: RtdsUnit, b: RtdsUnit) => number): boolean {
  let i = 0;
  while (i < q.length && cmp(s, q[i]) <= 0) i++;
  q.splice(i, 0, s);
  return i === 0;
}

const byDeadline = (a: RtdsUnit, b: RtdsUnit) => b.curDeadline - a.curDeadline;

/** runq_insert: with budget (or extratime) into the sorted runq, else the depletedq. */
function runqInsert(g: G, s: RtdsUnit): void {
  if (s.curBudget > 0 || s.extratime) {
    sortedInsert(g.runq, s, compare);
    s.q = 'run';
  } else {
    g.depletedq.add(s);
    s.q = 'depleted';
  }
}

function armReplTimer(g: G): void {
  if (g.replq.length > 0) g.replTimer.set(g.replq[0].curDeadline);
  else g.replTimer.stop();
}

function replqInsert(g: G, s: RtdsUnit): void {
  if (s.onReplq) return;
  s.onReplq = true;
  s.awakeSince = g.ctx.now();
  if (sortedInsert(g.replq, s, byDeadline)) g.replTimer.set(s.curDeadline);
}

function replqRemove(g: G, s: RtdsUnit): void {
  if (!s.onReplq) return;
  const i = g.replq.indexOf(s);
  g.replq.splice(i, 1);
  s.onReplq = false;
  if (i === 0) armReplTimer(g);
}

/** Re-sort s in replq after its deadline changed (replq_reinsert). */
function replqReinsert(g: G, s: RtdsUnit): void {
  const i = g.replq.indexOf(s);
  g.replq.splice(i, 1);
  const head = sortedInsert(g.replq, s, byDeadline);
  if (i === 0 || head) armReplTimer(g);
}

/** burn_budget: charge the time since lastStart; on exhaustion drop a level (extratime) or deplete. */
function burnBudget(g: G, s: RtdsUnit, now: Ns): void {
  if (s.unit.isIdle) return;
  const delta = now - s.lastStart;
  if (delta < 0) {
    s.lastStart = now;
    return;
  }
  s.curBudget -= delta;
  s.lastStart = now;
  if (s.curBudget <= 0) {
    if (s.extratime) {
      if (s.priorityLevel < MAX_PRIORITY_LEVEL) s.priorityLevel++;
      s.curBudget = s.budget;
    } else {
      s.curBudget = 0;
      s.depleted = true;
    }
  }
  trace(g, RTDS_TRACE.BUDGET_BURN, [dv16(s.unit), lo32(s.curBudget), hi32(s.curBudget), delta >>> 0, s.priorityLevel >>> 0, s.extratime ? 1 : 0]);
}

/** hard affinity ∩ pool. */
function validCpus(g: G, unit: SchedUnit) {
  return unit.hardAffinity.and(g.ctx.cpus());
}

/** The first runq unit that may run on `cpu` (runq_pick). */
function runqPick(g: G, cpu: PcpuId): RtdsUnit | null {
  for (const s of g.runq) {
    if (!validCpus(g, s.unit).has(cpu)) continue;
    trace(g, RTDS_TRACE.RUNQ_PICK, [dv16(s.unit), lo32(s.curDeadline), hi32(s.curDeadline), lo32(s.curBudget), hi32(s.curBudget)]);
    return s;
  }
  return null;
}

/** `cpu` if it is in `set`, else the next one after it, wrapping (cpumask_test_or_cycle). */
function cycleFrom(ids: readonly PcpuId[], cpu: number): PcpuId[] {
  const i = ids.findIndex((c) => c >= cpu);
  return i <= 0 ? [...ids] : [...ids.slice(i), ...ids.slice(0, i)];
}

/** runq_tickle: an idle untickled pCPU (own first), else preempt the lowest-priority running unit. */
function runqTickle(g: G, s: RtdsUnit | null): void {
  if (!s || s.unit.isIdle) return;
  // Two steps (ours; Xen's RTDS ignores soft affinity): the soft-affine pCPUs first, then all the
  // hard-affine ones. Within a step, as Xen: an idle pCPU (own first), else preempt the
  // lowest-priority running unit if the woken one beats it. EDF order is never changed.
  const pool = g.ctx.cpus();
  let target: PcpuId | null = null;
  for (const step of BALANCE_STEPS) {
    if (step === BALANCE_SOFT && !hasSoftAffinity(s.unit, pool)) continue;
    const candidates = balanceMask(s.unit, step).and(pool).ids.filter((c) => !g.tickled.has(c));
    let latest: RtdsUnit | null = null;
    for (const cpu of cycleFrom(candidates, s.unit.res)) {
      const cur = g.ctx.curr(cpu);
      if (cur.isIdle) {
        target = cpu;
        break;
      }
      const cs = ud(cur);
      if (latest === null || compare(cs, latest) < 0) latest = cs;
    }
    if (target === null && latest !== null && compare(latest, s) < 0) target = latest.unit.res;
    if (target !== null) break;
  }
  if (target === null) return;
  trace(g, RTDS_TRACE.TICKLE, [target & 0xffff]);
  g.tickled.add(target);
  g.ctx.tickle(target);
}

/** Judge the period ending now for an awake unit: a miss if a busy server kept level-0 budget. */
function judgePeriod(g: G, s: RtdsUnit, now: Ns): void {
  if (s.awakeSince > s.periodStart) return;
  s.periods++;
  const left = s.curBudget - (s.unit.isRunning && s.scheduled ? now - s.lastStart : 0);
  if (s.priorityLevel === 0 && left > 0) {
    s.misses++;
    trace(g, RTDS_TRACE.DEADLINE_MISS, [dv16(s.unit), lo32(s.curDeadline), hi32(s.curDeadline), lo32(left), hi32(left)]);
  }
}

/** repl_timer_handler. */
function replenish(g: G): void {
  const now = g.ctx.now();
  const updated: RtdsUnit[] = [];
  while (g.replq.length > 0 && g.replq[0].curDeadline <= now) {
    const s = g.replq.shift()!;
    s.onReplq = false;
    judgePeriod(g, s, now);
    updateDeadline(g, now, s);
    updated.push(s);
    if (s.q !== null) {
      qRemove(g, s);
      runqInsert(g, s);
    }
  }
  for (const s of updated) {
    if (s.unit.isRunning) {
      if (g.runq.length > 0 && compare(s, g.runq[0]) < 0) runqTickle(g, g.runq[0]);
    } else if (s.q === 'run') {
      // Xen tickles only units that were depleted: see "Choices" above.
      s.depleted = false;
      runqTickle(g, s);
    }
    s.onReplq = true;
    sortedInsert(g.replq, s, byDeadline);
  }
  armReplTimer(g);
}

function validParams(period: number, budget: number): boolean {
  const p = us(period);
  const b = us(budget);
  return p >= RTDS_MIN_PERIOD && p <= RTDS_MAX_PERIOD && b >= RTDS_MIN_BUDGET && b <= p;
}

/** Apply parameters to one unit (the lock-held part of rt_dom_cntl). */
function setParams(g: G, s: RtdsUnit, period: number, budget: number, extratime: boolean): void {
  s.period = us(period);
  s.budget = us(budget);
  const wasExtra = s.extratime;
  s.extratime = extratime;
  if (!wasExtra && extratime && s.curBudget <= 0) {
    // A depleted unit that gains extratime continues at the next level with a full budget.
    if (s.priorityLevel < MAX_PRIORITY_LEVEL) s.priorityLevel++;
    s.curBudget = s.budget;
    s.depleted = false;
    if (s.q === 'depleted') {
      qRemove(g, s);
      runqInsert(g, s);
      runqTickle(g, s);
    }
  }
}

/** Records handled per call; the caller re-issues for the rest (as libxc does after a preemption). */
export const RTDS_VCPUS_PER_CALL = 64;

/** put/getvcpuinfo: records through the caller's handle; all checked before anything changes. */
function vcpuInfo(g: G, dom: SchedDomain, cmd: number, u: ByteAccess, mem: ByteAccess): number {
  const hdr = xenDomctlSchedVcpus.read(u, 0);
  const R = xenDomctlSchedparamVcpu;
  const n = Math.min(hdr.nr_vcpus, RTDS_VCPUS_PER_CALL);
  // copy_from_guest of this call's records (a fault here is -EFAULT, nothing changed)
  const recs = new BufferBytes(n > 0 ? mem.getBytes(hdr.vcpus, n * R.size) : new Uint8Array(0));
  const list = Array.from({ length: n }, (_, i) => R.read(recs, i * R.size));
  for (const r of list) if (r.vcpuid >= dom.units.length) return -Errno.EINVAL;
  if (cmd === XEN_DOMCTL_SCHEDOP.getvcpuinfo) {
    list.forEach((r, i) => {
      const s = ud(dom.units[r.vcpuid]);
      const flags = s.extratime ? r.flags | XEN_DOMCTL_SCHEDRT_extra : r.flags & ~XEN_DOMCTL_SCHEDRT_extra;
      R.write(recs, i * R.size, { period: Math.floor(s.period / us(1)), budget: Math.floor(s.budget / us(1)), flags: flags >>> 0 });
    });
    if (n > 0) mem.setBytes(hdr.vcpus, recs.buf);
  } else {
    for (const r of list) if (!validParams(r.period, r.budget)) return -Errno.EINVAL;
    for (const r of list) setParams(g, ud(dom.units[r.vcpuid]), r.period, r.budget, (r.flags & XEN_DOMCTL_SCHEDRT_extra) !== 0);
  }
  xenDomctlSchedVcpus.set(u, 0, 'nr_vcpus', n);
  return 0;
}

/** Check the policy's invariants (see the header); returns the violations. */
export function checkRtds(g: unknown): string[] {
  const p = g as G;
  const errs: string[] = [];
  const name = (s: RtdsUnit) => `d${s.unit.domid}v${s.unit.vcpuId}`;
  for (let i = 0; i < p.runq.length; i++) {
    const s = p.runq[i];
    if (s.q !== 'run') errs.push(`${name(s)} on runq but q=${s.q}`);
    if (s.curBudget <= 0) errs.push(`${name(s)} on runq without budget`);
    if (s.unit.isRunning) errs.push(`${name(s)} on runq while running`);
    if (i > 0 && compare(p.runq[i - 1], s) < 0) errs.push(`runq out of order at ${name(s)}`);
  }
  for (const s of p.depletedq) {
    if (s.q !== 'depleted') errs.push(`${name(s)} on depletedq but q=${s.q}`);
    if (s.extratime || s.curBudget !== 0) errs.push(`${name(s)} depleted with extratime or budget`);
    if (s.unit.isRunning) errs.push(`${name(s)} on depletedq while running`);
  }
  for (let i = 0; i < p.replq.length; i++) {
    const s = p.replq[i];
    if (!s.onReplq) errs.push(`${name(s)} on replq but onReplq=false`);
    if (i > 0 && p.replq[i - 1].curDeadline > s.curDeadline) errs.push(`replq out of order at ${name(s)}`);
  }
  for (const s of p.units) {
    const awake = s.q !== null || (s.unit.isRunning && s.scheduled);
    if (awake !== s.onReplq) errs.push(`${name(s)}: awake=${awake} but onReplq=${s.onReplq}`);
    if (s.onReplq !== p.replq.includes(s)) errs.push(`${name(s)}: onReplq disagrees with replq`);
    if (s.q === 'run' && !p.runq.includes(s)) errs.push(`${name(s)}: q=run but not on runq`);
  }
  if (p.replq.length > 0 && !(p.replTimer.pending && p.replTimer.expires === p.replq[0].curDeadline))
    errs.push(`replenishment timer not armed at replq head deadline ${p.replq[0].curDeadline}`);
  if (p.replq.length === 0 && p.replTimer.pending) errs.push('replenishment timer armed with an empty replq');
  return errs;
}

/** Misses, judged periods and parameters per unit of a pool instance (for tools and tests). */
export function rtdsStats(g: unknown): { dom: number; vcpu: number; period: Ns; budget: Ns; extratime: boolean; periods: number; misses: number }[] {
  return [...(g as G).units]
    .map((s) => ({ dom: s.unit.domid as number, vcpu: s.unit.vcpuId as number, period: s.period, budget: s.budget, extratime: s.extratime, periods: s.periods, misses: s.misses }))
    .sort((a, b) => a.dom - b.dom || a.vcpu - b.vcpu);
}

export const rtdsScheduler: SchedulerOps<G, undefined, { dom: SchedDomain }, RtdsUnit> = {
  name: 'SMP RTDS Scheduler',
  optName: 'rtds',
  schedId: XEN_SCHEDULER.RTDS,
  doc: 'Xen RTDS: global EDF of deferrable servers (per-vCPU period and budget), extratime, replenishment timer.',
  traceClass: 4,
  traceEvents: {
    [RTDS_TRACE.TICKLE]: 'rtds:tickle',
    [RTDS_TRACE.RUNQ_PICK]: 'rtds:runq_pick',
    [RTDS_TRACE.BUDGET_BURN]: 'rtds:burn_budget',
    [RTDS_TRACE.BUDGET_REPLENISH]: 'rtds:repl_budget',
    [RTDS_TRACE.SCHED_TASKLET]: 'rtds:sched_tasklet',
    [RTDS_TRACE.SCHEDULE]: 'rtds:schedule',
    [RTDS_TRACE.DEADLINE_MISS]: 'rtds:deadline_miss',
  },
  domainParams: {
    layout: xenDomctlSchedRtds,
    params: [
      { name: 'period', field: 'period', min: 10, max: 0xffffffff, default: 10_000, unit: 'µs', doc: 'server period (relative deadline)' },
      { name: 'budget', field: 'budget', min: 10, max: 0xffffffff, default: 4_000, unit: 'µs', doc: 'CPU time guaranteed per period (≤ period)' },
      { name: 'flags', field: 'flags', min: 0, max: 1, default: 1, doc: 'bit 0: extratime (run beyond the budget in otherwise idle time)' },
    ],
  },

  init: (ctx) => {
    const g: G = { ctx, runq: [], depletedq: new Set(), replq: [], replTimer: null!, tickled: new Set(), units: new Set(), missesGone: 0 };
    g.replTimer = ctx.timer(() => replenish(g));
    return g;
  },
  deinit: (g) => g.replTimer.stop(),
  allocDomdata: (_g, dom) => ({ dom }),
  allocUdata: (g, unit) => {
    const s: RtdsUnit = {
      unit,
      period: RTDS_DEFAULT_PERIOD,
      budget: unit.isIdle ? 0 : RTDS_DEFAULT_BUDGET,
      extratime: true,
      curBudget: 0,
      lastStart: 0,
      curDeadline: 0,
      priorityLevel: 0,
      q: null,
      onReplq: false,
      scheduled: false,
      delayedRunqAdd: false,
      depleted: false,
      periodStart: 0,
      awakeSince: 0,
      periods: 0,
      misses: 0,
    };
    if (!unit.isIdle) g.units.add(s);
    return s;
  },
  freeUdata: (g, s) => {
    if (s && g.units.delete(s)) g.missesGone += s.misses;
  },
  switchSched: () => {},
  deinitPdata: (g, _p, cpu) => {
    g.tickled.delete(cpu);
  },

  insertUnit: (g, unit) => {
    const s = ud(unit);
    const now = g.ctx.now();
    if (now >= s.curDeadline) updateDeadline(g, now, s);
    if (s.q === null && unit.runnable) {
      replqInsert(g, s);
      if (!unit.isRunning) runqInsert(g, s);
    }
  },
  removeUnit: (g, unit) => {
    const s = ud(unit);
    qRemove(g, s);
    replqRemove(g, s);
    s.delayedRunqAdd = false;
  },

  wake: (g, unit) => {
    const s = ud(unit);
    if (unit.isRunning) return;
    if (s.q !== null) return;
    const now = g.ctx.now();
    const missed = now >= s.curDeadline;
    if (missed) updateDeadline(g, now, s);
    if (s.scheduled) {
      s.delayedRunqAdd = true;
      if (missed && s.onReplq) replqReinsert(g, s);
      return;
    }
    replqInsert(g, s);
    runqInsert(g, s);
    runqTickle(g, s);
  },

  sleep: (g, unit) => {
    const s = ud(unit);
    if (unit.isRunning) g.ctx.tickle(unit.res);
    else if (s.q !== null) {
      qRemove(g, s);
      replqRemove(g, s);
    } else if (s.delayedRunqAdd) s.delayedRunqAdd = false;
  },

  doSchedule: (g, prev, now, cpu, tasklet) => {
    const scurr = ud(prev);
    const idle = g.ctx.idleUnit(cpu);
    trace(g, RTDS_TRACE.SCHEDULE, [((cpu & 0xffff) | ((tasklet ? 1 : 0) << 16) | ((g.tickled.has(cpu) ? 1 : 0) << 24) | ((prev.isIdle ? 1 : 0) << 28)) >>> 0]);
    g.tickled.delete(cpu);
    burnBudget(g, scurr, now);
    let snext: RtdsUnit = ud(idle);
    if (tasklet) trace(g, RTDS_TRACE.SCHED_TASKLET, []);
    else {
      for (;;) {
        const pick = runqPick(g, cpu);
        if (pick === null) break;
        if (pick.unit.runnable) {
          snext = pick;
          break;
        }
        qRemove(g, pick);
        replqRemove(g, pick);
      }
      if (!prev.isIdle && prev.runnable && scurr.curBudget > 0 && (snext.unit.isIdle || compare(scurr, snext) > 0)) snext = scurr;
    }
    if (snext !== scurr && !prev.isIdle && prev.runnable) scurr.delayedRunqAdd = true;
    snext.lastStart = now;
    if (snext.unit.isIdle) return { next: idle, sliceNs: -1 };
    if (snext !== scurr) {
      qRemove(g, snext);
      snext.scheduled = true;
    }
    return { next: snext.unit, sliceNs: snext.curBudget, migrated: snext.unit.res !== cpu };
  },

  contextSaved: (g, unit) => {
    const s = ud(unit);
    s.scheduled = false;
    if (unit.isIdle) return;
    if (s.delayedRunqAdd && unit.runnable) {
      s.delayedRunqAdd = false;
      runqInsert(g, s);
      runqTickle(g, s);
    } else {
      s.delayedRunqAdd = false;
      replqRemove(g, s);
    }
  },

  // rt_res_pick: the current pCPU if allowed, else cycle on from it; soft affinity first (ours).
  pickResource: (g, unit) => pickByAffinity(unit, g.ctx.cpus(), (ok, u) => (ok.has(u.res) ? u.res : cycleFrom(ok.ids, u.res + 1)[0])),

  adjust: (g, dom, cmd, u, mem) => {
    const P = xenDomctlSchedRtds;
    switch (cmd) {
      case XEN_DOMCTL_SCHEDOP.getinfo:
        // As Xen: the defaults (per-vCPU values through getvcpuinfo); flags are ours (see Choices).
        P.write(u, 0, { period: RTDS_DEFAULT_PERIOD / us(1), budget: RTDS_DEFAULT_BUDGET / us(1), flags: XEN_DOMCTL_SCHEDRT_extra });
        return 0;
      case XEN_DOMCTL_SCHEDOP.putinfo: {
        const a = P.read(u, 0);
        if (!validParams(a.period, a.budget)) return -Errno.EINVAL;
        for (const unit of dom.units) setParams(g, ud(unit), a.period, a.budget, (a.flags & XEN_DOMCTL_SCHEDRT_extra) !== 0);
        return 0;
      }
      case XEN_DOMCTL_SCHEDOP.putvcpuinfo:
      case XEN_DOMCTL_SCHEDOP.getvcpuinfo:
        return vcpuInfo(g, dom, cmd, u, mem);
      default:
        return -Errno.EINVAL;
    }
  },

  dumpSettings: (g) => {
    const line = (s: RtdsUnit) =>
      `  d${s.unit.domid}v${s.unit.vcpuId} period=${s.period} budget=${s.budget} extra=${s.extratime ? 1 : 0} cur_b=${s.curBudget} cur_d=${s.curDeadline} level=${s.priorityLevel} q=${s.q ?? '-'} periods=${s.periods} misses=${s.misses}`;
    const total = [...g.units].reduce((n, s) => n + s.misses, g.missesGone);
    return [
      `RTDS: ${g.units.size} units, ${total} deadline misses`,
      'runq:',
      ...g.runq.map(line),
      'depletedq:',
      ...[...g.depletedq].map(line),
      'replq:',
      ...g.replq.map((s) => `  d${s.unit.domid}v${s.unit.vcpuId} @${s.curDeadline}`),
      'units:',
      ...[...g.units].map(line),
    ].join('\n');
  },
  dumpCpuState: (g, cpu) => {
    const cur = g.ctx.curr(cpu);
    if (cur.isIdle) return `cpu ${cpu}: idle`;
    const s = ud(cur);
    return `cpu ${cpu}: d${cur.domid}v${cur.vcpuId} cur_b=${s.curBudget} cur_d=${s.curDeadline} level=${s.priorityLevel}`;
  },
};

export default rtdsScheduler;
