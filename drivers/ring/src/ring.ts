/**
 * io/ring.h request/response rings over one shared area, generic over the entry layout.
 *
 * Design (after MirageOS shared-memory-ring): two halves over one shared page. The front produces
 * requests and consumes responses; the back consumes requests and produces responses. Each half
 * keeps its private indices (front: req_prod_pvt, rsp_cons; back: rsp_prod_pvt, req_cons) and
 * publishes its producer index with push. Indices are free-running u32 (`(x + 1) >>> 0`), masked
 * with (size - 1) only when a slot is addressed, so they wrap at 2^32 as C's unsigned ints do.
 *
 * A ring never notifies (STYLE §3): pushRequestsAndCheckNotify / pushResponsesAndCheckNotify
 * *return* whether the peer asked to be told (RING_PUSH_*_AND_CHECK_NOTIFY's event-index rule:
 * notify iff the peer's event index lies in (old producer, new producer]), and the caller kicks the
 * event channel. finalCheckFor* (RING_FINAL_CHECK_FOR_*) re-arms our own event index at
 * consumer + 1 and looks once more, so work pushed concurrently is seen either by that second look
 * or by the notification it provokes — never lost.
 *
 * Peer input never throws and never makes us read beyond what the peer may legitimately have
 * produced. Every read of the peer's producer index is checked: for the back, req_prod must lie in
 * [req_cons, rsp_prod_pvt + size] (this contains Xen's RING_REQUEST_PROD_OVERFLOW, "prod -
 * rsp_prod_pvt > size", and also catches an index that moved backwards); for the front, rsp_prod
 * must lie in [rsp_cons, requests pushed] (stricter than RING_RESPONSE_PROD_OVERFLOW, "prod -
 * rsp_cons > size", which it implies). A bad index sets a sticky `fault`; from then on the half
 * consumes nothing (take* → null, unconsumed → 0, finalCheck → false) and its owner handles it, as
 * blkback and netback do (log, stop processing, disconnect). Entries are copied out of shared
 * memory before they are decoded (RING_COPY_REQUEST).
 *
 * Errors in *our own* use (producing into a full ring, responding to a request not taken) are bugs
 * in trusted code and throw RingUsageError.
 *
 * Invariants (front): 0 ≤ req_prod_pvt − rsp_cons ≤ size; rsp_cons ≤ pushed ≤ req_prod_pvt.
 * Invariants (back): 0 ≤ req_cons − rsp_prod_pvt ≤ size (responses never outrun requests taken).
 */
import type { ByteAccess, Field, Struct, Values } from '@xenotype/core';
import { LocalBytes } from './bytes';
import { SRING, XEN_PAGE_SIZE, ringSize, sharedRingInit, unionSize, type EntryShape } from './layout';

/** How one entry is laid out: its C size and alignment, and how to read and write it. */
export interface EntryCodec<T> extends EntryShape {
  read(m: ByteAccess, addr: number): T;
  write(m: ByteAccess, addr: number, v: T): void;
}

/** Entries as raw bytes of a fixed size. */
export function bytesCodec(size: number, align = 8): EntryCodec<Uint8Array> {
  return {
    size,
    align,
    read: (m, a) => m.getBytes(a, size),
    write: (m, a, v) => {
      if (v.length > size) throw new RingUsageError(`entry of ${v.length} bytes exceeds ${size}`);
      const b = new Uint8Array(size);
      b.set(v);
      m.setBytes(a, b);
    },
  };
}

/** Entries described by a core Struct layout (as blkif or netif requests are declared). */
export function structCodec<F extends Record<string, Field>>(s: Struct<F>, align = 8): EntryCodec<Values<F>> {
  return {
    size: s.size,
    align,
    read: (m, a) => s.read(m, a),
    write: (m, a, v) => s.init(m, a, v),
  };
}

export type RingFaultCode = 'req-prod-out-of-range' | 'rsp-prod-out-of-range';

/** A peer's producer index outside what it could legitimately have produced. */
export interface RingFault {
  readonly code: RingFaultCode;
  /** The producer index read from the shared page. */
  readonly prod: number;
  /** The lowest and highest values it could legitimately have had. */
  readonly min: number;
  readonly max: number;
  readonly message: string;
}

/** A bug in the code using the ring (never caused by the peer). */
export class RingUsageError extends Error {
  override name = 'RingUsageError';
}

export interface RingOptions {
  /** Bytes of the shared area (default one 4 KiB page). */
  bytes?: number;
  /** Entry size; by default sizeof(union { req; rsp; }) from the codecs. */
  entrySize?: number;
  /** Start index for *_RING_ATTACH (default 0). */
  start?: number;
}

