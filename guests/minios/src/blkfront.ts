/**
 * The guest's block devices (Mini-OS's blkfront.c): @xenotype/blk's frontend over this domain's
 * capabilities, with MiniOS-typed coroutines so applications `yield*` them from their threads:
 *
 *   const blk = yield* BlkFront.open(os);            // the first vbd in device/vbd, or a devid
 *   const data = yield* blk.read(sector, count);     // count 512-byte sectors
 *   yield* blk.write(sector, data); yield* blk.flush(); yield* blk.discard(sector, count);
 *
 * read/write/flush/discard wait until the backend answers — across a backend restart, which the
 * frontend rides out by reconnecting and re-issuing (see BlkFrontend). An error answer throws
 * BlkIoError (uncaught, it crashes this guest alone, as an unhandled EIO would kill a process);
 * the try* forms return the result instead.
 */
import { BlkFrontend, type BlkInfo, type BlkResult, type BlkfrontStats } from '@xenotype/blk';
import type { MiniOS } from './minios';
import type { ThreadOp } from './threads';
import { asThread } from './caps';

export class BlkIoError extends Error {
  override name = 'BlkIoError';
  constructor(
    /** The BLKIF_RSP_* status. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Op<T> = Generator<ThreadOp, T, void>;

function unwrap<T>(r: BlkResult<T>): T {
  if (!r.ok) throw new BlkIoError(r.status, r.error);
  return r.value;
}

export class BlkFront {
  constructor(readonly frontend: BlkFrontend) {}

  /** The devids of this guest's vbds (device/vbd in its xenstore directory). */
  static *devices(os: MiniOS): Op<number[]> {
    try {
      const ids = yield* os.xs.directory(`/local/domain/${os.domid}/device/vbd`);
      return ids.map(Number).filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
    } catch {
      return [];
    }
  }

  /**
   * Start the frontend of vbd `devid` (default: the first vbd the toolstack gave us) and wait until
   * it is connected, or `deadline` passes (the frontend keeps trying after that).
   */
  static *open(os: MiniOS, devid?: number, deadline?: number): Op<BlkFront> {
    const id = devid ?? (yield* BlkFront.devices(os))[0];
    if (id === undefined) throw new Error('blkfront: this domain has no vbd');
    const f = new BlkFront(BlkFrontend.start(os.caps(), id));
    yield* f.waitConnected(deadline);
    return f;
  }

  get devid(): number {
    return this.frontend.devid;
  }

  /** The disk as the backend described it (null before the first connection). */
  get info(): BlkInfo | null {
    return this.frontend.info;
  }

  get stats(): BlkfrontStats {
    return this.frontend.stats;
  }

  *waitConnected(deadline?: number): Op<boolean> {
    return yield* asThread(this.frontend.waitConnected(deadline));
  }

  *read(sector: number, count: number): Op<Uint8Array> {
    return unwrap(yield* this.tryRead(sector, count));
  }

  *write(sector: number, data: Uint8Array): Op<void> {
    unwrap(yield* this.tryWrite(sector, data));
  }

  *flush(): Op<void> {
    unwrap(yield* this.tryFlush());
  }

  *discard(sector: number, count: number): Op<void> {
    unwrap(yield* this.tryDiscard(sector, count));
  }

  *tryRead(sector: number, count: number): Op<BlkResult<Uint8Array>> {
    return yield* asThread(this.frontend.read(sector, count));
  }

  *tryWrite(sector: number, data: Uint8Array): Op<BlkResult<void>> {
    return yield* asThread(this.frontend.write(sector, data));
  }

  *tryFlush(): Op<BlkResult<void>> {
    return yield* asThread(this.frontend.flush());
  }

  *tryDiscard(sector: number, count: number): Op<BlkResult<void>> {
    return yield* asThread(this.frontend.discard(sector, count));
  }
}
