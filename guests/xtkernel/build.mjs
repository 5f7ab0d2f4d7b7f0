#!/usr/bin/env node
// Build the xtkernel image with make. --install (npm's install hook) and --if-missing never fail
// the caller: a machine without gcc or Xen's headers just has no real guest (tests say so and skip).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const elf = join(dir, 'build', 'xtkernel.elf');
const lenient = process.argv.includes('--install') || process.argv.includes('--if-missing');
// --if-missing: make decides (it rebuilds only what changed, in a few milliseconds).
if (!existsSync('/usr/include/xen/xen.h')) {
  console.error('xtkernel: not built: Xen\'s public headers are missing (Debian: apt-get install libxen-dev)');
  process.exit(lenient ? 0 : 1);
}
const r = spawnSync('make', ['-s', '-C', dir, '--no-print-directory', ...(process.argv.includes('--force') ? ['-B'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) {
  console.error(`xtkernel: build failed${r.error ? `: ${r.error.message}` : ''}`);
  process.exit(lenient ? 0 : 1);
}
