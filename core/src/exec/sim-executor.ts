/**
 * The simulation execution backend: runs guest coroutines on the framework's pCPUs in virtual time.
 *
 * A vCPU switched in first pays its switch cost, then is *dispatched*: pending upcalls are
 * delivered, pending hypercall cost is paid as CPU time, an interrupted burst continues, or the
 * coroutine is resumed until its next wait. A burst ends at an engine event; if the vCPU is
 * preempted first its remainder is kept exactly (progress = time actually on the pCPU after the
 * switch cost). An event for a running vCPU interrupts its burst after the upcall latency, then the
 * burst resumes.
 *
 * Isolation: an exception thrown by guest code (including a GuestFault) crashes that domain alone.
 * A guest that runs away — more than OPS_BUDGET hypercalls and memory accesses in one resume, or
 * SPIN_LIMIT resumes without virtual time passing — is crashed as a runaway. (A JavaScript loop that
 * touches neither memory nor hypercalls cannot be interrupted in one thread; guests built on
 * guests/minios always touch one or the other.)
 */
import { Prio, type Engine, type EventHandle } from '../engine/engine';
import type { Ns } from '../engine/time';
import type { Vcpu } from '../domain/vcpu';
import type { Domain } from '../domain/domain';
import type { Pcpu, SchedFramework } from '../sched/framework';
import type { VcpuExecutor } from './platform';
import type { EventChannels } from '../evtchn/evtchn';
import type { CostModel } from '../sched/cost-model';
import { decodeKernelImage } from './image';
import { RunawayGuest } from '../mm/guest-memory';
import type { GuestCpu, GuestKernel, KernelLoader, Wait, InitialRegs } from './guest';

export const OPS_BUDGET = 5_000_000;
export const SPIN_LIMIT = 100_000;
const UPCALL_LIMIT = 1_000;


export interface ExecHost {
  readonly engine: Engine;
  readonly fw: SchedFramework;
  readonly evtchn: EventChannels;
  readonly costs: CostModel;
  readonly tscHz: number;
  /** The TSC a guest reads at system time t. */
  tscAt(t: Ns): number;
  readonly loader: KernelLoader;
  dispatchHypercall(v: Vcpu, nr: number, args: number[]): number;
  crash(d: Domain, why: string): void;
  /** The kernel's body returned: take the vCPU down (VCPUOP_down). */
  vcpuExited(v: Vcpu): void;
}

const enum Next {
  none,
  dispatch,
  burst,
}

class ExecState {
  gen: Generator<Wait, void, void> | null = null;
  dead = false;
  pcpu: Pcpu | null = null;
  burstLeft: Ns = 0;
  progressFrom: Ns = 0;
  next: EventHandle | null = null;
  nextKind = Next.none;
  kick: EventHandle | null = null;
  pendingCost: Ns = 0;
  inGuest = false;
  budget = 0;
  ops = 0;
  spinAt = -1;
  spins = 0;
  constructor(readonly cpu: SimGuestCpu) {}
}

class SimGuestCpu implements GuestCpu {
  constructor(
    private readonly host: ExecHost,
    private readonly v: Vcpu,
    private readonly ex: () => ExecState,
  ) {}
  get domid(): number {
    return this.v.domain.id;
  }
  get vcpuId(): number {
    return this.v.id;
  }
  get regs(): InitialRegs {
    return this.v.regs;
  }
  get mem() {
    return this.v.domain.mem.view;
  }
  hypercall(nr: number, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    const ex = this.ex();
    if (++ex.ops > ex.budget) throw new RunawayGuest('too many hypercalls without yielding');
    ex.pendingCost += this.host.costs.hypercallNs;
    return this.host.dispatchHypercall(this.v, nr, [a1, a2, a3, a4, a5]);
  }
  tsc(): number {
    return this.host.tscAt(this.host.engine.now());
  }
  rdrand(): number {
    return this.v.domain.rng.int(0, 0xffffffff);
  }
}

export class SimExecutor implements VcpuExecutor {
  constructor(private readonly host: ExecHost) {}

  state(v: Vcpu): ExecState {
    let ex = v.exec as ExecState | undefined;
    if (!ex) {
      const cpu = new SimGuestCpu(this.host, v, () => v.exec as ExecState);
      ex = new ExecState(cpu);
      v.exec = ex;
    }
    return ex;
  }

  /** Pending hypercall cost of a vCPU (for tests of the cost model). */
  pendingCost(v: Vcpu): Ns {
    return this.state(v).pendingCost;
  }

  private get now(): Ns {
    return this.host.engine.now();
  }

  private setNext(ex: ExecState, at: Ns, kind: Next, fn: () => void): void {
    ex.next?.cancel();
    ex.nextKind = kind;
    ex.next = this.host.engine.at(at, Prio.GUEST, () => {
      ex.next = null;
      ex.nextKind = Next.none;
      fn();
    });
  }

  run(v: Vcpu, pcpu: Pcpu, costNs: Ns): void {
    const ex = this.state(v);
    ex.pcpu = pcpu;
    if (ex.dead) return;
    this.setNext(ex, this.now + costNs, Next.dispatch, () => this.dispatch(v));
  }

  stop(v: Vcpu): void {
    const ex = this.state(v);
    if (!ex.pcpu) return;
    if (ex.nextKind === Next.burst) ex.burstLeft = Math.max(0, ex.burstLeft - (this.now - ex.progressFrom));
    ex.next?.cancel();
    ex.next = null;
    ex.nextKind = Next.none;
    ex.kick?.cancel();
    ex.kick = null;
    ex.pcpu = null;
  }

