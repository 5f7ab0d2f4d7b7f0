/**
 * The frontend/backend handshake over a mock xenstore: a toolstack (dom0) creates the device, a
 * driver domain (dom2) runs the backend, a guest (dom5) the frontend. They share nothing but the
 * store; each writes only its own directory.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NODE,
  XenbusState as S,
  backendConnect,
  canTransition,
  deviceAdd,
  frontendConnect,
  parseState,
  parseUint,
  type BackendConnectOptions,
  type FrontendConnectOptions,
  type XenstoreCap,
} from '@xenotype/xenbus';
import { MockStore, Runner, domainDirsCreate, runOne, sleepUntil } from './mock-xenstore';

const DEV = { type: 'vif', devid: 0, frontendDomid: 5, backendDomid: 2 };
const FE_DIR = '/local/domain/5/device/vif/0';
const BE_DIR = '/local/domain/2/backend/vif/5/0';

function setup() {
  const store = new MockStore();
  const dom0 = store.client(0);
  for (const d of [2, 5]) runOne(store, domainDirsCreate(dom0, d));
  runOne(store, deviceAdd(dom0, DEV));
  return { store, fe: store.client(5), be: store.client(2) };
}

/** What a netfront-like driver publishes. */
const feOpts = (over: Partial<FrontendConnectOptions> = {}): FrontendConnectOptions => ({
  type: 'vif',
  devid: 0,
  *setup() {
    return { [NODE.ringRef]: 8, [NODE.eventChannel]: 5 };
  },
  ...over,
});

/** A backend that validates and "attaches" the ring. */
function beOpts(attached: { ref?: number; port?: number }, over: Partial<BackendConnectOptions> = {}): BackendConnectOptions {
  return {
    features: { 'feature-rx-copy': 1 },
    *attach(_be, nodes) {
      const ref = parseUint(nodes[NODE.ringRef]);
      const port = parseUint(nodes[NODE.eventChannel]);
      if (ref === null || port === null) return `bad ring-ref/event-channel ${JSON.stringify(nodes)}`;
      if (nodes[NODE.protocol] !== 'x86_64-abi') return `unsupported protocol ${nodes[NODE.protocol]}`;
      attached.ref = ref;
      attached.port = port;
    },
    ...over,
  };
}

/** The successive values of a state node, from the store's history. */
const states = (store: MockStore, dir: string) =>
  store.history
    .filter((h) => h.path === `${dir}/state`)
    .map((h) => parseState(h.value))
    .filter((s, i, a) => i === 0 || a[i - 1] !== s); // a set_perms fires too, with the same value

function expectLegal(seq: number[]): void {
  for (let i = 1; i < seq.length; i++) expect(canTransition(seq[i - 1] as never, seq[i] as never), `${seq.join(' → ')}`).toBe(true);
}

