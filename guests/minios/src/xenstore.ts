/**
 * The guest's xenstore client over its store ring (the page at start_info.store_mfn, a gfn for us,
 * and the event channel start_info.store_evtchn), as Mini-OS's xenbus.c does: requests are
 * written into the req ring, replies and watch events read from the rsp ring; replies are matched
 * to requests by req_id, so several threads may have requests in flight; watch events are queued
 * with a generation counter (waits are "after generation N", so none is lost).
 *
 * Either side kicks the event channel after moving ring indexes. Writing a request holds a lock so
 * two threads never interleave bytes of their messages when the ring is full. Replies are read by
 * whichever thread is waiting when the event arrives, and handed to their owners.
 *
 * Peer input never throws: a reply the parser cannot take (len > 4096) marks the client broken and
 * every call then fails with EIO.
 */
import { XsClientBase, XsParser, XS, encode, ringRead, ringWrite, REQ_RING, RSP_RING, RING, type XsMessage } from '@xenotype/xenstore';
import { XenstoreError } from '@xenotype/xenbus';
import type { MiniOS } from './minios';
import { Signal, type ThreadOp } from './threads';

export class XenstoreClient extends XsClientBase<ThreadOp> {
  readonly domid: number;
  /** Guest-physical address of the ring page. */
  readonly ring: number;
  readonly port: number;
  private readonly parser = new XsParser();
  private readonly replies = new Map<number, XsMessage | null>();
  private nextReq = 1;
  private writing = false;
  private readonly writeDone = new Signal();
  private broken = false;
  /** Requests sent and replies received (statistics). */
  sent = 0;

  constructor(private readonly os: MiniOS) {
    super();
    this.domid = os.domid;
    this.ring = os.si.storeGfn * 4096;
    this.port = os.si.storeEvtchn;
  }

  private get sig(): Signal {
    return this.os.evtchn.signal(this.port);
  }

  /** Read whatever the daemon produced: replies to their waiters, events to the queue. */
  pump(): void {
    const mem = this.os.cpu.mem;
    const got = ringRead(mem, this.ring, RSP_RING);
    if (got === null) {
      this.broken = true;
      return;
    }
    if (got.length === 0) return;
    this.os.evtchn.notify(this.port); // we consumed: the daemon may have more to write
    this.parser.push(got);
    for (;;) {
      const r = this.parser.next();
      if (r.kind === 'need') break;
      if (r.kind === 'error') {
        this.broken = true;
        break;
      }
      const m = r.msg;
      if (m.type === XS.WATCH_EVENT) this.deliver(m);
      else if (this.replies.has(m.reqId)) this.replies.set(m.reqId, m);
    }
  }

  /** Is the daemon connected (the ring's connection field says XENSTORE_CONNECTED)? */
  get connected(): boolean {
    return this.os.cpu.mem.getU32(this.ring + RING.CONNECTION) === 0;
  }

  protected *rpc(type: number, payload: Uint8Array, tx: number): Generator<ThreadOp, XsMessage, void> {
    if (this.broken) throw new XenstoreError('EIO', 'ring');
    const reqId = this.nextReq;
    this.nextReq = (this.nextReq + 1) >>> 0 || 1;
    const bytes = encode({ type, reqId, txId: tx, payload });
    this.replies.set(reqId, null);
    try {
      while (this.writing) yield* this.os.waitFor(this.writeDone, this.writeDone.gen);
      this.writing = true;
      try {
        let off = 0;
        while (off < bytes.length) {
          const seen = this.sig.gen;
          const n = ringWrite(this.os.cpu.mem, this.ring, REQ_RING, bytes, off);
          if (n < 0) {
            this.broken = true;
            throw new XenstoreError('EIO', 'ring');
          }
          off += n;
          if (n > 0) this.os.evtchn.notify(this.port);
          if (off < bytes.length) {
            this.pump();
            yield* this.os.waitFor(this.sig, seen);
          }
        }
      } finally {
        this.writing = false;
        this.os.notify(this.writeDone);
      }
      this.sent++;
      for (;;) {
        const seen = this.sig.gen;
        this.pump();
        const r = this.replies.get(reqId);
        if (r) return r;
        if (this.broken) throw new XenstoreError('EIO', 'ring');
        yield* this.os.waitFor(this.sig, seen);
      }
    } finally {
      this.replies.delete(reqId);
    }
  }

  protected *waitEvents(seen: number, deadline: number): Generator<ThreadOp, boolean, void> {
    const s = this.sig.gen;
    this.pump();
    if (this.watchGeneration > seen) return true;
    return (yield* this.os.waitFor(this.sig, s, deadline)) >= 0;
  }
}
