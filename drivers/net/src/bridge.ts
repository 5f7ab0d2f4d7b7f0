/**
 * A software Ethernet bridge with the paper's virtual firewall-router in front of every port,
 * sans-IO: `forward(port, frame)` returns where the frame goes; nothing here touches rings, time or
 * xenstore. Netback owns one Bridge per bridge name (the vif's `bridge` node, xenbr0 by default)
 * and one port per connected vif.
 *
 * What happens to a frame a guest sends (its port's "out" side), in order:
 *   1. malformed (shorter than an Ethernet header)                → dropped
 *   2. anti-spoofing, when on for the port (default): the source MAC must be the port's configured
 *      MAC (libxl's `mac` node); if the port has configured IPv4 addresses (the `ip` node), an IPv4
 *      source must be one of them (0.0.0.0 only as a DHCP client, UDP 68 → 67) and an ARP
 *      sender must be one of them (or 0.0.0.0, an ARP probe) with the port's MAC as sender MAC
 *                                                                 → dropped as spoofed
 *   3. the port's out rules (./firewall.ts)                       → dropped by rule or policy
 *   4. learning: an individual source MAC is remembered on this port unless it is another port's
 *      configured (static) MAC
 *   5. destination: a group (broadcast/multicast) MAC floods every other port; an individual MAC
 *      known to the table goes to that port only (never back out of the port it came in on); an
 *      unknown one floods (as a Linux bridge does) or is dropped (`unknownUnicast: 'drop'`)
 *   6. each destination's in rules                                → dropped by rule or policy
 * Deliveries come back in port-creation order. Every drop is counted on the port with its reason;
 * every rule and policy has packet and byte counters.
 *
 * Invariants: a frame is delivered at most once to a port and never to the port it came from; a
 * port's static MAC always maps to that port; forward() never throws on frame bytes.
 * Learned entries do not age (there is no clock here); a port's removal forgets its entries.
 */
import { isGroupMac, type Mac } from './netif';
import { RuleTable, type Direction, type RuleSet } from './firewall';
import { parseFrame, type Ipv4, type ParsedFrame } from './packet';

export type PortId = string;

export interface PortConfig {
  /** The MAC the toolstack configured (a static forwarding entry; the only source with antispoof). */
  mac?: Mac;
  /** IPv4 addresses the port may send from (anti-spoofing); empty or absent: not checked. */
  ips?: readonly Ipv4[];
  /** Anti-spoofing on (default true; without a configured MAC it checks only the IPs). */
  antispoof?: boolean;
}

export type DropReason = 'malformed' | 'spoofed-mac' | 'spoofed-ip' | 'rule' | 'policy' | 'no-destination' | 'hairpin';

export interface Delivery {
  port: PortId;
  frame: Uint8Array;
  parsed: ParsedFrame;
}

export interface PortStats {
  /** Frames the port's guest sent into the bridge, and their bytes. */
  in: number;
  inBytes: number;
  /** Frames delivered to the port's guest, and their bytes. */
  out: number;
  outBytes: number;
  /** Frames dropped on their way in from this port ('out' side) or to it ('in' side), by reason. */
  dropsOut: Record<DropReason, number>;
  dropsIn: Record<DropReason, number>;
}

const zeroDrops = (): Record<DropReason, number> => ({ malformed: 0, 'spoofed-mac': 0, 'spoofed-ip': 0, rule: 0, policy: 0, 'no-destination': 0, hairpin: 0 });

class Port {
  tables: Record<Direction, RuleTable> = { out: new RuleTable(), in: new RuleTable() };
  readonly stats: PortStats = { in: 0, inBytes: 0, out: 0, outBytes: 0, dropsOut: zeroDrops(), dropsIn: zeroDrops() };
  constructor(
    readonly id: PortId,
    public cfg: PortConfig,
  ) {}
}

export interface BridgeOptions {
  /** What to do with a frame for an individual MAC no port has (default 'flood', as Linux bridges). */
  unknownUnicast?: 'flood' | 'drop';
}

/** What forward() decided, beyond the deliveries (for tests and tracing). */
export interface ForwardResult {
  deliveries: Delivery[];
  /** Set when the frame was dropped on the way in (before any destination). */
  dropped?: DropReason;
}

export class Bridge {
  private readonly ports = new Map<PortId, Port>();
  /** MAC → port: static (configured) and learned entries. */
  private readonly fdb = new Map<Mac, { port: PortId; static: boolean }>();
  readonly unknownUnicast: 'flood' | 'drop';

  constructor(
    readonly name: string,
    opts: BridgeOptions = {},
  ) {
    this.unknownUnicast = opts.unknownUnicast ?? 'flood';
  }

