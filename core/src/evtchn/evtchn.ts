/**
 * Event channels, 2-level ABI (event_channel.c, event_2l.c).
 *
 * Design: the per-port *binding* (state, peer, notify vCPU) is hypervisor-private, as in Xen's
 * struct evtchn. The *signal* state — pending and mask bitmaps, each vCPU's evtchn_pending_sel and
 * evtchn_upcall_pending — lives only in the bytes of the domain's shared_info and vcpu_info frames:
 * every operation reads and writes those bytes, so a guest that sets a mask bit by writing its own
 * memory (as Linux does) is obeyed, and there is no second copy to drift.
 *
 * Invariants: port 0 is reserved; a port is bound at most once; an interdomain pair points at each
 * other; closing one end leaves the other unbound to the closer; a VIRQ is bound to at most one port
 * per vCPU (global VIRQs on vCPU 0 only).
 */
import { DOMID_SELF, EVTCHNSTAT, EVTCHN_2L_NR_CHANNELS, Errno, NR_VIRQS, VIRQ_PER_VCPU } from '../abi/xen';
import { SHINFO_EVTCHN_MASK, SHINFO_EVTCHN_PENDING } from '../abi/structs';
import type { DomId } from '../abi/types';
import type { Domain } from '../domain/domain';
import type { Vcpu } from '../domain/vcpu';
import type { FrameStore } from '../machine/frames';

export const enum ECS {
  free = 0,
  reserved = 1,
  unbound = 2,
  interdomain = 3,
  pirq = 4,
  virq = 5,
  ipi = 6,
}

export interface Channel {
  state: ECS;
  notifyVcpu: number;
  /** unbound: the domain allowed to bind; interdomain: the peer. */
  remoteDom: number;
  remotePort: number;
  virq: number;
  pirq: number;
}

/** Ports are created in buckets as Xen does; a valid port may still be free. */
const BUCKET = 64;

export class EvtchnState {
  readonly ports: Channel[] = [];
  constructor(readonly maxPorts: number) {}

  get valid(): number {
    return this.ports.length;
  }
}

const fresh = (): Channel => ({ state: ECS.free, notifyVcpu: 0, remoteDom: 0, remotePort: 0, virq: 0, pirq: 0 });

/** What event channels need from the rest of the hypervisor. */
export interface EvtchnHooks {
  domain(id: number): Domain | undefined;
  /** vcpu_mark_events_pending → vcpu_kick: wake if blocked, interrupt if running. */
  kick(v: Vcpu): void;
  /** A port became pending: wake vCPUs polling on it. */
  checkPollers(d: Domain, port: number): void;
  onSend?(from: Domain, port: number, to: Domain, rport: number): void;
}

export type Result = { ok: true; port: number } | { ok: false; rc: number };
const err = (e: number): Result => ({ ok: false, rc: -e });

export class EventChannels {
  constructor(
    private readonly store: FrameStore,
    private readonly hooks: EvtchnHooks,
  ) {}

  init(d: Domain, maxEvtchnPort: number): void {
    d.evtchn = new EvtchnState(Math.min(EVTCHN_2L_NR_CHANNELS, Math.max(1, maxEvtchnPort + 1)));
    const p = this.getFreePort(d);
    d.evtchn.ports[p as number].state = ECS.reserved; // port 0
  }

  // ---- bytes in shared_info / vcpu_info ----

  private shinfo(d: Domain): Uint8Array {
    return this.store.bytes(d.sharedInfoMfn);
  }
  private vcpuInfo(v: Vcpu): [Uint8Array, number] {
    return [this.store.bytes(v.vcpuInfoMfn as never), v.vcpuInfoOff];
  }

  private static testAndSet(b: Uint8Array, byte: number, bit: number): boolean {
    const m = 1 << bit;
    const was = (b[byte] & m) !== 0;
    b[byte] |= m;
    return was;
  }
  private static testAndClear(b: Uint8Array, byte: number, bit: number): boolean {
    const m = 1 << bit;
    const was = (b[byte] & m) !== 0;
    b[byte] &= ~m;
    return was;
  }

  isPending(d: Domain, port: number): boolean {
    if (port >= d.evtchn.maxPorts) return false;
    return (this.shinfo(d)[SHINFO_EVTCHN_PENDING + (port >> 3)] & (1 << (port & 7))) !== 0;
  }
  isMasked(d: Domain, port: number): boolean {
    if (port >= d.evtchn.maxPorts) return true;
    return (this.shinfo(d)[SHINFO_EVTCHN_MASK + (port >> 3)] & (1 << (port & 7))) !== 0;
  }
  upcallPending(v: Vcpu): boolean {
    const [b, o] = this.vcpuInfo(v);
    return b[o] !== 0;
  }
  upcallMasked(v: Vcpu): boolean {
    const [b, o] = this.vcpuInfo(v);
    return b[o + 1] !== 0;
  }
  setUpcallMask(v: Vcpu, masked: boolean): void {
    const [b, o] = this.vcpuInfo(v);
    b[o + 1] = masked ? 1 : 0;
  }
  /** local_events_need_delivery() for a PV vCPU. */
  eventsNeedDelivery(v: Vcpu): boolean {
    const [b, o] = this.vcpuInfo(v);
    return b[o] !== 0 && b[o + 1] === 0;
  }

