/**
 * Thin wrappers over the hypercall instruction that lay Xen's argument structs out in a per-vCPU
 * scratch page, as Mini-OS and Linux do. Results are checked: a negative errno becomes a XenError
 * (guest code may catch it; uncaught, it crashes this domain alone).
 */
import { HYPERVISOR, errnoName, type GuestCpu, type Struct, type Field, type Values } from '@xenotype/core';

export class XenError extends Error {
  constructor(
    readonly rc: number,
    readonly op: string,
  ) {
    super(`${op} failed: ${errnoName(rc)} (${rc})`);
    this.name = 'XenError';
  }
}

export const check = (rc: number, op: string): number => {
  if (rc < 0) throw new XenError(rc, op);
  return rc;
};

/** A scratch area in guest memory for one vCPU's hypercall arguments. */
export class Scratch {
  constructor(
    readonly cpu: GuestCpu,
    readonly addr: number,
    readonly size: number,
  ) {}

  /** Lay a struct at the start of scratch (zeroed, then fields), run `fn(addr)`, read it back. */
  call<F extends Record<string, Field>>(s: Struct<F>, v: Partial<Values<F>>, fn: (addr: number) => number, op: string): Values<F> {
    s.init(this.cpu.mem, this.addr, v);
    check(fn(this.addr), op);
    return s.read(this.cpu.mem, this.addr);
  }

  op(nr: keyof typeof HYPERVISOR, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    return this.cpu.hypercall(HYPERVISOR[nr], a1, a2, a3, a4, a5);
  }
}
