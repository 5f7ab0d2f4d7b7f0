/**
 * Thin, still sans-IO adapters between byte streams and the server: a socket or a ring gives
 * bytes to `StreamConnection.receive` and takes bytes from `output`/`drainTo`. They own the
 * resumable parser of one connection and the partially written message, nothing else.
 *
 * A message of more than 4096 bytes from the peer ends the conversation as xenstored does:
 * a socket connection is dropped; a ring is marked XENSTORE_ERROR_PROTO and ignored from then on.
 */
import { XsParser, encode, encodeInto, HEADER_SIZE } from './wire';
import type { Connection, XenstoreServer } from './server';
import { XENSTORE_ERROR } from './ring';

export class StreamConnection {
  readonly parser = new XsParser();
  private cur: Uint8Array | null = null;
  private curOff = 0;
  private final: Uint8Array | null = null;
  /** Requests taken from the stream. */
  requests = 0;

  constructor(
    readonly server: XenstoreServer,
    readonly conn: Connection,
  ) {}

  /**
   * Bytes from the peer: every complete request is handled at once. Returns false when the
   * connection must be dropped (protocol violation) — the server has already ignored it.
   */
  receive(bytes: Uint8Array): boolean {
    if (this.conn.closed || this.conn.ignored) return false;
    this.parser.push(bytes);
    for (;;) {
      const r = this.parser.next();
      if (r.kind === 'need') return true;
      if (r.kind === 'error') {
        // Replies to the requests before the bad frame were sent by C xenstored before it
        // read the bad header: keep them for `output`, then drop the connection.
        this.final = this.output();
        this.server.ignore(this.conn, XENSTORE_ERROR.PROTO);
        return false;
      }
      this.requests++;
      this.server.handle(this.conn, r.msg);
      if (this.conn.closed || this.conn.ignored) return false;
    }
  }

  /** Everything queued for the peer, encoded back to back (sockets: the kernel buffers it). */
  output(): Uint8Array | null {
    if (this.final) {
      const f = this.final;
      this.final = null;
      return f;
    }
    const c = this.conn;
    if (this.cur) {
      const rest = this.cur.subarray(this.curOff);
      this.cur = null;
      const more = this.output();
      if (!more) return rest;
      const both = new Uint8Array(rest.length + more.length);
      both.set(rest);
      both.set(more, rest.length);
      return both;
    }
    const n = c.out.length;
    if (n === 0) return null;
    if (n === 1) return encode(c.shift()!);
    const ms = c.take();
    let len = 0;
    for (const m of ms) len += HEADER_SIZE + m.payload.length;
    const out = new Uint8Array(len);
    let o = 0;
    for (const m of ms) o += encodeInto(out, o, m);
    return out;
  }

  /**
   * Write queued messages through `write(data, off) → bytes taken` until it takes less than
   * offered (a full ring). Messages stay queued (and coalescable) until their turn. Returns the
   * bytes written, or -1 if `write` reported an error.
   */
  drainTo(write: (data: Uint8Array, off: number) => number): number {
    let total = 0;
    for (;;) {
      if (!this.cur) {
        const m = this.conn.shift();
        if (!m) return total;
        this.cur = encode(m);
        this.curOff = 0;
      }
      const n = write(this.cur, this.curOff);
      if (n < 0) return -1;
      total += n;
      this.curOff += n;
      if (this.curOff < this.cur.length) return total;
      this.cur = null;
    }
  }

  /** Is anything waiting to be written? */
  get hasOutput(): boolean {
    return this.cur !== null || this.conn.out.length > 0;
  }

  /** Forget partial input and output (a reset ring). */
  reset(): void {
    this.parser.reset();
    this.cur = null;
    this.curOff = 0;
  }
}
