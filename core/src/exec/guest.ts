/**
 * What guest code is, in simulation: a kernel object whose per-vCPU body is a generator coroutine.
 *
 * A vCPU consumes CPU only by yielding `compute(ns)`; it gives the pCPU back by yielding `halt`
 * after a blocking hypercall (SCHEDOP_block / poll / yield). Hypercalls are synchronous calls: their
 * effect happens at the instant of the call, their modelled cost is charged as CPU time before the
 * vCPU's next wait completes. The hypervisor delivers event upcalls by calling `upcall` (the
 * callback Xen bounces to) with events masked, restoring the mask afterwards as iret does.
 */
import type { ByteAccess } from '../abi/bytes';
import type { Ns } from '../engine/time';

export type Wait =
  /** Use the CPU for `ns` of work touching `workingSet` bytes. */
  | { readonly kind: 'compute'; readonly ns: Ns; readonly workingSet?: number }
  /** Give the pCPU back until the vCPU next runs (after a blocking hypercall, or to let a yield happen). */
  | { readonly kind: 'halt' };

export const compute = (ns: Ns, workingSet?: number): Wait => ({ kind: 'compute', ns, workingSet });
export const HALT: Wait = { kind: 'halt' };

/** The registers a vCPU starts with (from the builder's vcpu_guest_context). */
export interface InitialRegs {
  readonly rip: number;
  readonly rsp: number;
  readonly rsi: number;
  readonly rdi: number;
  /** ctrlreg[3] of the builder's context (a real kernel's page tables); 0 if none. */
  readonly cr3?: number;
}

/** A vCPU as guest code sees it: registers, its memory, the hypercall instruction, the TSC. */
export interface GuestCpu {
  readonly domid: number;
  readonly vcpuId: number;
  readonly regs: InitialRegs;
  /** Guest-physical memory of this domain (faults on anything not mapped). */
  readonly mem: ByteAccess;
  /** The hypercall instruction: number and up to five register arguments; returns rax. */
  hypercall(nr: number, a1?: number, a2?: number, a3?: number, a4?: number, a5?: number): number;
  /** rdtsc. */
  tsc(): number;
  /** rdrand: 32 random bits from this domain's seeded stream (the only entropy a guest has). */
  rdrand(): number;
}

export interface GuestKernel {
  vcpuMain(cpu: GuestCpu): Generator<Wait, void, void>;
  upcall(cpu: GuestCpu): void;
}

/** Resolves a kernel image (from guest memory at the entry point) to kernel code. */
export type KernelLoader = (image: KernelImage) => GuestKernel | undefined;

export interface KernelImage {
  readonly name: string;
}
