/**
 * Machine-frame ownership and accounting, P2M per domain and the global M2P.
 *
 * Design: every machine frame is free, owned by one domain, or owned by Xen (DOMID_XEN: shared_info
 * and grant-table frames, each shared with exactly one domain). A domain's RAM is the set of frames
 * it owns; it reaches them, and anything else, only through its P2M. A frame mapped by another
 * domain (grant or privileged foreign map) carries a reference count; released while referenced,
 * it stays owned ("pending free") until the last reference goes, as Xen's page refcounts keep a
 * granted page alive.
 *
 * Invariants (checkInvariants):
 *  - conservation: free + Σ owned = nrFrames, and the free list holds exactly the unowned frames;
 *  - tot_pages(d) = frames owned by d, and tot_pages(d) ≤ max_pages(d) unless max was lowered;
 *  - a RAM entry gfn→mfn in d's P2M has owner(mfn) = d and M2P(mfn) = gfn;
 *  - a grant/foreign entry references a frame with refs(mfn) equal to the number of such entries;
 *  - a xenShared entry points at a Xen-owned frame shared with that domain.
 *
 * A domain marked `contiguous` (one whose RAM a hardware backend maps as one region) gets gfn g at
 * mfn base + g where those frames are free, base chosen at its first populate so that its whole
 * reservation fits; elsewhere allocation is the plain free-list order, unchanged.
 */
import { DOMID_XEN } from '../abi/xen';
import { gfn as asGfn, mfn as asMfn, type DomId, type Gfn, type Mfn } from '../abi/types';
import type { FrameStore } from '../machine/frames';
import { GuestMemory } from './guest-memory';
import { MAX_GFN, P2M, P2mType } from './p2m';

export const FREE = -1;

/** One domain's memory: its physmap and its accounting. */
export class DomainMemory {
  readonly p2m = new P2M();
  readonly view: GuestMemory;
  /** Frames owned (tot_pages). */
  totPages = 0;
  /** Reservation limit (max_pages). */
  maxPages = 0;
  /** Xen frames shared with this domain (not counted in tot_pages, as Xen's xenheap pages). */
  xenPages = 0;
  /** Place RAM contiguously in machine memory (gfn g at mfn contiguousBase + g) where possible. */
  contiguous = false;
  /** mfn of gfn 0 when contiguous (chosen at the first populate; -Infinity: no room was found). */
  contiguousBase: number | null = null;

  constructor(
    readonly domid: DomId,
    store: FrameStore,
  ) {
    this.view = new GuestMemory(store, this.p2m);
  }
}

export class MemoryManager {
  readonly owner: Int32Array;
  readonly m2p: Int32Array;
  /** Xen frames: the domain they are shared with. */
  readonly sharedWith: Int32Array;
  /** Foreign (grant or privileged) mappings of each frame. */
  readonly refs: Uint16Array;
  /** Released by its owner while still referenced: freed when refs drop to 0. */
  readonly pendingFree: Uint8Array;
  private freeList: Int32Array;
  /** Index of each free frame in freeList (-1: not free). */
  private freePos: Int32Array;
  private nFree: number;
  private readonly domains = new Map<number, DomainMemory>();

