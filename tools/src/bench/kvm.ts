/**
 * Benchmarks of the KVM backend (real guests: xtkernel on /dev/kvm), each beside a baseline from
 * the same run:
 *  - hypercall round trip from the guest's ring 3 through the hypercall page to TypeScript's
 *    dispatch and back, against a bare port-I/O exit the addon answers itself (the limit);
 *  - event-channel upcall latency: dom0 sends from another pCPU while the guest runs (spinning in
 *    ring 3, interrupts on) — from the instant of the send to the guest's TSC when its upcall
 *    handler has run, against the bare exit;
 *  - blkif throughput of the guest's blkfront through blkback in a driver domain into an image
 *    file, against the same bytes in the same request sizes through the simulation;
 *  - CPU shares under BVT 1:2 from the guests' own work counters, against the entitlement.
 * Real time on a shared machine: figures vary from run to run; ratios are what to compare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISK_MODELS } from '@xenotype/blk';
import { asThread } from '@xenotype/minios';
import { kvmPlatform, kvmStatus, type KvmPlatform } from '@xenotype/kvm';
import { xtkernelMissing } from '@xenotype/xtkernel';
import { bvtAdjdom, bvtCtl, bvtScheduler, mcuAdvanceForWeight } from '@xenotype/sched-bvt';
import { Host } from '../host/host';
import { defaultRegistry } from '../host/registry';
import { buildDomain } from '../toolstack/builder';
import { xtkernelDomain } from '../kvm/xtkernel';
import { Xenstored } from '../xenstored/service';
import { createDomain } from '../toolstack/xenstore';
import { createDriverDomain } from '../toolstack/reattach';
import { registerDriverDomain } from '../toolstack/driver-domain';
import { vbdAdd } from '../toolstack/vbd';
import { ImageFile, ImageStore } from '../devices/image-file';
import { blkbackFactory } from '../devices/blkback';
import { runBlkifBench } from './blkif';

/** Why the KVM benchmarks cannot run here, or null. */
export function kvmBenchUnavailable(): string | null {
  const s = kvmStatus();
  return s.ok ? xtkernelMissing() : s.reason;
}

class Guests {
  readonly gfns = new Map<number, number>();
  constructor(readonly host: Host) {
    host.hv.trace.subscribe((r) => {
      const m = r.type === 'console' ? /counters@gfn (\d+)/.exec((r as unknown as { text: string }).text) : null;
      if (m) this.gfns.set((r as unknown as { dom: number }).dom, Number(m[1]));
    });
  }
  counter(id: number, i: number): number | undefined {
    const g = this.gfns.get(id);
    return g === undefined ? undefined : this.host.hv.domains.get(id)!.mem.view.getU64(g * 4096 + i * 8);
  }
  until(pred: () => boolean, limitNs = 30e9, stepNs = 2e6): void {
    const end = this.host.now + limitNs;
    while (!pred()) {
      if (this.host.now > end) throw new Error('kvm bench: the guest did not get there in time');
      this.host.runFor(stepNs);
    }
  }
}

export interface KvmExitBench {
  /** Mean hypercall round trip, ns (guest TSC, ring 3 → TypeScript → ring 3). */
  hypercallNs: number;
  /** Mean bare null-port exit, ns, as the addon timed them. */
  bareExitNs: number;
  /** The same bare exits as the guest timed them, ns. */
  bareExitGuestNs: number;
  /** Upcall latencies, ns: dom0's send → the guest sees its upcall. */
  upcallNs: number[];
}

export function runKvmExitBench(n = 2000, samples = 200): KvmExitBench {
  const platform = kvmPlatform();
  try {
    // Two pCPUs: dom0 sends from pCPU 0 while the guest keeps running on pCPU 1.
    const host = new Host({ cpus: 2, memoryMiB: 128, scheduler: 'rr', seed: 1, platform });
    const g = new Guests(host);
    const id = host.run('build', function* ({ xc }) {
      return buildDomain(xc, xtkernelDomain({ name: 'bench', app: 'bench', args: { n, samples } })).domid;
    });
    g.until(() => g.counter(id, 9) === 1);
    const hz = platform.tsc.hz;
    const v = host.hv.domains.get(id)!.vcpus[0];
    const [count, first, last] = platform.kvm!.nullExits(v);
    const bareExitNs = count > 1 ? (last - first) / (count - 1) : NaN;
    const bareExitGuestNs = (g.counter(id, 4)! / g.counter(id, 3)!) * (1e9 / hz);
    const hypercallNs = (g.counter(id, 6)! / g.counter(id, 5)!) * (1e9 / hz);
    // Upcalls: dom0 binds the guest's port and sends; the send's instant is taken from the trace.
    const port = g.counter(id, 7)!;
    const local = host.run('bind', function* ({ os }) {
      return os.evtchn.bindInterdomain(id, port);
    });
    const sent: number[] = [];
    const unsub = host.hv.trace.subscribe((r) => {
      if (r.type === 'evtchn_send' && (r as unknown as { dom: number }).dom === 0) {
        sent.push(platform.tsc.at(host.hv.engine.now()));
      }
    });
    const upcallNs: number[] = [];
    for (let i = 0; i < samples; i++) {
      sent.length = 0;
      host.run('send', function* ({ os }) {
        os.evtchn.notify(local);
      });
      g.until(() => (g.counter(id, 8) ?? 0) > i, 5e9, 1e5);
      if (sent.length > 0) upcallNs.push(((g.counter(id, 16 + i)! - sent[0]) * 1e9) / hz);
      host.runFor(1e6);
    }
    unsub();
    return { hypercallNs, bareExitNs, bareExitGuestNs, upcallNs };
  } finally {
    platform.dispose();
  }
}

