/**
 * Grant-table helpers: the shared v1 entries are written directly in our grant frames (mapped into
 * the physmap at boot); mapping, unmapping and copying go through GNTTABOP_*. Entries 0..7 are
 * reserved (GNTTAB_NR_RESERVED_ENTRIES); 0 and 1 carry the console and xenstore rings.
 */
import { GNTCOPY, GNTMAP, GNTST, GNTTABOP, GTF, HYPERVISOR, XENMAPSPACE, XENMEM, DOMID_SELF, abi } from '@xenotype/core';
import type { MiniOS } from './minios';
import { XenError, check } from './hypercalls';

export const NR_RESERVED_ENTRIES = 8;

export interface GrantMapping {
  handle: number;
  addr: number;
  gfn: number;
}

export class GrantError extends Error {
  constructor(
    readonly status: number,
    readonly op: string,
  ) {
    super(`${op}: grant status ${status}`);
    this.name = 'GrantError';
  }
}

export class GrantTables {
  base = 0;
  nrFrames = 0;
  maxFrames = 0;
  private freeRefs: number[] = [];
  private nextRef = NR_RESERVED_ENTRIES;
  private windowFree: number[] = [];
  private windowNext = 0;

  constructor(private readonly os: MiniOS) {}

  /** Map our grant frames at `gfn` and set up the mapping window for foreign grants at `windowGfn`. */
  init(gfn: number, windowGfn: number): void {
    const sc = this.os.scratchFor();
    const q = sc.call(abi.gnttab_query_size, { dom: DOMID_SELF }, (a) => this.os.cpu.hypercall(HYPERVISOR.grant_table_op, GNTTABOP.query_size, a, 1), 'GNTTABOP_query_size');
    if (q.status !== GNTST.okay) throw new GrantError(q.status, 'query_size');
    this.base = gfn * 4096;
    this.maxFrames = q.max_nr_frames;
    for (let i = 0; i < q.nr_frames; i++) this.mapFrame(i);
    this.windowNext = windowGfn;
  }

  private mapFrame(i: number): void {
    const sc = this.os.scratchFor();
    sc.call(abi.xen_add_to_physmap, { domid: DOMID_SELF, space: XENMAPSPACE.grant_table, idx: i, gpfn: this.base / 4096 + i }, (a) => this.os.cpu.hypercall(HYPERVISOR.memory_op, XENMEM.add_to_physmap, a), 'map grant frame');
    this.nrFrames = Math.max(this.nrFrames, i + 1);
  }

  private entryAddr(ref: number): number {
    return this.base + ref * abi.grant_entry_v1.size;
  }

  private allocRef(): number {
    const r = this.freeRefs.pop();
    if (r !== undefined) return r;
    const ref = this.nextRef++;
    const frame = Math.floor(ref / 512);
    if (frame >= this.nrFrames) {
      if (frame >= this.maxFrames) throw new XenError(-28, 'grant table full');
      this.mapFrame(frame); // grows the table
    }
    return ref;
  }

  /** Let `domid` access our frame `gfn`; returns the grant reference. */
  grantAccess(domid: number, gfn: number, readonly = false, ref = this.allocRef()): number {
    const mem = this.os.cpu.mem;
    const a = this.entryAddr(ref);
    abi.grant_entry_v1.write(mem, a, { domid, frame: gfn });
    abi.grant_entry_v1.set(mem, a, 'flags', GTF.permit_access | (readonly ? GTF.readonly : 0));
    return ref;
  }

  /** Withdraw a grant unless the peer still has it mapped; returns whether it was withdrawn. */
  endAccess(ref: number, release = true): boolean {
    const mem = this.os.cpu.mem;
    const a = this.entryAddr(ref);
    const flags = abi.grant_entry_v1.get(mem, a, 'flags');
    if (flags & (GTF.reading | GTF.writing)) return false;
    abi.grant_entry_v1.set(mem, a, 'flags', 0);
    if (release && ref >= NR_RESERVED_ENTRIES) this.freeRefs.push(ref);
    return true;
  }

  entryFlags(ref: number): number {
    return abi.grant_entry_v1.get(this.os.cpu.mem, this.entryAddr(ref), 'flags');
  }

  private windowGfn(): number {
    return this.windowFree.pop() ?? this.windowNext++;
  }

  /** Map a frame granted by `dom` into our physmap. */
  map(dom: number, ref: number, readonly = false): GrantMapping {
    const g = this.windowGfn();
    const sc = this.os.scratchFor();
    const r = sc.call(abi.gnttab_map_grant_ref, { host_addr: g * 4096, flags: GNTMAP.host_map | (readonly ? GNTMAP.readonly : 0), ref, dom }, (a) => this.os.cpu.hypercall(HYPERVISOR.grant_table_op, GNTTABOP.map_grant_ref, a, 1), 'GNTTABOP_map_grant_ref');
    if (r.status !== GNTST.okay) {
      this.windowFree.push(g);
      throw new GrantError(r.status, `map d${dom} ref ${ref}`);
    }
    return { handle: r.handle, addr: g * 4096, gfn: g };
  }

  unmap(m: GrantMapping): void {
    const sc = this.os.scratchFor();
    const r = sc.call(abi.gnttab_unmap_grant_ref, { host_addr: m.addr, handle: m.handle }, (a) => this.os.cpu.hypercall(HYPERVISOR.grant_table_op, GNTTABOP.unmap_grant_ref, a, 1), 'GNTTABOP_unmap_grant_ref');
    if (r.status !== GNTST.okay) throw new GrantError(r.status, 'unmap');
    this.windowFree.push(m.gfn);
  }

  /** One grant copy; `src`/`dst` name either (dom, ref) or our own gfn. */
  copy(src: CopyEnd, dst: CopyEnd, len: number): number {
    const sc = this.os.scratchFor();
    const flags = (src.ref !== undefined ? GNTCOPY.source_gref : 0) | (dst.ref !== undefined ? GNTCOPY.dest_gref : 0);
    const r = sc.call(
      abi.gnttab_copy,
      {
        ...(src.ref !== undefined ? { source_ref: src.ref } : { source_gmfn: src.gfn! }),
        source_domid: src.ref !== undefined ? src.dom! : DOMID_SELF,
        source_offset: src.offset ?? 0,
        ...(dst.ref !== undefined ? { dest_ref: dst.ref } : { dest_gmfn: dst.gfn! }),
        dest_domid: dst.ref !== undefined ? dst.dom! : DOMID_SELF,
        dest_offset: dst.offset ?? 0,
        len,
        flags,
      },
      (a) => this.os.cpu.hypercall(HYPERVISOR.grant_table_op, GNTTABOP.copy, a, 1),
      'GNTTABOP_copy',
    );
    return r.status;
  }
}

export interface CopyEnd {
  dom?: number;
  ref?: number;
  gfn?: number;
  offset?: number;
}

export { check };
