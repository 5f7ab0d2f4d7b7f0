/**
 * The storage a block backend exports: the `BlockDevice` capability. A driver domain is given one
 * per vbd by whoever owns the storage (the host hands an image file to the driver domain as Xen
 * hands it a disk controller); blkback never opens files itself.
 *
 * Contract:
 *  - offsets and lengths are bytes, multiples of `sectorSize`, within [0, size) — blkback checks
 *    every request against the geometry before calling, so a device may treat a violation as a bug;
 *  - calls are synchronous and complete before they return (the backend models the time a disk
 *    takes in virtual time, see ./disk.ts); data written is visible to later reads at once;
 *  - `flush` makes everything written so far durable (fsync); `discard` makes a range read as
 *    zeros (and may release its storage);
 *  - an I/O failure throws; blkback answers that request BLKIF_RSP_ERROR and carries on.
 */

export interface BlockDevice {
  /** Size in bytes. */
  readonly size: number;
  /** Logical sector size in bytes (blkif's unit is 512; other sizes are refused by blkback). */
  readonly sectorSize: number;
  readonly readOnly: boolean;
  /** Discard granularity in bytes; 0 when the device cannot discard. */
  readonly discardGranularity: number;
  /** Fill `into` with the bytes at `offset`. */
  read(offset: number, into: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
  flush(): void;
  discard(offset: number, length: number): void;
}

/** Counters every device keeps (tests and reports read them). */
export interface BlockDeviceStats {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  flushes: number;
  discards: number;
}

export const newDeviceStats = (): BlockDeviceStats => ({ reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, flushes: 0, discards: 0 });

/** A device in memory (tests, benchmarks, diskless experiments). */
export class MemoryBlockDevice implements BlockDevice {
  readonly data: Uint8Array;
  readonly sectorSize = 512;
  readonly discardGranularity: number;
  readonly stats = newDeviceStats();

  constructor(
    readonly size: number,
    readonly readOnly = false,
    opts: { discardGranularity?: number; data?: Uint8Array } = {},
  ) {
    if (!(Number.isInteger(size) && size >= 0 && size % 512 === 0)) throw new RangeError(`device size ${size} is not a multiple of 512`);
    this.data = opts.data ?? new Uint8Array(size);
    this.discardGranularity = opts.discardGranularity ?? 4096;
  }

  read(offset: number, into: Uint8Array): void {
    into.set(this.data.subarray(offset, offset + into.length));
    this.stats.reads++;
    this.stats.bytesRead += into.length;
  }

  write(offset: number, data: Uint8Array): void {
    this.data.set(data, offset);
    this.stats.writes++;
    this.stats.bytesWritten += data.length;
  }

  flush(): void {
    this.stats.flushes++;
  }

  discard(offset: number, length: number): void {
    this.data.fill(0, offset, offset + length);
    this.stats.discards++;
  }
}
