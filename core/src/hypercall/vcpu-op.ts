/** vcpu_op(cmd, vcpuid, arg) (VCPUOP_* in vcpu.h). */
import { Errno, VCPUOP, VCPU_SSHOTTMR_future } from '../abi/xen';
import { abi } from '../abi';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';
import { VPF } from '../domain/vcpu';
import { VGCF_online } from '../abi/structs';

const MIN_PERIOD = 1_000_000;

export function vcpuOp(hv: Hypervisor, cur: Vcpu, [cmd, id, arg]: number[]): number {
  const d = cur.domain;
  const mem = d.mem.view;
  const v = Number.isInteger(id) ? d.vcpus[id] : undefined;
  if (!v) return -Errno.ENOENT;
  switch (cmd) {
    case VCPUOP.initialise: {
      if (v.initialised) return -Errno.EEXIST;
      const c = abi.vcpu_guest_context.read(mem, arg);
      v.regs = { rip: c.rip, rsp: c.rsp, rsi: c.rsi, rdi: c.rdi, cr3: c.ctrlreg3 };
      v.initialised = true;
      if (c.flags & VGCF_online) hv.fw.clearPauseFlag(v, VPF.down);
      return 0;
    }
    case VCPUOP.up:
      if (!v.initialised) return -Errno.EINVAL;
      hv.fw.clearPauseFlag(v, VPF.down);
      return 0;
    case VCPUOP.down:
      hv.vcpuDown(v);
      return 0;
    case VCPUOP.is_up:
      return v.online ? 1 : 0;
    case VCPUOP.get_runstate_info:
      abi.vcpu_runstate_info.write(mem, arg, hv.runstateInfo(v));
      return 0;
    case VCPUOP.register_runstate_memory_area: {
      const addr = abi.vcpu_register_runstate_memory_area.get(mem, arg, 'addr');
      if (addr !== 0 && !mem.isMapped(addr, abi.vcpu_runstate_info.size, true)) return -Errno.EFAULT;
      v.runstateArea = addr;
      if (addr !== 0) abi.vcpu_runstate_info.write(mem, addr, hv.runstateInfo(v));
      return 0;
    }
    case VCPUOP.set_periodic_timer: {
      const p = abi.vcpu_set_periodic_timer.get(mem, arg, 'period_ns');
      if (p < MIN_PERIOD || p > 2 ** 62) return -Errno.EINVAL;
      hv.setPeriodic(v, p);
      return 0;
    }
    case VCPUOP.stop_periodic_timer:
      hv.setPeriodic(v, 0);
      return 0;
    case VCPUOP.set_singleshot_timer: {
      if (v !== cur) return -Errno.EINVAL;
      const t = abi.vcpu_set_singleshot_timer.read(mem, arg);
      if (t.flags & VCPU_SSHOTTMR_future && t.timeout_abs_ns < hv.now()) return -Errno.ETIME;
      hv.setSingleshot(v, t.timeout_abs_ns);
      return 0;
    }
    case VCPUOP.stop_singleshot_timer:
      if (v !== cur) return -Errno.EINVAL;
      hv.stopSingleshot(v);
      return 0;
    case VCPUOP.register_vcpu_info:
      // vCPUs 0..31 use their legacy slot in shared_info; moving vcpu_info into guest RAM (which
      // Xen pins with a page reference) is not provided yet.
      return -Errno.ENOSYS;
    default:
      return -Errno.ENOSYS;
  }
}
