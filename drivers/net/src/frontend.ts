/**
 * netfront: a guest's virtual network interface (Linux xen-netfront, Mini-OS netfront.c), over
 * DriverCaps only. Frames in, frames out; the guest's stack sits on top (see guests/minios's
 * netfront.ts for a tiny ARP/ICMP/UDP one).
 *
 * Handshake: read our `mac` (the toolstack's); wait for the backend's InitWait and require its
 * feature-rx-copy; allocate and initialise a tx and an rx ring page, grant both to the backend,
 * allocate an event channel, post every receive buffer; publish tx-ring-ref, rx-ring-ref,
 * event-channel, request-rx-copy = 1, feature-rx-notify = 1, feature-sg = 1 and Initialised in
 * one transaction; wait for Connected; switch to Connected.
 *
 * Reconnection (a driver domain restarted): a xenbus thread watches our directory, our `backend`
 * node and the backend's state. When the backend closes or vanishes, or the toolstack points us at
 * another one (moveBackends rewrites `backend`), we let go of the rings and channel, go Closing →
 * Closed, wait for the backend named then to be ready for a frontend, go Initialising, and
 * handshake again — same MAC, same buffer pages, grants re-issued to the new backend. Frames in
 * flight on the old rings are lost, as on a wire; senders and receivers simply wait for the new
 * connection. Our directory vanishing means the device was unplugged: everything stops.
 *
 * Transmit: each slot id (0..255) owns one page, granted read-only to the backend once per
 * connection; a frame is copied into as many slots as it needs (NETTXF_more_data between them;
 * the first request's size is the whole frame's), pushed, and the backend kicked when the
 * event-index rule says so. A slot is free again when its response comes back; NETIF_RSP_ERROR is
 * counted.
 * Receive: `rxBuffers` pages, granted read-write to the backend, posted as rx requests (id = buffer
 * index); each response's bytes are read at its offset and the buffer reposted at once. Fragments
 * (NETRXF_more_data) are joined. A bad response (unknown id, status out of range) is counted and
 * skipped — the backend is a peer, and peer input never throws.
 *
 * Waits count generations (STYLE §9): of the event channel while connected, of the driver's wait
 * queue while not; closing a channel wakes its waiters, so nobody sleeps on a dead one.
 */
import { FrontRing } from '@xenotype/ring';
import { FrontendDevice, NODE, XEN_IO_PROTO_ABI_NATIVE, XenbusError, XenbusState, XenstoreError, readState, switchState, type Co, type DriverCaps, type Outcome, type WaitQueue, watchPaths, closeFrontend, waitForBackendRestart } from '@xenotype/xenbus';
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
  /** Guest system time by which the first connection must be up. */
  deadline?: number;
  /** Receive buffers posted (pages; default 64, at most 256). */
  rxBuffers?: number;
}

export interface NetfrontStats {
  txPackets: number;
  txBytes: number;
  /** Packets the backend refused (NETIF_RSP_ERROR). */
  txErrors: number;
  /** Packets still in flight when a backend went away. */
  txLost: number;
  rxPackets: number;
  rxBytes: number;
  /** Receive responses with an error status, or that made no sense (bad id, offset, size). */
  rxErrors: number;
  /** Times send() found no room and waited. */
  txWaits: number;
  notifies: number;
  /** Connections made (the first included) and lost. */
  connects: number;
  disconnects: number;
}

type TxRing = FrontRing<NetifTxRequest, NetifTxResponse>;
type RxRing = FrontRing<NetifRxRequest, NetifRxResponse>;

const S = XenbusState;

/** One connection to one backend. */
interface Conn {
  readonly tx: TxRing;
  readonly rx: RxRing;
  readonly txRing: { gfn: number; ref: number };
  readonly rxRing: { gfn: number; ref: number };
  readonly port: number;
  readonly backendId: number;
  /** Grants of the tx slot pages to this backend (made on first use). */
  readonly txGref: number[];
  /** Grants of the rx buffers to this backend. */
  readonly rxGref: number[];
}

export class Netfront {
  readonly stats: NetfrontStats = { txPackets: 0, txBytes: 0, txErrors: 0, txLost: 0, rxPackets: 0, rxBytes: 0, rxErrors: 0, txWaits: 0, notifies: 0, connects: 0, disconnects: 0 };
  /** Our directory, /local/domain/<self>/device/vif/<devid>. */
  readonly dir: string;
  private conn: Conn | null = null;
  private prepared: Conn | null = null;
  private device: FrontendDevice | null = null;
  private readonly wq: WaitQueue;
  /** Free transmit slot ids (each owns a page, granted per connection). */
  private txFree: number[] = [];
  private readonly txPage: number[] = [];
  private readonly rxPage: number[] = [];
  /** Frames received, not yet taken. */
  private readonly rxQueue: Uint8Array[] = [];
  private rxPartial: Uint8Array[] = [];
  private rxPosted = 0;
  private faulted: string | null = null;
  /** close() was called: no more reconnecting. */
  closed = false;
  /** Our directory vanished: the device was unplugged. */
  removed = false;

