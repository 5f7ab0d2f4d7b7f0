/**
 * blkfront: the guest's end of a virtual block device, built over DriverCaps (any guest runtime
 * can host it; MiniOS wraps it as `BlkFront`). It never calls a backend: it publishes its ring in
 * its own xenstore directory, grants pages, and kicks an event channel.
 *
 * Handshake (frontendConnect): wait for the backend's InitWait; allocate a ring page
 * (FRONT_RING_INIT), grant it to the backend, allocate an unbound event channel; publish ring-ref,
 * event-channel and protocol = x86_64-abi with Initialised in one transaction; wait for Connected;
 * read sectors, sector-size, info and the feature nodes (peer input: validated, a malformed value
 * refuses the connection); switch to Connected.
 *
 * I/O. `read`, `write`, `flush`, `discard` are coroutines for the guest's threads. A read or write is
 * split into ring requests of at most 11 pages (88 sectors, 44 KiB), each on pages of its own
 * granted to the backend (read-write for reads, read-only for writes), and waits until all are
 * answered. Ring requests carry a unique id; responses may come in any order and are matched by
 * id; a response naming no request in flight is counted and ignored. Requests beyond the ring's 32
 * slots wait in a queue; the I/O thread refills the ring as responses free slots.
 *
 * Recovery (Linux blkfront's blkif_recover, for a backend that goes away): when the backend
 * switches to Closing or Closed, or its directory vanishes (its driver domain died: xenstored
 * removes a dead domain's nodes), or breaks our ring, we keep every request in flight: their
 * grants are withdrawn, the old ring page and event channel released, and they go back to the head
 * of the queue in their original order. We close our end (Closing → Closed) and wait for a backend
 * to be ready — the toolstack re-creates the backend directory, in a new driver domain perhaps,
 * and points our `backend`/`backend-id` nodes at it — then switch to Initialising and connect
 * again with a new ring, a new channel and new grants, and re-issue the requests that were never
 * answered. A request is answered exactly once to its caller; a write the old backend carried
 * out but did not acknowledge is written again (writes are idempotent). Only the removal of our
 * own directory (the device was unplugged) fails the requests, with BLKIF_RSP_ERROR.
 *
 * Threads: the xenbus thread (handshake, watching for trouble, recovery) and one I/O thread per
 * connection (responses); callers wait on a WaitQueue. Connections are numbered (`epoch`); the I/O
 * thread of an old connection ends when it finds the number changed (closing the channel wakes it).
 */
import { FrontRing } from '@xenotype/ring';
import { FrontendDevice, NODE, XEN_IO_PROTO_ABI_NATIVE, XenbusState, XenstoreError, parseUint, readState, switchState, type Co, type DriverCaps, type WaitQueue, watchPaths, closeFrontend, waitForBackendRestart } from '@xenotype/xenbus';
import {
  BLKIF_OP,
  BLKIF_PAGE_SIZE,
  BLKIF_RSP,
  BLKIF_SECTOR_SIZE,
  BLK_NODE,
  MAX_SECTORS_PER_REQUEST,
  SECTORS_PER_PAGE,
  VDISK,
  blkifRequestCodec,
  blkifResponseCodec,
  type BlkifRequest,
  type BlkifResponse,
} from './protocol';

/** What the backend told us of the disk. */
export interface BlkInfo {
  sectors: number;
  sectorSize: number;
  /** The info node's VDISK_* bits. */
  info: number;
  readOnly: boolean;
  flush: boolean;
  discard: boolean;
  discardGranularity: number;
  discardAlignment: number;
  backendId: number;
}

export type BlkResult<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

export interface BlkfrontStats {
  connects: number;
  disconnects: number;
  /** Ring requests produced (re-issues included). */
  ringRequests: number;
  /** Ring requests answered. */
  completed: number;
  /** Ring requests answered with an error status. */
  errors: number;
  /** Ring requests put on a new ring after their backend went away unanswered. */
  reissued: number;
  /** Requests in flight at each disconnection. */
  inFlightAtDisconnect: number[];
  /** Responses naming no request in flight. */
  badResponses: number;
  /** Grants the backend still had mapped when we withdrew them (their pages are not reused). */
  leakedGrants: number;
}

type Kind = 'read' | 'write' | 'flush' | 'discard';

const OPERATION: Record<Kind, number> = { read: BLKIF_OP.READ, write: BLKIF_OP.WRITE, flush: BLKIF_OP.FLUSH_DISKCACHE, discard: BLKIF_OP.DISCARD };

