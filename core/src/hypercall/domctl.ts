/**
 * domctl(struct xen_domctl *): the toolstack's control interface, privileged domains only.
 * Checks in Xen's order: interface version (-EACCES), target domain (-ESRCH, no DOMID_SELF),
 * privilege (-EPERM), then the command's own checks. The struct is copied back on success.
 */
import { DOMCTL, DOMID_FIRST_RESERVED, Errno, RUNSTATE, XEN_DOMCTL_INTERFACE_VERSION, XEN_DOMINF, XEN_VCPUAFFINITY } from '../abi/xen';
import { abi } from '../abi';
import type { ByteAccess } from '../abi/bytes';
import { domid as asDomId } from '../abi/types';
import { CpuSet } from '../machine/cpuset';
import { VPF, type Vcpu } from '../domain/vcpu';
import type { Domain } from '../domain/domain';
import type { Hypervisor } from '../hypervisor';
import { VGCF_online } from '../abi/structs';

const U = abi.DOMCTL_U;
/** Commands that pause, wake, re-place or adjust a domain's vCPUs in the scheduler. */
const SCHED_CMDS: ReadonlySet<number> = new Set([
  DOMCTL.pausedomain,
  DOMCTL.unpausedomain,
  DOMCTL.setvcpucontext,
  DOMCTL.setvcpuaffinity,
  DOMCTL.scheduler_op,
]);

/** A ByteAccess window: offsets 0..size map to base..base+size of `m`; outside is a fault. */
export class Window implements ByteAccess {
  constructor(
    private readonly m: ByteAccess,
    private readonly base: number,
    readonly size: number,
  ) {}
  private at(off: number, n: number): number {
    if (!(off >= 0 && off + n <= this.size)) throw new RangeError(`window access ${off}+${n} outside ${this.size} bytes`);
    return this.base + off;
  }
  getU8 = (o: number) => this.m.getU8(this.at(o, 1));
  setU8 = (o: number, v: number) => this.m.setU8(this.at(o, 1), v);
  getU16 = (o: number) => this.m.getU16(this.at(o, 2));
  setU16 = (o: number, v: number) => this.m.setU16(this.at(o, 2), v);
  getU32 = (o: number) => this.m.getU32(this.at(o, 4));
  setU32 = (o: number, v: number) => this.m.setU32(this.at(o, 4), v);
  getU64 = (o: number) => this.m.getU64(this.at(o, 8));
  setU64 = (o: number, v: number) => this.m.setU64(this.at(o, 8), v);
  getBytes = (o: number, n: number) => this.m.getBytes(this.at(o, n), n);
  setBytes = (o: number, d: Uint8Array) => this.m.setBytes(this.at(o, d.length), d);
}