  private constructor(
    private readonly caps: DriverCaps,
    readonly devid: number,
    readonly mac: Mac,
    readonly mtu: number,
    private readonly nBuf: number,
  ) {
    this.dir = `/local/domain/${caps.domid}/device/${VIF_TYPE}/${devid}`;
    this.wq = caps.waitQueue();
    this.resetTxSlots();
  }

  /** Connect the vif `devid` (default 0); on success the device is Connected and stays so across backend restarts. */
  static *connect(caps: DriverCaps, o: NetfrontOptions = {}): Co<Outcome<Netfront>> {
    const devid = o.devid ?? 0;
    const dir = `/local/domain/${caps.domid}/device/${VIF_TYPE}/${devid}`;
    const macNode = yield* caps.xs.read(`${dir}/${VIF_NODE.mac}`);
    const mac = parseMac(macNode);
    if (!mac) return { ok: false, error: new XenbusError('no-device', dir, `mac "${macNode}" missing or malformed`) };
    const mtuNode = yield* caps.xs.read(`${dir}/${VIF_NODE.mtu}`);
    const mtu = mtuNode !== null && /^\d{2,5}$/.test(mtuNode) ? Number(mtuNode) : 1500;
    const nf = new Netfront(caps, devid, mac, mtu, Math.max(1, Math.min(NET_RX_RING_SIZE, o.rxBuffers ?? 64)));
    const fe = yield* nf.handshake(o.deadline);
    if (typeof fe === 'string') {
      nf.release(nf.prepared);
      nf.prepared = null;
      if ((yield* readState(caps.xs, dir)) !== S.Unknown) yield* switchState(caps.xs, dir, S.Closing);
      return { ok: false, error: new XenbusError('peer-closed', dir, fe) };
    }
    nf.up(fe);
    caps.spawn(`netfront-${devid}-xenbus`, nf.main());
    return { ok: true, value: nf };
  }

  get connected(): boolean {
    return this.conn !== null;
  }

  /** The backend's domain (of the current connection, or the last). */
  get backendId(): number {
    return this.device?.backendId ?? -1;
  }

  /** Receive buffers posted and not yet filled. */
  get rxBuffersPosted(): number {
    return this.rxPosted;
  }

  /** Transmit slots free now (0 while disconnected). */
  get txSlotsFree(): number {
    return this.conn ? Math.min(this.txFree.length, this.conn.tx.freeRequests()) : 0;
  }

  /** A ring fault (the backend produced a bad index) that ended the last connection, if any. */
  get fault(): string | null {
    return this.faulted;
  }

  // ------------------------------------------------------------------------------ data path

  private kick(c: Conn): void {
    this.stats.notifies++;
    this.caps.evtchn.notify(c.port);
  }

  /** The backend broke a ring: stop using it; the xenbus thread reconnects. */
  private breakOff(c: Conn, why: string): void {
    if (this.faulted || this.conn !== c) return;
    this.faulted = why;
    this.caps.log(`netfront ${this.devid}: backend broke the ring: ${why}`);
    const xs = this.caps.xs;
    const dir = this.dir;
    this.caps.spawn(`netfront-${this.devid}-fault`, (function* () {
      try {
        yield* switchState(xs, dir, S.Closing);
      } catch {
        // removed meanwhile
      }
    })());
  }

  /** Take transmit responses: free their slots, count errors. */
  private reapTx(c: Conn): void {
    for (let r = c.tx.takeResponse(); r !== null; r = c.tx.takeResponse()) {
      if (r.status === NETIF_RSP.NULL) continue;
      if (r.id >= NET_TX_RING_SIZE || this.txFree.includes(r.id)) {
        this.stats.txErrors++;
        continue;
      }
      this.txFree.push(r.id);
      if (r.status !== NETIF_RSP.OKAY) this.stats.txErrors++;
    }
    if (c.tx.fault) this.breakOff(c, c.tx.fault.message);
  }

