import { describe, expect, it } from 'vitest';
import {
  DOMCTL,
  Errno,
  HYPERVISOR,
  SCHEDOP,
  SHUTDOWN,
  SYSCTL,
  VCPUOP,
  VIRQ,
  XENMAPSPACE,
  XENMEM,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_SYSCTL_INTERFACE_VERSION,
  XENVER,
  EVTCHNOP,
  P2mType,
  abi,
  DOMID_SELF,
  VCPU_SSHOTTMR_future,
  ms,
  type Vcpu,
} from '../src/index';
import { ARG, hcall, makeDomain, makeHv, op } from './support';

const LIST = 0x2000;

function setup() {
  const { hv } = makeHv();
  const dom0 = makeDomain(hv, { id: 0, privileged: true, pages: 256 });
  const a = makeDomain(hv, { pages: 64, vcpus: 2 });
  const b = makeDomain(hv, { pages: 64 });
  return { hv, dom0, a, b };
}

function reservation(hv: ReturnType<typeof setup>['hv'], v: Vcpu, cmd: number, domid: number, gfns: number[], order = 0) {
  gfns.forEach((g, i) => v.domain.mem.view.setU64(LIST + i * 8, g));
  return op(hv, v, 'memory_op', cmd, abi.xen_memory_reservation, { extent_start: LIST, nr_extents: gfns.length, extent_order: order, domid }).rc;
}

function domctl(hv: ReturnType<typeof setup>['hv'], v: Vcpu, cmd: number, domain: number, fill?: (at: number) => void, version = XEN_DOMCTL_INTERFACE_VERSION) {
  abi.xen_domctl.init(v.domain.mem.view, ARG, { cmd, interface_version: version, domain });
  fill?.(ARG + abi.DOMCTL_U);
  return hcall(hv, v, HYPERVISOR.domctl, ARG);
}

