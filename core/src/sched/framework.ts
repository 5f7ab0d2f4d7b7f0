/**
 * The scheduler framework (Xen's xen/common/sched/core.c): per-pCPU current vCPU, runstate
 * accounting, the scheduling softirq, slice timers, tickling, migration and affinity, cpupools —
 * with the policy deciding through the hooks of ops.ts.
 *
 * Invariants (checkInvariants, and enforced at every pick):
 *  - a vCPU is current on at most one pCPU, and isRunning ⇔ it is some pCPU's current vCPU;
 *  - a vCPU that is not runnable is never picked (the pick is refused and reported as a policy
 *    error); a current vCPU that stops being runnable always has a reschedule pending;
 *  - runstate times of every vCPU add up to the time since it was created;
 *  - a non-current vCPU's runstate is runnable / blocked / offline as its flags say.
 */
import { RUNSTATE, type Runstate } from '../abi/xen';
import { pcpuid, type PcpuId } from '../abi/types';
import { Prio, type Engine, type EventHandle } from '../engine/engine';
import type { Ns } from '../engine/time';
import { CpuSet } from '../machine/cpuset';
import type { Topology } from '../machine/topology';
import type { Domain } from '../domain/domain';
import { VPF, type Vcpu } from '../domain/vcpu';
import type { TraceBus } from '../trace/bus';
import type { ByteAccess } from '../abi/bytes';
import { GuestFault } from '../mm/guest-memory';
import { Errno } from '../abi/xen';
import type { CostModel } from './cost-model';
import { Cpupool } from './cpupool';
import { BALANCE_SOFT, balanceMask, hasSoftAffinity } from './affinity';
import type { AnySchedulerOps, PolicyTimer, SchedContext, SchedDecision, SchedUnit } from './ops';

/** Runs guest code on pCPUs; implemented by the simulation executor (and later KVM). */
export interface Executor {
  /** `v` was switched in on `pcpu` now; it starts making progress after `costNs`. */
  run(v: Vcpu, pcpu: Pcpu, costNs: Ns): void;
  /** `v` stops running now (switched out, or about to be re-decided): account its progress. */
  stop(v: Vcpu): void;
}

export class Pcpu {
  pool: Cpupool | null = null;
  curr: Vcpu;
  priv: unknown = undefined;
  sTimer: EventHandle | null = null;
  softirq: EventHandle | null = null;
  /** Bytes the vCPUs that ran here have touched so far (monotone): the cache model's clock. */
  cacheTouched = 0;
  /** When the current vCPU was switched in. */
  switchedAt: Ns = 0;
  /** Scheduling decisions taken (for benchmarks). */
  decisions = 0;

  constructor(
    readonly id: PcpuId,
    readonly idle: Vcpu,
  ) {
    this.curr = idle;
  }
}

export interface FrameworkHooks {
  /** Guest has events to take: SCHEDOP_block must not block. */
  eventsNeedDelivery(v: Vcpu): boolean;
  /** Write the vCPU's runstate to its registered guest area, if any. */
  runstateChanged(v: Vcpu): void;
}

export class SchedFramework {
  readonly pcpus: Pcpu[] = [];
  readonly pools = new Map<number, Cpupool>();
  executor!: Executor;
  private migrating = new Set<Vcpu>();
  /** Reported policy errors (also on the trace bus). */
  readonly policyErrors: string[] = [];

  constructor(
    private readonly engine: Engine,
    readonly topology: Topology,
    private readonly trace: TraceBus,
    readonly costs: CostModel,
    private readonly hooks: FrameworkHooks,
    idleVcpus: Vcpu[],
  ) {
    for (const v of idleVcpus) {
      const pc = new Pcpu(v.res, v);
      v.isRunning = true;
      v.runstate = RUNSTATE.running;
      v.pauseFlags = 0;
      this.pcpus.push(pc);
    }
  }

  private now(): Ns {
    return this.engine.now();
  }

  // ---------------------------------------------------------------- pools

  createPool(id: number, name: string, ops: AnySchedulerOps): Cpupool {
    if (this.pools.has(id)) throw new Error(`cpupool ${id} exists`);
    const pool = new Cpupool(id, name, ops);
    pool.ctx = this.makeContext(pool);
    pool.g = this.call(pool, 'init', () => ops.init(pool.ctx));
    this.pools.set(id, pool);
    return pool;
  }

