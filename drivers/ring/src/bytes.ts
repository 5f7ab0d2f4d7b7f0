/**
 * A private copy of ring bytes. The consumer copies an entry out of shared memory before decoding
 * it (RING_COPY_REQUEST), so the peer cannot change a field between two reads of it ("double
 * fetch"). Kept local so this package imports nothing from core at run time.
 */
import type { ByteAccess } from '@xenotype/core';

export class LocalBytes implements ByteAccess {
  constructor(readonly buf: Uint8Array) {}
  getU8(a: number): number {
    return this.buf[a] ?? 0;
  }
  setU8(a: number, v: number): void {
    this.buf[a] = v;
  }
  getU16(a: number): number {
    return this.getU8(a) | (this.getU8(a + 1) << 8);
  }
  setU16(a: number, v: number): void {
    this.setU8(a, v & 0xff);
    this.setU8(a + 1, (v >>> 8) & 0xff);
  }
  getU32(a: number): number {
    return (this.getU16(a) | (this.getU16(a + 2) << 16)) >>> 0;
  }
  setU32(a: number, v: number): void {
    this.setU16(a, v & 0xffff);
    this.setU16(a + 2, (v >>> 16) & 0xffff);
  }
  getU64(a: number): number {
    return this.getU32(a + 4) * 0x1_0000_0000 + this.getU32(a);
  }
  setU64(a: number, v: number): void {
    const hi = Math.floor(v / 0x1_0000_0000);
    this.setU32(a, (v - hi * 0x1_0000_0000) >>> 0);
    this.setU32(a + 4, hi >>> 0);
  }
  getBytes(a: number, len: number): Uint8Array {
    return this.buf.slice(a, a + len);
  }
  setBytes(a: number, data: Uint8Array): void {
    this.buf.set(data, a);
  }
}