describe('memory_op', () => {
  it('populate and decrease follow the reservation; over-reservation stops at the failing extent', () => {
    const { hv, a } = setup();
    const v = a.vcpus[0];
    const free0 = hv.mem.freeFrames;
    expect(reservation(hv, v, XENMEM.decrease_reservation, DOMID_SELF, [10, 11, 12])).toBe(3);
    expect(a.mem.totPages).toBe(61);
    expect(hv.mem.freeFrames).toBe(free0 + 3);
    // max is 64: only 3 pages may come back; the 4th extent fails and the count says so
    expect(reservation(hv, v, XENMEM.populate_physmap, DOMID_SELF, [10, 11, 12, 13])).toBe(3);
    expect(a.mem.totPages).toBe(64);
    expect(a.mem.p2m.type(13)).toBe(P2mType.ram); // 13 was already RAM
    expect(reservation(hv, v, XENMEM.populate_physmap, DOMID_SELF, [200])).toBe(0);
    expect(a.mem.p2m.type(200)).toBe(P2mType.none);
    // decreasing a gfn that is not populated stops there
    expect(reservation(hv, v, XENMEM.decrease_reservation, DOMID_SELF, [5, 300, 6])).toBe(1);
    expect(a.mem.p2m.type(6)).toBe(P2mType.ram);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('extent orders, alignment and the order limit', () => {
    const { hv, a } = setup();
    const v = a.vcpus[0];
    reservation(hv, v, XENMEM.decrease_reservation, DOMID_SELF, Array.from({ length: 16 }, (_, i) => 32 + i));
    expect(reservation(hv, v, XENMEM.populate_physmap, DOMID_SELF, [33], 2)).toBe(0); // misaligned
    expect(reservation(hv, v, XENMEM.populate_physmap, DOMID_SELF, [32, 36], 2)).toBe(2);
    expect(reservation(hv, v, XENMEM.populate_physmap, DOMID_SELF, [1024], 10)).toBe(0); // domU max order 9
    expect(a.mem.totPages).toBe(56);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('another domain’s memory is off limits without privilege', () => {
    const { hv, dom0, a, b } = setup();
    const total = b.mem.totPages;
    expect(reservation(hv, a.vcpus[0], XENMEM.decrease_reservation, b.id, [1, 2])).toBe(0);
    expect(b.mem.totPages).toBe(total);
    expect(reservation(hv, dom0.vcpus[0], XENMEM.decrease_reservation, b.id, [1, 2])).toBe(2);
    expect(b.mem.totPages).toBe(total - 2);
    a.mem.view.setU16(ARG, b.id);
    expect(hcall(hv, a.vcpus[0], HYPERVISOR.memory_op, XENMEM.current_reservation, ARG)).toBe(-Errno.EPERM);
    a.mem.view.setU16(ARG, DOMID_SELF);
    expect(hcall(hv, a.vcpus[0], HYPERVISOR.memory_op, XENMEM.current_reservation, ARG)).toBe(64);
    expect(hcall(hv, a.vcpus[0], HYPERVISOR.memory_op, XENMEM.maximum_reservation, ARG)).toBe(64);
    a.mem.view.setU16(ARG, 999);
    expect(hcall(hv, a.vcpus[0], HYPERVISOR.memory_op, XENMEM.current_reservation, ARG)).toBe(-Errno.ESRCH);
    expect(hcall(hv, a.vcpus[0], HYPERVISOR.memory_op, 63, ARG)).toBe(-Errno.ENOSYS);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('add_to_physmap: shared_info and grant frames; foreign maps only for the privileged', () => {
    const { hv, dom0, a, b } = setup();
    const add = (v: Vcpu, space: number, idx: number, gpfn: number, domid = DOMID_SELF) =>
      op(hv, v, 'memory_op', XENMEM.add_to_physmap, abi.xen_add_to_physmap, { domid, space, idx, gpfn }).rc;
    expect(add(a.vcpus[0], XENMAPSPACE.shared_info, 1, 100)).toBe(-Errno.EINVAL);
    expect(add(a.vcpus[0], XENMAPSPACE.shared_info, 0, 100)).toBe(0);
    expect(a.mem.p2m.lookup(100)).toBe(a.sharedInfoMfn);
    expect(add(a.vcpus[0], XENMAPSPACE.grant_table, 64, 101)).toBe(-Errno.EINVAL); // beyond max frames
    expect(add(a.vcpus[0], XENMAPSPACE.gmfn_foreign, 0, 101)).toBe(-Errno.ENOSYS);
    expect(add(a.vcpus[0], XENMAPSPACE.shared_info, 0, 100, b.id)).toBe(-Errno.EPERM);
    // batch foreign map: unprivileged caller gets -EPERM per entry
    const batch = (v: Vcpu, foreign: number, idx: number, gpfn: number) => {
      const m = v.domain.mem.view;
      m.setU64(LIST, idx);
      m.setU64(LIST + 8, gpfn);
      const r = op(hv, v, 'memory_op', XENMEM.add_to_physmap_batch, abi.xen_add_to_physmap_batch, { domid: DOMID_SELF, space: XENMAPSPACE.gmfn_foreign, size: 1, foreign_domid: foreign, idxs: LIST, gpfns: LIST + 8, errs: LIST + 16 });
      return [r.rc, m.getU32(LIST + 16) | 0];
    };
    expect(batch(a.vcpus[0], b.id, 3, 120)).toEqual([0, -Errno.EPERM]);
    expect(a.mem.p2m.type(120)).toBe(P2mType.none);
    b.mem.view.setU32(3 * 4096, 0x12345678);
    expect(batch(dom0.vcpus[0], b.id, 3, 300)).toEqual([0, 0]);
    expect(dom0.mem.view.getU32(300 * 4096)).toBe(0x12345678);
    expect(batch(dom0.vcpus[0], b.id, 999, 301)).toEqual([0, -Errno.EINVAL]);
    expect(batch(dom0.vcpus[0], 0, 3, 301)).toEqual([0, -Errno.EPERM]); // self
    expect(hv.checkInvariants()).toEqual([]);
    const rm = op(hv, dom0.vcpus[0], 'memory_op', XENMEM.remove_from_physmap, abi.xen_remove_from_physmap, { domid: DOMID_SELF, gpfn: 300 });
    expect(rm.rc).toBe(0);
    expect(op(hv, dom0.vcpus[0], 'memory_op', XENMEM.remove_from_physmap, abi.xen_remove_from_physmap, { domid: DOMID_SELF, gpfn: 300 }).rc).toBe(-Errno.ENOENT);
    expect(hv.checkInvariants()).toEqual([]);
  });
});

describe('domctl', () => {
  it('checks the interface version, the target and privilege in Xen’s order', () => {
    const { hv, dom0, a, b } = setup();
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.pausedomain, a.id, undefined, 0x14)).toBe(-Errno.EACCES);
    expect(domctl(hv, a.vcpus[0], DOMCTL.pausedomain, 999)).toBe(-Errno.ESRCH);
    expect(domctl(hv, a.vcpus[0], DOMCTL.pausedomain, b.id)).toBe(-Errno.EPERM);
    expect(b.pauseCount).toBe(1);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.pausedomain, dom0.id)).toBe(-Errno.EINVAL);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.destroydomain, dom0.id)).toBe(-Errno.EINVAL);
    expect(domctl(hv, dom0.vcpus[0], 250, a.id)).toBe(-Errno.ENOSYS);
  });

  it('pause counts nest; a second unpause of a running domain is -EINVAL', () => {
    const { hv, dom0, a } = setup();
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.unpausedomain, a.id)).toBe(0);
    expect(a.pauseCount).toBe(0);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.unpausedomain, a.id)).toBe(-Errno.EINVAL);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.pausedomain, a.id)).toBe(0);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.pausedomain, a.id)).toBe(0);
    expect(a.pauseCount).toBe(2);
  });

  it('createdomain chooses or honours a domid; getdomaininfo returns the next domain for a missing id', () => {
    const { hv, dom0, a } = setup();
    const create = (domain: number, maxVcpus = 1) =>
      domctl(hv, dom0.vcpus[0], DOMCTL.createdomain, domain, (u) => abi.xen_domctl_createdomain.write(dom0.mem.view, u, { max_vcpus: maxVcpus, max_grant_frames: -1, max_maptrack_frames: -1, max_evtchn_port: 1023 }));
    expect(create(a.id)).toBe(-Errno.EEXIST);
    expect(create(0, 0)).toBe(-Errno.EINVAL);
    expect(create(0, 129)).toBe(-Errno.EINVAL);
    expect(create(42)).toBe(0);
    expect(hv.domains.get(42)?.pauseCount).toBe(1); // created paused
    expect(create(0)).toBe(0);
    const got = abi.xen_domctl.get(dom0.mem.view, ARG, 'domain');
    expect(got).not.toBe(0);
    expect(hv.domains.has(got)).toBe(true);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.getdomaininfo, 41)).toBe(0);
    expect(abi.xen_domctl.get(dom0.mem.view, ARG, 'domain')).toBe(42);
    const info = abi.xen_domctl_getdomaininfo.read(dom0.mem.view, ARG + abi.DOMCTL_U);
    expect(info.domain).toBe(42);
    expect(info.flags & 8).toBe(8); // paused
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.getdomaininfo, 0x7ff0)).toBe(-Errno.EINVAL);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.getdomaininfo, 30000)).toBe(-Errno.ESRCH);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('max_mem, getvcpuinfo, setvcpuaffinity and scheduler_op validation', () => {
    const { hv, dom0, a } = setup();
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.max_mem, a.id, (u) => abi.xen_domctl_max_mem.write(dom0.mem.view, u, { max_memkb: 1024 }))).toBe(0);
    expect(a.mem.maxPages).toBe(256);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.getvcpuinfo, a.id, (u) => abi.xen_domctl_getvcpuinfo.write(dom0.mem.view, u, { vcpu: 5 }))).toBe(-Errno.EINVAL);
    expect(domctl(hv, dom0.vcpus[0], DOMCTL.getvcpuinfo, a.id, (u) => abi.xen_domctl_getvcpuinfo.write(dom0.mem.view, u, { vcpu: 1 }))).toBe(0);
    const aff = (flags: number, bitmap: number) =>
      domctl(hv, dom0.vcpus[0], DOMCTL.setvcpuaffinity, a.id, (u) => abi.xen_domctl_vcpuaffinity.write(dom0.mem.view, u, { vcpu: 0, flags, hard_bitmap: LIST, hard_nr_bits: 8 }) ?? dom0.mem.view.setU8(LIST, bitmap));
    dom0.mem.view.setU8(LIST, 0b100); // cpu 2 does not exist on a 2-pCPU host
    expect(aff(1, 0b100)).toBe(-Errno.EINVAL);
    expect(aff(0, 0b10)).toBe(-Errno.EINVAL);
    dom0.mem.view.setU8(LIST, 0b10);
    expect(aff(1, 0b10)).toBe(0);
    expect(a.vcpus[0].hardAffinity.ids).toEqual([1]);
    const sop = (schedId: number, cmd: number) =>
      domctl(hv, dom0.vcpus[0], DOMCTL.scheduler_op, a.id, (u) => abi.xen_domctl_scheduler_op.write(dom0.mem.view, u, { sched_id: schedId, cmd }));
    expect(sop(5, 1)).toBe(-Errno.EINVAL); // not this pool's scheduler
    expect(sop(99, 7)).toBe(-Errno.EINVAL); // bad cmd
    expect(sop(99, 1)).toBe(-Errno.EINVAL); // the test policy has no adjust hook
    expect(hv.checkInvariants()).toEqual([]);
  });
});

