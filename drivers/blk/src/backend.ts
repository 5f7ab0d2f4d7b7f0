/**
 * blkback: the backend of Xen's virtual block device, for a driver domain, built over DriverCaps
 * and a BlockDevice (never over a frontend: the two share only xenstore, the granted ring page,
 * the granted data pages and the event channel).
 *
 * One `Blkback` serves every vbd of its domain (`serve(caps, dir)` per backend directory, run by
 * the driver domain) and owns the domain's disk scheduler (./disk.ts), so the vbds' requests meet
 * at one modelled disk in round-robin batches, as the paper's VBD scheduler serves domains.
 *
 * Lifecycle of one vbd (Linux xen-blkback's xenbus.c, as intent-named steps):
 *   open the device named by our directory's params/mode/type (the toolstack's nodes) through the
 *     `open` capability, write hotplug-status = connected (the block script's job in Linux);
 *   wait until the frontend is Initialising (or Initialised);
 *   backendConnect: publish feature-flush-cache, feature-discard, discard-granularity/alignment
 *     with InitWait; once the frontend is Initialised read ring-ref, event-channel and protocol
 *     (peer input, validated), map the ring page, bind the channel, write sectors, sector-size,
 *     physical-sector-size and info, switch to Connected;
 *   serve the ring until the frontend closes (or vanishes), our directory is removed, or the
 *     frontend breaks the ring (a producer index out of range: we switch to Closing, as blkback
 *     stops a misbehaving ring);
 *   tear down (drop queued work, unmap, close the channel), Closing → wait for the frontend to
 *     close (or to have started over already) → Closed → wait for it to start again (a restarted
 *     frontend, or the same one reconnecting) — until the toolstack removes our directory.
 *
 * Requests. Each request is copied out of the ring and checked (protocol.ts `checkRequest`:
 * segment counts, first/last_sect, sector bounds, read-only, supported operation). A refused
 * request is answered at once with BLKIF_RSP_ERROR or EOPNOTSUPP; an accepted one is queued at the
 * disk and answered, possibly out of order, when the disk has served it. Nothing a frontend writes
 * makes the backend throw; a grant reference Xen refuses makes that request fail.
 *
 * Data moves by grant copy (GNTTABOP_copy), not grant map. Linux's blkback maps the frontend's
 * pages (and keeps them mapped with feature-persistent); copying is simpler to make safe: no
 * mapping outlives a request, so nothing the frontend granted stays pinned if we are destroyed,
 * nothing needs unmapping on teardown, and a bad or withdrawn reference is just a failed copy.
 * Reads and writes go through 11 bounce pages of our own; every segment of a write is copied in
 * before any byte reaches the device, so a bad reference in segment 7 writes nothing.
 *
 * Costs (virtual time): the disk's service time (./disk.ts) passes asleep; the CPU time of the
 * backend is `requestNs` per request plus `bytes / copyBytesPerNs` for the copies, charged to the
 * driver domain's vCPU through TimeCap.compute. Defaults: 2 µs per request (Linux blkback's
 * per-request path with a grant copy hypercall, order of magnitude) and 4 bytes/ns (~4 GB/s, a
 * memcpy of cold pages).
 */
import { BackRing } from '@xenotype/ring';
import { NODE, XEN_IO_PROTO_ABI_NATIVE, XenbusState, XenstoreError, backendConnect, parseUint, readState, writeNodes, BackendDevice, type Co, type DriverCaps, type GrantMapping, watchPaths } from '@xenotype/xenbus';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BLKIF_RSP,
  BLKIF_SECTOR_SIZE,
  BLK_NODE,
  VDISK,
  blkifRequestCodec,
  blkifResponseCodec,
  checkRequest,
  type BlkCheckedOp,
  type BlkGeometry,
  type BlkRefusal,
  type BlkifRequest,
  type BlkifResponse,
} from './protocol';
import type { BlockDevice } from './device';
import { DiskScheduler, type DiskClient, type DiskSchedulerOptions } from './disk';

export interface BlkbackCosts {
  /** CPU time per request (ring, checks, response, bookkeeping). */
  requestNs: number;
  /** Copy speed of grant copies, bytes per ns of CPU. */
  copyBytesPerNs: number;
}