  /** vcpu_mark_events_pending: set evtchn_upcall_pending; kick only on the 0→1 edge. */
  markEventsPending(v: Vcpu): void {
    const [b, o] = this.vcpuInfo(v);
    if (b[o] !== 0) return;
    b[o] = 1;
    this.hooks.kick(v);
  }

  /** evtchn_2l_set_pending. */
  setPending(v: Vcpu, port: number): void {
    const d = v.domain;
    const sh = this.shinfo(d);
    if (EventChannels.testAndSet(sh, SHINFO_EVTCHN_PENDING + (port >> 3), port & 7)) return;
    if (!(sh[SHINFO_EVTCHN_MASK + (port >> 3)] & (1 << (port & 7)))) {
      const [b, o] = this.vcpuInfo(v);
      const word = port >> 6;
      if (!EventChannels.testAndSet(b, o + 8 + (word >> 3), word & 7)) this.markEventsPending(v);
    }
    this.hooks.checkPollers(d, port);
  }

  private clearPending(d: Domain, port: number): void {
    EventChannels.testAndClear(this.shinfo(d), SHINFO_EVTCHN_PENDING + (port >> 3), port & 7);
  }

  // ---- port table ----

  private getFreePort(d: Domain): number | { rc: number } {
    const t = d.evtchn;
    if (!d.alive) return { rc: -Errno.EINVAL };
    for (let p = 0; p < t.maxPorts; p++) {
      if (p >= t.ports.length) {
        const end = Math.min(t.maxPorts, t.ports.length + BUCKET);
        for (let i = t.ports.length; i < end; i++) t.ports.push(fresh());
      }
      if (t.ports[p].state === ECS.free) return p;
    }
    return { rc: -Errno.ENOSPC };
  }

  private valid(d: Domain, port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < d.evtchn.ports.length;
  }

  channel(d: Domain, port: number): Channel | undefined {
    return this.valid(d, port) ? d.evtchn.ports[port] : undefined;
  }

  private free(d: Domain, port: number): void {
    this.clearPending(d, port);
    const c = d.evtchn.ports[port];
    Object.assign(c, fresh());
  }

  private resolveDom(cur: Domain, id: number): Domain | undefined {
    return this.hooks.domain(id === DOMID_SELF ? cur.id : id);
  }

  // ---- operations (return a port or a negative errno) ----

  allocUnbound(cur: Domain, dom: number, remoteDom: number): Result {
    const d = this.resolveDom(cur, dom);
    if (!d) return err(Errno.ESRCH);
    const p = this.getFreePort(d);
    if (typeof p !== 'number') return { ok: false, rc: p.rc };
    if (d !== cur && !cur.isPrivileged) return err(Errno.EPERM);
    const c = d.evtchn.ports[p];
    c.state = ECS.unbound;
    c.remoteDom = remoteDom === DOMID_SELF ? cur.id : remoteDom;
    c.notifyVcpu = 0;
    return { ok: true, port: p };
  }

  bindInterdomain(ld: Domain, remoteDom: number, remotePort: number): Result {
    const rd = this.resolveDom(ld, remoteDom);
    if (!rd || !rd.alive) return err(Errno.ESRCH);
    const lp = this.getFreePort(ld);
    if (typeof lp !== 'number') return { ok: false, rc: lp.rc };
    const rc = this.channel(rd, remotePort);
    if (!rc || rc.state !== ECS.unbound || rc.remoteDom !== ld.id) return err(Errno.EINVAL);
    const lc = ld.evtchn.ports[lp];
    lc.state = ECS.interdomain;
    lc.remoteDom = rd.id;
    lc.remotePort = remotePort;
    lc.notifyVcpu = 0;
    rc.state = ECS.interdomain;
    rc.remoteDom = ld.id;
    rc.remotePort = lp;
    // Xen marks the local end pending at once, so an event sent before binding is not lost.
    this.setPending(ld.vcpus[lc.notifyVcpu], lp);
    return { ok: true, port: lp };
  }

