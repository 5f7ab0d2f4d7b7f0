/** xen_version and console_io. */
import { CONSOLEIO, Errno, XENVER, XEN_EXTRAVERSION, XEN_VERSION } from '../abi/xen';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';

export function xenVersion(_hv: Hypervisor, v: Vcpu, [cmd, arg]: number[]): number {
  const mem = v.domain.mem.view;
  switch (cmd) {
    case XENVER.version:
      return (XEN_VERSION.major << 16) | XEN_VERSION.minor;
    case XENVER.extraversion: {
      const out = new Uint8Array(16);
      out.set(new TextEncoder().encode(XEN_EXTRAVERSION).subarray(0, 15));
      mem.setBytes(arg, out);
      return 0;
    }
    case XENVER.pagesize:
      return 4096;
    case XENVER.get_features: {
      // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }
      const idx = mem.getU32(arg);
      // XENFEAT_auto_translated_physmap (2) | XENFEAT_supervisor_mode_kernel (3) | XENFEAT_hvm_callback_vector (8)
      mem.setU32(arg + 4, idx === 0 ? (1 << 2) | (1 << 3) | (1 << 8) : 0);
      return 0;
    }
    default:
      return -Errno.ENOSYS;
  }
}

/** Hypervisor console. Writes are allowed to every domain, as a CONFIG_VERBOSE_DEBUG build does. */
export function consoleIo(hv: Hypervisor, v: Vcpu, [cmd, count, buf]: number[]): number {
  if (cmd !== CONSOLEIO.write) return cmd === CONSOLEIO.read ? -Errno.EPERM : -Errno.ENOSYS;
  if (!(Number.isSafeInteger(count) && count >= 0)) return -Errno.EINVAL;
  const n = Math.min(count, 4096);
  const text = new TextDecoder().decode(v.domain.mem.view.getBytes(buf, n));
  const d = v.domain;
  const lines = (d.consoleLine + text).split('\n');
  d.consoleLine = lines.pop()!;
  for (const line of lines) if (hv.trace.on) hv.trace.emit({ t: hv.now(), cpu: v.res, type: 'console', dom: d.id, text: line });
  return n;
}
