/**
 * The KVM execution backend, and the router in front of it: vCPUs of HVM domains (created with
 * XEN_DOMCTL_CDF_hvm) run real code on KVM; every other vCPU (dom0, driver domains: TypeScript
 * MiniOS kernels) goes to the simulation executor, which the engine's real-time clock paces.
 *
 * Threads. The addon runs one worker thread per pCPU of the host's topology. The scheduler
 * framework decides, as always, which vCPU is current on which pCPU; `run(v, pcpu)` assigns a real
 * vCPU to that pCPU's thread, which loops in KVM_RUN until an exit it does not handle itself (all
 * but the bench's null port) or a stop. It then "posts" the vCPU: from then on TypeScript owns it
 * (`owner = 'ts'`) until it assigns it again. So a vCPU is in KVM_RUN on at most one thread.
 *
 * Exits reach TypeScript through the engine's clock: while the engine waits for its next event it
 * waits in the addon for posted vCPUs (`KvmClock.wait`), and handles each at once: a hypercall
 * (`out` to the hypercall page's port) is dispatched through core's one hypercall table with the
 * registers from kvm_run's sync_regs, and rax written back the same way; the hypercall-page MSR
 * fills the page; anything else crashes that domain alone, naming the exit and rip. After a
 * hypercall the vCPU goes straight back to its thread, unless it blocked, yielded, or its pCPU has
 * a reschedule pending — then it waits, parked in the hypervisor, for the framework's decision.
 *
 * Preemption. `stop(v)` (the framework switching it out at slice end, a wake-up preempting it) is
 * carried out at the end of the current instant — so a stop followed by `run` on the same pCPU
 * (the policy kept it) costs nothing — by kicking its thread: immediate_exit and a signal make
 * KVM_RUN return within microseconds; the thread posts the vCPU, and the next one runs.
 *
 * Upcalls. `interrupt(v)` (evtchn_upcall_pending went 0 → 1) injects an MSI with the vCPU's
 * upcall vector (HVMOP_set_evtchn_upcall_vector); the in-kernel LAPIC keeps it until the vCPU runs
 * with interrupts on.
 *
 * Invariants: a vCPU is assigned only while TypeScript owns it and the framework wants it on that
 * pCPU; a killed vCPU is out of KVM_RUN before kill returns (stopSync), and its VM is closed once
 * every vCPU of the domain is dead, before the domain's frames can be freed.
 */
import {
  dispatchHypercall,
  fmtNs,
  split64,
  join64,
  Prio,
  type Domain,
  type Hypervisor,
  type HostMemory,
  type Pcpu,
  type SimExecutor,
  type Vcpu,
  type VcpuExecutor,
} from '@xenotype/core';
import { readFileSync } from 'node:fs';
import type { Addon } from './addon';
import { SlotMirror } from './slots';

/** MSR a Xen guest writes to have the hypercall page filled (CPUID leaf 0x40000002 EBX). */
export const XEN_HYPERCALL_MSR = 0x40000000;

const EXIT_NAMES: Record<number, string> = {
  0: 'UNKNOWN', 1: 'EXCEPTION', 2: 'IO', 3: 'HYPERCALL', 4: 'DEBUG', 5: 'HLT', 6: 'MMIO', 7: 'IRQ_WINDOW_OPEN',
  8: 'SHUTDOWN', 9: 'FAIL_ENTRY', 10: 'INTR', 11: 'SET_TPR', 12: 'TPR_ACCESS', 17: 'INTERNAL_ERROR', 18: 'OSI',
  19: 'PAPR_HCALL', 24: 'SYSTEM_EVENT', 26: 'IOAPIC_EOI', 27: 'HYPERV', 29: 'X86_RDMSR', 30: 'X86_WRMSR',
  31: 'DIRTY_RING_FULL', 32: 'AP_RESET_HOLD', 34: 'XEN', 35: 'RISCV_SBI', 36: 'NOTIFY',
};
const INTERNAL_SUBERRORS: Record<number, string> = { 1: 'emulation failure', 2: 'simultaneous exceptions', 3: 'delivery event', 4: 'unexpected exit reason' };

