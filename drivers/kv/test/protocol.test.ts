/**
 * kvif's protocol module: golden bytes of both entries, the ring size, and the request check on
 * every kind of bad input (a table), plus random requests never making it throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LocalBytes } from '@xenotype/ring';
import { KVIF_F_GREF, KVIF_OP, KVIF_RING_SIZE, KVIF_RSP, checkRequest, kvRequestCodec, kvResponseCodec, type KvRequest } from '../src/protocol';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const req = (o: Partial<KvRequest>): KvRequest => ({ id: 1, op: KVIF_OP.GET, flags: 0, keyLen: 3, valLen: 0, gref: 0, data: new Uint8Array(40), ...o });

describe('kvif entries', () => {
  it('golden bytes and round trips', () => {
    const m = new LocalBytes(new Uint8Array(64));
    kvRequestCodec.write(m, 0, req({ id: 0x0102030405, op: KVIF_OP.PUT, flags: KVIF_F_GREF, keyLen: 0x0a0b, valLen: 0x0c0d0e0f, gref: 0x11223344, data: new Uint8Array([0xaa, 0xbb]) }));
    expect(hex(m.buf.subarray(0, 26))).toBe('0504030201000000' + '01' + '01' + '0b0a' + '0f0e0d0c' + '44332211' + '00000000' + 'aabb');
    expect(kvRequestCodec.read(m, 0)).toMatchObject({ id: 0x0102030405, op: 1, flags: 1, keyLen: 0x0a0b, valLen: 0x0c0d0e0f, gref: 0x11223344 });
    kvResponseCodec.write(m, 0, { id: 9, status: KVIF_RSP.TOO_BIG, valLen: 5000, data: new Uint8Array([1]) });
    expect(hex(m.buf.subarray(0, 17))).toBe('0900000000000000' + 'fdff' + '0000' + '88130000' + '01');
    expect(kvResponseCodec.read(m, 0)).toMatchObject({ id: 9, status: -3, valLen: 5000 });
    expect(KVIF_RING_SIZE).toBe(32);
  });
});

describe('checkRequest', () => {
  it.each([
    ['unknown op', req({ op: 7 }), false],
    ['unknown flag', req({ flags: 2 }), false],
    ['empty key', req({ keyLen: 0 }), false],
    ['key over 255', req({ keyLen: 256, flags: KVIF_F_GREF }), false],
    ['inline key over 40', req({ keyLen: 41 }), false],
    ['inline put over 40', req({ op: KVIF_OP.PUT, keyLen: 10, valLen: 31 }), false],
    ['page put over a page', req({ op: KVIF_OP.PUT, flags: KVIF_F_GREF, keyLen: 10, valLen: 4087 }), false],
    ['get room over a page', req({ flags: KVIF_F_GREF, valLen: 4097 }), false],
    ['inline get', req({}), true],
    ['inline put of 40', req({ op: KVIF_OP.PUT, keyLen: 10, valLen: 30 }), true],
    ['page put of a page', req({ op: KVIF_OP.PUT, flags: KVIF_F_GREF, keyLen: 10, valLen: 4086 }), true],
    ['del', req({ op: KVIF_OP.DEL }), true],
  ])('%s', (_, r, ok) => {
    const c = checkRequest(r);
    expect(c.ok).toBe(ok);
    if (!c.ok) expect(c.status).toBe(KVIF_RSP.ERROR);
  });

  it('never throws on random requests', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (b) => {
        const c = checkRequest(kvRequestCodec.read(new LocalBytes(b), 0));
        return typeof c.ok === 'boolean';
      }),
      { numRuns: 1000 },
    );
  });
});