describe('sysctl', () => {
  it('physinfo and the domain list; refuses the unprivileged and old versions', () => {
    const { hv, dom0, a } = setup();
    const call = (v: Vcpu, cmd: number, fill?: (u: number) => void, version = XEN_SYSCTL_INTERFACE_VERSION) => {
      abi.xen_sysctl.init(v.domain.mem.view, ARG, { cmd, interface_version: version });
      fill?.(ARG + abi.SYSCTL_U);
      return hcall(hv, v, HYPERVISOR.sysctl, ARG);
    };
    expect(call(a.vcpus[0], SYSCTL.physinfo)).toBe(-Errno.EPERM);
    expect(call(dom0.vcpus[0], SYSCTL.physinfo, undefined, 1)).toBe(-Errno.EACCES);
    expect(call(dom0.vcpus[0], SYSCTL.physinfo)).toBe(0);
    const p = abi.xen_sysctl_physinfo.read(dom0.mem.view, ARG + abi.SYSCTL_U);
    expect(p.nr_cpus).toBe(2);
    expect(p.total_pages).toBe(64 * 256);
    expect(p.free_pages).toBe(hv.mem.freeFrames);
    expect(call(dom0.vcpus[0], SYSCTL.getdomaininfolist, (u) => abi.xen_sysctl_getdomaininfolist.write(dom0.mem.view, u, { first_domain: 0, max_domains: 10, buffer: 0x10000 }))).toBe(0);
    expect(abi.xen_sysctl_getdomaininfolist.get(dom0.mem.view, ARG + abi.SYSCTL_U, 'num_domains')).toBe(3);
    expect(abi.xen_domctl_getdomaininfo.get(dom0.mem.view, 0x10000 + 112, 'domain')).toBe(a.id);
  });
});

