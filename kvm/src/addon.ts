/**
 * The native addon (native/xtkvm.c), loaded on first use. `kvmStatus()` says whether this host can
 * run real vCPUs and why not: tests skip with that reason, the CLI prints it.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface Addon {
  open(): number;
  hostMemory(bytes: number): ArrayBuffer;
  scrub(buf: ArrayBuffer, offset: number, length: number): void;
  createVm(): number;
  setSlot(vm: number, slot: number, gpa: number, size: number, buf: ArrayBuffer, offset: number, readonly: boolean): number;
  signalMsi(vm: number, vector: number, apicId: number): number;
  destroyVm(vm: number): void;
  createVcpu(vm: number, id: number): number;
  vcpuRun(vcpu: number): ArrayBuffer;
  setupLongMode(vcpu: number, rip: number, rsp: number, rsi: number, rdi: number, cr3: number): void;
  tscKhz(vcpu: number): number;
  destroyVcpu(vcpu: number): void;
  startThreads(n: number): number;
  quitThreads(first: number, n: number): void;
  assign(thread: number, vcpu: number): void;
  stop(vcpu: number): void;
  stopSync(vcpu: number): void;
  wait(deadlineNs: number, spinNs: number): number[];
  notify(): void;
  now(): number;
  tscPair(): [number, number];
  nullExits(vcpu: number): [number, number, number];
  setThreadSpin(ns: number): void;
  readonly HC_PORT: number;
  readonly NULL_PORT: number;
  readonly REC_EXIT: number;
  readonly REC_STOPPED: number;
  readonly REC_ERROR: number;
  readonly [k: `OFF_${string}` | `EXIT_${string}`]: number;
  readonly SYNC_X86_REGS: number;
}

const here = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = join(here, '..');
export const ADDON_PATH = join(PACKAGE_DIR, 'build', 'Release', 'xtkvm.node');

let addon: Addon | null = null;
let status: { ok: boolean; reason: string } | null = null;

/** Whether real vCPUs can run here: /dev/kvm opens with what we need, and the addon is built. */
export function kvmStatus(): { ok: boolean; reason: string } {
  if (status) return status;
  if (!existsSync('/dev/kvm')) return (status = { ok: false, reason: 'no /dev/kvm on this host' });
  if (!existsSync(ADDON_PATH))
    return (status = { ok: false, reason: `the KVM addon is not built (${ADDON_PATH}): run \`npm run build -w @xenotype/kvm\`` });
  try {
    const a = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    a.open();
    addon = a;
    return (status = { ok: true, reason: '' });
  } catch (e) {
    return (status = { ok: false, reason: (e as Error).message });
  }
}

export function loadAddon(): Addon {
  const s = kvmStatus();
  if (!s.ok) throw new Error(`KVM backend unavailable: ${s.reason}`);
  return addon!;
}
