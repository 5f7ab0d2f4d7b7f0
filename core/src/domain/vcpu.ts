/**
 * A virtual CPU. With scheduling granularity 1 (Xen's default sched-gran=cpu) a vCPU is also the
 * scheduling unit, so it implements the read-only `SchedUnit` view policies see.
 *
 * Runnability follows Xen exactly: runnable ⇔ pauseFlags = 0 ∧ pauseCount = 0 ∧ domain pause = 0.
 * A vCPU that is not runnable is "blocked" if VPF_blocked is set, else "offline".
 */
import type { DomId, PcpuId, VcpuId } from '../abi/types';
import { RUNSTATE, type Runstate } from '../abi/xen';
import type { EventHandle } from '../engine/engine';
import type { Ns } from '../engine/time';
import { CpuSet } from '../machine/cpuset';
import type { Domain } from './domain';

/** Pause flags (VPF_* in xen/include/xen/sched.h). */
export const VPF = {
  blocked: 1 << 0,
  down: 1 << 1,
  blocked_in_xen: 1 << 2,
  migrating: 1 << 3,
  parked: 1 << 8,
} as const;

/** What a scheduling policy may read of a unit. Policies never write these fields. */
export interface SchedUnit {
  readonly domid: DomId;
  readonly vcpuId: VcpuId;
  readonly isIdle: boolean;
  /** The pCPU the unit is assigned to (Xen's unit->res). */
  readonly res: PcpuId;
  /** Currently on a pCPU. */
  readonly isRunning: boolean;
  /** Could run if picked (not blocked, paused, down or shut down). */
  readonly runnable: boolean;
  /** Not down (Xen's is_unit_online: VPF_down clear). */
  readonly online: boolean;
  readonly runstate: Runstate;
  readonly stateEntryTime: Ns;
  readonly hardAffinity: CpuSet;
  readonly softAffinity: CpuSet;
  /** The policy's per-unit record (from allocUdata). */
  readonly priv: unknown;
  /** The policy's per-domain record (from allocDomdata). */
  readonly domPriv: unknown;
  /** Working-set size in bytes of the burst the vCPU is executing (for cache-aware policies). */
  readonly workingSet: number;
}

export class Vcpu implements SchedUnit {
  pauseFlags: number = VPF.down;
  pauseCount = 0;
  res: PcpuId;
  isRunning = false;
  priv: unknown = undefined;
  hardAffinity: CpuSet;
  softAffinity: CpuSet;

  runstate: Runstate = RUNSTATE.offline;
  stateEntryTime: Ns;
  readonly runstateTime: [Ns, Ns, Ns, Ns] = [0, 0, 0, 0];
  /** Guest address of a registered vcpu_runstate_info, or 0. */
  runstateArea = 0;

  /** Where this vCPU's vcpu_info lives: a machine frame and offset (legacy slot in shared_info by default). */
  vcpuInfoMfn = -1;
  vcpuInfoOff = 0;

  /** Per-vCPU VIRQ bindings: virq → port (0 = unbound). */
  readonly virqToPort = new Int32Array(24);

  singleshot: EventHandle | null = null;
  periodic: EventHandle | null = null;
  periodicNs = 0;

  /** SCHEDOP_poll state (Xen's poll_mask bit and poll_evtchn). */
  polling = false;
  pollEvtchn = 0;
  pollTimer: EventHandle | null = null;

  /** Initial register state from setvcpucontext / VCPUOP_initialise (cr3: ctrlreg[3], 0 if unset). */
  initialised = false;
  regs = { rip: 0, rsp: 0, rsi: 0, rdi: 0, cr3: 0 };
  /** The per-vCPU event upcall vector (HVMOP_set_evtchn_upcall_vector), 0 if none. */
  upcallVector = 0;

  /** Set by SCHEDOP_yield; consumed by the policy. */
  yielding = false;
  /** Working set of the current burst (bytes). */
  workingSet = 0;
  /** Cache model: the pCPU this vCPU last ran on and that cache's clock when it left. */
  lastCpu = -1;
  /** Executor state (owned by the execution backend). */
  exec: unknown = undefined;
  cacheMark = 0;

  constructor(
    readonly domain: Domain,
    readonly id: VcpuId,
    initialCpu: PcpuId,
    now: Ns,
    allCpus: CpuSet,
  ) {
    this.res = initialCpu;
    this.stateEntryTime = now;
    this.hardAffinity = allCpus;
    this.softAffinity = allCpus;
  }

  get domid(): DomId {
    return this.domain.id;
  }
  get vcpuId(): VcpuId {
    return this.id;
  }
  get isIdle(): boolean {
    return this.domain.isIdle;
  }
  get domPriv(): unknown {
    return this.domain.schedPriv;
  }

  get runnable(): boolean {
    return this.pauseFlags === 0 && this.pauseCount === 0 && this.domain.pauseCount === 0;
  }

  get online(): boolean {
    return (this.pauseFlags & VPF.down) === 0;
  }

  /** Total CPU time consumed, including the current stint if running. */
  cpuTime(now: Ns): Ns {
    return this.runstateTime[RUNSTATE.running] + (this.runstate === RUNSTATE.running ? now - this.stateEntryTime : 0);
  }

  toString(): string {
    return `d${this.domain.id}v${this.id}`;
  }
}
