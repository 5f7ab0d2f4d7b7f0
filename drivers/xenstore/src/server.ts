/**
 * The xenstore server, sans IO: `handle(conn, request)` applies one request to the tree and queues
 * the reply (and any watch events it causes, on every connection concerned) on connections'
 * output queues. No sockets, rings or timers: transports are thin adapters that feed requests in
 * and drain `out`. Domain-facing effects (mapping a ring, binding an event channel, asking the
 * hypervisor whether a domain exists) go through the injected `XenstoreEnv`.
 *
 * Behaviour follows Xen 4.17's C xenstored (tools/xenstore/xenstored_*.c), which is the reference:
 * - One dispatch table of {name, handler, flags}; unknown types get ENOSYS, PRIV ops from an
 *   unprivileged domain EACCES, an unknown tx_id ENOENT — checked once, in that order.
 * - Permissions: owner (entry 0), dom0/privileged and the SET_TARGET target get everything; others
 *   the first entry naming them, else entry 0's flag. Errors for a missing or unreadable node are
 *   hidden as EACCES unless the caller has the wanted right on the nearest existing ancestor.
 * - Transactions record every node they access (read, read of a missing node, directory, write —
 *   writes read first) with its generation at first access, work on snapshot copies, and commit
 *   with EAGAIN if any recorded node changed generation meanwhile; their watch events fire at commit.
 * - Watches fire on create/write/perm change/removal for watches on the node or an ancestor; a
 *   removed subtree fires its root for ancestors and each removed descendant only for exact
 *   watches; events are queued before the request's reply; an event reaches a connection only if it
 *   can read the node (or its parent, or the old perms); @introduceDomain/@releaseDomain only
 *   connections their special perms allow.
 * - Quotas (nodes, node size, watches, transactions, transaction nodes, permissions) apply to
 *   unprivileged domains only; the path length limit applies to every path, as in C.
 * Deliberate differences from C: malformed arguments get EINVAL (C answers with a stale errno, or
 * aborts); memory accounting, outstanding-request limits, the write rate limit and the 20 s
 * expiry of events queued for guests are not modelled.
 *
 * Invariants: the tree always holds "/"; every stored node's parent exists and lists it exactly
 * once; `entries` counts stored nodes by owner (perms[0].id); `handle` never throws on peer input.
 */
import { XS, XS_NAMES, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX, bstr, countStrings, cstrings, firstNul, oneArg, splitStrings, type XsMessage } from './wire';
import { errorPayload, type XsErr } from './errors';
import { atoi, basename, canonicalize, childPath, domainPath, isChild, isValidPath, parentOf } from './paths';
import { PERM, parsePerm, permToString, type Perm } from './perms';
import { EMPTY_VALUE, NO_GENERATION, Tree, addChild, childBytes, copyNode, nodeSize, removeChild, type Node } from './store';

export const DOMID_SELF = 0x7ff0;

/** What the hypervisor says about a domain (xc_domain_getinfo). */
export interface DomainInfo {
  dying: boolean;
  shutdown: boolean;
}

/** The daemon's side of an introduced domain's ring: provided by the environment at INTRODUCE. */
export interface DomainLink {
  /** Zero the ring indexes (domain_conn_reset) and tell the guest the store is there. */
  reset(): void;
  /** Re-introduce: bind the new event channel port instead of the old one. */
  rebind(port: number): void;
  /** Write the ring's `error` field (XENSTORE_ERROR_*): the connection is being ignored. */
  error(code: number): void;
  /** RELEASE or domain death: unbind and unmap. */
  close(): void;
}

export interface XenstoreEnv {
  /** Does `domid` exist (and in what state)? null when it does not. */
  domainInfo(domid: number): DomainInfo | null;
  /** INTRODUCE: map the domain's ring and bind `port`; an error name if that fails. */
  introduce?(domid: number, gfn: number, port: number): DomainLink | XsErr;
  /** Lines xenstored would log (CONTROL print, memreport). */
  log?(line: string): void;
}

export interface Quotas {
  nodes: number;
  watches: number;
  transactions: number;
  outstanding: number;
  transactionNodes: number;
  memory: number;
  nodeSize: number;
  pathMax: number;
  permissions: number;
  memorySoft: number;
}

export const DEFAULT_QUOTAS: Readonly<Quotas> = {
  nodes: 1000,
  watches: 128,
  transactions: 10,
  outstanding: 20,
  transactionNodes: 1024,
  memory: 2 * 1024 * 1024 + 512 * 1024,
  nodeSize: 2048,
  pathMax: XENSTORE_REL_PATH_MAX,
  permissions: 5,
  memorySoft: 2 * 1024 * 1024,
};

/** CONTROL quota names, descriptions and fields, in xenstored's order. */
const HARD_QUOTAS: [string, keyof Quotas, string][] = [
  ['nodes', 'nodes', 'Nodes per domain'],
  ['watches', 'watches', 'Watches per domain'],
  ['transactions', 'transactions', 'Transactions per domain'],
  ['outstanding', 'outstanding', 'Outstanding requests per domain'],
  ['transaction-nodes', 'transactionNodes', 'Max. number of accessed nodes per transaction'],
  ['memory', 'memory', 'Total Xenstore memory per domain (error level)'],
  ['node-size', 'nodeSize', 'Max. size of a node'],
  ['path-max', 'pathMax', 'Max. length of a node path'],
  ['permissions', 'permissions', 'Max. number of permissions per node'],
];
const SOFT_QUOTAS: [string, keyof Quotas, string][] = [['memory', 'memorySoft', 'Total Xenstore memory per domain (warning level)']];

export interface Watch {
  /** Absolute path or @special. */
  readonly node: string;
  readonly token: string;
  /** The implicit path a relative watch was given against (events are reported relative to it). */
  readonly relative: string | null;
}

interface Accessed {
  /** The transaction's copy of the node; null when absent in the transaction's view. */
  ta: Node | null;
  taNode: boolean;
  generation: number;
  checkGen: boolean;
  modified: boolean;
  perms: readonly Perm[] | null;
  fireWatch: boolean;
  watchExact: boolean;
}

export class Transaction {
  readonly accessed = new Map<string, Accessed>();
  nodes = 0;
  fail = false;
  nodeCreated = false;
  readonly changedDomains = new Map<number, number>();
  constructor(
    readonly id: number,
    readonly generation: number,
  ) {}
}

