/**
 * ARINC 653 on a real host. The schedule table travels as Xen's does: dom0 lays out
 * xen_sysctl_arinc653_schedule in its own memory and passes its address in the sysctl's guest
 * handle; entries name domains by the handle (UUID) given at createdomain. The figures are the
 * framework's switch records: every one must fall exactly on a minor-frame boundary (plus the one
 * softirq from the frame timer to schedule()), naming the entry's vCPU.
 */
import { describe, expect, it } from 'vitest';
import { Errno, HYPERVISOR, SYSCTL, XEN_SYSCTL_INTERFACE_VERSION, XEN_SYSCTL_SCHEDOP, abi, ms, sec, us, type Ns, type TraceRecord } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import {
  ARINC653_DEFAULT_TIMESLICE,
  arinc653Scheduler,
  arinc653State,
  checkArinc653,
  readArinc653Schedule,
  writeArinc653Schedule,
  xenSysctlArinc653Schedule,
  xenSysctlSchedArinc653,
  type Arinc653Table,
} from '../src/index';
import { Host } from '../../../tools/src/host/host';
import { buildDomain } from '../../../tools/src/toolstack/builder';
import type { Xc } from '../../../tools/src/xc/xc';

const A653 = arinc653Scheduler.schedId;
const IDLE = 0x7fff;

const uuid = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xa6 : i === 15 ? n : (n * 37 + i) & 0xff));
const DOM0_HANDLE = new Uint8Array(16);

function rcOf(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof XenError) return e.rc;
    throw e;
  }
}

const S = xenSysctlArinc653Schedule;
const setTable = (xc: Xc, pool: number, t: Arinc653Table, num?: number) =>
  xc.schedGlobalHandleOp(pool, A653, XEN_SYSCTL_SCHEDOP.putinfo, xenSysctlSchedArinc653, 'schedule', S.size, (m, a) => writeArinc653Schedule(m, a, t, num), () => 0);
const getTable = (xc: Xc, pool: number) =>
  xc.schedGlobalHandleOp(pool, A653, XEN_SYSCTL_SCHEDOP.getinfo, xenSysctlSchedArinc653, 'schedule', S.size, null, (m, a) => readArinc653Schedule(m, a));

/**
 * dom0 under rr on pCPU 0; pCPU 1 in an ARINC 653 pool holding `n` CPU hogs (handles uuid(1..n)),
 * built and unpaused. Switch records of pCPU 1 are kept from the start.
 */
function a653Host(n: number, costs: { softirqNs?: number } = {}, vcpus = 1) {
  const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 5, costs });
  const switches: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => {
    if (r.type === 'switch' && r.cpu === 1) switches.push(r);
  });
  const { pool, ids } = host.run('setup', function* ({ xc }) {
    xc.cpupoolRemoveCpu(0, 1);
    const pool = xc.cpupoolCreate(A653);
    xc.cpupoolAddCpu(pool, 1);
    const ids = Array.from({ length: n }, (_, i) =>
      buildDomain(xc, { name: `p${i + 1}`, memoryMiB: 8, vcpus, kernel: 'minios-cpuhog', cmdline: `threads=${vcpus} chunk=${ms(1)}`, cpupool: pool, handle: uuid(i + 1) }).domid,
    );
    return { pool, ids };
  });
  const g = () => host.hv.fw.pools.get(pool)!.g;
  const cpu = (id: number, v = 0) => host.hv.domains.get(id)!.vcpus[v].cpuTime(host.now);
  return { host, pool, ids, switches, g, cpu };
}

/** The switches a table implies on its pCPU from `start` (its first major frame) until `end`. */
function expectedSwitches(t: { majorFrame: Ns; entries: { dom: number; vcpu: number; runtime: Ns }[] }, start: Ns, end: Ns, lag: Ns, before: { dom: number; vcpu: number }) {
  const out: { t: Ns; prev: string; next: string }[] = [];
  let cur = `${before.dom}.${before.vcpu}`;
  const to = (t: Ns, dom: number, vcpu: number) => {
    const next = `${dom}.${vcpu}`;
    if (next !== cur && t <= end) out.push({ t, prev: cur, next });
    cur = next;
  };
  for (let f = start; f + lag <= end; f += t.majorFrame) {
    let at = f;
    for (const e of t.entries) {
      to(at + lag, e.dom, e.vcpu);
      at += e.runtime;
    }
    if (at < f + t.majorFrame) to(at + lag, IDLE, 1);
  }
  return out;
}
const asSwitch = (r: TraceRecord) => (r.type === 'switch' ? { t: r.t, prev: `${r.prevDom}.${r.prevVcpu}`, next: `${r.nextDom}.${r.nextVcpu}` } : null);

