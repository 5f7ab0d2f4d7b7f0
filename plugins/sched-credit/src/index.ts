/**
 * Credit — Xen's credit1 (xen/common/sched/credit.c in 4.17; Emmanuel Ackaouy 2006), Xen's default
 * scheduler from 3.0.3 to 4.11. ../shared/reference/schedulers.md §2.5.
 *
 * Design: proportional share by credits, with per-pCPU run queues and work stealing.
 *  - Each pCPU has a run queue sorted by priority, FIFO among equals: BOOST (0) > UNDER (−1) >
 *    OVER (−2) > IDLE (−64). The running unit is not on it; the idle unit is its implicit tail.
 *  - Credits: a running unit burns 10 credits per ms (at every do_schedule and every 10 ms tick).
 *    Every tslice (30 ms) the accounting (csched_acct, on the pool's master pCPU) hands out
 *    300 credits × nr pCPUs among the *active* domains by weight (credit_fair), limited by
 *    credit_peak (a full tslice per active unit, or the cap), redistributing what a domain cannot
 *    use to the domains after it. Units with credit < 0 become OVER, ≥ 0 UNDER. Credit is clamped
 *    at −300; a unit above +300 stops being active (stops earning) and its credit is halved.
 *  - A unit becomes active when a tick finds it running; a tick that finds a BOOST unit running
 *    demotes it to UNDER (it consumes real CPU).
 *  - Caps (percent of one pCPU): credit_peak ≤ cap × 300 / 100; a unit of a capped domain whose
 *    credit falls below −(its share of that) is parked (paused through ctx.park) until an
 *    accounting leaves it with credit ≥ 0.
 *  - Wake: an UNDER unit that wakes after blocking (not after a migration, not when unparked)
 *    becomes BOOST; it is queued and __runq_tickle pokes its pCPU if that is idle or (no idlers
 *    and it outranks the running unit), else one idle pCPU allowed by its affinity (soft step,
 *    then hard), round-robin.
 *  - do_schedule burns prev's credit; with ratelimit (default 1 ms), a runnable prev that has run
 *    less than ratelimit keeps the pCPU for the rest of it (at least CSCHED_MIN_TIMER). Otherwise
 *    prev is requeued and the head runs for tslice. If the head is OVER or IDLE, the pCPU first
 *    looks at the non-idle peers (its own node first, from balance_bias) and steals the first
 *    queued unit of strictly higher priority that may run here (soft step, then hard) and is not
 *    cache-hot (ran less than vcpu_migr_delay ago).
 *  - pick_resource prefers the unit's pCPU, then idle pCPUs, moving toward the idle pCPU whose
 *    core (same socket) or socket (other socket: twice as idle needed) has more idle siblings.
 *    Each tick also asks it whether the running unit would be better elsewhere, and migrates it.
 *
 * Parameters: per domain struct xen_domctl_sched_credit { u16 weight; u16 cap; } (putinfo ignores
 * weight 0 and cap 0xFFFF, as Xen; there is no other check in the hypervisor, libxl does the
 * range checks); per pool struct xen_sysctl_credit_schedule { u32 tslice_ms; u32 ratelimit_us;
 * u32 vcpu_migr_delay_us; } with Xen's checks (tslice 1..1000 ms; ratelimit 0 or 100..500000 µs
 * and ≤ tslice; migration delay ≤ 100 ms): anything out of range is -EINVAL and changes nothing.
 *
 * Choices, stated:
 *  - Burning carries the sub-credit remainder once, in start_time (and across a descheduling, in
 *    `carry`, where Xen stores start_time − now). Xen 4.17 keeps it both in start_time and in
 *    `residual`, so each burn over-charges by half a credit on average (≈ 0.5 % at one burn per
 *    10 ms); ours charges exactly 10 credits per ms run.
 *  - Accounting arithmetic is exact: Xen's uint32 products (credit_total × weight × units) can
 *    wrap for very large weights on large pools.
 *  - insert_unit keeps the framework's initial placement (round robin over the pool, as Xen's
 *    sched_select_initial_cpu); Xen 4.17 re-picks with pick_resource there. The first ticks and
 *    work stealing move units as Xen's would afterwards.
 *  - NUMA nodes are sockets (ctx.topology has no separate node level): work stealing visits the
 *    peers of its own socket first, each socket from its own balance_bias.
 *  - tickle_one_idle_cpu is on (Xen's default); its round-robin cursor (last_tickle_cpu) is one per
 *    pool, not one per waking pCPU. sched_smt_power_savings is off (Xen's default).
 *  - In __runq_tickle, Xen sets VPF_migrating on the running unit when the woken one outranks it,
 *    finds no idler in its hard affinity, but its hard affinity intersects the idlers; at the hard
 *    step that cannot hold (the same mask is tested twice), so the branch is omitted here.
 *  - The ratelimit slice follows the code: a prev that ran less than CSCHED_MIN_TIMER (100 µs) is
 *    kept for CSCHED_MIN_TIMER, not for ratelimit − runtime (schedulers.md §2.5).
 *  - The steal check skips a peer whose run queue is empty (Xen: nr_runnable ≤ 1, which also
 *    counts the running unit); a blocked-but-not-yet-descheduled current unit is not counted.
 *  - A tick asks pick_resource about the running unit only while it is still runnable (one that
 *    has just blocked is about to be descheduled anyway).
 *  - Tasklets do not exist here (the framework never passes tasklet work).
 *
 * Invariants:
 *  - a unit is on at most one run queue, and only while runnable and not running; `u.runq` names it;
 *  - every run queue is ordered by priority (non-increasing), except that a yielding unit may sit
 *    behind one lower-priority unit, and that units whose priority the accounting changed are
 *    re-sorted (UNDER before OVER) at the next tick of that pCPU (csched_runq_sort);
 *  - a unit is on its domain's active list iff `u.active`; g.weight = Σ weight over active units;
 *  - `u.flags.parked` ⇔ the unit holds a ctx.park pause;
 *  - an idle pCPU (running its idle unit) is in g.idlers unless it was tickled since.
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

// ------------------------------------------------------------------ constants (credit.c, sysctl.h)

export const CSCHED_DEFAULT_WEIGHT = 256;
export const CSCHED_TICKS_PER_TSLICE = 3;
export const CSCHED_DEFAULT_TSLICE_MS = 30;
export const CSCHED_CREDITS_PER_MSEC = 10;
export const XEN_SYSCTL_CSCHED_TSLICE_MAX = 1000;
export const XEN_SYSCTL_CSCHED_TSLICE_MIN = 1;
export const XEN_SYSCTL_SCHED_RATELIMIT_MAX = 500_000;
export const XEN_SYSCTL_SCHED_RATELIMIT_MIN = 100;
export const XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US = 100 * 1000;
/** Xen's sched_ratelimit_us default (SCHED_DEFAULT_RATELIMIT_US). */
export const SCHED_DEFAULT_RATELIMIT_US = 1000;
/** Never set a timer shorter than this (= XEN_SYSCTL_SCHED_RATELIMIT_MIN µs). */
export const CSCHED_MIN_TIMER = us(XEN_SYSCTL_SCHED_RATELIMIT_MIN);
/** cap value meaning "leave the cap unchanged" in putinfo. */
export const CAP_UNCHANGED = 0xffff;

