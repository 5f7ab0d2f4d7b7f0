/**
 * Little-endian access to bytes at addresses. Guest memory, a single frame and a scratch buffer all
 * implement this one interface, so struct layouts and protocol code never care which they touch.
 *
 * u64 values are JS numbers: exact below 2^53, which covers every address, frame number and
 * nanosecond count we handle; larger guest-supplied values read as large numbers and fail range
 * checks instead of wrapping.
 */
export interface ByteAccess {
  getU8(addr: number): number;
  setU8(addr: number, v: number): void;
  getU16(addr: number): number;
  setU16(addr: number, v: number): void;
  getU32(addr: number): number;
  setU32(addr: number, v: number): void;
  getU64(addr: number): number;
  setU64(addr: number, v: number): void;
  getBytes(addr: number, len: number): Uint8Array;
  setBytes(addr: number, data: Uint8Array): void;
}

const TWO32 = 0x1_0000_0000;

/** Split a (possibly negative) integer into the low and high 32-bit words of its 64-bit two's complement. */
export function split64(v: number): [lo: number, hi: number] {
  if (v >= 0) return [v % TWO32 >>> 0, Math.floor(v / TWO32) >>> 0];
  const hi = Math.floor(v / TWO32); // negative
  const lo = v - hi * TWO32;
  return [lo >>> 0, hi >>> 0];
}

export const join64 = (lo: number, hi: number): number => hi * TWO32 + lo;
export const joinS64 = (lo: number, hi: number): number => (hi | 0) * TWO32 + lo;

/** ByteAccess over one Uint8Array (a frame, a scratch buffer, a file image); addresses are offsets. */
export class BufferBytes implements ByteAccess {
  constructor(readonly buf: Uint8Array) {}

  getU8(a: number): number {
    return this.buf[a];
  }
  setU8(a: number, v: number): void {
    this.buf[a] = v;
  }
  getU16(a: number): number {
    const b = this.buf;
    return b[a] | (b[a + 1] << 8);
  }
  setU16(a: number, v: number): void {
    const b = this.buf;
    b[a] = v;
    b[a + 1] = v >>> 8;
  }
  getU32(a: number): number {
    const b = this.buf;
    return (b[a] | (b[a + 1] << 8) | (b[a + 2] << 16) | (b[a + 3] << 24)) >>> 0;
  }
  setU32(a: number, v: number): void {
    const b = this.buf;
    b[a] = v;
    b[a + 1] = v >>> 8;
    b[a + 2] = v >>> 16;
    b[a + 3] = v >>> 24;
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
    return this.buf.slice(a, a + len);
  }
  setBytes(a: number, data: Uint8Array): void {
    this.buf.set(data, a);
  }
}

/** A NUL-terminated string of at most `max` bytes at `addr`. */
export function readCString(m: ByteAccess, addr: number, max: number): string {
  const b = m.getBytes(addr, max);
  const end = b.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? b.subarray(0, end) : b);
}
