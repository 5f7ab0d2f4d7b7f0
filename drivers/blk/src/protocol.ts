/**
 * blkif — Xen's block-device protocol (io/blkif.h), sans-IO: the ring entries' byte layouts on
 * x86_64, their codecs, the operation and status codes, the xenstore node names of the handshake,
 * and the pure check a backend runs on every request before touching a byte of data.
 *
 * Ring entries (one 4 KiB page shared by front and back, io/ring.h's DEFINE_RING_TYPES):
 *
 *   struct blkif_request (112 bytes, align 8)
 *     0  u8   operation          BLKIF_OP_*
 *     1  u8   nr_segments        1..11 for read/write
 *     2  u16  handle             the vbd's devid (only meaningful for read/write)
 *     8  u64  id                 private to the frontend, echoed in the response
 *    16  u64  sector_number      start, in 512-byte sectors
 *    24  struct blkif_request_segment seg[11], 8 bytes each:
 *           0 u32 gref, 4 u8 first_sect, 5 u8 last_sect (inclusive; sectors within the 4 KiB page)
 *
 *   struct blkif_request_discard (32 bytes, the same slot read another way when operation = 5)
 *     0 u8 operation, 1 u8 flag (BLKIF_DISCARD_SECURE), 2 u16 handle, 8 u64 id,
 *    16 u64 sector_number, 24 u64 nr_sectors
 *
 *   struct blkif_request_indirect (64 bytes; decoded only to be refused, we offer no indirect)
 *   struct blkif_response (16 bytes): 0 u64 id, 8 u8 operation, 10 i16 status
 *
 * The ring entry is the union (112 bytes), so 32 entries fit in a page after the 64-byte header.
 * Sector quantities are in 512-byte units whatever the device's sector size unless the frontend
 * advertises feature-large-sector-size (we never do, and publish sector-size 512). Every offset
 * and constant here is checked against the C header by test/conformance/blkif.test.ts.
 *
 * Peer input never throws: decoding reads every field as its C type would hold it (ids as bigint,
 * so they are echoed exactly), and `checkRequest` turns a request into either a validated
 * operation or a coded refusal with the BLKIF_RSP_* status to answer.
 */
import type { ByteAccess } from '@xenotype/core';
import { ringSize, unionSize, type EntryCodec } from '@xenotype/ring';

export const BLKIF_OP = {
  READ: 0,
  WRITE: 1,
  WRITE_BARRIER: 2,
  FLUSH_DISKCACHE: 3,
  RESERVED_1: 4,
  DISCARD: 5,
  INDIRECT: 6,
} as const;

export const BLKIF_RSP = {
  /** Operation not supported (barriers, indirect, unknown operations). */
  EOPNOTSUPP: -2,
  /** Operation failed (-EIO): bad request, I/O error. */
  ERROR: -1,
  OKAY: 0,
} as const;
export type BlkifStatus = (typeof BLKIF_RSP)[keyof typeof BLKIF_RSP];

export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
export const BLKIF_DISCARD_SECURE = 1;
/** The "info" node's bits. */
export const VDISK = { CDROM: 0x1, REMOVABLE: 0x2, READONLY: 0x4 } as const;

/** The unit of every sector quantity on the ring and of the "sectors" node. */
export const BLKIF_SECTOR_SIZE = 512;
export const BLKIF_PAGE_SIZE = 4096;
/** Sectors one segment's page holds: first_sect and last_sect lie in [0, 7]. */
export const SECTORS_PER_PAGE = BLKIF_PAGE_SIZE / BLKIF_SECTOR_SIZE;
/** Most sectors one request moves (11 full pages, 44 KiB). */
export const MAX_SECTORS_PER_REQUEST = BLKIF_MAX_SEGMENTS_PER_REQUEST * SECTORS_PER_PAGE;

