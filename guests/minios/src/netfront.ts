/**
 * The guest's network interface: @xenotype/net's Netfront as MiniOS coroutines (`yield* net.send`,
 * `yield* net.recv()`), and a tiny IPv4 stack over it — ARP (answering for our address, resolving
 * others with a cache), ICMP echo (answering pings, sending them) and UDP (datagrams to and from
 * bound ports) — so guests can ping each other and exchange requests and responses.
 *
 * The stack runs one receive thread that takes every frame and dispatches it; callers wait on a
 * MiniOS signal by generation, so nothing that arrives between a look and a wait is lost. Frames
 * are peer input: the parser never throws, and frames that are malformed, for another MAC or
 * another IP, or for a port nobody bound are counted and dropped.
 */
import { Netfront, parseFrame, udpFrame, icmpEchoFrame, arpFrame, formatIpv4, ARP_OP, ICMP_TYPE, BROADCAST_MAC, isGroupMac, type Ipv4, type Mac, type NetfrontOptions } from '@xenotype/net';
import type { MiniOS } from './minios';
import { asThread } from './caps';
import { Signal, type ThreadOp } from './threads';

type Co<T> = Generator<ThreadOp, T, void>;

/** A guest's vif, connected. */
export class NetDevice {
  constructor(readonly front: Netfront) {}

  get mac(): Mac {
    return this.front.mac;
  }

  /** Send one Ethernet frame (waits for ring room); false if it could not be sent. */
  *send(frame: Uint8Array, deadline?: number): Co<boolean> {
    return yield* asThread(this.front.send(frame, deadline));
  }

  /** The next received frame; null at `deadline`, or once the device is closed. */
  *recv(deadline?: number): Co<Uint8Array | null> {
    return yield* asThread(this.front.recv(deadline));
  }

  /** Unplug: Closing, wait for the backend to follow (until `deadline`), Closed. */
  *close(deadline?: number): Co<void> {
    yield* asThread(this.front.close(deadline));
  }
}

export class NetError extends Error {
  override name = 'NetError';
}

/** Connect the guest's vif `devid` (handshake with its backend); throws NetError if it fails. */
export function* netConnect(os: MiniOS, o: NetfrontOptions = {}): Co<NetDevice> {
  const r = yield* asThread(Netfront.connect(os.caps(), o));
  if (!r.ok) throw new NetError(`vif ${o.devid ?? 0}: ${r.error.message}`);
  return new NetDevice(r.value);
}

export interface Datagram {
  src: Ipv4;
  sport: number;
  dport: number;
  payload: Uint8Array;
  /** Guest time it was received. */
  at: number;
}

export interface NetStackStats {
  framesIn: number;
  /** Unicast frames for another MAC (a correct bridge never delivers them). */
  notForUs: number;
  malformed: number;
  arpAnswered: number;
  echoAnswered: number;
  udpIn: number;
  /** UDP datagrams for a port nobody bound (or whose queue was full). */
  udpDropped: number;
  framesOut: number;
}

export interface NetStackOptions {
  /** Our IPv4 address. */
  ip: Ipv4;
  /** Time between ARP requests while resolving (default 10 ms). */
  arpRetryNs?: number;
  /** Datagrams queued per bound port before dropping (default 1024). */
  udpQueue?: number;
}

export class NetStack {
  readonly ip: Ipv4;
  readonly arp = new Map<Ipv4, Mac>();
  readonly stats: NetStackStats = { framesIn: 0, notForUs: 0, malformed: 0, arpAnswered: 0, echoAnswered: 0, udpIn: 0, udpDropped: 0, framesOut: 0 };
  private readonly ports = new Map<number, Datagram[]>();
  private readonly echoes = new Map<number, number>();
  /**
   * Addresses we are resolving, each with when its next ARP request may go: one neighbour entry per
   * address, as Linux keeps, however many threads wait for it (one request per thread would flood
   * a bridge that has not learnt the address yet). ARP from them is cached.
   */
  private readonly pending = new Map<Ipv4, number>();
  /** Notified whenever the receive thread delivered something (an ARP entry, an echo, a datagram). */
  private readonly sig = new Signal();
  private started = false;
  private ipId = 1;
  private readonly arpRetryNs: number;
  private readonly udpQueue: number;

  constructor(
    private readonly os: MiniOS,
    readonly dev: NetDevice,
    o: NetStackOptions,
  ) {
    this.ip = o.ip >>> 0;
    this.arpRetryNs = o.arpRetryNs ?? 10_000_000;
    this.udpQueue = o.udpQueue ?? 1024;
  }

  get mac(): Mac {
    return this.dev.mac;
  }

  /** Start the receive thread (idempotent). */
  start(): this {
    if (!this.started) {
      this.started = true;
      this.os.spawn(`net-rx-${formatIpv4(this.ip)}`, this.rxLoop());
    }
    return this;
  }

  /** Receive until the device is closed or its ring faulted (recv without a deadline then says null). */
  private *rxLoop(): Co<void> {
    for (;;) {
      const f = yield* this.dev.recv();
      if (!f) return;
      this.input(f);
    }
  }

  private *out(frame: Uint8Array): Co<boolean> {
    this.stats.framesOut++;
    return yield* this.dev.send(frame);
  }

