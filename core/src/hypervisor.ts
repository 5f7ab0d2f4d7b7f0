/**
 * The hypervisor: one object owning the engine, machine memory, domains and the mechanisms (event
 * channels, grant tables, scheduler framework, hypercall dispatch) — DESIGN.md §5. Tools reach it
 * only through dom0's hypercalls and the trace bus; the host that creates it only boots it (with
 * dom0, as Xen builds dom0 itself) and advances time.
 */
import 'reflect-metadata';
import { BufferBytes } from './abi/bytes';
import { abi } from './abi';
import {
  DOMID_FIRST_RESERVED,
  DOMID_IDLE,
  DOMID_SELF,
  Errno,
  RUNSTATE,
  SHUTDOWN,
  SIF,
  VIRQ,
  XEN_PVCLOCK_TSC_STABLE_BIT,
  XEN_LEGACY_MAX_VCPUS,
} from './abi/xen';
import { domid as asDomId, gfn as asGfn, mfn as asMfn, pcpuid, vcpuid, type DomId, type Mfn } from './abi/types';
import { Engine } from './engine/engine';
import { sec, type Ns } from './engine/time';
import { LazyFrameStore } from './machine/frames';
import { CpuSet } from './machine/cpuset';
import { Topology, type TopologySpec } from './machine/topology';
import { MemoryManager } from './mm/memory';
import { Domain, Dying, type DomainConfig } from './domain/domain';
import { VPF, Vcpu } from './domain/vcpu';
import { BOOT_GFN, KERNEL_ENTRY, START_INFO_ADDR, START_INFO_MAGIC } from './domain/layout';
import { EventChannels } from './evtchn/evtchn';
import { DEFAULT_MAX_GRANT_FRAMES, DEFAULT_MAX_MAPTRACK_FRAMES, Grants } from './grant/grant-table';
import { SchedFramework } from './sched/framework';
import { DEFAULT_COSTS, type CostModel } from './sched/cost-model';
import type { AnySchedulerOps } from './sched/ops';
import type { Cpupool } from './sched/cpupool';
import { TraceBus } from './trace/bus';
import { SimExecutor } from './exec/sim-executor';
import { encodeKernelImage } from './exec/image';
import type { KernelLoader } from './exec/guest';
import type { Platform, VcpuExecutor } from './exec/platform';
import { dispatchHypercall } from './hypercall/dispatch';

export interface HypervisorConfig {
  /** Number of pCPUs (one socket) or a full topology. */
  cpus: number | TopologySpec;
  memoryMiB: number;
  seed?: number;
  /** Policy of Pool-0. */
  scheduler: AnySchedulerOps;
  /** Policies available to new cpupools, by XEN_SCHEDULER_* id. */
  schedulers?: (schedId: number) => AnySchedulerOps | undefined;
  /** Kernel code for kernel images found in guest memory. */
  kernels: KernelLoader;
  costs?: Partial<CostModel>;
  /** TSC frequency; 2 GHz makes TSC ↔ ns exact (ns = tsc / 2). */
  tscHz?: number;
  /** Wall-clock time at system time 0, in seconds since the epoch. Default: SOSP'03, 2003-10-19. */
  wallclockEpochSec?: number;
  trace?: TraceBus;
  /** Real time, host memory, other execution backends (see exec/platform.ts). Absent: simulation. */
  platform?: Platform;
}

export interface Dom0Spec {
  memoryMiB: number;
  vcpus: number;
  kernel: string;
  cmdline?: string;
}

export const DEFAULT_TSC_HZ = 2_000_000_000;
export const SOSP03_EPOCH = 1066521600;

export class Hypervisor {
  readonly engine: Engine;
  readonly topology: Topology;
  readonly store: LazyFrameStore;
  readonly mem: MemoryManager;
  readonly trace: TraceBus;
  readonly costs: CostModel;
  readonly tscHz: number;
  readonly wallclockEpochSec: number;
  readonly domains = new Map<number, Domain>();
  readonly evtchn: EventChannels;
  readonly grants: Grants;
  readonly fw: SchedFramework;
  readonly exec: SimExecutor;
  /** What runs vCPUs: the simulation executor, or the platform's (which may route to it). */
  readonly vcpuExec: VcpuExecutor;
  readonly platform: Platform | undefined;
  readonly idleDomain: Domain;
  readonly pool0: Cpupool;
  readonly loader: KernelLoader;
  readonly schedulerById: (id: number) => AnySchedulerOps | undefined;
  private domidRover = 0;
  /** Domains destroyed but still holding referenced frames. */
  private zombies = new Set<Domain>();

