/**
 * Lottery scheduling (Waldspurger & Weihl, OSDI '94) — an example policy, written the way a user of
 * xenotype would write one: one file, only @xenotype/core, no change to core. docs/write-a-scheduler.md
 * builds it step by step.
 *
 * Design: each domain holds `tickets` (its weight); every vCPU of the domain holds that many. Each
 * pCPU has a run queue of its runnable vCPUs, the running one included. do_schedule draws a ticket
 * uniformly from the queue's total (from ctx.rng, the pool's seeded stream, so a run is reproducible
 * from its seed) and runs the holder for one quantum. Over n draws a domain's share converges to
 * tickets / total, with a relative error that shrinks like 1/√n. A waking vCPU joins the queue and
 * preempts only an idle pCPU: it waits for the current quantum to end, then wins each draw with odds
 * equal to its share of the queue's tickets. No load balancing: a vCPU stays on the pCPU it was
 * placed on unless its affinity moves it.
 *
 * Choices: no compensation tickets (a vCPU that blocks before its quantum ends is not inflated, so
 * I/O-bound domains get less than their share); no currencies (each vCPU of a domain holds the
 * domain's tickets). The idle unit gets no timer (a wake tickles an idle pCPU).
 *
 * Scheduler id 16: not a Xen id (Xen's run 0–9), the first of the range ≥ 16 we leave to policies
 * that Xen never had. Payload (our own layout), per domain through XEN_DOMCTL_scheduler_op:
 *   struct xenotype_sched_lottery { uint32_t tickets; uint32_t pad; }   (8 bytes, tickets at 0)
 * The quantum is per pool, through XEN_SYSCTL_scheduler_op:
 *   struct xenotype_lottery_ctl { uint64_t quantum; }   (ns, 8 bytes)
 *
 * Invariants: a vCPU is on at most one run queue, its pCPU's, and on it iff runnable or running;
 * every queued vCPU holds ≥ 1 ticket.
 */
import {
  pickByAffinity,
  Errno,
  XEN_DOMCTL_SCHEDOP,
  XEN_SYSCTL_SCHEDOP,
  ms,
  sec,
  struct,
  u32,
  u64,
  us,
  type SchedContext,
  type SchedUnit,
  type SchedulerOps,
} from '@xenotype/core';

export const LOTTERY_SCHED_ID = 16;
export const DEFAULT_TICKETS = 100;
export const MAX_TICKETS = 1_000_000;
export const DEFAULT_QUANTUM = ms(5);
/** Quantum bounds: below 100 µs the draws cost more than they decide; above 1 s shares lurch. */
export const QUANTUM_MIN = us(100);
export const QUANTUM_MAX = sec(1);

export const lotteryParams = struct('struct xenotype_sched_lottery', 8, { tickets: u32(0), pad: u32(4) });
export const lotteryCtl = struct('struct xenotype_lottery_ctl', 8, { quantum: u64(0) });

interface G { ctx: SchedContext; quantum: number } // per pool
interface P { runq: U[] } // per pCPU
interface D { tickets: number } // per domain
interface U { unit: SchedUnit; dom: D; queued: boolean } // per vCPU

const ud = (unit: SchedUnit) => unit.priv as U;
const runqOf = (g: G, unit: SchedUnit) => g.ctx.pdata<P>(unit.res).runq;

function enqueue(g: G, u: U): void {
  if (u.queued) return;
  runqOf(g, u.unit).push(u);
  u.queued = true;
}

function dequeue(g: G, u: U): void {
  if (!u.queued) return;
  const q = runqOf(g, u.unit);
  q.splice(q.indexOf(u), 1);
  u.queued = false;
}

export const lotteryScheduler: SchedulerOps<G, P, D, U> = {
  name: 'Lottery Scheduler',
  optName: 'lottery',
  schedId: LOTTERY_SCHED_ID,
  doc: 'Lottery scheduling (Waldspurger & Weihl 1994): each quantum goes to a random ticket holder; shares follow tickets.',
  domainParams: {
    layout: lotteryParams,
    params: [{ name: 'tickets', field: 'tickets', min: 1, max: MAX_TICKETS, default: DEFAULT_TICKETS, doc: 'share of the CPU, relative to the other domains' }],
  },
  globalParams: {
    layout: lotteryCtl,
    params: [{ name: 'quantum', field: 'quantum', min: QUANTUM_MIN, max: QUANTUM_MAX, default: DEFAULT_QUANTUM, unit: 'ns', doc: 'time between draws' }],
  },

  init: (ctx) => ({ ctx, quantum: DEFAULT_QUANTUM }),
  deinit: () => {},
  allocPdata: () => ({ runq: [] }),
  switchSched: () => {},
  allocDomdata: () => ({ tickets: DEFAULT_TICKETS }),
  allocUdata: (_g, unit, dom) => ({ unit, dom: dom ?? { tickets: 0 }, queued: false }),
  freeUdata: () => {},
  insertUnit: (g, unit) => {
    if (unit.runnable) lotteryScheduler.wake!(g, unit);
  },
  removeUnit: (g, unit) => dequeue(g, ud(unit)),

  wake: (g, unit) => {
    enqueue(g, ud(unit));
    if (g.ctx.curr(unit.res).isIdle) g.ctx.tickle(unit.res);
  },
  sleep: (g, unit) => {
    if (unit.isRunning) g.ctx.tickle(unit.res); // do_schedule drops it from the queue
    else dequeue(g, ud(unit));
  },

  doSchedule: (g, prev, _now, cpu) => {
    if (!prev.isIdle && !prev.runnable) dequeue(g, ud(prev));
    const q = g.ctx.pdata<P>(cpu).runq;
    const total = q.reduce((n, u) => n + u.dom.tickets, 0);
    if (total === 0) return { next: g.ctx.idleUnit(cpu), sliceNs: -1 };
    // draw a ticket; its holder is the vCPU whose range of tickets contains it
    let ticket = g.ctx.rng.int(0, total - 1);
    let i = 0;
    while (ticket >= q[i].dom.tickets) ticket -= q[i++].dom.tickets;
    return { next: q[i].unit, sliceNs: g.quantum };
  },

  pickResource: (g, unit) => pickByAffinity(unit, g.ctx.cpus()),

  adjust: (_g, dom, cmd, buf) => {
    const d = dom.priv as D;
    if (cmd === XEN_DOMCTL_SCHEDOP.getinfo) {
      lotteryParams.write(buf, 0, { tickets: d.tickets, pad: 0 });
      return 0;
    }
    if (cmd !== XEN_DOMCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const tickets = lotteryParams.get(buf, 0, 'tickets');
    if (tickets < 1 || tickets > MAX_TICKETS) return -Errno.EINVAL;
    d.tickets = tickets;
    return 0;
  },

  adjustGlobal: (g, cmd, buf) => {
    if (cmd === XEN_SYSCTL_SCHEDOP.getinfo) {
      lotteryCtl.set(buf, 0, 'quantum', g.quantum);
      return 0;
    }
    if (cmd !== XEN_SYSCTL_SCHEDOP.putinfo) return -Errno.EINVAL;
    const quantum = lotteryCtl.get(buf, 0, 'quantum');
    if (quantum < QUANTUM_MIN || quantum > QUANTUM_MAX) return -Errno.EINVAL;
    g.quantum = quantum;
    return 0;
  },

  dumpCpuState: (g, cpu) => g.ctx.pdata<P>(cpu).runq.map((u) => `d${u.unit.domid}v${u.unit.vcpuId}:${u.dom.tickets}`).join(' '),
};

export default lotteryScheduler;