describe('xenbus handshake', () => {
  it('frontend and backend connect through the store alone', () => {
    const { store, fe, be } = setup();
    const attached: { ref?: number; port?: number } = {};
    const r = new Runner(store);
    const f = r.spawn('front', frontendConnect(fe, feOpts()));
    const b = r.spawn('back', backendConnect(be, BE_DIR, beOpts(attached)));
    r.run();
    expect(f.error ?? b.error).toBeUndefined();
    expect(f.result?.ok && b.result?.ok).toBe(true);
    expect(attached).toEqual({ ref: 8, port: 5 });
    expect(store.get(`${FE_DIR}/state`)).toBe('4');
    expect(store.get(`${BE_DIR}/state`)).toBe('4');
    expect(store.get(`${FE_DIR}/protocol`)).toBe('x86_64-abi');
    expect(store.get(`${BE_DIR}/feature-rx-copy`)).toBe('1');
    expect(states(store, FE_DIR)).toEqual([S.Initialising, S.Initialised, S.Connected]);
    expect(states(store, BE_DIR)).toEqual([S.Initialising, S.InitWait, S.Connected]);
    // each side wrote only its own directory
    const writes = (xs: XenstoreCap & { ops: string[] }) => xs.ops.filter((o) => /^(write|mkdir|rm|set_perms) /.test(o)).map((o) => o.split(' ')[1]);
    expect(writes(fe).every((p) => p.startsWith(FE_DIR + '/'))).toBe(true);
    expect(writes(be).every((p) => p.startsWith(BE_DIR + '/'))).toBe(true);
  });

  it('any interleaving, start order and number of EAGAIN retries ends Connected through legal states only', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat({ max: 6 }), fc.nat({ max: 3000 }), fc.nat({ max: 3000 }), (seed, conflicts, feStart, beStart) => {
        const { store, fe, be } = setup();
        store.roundTrips = true;
        store.forcedConflicts = conflicts;
        let x = seed | 0;
        const random = () => ((x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 8) / 2 ** 24;
        const attached: { ref?: number; port?: number } = {};
        const r = new Runner(store, random);
        const f = r.spawn('front', (function* () {
          yield* sleepUntil(store, feStart);
          return yield* frontendConnect(fe, feOpts());
        })());
        const b = r.spawn('back', (function* () {
          yield* sleepUntil(store, beStart);
          return yield* backendConnect(be, BE_DIR, beOpts(attached));
        })());
        r.run();
        expect(f.error ?? b.error).toBeUndefined();
        expect(f.result?.ok).toBe(true);
        expect(b.result?.ok).toBe(true);
        expect(attached).toEqual({ ref: 8, port: 5 });
        expectLegal(states(store, FE_DIR));
        expectLegal(states(store, BE_DIR));
        expect(states(store, FE_DIR).at(-1)).toBe(S.Connected);
        expect(states(store, BE_DIR).at(-1)).toBe(S.Connected);
        expect(store.commits.eagain).toBeGreaterThanOrEqual(conflicts);
      }),
      { numRuns: 150 },
    );
  });

  it('a backend refuses garbage from the frontend and closes; the frontend sees it and closes too', () => {
    const { store, fe, be } = setup();
    const r = new Runner(store);
    const f = r.spawn('front', frontendConnect(fe, feOpts({ *setup() { return { 'ring-ref': 'eight', 'event-channel': 5 }; } })));
    const b = r.spawn('back', backendConnect(be, BE_DIR, beOpts({})));
    r.run();
    expect(b.result?.ok).toBe(false);
    if (!b.result?.ok) expect(b.result?.error.code).toBe('bad-peer-node');
    expect(f.result?.ok).toBe(false);
    if (!f.result?.ok) expect(f.result?.error.code).toBe('peer-closed');
    expect(store.get(`${BE_DIR}/state`)).toBe(String(S.Closing));
    expect(store.get(`${FE_DIR}/state`)).toBe(String(S.Closing));
  });

  it('a frontend whose backend never comes gives up at its deadline', () => {
    const { store, fe } = setup();
    const r = new Runner(store);
    const f = r.spawn('front', frontendConnect(fe, feOpts({ deadline: 5e9 })));
    r.run();
    expect(store.now).toBe(5e9);
    expect(f.result?.ok).toBe(false);
    if (!f.result?.ok) expect(f.result?.error.code).toBe('timeout');
    expect(store.get(`${FE_DIR}/state`)).toBe(String(S.Closing));
  });

  it('a driver failing its own setup closes its end and reports it', () => {
    const { store, fe } = setup();
    runOne(store, be2InitWait(store));
    const out = runOne(store, frontendConnect(fe, feOpts({ *setup() { throw new Error('no grant entries left'); } })));
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.error.message).toMatch(/setup-failed: no grant entries left/);
  });

  it('a device directory that points elsewhere is refused', () => {
    const { store, fe, be } = setup();
    runOne(store, store.client(0).write(`${FE_DIR}/backend`, '/local/domain/2/backend/vif/6/0'));
    const out = runOne(store, frontendConnect(fe, feOpts()));
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.error.code).toBe('no-device');
    const o2 = runOne(store, backendConnect(be, '/local/domain/0/backend/vif/5/0', beOpts({})));
    expect(o2.ok).toBe(false);
  });

  it('closing: the frontend closes, the backend follows, both end Closed', () => {
    const { store, fe, be } = setup();
    const r = new Runner(store);
    const f = r.spawn('front', (function* () {
      const c = yield* frontendConnect(fe, feOpts());
      if (!c.ok) return c;
      return yield* c.value.close();
    })());
    const b = r.spawn('back', (function* () {
      const c = yield* backendConnect(be, BE_DIR, beOpts({}));
      if (!c.ok) return c;
      yield* c.value.waitUntilFrontendClosing();
      return yield* c.value.close();
    })());
    r.run();
    expect(f.result?.ok && b.result?.ok).toBe(true);
    expect(states(store, FE_DIR)).toEqual([S.Initialising, S.Initialised, S.Connected, S.Closing, S.Closed]);
    expect(states(store, BE_DIR)).toEqual([S.Initialising, S.InitWait, S.Connected, S.Closing, S.Closed]);
  });
});

/** The backend's first step alone (so a frontend can proceed to its own setup). */
function* be2InitWait(store: MockStore) {
  yield* store.client(2).write(`${BE_DIR}/state`, String(S.InitWait));
}
