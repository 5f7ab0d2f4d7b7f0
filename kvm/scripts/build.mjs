#!/usr/bin/env node
// Build the native addon with node-gyp (npm's bundled copy; no network: Node's headers come from
// the installation itself when they are there). --install (npm's install hook) and --if-missing
// never fail the caller: without a compiler there is no KVM backend, and the tests say so.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(dir, 'build', 'Release', 'xtkvm.node');
const src = join(dir, 'native', 'xtkvm.c');
const lenient = process.argv.includes('--install') || process.argv.includes('--if-missing');
if (process.argv.includes('--if-missing') && existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);

function nodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout?.trim();
  if (npmRoot) candidates.push(join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => existsSync(p));
}

const gyp = nodeGyp();
if (!gyp) {
  console.error('xtkvm: not built: node-gyp not found (it ships with npm)');
  process.exit(lenient ? 0 : 1);
}
const args = [gyp, 'rebuild', '--loglevel=warn'];
// Node's own headers, installed beside it (Debian's nodejs, NodeSource): no download needed.
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: dir, stdio: ['ignore', process.argv.includes('--verbose') ? 'inherit' : 'ignore', 'inherit'] });
if (r.status !== 0 || !existsSync(out)) {
  console.error('xtkvm: addon build failed');
  process.exit(lenient ? 0 : 1);
}
