/**
 * Xen's two-step affinity balancing for policies (xen/common/sched/private.h): placement code tries
 * the soft-affinity step first, then the hard one. One copy, for every policy.
 */
import type { CpuSet } from '../machine/cpuset';
import type { SchedUnit } from '../domain/vcpu';
import type { PcpuId } from '../abi/types';

export const BALANCE_SOFT = 0;
export const BALANCE_HARD = 1;
export const BALANCE_STEPS = [BALANCE_SOFT, BALANCE_HARD] as const;

/**
 * has_soft_affinity: soft affinity that actually restricts — narrower than hard, meeting hard, and
 * narrower than the pool's pCPUs.
 */
export function hasSoftAffinity(unit: SchedUnit, poolCpus: CpuSet): boolean {
  const hard = unit.hardAffinity;
  const soft = unit.softAffinity;
  return !hard.subsetOf(soft) && soft.intersects(hard) && !poolCpus.subsetOf(soft);
}

/** affinity_balance_cpumask: soft ∩ hard (hard when that is empty) at the soft step, hard at the hard step. */
export function balanceMask(unit: SchedUnit, step: number): CpuSet {
  if (step === BALANCE_SOFT) {
    const m = unit.softAffinity.and(unit.hardAffinity);
    return m.isEmpty ? unit.hardAffinity : m;
  }
  return unit.hardAffinity;
}

/**
 * A pCPU for `unit` by two-step balancing: soft ∩ hard first (when soft affinity matters), then
 * hard — within the pool, staying put when allowed. `choose` picks among the allowed pCPUs at a step
 * (default: the current one if allowed, else the first); it returns undefined to try the next step.
 * Policies with their own placement (credit, credit2) use the mask helpers above instead.
 */
export function pickByAffinity(
  unit: SchedUnit,
  poolCpus: CpuSet,
  choose: (allowed: CpuSet, unit: SchedUnit) => PcpuId | undefined = (allowed, u) => (allowed.has(u.res) ? u.res : allowed.first()),
): PcpuId {
  for (const step of BALANCE_STEPS) {
    if (step === BALANCE_SOFT && !hasSoftAffinity(unit, poolCpus)) continue;
    const allowed = balanceMask(unit, step).and(poolCpus);
    if (allowed.isEmpty) continue;
    const cpu = choose(allowed, unit);
    if (cpu !== undefined) return cpu;
  }
  return unit.res;
}
