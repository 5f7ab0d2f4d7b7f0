/**
 * Layout conformance: every struct layout in core/src/abi/structs.ts (and those scheduler plugins
 * declare, see PLUGIN_ABI), and every ABI constant in core/src/abi/xen.ts, against Debian's
 * libxen-dev headers (Xen 4.17, x86_64).
 *
 * A C program is generated from the TypeScript declarations: for each struct it prints sizeof, and
 * for each declared field offsetof, the member's size and its signedness; for each constant the
 * value of the C macro (or enumerator) it mirrors. gcc compiles it against the real headers, and
 * the test compares every number with what TypeScript declares.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as core from '@xenotype/core';
import { SIZE, Struct, abi, type Field, type Scalar } from '@xenotype/core';
import * as schedRtds from '@xenotype/sched-rtds';
import * as schedArinc653 from '@xenotype/sched-arinc653';
import { PRELUDE, Workdir, cstr, toolchain } from './cc';

const tc = toolchain();
const skipNote = tc.ok ? '' : ` [SKIPPED: ${tc.reason}]`;
if (!tc.ok) console.warn(`conformance tests skipped: ${tc.reason}`);

// ---------------------------------------------------------------------------------------------
// Structs

type AnyStruct = Struct<Record<string, Field>>;

/**
 * Plugin modules that declare Xen ABI structs of their own (a scheduler's member of the
 * scheduler_op unions and the structs its guest handles point at): every Struct such a module
 * exports is checked like core's, named `<plugin>.<export>`. List a plugin here when it declares one.
 */
const PLUGIN_ABI: Record<string, Record<string, unknown>> = {
  'sched-rtds': schedRtds,
  'sched-arinc653': schedArinc653,
};

const structs: [string, AnyStruct][] = [
  ...(Object.entries(abi) as [string, unknown][]),
  ...Object.entries(PLUGIN_ABI).flatMap(([plugin, m]) => Object.entries(m).map(([k, v]): [string, unknown] => [`${plugin}.${k}`, v])),
]
  .filter((e): e is [string, AnyStruct] => e[1] instanceof Struct)
  .sort(([a], [b]) => a.localeCompare(b));

/**
 * Fields declared as the first element or first byte of a C array, struct or union. Only their
 * offset is compared with the scalar; their C member size is pinned here, so a new field whose C
 * size differs from its scalar fails until it is listed (with the reason) — or fixed.
 * `elem`: the member is an array whose element type the scalar does describe (checked too).
 */
const OFFSET_ONLY: Record<string, { cSize: number; elem?: boolean; why: string }> = {
  'struct vcpu_info.time': { cSize: 32, why: 'struct vcpu_time_info; version is its first member' },
  'struct shared_info.vcpu_info': { cSize: 32 * 64, why: 'struct vcpu_info[XEN_LEGACY_MAX_VCPUS]' },
  'struct shared_info.evtchn_pending': { cSize: 64 * 8, elem: true, why: 'xen_ulong_t[64]' },
  'struct shared_info.evtchn_mask': { cSize: 64 * 8, elem: true, why: 'xen_ulong_t[64]' },
  'struct start_info.magic': { cSize: 32, elem: true, why: 'char[32]' },
  'struct start_info.cmd_line': { cSize: 1024, elem: true, why: 'int8_t[MAX_GUEST_CMDLINE]' },
  'struct xen_domctl.u': { cSize: 128, why: 'union of the domctl payloads' },
  'struct xen_domctl_createdomain.handle': { cSize: 16, elem: true, why: 'xen_domain_handle_t (uint8_t[16])' },
  'struct xen_domctl_getdomaininfo.handle': { cSize: 16, elem: true, why: 'xen_domain_handle_t (uint8_t[16])' },
  'struct xen_domctl_scheduler_op.u': { cSize: 16, why: 'union of the per-scheduler payloads' },
  'struct xen_sysctl.u': { cSize: 128, why: 'union of the sysctl payloads' },
  'struct xen_sysctl_scheduler_op.u': { cSize: 16, why: 'union of the per-scheduler payloads' },
  'struct xen_sysctl_arinc653_schedule.sched_entries': { cSize: 64 * 32, why: 'sched_entries[ARINC653_MAX_DOMAINS_PER_SCHEDULE] (sched-arinc653)' },
  '__typeof__(((struct xen_sysctl_arinc653_schedule *)0)->sched_entries[0]).dom_handle': { cSize: 16, elem: true, why: 'xen_domain_handle_t (uint8_t[16]) (sched-arinc653)' },
};

