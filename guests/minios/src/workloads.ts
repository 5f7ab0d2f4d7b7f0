/**
 * Workloads built on MiniOS, each a kernel application taking its parameters from the command line
 * (key=value). Each keeps its own work counter in guest memory (a u64 at the start of a page whose
 * gfn it prints at boot), so results can be read from the guest, not only from the hypervisor.
 */
import { ms, us } from '@xenotype/core';
import type { App, MiniOS } from './minios';

/** A page holding u64 counters: [0] work units done, [1] wake-ups, [2] sum of lateness (ns). */
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

export const WORKLOADS: Record<string, { app: App; doc: string }> = {
  cpuhog: { app: cpuHog, doc: 'CPU-bound: chunk=ns ws=bytes threads=n units=n' },
  interactive: { app: interactive, doc: 'periodic wake-ups: period=ns jitter=ns work=ns ws=bytes' },
  idle: { app: idle, doc: 'boots and waits' },
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
