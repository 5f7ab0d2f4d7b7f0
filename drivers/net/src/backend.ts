/**
 * netback: the backend of virtual network interfaces, in a driver domain (or dom0), over
 * DriverCaps only — it never calls a frontend, it reads what frontends granted and answers on
 * their rings. One `Netback` per driver domain serves every vif whose backend directory appears
 * under backend/vif (the driver-domain loop calls `serve(dir)` for each) and owns the bridges they
 * plug into.
 *
 * Per vif (Linux xen-netback's xenbus.c, interface.c, netback.c, with the SOSP'03 VFR):
 *  - Handshake (@xenotype/xenbus backendConnect): publish feature-sg = 1, feature-rx-copy = 1,
 *    feature-rx-flip = 0 and no GSO, checksum, multicast, split-channel, multi-queue or control-ring
 *    features; wait for the frontend's Initialised; require request-rx-copy = 1 and
 *    feature-rx-notify = 1 (as Linux netback does), a single queue and one event-channel; map its
 *    tx-ring-ref and rx-ring-ref, bind the channel; read our own mac, ip and bridge nodes (the
 *    toolstack's), plug the vif into that bridge — the vif-bridge hotplug step, which devd runs in
 *    the driver domain — write hotplug-status = connected, and switch to Connected.
 *  - Transmit: the frontend's requests are taken one packet at a time; each slot is validated
 *    (size at least an Ethernet header, offset + size within the page, at most
 *    XEN_NETIF_NR_SLOTS_MIN slots, fragment sizes adding up, no extra-info type we did not
 *    advertise) and grant-copied out of the frontend's page into our own (GNTTABOP_copy); every
 *    slot gets a response: OKAY, ERROR for a bad packet or a copy Xen refused (bad gref), NULL for
 *    extra-info slots. A bad request never stops the backend; a bad producer index (ring fault)
 *    disconnects that vif alone. The packet then goes through the bridge (./bridge.ts).
 *  - Receive: the frontend posts empty granted pages; a packet for it is grant-copied into as many
 *    as it needs (several with more_data only if the frontend said feature-sg), answered in the
 *    same slots with size and flags. No posted buffer: the packet is dropped and counted, as in the
 *    paper (Xen dropped a packet when the guest had posted no page to flip).
 *  - Scheduling (the paper's net_schedule_list): a vif with transmit work goes on the tail of one
 *    list; a single netback thread takes the head, moves *one* packet, and puts the vif back on the
 *    tail if it has more — round robin between vifs, packet by packet. Responses are pushed and
 *    the event-index rule decides notifications after each batch (at most `batch` packets, or when
 *    the list empties).
 *  - Teardown: the frontend closing, our directory vanishing, or a ring fault (we switch ourselves
 *    to Closing) unplugs the vif, closes the channel and unmaps the rings; Closing, then Closed
 *    once the frontend has closed (or started over). A frontend that comes back (Initialising) is
 *    served again; a restarted driver domain's netback picks the vif up the same way.
 *  - Rules and counters: dom0's firewall nodes under our directory are watched and installed
 *    (./firewall.ts); when dom0 writes statistics/request we publish our counters under
 *    statistics/ (publishStatistics).
 *
 * Threads: `serve` (handshake, then xenstore: frontend state, our state, firewall rules) and one
 * event thread per vif (its channel: puts the vif on the schedule list), plus the netback thread.
 * They run on one vCPU; between two yields a thread runs alone, and every touch of a vif's rings
 * is preceded by a check that it is still connected.
 *
 * Costs: `frameNs` of CPU per packet switched (header copy, rules, demux) plus `byteNs` per byte,
 * charged to the driver domain; every grant copy is a hypercall and costs what hypercalls cost.
 */
import { GNTST } from '@xenotype/core';
import { BackRing } from '@xenotype/ring';
import { BackendDevice, NODE, XenbusState, XenstoreError, backendConnect, parseUint, readState, rmIfPresent, switchState, transaction, watchToken, type Co, type DriverCaps, type GrantMapping, type WaitQueue, watchPaths } from '@xenotype/xenbus';
import { Bridge, type PortStats } from './bridge';
import { DROP_ALL, DIRECTIONS, parseRuleSet, type Direction, type RuleTable } from './firewall';
import {
  ETH_HLEN,
  NETIF_PAGE_SIZE,
  NETIF_RSP,
  NETRXF,
  NETTXF,
  VIF_NODE,
  VIF_TYPE,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  XEN_NETIF_NR_SLOTS_MIN,
  parseMac,
  rxRequestCodec,
  rxResponseCodec,
  txRequestAsExtra,
  txRequestCodec,
  txResponseCodec,
  type Mac,
  type NetifRxRequest,
  type NetifRxResponse,
  type NetifTxRequest,
  type NetifTxResponse,
} from './netif';
import { parseIpv4, type Ipv4 } from './packet';

