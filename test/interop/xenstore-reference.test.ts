/**
 * Differential tests against the reference: the same request sequences sent over a socket to Xen
 * 4.17's C xenstored (started under its no-hypervisor shim) and to our server, several
 * connections at once; every reply and every watch event on every connection must match. Covers
 * what a socket (privileged) client can see: the tree, errors, permissions strings, watches,
 * transactions and their conflicts, DIRECTORY_PART, path limits, CONTROL. Known, deliberate
 * differences are not in these sequences (malformed one-argument requests: C answers a stale
 * errno, we EINVAL; a guest's SET_PERMS of @releaseDomain without the right: C answers a stale
 * errno, we EACCES; CONTROL help lists live-update, which we do not offer; memory accounting).
 * Guests are emulated for the C daemon through its shim: their ring pages are files we read and
 * write, their event channel a FIFO.
 * Skipped, with the reason, if the C daemon or a C compiler is not installed.
 */
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { XS, XenstoreServer, XsParser, bstr, encode, type XsMessage } from '@xenotype/xenstore';
import { cXenstoredUnavailable, startCXenstored } from '../../tools/src/xenstored/c-reference';

/** A request on socket connection N, or on guest D's ring ('g5'); type DOMAINS sets the live domains and raises VIRQ_DOM_EXC. */
type Rq = [type: number, payload: string, tx?: number, conn?: number | string];
const DOMAINS = -1;
const show = (ci: number | string, m: XsMessage) => `c${ci} ${m.type === XS.ERROR ? 'ERR' : m.type === XS.WATCH_EVENT ? 'EV' : m.type}:${JSON.stringify(bstr(m.payload))}${m.txId ? ' tx' + m.txId : ''}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A guest's ring page as the file the shim maps for the daemon: we are the guest. */
class FileRing {
  private readonly fd: number;
  private readonly p = new XsParser();
  constructor(path: string) {
    this.fd = openSync(path, 'r+');
  }
  private u32(off: number): number {
    const b = Buffer.alloc(4);
    readSync(this.fd, b, 0, 4, off);
    return b.readUInt32LE(0);
  }
  private setU32(off: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    writeSync(this.fd, b, 0, 4, off);
  }
  /** Write a request, waiting for the daemon to make room (it is woken by `kick`). */
  async send(bytes: Uint8Array, kick: () => void): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const cons = this.u32(2048);
      const prod = this.u32(2052);
      const n = Math.min(1024 - ((prod - cons) >>> 0), bytes.length - off);
      for (let i = 0; i < n; ) {
        const at = (prod + i) & 1023;
        const k = Math.min(n - i, 1024 - at);
        writeSync(this.fd, bytes.subarray(off + i, off + i + k), 0, k, at);
        i += k;
      }
      this.setU32(2052, prod + n);
      off += n;
      kick();
      if (off < bytes.length) await sleep(2);
    }
  }
  /** Messages the daemon wrote since the last call. */
  receive(): XsMessage[] {
    const cons = this.u32(2056);
    const prod = this.u32(2060);
    const n = (prod - cons) >>> 0;
    if (n > 0 && n <= 1024) {
      const buf = Buffer.alloc(n);
      for (let i = 0; i < n; ) {
        const at = (cons + i) & 1023;
        const k = Math.min(n - i, 1024 - at);
        readSync(this.fd, buf, i, k, 1024 + at);
        i += k;
      }
      this.setU32(2056, cons + n);
      this.p.push(buf);
    }
    const out: XsMessage[] = [];
    for (let r = this.p.next(); r.kind === 'packet'; r = this.p.next()) out.push(r.msg);
    return out;
  }
  close(): void {
    closeSync(this.fd);
  }
}

async function againstC(rqs: Rq[], nconn: number, domains: number[]): Promise<string[][]> {
  const d = await startCXenstored({ domains });
  const got: string[] = [];
  const socks: net.Socket[] = [];
  const rings = new Map<string, FileRing>();
  const drainRings = () => {
    for (const [g, r] of rings) for (const m of r.receive()) got.push(show(g, m));
  };
  try {
    for (let i = 0; i < nconn; i++) {
      const sock = net.createConnection(d.socket);
      await new Promise((r) => sock.once('connect', r));
      const p = new XsParser();
      sock.on('data', (b) => {
        p.push(b);
        for (let r = p.next(); r.kind === 'packet'; r = p.next()) got.push(show(i, r.msg));
      });
      socks.push(sock);
    }
    const out: string[][] = [];
    for (const [type, payload, tx, ci] of rqs) {
      got.length = 0;
      if (type === DOMAINS) {
        d.setDomains(payload.split(',').filter(Boolean).map(Number));
        d.kick(true);
        await sleep(30);
        drainRings();
        out.push([...got].sort());
        continue;
      }
      const c = ci ?? 0;
      const msg = encode({ type, reqId: 7, txId: tx ?? 0, payload: Buffer.from(payload, 'latin1') });
      if (typeof c === 'string') {
        if (!rings.has(c)) rings.set(c, new FileRing(d.ringFile(Number(c.slice(1)))));
        await rings.get(c)!.send(msg, () => d.kick());
      } else socks[c].write(msg);
      const t0 = Date.now();
      while (!got.some((g) => g.startsWith(`c${c} `) && !g.includes(' EV:'))) {
        if (Date.now() - t0 > 2000) throw new Error(`C xenstored did not answer ${type} ${JSON.stringify(payload)}`);
        await sleep(1);
        drainRings();
      }
      // events for other connections, and the initial event after WATCH's reply: wait for quiet
      for (let quiet = 0, n = got.length; quiet < 2; ) {
        await sleep(3);
        drainRings();
        quiet = got.length === n ? quiet + 1 : 0;
        n = got.length;
      }
      out.push([...got].sort());
    }
    return out;
  } finally {
    for (const s of socks) s.destroy();
    for (const r of rings.values()) r.close();
    await d.stop();
  }
}

function againstUs(rqs: Rq[], nconn: number, domains: number[]): string[][] {
  let alive = new Set(domains);
  const link = { reset() {}, rebind() {}, error() {}, close() {} };
  const s = new XenstoreServer({ domainInfo: (d) => (d === 0 || alive.has(d) ? { dying: false, shutdown: false } : null), introduce: () => link });
  const cs = Array.from({ length: nconn }, () => s.connect());
  const all = () => [...cs.map((c, i) => [i, c] as const), ...[...s.domains.values()].filter((d) => d.conn).map((d) => [`g${d.domid}`, d.conn!] as const)];
  return rqs.map(([type, payload, tx, ci]) => {
    if (type === DOMAINS) {
      const before = all();
      alive = new Set(payload.split(',').filter(Boolean).map(Number));
      s.checkDomains();
      return before.flatMap(([i, c]) => c.take().map((m) => show(i, m))).sort();
    }
    const c = typeof ci === 'string' ? s.domainConnection(Number(ci.slice(1)))! : cs[ci ?? 0];
    s.handle(c, { type, reqId: 7, txId: tx ?? 0, payload: Buffer.from(payload, 'latin1') });
    return all().flatMap(([i, x]) => x.take().map((m) => show(i, m))).sort();
  });
}

const long = (n: number) => '/' + 'x'.repeat(n - 1);
const SCENARIOS: [string, Rq[], number[]][] = [
  [
    'tree, errors, specials, domain ops, CONTROL',
    [
      [XS.RM, '/t1\0'], [XS.READ, '/t1\0'], [XS.WRITE, '/t1/a\0hello'], [XS.READ, '/t1/a\0'], [XS.READ, '\0'], [XS.READ, 't1\0'],
      [XS.WRITE, 'rel/x\0v'], [XS.READ, '/local/domain/0/rel/x\0'], [XS.DIRECTORY, '/t1\0'], [XS.DIRECTORY, '/\0'],
      [XS.MKDIR, '/t1/b/c/d\0'], [XS.DIRECTORY, '/t1/b\0'], [XS.GET_PERMS, '/t1/b/c\0'], [XS.SET_PERMS, '/t1/b\0n0\0r5\0'],
      [XS.SET_PERMS, '/t1/b\0n5\0'], [XS.SET_PERMS, '/t1/b\0x0\0'], [XS.SET_PERMS, '/t1/b\0b0\0w0x10\0'], [XS.GET_PERMS, '/t1/b\0'],
      [XS.SET_PERMS, '/t1/b\0'], [XS.SET_PERMS, '@releaseDomain\0r0\0'], [XS.SET_PERMS, '@foo\0r0\0'], [XS.GET_PERMS, '@releaseDomain\0'],
      [XS.WRITE, '@foo\0x'], [XS.WRITE, '/t1//x\0x'], [XS.WRITE, '/t1/x/\0x'], [XS.WRITE, '/t1/x y\0x'], [XS.WRITE, '/t1/x'],
      [XS.RM, '/\0'], [XS.RM, '/t1/nonexist\0'], [XS.RM, '/t1/no/nonexist\0'], [XS.RM, '/t1/b\0'], [XS.DIRECTORY, '/t1\0'],
      [XS.GET_DOMAIN_PATH, '5\0'], [XS.GET_DOMAIN_PATH, 'abc\0'], [XS.GET_DOMAIN_PATH, '-1\0'], [XS.IS_DOMAIN_INTRODUCED, '0\0'],
      [XS.IS_DOMAIN_INTRODUCED, '5\0'], [XS.RELEASE, '5\0'], [XS.RELEASE, '0\0'], [XS.RESUME, '5\0'], [XS.SET_TARGET, '5\x006\0'],
      [XS.SET_TARGET, '5\0'], [XS.INTRODUCE, '5\x001\0'], [XS.INTRODUCE, '5\x001\x000\0'],
      [20, 'x\0'], [23, ''], [999, ''], [XS.WATCH_EVENT, 'a\0b\0'], [XS.ERROR, 'EINVAL\0'], [128, ''],
      [XS.CONTROL, 'check\0'], [XS.CONTROL, 'quota\0'], [XS.CONTROL, 'quota\x005\0'], [XS.CONTROL, 'quota-soft\0'],
      [XS.CONTROL, 'nosuch\0'], [XS.CONTROL, 'log\0on\0'], [XS.CONTROL, 'log\0'], [XS.CONTROL, ''], [XS.CONTROL, 'print\0hi\0'],
      [XS.CONTROL, 'quota\0set\0nodes\x00500\0'], [XS.CONTROL, 'quota\0set\0nodes\x000\0'], [XS.RESET_WATCHES, ''],
    ],
    [],
  ],
  [
    'transactions and conflicts (two connections)',
    [
      [XS.WRITE, '/bw/x\x001'], [XS.TRANSACTION_START, '\0'], [XS.TRANSACTION_START, '\0', 1], [XS.TRANSACTION_START, '\0', 99],
      [XS.READ, '/bw/x\0', 1], [XS.WRITE, '/bw/x\x002', 1], [XS.READ, '/bw/x\0'], [XS.READ, '/bw/x\0', 1], [XS.TRANSACTION_END, 'X\0', 1],
      [XS.TRANSACTION_END, 'T\0', 1], [XS.READ, '/bw/x\0'], [XS.TRANSACTION_END, 'T\0', 1], [XS.TRANSACTION_END, 'T\0'],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/bw/x\x003', 2], [XS.WRITE, '/bw/x\x004', 0, 1], [XS.TRANSACTION_END, 'T\0', 2],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/bw/x\x005', 0, 1], [XS.WRITE, '/bw/x\x006', 3], [XS.TRANSACTION_END, 'T\0', 3], [XS.READ, '/bw/x\0'],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/bw/new1\0a', 4], [XS.WRITE, '/bw/sib\0b', 0, 1], [XS.TRANSACTION_END, 'T\0', 4],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/un/x\0a', 5], [XS.WRITE, '/bw/sib\0c', 0, 1], [XS.TRANSACTION_END, 'T\0', 5],
      [XS.TRANSACTION_START, '\0'], [XS.READ, '/bw/missing\0', 6], [XS.WRITE, '/bw/missing\0c', 0, 1], [XS.TRANSACTION_END, 'T\0', 6],
      [XS.TRANSACTION_START, '\0'], [XS.DIRECTORY, '/bw\0', 7], [XS.WRITE, '/bw/more\0c', 0, 1], [XS.TRANSACTION_END, 'T\0', 7],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/bw/ab\0c', 8], [XS.TRANSACTION_END, 'F\0', 8], [XS.READ, '/bw/ab\0'],
      [XS.TRANSACTION_START, '\0'], [XS.RM, '/bw/more\0', 9], [XS.MKDIR, '/bw/m1/m2\0', 9], [XS.SET_PERMS, '/bw/m1\0n0\0r0\0', 9],
      [XS.GET_PERMS, '/bw/m1\0', 9], [XS.DIRECTORY_PART, '/bw\x000\0', 9], [XS.DIRECTORY, '/bw\0', 9], [XS.DIRECTORY, '/bw\0'],
      [XS.TRANSACTION_END, 'T\0', 9], [XS.DIRECTORY, '/bw\0'], [XS.TRANSACTION_START, '\0', 0, 1], [XS.RESET_WATCHES, ''],
    ],
    [],
  ],
  [
    'watches: ordering, relative paths, removal, transactions, specials (two connections)',
    [
      [XS.MKDIR, '/cli\0'], [XS.WATCH, '/cli/w\0tok\0'], [XS.WATCH, '/cli/w\0tok\0'], [XS.WATCH, '/cli/w\0tok\x001\0'], [XS.WATCH, '/cli/w\0'],
      [XS.WATCH, 'rel\0rt\0', 0, 1], [XS.WATCH, '@releaseDomain\0r\0', 0, 1], [XS.WATCH, '@introduceDomain\0i\0', 0, 1], [XS.WATCH, '/\0root\0', 0, 1],
      [XS.WRITE, '/cli/w/x\x001'], [XS.WRITE, '/cli/w\x002'], [XS.WRITE, '/local/domain/0/rel/a/b\x002'], [XS.SET_PERMS, '/cli/w\0n0\0'],
      [XS.MKDIR, '/cli/w/y/z\0'], [XS.MKDIR, '/cli/w/y/z\0'], [XS.RM, '/cli/w\0'],
      [XS.TRANSACTION_START, '\0'], [XS.WRITE, '/cli/w/q\x001', 1], [XS.WRITE, '/cli/w\x001', 1], [XS.RM, '/cli/w/q\0', 1], [XS.TRANSACTION_END, 'T\0', 1],
      [XS.UNWATCH, '/cli/w\0tok\0'], [XS.UNWATCH, '/cli/w\0tok\0'], [XS.UNWATCH, 'rel\0rt\0', 0, 1], [XS.WRITE, '/local/domain/0/rel/a\x003'],
      [XS.RESET_WATCHES, '\0', 0, 1], [XS.WRITE, '/cli/x\x003'],
    ],
    [],
  ],
  [
    'DIRECTORY_PART, E2BIG, path limits, big values',
    [
      ...Array.from({ length: 300 }, (_, i) => [XS.WRITE, `/big/child-with-a-long-name-${i}\0`] as Rq),
      [XS.DIRECTORY, '/big\0'], [XS.DIRECTORY_PART, '/big\x000\0'], [XS.DIRECTORY_PART, '/big\x004082\0'], [XS.DIRECTORY_PART, '/big\x008000\0'],
      [XS.DIRECTORY_PART, '/big\x0099999\0'], [XS.DIRECTORY_PART, '/big\0-1\0'], [XS.DIRECTORY_PART, '/big\0'], [XS.DIRECTORY_PART, '/big\x000\0x\0'],
      [XS.WRITE, long(2048) + '\0'], [XS.WRITE, long(2049) + '\0'], [XS.WRITE, '/local/domain/5' + long(2049) + '\0'],
      [XS.WRITE, '/local/domain/5' + long(2050) + '\0'], [XS.WATCH, long(2049) + '\0t\0'], [XS.WATCH, '@' + 'x'.repeat(2048) + '\0t\0'],
      [XS.WATCH, '@' + 'x'.repeat(2047) + '\0t\0'], [XS.WRITE, '/v\0' + 'y'.repeat(4000)], [XS.READ, '/v\0'],
    ],
    [],
  ],
  [
    'permissions with existing and missing domains',
    [
      [XS.WRITE, '/p/a\0x'], [XS.SET_PERMS, '/p/a\0n5\0'], [XS.SET_PERMS, '/p/a\0n0\0r5\0r7\0'], [XS.GET_PERMS, '/p/a\0'],
      [XS.SET_PERMS, '/p/a\0n7\0'], [XS.SET_PERMS, '/p\0n0\0b5\0'], [XS.WRITE, '/p/b/c\0x'], [XS.GET_PERMS, '/p/b/c\0'],
      [XS.SET_PERMS, '@releaseDomain\0n0\0r5\0'], [XS.SET_PERMS, '/p\0r0\0w1\0w2\0w3\0w4\0w5\0w6\0'], [XS.GET_PERMS, '/p\0'],
    ],
    [5],
  ],
  [
    'guests over their rings: permissions, hiding, relative paths, SET_TARGET',
    [
      [XS.WATCH, '@introduceDomain\0i\0'], [XS.INTRODUCE, '5\x004\x0015\0'], [XS.INTRODUCE, '6\x004\x0016\0'],
      [XS.MKDIR, '/shared\0'], [XS.SET_PERMS, '/shared\0n0\0w5\0'], [XS.WRITE, '/shared/dom0\0x'],
      [XS.WRITE, '/shared/c5\0y', 0, 'g5'], [XS.GET_PERMS, '/shared/c5\0'], [XS.READ, '/shared/c5\0', 0, 'g5'],
      [XS.READ, '/shared/dom0\0', 0, 'g5'], [XS.WRITE, '/shared/dom0\0z', 0, 'g5'], [XS.READ, '/shared/c5\0', 0, 'g6'],
      [XS.WRITE, '/shared/c6\0', 0, 'g6'], [XS.SET_PERMS, '/shared/c5\0n5\0r6\0', 0, 'g5'], [XS.READ, '/shared/c5\0', 0, 'g6'],
      [XS.SET_PERMS, '/shared/c5\0n6\0', 0, 'g5'], [XS.SET_PERMS, '/shared/c5\0n6\0', 0, 'g6'], [XS.SET_PERMS, '/shared/dom0\0n5\0', 0, 'g5'],
      [XS.READ, '/nonexistent\0', 0, 'g5'], [XS.MKDIR, '/shared2\0'], [XS.SET_PERMS, '/shared2\0r0\0'],
      [XS.READ, '/shared2/missing\0', 0, 'g5'], [XS.READ, '/shared2/a/b/missing\0', 0, 'g5'], [XS.WRITE, '/shared2/new\0', 0, 'g5'],
      [XS.RM, '/shared2/missing\0', 0, 'g5'], [XS.DIRECTORY, '/\0', 0, 'g5'], [XS.READ, 'name\0', 0, 'g5'],
      [XS.MKDIR, '/local/domain/5/data\0'], [XS.SET_PERMS, '/local/domain/5\0n0\0r5\0'], [XS.SET_PERMS, '/local/domain/5/data\0n5\0'],
      [XS.WRITE, '/local/domain/5/name\0guest5'], [XS.READ, 'name\0', 0, 'g5'], [XS.WRITE, 'name\0x', 0, 'g5'], [XS.WRITE, 'data/k\0v', 0, 'g5'],
      [XS.READ, '/local/domain/5/data/k\0', 0, 'g6'], [XS.WRITE, '/local/domain/5/data/k\0x', 0, 'g6'], [XS.RM, '/local/domain/5/data/k\0', 0, 'g6'],
      [XS.GET_PERMS, '/local/domain/5/data\0', 0, 'g6'], [XS.DIRECTORY, '/local/domain/5\0', 0, 'g6'],
      [XS.GET_DOMAIN_PATH, '6\0', 0, 'g5'], [XS.INTRODUCE, '7\x004\x0012\0', 0, 'g5'], [XS.CONTROL, 'help\0', 0, 'g5'],
      [XS.IS_DOMAIN_INTRODUCED, '6\0', 0, 'g5'], [XS.READ, '/shared/c5\0', 42, 'g5'],
      [XS.SET_TARGET, '5\x006\0'], [XS.READ, '/local/domain/5/data/k\0', 0, 'g6'], [XS.READ, '/local/domain/6\0', 0, 'g5'],
      [XS.SET_TARGET, '6\x005\0'], [XS.READ, '/local/domain/5/data/k\0', 0, 'g6'], [XS.WRITE, '/local/domain/5/data/k\0by6', 0, 'g6'],
    ],
    [5, 6],
  ],
  [
    'guests: watches, event permissions, specials, quotas, transactions, death',
    [
      [XS.INTRODUCE, '5\x004\x0015\0'], [XS.INTRODUCE, '6\x004\x0016\0'], [XS.WATCH, '@releaseDomain\0r\0'],
      [XS.MKDIR, '/tool/private\0'], [XS.MKDIR, '/pub\0'], [XS.SET_PERMS, '/pub\0r0\0'],
      [XS.WATCH, '/tool\0t\0', 0, 'g5'], [XS.WATCH, '/pub\0p\0', 0, 'g6'], [XS.WATCH, '/\0all\0', 0, 'g6'], [XS.WATCH, '@releaseDomain\0r6\0', 0, 'g6'],
      [XS.WRITE, '/tool/private/x\0s'], [XS.WRITE, '/pub/x\0s'], [XS.SET_PERMS, '/pub/x\0n0\0'], [XS.SET_PERMS, '/pub\0n0\0'], [XS.WRITE, '/pub/x\0t'],
      [XS.SET_PERMS, '@releaseDomain\0n0\0r6\0'],
      [XS.MKDIR, '/q\0'], [XS.SET_PERMS, '/q\0n0\0w5\0'], [XS.CONTROL, 'quota\0set\0nodes\x004\0'],
      [XS.WRITE, '/q/n0\0', 0, 'g5'], [XS.WRITE, '/q/n1\0', 0, 'g5'], [XS.WRITE, '/q/n2\0', 0, 'g5'], [XS.WRITE, '/q/n3\0', 0, 'g5'], [XS.WRITE, '/q/n4\0', 0, 'g5'],
      [XS.WRITE, '/q/n0\0again', 0, 'g5'], [XS.RM, '/q/n3\0', 0, 'g5'], [XS.WRITE, '/q/n4\0', 0, 'g5'],
      [XS.TRANSACTION_START, '\0', 0, 'g5'], [XS.WRITE, '/q/tx\0', 1, 'g5'], [XS.TRANSACTION_END, 'T\0', 1, 'g5'],
      [XS.CONTROL, 'quota\0set\0nodes\x001000\0'],
      [XS.MKDIR, '/local/domain/5\0'], [XS.SET_PERMS, '/local/domain/5\0n5\0b0\0'],
      [XS.WRITE, 'v\0' + 'x'.repeat(2007), 0, 'g5'], [XS.WRITE, 'v\0' + 'x'.repeat(2008), 0, 'g5'],
      [XS.SET_PERMS, 'v\0n5\0r1\0r2\0r3\0r4\0r6\0', 0, 'g5'], [XS.SET_PERMS, 'v\0n5\0r1\0r2\0r3\0r6\0', 0, 'g5'],
      ...Array.from({ length: 11 }, () => [XS.TRANSACTION_START, '\0', 0, 'g6'] as Rq), [XS.TRANSACTION_START, '\0', 0, 'g6'],
      [XS.TRANSACTION_START, '\0', 0, 'g5'], [XS.READ, '/q/n0\0', 2, 'g5'], [XS.WRITE, '/q/n0\0outside'], [XS.TRANSACTION_END, 'T\0', 2, 'g5'],
      [XS.RESET_WATCHES, '', 0, 'g6'], [XS.WRITE, '/pub/y\0'],
      [XS.WATCH, '/local\0l\0'], [DOMAINS, '6'], [XS.IS_DOMAIN_INTRODUCED, '5\0'], [XS.READ, '/local/domain/5\0'], [XS.GET_PERMS, '/pub/x\0'],
    ],
    [5, 6],
  ],
];

const unavailable = cXenstoredUnavailable();

describe.skipIf(!!unavailable)(`our server against Xen 4.17's C xenstored${unavailable ? ` — skipped: ${unavailable}` : ''}`, () => {
  it.each(SCENARIOS)('%s', async (_name, rqs, domains) => {
    const nconn = Math.max(...rqs.map((r) => (typeof r[3] === 'number' ? r[3] : 0) + 1));
    const c = await againstC(rqs, nconn, domains);
    const us = againstUs(rqs, nconn, domains);
    for (let i = 0; i < rqs.length; i++) expect(us[i], `request ${i}: ${rqs[i][0]} ${JSON.stringify(rqs[i][1]).slice(0, 80)} tx${rqs[i][2] ?? 0} c${rqs[i][3] ?? 0}`).toEqual(c[i]);
  }, 20_000);
});
