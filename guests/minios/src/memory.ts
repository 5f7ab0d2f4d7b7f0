/**
 * The guest's page allocator over its free guest frames, and ballooning through
 * XENMEM_decrease_reservation / XENMEM_populate_physmap.
 */
import { DOMID_SELF, HYPERVISOR, XENMEM, abi } from '@xenotype/core';
import type { MiniOS } from './minios';

export class PageAllocator {
  private free: number[] = [];
  private next = 0;
  private end = 0;
  /** gfns handed back to Xen by the balloon, reusable by balloonIn. */
  private ballooned: number[] = [];

  constructor(private readonly os: MiniOS) {}

  init(first: number, end: number): void {
    this.next = first;
    this.end = end;
  }

  get available(): number {
    return this.free.length + (this.end - this.next);
  }

  alloc(): number {
    const g = this.free.pop();
    if (g !== undefined) return g;
    if (this.next >= this.end) throw new Error('out of guest memory');
    return this.next++;
  }

  /** `n` consecutive fresh frames (bump allocation); returns the first gfn. */
  allocContiguous(n: number): number {
    if (this.next + n > this.end) throw new Error('out of guest memory');
    const g = this.next;
    this.next += n;
    return g;
  }

  release(gfn: number): void {
    this.free.push(gfn);
  }

  private reservation(cmd: number, gfns: number[]): number {
    const sc = this.os.scratchFor();
    const mem = this.os.cpu.mem;
    const list = sc.addr + 64;
    const max = Math.floor((sc.size - 64) / 8);
    let done = 0;
    for (let off = 0; off < gfns.length; off += max) {
      const chunk = gfns.slice(off, off + max);
      chunk.forEach((g, i) => mem.setU64(list + i * 8, g));
      abi.xen_memory_reservation.init(mem, sc.addr, { extent_start: list, nr_extents: chunk.length, extent_order: 0, domid: DOMID_SELF });
      const n = this.os.cpu.hypercall(HYPERVISOR.memory_op, cmd, sc.addr);
      done += Math.max(0, n);
      if (n < chunk.length) break;
    }
    return done;
  }

  /** XENMEM_populate_physmap for these gfns (e.g. above RAM, up to the reservation); returns how many came. */
  populate(gfns: number[]): number {
    return this.reservation(XENMEM.populate_physmap, gfns);
  }

  /** XENMEM_decrease_reservation for these gfns; returns how many went. */
  depopulate(gfns: number[]): number {
    return this.reservation(XENMEM.decrease_reservation, gfns);
  }

  /** Give `n` free pages back to Xen; returns how many went. */
  balloonOut(n: number): number {
    const gfns: number[] = [];
    while (gfns.length < n && this.available > 0) gfns.push(this.alloc());
    const done = this.reservation(XENMEM.decrease_reservation, gfns);
    this.ballooned.push(...gfns.slice(0, done));
    for (const g of gfns.slice(done)) this.release(g);
    return done;
  }

  /** Ask Xen for `n` pages back; returns how many came (bounded by the reservation). */
  balloonIn(n: number): number {
    const gfns = this.ballooned.splice(-n, n);
    const done = this.reservation(XENMEM.populate_physmap, gfns);
    for (const g of gfns.slice(0, done)) this.release(g);
    this.ballooned.push(...gfns.slice(done));
    return done;
  }
}
