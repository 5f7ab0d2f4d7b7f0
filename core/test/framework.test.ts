/**
 * The scheduler framework and the simulation executor, driven with the `fifo` test policy and small
 * hand-written kernels: runstate accounting, preemption of compute bursts, upcalls, hypercall
 * costs, isolation of faulty or runaway guests, refusal of bad policy decisions, the registry,
 * affinity and cpupools (through the hypercall ABI).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DOMCTL,
  Errno,
  EVTCHNOP,
  HALT,
  HYPERVISOR,
  KERNEL_ENTRY,
  OPS_BUDGET,
  PluginError,
  RUNSTATE,
  Registry,
  SCHEDOP,
  SHUTDOWN,
  SPIN_LIMIT,
  SYSCTL,
  VIRQ,
  XENVER,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_SYSCTL_CPUPOOL_OP,
  XEN_SYSCTL_CPUPOOL_PAR_ANY,
  XEN_SYSCTL_INTERFACE_VERSION,
  XEN_VCPUAFFINITY,
  CpuSet,
  abi,
  compute,
  encodeKernelImage,
  ms,
  type Domain,
  type Field,
  type GuestCpu,
  type GuestKernel,
  type Hypervisor,
  type Struct,
  type TraceRecord,
  type Values,
  type Vcpu,
  type Wait,
  type SchedulerOps,
  type AnySchedulerOps,
} from '../src/index';
import { ARG, fifo, hcall, makeDomain, makeHv, type TestHv } from './support';

// ------------------------------------------------------------------ helpers

type Main = (cpu: GuestCpu) => Generator<Wait, void, void>;
const kernel = (vcpuMain: Main, upcall: (cpu: GuestCpu) => void = () => {}): GuestKernel => ({ vcpuMain, upcall });

/** System time as a guest reads it: the TSC at the default 2 GHz is exactly 2 ticks per ns. */
const guestNow = (cpu: GuestCpu) => cpu.tsc() / 2;

/** Guest address where test kernels lay out hypercall arguments (gfn 3; the image is at gfn 1). */
const GUEST_ARG = 0x3000;

/** Register `k` under a fresh name, create a domain whose memory holds its image, and start it. */
let kernelSeq = 0;
function startGuest(t: TestHv, k: GuestKernel, opts: { vcpus?: number; paused?: boolean; pool?: Parameters<Hypervisor['createDomain']>[2] } = {}): Domain {
  const name = `test-kernel-${kernelSeq++}`;
  t.kernels.set(name, () => k);
  const d = opts.pool ? makePoolDomain(t.hv, opts.pool, opts.vcpus ?? 1) : makeDomain(t.hv, { vcpus: opts.vcpus ?? 1 });
  d.mem.view.setBytes(KERNEL_ENTRY, encodeKernelImage(name));
  for (const v of d.vcpus) t.hv.initialiseVcpu(v, { rip: KERNEL_ENTRY, rsp: 0, rsi: 0, rdi: 0 });
  if (!opts.paused) t.hv.fw.unpauseDomain(d);
  return d;
}

function makePoolDomain(hv: Hypervisor, pool: NonNullable<Parameters<Hypervisor['createDomain']>[2]>, vcpus: number): Domain {
  const d = hv.createDomain(hv.allocDomid()!, hv.domainConfig({ maxVcpus: vcpus }), pool);
  if (typeof d === 'number') throw new Error(`createDomain: ${d}`);
  d.mem.maxPages = 64;
  if (!hv.mem.populate(d.mem, 0, 64)) throw new Error('populate');
  return d;
}

/** A CPU hog: compute in chunks forever. */
const hog = (chunk = ms(1)): GuestKernel =>
  kernel(function* () {
    for (;;) yield compute(chunk);
  });

/** Block for `ns` with SCHEDOP_poll on no ports and a timeout (wakes by timeout only). */
function pollSleep(cpu: GuestCpu, ns: number): void {
  abi.sched_poll.init(cpu.mem, GUEST_ARG, { ports: 0, nr_ports: 0, timeout: guestNow(cpu) + ns });
  cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.poll, GUEST_ARG);
}

/** Lay `s` at `addr` in the caller's memory and issue (nr, cmd, addr). */
function opAt<F extends Record<string, Field>>(hv: Hypervisor, v: Vcpu, nr: number, cmd: number, s: Struct<F>, vals: Partial<Values<F>>, addr: number) {
  s.init(v.domain.mem.view, addr, vals);
  const rc = hcall(hv, v, nr, cmd, addr);
  return { rc, out: s.read(v.domain.mem.view, addr) };
}