  bindVirq(d: Domain, virq: number, vcpu: number): Result {
    if (!(Number.isInteger(virq) && virq >= 0 && virq < NR_VIRQS)) return err(Errno.EINVAL);
    if (!VIRQ_PER_VCPU.has(virq) && vcpu !== 0) return err(Errno.EINVAL);
    const v = d.vcpus[vcpu];
    if (!v) return err(Errno.ENOENT);
    if (v.virqToPort[virq] !== 0) return err(Errno.EEXIST);
    const p = this.getFreePort(d);
    if (typeof p !== 'number') return { ok: false, rc: p.rc };
    const c = d.evtchn.ports[p];
    c.state = ECS.virq;
    c.virq = virq;
    c.notifyVcpu = vcpu;
    v.virqToPort[virq] = p;
    return { ok: true, port: p };
  }

  bindIpi(d: Domain, vcpu: number): Result {
    if (!d.vcpus[vcpu]) return err(Errno.ENOENT);
    const p = this.getFreePort(d);
    if (typeof p !== 'number') return { ok: false, rc: p.rc };
    const c = d.evtchn.ports[p];
    c.state = ECS.ipi;
    c.notifyVcpu = vcpu;
    return { ok: true, port: p };
  }

  /** Bind a physical IRQ line of the machine (privileged domains only). */
  bindPirq(d: Domain, pirq: number): Result {
    if (!d.isPrivileged) return err(Errno.EPERM);
    if (!(Number.isInteger(pirq) && pirq >= 0 && pirq < 256)) return err(Errno.EINVAL);
    if (d.evtchn.ports.some((c) => c.state === ECS.pirq && c.pirq === pirq)) return err(Errno.EEXIST);
    const p = this.getFreePort(d);
    if (typeof p !== 'number') return { ok: false, rc: p.rc };
    const c = d.evtchn.ports[p];
    c.state = ECS.pirq;
    c.pirq = pirq;
    c.notifyVcpu = 0;
    return { ok: true, port: p };
  }

  close(d: Domain, port: number): number {
    const c = this.channel(d, port);
    if (!c || c.state === ECS.free || c.state === ECS.reserved) return -Errno.EINVAL;
    switch (c.state) {
      case ECS.virq: {
        const v = d.vcpus[VIRQ_PER_VCPU.has(c.virq) ? c.notifyVcpu : 0];
        if (v && v.virqToPort[c.virq] === port) v.virqToPort[c.virq] = 0;
        break;
      }
      case ECS.interdomain: {
        const rd = this.hooks.domain(c.remoteDom);
        const rc = rd && this.channel(rd, c.remotePort);
        if (rc && rc.state === ECS.interdomain && rc.remoteDom === d.id && rc.remotePort === port) {
          rc.state = ECS.unbound;
          rc.remoteDom = d.id;
          rc.remotePort = 0;
        }
        break;
      }
    }
    this.free(d, port);
    return 0;
  }

  send(d: Domain, port: number): number {
    const c = this.channel(d, port);
    if (!c) return -Errno.EINVAL;
    switch (c.state) {
      case ECS.interdomain: {
        const rd = this.hooks.domain(c.remoteDom)!;
        const rc = rd.evtchn.ports[c.remotePort];
        this.hooks.onSend?.(d, port, rd, c.remotePort);
        this.setPending(rd.vcpus[rc.notifyVcpu], c.remotePort);
        return 0;
      }
      case ECS.ipi:
        this.hooks.onSend?.(d, port, d, port);
        this.setPending(d.vcpus[c.notifyVcpu], port);
        return 0;
      case ECS.unbound:
        return 0; // silently dropped, as Xen does
      default:
        return -Errno.EINVAL;
    }
  }

  /** send_guest_vcpu_virq / send_guest_global_virq. Returns whether a port was bound. */
  sendVirq(v: Vcpu, virq: number): boolean {
    const target = VIRQ_PER_VCPU.has(virq) ? v : v.domain.vcpus[0];
    if (!target) return false;
    const p = target.virqToPort[virq];
    if (p === 0) return false;
    const c = v.domain.evtchn.ports[p];
    this.setPending(v.domain.vcpus[c.notifyVcpu], p);
    return true;
  }

  /** Raise a machine IRQ line routed to a privileged domain. */
  raisePirq(d: Domain, pirq: number): boolean {
    const p = d.evtchn.ports.findIndex((c) => c.state === ECS.pirq && c.pirq === pirq);
    if (p < 0) return false;
    this.setPending(d.vcpus[d.evtchn.ports[p].notifyVcpu], p);
    return true;
  }