  /** Events became pending for `v` while it may be running: interrupt its burst after the upcall latency. */
  interrupt(v: Vcpu): void {
    const ex = this.state(v);
    if (!ex.pcpu || ex.dead || ex.kick?.pending) return;
    ex.kick = this.host.engine.at(this.now + this.host.costs.upcallNs, Prio.GUEST, () => {
      ex.kick = null;
      if (ex.pcpu && ex.nextKind === Next.burst && this.host.evtchn.eventsNeedDelivery(v)) {
        ex.burstLeft = Math.max(0, ex.burstLeft - (this.now - ex.progressFrom));
        ex.next?.cancel();
        ex.next = null;
        ex.nextKind = Next.none;
        this.dispatch(v);
      }
    });
  }

  /** The vCPU's domain is gone or crashed: never run its code again. */
  kill(v: Vcpu): void {
    const ex = this.state(v);
    ex.dead = true;
    ex.gen = null;
    ex.next?.cancel();
    ex.kick?.cancel();
  }

  private arm(v: Vcpu, ex: ExecState): void {
    ex.progressFrom = this.now;
    this.setNext(ex, this.now + ex.burstLeft, Next.burst, () => {
      ex.burstLeft = 0;
      this.dispatch(v);
    });
  }

  private dispatch(v: Vcpu): void {
    const ex = this.state(v);
    if (!ex.pcpu || ex.dead) return;
    if (!this.deliverUpcalls(v, ex)) return;
    if (ex.pendingCost > 0) {
      ex.burstLeft += ex.pendingCost;
      ex.pendingCost = 0;
    }
    if (ex.burstLeft > 0) {
      this.arm(v, ex);
      return;
    }
    this.resume(v, ex);
  }

  private deliverUpcalls(v: Vcpu, ex: ExecState): boolean {
    const evt = this.host.evtchn;
    let n = 0;
    while (ex.pcpu && !ex.dead && evt.eventsNeedDelivery(v)) {
      if (++n > UPCALL_LIMIT) {
        this.host.crash(v.domain, 'runaway guest: event upcalls never acknowledged');
        return false;
      }
      const kernel = this.kernel(v, ex);
      if (!kernel) return false;
      evt.setUpcallMask(v, true);
      if (!this.enterGuest(v, ex, () => kernel.upcall(ex.cpu))) return false;
      evt.setUpcallMask(v, false);
    }
    return ex.pcpu !== null && !ex.dead;
  }

  /** Run guest code; on an exception crash the domain. Returns false if the guest died. */
  private enterGuest(v: Vcpu, ex: ExecState, fn: () => void): boolean {
    ex.inGuest = true;
    ex.ops = 0;
    ex.budget = OPS_BUDGET;
    const view = v.domain.mem.view;
    view.ops = 0;
    view.budget = OPS_BUDGET;
    try {
      fn();
      return !ex.dead;
    } catch (e) {
      this.host.crash(v.domain, e instanceof Error ? `${e.name}: ${e.message}` : `guest threw ${String(e)}`);
      return false;
    } finally {
      ex.inGuest = false;
      view.budget = Infinity;
    }
  }

  private kernel(v: Vcpu, ex: ExecState): GuestKernel | null {
    const d = v.domain;
    if (!d.kernel) {
      const img = decodeKernelImageSafe(d, v.regs.rip);
      const k = typeof img === 'string' ? undefined : this.host.loader(img);
      if (!k) {
        this.host.crash(d, typeof img === 'string' ? img : `unknown kernel "${img.name}"`);
        return null;
      }
      d.kernel = k;
    }
    return d.kernel as GuestKernel;
  }

  private resume(v: Vcpu, ex: ExecState): void {
    const fw = this.host.fw;
    for (;;) {
      if (!ex.pcpu || ex.dead || !v.runnable) return;
      if (!ex.gen) {
        const k = this.kernel(v, ex);
        if (!k) return;
        ex.gen = k.vcpuMain(ex.cpu);
      }
      if (ex.spinAt === this.now) {
        if (++ex.spins > SPIN_LIMIT) {
          this.host.crash(v.domain, 'runaway guest: resumed without virtual time passing');
          return;
        }
      } else {
        ex.spinAt = this.now;
        ex.spins = 0;
      }
      let r: IteratorResult<Wait, void> | undefined;
      const gen = ex.gen;
      if (!this.enterGuest(v, ex, () => (r = gen.next()))) return;
      if (r!.done) {
        ex.gen = null;
        ex.dead = true;
        this.host.vcpuExited(v);
        return;
      }
      const w = r!.value;
      if (w.kind === 'compute') {
        if (!(Number.isSafeInteger(w.ns) && w.ns >= 0)) {
          this.host.crash(v.domain, `bad compute wait (${w.ns} ns)`);
          return;
        }
        if (w.workingSet !== undefined) v.workingSet = Math.max(0, w.workingSet | 0);
        ex.burstLeft = w.ns + ex.pendingCost;
        ex.pendingCost = 0;
        if (ex.burstLeft > 0) {
          if (ex.pcpu) this.arm(v, ex);
          return;
        }
        continue;
      }
      if (w.kind !== 'halt') {
        this.host.crash(v.domain, `bad wait ${JSON.stringify(w)}`);
        return;
      }
      // halt: let a pending reschedule (yield, block) take effect first.
      if (!ex.pcpu || !v.runnable || fw.reschedulePending(ex.pcpu.id)) return;
      if (ex.pendingCost > 0) {
        ex.burstLeft = ex.pendingCost;
        ex.pendingCost = 0;
        this.arm(v, ex);
        return;
      }
      if (!this.deliverUpcalls(v, ex)) return;
    }
  }
}

function decodeKernelImageSafe(d: Domain, rip: number) {
  try {
    return decodeKernelImage(d.mem.view, rip);
  } catch {
    return 'entry point not mapped';
  }
}
