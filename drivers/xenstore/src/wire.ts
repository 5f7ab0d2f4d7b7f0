/**
 * xs_wire — the xenstore wire format of io/xs_wire.h, sans IO.
 *
 * A message is `struct xsd_sockmsg` (four little-endian u32: type, req_id, tx_id, len) followed by
 * `len` payload bytes, `len` ≤ XENSTORE_PAYLOAD_MAX (4096) in both directions. Payloads are
 * NUL-separated strings; a WRITE value is the raw bytes after the path's NUL.
 *
 * Strings on the server side are *byte strings*: each char is one byte (latin1), so tokens and
 * values round-trip exactly whatever their encoding. Clients that speak JS strings encode with UTF-8
 * (see `utf8`).
 *
 * The stream parser resumes: push chunks of any size, then call `next()` until it says `need`.
 * It never throws on peer input; a header with len > 4096 is a sticky `error` (xenstored drops such
 * a connection, or marks a ring XENSTORE_ERROR_PROTO).
 *
 * Invariants: `encode` never produces a payload over PAYLOAD_MAX (it throws: a bug in trusted
 * code); `XsParser` holds at most one partial message plus what was pushed after it.
 */

/** enum xsd_sockmsg_type. */
export const XS = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  /* 20 was XS_RESTRICT, removed */
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  TYPE_COUNT: 23,
  INVALID: 0xffff,
} as const;
export type XsType = (typeof XS)[keyof typeof XS];

/** Names of the message types, as xenstored's sockmsg_string prints them. */
export const XS_NAMES: Readonly<Record<number, string>> = {
  0: 'CONTROL',
  1: 'DIRECTORY',
  2: 'READ',
  3: 'GET_PERMS',
  4: 'WATCH',
  5: 'UNWATCH',
  6: 'TRANSACTION_START',
  7: 'TRANSACTION_END',
  8: 'INTRODUCE',
  9: 'RELEASE',
  10: 'GET_DOMAIN_PATH',
  11: 'WRITE',
  12: 'MKDIR',
  13: 'RM',
  14: 'SET_PERMS',
  15: 'WATCH_EVENT',
  16: 'ERROR',
  17: 'IS_DOMAIN_INTRODUCED',
  18: 'RESUME',
  19: 'SET_TARGET',
  21: 'RESET_WATCHES',
  22: 'DIRECTORY_PART',
};

export const HEADER_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

export interface XsMessage {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Uint8Array;
}

// ---------------------------------------------------------------- byte strings

const EMPTY = new Uint8Array(0);

/** Bytes → byte string (one char per byte). */
export function bstr(b: Uint8Array, start = 0, end = b.length): string {
  const n = end - start;
  if (n <= 0) return '';
  if (n <= 64) {
    // Paths and tokens are short: a plain loop allocates nothing but the string.
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
    return s;
  }
  if (n < 1024) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 1024) s += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + 1024)) as unknown as number[]);
  return s;
}

/** Byte string → bytes (chars above 0xff are a bug in trusted code). */
export function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Byte strings, each followed by a NUL: the usual payload shape. */
export function cstrings(...parts: string[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length + 1;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) out[o++] = p.charCodeAt(i);
    out[o++] = 0;
  }
  return out;
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: false });
/** UTF-8 for clients that hold JS strings. */
export const utf8 = {
  encode: (s: string): Uint8Array => te.encode(s),
  decode: (b: Uint8Array): string => td.decode(b),
};

/**
 * The NUL-terminated strings of a payload, as xenstored's get_strings sees them: bytes after the
 * last NUL are not a string.
 */
export function splitStrings(p: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) {
      out.push(bstr(p, start, i));
      start = i + 1;
    }
  }
  return out;
}

/** Number of NULs in the payload (xs_count_strings). */
export function countStrings(p: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === 0) n++;
  return n;
}

/** The single argument of a one-argument request: exactly one NUL, at the end; else null. */
export function oneArg(p: Uint8Array): string | null {
  const n = p.length;
  if (n === 0 || p[n - 1] !== 0) return null;
  const i = p.indexOf(0);
  if (i !== n - 1) return null;
  return bstr(p, 0, n - 1);
}

