/**
 * The disk model and the VBD scheduler alone, on a tiny fake runtime (threads are the coroutines
 * the scheduler spawns; sleeping advances a fake clock): round-robin batches between clients as
 * the paper's Xen serves domains, C-LOOK elevator order, service times, and removal of a client.
 */
import { describe, expect, it } from 'vitest';
import { DISK_MODELS, DiskScheduler, serviceNs, type DiskJob, type DiskJobKind } from '@xenotype/blk';
import type { Co, WaitQueue } from '@xenotype/xenbus';

type Token = { sleep: number } | { q: { gen: number }; seen: number };

/** A cooperative runtime for the scheduler's thread: run until every thread waits with nothing to wake it. */
class Sim {
  now = 0;
  private readonly threads: { gen: Co<unknown>; block: Token | null; done: boolean }[] = [];
  readonly logs: string[] = [];
  readonly caps = {
    time: {
      now: () => this.now,
      sleep: (ns: number): Co<void> => (function* (sim: Sim) {
        yield { sleep: sim.now + ns } satisfies Token;
      })(this),
      compute: (ns: number): Co<void> => (function* (sim: Sim) {
        yield { sleep: sim.now + ns } satisfies Token;
      })(this),
    },
    spawn: (_name: string, body: Co<unknown>) => void this.threads.push({ gen: body, block: null, done: false }),
    waitQueue: (): WaitQueue => {
      const q = { gen: 0 };
      return {
        get generation() {
          return q.gen;
        },
        wake: () => void q.gen++,
        *wait(seen: number): Co<number> {
          while (q.gen <= seen) yield { q, seen } satisfies Token;
          return q.gen;
        },
      };
    },
    log: (l: string) => void this.logs.push(l),
  };

  private runnable(b: Token | null): boolean {
    if (!b) return true;
    return 'sleep' in b ? b.sleep <= this.now : b.q.gen > b.seen;
  }

  /** Run one step of the first runnable thread; false if none is runnable now. */
  step(): boolean {
    const t = this.threads.find((x) => !x.done && this.runnable(x.block));
    if (!t) return false;
    const r = t.gen.next();
    if (r.done) t.done = true;
    else t.block = r.value as Token;
    return true;
  }

  run(): void {
    for (let guard = 0; guard < 1e6; guard++) {
      const t = this.threads.find((x) => !x.done && this.runnable(x.block));
      if (t) {
        const r = t.gen.next();
        if (r.done) t.done = true;
        else t.block = r.value as Token;
        continue;
      }
      const wake = this.threads.filter((x) => !x.done && x.block && 'sleep' in x.block).map((x) => (x.block as { sleep: number }).sleep);
      if (wake.length === 0) return;
      this.now = Math.min(...wake);
    }
    throw new Error('runaway');
  }
}

const job = (kind: DiskJobKind, offset: number, bytes: number, log: string[], tag: string): DiskJob => ({
  kind,
  offset,
  bytes,
  *run() {
    log.push(tag);
  },
});

const runs = (order: string[]) => {
  const out: [string, number][] = [];
  for (const t of order) {
    const c = t[0];
    if (out.length && out[out.length - 1][0] === c) out[out.length - 1][1]++;
    else out.push([c, 1]);
  }
  return out;
};

