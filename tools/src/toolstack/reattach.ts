/**
 * Driver-domain lifecycle in the toolstack: create a driver domain, destroy one, and move the
 * devices it served to another — the steps of restarting a driver domain while its guests keep
 * running (DESIGN §2.2: "a driver domain can be destroyed and restarted while guests keep their
 * data"). Generic over device types: a device is found through libxl's own record of it,
 * /libxl/<fe>/device/<type>/<devid> (frontend, backend, and a copy of the backend's entries, as
 * @xenotype/xenbus deviceAdd writes it).
 *
 * `moveBackends(xs, from, to)` re-homes every device whose backend is in domain `from`, one
 * transaction per device (retried on EAGAIN):
 *   - the new backend directory /local/domain/<to>/backend/<type>/<fe>/<devid> is created with
 *     libxl's permissions [n<to>, r<fe>] and the recorded entries (state back to 1, Initialising),
 *     and `frontend`; the old directory is removed if it is still there;
 *   - libxl's record names the new backend;
 *   - the frontend's `backend` and `backend-id` are rewritten, and the frontend directory and every
 *     node in it get the permissions a fresh device would have with `to` as its backend (nodes the
 *     frontend published itself — ring-ref, event-channel — would otherwise stay readable only by
 *     the dead domain, and the new backend could not read them).
 * The frontend notices its `backend` node change (or its backend vanish) and reconnects; the new
 * driver domain's devd finds the directory and starts a backend. Neither side is told anything
 * but through xenstore.
 *
 * `createDriverDomain` is createDomain plus what libxl__domain_make adds for a domain with
 * driver_domain set: /local/domain/<d>/libxl and /local/domain/<d>/device-model, writable by it.
 * `destroyDriverDomain` destroys the domain (Xen releases its grant mappings and event channels;
 * xenstored drops the nodes it owned — its backend directories — and fires @releaseDomain), then
 * removes /local/domain/<d>, as libxl's domain destroy does.
 */
import { XenstoreError, backendPath, backendPerms, frontendPerms, parseBackendPath, parseFrontendPath, rmIfPresent, transaction, NODE, type Co, type XenstoreCap, type XsPerm } from '@xenotype/xenbus';
import { asThread, type ThreadOp } from '@xenotype/minios';
import type { XsClientBase } from '@xenotype/xenstore';
import type { Xc } from '../xc/xc';
import { destroyDomain } from './announce';
import type { BuiltDomain, DomainSpec } from './builder';
import { createDomain, domainPath } from './xenstore';

export interface MovedDevice {
  type: string;
  frontendDomid: number;
  devid: number;
  from: string;
  to: string;
}

function* listOrEmpty(xs: XenstoreCap, path: string): Co<string[]> {
  try {
    return yield* xs.directory(path);
  } catch (e) {
    if (e instanceof XenstoreError && e.code === 'ENOENT') return [];
    throw e;
  }
}

/** Every device libxl recorded whose backend is in domain `from` (optionally only these types). */
export function* devicesServedBy(xs: XenstoreCap, from: number, types?: readonly string[]): Co<{ lib: string; backend: string; type: string; frontendDomid: number; devid: number }[]> {
  const out = [];
  for (const fe of yield* listOrEmpty(xs, '/libxl'))
    for (const type of yield* listOrEmpty(xs, `/libxl/${fe}/device`)) {
      if (type === 'console' || (types && !types.includes(type))) continue;
      for (const devid of yield* listOrEmpty(xs, `/libxl/${fe}/device/${type}`)) {
        const lib = `/libxl/${fe}/device/${type}/${devid}`;
        const be = yield* xs.read(`${lib}/${NODE.backend}`);
        const p = be === null ? null : parseBackendPath(be);
        if (p && p.backendDomid === from) out.push({ lib, backend: be!, type: p.type, frontendDomid: p.frontendDomid, devid: p.devid });
      }
    }
  return out;
}