describe('sched_op, timers and vcpu_op', () => {
  it('shutdown records the reason, pauses the domain and sends VIRQ_DOM_EXC to dom0', () => {
    const { hv, dom0, a } = setup();
    const port = op(hv, dom0.vcpus[0], 'event_channel_op', EVTCHNOP.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.DOM_EXC, vcpu: 0 }).out.port;
    expect(op(hv, a.vcpus[0], 'sched_op', SCHEDOP.shutdown, abi.sched_shutdown, { reason: SHUTDOWN.reboot }).rc).toBe(0);
    expect(a.isShutDown).toBe(true);
    expect(a.shutdownCode).toBe(SHUTDOWN.reboot);
    expect(a.vcpus.every((v) => !v.runnable)).toBe(true);
    expect(hv.evtchn.isPending(dom0, port)).toBe(true);
    // the first code stays
    op(hv, a.vcpus[0], 'sched_op', SCHEDOP.shutdown, abi.sched_shutdown, { reason: SHUTDOWN.poweroff });
    expect(a.shutdownCode).toBe(SHUTDOWN.reboot);
  });

  it('remote_shutdown is for the privileged; DOMID_SELF is -ESRCH', () => {
    const { hv, dom0, a, b } = setup();
    expect(op(hv, a.vcpus[0], 'sched_op', SCHEDOP.remote_shutdown, abi.sched_remote_shutdown, { domain_id: b.id, reason: 0 }).rc).toBe(-Errno.EPERM);
    expect(b.isShuttingDown).toBe(false);
    expect(op(hv, dom0.vcpus[0], 'sched_op', SCHEDOP.remote_shutdown, abi.sched_remote_shutdown, { domain_id: DOMID_SELF, reason: 0 }).rc).toBe(-Errno.ESRCH);
    expect(op(hv, dom0.vcpus[0], 'sched_op', SCHEDOP.remote_shutdown, abi.sched_remote_shutdown, { domain_id: b.id, reason: SHUTDOWN.crash }).rc).toBe(0);
    expect(b.shutdownCode).toBe(SHUTDOWN.crash);
  });

  it('set_timer_op raises VIRQ_TIMER at the requested system time', () => {
    const { hv, a } = setup();
    const v = a.vcpus[0];
    const port = op(hv, v, 'event_channel_op', EVTCHNOP.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 0 }).out.port;
    expect(hcall(hv, v, HYPERVISOR.set_timer_op, ms(5))).toBe(0);
    hv.runUntil(ms(5) - 1);
    expect(hv.evtchn.isPending(a, port)).toBe(false);
    hv.runUntil(ms(5));
    expect(hv.evtchn.isPending(a, port)).toBe(true);
    // cancel
    hv.store.bytes(a.sharedInfoMfn)[abi.SHINFO_EVTCHN_PENDING] = 0;
    hcall(hv, v, HYPERVISOR.set_timer_op, ms(8));
    hcall(hv, v, HYPERVISOR.set_timer_op, 0);
    hv.runUntil(ms(9));
    expect(hv.evtchn.isPending(a, port)).toBe(false);
  });

  it('singleshot timers: -ETIME for a past deadline with VCPU_SSHOTTMR_future; other vCPUs are -EINVAL', () => {
    const { hv, a } = setup();
    hv.runUntil(ms(10));
    const v = a.vcpus[0];
    const set = (vcpu: number, t: number, flags: number) => {
      abi.vcpu_set_singleshot_timer.init(a.mem.view, ARG, { timeout_abs_ns: t, flags });
      return hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.set_singleshot_timer, vcpu, ARG);
    };
    expect(set(0, ms(1), VCPU_SSHOTTMR_future)).toBe(-Errno.ETIME);
    expect(set(0, ms(1), 0)).toBe(0);
    expect(set(1, ms(20), 0)).toBe(-Errno.EINVAL);
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.is_up, 5, 0)).toBe(-Errno.ENOENT);
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.up, 1, 0)).toBe(-Errno.EINVAL); // not initialised
    abi.vcpu_set_periodic_timer.init(a.mem.view, ARG, { period_ns: 1000 });
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.set_periodic_timer, 0, ARG)).toBe(-Errno.EINVAL);
  });

  it('get_runstate_info and the registered runstate area report consistent times', () => {
    const { hv, a } = setup();
    const v = a.vcpus[0];
    abi.vcpu_register_runstate_memory_area.init(a.mem.view, ARG, { addr: 0x3000 });
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.register_runstate_memory_area, 0, ARG)).toBe(0);
    hv.runUntil(ms(3));
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.get_runstate_info, 0, 0x4000)).toBe(0);
    const r = abi.vcpu_runstate_info.read(a.mem.view, 0x4000);
    expect(r.state).toBe(3); // offline: never brought up
    expect(r.time_running + r.time_runnable + r.time_blocked + r.time_offline).toBe(ms(3));
    abi.vcpu_register_runstate_memory_area.init(a.mem.view, ARG, { addr: 0x7fff_0000 });
    expect(hcall(hv, v, HYPERVISOR.vcpu_op, VCPUOP.register_runstate_memory_area, 0, ARG)).toBe(-Errno.EFAULT);
  });
});