interface Pending {
  readonly id: number;
  readonly kind: Kind;
  readonly sector: number;
  readonly nrSectors: number;
  /** Our data pages (gfns), sector i of the request at page i >> 3, slot i & 7. */
  readonly pages: number[];
  /** Grants of the pages on the current connection (empty when not on a ring). */
  grefs: number[];
  /** Whether it was on a ring that went away unanswered. */
  reissue: boolean;
  leaked: boolean;
  done: boolean;
  status: number;
}

interface Ring {
  ring: FrontRing<BlkifRequest, BlkifResponse>;
  gfn: number;
  ref: number;
  port: number;
}

const S = XenbusState;
/** Data pages kept for reuse: a full ring of full requests. */
const POOL_PAGES = 32 * 11;

const ok = <T>(value: T): BlkResult<T> => ({ ok: true, value });
const fail = <T>(status: number, error: string): BlkResult<T> => ({ ok: false, status, error });

/** A u64 node from a peer as a safe integer; null when absent or malformed. */
function parseU64(v: string | null): number | null {
  if (v === null || !/^\d{1,16}$/.test(v.trim())) return null;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : null;
}

export class BlkFrontend {
  /** Our device directory. */
  readonly dir: string;
  info: BlkInfo | null = null;
  connected = false;
  /** Set when our directory was removed: every request fails from then on. */
  gone = false;
  /** Connection number (bumped on every connect and disconnect). */
  epoch = 0;
  readonly stats: BlkfrontStats = { connects: 0, disconnects: 0, ringRequests: 0, completed: 0, errors: 0, reissued: 0, inFlightAtDisconnect: [], badResponses: 0, leakedGrants: 0 };
  private conn: Ring | null = null;
  /** A ring prepared by a handshake that has not completed. */
  private prepared: Ring | null = null;
  private backendId = -1;
  private faulted = false;
  private readonly inflight = new Map<number, Pending>();
  private queue: Pending[] = [];
  private nextId = 1;
  /** Data pages of finished requests, reused (not granted to anyone while here). */
  private readonly pool: number[] = [];
  private readonly wq: WaitQueue;

  private constructor(
    private readonly caps: DriverCaps,
    readonly devid: number,
  ) {
    this.dir = `/local/domain/${caps.domid}/device/vbd/${devid}`;
    this.wq = caps.waitQueue();
  }

  /** Start the frontend of vbd `devid` (its xenbus thread connects in the background). */
  static start(caps: DriverCaps, devid: number): BlkFrontend {
    const f = new BlkFrontend(caps, devid);
    caps.spawn(`blkfront ${devid}`, f.main());
    return f;
  }

  private log(line: string): void {
    this.caps.log(`blkfront ${this.devid}: ${line}`);
  }

  /** Requests not yet answered (on a ring or queued). */
  get outstanding(): number {
    return this.inflight.size + this.queue.length;
  }

  /** Ring requests on the current ring, unanswered. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** Wait until connected (true), the device is gone or `deadline` passes (false). */
  *waitConnected(deadline?: number): Co<boolean> {
    for (;;) {
      const seen = this.wq.generation;
      if (this.connected) return true;
      if (this.gone) return false;
      if ((yield* this.wq.wait(seen, deadline)) < 0) return false;
    }
  }

  // ------------------------------------------------------------------------------ the guest's API

  /** Read `count` sectors (512 bytes) from `sector`. */
  *read(sector: number, count: number): Co<BlkResult<Uint8Array>> {
    const bad = this.checkArgs(sector, count);
    if (bad) return fail(BLKIF_RSP.ERROR, bad);
    const parts = this.split('read', sector, count);
    yield* this.run(parts);
    const err = this.firstError(parts);
    let out: Uint8Array | null = null;
    if (!err) {
      out = new Uint8Array(count * BLKIF_SECTOR_SIZE);
      let at = 0;
      for (const p of parts)
        for (let i = 0; i < p.pages.length; i++) {
          const n = Math.min(SECTORS_PER_PAGE, p.nrSectors - i * SECTORS_PER_PAGE) * BLKIF_SECTOR_SIZE;
          out.set(this.caps.memory.mem.getBytes(p.pages[i] * BLKIF_PAGE_SIZE, n), at);
          at += n;
        }
    }
    this.release(parts);
    return err ?? ok(out!);
  }

