/**
 * The demo on real vCPUs (`xt demo --backend kvm`): the same host (one pCPU, dom0 in TypeScript)
 * and the same guests — five CPU hogs and the interactive guest — as xtkernel domains on KVM,
 * their work done in ring 3 at native speed, scheduled by the same policies in real time. What the
 * demo prints is then measured: CPU time from the runstate accounting, wake-up latency from the
 * trace's timestamps (the monotonic clock), and the guests' own counters.
 */
import { kvmPlatform, kvmStatus, type KvmPlatform } from '@xenotype/kvm';
import { xtkernelMissing } from '@xenotype/xtkernel';
import type { DomainSpec } from '../toolstack/builder';
import { xtkernelDomain } from '../kvm/xtkernel';

/** Why the KVM backend cannot run here, or null. */
export function kvmDemoUnavailable(): string | null {
  const s = kvmStatus();
  return s.ok ? xtkernelMissing() : s.reason;
}

export function kvmDemoPlatform(): KvmPlatform {
  const why = kvmDemoUnavailable();
  if (why) throw new Error(`the KVM backend is unavailable: ${why}`);
  return kvmPlatform();
}

/** A hog: count units of ring-3 work forever. */
export function kvmHog(name: string): DomainSpec {
  return xtkernelDomain({ name, app: 'hog', args: { chunk: 200_000 }, paused: true });
}

/** The interactive guest: wake every period (+ jitter from its seed), `work` ns of ring-3 work. */
export function kvmInteractive(name: string, p: { periodNs: number; jitterNs: number; workNs: number; seed: number }): DomainSpec {
  return xtkernelDomain({ name, app: 'interactive', args: { period: p.periodNs, jitter: p.jitterNs, work: p.workNs, seed: p.seed }, paused: true });
}
