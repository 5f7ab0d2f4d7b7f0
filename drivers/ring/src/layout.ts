/**
 * The shared ring page of Xen's io/ring.h (DEFINE_RING_TYPES), x86_64:
 *
 *   offset  0  RING_IDX req_prod      written by the front (producer of requests)
 *   offset  4  RING_IDX req_event     written by the back  (notify me when req_prod passes this)
 *   offset  8  RING_IDX rsp_prod      written by the back  (producer of responses)
 *   offset 12  RING_IDX rsp_event     written by the front (notify me when rsp_prod passes this)
 *   offset 16  union pvt { netif.smartpoll_active; tapif_user.msg; uint8_t pvt_pad[4]; }
 *   offset 20  uint8_t __pad[44]
 *   offset 64  union { req; rsp; } ring[nr_ents]
 *
 * nr_ents (__RING_SIZE) is the number of entries that fit in the area after the header, rounded
 * down to a power of two, so an index is masked with (nr_ents - 1). An entry is the C union of the
 * request and response structs: the larger of the two, rounded up to the stricter alignment.
 * The conformance test (test/conformance/rings.test.ts) checks all of this against ring.h.
 */
import type { ByteAccess } from '@xenotype/core';

/** Byte offsets in the shared ring header. */
export const SRING = {
  reqProd: 0,
  reqEvent: 4,
  rspProd: 8,
  rspEvent: 12,
  pvt: 16,
  pad: 20,
  ring: 64,
} as const;

/** Size of the header before ring[0]. */
export const SRING_HEADER_SIZE = SRING.ring;
/** Xen's ring protocols use 4 KiB pages on every architecture (XEN_PAGE_SHIFT 12). */
export const XEN_PAGE_SIZE = 4096;

/** __RD32: round a 32-bit unsigned value down to a power of two (0 stays 0). */
export function rd32(x: number): number {
  x >>>= 0;
  if (x === 0) return 0;
  return 2 ** (31 - Math.clz32(x));
}

/** __CONST_RING_SIZE: entries of `entrySize` bytes in a shared area of `bytes` (default one page). */
export function ringSize(entrySize: number, bytes: number = XEN_PAGE_SIZE): number {
  if (!(Number.isInteger(entrySize) && entrySize > 0)) throw new RangeError(`bad ring entry size ${entrySize}`);
  if (bytes < SRING_HEADER_SIZE) return 0;
  return rd32(Math.floor((bytes - SRING_HEADER_SIZE) / entrySize));
}

/** What a ring needs to know of an entry type: its C size and alignment. */
export interface EntryShape {
  readonly size: number;
  /** C alignment of the struct (default 8, what a struct with a uint64_t member has on x86_64). */
  readonly align?: number;
}

/** sizeof(union { req; rsp; }): the larger size rounded up to the stricter alignment. */
export function unionSize(req: EntryShape, rsp: EntryShape): number {
  const align = Math.max(req.align ?? 8, rsp.align ?? 8);
  const size = Math.max(req.size, rsp.size);
  return Math.ceil(size / align) * align;
}

/** SHARED_RING_INIT: both producers 0, both event indices 1, the private and padding bytes 0. */
export function sharedRingInit(mem: ByteAccess, base: number): void {
  mem.setU32(base + SRING.reqProd, 0);
  mem.setU32(base + SRING.rspProd, 0);
  mem.setU32(base + SRING.reqEvent, 1);
  mem.setU32(base + SRING.rspEvent, 1);
  mem.setBytes(base + SRING.pvt, new Uint8Array(SRING_HEADER_SIZE - SRING.pvt));
}
