import { describe, expect, it } from 'vitest';
import { BufferBytes, abi } from '@xenotype/core';
import {
  BackRing,
  FrontRing,
  RingUsageError,
  SRING,
  StreamReader,
  StreamWriter,
  bytesCodec,
  rd32,
  ringSize,
  structCodec,
  unionSize,
  type EntryCodec,
} from '@xenotype/ring';

const page = () => new BufferBytes(new Uint8Array(4096));
/** A u32 id in an entry of `size` bytes. */
const idCodec = (size = 8): EntryCodec<number> => ({ size, read: (m, a) => m.getU32(a), write: (m, a, v) => m.setU32(a, v) });

/** A front and a back over one page, with the shared indices all at `start`. */
function pair(start = 0, size = 8) {
  const mem = page();
  const front = FrontRing.init(mem, 0, idCodec(size), idCodec(size));
  if (start !== 0) {
    mem.setU32(SRING.reqProd, start);
    mem.setU32(SRING.rspProd, start);
    mem.setU32(SRING.reqEvent, (start + 1) >>> 0);
    mem.setU32(SRING.rspEvent, (start + 1) >>> 0);
  }
  const f = start === 0 ? front : FrontRing.attach(mem, 0, idCodec(size), idCodec(size), { start });
  const b = BackRing.attach(mem, 0, idCodec(size), idCodec(size), { start });
  return { mem, f, b };
}

describe('ring layout', () => {
  it('rounds entry counts down to a power of two, as __RD32 does', () => {
    expect([0, 1, 2, 3, 5, 63, 64, 65, 0xffffffff].map(rd32)).toEqual([0, 1, 2, 2, 4, 32, 64, 64, 0x80000000]);
    expect(ringSize(8)).toBe(256); // (4096 - 64) / 8 = 504 → 256
    expect(ringSize(112)).toBe(32); // blkif: 4032 / 112 = 36 → 32
    expect(ringSize(12)).toBe(256);
    expect(ringSize(4032)).toBe(1);
    expect(ringSize(4033)).toBe(0);
    expect(ringSize(64, 2 * 4096)).toBe(64); // (8192 - 64) / 64 = 127 → 64
  });

  it('sizes an entry as the C union of request and response', () => {
    expect(unionSize({ size: 12, align: 4 }, { size: 6, align: 2 })).toBe(12);
    expect(unionSize({ size: 12, align: 8 }, { size: 6, align: 2 })).toBe(16);
    expect(unionSize({ size: 112 }, { size: 16 })).toBe(112);
  });

  it('initialises the shared page as SHARED_RING_INIT does', () => {
    const mem = page();
    mem.setBytes(0, new Uint8Array(64).fill(0xaa));
    FrontRing.init(mem, 0, idCodec(), idCodec());
    expect([0, 4, 8, 12].map((o) => mem.getU32(o))).toEqual([0, 1, 0, 1]);
    expect([...mem.getBytes(16, 48)].every((b) => b === 0)).toBe(true);
  });

  it('accepts struct layouts as entries', () => {
    const mem = page();
    const c = structCodec(abi.evtchn_send, 4);
    const f = FrontRing.init(mem, 0, c, c);
    expect(f.entrySize).toBe(4);
    expect(f.size).toBe(512); // 4032 / 4 = 1008 → 512
    f.produceRequest({ port: 77 });
    f.pushRequests();
    const b = BackRing.attach(mem, 0, c, c);
    expect(b.takeRequest()).toEqual({ port: 77 });
  });
});

describe('ring protocol', () => {
  it('requests and responses flow in order; the first push notifies, the rest are suppressed until the back re-arms', () => {
    const { f, b } = pair();
    f.produceRequest(1);
    expect(f.pushRequestsAndCheckNotify()).toBe(true); // req_event = 1
    f.produceRequest(2);
    expect(f.pushRequestsAndCheckNotify()).toBe(false); // back not re-armed yet
    expect(b.unconsumedRequests()).toBe(2);
    expect([b.takeRequest(), b.takeRequest(), b.takeRequest()]).toEqual([1, 2, null]);
    b.produceResponse(10);
    b.produceResponse(20);
    expect(b.pushResponsesAndCheckNotify()).toBe(true); // rsp_event = 1
    expect(b.finalCheckForRequests()).toBe(false); // arms req_event = 3
    f.produceRequest(3);
    expect(f.pushRequestsAndCheckNotify()).toBe(true);
    expect([f.takeResponse(), f.takeResponse(), f.takeResponse()]).toEqual([10, 20, null]);
    expect(f.finalCheckForResponses()).toBe(false);
    expect(b.finalCheckForRequests()).toBe(true);
  });

  it('a final check that races with a push sees the work', () => {
    const { f, b } = pair();
    f.produceRequest(1);
    f.pushRequestsAndCheckNotify();
    b.takeRequest();
    b.produceResponse(1);
    b.pushResponses();
    // the front pushes before the back re-arms: no notification, but the back's second look sees it
    f.produceRequest(2);
    expect(f.pushRequestsAndCheckNotify()).toBe(false);
    expect(b.finalCheckForRequests()).toBe(true);
  });

  it('the front cannot produce into a full ring; the back cannot take more than it can answer', () => {
    const { f, b } = pair(0, 2048); // one-slot ring
    expect(f.size).toBe(1);
    f.produceRequest(1);
    expect(f.full()).toBe(true);
    expect(() => f.produceRequest(2)).toThrow(RingUsageError);
    f.pushRequests();
    expect(b.takeRequest()).toBe(1);
    expect(b.requestConsOverflow()).toBe(true);
    expect(b.takeRequest()).toBeNull();
    expect(() => {
      b.produceResponse(1);
      b.produceResponse(2);
    }).toThrow(RingUsageError);
    expect(b.fault).toBeNull();
  });

  it('free-running indices wrap at 2^32', () => {
    const start = 2 ** 32 - 5;
    const { mem, f, b } = pair(start);
    let next = 0;
    let got = 0;
    let notifies = 0;
    for (let round = 0; round < 3 * f.size; round++) {
      while (f.freeRequests() > 0 && next < 4 * f.size) f.produceRequest(next++);
      if (f.pushRequestsAndCheckNotify()) notifies++;
      for (let r = b.takeRequest(); r !== null; r = b.takeRequest()) b.produceResponse(r);
      b.pushResponsesAndCheckNotify();
      b.finalCheckForRequests();
      for (let r = f.takeResponse(); r !== null; r = f.takeResponse()) expect(r).toBe(got++);
      f.finalCheckForResponses();
    }
    expect(got).toBe(4 * f.size);
    expect(notifies).toBeGreaterThan(0);
    expect(f.reqProdPvt).toBe((start + 4 * f.size) >>> 0);
    expect(f.reqProdPvt).toBeLessThan(start); // wrapped
    expect(mem.getU32(SRING.reqProd)).toBe(f.reqProdPvt);
    expect(mem.getU32(SRING.rspProd)).toBe(b.rspProdPvt);
    expect(b.reqCons).toBe(f.reqProdPvt);
    expect(f.fault ?? b.fault).toBeNull();
  });
});

