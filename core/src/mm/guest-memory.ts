/**
 * A domain's view of guest-physical memory: every access is translated through its P2M, so a guest
 * can touch only frames it owns, frames granted and mapped, or hypervisor frames shared with it.
 * An access to anything else raises GuestFault — for guest code that is a page fault (the domain is
 * crashed); for a hypercall handler it becomes -EFAULT.
 */
import { join64, split64, type ByteAccess } from '../abi/bytes';
import { PAGE_SHIFT, PAGE_SIZE, type Mfn } from '../abi/types';
import type { FrameStore } from '../machine/frames';
import { P2mType, type P2M } from './p2m';

export class GuestFault extends Error {
  constructor(
    readonly addr: number,
    readonly write: boolean,
    why: string,
  ) {
    super(`guest ${write ? 'write' : 'read'} fault at 0x${addr.toString(16)}: ${why}`);
    this.name = 'GuestFault';
  }
}

/** Thrown into guest code that exceeds its budget of operations without yielding. */
export class RunawayGuest extends Error {
  constructor(why: string) {
    super(`runaway guest: ${why}`);
    this.name = 'RunawayGuest';
  }
}

export class GuestMemory implements ByteAccess {
  /** Counts accesses; the executor sets a budget while guest code runs to catch runaways. */
  ops = 0;
  budget = Infinity;

  constructor(
    private readonly store: FrameStore,
    private readonly p2m: P2M,
  ) {}

  private frame(addr: number, write: boolean): Uint8Array {
    if (++this.ops > this.budget) throw new RunawayGuest('too many memory accesses without yielding');
    if (!(addr >= 0 && Number.isSafeInteger(addr))) throw new GuestFault(addr, write, 'bad address');
    const g = Math.floor(addr / PAGE_SIZE);
    const type = this.p2m.type(g);
    if (type === P2mType.none) throw new GuestFault(addr, write, 'unmapped gfn');
    if (write && type === P2mType.grantRo) throw new GuestFault(addr, write, 'read-only grant mapping');
    return this.store.bytes(this.p2m.lookup(g) as Mfn);
  }

  /** Machine frame behind a guest address, or -1 (for hypercall handlers that need the frame). */
  mfnOf(addr: number): number {
    return this.p2m.lookup(Math.floor(addr / PAGE_SIZE));
  }

  isMapped(addr: number, len: number, write = false): boolean {
    if (!(addr >= 0 && Number.isSafeInteger(addr + len)) || len < 0) return false;
    for (let g = Math.floor(addr / PAGE_SIZE); g <= Math.floor((addr + Math.max(len, 1) - 1) / PAGE_SIZE); g++) {
      const t = this.p2m.type(g);
      if (t === P2mType.none || (write && t === P2mType.grantRo)) return false;
    }
    return true;
  }

  getU8(a: number): number {
    return this.frame(a, false)[a & (PAGE_SIZE - 1)];
  }
  setU8(a: number, v: number): void {
    this.frame(a, true)[a & (PAGE_SIZE - 1)] = v;
  }
  getU16(a: number): number {
    const o = a & (PAGE_SIZE - 1);
    if (o > PAGE_SIZE - 2) return this.getU8(a) | (this.getU8(a + 1) << 8);
    const f = this.frame(a, false);
    return f[o] | (f[o + 1] << 8);
  }
  setU16(a: number, v: number): void {
    const o = a & (PAGE_SIZE - 1);
    if (o > PAGE_SIZE - 2) {
      this.setU8(a, v & 0xff);
      this.setU8(a + 1, (v >>> 8) & 0xff);
      return;
    }
    const f = this.frame(a, true);
    f[o] = v;
    f[o + 1] = v >>> 8;
  }
  getU32(a: number): number {
    const o = a & (PAGE_SIZE - 1);
    if (o > PAGE_SIZE - 4) return (this.getU16(a) | (this.getU16(a + 2) << 16)) >>> 0;
    const f = this.frame(a, false);
    return (f[o] | (f[o + 1] << 8) | (f[o + 2] << 16) | (f[o + 3] << 24)) >>> 0;
  }
  setU32(a: number, v: number): void {
    const o = a & (PAGE_SIZE - 1);
    if (o > PAGE_SIZE - 4) {
      this.setU16(a, v & 0xffff);
      this.setU16(a + 2, (v >>> 16) & 0xffff);
      return;
    }
    const f = this.frame(a, true);
    f[o] = v;
    f[o + 1] = v >>> 8;
    f[o + 2] = v >>> 16;
    f[o + 3] = v >>> 24;
  }
  getU64(a: number): number {
    return join64(this.getU32(a), this.getU32(a + 4));
  }
  setU64(a: number, v: number): void {
    const [lo, hi] = split64(v);
    this.setU32(a, lo);
    this.setU32(a + 4, hi);
  }
  getBytes(a: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const o = (a + done) & (PAGE_SIZE - 1);
      const n = Math.min(len - done, PAGE_SIZE - o);
      out.set(this.frame(a + done, false).subarray(o, o + n), done);
      done += n;
    }
    return out;
  }
  setBytes(a: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const o = (a + done) & (PAGE_SIZE - 1);
      const n = Math.min(data.length - done, PAGE_SIZE - o);
      this.frame(a + done, true).set(data.subarray(done, done + n), o);
      done += n;
    }
  }
}

export const gfnOfAddr = (addr: number): number => Math.floor(addr / PAGE_SIZE);
export const addrOfGfn = (g: number): number => g * PAGE_SIZE;
export { PAGE_SHIFT };
