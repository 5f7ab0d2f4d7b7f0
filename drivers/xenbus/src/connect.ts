/**
 * The xenbus handshake of a split device, in intent-named steps (after MirageOS's xenbus
 * configuration objects and Linux's xenbus drivers) over a XenstoreCap. A frontend and a backend
 * never call each other: each writes only its own directory and watches the peer's state.
 *
 *   frontendConnect: open (read backend, backend-id) → waitUntilBackendReady (InitWait) →
 *     setup (the driver allocates its ring and event channel) → publish (ring-ref, event-channel,
 *     protocol and state Initialised in one transaction, retried on EAGAIN) →
 *     waitUntilBackendConnected → switch to Connected.
 *   backendConnect: open (read frontend, frontend-id) → publish features and switch to InitWait →
 *     waitUntilFrontendInitialised → read what the frontend published → attach (the driver maps the
 *     ring and binds the channel) → switch to Connected.
 *
 * Anything a peer can cause — a peer that closes, never answers before the deadline, or publishes
 * garbage — comes back as an `Outcome` with a coded XenbusError, never as an exception; when our
 * side gives up it switches to Closing, as xenbus_dev_fatal does. Exceptions are left for xenstore
 * failures of our own (EACCES on our directory) and for bugs (an illegal transition of our own).
 */
import type { Co, XenstoreCap } from './caps';
import { NODE, XEN_IO_PROTO_ABI_NATIVE, frontendPath, parseBackendPath, parseFrontendPath, parseUint } from './paths';
import { XenbusState, stateName } from './state';
import { readState, switchState, transaction, waitForState } from './xs';

export type XenbusErrorCode =
  /** Our device directory or its peer links are missing or malformed. */
  | 'no-device'
  /** The peer went to Closing/Closed (or its directory vanished) during the handshake. */
  | 'peer-closed'
  /** The deadline passed. */
  | 'timeout'
  /** A node the peer had to publish is missing or malformed. */
  | 'bad-peer-node'
  /** Our own driver's setup or attach step failed. */
  | 'setup-failed';

export class XenbusError extends Error {
  override name = 'XenbusError';
  constructor(
    readonly code: XenbusErrorCode,
    readonly dir: string,
    detail: string,
  ) {
    super(`${dir}: ${code}: ${detail}`);
  }
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: XenbusError };
const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
const fail = <T>(code: XenbusErrorCode, dir: string, detail: string): Outcome<T> => ({ ok: false, error: new XenbusError(code, dir, detail) });

const S = XenbusState;
const closingOrGone = (s: XenbusState) => s === S.Closing || s === S.Closed || s === S.Unknown;

/** Wait for the peer at `dir` to reach one of `want`; a peer that closes fails the wait. */
function* waitForPeer(xs: XenstoreCap, self: string, peer: string, want: readonly XenbusState[], deadline?: number): Co<Outcome<XenbusState>> {
  // Unknown is how a missing node reads: a peer that has not been created yet is "not ready", but
  // a peer that was Connected and vanished has closed. We treat Unknown as closed only once we saw
  // the peer alive.
  let seenAlive = false;
  const s = yield* waitForState(
    xs,
    peer,
    (st) => {
      if (want.includes(st)) return true;
      if (st !== S.Unknown) seenAlive = true;
      return st === S.Closing || st === S.Closed || (seenAlive && st === S.Unknown);
    },
    deadline,
  );
  if (s === null) return fail('timeout', self, `peer ${peer} did not reach ${want.map(stateName).join('/')}`);
  if (!want.includes(s)) return fail('peer-closed', self, `peer ${peer} is ${stateName(s)}`);
  return ok(s);
}

// ---------------------------------------------------------------------------------------------

/** Our end of a device, as a frontend. */
export class FrontendDevice {
  private constructor(
    readonly xs: XenstoreCap,
    readonly type: string,
    readonly devid: number,
    /** Our directory, /local/domain/<self>/device/<type>/<devid>. */
    readonly dir: string,
    /** The backend's directory, as the toolstack wrote it. */
    readonly backendPath: string,
    readonly backendId: number,
  ) {}

  /** Find our device directory and its backend (written there by the toolstack). */
  static *open(xs: XenstoreCap, type: string, devid: number): Co<Outcome<FrontendDevice>> {
    const dir = frontendPath(xs.domid, type, devid);
    const be = yield* xs.read(`${dir}/${NODE.backend}`);
    const beId = parseUint(yield* xs.read(`${dir}/${NODE.backendId}`), 0x7fef);
    if (be === null || beId === null) return fail('no-device', dir, 'no backend or backend-id node');
    const p = parseBackendPath(be);
    if (!p || p.backendDomid !== beId || p.frontendDomid !== xs.domid || p.type !== type || p.devid !== devid)
      return fail('no-device', dir, `backend path "${be}" does not name this device`);
    return ok(new FrontendDevice(xs, type, devid, dir, be, beId));
  }

