/**
 * Struct layouts as data: each ABI struct is declared once (C name, size, field offsets and types)
 * and used three ways — core reads/writes guest memory through it, the guest runtime builds
 * hypercall arguments through it, and the conformance test generates a C program that checks every
 * offset and size against Xen's own headers.
 */
import { split64, join64, joinS64, type ByteAccess } from './bytes';

export type Scalar = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';

export interface Field {
  readonly off: number;
  readonly type: Scalar;
  /** The C member designator when it differs from the key, e.g. "console.domU.mfn". */
  readonly c?: string;
}

export const SIZE: Record<Scalar, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

export function getScalar(m: ByteAccess, addr: number, t: Scalar): number {
  switch (t) {
    case 'u8':
      return m.getU8(addr);
    case 'i8':
      return (m.getU8(addr) << 24) >> 24;
    case 'u16':
      return m.getU16(addr);
    case 'i16':
      return (m.getU16(addr) << 16) >> 16;
    case 'u32':
      return m.getU32(addr);
    case 'i32':
      return m.getU32(addr) | 0;
    case 'u64':
      return m.getU64(addr);
    case 'i64':
      return joinS64(m.getU32(addr), m.getU32(addr + 4));
  }
}

export function setScalar(m: ByteAccess, addr: number, t: Scalar, v: number): void {
  switch (t) {
    case 'u8':
    case 'i8':
      m.setU8(addr, v & 0xff);
      return;
    case 'u16':
    case 'i16':
      m.setU16(addr, v & 0xffff);
      return;
    case 'u32':
    case 'i32':
      m.setU32(addr, v >>> 0);
      return;
    case 'u64':
    case 'i64': {
      const [lo, hi] = split64(v);
      m.setU32(addr, lo);
      m.setU32(addr + 4, hi);
      return;
    }
  }
}

export type Values<F> = { [K in keyof F]: number };

export class Struct<F extends Record<string, Field>> {
  constructor(
    /** C type, e.g. "struct evtchn_send"; used by the conformance test. */
    readonly cname: string,
    readonly size: number,
    readonly fields: F,
  ) {}

  get<K extends keyof F & string>(m: ByteAccess, base: number, k: K): number {
    const f = this.fields[k];
    return getScalar(m, base + f.off, f.type);
  }

  set<K extends keyof F & string>(m: ByteAccess, base: number, k: K, v: number): void {
    const f = this.fields[k];
    setScalar(m, base + f.off, f.type, v);
  }

  read(m: ByteAccess, base: number): Values<F> {
    const out = {} as Values<F>;
    for (const k in this.fields) {
      const f = this.fields[k];
      out[k] = getScalar(m, base + f.off, f.type);
    }
    return out;
  }

  write(m: ByteAccess, base: number, v: Partial<Values<F>>): void {
    for (const k in v) {
      const f = this.fields[k];
      if (!f) throw new Error(`${this.cname}: no field ${k}`);
      setScalar(m, base + f.off, f.type, v[k]!);
    }
  }

  /** Zero the struct, then write the given fields: what a caller does before a hypercall. */
  init(m: ByteAccess, base: number, v: Partial<Values<F>>): void {
    m.setBytes(base, new Uint8Array(this.size));
    this.write(m, base, v);
  }
}

export const struct = <F extends Record<string, Field>>(cname: string, size: number, fields: F): Struct<F> =>
  new Struct(cname, size, fields);

// Field constructors, so declarations read like the C they mirror.
export const u8 = (off: number, c?: string): Field => ({ off, type: 'u8', c });
export const i8 = (off: number, c?: string): Field => ({ off, type: 'i8', c });
export const u16 = (off: number, c?: string): Field => ({ off, type: 'u16', c });
export const i16 = (off: number, c?: string): Field => ({ off, type: 'i16', c });
export const u32 = (off: number, c?: string): Field => ({ off, type: 'u32', c });
export const i32 = (off: number, c?: string): Field => ({ off, type: 'i32', c });
export const u64 = (off: number, c?: string): Field => ({ off, type: 'u64', c });
export const i64 = (off: number, c?: string): Field => ({ off, type: 'i64', c });

export { join64 };
