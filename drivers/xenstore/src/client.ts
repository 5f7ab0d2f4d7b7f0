/**
 * The client half of the protocol, shared by every XenstoreCap implementation: how each operation
 * is encoded, how its reply is decoded, and the watch-event queue with its generation counter.
 * A transport supplies `rpc` (send one request, wait for the reply with the same req_id) and
 * `waitEvents` (wait until new events may have arrived), both coroutines of its runtime.
 *
 * Paths and values are JS strings encoded as UTF-8 (or raw bytes for values). Errors become
 * XenstoreError with Xen's name; READ of a missing node returns null; a commit that fails with
 * EAGAIN returns false.
 */
import { XenstoreError, type XenstoreCap, type XsPerm } from '@xenotype/xenbus';
import { XS, XS_NAMES, concat, splitStrings, utf8, type XsMessage } from './wire';

/** A coroutine yielding the runtime's wait tokens `Y`, returning T. */
export type XsCo<Y, T> = Generator<Y, T, void>;

const enc = (...parts: string[]): Uint8Array => {
  const bs = parts.map((p) => utf8.encode(p));
  const out = new Uint8Array(bs.reduce((a, b) => a + b.length + 1, 0));
  let o = 0;
  for (const b of bs) {
    out.set(b, o);
    o += b.length + 1;
  }
  return out;
};

export interface WatchEvent {
  gen: number;
  path: string;
  token: string;
}

/** How many delivered watch events a client keeps for late `nextWatch` callers. */
export const WATCH_HISTORY = 4096;

/**
 * `Y` is what the runtime's coroutines yield (MiniOS's ThreadOp, say), so guest code can `yield*`
 * these methods from its own threads; to drivers they are XenstoreCap's opaque `Co<T>`.
 */
export abstract class XsClientBase<Y = unknown> implements XenstoreCap {
  abstract readonly domid: number;
  /** Events in delivery order; events[i] has generation `firstGen + i`. */
  private readonly eventLog: WatchEvent[] = [];
  private firstGen = 1;
  private gen = 0;

  /** Send one request and return its reply (type = request type or XS_ERROR). */
  protected abstract rpc(type: number, payload: Uint8Array, tx: number): XsCo<Y, XsMessage>;
  /** Wait until an event newer than `seen` may have arrived, or `deadline` (guest time); false at the deadline. */
  protected abstract waitEvents(seen: number, deadline: number): XsCo<Y, boolean>;

  /** Queue a WATCH_EVENT message that arrived. */
  protected deliver(m: XsMessage): void {
    const [path, token] = splitStrings(m.payload);
    this.gen++;
    this.eventLog.push({ gen: this.gen, path: utf8.decode(latin1(path ?? '')), token: utf8.decode(latin1(token ?? '')) });
    if (this.eventLog.length > WATCH_HISTORY) {
      this.eventLog.shift();
      this.firstGen++;
    }
  }

  get watchGeneration(): number {
    return this.gen;
  }

  private *call(type: number, payload: Uint8Array, tx: number, path?: string): XsCo<Y, XsMessage> {
    const r = yield* this.rpc(type, payload, tx);
    if (r.type === XS.ERROR) {
      const code = latin1Str(r.payload).replace(/\0.*$/s, '');
      throw new XenstoreError(code, XS_NAMES[type] ?? `type ${type}`, path);
    }
    return r;
  }

  *read(path: string, tx = 0): XsCo<Y, string | null> {
    const b = yield* this.readBytes(path, tx);
    return b === null ? null : utf8.decode(b);
  }

  /** READ returning the raw value (binary values are allowed). */
  *readBytes(path: string, tx = 0): XsCo<Y, Uint8Array | null> {
    try {
      return (yield* this.call(XS.READ, enc(path), tx, path)).payload;
    } catch (e) {
      if (e instanceof XenstoreError && e.code === 'ENOENT') return null;
      throw e;
    }
  }

