/**
 * Borrowed Virtual Time — Xen 2.0's sched_bvt.c (after Duda & Cheriton, SOSP'99), the scheduler of
 * the Xen paper (§3.3.1).
 *
 * Design: each pCPU has an unordered run queue that, as in Xen 2.0, also holds the running unit, and
 * a system virtual time (SVT). A unit's actual virtual time (avt) advances by mcu_advance for every
 * started MCU (100 µs) it runs; its effective virtual time is evt = avt − warp_value while warping,
 * else avt. do_schedule runs the lowest evt. A waking unit's avt is raised to SVT (sleepers bank no
 * credit) and it preempts the current unit at once if its evt is not larger; otherwise the current
 * unit's slice is cut to when their virtual times would cross plus ctx_allow.
 *
 * Parameters (Xen 2.0): per domain mcu_adv (inverse of weight; default 10), warpback, warpvalue,
 * warpl and warpu (ms; defaults 2000 and 1000); per pool ctx_allow (default 5 ms). Warping uses
 * 2.0's timers: a warping unit scheduled in arms warp_timer at now + warpl (cancelled when it is
 * descheduled); on expiry it unwarps and arms unwarp_timer at now + warpu, after which it warps again
 * (warpu = 0 stops warping for good).
 *
 * Choices, stated:
 *  - Slice formula. Xen computes r_time = (evt(next') − evt(next)) / mcu_advance + ctx_allow, adding
 *    a count of MCUs to nanoseconds, so in effect every slice is ≈ ctx_allow. We scale the quotient
 *    by MCU (the BVT paper's rule: run until the virtual times cross, plus C). Set slice_mode = 1
 *    (sysctl) to get Xen's literal arithmetic instead. The same choice applies to the wake-up
 *    preemption point.
 *  - Virtual times are unbounded integers, so Xen's 32-bit wrap (subtract 0xE0000000 once SVT
 *    reaches 0xF0000000) and its underflow of avt − warp_value never arise.
 *  - Virtual times are per vCPU, parameters per domain (as Xen 3.0's BVT).
 *  - The idle unit gets no timer (Xen 2.0 gave it ctx_allow; a wake tickles an idle pCPU anyway).
 *  - Warp timers take effect at once. When warp_timer fires (warpl of continuous warped running),
 *    the pCPU is rescheduled; Xen 2.0 did so only when warpu = 0, relying on its ≈ ctx_allow
 *    slices, but an MCU-scaled slice granted while warped can be far longer than warpl. When
 *    unwarp_timer fires, the unit's evt is recomputed before the reschedule it raises; Xen 2.0
 *    left a queued unit's evt unwarped, so the regained warp counted only after its next run.
 *
 * Invariants: a unit is on its pCPU's queue iff runnable or running; SVT never decreases; a woken
 * unit's avt ≥ SVT of its pCPU.
 */