  /** Handle one received frame (the receive thread calls this). */
  private input(frame: Uint8Array): void {
    this.stats.framesIn++;
    const p = parseFrame(frame);
    const eth = p.eth;
    if (!eth) return void this.stats.malformed++;
    if (eth.dst !== this.mac && !isGroupMac(eth.dst)) return void this.stats.notForUs++;
    if (p.arp) {
      const a = p.arp;
      if (a.spa !== 0 && (a.tpa === this.ip || this.pending.has(a.spa))) {
        this.arp.set(a.spa, a.sha);
        this.pending.delete(a.spa);
      }
      if (a.op === ARP_OP.REQUEST && a.tpa === this.ip) {
        this.stats.arpAnswered++;
        this.os.spawn('arp-reply', this.out(arpFrame(ARP_OP.REPLY, this.mac, this.ip, a.sha, a.spa)));
      }
      this.os.notify(this.sig);
      return;
    }
    const ip = p.ip;
    if (!ip || p.error) return void this.stats.malformed++;
    if (ip.dst !== this.ip && ip.dst !== 0xffffffff) return void this.stats.notForUs++;
    if (p.icmp) {
      if (p.icmp.type === ICMP_TYPE.ECHO_REQUEST) {
        this.stats.echoAnswered++;
        const reply = icmpEchoFrame({ srcMac: this.mac, dstMac: eth.src, srcIp: this.ip, dstIp: ip.src, id: this.ipId++ }, ICMP_TYPE.ECHO_REPLY, p.icmp.id, p.icmp.seq, p.payload);
        this.os.spawn('icmp-reply', this.out(reply));
      } else if (p.icmp.type === ICMP_TYPE.ECHO_REPLY) {
        this.echoes.set(echoKey(ip.src, p.icmp.id, p.icmp.seq), this.os.now());
        this.os.notify(this.sig);
      }
      return;
    }
    if (p.udp) {
      const q = this.ports.get(p.udp.dst);
      if (!q || q.length >= this.udpQueue) return void this.stats.udpDropped++;
      this.stats.udpIn++;
      q.push({ src: ip.src, sport: p.udp.src, dport: p.udp.dst, payload: p.payload.slice(), at: this.os.now() });
      this.os.notify(this.sig);
    }
  }

  /** The MAC of `ip`: from the cache, or by ARP (retried every arpRetryNs); null at `deadline`. */
  *resolve(ip: Ipv4, deadline = Infinity): Co<Mac | null> {
    if (ip === 0xffffffff) return BROADCAST_MAC;
    this.start();
    for (;;) {
      const seen = this.sig.gen;
      const m = this.arp.get(ip);
      if (m) return m;
      const now = this.os.now();
      if (now >= deadline) return null;
      let nextAsk = this.pending.get(ip) ?? 0;
      if (now >= nextAsk) {
        nextAsk = now + this.arpRetryNs;
        this.pending.set(ip, nextAsk);
        yield* this.out(arpFrame(ARP_OP.REQUEST, this.mac, this.ip, BROADCAST_MAC, ip));
      }
      yield* this.os.waitFor(this.sig, seen, Math.min(deadline, nextAsk));
    }
  }

  /** Bind a UDP port: datagrams for it are queued for udpRecv. */
  bind(port: number): void {
    if (!this.ports.has(port)) this.ports.set(port, []);
    this.start();
  }

  /** Send a UDP datagram (resolving the destination's MAC first); false if it could not be. */
  *udpSend(dst: Ipv4, sport: number, dport: number, payload: Uint8Array, deadline = Infinity): Co<boolean> {
    const mac = yield* this.resolve(dst, deadline);
    if (!mac) return false;
    return yield* this.out(udpFrame({ srcMac: this.mac, dstMac: mac, srcIp: this.ip, dstIp: dst, id: this.ipId++ & 0xffff }, sport, dport, payload));
  }

  /** The next datagram for a bound port; null at `deadline`. */
  *udpRecv(port: number, deadline = Infinity): Co<Datagram | null> {
    this.bind(port);
    const q = this.ports.get(port)!;
    for (;;) {
      const seen = this.sig.gen;
      const d = q.shift();
      if (d) return d;
      if ((yield* this.os.waitFor(this.sig, seen, deadline)) < 0) return null;
    }
  }

  /**
   * Ping `dst` once (ICMP echo request id/seq, `size` bytes of payload); returns the round-trip
   * time in ns, or null if no reply came by `timeoutNs`.
   */
  *ping(dst: Ipv4, seq: number, o: { id?: number; size?: number; timeoutNs?: number } = {}): Co<number | null> {
    const deadline = this.os.now() + (o.timeoutNs ?? 100_000_000);
    const mac = yield* this.resolve(dst, deadline);
    if (!mac) return null;
    const id = o.id ?? 0x7e57;
    const payload = new Uint8Array(o.size ?? 56).map((_, i) => (i + seq) & 0xff);
    const key = echoKey(dst, id, seq & 0xffff);
    this.echoes.delete(key);
    const t0 = this.os.now();
    yield* this.out(icmpEchoFrame({ srcMac: this.mac, dstMac: mac, srcIp: this.ip, dstIp: dst, id: this.ipId++ & 0xffff }, ICMP_TYPE.ECHO_REQUEST, id, seq & 0xffff, payload));
    for (;;) {
      const seen = this.sig.gen;
      const at = this.echoes.get(key);
      if (at !== undefined) {
        this.echoes.delete(key);
        return at - t0;
      }
      if ((yield* this.os.waitFor(this.sig, seen, deadline)) < 0) return null;
    }
  }
}

const echoKey = (ip: Ipv4, id: number, seq: number): number => ip * 0x1_0000_0000 + id * 0x10000 + seq;
