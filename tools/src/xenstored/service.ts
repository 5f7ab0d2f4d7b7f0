/**
 * xenstored as dom0 userspace: the pure server of @xenotype/xenstore behind three thin transports,
 * all served by one dom0 thread and charged to dom0's vCPU like any dom0 work.
 *
 * - Guests: INTRODUCE maps the guest's store page through its grant entry 1
 *   (GNTTABOP_map_grant_ref, as xenstored's map_interface does) and binds the guest's store event
 *   channel (EVTCHNOP_bind_interdomain). Requests are read from the req ring, replies and watch
 *   events written to the rsp ring; we kick the guest whenever we move an index.
 * - Host tools on a Unix socket: the host's socket adapter hands bytes to `SocketLink.receive` and
 *   raises the "socket" machine interrupt (a pirq bound by this daemon); replies go back through
 *   the link's `send`. Every socket connection is privileged (domain 0), as with C xenstored.
 * - Tools inside dom0 (the toolstack): `client(os)` gives a privileged connection called in-process
 *   (`LocalXenstore`), as a socket client in dom0 would be.
 *
 * VIRQ_DOM_EXC makes the daemon re-check introduced domains (getdomaininfo): a shut-down domain
 * fires @releaseDomain once; a dying or vanished one is disconnected, its nodes are removed and
 * @releaseDomain fires.
 *
 * Work loop: wake on any of those events; read every input; handle every complete request; charge
 * `requestNs` per request plus `byteNs` per byte moved; then deliver the outputs (so a reply leaves
 * after the work that produced it); sleep until the next event.
 */
import { EVTCHNOP, GNTTAB_RESERVED_XENSTORE, HYPERVISOR, VIRQ, abi } from '@xenotype/core';
import { Signal, type MiniOS, type ThreadOp } from '@xenotype/minios';
import {
  RING,
  REQ_RING,
  RSP_RING,
  StreamConnection,
  XENSTORE_CONNECTED,
  XENSTORE_ERROR,
  XS,
  XenstoreServer,
  XsClientBase,
  ringRead,
  ringReset,
  ringWrite,
  type Connection,
  type DomainLink,
  type Quotas,
  type XsErr,
  type XsMessage,
} from '@xenotype/xenstore';
import type { Dom0, Dom0Service } from '../host/host';
import type { Xc } from '../xc/xc';

/** The machine interrupt line of the host's xenstore socket (routed to dom0). */
export const XENSTORED_SOCKET_PIRQ = 40;

export interface XenstoredCosts {
  /** CPU time per request handled (parse, tree work, reply). */
  requestNs: number;
  /** CPU time per byte moved through a ring or socket buffer. */
  byteNs: number;
}

/**
 * C xenstored handles ~30 k requests/s per core on our machines, i.e. ~30 µs per round trip of
 * which the daemon's own work is a few µs; 2 µs per request and 0.25 ns per byte model that work.
 */
export const DEFAULT_XENSTORED_COSTS: XenstoredCosts = { requestNs: 2_000, byteNs: 0.25 };

export interface XenstoredOptions {
  quotas?: Partial<Quotas>;
  costs?: Partial<XenstoredCosts>;
  /** Lines the daemon logs (CONTROL print, errors). */
  log?: (line: string) => void;
}

/** A guest's ring, mapped in dom0 (the DomainLink the server was given at INTRODUCE). */
class RingLink implements DomainLink {
  stream: StreamConnection | null = null;
  closed = false;
  constructor(
    private readonly svc: Xenstored,
    readonly domid: number,
    readonly mapping: { handle: number; addr: number; gfn: number },
    public port: number,
  ) {}
  get addr(): number {
    return this.mapping.addr;
  }
  reset(): void {
    const mem = this.svc.os.cpu.mem;
    ringReset(mem, this.addr);
    mem.setU32(this.addr + RING.CONNECTION, XENSTORE_CONNECTED);
    mem.setU32(this.addr + RING.ERROR, XENSTORE_ERROR.NONE);
    this.stream?.reset();
    this.svc.os.evtchn.notify(this.port);
  }
  rebind(port: number): void {
    const ev = this.svc.os.evtchn;
    ev.close(this.port);
    this.port = ev.bindInterdomain(this.domid, port, () => this.svc.wake());
  }
  error(code: number): void {
    this.svc.os.cpu.mem.setU32(this.addr + RING.ERROR, code);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const os = this.svc.os;
    try {
      os.evtchn.close(this.port);
    } catch {
      /* the guest's end is gone already */
    }
    os.gnttab.unmap(this.mapping);
    this.svc.rings.delete(this.domid);
  }
}