describe('a malicious producer index', () => {
  it('past rsp_prod_pvt + size is detected; the back consumes nothing and survives', () => {
    const { mem, f, b } = pair();
    f.produceRequest(1);
    f.pushRequests();
    expect(b.takeRequest()).toBe(1);
    mem.setU32(SRING.reqProd, b.rspProdPvt + b.size + 1); // RING_REQUEST_PROD_OVERFLOW
    expect(b.takeRequest()).toBeNull();
    expect(b.unconsumedRequests()).toBe(0);
    expect(b.finalCheckForRequests()).toBe(false);
    expect(b.fault?.code).toBe('req-prod-out-of-range');
    expect(b.fault?.message).toMatch(/outside/);
    // sticky: even a sane index afterwards is not trusted
    mem.setU32(SRING.reqProd, 1);
    expect(b.takeRequest()).toBeNull();
    // answering what was taken before the fault still works
    b.produceResponse(1);
    b.pushResponses();
    expect(f.takeResponse()).toBe(1);
  });

  it('that moves backwards, or near 2^32, is detected', () => {
    for (const bad of [0xffffffff, 0x80000000, 3]) {
      const { mem, f, b } = pair();
      for (let i = 0; i < 5; i++) f.produceRequest(i);
      f.pushRequests();
      for (let i = 0; i < 5; i++) b.takeRequest();
      for (let i = 0; i < 5; i++) b.produceResponse(i);
      mem.setU32(SRING.reqProd, bad); // behind req_cons = 5, or far ahead
      expect(b.takeRequest()).toBeNull();
      expect(b.fault).not.toBeNull();
    }
  });

  it('the exact limit is legal: a front may have size requests outstanding', () => {
    const { f, b } = pair(2 ** 32 - 3);
    for (let i = 0; i < f.size; i++) f.produceRequest(i);
    f.pushRequests();
    expect(b.unconsumedRequests()).toBe(b.size);
    expect(b.fault).toBeNull();
  });

  it('a back producing responses nobody asked for is detected by the front', () => {
    const { mem, f } = pair();
    f.produceRequest(1);
    f.pushRequests();
    mem.setU32(SRING.rspProd, 2); // two responses to one request
    expect(f.takeResponse()).toBeNull();
    expect(f.finalCheckForResponses()).toBe(false);
    expect(f.fault?.code).toBe('rsp-prod-out-of-range');
  });
});

describe('byte-stream rings', () => {
  const L = { data: 0, size: 16, cons: 16, prod: 20 };
  it('wrap, flow-control and deliver every byte in order', () => {
    const mem = page();
    mem.setU32(L.cons, 2 ** 32 - 7);
    mem.setU32(L.prod, 2 ** 32 - 7);
    const w = new StreamWriter(mem, 0, L);
    const r = new StreamReader(mem, 0, L);
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    const out: number[] = [];
    let off = 0;
    while (out.length < data.length) {
      off += w.write(data.subarray(off, off + 11));
      expect(w.free()).toBeGreaterThanOrEqual(0);
      out.push(...r.read(5));
    }
    expect(out).toEqual([...data]);
    expect(w.write(new Uint8Array(40))).toBe(16);
    expect(w.free()).toBe(0);
  });

  it('a peer index that puts more than size bytes in flight faults that end only', () => {
    const mem = page();
    const r = new StreamReader(mem, 0, L);
    mem.setU32(L.prod, 17);
    expect(r.read().length).toBe(0);
    expect(r.fault?.code).toBe('peer-index-out-of-range');
    const mem2 = page();
    const w = new StreamWriter(mem2, 0, L);
    mem2.setU32(L.cons, 5); // consumer ahead of the producer
    expect(w.write(new Uint8Array(4))).toBe(0);
    expect(w.fault).not.toBeNull();
  });

  it('raw byte entries', () => {
    const mem = page();
    const c = bytesCodec(16);
    const f = FrontRing.init(mem, 0, c, c);
    f.produceRequest(new Uint8Array([1, 2, 3]));
    f.pushRequests();
    const b = BackRing.attach(mem, 0, c, c);
    expect([...b.takeRequest()!]).toEqual([1, 2, 3, ...new Array(13).fill(0)]);
  });
});
