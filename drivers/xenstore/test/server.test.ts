/**
 * The server as a pure function: tables of (connection, request, expected reply and events), each
 * table one scenario run in order on a fresh world with dom0 (a socket connection) and guests 5
 * and 6 introduced. Expected behaviour is Xen 4.17's C xenstored (checked against the real daemon
 * where a socket can show it; guests' rows follow docs and the reference notes).
 */
import { describe, expect, it } from 'vitest';
import { XS, errorString, XSD_ERRORS, errorPayload, bstr } from '../src/index';
import { T, world, type World } from './support';

type Row = [who: string, type: number, payload: string, tx: number, expect: string[] | ((r: string[]) => void)];

function run(w: World, rows: Row[], conns: Record<string, ReturnType<World['guest']>> = {}) {
  const c = (who: string) => (who === 'd0' ? w.dom0 : who in conns ? conns[who] : w.guest(Number(who.slice(1))));
  rows.forEach(([who, type, payload, tx, want], i) => {
    const got = w.rq(c(who), type, payload, tx);
    if (typeof want === 'function') want(got);
    else expect(got, `row ${i}: ${who} ${type} ${JSON.stringify(payload)}`).toEqual(want);
  });
  expect(w.s.check()).toEqual([]);
  expect(w.s.internalErrors).toBe(0);
}

describe('dispatch and errors', () => {
  it('maps errors to Xen’s strings in one place', () => {
    expect(XSD_ERRORS[0]).toBe('EINVAL');
    expect(errorString('EBADF')).toBe('EINVAL');
    expect(bstr(errorPayload('EAGAIN'))).toBe('EAGAIN\0');
  });

  it('every message type: unknown ones ENOSYS, malformed EINVAL, privileged ones EACCES for guests', () => {
    const w = world();
    run(w, [
      ['d0', 20, 'x\0', 0, ['ERR ENOSYS']],
      ['d0', 23, '', 0, ['ERR ENOSYS']],
      ['d0', 128, '', 0, ['ERR ENOSYS']],
      ['d0', 999, '', 0, ['ERR ENOSYS']],
      ['d0', T.WATCH_EVENT, '/a\0t\0', 0, ['ERR ENOSYS']],
      ['d0', T.ERROR, 'EINVAL\0', 0, ['ERR ENOSYS']],
      // one-argument ops with no NUL, or extra args: EINVAL (C answers a stale errno here)
      ['d0', T.READ, '/tool', 0, ['ERR EINVAL']],
      ['d0', T.READ, '/tool\0x\0', 0, ['ERR EINVAL']],
      ['d0', T.MKDIR, '/a\0b\0', 0, ['ERR EINVAL']],
      ['d0', T.RM, '', 0, ['ERR EINVAL']],
      ['d0', T.DIRECTORY, '/tool', 0, ['ERR EINVAL']],
      ['d0', T.GET_PERMS, '', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '/no-nul', 0, ['ERR EINVAL']],
      ['d0', T.SET_PERMS, '/tool\0', 0, ['ERR EINVAL']],
      ['d0', T.SET_PERMS, '/tool\0x0\0', 0, ['ERR EINVAL']],
      ['d0', T.SET_PERMS, '/tool\0r\0', 0, ['ERR EINVAL']],
      ['d0', T.WATCH, '/a\0', 0, ['ERR EINVAL']],
      ['d0', T.WATCH, '/a\0t\0' + '1\0', 0, ['ERR EINVAL']], // 4.17 has no depth argument
      ['d0', T.UNWATCH, '/a\0', 0, ['ERR EINVAL']],
      ['d0', T.TRANSACTION_END, 'X\0', 0, ['ERR EINVAL']],
      ['d0', T.TRANSACTION_END, 'T\0', 0, ['ERR ENOENT']],
      ['d0', T.GET_DOMAIN_PATH, '5', 0, ['ERR EINVAL']],
      ['d0', T.IS_DOMAIN_INTRODUCED, '', 0, ['ERR EINVAL']],
      ['d0', T.INTRODUCE, '7\x004\0', 0, ['ERR EINVAL']],
      ['d0', T.INTRODUCE, '7\x004\x000\0', 0, ['ERR EINVAL']],
      ['d0', T.SET_TARGET, '5\0', 0, ['ERR EINVAL']],
      ['d0', T.CONTROL, '', 0, ['ERR EINVAL']],
      ['d0', T.CONTROL, 'nosuch\0', 0, ['ERR EINVAL']],
      ['d0', T.DIRECTORY_PART, '/tool\0', 0, ['ERR EINVAL']],
      // privileged operations from a guest
      ['g5', T.INTRODUCE, '7\x004\x0012\0', 0, ['ERR EACCES']],
      ['g5', T.RELEASE, '6\0', 0, ['ERR EACCES']],
      ['g5', T.IS_DOMAIN_INTRODUCED, '6\0', 0, ['ERR EACCES']],
      ['g5', T.RESUME, '6\0', 0, ['ERR EACCES']],
      ['g5', T.SET_TARGET, '5\x006\0', 0, ['ERR EACCES']],
      ['g5', T.CONTROL, 'help\0', 0, ['ERR EACCES']],
      // an unknown transaction id, on any op that uses one
      ['d0', T.READ, '/tool\0', 42, ['ERR ENOENT']],
      ['g5', T.WRITE, 'data\0x', 42, ['ERR ENOENT']],
      ['d0', T.WATCH, '/tool\0t\0', 42, ['OK', 'EV /tool t']], // WATCH ignores tx_id
    ]);
  });

  it('replies echo req_id and tx_id; an oversized reply is E2BIG', () => {
    const w = world();
    const r = w.s.request(w.dom0, T.READ, '/tool\0', 0, 0xdeadbeef);
    expect(r[0].reqId).toBe(0xdeadbeef);
    w.rq(w.dom0, T.TRANSACTION_START, '\0');
    const t = w.s.request(w.dom0, T.READ, '/tool\0', 1, 77);
    expect([t[0].reqId, t[0].txId]).toEqual([77, 1]);
    for (let i = 0; i < 200; i++) w.rq(w.dom0, T.MKDIR, `/big/a-rather-long-child-name-${i}\0`);
    expect(w.rq(w.dom0, T.DIRECTORY, '/big\0')).toEqual(['ERR E2BIG']);
  });
});