export const DEFAULT_BLKBACK_COSTS: BlkbackCosts = { requestNs: 2_000, copyBytesPerNs: 4 };

/** What the toolstack wrote in the backend directory about the storage. */
export interface VbdConfig {
  dir: string;
  frontendDomid: number;
  devid: number;
  /** `params`: what to open (a path for type phy/file). */
  params: string;
  /** `mode`: "r" or "w". */
  mode: string;
  /** `type`: "phy", "file", ... */
  type: string;
}

/** Open the storage of a vbd; a string is the reason it cannot be opened. */
export type OpenBlockDevice = (c: VbdConfig) => BlockDevice | string;

export interface BlkbackOptions {
  open: OpenBlockDevice;
  disk?: DiskSchedulerOptions;
  costs?: Partial<BlkbackCosts>;
}

export interface VbdStats {
  connects: number;
  requests: number;
  okay: number;
  errors: number;
  unsupported: number;
  refused: Partial<Record<BlkRefusal | 'grant' | 'io', number>>;
  ringFaults: number;
  bytesRead: number;
  bytesWritten: number;
  flushes: number;
  discards: number;
}

interface Connection {
  ring: BackRing<BlkifRequest, BlkifResponse>;
  mapping: GrantMapping;
  port: number;
  client: DiskClient;
  stopped: boolean;
}

const S = XenbusState;

/** blkback for one driver domain: call `serve(caps, dir)` for each vbd backend directory. */
export class Blkback {
  readonly costs: BlkbackCosts;
  private scheduler: DiskScheduler | null = null;
  /** The vbds served now, by backend directory (for tests and reports). */
  readonly vbds = new Map<string, VbdBackend>();

  constructor(readonly opts: BlkbackOptions) {
    this.costs = { ...DEFAULT_BLKBACK_COSTS, ...opts.costs };
  }

  /** The domain's disk scheduler, once a vbd has connected (null before). */
  get diskScheduler(): DiskScheduler | null {
    return this.scheduler;
  }

  /** The domain's disk (created with the first vbd). */
  disk(caps: DriverCaps): DiskScheduler {
    return (this.scheduler ??= new DiskScheduler(caps, this.opts.disk));
  }

  /**
   * This blkback as one driver domain's "vbd" backend driver (the shape a driver domain's devd
   * serves device directories with): `serve(dir)` per backend/vbd/<fe>/<devid> directory.
   */
  driver(caps: DriverCaps): { readonly type: 'vbd'; serve(dir: string): Co<void> } {
    return { type: 'vbd', serve: (dir) => this.serve(caps, dir) };
  }

  /** Serve the vbd whose backend directory is `dir` until the toolstack removes it. */
  *serve(caps: DriverCaps, dir: string): Co<void> {
    const v = new VbdBackend(this, caps, dir);
    this.vbds.set(dir, v);
    try {
      yield* v.run();
    } finally {
      this.vbds.delete(dir);
    }
  }
}

/** One vbd's backend. */
export class VbdBackend {
  device: BlockDevice | null = null;
  geometry: BlkGeometry | null = null;
  private dev: BackendDevice | null = null;
  private conn: Connection | null = null;
  private readonly bounce: number[] = [];
  readonly stats: VbdStats = { connects: 0, requests: 0, okay: 0, errors: 0, unsupported: 0, refused: {}, ringFaults: 0, bytesRead: 0, bytesWritten: 0, flushes: 0, discards: 0 };

  constructor(
    private readonly owner: Blkback,
    private readonly caps: DriverCaps,
    readonly dir: string,
  ) {}

  private log(line: string): void {
    this.caps.log(`blkback ${this.dir}: ${line}`);
  }

