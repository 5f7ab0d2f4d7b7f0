import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { XS, XsParser, cstrings, decode, encode, message, oneArg, splitStrings, countStrings, concat, bytes, HEADER_SIZE, XENSTORE_PAYLOAD_MAX } from '../src/index';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Golden bytes: header (type, req_id, tx_id, len: little-endian u32) + payload, per message type. */
const GOLDEN: [string, number, string, number, number, string][] = [
  // name, type, payload (byte string), req, tx, expected hex
  ['CONTROL', XS.CONTROL, 'help\0', 1, 0, '00000000' + '01000000' + '00000000' + '05000000' + '68656c7000'],
  ['DIRECTORY', XS.DIRECTORY, '/a\0', 2, 0, '01000000020000000000000003000000' + '2f6100'],
  ['READ', XS.READ, '/a\0', 3, 7, '02000000030000000700000003000000' + '2f6100'],
  ['GET_PERMS', XS.GET_PERMS, '/a\0', 4, 0, '03000000040000000000000003000000' + '2f6100'],
  ['WATCH', XS.WATCH, '/a\0t\0', 5, 0, '04000000050000000000000005000000' + '2f61007400'],
  ['UNWATCH', XS.UNWATCH, '/a\0t\0', 6, 0, '05000000060000000000000005000000' + '2f61007400'],
  ['TRANSACTION_START', XS.TRANSACTION_START, '\0', 7, 0, '06000000070000000000000001000000' + '00'],
  ['TRANSACTION_END', XS.TRANSACTION_END, 'T\0', 8, 9, '07000000080000000900000002000000' + '5400'],
  ['INTRODUCE', XS.INTRODUCE, '5\x004\x0012\0', 9, 0, '08000000090000000000000007000000' + '3500340031320' + '0'],
  ['RELEASE', XS.RELEASE, '5\0', 10, 0, '090000000a0000000000000002000000' + '3500'],
  ['GET_DOMAIN_PATH', XS.GET_DOMAIN_PATH, '5\0', 11, 0, '0a0000000b0000000000000002000000' + '3500'],
  ['WRITE', XS.WRITE, '/a\0v', 12, 0, '0b0000000c0000000000000004000000' + '2f610076'],
  ['MKDIR', XS.MKDIR, '/a\0', 13, 0, '0c0000000d0000000000000003000000' + '2f6100'],
  ['RM', XS.RM, '/a\0', 14, 0, '0d0000000e0000000000000003000000' + '2f6100'],
  ['SET_PERMS', XS.SET_PERMS, '/a\0r5\0', 15, 0, '0e0000000f0000000000000006000000' + '2f6100723500'],
  ['WATCH_EVENT', XS.WATCH_EVENT, '/a\0t\0', 0, 0, '0f000000000000000000000005000000' + '2f61007400'],
  ['ERROR', XS.ERROR, 'EINVAL\0', 16, 0, '10000000100000000000000007000000' + '45494e56414c00'],
  ['IS_DOMAIN_INTRODUCED', XS.IS_DOMAIN_INTRODUCED, '5\0', 17, 0, '11000000110000000000000002000000' + '3500'],
  ['RESUME', XS.RESUME, '5\0', 18, 0, '12000000120000000000000002000000' + '3500'],
  ['SET_TARGET', XS.SET_TARGET, '5\x006\0', 19, 0, '13000000130000000000000004000000' + '35003600'],
  ['RESET_WATCHES', XS.RESET_WATCHES, '', 21, 0, '15000000150000000000000000000000'],
  ['DIRECTORY_PART', XS.DIRECTORY_PART, '/a\x000\0', 22, 0, '16000000160000000000000005000000' + '2f61003000'],
];

describe('xs_wire codec', () => {
  it.each(GOLDEN)('%s encodes to its golden bytes and decodes back', (_n, type, payload, req, tx, want) => {
    const m = message(type, payload, req, tx);
    expect(hex(encode(m))).toBe(want);
    const d = decode(encode(m))!;
    expect(d).toEqual({ type, reqId: req, txId: tx, payload: bytes(payload) });
  });

  it('a big-value header: len is little-endian', () => {
    const m = message(XS.WRITE, concat(cstrings('/v'), new Uint8Array(4093).fill(0x41)));
    expect(hex(encode(m).subarray(0, 16))).toBe('0b000000' + '00000000' + '00000000' + '00100000');
    expect(() => encode(message(XS.WRITE, new Uint8Array(XENSTORE_PAYLOAD_MAX + 1)))).toThrow(RangeError);
  });

  it('payload helpers follow get_strings/onearg/xs_count_strings', () => {
    expect(splitStrings(bytes('a\0bc\0tail'))).toEqual(['a', 'bc']);
    expect(countStrings(bytes('a\0\0b'))).toBe(2);
    expect(oneArg(bytes('/a\0'))).toBe('/a');
    expect(oneArg(bytes('/a'))).toBeNull();
    expect(oneArg(bytes('/a\0b\0'))).toBeNull();
    expect(oneArg(bytes(''))).toBeNull();
    expect(oneArg(bytes('\0'))).toBe('');
  });
});

describe('the resumable parser', () => {
  const stream = GOLDEN.map(([, type, payload, req, tx]) => encode(message(type, payload, req, tx)));
  const all = concat(...stream);

  it('parses every message fed one byte at a time, reporting what it still needs', () => {
    const p = new XsParser();
    const out = [];
    const needs: number[] = [];
    for (let i = 0; i < all.length; i++) {
      p.push(all.subarray(i, i + 1));
      for (;;) {
        const r = p.next();
        if (r.kind === 'need') {
          needs.push(r.bytes);
          break;
        }
        expect(r.kind).toBe('packet');
        if (r.kind === 'packet') out.push(r.msg);
      }
    }
    expect(out.map((m) => [m.type, m.reqId, m.txId, hex(m.payload)])).toEqual(GOLDEN.map(([, t, p, r, x]) => [t, r, x, hex(bytes(p))]));
    expect(needs[0]).toBe(HEADER_SIZE - 1);
    expect(p.buffered).toBe(0);
  });

  it('any split of the stream gives the same messages (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 30 }), (cuts) => {
        const pts = [...new Set(cuts)].sort((a, b) => a - b);
        const p = new XsParser();
        const got: number[] = [];
        let prev = 0;
        for (const c of [...pts, all.length]) {
          p.push(all.subarray(prev, c));
          prev = c;
          for (let r = p.next(); r.kind === 'packet'; r = p.next()) got.push(r.msg.reqId);
        }
        expect(got).toEqual(GOLDEN.map((g) => g[3]));
      }),
    );
  });

  it('a header with len > 4096 is a sticky error, even when it arrives byte by byte', () => {
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    const p = new XsParser();
    for (const b of bad.subarray(0, 15)) {
      p.push(Uint8Array.of(b));
      expect(p.next().kind).toBe('need');
    }
    p.push(bad.subarray(15));
    expect(p.next()).toEqual({ kind: 'error', reason: 'too-long', len: 4097 });
    p.push(stream[0]);
    expect(p.next().kind).toBe('error');
    expect(decode(bad)).toBeNull();
  });
});
