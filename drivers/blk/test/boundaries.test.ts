/**
 * The split driver's boundaries, read from the source: blkback and blkfront never import each
 * other (not even through another module of the package), the package imports only core and other
 * drivers, and the protocol, device and disk modules are pure (no node:*, no timers, no clock).
 * The end-to-end tests (test/blk*.test.ts) run the two ends in different domains, where they can
 * share nothing but xenstore, grants, the ring page and an event channel.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
const source = (f: string) => readFileSync(join(SRC, f), 'utf8');
const imports = (f: string): string[] => [...source(f).matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]);

/** Modules of this package reachable from `f` by imports (itself included). */
function reach(f: string, seen = new Set<string>()): Set<string> {
  if (seen.has(f)) return seen;
  seen.add(f);
  for (const i of imports(f)) if (i.startsWith('./')) reach(`${i.slice(2)}.ts`, seen);
  return seen;
}

describe('@xenotype/blk boundaries', () => {
  it('the backend never reaches the frontend, nor the frontend the backend', () => {
    expect(reach('backend.ts').has('frontend.ts')).toBe(false);
    expect(reach('frontend.ts').has('backend.ts')).toBe(false);
    expect(reach('backend.ts')).toContain('protocol.ts');
    expect(reach('frontend.ts')).toContain('protocol.ts');
  });

  it('imports only @xenotype/core and other drivers — never guests or tools', () => {
    const external = new Set(files.flatMap(imports).filter((i) => !i.startsWith('./')));
    expect([...external].sort()).toEqual(['@xenotype/core', '@xenotype/ring', '@xenotype/xenbus']);
  });

  it('protocol, device, disk and both ends touch no host I/O, timers or clocks', () => {
    for (const f of files) {
      const s = source(f).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(s, f).not.toMatch(/from 'node:|setTimeout|setInterval|Date\.now|performance\.now|Math\.random|process\./);
    }
  });
});
