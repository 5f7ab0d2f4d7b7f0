/**
 * The console daemon (xenconsoled's role) as a dom0 service: one dom0 thread serving every
 * guest's PV console, acting only through dom0's hypercalls.
 *
 * When a domain is introduced it maps the guest's console page through the guest's reserved
 * grant entry 0 (GNTTABOP_map_grant_ref, as xenconsoled's xengnttab_map_grant_ref of
 * GNTTAB_RESERVED_CONSOLE does) and binds the guest's console event channel
 * (EVTCHNOP_bind_interdomain). On each event it collects the guest's output into a per-domain log
 * and writes queued input into the page's `in` ring (@xenotype/console's ConsoleBackend), and
 * notifies the guest whenever it moved an index — which is what lets a flow-controlled writer in
 * the guest continue. On release it collects the last output, unmaps the page and closes the port.
 *
 * Domains are learnt from the toolstack in process (../toolstack/announce.ts) until the daemon
 * watches xenstore's @introduceDomain / @releaseDomain as xenconsoled does.
 *
 * Costs: `wakeNs` of dom0 CPU per wake-up and `byteNs` per byte moved, charged to dom0's vCPU.
 * Guest misbehaviour (indices out of range, a grant that cannot be mapped) is recorded in that
 * domain's log entry and never stops the daemon.
 */
import { GNTTAB_RESERVED_CONSOLE } from '@xenotype/core';
import { ConsoleBackend } from '@xenotype/console';
import { Signal, type GrantMapping, type MiniOS, type ThreadOp } from '@xenotype/minios';
import type { Dom0, Dom0Service } from '../host/host';
import { listenForDomains } from '../toolstack/announce';

export interface ConsoleDaemonOptions {
  /** CPU time per wake-up (default 2 µs). */
  wakeNs?: number;
  /** CPU time per byte moved (default 1 ns). */
  byteNs?: number;
  /** Called with each chunk of a guest's output as it is collected (e.g. to print it live). */
  onOutput?: (domid: number, bytes: Uint8Array) => void;
}

/** Everything the daemon knows of one guest's console. */
export class ConsoleLog {
  private readonly chunks: Uint8Array[] = [];
  length = 0;
  /** Why the console stopped working (bad grant, bad indices), if it did. */
  error: string | null = null;
  /** Released: the domain is gone and nothing more will be collected. */
  closed = false;
  constructor(readonly domid: number) {}

  append(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) out.set(c, (o += c.length) - c.length);
    return out;
  }

  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

interface Attached {
  mapping: GrantMapping;
  port: number;
  backend: ConsoleBackend;
}

export const CONSOLE_DAEMON = 'xenconsoled';

export class ConsoleDaemon implements Dom0Service {
  readonly name = CONSOLE_DAEMON;
  private os: MiniOS | null = null;
  private readonly attached = new Map<number, Attached>();
  private readonly logs = new Map<number, ConsoleLog>();
  private readonly dirty = new Set<number>();
  private readonly work = new Signal();
  private readonly wakeNs: number;
  private readonly byteNs: number;

  constructor(private readonly opts: ConsoleDaemonOptions = {}) {
    this.wakeNs = opts.wakeNs ?? 2000;
    this.byteNs = opts.byteNs ?? 1;
  }

  *main(sys: Dom0): Generator<ThreadOp, void, void> {
    const os = (this.os = sys.os);
    const stop = listenForDomains(os, {
      introduced: (d) => d.consoleBackend === os.domid && this.attach(d.domid, d.consoleEvtchn),
      released: (domid) => this.detach(domid),
    });
    try {
      for (;;) {
        const seen = this.work.gen;
        if (this.dirty.size > 0) {
          yield* os.compute(this.wakeNs);
          let moved = 0;
          for (const id of [...this.dirty]) {
            this.dirty.delete(id);
            moved += this.pump(id);
          }
          if (moved > 0) yield* os.compute(moved * this.byteNs);
        }
        yield* os.waitFor(this.work, seen);
      }
    } finally {
      stop();
    }
  }

  /** The console log of a domain (empty until it has one). */
  log(domid: number): ConsoleLog {
    let l = this.logs.get(domid);
    if (!l) this.logs.set(domid, (l = new ConsoleLog(domid)));
    return l;
  }

  /** Domains whose console is being served. */
  get domains(): number[] {
    return [...this.attached.keys()];
  }

  /**
   * Queue input for a guest's console (what a user types). Call it from a dom0 thread (a job):
   * that is what wakes dom0 to deliver it.
   */
  input(domid: number, data: string | Uint8Array): boolean {
    const a = this.attached.get(domid);
    if (!a) return false;
    a.backend.queueInput(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    this.kick(domid);
    return true;
  }

  private kick(domid: number): void {
    this.dirty.add(domid);
    this.os?.notify(this.work);
  }

  /** Map the guest's console page (grant entry 0) and bind its console event channel. */
  attach(domid: number, remotePort: number): void {
    const os = this.os;
    if (!os || this.attached.has(domid)) return;
    const log = this.log(domid);
    let mapping: GrantMapping;
    try {
      mapping = os.gnttab.map(domid, GNTTAB_RESERVED_CONSOLE);
    } catch (e) {
      log.error = `cannot map console page: ${(e as Error).message}`;
      return;
    }
    let port: number;
    try {
      port = os.evtchn.bindInterdomain(domid, remotePort, () => this.kick(domid));
    } catch (e) {
      os.gnttab.unmap(mapping);
      log.error = `cannot bind console event channel: ${(e as Error).message}`;
      return;
    }
    this.attached.set(domid, { mapping, port, backend: new ConsoleBackend(os.cpu.mem, mapping.addr) });
    this.kick(domid); // output written before we attached
  }

  /** Collect the last output, unmap the page and close the port. */
  detach(domid: number): void {
    const a = this.attached.get(domid);
    const os = this.os;
    if (!a || !os) return;
    this.pump(domid);
    this.attached.delete(domid);
    this.dirty.delete(domid);
    try {
      os.evtchn.close(a.port);
    } catch {
      // the guest may have closed its end already
    }
    os.gnttab.unmap(a.mapping);
    this.log(domid).closed = true;
  }

  /** Move bytes both ways for one guest; returns how many moved. */
  private pump(domid: number): number {
    const a = this.attached.get(domid);
    const os = this.os;
    if (!a || !os) return 0;
    const r = a.backend.pump();
    if (r.output.length > 0) {
      this.log(domid).append(r.output);
      this.opts.onOutput?.(domid, r.output);
    }
    if (r.notify) os.evtchn.notify(a.port);
    const log = this.log(domid);
    if (a.backend.fault && !log.error) log.error = a.backend.fault.message;
    return r.output.length + r.delivered;
  }
}
