import { describe, expect, it } from 'vitest';
import { DEFAULT_COSTS, KERNEL_ENTRY, compute, encodeKernelImage, ms, us, type GuestKernel } from '../src/index';
import { makeDomain, makeHv } from './support';

/** Guests that compute in 10 µs chunks touching `ws` bytes and count the chunks they finish. */
function run(nGuests: number, ws: number, cpus = 1, runNs = ms(100)) {
  const done = new Map<number, number>();
  const kernels = new Map<string, () => GuestKernel>([
    [
      'chunks',
      () => ({
        *vcpuMain(cpu) {
          for (;;) {
            yield compute(us(10), ws);
            done.set(cpu.domid, (done.get(cpu.domid) ?? 0) + 1);
          }
        },
        upcall() {},
      }),
    ],
  ]);
  const { hv } = makeHv({ cpus, kernels });
  let switches = 0;
  hv.trace.subscribe((r) => {
    if (r.type === 'switch' && r.nextDom !== 0x7fff && r.prevDom !== 0x7fff) switches++;
  });
  const doms = Array.from({ length: nGuests }, () => {
    const d = makeDomain(hv, { pages: 8 });
    d.mem.view.setBytes(KERNEL_ENTRY, encodeKernelImage('chunks'));
    hv.initialiseVcpu(d.vcpus[0], { rip: KERNEL_ENTRY, rsp: 0, rsi: 0, rdi: 0 });
    hv.fw.unpauseDomain(d);
    return d;
  });
  hv.runFor(runNs);
  const work = doms.reduce((s, d) => s + (done.get(d.id) ?? 0), 0) * us(10);
  return { hv, work, switches };
}

const fixed = DEFAULT_COSTS.switchNs + DEFAULT_COSTS.tlbRefillNs;
const refill = (bytes: number) => Math.round(bytes / DEFAULT_COSTS.refillBytesPerNs);

describe('context-switch cost model (LRU cache by stack distance)', () => {
  it('working sets that fit in the cache together pay only the fixed switch cost', () => {
    const { work, switches } = run(2, 200 * 1024); // 2 × 200 KiB ≤ 512 KiB
    expect(switches).toBeGreaterThan(90);
    const lost = ms(100) - work;
    // the first stint of each guest is cold (its working set is unknown until it yields)
    expect(lost).toBeGreaterThanOrEqual(switches * fixed);
    expect(lost).toBeLessThanOrEqual((switches + 2) * fixed + 2 * us(10));
  });

  it('once the aggregate exceeds the cache, every switch reloads the whole working set', () => {
    const ws = 256 * 1024; // 3 × 256 KiB > 512 KiB: two others' stints evict all of it
    const { work, switches } = run(3, ws);
    const lost = ms(100) - work;
    const perSwitch = fixed + refill(ws);
    expect(refill(ws)).toBe(131_072);
    // every switch after the first round pays the full refill
    expect(lost).toBeGreaterThanOrEqual((switches - 3) * perSwitch);
    expect(lost).toBeLessThanOrEqual(switches * perSwitch + 3 * us(10));
  });

  it('partial eviction: the excess over the cache is what is reloaded', () => {
    const ws = 300 * 1024; // others touched 300 KiB since it left: 300 + 300 − 512 = 88 KiB missing
    const { work, switches } = run(2, ws);
    const lost = ms(100) - work;
    const perSwitch = fixed + refill(88 * 1024);
    expect(lost).toBeGreaterThanOrEqual((switches - 2) * perSwitch);
    expect(lost).toBeLessThanOrEqual(switches * perSwitch + 2 * us(10) + 2 * refill(ws));
  });

  it('a vCPU alone on its pCPU never switches and loses nothing', () => {
    const { work, switches } = run(2, 256 * 1024, 2);
    expect(switches).toBe(0);
    expect(work).toBeGreaterThanOrEqual(2 * (ms(100) - fixed - us(10)));
  });
});
