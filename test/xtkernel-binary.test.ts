/**
 * The xtkernel image never contains an instruction this host's ring-0 emulator cannot run
 * (kvm.md §1: CMPXCHG16B, XRSTOR, INT3, CLAC/STAC, POPCNT, FWAIT), nor a raw VMMCALL/VMCALL (which
 * hangs the vCPU here: hypercalls go through the hypercall page), nor any x87/SSE/AVX instruction
 * (its flags forbid them: no XSAVE/XRSTOR ever needed). The whole image is checked, ring 3 included.
 * Needs the built kernel and binutils' objdump; skipped, saying why, without them.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { XTKERNEL_ELF, xtkernelMissing } from '@xenotype/xtkernel';
import { parseElf, pageTables, PT_FRAMES } from '../tools/src/toolstack/elf-loader';
import { readFileSync } from 'node:fs';

const objdump = spawnSync('objdump', ['--version']).status === 0;
const skip = xtkernelMissing() ?? (objdump ? null : 'objdump (binutils) is not installed');

const FORBIDDEN = /^(cmpxchg16b|xrstor\w*|xsave\w*|int3|clac|stac|popcnt|fwait|wait|vmmcall|vmcall|vmlaunch|vmresume)$/;
const FPU_SIMD = /%(x|y|z)mm\d|%st\b|%st\(|%mm\d/;

describe.skipIf(skip !== null)(skip ? `xtkernel image (skipped: ${skip})` : 'xtkernel image', () => {
  it('holds no instruction the ring-0 emulator cannot run, no raw VMMCALL, no x87/SIMD', () => {
    const r = spawnSync('objdump', ['-d', '--no-show-raw-insn', '-M', 'att', XTKERNEL_ELF], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const insns = r.stdout
      .split('\n')
      .map((l) => /^\s+[0-9a-f]+:\t(.*)$/.exec(l)?.[1])
      .filter((x): x is string => !!x && x.trim() !== '');
    expect(insns.length).toBeGreaterThan(500);
    const bad = insns.filter((i) => {
      const words = i.trim().split(/\s+/);
      const m = words[0] === 'lock' || words[0].startsWith('rep') ? words[1] : words[0];
      return FORBIDDEN.test(m ?? '') || FPU_SIMD.test(i);
    });
    expect(bad).toEqual([]);
    // The hypercall instruction is only ever the hypercall page's, which the VMM writes at run time.
    expect(insns.some((i) => /^out\s+%eax,\$0xe2$/.test(i.trim()))).toBe(false);
  });

  it('loads at 1 MiB with its entry point first, above the builder\'s page tables', () => {
    const elf = parseElf(new Uint8Array(readFileSync(XTKERNEL_ELF)));
    expect(elf.entry).toBe(0x100000);
    expect(Math.min(...elf.segments.map((s) => s.paddr))).toBe(0x100000);
    const pts = pageTables(5);
    expect(pts).toHaveLength(PT_FRAMES);
    const q = (f: number, i: number) => Number(new DataView(pts[f].buffer).getBigUint64(i * 8, true));
    expect(q(0, 0)).toBe(6 * 4096 + 7); // PML4 → PDPT, user-accessible
    expect(q(2, 1)).toBe(0x200000 + 0x87); // 2 MiB page, present, writable, user
    expect(q(3, 503)).toBe(0xfee00000 + 0x9b); // the LAPIC, uncached, kernel only
  });
});
