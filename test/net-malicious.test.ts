/**
 * A malicious netfront: it handshakes correctly, then puts garbage on its rings — grefs it never
 * granted, offsets and sizes that cross the page, packets shorter than an Ethernet header,
 * fragments adding up to more than 65535 bytes, chains longer than XEN_NETIF_NR_SLOTS_MIN,
 * extra-info slots nobody negotiated, random bytes, receive buffers it never granted — and at last
 * a producer index far beyond what it could have produced. Netback answers every slot (ERROR, NULL
 * for extra-info), never throws, disconnects that vif alone on the ring fault, and keeps serving
 * the other guests. A frontend publishing a ring it never granted is refused at the handshake.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ms } from '@xenotype/core';
import { FrontRing, SRING } from '@xenotype/ring';
import { NetStack, asThread, netConnect, type App } from '@xenotype/minios';
import {
  NETIF_RSP,
  NETTXF,
  VIF_NODE,
  XEN_NETIF_EXTRA_TYPE,
  extraAsTxRequest,
  parseIpv4,
  rxRequestCodec,
  rxResponseCodec,
  txRequestCodec,
  txResponseCodec,
  udpFrame,
  type NetifTxRequest,
} from '@xenotype/net';
import { XenbusState, frontendConnect } from '@xenotype/xenbus';
import { netHost, runUntil } from './support/net-host';

const GO = ms(20);
const ip = (s: string) => parseIpv4(s)!;

describe('a malicious frontend', () => {
  it('gets errors for every bad request, its vif alone is dropped on a ring fault, and the others keep talking', () => {
    const res = { statuses: [] as [number, number][], pings: [] as (number | null)[], pingsAfter: [] as (number | null)[], garbageAnswered: -1, phase: 0 };
    const m: Record<string, string> = {};
    const evil: App = function* (os) {
      const caps = os.caps();
      const mem = caps.memory.mem;
      let tx!: FrontRing<NetifTxRequest, { id: number; status: number }>;
      let txAddr = 0;
      let port = 0;
      let good = 0;
      let goodGfn = 0;
      const r = yield* asThread(
        frontendConnect(caps.xs, {
          type: 'vif',
          devid: 0,
          deadline: os.now() + ms(50),
          *setup(fe) {
            const txGfn = caps.memory.allocPage();
            const rxGfn = caps.memory.allocPage();
            txAddr = txGfn * 4096;
            tx = FrontRing.init(mem, txAddr, txRequestCodec, txResponseCodec);
            const rx = FrontRing.init(mem, rxGfn * 4096, rxRequestCodec, rxResponseCodec);
            for (let i = 0; i < 4; i++) rx.produceRequest({ id: i, gref: 60_000 + i }); // never granted
            rx.pushRequests();
            goodGfn = caps.memory.allocPage();
            good = caps.grants.grantAccess(fe.backendId, goodGfn, true);
            port = caps.evtchn.allocUnbound(fe.backendId);
            return {
              [VIF_NODE.txRingRef]: caps.grants.grantAccess(fe.backendId, txGfn, false),
              [VIF_NODE.rxRingRef]: caps.grants.grantAccess(fe.backendId, rxGfn, false),
              [VIF_NODE.eventChannel]: port,
              [VIF_NODE.requestRxCopy]: 1,
              [VIF_NODE.featureRxNotify]: 1,
              [VIF_NODE.featureSg]: 1,
            };
          },
        }),
      );
      if (!r.ok) throw r.error;
      mem.setBytes(goodGfn * 4096, udpFrame({ srcMac: m.evil, dstMac: m.b, srcIp: ip('10.0.0.66'), dstIp: ip('10.0.0.2') }, 1, 7, new Uint8Array(20)));
      yield* os.sleepUntil(GO);
      const reqs: NetifTxRequest[] = [
        { gref: 59_999, offset: 0, flags: 0, id: 1, size: 60 }, // never granted
        { gref: good, offset: 4000, flags: 0, id: 2, size: 200 }, // crosses the page
        { gref: good, offset: 0, flags: 0, id: 3, size: 10 }, // shorter than an Ethernet header
        // 18 slots whose fragments add up to 17 * 4096 > the 65535 the first claims
        { gref: good, offset: 0, flags: NETTXF.more_data, id: 4, size: 65535 },
        ...Array.from({ length: 17 }, (_, i): NetifTxRequest => ({ gref: good, offset: 0, flags: i < 16 ? NETTXF.more_data : 0, id: 5 + i, size: 4096 })),
        // 20 slots: more than XEN_NETIF_NR_SLOTS_MIN
        ...Array.from({ length: 20 }, (_, i): NetifTxRequest => ({ gref: good, offset: 0, flags: i < 19 ? NETTXF.more_data : 0, id: 30 + i, size: i === 0 ? 20 * 60 : 60 })),
        // an extra-info slot of type NONE (and none was negotiated anyway), then the packet goes on
        { gref: good, offset: 0, flags: NETTXF.extra_info, id: 60, size: 62 },
        extraAsTxRequest({ type: XEN_NETIF_EXTRA_TYPE.NONE, flags: 0, u: new Uint8Array(6) }),
        { gref: good, offset: 0, flags: 0, id: 61, size: 62 }, // a good packet: delivered to b
      ];
      for (const q of reqs) tx.produceRequest(q);
      if (tx.pushRequestsAndCheckNotify()) caps.evtchn.notify(port);
      const take = function* (n: number) {
        while (res.statuses.length < n) {
          const seen = caps.evtchn.generation(port);
          for (let s = tx.takeResponse(); s; s = tx.takeResponse()) res.statuses.push([s.id, s.status]);
          if (res.statuses.length >= n || tx.finalCheckForResponses()) continue;
          yield* asThread(caps.evtchn.wait(port, seen, os.now() + ms(20)));
          if (os.now() > GO + ms(100)) return;
        }
      };
      yield* take(reqs.length);
      res.phase = 1;
      // Random garbage in 200 slots: every one must be answered.
      const junk = fc.sample(fc.uint8Array({ minLength: 12, maxLength: 12 }), { seed: 42, numRuns: 200 });
      for (const b of junk) {
        // a slot's raw bytes, including random flags, grefs, offsets and sizes
        tx.produceRequest({ gref: b[0] | (b[1] << 8), offset: b[4] | (b[5] << 8), flags: b[6], id: 1000 + b[8], size: b[10] | (b[11] << 8) });
        if (tx.full()) {
          if (tx.pushRequestsAndCheckNotify()) caps.evtchn.notify(port);
          yield* take(res.statuses.length + 1);
        }
      }
      if (tx.pushRequestsAndCheckNotify()) caps.evtchn.notify(port);
      yield* os.sleep(ms(10));
      for (let s = tx.takeResponse(); s; s = tx.takeResponse()) res.statuses.push([s.id, s.status]);
      res.garbageAnswered = mem.getU32(txAddr + SRING.rspProd) === tx.reqProdPvt ? 1 : 0;
      yield* os.sleepUntil(GO + ms(40));
      // A producer index far beyond anything it could have produced.
      mem.setU32(txAddr + SRING.reqProd, (tx.reqProdPvt + 1000) >>> 0);
      caps.evtchn.notify(port);
      res.phase = 2;
    };
    const pinger: App = function* (os) {
      const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
      const st = new NetStack(os, dev, { ip: ip('10.0.0.2') }).start();
      yield* os.sleepUntil(GO + ms(30));
      for (let i = 0; i < 3; i++) res.pings.push(yield* st.ping(ip('10.0.0.3'), i));
      yield* os.sleepUntil(GO + ms(60));
      for (let i = 0; i < 3; i++) res.pingsAfter.push(yield* st.ping(ip('10.0.0.3'), 10 + i));
    };
    const h = netHost([
      { name: 'evil', app: evil, nic: { ip: '10.0.0.66' } },
      { name: 'b', app: pinger, nic: { ip: '10.0.0.2' } },
      { name: 'c', app: function* (os) {
          const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
          new NetStack(os, dev, { ip: ip('10.0.0.3') }).start();
        }, nic: { ip: '10.0.0.3' } },
    ]);
    Object.assign(m, h.macs);
    expect(runUntil(h, () => res.pingsAfter.length === 3, ms(300))).toBe(true);

    const byId = new Map(res.statuses.filter(([id]) => id < 1000).map(([id, s]) => [id, s]));
    const E = NETIF_RSP.ERROR;
    expect([1, 2, 3].map((i) => byId.get(i))).toEqual([E, E, E]);
    expect(Array.from({ length: 18 }, (_, i) => byId.get(i === 0 ? 4 : 4 + i))).toEqual(Array(18).fill(E));
    expect(Array.from({ length: 20 }, (_, i) => byId.get(30 + i))).toEqual(Array(20).fill(E));
    expect(byId.get(60)).toBe(E);
    expect(res.statuses.some(([id, s]) => id === 0 && s === NETIF_RSP.NULL)).toBe(true); // the extra-info slot
    expect(byId.get(61)).toBe(NETIF_RSP.OKAY);
    // every garbage slot was answered, with OKAY, ERROR or NULL
    expect(res.garbageAnswered).toBe(1);
    expect(res.statuses.filter(([id]) => id >= 1000).every(([, s]) => s === E || s === NETIF_RSP.OKAY || s === NETIF_RSP.NULL)).toBe(true);

    const nb = h.netback();
    const evilVif = `vif${h.ids.evil}.0`;
    expect(res.pings.every((r) => r !== null)).toBe(true);
    expect(h.lines.some((l) => /tx request id \d+ refused/.test(l))).toBe(true);
    // after the bad producer index: evil's vif is gone, its backend Closing; b and c still talk
    expect(res.phase).toBe(2);
    expect(nb.vifs.has(evilVif)).toBe(false);
    expect(res.pingsAfter.every((r) => r !== null)).toBe(true);
    const state = h.dom0('state', (xs) => xs.read(`/local/domain/${h.dd}/backend/vif/${h.ids.evil}/0/state`));
    expect(Number(state)).toBe(XenbusState.Closing);
    expect(h.lines.some((l) => /req-prod-out-of-range/.test(l))).toBe(true);
    expect(h.crashes).toEqual([]);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });

  it('bad receive grefs: copies Xen refuses are answered with errors and counted', () => {
    let sent = false;
    const m: Record<string, string> = {};
    const evil: App = function* (os) {
      const caps = os.caps();
      const r = yield* asThread(
        frontendConnect(caps.xs, {
          type: 'vif',
          devid: 0,
          deadline: os.now() + ms(50),
          *setup(fe) {
            const t = caps.memory.allocPage();
            const x = caps.memory.allocPage();
            FrontRing.init(caps.memory.mem, t * 4096, txRequestCodec, txResponseCodec);
            const rx = FrontRing.init(caps.memory.mem, x * 4096, rxRequestCodec, rxResponseCodec);
            for (let i = 0; i < 8; i++) rx.produceRequest({ id: i, gref: 60_000 + i });
            rx.pushRequests();
            return { 'tx-ring-ref': caps.grants.grantAccess(fe.backendId, t, false), 'rx-ring-ref': caps.grants.grantAccess(fe.backendId, x, false), 'event-channel': caps.evtchn.allocUnbound(fe.backendId), 'request-rx-copy': 1, 'feature-rx-notify': 1 };
          },
        }),
      );
      if (!r.ok) throw r.error;
    };
    const sender: App = function* (os) {
      const dev = yield* netConnect(os, { deadline: os.now() + ms(50) });
      yield* os.sleepUntil(GO);
      for (let i = 0; i < 3; i++) yield* dev.send(udpFrame({ srcMac: m.a, dstMac: m.evil, srcIp: ip('10.0.0.1'), dstIp: ip('10.0.0.66') }, 1, 2, new Uint8Array(30)));
      sent = true;
    };
    const h = netHost([
      { name: 'evil', app: evil, nic: { ip: '10.0.0.66' } },
      { name: 'a', app: sender, nic: { ip: '10.0.0.1' } },
    ]);
    Object.assign(m, h.macs);
    expect(runUntil(h, () => sent, ms(100))).toBe(true);
    h.host.runFor(ms(5));
    expect(h.netback().vifStats(`vif${h.ids.evil}.0`)!.vif).toMatchObject({ rxErrors: 3, rxPackets: 0 });
    expect(h.crashes).toEqual([]);
  });

  it('a frontend publishing rings it never granted, or no rx-copy, is refused at the handshake', () => {
    const mk =
      (nodes: Record<string, string | number>): App =>
      function* (os) {
        const caps = os.caps();
        yield* asThread(frontendConnect(caps.xs, { type: 'vif', devid: 0, deadline: os.now() + ms(30), *setup(fe) { return { ...nodes, 'event-channel': caps.evtchn.allocUnbound(fe.backendId) }; } }));
      };
    const h = netHost([
      { name: 'noring', app: mk({ 'tx-ring-ref': 61_000, 'rx-ring-ref': 61_001, 'request-rx-copy': 1, 'feature-rx-notify': 1 }), nic: {} },
      { name: 'garbage', app: mk({ 'tx-ring-ref': 'banana', 'rx-ring-ref': 3, 'request-rx-copy': 1, 'feature-rx-notify': 1 }), nic: {} },
      { name: 'flip', app: mk({ 'tx-ring-ref': 8, 'rx-ring-ref': 9, 'feature-rx-notify': 1 }), nic: {} },
    ]);
    h.host.runFor(ms(40));
    for (const g of ['noring', 'garbage', 'flip']) {
      const st = h.dom0('state', (xs) => xs.read(`/local/domain/${h.dd}/backend/vif/${h.ids[g]}/0/state`));
      expect([XenbusState.Closing, XenbusState.Closed], g).toContain(Number(st)); // refused, never Connected
    }
    expect(h.lines.some((l) => /cannot map tx ring/.test(l))).toBe(true);
    expect(h.lines.some((l) => /tx-ring-ref or rx-ring-ref missing or malformed/.test(l))).toBe(true);
    expect(h.lines.some((l) => /does not request rx-copy/.test(l))).toBe(true);
    expect(h.netback().vifs.size).toBe(0);
    expect(h.crashes).toEqual([]);
  });
});
