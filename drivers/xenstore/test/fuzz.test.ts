/**
 * Malformed and random frames through the stream adapter: every complete request gets exactly one
 * reply (its own type or XS_ERROR, same req_id), a frame with len > 4096 closes the connection,
 * and the daemon and its tree survive (no internal error, consistent tree) for everyone else.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamConnection, XS, XsParser, concat, encode, bytes, HEADER_SIZE } from '../src/index';
import { world } from './support';

const piece = fc.oneof(
  fc.constantFrom('/a', '/a/b', 'rel', '/tool', '@releaseDomain', '/local/domain/5/x', '', '//', '/a/', 'T', 'F', '5', '0', 'r0', 'n5', 'b0', 'x y', 'help', 'quota'),
  fc.string({ maxLength: 12 }),
);
const payload = fc.oneof(
  fc.array(piece, { maxLength: 4 }).map((ps) => bytes(ps.join('\0'))),
  fc.array(piece, { maxLength: 4 }).map((ps) => bytes(ps.map((p) => p + '\0').join(''))),
  fc.uint8Array({ maxLength: 64 }),
  fc.integer({ min: 0, max: 4096 }).map((n) => new Uint8Array(n).fill(0x41)),
);
const frame = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 24 }), fc.constantFrom(128, 999, 0xffff, 0xffffffff)),
  txId: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }), fc.constant(0xffffffff)),
  payload,
});

describe('fuzzing the daemon with malformed frames', () => {
  it('random requests from dom0 and a guest: one reply each; the tree stays sound', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), frame), { minLength: 1, maxLength: 60 }), (reqs) => {
        const w = world();
        const streams = [new StreamConnection(w.s, w.dom0), new StreamConnection(w.s, w.guest(5))];
        const parsers = [new XsParser(), new XsParser()];
        reqs.forEach(([guest, f], i) => {
          const k = guest ? 1 : 0;
          const st = streams[k];
          expect(st.receive(encode({ type: f.type >>> 0, reqId: i, txId: f.txId >>> 0, payload: f.payload }))).toBe(true);
          const out = st.output();
          const replies = [];
          if (out) parsers[k].push(out);
          for (let r = parsers[k].next(); r.kind === 'packet'; r = parsers[k].next()) if (r.msg.type !== XS.WATCH_EVENT) replies.push(r.msg);
          expect(replies).toHaveLength(1);
          expect(replies[0].reqId).toBe(i);
          expect([f.type >>> 0, XS.ERROR]).toContain(replies[0].type);
          expect(replies[0].payload.length).toBeLessThanOrEqual(4096);
          // keep other connections drained
          streams[1 - k].output();
        });
        expect(w.s.internalErrors).toBe(0);
        expect(w.s.check()).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a frame claiming more than 4096 bytes drops a socket and marks a ring PROTO; others carry on', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4097, max: 0xffffffff }), fc.integer({ min: 0, max: 15 }), (len, cut) => {
        const w = world();
        const bad = new Uint8Array(HEADER_SIZE);
        new DataView(bad.buffer).setUint32(0, XS.WRITE, true);
        new DataView(bad.buffer).setUint32(12, len, true);
        const sock = new StreamConnection(w.s, w.s.connect());
        expect(sock.receive(bad.subarray(0, cut))).toBe(true);
        expect(sock.receive(concat(bad.subarray(cut), new Uint8Array(100)))).toBe(false);
        expect(sock.conn.closed).toBe(true);
        const ring = new StreamConnection(w.s, w.guest(5));
        expect(ring.receive(bad)).toBe(false);
        expect(w.guest(5).ignored).toBe(true);
        expect(w.links).toContain('error 5 3');
        // the rest of the daemon still works
        expect(w.rq(w.dom0, XS.WRITE, '/after\0ok')).toEqual(['OK']);
        expect(w.rq(w.guest(6), XS.GET_DOMAIN_PATH, '6\0')).toEqual(['GET_DOMAIN_PATH "/local/domain/6\\u0000"']);
      }),
      { numRuns: 50 },
    );
  });

  it('garbage byte streams never throw; the daemon answers or drops', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const w = world();
        const st = new StreamConnection(w.s, w.s.connect());
        for (const c of chunks) if (!st.receive(c)) break;
        st.output();
        expect(w.s.internalErrors).toBe(0);
        expect(w.s.check()).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
