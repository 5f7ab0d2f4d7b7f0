/**
 * The split drivers as scenario devices: `vbd` (a virtual disk: blkfront in the guest, blkback in a
 * block driver domain over a raw image file on the host, behind the paper's VBD scheduler) and
 * `vif` (a network interface: netfront in the guest, netback with its bridge and virtual firewall
 * in a network driver domain).
 *
 *   devices:
 *     - { type: vbd, size: 64MiB, disk: dk32ej, sched: rr }   # driver domain "blkdd" by default
 *     - { type: vif, ip: 5 }                                   # 10.0.0.5 on xenbr0, in "netdd"
 *
 * setupHost builds one driver domain per distinct `backend` name (`xl devd`'s role: devd serves the
 * backend directories that appear for it), in Pool-0, with the weight given (default 1, like the
 * guests). Driver-domain settings (`disk`, `sched`, `storage`) must agree between the vbds that
 * name the same backend: one driver domain drives one disk. attach does what libxl's
 * device_disk_add / device_nic_add do: the vbd's image file is created (sparse) in a temporary
 * directory the host hands to the driver domain (its ImageStore) and the xenstore nodes are
 * written while the guest is paused. dispose closes and removes the images after the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISK_MODELS, MemoryBlockDevice, type Blkback, type DiskModel, type DiskPolicy, type OpenBlockDevice } from '@xenotype/blk';
import { Netback, parseIpv4 } from '@xenotype/net';
import { asThread, type ThreadOp } from '@xenotype/minios';
import type { Registry } from '@xenotype/core';
import type { Host } from '../host/host';
import { ImageFile, ImageStore } from '../devices/image-file';
import { blkbackFactory } from '../devices/blkback';
import { registerDriverDomain, type BackendFactory } from '../toolstack/driver-domain';
import { createDriverDomain } from '../toolstack/reattach';
import { setDomainSchedParams } from '../toolstack/sched';
import { vbdAdd } from '../toolstack/vbd';
import { nicAdd } from '../toolstack/nic';
import { parseBytes } from '../scenario/units';
import type { DeviceHostContext, ScenarioDevice } from './devices';

/** Bad device parameters in a scenario: the run fails with this message. */
export class DeviceParamError extends Error {}

interface DriverDomain {
  name: string;
  domid: number;
  /** vbd: where images go, and how the backend opens them. */
  dir?: string;
  images?: ImageStore;
  storage?: 'image' | 'memory';
  memory?: Map<string, MemoryBlockDevice>;
  blkbacks: Blkback[];
  netbacks: Netback[];
  nextImage: number;
}

interface HostState {
  dds: Map<string, DriverDomain>;
}

const hosts = new WeakMap<Host, HostState>();
let kernelSeq = 0;

function state(host: Host): HostState {
  let s = hosts.get(host);
  if (!s) hosts.set(host, (s = { dds: new Map() }));
  return s;
}

