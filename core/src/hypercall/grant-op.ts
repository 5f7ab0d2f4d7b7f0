/**
 * grant_table_op(cmd, uop, count). The hypercall returns 0 and puts each operation's GNTST_*
 * result in its struct's status; it fails as a whole only for a bad count (-EINVAL), an unmapped
 * argument array (-EFAULT) or an unknown command (-ENOSYS), as Xen does.
 */
import { DOMID_SELF, Errno, GNTCOPY, GNTST, GNTTABOP } from '../abi/xen';
import { abi } from '../abi';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';

export function grantTableOp(hv: Hypervisor, v: Vcpu, [cmd, uop, count]: number[]): number {
  const d = v.domain;
  const mem = d.mem.view;
  const g = hv.grants;
  if (!(Number.isSafeInteger(count) && count >= 0 && count <= 0x7fffffff)) return -Errno.EINVAL;
  const need = (size: number) => mem.isMapped(uop, count * size, true);
  switch (cmd) {
    case GNTTABOP.map_grant_ref: {
      const S = abi.gnttab_map_grant_ref;
      if (!need(S.size)) return -Errno.EFAULT;
      for (let i = 0; i < count; i++) {
        const at = uop + i * S.size;
        const a = S.read(mem, at);
        const r = g.map(d, { hostAddr: a.host_addr, flags: a.flags, ref: a.ref, dom: a.dom });
        S.write(mem, at, { status: r.status, handle: r.handle, dev_bus_addr: r.devBusAddr });
      }
      return 0;
    }
    case GNTTABOP.unmap_grant_ref: {
      const S = abi.gnttab_unmap_grant_ref;
      if (!need(S.size)) return -Errno.EFAULT;
      for (let i = 0; i < count; i++) {
        const at = uop + i * S.size;
        const a = S.read(mem, at);
        S.set(mem, at, 'status', g.unmap(d, a.host_addr, a.dev_bus_addr, a.handle));
      }
      hv.reapZombies();
      return 0;
    }
    case GNTTABOP.copy: {
      const S = abi.gnttab_copy;
      if (!need(S.size)) return -Errno.EFAULT;
      for (let i = 0; i < count; i++) {
        const at = uop + i * S.size;
        const a = S.read(mem, at);
        const src = { gref: (a.flags & GNTCOPY.source_gref) !== 0, ref: a.flags & GNTCOPY.source_gref ? a.source_ref : a.source_gmfn, domid: a.source_domid, offset: a.source_offset };
        const dst = { gref: (a.flags & GNTCOPY.dest_gref) !== 0, ref: a.flags & GNTCOPY.dest_gref ? a.dest_ref : a.dest_gmfn, domid: a.dest_domid, offset: a.dest_offset };
        S.set(mem, at, 'status', g.copy(d, src, dst, a.len));
      }
      return 0;
    }
    case GNTTABOP.setup_table: {
      if (count !== 1) return -Errno.EINVAL;
      const S = abi.gnttab_setup_table;
      const a = S.read(mem, uop);
      if (a.nr_frames > 0 && !mem.isMapped(a.frame_list, a.nr_frames * 8, true)) return -Errno.EFAULT;
      const rd = hv.lookup(a.dom, d);
      let status: number = GNTST.okay;
      if (!rd || !rd.alive) status = GNTST.bad_domain;
      else if (rd !== d && !d.isPrivileged) status = GNTST.permission_denied;
      else if (a.nr_frames > rd.grants.maxFrames || !g.grow(rd, a.nr_frames)) status = GNTST.general_error;
      else
        for (let i = 0; i < a.nr_frames; i++) {
          // Translated guest: the gfn where the frame is mapped in its physmap (M2P), else ~0.
          const m = rd.grants.frames[i];
          let gfn = -1;
          for (const e of rd.mem.p2m.entries()) if (e.mfn === m) gfn = e.gfn;
          if (gfn >= 0) mem.setU64(a.frame_list + i * 8, gfn);
          else mem.setBytes(a.frame_list + i * 8, INVALID_GFN_BYTES);
        }
      S.set(mem, uop, 'status', status);
      return 0;
    }
    case GNTTABOP.query_size: {
      if (count !== 1) return -Errno.EINVAL;
      const S = abi.gnttab_query_size;
      const a = S.read(mem, uop);
      const rd = hv.lookup(a.dom, d);
      if (!rd || !rd.alive) S.set(mem, uop, 'status', GNTST.bad_domain);
      else if (rd !== d && !d.isPrivileged) S.set(mem, uop, 'status', GNTST.permission_denied);
      else S.write(mem, uop, { nr_frames: rd.grants.frames.length, max_nr_frames: rd.grants.maxFrames, status: GNTST.okay });
      return 0;
    }
    case GNTTABOP.set_version: {
      if (count !== 1) return -Errno.EINVAL;
      const ver = mem.getU32(uop);
      if (ver !== 1) return -Errno.EINVAL; // only version 1 is provided
      return 0;
    }
    case GNTTABOP.get_version: {
      if (count !== 1) return -Errno.EINVAL;
      const dom = mem.getU16(uop);
      const rd = hv.lookup(dom, d);
      if (!rd) return -Errno.ESRCH;
      if (rd !== d && !d.isPrivileged) return -Errno.EPERM;
      mem.setU32(uop + 4, 1);
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}

export { DOMID_SELF };
const INVALID_GFN_BYTES = new Uint8Array(8).fill(0xff);
