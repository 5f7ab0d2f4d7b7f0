/**
 * docs/write-a-device.md quotes the kv device's code: every block introduced by "From `<file>`:"
 * must still be in that file, line for line (the file may indent it more), so the guide cannot
 * drift from the code it walks through.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const guide = readFileSync(join(root, 'docs/write-a-device.md'), 'utf8');

/** Each quoted block: the file named before it and its lines. */
function blocks(): { file: string; lines: string[] }[] {
  const out: { file: string; lines: string[] }[] = [];
  const re = /^From `([^`]+)`:\n\n```\w*\n([\s\S]*?)\n```$/gm;
  for (let m = re.exec(guide); m; m = re.exec(guide)) out.push({ file: m[1], lines: m[2].split('\n') });
  return out;
}

/** Whether `block` occurs in `file` as consecutive lines, all indented by the same extra prefix. */
function quoted(file: string[], block: string[]): boolean {
  for (let i = 0; i + block.length <= file.length; i++) {
    const first = file[i];
    if (!first.endsWith(block[0])) continue;
    const indent = first.slice(0, first.length - block[0].length);
    if (indent.trim() !== '') continue;
    if (block.every((l, k) => (l === '' ? file[i + k].trim() === '' : file[i + k] === indent + l))) return true;
  }
  return false;
}

describe('docs/write-a-device.md', () => {
  const bs = blocks();
  it('quotes code', () => {
    expect(bs.length).toBeGreaterThanOrEqual(10);
  });
  it.each(bs.map((b, i) => [i + 1, b.file, b] as const))('block %i (%s) is in its file', (_, file, b) => {
    const src = readFileSync(join(root, file), 'utf8').split('\n');
    expect(quoted(src, b.lines), `${file}:\n${b.lines.slice(0, 3).join('\n')}\n...`).toBe(true);
  });
});
