/**
 * MiniOS — the TypeScript PV guest runtime (in the spirit of Xen's Mini-OS).
 *
 * Boot (vCPU 0): read start_info (its address is in rsi, the PV convention), find free memory
 * after the boot pages, map shared_info and the grant table into the physmap above RAM
 * (XENMEM_add_to_physmap, as translated guests do), bind VIRQ_TIMER, bring up the other vCPUs with
 * VCPUOP_initialise/up, and start the application's main thread.
 *
 * Each vCPU runs a cooperative thread scheduler. With nothing runnable it arms the one-shot timer
 * for the earliest sleeper (set_timer_op) and blocks (SCHEDOP_block). The event upcall scans the
 * 2-level pending bitmaps in shared_info exactly as Xen guests do (clear evtchn_upcall_pending,
 * exchange the selector, walk pending & ~mask, clear each pending bit, call the port's handler).
 * Time is read from vcpu_time_info and the TSC, never from the host.
 */
import {
  CONSOLEIO,
  DOMID_SELF,
  Errno,
  HALT,
  HYPERVISOR,
  SCHEDOP,
  SHUTDOWN,
  SIF,
  START_INFO_MAGIC,
  VCPUOP,
  VIRQ,
  XENMAPSPACE,
  XENMEM,
  abi,
  compute,
  readCString,
  type GuestCpu,
  type GuestKernel,
  type Ns,
  type Wait,
} from '@xenotype/core';
import { Scratch, check } from './hypercalls';
import { Signal, Thread, WAIT, YIELD, type ThreadBody, type ThreadOp } from './threads';
import { EventChannels } from './evtchn';
import { GrantTables } from './gnttab';
import { PageAllocator } from './memory';
import { XenstoreClient } from './xenstore';
import { ConsoleFrontend } from '@xenotype/console';
import { MiniOSCaps } from './caps';
import { PvConsole } from './console';

export interface StartInfo {
  magic: string;
  nrPages: number;
  flags: number;
  storeGfn: number;
  storeEvtchn: number;
  consoleGfn: number;
  consoleEvtchn: number;
  firstFreeGfn: number;
  cmdline: string;
}

export type App = (os: MiniOS) => ThreadBody;

/** Physmap layout above RAM chosen by this runtime. */
export const SHINFO_OFFSET_PAGES = 16;
export const GRANT_OFFSET_PAGES = 32;
export const MAP_WINDOW_OFFSET_PAGES = 128;

export class MiniOS implements GuestKernel {
  si!: StartInfo;
  readonly args = new Map<string, string>();
  domid = -1;
  shinfoAddr = 0;
  readonly cpus: GuestCpu[] = [];
  readonly scratch: Scratch[] = [];
  /** The vCPU executing guest code right now (upcall or thread). */
  cpu!: GuestCpu;
  readonly evtchn = new EventChannels(this);
  readonly gnttab = new GrantTables(this);
  readonly pages = new PageAllocator(this);
  private readonly runq: Thread[][] = [];
  private readonly sleepers: Set<Thread>[] = [];
  private readonly current: (Thread | null)[] = [];
  private readonly ipiPort: number[] = [];
  booted = false;
  /** Notified when a thread ends, for tools that wait on the whole guest. */
  readonly threadsDone = new Signal();
  readonly threads: Thread[] = [];

  constructor(
    private readonly app: App,
    readonly name = 'minios',
  ) {}

  // ------------------------------------------------------------------ kernel entry points

