import { describe, expect, it } from 'vitest';
import { EVTCHNOP, Errno, EVTCHNSTAT, VIRQ, abi, DOMID_SELF } from '../src/index';
import { makeDomain, makeHv, op } from './support';

const setup = () => {
  const { hv } = makeHv();
  const dom0 = makeDomain(hv, { id: 0, privileged: true });
  const a = makeDomain(hv, { vcpus: 2 });
  const b = makeDomain(hv);
  return { hv, dom0, a, b, va: a.vcpus[0], vb: b.vcpus[0], v0: dom0.vcpus[0] };
};

const shinfo = (hv: ReturnType<typeof setup>['hv'], d: { sharedInfoMfn: number }) => hv.store.bytes(d.sharedInfoMfn as never);
const bit = (bytes: Uint8Array, base: number, n: number) => (bytes[base + (n >> 3)] >> (n & 7)) & 1;

describe('event channels (2-level ABI)', () => {
  it('alloc_unbound + bind_interdomain + send sets pending bits in the peer shared_info bytes', () => {
    const { hv, a, b, va, vb } = setup();
    const u = op(hv, vb, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: a.id });
    expect(u.rc).toBe(0);
    expect(u.out.port).toBe(1); // port 0 is reserved; lowest free port
    const bnd = op(hv, va, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: u.out.port });
    expect(bnd.rc).toBe(0);
    const lp = bnd.out.local_port;
    // unmask b's port (new vCPUs start with events masked in vcpu_info, ports start unmasked)
    hv.evtchn.setUpcallMask(vb, false);
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.send, abi.evtchn_send, { port: lp }).rc).toBe(0);
    const sh = shinfo(hv, b);
    expect(bit(sh, abi.SHINFO_EVTCHN_PENDING, u.out.port)).toBe(1);
    // selector bit for word 0 in vcpu_info 0 of b, and evtchn_upcall_pending
    expect(sh[8] & 1).toBe(1);
    expect(sh[0]).toBe(1);
    // status from both sides
    const st = op(hv, vb, 'event_channel_op', EVTCHNOP.status, abi.evtchn_status, { dom: DOMID_SELF, port: u.out.port });
    expect(st.rc).toBe(0);
    expect(st.out.status).toBe(EVTCHNSTAT.interdomain);
    expect(st.out.interdomain_dom).toBe(a.id);
    expect(st.out.interdomain_port).toBe(lp);
  });

  it('a guest masking a port by writing its bit suppresses the upcall; unmask delivers it', () => {
    const { hv, a, b, va, vb } = setup();
    const p = op(hv, vb, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: a.id }).out.port;
    const lp = op(hv, va, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: p }).out.local_port;
    const sh = shinfo(hv, b);
    sh[abi.SHINFO_EVTCHN_MASK + (p >> 3)] |= 1 << (p & 7); // the guest writes its own mask bit
    op(hv, va, 'event_channel_op', EVTCHNOP.send, abi.evtchn_send, { port: lp });
    expect(bit(sh, abi.SHINFO_EVTCHN_PENDING, p)).toBe(1);
    expect(sh[8]).toBe(0); // no selector bit
    expect(sh[0]).toBe(0); // no upcall pending
    expect(hv.evtchn.eventsNeedDelivery(vb)).toBe(false);
    expect(op(hv, vb, 'event_channel_op', EVTCHNOP.unmask, abi.evtchn_unmask, { port: p }).rc).toBe(0);
    expect(bit(sh, abi.SHINFO_EVTCHN_MASK, p)).toBe(0);
    expect(sh[8] & 1).toBe(1);
    expect(sh[0]).toBe(1);
  });

  it('a guest clearing the pending bit itself is what the hypervisor sees next', () => {
    const { hv, a, b, va, vb } = setup();
    const p = op(hv, vb, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: a.id }).out.port;
    const lp = op(hv, va, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: p }).out.local_port;
    op(hv, va, 'event_channel_op', EVTCHNOP.send, abi.evtchn_send, { port: lp });
    expect(hv.evtchn.isPending(b, p)).toBe(true);
    shinfo(hv, b)[abi.SHINFO_EVTCHN_PENDING + (p >> 3)] &= ~(1 << (p & 7));
    expect(hv.evtchn.isPending(b, p)).toBe(false);
  });

  it('refuses bad input with the errno Xen gives, leaving state unchanged', () => {
    const { hv, a, b, va, vb } = setup();
    const E = EVTCHNOP;
    const before = hv.checkInvariants();
    expect(before).toEqual([]);
    // allocating in another domain without privilege
    expect(op(hv, va, 'event_channel_op', E.alloc_unbound, abi.evtchn_alloc_unbound, { dom: b.id, remote_dom: a.id }).rc).toBe(-Errno.EPERM);
    // nonexistent domain
    expect(op(hv, va, 'event_channel_op', E.alloc_unbound, abi.evtchn_alloc_unbound, { dom: 4000, remote_dom: 0 }).rc).toBe(-Errno.ESRCH);
    // binding to a port that is not unbound / not offered to us
    expect(op(hv, va, 'event_channel_op', E.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: 5 }).rc).toBe(-Errno.EINVAL);
    const p = op(hv, vb, 'event_channel_op', E.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: 0 }).out.port;
    expect(op(hv, va, 'event_channel_op', E.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: p }).rc).toBe(-Errno.EINVAL);
    // out-of-range and foreign ports
    expect(op(hv, va, 'event_channel_op', E.send, abi.evtchn_send, { port: 100000 }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', E.close, abi.evtchn_close, { port: 0 }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', E.close, abi.evtchn_close, { port: 0xffffffff }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', E.status, abi.evtchn_status, { dom: b.id, port: p }).rc).toBe(-Errno.EPERM);
    expect(op(hv, va, 'event_channel_op', E.unmask, abi.evtchn_unmask, { port: 9999 }).rc).toBe(-Errno.EINVAL);
    // VIRQs
    expect(op(hv, va, 'event_channel_op', E.bind_virq, abi.evtchn_bind_virq, { virq: 24, vcpu: 0 }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', E.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.DOM_EXC, vcpu: 1 }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', E.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 7 }).rc).toBe(-Errno.ENOENT);
    expect(op(hv, va, 'event_channel_op', E.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 1 }).rc).toBe(0);
    expect(op(hv, va, 'event_channel_op', E.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 1 }).rc).toBe(-Errno.EEXIST);
    expect(op(hv, va, 'event_channel_op', E.bind_ipi, abi.evtchn_bind_ipi, { vcpu: 9 }).rc).toBe(-Errno.ENOENT);
    expect(op(hv, va, 'event_channel_op', 99, abi.evtchn_send, { port: 1 }).rc).toBe(-Errno.ENOSYS);
    expect(hv.checkInvariants()).toEqual([]);
    // a's only port so far is the VIRQ_TIMER on vCPU 1
    expect(a.evtchn.ports.filter((c) => c.state !== 0).length).toBe(2);
  });

  it('closing a bound port leaves the peer unbound to the closer; closing again is -EINVAL', () => {
    const { hv, a, b, va, vb } = setup();
    const p = op(hv, vb, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: a.id }).out.port;
    const lp = op(hv, va, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: p }).out.local_port;
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.close, abi.evtchn_close, { port: lp }).rc).toBe(0);
    const st = op(hv, vb, 'event_channel_op', EVTCHNOP.status, abi.evtchn_status, { dom: DOMID_SELF, port: p });
    expect(st.out.status).toBe(EVTCHNSTAT.unbound);
    expect(st.out.unbound_dom).toBe(a.id);
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.close, abi.evtchn_close, { port: lp }).rc).toBe(-Errno.EINVAL);
    // the peer can be bound again by the closer
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: b.id, remote_port: p }).rc).toBe(0);
    // sending on an unbound port is silently dropped (0)
    const q = op(hv, vb, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: a.id }).out.port;
    expect(op(hv, vb, 'event_channel_op', EVTCHNOP.send, abi.evtchn_send, { port: q }).rc).toBe(0);
    expect(hv.evtchn.isPending(b, q)).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('bind_vcpu moves notification to another vCPU for interdomain ports but not for per-vCPU VIRQs or IPIs', () => {
    const { hv, a, b, va, vb } = setup();
    const p = op(hv, va, 'event_channel_op', EVTCHNOP.alloc_unbound, abi.evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: b.id }).out.port;
    const rp = op(hv, vb, 'event_channel_op', EVTCHNOP.bind_interdomain, abi.evtchn_bind_interdomain, { remote_dom: a.id, remote_port: p }).out.local_port;
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.bind_vcpu, abi.evtchn_bind_vcpu, { port: p, vcpu: 1 }).rc).toBe(0);
    hv.evtchn.setUpcallMask(a.vcpus[1], false);
    op(hv, vb, 'event_channel_op', EVTCHNOP.send, abi.evtchn_send, { port: rp });
    const sh = shinfo(hv, a);
    expect(sh[64]).toBe(1); // vcpu_info[1].evtchn_upcall_pending
    expect(sh[0]).toBe(0);
    const t = op(hv, va, 'event_channel_op', EVTCHNOP.bind_virq, abi.evtchn_bind_virq, { virq: VIRQ.TIMER, vcpu: 0 }).out.port;
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.bind_vcpu, abi.evtchn_bind_vcpu, { port: t, vcpu: 1 }).rc).toBe(-Errno.EINVAL);
    const ipi = op(hv, va, 'event_channel_op', EVTCHNOP.bind_ipi, abi.evtchn_bind_ipi, { vcpu: 0 }).out.port;
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.bind_vcpu, abi.evtchn_bind_vcpu, { port: ipi, vcpu: 1 }).rc).toBe(-Errno.EINVAL);
    expect(op(hv, va, 'event_channel_op', EVTCHNOP.bind_vcpu, abi.evtchn_bind_vcpu, { port: p, vcpu: 5 }).rc).toBe(-Errno.ENOENT);
  });

  it('runs out of ports with -ENOSPC at max_evtchn_port', () => {
    const { hv } = setup();
    const d = hv.createDomain(200 as never, hv.domainConfig({ maxEvtchnPort: 3 }));
    if (typeof d === 'number') throw new Error('create');
    d.mem.maxPages = 4;
    hv.mem.populate(d.mem, 0, 4);
    const v = d.vcpus[0];
    for (const want of [1, 2, 3]) expect(op(hv, v, 'event_channel_op', EVTCHNOP.bind_ipi, abi.evtchn_bind_ipi, { vcpu: 0 }).out.port).toBe(want);
    expect(op(hv, v, 'event_channel_op', EVTCHNOP.bind_ipi, abi.evtchn_bind_ipi, { vcpu: 0 }).rc).toBe(-Errno.ENOSPC);
  });

  it('a struct at an unmapped guest address gives -EFAULT', () => {
    const { hv, va } = setup();
    expect(hcallRaw(hv, va, EVTCHNOP.send, 0x7fff_0000)).toBe(-Errno.EFAULT);
  });
});

import { hcall } from './support';
import { HYPERVISOR } from '../src/index';
function hcallRaw(hv: Parameters<typeof hcall>[0], v: Parameters<typeof hcall>[1], cmd: number, addr: number) {
  return hcall(hv, v, HYPERVISOR.event_channel_op, cmd, addr);
}