export interface NetbackCosts {
  /** CPU time per packet switched (header copy, rule walk, demux). */
  frameNs: number;
  /** CPU time per byte switched. */
  byteNs: number;
}

/** The paper's observation: per-packet work dominates; the payload copy costs little per byte. */
export const DEFAULT_NETBACK_COSTS: NetbackCosts = { frameNs: 1_000, byteNs: 0.25 };

export interface NetbackOptions {
  costs?: Partial<NetbackCosts>;
  /** Packets the netback thread moves before pushing responses and notifying (default 32). */
  batch?: number;
  /** Bridges' handling of unknown unicast destinations (default flood). */
  unknownUnicast?: 'flood' | 'drop';
  /** Bridge used when a vif's `bridge` node is absent. */
  defaultBridge?: string;
  /** Lines logged per vif about bad requests before going quiet (default 8). */
  logLimit?: number;
}

export interface VifStats {
  /** Packets the guest transmitted that we took (NETIF_RSP_OKAY), and their bytes. */
  txPackets: number;
  txBytes: number;
  /** Transmitted packets refused with NETIF_RSP_ERROR. */
  txErrors: number;
  /** Packets delivered into the guest's posted buffers, and their bytes. */
  rxPackets: number;
  rxBytes: number;
  /** Packets for the guest dropped because it had posted no (or too few) buffers. */
  rxDropNoBuffer: number;
  /** Packets larger than a page for a guest without feature-sg. */
  rxDropTooBig: number;
  /** Receive slots answered with an error (Xen refused the copy into a posted gref). */
  rxErrors: number;
  /** Event-channel notifications we sent. */
  notifies: number;
}

const zeroStats = (): VifStats => ({ txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxDropNoBuffer: 0, rxDropTooBig: 0, rxErrors: 0, notifies: 0 });

type TxRing = BackRing<NetifTxRequest, NetifTxResponse>;
type RxRing = BackRing<NetifRxRequest, NetifRxResponse>;

/** One connected virtual interface. */
export class Vif {
  connected = true;
  scheduled = false;
  dirty = false;
  faulted: string | null = null;
  firewallError: string | null = null;
  antispoof = true;
  logged = 0;
  readonly stats: VifStats = zeroStats();
  constructor(
    /** Linux's name for it: vif<domid>.<devid>. */
    readonly name: string,
    readonly dir: string,
    readonly frontendId: number,
    readonly devid: number,
    readonly mac: Mac | null,
    readonly ips: readonly Ipv4[],
    readonly bridge: Bridge,
    readonly sg: boolean,
    readonly tx: TxRing,
    readonly rx: RxRing,
    readonly txMap: GrantMapping,
    readonly rxMap: GrantMapping,
    readonly port: number,
  ) {}
}

/** What `attach` learnt and mapped, before the vif exists. */
interface Attached {
  mac: Mac | null;
  ips: Ipv4[];
  bridge: string;
  sg: boolean;
  txMap: GrantMapping;
  rxMap: GrantMapping;
  port: number;
}

const FRONTEND_NODES = [
  VIF_NODE.txRingRef,
  VIF_NODE.rxRingRef,
  VIF_NODE.eventChannel,
  VIF_NODE.eventChannelTx,
  VIF_NODE.requestRxCopy,
  VIF_NODE.featureRxNotify,
  VIF_NODE.featureSg,
  VIF_NODE.multiQueueNumQueues,
  NODE.protocol,
] as const;

/** The features netback publishes with InitWait. */
export const NETBACK_FEATURES: Readonly<Record<string, number>> = {
  [VIF_NODE.featureSg]: 1,
  [VIF_NODE.featureGsoTcpv4]: 0,
  [VIF_NODE.featureGsoTcpv6]: 0,
  [VIF_NODE.featureRxCopy]: 1,
  [VIF_NODE.featureRxFlip]: 0,
  [VIF_NODE.featureMulticastControl]: 0,
  [VIF_NODE.featureSplitEventChannels]: 0,
  [VIF_NODE.featureCtrlRing]: 0,
};