/** struct blkif_request_segment. */
export const BLKIF_SEGMENT = { gref: 0, firstSect: 4, lastSect: 5, size: 8 } as const;
/** struct blkif_request. */
export const BLKIF_REQUEST = { operation: 0, nrSegments: 1, handle: 2, id: 8, sectorNumber: 16, seg: 24, size: 112 } as const;
/** struct blkif_request_discard. */
export const BLKIF_REQUEST_DISCARD = { operation: 0, flag: 1, handle: 2, id: 8, sectorNumber: 16, nrSectors: 24, size: 32 } as const;
/** struct blkif_request_indirect (x86_64: no trailing pad). */
export const BLKIF_REQUEST_INDIRECT = { operation: 0, indirectOp: 1, nrSegments: 2, id: 8, sectorNumber: 16, handle: 24, indirectGrefs: 28, size: 64 } as const;
/** struct blkif_response. */
export const BLKIF_RESPONSE = { id: 0, operation: 8, status: 10, size: 16 } as const;

/** Entries in a one-page blkif ring (__CONST_RING_SIZE(blkif, 4096)). */
export const BLKIF_RING_SIZE = ringSize(unionSize({ size: BLKIF_REQUEST.size, align: 8 }, { size: BLKIF_RESPONSE.size, align: 8 }));

/** Backend and frontend xenstore nodes of a vbd (blkif.h's "Feature and Parameter Negotiation"). */
export const BLK_NODE = {
  // backend, written by the toolstack
  params: 'params',
  mode: 'mode',
  type: 'type',
  deviceType: 'device-type',
  dev: 'dev',
  removable: 'removable',
  bootable: 'bootable',
  discardEnable: 'discard-enable',
  // backend, written by blkback
  featureFlushCache: 'feature-flush-cache',
  featureBarrier: 'feature-barrier',
  featureDiscard: 'feature-discard',
  discardGranularity: 'discard-granularity',
  discardAlignment: 'discard-alignment',
  discardSecure: 'discard-secure',
  sectors: 'sectors',
  sectorSize: 'sector-size',
  physicalSectorSize: 'physical-sector-size',
  info: 'info',
  // frontend
  virtualDevice: 'virtual-device',
} as const;

// ---------------------------------------------------------------------------------------------
// Values

export interface BlkifSegment {
  gref: number;
  firstSect: number;
  lastSect: number;
}

/** A read, write, barrier or flush request (the struct blkif_request view). */
export interface BlkifRwRequest {
  readonly kind: 'rw';
  operation: number;
  /** As the frontend wrote it (may exceed 11: checked, not trusted). */
  nrSegments: number;
  handle: number;
  id: bigint;
  sectorNumber: number;
  /** The first min(nrSegments, 11) segments. */
  segments: BlkifSegment[];
}

export interface BlkifDiscardRequest {
  readonly kind: 'discard';
  operation: typeof BLKIF_OP.DISCARD;
  flag: number;
  handle: number;
  id: bigint;
  sectorNumber: number;
  nrSectors: number;
}

export interface BlkifIndirectRequest {
  readonly kind: 'indirect';
  operation: typeof BLKIF_OP.INDIRECT;
  indirectOp: number;
  nrSegments: number;
  handle: number;
  id: bigint;
  sectorNumber: number;
  indirectGrefs: number[];
}

/** Any other operation code: only its id is meaningful (it is answered EOPNOTSUPP). */
export interface BlkifOtherRequest {
  readonly kind: 'other';
  operation: number;
  id: bigint;
}

export type BlkifRequest = BlkifRwRequest | BlkifDiscardRequest | BlkifIndirectRequest | BlkifOtherRequest;

export interface BlkifResponse {
  id: bigint;
  operation: number;
  status: number;
}

// ---------------------------------------------------------------------------------------------
// Codecs

const TWO32 = 0x1_0000_0000n;

function getId(m: ByteAccess, a: number): bigint {
  return (BigInt(m.getU32(a + 4)) << 32n) | BigInt(m.getU32(a));
}

function setId(m: ByteAccess, a: number, id: bigint): void {
  const v = BigInt.asUintN(64, id);
  m.setU32(a, Number(v % TWO32));
  m.setU32(a + 4, Number(v / TWO32));
}