/** Re-home every device served by domain `from` to domain `to` (see above). */
export function* moveBackends(xs: XenstoreCap, from: number, to: number, types?: readonly string[]): Co<MovedDevice[]> {
  const moved: MovedDevice[] = [];
  for (const d of yield* devicesServedBy(xs, from, types)) {
    const ends = { type: d.type, devid: d.devid, frontendDomid: d.frontendDomid, backendDomid: to };
    const nb = backendPath(to, d.type, d.frontendDomid, d.devid);
    yield* transaction(xs, function* (t) {
      const entries: [string, string][] = [];
      let frontend: string | null = null;
      for (const k of yield* xs.directory(d.lib, t)) {
        const v = yield* xs.read(`${d.lib}/${k}`, t);
        if (v === null || k === NODE.backend) continue;
        if (k === NODE.frontend) frontend = v;
        else entries.push([k, k === NODE.state ? '1' : v]);
      }
      yield* rmIfPresent(xs, d.backend, t);
      yield* rmIfPresent(xs, nb, t);
      yield* xs.mkdir(nb, t);
      yield* xs.setPerms(nb, backendPerms(ends), t);
      if (frontend !== null) yield* xs.write(`${nb}/${NODE.frontend}`, frontend, t);
      for (const [k, v] of entries) yield* xs.write(`${nb}/${k}`, v, t);
      yield* xs.write(`${d.lib}/${NODE.backend}`, nb, t);
      const f = frontend === null ? null : parseFrontendPath(frontend);
      if (frontend === null || !f || (yield* xs.read(`${frontend}/${NODE.state}`, t)) === null) return;
      yield* xs.write(`${frontend}/${NODE.backend}`, nb, t);
      yield* xs.write(`${frontend}/${NODE.backendId}`, String(to), t);
      const fperms = frontendPerms(ends);
      const roPerms = backendPerms(ends);
      yield* xs.setPerms(frontend, fperms, t);
      for (const k of yield* xs.directory(frontend, t)) {
        const node = `${frontend}/${k}`;
        const owner = (yield* xs.getPerms(node, t))[0]?.domid;
        // libxl's read-only frontend entries are owned by the backend: they follow it
        yield* xs.setPerms(node, owner === from || owner === to ? roPerms : fperms, t);
      }
    });
    moved.push({ type: d.type, frontendDomid: d.frontendDomid, devid: d.devid, from: d.backend, to: nb });
  }
  return moved;
}

/** createDomain for a driver domain (libxl's driver_domain: its own libxl and device-model directories). */
export function* createDriverDomain(xc: Xc, xs: XsClientBase<ThreadOp>, spec: DomainSpec): Generator<ThreadOp, BuiltDomain, void> {
  const b = yield* createDomain(xc, xs, { ...spec, paused: true });
  const rw: XsPerm[] = [{ perm: 'n', domid: b.domid }];
  yield* xs.transaction(function* (tx) {
    for (const d of ['libxl', 'device-model']) {
      yield* xs.mkdir(`${domainPath(b.domid)}/${d}`, tx);
      yield* xs.setPerms(`${domainPath(b.domid)}/${d}`, rw, tx);
    }
  });
  if (!spec.paused) xc.domainUnpause(b.domid);
  return b;
}

/** Destroy a (driver) domain at once, then remove its xenstore directory. */
export function* destroyDriverDomain(xc: Xc, xs: XsClientBase<ThreadOp>, domid: number): Generator<ThreadOp, void, void> {
  destroyDomain(xc, domid);
  yield* asThread(rmIfPresent(xs, domainPath(domid)));
}

/**
 * Replace driver domain `old` (destroyed now if it still exists) by a new one built from `spec`,
 * and move every device `old` served to it. Returns the new domain and what moved.
 */
export function* restartDriverDomain(xc: Xc, xs: XsClientBase<ThreadOp>, old: number, spec: DomainSpec): Generator<ThreadOp, { domain: BuiltDomain; moved: MovedDevice[] }, void> {
  if (xc.domainGetInfo(old)) yield* destroyDriverDomain(xc, xs, old);
  const domain = yield* createDriverDomain(xc, xs, spec);
  const moved = yield* asThread(moveBackends(xs, old, domain.domid));
  return { domain, moved };
}