const S = XenbusState;
const closingOrGone = (s: XenbusState): boolean => s === S.Closing || s === S.Closed || s === S.Unknown;

export class Netback {
  readonly type = VIF_TYPE;
  readonly costs: NetbackCosts;
  readonly bridges = new Map<string, Bridge>();
  /** Connected vifs by name. */
  readonly vifs = new Map<string, Vif>();
  /** The paper's net_schedule_list: vifs with transmit work, served round robin. */
  private readonly schedule: Vif[] = [];
  private readonly work: WaitQueue;
  private workerStarted = false;
  private readonly staging: number[] = [];
  private readonly batch: number;
  /** Packets switched, and netback-thread passes (statistics). */
  readonly totals = { packets: 0, passes: 0, vifsServed: 0 };

  constructor(
    readonly caps: DriverCaps,
    readonly opts: NetbackOptions = {},
  ) {
    this.costs = { ...DEFAULT_NETBACK_COSTS, ...opts.costs };
    this.batch = Math.max(1, opts.batch ?? 32);
    this.work = caps.waitQueue();
  }

  /** The bridge of that name (created on first use). */
  bridge(name: string): Bridge {
    let b = this.bridges.get(name);
    if (!b) this.bridges.set(name, (b = new Bridge(name, { unknownUnicast: this.opts.unknownUnicast })));
    return b;
  }

  /** A vif's counters, its bridge port's and its rule tables' (undefined once it disconnected). */
  vifStats(name: string): { vif: VifStats; port: PortStats | undefined; rules: Record<Direction, RuleTable | undefined> } | undefined {
    const v = this.vifs.get(name);
    if (!v) return undefined;
    return { vif: v.stats, port: v.bridge.stats(name), rules: { out: v.bridge.rules(name, 'out'), in: v.bridge.rules(name, 'in') } };
  }

  // ------------------------------------------------------------------------------ a device

  /**
   * Serve the vif whose backend directory is `dir` until it is removed: wait for a frontend that
   * is starting (Initialising), handshake, serve, tear down, Closing → wait for the frontend to
   * close (or to have started over already) → Closed — and again, for a frontend that reconnects.
   */
  *serve(dir: string): Co<void> {
    this.startWorker();
    const xs = this.caps.xs;
    const opened = yield* BackendDevice.open(xs, dir);
    if (!opened.ok) return this.caps.log(`netback: ${opened.error.message}`);
    const dev = opened.value;
    for (;;) {
      try {
        if ((yield* this.waitForFrontend(dev, [S.Initialising, S.Initialised])) === 'removed') return;
        const vif = yield* this.connect(dir);
        if (vif) {
          try {
            yield* this.control(vif);
          } finally {
            this.disconnect(vif);
          }
        }
        if ((yield* xs.read(`${dir}/${NODE.state}`)) === null) return;
        if ((yield* dev.state()) !== S.Closed) yield* dev.switchState(S.Closing);
        if ((yield* this.waitForFrontend(dev, [S.Closing, S.Closed, S.Unknown, S.Initialising])) === 'removed') return;
        yield* dev.switchState(S.Closed);
      } catch (e) {
        // a frontend (or its domain) that dies under us can leave its paths unreadable
        if (!(e instanceof XenstoreError)) throw e;
        this.caps.log(`netback: ${dir}: xenstore: ${e.message}`);
        if ((yield* xs.read(`${dir}/${NODE.state}`)) === null) return;
      }
    }
  }

  /** Wait until the frontend is in one of `want` (Unknown: its directory is gone), or ours is removed. */
  private *waitForFrontend(dev: BackendDevice, want: readonly XenbusState[]): Co<'ready' | 'removed'> {
    const xs = this.caps.xs;
    const own = `${dev.dir}/${NODE.state}`;
    const r = yield* watchPaths(xs, [own, `${dev.frontendPath}/${NODE.state}`], function* () {
      if ((yield* xs.read(own)) === null) return 'removed' as const;
      return want.includes(yield* readState(xs, dev.frontendPath)) ? ('ready' as const) : undefined;
    });
    return r ?? 'removed';
  }

