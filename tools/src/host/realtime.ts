/**
 * Real-time pacing of the engine (SimPy's RealtimeEnvironment, `rt.py`): virtual time = wall time
 * since start. Only `step` changes — the engine and everything in it stay deterministic code; the
 * wall clock and the host's timers live here, in tools, never in core.
 *
 * `pump()` runs every event due by the wall clock (and advances virtual time to the wall clock even
 * when idle), then lets the engine run ahead of the wall clock by at most `leadNs` without jumping
 * time, so a request's modelled microseconds of work do not each wait for a host timer (whose
 * resolution is a millisecond). It then arms one host timer for the next event. Virtual time may
 * lag behind the wall clock when the host is busy (SimPy's non-strict mode); it catches up at the
 * next pump.
 *
 * `inject(fn)` runs `fn` as an engine event at the current instant (live input: a socket's bytes),
 * then pumps at once, so replies leave with the least latency.
 */
import { Prio, type Engine, type Ns } from '@xenotype/core';

export interface PacerClock {
  /** Wall time in ns (any origin; only differences matter). */
  nowNs(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(t: unknown): void;
}

export const HOST_CLOCK: PacerClock = {
  nowNs: () => performance.now() * 1e6,
  setTimer: (ms, fn) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

export interface PacerOptions {
  /** How far virtual time may run ahead of the wall clock (default 2 ms). */
  leadNs?: Ns;
  clock?: PacerClock;
  /** Called after each pump (e.g. to flush host I/O or check for stop conditions). */
  onPump?: () => void;
}

export class RealtimePacer {
  readonly leadNs: Ns;
  private readonly clock: PacerClock;
  private wall0 = 0;
  private virt0 = 0;
  private timer: unknown = null;
  private timerAt = Infinity;
  private running = false;
  private pumping = false;
  /** Pumps run and events stepped (statistics). */
  pumps = 0;

  constructor(
    readonly engine: Engine,
    private readonly opts: PacerOptions = {},
  ) {
    this.leadNs = opts.leadNs ?? 2_000_000;
    this.clock = opts.clock ?? HOST_CLOCK;
  }

  /** Virtual time the wall clock says it is now. */
  wallNs(): Ns {
    return this.virt0 + Math.max(0, Math.floor(this.clock.nowNs() - this.wall0));
  }

  /** Virtual time now minus wall-clock time: > 0 while running ahead, < 0 while lagging. */
  get drift(): Ns {
    return this.engine.now() - this.wallNs();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wall0 = this.clock.nowNs();
    this.virt0 = this.engine.now();
    this.pump();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Run `fn` as an event at the current instant, then pump. */
  inject(fn: () => void): void {
    const e = this.engine;
    if (this.pumping || !this.running) {
      e.at(e.now(), Prio.TIMER, fn);
      return;
    }
    const w = this.wallNs();
    if (w > e.now()) e.run(w);
    e.at(e.now(), Prio.TIMER, fn);
    this.pump(w);
  }

  /** Run what is due, arm the timer for what is next. */
  pump(wallNow?: Ns): void {
    if (!this.running || this.pumping) return;
    this.pumping = true;
    this.pumps++;
    try {
      const e = this.engine;
      const w = wallNow ?? this.wallNs();
      if (w > e.now()) e.run(w);
      const limit = w + this.leadNs;
      for (;;) {
        const t = e.peekTime();
        if (t === undefined || t > limit) break;
        e.step();
      }
    } finally {
      this.pumping = false;
    }
    this.opts.onPump?.();
    this.arm();
  }

  private arm(): void {
    if (!this.running) return;
    const next = this.engine.peekTime();
    if (next === undefined) {
      if (this.timer !== null) this.clock.clearTimer(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer !== null && this.timerAt <= next) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    const delayMs = Math.max(0, (next - this.leadNs - this.wallNs()) / 1e6);
    this.timerAt = next;
    this.timer = this.clock.setTimer(delayMs, () => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
    });
  }
}
