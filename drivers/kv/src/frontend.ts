/**
 * The kv frontend: a guest's client of a kvif device (./protocol.ts), over DriverCaps only.
 *
 * connect(): the xenbus handshake (frontendConnect) — allocate a ring page, grant it to the
 * backend, allocate an event channel, publish ring-ref and event-channel, wait for Connected.
 * get/put/del: one request each, inline when key and value fit in the ring slot, else through a
 * page granted to the backend (one per request in flight, granted once and reused). Several threads
 * may call at once: each request has its own id, whoever looks at the ring files every response
 * under its id, and waits count event generations, so no answer or kick is lost.
 */
import { FrontRing } from '@xenotype/ring';
import { NODE, frontendConnect, type Co, type DriverCaps, type FrontendDevice, type Outcome } from '@xenotype/xenbus';
import {
  KVIF_F_GREF,
  KVIF_MAX_KEY,
  KVIF_MAX_VALUE,
  KVIF_OP,
  KVIF_PAGE_SIZE,
  KVIF_REQ_INLINE,
  KVIF_RSP,
  kvRequestCodec,
  kvResponseCodec,
  type KvRequest,
  type KvResponse,
} from './protocol';

export interface KvFrontOptions {
  devid?: number;
  /** Guest system time by which the backend must have connected. */
  deadline?: number;
}

export type Bytes = Uint8Array | string;
const enc = new TextEncoder();
const bytes = (b: Bytes): Uint8Array => (typeof b === 'string' ? enc.encode(b) : b);

export interface KvGetResult {
  status: number;
  value: Uint8Array | null;
}

export class KvFront {
  private nextId = 1;
  private readonly done = new Map<number, KvResponse>();
  private readonly pages: { gfn: number; gref: number }[] = [];
  readonly stats = { requests: 0, notifies: 0, waits: 0 };

  private constructor(
    private readonly caps: DriverCaps,
    readonly device: FrontendDevice,
    private readonly ring: FrontRing<KvRequest, KvResponse>,
    readonly port: number,
  ) {}

  /** Connect kv device `devid` (default 0). */
  static *connect(caps: DriverCaps, o: KvFrontOptions = {}): Co<Outcome<KvFront>> {
    let ring!: FrontRing<KvRequest, KvResponse>;
    let port = -1;
    const r = yield* frontendConnect(caps.xs, {
      type: 'kv',
      devid: o.devid ?? 0,
      deadline: o.deadline,
      *setup(fe) {
        const gfn = caps.memory.allocPage();
        ring = FrontRing.init(caps.memory.mem, gfn * KVIF_PAGE_SIZE, kvRequestCodec, kvResponseCodec);
        port = caps.evtchn.allocUnbound(fe.backendId);
        return { [NODE.ringRef]: caps.grants.grantAccess(fe.backendId, gfn, false), [NODE.eventChannel]: port };
      },
    });
    if (!r.ok) return r;
    return { ok: true, value: new KvFront(caps, r.value, ring, port) };
  }

  /** The value of `key` (null and KVIF_RSP_NOT_FOUND if absent). */
  *get(key: Bytes): Co<KvGetResult> {
    const k = bytes(key);
    if (k.length <= KVIF_REQ_INLINE) {
      const r = yield* this.call(KVIF_OP.GET, k, null);
      if (r.status === KVIF_RSP.OKAY) return { status: r.status, value: r.data.slice(0, r.valLen) };
      if (r.status !== KVIF_RSP.TOO_BIG) return { status: r.status, value: null };
    }
    // A long key, or a value too long for the ring slot: through a page.
    const page = this.takePage();
    try {
      const r = yield* this.call(KVIF_OP.GET, k, null, page);
      if (r.status !== KVIF_RSP.OKAY) return { status: r.status, value: null };
      return { status: r.status, value: this.caps.memory.mem.getBytes(page.gfn * KVIF_PAGE_SIZE, Math.min(r.valLen, KVIF_PAGE_SIZE)) };
    } finally {
      this.pages.push(page);
    }
  }