export const PRI = { BOOST: 0, UNDER: -1, OVER: -2, IDLE: -64 } as const;

/** TRC_SCHED_CLASS_EVT(CSCHED, n) event numbers. */
export const TRC_CSCHED = {
  SCHED_TASKLET: 1,
  ACCOUNT_START: 2,
  ACCOUNT_STOP: 3,
  STOLEN_UNIT: 4,
  PICKED_CPU: 5,
  TICKLE: 6,
  BOOST_START: 7,
  BOOST_END: 8,
  SCHEDULE: 9,
  RATELIMIT: 10,
  STEAL_CHECK: 11,
} as const;

/** struct xen_domctl_sched_credit (domctl.h). */
export const xenDomctlSchedCredit = struct('struct xen_domctl_sched_credit', 4, { weight: u16(0), cap: u16(2) });
/** struct xen_sysctl_credit_schedule (sysctl.h). */
export const xenSysctlCreditSchedule = struct('struct xen_sysctl_credit_schedule', 12, {
  tslice_ms: u32(0),
  ratelimit_us: u32(4),
  vcpu_migr_delay_us: u32(8),
});

// ------------------------------------------------------------------ records

interface Flags {
  /** Over its cap: holds a ctx.park pause (CSCHED_FLAG_UNIT_PARKED). */
  parked: boolean;
  /** Called SCHEDOP_yield (CSCHED_FLAG_UNIT_YIELD). */
  yield: boolean;
  /** pick_resource ran for it: its next wake is a migration, not a wake-up (no boost). */
  migrating: boolean;
  /** Hard affinity is a single pCPU (CSCHED_FLAG_UNIT_PINNED). */
  pinned: boolean;
}

interface U {
  unit: SchedUnit;
  dom: D | undefined;
  /** While running: from when its run is not yet burnt (advanced by each burn). */
  startTime: Ns;
  /** While descheduled: run time not yet burnt (< 100 µs), carried into its next run. */
  carry: Ns;
  flags: Flags;
  pri: number;
  credit: number;
  lastSchedTime: Ns;
  /** The run queue holding it, or null. */
  runq: P | null;
  /** On its domain's active list. */
  active: boolean;
}

interface D {
  dom: SchedDomain;
  /** Active units, most recently activated first (list_add). */
  activeUnits: U[];
  weight: number;
  cap: number;
}

interface P {
  cpu: PcpuId;
  runq: U[];
  runqSortLast: number;
  idleBias: number;
  tick: number;
  ticker: PolicyTimer;
}

