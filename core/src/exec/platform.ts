/**
 * What a host gives the hypervisor to run on something other than pure simulation — DESIGN.md §4's
 * seams, filled by tools (core never imports a backend):
 *  - a clock: real, monotonic time for the engine instead of virtual time;
 *  - the TSC guests read (a real CPU's, at system time t) and its frequency;
 *  - host memory behind machine frames (one mapping a hardware backend also registers as guest RAM);
 *  - the vCPU executor: usually a router that sends each vCPU to its backend, the simulation's
 *    TypeScript kernels staying with the simulation executor.
 * A hypervisor given no platform is the deterministic simulation, unchanged.
 */
import type { RealClock } from '../engine/engine';
import type { Ns } from '../engine/time';
import type { HostMemory } from '../machine/frames';
import type { Executor } from '../sched/framework';
import type { Vcpu } from '../domain/vcpu';
import type { Hypervisor } from '../hypervisor';
import type { SimExecutor } from './sim-executor';

/** An execution backend: the framework's Executor, plus what the hypervisor tells it. */
export interface VcpuExecutor extends Executor {
  /**
   * Events became pending for `v` (evtchn_upcall_pending went 0 → 1): deliver its upcall. A
   * platform executor is told whether `v` runs or not; the simulation only while it runs.
   */
  interrupt(v: Vcpu): void;
  /** `v`'s domain crashed or is being destroyed: never run its code again. */
  kill(v: Vcpu): void;
}

export interface Platform {
  readonly clock?: RealClock;
  readonly tsc?: { readonly hz: number; at(t: Ns): number };
  memory?(nrFrames: number): HostMemory;
  executor?(hv: Hypervisor, sim: SimExecutor): VcpuExecutor;
}
