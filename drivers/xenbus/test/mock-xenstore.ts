/**
 * An in-memory xenstore for driver tests: one MockStore, one MockXs client (a XenstoreCap) per
 * domain, and a tiny cooperative runner for the coroutines that use them.
 *
 * It follows the C xenstored's rules that drivers depend on (../../../../shared/reference/xenstore.md):
 * permissions (owner and dom0 have full rights; others get the first entry naming them, else
 * entry 0's flag; a new node inherits its parent's list, with the creator as owner when
 * unprivileged; a missing node reads as EACCES unless the nearest existing ancestor is readable),
 * transactions (reads see the transaction's own writes; commit fails with EAGAIN when a node the
 * transaction touched — read, written, or a parent whose child list it changed — has changed
 * since; events fire at commit), and watches (an initial event on WATCH; an event for every
 * node written, created, re-permissioned or removed at or below the watched path, only to
 * watchers that may read it; relative watches get relative paths).
 *
 * Not modelled: quotas, DIRECTORY_PART, special @ nodes, wire encoding.
 */
import { XenstoreError, transaction, type Co, type XenstoreCap, type XsPerm } from '@xenotype/xenbus';

interface Node {
  value: string;
  perms: XsPerm[];
  children: string[];
  gen: number;
}

type Nodes = Map<string, Node>;

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const clone = (n: Node): Node => ({ value: n.value, perms: n.perms.map((x) => ({ ...x })), children: [...n.children], gen: n.gen });

/** What a waiting coroutine yields to the runner. */
export interface MockWait {
  readonly wait: 'xs';
  readonly deadline: number;
  /** A request in flight (roundTrips mode): the task is not blocked, it resumes next round. */
  readonly op?: true;
}

interface WatchEvent {
  path: string;
  token: string;
}

export class MockStore {
  now = 0;
  /** Bumped on every change a waiter could be waiting for (runner progress detection). */
  version = 0;
  private gen = 0;
  nodes: Nodes = new Map();
  readonly clients: MockXs[] = [];
  /** Commits to fail with EAGAIN regardless of conflicts (to exercise retry loops). */
  forcedConflicts = 0;
  /** Make every operation yield once before it runs, as a request on a real connection does, so tasks interleave between operations. */
  roundTrips = false;
  commits = { ok: 0, eagain: 0 };
  /** Every committed change, in order: the node's new value, or null when removed. */
  readonly history: { path: string; value: string | null }[] = [];

  constructor() {
    for (const p of ['/', '/tool', '/local', '/local/domain', '/local/domain/0', '/libxl']) this.create(this.nodes, p, '', [{ domid: 0, perm: 'n' }]);
  }

  client(domid: number): MockXs {
    const c = new MockXs(this, domid);
    this.clients.push(c);
    return c;
  }

  nextGen(): number {
    return ++this.gen;
  }

  create(nodes: Nodes, p: string, value: string, perms: XsPerm[]): Node {
    const n: Node = { value, perms, children: [], gen: this.nextGen() };
    nodes.set(p, n);
    if (p !== '/') {
      const parent = nodes.get(parentOf(p))!;
      parent.children.push(baseOf(p));
      parent.gen = this.nextGen();
    }
    return n;
  }

  /** Deliver events for a change of `p` (or removal of the subtree at `p`) to every watcher. */
  fire(p: string, removed = false): void {
    this.version++;
    this.history.push({ path: p, value: removed ? null : (this.nodes.get(p)?.value ?? null) });
    for (const c of this.clients) c.deliver(p, removed);
  }

  /** A value, for assertions. */
  get(p: string): string | null {
    return this.nodes.get(p)?.value ?? null;
  }

  perms(p: string): string | null {
    const n = this.nodes.get(p);
    return n ? n.perms.map((x) => `${x.perm}${x.domid}`).join(',') : null;
  }