export interface KvmOptions {
  /**
   * How long the main thread (and a pCPU thread waiting for its vCPU) spins before sleeping, in
   * ns. Spinning saves two thread wake-ups per exit when cores are spare, and costs far more when
   * they are not (the spinner steals the vCPU's core), so by default it is on only while the
   * machine has a core to spare (checked from /proc/loadavg every 200 ms).
   * XENOTYPE_KVM_SPIN_NS in the environment sets it too.
   */
  spinNs?: number;
}

const DEFAULT_SPIN_NS = 50_000;

class KvmVcpu {
  owner: 'ts' | 'native' = 'ts';
  thread = -1;
  want: Pcpu | null = null;
  pendingExit = false;
  pendingStop = false;
  started = false;
  dead = false;
  readonly dv: DataView;
  constructor(
    readonly v: Vcpu,
    readonly dom: KvmDomain,
    readonly handle: number,
    run: ArrayBuffer,
  ) {
    this.dv = new DataView(run);
  }
}

class KvmDomain {
  readonly vcpus = new Map<number, KvmVcpu>();
  closed = false;
  constructor(
    readonly d: Domain,
    readonly vm: number,
    readonly slots: SlotMirror,
  ) {}
}

/**
 * Whether the machine has a core for us to spin on: the tasks running now (/proc/loadavg's 4th
 * field, which counts this thread and our running vCPU threads) leave one over.
 */
function spareCores(native: number, cores: number): boolean {
  try {
    const running = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3].split('/')[0]);
    return running <= 1 + native && 1 + native <= cores;
  } catch {
    return false;
  }
}

/** Every live executor, to route posted vCPUs (handles are global to the addon). */
const executors = new Set<KvmExecutor>();

/** Hand a posted vCPU to the executor it belongs to. */
export function dispatchRecord(handle: number, kind: number, errno: number): void {
  for (const e of executors) if (e.owns(handle)) return e.onRecord(handle, kind, errno);
}

export class KvmExecutor implements VcpuExecutor {
  private readonly doms = new Map<Domain, KvmDomain>();
  private readonly byHandle = new Map<number, KvmVcpu>();
  private readonly stopQueue = new Set<KvmVcpu>();
  /** The vCPU on each pCPU's thread (assigned, not yet posted back). */
  private readonly onThread: (KvmVcpu | null)[];
  /** A vCPU waiting for its pCPU's thread to post the previous one. */
  private readonly waiting: (KvmVcpu | null)[];
  private flushScheduled = false;
  /** vCPUs on a thread now. */
  native = 0;
  /** Statistics: exits handled, by kind. */
  readonly stats = { hypercalls: 0, msrs: 0, stops: 0, kicks: 0, msis: 0, crashes: 0 };
  private readonly fixedSpin: number | null;
  private spinNow = 0;
  private spinCheckedAt = -Infinity;
  private readonly cores: number;
  /** This host's pCPU threads in the addon: firstThread + pCPU id. */
  private readonly firstThread: number;

  constructor(
    private readonly hv: Hypervisor,
    private readonly sim: SimExecutor,
    private readonly k: Addon,
    private readonly host: HostMemory,
    opts: KvmOptions,
    cores: number,
  ) {
    const env = process.env.XENOTYPE_KVM_SPIN_NS;
    this.fixedSpin = opts.spinNs ?? (env !== undefined && env !== '' ? Number(env) : null);
    this.cores = cores;
    this.firstThread = k.startThreads(hv.topology.nrCpus);
    if (this.fixedSpin !== null) k.setThreadSpin(this.fixedSpin);
    else k.setThreadSpin(0);
    executors.add(this);
    this.onThread = new Array(hv.topology.nrCpus).fill(null);
    this.waiting = new Array(hv.topology.nrCpus).fill(null);
  }

  private isReal(v: Vcpu): boolean {
    return v.domain.isHvm;
  }

  // ---------------------------------------------------------------- VcpuExecutor

  run(v: Vcpu, pcpu: Pcpu, costNs: number): void {
    if (!this.isReal(v)) return this.sim.run(v, pcpu, costNs);
    let kv: KvmVcpu;
    try {
      kv = this.vcpu(v);
    } catch (e) {
      // KVM refused the VM or vCPU (out of memory, limits): this domain cannot run, the host goes on.
      this.hv.crash(v.domain, `KVM: ${(e as Error).message}`);
      return;
    }
    if (kv.dead) return;
    kv.want = pcpu;
    kv.pendingStop = false;
    if (kv.owner === 'ts') this.resume(kv);
    else if (kv.thread !== pcpu.id) this.queueStop(kv); // still on another pCPU's thread: bring it back first
  }