export function domctl(hv: Hypervisor, v: Vcpu, [arg]: number[]): number {
  const cur = v.domain;
  const mem = cur.mem.view;
  const hdr = abi.xen_domctl.read(mem, arg);
  if (hdr.interface_version !== XEN_DOMCTL_INTERFACE_VERSION) return -Errno.EACCES;
  const u = arg + U;
  let d: Domain | undefined;
  if (hdr.cmd !== DOMCTL.createdomain && hdr.cmd !== DOMCTL.getdomaininfo) {
    d = hv.domains.get(hdr.domain);
    if (!d) return -Errno.ESRCH;
  }
  if (!cur.isPrivileged) return -Errno.EPERM;
  // A destroyed domain lingers while others still map its frames, but its vCPUs have left the
  // scheduler (their units are freed): nothing may reach the scheduler through it any more.
  if (d && !d.alive && SCHED_CMDS.has(hdr.cmd)) return -Errno.EINVAL;

  switch (hdr.cmd) {
    case DOMCTL.createdomain:
      return createDomain(hv, mem, arg, hdr.domain);
    case DOMCTL.destroydomain:
      if (d === cur) return -Errno.EINVAL;
      hv.destroy(d!);
      return 0;
    case DOMCTL.pausedomain:
      if (d === cur) return -Errno.EINVAL;
      if (d!.pauseCount >= 255) return -Errno.EOVERFLOW;
      hv.fw.pauseDomain(d!);
      return 0;
    case DOMCTL.unpausedomain:
      if (d!.pauseCount === 0) return -Errno.EINVAL;
      hv.fw.unpauseDomain(d!);
      return 0;
    case DOMCTL.getdomaininfo: {
      let t = hv.domains.get(hdr.domain);
      if (!t) {
        if (hdr.domain >= DOMID_FIRST_RESERVED) return -Errno.EINVAL;
        t = [...hv.domains.values()].filter((x) => x.id >= hdr.domain).sort((a, b) => a.id - b.id)[0];
        if (!t) return -Errno.ESRCH;
        abi.xen_domctl.set(mem, arg, 'domain', t.id);
      }
      writeDomainInfo(hv, t, mem, u);
      return 0;
    }
    case DOMCTL.max_mem: {
      const kb = abi.xen_domctl_max_mem.get(mem, u, 'max_memkb');
      d!.mem.maxPages = Math.floor(kb / 4);
      return 0;
    }
    case DOMCTL.max_vcpus: {
      const max = abi.xen_domctl_max_vcpus.get(mem, u, 'max');
      if (d === cur || max !== d!.vcpus.length) return -Errno.EINVAL;
      return 0;
    }
    case DOMCTL.setvcpucontext: {
      const a = abi.xen_domctl_vcpucontext.read(mem, u);
      const t = d!.vcpus[a.vcpu];
      if (d === cur || !t) return -Errno.EINVAL;
      if (a.ctxt === 0) {
        hv.fw.setPauseFlag(t, VPF.down);
        t.initialised = false;
        return 0;
      }
      const c = abi.vcpu_guest_context.read(mem, a.ctxt);
      t.regs = { rip: c.rip, rsp: c.rsp, rsi: c.rsi, rdi: c.rdi, cr3: c.ctrlreg3 };
      t.initialised = true;
      if (c.flags & VGCF_online) hv.fw.clearPauseFlag(t, VPF.down);
      return 0;
    }
    case DOMCTL.getvcpucontext: {
      const a = abi.xen_domctl_vcpucontext.read(mem, u);
      const t = d!.vcpus[a.vcpu];
      if (!t || t === v) return -Errno.EINVAL;
      if (!t.initialised) return -Errno.ENODATA;
      if (a.ctxt !== 0) {
        const { cr3, ...regs } = t.regs;
        abi.vcpu_guest_context.init(mem, a.ctxt, { ...regs, ctrlreg3: cr3, flags: t.online ? VGCF_online : 0 });
      }
      return 0;
    }
    case DOMCTL.getvcpuinfo: {
      const S = abi.xen_domctl_getvcpuinfo;
      const n = S.get(mem, u, 'vcpu');
      const t = d!.vcpus[n];
      if (!t) return -Errno.EINVAL;
      S.write(mem, u, {
        online: t.online ? 1 : 0,
        blocked: t.pauseFlags & VPF.blocked ? 1 : 0,
        running: t.isRunning ? 1 : 0,
        cpu_time: t.cpuTime(hv.now()),
        cpu: t.res,
      });
      return 0;
    }
    case DOMCTL.setvcpuaffinity:
    case DOMCTL.getvcpuaffinity:
      return vcpuAffinity(hv, mem, u, d!, hdr.cmd === DOMCTL.setvcpuaffinity);
    case DOMCTL.scheduler_op: {
      const S = abi.xen_domctl_scheduler_op;
      const a = S.read(mem, u);
      if (a.sched_id !== d!.pool.ops.schedId) return -Errno.EINVAL;
      if (a.cmd > 3) return -Errno.EINVAL;
      const window = new Window(mem, u + abi.DOMCTL_SCHEDOP_U, abi.xen_domctl.size - U - abi.DOMCTL_SCHEDOP_U);
      return hv.fw.adjust(d!, a.cmd, window, mem);
    }
    case DOMCTL.setdomainhandle:
      d!.config.handle.set(mem.getBytes(u, 16));
      return 0;
    default:
      return -Errno.ENOSYS;
  }
}