/** A host socket client, as dom0's xenstored sees it. Host side: `receive` and `hangup`. */
export class SocketLink {
  readonly inbox: Uint8Array[] = [];
  hungUp = false;
  /** Set when the daemon dropped the connection (protocol violation). */
  dropped = false;
  stream: StreamConnection | null = null;
  constructor(
    readonly id: number,
    /** Deliver bytes to the peer (the host writes them to the socket). */
    readonly send: (b: Uint8Array) => void,
    /** The daemon closes the connection. */
    readonly drop: () => void,
  ) {}
  /** Bytes arrived from the peer (host side; the adapter then raises the socket interrupt). */
  receive(b: Uint8Array): void {
    this.inbox.push(b);
  }
  /** The peer closed its end. */
  hangup(): void {
    this.hungUp = true;
  }
}

export class Xenstored implements Dom0Service {
  readonly name = 'xenstored';
  readonly server: XenstoreServer;
  readonly costs: XenstoredCosts;
  os!: MiniOS;
  xc!: Xc;
  /** Notified by every event the daemon serves (ring ports, the socket pirq, VIRQ_DOM_EXC, tools). */
  readonly kick = new Signal();
  readonly rings = new Map<number, RingLink>();
  private readonly sockets = new Map<number, SocketLink>();
  private nextSocket = 1;
  private domExc = false;
  /** Set once the daemon's thread has bound its event channels. */
  running = false;
  readonly stats = { wakeups: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
  private readonly log: (line: string) => void;

  constructor(opts: XenstoredOptions = {}) {
    this.costs = { ...DEFAULT_XENSTORED_COSTS, ...opts.costs };
    this.log = opts.log ?? (() => {});
    this.server = new XenstoreServer(
      {
        domainInfo: (d) => {
          const i = this.xc?.domainGetInfo(d);
          return i ? { dying: i.dying, shutdown: i.shutdown } : null;
        },
        introduce: (domid, gfn, port) => this.attach(domid, port),
        log: (l) => this.log(l),
      },
      opts.quotas,
    );
  }

  /** Wake the daemon's thread (from an upcall handler or another dom0 thread). */
  wake(): void {
    this.os?.notify(this.kick);
  }

  // ---------------------------------------------------------------- the daemon thread

  *main({ os, xc }: Dom0): Generator<ThreadOp, void, void> {
    this.os = os;
    this.xc = xc;
    os.evtchn.bindVirq(VIRQ.DOM_EXC, 0, () => {
      this.domExc = true;
      this.wake();
    });
    const pirqPort = os.scratchFor().call(abi.evtchn_bind_pirq, { pirq: XENSTORED_SOCKET_PIRQ, flags: 0 }, (a) => os.cpu.hypercall(HYPERVISOR.event_channel_op, EVTCHNOP.bind_pirq, a), 'EVTCHNOP_bind_pirq').port;
    os.evtchn.on(pirqPort, () => this.wake());
    this.running = true;
    for (;;) {
      const seen = this.kick.gen;
      this.stats.wakeups++;
      const r0 = this.server.requests;
      const b0 = this.stats.bytesIn + this.stats.bytesOut;
      this.poll();
      const n = this.server.requests - r0;
      if (n > 0) {
        this.stats.requests += n;
        yield* os.compute(n * this.costs.requestNs + (this.stats.bytesIn + this.stats.bytesOut - b0) * this.costs.byteNs);
      }
      this.flush();
      if (this.kick.gen === seen) yield* os.waitFor(this.kick, seen);
    }
  }

  /** Read every input and handle every complete request. */
  private poll(): void {
    if (this.domExc) {
      this.domExc = false;
      this.server.checkDomains();
    }
    const mem = this.os.cpu.mem;
    for (const link of this.rings.values()) {
      const conn = this.server.domainConnection(link.domid);
      if (!conn || conn.ignored) continue;
      link.stream ??= new StreamConnection(this.server, conn);
      const got = ringRead(mem, link.addr, REQ_RING);
      if (got === null) {
        this.server.ignore(conn, XENSTORE_ERROR.RINGIDX);
        continue;
      }
      if (got.length === 0) continue;
      this.stats.bytesIn += got.length;
      this.os.evtchn.notify(link.port); // we consumed: the guest may write more
      link.stream.receive(got);
    }
    for (const link of this.sockets.values()) {
      if (!link.stream) link.stream = new StreamConnection(this.server, this.server.connect(`socket${link.id}`));
      while (link.inbox.length > 0 && !link.dropped) {
        const b = link.inbox.shift()!;
        this.stats.bytesIn += b.length;
        if (!link.stream.receive(b)) {
          const last = link.stream.output();
          if (last) link.send(last);
          link.dropped = true;
          link.drop();
        }
      }
      if (link.hungUp || link.dropped) {
        this.server.close(link.stream.conn);
        this.sockets.delete(link.id);
      }
    }
  }

  /** Deliver queued replies and events: rings as far as they have room, sockets whole. */
  private flush(): void {
    const mem = this.os.cpu.mem;
    for (const link of this.rings.values()) {
      if (!link.stream?.hasOutput) continue;
      const n = link.stream.drainTo((d, off) => ringWrite(mem, link.addr, RSP_RING, d, off));
      if (n < 0) this.server.ignore(link.stream.conn, XENSTORE_ERROR.RINGIDX);
      else if (n > 0) {
        this.stats.bytesOut += n;
        this.os.evtchn.notify(link.port);
      }
    }
    for (const link of this.sockets.values()) {
      const out = link.stream?.output();
      if (out) {
        this.stats.bytesOut += out.length;
        link.send(out);
      }
    }
  }

  /** INTRODUCE: map the guest's ring (grant entry 1) and bind its store event channel. */
  private attach(domid: number, port: number): DomainLink | XsErr {
    const os = this.os;
    if (!os) return 'EINVAL';
    let mapping;
    try {
      mapping = os.gnttab.map(domid, GNTTAB_RESERVED_XENSTORE);
    } catch {
      return 'EINVAL';
    }
    let local: number;
    try {
      local = os.evtchn.bindInterdomain(domid, port, () => this.wake());
    } catch {
      os.gnttab.unmap(mapping);
      return 'EINVAL';
    }
    const link = new RingLink(this, domid, mapping, local);
    this.rings.set(domid, link);
    return link;
  }

  // ---------------------------------------------------------------- host side

  /** A new socket client (host side). Raise XENSTORED_SOCKET_PIRQ after feeding it bytes. */
  openSocket(send: (b: Uint8Array) => void, drop: () => void): SocketLink {
    const link = new SocketLink(this.nextSocket++, send, drop);
    this.sockets.set(link.id, link);
    return link;
  }

  // ---------------------------------------------------------------- dom0 tools

  /** A privileged connection for a tool running in dom0 (call from a dom0 thread). */
  client(os: MiniOS): LocalXenstore {
    return new LocalXenstore(this, os);
  }
}

/**
 * The toolstack's xenstore handle inside dom0: requests go straight to the daemon's server, as
 * over a local socket; each is charged to the calling dom0 thread, and the daemon is woken to
 * deliver whatever events the request caused to guests and sockets.
 */
export class LocalXenstore extends XsClientBase<ThreadOp> {
  readonly domid = 0;
  readonly conn: Connection;
  private reqId = 0;
  private inCall = false;
  private readonly evSig = new Signal();

