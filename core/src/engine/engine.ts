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
 *
 * Real time (a `RealClock` given): `now` is the clock's monotonic time, read on every call; an
 * event runs once the clock reaches it, and the engine waits for it through the clock, which is
 * where the outside world (real vCPUs' exits) gets its turn. An event "in the past" is simply due.
 * Virtual runs never take these paths.
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

/** A monotonic real-time clock for the engine (tools provide it; core never reads host time). */
export interface RealClock {
  /** Monotonic time in ns (its origin is the engine's time 0). */
  now(): Ns;
  /**
   * Block until `deadline` (ns; Infinity for none) or until outside input was handled, which may
   * have scheduled events. Returns false when nothing outside can ever happen (then the engine does
   * not wait for an empty queue).
   */
  wait(deadline: Ns): boolean;
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

  constructor(
    seed = 1,
    /** Real time instead of virtual time (see the header). */
    readonly clock?: RealClock,
  ) {
    this.rng = new RngStreams(seed);
    if (clock) this.t = Math.max(0, Math.floor(clock.now()));
  }

  now(): Ns {
    if (this.clock) {
      const c = Math.floor(this.clock.now());
      if (c > this.t) this.t = c;
    }
    return this.t;
  }

  /** Schedule `fn` at absolute time `time`. */
  at(time: Ns, prio: number, fn: () => void): EventHandle {
    if (this.clock && time < this.t) time = this.t;
    if (time < this.t) throw new Error(`engine: event scheduled in the past (${time} < ${this.t})`);
    if (!Number.isSafeInteger(time)) throw new Error(`engine: non-integer event time ${time}`);
    const e: HeapEntry = { time, prio, seq: this.seq++, fn };
    this.heap.push(e);
    return new Handle(e);
  }

  after(delay: Ns, prio: number, fn: () => void): EventHandle {
    return this.at(this.now() + delay, prio, fn);
  }

  /** Run the next live event (in real time, once it is due); false when none is left. */
  step(): boolean {
    if (this.clock) return this.stepReal(this.clock);
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

  private stepReal(clock: RealClock): boolean {
    for (;;) {
      const next = this.peekTime();
      if (next === undefined) {
        if (!clock.wait(Infinity)) return false;
        continue;
      }
      if (next > this.now()) {
        clock.wait(next);
        continue;
      }
      const e = this.heap.pop()!;
      const fn = e.fn!;
      e.fn = null;
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
    if (this.clock) return this.runReal(this.clock, until);
    while (!this.stopped) {
      const next = this.peekTime();
      if (next === undefined) break;
      if (until !== undefined && next > until) break;
      this.step();
    }
    if (until !== undefined && !this.stopped && until > this.t) this.t = until;
  }

  /** Real time: run events as they fall due until the clock reaches `until` (or the queue empties and nothing outside remains). */
  private runReal(clock: RealClock, until: Ns = Infinity): void {
    while (!this.stopped) {
      const now = this.now();
      const next = this.peekTime();
      if (next !== undefined && next <= now && next <= until) {
        this.step();
        continue;
      }
      if (now >= until) break;
      if (!clock.wait(Math.min(next ?? Infinity, until)) && next === undefined) break;
    }
  }

  /** Make `run` return after the current event. */
  stop(): void {
    this.stopped = true;
  }

  get queued(): number {
    return this.heap.size;
  }
}