/** XEN_DOMCTL_* from `v` with the payload `s` in the union. */
function domctl<F extends Record<string, Field>>(hv: Hypervisor, v: Vcpu, cmd: number, dom: number, s: Struct<F>, vals: Partial<Values<F>>) {
  const mem = v.domain.mem.view;
  abi.xen_domctl.init(mem, ARG, { cmd, interface_version: XEN_DOMCTL_INTERFACE_VERSION, domain: dom });
  s.write(mem, ARG + abi.DOMCTL_U, vals);
  const rc = hcall(hv, v, HYPERVISOR.domctl, ARG);
  return { rc, out: s.read(mem, ARG + abi.DOMCTL_U) };
}

/** XEN_SYSCTL_* from `v` with the payload `s` in the union. */
function sysctl<F extends Record<string, Field>>(hv: Hypervisor, v: Vcpu, cmd: number, s: Struct<F>, vals: Partial<Values<F>>) {
  const mem = v.domain.mem.view;
  abi.xen_sysctl.init(mem, ARG, { cmd, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
  s.write(mem, ARG + abi.SYSCTL_U, vals);
  const rc = hcall(hv, v, HYPERVISOR.sysctl, ARG);
  return { rc, out: s.read(mem, ARG + abi.SYSCTL_U) };
}

/** The guest's acknowledgement of its events: clear upcall_pending, the selector and pending bits. */
function ackEvents(hv: Hypervisor, v: Vcpu): void {
  const sh = hv.store.bytes(v.domain.sharedInfoMfn as never);
  const vi = v.id * abi.VCPU_INFO_SIZE;
  sh[vi] = 0;
  sh.fill(0, vi + 8, vi + 16);
  sh.fill(0, abi.SHINFO_EVTCHN_PENDING, abi.SHINFO_EVTCHN_PENDING + 64);
}

function record(hv: Hypervisor, pred: (r: TraceRecord) => boolean = () => true): TraceRecord[] {
  const out: TraceRecord[] = [];
  hv.trace.subscribe((r) => {
    if (pred(r)) out.push(r);
  });
  return out;
}

/** Runstate sums for every vCPU (idle ones included) must equal the time since its creation. */
function runstateErrors(hv: Hypervisor): string[] {
  const now = hv.now();
  const errs: string[] = [];
  const check = (v: Vcpu, created: number) => {
    const sum = v.runstateTime.reduce((a, b) => a + b, 0) + (now - v.stateEntryTime);
    if (sum !== now - created) errs.push(`${v}: ${sum} != ${now - created}`);
  };
  for (const v of hv.idleDomain.vcpus) check(v, 0);
  for (const d of hv.domains.values()) if (d.alive) for (const v of d.vcpus) check(v, d.createdAt);
  return errs;
}

/** Total running time of every vCPU, idle included: exactly nrCpus × now when nothing is lost. */
function totalRunning(hv: Hypervisor): number {
  const now = hv.now();
  let s = 0;
  for (const v of hv.idleDomain.vcpus) s += v.cpuTime(now);
  for (const d of hv.domains.values()) for (const v of d.vcpus) s += v.cpuTime(now);
  return s;
}

const switchCost = (hv: Hypervisor) => hv.costs.switchNs + hv.costs.tlbRefillNs; // no working set: no refill

// ------------------------------------------------------------------ runstate accounting

describe('runstate accounting', () => {
  type Kind = { k: 'hog'; chunk: number } | { k: 'sleeper'; work: number; sleep: number } | { k: 'yielder'; work: number } | { k: 'exit'; work: number };
  const kindArb: fc.Arbitrary<Kind> = fc.oneof(
    fc.record({ k: fc.constant('hog' as const), chunk: fc.integer({ min: 1, max: 3_000_000 }) }),
    fc.record({ k: fc.constant('sleeper' as const), work: fc.integer({ min: 0, max: 2_000_000 }), sleep: fc.integer({ min: 1, max: 5_000_000 }) }),
    fc.record({ k: fc.constant('yielder' as const), work: fc.integer({ min: 1, max: 500_000 }) }),
    fc.record({ k: fc.constant('exit' as const), work: fc.integer({ min: 0, max: 20_000_000 }) }),
  );
  const body = (x: Kind): Main => {
    switch (x.k) {
      case 'hog':
        return function* () {
          for (;;) yield compute(x.chunk);
        };
      case 'sleeper':
        return function* (cpu) {
          for (;;) {
            if (x.work > 0) yield compute(x.work);
            pollSleep(cpu, x.sleep);
            yield HALT;
          }
        };
      case 'yielder':
        return function* (cpu) {
          for (;;) {
            yield compute(x.work);
            cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.yield, 0);
            yield HALT;
          }
        };
      case 'exit':
        return function* () {
          if (x.work > 0) yield compute(x.work);
        };
    }
  };

  it('runstate times sum to the elapsed time of every vCPU, and pCPU time is never lost or doubled', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.record({ kind: kindArb, vcpus: fc.integer({ min: 1, max: 2 }), startAt: fc.integer({ min: 0, max: 5_000_000 }) }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ run: fc.integer({ min: 1, max: 8_000_000 }), pause: fc.nat() }), { minLength: 1, maxLength: 6 }),
        (cpus, guests, steps) => {
          const t = makeHv({ cpus });
          const { hv } = t;
          const doms: Domain[] = [];
          for (const g of [...guests].sort((a, b) => a.startAt - b.startAt)) {
            hv.runUntil(Math.max(hv.now(), g.startAt));
            doms.push(startGuest(t, kernel(body(g.kind)), { vcpus: g.vcpus }));
          }
          const paused = new Set<Domain>();
          for (const s of steps) {
            hv.runFor(s.run);
            expect(runstateErrors(hv)).toEqual([]);
            expect(totalRunning(hv)).toBe(cpus * hv.now());
            expect(hv.checkInvariants()).toEqual([]);
            // toggle the controller pause of one domain between runs
            const d = doms[s.pause % doms.length];
            if (paused.has(d)) {
              hv.fw.unpauseDomain(d);
              paused.delete(d);
            } else {
              hv.fw.pauseDomain(d);
              paused.add(d);
            }
          }
          hv.runFor(ms(2));
          expect(runstateErrors(hv)).toEqual([]);
          expect(totalRunning(hv)).toBe(cpus * hv.now());
          expect(hv.checkInvariants()).toEqual([]);
          expect(hv.fw.policyErrors).toEqual([]);
        },
      ),
      { numRuns: 40, seed: 20031019 },
    );
  });
});