  constructor(readonly store: FrameStore) {
    const n = store.nrFrames;
    this.owner = new Int32Array(n).fill(FREE);
    this.m2p = new Int32Array(n).fill(-1);
    this.sharedWith = new Int32Array(n).fill(-1);
    this.refs = new Uint16Array(n);
    this.pendingFree = new Uint8Array(n);
    // Hand out low frames first: a stack with frame 0 on top.
    this.freeList = new Int32Array(n);
    this.freePos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.freeList[i] = n - 1 - i;
      this.freePos[n - 1 - i] = i;
    }
    this.nFree = n;
  }

  get freeFrames(): number {
    return this.nFree;
  }
  get totalFrames(): number {
    return this.store.nrFrames;
  }

  createDomain(d: DomId, maxPages: number): DomainMemory {
    const dm = new DomainMemory(d, this.store);
    dm.maxPages = maxPages;
    this.domains.set(d, dm);
    return dm;
  }

  domain(d: DomId): DomainMemory | undefined {
    return this.domains.get(d);
  }

  private take(owner: number): Mfn | null {
    if (this.nFree === 0) return null;
    const m = this.freeList[--this.nFree];
    this.freePos[m] = -1;
    this.owner[m] = owner;
    return asMfn(m);
  }

  /** Take frame `m` if it is free. */
  private takeFrame(m: number, owner: number): Mfn | null {
    const i = Number.isInteger(m) && m >= 0 && m < this.freePos.length ? this.freePos[m] : -1;
    if (i < 0) return null;
    const last = this.freeList[--this.nFree];
    this.freeList[i] = last;
    this.freePos[last] = i;
    this.freePos[m] = -1;
    this.owner[m] = owner;
    return asMfn(m);
  }

  /** The lowest mfn starting `len` free frames, or -1. */
  private freeRun(len: number): number {
    let run = 0;
    for (let m = 0; m < this.owner.length; m++) {
      run = this.owner[m] === FREE ? run + 1 : 0;
      if (run === len) return m - len + 1;
    }
    return -1;
  }

  private takeFor(dm: DomainMemory, g: number): Mfn {
    if (dm.contiguous) {
      if (dm.contiguousBase === null) {
        const run = this.freeRun(Math.max(dm.maxPages, g + 1));
        dm.contiguousBase = run < 0 ? -Infinity : run - g;
      }
      const m = this.takeFrame(dm.contiguousBase + g, dm.domid);
      if (m !== null) return m;
    }
    return this.take(dm.domid)!;
  }

  private release(m: Mfn): void {
    this.owner[m] = FREE;
    this.m2p[m] = -1;
    this.sharedWith[m] = -1;
    this.pendingFree[m] = 0;
    this.store.scrub(m);
    this.freePos[m] = this.nFree;
    this.freeList[this.nFree++] = m;
  }

  /**
   * Populate `count` consecutive gfns from `base` with fresh frames (one extent). All-or-nothing:
   * returns false, changing nothing, if any gfn is taken, out of range, or the reservation or the
   * machine would be exceeded.
   */
  populate(dm: DomainMemory, base: number, count: number): boolean {
    if (!(Number.isSafeInteger(base) && base >= 0 && base + count - 1 <= MAX_GFN)) return false;
    if (dm.totPages + count > dm.maxPages || count > this.nFree) return false;
    for (let i = 0; i < count; i++) if (dm.p2m.type(base + i) !== P2mType.none) return false;
    for (let i = 0; i < count; i++) {
      const m = this.takeFor(dm, base + i);
      dm.p2m.set(asGfn(base + i), m, P2mType.ram);
      this.m2p[m] = base + i;
      dm.totPages++;
    }
    return true;
  }

  /** Remove a RAM gfn from the physmap and release the frame (or defer while referenced). */
  depopulate(dm: DomainMemory, g: number): boolean {
    if (dm.p2m.type(g) !== P2mType.ram) return false;
    const m = asMfn(dm.p2m.lookup(g));
    dm.p2m.clear(asGfn(g));
    this.m2p[m] = -1;
    this.dropOwned(dm, m);
    return true;
  }

  private dropOwned(dm: DomainMemory, m: Mfn): void {
    if (this.refs[m] > 0) {
      this.pendingFree[m] = 1;
      return;
    }
    dm.totPages--;
    this.release(m);
  }

  /** A fresh Xen-owned frame shared with `dm` (shared_info, grant-table frames). */
  allocXenFrame(dm: DomainMemory): Mfn | null {
    const m = this.take(DOMID_XEN);
    if (m === null) return null;
    this.sharedWith[m] = dm.domid;
    dm.xenPages++;
    return m;
  }

  /** Map a Xen frame shared with `dm` into its physmap at `g` (XENMEM_add_to_physmap). */
  mapXenFrame(dm: DomainMemory, g: Gfn, m: Mfn): void {
    this.unmapAny(dm, g);
    dm.p2m.set(g, m, P2mType.xenShared);
  }

  /** Map another domain's frame into `dm` at `g` (grant map or privileged foreign map). */
  mapForeign(dm: DomainMemory, g: Gfn, m: Mfn, type: P2mType.grantRw | P2mType.grantRo | P2mType.foreign): void {
    this.unmapAny(dm, g);
    dm.p2m.set(g, m, type);
    this.refs[m]++;
  }

  /** Drop whatever is at `g` in `dm`'s physmap. RAM is released as by decrease_reservation. */
  unmapAny(dm: DomainMemory, g: Gfn): void {
    const t = dm.p2m.type(g);
    if (t === P2mType.none) return;
    if (t === P2mType.ram) {
      this.depopulate(dm, g);
      return;
    }
    const m = asMfn(dm.p2m.lookup(g));
    dm.p2m.clear(g);
    if (t === P2mType.grantRw || t === P2mType.grantRo || t === P2mType.foreign) this.unref(m);
  }

  private unref(m: Mfn): void {
    this.refs[m]--;
    if (this.refs[m] === 0 && this.pendingFree[m]) {
      if (this.owner[m] === DOMID_XEN) {
        const shared = this.domains.get(this.sharedWith[m]);
        if (shared) shared.xenPages--;
      } else {
        const owner = this.domains.get(this.owner[m]);
        if (owner) owner.totPages--;
      }
      this.release(m);
    }
  }

  /**
   * Tear down a dying domain's memory: unmap everything it mapped, release its RAM and its Xen
   * frames. Frames still referenced by others stay pending until unmapped. Returns whether the
   * domain's memory is entirely gone (so its domid may be reused).
   */
  teardown(dm: DomainMemory): boolean {
    for (const e of [...dm.p2m.entries()]) this.unmapAny(dm, e.gfn);
    for (let m = 0; m < this.store.nrFrames; m++) {
      if (this.owner[m] === DOMID_XEN && this.sharedWith[m] === dm.domid) {
        if (this.refs[m] > 0) {
          this.pendingFree[m] = 1; // still foreign-mapped: freed with its last mapping
          continue;
        }
        dm.xenPages--;
        this.release(asMfn(m));
      } else if (this.owner[m] === dm.domid && !this.pendingFree[m]) {
        this.dropOwned(dm, asMfn(m));
      }
    }
    return this.reap(dm);
  }

  /** Forget a torn-down domain once nothing of it remains. */
  reap(dm: DomainMemory): boolean {
    if (dm.totPages > 0 || dm.xenPages > 0) return false;
    this.domains.delete(dm.domid);
    return true;
  }

  ownerOf(m: number): number {
    return this.owner[m];
  }

  /** Check every invariant in the header comment; returns the violations found (empty when sound). */
  checkInvariants(): string[] {
    const errs: string[] = [];
    const n = this.store.nrFrames;
    let free = 0;
    const owned = new Map<number, number>();
    const xenShared = new Map<number, number>();
    for (let m = 0; m < n; m++) {
      const o = this.owner[m];
      if (o === FREE) free++;
      else if (o === DOMID_XEN) xenShared.set(this.sharedWith[m], (xenShared.get(this.sharedWith[m]) ?? 0) + 1);
      else owned.set(o, (owned.get(o) ?? 0) + 1);
    }
    if (free !== this.nFree) errs.push(`free frames ${free} != free list ${this.nFree}`);
    const inList = new Set<number>();
    for (let i = 0; i < this.nFree; i++) {
      const m = this.freeList[i];
      if (this.owner[m] !== FREE) errs.push(`free list holds owned frame ${m}`);
      if (inList.has(m)) errs.push(`frame ${m} twice in free list`);
      inList.add(m);
    }
    const refCount = new Map<number, number>();
    for (const dm of this.domains.values()) {
      const own = owned.get(dm.domid) ?? 0;
      if (own !== dm.totPages) errs.push(`d${dm.domid}: tot_pages ${dm.totPages} != owned ${own}`);
      if ((xenShared.get(dm.domid) ?? 0) !== dm.xenPages) errs.push(`d${dm.domid}: xen pages mismatch`);
      for (const e of dm.p2m.entries()) {
        switch (e.type) {
          case P2mType.ram:
            if (this.owner[e.mfn] !== dm.domid) errs.push(`d${dm.domid}: gfn ${e.gfn} maps mfn ${e.mfn} owned by ${this.owner[e.mfn]}`);
            if (this.m2p[e.mfn] !== e.gfn) errs.push(`m2p[${e.mfn}] = ${this.m2p[e.mfn]} != ${e.gfn}`);
            break;
          case P2mType.xenShared:
            if (this.owner[e.mfn] !== DOMID_XEN || this.sharedWith[e.mfn] !== dm.domid)
              errs.push(`d${dm.domid}: gfn ${e.gfn} maps Xen frame ${e.mfn} not shared with it`);
            break;
          default:
            if (this.owner[e.mfn] === FREE) errs.push(`d${dm.domid}: gfn ${e.gfn} maps free frame ${e.mfn}`);
            refCount.set(e.mfn, (refCount.get(e.mfn) ?? 0) + 1);
        }
      }
    }
    for (let m = 0; m < n; m++) {
      if (this.refs[m] !== (refCount.get(m) ?? 0)) errs.push(`mfn ${m}: refs ${this.refs[m]} != mappings ${refCount.get(m) ?? 0}`);
      if (this.owner[m] >= 0 && this.owner[m] !== DOMID_XEN && !this.domains.has(this.owner[m]))
        errs.push(`mfn ${m} owned by unknown domain ${this.owner[m]}`);
    }
    return errs;
  }
}
