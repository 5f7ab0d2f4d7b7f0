/**
 * Trace to a file in the Chrome/Perfetto trace-event JSON format (the JSON Object format:
 * `{"displayTimeUnit":"ns","traceEvents":[…]}`), which ui.perfetto.dev and chrome://tracing open.
 * Streamed: events are appended to a buffered file as records arrive; only per-pCPU and per-vCPU
 * state (the open stint, runnable counts) is kept in memory.
 *
 * Layout: each run (each attached bus) is one process, "pCPUs" (or "pCPUs (<run>)"), with one thread
 * per pCPU ("pCPU 0", tid cpu+1) and a "xen" thread (tid 0) for records tied to no pCPU.
 *  - X (complete) slices: one per vCPU stint on a pCPU (switched in → switched out), named like
 *    "d3v0", args {domain, vcpu, slice_ns (granted at switch-in, -1: none), decisions (1 + times
 *    the policy re-picked it), to (the runstate it left for)}. Idle time is the gap between
 *    slices. Stints still running when the run ends are closed at its last record.
 *  - i (instant) events, thread scope: wake, block, sleep, yield (on the vCPU's pCPU); evtchn_send
 *    (on the pCPU where the sender runs, else "xen"); dom_add/dom_rem/adjdom/shutdown/crash/
 *    pool_move/console/policy_error and policy records (on their pCPU, else "xen").
 *  - C (counter) events "runnable": per pCPU, the vCPUs that are runnable (not running) and
 *    assigned to it (args cpu0, cpu1, …), written when a count changes (once per instant).
 *  - M (metadata) events name the processes and threads and set their sort order.
 * Timestamps and durations are µs with ns precision, written as exact decimals ("1234.567").
 *
 * Invariants: slices on a pCPU track never overlap (a pCPU runs one vCPU at a time); equal runs give
 * equal bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Ns, TraceBus, TraceRecord } from '@xenotype/core';

const IDLE = 32767;
const RUNSTATE = ['running', 'runnable', 'blocked', 'offline'];

/** Integer ns as µs with three decimals, exactly. */
export function usec(ns: Ns): string {
  const neg = ns < 0;
  const a = Math.abs(ns);
  const s = `${Math.floor(a / 1000)}.${String(a % 1000).padStart(3, '0')}`;
  return neg ? `-${s}` : s;
}

interface Stint {
  dom: number;
  vcpu: number;
  start: Ns;
  slice: number;
  decisions: number;
}

/** The state of one run (one process). */
class Run {
  readonly stint = new Map<number, Stint>();
  /** Slice granted by the latest switch record on a pCPU (for the stint that starts next). */
  readonly granted = new Map<number, number>();
  readonly threads = new Set<number>();
  /** vCPU (dom << 16 | vcpu) → runstate and pCPU, for runnable counts and evtchn placement. */
  readonly vcpus = new Map<number, { state: number; cpu: number }>();
  runnable: number[] = [];
  countsDirty = false;
  lastT = 0;
  constructor(
    readonly pid: number,
    readonly name: string,
  ) {}
}

