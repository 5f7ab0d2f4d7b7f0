/**
 * The xenstore ring page (struct xenstore_domain_interface, io/xs_wire.h), sans IO: byte-stream
 * rings of 1024 bytes in each direction with free-running u32 indexes, over any ByteAccess (a
 * guest's own page, or dom0's grant mapping of it).
 *
 *   0     char req[1024]     guest → daemon
 *   1024  char rsp[1024]     daemon → guest
 *   2048  u32 req_cons, 2052 req_prod, 2056 rsp_cons, 2060 rsp_prod
 *   2064  u32 server_features, 2068 connection, 2072 error
 *
 * The byte at stream offset x sits at x & 1023; indexes are valid while prod − cons ≤ 1024. These
 * functions never notify: they return how many bytes moved, and the caller kicks the event
 * channel (either side signals after updating indexes). Indexes are read once per call and
 * checked; a peer's bad indexes give `null` (XENSTORE_ERROR_RINGIDX), never an exception.
 */
import type { ByteAccess } from '@xenotype/core';

export const XENSTORE_RING_SIZE = 1024;
export const RING = {
  REQ: 0,
  RSP: 1024,
  REQ_CONS: 2048,
  REQ_PROD: 2052,
  RSP_CONS: 2056,
  RSP_PROD: 2060,
  SERVER_FEATURES: 2064,
  CONNECTION: 2068,
  ERROR: 2072,
} as const;
export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;
export const XENSTORE_ERROR = { NONE: 0, COMM: 1, RINGIDX: 2, PROTO: 3 } as const;
export const XENSTORE_SERVER_FEATURE = { RECONNECTION: 1, ERROR: 2 } as const;

const MASK = XENSTORE_RING_SIZE - 1;

/** One direction of the ring: where its data, consumer and producer index live. */
export interface RingDir {
  readonly data: number;
  readonly cons: number;
  readonly prod: number;
}
export const REQ_RING: RingDir = { data: RING.REQ, cons: RING.REQ_CONS, prod: RING.REQ_PROD };
export const RSP_RING: RingDir = { data: RING.RSP, cons: RING.RSP_CONS, prod: RING.RSP_PROD };

/** Consume up to `max` bytes; null if the indexes are invalid. */
export function ringRead(mem: ByteAccess, base: number, d: RingDir, max = XENSTORE_RING_SIZE): Uint8Array | null {
  const cons = mem.getU32(base + d.cons);
  const prod = mem.getU32(base + d.prod);
  const avail = (prod - cons) >>> 0;
  if (avail > XENSTORE_RING_SIZE) return null;
  const n = Math.min(avail, max);
  if (n === 0) return EMPTY;
  const out = new Uint8Array(n);
  const at = cons & MASK;
  const first = Math.min(n, XENSTORE_RING_SIZE - at);
  out.set(mem.getBytes(base + d.data + at, first), 0);
  if (first < n) out.set(mem.getBytes(base + d.data, n - first), first);
  mem.setU32(base + d.cons, (cons + n) >>> 0);
  return out;
}

/** Produce as much of `data` (from `off`) as fits; returns bytes written, or -1 on invalid indexes. */
export function ringWrite(mem: ByteAccess, base: number, d: RingDir, data: Uint8Array, off = 0): number {
  const cons = mem.getU32(base + d.cons);
  const prod = mem.getU32(base + d.prod);
  const used = (prod - cons) >>> 0;
  if (used > XENSTORE_RING_SIZE) return -1;
  const n = Math.min(XENSTORE_RING_SIZE - used, data.length - off);
  if (n <= 0) return 0;
  const at = prod & MASK;
  const first = Math.min(n, XENSTORE_RING_SIZE - at);
  mem.setBytes(base + d.data + at, data.subarray(off, off + first));
  if (first < n) mem.setBytes(base + d.data, data.subarray(off + first, off + n));
  mem.setU32(base + d.prod, (prod + n) >>> 0);
  return n;
}

/** Bytes waiting to be consumed (0 when indexes are invalid). */
export function ringPending(mem: ByteAccess, base: number, d: RingDir): number {
  const avail = (mem.getU32(base + d.prod) - mem.getU32(base + d.cons)) >>> 0;
  return avail > XENSTORE_RING_SIZE ? 0 : avail;
}

/** Free space for the producer. */
export function ringSpace(mem: ByteAccess, base: number, d: RingDir): number {
  const used = (mem.getU32(base + d.prod) - mem.getU32(base + d.cons)) >>> 0;
  return used > XENSTORE_RING_SIZE ? 0 : XENSTORE_RING_SIZE - used;
}

/** domain_conn_reset: all four indexes to 0. */
export function ringReset(mem: ByteAccess, base: number): void {
  mem.setU32(base + RING.REQ_CONS, 0);
  mem.setU32(base + RING.REQ_PROD, 0);
  mem.setU32(base + RING.RSP_CONS, 0);
  mem.setU32(base + RING.RSP_PROD, 0);
}

const EMPTY = new Uint8Array(0);