export interface Domain {
  readonly domid: number;
  /** Global generation when xenstored first learned of the domain (perms older than it are void). */
  readonly generation: number;
  introduced: boolean;
  conn: Connection | null;
  port: number;
  shutdown: boolean;
  link: DomainLink | null;
}

let connSerial = 0;

export class Connection {
  readonly serial = ++connSerial;
  target: Connection | null = null;
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  nextTxId = 0;
  /** The transaction of the request being processed (set by `handle`). */
  transaction: Transaction | null = null;
  /** Messages queued for the peer, in order. */
  readonly out: XsMessage[] = [];
  /** Pending identical events are coalesced (path\0token → count in `out`). */
  readonly pendingEvents = new Map<string, number>();
  ignored = false;
  closed = false;
  /** Called when output is queued (a transport arranges to send it). */
  onOutput: ((c: Connection) => void) | null = null;

  constructor(
    /** Domid as xenstore knows it: 0 for sockets and in-dom0 clients. */
    readonly id: number,
    readonly domain: Domain | null,
    readonly label: string,
  ) {}

  get implicitPath(): string {
    return this.domain ? domainPath(this.domain.domid) : '/local/domain/0';
  }

  /** Take every queued message (the transport sends them in order). */
  take(): XsMessage[] {
    if (this.out.length === 0) return [];
    const m = this.out.splice(0, this.out.length);
    this.pendingEvents.clear();
    return m;
  }

  /** Take the first queued message, if any. */
  shift(): XsMessage | undefined {
    const m = this.out.shift();
    if (m && m.type === XS.WATCH_EVENT) {
      const k = bstr(m.payload);
      const n = this.pendingEvents.get(k);
      if (n !== undefined) {
        if (n <= 1) this.pendingEvents.delete(k);
        else this.pendingEvents.set(k, n - 1);
      }
    }
    return m;
  }
}

const enum Access {
  READ,
  WRITE,
  DELETE,
}

type Handler = (s: XenstoreServer, c: Connection, p: Uint8Array, rq: XsMessage) => XsErr | null;
interface Op {
  readonly name: string;
  readonly fn: Handler;
  /** NOTID: the tx_id is ignored. PRIV: privileged connections only. */
  readonly flags: number;
}
const NOTID = 1;
const PRIV = 2;

const DEFAULT_ENV: XenstoreEnv = { domainInfo: (d) => (d === 0 ? { dying: false, shutdown: false } : null) };

const RW_OWNER = PERM.READ | PERM.WRITE | PERM.OWNER;
const ROOT_PERMS: readonly Perm[] = [{ id: 0, perms: PERM.NONE }];
const OK = cstrings('OK');

/** Result of a failed lookup: an error name. */
const isErr = (x: Node | XsErr): x is XsErr => typeof x === 'string';

export class XenstoreServer {
  readonly tree = new Tree();
  readonly quotas: Quotas;
  /** Connections in creation order (the order watch events are generated in). */
  readonly conns: Connection[] = [];
  readonly domains = new Map<number, Domain>();
  /** Nodes per owning domain. */
  readonly entries = new Map<number, number>();
  /** Permissions of the special watch paths. */
  private readonly special = new Map<string, readonly Perm[]>([
    ['@releaseDomain', ROOT_PERMS],
    ['@introduceDomain', ROOT_PERMS],
  ]);
  /** Requests handled (for statistics). */
  requests = 0;
  /** Exceptions caught in handlers (bugs: always 0 in tests). */
  internalErrors = 0;
  readonly env: XenstoreEnv;
  private current: XsMessage | null = null;
  private replyTo: Connection | null = null;

  constructor(env: XenstoreEnv = DEFAULT_ENV, quotas: Partial<Quotas> = {}) {
    this.env = env;
    this.quotas = { ...DEFAULT_QUOTAS, ...quotas };
    // dom0 is known from the start (dom0_init); it is served in-process, with no ring.
    this.domains.set(0, { domid: 0, generation: 0, introduced: true, conn: null, port: 0, shutdown: false, link: null });
    // setup_structure: "/", "/tool", "/tool/xenstored", all n0.
    this.writeInitial('/', ['tool']);
    this.writeInitial('/tool', ['xenstored']);
    this.writeInitial('/tool/xenstored', []);
    this.entries.set(0, 3);
  }

  private writeInitial(name: string, children: string[]): void {
    this.tree.set({ name, value: EMPTY_VALUE, children, childlen: children.reduce((a, c) => a + c.length + 1, 0), perms: ROOT_PERMS, generation: ++this.tree.generation });
  }

  // ================================================================ connections

  /** A privileged connection with no domain: a Unix-socket client, or a tool inside dom0. */
  connect(label = 'socket'): Connection {
    const c = new Connection(0, null, label);
    this.conns.push(c);
    return c;
  }

  /** The connection of an introduced domain. */
  domainConnection(domid: number): Connection | null {
    return this.domains.get(domid)?.conn ?? null;
  }

  /** The peer went away (socket closed): forget its watches and transactions. */
  close(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    c.watches.length = 0;
    c.transactions.clear();
    c.out.length = 0;
    c.pendingEvents.clear();
    const i = this.conns.indexOf(c);
    if (i >= 0) this.conns.splice(i, 1);
    for (const o of this.conns) if (o.target === c) o.target = null;
  }

  /**
   * ignore_connection: the peer broke the protocol (len > 4096, bad ring indexes). A socket is
   * dropped; a domain's connection stays, ignored, with XENSTORE_ERROR_* in its ring.
   */
  ignore(c: Connection, err: number): void {
    c.ignored = true;
    c.watches.length = 0;
    c.transactions.clear();
    c.out.length = 0;
    c.pendingEvents.clear();
    if (c.domain) c.domain.link?.error(err);
    else this.close(c);
  }

  private unpriv(c: Connection | null): boolean {
    return !!c && !!c.domain && c.domain.domid !== 0;
  }

  // ================================================================ dispatch

  /** Process one request from `c`; the reply and any events are queued on connections. */
  handle(c: Connection, rq: XsMessage): void {
    if (c.closed || c.ignored) return;
    this.requests++;
    const op = rq.type < OPS.length ? OPS[rq.type] : undefined;
    if (!op) return this.sendError(c, rq, 'ENOSYS');
    if (op.flags & PRIV && this.unpriv(c)) return this.sendError(c, rq, 'EACCES');
    let t: Transaction | null = null;
    if (!(op.flags & NOTID) && rq.txId !== 0) {
      t = c.transactions.get(rq.txId) ?? null;
      if (!t) return this.sendError(c, rq, 'ENOENT');
    }
    c.transaction = t;
    this.current = rq;
    this.replyTo = c;
    let err: XsErr | null;
    try {
      err = op.fn(this, c, rq.payload, rq);
    } catch (e) {
      // A bug in the daemon, not the peer's fault: answer EIO and keep serving.
      this.internalErrors++;
      this.env.log?.(`xenstored: internal error in ${op.name}: ${(e as Error)?.stack ?? e}`);
      err = 'EIO';
    } finally {
      c.transaction = null;
      this.current = null;
      this.replyTo = null;
    }
    if (err) this.sendError(c, rq, err);
  }

