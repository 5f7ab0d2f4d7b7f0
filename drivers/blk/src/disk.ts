/**
 * The disk a driver domain's vbds share: a service-time model in virtual time and the paper's VBD
 * scheduler in front of it.
 *
 * Disk model. One request is served at a time (a single spindle, no command queueing); serving it
 * takes
 *
 *     commandNs                                  every request (controller and command overhead)
 *   + positionNs     if it does not start where the previous one ended (average seek + rotation)
 *   + bytes / bytesPerSecond                     the media transfer
 *   + flushNs        for a cache flush
 *
 * Positions are absolute on the disk: each vbd is an extent, laid end to end in the order the vbds
 * are first seen (so two guests' sequential streams still seek between each other, as the paper's
 * "disk-head movement" between domains). The time passes with TimeCap.sleep: the backend's vCPU
 * is free meanwhile; only the copies and bookkeeping around a request are CPU time
 * (see BlkbackCosts in ./backend.ts).
 *
 * Presets (DISK_MODELS): `dk32ej`, the paper's disk (§4: one Hitachi DK32EJ 146 GB 10 000 rpm SCSI
 * disk): 10 000 rpm is 6 ms a revolution, so 3.0 ms average rotational latency (exact); 4.9 ms
 * average seek, 0.1 ms command overhead and a 50 MB/s media rate are typical of 10k rpm SCSI drives
 * of 2003 (the drive's own data sheet was not consulted: treat them as UNVERIFIED); a cache flush
 * costs one positioning. `ssd`: a SATA SSD of the 2010s (~80 µs a command, ~500 MB/s, no
 * positioning). `instant`: no service time at all (tests and benchmarks of the software path).
 *
 * Scheduler (paper §3.3.6, C03 xen/drivers/block/xen_block.c): each vbd connection is a client
 * with its own FIFO queue. When fewer than `lowWater` (32) requests are pending at the disk, the
 * scheduler takes batches of up to `batch` (BATCH_PER_DOMAIN, 16) requests from the clients in
 * round robin, until `maxPending` (MAX_PENDING_REQS, 64) are pending or no client has more; each
 * such round is a batch, passed to the elevator: batches are served oldest first, and within a
 * batch in elevator order (C-LOOK: the nearest position at or after the head, wrapping to the
 * lowest), so responses come back out of order. Serving whole batches in turn (N-step SCAN)
 * bounds how long a request can be passed over: a plain elevator would starve a random reader
 * forever beside a sequential writer that always has a request just ahead of the head (Linux
 * 2.4's elevator bounds it with per-request passover counts instead). Requests without a position
 * (flush, discard) are served where the head is, in their turn.
 *
 * Policy `fifo` (an option, not the paper's: the control of the isolation experiment) turns the
 * scheduler off: every client's requests join one queue in arrival order and the disk serves them
 * in that order — no per-client batches, no elevator — so a client with many requests in flight
 * takes the disk in proportion to them, as a naive backend would let it.
 *
 * Invariants: a job runs at most once, after its service time; a job of a removed client never
 * runs (its connection and grants are gone); the disk thread never blocks except waiting for work.
 */
import type { Co, DriverCaps } from '@xenotype/xenbus';

export interface DiskModel {
  commandNs: number;
  positionNs: number;
  bytesPerSecond: number;
  flushNs: number;
}

export const DISK_MODELS = {
  dk32ej: { commandNs: 100_000, positionNs: 7_900_000, bytesPerSecond: 50e6, flushNs: 7_900_000 },
  ssd: { commandNs: 80_000, positionNs: 0, bytesPerSecond: 500e6, flushNs: 0 },
  instant: { commandNs: 0, positionNs: 0, bytesPerSecond: Infinity, flushNs: 0 },
} as const satisfies Record<string, DiskModel>;

export const DEFAULT_DISK_MODEL: DiskModel = DISK_MODELS.dk32ej;

export type DiskJobKind = 'read' | 'write' | 'flush' | 'discard';