  private *connect(dir: string): Co<Vif | null> {
    const caps = this.caps;
    let got: Attached | null = null;
    const self = this;
    const r = yield* backendConnect(caps.xs, dir, {
      features: NETBACK_FEATURES,
      read: FRONTEND_NODES,
      *attach(be, nodes) {
        const a = yield* self.attach(be, nodes);
        if (typeof a === 'string') return a;
        got = a;
      },
    });
    const a = got as Attached | null;
    if (!r.ok) {
      caps.log(`netback: ${dir}: ${r.error.message}`);
      if (a) this.release(a.port, [a.txMap, a.rxMap], dir);
      return null;
    }
    if (!a) return null;
    const be = r.value;
    const mem = caps.memory.mem;
    const name = `vif${be.frontendId}.${be.devid}`;
    const vif = new Vif(
      name,
      dir,
      be.frontendId,
      be.devid,
      a.mac,
      a.ips,
      this.bridge(a.bridge),
      a.sg,
      BackRing.attach(mem, a.txMap.addr, txRequestCodec, txResponseCodec),
      BackRing.attach(mem, a.rxMap.addr, rxRequestCodec, rxResponseCodec),
      a.txMap,
      a.rxMap,
      a.port,
    );
    vif.bridge.addPort(name, { mac: a.mac ?? undefined, ips: a.ips, antispoof: true });
    this.vifs.set(name, vif);
    this.totals.vifsServed++;
    caps.spawn(`${name}-events`, this.events(vif));
    return vif;
  }

  /** Validate what the frontend published, read our own configuration, map and bind. */
  private *attach(be: BackendDevice, nodes: Record<string, string | null>): Co<Attached | string> {
    const { caps } = this;
    const txRef = parseUint(nodes[VIF_NODE.txRingRef]);
    const rxRef = parseUint(nodes[VIF_NODE.rxRingRef]);
    if (txRef === null || rxRef === null) return 'tx-ring-ref or rx-ring-ref missing or malformed';
    const evt = parseUint(nodes[VIF_NODE.eventChannel]);
    if (evt === null) return nodes[VIF_NODE.eventChannelTx] !== null ? 'split event channels are not supported' : 'event-channel missing or malformed';
    if (nodes[VIF_NODE.requestRxCopy] !== '1') return 'frontend does not request rx-copy (page flipping is not supported)';
    if (nodes[VIF_NODE.featureRxNotify] !== '1') return 'feature-rx-notify is mandatory';
    const q = nodes[VIF_NODE.multiQueueNumQueues];
    if (q !== null && parseUint(q) !== 1) return `multi-queue-num-queues "${q}": only one queue is supported`;

    // Our own nodes, written by the toolstack.
    const xs = caps.xs;
    const macNode = yield* xs.read(`${be.dir}/${VIF_NODE.mac}`);
    const mac = macNode === null ? null : parseMac(macNode);
    if (macNode !== null && mac === null) return `bad mac "${macNode}"`;
    const ipNode = yield* xs.read(`${be.dir}/${VIF_NODE.ip}`);
    const ips: Ipv4[] = [];
    for (const w of (ipNode ?? '').split(/[\s,]+/).filter(Boolean)) {
      const ip = parseIpv4(w);
      if (ip === null) return `bad ip "${w}"`;
      ips.push(ip);
    }
    const bridge = (yield* xs.read(`${be.dir}/${VIF_NODE.bridge}`)) || this.opts.defaultBridge || 'xenbr0';

    let txMap: GrantMapping;
    try {
      txMap = caps.grants.map(be.frontendId, txRef, false);
    } catch (e) {
      return `cannot map tx ring (gref ${txRef}): ${(e as Error).message}`;
    }
    let rxMap: GrantMapping;
    try {
      rxMap = caps.grants.map(be.frontendId, rxRef, false);
    } catch (e) {
      caps.grants.unmap(txMap);
      return `cannot map rx ring (gref ${rxRef}): ${(e as Error).message}`;
    }
    let port: number;
    try {
      port = caps.evtchn.bindInterdomain(be.frontendId, evt);
    } catch (e) {
      caps.grants.unmap(txMap);
      caps.grants.unmap(rxMap);
      return `cannot bind event channel ${evt}: ${(e as Error).message}`;
    }
    // The hotplug step (vif-bridge): the vif is plugged in once connected; say so, as the script does.
    yield* xs.write(`${be.dir}/${VIF_NODE.hotplugStatus}`, 'connected');
    return { mac, ips, bridge, sg: nodes[VIF_NODE.featureSg] === '1', txMap, rxMap, port };
  }

