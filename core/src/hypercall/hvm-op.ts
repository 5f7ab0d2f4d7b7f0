/**
 * hvm_op (hvm/hvm_op.h): only HVMOP_set_evtchn_upcall_vector, the per-vCPU event upcall vector a
 * guest on a hardware backend takes its upcalls on (checks in the order of Xen's
 * hvmop_set_evtchn_upcall_vector). Everything else is -ENOSYS.
 */
import { Errno, HVMOP } from '../abi/xen';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';

/** struct xen_hvm_evtchn_upcall_vector { uint32_t vcpu; uint8_t vector; } (8 bytes with padding). */
const UPCALL_VECTOR_SIZE = 8;

export function hvmOp(_hv: Hypervisor, v: Vcpu, [op, arg]: number[]): number {
  const mem = v.domain.mem.view;
  switch (op) {
    case HVMOP.set_evtchn_upcall_vector: {
      if (!mem.isMapped(arg, UPCALL_VECTOR_SIZE)) return -Errno.EFAULT;
      const vcpu = mem.getU32(arg);
      const vector = mem.getU8(arg + 4);
      if (vector < 0x10) return -Errno.EINVAL;
      const t = v.domain.vcpus[vcpu];
      if (!t) return -Errno.ENOENT;
      t.upcallVector = vector;
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}