// ------------------------------------------------------------------ the executor

describe('compute bursts, upcalls and hypercall costs', () => {
  it('a burst preempted by slices completes after exactly its CPU time', () => {
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    const BURST = 10_500_000;
    let done = -1;
    const a = startGuest(
      t,
      kernel(function* (cpu) {
        yield compute(BURST);
        done = guestNow(cpu);
        cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
        yield HALT;
      }),
    );
    startGuest(t, hog());
    const rs = record(hv, (r) => r.type === 'runstate' && r.dom === a.id);
    hv.runFor(ms(30));
    expect(done).toBeGreaterThan(0);
    // A's running stints up to `done`
    const stints: number[] = [];
    let since = -1;
    for (const r of rs) {
      if (r.type !== 'runstate' || r.t > done) continue;
      if (r.to === RUNSTATE.running) since = r.t;
      else if (r.from === RUNSTATE.running) {
        stints.push(r.t - since);
        since = -1;
      }
    }
    if (since >= 0) stints.push(done - since);
    // 1 ms fifo slices: the burst needs 11 stints, each paying one switch cost
    expect(stints.length).toBe(11);
    const progress = stints.reduce((x, y) => x + y, 0) - stints.length * switchCost(hv);
    expect(progress).toBe(BURST);
    // and the hog got the rest of the pCPU meanwhile
    expect(hv.checkInvariants()).toEqual([]);
  });

  /** One guest alone on one pCPU computing 5 ms; optionally an event arrives at 1 ms. */
  function burstWithEvent(withEvent: boolean, upcallHypercalls = 0) {
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    const BURST = ms(5);
    let done = -1;
    const upcalls: { t: number; masked: number }[] = [];
    const d = startGuest(
      t,
      kernel(
        function* (cpu) {
          yield compute(BURST);
          done = guestNow(cpu);
          cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
          yield HALT;
        },
        (cpu) => {
          const sh = hv.store.bytes(d.sharedInfoMfn as never);
          upcalls.push({ t: guestNow(cpu), masked: sh[1] });
          for (let i = 0; i < upcallHypercalls; i++) cpu.hypercall(HYPERVISOR.xen_version, XENVER.version);
          ackEvents(hv, d.vcpus[0]);
        },
      ),
      { paused: true },
    );
    const v = d.vcpus[0];
    if (withEvent) {
      const b = opAt(hv, v, HYPERVISOR.event_channel_op, EVTCHNOP.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 0 }, GUEST_ARG);
      expect(b.rc).toBe(0);
      hv.evtchn.setUpcallMask(v, false);
      hv.setSingleshot(v, ms(1));
    }
    hv.fw.unpauseDomain(d);
    hv.runFor(ms(10));
    return { hv, done, upcalls, v, maskAfter: hv.store.bytes(d.sharedInfoMfn as never)[1] };
  }

  it('an event interrupts a running burst after upcallNs, runs the upcall masked, and the burst loses no time', () => {
    const base = burstWithEvent(false);
    const { hv } = base;
    // scheduled softirqNs after the unpause, running after the switch cost, then 5 ms of work
    const start = hv.costs.softirqNs + switchCost(hv);
    expect(base.done).toBe(start + ms(5));
    expect(base.upcalls).toEqual([]);

    const ev = burstWithEvent(true);
    expect(ev.upcalls).toEqual([{ t: ms(1) + hv.costs.upcallNs, masked: 1 }]);
    expect(ev.maskAfter).toBe(0); // restored after the upcall, as iret does
    expect(ev.done).toBe(base.done); // no lost (or gained) time
    // it ran from its switch-in (softirqNs) until its block took effect (softirqNs after `done`)
    expect(ev.v.runstateTime[RUNSTATE.running]).toBe(ev.done);
    expect(base.v.runstateTime[RUNSTATE.running]).toBe(base.done);
  });

  it('hypercall cost is charged as CPU time: costs.hypercallNs per call, in the thread or the upcall', () => {
    const N = 7;
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    let done = -1;
    let rc = 0;
    startGuest(
      t,
      kernel(function* (cpu) {
        for (let i = 0; i < N; i++) rc = cpu.hypercall(HYPERVISOR.xen_version, XENVER.version);
        yield compute(ms(1));
        done = guestNow(cpu);
        cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
        yield HALT;
      }),
    );
    hv.runFor(ms(5));
    expect(rc).toBeGreaterThan(0);
    expect(done).toBe(hv.costs.softirqNs + switchCost(hv) + N * hv.costs.hypercallNs + ms(1));

    // three hypercalls in an upcall delay the interrupted burst by 3 × hypercallNs
    const base = burstWithEvent(true, 0);
    const withCalls = burstWithEvent(true, 3);
    expect(withCalls.done - base.done).toBe(3 * hv.costs.hypercallNs);
  });

  it('hypercall cost pending at a halt is paid as CPU time before the guest continues, even across a block', () => {
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    const H = hv.costs.hypercallNs;
    const marks: number[] = [];
    const WAKE = ms(2);
    const d = startGuest(
      t,
      kernel(function* (cpu) {
        marks.push(guestNow(cpu));
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < 10; i++) cpu.hypercall(HYPERVISOR.xen_version, XENVER.version);
          yield HALT; // nothing to wait for: the 10 calls' cost runs first
          marks.push(guestNow(cpu));
        }
        for (let i = 0; i < 10; i++) cpu.hypercall(HYPERVISOR.xen_version, XENVER.version);
        pollSleep(cpu, WAKE - guestNow(cpu)); // the 11th call blocks until WAKE
        yield HALT;
        marks.push(guestNow(cpu));
        cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
        yield HALT;
      }),
    );
    hv.runFor(ms(5));
    const start = hv.costs.softirqNs + switchCost(hv);
    expect(marks.slice(0, 4)).toEqual([start, start + 10 * H, start + 20 * H, start + 30 * H]);
    // woken at WAKE, switched in softirqNs later, then the switch cost and the 11 calls' cost
    expect(marks[4]).toBe(WAKE + hv.costs.softirqNs + switchCost(hv) + 11 * H);
    expect(d.vcpus[0].runstate).toBe(RUNSTATE.blocked);
  });
});

