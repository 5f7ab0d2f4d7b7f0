/**
 * netfront: a guest's virtual network interface (Linux xen-netfront, Mini-OS netfront.c), over
 * DriverCaps only. Frames in, frames out; the guest's stack sits on top (see guests/minios's
 * netfront.ts for a tiny ARP/ICMP/UDP one).
 *
 * Handshake (@xenotype/xenbus frontendConnect): read our `mac` (the toolstack's), wait for the
 * backend's InitWait, require its feature-rx-copy; allocate and initialise a tx and an rx ring page,
 * grant both to the backend, allocate an event channel, post every receive buffer, publish
 * tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy = 1, feature-rx-notify = 1,
 * feature-sg = 1 and Initialised, then wait for Connected.
 *
 * Transmit: each slot id (0..255) owns one page, granted read-only to the backend once; a frame is
 * copied into as many slots as it needs (NETTXF_more_data between them; the first request's size is
 * the whole frame's), pushed, and the backend kicked when the event-index rule says so. A slot is
 * free again when its response comes back; NETIF_RSP_ERROR is counted.
 * Receive: `rxBuffers` pages granted read-write once and posted as rx requests (id = buffer index);
 * each response's bytes are read at its offset and the buffer reposted at once. Fragments
 * (NETRXF_more_data) are joined. A bad response (unknown id, status out of range) is counted and
 * skipped — the backend is a peer, and peer input never throws.
 *
 * Waits count generations of the one event channel (STYLE §9); a sender waiting for room and a
 * receiver waiting for frames may both wait at once.
 */
import { FrontRing } from '@xenotype/ring';
import { XenbusState, frontendConnect, type Co, type DriverCaps, type FrontendDevice, type Outcome, XenbusError } from '@xenotype/xenbus';
import {
  NETIF_PAGE_SIZE,
  NETIF_RSP,
  NETRXF,
  NETTXF,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  VIF_NODE,
  VIF_TYPE,
  XEN_NETIF_MAX_TX_SIZE,
  parseMac,
  rxRequestCodec,
  rxResponseCodec,
  txRequestCodec,
  txResponseCodec,
  type Mac,
  type NetifRxRequest,
  type NetifRxResponse,
  type NetifTxRequest,
  type NetifTxResponse,
} from './netif';

export interface NetfrontOptions {
  devid?: number;
  /** Guest system time by which the backend must have connected. */
  deadline?: number;
  /** Receive buffers posted (pages; default 64, at most 256). */
  rxBuffers?: number;
}

export interface NetfrontStats {
  txPackets: number;
  txBytes: number;
  /** Packets the backend refused (NETIF_RSP_ERROR). */
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  /** Receive responses with an error status, or that made no sense (bad id, offset, size). */
  rxErrors: number;
  /** Times send() found no room and waited. */
  txWaits: number;
  notifies: number;
}

type TxRing = FrontRing<NetifTxRequest, NetifTxResponse>;
type RxRing = FrontRing<NetifRxRequest, NetifRxResponse>;

export class Netfront {
  readonly stats: NetfrontStats = { txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxErrors: 0, txWaits: 0, notifies: 0 };
  /** Free transmit slot ids (each owns a page and its grant). */
  private readonly txFree: number[] = [];
  private readonly txPage: number[] = [];
  private readonly txGref: number[] = [];
  /** Frames received, not yet taken. */
  private readonly rxQueue: Uint8Array[] = [];
  private rxPartial: Uint8Array[] = [];
  private rxPosted = 0;
  closed = false;

  private constructor(
    private readonly caps: DriverCaps,
    readonly device: FrontendDevice,
    readonly mac: Mac,
    readonly mtu: number,
    private readonly tx: TxRing,
    private readonly rx: RxRing,
    private readonly rxPage: readonly number[],
    private readonly rxGref: readonly number[],
    readonly port: number,
  ) {
    for (let i = NET_TX_RING_SIZE - 1; i >= 0; i--) this.txFree.push(i);
  }