  /** `handle`, then take everything queued for `c` (tests and in-process clients). */
  request(c: Connection, type: number, payload: Uint8Array | string = new Uint8Array(0), txId = 0, reqId = 0): XsMessage[] {
    const p = typeof payload === 'string' ? rawBytes(payload) : payload;
    this.handle(c, { type, reqId, txId, payload: p });
    return c.take();
  }

  private push(c: Connection, m: XsMessage): void {
    c.out.push(m);
    c.onOutput?.(c);
  }

  private sendError(c: Connection, rq: XsMessage, e: XsErr): void {
    this.push(c, { type: XS.ERROR, reqId: rq.reqId, txId: rq.txId, payload: errorPayload(e) });
  }

  /** send_reply: the current request's reply (E2BIG instead when it would exceed 4096 bytes). */
  reply(payload: Uint8Array): null {
    const c = this.replyTo!;
    const rq = this.current!;
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      this.sendError(c, rq, 'E2BIG');
      return null;
    }
    this.push(c, { type: rq.type, reqId: rq.reqId, txId: rq.txId, payload });
    return null;
  }

  ack(): null {
    return this.reply(OK);
  }

  // ================================================================ permissions

  permFor(c: Connection | null, perms: readonly Perm[]): number {
    if (!this.unpriv(c)) return RW_OWNER;
    const id = c!.id;
    const tid = c!.target ? c!.target.id : -1;
    const owner = perms[0].id;
    if (owner === id || owner === tid) return RW_OWNER;
    for (let i = 1; i < perms.length; i++) {
      const p = perms[i];
      if (!(p.perms & PERM.IGNORE) && (p.id === id || p.id === tid)) return p.perms & RW_OWNER;
    }
    return perms[0].perms & RW_OWNER;
  }

  /** domain_adjust_node_perms: entries for domains gone, or newer than the node, are ignored. */
  private adjustPerms(n: Node): void {
    const ps = n.perms;
    let out: Perm[] | null = null;
    for (let i = 1; i < ps.length; i++) {
      const p = ps[i];
      if (p.perms & PERM.IGNORE) continue;
      const d = this.domains.get(p.id);
      if (d && d.generation <= n.generation) continue;
      out ??= ps.slice();
      out[i] = { id: p.id, perms: p.perms | PERM.IGNORE };
    }
    if (out) n.perms = out;
  }

  /** Learn of an existing domain (find_or_alloc_existing_domain); null if it does not exist. */
  private knownDomain(domid: number): Domain | null {
    let d = this.domains.get(domid);
    if (d) return d;
    if (!this.env.domainInfo(domid)) return null;
    d = { domid, generation: this.tree.generation, introduced: false, conn: null, port: 0, shutdown: false, link: null };
    this.domains.set(domid, d);
    return d;
  }

  // ================================================================ node access (C's read_node / access_node / write_node)

  private accessNode(c: Connection | null, n: Node, type: Access): XsErr | 'SKIP' | null {
    if (type !== Access.READ) n.generation = ++this.tree.generation;
    const t = c?.transaction;
    if (!t) return null;
    let a = t.accessed.get(n.name);
    let introduce = false;
    if (!a) {
      if (t.nodes >= this.quotas.transactionNodes && this.unpriv(c)) {
        t.fail = true;
        return 'ENOSPC';
      }
      a = { ta: null, taNode: false, generation: 0, checkGen: false, modified: false, perms: n.generation !== NO_GENERATION && n.perms.length ? n.perms : null, fireWatch: false, watchExact: false };
      introduce = true;
      if (type === Access.READ) {
        a.generation = n.generation;
        a.checkGen = true;
        if (n.generation !== NO_GENERATION) {
          a.ta = copyNode(n);
          a.taNode = true;
        }
      }
      t.nodes++;
      t.accessed.set(n.name, a);
    }
    if (type !== Access.READ) a.modified = true;
    if (introduce && type === Access.DELETE) return 'SKIP';
    if (type === Access.WRITE) a.taNode = true;
    else if (type === Access.DELETE) {
      a.taNode = false;
      a.ta = null;
    }
    return null;
  }

  /** read_node: the node as `c` sees it (a private copy), recording the access in its transaction. */
  readNode(c: Connection | null, name: string): Node | XsErr {
    const t = c?.transaction;
    let stored: Node | null | undefined;
    if (t) {
      const a = t.accessed.get(name);
      stored = a ? (a.taNode ? a.ta : null) : this.tree.get(name);
    } else stored = this.tree.get(name);
    if (!stored) {
      const e = this.accessNode(c, { name, value: EMPTY_VALUE, children: [], childlen: 0, perms: [], generation: NO_GENERATION }, Access.READ);
      return (e as XsErr | null) ?? 'ENOENT';
    }
    const n = copyNode(stored);
    this.adjustPerms(n);
    const e = this.accessNode(c, n, Access.READ);
    if (e) return e as XsErr;
    return n;
  }

  /** The main tree's node, perms adjusted (for watch permission checks). */
  private readMain(name: string): Node | null {
    const s = this.tree.get(name);
    if (!s) return null;
    const n = copyNode(s);
    this.adjustPerms(n);
    return n;
  }

  private writeNode(c: Connection | null, n: Node, noQuota: boolean): XsErr | null {
    const e = this.accessNode(c, n, Access.WRITE);
    if (e) return e as XsErr;
    this.adjustPerms(n);
    if (!noQuota && this.unpriv(c) && nodeSize(n) >= this.quotas.nodeSize) {
      if (c!.transaction) c!.transaction.fail = true;
      return 'ENOSPC';
    }
    const t = c?.transaction;
    if (t) {
      const a = t.accessed.get(n.name)!;
      a.ta = copyNode(n);
      a.taNode = true;
    } else this.tree.set(copyNode(n));
    return null;
  }

  private entryInc(c: Connection | null, n: Node): void {
    const owner = n.perms[0].id;
    const t = c?.transaction;
    if (t) t.changedDomains.set(owner, (t.changedDomains.get(owner) ?? 0) + 1);
    else this.entries.set(owner, (this.entries.get(owner) ?? 0) + 1);
  }

  private entryDec(c: Connection | null, n: Node): void {
    const owner = n.perms[0].id;
    const t = c?.transaction;
    if (t) t.changedDomains.set(owner, (t.changedDomains.get(owner) ?? 0) - 1);
    else {
      const v = (this.entries.get(owner) ?? 0) - 1;
      if (v <= 0) this.entries.delete(owner);
      else this.entries.set(owner, v);
    }
  }

  private domainEntry(c: Connection | null): number {
    return this.unpriv(c) ? (this.entries.get(c!.id) ?? 0) : 0;
  }

  /** get_node: a node `c` may access with `perm`, hiding existence where the parent says so. */
  getNode(c: Connection, name: string | null, perm: number): Node | XsErr {
    if (name === null || !isValidPath(name, this.quotas.pathMax)) return 'EINVAL';
    let r = this.readNode(c, name);
    if (!isErr(r) && (this.permFor(c, r.perms) & perm) !== perm) r = 'EACCES';
    if (isErr(r) && r !== 'ENOMEM' && r !== 'ENOSPC') return this.errnoFromParents(c, name, r, perm);
    return r;
  }

  private errnoFromParents(c: Connection, name: string, err: XsErr, perm: number): XsErr {
    let node: Node | null = null;
    let p = name;
    do {
      p = parentOf(p);
      const r = this.readNode(c, p);
      if (!isErr(r)) {
        node = r;
        break;
      }
      if (r === 'ENOMEM' || r === 'ENOSPC') return r;
    } while (p !== '/');
    const parentPerm = node ? this.permFor(c, node.perms) : PERM.NONE;
    return parentPerm & perm ? err : 'EACCES';
  }

  canon(c: Connection, p: string | null): string | null {
    return p === null ? null : canonicalize(p, c.implicitPath);
  }

  // ================================================================ create / remove

  /** create_node: `name` and any missing ancestors (which inherit their parent's perms). */
  createNode(c: Connection | null, name: string, value: Uint8Array): Node | XsErr {
    const names: string[] = [];
    let pname = name;
    let parent: Node | null = null;
    while (!parent) {
      names.push(pname);
      pname = parentOf(pname);
      const r = this.readNode(c, pname);
      if (isErr(r)) {
        if (r !== 'ENOENT' || pname === '/') return r;
      } else parent = r;
    }
    // Walk down constructing the missing nodes; `chain` ends with the new leaf.
    const chain: Node[] = [];
    let p: Node = parent;
    const unpriv = this.unpriv(c);
    for (let k = names.length - 1; k >= 0; k--) {
      addChild(p, basename(names[k]));
      let perms = p.perms;
      if (unpriv) {
        const ps = perms.slice();
        ps[0] = { id: c!.id, perms: ps[0].perms };
        perms = ps;
      }
      const n: Node = { name: names[k], value: EMPTY_VALUE, children: [], childlen: 0, perms, generation: NO_GENERATION };
      chain.push(n);
      p = n;
    }
    const leaf = chain[chain.length - 1];
    leaf.value = value;
    // Write bottom up: new nodes (quota-checked, counted), then the existing parent.
    const order = chain.reverse();
    order.push(parent);
    let err: XsErr | null = null;
    let i = 0;
    for (; i < order.length; i++) {
      const n = order[i];
      const isNew = n !== parent;
      if (isNew && this.domainEntry(c) >= this.quotas.nodes) {
        err = 'ENOSPC';
        break;
      }
      err = this.writeNode(c, n, false);
      if (err) break;
      if (isNew) {
        this.entryInc(c, n);
        if (c?.transaction) c.transaction.nodeCreated = true;
      }
    }
    if (err) {
      for (let j = 0; j < i; j++) this.destroyNode(c, order[j]);
      return err;
    }
    return leaf;
  }

  private destroyNode(c: Connection | null, n: Node): void {
    const t = c?.transaction;
    if (t) {
      const a = t.accessed.get(n.name);
      if (a) {
        a.ta = null;
        a.taNode = false;
      }
      t.fail = true;
    } else this.tree.delete(n.name);
    this.entryDec(c, n);
  }

  /** rm_node: delete `name` and its subtree, firing watches, then unlink it from its parent. */
  rmNode(c: Connection | null, name: string): XsErr | null {
    const parent = this.readNode(c, parentOf(name));
    if (isErr(parent)) return parent === 'ENOMEM' || parent === 'ENOSPC' ? parent : 'EINVAL';
    const r = this.deleteSubtree(c, name, name, null);
    if (r !== null && r !== 'stop') return r;
    if (!removeChild(parent, basename(name))) return 'EIO';
    return this.writeNode(c, parent, true) ? 'EIO' : null;
  }

  /** Post-order walk deleting each node (delnode_sub); children in list order. */
  private deleteSubtree(c: Connection | null, name: string, root: string, walkParent: Node | null): XsErr | 'stop' | null {
    const n = this.readNode(c, name);
    if (isErr(n)) return 'EIO';
    for (const child of n.children) {
      const r = this.deleteSubtree(c, childPath(name, child), root, n);
      if (r) return r;
    }
    const a = this.accessNode(c, n, Access.DELETE);
    if (a && a !== 'SKIP') return 'stop';
    if (a !== 'SKIP' && !c?.transaction) this.tree.delete(name);
    this.fireWatches(c, name, n, name !== root, null, walkParent);
    this.entryDec(c, n);
    // rm_from_parent rewrites the walk parent, which is deleted right after: count the write.
    if (walkParent) this.tree.generation++;
    return null;
  }

  // ================================================================ watches

  fireWatches(c: Connection | null, name: string, node: Node | null, exact: boolean, oldPerms: readonly Perm[] | null, parent: Node | null = null): void {
    const t = c?.transaction;
    if (t) {
      const a = t.accessed.get(name);
      if (!a) {
        t.fail = true;
        return;
      }
      if (!a.fireWatch) {
        a.fireWatch = true;
        a.watchExact = exact;
      } else if (!exact) a.watchExact = false;
      return;
    }
    const special = name.charCodeAt(0) === 64;
    for (const w of this.conns) {
      if (w.watches.length === 0) continue;
      let permitted: boolean | undefined;
      for (const watch of w.watches) {
        if (!(exact ? name === watch.node : isChild(name, watch.node))) continue;
        permitted ??= special ? this.checkPermsSpecial(name, w) : this.watchPermitted(w, name, node, oldPerms, parent);
        if (!permitted) break;
        this.sendEvent(w, watchPath(watch, name), watch.token);
      }
    }
  }

  private watchPermitted(w: Connection, name: string, node: Node | null, oldPerms: readonly Perm[] | null, parent: Node | null): boolean {
    if (oldPerms && this.permFor(w, oldPerms) & PERM.READ) return true;
    const n = node ?? this.readMain(name);
    if (!n) return false;
    if (this.permFor(w, n.perms) & PERM.READ) return true;
    const p = parent ?? this.readMain(parentOf(n.name));
    if (!p) return false;
    return (this.permFor(w, p.perms) & PERM.READ) !== 0;
  }

  private checkPermsSpecial(name: string, c: Connection): boolean {
    const p = this.special.get(name);
    return !!p && (this.permFor(c, p) & PERM.READ) !== 0;
  }

  /** send_event: queue a WATCH_EVENT unless too long or an identical one is still queued. */
  sendEvent(c: Connection, path: string, token: string): void {
    if (path.length + token.length + 2 > XENSTORE_PAYLOAD_MAX) return;
    const key = `${path}\0${token}\0`;
    if (path.charCodeAt(0) !== 64 && c.pendingEvents.has(key)) return;
    c.pendingEvents.set(key, (c.pendingEvents.get(key) ?? 0) + 1);
    this.push(c, { type: XS.WATCH_EVENT, reqId: 0, txId: 0, payload: cstrings(path, token) });
  }

  // ================================================================ transactions

  private finalize(c: Connection, t: Transaction): XsErr | null {
    for (const [name, a] of t.accessed) {
      if (!a.checkGen) continue;
      const n = this.tree.get(name);
      if ((n ? n.generation : NO_GENERATION) !== a.generation) return 'EAGAIN';
    }
    for (const [name, a] of t.accessed) {
      if (!a.modified) continue;
      if (a.taNode) {
        const n = copyNode(a.ta!);
        n.generation = ++this.tree.generation;
        this.tree.set(n);
      } else if (a.generation !== NO_GENERATION) this.tree.delete(name);
      if (a.fireWatch) this.fireWatches(c, name, null, a.watchExact, a.perms);
    }
    return null;
  }

  private fixDomains(t: Transaction, chkQuota: boolean, update: boolean): XsErr | null {
    for (const [domid, delta] of t.changedDomains) {
      let cnt = (this.entries.get(domid) ?? 0) + delta;
      if (update) {
        if (cnt <= 0) this.entries.delete(domid);
        else this.entries.set(domid, cnt);
      } else {
        if (cnt < 0) cnt = 0;
        const counted = domid !== 0 ? cnt : 0;
        if (chkQuota && counted >= this.quotas.nodes) return 'ENOSPC';
      }
    }
    return null;
  }

  // ================================================================ domains

  /** Forget a domain's connection, nodes and ring (RELEASE, or its death). */
  private destroyDomain(d: Domain): void {
    const c = d.conn;
    d.conn = null;
    if (c) this.close(c);
    // domain_tree_remove: every node the domain owns goes, with its subtree.
    this.removeOwnedBy(d.domid, '/');
    for (const [k, ps] of this.special) {
      const out = ps.filter((p, i) => i === 0 || p.id !== d.domid).map((p, i) => (i === 0 && p.id === d.domid ? { id: 0, perms: p.perms } : p));
      this.special.set(k, out);
    }
    this.domains.delete(d.domid);
    if (d.introduced) {
      d.link?.close();
      this.fireWatches(null, '@releaseDomain', null, true, null);
    }
  }

  private removeOwnedBy(domid: number, name: string): void {
    const n = this.tree.get(name);
    if (!n) return;
    if (n.perms[0].id === domid && name !== '/') {
      this.rmNode(null, name);
      return;
    }
    for (const child of n.children) this.removeOwnedBy(domid, childPath(name, child));
  }

  /**
   * VIRQ_DOM_EXC (check_domains): note domains that shut down (one @releaseDomain), destroy
   * those that are dying or gone (each fires @releaseDomain), forget unintroduced ones that left.
   */
  checkDomains(): void {
    let notify = false;
    let again = true;
    while (again) {
      again = false;
      for (const d of [...this.domains.values()]) {
        if (d.domid === 0) continue;
        const info = this.env.domainInfo(d.domid);
        if (!d.introduced) {
          if (!info) this.domains.delete(d.domid);
          continue;
        }
        if (info) {
          if (info.shutdown && !d.shutdown) {
            d.shutdown = true;
            notify = true;
          }
          if (!info.dying) continue;
        }
        if (d.conn) {
          notify = false;
          this.destroyDomain(d);
          again = true;
          break;
        }
      }
    }
    if (notify) this.fireWatches(null, '@releaseDomain', null, true, null);
  }

  private connectedDomain(domid: number): Domain | XsErr {
    const d = this.domains.get(domid >>> 0);
    if (!d || !d.introduced) return 'ENOENT';
    if (!d.conn) return 'EINVAL';
    return d;
  }

  /** Perms for nonexistent domains are ignored; the owner must exist (domain_alloc_permrefs). */
  private allocPermrefs(perms: Perm[]): void {
    for (let i = 0; i < perms.length; i++) {
      if (!this.knownDomain(perms[i].id)) perms[i] = { id: perms[i].id, perms: perms[i].perms | PERM.IGNORE };
    }
  }

  // ================================================================ the handlers

  /** @internal */ h = {
    read: (c: Connection, p: Uint8Array): XsErr | null => {
      const n = this.getNode(c, this.canon(c, oneArg(p)), PERM.READ);
      if (isErr(n)) return n;
      return this.reply(n.value);
    },

    directory: (c: Connection, p: Uint8Array): XsErr | null => {
      const n = this.getNode(c, this.canon(c, oneArg(p)), PERM.READ);
      if (isErr(n)) return n;
      return this.reply(childBytes(n));
    },

    directoryPart: (c: Connection, p: Uint8Array): XsErr | null => {
      if (countStrings(p) !== 2) return 'EINVAL';
      const strs = splitStrings(p);
      const n = this.getNode(c, this.canon(c, strs[0]), PERM.READ);
      if (isErr(n)) return n;
      const off = atoi(strs[1]) >>> 0;
      const gen = `${n.generation}`;
      const genlen = gen.length + 1;
      const kids = childBytes(n);
      if (off >= n.childlen) return this.reply(cstrings(gen, ''));
      const maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
      let len = 0;
      let at = off;
      for (;;) {
        const end = kids.indexOf(0, at);
        const sl = (end < 0 ? kids.length : end) - at;
        if (!(len + sl < maxlen)) break;
        len += sl + 1;
        at += sl + 1;
        if (off + len === n.childlen) break;
      }
      const complete = off + len === n.childlen;
      const out = new Uint8Array(genlen + len + (complete ? 1 : 0));
      for (let i = 0; i < gen.length; i++) out[i] = gen.charCodeAt(i);
      out.set(kids.subarray(off, off + len), genlen);
      return this.reply(out);
    },

    getPerms: (c: Connection, p: Uint8Array): XsErr | null => {
      const n = this.getNode(c, this.canon(c, oneArg(p)), PERM.READ);
      if (isErr(n)) return n;
      return this.reply(cstrings(...n.perms.map(permToString)));
    },

    write: (c: Connection, p: Uint8Array): XsErr | null => {
      const nul = firstNul(p);
      if (nul < 0) return 'EINVAL';
      const name = this.canon(c, bstr(p, 0, nul))!;
      const value = p.subarray(nul + 1);
      let n = this.getNode(c, name, PERM.WRITE);
      if (isErr(n)) {
        if (n !== 'ENOENT') return n;
        n = this.createNode(c, name, value);
        if (isErr(n)) return n;
      } else {
        n.value = value;
        const e = this.writeNode(c, n, false);
        if (e) return e;
      }
      this.fireWatches(c, name, n, false, null);
      return this.ack();
    },

    mkdir: (c: Connection, p: Uint8Array): XsErr | null => {
      const name = this.canon(c, oneArg(p));
      const n = this.getNode(c, name, PERM.WRITE);
      if (isErr(n)) {
        if (n !== 'ENOENT') return n;
        const m = this.createNode(c, name!, EMPTY_VALUE);
        if (isErr(m)) return m;
        this.fireWatches(c, name!, m, false, null);
      }
      return this.ack();
    },

    rm: (c: Connection, p: Uint8Array): XsErr | null => {
      const name = this.canon(c, oneArg(p));
      const n = this.getNode(c, name, PERM.WRITE);
      if (isErr(n)) {
        if (n === 'ENOENT') {
          const parent = this.readNode(c, parentOf(name!));
          if (!isErr(parent)) return this.ack();
          return parent === 'ENOMEM' || parent === 'ENOSPC' ? parent : 'ENOENT';
        }
        return n;
      }
      if (name === '/') return 'EINVAL';
      const e = this.rmNode(c, name!);
      if (e) return e;
      return this.ack();
    },

    setPerms: (c: Connection, p: Uint8Array): XsErr | null => {
      const count = countStrings(p);
      if (count < 2) return 'EINVAL';
      const num = count - 1;
      if (this.unpriv(c) && num > this.quotas.permissions) return 'ENOSPC';
      const strs = splitStrings(p);
      const perms: Perm[] = [];
      for (let i = 1; i <= num; i++) {
        const q = parsePerm(strs[i]);
        if (!q) return 'EINVAL';
        perms.push(q);
      }
      this.allocPermrefs(perms);
      if (perms[0].perms & PERM.IGNORE) return 'ENOENT';
      const target = strs[0];
      if (target.charCodeAt(0) === 64) {
        const cur = this.special.get(target);
        if (!cur) return 'EINVAL';
        if ((this.permFor(c, cur) & (PERM.WRITE | PERM.OWNER)) !== (PERM.WRITE | PERM.OWNER)) return 'EACCES';
        this.special.set(target, perms);
        return this.ack();
      }
      const name = this.canon(c, target)!;
      const n = this.getNode(c, name, PERM.WRITE | PERM.OWNER);
      if (isErr(n)) return n;
      if (this.unpriv(c) && perms[0].id !== n.perms[0].id) return 'EPERM';
      const old = n.perms;
      this.entryDec(c, n);
      n.perms = perms;
      this.entryInc(c, n);
      const e = this.writeNode(c, n, false);
      if (e) {
        this.entryDec(c, n);
        n.perms = old;
        this.entryInc(c, n);
        return e;
      }
      this.fireWatches(c, name, n, false, old);
      return this.ack();
    },

    watch: (c: Connection, p: Uint8Array): XsErr | null => {
      if (countStrings(p) !== 2) return 'EINVAL';
      const [path0, token] = splitStrings(p);
      let path = path0;
      let relative = false;
      if (path.charCodeAt(0) === 64) {
        if (path.length > XENSTORE_REL_PATH_MAX) return 'EINVAL';
      } else {
        relative = path.charCodeAt(0) !== 47;
        path = canonicalize(path, c.implicitPath);
        if (!isValidPath(path, this.quotas.pathMax)) return 'EINVAL';
      }
      for (const w of c.watches) if (w.node === path && w.token === token) return 'EEXIST';
      if (this.unpriv(c) && c.watches.length > this.quotas.watches) return 'E2BIG';
      const w: Watch = { node: path, token, relative: relative ? c.implicitPath : null };
      c.watches.push(w);
      this.ack();
      this.sendEvent(c, watchPath(w, w.node), token);
      return null;
    },

    unwatch: (c: Connection, p: Uint8Array): XsErr | null => {
      if (countStrings(p) !== 2) return 'EINVAL';
      const [path0, token] = splitStrings(p);
      const path = canonicalize(path0, c.implicitPath);
      const i = c.watches.findIndex((w) => w.node === path && w.token === token);
      if (i < 0) return 'ENOENT';
      c.watches.splice(i, 1);
      return this.ack();
    },

    transactionStart: (c: Connection): XsErr | null => {
      if (c.transaction) return 'EBUSY';
      if (this.unpriv(c) && c.transactions.size > this.quotas.transactions) return 'ENOSPC';
      let id: number;
      do {
        id = c.nextTxId;
        c.nextTxId = (c.nextTxId + 1) >>> 0;
      } while (id === 0 || c.transactions.has(id));
      const t = new Transaction(id, ++this.tree.generation);
      c.transactions.set(id, t);
      return this.reply(cstrings(`${id}`));
    },

    transactionEnd: (c: Connection, p: Uint8Array): XsErr | null => {
      const arg = oneArg(p);
      if (arg !== 'T' && arg !== 'F') return 'EINVAL';
      const t = c.transaction;
      if (!t) return 'ENOENT';
      c.transaction = null;
      c.transactions.delete(t.id);
      if (arg === 'T') {
        if (t.fail) return 'ENOMEM';
        const chk = t.nodeCreated && this.unpriv(c);
        let e = this.fixDomains(t, chk, false);
        if (e) return e;
        e = this.finalize(c, t);
        if (e) return e;
        this.fixDomains(t, false, true);
      }
      return this.ack();
    },

    introduce: (c: Connection, p: Uint8Array): XsErr | null => {
      if (countStrings(p) < 3) return 'EINVAL';
      const v = splitStrings(p);
      const domid = atoi(v[0]) >>> 0;
      const gfn = atoi(v[1]);
      const port = atoi(v[2]);
      if (port <= 0) return 'EINVAL';
      let d = this.domains.get(domid);
      if (!d || !d.introduced) {
        if (!this.env.introduce) return 'EINVAL';
        const link = this.env.introduce(domid, gfn, port);
        if (typeof link === 'string') return link;
        d ??= { domid, generation: this.tree.generation, introduced: false, conn: null, port: 0, shutdown: false, link: null };
        this.domains.set(domid, d);
        d.introduced = true;
        d.port = port;
        d.shutdown = false;
        d.link = link;
        d.conn = new Connection(domid, d, `dom${domid}`);
        this.conns.push(d.conn);
        if (domid !== 0) this.fireWatches(null, '@introduceDomain', null, true, null);
      } else {
        d.port = port;
        d.link?.rebind(port);
      }
      // domain_conn_reset
      const dc = d.conn;
      if (dc) {
        dc.watches.length = 0;
        dc.transactions.clear();
        dc.out.length = 0;
        dc.pendingEvents.clear();
        dc.ignored = false;
      }
      d.link?.reset();
      return this.ack();
    },

    release: (c: Connection, p: Uint8Array): XsErr | null => {
      const d = this.oneArgDomain(p);
      if (typeof d === 'string') return d;
      this.destroyDomain(d);
      return this.ack();
    },

    resume: (c: Connection, p: Uint8Array): XsErr | null => {
      const d = this.oneArgDomain(p);
      if (typeof d === 'string') return d;
      d.shutdown = false;
      return this.ack();
    },

    setTarget: (c: Connection, p: Uint8Array): XsErr | null => {
      if (countStrings(p) < 2) return 'EINVAL';
      const v = splitStrings(p);
      const d = this.connectedDomain(atoi(v[0]));
      if (typeof d === 'string') return d;
      const t = this.connectedDomain(atoi(v[1]));
      if (typeof t === 'string') return t;
      d.conn!.target = t.conn;
      return this.ack();
    },

    getDomainPath: (c: Connection, p: Uint8Array): XsErr | null => {
      const a = oneArg(p);
      if (a === null) return 'EINVAL';
      return this.reply(cstrings(domainPath(atoi(a))));
    },

    isDomainIntroduced: (c: Connection, p: Uint8Array): XsErr | null => {
      const a = oneArg(p);
      if (a === null) return 'EINVAL';
      const domid = atoi(a) >>> 0;
      const yes = domid === DOMID_SELF || !!this.domains.get(domid)?.introduced;
      return this.reply(cstrings(yes ? 'T' : 'F'));
    },

    resetWatches: (c: Connection): XsErr | null => {
      c.watches.length = 0;
      c.transactions.clear();
      return this.ack();
    },

    control: (c: Connection, p: Uint8Array): XsErr | null => {
      if (firstNul(p) < 0) return 'EINVAL';
      const v = splitStrings(p);
      const cmd = CONTROL[v[0]];
      if (!cmd) return 'EINVAL';
      return cmd.fn(this, c, v.slice(1));
    },
  };

  private oneArgDomain(p: Uint8Array): Domain | XsErr {
    const a = oneArg(p);
    if (a === null) return 'EINVAL';
    const domid = atoi(a);
    if (!domid) return 'EINVAL';
    return this.connectedDomain(domid);
  }

  // ================================================================ CONTROL

  quotaText(soft: boolean): string {
    let s = 'Quota settings:\n';
    for (const [name, key, descr] of soft ? SOFT_QUOTAS : HARD_QUOTAS) s += `${name.padEnd(17)}: ${String(this.quotas[key]).padStart(8)} ${descr}\n`;
    return s;
  }

  setQuota(soft: boolean, name: string, val: number): boolean {
    const q = (soft ? SOFT_QUOTAS : HARD_QUOTAS).find((x) => x[0] === name);
    if (!q) return false;
    this.quotas[q[1]] = val;
    return true;
  }

  /** Quota accounting of one domain (CONTROL quota <domid>). */
  domainQuotaText(domid: number): string | null {
    const d = this.domains.get(domid);
    if (!d) return null;
    const row = (k: string, v: number) => `${k.padEnd(16)}: ${String(v).padStart(8)}\n`;
    return `Domain ${domid}:\n` + row('nodes', this.entries.get(domid) ?? 0) + row('watches', d.conn?.watches.length ?? 0) + row('transactions', d.conn?.transactions.size ?? 0) + row('outstanding', 0) + row('memory', 0);
  }

  /** Consistency check (CONTROL check): every node's parent lists it, and counts match. */
  check(): string[] {
    const errs: string[] = [];
    const owners = new Map<number, number>();
    for (const [name, n] of this.tree.nodes) {
      owners.set(n.perms[0].id, (owners.get(n.perms[0].id) ?? 0) + 1);
      if (name !== '/') {
        const p = this.tree.get(parentOf(name));
        if (!p) errs.push(`${name}: parent missing`);
        else if (p.children.filter((x) => x === basename(name)).length !== 1) errs.push(`${name}: not listed once by its parent`);
      }
      for (const ch of n.children) if (!this.tree.get(childPath(name, ch))) errs.push(`${name}: child ${ch} missing`);
    }
    if (!this.tree.get('/')) errs.push('/ missing');
    for (const [d, k] of owners) if ((this.entries.get(d) ?? 0) !== k) errs.push(`dom${d}: ${this.entries.get(d) ?? 0} nodes counted, ${k} owned`);
    for (const [d, k] of this.entries) if (!owners.has(d) && k !== 0) errs.push(`dom${d}: ${k} nodes counted, none owned`);
    return errs;
  }

  /** A readable dump of the tree (path = "value" (perms)), sorted, for tests and debugging. */
  dump(root = '/'): string[] {
    const out: string[] = [];
    const walk = (name: string) => {
      const n = this.tree.get(name);
      if (!n) return;
      out.push(`${name} = "${bstr(n.value)}" (${n.perms.map(permToString).join(',')})`);
      for (const c of n.children) walk(childPath(name, c));
    };
    walk(root);
    return out;
  }
}

