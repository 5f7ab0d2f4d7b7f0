/**
 * A resolved scenario: what one run needs, as plain JSON data (it crosses worker threads and Redis),
 * with every parameter substituted, every unit converted and every name checked. A run is a pure
 * function of (ResolvedScenario, seed).
 */
import type { CostModel, TopologySpec } from '@xenotype/core';

export type Scalar = number | string | boolean;

export interface ResolvedPool {
  /** Index in the scenario; Pool-0 is index 0 (its cpupool id is 0; others get theirs at run time). */
  index: number;
  name: string;
  scheduler: string;
  cpus: number[];
  /** Per-pool parameters of its scheduler, by ParamSpec name, in the parameter's own unit. */
  params: Record<string, number>;
}

export interface ResolvedWorkload {
  type: string;
  /** Registered kernel, e.g. minios-cpuhog. */
  kernel: string;
  /** Parameters after unit conversion (ns, bytes, integers). */
  args: Record<string, number>;
  cmdline: string;
  /** CPU ns of one work unit, when the workload's unit is a fixed amount of CPU. */
  unitNs: number | null;
}

export interface ResolvedDevice {
  type: string;
  params: Record<string, unknown>;
}

export interface ResolvedDomain {
  name: string;
  group: string;
  memoryMiB: number;
  maxMemoryMiB: number;
  vcpus: number;
  /** Index into host.pools. */
  pool: number;
  weight: number;
  /** Per-domain parameters of its pool's scheduler, by ParamSpec name (weight mapping included). */
  sched: Record<string, number>;
  workload: ResolvedWorkload;
  devices: ResolvedDevice[];
  measure: { share: boolean; latency: boolean; throughput: boolean };
}

export interface ResolvedScenario {
  name: string;
  description: string;
  /** Every declared parameter's value for this run. */
  params: Record<string, Scalar>;
  host: {
    cpus: number | TopologySpec;
    nrCpus: number;
    memoryMiB: number;
    dom0: { memoryMiB: number; vcpus: number; weight: number; sched: Record<string, number> };
    costs: Partial<CostModel>;
    pools: ResolvedPool[];
  };
  domains: ResolvedDomain[];
  durationNs: number;
  warmupNs: number;
  timelineNs: number;
}
