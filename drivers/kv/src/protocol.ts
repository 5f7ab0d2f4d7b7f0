/**
 * kvif — an example split device: a key-value store a guest reaches over an io/ring.h ring. The
 * protocol module of the device (protocol + backend + frontend, STYLE §8): entry layouts, codecs,
 * codes and the pure check a backend runs on every request. Bytes in, values out; nothing here
 * throws on peer input.
 *
 *   struct kvif_request {            64 bytes, 8-aligned
 *     uint64_t id;              0    chosen by the frontend, echoed in the response
 *     uint8_t  op;              8    KVIF_OP_GET / PUT / DEL
 *     uint8_t  flags;           9    KVIF_F_GREF: key and value are in the granted page `gref`
 *     uint16_t key_len;        10    1..KVIF_MAX_KEY
 *     uint32_t val_len;        12    PUT: the value's length; GET with KVIF_F_GREF: room at gref
 *     grant_ref_t gref;        16    the granted page (KVIF_F_GREF only)
 *     uint32_t pad;            20
 *     uint8_t  data[40];       24    without KVIF_F_GREF: the key, then a PUT's value
 *   };
 *   struct kvif_response {           64 bytes
 *     uint64_t id;              0
 *     int16_t  status;          8    KVIF_RSP_*
 *     uint16_t pad;            10
 *     uint32_t val_len;        12    GET: the value's length (also with KVIF_RSP_TOO_BIG)
 *     uint8_t  data[48];       16    GET without KVIF_F_GREF: the value, if it fits
 *   };
 *
 * 32 entries fit in a 4 KiB ring page. Small requests travel inline in the ring slot; a request
 * with a longer key or value names one granted page holding the key at offset 0 followed by the
 * value (PUT), and a GET writes the value at offset 0 of that page (the backend grant-copies; it
 * never maps the page). A GET whose value does not fit where the request asked answers
 * KVIF_RSP_TOO_BIG with the value's length, so the frontend can ask again with a page.
 * Xenstore: the frontend publishes ring-ref and event-channel (the generic xenbus nodes).
 */
import type { ByteAccess } from '@xenotype/core';
import { ringSize, unionSize, type EntryCodec } from '@xenotype/ring';

export const KVIF_OP = { GET: 0, PUT: 1, DEL: 2 } as const;
export type KvOp = (typeof KVIF_OP)[keyof typeof KVIF_OP];

export const KVIF_F_GREF = 1 << 0;

export const KVIF_RSP = {
  OKAY: 0,
  /** Malformed request (bad op, lengths, or a page Xen would not let us copy). */
  ERROR: -1,
  NOT_FOUND: -2,
  /** The value does not fit where the request asked for it; val_len says how long it is. */
  TOO_BIG: -3,
} as const;

export const KVIF_PAGE_SIZE = 4096;
export const KVIF_MAX_KEY = 255;
/** Inline bytes in a request (key + PUT value) and in a response (GET value). */
export const KVIF_REQ_INLINE = 40;
export const KVIF_RSP_INLINE = 48;
/** The largest value: a page less the shortest key. */
export const KVIF_MAX_VALUE = KVIF_PAGE_SIZE - 1;

export interface KvRequest {
  /** Echoed; a u64 as a JS number (exact below 2^53, ample for a counter). */
  id: number;
  op: number;
  flags: number;
  keyLen: number;
  valLen: number;
  gref: number;
  /** The 40 inline bytes. */
  data: Uint8Array;
}

export interface KvResponse {
  id: number;
  status: number;
  valLen: number;
  /** The 48 inline bytes. */
  data: Uint8Array;
}

const pad = (b: Uint8Array, n: number): Uint8Array => {
  const out = new Uint8Array(n);
  out.set(b.subarray(0, n));
  return out;
};

export const kvRequestCodec: EntryCodec<KvRequest> = {
  size: 64,
  read: (m: ByteAccess, a: number) => ({
    id: m.getU64(a),
    op: m.getU8(a + 8),
    flags: m.getU8(a + 9),
    keyLen: m.getU16(a + 10),
    valLen: m.getU32(a + 12),
    gref: m.getU32(a + 16),
    data: m.getBytes(a + 24, KVIF_REQ_INLINE),
  }),
  write: (m, a, v) => {
    m.setU64(a, v.id);
    m.setU8(a + 8, v.op);
    m.setU8(a + 9, v.flags);
    m.setU16(a + 10, v.keyLen);
    m.setU32(a + 12, v.valLen >>> 0);
    m.setU32(a + 16, v.gref >>> 0);
    m.setU32(a + 20, 0);
    m.setBytes(a + 24, pad(v.data, KVIF_REQ_INLINE));
  },
};

export const kvResponseCodec: EntryCodec<KvResponse> = {
  size: 64,
  read: (m, a) => ({ id: m.getU64(a), status: (m.getU16(a + 8) << 16) >> 16, valLen: m.getU32(a + 12), data: m.getBytes(a + 16, KVIF_RSP_INLINE) }),
  write: (m, a, v) => {
    m.setU64(a, v.id);
    m.setU16(a + 8, v.status & 0xffff);
    m.setU16(a + 10, 0);
    m.setU32(a + 12, v.valLen >>> 0);
    m.setBytes(a + 16, pad(v.data, KVIF_RSP_INLINE));
  },
};

/** Entries per ring page: (4096 - 64) / 64 = 63, rounded down to 32. */
export const KVIF_RING_SIZE = ringSize(unionSize(kvRequestCodec, kvResponseCodec));

/** A request the backend may carry out, or the status to refuse it with. */
export type Checked =
  | { ok: true; op: KvOp; keyLen: number; valLen: number; indirect: boolean }
  | { ok: false; status: number; why: string };

/** Validate a request's fields before touching any data (peer input: a value, never a throw). */
export function checkRequest(r: KvRequest): Checked {
  const bad = (why: string): Checked => ({ ok: false, status: KVIF_RSP.ERROR, why });
  if (r.op !== KVIF_OP.GET && r.op !== KVIF_OP.PUT && r.op !== KVIF_OP.DEL) return bad(`unknown op ${r.op}`);
  if (r.flags & ~KVIF_F_GREF) return bad(`unknown flags ${r.flags}`);
  if (r.keyLen < 1 || r.keyLen > KVIF_MAX_KEY) return bad(`key length ${r.keyLen} outside 1..${KVIF_MAX_KEY}`);
  const indirect = (r.flags & KVIF_F_GREF) !== 0;
  const room = indirect ? KVIF_PAGE_SIZE : KVIF_REQ_INLINE;
  if (r.op === KVIF_OP.PUT) {
    if (r.keyLen + r.valLen > room) return bad(`key ${r.keyLen} + value ${r.valLen} bytes exceed ${room}`);
  } else if (r.keyLen > room) return bad(`key of ${r.keyLen} bytes exceeds ${room}`);
  if (r.op === KVIF_OP.GET && indirect && r.valLen > KVIF_PAGE_SIZE) return bad(`reply room ${r.valLen} exceeds a page`);
  return { ok: true, op: r.op as KvOp, keyLen: r.keyLen, valLen: r.op === KVIF_OP.PUT ? r.valLen : 0, indirect };
}