describe('the tree: read, write, mkdir, rm, directory, directory_part, domain paths', () => {
  it('reads and writes values, creates parents, removes subtrees', () => {
    const w = world();
    run(w, [
      ['d0', T.READ, '/\0', 0, ['READ ""']],
      ['d0', T.DIRECTORY, '/\0', 0, ['DIRECTORY "tool\\u0000"']],
      ['d0', T.DIRECTORY, '/tool\0', 0, ['DIRECTORY "xenstored\\u0000"']],
      ['d0', T.GET_PERMS, '/\0', 0, ['GET_PERMS "n0\\u0000"']],
      ['d0', T.READ, '/a\0', 0, ['ERR ENOENT']],
      ['d0', T.WRITE, '/a/b/c\0v\0bin', 0, ['OK']],
      ['d0', T.READ, '/a/b/c\0', 0, ['READ "v\\u0000bin"']],
      ['d0', T.READ, '/a/b\0', 0, ['READ ""']],
      ['d0', T.WRITE, '/a/b\0', 0, ['OK']],
      ['d0', T.WRITE, 'rel/x\0r', 0, ['OK']],
      ['d0', T.READ, '/local/domain/0/rel/x\0', 0, ['READ "r"']],
      ['d0', T.MKDIR, '/a/b/c\0', 0, ['OK']],
      ['d0', T.READ, '/a/b/c\0', 0, ['READ "v\\u0000bin"']],
      ['d0', T.MKDIR, '/a/m\0', 0, ['OK']],
      ['d0', T.DIRECTORY, '/a\0', 0, ['DIRECTORY "b\\u0000m\\u0000"']],
      ['d0', T.WRITE, '@foo\0x', 0, ['ERR EINVAL']],
      ['d0', T.GET_PERMS, '@introduceDomain\0', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '/a//b\0x', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '/a/b/\0x', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '/a/b c\0x', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '\0x', 0, ['ERR EINVAL']],
      ['d0', T.RM, '/\0', 0, ['ERR EINVAL']],
      ['d0', T.RM, '/a/nonexistent\0', 0, ['OK']],
      ['d0', T.RM, '/a/no/nonexistent\0', 0, ['ERR ENOENT']],
      ['d0', T.RM, '/a/b\0', 0, ['OK']],
      ['d0', T.READ, '/a/b/c\0', 0, ['ERR ENOENT']],
      ['d0', T.DIRECTORY, '/a\0', 0, ['DIRECTORY "m\\u0000"']],
      ['d0', T.GET_DOMAIN_PATH, '5\0', 0, ['GET_DOMAIN_PATH "/local/domain/5\\u0000"']],
      ['d0', T.GET_DOMAIN_PATH, 'abc\0', 0, ['GET_DOMAIN_PATH "/local/domain/0\\u0000"']],
      ['g5', T.GET_DOMAIN_PATH, '6\0', 0, ['GET_DOMAIN_PATH "/local/domain/6\\u0000"']],
      ['d0', T.IS_DOMAIN_INTRODUCED, '5\0', 0, ['IS_DOMAIN_INTRODUCED "T\\u0000"']],
      ['d0', T.IS_DOMAIN_INTRODUCED, '9\0', 0, ['IS_DOMAIN_INTRODUCED "F\\u0000"']],
      ['d0', T.IS_DOMAIN_INTRODUCED, '0\0', 0, ['IS_DOMAIN_INTRODUCED "T\\u0000"']],
    ]);
  });

  it('path length: 2048 characters after an optional /local/domain/N/ prefix', () => {
    const w = world();
    const long = (n: number) => '/' + 'x'.repeat(n - 1);
    run(w, [
      ['d0', T.WRITE, long(2048) + '\0', 0, ['OK']],
      ['d0', T.WRITE, long(2049) + '\0', 0, ['ERR EINVAL']],
      ['d0', T.WRITE, '/local/domain/5' + long(2048) + '\0', 0, ['OK']],
      ['d0', T.WRITE, '/local/domain/5' + long(2049) + '\0', 0, ['OK']],
      ['d0', T.WRITE, '/local/domain/5' + long(2050) + '\0', 0, ['ERR EINVAL']],
      ['d0', T.WATCH, '@' + 'x'.repeat(2048) + '\0t\0', 0, ['ERR EINVAL']],
    ]);
  });

  it('DIRECTORY_PART pages a long child list with the generation and a final empty string', () => {
    const w = world();
    const names = Array.from({ length: 300 }, (_, i) => `child-with-a-long-name-${i}`);
    for (const n of names) w.rq(w.dom0, T.MKDIR, `/big/${n}\0`);
    let off = 0;
    let gen = '';
    const got: string[] = [];
    for (let guard = 0; guard < 10; guard++) {
      const [r] = w.s.request(w.dom0, T.DIRECTORY_PART, `/big\0${off}\0`);
      expect(r.type).toBe(T.DIRECTORY_PART);
      expect(r.payload.length).toBeLessThanOrEqual(4096);
      const parts = bstr(r.payload).split('\0');
      if (gen) expect(parts[0]).toBe(gen);
      gen = parts[0];
      const chunk = parts.slice(1, -1);
      if (chunk.length && chunk[chunk.length - 1] === '') {
        got.push(...chunk.slice(0, -1));
        break;
      }
      got.push(...chunk);
      off += chunk.reduce((a, c) => a + c.length + 1, 0);
    }
    expect(got).toEqual(names);
    expect(w.rq(w.dom0, T.DIRECTORY_PART, '/big\x0099999\0')).toEqual([`DIRECTORY_PART "${gen}\\u0000\\u0000"`]);
  });
});

