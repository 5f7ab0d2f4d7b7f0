/**
 * Xen's two-step affinity balancing for policies (xen/common/sched/private.h): placement code tries
 * the soft-affinity step first, then the hard one. One copy, for every policy.
 */
import type { CpuSet } from '../machine/cpuset';
import type { SchedUnit } from '../domain/vcpu';

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