  *run(): Co<void> {
    const { xs } = this.caps;
    const opened = yield* BackendDevice.open(xs, this.dir);
    if (!opened.ok) return this.log(opened.error.message);
    const dev = (this.dev = opened.value);
    const node = (n: string) => xs.read(`${this.dir}/${n}`);
    const cfg: VbdConfig = {
      dir: this.dir,
      frontendDomid: dev.frontendId,
      devid: dev.devid,
      params: (yield* node(BLK_NODE.params)) ?? '',
      mode: (yield* node(BLK_NODE.mode)) ?? 'r',
      type: (yield* node(BLK_NODE.type)) ?? 'phy',
    };
    const device = this.owner.opts.open(cfg);
    if (typeof device === 'string' || device.sectorSize !== BLKIF_SECTOR_SIZE) {
      this.log(`cannot open "${cfg.params}": ${typeof device === 'string' ? device : `sector size ${device.sectorSize} (only 512 is offered)`}`);
      yield* writeNodes(xs, this.dir, { [NODE.hotplugStatus]: 'error' });
      yield* dev.switchState(S.Closed);
      return;
    }
    const discardEnable = (yield* node(BLK_NODE.discardEnable)) !== '0';
    const readOnly = device.readOnly || cfg.mode !== 'w';
    this.device = device;
    this.geometry = { sectors: Math.floor(device.size / BLKIF_SECTOR_SIZE), readOnly, flush: true, discard: discardEnable && !readOnly && device.discardGranularity > 0 };
    yield* writeNodes(xs, this.dir, { [NODE.hotplugStatus]: 'connected' });
    for (let i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) this.bounce.push(this.caps.memory.allocPage());
    try {
      for (;;) {
        let end: 'closing' | 'removed' | 'fault' = 'closing';
        try {
          if ((yield* this.waitForFrontend([S.Initialising, S.Initialised])) === 'removed') return;
          const r = yield* backendConnect(xs, this.dir, { features: this.features(), attach: (be, nodes) => this.attach(be, nodes) });
          if (r.ok) {
            this.stats.connects++;
            end = yield* this.serveConnection();
          } else this.log(r.error.message);
        } catch (e) {
          // a frontend that dies under us can leave its paths unreadable mid-handshake
          if (!(e instanceof XenstoreError)) throw e;
          this.log(`xenstore: ${e.message}`);
        }
        this.disconnect();
        if (end === 'removed' || (yield* xs.read(`${this.dir}/${NODE.state}`)) === null) return;
        if ((yield* dev.state()) !== S.Closed) yield* dev.switchState(S.Closing);
        // the frontend acknowledges the teardown by closing — or has already started over
        if ((yield* this.waitForFrontend([S.Closing, S.Closed, S.Unknown, S.Initialising])) === 'removed') return;
        yield* dev.switchState(S.Closed);
      }
    } finally {
      this.disconnect();
      for (const g of this.bounce.splice(0)) this.caps.memory.freePage(g);
    }
  }

  private features(): Record<string, string | number> {
    const g = this.geometry!;
    const f: Record<string, string | number> = { [BLK_NODE.featureFlushCache]: 1, [BLK_NODE.featureBarrier]: 0, [BLK_NODE.featureDiscard]: g.discard ? 1 : 0 };
    if (g.discard) Object.assign(f, { [BLK_NODE.discardGranularity]: this.device!.discardGranularity, [BLK_NODE.discardAlignment]: 0, [BLK_NODE.discardSecure]: 0 });
    return f;
  }

  /** Wait until the frontend is in one of `want`, or our directory is removed. */
  private *waitForFrontend(want: readonly XenbusState[]): Co<'ready' | 'removed'> {
    const { xs } = this.caps;
    const fe = this.dev!.frontendPath;
    const own = `${this.dir}/${NODE.state}`;
    const r = yield* watchPaths(xs, [own, `${fe}/${NODE.state}`], function* () {
      if ((yield* xs.read(own)) === null) return 'removed' as const;
      return want.includes(yield* readState(xs, fe)) ? ('ready' as const) : undefined;
    });
    return r ?? 'removed';
  }