  *state(): Co<XenbusState> {
    return yield* readState(this.xs, this.dir);
  }

  *backendState(): Co<XenbusState> {
    return yield* readState(this.xs, this.backendPath);
  }

  /** Switch our state; false if our directory has been removed. */
  *switchState(to: XenbusState): Co<boolean> {
    return yield* switchState(this.xs, this.dir, to);
  }

  /** A node of the backend's directory (its features), or null. */
  *readBackend(node: string): Co<string | null> {
    return yield* this.xs.read(`${this.backendPath}/${node}`);
  }

  /** Wait for the backend to be ready for our ring details (InitWait, or further). */
  *waitUntilBackendReady(deadline?: number): Co<Outcome<XenbusState>> {
    return yield* waitForPeer(this.xs, this.dir, this.backendPath, [S.InitWait, S.Initialised, S.Connected], deadline);
  }

  /**
   * Publish our ring details and switch state, atomically: one transaction writes every node
   * and the state (default Initialised), retried on EAGAIN.
   */
  *publish(nodes: Record<string, string | number>, state: XenbusState = S.Initialised): Co<void> {
    const { xs, dir } = this;
    yield* transaction(xs, function* (tx) {
      for (const [k, v] of Object.entries(nodes)) yield* xs.write(`${dir}/${k}`, String(v), tx);
      yield* xs.write(`${dir}/${NODE.state}`, String(state), tx);
    });
  }

  *waitUntilBackendConnected(deadline?: number): Co<Outcome<XenbusState>> {
    return yield* waitForPeer(this.xs, this.dir, this.backendPath, [S.Connected], deadline);
  }

  /** Wait for the backend to start closing (unplug, or the driver domain going away). */
  *waitUntilBackendClosing(deadline?: number): Co<XenbusState | null> {
    return yield* waitForState(this.xs, this.backendPath, closingOrGone, deadline);
  }

  /** Close our end: Closing, wait for the backend to follow (or vanish), Closed. */
  *close(deadline?: number): Co<Outcome<void>> {
    if (!(yield* this.switchState(S.Closing))) return fail('no-device', this.dir, 'device removed');
    const s = yield* waitForState(this.xs, this.backendPath, closingOrGone, deadline);
    yield* this.switchState(S.Closed);
    return s === null ? fail('timeout', this.dir, 'backend did not close') : ok(undefined);
  }
}

/** Our end of a device, as a backend. */
export class BackendDevice {
  private constructor(
    readonly xs: XenstoreCap,
    /** Our directory, /local/domain/<self>/backend/<type>/<fe>/<devid>. */
    readonly dir: string,
    readonly type: string,
    readonly devid: number,
    readonly frontendPath: string,
    readonly frontendId: number,
  ) {}

  /** Open the backend directory the toolstack created for us and find its frontend. */
  static *open(xs: XenstoreCap, dir: string): Co<Outcome<BackendDevice>> {
    const p = parseBackendPath(dir);
    if (!p || p.backendDomid !== xs.domid) return fail('no-device', dir, 'not one of our backend directories');
    const fe = yield* xs.read(`${dir}/${NODE.frontend}`);
    const feId = parseUint(yield* xs.read(`${dir}/${NODE.frontendId}`), 0x7fef);
    if (fe === null || feId === null) return fail('no-device', dir, 'no frontend or frontend-id node');
    const f = parseFrontendPath(fe);
    const consoleOk = p.type === 'console' && p.devid === 0 && fe === `/local/domain/${feId}/console`;
    if (!consoleOk && (!f || f.frontendDomid !== feId || f.frontendDomid !== p.frontendDomid || f.type !== p.type || f.devid !== p.devid))
      return fail('no-device', dir, `frontend path "${fe}" does not name this device`);
    return ok(new BackendDevice(xs, dir, p.type, p.devid, fe, feId));
  }

  *state(): Co<XenbusState> {
    return yield* readState(this.xs, this.dir);
  }

  *frontendState(): Co<XenbusState> {
    return yield* readState(this.xs, this.frontendPath);
  }

  *switchState(to: XenbusState): Co<boolean> {
    return yield* switchState(this.xs, this.dir, to);
  }

  /** Publish feature nodes and switch state (default InitWait) in one transaction. */
  *publish(nodes: Record<string, string | number>, state: XenbusState = S.InitWait): Co<void> {
    const { xs, dir } = this;
    yield* transaction(xs, function* (tx) {
      for (const [k, v] of Object.entries(nodes)) yield* xs.write(`${dir}/${k}`, String(v), tx);
      yield* xs.write(`${dir}/${NODE.state}`, String(state), tx);
    });
  }

  *waitUntilFrontendInitialised(deadline?: number): Co<Outcome<XenbusState>> {
    return yield* waitForPeer(this.xs, this.dir, this.frontendPath, [S.Initialised, S.Connected], deadline);
  }