  /** A free pCPU joins `pool` (schedule_cpu_add). */
  addCpu(pool: Cpupool, cpu: PcpuId): void {
    const pc = this.pcpus[cpu];
    if (pc.pool) throw new Error(`cpu ${cpu} already in pool ${pc.pool.id}`);
    const ops = pool.ops;
    const pdata = ops.allocPdata ? this.call(pool, 'allocPdata', () => ops.allocPdata!(pool.g, cpu)) : undefined;
    const idleU = this.call(pool, 'allocUdata', () => ops.allocUdata(pool.g, pc.idle, undefined));
    pc.idle.priv = idleU;
    pc.priv = pdata;
    pool.cpuIds.add(cpu);
    pc.pool = pool;
    this.call(pool, 'switchSched', () => ops.switchSched(pool.g, cpu, pdata, idleU));
    this.raise(cpu);
  }

  /** Take a pCPU out of its pool (schedule_cpu_rm); its vCPUs are re-homed by the policy. */
  removeCpu(cpu: PcpuId): number {
    const pc = this.pcpus[cpu];
    const pool = pc.pool;
    if (!pool) return -Errno.EINVAL;
    if (pool.cpuIds.size === 1 && pool.domains.size > 0) return -Errno.EBUSY;
    pool.cpuIds.delete(cpu);
    pc.pool = null;
    this.forceReschedule(cpu); // the free pCPU runs idle from now on
    for (const d of pool.domains) for (const v of d.vcpus) if (v.res === cpu) this.migrate(v, false);
    this.call(pool, 'moveTimers', () => pool.ops.moveTimers?.(pool.g, cpu));
    const pdata = pc.priv;
    this.call(pool, 'deinitPdata', () => pool.ops.deinitPdata?.(pool.g, pdata, cpu));
    this.call(pool, 'freePdata', () => pool.ops.freePdata?.(pool.g, pdata, cpu));
    this.call(pool, 'freeUdata', () => pool.ops.freeUdata(pool.g, pc.idle.priv));
    pc.priv = undefined;
    pc.idle.priv = undefined;
    return 0;
  }

  destroyPool(pool: Cpupool): number {
    if (pool.domains.size > 0) return -Errno.EBUSY;
    for (const cpu of [...pool.cpuIds]) this.removeCpu(cpu);
    this.call(pool, 'deinit', () => pool.ops.deinit(pool.g));
    this.pools.delete(pool.id);
    return 0;
  }

  // ---------------------------------------------------------------- domains and vCPUs