export interface DiskJob {
  readonly kind: DiskJobKind;
  /** Byte offset on the client's device (read, write). */
  readonly offset: number;
  /** Bytes moved to or from the media (read, write; 0 otherwise). */
  readonly bytes: number;
  /** Whether the job also flushes the cache after its transfer (a write with preflush/FUA). */
  readonly flush?: boolean;
  /** Carry the job out once the disk has served it: copies, device I/O, the response. */
  run(): Co<void>;
}

/** One vbd connection's queue at the disk. */
export class DiskClient {
  readonly queue: DiskJob[] = [];
  dead = false;
  served = 0;
  constructor(
    readonly name: string,
    /** Where the vbd's extent starts on the disk. */
    readonly base: number,
  ) {}
}

/** `rr`: the paper's round-robin batches with an elevator (default); `fifo`: one queue, arrival order. */
export type DiskPolicy = 'rr' | 'fifo';

export interface DiskSchedulerOptions {
  model?: Partial<DiskModel>;
  policy?: DiskPolicy;
  batch?: number;
  maxPending?: number;
  lowWater?: number;
}

/** Service time of one job with the head at `head` (absolute position `at`); see the model above. */
export function serviceNs(m: DiskModel, kind: DiskJobKind, at: number, bytes: number, head: number, flush = false): number {
  let t = m.commandNs;
  if (kind === 'read' || kind === 'write') {
    if (at !== head) t += m.positionNs;
    if (bytes > 0 && Number.isFinite(m.bytesPerSecond)) t += (bytes / m.bytesPerSecond) * 1e9;
  }
  if (kind === 'flush' || flush) t += m.flushNs;
  return Math.round(t);
}

interface Pending {
  job: DiskJob;
  client: DiskClient;
  seq: number;
  batch: number;
}

export class DiskScheduler {
  readonly model: DiskModel;
  readonly batch: number;
  readonly maxPending: number;
  readonly lowWater: number;
  readonly policy: DiskPolicy;
  /** When each queued job arrived (fifo orders by it). */
  private readonly arrivals = new WeakMap<DiskJob, number>();
  private arrived = 0;
  private readonly clients: DiskClient[] = [];
  private readonly extents = new Map<string, number>();
  private nextBase = 0;
  private rr = 0;
  private readonly pending: Pending[] = [];
  private seq = 0;
  private batches = 0;
  /** Absolute position just after the last transfer. */
  head = 0;
  private readonly work;
  private started = false;
  readonly stats = { served: 0, busyNs: 0, positionings: 0, bytes: 0, refills: 0, maxPending: 0 };

  constructor(
    private readonly caps: Pick<DriverCaps, 'time' | 'spawn' | 'waitQueue' | 'log'>,
    opts: DiskSchedulerOptions = {},
  ) {
    this.model = { ...DEFAULT_DISK_MODEL, ...opts.model };
    this.batch = opts.batch ?? 16;
    this.maxPending = opts.maxPending ?? 64;
    this.lowWater = opts.lowWater ?? 32;
    this.policy = opts.policy ?? 'rr';
    this.work = caps.waitQueue();
  }

  /** A client for the vbd `name` of `size` bytes (the same name keeps its extent across reconnects). */
  addClient(name: string, size: number): DiskClient {
    let base = this.extents.get(name);
    if (base === undefined) {
      base = this.nextBase;
      this.extents.set(name, base);
      this.nextBase += size;
    }
    const c = new DiskClient(name, base);
    this.clients.push(c);
    this.start();
    return c;
  }

  /** Forget a client: its queued and pending jobs are dropped, and one in service will not run. */
  removeClient(c: DiskClient): void {
    c.dead = true;
    c.queue.length = 0;
    const i = this.clients.indexOf(c);
    if (i >= 0) {
      this.clients.splice(i, 1);
      if (this.rr > i) this.rr--;
    }
    for (let j = this.pending.length - 1; j >= 0; j--) if (this.pending[j].client === c) this.pending.splice(j, 1);
  }

