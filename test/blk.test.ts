/**
 * Virtual block devices end to end: a guest's blkfront and blkback in a driver domain (not dom0),
 * over a raw image file on the host, set up as libxl sets up a vbd, sharing only xenstore, grants,
 * the ring page and an event channel.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { ms } from '@xenotype/core';
import { BLKIF_RSP, xvdDevid } from '@xenotype/blk';
import { BlkFront, asThread, type App, type MiniOS } from '@xenotype/minios';
import { vbdRemove } from '../tools/src/toolstack/vbd';
import { NODE, XEN_IO_PROTO_ABI_NATIVE, XenbusState } from '@xenotype/xenbus';
import { BlkHost, Prng, pattern, type BlkHostOptions } from './support/blk-host';

const XVDA = xvdDevid(0);
/** Byte equality of large arrays (vitest's deep equality is slow on megabytes). */
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
let env: BlkHost | null = null;
afterEach(() => {
  env?.dispose();
  env = null;
});

function setup(apps: Record<string, App>, model?: BlkHostOptions['model']) {
  env = new BlkHost({ apps, model });
  return env;
}

describe('blkfront ↔ blkback in a driver domain, over an image file', () => {
  it('connects with libxl\'s nodes; data written is byte-identical in the image file and reads back', () => {
    const got: { info?: unknown; readBack?: Uint8Array; done?: boolean; forge?: string; peek?: string | null } = {};
    const writes: [number, Uint8Array][] = [
      [0, pattern(1, 512)],
      [7, pattern(2, 3 * 512)],
      [100, pattern(3, 88 * 512)], // one full ring request (11 pages)
      [300, pattern(4, 200 * 512)], // split into three requests
      [16383, pattern(5, 512)], // the last sector of 8 MiB
    ];
    const h = setup({
      writer: function* (os: MiniOS) {
        const blk = yield* BlkFront.open(os);
        got.info = blk.info;
        for (const [s, d] of writes) yield* blk.write(s, d);
        got.readBack = yield* blk.read(300, 200);
        // xenstored's permissions: the guest may read its backend's directory, never write it
        const be = (yield* os.xs.read(`device/vbd/${blk.devid}/backend`))!;
        got.peek = yield* os.xs.read(`${be}/sectors`);
        try {
          yield* os.xs.write(`${be}/sectors`, '999999999');
          got.forge = 'written';
        } catch (e) {
          got.forge = (e as { code?: string }).code;
        }
        got.done = true;
      },
    });
    const img = h.image('disk.img', 8);
    const dd = h.driverDomain();
    const g = h.guest('writer', 'writer', [{ backendDomid: dd, target: img.path }]);
    h.host.runFor(ms(200));
    expect(got.done).toBe(true);
    expect(got.info).toMatchObject({ sectors: 16384, sectorSize: 512, readOnly: false, flush: true, discard: true, backendId: dd });
    // every byte in the file is what was written (and zero elsewhere)
    const want = new Uint8Array(8 << 20);
    for (const [s, d] of writes) want.set(d, s * 512);
    expect(Buffer.compare(readFileSync(img.path), want)).toBe(0);
    expect(got.readBack).toEqual(writes[3][1]);
    expect([got.peek, got.forge]).toEqual(['16384', 'EACCES']);

    // the xenstore layout: libxl's nodes, blkback's and blkfront's, both ends Connected
    const be = `/local/domain/${dd}/backend/vbd/${g}/${XVDA}`;
    const fe = `/local/domain/${g}/device/vbd/${XVDA}`;
    const r = (p: string) => h.read(p);
    expect([r(`${be}/params`), r(`${be}/mode`), r(`${be}/type`), r(`${be}/dev`), r(`${be}/device-type`), r(`${be}/frontend`), r(`${be}/frontend-id`)]).toEqual([img.path, 'w', 'phy', 'xvda', 'disk', fe, String(g)]);
    expect([r(`${be}/sectors`), r(`${be}/sector-size`), r(`${be}/info`), r(`${be}/feature-flush-cache`), r(`${be}/feature-discard`), r(`${be}/discard-granularity`), r(`${be}/discard-alignment`), r(`${be}/hotplug-status`)]).toEqual([
      '16384',
      '512',
      '0',
      '1',
      '1',
      '4096',
      '0',
      'connected',
    ]);
    expect([r(`${fe}/backend`), r(`${fe}/backend-id`), r(`${fe}/virtual-device`), r(`${fe}/protocol`)]).toEqual([be, String(dd), String(XVDA), XEN_IO_PROTO_ABI_NATIVE]);
    expect(Number(r(`${fe}/${NODE.ringRef}`))).toBeGreaterThanOrEqual(8);
    expect(Number(r(`${fe}/${NODE.eventChannel}`))).toBeGreaterThan(0);
    expect([Number(r(`${be}/state`)), Number(r(`${fe}/state`))]).toEqual([XenbusState.Connected, XenbusState.Connected]);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });

  it('a long random workload (4 threads, 800 operations, seeded) leaves the image equal to a reference copy', () => {
    const SECTORS = 8 << 11; // 8 MiB
    const ref = new Uint8Array(SECTORS * 512);
    const report = { ops: 0, mismatches: 0, done: 0 };
    const h = setup({
      random: function* (os: MiniOS) {
        const blk = yield* BlkFront.open(os);
        const threads = [0, 1, 2, 3].map((t) =>
          os.spawn(`w${t}`, (function* () {
            const rng = new Prng(1000 + t);
            const base = (t * SECTORS) / 4; // each thread owns a quarter: no two requests in flight overlap
            for (let i = 0; i < 200; i++) {
              const n = 1 + rng.next(rng.next(4) === 0 ? 200 : 24);
              const s = base + rng.next(SECTORS / 4 - n);
              if (rng.next(3) === 0) {
                const d = yield* blk.read(s, n);
                if (Buffer.compare(d, ref.subarray(s * 512, (s + n) * 512)) !== 0) report.mismatches++;
              } else {
                const d = pattern(rng.next(1 << 30), n * 512);
                yield* blk.write(s, d);
                ref.set(d, s * 512);
              }
              report.ops++;
            }
            report.done++;
          })()),
        );
        for (const t of threads) yield* os.join(t);
        yield* blk.flush();
      },
    });
    const img = h.image('rand.img', 8);
    const dd = h.driverDomain();
    h.guest('random', 'random', [{ backendDomid: dd, target: img.path }]);
    h.host.runFor(ms(2000));
    expect(report).toEqual({ ops: 800, mismatches: 0, done: 4 });
    expect(Buffer.compare(readFileSync(img.path), ref)).toBe(0);
    // the disk scheduler saw several requests at once and reordered them
    expect(h.backends[0].diskScheduler!.stats.maxPending).toBeGreaterThan(1);
    expect(img.stats.fsyncs).toBe(1);
  });

  it('flush reaches the file: fsync(2) is called and the data is on disk', () => {
    const got: number[] = [];
    let img!: ReturnType<BlkHost['image']>;
    const h = setup({
      flusher: function* (os: MiniOS) {
        const blk = yield* BlkFront.open(os);
        yield* blk.write(10, pattern(9, 4096));
        got.push(img.stats.fsyncs);
        yield* blk.flush();
        got.push(img.stats.fsyncs);
        yield* blk.flush();
        got.push(img.stats.fsyncs);
      },
    });
    img = h.image('flush.img', 4);
    const dd = h.driverDomain();
    h.guest('flusher', 'flusher', [{ backendDomid: dd, target: img.path }]);
    h.host.runFor(ms(100));
    expect(got).toEqual([0, 1, 2]);
    expect(new Uint8Array(readFileSync(img.path)).subarray(10 * 512, 10 * 512 + 4096)).toEqual(pattern(9, 4096));
  });

  it('discard makes the range read as zeros (a hole punched in the file when large)', () => {
    const got: { small?: Uint8Array; big?: Uint8Array; edge?: Uint8Array; status?: number } = {};
    let blocks: number[] = [];
    let img!: ReturnType<BlkHost['image']>;
    const h = setup({
      discarder: function* (os: MiniOS) {
        const blk = yield* BlkFront.open(os);
        yield* blk.write(0, pattern(7, 2 << 20)); // 2 MiB
        yield* blk.flush();
        blocks.push(statSync(img.path).blocks);
        yield* blk.discard(8, 4); // 2 KiB: zeros written
        yield* blk.discard(1024, 2048); // 1 MiB: a hole
        blocks.push(statSync(img.path).blocks);
        got.small = yield* blk.read(6, 8);
        got.big = yield* blk.read(1024, 2048);
        got.edge = yield* blk.read(1023, 1);
        const beyond = yield* blk.tryDiscard(8192 - 2, 4); // past the end of 4 MiB
        got.status = beyond.ok ? 0 : beyond.status;
      },
    });
    img = h.image('discard.img', 4);
    const dd = h.driverDomain();
    h.guest('discarder', 'discarder', [{ backendDomid: dd, target: img.path }]);
    h.host.runFor(ms(200));
    const p = pattern(7, 2 << 20);
    expect(got.small).toEqual(Uint8Array.from([...p.subarray(6 * 512, 8 * 512), ...new Uint8Array(4 * 512), ...p.subarray(12 * 512, 14 * 512)]));
    expect(same(got.big!, new Uint8Array(1 << 20))).toBe(true);
    expect(got.edge).toEqual(p.subarray(1023 * 512, 1024 * 512));
    expect(got.status).toBe(BLKIF_RSP.ERROR);
    const file = new Uint8Array(readFileSync(img.path));
    expect(same(file.subarray(1024 * 512, 3072 * 512), new Uint8Array(1 << 20))).toBe(true);
    expect(file.subarray(0, 8 * 512)).toEqual(p.subarray(0, 8 * 512));
    expect(img.stats.discards).toBe(2);
    expect(img.stats.holesPunched + (img.stats.zeroedBytes > 4 * 512 ? 1 : 0)).toBe(1);
    if (img.stats.holesPunched === 1) expect(blocks[1]).toBeLessThan(blocks[0]); // the file gave its blocks back
  });

  it('a read-only vbd refuses writes; unplugging a vbd fails what is outstanding and frees the backend', () => {
    const got: { ro?: boolean; write?: number; read?: Uint8Array; afterUnplug?: string } = {};
    let unplugged = false;
    const h = setup({
      reader: function* (os: MiniOS) {
        const blk = yield* BlkFront.open(os);
        got.ro = blk.info!.readOnly;
        const w = yield* blk.tryWrite(0, new Uint8Array(512));
        got.write = w.ok ? 0 : w.status;
        got.read = yield* blk.read(0, 1);
        while (!unplugged) yield* os.sleep(ms(1));
        const r = yield* blk.tryRead(0, 1);
        got.afterUnplug = r.ok ? 'ok' : r.error;
      },
    });
    const img = h.image('ro.img', 1);
    img.write(0, pattern(3, 512));
    const dd = h.driverDomain();
    const g = h.guest('reader', 'reader', [{ backendDomid: dd, target: img.path, mode: 'r' }]);
    h.host.runFor(ms(50));
    expect([got.ro, got.write]).toEqual([true, BLKIF_RSP.ERROR]);
    expect(got.read).toEqual(pattern(3, 512));
    expect(h.backends[0].vbds.size).toBe(1);
    const xsd = h.xsd;
    h.host.run('unplug', function* ({ os }) {
      yield* asThread(vbdRemove(xsd.client(os), { domid: g, backendDomid: dd }));
    });
    unplugged = true;
    h.host.runFor(ms(50));
    expect(got.afterUnplug).toMatch(/device removed/);
    expect(h.backends[0].vbds.size).toBe(0); // blkback let go of the vbd
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });
});