/**
 * Guest handles (XEN_GUEST_HANDLE(T), XEN_GUEST_HANDLE_64(T)): in C a struct wrapping one pointer
 * `p`; we declare the address as u64. The generated C touches `.p`, so listing a member that is not
 * a handle fails to compile; a handle that is not listed fails as "not an integer scalar".
 */
const GUEST_HANDLES = new Set([
  'struct gnttab_setup_table.frame_list',
  'struct sched_poll.ports',
  'struct xen_add_to_physmap_batch.idxs',
  'struct xen_add_to_physmap_batch.gpfns',
  'struct xen_add_to_physmap_batch.errs',
  'struct xen_domctl_vcpuaffinity.hard_bitmap',
  'struct xen_domctl_vcpuaffinity.soft_bitmap',
  'struct xen_domctl_vcpucontext.ctxt',
  'struct xen_memory_reservation.extent_start',
  'struct xen_sysctl_cpupool_op.cpumap_bitmap',
  'struct xen_sysctl_debug_keys.keys',
  'struct xen_sysctl_getdomaininfolist.buffer',
  'struct xenctl_bitmap.bitmap',
  'struct xen_sysctl_sched_arinc653.schedule',
  '__typeof__(((struct xen_domctl_scheduler_op *)0)->u.v).vcpus',
]);
/** The "signedness" the generated C reports for a guest handle. */
const HANDLE = 2;

const key = (s: AnyStruct, k: string) => `${s.cname}.${k}`;
const signedScalar = (t: Scalar) => t.startsWith('i');

