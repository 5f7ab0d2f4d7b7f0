/**
 * The example device end to end (docs/write-a-device.md): the kv backend in a driver domain, found
 * by the generic driver-domain loop; the toolstack adds the device with libxl's layout; a guest's
 * frontend handshakes and stores, reads and deletes values inline and through granted pages, from
 * two threads at once. The same backend as a dom0 service, two guests sharing a store. A guest
 * writing garbage requests gets errors and the backend carries on.
 */
import { describe, expect, it } from 'vitest';
import { ms } from '@xenotype/core';
import { FrontRing } from '@xenotype/ring';
import { MiniOS, asThread, type App } from '@xenotype/minios';
import { KVIF_OP, KVIF_RSP, KvBackend, KvFront, kvBackendFactory, kvRequestCodec, kvResponseCodec } from '@xenotype/kv';
import { NODE, deviceAdd, frontendConnect } from '@xenotype/xenbus';
import { Host } from '../tools/src/host/host';
import { defaultRegistry } from '../tools/src/host/registry';
import { createDomain } from '../tools/src/toolstack/xenstore';
import { BackendService, registerDriverDomain } from '../tools/src/toolstack/driver-domain';
import { Xenstored } from '../tools/src/xenstored/service';

const dec = new TextDecoder();
const text = (v: Uint8Array | null) => (v === null ? null : dec.decode(v));

/** A guest using its kv device; `out` collects what it saw. */
const client =
  (out: string[]): App =>
  function* (os) {
    const r = yield* asThread(KvFront.connect(os.caps(), { deadline: os.now() + ms(50) }));
    if (!r.ok) return void out.push(`connect failed: ${r.error.message}`);
    const kv = r.value;
    out.push(`put ${yield* asThread(kv.put('colour', 'blue'))}`);
    out.push(`get ${text((yield* asThread(kv.get('colour'))).value)}`);
    const big = 'x'.repeat(3000);
    out.push(`put big ${yield* asThread(kv.put('big', big))}`);
    out.push(`get big ${text((yield* asThread(kv.get('big'))).value) === big}`);
    const longKey = 'k'.repeat(100);
    out.push(`put long key ${yield* asThread(kv.put(longKey, 'v'))} get ${text((yield* asThread(kv.get(longKey))).value)}`);
    out.push(`del ${yield* asThread(kv.del('colour'))} again ${yield* asThread(kv.del('colour'))}`);
    out.push(`get gone ${(yield* asThread(kv.get('colour'))).status}`);
    out.push(`too big ${yield* asThread(kv.put('k', new Uint8Array(5000)))}`);
    // two threads at once, 100 requests each, sharing the ring
    let wrong = 0;
    const worker = (t: number) =>
      (function* () {
        for (let i = 0; i < 50; i++) {
          yield* asThread(kv.put(`t${t}-${i}`, `value ${t * 1000 + i}`));
          if (text((yield* asThread(kv.get(`t${t}-${i}`))).value) !== `value ${t * 1000 + i}`) wrong++;
        }
      })();
    const t1 = os.spawn('w1', worker(1));
    const t2 = os.spawn('w2', worker(2));
    yield* os.join(t1);
    yield* os.join(t2);
    out.push(`concurrent wrong ${wrong}, requests ${kv.stats.requests}`);
  };