  /**
   * While connected: follow the frontend's state and our own (a fault switches us to Closing),
   * reload the firewall when dom0 changes it. Returns when the vif must go.
   */
  private *control(vif: Vif): Co<void> {
    const xs = this.caps.xs;
    const be = yield* BackendDevice.open(xs, vif.dir);
    if (!be.ok) return;
    const fe = be.value.frontendPath;
    const tokFe = watchToken(xs, `${vif.name}/frontend`);
    const tokDir = watchToken(xs, `${vif.name}/backend`);
    let seen = xs.watchGeneration;
    yield* xs.watch(`${fe}/${NODE.state}`, tokFe);
    yield* xs.watch(vif.dir, tokDir);
    try {
      const fwPath = `${vif.dir}/${VIF_NODE.firewall}`;
      const statsPath = `${vif.dir}/${VIF_NODE.statistics}`;
      const statsRequest = `${statsPath}/request`;
      yield* this.loadFirewall(vif);
      for (;;) {
        if (vif.faulted) return;
        if (closingOrGone(yield* readState(xs, fe))) return;
        if (closingOrGone(yield* readState(xs, vif.dir))) return;
        // Take every event already delivered before acting, so a rule set written in one
        // transaction (an event per node) is read once.
        let firewall = false;
        let stats = false;
        let other = false;
        do {
          const ev = yield* xs.nextWatch(seen);
          if (ev === null) continue;
          seen = ev.gen;
          if (ev.token === tokDir && ev.path.startsWith(fwPath)) firewall = true;
          else if (ev.token === tokDir && ev.path === statsRequest) stats = true;
          else if (ev.token === tokFe || (ev.token === tokDir && !ev.path.startsWith(statsPath))) other = true;
        } while (seen < xs.watchGeneration || (!firewall && !stats && !other));
        if (firewall) yield* this.loadFirewall(vif);
        if (stats) yield* this.publishStatistics(vif);
      }
    } finally {
      for (const [p, t] of [
        [`${fe}/${NODE.state}`, tokFe],
        [vif.dir, tokDir],
      ] as const) {
        try {
          yield* xs.unwatch(p, t);
        } catch {
          // the connection may be gone
        }
      }
    }
  }

  /** Read dom0's rules for this vif (one transaction) and install them; see ./firewall.ts. */
  private *loadFirewall(vif: Vif): Co<void> {
    const xs = this.caps.xs;
    const base = `${vif.dir}/${VIF_NODE.firewall}`;
    const list = function* (p: string, tx: number): Co<string[]> {
      try {
        return yield* xs.directory(p, tx);
      } catch (e) {
        if (e instanceof XenstoreError && e.code === 'ENOENT') return [];
        throw e;
      }
    };
    const raw = yield* transaction(xs, function* (tx) {
      const out: { antispoof: string | null; dirs: Record<Direction, Record<string, string | null>> } = { antispoof: yield* xs.read(`${base}/antispoof`, tx), dirs: { out: {}, in: {} } };
      for (const d of DIRECTIONS) for (const n of yield* list(`${base}/${d}`, tx)) out.dirs[d][n] = yield* xs.read(`${base}/${d}/${n}`, tx);
      return out;
    });
    if (!vif.connected) return;
    const errors: string[] = [];
    for (const d of DIRECTIONS) {
      const parsed = parseRuleSet(raw.dirs[d]);
      if (parsed.ok) vif.bridge.setRules(vif.name, d, parsed.value);
      else {
        errors.push(`${d}: ${parsed.error}`);
        vif.bridge.setRules(vif.name, d, DROP_ALL);
      }
    }
    vif.firewallError = errors.length ? errors.join('; ') : null;
    if (vif.firewallError) this.caps.log(`netback: ${vif.name}: firewall refused, failing closed: ${vif.firewallError}`);
    vif.antispoof = raw.antispoof?.trim() !== '0';
    vif.bridge.addPort(vif.name, { mac: vif.mac ?? undefined, ips: vif.ips, antispoof: vif.antispoof });
  }