describe('ARINC 653', () => {
  // Major frame 20 ms: A 3 ms, B 5 ms, A again 2 ms, C 4 ms, then 6 ms idle. D is not in the table.
  it.each([{ softirqNs: 1_000 }, { softirqNs: 0 }])('follows its table to the nanosecond (softirq $softirqNs ns)', ({ softirqNs }) => {
    const { host, pool, ids, switches, g, cpu } = a653Host(4, { softirqNs });
    const [a, b, c, d] = ids;
    host.runFor(ms(30));
    // no table yet: nothing runs in the pool
    expect(ids.map((id) => cpu(id))).toEqual([0, 0, 0, 0]);
    const table: Arinc653Table = {
      majorFrame: ms(20),
      entries: [
        { domHandle: uuid(1), vcpuId: 0, runtime: ms(3) },
        { domHandle: uuid(2), vcpuId: 0, runtime: ms(5) },
        { domHandle: uuid(1), vcpuId: 0, runtime: ms(2) },
        { domHandle: uuid(3), vcpuId: 0, runtime: ms(4) },
      ],
    };
    host.run('table', function* ({ xc }) {
      setTable(xc, pool, table);
    });
    const setAt = arinc653State(g()).setAt;
    host.runFor(sec(1));
    const end = host.now;
    const got = switches.filter((r) => r.t >= setAt).map(asSwitch);
    const want = expectedSwitches(
      { majorFrame: ms(20), entries: [{ dom: a, vcpu: 0, runtime: ms(3) }, { dom: b, vcpu: 0, runtime: ms(5) }, { dom: a, vcpu: 0, runtime: ms(2) }, { dom: c, vcpu: 0, runtime: ms(4) }] },
      setAt,
      end,
      softirqNs,
      { dom: IDLE, vcpu: 1 },
    );
    // 50 major frames, 5 switches each (idle→A, A→B, B→A, A→C, C→idle), every one on its boundary
    expect(want.length).toBeGreaterThanOrEqual(250);
    expect(got).toEqual(want);
    // CPU time: exactly the table's share of every frame since it was set (frames are whole here)
    const frames = Math.floor((end - setAt) / ms(20));
    const tail = end - setAt - frames * ms(20);
    const inTail = (start: Ns, len: Ns) => Math.max(0, Math.min(tail, start + len + softirqNs) - (start + softirqNs));
    expect(cpu(a)).toBe(frames * ms(5) + inTail(0, ms(3)) + inTail(ms(8), ms(2)));
    expect(cpu(b)).toBe(frames * ms(5) + inTail(ms(3), ms(5)));
    expect(cpu(c)).toBe(frames * ms(4) + inTail(ms(10), ms(4)));
    expect(cpu(d)).toBe(0); // not in the table: never runs
    expect(checkArinc653(g())).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a new table takes effect at once, aligned to the instant it is set; entries bind by handle and vCPU', () => {
    const { host, pool, ids, switches, g, cpu } = a653Host(3, {}, 2);
    const [a, b, c] = ids;
    const lag = host.hv.costs.softirqNs;
    const t1: Arinc653Table = {
      majorFrame: ms(10),
      entries: [
        { domHandle: uuid(1), vcpuId: 1, runtime: ms(4) },
        { domHandle: uuid(2), vcpuId: 0, runtime: ms(4) },
      ],
    };
    host.run('t1', function* ({ xc }) {
      setTable(xc, pool, t1);
    });
    const s1 = arinc653State(g()).setAt;
    host.runFor(ms(123.4567)); // mid-frame, off any boundary
    // the second table, set mid-frame: its first frame starts now, not at the old frame's end
    const t2: Arinc653Table = {
      majorFrame: ms(7),
      entries: [
        { domHandle: uuid(3), vcpuId: 0, runtime: ms(2) },
        { domHandle: uuid(1), vcpuId: 0, runtime: ms(3) },
        { domHandle: uuid(9), vcpuId: 0, runtime: ms(1) }, // no such domain: idle
      ],
    };
    const before = switches.length;
    host.run('t2', function* ({ xc }) {
      setTable(xc, pool, t2);
    });
    const s2 = arinc653State(g()).setAt;
    expect(s2 - s1).toBeGreaterThan(ms(123));
    const prev = switches[before - 1];
    const running = prev.type === 'switch' ? { dom: prev.nextDom, vcpu: prev.nextVcpu } : { dom: IDLE, vcpu: 1 };
    host.runFor(ms(300));
    const want = expectedSwitches(
      { majorFrame: ms(7), entries: [{ dom: c, vcpu: 0, runtime: ms(2) }, { dom: a, vcpu: 0, runtime: ms(3) }, { dom: IDLE, vcpu: 1, runtime: ms(1) }] },
      s2,
      host.now,
      lag,
      running,
    );
    expect(switches.slice(before).map(asSwitch)).toEqual(want);
    expect(want[0].t).toBe(s2 + lag); // effective at once
    // under t2, b does not run at all, and a's vCPU 1 no longer does either
    const cb = cpu(b);
    const ca1 = cpu(a, 1);
    host.runFor(ms(100));
    expect([cpu(b) - cb, cpu(a, 1) - ca1]).toEqual([0, 0]);
    expect(checkArinc653(g())).toEqual([]);
  });

  it('binds an entry to a domain whose handle is set later, when the table is set again', () => {
    const { host, pool, ids, g, cpu } = a653Host(1);
    const [a] = ids;
    const t: Arinc653Table = { majorFrame: ms(10), entries: [{ domHandle: uuid(42), vcpuId: 0, runtime: ms(5) }] };
    host.run('t', function* ({ xc }) {
      setTable(xc, pool, t);
    });
    host.runFor(ms(50));
    expect(cpu(a)).toBe(0); // the entry names nobody yet
    host.run('handle', function* ({ xc }) {
      xc.domainSetHandle(a, uuid(42));
      setTable(xc, pool, t);
    });
    const c0 = cpu(a);
    host.runFor(ms(100));
    expect(cpu(a) - c0).toBe(ms(50));
    expect(checkArinc653(g())).toEqual([]);
  });

  it('validates the table: -EINVAL (nothing changed) for a zero major frame, no or too many entries, a zero runtime, or runtimes over the major frame; -EFAULT for a bad handle', () => {
    const { host, pool } = a653Host(2);
    const good: Arinc653Table = {
      majorFrame: ms(10),
      entries: [
        { domHandle: uuid(1), vcpuId: 0, runtime: ms(6) },
        { domHandle: uuid(2), vcpuId: 0, runtime: ms(4) },
      ],
    };
    const r = host.run('validate', function* ({ xc, os }) {
      const initial = getTable(xc, pool);
      setTable(xc, pool, good);
      const afterGood = getTable(xc, pool);
      const put = (t: Arinc653Table, num?: number) => rcOf(() => setTable(xc, pool, t, num));
      const many = Array.from({ length: 65 }, () => ({ domHandle: uuid(1), vcpuId: 0, runtime: us(10) }));
      const rcs = [
        put({ ...good, majorFrame: 0 }),
        put({ majorFrame: ms(10), entries: [] }),
        put({ majorFrame: ms(10), entries: many }, 65),
        put(good, 200), // num_sched_entries beyond the array
        put({ majorFrame: ms(10), entries: [good.entries[0], { ...good.entries[1], runtime: 0 }] }),
        put({ majorFrame: ms(10), entries: [good.entries[0], { ...good.entries[1], runtime: ms(4) + 1 }] }),
        put({ majorFrame: 2 ** 60, entries: good.entries }),
      ];
      const afterBad = getTable(xc, pool);
      // the sysctl with its handle pointing at unmapped dom0 memory
      const at = os.pages.alloc() * 4096;
      const mem = os.cpu.mem;
      const raw = (cmd: number) => {
        abi.xen_sysctl.init(mem, at, { cmd: SYSCTL.scheduler_op, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
        abi.xen_sysctl_scheduler_op.write(mem, at + abi.SYSCTL_U, { cpupool_id: pool, sched_id: A653, cmd });
        xenSysctlSchedArinc653.write(mem, at + abi.SYSCTL_U + abi.SYSCTL_SCHEDOP_U, { schedule: 0x7f00_0000_0000 });
        return os.cpu.hypercall(HYPERVISOR.sysctl, at);
      };
      const faults = [raw(XEN_SYSCTL_SCHEDOP.putinfo), raw(XEN_SYSCTL_SCHEDOP.getinfo)];
      // exactly 64 entries, and runtimes summing to the major frame exactly, are fine
      const full = rcOf(() => setTable(xc, pool, { majorFrame: ms(10), entries: Array.from({ length: 64 }, (_, i) => ({ domHandle: uuid(1 + (i % 2)), vcpuId: 0, runtime: i < 63 ? us(100) : ms(10) - us(6300) })) }));
      return { initial, afterGood, rcs, afterBad, faults, full, last: getTable(xc, pool) };
    });
    expect(r.initial).toEqual({ majorFrame: ARINC653_DEFAULT_TIMESLICE, num: 0, entries: [] });
    expect(r.afterGood).toEqual({ ...good, num: 2 });
    expect(r.rcs).toEqual(Array(r.rcs.length).fill(-Errno.EINVAL));
    expect(r.afterBad).toEqual(r.afterGood);
    expect(r.faults).toEqual([-Errno.EFAULT, -Errno.EFAULT]);
    expect(r.full).toBe(0);
    expect(r.last.num).toBe(64);
    expect(r.last.entries.reduce((n, e) => n + e.runtime, 0)).toBe(ms(10));
  });

  it('boots as the host scheduler: dom0 has its default minor frames; guests outside the table never run', () => {
    const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'arinc653', seed: 2, dom0: { vcpus: 2 } });
    const g = () => host.hv.fw.pools.get(0)!.g;
    // dom0's two vCPUs were appended with 10 ms each: a 20 ms major frame, no idle gap
    expect(arinc653State(g())).toMatchObject({ majorFrame: 2 * ARINC653_DEFAULT_TIMESLICE });
    expect(arinc653State(g()).entries).toEqual([
      { domHandle: DOM0_HANDLE, vcpuId: 0, runtime: ms(10) },
      { domHandle: DOM0_HANDLE, vcpuId: 1, runtime: ms(10) },
    ]);
    const a = host.run('build', function* ({ xc }) {
      return buildDomain(xc, { name: 'a', memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog', handle: uuid(7) }).domid;
    });
    host.runFor(ms(200));
    const va = host.hv.domains.get(a)!.vcpus[0];
    expect(va.cpuTime(host.now)).toBe(0);
    // a table that keeps dom0's vCPU 0 (the all-zero handle) and gives `a` the other half
    const got = host.run('table', function* ({ xc }) {
      setTable(xc, 0, { majorFrame: ms(10), entries: [{ domHandle: DOM0_HANDLE, vcpuId: 0, runtime: ms(5) }, { domHandle: uuid(7), vcpuId: 0, runtime: ms(5) }] });
      return getTable(xc, 0);
    });
    expect(got.num).toBe(2);
    // the job returned at the instant of the sysctl: the window is exactly 100 frames from the
    // table's start, and a's last frame ends one softirq after it
    expect(host.now).toBe(arinc653State(g()).setAt);
    const c0 = va.cpuTime(host.now);
    host.runFor(sec(1));
    expect(va.cpuTime(host.now) - c0).toBe(ms(500) - host.hv.costs.softirqNs);
    // dom0 still runs its jobs (in its own frames)
    const info = host.run('info', function* ({ xc }) {
      return xc.domainGetInfo(a)!.cpuTime;
    });
    expect(info).toBeGreaterThanOrEqual(ms(500) - host.hv.costs.softirqNs);
    expect(checkArinc653(g())).toEqual([]);
    expect(host.hv.fw.policyErrors).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });
});