export class PerfettoTraceWriter {
  readonly path: string;
  private fd: number;
  private buf: string[] = [];
  private size = 0;
  private first = true;
  private runs: Run[] = [];
  private run: Run | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Events written. */
  records = 0;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, 'w');
    this.raw('{"displayTimeUnit":"ns","otherData":{"generator":"xenotype"},"traceEvents":[\n');
  }

  /** Write every record of `bus` as a new process (named after `run` when given). */
  attach(bus: TraceBus, run?: string): this {
    this.detach();
    const r = new Run(this.runs.length + 1, run === undefined ? 'pCPUs' : `pCPUs (${run})`);
    this.runs.push(r);
    this.run = r;
    this.meta(r.pid, 0, 'process_name', { name: r.name });
    this.meta(r.pid, 0, 'process_sort_index', { sort_index: r.pid });
    this.thread(r, -1);
    this.unsubscribe = bus.subscribe((rec) => this.write(rec));
    return this;
  }

  // ------------------------------------------------------------------ output

  private raw(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 16) this.flush();
  }

  private event(json: string): void {
    this.raw(this.first ? json : ',\n' + json);
    this.first = false;
    this.records++;
  }

  private meta(pid: number, tid: number, name: string, args: Record<string, string | number>): void {
    this.event(`{"ph":"M","pid":${pid},"tid":${tid},"name":"${name}","args":${JSON.stringify(args)}}`);
  }

  private thread(r: Run, cpu: number): number {
    const tid = cpu + 1;
    if (!r.threads.has(tid)) {
      r.threads.add(tid);
      this.meta(r.pid, tid, 'thread_name', { name: cpu < 0 ? 'xen' : `pCPU ${cpu}` });
      this.meta(r.pid, tid, 'thread_sort_index', { sort_index: tid });
      if (cpu >= 0) while (r.runnable.length <= cpu) r.runnable.push(0);
    }
    return tid;
  }

  private instant(r: Run, t: Ns, cpu: number, cat: string, name: string, args: Record<string, unknown>): void {
    const tid = this.thread(r, cpu);
    this.event(`{"ph":"i","s":"t","pid":${r.pid},"tid":${tid},"ts":${usec(t)},"cat":"${cat}","name":${JSON.stringify(name)},"args":${JSON.stringify(args)}}`);
  }

  private closeStint(r: Run, cpu: number, t: Ns, to: number, key = -1): void {
    const s = r.stint.get(cpu);
    if (!s || (key >= 0 && ((s.dom << 16) | s.vcpu) !== key)) return;
    r.stint.delete(cpu);
    if (t <= s.start) return; // a zero-length stint is no slice
    const tid = this.thread(r, cpu);
    const to_ = to >= 0 ? `,"to":"${RUNSTATE[to]}"` : '';
    this.event(
      `{"ph":"X","pid":${r.pid},"tid":${tid},"ts":${usec(s.start)},"dur":${usec(t - s.start)},"cat":"vcpu","name":"d${s.dom}v${s.vcpu}","args":{"domain":${s.dom},"vcpu":${s.vcpu},"slice_ns":${s.slice},"decisions":${s.decisions}${to_}}}`,
    );
  }

  private counters(r: Run): void {
    if (!r.countsDirty) return;
    r.countsDirty = false;
    const args = r.runnable.map((n, c) => `"cpu${c}":${n}`).join(',');
    this.event(`{"ph":"C","pid":${r.pid},"tid":0,"ts":${usec(r.lastT)},"name":"runnable","args":{${args}}}`);
  }

  private setVcpu(r: Run, key: number, state: number, cpu: number): void {
    const old = r.vcpus.get(key);
    if (old && old.state === 1 && old.cpu >= 0) r.runnable[old.cpu]--;
    if (state === 1 && cpu >= 0) {
      this.thread(r, cpu);
      r.runnable[cpu]++;
    }
    if (old?.state === 1 || state === 1) r.countsDirty = true;
    r.vcpus.set(key, { state, cpu });
  }

  // ------------------------------------------------------------------ records

  write(rec: TraceRecord): void {
    const r = this.run;
    if (!r) return;
    if (rec.t !== r.lastT) {
      this.counters(r);
      r.lastT = rec.t;
    }
    switch (rec.type) {
      case 'switch':
        r.granted.set(rec.cpu, rec.slice);
        break;
      case 'runstate': {
        const key = (rec.dom << 16) | rec.vcpu;
        if (rec.dom !== IDLE) {
          if (rec.from === 0) this.closeStint(r, rec.cpu, rec.t, rec.to, key);
          if (rec.to === 0) {
            this.thread(r, rec.cpu);
            r.stint.set(rec.cpu, { dom: rec.dom, vcpu: rec.vcpu, start: rec.t, slice: r.granted.get(rec.cpu) ?? -1, decisions: 1 });
          }
          this.setVcpu(r, key, rec.to, rec.cpu);
        }
        break;
      }
      case 'continue': {
        const s = r.stint.get(rec.cpu);
        if (s) s.decisions++;
        break;
      }
      case 'migrate': {
        const key = (rec.dom << 16) | rec.vcpu;
        const v = r.vcpus.get(key);
        if (v) this.setVcpu(r, key, v.state, rec.to);
        this.instant(r, rec.t, rec.from, 'sched', `migrate d${rec.dom}v${rec.vcpu}`, { domain: rec.dom, vcpu: rec.vcpu, from: rec.from, to: rec.to });
        break;
      }
      case 'wake':
      case 'block':
      case 'sleep':
      case 'yield':
        this.instant(r, rec.t, rec.cpu, rec.type === 'wake' ? 'wake' : 'sched', `${rec.type} d${rec.dom}v${rec.vcpu}`, { domain: rec.dom, vcpu: rec.vcpu });
        break;
      case 'evtchn_send': {
        let cpu = -1;
        for (const [c, s] of r.stint) if (s.dom === rec.dom && (cpu < 0 || c < cpu)) cpu = c;
        this.instant(r, rec.t, cpu, 'evtchn', `evtchn d${rec.dom}:${rec.port} → d${rec.rdom}:${rec.rport}`, { domain: rec.dom, port: rec.port, remote_domain: rec.rdom, remote_port: rec.rport });
        break;
      }
      case 'dom_add':
      case 'dom_rem':
      case 'adjdom':
        this.instant(r, rec.t, -1, 'domain', `${rec.type} d${rec.dom}`, { domain: rec.dom });
        break;
      case 'pool_move':
        this.instant(r, rec.t, -1, 'domain', `pool_move d${rec.dom}`, { domain: rec.dom, from: rec.from, to: rec.to });
        break;
      case 'shutdown':
        this.instant(r, rec.t, -1, 'domain', `shutdown d${rec.dom}`, { domain: rec.dom, vcpu: rec.vcpu, reason: rec.reason });
        break;
      case 'crash':
        this.instant(r, rec.t, -1, 'domain', `crash d${rec.dom}`, { domain: rec.dom, why: rec.why });
        break;
      case 'console':
        this.instant(r, rec.t, -1, 'console', `console d${rec.dom}`, { domain: rec.dom, text: rec.text });
        break;
      case 'policy':
        this.instant(r, rec.t, rec.cpu, 'policy', `${rec.policy}:${rec.name}`, { event: rec.event, data: rec.data });
        break;
      case 'policy_error':
        this.instant(r, rec.t, -1, 'policy', `policy error ${rec.policy}.${rec.hook}`, { pool: rec.pool, message: rec.message });
        break;
      case 'hypercall':
        break; // too many to draw; the JSON-lines and xentrace exports carry them
    }
  }

  // ------------------------------------------------------------------ end

  /** End the current run: close its open stints at its last record, write pending counters. */
  private endRun(): void {
    const r = this.run;
    if (!r) return;
    this.counters(r);
    for (const cpu of [...r.stint.keys()].sort((a, b) => a - b)) this.closeStint(r, cpu, r.lastT, -1);
    this.run = null;
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.endRun();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  close(): void {
    this.detach();
    this.raw('\n]}\n');
    this.flush();
    closeSync(this.fd);
  }
}
