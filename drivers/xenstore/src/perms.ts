/**
 * Node permissions: a list of <flag><domid> entries. Entry 0 names the owner and its flag is the
 * default for every domain not listed. Flags: n (none), r (read), w (write), b (both).
 * XS_PERM_IGNORE marks an entry for a domain that no longer exists (kept, but never matched).
 */

export const PERM = {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  /** Internal: ENOENT_OK (unused by the daemon). */
  ENOENT_OK: 4,
  OWNER: 8,
  IGNORE: 16,
} as const;

export interface Perm {
  readonly id: number;
  readonly perms: number;
}

const LETTER: Record<number, string> = { 0: 'n', 1: 'r', 2: 'w', 3: 'b' };

export function permToString(p: Perm): string {
  return `${LETTER[p.perms & 3]}${p.id | 0}`;
}

/** C's strtol(s, &end, 0) over the whole string; null if it is not entirely a number. */
function strtol0(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const d = m[2];
  let v: number;
  if (/^0[xX]/.test(d)) v = parseInt(d.slice(2), 16);
  else if (d.length > 1 && d[0] === '0') v = parseInt(d, 8);
  else v = parseInt(d, 10);
  if (m[1] === '-') v = -v;
  return v;
}

/** One "<flag><domid>" string (xs_strings_to_perms); null if malformed. */
export function parsePerm(s: string): Perm | null {
  let perms: number;
  switch (s.charCodeAt(0)) {
    case 114: perms = PERM.READ; break; // r
    case 119: perms = PERM.WRITE; break; // w
    case 98: perms = PERM.READ | PERM.WRITE; break; // b
    case 110: perms = PERM.NONE; break; // n
    default: return null;
  }
  const rest = s.slice(1);
  if (rest === '') return null;
  const id = strtol0(rest);
  if (id === null) return null;
  return { id: id >>> 0, perms };
}

export function permsEqual(a: readonly Perm[], b: readonly Perm[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].id !== b[i].id || a[i].perms !== b[i].perms) return false;
  return true;
}