  /** backendConnect's attach step: validate the frontend's nodes, map the ring, bind the channel. */
  private *attach(be: BackendDevice, nodes: Record<string, string | null>): Co<string | void> {
    const ref = parseUint(nodes[NODE.ringRef]);
    const remote = parseUint(nodes[NODE.eventChannel]);
    const proto = nodes[NODE.protocol] ?? XEN_IO_PROTO_ABI_NATIVE;
    if (ref === null || remote === null) return `bad ring-ref "${nodes[NODE.ringRef]}" or event-channel "${nodes[NODE.eventChannel]}"`;
    if (proto !== XEN_IO_PROTO_ABI_NATIVE) return `unsupported protocol "${proto}"`;
    const { grants, evtchn, memory } = this.caps;
    const mapping = grants.map(be.frontendId, ref, false); // a refusal throws GrantStatusError: backendConnect reports it
    let port: number;
    try {
      port = evtchn.bindInterdomain(be.frontendId, remote);
    } catch (e) {
      grants.unmap(mapping);
      return `cannot bind event channel ${remote}: ${(e as Error).message}`;
    }
    const ring = BackRing.attach(memory.mem, mapping.addr, blkifRequestCodec, blkifResponseCodec);
    const client = this.owner.disk(this.caps).addClient(this.dir, this.device!.size);
    this.conn = { ring, mapping, port, client, stopped: false };
    const g = this.geometry!;
    yield* writeNodes(this.caps.xs, this.dir, {
      [BLK_NODE.sectors]: g.sectors,
      [BLK_NODE.sectorSize]: BLKIF_SECTOR_SIZE,
      [BLK_NODE.physicalSectorSize]: BLKIF_SECTOR_SIZE,
      [BLK_NODE.info]: g.readOnly ? VDISK.READONLY : 0,
    });
  }

  /** Serve the ring until the frontend closes, our directory goes, or the ring faults. */
  private *serveConnection(): Co<'closing' | 'removed' | 'fault'> {
    const conn = this.conn!;
    this.caps.spawn(`blkback-ring ${this.dir}`, this.ringLoop(conn));
    const { xs } = this.caps;
    const fe = this.dev!.frontendPath;
    const own = `${this.dir}/${NODE.state}`;
    const r = yield* watchPaths(xs, [own, `${fe}/${NODE.state}`], function* () {
      if ((yield* xs.read(own)) === null) return 'removed' as const;
      if (conn.stopped) return 'fault' as const;
      const s = yield* readState(xs, fe);
      return s === S.Closing || s === S.Closed || s === S.Unknown ? ('closing' as const) : undefined;
    });
    return r ?? 'removed';
  }

  /** Drop the connection: queued work, the ring mapping and the event channel (wakes the ring thread). */
  private disconnect(): void {
    const c = this.conn;
    if (!c) return;
    this.conn = null;
    c.stopped = true;
    this.owner.disk(this.caps).removeClient(c.client);
    try {
      this.caps.grants.unmap(c.mapping);
    } catch (e) {
      this.log(`unmap of the ring failed: ${(e as Error).message}`);
    }
    try {
      this.caps.evtchn.close(c.port);
    } catch {
      // the frontend's end may be gone already
    }
  }

  private *ringLoop(conn: Connection): Co<void> {
    const { evtchn } = this.caps;
    const { ring } = conn;
    while (!conn.stopped) {
      const seen = evtchn.generation(conn.port);
      let refused = 0;
      for (let req = ring.takeRequest(); req !== null; req = ring.takeRequest()) if (!this.handle(conn, req)) refused++;
      this.push(conn);
      if (ring.fault) {
        this.stats.ringFaults++;
        this.log(`frontend broke the ring: ${ring.fault.message}; closing`);
        conn.stopped = true;
        yield* this.dev!.switchState(S.Closing); // our watcher sees it and tears down
        return;
      }
      if (refused > 0) yield* this.caps.time.compute(refused * this.owner.costs.requestNs);
      if (conn.stopped) return;
      if (!ring.finalCheckForRequests()) yield* evtchn.wait(conn.port, seen);
    }
  }

  /** Check one request: answer a refusal now, queue an accepted one at the disk. Returns whether accepted. */
  private handle(conn: Connection, req: BlkifRequest): boolean {
    this.stats.requests++;
    const c = checkRequest(req, this.geometry!);
    if (!c.ok) {
      this.count(c.status, c.reason);
      this.respond(conn, c.id, c.operation, c.status);
      return false;
    }
    const bytes = c.op === 'discard' ? 0 : c.nrSectors * BLKIF_SECTOR_SIZE;
    const kind = c.op === 'flush' ? (c.segments.length > 0 ? 'write' : 'flush') : c.op;
    this.owner.disk(this.caps).submit(conn.client, {
      kind,
      offset: c.sector * BLKIF_SECTOR_SIZE,
      bytes,
      flush: c.op === 'flush',
      run: () => this.complete(conn, c, bytes),
    });
    return true;
  }

