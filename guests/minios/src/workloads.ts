/**
 * Workloads built on MiniOS, each a kernel application taking its parameters from the command line
 * (key=value). Each keeps its own work counter in guest memory (a u64 at the start of a page whose
 * gfn it prints at boot), so results can be read from the guest, not only from the hypervisor.
 */
import { ms, us } from '@xenotype/core';
import type { App, MiniOS } from './minios';
import type { ThreadOp } from './threads';

/**
 * A page holding u64 counters: [0] work units done, [1] wake-ups, [2] sum of lateness (ns);
 * [3]–[7] are the workload's own (documented with it). Every workload prints `counters@gfn N` at
 * boot, which is how the toolstack finds the page to map.
 */
export class Counters {
  readonly gfn: number;
  constructor(private readonly os: MiniOS) {
    this.gfn = os.pages.alloc();
    os.cpu.mem.setBytes(this.gfn * 4096, new Uint8Array(64));
  }
  add(i: number, n = 1): void {
    const a = this.gfn * 4096 + i * 8;
    this.os.cpu.mem.setU64(a, this.os.cpu.mem.getU64(a) + n);
  }
  get(i: number): number {
    return this.os.cpu.mem.getU64(this.gfn * 4096 + i * 8);
  }
  set(i: number, n: number): void {
    this.os.cpu.mem.setU64(this.gfn * 4096 + i * 8, n);
  }
}

/**
 * CPU-bound: compute in chunks of `chunk` ns touching `ws` bytes, forever (or `units` chunks).
 * One thread per vCPU (`vcpus` of them, default all the guest was given).
 */
export const cpuHog: App = function* (os: MiniOS) {
  const chunk = os.intArg('chunk', ms(1));
  const ws = os.intArg('ws', 64 * 1024);
  const units = os.intArg('units', Infinity);
  const c = new Counters(os);
  os.printk(`cpuhog: chunk=${chunk}ns ws=${ws}B counters@gfn ${c.gfn}`);
  const threads = [];
  const n = os.intArg('threads', 1);
  for (let t = 1; t < n; t++)
    threads.push(
      os.spawn(`hog${t}`, (function* () {
        for (let i = 0; i < units; i++) {
          yield* os.compute(chunk, ws);
          c.add(0);
        }
      })(), t),
    );
  for (let i = 0; i < units; i++) {
    yield* os.compute(chunk, ws);
    c.add(0);
  }
  for (const t of threads) yield* os.join(t);
};

/**
 * Interactive: wake every `period` ns (plus a jitter in [0, jitter) drawn from the domain's random
 * stream), compute `work` ns, sleep again. Counts wake-ups and its own observed lateness.
 */
export const interactive: App = function* (os: MiniOS) {
  const period = os.intArg('period', ms(10));
  const jitter = os.intArg('jitter', ms(1));
  const work = os.intArg('work', ms(1));
  const ws = os.intArg('ws', 16 * 1024);
  const c = new Counters(os);
  os.printk(`interactive: period=${period}ns work=${work}ns counters@gfn ${c.gfn}`);
  let next = os.now() + period;
  for (;;) {
    const target = next + (jitter > 0 ? os.cpu.rdrand() % jitter : 0);
    yield* os.sleepUntil(target);
    c.add(1);
    c.add(2, os.now() - target);
    yield* os.compute(work, ws);
    c.add(0);
    next += period;
    if (next < os.now()) next = os.now() + us(1);
  }
};

/** Does nothing but boot and wait for events (a placeholder domain). */
export const idle: App = function* (os: MiniOS) {
  yield* os.waitFor(os.threadsDone, Infinity);
};

/**
 * Fork bomb (the paper's §4.4 antisocial guest): every thread computes `chunk` ns over `ws` bytes,
 * counts a work unit, then forks another thread (spread over the guest's vCPUs) until `max` threads
 * live — the process table is full — after which each attempt is refused and counted, as fork()
 * failing with EAGAIN. Threads yield after every chunk, as a time-sharing kernel preempts them.
 * Counters: [0] chunks done, [3] threads alive, [4] forks refused.
 */