function watchPath(w: Watch, name: string): string {
  if (!w.relative) return name;
  let p = name.slice(w.relative.length);
  if (p.charCodeAt(0) === 47) p = p.slice(1);
  return p;
}

/** A payload given as a JS byte string in `request` (tests): used verbatim. */
function rawBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

type ControlFn = (s: XenstoreServer, c: Connection, args: string[]) => XsErr | null;
const CONTROL: Record<string, { pars: string; fn: ControlFn }> = Object.assign(Object.create(null) as Record<string, { pars: string; fn: ControlFn }>, {
  check: {
    pars: '',
    fn: (s: XenstoreServer, _c: Connection, a: string[]) => {
      if (a.length) return 'EINVAL';
      for (const e of s.check()) s.env.log?.(`check: ${e}`);
      return s.ack();
    },
  },
  log: {
    pars: 'on|off',
    fn: (s: XenstoreServer, _c: Connection, a: string[]) => (a.length !== 1 || (a[0] !== 'on' && a[0] !== 'off') ? 'EINVAL' : s.ack()),
  },
  logfile: { pars: '<file>', fn: (s: XenstoreServer, _c: Connection, a: string[]) => (a.length !== 1 ? 'EINVAL' : s.ack()) },
  memreport: {
    pars: '[<file>]',
    fn: (s: XenstoreServer, _c: Connection, a: string[]) => {
      if (a.length > 1) return 'EINVAL';
      s.env.log?.(`memreport: ${s.tree.size} nodes, ${s.conns.length} connections, ${s.domains.size} domains`);
      return s.ack();
    },
  },
  print: {
    pars: '<string>',
    fn: (s: XenstoreServer, _c: Connection, a: string[]) => {
      if (a.length !== 1) return 'EINVAL';
      s.env.log?.(`control: ${a[0]}`);
      return s.ack();
    },
  },
  quota: { pars: '[set <name> <val>|<domid>]', fn: (s: XenstoreServer, c: Connection, a: string[]) => quotaCmd(s, a, false) },
  'quota-soft': { pars: '[set <name> <val>]', fn: (s: XenstoreServer, c: Connection, a: string[]) => quotaCmd(s, a, true) },
  help: {
    pars: '',
    fn: (s: XenstoreServer, _c: Connection, a: string[]) => {
      if (a.length) return 'EINVAL';
      let t = '';
      for (const [k, v] of Object.entries(CONTROL)) t += `${k}\t${v.pars}\n`;
      return s.reply(cstrings(t));
    },
  },
});