  get portIds(): PortId[] {
    return [...this.ports.keys()];
  }

  hasPort(id: PortId): boolean {
    return this.ports.has(id);
  }

  /** Add (or reconfigure) a port. Its configured MAC becomes a static entry. */
  addPort(id: PortId, cfg: PortConfig = {}): void {
    const p = this.ports.get(id);
    if (p) {
      this.forgetStatic(id);
      p.cfg = cfg;
    } else this.ports.set(id, new Port(id, cfg));
    if (cfg.mac && !isGroupMac(cfg.mac)) this.fdb.set(cfg.mac, { port: id, static: true });
  }

  removePort(id: PortId): void {
    this.ports.delete(id);
    for (const [mac, e] of [...this.fdb]) if (e.port === id) this.fdb.delete(mac);
  }

  private forgetStatic(id: PortId): void {
    for (const [mac, e] of [...this.fdb]) if (e.port === id && e.static) this.fdb.delete(mac);
  }

  /** Install one direction's rule set on a port (counters start from zero). */
  setRules(id: PortId, dir: Direction, set: RuleSet): void {
    const p = this.ports.get(id);
    if (p) p.tables[dir] = new RuleTable(set);
  }

  rules(id: PortId, dir: Direction): RuleTable | undefined {
    return this.ports.get(id)?.tables[dir];
  }

  stats(id: PortId): PortStats | undefined {
    return this.ports.get(id)?.stats;
  }

  /** The port a MAC is known on (static or learned). */
  lookup(mac: Mac): PortId | undefined {
    return this.fdb.get(mac)?.port;
  }

  /** Switch one frame its guest sent on port `from`. */
  forward(from: PortId, frame: Uint8Array, parsed: ParsedFrame = parseFrame(frame)): ForwardResult {
    const src = this.ports.get(from);
    if (!src) return { deliveries: [], dropped: 'no-destination' };
    src.stats.in++;
    src.stats.inBytes += frame.length;
    const drop = (reason: DropReason): ForwardResult => {
      src.stats.dropsOut[reason]++;
      return { deliveries: [], dropped: reason };
    };
    const eth = parsed.eth;
    if (!eth) return drop('malformed');
    const spoof = this.spoofed(src.cfg, parsed);
    if (spoof) return drop(spoof);
    const v = src.tables.out.judge(parsed);
    if (v.verdict === 'drop') return drop(v.rule < 0 ? 'policy' : 'rule');

    if (!isGroupMac(eth.src)) {
      const e = this.fdb.get(eth.src);
      if (!e || (!e.static && e.port !== from)) this.fdb.set(eth.src, { port: from, static: false });
    }

    let targets: Port[];
    if (isGroupMac(eth.dst)) targets = [...this.ports.values()].filter((p) => p.id !== from);
    else {
      const e = this.fdb.get(eth.dst);
      if (e) {
        if (e.port === from) return drop('hairpin');
        const p = this.ports.get(e.port);
        targets = p ? [p] : [];
      } else targets = this.unknownUnicast === 'flood' ? [...this.ports.values()].filter((p) => p.id !== from) : [];
    }
    if (targets.length === 0) return drop('no-destination');

    const deliveries: Delivery[] = [];
    for (const p of targets) {
      const w = p.tables.in.judge(parsed);
      if (w.verdict === 'drop') {
        p.stats.dropsIn[w.rule < 0 ? 'policy' : 'rule']++;
        continue;
      }
      p.stats.out++;
      p.stats.outBytes += frame.length;
      deliveries.push({ port: p.id, frame, parsed });
    }
    return { deliveries };
  }

  /** Anti-spoofing: why this frame may not come from a port so configured, or null if it may. */
  private spoofed(cfg: PortConfig, f: ParsedFrame): DropReason | null {
    if (cfg.antispoof === false) return null;
    const eth = f.eth!;
    if (cfg.mac && eth.src !== cfg.mac) return 'spoofed-mac';
    const ips = cfg.ips;
    if (!ips || ips.length === 0) return null;
    if (f.arp) {
      if (cfg.mac && f.arp.sha !== cfg.mac) return 'spoofed-mac';
      return f.arp.spa === 0 || ips.includes(f.arp.spa) ? null : 'spoofed-ip';
    }
    if (f.ip) {
      if (ips.includes(f.ip.src)) return null;
      const dhcp = f.ip.src === 0 && f.udp?.src === 68 && f.udp.dst === 67;
      return dhcp ? null : 'spoofed-ip';
    }
    // An IPv4 or ARP ethertype the parser could not read is not let through a checked port.
    if (eth.type === 0x0800 || eth.type === 0x0806) return 'malformed';
    return null;
  }
}