  /** Every path below `p`, for assertions. */
  paths(under = '/'): string[] {
    return [...this.nodes.keys()].filter((k) => k === under || k.startsWith(under === '/' ? '/' : under + '/')).sort();
  }
}

interface Tx {
  nodes: Nodes;
  /** path → generation seen at first access (-1: missing). */
  touched: Map<string, number>;
  /** Changes to replay at commit, in order. */
  log: { p: string; removed: boolean }[];
}

export class MockXs implements XenstoreCap {
  private readonly events: WatchEvent[] = [];
  private readonly watches: { abs: string; given: string; token: string }[] = [];
  private readonly txs = new Map<number, Tx>();
  private nextTx = 1;
  /** Every operation issued, for assertions: "op path". */
  readonly ops: string[] = [];

  constructor(
    readonly store: MockStore,
    readonly domid: number,
  ) {}

  private *roundTrip(): Co<void> {
    if (this.store.roundTrips) yield { wait: 'xs', deadline: Infinity, op: true } satisfies MockWait;
  }

  get privileged(): boolean {
    return this.domid === 0;
  }

  get watchGeneration(): number {
    return this.events.length;
  }

  // ------------------------------------------------------------------ paths and permissions

  private abs(path: string): string {
    const p = path.startsWith('/') ? path : `/local/domain/${this.domid}/${path}`;
    if (!/^\/[A-Za-z0-9\-/_@]*$/.test(p) || p.includes('//') || (p.length > 1 && p.endsWith('/'))) throw new XenstoreError('EINVAL', 'path', path);
    return p;
  }

  private rel(abs: string, given: string): string {
    if (given.startsWith('/')) return abs;
    const pre = `/local/domain/${this.domid}/`;
    return abs.startsWith(pre) ? abs.slice(pre.length) : abs;
  }

  private flag(n: Node): string {
    if (this.privileged || n.perms[0].domid === this.domid) return 'b';
    const e = n.perms.slice(1).find((x) => x.domid === this.domid);
    return (e ?? n.perms[0]).perm;
  }

  canRead(n: Node): boolean {
    const f = this.flag(n);
    return f === 'r' || f === 'b';
  }

  private canWrite(n: Node): boolean {
    const f = this.flag(n);
    return f === 'w' || f === 'b';
  }

  private ancestor(nodes: Nodes, p: string): [string, Node] {
    let q = p;
    while (!nodes.has(q)) q = parentOf(q);
    return [q, nodes.get(q)!];
  }

  // ------------------------------------------------------------------ transactions

  private view(tx: number | undefined, op: string): { nodes: Nodes; t: Tx | null } {
    if (!tx) return { nodes: this.store.nodes, t: null };
    const t = this.txs.get(tx);
    if (!t) throw new XenstoreError('ENOENT', op, `transaction ${tx}`);
    return { nodes: t.nodes, t };
  }

  /** First access of `p` in a transaction: take the live node (as xenstored does) and remember its generation. */
  private touch(t: Tx | null, p: string): void {
    if (!t || t.touched.has(p)) return;
    const live = this.store.nodes.get(p);
    t.touched.set(p, live?.gen ?? -1);
    if (live) t.nodes.set(p, clone(live));
    else t.nodes.delete(p);
  }

  private changed(t: Tx | null, p: string, removed = false): void {
    if (t) t.log.push({ p, removed });
    else this.store.fire(p, removed);
  }

  // ------------------------------------------------------------------ operations

  private readNode(op: string, path: string, tx?: number): { p: string; n: Node | null; nodes: Nodes; t: Tx | null } {
    const p = this.abs(path);
    const { nodes, t } = this.view(tx, op);
    this.touch(t, p);
    const n = nodes.get(p) ?? null;
    if (n) {
      if (!this.canRead(n)) throw new XenstoreError('EACCES', op, p);
    } else {
      const [, a] = this.ancestor(nodes, p);
      if (!this.canRead(a)) throw new XenstoreError('EACCES', op, p);
    }
    return { p, n, nodes, t };
  }