  constructor(cfg: HypervisorConfig) {
    this.platform = cfg.platform;
    this.engine = new Engine(cfg.seed ?? 1, cfg.platform?.clock);
    this.topology = typeof cfg.cpus === 'number' ? Topology.flat(cfg.cpus) : new Topology(cfg.cpus);
    if (!(Number.isInteger(cfg.memoryMiB) && cfg.memoryMiB > 0)) throw new RangeError('memoryMiB must be a positive integer');
    this.store = new LazyFrameStore(cfg.memoryMiB * 256);
    const host = cfg.platform?.memory?.(this.store.nrFrames);
    if (host) this.store.attach(host);
    this.mem = new MemoryManager(this.store);
    this.trace = cfg.trace ?? new TraceBus();
    this.costs = { ...DEFAULT_COSTS, ...cfg.costs };
    this.tscHz = cfg.platform?.tsc?.hz ?? cfg.tscHz ?? DEFAULT_TSC_HZ;
    this.wallclockEpochSec = cfg.wallclockEpochSec ?? SOSP03_EPOCH;
    this.loader = cfg.kernels;
    this.schedulerById = cfg.schedulers ?? ((id) => (id === cfg.scheduler.schedId ? cfg.scheduler : undefined));
    this.evtchn = new EventChannels(this.store, {
      domain: (id) => this.domains.get(id),
      kick: (v) => this.kick(v),
      checkPollers: (d, port) => this.checkPollers(d, port),
      onSend: (d, p, rd, rp) => {
        if (this.trace.on) this.trace.emit({ t: this.engine.now(), cpu: -1, type: 'evtchn_send', dom: d.id, port: p, rdom: rd.id, rport: rp });
      },
    });
    this.grants = new Grants(this.mem, (id) => this.domains.get(id));

    // The idle domain: one idle vCPU per pCPU, pinned to it.
    const idleMem = this.mem.createDomain(DOMID_IDLE, 0);
    this.idleDomain = new Domain(DOMID_IDLE, this.domainConfig({ maxVcpus: this.topology.nrCpus }), idleMem, this.engine.rng.stream('idle'), 0);
    const all = CpuSet.range(this.topology.nrCpus);
    const idles = this.topology.cpus.map((c) => {
      const v = new Vcpu(this.idleDomain, vcpuid(c.id), c.id, 0, CpuSet.of([c.id]));
      this.idleDomain.vcpus.push(v);
      return v;
    });
    void all;
    this.idleDomain.pauseCount = 0;
    this.fw = new SchedFramework(this.engine, this.topology, this.trace, this.costs, {
      eventsNeedDelivery: (v) => this.evtchn.eventsNeedDelivery(v),
      runstateChanged: (v) => this.writeRunstateArea(v),
    }, idles);
    this.exec = new SimExecutor({
      engine: this.engine,
      fw: this.fw,
      evtchn: this.evtchn,
      costs: this.costs,
      tscHz: this.tscHz,
      tscAt: (t) => this.tscAt(t),
      loader: this.loader,
      dispatchHypercall: (v, nr, args) => dispatchHypercall(this, v, nr, args),
      crash: (d, why) => this.crash(d, why),
      vcpuExited: (v) => this.vcpuDown(v),
    });
    const exec: VcpuExecutor = cfg.platform?.executor?.(this, this.exec) ?? this.exec;
    this.vcpuExec = exec;
    this.fw.executor = {
      run: (v, pc, cost) => {
        this.updateVcpuTime(v);
        exec.run(v, pc, cost);
      },
      stop: (v) => exec.stop(v),
    };
    this.pool0 = this.fw.createPool(0, 'Pool-0', cfg.scheduler);
    for (const c of this.topology.cpus) this.fw.addCpu(this.pool0, c.id);
  }

  now(): Ns {
    return this.engine.now();
  }

  // ------------------------------------------------------------------ domains

  domainConfig(p: Partial<DomainConfig>): DomainConfig {
    return {
      maxVcpus: 1,
      maxEvtchnPort: 1023,
      maxGrantFrames: DEFAULT_MAX_GRANT_FRAMES,
      maxMaptrackFrames: DEFAULT_MAX_MAPTRACK_FRAMES,
      privileged: false,
      handle: new Uint8Array(16),
      ssidref: 0,
      ...p,
    };
  }

  /** A domain by id (DOMID_SELF resolves to `cur`), alive or dying. */
  lookup(id: number, cur?: Domain): Domain | undefined {
    if (id === DOMID_SELF && cur) return cur;
    return this.domains.get(id);
  }

