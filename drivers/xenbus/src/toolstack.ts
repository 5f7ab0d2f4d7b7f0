/**
 * The toolstack's side of device setup: the xenstore directories of a new split device, created in
 * one transaction (retried on EAGAIN) with the permissions libxl gives them
 * (libxl__device_generic_add, tools/libs/light/libxl_device.c):
 *
 *   libxl path  /libxl/<fe>/device/<type>/<devid>: removed, then frontend and backend paths written,
 *               plus a copy of the backend's entries (inherits /libxl's perms: dom0 only)
 *   frontend    removed, recreated, perms [n<fe>, r<be>] (owner fe, backend may read) — console 0
 *               uses [n<be>, r<fe>] instead; then `backend`, and each frontend entry written
 *               with the directory's perms (libxl__xs_writev_perms); read-only frontend
 *               entries (libxl's ro_front) get [n<be>, r<fe>]
 *   backend     removed, recreated, perms [n<be>, r<fe>] (owner be, frontend may read); then
 *               `frontend`, and each backend entry (inheriting the directory's perms)
 *
 * The standard entries (what libxl's per-type add functions put first): backend frontend-id,
 * online = 1, state = 1 (Initialising); frontend backend-id, state = 1.
 *
 * The domain's own directories (/local/domain/<d>, its device/ directory, ...) are the toolstack's
 * domain-creation step (libxl__domain_make; tools/src/toolstack/xenstore.ts here).
 */
import type { Co, XenstoreCap, XsPerm } from './caps';
import { NODE, backendPath, frontendPath, libxlDevicePath } from './paths';
import { XenbusState } from './state';
import { rmIfPresent, transaction } from './xs';

export interface DeviceSpec {
  type: string;
  devid: number;
  frontendDomid: number;
  backendDomid: number;
  /** Extra backend entries (after frontend-id, online, state). */
  backend?: Record<string, string | number>;
  /** Extra frontend entries (after backend-id, state). */
  frontend?: Record<string, string | number>;
  /**
   * Frontend entries the guest may read but not change (libxl's ro_front, e.g. a vif's mtu):
   * written with the backend directory's perms [n<be>, r<fe>].
   */
  frontendReadOnly?: Record<string, string | number>;
}

export interface DevicePaths {
  frontend: string;
  backend: string;
  libxl: string;
}

export function devicePaths(d: Pick<DeviceSpec, 'type' | 'devid' | 'frontendDomid' | 'backendDomid'>): DevicePaths {
  return {
    frontend: frontendPath(d.frontendDomid, d.type, d.devid),
    backend: backendPath(d.backendDomid, d.type, d.frontendDomid, d.devid),
    libxl: libxlDevicePath(d.frontendDomid, d.type, d.devid),
  };
}

/** Permissions of a device's frontend directory (the console-0 special case included). */
export function frontendPerms(d: Pick<DeviceSpec, 'type' | 'devid' | 'frontendDomid' | 'backendDomid'>): XsPerm[] {
  if (d.type === 'console' && d.devid === 0)
    return [
      { domid: d.backendDomid, perm: 'n' },
      { domid: d.frontendDomid, perm: 'r' },
    ];
  return [
    { domid: d.frontendDomid, perm: 'n' },
    { domid: d.backendDomid, perm: 'r' },
  ];
}

export function backendPerms(d: Pick<DeviceSpec, 'frontendDomid' | 'backendDomid'>): XsPerm[] {
  return [
    { domid: d.backendDomid, perm: 'n' },
    { domid: d.frontendDomid, perm: 'r' },
  ];
}

const entries = (o: Record<string, string | number> | undefined): [string, string][] => Object.entries(o ?? {}).map(([k, v]) => [k, String(v)]);

/** Create a device's frontend, backend and libxl directories (libxl__device_generic_add). */
export function* deviceAdd(xs: XenstoreCap, d: DeviceSpec): Co<DevicePaths> {
  const p = devicePaths(d);
  const fperms = frontendPerms(d);
  const bperms = backendPerms(d);
  const bents: [string, string][] = [
    [NODE.frontendId, String(d.frontendDomid)],
    [NODE.online, '1'],
    [NODE.state, String(XenbusState.Initialising)],
    ...entries(d.backend),
  ];
  const fents: [string, string][] = [[NODE.backendId, String(d.backendDomid)], [NODE.state, String(XenbusState.Initialising)], ...entries(d.frontend)];

  yield* transaction(xs, function* (t) {
    yield* rmIfPresent(xs, p.libxl, t);
    yield* xs.write(`${p.libxl}/${NODE.frontend}`, p.frontend, t);
    yield* xs.write(`${p.libxl}/${NODE.backend}`, p.backend, t);

    yield* rmIfPresent(xs, p.frontend, t);
    yield* xs.mkdir(p.frontend, t);
    yield* xs.setPerms(p.frontend, fperms, t);
    yield* xs.write(`${p.frontend}/${NODE.backend}`, p.backend, t);
    for (const [k, v] of fents) {
      yield* xs.write(`${p.frontend}/${k}`, v, t);
      yield* xs.setPerms(`${p.frontend}/${k}`, fperms, t);
    }
    for (const [k, v] of entries(d.frontendReadOnly)) {
      yield* xs.write(`${p.frontend}/${k}`, v, t);
      yield* xs.setPerms(`${p.frontend}/${k}`, bperms, t);
    }

    yield* rmIfPresent(xs, p.backend, t);
    yield* xs.mkdir(p.backend, t);
    yield* xs.setPerms(p.backend, bperms, t);
    yield* xs.write(`${p.backend}/${NODE.frontend}`, p.frontend, t);
    for (const [k, v] of bents) yield* xs.write(`${p.backend}/${k}`, v, t);
    for (const [k, v] of bents) yield* xs.write(`${p.libxl}/${k}`, v, t);
  });
  return p;
}

/** Remove a device's directories (libxl__device_destroy's xenstore part), in one transaction. */
export function* deviceRemove(xs: XenstoreCap, d: Pick<DeviceSpec, 'type' | 'devid' | 'frontendDomid' | 'backendDomid'>): Co<void> {
  const p = devicePaths(d);
  yield* transaction(xs, function* (t) {
    yield* rmIfPresent(xs, p.frontend, t);
    yield* rmIfPresent(xs, p.backend, t);
    yield* rmIfPresent(xs, p.libxl, t);
  });
}
