/**
 * How a frontend survives its backend's driver domain going away (the paper's restartable driver
 * domains): close our end, then wait for a backend to talk to and restart the handshake. Shared by
 * every frontend that reconnects (blkfront, netfront); a frontend still never calls a backend: it
 * reads the backend's state node and writes only its own directory.
 */
import type { Co, XenstoreCap } from './caps';
import { NODE } from './paths';
import { XenbusState as S } from './state';
import { readState, switchState, watchPaths } from './xs';

/** Our end to Closed, through Closing (from any state but Unknown). */
export function* closeFrontend(xs: XenstoreCap, dir: string): Co<void> {
  const s = yield* readState(xs, dir);
  if (s !== S.Closed && s !== S.Closing && s !== S.Unknown) yield* switchState(xs, dir, S.Closing);
  if (s !== S.Unknown) yield* switchState(xs, dir, S.Closed);
}

/**
 * Wait for a backend to talk to, then restart our end. The backend our `backend` node names (the
 * toolstack may rewrite it, pointing at a new driver domain) must first be alive and ready for a
 * frontend — Initialising, InitWait, or Closed waiting for us — then we switch to Initialising and
 * wait for it to reach InitWait (a backend that vanishes or is replaced meanwhile sends us back to
 * the first wait, still Initialising). 'removed' when our directory goes (the device was unplugged)
 * or `stopped()` says the driver was closed.
 */
export function* waitForBackendRestart(xs: XenstoreCap, dir: string, stopped: () => boolean = () => false): Co<'ready' | 'removed'> {
  const own = `${dir}/${NODE.state}`;
  const beNode = `${dir}/${NODE.backend}`;
  let be: string | null = yield* xs.read(beNode);
  let restarted = false;
  for (;;) {
    const known = be;
    const want: readonly S[] = restarted ? [S.InitWait, S.Initialised, S.Connected] : [S.Initialising, S.InitWait, S.Closed];
    const r = yield* watchPaths(xs, known ? [own, beNode, `${known}/${NODE.state}`] : [own, beNode], function* () {
      if (stopped() || (yield* xs.read(own)) === null) return 'removed' as const;
      const now = yield* xs.read(beNode);
      if (now !== known) return { moved: now };
      if (known === null) return undefined;
      const s = yield* readState(xs, known);
      if (restarted && s === S.Unknown) return { moved: known };
      return want.includes(s) ? ('ready' as const) : undefined;
    });
    if (r === null || r === 'removed') return 'removed';
    if (r !== 'ready') {
      be = r.moved;
      restarted = false;
      continue;
    }
    if (restarted) return 'ready';
    if (!(yield* switchState(xs, dir, S.Initialising))) return 'removed';
    restarted = true;
  }
}