  /** Choose a free domid as Xen does: after a rover, wrapping to 1, never 0. */
  allocDomid(): DomId | null {
    for (let i = 0; i < DOMID_FIRST_RESERVED; i++) {
      this.domidRover = this.domidRover + 1 >= DOMID_FIRST_RESERVED ? 1 : this.domidRover + 1;
      if (!this.domains.has(this.domidRover)) return asDomId(this.domidRover);
    }
    return null;
  }

  /**
   * domain_create: a new paused domain with shared_info, event channels, a grant table and its
   * vCPUs (down until given a context). Returns a negative errno on bad configuration.
   */
  createDomain(id: DomId, cfg: DomainConfig, pool: Cpupool = this.pool0): Domain | number {
    if (this.domains.has(id)) return -Errno.EEXIST;
    if (!(cfg.maxVcpus >= 1 && cfg.maxVcpus <= 128)) return -Errno.EINVAL;
    if (!(cfg.maxGrantFrames >= 1 && cfg.maxGrantFrames <= DEFAULT_MAX_GRANT_FRAMES)) return -Errno.EINVAL;
    if (!(cfg.maxMaptrackFrames >= 0 && cfg.maxMaptrackFrames <= DEFAULT_MAX_MAPTRACK_FRAMES)) return -Errno.EINVAL;
    const dm = this.mem.createDomain(id, 0);
    const created = this.now(); // one instant for the domain and its vCPUs (real time moves on)
    const d = new Domain(id, cfg, dm, this.engine.rng.stream(`dom:${id}`), created);
    dm.contiguous = d.isHvm;
    const shinfo = this.mem.allocXenFrame(dm);
    if (shinfo === null) {
      this.mem.reap(dm);
      return -Errno.ENOMEM;
    }
    d.sharedInfoMfn = shinfo;
    this.evtchn.init(d, cfg.maxEvtchnPort);
    if (!this.grants.init(d, cfg.maxGrantFrames, cfg.maxMaptrackFrames)) {
      this.mem.teardown(dm);
      return -Errno.ENOMEM;
    }
    this.domains.set(id, d);
    this.fw.initDomain(d, pool);
    for (let i = 0; i < cfg.maxVcpus; i++) {
      const v = new Vcpu(d, vcpuid(i), pcpuid(0), created, CpuSet.range(this.topology.nrCpus));
      if (i < XEN_LEGACY_MAX_VCPUS) {
        v.vcpuInfoMfn = shinfo;
        v.vcpuInfoOff = i * abi.VCPU_INFO_SIZE;
        // A new vCPU starts with events masked, as Xen's vcpu_info does.
        this.store.bytes(shinfo)[v.vcpuInfoOff + 1] = 1;
      }
      d.vcpus.push(v);
      this.fw.initVcpu(v);
    }
    this.writeWallclock(d);
    return d;
  }

  /** Give a vCPU its initial registers and bring it up (setvcpucontext + VGCF_online). */
  initialiseVcpu(v: Vcpu, regs: { rip: number; rsp: number; rsi: number; rdi: number; cr3?: number }): void {
    v.regs = { cr3: 0, ...regs };
    v.initialised = true;
    this.fw.clearPauseFlag(v, VPF.down);
  }

  /** Bring up a vCPU's registers and the domain's first run: build dom0 as Xen does at boot. */
  bootDom0(spec: Dom0Spec): Domain {
    const d = this.createDomain(asDomId(0), this.domainConfig({ maxVcpus: spec.vcpus, privileged: true, maxEvtchnPort: 4095 }));
    if (typeof d === 'number') throw new Error(`dom0 creation failed (${d})`);
    const pages = spec.memoryMiB * 256;
    d.mem.maxPages = pages;
    if (!this.mem.populate(d.mem, 0, pages)) throw new Error('not enough memory for dom0');
    const view = d.mem.view;
    view.setBytes(KERNEL_ENTRY, encodeKernelImage(spec.kernel));
    abi.start_info.init(view, START_INFO_ADDR, {
      nr_pages: pages,
      flags: SIF.privileged | SIF.initdomain,
      pt_base: BOOT_GFN.firstFree * 4096,
      nr_pt_frames: 0,
    });
    view.setBytes(START_INFO_ADDR, new TextEncoder().encode(START_INFO_MAGIC));
    const cmd = new TextEncoder().encode(spec.cmdline ?? '');
    view.setBytes(START_INFO_ADDR + abi.START_INFO_CMDLINE, cmd.subarray(0, 1023));
    for (const v of d.vcpus) this.initialiseVcpu(v, { rip: KERNEL_ENTRY, rsp: 0, rsi: START_INFO_ADDR, rdi: 0 });
    this.fw.unpauseDomain(d);
    return d;
  }

