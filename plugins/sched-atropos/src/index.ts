/**
 * Atropos — Xen 2.0's sched_atropos.c (Nemesis's soft real-time scheduler, ported to Xen by Mark
 * Williamson, 2004): every domain is guaranteed `slice` ns of CPU in every `period` ns, and slack is
 * handed out round robin, in best-effort quanta, to domains that accept extra time.
 *
 * Design: each pCPU has a run queue sorted by deadline (the idle unit is implicitly last) and a wait
 * queue sorted by deadline. A unit's `remain` is the guaranteed time left in its current period,
 * which ends at `deadline`. do_schedule
 *  1. charges the previous unit for the time it ran (remain −= ranfor), unless it ran on extra
 *     time; a unit with remain ≤ 0 goes to the wait queue (state WAIT);
 *  2. starts a new period for every wait-queue unit whose deadline has passed: remain = slice (or
 *     remain += slice if it overran, so the overrun is carried), deadline += period;
 *  3. runs the run-queue head (earliest deadline) for its remain; if the run queue holds only idle,
 *     it runs a recently unblocked wait-queue unit that still has remain, else — extra time — the
 *     wait-queue unit with `xtratime` whose last extra run is the oldest, for BESTEFFORT_QUANTUM
 *     (5 ms);
 *  4. ends the slice at the next replenishment (the earliest wait-queue deadline) if that comes
 *     first, and idles until then if nothing can run.
 * Unblocking: a unit that was blocked past its deadline ("long block") gets a new period of length
 * `latency` starting now, with the slice scaled to the same fraction (nat_slice × latency /
 * nat_period); period and slice then double at each new period until they reach the natural values.
 * A unit that unblocks before its deadline ("short block") keeps its remain and waits on the wait
 * queue, marked UNBLOCKED: it is preferred over extra-time units for the slack until its deadline.
 *
 * Parameters (per domain, Xen 2.0's `struct atropos_adjdom`): nat_period, nat_slice, latency (ns)
 * and xtratime (accept extra time). Validation as Xen: latency ≠ 0, latency ≤ nat_period,
 * nat_slice ≤ nat_period, else -EINVAL and nothing changes. Defaults as Xen 2.0: dom0 20 ms / 15 ms /
 * latency 5 ms, other domains 10 s / 10 ms / latency 10 s (so effectively best effort), xtratime on.
 * As in Xen, new values are taken up at the unit's next period (period and slice move toward them
 * by doubling, or jump when that would overshoot) or at its next long unblock — not at once.
 *
 * Payload layout: Xen 2.0 declared the struct PACKED, so it is 28 bytes, not 32:
 *   nat_period u64 @0, nat_slice u64 @8, latency u64 @16, xtratime u32 @24.
 * (The header's comments give xtratime as "36", which is wrong even counted from the start of
 * sched_adjdom_cmd: packed, it sits at 16 + 24 = 40 there.)
 *
 * Choices, stated (where Xen 2.0's port differs, its behaviour is described):
 *  - No minimum slice by default. Xen 2.0 never granted less than BESTEFFORT_QUANTUM ("no pointlessly
 *    small slices"): a guaranteed run cut a few µs short by another unit's replenishment was later
 *    topped up with a whole 5 ms, and the overrun, carried as debt, shortened the next period; and
 *    an idle or extra-time slice delayed replenishments by up to 5 ms. Guarantees then held only on
 *    average over periods. Here slices end exactly at remain or at the next replenishment, so a
 *    feasible set gets its slice in every period. The per-pool `min_slice` (our sysctl payload
 *    `struct xenotype_atropos_ctl { uint64_t min_slice; }`, ns, ≤ 1 s) restores Xen's floor when set
 *    to BESTEFFORT_QUANTUM. Without a floor, a domain given a period of a few µs (Xen accepts any
 *    period ≥ latency ≥ 1 ns) costs a scheduling decision every few µs.
 *  - A new period with remain > 0 puts the unit back in state RUNNABLE, so it returns to the run
 *    queue. Xen 2.0 never reset the state there: a unit once WAIT (or UNBLOCKED) stayed on the wait
 *    queue for good unless it blocked, so a CPU-bound domain got its guarantee only in its first
 *    period and ran on slack afterwards. A long unblock likewise makes the unit RUNNABLE.
 *  - Extra time is not charged to `remain`. Xen 2.0 charged every run of a runnable domain, so a
 *    domain eating slack went into debt and lost guaranteed time in later periods; Nemesis's
 *    design treats extra time as free. Guaranteed runs — run-queue runs and UNBLOCKED runs from the
 *    wait queue — are charged, overruns included.
 *  - A unit that blocks while running is charged for what it ran. Xen 2.0 charged only runnable
 *    (or UNBLOCKED) domains, so blocking was free.
 *  - The extra-time round robin goes by least recent extra run. Xen 2.0 walked an index (a
 *    function-static shared by all CPUs) into the deadline-ordered wait queue, which the requeue of
 *    the unit just run reshuffles: units with equal deadlines could be picked twice in a row, and
 *    the scan never wrapped, so a non-xtratime unit at the tail could leave the pCPU idle.
 *  - Wake-ups preempt: an idle pCPU, extra-time or UNBLOCKED runs are preempted by a unit entering
 *    the run queue, and a run-queue run by one with an earlier deadline; an UNBLOCKED unit preempts
 *    extra time. Xen 2.0's wake raised no softirq and relied on the 5 ms floor's periodic
 *    reschedules. The idle unit gets no timer when both queues are empty (Xen gave it 5 ms).
 *  - The long-block slice is computed as nat_slice × latency / nat_period exactly; Xen's
 *    nat_slice / (nat_period / latency) truncated the ratio, over-allocating when latency does not
 *    divide nat_period.
 *  - Parameters are per domain, state (deadline, remain, ...) per vCPU: each vCPU of a domain is
 *    guaranteed the domain's slice (Xen 2.0 domains had one vCPU). Queues are per pCPU with no load
 *    balancing, as in Xen 2.0.
 *
 * Invariants: a unit is on at most one queue, on its pCPU's; it is on a queue iff it is runnable (the
 * running unit stays on its queue until do_schedule requeues it); both queues are sorted by deadline;
 * a run-queue unit has state RUNNABLE, a wait-queue unit WAIT or UNBLOCKED; latency ≤ nat_period
 * and nat_slice ≤ nat_period hold for every domain.
 */
