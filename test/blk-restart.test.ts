/**
 * Driver-domain restart: the block driver domain is destroyed while two guests have I/O in flight;
 * the toolstack starts a new driver domain and moves the vbds to it (new backend directories,
 * the frontends' backend/backend-id rewritten, permissions for the new backend); the frontends
 * notice through xenstore alone, reconnect with new rings, channels and grants, and re-issue every
 * request that was never answered. Nothing is lost: every write acknowledged before the kill is
 * in the image file at the kill, every request in flight is re-issued once, every operation
 * completes OK, reads return what was written, and the final images equal the reference copies.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ms } from '@xenotype/core';
import { DISK_MODELS, xvdDevid, type BlkFrontend } from '@xenotype/blk';
import { BlkFront, asThread, type MiniOS, type ThreadOp } from '@xenotype/minios';
import { XenbusState } from '@xenotype/xenbus';
import { createDriverDomain, destroyDriverDomain, moveBackends, restartDriverDomain } from '../tools/src/toolstack/reattach';
import { BlkHost, DD_KERNEL, Prng, pattern } from './support/blk-host';

const XVDA = xvdDevid(0);
const SECTORS = 16 << 11; // 16 MiB images
const THREADS = 24;

interface Ack {
  sector: number;
  data: Uint8Array;
}

/** What one guest's workload does and sees (the test reads it; the guest never reads the test). */
class Workload {
  blk: BlkFrontend | null = null;
  readonly ref: Uint8Array;
  /** Phase-1 writes acknowledged, in order of acknowledgement. */
  readonly acked: Ack[] = [];
  ops = 0;
  readsChecked = 0;
  mismatches = 0;
  failures: string[] = [];
  done = false;

  constructor(
    readonly seed: number,
    readonly phase2 = 40,
    readonly threads = THREADS,
    readonly sectors = SECTORS,
  ) {
    this.ref = new Uint8Array(sectors * 512);
  }

  app = (os: MiniOS): Generator<ThreadOp, void, void> => {
    const w = this;
    return (function* () {
      const front = yield* BlkFront.open(os);
      w.blk = front.frontend;
      const run = function* (t: number): Generator<ThreadOp, void, void> {
        const rng = new Prng(w.seed * 100 + t);
        const region = Math.floor(w.sectors / w.threads / 8) * 8;
        const base = t * region;
        try {
          // phase 1: fill the region front to back, each chunk once (1..176 sectors: up to 2 ring requests)
          for (let s = base; s < base + region; ) {
            const n = Math.min(1 + rng.next(176), base + region - s);
            const d = pattern(rng.next(1 << 30), n * 512);
            yield* front.write(s, d);
            w.ref.set(d, s * 512);
            w.acked.push({ sector: s, data: d });
            w.ops++;
            s += n;
          }
          // phase 2: random overwrites and read-backs inside the region
          for (let i = 0; i < w.phase2; i++) {
            const n = 1 + rng.next(120);
            const s = base + rng.next(region - n);
            if (rng.next(2) === 0) {
              const d = yield* front.read(s, n);
              w.readsChecked++;
              if (Buffer.compare(d, w.ref.subarray(s * 512, (s + n) * 512)) !== 0) w.mismatches++;
            } else {
              const d = pattern(rng.next(1 << 30), n * 512);
              yield* front.write(s, d);
              w.ref.set(d, s * 512);
            }
            w.ops++;
          }
        } catch (e) {
          w.failures.push(String(e));
        }
      };
      const ts = Array.from({ length: w.threads }, (_, t) => os.spawn(`io${t}`, run(t)));
      for (const t of ts) yield* os.join(t);
      yield* asThread(front.frontend.flush());
      w.done = true;
    })();
  };
}

let env: BlkHost | null = null;
afterEach(() => {
  env?.dispose();
  env = null;
});

