/**
 * Machine memory: M MiB as 4 KiB frames of real bytes, allocated on first touch.
 *
 * This is the single frame-store interface DESIGN.md §4 asks for: everything that reaches machine
 * memory (guest memory views, shared_info, grant frames, rings) does so through `bytes(mfn)`.
 *
 * A range of frames may be backed externally (`attach`): by host memory someone else also maps —
 * a hardware-virtualization backend registers it with the kernel as guest RAM — so a frame there is
 * a view of those bytes, and scrubbing it hands its pages back to the host (`HostMemory.scrub`).
 *
 * Invariant: a frame that is scrubbed reads as zeros afterwards; no bytes survive from one owner to
 * the next (Xen scrubs freed pages before reuse).
 */
import { BufferBytes } from '../abi/bytes';
import { PAGE_SIZE, type Mfn } from '../abi/types';

export interface FrameStore {
  readonly nrFrames: number;
  /** The frame's bytes, allocating them on first use. */
  bytes(mfn: Mfn): Uint8Array;
  /** Whether the frame has ever been touched (for memory statistics). */
  touched(mfn: Mfn): boolean;
  /** Drop the frame's contents: it reads as zeros afterwards. */
  scrub(mfn: Mfn): void;
  /** Frames currently backed by host memory. */
  readonly residentFrames: number;
}

/** Host memory backing frames [first, first + bytes.length / 4096). */
export interface HostMemory {
  readonly first: number;
  /** The bytes (page-aligned, a whole number of pages). */
  readonly bytes: Uint8Array;
  /** Make `count` frames from `mfn` read as zeros (and release their host pages). */
  scrub(mfn: number, count: number): void;
}

export class LazyFrameStore implements FrameStore {
  private data: (Uint8Array | undefined)[];
  private readonly hosts: HostMemory[] = [];
  residentFrames = 0;

  constructor(readonly nrFrames: number) {
    this.data = new Array(nrFrames);
  }

  /** Back a range of frames, none of them touched yet, by host memory. */
  attach(h: HostMemory): void {
    const n = h.bytes.length / PAGE_SIZE;
    if (!(Number.isInteger(n) && h.first >= 0 && h.first + n <= this.nrFrames)) throw new RangeError('host memory outside the frame range');
    for (let m = h.first; m < h.first + n; m++) if (this.data[m]) throw new Error(`frame ${m} already in use`);
    this.hosts.push(h);
  }

  /** The host memory behind `mfn`, if any (for backends that map it elsewhere too). */
  host(mfn: Mfn): HostMemory | undefined {
    for (const h of this.hosts) if (mfn >= h.first && mfn < h.first + h.bytes.length / PAGE_SIZE) return h;
    return undefined;
  }

  bytes(mfn: Mfn): Uint8Array {
    let b = this.data[mfn];
    if (!b) {
      if (!(mfn >= 0 && mfn < this.nrFrames)) throw new RangeError(`mfn ${mfn} out of range`);
      const h = this.hosts.length > 0 ? this.host(mfn) : undefined;
      b = h ? h.bytes.subarray((mfn - h.first) * PAGE_SIZE, (mfn - h.first + 1) * PAGE_SIZE) : new Uint8Array(PAGE_SIZE);
      this.data[mfn] = b;
      this.residentFrames++;
    }
    return b;
  }

  touched(mfn: Mfn): boolean {
    return this.data[mfn] !== undefined;
  }

  scrub(mfn: Mfn): void {
    // Host memory may have been written without a view (by real guest code): scrub it always.
    if (this.hosts.length > 0) this.host(mfn)?.scrub(mfn, 1);
    if (this.data[mfn]) {
      this.data[mfn] = undefined;
      this.residentFrames--;
    }
  }
}

/** ByteAccess over one machine frame (offsets 0..4095). */
export const frameBytes = (store: FrameStore, m: Mfn): BufferBytes => new BufferBytes(store.bytes(m));
