/**
 * Loading a real 64-bit kernel into a new domain (libxc's xc_dom_elfloader role), as the domain
 * builder's `loader` step (run in dom0, through its foreign mappings only): every PT_LOAD segment of the ELF image at its physical
 * address (the file bytes, then zeros to p_memsz), and the start-of-day page tables the kernel is
 * entered on — Xen PV's convention: they sit at start_info.pt_base, nr_pt_frames of them, and the
 * vCPU starts with CR3 pointing there. They identity-map the first GiB in 2 MiB pages (user-
 * accessible: the kernel runs its work in ring 3) and the LAPIC's page at 0xfee00000 (uncached).
 */
import { BOOT_GFN } from '@xenotype/core';
import type { Xc } from '../xc/xc';
import type { KernelLoad, LoadedKernel } from './builder';

export interface ElfSegment {
  paddr: number;
  data: Uint8Array;
  memsz: number;
}
export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
}

/** Parse an x86-64 ELF executable's entry point and loadable segments (throws on anything else). */
export function parseElf(img: Uint8Array): ElfImage {
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  if (img.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) throw new Error('not an ELF image');
  if (img[4] !== 2 || img[5] !== 1) throw new Error('not a little-endian ELF64 image');
  if (dv.getUint16(18, true) !== 62) throw new Error('not an x86-64 image');
  const u64 = (o: number) => Number(dv.getBigUint64(o, true));
  const entry = u64(24);
  const phoff = u64(32);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + 56 > img.length) throw new Error('truncated program headers');
    if (dv.getUint32(p, true) !== 1) continue; // PT_LOAD
    const off = u64(p + 8);
    const paddr = u64(p + 24);
    const filesz = u64(p + 32);
    const memsz = u64(p + 40);
    if (off + filesz > img.length || filesz > memsz) throw new Error('bad PT_LOAD segment');
    segments.push({ paddr, data: img.subarray(off, off + filesz), memsz });
  }
  if (segments.length === 0) throw new Error('no loadable segment');
  return { entry, segments };
}

/** Frames of the start-of-day page tables (PML4, PDPT, the first GiB's PD, the LAPIC's PD). */
export const PT_FRAMES = 4;
const PTE_P = 1, PTE_RW = 2, PTE_US = 4, PTE_PWT = 8, PTE_PCD = 0x10, PTE_PS = 0x80;
const LAPIC = 0xfee00000;

/** The four page-table frames for tables at gfn `base`, as bytes. */
export function pageTables(base: number): Uint8Array[] {
  const f = Array.from({ length: PT_FRAMES }, () => new Uint8Array(4096));
  const set = (frame: number, idx: number, v: number) => new DataView(f[frame].buffer).setBigUint64(idx * 8, BigInt(v), true);
  const at = (i: number) => (base + i) * 4096;
  set(0, 0, at(1) | PTE_P | PTE_RW | PTE_US); // PML4[0] → PDPT
  set(1, 0, at(2) | PTE_P | PTE_RW | PTE_US); // PDPT[0] → PD for 0..1 GiB
  set(1, 3, at(3) | PTE_P | PTE_RW); // PDPT[3] → PD for 3..4 GiB
  for (let i = 0; i < 512; i++) set(2, i, i * 0x200000 + (PTE_P | PTE_RW | PTE_US | PTE_PS));
  set(3, (LAPIC >>> 21) & 511, LAPIC + (PTE_P | PTE_RW | PTE_PWT | PTE_PCD | PTE_PS));
  return f;
}

/** Write `bytes` into the domain's memory at guest-physical `gpa`, mapping frames in batches. */
function writeGuest(xc: Xc, domid: number, gpa: number, bytes: Uint8Array, zeroTo = bytes.length): void {
  const first = Math.floor(gpa / 4096);
  const last = Math.floor((gpa + Math.max(zeroTo, 1) - 1) / 4096);
  const mem = xc.os.cpu.mem;
  for (let g0 = first; g0 <= last; g0 += 16) {
    const gfns = Array.from({ length: Math.min(16, last - g0 + 1) }, (_, i) => g0 + i);
    const addrs = xc.mapForeign(domid, gfns);
    try {
      gfns.forEach((g, i) => {
        const lo = Math.max(gpa, g * 4096);
        const hi = Math.min(gpa + zeroTo, (g + 1) * 4096);
        const page = new Uint8Array(hi - lo);
        const from = lo - gpa;
        if (from < bytes.length) page.set(bytes.subarray(from, Math.min(bytes.length, hi - gpa)));
        mem.setBytes(addrs[i] + (lo - g * 4096), page);
      });
    } finally {
      xc.unmapForeign(addrs);
    }
  }
}

/** The builder's loader step for an ELF kernel image. */
export function elfLoader(image: Uint8Array): KernelLoad {
  const elf = parseElf(image);
  return (xc: Xc, domid: number, nrPages: number): LoadedKernel => {
    const ptBase = BOOT_GFN.firstFree;
    for (const s of elf.segments) {
      if (s.paddr < (ptBase + PT_FRAMES) * 4096 || s.paddr + s.memsz > nrPages * 4096)
        throw new Error(`kernel segment at 0x${s.paddr.toString(16)} (+${s.memsz}) does not fit the domain's ${nrPages} pages`);
      writeGuest(xc, domid, s.paddr, s.data, s.memsz);
    }
    pageTables(ptBase).forEach((f, i) => writeGuest(xc, domid, (ptBase + i) * 4096, f));
    return { rip: elf.entry, cr3: ptBase * 4096, ptBase: ptBase * 4096, ptFrames: PT_FRAMES };
  };
}
