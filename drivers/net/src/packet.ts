/**
 * Ethernet, ARP, IPv4, ICMP, UDP and TCP headers: parsing and building, sans-IO.
 *
 * `parseFrame` never throws, whatever the bytes: a frame from a guest is peer input. It parses as
 * far as the bytes allow and says where and why it stopped (`error`); headers it could not read are
 * absent. Non-first IPv4 fragments carry no transport header, so their ports are unknown
 * (`ip.fragment` is true and `udp`/`tcp` are absent). Checksums are verified and reported, never
 * enforced here (the bridge switches frames; endpoints judge checksums).
 *
 * Builders produce complete frames with correct IPv4 header, ICMP, UDP and TCP checksums, for the
 * guests' tiny stack and the tests. Addresses: MACs are canonical strings (see ./netif.ts), IPv4
 * addresses are unsigned 32-bit numbers (a.b.c.d = a·2²⁴ + b·2¹⁶ + c·2⁸ + d).
 */
import { macFromBytes, macToBytes, type Mac } from './netif';

export type Ipv4 = number;

export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17 } as const;
export const ICMP_TYPE = { ECHO_REPLY: 0, DEST_UNREACH: 3, ECHO_REQUEST: 8 } as const;
export const ARP_OP = { REQUEST: 1, REPLY: 2 } as const;
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export const ETH_HEADER_LEN = 14;
export const ETH_MIN_FRAME = 60;
export const IPV4_MIN_HEADER = 20;
export const UDP_HEADER_LEN = 8;
export const ICMP_ECHO_HEADER_LEN = 8;
export const TCP_MIN_HEADER = 20;
export const ARP_LEN = 28;

// ------------------------------------------------------------------------------------ addresses