  /** Write `data` (a whole number of sectors) at `sector`. */
  *write(sector: number, data: Uint8Array): Co<BlkResult<void>> {
    if (data.length % BLKIF_SECTOR_SIZE !== 0) return fail(BLKIF_RSP.ERROR, `write of ${data.length} bytes is not a whole number of sectors`);
    const count = data.length / BLKIF_SECTOR_SIZE;
    const bad = this.checkArgs(sector, count);
    if (bad) return fail(BLKIF_RSP.ERROR, bad);
    const parts = this.split('write', sector, count);
    let at = 0;
    for (const p of parts)
      for (const g of p.pages) {
        const chunk = data.subarray(at, at + BLKIF_PAGE_SIZE);
        this.caps.memory.mem.setBytes(g * BLKIF_PAGE_SIZE, chunk);
        at += chunk.length;
      }
    yield* this.run(parts);
    const err = this.firstError(parts);
    this.release(parts);
    return err ?? ok(undefined);
  }

  /** Make every write answered so far durable (BLKIF_OP_FLUSH_DISKCACHE). */
  *flush(): Co<BlkResult<void>> {
    if (this.info && !this.info.flush) return fail(BLKIF_RSP.EOPNOTSUPP, 'the backend offers no flush');
    const p = this.pending('flush', 0, 0, 0);
    yield* this.run([p]);
    return this.firstError([p]) ?? ok(undefined);
  }

  /** Discard `count` sectors from `sector` (they read as zeros afterwards). */
  *discard(sector: number, count: number): Co<BlkResult<void>> {
    if (this.info && !this.info.discard) return fail(BLKIF_RSP.EOPNOTSUPP, 'the backend offers no discard');
    const bad = this.checkArgs(sector, count);
    if (bad) return fail(BLKIF_RSP.ERROR, bad);
    const p = this.pending('discard', sector, count, 0);
    yield* this.run([p]);
    return this.firstError([p]) ?? ok(undefined);
  }

  private checkArgs(sector: number, count: number): string | null {
    if (!(Number.isSafeInteger(sector) && sector >= 0 && Number.isSafeInteger(count) && count >= 0)) return `bad sector range ${sector}+${count}`;
    return null;
  }

  private pending(kind: Kind, sector: number, nrSectors: number, pages: number): Pending {
    const id = this.nextId++;
    const gfns: number[] = [];
    for (let i = 0; i < pages; i++) gfns.push(this.pool.pop() ?? this.caps.memory.allocPage());
    return { id, kind, sector, nrSectors, pages: gfns, grefs: [], reissue: false, leaked: false, done: false, status: BLKIF_RSP.OKAY };
  }

  /** Ring requests of at most 88 sectors each. */
  private split(kind: 'read' | 'write', sector: number, count: number): Pending[] {
    const out: Pending[] = [];
    for (let s = 0; s < count; s += MAX_SECTORS_PER_REQUEST) {
      const n = Math.min(MAX_SECTORS_PER_REQUEST, count - s);
      out.push(this.pending(kind, sector + s, n, Math.ceil(n / SECTORS_PER_PAGE)));
    }
    return out;
  }

  private firstError(parts: Pending[]): BlkResult<never> | null {
    const p = parts.find((x) => x.status !== BLKIF_RSP.OKAY);
    if (!p) return null;
    const what = this.gone ? 'device removed' : p.status === BLKIF_RSP.EOPNOTSUPP ? 'not supported by the backend' : 'I/O error';
    return fail(p.status, `${p.kind} of ${p.nrSectors} sectors at ${p.sector}: ${what}`);
  }

  /** Give a request's pages back: kept for the next requests (up to a ring's worth), else freed. */
  private release(parts: Pending[]): void {
    for (const p of parts)
      if (!p.leaked)
        for (const g of p.pages) {
          if (this.pool.length < POOL_PAGES) this.pool.push(g);
          else this.caps.memory.freePage(g);
        }
  }

  /** Queue `parts`, fill the ring, and wait until every part is answered. */
  private *run(parts: Pending[]): Co<void> {
    if (this.gone) {
      for (const p of parts) this.finish(p, BLKIF_RSP.ERROR);
      return;
    }
    this.queue.push(...parts);
    this.kick();
    for (;;) {
      const seen = this.wq.generation;
      if (parts.every((p) => p.done)) return;
      yield* this.wq.wait(seen);
    }
  }

  private finish(p: Pending, status: number): void {
    p.status = status;
    p.done = true;
  }

  // ------------------------------------------------------------------------------ the ring