interface G {
  ctx: SchedContext;
  /** pCPUs initialised in this instance (prv->cpus). */
  cpus: Set<number>;
  idlers: Set<number>;
  /** Per node (socket): where the next steal scan starts. */
  balanceBias: Map<number, number>;
  runqSort: number;
  ncpus: number;
  tickPeriodUs: number;
  ticksPerTslice: number;
  tslice: Ns;
  ratelimit: Ns;
  migrDelay: Ns;
  /** Active domains, in accounting order. */
  activeDoms: D[];
  /** Σ weight of active units. */
  weight: number;
  /** creditsPerTslice × ncpus. */
  credit: number;
  creditBalance: number;
  creditsPerTslice: number;
  master: number;
  masterTimer: PolicyTimer;
  lastTickleCpu: number;
  /** Topology caches: cpus of the same core (siblings) and of the same socket, per cpu. */
  siblings: number[][];
  socketCpus: number[][];
}

const ud = (u: SchedUnit) => u.priv as U;
const pd = (g: G, cpu: number) => g.ctx.pdata<P>(pcpuid(cpu));

// ------------------------------------------------------------------ cpumask helpers

/** Xen's cpumask_cycle: the first cpu of `set` after n, wrapping; -1 if `set` is empty. */
function cycle(n: number, set: Iterable<number>): number {
  let first = -1;
  let after = -1;
  for (const c of set) {
    if (first < 0 || c < first) first = c;
    if (c > n && (after < 0 || c < after)) after = c;
  }
  return after >= 0 ? after : first;
}

const toSet = (s: CpuSet): Set<number> => new Set<number>(s.ids);
const inter = (a: Iterable<number>, b: { has(x: number): boolean }): Set<number> => {
  const out = new Set<number>();
  for (const x of a) if (b.has(x)) out.add(x);
  return out;
};

const nodeOf = (g: G, cpu: number) => g.ctx.topology.cpus[cpu].socket;

// ------------------------------------------------------------------ tracing

const dv = (unit: SchedUnit) => ((unit.domid << 16) | (unit.vcpuId & 0xffff)) >>> 0;
function trace(g: G, ev: number, data: number[]): void {
  g.ctx.trace(ev, data.map((x) => x >>> 0));
}

// ------------------------------------------------------------------ run queues

function runqInsert(g: G, u: U): void {
  const p = pd(g, u.unit.res);
  if (u.runq) throw new Error(`d${u.unit.domid}v${u.unit.vcpuId} already queued`);
  let i = 0;
  while (i < p.runq.length && p.runq[i].pri >= u.pri) i++;
  // A yielding unit goes behind one lower-priority unit, if there is one (the idle tail does not count).
  if (u.flags.yield && i < p.runq.length) i++;
  p.runq.splice(i, 0, u);
  u.runq = p;
}

function runqRemove(u: U): void {
  const p = u.runq;
  if (!p) return;
  const i = p.runq.indexOf(u);
  if (i >= 0) p.runq.splice(i, 1);
  u.runq = null;
}

/** csched_runq_sort: once per accounting epoch, move UNDER/BOOST units ahead of OVER ones (stable). */
function runqSort(g: G, cpu: number): void {
  const p = pd(g, cpu);
  if (p.runqSortLast === g.runqSort) return;
  p.runqSortLast = g.runqSort;
  const under = p.runq.filter((u) => u.pri >= PRI.UNDER);
  const over = p.runq.filter((u) => u.pri < PRI.UNDER);
  p.runq = [...under, ...over];
  for (const u of p.runq) u.runq = p;
}

// ------------------------------------------------------------------ credits

function burnCredits(u: U, now: Ns): void {
  const delta = now - u.startTime;
  if (delta <= 0) return;
  const credits = Math.floor((delta * CSCHED_CREDITS_PER_MSEC) / ms(1));
  u.credit -= credits;
  u.startTime += (credits * ms(1)) / CSCHED_CREDITS_PER_MSEC;
}

function setTslice(g: G, tsliceMs: number): void {
  g.tslice = ms(tsliceMs);
  g.ticksPerTslice = tsliceMs < CSCHED_TICKS_PER_TSLICE ? 1 : CSCHED_TICKS_PER_TSLICE;
  g.tickPeriodUs = Math.floor((tsliceMs * 1000) / g.ticksPerTslice);
  g.creditsPerTslice = CSCHED_CREDITS_PER_MSEC * tsliceMs;
  g.credit = g.creditsPerTslice * g.ncpus;
}

function acctStart(g: G, u: U): void {
  const d = u.dom!;
  if (!u.active) {
    u.active = true;
    d.activeUnits.unshift(u);
    g.weight += d.weight;
    if (!g.activeDoms.includes(d)) g.activeDoms.unshift(d);
  }
  trace(g, TRC_CSCHED.ACCOUNT_START, [u.unit.domid, u.unit.vcpuId, d.activeUnits.length]);
}

function acctStop(g: G, u: U): void {
  const d = u.dom!;
  if (!u.active) throw new Error(`d${u.unit.domid}v${u.unit.vcpuId} is not active`);
  u.active = false;
  d.activeUnits.splice(d.activeUnits.indexOf(u), 1);
  g.weight -= d.weight;
  if (d.activeUnits.length === 0) g.activeDoms.splice(g.activeDoms.indexOf(d), 1);
  trace(g, TRC_CSCHED.ACCOUNT_STOP, [u.unit.domid, u.unit.vcpuId, d.activeUnits.length]);
}

