/**
 * Workloads built on MiniOS, each a kernel application taking its parameters from the command line
 * (key=value). Each keeps its own work counter in guest memory (a u64 at the start of a page whose
 * gfn it prints at boot), so results can be read from the guest, not only from the hypervisor.
 */
import { ms, us } from '@xenotype/core';
import type { App, MiniOS } from './minios';
import type { ThreadOp } from './threads';
import { BlkFront } from './blkfront';
import { NetStack, netConnect } from './netfront';
import { parseIpv4 } from '@xenotype/net';

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
 * One thread per vCPU (`vcpus` of them, default all the guest was given). With `start` > 0 it
 * first sleeps a time in [0, start) drawn from the domain's random stream, so domains that boot
 * together do not run in lockstep (and seeds differ).
 */
export const cpuHog: App = function* (os: MiniOS) {
  const chunk = os.intArg('chunk', ms(1));
  const ws = os.intArg('ws', 64 * 1024);
  const units = os.intArg('units', Infinity);
  const start = os.intArg('start', 0);
  const c = new Counters(os);
  os.printk(`cpuhog: chunk=${chunk}ns ws=${ws}B counters@gfn ${c.gfn}`);
  if (start > 0) yield* os.sleep(os.cpu.rdrand() % start);
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

/**
 * The paper's second antisocial domain (§4.4): "a fork bomb and a VM hog" in one guest — the fork
 * bomb in its threads, the memory hog in a thread of its own. Its counters page is the fork bomb's
 * (printed first); the memory hog keeps its own page too.
 */
export const forkMemHog: App = function* (os: MiniOS) {
  os.spawn('vmhog', yieldAfterCompute(memHog(os)), 0);
  yield* forkBomb(os);
};

/** A thread body that yields to the other threads after each of its compute bursts (as a preemptive kernel would share the CPU). */
function* yieldAfterCompute(body: Generator<ThreadOp, unknown, void>): Generator<ThreadOp, unknown, void> {
  for (let r = body.next(); !r.done; ) {
    const op = r.value;
    yield op;
    if (op.kind === 'compute') yield YIELD_OP;
    r = body.next();
  }
  return undefined;
}

const YIELD_OP: ThreadOp = { kind: 'yield' };

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
      { name: 'start', kind: 'duration', default: 0, doc: 'sleep a random time below this before starting (0: start at once)' },
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
  forkmemhog: {
    app: forkMemHog,
    doc: 'antisocial: a fork bomb and a memory hog in one guest (the paper’s §4.4 CPU and memory domain)',
    unitParam: 'chunk',
    params: [
      { name: 'chunk', kind: 'duration', default: ms(1), doc: 'fork bomb: CPU time between forks (one work unit)' },
      { name: 'ws', kind: 'bytes', default: 256 * 1024, doc: 'working set of each thread' },
      { name: 'max', kind: 'int', default: 256, doc: 'fork bomb: most threads alive' },
      { name: 'step', kind: 'int', default: 256, doc: 'memory hog: pages populated per request' },
      { name: 'touch', kind: 'duration', default: us(2), doc: 'memory hog: CPU time to touch one page' },
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

/**
 * Disk-bound (a VBD client): `depth` threads each issue `size`-byte requests to the guest's first
 * vbd — reads, or writes with probability write/100 — at sequential offsets (one cursor shared by
 * the threads) or, with random=1, at random `size`-aligned offsets drawn from the domain's random
 * stream, within the first `span` bytes (0: the whole disk), computing `work` ns over `ws` bytes
 * after each answer (a database query's processing: the OSDB-like domain of §4.3/§4.4) and pausing
 * `think` ns between requests, for `units` requests in all (default: forever). With `miss` < 100
 * only that percentage of units goes to the disk (drawn from the domain's random stream; the rest
 * hit a buffer cache and only compute). Requests larger than 44 KiB become several ring requests
 * (blkfront splits them). Counters: [0] units completed, [2] sum of the disk requests' latencies
 * (ns, submit to answer), [3] bytes read, [4] bytes written, [5] requests that failed, [6] times
 * the frontend reconnected (a restarted driver domain), [7] disk requests.
 */
function diskApp(name: string, defaults: { size: number; write: number; random: number; depth: number }): App {
  return function* (os: MiniOS) {
    const size = os.intArg('size', defaults.size);
    const writePct = os.intArg('write', defaults.write);
    const random = os.intArg('random', defaults.random) !== 0;
    const depth = Math.max(1, os.intArg('depth', defaults.depth));
    const think = os.intArg('think', 0);
    const work = os.intArg('work', 0);
    const ws = os.intArg('ws', 64 * 1024);
    const miss = os.intArg('miss', 100);
    const units = os.intArg('units', Infinity);
    const spanArg = os.intArg('span', 0);
    const c = new Counters(os);
    os.printk(`${name}: size=${size}B write=${writePct}% random=${+random} depth=${depth} think=${think}ns counters@gfn ${c.gfn}`);
    if (!(Number.isInteger(size) && size > 0 && size % 512 === 0)) return os.printk(`${name}: size must be a positive multiple of 512`);
    const blk = yield* BlkFront.open(os);
    const sectors = size / 512;
    const span = Math.min(spanArg > 0 ? Math.floor(spanArg / 512) : Infinity, blk.info!.sectors);
    const slots = Math.floor(span / sectors);
    if (slots < 1) return os.printk(`${name}: the disk holds no ${size}-byte request`);
    const buf = new Uint8Array(size).fill(os.domid & 0xff);
    let cursor = 0;
    let started = 0;
    const worker = function* (): Generator<ThreadOp, void, void> {
      while (started < units) {
        started++;
        if (miss >= 100 || os.cpu.rdrand() % 100 < miss) {
          const slot = random ? os.cpu.rdrand() % slots : cursor++ % slots;
          const write = writePct > 0 && os.cpu.rdrand() % 100 < writePct;
          const t0 = os.now();
          const r = write ? yield* blk.tryWrite(slot * sectors, buf) : yield* blk.tryRead(slot * sectors, sectors);
          c.add(2, os.now() - t0);
          c.add(write ? 4 : 3, size);
          if (!r.ok) c.add(5);
          c.set(6, Math.max(0, blk.stats.connects - 1));
          c.add(7);
        }
        if (work > 0) yield* os.compute(work, ws);
        c.add(0);
        if (think > 0) yield* os.sleep(think);
      }
    };
    const threads = Array.from({ length: depth - 1 }, (_, i) => os.spawn(`${name}${i + 1}`, worker()));
    yield* worker();
    for (const t of threads) yield* os.join(t);
  };
}

export const diskBound: App = diskApp('diskbound', { size: 4096, write: 0, random: 0, depth: 1 });

/**
 * Disk hog (the paper's §4.4 antisocial disk domain, "a sustained dd disk-bandwidth hog"): the
 * same engine with dd's shape — sequential 64 KiB writes, 8 in flight, never pausing.
 */
export const diskHog: App = diskApp('diskhog', { size: 65536, write: 100, random: 0, depth: 8 });

const DISK_PARAMS = (d: { size: number; write: number; random: number; depth: number }): WorkloadParam[] => [
  { name: 'size', kind: 'bytes', default: d.size, doc: 'bytes per request (a multiple of 512)' },
  { name: 'write', kind: 'int', default: d.write, doc: 'percentage of requests that are writes' },
  { name: 'random', kind: 'int', default: d.random, doc: '1: random offsets; 0: sequential' },
  { name: 'depth', kind: 'int', default: d.depth, doc: 'requests in flight (threads)' },
  { name: 'think', kind: 'duration', default: 0, doc: 'pause after each request, per thread' },
  { name: 'span', kind: 'bytes', default: 0, doc: 'bytes of the disk used (0: all of it)' },
  { name: 'work', kind: 'duration', default: 0, doc: 'CPU time after each request, per thread (a query’s processing)' },
  { name: 'ws', kind: 'bytes', default: 64 * 1024, doc: 'working set while computing' },
  { name: 'miss', kind: 'int', default: 100, doc: 'percentage of units that go to the disk (the rest hit a buffer cache: work only)' },
];

WORKLOADS.diskbound = {
  app: diskBound,
  doc: 'disk-bound: size=bytes write=% random=0|1 depth=n think=ns span=bytes units=n on the first vbd',
  params: DISK_PARAMS({ size: 4096, write: 0, random: 0, depth: 1 }),
};

WORKLOADS.diskhog = {
  app: diskHog,
  doc: 'antisocial disk hog: sequential 64 KiB writes, 8 in flight (dd)',
  params: DISK_PARAMS({ size: 65536, write: 100, random: 0, depth: 8 }),
};

/**
 * An IPv4 address argument: a dotted quad, or an integer n meaning 10.0.(n >> 8).(n & 255) (so a
 * scenario, whose parameters are numbers, can give one).
 */
function ipArg(os: MiniOS, name: string, dflt: string): number {
  const v = os.args.get(name) ?? dflt;
  if (/^\d+$/.test(v)) return (0x0a000000 + (Number(v) & 0xffff)) >>> 0;
  const ip = parseIpv4(v);
  if (ip === null) throw new Error(`bad address for ${name}: "${v}"`);
  return ip;
}

/**
 * Network request/response server (the paper's §4.3 concurrent servers, in miniature): answers
 * every UDP datagram on `port` of its first vif, after `work` ns of CPU per request over `ws` bytes
 * (a web server's per-request work), with a reply of `reply` bytes (0: echo the request) that
 * starts with the request's first 8 bytes. Address `ip`.
 * Counters: [0] requests served, [3] bytes received, [4] datagrams dropped (no queue room).
 */
export const udpServer: App = function* (os: MiniOS) {
  const port = os.intArg('port', 7);
  const work = os.intArg('work', us(50));
  const ws = os.intArg('ws', 64 * 1024);
  const replySize = os.intArg('reply', 0);
  const c = new Counters(os);
  const ip = ipArg(os, 'ip', '1');
  os.printk(`udpserver: port=${port} work=${work}ns counters@gfn ${c.gfn}`);
  const dev = yield* netConnect(os, { deadline: os.now() + ms(1000), rxBuffers: 256 });
  const st = new NetStack(os, dev, { ip });
  st.bind(port);
  for (;;) {
    const d = (yield* st.udpRecv(port))!;
    c.add(3, d.payload.length);
    if (work > 0) yield* os.compute(work, ws);
    let reply = d.payload;
    if (replySize > 0) {
      reply = new Uint8Array(replySize);
      reply.set(d.payload.subarray(0, Math.min(8, replySize)));
    }
    yield* st.udpSend(d.src, port, d.sport, reply);
    c.add(0);
    c.set(4, st.stats.udpDropped);
  }
};

/**
 * Network load generator: keeps `depth` UDP requests of `size` bytes in flight to
 * `server`:`port` (one thread each, each waiting for its answer, at most `timeout` ns, then
 * `think` ns before the next). Address `ip`. Counters: [0] answers, [2] sum of response times (ns),
 * [3] timeouts, [4] longest response time (ns), [5] requests sent.
 */
export const udpClient: App = function* (os: MiniOS) {
  const port = os.intArg('port', 7);
  const size = Math.max(8, os.intArg('size', 64));
  const depth = Math.max(1, os.intArg('depth', 1));
  const timeout = os.intArg('timeout', ms(100));
  const think = os.intArg('think', 0);
  const units = os.intArg('units', Infinity);
  const c = new Counters(os);
  const ip = ipArg(os, 'ip', '2');
  const server = ipArg(os, 'server', '1');
  os.printk(`udpclient: size=${size} depth=${depth} counters@gfn ${c.gfn}`);
  const dev = yield* netConnect(os, { deadline: os.now() + ms(1000), rxBuffers: 256 });
  const st = new NetStack(os, dev, { ip });
  let sent = 0;
  const worker = function* (k: number): Generator<ThreadOp, void, void> {
    const sport = 20000 + k;
    st.bind(sport);
    while (sent < units) {
      const seq = sent++;
      const req = new Uint8Array(size);
      new DataView(req.buffer).setFloat64(0, seq);
      const t0 = os.now();
      c.add(5);
      yield* st.udpSend(server, sport, port, req);
      for (;;) {
        const d = yield* st.udpRecv(sport, t0 + timeout);
        if (d === null) {
          c.add(3);
          break;
        }
        if (d.payload.length < 8 || new DataView(d.payload.buffer, d.payload.byteOffset).getFloat64(0) !== seq) continue; // a late answer
        const rt = os.now() - t0;
        c.add(0);
        c.add(2, rt);
        if (rt > c.get(4)) c.set(4, rt);
        break;
      }
      if (think > 0) yield* os.sleep(think);
    }
  };
  const threads = Array.from({ length: depth - 1 }, (_, i) => os.spawn(`udpclient${i + 1}`, worker(i + 1)));
  yield* worker(0);
  for (const t of threads) yield* os.join(t);
};

const NET_ADDR_DOC = 'a dotted quad, or n for 10.0.(n >> 8).(n & 255)';

WORKLOADS.udpserver = {
  app: udpServer,
  doc: 'network server: answers UDP requests on port=n after work=ns of CPU each (first vif; ip=addr)',
  unitParam: 'work',
  params: [
    { name: 'port', kind: 'int', default: 7, doc: 'UDP port served' },
    { name: 'work', kind: 'duration', default: us(50), doc: 'CPU time per request (one work unit)' },
    { name: 'ws', kind: 'bytes', default: 64 * 1024, doc: 'working set while computing' },
    { name: 'reply', kind: 'bytes', default: 0, doc: 'reply size (0: echo the request)' },
    { name: 'ip', kind: 'int', default: 1, doc: `our address: ${NET_ADDR_DOC}` },
  ],
};

WORKLOADS.udpclient = {
  app: udpClient,
  doc: 'network load generator: depth=n UDP requests of size=bytes in flight to server=addr port=n',
  params: [
    { name: 'server', kind: 'int', default: 1, doc: `the server's address: ${NET_ADDR_DOC}` },
    { name: 'port', kind: 'int', default: 7, doc: 'UDP port' },
    { name: 'size', kind: 'bytes', default: 64, doc: 'request size (at least 8)' },
    { name: 'depth', kind: 'int', default: 1, doc: 'requests in flight (threads)' },
    { name: 'timeout', kind: 'duration', default: ms(100), doc: 'how long to wait for an answer' },
    { name: 'think', kind: 'duration', default: 0, doc: 'pause after each answer, per thread' },
    { name: 'ip', kind: 'int', default: 2, doc: `our address: ${NET_ADDR_DOC}` },
  ],
};