describe('driver-domain restart', () => {
  it('destroying the block driver domain mid-I/O loses nothing: in-flight requests are re-issued to a new one', () => {
    const wa = new Workload(1);
    const wb = new Workload(2);
    const h = (env = new BlkHost({ apps: { ga: wa.app, gb: wb.app }, model: DISK_MODELS.ssd }));
    const imgA = h.image('a.img', 16);
    const imgB = h.image('b.img', 16);
    const dd1 = h.driverDomain('blkdd');
    const ga = h.guest('ga', 'ga', [{ backendDomid: dd1, target: imgA.path }]);
    const gb = h.guest('gb', 'gb', [{ backendDomid: dd1, target: imgB.path }]);

    // run until both guests are well into their writes, then kill the driver domain
    h.host.runFor(ms(40));
    expect(wa.blk?.connected && wb.blk?.connected).toBe(true);
    expect(wa.done || wb.done).toBe(false);
    const xsd = h.xsd;
    h.host.run('kill', function* ({ xc, os }) {
      yield* destroyDriverDomain(xc, xsd.client(os), dd1);
    });
    const atKill = [wa, wb].map((w) => ({ inFlight: w.blk!.inFlight, outstanding: w.blk!.outstanding, acked: w.acked.length, ops: w.ops }));
    // every write acknowledged so far is in the image file now (phase-1 chunks never overlap)
    for (const [w, img] of [
      [wa, imgA],
      [wb, imgB],
    ] as const) {
      const file = new Uint8Array(readFileSync(img.path));
      const missing = w.acked.filter((a) => Buffer.compare(file.subarray(a.sector * 512, a.sector * 512 + a.data.length), a.data) !== 0);
      expect(missing.length).toBe(0);
    }

    // the guests notice through xenstore and wait; nothing completes while there is no backend
    h.host.runFor(ms(20));
    expect([wa, wb].map((w) => w.ops)).toEqual(atKill.map((k) => k.ops));
    expect([wa, wb].map((w) => w.blk!.connected)).toEqual([false, false]);
    expect(h.read(`/local/domain/${ga}/device/vbd/${XVDA}/state`)).toBe(String(XenbusState.Closed));

    // the toolstack starts a new driver domain and moves the vbds to it
    const { dd2, moved } = h.host.run('restart', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const d = yield* createDriverDomain(xc, xs, { name: 'blkdd2', memoryMiB: 16, vcpus: 1, kernel: DD_KERNEL });
      return { dd2: d.domid, moved: yield* asThread(moveBackends(xs, dd1, d.domid)) };
    });
    expect(moved.map((m) => [m.frontendDomid, m.type, m.devid])).toEqual([
      [ga, 'vbd', XVDA],
      [gb, 'vbd', XVDA],
    ]);
    h.host.runFor(ms(1500));

    for (const [i, w, img] of [
      [0, wa, imgA],
      [1, wb, imgB],
    ] as const) {
      const s = w.blk!.stats;
      expect(w.failures).toEqual([]);
      expect(w.done).toBe(true);
      expect(w.mismatches).toBe(0);
      expect(w.readsChecked).toBeGreaterThan(100);
      // the requests in flight at the kill were all re-issued, once, and answered OKAY
      expect(atKill[i].inFlight).toBeGreaterThan(0);
      expect(s.inFlightAtDisconnect).toEqual([atKill[i].inFlight]);
      expect(s.reissued).toBe(atKill[i].inFlight);
      expect([s.connects, s.disconnects, s.errors, s.badResponses, s.leakedGrants]).toEqual([2, 1, 0, 0, 0]);
      expect(s.completed).toBe(s.ringRequests - s.reissued); // each stranded request was put on two rings, answered once
      expect(Buffer.compare(readFileSync(img.path), w.ref)).toBe(0);
      console.log(
        `guest ${i}: ${atKill[i].inFlight} ring requests in flight and ${atKill[i].outstanding - atKill[i].inFlight} queued at the kill, ` +
          `${s.reissued} re-issued, ${atKill[i].acked} acknowledged writes verified in the file at the kill; ` +
          `${s.ringRequests} ring requests in all, ${w.ops} operations, ${w.readsChecked} reads checked, final image == reference`,
      );
    }
    // the new backend is the one connected, and the old domain is gone
    const fe = `/local/domain/${ga}/device/vbd/${XVDA}`;
    expect(h.read(`${fe}/backend-id`)).toBe(String(dd2));
    expect(h.read(`${fe}/backend`)).toBe(`/local/domain/${dd2}/backend/vbd/${ga}/${XVDA}`);
    expect(h.read(`/local/domain/${dd2}/backend/vbd/${ga}/${XVDA}/state`)).toBe(String(XenbusState.Connected));
    expect(h.read(`/local/domain/${dd1}/name`)).toBeNull();
    expect(h.backends.length).toBe(2);
    expect(h.host.run('info', function* ({ xc }) {
      return xc.domainGetInfo(dd1);
    })).toBeNull();
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });
  it('survives two restarts in a row, the second while the guest is still reconnecting (restartDriverDomain)', () => {
    const w = new Workload(3);
    const h = (env = new BlkHost({ apps: { g: w.app }, model: DISK_MODELS.ssd }));
    const img = h.image('c.img', 16);
    let dd = h.driverDomain('blkdd');
    const g = h.guest('g', 'g', [{ backendDomid: dd, target: img.path }]);
    const xsd = h.xsd;
    const restart = (old: number, name: string) =>
      h.host.run('restart', function* ({ xc, os }) {
        return (yield* restartDriverDomain(xc, xsd.client(os), old, { name, memoryMiB: 16, vcpus: 1, kernel: DD_KERNEL })).domain.domid;
      });
    h.host.runFor(ms(30));
    const inFlight1 = w.blk!.inFlight;
    dd = restart(dd, 'blkdd2');
    h.host.runFor(ms(1)); // the new backend is coming up; the guest has not reconnected yet
    expect(w.blk!.connected).toBe(false);
    dd = restart(dd, 'blkdd3');
    h.host.runFor(ms(1500));
    const s = w.blk!.stats;
    if (!w.done) console.log(h.lines.filter((l) => /blk|devd/.test(l)).join('\n')); // what went wrong, if it did
    expect(w.failures).toEqual([]);
    expect(w.done).toBe(true);
    expect(w.mismatches).toBe(0);
    expect(inFlight1).toBeGreaterThan(0);
    expect(s.inFlightAtDisconnect[0]).toBe(inFlight1);
    expect(s.reissued).toBe(s.inFlightAtDisconnect.reduce((a, b) => a + b, 0));
    expect(s.errors).toBe(0);
    expect(Buffer.compare(readFileSync(img.path), w.ref)).toBe(0);
    expect(w.blk!.info!.backendId).toBe(dd);
    expect(h.read(`/local/domain/${dd}/backend/vbd/${g}/${XVDA}/state`)).toBe(String(XenbusState.Connected));
    console.log(`two restarts: ${s.disconnects} disconnections, in flight ${JSON.stringify(s.inFlightAtDisconnect)}, ${s.reissued} re-issued, ${s.connects} connections`);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });
  it('whenever the kill comes — before the first connection, mid-handshake, mid-I/O, twice — nothing is lost (24 seeded schedules)', () => {
    const rows: string[] = [];
    for (let k = 0; k < 24; k++) {
      const rng = new Prng(7000 + k);
      // kill times (ms after the guest is unpaused): the first few in the handshake, then anywhere
      const t1 = k < 4 ? [0.05, 0.3, 0.6, 1][k] : rng.next(12_000) / 1000;
      const t2 = k % 2 === 1 ? rng.next(4000) / 1000 : -1;
      const w = new Workload(20 + k, 5, 4, 4096); // 2 MiB
      const h = (env = new BlkHost({ apps: { g: w.app }, model: DISK_MODELS.ssd }));
      const img = h.image('k.img', 2);
      let dd = h.driverDomain('blkdd');
      h.guest('g', 'g', [{ backendDomid: dd, target: img.path }]);
      const xsd = h.xsd;
      const restart = (old: number, name: string) =>
        h.host.run('restart', function* ({ xc, os }) {
          return (yield* restartDriverDomain(xc, xsd.client(os), old, { name, memoryMiB: 16, vcpus: 1, kernel: DD_KERNEL })).domain.domid;
        });
      h.host.runFor(Math.round(ms(t1)));
      const inFlight = w.blk?.inFlight ?? 0;
      dd = restart(dd, 'blkdd2');
      if (t2 >= 0) {
        h.host.runFor(Math.round(ms(t2)));
        dd = restart(dd, 'blkdd3');
      }
      h.host.runFor(ms(1500));
      if (!w.done) console.log(h.lines.filter((l) => /blk|devd/.test(l)).join('\n'));
      const s = w.blk!.stats;
      expect([k, w.done, w.failures, w.mismatches, s.errors]).toEqual([k, true, [], 0, 0]);
      expect(s.reissued).toBe(s.inFlightAtDisconnect.reduce((a, b) => a + b, 0));
      expect(Buffer.compare(readFileSync(img.path), w.ref)).toBe(0);
      rows.push(`kill at ${t1} ms${t2 >= 0 ? ` and ${t2} ms later` : ''}: ${inFlight} in flight, re-issued ${s.reissued}, connections ${s.connects}`);
      h.dispose();
      env = null;
    }
    console.log(rows.join('\n'));
  });
});
