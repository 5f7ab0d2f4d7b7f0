/**
 * Real vCPUs on KVM: xtkernel (guests/xtkernel, C) running on /dev/kvm beside TypeScript dom0,
 * through the same hypercall table, event channels, grant tables and scheduler framework as the
 * simulation. Skipped, with the reason in the title, where /dev/kvm (or the built addon or kernel)
 * is absent.
 *
 * Figures here are real time on a shared machine: the tests assert what must hold (errnos, bits,
 * isolation, which guest did more work), never exact shares or latencies.
 */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Errno, GNTST, SHUTDOWN } from '@xenotype/core';
import { bvtAdjdom, bvtCtl, bvtScheduler, mcuAdvanceForWeight } from '@xenotype/sched-bvt';
import { buildDomain } from '../tools/src/toolstack/builder';
import { xtkernelDomain } from '../tools/src/kvm/xtkernel';
import { KvmHost, kvmSkip, kvmTitle } from './support/kvm-host';

/** What every hypercall xtkernel uses answers, with good and bad arguments (xtkernel's selftest app). */
const SELFTEST: Record<string, number> = {
  'xen_version.version': (4 << 16) | 17,
  'xen_version.extraversion.bad_ptr': -Errno.EFAULT,
  'xen_version.bad_cmd': -Errno.ENOSYS,
  'console_io.write': 17,
  'console_io.write.bad_ptr': -Errno.EFAULT,
  'console_io.read': -Errno.EPERM,
  'memory_op.add_to_physmap.shared_info': 0,
  'memory_op.add_to_physmap.bad_ptr': -Errno.EFAULT,
  'memory_op.add_to_physmap.bad_idx': -Errno.EINVAL,
  'memory_op.add_to_physmap.foreign_domain': -Errno.EPERM,
  'memory_op.add_to_physmap.unowned_frame': -Errno.EINVAL,
  'memory_op.add_to_physmap.grant_table': 0,
  'memory_op.decrease_reservation.unowned_frame': 0, // extents done
  'memory_op.current_reservation': 4096,
  'memory_op.bad_cmd': -Errno.ENOSYS,
  'hvm_op.set_evtchn_upcall_vector': 0,
  'hvm_op.set_evtchn_upcall_vector.bad_vector': -Errno.EINVAL,
  'hvm_op.set_evtchn_upcall_vector.bad_vcpu': -Errno.ENOENT,
  'hvm_op.set_evtchn_upcall_vector.bad_ptr': -Errno.EFAULT,
  'event_channel_op.alloc_unbound': 0,
  'event_channel_op.alloc_unbound.foreign_domain': -Errno.EPERM,
  'event_channel_op.alloc_unbound.bad_ptr': -Errno.EFAULT,
  'event_channel_op.send': 0,
  'event_channel_op.send.foreign_port': -Errno.EINVAL,
  'event_channel_op.send.bad_ptr': -Errno.EFAULT,
  'event_channel_op.bind_virq.bad_virq': -Errno.EINVAL,
  'event_channel_op.bind_virq.already_bound': -Errno.EEXIST,
  'event_channel_op.bind_interdomain.foreign_port': -Errno.EINVAL,
  'event_channel_op.unmask': 0,
  'event_channel_op.unmask.bad_port': -Errno.EINVAL,
  'event_channel_op.close': 0,
  'event_channel_op.close.port0': -Errno.EINVAL,
  'event_channel_op.bad_cmd': -Errno.ENOSYS,
  'grant_table_op.copy.unowned_frame': GNTST.bad_page,
  'grant_table_op.copy.bad_ptr': -Errno.EFAULT,
  'grant_table_op.query_size': GNTST.okay,
  'sched_op.yield': 0,
  'sched_op.shutdown.bad_ptr': -Errno.EFAULT,
  'sched_op.remote_shutdown.dom0': -Errno.EPERM,
  'sched_op.poll.bad_ptr': -Errno.EFAULT,
  'sched_op.bad_cmd': -Errno.ENOSYS,
  set_timer_op: 0,
  'set_timer_op.cancel': 0,
  'domctl.unprivileged': -Errno.EACCES, // the interface version is checked first, as in Xen
  'sysctl.unprivileged': -Errno.EACCES,
  unknown_hypercall: -Errno.ENOSYS,
};

// Where /dev/kvm exists the KVM tests must run: a missing build (the install hooks never fail
// `npm ci`) is a failure here, not a silent skip.
describe('KVM backend availability', () => {
  it.skipIf(!existsSync('/dev/kvm'))('with /dev/kvm present, the addon and xtkernel are built and the addon opens it', () => {
    expect(kvmSkip).toBeNull();
  });
});