  *write(path: string, value: string | Uint8Array, tx = 0): XsCo<Y, void> {
    const v = typeof value === 'string' ? utf8.encode(value) : value;
    yield* this.call(XS.WRITE, concat(enc(path), v), tx, path);
  }

  *mkdir(path: string, tx = 0): XsCo<Y, void> {
    yield* this.call(XS.MKDIR, enc(path), tx, path);
  }

  *rm(path: string, tx = 0): XsCo<Y, void> {
    yield* this.call(XS.RM, enc(path), tx, path);
  }

  *directory(path: string, tx = 0): XsCo<Y, string[]> {
    const r = yield* this.call(XS.DIRECTORY, enc(path), tx, path);
    return splitStrings(r.payload).map((s) => utf8.decode(latin1(s)));
  }

  *getPerms(path: string, tx = 0): XsCo<Y, XsPerm[]> {
    const r = yield* this.call(XS.GET_PERMS, enc(path), tx, path);
    return splitStrings(r.payload).map((s) => ({ perm: s[0] as XsPerm['perm'], domid: Number(s.slice(1)) }));
  }

  *setPerms(path: string, perms: XsPerm[], tx = 0): XsCo<Y, void> {
    yield* this.call(XS.SET_PERMS, enc(path, ...perms.map((p) => `${p.perm}${p.domid}`)), tx, path);
  }

  *transactionStart(): XsCo<Y, number> {
    const r = yield* this.call(XS.TRANSACTION_START, enc(''), 0);
    return Number(latin1Str(r.payload).replace(/\0.*$/s, ''));
  }

  *transactionEnd(tx: number, commit: boolean): XsCo<Y, boolean> {
    try {
      yield* this.call(XS.TRANSACTION_END, enc(commit ? 'T' : 'F'), tx);
      return true;
    } catch (e) {
      if (e instanceof XenstoreError && e.code === 'EAGAIN') return false;
      throw e;
    }
  }

  *watch(path: string, token: string): XsCo<Y, void> {
    yield* this.call(XS.WATCH, enc(path, token), 0, path);
  }

  *unwatch(path: string, token: string): XsCo<Y, void> {
    yield* this.call(XS.UNWATCH, enc(path, token), 0, path);
  }

  *nextWatch(seen: number, deadline = Infinity): XsCo<Y, WatchEvent | null> {
    for (;;) {
      if (this.gen > seen) {
        const i = Math.max(0, seen + 1 - this.firstGen);
        return this.eventLog[i];
      }
      if (!(yield* this.waitEvents(seen, deadline))) return this.gen > seen ? this.eventLog[Math.max(0, seen + 1 - this.firstGen)] : null;
    }
  }

  /** GET_DOMAIN_PATH. */
  *getDomainPath(domid: number): XsCo<Y, string> {
    const r = yield* this.call(XS.GET_DOMAIN_PATH, enc(String(domid)), 0);
    return latin1Str(r.payload).replace(/\0.*$/s, '');
  }

  /** Any request, raw: the reply message (XS_ERROR included, not thrown). */
  *raw(type: number, payload: Uint8Array, tx = 0): XsCo<Y, XsMessage> {
    return yield* this.rpc(type, payload, tx);
  }

  /** Run `body` in a transaction, retrying on EAGAIN (at most `tries` times). */
  *transaction<T>(body: (tx: number) => XsCo<Y, T>, tries = 100): XsCo<Y, T> {
    for (let i = 0; ; i++) {
      const tx = yield* this.transactionStart();
      let v: T;
      try {
        v = yield* body(tx);
      } catch (e) {
        yield* this.transactionEnd(tx, false);
        throw e;
      }
      if (yield* this.transactionEnd(tx, true)) return v;
      if (i + 1 >= tries) throw new XenstoreError('EAGAIN', 'TRANSACTION_END');
    }
  }
}

/** Byte string (one char per byte) → bytes. */
function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}
function latin1Str(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}
