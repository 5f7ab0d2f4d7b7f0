/**
 * Trace to a file in xentrace's binary format (Xen 4.17 `struct t_rec`, public/trace.h), streamed:
 * records go to per-pCPU buffers, and each flush writes one TRC_TRACE_CPU_CHANGE window per pCPU
 * (`{cpu, window_size}` then that many bytes of the pCPU's records), as xentrace's poll loop copies
 * its per-CPU rings. Flushes happen every `pollNs` of virtual time (xentrace -s) or when
 * `flushBytes` are buffered, so memory stays bounded; the file starts with a CPU_CHANGE record.
 * Xen's own `xenalyze` reads the result (test/xenalyze.test.ts compares its runstate totals with
 * the hypervisor's accounting to the nanosecond).
 *
 * Records, as Xen 4.17 emits them (xen/common/sched/core.c, xen/common/trace.c):
 *  - runstate      → TRC_SCHED_RUNSTATE_CHANGE | old<<8 | new<<4, one word dom<<16|vcpu
 *  - switch        → SWITCH_INFPREV (dom, vcpu, ns ran), SWITCH_INFNEXT (dom, vcpu, ns waited,
 *                    slice or 0xffffffff), SWITCH (prev dom, vcpu, next dom, vcpu) — the framework
 *                    emits it before the two runstate changes, Xen's order
 *  - continue      → SWITCH_INFCONT (dom, vcpu, ns ran, slice), CONTINUE_RUNNING (dom<<16|vcpu)
 *  - wake / sleep / block / yield → TRC_SCHED_WAKE / SLEEP / BLOCK / YIELD (dom, vcpu)
 *  - dom_add / dom_rem / adjdom   → TRC_SCHED_DOM_ADD / DOM_REM / ADJDOM (domid)
 *  - shutdown      → TRC_SCHED_SHUTDOWN (dom, vcpu, reason); not after a crash of that domain at the
 *                    same instant (Xen's domain_crash traces nothing; only SCHEDOP_shutdown does)
 *  - policy        → TRC_SCHED_CLASS_EVT(traceClass, event) with the policy's words
 *  - hypercall     → TRC_PV_HYPERCALL_V2: op with Xen's argument-present bits, and of the
 *                    arguments Xen records the first one when Xen records it (the record carries
 *                    only a0); it is written after the handler's own records (the bus emits it
 *                    with the result), where Xen writes it before
 *  - not written: migrate and pool_move (Xen 4.17 has no generic record: xenalyze derives pCPU
 *    residency from where runstate records appear), evtchn_send (Xen 4.17 traces no event-channel
 *    operation), console, crash, policy_error (no Xen record; an invented id would be an unknown
 *    record to every Xen tool). Use the JSON-lines or Perfetto export for those.
 *
 * Time: TSC = ⌊ns × tscHz / 10⁹⌋ exactly (the hypervisor's rdtsc; at the default 2 GHz every ns is
 * 2 cycles). Records at virtual time 0 get TSC 0, which xenalyze treats as "no time yet".
 *
 * Records at one TSC on several pCPUs: xenalyze merges pCPUs by TSC, and at equal TSC it first
 * reads the pCPU whose previous record it read last. A vCPU switched out on one pCPU and picked by
 * another in the same nanosecond (or woken there) has records on both at one TSC, and their order
 * matters. The writer (1) puts a vCPU's free records (wake, sleep, non-running runstate changes) on
 * the pCPU of its running-related records at that instant, and (2) when one vCPU's records still
 * span pCPUs, orders those pCPUs as the records were emitted (a topological order) and writes a
 * TRC_TRACE_WRAP_BUFFER filler record, which xenalyze skips, on each but the last at TSCs x−1, x−2, …
 * — in the gap since the previous instant, where no record of any pCPU lies — so xenalyze reads
 * them in that order. Runstate records keep their exact TSCs. An order that cannot be produced (no
 * free TSCs, a cycle, a pCPU without records yet) is counted in `stats.unordered`: 0 in every test
 * scenario, including a policy that hands vCPUs along all four pCPUs every millisecond.
 *
 * Invariants: records of one pCPU are written in emission order; TSCs on a pCPU never decrease;
 * equal runs give equal bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Hypervisor, Ns, TraceBus, TraceRecord } from '@xenotype/core';

/** Event ids (public/trace.h, Xen 4.17). */
export const TRC = {
  ALL: 0x0ffff000,
  GEN: 0x0001f000,
  SCHED: 0x0002f000,
  PV: 0x0020f000,
  LOST_RECORDS: 0x0001f001,
  TRACE_WRAP_BUFFER: 0x0001f002,
  TRACE_CPU_CHANGE: 0x0001f003,
  SCHED_MIN: 0x00021000,
  SCHED_CLASS: 0x00022000,
  SCHED_VERBOSE: 0x00028000,
  SCHED_RUNSTATE_CHANGE: 0x00021001,
  SCHED_CONTINUE_RUNNING: 0x00021002,
  SCHED_DOM_ADD: 0x00028001,
  SCHED_DOM_REM: 0x00028002,
  SCHED_SLEEP: 0x00028003,
  SCHED_WAKE: 0x00028004,
  SCHED_YIELD: 0x00028005,
  SCHED_BLOCK: 0x00028006,
  SCHED_SHUTDOWN: 0x00028007,
  SCHED_ADJDOM: 0x00028009,
  SCHED_SWITCH: 0x0002800a,
  SCHED_SWITCH_INFPREV: 0x0002800e,
  SCHED_SWITCH_INFNEXT: 0x0002800f,
  SCHED_SHUTDOWN_CODE: 0x00028010,
  SCHED_SWITCH_INFCONT: 0x00028011,
  PV_HYPERCALL_V2: 0x0020100d,
} as const;