/** MiB/s of the guest's blkfront writing then reading `kib` KiB, 8 requests of ≤ 44 KiB in flight. */
export function runKvmBlkifBench(kib: number): { writeMiBs: number; readMiBs: number; ok: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'xenotype-kvmblk-'));
  const images = new ImageStore();
  const platform: KvmPlatform = kvmPlatform();
  try {
    const img = images.add(ImageFile.create(join(dir, 'bench.img'), Math.max(kib * 1024, 1 << 20)));
    const reg = defaultRegistry();
    registerDriverDomain(reg, 'bench-kvm-blkdd', [blkbackFactory(images.opener(), { disk: { model: DISK_MODELS.instant } })]);
    const xsd = new Xenstored();
    const host = new Host({ cpus: 1, memoryMiB: 256, scheduler: 'rr', seed: 1, services: [xsd], platform }, reg);
    const g = new Guests(host);
    const id = host.run('setup', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const dd = yield* createDriverDomain(xc, xs, { name: 'blkdd', memoryMiB: 16, vcpus: 1, kernel: 'bench-kvm-blkdd' });
      const b = yield* createDomain(xc, xs, xtkernelDomain({ name: 'blk', app: 'blk', memoryMiB: Math.ceil(kib / 1024) + 8, args: { kib, depth: 8, seed: 3 }, paused: true }));
      yield* asThread(vbdAdd(xs, { domid: b.domid, backendDomid: dd.domid, target: img.path }));
      xc.domainUnpause(b.domid);
      return b.domid;
    });
    g.until(() => (g.counter(id, 6) ?? 0) !== 0, 120e9, 10e6);
    const bytes = g.counter(id, 5)!;
    const mib = bytes / 2 ** 20;
    return { writeMiBs: mib / (g.counter(id, 3)! / 1e9), readMiBs: mib / (g.counter(id, 4)! / 1e9), ok: g.counter(id, 6) === 1 };
  } finally {
    platform.dispose();
    images.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Two hogs under BVT with weights 1:2 on one pCPU: each one's share of the work its counters count. */
export function runKvmBvtShares(seconds = 4): { shares: number[]; entitled: number[] } {
  const platform = kvmPlatform();
  try {
    const host = new Host({ cpus: 1, memoryMiB: 128, scheduler: 'bvt', seed: 1, platform });
    const g = new Guests(host);
    const weights = [1, 2];
    const ids = host.run('build', function* ({ xc }) {
      xc.schedGlobalSet(0, bvtScheduler.schedId, bvtCtl, { ctx_allow: 5e6 });
      const out = weights.map((w, i) => {
        const id = buildDomain(xc, xtkernelDomain({ name: `hog${i}`, app: 'hog', args: { chunk: 200_000 }, paused: true })).domid;
        xc.schedDomainSet(id, bvtScheduler.schedId, bvtAdjdom, { mcu_adv: mcuAdvanceForWeight(w), warpback: 0, warpvalue: 0, warpl: 2000, warpu: 1000 });
        return id;
      });
      for (const id of out) xc.domainUnpause(id);
      return out;
    });
    g.until(() => ids.every((id) => g.counter(id, 0) !== undefined));
    host.runFor(500e6);
    const before = ids.map((id) => g.counter(id, 0)!);
    host.runFor(seconds * 1e9);
    const work = ids.map((id, i) => g.counter(id, 0)! - before[i]);
    const total = work.reduce((a, b) => a + b, 0);
    const wsum = weights.reduce((a, b) => a + b, 0);
    return { shares: work.map((w) => w / total), entitled: weights.map((w) => w / wsum) };
  } finally {
    platform.dispose();
  }
}

/** The same bytes through the simulation (virtual time; 64 KiB writes, 8 in flight): wall-clock MiB/s. */
export function simBlkifMiBs(mib: number): number {
  const r = runBlkifBench(65536, mib);
  return mib / (r.simMs / 1000);
}