import {
  pickByAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SCHEDULER,
  XEN_SYSCTL_SCHEDOP,
  i32,
  i64,
  ms,
  struct,
  u32,
  us,
  type PcpuId,
  type PolicyTimer,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

export const MCU = us(100);
export const MCU_ADVANCE = 10;
export const DEFAULT_CTX_ALLOW = ms(5);
/** Xen 3.0's CTX_MIN. */
export const CTX_MIN = us(10);

/** Xen 2.0 libxc: mcuadv = 10 / weight, default weight 1 (truncating division, at least 1 here). */
export const MCU_ADVANCE_PER_WEIGHT = 10;
export const mcuAdvanceForWeight = (weight: number): number => Math.max(1, Math.floor(MCU_ADVANCE_PER_WEIGHT / weight));

/** Xen 2.0 struct bvt_adjdom (the per-domain payload of the scheduler_op domctl). */
export const bvtAdjdom = struct('struct bvt_adjdom', 32, {
  mcu_adv: u32(0),
  warpback: u32(4),
  warpvalue: i32(8),
  warpl: i64(16),
  warpu: i64(24),
});
/** Xen 2.0 struct bvt_ctl, plus our slice_mode word. */
export const bvtCtl = struct('struct bvt_ctl', 8, { ctx_allow: u32(0), slice_mode: u32(4) });

export const enum SliceMode {
  /** Quotient scaled by MCU (BVT paper). */
  scaled = 0,
  /** Xen 2.0's literal arithmetic (MCU count added to ns). */
  xen = 1,
}

interface G {
  ctx: SchedContext;
  ctxAllow: number;
  sliceMode: SliceMode;
}
interface P {
  runq: U[];
  svt: number;
  /** When the current slice ends (the framework's s_timer expiry). */
  sliceEnd: number;
  /** Pulls the slice end in after a wake (Xen 2.0's mod_ac_timer on s_timer). */
  preempt: PolicyTimer;
}
interface D {
  mcuAdvance: number;
  warpback: boolean;
  warpValue: number;
  warpl: number;
  warpu: number;
}
interface U {
  unit: SchedUnit;
  dom: D | undefined;
  avt: number;
  evt: number;
  warp: boolean;
  queued: boolean;
  lastschd: number;
  migrated: boolean;
  warpTimer: PolicyTimer | null;
  unwarpTimer: PolicyTimer | null;
}

const ud = (u: SchedUnit) => u.priv as U;

const cpuOf = (g: G, cpu: PcpuId): P => g.ctx.pdata<P>(cpu);

const evtOf = (u: U) => (u.warp && u.dom ? u.avt - u.dom.warpValue : u.avt);

/** avt including the stint in progress: + mcu_advance per started MCU since lastschd. */
function avtNow(u: U, now: number): number {
  const mcus = Math.ceil((now - u.lastschd) / MCU);
  return u.avt + mcus * (u.dom?.mcuAdvance ?? MCU_ADVANCE);
}

/** Virtual-time gap → nanoseconds of running, per the slice mode. */
function gapNs(g: G, gap: number, mcuAdvance: number): number {
  const q = Math.floor(gap / mcuAdvance);
  return g.sliceMode === SliceMode.xen ? q : q * MCU;
}

function dequeue(p: P, u: U): void {
  if (!u.queued) return;
  const i = p.runq.indexOf(u);
  if (i >= 0) p.runq.splice(i, 1);
  u.queued = false;
}

function makeTimers(g: G, u: U): void {
  u.warpTimer = g.ctx.timer(() => {
    // warp_timer_fn
    u.warp = false;
    if (u.dom && u.dom.warpu === 0) u.dom.warpback = false;
    // Reschedule now (Xen 2.0 did only when warpu = 0): see "Warp timers" above.
    g.ctx.tickle(u.unit.res);
    u.unwarpTimer!.set(g.ctx.now() + (u.dom?.warpu ?? 0));
  });
  u.unwarpTimer = g.ctx.timer(() => {
    // unwarp_timer_fn
    if (u.dom?.warpback) {
      u.warp = true;
      u.evt = evtOf(u); // a queued unit competes with its warped evt in the reschedule below
      g.ctx.tickle(u.unit.res);
    }
  });
}

export const bvtScheduler: SchedulerOps<G, P, D, U> = {
  name: 'Borrowed Virtual Time',
  optName: 'bvt',
  schedId: XEN_SCHEDULER.BVT,
  doc: 'Xen 2.0 BVT: weighted fair share by virtual time, with warping for low wake-up latency.',
  domainParams: {
    layout: bvtAdjdom,
    params: [
      { name: 'mcu_adv', field: 'mcu_adv', min: 1, max: 0xffffffff, default: MCU_ADVANCE, doc: 'virtual time per MCU run (inverse of weight)' },
      { name: 'warpback', field: 'warpback', min: 0, max: 1, default: 0, doc: 'warping enabled' },
      { name: 'warpvalue', field: 'warpvalue', min: -(2 ** 31), max: 2 ** 31 - 1, default: 0, doc: 'warp, in virtual-time units' },
      { name: 'warpl', field: 'warpl', min: 0, max: 2 ** 40, default: 2000, unit: 'ms', doc: 'longest continuous warp' },
      { name: 'warpu', field: 'warpu', min: 0, max: 2 ** 40, default: 1000, unit: 'ms', doc: 'unwarped time before warping again' },
    ],
  },
  globalParams: {
    layout: bvtCtl,
    params: [
      { name: 'ctx_allow', field: 'ctx_allow', min: CTX_MIN, max: 0xffffffff, default: DEFAULT_CTX_ALLOW, unit: 'ns', doc: 'context-switch allowance' },
      { name: 'slice_mode', field: 'slice_mode', min: 0, max: 1, default: 0, doc: '0: MCU-scaled slice (BVT paper), 1: Xen 2.0 literal' },
    ],
  },

  init: (ctx) => ({ ctx, ctxAllow: DEFAULT_CTX_ALLOW, sliceMode: SliceMode.scaled }),
  deinit: () => {},
  allocPdata: (g, cpu) => ({ runq: [], svt: 0, sliceEnd: 0, preempt: g.ctx.timer(() => g.ctx.tickle(cpu)) }),
  switchSched: () => {},
  deinitPdata: (_g, p) => p?.preempt.stop(),
  allocDomdata: (): D => ({ mcuAdvance: MCU_ADVANCE, warpback: false, warpValue: 0, warpl: ms(2000), warpu: ms(1000) }),
  allocUdata: (g, unit, dom) => {
    const u: U = { unit, dom, avt: 0, evt: 0, warp: false, queued: false, lastschd: 0, migrated: false, warpTimer: null, unwarpTimer: null };
    if (!unit.isIdle) makeTimers(g, u);
    return u;
  },
  freeUdata: (_g, u) => {
    u.warpTimer?.stop();
    u.unwarpTimer?.stop();
  },

  insertUnit: (g, unit) => {
    const u = ud(unit);
    const p = cpuOf(g, unit.res);
    u.avt = u.evt = p.svt;
    u.warp = u.dom?.warpback ?? false;
    if (unit.runnable) bvtScheduler.wake!(g, unit);
  },
  removeUnit: (g, unit) => {
    const u = ud(unit);
    dequeue(cpuOf(g, unit.res), u);
    u.warpTimer?.stop();
    u.unwarpTimer?.stop();
  },

  wake: (g, unit) => {
    const u = ud(unit);
    if (u.queued) return;
    const cpu = unit.res;
    const p = cpuOf(g, cpu);
    p.runq.unshift(u);
    u.queued = true;
    const now = g.ctx.now();
    if (u.avt < p.svt || u.migrated) u.avt = p.svt;
    u.migrated = false;
    u.evt = evtOf(u);
    const curr = g.ctx.curr(cpu);
    if (curr.isIdle) {
      g.ctx.tickle(cpu);
      return;
    }
    const c = ud(curr);
    const currEvt = c.warp && c.dom ? avtNow(c, now) - c.dom.warpValue : avtNow(c, now);
    if (u.evt <= currEvt) {
      g.ctx.tickle(cpu);
      return;
    }
    const rTime = c.lastschd + gapNs(g, u.evt - currEvt, c.dom?.mcuAdvance ?? MCU_ADVANCE) + g.ctxAllow;
    if (p.sliceEnd > rTime) {
      p.sliceEnd = rTime;
      p.preempt.set(rTime);
    }
  },

  sleep: (g, unit) => {
    const u = ud(unit);
    if (unit.isRunning) g.ctx.tickle(unit.res);
    else dequeue(cpuOf(g, unit.res), u);
  },

  doSchedule: (g, prev, now, cpu) => {
    const p = cpuOf(g, cpu);
    p.preempt.stop();
    if (!prev.isIdle) {
      const pu = ud(prev);
      pu.avt = avtNow(pu, now);
      pu.lastschd = now;
      pu.evt = evtOf(pu);
      if (pu.dom?.warpback && pu.dom.warpl > 0) pu.warpTimer?.stop();
      dequeue(p, pu);
      if (prev.runnable) {
        p.runq.push(pu);
        pu.queued = true;
      }
    }
    // O(n) scan for the lowest and second-lowest evt, and the lowest avt (the new SVT).
    let next: U | null = null;
    let nextPrime: U | null = null;
    let minAvt = Infinity;
    for (const u of p.runq) {
      if (!u.unit.runnable) continue;
      if (next === null || u.evt < next.evt) {
        nextPrime = next;
        next = u;
      } else if (nextPrime === null || u.evt < nextPrime.evt) nextPrime = u;
      if (u.avt < minAvt) minAvt = u.avt;
    }
    if (minAvt !== Infinity && minAvt > p.svt) p.svt = minAvt;
    if (!next) {
      p.sliceEnd = Infinity;
      return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
    }
    if (next.warp && next.dom && next.dom.warpl > 0) next.warpTimer?.set(now + next.dom.warpl);
    next.lastschd = now;
    const slice = nextPrime === null ? 10 * g.ctxAllow : gapNs(g, nextPrime.evt - next.evt, next.dom?.mcuAdvance ?? MCU_ADVANCE) + g.ctxAllow;
    p.sliceEnd = now + slice;
    return { next: next.unit, sliceNs: slice };
  },

  pickResource: (g, unit) => pickByAffinity(unit, g.ctx.cpus()),

  migrate: (g, unit, newCpu) => {
    const u = ud(unit);
    if (newCpu !== unit.res) {
      dequeue(cpuOf(g, unit.res), u);
      u.migrated = true;
    }
  },

  adjust: (_g, dom: SchedDomain, cmd, buf) => {
    const d = dom.priv as D;
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      bvtAdjdom.write(buf, 0, {
        mcu_adv: d.mcuAdvance,
        warpback: d.warpback ? 1 : 0,
        warpvalue: d.warpValue,
        warpl: Math.floor(d.warpl / ms(1)),
        warpu: Math.floor(d.warpu / ms(1)),
      });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const a = bvtAdjdom.read(buf, 0);
    if (a.mcu_adv === 0 || a.warpl < 0 || a.warpu < 0) return -Errno.EINVAL;
    d.mcuAdvance = a.mcu_adv;
    d.warpback = a.warpback !== 0;
    d.warpValue = a.warpvalue;
    d.warpl = ms(a.warpl);
    d.warpu = ms(a.warpu);
    for (const unit of dom.units) {
      const u = ud(unit);
      u.warp = d.warpback; // "the warp should be the same as warpback"
      u.unwarpTimer?.stop();
      if (!d.warpback) u.warpTimer?.stop();
      u.evt = evtOf(u);
    }
    return 0;
  },

  adjustGlobal: (g, cmd, buf) => {
    if (cmd === XEN_SYSCTL_SCHEDOP.getinfo) {
      bvtCtl.write(buf, 0, { ctx_allow: g.ctxAllow, slice_mode: g.sliceMode });
      return 0;
    }
    const a = bvtCtl.read(buf, 0);
    if (a.ctx_allow < CTX_MIN || a.slice_mode > 1) return -Errno.EINVAL;
    g.ctxAllow = a.ctx_allow;
    g.sliceMode = a.slice_mode as SliceMode;
    return 0;
  },

  dumpSettings: (g) => `BVT: mcu=${MCU}ns ctx_allow=${g.ctxAllow}ns slice_mode=${g.sliceMode}`,
  dumpCpuState: (g, cpu) => {
    const p = cpuOf(g, cpu);
    return `svt=${p.svt} ` + p.runq.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}(mcua=${u.dom?.mcuAdvance} av=${u.avt} ev=${u.evt})`).join(' ');
  },
};

export default bvtScheduler;
