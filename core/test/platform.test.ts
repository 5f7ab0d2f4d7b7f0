/**
 * The platform seams a real-vCPU backend plugs into (exec/platform.ts), checked without one: the
 * engine on a monotonic clock, host memory behind frames, contiguous RAM for HVM domains, P2M
 * change notification, the per-vCPU upcall vector, and a platform executor's hooks.
 */
import { describe, expect, it } from 'vitest';
import {
  DOMCTL,
  Engine,
  Errno,
  HVMOP,
  HYPERVISOR,
  LazyFrameStore,
  MemoryManager,
  Prio,
  XEN_DOMCTL_CDF,
  XEN_DOMINF,
  domid,
  type HostMemory,
  type Platform,
  type RealClock,
  type Vcpu,
  type VcpuExecutor,
} from '../src/index';
import { ARG, hcall, makeDomain, makeHv } from './support';

/** A clock the test moves: `wait` jumps to the deadline, as if nothing else happened. */
class FakeClock implements RealClock {
  t = 1000;
  waits: number[] = [];
  now(): number {
    return this.t;
  }
  wait(deadline: number): boolean {
    this.waits.push(deadline);
    if (deadline === Infinity) return false;
    this.t = Math.max(this.t, deadline);
    return true;
  }
}

describe('engine on a real clock', () => {
  it('runs events as the clock reaches them, waiting through the clock, and never runs time backwards', () => {
    const c = new FakeClock();
    const e = new Engine(1, c);
    expect(e.now()).toBe(1000);
    const ran: [string, number][] = [];
    e.at(5000, Prio.TIMER, () => ran.push(['a', e.now()]));
    e.at(3000, Prio.TIMER, () => ran.push(['b', e.now()]));
    e.run(4000);
    expect(ran).toEqual([['b', 3000]]);
    expect(e.now()).toBe(4000);
    expect(c.waits).toEqual([3000, 4000]);
    c.t = 9000; // the host was busy: the event is late, and runs at the time it actually runs
    e.run(10_000);
    expect(ran).toEqual([['b', 3000], ['a', 9000]]);
    // An event computed from an older instant is simply due now.
    const h = e.at(2000, Prio.TIMER, () => ran.push(['late', e.now()]));
    expect(h.time).toBe(10_000);
    expect(e.step()).toBe(true);
    expect(ran.at(-1)).toEqual(['late', 10_000]);
    // Nothing queued and nothing outside: step says so instead of waiting forever.
    expect(e.step()).toBe(false);
  });
});

describe('host memory behind frames', () => {
  it('gives views of the host bytes, scrubs through the host, and refuses frames already in use', () => {
    const store = new LazyFrameStore(16);
    const bytes = new Uint8Array(8 * 4096);
    const scrubbed: number[] = [];
    const host: HostMemory = { first: 4, bytes, scrub: (m, n) => {
      scrubbed.push(m);
      bytes.fill(0, (m - 4) * 4096, (m - 4 + n) * 4096);
    } };
    store.bytes(0 as never)[0] = 1; // a lazy frame outside the range
    store.attach(host);
    expect(() => store.attach({ first: 0, bytes: new Uint8Array(4096), scrub: () => {} })).toThrow(/in use/);
    store.bytes(5 as never)[7] = 42;
    expect(bytes[4096 + 7]).toBe(42);
    bytes[2 * 4096] = 9; // written by "real guest code", never through a view
    expect(store.touched(6 as never)).toBe(false);
    store.scrub(6 as never);
    expect(bytes[2 * 4096]).toBe(0);
    store.scrub(5 as never);
    expect(scrubbed).toEqual([6, 5]);
    expect(store.bytes(5 as never)[7]).toBe(0);
    expect(store.bytes(0 as never)[0]).toBe(1);
  });
});