const u32 = (x: number): number => x >>> 0;

abstract class RingHalf<Req, Rsp> {
  readonly size: number;
  readonly entrySize: number;
  fault: RingFault | null = null;

  protected constructor(
    readonly mem: ByteAccess,
    readonly base: number,
    readonly req: EntryCodec<Req>,
    readonly rsp: EntryCodec<Rsp>,
    opts: RingOptions,
  ) {
    this.entrySize = opts.entrySize ?? unionSize(req, rsp);
    if (this.entrySize < Math.max(req.size, rsp.size)) throw new RingUsageError(`entry size ${this.entrySize} is smaller than an entry`);
    this.size = ringSize(this.entrySize, opts.bytes ?? XEN_PAGE_SIZE);
    if (this.size === 0) throw new RingUsageError(`no ${this.entrySize}-byte entry fits in the shared area`);
  }

  /** Address of the slot an index names (masked), as RING_GET_REQUEST/RESPONSE. */
  slotAddr(idx: number): number {
    return this.base + SRING.ring + (idx & (this.size - 1)) * this.entrySize;
  }

  protected copySlot<T>(codec: EntryCodec<T>, idx: number): T {
    const local = new LocalBytes(this.mem.getBytes(this.slotAddr(idx), codec.size));
    return codec.read(local, 0);
  }

  protected shared(off: number): number {
    return this.mem.getU32(this.base + off);
  }

  protected setShared(off: number, v: number): void {
    this.mem.setU32(this.base + off, u32(v));
  }

  protected setFault(code: RingFaultCode, prod: number, min: number, max: number): void {
    if (this.fault) return;
    this.fault = { code, prod, min, max, message: `${code}: producer index ${prod} outside [${min}, ${max}]` };
  }
}

/** The front half: produces requests, consumes responses. */
export class FrontRing<Req, Rsp> extends RingHalf<Req, Rsp> {
  /** Requests produced privately (not necessarily pushed). */
  reqProdPvt: number;
  /** Responses consumed. */
  rspCons: number;
  /** The request producer index we last published. */
  private pushed: number;

  private constructor(mem: ByteAccess, base: number, req: EntryCodec<Req>, rsp: EntryCodec<Rsp>, opts: RingOptions) {
    super(mem, base, req, rsp, opts);
    const start = u32(opts.start ?? 0);
    this.reqProdPvt = start;
    this.rspCons = start;
    this.pushed = start;
  }

  /** XEN_FRONT_RING_INIT: initialise the shared page (SHARED_RING_INIT) and attach at index 0. */
  static init<Req, Rsp>(mem: ByteAccess, base: number, req: EntryCodec<Req>, rsp: EntryCodec<Rsp>, opts: Omit<RingOptions, 'start'> = {}): FrontRing<Req, Rsp> {
    sharedRingInit(mem, base);
    return new FrontRing(mem, base, req, rsp, { ...opts, start: 0 });
  }

  /**
   * FRONT_RING_ATTACH: take over a ring whose shared indices are all at `start` (after a restore,
   * or a test that starts near 2^32). The shared page is not touched.
   */
  static attach<Req, Rsp>(mem: ByteAccess, base: number, req: EntryCodec<Req>, rsp: EntryCodec<Rsp>, opts: RingOptions = {}): FrontRing<Req, Rsp> {
    return new FrontRing(mem, base, req, rsp, opts);
  }

  /** RING_FREE_REQUESTS. */
  freeRequests(): number {
    return this.size - u32(this.reqProdPvt - this.rspCons);
  }

  /** RING_FULL. */
  full(): boolean {
    return this.freeRequests() === 0;
  }

  /** Write a request at req_prod_pvt and advance it; returns the index used. Throws if full. */
  produceRequest(v: Req): number {
    if (this.full()) throw new RingUsageError('request ring full: check freeRequests() before producing');
    const idx = this.reqProdPvt;
    this.req.write(this.mem, this.slotAddr(idx), v);
    this.reqProdPvt = u32(idx + 1);
    return idx;
  }

