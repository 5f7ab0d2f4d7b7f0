/**
 * XENMEM_* (memory.c). Reservation ops return the number of extents done (never an errno, as in
 * Xen): a failure part-way stops at the failing extent, leaving earlier ones done. Our guests are
 * auto-translated, so increase_reservation places its extents in the physmap at the gfns given,
 * like populate_physmap (a PV guest would receive MFNs instead).
 */
import { DOMID_SELF, Errno, XENMAPIDX_grant_table_status, XENMAPSPACE, XENMEM } from '../abi/xen';
import { abi } from '../abi';
import { gfn as asGfn, mfn as asMfn } from '../abi/types';
import { MAX_GFN, P2mType } from '../mm/p2m';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';
import type { Domain } from '../domain/domain';

const MEMOP_EXTENT_SHIFT = 6;
const MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1;
/** Largest extent order: domU 9 (2 MiB), the control domain 18 (max_order() in memory.c). */
const maxOrder = (d: Domain) => (d.isPrivileged ? 18 : 9);

/** Target of a memory op: itself, or any domain for a privileged caller. */
function target(hv: Hypervisor, cur: Domain, id: number): Domain | 'ESRCH' | 'EPERM' {
  const d = hv.lookup(id, cur);
  if (!d || !d.alive) return 'ESRCH';
  if (d !== cur && !cur.isPrivileged) return 'EPERM';
  return d;
}

