/**
 * Driver domains: backends running outside dom0, found through xenstore as libxl's `xl devd` finds
 * them (tools/xl/xl_utils.c, libxl_device.c's libxl_device_events_handler).
 *
 * A driver domain is an ordinary unprivileged domain whose kernel runs `devd`: it watches
 * /local/domain/<self>/backend/<type> for every device type it has a backend for, and serves each
 * device directory that appears there (/local/domain/<self>/backend/<type>/<fe>/<devid>, created
 * by the toolstack in dom0 with libxl's layout and permissions — see @xenotype/xenbus deviceAdd)
 * in a thread of its own. The backend then handshakes with the frontend through xenbus states;
 * the driver domain never hears from dom0 except through xenstore, and from guests except through
 * grants, event channels and their xenstore directories. dom0 can run the same loop as a service
 * (`BackendService`), which is how Xen runs backends when there is no driver domain.
 *
 * Backends are plugins: a `BackendFactory` builds one device type's `BackendDriver` over the
 * domain's capabilities (DriverCaps), once per driver domain, so state shared by every device of
 * that type in the domain (netback's bridges, a key-value store) lives in the driver object.
 *
 * Invariants: a device directory is served by at most one thread at a time; it becomes eligible
 * again only after its thread ended *and* the directory was seen gone (a backend that wants to
 * reconnect a restarted frontend does so inside `serve`). A backend that throws is logged and its
 * device abandoned; the loop and the other devices carry on.
 */
import { XenstoreError, watchToken, type Co, type DriverCaps, type XenstoreCap } from '@xenotype/xenbus';
import { MiniOS, MiniOSCaps, asThread, type App, type ThreadOp } from '@xenotype/minios';
import type { Registry } from '@xenotype/core';
import type { Dom0, Dom0Service } from '../host/host';

/** One device type's backend in one driver domain. */
export interface BackendDriver {
  /** The device type: the driver serves /local/domain/<self>/backend/<type>/<fe>/<devid>. */
  readonly type: string;
  /**
   * Serve the device whose backend directory is `dir`, from its handshake until it is closed or
   * removed. Runs as its own thread; peer misbehaviour must come back as a return, not a throw.
   */
  serve(dir: string): Co<void>;
}

/** Builds a type's backend for one driver domain, over that domain's capabilities. */
export type BackendFactory = (caps: DriverCaps) => BackendDriver;

/** What `devd` has seen of each device directory. */
export interface DevdStatus {
  /** Device directories being served now. */
  readonly serving: ReadonlySet<string>;
  /** Devices whose `serve` threw (dir → message). */
  readonly failed: ReadonlyMap<string, string>;
  /** Devices served so far (each appearance counts once). */
  started: number;
}

const DEVID = /^(0|[1-9]\d{0,8})$/;
const DOMID = /^(0|[1-9]\d{0,4})$/;

function* listOrEmpty(xs: XenstoreCap, path: string): Co<string[]> {
  try {
    return yield* xs.directory(path);
  } catch (e) {
    if (e instanceof XenstoreError && (e.code === 'ENOENT' || e.code === 'EACCES')) return [];
    throw e;
  }
}

/**
 * The driver-domain loop: watch backend/<type> for each driver and serve every device directory
 * that appears. Returns only if `until` (checked after every watch event) becomes true.
 */
export function* devd(caps: DriverCaps, drivers: readonly BackendDriver[], status?: DevdStatus, until?: () => boolean): Co<void> {
  const xs = caps.xs;
  const base = `/local/domain/${caps.domid}/backend`;
  const st: DevdStatus = status ?? { serving: new Set(), failed: new Map(), started: 0 };
  const serving = st.serving as Set<string>;
  const failed = st.failed as Map<string, string>;
  /** Directories whose thread ended but which were still present at the last scan. */
  const finished = new Set<string>();
  const tokens = new Map<string, BackendDriver>();
  for (const d of drivers) {
    const token = watchToken(xs, `devd/${d.type}`);
    tokens.set(token, d);
    yield* xs.watch(`${base}/${d.type}`, token);
  }

  function* scan(d: BackendDriver): Co<void> {
    const root = `${base}/${d.type}`;
    const present = new Set<string>();
    for (const fe of yield* listOrEmpty(xs, root)) {
      if (!DOMID.test(fe)) continue;
      for (const devid of yield* listOrEmpty(xs, `${root}/${fe}`)) {
        if (!DEVID.test(devid)) continue;
        const dir = `${root}/${fe}/${devid}`;
        present.add(dir);
        if (serving.has(dir) || finished.has(dir)) continue;
        serving.add(dir);
        st.started++;
        caps.spawn(`${d.type}-${fe}-${devid}`, run(d, dir));
      }
    }
    for (const dir of finished) if (dir.startsWith(root + '/') && !present.has(dir)) finished.delete(dir);
  }

  function* run(d: BackendDriver, dir: string): Co<void> {
    try {
      yield* d.serve(dir);
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      failed.set(dir, msg);
      caps.log(`devd: ${dir}: backend failed: ${msg}`);
    } finally {
      serving.delete(dir);
      finished.add(dir);
    }
  }

  let seen = xs.watchGeneration;
  for (const d of drivers) yield* scan(d);
  for (;;) {
    const ev = yield* xs.nextWatch(seen);
    if (ev === null) continue;
    seen = ev.gen;
    const d = tokens.get(ev.token);
    if (!d) continue;
    // Only a directory appearing or going matters: an event at depth <= .../<fe>/<devid>.
    const rel = ev.path.slice(`${base}/${d.type}`.length).split('/').filter(Boolean);
    if (rel.length <= 2) yield* scan(d);
    if (until?.()) return;
  }
}

/** A driver domain's kernel: boots MiniOS and runs `devd` over its own capabilities. */
export function driverDomainApp(factories: readonly BackendFactory[], status?: DevdStatus): App {
  return function* (os: MiniOS): Generator<ThreadOp, void, void> {
    const caps = os.caps();
    os.printk(`devd: driver domain ${os.domid} serving ${factories.length} device type(s)`);
    yield* asThread(devd(caps, factories.map((f) => f(caps)), status));
  };
}

/** Register a driver-domain kernel under `name` (build it with createDomain and that kernel). */
export function registerDriverDomain(reg: Registry, name: string, factories: readonly BackendFactory[], status?: DevdStatus): void {
  reg.registerKernel(name, () => new MiniOS(driverDomainApp(factories, status), name), `driver domain: ${factories.length} backend type(s)`);
}

/**
 * The same loop as a dom0 service: backends in dom0, over dom0's capabilities and a xenstore
 * connection the caller provides (the in-process xenstored client, say). List it after xenstored.
 */
export class BackendService implements Dom0Service {
  readonly status: DevdStatus = { serving: new Set(), failed: new Map(), started: 0 };
  drivers: BackendDriver[] = [];
  constructor(
    readonly name: string,
    private readonly factories: readonly BackendFactory[],
    private readonly xsFor: (sys: Dom0) => XenstoreCap,
  ) {}

  *main(sys: Dom0): Generator<ThreadOp, void, void> {
    const caps = new MiniOSCaps(sys.os, this.xsFor(sys));
    this.drivers = this.factories.map((f) => f(caps));
    yield* asThread(devd(caps, this.drivers, this.status));
  }
}
