/**
 * The kv backend: serves kvif rings (./protocol.ts) from a Map, in a driver domain or dom0, over
 * DriverCaps only. One `KvBackend` per backend domain serves every device under backend/kv (the
 * driver-domain loop calls `serve(dir)` for each).
 *
 * Per device: the xenbus handshake (backendConnect: InitWait, wait for the frontend's ring-ref and
 * event-channel, map the ring, bind the channel, Connected); then two threads — the ring thread
 * (take every request, check it, carry it out, answer it, push; sleep until the next event unless
 * RING_FINAL_CHECK_FOR_REQUESTS finds more) and this one, which waits for the frontend to close
 * or the device to be removed, then unbinds, unmaps and closes.
 *
 * Data: inline bytes come with the request (copied out of the ring slot); a KVIF_F_GREF request's
 * page is grant-copied into one of our pages and back (GNTTABOP_copy) — the backend never maps
 * frontend data pages. Every peer error is a KVIF_RSP_* status; a bad producer index faults the ring
 * and closes the device (xenbus_dev_fatal); nothing the frontend does throws here.
 *
 * Stores: a device uses the store named by its backend's `store` node (the toolstack may point
 * several devices at one), else a private one. Costs: `opNs` of CPU per request plus `byteNs`
 * per byte moved.
 */
import { GNTST } from '@xenotype/core';
import { BackRing } from '@xenotype/ring';
import { BackendDevice, NODE, XenbusState, backendConnect, parseUint, type Co, type DriverCaps, type GrantMapping } from '@xenotype/xenbus';
import { KVIF_OP, KVIF_PAGE_SIZE, KVIF_RSP, KVIF_RSP_INLINE, checkRequest, kvRequestCodec, kvResponseCodec, type KvRequest, type KvResponse } from './protocol';

export interface KvBackendOptions {
  /** CPU time per request (default 500 ns). */
  opNs?: number;
  /** CPU time per byte of key and value moved (default 0.25 ns). */
  byteNs?: number;
}

export interface KvStats {
  requests: number;
  /** Requests answered with KVIF_RSP_ERROR. */
  errors: number;
  devices: number;
}

/** One connected device: its ring, event channel, store and xenbus end. */
interface KvDevice {
  connected: boolean;
  readonly ring: BackRing<KvRequest, KvResponse>;
  readonly port: number;
  readonly frontendId: number;
  readonly store: Map<string, Uint8Array>;
  readonly be: BackendDevice;
}

const EMPTY = new Uint8Array(0);
/** Map keys: the key's bytes, one char each. */
const keyOf = (b: Uint8Array): string => String.fromCharCode(...b);

export class KvBackend {
  readonly type = 'kv';
  readonly stores = new Map<string, Map<string, Uint8Array>>();
  readonly stats: KvStats = { requests: 0, errors: 0, devices: 0 };
  private staging = -1;

  constructor(
    readonly caps: DriverCaps,
    readonly opts: KvBackendOptions = {},
  ) {}

  /** Serve the device whose backend directory is `dir` until it closes or is removed. */
  *serve(dir: string): Co<void> {
    const { caps } = this;
    let mapping: GrantMapping | null = null;
    let port = -1;
    const r = yield* backendConnect(caps.xs, dir, {
      *attach(be, nodes) {
        const ref = parseUint(nodes[NODE.ringRef]);
        const evt = parseUint(nodes[NODE.eventChannel]);
        if (ref === null || evt === null) return 'ring-ref or event-channel missing or malformed';
        try {
          mapping = caps.grants.map(be.frontendId, ref, false);
        } catch (e) {
          return `cannot map ring-ref ${ref}: ${(e as Error).message}`;
        }
        try {
          port = caps.evtchn.bindInterdomain(be.frontendId, evt);
        } catch (e) {
          caps.grants.unmap(mapping);
          mapping = null;
          return `cannot bind event channel ${evt}: ${(e as Error).message}`;
        }
      },
    });
    const m = mapping as GrantMapping | null;
    if (!r.ok) {
      caps.log(`kv: ${dir}: ${r.error.message}`);
      if (m) this.release(m, port);
      return;
    }
    const be = r.value;
    const storeName = (yield* caps.xs.read(`${dir}/store`)) ?? `${be.frontendId}/${be.devid}`;
    let store = this.stores.get(storeName);
    if (!store) this.stores.set(storeName, (store = new Map()));
    this.stats.devices++;
    const ring = BackRing.attach(caps.memory.mem, m!.addr, kvRequestCodec, kvResponseCodec);
    const dev: KvDevice = { connected: true, ring, port, frontendId: be.frontendId, store, be };
    caps.spawn(`kv-${be.frontendId}-${be.devid}`, this.ringThread(dev));
    yield* be.waitUntilFrontendClosing();
    dev.connected = false;
    this.release(m!, port);
    yield* be.close();
  }

