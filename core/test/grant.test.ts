import { describe, expect, it } from 'vitest';
import { GNTMAP, GNTST, GNTTABOP, GTF, GNTCOPY, Errno, XENMAPSPACE, XENMEM, P2mType, abi, DOMID_SELF } from '../src/index';
import { makeDomain, makeHv, op } from './support';

const GT_GFN = 100; // where each test domain maps its grant frame 0

function setup() {
  const { hv } = makeHv();
  const dom0 = makeDomain(hv, { id: 0, privileged: true, pages: 128 });
  const a = makeDomain(hv, { pages: 128 });
  const b = makeDomain(hv, { pages: 128 });
  for (const d of [dom0, a, b]) {
    const r = op(hv, d.vcpus[0], 'memory_op', XENMEM.add_to_physmap, abi.xen_add_to_physmap, { domid: DOMID_SELF, space: XENMAPSPACE.grant_table, idx: 0, gpfn: GT_GFN });
    expect(r.rc).toBe(0);
  }
  /** `d` grants `gfn` to `to` at `ref` by writing its own grant entry bytes. */
  const grant = (d: typeof a, ref: number, to: number, gfn: number, ro = false) => {
    const m = d.mem.view;
    const at = GT_GFN * 4096 + ref * 8;
    abi.grant_entry_v1.write(m, at, { domid: to, frame: gfn });
    abi.grant_entry_v1.set(m, at, 'flags', GTF.permit_access | (ro ? GTF.readonly : 0));
  };
  const flags = (d: typeof a, ref: number) => abi.grant_entry_v1.get(d.mem.view, GT_GFN * 4096 + ref * 8, 'flags');
  const map = (d: typeof a, dom: number, ref: number, hostGfn: number, f: number = GNTMAP.host_map) =>
    op(hv, d.vcpus[0], 'grant_table_op', GNTTABOP.map_grant_ref, abi.gnttab_map_grant_ref, { host_addr: hostGfn * 4096, flags: f, ref, dom }, 1);
  const unmap = (d: typeof a, handle: number, hostGfn: number) =>
    op(hv, d.vcpus[0], 'grant_table_op', GNTTABOP.unmap_grant_ref, abi.gnttab_unmap_grant_ref, { host_addr: hostGfn * 4096, handle }, 1);
  return { hv, dom0, a, b, grant, flags, map, unmap };
}