/** Decode one request slot (copied out of the ring first). Never throws. */
export function decodeRequest(m: ByteAccess, a: number): BlkifRequest {
  const operation = m.getU8(a + BLKIF_REQUEST.operation);
  const id = getId(m, a + BLKIF_REQUEST.id);
  switch (operation) {
    case BLKIF_OP.READ:
    case BLKIF_OP.WRITE:
    case BLKIF_OP.WRITE_BARRIER:
    case BLKIF_OP.FLUSH_DISKCACHE: {
      const nrSegments = m.getU8(a + BLKIF_REQUEST.nrSegments);
      const segments: BlkifSegment[] = [];
      for (let i = 0; i < Math.min(nrSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
        const s = a + BLKIF_REQUEST.seg + i * BLKIF_SEGMENT.size;
        segments.push({ gref: m.getU32(s + BLKIF_SEGMENT.gref), firstSect: m.getU8(s + BLKIF_SEGMENT.firstSect), lastSect: m.getU8(s + BLKIF_SEGMENT.lastSect) });
      }
      return { kind: 'rw', operation, nrSegments, handle: m.getU16(a + BLKIF_REQUEST.handle), id, sectorNumber: m.getU64(a + BLKIF_REQUEST.sectorNumber), segments };
    }
    case BLKIF_OP.DISCARD: {
      const D = BLKIF_REQUEST_DISCARD;
      return { kind: 'discard', operation, flag: m.getU8(a + D.flag), handle: m.getU16(a + D.handle), id, sectorNumber: m.getU64(a + D.sectorNumber), nrSectors: m.getU64(a + D.nrSectors) };
    }
    case BLKIF_OP.INDIRECT: {
      const I = BLKIF_REQUEST_INDIRECT;
      const indirectGrefs: number[] = [];
      for (let i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) indirectGrefs.push(m.getU32(a + I.indirectGrefs + 4 * i));
      return {
        kind: 'indirect',
        operation,
        indirectOp: m.getU8(a + I.indirectOp),
        nrSegments: m.getU16(a + I.nrSegments),
        handle: m.getU16(a + I.handle),
        id,
        sectorNumber: m.getU64(a + I.sectorNumber),
        indirectGrefs,
      };
    }
    default:
      return { kind: 'other', operation, id };
  }
}

/**
 * Encode a request into a slot: the 112 bytes are zeroed, then the fields of its view written.
 * Throws on values its C fields cannot hold (our own bug, never peer input).
 */
export function encodeRequest(m: ByteAccess, a: number, r: BlkifRequest): void {
  m.setBytes(a, new Uint8Array(BLKIF_REQUEST.size));
  const u8 = (v: number, what: string) => {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xff)) throw new RangeError(`blkif ${what} ${v} does not fit a u8`);
    return v;
  };
  m.setU8(a, u8(r.operation, 'operation'));
  setId(m, a + BLKIF_REQUEST.id, r.id);
  switch (r.kind) {
    case 'rw':
      if (r.segments.length > BLKIF_MAX_SEGMENTS_PER_REQUEST) throw new RangeError(`blkif request with ${r.segments.length} segments`);
      m.setU8(a + BLKIF_REQUEST.nrSegments, u8(r.nrSegments, 'nr_segments'));
      m.setU16(a + BLKIF_REQUEST.handle, r.handle);
      m.setU64(a + BLKIF_REQUEST.sectorNumber, r.sectorNumber);
      r.segments.forEach((s, i) => {
        const at = a + BLKIF_REQUEST.seg + i * BLKIF_SEGMENT.size;
        m.setU32(at + BLKIF_SEGMENT.gref, s.gref);
        m.setU8(at + BLKIF_SEGMENT.firstSect, u8(s.firstSect, 'first_sect'));
        m.setU8(at + BLKIF_SEGMENT.lastSect, u8(s.lastSect, 'last_sect'));
      });
      return;
    case 'discard':
      m.setU8(a + BLKIF_REQUEST_DISCARD.flag, u8(r.flag, 'flag'));
      m.setU16(a + BLKIF_REQUEST_DISCARD.handle, r.handle);
      m.setU64(a + BLKIF_REQUEST_DISCARD.sectorNumber, r.sectorNumber);
      m.setU64(a + BLKIF_REQUEST_DISCARD.nrSectors, r.nrSectors);
      return;
    case 'indirect': {
      const I = BLKIF_REQUEST_INDIRECT;
      m.setU8(a + I.indirectOp, u8(r.indirectOp, 'indirect_op'));
      m.setU16(a + I.nrSegments, r.nrSegments);
      m.setU64(a + I.sectorNumber, r.sectorNumber);
      m.setU16(a + I.handle, r.handle);
      r.indirectGrefs.slice(0, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST).forEach((g, i) => m.setU32(a + I.indirectGrefs + 4 * i, g));
      return;
    }
    case 'other':
      return;
  }
}

