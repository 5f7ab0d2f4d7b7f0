/**
 * A raw disk image on the host as a BlockDevice: the storage the host gives a block driver
 * domain (as Xen gives a driver domain a disk controller). Byte n of the device is byte n of the
 * file; nothing is cached here, so a write the backend acknowledged is in the file (in the host's
 * page cache) the moment the backend's call returns, and any reader of the file sees it.
 *
 *   read     fs.readSync at the offset; bytes beyond the end of a shorter file read as zeros
 *   write    fs.writeSync at the offset
 *   flush    fs.fsyncSync — a real fsync(2) every time (counted in stats.fsyncs)
 *   discard  the range is made to read as zeros: util-linux's fallocate(1) --punch-hole
 *            --keep-size (the FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE of fallocate(2), which
 *            also gives the blocks back to the host file system; Node's fs has no binding for
 *            it) when the tool exists and the range is at least `punchMin` bytes; otherwise, or
 *            if punching fails (a file system without hole punching), zeros are written.
 *
 * I/O errors throw (blkback answers that request BLKIF_RSP_ERROR). Images are opened by path
 * through `ImageStore`, which the host owns: a driver domain that dies does not take the image
 * with it, and the next one opens the same file.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { newDeviceStats, type BlockDevice, type BlockDeviceStats, type OpenBlockDevice } from '@xenotype/blk';

export interface ImageFileOptions {
  readOnly?: boolean;
  /** Discard granularity advertised (bytes; default 4096, the host file system's block size). */
  discardGranularity?: number;
  /** Smallest discard punched as a hole rather than written as zeros (default 64 KiB). */
  punchMin?: number;
}

let fallocateTool: boolean | null = null;
/** Whether util-linux's fallocate(1) is on this host. */
export function haveFallocate(): boolean {
  if (fallocateTool === null) {
    const r = spawnSync('fallocate', ['--version'], { encoding: 'utf8' });
    fallocateTool = !r.error && r.status === 0;
  }
  return fallocateTool;
}

export interface ImageFileStats extends BlockDeviceStats {
  /** fsync(2) calls made (one per flush). */
  fsyncs: number;
  /** Discards done by punching a hole. */
  holesPunched: number;
  /** Bytes of discards written as zeros. */
  zeroedBytes: number;
}

const ZEROS = new Uint8Array(1 << 20);

export class ImageFile implements BlockDevice {
  readonly sectorSize = 512;
  readonly discardGranularity: number;
  readonly readOnly: boolean;
  readonly stats: ImageFileStats = { ...newDeviceStats(), fsyncs: 0, holesPunched: 0, zeroedBytes: 0 };
  private fd: number | null;
  private readonly punchMin: number;

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: number,
    opts: ImageFileOptions,
  ) {
    this.fd = fd;
    this.readOnly = opts.readOnly ?? false;
    this.discardGranularity = opts.discardGranularity ?? 4096;
    this.punchMin = opts.punchMin ?? 64 * 1024;
  }

  /** Create (or truncate) a sparse image of `size` bytes and open it. */
  static create(path: string, size: number, opts: ImageFileOptions = {}): ImageFile {
    if (!(Number.isSafeInteger(size) && size >= 0 && size % 512 === 0)) throw new RangeError(`image size ${size} is not a multiple of 512`);
    const fd = openSync(path, 'w+');
    ftruncateSync(fd, size);
    return new ImageFile(path, fd, size, opts);
  }

  /** Open an existing image; its size is the file's, rounded down to whole sectors. */
  static open(path: string, opts: ImageFileOptions = {}): ImageFile {
    const fd = openSync(path, opts.readOnly ? 'r' : 'r+');
    const size = fstatSync(fd).size;
    return new ImageFile(path, fd, size - (size % 512), opts);
  }

  private get handle(): number {
    if (this.fd === null) throw new Error(`${this.path}: image is closed`);
    return this.fd;
  }

  read(offset: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const n = readSync(this.handle, into, done, into.length - done, offset + done);
      if (n === 0) {
        into.fill(0, done);
        break;
      }
      done += n;
    }
    this.stats.reads++;
    this.stats.bytesRead += into.length;
  }

  write(offset: number, data: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.path}: read-only image`);
    let done = 0;
    while (done < data.length) done += writeSync(this.handle, data, done, data.length - done, offset + done);
    this.stats.writes++;
    this.stats.bytesWritten += data.length;
  }

  flush(): void {
    fsyncSync(this.handle);
    this.stats.fsyncs++;
    this.stats.flushes++;
  }

  discard(offset: number, length: number): void {
    if (this.readOnly) throw new Error(`${this.path}: read-only image`);
    this.stats.discards++;
    if (length >= this.punchMin && haveFallocate()) {
      const r = spawnSync('fallocate', ['--punch-hole', '--keep-size', '--offset', String(offset), '--length', String(length), this.path], { encoding: 'utf8' });
      if (!r.error && r.status === 0) {
        this.stats.holesPunched++;
        return;
      }
    }
    for (let done = 0; done < length; ) {
      const n = Math.min(ZEROS.length, length - done);
      done += writeSync(this.handle, ZEROS, 0, n, offset + done);
    }
    this.stats.zeroedBytes += length;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * The host's images, by path: each file is opened once and handed to whichever driver domain
 * serves it (blkback's `open` capability); closing the store closes them all.
 */
export class ImageStore {
  private readonly images = new Map<string, ImageFile>();

  /** Register an image under its path (e.g. one just created). */
  add(img: ImageFile): ImageFile {
    this.images.set(img.path, img);
    return img;
  }

  get(path: string): ImageFile | undefined {
    return this.images.get(path);
  }

  /** Open (or return the already open) image at `path`. */
  open(path: string, opts: ImageFileOptions = {}): ImageFile {
    let img = this.images.get(path);
    if (!img) this.images.set(path, (img = ImageFile.open(path, opts)));
    return img;
  }

  /**
   * blkback's `open` capability over this store: only images the host registered may be opened
   * (params naming any other path is refused), and mode "r" exports one read-only.
   */
  opener(opts: { allowUnregistered?: boolean } = {}): OpenBlockDevice {
    return (c) => {
      const img = this.images.get(c.params) ?? (opts.allowUnregistered ? this.tryOpen(c.params) : undefined);
      if (!img) return `no image "${c.params}" on this host`;
      if (!(c.type === 'phy' || c.type === 'file' || c.type === 'qdisk')) return `backend type "${c.type}" is not served`;
      return c.mode === 'w' ? img : readOnlyView(img);
    };
  }

  private tryOpen(path: string): ImageFile | undefined {
    try {
      return this.open(path);
    } catch {
      return undefined;
    }
  }

  close(): void {
    for (const img of this.images.values()) img.close();
    this.images.clear();
  }
}

/** The same image, exported read-only. */
function readOnlyView(img: ImageFile): BlockDevice {
  return {
    size: img.size,
    sectorSize: img.sectorSize,
    readOnly: true,
    discardGranularity: 0,
    read: (o, into) => img.read(o, into),
    write: () => {
      throw new Error(`${img.path}: exported read-only`);
    },
    flush: () => img.flush(),
    discard: () => {
      throw new Error(`${img.path}: exported read-only`);
    },
  };
}