import {
  pickByAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SCHEDULER,
  XEN_SYSCTL_SCHEDOP,
  ms,
  sec,
  struct,
  u32,
  u64,
  type PcpuId,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

export const BESTEFFORT_QUANTUM = ms(5);

/** Unit states: Xen 2.0's ATROPOS_TASK_* values, plus RUNNABLE (0, on the run queue). */
export const enum AtState {
  RUNNABLE = 0,
  UNBLOCKED = 16,
  WAIT = 32,
  BLOCKED = 48,
}

/** Xen 2.0 defaults (at_add_task). */
export const DOM0_DEFAULTS = { natPeriod: ms(20), natSlice: ms(15), latency: ms(5), xtratime: true, remain: ms(15) };
export const DOMU_DEFAULTS = { natPeriod: sec(10), natSlice: ms(10), latency: sec(10), xtratime: true, remain: 0 };

/** Xen 2.0 `struct atropos_adjdom` (PACKED: 28 bytes). */
export const atroposAdjdom = struct('struct atropos_adjdom', 28, {
  nat_period: u64(0),
  nat_slice: u64(8),
  latency: u64(16),
  xtratime: u32(24),
});

/**
 * Per-pool control (ours; Xen 2.0 had no Atropos sysctl): `min_slice` = the shortest slice granted,
 * 0 by default; BESTEFFORT_QUANTUM reproduces Xen 2.0's floor.
 */
export const atroposCtl = struct('struct xenotype_atropos_ctl', 8, { min_slice: u64(0) });
export const MIN_SLICE_MAX = sec(1);

interface G {
  ctx: SchedContext;
  /** Shortest slice granted (Xen 2.0: BESTEFFORT_QUANTUM; here 0 unless set). */
  minSlice: number;
}
interface P {
  runq: U[];
  waitq: U[];
}
interface D {
  natPeriod: number;
  natSlice: number;
  latency: number;
  xtratime: boolean;
}
interface U {
  unit: SchedUnit;
  dom: D | undefined;
  deadline: number;
  prevddln: number;
  remain: number;
  period: number;
  slice: number;
  state: AtState;
  /** The queue the unit is on (null: none) and that queue's pCPU record. */
  q: 'run' | 'wait' | null;
  qp: P | null;
  lastschd: number;
  /** The current run is extra time (not charged). */
  extra: boolean;
  /** When the unit last started an extra-time run (the round robin's order). */
  lastExtra: number;
}

const ud = (u: SchedUnit) => u.priv as U;
const cpuOf = (g: G, cpu: PcpuId): P => g.ctx.pdata<P>(cpu);

/** Insert keeping `q` sorted by deadline, after units with an equal deadline (Xen's list walk). */
function insertByDeadline(q: U[], u: U): void {
  let i = q.length;
  while (i > 0 && q[i - 1].deadline > u.deadline) i--;
  q.splice(i, 0, u);
}

function dequeue(u: U): void {
  if (!u.q || !u.qp) return;
  const q = u.q === 'run' ? u.qp.runq : u.qp.waitq;
  const i = q.indexOf(u);
  if (i >= 0) q.splice(i, 1);
  u.q = null;
  u.qp = null;
}

/** Xen's requeue: a runnable unit goes to the wait queue if WAIT or UNBLOCKED, else the run queue. */
function requeue(g: G, u: U): void {
  if (!u.unit.runnable || u.q) return;
  const p = cpuOf(g, u.unit.res);
  if (u.state === AtState.WAIT || u.state === AtState.UNBLOCKED) {
    insertByDeadline(p.waitq, u);
    u.q = 'wait';
  } else {
    insertByDeadline(p.runq, u);
    u.q = 'run';
  }
  u.qp = p;
}

/** nat_slice × latency / nat_period, exactly (the product can exceed 2^53). */
const scaledSlice = (d: D): number => Number((BigInt(d.natSlice) * BigInt(d.latency)) / BigInt(d.natPeriod));

/** A wait-queue unit whose deadline has passed begins its next period. */
function newPeriod(u: U): void {
  const d = u.dom!;
  if (u.period !== d.natPeriod) {
    // scaled by a long unblock (or parameters changed): double back toward the natural values
    u.slice *= 2;
    u.period *= 2;
    if (u.period > d.natPeriod) {
      u.period = d.natPeriod;
      u.slice = d.natSlice;
    }
  }
  // time left from a short block cannot be trusted and is dropped; an overrun is carried
  u.remain = u.remain > 0 ? u.slice : u.remain + u.slice;
  u.prevddln = u.deadline;
  u.deadline += u.period;
  u.state = u.remain > 0 ? AtState.RUNNABLE : AtState.WAIT;
}

export const atroposScheduler: SchedulerOps<G, P, D, U> = {
  name: 'Atropos Soft Real Time Scheduler',
  optName: 'atropos',
  schedId: XEN_SCHEDULER.ATROPOS,
  doc: 'Xen 2.0 Atropos (from Nemesis): slice ns guaranteed every period ns by EDF, slack shared round robin.',
  domainParams: {
    layout: atroposAdjdom,
    params: [
      { name: 'period', field: 'nat_period', min: 1, max: Number.MAX_SAFE_INTEGER, default: DOMU_DEFAULTS.natPeriod, unit: 'ns', doc: 'natural period' },
      { name: 'slice', field: 'nat_slice', min: 0, max: Number.MAX_SAFE_INTEGER, default: DOMU_DEFAULTS.natSlice, unit: 'ns', doc: 'guaranteed time per period (≤ period)' },
      { name: 'latency', field: 'latency', min: 1, max: Number.MAX_SAFE_INTEGER, default: DOMU_DEFAULTS.latency, unit: 'ns', doc: 'period after a long block (≤ period)' },
      { name: 'xtratime', field: 'xtratime', min: 0, max: 1, default: 1, doc: 'accept extra (slack) time' },
    ],
  },

  globalParams: {
    layout: atroposCtl,
    params: [{ name: 'min_slice', field: 'min_slice', min: 0, max: MIN_SLICE_MAX, default: 0, unit: 'ns', doc: `shortest slice granted (Xen 2.0: ${BESTEFFORT_QUANTUM})` }],
  },

  init: (ctx) => ({ ctx, minSlice: 0 }),
  deinit: () => {},
  allocPdata: () => ({ runq: [], waitq: [] }),
  switchSched: () => {},
  allocDomdata: (_g, dom): D => {
    const d = dom.domid === 0 ? DOM0_DEFAULTS : DOMU_DEFAULTS;
    return { natPeriod: d.natPeriod, natSlice: d.natSlice, latency: d.latency, xtratime: d.xtratime };
  },
  allocUdata: (g, unit, dom) => {
    const now = g.ctx.now();
    const isDom0 = unit.domid === 0;
    const d = dom ?? DOMU_DEFAULTS;
    return {
      unit,
      dom,
      deadline: now,
      prevddln: isDom0 ? now : 0,
      remain: isDom0 ? DOM0_DEFAULTS.remain : 0,
      period: d.natPeriod,
      slice: d.natSlice,
      state: AtState.RUNNABLE,
      q: null,
      qp: null,
      lastschd: now,
      extra: false,
      lastExtra: -1,
    };
  },
  freeUdata: () => {},

  insertUnit: (g, unit) => {
    if (unit.runnable) atroposScheduler.wake!(g, unit);
  },
  removeUnit: (_g, unit) => dequeue(ud(unit)),

  /** Xen's unblock(). Idempotent: a unit still on a queue (running or queued) is left alone. */
  wake: (g, unit) => {
    const u = ud(unit);
    if (unit.isIdle || u.q) return;
    const d = u.dom!;
    const now = g.ctx.now();
    if (u.deadline < now) {
      // long block: a new period of `latency` from now, the slice scaled to the same fraction
      u.prevddln = now;
      u.deadline = now + d.latency;
      u.period = d.latency;
      u.slice = scaledSlice(d);
      u.remain = u.slice;
      u.state = AtState.RUNNABLE;
    } else {
      // short block: keep remain, wait (preferred for slack while remain > 0)
      u.state = u.remain > 0 ? AtState.UNBLOCKED : AtState.WAIT;
    }
    requeue(g, u);
    const cpu = unit.res;
    const curr = g.ctx.curr(cpu);
    if (curr.isIdle) {
      g.ctx.tickle(cpu);
      return;
    }
    const c = ud(curr);
    const currGuaranteed = c.q === 'run' && !c.extra;
    if (u.q === 'run' ? !currGuaranteed || u.deadline < c.deadline : u.state === AtState.UNBLOCKED && c.extra) g.ctx.tickle(cpu);
  },

  /** Xen's block(): the unit leaves its queues (if it is running, do_schedule charges it). */
  sleep: (g, unit) => {
    const u = ud(unit);
    if (unit.isRunning) {
      g.ctx.tickle(unit.res);
      return;
    }
    u.state = AtState.BLOCKED;
    dequeue(u);
  },

  doSchedule: (g, prev, now, cpu) => {
    const p = cpuOf(g, cpu);
    // 1. deschedule prev
    if (!prev.isIdle) {
      const u = ud(prev);
      dequeue(u);
      if (!u.extra) {
        u.remain -= now - u.lastschd;
        if (u.remain <= 0) u.state = AtState.WAIT;
      }
      if (prev.runnable) requeue(g, u);
      else u.state = AtState.BLOCKED;
    }
    // 2. new periods for waiting units whose deadline has passed
    while (p.waitq.length > 0 && p.waitq[0].deadline <= now) {
      const w = p.waitq[0];
      dequeue(w);
      newPeriod(w);
      requeue(g, w);
    }
    // 3. pick: run queue by EDF; else an unblocked waiter; else extra time round robin
    let next: U | null = p.runq[0] ?? null;
    let extra = false;
    let end = next ? now + next.remain : now;
    if (!next && p.waitq.length > 0) {
      const ub = p.waitq.find((w) => w.state === AtState.UNBLOCKED);
      if (ub) {
        next = ub;
        end = now + ub.remain;
      } else {
        // round robin: the extra-time waiter whose last extra run is the oldest
        for (const w of p.waitq) if (w.dom!.xtratime && (!next || w.lastExtra < next.lastExtra)) next = w;
        if (next) {
          extra = true;
          next.lastExtra = now;
          end = now + BESTEFFORT_QUANTUM;
        }
      }
    }
    // 4. slice end: no later than the next replenishment (and no shorter than min_slice)
    if (!next && p.waitq.length === 0) return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
    if (p.waitq.length > 0) end = next ? Math.min(end, p.waitq[0].deadline) : p.waitq[0].deadline;
    end = Math.max(end, now + g.minSlice);
    if (!next) return { next: g.ctx.idleUnit(cpu), sliceNs: end - now };
    next.lastschd = now;
    next.extra = extra;
    return { next: next.unit, sliceNs: end - now };
  },

  pickResource: (g, unit) => pickByAffinity(unit, g.ctx.cpus()),

  migrate: (_g, unit) => dequeue(ud(unit)),

  adjust: (_g, dom: SchedDomain, cmd, buf) => {
    const d = dom.priv as D;
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      atroposAdjdom.write(buf, 0, { nat_period: d.natPeriod, nat_slice: d.natSlice, latency: d.latency, xtratime: d.xtratime ? 1 : 0 });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = atroposAdjdom.read(buf, 0);
    if (a.latency > a.nat_period || a.latency === 0 || a.nat_slice > a.nat_period) return -Errno.EINVAL;
    d.natPeriod = a.nat_period;
    d.natSlice = a.nat_slice;
    d.latency = a.latency;
    d.xtratime = a.xtratime !== 0;
    return 0;
  },

  adjustGlobal: (g, cmd, buf) => {
    if (cmd === XEN_SYSCTL_SCHEDOP.getinfo) {
      atroposCtl.write(buf, 0, { min_slice: g.minSlice });
      return 0;
    }
    if (cmd !== XEN_SYSCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = atroposCtl.read(buf, 0);
    if (a.min_slice > MIN_SLICE_MAX) return -Errno.EINVAL;
    g.minSlice = a.min_slice;
    return 0;
  },

  dumpSettings: (g) => `Atropos: BESTEFFORT_QUANTUM=${BESTEFFORT_QUANTUM}ns min_slice=${g.minSlice}ns`,
  dumpCpuState: (g, cpu) => {
    const p = cpuOf(g, cpu);
    const show = (u: U) => `d${u.unit.domid}v${u.unit.vcpuId}(st=${u.state} dl=${u.deadline} rem=${u.remain} p=${u.period} s=${u.slice})`;
    return `runq: ${p.runq.map(show).join(' ')} | waitq: ${p.waitq.map(show).join(' ')}`;
  },
};

export default atroposScheduler;
