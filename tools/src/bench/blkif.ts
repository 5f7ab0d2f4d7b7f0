/**
 * blkif throughput: wall time for the simulation to move N MiB from a guest through blkfront, the
 * ring, grant copies and blkback in a driver domain into a raw image file on the host, beside the
 * time to copy the same bytes between Uint8Arrays in the same request sizes (the floor: what the
 * data movement alone costs this machine). The disk model is `instant`, so the figure is the
 * software path: ring, xenbus-free I/O path, event channels, grant copies, file writes, and the
 * engine under them. Requests are kept 8 deep, as a guest's block layer would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISK_MODELS } from '@xenotype/blk';
import { BlkFront, MiniOS, asThread, type MiniOS as Os } from '@xenotype/minios';
import { sec } from '@xenotype/core';
import { Host } from '../host/host';
import { defaultRegistry } from '../host/registry';
import { Xenstored } from '../xenstored/service';
import { createDomain } from '../toolstack/xenstore';
import { createDriverDomain } from '../toolstack/reattach';
import { registerDriverDomain } from '../toolstack/driver-domain';
import { vbdAdd } from '../toolstack/vbd';
import { ImageFile, ImageStore } from '../devices/image-file';
import { blkbackFactory } from '../devices/blkback';

export interface BlkifBenchResult {
  requestBytes: number;
  bytes: number;
  /** Wall ms of the simulation from the first request to the last answer. */
  simMs: number;
  /** Wall ms of copying the same bytes between Uint8Arrays in the same chunks (best of 5). */
  copyMs: number;
  ringRequests: number;
  events: number;
}

const wall = () => performance.now();

/** Move `mib` MiB through blkif in `requestBytes` writes, 8 in flight; and the memcpy baseline. */
export function runBlkifBench(requestBytes: number, mib: number): BlkifBenchResult {
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-blkbench-'));
  const images = new ImageStore();
  try {
    const img = images.add(ImageFile.create(join(dir, 'bench.img'), mib << 20));
    const state = { t0: 0, t1: 0, ringRequests: 0 };
    const reg = defaultRegistry();
    registerDriverDomain(reg, 'bench-blkdd', [blkbackFactory(images.opener(), { disk: { model: DISK_MODELS.instant } })]);
    reg.registerKernel('bench-blkwriter', () =>
      new MiniOS(function* (os: Os) {
        const blk = yield* BlkFront.open(os);
        const data = new Uint8Array(requestBytes).fill(0x5a);
        const sectors = requestBytes / 512;
        const total = (mib << 20) / requestBytes;
        let next = 0;
        state.t0 = wall();
        const worker = function* () {
          while (next < total) yield* blk.write(next++ * sectors, data);
        };
        const ts = Array.from({ length: 7 }, (_, i) => os.spawn(`w${i}`, worker()));
        yield* worker();
        for (const t of ts) yield* os.join(t);
        state.t1 = wall();
        state.ringRequests = blk.stats.ringRequests;
      }, 'bench-blkwriter'),
    );
    const xsd = new Xenstored();
    const host = new Host({ cpus: 2, memoryMiB: 512, scheduler: 'rr', seed: 1, services: [xsd] }, reg);
    host.run('setup', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const dd = yield* createDriverDomain(xc, xs, { name: 'blkdd', memoryMiB: 16, vcpus: 1, kernel: 'bench-blkdd' });
      const g = yield* createDomain(xc, xs, { name: 'writer', memoryMiB: 32, vcpus: 1, kernel: 'bench-blkwriter', paused: true });
      yield* asThread(vbdAdd(xs, { domid: g.domid, backendDomid: dd.domid, target: img.path }));
      xc.domainUnpause(g.domid);
    });
    const e0 = host.hv.engine.executed;
    for (let i = 0; i < 600 && state.t1 === 0; i++) host.runFor(sec(1));
    if (state.t1 === 0) throw new Error('blkif bench: the writer did not finish');
    const events = host.hv.engine.executed - e0;

    // baseline: the same bytes, the same chunks, between two arrays
    const src = new Uint8Array(requestBytes).fill(0x5a);
    const dst = new Uint8Array(mib << 20);
    let copyMs = Infinity;
    for (let r = 0; r < 5; r++) {
      const t = wall();
      for (let off = 0; off < dst.length; off += requestBytes) dst.set(src, off);
      copyMs = Math.min(copyMs, wall() - t);
    }
    return { requestBytes, bytes: mib << 20, simMs: state.t1 - state.t0, copyMs, ringRequests: state.ringRequests, events };
  } finally {
    images.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