describe('contiguous RAM for HVM domains', () => {
  it('places gfn g at base + g even when the free list is fragmented; others keep the plain order', () => {
    const mm = new MemoryManager(new LazyFrameStore(256));
    const a = mm.createDomain(domid(1), 64);
    expect(mm.populate(a, 0, 64)).toBe(true); // frames 0..63
    for (let g = 0; g < 64; g += 2) mm.depopulate(a, g); // fragment: every other frame free
    const h = mm.createDomain(domid(2), 32);
    h.contiguous = true;
    for (let g = 0; g < 32; g++) expect(mm.populate(h, g, 1)).toBe(true);
    const mfns = Array.from({ length: 32 }, (_, g) => h.p2m.lookup(g));
    expect(mfns.every((m, g) => m === mfns[0] + g)).toBe(true);
    expect(mfns[0]).toBeGreaterThanOrEqual(64);
    const p = mm.createDomain(domid(3), 4);
    expect(mm.populate(p, 0, 4)).toBe(true);
    expect([0, 1, 2, 3].map((g) => p.p2m.lookup(g))).toEqual([62, 60, 58, 56]); // the free list's order: last freed first
    expect(mm.checkInvariants()).toEqual([]);
  });

  it('tells a P2M listener of every entry set and cleared, before the frame is released', () => {
    const store = new LazyFrameStore(64);
    const mm = new MemoryManager(store);
    const d = mm.createDomain(domid(1), 8);
    const seen: string[] = [];
    d.p2m.onChange = (g, mapped) => seen.push(`${mapped ? '+' : '-'}${g}:${mm.ownerOf(0) === 1 ? 'owned' : 'free'}`);
    mm.populate(d, 0, 1);
    mm.depopulate(d, 0);
    expect(seen).toEqual(['+0:owned', '-0:owned']);
  });
});

describe('HVM domains and the platform executor', () => {
  it('HVMOP_set_evtchn_upcall_vector: the vector, with Xen\'s errnos', () => {
    const { hv } = makeHv();
    const d = makeDomain(hv, { vcpus: 2 });
    const v = d.vcpus[0];
    const m = d.mem.view;
    const set = (vcpu: number, vector: number, at = ARG) => {
      m.setU32(ARG, vcpu);
      m.setU8(ARG + 4, vector);
      return hcall(hv, v, HYPERVISOR.hvm_op, HVMOP.set_evtchn_upcall_vector, at);
    };
    expect(set(1, 0xf3)).toBe(0);
    expect(d.vcpus[1].upcallVector).toBe(0xf3);
    expect(set(0, 0x0f)).toBe(-Errno.EINVAL);
    expect(set(5, 0xf3)).toBe(-Errno.ENOENT);
    expect(set(0, 0xf3, 0x7fff_0000)).toBe(-Errno.EFAULT);
    expect(hcall(hv, v, HYPERVISOR.hvm_op, 99, ARG)).toBe(-Errno.ENOSYS);
  });

  it('routes through the platform: its executor, memory, TSC; kicks reach it for vCPUs that do not run', () => {
    const told: string[] = [];
    const bytes = new Uint8Array(64 * 256 * 4096);
    const platform: Platform = {
      tsc: { hz: 3e9, at: (t) => 7 + t * 3 },
      memory: (n) => ({ first: 0, bytes: bytes.subarray(0, n * 4096), scrub: () => {} }),
      executor: (_hv, sim): VcpuExecutor => ({
        run: (v: Vcpu, pc, cost) => (v.domain.isHvm ? told.push(`run ${v}`) : sim.run(v, pc, cost)),
        stop: (v: Vcpu) => (v.domain.isHvm ? told.push(`stop ${v}`) : sim.stop(v)),
        interrupt: (v: Vcpu) => told.push(`interrupt ${v}`),
        kill: (v: Vcpu) => (v.domain.isHvm ? told.push(`kill ${v}`) : sim.kill(v)),
      }),
    };
    const { hv } = makeHv({ platform });
    expect(hv.tscAt(100)).toBe(307);
    expect(hv.tscHz).toBe(3e9);
    const d = hv.createDomain(domid(5), hv.domainConfig({ flags: XEN_DOMCTL_CDF.hvm }));
    if (typeof d === 'number') throw new Error(String(d));
    expect(d.isHvm).toBe(true);
    expect(d.mem.contiguous).toBe(true);
    hv.store.bytes(d.sharedInfoMfn)[0] = 0x5a;
    expect(bytes[d.sharedInfoMfn * 4096]).toBe(0x5a); // frames are the platform's memory
    hv.kick(d.vcpus[0]); // not running, down: a platform executor is told anyway
    expect(told).toContain(`interrupt ${d.vcpus[0]}`);
    hv.crash(d, 'test');
    expect(told).toContain(`kill ${d.vcpus[0]}`);
    void DOMCTL;
    void XEN_DOMINF;
  });
});