/** TRC_SCHED_CLASS_EVT(cls, ev): bits [11:9] the scheduler id, [8:0] the event. */
export const schedClassEvent = (cls: number, ev: number): number => (TRC.SCHED_CLASS | ((cls & 7) << 9) | (ev & 0x1ff)) >>> 0;

/** TRC_SCHED_RUNSTATE_CHANGE with old and new runstate in the event id. */
export const runstateEvent = (from: number, to: number): number => (TRC.SCHED_RUNSTATE_CHANGE | ((from & 3) << 8) | ((to & 3) << 4)) >>> 0;

/** Which hypercall arguments Xen 4.17's __trace_hypercall records (xen/common/trace.c), by op. */
const HYPERCALL_ARGS: Record<number, number[]> = {
  1: [1], // mmu_update: count
  13: [1], // multicall: count
  20: [0, 2], // grant_table_op: cmd, count
  24: [0, 1], // vcpu_op: cmd, vcpuid
  26: [1], // mmuext_op: count
  29: [0], // sched_op: cmd
};

/** Xen's event filter (__trace_var): the mask must share the event's bits, class and subclass. */
export function eventPasses(mask: number, event: number): boolean {
  if ((mask & event) === 0) return false;
  if (((mask >>> 16) & (event >>> 16)) === 0) return false;
  return ((mask >>> 12) & 0xf & ((event >>> 12) & 0xf)) !== 0;
}

export interface XentraceOptions {
  /** TSC frequency (the hypervisor's tscHz). Default 2 GHz. */
  tscHz?: number;
  /** Number of pCPUs: the first flush writes a window for each, so xenalyze activates them all. */
  pcpus?: number;
  /** Event mask, as xentrace -e / Xen's tevt_mask. Default TRC_ALL. */
  mask?: number;
  /** Flush every this much virtual time (xentrace -s, default 100 ms). */
  pollNs?: Ns;
  /** Flush when this many bytes are buffered (default 256 KiB). */
  flushBytes?: number;
}

export interface XentraceStats {
  /** Records written (CPU_CHANGE and filler records not included). */
  records: number;
  bytes: number;
  windows: number;
  /** WRAP_BUFFER fillers written to order same-TSC records across pCPUs. */
  fillers: number;
  /** Instants where one vCPU's runstate records span pCPUs (a same-TSC hand-off). */
  crossCpu: number;
  /** Instants whose cross-pCPU order could not be guaranteed (see the header). */
  unordered: number;
  /** pCPUs first seen after the first flush (give `pcpus` to avoid them). */
  lateCpus: number;
  /** First and last TSC written per pCPU (-1: none). */
  firstTsc: number[];
  lastTsc: number[];
}