  *vcpuMain(cpu: GuestCpu): Generator<Wait, void, void> {
    const v = cpu.vcpuId;
    this.cpus[v] = cpu;
    this.cpu = cpu;
    this.runq[v] ??= [];
    this.sleepers[v] ??= new Set();
    this.current[v] = null;
    if (v === 0) this.boot(cpu);
    else this.evtchn.bindVirq(VIRQ.TIMER, v, () => {});
    const q = this.runq[v];
    for (;;) {
      this.cpu = cpu;
      this.wakeSleepers(v);
      const t = q.shift();
      if (t) {
        this.current[v] = t;
        yield* this.runThread(cpu, t);
        this.current[v] = null;
        continue;
      }
      let deadline = Infinity;
      for (const s of this.sleepers[v]) deadline = Math.min(deadline, s.wakeAt);
      cpu.hypercall(HYPERVISOR.set_timer_op, deadline === Infinity ? 0 : deadline);
      cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.block, 0);
      yield HALT;
    }
  }

  private *runThread(cpu: GuestCpu, t: Thread): Generator<Wait, void, void> {
    for (;;) {
      this.cpu = cpu;
      const r = t.gen.next();
      if (r.done) {
        t.done = true;
        t.result = r.value;
        t.joined.notify((x) => this.wake(x));
        this.threadsDone.notify((x) => this.wake(x));
        return;
      }
      const op = r.value as ThreadOp;
      switch (op.kind) {
        case 'compute':
        case 'halt':
          yield op;
          continue;
        case 'wait':
          t.runnable = false;
          return;
        case 'yield':
          this.runq[t.vcpu].push(t);
          return;
      }
    }
  }

  upcall(cpu: GuestCpu): void {
    this.cpu = cpu;
    const mem = cpu.mem;
    const vi = this.shinfoAddr + cpu.vcpuId * abi.VCPU_INFO_SIZE;
    mem.setU8(vi, 0); // evtchn_upcall_pending = 0
    // xchg(evtchn_pending_sel, 0), as two 32-bit halves
    const selLo = mem.getU32(vi + 8);
    const selHi = mem.getU32(vi + 12);
    mem.setU32(vi + 8, 0);
    mem.setU32(vi + 12, 0);
    for (let half = 0; half < 2; half++) {
      let sel = half === 0 ? selLo : selHi;
      while (sel !== 0) {
        const b = 31 - Math.clz32(sel & -sel);
        sel &= ~(1 << b);
        const word = half * 32 + b;
        this.scanWord(word);
      }
    }
  }

  private scanWord(word: number): void {
    const mem = this.cpu.mem;
    for (let h = 0; h < 2; h++) {
      const pa = this.shinfoAddr + abi.SHINFO_EVTCHN_PENDING + word * 8 + h * 4;
      const ma = this.shinfoAddr + abi.SHINFO_EVTCHN_MASK + word * 8 + h * 4;
      let bits = (mem.getU32(pa) & ~mem.getU32(ma)) >>> 0;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= ~(1 << b);
        const port = word * 64 + h * 32 + b;
        mem.setU32(pa, mem.getU32(pa) & ~(1 << b)); // clear pending, then handle
        this.evtchn.dispatch(port);
      }
    }
  }

  // ------------------------------------------------------------------ boot

  private boot(cpu: GuestCpu): void {
    const mem = cpu.mem;
    const at = cpu.regs.rsi;
    const s = abi.start_info.read(mem, at);
    const magic = readCString(mem, at, abi.START_INFO_MAGIC_LEN);
    if (!magic.startsWith('xen-3.0')) throw new Error(`bad start_info magic "${magic}"`);
    this.si = {
      magic,
      nrPages: s.nr_pages,
      flags: s.flags,
      storeGfn: s.store_mfn,
      storeEvtchn: s.store_evtchn,
      consoleGfn: s.console_mfn,
      consoleEvtchn: s.console_evtchn,
      firstFreeGfn: Math.ceil(s.pt_base / 4096) + s.nr_pt_frames,
      cmdline: readCString(mem, at + abi.START_INFO_CMDLINE, 1024),
    };
    void START_INFO_MAGIC;
    for (const kv of this.si.cmdline.split(/\s+/).filter(Boolean)) {
      const i = kv.indexOf('=');
      this.args.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1));
    }
    this.pages.init(this.si.firstFreeGfn, this.si.nrPages);
    this.scratch[0] = new Scratch(cpu, this.pages.alloc() * 4096, 4096);
    // Map shared_info above RAM.
    const shinfoGfn = this.si.nrPages + SHINFO_OFFSET_PAGES;
    this.scratch[0].call(abi.xen_add_to_physmap, { domid: DOMID_SELF, space: XENMAPSPACE.shared_info, idx: 0, gpfn: shinfoGfn }, (a) => cpu.hypercall(HYPERVISOR.memory_op, XENMEM.add_to_physmap, a), 'map shared_info');
    this.shinfoAddr = shinfoGfn * 4096;
    this.gnttab.init(this.si.nrPages + GRANT_OFFSET_PAGES, this.si.nrPages + MAP_WINDOW_OFFSET_PAGES);
    this.evtchn.bindVirq(VIRQ.TIMER, 0, () => {});
    this.domid = this.queryDomid();
    // Bring up the other vCPUs (they exist until VCPUOP_is_up says -ENOENT).
    for (let v = 1; ; v++) {
      const rc = cpu.hypercall(HYPERVISOR.vcpu_op, VCPUOP.is_up, v, 0);
      if (rc < 0) break;
      this.runq[v] ??= [];
      this.sleepers[v] ??= new Set();
      this.current[v] = null;
      const ctx = this.scratch[0];
      abi.vcpu_guest_context.init(mem, ctx.addr, { rip: cpu.regs.rip, rsi: cpu.regs.rsi, flags: abi.VGCF_online });
      const init = cpu.hypercall(HYPERVISOR.vcpu_op, VCPUOP.initialise, v, ctx.addr);
      if (init !== -Errno.EEXIST) check(init, 'VCPUOP_initialise');
      check(cpu.hypercall(HYPERVISOR.vcpu_op, VCPUOP.up, v, 0), 'VCPUOP_up');
      this.ipiPort[v] = this.evtchn.bindIpi(v, () => {});
    }
    // The PV console (Mini-OS's init_console): a domU's start_info names its page and event channel.
    if (this.si.consoleEvtchn !== 0 && !(this.si.flags & SIF.initdomain))
      this.console = new PvConsole(new ConsoleFrontend(mem, this.si.consoleGfn * 4096, this.si.consoleEvtchn, this.caps().evtchn));
    this.booted = true;
    this.spawn('main', this.app(this), 0);
  }

  /** The PV console (null for dom0, which uses the hypervisor console only). */
  console: PvConsole | null = null;
  private driverCaps: MiniOSCaps | null = null;
  /** This domain's driver capabilities (event channels, grants, memory, threads, time, xenstore). */
  caps(): MiniOSCaps {
    return (this.driverCaps ??= new MiniOSCaps(this));
  }

  private xsClient: XenstoreClient | null = null;
  /** This guest's xenstore client over its store ring (created on first use; not for dom0). */
  get xs(): XenstoreClient {
    return (this.xsClient ??= new XenstoreClient(this));
  }

  /** Our own domid: a guest learns it from xenstore; before that, from DOMCTL-free means. */
  private queryDomid(): number {
    // EVTCHNOP_status on our own reserved port 0 names no domain; instead read it back from an
    // unbound port we allocate for ourselves (its status shows remote_dom = self).
    const p = this.evtchn.allocUnbound(DOMID_SELF);
    const st = this.evtchn.status(p);
    this.evtchn.close(p);
    return st.dom;
  }

  /** Scratch page of the executing vCPU (allocated on first use). */
  scratchFor(): Scratch {
    const v = this.cpu.vcpuId;
    if (!this.scratch[v]) this.scratch[v] = new Scratch(this.cpu, this.pages.alloc() * 4096, 4096);
    return this.scratch[v];
  }

  // ------------------------------------------------------------------ threads

  spawn(name: string, body: ThreadBody, vcpu = this.cpu?.vcpuId ?? 0): Thread {
    const target = this.runq[vcpu] ? vcpu : 0;
    const t = new Thread(name, body, target);
    this.threads.push(t);
    this.runq[target].push(t);
    this.kickVcpu(target);
    return t;
  }

  /** Make a waiting thread runnable (from a handler or another thread). */
  wake(t: Thread): void {
    if (t.runnable || t.done) return;
    t.runnable = true;
    t.wakeAt = Infinity;
    this.sleepers[t.vcpu].delete(t);
    this.runq[t.vcpu].push(t);
    this.kickVcpu(t.vcpu);
  }

  private kickVcpu(v: number): void {
    if (this.cpu && v !== this.cpu.vcpuId && this.ipiPort[v]) this.evtchn.notify(this.ipiPort[v]);
  }

  notify(sig: Signal): void {
    sig.notify((t) => this.wake(t));
  }

  get self(): Thread {
    const t = this.current[this.cpu.vcpuId];
    if (!t) throw new Error('not in a thread');
    return t;
  }

  private wakeSleepers(v: number): void {
    if (this.sleepers[v].size === 0) return;
    const now = this.now();
    for (const t of [...this.sleepers[v]]) if (t.wakeAt <= now) this.wake(t);
  }

  // ------------------------------------------------------------------ waits (use with yield*)

  *compute(ns: Ns, workingSet?: number): Generator<ThreadOp, void, void> {
    yield compute(Math.max(0, Math.round(ns)), workingSet);
  }

  *yield(): Generator<ThreadOp, void, void> {
    yield YIELD;
  }

  *sleepUntil(t: Ns): Generator<ThreadOp, void, void> {
    const me = this.self;
    while (this.now() < t) {
      me.wakeAt = t;
      me.runnable = false;
      this.sleepers[me.vcpu].add(me);
      yield WAIT;
    }
  }

  *sleep(ns: Ns): Generator<ThreadOp, void, void> {
    yield* this.sleepUntil(this.now() + ns);
  }

  /** Wait until `sig` is notified past generation `seen`; returns the new generation, or -1 on timeout. */
  *waitFor(sig: Signal, seen: number, deadline: Ns = Infinity): Generator<ThreadOp, number, void> {
    const me = this.self;
    while (sig.gen <= seen) {
      if (deadline !== Infinity && this.now() >= deadline) return -1;
      sig.waiters.add(me);
      me.runnable = false;
      if (deadline !== Infinity) {
        me.wakeAt = deadline;
        this.sleepers[me.vcpu].add(me);
      }
      yield WAIT;
      sig.waiters.delete(me);
    }
    return sig.gen;
  }

  *join(t: Thread): Generator<ThreadOp, unknown, void> {
    while (!t.done) yield* this.waitFor(t.joined, t.joined.gen);
    return t.result;
  }

  // ------------------------------------------------------------------ time, console, lifecycle

  /** System time from vcpu_time_info and the TSC, as a PV guest computes it. */
  now(): Ns {
    const mem = this.cpu.mem;
    const base = this.shinfoAddr + this.cpu.vcpuId * abi.VCPU_INFO_SIZE + abi.VCPU_INFO_TIME_OFFSET;
    const T = abi.vcpu_time_info;
    for (;;) {
      const ver = T.get(mem, base, 'version');
      const t = T.read(mem, base);
      if (ver & 1 || T.get(mem, base, 'version') !== ver) continue;
      let delta = BigInt(this.cpu.tsc() - t.tsc_timestamp);
      delta = t.tsc_shift < 0 ? delta >> BigInt(-t.tsc_shift) : delta << BigInt(t.tsc_shift);
      return t.system_time + Number((delta * BigInt(t.tsc_to_system_mul)) >> 32n);
    }
  }

  /**
   * Print a line: to the hypervisor console (CONSOLEIO_write, as Mini-OS built with
   * CONFIG_USE_XEN_CONSOLE does; Xen's trace records it) and, in a domU, to the PV console ring
   * for dom0's console daemon. The ring write never waits: what does not fit is dropped, as Mini-OS
   * drops it (use `console.write` for output that must all arrive).
   */
  printk(text: string): void {
    const s = this.scratchFor();
    const bytes = new TextEncoder().encode(text.endsWith('\n') ? text : text + '\n');
    for (let off = 0; off < bytes.length; off += s.size) {
      const chunk = bytes.subarray(off, off + s.size);
      this.cpu.mem.setBytes(s.addr, chunk);
      this.cpu.hypercall(HYPERVISOR.console_io, CONSOLEIO.write, chunk.length, s.addr);
    }
    this.console?.send(bytes);
  }

  shutdown(reason: number = SHUTDOWN.poweroff): void {
    const s = this.scratchFor();
    abi.sched_shutdown.init(this.cpu.mem, s.addr, { reason });
    this.cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.shutdown, s.addr);
  }

  /** An integer argument from the command line, or the default. */
  intArg(name: string, dflt: number): number {
    const v = this.args.get(name);
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`bad value for ${name}: "${v}"`);
    return n;
  }
}
