/**
 * A domain: identity, privilege, lifecycle, vCPUs, memory, event channels, grant table and the
 * scheduler's per-domain record. Core mutates it only through the mechanisms (hypercalls, the
 * scheduler framework, the executor); tools see it only through hypercalls and the trace bus.
 *
 * Lifecycle: created paused (controller pause count 1) → running ⇄ paused → shutdown(reason)
 * (vCPUs paused, VIRQ_DOM_EXC to dom0) → dying (destroydomain: resources released) → dead (gone
 * once no frame of it is still referenced). A crash is shutdown with reason `crash`.
 */
import type { DomId, Mfn } from '../abi/types';
import { DOMID_IDLE } from '../abi/xen';
import type { Rng } from '../engine/rng';
import type { Ns } from '../engine/time';
import type { DomainMemory } from '../mm/memory';
import type { EvtchnState } from '../evtchn/evtchn';
import type { GrantTable } from '../grant/grant-table';
import type { Cpupool } from '../sched/cpupool';
import type { Vcpu } from './vcpu';
import type { SchedDomain } from '../sched/ops';

export const enum Dying {
  alive = 0,
  dying = 1,
  dead = 2,
}

export interface DomainConfig {
  maxVcpus: number;
  maxEvtchnPort: number;
  maxGrantFrames: number;
  maxMaptrackFrames: number;
  privileged: boolean;
  handle: Uint8Array;
  ssidref: number;
  /** XEN_DOMCTL_CDF_* given at creation (0 for the simulation's PV-like domains). */
  flags?: number;
}

export class Domain implements SchedDomain {
  readonly vcpus: Vcpu[] = [];
  /** Controller (toolstack) pause count; a new domain starts at 1. */
  pauseCount = 1;
  isShuttingDown = false;
  isShutDown = false;
  /** SHUTDOWN_* reason once set, else -1 (SHUTDOWN_CODE_INVALID). */
  shutdownCode = -1;
  crashReason: string | null = null;
  dying: Dying = Dying.alive;
  sharedInfoMfn: Mfn = -1 as Mfn;
  schedPriv: unknown = undefined;
  pool!: Cpupool;
  evtchn!: EvtchnState;
  grants!: GrantTable;
  /** Guest kernel instance, owned by the executor. */
  kernel: unknown = undefined;
  /** Hypervisor console output not yet terminated by a newline. */
  consoleLine = '';

  constructor(
    readonly id: DomId,
    readonly config: DomainConfig,
    readonly mem: DomainMemory,
    readonly rng: Rng,
    readonly createdAt: Ns,
  ) {}

  // SchedDomain view for policies.
  get domid(): DomId {
    return this.id;
  }
  get units(): readonly Vcpu[] {
    return this.vcpus;
  }
  get priv(): unknown {
    return this.schedPriv;
  }
  get handle(): Uint8Array {
    return this.config.handle;
  }

  get isPrivileged(): boolean {
    return this.config.privileged;
  }
  /** Created with XEN_DOMCTL_CDF_hvm: its vCPUs run real code (on a hardware backend). */
  get isHvm(): boolean {
    return ((this.config.flags ?? 0) & 1) !== 0;
  }
  get isIdle(): boolean {
    return this.id === DOMID_IDLE;
  }
  get alive(): boolean {
    return this.dying === Dying.alive;
  }
  /** Able to run guest code: alive and not shut down. */
  get active(): boolean {
    return this.dying === Dying.alive && !this.isShuttingDown;
  }

  toString(): string {
    return `d${this.id}`;
  }
}