describe('the kv example device', () => {
  it('in a driver domain: inline and page-sized values, long keys, deletes, two threads at once', () => {
    const reg = defaultRegistry();
    const backends: KvBackend[] = [];
    registerDriverDomain(reg, 'kvdd', [
      (caps) => {
        const b = new KvBackend(caps);
        backends.push(b);
        return b;
      },
    ]);
    const out: string[] = [];
    reg.registerKernel('kv-client', () => new MiniOS(client(out), 'kv-client'));
    const xsd = new Xenstored();
    const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 1, services: [xsd] }, reg);
    host.run('create', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const dd = yield* createDomain(xc, xs, { name: 'kvdd', memoryMiB: 8, vcpus: 1, kernel: 'kvdd' });
      const g = yield* createDomain(xc, xs, { name: 'app', memoryMiB: 8, vcpus: 1, kernel: 'kv-client', paused: true });
      yield* asThread(deviceAdd(xs, { type: 'kv', devid: 0, frontendDomid: g.domid, backendDomid: dd.domid }));
      xc.domainUnpause(g.domid);
    });
    host.runFor(ms(50));
    expect(out).toEqual([
      `put ${KVIF_RSP.OKAY}`,
      'get blue',
      `put big ${KVIF_RSP.OKAY}`,
      'get big true',
      `put long key ${KVIF_RSP.OKAY} get v`,
      `del ${KVIF_RSP.OKAY} again ${KVIF_RSP.NOT_FOUND}`,
      `get gone ${KVIF_RSP.NOT_FOUND}`,
      `too big ${KVIF_RSP.ERROR}`,
      'concurrent wrong 0, requests 210',
    ]);
    expect(backends[0].stats).toMatchObject({ devices: 1, errors: 0 });
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('as a dom0 service: two guests pointed at one store by the toolstack share it', () => {
    const reg = defaultRegistry();
    const seen: string[] = [];
    reg.registerKernel('writer', () => new MiniOS(function* (os) {
      const kv = (yield* asThread(KvFront.connect(os.caps(), { deadline: os.now() + ms(50) }))) as { ok: true; value: KvFront };
      yield* asThread(kv.value.put('greeting', 'hello from the writer'));
    }, 'writer'));
    reg.registerKernel('reader', () => new MiniOS(function* (os) {
      const kv = (yield* asThread(KvFront.connect(os.caps(), { deadline: os.now() + ms(50) }))) as { ok: true; value: KvFront };
      yield* os.sleep(ms(10));
      seen.push(text((yield* asThread(kv.value.get('greeting'))).value) ?? 'missing');
    }, 'reader'));
    const xsd = new Xenstored();
    const svc = new BackendService('kv-backend', [kvBackendFactory()], ({ os }) => xsd.client(os));
    const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 1, services: [xsd, svc] }, reg);
    host.run('create', function* ({ xc, os }) {
      const xs = xsd.client(os);
      for (const name of ['writer', 'reader']) {
        const g = yield* createDomain(xc, xs, { name, memoryMiB: 8, vcpus: 1, kernel: name, paused: true });
        yield* asThread(deviceAdd(xs, { type: 'kv', devid: 0, frontendDomid: g.domid, backendDomid: 0, backend: { store: 'shared' } }));
        xc.domainUnpause(g.domid);
      }
    });
    host.runFor(ms(40));
    expect(seen).toEqual(['hello from the writer']);
    expect(svc.status.started).toBe(2);
  });

  it('garbage requests get KVIF_RSP_ERROR and the backend keeps serving', () => {
    const reg = defaultRegistry();
    const statuses: number[] = [];
    const out: string[] = [];
    reg.registerKernel('vandal', () => new MiniOS(function* (os) {
      const caps = os.caps();
      let ring!: FrontRing<ReturnType<typeof kvRequestCodec.read>, ReturnType<typeof kvResponseCodec.read>>;
      let port = 0;
      yield* asThread(frontendConnect(caps.xs, { type: 'kv', devid: 0, deadline: os.now() + ms(50), *setup(fe) {
        const gfn = caps.memory.allocPage();
        ring = FrontRing.init(caps.memory.mem, gfn * 4096, kvRequestCodec, kvResponseCodec);
        port = caps.evtchn.allocUnbound(fe.backendId);
        return { [NODE.ringRef]: caps.grants.grantAccess(fe.backendId, gfn, false), [NODE.eventChannel]: port };
      } }));
      const d = new Uint8Array(40);
      ring.produceRequest({ id: 1, op: 9, flags: 0, keyLen: 1, valLen: 0, gref: 0, data: d }); // unknown op
      ring.produceRequest({ id: 2, op: KVIF_OP.PUT, flags: 0, keyLen: 30, valLen: 30, gref: 0, data: d }); // too long inline
      ring.produceRequest({ id: 3, op: KVIF_OP.PUT, flags: 1, keyLen: 4, valLen: 4, gref: 77_777, data: d }); // a page never granted
      ring.produceRequest({ id: 4, op: KVIF_OP.GET, flags: 0, keyLen: 0, valLen: 0, gref: 0, data: d }); // empty key
      if (ring.pushRequestsAndCheckNotify()) caps.evtchn.notify(port);
      while (statuses.length < 4) {
        const seen = caps.evtchn.generation(port);
        for (let r = ring.takeResponse(); r; r = ring.takeResponse()) statuses.push(r.status);
        if (statuses.length < 4 && !ring.finalCheckForResponses()) yield* asThread(caps.evtchn.wait(port, seen));
      }
    }, 'vandal'));
    reg.registerKernel('kv-client', () => new MiniOS(client(out), 'kv-client'));
    const backends: KvBackend[] = [];
    registerDriverDomain(reg, 'kvdd', [
      (caps) => {
        const b = new KvBackend(caps);
        backends.push(b);
        return b;
      },
    ]);
    const xsd = new Xenstored();
    const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 1, services: [xsd] }, reg);
    host.run('create', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const dd = yield* createDomain(xc, xs, { name: 'kvdd', memoryMiB: 8, vcpus: 1, kernel: 'kvdd' });
      for (const k of ['vandal', 'kv-client']) {
        const g = yield* createDomain(xc, xs, { name: k, memoryMiB: 8, vcpus: 1, kernel: k, paused: true });
        yield* asThread(deviceAdd(xs, { type: 'kv', devid: 0, frontendDomid: g.domid, backendDomid: dd.domid }));
        xc.domainUnpause(g.domid);
      }
    });
    host.runFor(ms(50));
    expect(statuses).toEqual([KVIF_RSP.ERROR, KVIF_RSP.ERROR, KVIF_RSP.ERROR, KVIF_RSP.ERROR]);
    expect(backends[0].stats.errors).toBe(4);
    expect(out.at(-1)).toBe('concurrent wrong 0, requests 210');
  });
});
