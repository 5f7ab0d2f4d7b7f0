/**
 * netif entries: golden bytes of each codec (what io/netif.h lays out on x86_64; the C header itself
 * is compared in test/conformance/netif.test.ts), signed statuses, extra-info slots overlaying tx
 * requests, and the ring sizes of a 4 KiB page.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LocalBytes } from '@xenotype/ring';
import {
  NETIF_RSP,
  NETIF_RX_ENTRY_SIZE,
  NETIF_TX_ENTRY_SIZE,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  extraAsTxRequest,
  extraInfoCodec,
  rxRequestCodec,
  rxResponseCodec,
  txRequestAsExtra,
  txRequestCodec,
  txResponseCodec,
} from '../src/netif';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
function bytesOf<T>(c: { size: number; write(m: LocalBytes, a: number, v: T): void }, v: T): string {
  const m = new LocalBytes(new Uint8Array(c.size));
  c.write(m, 0, v);
  return hex(m.buf);
}

describe('netif entries', () => {
  it('golden bytes, little-endian, in header order', () => {
    expect(bytesOf(txRequestCodec, { gref: 0x01020304, offset: 0x0506, flags: 0x0708, id: 0x090a, size: 0x0b0c })).toBe('04030201060508070a090c0b');
    expect(bytesOf(txResponseCodec, { id: 0x1234, status: NETIF_RSP.ERROR })).toBe('3412ffff');
    expect(bytesOf(rxRequestCodec, { id: 0x1234, gref: 0xa0b0c0d0 })).toBe('34120000d0c0b0a0');
    expect(bytesOf(rxResponseCodec, { id: 1, offset: 2, flags: 3, status: 1514 })).toBe('010002000300ea05');
    expect(bytesOf(extraInfoCodec, { type: 2, flags: 1, u: new Uint8Array([1, 2, 3, 4, 5, 6]) })).toBe('0201010203040506');
  });

  it('statuses read back signed; every codec round-trips', () => {
    const m = new LocalBytes(new Uint8Array(16));
    txResponseCodec.write(m, 0, { id: 7, status: NETIF_RSP.DROPPED });
    expect(txResponseCodec.read(m, 0)).toEqual({ id: 7, status: -2 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: -32768, max: 32767 }), (g, a, b, c, s) => {
        const x = new LocalBytes(new Uint8Array(12));
        txRequestCodec.write(x, 0, { gref: g, offset: a, flags: b, id: c, size: a });
        rxResponseCodec.write(x, 0, { id: c, offset: a, flags: b, status: s });
        return rxResponseCodec.read(x, 0).status === s && rxResponseCodec.read(x, 0).id === c;
      }),
    );
  });

  it('an extra-info slot overlays a tx request slot', () => {
    const e = { type: 1, flags: 1, u: new Uint8Array([0xb4, 0x05, 1, 0, 0, 0]) };
    expect(txRequestAsExtra(extraAsTxRequest(e))).toEqual(e);
    const m = new LocalBytes(new Uint8Array(12));
    txRequestCodec.write(m, 0, extraAsTxRequest(e));
    expect(extraInfoCodec.read(m, 0)).toEqual(e);
  });

  it('256 entries per ring in one page', () => {
    expect([NETIF_TX_ENTRY_SIZE, NETIF_RX_ENTRY_SIZE]).toEqual([12, 8]);
    expect([NET_TX_RING_SIZE, NET_RX_RING_SIZE]).toEqual([256, 256]);
  });
});
