/**
 * The simulated kernel image format. A domain builder loads a kernel by writing this header at the
 * entry point in guest memory and starting vCPU 0 there, as it would load an ELF; the simulation
 * executor reads it back to find the TypeScript kernel to run. Parameters travel in start_info's
 * command line, as for a real kernel.
 *
 *   0   char magic[8] = "XTKERNEL"
 *   8   u32 version = 1
 *   12  u32 name_len
 *   16  char name[name_len]
 */
import type { ByteAccess } from '../abi/bytes';
import type { KernelImage } from './guest';

const MAGIC = 'XTKERNEL';
export const KERNEL_IMAGE_MAX = 4096;

export function encodeKernelImage(name: string): Uint8Array {
  const n = new TextEncoder().encode(name);
  if (n.length === 0 || 16 + n.length > KERNEL_IMAGE_MAX) throw new RangeError(`bad kernel name "${name}"`);
  const out = new Uint8Array(16 + n.length);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, 1, true);
  dv.setUint32(12, n.length, true);
  out.set(n, 16);
  return out;
}

/** Parse an image at `addr`; returns an error string for anything malformed. */
export function decodeKernelImage(mem: ByteAccess, addr: number): KernelImage | string {
  const head = mem.getBytes(addr, 16);
  if (new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) return 'no kernel image at the entry point';
  const dv = new DataView(head.buffer, head.byteOffset);
  if (dv.getUint32(8, true) !== 1) return 'unsupported kernel image version';
  const len = dv.getUint32(12, true);
  if (len === 0 || 16 + len > KERNEL_IMAGE_MAX) return 'bad kernel name length';
  return { name: new TextDecoder().decode(mem.getBytes(addr + 16, len)) };
}
