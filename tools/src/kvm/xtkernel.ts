/**
 * Domains running xtkernel, the C guest kernel, on real vCPUs: a DomainSpec with the HVM flag
 * (so the host's platform runs it on KVM) and the ELF loader in place of a TypeScript kernel name.
 * `app` and its arguments travel on the command line, as for any kernel.
 */
import { readFileSync } from 'node:fs';
import { XEN_DOMCTL_CDF } from '@xenotype/core';
import { XTKERNEL_ELF, xtkernelMissing } from '@xenotype/xtkernel';
import { elfLoader } from '../toolstack/elf-loader';
import type { DomainSpec, KernelLoad } from '../toolstack/builder';

let loader: KernelLoad | null = null;

export function xtkernelLoader(): KernelLoad {
  const missing = xtkernelMissing();
  if (missing) throw new Error(missing);
  return (loader ??= elfLoader(new Uint8Array(readFileSync(XTKERNEL_ELF))));
}

export interface XtkernelSpec extends Omit<DomainSpec, 'kernel' | 'loader' | 'flags' | 'cmdline' | 'vcpus' | 'memoryMiB'> {
  /** hog, interactive, selftest, evtest, blk, bench, fault, idle (guests/xtkernel/src/main.c). */
  app: string;
  args?: Record<string, string | number>;
  memoryMiB?: number;
}

export function xtkernelDomain(s: XtkernelSpec): DomainSpec {
  const { app, args, memoryMiB, ...rest } = s;
  const words = [`app=${app}`, ...Object.entries(args ?? {}).map(([k, v]) => `${k}=${v}`)];
  return { ...rest, memoryMiB: memoryMiB ?? 16, vcpus: 1, kernel: 'xtkernel', cmdline: words.join(' '), flags: XEN_DOMCTL_CDF.hvm, loader: xtkernelLoader() };
}