  private slot(c: Conn, id: number): { gfn: number; gref: number } {
    this.txPage[id] ??= this.caps.memory.allocPage();
    c.txGref[id] ??= this.caps.grants.grantAccess(c.backendId, this.txPage[id], true);
    return { gfn: this.txPage[id], gref: c.txGref[id] };
  }

  /**
   * Queue one frame now if there is room; false if not (or if the frame is empty or longer than
   * XEN_NETIF_MAX_TX_SIZE, or we are not connected).
   */
  trySend(frame: Uint8Array): boolean {
    const c = this.conn;
    if (!c || this.faulted || frame.length === 0 || frame.length > XEN_NETIF_MAX_TX_SIZE) return false;
    this.reapTx(c);
    const slots = Math.ceil(frame.length / NETIF_PAGE_SIZE);
    if (this.txSlotsFree < slots) return false;
    const mem = this.caps.memory.mem;
    for (let i = 0, off = 0; i < slots; i++, off += NETIF_PAGE_SIZE) {
      const id = this.txFree.pop()!;
      const { gfn, gref } = this.slot(c, id);
      const len = Math.min(NETIF_PAGE_SIZE, frame.length - off);
      mem.setBytes(gfn * NETIF_PAGE_SIZE, frame.subarray(off, off + len));
      c.tx.produceRequest({ gref, offset: 0, flags: i < slots - 1 ? NETTXF.more_data : 0, id, size: i === 0 ? frame.length : len });
    }
    if (c.tx.pushRequestsAndCheckNotify()) this.kick(c);
    this.stats.txPackets++;
    this.stats.txBytes += frame.length;
    return true;
  }

  /**
   * Send one frame, waiting for room (or for a connection); false if it cannot be sent (empty or
   * too long, the device closed or removed) or at `deadline`.
   */
  *send(frame: Uint8Array, deadline?: number): Co<boolean> {
    if (frame.length === 0 || frame.length > XEN_NETIF_MAX_TX_SIZE) return false;
    for (;;) {
      if (this.closed || this.removed) return false;
      const c = this.conn;
      if (!c || this.faulted) {
        if (!(yield* this.waitForConnection(deadline))) return false;
        continue;
      }
      const seen = this.caps.evtchn.generation(c.port);
      if (this.trySend(frame)) return true;
      // No room: ask to be told of the next response, and wait unless one raced in.
      if (c.tx.finalCheckForResponses()) continue;
      this.stats.txWaits++;
      if ((yield* this.caps.evtchn.wait(c.port, seen, deadline)) < 0 && this.conn === c) return false;
    }
  }

  private *waitForConnection(deadline?: number): Co<boolean> {
    const g = this.wq.generation;
    if ((this.conn && !this.faulted) || this.closed || this.removed) return true;
    return (yield* this.wq.wait(g, deadline)) >= 0;
  }