  /** Move queued requests onto the ring (as far as it has room), push, and kick if the backend asked. */
  private kick(): void {
    const c = this.conn;
    if (!this.connected || !c) return;
    let n = 0;
    while (this.queue.length > 0 && !c.ring.full()) {
      this.issue(c, this.queue.shift()!);
      n++;
    }
    if (n > 0 && c.ring.pushRequestsAndCheckNotify()) this.caps.evtchn.notify(c.port);
  }

  private issue(c: Ring, p: Pending): void {
    const readonly = p.kind !== 'read'; // the backend only reads what we write
    p.grefs = p.pages.map((g) => this.caps.grants.grantAccess(this.backendId, g, readonly));
    const last = p.pages.length - 1;
    const req: BlkifRequest =
      p.kind === 'discard'
        ? { kind: 'discard', operation: BLKIF_OP.DISCARD, flag: 0, handle: this.devid & 0xffff, id: BigInt(p.id), sectorNumber: p.sector, nrSectors: p.nrSectors }
        : {
            kind: 'rw',
            operation: OPERATION[p.kind],
            nrSegments: p.pages.length,
            handle: this.devid & 0xffff,
            id: BigInt(p.id),
            sectorNumber: p.sector,
            segments: p.grefs.map((gref, i) => ({ gref, firstSect: 0, lastSect: i < last ? SECTORS_PER_PAGE - 1 : (p.nrSectors - 1) % SECTORS_PER_PAGE })),
          };
    c.ring.produceRequest(req);
    this.inflight.set(p.id, p);
    this.stats.ringRequests++;
    if (p.reissue) {
      this.stats.reissued++;
      p.reissue = false;
    }
  }

  /** Withdraw a request's grants; a page the backend still maps is never reused. */
  private endGrants(p: Pending): void {
    for (const ref of p.grefs)
      if (!this.caps.grants.endAccess(ref)) {
        p.leaked = true;
        this.stats.leakedGrants++;
      }
    p.grefs = [];
  }

  /** Take every response waiting; returns how many requests it completed. */
  private consume(c: Ring): number {
    let n = 0;
    for (let r = c.ring.takeResponse(); r !== null; r = c.ring.takeResponse()) {
      const p = r.id <= BigInt(Number.MAX_SAFE_INTEGER) ? this.inflight.get(Number(r.id)) : undefined;
      if (!p) {
        this.stats.badResponses++;
        continue;
      }
      this.inflight.delete(p.id);
      this.endGrants(p);
      const valid = r.operation === OPERATION[p.kind] && (r.status === BLKIF_RSP.OKAY || r.status === BLKIF_RSP.ERROR || r.status === BLKIF_RSP.EOPNOTSUPP);
      const status = valid ? r.status : BLKIF_RSP.ERROR;
      if (status !== BLKIF_RSP.OKAY) this.stats.errors++;
      this.stats.completed++;
      this.finish(p, status);
      n++;
    }
    return n;
  }

  private *ioLoop(epoch: number, c: Ring): Co<void> {
    const { evtchn } = this.caps;
    for (;;) {
      if (this.epoch !== epoch) return;
      const seen = evtchn.generation(c.port);
      if (this.consume(c) > 0) this.wq.wake();
      this.kick();
      if (c.ring.fault) {
        this.log(`backend broke the ring: ${c.ring.fault.message}`);
        this.faulted = true;
        yield* switchState(this.caps.xs, this.dir, S.Closing); // the xenbus thread sees it and recovers
        return;
      }
      if (!c.ring.finalCheckForResponses()) yield* evtchn.wait(c.port, seen);
    }
  }

  // ------------------------------------------------------------------------------ xenbus

  private *main(): Co<void> {
    const { xs } = this.caps;
    for (let first = true; ; first = false) {
      let end: 'again' | 'removed';
      try {
        end = yield* this.session(first);
      } catch (e) {
        // A backend that dies under us takes its nodes with it, and paths under its domain can
        // turn unreadable (EACCES) mid-handshake: peer trouble, so start over.
        if (!(e instanceof XenstoreError)) throw e;
        this.log(`xenstore: ${e.message}`);
        end = 'again';
      }
      if (this.connected) this.disconnect();
      this.releaseRing(this.prepared);
      this.prepared = null;
      try {
        if (end === 'removed' || (yield* xs.read(`${this.dir}/${NODE.state}`)) === null) return this.removed();
        yield* this.closeOwn();
      } catch (e) {
        if (!(e instanceof XenstoreError)) throw e;
        this.log(`xenstore: ${e.message}`);
      }
    }
  }

