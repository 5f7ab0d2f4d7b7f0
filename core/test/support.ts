/**
 * Test support for core: a minimal FIFO policy (core tests never import plugins), hypervisors
 * with directly created domains, and a helper that issues a hypercall with its struct laid out in
 * the calling domain's memory, as a guest would.
 */
import {
  DOMID_SELF,
  Hypervisor,
  HYPERVISOR,
  XEN_SCHEDULER,
  abi,
  dispatchHypercall,
  domid,
  type Domain,
  type Field,
  type GuestKernel,
  type HypervisorConfig,
  type SchedUnit,
  type SchedulerOps,
  type Struct,
  type Values,
  type Vcpu,
  type PcpuId,
} from '../src/index';

interface G {
  q: Map<number, SchedUnit[]>;
  ctx: import('../src/index').SchedContext;
}

/** FIFO with a fixed slice, per-pCPU queues: the smallest policy that fills the interface. */
export const fifo: SchedulerOps<G, undefined, undefined, { queued: boolean }> = {
  name: 'test FIFO',
  optName: 'test-fifo',
  schedId: 99,
  init: (ctx) => ({ q: new Map(), ctx }),
  deinit: () => {},
  allocUdata: () => ({ queued: false }),
  freeUdata: () => {},
  switchSched: (g, cpu) => {
    g.q.set(cpu, []);
  },
  pickResource: (g, u) => (u.hardAffinity.and(g.ctx.cpus()).has(u.res) ? u.res : u.hardAffinity.and(g.ctx.cpus()).first()!),
  insertUnit: (g, u) => {
    if (u.runnable) fifo.wake!(g, u);
  },
  removeUnit: (g, u) => {
    const q = g.q.get(u.res)!;
    const i = q.indexOf(u);
    if (i >= 0) q.splice(i, 1);
    (u.priv as { queued: boolean }).queued = false;
  },
  wake: (g, u) => {
    const p = u.priv as { queued: boolean };
    if (p.queued || u.isRunning) return;
    g.q.get(u.res)!.push(u);
    p.queued = true;
    if (g.ctx.curr(u.res).isIdle) g.ctx.tickle(u.res);
  },
  sleep: (g, u) => {
    fifo.removeUnit!(g, u);
    if (u.isRunning) g.ctx.tickle(u.res);
  },
  migrate: (g, u, cpu) => {
    fifo.removeUnit!(g, u);
    void cpu;
  },
  doSchedule: (g, prev, _now, cpu: PcpuId) => {
    const q = g.q.get(cpu)!;
    if (!prev.isIdle && prev.runnable) {
      q.push(prev);
      (prev.priv as { queued: boolean }).queued = true;
    }
    const next = q.shift();
    if (!next) return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
    (next.priv as { queued: boolean }).queued = false;
    return { next, sliceNs: 1_000_000 };
  },
};

export interface TestHv {
  hv: Hypervisor;
  kernels: Map<string, () => GuestKernel>;
}

export function makeHv(over: Omit<Partial<HypervisorConfig>, 'kernels'> & { kernels?: Map<string, () => GuestKernel> } = {}): TestHv {
  const kernels = over.kernels ?? new Map<string, () => GuestKernel>();
  const hv = new Hypervisor({
    cpus: 2,
    memoryMiB: 64,
    scheduler: fifo,
    ...over,
    kernels: (img) => kernels.get(img.name)?.(),
  });
  return { hv, kernels };
}

/** A domain created directly (as the boot builder does), with RAM populated and not yet running. */
export function makeDomain(hv: Hypervisor, opts: { id?: number; pages?: number; vcpus?: number; privileged?: boolean } = {}): Domain {
  const id = opts.id ?? hv.allocDomid()!;
  const d = hv.createDomain(domid(id), hv.domainConfig({ maxVcpus: opts.vcpus ?? 1, privileged: opts.privileged ?? false }));
  if (typeof d === 'number') throw new Error(`createDomain: ${d}`);
  d.mem.maxPages = opts.pages ?? 64;
  if (!hv.mem.populate(d.mem, 0, d.mem.maxPages)) throw new Error('populate failed');
  return d;
}

/** The scratch address tests use for hypercall arguments (gfn 1 of the caller). */
export const ARG = 0x1000;

/** Issue hypercall `nr` from `v` with raw register arguments. */
export function hcall(hv: Hypervisor, v: Vcpu, nr: number, ...args: number[]): number {
  const a = [...args];
  while (a.length < 5) a.push(0);
  return dispatchHypercall(hv, v, nr, a);
}

/** Lay `s` out at ARG in the caller's memory, call (nr, cmd, ARG[, count]), read it back. */
export function op<F extends Record<string, Field>>(
  hv: Hypervisor,
  v: Vcpu,
  nr: keyof typeof HYPERVISOR,
  cmd: number,
  s: Struct<F>,
  vals: Partial<Values<F>>,
  count?: number,
): { rc: number; out: Values<F> } {
  s.init(v.domain.mem.view, ARG, vals);
  const rc = count === undefined ? hcall(hv, v, HYPERVISOR[nr], cmd, ARG) : hcall(hv, v, HYPERVISOR[nr], cmd, ARG, count);
  return { rc, out: s.read(v.domain.mem.view, ARG) };
}

export { abi, DOMID_SELF };
