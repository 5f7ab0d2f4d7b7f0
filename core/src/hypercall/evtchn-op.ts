/** event_channel_op(cmd, arg): decode the op struct, call the mechanism, write results back. */
import { EVTCHNOP, Errno } from '../abi/xen';
import { abi } from '../abi';
import type { Hypervisor } from '../hypervisor';
import type { Vcpu } from '../domain/vcpu';

export function eventChannelOp(hv: Hypervisor, v: Vcpu, [cmd, arg]: number[]): number {
  const d = v.domain;
  const mem = d.mem.view;
  const ev = hv.evtchn;
  switch (cmd) {
    case EVTCHNOP.alloc_unbound: {
      const S = abi.evtchn_alloc_unbound;
      const a = S.read(mem, arg);
      const r = ev.allocUnbound(d, a.dom, a.remote_dom);
      if (!r.ok) return r.rc;
      S.set(mem, arg, 'port', r.port);
      return 0;
    }
    case EVTCHNOP.bind_interdomain: {
      const S = abi.evtchn_bind_interdomain;
      const a = S.read(mem, arg);
      const r = ev.bindInterdomain(d, a.remote_dom, a.remote_port);
      if (!r.ok) return r.rc;
      S.set(mem, arg, 'local_port', r.port);
      return 0;
    }
    case EVTCHNOP.bind_virq: {
      const S = abi.evtchn_bind_virq;
      const a = S.read(mem, arg);
      const r = ev.bindVirq(d, a.virq, a.vcpu);
      if (!r.ok) return r.rc;
      S.set(mem, arg, 'port', r.port);
      return 0;
    }
    case EVTCHNOP.bind_ipi: {
      const S = abi.evtchn_bind_ipi;
      const a = S.read(mem, arg);
      const r = ev.bindIpi(d, a.vcpu);
      if (!r.ok) return r.rc;
      S.set(mem, arg, 'port', r.port);
      return 0;
    }
    case EVTCHNOP.bind_pirq: {
      const S = abi.evtchn_bind_pirq;
      const a = S.read(mem, arg);
      const r = ev.bindPirq(d, a.pirq);
      if (!r.ok) return r.rc;
      S.set(mem, arg, 'port', r.port);
      return 0;
    }
    case EVTCHNOP.close:
      return ev.close(d, abi.evtchn_close.get(mem, arg, 'port'));
    case EVTCHNOP.send:
      return ev.send(d, abi.evtchn_send.get(mem, arg, 'port'));
    case EVTCHNOP.status: {
      const S = abi.evtchn_status;
      const a = S.read(mem, arg);
      return ev.status(d, a.dom, a.port, (s) => {
        S.write(mem, arg, { status: s.status, vcpu: s.vcpu, interdomain_port: 0 });
        if (s.status === 1) S.set(mem, arg, 'unbound_dom', s.dom);
        else if (s.status === 2) S.write(mem, arg, { interdomain_dom: s.dom, interdomain_port: s.port });
        else if (s.status === 3) S.set(mem, arg, 'pirq', s.pirq);
        else if (s.status === 4) S.set(mem, arg, 'virq', s.virq);
      });
    }
    case EVTCHNOP.unmask:
      return ev.unmask(d, abi.evtchn_unmask.get(mem, arg, 'port'));
    case EVTCHNOP.bind_vcpu: {
      const a = abi.evtchn_bind_vcpu.read(mem, arg);
      return ev.bindVcpu(d, a.port, a.vcpu);
    }
    case EVTCHNOP.reset:
      return ev.reset(d, abi.evtchn_reset.get(mem, arg, 'dom'));
    case EVTCHNOP.init_control:
    case EVTCHNOP.expand_array:
    case EVTCHNOP.set_priority:
      return -Errno.ENOSYS; // FIFO ABI not provided: guests fall back to 2-level, as Linux does
    default:
      return -Errno.ENOSYS;
  }
}