  /** Move receive responses into the queue and repost their buffers. */
  private reapRx(c: Conn): void {
    let reposted = 0;
    const mem = this.caps.memory.mem;
    for (let r = c.rx.takeResponse(); r !== null; r = c.rx.takeResponse()) {
      const id = r.id;
      if (id >= this.rxPage.length) {
        this.stats.rxErrors++;
        this.rxPartial = [];
        continue; // not one of our buffers: nothing to repost
      }
      this.rxPosted--;
      if (r.status <= 0 || r.offset + r.status > NETIF_PAGE_SIZE) {
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
      if (!c.rx.full()) {
        c.rx.produceRequest({ id, gref: c.rxGref[id] });
        this.rxPosted++;
        reposted++;
      }
    }
    if (reposted > 0 && c.rx.pushRequestsAndCheckNotify()) this.kick(c);
    if (c.rx.fault) this.breakOff(c, c.rx.fault.message);
  }

  /** A received frame if one is waiting (never waits). */
  tryRecv(): Uint8Array | null {
    const c = this.conn;
    if (c && !this.faulted) {
      this.reapRx(c);
      this.reapTx(c);
    }
    return this.rxQueue.shift() ?? null;
  }

  /** The next received frame; null at `deadline`, or once the device is closed or removed. */
  *recv(deadline?: number): Co<Uint8Array | null> {
    for (;;) {
      const c = this.conn;
      if (!c || this.faulted) {
        const f = this.rxQueue.shift();
        if (f) return f;
        if (this.closed || this.removed) return null;
        if (!(yield* this.waitForConnection(deadline))) return null;
        continue;
      }
      const seen = this.caps.evtchn.generation(c.port);
      const f = this.tryRecv();
      if (f) return f;
      if (this.closed || this.removed) return null;
      if (c.rx.finalCheckForResponses()) continue;
      if ((yield* this.caps.evtchn.wait(c.port, seen, deadline)) < 0 && this.conn === c) return null;
    }
  }

  /** Frames received and not yet taken. */
  get queued(): number {
    return this.rxQueue.length;
  }

  // ------------------------------------------------------------------------------ xenbus

  /** Unplug: Closing, wait for the backend to follow (until `deadline`), Closed. No reconnecting. */
  *close(deadline?: number): Co<void> {
    if (this.closed) return;
    this.closed = true;
    this.wq.wake();
    const fe = this.device;
    if (fe) yield* fe.close(deadline);
    this.down();
  }

  /**
   * The handshake, watching our directory, our `backend` node and the backend's state, so that a
   * backend that vanishes or is replaced meanwhile ends it (with the reason) instead of hanging it.
   */
  private *handshake(deadline?: number): Co<FrontendDevice | string> {
    const opened = yield* FrontendDevice.open(this.caps.xs, VIF_TYPE, this.devid);
    if (!opened.ok) return opened.error.message;
    const fe = opened.value;
    const ready = yield* this.waitBackend(fe, [S.InitWait, S.Initialised, S.Connected], deadline);
    if (ready !== 'ok') return `backend ${fe.backendPath} ${ready} before InitWait`;
    if ((yield* this.readBackend(fe, VIF_NODE.featureRxCopy)) !== '1') return 'backend does not offer feature-rx-copy';
    const nodes = this.setup(fe);
    yield* fe.publish({ [NODE.protocol]: XEN_IO_PROTO_ABI_NATIVE, ...nodes }, S.Initialised);
    const connected = yield* this.waitBackend(fe, [S.Connected], deadline);
    if (connected !== 'ok') return `backend ${fe.backendPath} ${connected} before Connected`;
    if (!(yield* fe.switchState(S.Connected))) return 'device removed';
    return fe;
  }

  private *readBackend(fe: FrontendDevice, node: string): Co<string | null> {
    try {
      return yield* fe.readBackend(node);
    } catch (e) {
      if (e instanceof XenstoreError) return null;
      throw e;
    }
  }

  private *waitBackend(fe: FrontendDevice, want: readonly XenbusState[], deadline?: number): Co<'ok' | 'moved' | 'gone' | 'closed' | 'removed' | 'timed out'> {
    const { xs } = this.caps;
    const own = `${this.dir}/${NODE.state}`;
    const beNode = `${this.dir}/${NODE.backend}`;
    const r = yield* watchPaths(
      xs,
      [own, beNode, `${fe.backendPath}/${NODE.state}`],
      function* () {
        if ((yield* xs.read(own)) === null) return 'removed' as const;
        if ((yield* xs.read(beNode)) !== fe.backendPath) return 'moved' as const;
        const s = yield* readState(xs, fe.backendPath);
        if (want.includes(s)) return 'ok' as const;
        if (s === S.Unknown) return 'gone' as const;
        return s === S.Closing || s === S.Closed ? ('closed' as const) : undefined;
      },
      deadline,
    );
    return r ?? 'timed out';
  }

  /** Fresh rings and channel for `fe`'s backend; every receive buffer granted to it and posted. */
  private setup(fe: FrontendDevice): Record<string, string | number> {
    const { memory, grants, evtchn } = this.caps;
    const ring = () => {
      const gfn = memory.allocPage();
      return { gfn, ref: grants.grantAccess(fe.backendId, gfn, false) };
    };
    const txRing = ring();
    const rxRing = ring();
    const c: Conn = {
      tx: FrontRing.init(memory.mem, txRing.gfn * NETIF_PAGE_SIZE, txRequestCodec, txResponseCodec),
      rx: FrontRing.init(memory.mem, rxRing.gfn * NETIF_PAGE_SIZE, rxRequestCodec, rxResponseCodec),
      txRing,
      rxRing,
      port: evtchn.allocUnbound(fe.backendId),
      backendId: fe.backendId,
      txGref: [],
      rxGref: [],
    };
    for (let i = 0; i < this.nBuf; i++) {
      this.rxPage[i] ??= memory.allocPage();
      c.rxGref[i] = grants.grantAccess(fe.backendId, this.rxPage[i], false);
      c.rx.produceRequest({ id: i, gref: c.rxGref[i] });
    }
    c.rx.pushRequests();
    this.prepared = c;
    return {
      [VIF_NODE.txRingRef]: txRing.ref,
      [VIF_NODE.rxRingRef]: rxRing.ref,
      [VIF_NODE.eventChannel]: c.port,
      [VIF_NODE.requestRxCopy]: 1,
      [VIF_NODE.featureRxNotify]: 1,
      [VIF_NODE.featureSg]: 1,
    };
  }

  private up(fe: FrontendDevice): void {
    this.device = fe;
    this.conn = this.prepared;
    this.prepared = null;
    this.faulted = null;
    this.rxPosted = this.nBuf;
    this.rxPartial = [];
    this.resetTxSlots();
    this.stats.connects++;
    this.wq.wake();
  }

  private resetTxSlots(): void {
    this.txFree = [];
    for (let i = NET_TX_RING_SIZE - 1; i >= 0; i--) this.txFree.push(i);
  }

  /** Drop the connection: what was in flight is lost; rings, channel and grants released. */
  private down(): void {
    const c = this.conn;
    if (!c) return;
    this.conn = null;
    this.stats.disconnects++;
    this.stats.txLost += NET_TX_RING_SIZE - this.txFree.length;
    this.release(c);
    this.wq.wake();
  }

  private release(c: Conn | null): void {
    if (!c) return;
    const { grants, evtchn, memory } = this.caps;
    try {
      evtchn.close(c.port); // wakes whoever waits on it
    } catch {
      // already closed
    }
    for (const r of [c.txRing, c.rxRing]) if (grants.endAccess(r.ref)) memory.freePage(r.gfn);
    for (const g of [...c.txGref, ...c.rxGref]) if (g !== undefined) grants.endAccess(g);
  }

  /** The xenbus thread: after each connection, wait for trouble, then reconnect (or stop). */
  private *main(): Co<void> {
    const { xs } = this.caps;
    for (;;) {
      let end: 'again' | 'removed' | 'closed';
      try {
        end = yield* this.waitForTrouble();
      } catch (e) {
        if (!(e instanceof XenstoreError)) throw e;
        end = 'again';
      }
      if (this.closed) return;
      this.down();
      for (;;) {
        try {
          if (end === 'removed' || (yield* xs.read(`${this.dir}/${NODE.state}`)) === null) return this.gone();
          yield* this.closeOwn();
          if ((yield* this.waitForBackend()) === 'removed') return this.gone();
          if (this.closed) return;
          const fe = yield* this.handshake();
          if (this.closed) return;
          if (typeof fe !== 'string') {
            this.up(fe);
            break;
          }
          this.caps.log(`netfront ${this.devid}: reconnect: ${fe}`);
        } catch (e) {
          if (!(e instanceof XenstoreError)) throw e;
          this.caps.log(`netfront ${this.devid}: xenstore: ${e.message}`);
        }
        this.release(this.prepared);
        this.prepared = null;
        end = 'again';
      }
    }
  }

  /** Wait until the backend closes or vanishes, is replaced, we broke off, or our directory goes. */
  private *waitForTrouble(): Co<'again' | 'removed' | 'closed'> {
    const fe = this.device!;
    const { xs } = this.caps;
    const own = `${this.dir}/${NODE.state}`;
    const beNode = `${this.dir}/${NODE.backend}`;
    const self = this;
    const r = yield* watchPaths(xs, [own, beNode, `${fe.backendPath}/${NODE.state}`], function* () {
      if (self.closed) return 'closed' as const;
      if ((yield* xs.read(own)) === null) return 'removed' as const;
      if (self.faulted || (yield* xs.read(beNode)) !== fe.backendPath) return 'again' as const;
      const s = yield* readState(xs, fe.backendPath);
      return s === S.Closing || s === S.Closed || s === S.Unknown ? ('again' as const) : undefined;
    });
    return r ?? 'removed';
  }

  /** Our end to Closed (through Closing). */
  private *closeOwn(): Co<void> {
    yield* closeFrontend(this.caps.xs, this.dir);
  }

  /**
   * Wait for a backend to talk to, then restart our end: the backend our `backend` node names (the
   * toolstack may rewrite it) must be ready for a frontend — Initialising, InitWait, or Closed
   * waiting for us — then we go Initialising and wait for its InitWait. A backend that vanishes or
   * is replaced meanwhile sends us back to the first wait.
   */
  private *waitForBackend(): Co<'ready' | 'removed'> {
    return yield* waitForBackendRestart(this.caps.xs, this.dir, () => this.closed);
  }

  /** Our directory is gone: the device was unplugged. */
  private gone(): void {
    this.removed = true;
    this.down();
    this.release(this.prepared);
    this.prepared = null;
    this.wq.wake();
    this.caps.log(`netfront ${this.devid}: device removed`);
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
