/**
 * Xenstore errors. Handlers return an error *name* (XsErr); exactly one function, `errorPayload`,
 * turns a name into the wire string, mapping anything outside Xen's `xsd_errors` table to
 * "EINVAL" as xenstored's send_error does.
 */

/** xsd_errors[] of io/xs_wire.h, in table order. */
export const XSD_ERRORS = [
  'EINVAL',
  'EACCES',
  'EEXIST',
  'EISDIR',
  'ENOENT',
  'ENOMEM',
  'ENOSPC',
  'EIO',
  'ENOTEMPTY',
  'ENOSYS',
  'EROFS',
  'EBUSY',
  'EAGAIN',
  'EISCONN',
  'E2BIG',
  'EPERM',
] as const;

export type XsdError = (typeof XSD_ERRORS)[number];
/** An error a handler may return: one of the table, or an errno outside it (sent as EINVAL). */
export type XsErr = XsdError | 'EBADF';

const TABLE: ReadonlySet<string> = new Set(XSD_ERRORS);

/** The wire string for an error: its name if Xen's table has it, else "EINVAL". */
export function errorString(e: string): XsdError {
  return (TABLE.has(e) ? e : 'EINVAL') as XsdError;
}

const CACHE = new Map<string, Uint8Array>();
/** Payload of an XS_ERROR reply: "<ENAME>\0". The one place errors become wire bytes. */
export function errorPayload(e: string): Uint8Array {
  const s = errorString(e);
  let p = CACHE.get(s);
  if (!p) {
    p = new Uint8Array(s.length + 1);
    for (let i = 0; i < s.length; i++) p[i] = s.charCodeAt(i);
    CACHE.set(s, p);
  }
  return p;
}

export function isXsdError(s: string): s is XsdError {
  return TABLE.has(s);
}
