/**
 * Round robin — Xen 2.0's sched_rrobin.c (Mark Williamson, 2004).
 *
 * Design: one FIFO run queue per pCPU that, as in Xen 2.0, also holds the running unit. do_schedule
 * moves the previous unit to the tail (if still runnable) and runs the head for `slice`. A waking
 * unit goes to the *head* of its queue but preempts only an idle pCPU, so its wake-up latency is at
 * most the remainder of the current slice. No load balancing: a unit stays on the pCPU it was placed
 * on unless its affinity moves it.
 *
 * Choices: the idle unit gets no timer (Xen 2.0 re-ran the scheduler every slice while idle; a wake
 * tickles an idle pCPU anyway). `slice` is per cpupool (Xen 2.0 had one global rr_slice), set with
 * XEN_SYSCTL_scheduler_op carrying Xen 2.0's `struct rrobin_ctl { u64 slice; }` (ns).
 *
 * Invariants: a unit is on at most one queue; it is on its pCPU's queue iff it is runnable or running.
 */
import {
  pickByAffinity,
  CpuSet,
  Errno,
  XEN_SCHEDULER,
  XEN_SYSCTL_SCHEDOP,
  ms,
  struct,
  u64,
  type PcpuId,
  type SchedUnit,
  type SchedulerOps,
  type SchedContext,
} from '@xenotype/core';

export const RR_DEFAULT_SLICE = ms(10);
/** Lower bound on the slice: Xen 3.0's CTX_MIN-like guard against a timer storm. */
export const RR_MIN_SLICE = 10_000;

/** Xen 2.0 struct rrobin_ctl. */
export const rrobinCtl = struct('struct rrobin_ctl', 8, { slice: u64(0) });

interface G {
  ctx: SchedContext;
  slice: number;
  runq: Map<PcpuId, U[]>;
}
interface U {
  unit: SchedUnit;
  queued: boolean;
}

const udata = (u: SchedUnit) => u.priv as U;

function dequeue(g: G, u: U): void {
  if (!u.queued) return;
  const q = g.runq.get(u.unit.res)!;
  const i = q.indexOf(u);
  if (i >= 0) q.splice(i, 1);
  u.queued = false;
}

export const rrScheduler: SchedulerOps<G, undefined, undefined, U> = {
  name: 'Round-Robin Scheduler',
  optName: 'rr',
  schedId: XEN_SCHEDULER.RROBIN,
  doc: 'Xen 2.0 round robin: per-pCPU FIFO, fixed slice, woken units queued at the head.',
  globalParams: {
    layout: rrobinCtl,
    params: [{ name: 'slice', field: 'slice', min: RR_MIN_SLICE, max: 10_000_000_000, default: RR_DEFAULT_SLICE, unit: 'ns', doc: 'time slice' }],
  },

  init: (ctx) => ({ ctx, slice: RR_DEFAULT_SLICE, runq: new Map() }),
  deinit: () => {},
  allocUdata: (_g, unit) => ({ unit, queued: false }),
  freeUdata: () => {},
  switchSched: (g, cpu) => {
    if (!g.runq.has(cpu)) g.runq.set(cpu, []);
  },
  deinitPdata: (g, _p, cpu) => {
    g.runq.delete(cpu);
  },

  insertUnit: (g, unit) => {
    if (unit.runnable) rrScheduler.wake!(g, unit);
  },
  removeUnit: (g, unit) => dequeue(g, udata(unit)),

  wake: (g, unit) => {
    const u = udata(unit);
    if (u.queued) return;
    g.runq.get(unit.res)!.unshift(u);
    u.queued = true;
    if (g.ctx.curr(unit.res).isIdle) g.ctx.tickle(unit.res);
  },

  sleep: (g, unit) => {
    const u = udata(unit);
    if (unit.isRunning) g.ctx.tickle(unit.res);
    else dequeue(g, u);
  },

  doSchedule: (g, prev, _now, cpu) => {
    const q = g.runq.get(cpu)!;
    if (!prev.isIdle) {
      const p = udata(prev);
      dequeue(g, p);
      if (prev.runnable) {
        q.push(p);
        p.queued = true;
      }
    }
    const head = q[0];
    return head ? { next: head.unit, sliceNs: g.slice } : { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
  },

  pickResource: (g, unit) => pickByAffinity(unit, g.ctx.cpus()),

  migrate: (g, unit, newCpu) => {
    const u = udata(unit);
    const was = u.queued;
    dequeue(g, u);
    if (was) {
      g.runq.get(newCpu)!.push(u);
      u.queued = true;
    }
  },

  adjustGlobal: (g, cmd, u) => {
    if (cmd === XEN_SYSCTL_SCHEDOP.getinfo) {
      rrobinCtl.set(u, 0, 'slice', g.slice);
      return 0;
    }
    const slice = rrobinCtl.get(u, 0, 'slice');
    if (!(slice >= RR_MIN_SLICE && slice <= 10_000_000_000)) return -Errno.EINVAL;
    g.slice = slice;
    return 0;
  },

  dumpSettings: (g) => `rr_slice = ${g.slice} ns`,
  dumpCpuState: (g, cpu) => `runq: ${g.runq.get(cpu)!.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}`).join(' ')}`,
};

export default rrScheduler;
export { CpuSet };