export const forkBomb: App = function* (os: MiniOS) {
  const chunk = os.intArg('chunk', ms(1));
  const ws = os.intArg('ws', 64 * 1024);
  const max = os.intArg('max', 256);
  const c = new Counters(os);
  os.printk(`forkbomb: chunk=${chunk}ns ws=${ws}B max=${max} counters@gfn ${c.gfn}`);
  let alive = 1;
  let spawned = 0;
  c.set(3, alive);
  const body = function* (): Generator<ThreadOp, void, void> {
    for (;;) {
      yield* os.compute(chunk, ws);
      c.add(0);
      if (alive < max) {
        alive++;
        spawned++;
        c.set(3, alive);
        os.spawn(`fork${spawned}`, body(), spawned % Math.max(1, os.cpus.length));
      } else c.add(4);
      yield* os.yield();
    }
  };
  yield* body();
};

/** First gfn the memory hog populates: far above RAM and the runtime's own windows above it. */
export const MEMHOG_BASE_OFFSET = 1 << 20;

/**
 * Memory hog (§4.4's VM hog): takes all of its own free RAM, then grows by populating fresh frames
 * above RAM `step` pages at a time (XENMEM_populate_physmap), touching every page it holds (a write
 * per page and `touch` ns of CPU), until Xen refuses — the domain is at its reservation (max_pages)
 * or the machine is out of frames. Then, as the paper's hog does on failure, it frees every frame
 * it grew by (XENMEM_decrease_reservation) and starts again. Its own RAM stays taken.
 * Counters: [0] pages touched, [3] pages held above RAM now, [4] refusals, [5] cycles completed.
 */
export const memHog: App = function* (os: MiniOS) {
  const step = Math.max(1, os.intArg('step', 256));
  const touch = os.intArg('touch', us(2));
  const ws = os.intArg('ws', 256 * 1024);
  const c = new Counters(os);
  os.printk(`memhog: step=${step} touch=${touch}ns counters@gfn ${c.gfn}`);
  const mem = () => os.cpu.mem;
  const own: number[] = [];
  while (os.pages.available > 8) own.push(os.pages.alloc());
  const base = os.si.nrPages + MEMHOG_BASE_OFFSET;
  const touchAll = function* (gfns: number[], stamp: number): Generator<ThreadOp, void, void> {
    for (let i = 0; i < gfns.length; i += step) {
      const part = gfns.slice(i, i + step);
      for (const g of part) mem().setU64(g * 4096, stamp);
      yield* os.compute(part.length * touch, ws);
      c.add(0, part.length);
    }
  };
  for (let cycle = 1; ; cycle++) {
    yield* touchAll(own, cycle);
    let held = 0;
    for (;;) {
      const want = Array.from({ length: step }, (_, i) => base + held + i);
      const got = os.pages.populate(want);
      if (got > 0) yield* touchAll(want.slice(0, got), cycle);
      held += got;
      c.set(3, held);
      if (got < step) break;
    }
    c.add(4);
    os.pages.depopulate(Array.from({ length: held }, (_, i) => base + i));
    c.set(3, 0);
    c.add(5);
  }
};

/** A workload parameter: its kind says how a scenario may write it (ns, bytes or a plain integer). */
export interface WorkloadParam {
  name: string;
  kind: 'duration' | 'bytes' | 'int';
  default: number;
  doc: string;
}

export interface WorkloadInfo {
  app: App;
  doc: string;
  /** Parameters a scenario may set (passed on the command line as name=value). */
  params?: WorkloadParam[];
  /** The parameter giving the CPU time of one work unit, when a unit is a fixed amount of CPU. */
  unitParam?: string;
}