/** csched_acct: share out a tslice's credits among the active domains, by weight, within caps. */
function acct(g: G): void {
  const weightTotal = g.weight;
  let creditTotal = g.credit;
  if (g.creditBalance < 0) creditTotal -= g.creditBalance;
  if (weightTotal === 0) {
    g.creditBalance = 0;
    g.masterTimer.set(g.ctx.now() + g.tslice);
    return;
  }
  let weightLeft = weightTotal;
  let creditBalance = 0;
  let creditXtra = false;
  let creditCap = 0;
  const cpt = g.creditsPerTslice;

  for (const d of [...g.activeDoms]) {
    const n = d.activeUnits.length;
    weightLeft -= d.weight * n;

    let creditPeak = n * cpt;
    if (g.creditBalance < 0) creditPeak += Math.floor((-g.creditBalance * d.weight * n + (weightTotal - 1)) / weightTotal);
    if (d.cap !== 0) {
      creditCap = Math.floor((d.cap * cpt + 99) / 100);
      if (creditCap < creditPeak) creditPeak = creditCap;
      creditCap = Math.floor((creditCap + (n - 1)) / n);
    }
    let creditFair = Math.floor((creditTotal * d.weight * n + (weightTotal - 1)) / weightTotal);
    if (creditFair < creditPeak) {
      creditXtra = true;
    } else {
      // Give the domains after this one a chance at the credit it cannot use.
      if (weightLeft !== 0) creditTotal += Math.floor(((creditFair - creditPeak) * weightTotal + (weightLeft - 1)) / weightLeft);
      if (creditXtra) {
        // Keep domains with unused credit at the head, so others get a chance at it next time.
        g.activeDoms.splice(g.activeDoms.indexOf(d), 1);
        g.activeDoms.unshift(d);
      }
      creditFair = creditPeak;
    }
    creditFair = Math.floor((creditFair + (n - 1)) / n);

    for (const u of [...d.activeUnits]) {
      u.credit += creditFair;
      let credit = u.credit;
      if (credit < 0) {
        u.pri = PRI.OVER;
        if (d.cap !== 0 && credit < -creditCap && !u.flags.parked) {
          u.flags.parked = true;
          g.ctx.park(u.unit, true);
        }
        if (credit < -cpt) {
          credit = -cpt;
          u.credit = credit;
        }
      } else {
        u.pri = PRI.UNDER;
        if (u.flags.parked) {
          // Unpause while still flagged parked, so that the wake does not boost it.
          g.ctx.park(u.unit, false);
          u.flags.parked = false;
        }
        if (credit > cpt) {
          acctStop(g, u);
          credit = Math.floor(credit / 2);
          u.credit = credit;
        }
      }
      creditBalance += credit;
    }
  }
  g.creditBalance = creditBalance;
  g.runqSort++;
  g.masterTimer.set(g.ctx.now() + g.tslice);
}

/** csched_unit_acct: the tick found `unit` running on `cpu`. */
function unitAcct(g: G, cpu: number, unit: SchedUnit): void {
  const u = ud(unit);
  if (u.pri === PRI.BOOST) {
    u.pri = PRI.UNDER;
    trace(g, TRC_CSCHED.BOOST_END, [unit.domid, unit.vcpuId]);
  }
  burnCredits(u, g.ctx.now());
  if (!u.active) acctStart(g, u);
  else if (unit.runnable) {
    // Active for a while: would it be better off on another (idler) pCPU?
    const newCpu = cpuPick(g, unit, false);
    if (newCpu !== cpu) g.ctx.requestMigrate(unit);
  }
}

function tick(g: G, cpu: number): void {
  const p = pd(g, cpu);
  if (!p || !g.cpus.has(cpu)) return;
  p.tick++;
  const curr = g.ctx.curr(pcpuid(cpu));
  if (!curr.isIdle && curr.priv) unitAcct(g, cpu, curr);
  runqSort(g, cpu);
  p.ticker.set(g.ctx.now() + us(g.tickPeriodUs));
}

// ------------------------------------------------------------------ placement

