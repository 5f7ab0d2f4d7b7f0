/**
 * Helpers every frontend and backend uses over a XenstoreCap: transactions retried on EAGAIN,
 * reading and switching device states, and waiting on a watch until a condition holds.
 *
 * Waits follow STYLE §9: before looking at the store we note the client's watch generation, and
 * then wait for an event newer than it, so an event that fires between the look and the wait
 * wakes us instead of being lost. We never interpret the event: any event on the watched path
 * means "look again".
 */
import { XenstoreError, type Co, type XenstoreCap } from './caps';
import { XenbusState, canTransition, parseState, stateName } from './state';
import { NODE } from './paths';

/** Commits retried at most this many times on EAGAIN before giving up (EAGAIN is then thrown). */
export const MAX_TRANSACTION_RETRIES = 64;

/**
 * Run `body` in a transaction and commit it, starting over when the commit (or an operation) fails
 * with EAGAIN, as libxl's and Linux's xenbus loops do. Any other error aborts the transaction and
 * is rethrown.
 */
export function* transaction<T>(xs: XenstoreCap, body: (tx: number) => Co<T>): Co<T> {
  for (let attempt = 0; ; attempt++) {
    const tx = yield* xs.transactionStart();
    let value: T;
    try {
      value = yield* body(tx);
    } catch (e) {
      try {
        yield* xs.transactionEnd(tx, false);
      } catch {
        // the transaction may already be gone; the first error is the one that matters
      }
      if (e instanceof XenstoreError && e.code === 'EAGAIN' && attempt < MAX_TRANSACTION_RETRIES) continue;
      throw e;
    }
    if (yield* xs.transactionEnd(tx, true)) return value;
    if (attempt >= MAX_TRANSACTION_RETRIES) throw new XenstoreError('EAGAIN', 'transaction_end');
  }
}

/** Remove `path` if it exists (libxl__xs_rm_checked: ENOENT, e.g. a missing parent, is success). */
export function* rmIfPresent(xs: XenstoreCap, path: string, tx?: number): Co<void> {
  try {
    yield* xs.rm(path, tx);
  } catch (e) {
    if (!(e instanceof XenstoreError && e.code === 'ENOENT')) throw e;
  }
}

/** Write several nodes under `dir` (values stringified) in one transaction with retry. */
export function* writeNodes(xs: XenstoreCap, dir: string, nodes: Record<string, string | number>): Co<void> {
  yield* transaction(xs, function* (tx) {
    for (const [k, v] of Object.entries(nodes)) yield* xs.write(`${dir}/${k}`, String(v), tx);
  });
}

/** The state of the device end whose directory is `dir`; Unknown if missing, unreadable or garbage. */
export function* readState(xs: XenstoreCap, dir: string, tx?: number): Co<XenbusState> {
  try {
    return parseState(yield* xs.read(`${dir}/${NODE.state}`, tx));
  } catch (e) {
    if (e instanceof XenstoreError) return XenbusState.Unknown;
    throw e;
  }
}

/** Switching our own state to one not reachable from the current one: a bug in the driver. */
export class XenbusTransitionError extends Error {
  override name = 'XenbusTransitionError';
  constructor(
    readonly dir: string,
    readonly from: XenbusState,
    readonly to: XenbusState,
  ) {
    super(`${dir}: illegal xenbus transition ${stateName(from)} → ${stateName(to)}`);
  }
}

/**
 * Switch our end's state (xenbus_switch_state): in a transaction, read the current state — if the
 * node is gone the device was removed, and nothing is written (returns false) — check the
 * transition, and write the new one. Writing the current state again is a no-op.
 */
export function* switchState(xs: XenstoreCap, dir: string, to: XenbusState): Co<boolean> {
  return yield* transaction(xs, function* (tx) {
    const raw = yield* xs.read(`${dir}/${NODE.state}`, tx);
    if (raw === null) return false;
    const from = parseState(raw);
    if (from === to) return true;
    if (!canTransition(from, to)) throw new XenbusTransitionError(dir, from, to);
    yield* xs.write(`${dir}/${NODE.state}`, String(to), tx);
    return true;
  });
}

const tokens = new WeakMap<XenstoreCap, number>();
/** A watch token unique on this client connection. */
export function watchToken(xs: XenstoreCap, what: string): string {
  const n = (tokens.get(xs) ?? 0) + 1;
  tokens.set(xs, n);
  return `xenbus/${n}/${what}`;
}

/**
 * Watch every path in `paths` and run `check` until it returns a value (not undefined); returns
 * it, or null if `deadline` (guest system time) passes first. The watches are removed either way.
 * The discipline that loses no event: note the watch generation, look, then wait for an event
 * newer than the one noted. Events are never interpreted — any event means "look again".
 */
export function* watchPaths<T>(xs: XenstoreCap, paths: readonly string[], check: () => Co<T | undefined>, deadline?: number): Co<T | null> {
  const regs = [...new Set(paths)].map((p) => [p, watchToken(xs, p)] as const);
  const done: (readonly [string, string])[] = [];
  try {
    for (const r of regs) {
      yield* xs.watch(r[0], r[1]);
      done.push(r);
    }
    for (;;) {
      const seen = xs.watchGeneration;
      const v = yield* check();
      if (v !== undefined) return v;
      if ((yield* xs.nextWatch(seen, deadline)) === null) return null;
    }
  } finally {
    for (const [p, t] of done) {
      try {
        yield* xs.unwatch(p, t);
      } catch {
        // the connection may be gone; nothing to undo
      }
    }
  }
}

/** watchPaths for one path. */
export function* watchUntil<T>(xs: XenstoreCap, path: string, check: () => Co<T | undefined>, deadline?: number): Co<T | null> {
  return yield* watchPaths(xs, [path], check, deadline);
}

/** Wait until the state of the end at `dir` satisfies `pred`; returns it, or null at `deadline`. */
export function* waitForState(xs: XenstoreCap, dir: string, pred: (s: XenbusState) => boolean, deadline?: number): Co<XenbusState | null> {
  return yield* watchUntil(
    xs,
    `${dir}/${NODE.state}`,
    function* () {
      const s = yield* readState(xs, dir);
      return pred(s) ? s : undefined;
    },
    deadline,
  );
}
