/**
 * A real guest's blkfront (xtkernel, C) against the TypeScript blkback in a driver domain: the
 * xenbus handshake through xenstored in dom0, the ring page and data pages granted by the guest,
 * grant copies by the driver domain, and the bytes in the host's image file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { asThread } from '@xenotype/minios';
import { kvmPlatform, type KvmPlatform } from '@xenotype/kvm';
import { SHUTDOWN } from '@xenotype/core';
import { BlkHost } from './support/blk-host';
import { kvmSkip, kvmTitle } from './support/kvm-host';
import { createDomain } from '../tools/src/toolstack/xenstore';
import { vbdAdd } from '../tools/src/toolstack/vbd';
import { xtkernelDomain } from '../tools/src/kvm/xtkernel';

/** The guest's pattern: xorshift32 from seed|1, one byte per step (guests/xtkernel/src/main.c app_blk). */
function guestPattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 1) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe.skipIf(kvmSkip !== null)(kvmTitle('KVM backend: a real blkfront against the TypeScript blkback'), () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('writes through the driver domain into the image file and reads the same bytes back', () => {
    const platform: KvmPlatform = kvmPlatform();
    const h = new BlkHost({ platform, cpus: 1 });
    cleanup.push(() => platform.dispose(), () => h.dispose());
    const gfns = new Map<number, number>();
    const lines: string[] = [];
    h.host.hv.trace.subscribe((r) => {
      if (r.type !== 'console') return;
      const { dom, text } = r as unknown as { dom: number; text: string };
      lines.push(`d${dom}: ${text}`);
      const m = /counters@gfn (\d+)/.exec(text);
      if (m) gfns.set(dom, Number(m[1]));
    });
    const dd = h.driverDomain();
    const img = h.image('disk.img', 4);
    const kib = 192;
    const xsd = h.xsd;
    const id = h.host.run('guest', function* ({ xc, os }) {
      const xs = xsd.client(os);
      const b = yield* createDomain(xc, xs, xtkernelDomain({ name: 'blk', app: 'blk', args: { kib, depth: 8, seed: 7 }, paused: true }));
      yield* asThread(vbdAdd(xs, { domid: b.domid, backendDomid: dd, target: img.path }));
      xc.domainUnpause(b.domid);
      return b.domid;
    });
    const d = h.host.hv.domains.get(id)!;
    const result = () => (gfns.has(id) ? d.mem.view.getU64(gfns.get(id)! * 4096 + 6 * 8) : 0);
    const end = h.host.now + 20e9;
    while (result() === 0 && d.shutdownCode < 0 && h.host.now < end) h.host.runFor(10e6);
    expect(result(), lines.join('\n')).toBe(1); // 1: the bytes read back are the bytes written
    expect(d.crashReason).toBeNull();
    const file = h.fileBytes(img);
    expect(file.subarray(0, kib * 1024)).toEqual(guestPattern(7, kib * 1024));
    expect(file.subarray(kib * 1024).every((x) => x === 0)).toBe(true);
    expect([...h.backends[0].vbds.values()][0]?.stats.bytesWritten).toBe(kib * 1024);
    h.host.runFor(50e6);
    expect(d.shutdownCode).toBe(SHUTDOWN.poweroff);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });
});