/** _csched_cpu_pick. */
function cpuPick(g: G, unit: SchedUnit, commit: boolean): PcpuId {
  const online = g.ctx.cpus();
  const topo = g.ctx.topology;
  let cpu: number = unit.res;
  let spc: P | null = null;
  for (const step of [BALANCE_SOFT, BALANCE_HARD]) {
    const allowed = balanceMask(unit, step).and(online);
    if (step === BALANCE_SOFT && (!hasSoftAffinity(unit, g.ctx.cpus()) || allowed.isEmpty)) continue;
    if (allowed.isEmpty) break; // outside the pool altogether: the framework falls back
    const cpus = toSet(allowed);
    cpu = cpus.has(unit.res) ? unit.res : cycle(unit.res, cpus);

    // Idle pCPUs; the unit's own pCPU counts as idle if nothing waits there (it may be the only one).
    const idlers = inter(g.idlers, online);
    if (unit.res === cpu && pd(g, cpu).runq.length === 0) idlers.add(cpu);
    for (const c of [...cpus]) if (!idlers.has(c)) cpus.delete(c);
    if (!cpus.has(cpu) && cpus.size > 0) cpu = cycle(cpu, cpus);
    cpus.delete(cpu);

    while (cpus.size > 0) {
      const nxt = cycle(cpu, cpus);
      let factor: number;
      let cpuIdlers: Set<number>;
      let nxtIdlers: Set<number>;
      if (topo.sameSocket(pcpuid(cpu), pcpuid(nxt))) {
        // Same socket: compare idle threads of the two cores; move if nxt's core is idler at all.
        factor = 1;
        cpuIdlers = inter(g.siblings[cpu], idlers);
        nxtIdlers = inter(g.siblings[nxt], idlers);
      } else {
        // Other socket: compare idle cpus of the two sockets; move only if twice as idle.
        factor = 2;
        cpuIdlers = inter(g.socketCpus[cpu], idlers);
        nxtIdlers = inter(g.socketCpus[nxt], idlers);
      }
      if (cpuIdlers.size * factor < nxtIdlers.size) {
        const candidates = inter(nxtIdlers, cpus);
        spc = pd(g, nxt);
        cpu = cycle(spc.idleBias, candidates);
        for (const s of g.siblings[cpu]) cpus.delete(s);
      } else {
        for (const s of nxtIdlers) cpus.delete(s);
      }
    }
    if (idlers.has(cpu)) break;
  }
  if (commit && spc) spc.idleBias = cpu;
  trace(g, TRC_CSCHED.PICKED_CPU, [unit.domid, unit.vcpuId, cpu]);
  return pcpuid(cpu);
}

/** __runq_tickle: choose which pCPU(s) to poke for a unit just queued. */
function runqTickle(g: G, u: U): void {
  const unit = u.unit;
  const cpu: number = unit.res;
  const cur = ud(g.ctx.curr(unit.res));
  const online = g.ctx.cpus();
  const idleMask = inter(g.idlers, online);
  const mask = new Set<number>();

  if (u.flags.pinned && idleMask.has(cpu)) {
    mask.add(cpu);
  } else if (cur.pri === PRI.IDLE || (idleMask.size === 0 && u.pri > cur.pri)) {
    mask.add(cpu);
  } else if (idleMask.size > 0) {
    for (const step of [BALANCE_SOFT, BALANCE_HARD]) {
      if (step === BALANCE_SOFT && !hasSoftAffinity(unit, g.ctx.cpus())) continue;
      const newIdlers = inter(balanceMask(unit, step).ids, idleMask);
      if (newIdlers.size === 0 && step === BALANCE_SOFT) continue;
      if (newIdlers.size === 0 && u.pri > cur.pri) mask.add(cpu); // let new preempt cur
      else if (newIdlers.size > 0) {
        g.lastTickleCpu = cycle(g.lastTickleCpu, newIdlers);
        mask.add(g.lastTickleCpu);
      }
      if (mask.size > 0) break;
    }
  }
  for (const c of mask) {
    trace(g, TRC_CSCHED.TICKLE, [c]);
    g.idlers.delete(c);
    g.ctx.tickle(pcpuid(c));
  }
}

// ------------------------------------------------------------------ work stealing

function cacheHot(g: G, u: U, now: Ns): boolean {
  return g.migrDelay > 0 && now - u.lastSchedTime < g.migrDelay;
}

/** csched_runq_steal: the first queued unit on `peer` of priority > pri that may run on `cpu`. */
function runqSteal(g: G, peer: number, cpu: number, pri: number, step: number, now: Ns): U | null {
  if (g.ctx.curr(pcpuid(peer)).isIdle) return null; // it is about to pick up its own work
  const pp = pd(g, peer);
  for (const sp of pp.runq) {
    if (sp.pri <= pri) break;
    const unit = sp.unit;
    if (unit.isRunning || (step === BALANCE_SOFT && !hasSoftAffinity(unit, g.ctx.cpus()))) continue;
    if (!cacheHot(g, sp, now) && balanceMask(unit, step).has(cpu)) {
      trace(g, TRC_CSCHED.STOLEN_UNIT, [peer, unit.domid, unit.vcpuId]);
      runqRemove(sp);
      return sp;
    }
  }
  return null;
}

