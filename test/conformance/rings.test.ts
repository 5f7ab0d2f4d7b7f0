/**
 * Ring conformance: @xenotype/ring and @xenotype/console against Xen's io/ring.h and io/console.h.
 *
 * 1. Layout: XenbusState (io/xenbus.h) and the protocol names (io/protocols.h); DEFINE_RING_TYPES with test request/response structs of several sizes and alignments;
 *    the sring header offsets, sizeof the entry union and __CONST_RING_SIZE for one and two pages
 *    are compared with ring's layout functions. struct xencons_interface offsets likewise.
 * 2. Behaviour, byte for byte: a script of produce / push-and-check-notify / consume /
 *    final-check operations on both halves (generated here, starting near 2^32 so indices wrap) runs
 *    through ring.h's macros in C and through FrontRing/BackRing; every notify and final-check
 *    result, every entry consumed, and the final shared area must be identical.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferBytes } from '@xenotype/core';
import { BackRing, FrontRing, SRING, ringSize, sharedRingInit, unionSize, type EntryCodec } from '@xenotype/ring';
import { CONSOLE_IN, CONSOLE_OUT, XENCONS_INTERFACE_SIZE } from '@xenotype/console';
import { XEN_IO_PROTO_ABI, XEN_IO_PROTO_ABI_NATIVE, XenbusState } from '@xenotype/xenbus';
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
/* ring.h leaves the barriers to its user (libxenctrl defines them for x86 as below) */
#define xen_mb()  __sync_synchronize()
#define xen_rmb() __asm__ __volatile__ ("" ::: "memory")
#define xen_wmb() __asm__ __volatile__ ("" ::: "memory")
#include <xen/io/ring.h>
#include <xen/io/console.h>
#include <xen/io/xenbus.h>
#include <xen/io/protocols.h>
`;

/** Test entries: a struct of `size` bytes whose strictest member has alignment `align`. */
const SHAPES: { name: string; req: [number, number]; rsp: [number, number] }[] = [
  { name: 'a', req: [8, 1], rsp: [8, 1] },
  { name: 'b', req: [12, 4], rsp: [6, 2] },
  { name: 'c', req: [20, 4], rsp: [16, 8] },
  { name: 'd', req: [112, 8], rsp: [16, 8] }, // blkif-sized
  { name: 'e', req: [1000, 8], rsp: [8, 1] },
  { name: 'f', req: [2016, 8], rsp: [8, 8] },
  { name: 'g', req: [4032, 8], rsp: [8, 8] },
  { name: 'h', req: [4040, 8], rsp: [8, 8] },
];

const ctype = (size: number, align: number): string => {
  const t = { 1: 'uint8_t', 2: 'uint16_t', 4: 'uint32_t', 8: 'uint64_t' }[align]!;
  return `struct { ${t} a; uint8_t pad[${size - align}]; }`;
};

describe(`io/ring.h and io/console.h layouts${skipNote}`, () => {
  it.skipIf(!tc.ok)('sring header offsets, entry union size and __CONST_RING_SIZE match ring.h', () => {
    const lines = [HEADERS];
    for (const s of SHAPES) {
      lines.push(`typedef ${ctype(...s.req)} ${s.name}_req_t;`, `typedef ${ctype(...s.rsp)} ${s.name}_rsp_t;`, `DEFINE_RING_TYPES(${s.name}, ${s.name}_req_t, ${s.name}_rsp_t);`);
    }
    lines.push('int main(void) {');
    for (const s of SHAPES) {
      const st = `struct ${s.name}_sring`;
      for (const f of ['req_prod', 'req_event', 'rsp_prod', 'rsp_event', 'pvt', '__pad', 'ring'])
        lines.push(`printf("${s.name}.${f}=%zu\\n", offsetof(${st}, ${f}));`);
      lines.push(`printf("${s.name}.entry=%zu\\n", sizeof(((${st} *)0)->ring[0]));`);
      lines.push(`printf("${s.name}.size1=%lu\\n", (unsigned long)__CONST_RING_SIZE(${s.name}, 4096));`);
      lines.push(`printf("${s.name}.size2=%lu\\n", (unsigned long)__CONST_RING_SIZE(${s.name}, 8192));`);
    }
    for (const f of ['in', 'out', 'in_cons', 'in_prod', 'out_cons', 'out_prod'])
      lines.push(`printf("cons.${f}=%zu\\n", offsetof(struct xencons_interface, ${f}));`);
    lines.push(`printf("cons.size=%zu\\n", sizeof(struct xencons_interface));`);
    lines.push('return 0; }');
    const kv = parseKv(wd!.run(wd!.compile('ring_layout', lines.join('\n'))));
    const num = (k: string) => Number(kv.get(k));

    for (const s of SHAPES) {
      expect([num(`${s.name}.req_prod`), num(`${s.name}.req_event`), num(`${s.name}.rsp_prod`), num(`${s.name}.rsp_event`)]).toEqual([SRING.reqProd, SRING.reqEvent, SRING.rspProd, SRING.rspEvent]);
      expect([num(`${s.name}.pvt`), num(`${s.name}.__pad`), num(`${s.name}.ring`)]).toEqual([SRING.pvt, SRING.pad, SRING.ring]);
      const entry = unionSize({ size: s.req[0], align: s.req[1] }, { size: s.rsp[0], align: s.rsp[1] });
      expect(num(`${s.name}.entry`), s.name).toBe(entry);
      expect(num(`${s.name}.size1`), s.name).toBe(ringSize(entry));
      expect(num(`${s.name}.size2`), s.name).toBe(ringSize(entry, 8192));
    }
    expect(num('cons.in')).toBe(CONSOLE_IN.data);
    expect(num('cons.out')).toBe(CONSOLE_OUT.data);
    expect([num('cons.in_cons'), num('cons.in_prod'), num('cons.out_cons'), num('cons.out_prod')]).toEqual([CONSOLE_IN.cons, CONSOLE_IN.prod, CONSOLE_OUT.cons, CONSOLE_OUT.prod]);
    expect([CONSOLE_IN.size, CONSOLE_OUT.size]).toEqual([1024, 2048]);
    expect(num('cons.size')).toBe(XENCONS_INTERFACE_SIZE);
  });
});

// ---------------------------------------------------------------------------------------------
// Behaviour

type Op = [code: number, arg: number];
const AREA = 64 + 16 * 8; // a 16-entry ring of 8-byte entries, so slots wrap often
const codec: EntryCodec<number> = { size: 8, read: (m, a) => m.getU32(a), write: (m, a, v) => m.setU32(a, v) };

function scriptFor(seed: number): Op[] {
  const op = fc.oneof(
    fc.tuple(fc.constant(0), fc.integer({ min: 1, max: 20 })),
    fc.tuple(fc.constant(1), fc.constant(0)),
    fc.tuple(fc.constant(2), fc.integer({ min: 1, max: 20 })),
    fc.tuple(fc.constant(3), fc.constant(0)),
    fc.tuple(fc.constant(4), fc.integer({ min: 1, max: 20 })),
    fc.tuple(fc.constant(5), fc.integer({ min: 1, max: 20 })),
    fc.tuple(fc.constant(6), fc.constant(0)),
    fc.tuple(fc.constant(7), fc.constant(0)),
  );
  return fc.sample(fc.array(op, { minLength: 3000, maxLength: 3000 }), { seed, numRuns: 1 })[0] as Op[];
}

function cProgram(script: Op[], start: number): string {
  return `${HEADERS}