  private count(status: number, reason: BlkRefusal | 'grant' | 'io'): void {
    if (status === BLKIF_RSP.EOPNOTSUPP) this.stats.unsupported++;
    else this.stats.errors++;
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
  }

  /** The disk served `c`: move the data, answer. */
  private *complete(conn: Connection, c: BlkCheckedOp, bytes: number): Co<void> {
    if (conn.stopped) return;
    const status = this.io(conn, c);
    yield* this.caps.time.compute(this.owner.costs.requestNs + bytes / this.owner.costs.copyBytesPerNs);
    if (conn.stopped) return; // torn down meanwhile: the frontend will re-issue it
    if (status === BLKIF_RSP.OKAY) this.stats.okay++;
    this.respond(conn, c.id, c.operation, status);
    this.push(conn);
  }

  /** Carry out a checked request against the device; returns the BLKIF_RSP_* status. */
  private io(conn: Connection, c: BlkCheckedOp): number {
    const dev = this.device!;
    const fe = this.dev!.frontendId;
    const { grants, memory } = this.caps;
    const S512 = BLKIF_SECTOR_SIZE;
    try {
      switch (c.op) {
        case 'read': {
          let pos = c.sector * S512;
          for (const [i, s] of c.segments.entries()) {
            const off = s.firstSect * S512;
            const len = (s.lastSect - s.firstSect + 1) * S512;
            const buf = new Uint8Array(len);
            dev.read(pos, buf);
            memory.mem.setBytes(this.bounce[i] * BLKIF_PAGE_SIZE + off, buf);
            if (grants.copy({ gfn: this.bounce[i], offset: off }, { ref: s.gref, dom: fe, offset: off }, len) !== 0) return this.fail('grant', `read: grant ${s.gref} refused`);
            pos += len;
          }
          this.stats.bytesRead += c.nrSectors * S512;
          return BLKIF_RSP.OKAY;
        }
        case 'write':
        case 'flush': {
          for (const [i, s] of c.segments.entries()) {
            const off = s.firstSect * S512;
            const len = (s.lastSect - s.firstSect + 1) * S512;
            if (grants.copy({ ref: s.gref, dom: fe, offset: off }, { gfn: this.bounce[i], offset: off }, len) !== 0) return this.fail('grant', `write: grant ${s.gref} refused`);
          }
          let pos = c.sector * S512;
          for (const [i, s] of c.segments.entries()) {
            const off = s.firstSect * S512;
            const len = (s.lastSect - s.firstSect + 1) * S512;
            dev.write(pos, memory.mem.getBytes(this.bounce[i] * BLKIF_PAGE_SIZE + off, len));
            pos += len;
          }
          this.stats.bytesWritten += c.nrSectors * S512;
          if (c.op === 'flush') {
            dev.flush();
            this.stats.flushes++;
          }
          return BLKIF_RSP.OKAY;
        }
        case 'discard':
          if (c.nrSectors > 0) dev.discard(c.sector * S512, c.nrSectors * S512);
          this.stats.discards++;
          return BLKIF_RSP.OKAY;
      }
    } catch (e) {
      return this.fail('io', `${c.op} at sector ${c.sector}: ${(e as Error)?.message ?? e}`);
    }
  }

  private fail(reason: 'grant' | 'io', msg: string): number {
    this.count(BLKIF_RSP.ERROR, reason);
    this.log(msg);
    return BLKIF_RSP.ERROR;
  }

  private respond(conn: Connection, id: bigint, operation: number, status: number): void {
    conn.ring.produceResponse({ id, operation, status });
  }

  private push(conn: Connection): void {
    if (conn.ring.pushResponsesAndCheckNotify()) this.caps.evtchn.notify(conn.port);
  }
}
