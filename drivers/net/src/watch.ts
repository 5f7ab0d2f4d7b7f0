/**
 * Waiting on several xenstore paths at once (a device end watches its own directory and its
 * peer's state, a frontend also its `backend` node): the multi-path form of @xenotype/xenbus's
 * watchUntil, with its discipline — note the watch generation, look, then wait for an event newer
 * than the one noted, so no event between the look and the wait is lost. Events are never
 * interpreted: any event means "look again".
 */
import { watchToken, type Co, type XenstoreCap } from '@xenotype/xenbus';

/**
 * Watch every path in `paths` and run `check` until it returns a value (not undefined); returns
 * it, or null when `deadline` (guest system time) passes first. The watches are removed either way.
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