  /** Store `value` under `key`; returns the KVIF_RSP_* status. */
  *put(key: Bytes, value: Bytes): Co<number> {
    const k = bytes(key);
    const v = bytes(value);
    if (k.length + v.length <= KVIF_REQ_INLINE) return (yield* this.call(KVIF_OP.PUT, k, v)).status;
    const page = this.takePage();
    try {
      return (yield* this.call(KVIF_OP.PUT, k, v, page)).status;
    } finally {
      this.pages.push(page);
    }
  }

  /** Remove `key`; returns KVIF_RSP_OKAY, or NOT_FOUND if it was absent. */
  *del(key: Bytes): Co<number> {
    const k = bytes(key);
    if (k.length <= KVIF_REQ_INLINE) return (yield* this.call(KVIF_OP.DEL, k, null)).status;
    const page = this.takePage();
    try {
      return (yield* this.call(KVIF_OP.DEL, k, null, page)).status;
    } finally {
      this.pages.push(page);
    }
  }

  private takePage(): { gfn: number; gref: number } {
    const p = this.pages.pop();
    if (p) return p;
    const gfn = this.caps.memory.allocPage();
    return { gfn, gref: this.caps.grants.grantAccess(this.device.backendId, gfn, false) };
  }

  /** One request and its response. Lengths beyond the protocol's limits are answered locally. */
  private *call(op: number, key: Uint8Array, value: Uint8Array | null, page?: { gfn: number; gref: number }): Co<KvResponse> {
    const id = this.nextId++;
    const v = value ?? new Uint8Array(0);
    if (key.length < 1 || key.length > KVIF_MAX_KEY || v.length > KVIF_MAX_VALUE || key.length + v.length > KVIF_PAGE_SIZE)
      return { id, status: KVIF_RSP.ERROR, valLen: 0, data: new Uint8Array(0) };
    let data = new Uint8Array(0);
    if (page) {
      const buf = new Uint8Array(key.length + v.length);
      buf.set(key);
      buf.set(v, key.length);
      this.caps.memory.mem.setBytes(page.gfn * KVIF_PAGE_SIZE, buf);
    } else {
      data = new Uint8Array(KVIF_REQ_INLINE);
      data.set(key);
      data.set(v, key.length);
    }
    const req: KvRequest = { id, op, flags: page ? KVIF_F_GREF : 0, keyLen: key.length, valLen: op === KVIF_OP.GET ? (page ? KVIF_PAGE_SIZE : 0) : v.length, gref: page?.gref ?? 0, data };
    const ev = this.caps.evtchn;
    // Wait for room in the ring.
    for (;;) {
      const seen = ev.generation(this.port);
      this.reap();
      if (!this.ring.full()) break;
      if (this.ring.fault) return { id, status: KVIF_RSP.ERROR, valLen: 0, data: new Uint8Array(0) };
      if (this.ring.finalCheckForResponses()) continue;
      this.stats.waits++;
      yield* ev.wait(this.port, seen);
    }
    this.ring.produceRequest(req);
    this.stats.requests++;
    if (this.ring.pushRequestsAndCheckNotify()) {
      this.stats.notifies++;
      ev.notify(this.port);
    }
    // Wait for our answer.
    for (;;) {
      const seen = ev.generation(this.port);
      this.reap();
      const r = this.done.get(id);
      if (r) {
        this.done.delete(id);
        return r;
      }
      if (this.ring.fault) return { id, status: KVIF_RSP.ERROR, valLen: 0, data: new Uint8Array(0) };
      if (this.ring.finalCheckForResponses()) continue;
      yield* ev.wait(this.port, seen);
    }
  }

  private reap(): void {
    for (let r = this.ring.takeResponse(); r !== null; r = this.ring.takeResponse()) this.done.set(r.id, r);
  }

  /** Close the device: Closing, wait for the backend, Closed. */
  *close(deadline?: number): Co<Outcome<void>> {
    const r = yield* this.device.close(deadline);
    if (!r.ok) return r;
    try {
      this.caps.evtchn.close(this.port);
    } catch {
      // gone
    }
    return r;
  }
}
