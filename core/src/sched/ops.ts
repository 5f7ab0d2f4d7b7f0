/**
 * The scheduling-policy interface, modelled on Xen 4.17's `struct scheduler`
 * (xen/common/sched/private.h; ../shared/reference/schedulers.md §1.2).
 *
 * A policy is one plain object filling these hooks; the framework (framework.ts) calls them at the
 * points Xen's core.c does and enforces the invariants, so a policy only *decides*:
 *  - a unit runs on at most one pCPU at a time;
 *  - a unit that is not runnable is never run (a pick of one is refused and reported);
 *  - do_schedule always names a unit (the idle unit when nothing else) and a slice (< 0: no timer).
 *
 * Type parameters are the policy's own records: G global (one per cpupool instance), P per pCPU,
 * D per domain, U per unit. Mandatory hooks are those Xen's scheduler_init() requires; the registry
 * refuses a policy that lacks one, naming it.
 */
import type { ByteAccess } from '../abi/bytes';
import type { Struct, Field } from '../abi/layout';
import type { DomId, PcpuId } from '../abi/types';
import type { Rng } from '../engine/rng';
import type { Ns } from '../engine/time';
import type { CpuSet } from '../machine/cpuset';
import type { Topology } from '../machine/topology';
import type { SchedUnit } from '../domain/vcpu';

export type { SchedUnit };

export interface SchedDecision {
  /** The unit to run next (ctx.idleUnit(cpu) for none). */
  next: SchedUnit;
  /** ns until the framework calls do_schedule again; < 0 means no timer. */
  sliceNs: Ns;
  /** Xen's next_task->migrated (informational: the framework moves the unit itself). */
  migrated?: boolean;
}

/** A timer owned by a policy (Xen policies' struct timer). Its callback runs at timer priority. */
export interface PolicyTimer {
  set(at: Ns): void;
  stop(): void;
  readonly pending: boolean;
  readonly expires: Ns;
}

/** What a domain looks like to a policy. */
export interface SchedDomain {
  readonly domid: DomId;
  readonly isPrivileged: boolean;
  readonly units: readonly SchedUnit[];
  readonly priv: unknown;
  /** The domain's handle (xen_domain_handle_t, 16 bytes: its UUID), as createdomain / setdomainhandle set it. */
  readonly handle: Uint8Array;
}

/** Capabilities the framework gives a policy instance: never the hypervisor itself. */
export interface SchedContext {
  readonly poolId: number;
  readonly topology: Topology;
  now(): Ns;
  /** The pCPUs currently in this pool. */
  cpus(): CpuSet;
  idleUnit(cpu: PcpuId): SchedUnit;
  /** This policy's per-pCPU record for `cpu` (Xen's get_sched_res(cpu)->sched_priv). */
  pdata<P = unknown>(cpu: PcpuId): P;
  /** The unit currently running on `cpu` (idle unit if none). */
  curr(cpu: PcpuId): SchedUnit;
  /** Ask `cpu` to run do_schedule soon (Xen's cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ)). */
  tickle(cpu: PcpuId): void;
  timer(fn: () => void): PolicyTimer;
  /** Pause or resume a unit for policy reasons (credit's cap parking, _VPF_parked). */
  park(unit: SchedUnit, parked: boolean): void;
  /** Move a unit to another pCPU through the framework (Xen's VPF_migrating path). */
  requestMigrate(unit: SchedUnit): void;
  /** A random stream private to this pool's policy instance (e.g. for lottery scheduling). */
  readonly rng: Rng;
  /**
   * Emit a policy-specific trace record: Xen's TRC_SCHED_CLASS_EVT(traceClass, event) with up to
   * seven u32 words of data (named in the policy's `traceEvents`).
   */
  trace(event: number, data: number[]): void;
  /** Domains in this pool (for accounting policies such as credit). */
  domains(): readonly SchedDomain[];
}

export interface ParamSpec {
  name: string;
  /** Field of the payload struct that carries it. */
  field: string;
  min: number;
  max: number;
  default: number;
  unit?: string;
  doc: string;
}