export function decodeResponse(m: ByteAccess, a: number): BlkifResponse {
  const raw = m.getU16(a + BLKIF_RESPONSE.status);
  return { id: getId(m, a + BLKIF_RESPONSE.id), operation: m.getU8(a + BLKIF_RESPONSE.operation), status: (raw << 16) >> 16 };
}

export function encodeResponse(m: ByteAccess, a: number, r: BlkifResponse): void {
  m.setBytes(a, new Uint8Array(BLKIF_RESPONSE.size));
  setId(m, a + BLKIF_RESPONSE.id, r.id);
  m.setU8(a + BLKIF_RESPONSE.operation, r.operation & 0xff);
  m.setU16(a + BLKIF_RESPONSE.status, r.status & 0xffff);
}

/** The request half of the blkif ring. */
export const blkifRequestCodec: EntryCodec<BlkifRequest> = { size: BLKIF_REQUEST.size, align: 8, read: decodeRequest, write: encodeRequest };
/** The response half of the blkif ring. */
export const blkifResponseCodec: EntryCodec<BlkifResponse> = { size: BLKIF_RESPONSE.size, align: 8, read: decodeResponse, write: encodeResponse };

// ---------------------------------------------------------------------------------------------
// The backend's check of a request

/** What the backend knows of the device it exports. */
export interface BlkGeometry {
  /** Size in 512-byte sectors. */
  sectors: number;
  readOnly: boolean;
  /** Whether feature-flush-cache was offered. */
  flush: boolean;
  /** Whether feature-discard was offered. */
  discard: boolean;
}

export type BlkRefusal =
  | 'no-segments'
  | 'too-many-segments'
  | 'bad-segment'
  | 'beyond-end'
  | 'read-only'
  | 'not-offered'
  | 'unsupported-op';

/** A request the backend may carry out: sectors and segments are within bounds. */
export type BlkCheckedOp =
  | { ok: true; op: 'read' | 'write'; operation: number; id: bigint; sector: number; nrSectors: number; segments: BlkifSegment[] }
  /** A flush, carrying writes (Linux's REQ_PREFLUSH|REQ_FUA) when it has segments. */
  | { ok: true; op: 'flush'; operation: number; id: bigint; sector: number; nrSectors: number; segments: BlkifSegment[] }
  | { ok: true; op: 'discard'; operation: number; id: bigint; sector: number; nrSectors: number; secure: boolean };

export type BlkChecked = BlkCheckedOp | { ok: false; operation: number; id: bigint; status: BlkifStatus; reason: BlkRefusal; message: string };

const refuse = (r: BlkifRequest, status: BlkifStatus, reason: BlkRefusal, message: string): BlkChecked => ({ ok: false, operation: r.operation, id: r.id, status, reason, message });

/** Sectors the segments cover (each segment's last_sect − first_sect + 1). */
export const segmentSectors = (segs: readonly BlkifSegment[]): number => segs.reduce((n, s) => n + s.lastSect - s.firstSect + 1, 0);