  status(cur: Domain, dom: number, port: number, out: (s: EvtchnStatus) => void): number {
    const d = this.resolveDom(cur, dom);
    if (!d) return -Errno.ESRCH;
    const c = this.channel(d, port);
    if (!c) return -Errno.EINVAL;
    if (d !== cur && !cur.isPrivileged) return -Errno.EPERM;
    const s: EvtchnStatus = { status: EVTCHNSTAT.closed, vcpu: c.notifyVcpu, dom: 0, port: 0, virq: 0, pirq: 0 };
    switch (c.state) {
      case ECS.unbound:
        s.status = EVTCHNSTAT.unbound;
        s.dom = c.remoteDom;
        break;
      case ECS.interdomain:
        s.status = EVTCHNSTAT.interdomain;
        s.dom = c.remoteDom;
        s.port = c.remotePort;
        break;
      case ECS.pirq:
        s.status = EVTCHNSTAT.pirq;
        s.pirq = c.pirq;
        break;
      case ECS.virq:
        s.status = EVTCHNSTAT.virq;
        s.virq = c.virq;
        break;
      case ECS.ipi:
        s.status = EVTCHNSTAT.ipi;
        break;
    }
    out(s);
    return 0;
  }

  /** evtchn_2l_unmask. */
  unmask(d: Domain, port: number): number {
    const c = this.channel(d, port);
    if (!c) return -Errno.EINVAL;
    if (c.state === ECS.free || c.state === ECS.reserved) return 0;
    const v = d.vcpus[c.notifyVcpu];
    const sh = this.shinfo(d);
    if (
      EventChannels.testAndClear(sh, SHINFO_EVTCHN_MASK + (port >> 3), port & 7) &&
      sh[SHINFO_EVTCHN_PENDING + (port >> 3)] & (1 << (port & 7))
    ) {
      const [b, o] = this.vcpuInfo(v);
      const word = port >> 6;
      if (!EventChannels.testAndSet(b, o + 8 + (word >> 3), word & 7)) this.markEventsPending(v);
    }
    return 0;
  }

  bindVcpu(d: Domain, port: number, vcpu: number): number {
    if (!d.vcpus[vcpu]) return -Errno.ENOENT;
    const c = this.channel(d, port);
    if (!c) return -Errno.EINVAL;
    switch (c.state) {
      case ECS.virq:
        if (VIRQ_PER_VCPU.has(c.virq)) return -Errno.EINVAL;
        c.notifyVcpu = vcpu;
        return 0;
      case ECS.unbound:
      case ECS.interdomain:
      case ECS.pirq:
        c.notifyVcpu = vcpu;
        return 0;
      default:
        return -Errno.EINVAL;
    }
  }

  /** EVTCHNOP_reset: close every port but 0. */
  reset(cur: Domain, dom: number): number {
    const d = this.resolveDom(cur, dom);
    if (!d) return -Errno.ESRCH;
    if (d !== cur && !cur.isPrivileged) return -Errno.EPERM;
    for (let p = 1; p < d.evtchn.ports.length; p++) {
      const s = d.evtchn.ports[p].state;
      if (s !== ECS.free && s !== ECS.reserved) this.close(d, p);
    }
    return 0;
  }

  /** Close everything a dying domain holds (peers' ports become unbound). */
  teardown(d: Domain): void {
    for (let p = 1; p < d.evtchn.ports.length; p++) {
      const s = d.evtchn.ports[p].state;
      if (s !== ECS.free && s !== ECS.reserved) this.close(d, p);
    }
  }

  /** Ports (of `d`) that poll would accept: valid and in use. */
  usable(d: Domain, port: number): boolean {
    const c = this.channel(d, port);
    return !!c && c.state !== ECS.free && c.state !== ECS.reserved;
  }

  /** Invariant check: interdomain pairs are symmetric; VIRQ tables agree with ports. */
  checkInvariants(domains: Iterable<Domain>): string[] {
    const errs: string[] = [];
    for (const d of domains) {
      if (!d.evtchn) continue;
      const ports = d.evtchn.ports;
      if (ports.length > 0 && ports[0].state !== ECS.reserved) errs.push(`d${d.id}: port 0 not reserved`);
      ports.forEach((c, p) => {
        if (c.state === ECS.interdomain) {
          const rd = this.hooks.domain(c.remoteDom);
          const rc = rd && this.channel(rd, c.remotePort);
          if (!rc || rc.state !== ECS.interdomain || rc.remoteDom !== d.id || rc.remotePort !== p)
            errs.push(`d${d.id} port ${p}: interdomain peer d${c.remoteDom}:${c.remotePort} does not point back`);
        }
        if (c.state === ECS.virq) {
          const v = d.vcpus[VIRQ_PER_VCPU.has(c.virq) ? c.notifyVcpu : 0];
          if (!v || v.virqToPort[c.virq] !== p) errs.push(`d${d.id} port ${p}: virq ${c.virq} table mismatch`);
        }
      });
      for (const v of d.vcpus)
        v.virqToPort.forEach((p, virq) => {
          if (p !== 0 && (ports[p]?.state !== ECS.virq || ports[p].virq !== virq))
            errs.push(`${v}: virq ${virq} → port ${p} not a virq port`);
        });
    }
    return errs;
  }
}

export interface EvtchnStatus {
  status: number;
  vcpu: number;
  dom: number;
  port: number;
  virq: number;
  pirq: number;
}

export type { DomId };