  stop(v: Vcpu): void {
    if (!this.isReal(v)) return this.sim.stop(v);
    const kv = v.exec as KvmVcpu | undefined;
    if (!kv || kv.dead) return;
    kv.want = null;
    if (kv.owner === 'native') this.queueStop(kv);
    else this.waiting.forEach((w, i) => w === kv && (this.waiting[i] = null));
  }

  interrupt(v: Vcpu): void {
    if (!this.isReal(v)) {
      if (v.isRunning) this.sim.interrupt(v);
      return;
    }
    const kv = v.exec as KvmVcpu | undefined;
    if (!kv || kv.dead || v.upcallVector === 0 || kv.dom.closed) return;
    this.k.signalMsi(kv.dom.vm, v.upcallVector, v.id);
    this.stats.msis++;
  }

  kill(v: Vcpu): void {
    if (!this.isReal(v)) return this.sim.kill(v);
    const kv = v.exec as KvmVcpu | undefined;
    if (!kv || kv.dead) return;
    kv.dead = true;
    kv.want = null;
    this.stopQueue.delete(kv);
    this.waiting.forEach((w, i) => w === kv && (this.waiting[i] = null));
    if (kv.owner === 'native') {
      this.k.stopSync(kv.handle);
      this.posted(kv);
    }
    const dom = kv.dom;
    if ([...dom.vcpus.values()].every((x) => x.dead)) this.closeDomain(dom);
  }

  // ---------------------------------------------------------------- the clock's side

  /** How long the main thread may spin waiting for exits now. */
  spinBudget(): number {
    if (this.native === 0) return 0;
    if (this.fixedSpin !== null) return this.fixedSpin;
    const now = this.hv.engine.now();
    if (now - this.spinCheckedAt >= 200e6) {
      this.spinCheckedAt = now;
      const spin = spareCores(this.native, this.cores) ? DEFAULT_SPIN_NS : 0;
      if (spin !== this.spinNow) this.k.setThreadSpin(spin);
      this.spinNow = spin;
    }
    return this.spinNow;
  }

  /** Whether anything real can still post a vCPU. */
  get live(): boolean {
    return this.native > 0;
  }

  owns(handle: number): boolean {
    return this.byHandle.has(handle);
  }

  /** Stop and close everything (the host is done): every real vCPU is out of KVM_RUN on return. */
  dispose(): void {
    for (const kv of [...this.byHandle.values()]) this.kill(kv.v);
    this.k.quitThreads(this.firstThread, this.onThread.length);
    executors.delete(this);
  }

  /** A posted vCPU: handle its exit (or stop), and run it again if the framework still wants it. */
  onRecord(handle: number, kind: number, errno: number): void {
    const kv = this.byHandle.get(handle);
    if (!kv || kv.owner !== 'native') return; // killed (stopSync'd) or already taken back
    const thread = this.posted(kv);
    if (kind === this.k.REC_ERROR) this.crash(kv, `KVM_RUN failed: errno ${errno}`);
    else {
      if (kind === this.k.REC_EXIT) kv.pendingExit = true;
      if (kv.want) this.resume(kv);
    }
    // The thread is free: a vCPU the framework switched to meanwhile may start.
    const w = this.waiting[thread];
    if (w && this.onThread[thread] === null) {
      this.waiting[thread] = null;
      if (w.want?.id === thread && !w.dead) this.resume(w);
    }
  }

  /** `kv` came back from its thread: TypeScript owns it. Returns the thread. */
  private posted(kv: KvmVcpu): number {
    kv.owner = 'ts';
    this.native--;
    if (this.onThread[kv.thread] === kv) this.onThread[kv.thread] = null;
    return kv.thread;
  }

  // ---------------------------------------------------------------- internals

  private vcpu(v: Vcpu): KvmVcpu {
    let kv = v.exec as KvmVcpu | undefined;
    if (kv) return kv;
    let dom = this.doms.get(v.domain);
    if (!dom) {
      const vm = this.k.createVm();
      dom = new KvmDomain(v.domain, vm, new SlotMirror(this.k, vm, v.domain, this.host));
      this.doms.set(v.domain, dom);
      const slots = dom.slots;
      v.domain.mem.p2m.onChange = () => slots.sync();
      slots.sync();
    }
    const handle = this.k.createVcpu(dom.vm, v.id);
    kv = new KvmVcpu(v, dom, handle, this.k.vcpuRun(handle));
    dom.vcpus.set(v.id, kv);
    this.byHandle.set(handle, kv);
    v.exec = kv;
    return kv;
  }

