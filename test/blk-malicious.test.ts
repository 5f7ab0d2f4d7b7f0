/**
 * A malicious frontend against blkback in a driver domain. The guest does the xenbus handshake
 * itself and then writes whatever it likes into its ring: 32 entries of random bytes, a table of
 * crafted bad requests (segment counts 0, 12 and 255, disordered or out-of-page sectors, accesses
 * beyond the end, grant references never granted, granted read-only, granted to someone else,
 * a write whose 8th segment's grant is bad, barriers, indirect and unknown operations), and
 * finally a request producer index 1000 entries ahead. Every request is answered — ERROR or
 * EOPNOTSUPP, with its id echoed exactly — nothing bad reaches the image, the ring attack makes
 * blkback drop that ring (Closing), and the driver domain goes on serving another guest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ms } from '@xenotype/core';
import { FrontRing, LocalBytes, SRING, bytesCodec } from '@xenotype/ring';
import {
  BLKIF_OP,
  BLKIF_REQUEST,
  BLKIF_RSP,
  blkifResponseCodec,
  checkRequest,
  decodeRequest,
  encodeRequest,
  type BlkifRequest,
  type BlkifResponse,
} from '@xenotype/blk';
import { BlkFront, asThread, type MiniOS, type ThreadOp } from '@xenotype/minios';
import { NODE, XenbusState, frontendConnect, readState } from '@xenotype/xenbus';
import { BlkHost, Prng, pattern } from './support/blk-host';

const XVDA = 51712;
const SECTORS = 8192; // 4 MiB

let env: BlkHost | null = null;
afterEach(() => {
  env?.dispose();
  env = null;
});

const enc = (r: BlkifRequest): Uint8Array => {
  const b = new LocalBytes(new Uint8Array(BLKIF_REQUEST.size));
  encodeRequest(b, 0, r);
  return b.buf;
};
const rw = (operation: number, id: bigint, sectorNumber: number, segments: { gref: number; firstSect: number; lastSect: number }[], nrSegments = segments.length): BlkifRequest => ({
  kind: 'rw',
  operation,
  nrSegments,
  handle: XVDA,
  id,
  sectorNumber,
  segments,
});

interface Seen {
  garbage: { sent: bigint[]; got: BlkifResponse[] };
  crafted: Map<bigint, number>;
  backendAfterAttack: number;
  ok: boolean;
  error?: string;
}

describe('blkback against a malicious frontend', () => {
  it('answers garbage and crafted bad requests with errors, drops a ring whose index lies, and keeps serving others', () => {
    const seen: Seen = { garbage: { sent: [], got: [] }, crafted: new Map(), backendAfterAttack: -1, ok: false };
    const honest = { done: false, data: null as Uint8Array | null };
    const CRAFTED: [string, bigint, number][] = []; // name, id, expected status
    const evil = function* (os: MiniOS) {
      const caps = os.caps();
      let ring!: FrontRing<Uint8Array, BlkifResponse>;
      let port = 0;
      let be = 0;
      const r = yield* asThread(
        frontendConnect(caps.xs, {
          type: 'vbd',
          devid: XVDA,
          *setup(fe) {
            be = fe.backendId;
            const gfn = caps.memory.allocPage();
            ring = FrontRing.init(caps.memory.mem, gfn * 4096, bytesCodec(BLKIF_REQUEST.size), blkifResponseCodec);
            port = caps.evtchn.allocUnbound(be);
            return { [NODE.ringRef]: caps.grants.grantAccess(be, gfn, false), [NODE.eventChannel]: port };
          },
        }),
      );
      if (!r.ok) return void (seen.error = r.error.message);
      const send = function* (entries: Uint8Array[]): Generator<ThreadOp, BlkifResponse[], void> {
        for (const e of entries) ring.produceRequest(e);
        if (ring.pushRequestsAndCheckNotify()) caps.evtchn.notify(port);
        const got: BlkifResponse[] = [];
        const deadline = os.now() + ms(100);
        while (got.length < entries.length) {
          const gen = caps.evtchn.generation(port);
          for (let x = ring.takeResponse(); x !== null; x = ring.takeResponse()) got.push(x);
          if (got.length >= entries.length || ring.fault) break;
          if (!ring.finalCheckForResponses() && (yield* asThread(caps.evtchn.wait(port, gen, deadline))) < 0) break;
        }
        return got;
      };

      // 1. random bytes
      const rng = new Prng(4242);
      const garbage = Array.from({ length: 32 }, () => Uint8Array.from({ length: BLKIF_REQUEST.size }, () => rng.next(256)));
      seen.garbage.sent = garbage.map((g) => decodeRequest(new LocalBytes(g), 0).id);
      seen.garbage.got = yield* send(garbage);

      // 2. crafted requests
      const page = caps.memory.allocPage();
      const mine = caps.grants.grantAccess(be, page, false);
      const ro = caps.grants.grantAccess(be, caps.memory.allocPage(), true);
      const toDom0 = caps.grants.grantAccess(0, caps.memory.allocPage(), false);
      const full = (g: number) => ({ gref: g, firstSect: 0, lastSect: 7 });
      const pages11 = Array.from({ length: 11 }, (_, i) => {
        const gfn = caps.memory.allocPage();
        caps.memory.mem.setBytes(gfn * 4096, new Uint8Array(4096).fill(0xee));
        return i === 7 ? full(9999) : full(caps.grants.grantAccess(be, gfn, true));
      });
      let id = 1000n;
      const table: [string, BlkifRequest, number][] = [];
      const add = (name: string, req: BlkifRequest, status: number) => table.push([name, req, status]);
      add('read nr_segments 0', rw(BLKIF_OP.READ, id++, 0, []), BLKIF_RSP.ERROR);
      add('read nr_segments 12', rw(BLKIF_OP.READ, id++, 0, Array(11).fill(full(mine)), 12), BLKIF_RSP.ERROR);
      add('write nr_segments 255', rw(BLKIF_OP.WRITE, id++, 0, Array(11).fill(full(mine)), 255), BLKIF_RSP.ERROR);
      add('first_sect > last_sect', rw(BLKIF_OP.READ, id++, 0, [{ gref: mine, firstSect: 5, lastSect: 2 }]), BLKIF_RSP.ERROR);
      add('last_sect 8 (beyond the page)', rw(BLKIF_OP.READ, id++, 0, [{ gref: mine, firstSect: 0, lastSect: 8 }]), BLKIF_RSP.ERROR);
      add('read beyond the end', rw(BLKIF_OP.READ, id++, SECTORS - 1, [{ gref: mine, firstSect: 0, lastSect: 1 }]), BLKIF_RSP.ERROR);
      add('sector 2^53', rw(BLKIF_OP.READ, id++, 2 ** 53, [full(mine)]), BLKIF_RSP.ERROR);
      add('write from a grant never made', rw(BLKIF_OP.WRITE, id++, 16, [full(4000)]), BLKIF_RSP.ERROR);
      add('read into a read-only grant', rw(BLKIF_OP.READ, id++, 16, [full(ro)]), BLKIF_RSP.ERROR);
      add('write from a grant to dom0', rw(BLKIF_OP.WRITE, id++, 16, [full(toDom0)]), BLKIF_RSP.ERROR);
      add('read into the console grant', rw(BLKIF_OP.READ, id++, 16, [full(0)]), BLKIF_RSP.ERROR);
      add("write whose 8th segment's grant is bad", rw(BLKIF_OP.WRITE, id++, 64, pages11), BLKIF_RSP.ERROR);
      add('write barrier', rw(BLKIF_OP.WRITE_BARRIER, id++, 0, [full(mine)]), BLKIF_RSP.EOPNOTSUPP);
      add('indirect', { kind: 'indirect', operation: BLKIF_OP.INDIRECT, indirectOp: 0, nrSegments: 100, handle: XVDA, id: id++, sectorNumber: 0, indirectGrefs: Array(8).fill(mine) }, BLKIF_RSP.EOPNOTSUPP);
      add('reserved operation 4', { kind: 'other', operation: 4, id: id++ }, BLKIF_RSP.EOPNOTSUPP);
      add('operation 200', { kind: 'other', operation: 200, id: id++ }, BLKIF_RSP.EOPNOTSUPP);
      add('discard beyond the end', { kind: 'discard', operation: BLKIF_OP.DISCARD, flag: 0, handle: XVDA, id: id++, sectorNumber: SECTORS - 4, nrSectors: 8 }, BLKIF_RSP.ERROR);
      add('discard of 2^60 sectors', { kind: 'discard', operation: BLKIF_OP.DISCARD, flag: 1, handle: XVDA, id: id++, sectorNumber: 0, nrSectors: 2 ** 60 }, BLKIF_RSP.ERROR);
      add('a good read, id 2^64-1', rw(BLKIF_OP.READ, 2n ** 64n - 1n, 0, [full(mine)]), BLKIF_RSP.OKAY);
      for (const [n, r, s] of table) CRAFTED.push([n, r.id, s]);
      for (const x of yield* send(table.map(([, r]) => enc(r)))) seen.crafted.set(x.id, x.status);

      // 3. a request producer index far ahead of anything we could have produced
      caps.memory.mem.setU32(ring.base + SRING.reqProd, (caps.memory.mem.getU32(ring.base + SRING.rspProd) + 1000) >>> 0);
      caps.evtchn.notify(port);
      yield* os.sleep(ms(5));
      seen.backendAfterAttack = yield* asThread(readState(caps.xs, `/local/domain/${be}/backend/vbd/${os.domid}/${XVDA}`));
      seen.ok = true;
    };
    const good = function* (os: MiniOS) {
      yield* os.sleep(ms(30)); // after the attack
      const blk = yield* BlkFront.open(os);
      yield* blk.write(100, pattern(77, 8192));
      honest.data = yield* blk.read(100, 16);
      honest.done = true;
    };
    const h = (env = new BlkHost({ apps: { evil, good } }));
    const evilImg = h.image('evil.img', 4);
    const goodImg = h.image('good.img', 4);
    const dd = h.driverDomain();
    const ge = h.guest('evil', 'evil', [{ backendDomid: dd, target: evilImg.path }]);
    h.guest('good', 'good', [{ backendDomid: dd, target: goodImg.path }]);
    h.host.runFor(ms(100));

    expect(seen.error).toBeUndefined();
    expect(seen.ok).toBe(true);
    // every garbage entry answered, with its id echoed, never OKAY
    expect(seen.garbage.got.length).toBe(32);
    expect(seen.garbage.got.map((r) => r.id).sort()).toEqual([...seen.garbage.sent].sort());
    expect(seen.garbage.got.filter((r) => r.status === BLKIF_RSP.OKAY)).toEqual([]);
    // every crafted request answered as expected
    const answered = CRAFTED.map(([name, id, want]) => [name, seen.crafted.get(id) === want ? 'as expected' : `got ${seen.crafted.get(id)}, want ${want}`]);
    expect(answered).toEqual(CRAFTED.map(([name]) => [name, 'as expected']));
    // nothing reached the evil guest's image (the bad 8th grant stopped the whole 11-page write)
    expect(new Uint8Array(readFileSync(evilImg.path)).every((b) => b === 0)).toBe(true);
    // the lying producer index made blkback drop that ring...
    expect(seen.backendAfterAttack).toBe(XenbusState.Closing);
    const vbd = [...h.backends[0].vbds.values()].find((v) => v.dir.includes(`/vbd/${ge}/`))!;
    expect(vbd.stats.ringFaults).toBe(1);
    expect(vbd.stats.requests).toBe(32 + CRAFTED.length);
    expect(vbd.stats.okay).toBe(1);
    expect(vbd.stats.errors + vbd.stats.unsupported).toBe(vbd.stats.requests - 1);
    expect(Object.keys(vbd.stats.refused).sort()).toEqual(['bad-segment', 'beyond-end', 'grant', 'no-segments', 'too-many-segments', 'unsupported-op']);
    expect(vbd.stats.refused.grant).toBeGreaterThanOrEqual(5);
    // ...and the driver domain carried on serving the honest guest
    expect(honest.done).toBe(true);
    expect(honest.data).toEqual(pattern(77, 8192));
    const info = h.host.run('info', function* ({ xc }) {
      return xc.domainGetInfo(dd)!;
    });
    expect([info.shutdown, info.dying]).toEqual([false, false]); // not crashed, not shut down
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });

  it('checkRequest never throws, and whatever it accepts lies within the device and the page', () => {
    const req = fc.uint8Array({ minLength: BLKIF_REQUEST.size, maxLength: BLKIF_REQUEST.size }).map((b) => decodeRequest(new LocalBytes(b), 0));
    const geo = fc.record({ sectors: fc.nat({ max: 1 << 24 }), readOnly: fc.boolean(), flush: fc.boolean(), discard: fc.boolean() });
    fc.assert(
      fc.property(req, geo, fc.nat({ max: 255 }), fc.nat({ max: 15 }), (r, g, op, nseg) => {
        // bias towards plausible requests: a chosen operation and a small segment count
        if (r.kind === 'rw' && op < 4) Object.assign(r, { operation: op, nrSegments: nseg, segments: r.segments.concat(Array(11).fill({ gref: 1, firstSect: 0, lastSect: 7 })).slice(0, Math.min(nseg, 11)) });
        const c = checkRequest(r, g);
        if (!c.ok) return (c.status === BLKIF_RSP.ERROR || c.status === BLKIF_RSP.EOPNOTSUPP) && c.id === r.id;
        if (c.op === 'discard') return g.discard && !g.readOnly && c.sector + c.nrSectors <= g.sectors;
        const segsOk = c.segments.length <= 11 && c.segments.every((s) => s.firstSect <= s.lastSect && s.lastSect < 8);
        const inside = c.nrSectors === 0 || c.sector + c.nrSectors <= g.sectors;
        const writeOk = c.op === 'read' || !g.readOnly || c.nrSectors === 0;
        return segsOk && inside && writeOk && (c.op !== 'flush' || g.flush) && (c.nrSectors > 0 || c.op === 'flush');
      }),
      { numRuns: 20_000, seed: 7 },
    );
  });
});