  initDomain(d: Domain, pool: Cpupool): void {
    d.pool = pool;
    pool.domains.add(d);
    d.schedPriv = pool.ops.allocDomdata ? this.call(pool, 'allocDomdata', () => pool.ops.allocDomdata!(pool.g, d)) : undefined;
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'dom_add', dom: d.id });
  }

  /** sched_init_vcpu: choose an initial pCPU round-robin over the pool, allocate and insert. */
  initVcpu(v: Vcpu): void {
    const pool = v.domain.pool;
    const ids = pool.cpus.ids;
    v.res = ids[pool.nextCpu++ % ids.length];
    v.hardAffinity = CpuSet.range(this.pcpus.length);
    v.softAffinity = v.hardAffinity;
    v.priv = this.call(pool, 'allocUdata', () => pool.ops.allocUdata(pool.g, v, v.domain.schedPriv));
    this.call(pool, 'insertUnit', () => pool.ops.insertUnit?.(pool.g, v));
  }

  /** Remove a dying domain's units from its policy (the domain is paused and descheduled). */
  destroyDomain(d: Domain): void {
    const pool = d.pool;
    this.forceDeschedule(d);
    for (const v of d.vcpus) {
      this.call(pool, 'removeUnit', () => pool.ops.removeUnit?.(pool.g, v));
      this.call(pool, 'freeUdata', () => pool.ops.freeUdata(pool.g, v.priv));
      v.priv = undefined;
      this.stopTimers(v);
    }
    this.call(pool, 'freeDomdata', () => pool.ops.freeDomdata?.(pool.g, d.schedPriv));
    d.schedPriv = undefined;
    pool.domains.delete(d);
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'dom_rem', dom: d.id });
  }

  /** sched_move_domain: move a domain (all its vCPUs) to another pool while it runs. */
  moveDomain(d: Domain, to: Cpupool): number {
    const from = d.pool;
    if (from === to) return 0;
    if (to.cpuIds.size === 0) return -Errno.EINVAL;
    d.pauseCount++;
    for (const v of d.vcpus) this.sleepNosync(v);
    this.forceDeschedule(d);
    const newDom = to.ops.allocDomdata ? this.call(to, 'allocDomdata', () => to.ops.allocDomdata!(to.g, d)) : undefined;
    for (const v of d.vcpus) {
      this.call(from, 'removeUnit', () => from.ops.removeUnit?.(from.g, v));
      this.call(from, 'freeUdata', () => from.ops.freeUdata(from.g, v.priv));
    }
    this.call(from, 'freeDomdata', () => from.ops.freeDomdata?.(from.g, d.schedPriv));
    from.domains.delete(d);
    d.pool = to;
    to.domains.add(d);
    d.schedPriv = newDom;
    const ids = to.cpus.ids;
    d.vcpus.forEach((v, i) => {
      v.hardAffinity = CpuSet.range(this.pcpus.length);
      v.softAffinity = v.hardAffinity;
      v.res = ids[i % ids.length];
      v.priv = this.call(to, 'allocUdata', () => to.ops.allocUdata(to.g, v, newDom));
      this.call(to, 'insertUnit', () => to.ops.insertUnit?.(to.g, v));
    });
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'pool_move', dom: d.id, from: from.id, to: to.id });
    if (--d.pauseCount === 0) for (const v of d.vcpus) this.wake(v);
    return 0;
  }

  /** Make sure no vCPU of `d` is current anywhere (Xen's synchronous domain_pause). */
  private forceDeschedule(d: Domain): void {
    for (const v of d.vcpus) if (v.isRunning) this.forceReschedule(v.res);
    for (const v of d.vcpus) {
      if (v.isRunning) {
        // The policy insisted on a vCPU that must not run: switch to idle by force.
        this.reportPolicyError(d.pool, 'doSchedule', `kept ${v} running while it must be descheduled`);
        this.switchTo(this.pcpus[v.res], this.pcpus[v.res].idle, -1);
      }
    }
  }

  private forceReschedule(cpu: PcpuId): void {
    const pc = this.pcpus[cpu];
    pc.softirq?.cancel();
    this.schedule(cpu);
  }

  // ---------------------------------------------------------------- transitions (core.c)

  /** `now`: the caller's reading of the clock, so one decision is one instant on a real clock too. */
  runstateChange(v: Vcpu, to: Runstate, now: Ns = this.now()): void {
    const from = v.runstate;
    if (from === to) return;
    v.runstateTime[from] += now - v.stateEntryTime;
    v.runstate = to;
    v.stateEntryTime = now;
    if (this.trace.on) this.trace.emit({ t: now, cpu: v.res, type: 'runstate', dom: v.domain.id, vcpu: v.id, from, to });
    if (v.runstateArea !== 0) this.hooks.runstateChanged(v);
  }

  /** vcpu_wake. */
  wake(v: Vcpu): void {
    if (v.isIdle) return;
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: v.res, type: 'wake', dom: v.domain.id, vcpu: v.id });
    if (v.runnable) {
      if (v.runstate >= RUNSTATE.blocked) this.runstateChange(v, RUNSTATE.runnable);
      const pool = v.domain.pool;
      this.onCpu(v.res, () => this.call(pool, 'wake', () => pool.ops.wake?.(pool.g, v)));
    } else if (!(v.pauseFlags & VPF.blocked) && v.runstate === RUNSTATE.blocked) {
      this.runstateChange(v, RUNSTATE.offline);
    }
  }

  /** vcpu_sleep_nosync. */
  sleepNosync(v: Vcpu): void {
    if (v.isIdle) return;
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: v.res, type: 'sleep', dom: v.domain.id, vcpu: v.id });
    if (!v.runnable) {
      if (v.runstate === RUNSTATE.runnable) this.runstateChange(v, RUNSTATE.offline);
      const pool = v.domain.pool;
      this.onCpu(v.res, () => this.call(pool, 'sleep', () => pool.ops.sleep?.(pool.g, v)));
      // Enforced here, whatever the policy did: a vCPU that cannot run does not stay on a pCPU.
      if (v.isRunning) this.raise(v.res);
    }
  }

  /** vcpu_block: block unless events are already waiting. */
  block(v: Vcpu): void {
    v.pauseFlags |= VPF.blocked;
    if (this.hooks.eventsNeedDelivery(v)) {
      v.pauseFlags &= ~VPF.blocked;
      return;
    }
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: v.res, type: 'block', dom: v.domain.id, vcpu: v.id });
    this.raise(v.res);
  }

  /** vcpu_unblock. */
  unblock(v: Vcpu): void {
    if (!(v.pauseFlags & VPF.blocked)) return;
    v.pauseFlags &= ~VPF.blocked;
    if (v.polling) {
      v.polling = false;
      v.pollEvtchn = 0;
      v.pollTimer?.cancel();
      v.pollTimer = null;
    }
    this.wake(v);
  }

  /** vcpu_yield. */
  yield(v: Vcpu): void {
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: v.res, type: 'yield', dom: v.domain.id, vcpu: v.id });
    v.yielding = true;
    const pool = v.domain.pool;
    this.onCpu(v.res, () => this.call(pool, 'yield', () => pool.ops.yield?.(pool.g, v)));
    this.raise(v.res);
  }

  pauseVcpu(v: Vcpu): void {
    v.pauseCount++;
    this.sleepNosync(v);
  }
  unpauseVcpu(v: Vcpu): void {
    if (--v.pauseCount === 0) this.wake(v);
  }
  setPauseFlag(v: Vcpu, flag: number): void {
    v.pauseFlags |= flag;
    this.sleepNosync(v);
  }
  clearPauseFlag(v: Vcpu, flag: number): void {
    if (!(v.pauseFlags & flag)) return;
    v.pauseFlags &= ~flag;
    this.wake(v);
  }
  pauseDomain(d: Domain): void {
    d.pauseCount++;
    for (const v of d.vcpus) this.sleepNosync(v);
  }
  unpauseDomain(d: Domain): void {
    if (--d.pauseCount === 0) for (const v of d.vcpus) this.wake(v);
  }

  stopTimers(v: Vcpu): void {
    v.singleshot?.cancel();
    v.singleshot = null;
    v.periodic?.cancel();
    v.periodic = null;
    v.pollTimer?.cancel();
    v.pollTimer = null;
  }

  // ---------------------------------------------------------------- affinity and migration

  /** vcpu_set_affinity; returns 0 or -EINVAL (hard mask outside the pool). */
  setAffinity(v: Vcpu, hard: CpuSet | null, soft: CpuSet | null): number {
    const pool = v.domain.pool;
    if (hard && !hard.intersects(pool.cpus)) return -Errno.EINVAL;
    this.call(pool, 'adjustAffinity', () => pool.ops.adjustAffinity?.(pool.g, v, hard, soft));
    if (hard) v.hardAffinity = hard;
    if (soft) v.softAffinity = soft;
    if (!v.hardAffinity.has(v.res)) this.migrate(v, false);
    // Ours, beyond Xen (which only re-places on a hard-affinity change): a vCPU whose soft affinity
    // now excludes its pCPU is re-placed, so that policies without their own balancing honour it too.
    else if (soft && hasSoftAffinity(v, pool.cpus) && !balanceMask(v, BALANCE_SOFT).has(v.res)) this.migrate(v, false);
    return 0;
  }

  /** sched_unit_migrate_start/finish: sleep, then re-place once it is off its pCPU. */
  migrate(v: Vcpu, now: boolean): void {
    v.pauseFlags |= VPF.migrating;
    this.sleepNosync(v);
    if (v.isRunning && now) this.forceReschedule(v.res);
    if (!v.isRunning) this.finishMigrate(v);
    else this.migrating.add(v);
  }

  private finishMigrate(v: Vcpu): void {
    this.migrating.delete(v);
    const pool = v.domain.pool;
    const old = v.res;
    // No pCPU of its pool left in its hard affinity (its pCPUs were removed from the pool): break
    // the affinity, as Xen's cpu_disable_scheduler does ("Breaking affinity").
    if (!v.hardAffinity.intersects(pool.cpus)) v.hardAffinity = CpuSet.range(this.pcpus.length);
    let cpu = this.call(pool, 'pickResource', () => pool.ops.pickResource(pool.g, v));
    if (cpu === undefined || !pool.cpuIds.has(cpu) || !v.hardAffinity.has(cpu)) {
      if (cpu !== undefined) this.reportPolicyError(pool, 'pickResource', `picked cpu ${cpu} outside ${v}'s affinity or pool`);
      cpu = v.hardAffinity.and(pool.cpus).first() ?? pool.cpus.first()!;
    }
    if (pool.ops.migrate) this.call(pool, 'migrate', () => pool.ops.migrate!(pool.g, v, cpu));
    v.res = cpu;
    if (old !== cpu && this.trace.on) this.trace.emit({ t: this.now(), cpu: old, type: 'migrate', dom: v.domain.id, vcpu: v.id, from: old, to: cpu });
    this.clearPauseFlag(v, VPF.migrating);
  }

  // ---------------------------------------------------------------- the scheduling softirq

  /** cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ): schedule(cpu) runs softirqNs later, after this instant settles. */
  raise(cpu: PcpuId): void {
    const pc = this.pcpus[cpu];
    if (pc.softirq?.pending) return;
    pc.softirq = this.engine.at(this.now() + this.costs.softirqNs, Prio.SCHED, () => {
      pc.softirq = null;
      this.schedule(cpu);
    });
  }

  /** Whether a reschedule is pending on `cpu` at this instant. */
  reschedulePending(cpu: PcpuId): boolean {
    return this.pcpus[cpu].softirq?.pending ?? false;
  }

  schedule(cpu: PcpuId): void {
    const pc = this.pcpus[cpu];
    const now = this.now();
    pc.sTimer?.cancel();
    pc.sTimer = null;
    pc.decisions++;
    const prev = pc.curr;
    if (!prev.isIdle) this.executor.stop(prev);
    let d: SchedDecision;
    const pool = pc.pool;
    if (!pool) d = { next: pc.idle, sliceNs: -1 };
    else {
      d = this.onCpu(cpu, () => this.call(pool, 'doSchedule', () => pool.ops.doSchedule(pool.g, prev, now, cpu, false))) ?? { next: pc.idle, sliceNs: 1_000_000 };
      const why = this.refuse(pc, d.next as Vcpu);
      if (why) {
        this.reportPolicyError(pool, 'doSchedule', why);
        d = { next: prev.runnable && !prev.isIdle && !this.refuse(pc, prev) ? prev : pc.idle, sliceNs: 1_000_000 };
      }
    }
    prev.yielding = false;
    this.switchTo(pc, d.next as Vcpu, d.sliceNs);
  }

  /** Why the framework refuses to run `v` on `pc`, or null if it may. */
  private refuse(pc: Pcpu, v: Vcpu): string | null {
    if (!v) return 'returned no unit';
    if (v === pc.idle) return null;
    if (v.isIdle) return `returned the idle unit of cpu ${v.res}`;
    if (v.domain.pool !== pc.pool) return `returned ${v}, which is not in this pool`;
    if (!v.runnable) return `picked ${v}, which is not runnable`;
    if (v.isRunning && v !== pc.curr) return `picked ${v}, already running on cpu ${v.res}`;
    if (!v.hardAffinity.has(pc.id)) return `picked ${v} outside its hard affinity`;
    return null;
  }

  private switchTo(pc: Pcpu, next: Vcpu, sliceNs: Ns): void {
    const now = this.now();
    const prev = pc.curr;
    if (sliceNs >= 0) {
      pc.sTimer = this.engine.at(now + Math.max(0, Math.round(sliceNs)), Prio.TIMER, () => {
        pc.sTimer = null;
        this.raise(pc.id);
      });
    }
    if (next === prev) {
      if (this.trace.on) this.trace.emit({ t: now, cpu: pc.id, type: 'continue', dom: prev.domain.id, vcpu: prev.id, ran: now - pc.switchedAt, slice: sliceNs });
      if (!prev.isIdle) this.executor.run(prev, pc, 0);
      return;
    }
    if (next.res !== pc.id) {
      if (this.trace.on) this.trace.emit({ t: now, cpu: pc.id, type: 'migrate', dom: next.domain.id, vcpu: next.id, from: next.res, to: pc.id });
      next.res = pc.id;
    }
    if (this.trace.on)
      this.trace.emit({
        t: now,
        cpu: pc.id,
        type: 'switch',
        prevDom: prev.domain.id,
        prevVcpu: prev.id,
        nextDom: next.domain.id,
        nextVcpu: next.id,
        prevRan: now - pc.switchedAt,
        nextWaited: next.runstate === RUNSTATE.runnable ? now - next.stateEntryTime : 0,
        slice: sliceNs,
      });
    prev.isRunning = false;
    this.runstateChange(prev, prev.isIdle || prev.runnable ? RUNSTATE.runnable : prev.pauseFlags & VPF.blocked ? RUNSTATE.blocked : RUNSTATE.offline, now);
    this.runstateChange(next, RUNSTATE.running, now);
    next.isRunning = true;
    pc.curr = next;
    pc.switchedAt = now;
    if (!prev.isIdle) {
      // prev's stint touched its working set: it is now the most recent data in this cache
      pc.cacheTouched += Math.min(prev.workingSet, this.costs.cacheBytes);
      prev.lastCpu = pc.id;
      prev.cacheMark = pc.cacheTouched;
    }
    if (!next.isIdle) this.executor.run(next, pc, this.switchCost(pc, next));
    if (!prev.isIdle) {
      const pool = prev.domain.pool;
      this.call(pool, 'contextSaved', () => pool.ops.contextSaved?.(pool.g, prev));
      if (this.migrating.has(prev)) this.finishMigrate(prev);
    }
  }

  /**
   * Fixed switch cost + TLB refill + reload of the evicted part of next's working set. The cache is
   * modelled as LRU by stack distance: next's data survives while what others touched on this pCPU
   * since next left, plus next's own working set, fits in the cache; beyond that the excess is
   * evicted (all of it when next last ran elsewhere, or never).
   */
  private switchCost(pc: Pcpu, next: Vcpu): Ns {
    const c = this.costs;
    const ws = Math.min(next.workingSet, c.cacheBytes);
    let missing = ws;
    if (next.lastCpu === pc.id) {
      const others = pc.cacheTouched - next.cacheMark;
      missing = Math.min(ws, Math.max(0, others + ws - c.cacheBytes));
    }
    return c.switchNs + c.tlbRefillNs + Math.round(missing / c.refillBytesPerNs);
  }

  // ---------------------------------------------------------------- adjust

  /** `mem`: the caller's memory, for guest handles in the payload (none given: every access faults). */
  adjust(d: Domain, cmd: number, u: ByteAccess, mem: ByteAccess = NO_MEMORY): number {
    const pool = d.pool;
    if (!pool.ops.adjust) return -Errno.EINVAL;
    const rc = this.callAdjust(pool, 'adjust', () => pool.ops.adjust!(pool.g, d, cmd, u, mem));
    if (rc === 0 && this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'adjdom', dom: d.id });
    return rc;
  }

  adjustGlobal(pool: Cpupool, cmd: number, u: ByteAccess, mem: ByteAccess = NO_MEMORY): number {
    if (!pool.ops.adjustGlobal) return -Errno.EINVAL;
    return this.callAdjust(pool, 'adjustGlobal', () => pool.ops.adjustGlobal!(pool.g, cmd, u, mem));
  }

  private callAdjust(pool: Cpupool, hook: string, fn: () => number): number {
    try {
      const rc = fn();
      return Number.isInteger(rc) ? rc : -Errno.EINVAL;
    } catch (e) {
      if (e instanceof GuestFault) return -Errno.EFAULT;
      this.reportPolicyError(pool, hook, String((e as Error)?.message ?? e));
      return -Errno.EINVAL;
    }
  }

  // ---------------------------------------------------------------- policy plumbing

  /** The pCPU a policy hook runs on (its trace records go there, as Xen's go to the executing CPU); -1: none. */
  private hookCpu = -1;
  private onCpu<T>(cpu: number, fn: () => T): T {
    const saved = this.hookCpu;
    this.hookCpu = cpu;
    try {
      return fn();
    } finally {
      this.hookCpu = saved;
    }
  }

  /** Call a policy hook; an exception is reported with the policy's and hook's names. */
  private call<T>(pool: Cpupool, hook: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.reportPolicyError(pool, hook, String((e as Error)?.stack ?? e));
      return undefined as T;
    }
  }

  reportPolicyError(pool: Cpupool, hook: string, message: string): void {
    const line = `scheduler "${pool.ops.optName}" (pool ${pool.id}) ${hook}: ${message.split('\n')[0]}`;
    this.policyErrors.push(line);
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'policy_error', pool: pool.id, policy: pool.ops.optName, hook, message });
  }

  private makeContext(pool: Cpupool): SchedContext {
    const fw = this;
    const engine = this.engine;
    return {
      poolId: pool.id,
      topology: this.topology,
      rng: engine.rng.stream(`pool:${pool.id}:${pool.ops.optName}`),
      now: () => engine.now(),
      cpus: () => pool.cpus,
      idleUnit: (cpu) => fw.pcpus[cpu].idle,
      pdata: <P>(cpu: PcpuId) => fw.pcpus[cpu].priv as P,
      curr: (cpu) => fw.pcpus[cpu].curr,
      tickle: (cpu) => {
        if (fw.pcpus[cpu]?.pool === pool) fw.raise(cpu);
      },
      timer: (fn) => new Timer(engine, () => fw.call(pool, 'timer', fn)),
      park: (unit, parked) => {
        const v = unit as Vcpu;
        if (parked) fw.setPauseFlag(v, VPF.parked);
        else fw.clearPauseFlag(v, VPF.parked);
      },
      requestMigrate: (unit) => fw.migrate(unit as Vcpu, false),
      trace: (event, data) => {
        if (!fw.trace.on) return;
        const ops = pool.ops;
        fw.trace.emit({ t: engine.now(), cpu: fw.hookCpu, type: 'policy', policy: ops.optName, traceClass: ops.traceClass ?? 7, event, name: ops.traceEvents?.[event] ?? `event${event}`, data: data.slice(0, 7) });
      },
      domains: () => [...pool.domains],
    };
  }

  // ---------------------------------------------------------------- checks

  checkInvariants(domains: Iterable<Domain>): string[] {
    const errs: string[] = [];
    const now = this.now();
    const current = new Map<Vcpu, number>();
    for (const pc of this.pcpus) {
      if (current.has(pc.curr)) errs.push(`${pc.curr} current on cpus ${current.get(pc.curr)} and ${pc.id}`);
      current.set(pc.curr, pc.id);
      const v = pc.curr;
      if (!v.isRunning) errs.push(`cpu ${pc.id}: current ${v} not marked running`);
      if (v.runstate !== RUNSTATE.running) errs.push(`cpu ${pc.id}: current ${v} in runstate ${v.runstate}`);
      if (!v.isIdle && !v.runnable && !this.reschedulePending(pc.id))
        errs.push(`cpu ${pc.id}: ${v} is not runnable, runs, and no reschedule is pending`);
    }
    const check = (v: Vcpu, created: Ns) => {
      const sum = v.runstateTime[0] + v.runstateTime[1] + v.runstateTime[2] + v.runstateTime[3] + (now - v.stateEntryTime);
      if (sum !== now - created) errs.push(`${v}: runstate times sum to ${sum}, elapsed ${now - created}`);
      if (v.isRunning !== current.has(v)) errs.push(`${v}: isRunning=${v.isRunning} disagrees with pCPUs`);
      if (!v.isRunning && !v.isIdle) {
        const want = v.runnable ? RUNSTATE.runnable : v.pauseFlags & VPF.blocked ? RUNSTATE.blocked : RUNSTATE.offline;
        if (v.runstate !== want) errs.push(`${v}: runstate ${v.runstate}, expected ${want}`);
      }
    };
    for (const pc of this.pcpus) check(pc.idle, 0);
    for (const d of domains) if (d.alive) for (const v of d.vcpus) check(v, d.createdAt);
    return errs;
  }
}