function quotaCmd(s: XenstoreServer, a: string[], soft: boolean): XsErr | null {
  if (a.length === 0) return s.reply(cstrings(s.quotaText(soft)));
  if (a[0] === 'set') {
    if (a.length !== 3) return 'EINVAL';
    const val = atoi(a[2]);
    if (val < 1) return 'EINVAL';
    return s.setQuota(soft, a[1], val) ? s.ack() : 'EINVAL';
  }
  if (soft || a.length !== 1) return 'EINVAL';
  const t = s.domainQuotaText(atoi(a[0]) >>> 0);
  return t === null ? 'ENOENT' : s.reply(cstrings(t));
}

// ================================================================ the dispatch table

const op = (name: string, fn: Handler, flags = 0): Op => ({ name, fn, flags });
/** wire_funcs[]: one entry per message type; holes (20, WATCH_EVENT, ERROR) answer ENOSYS. */
export const OPS: readonly (Op | undefined)[] = (() => {
  const t: (Op | undefined)[] = new Array(XS.TYPE_COUNT).fill(undefined);
  t[XS.CONTROL] = op('CONTROL', (s, c, p) => s.h.control(c, p), PRIV);
  t[XS.DIRECTORY] = op('DIRECTORY', (s, c, p) => s.h.directory(c, p));
  t[XS.READ] = op('READ', (s, c, p) => s.h.read(c, p));
  t[XS.GET_PERMS] = op('GET_PERMS', (s, c, p) => s.h.getPerms(c, p));
  t[XS.WATCH] = op('WATCH', (s, c, p) => s.h.watch(c, p), NOTID);
  t[XS.UNWATCH] = op('UNWATCH', (s, c, p) => s.h.unwatch(c, p), NOTID);
  t[XS.TRANSACTION_START] = op('TRANSACTION_START', (s, c) => s.h.transactionStart(c));
  t[XS.TRANSACTION_END] = op('TRANSACTION_END', (s, c, p) => s.h.transactionEnd(c, p));
  t[XS.INTRODUCE] = op('INTRODUCE', (s, c, p) => s.h.introduce(c, p), PRIV);
  t[XS.RELEASE] = op('RELEASE', (s, c, p) => s.h.release(c, p), PRIV);
  t[XS.GET_DOMAIN_PATH] = op('GET_DOMAIN_PATH', (s, c, p) => s.h.getDomainPath(c, p));
  t[XS.WRITE] = op('WRITE', (s, c, p) => s.h.write(c, p));
  t[XS.MKDIR] = op('MKDIR', (s, c, p) => s.h.mkdir(c, p));
  t[XS.RM] = op('RM', (s, c, p) => s.h.rm(c, p));
  t[XS.SET_PERMS] = op('SET_PERMS', (s, c, p) => s.h.setPerms(c, p));
  t[XS.IS_DOMAIN_INTRODUCED] = op('IS_DOMAIN_INTRODUCED', (s, c, p) => s.h.isDomainIntroduced(c, p), PRIV);
  t[XS.RESUME] = op('RESUME', (s, c, p) => s.h.resume(c, p), PRIV);
  t[XS.SET_TARGET] = op('SET_TARGET', (s, c, p) => s.h.setTarget(c, p), PRIV);
  t[XS.RESET_WATCHES] = op('RESET_WATCHES', (s, c) => s.h.resetWatches(c));
  t[XS.DIRECTORY_PART] = op('DIRECTORY_PART', (s, c, p) => s.h.directoryPart(c, p));
  for (const [k, v] of Object.entries(XS_NAMES)) if (t[Number(k)] && t[Number(k)]!.name !== v) throw new Error(`dispatch table: ${k} is ${t[Number(k)]!.name}, not ${v}`);
  return t;
})();
