/**
 * The virtual firewall-router (SOSP'03 §3.3.5) as dom0 drives it: anti-spoofing from the vif's mac
 * and ip nodes, accept/drop/count rules on addresses, ports and protocols installed as xenstore
 * nodes under the vif's backend directory (netback watches them), per-rule counters, default
 * policies, a rule set that does not parse failing closed; and the receive path's drop when a guest
 * has posted no buffer.
 */
import { describe, expect, it } from 'vitest';
import { ms } from '@xenotype/core';
import { netConnect, type App, type NetDevice } from '@xenotype/minios';
import { ARP_OP, BROADCAST_MAC, ICMP_TYPE, TCP_FLAG, arpFrame, icmpEchoFrame, parseFrame, parseIpv4, tcpFrame, udpFrame, type Ipv4 } from '@xenotype/net';
import { setAntispoof, setFirewall, vifStatistics } from '../tools/src/toolstack/nic';
import { netHost, runUntil, type NetHost } from './support/net-host';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const enc = new TextEncoder();
const dec = new TextDecoder();
const GO = ms(20);

interface Seen {
  src: string;
  what: string;
}

/** What a frame is, in a word the assertions can compare: "udp 7 hello", "tcp 1500", "icmp 8", "arp 2". */
function describeFrame(f: Uint8Array): Seen {
  const p = parseFrame(f);
  const what = p.udp ? `udp ${p.udp.dst} ${dec.decode(p.payload)}` : p.tcp ? `tcp ${p.tcp.dst}` : p.icmp ? `icmp ${p.icmp.type}` : p.arp ? `arp ${p.arp.op}` : `eth ${p.eth?.type}`;
  return { src: p.eth?.src ?? '?', what };
}

/** A guest that records every frame it receives and sends the frames `script` gives it at given times. */
function scripted(log: Seen[], script: (dev: NetDevice) => { at: number; frames: () => Uint8Array[] }[], o: { rxBuffers?: number; readFrom?: number } = {}): App {
  return function* (os) {
    const dev = yield* netConnect(os, { deadline: os.now() + ms(50), rxBuffers: o.rxBuffers ?? 64 });
    os.spawn('rx', (function* () {
      if (o.readFrom) yield* os.sleepUntil(o.readFrom);
      for (;;) log.push(describeFrame((yield* dev.recv())!));
    })());
    for (const step of script(dev)) {
      yield* os.sleepUntil(step.at);
      for (const f of step.frames()) yield* dev.send(f);
    }
  };
}

const vif = (h: NetHost, g: string) => `vif${h.ids[g]}.0`;

describe('anti-spoofing', () => {
  it('drops a forged source MAC or IP (counted), lets DHCP from 0.0.0.0 through; dom0 can turn it off', () => {
    const got: Record<string, Seen[]> = { a: [], b: [], c: [] };
    const m: Record<string, string> = {};
    const A = ip('10.0.0.1');
    const B = ip('10.0.0.2');
    const h = netHost([
      {
        name: 'a',
        nic: { ip: '10.0.0.1' },
        app: scripted(got.a, () => [
          {
            at: GO,
            frames: () => [
              udpFrame({ srcMac: m.a, dstMac: m.b, srcIp: A, dstIp: B }, 1, 7, enc.encode('legit')),
              udpFrame({ srcMac: m.c, dstMac: m.b, srcIp: A, dstIp: B }, 1, 7, enc.encode('forged-mac')),
              udpFrame({ srcMac: m.a, dstMac: m.b, srcIp: ip('10.0.0.3'), dstIp: B }, 1, 7, enc.encode('forged-ip')),
              arpFrame(ARP_OP.REPLY, m.a, B, m.c, ip('10.0.0.3')), // "10.0.0.2 is at a's MAC"
              arpFrame(ARP_OP.REQUEST, m.c, A, BROADCAST_MAC, B), // a request in c's name
              udpFrame({ srcMac: m.a, dstMac: BROADCAST_MAC, srcIp: 0, dstIp: 0xffffffff }, 68, 67, enc.encode('dhcp')),
            ],
          },
          { at: GO + ms(20), frames: () => [udpFrame({ srcMac: m.a, dstMac: m.b, srcIp: ip('10.0.0.3'), dstIp: B }, 1, 7, enc.encode('forged-ip-allowed'))] },
        ]),
      },
      { name: 'b', nic: { ip: '10.0.0.2' }, app: scripted(got.b, () => []) },
      { name: 'c', nic: { ip: '10.0.0.3' }, app: scripted(got.c, () => []) },
    ]);
    Object.assign(m, h.macs);
    h.host.runFor(GO + ms(10));
    expect(got.b).toEqual([
      { src: m.a, what: 'udp 7 legit' },
      { src: m.a, what: 'udp 67 dhcp' },
    ]);
    expect(got.c).toEqual([{ src: m.a, what: 'udp 67 dhcp' }]);
    const st = h.netback().vifStats(vif(h, 'a'))!;
    expect(st.port!.dropsOut['spoofed-mac']).toBe(2); // the forged MAC, the ARP request in c's name
    expect(st.port!.dropsOut['spoofed-ip']).toBe(2); // the forged IP, the ARP reply claiming b's address
    expect(st.vif.txPackets).toBe(6); // netback took them all; the bridge refused four

    h.dom0('antispoof off', (xs) => setAntispoof(xs, { domid: h.ids.a, backendDomid: h.dd }, false));
    h.host.runFor(ms(20));
    expect(got.b.at(-1)).toEqual({ src: m.a, what: 'udp 7 forged-ip-allowed' });
    expect(h.crashes).toEqual([]);
  });
});