describe('permissions', () => {
  it('owner, defaults, explicit entries, inheritance on create, EPERM on changing the owner', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/shared\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/shared\0n0\0w5\0', 0, ['OK']],
      ['d0', T.WRITE, '/shared/dom0\0x', 0, ['OK']],
      ['d0', T.GET_PERMS, '/shared/dom0\0', 0, ['GET_PERMS "n0\\u0000w5\\u0000"']],
      // dom5 may write (and create) under /shared, and owns what it creates
      ['g5', T.WRITE, '/shared/c5\0y', 0, ['OK']],
      ['d0', T.GET_PERMS, '/shared/c5\0', 0, ['GET_PERMS "n5\\u0000w5\\u0000"']],
      ['g5', T.READ, '/shared/c5\0', 0, ['READ "y"']],
      ['g5', T.READ, '/shared/dom0\0', 0, ['ERR EACCES']], // w5 only
      ['g5', T.WRITE, '/shared/dom0\0z', 0, ['OK']],
      ['g6', T.READ, '/shared/c5\0', 0, ['ERR EACCES']],
      ['g6', T.WRITE, '/shared/c6\0', 0, ['ERR EACCES']],
      // the owner may change its perms but not give the node away
      ['g5', T.SET_PERMS, '/shared/c5\0n5\0r6\0', 0, ['OK']],
      ['g6', T.READ, '/shared/c5\0', 0, ['READ "y"']],
      ['g5', T.SET_PERMS, '/shared/c5\0n6\0', 0, ['ERR EPERM']],
      ['g6', T.SET_PERMS, '/shared/c5\0n6\0', 0, ['ERR EACCES']],
      ['g5', T.SET_PERMS, '/shared/dom0\0n5\0', 0, ['ERR EACCES']], // w without ownership
      // dom0 may give it away; a nonexistent owner is ENOENT, later unknown entries are ignored
      ['d0', T.SET_PERMS, '/shared/c5\0n6\0', 0, ['OK']],
      ['g6', T.READ, '/shared/c5\0', 0, ['READ "y"']],
      ['d0', T.SET_PERMS, '/shared/c5\0n99\0', 0, ['ERR ENOENT']],
      ['d0', T.SET_PERMS, '/shared/c5\0r0\0b99\0', 0, ['OK']],
      ['d0', T.GET_PERMS, '/shared/c5\0', 0, ['GET_PERMS "r0\\u0000b99\\u0000"']],
      ['g5', T.READ, '/shared/c5\0', 0, ['READ "y"']], // default r
      ['g5', T.WRITE, '/shared/c5\0', 0, ['ERR EACCES']],
    ]);
  });

  it('hides existence: EACCES unless the caller has the right on the nearest existing ancestor', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/shared2\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/shared2\0r0\0', 0, ['OK']],
      ['g5', T.READ, '/nonexistent\0', 0, ['ERR EACCES']],
      ['g5', T.READ, '/shared2/missing\0', 0, ['ERR ENOENT']],
      ['g5', T.READ, '/shared2/a/b/missing\0', 0, ['ERR ENOENT']],
      ['g5', T.WRITE, '/shared2/new\0', 0, ['ERR EACCES']], // r on the parent, not w
      ['g5', T.RM, '/shared2/missing\0', 0, ['ERR EACCES']],
      ['g5', T.DIRECTORY, '/\0', 0, ['ERR EACCES']],
      ['g5', T.READ, 'name\0', 0, ['ERR EACCES']], // no /local/domain/5 yet
    ]);
  });

  it('relative paths resolve under /local/domain/<domid>; a guest writes only where allowed', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/local/domain/5/data\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/local/domain/5\0n0\0r5\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/local/domain/5/data\0n5\0', 0, ['OK']],
      ['d0', T.WRITE, '/local/domain/5/name\0guest5', 0, ['OK']],
      ['g5', T.READ, 'name\0', 0, ['READ "guest5"']],
      ['g5', T.WRITE, 'name\0x', 0, ['ERR EACCES']],
      ['g5', T.WRITE, 'data/k\0v', 0, ['OK']],
      ['g5', T.READ, '/local/domain/5/data/k\0', 0, ['READ "v"']],
      ['g6', T.READ, '/local/domain/5/data/k\0', 0, ['ERR EACCES']],
      ['g6', T.READ, '/local/domain/5/name\0', 0, ['ERR EACCES']],
      ['g6', T.WRITE, '/local/domain/5/data/k\0x', 0, ['ERR EACCES']],
      ['g6', T.RM, '/local/domain/5/data/k\0', 0, ['ERR EACCES']],
      ['g6', T.MKDIR, '/local/domain/5/data/z\0', 0, ['ERR EACCES']],
      ['g6', T.GET_PERMS, '/local/domain/5/data\0', 0, ['ERR EACCES']],
      ['g6', T.DIRECTORY, '/local/domain/5\0', 0, ['ERR EACCES']],
      ['g6', T.SET_PERMS, '/local/domain/5/data\0b6\0', 0, ['ERR EACCES']],
    ]);
  });

  it('SET_TARGET gives a domain the rights of its target (device models, stub domains)', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/local/domain/6/data\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/local/domain/6/data\0n6\0', 0, ['OK']],
      ['d0', T.MKDIR, '/granted\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/granted\0n0\0r6\0', 0, ['OK']],
      ['g5', T.READ, '/local/domain/6/data\0', 0, ['ERR EACCES']],
      ['d0', T.SET_TARGET, '5\x006\0', 0, ['OK']],
      ['g5', T.READ, '/local/domain/6/data\0', 0, ['READ ""']],
      ['g5', T.WRITE, '/local/domain/6/data/x\0y', 0, ['OK']],
      ['g5', T.READ, '/granted\0', 0, ['READ ""']],
      ['d0', T.SET_TARGET, '5\x009\0', 0, ['ERR ENOENT']],
      ['d0', T.SET_TARGET, '9\x005\0', 0, ['ERR ENOENT']],
    ]);
  });

  it('permissions of domains that go away are ignored, and not inherited by a new domain with that id', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/p\0', 0, ['OK']],
      ['d0', T.SET_PERMS, '/p\0n0\0r6\0', 0, ['OK']],
      ['g6', T.READ, '/p\0', 0, ['READ ""']],
    ]);
    w.alive.delete(6);
    w.s.checkDomains();
    w.alive.add(6);
    w.rq(w.dom0, T.WRITE, '/local/domain/6/name\0new'); // the toolstack sets up the new domain 6
    w.rq(w.dom0, T.INTRODUCE, '6\x004\x0016\0');
    expect(w.rq(w.guest(6), T.READ, '/p\0')).toEqual(['ERR EACCES']);
    expect(w.rq(w.dom0, T.GET_PERMS, '/p\0')).toEqual(['GET_PERMS "n0\\u0000r6\\u0000"']);
  });
});