describe('disk scheduler', () => {
  it('serves clients in round-robin batches of 16, refilling below 32 pending, at most 64 pending', () => {
    const sim = new Sim();
    const d = new DiskScheduler(sim.caps, { model: DISK_MODELS.instant });
    const a = d.addClient('a', 1 << 20);
    const b = d.addClient('b', 1 << 20);
    const order: string[] = [];
    for (let i = 0; i < 40; i++) d.submit(a, job('flush', 0, 0, order, `a${i}`));
    for (let i = 0; i < 40; i++) d.submit(b, job('flush', 0, 0, order, `b${i}`));
    sim.run();
    expect(runs(order)).toEqual([
      ['a', 16],
      ['b', 16],
      ['a', 16],
      ['b', 16],
      ['a', 8],
      ['b', 8],
    ]);
    expect(d.stats.maxPending).toBe(64);
    // each client's own requests stay in order when they have no position
    expect(order.filter((t) => t[0] === 'a')).toEqual(Array.from({ length: 40 }, (_, i) => `a${i}`));
  });

  it('a client with little to do is not starved by one with a lot (the paper\'s disk hog)', () => {
    const sim = new Sim();
    const d = new DiskScheduler(sim.caps, { model: DISK_MODELS.instant });
    const hog = d.addClient('h', 1 << 20);
    const small = d.addClient('s', 1 << 20);
    const order: string[] = [];
    for (let i = 0; i < 200; i++) d.submit(hog, job('flush', 0, 0, order, `h${i}`));
    d.submit(small, job('flush', 0, 0, order, 's0'));
    sim.run();
    expect(order.indexOf('s0')).toBe(16); // right after the hog's first batch
  });

  it('policy fifo: one queue in arrival order — the hog\'s backlog goes first (the isolation experiment\'s control)', () => {
    const sim = new Sim();
    const d = new DiskScheduler(sim.caps, { model: DISK_MODELS.instant, policy: 'fifo' });
    const hog = d.addClient('h', 1 << 20);
    const small = d.addClient('s', 1 << 20);
    const order: string[] = [];
    for (let i = 0; i < 40; i++) d.submit(hog, job('flush', 0, 0, order, `h${i}`));
    d.submit(small, job('flush', 0, 0, order, 's0'));
    for (let i = 40; i < 45; i++) d.submit(hog, job('flush', 0, 0, order, `h${i}`));
    sim.run();
    expect(order.indexOf('s0')).toBe(40); // after every request that arrived before it, none after
    // positioned requests are served in arrival order too: no elevator
    const sim2 = new Sim();
    const e = new DiskScheduler(sim2.caps, { model: DISK_MODELS.dk32ej, policy: 'fifo' });
    const c = e.addClient('c', 1 << 30);
    const got: string[] = [];
    for (const off of [5, 1, 9, 3]) e.submit(c, job('read', off << 20, 4096, got, `r${off}`));
    sim2.run();
    expect(got).toEqual(['r5', 'r1', 'r9', 'r3']);
  });

  it('serves positioned requests in C-LOOK order from the head, wrapping to the lowest', () => {
    const sim = new Sim();
    const d = new DiskScheduler(sim.caps, { model: DISK_MODELS.dk32ej });
    const c = d.addClient('c', 1 << 20);
    const order: string[] = [];
    d.submit(c, job('read', 6 * 4096, 4096, order, '6'));
    sim.run(); // the head is now at 7 * 4096
    for (const k of [5, 1, 9, 3, 7]) d.submit(c, job('write', k * 4096, 4096, order, String(k)));
    sim.run();
    expect(order).toEqual(['6', '7', '9', '1', '3', '5']);
    // 7 follows 6 directly; the others each pay a positioning
    expect(d.stats.positionings).toBe(1 + 4);
    const m = DISK_MODELS.dk32ej;
    const transfer = (4096 / m.bytesPerSecond) * 1e9;
    expect(Math.abs(sim.now - (6 * m.commandNs + 5 * m.positionNs + 6 * transfer))).toBeLessThan(10);
  });

  it('service time is command + positioning (when not contiguous) + transfer (+ flush)', () => {
    const m = { commandNs: 100, positionNs: 5000, bytesPerSecond: 1e9, flushNs: 777 };
    expect(serviceNs(m, 'read', 4096, 4096, 4096)).toBe(100 + 4096);
    expect(serviceNs(m, 'write', 0, 4096, 4096)).toBe(100 + 5000 + 4096);
    expect(serviceNs(m, 'flush', 0, 0, 4096)).toBe(100 + 777);
    expect(serviceNs(m, 'write', 4096, 512, 4096, true)).toBe(100 + 512 + 777);
    expect(serviceNs(m, 'discard', 0, 0, 99)).toBe(100);
    expect(serviceNs(DISK_MODELS.instant, 'write', 0, 1 << 20, 5)).toBe(0);
  });

  it('a removed client\'s queued, pending and in-service jobs never run', () => {
    const sim = new Sim();
    const d = new DiskScheduler(sim.caps, { model: { commandNs: 1000, positionNs: 0, bytesPerSecond: Infinity, flushNs: 0 } });
    const a = d.addClient('a', 1 << 20);
    const b = d.addClient('b', 1 << 20);
    const order: string[] = [];
    for (let i = 0; i < 50; i++) d.submit(a, job('flush', 0, 0, order, `a${i}`));
    d.submit(b, job('flush', 0, 0, order, 'b0'));
    // let the disk start its first job, then remove a
    expect(sim.step()).toBe(true); // the disk thread takes a0 and sleeps for its service time
    d.removeClient(a);
    d.submit(a, job('flush', 0, 0, order, 'late'));
    sim.run();
    expect(order).toEqual(['b0']);
    expect(d.backlog).toBe(0);
  });
});