  /** RING_PUSH_REQUESTS: publish req_prod_pvt. */
  pushRequests(): void {
    this.setShared(SRING.reqProd, this.reqProdPvt);
    this.pushed = this.reqProdPvt;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish, and return whether the back must be notified. */
  pushRequestsAndCheckNotify(): boolean {
    const old = this.pushed;
    const now = this.reqProdPvt;
    this.pushRequests();
    const ev = this.shared(SRING.reqEvent);
    return u32(now - ev) < u32(now - old);
  }

  /** RING_HAS_UNCONSUMED_RESPONSES as a count; 0 once the back has produced a bad index. */
  unconsumedResponses(): number {
    if (this.fault) return 0;
    const prod = this.shared(SRING.rspProd);
    const n = u32(prod - this.rspCons);
    const limit = u32(this.pushed - this.rspCons);
    if (n > limit) {
      this.setFault('rsp-prod-out-of-range', prod, this.rspCons, this.pushed);
      return 0;
    }
    return n;
  }

  /** Copy out and decode the next response, advancing rsp_cons; null when there is none. */
  takeResponse(): Rsp | null {
    if (this.unconsumedResponses() === 0) return null;
    const v = this.copySlot(this.rsp, this.rspCons);
    this.rspCons = u32(this.rspCons + 1);
    return v;
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: true if responses are waiting; otherwise set rsp_event to
   * rsp_cons + 1 (notify me on the next one) and look again.
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() > 0) return true;
    if (this.fault) return false;
    this.setShared(SRING.rspEvent, this.rspCons + 1);
    return this.unconsumedResponses() > 0;
  }

  /** Address of the slot of a request index (for producers that fill fields in place). */
  requestSlot(idx: number = this.reqProdPvt): number {
    return this.slotAddr(idx);
  }
}

/** The back half: consumes requests, produces responses. */
export class BackRing<Req, Rsp> extends RingHalf<Req, Rsp> {
  /** Responses produced privately (not necessarily pushed). */
  rspProdPvt: number;
  /** Requests consumed. */
  reqCons: number;
  private pushed: number;

  private constructor(mem: ByteAccess, base: number, req: EntryCodec<Req>, rsp: EntryCodec<Rsp>, opts: RingOptions) {
    super(mem, base, req, rsp, opts);
    const start = u32(opts.start ?? 0);
    this.rspProdPvt = start;
    this.reqCons = start;
    this.pushed = start;
  }

  /** BACK_RING_INIT / BACK_RING_ATTACH (the front initialises the shared page, never the back). */
  static attach<Req, Rsp>(mem: ByteAccess, base: number, req: EntryCodec<Req>, rsp: EntryCodec<Rsp>, opts: RingOptions = {}): BackRing<Req, Rsp> {
    return new BackRing(mem, base, req, rsp, opts);
  }

  /**
   * XEN_RING_NR_UNCONSUMED_REQUESTS: requests produced and not yet taken, bounded by the room
   * left for their responses. 0 once the front has produced a bad index.
   */
  unconsumedRequests(): number {
    if (this.fault) return 0;
    const prod = this.shared(SRING.reqProd);
    const n = u32(prod - this.reqCons);
    const room = this.size - u32(this.reqCons - this.rspProdPvt);
    if (n > room) {
      this.setFault('req-prod-out-of-range', prod, this.reqCons, u32(this.rspProdPvt + this.size));
      return 0;
    }
    return n;
  }

  /** RING_REQUEST_CONS_OVERFLOW: would consuming index `cons` outrun the responses? */
  requestConsOverflow(cons: number = this.reqCons): boolean {
    return u32(cons - this.rspProdPvt) >= this.size;
  }

  /** Copy out and decode the next request, advancing req_cons; null when there is none. */
  takeRequest(): Req | null {
    if (this.unconsumedRequests() === 0) return null;
    const v = this.copySlot(this.req, this.reqCons);
    this.reqCons = u32(this.reqCons + 1);
    return v;
  }

  /** Write a response at rsp_prod_pvt and advance it. Throws if no request is waiting for one. */
  produceResponse(v: Rsp): number {
    if (this.rspProdPvt === this.reqCons) throw new RingUsageError('response without a request taken');
    const idx = this.rspProdPvt;
    this.rsp.write(this.mem, this.slotAddr(idx), v);
    this.rspProdPvt = u32(idx + 1);
    return idx;
  }

  /** RING_PUSH_RESPONSES. */
  pushResponses(): void {
    this.setShared(SRING.rspProd, this.rspProdPvt);
    this.pushed = this.rspProdPvt;
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publish, and return whether the front must be notified. */
  pushResponsesAndCheckNotify(): boolean {
    const old = this.pushed;
    const now = this.rspProdPvt;
    this.pushResponses();
    const ev = this.shared(SRING.rspEvent);
    return u32(now - ev) < u32(now - old);
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: true if requests are waiting; otherwise set req_event to
   * req_cons + 1 and look again. (Mirage calls this more_to_do.)
   */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    if (this.fault) return false;
    this.setShared(SRING.reqEvent, this.reqCons + 1);
    return this.unconsumedRequests() > 0;
  }

  /** Address of the slot of a response index (for producers that fill fields in place). */
  responseSlot(idx: number = this.rspProdPvt): number {
    return this.slotAddr(idx);
  }
}