/** Caller memory when none is given: every access is a guest fault (-EFAULT). */
const fault = (addr: number, write: boolean): never => {
  throw new GuestFault(addr, write, 'no caller memory');
};
const NO_MEMORY: ByteAccess = {
  getU8: (a) => fault(a, false),
  setU8: (a) => fault(a, true),
  getU16: (a) => fault(a, false),
  setU16: (a) => fault(a, true),
  getU32: (a) => fault(a, false),
  setU32: (a) => fault(a, true),
  getU64: (a) => fault(a, false),
  setU64: (a) => fault(a, true),
  getBytes: (a) => fault(a, false),
  setBytes: (a) => fault(a, true),
};

/** A policy timer on the engine (Prio.TIMER). */
class Timer implements PolicyTimer {
  private h: EventHandle | null = null;
  expires: Ns = 0;
  constructor(
    private readonly engine: Engine,
    private readonly fn: () => void,
  ) {}
  set(at: Ns): void {
    this.h?.cancel();
    this.expires = Math.max(Math.round(at), this.engine.now());
    this.h = this.engine.at(this.expires, Prio.TIMER, () => {
      this.h = null;
      this.fn();
    });
  }
  stop(): void {
    this.h?.cancel();
    this.h = null;
  }
  get pending(): boolean {
    return this.h?.pending ?? false;
  }
}

export { pcpuid };
