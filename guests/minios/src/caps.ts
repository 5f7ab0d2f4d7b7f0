/**
 * MiniOS as a driver platform: the capabilities of @xenotype/xenbus (DriverCaps) implemented over
 * this runtime's event channels, grant tables, page allocator, threads and clock. Frontends in a
 * guest and backends in a driver domain receive these, never the kernel itself.
 *
 * Waits are MiniOS thread waits on the port's signal, by generation, so an event that arrives
 * before the wait begins is not lost. The coroutines drivers run with `yield*` yield MiniOS's own
 * ThreadOps; drivers treat them as opaque.
 *
 * `xs` is the guest's xenstore client over its store ring (./xenstore.ts). A domain whose xenstore
 * connection is not that ring (dom0, which talks to its in-process xenstored) passes its client in.
 */
import { GrantStatusError, type Co, type DriverCaps, type EventChannelCap, type GrantCap, type GrantMapping, type MemoryCap, type TimeCap, type WaitQueue, type XenstoreCap } from '@xenotype/xenbus';
import type { MiniOS } from './minios';
import { GrantError } from './gnttab';
import { Signal, type ThreadBody, type ThreadOp } from './threads';

/**
 * A driver coroutine (XenstoreCap, EventChannelCap waits, xenbus steps) as a MiniOS thread
 * coroutine: run on MiniOS's capabilities, it yields only MiniOS ThreadOps.
 */
export const asThread = <T>(co: Co<T>): Generator<ThreadOp, T, void> => co as Generator<ThreadOp, T, void>;

function grantOp<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof GrantError) throw new GrantStatusError(e.status, e.op);
    throw e;
  }
}

export class MiniOSCaps implements DriverCaps {
  readonly time: TimeCap;
  readonly evtchn: EventChannelCap;
  readonly grants: GrantCap;
  readonly memory: MemoryCap;

  constructor(
    private readonly os: MiniOS,
    private readonly xsClient?: XenstoreCap,
  ) {
    this.time = {
      now: () => os.now(),
      sleep: (ns) => os.sleep(ns),
      compute: (ns, ws) => os.compute(ns, ws),
    };
    this.evtchn = {
      allocUnbound: (remoteDom) => os.evtchn.allocUnbound(remoteDom),
      bindInterdomain: (remoteDom, remotePort) => os.evtchn.bindInterdomain(remoteDom, remotePort),
      notify: (port) => os.evtchn.notify(port),
      close: (port) => os.evtchn.close(port),
      generation: (port) => os.evtchn.signal(port).gen,
      wait: (port, seen, deadline) => os.waitFor(os.evtchn.signal(port), seen, deadline ?? Infinity),
    };
    this.grants = {
      grantAccess: (domid, gfn, readonly) => os.gnttab.grantAccess(domid, gfn, readonly),
      endAccess: (ref) => os.gnttab.endAccess(ref),
      map: (dom, ref, readonly): GrantMapping => grantOp(() => os.gnttab.map(dom, ref, readonly)),
      unmap: (m) => grantOp(() => os.gnttab.unmap({ handle: m.handle, addr: m.addr, gfn: Math.floor(m.addr / 4096) })),
      copy: (src, dst, len) => os.gnttab.copy(src, dst, len),
    };
    this.memory = {
      get mem() {
        return os.cpu.mem;
      },
      allocPage: () => {
        const g = os.pages.alloc();
        os.cpu.mem.setBytes(g * 4096, new Uint8Array(4096));
        return g;
      },
      freePage: (gfn) => os.pages.release(gfn),
    };
  }

  get domid(): number {
    return this.os.domid;
  }

  /** The xenstore client (the guest's store-ring client unless one was given). */
  get xs(): XenstoreCap {
    return this.xsClient ?? this.os.xs;
  }

  spawn(name: string, body: Co<unknown>): void {
    // Drivers' coroutines yield only what these capabilities yield: MiniOS ThreadOps.
    this.os.spawn(name, body as ThreadBody);
  }

  log(line: string): void {
    this.os.printk(line);
  }

  waitQueue(): WaitQueue {
    const os = this.os;
    const sig = new Signal();
    return {
      get generation() {
        return sig.gen;
      },
      wake: () => os.notify(sig),
      wait: (seen, deadline) => os.waitFor(sig, seen, deadline ?? Infinity),
    };
  }
}
