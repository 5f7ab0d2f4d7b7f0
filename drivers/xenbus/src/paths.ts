/**
 * The xenstore directory conventions of split devices, as libxl lays them out
 * (tools/libs/light/libxl_device.c):
 *
 *   frontend  /local/domain/<fe>/device/<type>/<devid>          owned by <fe>, readable by <be>
 *             (console 0 is special: /local/domain/<fe>/console, owned by <be>, readable by <fe>)
 *   backend   /local/domain/<be>/backend/<type>/<fe>/<devid>    owned by <be>, readable by <fe>
 *   libxl     /libxl/<fe>/device/<type>/<devid>                 the toolstack's own copy (dom0 only)
 *
 * Nodes: the backend directory holds frontend, frontend-id, online, state and the backend's
 * features; the frontend directory holds backend, backend-id, state and what the frontend publishes
 * (ring-ref, event-channel, protocol, ...).
 */

export const NODE = {
  frontend: 'frontend',
  frontendId: 'frontend-id',
  backend: 'backend',
  backendId: 'backend-id',
  state: 'state',
  online: 'online',
  ringRef: 'ring-ref',
  eventChannel: 'event-channel',
  protocol: 'protocol',
  handle: 'handle',
  hotplugStatus: 'hotplug-status',
  error: 'error',
  domain: 'domain',
} as const;

/** io/protocols.h. */
export const XEN_IO_PROTO_ABI = {
  x86_32: 'x86_32-abi',
  x86_64: 'x86_64-abi',
  arm: 'arm-abi',
} as const;
/** Our guests are x86_64 (XEN_IO_PROTO_ABI_NATIVE). */
export const XEN_IO_PROTO_ABI_NATIVE = XEN_IO_PROTO_ABI.x86_64;

export const domainPath = (domid: number): string => `/local/domain/${domid}`;

export function frontendPath(feDomid: number, type: string, devid: number): string {
  if (type === 'console' && devid === 0) return `${domainPath(feDomid)}/console`;
  return `${domainPath(feDomid)}/device/${type}/${devid}`;
}

export const backendPath = (beDomid: number, type: string, feDomid: number, devid: number): string =>
  `${domainPath(beDomid)}/backend/${type}/${feDomid}/${devid}`;

export const libxlDevicePath = (feDomid: number, type: string, devid: number): string => `/libxl/${feDomid}/device/${type}/${devid}`;

export interface BackendPathParts {
  backendDomid: number;
  type: string;
  frontendDomid: number;
  devid: number;
}

const DOMID = '(0|[1-9]\\d{0,4})';
const TYPE = '([A-Za-z0-9_-]{1,15})';
const BACKEND_RE = new RegExp(`^/local/domain/${DOMID}/backend/${TYPE}/${DOMID}/${DOMID.replace('{0,4}', '{0,8}')}$`);
const FRONTEND_RE = new RegExp(`^/local/domain/${DOMID}/device/${TYPE}/${DOMID.replace('{0,4}', '{0,8}')}$`);

/** libxl__parse_backend_path; null when `p` is not a backend directory (peer input never throws). */
export function parseBackendPath(p: string): BackendPathParts | null {
  const m = BACKEND_RE.exec(p);
  if (!m) return null;
  return { backendDomid: Number(m[1]), type: m[2], frontendDomid: Number(m[3]), devid: Number(m[4]) };
}

export function parseFrontendPath(p: string): { frontendDomid: number; type: string; devid: number } | null {
  const m = FRONTEND_RE.exec(p);
  if (!m) return null;
  return { frontendDomid: Number(m[1]), type: m[2], devid: Number(m[3]) };
}

/** A non-negative decimal integer node value from a peer; null when absent or malformed. */
export function parseUint(v: string | null, max = 0xffffffff): number | null {
  if (v === null || !/^\d{1,10}$/.test(v.trim())) return null;
  const n = Number(v.trim());
  return n <= max ? n : null;
}
