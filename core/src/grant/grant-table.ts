/**
 * Grant tables, version 1 (grant_table.c).
 *
 * Design: the *shared* entries (struct grant_entry_v1: flags, domid, frame) are bytes in the
 * granting domain's grant-table frames — Xen-owned frames shared with that domain, which it maps
 * into its physmap and writes directly. The hypervisor keeps, privately as Xen does, the *active*
 * entry per pinned ref (pin counts, mapping domain, frame) and each mapper's *maptrack* (handle →
 * mapping). Mapping validates the shared entry, sets GTF_reading/GTF_writing in those bytes, and
 * inserts a grant p2m entry in the mapper's physmap; unmapping reverses it and clears the in-use
 * flags when the last pin goes.
 *
 * Invariants: an active entry's pins equal the live maptrack entries naming it; GTF_reading is set
 * iff some pin exists, GTF_writing iff some writable pin exists; a mapped frame's refcount counts
 * these mappings (see MemoryManager).
 */
import { GNTMAP, GNTST, GRANT_ENTRIES_PER_FRAME_V1, GTF, DOMID_SELF, GNTCOPY } from '../abi/xen';
import { grant_entry_v1 } from '../abi/structs';
import { BufferBytes } from '../abi/bytes';
import { PAGE_SIZE, gfn as asGfn, mfn as asMfn, type Mfn } from '../abi/types';
import type { Domain } from '../domain/domain';
import type { MemoryManager } from '../mm/memory';
import { MAX_GFN, P2mType } from '../mm/p2m';

/** Pin counters are 8 bits in Xen; a pin that would set bit 7 is refused. */
const PIN_LIMIT = 0x80;
export const DEFAULT_MAX_GRANT_FRAMES = 64;
export const DEFAULT_MAX_MAPTRACK_FRAMES = 1024;
/** Maptrack entries per frame (Xen: PAGE_SIZE / sizeof(struct grant_mapping) = 4096/16). */
const MAPTRACK_PER_FRAME = 256;

interface Active {
  /** The one domain allowed to pin this entry while pinned (Xen's act->domid). */
  domid: number;
  pinRo: number;
  pinRw: number;
  mfn: Mfn;
}

interface Mapping {
  dom: number;
  ref: number;
  readonly: boolean;
  hostGfn: number;
  mfn: Mfn;
}

export class GrantTable {
  readonly frames: Mfn[] = [];
  readonly active = new Map<number, Active>();
  readonly maptrack: (Mapping | null)[] = [];
  constructor(
    readonly maxFrames: number,
    readonly maxMaptrack: number,
  ) {}

  get nrEntries(): number {
    return this.frames.length * GRANT_ENTRIES_PER_FRAME_V1;
  }
}

export interface MapRequest {
  hostAddr: number;
  flags: number;
  ref: number;
  dom: number;
}
export interface MapResult {
  status: number;
  handle: number;
  devBusAddr: number;
}

export interface CopySide {
  gref: boolean;
  /** ref when gref, else gmfn (a gfn of the caller). */
  ref: number;
  domid: number;
  offset: number;
}

export class Grants {
  constructor(
    private readonly mem: MemoryManager,
    private readonly domain: (id: number) => Domain | undefined,
  ) {}

  init(d: Domain, maxFrames: number, maxMaptrackFrames: number): boolean {
    d.grants = new GrantTable(maxFrames, maxMaptrackFrames * MAPTRACK_PER_FRAME);
    return this.grow(d, 1);
  }

  /** Grow the table to `n` frames (never shrinks). */
  grow(d: Domain, n: number): boolean {
    const gt = d.grants;
    if (n > gt.maxFrames) return false;
    while (gt.frames.length < n) {
      const m = this.mem.allocXenFrame(d.mem);
      if (m === null) return false;
      gt.frames.push(m);
    }
    return true;
  }

  /** ByteAccess and offset of entry `ref` in `d`'s shared grant entries. */
  entry(d: Domain, ref: number): [BufferBytes, number] {
    const f = d.grants.frames[Math.floor(ref / GRANT_ENTRIES_PER_FRAME_V1)];
    return [new BufferBytes(this.mem.store.bytes(f)), (ref % GRANT_ENTRIES_PER_FRAME_V1) * grant_entry_v1.size];
  }

  /** Write an entry as the granting guest or the domain builder would. */
  writeEntry(d: Domain, ref: number, flags: number, domid: number, frame: number): void {
    const [b, o] = this.entry(d, ref);
    grant_entry_v1.write(b, o, { domid, frame });
    grant_entry_v1.set(b, o, 'flags', flags); // flags last, as a guest must
  }