describe('multicall and misc', () => {
  it('runs each entry, writes its result, refuses nesting and unmapped lists', () => {
    const { hv, a } = setup();
    const v = a.vcpus[0];
    const M = abi.multicall_entry;
    const m = a.mem.view;
    // entry 0: xen_version(version); entry 1: unknown hypercall; entry 2: nested multicall
    M.init(m, 0x5000, { op: HYPERVISOR.xen_version, arg0: XENVER.version });
    M.init(m, 0x5040, { op: 200 });
    M.init(m, 0x5080, { op: HYPERVISOR.multicall, arg0: 0x5000, arg1: 1 });
    expect(hcall(hv, v, HYPERVISOR.multicall, 0x5000, 3)).toBe(0);
    expect(M.get(m, 0x5000, 'result')).toBe(0x40011);
    expect(m.getU32(0x5040 + 8) | 0).toBe(-Errno.ENOSYS);
    expect(m.getU32(0x5080 + 8) | 0).toBe(-Errno.EINVAL);
    expect(hcall(hv, v, HYPERVISOR.multicall, 0x7000_0000, 2)).toBe(-Errno.EFAULT);
    expect(hcall(hv, v, 77)).toBe(-Errno.ENOSYS);
  });

  it('vcpu_time_info lets a guest compute system time exactly; the wall clock is in shared_info', () => {
    const { hv, a } = setup();
    hv.runUntil(ms(7) + 123);
    const v = a.vcpus[0];
    hv.updateVcpuTime(v);
    hv.runUntil(ms(9) + 1);
    const b = hv.store.bytes(a.sharedInfoMfn);
    const dv = new DataView(b.buffer, b.byteOffset);
    const base = abi.VCPU_INFO_TIME_OFFSET;
    expect(dv.getUint32(base, true) % 2).toBe(0);
    const tscTs = Number(dv.getBigUint64(base + 8, true));
    const sys = Number(dv.getBigUint64(base + 16, true));
    const mul = dv.getUint32(base + 24, true);
    const shift = dv.getInt8(base + 28);
    expect(sys).toBe(ms(7) + 123);
    const tsc = hv.tscAt(hv.now());
    const delta = BigInt(tsc - tscTs) << BigInt(Math.max(0, shift));
    expect(sys + Number((delta * BigInt(mul)) >> 32n)).toBe(hv.now());
    expect(dv.getUint32(3076, true)).toBe(hv.wallclockEpochSec);
    expect(dv.getUint32(3072, true) % 2).toBe(0);
  });
});
