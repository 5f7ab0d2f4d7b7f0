/**
 * ARINC 653 — a fixed cyclic schedule of partitions (DornerWorks 2010; Xen 4.1+,
 * xen/common/sched/arinc653.c; schedulers.md §2.8), with Xen 4.21's per-pool state.
 *
 * Design: each cpupool instance holds one schedule table: a major frame (ns) and up to 64 minor
 * frames, each naming a vCPU by its domain's handle (UUID) and vcpu id, with a runtime (ns). The
 * minor frames run back to back from the start of every major frame; whatever the major frame has
 * left after the last one is idle. do_schedule finds the minor frame containing `now` (starting a
 * new major frame, aligned to the table's start by modulo arithmetic, once `now` has passed the
 * previous one), runs that entry's vCPU if it is awake, runnable and placed on this pCPU — else
 * idle — and asks to be called again exactly at the next minor-frame boundary. Units not in the
 * table never run. A table entry is bound to its unit by (handle, vcpu id) whenever the table is
 * set and whenever a unit of this pool is allocated or freed, as Xen's update_schedule_units does.
 *
 * Dom0's vCPUs are appended to the table when they are created in this pool (10 ms each, and the
 * major frame is 10 ms per dom0 vCPU), so a host booted with ARINC 653 runs dom0. A table set
 * later replaces everything: include dom0 (handle all zeros) if dom0 must keep running.
 *
 * Table: XEN_SYSCTL_scheduler_op with `u.sched_arinc653.schedule`, a guest handle to
 * `struct xen_sysctl_arinc653_schedule { u64 major_frame; u8 num_sched_entries;
 * { xen_domain_handle_t dom_handle; u32 vcpu_id; u64 runtime; } sched_entries[64]; }` in the
 * caller's memory (copied in whole, as copy_from_guest does: a fault is -EFAULT). putinfo checks
 * 0 < major_frame, 1 ≤ num ≤ 64, every runtime > 0 and Σ runtime ≤ major_frame (else -EINVAL,
 * nothing changed) and installs it at once; getinfo writes the table back. No per-domain
 * parameters and no trace events (as Xen: its class id 3 is reserved but unused).
 *
 * Choices, stated:
 *  - Xen 4.21's fix is followed: sched_index and next_switch_time live in the pool's instance (in
 *    4.17 they were function-static, shared by every pCPU and every pool), and missed major frames
 *    are skipped by modulo arithmetic instead of BUG().
 *  - A new table takes effect immediately: its first major frame starts at the instant of the
 *    sysctl and every pCPU of the pool is asked to reschedule. Xen sets the same frame start but
 *    waits for each pCPU's next scheduling event (at most the rest of the current minor frame).
 *  - Designed, as Xen's, for one pCPU per pool: with more, every pCPU follows the same table and
 *    runs an entry only if its unit is placed on that pCPU; pick_resource keeps a unit where it is
 *    if that pCPU is in the pool, else takes the pool's first pCPU.
 *  - The default table has no idle gap (4.22's 6d412c0599): 4.17–4.21 started the major frame at
 *    10 ms and then added 10 ms per dom0 vCPU, leaving 10 ms idle in every frame.
 *  - major_frame and runtimes above 2^53 − 1 ns (285 years) are -EINVAL (we keep time in exact JS
 *    numbers); Xen compares them as signed 64-bit values.
 *
 * Invariants (checkArinc653): Σ runtime ≤ major frame; 0 ≤ index ≤ number of entries; the current
 * minor frame ends at or before the current major frame; a bound entry's unit is a live unit of
 * this pool whose handle and vcpu id match the entry; a pCPU runs either idle or the unit of the
 * current entry.
 */
