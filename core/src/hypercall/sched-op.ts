/** sched_op (SCHEDOP_*) and set_timer_op. */
import { DOMID_SELF, Errno, SCHEDOP, SHUTDOWN } from '../abi/xen';
import { abi } from '../abi';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';
import { VPF } from '../domain/vcpu';

/** Most ports one SCHEDOP_poll may wait on (do_poll). */
const POLL_MAX_PORTS = 128;
/** Timeouts further than 2^50 ns ahead are treated as "100 ms" (do_set_timer_op). */
const TIMER_FAR = 2 ** 50;

export function schedOp(hv: Hypervisor, v: Vcpu, [cmd, arg]: number[]): number {
  const d = v.domain;
  const mem = d.mem.view;
  switch (cmd) {
    case SCHEDOP.yield:
      hv.fw.yield(v);
      return 0;
    case SCHEDOP.block:
      // vcpu_block_enable_events: unmask upcalls, then block unless events wait.
      hv.evtchn.setUpcallMask(v, false);
      hv.fw.block(v);
      return 0;
    case SCHEDOP.shutdown: {
      const reason = abi.sched_shutdown.get(mem, arg, 'reason');
      hv.shutdown(d, reason, v.id);
      return 0;
    }
    case SCHEDOP.shutdown_code: {
      const reason = abi.sched_shutdown.get(mem, arg, 'reason');
      if (d.shutdownCode === -1) d.shutdownCode = reason & 0xff;
      return 0;
    }
    case SCHEDOP.remote_shutdown: {
      const a = abi.sched_remote_shutdown.read(mem, arg);
      const t = a.domain_id === DOMID_SELF ? undefined : hv.domains.get(a.domain_id);
      if (!t || !t.alive) return -Errno.ESRCH;
      if (!d.isPrivileged) return -Errno.EPERM;
      hv.shutdown(t, a.reason);
      return 0;
    }
    case SCHEDOP.poll:
      return poll(hv, v, arg);
    case SCHEDOP.watchdog:
      return -Errno.ENOSYS;
    default:
      return -Errno.ENOSYS;
  }
}

function poll(hv: Hypervisor, v: Vcpu, arg: number): number {
  const d = v.domain;
  const mem = d.mem.view;
  const a = abi.sched_poll.read(mem, arg);
  if (a.nr_ports > POLL_MAX_PORTS) return -Errno.EINVAL;
  if (!mem.isMapped(a.ports, a.nr_ports * 4)) return -Errno.EFAULT;
  const ports: number[] = [];
  for (let i = 0; i < a.nr_ports; i++) ports.push(mem.getU32(a.ports + i * 4));
  if (hv.evtchn.eventsNeedDelivery(v)) return 0;
  for (const p of ports) {
    if (!hv.evtchn.usable(d, p)) return -Errno.EINVAL;
    if (hv.evtchn.isPending(d, p)) return 0;
  }
  v.polling = true;
  v.pollEvtchn = ports.length === 1 ? ports[0] : -1;
  v.pauseFlags |= VPF.blocked;
  if (a.timeout !== 0) {
    // Virtual time is exact only below 2^53 ns (~104 days): a later timeout never comes.
    v.pollTimer = hv.engine.at(Math.min(Math.max(a.timeout, hv.now()), Number.MAX_SAFE_INTEGER), 0, () => {
      v.pollTimer = null;
      if (v.polling) {
        v.polling = false;
        hv.fw.unblock(v);
      }
    });
  }
  if (hv.trace.on) hv.trace.emit({ t: hv.now(), cpu: v.res, type: 'block', dom: d.id, vcpu: v.id });
  hv.fw.raise(v.res);
  return 0;
}

/** set_timer_op(timeout): absolute system time; 0 cancels; far or negative fires in 100 ms. */
export function setTimerOp(hv: Hypervisor, v: Vcpu, [timeout]: number[]): number {
  if (timeout === 0) {
    hv.stopSingleshot(v);
    return 0;
  }
  const now = hv.now();
  const at = timeout < 0 || timeout - now > TIMER_FAR ? now + 100_000_000 : timeout;
  hv.setSingleshot(v, at);
  return 0;
}

export { SHUTDOWN };
