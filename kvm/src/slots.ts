/**
 * A KVM VM's memslots, mirrored from its domain's P2M: every maximal run of gfns whose frames
 * are consecutive in host memory (and equally writable) is one slot, so a domain's RAM — allocated
 * contiguously — is one slot, and shared_info, grant frames and grant mappings are slots of their
 * own. Read-only grant mappings become read-only slots.
 *
 * The mirror is rebuilt whenever the P2M changes (P2M.onChange), synchronously: when an entry is
 * cleared, its slot is gone from KVM before the caller can free the frame, so real guest code never
 * reaches a frame its domain lost. Rebuilds are rare (boot mappings, grant maps): the initial
 * populate happens before the VM exists.
 */
import { P2mType, type Domain, type HostMemory } from '@xenotype/core';
import type { Addon } from './addon';

interface Slot {
  gfn: number;
  count: number;
  mfn: number;
  ro: boolean;
}

const key = (s: Slot) => `${s.gfn}:${s.count}:${s.mfn}:${s.ro ? 1 : 0}`;

export class SlotMirror {
  private slots = new Map<string, { id: number; slot: Slot }>();
  private freeIds: number[] = [];
  private nextId = 0;
  /** Failures from KVM_SET_USER_MEMORY_REGION (negative errno per slot), for diagnostics. */
  readonly errors: string[] = [];

  constructor(
    private readonly k: Addon,
    private readonly vm: number,
    private readonly d: Domain,
    private readonly host: HostMemory,
  ) {}

  /** The runs the P2M describes now. */
  private runs(): Slot[] {
    const out: Slot[] = [];
    let cur: Slot | null = null;
    const hostFrames = this.host.bytes.length / 4096;
    for (const e of this.d.mem.p2m.entries()) {
      if (e.mfn < this.host.first || e.mfn >= this.host.first + hostFrames) continue; // not host-backed: stays unmapped
      const ro = e.type === P2mType.grantRo;
      if (cur && e.gfn === cur.gfn + cur.count && e.mfn === cur.mfn + cur.count && ro === cur.ro) cur.count++;
      else {
        cur = { gfn: e.gfn, count: 1, mfn: e.mfn, ro };
        out.push(cur);
      }
    }
    return out;
  }

  /** Make KVM's slots what the P2M says: delete what went away first, then add what is new. */
  sync(): void {
    const want = new Map(this.runs().map((s) => [key(s), s]));
    for (const [k, { id, slot }] of this.slots) {
      if (want.has(k)) continue;
      this.set(id, slot.gfn, 0, 0, false);
      this.slots.delete(k);
      this.freeIds.push(id);
    }
    for (const [k, s] of want) {
      if (this.slots.has(k)) continue;
      const id = this.freeIds.pop() ?? this.nextId++;
      this.set(id, s.gfn, s.count, s.mfn, s.ro);
      this.slots.set(k, { id, slot: s });
    }
  }

  private set(id: number, gfn: number, count: number, mfn: number, ro: boolean): void {
    const rc = this.k.setSlot(this.vm, id, gfn * 4096, count * 4096, this.host.bytes.buffer as ArrayBuffer, this.host.bytes.byteOffset + (mfn - this.host.first) * 4096, ro);
    if (rc < 0) this.errors.push(`slot ${id} gfn ${gfn} +${count}: errno ${-rc}`);
  }

  get size(): number {
    return this.slots.size;
  }
}