  /**
   * dom0 asked for our counters (it wrote statistics/request): publish them under statistics/ in
   * one transaction, `answered` (the request's value) last —
   *   vif              "tx_packets tx_bytes tx_errors rx_packets rx_bytes rx_drop_no_buffer rx_drop_too_big rx_errors"
   *   drops            "<reason>=<n> ..." (the bridge port's drops, both directions)
   *   <out|in>/<n>     "packets bytes" of rule n;  <out|in>/policy  "packets bytes" of the policy
   */
  private *publishStatistics(vif: Vif): Co<void> {
    const xs = this.caps.xs;
    const base = `${vif.dir}/${VIF_NODE.statistics}`;
    const token = yield* xs.read(`${base}/request`);
    if (token === null || !vif.connected) return;
    const s = vif.stats;
    const port = vif.bridge.stats(vif.name);
    const tables = { out: vif.bridge.rules(vif.name, 'out'), in: vif.bridge.rules(vif.name, 'in') };
    yield* transaction(xs, function* (tx) {
      yield* xs.write(`${base}/vif`, [s.txPackets, s.txBytes, s.txErrors, s.rxPackets, s.rxBytes, s.rxDropNoBuffer, s.rxDropTooBig, s.rxErrors].join(' '), tx);
      if (port) {
        const drops = (['out', 'in'] as const).flatMap((d) => Object.entries(d === 'out' ? port.dropsOut : port.dropsIn).filter(([, n]) => n > 0).map(([r, n]) => `${d}:${r}=${n}`));
        yield* xs.write(`${base}/drops`, drops.join(' '), tx);
      }
      for (const d of DIRECTIONS) {
        const t = tables[d];
        yield* rmIfPresent(xs, `${base}/${d}`, tx);
        if (!t) continue;
        for (const [i, c] of t.counters.entries()) yield* xs.write(`${base}/${d}/${i}`, `${c.packets} ${c.bytes}`, tx);
        yield* xs.write(`${base}/${d}/policy`, `${t.policyCounter.packets} ${t.policyCounter.bytes}`, tx);
      }
      yield* xs.write(`${base}/answered`, token, tx);
    });
  }

  /** Unplug, close the channel (its event thread wakes and ends), unmap the rings. */
  private disconnect(vif: Vif): void {
    if (!vif.connected) return;
    vif.connected = false;
    const i = this.schedule.indexOf(vif);
    if (i >= 0) this.schedule.splice(i, 1);
    vif.bridge.removePort(vif.name);
    this.vifs.delete(vif.name);
    this.release(vif.port, [vif.txMap, vif.rxMap], vif.name);
  }

  private release(port: number, maps: GrantMapping[], what: string): void {
    const { caps } = this;
    try {
      caps.evtchn.close(port);
    } catch {
      // the frontend's end may be gone already
    }
    for (const m of maps) {
      try {
        caps.grants.unmap(m);
      } catch (e) {
        caps.log(`netback: ${what}: unmap failed: ${(e as Error).message}`);
      }
    }
  }

  /** A peer fault on a ring: stop touching it, and switch ourselves to Closing (xenbus_dev_fatal). */
  private fault(vif: Vif, why: string): void {
    if (vif.faulted) return;
    vif.faulted = why;
    const i = this.schedule.indexOf(vif);
    if (i >= 0) this.schedule.splice(i, 1);
    vif.scheduled = true; // never again
    this.caps.log(`netback: ${vif.name}: ${why}; disconnecting`);
    const xs = this.caps.xs;
    this.caps.spawn(`${vif.name}-fatal`, (function* () {
      try {
        yield* switchState(xs, vif.dir, S.Closing);
      } catch {
        // removed meanwhile
      }
    })());
  }

  // ------------------------------------------------------------------------------ data path

  /** A vif's event thread: each event puts it on the schedule list if it has transmit work. */
  private *events(vif: Vif): Co<void> {
    const ev = this.caps.evtchn;
    for (;;) {
      const seen = ev.generation(vif.port);
      if (!vif.connected) return;
      this.poke(vif);
      yield* ev.wait(vif.port, seen);
    }
  }

  private poke(vif: Vif): void {
    if (!vif.connected || vif.scheduled || vif.faulted) return;
    if (vif.tx.unconsumedRequests() > 0) {
      vif.scheduled = true;
      this.schedule.push(vif);
      this.work.wake();
    } else if (vif.tx.fault) this.fault(vif, `tx ring: ${vif.tx.fault.message}`);
  }

