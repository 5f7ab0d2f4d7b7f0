import { describe, expect, it } from 'vitest';
import { Engine } from '@xenotype/core';
import { RealtimePacer, type PacerClock } from '../tools/src/host/realtime';

/** A fake wall clock whose timers fire only when the test advances time. */
function fakeClock() {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const clock: PacerClock = {
    nowNs: () => now,
    setTimer: (ms, fn) => {
      const t = { at: now + ms * 1e6, fn };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ns: number) => {
    now += ns;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > now) break;
      timers.shift();
      t.fn();
    }
  };
  return { clock, advance, timers };
}

describe('real-time pacing (SimPy rt: virtual time = wall time since start)', () => {
  it('runs events when the wall clock reaches them, and keeps virtual time at wall time when idle', () => {
    const e = new Engine();
    const { clock, advance } = fakeClock();
    const ran: number[] = [];
    for (const t of [1e6, 5e6, 20e6]) e.at(t, 0, () => ran.push(e.now()));
    const p = new RealtimePacer(e, { clock, leadNs: 0 });
    p.start();
    expect(ran).toEqual([]);
    advance(1e6);
    expect(ran).toEqual([1e6]);
    advance(10e6);
    expect(ran).toEqual([1e6, 5e6]);
    advance(100e6);
    expect(ran).toEqual([1e6, 5e6, 20e6]);
    p.pump();
    expect(e.now()).toBe(111e6); // idle: virtual time follows the wall clock
    p.stop();
  });

  it('injected input runs at the current instant and what it causes within the lead runs at once', () => {
    const e = new Engine();
    const { clock, advance } = fakeClock();
    const p = new RealtimePacer(e, { clock, leadNs: 2e6 });
    p.start();
    advance(7e6);
    const seen: number[] = [];
    p.inject(() => {
      seen.push(e.now());
      e.after(10_000, 0, () => seen.push(e.now())); // 10 µs of modelled work
      e.after(50e6, 0, () => seen.push(e.now())); // far in the future: waits for the clock
    });
    expect(seen).toEqual([7e6, 7e6 + 10_000]);
    advance(47e6); // 54 ms: the 57 ms event is beyond wall + lead (2 ms)
    expect(seen).toHaveLength(2);
    advance(3e6);
    expect(seen).toEqual([7e6, 7e6 + 10_000, 57e6]);
    expect(p.drift).toBe(0);
    p.stop();
  });

  it('never lets virtual time run more than the lead ahead of the wall clock', () => {
    const e = new Engine();
    const { clock, advance } = fakeClock();
    let n = 0;
    const tick = () => {
      n++;
      e.after(100_000, 0, tick); // an event every 100 µs, forever
    };
    e.at(0, 0, tick);
    const p = new RealtimePacer(e, { clock, leadNs: 1e6 });
    p.start();
    expect(e.now()).toBeLessThanOrEqual(1e6);
    advance(10e6);
    expect(e.now()).toBeGreaterThanOrEqual(10e6);
    expect(e.now()).toBeLessThanOrEqual(11e6);
    expect(n).toBeGreaterThan(100);
    p.stop();
  });
});
