/**
 * sEDF — the simple Earliest Deadline First scheduler of Xen 3.0 to 4.5 (sched_sedf.c, Stephan
 * Diestelhorst, 2004; the default in 3.0.0–3.0.2, removed in 4.6). Reimplemented from Xen 4.5.
 *
 * Design: every vCPU has a period (its relative deadline) and a slice (its guaranteed time per
 * period). Each pCPU keeps
 *  - runq: vCPUs whose current period has begun, by absolute deadline (EDF);
 *  - waitq: vCPUs waiting for their next period, by period begin (deadl_abs − period);
 *  - two extra-time queues for slack, both sorted by score (lower first):
 *    L0, the penalty queue: vCPUs that lost part of a slice by blocking briefly, score =
 *    (period << 10) / time lost; L1, the utilisation queue: every runnable vCPU with extratime set,
 *    score = (period << 10) / slice, or (1 << 17) / extraweight (100% utilisation ≙ weight 128).
 * do_schedule charges the previous vCPU (cputime += ran; when cputime reaches the slice the
 * overrun is carried, the deadline advances a period and the vCPU moves to the waitq), moves waitq
 * vCPUs whose period has begun to the runq, fixes runq vCPUs that missed their deadline or overran
 * (next aligned period, fresh slice) and parks slice-0 vCPUs in the waitq. It then runs the runq
 * head until its slice is used or the next period begins, whichever is first; with an empty runq it
 * runs the L0 head, else the L1 head, for EXTRA_QUANTUM (500 µs) if that much time is left before
 * the next period begins, else idles until then. A vCPU that ran extra time is charged nothing: its
 * L1 score is reset and the others' lowered by its old score (weighted round robin); an L0 run
 * settles its penalty at once.
 *
 * Waking (Xen's UNBLOCK_EXTRA_SUPPORT policy): before its period begins, the vCPU just rejoins the
 * extra queues. Inside its period (a short block) it gets no more real-time execution this period —
 * its deadline moves a period on — and the unused part of the slice becomes its L0 penalty. After
 * its deadline (a long block) a new period starts now. should_switch decides whether the waking vCPU
 * preempts: always if its period begins before the current slice expires; otherwise an EDF run is
 * never preempted, an L0 run only by an L0 vCPU with a lower score, an L1 run by any vCPU wanting
 * L0, and idle by anything.
 *
 * Parameters (per domain, applied to each vCPU; Xen 4.5's `struct xen_domctl_sched_sedf`, 32 bytes:
 * period u64 @0, slice u64 @8, latency u64 @16, extratime u32 @24, weight u32 @28; times in ns):
 *  - time-driven: period in [PERIOD_MIN 10 µs, PERIOD_MAX 10 s], slice in [SLICE_MIN 5 µs, period];
 *  - weight-driven (weight ≠ 0): period = WEIGHT_PERIOD (100 ms) and slice = weight × (100 ms −
 *    WEIGHT_SAFETY 5 ms − Σ utilisation of the time-driven vCPUs on that pCPU, over 100 ms) / Σ
 *    weights on that pCPU, recomputed for every weight-driven vCPU of the pool at each putinfo;
 *    with extratime set and period 0, the domain runs on extra time only, with extraweight = weight;
 *  - period 0 and weight 0 → -EINVAL; out-of-range → -EINVAL; nothing changes on an error;
 *  - extratime: bit 0 (EXTRA_AWARE) — the vCPU takes slack from the L1 queue;
 *  - latency: stored and returned by getinfo, but inert. Xen's default build (UNBLOCK_EXTRA_SUPPORT)
 *    never reads it; only the compile-time unblocking policies ATROPOS and BURST of Xen 3.0 did.
 * Defaults (Xen 4.5, every domain including dom0): best effort — period 100 ms, slice 0, extratime
 * on, extraweight 1. (Xen 3.0 gave dom0 20 ms / 15 ms.)
 *
 * Choices, stated:
 *  - Waking a vCPU that is still on a queue (paused and unpaused again before it was descheduled)
 *    clears its asleep flag. Xen returned early and left it set — harmless there, because pausing
 *    waited for the deschedule — and the vCPU would then have been dropped from every queue.
 *  - Setting extratime-only weight mode also sets period_orig and slice_orig (to 100 ms and 0).
 *    Xen left the old time-driven values there, so they still counted in other domains' weight
 *    arithmetic, and a vCPU whose old period exceeded 100 ms was "latency-scaled" back to its old
 *    real-time slice.
 *  - A weight-driven slice that would be negative (time-driven vCPUs already book more than 95 ms
 *    of every 100) is 0; weights above 32767 are -EINVAL. Xen stored weights in a `short` and did
 *    not guard the subtraction.
 *  - Scores are exact integers (JS numbers); Xen kept them in an `int`, which a tiny penalty
 *    ((period << 10) / 1 ns) overflows. A zero slice with extraweight 0 scores last rather than
 *    dividing by zero.
 *  - putinfo re-sorts the wait queues (stably) after changing periods. Xen left a vCPU where it
 *    was, so a new period could leave the waitq out of period-begin order, delaying the entries
 *    behind it ("Might happen because of dom_adj").
 *  - The idle unit gets no timer when both queues are empty (Xen gave it 1 s): a wake tickles.
 *  - The first wake of a vCPU sets its deadline to now + slice, as Xen does: a time-driven vCPU's
 *    first period therefore begins one slice after it is first unpaused.
 *  - pick_resource is Xen's: the first pCPU of (hard affinity ∩ pool) numbered at least
 *    vcpu_id mod |that set|. Queues are per pCPU; there is no load balancing.
 *
 * Invariants: a vCPU is on at most one of its pCPU's runq/waitq, and on one iff it is not asleep (the
 * running vCPU included); it is on an extra queue only if not asleep; the runq is sorted by
 * deadline, the waitq by period begin, the extra queues by score; a vCPU running extra time has
 * exactly one of EXTRA_RUN_PEN / EXTRA_RUN_UTIL set, and it is set only while it runs.
 */