/** csched_load_balance: steal better work, else take `snext` (the local head) off the queue. */
function loadBalance(g: G, cpu: number, snext: U, now: Ns): { u: U; stolen: boolean } {
  const online = g.ctx.cpus();
  if (online.has(cpu)) {
    const nodes = [...new Set(online.ids.map((c) => nodeOf(g, c)))].sort((a, b) => a - b);
    const myNode = nodeOf(g, cpu);
    const order = [...nodes.filter((n) => n >= myNode), ...nodes.filter((n) => n < myNode)];
    for (const step of [BALANCE_SOFT, BALANCE_HARD]) {
      for (const node of order) {
        const workers = online.ids.filter((c) => !g.idlers.has(c) && c !== cpu && nodeOf(g, c) === node);
        if (workers.length === 0) continue;
        const first = cycle(g.balanceBias.get(node) ?? workers[0], workers);
        let peer = first;
        do {
          if (pd(g, peer).runq.length === 0) {
            trace(g, TRC_CSCHED.STEAL_CHECK, [peer, 0]);
          } else {
            trace(g, TRC_CSCHED.STEAL_CHECK, [peer, 1]);
            const sp = runqSteal(g, peer, cpu, snext.pri, step, now);
            if (sp) {
              g.balanceBias.set(node, peer);
              return { u: sp, stolen: true };
            }
          }
          peer = cycle(peer, workers);
        } while (peer !== first);
      }
    }
  }
  runqRemove(snext);
  return { u: snext, stolen: false };
}

// ------------------------------------------------------------------ the policy

function newUdata(unit: SchedUnit, dom: D | undefined): U {
  return {
    unit,
    dom,
    startTime: 0,
    carry: 0,
    flags: { parked: false, yield: false, migrating: false, pinned: unit.hardAffinity.size === 1 },
    pri: unit.isIdle ? PRI.IDLE : PRI.UNDER,
    credit: 0,
    lastSchedTime: 0,
    runq: null,
    active: false,
  };
}

