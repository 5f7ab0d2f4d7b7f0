/**
 * Xc — dom0's control library (the role of libxc): every operation lays Xen's struct out in dom0's
 * own memory and issues the hypercall from dom0's vCPU. The toolstack and tools use only this; they
 * never touch hypervisor objects.
 */
import {
  DOMCTL,
  DOMID_SELF,
  HYPERVISOR,
  SYSCTL,
  VCPUOP,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_SYSCTL_CPUPOOL_OP,
  XEN_SYSCTL_CPUPOOL_PAR_ANY,
  XEN_SYSCTL_INTERFACE_VERSION,
  XEN_VCPUAFFINITY,
  XENMAPSPACE,
  XENMEM,
  EVTCHNOP,
  CpuSet,
  abi,
  type ByteAccess,
  type Field,
  type Struct,
  type Values,
} from '@xenotype/core';
import { XenError, check, type MiniOS } from '@xenotype/minios';

const BUF_PAGES = 4; // room for the largest argument (vcpu_guest_context, 5168 bytes)
/** dom0 gfns above this offset from its RAM hold foreign mappings. */
export const FOREIGN_WINDOW_OFFSET = 1 << 16;

export interface CreateDomainArgs {
  maxVcpus: number;
  maxEvtchnPort?: number;
  maxGrantFrames?: number;
  maxMaptrackFrames?: number;
  cpupool?: number;
  domid?: number;
  handle?: Uint8Array;
  /** XEN_DOMCTL_CDF_* (e.g. hvm: the domain runs real code on a hardware backend). */
  flags?: number;
}

export interface DomainInfo {
  domid: number;
  flags: number;
  totPages: number;
  maxPages: number;
  cpuTime: number;
  nrOnlineVcpus: number;
  maxVcpuId: number;
  cpupool: number;
  dying: boolean;
  shutdown: boolean;
  shutdownCode: number;
  paused: boolean;
  blocked: boolean;
  running: boolean;
}

export interface VcpuInfo {
  online: boolean;
  blocked: boolean;
  running: boolean;
  cpuTime: number;
  cpu: number;
}

export class Xc {
  private readonly buf: number;
  private foreignNext: number;
  private readonly foreignFree: number[] = [];

  constructor(readonly os: MiniOS) {
    this.buf = os.pages.allocContiguous(BUF_PAGES) * 4096;
    this.foreignNext = os.si.nrPages + FOREIGN_WINDOW_OFFSET;
  }

  private get mem(): ByteAccess {
    return this.os.cpu.mem;
  }
  private hc(nr: keyof typeof HYPERVISOR, ...a: number[]): number {
    return this.os.cpu.hypercall(HYPERVISOR[nr], ...a);
  }
  /** Second half of the buffer: variable-size arrays that structs point at. */
  private get data(): number {
    return this.buf + 2 * 4096;
  }

  // ---------------------------------------------------------------- domctl

  private domctl<F extends Record<string, Field>>(cmd: number, domid: number, s: Struct<F> | null, v: Partial<Values<F>>, what: string, fill?: (u: number) => void): Values<F> {
    const mem = this.mem;
    abi.xen_domctl.init(mem, this.buf, { cmd, interface_version: XEN_DOMCTL_INTERFACE_VERSION, domain: domid });
    if (s) s.write(mem, this.buf + abi.DOMCTL_U, v);
    fill?.(this.buf + abi.DOMCTL_U); // payload bytes a layout cannot express (arrays)
    check(this.hc('domctl', this.buf), what);
    return s ? s.read(mem, this.buf + abi.DOMCTL_U) : ({} as Values<F>);
  }

  domainCreate(a: CreateDomainArgs): number {
    this.domctl(DOMCTL.createdomain, a.domid ?? 0, abi.xen_domctl_createdomain, {
      max_vcpus: a.maxVcpus,
      max_evtchn_port: a.maxEvtchnPort ?? 1023,
      max_grant_frames: a.maxGrantFrames ?? 64,
      max_maptrack_frames: a.maxMaptrackFrames ?? 1024,
      grant_opts: 1,
      cpupool_id: a.cpupool ?? 0,
      flags: a.flags ?? 0,
    }, 'XEN_DOMCTL_createdomain', (u) => {
      if (a.handle) this.mem.setBytes(u + abi.xen_domctl_createdomain.fields.handle.off, a.handle);
    });
    return abi.xen_domctl.get(this.mem, this.buf, 'domain');
  }

