/**
 * Node paths: validation and canonicalisation as xenstored does them (is_valid_nodename,
 * canonicalize, get_parent, is_child).
 *
 * A valid path starts with '/', has no '//', does not end in '/' (except "/" itself), uses only
 * [A-Za-z0-9-/_@], and is at most `pathMax` characters after an optional "/local/domain/<N>/"
 * prefix. Paths starting with '@' are special (watches and their permissions only).
 */

/** [A-Za-z0-9-/_@] as a lookup table over byte values. */
const OK_CHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@') t[c.charCodeAt(0)] = 1;
  return t;
})();
const LOCAL = '/local/domain/';

export function isValidPath(p: string, pathMax: number): boolean {
  const n = p.length;
  if (n === 0 || p.charCodeAt(0) !== 47 /* / */) return false;
  if (n > 1 && p.charCodeAt(n - 1) === 47) return false;
  let prevSlash = false;
  for (let i = 0; i < n; i++) {
    const c = p.charCodeAt(i);
    if (c >= 128 || OK_CHAR[c] === 0) return false;
    const slash = c === 47;
    if (slash && prevSlash) return false;
    prevSlash = slash;
  }
  // sscanf(node, "/local/domain/%5u/%n"): the prefix and up to 5 digits then '/' do not count.
  let off = 0;
  if (n > LOCAL.length && p.startsWith(LOCAL)) {
    let i = LOCAL.length;
    while (i < n && i < LOCAL.length + 5 && p.charCodeAt(i) >= 48 && p.charCodeAt(i) <= 57) i++;
    if (i > LOCAL.length && p.charCodeAt(i) === 47) off = i + 1;
  }
  return n <= off + pathMax;
}

/** A relative path is taken relative to the connection's implicit path; '/' and '@' paths as they are. */
export function canonicalize(p: string, implicit: string): string {
  const c = p.charCodeAt(0);
  if (c === 47 || c === 64 /* @ */) return p;
  return `${implicit}/${p}`;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

export function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** Is `child` the node `parent` or below it ("/" is everybody's parent). */
export function isChild(child: string, parent: string): boolean {
  if (parent === '/') return true;
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || child.charCodeAt(parent.length) === 47;
}

export const domainPath = (domid: number): string => `/local/domain/${domid >>> 0}`;

/** C's atoi: optional whitespace and sign, then digits; anything else stops it; overflow wraps like a 32-bit int. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  if (!m || m[2] === '') return 0;
  let v = 0;
  for (let i = 0; i < m[2].length; i++) v = (v * 10 + (m[2].charCodeAt(i) - 48)) % 0x1_0000_0000;
  v = v | 0;
  return m[1] === '-' ? -v | 0 : v;
}