describe.skipIf(kvmSkip !== null)(kvmTitle('KVM backend: xtkernel on real vCPUs'), () => {
  const hosts: KvmHost[] = [];
  const kvmHost = (o?: ConstructorParameters<typeof KvmHost>[0]) => {
    const k = new KvmHost(o);
    hosts.push(k);
    return k;
  };
  afterEach(() => {
    for (const k of hosts.splice(0)) k.dispose();
  });
  it('answers every hypercall the guest kernel uses, good and bad arguments alike, with Xen errnos', () => {
    const k = kvmHost();
    const g = k.guest({ name: 'selftest', app: 'selftest' });
    expect(k.runUntil(() => k.linesOf(g.domid).includes('selftest done'))).toBe(true);
    const got: Record<string, number> = {};
    for (const line of k.linesOf(g.domid)) {
      const m = /^selftest (\S+) (-?\d+)$/.exec(line);
      if (m) got[m[1]] = Number(m[2]);
    }
    expect(got).toEqual(SELFTEST);
    const d = k.hv.domains.get(g.domid)!;
    expect(d.crashReason).toBeNull();
    k.host.runFor(50e6); // it powers itself off after the test
    expect(d.shutdownCode).toBe(SHUTDOWN.poweroff);
    expect(k.hv.checkInvariants()).toEqual([]);
    // dom0 (TypeScript, paced to real time) is unaffected and still runs jobs.
    expect(k.host.run('alive', function* ({ xc }) {
      return xc.domainGetInfo(0)!.domid;
    })).toBe(0);
  });

  it('delivers an upcall on the per-vCPU vector; the shared_info bits are the core\'s; a masked port waits for its unmask', () => {
    const k = kvmHost();
    const g = k.guest({ name: 'evtest', app: 'evtest' });
    const id = g.domid;
    expect(k.runUntil(() => k.counter(id, 3) === 1)).toBe(true);
    const data = k.counter(id, 4)!;
    const ctl = k.counter(id, 5)!;
    const d = k.hv.domains.get(id)!;
    const ev = k.hv.evtchn;
    expect(d.vcpus[0].upcallVector).toBe(0xf3);
    // dom0 binds both of the guest's ports and sends on the (guest-masked) data port.
    const [ldata, lctl] = k.host.run('bind', function* ({ os }) {
      return [os.evtchn.bindInterdomain(id, data), os.evtchn.bindInterdomain(id, ctl)];
    });
    const upcallsBefore = k.counter(id, 6)!;
    k.host.run('send data', function* ({ os }) {
      os.evtchn.notify(ldata);
    });
    k.host.runFor(30e6);
    // What the core wrote into the real shared_info: pending and masked, no upcall pending.
    expect(ev.isPending(d, data)).toBe(true);
    expect(ev.isMasked(d, data)).toBe(true);
    expect(ev.upcallPending(d.vcpus[0])).toBe(false);
    expect(k.counter(id, 7)).toBe(0); // not delivered while masked
    expect(k.counter(id, 6)).toBe(upcallsBefore); // no upcall either
    // The control event: an upcall reaches the guest, which reads the same bits the core wrote, then unmasks.
    k.host.run('send ctl', function* ({ os }) {
      os.evtchn.notify(lctl);
    });
    expect(k.runUntil(() => k.counter(id, 3) === 3, 5e9, 1e6)).toBe(true);
    expect(k.counter(id, 8)).toBe(1); // pending, as the guest saw it
    expect(k.counter(id, 9)).toBe(1); // masked, as the guest saw it
    expect(k.counter(id, 7)).toBe(0);
    expect(k.counter(id, 11)!).toBeGreaterThan(upcallsBefore); // upcalls reached the guest (the control event's at least)
    expect(ev.isPending(d, data)).toBe(false); // the guest cleared it
    expect(ev.isMasked(d, data)).toBe(false);
    expect(k.platform.kvm!.stats.msis).toBeGreaterThanOrEqual(1);
    expect(d.crashReason).toBeNull();
    expect(k.hv.checkInvariants()).toEqual([]);
  });

  for (const [kind, want] of [
    ['io', /unhandled KVM exit IO \(out to port 0x99, 1 byte\) at rip 0x[0-9a-f]+/],
    ['mmio', /unhandled KVM exit MMIO \(write of 4 bytes at unmapped gpa 0x30000000\) at rip 0x[0-9a-f]+/],
  ] as const) {
    it(`stops a guest that does what the VMM does not handle (${kind}), alone: the others go on`, () => {
      const k = kvmHost();
      const hog = k.guest({ name: 'hog', app: 'hog', args: { chunk: 100000 } }).domid;
      const bad = k.guest({ name: 'bad', app: 'fault', args: { kind, after: 20e6 } }).domid;
      expect(k.runUntil(() => k.crashes.has(bad))).toBe(true);
      expect(k.crashes.get(bad)).toMatch(want);
      const d = k.hv.domains.get(bad)!;
      expect(d.shutdownCode).toBe(SHUTDOWN.crash);
      expect(k.linesOf(bad)).not.toContain('fault: still running');
      // The hog keeps working after the crash; dom0 can still destroy the dead domain.
      const before = k.counter(hog, 0)!;
      k.host.runFor(100e6);
      expect(k.counter(hog, 0)!).toBeGreaterThan(before);
      expect(k.hv.domains.get(hog)!.crashReason).toBeNull();
      k.host.run('destroy', function* ({ xc }) {
        xc.domainDestroy(bad);
      });
      k.host.runFor(20e6);
      expect(k.hv.domains.has(bad)).toBe(false);
      expect(k.counter(hog, 0)!).toBeGreaterThan(before);
      expect(k.hv.checkInvariants()).toEqual([]);
    });
  }

  it('crashes a guest whose code faults (ud2 in ring 3) through its own exception handler, alone', () => {
    const k = kvmHost();
    const hog = k.guest({ name: 'hog', app: 'hog', args: { chunk: 100000 } }).domid;
    const bad = k.guest({ name: 'bad', app: 'fault', args: { kind: 'ud' } }).domid;
    expect(k.runUntil(() => k.hv.domains.get(bad)!.shutdownCode === SHUTDOWN.crash)).toBe(true);
    expect(k.linesOf(bad).some((l) => /exception 6 .* cs 0x23/.test(l))).toBe(true);
    const before = k.counter(hog, 0)!;
    k.host.runFor(50e6);
    expect(k.counter(hog, 0)!).toBeGreaterThan(before);
  });

  it('runstate accounting and the trace hold in real time: each vCPU\'s runstates add up to its lifetime, its running time is what the switch records say', () => {
    const k = kvmHost({ scheduler: 'rr' });
    const switches: { t: number; prevDom: number; nextDom: number; prevRan: number }[] = [];
    k.hv.trace.subscribe((r) => {
      if (r.type === 'switch') switches.push(r as unknown as (typeof switches)[number]);
    });
    const ids = [0, 1].map((i) => k.guest({ name: `hog${i}`, app: 'hog', args: { chunk: 100000 } }).domid);
    k.host.runFor(400e6);
    const now = k.host.now; // one reading: outside an event, the real clock moves between reads
    for (const id of ids) {
      const d = k.hv.domains.get(id)!;
      const v = d.vcpus[0];
      const t = v.runstateTime;
      // Integer ns on the monotonic clock: exact, as in simulation.
      expect(t[0] + t[1] + t[2] + t[3] + (now - v.stateEntryTime)).toBe(now - d.createdAt);
      // Running time from the trace: every stint that ended in a switch, plus the current one.
      const ran = switches.filter((s) => s.prevDom === id).reduce((a, s) => a + s.prevRan, 0);
      const current = v.isRunning ? now - v.stateEntryTime : 0;
      expect(ran + current).toBe(t[0] + current);
      expect(t[0]).toBeGreaterThan(50e6); // both hogs got the pCPU (rr, 5 ms slices, 400 ms)
    }
    expect(switches.filter((s) => ids.includes(s.prevDom) && ids.includes(s.nextDom)).length).toBeGreaterThan(10);
    expect(k.hv.checkInvariants()).toEqual([]);
  });

  it('BVT 1:2 on one pCPU: the heavier guest does more work, by the guests\' own counters', () => {
    const k = kvmHost({ scheduler: 'bvt' });
    const ids = k.host.run('build', function* ({ xc }) {
      xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: 5e6 });
      const out: number[] = [];
      for (const [i, w] of [1, 2].entries()) {
        const id = buildDomain(xc, xtkernelDomain({ name: `hog${i}`, app: 'hog', args: { chunk: 100000 }, paused: true })).domid;
        xc.schedDomainSet(id, bvtScheduler.schedId, bvtAdjdom, { mcu_adv: mcuAdvanceForWeight(w), warpback: 0, warpvalue: 0, warpl: 2000, warpu: 1000 });
        out.push(id);
      }
      for (const id of out) xc.domainUnpause(id);
      return out;
    });
    expect(k.runUntil(() => ids.every((id) => k.counter(id, 0) !== undefined))).toBe(true);
    k.host.runFor(300e6);
    const before = ids.map((id) => k.counter(id, 0)!);
    k.host.runFor(1.5e9);
    const work = ids.map((id, i) => k.counter(id, 0)! - before[i]);
    expect(work[0]).toBeGreaterThan(0);
    expect(work[1]).toBeGreaterThan(work[0] * 1.3); // entitled to 2x; real time on a shared machine is noisy
    expect(k.hv.checkInvariants()).toEqual([]);
  });
});