/** Index of the first NUL, or -1. */
export function firstNul(p: Uint8Array): number {
  return p.indexOf(0);
}

// ---------------------------------------------------------------- encoding

/** Header + payload as one byte array. */
export function encode(m: XsMessage): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + m.payload.length);
  encodeInto(out, 0, m);
  return out;
}

/** Write header + payload at `off`; returns the bytes written. */
export function encodeInto(out: Uint8Array, off: number, m: XsMessage): number {
  const len = m.payload.length;
  if (len > XENSTORE_PAYLOAD_MAX) throw new RangeError(`xenstore payload of ${len} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
  putU32(out, off, m.type);
  putU32(out, off + 4, m.reqId);
  putU32(out, off + 8, m.txId);
  putU32(out, off + 12, len);
  out.set(m.payload, off + HEADER_SIZE);
  return HEADER_SIZE + len;
}

export function message(type: number, payload: Uint8Array | string = EMPTY, reqId = 0, txId = 0): XsMessage {
  return { type, reqId: reqId >>> 0, txId: txId >>> 0, payload: typeof payload === 'string' ? bytes(payload) : payload };
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
function getU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

// ---------------------------------------------------------------- the resumable parser

export type ParseResult =
  | { readonly kind: 'need'; readonly bytes: number }
  | { readonly kind: 'packet'; readonly msg: XsMessage }
  | { readonly kind: 'error'; readonly reason: 'too-long'; readonly len: number };

const NEED_HEADER: ParseResult = { kind: 'need', bytes: HEADER_SIZE };

/**
 * A stream of xsd_sockmsg. `push` appends bytes (copied); `next` returns a packet, `need` (with the
 * bytes still missing for the next step), or a sticky error.
 */
export class XsParser {
  private buf = new Uint8Array(256);
  private start = 0;
  private end = 0;
  private failed: ParseResult | null = null;

  /** Bytes received but not yet returned as packets. */
  get buffered(): number {
    return this.end - this.start;
  }

  get error(): boolean {
    return this.failed !== null;
  }

  push(chunk: Uint8Array): void {
    if (this.failed || chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      if (live + chunk.length <= this.buf.length && this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        let cap = this.buf.length;
        while (cap < live + chunk.length) cap *= 2;
        const nb = new Uint8Array(cap);
        nb.set(this.buf.subarray(this.start, this.end));
        this.buf = nb;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** How many more bytes the current message needs (0 when `next` would return a packet or error). */
  wanted(): number {
    const have = this.end - this.start;
    if (have < HEADER_SIZE) return HEADER_SIZE - have;
    const len = getU32(this.buf, this.start + 12);
    if (len > XENSTORE_PAYLOAD_MAX) return 0;
    return Math.max(0, HEADER_SIZE + len - have);
  }

  next(): ParseResult {
    if (this.failed) return this.failed;
    const have = this.end - this.start;
    if (have < HEADER_SIZE) return have === 0 ? NEED_HEADER : { kind: 'need', bytes: HEADER_SIZE - have };
    const b = this.buf;
    const s = this.start;
    const len = getU32(b, s + 12);
    if (len > XENSTORE_PAYLOAD_MAX) {
      this.failed = { kind: 'error', reason: 'too-long', len };
      return this.failed;
    }
    if (have < HEADER_SIZE + len) return { kind: 'need', bytes: HEADER_SIZE + len - have };
    const msg: XsMessage = {
      type: getU32(b, s),
      reqId: getU32(b, s + 4),
      txId: getU32(b, s + 8),
      payload: b.slice(s + HEADER_SIZE, s + HEADER_SIZE + len),
    };
    this.start += HEADER_SIZE + len;
    if (this.start === this.end) this.start = this.end = 0;
    return { kind: 'packet', msg };
  }

  /** Forget everything (a reconnected ring). */
  reset(): void {
    this.start = this.end = 0;
    this.failed = null;
  }
}

/** Decode exactly one whole message (for tests and tools); null if `b` is not exactly one. */
export function decode(b: Uint8Array): XsMessage | null {
  const p = new XsParser();
  p.push(b);
  const r = p.next();
  return r.kind === 'packet' && p.buffered === 0 ? r.msg : null;
}
