/**
 * Ethernet/ARP/IPv4/ICMP/UDP/TCP: golden bytes, builders and the parser agreeing, checksums, and
 * the parser never throwing on arbitrary bytes (peer input).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ARP_OP,
  ICMP_TYPE,
  TCP_FLAG,
  arpFrame,
  buildIpv4,
  formatIpv4,
  icmpEchoFrame,
  inetChecksum,
  parseCidr,
  parseFrame,
  parseIpv4,
  tcpFrame,
  udpFrame,
} from '../src/packet';
import { defaultVifMac, isGroupMac, macFromBytes, macToBytes, parseMac } from '../src/netif';

const A = { srcMac: '00:16:3e:00:00:01', dstMac: '00:16:3e:00:00:02', srcIp: parseIpv4('10.0.0.1')!, dstIp: parseIpv4('10.0.0.2')! };
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('addresses', () => {
  it('IPv4 and CIDR parse and format; garbage is null', () => {
    expect(parseIpv4('10.1.2.3')).toBe(0x0a010203);
    expect(formatIpv4(0xc0a80001)).toBe('192.168.0.1');
    for (const bad of ['10.0.0', '256.1.1.1', '1.2.3.4.5', '', 'a.b.c.d', ' 1.2.3.x']) expect(parseIpv4(bad), bad).toBeNull();
    expect(parseCidr('10.1.2.3/8')).toEqual({ addr: 0x0a000000, mask: 0xff000000 });
    expect(parseCidr('10.1.2.3')).toEqual({ addr: 0x0a010203, mask: 0xffffffff });
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, mask: 0 });
    expect(parseCidr('10.0.0.0/33')).toBeNull();
  });

  it('MACs: canonical form, group bit, bytes; libxl-style defaults carry Xen\'s OUI', () => {
    expect(parseMac('00:16:3E:0A:0b:0C')).toBe('00:16:3e:0a:0b:0c');
    for (const bad of ['00:16:3e:0a:0b', '00-16-3e-0a-0b-0c', 'zz:16:3e:0a:0b:0c', null, '']) expect(parseMac(bad), String(bad)).toBeNull();
    expect(macFromBytes(macToBytes('01:23:45:67:89:ab'))).toBe('01:23:45:67:89:ab');
    expect(isGroupMac('ff:ff:ff:ff:ff:ff')).toBe(true);
    expect(isGroupMac('01:00:5e:00:00:01')).toBe(true);
    expect(isGroupMac('00:16:3e:00:00:01')).toBe(false);
    expect(defaultVifMac(5, 1)).toBe('00:16:3e:00:05:01');
    expect(isGroupMac(defaultVifMac(32000, 255))).toBe(false);
  });
});

describe('checksums and golden bytes', () => {
  it('the RFC 1071 example and an IPv4 header with its checksum', () => {
    // RFC 1071 §3: 0001 f203 f4f5 f6f7 → sum ddf2, checksum 220d
    expect(inetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
    const ip = buildIpv4({ src: 0xc0a80001, dst: 0xc0a800c7, proto: 17, ttl: 64, id: 0x1c46 }, new Uint8Array(0));
    expect(hex(ip)).toBe('450000141c4600004011' + hex(ip.subarray(10, 12)) + 'c0a80001c0a800c7');
    expect(inetChecksum(ip)).toBe(0);
  });

  it('a UDP frame, byte for byte', () => {
    const f = udpFrame(A, 1234, 7, new TextEncoder().encode('hi'));
    expect(f.length).toBe(14 + 20 + 8 + 2);
    expect(hex(f.subarray(0, 14))).toBe('00163e00000200163e0000010800');
    expect(hex(f.subarray(34, 40))).toBe('04d20007000a');
    const p = parseFrame(f);
    expect(p.error).toBeUndefined();
    expect(p.ip).toMatchObject({ src: A.srcIp, dst: A.dstIp, proto: 17, checksumOk: true, fragment: false });
    expect(p.udp).toEqual({ src: 1234, dst: 7, length: 10, checksumOk: true });
    expect(new TextDecoder().decode(p.payload)).toBe('hi');
    f[f.length - 1] ^= 1;
    expect(parseFrame(f).udp!.checksumOk).toBe(false);
  });
});

describe('builders and parser agree', () => {
  it('ICMP echo, TCP, ARP', () => {
    const e = parseFrame(icmpEchoFrame(A, ICMP_TYPE.ECHO_REQUEST, 0x1234, 7, new Uint8Array([1, 2, 3])));
    expect(e.icmp).toEqual({ type: 8, code: 0, id: 0x1234, seq: 7, checksumOk: true });
    expect([...e.payload]).toEqual([1, 2, 3]);
    const t = parseFrame(tcpFrame(A, { sport: 40000, dport: 80, seq: 0xdeadbeef, ack: 5, flags: TCP_FLAG.SYN | TCP_FLAG.ACK }, new Uint8Array(10)));
    expect(t.tcp).toMatchObject({ src: 40000, dst: 80, seq: 0xdeadbeef, ack: 5, flags: 0x12, headerLen: 20, checksumOk: true });
    expect(t.payload.length).toBe(10);
    const a = parseFrame(arpFrame(ARP_OP.REQUEST, A.srcMac, A.srcIp, 'ff:ff:ff:ff:ff:ff', A.dstIp));
    expect(a.eth!.dst).toBe('ff:ff:ff:ff:ff:ff');
    expect(a.arp).toEqual({ op: 1, sha: A.srcMac, spa: A.srcIp, tha: '00:00:00:00:00:00', tpa: A.dstIp });
  });

  it('property: any UDP datagram round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 1472 }), fc.integer({ min: 0, max: 0xffffffff }), (sp, dp, payload, src) => {
        const p = parseFrame(udpFrame({ ...A, srcIp: src >>> 0 }, sp, dp, payload));
        return p.error === undefined && p.udp!.src === sp && p.udp!.dst === dp && p.udp!.checksumOk && p.ip!.checksumOk && hex(p.payload) === hex(payload);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the parser on peer bytes', () => {
  it('never throws, and never reports a header it could not read', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const p = parseFrame(b);
        if (b.length < 14) return p.eth === undefined && p.error !== undefined;
        return p.length === b.length && (!p.ip || b.length >= 34) && (!p.udp || !!p.ip);
      }),
      { numRuns: 2000 },
    );
  });

  it('truncations and bad fields are reported, not thrown', () => {
    const f = udpFrame(A, 1, 2, new Uint8Array(100));
    for (let n = 0; n < f.length; n++) expect(() => parseFrame(f.subarray(0, n))).not.toThrow();
    expect(parseFrame(f.subarray(0, 40)).error).toMatch(/truncated/);
    const bad = f.slice();
    bad[14] = 0x65; // version 6 in an IPv4 ethertype
    expect(parseFrame(bad).error).toMatch(/version/);
    const frag = f.slice();
    frag[20] = 0x00;
    frag[21] = 0x10; // fragment offset 16: no transport header
    const pf = parseFrame(frag);
    expect(pf.ip!.fragment).toBe(true);
    expect(pf.udp).toBeUndefined();
  });
});
