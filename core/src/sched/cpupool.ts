/**
 * A cpupool: a set of pCPUs with its own instance of a scheduling policy (Xen's struct cpupool and
 * the per-pool struct scheduler). Pool 0 ("Pool-0") holds dom0 and the boot scheduler.
 */
import type { PcpuId } from '../abi/types';
import { CpuSet } from '../machine/cpuset';
import type { Domain } from '../domain/domain';
import type { AnySchedulerOps, SchedContext } from './ops';

export class Cpupool {
  readonly cpuIds = new Set<PcpuId>();
  readonly domains = new Set<Domain>();
  /** Round-robin cursor for the initial pCPU of new vCPUs (sched_select_initial_cpu). */
  nextCpu = 0;
  g: unknown;
  ctx!: SchedContext;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly ops: AnySchedulerOps,
  ) {}

  get cpus(): CpuSet {
    return CpuSet.of(this.cpuIds);
  }
}