/** A pCPU's current vCPU, for `mark`. */
export interface Occupant {
  cpu: number;
  dom: number;
  vcpu: number;
}

/** The current vCPU of every pCPU of `hv`. */
export function occupants(hv: Hypervisor): Occupant[] {
  return hv.fw.pcpus.map((pc) => ({ cpu: pc.id, dom: pc.curr.domain.id, vcpu: pc.curr.id }));
}

/** Record flags. */
const ANCHORED = 1; // must stay on its pCPU (the vCPU runs there)
const STATEFUL = 2; // changes a vCPU's runstate as xenalyze tracks it

/** One xentrace record before placement. */
interface XRec {
  cpu: number;
  event: number;
  data: number[];
  /** dom << 16 | vcpu of the vCPU it is about, or -1. */
  vkey: number;
  flags: number;
}

const u32 = (x: number): number => x >>> 0;
const dv = (dom: number, vcpu: number): number => ((dom << 16) | (vcpu & 0xffff)) >>> 0;

/** A growable buffer of one pCPU's records since the last flush (records are whole u32 words). */
class CpuBuffer {
  words = new Uint32Array(1024);
  /** Length in words. */
  len = 0;
  first = -1;
  last = -1;

  /** Append one record; returns its size in bytes. */
  record(event: number, tsc: number | null, data: readonly number[]): number {
    const n = 1 + (tsc === null ? 0 : 2) + data.length;
    if (this.len + n > this.words.length) {
      const w = new Uint32Array(Math.max(this.words.length * 2, this.len + n));
      w.set(this.words.subarray(0, this.len));
      this.words = w;
    }
    const w = this.words;
    let o = this.len;
    w[o++] = (event & 0x0fffffff) | (data.length << 28) | (tsc === null ? 0 : 0x80000000);
    if (tsc !== null) {
      w[o++] = tsc % 0x100000000;
      w[o++] = Math.floor(tsc / 0x100000000);
      if (this.first < 0) this.first = tsc;
      this.last = tsc;
    }
    for (let i = 0; i < data.length; i++) w[o++] = data[i];
    this.len = o;
    return 4 * n;
  }

