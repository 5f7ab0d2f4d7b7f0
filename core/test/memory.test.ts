import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LazyFrameStore, MemoryManager, P2mType, domid, gfn, GuestFault } from '../src/index';

describe('memory manager', () => {
  it('frames are allocated lazily, scrubbed when freed, and conserved', () => {
    const store = new LazyFrameStore(64);
    const mm = new MemoryManager(store);
    const d = mm.createDomain(domid(1), 8);
    expect(mm.populate(d, 0, 8)).toBe(true);
    expect(store.residentFrames).toBe(0); // nothing touched yet
    d.view.setU32(3 * 4096, 0xcafe);
    expect(store.residentFrames).toBe(1);
    const mfn = d.p2m.lookup(3);
    expect(mm.populate(d, 8, 1)).toBe(false); // over max_pages
    expect(mm.depopulate(d, 3)).toBe(true);
    expect(store.touched(mfn as never)).toBe(false); // scrubbed
    const e = mm.createDomain(domid(2), 64);
    expect(mm.populate(e, 0, 57)).toBe(true); // every other frame
    expect(e.p2m.lookup(0)).toBe(mfn); // the freed frame is reused first...
    expect(e.view.getU32(0)).toBe(0); // ...and reads as zeros
    expect(mm.checkInvariants()).toEqual([]);
    expect(mm.freeFrames).toBe(0);
    expect(mm.populate(e, 100, 1)).toBe(false); // machine full
  });

  it('a guest view faults outside its physmap', () => {
    const mm = new MemoryManager(new LazyFrameStore(16));
    const d = mm.createDomain(domid(1), 2);
    mm.populate(d, 0, 2);
    expect(() => d.view.getU8(2 * 4096)).toThrow(GuestFault);
    expect(() => d.view.setU32(2 * 4096 - 2, 1)).toThrow(GuestFault); // straddles into an unmapped frame
    expect(() => d.view.getU8(-1)).toThrow(GuestFault);
    d.view.setU32(4096 - 2, 0x11223344); // straddles two mapped frames
    expect(d.view.getU32(4096 - 2)).toBe(0x11223344);
  });

  it('random populate/depopulate/map sequences keep every invariant (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('pop', 'depop', 'map', 'unmap', 'teardown'), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 4 })), { maxLength: 80 }),
        (ops) => {
          const mm = new MemoryManager(new LazyFrameStore(96));
          const doms = [1, 2, 3].map((i) => mm.createDomain(domid(i), 30));
          for (const [kind, di, g, n] of ops) {
            const d = doms[di];
            if (!mm.domain(d.domid)) continue;
            if (kind === 'pop') mm.populate(d, g, n);
            else if (kind === 'depop') mm.depopulate(d, g);
            else if (kind === 'map') {
              const src = doms[(di + 1) % 3];
              if (mm.domain(src.domid) && src.p2m.type(g) === P2mType.ram) mm.mapForeign(d, gfn(100 + n), src.p2m.lookup(g) as never, P2mType.grantRw);
            } else if (kind === 'unmap') mm.unmapAny(d, gfn(100 + n));
            else mm.teardown(d);
            expect(mm.checkInvariants()).toEqual([]);
          }
        },
      ),
      { seed: 7, numRuns: 150 },
    );
  });
});