  /** Connect the vif `devid` (default 0); on success the device is Connected. */
  static *connect(caps: DriverCaps, o: NetfrontOptions = {}): Co<Outcome<Netfront>> {
    const devid = o.devid ?? 0;
    const dir = `/local/domain/${caps.domid}/device/${VIF_TYPE}/${devid}`;
    const macNode = yield* caps.xs.read(`${dir}/${VIF_NODE.mac}`);
    const mac = parseMac(macNode);
    if (!mac) return { ok: false, error: new XenbusError('no-device', dir, `mac "${macNode}" missing or malformed`) };
    const mtuNode = yield* caps.xs.read(`${dir}/${VIF_NODE.mtu}`);
    const mtu = mtuNode !== null && /^\d{2,5}$/.test(mtuNode) ? Number(mtuNode) : 1500;
    const nBuf = Math.max(1, Math.min(NET_RX_RING_SIZE, o.rxBuffers ?? 64));
    const mem = caps.memory.mem;
    let tx!: TxRing;
    let rx!: RxRing;
    let port = -1;
    const rxPage: number[] = [];
    const rxGref: number[] = [];
    const r = yield* frontendConnect(caps.xs, {
      type: VIF_TYPE,
      devid,
      deadline: o.deadline,
      *setup(fe) {
        if ((yield* fe.readBackend(VIF_NODE.featureRxCopy)) !== '1') throw new Error('backend does not offer feature-rx-copy');
        const txGfn = caps.memory.allocPage();
        const rxGfn = caps.memory.allocPage();
        tx = FrontRing.init(mem, txGfn * NETIF_PAGE_SIZE, txRequestCodec, txResponseCodec);
        rx = FrontRing.init(mem, rxGfn * NETIF_PAGE_SIZE, rxRequestCodec, rxResponseCodec);
        port = caps.evtchn.allocUnbound(fe.backendId);
        for (let i = 0; i < nBuf; i++) {
          const g = caps.memory.allocPage();
          rxPage.push(g);
          rxGref.push(caps.grants.grantAccess(fe.backendId, g, false));
          rx.produceRequest({ id: i, gref: rxGref[i] });
        }
        rx.pushRequests();
        return {
          [VIF_NODE.txRingRef]: caps.grants.grantAccess(fe.backendId, txGfn, false),
          [VIF_NODE.rxRingRef]: caps.grants.grantAccess(fe.backendId, rxGfn, false),
          [VIF_NODE.eventChannel]: port,
          [VIF_NODE.requestRxCopy]: 1,
          [VIF_NODE.featureRxNotify]: 1,
          [VIF_NODE.featureSg]: 1,
        };
      },
    });
    if (!r.ok) return r;
    const nf = new Netfront(caps, r.value, mac, mtu, tx, rx, rxPage, rxGref, port);
    nf.rxPosted = nBuf;
    return { ok: true, value: nf };
  }

  get backendId(): number {
    return this.device.backendId;
  }

  /** Receive buffers posted and not yet filled. */
  get rxBuffersPosted(): number {
    return this.rxPosted;
  }

  /** Transmit slots free now. */
  get txSlotsFree(): number {
    return Math.min(this.txFree.length, this.tx.freeRequests());
  }

  private kick(): void {
    this.stats.notifies++;
    this.caps.evtchn.notify(this.port);
  }

  /** Take transmit responses: free their slots, count errors. */
  private reapTx(): void {
    for (let r = this.tx.takeResponse(); r !== null; r = this.tx.takeResponse()) {
      if (r.status === NETIF_RSP.NULL) continue;
      if (r.id >= NET_TX_RING_SIZE || !this.txPage[r.id] || this.txFree.includes(r.id)) {
        this.stats.txErrors++;
        continue;
      }
      this.txFree.push(r.id);
      if (r.status !== NETIF_RSP.OKAY) this.stats.txErrors++;
    }
  }

  private slotPage(id: number): { gfn: number; gref: number } {
    if (this.txPage[id] === undefined) {
      this.txPage[id] = this.caps.memory.allocPage();
      this.txGref[id] = this.caps.grants.grantAccess(this.device.backendId, this.txPage[id], true);
    }
    return { gfn: this.txPage[id], gref: this.txGref[id] };
  }