function checkSegments(r: BlkifRwRequest, allowNone: boolean): BlkChecked | null {
  if (r.nrSegments === 0 && !allowNone) return refuse(r, BLKIF_RSP.ERROR, 'no-segments', 'nr_segments is 0');
  if (r.nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return refuse(r, BLKIF_RSP.ERROR, 'too-many-segments', `nr_segments ${r.nrSegments} > ${BLKIF_MAX_SEGMENTS_PER_REQUEST}`);
  for (const [i, s] of r.segments.entries())
    if (s.lastSect >= SECTORS_PER_PAGE || s.lastSect < s.firstSect) return refuse(r, BLKIF_RSP.ERROR, 'bad-segment', `segment ${i}: sectors ${s.firstSect}..${s.lastSect}`);
  return null;
}

/**
 * What blkback's dispatch does before any I/O (Linux's dispatch_rw_block_io and
 * dispatch_discard_io checks): refuse a read or write with 0 or more than 11 segments, a segment
 * whose sectors are not ordered within its page, an access beyond the device's end, a write to a
 * read-only device; answer barriers, indirect requests and unknown operations EOPNOTSUPP, as
 * Linux's dispatch_other_io does. Grant references are checked by Xen when they are used.
 */
export function checkRequest(r: BlkifRequest, g: BlkGeometry): BlkChecked {
  switch (r.kind) {
    case 'other':
    case 'indirect':
      return refuse(r, BLKIF_RSP.EOPNOTSUPP, 'unsupported-op', `operation ${r.operation} is not supported`);
    case 'discard': {
      if (!g.discard) return refuse(r, BLKIF_RSP.EOPNOTSUPP, 'not-offered', 'discard was not offered');
      if (g.readOnly) return refuse(r, BLKIF_RSP.ERROR, 'read-only', 'discard on a read-only device');
      if (!(r.sectorNumber <= g.sectors && r.nrSectors <= g.sectors - r.sectorNumber))
        return refuse(r, BLKIF_RSP.ERROR, 'beyond-end', `discard of ${r.nrSectors} sectors at ${r.sectorNumber} beyond ${g.sectors}`);
      return { ok: true, op: 'discard', operation: r.operation, id: r.id, sector: r.sectorNumber, nrSectors: r.nrSectors, secure: (r.flag & BLKIF_DISCARD_SECURE) !== 0 };
    }
    case 'rw': {
      if (r.operation === BLKIF_OP.WRITE_BARRIER) return refuse(r, BLKIF_RSP.EOPNOTSUPP, 'unsupported-op', 'write barriers are not supported');
      const flush = r.operation === BLKIF_OP.FLUSH_DISKCACHE;
      if (flush && !g.flush) return refuse(r, BLKIF_RSP.EOPNOTSUPP, 'not-offered', 'flush was not offered');
      const bad = checkSegments(r, flush);
      if (bad) return bad;
      const write = r.operation !== BLKIF_OP.READ;
      if (write && g.readOnly && (r.nrSegments > 0 || !flush)) return refuse(r, BLKIF_RSP.ERROR, 'read-only', 'write to a read-only device');
      const n = segmentSectors(r.segments);
      if (n > 0 && !(r.sectorNumber <= g.sectors && n <= g.sectors - r.sectorNumber))
        return refuse(r, BLKIF_RSP.ERROR, 'beyond-end', `${n} sectors at ${r.sectorNumber} beyond ${g.sectors}`);
      return { ok: true, op: flush ? 'flush' : write ? 'write' : 'read', operation: r.operation, id: r.id, sector: r.sectorNumber, nrSectors: n, segments: r.segments };
    }
  }
}

/** io/blkif.h's "virtual-device" number of a Xen disk name: xvda → 51712 (202 << 8), xvdb → 51728, ... (docs/misc/vbd-interface). */
export function xvdDevid(disk: number, partition = 0): number {
  if (!(Number.isInteger(disk) && disk >= 0 && disk < 16 && Number.isInteger(partition) && partition >= 0 && partition < 16)) throw new RangeError(`xvd disk ${disk} partition ${partition}`);
  return (202 << 8) | (disk << 4) | partition;
}
