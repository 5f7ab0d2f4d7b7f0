/**
 * The bridge and the virtual firewall-router's rules, sans-IO: tables of frames in and deliveries
 * out. Learning, flooding, hairpin, anti-spoofing, rule matching on every field, first match wins,
 * count rules, default policies, counters; and random frames from random ports never breaking the
 * invariants (at most one delivery per port, never back to the sender).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Bridge } from '../src/bridge';
import { formatRule, matchRule, parseRule, parseRuleSet, type Rule } from '../src/firewall';
import { ARP_OP, arpFrame, icmpEchoFrame, parseFrame, parseIpv4, tcpFrame, udpFrame } from '../src/packet';

const ip = (s: string) => parseIpv4(s)!;
const MAC = { a: '00:16:3e:00:00:0a', b: '00:16:3e:00:00:0b', c: '00:16:3e:00:00:0c', x: '02:00:00:00:00:99' };
const IP = { a: ip('10.0.0.1'), b: ip('10.0.0.2'), c: ip('10.0.1.3') };
const udp = (from: 'a' | 'b' | 'c', to: 'a' | 'b' | 'c', dport = 7, o: { srcMac?: string; dstMac?: string; srcIp?: number } = {}) =>
  udpFrame({ srcMac: o.srcMac ?? MAC[from], dstMac: o.dstMac ?? MAC[to], srcIp: o.srcIp ?? IP[from], dstIp: IP[to] }, 1000, dport, new Uint8Array(4));

function mustRule(t: string): Rule {
  const r = parseRule(t);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function bridge3(antispoof = true, unknownUnicast: 'flood' | 'drop' = 'flood'): Bridge {
  const b = new Bridge('xenbr0', { unknownUnicast });
  for (const p of ['a', 'b', 'c'] as const) b.addPort(p, { mac: MAC[p], ips: [IP[p]], antispoof });
  return b;
}
const to = (r: ReturnType<Bridge['forward']>) => r.deliveries.map((d) => d.port);

describe('switching', () => {
  it('unicast to the configured MAC only; broadcast and multicast to every other port; never back', () => {
    const b = bridge3();
    expect(to(b.forward('a', udp('a', 'b')))).toEqual(['b']);
    expect(to(b.forward('a', udp('a', 'b', 7, { dstMac: 'ff:ff:ff:ff:ff:ff' })))).toEqual(['b', 'c']);
    expect(to(b.forward('c', udp('c', 'a', 7, { dstMac: '01:00:5e:00:00:01' })))).toEqual(['a', 'b']);
    expect(b.forward('a', udp('a', 'a'))).toEqual({ deliveries: [], dropped: 'hairpin' });
  });

  it('unknown unicast floods (Linux bridge) or drops; learning fills the table on ports without a MAC', () => {
    const b = new Bridge('br');
    b.addPort('p');
    b.addPort('q');
    b.addPort('r');
    expect(to(b.forward('p', udp('a', 'b', 7, { srcMac: MAC.x, dstMac: MAC.b })))).toEqual(['q', 'r']);
    expect(b.lookup(MAC.x)).toBe('p');
    expect(to(b.forward('q', udp('b', 'a', 7, { srcMac: MAC.b, dstMac: MAC.x })))).toEqual(['p']);
    const d = bridge3(true, 'drop');
    expect(d.forward('a', udp('a', 'b', 7, { dstMac: MAC.x }))).toEqual({ deliveries: [], dropped: 'no-destination' });
  });

  it('a learned entry never takes over another port\'s configured MAC', () => {
    const b = bridge3(false);
    b.forward('c', udp('c', 'a', 7, { srcMac: MAC.b })); // c claims b's MAC (anti-spoofing off)
    expect(b.lookup(MAC.b)).toBe('b');
    expect(to(b.forward('a', udp('a', 'b')))).toEqual(['b']);
    b.removePort('b');
    expect(b.lookup(MAC.b)).toBeUndefined();
  });
});

describe('anti-spoofing', () => {
  it('source MAC and IP must be the port\'s; ARP sender too; DHCP from 0.0.0.0 is allowed', () => {
    const b = bridge3();
    expect(b.forward('a', udp('a', 'b', 7, { srcMac: MAC.c })).dropped).toBe('spoofed-mac');
    expect(b.forward('a', udp('a', 'b', 7, { srcIp: IP.c })).dropped).toBe('spoofed-ip');
    expect(b.forward('a', arpFrame(ARP_OP.REPLY, MAC.a, IP.b, MAC.c, IP.c)).dropped).toBe('spoofed-ip');
    expect(b.forward('a', arpFrame(ARP_OP.REQUEST, MAC.c, IP.a, MAC.b, IP.b)).dropped).toBe('spoofed-mac');
    expect(to(b.forward('a', arpFrame(ARP_OP.REQUEST, MAC.a, IP.a, 'ff:ff:ff:ff:ff:ff', IP.b)))).toEqual(['b', 'c']);
    const dhcp = udpFrame({ srcMac: MAC.a, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: 0, dstIp: 0xffffffff }, 68, 67, new Uint8Array(8));
    expect(to(b.forward('a', dhcp))).toEqual(['b', 'c']);
    const notDhcp = udpFrame({ srcMac: MAC.a, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: 0, dstIp: 0xffffffff }, 1, 67, new Uint8Array(8));
    expect(b.forward('a', notDhcp).dropped).toBe('spoofed-ip');
    expect(b.stats('a')!.dropsOut).toMatchObject({ 'spoofed-mac': 2, 'spoofed-ip': 3 });
    expect(b.forward('a', new Uint8Array(10)).dropped).toBe('malformed');
  });
});

describe('rules', () => {
  const f = {
    udp7: parseFrame(udp('a', 'b', 7)),
    udp53: parseFrame(udp('a', 'b', 53)),
    tcp80: parseFrame(tcpFrame({ srcMac: MAC.a, dstMac: MAC.b, srcIp: IP.a, dstIp: IP.b }, { sport: 5, dport: 80 }, new Uint8Array(0))),
    icmp: parseFrame(icmpEchoFrame({ srcMac: MAC.a, dstMac: MAC.c, srcIp: IP.a, dstIp: IP.c }, 8, 1, 1, new Uint8Array(0))),
    arp: parseFrame(arpFrame(ARP_OP.REQUEST, MAC.a, IP.a, 'ff:ff:ff:ff:ff:ff', IP.c)),
  };
  const rule = mustRule;
  it.each([
    ['accept', ['udp7', 'udp53', 'tcp80', 'icmp', 'arp']],
    ['drop proto=ip', ['udp7', 'udp53', 'tcp80', 'icmp']],
    ['drop proto=udp', ['udp7', 'udp53']],
    ['drop proto=tcp', ['tcp80']],
    ['drop proto=icmp', ['icmp']],
    ['drop proto=arp', ['arp']],
    ['drop dst=10.0.1.0/24', ['icmp', 'arp']],
    ['drop dst=10.0.1.0/255.255.255.0', ['icmp', 'arp']],
    ['drop src=10.0.0.1 dst=10.0.0.2', ['udp7', 'udp53', 'tcp80']],
    ['drop dport=50-90', ['udp53', 'tcp80']],
    ['drop proto=udp dport=53', ['udp53']],
    ['drop sport=1000', ['udp7', 'udp53']],
    ['drop src=0.0.0.0/0', ['udp7', 'udp53', 'tcp80', 'icmp', 'arp']],
  ])('%s matches %j', (text, want) => {
    const r = rule(text);
    expect(Object.entries(f).filter(([, p]) => matchRule(r, p)).map(([k]) => k)).toEqual(want);
    expect(parseRule(formatRule(r))).toEqual({ ok: true, value: r });
  });

  it('refuses what it cannot read, with a reason', () => {
    for (const t of ['', 'allow', 'drop proto=sctp', 'drop src=10.0.0', 'drop dport=70000', 'drop dport=9-3', 'drop proto=icmp dport=1', 'drop src=1.2.3.4 src=1.2.3.5', 'drop colour=red'])
      expect(parseRule(t).ok, t).toBe(false);
    expect(parseRuleSet({ policy: 'reject' }).ok).toBe(false);
    expect(parseRuleSet({ x: 'accept' }).ok).toBe(false);
    const s = parseRuleSet({ '10': 'drop proto=udp', '2': 'accept proto=udp dport=7', policy: 'drop' });
    expect(s.ok && s.value.rules.map(formatRule)).toEqual(['accept proto=udp dport=7', 'drop proto=udp']);
  });

  it('per port and direction: first match wins, count rules go on, policies apply, everything is counted', () => {
    const b = bridge3();
    b.setRules('b', 'in', { rules: [rule('count proto=udp'), rule('accept proto=udp dport=7'), rule('drop proto=udp')], policy: 'accept' });
    b.setRules('a', 'out', { rules: [rule('drop proto=tcp dport=80')], policy: 'accept' });
    b.setRules('c', 'in', { rules: [rule('accept proto=arp')], policy: 'drop' });
    expect(to(b.forward('a', udp('a', 'b', 7)))).toEqual(['b']);
    expect(to(b.forward('a', udp('a', 'b', 53)))).toEqual([]);
    expect(b.forward('a', tcpFrame({ srcMac: MAC.a, dstMac: MAC.b, srcIp: IP.a, dstIp: IP.b }, { sport: 5, dport: 80 }, new Uint8Array(0))).dropped).toBe('rule');
    expect(to(b.forward('a', arpFrame(ARP_OP.REQUEST, MAC.a, IP.a, 'ff:ff:ff:ff:ff:ff', IP.c)))).toEqual(['b', 'c']);
    expect(to(b.forward('a', udp('a', 'c', 7)))).toEqual([]);
    const inB = b.rules('b', 'in')!;
    expect(inB.counters.map((c) => c.packets)).toEqual([2, 1, 1]);
    expect(inB.policyCounter.packets).toBe(1); // the ARP broadcast
    expect(b.rules('c', 'in')!.counters[0].packets).toBe(1);
    expect(b.rules('c', 'in')!.policyCounter.packets).toBe(1);
    expect(b.rules('a', 'out')!.counters[0]).toMatchObject({ packets: 1 });
    expect(b.stats('b')!.dropsIn.rule).toBe(1);
    expect(b.stats('c')!.dropsIn.policy).toBe(1);
    expect(b.stats('a')!.dropsOut.rule).toBe(1);
  });
});

describe('invariants under random traffic', () => {
  it('at most one delivery per port, never to the sender, never throwing', () => {
    const port = fc.constantFrom('a', 'b', 'c');
    const mac = fc.constantFrom(MAC.a, MAC.b, MAC.c, MAC.x, 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01');
    const frame = fc.oneof(
      fc.tuple(mac, mac, fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 })).map(([s, d, sip, dp]) => udpFrame({ srcMac: s, dstMac: d, srcIp: sip >>> 0, dstIp: IP.b }, 1, dp, new Uint8Array(3))),
      fc.uint8Array({ maxLength: 80 }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.tuple(port, frame), { maxLength: 40 }), (anti, steps) => {
        const b = bridge3(anti);
        b.setRules('b', 'in', { rules: [mustRule('drop proto=udp dport=0-100')], policy: 'accept' });
        for (const [p, f] of steps) {
          const r = b.forward(p, f);
          const ports = to(r);
          if (new Set(ports).size !== ports.length || ports.includes(p)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