  private resume(kv: KvmVcpu): void {
    const v = kv.v;
    if (kv.pendingExit) {
      kv.pendingExit = false;
      this.handleExit(kv);
      if (kv.dead) return;
    }
    const pc = kv.want;
    if (!pc || kv.owner !== 'ts' || !v.runnable || !v.domain.active || this.hv.fw.reschedulePending(pc.id)) return;
    if (!kv.started) {
      if (!v.regs.cr3) {
        this.crash(kv, 'no page tables to start on (ctrlreg[3] is 0): not a kernel for the KVM backend');
        return;
      }
      try {
        this.k.setupLongMode(kv.handle, v.regs.rip, v.regs.rsp, v.regs.rsi, v.regs.rdi, v.regs.cr3);
      } catch (e) {
        this.crash(kv, `KVM: ${(e as Error).message}`);
        return;
      }
      kv.started = true;
    }
    const busy = this.onThread[pc.id];
    if (busy && busy !== kv) {
      this.waiting[pc.id] = kv; // started once the thread posts the vCPU it still runs (being stopped)
      return;
    }
    this.k.assign(this.firstThread + pc.id, kv.handle);
    kv.owner = 'native';
    kv.thread = pc.id;
    this.onThread[pc.id] = kv;
    this.native++;
  }

  private queueStop(kv: KvmVcpu): void {
    kv.pendingStop = true;
    this.stopQueue.add(kv);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // At the end of this instant, after the scheduler has decided (it may keep the vCPU).
    this.hv.engine.at(this.hv.engine.now(), Prio.OBSERVE, () => this.flushStops());
  }

  private flushStops(): void {
    this.flushScheduled = false;
    for (const kv of this.stopQueue) {
      if (kv.pendingStop && kv.owner === 'native' && (kv.want === null || kv.want.id !== kv.thread)) {
        this.k.stop(kv.handle);
        this.stats.kicks++;
      }
      kv.pendingStop = false;
    }
    this.stopQueue.clear();
  }

  private u64(kv: KvmVcpu, off: number): number {
    return join64(kv.dv.getUint32(off, true), kv.dv.getUint32(off + 4, true));
  }

  private rip(kv: KvmVcpu): string {
    return `0x${this.u64(kv, this.k.OFF_RIP).toString(16)}`;
  }

  private handleExit(kv: KvmVcpu): void {
    const k = this.k;
    const dv = kv.dv;
    const reason = dv.getUint32(k.OFF_EXIT_REASON, true);
    switch (reason) {
      case k.EXIT_IO: {
        const out = dv.getUint8(k.OFF_IO_DIRECTION) === 1;
        const size = dv.getUint8(k.OFF_IO_SIZE);
        const port = dv.getUint16(k.OFF_IO_PORT, true);
        const count = dv.getUint32(k.OFF_IO_COUNT, true);
        if (out && port === k.HC_PORT && size === 4 && count === 1) {
          this.hypercall(kv);
          return;
        }
        this.crash(kv, `unhandled KVM exit IO (${out ? 'out to' : 'in from'} port 0x${port.toString(16)}, ${size} byte${size > 1 ? 's' : ''}) at rip ${this.rip(kv)}`);
        return;
      }
      case k.EXIT_X86_WRMSR: {
        const index = dv.getUint32(k.OFF_MSR_INDEX, true);
        const data = this.u64(kv, k.OFF_MSR_DATA);
        dv.setUint8(k.OFF_MSR_ERROR, index === XEN_HYPERCALL_MSR && this.fillHypercallPage(kv, data) ? 0 : 1);
        this.stats.msrs++;
        return;
      }
      case k.EXIT_X86_RDMSR:
        dv.setUint8(k.OFF_MSR_ERROR, 1); // #GP: the hypercall MSR is write-only
        this.stats.msrs++;
        return;
      case k.EXIT_SHUTDOWN:
        this.crash(kv, `unhandled KVM exit SHUTDOWN (triple fault) at rip ${this.rip(kv)}`);
        return;
      case k.EXIT_INTERNAL_ERROR: {
        const sub = dv.getUint32(k.OFF_INTERNAL_SUBERROR, true);
        this.crash(kv, `unhandled KVM exit INTERNAL_ERROR (${INTERNAL_SUBERRORS[sub] ?? `suberror ${sub}`}) at rip ${this.rip(kv)}`);
        return;
      }
      case k.EXIT_FAIL_ENTRY:
        this.crash(kv, `unhandled KVM exit FAIL_ENTRY (hardware reason 0x${this.u64(kv, k.OFF_FAIL_ENTRY_REASON).toString(16)}) at rip ${this.rip(kv)}`);
        return;
      case k.EXIT_MMIO: {
        const gpa = this.u64(kv, k.OFF_MMIO_PHYS);
        const len = dv.getUint32(k.OFF_MMIO_LEN, true);
        const w = dv.getUint8(k.OFF_MMIO_IS_WRITE) !== 0;
        this.crash(kv, `unhandled KVM exit MMIO (${w ? 'write' : 'read'} of ${len} bytes at unmapped gpa 0x${gpa.toString(16)}) at rip ${this.rip(kv)}`);
        return;
      }
      default:
        this.crash(kv, `unhandled KVM exit ${EXIT_NAMES[reason] ?? 'reason'} (${reason}) at rip ${this.rip(kv)}`);
    }
  }