  /** The records as little-endian bytes. */
  bytes(): Buffer {
    const b = Buffer.from(this.words.buffer, this.words.byteOffset, this.len * 4);
    return LITTLE_ENDIAN ? b : swapped(b);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const swapped = (b: Buffer): Buffer => Buffer.from(b).swap32();

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** ns → TSC at `hz`, exactly: ⌊t·hz/10⁹⌋. */
export function tscConverter(hz: number): (t: Ns) => number {
  if (!(Number.isInteger(hz) && hz > 0)) throw new RangeError('tscHz must be a positive integer');
  const g = gcd(hz, 1e9);
  const a = hz / g;
  const b = 1e9 / g;
  if (b === 1) return (t) => t * a;
  if (a * b < 2 ** 53)
    return (t) => {
      const q = Math.floor(t / b);
      return q * a + Math.floor(((t - q * b) * a) / b);
    };
  const A = BigInt(a);
  const B = BigInt(b);
  return (t) => Number((BigInt(t) * A) / B);
}

export class XentraceWriter {
  readonly path: string;
  private fd: number;
  private readonly tsc: (t: Ns) => number;
  private readonly mask: number;
  private readonly pollNs: Ns;
  private readonly flushBytes: number;
  private ncpus: number;
  private bufs: CpuBuffer[] = [];
  private buffered = 0;
  private flushedOnce = false;
  private lastFlushT = 0;
  private unsubscribe: (() => void) | null = null;

  // the current instant (records sharing one TSC)
  private instTsc = -1;
  private instT = 0;
  private inst: XRec[] = [];
  /** TSC of the previous instant written (any pCPU). */
  private prevTsc = -1;
  /** The pCPU each vCPU was last seen running on (for its records that name no pCPU). */
  private vcpuCpu = new Map<number, number>();
  /** Domains crashed at the current instant (their shutdown record is Xen's domain_crash: untraced). */
  private crashed = new Set<number>();

  /** pCPUs that have records in the file or buffers (a filler must never be a pCPU's first TSC). */
  private written: boolean[] = [];

  readonly stats: XentraceStats = { records: 0, bytes: 0, windows: 0, fillers: 0, crossCpu: 0, unordered: 0, lateCpus: 0, firstTsc: [], lastTsc: [] };

  constructor(path: string, opts: XentraceOptions = {}) {
    this.path = path;
    this.tsc = tscConverter(opts.tscHz ?? 2_000_000_000);
    this.mask = opts.mask ?? TRC.ALL;
    this.pollNs = opts.pollNs ?? 100_000_000;
    this.flushBytes = opts.flushBytes ?? 256 * 1024;
    this.ncpus = Math.max(1, opts.pcpus ?? 1);
    for (let c = 0; c < this.ncpus; c++) this.addCpu(c);
    this.fd = openSync(path, 'w');
  }

  get records(): number {
    return this.stats.records;
  }

  /** Write every record of `bus` from now on. */
  attach(bus: TraceBus): this {
    this.unsubscribe?.();
    this.unsubscribe = bus.subscribe((r) => this.write(r));
    return this;
  }

  private addCpu(c: number): void {
    this.bufs[c] = new CpuBuffer();
    this.stats.firstTsc[c] = -1;
    this.stats.lastTsc[c] = -1;
    this.written[c] = false;
  }

  private cpuOf(c: number): number {
    if (c < 0) return 0;
    if (c >= this.bufs.length) {
      if (this.flushedOnce) this.stats.lateCpus += c + 1 - this.bufs.length;
      const from = this.bufs.length;
      this.ncpus = c + 1;
      for (let k = from; k <= c; k++) this.addCpu(k);
    }
    return c;
  }

  private at(t: Ns): void {
    const tsc = this.tsc(t);
    if (tsc === this.instTsc) return;
    if (tsc < this.instTsc) throw new Error(`xentrace: time went backwards (${t} ns)`);
    this.finishInstant();
    this.instTsc = tsc;
    this.instT = t;
  }

  private push(cpu: number, event: number, data: number[], vkey: number, flags: number): void {
    if (!eventPasses(this.mask, event)) return;
    if (cpu < 0 && vkey >= 0) cpu = this.vcpuCpu.get(vkey) ?? 0;
    else if (flags & ANCHORED && vkey >= 0) this.vcpuCpu.set(vkey, cpu);
    this.inst.push({ cpu: this.cpuOf(cpu), event, data, vkey, flags });
  }

  write(r: TraceRecord): void {
    this.at(r.t);
    switch (r.type) {
      case 'runstate': {
        const k = dv(r.dom, r.vcpu);
        const anchored = r.from === 0 || r.to === 0;
        this.push(r.cpu, runstateEvent(r.from, r.to), [k], k, STATEFUL | (anchored ? ANCHORED : 0));
        break;
      }
      case 'switch':
        this.push(r.cpu, TRC.SCHED_SWITCH_INFPREV, [r.prevDom, r.prevVcpu, u32(r.prevRan)], -1, ANCHORED);
        this.push(r.cpu, TRC.SCHED_SWITCH_INFNEXT, [r.nextDom, r.nextVcpu, u32(r.nextWaited), u32(r.slice)], -1, ANCHORED);
        this.push(r.cpu, TRC.SCHED_SWITCH, [r.prevDom, r.prevVcpu, r.nextDom, r.nextVcpu], -1, ANCHORED);
        break;
      case 'continue': {
        const k = dv(r.dom, r.vcpu);
        this.push(r.cpu, TRC.SCHED_SWITCH_INFCONT, [r.dom, r.vcpu, u32(r.ran), u32(r.slice)], -1, ANCHORED);
        this.push(r.cpu, TRC.SCHED_CONTINUE_RUNNING, [k], k, STATEFUL | ANCHORED);
        break;
      }
      case 'wake':
      case 'sleep':
      case 'block':
      case 'yield': {
        const ev = { wake: TRC.SCHED_WAKE, sleep: TRC.SCHED_SLEEP, block: TRC.SCHED_BLOCK, yield: TRC.SCHED_YIELD }[r.type];
        this.push(r.cpu, ev, [r.dom, r.vcpu], dv(r.dom, r.vcpu), 0);
        break;
      }
      case 'dom_add':
        this.push(r.cpu, TRC.SCHED_DOM_ADD, [r.dom], -1, 0);
        break;
      case 'dom_rem':
        this.push(r.cpu, TRC.SCHED_DOM_REM, [r.dom], -1, 0);
        break;
      case 'adjdom':
        this.push(r.cpu, TRC.SCHED_ADJDOM, [r.dom], -1, 0);
        break;
      case 'crash':
        this.crashed.add(r.dom);
        break;
      case 'shutdown':
        if (!this.crashed.has(r.dom)) this.push(r.cpu, TRC.SCHED_SHUTDOWN, [r.dom, r.vcpu, u32(r.reason)], dv(r.dom, r.vcpu), 0);
        break;
      case 'policy':
        this.push(r.cpu, schedClassEvent(r.traceClass, r.event), r.data.slice(0, 7).map(u32), -1, 0);
        break;
      case 'hypercall': {
        const which = HYPERCALL_ARGS[r.nr] ?? [];
        let op = r.nr & 0xfffff;
        const data = [0];
        if (which[0] === 0) {
          op |= 1 << 20; // TRC_PV_HYPERCALL_V2_ARG_32(0)
          data.push(u32(r.op));
        }
        data[0] = op >>> 0;
        const k = dv(r.dom, r.vcpu);
        this.push(r.cpu, TRC.PV_HYPERCALL_V2, data, k, ANCHORED);
        break;
      }
      default:
        // migrate, pool_move, evtchn_send, console, policy_error: no Xen 4.17 record (see header)
        break;
    }
  }

  /**
   * Write a TRC_SCHED_CONTINUE_RUNNING for each pCPU's current vCPU at `t`: opening a trace with it
   * makes xenalyze account each running vCPU from `t` (its first TSC), closing with it closes
   * their running periods at `t` (xenalyze closes no open state at end of file). Synthetic: Xen
   * emits this record only when do_schedule re-picks the current vCPU.
   */
  mark(t: Ns, current: readonly Occupant[]): void {
    this.at(t);
    for (const o of current) {
      const k = dv(o.dom, o.vcpu);
      this.push(o.cpu, TRC.SCHED_CONTINUE_RUNNING, [k], k, STATEFUL | ANCHORED);
    }
  }

  // ------------------------------------------------------------------ one instant

  private finishInstant(): void {
    const recs = this.inst;
    this.crashed.clear();
    if (recs.length === 0) return;
    this.inst = [];
    const x = this.instTsc;
    let oneCpu = true;
    for (let i = 1; i < recs.length && oneCpu; i++) oneCpu = recs[i].cpu === recs[0].cpu;
    if (oneCpu) {
      // every record on one pCPU: nothing to place or order
      const b = this.bufs[recs[0].cpu];
      for (const r of recs) this.buffered += b.record(r.event, x, r.data);
      this.stats.records += recs.length;
      this.written[recs[0].cpu] = true;
      this.prevTsc = x;
      if (this.buffered >= this.flushBytes || this.instT - this.lastFlushT >= this.pollNs) this.flushWindows();
      return;
    }

    // 1. A vCPU's free records go with its running-related records of this instant.
    const anchors = new Map<number, number[]>();
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i];
      if (r.vkey >= 0 && r.flags & ANCHORED) {
        let a = anchors.get(r.vkey);
        if (!a) anchors.set(r.vkey, (a = []));
        a.push(i);
      }
    }
    if (anchors.size > 0) {
      for (let i = 0; i < recs.length; i++) {
        const r = recs[i];
        if (r.vkey < 0 || r.flags & ANCHORED) continue;
        const a = anchors.get(r.vkey);
        if (!a) continue;
        let pick = a[0];
        for (const j of a) if (j < i) pick = j;
        r.cpu = recs[pick].cpu;
      }
    }

    // 2. Cross-pCPU order: vCPU v's stateful records on pCPU a then on b ⇒ xenalyze must read a's
    //    records of this TSC before b's. It reads first the pCPU whose previous record it read last;
    //    fillers at distinct TSCs in the gap since the previous instant set that order.
    const fillers = this.orderFillers(recs, x);

    // 3. Write: fillers, then the records in emission order.
    fillers.forEach((c, i) => {
      this.bufs[c].record(TRC.TRACE_WRAP_BUFFER, x - 1 - i, []);
      this.stats.fillers++;
    });
    for (const r of recs) {
      this.buffered += this.bufs[r.cpu].record(r.event, x, r.data);
      this.stats.records++;
    }
    for (const r of recs) this.written[r.cpu] = true;
    this.prevTsc = x;

    if (this.buffered >= this.flushBytes || this.instT - this.lastFlushT >= this.pollNs) this.flushWindows();
  }