  *read(path: string, tx?: number): Co<string | null> {
    yield* this.roundTrip();
    this.ops.push(`read ${path}`);
    return this.readNode('read', path, tx).n?.value ?? null;
  }

  *directory(path: string, tx?: number): Co<string[]> {
    yield* this.roundTrip();
    this.ops.push(`directory ${path}`);
    const { n, p } = this.readNode('directory', path, tx);
    if (!n) throw new XenstoreError('ENOENT', 'directory', p);
    return [...n.children];
  }

  *getPerms(path: string, tx?: number): Co<XsPerm[]> {
    yield* this.roundTrip();
    const { n, p } = this.readNode('get_perms', path, tx);
    if (!n) throw new XenstoreError('ENOENT', 'get_perms', p);
    return n.perms.map((x) => ({ ...x }));
  }

  private writeNode(op: string, path: string, value: string | null, tx?: number): void {
    const p = this.abs(path);
    if (p === '/') throw new XenstoreError('EINVAL', op, p);
    const { nodes, t } = this.view(tx, op);
    this.touch(t, p);
    const n = nodes.get(p);
    if (n) {
      if (!this.canWrite(n)) throw new XenstoreError('EACCES', op, p);
      if (value === null) return; // mkdir of an existing node
      n.value = value;
      n.gen = this.store.nextGen();
      this.changed(t, p);
      return;
    }
    for (let q = parentOf(p); ; q = parentOf(q)) {
      this.touch(t, q); // the parents whose child lists change, up to the first existing one
      if (nodes.has(q)) break;
    }
    const [, a] = this.ancestor(nodes, p);
    if (!this.canWrite(a)) throw new XenstoreError('EACCES', op, p);
    // create the missing ancestors, then the node, each inheriting its parent's permissions
    const missing: string[] = [];
    for (let q = p; !nodes.has(q); q = parentOf(q)) missing.unshift(q);
    for (const q of missing) {
      const perms = nodes.get(parentOf(q))!.perms.map((x) => ({ ...x }));
      if (!this.privileged) perms[0] = { domid: this.domid, perm: perms[0].perm };
      this.store.create(nodes, q, q === p ? (value ?? '') : '', perms);
    }
    this.changed(t, p);
  }

  *write(path: string, value: string | Uint8Array, tx?: number): Co<void> {
    yield* this.roundTrip();
    this.ops.push(`write ${path}`);
    this.writeNode('write', path, typeof value === 'string' ? value : new TextDecoder().decode(value), tx);
  }

  *mkdir(path: string, tx?: number): Co<void> {
    yield* this.roundTrip();
    this.ops.push(`mkdir ${path}`);
    this.writeNode('mkdir', path, null, tx);
  }

  *rm(path: string, tx?: number): Co<void> {
    yield* this.roundTrip();
    this.ops.push(`rm ${path}`);
    const p = this.abs(path);
    if (p === '/') throw new XenstoreError('EINVAL', 'rm', p);
    const { nodes, t } = this.view(tx, 'rm');
    this.touch(t, p);
    this.touch(t, parentOf(p));
    const n = nodes.get(p);
    if (!n) {
      if (!nodes.has(parentOf(p))) throw new XenstoreError('ENOENT', 'rm', p);
      return;
    }
    if (!this.canWrite(n)) throw new XenstoreError('EACCES', 'rm', p);
    const under = (k: string) => k === p || k.startsWith(p + '/');
    // the whole subtree is accessed (and so will not be refreshed from the live store later)
    for (const k of new Set([...nodes.keys(), ...this.store.nodes.keys()])) if (under(k)) this.touch(t, k);
    for (const k of [...nodes.keys()]) if (under(k)) nodes.delete(k);
    const parent = nodes.get(parentOf(p))!;
    parent.children = parent.children.filter((c) => c !== baseOf(p));
    parent.gen = this.store.nextGen();
    this.changed(t, p, true);
  }