  submit(c: DiskClient, job: DiskJob): void {
    if (c.dead) return;
    this.arrivals.set(job, this.arrived++);
    c.queue.push(job);
    this.work.wake();
  }

  /** Jobs waiting in client queues and at the disk. */
  get backlog(): number {
    return this.pending.length + this.clients.reduce((n, c) => n + c.queue.length, 0);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.caps.spawn('blk-disk', this.run());
  }

  /** Round-robin batches from the clients until maxPending are pending or nobody has more. */
  private refill(): void {
    this.stats.refills++;
    const batch = this.batches++;
    if (this.policy === 'fifo') {
      // one queue: the oldest queued job of any client, until maxPending are pending
      while (this.pending.length < this.maxPending) {
        let from: DiskClient | null = null;
        for (const c of this.clients) if (c.queue.length > 0 && (!from || this.arrivals.get(c.queue[0])! < this.arrivals.get(from.queue[0])!)) from = c;
        if (!from) break;
        this.pending.push({ job: from.queue.shift()!, client: from, seq: this.seq++, batch });
      }
      this.stats.maxPending = Math.max(this.stats.maxPending, this.pending.length);
      return;
    }
    let idle = 0;
    while (this.pending.length < this.maxPending && this.clients.length > 0 && idle < this.clients.length) {
      this.rr %= this.clients.length;
      const c = this.clients[this.rr++];
      const take = Math.min(this.batch, c.queue.length, this.maxPending - this.pending.length);
      if (take === 0) {
        idle++;
        continue;
      }
      idle = 0;
      for (const job of c.queue.splice(0, take)) this.pending.push({ job, client: c, seq: this.seq++, batch });
    }
    this.stats.maxPending = Math.max(this.stats.maxPending, this.pending.length);
  }

  private position(p: Pending): number {
    const k = p.job.kind;
    return k === 'read' || k === 'write' ? p.client.base + p.job.offset : this.head;
  }

  /** In the oldest batch, C-LOOK: the nearest position at or after the head (oldest first on ties), else the lowest. */
  private pick(): Pending | null {
    if (this.policy === 'fifo') {
      let first = -1;
      for (let i = 0; i < this.pending.length; i++) if (first < 0 || this.pending[i].seq < this.pending[first].seq) first = i;
      return first < 0 ? null : this.pending.splice(first, 1)[0];
    }
    let best = -1;
    let wrap = -1;
    let oldest = Infinity;
    for (const p of this.pending) oldest = Math.min(oldest, p.batch);
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (p.batch !== oldest) continue;
      const at = this.position(p);
      if (at >= this.head) {
        if (best < 0 || at < this.position(this.pending[best]) || (at === this.position(this.pending[best]) && p.seq < this.pending[best].seq)) best = i;
      } else if (wrap < 0 || at < this.position(this.pending[wrap]) || (at === this.position(this.pending[wrap]) && p.seq < this.pending[wrap].seq)) wrap = i;
    }
    const i = best >= 0 ? best : wrap;
    return i < 0 ? null : this.pending.splice(i, 1)[0];
  }

  private *run(): Co<void> {
    for (;;) {
      const seen = this.work.generation;
      if (this.pending.length < this.lowWater) this.refill();
      const p = this.pick();
      if (!p) {
        yield* this.work.wait(seen);
        continue;
      }
      const { job } = p;
      const at = this.position(p);
      const t = serviceNs(this.model, job.kind, at, job.bytes, this.head, job.flush);
      if ((job.kind === 'read' || job.kind === 'write') && at !== this.head) this.stats.positionings++;
      if (job.kind === 'read' || job.kind === 'write') this.head = at + job.bytes;
      if (t > 0) yield* this.caps.time.sleep(t);
      this.stats.served++;
      this.stats.busyNs += t;
      this.stats.bytes += job.bytes;
      if (p.client.dead) continue;
      p.client.served++;
      try {
        yield* job.run();
      } catch (e) {
        this.caps.log(`blk-disk: job of ${p.client.name} failed: ${(e as Error)?.stack ?? e}`);
      }
    }
  }
}
