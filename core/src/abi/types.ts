/**
 * Branded identifiers. Each is a number at run time; the brand stops a grant reference being passed
 * where a port is expected, or a guest frame number where a machine frame number is. Values from a
 * guest enter as plain numbers and are branded only after validation.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type DomId = Brand<number, 'DomId'>;
export type VcpuId = Brand<number, 'VcpuId'>;
export type Port = Brand<number, 'Port'>;
export type GrantRef = Brand<number, 'GrantRef'>;
/** Guest frame number: an index into one domain's physmap. */
export type Gfn = Brand<number, 'Gfn'>;
/** Machine frame number: an index into the host's frame store. */
export type Mfn = Brand<number, 'Mfn'>;
export type PcpuId = Brand<number, 'PcpuId'>;

export const domid = (n: number) => n as DomId;
export const vcpuid = (n: number) => n as VcpuId;
export const port = (n: number) => n as Port;
export const gref = (n: number) => n as GrantRef;
export const gfn = (n: number) => n as Gfn;
export const mfn = (n: number) => n as Mfn;
export const pcpuid = (n: number) => n as PcpuId;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