struct t_req { uint32_t id; uint32_t pad; };
struct t_rsp { uint32_t id; uint32_t pad; };
DEFINE_RING_TYPES(t, struct t_req, struct t_rsp);
static const int script[] = { ${script.flat().join(',')} };
static uint64_t area[${AREA / 8}];
int main(void) {
  t_sring_t *s = (t_sring_t *)area;
  t_front_ring_t fr; t_back_ring_t br;
  unsigned int id = 0, q[64], qh = 0, qt = 0;
  int notify, work;
  SHARED_RING_INIT(s);
  s->req_prod = s->rsp_prod = ${start}u; s->req_event = s->rsp_event = ${start}u + 1;
  FRONT_RING_ATTACH(&fr, s, ${start}u, ${AREA});
  BACK_RING_ATTACH(&br, s, ${start}u, ${AREA});
  for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i += 2) {
    int n = script[i + 1];
    switch (script[i]) {
    case 0: while (n-- > 0 && !RING_FULL(&fr)) { RING_GET_REQUEST(&fr, fr.req_prod_pvt)->id = id++; fr.req_prod_pvt++; } break;
    case 1: RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify); printf("fpush %d\\n", notify); break;
    case 2: while (n-- > 0 && RING_HAS_UNCONSUMED_RESPONSES(&fr)) { struct t_rsp r; RING_COPY_RESPONSE(&fr, fr.rsp_cons, &r); fr.rsp_cons++; printf("frsp %u\\n", r.id); } break;
    case 3: RING_FINAL_CHECK_FOR_RESPONSES(&fr, work); printf("ffinal %d\\n", !!work); break;
    case 4: while (n-- > 0 && RING_HAS_UNCONSUMED_REQUESTS(&br)) { struct t_req r; RING_COPY_REQUEST(&br, br.req_cons, &r); br.req_cons++; q[qt++ % 64] = r.id; printf("breq %u\\n", r.id); } break;
    case 5: while (n-- > 0 && qh != qt) { RING_GET_RESPONSE(&br, br.rsp_prod_pvt)->id = q[qh++ % 64] + 1000000; br.rsp_prod_pvt++; } break;
    case 6: RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&br, notify); printf("bpush %d\\n", notify); break;
    case 7: RING_FINAL_CHECK_FOR_REQUESTS(&br, work); printf("bfinal %d\\n", !!work); break;
    }
  }
  printf("pvt %u %u %u %u\\n", fr.req_prod_pvt, fr.rsp_cons, br.req_cons, br.rsp_prod_pvt);
  printf("area");
  for (size_t i = 0; i < ${AREA}; i++) printf(" %02x", ((uint8_t *)area)[i]);
  printf("\\n");
  return 0;
}
`;
}

function tsRun(script: Op[], start: number): string[] {
  const mem = new BufferBytes(new Uint8Array(AREA));
  sharedRingInit(mem, 0);
  mem.setU32(SRING.reqProd, start);
  mem.setU32(SRING.rspProd, start);
  mem.setU32(SRING.reqEvent, (start + 1) >>> 0);
  mem.setU32(SRING.rspEvent, (start + 1) >>> 0);
  const fr = FrontRing.attach(mem, 0, codec, codec, { start, bytes: AREA });
  const br = BackRing.attach(mem, 0, codec, codec, { start, bytes: AREA });
  const out: string[] = [];
  const q: number[] = [];
  let id = 0;
  for (const [code, arg] of script) {
    let n = arg;
    switch (code) {
      case 0:
        while (n-- > 0 && !fr.full()) fr.produceRequest(id++);
        break;
      case 1:
        out.push(`fpush ${+fr.pushRequestsAndCheckNotify()}`);
        break;
      case 2:
        for (let r; n-- > 0 && (r = fr.takeResponse()) !== null; ) out.push(`frsp ${r}`);
        break;
      case 3:
        out.push(`ffinal ${+fr.finalCheckForResponses()}`);
        break;
      case 4:
        for (let r; n-- > 0 && (r = br.takeRequest()) !== null; ) {
          q.push(r);
          out.push(`breq ${r}`);
        }
        break;
      case 5:
        while (n-- > 0 && q.length > 0) br.produceResponse(q.shift()! + 1000000);
        break;
      case 6:
        out.push(`bpush ${+br.pushResponsesAndCheckNotify()}`);
        break;
      case 7:
        out.push(`bfinal ${+br.finalCheckForRequests()}`);
        break;
    }
  }
  out.push(`pvt ${fr.reqProdPvt} ${fr.rspCons} ${br.reqCons} ${br.rspProdPvt}`);
  out.push('area' + [...mem.getBytes(0, AREA)].map((b) => ' ' + b.toString(16).padStart(2, '0')).join(''));
  return out;
}

describe(`io/xenbus.h and io/protocols.h${skipNote}`, () => {
  it.skipIf(!tc.ok)('XenbusState values and protocol names match the headers', () => {
    const names = Object.keys(XenbusState);
    const src = [
      HEADERS,
      'int main(void) {',
      ...names.map((n) => `printf("${n}=%d\\n", (int)XenbusState${n});`),
      ...Object.keys(XEN_IO_PROTO_ABI).map((k) => `printf("proto.${k}=%s\\n", XEN_IO_PROTO_ABI_${k.toUpperCase()});`),
      'printf("proto.native=%s\\n", XEN_IO_PROTO_ABI_NATIVE);',
      'return 0; }',
    ].join('\n');
    const kv = parseKv(wd!.run(wd!.compile('xenbus_consts', src)));
    for (const n of names) expect(Number(kv.get(n)), n).toBe(XenbusState[n as keyof typeof XenbusState]);
    for (const [k, v] of Object.entries(XEN_IO_PROTO_ABI)) expect(kv.get(`proto.${k}`)).toBe(v);
    expect(kv.get('proto.native')).toBe(XEN_IO_PROTO_ABI_NATIVE);
  });
});

describe(`ring.h behaviour, byte for byte${skipNote}`, () => {
  it.skipIf(!tc.ok).each([
    [1, 0],
    [2, 2 ** 32 - 37],
    [3, 2 ** 31 - 5],
  ])('script %i from index %i: every result, entry and final byte equals the C macros', (seed, start) => {
    const script = scriptFor(seed);
    const c = wd!.run(wd!.compile(`ring_script_${seed}`, cProgram(script, start))).trim().split('\n');
    const ts = tsRun(script, start);
    expect(ts.length).toBe(c.length);
    expect(ts).toEqual(c);
    // the scripts exercise both outcomes of every check, and wrap the indices
    for (const k of ['fpush', 'bpush', 'ffinal', 'bfinal']) {
      expect(c).toContain(`${k} 0`);
      expect(c).toContain(`${k} 1`);
    }
    expect(c.filter((l) => l.startsWith('frsp')).length).toBeGreaterThan(500);
  });
});