  constructor(
    private readonly svc: Xenstored,
    private readonly os: MiniOS,
  ) {
    super();
    this.conn = svc.server.connect('dom0-tools');
    this.conn.onOutput = () => {
      if (this.inCall) return;
      for (const m of this.conn.take()) if (m.type === XS.WATCH_EVENT) this.deliver(m);
      this.os.notify(this.evSig);
    };
  }

  protected *rpc(type: number, payload: Uint8Array, tx: number): Generator<ThreadOp, XsMessage, void> {
    let reply: XsMessage | undefined;
    this.inCall = true;
    try {
      this.svc.server.handle(this.conn, { type, reqId: ++this.reqId >>> 0, txId: tx, payload });
      for (const m of this.conn.take()) {
        if (m.type === XS.WATCH_EVENT) this.deliver(m);
        else reply = m;
      }
    } finally {
      this.inCall = false;
    }
    this.svc.wake();
    yield* this.os.compute(this.svc.costs.requestNs + (payload.length + (reply?.payload.length ?? 0)) * this.svc.costs.byteNs);
    return reply!;
  }

  protected *waitEvents(seen: number, deadline: number): Generator<ThreadOp, boolean, void> {
    if (this.watchGeneration > seen) return true;
    return (yield* this.os.waitFor(this.evSig, this.evSig.gen, deadline)) >= 0;
  }

  /** Close the connection (its watches and transactions go). */
  close(): void {
    this.svc.server.close(this.conn);
  }
}
