/**
 * Machine memory: M MiB as 4 KiB frames of real bytes, allocated on first touch.
 *
 * This is the single frame-store interface DESIGN.md §4 asks for: everything that reaches machine
 * memory (guest memory views, shared_info, grant frames, rings) does so through `bytes(mfn)`. A
 * KVM backend can later satisfy the same interface with views into one host mapping per domain.
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

export class LazyFrameStore implements FrameStore {
  private data: (Uint8Array | undefined)[];
  residentFrames = 0;

  constructor(readonly nrFrames: number) {
    this.data = new Array(nrFrames);
  }

  bytes(mfn: Mfn): Uint8Array {
    let b = this.data[mfn];
    if (!b) {
      if (!(mfn >= 0 && mfn < this.nrFrames)) throw new RangeError(`mfn ${mfn} out of range`);
      b = new Uint8Array(PAGE_SIZE);
      this.data[mfn] = b;
      this.residentFrames++;
    }
    return b;
  }

  touched(mfn: Mfn): boolean {
    return this.data[mfn] !== undefined;
  }

  scrub(mfn: Mfn): void {
    if (this.data[mfn]) {
      this.data[mfn] = undefined;
      this.residentFrames--;
    }
  }
}

/** ByteAccess over one machine frame (offsets 0..4095). */
export const frameBytes = (store: FrameStore, m: Mfn): BufferBytes => new BufferBytes(store.bytes(m));