describe('grant tables v1', () => {
  it('maps a granted frame: the mapper reads and writes the granter’s bytes; GTF_reading/writing are set, then cleared on unmap', () => {
    const { hv, a, b, grant, flags, map, unmap } = setup();
    a.mem.view.setBytes(20 * 4096, new TextEncoder().encode('hello from a'));
    grant(a, 8, b.id, 20);
    const m = map(b, a.id, 8, 300);
    expect(m.rc).toBe(0);
    expect(m.out.status).toBe(GNTST.okay);
    expect(flags(a, 8)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(b.mem.p2m.type(300)).toBe(P2mType.grantRw);
    expect(new TextDecoder().decode(b.mem.view.getBytes(300 * 4096, 12))).toBe('hello from a');
    b.mem.view.setBytes(300 * 4096, new TextEncoder().encode('HELLO'));
    expect(new TextDecoder().decode(a.mem.view.getBytes(20 * 4096, 5))).toBe('HELLO');
    expect(m.out.dev_bus_addr).toBe(a.mem.p2m.lookup(20) * 4096);
    expect(hv.checkInvariants()).toEqual([]);
    const u = unmap(b, m.out.handle, 300);
    expect(u.out.status).toBe(GNTST.okay);
    expect(flags(a, 8)).toBe(GTF.permit_access);
    expect(b.mem.p2m.type(300)).toBe(P2mType.none);
    expect(() => b.mem.view.getU8(300 * 4096)).toThrow(/unmapped/);
    // double unmap
    expect(unmap(b, m.out.handle, 300).out.status).toBe(GNTST.bad_handle);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('read-only grants: a read-only map sets only GTF_reading; a writable map is refused; the mapping faults on write', () => {
    const { hv, a, b, grant, flags, map } = setup();
    grant(a, 9, b.id, 21, true);
    expect(map(b, a.id, 9, 301).out.status).toBe(GNTST.general_error);
    expect(flags(a, 9)).toBe(GTF.permit_access | GTF.readonly);
    const m = map(b, a.id, 9, 301, GNTMAP.host_map | GNTMAP.readonly);
    expect(m.out.status).toBe(GNTST.okay);
    expect(flags(a, 9) & (GTF.reading | GTF.writing)).toBe(GTF.reading);
    expect(() => b.mem.view.setU8(301 * 4096, 1)).toThrow(/read-only/);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('answers bad map requests with Xen’s GNTST codes and changes nothing', () => {
    const { hv, dom0, a, b, grant, flags, map } = setup();
    grant(a, 10, b.id, 22);
    expect(map(b, a.id, 10, 302, 0).out.status).toBe(GNTST.bad_gntref); // neither host_map nor device_map
    expect(map(b, a.id, 10, 302, GNTMAP.host_map | GNTMAP.device_map).out.status).toBe(GNTST.general_error);
    expect(map(b, 4000, 10, 302).out.status).toBe(GNTST.bad_domain);
    expect(map(b, DOMID_SELF, 10, 302).out.status).toBe(GNTST.bad_domain);
    expect(map(b, a.id, 100000, 302).out.status).toBe(GNTST.bad_gntref);
    expect(map(dom0, a.id, 10, 302).out.status).toBe(GNTST.general_error); // granted to b, not dom0
    expect(map(b, a.id, 11, 302).out.status).toBe(GNTST.general_error); // never granted
    expect(map(b, a.id, 10, 5).out.status).toBe(GNTST.general_error); // host gfn is b's RAM
    grant(a, 12, b.id, 5000); // frame a does not have
    expect(map(b, a.id, 12, 302).out.status).toBe(GNTST.bad_page);
    expect(flags(a, 10)).toBe(GTF.permit_access);
    expect(b.mem.p2m.type(302)).toBe(P2mType.none);
    expect(hv.checkInvariants()).toEqual([]);
    // the hypercall itself fails for a bad count or an unmapped array
    expect(op(hv, b.vcpus[0], 'grant_table_op', GNTTABOP.map_grant_ref, abi.gnttab_map_grant_ref, {}, -1 >>> 0).rc).toBe(-Errno.EINVAL);
    expect(op(hv, b.vcpus[0], 'grant_table_op', GNTTABOP.map_grant_ref, abi.gnttab_map_grant_ref, {}, 100_000).rc).toBe(-Errno.EFAULT);
    expect(op(hv, b.vcpus[0], 'grant_table_op', 42, abi.gnttab_map_grant_ref, {}, 1).rc).toBe(-Errno.ENOSYS);
  });

  it('unmap checks the handle and the host address', () => {
    const { hv, a, b, grant, map, unmap } = setup();
    grant(a, 8, b.id, 20);
    const m = map(b, a.id, 8, 300);
    expect(unmap(b, 999, 300).out.status).toBe(GNTST.bad_handle);
    expect(unmap(b, m.out.handle, 301).out.status).toBe(GNTST.general_error);
    const wrongDev = op(hv, b.vcpus[0], 'grant_table_op', GNTTABOP.unmap_grant_ref, abi.gnttab_unmap_grant_ref, { host_addr: 300 * 4096, dev_bus_addr: 4096, handle: m.out.handle }, 1);
    expect(wrongDev.out.status).toBe(GNTST.bad_dev_addr);
    expect(b.mem.p2m.type(300)).toBe(P2mType.grantRw);
    expect(unmap(b, m.out.handle, 300).out.status).toBe(GNTST.okay);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a granted frame released by its owner while mapped stays alive until unmapped (pending free)', () => {
    const { hv, a, b, grant, map, unmap } = setup();
    a.mem.view.setU32(23 * 4096, 0xdeadbeef);
    grant(a, 8, b.id, 23);
    const m = map(b, a.id, 8, 300);
    const mfn = a.mem.p2m.lookup(23);
    const free0 = hv.mem.freeFrames;
    // a balloons the frame out
    a.mem.view.setU64(ARG2, 23);
    const r = op(hv, a.vcpus[0], 'memory_op', XENMEM.decrease_reservation, abi.xen_memory_reservation, { extent_start: ARG2, nr_extents: 1, domid: DOMID_SELF });
    expect(r.rc).toBe(1);
    expect(a.mem.p2m.type(23)).toBe(P2mType.none);
    expect(hv.mem.freeFrames).toBe(free0); // not freed yet
    expect(b.mem.view.getU32(300 * 4096)).toBe(0xdeadbeef); // still readable through the grant
    expect(hv.checkInvariants()).toEqual([]);
    unmap(b, m.out.handle, 300);
    expect(hv.mem.freeFrames).toBe(free0 + 1);
    expect(hv.mem.ownerOf(mfn)).toBe(-1);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('grant copy between domains, with bounds and permission checks', () => {
    const { hv, a, b, grant, flags } = setup();
    a.mem.view.setBytes(24 * 4096 + 100, new TextEncoder().encode('copied bytes'));
    grant(a, 8, b.id, 24, true);
    const copy = (v: Partial<import('../src/index').Values<typeof abi.gnttab_copy.fields>>) =>
      op(hv, b.vcpus[0], 'grant_table_op', GNTTABOP.copy, abi.gnttab_copy, v, 1).out.status;
    const base = { source_ref: 8, source_domid: a.id, source_offset: 100, dest_gmfn: 40, dest_domid: DOMID_SELF, dest_offset: 7, len: 12, flags: GNTCOPY.source_gref };
    expect(copy(base)).toBe(GNTST.okay);
    expect(new TextDecoder().decode(b.mem.view.getBytes(40 * 4096 + 7, 12))).toBe('copied bytes');
    expect(flags(a, 8)).toBe(GTF.permit_access | GTF.readonly); // in-use flags released after the copy
    expect(copy({ ...base, len: 4000 })).toBe(GNTST.bad_copy_arg);
    expect(copy({ ...base, dest_domid: a.id })).toBe(GNTST.permission_denied); // gmfn side must be DOMID_SELF
    expect(copy({ ...base, source_ref: 99 })).toBe(GNTST.general_error);
    // writing into a read-only grant is refused
    expect(copy({ source_gmfn: 40, source_domid: DOMID_SELF, dest_ref: 8, dest_domid: a.id, len: 4, flags: GNTCOPY.dest_gref })).toBe(GNTST.general_error);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('setup_table and query_size: grow to the limit, refuse beyond it and for other domains', () => {
    const { hv, dom0, a, b } = setup();
    const q = op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.query_size, abi.gnttab_query_size, { dom: DOMID_SELF }, 1);
    expect(q.out).toMatchObject({ nr_frames: 1, max_nr_frames: 64, status: GNTST.okay });
    const s = op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.setup_table, abi.gnttab_setup_table, { dom: DOMID_SELF, nr_frames: 4, frame_list: 0x3000 }, 1);
    expect(s.out.status).toBe(GNTST.okay);
    expect(a.grants.frames.length).toBe(4);
    expect(a.mem.view.getU64(0x3000)).toBe(GT_GFN); // frame 0 is mapped at GT_GFN
    expect(op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.setup_table, abi.gnttab_setup_table, { dom: DOMID_SELF, nr_frames: 65, frame_list: 0x3000 }, 1).out.status).toBe(GNTST.general_error);
    expect(op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.setup_table, abi.gnttab_setup_table, { dom: b.id, nr_frames: 2, frame_list: 0x3000 }, 1).out.status).toBe(GNTST.permission_denied);
    expect(op(hv, dom0.vcpus[0], 'grant_table_op', GNTTABOP.setup_table, abi.gnttab_setup_table, { dom: b.id, nr_frames: 2, frame_list: 0x3000 }, 1).out.status).toBe(GNTST.okay);
    expect(op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.setup_table, abi.gnttab_setup_table, { dom: DOMID_SELF, nr_frames: 1, frame_list: 0x3000 }, 2).rc).toBe(-Errno.EINVAL);
    expect(op(hv, a.vcpus[0], 'grant_table_op', GNTTABOP.query_size, abi.gnttab_query_size, { dom: b.id }, 1).out.status).toBe(GNTST.permission_denied);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a dying mapper gives up its mappings; the granter’s flags clear', () => {
    const { hv, a, b, grant, flags, map } = setup();
    grant(a, 8, b.id, 20);
    map(b, a.id, 8, 300);
    expect(flags(a, 8) & GTF.reading).toBe(GTF.reading);
    hv.destroy(b);
    expect(flags(a, 8)).toBe(GTF.permit_access);
    expect(hv.domains.has(b.id)).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
  });

  it('a dying granter stays a zombie until its last granted frame is unmapped', () => {
    const { hv, a, b, grant, map, unmap } = setup();
    grant(a, 8, b.id, 20);
    const m = map(b, a.id, 8, 300);
    hv.destroy(a);
    expect(hv.domains.get(a.id)?.alive).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
    expect(unmap(b, m.out.handle, 300).out.status).toBe(GNTST.okay);
    expect(hv.domains.has(a.id)).toBe(false);
    expect(hv.checkInvariants()).toEqual([]);
  });
});

const ARG2 = 0x2000;