describe('rules installed by dom0 through xenstore', () => {
  it('accept/drop/count on addresses with masks, port ranges and protocols, first match wins, with counters', () => {
    const got: Record<string, Seen[]> = { a: [], b: [], c: [] };
    const m: Record<string, string> = {};
    const A = ip('10.0.0.1');
    const B = ip('10.0.0.2');
    const C = ip('10.0.1.3');
    const aTo = (dstMac: string, dstIp: Ipv4) => ({ srcMac: m.a, dstMac, srcIp: A, dstIp });
    const h = netHost([
      {
        name: 'a',
        nic: { ip: '10.0.0.1' },
        app: scripted(got.a, () => [
          {
            at: GO,
            frames: () => [
              udpFrame(aTo(m.b, B), 1, 7, enc.encode('seven')),
              udpFrame(aTo(m.b, B), 1, 9, enc.encode('nine')),
              tcpFrame(aTo(m.b, B), { sport: 2, dport: 1500, flags: TCP_FLAG.SYN }, new Uint8Array(0)),
              tcpFrame(aTo(m.b, B), { sport: 2, dport: 2500, flags: TCP_FLAG.SYN }, new Uint8Array(0)),
              icmpEchoFrame(aTo(m.b, B), ICMP_TYPE.ECHO_REQUEST, 1, 1, new Uint8Array(8)),
              icmpEchoFrame(aTo(m.c, C), ICMP_TYPE.ECHO_REQUEST, 1, 2, new Uint8Array(8)),
            ],
          },
          { at: GO + ms(20), frames: () => [udpFrame(aTo(m.b, B), 1, 7, enc.encode('again')), udpFrame(aTo(m.b, B), 1, 8, enc.encode('eight'))] },
        ]),
      },
      { name: 'b', nic: { ip: '10.0.0.2' }, app: scripted(got.b, () => []) },
      {
        name: 'c',
        nic: { ip: '10.0.1.3' },
        app: scripted(got.c, () => [{ at: GO, frames: () => [udpFrame({ srcMac: m.c, dstMac: m.b, srcIp: C, dstIp: B }, 3, 9, enc.encode('nine-from-c')), udpFrame({ srcMac: m.c, dstMac: m.b, srcIp: C, dstIp: B }, 3, 7, enc.encode('seven-from-c'))] }]),
      },
    ]);
    Object.assign(m, h.macs);
    const nic = (g: string) => ({ domid: h.ids[g], backendDomid: h.dd });
    h.dom0('rules', function* (xs) {
      yield* setFirewall(xs, nic('b'), 'in', ['drop proto=udp dport=9', 'count proto=udp src=10.0.0.0/24', 'drop proto=tcp dport=1000-2000', 'accept'], 'accept');
      yield* setFirewall(xs, nic('a'), 'out', ['drop proto=icmp dst=10.0.0.2'], 'accept');
    });
    h.host.runFor(GO + ms(10) - h.host.now);
    const from = (g: string) => got.b.filter((x) => x.src === m[g]).map((x) => x.what);
    expect(from('a')).toEqual(['udp 7 seven', 'tcp 2500']);
    expect(from('c')).toEqual(['udp 7 seven-from-c']);
    expect(got.b.length).toBe(3);
    expect(got.c).toEqual([{ src: m.a, what: 'icmp 8' }]);
    const nb = h.netback();
    const inB = nb.vifStats(vif(h, 'b'))!.rules.in!;
    expect(inB.counters.map((c) => c.packets)).toEqual([2, 1, 1, 3]); // port 9 from a and c; count: a→7; tcp 1500; a→7, tcp 2500, c→7
    expect(inB.policyCounter.packets).toBe(0);
    expect(inB.counters[0].bytes).toBeGreaterThan(0);
    const outA = nb.vifStats(vif(h, 'a'))!.rules.out!;
    expect(outA.counters.map((c) => c.packets)).toEqual([1]);
    expect(outA.policyCounter.packets).toBe(5);
    expect(nb.vifStats(vif(h, 'a'))!.port!.dropsOut.rule).toBe(1);
    expect(nb.vifStats(vif(h, 'b'))!.port!.dropsIn.rule).toBe(3);
    // dom0 reads the same counters back through xenstore
    const sb = h.dom0('stats', (xs) => vifStatistics(xs, nic('b')))!;
    expect(sb.rules.in.rules.map((c) => c.packets)).toEqual([2, 1, 1, 3]);
    expect(sb.rules.in.rules[0].bytes).toBe(inB.counters[0].bytes);
    expect(sb.rules.in.policy).toEqual({ packets: 0, bytes: 0 });
    expect(sb.drops).toEqual({ 'in:rule': 3 });
    expect(sb.rxPackets).toBe(3);
    const sa = h.dom0('stats', (xs) => vifStatistics(xs, nic('a')))!;
    expect(sa.rules.out).toEqual({ rules: [{ packets: 1, bytes: outA.counters[0].bytes }], policy: { packets: 5, bytes: outA.policyCounter.bytes } });
    expect(sa).toMatchObject({ txPackets: 6, txErrors: 0, drops: { 'out:rule': 1 } });

    // Default policy drop, one hole: only udp 7 gets in; the rest counts against the policy.
    h.dom0('policy drop', (xs) => setFirewall(xs, nic('b'), 'in', ['accept proto=udp dport=7'], 'drop'));
    h.host.runFor(ms(20));
    expect(got.b.slice(3)).toEqual([{ src: m.a, what: 'udp 7 again' }]);
    const inB2 = nb.vifStats(vif(h, 'b'))!.rules.in!;
    expect(inB2.counters.map((c) => c.packets)).toEqual([1]);
    expect(inB2.policyCounter.packets).toBe(1);
    expect(h.crashes).toEqual([]);
  });

  it('a rule set that does not parse fails closed until dom0 writes a good one', () => {
    const got: Seen[] = [];
    const m: Record<string, string> = {};
    const frame = (s: string) => udpFrame({ srcMac: m.a, dstMac: m.b, srcIp: ip('10.0.0.1'), dstIp: ip('10.0.0.2') }, 1, 7, enc.encode(s));
    const h = netHost([
      { name: 'a', nic: { ip: '10.0.0.1' }, app: scripted([], () => [{ at: GO, frames: () => [frame('one')] }, { at: GO + ms(20), frames: () => [frame('two')] }]) },
      { name: 'b', nic: { ip: '10.0.0.2' }, app: scripted(got, () => []) },
    ]);
    Object.assign(m, h.macs);
    const nic = { domid: h.ids.b, backendDomid: h.dd };
    h.dom0('bad rules', (xs) => setFirewall(xs, nic, 'in', ['accept proto=udp', 'frobnicate everything'], 'accept'));
    h.host.runFor(GO + ms(10) - h.host.now);
    expect(got).toEqual([]);
    const nb = h.netback();
    expect(nb.vifs.get(vif(h, 'b'))!.firewallError).toMatch(/frobnicate/);
    expect(nb.vifStats(vif(h, 'b'))!.port!.dropsIn.policy).toBe(1);
    expect(h.lines.some((l) => /firewall refused, failing closed/.test(l))).toBe(true);
    h.dom0('good rules', (xs) => setFirewall(xs, nic, 'in', ['accept proto=udp'], 'drop'));
    h.host.runFor(ms(20));
    expect(got).toEqual([{ src: m.a, what: 'udp 7 two' }]);
    expect(nb.vifs.get(vif(h, 'b'))!.firewallError).toBeNull();
  });
});