  /** One connection: (wait for a backend,) handshake, serve until trouble. */
  private *session(first: boolean): Co<'again' | 'removed'> {
    if (!first && (yield* this.waitForBackend()) === 'removed') return 'removed';
    const fe = yield* this.handshake();
    if (typeof fe === 'string') {
      this.log(`connect: ${fe}`);
      return 'again';
    }
    const info = yield* this.readInfo(fe);
    if (typeof info === 'string') {
      this.log(`backend ${fe.backendPath}: ${info}`);
      return 'again';
    }
    this.connect(info);
    return (yield* this.waitForTrouble(fe)) === 'removed' ? 'removed' : 'again';
  }

  /**
   * frontendConnect's steps over FrontendDevice — open, wait for InitWait, set up and publish
   * ring-ref, event-channel and protocol with Initialised in one transaction, wait for Connected,
   * switch to Connected — with waits that also give up when the backend vanishes (its driver
   * domain died) or the toolstack points us at another backend meanwhile. Returns why it failed.
   */
  private *handshake(): Co<FrontendDevice | string> {
    const opened = yield* FrontendDevice.open(this.caps.xs, 'vbd', this.devid);
    if (!opened.ok) return opened.error.message;
    const fe = opened.value;
    const ready = yield* this.waitBackend(fe, [S.InitWait, S.Initialised, S.Connected]);
    if (ready !== 'ok') return `backend ${fe.backendPath} ${ready} before InitWait`;
    const nodes = yield* this.setup(fe);
    yield* fe.publish({ [NODE.protocol]: XEN_IO_PROTO_ABI_NATIVE, ...nodes }, S.Initialised);
    const connected = yield* this.waitBackend(fe, [S.Connected]);
    if (connected !== 'ok') return `backend ${fe.backendPath} ${connected} before Connected`;
    if (!(yield* fe.switchState(S.Connected))) return 'device removed';
    return fe;
  }

  /**
   * Wait for the backend to reach one of `want`. The toolstack creates a backend directory in the
   * same transaction that points our `backend` node at it, so a backend whose state node is
   * missing is gone, not "not yet there".
   */
  private *waitBackend(fe: FrontendDevice, want: readonly XenbusState[]): Co<'ok' | 'moved' | 'gone' | 'closed' | 'removed'> {
    const { xs } = this.caps;
    const own = `${this.dir}/${NODE.state}`;
    const beNode = `${this.dir}/${NODE.backend}`;
    const r = yield* watchPaths(xs, [own, beNode, `${fe.backendPath}/${NODE.state}`], function* () {
      if ((yield* xs.read(own)) === null) return 'removed' as const;
      if ((yield* xs.read(beNode)) !== fe.backendPath) return 'moved' as const;
      const s = yield* readState(xs, fe.backendPath);
      if (want.includes(s)) return 'ok' as const;
      if (s === S.Unknown) return 'gone' as const;
      return s === S.Closing || s === S.Closed ? ('closed' as const) : undefined;
    });
    return r ?? 'removed';
  }

  /** The handshake's setup step: a fresh ring page, its grant, an unbound event channel. */
  private *setup(fe: FrontendDevice): Co<Record<string, string | number>> {
    const { memory, grants, evtchn } = this.caps;
    const gfn = memory.allocPage();
    const ring = FrontRing.init(memory.mem, gfn * BLKIF_PAGE_SIZE, blkifRequestCodec, blkifResponseCodec);
    const ref = grants.grantAccess(fe.backendId, gfn, false);
    const port = evtchn.allocUnbound(fe.backendId);
    this.prepared = { ring, gfn, ref, port };
    this.backendId = fe.backendId;
    return { [NODE.ringRef]: ref, [NODE.eventChannel]: port };
  }

  private releaseRing(c: Ring | null): void {
    if (!c) return;
    try {
      this.caps.evtchn.close(c.port); // wakes an I/O thread waiting on it
    } catch {
      // already closed
    }
    if (this.caps.grants.endAccess(c.ref)) this.caps.memory.freePage(c.gfn);
    else this.stats.leakedGrants++;
  }