import {
  pickByAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SCHEDULER,
  ms,
  sec,
  struct,
  u32,
  u64,
  us,
  type PcpuId,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

export const EXTRA_QUANTUM = us(500);
export const WEIGHT_PERIOD = ms(100);
export const WEIGHT_SAFETY = ms(5);
export const PERIOD_MAX = sec(10);
export const PERIOD_MIN = us(10);
export const SLICE_MIN = us(5);
/** Largest weight (Xen kept weights in a `short`). */
export const WEIGHT_MAX = 0x7fff;

/** Status bits (Xen's). */
export const EXTRA_AWARE = 1;
export const EXTRA_RUN_PEN = 2;
export const EXTRA_RUN_UTIL = 4;
export const EXTRA_WANT_PEN_Q = 8;
export const SEDF_ASLEEP = 16;
export const EXTRA_PEN_Q = 0;
export const EXTRA_UTIL_Q = 1;

/** Xen 4.5 `struct xen_domctl_sched_sedf` (public/domctl.h). */
export const xenDomctlSchedSedf = struct('struct xen_domctl_sched_sedf', 32, {
  period: u64(0),
  slice: u64(8),
  latency: u64(16),
  extratime: u32(24),
  weight: u32(28),
});

interface G {
  ctx: SchedContext;
}
interface P {
  runq: U[];
  waitq: U[];
  extraq: [U[], U[]];
  currentSliceExpires: number;
}
/** Per-vCPU record (Xen's sedf_vcpu_info), exported for tests and tools that inspect it. */
export interface SedfUnit {
  unit: SchedUnit;
  period: number;
  slice: number;
  periodOrig: number;
  sliceOrig: number;
  latency: number;
  status: number;
  weight: number;
  extraweight: number;
  deadlAbs: number;
  /** deadl_abs has been set up by a first wake (Xen tested deadl_abs == 0). */
  started: boolean;
  schedStartAbs: number;
  cputime: number;
  blockAbs: number;
  score: [number, number];
  shortBlockLostTot: number;
  /** Which list (runq / waitq) of which pCPU the vCPU is on. */
  list: 'run' | 'wait' | null;
  listP: P | null;
  /** The pCPU whose extra queue i holds the vCPU, or null. */
  onExtra: [P | null, P | null];
  stats: { extraTimeTot: number; shortBlocks: number; longBlocks: number; penExtraBlocks: number; penExtraSlices: number };
}
type U = SedfUnit;

const ud = (u: SchedUnit) => u.priv as U;
const cpuOf = (g: G, cpu: PcpuId): P => g.ctx.pdata<P>(cpu);
const periodBegin = (u: U) => u.deadlAbs - u.period;
const runnable = (u: U) => !(u.status & SEDF_ASLEEP);
const extraRuns = (u: U) => u.status & (EXTRA_RUN_PEN | EXTRA_RUN_UTIL);
const extraCurQ = (u: U) => ((u.status & 6) >> 1) - 1;
const divUp = (x: number, y: number) => Math.floor((x + y - 1) / y);

/** Insert after every element whose key is ≤ u's (Xen's list_insert_sort). */
function insertSorted(q: U[], u: U, key: (x: U) => number): void {
  const k = key(u);
  let i = q.length;
  while (i > 0 && key(q[i - 1]) > k) i--;
  q.splice(i, 0, u);
}

function delFromList(u: U): void {
  if (!u.list || !u.listP) return;
  const q = u.list === 'run' ? u.listP.runq : u.listP.waitq;
  const i = q.indexOf(u);
  if (i >= 0) q.splice(i, 1);
  u.list = null;
  u.listP = null;
}
function addToWaitq(g: G, u: U): void {
  const p = cpuOf(g, u.unit.res);
  insertSorted(p.waitq, u, periodBegin);
  u.list = 'wait';
  u.listP = p;
}
function addToRunq(g: G, u: U): void {
  const p = cpuOf(g, u.unit.res);
  insertSorted(p.runq, u, (x) => x.deadlAbs);
  u.list = 'run';
  u.listP = p;
}

function extraqDel(u: U, i: number): void {
  const p = u.onExtra[i];
  if (!p) return;
  const q = p.extraq[i];
  const k = q.indexOf(u);
  if (k >= 0) q.splice(k, 1);
  u.onExtra[i] = null;
}

/**
 * Queue u on extra queue i by score, lowering every other entry's score by `sub` on the way (so
 * scores stay small): the weighted round robin's "charge the one that ran its old score".
 */
function extraqAddSortUpdate(g: G, u: U, i: number, sub: number): void {
  if (u.onExtra[i]) return;
  const p = cpuOf(g, u.unit.res);
  const q = p.extraq[i];
  let at = q.length;
  for (let k = 0; k < q.length; k++) {
    q[k].score[i] -= sub;
    if (u.score[i] < q[k].score[i]) {
      at = k;
      for (let r = k + 1; r < q.length; r++) q[r].score[i] -= sub;
      break;
    }
  }
  q.splice(at, 0, u);
  u.onExtra[i] = p;
}

function extraqCheck(g: G, u: U): void {
  if (u.onExtra[EXTRA_UTIL_Q]) {
    if (!(u.status & EXTRA_AWARE) && !extraRuns(u)) extraqDel(u, EXTRA_UTIL_Q);
  } else if (u.status & EXTRA_AWARE && runnable(u)) extraqAddSortUpdate(g, u, EXTRA_UTIL_Q, 0);
}

const utilScore = (u: U) => (u.extraweight ? Math.floor(2 ** 17 / u.extraweight) : u.slice > 0 ? Math.floor((u.period * 1024) / u.slice) : Number.MAX_SAFE_INTEGER);

/** Xen's desched_edf_dom: account a vCPU that ran in its guaranteed time. */
function deschedEdf(g: G, now: number, u: U): void {
  u.cputime += now - u.schedStartAbs;
  if (u.cputime < u.slice && runnable(u)) return;
  delFromList(u);
  if (u.cputime >= u.slice) {
    u.cputime -= u.slice;
    if (u.period < u.periodOrig) {
      // latency scaling / burst mode (unreachable in the default build: kept as Xen has it)
      u.period *= 2;
      u.slice *= 2;
      if (u.period > u.periodOrig || u.slice > u.sliceOrig) {
        u.period = u.periodOrig;
        u.slice = u.sliceOrig;
      }
    }
    u.deadlAbs += u.period;
  }
  if (runnable(u)) addToWaitq(g, u);
  else {
    extraqDel(u, EXTRA_PEN_Q);
    extraqDel(u, EXTRA_UTIL_Q);
  }
}

/** Xen's desched_extra_dom: a vCPU that ran extra time goes back on its extra queue by score. */
function deschedExtra(g: G, now: number, u: U): void {
  const i = extraCurQ(u);
  u.status &= ~(EXTRA_RUN_PEN | EXTRA_RUN_UTIL);
  u.cputime = 0;
  u.stats.extraTimeTot += now - u.schedStartAbs;
  extraqDel(u, i);
  const oldscore = u.score[i];
  if (i === EXTRA_PEN_Q) {
    // the penalty is settled by one run (Xen 4.5: "(over-)compensated")
    u.shortBlockLostTot = 0;
    u.status &= ~EXTRA_WANT_PEN_Q;
  } else {
    u.score[EXTRA_UTIL_Q] = utilScore(u);
  }
  if (runnable(u)) {
    if ((u.status & EXTRA_AWARE && i === EXTRA_UTIL_Q) || (u.status & EXTRA_WANT_PEN_Q && i === EXTRA_PEN_Q)) extraqAddSortUpdate(g, u, i, oldscore);
  } else {
    delFromList(u);
    extraqDel(u, i === EXTRA_PEN_Q ? EXTRA_UTIL_Q : EXTRA_PEN_Q);
  }
}

/** Xen's update_queues: start periods that have begun; fix missed deadlines, overruns, empty slices. */
function updateQueues(g: G, now: number, p: P): void {
  while (p.waitq.length > 0 && periodBegin(p.waitq[0]) <= now) {
    const u = p.waitq[0];
    delFromList(u);
    addToRunq(g, u);
  }
  // walk the runq head as Xen's list_for_each_safe does, stopping at the first healthy entry
  let cur: U | undefined = p.runq[0];
  while (cur) {
    const after: U | undefined = p.runq[p.runq.indexOf(cur) + 1];
    if (cur.slice === 0) {
      delFromList(cur);
      cur.deadlAbs += cur.period;
      if (periodBegin(cur) < now) cur.deadlAbs += divUp(now - periodBegin(cur), cur.period) * cur.period;
      addToWaitq(g, cur);
    } else if (cur.deadlAbs < now || cur.cputime > cur.slice) {
      delFromList(cur);
      cur.deadlAbs += cur.period;
      if (cur.deadlAbs < now) cur.deadlAbs += divUp(now - cur.deadlAbs, cur.period) * cur.period;
      cur.cputime = 0;
      if (periodBegin(cur) > now) addToWaitq(g, cur);
      else addToRunq(g, cur);
    } else break;
    cur = after;
  }
}

/** Xen's unblock_short_extra_support: no more real time this period; the unused slice is the penalty. */
function unblockShort(g: G, u: U): void {
  u.deadlAbs += u.period;
  if (u.blockAbs) {
    u.shortBlockLostTot = Math.max(0, u.slice - u.cputime);
    if (u.shortBlockLostTot) {
      u.score[EXTRA_PEN_Q] = Math.floor((u.period * 1024) / u.shortBlockLostTot);
      u.stats.penExtraBlocks++;
      if (u.onExtra[EXTRA_PEN_Q]) extraqDel(u, EXTRA_PEN_Q);
      else u.status |= EXTRA_WANT_PEN_Q;
      extraqAddSortUpdate(g, u, EXTRA_PEN_Q, 0);
    }
  }
  u.cputime = 0;
}

const enum RunType {
  EDF,
  EXTRA_PEN,
  EXTRA_UTIL,
  IDLE,
}
function runType(cur: SchedUnit): RunType {
  if (cur.isIdle) return RunType.IDLE;
  const s = ud(cur).status;
  return s & EXTRA_RUN_PEN ? RunType.EXTRA_PEN : s & EXTRA_RUN_UTIL ? RunType.EXTRA_UTIL : RunType.EDF;
}

/** Xen's should_switch: does the woken vCPU `o` warrant a reschedule of `cur`'s pCPU? */
function shouldSwitch(g: G, cur: SchedUnit, o: U): boolean {
  if (periodBegin(o) < cpuOf(g, o.unit.res).currentSliceExpires) return true;
  switch (runType(cur)) {
    case RunType.EDF:
      return false;
    case RunType.EXTRA_PEN:
      return !!(o.status & EXTRA_WANT_PEN_Q) && o.score[EXTRA_PEN_Q] < ud(cur).score[EXTRA_PEN_Q];
    case RunType.EXTRA_UTIL:
      return !!(o.status & EXTRA_WANT_PEN_Q);
    case RunType.IDLE:
      return true;
  }
}

/** Xen's sedf_adjust_weights: recompute every weight-driven vCPU's slice in the pool. */
function adjustWeights(g: G): void {
  const sumw = new Map<number, number>();
  const sumt = new Map<number, number>();
  const units = g.ctx.domains().flatMap((d) => d.units.map(ud));
  for (const u of units) {
    const cpu = u.unit.res;
    if (u.weight) sumw.set(cpu, (sumw.get(cpu) ?? 0) + u.weight);
    else sumt.set(cpu, (sumt.get(cpu) ?? 0) + Math.floor((WEIGHT_PERIOD * u.sliceOrig) / u.periodOrig));
  }
  for (const u of units) {
    if (!u.weight) continue;
    const cpu = u.unit.res;
    u.periodOrig = u.period = WEIGHT_PERIOD;
    u.sliceOrig = u.slice = Math.max(0, Math.floor((u.weight * (WEIGHT_PERIOD - WEIGHT_SAFETY - (sumt.get(cpu) ?? 0))) / sumw.get(cpu)!));
  }
}

export const sedfScheduler: SchedulerOps<G, P, undefined, U> = {
  name: 'Simple EDF Scheduler',
  optName: 'sedf',
  schedId: XEN_SCHEDULER.SEDF,
  doc: 'Xen 3.0–4.5 sEDF: EDF over (period, slice) reservations, slack by penalty and utilisation queues, or weights.',
  domainParams: {
    layout: xenDomctlSchedSedf,
    params: [
      { name: 'period', field: 'period', min: 0, max: PERIOD_MAX, default: WEIGHT_PERIOD, unit: 'ns', doc: `relative deadline (${PERIOD_MIN}..${PERIOD_MAX} ns; 0 with a weight)` },
      { name: 'slice', field: 'slice', min: 0, max: PERIOD_MAX, default: 0, unit: 'ns', doc: `guaranteed time per period (≥ ${SLICE_MIN} ns, ≤ period)` },
      { name: 'latency', field: 'latency', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, unit: 'ns', doc: 'stored only: inert in the default build' },
      { name: 'extratime', field: 'extratime', min: 0, max: 1, default: 1, doc: 'take slack (L1 queue)' },
      { name: 'weight', field: 'weight', min: 0, max: WEIGHT_MAX, default: 0, doc: 'non-zero: weight-driven (period 100 ms, slice by weight)' },
    ],
  },

  init: (ctx) => ({ ctx }),
  deinit: () => {},
  allocPdata: () => ({ runq: [], waitq: [], extraq: [[], []], currentSliceExpires: 0 }),
  switchSched: () => {},
  allocUdata: (_g, unit): U => ({
    unit,
    period: WEIGHT_PERIOD,
    slice: 0,
    periodOrig: WEIGHT_PERIOD,
    sliceOrig: 0,
    latency: 0,
    status: unit.isIdle ? EXTRA_AWARE : EXTRA_AWARE | SEDF_ASLEEP,
    weight: 0,
    extraweight: 1,
    deadlAbs: 0,
    started: false,
    schedStartAbs: 0,
    cputime: 0,
    blockAbs: 0,
    score: [0, 0],
    shortBlockLostTot: 0,
    list: null,
    listP: null,
    onExtra: [null, null],
    stats: { extraTimeTot: 0, shortBlocks: 0, longBlocks: 0, penExtraBlocks: 0, penExtraSlices: 0 },
  }),
  freeUdata: () => {},

  insertUnit: (g, unit) => {
    extraqCheck(g, ud(unit));
    if (unit.runnable) sedfScheduler.wake!(g, unit);
  },
  removeUnit: (_g, unit) => {
    const u = ud(unit);
    delFromList(u);
    extraqDel(u, EXTRA_PEN_Q);
    extraqDel(u, EXTRA_UTIL_Q);
  },

  sleep: (g, unit) => {
    if (unit.isIdle) return;
    const u = ud(unit);
    u.status |= SEDF_ASLEEP;
    if (unit.isRunning) g.ctx.tickle(unit.res);
    else {
      delFromList(u);
      extraqDel(u, EXTRA_UTIL_Q);
      extraqDel(u, EXTRA_PEN_Q);
    }
  },

  wake: (g, unit) => {
    if (unit.isIdle) return;
    const u = ud(unit);
    if (u.list) {
      u.status &= ~SEDF_ASLEEP; // see "Choices"
      return;
    }
    u.status &= ~SEDF_ASLEEP;
    const now = g.ctx.now();
    if (!u.started) {
      u.deadlAbs = now + u.slice;
      u.started = true;
    }
    if (now < periodBegin(u)) {
      // woken in extra time, before its period begins
      if (u.status & EXTRA_WANT_PEN_Q) extraqAddSortUpdate(g, u, EXTRA_PEN_Q, 0);
    } else if (now < u.deadlAbs) {
      u.stats.shortBlocks++;
      unblockShort(g, u);
    } else {
      u.stats.longBlocks++;
      u.deadlAbs = now + u.period;
      u.cputime = 0;
    }
    if (u.status & EXTRA_AWARE) extraqAddSortUpdate(g, u, EXTRA_UTIL_Q, 0);
    if (periodBegin(u) > now) addToWaitq(g, u);
    else addToRunq(g, u);
    if (shouldSwitch(g, g.ctx.curr(unit.res), u)) g.ctx.tickle(unit.res);
  },

  doSchedule: (g, prev, now, cpu) => {
    const p = cpuOf(g, cpu);
    if (!prev.isIdle) {
      const u = ud(prev);
      if (!prev.runnable) u.status |= SEDF_ASLEEP;
      if (u.status & SEDF_ASLEEP) u.blockAbs = now;
      if (extraRuns(u)) deschedExtra(g, now, u);
      else deschedEdf(g, now, u);
    }
    updateQueues(g, now, p);
    let next: U | null = null;
    let time: number;
    if ((p.runq.length === 0 && p.waitq.length === 0) || !g.ctx.cpus().has(cpu)) {
      p.currentSliceExpires = Infinity;
      return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
    } else if (p.runq.length > 0) {
      next = p.runq[0];
      time = next.slice - next.cputime;
      if (p.waitq.length > 0) time = Math.min(time, periodBegin(p.waitq[0]) - now);
    } else {
      // nothing guaranteed to run: extra time (L0, then L1) if a whole quantum fits
      const endXt = periodBegin(p.waitq[0]);
      time = endXt - now;
      if (endXt - now >= EXTRA_QUANTUM) {
        if (p.extraq[EXTRA_PEN_Q].length > 0) {
          next = p.extraq[EXTRA_PEN_Q][0];
          next.status |= EXTRA_RUN_PEN;
          next.stats.penExtraSlices++;
          time = EXTRA_QUANTUM;
        } else if (p.extraq[EXTRA_UTIL_Q].length > 0) {
          next = p.extraq[EXTRA_UTIL_Q][0];
          next.status |= EXTRA_RUN_UTIL;
          time = EXTRA_QUANTUM;
        }
      }
    }
    if (time < 0) time = EXTRA_QUANTUM; // Xen: "seriously BEHIND schedule"
    p.currentSliceExpires = now + time;
    if (!next) return { next: g.ctx.idleUnit(cpu), sliceNs: time };
    next.schedStartAbs = now;
    return { next: next.unit, sliceNs: time };
  },

  pickResource: (g, unit) =>
    pickByAffinity(unit, g.ctx.cpus(), (allowed, u) => {
      const ids = allowed.ids;
      const k = u.vcpuId % ids.length;
      return ids.find((c) => c >= k) ?? ids[0];
    }),

  migrate: (_g, unit) => {
    const u = ud(unit);
    delFromList(u);
    extraqDel(u, EXTRA_PEN_Q);
    extraqDel(u, EXTRA_UTIL_Q);
  },

  adjust: (g, dom: SchedDomain, cmd, buf) => {
    const units = dom.units.map(ud);
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      if (units.length === 0) return -Errno.EINVAL;
      const v = units[0];
      xenDomctlSchedSedf.write(buf, 0, { period: v.period, slice: v.slice, latency: v.latency, extratime: v.status & EXTRA_AWARE, weight: v.weight });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = xenDomctlSchedSedf.read(buf, 0);
    if (!a.period && !a.weight) return -Errno.EINVAL;
    if (a.weight > WEIGHT_MAX) return -Errno.EINVAL;
    if (a.weight) {
      if (a.extratime & EXTRA_AWARE && !a.period) {
        // extra time only, by weight
        for (const v of units) {
          v.extraweight = a.weight;
          v.weight = 0;
          v.slice = v.sliceOrig = 0;
          v.period = v.periodOrig = WEIGHT_PERIOD;
        }
      } else for (const v of units) v.weight = a.weight;
    } else {
      if (a.period > PERIOD_MAX || a.period < PERIOD_MIN || a.slice > a.period || a.slice < SLICE_MIN) return -Errno.EINVAL;
      for (const v of units) {
        v.weight = 0;
        v.extraweight = 0;
        v.period = v.periodOrig = a.period;
        v.slice = v.sliceOrig = a.slice;
      }
    }
    adjustWeights(g);
    // a changed period moves period begins: keep the wait queues sorted (see "Choices")
    for (const cpu of g.ctx.cpus().ids) cpuOf(g, cpu).waitq.sort((x, y) => periodBegin(x) - periodBegin(y));
    for (const v of units) {
      v.status = (v.status & ~EXTRA_AWARE) | (a.extratime & EXTRA_AWARE);
      v.latency = a.latency;
      extraqCheck(g, v);
    }
    return 0;
  },

  dumpSettings: () => `sEDF: EXTRA_QUANTUM=${EXTRA_QUANTUM}ns WEIGHT_PERIOD=${WEIGHT_PERIOD}ns`,
  dumpCpuState: (g, cpu) => {
    const p = cpuOf(g, cpu);
    const show = (u: U) =>
      `d${u.unit.domid}v${u.unit.vcpuId}(p=${u.period} sl=${u.slice} ddl=${u.deadlAbs} ct=${u.cputime} w=${u.weight} ew=${u.extraweight} sc=${u.score.join('/')} st=${u.status})`;
    return [`RUNQ: ${p.runq.map(show).join(' ')}`, `WAITQ: ${p.waitq.map(show).join(' ')}`, `EXTRAQ(pen): ${p.extraq[0].map(show).join(' ')}`, `EXTRAQ(util): ${p.extraq[1].map(show).join(' ')}`].join('\n');
  },
};

export default sedfScheduler;
