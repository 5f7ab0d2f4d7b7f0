/**
 * The console backend: the daemon's side of one guest's xencons_interface page (xenconsoled's
 * buffer_append and its tty → ring path), as a pure step function.
 *
 * pump() moves bytes both ways — all output waiting in `out` is collected, and queued input is
 * written into `in` as far as it fits (the rest stays queued for the next pump) — and returns what
 * it collected and whether the guest must be notified (it must whenever an index moved: the guest
 * may be waiting for room to write, or for input). The caller (a daemon) owns event channels,
 * mapping and logs; the backend never notifies and never throws on guest input: a guest that
 * corrupts its indices faults that direction, which then moves nothing (xenconsoled likewise
 * ignores a ring with more than sizeof(out) bytes in flight).
 */
import type { ByteAccess } from '@xenotype/core';
import { StreamReader, StreamWriter, type StreamFault } from '@xenotype/ring';
import { CONSOLE_IN, CONSOLE_OUT } from './layout';

export interface PumpResult {
  /** Output collected from the guest, in order. */
  readonly output: Uint8Array;
  /** Input bytes delivered into the guest's ring. */
  readonly delivered: number;
  /** Whether to notify the guest (an index moved). */
  readonly notify: boolean;
}

export class ConsoleBackend {
  private readonly out: StreamReader;
  private readonly in: StreamWriter;
  private queued: Uint8Array[] = [];

  constructor(mem: ByteAccess, addr: number) {
    this.out = new StreamReader(mem, addr, CONSOLE_OUT);
    this.in = new StreamWriter(mem, addr, CONSOLE_IN);
  }

  get fault(): StreamFault | null {
    return this.out.fault ?? this.in.fault;
  }

  /** Input queued and not yet delivered. */
  get queuedInput(): number {
    return this.queued.reduce((n, b) => n + b.length, 0);
  }

  /** Queue input for the guest; delivered by the next pump(). */
  queueInput(data: Uint8Array): void {
    if (data.length > 0) this.queued.push(data);
  }

  /** Move bytes both ways; `maxOutput` bounds the output taken (a daemon rate-limiting a chatty guest). */
  pump(maxOutput = Infinity): PumpResult {
    const output = this.out.read(maxOutput);
    let delivered = 0;
    while (this.queued.length > 0) {
      const head = this.queued[0];
      const n = this.in.write(head);
      delivered += n;
      if (n < head.length) {
        this.queued[0] = head.subarray(n);
        break;
      }
      this.queued.shift();
    }
    return { output, delivered, notify: output.length > 0 || delivered > 0 };
  }
}