  private release(m: GrantMapping, port: number): void {
    try {
      if (port >= 0) this.caps.evtchn.close(port);
    } catch {
      // the frontend's end is gone
    }
    try {
      this.caps.grants.unmap(m);
    } catch (e) {
      this.caps.log(`kv: unmap failed: ${(e as Error).message}`);
    }
  }

  /** Answer every request on the ring; sleep until the next kick unless the final check finds more. */
  private *ringThread(dev: KvDevice): Co<void> {
    const { caps } = this;
    const opNs = this.opts.opNs ?? 500;
    const byteNs = this.opts.byteNs ?? 0.25;
    for (;;) {
      const seen = caps.evtchn.generation(dev.port);
      if (!dev.connected) return;
      let n = 0;
      let bytes = 0;
      for (let req = dev.ring.takeRequest(); req !== null; req = dev.ring.takeRequest()) {
        const rsp = this.handle(req, dev);
        dev.ring.produceResponse(rsp);
        n++;
        bytes += req.keyLen + Math.max(req.valLen, rsp.valLen);
      }
      if (dev.ring.fault) {
        caps.log(`kv: ${dev.be.dir}: ${dev.ring.fault.message}; closing`);
        yield* dev.be.switchState(XenbusState.Closing);
        return;
      }
      if (n > 0) {
        this.stats.requests += n;
        yield* caps.time.compute(n * opNs + bytes * byteNs); // the work, before its answers are published
        if (!dev.connected) return;
        if (dev.ring.pushResponsesAndCheckNotify()) caps.evtchn.notify(dev.port);
        continue;
      }
      if (dev.ring.finalCheckForRequests()) continue;
      yield* caps.evtchn.wait(dev.port, seen);
    }
  }

  private stagingGfn(): number {
    if (this.staging < 0) this.staging = this.caps.memory.allocPage();
    return this.staging;
  }

  /** Carry out one request; every outcome is a response. */
  private handle(req: KvRequest, dev: KvDevice): KvResponse {
    const { store, frontendId: fe } = dev;
    const reply = (status: number, valLen = 0, data: Uint8Array = EMPTY): KvResponse => {
      if (status === KVIF_RSP.ERROR) this.stats.errors++;
      return { id: req.id, status, valLen, data };
    };
    const c = checkRequest(req);
    if (!c.ok) return reply(c.status);
    const { caps } = this;
    const mem = caps.memory.mem;
    let body = req.data;
    if (c.indirect) {
      const gfn = this.stagingGfn();
      const len = c.keyLen + c.valLen;
      if (caps.grants.copy({ ref: req.gref, dom: fe, offset: 0 }, { gfn, offset: 0 }, len) !== GNTST.okay) return reply(KVIF_RSP.ERROR);
      body = mem.getBytes(gfn * KVIF_PAGE_SIZE, len);
    }
    const key = keyOf(body.subarray(0, c.keyLen));
    switch (c.op) {
      case KVIF_OP.PUT:
        store.set(key, body.slice(c.keyLen, c.keyLen + c.valLen));
        return reply(KVIF_RSP.OKAY);
      case KVIF_OP.DEL:
        return reply(store.delete(key) ? KVIF_RSP.OKAY : KVIF_RSP.NOT_FOUND);
      case KVIF_OP.GET: {
        const v = store.get(key);
        if (!v) return reply(KVIF_RSP.NOT_FOUND);
        if (!c.indirect) return v.length <= KVIF_RSP_INLINE ? reply(KVIF_RSP.OKAY, v.length, v) : reply(KVIF_RSP.TOO_BIG, v.length);
        if (v.length > req.valLen) return reply(KVIF_RSP.TOO_BIG, v.length);
        const gfn = this.stagingGfn();
        mem.setBytes(gfn * KVIF_PAGE_SIZE, v);
        if (v.length > 0 && caps.grants.copy({ gfn, offset: 0 }, { ref: req.gref, dom: fe, offset: 0 }, v.length) !== GNTST.okay) return reply(KVIF_RSP.ERROR);
        return reply(KVIF_RSP.OKAY, v.length);
      }
    }
  }
}

/** The backend factory for a driver domain (or dom0's BackendService): type "kv". */
export const kvBackendFactory =
  (opts: KvBackendOptions = {}) =>
  (caps: DriverCaps): KvBackend =>
    new KvBackend(caps, opts);
