/**
 * Cooperative threads on one vCPU, as Mini-OS schedules its threads: a thread runs until it
 * computes (the vCPU is busy), waits, or yields. Waits count generations ("wake me on a signal
 * newer than N"), so a notification that arrives while nobody waits is never lost.
 */
import { compute, type Ns, type Wait } from '@xenotype/core';

export type ThreadOp = Wait | { readonly kind: 'wait' } | { readonly kind: 'yield' };
export type ThreadBody = Generator<ThreadOp, unknown, void>;

export const WAIT: ThreadOp = { kind: 'wait' };
export const YIELD: ThreadOp = { kind: 'yield' };

export class Thread {
  done = false;
  result: unknown = undefined;
  error: unknown = undefined;
  /** Absolute system time to wake at, when sleeping with a deadline. */
  wakeAt: Ns = Infinity;
  runnable = true;
  readonly joined = new Signal();
  constructor(
    readonly name: string,
    readonly gen: ThreadBody,
    readonly vcpu: number,
  ) {}
}

/** A counter of notifications; threads wait for a generation newer than one they saw. */
export class Signal {
  gen = 0;
  readonly waiters = new Set<Thread>();
  /** Bump the generation and make every waiter runnable. */
  notify(wake: (t: Thread) => void = (t) => (t.runnable = true)): void {
    this.gen++;
    for (const t of this.waiters) wake(t);
    this.waiters.clear();
  }
}

export { compute };
