/**
 * The PV console frontend (Mini-OS's xencons_ring.c, Linux's hvc_xen): the guest side of a
 * struct xencons_interface page. Output goes into `out`, input comes from `in`; after moving bytes
 * either way the guest notifies the daemon on the console event channel.
 *
 * Built over capabilities only (the page's bytes and an EventChannelCap), so any guest runtime can
 * use it. Two ways to write:
 *  - send(): what a kernel's printk does — write what fits now, notify, never wait (Mini-OS drops
 *    the rest when the ring is full);
 *  - write(): a coroutine with flow control — wait for the daemon to make room until every byte is
 *    in the ring. Waits count event generations (taken before looking at the ring), so a
 *    notification that arrives between the look and the wait is not lost.
 * A daemon that corrupts the indices faults the ring (see @xenotype/ring's stream rings): writes
 * and reads then move nothing and never throw.
 */
import type { ByteAccess } from '@xenotype/core';
import { StreamReader, StreamWriter, type StreamFault } from '@xenotype/ring';
import type { Co, EventChannelCap } from '@xenotype/xenbus';
import { CONSOLE_IN, CONSOLE_OUT } from './layout';

const enc = new TextEncoder();
const bytesOf = (d: string | Uint8Array): Uint8Array => (typeof d === 'string' ? enc.encode(d) : d);

export class ConsoleFrontend {
  private readonly out: StreamWriter;
  private readonly in: StreamReader;
  /** Bytes send() could not place because the ring was full (they are dropped, as Mini-OS does). */
  dropped = 0;
  /** Times write() found the ring full and waited for the daemon. */
  waits = 0;

  constructor(
    mem: ByteAccess,
    /** Address of the xencons_interface page in `mem`. */
    readonly addr: number,
    /** Our end of the console event channel (start_info.console.domU.evtchn). */
    readonly port: number,
    private readonly evtchn: EventChannelCap,
  ) {
    this.out = new StreamWriter(mem, addr, CONSOLE_OUT);
    this.in = new StreamReader(mem, addr, CONSOLE_IN);
  }

  get fault(): StreamFault | null {
    return this.out.fault ?? this.in.fault;
  }

  /** Output bytes the daemon has not consumed yet. */
  get pendingOutput(): number {
    return this.out.pending();
  }

  /** Write what fits now and notify; returns the bytes written (xencons_ring_send). */
  send(data: string | Uint8Array): number {
    const b = bytesOf(data);
    const n = this.out.write(b);
    this.dropped += b.length - n;
    if (n > 0) this.evtchn.notify(this.port);
    return n;
  }

  /**
   * Write every byte, waiting for the daemon to consume when the ring is full. Returns the bytes
   * written: all of them, or fewer if `deadline` passed or the ring faulted.
   */
  *write(data: string | Uint8Array, deadline?: number): Co<number> {
    const b = bytesOf(data);
    let off = 0;
    while (off < b.length) {
      const seen = this.evtchn.generation(this.port);
      const n = this.out.write(b.subarray(off));
      off += n;
      if (n > 0) this.evtchn.notify(this.port);
      if (off >= b.length || this.out.fault) break;
      if (n === 0) {
        this.waits++;
        if ((yield* this.evtchn.wait(this.port, seen, deadline)) < 0) break;
      }
    }
    return off;
  }

  /** Input available now (consumed; the daemon is told there is room again). */
  receive(max?: number): Uint8Array {
    const d = this.in.read(max);
    if (d.length > 0) this.evtchn.notify(this.port);
    return d;
  }

  /** Wait for input and return it; empty at `deadline` or if the ring faulted. */
  *read(deadline?: number): Co<Uint8Array> {
    for (;;) {
      const seen = this.evtchn.generation(this.port);
      const d = this.receive();
      if (d.length > 0 || this.in.fault) return d;
      if ((yield* this.evtchn.wait(this.port, seen, deadline)) < 0) return d;
    }
  }
}
