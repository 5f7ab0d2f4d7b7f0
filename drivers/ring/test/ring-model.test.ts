/**
 * Rings against a reference model (fast-check command sequences).
 *
 * The model keeps every index as an unbounded integer counted from the start index, and the
 * requests and responses in flight as FIFO queues; the implementation runs on a real page with
 * indices starting anywhere (often just below 2^32). Any interleaving of produce / push / take /
 * final-check on both sides must keep:
 *  - every private and shared index equal to the model's, modulo 2^32;
 *  - payloads in FIFO order, none lost or duplicated;
 *  - notify results equal to the model's rule (the peer's event index lies in (old, new]);
 *  - no lost notification: a side that went to sleep after a final check that found nothing is,
 *    at every later step, either notified or has nothing visible to consume;
 *  - no needless notification: the front notifies at most once per time the back armed its
 *    event index (and vice versa).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferBytes } from '@xenotype/core';
import { BackRing, FrontRing, SRING, type EntryCodec } from '@xenotype/ring';

const codec = (size: number): EntryCodec<number> => ({ size, read: (m, a) => m.getU32(a), write: (m, a, v) => m.setU32(a, v) });

type Cmd =
  | { op: 'fProduce'; n: number }
  | { op: 'fPush' }
  | { op: 'fTake'; n: number }
  | { op: 'fFinal' }
  | { op: 'bTake'; n: number }
  | { op: 'bRespond'; n: number }
  | { op: 'bPush' }
  | { op: 'bFinal' };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('fProduce' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ op: 'fPush' as const }),
  fc.record({ op: fc.constant('fTake' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ op: 'fFinal' as const }),
  fc.record({ op: fc.constant('bTake' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('bRespond' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ op: 'bPush' as const }),
  fc.constant({ op: 'bFinal' as const }),
);

class Model {
  // front
  reqProdPvt = 0;
  reqPushed = 0;
  rspCons = 0;
  rspEvent = 1;
  // back
  reqCons = 0;
  rspProdPvt = 0;
  rspPushed = 0;
  reqEvent = 1;
  // data
  next = 0;
  readonly requests: number[] = []; // produced, not taken (pushed or not)
  readonly taken: number[] = []; // taken by the back, not answered
  readonly responses: number[] = []; // produced by the back, not taken by the front
  // liveness
  frontAsleep = false;
  backAsleep = false;
  frontEvent = false;
  backEvent = false;
  frontNotifies = 0;
  backNotifies = 0;
  backArms = 1; // SHARED_RING_INIT arms both event indices
  frontArms = 1;
  constructor(readonly size: number) {}
}

function run(start: number, entrySize: number, cmds: Cmd[]): void {
  const mem = new BufferBytes(new Uint8Array(4096));
  FrontRing.init(mem, 0, codec(entrySize), codec(entrySize));
  mem.setU32(SRING.reqProd, start);
  mem.setU32(SRING.rspProd, start);
  mem.setU32(SRING.reqEvent, start + 1);
  mem.setU32(SRING.rspEvent, start + 1);
  const f = FrontRing.attach(mem, 0, codec(entrySize), codec(entrySize), { start });
  const b = BackRing.attach(mem, 0, codec(entrySize), codec(entrySize), { start });
  const m = new Model(f.size);
  const u = (x: number) => (start + x) >>> 0;

  // A sleeping side acts only once an event wakes it; the front's producing side never sleeps.
  const wake = (side: 'front' | 'back'): boolean => {
    if (side === 'front') {
      if (!m.frontAsleep) return true;
      if (!m.frontEvent) return false;
      m.frontAsleep = m.frontEvent = false;
      return true;
    }
    if (!m.backAsleep) return true;
    if (!m.backEvent) return false;
    m.backAsleep = m.backEvent = false;
    return true;
  };

  for (const c of cmds) {
    switch (c.op) {
      case 'fProduce': {
        const n = Math.min(c.n, m.size - (m.reqProdPvt - m.rspCons));
        expect(f.freeRequests()).toBe(m.size - (m.reqProdPvt - m.rspCons));
        for (let i = 0; i < n; i++) {
          f.produceRequest(m.next);
          m.requests.push(m.next++);
          m.reqProdPvt++;
        }
        break;
      }
      case 'fPush': {
        const old = m.reqPushed;
        m.reqPushed = m.reqProdPvt;
        const want = old < m.reqEvent && m.reqEvent <= m.reqPushed;
        expect(f.pushRequestsAndCheckNotify()).toBe(want);
        if (want) {
          m.backEvent = true;
          m.frontNotifies++;
        }
        break;
      }
      case 'fTake': {
        if (!wake('front')) break;
        for (let i = 0; i < c.n; i++) {
          const want = m.rspCons < m.rspPushed ? m.responses.shift()! : null;
          expect(f.takeResponse()).toBe(want);
          if (want === null) break;
          m.rspCons++;
        }
        break;
      }
      case 'fFinal': {
        if (!wake('front')) break;
        let want = m.rspPushed > m.rspCons;
        if (!want) {
          m.rspEvent = m.rspCons + 1;
          m.frontArms++;
        }
        expect(f.finalCheckForResponses()).toBe(want);
        if (!want) m.frontAsleep = true; // wait for responses
        break;
      }
      case 'bTake': {
        if (!wake('back')) break;
        for (let i = 0; i < c.n; i++) {
          const room = m.size - (m.reqCons - m.rspProdPvt);
          const n = Math.min(m.reqPushed - m.reqCons, room);
          expect(b.unconsumedRequests()).toBe(n);
          const want = n > 0 ? m.requests.shift()! : null;
          expect(b.takeRequest()).toBe(want);
          if (want === null) break;
          m.taken.push(want);
          m.reqCons++;
        }
        break;
      }
      case 'bRespond': {
        if (!wake('back')) break;
        for (let i = 0; i < c.n && m.taken.length > 0; i++) {
          const r = m.taken.shift()!;
          b.produceResponse(r);
          m.responses.push(r);
          m.rspProdPvt++;
        }
        break;
      }
      case 'bPush': {
        if (!wake('back')) break;
        const old = m.rspPushed;
        m.rspPushed = m.rspProdPvt;
        const want = old < m.rspEvent && m.rspEvent <= m.rspPushed;
        expect(b.pushResponsesAndCheckNotify()).toBe(want);
        if (want) {
          m.frontEvent = true;
          m.backNotifies++;
        }
        break;
      }
      case 'bFinal': {
        if (!wake('back')) break;
        const room = m.size - (m.reqCons - m.rspProdPvt);
        let want = Math.min(m.reqPushed - m.reqCons, room) > 0;
        if (!want) {
          m.reqEvent = m.reqCons + 1;
          m.backArms++;
        }
        expect(b.finalCheckForRequests()).toBe(want);
        // The back sleeps only when it has answered and published everything it took.
        if (!want && m.taken.length === 0 && m.rspPushed === m.rspProdPvt) m.backAsleep = true;
        break;
      }
    }

    // indices, private and shared, equal the model's modulo 2^32
    expect([f.reqProdPvt, f.rspCons, b.reqCons, b.rspProdPvt]).toEqual([u(m.reqProdPvt), u(m.rspCons), u(m.reqCons), u(m.rspProdPvt)]);
    expect([0, 4, 8, 12].map((o) => mem.getU32(o))).toEqual([u(m.reqPushed), u(m.reqEvent), u(m.rspPushed), u(m.rspEvent)]);
    expect(f.fault ?? b.fault).toBeNull();
    // ring invariants
    expect(m.reqProdPvt - m.rspCons).toBeLessThanOrEqual(m.size);
    expect(m.reqCons - m.rspProdPvt).toBeGreaterThanOrEqual(0);
    // no lost notification
    if (m.backAsleep && !m.backEvent) expect(m.reqPushed).toBe(m.reqCons);
    if (m.frontAsleep && !m.frontEvent) expect(m.rspPushed).toBe(m.rspCons);
    // no needless notification
    expect(m.frontNotifies).toBeLessThanOrEqual(m.backArms);
    expect(m.backNotifies).toBeLessThanOrEqual(m.frontArms);
  }
}

const starts = fc.oneof(fc.constant(0), fc.integer({ min: 2 ** 32 - 600, max: 2 ** 32 - 1 }), fc.nat({ max: 2 ** 32 - 1 }));
const entrySizes = fc.constantFrom(8, 12, 64, 112, 1000, 2016, 4032);

describe('rings against the reference model', () => {
  it('any interleaving keeps indices consistent, loses no notification and sends no needless one', () => {
    fc.assert(
      fc.property(starts, entrySizes, fc.array(cmd, { minLength: 1, maxLength: 300 }), (start, size, cmds) => run(start, size, cmds)),
      { numRuns: 400 },
    );
  });

  it('a long run across the 2^32 wrap', () => {
    const cmds: Cmd[] = [];
    for (let i = 0; i < 500; i++)
      cmds.push({ op: 'fProduce', n: 7 }, { op: 'fPush' }, { op: 'bTake', n: 5 }, { op: 'bRespond', n: 5 }, { op: 'bPush' }, { op: 'bFinal' }, { op: 'fTake', n: 9 }, { op: 'fFinal' });
    run(2 ** 32 - 1000, 8, cmds);
  });
});

describe('a producer scribbling on the shared page', () => {
  it('never makes the consumer throw, loop or take more than it may answer; faults stick', () => {
    fc.assert(
      fc.property(
        starts,
        fc.array(fc.oneof(fc.record({ scribble: fc.nat({ max: 2 ** 32 - 1 }) }), fc.record({ take: fc.integer({ min: 1, max: 600 }) }), fc.record({ answer: fc.integer({ min: 1, max: 600 }) })), { maxLength: 60 }),
        (start, steps) => {
          const mem = new BufferBytes(new Uint8Array(4096));
          mem.setU32(SRING.reqProd, start);
          mem.setU32(SRING.rspProd, start);
          const b = BackRing.attach(mem, 0, codec(8), codec(8), { start });
          let faulted = false;
          for (const s of steps) {
            if ('scribble' in s) mem.setU32(SRING.reqProd, s.scribble);
            else if ('take' in s) {
              for (let i = 0; i < s.take && b.takeRequest() !== null; i++);
              b.finalCheckForRequests();
            } else for (let i = 0; i < s.answer && b.rspProdPvt !== b.reqCons; i++) b.produceResponse(0);
            const outstanding = (b.reqCons - b.rspProdPvt) >>> 0;
            expect(outstanding).toBeLessThanOrEqual(b.size);
            if (faulted) expect(b.fault).not.toBeNull();
            faulted = b.fault !== null;
            if (faulted) expect(b.unconsumedRequests()).toBe(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