  /** The backend's description of the disk (peer input: a malformed node refuses the connection). */
  private *readInfo(fe: FrontendDevice): Co<BlkInfo | string> {
    const rd = function* (n: string): Co<string | null> {
      try {
        return yield* fe.readBackend(n);
      } catch (e) {
        if (e instanceof XenstoreError) return null; // a backend gone under us
        throw e;
      }
    };
    const sectors = parseU64(yield* rd(BLK_NODE.sectors));
    const sectorSize = parseUint(yield* rd(BLK_NODE.sectorSize)) ?? BLKIF_SECTOR_SIZE;
    const info = parseUint(yield* rd(BLK_NODE.info)) ?? 0;
    if (sectors === null) return 'no valid "sectors" node';
    if (sectorSize !== BLKIF_SECTOR_SIZE) return `sector-size ${sectorSize} (we do not offer feature-large-sector-size)`;
    const flag = function* (n: string) {
      return parseUint(yield* rd(n)) === 1;
    };
    const discard = yield* flag(BLK_NODE.featureDiscard);
    return {
      sectors,
      sectorSize,
      info,
      readOnly: (info & VDISK.READONLY) !== 0,
      flush: yield* flag(BLK_NODE.featureFlushCache),
      discard,
      discardGranularity: discard ? (parseUint(yield* rd(BLK_NODE.discardGranularity)) ?? sectorSize) : 0,
      discardAlignment: discard ? (parseUint(yield* rd(BLK_NODE.discardAlignment)) ?? 0) : 0,
      backendId: fe.backendId,
    };
  }

  private connect(info: BlkInfo): void {
    const c = this.prepared!;
    this.prepared = null;
    this.conn = c;
    this.info = info;
    this.faulted = false;
    this.connected = true;
    this.epoch++;
    this.stats.connects++;
    this.caps.spawn(`blkfront-io ${this.devid}`, this.ioLoop(this.epoch, c));
    this.kick(); // re-issues whatever a previous backend left unanswered
    this.wq.wake();
  }

  /** Wait until the backend closes or vanishes, we broke off (ring fault), or our directory goes. */
  private *waitForTrouble(fe: FrontendDevice): Co<'closing' | 'removed'> {
    const { xs } = this.caps;
    const own = `${this.dir}/${NODE.state}`;
    const beNode = `${this.dir}/${NODE.backend}`;
    const self = this;
    const r = yield* watchPaths(xs, [own, beNode, `${fe.backendPath}/${NODE.state}`], function* () {
      const mine = yield* xs.read(own);
      if (mine === null) return 'removed' as const;
      if (self.faulted || (yield* xs.read(beNode)) !== fe.backendPath) return 'closing' as const;
      const s = yield* readState(xs, fe.backendPath);
      return s === S.Closing || s === S.Closed || s === S.Unknown ? ('closing' as const) : undefined;
    });
    return r ?? 'removed';
  }

  /** Keep what was in flight for the next connection; release the ring and the channel. */
  private disconnect(): void {
    this.connected = false;
    this.epoch++;
    this.stats.disconnects++;
    const stranded = [...this.inflight.values()];
    this.stats.inFlightAtDisconnect.push(stranded.length);
    for (const p of stranded) {
      this.endGrants(p);
      p.reissue = true;
    }
    this.inflight.clear();
    this.queue = [...stranded, ...this.queue].sort((a, b) => a.id - b.id);
    this.releaseRing(this.conn);
    this.conn = null;
    if (stranded.length > 0) this.log(`backend gone with ${stranded.length} requests in flight; they wait for the next backend`);
  }

  /** Our end to Closed (through Closing). */
  private *closeOwn(): Co<void> {
    yield* closeFrontend(this.caps.xs, this.dir);
  }

  /**
   * Wait for a backend to talk to, then restart our end. The backend our `backend` node names (the
   * toolstack may rewrite it, pointing at a new driver domain) must first be alive and ready for a
   * frontend — Initialising, InitWait, or Closed waiting for us — then we switch to Initialising,
   * and wait for it to reach InitWait (a backend that vanishes or is replaced meanwhile sends us
   * back to the first wait, still Initialising).
   */
  private *waitForBackend(): Co<'ready' | 'removed'> {
    return yield* waitForBackendRestart(this.caps.xs, this.dir);
  }

  /** Our directory is gone: the device was unplugged. Everything outstanding fails. */
  private removed(): void {
    this.gone = true;
    this.connected = false;
    this.epoch++;
    this.releaseRing(this.conn);
    this.conn = null;
    for (const p of [...this.inflight.values(), ...this.queue]) {
      this.endGrants(p);
      this.finish(p, BLKIF_RSP.ERROR);
    }
    this.inflight.clear();
    this.queue = [];
    this.wq.wake();
    this.log('device removed');
  }
}
