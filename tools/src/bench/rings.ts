/**
 * Ring round trips for small requests: a guest's kv frontend (@xenotype/kv) sends `n` small GETs,
 * one at a time, to the kv backend in a driver domain — each a request on the io/ring.h ring, an
 * event-channel kick, the backend's answer and its kick back, all through the simulated hypervisor.
 * The baseline is the toy loop without a hypervisor: the same number of round trips between a
 * FrontRing and a BackRing over one local page with the same entry codecs (produce, push, take,
 * answer, push, take), in the same process.
 */
import { ms, sec } from '@xenotype/core';
import { BackRing, FrontRing, LocalBytes } from '@xenotype/ring';
import { KVIF_OP, KVIF_RSP, KvFront, kvBackendFactory, kvRequestCodec, kvResponseCodec, type KvRequest, type KvResponse } from '@xenotype/kv';
import { MiniOS, asThread } from '@xenotype/minios';
import { deviceAdd } from '@xenotype/xenbus';
import { Host } from '../host/host';
import { defaultRegistry } from '../host/registry';
import { registerDriverDomain } from '../toolstack/driver-domain';
import { createDomain } from '../toolstack/xenstore';
import { Xenstored } from '../xenstored/service';

export interface RingBenchResult {
  roundTrips: number;
  /** Wall time of the simulated round trips (after the handshake). */
  simMs: number;
  /** Virtual time they took. */
  virtualNs: number;
  /** Wall time of the same round trips over a local ring. */
  bareMs: number;
  events: number;
  wrong: number;
}

const wall = () => performance.now();

/** The toy loop: `n` round trips over FrontRing/BackRing in one local page, no hypervisor. */
export function bareRingLoop(n: number): number {
  const mem = new LocalBytes(new Uint8Array(4096));
  const front = FrontRing.init(mem, 0, kvRequestCodec, kvResponseCodec);
  const back = BackRing.attach(mem, 0, kvRequestCodec, kvResponseCodec);
  const data = new Uint8Array(40);
  data.set([107, 101, 121]); // "key"
  const value = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  let ok = 0;
  const t0 = wall();
  for (let i = 0; i < n; i++) {
    front.produceRequest({ id: i, op: KVIF_OP.GET, flags: 0, keyLen: 3, valLen: 0, gref: 0, data });
    front.pushRequestsAndCheckNotify();
    const q = back.takeRequest() as KvRequest;
    back.produceResponse({ id: q.id, status: KVIF_RSP.OKAY, valLen: value.length, data: value });
    back.pushResponsesAndCheckNotify();
    back.finalCheckForRequests();
    const r = front.takeResponse() as KvResponse;
    if (r.id === i) ok++;
    front.finalCheckForResponses();
  }
  const t = wall() - t0;
  if (ok !== n) throw new Error(`bare ring loop: ${n - ok} wrong answers`);
  return t;
}

export function runKvRingBench(n = 20_000): RingBenchResult {
  const reg = defaultRegistry();
  registerDriverDomain(reg, 'bench-kvdd', [kvBackendFactory()]);
  const st = { ready: false, done: false, wrong: 0, t0: 0, t1: 0 };
  reg.registerKernel('bench-kv', () =>
    new MiniOS(function* (os) {
      const r = yield* asThread(KvFront.connect(os.caps(), { deadline: os.now() + sec(1) }));
      if (!r.ok) throw r.error;
      const kv = r.value;
      yield* asThread(kv.put('key', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])));
      st.ready = true;
      yield* os.sleep(ms(1)); // the harness starts its clock here
      st.t0 = os.now();
      for (let i = 0; i < n; i++) if ((yield* asThread(kv.get('key'))).value?.length !== 8) st.wrong++;
      st.t1 = os.now();
      st.done = true;
    }, 'bench-kv'),
  );
  const xsd = new Xenstored();
  const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 1, services: [xsd] }, reg);
  host.run('create', function* ({ xc, os }) {
    const xs = xsd.client(os);
    const dd = yield* createDomain(xc, xs, { name: 'kvdd', memoryMiB: 8, vcpus: 1, kernel: 'bench-kvdd' });
    const g = yield* createDomain(xc, xs, { name: 'kv', memoryMiB: 8, vcpus: 1, kernel: 'bench-kv', paused: true });
    yield* asThread(deviceAdd(xs, { type: 'kv', devid: 0, frontendDomid: g.domid, backendDomid: dd.domid }));
    xc.domainUnpause(g.domid);
  });
  const e = host.hv.engine;
  while (!st.ready) e.step();
  const e0 = e.executed;
  const t0 = wall();
  while (!st.done) {
    if (e.peekTime() === undefined) throw new Error('kv bench: the engine ran dry');
    e.step();
  }
  const simMs = wall() - t0;
  const events = e.executed - e0;
  const bareMs = Math.min(bareRingLoop(n), bareRingLoop(n), bareRingLoop(n));
  return { roundTrips: n, simMs, virtualNs: st.t1 - st.t0, bareMs, events, wrong: st.wrong };
}
