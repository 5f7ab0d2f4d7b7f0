/**
 * Virtual networking end to end: guests' netfronts, netback and the bridge in a driver domain,
 * the toolstack's vifs (libxl's layout) — frames cross only through granted pages, rings and event
 * channels. Guest to guest: ping and a UDP request/response exchange; frames delivered exactly
 * once, in order per flow, to the right MAC and to nobody else; broadcast reaching every other
 * guest once; transmit scheduling round robin between vifs, one packet per turn.
 */
import { describe, expect, it } from 'vitest';
import { ms } from '@xenotype/core';
import { NetStack, WORKLOADS, netConnect, type App, type MiniOS } from '@xenotype/minios';
import { BROADCAST_MAC, parseFrame, parseIpv4, udpFrame, type Ipv4 } from '@xenotype/net';
import { XenbusState } from '@xenotype/xenbus';
import { nicRemove } from '../tools/src/toolstack/nic';
import { netHost, runUntil } from './support/net-host';

const ip = (s: string): Ipv4 => parseIpv4(s)!;
const enc = new TextEncoder();
const dec = new TextDecoder();
/** Guests start sending at this guest time, when every vif has connected. */
const GO = ms(20);

const up = (os: MiniOS, rxBuffers?: number) => netConnect(os, { deadline: os.now() + ms(50), rxBuffers });