export const WORKLOADS: Record<string, WorkloadInfo> = {
  cpuhog: {
    app: cpuHog,
    doc: 'CPU-bound: chunk=ns ws=bytes threads=n units=n',
    unitParam: 'chunk',
    params: [
      { name: 'chunk', kind: 'duration', default: ms(1), doc: 'CPU time of one work unit' },
      { name: 'ws', kind: 'bytes', default: 64 * 1024, doc: 'working set touched while computing' },
      { name: 'threads', kind: 'int', default: 1, doc: 'compute threads (spread over the vCPUs)' },
    ],
  },
  interactive: {
    app: interactive,
    doc: 'periodic wake-ups: period=ns jitter=ns work=ns ws=bytes',
    unitParam: 'work',
    params: [
      { name: 'period', kind: 'duration', default: ms(10), doc: 'time between wake-ups' },
      { name: 'jitter', kind: 'duration', default: ms(1), doc: 'extra delay in [0, jitter) from the domain random stream' },
      { name: 'work', kind: 'duration', default: ms(1), doc: 'CPU time per wake-up (one work unit)' },
      { name: 'ws', kind: 'bytes', default: 16 * 1024, doc: 'working set' },
    ],
  },
  idle: { app: idle, doc: 'boots and waits', params: [] },
  forkbomb: {
    app: forkBomb,
    doc: 'antisocial: threads that compute and keep forking up to max',
    unitParam: 'chunk',
    params: [
      { name: 'chunk', kind: 'duration', default: ms(1), doc: 'CPU time between forks (one work unit)' },
      { name: 'ws', kind: 'bytes', default: 64 * 1024, doc: 'working set of each thread' },
      { name: 'max', kind: 'int', default: 256, doc: 'most threads alive (the process table)' },
    ],
  },
  memhog: {
    app: memHog,
    doc: 'antisocial: grows to its reservation touching every page, frees all on refusal, repeats',
    params: [
      { name: 'step', kind: 'int', default: 256, doc: 'pages populated per request' },
      { name: 'touch', kind: 'duration', default: us(2), doc: 'CPU time to touch one page' },
      { name: 'ws', kind: 'bytes', default: 256 * 1024, doc: 'cache footprint while touching' },
    ],
  },
};

/**
 * Event-channel ping-pong between two domains (a benchmark and a test of the event path).
 * role=pong port=P: answer every event on local port P. role=ping remote=D rport=P rounds=N: bind
 * to D's port P, then send and wait N times; counter [0] counts completed round trips.
 */
export const pingpong: App = function* (os: MiniOS) {
  const c = new Counters(os);
  if (os.args.get('role') === 'pong') {
    const port = os.intArg('port', 0);
    const sig = os.evtchn.signal(port);
    let seen = 0;
    for (;;) {
      seen = yield* os.waitFor(sig, seen);
      os.evtchn.notify(port);
      c.add(0);
    }
  }
  const port = os.evtchn.bindInterdomain(os.intArg('remote', 0), os.intArg('rport', 0));
  const sig = os.evtchn.signal(port);
  yield* os.sleep(1000); // let the notification Xen sets on binding arrive before counting
  let seen = sig.gen;
  const rounds = os.intArg('rounds', 1000);
  for (let i = 0; i < rounds; i++) {
    os.evtchn.notify(port);
    seen = yield* os.waitFor(sig, seen);
    c.add(0);
  }
  os.shutdown();
};

WORKLOADS.pingpong = { app: pingpong, doc: 'event-channel ping-pong: role=ping|pong port rport remote rounds' };

/**
 * Console echo (a PV console client): prints `lines` numbered lines through the console ring with
 * flow control (none is dropped, however small the ring), one every `period` ns, then echoes each
 * line of console input back as "echo: <line>"; input "quit" ends it with a shutdown.
 */
export const echo: App = function* (os: MiniOS) {
  const lines = os.intArg('lines', 3);
  const period = os.intArg('period', 0);
  const con = os.console;
  if (!con) {
    os.printk('echo: no PV console');
    return;
  }
  for (let i = 1; i <= lines; i++) {
    yield* con.write(`line ${i} of ${lines}\n`);
    if (period > 0) yield* os.sleep(period);
  }
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    buf += dec.decode(yield* con.read(), { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === 'quit') {
        yield* con.write('bye\n');
        os.shutdown();
        return;
      }
      yield* con.write(`echo: ${line}\n`);
    }
  }
};

WORKLOADS.echo = {
  app: echo,
  doc: 'PV console: prints lines=n lines (one per period=ns), then echoes input lines until "quit"',
  params: [
    { name: 'lines', kind: 'int', default: 3, doc: 'lines printed at boot' },
    { name: 'period', kind: 'duration', default: 0, doc: 'time between those lines' },
  ],
};