  /**
   * The pCPUs to give fillers, first-read first: [c1..ck] get fillers at x−1..x−k, so xenalyze
   * reads c1's records of TSC x first, then c2's, ..., then the pCPUs without fillers.
   */
  private orderFillers(recs: XRec[], x: number): number[] {
    // edges between pCPUs, from each vCPU's stateful records in emission order
    const lastCpu = new Map<number, number>();
    const succ = new Map<number, Set<number>>();
    const indeg = new Map<number, number>();
    const firstSeen = new Map<number, number>();
    recs.forEach((r, i) => {
      if (!firstSeen.has(r.cpu)) firstSeen.set(r.cpu, i);
      if (!(r.flags & STATEFUL)) return;
      const prev = lastCpu.get(r.vkey);
      lastCpu.set(r.vkey, r.cpu);
      if (prev === undefined || prev === r.cpu) return;
      let s = succ.get(prev);
      if (!s) succ.set(prev, (s = new Set()));
      if (s.has(r.cpu)) return;
      s.add(r.cpu);
      if (!indeg.has(prev)) indeg.set(prev, 0);
      indeg.set(r.cpu, (indeg.get(r.cpu) ?? 0) + 1);
    });
    if (succ.size === 0) return [];
    this.stats.crossCpu++;
    // a topological order (Kahn), ties by first appearance in this instant
    const nodes = [...indeg.keys()].sort((a, b) => firstSeen.get(a)! - firstSeen.get(b)!);
    const order: number[] = [];
    const ready = nodes.filter((c) => indeg.get(c) === 0);
    while (ready.length > 0) {
      const c = ready.shift()!;
      order.push(c);
      for (const d of succ.get(c) ?? []) {
        indeg.set(d, indeg.get(d)! - 1);
        if (indeg.get(d) === 0) {
          ready.push(d);
          ready.sort((a, b) => firstSeen.get(a)! - firstSeen.get(b)!);
        }
      }
    }
    // The last pCPU of the order needs no filler if every pCPU without one is unconstrained.
    const need = order.slice(0, order.length - 1);
    const ok =
      order.length === nodes.length && // no cycle
      x - need.length > this.prevTsc && // free TSCs for the fillers
      need.every((c) => this.written[c]); // a filler must not become a pCPU's first TSC
    if (!ok) {
      this.stats.unordered++;
      return [];
    }
    return need;
  }

