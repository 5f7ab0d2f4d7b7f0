/**
 * A domain's physmap (P2M): guest frame number → machine frame number and entry type, as a
 * two-level radix table (512-entry leaves allocated on demand), like Xen's p2m for translated
 * guests. Guest memory is reached only through this table.
 */
import { gfn as asGfn, mfn as asMfn, type Gfn, type Mfn } from '../abi/types';

export const enum P2mType {
  none = 0,
  /** RAM the domain owns. */
  ram = 1,
  /** A granted frame of another domain, mapped read-write. */
  grantRw = 2,
  /** A granted frame of another domain, mapped read-only. */
  grantRo = 3,
  /** A frame of another domain mapped by a privileged domain (privcmd-style foreign map). */
  foreign = 4,
  /** A hypervisor frame shared with this domain (shared_info, grant-table frames). */
  xenShared = 5,
}

const LEAF_SHIFT = 9;
const LEAF_SIZE = 1 << LEAF_SHIFT;
const LEAF_MASK = LEAF_SIZE - 1;
/** Highest gfn a domain may use: 2^24 frames = 64 GiB of guest-physical space. */
export const MAX_GFN = (1 << 24) - 1;

export interface P2mEntry {
  gfn: Gfn;
  mfn: Mfn;
  type: P2mType;
}

export class P2M {
  private mfns: (Int32Array | undefined)[] = [];
  private types: (Uint8Array | undefined)[] = [];
  /** Number of populated entries of each type. */
  readonly counts = new Int32Array(6);
  /**
   * Told of every entry set (mapped = true) or cleared, before the caller goes on (so a backend
   * that mirrors this table elsewhere — KVM memslots — drops a frame before it can be reused).
   */
  onChange: ((g: number, mapped: boolean) => void) | null = null;

  /** The mfn at gfn, or -1. */
  lookup(g: number): number {
    if (!(g >= 0 && g <= MAX_GFN)) return -1;
    const t = this.types[g >>> LEAF_SHIFT];
    if (!t || t[g & LEAF_MASK] === P2mType.none) return -1;
    return this.mfns[g >>> LEAF_SHIFT]![g & LEAF_MASK];
  }

  type(g: number): P2mType {
    if (!(g >= 0 && g <= MAX_GFN)) return P2mType.none;
    const t = this.types[g >>> LEAF_SHIFT];
    return t ? (t[g & LEAF_MASK] as P2mType) : P2mType.none;
  }

  set(g: Gfn, m: Mfn, type: P2mType): void {
    const hi = g >>> LEAF_SHIFT;
    let t = this.types[hi];
    if (!t) {
      t = this.types[hi] = new Uint8Array(LEAF_SIZE);
      this.mfns[hi] = new Int32Array(LEAF_SIZE).fill(-1);
    }
    this.counts[t[g & LEAF_MASK]]--;
    t[g & LEAF_MASK] = type;
    this.counts[type]++;
    this.mfns[hi]![g & LEAF_MASK] = m;
    this.onChange?.(g, true);
  }

  clear(g: Gfn): void {
    const hi = g >>> LEAF_SHIFT;
    const t = this.types[hi];
    if (!t || t[g & LEAF_MASK] === P2mType.none) return;
    this.counts[t[g & LEAF_MASK]]--;
    this.counts[P2mType.none]++;
    t[g & LEAF_MASK] = P2mType.none;
    this.mfns[hi]![g & LEAF_MASK] = -1;
    this.onChange?.(g, false);
  }

  *entries(): IterableIterator<P2mEntry> {
    for (let hi = 0; hi < this.types.length; hi++) {
      const t = this.types[hi];
      if (!t) continue;
      const m = this.mfns[hi]!;
      for (let lo = 0; lo < LEAF_SIZE; lo++)
        if (t[lo] !== P2mType.none) yield { gfn: asGfn((hi << LEAF_SHIFT) | lo), mfn: asMfn(m[lo]), type: t[lo] };
    }
  }

  /** Highest populated gfn, or -1. */
  maxGfn(): number {
    for (let hi = this.types.length - 1; hi >= 0; hi--) {
      const t = this.types[hi];
      if (!t) continue;
      for (let lo = LEAF_SIZE - 1; lo >= 0; lo--) if (t[lo] !== P2mType.none) return (hi << LEAF_SHIFT) | lo;
    }
    return -1;
  }
}