function createDomain(hv: Hypervisor, mem: ByteAccess, arg: number, want: number): number {
  const c = abi.xen_domctl_createdomain.read(mem, arg + U);
  const KNOWN_FLAGS = 0xff;
  if (c.flags & ~KNOWN_FLAGS || c.max_vcpus < 1 || c.max_vcpus > 128) return -Errno.EINVAL;
  if (c.grant_opts & ~0xf || (c.grant_opts & 0xf) > 1) return -Errno.EINVAL; // grant v1 only
  let id;
  if (want > 0 && want < DOMID_FIRST_RESERVED) {
    if (hv.domains.has(want)) return -Errno.EEXIST;
    id = asDomId(want);
  } else {
    id = hv.allocDomid();
    if (id === null) return -Errno.ENOMEM;
  }
  const pool = hv.fw.pools.get(c.cpupool_id);
  if (!pool) return -Errno.ENOENT;
  const d = hv.createDomain(
    id,
    hv.domainConfig({
      maxVcpus: c.max_vcpus,
      maxEvtchnPort: c.max_evtchn_port,
      maxGrantFrames: c.max_grant_frames < 0 ? 64 : c.max_grant_frames,
      maxMaptrackFrames: c.max_maptrack_frames < 0 ? 1024 : c.max_maptrack_frames,
      handle: mem.getBytes(arg + U + 4, 16),
      ssidref: c.ssidref,
      flags: c.flags,
    }),
    pool,
  );
  if (typeof d === 'number') return d;
  abi.xen_domctl.set(mem, arg, 'domain', d.id);
  return 0;
}

export function domainInfoFlags(d: Domain): number {
  let f = 0;
  if (!d.alive) f |= XEN_DOMINF.dying;
  if (d.isHvm) f |= XEN_DOMINF.hvm_guest;
  if (d.isShutDown) f |= XEN_DOMINF.shutdown;
  if (d.pauseCount > 0) f |= XEN_DOMINF.paused;
  const online = d.vcpus.filter((v) => v.online);
  if (online.length > 0 && online.every((v) => v.pauseFlags & VPF.blocked)) f |= XEN_DOMINF.blocked;
  if (d.vcpus.some((v) => v.isRunning)) f |= XEN_DOMINF.running;
  if (d.shutdownCode >= 0) f |= (d.shutdownCode & XEN_DOMINF.shutdownmask) << XEN_DOMINF.shutdownshift;
  return f >>> 0;
}

export function writeDomainInfo(hv: Hypervisor, d: Domain, mem: ByteAccess, at: number): void {
  const now = hv.now();
  abi.xen_domctl_getdomaininfo.init(mem, at, {
    domain: d.id,
    flags: domainInfoFlags(d),
    tot_pages: d.mem.totPages,
    max_pages: d.mem.maxPages,
    shared_info_frame: d.sharedInfoMfn,
    cpu_time: d.vcpus.reduce((s, v) => s + v.cpuTime(now), 0),
    nr_online_vcpus: d.vcpus.filter((v) => v.online).length,
    max_vcpu_id: d.vcpus.length - 1,
    ssidref: d.config.ssidref,
    cpupool: d.pool.id,
    gpaddr_bits: 36,
  });
  mem.setBytes(at + 76, d.config.handle);
}

function vcpuAffinity(hv: Hypervisor, mem: ByteAccess, u: number, d: Domain, set: boolean): number {
  const S = abi.xen_domctl_vcpuaffinity;
  const a = S.read(mem, u);
  const t = d.vcpus[a.vcpu];
  if (!t) return a.vcpu >= d.vcpus.length ? -Errno.EINVAL : -Errno.ESRCH;
  const hard = (a.flags & XEN_VCPUAFFINITY.hard) !== 0;
  const soft = (a.flags & XEN_VCPUAFFINITY.soft) !== 0;
  if (!hard && !soft) return -Errno.EINVAL;
  const readMask = (bm: number, bits: number) => CpuSet.fromBitmap(mem.getBytes(bm, Math.ceil(bits / 8)), bits);
  const writeMask = (bm: number, bits: number, s: CpuSet) => mem.setBytes(bm, s.toBitmap(bits));
  if (set) {
    if ((hard && a.hard_bitmap === 0) || (soft && a.soft_bitmap === 0)) return -Errno.EINVAL;
    const h = hard ? readMask(a.hard_bitmap, a.hard_nr_bits) : null;
    const s = soft ? readMask(a.soft_bitmap, a.soft_nr_bits) : null;
    const rc = hv.fw.setAffinity(t, h, s);
    if (rc < 0) return rc;
  }
  if (hard && a.hard_bitmap) writeMask(a.hard_bitmap, a.hard_nr_bits, t.hardAffinity);
  if (soft && a.soft_bitmap) writeMask(a.soft_bitmap, a.soft_nr_bits, t.softAffinity);
  return 0;
}

export { RUNSTATE };