  private flushWindows(): void {
    const parts: Buffer[] = [];
    let total = 0;
    for (let c = 0; c < this.bufs.length; c++) {
      const b = this.bufs[c];
      if (b.len === 0 && this.flushedOnce) continue;
      const head = Buffer.allocUnsafe(12);
      head.writeUInt32LE((TRC.TRACE_CPU_CHANGE | (2 << 28)) >>> 0, 0);
      head.writeInt32LE(c, 4);
      head.writeUInt32LE(b.len * 4, 8);
      parts.push(head, b.bytes());
      total += 12 + b.len * 4;
      this.stats.windows++;
      if (b.first >= 0) {
        if (this.stats.firstTsc[c] < 0) this.stats.firstTsc[c] = b.first;
        this.stats.lastTsc[c] = b.last;
      }
    }
    if (total > 0) writeSync(this.fd, Buffer.concat(parts, total));
    this.stats.bytes += total;
    for (const b of this.bufs) {
      b.len = 0;
      b.first = -1;
      b.last = -1;
      if (b.words.length > 1 << 18) b.words = new Uint32Array(1024);
    }
    this.buffered = 0;
    this.flushedOnce = true;
    this.lastFlushT = this.instT;
  }

  /** Write out everything buffered (the current instant included). */
  flush(): void {
    this.finishInstant();
    this.flushWindows();
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  close(): void {
    this.detach();
    this.flush();
    closeSync(this.fd);
  }
}
