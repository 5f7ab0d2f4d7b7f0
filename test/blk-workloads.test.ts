/**
 * The disk workloads on the paper's disk model (DK32EJ class: 0.1 ms command, 7.9 ms positioning,
 * 50 MB/s): `diskbound` doing random 4 KiB reads runs at the disk's random-access rate, and next
 * to `diskhog` (the antisocial sequential writer, 8 × 64 KiB in flight) it still gets served,
 * because the driver domain's scheduler takes round-robin batches from the two vbds. Results are
 * read from the guests' counters pages, as the experiment runner reads them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ms, sec } from '@xenotype/core';
import { DISK_MODELS } from '@xenotype/blk';
import { BlkHost } from './support/blk-host';

let env: BlkHost | null = null;
afterEach(() => {
  env?.dispose();
  env = null;
});

function counters(h: BlkHost, domid: number): number[] {
  const gfn = h.gfns.get(domid)!;
  return h.host.run('counters', function* ({ xc }) {
    const [a] = xc.mapForeign(domid, [gfn]);
    try {
      return Array.from({ length: 8 }, (_, i) => xc.os.cpu.mem.getU64(a + i * 8));
    } finally {
      xc.unmapForeign([a]);
    }
  });
}

describe('disk workloads', () => {
  it('diskbound alone runs at the random-access rate; beside diskhog it is still served', () => {
    const run = (withHog: boolean) => {
      const h = (env = new BlkHost({ model: DISK_MODELS.dk32ej }));
      const dd = h.driverDomain();
      const reader = h.guest('reader', 'minios-diskbound', [{ backendDomid: dd, target: h.image('r.img', 64).path }], 'size=4096 random=1 depth=1');
      const hog = withHog ? h.guest('hog', 'minios-diskhog', [{ backendDomid: dd, target: h.image('h.img', 64).path }]) : -1;
      h.host.runFor(sec(2));
      const r = counters(h, reader);
      const g = withHog ? counters(h, hog) : null;
      h.dispose();
      env = null;
      return { r, g };
    };
    const alone = run(false);
    const shared = run(true);
    const perOp = DISK_MODELS.dk32ej.commandNs + DISK_MODELS.dk32ej.positionNs + (4096 / DISK_MODELS.dk32ej.bytesPerSecond) * 1e9;
    // alone: one request at a time, each a positioning + command + transfer (~8.1 ms)
    expect(alone.r[0]).toBeGreaterThan((sec(2) - ms(100)) / perOp - 20);
    expect(alone.r[0]).toBeLessThanOrEqual(sec(2) / perOp + 1);
    expect(alone.r[3]).toBe(alone.r[0] * 4096);
    expect([alone.r[4], alone.r[5]]).toEqual([0, 0]);
    const meanLatency = alone.r[2] / alone.r[0];
    expect(meanLatency).toBeGreaterThan(perOp);
    expect(meanLatency).toBeLessThan(perOp * 1.2);
    // shared: the hog moves far more bytes, but the reader keeps a good part of its rate
    const hog = shared.g!;
    expect(hog[4]).toBeGreaterThan(20 * shared.r[3]);
    expect(hog[5]).toBe(0);
    expect(shared.r[0]).toBeGreaterThan(alone.r[0] * 0.2); // each of its reads now costs two positionings (there and back for the hog)
    console.log(
      `diskbound alone: ${alone.r[0]} reads in 2 s (mean ${(meanLatency / 1e6).toFixed(2)} ms); ` +
        `beside diskhog: ${shared.r[0]} reads (mean ${(shared.r[2] / shared.r[0] / 1e6).toFixed(2)} ms), hog wrote ${(hog[4] / 2 ** 20).toFixed(1)} MiB`,
    );
  });
});