  /** Nodes the frontend published (null where absent); read in one transaction, so consistent. */
  *readFrontend(names: readonly string[]): Co<Record<string, string | null>> {
    const { xs, frontendPath } = this;
    return yield* transaction(xs, function* (tx) {
      const out: Record<string, string | null> = {};
      for (const n of names) out[n] = yield* xs.read(`${frontendPath}/${n}`, tx);
      return out;
    });
  }

  *waitUntilFrontendClosing(deadline?: number): Co<XenbusState | null> {
    return yield* waitForState(this.xs, this.frontendPath, closingOrGone, deadline);
  }

  /** Close our end: Closing, wait for the frontend to follow (or vanish), Closed. */
  *close(deadline?: number): Co<Outcome<void>> {
    if (!(yield* this.switchState(S.Closing))) return fail('no-device', this.dir, 'device removed');
    const s = yield* waitForState(this.xs, this.frontendPath, (st) => st === S.Closed || st === S.Unknown, deadline);
    yield* this.switchState(S.Closed);
    return s === null ? fail('timeout', this.dir, 'frontend did not close') : ok(undefined);
  }
}

// ---------------------------------------------------------------------------------------------

export interface FrontendConnectOptions {
  type: string;
  devid: number;
  /** Guest system time by which the backend must have connected. */
  deadline?: number;
  /**
   * The driver's part, run once the backend is ready: allocate and grant the ring, allocate the
   * event channel, and return the nodes to publish (e.g. ring-ref, event-channel). `protocol`
   * is added (the native ABI) unless given.
   */
  setup: (fe: FrontendDevice) => Co<Record<string, string | number>>;
}

/** A frontend's whole handshake; on success our end is Connected. */
export function* frontendConnect(xs: XenstoreCap, o: FrontendConnectOptions): Co<Outcome<FrontendDevice>> {
  const opened = yield* FrontendDevice.open(xs, o.type, o.devid);
  if (!opened.ok) return opened;
  const fe = opened.value;
  const ready = yield* fe.waitUntilBackendReady(o.deadline);
  if (!ready.ok) return yield* giveUp<FrontendDevice>(fe, ready.error);
  let nodes: Record<string, string | number>;
  try {
    nodes = yield* o.setup(fe);
  } catch (e) {
    return yield* giveUp<FrontendDevice>(fe, new XenbusError('setup-failed', fe.dir, (e as Error)?.message ?? String(e)));
  }
  yield* fe.publish({ [NODE.protocol]: XEN_IO_PROTO_ABI_NATIVE, ...nodes }, S.Initialised);
  const connected = yield* fe.waitUntilBackendConnected(o.deadline);
  if (!connected.ok) return yield* giveUp<FrontendDevice>(fe, connected.error);
  if (!(yield* fe.switchState(S.Connected))) return fail('no-device', fe.dir, 'device removed');
  return ok(fe);
}

export interface BackendConnectOptions {
  /** Feature nodes published with InitWait. */
  features?: Record<string, string | number>;
  /** Frontend nodes to read once it is Initialised (default ring-ref, event-channel, protocol). */
  read?: readonly string[];
  deadline?: number;
  /**
   * The driver's part: given what the frontend published (null where absent — validate it, it is
   * peer input), map the ring and bind the event channel. Return an error message to refuse.
   */
  attach: (be: BackendDevice, nodes: Record<string, string | null>) => Co<string | void>;
}

/** A backend's whole handshake for the device at `dir`; on success our end is Connected. */
export function* backendConnect(xs: XenstoreCap, dir: string, o: BackendConnectOptions): Co<Outcome<BackendDevice>> {
  const opened = yield* BackendDevice.open(xs, dir);
  if (!opened.ok) return opened;
  const be = opened.value;
  yield* be.publish(o.features ?? {}, S.InitWait);
  const init = yield* be.waitUntilFrontendInitialised(o.deadline);
  if (!init.ok) return yield* giveUp<BackendDevice>(be, init.error);
  const nodes = yield* be.readFrontend(o.read ?? [NODE.ringRef, NODE.eventChannel, NODE.protocol]);
  let refused: string | void;
  try {
    refused = yield* o.attach(be, nodes);
  } catch (e) {
    refused = (e as Error)?.message ?? String(e);
  }
  if (refused) return yield* giveUp<BackendDevice>(be, new XenbusError('bad-peer-node', be.dir, refused));
  if (!(yield* be.switchState(S.Connected))) return fail('no-device', be.dir, 'device removed');
  return ok(be);
}

/** xenbus_dev_fatal's effect: switch our end to Closing and report. */
function* giveUp<T>(dev: FrontendDevice | BackendDevice, error: XenbusError): Co<Outcome<T>> {
  yield* dev.switchState(S.Closing);
  return { ok: false, error };
}