  private findFreeHandle(gt: GrantTable): number {
    for (let h = 0; h < gt.maptrack.length; h++) if (gt.maptrack[h] === null) return h;
    return gt.maptrack.length < gt.maxMaptrack ? gt.maptrack.length : -1;
  }

  /** Resolve the granted gfn of `rd` to a machine frame the granter owns as RAM. */
  private grantedFrame(rd: Domain, frame: number): Mfn | null {
    return rd.mem.p2m.type(frame) === P2mType.ram ? asMfn(rd.mem.p2m.lookup(frame)) : null;
  }

  /**
   * Pin `ref` of `rd` for `ld`, checking and updating the shared entry; the common half of map
   * and copy (Xen's map_grant_ref checks and acquire_grant_for_copy).
   */
  private pin(ld: Domain, rd: Domain, ref: number, readonly: boolean): { status: number; mfn?: Mfn } {
    const gt = rd.grants;
    if (!(Number.isInteger(ref) && ref >= 0 && ref < gt.nrEntries)) return { status: GNTST.bad_gntref };
    const act = gt.active.get(ref);
    if (act && (act.domid !== ld.id || act.pinRo + act.pinRw + 1 >= PIN_LIMIT)) return { status: GNTST.general_error };
    const [b, o] = this.entry(rd, ref);
    const e = grant_entry_v1.read(b, o);
    if (!act || (!readonly && act.pinRw === 0)) {
      if ((e.flags & (GTF.type_mask | GTF.sub_page)) !== GTF.permit_access || e.domid !== ld.id)
        return { status: GNTST.general_error };
      if (!readonly && e.flags & GTF.readonly) return { status: GNTST.general_error };
    }
    const mfn = act ? act.mfn : this.grantedFrame(rd, e.frame);
    if (mfn === null) return { status: GNTST.bad_page };
    let flags = e.flags | GTF.reading;
    if (!readonly) flags |= GTF.writing;
    grant_entry_v1.set(b, o, 'flags', flags);
    const a = act ?? { domid: ld.id, pinRo: 0, pinRw: 0, mfn };
    if (readonly) a.pinRo++;
    else a.pinRw++;
    gt.active.set(ref, a);
    return { status: GNTST.okay, mfn };
  }

  private unpin(rd: Domain, ref: number, readonly: boolean): void {
    const gt = rd.grants;
    const a = gt.active.get(ref);
    if (!a) return;
    if (readonly) a.pinRo--;
    else a.pinRw--;
    if (!rd.alive) {
      if (a.pinRo + a.pinRw === 0) gt.active.delete(ref);
      return; // the dying granter's grant frames are gone; nothing to clear
    }
    const [b, o] = this.entry(rd, ref);
    let flags = grant_entry_v1.get(b, o, 'flags');
    if (a.pinRw === 0) flags &= ~GTF.writing;
    if (a.pinRo + a.pinRw === 0) {
      flags &= ~GTF.reading;
      gt.active.delete(ref);
    }
    grant_entry_v1.set(b, o, 'flags', flags);
  }

  map(ld: Domain, op: MapRequest): MapResult {
    const fail = (status: number): MapResult => ({ status, handle: 0, devBusAddr: 0 });
    if (!(op.flags & (GNTMAP.host_map | GNTMAP.device_map))) return fail(GNTST.bad_gntref);
    // Translated (PVH/HVM-like) guests: host mappings only, placed in the physmap.
    if (op.flags & (GNTMAP.device_map | GNTMAP.application_map | GNTMAP.contains_pte)) return fail(GNTST.general_error);
    const rd = op.dom === DOMID_SELF ? undefined : this.domain(op.dom);
    if (!rd || !rd.alive) return fail(GNTST.bad_domain);
    const handle = this.findFreeHandle(ld.grants);
    if (handle < 0) return fail(GNTST.no_space);
    const readonly = (op.flags & GNTMAP.readonly) !== 0;
    const hostGfn = op.hostAddr / PAGE_SIZE;
    if (!(Number.isInteger(hostGfn) && hostGfn >= 0 && hostGfn <= MAX_GFN) || ld.mem.p2m.type(hostGfn) !== P2mType.none)
      return fail(GNTST.general_error);
    const r = this.pin(ld, rd, op.ref, readonly);
    if (r.status !== GNTST.okay) return fail(r.status);
    this.mem.mapForeign(ld.mem, asGfn(hostGfn), r.mfn!, readonly ? P2mType.grantRo : P2mType.grantRw);
    ld.grants.maptrack[handle] = { dom: rd.id, ref: op.ref, readonly, hostGfn, mfn: r.mfn! };
    return { status: GNTST.okay, handle, devBusAddr: r.mfn! * PAGE_SIZE };
  }

