/**
 * @xenotype/xtkernel — where the built kernel image is, and whether it is there. The kernel itself
 * is C and assembly in src/ (see src/entry.S for the boot protocol, src/main.c for its apps).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const XTKERNEL_DIR = dirname(fileURLToPath(import.meta.url));
/** The ELF image (built by `npm run build -w @xenotype/xtkernel`, i.e. make). */
export const XTKERNEL_ELF = join(XTKERNEL_DIR, 'build', 'xtkernel.elf');

/** Why the kernel image is not available, or null if it is. */
export function xtkernelMissing(): string | null {
  return existsSync(XTKERNEL_ELF) ? null : `the xtkernel image is not built (${XTKERNEL_ELF}): run \`npm run build -w @xenotype/xtkernel\` (needs gcc, make and libxen-dev)`;
}
