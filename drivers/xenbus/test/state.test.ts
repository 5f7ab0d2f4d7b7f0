import { describe, expect, it } from 'vitest';
import { TRANSITIONS, XenbusState as S, canTransition, parseBackendPath, parseFrontendPath, parseState, parseUint, stateName, type XenbusState } from '@xenotype/xenbus';

describe('XenbusState', () => {
  it('has io/xenbus.h values', () => {
    expect(S).toEqual({ Unknown: 0, Initialising: 1, InitWait: 2, Initialised: 3, Connected: 4, Closing: 5, Closed: 6, Reconfiguring: 7, Reconfigured: 8 });
    expect(stateName(S.InitWait)).toBe('InitWait');
  });

  it.each<[XenbusState, XenbusState, boolean]>([
    [S.Unknown, S.Initialising, true],
    [S.Initialising, S.InitWait, true],
    [S.InitWait, S.Initialised, true],
    [S.Initialising, S.Initialised, true],
    [S.Initialised, S.Connected, true],
    [S.InitWait, S.Connected, true],
    [S.Connected, S.Closing, true],
    [S.Closing, S.Closed, true],
    [S.Closed, S.Initialising, true], // frontend reconnects after a backend restart
    [S.Closed, S.InitWait, true], // backend reconnects
    [S.Connected, S.Reconfiguring, true],
    [S.Reconfiguring, S.Reconfigured, true],
    [S.Reconfigured, S.Connected, true],
    [S.Connected, S.Connected, true], // a no-op
    [S.Connected, S.Initialising, false],
    [S.Connected, S.InitWait, false],
    [S.Closing, S.Connected, false],
    [S.Closed, S.Connected, false],
    [S.Unknown, S.Connected, false],
    [S.Initialised, S.InitWait, false],
    [S.Reconfiguring, S.Connected, false],
  ])('%i → %i legal: %s', (from, to, legal) => {
    expect(canTransition(from, to)).toBe(legal);
  });

  it('every state can reach Closed, and Closed can start again', () => {
    for (const s of Object.values(S)) {
      const seen = new Set<XenbusState>([s]);
      const todo = [s];
      while (todo.length) for (const n of TRANSITIONS[todo.pop()!]) if (!seen.has(n)) seen.add(n), todo.push(n);
      expect(seen.has(S.Closed), stateName(s)).toBe(true);
    }
  });

  it.each<[string | null, XenbusState]>([
    ['4', S.Connected],
    ['  2 ', S.InitWait],
    ['0', S.Unknown],
    ['9', S.Unknown],
    ['-1', S.Unknown],
    ['4x', S.Unknown],
    ['', S.Unknown],
    [null, S.Unknown],
    ['0x4', S.Unknown],
    ['4'.repeat(100), S.Unknown],
  ])('peer state %j reads as %i', (v, s) => {
    expect(parseState(v)).toBe(s);
  });
});

describe('device paths', () => {
  it('parse backend and frontend directories; anything else is null', () => {
    expect(parseBackendPath('/local/domain/0/backend/vif/5/0')).toEqual({ backendDomid: 0, type: 'vif', frontendDomid: 5, devid: 0 });
    expect(parseBackendPath('/local/domain/2/backend/vbd/7/51712')).toEqual({ backendDomid: 2, type: 'vbd', frontendDomid: 7, devid: 51712 });
    expect(parseFrontendPath('/local/domain/7/device/vbd/51712')).toEqual({ frontendDomid: 7, type: 'vbd', devid: 51712 });
    for (const bad of ['', '/local/domain/0/backend/vif/5', '/local/domain/0/backend/vif/5/0/x', '/local/domain/00/backend/vif/5/0', '/local/domain/0/backend/../5/0', 'local/domain/0/backend/vif/5/0'])
      expect(parseBackendPath(bad), bad).toBeNull();
    expect(parseFrontendPath('/local/domain/7/device/vbd/-1')).toBeNull();
  });

  it('peer integers are validated', () => {
    expect(parseUint('8')).toBe(8);
    expect(parseUint('4294967295')).toBe(4294967295);
    expect(parseUint('4294967296')).toBeNull();
    expect(parseUint('1e3')).toBeNull();
    expect(parseUint('-3')).toBeNull();
    expect(parseUint(null)).toBeNull();
    expect(parseUint('70000', 0x7fef)).toBeNull();
  });
});
