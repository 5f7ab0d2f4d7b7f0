/**
 * XenbusState (io/xenbus.h) and the transitions a device end may make.
 *
 * Each end of a split device publishes its own state in its own xenstore directory ("state") and
 * watches the peer's. The usual handshake (Linux blkfront/blkback, netfront/netback, Mini-OS):
 *
 *   toolstack   creates both directories, both states Initialising (1)
 *   backend     writes its features, → InitWait (2)
 *   frontend    sees InitWait; allocates ring + event channel, publishes ring-ref, event-channel,
 *               protocol; → Initialised (3)
 *   backend     sees Initialised; maps the ring, binds the channel; → Connected (4)
 *   frontend    sees Connected; → Connected (4)
 *   either      → Closing (5) on unplug or error; the peer follows; both → Closed (6)
 *
 * Closed → Initialising (frontend) and Closed → InitWait (backend) reconnect a device whose peer was
 * restarted (a driver domain came back). Reconfiguring (7) / Reconfigured (8) are the pciback
 * reconfiguration pair. Writing the state one already has is a no-op, as in Linux's
 * xenbus_switch_state.
 */

export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusState = (typeof XenbusState)[keyof typeof XenbusState];

const S = XenbusState;

export const XENBUS_STATE_NAMES: Record<XenbusState, string> = {
  0: 'Unknown',
  1: 'Initialising',
  2: 'InitWait',
  3: 'Initialised',
  4: 'Connected',
  5: 'Closing',
  6: 'Closed',
  7: 'Reconfiguring',
  8: 'Reconfigured',
};

/** Legal next states of a device end, from each state (besides staying put). */
export const TRANSITIONS: Record<XenbusState, readonly XenbusState[]> = {
  [S.Unknown]: [S.Initialising],
  [S.Initialising]: [S.InitWait, S.Initialised, S.Connected, S.Closing, S.Closed],
  [S.InitWait]: [S.Initialised, S.Connected, S.Closing, S.Closed],
  [S.Initialised]: [S.Connected, S.Closing, S.Closed],
  [S.Connected]: [S.Reconfiguring, S.Closing, S.Closed],
  [S.Closing]: [S.Closed],
  [S.Closed]: [S.Initialising, S.InitWait, S.Unknown],
  [S.Reconfiguring]: [S.Reconfigured, S.Closing, S.Closed],
  [S.Reconfigured]: [S.Connected, S.Closing, S.Closed],
};

export function isXenbusState(n: number): n is XenbusState {
  return Number.isInteger(n) && n >= 0 && n <= 8;
}

/** Whether an end in state `from` may switch to `to`. */
export function canTransition(from: XenbusState, to: XenbusState): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

/**
 * A state node's value as written by a peer: a decimal integer 0..8. Anything else — missing,
 * empty, garbage, out of range — reads as Unknown, as Linux's xenbus_read_driver_state does.
 */
export function parseState(v: string | null): XenbusState {
  if (v === null || !/^\s*\d{1,3}\s*$/.test(v)) return S.Unknown;
  const n = Number(v);
  return isXenbusState(n) ? n : S.Unknown;
}

export const stateName = (s: XenbusState): string => XENBUS_STATE_NAMES[s];