describe('watches', () => {
  it('initial event after OK; events before the reply, for the node and its ancestors; relative paths', () => {
    const w = world();
    run(w, [
      ['d0', T.MKDIR, '/cli\0', 0, ['OK']],
      ['d0', T.WATCH, '/cli/w\0tok\0', 0, ['OK', 'EV /cli/w tok']],
      ['d0', T.WATCH, '/cli/w\0tok\0', 0, ['ERR EEXIST']],
      ['d0', T.WATCH, '/cli\0up\0', 0, ['OK', 'EV /cli up']],
      ['d0', T.WATCH, 'rel\0rt\0', 0, ['OK', 'EV rel rt']],
      ['d0', T.WRITE, '/cli/w/x\0' + '1', 0, ['EV /cli/w/x tok', 'EV /cli/w/x up', 'OK']],
      ['d0', T.WRITE, '/cli/w\0' + '2', 0, ['EV /cli/w tok', 'EV /cli/w up', 'OK']],
      ['d0', T.WRITE, '/cli/other\0' + '2', 0, ['EV /cli/other up', 'OK']],
      ['d0', T.WRITE, '/local/domain/0/rel/a\0' + '2', 0, ['EV rel/a rt', 'OK']],
      ['d0', T.SET_PERMS, '/cli/w\0n0\0', 0, ['EV /cli/w tok', 'EV /cli/w up', 'OK']],
      ['d0', T.MKDIR, '/cli/w/y/z\0', 0, ['EV /cli/w/y/z tok', 'EV /cli/w/y/z up', 'OK']],
      ['d0', T.MKDIR, '/cli/w/y/z\0', 0, ['OK']],
      // RM: each removed node, deepest first; descendants only for exact watches
      ['d0', T.WATCH, '/cli/w/y/z\0exact\0', 0, ['OK', 'EV /cli/w/y/z exact']],
      ['d0', T.RM, '/cli/w\0', 0, ['EV /cli/w/y/z exact', 'EV /cli/w tok', 'EV /cli/w up', 'OK']],
      ['d0', T.UNWATCH, '/cli/w\0tok\0', 0, ['OK']],
      ['d0', T.UNWATCH, '/cli/w\0tok\0', 0, ['ERR ENOENT']],
      ['d0', T.UNWATCH, 'rel\0rt\0', 0, ['OK']],
      ['d0', T.RESET_WATCHES, '', 0, ['OK']],
      ['d0', T.WRITE, '/cli/x\0' + '3', 0, ['OK']],
    ]);
  });

  it('events reach other connections only where they may read the node (or its parent)', () => {
    const w = world();
    const [g5, g6] = [w.guest(5), w.guest(6)];
    w.rq(w.dom0, T.MKDIR, '/tool/private\0');
    w.rq(w.dom0, T.MKDIR, '/pub\0');
    w.rq(w.dom0, T.SET_PERMS, '/pub\0r0\0');
    expect(w.rq(g5, T.WATCH, '/tool\0t\0')).toEqual(['OK', 'EV /tool t']);
    expect(w.rq(g6, T.WATCH, '/pub\0p\0')).toEqual(['OK', 'EV /pub p']);
    expect(w.rq(g6, T.WATCH, '/\0all\0')).toEqual(['OK', 'EV / all']);
    expect(w.rq(w.dom0, T.WRITE, '/tool/private/x\0s')).toEqual(['OK']);
    expect(w.got(g5)).toEqual([]); // got only the initial event
    expect(w.got(g6)).toEqual([]);
    w.rq(w.dom0, T.WRITE, '/pub/x\0s');
    expect(w.got(g6)).toEqual(['EV /pub/x p', 'EV /pub/x all']);
    // losing read access still reports the change that took it away (old perms)
    w.rq(w.dom0, T.SET_PERMS, '/pub/x\0n0\0');
    expect(w.got(g6)).toEqual(['EV /pub/x p', 'EV /pub/x all']); // the parent is readable
    w.rq(w.dom0, T.SET_PERMS, '/pub\0n0\0');
    expect(w.got(g6)).toEqual(['EV /pub p', 'EV /pub all']);
    w.rq(w.dom0, T.WRITE, '/pub/x\0t');
    expect(w.got(g6)).toEqual([]);
  });

  it('identical events still queued are coalesced', () => {
    const w = world();
    const g5 = w.guest(5);
    w.rq(w.dom0, T.MKDIR, '/c\0');
    w.rq(w.dom0, T.SET_PERMS, '/c\0r0\0');
    w.rq(g5, T.WATCH, '/c\0t\0');
    for (let i = 0; i < 5; i++) w.rq(w.dom0, T.WRITE, `/c/x\0${i}`);
    w.rq(w.dom0, T.WRITE, '/c/y\0');
    expect(w.got(g5)).toEqual(['EV /c/x t', 'EV /c/y t']);
  });

  it('@introduceDomain and @releaseDomain go only to connections their special perms allow', () => {
    const w = world({ guests: [5], alive: [6, 7] });
    const g5 = w.guest(5);
    expect(w.rq(w.dom0, T.WATCH, '@introduceDomain\0i\0')).toEqual(['OK', 'EV @introduceDomain i']);
    expect(w.rq(w.dom0, T.WATCH, '@releaseDomain\0r\0')).toEqual(['OK', 'EV @releaseDomain r']);
    expect(w.rq(g5, T.WATCH, '@releaseDomain\0r5\0')).toEqual(['OK', 'EV @releaseDomain r5']);
    expect(w.rq(w.dom0, T.INTRODUCE, '6\x004\x0016\0')).toEqual(['EV @introduceDomain i', 'OK']);
    expect(w.rq(w.dom0, T.INTRODUCE, '6\x004\x0017\0')).toEqual(['OK']); // re-introduce: no event
    expect(w.links).toContain('rebind 6 17');
    expect(w.rq(w.dom0, T.RELEASE, '6\0')).toEqual(['EV @releaseDomain r', 'OK']);
    expect(w.got(g5)).toEqual([]);
    expect(w.rq(g5, T.SET_PERMS, '@releaseDomain\0n0\0r5\0')).toEqual(['ERR EACCES']);
    expect(w.rq(w.dom0, T.SET_PERMS, '@releaseDomain\0n0\0r5\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.SET_PERMS, '@foo\0n0\0')).toEqual(['ERR EINVAL']);
    w.rq(w.dom0, T.INTRODUCE, '7\x004\x0017\0');
    w.alive.delete(7);
    w.s.checkDomains();
    expect(w.got(w.dom0)).toEqual(['EV @releaseDomain r']);
    expect(w.got(g5)).toEqual(['EV @releaseDomain r5']);
  });
});

describe('transactions', () => {
  const conflict = (setup: Row[], inTx: Row[], outside: Row[], result: string) => {
    const w = world();
    w.rq(w.dom0, T.WRITE, '/bw/x\0' + '1');
    run(w, setup);
    const second = w.s.connect();
    expect(w.rq(w.dom0, T.TRANSACTION_START, '\0')).toEqual(['TRANSACTION_START "1\\u0000"']);
    run(w, inTx.map((r) => [r[0], r[1], r[2], 1, r[4]] as Row));
    run(w, outside, { o: second });
    expect(w.rq(w.dom0, T.TRANSACTION_END, 'T\0', 1)).toEqual([result]);
  };

  it.each<[string, Row[], Row[], Row[], string]>([
    ['write X in tx, then outside write of X', [], [['d0', T.WRITE, '/bw/x\0' + '2', 0, ['OK']]], [['o', T.WRITE, '/bw/x\0' + '3', 0, ['OK']]], 'ERR EAGAIN'],
    ['outside write of X before the tx touches X', [], [], [['o', T.WRITE, '/bw/x\0' + '3', 0, ['OK']]], 'OK'],
    ['create in tx while a sibling is created outside', [], [['d0', T.WRITE, '/bw/new1\0a', 0, ['OK']]], [['o', T.WRITE, '/bw/sib\0b', 0, ['OK']]], 'ERR EAGAIN'],
    ['write an unrelated node in tx', [], [['d0', T.WRITE, '/un/x\0a', 0, ['OK']]], [['o', T.WRITE, '/bw/x\0c', 0, ['OK']]], 'OK'],
    ['read of a missing node, then an outside create', [], [['d0', T.READ, '/bw/missing\0', 0, ['ERR ENOENT']]], [['o', T.WRITE, '/bw/missing\0c', 0, ['OK']]], 'ERR EAGAIN'],
    ['DIRECTORY in tx, then an outside child add', [], [['d0', T.DIRECTORY, '/bw\0', 0, ['DIRECTORY "x\\u0000"']]], [['o', T.WRITE, '/bw/more\0c', 0, ['OK']]], 'ERR EAGAIN'],
    ['read-only tx whose node changes', [], [['d0', T.READ, '/bw/x\0', 0, ['READ "1"']]], [['o', T.WRITE, '/bw/x\0c', 0, ['OK']]], 'ERR EAGAIN'],
  ])('%s', (_n, setup, inTx, outside, result) => conflict(setup, inTx, outside, result));

  it('isolation, commit, abort, nesting, ids per connection, events at commit', () => {
    const w = world();
    const other = w.s.connect();
    w.rq(other, T.WATCH, '/bw\0t\0');
    other.take();
    run(w, [
      ['d0', T.WRITE, '/bw/x\0' + '1', 0, ['OK']],
      ['d0', T.TRANSACTION_START, '\0', 0, ['TRANSACTION_START "1\\u0000"']],
      ['d0', T.TRANSACTION_START, '\0', 1, ['ERR EBUSY']],
      ['d0', T.TRANSACTION_START, '\0', 99, ['ERR ENOENT']],
      ['d0', T.WRITE, '/bw/x\0' + '2', 1, ['OK']],
      ['d0', T.MKDIR, '/bw/m/n\0', 1, ['OK']],
      ['d0', T.READ, '/bw/x\0', 1, ['READ "2"']],
      ['d0', T.READ, '/bw/x\0', 0, ['READ "1"']],
      ['d0', T.DIRECTORY, '/bw\0', 1, ['DIRECTORY "x\\u0000m\\u0000"']],
      ['d0', T.DIRECTORY, '/bw\0', 0, ['DIRECTORY "x\\u0000"']],
      ['d0', T.TRANSACTION_END, 'X\0', 1, ['ERR EINVAL']],
    ]);
    expect(w.got(other)).toEqual(['EV /bw/x t']); // the write outside the transaction
    expect(w.rq(w.dom0, T.TRANSACTION_END, 'T\0', 1)).toEqual(['OK']);
    expect(w.got(other)).toEqual(['EV /bw/x t', 'EV /bw/m/n t']);
    run(w, [
      ['d0', T.READ, '/bw/x\0', 0, ['READ "2"']],
      ['d0', T.TRANSACTION_END, 'T\0', 1, ['ERR ENOENT']],
      ['d0', T.TRANSACTION_START, '\0', 0, ['TRANSACTION_START "2\\u0000"']],
      ['d0', T.RM, '/bw/m\0', 2, ['OK']],
      ['d0', T.READ, '/bw/m/n\0', 2, ['ERR ENOENT']],
      ['d0', T.TRANSACTION_END, 'F\0', 2, ['OK']],
      ['d0', T.READ, '/bw/m/n\0', 0, ['READ ""']],
    ]);
    expect(w.got(other)).toEqual([]);
    expect(w.rq(other, T.TRANSACTION_START, '\0')).toEqual(['TRANSACTION_START "1\\u0000"']);
    expect(w.rq(w.dom0, T.RESET_WATCHES, '')).toEqual(['OK']);
  });
});

describe('quotas (unprivileged domains only)', () => {
  it('nodes: ENOSPC once the domain owns `nodes` nodes; dom0 unlimited', () => {
    const w = world({ quotas: { nodes: 10 } });
    w.rq(w.dom0, T.MKDIR, '/q\0');
    w.rq(w.dom0, T.SET_PERMS, '/q\0n0\0w5\0');
    const g5 = w.guest(5);
    for (let i = 0; i < 10; i++) expect(w.rq(g5, T.WRITE, `/q/n${i}\0`)).toEqual(['OK']);
    expect(w.rq(g5, T.WRITE, '/q/n10\0')).toEqual(['ERR ENOSPC']);
    expect(w.rq(g5, T.WRITE, '/q/n0\0overwrite')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.CONTROL, 'quota\x005\0')[0]).toMatch(/nodes +: +10/);
    for (let i = 0; i < 20; i++) expect(w.rq(w.dom0, T.WRITE, `/q/d${i}\0`)).toEqual(['OK']);
    expect(w.rq(g5, T.RM, '/q/n9\0')).toEqual(['OK']);
    expect(w.rq(g5, T.WRITE, '/q/n10\0')).toEqual(['OK']);
    expect(w.s.check()).toEqual([]);
  });

  it('node size: 24 + 8·perms + value + child list ≥ node-size is ENOSPC', () => {
    const w = world();
    w.rq(w.dom0, T.MKDIR, '/local/domain/5\0');
    w.rq(w.dom0, T.SET_PERMS, '/local/domain/5\0n5\0b0\0');
    const g5 = w.guest(5);
    expect(w.rq(g5, T.WRITE, 'v\0' + 'x'.repeat(2007))).toEqual(['OK']);
    expect(w.rq(g5, T.WRITE, 'v\0' + 'x'.repeat(2008))).toEqual(['ERR ENOSPC']);
    expect(w.rq(w.dom0, T.WRITE, '/local/domain/5/v\0' + 'x'.repeat(4000))).toEqual(['OK']);
  });

  it('watches: the 130th is E2BIG; transactions: the 12th is ENOSPC; permissions: more than 5 is ENOSPC', () => {
    const w = world();
    const g5 = w.guest(5);
    for (let i = 0; i < 129; i++) expect(w.rq(g5, T.WATCH, `/w${i}\0t\0`)[0]).toBe('OK');
    expect(w.rq(g5, T.WATCH, '/w129\0t\0')).toEqual(['ERR E2BIG']);
    for (let i = 0; i < 200; i++) expect(w.rq(w.dom0, T.WATCH, `/w${i}\0t\0`)[0]).toBe('OK');
    for (let i = 0; i < 11; i++) expect(w.rq(g5, T.TRANSACTION_START, '\0')[0]).toMatch(/^TRANSACTION_START/);
    expect(w.rq(g5, T.TRANSACTION_START, '\0')).toEqual(['ERR ENOSPC']);
    for (let i = 0; i < 20; i++) expect(w.rq(w.dom0, T.TRANSACTION_START, '\0')[0]).toMatch(/^TRANSACTION_START/);
    w.rq(w.dom0, T.MKDIR, '/local/domain/5/p\0');
    w.rq(w.dom0, T.SET_PERMS, '/local/domain/5/p\0n5\0');
    expect(w.rq(g5, T.SET_PERMS, 'p\0n5\0r1\0r2\0r3\0r4\0r6\0')).toEqual(['ERR ENOSPC']);
    expect(w.rq(g5, T.SET_PERMS, 'p\0n5\0r1\0r2\0r3\0r4\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.SET_PERMS, '/local/domain/5/p\0n5\0r1\0r2\0r3\0r4\0r6\0r0\0')).toEqual(['OK']);
  });

  it('CONTROL quota set changes a limit; help, check, print, log', () => {
    const w = world();
    expect(w.rq(w.dom0, T.CONTROL, 'quota\0')[0]).toContain('transactions     :       10 Transactions per domain');
    expect(w.rq(w.dom0, T.CONTROL, 'quota\0set\0transactions\x001\0')).toEqual(['OK']);
    const g5 = w.guest(5);
    expect(w.rq(g5, T.TRANSACTION_START, '\0')[0]).toMatch(/^TRANSACTION_START/);
    expect(w.rq(g5, T.TRANSACTION_START, '\0')[0]).toMatch(/^TRANSACTION_START/);
    expect(w.rq(g5, T.TRANSACTION_START, '\0')).toEqual(['ERR ENOSPC']);
    expect(w.rq(w.dom0, T.CONTROL, 'quota\0set\0nosuch\x001\0')).toEqual(['ERR EINVAL']);
    expect(w.rq(w.dom0, T.CONTROL, 'quota\0set\0nodes\x000\0')).toEqual(['ERR EINVAL']);
    expect(w.rq(w.dom0, T.CONTROL, 'quota\x0042\0')).toEqual(['ERR ENOENT']);
    expect(w.rq(w.dom0, T.CONTROL, 'quota-soft\0')[0]).toContain('memory');
    expect(w.rq(w.dom0, T.CONTROL, 'help\0')[0]).toContain('quota\\t[set <name> <val>|<domid>]');
    expect(w.rq(w.dom0, T.CONTROL, 'check\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.CONTROL, 'print\0hello\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.CONTROL, 'log\0on\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.CONTROL, 'log\0maybe\0')).toEqual(['ERR EINVAL']);
  });
});

describe('domains: introduce, release, resume, death', () => {
  it('release drops the connection and the domain’s own nodes; resume re-arms @releaseDomain', () => {
    const w = world({ guests: [5] });
    const g5 = w.guest(5);
    w.rq(w.dom0, T.MKDIR, '/local/domain/5\0');
    w.rq(w.dom0, T.SET_PERMS, '/local/domain/5\0n5\0');
    w.rq(g5, T.WRITE, 'data/x\0' + '1');
    w.rq(w.dom0, T.MKDIR, '/ref\0');
    w.rq(w.dom0, T.SET_PERMS, '/ref\0n0\0r5\0');
    w.rq(w.dom0, T.WATCH, '@releaseDomain\0r\0');
    w.dom0.take();
    expect(w.rq(w.dom0, T.RESUME, '5\0')).toEqual(['OK']);
    expect(w.rq(w.dom0, T.RELEASE, '5\0')).toEqual(['EV @releaseDomain r', 'OK']);
    expect(w.links).toContain('close 5');
    expect(w.rq(w.dom0, T.READ, '/local/domain/5\0')).toEqual(['ERR ENOENT']);
    expect(w.rq(w.dom0, T.GET_PERMS, '/ref\0')).toEqual(['GET_PERMS "n0\\u0000r5\\u0000"']);
    expect(w.rq(w.dom0, T.IS_DOMAIN_INTRODUCED, '5\0')).toEqual(['IS_DOMAIN_INTRODUCED "F\\u0000"']);
    expect(w.rq(w.dom0, T.RELEASE, '5\0')).toEqual(['ERR ENOENT']);
    expect(w.rq(w.dom0, T.RESUME, '5\0')).toEqual(['ERR ENOENT']);
    expect(w.rq(w.dom0, T.RELEASE, '0\0')).toEqual(['ERR EINVAL']);
    expect(g5.closed).toBe(true);
  });

  it('a domain that shuts down fires @releaseDomain once; when it dies its nodes go', () => {
    const w = world({ guests: [5] });
    let info = { dying: false, shutdown: false };
    w.s.env.domainInfo = (d) => (d === 0 ? { dying: false, shutdown: false } : d === 5 ? info : null);
    w.rq(w.dom0, T.MKDIR, '/local/domain/5\0');
    w.rq(w.dom0, T.SET_PERMS, '/local/domain/5\0n5\0');
    w.rq(w.dom0, T.WATCH, '@releaseDomain\0r\0');
    w.rq(w.dom0, T.WATCH, '/local\0l\0');
    w.dom0.take();
    info = { dying: false, shutdown: true };
    w.s.checkDomains();
    w.s.checkDomains();
    expect(w.got(w.dom0)).toEqual(['EV @releaseDomain r']);
    info = { dying: true, shutdown: true };
    w.s.checkDomains();
    expect(w.got(w.dom0)).toEqual(['EV /local/domain/5 l', 'EV @releaseDomain r']);
    expect(w.s.domains.has(5)).toBe(false);
    expect(w.s.check()).toEqual([]);
  });
});