  unmap(ld: Domain, hostAddr: number, devBusAddr: number, handle: number): number {
    const gt = ld.grants;
    const m = Number.isInteger(handle) && handle >= 0 ? gt.maptrack[handle] : undefined;
    if (!m) return GNTST.bad_handle;
    if (devBusAddr !== 0 && devBusAddr !== m.mfn * PAGE_SIZE) return GNTST.bad_dev_addr;
    if (hostAddr === 0) return GNTST.okay; // no host mapping named: nothing is removed
    if (hostAddr !== m.hostGfn * PAGE_SIZE) return GNTST.general_error;
    this.release(ld, handle);
    return GNTST.okay;
  }

  private release(ld: Domain, handle: number): void {
    const m = ld.grants.maptrack[handle]!;
    ld.grants.maptrack[handle] = null;
    this.mem.unmapAny(ld.mem, asGfn(m.hostGfn));
    const rd = this.domain(m.dom);
    if (rd) this.unpin(rd, m.ref, m.readonly);
  }

  /** gnttab_release_mappings: a dying domain gives up everything it mapped. */
  releaseMappings(ld: Domain): void {
    ld.grants.maptrack.forEach((m, h) => m && this.release(ld, h));
  }

  copy(cur: Domain, src: CopySide, dst: CopySide, len: number): number {
    const pinned: [Domain, number, boolean][] = [];
    const side = (s: CopySide, write: boolean): { status: number; mfn?: Mfn } => {
      if (!s.gref) {
        if (s.domid !== DOMID_SELF) return { status: GNTST.permission_denied };
        const t = cur.mem.p2m.type(s.ref);
        if (t !== P2mType.ram) return { status: GNTST.bad_page };
        return { status: GNTST.okay, mfn: asMfn(cur.mem.p2m.lookup(s.ref)) };
      }
      const d = s.domid === DOMID_SELF ? cur : this.domain(s.domid);
      if (!d || !d.alive) return { status: GNTST.bad_domain };
      const r = this.pin(cur, d, s.ref, !write);
      if (r.status === GNTST.okay) pinned.push([d, s.ref, !write]);
      return r;
    };
    try {
      const a = side(src, false);
      if (a.status !== GNTST.okay) return a.status;
      const b = side(dst, true);
      if (b.status !== GNTST.okay) return b.status;
      if (!(len >= 0 && src.offset + len <= PAGE_SIZE && dst.offset + len <= PAGE_SIZE)) return GNTST.bad_copy_arg;
      const from = this.mem.store.bytes(a.mfn!);
      this.mem.store.bytes(b.mfn!).set(from.subarray(src.offset, src.offset + len), dst.offset);
      return GNTST.okay;
    } finally {
      for (const [d, ref, ro] of pinned) this.unpin(d, ref, ro);
    }
  }

  /** Invariant check: pins match maptrack; in-use flags match pins. */
  checkInvariants(domains: Iterable<Domain>): string[] {
    const errs: string[] = [];
    const all = [...domains];
    const pins = new Map<string, { ro: number; rw: number }>();
    for (const ld of all) {
      if (!ld.grants) continue;
      for (const m of ld.grants.maptrack) {
        if (!m) continue;
        const k = `${m.dom}:${m.ref}`;
        const p = pins.get(k) ?? { ro: 0, rw: 0 };
        if (m.readonly) p.ro++;
        else p.rw++;
        pins.set(k, p);
        if (ld.alive && ld.mem.p2m.lookup(m.hostGfn) !== m.mfn) errs.push(`d${ld.id}: maptrack gfn ${m.hostGfn} not mapped to mfn ${m.mfn}`);
      }
    }
    for (const rd of all) {
      if (!rd.grants) continue;
      for (const [ref, a] of rd.grants.active) {
        const p = pins.get(`${rd.id}:${ref}`) ?? { ro: 0, rw: 0 };
        if (p.ro !== a.pinRo || p.rw !== a.pinRw) errs.push(`d${rd.id} ref ${ref}: pins ${a.pinRo}/${a.pinRw} != mappings ${p.ro}/${p.rw}`);
      }
      if (!rd.alive) continue;
      for (let ref = 0; ref < rd.grants.nrEntries; ref++) {
        const [b, o] = this.entry(rd, ref);
        const flags = grant_entry_v1.get(b, o, 'flags');
        const a = rd.grants.active.get(ref);
        const reading = (flags & GTF.reading) !== 0;
        const writing = (flags & GTF.writing) !== 0;
        if (reading !== !!a) errs.push(`d${rd.id} ref ${ref}: GTF_reading=${reading} but ${a ? 'pinned' : 'not pinned'}`);
        if (writing !== !!(a && a.pinRw > 0)) errs.push(`d${rd.id} ref ${ref}: GTF_writing=${writing} mismatch`);
      }
    }
    return errs;
  }
}

export const GNTCOPY_FLAGS = GNTCOPY;