  /** The hypercall page's `out`: eax = number, arguments in rdi rsi rdx r10 r8, result in rax. */
  private hypercall(kv: KvmVcpu): void {
    const k = this.k;
    const dv = kv.dv;
    const nr = dv.getUint32(k.OFF_RAX, true);
    const args = [this.u64(kv, k.OFF_RDI), this.u64(kv, k.OFF_RSI), this.u64(kv, k.OFF_RDX), this.u64(kv, k.OFF_R10), this.u64(kv, k.OFF_R8)];
    this.stats.hypercalls++;
    const rc = dispatchHypercall(this.hv, kv.v, nr, args);
    const [lo, hi] = split64(rc);
    dv.setUint32(k.OFF_RAX, lo, true);
    dv.setUint32(k.OFF_RAX + 4, hi, true);
    dv.setUint32(k.OFF_DIRTY_REGS, dv.getUint32(k.OFF_DIRTY_REGS, true) | k.SYNC_X86_REGS, true);
  }

  /** Xen's hypercall page: 32 bytes per hypercall, `mov $nr, %eax; out %eax, $HC_PORT; ret`. */
  private fillHypercallPage(kv: KvmVcpu, msrValue: number): boolean {
    if (msrValue % 4096 !== 0) return false; // page index in the low bits: only page 0 exists
    const page = new Uint8Array(4096);
    for (let nr = 0; nr < 128; nr++) {
      const o = nr * 32;
      page.set([0xb8, nr & 0xff, 0, 0, 0, 0xe7, this.k.HC_PORT, 0xc3], o);
      page.fill(0xcc, o + 8, o + 32); // never executed
    }
    try {
      kv.v.domain.mem.view.setBytes(msrValue, page);
      return true;
    } catch {
      return false; // not the guest's memory: #GP
    }
  }

  private crash(kv: KvmVcpu, why: string): void {
    this.stats.crashes++;
    this.hv.crash(kv.v.domain, why); // kills every vCPU of the domain (kill above)
  }

  private closeDomain(dom: KvmDomain): void {
    if (dom.closed) return;
    dom.closed = true;
    dom.d.mem.p2m.onChange = null;
    for (const kv of dom.vcpus.values()) this.k.destroyVcpu(kv.handle);
    this.k.destroyVm(dom.vm);
    this.doms.delete(dom.d);
  }

  /** Bench: null-port exits the addon handled for `v` since the last call: [count, first ns, last ns]. */
  nullExits(v: Vcpu): [number, number, number] {
    const kv = v.exec as KvmVcpu | undefined;
    return kv ? this.k.nullExits(kv.handle) : [0, 0, 0];
  }

  /** A line about what the backend did (for logs and benchmarks). */
  describe(): string {
    const s = this.stats;
    return `kvm: ${s.hypercalls} hypercalls, ${s.msis} MSIs, ${s.kicks} kicks, ${s.crashes} crashes; now ${fmtNs(this.hv.now())}`;
  }
}