function layoutProgram(): string {
  const lines: string[] = [
    PRELUDE,
    // 1 signed integer, 0 unsigned, -1 not an integer scalar (array, struct, union, pointer).
    `#define SIGNEDNESS(x) _Generic((x), \\
  char: (char)-1 < 0, signed char: 1, short: 1, int: 1, long: 1, long long: 1, \\
  unsigned char: 0, unsigned short: 0, unsigned int: 0, unsigned long: 0, unsigned long long: 0, \\
  default: -1)`,
    `#define M(T, m) (((T *)0)->m)`,
    'int main(void) {',
  ];
  for (const [, s] of structs) {
    const T = s.cname;
    lines.push(`  printf("S|%s|%zu\\n", ${cstr(T)}, sizeof(${T}));`);
    for (const [k, f] of Object.entries(s.fields)) {
      const m = f.c ?? k;
      const o = OFFSET_ONLY[key(s, k)];
      const sign = o ? '-1' : GUEST_HANDLES.has(key(s, k)) ? `(sizeof(M(${T}, ${m}).p) == 8 ? ${HANDLE} : -2)` : `SIGNEDNESS(M(${T}, ${m}))`;
      const elem = o?.elem ? `sizeof(M(${T}, ${m})[0])` : '0';
      lines.push(`  printf("F|%s|%s|%zu|%zu|%d|%zu\\n", ${cstr(T)}, ${cstr(k)}, offsetof(${T}, ${m}), sizeof(M(${T}, ${m})), ${sign}, (size_t)${elem});`);
    }
  }
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

interface CField {
  off: number;
  size: number;
  signed: number;
  elem: number;
}

// ---------------------------------------------------------------------------------------------
// Constants

interface Const {
  /** Our name, e.g. "HYPERVISOR.memory_op". */
  ts: string;
  /** The C expression, usually a macro or enumerator name. */
  c: string;
  value: number;
}

/** Constant groups: our object, and how a key becomes the C name. */
const GROUPS: [string, Record<string, number>, (k: string) => string][] = [
  ['HYPERVISOR', core.HYPERVISOR, (k) => `__HYPERVISOR_${k}`],
  ['Errno', core.Errno, (k) => `XEN_${k}`],
  ['VIRQ', core.VIRQ, (k) => `VIRQ_${k}`],
  ['EVTCHNOP', core.EVTCHNOP, (k) => `EVTCHNOP_${k}`],
  ['EVTCHNSTAT', core.EVTCHNSTAT, (k) => `EVTCHNSTAT_${k}`],
  ['GNTTABOP', core.GNTTABOP, (k) => `GNTTABOP_${k}`],
  ['GNTST', core.GNTST, (k) => `GNTST_${k}`],
  ['GTF', core.GTF, (k) => `GTF_${k}`],
  ['GNTMAP', core.GNTMAP, (k) => `GNTMAP_${k}`],
  ['GNTCOPY', core.GNTCOPY, (k) => `GNTCOPY_${k}`],
  ['XENMEM', core.XENMEM, (k) => `XENMEM_${k}`],
  ['XENMAPSPACE', core.XENMAPSPACE, (k) => `XENMAPSPACE_${k}`],
  ['SCHEDOP', core.SCHEDOP, (k) => `SCHEDOP_${k}`],
  ['SHUTDOWN', core.SHUTDOWN, (k) => `SHUTDOWN_${k}`],
  ['VCPUOP', core.VCPUOP, (k) => `VCPUOP_${k}`],
  ['RUNSTATE', core.RUNSTATE, (k) => `RUNSTATE_${k}`],
  ['XENVER', core.XENVER, (k) => `XENVER_${k}`],
  ['CONSOLEIO', core.CONSOLEIO, (k) => `CONSOLEIO_${k}`],
  ['DOMCTL', core.DOMCTL, (k) => `XEN_DOMCTL_${k}`],
  ['XEN_DOMINF', core.XEN_DOMINF, (k) => `XEN_DOMINF_${k}`],
  ['XEN_VCPUAFFINITY', core.XEN_VCPUAFFINITY, (k) => `XEN_VCPUAFFINITY_${k.toUpperCase()}`],
  ['XEN_DOMCTL_SCHEDOP', core.XEN_DOMCTL_SCHEDOP, (k) => `XEN_DOMCTL_SCHEDOP_${k}`],
  ['XEN_SCHEDULER', core.XEN_SCHEDULER, (k) => `XEN_SCHEDULER_${k}`],
  ['SYSCTL', core.SYSCTL, (k) => `XEN_SYSCTL_${k}`],
  ['XEN_SYSCTL_CPUPOOL_OP', core.XEN_SYSCTL_CPUPOOL_OP, (k) => `XEN_SYSCTL_CPUPOOL_OP_${k}`],
  ['XEN_SYSCTL_SCHEDOP', core.XEN_SYSCTL_SCHEDOP, (k) => `XEN_SYSCTL_SCHEDOP_${k}`],
  ['SIF', core.SIF, (k) => `SIF_${k.toUpperCase()}`],
];

/** Single constants: our name, value, and the C expression it must equal. */
const SINGLES: Const[] = [
  { ts: 'XEN_DOMCTL_INTERFACE_VERSION', c: 'XEN_DOMCTL_INTERFACE_VERSION', value: core.XEN_DOMCTL_INTERFACE_VERSION },
  { ts: 'XEN_SYSCTL_INTERFACE_VERSION', c: 'XEN_SYSCTL_INTERFACE_VERSION', value: core.XEN_SYSCTL_INTERFACE_VERSION },
  { ts: 'DOMID_FIRST_RESERVED', c: 'DOMID_FIRST_RESERVED', value: core.DOMID_FIRST_RESERVED },
  { ts: 'DOMID_SELF', c: 'DOMID_SELF', value: core.DOMID_SELF },
  { ts: 'DOMID_IO', c: 'DOMID_IO', value: core.DOMID_IO },
  { ts: 'DOMID_XEN', c: 'DOMID_XEN', value: core.DOMID_XEN },
  { ts: 'DOMID_COW', c: 'DOMID_COW', value: core.DOMID_COW },
  { ts: 'DOMID_INVALID', c: 'DOMID_INVALID', value: core.DOMID_INVALID },
  { ts: 'DOMID_IDLE', c: 'DOMID_IDLE', value: core.DOMID_IDLE },
  { ts: 'NR_VIRQS', c: 'NR_VIRQS', value: core.NR_VIRQS },
  { ts: 'EVTCHN_2L_NR_CHANNELS', c: 'EVTCHN_2L_NR_CHANNELS', value: core.EVTCHN_2L_NR_CHANNELS },
  { ts: 'GNTTAB_RESERVED_CONSOLE', c: 'GNTTAB_RESERVED_CONSOLE', value: core.GNTTAB_RESERVED_CONSOLE },
  { ts: 'GNTTAB_RESERVED_XENSTORE', c: 'GNTTAB_RESERVED_XENSTORE', value: core.GNTTAB_RESERVED_XENSTORE },
  { ts: 'GRANT_ENTRIES_PER_FRAME_V1', c: '(1 << XEN_PAGE_SHIFT) / sizeof(grant_entry_v1_t)', value: core.GRANT_ENTRIES_PER_FRAME_V1 },
  { ts: 'XENMAPIDX_grant_table_status', c: 'XENMAPIDX_grant_table_status', value: core.XENMAPIDX_grant_table_status },
  { ts: 'VCPU_SSHOTTMR_future', c: 'VCPU_SSHOTTMR_future', value: core.VCPU_SSHOTTMR_future },
  { ts: 'XEN_RUNSTATE_UPDATE_HI', c: 'XEN_RUNSTATE_UPDATE >> 32', value: core.XEN_RUNSTATE_UPDATE_HI },
  { ts: 'XEN_SYSCTL_CPUPOOL_PAR_ANY', c: 'XEN_SYSCTL_CPUPOOL_PAR_ANY', value: core.XEN_SYSCTL_CPUPOOL_PAR_ANY },
  { ts: 'MAX_GUEST_CMDLINE', c: 'MAX_GUEST_CMDLINE', value: core.MAX_GUEST_CMDLINE },
  { ts: 'XEN_LEGACY_MAX_VCPUS', c: 'XEN_LEGACY_MAX_VCPUS', value: core.XEN_LEGACY_MAX_VCPUS },
  { ts: 'XEN_PVCLOCK_TSC_STABLE_BIT', c: 'XEN_PVCLOCK_TSC_STABLE_BIT', value: core.XEN_PVCLOCK_TSC_STABLE_BIT },
  { ts: 'PAGE_SHIFT', c: 'XEN_PAGE_SHIFT', value: core.PAGE_SHIFT },
  { ts: 'PAGE_SIZE', c: '1 << XEN_PAGE_SHIFT', value: core.PAGE_SIZE },
  // Layout constants beside the structs (offsets into arrays and unions).
  { ts: 'abi.VGCF_online', c: 'VGCF_online', value: abi.VGCF_online },
  { ts: 'abi.VCPU_INFO_SIZE', c: 'sizeof(struct vcpu_info)', value: abi.VCPU_INFO_SIZE },
  { ts: 'abi.VCPU_INFO_TIME_OFFSET', c: 'offsetof(struct vcpu_info, time)', value: abi.VCPU_INFO_TIME_OFFSET },
  { ts: 'abi.SHINFO_EVTCHN_PENDING', c: 'offsetof(struct shared_info, evtchn_pending)', value: abi.SHINFO_EVTCHN_PENDING },
  { ts: 'abi.SHINFO_EVTCHN_MASK', c: 'offsetof(struct shared_info, evtchn_mask)', value: abi.SHINFO_EVTCHN_MASK },
  { ts: 'abi.START_INFO_MAGIC_LEN', c: 'sizeof(((struct start_info *)0)->magic)', value: abi.START_INFO_MAGIC_LEN },
  { ts: 'abi.START_INFO_CMDLINE', c: 'offsetof(struct start_info, cmd_line)', value: abi.START_INFO_CMDLINE },
  { ts: 'abi.DOMCTL_U', c: 'offsetof(struct xen_domctl, u)', value: abi.DOMCTL_U },
  { ts: 'abi.DOMCTL_SCHEDOP_U', c: 'offsetof(struct xen_domctl_scheduler_op, u)', value: abi.DOMCTL_SCHEDOP_U },
  { ts: 'abi.SYSCTL_U', c: 'offsetof(struct xen_sysctl, u)', value: abi.SYSCTL_U },
  { ts: 'abi.SYSCTL_SCHEDOP_U', c: 'offsetof(struct xen_sysctl_scheduler_op, u)', value: abi.SYSCTL_SCHEDOP_U },
  // Constants scheduler plugins declare.
  { ts: 'sched-rtds.XEN_DOMCTL_SCHEDRT_extra', c: 'XEN_DOMCTL_SCHEDRT_extra', value: schedRtds.XEN_DOMCTL_SCHEDRT_extra },
  { ts: 'sched-arinc653.ARINC653_MAX_ENTRIES', c: 'ARINC653_MAX_DOMAINS_PER_SCHEDULE', value: schedArinc653.ARINC653_MAX_ENTRIES },
];

/**
 * Constants the 4.17 headers do not define, and why we keep them. Each is checked to be still
 * absent (a macro that appears must be removed from this list and compared).
 */
const SKIP: Record<string, string> = {
  'XEN_SCHEDULER.BVT': "Xen 2.0's BVT scheduler id; removed from Xen long before 4.17 (sched-bvt uses it)",
  'XEN_SCHEDULER.FBVT': "Xen 2.0's fair BVT id; never in 4.x",
  'XEN_SCHEDULER.ATROPOS': "Xen 2.0's Atropos id; never in 4.x",
  'XEN_SCHEDULER.RROBIN': "Xen 2.0's round-robin id; never in 4.x (sched-rr uses it)",
  'XEN_SCHEDULER.SEDF': 'SEDF was removed in Xen 4.6; domctl.h keeps 4 only as a comment',
};

/**
 * Errno values errno.h defines only for the hypervisor itself (inside `#ifdef __XEN__`: "internal
 * only, should never be exposed to the guest"). A toolstack build cannot see XEN_EINTR; they are
 * compared with the header's own XEN_ERRNO() table expanded as Xen does, with __XEN__ defined.
 */
const XEN_INTERNAL_ERRNOS: Record<string, string> = {
  EINTR: 'hypercall preemption inside Xen; never returned to a guest',
  ERESTART: 'hypercall continuation inside Xen; never returned to a guest',
};

const constants: (Const & { skip?: string; internal?: boolean })[] = [
  ...GROUPS.flatMap(([g, obj, cname]) =>
    Object.entries(obj).map(([k, value]) => ({
      ts: `${g}.${k}`,
      c: cname(k),
      value,
      skip: SKIP[`${g}.${k}`],
      internal: g === 'Errno' && k in XEN_INTERNAL_ERRNOS,
    })),
  ),
  ...SINGLES,
];

function constantsProgram(): string {
  const lines = [
    PRELUDE,
    '#include <xen/io/ring.h>',
    // errno.h's X-macro form (no include guard): every XEN_ERRNO(name, value) entry as Xen itself
    // sees them, including the __XEN__-only ones.
    'static void xen_errno_table(void) {',
    '#define __XEN__',
    '#define XEN_ERRNO(name, value) printf("X Errno.%s %d\\n", #name, value);',
    '#include <xen/errno.h>',
    '#undef __XEN__',
    '}',
    'int main(void) {',
    '  xen_errno_table();',
  ];
  for (const k of constants) {
    if (k.skip) lines.push(`#ifdef ${k.c}`, `  printf("PRESENT %s\\n", ${cstr(k.ts)});`, '#endif');
    else if (!k.internal) lines.push(`  printf("K %s %lld\\n", ${cstr(k.ts)}, (long long)(${k.c}));`);
  }
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!tc.ok)(`ABI layouts against /usr/include/xen${skipNote}`, () => {
  let wd: Workdir;
  const sizes = new Map<string, number>();
  const fields = new Map<string, CField>();
  const consts = new Map<string, bigint>();
  /** errno.h's full table (with __XEN__), by our name "Errno.EPERM". */
  const errnoTable = new Map<string, bigint>();
  const present: string[] = [];

  beforeAll(() => {
    wd = new Workdir();
    for (const line of wd.run(wd.compile('layout', layoutProgram())).trim().split('\n')) {
      const [tag, T, ...rest] = line.split('|');
      if (tag === 'S') sizes.set(T, Number(rest[0]));
      else {
        const [k, off, size, signed, elem] = rest;
        fields.set(`${T}.${k}`, { off: Number(off), size: Number(size), signed: Number(signed), elem: Number(elem) });
      }
    }
    for (const line of wd.run(wd.compile('constants', constantsProgram())).trim().split('\n')) {
      const [tag, name, v] = line.split(' ');
      if (tag === 'K') consts.set(name, BigInt(v));
      else if (tag === 'X') errnoTable.set(name, BigInt(v));
      else present.push(name);
    }
  });
  afterAll(() => wd?.dispose());

  it('declares a good number of structs and fields (the generator found them)', () => {
    expect(structs.length).toBeGreaterThanOrEqual(50);
    expect(fields.size).toBe(structs.reduce((n, [, s]) => n + Object.keys(s.fields).length, 0));
  });

  it.each(structs)('%s: sizeof, and each field’s offset, size and signedness', (_name, s) => {
    expect(sizes.get(s.cname), `sizeof(${s.cname})`).toBe(s.size);
    for (const [k, f] of Object.entries(s.fields)) {
      const c = fields.get(key(s, k))!;
      const what = `${s.cname}: ${f.c ?? k}`;
      expect(c.off, `${what} offset`).toBe(f.off);
      const o = OFFSET_ONLY[key(s, k)];
      if (o) {
        expect(c.size, `${what}: C size (pinned in OFFSET_ONLY)`).toBe(o.cSize);
        expect(c.size, `${what}: C size equals the scalar; remove it from OFFSET_ONLY`).not.toBe(SIZE[f.type]);
        if (o.elem) expect(c.elem, `${what}: element size`).toBe(SIZE[f.type]);
      } else if (GUEST_HANDLES.has(key(s, k))) {
        expect(f.type, `${what}: a guest handle is declared u64`).toBe('u64');
        expect([c.size, c.signed], `${what}: a handle of one 64-bit pointer`).toEqual([8, HANDLE]);
      } else {
        expect(c.size, `${what} size (declared ${f.type})`).toBe(SIZE[f.type]);
        expect(c.signed, `${what} is not an integer scalar in C (an array or union: OFFSET_ONLY; a handle: GUEST_HANDLES)`).not.toBe(-1);
        expect(c.signed === 1, `${what} signedness (declared ${f.type})`).toBe(signedScalar(f.type));
      }
      // Fields lie inside the struct.
      expect(f.off + SIZE[f.type], `${what} inside the struct`).toBeLessThanOrEqual(s.size);
    }
  });

  it('OFFSET_ONLY and GUEST_HANDLES name only declared fields', () => {
    const declared = new Set(structs.flatMap(([, s]) => Object.keys(s.fields).map((k) => key(s, k))));
    expect(Object.keys(OFFSET_ONLY).filter((k) => !declared.has(k))).toEqual([]);
    expect([...GUEST_HANDLES].filter((k) => !declared.has(k))).toEqual([]);
  });

  it('every constant equals its C counterpart', () => {
    const wrong: string[] = [];
    for (const k of constants) {
      if (k.skip || k.internal) continue;
      const c = consts.get(k.ts);
      if (c !== BigInt(k.value)) wrong.push(`${k.ts} = ${k.value}, but ${k.c} = ${c}`);
    }
    expect(wrong).toEqual([]);
    expect(consts.size).toBe(constants.filter((k) => !k.skip && !k.internal).length);
    console.info(`layout conformance: ${structs.length} structs, ${fields.size} fields, ${consts.size} constants (+${errnoTable.size} errno.h entries)`);
  });

  it("every Errno value equals errno.h's table as Xen itself sees it (__XEN__-only ones included)", () => {
    const wrong = Object.entries(core.Errno)
      .map(([k, v]) => [`Errno.${k}`, v] as const)
      .filter(([k, v]) => errnoTable.get(k) !== BigInt(v))
      .map(([k, v]) => `${k} = ${v}, errno.h says ${errnoTable.get(k)}`);
    expect(wrong).toEqual([]);
    // The internal list is exact: those names are in the table, but not in the tools' enum.
    for (const k of Object.keys(XEN_INTERNAL_ERRNOS)) {
      expect(errnoTable.has(`Errno.${k}`), k).toBe(true);
      expect(consts.has(`Errno.${k}`), k).toBe(false);
    }
  });

  it('skipped constants are still absent from the headers, and the skip list is exact', () => {
    expect(present).toEqual([]);
    const names = new Set(constants.map((k) => k.ts));
    expect(Object.keys(SKIP).filter((k) => !names.has(k))).toEqual([]);
  });
});

if (!tc.ok) {
  describe('ABI layouts against /usr/include/xen', () => {
    it.skip(`skipped: ${tc.reason}`, () => {});
  });
}