export function memoryOp(hv: Hypervisor, v: Vcpu, [cmdArg, arg]: number[]): number {
  const cur = v.domain;
  const mem = cur.mem.view;
  const cmd = cmdArg & MEMOP_CMD_MASK;
  const start = Math.floor(cmdArg / (1 << MEMOP_EXTENT_SHIFT));
  switch (cmd) {
    case XENMEM.increase_reservation:
    case XENMEM.populate_physmap:
    case XENMEM.decrease_reservation: {
      if (!mem.isMapped(arg, abi.xen_memory_reservation.size)) return start; // copy_from_guest failed
      const r = abi.xen_memory_reservation.read(mem, arg);
      if (r.nr_extents > 0xffffffff >>> 6 || start >= r.nr_extents) return start;
      const d = target(hv, cur, r.domid);
      if (typeof d === 'string') return start;
      if (r.extent_order > maxOrder(cur)) return start;
      const per = 2 ** r.extent_order;
      if (r.extent_start === 0 || !mem.isMapped(r.extent_start, r.nr_extents * 8, false)) return start;
      let done = start;
      for (let i = start; i < r.nr_extents; i++) {
        // An extent may have removed the page holding the list itself: stop, reporting what was done.
        if (!mem.isMapped(r.extent_start + i * 8, 8)) break;
        const g = mem.getU64(r.extent_start + i * 8);
        if (cmd === XENMEM.decrease_reservation) {
          if (!(g + per - 1 <= MAX_GFN)) break;
          let ok = true;
          for (let j = 0; j < per && ok; j++) ok = hv.mem.depopulate(d.mem, g + j);
          if (!ok) break;
        } else {
          if (g % per !== 0 || !hv.mem.populate(d.mem, g, per)) break;
        }
        done = i + 1;
      }
      return done;
    }
    case XENMEM.maximum_ram_page:
      return start !== 0 ? -Errno.EINVAL : hv.mem.totalFrames - 1;
    case XENMEM.current_reservation:
    case XENMEM.maximum_reservation: {
      if (start !== 0) return -Errno.EINVAL;
      const d = target(hv, cur, mem.getU16(arg));
      if (typeof d === 'string') return -Errno[d];
      return cmd === XENMEM.current_reservation ? d.mem.totPages : d.mem.maxPages;
    }
    case XENMEM.add_to_physmap: {
      const x = abi.xen_add_to_physmap.read(mem, arg);
      if (x.space === XENMAPSPACE.gmfn_foreign) return -Errno.ENOSYS;
      const d = target(hv, cur, x.domid);
      if (typeof d === 'string') return -Errno[d];
      return addToPhysmapOne(hv, d, x.space, x.idx, x.gpfn, cur);
    }
    case XENMEM.add_to_physmap_batch: {
      const x = abi.xen_add_to_physmap_batch.read(mem, arg);
      if (x.space === XENMAPSPACE.gmfn_range) return -Errno.EOPNOTSUPP;
      const d = target(hv, cur, x.domid);
      if (typeof d === 'string') return -Errno[d];
      if (!mem.isMapped(x.idxs, x.size * 8) || !mem.isMapped(x.gpfns, x.size * 8) || !mem.isMapped(x.errs, x.size * 4, true))
        return -Errno.EFAULT;
      for (let i = 0; i < x.size; i++) {
        const idx = mem.getU64(x.idxs + i * 8);
        const gpfn = mem.getU64(x.gpfns + i * 8);
        const rc =
          x.space === XENMAPSPACE.gmfn_foreign
            ? addForeign(hv, cur, d, x.foreign_domid, idx, gpfn)
            : addToPhysmapOne(hv, d, x.space, idx, gpfn, cur);
        mem.setU32(x.errs + i * 4, rc);
      }
      return 0;
    }
    case XENMEM.remove_from_physmap: {
      const x = abi.xen_remove_from_physmap.read(mem, arg);
      const d = target(hv, cur, x.domid);
      if (typeof d === 'string') return -Errno[d];
      if (d.mem.p2m.type(x.gpfn) === P2mType.none) return -Errno.ENOENT;
      unmapGfn(hv, d, x.gpfn);
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}

/** Remove whatever is at `g`, keeping grant bookkeeping consistent (a grant map goes via unmap). */
function unmapGfn(hv: Hypervisor, d: Domain, g: number): void {
  const t = d.mem.p2m.type(g);
  if (t === P2mType.grantRo || t === P2mType.grantRw) {
    const h = d.grants.maptrack.findIndex((m) => m?.hostGfn === g);
    if (h >= 0) {
      hv.grants.unmap(d, g * 4096, 0, h);
      hv.reapZombies();
      return;
    }
  }
  hv.mem.unmapAny(d.mem, asGfn(g));
  hv.reapZombies();
}

function validGpfn(g: number): boolean {
  return Number.isSafeInteger(g) && g >= 0 && g <= MAX_GFN;
}

function addToPhysmapOne(hv: Hypervisor, d: Domain, space: number, idx: number, gpfn: number, cur: Domain): number {
  if (!validGpfn(gpfn)) return -Errno.EINVAL;
  switch (space) {
    case XENMAPSPACE.shared_info:
      if (idx !== 0) return -Errno.EINVAL;
      unmapGfn(hv, d, gpfn);
      hv.mem.mapXenFrame(d.mem, asGfn(gpfn), d.sharedInfoMfn);
      return 0;
    case XENMAPSPACE.grant_table: {
      if (idx >= XENMAPIDX_grant_table_status) return -Errno.EINVAL; // status frames: v2 only
      if (!(idx < d.grants.maxFrames) || !hv.grants.grow(d, idx + 1)) return -Errno.EINVAL;
      unmapGfn(hv, d, gpfn);
      hv.mem.mapXenFrame(d.mem, asGfn(gpfn), d.grants.frames[idx]);
      return 0;
    }
    case XENMAPSPACE.gmfn: {
      // Move one of the domain's own RAM frames to another gfn.
      if (d.mem.p2m.type(idx) !== P2mType.ram) return -Errno.EINVAL;
      if (idx === gpfn) return 0;
      const m = asMfn(d.mem.p2m.lookup(idx));
      unmapGfn(hv, d, gpfn);
      d.mem.p2m.clear(asGfn(idx));
      d.mem.p2m.set(asGfn(gpfn), m, P2mType.ram);
      hv.mem.m2p[m] = gpfn;
      return 0;
    }
    default:
      void cur;
      return -Errno.EINVAL;
  }
}

/** XENMAPSPACE_gmfn_foreign: a privileged domain maps a frame of another domain (privcmd). */
function addForeign(hv: Hypervisor, cur: Domain, d: Domain, foreignId: number, idx: number, gpfn: number): number {
  // Both the caller and the domain receiving the mapping must be privileged (p2m_add_foreign).
  if (!cur.isPrivileged || !d.isPrivileged) return -Errno.EPERM;
  if (!validGpfn(gpfn)) return -Errno.EINVAL;
  const fd = foreignId === DOMID_SELF ? undefined : hv.domains.get(foreignId);
  if (!fd) return -Errno.ESRCH;
  if (fd === d) return -Errno.EPERM;
  const t = fd.mem.p2m.type(idx);
  if (t !== P2mType.ram && t !== P2mType.xenShared) return -Errno.EINVAL;
  unmapGfn(hv, d, gpfn);
  hv.mem.mapForeign(d.mem, asGfn(gpfn), asMfn(fd.mem.p2m.lookup(idx)), P2mType.foreign);
  return 0;
}