  private startWorker(): void {
    if (this.workerStarted) return;
    this.workerStarted = true;
    this.caps.spawn('netback', this.worker());
  }

  /** The netback thread: round robin over the schedule list, one packet per vif per turn. */
  private *worker(): Co<void> {
    for (;;) {
      const seen = this.work.generation;
      if (this.schedule.length === 0) {
        yield* this.work.wait(seen);
        continue;
      }
      this.totals.passes++;
      for (let n = 0; n < this.batch && this.schedule.length > 0; n++) {
        const vif = this.schedule.shift()!;
        vif.scheduled = false;
        if (!vif.connected || vif.faulted) continue;
        yield* this.transmitOne(vif);
        if (!vif.connected || vif.faulted) continue;
        if (vif.tx.unconsumedRequests() > 0 || vif.tx.finalCheckForRequests()) {
          vif.scheduled = true;
          this.schedule.push(vif);
        } else if (vif.tx.fault) this.fault(vif, `tx ring: ${vif.tx.fault.message}`);
      }
      this.flush();
    }
  }

  /** Push responses on every ring we answered on; notify where the event index asks for it. */
  private flush(): void {
    for (const vif of this.vifs.values()) {
      if (!vif.dirty || !vif.connected) continue;
      vif.dirty = false;
      const a = vif.tx.pushResponsesAndCheckNotify();
      const b = vif.rx.pushResponsesAndCheckNotify();
      if (a || b) {
        vif.stats.notifies++;
        this.caps.evtchn.notify(vif.port);
      }
    }
  }

  private stagingGfn(i: number): number {
    while (this.staging.length <= i) this.staging.push(this.caps.memory.allocPage());
    return this.staging[i];
  }

  private complain(vif: Vif, msg: string): void {
    if (vif.logged++ < (this.opts.logLimit ?? 8)) this.caps.log(`netback: ${vif.name}: ${msg}`);
  }

  /**
   * Take one packet from a vif's tx ring, copy it out, answer every slot, then switch it. All ring
   * work happens before the first yield.
   */
  private *transmitOne(vif: Vif): Co<void> {
    const ring = vif.tx;
    const first = ring.takeRequest();
    if (!first) return;
    const taken: { req: NetifTxRequest; extra: boolean }[] = [{ req: first, extra: false }];
    let error: string | null = null;

    // Extra-info slots (we advertised no GSO, multicast control or hashing: any is refused).
    if (first.flags & NETTXF.extra_info) {
      for (;;) {
        const r = ring.takeRequest();
        if (!r) {
          error ??= 'packet ends inside its extra-info slots';
          break;
        }
        taken.push({ req: r, extra: true });
        const e = txRequestAsExtra(r);
        if (e.type === XEN_NETIF_EXTRA_TYPE.NONE || e.type >= XEN_NETIF_EXTRA_TYPE.MAX) error ??= `bad extra-info type ${e.type}`;
        else error ??= `extra-info type ${e.type} was not negotiated`;
        if (!(e.flags & XEN_NETIF_EXTRA_FLAG_MORE)) break;
      }
    }
    // Further fragments.
    const frags: NetifTxRequest[] = [first];
    for (let last = first; last.flags & NETTXF.more_data; ) {
      const r = ring.takeRequest();
      if (!r) {
        error ??= 'packet ends before its last fragment';
        break;
      }
      taken.push({ req: r, extra: false });
      frags.push(r);
      last = r;
    }

    // Validate the layout (Linux's xenvif_count_requests and xenvif_tx_build_gops checks).
    const lens = frags.map((f) => f.size);
    if (!error) {
      const rest = lens.slice(1).reduce((a, b) => a + b, 0);
      lens[0] = first.size - rest;
      if (frags.length > XEN_NETIF_NR_SLOTS_MIN) error = `${frags.length} slots (at most ${XEN_NETIF_NR_SLOTS_MIN})`;
      else if (first.size < ETH_HLEN) error = `packet of ${first.size} bytes is shorter than an Ethernet header`;
      else if (lens[0] < 0) error = `fragments add up to ${rest} bytes, more than the packet's ${first.size}`;
      else {
        const bad = frags.findIndex((f, i) => f.offset + lens[i] > NETIF_PAGE_SIZE);
        if (bad >= 0) error = `slot ${bad}: offset ${frags[bad].offset} + size ${lens[bad]} crosses the page`;
      }
    }

    // Copy the data out of the frontend's pages (GNTTABOP_copy), one staging page per slot.
    const { caps } = this;
    let frame: Uint8Array | null = null;
    if (!error) {
      for (let i = 0; i < frags.length && !error; i++) {
        if (lens[i] === 0) continue;
        const st = caps.grants.copy({ ref: frags[i].gref, dom: vif.frontendId, offset: frags[i].offset }, { gfn: this.stagingGfn(i), offset: 0 }, lens[i]);
        if (st !== GNTST.okay) error = `grant copy from gref ${frags[i].gref} failed (GNTST ${st})`;
      }
      if (!error) {
        frame = new Uint8Array(first.size);
        const mem = caps.memory.mem;
        for (let i = 0, pos = 0; i < frags.length; pos += lens[i], i++) if (lens[i] > 0) frame.set(mem.getBytes(this.stagingGfn(i) * NETIF_PAGE_SIZE, lens[i]), pos);
      }
    }

    // Answer every slot consumed, in order.
    for (const t of taken) ring.produceResponse({ id: t.extra ? 0 : t.req.id, status: t.extra ? NETIF_RSP.NULL : error ? NETIF_RSP.ERROR : NETIF_RSP.OKAY });
    vif.dirty = true;
    if (error || !frame) {
      vif.stats.txErrors++;
      this.complain(vif, `tx request id ${first.id} refused: ${error}`);
      return;
    }
    vif.stats.txPackets++;
    vif.stats.txBytes += frame.length;
    this.totals.packets++;

    yield* caps.time.compute(this.costs.frameNs + frame.length * this.costs.byteNs);

    if (!vif.connected) return;
    const csum = first.flags & NETTXF.csum_blank ? NETRXF.csum_blank | NETRXF.data_validated : first.flags & NETTXF.data_validated ? NETRXF.data_validated : 0;
    const res = vif.bridge.forward(vif.name, frame);
    for (const d of res.deliveries) {
      const dest = this.vifs.get(d.port);
      if (dest) this.deliver(dest, frame, csum);
    }
  }

