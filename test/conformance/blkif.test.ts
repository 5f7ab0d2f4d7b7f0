/**
 * blkif conformance: @xenotype/blk's protocol module against Xen's io/blkif.h (libxen-dev, x86_64).
 *
 * 1. Layout and constants: offsetof/sizeof of struct blkif_request, blkif_request_segment,
 *    blkif_request_discard, blkif_request_indirect and blkif_response; the ring entry union and
 *    RING_SIZE of a one-page blkif ring (DEFINE_RING_TYPES(blkif, ...)); BLKIF_OP_*, BLKIF_RSP_*,
 *    BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_DISCARD_SECURE,
 *    VDISK_*.
 * 2. Golden bytes, both ways: 300 requests (read/write/flush/barrier with 0..11 segments, discards,
 *    indirect, unknown operations; 64-bit ids and sectors) and 100 responses (negative statuses
 *    included), generated from a fixed seed, are filled in by C through the header's structs and
 *    dumped; our encoder must produce the same bytes, and our decoder must read C's bytes back to
 *    the same values.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferBytes } from '@xenotype/core';
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_REQUEST,
  BLKIF_REQUEST_DISCARD,
  BLKIF_REQUEST_INDIRECT,
  BLKIF_RESPONSE,
  BLKIF_RING_SIZE,
  BLKIF_RSP,
  BLKIF_SEGMENT,
  VDISK,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type BlkifRequest,
  type BlkifResponse,
} from '@xenotype/blk';
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
#include <stdlib.h>
#include <xen/xen.h>
#define xen_mb()  __sync_synchronize()
#define xen_rmb() __asm__ __volatile__ ("" ::: "memory")
#define xen_wmb() __asm__ __volatile__ ("" ::: "memory")
#include <xen/io/blkif.h>
`;

describe(`io/blkif.h layout and constants${skipNote}`, () => {
  it.skipIf(!tc.ok)('struct offsets and sizes, the ring size and every constant match the header', () => {
    const off = (st: string, f: string, key: string) => `printf("${key}=%zu\\n", offsetof(${st}, ${f}));`;
    const lines = [HEADERS, 'int main(void) {'];
    const R = 'struct blkif_request';
    lines.push(off(R, 'operation', 'req.operation'), off(R, 'nr_segments', 'req.nrSegments'), off(R, 'handle', 'req.handle'), off(R, 'id', 'req.id'), off(R, 'sector_number', 'req.sectorNumber'), off(R, 'seg', 'req.seg'));
    lines.push(`printf("req.size=%zu\\n", sizeof(${R}));`);
    const G = 'struct blkif_request_segment';
    lines.push(off(G, 'gref', 'seg.gref'), off(G, 'first_sect', 'seg.firstSect'), off(G, 'last_sect', 'seg.lastSect'), `printf("seg.size=%zu\\n", sizeof(${G}));`);
    const D = 'struct blkif_request_discard';
    for (const [c, k] of [['operation', 'operation'], ['flag', 'flag'], ['handle', 'handle'], ['id', 'id'], ['sector_number', 'sectorNumber'], ['nr_sectors', 'nrSectors']]) lines.push(off(D, c, `discard.${k}`));
    lines.push(`printf("discard.size=%zu\\n", sizeof(${D}));`);
    const I = 'struct blkif_request_indirect';
    for (const [c, k] of [['operation', 'operation'], ['indirect_op', 'indirectOp'], ['nr_segments', 'nrSegments'], ['id', 'id'], ['sector_number', 'sectorNumber'], ['handle', 'handle'], ['indirect_grefs', 'indirectGrefs']]) lines.push(off(I, c, `indirect.${k}`));
    lines.push(`printf("indirect.size=%zu\\n", sizeof(${I}));`);
    const P = 'struct blkif_response';
    lines.push(off(P, 'id', 'rsp.id'), off(P, 'operation', 'rsp.operation'), off(P, 'status', 'rsp.status'), `printf("rsp.size=%zu\\n", sizeof(${P}));`);
    lines.push('printf("entry=%zu\\n", sizeof(union blkif_sring_entry));');
    lines.push('{ void *page = aligned_alloc(4096, 4096); blkif_front_ring_t fr; SHARED_RING_INIT((blkif_sring_t *)page); FRONT_RING_INIT(&fr, (blkif_sring_t *)page, 4096); printf("ring=%u\\n", (unsigned)RING_SIZE(&fr)); free(page); }');
    const consts: Record<string, number> = {
      BLKIF_OP_READ: BLKIF_OP.READ,
      BLKIF_OP_WRITE: BLKIF_OP.WRITE,
      BLKIF_OP_WRITE_BARRIER: BLKIF_OP.WRITE_BARRIER,
      BLKIF_OP_FLUSH_DISKCACHE: BLKIF_OP.FLUSH_DISKCACHE,
      BLKIF_OP_RESERVED_1: BLKIF_OP.RESERVED_1,
      BLKIF_OP_DISCARD: BLKIF_OP.DISCARD,
      BLKIF_OP_INDIRECT: BLKIF_OP.INDIRECT,
      BLKIF_RSP_EOPNOTSUPP: BLKIF_RSP.EOPNOTSUPP,
      BLKIF_RSP_ERROR: BLKIF_RSP.ERROR,
      BLKIF_RSP_OKAY: BLKIF_RSP.OKAY,
      BLKIF_MAX_SEGMENTS_PER_REQUEST,
      BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
      BLKIF_DISCARD_SECURE,
      VDISK_CDROM: VDISK.CDROM,
      VDISK_REMOVABLE: VDISK.REMOVABLE,
      VDISK_READONLY: VDISK.READONLY,
    };
    for (const k of Object.keys(consts)) lines.push(`printf("${k}=%d\\n", (int)(${k}));`);
    lines.push('return 0; }');
    const kv = parseKv(wd!.run(wd!.compile('blkif_layout', lines.join('\n'))));
    const num = (k: string) => Number(kv.get(k));

    const { size: reqSize, ...req } = BLKIF_REQUEST;
    for (const [k, v] of Object.entries(req)) expect(num(`req.${k}`), `blkif_request.${k}`).toBe(v);
    expect(num('req.size')).toBe(reqSize);
    for (const [k, v] of Object.entries(BLKIF_SEGMENT)) expect(num(`seg.${k}`), `segment.${k}`).toBe(v);
    for (const [k, v] of Object.entries(BLKIF_REQUEST_DISCARD)) expect(num(`discard.${k}`), `discard.${k}`).toBe(v);
    for (const [k, v] of Object.entries(BLKIF_REQUEST_INDIRECT)) expect(num(`indirect.${k}`), `indirect.${k}`).toBe(v);
    for (const [k, v] of Object.entries(BLKIF_RESPONSE)) expect(num(`rsp.${k}`), `response.${k}`).toBe(v);
    expect(num('entry')).toBe(BLKIF_REQUEST.size);
    expect(num('ring')).toBe(BLKIF_RING_SIZE);
    expect(BLKIF_RING_SIZE).toBe(32);
    for (const [k, v] of Object.entries(consts)) expect(num(k), k).toBe(v);
  });
});

// ---------------------------------------------------------------------------------------------

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const sector = fc.oneof(fc.nat({ max: 1 << 20 }), fc.maxSafeNat());
const seg = fc.record({ gref: fc.nat({ max: 0xffffffff }), firstSect: fc.nat({ max: 255 }), lastSect: fc.nat({ max: 255 }) });

const rwReq: fc.Arbitrary<BlkifRequest> = fc
  .record({
    operation: fc.constantFrom(0, 1, 2, 3),
    segments: fc.array(seg, { maxLength: BLKIF_MAX_SEGMENTS_PER_REQUEST }),
    extra: fc.nat({ max: 3 }),
    handle: fc.nat({ max: 0xffff }),
    id: u64,
    sectorNumber: sector,
  })
  // nr_segments need not match the segments given (a frontend may lie); it stays within a u8
  .map(({ extra, segments, ...r }) => ({ kind: 'rw' as const, ...r, segments, nrSegments: Math.min(255, segments.length + (extra === 3 ? 200 : 0)) }));
const discardReq: fc.Arbitrary<BlkifRequest> = fc.record({
  kind: fc.constant('discard' as const),
  operation: fc.constant(BLKIF_OP.DISCARD),
  flag: fc.nat({ max: 255 }),
  handle: fc.nat({ max: 0xffff }),
  id: u64,
  sectorNumber: sector,
  nrSectors: sector,
});
const indirectReq: fc.Arbitrary<BlkifRequest> = fc.record({
  kind: fc.constant('indirect' as const),
  operation: fc.constant(BLKIF_OP.INDIRECT),
  indirectOp: fc.constantFrom(0, 1),
  nrSegments: fc.nat({ max: 0xffff }),
  handle: fc.nat({ max: 0xffff }),
  id: u64,
  sectorNumber: sector,
  indirectGrefs: fc.array(fc.nat({ max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
});
const otherReq: fc.Arbitrary<BlkifRequest> = fc.record({ kind: fc.constant('other' as const), operation: fc.constantFrom(4, 7, 8, 100, 255), id: u64 });
const response: fc.Arbitrary<BlkifResponse> = fc.record({ id: u64, operation: fc.nat({ max: 255 }), status: fc.integer({ min: -32768, max: 32767 }) });

const REQUESTS = fc.sample(fc.oneof({ arbitrary: rwReq, weight: 6 }, { arbitrary: discardReq, weight: 2 }, { arbitrary: indirectReq, weight: 1 }, { arbitrary: otherReq, weight: 1 }), { seed: 20031019, numRuns: 300 });
const RESPONSES = fc.sample(response, { seed: 945445, numRuns: 100 });

function cFill(r: BlkifRequest): string {
  const L = (v: bigint | number) => `${BigInt(v)}ULL`;
  const s = ['{ union { blkif_request_t r; blkif_request_discard_t d; blkif_request_indirect_t i; } u; memset(&u, 0, sizeof u);'];
  switch (r.kind) {
    case 'rw':
      s.push(`u.r.operation = ${r.operation}; u.r.nr_segments = ${r.nrSegments}; u.r.handle = ${r.handle}; u.r.id = ${L(r.id)}; u.r.sector_number = ${L(r.sectorNumber)};`);
      r.segments.forEach((g, i) => s.push(`u.r.seg[${i}].gref = ${g.gref}u; u.r.seg[${i}].first_sect = ${g.firstSect}; u.r.seg[${i}].last_sect = ${g.lastSect};`));
      break;
    case 'discard':
      s.push(`u.d.operation = ${r.operation}; u.d.flag = ${r.flag}; u.d.handle = ${r.handle}; u.d.id = ${L(r.id)}; u.d.sector_number = ${L(r.sectorNumber)}; u.d.nr_sectors = ${L(r.nrSectors)};`);
      break;
    case 'indirect':
      s.push(`u.i.operation = ${r.operation}; u.i.indirect_op = ${r.indirectOp}; u.i.nr_segments = ${r.nrSegments}; u.i.handle = ${r.handle}; u.i.id = ${L(r.id)}; u.i.sector_number = ${L(r.sectorNumber)};`);
      r.indirectGrefs.forEach((g, i) => s.push(`u.i.indirect_grefs[${i}] = ${g}u;`));
      break;
    case 'other':
      s.push(`u.r.operation = ${r.operation}; u.r.id = ${L(r.id)};`);
      break;
  }
  s.push('dump(&u, sizeof(blkif_request_t)); }');
  return s.join(' ');
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string) => Uint8Array.from(s.match(/../g)!.map((x) => parseInt(x, 16)));

/** What decoding keeps of a request: min(nr_segments, 11) segments (unwritten ones read as zeros). */
function canonical(r: BlkifRequest): BlkifRequest {
  if (r.kind !== 'rw') return r;
  const n = Math.min(r.nrSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
  const zero = { gref: 0, firstSect: 0, lastSect: 0 };
  return { ...r, segments: Array.from({ length: n }, (_, i) => r.segments[i] ?? zero) };
}

describe(`io/blkif.h wire bytes${skipNote}`, () => {
  it.skipIf(!tc.ok)('300 requests and 100 responses: our encoder writes C\'s bytes and our decoder reads them back', () => {
    const src = [
      HEADERS,
      'static void dump(const void *p, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", ((const uint8_t *)p)[i]); printf("\\n"); }',
      'int main(void) {',
      ...REQUESTS.map(cFill),
      ...RESPONSES.map((r) => `{ blkif_response_t p; memset(&p, 0, sizeof p); p.id = ${r.id}ULL; p.operation = ${r.operation}; p.status = ${r.status}; dump(&p, sizeof p); }`),
      'return 0; }',
    ].join('\n');
    const out = wd!.run(wd!.compile('blkif_bytes', src)).trim().split('\n');
    expect(out.length).toBe(REQUESTS.length + RESPONSES.length);
    REQUESTS.forEach((r, i) => {
      const m = new BufferBytes(new Uint8Array(BLKIF_REQUEST.size));
      encodeRequest(m, 0, r);
      expect(hex(m.buf), `request ${i} (${r.kind})`).toBe(out[i]);
      expect(decodeRequest(new BufferBytes(unhex(out[i])), 0), `decode ${i}`).toEqual(canonical(r));
    });
    RESPONSES.forEach((r, i) => {
      const line = out[REQUESTS.length + i];
      const m = new BufferBytes(new Uint8Array(BLKIF_RESPONSE.size));
      encodeResponse(m, 0, r);
      expect(hex(m.buf), `response ${i}`).toBe(line);
      expect(decodeResponse(new BufferBytes(unhex(line)), 0)).toEqual(r);
    });
    // the sample covers every view, lying nr_segments and the top of the u64 range
    expect(new Set(REQUESTS.map((r) => r.kind)).size).toBe(4);
    expect(REQUESTS.some((r) => r.kind === 'rw' && r.nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST)).toBe(true);
    expect(RESPONSES.some((r) => r.status < 0)).toBe(true);
  });
});