export const creditScheduler: SchedulerOps<G, P, D, U> = {
  name: 'SMP Credit Scheduler',
  optName: 'credit',
  schedId: XEN_SCHEDULER.CREDIT,
  doc: "Xen's credit1 (3.0.3–4.11 default): weights and caps by credits accounted every 30 ms, BOOST on wake, per-pCPU queues with work stealing.",
  traceClass: 0,
  traceEvents: {
    [TRC_CSCHED.SCHED_TASKLET]: 'sched_tasklet',
    [TRC_CSCHED.ACCOUNT_START]: 'account_start',
    [TRC_CSCHED.ACCOUNT_STOP]: 'account_stop',
    [TRC_CSCHED.STOLEN_UNIT]: 'stolen_unit',
    [TRC_CSCHED.PICKED_CPU]: 'picked_cpu',
    [TRC_CSCHED.TICKLE]: 'tickle',
    [TRC_CSCHED.BOOST_START]: 'boost_start',
    [TRC_CSCHED.BOOST_END]: 'boost_end',
    [TRC_CSCHED.SCHEDULE]: 'schedule',
    [TRC_CSCHED.RATELIMIT]: 'ratelimit',
    [TRC_CSCHED.STEAL_CHECK]: 'steal_check',
  },
  domainParams: {
    layout: xenDomctlSchedCredit,
    params: [
      { name: 'weight', field: 'weight', min: 1, max: 65535, default: CSCHED_DEFAULT_WEIGHT, doc: 'relative share of CPU time (0 in putinfo: unchanged)' },
      { name: 'cap', field: 'cap', min: 0, max: 0xffff, default: 0, unit: '%', doc: 'most CPU the domain may use, in % of one pCPU; 0 = no cap (0xFFFF in putinfo: unchanged)' },
    ],
  },
  globalParams: {
    layout: xenSysctlCreditSchedule,
    params: [
      { name: 'tslice_ms', field: 'tslice_ms', min: XEN_SYSCTL_CSCHED_TSLICE_MIN, max: XEN_SYSCTL_CSCHED_TSLICE_MAX, default: CSCHED_DEFAULT_TSLICE_MS, unit: 'ms', doc: 'time slice and accounting period (the tick is a third of it)' },
      { name: 'ratelimit_us', field: 'ratelimit_us', min: 0, max: XEN_SYSCTL_SCHED_RATELIMIT_MAX, default: SCHED_DEFAULT_RATELIMIT_US, unit: 'µs', doc: 'least run time before a preemption; 0 = off, else 100..500000 and ≤ tslice' },
      { name: 'vcpu_migr_delay_us', field: 'vcpu_migr_delay_us', min: 0, max: XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US, default: 0, unit: 'µs', doc: 'a vCPU that ran this recently is cache-hot and not stolen' },
    ],
  },

  init: (ctx) => {
    const topo = ctx.topology;
    const g: G = {
      ctx,
      cpus: new Set(),
      idlers: new Set(),
      balanceBias: new Map(),
      runqSort: 0,
      ncpus: 0,
      tickPeriodUs: 0,
      ticksPerTslice: 0,
      tslice: 0,
      ratelimit: us(SCHED_DEFAULT_RATELIMIT_US),
      migrDelay: 0,
      activeDoms: [],
      weight: 0,
      credit: 0,
      creditBalance: 0,
      creditsPerTslice: 0,
      master: -1,
      masterTimer: undefined as unknown as PolicyTimer,
      lastTickleCpu: 0,
      siblings: topo.cpus.map((c) => topo.cpus.filter((o) => o.core === c.core).map((o) => o.id as number)),
      socketCpus: topo.cpus.map((c) => topo.cpus.filter((o) => o.socket === c.socket).map((o) => o.id as number)),
    };
    setTslice(g, CSCHED_DEFAULT_TSLICE_MS);
    if (g.ratelimit > g.tslice) g.ratelimit = g.tslice;
    g.masterTimer = ctx.timer(() => acct(g));
    return g;
  },
  deinit: (g) => g.masterTimer.stop(),

  allocPdata: (g, cpu) => ({ cpu, runq: [], runqSortLast: 0, idleBias: 0, tick: 0, ticker: g.ctx.timer(() => tick(g, cpu)) }),
  freePdata: (_g, p) => p?.ticker.stop(),
  switchSched: (g, cpu, p) => {
    // init_pdata
    g.credit += g.creditsPerTslice;
    g.ncpus++;
    g.cpus.add(cpu);
    const now = g.ctx.now();
    if (g.ncpus === 1) {
      g.master = cpu;
      g.masterTimer.set(now + g.tslice);
    }
    const node = nodeOf(g, cpu);
    if (![...g.cpus].some((c) => c !== cpu && nodeOf(g, c) === node)) g.balanceBias.set(node, cpu);
    p!.ticker.set(now + us(g.tickPeriodUs));
    p!.runq = [];
    p!.runqSortLast = g.runqSort;
    p!.idleBias = g.ctx.topology.nrCpus - 1;
    g.idlers.add(cpu);
  },
  deinitPdata: (g, p, cpu) => {
    g.credit -= g.creditsPerTslice;
    g.ncpus--;
    g.idlers.delete(cpu);
    g.cpus.delete(cpu);
    if (g.master === cpu && g.ncpus > 0) g.master = Math.min(...g.cpus);
    const node = nodeOf(g, cpu);
    if (g.balanceBias.get(node) === cpu) {
      const left = [...g.cpus].filter((c) => nodeOf(g, c) === node);
      if (left.length > 0) g.balanceBias.set(node, Math.min(...left));
    }
    p?.ticker.stop();
    if (g.ncpus === 0) g.masterTimer.stop();
    for (const u of [...(p?.runq ?? [])]) runqRemove(u);
  },

  allocDomdata: (_g, dom) => ({ dom, activeUnits: [], weight: CSCHED_DEFAULT_WEIGHT, cap: 0 }),
  freeDomdata: (g, d) => {
    if (!d) return;
    const i = g.activeDoms.indexOf(d);
    if (i >= 0) g.activeDoms.splice(i, 1);
  },
  allocUdata: (_g, unit, dom) => newUdata(unit, dom),
  freeUdata: (_g, u) => {
    if (u) runqRemove(u);
  },

  insertUnit: (g, unit) => {
    const u = ud(unit);
    if (!u.runq && unit.runnable && !unit.isRunning) runqInsert(g, u);
  },
  removeUnit: (g, unit) => {
    const u = ud(unit);
    runqRemove(u);
    if (u.flags.parked) {
      u.flags.parked = false;
      g.ctx.park(unit, false);
    }
    if (u.active) acctStop(g, u);
  },

  sleep: (g, unit) => {
    const u = ud(unit);
    if (g.ctx.curr(unit.res) === unit) g.ctx.tickle(unit.res);
    else if (u.runq) runqRemove(u);
  },

  wake: (g, unit) => {
    const u = ud(unit);
    if (g.ctx.curr(unit.res) === unit || u.runq) return;
    const migrating = u.flags.migrating;
    u.flags.migrating = false;
    // Boost a unit waking up from a block (not a migration, not an unpark): it preempts UNDER and
    // OVER units, and keeps the boost until a tick finds it running.
    if (!migrating && u.pri === PRI.UNDER && !u.flags.parked) {
      trace(g, TRC_CSCHED.BOOST_START, [unit.domid, unit.vcpuId]);
      u.pri = PRI.BOOST;
    }
    runqInsert(g, u);
    runqTickle(g, u);
  },

  yield: (_g, unit) => {
    ud(unit).flags.yield = true;
  },

  doSchedule: (g, prev, now, cpu, taskletWork) => {
    const scurr = ud(prev);
    const idleU = ud(g.ctx.idleUnit(cpu));
    trace(g, TRC_CSCHED.SCHEDULE, [(cpu & 0xffff) | ((taskletWork ? 1 : 0) << 16) | ((prev.isIdle ? 1 : 0) << 24)]);

    const runtime = Math.max(0, now - prev.stateEntryTime);
    if (!prev.isIdle) {
      burnCredits(scurr, now);
      scurr.carry = now - scurr.startTime;
      scurr.lastSchedTime = now;
    } else {
      scurr.pri = PRI.IDLE;
    }

    let snext: U;
    let tslice: Ns;
    let migrated = false;
    if (!scurr.flags.yield && !taskletWork && g.ratelimit > 0 && prev.runnable && !prev.isIdle && runtime < g.ratelimit) {
      // Rate limiting: keep prev until it has run for ratelimit (but no timer under MIN_TIMER).
      snext = scurr; // still running: its start_time stands
      tslice = runtime < CSCHED_MIN_TIMER ? CSCHED_MIN_TIMER : g.ratelimit - runtime;
      trace(g, TRC_CSCHED.RATELIMIT, [dv(prev), runtime]);
    } else {
      tslice = g.tslice;
      if (prev.runnable && !prev.isIdle) runqInsert(g, scurr);
      scurr.flags.yield = false;
      const p = pd(g, cpu);
      for (;;) {
        snext = p.runq[0] ?? idleU;
        if (taskletWork) {
          trace(g, TRC_CSCHED.SCHED_TASKLET, []);
          snext = idleU;
          snext.pri = PRI.BOOST;
        }
        if (snext.pri > PRI.OVER) runqRemove(snext);
        else {
          const r = loadBalance(g, cpu, snext, now);
          snext = r.u;
          migrated = r.stolen;
        }
        if (snext.unit.isIdle || snext.unit.runnable) break;
      }
      if (!taskletWork && snext.pri === PRI.IDLE) g.idlers.add(cpu);
      else g.idlers.delete(cpu);
      if (!snext.unit.isIdle) snext.startTime = now - snext.carry;
    }

    const next = snext.unit;
    // The tick runs only while the pCPU is busy (re-armed on its period grid on leaving idle).
    const pp = pd(g, cpu);
    if (!prev.isIdle && next.isIdle) pp.ticker.stop();
    if (prev.isIdle && !next.isIdle) {
      const period = us(g.tickPeriodUs);
      pp.ticker.set(now + period - (now % period));
    }
    return { next, sliceNs: next.isIdle ? -1 : tslice, migrated };
  },

  pickResource: (g, unit) => {
    // Called on a migration: its coming wake must not boost it.
    ud(unit).flags.migrating = true;
    return cpuPick(g, unit, true);
  },

  adjust: (g, dom, cmd, buf) => {
    const d = dom.priv as D;
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      xenDomctlSchedCredit.write(buf, 0, { weight: d.weight, cap: d.cap });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = xenDomctlSchedCredit.read(buf, 0);
    if (a.weight !== 0) {
      if (d.activeUnits.length > 0) g.weight += (a.weight - d.weight) * d.activeUnits.length;
      d.weight = a.weight;
    }
    if (a.cap !== CAP_UNCHANGED) d.cap = a.cap;
    return 0;
  },

  adjustGlobal: (g, cmd, buf) => {
    const L = xenSysctlCreditSchedule;
    if (cmd === XEN_SYSCTL_SCHEDOP.putinfo) {
      const a = L.read(buf, 0);
      if (
        a.tslice_ms > XEN_SYSCTL_CSCHED_TSLICE_MAX ||
        a.tslice_ms < XEN_SYSCTL_CSCHED_TSLICE_MIN ||
        (a.ratelimit_us !== 0 && (a.ratelimit_us > XEN_SYSCTL_SCHED_RATELIMIT_MAX || a.ratelimit_us < XEN_SYSCTL_SCHED_RATELIMIT_MIN)) ||
        us(a.ratelimit_us) > ms(a.tslice_ms) ||
        a.vcpu_migr_delay_us > XEN_SYSCTL_CSCHED_MGR_DLY_MAX_US
      )
        return -Errno.EINVAL;
      setTslice(g, a.tslice_ms);
      g.ratelimit = us(a.ratelimit_us);
      g.migrDelay = us(a.vcpu_migr_delay_us);
    } else if (cmd !== XEN_SYSCTL_SCHEDOP.getinfo) return -Errno.EINVAL;
    L.write(buf, 0, { tslice_ms: Math.floor(g.tslice / ms(1)), ratelimit_us: Math.floor(g.ratelimit / us(1)), vcpu_migr_delay_us: Math.floor(g.migrDelay / us(1)) });
    return 0;
  },

  adjustAffinity: (_g, unit, hard) => {
    if (hard) ud(unit).flags.pinned = hard.size === 1;
  },

  dumpSettings: (g) =>
    [
      `ncpus=${g.ncpus} master=${g.master} credit=${g.credit} credit_balance=${g.creditBalance} weight=${g.weight} runq_sort=${g.runqSort}`,
      `tslice=${g.tslice / ms(1)}ms ratelimit=${g.ratelimit / us(1)}us migration_delay=${g.migrDelay / us(1)}us ticks_per_tslice=${g.ticksPerTslice}`,
      `idlers={${[...g.idlers].sort((a, b) => a - b).join(',')}}`,
      `active: ${g.activeDoms.map((d) => d.activeUnits.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}(pri=${u.pri} credit=${u.credit} w=${d.weight} cap=${d.cap})`).join(' ')).join(' ')}`,
    ].join('\n'),
  dumpCpuState: (g, cpu) => {
    const p = pd(g, cpu);
    const c = g.ctx.curr(cpu);
    const run = c.isIdle ? '' : `run: d${c.domid}v${c.vcpuId}(pri=${ud(c).pri} credit=${ud(c).credit}) `;
    return `${run}runq: ${p.runq.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}(pri=${u.pri} credit=${u.credit})`).join(' ')}`;
  },
};

export default creditScheduler;