// ------------------------------------------------------------------ isolation

describe('isolation of faulty guests', () => {
  function crashScenario(bad: GuestKernel) {
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    const b = startGuest(t, hog());
    const d = startGuest(t, bad);
    const c = startGuest(t, hog());
    hv.runFor(ms(20));
    const before = [b, c].map((x) => x.vcpus[0].cpuTime(hv.now()));
    hv.runFor(ms(20));
    const after = [b, c].map((x) => x.vcpus[0].cpuTime(hv.now()));
    return { hv, d, gained: after.map((x, i) => x - before[i]) };
  }

  const expectCrashedAlone = (r: ReturnType<typeof crashScenario>, why: RegExp) => {
    const { hv, d, gained } = r;
    expect(d.shutdownCode).toBe(SHUTDOWN.crash);
    expect(d.isShutDown).toBe(true);
    expect(d.crashReason).toMatch(why);
    expect(d.vcpus[0].isRunning).toBe(false);
    expect(d.vcpus[0].runstate).toBe(RUNSTATE.offline);
    // the two hogs share the whole pCPU between them afterwards (1 ms slices, 3 µs switches)
    for (const g of gained) expect(Math.abs(g - ms(10))).toBeLessThanOrEqual(ms(1) + 50_000);
    expect(gained[0] + gained[1]).toBeGreaterThanOrEqual(ms(20) - 20 * 5_000);
    for (const x of hv.domains.values()) if (x !== d) expect(x.isShuttingDown).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
  };

  it('a guest that throws is crashed alone', () => {
    const r = crashScenario(
      kernel(function* () {
        yield compute(ms(2));
        throw new Error('guest bug: null dereference');
      }),
    );
    expectCrashedAlone(r, /guest bug: null dereference/);
  });

  it('a guest whose upcall throws is crashed alone', () => {
    const t = makeHv({ cpus: 1 });
    const { hv } = t;
    const d = startGuest(
      t,
      kernel(
        function* () {
          for (;;) yield compute(ms(1));
        },
        () => {
          throw new TypeError('bad upcall');
        },
      ),
      { paused: true },
    );
    const other = startGuest(t, hog());
    const v = d.vcpus[0];
    opAt(hv, v, HYPERVISOR.event_channel_op, EVTCHNOP.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 0 }, GUEST_ARG);
    hv.evtchn.setUpcallMask(v, false);
    hv.setSingleshot(v, ms(3));
    hv.fw.unpauseDomain(d);
    hv.runFor(ms(10));
    expect(d.shutdownCode).toBe(SHUTDOWN.crash);
    expect(d.crashReason).toBe('TypeError: bad upcall');
    expect(other.isShuttingDown).toBe(false);
    expect(other.vcpus[0].isRunning).toBe(true);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a runaway guest making hypercalls without ever yielding is crashed alone', () => {
    let calls = 0;
    const r = crashScenario(
      kernel(function* (cpu) {
        yield compute(ms(1));
        for (;;) {
          cpu.hypercall(HYPERVISOR.xen_version, XENVER.version);
          calls++;
        }
      }),
    );
    expectCrashedAlone(r, /too many hypercalls/);
    expect(calls).toBe(OPS_BUDGET);
  });

  it('a runaway guest looping on compute(0) is crashed alone', () => {
    let spins = 0;
    const r = crashScenario(
      kernel(function* () {
        yield compute(ms(1));
        for (;;) {
          spins++;
          yield compute(0);
        }
      }),
    );
    expectCrashedAlone(r, /runaway guest: resumed without virtual time passing/);
    expect(spins).toBe(SPIN_LIMIT + 1);
  });

  it('a guest yielding a malformed wait is crashed alone', () => {
    const r = crashScenario(
      kernel(function* () {
        yield compute(ms(1));
        yield compute(-5);
      }),
    );
    expectCrashedAlone(r, /bad compute wait \(-5 ns\)/);
  });
});