describe('receive buffers', () => {
  it('a guest that posted no buffer loses the packet, counted; once it reposts, packets flow again', () => {
    const got: Seen[] = [];
    const m: Record<string, string> = {};
    const frame = (i: number) => udpFrame({ srcMac: m.a, dstMac: m.b, srcIp: ip('10.0.0.1'), dstIp: ip('10.0.0.2') }, 1, 7, enc.encode(String(i)));
    const h = netHost([
      {
        name: 'a',
        nic: { ip: '10.0.0.1' },
        app: scripted([], () => [
          { at: GO, frames: () => Array.from({ length: 10 }, (_, i) => frame(i)) },
          { at: GO + ms(30), frames: () => [frame(10), frame(11), frame(12)] },
        ]),
      },
      // b posts 4 buffers and does not look at its ring until GO + 20 ms
      { name: 'b', nic: { ip: '10.0.0.2' }, app: scripted(got, () => [], { rxBuffers: 4, readFrom: GO + ms(20) }) },
    ]);
    Object.assign(m, h.macs);
    h.host.runFor(GO + ms(10));
    const nb = h.netback();
    expect(nb.vifStats(vif(h, 'b'))!.vif).toMatchObject({ rxPackets: 4, rxDropNoBuffer: 6 });
    expect(got).toEqual([]);
    expect(runUntil(h, () => got.length === 7, ms(50))).toBe(true);
    expect(got.map((s) => s.what)).toEqual(['udp 7 0', 'udp 7 1', 'udp 7 2', 'udp 7 3', 'udp 7 10', 'udp 7 11', 'udp 7 12']);
    expect(nb.vifStats(vif(h, 'b'))!.vif).toMatchObject({ rxPackets: 7, rxDropNoBuffer: 6 });
  });
});
