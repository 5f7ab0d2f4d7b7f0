/**
 * Hypercall dispatch: one table from Xen's hypercall numbers to handlers, shared by every execution
 * backend. A handler takes the calling vCPU and up to five register arguments (rdi, rsi, rdx, r10,
 * r8) and returns rax: >= 0 on success, a negative Xen errno on failure.
 *
 * Guest input never makes core throw: a handler's access to unmapped guest memory (GuestFault)
 * becomes -EFAULT here, in this one place. Any other exception is a bug in trusted code and
 * propagates.
 */
import { Errno, HYPERVISOR } from '../abi/xen';
import { abi } from '../abi';
import { GuestFault } from '../mm/guest-memory';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';
import { memoryOp } from './memory-op';
import { eventChannelOp } from './evtchn-op';
import { grantTableOp } from './grant-op';
import { schedOp, setTimerOp } from './sched-op';
import { vcpuOp } from './vcpu-op';
import { domctl } from './domctl';
import { sysctl } from './sysctl';
import { consoleIo, xenVersion } from './misc';
import { hvmOp } from './hvm-op';

export type Handler = (hv: Hypervisor, v: Vcpu, a: number[]) => number;

const TABLE: Record<number, Handler> = {
  [HYPERVISOR.memory_op]: memoryOp,
  [HYPERVISOR.multicall]: multicall,
  [HYPERVISOR.set_timer_op]: setTimerOp,
  [HYPERVISOR.xen_version]: xenVersion,
  [HYPERVISOR.console_io]: consoleIo,
  [HYPERVISOR.grant_table_op]: grantTableOp,
  [HYPERVISOR.vcpu_op]: vcpuOp,
  [HYPERVISOR.sched_op]: schedOp,
  [HYPERVISOR.event_channel_op]: eventChannelOp,
  [HYPERVISOR.sysctl]: sysctl,
  [HYPERVISOR.domctl]: domctl,
  [HYPERVISOR.hvm_op]: hvmOp,
};

export function dispatchHypercall(hv: Hypervisor, v: Vcpu, nr: number, args: number[]): number {
  const h = TABLE[nr];
  let rc: number;
  if (!h) rc = -Errno.ENOSYS;
  else {
    try {
      rc = h(hv, v, args);
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      rc = -Errno.EFAULT;
    }
  }
  if (hv.trace.on) hv.trace.emit({ t: hv.now(), cpu: v.res, type: 'hypercall', dom: v.domain.id, vcpu: v.id, nr, op: args[0], rc });
  return rc;
}

const inMulticall = new WeakSet<Vcpu>();

/** multicall(call_list, nr_calls): run each entry, write its result; nesting is -EINVAL. */
function multicall(hv: Hypervisor, v: Vcpu, [list, nr]: number[]): number {
  if (inMulticall.has(v)) return -Errno.EINVAL;
  const mem = v.domain.mem.view;
  const E = abi.multicall_entry;
  if (!(Number.isSafeInteger(nr) && nr >= 0 && nr <= 1 << 20) || !mem.isMapped(list, nr * E.size, true)) return -Errno.EFAULT;
  inMulticall.add(v);
  try {
    for (let i = 0; i < nr; i++) {
      const at = list + i * E.size;
      const e = E.read(mem, at);
      const rc = TABLE[e.op] ? dispatchHypercall(hv, v, e.op, [e.arg0, e.arg1, e.arg2, e.arg3, e.arg4]) : -Errno.ENOSYS;
      E.set(mem, at, 'result', rc);
      if (!v.domain.active) break; // the domain shut itself down part-way
    }
  } finally {
    inMulticall.delete(v);
  }
  return 0;
}