export interface SchedulerOps<G = unknown, P = unknown, D = unknown, U = unknown> {
  /** Human name, e.g. "Borrowed Virtual Time". */
  readonly name: string;
  /** Registry name (Xen's opt_name), e.g. "bvt". */
  readonly optName: string;
  /** XEN_SCHEDULER_* id carried by scheduler_op domctl/sysctl. */
  readonly schedId: number;
  /** One-paragraph description for `xt list-schedulers`. */
  readonly doc?: string;
  /** 3-bit scheduler id of TRC_SCHED_CLASS records (CSCHED 0, CSCHED2 1, ARINC653 3, RTDS 4, SNULL 5). */
  readonly traceClass?: number;
  /** Names of the policy's trace events by number (for readable trace exports). */
  readonly traceEvents?: Readonly<Record<number, string>>;
  /** Layout of the per-domain payload of XEN_DOMCTL_scheduler_op, and its parameters. */
  readonly domainParams?: { layout: Struct<Record<string, Field>>; params: ParamSpec[] };
  /** Layout of the per-pool payload of XEN_SYSCTL_scheduler_op, and its parameters. */
  readonly globalParams?: { layout: Struct<Record<string, Field>>; params: ParamSpec[] };

  // ---- mandatory ----
  init(ctx: SchedContext): G;
  deinit(g: G): void;
  allocUdata(g: G, unit: SchedUnit, domdata: D | undefined): U;
  freeUdata(g: G, udata: U): void;
  /** A pCPU joins this pool: install per-CPU state (the idle unit's udata is given). */
  switchSched(g: G, cpu: PcpuId, pdata: P | undefined, idleUdata: U): void;
  /** Choose a pCPU for `unit` within its hard affinity and the pool. */
  pickResource(g: G, unit: SchedUnit): PcpuId;
  doSchedule(g: G, prev: SchedUnit, now: Ns, cpu: PcpuId, taskletWork: boolean): SchedDecision;

  // ---- optional ----
  allocPdata?(g: G, cpu: PcpuId): P;
  freePdata?(g: G, pdata: P, cpu: PcpuId): void;
  deinitPdata?(g: G, pdata: P, cpu: PcpuId): void;
  allocDomdata?(g: G, dom: SchedDomain): D;
  freeDomdata?(g: G, domdata: D): void;
  insertUnit?(g: G, unit: SchedUnit): void;
  removeUnit?(g: G, unit: SchedUnit): void;
  sleep?(g: G, unit: SchedUnit): void;
  wake?(g: G, unit: SchedUnit): void;
  yield?(g: G, unit: SchedUnit): void;
  contextSaved?(g: G, unit: SchedUnit): void;
  migrate?(g: G, unit: SchedUnit, newCpu: PcpuId): void;
  /**
   * XEN_DOMCTL_scheduler_op: `u` is the payload window (domainParams.layout at offset 0). `mem` is
   * the caller's guest memory, for payloads that carry guest handles (RTDS's per-vCPU arrays): Xen's
   * copy_from/to_guest. A fault there becomes -EFAULT.
   */
  adjust?(g: G, dom: SchedDomain, cmd: number, u: ByteAccess, mem: ByteAccess): number;
  /** XEN_SYSCTL_scheduler_op: `u` is the payload window (globalParams.layout at offset 0); `mem` as for adjust (ARINC653's schedule handle). */
  adjustGlobal?(g: G, cmd: number, u: ByteAccess, mem: ByteAccess): number;
  adjustAffinity?(g: G, unit: SchedUnit, hard: CpuSet | null, soft: CpuSet | null): void;
  dumpSettings?(g: G): string;
  dumpCpuState?(g: G, cpu: PcpuId): string;
  moveTimers?(g: G, cpu: PcpuId): void;
}

export const MANDATORY_HOOKS = [
  'init',
  'deinit',
  'allocUdata',
  'freeUdata',
  'switchSched',
  'pickResource',
  'doSchedule',
] as const;

/** A policy with its records erased, as the framework stores it. */
export type AnySchedulerOps = SchedulerOps<any, any, any, any>;