  /**
   * Queue one frame now if there is room; false if not (or if the frame is empty or longer than
   * XEN_NETIF_MAX_TX_SIZE, or the ring faulted).
   */
  trySend(frame: Uint8Array): boolean {
    if (this.closed || frame.length === 0 || frame.length > XEN_NETIF_MAX_TX_SIZE || this.tx.fault) return false;
    this.reapTx();
    const slots = Math.ceil(frame.length / NETIF_PAGE_SIZE);
    if (this.txSlotsFree < slots) return false;
    const mem = this.caps.memory.mem;
    for (let i = 0, off = 0; i < slots; i++, off += NETIF_PAGE_SIZE) {
      const id = this.txFree.pop()!;
      const { gfn, gref } = this.slotPage(id);
      const len = Math.min(NETIF_PAGE_SIZE, frame.length - off);
      mem.setBytes(gfn * NETIF_PAGE_SIZE, frame.subarray(off, off + len));
      this.tx.produceRequest({ gref, offset: 0, flags: i < slots - 1 ? NETTXF.more_data : 0, id, size: i === 0 ? frame.length : len });
    }
    if (this.tx.pushRequestsAndCheckNotify()) this.kick();
    this.stats.txPackets++;
    this.stats.txBytes += frame.length;
    return true;
  }

  /** Send one frame, waiting for room; false if it cannot be sent (see trySend) or at `deadline`. */
  *send(frame: Uint8Array, deadline?: number): Co<boolean> {
    for (;;) {
      const seen = this.caps.evtchn.generation(this.port);
      if (this.trySend(frame)) return true;
      if (this.closed || frame.length === 0 || frame.length > XEN_NETIF_MAX_TX_SIZE || this.tx.fault) return false;
      // No room: ask to be told of the next response, and wait unless one raced in.
      if (this.tx.finalCheckForResponses()) continue;
      this.stats.txWaits++;
      if ((yield* this.caps.evtchn.wait(this.port, seen, deadline)) < 0) return false;
    }
  }

  /** Move receive responses into the queue and repost their buffers. */
  private reapRx(): void {
    let reposted = 0;
    const mem = this.caps.memory.mem;
    for (let r = this.rx.takeResponse(); r !== null; r = this.rx.takeResponse()) {
      const id = r.id;
      if (id >= this.rxPage.length) {
        this.stats.rxErrors++;
        this.rxPartial = [];
        continue; // not one of our buffers: nothing to repost
      }
      this.rxPosted--;
      if (r.status < 0 || r.status === 0 || r.offset + r.status > NETIF_PAGE_SIZE) {
        this.stats.rxErrors++;
        this.rxPartial = [];
      } else {
        this.rxPartial.push(mem.getBytes(this.rxPage[id] * NETIF_PAGE_SIZE + r.offset, r.status));
        if (!(r.flags & NETRXF.more_data)) {
          const parts = this.rxPartial;
          this.rxPartial = [];
          const frame = parts.length === 1 ? parts[0] : concat(parts);
          this.rxQueue.push(frame);
          this.stats.rxPackets++;
          this.stats.rxBytes += frame.length;
        }
      }
      if (!this.rx.full()) {
        this.rx.produceRequest({ id, gref: this.rxGref[id] });
        this.rxPosted++;
        reposted++;
      }
    }
    if (reposted > 0 && this.rx.pushRequestsAndCheckNotify()) this.kick();
  }

  /** A received frame if one is waiting (never waits). */
  tryRecv(): Uint8Array | null {
    this.reapRx();
    this.reapTx();
    return this.rxQueue.shift() ?? null;
  }

  /** The next received frame; null at `deadline`, or when the device is closed or faulted. */
  *recv(deadline?: number): Co<Uint8Array | null> {
    for (;;) {
      const seen = this.caps.evtchn.generation(this.port);
      const f = this.tryRecv();
      if (f) return f;
      if (this.closed || this.rx.fault) return null;
      if (this.rx.finalCheckForResponses()) continue;
      if ((yield* this.caps.evtchn.wait(this.port, seen, deadline)) < 0) return null;
    }
  }

  /** Frames received and not yet taken. */
  get queued(): number {
    return this.rxQueue.length;
  }

  /** A ring fault (the backend produced a bad index), if any. */
  get fault(): string | null {
    return this.tx.fault?.message ?? this.rx.fault?.message ?? null;
  }

  /** Close the device (Closing, wait for the backend, Closed) and stop using the rings. */
  *close(deadline?: number): Co<void> {
    if (this.closed) return;
    this.closed = true;
    yield* this.device.close(deadline);
    if ((yield* this.device.state()) === XenbusState.Closed) {
      try {
        this.caps.evtchn.close(this.port);
      } catch {
        // already gone
      }
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
