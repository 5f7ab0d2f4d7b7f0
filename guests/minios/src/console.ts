/**
 * The guest's PV console (Mini-OS's console/xencons_ring.c): @xenotype/console's frontend over
 * this domain's console page (start_info.console.domU.mfn, a gfn for us) and event channel, with
 * MiniOS-typed coroutines so applications can `yield*` them from their threads.
 */
import type { ConsoleFrontend } from '@xenotype/console';
import type { ThreadOp } from './threads';
import { asThread as ops } from './caps';

export class PvConsole {
  constructor(readonly frontend: ConsoleFrontend) {}

  /** Write what fits now and notify the daemon; never waits (what does not fit is dropped). */
  send(data: string | Uint8Array): number {
    return this.frontend.send(data);
  }

  /** Write every byte, waiting for the daemon to make room; returns the bytes written. */
  *write(data: string | Uint8Array, deadline?: number): Generator<ThreadOp, number, void> {
    return yield* ops(this.frontend.write(data, deadline));
  }

  /** Input available now, without waiting. */
  receive(max?: number): Uint8Array {
    return this.frontend.receive(max);
  }

  /** Wait for input; empty at `deadline`. */
  *read(deadline?: number): Generator<ThreadOp, Uint8Array, void> {
    return yield* ops(this.frontend.read(deadline));
  }

  /** Bytes printk could not place because the ring was full. */
  get dropped(): number {
    return this.frontend.dropped;
  }
}
