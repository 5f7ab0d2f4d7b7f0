/**
 * The cost model: named parameters for what virtualization costs in time, with documented
 * defaults. They are fixed before a run and never tuned to hit a result.
 *
 * Context switch = switchNs + tlbRefillNs + refill(working set). The refill term models a per-pCPU
 * LRU cache by stack distance: a vCPU switched in reloads the part of its working set (capped at the
 * cache size) that no longer fits once the bytes others touched there since it left are counted.
 * So domains whose working sets fit in the cache together switch almost for free, and once the
 * aggregate exceeds it every switch pays a full refill — the effect behind the paper's Figure 6.
 */
import type { Ns } from '../engine/time';

export interface CostModel {
  /** Fixed cost of a domain switch in the hypervisor (save/restore state, scheduler). */
  switchNs: Ns;
  /** TLB refill after the address-space switch (x86 of the paper's era had no tagged TLB). */
  tlbRefillNs: Ns;
  /** Per-pCPU cache that a working set competes for (bytes). */
  cacheBytes: number;
  /** Memory bandwidth for cache refills, bytes per ns (= GB/s). */
  refillBytesPerNs: number;
  /** CPU cost charged to a vCPU for each hypercall. */
  hypercallNs: Ns;
  /** Latency from an event becoming pending to a running vCPU taking the upcall. */
  upcallNs: Ns;
  /**
   * From raising the scheduling softirq to schedule() running on that pCPU: the rest of the
   * interrupt or hypercall that raised it, then the softirq entry (an IPI for a remote pCPU).
   */
  softirqNs: Ns;
}

/**
 * Defaults describe the paper's test machine (Dell 2650, 2.4 GHz Xeon, 512 KiB L2 per CPU, DDR
 * memory ≈ 2 GB/s sustained). switchNs follows the paper's 1–3 µs domain-switch overhead;
 * hypercallNs a few hundred cycles of trap and return; upcallNs an IPI plus the bounce frame;
 * softirqNs the interrupt-exit path that runs schedule().
 */
export const DEFAULT_COSTS: CostModel = {
  switchNs: 2_000,
  tlbRefillNs: 1_000,
  cacheBytes: 512 * 1024,
  refillBytesPerNs: 2.0,
  hypercallNs: 300,
  upcallNs: 1_000,
  softirqNs: 1_000,
};
