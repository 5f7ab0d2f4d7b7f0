/**
 * Byte-stream rings: one direction of a console (io/console.h) or xenstore (io/xs_wire.h) page — a
 * power-of-two byte array with free-running u32 consumer and producer indices; the byte at stream
 * offset x sits at x & (size - 1), and a valid pair satisfies prod − cons ≤ size.
 *
 * Each end owns one index: the writer produces and reads the peer's cons; the reader consumes and
 * reads the peer's prod. Our own index is kept privately (initialised from the page at attach) and
 * only written to the page, so a peer scribbling on it cannot make us skip or replay bytes. The
 * peer's index is checked on every read: a value that would put more than `size` bytes in flight, or
 * that moved backwards, sets a sticky `fault` (as xenstored sets XENSTORE_ERROR_RINGIDX); a faulted
 * end moves no more bytes, returns 0 or an empty array, and never throws.
 *
 * Pure and sans-IO: no notification happens here; callers notify after a write or read that
 * changed an index (both console ends and both xenstore ends notify after every batch).
 */
import type { ByteAccess } from '@xenotype/core';

/** Where one direction lives in the shared page (byte offsets from the page base). */
export interface StreamLayout {
  /** Offset of the data array. */
  readonly data: number;
  /** Its size in bytes: a power of two. */
  readonly size: number;
  /** Offsets of the consumer and producer indices (u32). */
  readonly cons: number;
  readonly prod: number;
}

export interface StreamFault {
  readonly code: 'peer-index-out-of-range';
  readonly cons: number;
  readonly prod: number;
  readonly message: string;
}

const u32 = (x: number): number => x >>> 0;

function checkLayout(l: StreamLayout): void {
  if (!(l.size > 0 && (l.size & (l.size - 1)) === 0)) throw new RangeError(`stream ring size ${l.size} is not a power of two`);
}

abstract class StreamEnd {
  fault: StreamFault | null = null;
  constructor(
    readonly mem: ByteAccess,
    readonly base: number,
    readonly layout: StreamLayout,
  ) {
    checkLayout(layout);
  }

  protected get(off: number): number {
    return this.mem.getU32(this.base + off);
  }

  protected setFault(cons: number, prod: number): void {
    this.fault ??= { code: 'peer-index-out-of-range', cons, prod, message: `stream ring indices cons ${cons}, prod ${prod}: more than ${this.layout.size} bytes in flight` };
  }
}

/** The producing end of one direction. */
export class StreamWriter extends StreamEnd {
  /** Our producer index (the page's copy is written, never trusted). */
  prod: number;

  constructor(mem: ByteAccess, base: number, layout: StreamLayout) {
    super(mem, base, layout);
    this.prod = this.get(layout.prod);
  }

  /** Bytes that can be written now (0 when faulted). */
  free(): number {
    if (this.fault) return 0;
    const cons = this.get(this.layout.cons);
    const inFlight = u32(this.prod - cons);
    if (inFlight > this.layout.size) {
      this.setFault(cons, this.prod);
      return 0;
    }
    return this.layout.size - inFlight;
  }

  /** Bytes written and not yet consumed by the peer (0 when faulted). */
  pending(): number {
    const f = this.free();
    return this.fault ? 0 : this.layout.size - f;
  }

  /** Write as much of `data` as fits; returns how many bytes were written. */
  write(data: Uint8Array): number {
    const n = Math.min(this.free(), data.length);
    if (n === 0) return 0;
    const { size } = this.layout;
    const at = this.prod & (size - 1);
    const first = Math.min(n, size - at);
    this.mem.setBytes(this.base + this.layout.data + at, data.subarray(0, first));
    if (n > first) this.mem.setBytes(this.base + this.layout.data, data.subarray(first, n));
    this.prod = u32(this.prod + n);
    this.mem.setU32(this.base + this.layout.prod, this.prod); // after the data (wmb)
    return n;
  }
}

/** The consuming end of one direction. */
export class StreamReader extends StreamEnd {
  /** Our consumer index (the page's copy is written, never trusted). */
  cons: number;

  constructor(mem: ByteAccess, base: number, layout: StreamLayout) {
    super(mem, base, layout);
    this.cons = this.get(layout.cons);
  }

  /** Bytes waiting to be read (0 when faulted). */
  available(): number {
    if (this.fault) return 0;
    const prod = this.get(this.layout.prod);
    const n = u32(prod - this.cons);
    if (n > this.layout.size) {
      this.setFault(this.cons, prod);
      return 0;
    }
    return n;
  }

  /** Read up to `max` bytes (default: all available), advancing cons. */
  read(max = Infinity): Uint8Array {
    const n = Math.min(this.available(), max);
    if (n <= 0) return new Uint8Array(0);
    const { size } = this.layout;
    const at = this.cons & (size - 1);
    const first = Math.min(n, size - at);
    const out = new Uint8Array(n);
    out.set(this.mem.getBytes(this.base + this.layout.data + at, first), 0);
    if (n > first) out.set(this.mem.getBytes(this.base + this.layout.data, n - first), first);
    this.cons = u32(this.cons + n);
    this.mem.setU32(this.base + this.layout.cons, this.cons); // after the copy (mb)
    return out;
  }
}
