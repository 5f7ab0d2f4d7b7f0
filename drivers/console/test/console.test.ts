/**
 * The console protocol alone: a frontend and a backend over one xencons_interface page, with an
 * event channel that only counts notifications — the test plays the daemon between steps.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferBytes } from '@xenotype/core';
import { CONSOLE_IN, CONSOLE_OUT, ConsoleBackend, ConsoleFrontend } from '@xenotype/console';
import type { Co, EventChannelCap } from '@xenotype/xenbus';

/** An event channel for one port: notify() counts; wait() yields once, then runs `onWait` (the daemon). */
function channel(onWait: () => void = () => {}) {
  let gen = 0;
  const ch = {
    notified: 0,
    deliver: () => void gen++,
    cap: {
      allocUnbound: () => 1,
      bindInterdomain: () => 1,
      notify: () => void ch.notified++,
      close: () => {},
      generation: () => gen,
      *wait(_p: number, seen: number): Co<number> {
        while (gen <= seen) {
          yield 'wait';
          onWait();
        }
        return gen;
      },
    } satisfies EventChannelCap,
  };
  return ch;
}

function drive<T>(co: Co<T>, limit = 100_000): T {
  for (let i = 0; i < limit; i++) {
    const r = co.next();
    if (r.done) return r.value;
  }
  throw new Error('coroutine did not finish');
}

const page = () => new BufferBytes(new Uint8Array(4096));
const text = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('');

describe('console frontend and backend', () => {
  it('send() writes what fits in the 2048-byte ring and drops the rest, as Mini-OS does', () => {
    const mem = page();
    const ch = channel();
    const fe = new ConsoleFrontend(mem, 0, 1, ch.cap);
    expect(fe.send(text(3000))).toBe(2048);
    expect(fe.dropped).toBe(952);
    expect(ch.notified).toBe(1);
    expect(fe.send('x')).toBe(0);
    expect(ch.notified).toBe(1); // nothing moved, nobody to tell
    const be = new ConsoleBackend(mem, 0);
    const r = be.pump();
    expect(new TextDecoder().decode(r.output)).toBe(text(3000).slice(0, 2048));
    expect(r.notify).toBe(true);
  });

  it('write() waits for the daemon whenever the ring is full; every byte arrives in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 2048 }), (sizes, bite) => {
        const mem = page();
        const be = new ConsoleBackend(mem, 0);
        const got: number[] = [];
        // the daemon consumes at most `bite` bytes per wake-up, then notifies
        const daemon = () => {
          const r = be.pump(bite);
          got.push(...r.output);
          if (r.notify) ch.deliver();
        };
        const ch = channel(daemon);
        const fe = new ConsoleFrontend(mem, 0, 1, ch.cap);
        const all: number[] = [];
        for (const n of sizes) {
          const b = new TextEncoder().encode(text(n));
          all.push(...b);
          expect(drive(fe.write(b))).toBe(n);
        }
        while (got.length < all.length) daemon();
        expect(got).toEqual(all);
        if (all.length > 2048) expect(fe.waits).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  it('input: the backend queues what does not fit in the 1024-byte ring and delivers it as the guest reads', () => {
    const mem = page();
    const ch = channel();
    const fe = new ConsoleFrontend(mem, 0, 1, ch.cap);
    const be = new ConsoleBackend(mem, 0);
    const input = new TextEncoder().encode(text(2500));
    be.queueInput(input);
    const got: number[] = [];
    for (let i = 0; i < 10 && got.length < input.length; i++) {
      const r = be.pump();
      expect(r.delivered).toBeLessThanOrEqual(1024);
      got.push(...fe.receive());
    }
    expect(got).toEqual([...input]);
    expect(be.queuedInput).toBe(0);
    expect(ch.notified).toBe(3); // the guest tells the daemon each time it made room
  });

  it('read() waits for input and returns it', () => {
    const mem = page();
    const be = new ConsoleBackend(mem, 0);
    let woken = 0;
    const ch = channel(() => {
      if (woken++ === 2) {
        be.queueInput(new TextEncoder().encode('hello\n'));
        be.pump();
        ch.deliver();
      }
    });
    const fe = new ConsoleFrontend(mem, 0, 1, ch.cap);
    expect(new TextDecoder().decode(drive(fe.read()))).toBe('hello\n');
  });

  it('indices out of range fault that end; nothing throws, nothing more moves', () => {
    const mem = page();
    const be = new ConsoleBackend(mem, 0);
    mem.setU32(CONSOLE_OUT.prod, 5000); // a guest claiming 5000 bytes in a 2048-byte ring
    const r = be.pump();
    expect(r.output.length).toBe(0);
    expect(be.fault?.code).toBe('peer-index-out-of-range');
    const mem2 = page();
    const fe = new ConsoleFrontend(mem2, 0, 1, channel().cap);
    mem2.setU32(CONSOLE_IN.prod, 0xfffffff0); // a daemon claiming far too much input
    expect(fe.receive().length).toBe(0);
    expect(drive(fe.read())).toEqual(new Uint8Array(0));
    expect(fe.fault).not.toBeNull();
  });
});