describe('guest to guest over netfront → netback → bridge → netback → netfront', () => {
  it('ping, then 50 UDP requests each answered by a server doing work per request', () => {
    const seen = { rtts: [] as (number | null)[], answers: [] as string[], served: 0, connectedAt: [] as number[] };
    const client: App = function* (os) {
      const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
      seen.connectedAt.push(os.now());
      const st = new NetStack(os, dev, { ip: ip('10.0.0.1') }).start();
      yield* os.sleepUntil(GO);
      for (let i = 0; i < 10; i++) seen.rtts.push(yield* st.ping(ip('10.0.0.2'), i));
      st.bind(4000);
      for (let i = 0; i < 50; i++) {
        yield* st.udpSend(ip('10.0.0.2'), 4000, 7, enc.encode(`request ${i}`));
        const d = yield* st.udpRecv(4000, os.now() + ms(20));
        seen.answers.push(d ? `${dec.decode(d.payload)} from ${d.sport}` : 'timeout');
      }
    };
    const server: App = function* (os) {
      const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
      seen.connectedAt.push(os.now());
      const st = new NetStack(os, dev, { ip: ip('10.0.0.2') });
      st.bind(7);
      for (;;) {
        const d = (yield* st.udpRecv(7))!;
        yield* os.compute(ms(0.02)); // the work of one request
        seen.served++;
        yield* st.udpSend(d.src, 7, d.sport, enc.encode(dec.decode(d.payload).toUpperCase()));
      }
    };
    const h = netHost([
      { name: 'client', app: client, nic: { ip: '10.0.0.1' } },
      { name: 'server', app: server, nic: { ip: '10.0.0.2' } },
    ]);
    expect(runUntil(h, () => seen.answers.length === 50, ms(300))).toBe(true);
    expect(Math.max(...seen.connectedAt)).toBeLessThan(GO);
    expect(seen.rtts.every((r) => r !== null && r > 0 && r < ms(1))).toBe(true);
    expect(seen.answers).toEqual(Array.from({ length: 50 }, (_, i) => `REQUEST ${i} from 7`));
    expect(seen.served).toBe(50);
    const nb = h.netback();
    const c = nb.vifStats(`vif${h.ids.client}.0`)!;
    const s = nb.vifStats(`vif${h.ids.server}.0`)!;
    // 10 echo requests + 50 requests + ARP; every packet taken was delivered (no drops)
    expect(c.vif.txErrors + s.vif.txErrors + c.vif.rxDropNoBuffer + s.vif.rxDropNoBuffer).toBe(0);
    expect(c.vif.txPackets).toBe(s.vif.rxPackets);
    expect(s.vif.txPackets).toBe(c.vif.rxPackets);
    expect(c.vif.txPackets).toBeGreaterThanOrEqual(61);
    expect(h.crashes).toEqual([]);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });

  it('the handshake follows xenbus states; the nodes are libxl\'s and netback\'s', () => {
    let connected = false;
    const g: App = function* (os) {
      yield* netConnect(os, { deadline: os.now() + ms(50) });
      connected = true;
    };
    const h = netHost([{ name: 'g', app: g, nic: { ip: '10.0.0.9', mtu: 9000 } }]);
    expect(runUntil(h, () => connected, ms(100))).toBe(true);
    const id = h.ids.g;
    const be = `/local/domain/${h.dd}/backend/vif/${id}/0`;
    const fe = `/local/domain/${id}/device/vif/0`;
    const nodes = h.dom0('read', function* (xs) {
      const r: Record<string, string | null> = {};
      for (const n of ['frontend', 'frontend-id', 'online', 'state', 'script', 'mac', 'ip', 'mtu', 'bridge', 'handle', 'type', 'hotplug-status', 'feature-rx-copy', 'feature-sg', 'feature-rx-flip'])
        r[`be/${n}`] = yield* xs.read(`${be}/${n}`);
      for (const n of ['backend', 'backend-id', 'state', 'handle', 'mac', 'trusted', 'mtu', 'tx-ring-ref', 'rx-ring-ref', 'event-channel', 'request-rx-copy', 'feature-rx-notify'])
        r[`fe/${n}`] = yield* xs.read(`${fe}/${n}`);
      r['fe/mtu perms'] = (yield* xs.getPerms(`${fe}/mtu`)).map((p) => `${p.perm}${p.domid}`).join(',');
      r['fe perms'] = (yield* xs.getPerms(fe)).map((p) => `${p.perm}${p.domid}`).join(',');
      r['be perms'] = (yield* xs.getPerms(be)).map((p) => `${p.perm}${p.domid}`).join(',');
      return r;
    });
    expect(nodes).toMatchObject({
      'be/frontend': fe,
      'be/frontend-id': String(id),
      'be/online': '1',
      'be/state': String(XenbusState.Connected),
      'be/script': '/etc/xen/scripts/vif-bridge',
      'be/mac': h.macs.g,
      'be/ip': '10.0.0.9',
      'be/mtu': '9000',
      'be/bridge': 'xenbr0',
      'be/handle': '0',
      'be/type': 'vif',
      'be/hotplug-status': 'connected',
      'be/feature-rx-copy': '1',
      'be/feature-sg': '1',
      'be/feature-rx-flip': '0',
      'fe/backend': be,
      'fe/backend-id': String(h.dd),
      'fe/state': String(XenbusState.Connected),
      'fe/handle': '0',
      'fe/mac': h.macs.g,
      'fe/trusted': '1',
      'fe/mtu': '9000',
      'fe/request-rx-copy': '1',
      'fe/feature-rx-notify': '1',
      'fe/mtu perms': `n${h.dd},r${id}`,
      'fe perms': `n${id},r${h.dd}`,
      'be perms': `n${h.dd},r${id}`,
    });
    expect(h.macs.g).toMatch(/^00:16:3e:/);
    for (const n of ['fe/tx-ring-ref', 'fe/rx-ring-ref', 'fe/event-channel']) expect(nodes[n]).toMatch(/^\d+$/);
  });

  it('two flows at once: every frame exactly once, in order, to the right MAC; broadcast to every other guest once', () => {
    const N = 200;
    const got: Record<string, { src: string; dst: string; seq: number }[]> = { a: [], b: [], c: [], d: [] };
    const done: Record<string, boolean> = {};
    const macs: Record<string, string> = {};
    const sink =
      (me: string): App =>
      function* (os) {
        const dev = yield* up(os, 256);
        for (;;) {
          const f = (yield* dev.recv())!;
          const p = parseFrame(f);
          got[me].push({ src: p.eth!.src, dst: p.eth!.dst, seq: p.udp ? Number(dec.decode(p.payload)) : -1 });
        }
      };
    const sender =
      (me: string, to: string, broadcast: boolean): App =>
      function* (os) {
        const dev = yield* up(os, 256);
        yield* os.sleepUntil(GO);
        const a = { srcMac: macs[me], dstMac: macs[to], srcIp: ip(`10.0.0.${me.charCodeAt(0)}`), dstIp: ip(`10.0.0.${to.charCodeAt(0)}`) };
        for (let i = 0; i < N; i++) yield* dev.send(udpFrame(a, 5000, 6000, enc.encode(String(i))));
        if (broadcast) yield* dev.send(udpFrame({ ...a, dstMac: BROADCAST_MAC, dstIp: 0xffffffff }, 5000, 6000, enc.encode('-1')));
        done[me] = true;
        for (;;) {
          const f = (yield* dev.recv())!;
          const p = parseFrame(f);
          got[me].push({ src: p.eth!.src, dst: p.eth!.dst, seq: p.udp ? Number(dec.decode(p.payload)) : -1 });
        }
      };
    const h = netHost([
      { name: 'a', app: sender('a', 'b', true), nic: {} },
      { name: 'b', app: sink('b'), nic: {} },
      { name: 'c', app: sender('c', 'd', false), nic: {} },
      { name: 'd', app: sink('d'), nic: {} },
    ]);
    Object.assign(macs, h.macs);
    const ok = runUntil(h, () => done.a && done.c && got.b.length === N + 1 && got.d.length === N + 1 && got.c.length === 1, ms(400));
    if (!ok) console.log(done, Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.length])), h.lines.slice(-20), Object.keys(h.ids).map((g) => JSON.stringify(h.netback().vifStats(`vif${h.ids[g]}.0`)?.vif)));
    expect(ok).toBe(true);
    h.host.runFor(ms(5));
    const seqs = (name: string, from: string) => got[name].filter((x) => x.src === macs[from] && x.seq >= 0).map((x) => x.seq);
    const range = Array.from({ length: N }, (_, i) => i);
    expect(seqs('b', 'a')).toEqual(range);
    expect(seqs('d', 'c')).toEqual(range);
    // every unicast frame a guest received was addressed to its own MAC
    for (const g of ['a', 'b', 'c', 'd']) for (const x of got[g]) expect(x.dst === macs[g] || x.dst === BROADCAST_MAC, `${g} got a frame for ${x.dst}`).toBe(true);
    // nobody else saw the flows; the broadcast reached b, c, d once each and not its sender
    expect(got.c.filter((x) => x.seq >= 0)).toEqual([]);
    expect(got.a).toEqual([]);
    for (const g of ['b', 'c', 'd']) expect(got[g].filter((x) => x.dst === BROADCAST_MAC).length, g).toBe(1);
    expect(got.d.filter((x) => x.src === macs.a)).toEqual([{ src: macs.a, dst: BROADCAST_MAC, seq: -1 }]);
    const nb = h.netback();
    for (const g of ['a', 'b', 'c', 'd']) expect(nb.vifStats(`vif${h.ids[g]}.0`)!.vif.rxDropNoBuffer, g).toBe(0);
    expect(h.crashes).toEqual([]);
  });

  it('transmit scheduling is round robin between vifs, one packet per turn', () => {
    const N = 60;
    const order: string[] = [];
    const macs: Record<string, string> = {};
    const sink: App = function* (os) {
      const dev = yield* up(os, 256);
      for (;;) {
        const p = parseFrame((yield* dev.recv())!);
        if (p.udp) order.push(p.eth!.src);
      }
    };
    const blaster =
      (me: string): App =>
      function* (os) {
        const dev = yield* up(os, 64);
        yield* os.sleepUntil(GO);
        const a = { srcMac: macs[me], dstMac: macs.sink, srcIp: ip('10.0.1.1'), dstIp: ip('10.0.1.2') };
        // queue everything at once (the tx ring holds 256 slots), then let netback drain
        for (let i = 0; i < N; i++) expect(dev.front.trySend(udpFrame(a, 1, 2, new Uint8Array(32)))).toBe(true);
        yield* os.sleepUntil(Infinity);
      };
    const h = netHost(
      [
        { name: 'x', app: blaster('x'), nic: {} },
        { name: 'y', app: blaster('y'), nic: {} },
        { name: 'sink', app: sink, nic: {} },
      ],
      { cpus: 4 },
    );
    Object.assign(macs, h.macs);
    expect(runUntil(h, () => order.length === 2 * N, ms(300))).toBe(true);
    // Once both vifs have packets queued, netback alternates: no sender gets two turns in a row
    // except while the other has nothing queued (its first packets may still be on their way).
    const mid = order.slice(order.findIndex((s, i) => i > 0 && s !== order[i - 1]) - 1, order.length - 4);
    let longest = 1;
    for (let i = 1, run = 1; i < mid.length; i++) longest = Math.max(longest, (run = mid[i] === mid[i - 1] ? run + 1 : 1));
    expect(longest).toBe(1);
    expect(mid.length).toBeGreaterThan(N);
  });

  it('the §4.3 workloads: a UDP server doing work per request and a load generator, counted in guest memory', () => {
    const h = netHost([
      { name: 'server', app: WORKLOADS.udpserver.app, cmdline: `ip=10.0.0.1 port=7 work=${ms(0.05)}`, nic: { ip: '10.0.0.1' } },
      { name: 'client', app: WORKLOADS.udpclient.app, cmdline: `ip=2 server=1 port=7 size=100 depth=4 units=400`, nic: { ip: '10.0.0.2' } },
    ]);
    const gfn = (name: string) => Number(/counters@gfn (\d+)/.exec(h.lines.find((l) => l.startsWith(`d${h.ids[name]}: `) && l.includes('counters@gfn'))!)![1]);
    const counters = (name: string): number[] =>
      h.host.run('sample', function* ({ xc }) {
        const [a] = xc.mapForeign(h.ids[name], [gfn(name)]);
        try {
          return Array.from({ length: 6 }, (_, i) => xc.os.cpu.mem.getU64(a + i * 8));
        } finally {
          xc.unmapForeign([a]);
        }
      });
    h.host.runFor(ms(100));
    const srv = counters('server');
    const cli = counters('client');
    expect(srv[0]).toBe(400); // requests served
    expect(srv[3]).toBe(400 * 100); // bytes received
    expect(cli[0]).toBe(400); // answers
    expect(cli[3]).toBe(0); // timeouts
    expect(cli[5]).toBe(400); // requests sent
    const mean = cli[2] / cli[0];
    expect(mean).toBeGreaterThan(ms(0.05)); // at least the server's work
    expect(cli[4]).toBeGreaterThanOrEqual(mean);
    expect(h.crashes).toEqual([]);
  });

  it('one ARP request per retry interval for an address, however many threads wait for it (no broadcast storm)', () => {
    let done = false;
    const results: (string | null)[] = [];
    const client: App = function* (os) {
      const dev = yield* up(os);
      const st = new NetStack(os, dev, { ip: ip('10.0.0.1'), arpRetryNs: ms(10) }).start();
      yield* os.sleepUntil(GO);
      // 32 threads resolve an address nobody has, for 45 ms: requests at 0, 10, 20, 30, 40 ms.
      let left = 32;
      for (let i = 0; i < 32; i++)
        os.spawn(
          `r${i}`,
          (function* () {
            const m = yield* st.resolve(ip('10.0.0.99'), os.now() + ms(45));
            results.push(m === null ? null : 'answered');
            if (--left === 0) done = true;
          })(),
        );
    };
    const h = netHost([
      { name: 'client', app: client, nic: { ip: '10.0.0.1' } },
      { name: 'other', app: function* (os) { yield* up(os); }, nic: { ip: '10.0.0.2' } },
    ]);
    expect(runUntil(h, () => done, ms(200))).toBe(true);
    expect(results).toEqual(Array(32).fill(null));
    // Every ARP broadcast the client sent flooded to the other guest: five of them.
    expect(h.netback().vifStats(`vif${h.ids.client}.0`)!.vif.txPackets).toBe(5);
    expect(h.crashes).toEqual([]);
  });

  it('unplug: the guest closes its vif, the toolstack removes it; netback lets go of everything', () => {
    const st = { closed: false, after: [] as (number | null)[] };
    const a: App = function* (os) {
      const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
      const s = new NetStack(os, dev, { ip: ip('10.0.0.1') }).start();
      yield* os.sleepUntil(GO);
      st.after.push(yield* s.ping(ip('10.0.0.2'), 1));
      yield* dev.close(os.now() + ms(20));
      st.closed = true;
    };
    const b: App = function* (os) {
      new NetStack(os, yield* netConnect(os, { deadline: os.now() + ms(50) }), { ip: ip('10.0.0.2') }).start();
    };
    const h = netHost([
      { name: 'a', app: a, nic: { ip: '10.0.0.1' } },
      { name: 'b', app: b, nic: { ip: '10.0.0.2' } },
    ]);
    expect(runUntil(h, () => st.closed, ms(100))).toBe(true);
    expect(st.after[0]).not.toBeNull();
    const nb = h.netback();
    const be = `/local/domain/${h.dd}/backend/vif/${h.ids.a}/0`;
    expect(h.dom0('state', (xs) => xs.read(`${be}/state`))).toBe(String(XenbusState.Closed));
    expect(nb.vifs.has(`vif${h.ids.a}.0`)).toBe(false);
    expect(nb.bridge('xenbr0').portIds).toEqual([`vif${h.ids.b}.0`]);
    h.dom0('remove', (xs) => nicRemove(xs, { domid: h.ids.a, backendDomid: h.dd }));
    h.host.runFor(ms(5));
    expect(h.dom0('gone', (xs) => xs.read(`${be}/state`))).toBeNull();
    expect(nb.vifs.size).toBe(1);
    expect(h.host.hv.checkInvariants()).toEqual([]);
    expect(h.crashes).toEqual([]);
  });
});