  /** domain_shutdown: record the reason, pause every vCPU, tell dom0 with VIRQ_DOM_EXC. */
  shutdown(d: Domain, reason: number, vcpu = 0): void {
    if (d.shutdownCode === -1) d.shutdownCode = reason & 0xff;
    if (d.isShuttingDown || !d.alive) return;
    d.isShuttingDown = true;
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'shutdown', dom: d.id, vcpu, reason });
    for (const v of d.vcpus) {
      this.fw.pauseVcpu(v);
      this.fw.stopTimers(v);
    }
    d.isShutDown = true;
    this.sendDomExc();
  }

  /** domain_crash: a guest fault takes down its own domain, alone. */
  crash(d: Domain, why: string): void {
    if (!d.alive || d.isIdle) return;
    if (d.crashReason === null) d.crashReason = why;
    if (this.trace.on) this.trace.emit({ t: this.now(), cpu: -1, type: 'crash', dom: d.id, why });
    for (const v of d.vcpus) this.vcpuExec.kill(v);
    this.shutdown(d, SHUTDOWN.crash);
  }

  private sendDomExc(): void {
    const dom0 = this.domains.get(0);
    if (dom0 && dom0.alive && dom0.vcpus[0]) this.evtchn.sendVirq(dom0.vcpus[0], VIRQ.DOM_EXC);
  }

  /** domain_kill: release everything; the domain disappears once no frame of it is referenced. */
  destroy(d: Domain): void {
    if (!d.alive) return;
    d.dying = Dying.dying;
    for (const v of d.vcpus) {
      this.vcpuExec.kill(v);
      this.fw.pauseVcpu(v);
    }
    this.fw.destroyDomain(d);
    this.evtchn.teardown(d);
    this.grants.releaseMappings(d);
    d.dying = Dying.dead;
    if (this.mem.teardown(d.mem)) this.domains.delete(d.id);
    else this.zombies.add(d);
    this.reapZombies();
    this.sendDomExc();
  }

  /** Forget destroyed domains whose last referenced frame has been unmapped. */
  reapZombies(): void {
    for (const z of this.zombies) {
      if (this.mem.reap(z.mem)) {
        this.zombies.delete(z);
        this.domains.delete(z.id);
      }
    }
  }

  vcpuDown(v: Vcpu): void {
    const d = v.domain;
    if (d.vcpus.filter((x) => x.online).length <= 1 && v.online) {
      this.shutdown(d, SHUTDOWN.poweroff, v.id);
      return;
    }
    this.fw.setPauseFlag(v, VPF.down);
  }

  // ------------------------------------------------------------------ events and timers

  /** vcpu_kick: wake a blocked vCPU; interrupt a running one. */
  kick(v: Vcpu): void {
    this.fw.unblock(v);
    // A platform's executor hears of every kick, as Xen asserts an HVM vCPU's upcall vector
    // whether it runs or not; the simulation interrupts running vCPUs only.
    if (v.isRunning || this.vcpuExec !== this.exec) this.vcpuExec.interrupt(v);
  }

  private checkPollers(d: Domain, port: number): void {
    for (const v of d.vcpus) {
      if (v.polling && (v.pollEvtchn <= 0 || v.pollEvtchn === port)) {
        v.polling = false;
        v.pollEvtchn = 0;
        this.fw.unblock(v);
      }
    }
  }

  /** A single-shot timer raising VIRQ_TIMER at absolute system time `at` (any u64 a guest gives). */
  setSingleshot(v: Vcpu, at: Ns): void {
    v.singleshot?.cancel();
    // Virtual time is exact only below 2^53 ns (~104 days): a later deadline never comes.
    v.singleshot = this.engine.at(Math.min(Math.max(at, this.now()), Number.MAX_SAFE_INTEGER), 0, () => {
      v.singleshot = null;
      this.evtchn.sendVirq(v, VIRQ.TIMER);
    });
  }

  stopSingleshot(v: Vcpu): void {
    v.singleshot?.cancel();
    v.singleshot = null;
  }

  setPeriodic(v: Vcpu, period: Ns): void {
    v.periodic?.cancel();
    v.periodicNs = period;
    if (period === 0) {
      v.periodic = null;
      return;
    }
    const tick = (at: Ns) => {
      v.periodic = this.engine.at(Math.min(at, Number.MAX_SAFE_INTEGER), 0, () => {
        this.evtchn.sendVirq(v, VIRQ.TIMER);
        tick(at + period);
      });
    };
    tick(this.now() + period);
  }

  /** Raise a machine interrupt line routed to dom0 (e.g. input for the host console). */
  raiseIrq(pirq: number): boolean {
    const dom0 = this.domains.get(0);
    return !!dom0 && this.evtchn.raisePirq(dom0, pirq);
  }

  /** Deliver VIRQ_CONSOLE to dom0: bytes arrived on the host console. */
  consoleInput(): void {
    const dom0 = this.domains.get(0);
    if (dom0?.vcpus[0]) this.evtchn.sendVirq(dom0.vcpus[0], VIRQ.CONSOLE);
  }

  // ------------------------------------------------------------------ time

  /** System time → the TSC guests read (the platform's real TSC, or virtual at tscHz). */
  tscAt(t: Ns): number {
    const tsc = this.platform?.tsc;
    return tsc ? tsc.at(t) : Math.floor((t * this.tscHz) / 1e9);
  }

  /** Xen's set_time_scale: (shift, mul) with ns = ((tsc << shift) * mul) >> 32. */
  timeScale(): { shift: number; mul: number } {
    let tps = this.tscHz;
    let shift = 0;
    while (tps > 2e9) {
      tps = Math.floor(tps / 2);
      shift--;
    }
    while (tps <= 1e9) {
      tps *= 2;
      shift++;
    }
    return { shift, mul: Math.floor((1e9 * 2 ** 32) / tps) >>> 0 };
  }

  /** update_vcpu_system_time: a consistent (version-odd-while-writing) vcpu_time_info. */
  updateVcpuTime(v: Vcpu): void {
    if (v.vcpuInfoMfn < 0) return;
    const b = new BufferBytes(this.store.bytes(v.vcpuInfoMfn as Mfn));
    const base = v.vcpuInfoOff + abi.VCPU_INFO_TIME_OFFSET;
    const t = abi.vcpu_time_info;
    const ver = t.get(b, base, 'version');
    t.set(b, base, 'version', (ver + 1) | 1);
    const now = this.now();
    const { shift, mul } = this.timeScale();
    t.write(b, base, { tsc_timestamp: this.tscAt(now), system_time: now, tsc_to_system_mul: mul, tsc_shift: shift, flags: XEN_PVCLOCK_TSC_STABLE_BIT });
    t.set(b, base, 'version', ((ver + 1) | 1) + 1);
  }

  writeWallclock(d: Domain): void {
    const b = new BufferBytes(this.store.bytes(d.sharedInfoMfn));
    const s = abi.shared_info;
    const ver = s.get(b, 0, 'wc_version');
    s.set(b, 0, 'wc_version', (ver + 1) | 1);
    const secs = this.wallclockEpochSec;
    s.write(b, 0, { wc_sec: secs >>> 0, wc_sec_hi: Math.floor(secs / 2 ** 32), wc_nsec: 0 });
    s.set(b, 0, 'wc_version', ((ver + 1) | 1) + 1);
  }

  private writeRunstateArea(v: Vcpu): void {
    try {
      const view = v.domain.mem.view;
      const budget = view.budget;
      view.budget = Infinity;
      try {
        abi.vcpu_runstate_info.write(view, v.runstateArea, this.runstateInfo(v));
      } finally {
        view.budget = budget;
      }
    } catch {
      /* the guest unmapped its area: Xen ignores the failed copy */
    }
  }

  runstateInfo(v: Vcpu) {
    const now = this.now();
    const t = [...v.runstateTime];
    return {
      state: v.runstate,
      state_entry_time: v.stateEntryTime,
      time_running: t[RUNSTATE.running] + (v.runstate === RUNSTATE.running ? now - v.stateEntryTime : 0),
      time_runnable: t[RUNSTATE.runnable] + (v.runstate === RUNSTATE.runnable ? now - v.stateEntryTime : 0),
      time_blocked: t[RUNSTATE.blocked] + (v.runstate === RUNSTATE.blocked ? now - v.stateEntryTime : 0),
      time_offline: t[RUNSTATE.offline] + (v.runstate === RUNSTATE.offline ? now - v.stateEntryTime : 0),
    };
  }

  // ------------------------------------------------------------------ running

  /** Advance virtual time to `until` (absolute ns). */
  runUntil(until: Ns): void {
    this.engine.run(until);
  }

  runFor(d: Ns): void {
    this.engine.run(this.now() + d);
  }

  /** Every invariant of every mechanism; empty when the hypervisor is sound. */
  checkInvariants(): string[] {
    const doms = [...this.domains.values()];
    return [
      ...this.mem.checkInvariants(),
      ...this.evtchn.checkInvariants(doms.filter((d) => d.alive)),
      ...this.grants.checkInvariants(doms),
      ...this.fw.checkInvariants(doms),
    ];
  }
}

export { sec, asGfn, asMfn };
