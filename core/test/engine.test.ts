import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, EventHeap, Prio, RngStreams } from '../src/index';

describe('engine', () => {
  it('runs events in (time, priority, sequence) order', () => {
    const e = new Engine();
    const seen: string[] = [];
    e.at(10, Prio.SCHED, () => seen.push('10s'));
    e.at(10, Prio.TIMER, () => seen.push('10t-a'));
    e.at(5, Prio.OBSERVE, () => seen.push('5'));
    e.at(10, Prio.TIMER, () => seen.push('10t-b'));
    e.at(10, Prio.GUEST, () => {
      seen.push('10g');
      e.at(10, Prio.TIMER, () => seen.push('10t-late')); // same instant, scheduled later
    });
    e.run();
    expect(seen).toEqual(['5', '10t-a', '10t-b', '10g', '10t-late', '10s']);
  });

  it('cancelled events never run; run(until) stops there and sets now; the past is refused', () => {
    const e = new Engine();
    let n = 0;
    const h = e.at(5, 0, () => n++);
    e.at(20, 0, () => n++);
    h.cancel();
    expect(h.pending).toBe(false);
    e.run(15);
    expect(n).toBe(0);
    expect(e.now()).toBe(15);
    expect(() => e.at(10, 0, () => {})).toThrow(/past/);
    expect(() => e.at(16.5, 0, () => {})).toThrow(/non-integer/);
    e.run();
    expect(n).toBe(1);
    expect(e.now()).toBe(20);
  });

  it('the heap pops in key order for any insertion order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }), (keys) => {
        const h = new EventHeap();
        keys.forEach(([t, p], i) => h.push({ time: t, prio: p, seq: i, fn: null }));
        const out: [number, number, number][] = [];
        for (let e = h.pop(); e; e = h.pop()) out.push([e.time, e.prio, e.seq]);
        const sorted = [...out].sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
        expect(out).toEqual(sorted);
        expect(out.length).toBe(keys.length);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('random streams are deterministic per (seed, name) and independent of each other', () => {
    const a = new RngStreams(7);
    const b = new RngStreams(7);
    const x = Array.from({ length: 5 }, () => a.stream('dom:1').int(0, 1e9));
    b.stream('dom:2').int(0, 1e9); // drawing from another stream first changes nothing
    const y = Array.from({ length: 5 }, () => b.stream('dom:1').int(0, 1e9));
    expect(y).toEqual(x);
    const z = Array.from({ length: 5 }, () => new RngStreams(8).stream('dom:1').int(0, 1e9));
    expect(z).not.toEqual(x);
  });
});
