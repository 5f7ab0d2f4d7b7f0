/**
 * A set of physical CPUs (Xen's cpumask_t). Immutable values; small, so a sorted array of ids is
 * both simple and fast for the machine sizes we simulate (up to a few hundred pCPUs).
 */
import { pcpuid, type PcpuId } from '../abi/types';

export class CpuSet {
  private readonly bits: readonly boolean[];
  readonly ids: readonly PcpuId[];

  private constructor(bits: boolean[]) {
    this.bits = bits;
    const ids: PcpuId[] = [];
    bits.forEach((b, i) => b && ids.push(pcpuid(i)));
    this.ids = ids;
  }

  static of(ids: Iterable<number>): CpuSet {
    const bits: boolean[] = [];
    for (const i of ids) {
      if (!Number.isInteger(i) || i < 0) throw new RangeError(`cpuset: bad cpu ${i}`);
      bits[i] = true;
    }
    for (let i = 0; i < bits.length; i++) bits[i] = !!bits[i];
    return new CpuSet(bits);
  }

  static range(n: number): CpuSet {
    return CpuSet.of(Array.from({ length: n }, (_, i) => i));
  }

  static readonly empty = CpuSet.of([]);

  has(cpu: number): boolean {
    return this.bits[cpu] === true;
  }
  get size(): number {
    return this.ids.length;
  }
  get isEmpty(): boolean {
    return this.ids.length === 0;
  }
  first(): PcpuId | undefined {
    return this.ids[0];
  }
  and(o: CpuSet): CpuSet {
    return CpuSet.of(this.ids.filter((i) => o.has(i)));
  }
  or(o: CpuSet): CpuSet {
    return CpuSet.of([...this.ids, ...o.ids]);
  }
  minus(o: CpuSet): CpuSet {
    return CpuSet.of(this.ids.filter((i) => !o.has(i)));
  }
  subsetOf(o: CpuSet): boolean {
    return this.ids.every((i) => o.has(i));
  }
  intersects(o: CpuSet): boolean {
    return this.ids.some((i) => o.has(i));
  }
  equals(o: CpuSet): boolean {
    return this.size === o.size && this.subsetOf(o);
  }
  toString(): string {
    return `{${this.ids.join(',')}}`;
  }
  /** Bytes of a xenctl_bitmap (bit i of byte i/8). */
  toBitmap(nrBits: number): Uint8Array {
    const out = new Uint8Array(Math.ceil(nrBits / 8));
    for (const i of this.ids) if (i < nrBits) out[i >> 3] |= 1 << (i & 7);
    return out;
  }
  static fromBitmap(bytes: Uint8Array, nrBits: number): CpuSet {
    const ids: number[] = [];
    for (let i = 0; i < nrBits; i++) if (bytes[i >> 3] & (1 << (i & 7))) ids.push(i);
    return CpuSet.of(ids);
  }
}