const str = (v: unknown, dflt: string) => (v === undefined ? dflt : String(v));
function int(v: unknown, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new DeviceParamError(`${what}: expected a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

/** One value per driver domain: the uses naming it must agree. */
function agree<T>(uses: DeviceHostContext['uses'], key: string, dflt: T, parse: (v: unknown) => T): T {
  const vals = [...new Set(uses.map((u) => (u.params[key] === undefined ? undefined : JSON.stringify(parse(u.params[key])))).filter((x) => x !== undefined))];
  if (vals.length > 1) throw new DeviceParamError(`devices sharing driver domain disagree on ${key}: ${vals.join(' vs ')}`);
  return vals.length ? (JSON.parse(vals[0]!) as T) : dflt;
}

function byBackend(uses: DeviceHostContext['uses'], dflt: string): Map<string, DeviceHostContext['uses']> {
  const m = new Map<string, DeviceHostContext['uses']>();
  for (const u of uses) {
    const b = str(u.params.backend, dflt);
    if (!/^[A-Za-z0-9_.-]+$/.test(b)) throw new DeviceParamError(`backend: "${b}" is not a domain name`);
    if (!m.has(b)) m.set(b, []);
    m.get(b)!.push(u);
  }
  return m;
}

function* buildDriverDomain(ctx: DeviceHostContext, name: string, factories: BackendFactory[], weight: number, dd: DriverDomain): Generator<ThreadOp, void, void> {
  const kernel = `scenario-dd-${++kernelSeq}`;
  registerDriverDomain(ctx.host.registry as Registry, kernel, factories);
  const b = yield* createDriverDomain(ctx.sys.xc, ctx.xs, { name, memoryMiB: 16, vcpus: 1, kernel, paused: true });
  setDomainSchedParams(ctx.sys.xc, ctx.host.registry.scheduler(ctx.host.spec.scheduler), b.domid, ctx.schedFor(weight));
  ctx.sys.xc.domainUnpause(b.domid);
  dd.domid = b.domid;
}

const diskModel = (v: unknown): DiskModel => {
  const name = String(v);
  if (!Object.hasOwn(DISK_MODELS, name)) throw new DeviceParamError(`disk: expected one of ${Object.keys(DISK_MODELS).join(', ')}, got "${name}"`);
  return DISK_MODELS[name as keyof typeof DISK_MODELS];
};
const diskPolicy = (v: unknown): DiskPolicy => {
  if (v !== 'rr' && v !== 'fifo') throw new DeviceParamError(`sched: expected rr (the paper's round-robin batches) or fifo (one queue), got ${JSON.stringify(v)}`);
  return v;
};
const storageKind = (v: unknown): 'image' | 'memory' => {
  if (v !== 'image' && v !== 'memory') throw new DeviceParamError(`storage: expected image or memory, got ${JSON.stringify(v)}`);
  return v;
};

export const VBD_DEVICE: ScenarioDevice = {
  doc: 'virtual block device: blkfront in the guest, blkback in a block driver domain over a raw image file',
  params: [
    { name: 'size', doc: 'disk size (default 64MiB)' },
    { name: 'backend', doc: 'name of the block driver domain (default blkdd; one domain drives one modelled disk)' },
    { name: 'disk', doc: 'the disk model of that driver domain: dk32ej (the paper’s disk, default), ssd, instant' },
    { name: 'sched', doc: 'its request scheduling: rr (the paper’s round-robin batches, default) or fifo (one queue for all, arrival order)' },
    { name: 'storage', doc: 'image (a sparse raw file in a temporary directory, default) or memory' },
    { name: 'mode', doc: 'w (default) or r' },
    { name: 'weight', doc: 'the driver domain’s CPU weight (default 1)' },
  ],
  *setupHost(ctx) {
    const st = state(ctx.host);
    for (const [name, uses] of byBackend(ctx.uses, 'blkdd')) {
      const model = agree(uses, 'disk', DISK_MODELS.dk32ej as DiskModel, diskModel);
      const policy = agree(uses, 'sched', 'rr' as DiskPolicy, diskPolicy);
      const storage = agree(uses, 'storage', 'image' as const, storageKind);
      const weight = agree(uses, 'weight', 1, (v) => int(v, 1, 'weight'));
      const dd: DriverDomain = { name, domid: -1, storage, blkbacks: [], netbacks: [], nextImage: 0 };
      let open: OpenBlockDevice;
      if (storage === 'image') {
        dd.dir = mkdtempSync(join(tmpdir(), 'xenotype-vbd-'));
        dd.images = new ImageStore();
        open = dd.images.opener();
      } else {
        const mem = (dd.memory = new Map());
        open = (c) => mem.get(c.params) ?? `no memory disk "${c.params}"`;
      }
      st.dds.set(`vbd:${name}`, dd);
      yield* buildDriverDomain(ctx, name, [blkbackFactory(open, { disk: { model, policy } }, (b) => dd.blkbacks.push(b))], weight, dd);
    }
  },
  *attach(ctx) {
    const dd = state(ctx.host).dds.get(`vbd:${str(ctx.params.backend, 'blkdd')}`);
    if (!dd) throw new DeviceParamError(`vbd of ${ctx.domain}: no driver domain (setupHost did not run)`);
    const size = ctx.params.size === undefined ? 64 << 20 : parseBytes(ctx.params.size);
    if (size === null || size <= 0 || size % 512 !== 0) throw new DeviceParamError(`vbd of ${ctx.domain}: size: expected a size such as 64MiB (a multiple of 512 bytes), got ${JSON.stringify(ctx.params.size)}`);
    const mode = str(ctx.params.mode, 'w');
    if (mode !== 'w' && mode !== 'r') throw new DeviceParamError(`vbd of ${ctx.domain}: mode: expected w or r, got "${mode}"`);
    const file = `${ctx.domain}-${dd.nextImage++}.img`;
    let target: string;
    if (dd.storage === 'image') {
      target = join(dd.dir!, file);
      dd.images!.add(ImageFile.create(target, size));
    } else {
      target = file;
      dd.memory!.set(file, new MemoryBlockDevice(size));
    }
    yield* asThread(vbdAdd(ctx.xs, { domid: ctx.domid, backendDomid: dd.domid, target, mode }));
  },
  dispose(host) {
    const st = hosts.get(host);
    if (!st) return;
    for (const dd of st.dds.values()) {
      dd.images?.close();
      if (dd.dir) rmSync(dd.dir, { recursive: true, force: true });
    }
  },
};

/** 10.0.(n >> 8).(n & 255) for an integer, or a dotted quad as it is (the workloads' convention). */
function ipOf(v: unknown, what: string): string {
  if (typeof v === 'number' || /^\d+$/.test(String(v))) {
    const n = Number(v) & 0xffff;
    return `10.0.${n >> 8}.${n & 255}`;
  }
  if (parseIpv4(String(v)) === null) throw new DeviceParamError(`${what}: expected an address (n or a dotted quad), got ${JSON.stringify(v)}`);
  return String(v);
}

export const VIF_DEVICE: ScenarioDevice = {
  doc: 'virtual network interface: netfront in the guest, netback (bridge and virtual firewall) in a network driver domain',
  params: [
    { name: 'ip', doc: 'the guest’s address (n for 10.0.(n >> 8).(n & 255), or a dotted quad); anti-spoofing allows only it' },
    { name: 'bridge', doc: 'bridge name (default xenbr0)' },
    { name: 'backend', doc: 'name of the network driver domain (default netdd)' },
    { name: 'weight', doc: 'the driver domain’s CPU weight (default 1)' },
  ],
  *setupHost(ctx) {
    const st = state(ctx.host);
    for (const [name, uses] of byBackend(ctx.uses, 'netdd')) {
      const weight = agree(uses, 'weight', 1, (v) => int(v, 1, 'weight'));
      const dd: DriverDomain = { name, domid: -1, blkbacks: [], netbacks: [], nextImage: 0 };
      st.dds.set(`vif:${name}`, dd);
      const factory: BackendFactory = (caps) => {
        const nb = new Netback(caps);
        dd.netbacks.push(nb);
        return nb;
      };
      yield* buildDriverDomain(ctx, name, [factory], weight, dd);
    }
  },
  *attach(ctx) {
    const dd = state(ctx.host).dds.get(`vif:${str(ctx.params.backend, 'netdd')}`);
    if (!dd) throw new DeviceParamError(`vif of ${ctx.domain}: no driver domain (setupHost did not run)`);
    const ip = ctx.params.ip === undefined ? undefined : ipOf(ctx.params.ip, `vif of ${ctx.domain}: ip`);
    yield* asThread(nicAdd(ctx.xs, { domid: ctx.domid, backendDomid: dd.domid, ip, bridge: ctx.params.bridge === undefined ? undefined : String(ctx.params.bridge) }));
  },
};

/** The driver domains a host's devices built (for tests and reports): name → domid and backends. */
export function driverDomains(host: Host): { name: string; domid: number; blkbacks: Blkback[]; netbacks: Netback[] }[] {
  return [...(hosts.get(host)?.dds.values() ?? [])].map((d) => ({ name: d.name, domid: d.domid, blkbacks: d.blkbacks, netbacks: d.netbacks }));
}

/** Register `vbd` and `vif` (defaultRegistry does). */
export function registerSplitDevices(reg: Registry): void {
  reg.registerDevice('vbd', VBD_DEVICE, VBD_DEVICE.doc);
  reg.registerDevice('vif', VIF_DEVICE, VIF_DEVICE.doc);
}
