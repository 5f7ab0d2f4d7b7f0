/**
 * netif conformance: @xenotype/net's netif layouts and codecs against Xen's io/netif.h (x86_64).
 *
 * 1. Layout: sizeof and offsetof of netif_tx_request, netif_tx_response, netif_rx_request,
 *    netif_rx_response and netif_extra_info; the signedness of the status fields; the ring entry
 *    unions and NET_TX_RING_SIZE / NET_RX_RING_SIZE (__CONST_RING_SIZE for one page); every
 *    NETTXF_*, NETRXF_*, NETIF_RSP_*, XEN_NETIF_EXTRA_* constant, XEN_NETIF_MAX_TX_SIZE and
 *    XEN_NETIF_NR_SLOTS_MIN.
 * 2. Bytes both ways: entries encoded by our codecs are read through the C structs, and entries
 *    filled in C are decoded by our codecs, for a sample of values including the extremes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LocalBytes, type EntryCodec } from '@xenotype/ring';
import {
  NETIF_LAYOUT,
  NETIF_RSP,
  NETIF_RX_ENTRY_SIZE,
  NETIF_TX_ENTRY_SIZE,
  NETRXF,
  NETTXF,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  XEN_NETIF_GSO_TYPE,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
  rxRequestCodec,
  rxResponseCodec,
  txRequestCodec,
  txResponseCodec,
} from '@xenotype/net';
import { Workdir, parseKv, toolchain } from './cc';

const tc = toolchain();
const skipNote = tc.ok ? '' : ` [SKIPPED: ${tc.reason}]`;
const wd = tc.ok ? new Workdir() : null;
afterAll(() => wd?.dispose());

const HEADERS = `
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <xen/xen.h>
#define xen_mb()  __sync_synchronize()
#define xen_rmb() __asm__ __volatile__ ("" ::: "memory")
#define xen_wmb() __asm__ __volatile__ ("" ::: "memory")
#include <xen/io/netif.h>
`;

const SIGNED: Record<string, string[]> = { netif_tx_response: ['status'], netif_rx_response: ['status'] };

describe(`io/netif.h layouts and constants${skipNote}`, () => {
  it.skipIf(!tc.ok)('struct sizes and offsets, signedness, ring sizes and every constant match the header', () => {
    const lines = [HEADERS, 'int main(void) {'];
    for (const [name, l] of Object.entries(NETIF_LAYOUT)) {
      lines.push(`printf("${name}.sizeof=%zu\\n", sizeof(struct ${name}));`);
      lines.push(`printf("${name}.alignof=%zu\\n", _Alignof(struct ${name}));`);
      for (const f of Object.keys(l.fields)) lines.push(`printf("${name}.f.${f}=%zu\\n", offsetof(struct ${name}, ${f}));`);
      for (const f of SIGNED[name] ?? []) lines.push(`{ struct ${name} s; s.${f} = -1; printf("${name}.${f}.signed=%d\\n", s.${f} < 0); }`);
    }
    lines.push('printf("tx.entry=%zu\\n", sizeof(((struct netif_tx_sring *)0)->ring[0]));');
    lines.push('printf("rx.entry=%zu\\n", sizeof(((struct netif_rx_sring *)0)->ring[0]));');
    lines.push('printf("tx.ring=%lu\\n", (unsigned long)__CONST_RING_SIZE(netif_tx, 4096));');
    lines.push('printf("rx.ring=%lu\\n", (unsigned long)__CONST_RING_SIZE(netif_rx, 4096));');
    const consts: Record<string, number> = {
      XEN_NETIF_MAX_TX_SIZE,
      XEN_NETIF_NR_SLOTS_MIN,
      XEN_NETIF_EXTRA_FLAG_MORE,
      ...Object.fromEntries(Object.entries(NETTXF).map(([k, v]) => [`NETTXF_${k}`, v])),
      ...Object.fromEntries(Object.entries(NETRXF).map(([k, v]) => [`NETRXF_${k}`, v])),
      ...Object.fromEntries(Object.entries(NETIF_RSP).map(([k, v]) => [`NETIF_RSP_${k}`, v])),
      ...Object.fromEntries(Object.entries(XEN_NETIF_EXTRA_TYPE).map(([k, v]) => [`XEN_NETIF_EXTRA_TYPE_${k}`, v])),
      ...Object.fromEntries(Object.entries(XEN_NETIF_GSO_TYPE).map(([k, v]) => [`XEN_NETIF_GSO_TYPE_${k}`, v])),
    };
    for (const k of Object.keys(consts)) lines.push(`printf("c.${k}=%ld\\n", (long)(${k}));`);
    lines.push('return 0; }');
    const kv = parseKv(wd!.run(wd!.compile('netif_layout', lines.join('\n'))));
    const num = (k: string) => Number(kv.get(k));
    for (const [name, l] of Object.entries(NETIF_LAYOUT)) {
      expect(num(`${name}.sizeof`), name).toBe(l.size);
      expect(num(`${name}.alignof`), name).toBe(l.align);
      for (const [f, off] of Object.entries(l.fields)) expect(num(`${name}.f.${f}`), `${name}.${f}`).toBe(off);
      for (const f of SIGNED[name] ?? []) expect(num(`${name}.${f}.signed`), `${name}.${f} is signed`).toBe(1);
    }
    const codecs: [string, EntryCodec<unknown>][] = [
      ['netif_tx_request', txRequestCodec as EntryCodec<unknown>],
      ['netif_tx_response', txResponseCodec as EntryCodec<unknown>],
      ['netif_rx_request', rxRequestCodec as EntryCodec<unknown>],
      ['netif_rx_response', rxResponseCodec as EntryCodec<unknown>],
    ];
    for (const [name, c] of codecs) expect([c.size, c.align], name).toEqual([num(`${name}.sizeof`), num(`${name}.alignof`)]);
    expect(num('tx.entry')).toBe(NETIF_TX_ENTRY_SIZE);
    expect(num('rx.entry')).toBe(NETIF_RX_ENTRY_SIZE);
    expect(num('tx.ring')).toBe(NET_TX_RING_SIZE);
    expect(num('rx.ring')).toBe(NET_RX_RING_SIZE);
    for (const [k, v] of Object.entries(consts)) expect(num(`c.${k}`), k).toBe(v);
  });
});

// ---------------------------------------------------------------------------------------------

const u16 = fc.integer({ min: 0, max: 0xffff });
const s16 = fc.integer({ min: -0x8000, max: 0x7fff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const SAMPLES = 40;
const sample = <T>(a: fc.Arbitrary<T>, seed: number): T[] => [
  ...fc.sample(a, { seed, numRuns: SAMPLES }),
];

const cases = {
  netif_tx_request: { codec: txRequestCodec, fields: ['gref', 'offset', 'flags', 'id', 'size'], arb: fc.record({ gref: u32, offset: u16, flags: u16, id: u16, size: u16 }) },
  netif_tx_response: { codec: txResponseCodec, fields: ['id', 'status'], arb: fc.record({ id: u16, status: s16 }) },
  netif_rx_request: { codec: rxRequestCodec, fields: ['id', 'gref'], arb: fc.record({ id: u16, gref: u32 }) },
  netif_rx_response: { codec: rxResponseCodec, fields: ['id', 'offset', 'flags', 'status'], arb: fc.record({ id: u16, offset: u16, flags: u16, status: s16 }) },
} as const;

describe(`netif entries, byte for byte${skipNote}`, () => {
  it.skipIf(!tc.ok)('what our codecs write the C structs read, and what C writes our codecs read', () => {
    const src = [HEADERS, 'static void hex(const void *p, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]); }', 'int main(void) {'];
    const expected = new Map<string, string>();
    let seed = 11;
    for (const [name, c] of Object.entries(cases)) {
      const values = [...sample(c.arb as fc.Arbitrary<Record<string, number>>, seed++), Object.fromEntries(c.fields.map((f) => [f, f === 'status' ? -0x8000 : 0])), Object.fromEntries(c.fields.map((f) => [f, f === 'status' ? 0x7fff : f === 'gref' ? 0xffffffff : 0xffff]))];
      values.forEach((v, i) => {
        // TS → C: our bytes, read through the struct
        const m = new LocalBytes(new Uint8Array(c.codec.size));
        (c.codec as unknown as EntryCodec<Record<string, number>>).write(m, 0, v);
        const bytes = [...m.buf].map((b) => `0x${b.toString(16)}`).join(',');
        src.push(`{ static const unsigned char b[] = {${bytes}}; struct ${name} s; memcpy(&s, b, sizeof s);`);
        for (const f of c.fields) {
          src.push(`printf("r.${name}.${i}.${f}=%ld\\n", (long)s.${f});`);
          expected.set(`r.${name}.${i}.${f}`, String(v[f]));
        }
        // C → TS: the struct filled field by field, its bytes decoded by our codec
        src.push(`memset(&s, 0, sizeof s); ${c.fields.map((f) => `s.${f} = ${v[f]}${f === 'gref' ? 'u' : ''};`).join(' ')} printf("w.${name}.${i}="); hex(&s, sizeof s); printf("\\n"); }`);
        expected.set(`w.${name}.${i}`, JSON.stringify(Object.fromEntries(c.fields.map((f) => [f, v[f]]))));
      });
    }
    src.push('return 0; }');
    const kv = parseKv(wd!.run(wd!.compile('netif_bytes', src.join('\n'))));
    let checked = 0;
    for (const [k, want] of expected) {
      const got = kv.get(k);
      if (k.startsWith('r.')) expect(got, k).toBe(want);
      else {
        const name = k.split('.')[1] as keyof typeof cases;
        const c = cases[name];
        const buf = Uint8Array.from(got!.match(/../g)!.map((h) => parseInt(h, 16)));
        const v = (c.codec as unknown as EntryCodec<Record<string, number>>).read(new LocalBytes(buf), 0);
        expect(JSON.stringify(Object.fromEntries(c.fields.map((f) => [f, v[f]]))), k).toBe(want);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(4 * SAMPLES * 2);
  });
});
