/**
 * Conformance-test support: find gcc and Xen's public headers (Debian's libxen-dev), compile a C
 * program against them into a fresh temporary directory, run it, and parse what it prints.
 *
 * The C programs include the headers as a toolstack does (-D__XEN_TOOLS__, which also makes
 * domctl.h and sysctl.h visible) and are built for the host, x86_64: the ABI our layouts describe.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const XEN_H = '/usr/include/xen/xen.h';

/** Whether the tests can run here, and if not, why (shown in the skipped test's name). */
export function toolchain(): { ok: true; reason: '' } | { ok: false; reason: string } {
  if (!existsSync(XEN_H)) return { ok: false, reason: `${XEN_H} not found (install libxen-dev)` };
  const r = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, reason: 'gcc not found (install gcc)' };
  if (process.arch !== 'x64') return { ok: false, reason: `host is ${process.arch}; the layouts are x86_64's` };
  return { ok: true, reason: '' };
}

/** The headers every conformance program includes. */
export const PRELUDE = `
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include <xen/errno.h>
`;

/** A temporary directory for sources, binaries and data files; `dispose` removes it. */
export class Workdir {
  readonly path = mkdtempSync(join(tmpdir(), 'xenotype-conformance-'));

  file(name: string): string {
    return join(this.path, name);
  }

  write(name: string, data: string | Uint8Array): string {
    const p = this.file(name);
    writeFileSync(p, data);
    return p;
  }

  /** Compile `src` as `name`; throws with gcc's diagnostics on failure. Returns the binary's path. */
  compile(name: string, src: string): string {
    const c = this.write(`${name}.c`, src);
    const exe = this.file(name);
    const r = spawnSync('gcc', ['-std=gnu11', '-D__XEN_TOOLS__', '-O0', '-Wall', '-Wno-unused-function', '-o', exe, c], { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`gcc failed on ${c}:\n${r.stderr}`);
    return exe;
  }

  /** Run a binary built by `compile`; returns its stdout, throws on a non-zero exit. */
  run(exe: string, args: string[] = []): string {
    const r = spawnSync(exe, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${exe} exited with ${r.status}:\n${r.stderr}`);
    return r.stdout;
  }

  dispose(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** A C string literal for `s` (our names are plain ASCII identifiers and designators). */
export const cstr = (s: string): string => JSON.stringify(s);

/**
 * Parse `key=value` lines into a map. Values stay strings; `num` reads one as a bigint so that
 * 64-bit fields compare exactly.
 */
export function parseKv(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const i = line.indexOf('=');
    if (i < 0) throw new Error(`unparsable line from C: ${line}`);
    const k = line.slice(0, i);
    if (m.has(k)) throw new Error(`C printed ${k} twice`);
    m.set(k, line.slice(i + 1));
  }
  return m;
}