/** Dotted quad → number; null if malformed (never throws). */
export function parseIpv4(s: string | null | undefined): Ipv4 | null {
  if (typeof s !== 'string') return null;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return null;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return null;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

export const formatIpv4 = (ip: Ipv4): string => [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');

/** A prefix length → netmask (0 → 0, 32 → 255.255.255.255). */
export const prefixMask = (len: number): number => (len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0);

/** "a.b.c.d" or "a.b.c.d/len" → address and mask; null if malformed. */
export function parseCidr(s: string): { addr: Ipv4; mask: number } | null {
  const [a, l, ...rest] = s.split('/');
  if (rest.length) return null;
  const addr = parseIpv4(a);
  if (addr === null) return null;
  if (l === undefined) return { addr, mask: 0xffffffff };
  if (!/^\d{1,2}$/.test(l) || Number(l) > 32) return null;
  const mask = prefixMask(Number(l));
  return { addr: (addr & mask) >>> 0, mask };
}

// ------------------------------------------------------------------------------------ checksum

/** The Internet checksum (RFC 1071) of `b`, folded into 16 bits and complemented. */
export function inetChecksum(b: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = b.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length & 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The TCP/UDP pseudo-header's contribution to the checksum sum (not complemented). */
function pseudoSum(src: Ipv4, dst: Ipv4, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
};
const put32 = (b: Uint8Array, o: number, v: number): void => {
  put16(b, o, (v >>> 16) & 0xffff);
  put16(b, o + 2, v & 0xffff);
};

// ------------------------------------------------------------------------------------ parsing

export interface EthHeader {
  dst: Mac;
  src: Mac;
  /** EtherType (after one 802.1Q tag, if present). */
  type: number;
  /** The 802.1Q VLAN id, when tagged. */
  vlan?: number;
  /** Bytes of the Ethernet header (14, or 18 with a VLAN tag). */
  headerLen: number;
}

export interface ArpPacket {
  op: number;
  sha: Mac;
  spa: Ipv4;
  tha: Mac;
  tpa: Ipv4;
}

export interface Ipv4Header {
  src: Ipv4;
  dst: Ipv4;
  proto: number;
  ttl: number;
  id: number;
  /** Header length in bytes. */
  headerLen: number;
  totalLength: number;
  /** A non-first fragment (fragment offset > 0): no transport header. */
  fragment: boolean;
  moreFragments: boolean;
  checksumOk: boolean;
}

export interface IcmpHeader {
  type: number;
  code: number;
  /** Echo identifier and sequence (bytes 4..7, meaningful for echo request/reply). */
  id: number;
  seq: number;
  checksumOk: boolean;
}

export interface UdpHeader {
  src: number;
  dst: number;
  length: number;
  /** True when the checksum verifies or is 0 (absent). */
  checksumOk: boolean;
}

export interface TcpHeader {
  src: number;
  dst: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  headerLen: number;
  checksumOk: boolean;
}

export interface ParsedFrame {
  length: number;
  eth?: EthHeader;
  arp?: ArpPacket;
  ip?: Ipv4Header;
  icmp?: IcmpHeader;
  udp?: UdpHeader;
  tcp?: TcpHeader;
  /** The bytes after the innermost header parsed (the application payload for UDP/TCP/ICMP echo). */
  payload: Uint8Array;
  /** Why parsing stopped before the payload, if it did. */
  error?: string;
}

/** Parse what can be parsed of a frame. Never throws. */
export function parseFrame(b: Uint8Array): ParsedFrame {
  const out: ParsedFrame = { length: b.length, payload: new Uint8Array(0) };
  if (b.length < ETH_HEADER_LEN) return { ...out, error: 'truncated ethernet header' };
  let type = u16(b, 12);
  let off = ETH_HEADER_LEN;
  let vlan: number | undefined;
  if (type === ETHERTYPE.VLAN) {
    if (b.length < 18) return { ...out, error: 'truncated vlan tag' };
    vlan = u16(b, 14) & 0x0fff;
    type = u16(b, 16);
    off = 18;
  }
  out.eth = { dst: macFromBytes(b, 0), src: macFromBytes(b, 6), type, headerLen: off, ...(vlan !== undefined ? { vlan } : {}) };
  out.payload = b.subarray(off);
  if (type === ETHERTYPE.ARP) {
    if (b.length < off + ARP_LEN) return { ...out, error: 'truncated arp' };
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if (u16(b, off) !== 1 || u16(b, off + 2) !== ETHERTYPE.IPV4 || b[off + 4] !== 6 || b[off + 5] !== 4) return { ...out, error: 'arp: not ethernet/ipv4' };
    out.arp = { op: u16(b, off + 6), sha: macFromBytes(b, off + 8), spa: u32(b, off + 14), tha: macFromBytes(b, off + 18), tpa: u32(b, off + 24) };
    out.payload = b.subarray(off + ARP_LEN);
    return out;
  }
  if (type !== ETHERTYPE.IPV4) return out;
  if (b.length < off + IPV4_MIN_HEADER) return { ...out, error: 'truncated ipv4 header' };
  const vihl = b[off];
  if (vihl >> 4 !== 4) return { ...out, error: 'ipv4: bad version' };
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER) return { ...out, error: 'ipv4: bad header length' };
  if (b.length < off + ihl) return { ...out, error: 'truncated ipv4 options' };
  const totalLength = u16(b, off + 2);
  const frag = u16(b, off + 6);
  const ip: Ipv4Header = {
    src: u32(b, off + 12),
    dst: u32(b, off + 16),
    proto: b[off + 9],
    ttl: b[off + 8],
    id: u16(b, off + 4),
    headerLen: ihl,
    totalLength,
    fragment: (frag & 0x1fff) !== 0,
    moreFragments: (frag & 0x2000) !== 0,
    checksumOk: inetChecksum(b.subarray(off, off + ihl)) === 0,
  };
  out.ip = ip;
  // The IP payload ends at total_length (Ethernet may pad short frames); never beyond the frame.
  if (totalLength < ihl) return { ...out, error: 'ipv4: total length below header length' };
  const end = Math.min(b.length, off + totalLength);
  const l4 = off + ihl;
  out.payload = b.subarray(l4, Math.max(l4, end));
  if (end < off + totalLength) out.error = 'truncated ipv4 payload';
  if (ip.fragment) return out;
  const seg = b.subarray(l4, Math.max(l4, end));
  switch (ip.proto) {
    case IPPROTO.ICMP: {
      if (seg.length < ICMP_ECHO_HEADER_LEN) return { ...out, error: out.error ?? 'truncated icmp header' };
      out.icmp = { type: seg[0], code: seg[1], id: u16(seg, 4), seq: u16(seg, 6), checksumOk: inetChecksum(seg) === 0 };
      out.payload = seg.subarray(ICMP_ECHO_HEADER_LEN);
      return out;
    }
    case IPPROTO.UDP: {
      if (seg.length < UDP_HEADER_LEN) return { ...out, error: out.error ?? 'truncated udp header' };
      const length = u16(seg, 4);
      const ck = u16(seg, 6);
      const ulen = Math.max(UDP_HEADER_LEN, Math.min(length, seg.length));
      const ok = ck === 0 || (length <= seg.length && inetChecksum(seg.subarray(0, length), pseudoSum(ip.src, ip.dst, IPPROTO.UDP, length)) === 0);
      out.udp = { src: u16(seg, 0), dst: u16(seg, 2), length, checksumOk: ok };
      out.payload = seg.subarray(UDP_HEADER_LEN, ulen);
      if (length < UDP_HEADER_LEN || length > seg.length) out.error ??= 'udp: bad length';
      return out;
    }
    case IPPROTO.TCP: {
      if (seg.length < TCP_MIN_HEADER) return { ...out, error: out.error ?? 'truncated tcp header' };
      const hl = (seg[12] >> 4) * 4;
      out.tcp = {
        src: u16(seg, 0),
        dst: u16(seg, 2),
        seq: u32(seg, 4),
        ack: u32(seg, 8),
        flags: seg[13] & 0x3f,
        window: u16(seg, 14),
        headerLen: hl,
        checksumOk: inetChecksum(seg, pseudoSum(ip.src, ip.dst, IPPROTO.TCP, seg.length)) === 0,
      };
      if (hl < TCP_MIN_HEADER || hl > seg.length) return { ...out, error: out.error ?? 'tcp: bad header length' };
      out.payload = seg.subarray(hl);
      return out;
    }
    default:
      return out;
  }
}

// ------------------------------------------------------------------------------------ building

/** An Ethernet frame (no padding to 60 bytes: the "wire" here carries frames as they are). */
export function buildEth(dst: Mac, src: Mac, type: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(ETH_HEADER_LEN + payload.length);
  b.set(macToBytes(dst), 0);
  b.set(macToBytes(src), 6);
  put16(b, 12, type);
  b.set(payload, ETH_HEADER_LEN);
  return b;
}

export interface Ipv4Spec {
  src: Ipv4;
  dst: Ipv4;
  proto: number;
  ttl?: number;
  id?: number;
}

/** An IPv4 packet (20-byte header, DF clear, checksum filled in). */
export function buildIpv4(h: Ipv4Spec, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  b[0] = 0x45;
  put16(b, 2, b.length);
  put16(b, 4, h.id ?? 0);
  b[8] = h.ttl ?? 64;
  b[9] = h.proto;
  put32(b, 12, h.src);
  put32(b, 16, h.dst);
  put16(b, 10, inetChecksum(b.subarray(0, IPV4_MIN_HEADER)));
  b.set(payload, IPV4_MIN_HEADER);
  return b;
}

/** A UDP datagram with its checksum over the pseudo-header of (src, dst). */
export function buildUdp(src: Ipv4, dst: Ipv4, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(UDP_HEADER_LEN + payload.length);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, b.length);
  b.set(payload, UDP_HEADER_LEN);
  const ck = inetChecksum(b, pseudoSum(src, dst, IPPROTO.UDP, b.length));
  put16(b, 6, ck === 0 ? 0xffff : ck);
  return b;
}

/** An ICMP echo request (type 8) or reply (type 0). */
export function buildIcmpEcho(type: number, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(ICMP_ECHO_HEADER_LEN + payload.length);
  b[0] = type;
  put16(b, 4, id);
  put16(b, 6, seq);
  b.set(payload, ICMP_ECHO_HEADER_LEN);
  put16(b, 2, inetChecksum(b));
  return b;
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
}

/** A TCP segment (20-byte header) with its checksum over the pseudo-header of (src, dst). */
export function buildTcp(src: Ipv4, dst: Ipv4, t: TcpSpec, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(TCP_MIN_HEADER + payload.length);
  put16(b, 0, t.sport);
  put16(b, 2, t.dport);
  put32(b, 4, t.seq ?? 0);
  put32(b, 8, t.ack ?? 0);
  b[12] = 5 << 4;
  b[13] = t.flags ?? 0;
  put16(b, 14, t.window ?? 65535);
  b.set(payload, TCP_MIN_HEADER);
  put16(b, 16, inetChecksum(b, pseudoSum(src, dst, IPPROTO.TCP, b.length)));
  return b;
}

/** An Ethernet/IPv4 ARP packet. */
export function buildArp(op: number, sha: Mac, spa: Ipv4, tha: Mac, tpa: Ipv4): Uint8Array {
  const b = new Uint8Array(ARP_LEN);
  put16(b, 0, 1);
  put16(b, 2, ETHERTYPE.IPV4);
  b[4] = 6;
  b[5] = 4;
  put16(b, 6, op);
  b.set(macToBytes(sha), 8);
  put32(b, 14, spa);
  b.set(macToBytes(tha), 18);
  put32(b, 24, tpa);
  return b;
}

/** The link and network addresses of a frame to build. */
export interface FrameAddrs {
  srcMac: Mac;
  dstMac: Mac;
  srcIp: Ipv4;
  dstIp: Ipv4;
  ttl?: number;
  id?: number;
}

export const udpFrame = (a: FrameAddrs, sport: number, dport: number, payload: Uint8Array): Uint8Array =>
  buildEth(a.dstMac, a.srcMac, ETHERTYPE.IPV4, buildIpv4({ src: a.srcIp, dst: a.dstIp, proto: IPPROTO.UDP, ttl: a.ttl, id: a.id }, buildUdp(a.srcIp, a.dstIp, sport, dport, payload)));

export const icmpEchoFrame = (a: FrameAddrs, type: number, id: number, seq: number, payload: Uint8Array): Uint8Array =>
  buildEth(a.dstMac, a.srcMac, ETHERTYPE.IPV4, buildIpv4({ src: a.srcIp, dst: a.dstIp, proto: IPPROTO.ICMP, ttl: a.ttl, id: a.id }, buildIcmpEcho(type, id, seq, payload)));

export const tcpFrame = (a: FrameAddrs, t: TcpSpec, payload: Uint8Array): Uint8Array =>
  buildEth(a.dstMac, a.srcMac, ETHERTYPE.IPV4, buildIpv4({ src: a.srcIp, dst: a.dstIp, proto: IPPROTO.TCP, ttl: a.ttl, id: a.id }, buildTcp(a.srcIp, a.dstIp, t, payload)));

/** An ARP frame: a request is broadcast; a reply goes to `tha`. */
export const arpFrame = (op: number, sha: Mac, spa: Ipv4, tha: Mac, tpa: Ipv4): Uint8Array =>
  buildEth(op === ARP_OP.REQUEST ? 'ff:ff:ff:ff:ff:ff' : tha, sha, ETHERTYPE.ARP, buildArp(op, sha, spa, op === ARP_OP.REQUEST ? '00:00:00:00:00:00' : tha, tpa));