  /** Copy a packet into the buffers a vif posted; drop and count if it posted too few. */
  private deliver(vif: Vif, frame: Uint8Array, flags: number): void {
    if (!vif.connected || vif.faulted) return;
    const ring = vif.rx;
    if (!vif.sg && frame.length > NETIF_PAGE_SIZE) {
      vif.stats.rxDropTooBig++;
      return;
    }
    const slots = Math.max(1, Math.ceil(frame.length / NETIF_PAGE_SIZE));
    if (ring.unconsumedRequests() < slots) {
      if (ring.fault) this.fault(vif, `rx ring: ${ring.fault.message}`);
      else vif.stats.rxDropNoBuffer++;
      return;
    }
    const { caps } = this;
    const gfn = this.stagingGfn(0);
    let ok = true;
    for (let i = 0, off = 0; i < slots; i++, off += NETIF_PAGE_SIZE) {
      const len = Math.min(NETIF_PAGE_SIZE, frame.length - off);
      const req = ring.takeRequest()!;
      caps.memory.mem.setBytes(gfn * NETIF_PAGE_SIZE, frame.subarray(off, off + len));
      const st = caps.grants.copy({ gfn, offset: 0 }, { ref: req.gref, dom: vif.frontendId, offset: 0 }, len);
      if (st !== GNTST.okay) {
        ok = false;
        vif.stats.rxErrors++;
        this.complain(vif, `rx copy into gref ${req.gref} failed (GNTST ${st})`);
      }
      const more = i < slots - 1 ? NETRXF.more_data : 0;
      ring.produceResponse({ id: req.id, offset: 0, flags: more | (i === 0 ? flags : 0), status: st === GNTST.okay ? len : NETIF_RSP.ERROR });
    }
    vif.dirty = true;
    if (ok) {
      vif.stats.rxPackets++;
      vif.stats.rxBytes += frame.length;
    }
  }
}

/** The backend factory for driver domains: one Netback per domain, serving type "vif". */
export const netbackFactory =
  (opts: NetbackOptions = {}) =>
  (caps: DriverCaps): Netback =>
    new Netback(caps, opts);
