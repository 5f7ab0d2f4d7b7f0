/**
 * The discrete-event engine: it owns virtual time.
 *
 * Design: a heap of (time, priority, sequence) events, as SimPy's Environment. Handlers run at the
 * current instant and may schedule more events at the same or later instants; nothing but `run`
 * advances `now`. Guest code runs synchronously inside handlers (coroutines resumed by the
 * executor), so time advances only once every resumed guest has parked.
 *
 * Invariants: `now` never decreases; an event scheduled in the past is a bug in trusted code
 * (throws); events at equal (time, prio) run in scheduling order.
 */
import { EventHeap, type HeapEntry } from './heap';
import { RngStreams } from './rng';
import type { Ns } from './time';

/** Priorities at one instant: lower runs first. */
export const Prio = {
  /** Timer expiry and device interrupts: state changes that others at this instant should see. */
  TIMER: 0,
  /** Guest dispatch: upcalls, burst completions, resuming coroutines. */
  GUEST: 10,
  /** The scheduling softirq: runs after every state change at this instant. */
  SCHED: 20,
  /** Observers that sample state after it settled (tools, statistics). */
  OBSERVE: 30,
} as const;

export interface Clock {
  now(): Ns;
}

export interface EventHandle {
  readonly time: Ns;
  cancel(): void;
  readonly pending: boolean;
}

class Handle implements EventHandle {
  constructor(private e: HeapEntry) {}
  get time(): Ns {
    return this.e.time;
  }
  get pending(): boolean {
    return this.e.fn !== null;
  }
  cancel(): void {
    this.e.fn = null;
  }
}

export class Engine implements Clock {
  private heap = new EventHeap();
  private seq = 0;
  private t: Ns = 0;
  private stopped = false;
  /** Number of events executed (for benchmarks and runaway checks). */
  executed = 0;
  readonly rng: RngStreams;

  constructor(seed = 1) {
    this.rng = new RngStreams(seed);
  }

  now(): Ns {
    return this.t;
  }

  /** Schedule `fn` at absolute time `time`. */
  at(time: Ns, prio: number, fn: () => void): EventHandle {
    if (time < this.t) throw new Error(`engine: event scheduled in the past (${time} < ${this.t})`);
    if (!Number.isSafeInteger(time)) throw new Error(`engine: non-integer event time ${time}`);
    const e: HeapEntry = { time, prio, seq: this.seq++, fn };
    this.heap.push(e);
    return new Handle(e);
  }

  after(delay: Ns, prio: number, fn: () => void): EventHandle {
    return this.at(this.t + delay, prio, fn);
  }

  /** Run the next live event; false when none is left. */
  step(): boolean {
    for (;;) {
      const e = this.heap.pop();
      if (!e) return false;
      const fn = e.fn;
      if (!fn) continue;
      e.fn = null;
      this.t = e.time;
      this.executed++;
      fn();
      return true;
    }
  }

  /** Time of the next live event, or undefined. */
  peekTime(): Ns | undefined {
    for (;;) {
      const e = this.heap.peek();
      if (!e) return undefined;
      if (e.fn) return e.time;
      this.heap.pop();
    }
  }

  /**
   * Run events up to and including `until`, then set `now = until`. Without `until`, run until the
   * queue is empty or `stop()` is called.
   */
  run(until?: Ns): void {
    this.stopped = false;
    while (!this.stopped) {
      const next = this.peekTime();
      if (next === undefined) break;
      if (until !== undefined && next > until) break;
      this.step();
    }
    if (until !== undefined && !this.stopped && until > this.t) this.t = until;
  }

  /** Make `run` return after the current event. */
  stop(): void {
    this.stopped = true;
  }

  get queued(): number {
    return this.heap.size;
  }
}