  *setPerms(path: string, perms: XsPerm[], tx?: number): Co<void> {
    yield* this.roundTrip();
    this.ops.push(`set_perms ${path}`);
    const p = this.abs(path);
    const { nodes, t } = this.view(tx, 'set_perms');
    this.touch(t, p);
    const n = nodes.get(p);
    if (!n) throw new XenstoreError('ENOENT', 'set_perms', p);
    if (!this.canWrite(n)) throw new XenstoreError('EACCES', 'set_perms', p);
    if (!this.privileged && n.perms[0].domid !== this.domid) throw new XenstoreError('EACCES', 'set_perms', p);
    if (!this.privileged && perms[0]?.domid !== this.domid) throw new XenstoreError('EPERM', 'set_perms', p);
    if (perms.length === 0) throw new XenstoreError('EINVAL', 'set_perms', p);
    n.perms = perms.map((x) => ({ ...x }));
    n.gen = this.store.nextGen();
    this.changed(t, p);
  }

  *transactionStart(): Co<number> {
    yield* this.roundTrip();
    if (this.txs.size >= 10) throw new XenstoreError('ENOSPC', 'transaction_start');
    const id = this.nextTx++;
    const nodes: Nodes = new Map();
    for (const [k, v] of this.store.nodes) nodes.set(k, clone(v));
    this.txs.set(id, { nodes, touched: new Map(), log: [] });
    return id;
  }

  *transactionEnd(tx: number, commit: boolean): Co<boolean> {
    yield* this.roundTrip();
    const t = this.txs.get(tx);
    if (!t) throw new XenstoreError('ENOENT', 'transaction_end', `transaction ${tx}`);
    this.txs.delete(tx);
    if (!commit) return true;
    const live = this.store.nodes;
    const conflict = [...t.touched].some(([p, g]) => (live.get(p)?.gen ?? -1) !== g);
    if (conflict || this.store.forcedConflicts > 0) {
      if (!conflict) this.store.forcedConflicts--;
      this.store.commits.eagain++;
      return false;
    }
    // apply each change: the changed subtree, and the ancestors the transaction touched (their
    // child lists may have changed; being touched, they are unchanged outside since)
    for (const { p, removed } of t.log) {
      if (removed) for (const k of [...live.keys()]) if (k === p || k.startsWith(p + '/')) live.delete(k);
      for (const [k, v] of t.nodes) if (k === p || k.startsWith(p + '/')) live.set(k, clone(v));
      for (let q = parentOf(p); ; q = parentOf(q)) {
        const n = t.nodes.get(q);
        if (n && t.touched.has(q)) live.set(q, clone(n));
        if (q === '/') break;
      }
    }
    this.store.commits.ok++;
    for (const { p, removed } of t.log) this.store.fire(p, removed);
    return true;
  }

  *watch(path: string, token: string): Co<void> {
    yield* this.roundTrip();
    const abs = this.abs(path);
    if (this.watches.some((w) => w.abs === abs && w.token === token)) throw new XenstoreError('EEXIST', 'watch', path);
    this.watches.push({ abs, given: path, token });
    this.events.push({ path, token }); // the initial event
    this.store.version++;
  }

  *unwatch(path: string, token: string): Co<void> {
    yield* this.roundTrip();
    const abs = this.abs(path);
    const i = this.watches.findIndex((w) => w.abs === abs && w.token === token);
    if (i < 0) throw new XenstoreError('ENOENT', 'unwatch', path);
    this.watches.splice(i, 1);
  }

  *nextWatch(seen: number, deadline?: number): Co<{ gen: number; path: string; token: string } | null> {
    while (this.events.length <= seen) {
      if (deadline !== undefined && this.store.now >= deadline) return null;
      yield { wait: 'xs', deadline: deadline ?? Infinity } satisfies MockWait;
    }
    const e = this.events[seen];
    return { gen: seen + 1, path: e.path, token: e.token };
  }

