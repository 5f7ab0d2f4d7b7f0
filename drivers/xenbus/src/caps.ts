/**
 * The capabilities split drivers are built over (STYLE §4, §7): frontends and backends receive
 * these narrow interfaces, never a kernel or the hypervisor. guests/minios implements them for
 * simulated guests and driver domains; a test can implement them with a mock.
 *
 * Blocking operations are coroutines: call them with `yield*` from a driver thread. The values they
 * yield are the runtime's own wait tokens and are opaque to drivers (hence `unknown`).
 */
import type { ByteAccess } from '@xenotype/core';

/** A coroutine a driver runs with `yield*`, returning T. */
export type Co<T> = Generator<unknown, T, void>;

export interface TimeCap {
  /** System time (ns) as the guest sees it. */
  now(): number;
  sleep(ns: number): Co<void>;
  /** Spend CPU time (drivers model their per-request work with it). */
  compute(ns: number, workingSet?: number): Co<void>;
}

export interface EventChannelCap {
  allocUnbound(remoteDom: number): number;
  bindInterdomain(remoteDom: number, remotePort: number): number;
  notify(port: number): void;
  /** Close our end; threads waiting on the port wake (and find it closed). */
  close(port: number): void;
  /** Events seen so far on `port` (a generation counter). */
  generation(port: number): number;
  /** Wait for an event on `port` newer than generation `seen`; returns the new generation, or -1 at `deadline`. */
  wait(port: number, seen: number, deadline?: number): Co<number>;
}

export interface GrantMapping {
  readonly handle: number;
  /** Guest-physical address where the frame is mapped. */
  readonly addr: number;
}

export interface GrantCopySide {
  /** Grant reference of `dom`, or our own gfn when `ref` is absent. */
  ref?: number;
  dom?: number;
  gfn?: number;
  offset: number;
}

/**
 * Xen refused a grant operation with a GNTST_* status (e.g. a peer's bad or withdrawn grant
 * reference). Thrown by GrantCap.map/unmap; drivers catch it and treat the peer as misbehaving.
 */
export class GrantStatusError extends Error {
  override name = 'GrantStatusError';
  constructor(
    /** The GNTST_* status (negative). */
    readonly status: number,
    readonly op: string,
  ) {
    super(`${op}: grant status ${status}`);
  }
}

export interface GrantCap {
  /** Let `domid` access our frame `gfn`; returns the grant reference. */
  grantAccess(domid: number, gfn: number, readonly: boolean): number;
  /** Withdraw a grant; false while the peer still has it mapped. */
  endAccess(ref: number): boolean;
  /** Map a frame `dom` granted us (GNTTABOP_map_grant_ref); throws GrantStatusError if Xen refuses. */
  map(dom: number, ref: number, readonly: boolean): GrantMapping;
  unmap(m: GrantMapping): void;
  /** GNTTABOP_copy; returns the GNTST_* status. */
  copy(src: GrantCopySide, dst: GrantCopySide, len: number): number;
}

export interface MemoryCap {
  /** This domain's guest-physical memory. */
  readonly mem: ByteAccess;
  /** A free page of our own (gfn), zeroed. */
  allocPage(): number;
  freePage(gfn: number): void;
}

export interface XsPerm {
  /** n (none), r (read), w (write), b (both). */
  readonly perm: 'n' | 'r' | 'w' | 'b';
  readonly domid: number;
}

/**
 * A xenstore client. Paths are absolute or relative to /local/domain/<self>. Errors are
 * XenstoreError with Xen's error name (ENOENT, EACCES, EAGAIN, ...); reads of a missing node
 * return null instead.
 */
export interface XenstoreCap {
  /** Our own domid, as xenstore knows it. */
  readonly domid: number;
  read(path: string, tx?: number): Co<string | null>;
  write(path: string, value: string | Uint8Array, tx?: number): Co<void>;
  mkdir(path: string, tx?: number): Co<void>;
  rm(path: string, tx?: number): Co<void>;
  directory(path: string, tx?: number): Co<string[]>;
  getPerms(path: string, tx?: number): Co<XsPerm[]>;
  setPerms(path: string, perms: XsPerm[], tx?: number): Co<void>;
  /** Start a transaction; returns its id. */
  transactionStart(): Co<number>;
  /** Commit (or abort); false when the commit failed with EAGAIN and should be retried. */
  transactionEnd(tx: number, commit: boolean): Co<boolean>;
  watch(path: string, token: string): Co<void>;
  unwatch(path: string, token: string): Co<void>;
  /** Watch events delivered so far (a generation counter). */
  readonly watchGeneration: number;
  /** Wait for a watch event newer than `seen`; returns [generation, path, token], or null at `deadline`. */
  nextWatch(seen: number, deadline?: number): Co<{ gen: number; path: string; token: string } | null>;
}

export class XenstoreError extends Error {
  constructor(
    /** Xen's error name, e.g. "ENOENT". */
    readonly code: string,
    readonly op: string,
    readonly path?: string,
  ) {
    super(`${op}${path ? ' ' + path : ''}: ${code}`);
    this.name = 'XenstoreError';
  }
}

/**
 * A wake-up point between threads of one domain, counted in generations (STYLE §9; Mirage's
 * Lwt_condition, Linux's wait queues): a waiter notes `generation`, looks at its condition, and
 * waits for a generation newer than the one it noted, so a wake between the look and the wait is
 * not lost. Drivers use it where one of their threads hands work or results to another.
 */
export interface WaitQueue {
  readonly generation: number;
  /** Bump the generation and make every waiter runnable. */
  wake(): void;
  /** Wait for a generation newer than `seen`; returns it, or -1 at `deadline` (guest system time). */
  wait(seen: number, deadline?: number): Co<number>;
}

/** Everything a frontend or backend instance is given. */
export interface DriverCaps {
  readonly domid: number;
  readonly time: TimeCap;
  readonly evtchn: EventChannelCap;
  readonly grants: GrantCap;
  readonly memory: MemoryCap;
  readonly xs: XenstoreCap;
  /** Start a driver thread. */
  spawn(name: string, body: Co<unknown>): void;
  /** A new wait queue for this driver's threads. */
  waitQueue(): WaitQueue;
  log(line: string): void;
}