// ------------------------------------------------------------------ policy errors

describe('policy errors', () => {
  type G = ReturnType<typeof fifo.init>;
  type FifoOps = SchedulerOps<G, undefined, undefined, { queued: boolean }>;

  /** fifo, except that doSchedule returns `victim()` whenever it is set. */
  function misbehaving(optName: string, victim: () => Vcpu | null): FifoOps {
    return {
      ...fifo,
      optName,
      doSchedule: (g, prev, now, cpu, tw) => {
        const v = victim();
        return v ? { next: v, sliceNs: ms(1) } : fifo.doSchedule(g, prev, now, cpu, tw);
      },
    };
  }

  it('a non-runnable pick is refused and reported, and the framework keeps the runnable prev', () => {
    let victim: Vcpu | null = null;
    const t = makeHv({ cpus: 1, scheduler: misbehaving('evil', () => victim) });
    const { hv } = t;
    const errs = record(hv, (r) => r.type === 'policy_error');
    const h = startGuest(t, hog());
    const paused = startGuest(t, hog(), { paused: true }); // never unpaused: not runnable
    hv.runFor(ms(2));
    expect(hv.fw.pcpus[0].curr).toBe(h.vcpus[0]);
    victim = paused.vcpus[0];
    const cpuBefore = h.vcpus[0].cpuTime(hv.now());
    hv.runFor(ms(10));
    expect(hv.fw.policyErrors.length).toBeGreaterThanOrEqual(9);
    expect(new Set(hv.fw.policyErrors)).toEqual(new Set([`scheduler "evil" (pool 0) doSchedule: picked ${paused.vcpus[0]}, which is not runnable`]));
    expect(errs.length).toBe(hv.fw.policyErrors.length);
    const e = errs[0];
    expect(e.type === 'policy_error' && { policy: e.policy, hook: e.hook, pool: e.pool }).toEqual({ policy: 'evil', hook: 'doSchedule', pool: 0 });
    // the hog (prev, runnable) ran instead: all of the 10 ms, without a single switch
    expect(h.vcpus[0].cpuTime(hv.now()) - cpuBefore).toBe(ms(10));
    expect(paused.vcpus[0].runstate).toBe(RUNSTATE.offline);
    expect(paused.vcpus[0].isRunning).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a foreign unit (another pool, or another pCPU\'s idle unit) is refused; the pCPU runs idle when prev cannot run', () => {
    let victim: Vcpu | null = null;
    const evil = misbehaving('evil', () => victim);
    const t = makeHv({ cpus: 2, scheduler: evil });
    const { hv } = t;
    // pool 1 on cpu 1, with a hog in it
    expect(hv.fw.removeCpu(1 as never)).toBe(0);
    const pool1 = hv.fw.createPool(1, 'Pool-1', fifo);
    hv.fw.addCpu(pool1, 1 as never);
    const foreign = startGuest(t, hog(), { pool: pool1 });
    // pool 0: a guest that computes 1 ms and then blocks forever
    const blocker = startGuest(
      t,
      kernel(function* (cpu) {
        yield compute(ms(1));
        cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
        yield HALT;
      }),
    );
    hv.runFor(ms(3));
    expect(blocker.vcpus[0].runstate).toBe(RUNSTATE.blocked);
    expect(hv.fw.pcpus[1].curr).toBe(foreign.vcpus[0]);
    victim = foreign.vcpus[0];
    hv.fw.raise(0 as never);
    hv.runFor(ms(1));
    expect(hv.fw.policyErrors).toEqual([`scheduler "evil" (pool 0) doSchedule: returned ${foreign.vcpus[0]}, which is not in this pool`]);
    expect(hv.fw.pcpus[0].curr).toBe(hv.fw.pcpus[0].idle);
    expect(hv.fw.pcpus[1].curr).toBe(foreign.vcpus[0]); // untouched
    victim = hv.fw.pcpus[1].idle;
    hv.fw.raise(0 as never);
    hv.runFor(ms(1));
    expect(hv.fw.policyErrors[1]).toBe(`scheduler "evil" (pool 0) doSchedule: returned the idle unit of cpu 1`);
    expect(hv.fw.pcpus[0].curr).toBe(hv.fw.pcpus[0].idle);
    expect(hv.fw.pcpus[1].curr).toBe(foreign.vcpus[0]);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a hook that throws is reported with the policy and hook names, and the system keeps running', () => {
    let throwIn: string | null = null;
    const thrower: FifoOps = {
      ...fifo,
      optName: 'thrower',
      wake: (g, u) => {
        if (throwIn === 'wake') throw new Error('boom in wake');
        fifo.wake!(g, u);
      },
      contextSaved: () => {
        if (throwIn === 'contextSaved') throw new TypeError('boom in contextSaved');
      },
      doSchedule: (g, prev, now, cpu, tw) => {
        if (throwIn === 'doSchedule') throw new RangeError('boom in doSchedule');
        return fifo.doSchedule(g, prev, now, cpu, tw);
      },
    };
    const t = makeHv({ cpus: 1, scheduler: thrower });
    const { hv } = t;
    const errs = record(hv, (r) => r.type === 'policy_error');
    const a = startGuest(t, hog());
    const b = startGuest(t, hog());
    hv.runFor(ms(2));
    expect(hv.fw.policyErrors).toEqual([]);

    // contextSaved throws at every switch: reported each time, scheduling goes on unharmed
    throwIn = 'contextSaved';
    const before = [a, b].map((d) => d.vcpus[0].cpuTime(hv.now()));
    hv.runFor(ms(10));
    const gained = [a, b].map((d, i) => d.vcpus[0].cpuTime(hv.now()) - before[i]);
    expect(gained[0] + gained[1]).toBe(ms(10));
    for (const g of gained) expect(Math.abs(g - ms(5))).toBeLessThanOrEqual(ms(1) + 2_000);
    expect(hv.fw.policyErrors.length).toBeGreaterThanOrEqual(9);
    expect(new Set(hv.fw.policyErrors)).toEqual(new Set(['scheduler "thrower" (pool 0) contextSaved: TypeError: boom in contextSaved']));
    const n0 = hv.fw.policyErrors.length;

    throwIn = 'wake';
    startGuest(t, hog());
    expect(hv.fw.policyErrors.slice(n0)).toEqual(['scheduler "thrower" (pool 0) wake: Error: boom in wake']);

    // a throwing doSchedule gives no decision: the framework runs idle, re-deciding every 1 ms
    throwIn = 'doSchedule';
    hv.runFor(ms(3));
    expect(hv.fw.policyErrors[n0 + 1]).toBe('scheduler "thrower" (pool 0) doSchedule: RangeError: boom in doSchedule');
    expect(hv.fw.policyErrors.length).toBe(n0 + 1 + 3);
    const e = errs.find((r) => r.type === 'policy_error' && r.hook === 'doSchedule');
    expect(e && e.type === 'policy_error' && [e.policy, e.pool, e.message.split('\n')[0]]).toEqual(['thrower', 0, 'RangeError: boom in doSchedule']);
    expect(errs.length).toBe(hv.fw.policyErrors.length);
    expect(hv.fw.pcpus[0].curr).toBe(hv.fw.pcpus[0].idle);
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
  });
});

// ------------------------------------------------------------------ registry

describe('plugin registry', () => {
  it('refuses a scheduler lacking a mandatory hook, naming the hook', () => {
    const r = new Registry();
    const { doSchedule: _d, ...noDoSchedule } = fifo;
    expect(() => r.registerScheduler({ ...noDoSchedule, optName: 'broken' } as unknown as AnySchedulerOps)).toThrow(PluginError);
    expect(() => r.registerScheduler({ ...noDoSchedule, optName: 'broken' } as unknown as AnySchedulerOps)).toThrow('scheduler "broken" lacks mandatory hook doSchedule');
    const { pickResource: _p, freeUdata: _f, ...twoMissing } = fifo;
    expect(() => r.registerScheduler({ ...twoMissing, optName: 'broken2' } as unknown as AnySchedulerOps)).toThrow('lacks mandatory hook freeUdata, pickResource');
    expect(r.list('scheduler')).toEqual([]);
  });

  it('an unknown scheduler name gives an error listing the known ones', () => {
    const r = new Registry();
    r.registerScheduler(fifo);
    r.registerScheduler({ ...fifo, optName: 'another', schedId: 98 });
    expect(r.scheduler('test-fifo')).toBe(fifo);
    expect(() => r.scheduler('credit9')).toThrow('unknown scheduler "credit9" (have: another, test-fifo)');
    expect(() => r.registerScheduler({ ...fifo, optName: 'dup-id' })).toThrow('reuses schedId 99');
  });
});

// ------------------------------------------------------------------ affinity and cpupools

describe('affinity and cpupools through the hypercall ABI', () => {
  function withDom0(cpus: number) {
    const t = makeHv({ cpus });
    const dom0 = makeDomain(t.hv, { id: 0, privileged: true });
    return { t, hv: t.hv, v0: dom0.vcpus[0] };
  }

  it('a hard affinity excluding the current pCPU migrates the vCPU there', () => {
    const { t, hv, v0 } = withDom0(2);
    const migr = record(hv, (r) => r.type === 'migrate');
    const a = startGuest(t, hog());
    const b = startGuest(t, hog());
    hv.runFor(ms(3));
    const va = a.vcpus[0];
    const from = va.res;
    expect(va.isRunning).toBe(true);
    expect(hv.fw.pcpus[from].curr).toBe(va);
    const to = 1 - from;
    const mem = v0.domain.mem.view;
    const BM = ARG + 0x200;
    mem.setBytes(BM, CpuSet.of([to as never]).toBitmap(2));
    const r = domctl(hv, v0, DOMCTL.setvcpuaffinity, a.id, abi.xen_domctl_vcpuaffinity, { vcpu: 0, flags: XEN_VCPUAFFINITY.hard, hard_bitmap: BM, hard_nr_bits: 2 });
    expect(r.rc).toBe(0);
    hv.runFor(ms(3));
    expect(va.res).toBe(to);
    expect(va.hardAffinity.ids).toEqual([to]);
    expect(migr.some((m) => m.type === 'migrate' && m.dom === a.id && m.from === from && m.to === to)).toBe(true);
    // b was placed on the other pCPU (initial placement is round robin): now a and b share `to`
    // and `from` idles
    expect(b.vcpus[0].res).toBe(to);
    const sw = record(hv, (x) => x.type === 'switch' && x.nextDom === a.id);
    const before = [a, b].map((d) => d.vcpus[0].cpuTime(hv.now()));
    hv.runFor(ms(20));
    const got = [a, b].map((d, i) => d.vcpus[0].cpuTime(hv.now()) - before[i]);
    expect(got[0] + got[1]).toBe(ms(20));
    for (const g of got) expect(Math.abs(g - ms(10))).toBeLessThanOrEqual(ms(1) + 10_000);
    expect(sw.length).toBeGreaterThanOrEqual(9);
    expect(sw.every((x) => x.cpu === to)).toBe(true);
    expect(hv.fw.pcpus[from].curr).toBe(hv.fw.pcpus[from].idle);
    // an affinity outside every pCPU of the pool is refused
    mem.setBytes(BM, new Uint8Array([0]));
    expect(domctl(hv, v0, DOMCTL.setvcpuaffinity, a.id, abi.xen_domctl_vcpuaffinity, { vcpu: 0, flags: XEN_VCPUAFFINITY.hard, hard_bitmap: BM, hard_nr_bits: 2 }).rc).toBe(-Errno.EINVAL);
    expect(va.hardAffinity.ids).toEqual([to]);
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
  });

  it('cpupool create / remove cpu / add cpu / move domain through sysctl keep runstates consistent', () => {
    const { t, hv, v0 } = withDom0(2);
    const moves = record(hv, (r) => r.type === 'pool_move');
    const doms = [startGuest(t, hog()), startGuest(t, hog()), startGuest(t, hog())];
    hv.runFor(ms(5));
    const P = abi.xen_sysctl_cpupool_op;
    // cpu 0 cannot leave Pool-0; cpu 1 can (its vCPUs are re-homed to cpu 0)
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.RMCPU, cpupool_id: 0, cpu: 0 }).rc).toBe(-Errno.EBUSY);
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.RMCPU, cpupool_id: 0, cpu: 1 }).rc).toBe(0);
    for (const d of doms) expect(d.vcpus[0].res).toBe(0);
    expect(hv.checkInvariants()).toEqual([]);
    hv.runFor(ms(3));
    expect(hv.fw.pcpus[1].curr).toBe(hv.fw.pcpus[1].idle);
    // an unknown scheduler id cannot make a pool (scheduler_alloc: -ENOENT)
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.CREATE, cpupool_id: XEN_SYSCTL_CPUPOOL_PAR_ANY, sched_id: 42 }).rc).toBe(-Errno.ENOENT);
    const c = sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.CREATE, cpupool_id: XEN_SYSCTL_CPUPOOL_PAR_ANY, sched_id: fifo.schedId });
    expect(c.rc).toBe(0);
    const pid = c.out.cpupool_id;
    expect(pid).toBe(1);
    // a pool without pCPUs takes no domain (-ENOENT, as Xen)
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN, cpupool_id: pid, domid: doms[2].id }).rc).toBe(-Errno.ENOENT);
    const add = sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.ADDCPU, cpupool_id: pid, cpu: XEN_SYSCTL_CPUPOOL_PAR_ANY });
    expect(add.rc).toBe(0);
    expect(add.out.cpu).toBe(1);
    hv.runFor(ms(2));
    // the caller cannot move itself (rcu_lock_remote_domain_by_id: -EPERM)
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN, cpupool_id: pid, domid: 0 }).rc).toBe(-Errno.EPERM);
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN, cpupool_id: pid, domid: doms[2].id }).rc).toBe(0);
    expect(moves).toEqual([{ t: hv.now(), cpu: -1, type: 'pool_move', dom: doms[2].id, from: 0, to: pid }]);
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
    const info = sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.INFO, cpupool_id: pid });
    expect([info.rc, info.out.cpupool_id, info.out.sched_id, info.out.n_dom]).toEqual([0, pid, fifo.schedId, 1]);

    // Over the next 40 ms: the moved domain has cpu 1 to itself, the other two share cpu 0.
    hv.runFor(ms(1));
    const before = doms.map((d) => d.vcpus[0].cpuTime(hv.now()));
    const switches = record(hv, (r) => r.type === 'switch');
    hv.runFor(ms(40));
    const got = doms.map((d, i) => d.vcpus[0].cpuTime(hv.now()) - before[i]);
    expect(got[2]).toBe(ms(40));
    for (const g of got.slice(0, 2)) expect(Math.abs(g - ms(20))).toBeLessThanOrEqual(ms(1) + 10_000);
    expect(got[0] + got[1]).toBe(ms(40)); // switch costs are charged to the vCPU switched in
    for (const s of switches) {
      if (s.type !== 'switch') continue;
      if (s.nextDom === doms[2].id) expect(s.cpu).toBe(1);
      if (s.nextDom === doms[0].id || s.nextDom === doms[1].id) expect(s.cpu).toBe(0);
    }
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
    expect(totalRunning(hv)).toBe(2 * hv.now());

    // the pool with a domain cannot be destroyed; moving the domain back empties it
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.DESTROY, cpupool_id: pid }).rc).toBe(-Errno.EBUSY);
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN, cpupool_id: 0, domid: doms[2].id }).rc).toBe(0);
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.DESTROY, cpupool_id: pid }).rc).toBe(0);
    expect(sysctl(hv, v0, SYSCTL.cpupool_op, P, { op: XEN_SYSCTL_CPUPOOL_OP.ADDCPU, cpupool_id: 0, cpu: 1 }).rc).toBe(0);
    hv.runFor(ms(10));
    expect(doms.map((d) => d.pool.id)).toEqual([0, 0, 0]);
    expect(hv.checkInvariants()).toEqual([]);
    expect(runstateErrors(hv)).toEqual([]);
    expect(totalRunning(hv)).toBe(2 * hv.now());
    expect(hv.fw.policyErrors).toEqual([]);
  });
});
