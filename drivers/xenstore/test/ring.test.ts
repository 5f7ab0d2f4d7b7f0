import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferBytes } from '@xenotype/core';
import { REQ_RING, RING, RSP_RING, XENSTORE_RING_SIZE, ringPending, ringRead, ringReset, ringSpace, ringWrite } from '../src/index';

const page = () => new BufferBytes(new Uint8Array(4096));

describe('the xenstore ring page', () => {
  it('lays out struct xenstore_domain_interface as xs_wire.h does', () => {
    expect(RING).toEqual({ REQ: 0, RSP: 1024, REQ_CONS: 2048, REQ_PROD: 2052, RSP_CONS: 2056, RSP_PROD: 2060, SERVER_FEATURES: 2064, CONNECTION: 2068, ERROR: 2072 });
  });

  it('moves bytes through each direction, at most 1024 in flight, wrapping the data area', () => {
    const m = page();
    const data = Uint8Array.from({ length: 1500 }, (_, i) => i & 0xff);
    expect(ringWrite(m, 0, REQ_RING, data)).toBe(1024);
    expect(ringSpace(m, 0, REQ_RING)).toBe(0);
    expect(ringWrite(m, 0, REQ_RING, data, 1024)).toBe(0);
    expect(ringRead(m, 0, REQ_RING, 1000)).toEqual(data.subarray(0, 1000));
    expect(ringWrite(m, 0, REQ_RING, data, 1024)).toBe(476);
    expect(ringPending(m, 0, REQ_RING)).toBe(500);
    expect(ringRead(m, 0, REQ_RING)).toEqual(data.subarray(1000, 1500));
    expect(m.getU32(RING.REQ_CONS)).toBe(1500);
    expect(ringPending(m, 0, RSP_RING)).toBe(0);
  });

  it('indexes run free across 2^32', () => {
    const m = page();
    for (const off of [RING.REQ_CONS, RING.REQ_PROD]) m.setU32(off, 0xffff_fffe);
    const data = Uint8Array.of(1, 2, 3, 4, 5);
    expect(ringWrite(m, 0, REQ_RING, data)).toBe(5);
    expect(m.getU32(RING.REQ_PROD)).toBe(3);
    expect(ringRead(m, 0, REQ_RING)).toEqual(data);
    expect(m.getU32(RING.REQ_CONS)).toBe(3);
  });

  it('a peer’s invalid indexes (prod − cons > 1024) are reported, never thrown', () => {
    const m = page();
    m.setU32(RING.REQ_PROD, 5000);
    expect(ringRead(m, 0, REQ_RING)).toBeNull();
    m.setU32(RING.RSP_CONS, 9999);
    expect(ringWrite(m, 0, RSP_RING, Uint8Array.of(1))).toBe(-1);
    ringReset(m, 0);
    expect(ringRead(m, 0, REQ_RING)).toEqual(new Uint8Array(0));
  });

  it('behaves as a bounded FIFO from any starting index (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1500 })), { maxLength: 40 }), (start, ops) => {
        const m = page();
        m.setU32(RING.RSP_CONS, start);
        m.setU32(RING.RSP_PROD, start);
        const model: number[] = [];
        let next = 0;
        for (const [produce, n] of ops) {
          if (produce) {
            const d = Uint8Array.from({ length: n }, () => next++ & 0xff);
            const k = ringWrite(m, 0, RSP_RING, d);
            expect(k).toBe(Math.min(n, XENSTORE_RING_SIZE - model.length));
            model.push(...d.subarray(0, k));
          } else {
            const got = ringRead(m, 0, RSP_RING, n)!;
            expect([...got]).toEqual(model.splice(0, Math.min(n, model.length)));
          }
        }
      }),
    );
  });
});
