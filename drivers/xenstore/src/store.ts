/**
 * The tree: nodes keyed by absolute path, as xenstored keeps them in TDB.
 *
 * A node has a value (bytes), an ordered child-name list, a permission list and a generation
 * (the global modification counter's value when it was last written). Stored node objects are
 * never mutated: readers get a shallow copy, writers store a fresh object, and child lists and
 * permission lists are replaced, never edited in place — so a transaction's snapshot copy stays
 * valid however the main tree changes.
 */
import type { Perm } from './perms';

export const NO_GENERATION = -1;
export const EMPTY_VALUE = new Uint8Array(0);

export interface Node {
  readonly name: string;
  value: Uint8Array;
  children: readonly string[];
  /** Bytes of the child list on the wire: Σ (len(name) + 1). */
  childlen: number;
  perms: readonly Perm[];
  generation: number;
}

export const copyNode = (n: Node): Node => ({ name: n.name, value: n.value, children: n.children, childlen: n.childlen, perms: n.perms, generation: n.generation });

/** sizeof(struct xs_tdb_record_hdr) + perms + data + children: the node-size quota's measure. */
export const nodeSize = (n: Node): number => 24 + 8 * n.perms.length + n.value.length + n.childlen;

export function addChild(n: Node, name: string): void {
  n.children = [...n.children, name];
  n.childlen += name.length + 1;
}

/** Remove one child entry; false if it is not there. */
export function removeChild(n: Node, name: string): boolean {
  const i = n.children.indexOf(name);
  if (i < 0) return false;
  const c = n.children.slice();
  c.splice(i, 1);
  n.children = c;
  n.childlen -= name.length + 1;
  return true;
}

/** The child list as DIRECTORY sends it: each name followed by a NUL. */
export function childBytes(n: Node): Uint8Array {
  const out = new Uint8Array(n.childlen);
  let o = 0;
  for (const c of n.children) {
    for (let i = 0; i < c.length; i++) out[o++] = c.charCodeAt(i);
    out[o++] = 0;
  }
  return out;
}

export class Tree {
  readonly nodes = new Map<string, Node>();
  /** The global generation counter (xenstored's `generation`). */
  generation = 0;

  get(path: string): Node | undefined {
    return this.nodes.get(path);
  }
  set(n: Node): void {
    this.nodes.set(n.name, n);
  }
  delete(path: string): void {
    this.nodes.delete(path);
  }
  get size(): number {
    return this.nodes.size;
  }
}