  /** Called by the store for every change. */
  deliver(p: string, removed: boolean): void {
    for (const w of this.watches) {
      let path: string | null = null;
      if (p === w.abs || p.startsWith(w.abs === '/' ? '/' : w.abs + '/')) path = p;
      else if (removed && w.abs.startsWith(p + '/')) path = w.abs;
      if (path === null) continue;
      const n = this.store.nodes.get(path);
      const parent = this.store.nodes.get(parentOf(path));
      if (!removed && !((n && this.canRead(n)) || (parent && this.canRead(parent)))) continue;
      this.events.push({ path: this.rel(path, w.given), token: w.token });
    }
  }
}

// ---------------------------------------------------------------------------------------------

export interface Task<T = unknown> {
  readonly name: string;
  done: boolean;
  result?: T;
  error?: unknown;
}

/**
 * Runs coroutines round-robin. When a whole round changes nothing (every task is waiting), mock
 * time jumps to the earliest deadline a task waits for; with none, run() returns (the remaining
 * tasks are blocked for good).
 */
export class Runner {
  private readonly tasks: { t: Task; gen: Co<unknown>; deadline: number }[] = [];
  constructor(
    readonly store: MockStore,
    /** Random source for the order tasks run in within a round (default: spawn order). */
    private readonly random?: () => number,
  ) {}

  spawn<T>(name: string, co: Co<T>): Task<T> {
    const t: Task<T> = { name, done: false };
    this.tasks.push({ t: t as Task, gen: co, deadline: Infinity });
    return t;
  }

  run(maxRounds = 100_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const before = this.store.version;
      let finished = false;
      const order = [...this.tasks];
      if (this.random)
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(this.random() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
      for (const e of order) {
        if (e.t.done) continue;
        try {
          const r = e.gen.next();
          if (r.done) {
            e.t.done = finished = true;
            e.t.result = r.value;
          } else {
            const w = r.value as MockWait;
            e.deadline = w.deadline ?? Infinity;
            if (w.op) finished = true; // in flight, not blocked
          }
        } catch (err) {
          e.t.done = finished = true;
          e.t.error = err;
        }
      }
      const live = this.tasks.filter((e) => !e.t.done);
      if (live.length === 0) return;
      if (finished || this.store.version !== before) continue;
      const next = Math.min(...live.map((e) => e.deadline));
      if (next === Infinity) return;
      this.store.now = Math.max(this.store.now, next);
    }
    throw new Error('runner: too many rounds');
  }
}

/** Wait (in mock time) until `t`. */
export function* sleepUntil(store: MockStore, t: number): Co<void> {
  while (store.now < t) yield { wait: 'xs', deadline: t } satisfies MockWait;
}

/** Run one coroutine to completion against a store (throws what it throws). */
export function runOne<T>(store: MockStore, co: Co<T>): T {
  const r = new Runner(store);
  const t = r.spawn('one', co);
  r.run();
  if (!t.done) throw new Error('coroutine blocked');
  if (t.error !== undefined) throw t.error;
  return t.result as T;
}

/**
 * The directories libxl__domain_make gives a new domain that devices rely on: /local/domain/<d>
 * and its device/ directory, both owned by dom0 and readable by the domain ([n0, r<d>]).
 */
export function* domainDirsCreate(xs: XenstoreCap, domid: number, name?: string): Co<void> {
  const dom = `/local/domain/${domid}`;
  const ro: XsPerm[] = [
    { domid: 0, perm: 'n' },
    { domid, perm: 'r' },
  ];
  yield* transaction(xs, function* (t) {
    yield* xs.mkdir(dom, t);
    yield* xs.setPerms(dom, ro, t);
    yield* xs.mkdir(`${dom}/device`, t);
    yield* xs.setPerms(`${dom}/device`, ro, t);
    if (name !== undefined) yield* xs.write(`${dom}/name`, name, t);
  });
}