import {
  BufferBytes,
  Errno,
  XEN_SCHEDULER,
  XEN_SYSCTL_SCHEDOP,
  ms,
  struct,
  u32,
  u64,
  u8,
  type ByteAccess,
  type Ns,
  type PcpuId,
  type SchedContext,
  type SchedDomain,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

/** ARINC653_MAX_DOMAINS_PER_SCHEDULE. */
export const ARINC653_MAX_ENTRIES = 64;
/** Xen's DEFAULT_TIMESLICE: dom0's minor frames and the empty table's major frame. */
export const ARINC653_DEFAULT_TIMESLICE = ms(10);

/** struct xen_sysctl_sched_arinc653: the sysctl payload, one guest handle. */
export const xenSysctlSchedArinc653 = struct('struct xen_sysctl_sched_arinc653', 8, { schedule: u64(0) });
/** struct xen_sysctl_arinc653_schedule (2064 bytes), which that handle points at. */
export const xenSysctlArinc653Schedule = struct('struct xen_sysctl_arinc653_schedule', 2064, {
  major_frame: u64(0),
  num_sched_entries: u8(8),
  sched_entries: u8(16),
});
/** One element of sched_entries[] (32 bytes). */
export const xenArinc653Entry = struct('__typeof__(((struct xen_sysctl_arinc653_schedule *)0)->sched_entries[0])', 32, {
  dom_handle: u8(0),
  vcpu_id: u32(16),
  runtime: u64(24),
});

export interface Arinc653Entry {
  /** The domain's handle (16 bytes). */
  domHandle: Uint8Array;
  vcpuId: number;
  runtime: Ns;
}
export interface Arinc653Table {
  majorFrame: Ns;
  entries: Arinc653Entry[];
}

/** Lay a table out as xen_sysctl_arinc653_schedule at `at` (what a toolstack writes). */
export function writeArinc653Schedule(m: ByteAccess, at: number, t: Arinc653Table, numOverride?: number): void {
  const S = xenSysctlArinc653Schedule;
  const E = xenArinc653Entry;
  m.setBytes(at, new Uint8Array(S.size));
  S.write(m, at, { major_frame: t.majorFrame, num_sched_entries: numOverride ?? t.entries.length });
  t.entries.slice(0, ARINC653_MAX_ENTRIES).forEach((e, i) => {
    const base = at + S.fields.sched_entries.off + i * E.size;
    m.setBytes(base + E.fields.dom_handle.off, e.domHandle);
    E.write(m, base, { vcpu_id: e.vcpuId, runtime: e.runtime });
  });
}

/** Decode xen_sysctl_arinc653_schedule at `at` (its first num_sched_entries entries, at most 64). */
export function readArinc653Schedule(m: ByteAccess, at: number): Arinc653Table & { num: number } {
  const S = xenSysctlArinc653Schedule;
  const E = xenArinc653Entry;
  const h = S.read(m, at);
  const entries: Arinc653Entry[] = [];
  for (let i = 0; i < Math.min(h.num_sched_entries, ARINC653_MAX_ENTRIES); i++) {
    const base = at + S.fields.sched_entries.off + i * E.size;
    entries.push({ domHandle: m.getBytes(base + E.fields.dom_handle.off, 16), vcpuId: E.get(m, base, 'vcpu_id'), runtime: E.get(m, base, 'runtime') });
  }
  return { majorFrame: h.major_frame, num: h.num_sched_entries, entries };
}

interface Entry {
  handle: Uint8Array;
  vcpuId: number;
  runtime: Ns;
  unit: SchedUnit | null;
}
interface D {
  dom: SchedDomain;
}
interface U {
  unit: SchedUnit;
  dom: D | undefined;
  /** Woken and not put to sleep since (Xen's awake). */
  awake: boolean;
}
interface G {
  ctx: SchedContext;
  schedule: Entry[];
  majorFrame: Ns;
  nextMajorFrame: Ns;
  schedIndex: number;
  nextSwitchTime: Ns;
  /** Non-idle units of this pool. */
  units: Set<U>;
  /** When the table in force was installed (its major frames start there, modulo majorFrame). */
  tableSetAt: Ns;
}

const ud = (u: SchedUnit) => u.priv as U;
const sameHandle = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** find_unit for every entry (update_schedule_units). */
function bindEntries(g: G): void {
  for (const e of g.schedule) {
    e.unit = null;
    for (const u of g.units) {
      if (u.dom && u.unit.vcpuId === e.vcpuId && sameHandle(u.dom.dom.handle, e.handle)) {
        e.unit = u.unit;
        break;
      }
    }
  }
}

function setTable(g: G, mem: ByteAccess, addr: number): number {
  const S = xenSysctlArinc653Schedule;
  // copy_from_guest of the whole struct
  const t = readArinc653Schedule(new BufferBytes(mem.getBytes(addr, S.size)), 0);
  if (!(t.majorFrame > 0 && t.majorFrame <= Number.MAX_SAFE_INTEGER)) return -Errno.EINVAL;
  if (t.num < 1 || t.num > ARINC653_MAX_ENTRIES) return -Errno.EINVAL;
  let total = 0;
  for (const e of t.entries) {
    if (!(e.runtime > 0 && e.runtime <= Number.MAX_SAFE_INTEGER)) return -Errno.EINVAL;
    total += e.runtime;
  }
  if (total > t.majorFrame) return -Errno.EINVAL;
  g.majorFrame = t.majorFrame;
  g.schedule = t.entries.map((e) => ({ handle: e.domHandle.slice(), vcpuId: e.vcpuId, runtime: e.runtime, unit: null }));
  bindEntries(g);
  // Effective at once: a new major frame starts now, and every pCPU re-decides now.
  const now = g.ctx.now();
  g.nextMajorFrame = now;
  g.tableSetAt = now;
  for (const cpu of g.ctx.cpus().ids) g.ctx.tickle(cpu);
  return 0;
}

function getTable(g: G, mem: ByteAccess, addr: number): number {
  const S = xenSysctlArinc653Schedule;
  const E = xenArinc653Entry;
  // Xen fills its local copy with 0xff before writing the table into it, then copies it out.
  const b = new BufferBytes(new Uint8Array(S.size).fill(0xff));
  S.write(b, 0, { major_frame: g.majorFrame, num_sched_entries: g.schedule.length });
  g.schedule.forEach((e, i) => {
    const base = S.fields.sched_entries.off + i * E.size;
    b.setBytes(base + E.fields.dom_handle.off, e.handle);
    E.write(b, base, { vcpu_id: e.vcpuId, runtime: e.runtime });
  });
  mem.setBytes(addr, b.buf);
  return 0;
}

/** Check the policy's invariants (see the header); returns the violations. */
export function checkArinc653(g: unknown): string[] {
  const p = g as G;
  const errs: string[] = [];
  const total = p.schedule.reduce((n, e) => n + e.runtime, 0);
  if (total > p.majorFrame) errs.push(`Σ runtime ${total} > major frame ${p.majorFrame}`);
  if (p.schedIndex < 0 || p.schedIndex > p.schedule.length) errs.push(`index ${p.schedIndex} outside 0..${p.schedule.length}`);
  if (p.nextSwitchTime > p.nextMajorFrame && p.nextMajorFrame > p.tableSetAt) errs.push(`minor frame ends ${p.nextSwitchTime} after the major frame ${p.nextMajorFrame}`);
  for (const e of p.schedule) {
    if (!e.unit) continue;
    const u = ud(e.unit);
    if (!p.units.has(u) || !u.dom || !sameHandle(u.dom.dom.handle, e.handle) || e.unit.vcpuId !== e.vcpuId)
      errs.push(`entry bound to d${e.unit.domid}v${e.unit.vcpuId}, which does not match it`);
  }
  for (const cpu of p.ctx.cpus().ids) {
    const cur = p.ctx.curr(cpu);
    if (cur.isIdle) continue;
    const e = p.schedule[p.schedIndex];
    if (!e || e.unit !== cur) errs.push(`cpu ${cpu} runs d${cur.domid}v${cur.vcpuId} outside its minor frame`);
  }
  return errs;
}

/** The table in force and when it was installed (for tools and tests). */
export function arinc653State(g: unknown): Arinc653Table & { setAt: Ns; index: number; nextSwitch: Ns; nextMajorFrame: Ns } {
  const p = g as G;
  return {
    majorFrame: p.majorFrame,
    entries: p.schedule.map((e) => ({ domHandle: e.handle.slice(), vcpuId: e.vcpuId, runtime: e.runtime })),
    setAt: p.tableSetAt,
    index: p.schedIndex,
    nextSwitch: p.nextSwitchTime,
    nextMajorFrame: p.nextMajorFrame,
  };
}

export const arinc653Scheduler: SchedulerOps<G, undefined, D, U> = {
  name: 'ARINC 653 Scheduler',
  optName: 'arinc653',
  schedId: XEN_SCHEDULER.ARINC653,
  doc: 'ARINC 653: a fixed cyclic table of minor frames (domain handle, vCPU, runtime) per cpupool.',
  // No traceClass/traceEvents: Xen's ARINC 653 emits no trace records.

  init: (ctx) => ({
    ctx,
    schedule: [],
    majorFrame: ARINC653_DEFAULT_TIMESLICE,
    nextMajorFrame: 0,
    schedIndex: 0,
    nextSwitchTime: 0,
    units: new Set(),
    tableSetAt: 0,
  }),
  deinit: () => {},
  allocDomdata: (_g, dom) => ({ dom }),
  allocUdata: (g, unit, dom) => {
    const u: U = { unit, dom, awake: false };
    if (!unit.isIdle && unit.domid === 0 && g.schedule.length < ARINC653_MAX_ENTRIES) {
      // Every dom0 vCPU gets a minor frame of its own (Xen: handle "", DEFAULT_TIMESLICE).
      // The first one takes the initial major frame, each later one grows it (4.22's 6d412c0599).
      if (g.schedule.length > 0) g.majorFrame += ARINC653_DEFAULT_TIMESLICE;
      g.schedule.push({ handle: new Uint8Array(16), vcpuId: unit.vcpuId, runtime: ARINC653_DEFAULT_TIMESLICE, unit });
    }
    if (!unit.isIdle) g.units.add(u);
    bindEntries(g);
    return u;
  },
  freeUdata: (g, u) => {
    if (!u) return;
    g.units.delete(u);
    bindEntries(g);
  },
  switchSched: () => {},

  sleep: (g, unit) => {
    ud(unit).awake = false;
    if (g.ctx.curr(unit.res) === unit) g.ctx.tickle(unit.res);
  },
  wake: (g, unit) => {
    ud(unit).awake = true;
    g.ctx.tickle(unit.res);
  },

  doSchedule: (g, _prev, now, cpu, tasklet) => {
    const n = g.schedule.length;
    if (now >= g.nextMajorFrame) {
      const remainder = (now - g.nextMajorFrame) % g.majorFrame;
      g.schedIndex = 0;
      g.nextMajorFrame = now - remainder + g.majorFrame;
      g.nextSwitchTime = now - remainder + (n > 0 ? g.schedule[0].runtime : g.majorFrame);
    }
    while (now >= g.nextSwitchTime && g.schedIndex < n) {
      g.schedIndex++;
      if (g.schedIndex < n) g.nextSwitchTime += g.schedule[g.schedIndex].runtime;
    }
    if (g.schedIndex >= n) g.nextSwitchTime = g.nextMajorFrame;
    const idle = g.ctx.idleUnit(cpu);
    let next: SchedUnit = idle;
    const cand = g.schedIndex < n ? g.schedule[g.schedIndex].unit : null;
    if (cand && ud(cand).awake && cand.runnable && !tasklet && cand.res === cpu) next = cand;
    return { next, sliceNs: g.nextSwitchTime - now, migrated: false };
  },

  // Xen's a653sched_pick_resource ignores hard affinity (current pCPU if in the pool, else the
  // first); we keep its preference order within hard affinity ∩ pool, as every policy here must.
  pickResource: (g, unit) => {
    const allowed = unit.hardAffinity.and(g.ctx.cpus());
    const first = allowed.first() ?? g.ctx.cpus().first();
    return allowed.has(unit.res) || first === undefined ? unit.res : (first as PcpuId);
  },

  adjustGlobal: (g, cmd, u, mem) => {
    const handle = xenSysctlSchedArinc653.get(u, 0, 'schedule');
    if (cmd === XEN_SYSCTL_SCHEDOP.putinfo) return setTable(g, mem, handle);
    if (cmd === XEN_SYSCTL_SCHEDOP.getinfo) return getTable(g, mem, handle);
    return -Errno.EINVAL;
  },

  dumpSettings: (g) => {
    const hex = (h: Uint8Array) => [...h].map((b) => b.toString(16).padStart(2, '0')).join('');
    return [
      `ARINC 653: major frame ${g.majorFrame} ns, ${g.schedule.length} minor frames, table set at ${g.tableSetAt}`,
      ...g.schedule.map((e, i) => `  ${i === g.schedIndex ? '*' : ' '}${i}: ${hex(e.handle)} v${e.vcpuId} ${e.runtime} ns -> ${e.unit ? `d${e.unit.domid}v${e.unit.vcpuId}` : 'unbound'}`),
    ].join('\n');
  },
};

export default arinc653Scheduler;
