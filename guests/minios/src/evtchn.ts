/** Event-channel helpers: Xen's EVTCHNOP structs built in guest memory, plus port handlers. */
import { DOMID_SELF, EVTCHNOP, HYPERVISOR, abi } from '@xenotype/core';
import type { MiniOS } from './minios';
import { Signal } from './threads';

export type PortHandler = (port: number) => void;

export class EventChannels {
  private readonly handlers = new Map<number, PortHandler>();
  /** One signal per port, notified on every event: threads wait on it by generation. */
  private readonly signals = new Map<number, Signal>();

  constructor(private readonly os: MiniOS) {}

  private op<F extends Record<string, import('@xenotype/core').Field>>(
    s: import('@xenotype/core').Struct<F>,
    cmd: number,
    v: Partial<import('@xenotype/core').Values<F>>,
    name: string,
  ) {
    const sc = this.os.scratchFor();
    return sc.call(s, v, (a) => this.os.cpu.hypercall(HYPERVISOR.event_channel_op, cmd, a), name);
  }

  /** Called from the upcall for each pending, unmasked port. */
  dispatch(port: number): void {
    this.signals.get(port)?.notify((t) => this.os.wake(t));
    this.handlers.get(port)?.(port);
  }

  on(port: number, h: PortHandler): void {
    this.handlers.set(port, h);
  }

  /** The signal notified on each event of `port`. */
  signal(port: number): Signal {
    let s = this.signals.get(port);
    if (!s) this.signals.set(port, (s = new Signal()));
    return s;
  }

  allocUnbound(remoteDom: number, dom: number = DOMID_SELF): number {
    return this.op(abi.evtchn_alloc_unbound, EVTCHNOP.alloc_unbound, { dom, remote_dom: remoteDom }, 'EVTCHNOP_alloc_unbound').port;
  }

  bindInterdomain(remoteDom: number, remotePort: number, h?: PortHandler): number {
    const p = this.op(abi.evtchn_bind_interdomain, EVTCHNOP.bind_interdomain, { remote_dom: remoteDom, remote_port: remotePort }, 'EVTCHNOP_bind_interdomain').local_port;
    if (h) this.on(p, h);
    return p;
  }

  bindVirq(virq: number, vcpu: number, h?: PortHandler): number {
    const p = this.op(abi.evtchn_bind_virq, EVTCHNOP.bind_virq, { virq, vcpu }, 'EVTCHNOP_bind_virq').port;
    if (h) this.on(p, h);
    return p;
  }

  bindIpi(vcpu: number, h?: PortHandler): number {
    const p = this.op(abi.evtchn_bind_ipi, EVTCHNOP.bind_ipi, { vcpu }, 'EVTCHNOP_bind_ipi').port;
    if (h) this.on(p, h);
    return p;
  }

  notify(port: number): void {
    this.op(abi.evtchn_send, EVTCHNOP.send, { port }, 'EVTCHNOP_send');
  }

  /** Close a port; threads waiting on it wake (their next look finds it closed). */
  close(port: number): void {
    this.op(abi.evtchn_close, EVTCHNOP.close, { port }, 'EVTCHNOP_close');
    this.handlers.delete(port);
    this.signals.get(port)?.notify((t) => this.os.wake(t));
    this.signals.delete(port);
  }

  unmask(port: number): void {
    this.op(abi.evtchn_unmask, EVTCHNOP.unmask, { port }, 'EVTCHNOP_unmask');
  }

  /** Mask a port by setting its bit in shared_info directly, as Linux does. */
  mask(port: number): void {
    const a = this.os.shinfoAddr + abi.SHINFO_EVTCHN_MASK + (port >> 3);
    const mem = this.os.cpu.mem;
    mem.setU8(a, mem.getU8(a) | (1 << (port & 7)));
  }

  status(port: number, dom: number = DOMID_SELF): { status: number; vcpu: number; dom: number; port: number } {
    const r = this.op(abi.evtchn_status, EVTCHNOP.status, { dom, port }, 'EVTCHNOP_status');
    return { status: r.status, vcpu: r.vcpu, dom: r.status === 2 ? r.interdomain_dom : r.unbound_dom, port: r.interdomain_port };
  }
}