  domainMaxMem(domid: number, kb: number): void {
    this.domctl(DOMCTL.max_mem, domid, abi.xen_domctl_max_mem, { max_memkb: kb }, 'XEN_DOMCTL_max_mem');
  }
  domainPause(domid: number): void {
    this.domctl(DOMCTL.pausedomain, domid, null, {}, 'XEN_DOMCTL_pausedomain');
  }
  domainUnpause(domid: number): void {
    this.domctl(DOMCTL.unpausedomain, domid, null, {}, 'XEN_DOMCTL_unpausedomain');
  }
  domainDestroy(domid: number): void {
    this.domctl(DOMCTL.destroydomain, domid, null, {}, 'XEN_DOMCTL_destroydomain');
  }

  /** getdomaininfo for exactly `domid`, or null if it does not exist. */
  domainGetInfo(domid: number): DomainInfo | null {
    try {
      const i = this.domctl(DOMCTL.getdomaininfo, domid, abi.xen_domctl_getdomaininfo, {}, 'XEN_DOMCTL_getdomaininfo');
      return i.domain === domid ? toInfo(i) : null;
    } catch (e) {
      if (e instanceof XenError) return null;
      throw e;
    }
  }

  /** All domains (XEN_SYSCTL_getdomaininfolist). */
  domainList(): DomainInfo[] {
    const size = abi.xen_domctl_getdomaininfo.size;
    const max = Math.floor((BUF_PAGES - 1) * 4096 / size);
    const out: DomainInfo[] = [];
    let first = 0;
    for (;;) {
      abi.xen_sysctl.init(this.mem, this.buf, { cmd: SYSCTL.getdomaininfolist, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
      abi.xen_sysctl_getdomaininfolist.write(this.mem, this.buf + abi.SYSCTL_U, { first_domain: first, max_domains: max, buffer: this.buf + 4096 });
      check(this.hc('sysctl', this.buf), 'XEN_SYSCTL_getdomaininfolist');
      const n = abi.xen_sysctl_getdomaininfolist.get(this.mem, this.buf + abi.SYSCTL_U, 'num_domains');
      for (let i = 0; i < n; i++) out.push(toInfo(abi.xen_domctl_getdomaininfo.read(this.mem, this.buf + 4096 + i * size)));
      if (n < max) return out;
      first = out[out.length - 1].domid + 1;
    }
  }

  getVcpuInfo(domid: number, vcpu: number): VcpuInfo {
    const r = this.domctl(DOMCTL.getvcpuinfo, domid, abi.xen_domctl_getvcpuinfo, { vcpu }, 'XEN_DOMCTL_getvcpuinfo');
    return { online: !!r.online, blocked: !!r.blocked, running: !!r.running, cpuTime: r.cpu_time, cpu: r.cpu };
  }

  /** Set a vCPU's registers and bring it online (or offline with regs = null). */
  setVcpuContext(domid: number, vcpu: number, regs: { rip: number; rsi: number; rsp?: number; rdi?: number; cr3?: number } | null): void {
    const ctxAddr = this.buf + 4096; // 5168 bytes: spans into the next page
    if (regs) abi.vcpu_guest_context.init(this.mem, ctxAddr, { rip: regs.rip, rsi: regs.rsi, rsp: regs.rsp ?? 0, rdi: regs.rdi ?? 0, ctrlreg3: regs.cr3 ?? 0, flags: abi.VGCF_online });
    this.domctl(DOMCTL.setvcpucontext, domid, abi.xen_domctl_vcpucontext, { vcpu, ctxt: regs ? ctxAddr : 0 }, 'XEN_DOMCTL_setvcpucontext');
  }

  /** XEN_DOMCTL_getvcpuaffinity: both masks. */
  getVcpuAffinity(domid: number, vcpu: number, nrCpus: number): { hard: CpuSet; soft: CpuSet } {
    const hb = this.data;
    const sb = this.data + 64;
    this.domctl(DOMCTL.getvcpuaffinity, domid, abi.xen_domctl_vcpuaffinity, {
      vcpu,
      flags: XEN_VCPUAFFINITY.hard | XEN_VCPUAFFINITY.soft,
      hard_bitmap: hb,
      hard_nr_bits: nrCpus,
      soft_bitmap: sb,
      soft_nr_bits: nrCpus,
    }, 'XEN_DOMCTL_getvcpuaffinity');
    const bytes = Math.ceil(nrCpus / 8);
    return { hard: CpuSet.fromBitmap(this.mem.getBytes(hb, bytes), nrCpus), soft: CpuSet.fromBitmap(this.mem.getBytes(sb, bytes), nrCpus) };
  }

  setVcpuAffinity(domid: number, vcpu: number, hard: CpuSet | null, soft: CpuSet | null, nrCpus: number): { hard: CpuSet; soft: CpuSet } {
    const hb = this.data;
    const sb = this.data + 64;
    if (hard) this.mem.setBytes(hb, hard.toBitmap(nrCpus));
    if (soft) this.mem.setBytes(sb, soft.toBitmap(nrCpus));
    this.domctl(DOMCTL.setvcpuaffinity, domid, abi.xen_domctl_vcpuaffinity, {
      vcpu,
      flags: (hard ? XEN_VCPUAFFINITY.hard : 0) | (soft ? XEN_VCPUAFFINITY.soft : 0),
      hard_bitmap: hard ? hb : 0,
      hard_nr_bits: nrCpus,
      soft_bitmap: soft ? sb : 0,
      soft_nr_bits: nrCpus,
    }, 'XEN_DOMCTL_setvcpuaffinity');
    return {
      hard: CpuSet.fromBitmap(this.mem.getBytes(hb, Math.ceil(nrCpus / 8)), nrCpus),
      soft: CpuSet.fromBitmap(this.mem.getBytes(sb, Math.ceil(nrCpus / 8)), nrCpus),
    };
  }

  /** XEN_DOMCTL_scheduler_op putinfo with the policy's payload layout. */
  schedDomainSet<F extends Record<string, Field>>(domid: number, schedId: number, layout: Struct<F>, values: Partial<Values<F>>): void {
    this.schedDomainOp(domid, schedId, 0, layout, values);
  }
  schedDomainGet<F extends Record<string, Field>>(domid: number, schedId: number, layout: Struct<F>): Values<F> {
    return this.schedDomainOp(domid, schedId, 1, layout, {});
  }
  private schedDomainOp<F extends Record<string, Field>>(domid: number, schedId: number, cmd: number, layout: Struct<F>, values: Partial<Values<F>>): Values<F> {
    const u = this.buf + abi.DOMCTL_U + abi.DOMCTL_SCHEDOP_U;
    abi.xen_domctl.init(this.mem, this.buf, { cmd: DOMCTL.scheduler_op, interface_version: XEN_DOMCTL_INTERFACE_VERSION, domain: domid });
    abi.xen_domctl_scheduler_op.write(this.mem, this.buf + abi.DOMCTL_U, { sched_id: schedId, cmd });
    if (cmd === 0) layout.write(this.mem, u, values);
    check(this.hc('domctl', this.buf), 'XEN_DOMCTL_scheduler_op');
    return layout.read(this.mem, u);
  }

  /**
   * XEN_DOMCTL_scheduler_op put/getvcpuinfo (libxc's xc_sched_rtds_vcpu_set/get): `elems` records of
   * layout `elem` (xen_domctl_schedparam_vcpu) are laid out in dom0's memory and passed by the
   * payload's guest handle (`header`: the union's `v { vcpus; nr_vcpus; }`). Returns the records as
   * the hypervisor left them and how many it processed in all.
   */
  schedVcpuOp<F extends Record<string, Field>, H extends { vcpus: Field; nr_vcpus: Field }>(
    domid: number,
    schedId: number,
    cmd: number,
    header: Struct<H>,
    elem: Struct<F>,
    elems: Partial<Values<F>>[],
  ): { nr: number; elems: Values<F>[] } {
    const arr = this.data;
    if (elems.length * elem.size > 2 * 4096) throw new RangeError('too many vCPU records in one call');
    elems.forEach((e, i) => elem.init(this.mem, arr + i * elem.size, e));
    const u = this.buf + abi.DOMCTL_U + abi.DOMCTL_SCHEDOP_U;
    // As libxc: re-issue for the records the hypervisor did not get to (it reports nr_vcpus done).
    let done = 0;
    while (done < elems.length) {
      abi.xen_domctl.init(this.mem, this.buf, { cmd: DOMCTL.scheduler_op, interface_version: XEN_DOMCTL_INTERFACE_VERSION, domain: domid });
      abi.xen_domctl_scheduler_op.write(this.mem, this.buf + abi.DOMCTL_U, { sched_id: schedId, cmd });
      header.write(this.mem, u, { vcpus: arr + done * elem.size, nr_vcpus: elems.length - done } as Partial<Values<H>>);
      check(this.hc('domctl', this.buf), 'XEN_DOMCTL_scheduler_op');
      const n = header.get(this.mem, u, 'nr_vcpus');
      if (n === 0) break;
      done += n;
    }
    return { nr: done, elems: elems.map((_, i) => elem.read(this.mem, arr + i * elem.size)) };
  }

  /** XEN_DOMCTL_setdomainhandle: the domain's 16-byte handle (UUID). */
  domainSetHandle(domid: number, handle: Uint8Array): void {
    if (handle.length !== 16) throw new RangeError('a domain handle is 16 bytes');
    this.domctl(DOMCTL.setdomainhandle, domid, null, {}, 'XEN_DOMCTL_setdomainhandle', (u) => this.mem.setBytes(u, handle));
  }

  // ---------------------------------------------------------------- sysctl

  schedGlobalSet<F extends Record<string, Field>>(pool: number, schedId: number, layout: Struct<F>, values: Partial<Values<F>>): void {
    this.schedGlobalOp(pool, schedId, 0, layout, values);
  }
  schedGlobalGet<F extends Record<string, Field>>(pool: number, schedId: number, layout: Struct<F>): Values<F> {
    return this.schedGlobalOp(pool, schedId, 1, layout, {});
  }
  private schedGlobalOp<F extends Record<string, Field>>(pool: number, schedId: number, cmd: number, layout: Struct<F>, values: Partial<Values<F>>): Values<F> {
    const u = this.buf + abi.SYSCTL_U + abi.SYSCTL_SCHEDOP_U;
    abi.xen_sysctl.init(this.mem, this.buf, { cmd: SYSCTL.scheduler_op, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
    abi.xen_sysctl_scheduler_op.write(this.mem, this.buf + abi.SYSCTL_U, { cpupool_id: pool, sched_id: schedId, cmd });
    if (cmd === 0) {
      // getinfo first so that fields not given keep their current values
      abi.xen_sysctl_scheduler_op.set(this.mem, this.buf + abi.SYSCTL_U, 'cmd', 1);
      check(this.hc('sysctl', this.buf), 'XEN_SYSCTL_scheduler_op');
      abi.xen_sysctl_scheduler_op.set(this.mem, this.buf + abi.SYSCTL_U, 'cmd', 0);
      layout.write(this.mem, u, values);
    }
    check(this.hc('sysctl', this.buf), 'XEN_SYSCTL_scheduler_op');
    return layout.read(this.mem, u);
  }

  /**
   * XEN_SYSCTL_scheduler_op whose payload is one guest handle (`header`'s `handleField`, e.g.
   * ARINC653's `schedule`) to a `size`-byte struct in dom0's memory: `write` fills it before the
   * call (putinfo), `read` decodes it after (libxc's xc_sched_arinc653_schedule_set/get).
   */
  schedGlobalHandleOp<T, H extends Record<string, Field>>(
    pool: number,
    schedId: number,
    cmd: number,
    header: Struct<H>,
    handleField: keyof H & string,
    size: number,
    write: ((mem: ByteAccess, addr: number) => void) | null,
    read: (mem: ByteAccess, addr: number) => T,
  ): T {
    if (size > 2 * 4096) throw new RangeError('payload too large');
    const at = this.data;
    this.mem.setBytes(at, new Uint8Array(size));
    write?.(this.mem, at);
    abi.xen_sysctl.init(this.mem, this.buf, { cmd: SYSCTL.scheduler_op, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
    abi.xen_sysctl_scheduler_op.write(this.mem, this.buf + abi.SYSCTL_U, { cpupool_id: pool, sched_id: schedId, cmd });
    header.set(this.mem, this.buf + abi.SYSCTL_U + abi.SYSCTL_SCHEDOP_U, handleField, at);
    check(this.hc('sysctl', this.buf), 'XEN_SYSCTL_scheduler_op');
    return read(this.mem, at);
  }

  physinfo() {
    abi.xen_sysctl.init(this.mem, this.buf, { cmd: SYSCTL.physinfo, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
    check(this.hc('sysctl', this.buf), 'XEN_SYSCTL_physinfo');
    return abi.xen_sysctl_physinfo.read(this.mem, this.buf + abi.SYSCTL_U);
  }

  private cpupoolOp(v: Partial<Values<typeof abi.xen_sysctl_cpupool_op.fields>>, what: string) {
    abi.xen_sysctl.init(this.mem, this.buf, { cmd: SYSCTL.cpupool_op, interface_version: XEN_SYSCTL_INTERFACE_VERSION });
    abi.xen_sysctl_cpupool_op.write(this.mem, this.buf + abi.SYSCTL_U, v);
    check(this.hc('sysctl', this.buf), what);
    return abi.xen_sysctl_cpupool_op.read(this.mem, this.buf + abi.SYSCTL_U);
  }
  cpupoolCreate(schedId: number, poolId = XEN_SYSCTL_CPUPOOL_PAR_ANY): number {
    return this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.CREATE, cpupool_id: poolId, sched_id: schedId }, 'cpupool create').cpupool_id;
  }
  cpupoolDestroy(pool: number): void {
    this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.DESTROY, cpupool_id: pool }, 'cpupool destroy');
  }
  cpupoolAddCpu(pool: number, cpu = XEN_SYSCTL_CPUPOOL_PAR_ANY): number {
    return this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.ADDCPU, cpupool_id: pool, cpu }, 'cpupool add cpu').cpu;
  }
  cpupoolRemoveCpu(pool: number, cpu = XEN_SYSCTL_CPUPOOL_PAR_ANY): void {
    this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.RMCPU, cpupool_id: pool, cpu }, 'cpupool remove cpu');
  }
  cpupoolMoveDomain(pool: number, domid: number): void {
    this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.MOVEDOMAIN, cpupool_id: pool, domid }, 'cpupool move domain');
  }
  cpupoolInfo(pool: number, nrCpus: number): { id: number; schedId: number; nDom: number; cpus: CpuSet } {
    const r = this.cpupoolOp({ op: XEN_SYSCTL_CPUPOOL_OP.INFO, cpupool_id: pool, cpumap_bitmap: this.data, cpumap_nr_bits: nrCpus }, 'cpupool info');
    return { id: r.cpupool_id, schedId: r.sched_id, nDom: r.n_dom, cpus: CpuSet.fromBitmap(this.mem.getBytes(this.data, Math.ceil(nrCpus / 8)), nrCpus) };
  }

  // ---------------------------------------------------------------- memory

  private reservation(cmd: number, domid: number, gfns: number[], order = 0): number {
    const max = Math.floor((BUF_PAGES - 2) * 4096 / 8);
    let done = 0;
    for (let off = 0; off < gfns.length; off += max) {
      const chunk = gfns.slice(off, off + max);
      chunk.forEach((g, i) => this.mem.setU64(this.data + i * 8, g));
      abi.xen_memory_reservation.init(this.mem, this.buf, { extent_start: this.data, nr_extents: chunk.length, extent_order: order, domid });
      const n = this.hc('memory_op', cmd, this.buf);
      done += n;
      if (n < chunk.length) break;
    }
    return done;
  }

  /** Populate gfns of `domid` (each an extent of 2^order pages); returns extents done. */
  populatePhysmap(domid: number, gfns: number[], order = 0): number {
    return this.reservation(XENMEM.populate_physmap, domid, gfns, order);
  }
  decreaseReservation(domid: number, gfns: number[]): number {
    return this.reservation(XENMEM.decrease_reservation, domid, gfns);
  }

  /** Map frames of another domain into dom0 (privcmd's foreign mapping); returns dom0 addresses. */
  mapForeign(domid: number, gfns: number[]): number[] {
    const n = gfns.length;
    const idxs = this.data;
    const gpfns = idxs + n * 8;
    const errs = gpfns + n * 8;
    if (errs + n * 4 > this.buf + BUF_PAGES * 4096) throw new RangeError('too many frames in one foreign mapping');
    const local = gfns.map(() => this.foreignFree.pop() ?? this.foreignNext++);
    gfns.forEach((g, i) => {
      this.mem.setU64(idxs + i * 8, g);
      this.mem.setU64(gpfns + i * 8, local[i]);
    });
    abi.xen_add_to_physmap_batch.init(this.mem, this.buf, { domid: DOMID_SELF, space: XENMAPSPACE.gmfn_foreign, size: n, foreign_domid: domid, idxs, gpfns, errs });
    check(this.hc('memory_op', XENMEM.add_to_physmap_batch, this.buf), 'XENMEM_add_to_physmap_batch');
    for (let i = 0; i < n; i++) {
      const rc = this.mem.getU32(errs + i * 4) | 0;
      if (rc < 0) {
        this.unmapForeign(local.slice(0, i).map((g) => g * 4096));
        throw new XenError(rc, `map d${domid} gfn ${gfns[i]}`);
      }
    }
    return local.map((g) => g * 4096);
  }

  unmapForeign(addrs: number[]): void {
    for (const a of addrs) {
      abi.xen_remove_from_physmap.init(this.mem, this.buf, { domid: DOMID_SELF, gpfn: a / 4096 });
      check(this.hc('memory_op', XENMEM.remove_from_physmap, this.buf), 'XENMEM_remove_from_physmap');
      this.foreignFree.push(a / 4096);
    }
  }

  /** Map a frame of Xen's (shared_info, grant frame idx) into another domain's physmap. */
  addToPhysmap(domid: number, space: number, idx: number, gpfn: number): void {
    abi.xen_add_to_physmap.init(this.mem, this.buf, { domid, space, idx, gpfn });
    check(this.hc('memory_op', XENMEM.add_to_physmap, this.buf), 'XENMEM_add_to_physmap');
  }
  removeFromPhysmap(domid: number, gpfn: number): void {
    abi.xen_remove_from_physmap.init(this.mem, this.buf, { domid, gpfn });
    check(this.hc('memory_op', XENMEM.remove_from_physmap, this.buf), 'XENMEM_remove_from_physmap');
  }

  // ---------------------------------------------------------------- event channels

  /** An unbound port in `domid` that `remote` may bind (for a new domain's rings). */
  evtchnAllocUnbound(domid: number, remote: number): number {
    abi.evtchn_alloc_unbound.init(this.mem, this.buf, { dom: domid, remote_dom: remote });
    check(this.hc('event_channel_op', EVTCHNOP.alloc_unbound, this.buf), 'EVTCHNOP_alloc_unbound');
    return abi.evtchn_alloc_unbound.get(this.mem, this.buf, 'port');
  }

  vcpuIsUp(vcpu: number): boolean {
    return this.hc('vcpu_op', VCPUOP.is_up, vcpu, 0) === 1;
  }
}

function toInfo(i: Values<typeof abi.xen_domctl_getdomaininfo.fields>): DomainInfo {
  return {
    domid: i.domain,
    flags: i.flags,
    totPages: i.tot_pages,
    maxPages: i.max_pages,
    cpuTime: i.cpu_time,
    nrOnlineVcpus: i.nr_online_vcpus,
    maxVcpuId: i.max_vcpu_id,
    cpupool: i.cpupool,
    dying: (i.flags & 1) !== 0,
    shutdown: (i.flags & 4) !== 0,
    shutdownCode: (i.flags >>> 16) & 0xff,
    paused: (i.flags & 8) !== 0,
    blocked: (i.flags & 16) !== 0,
    running: (i.flags & 32) !== 0,
  };
}
