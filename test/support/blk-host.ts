/**
 * A host for block-device tests: dom0 with xenstored, a block driver domain running blkback over
 * raw image files in a temporary directory (the host's ImageStore), and guests with a vbd each,
 * set up by the toolstack steps a real toolstack runs (createDriverDomain, createDomain paused,
 * vbdAdd, unpause).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DiskModel, Blkback } from '@xenotype/blk';
import type { Platform } from '@xenotype/core';
import { MiniOS, asThread, type App } from '@xenotype/minios';
import { Host } from '../../tools/src/host/host';
import { defaultRegistry } from '../../tools/src/host/registry';
import { createDomain } from '../../tools/src/toolstack/xenstore';
import { createDriverDomain } from '../../tools/src/toolstack/reattach';
import { registerDriverDomain } from '../../tools/src/toolstack/driver-domain';
import { vbdAdd, type VbdSpec } from '../../tools/src/toolstack/vbd';
import { Xenstored } from '../../tools/src/xenstored/service';
import { ImageFile, ImageStore } from '../../tools/src/devices/image-file';
import { blkbackFactory } from '../../tools/src/devices/blkback';

export const DD_KERNEL = 'blk-driver-domain';

export interface BlkHostOptions {
  apps?: Record<string, App>;
  model?: Partial<DiskModel>;
  seed?: number;
  cpus?: number;
  /** Real time and real vCPUs (the KVM tests); absent: the simulation. */
  platform?: Platform;
}

export class BlkHost {
  readonly dir = mkdtempSync(join(tmpdir(), 'xenotype-blk-'));
  readonly images = new ImageStore();
  readonly xsd = new Xenstored();
  readonly host: Host;
  /** Every Blkback booted (one per driver domain boot), in order. */
  readonly backends: Blkback[] = [];
  readonly lines: string[] = [];
  /** Each guest's counters page (from its `counters@gfn N` boot line). */
  readonly gfns = new Map<number, number>();

  constructor(opts: BlkHostOptions = {}) {
    const reg = defaultRegistry();
    registerDriverDomain(reg, DD_KERNEL, [blkbackFactory(this.images.opener(), { disk: { model: opts.model ?? { commandNs: 50_000, positionNs: 0, bytesPerSecond: 500e6, flushNs: 0 } } }, (b) => this.backends.push(b))]);
    for (const [name, app] of Object.entries(opts.apps ?? {})) reg.registerKernel(name, () => new MiniOS(app, name));
    this.host = new Host({ cpus: opts.cpus ?? 2, memoryMiB: 256, scheduler: 'rr', seed: opts.seed ?? 11, services: [this.xsd], platform: opts.platform }, reg);
    this.host.hv.trace.subscribe((r) => {
      if (r.type !== 'console') return;
      const { text, dom } = r as { text: string; dom: number };
      this.lines.push(text.trimEnd());
      const m = /counters@gfn (\d+)/.exec(text);
      if (m && !this.gfns.has(dom)) this.gfns.set(dom, Number(m[1]));
    });
  }

  /** A new zeroed image of `mib` MiB (sparse), registered with the host. */
  image(name: string, mib: number): ImageFile {
    return this.images.add(ImageFile.create(join(this.dir, name), mib << 20));
  }

  fileBytes(img: ImageFile): Uint8Array {
    return new Uint8Array(readFileSync(img.path));
  }

  /** Build a driver domain running blkback; returns its domid. */
  driverDomain(name = 'blkdd'): number {
    return this.host.run('dd', ({ xc, os }) =>
      (function* (xsd) {
        return (yield* createDriverDomain(xc, xsd.client(os), { name, memoryMiB: 16, vcpus: 1, kernel: DD_KERNEL })).domid;
      })(this.xsd),
    );
  }

  /** Build a guest paused, give it vbds, unpause it; returns its domid. */
  guest(name: string, kernel: string, vbds: Omit<VbdSpec, 'domid'>[], cmdline = '', memoryMiB = 32): number {
    const xsd = this.xsd;
    return this.host.run('guest', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const b = yield* createDomain(xc, xs, { name, memoryMiB, vcpus: 1, kernel, cmdline, paused: true });
      for (const v of vbds) yield* asThread(vbdAdd(xs, { domid: b.domid, ...v }));
      xc.domainUnpause(b.domid);
      return b.domid;
    });
  }

  /** Read a xenstore node as dom0. */
  read(path: string): string | null {
    const xsd = this.xsd;
    return this.host.run('read', function* ({ os }) {
      return yield* xsd.client(os).read(path);
    });
  }

  dispose(): void {
    this.images.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A deterministic byte pattern (xorshift32 from `seed`). */
export function pattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** xorshift32 random integers in [0, n). */
export class Prng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(n: number): number {
    let x = this.x;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x % n;
  }
}
