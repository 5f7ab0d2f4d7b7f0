/**
 * Scale-out: a sweep run by several machines through a Redis job queue (bullmq).
 *
 *  - `xt sweep --redis URL` plans and validates the sweep, enqueues one job per run (job id =
 *    sweep key + run index, the data a self-contained RunTask), then collects the results as jobs
 *    complete — keyed by run id, so a run that completes twice is counted once — and writes the
 *    same results files a local sweep writes (byte for byte: every run is a pure function of its
 *    task). It removes its jobs when done.
 *  - `xt worker --redis URL` takes jobs and runs them on its own worker threads (piscina); its main
 *    thread stays free to renew the jobs' locks.
 *  - A worker that dies mid-run stops renewing its lock; after `lockDuration` the job is "stalled",
 *    and the next stalled check by any live worker (every `stalledInterval`) puts it back in the
 *    queue, so another worker runs it. Nothing is lost, and nothing is counted twice.
 *
 * Jobs of one sweep share a key derived from their content: re-running an interrupted collector
 * finds jobs already done or queued instead of enqueueing them again.
 */
import { createHash } from 'node:crypto';
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { RESULT_FORMAT, type RunResult } from '../runner/run';
import type { SweepPlan } from './plan';
import { canonical } from './results';
import { taskOf, workerPool } from './local';
import type { RunTask } from './task';
import { DEFAULT_QUEUE, checkRedisUrl } from './redis-url';

export { DEFAULT_QUEUE, RedisUrlError } from './redis-url';

interface JobData {
  format: string;
  task: RunTask;
}

/** A connection for bullmq; fails fast (one line) when Redis cannot be reached. */
export async function connect(url: string, timeoutMs = 5000): Promise<Redis> {
  checkRedisUrl(url);
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new Error(`cannot reach Redis at ${url}: ${(e as Error).message}`);
  } finally {
    probe.disconnect();
  }
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  conn.on('error', () => {});
  return conn;
}

export function sweepKey(plan: SweepPlan): string {
  const h = createHash('sha256');
  h.update(RESULT_FORMAT);
  h.update(JSON.stringify(plan.runs));
  h.update(JSON.stringify(plan.combos.map((c) => c.scenario)));
  return h.digest('hex').slice(0, 16);
}

export interface DistributedOptions {
  queue?: string;
  /** How often to re-check outstanding jobs besides queue events (ms). */
  pollMs?: number;
  onRun?: (r: RunResult, done: number, total: number) => void;
  log?: (line: string) => void;
}

/** Enqueue every run of `plan` and collect the results (keyed by run id). */
export async function runDistributed(plan: SweepPlan, url: string, opts: DistributedOptions = {}): Promise<Map<string, RunResult>> {
  const name = opts.queue ?? DEFAULT_QUEUE;
  const conn = await connect(url);
  const queue = new Queue<JobData, RunResult>(name, { connection: conn });
  const eventsConn = conn.duplicate();
  eventsConn.on('error', () => {});
  const events = new QueueEvents(name, { connection: eventsConn });
  queue.on('error', () => {});
  events.on('error', () => {});
  const key = sweepKey(plan);
  const idOf = new Map(plan.runs.map((r, i) => [`${key}-${i}`, r.id]));
  const out = new Map<string, RunResult>();
  const total = plan.runs.length;
  let settle!: () => void;
  const finished = new Promise<void>((res) => (settle = res));

  const record = (jobId: string, r: RunResult) => {
    const runId = idOf.get(jobId);
    if (!runId || out.has(runId)) return; // another sweep's job, or already counted
    out.set(runId, canonical(r));
    opts.onRun?.(r, out.size, total);
    if (out.size === total) settle();
  };
  const failedRun = (jobId: string, reason: string): RunResult => {
    const i = Number(jobId.slice(key.length + 1));
    const t = taskOf(plan, i);
    return {
      format: RESULT_FORMAT,
      id: t.id,
      combo: t.combo,
      seed: t.seed,
      params: t.scenario.params,
      status: 'failed',
      error: `job failed: ${reason}`,
      window: { startNs: 0, endNs: 0, ns: 0 },
      domains: [],
      groups: [],
      aggregate: { guests: t.scenario.domains.length, throughput: null, normalizedThroughput: null, maxShareError: null, busy: 0, switches: 0 },
      pcpus: [],
      timeline: null,
      invariantErrors: [],
      engineEvents: 0,
    };
  };
  const check = async (jobId: string) => {
    const job = await Job.fromId<JobData, RunResult>(queue, jobId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'completed' && job.returnvalue) record(jobId, job.returnvalue);
    else if (state === 'failed') record(jobId, failedRun(jobId, job.failedReason ?? 'unknown'));
  };

  try {
    events.on('completed', ({ jobId }) => void check(jobId).catch(() => {}));
    events.on('failed', ({ jobId }) => void check(jobId).catch(() => {}));
    events.on('stalled', ({ jobId }) => {
      const runId = idOf.get(jobId);
      if (runId) opts.log?.(`run "${runId}" stalled (its worker stopped renewing the lock): re-queued`);
    });
    await events.waitUntilReady();

    // Reuse what an interrupted collector of the same sweep left; re-queue what failed.
    const fresh: { name: string; data: JobData; opts: { jobId: string } }[] = [];
    for (const [jobId] of idOf) {
      const job = await Job.fromId(queue, jobId);
      if (job && (await job.getState()) === 'failed') await job.remove();
      else if (job) continue;
      const i = Number(jobId.slice(key.length + 1));
      fresh.push({ name: 'run', data: { format: RESULT_FORMAT, task: taskOf(plan, i) }, opts: { jobId } });
    }
    if (fresh.length) await queue.addBulk(fresh);
    opts.log?.(`queued ${fresh.length} run(s) of ${total} on "${name}" (sweep ${key}); waiting for workers (xt worker --redis ${url})`);
    for (const [jobId] of idOf) await check(jobId);

    const poll = setInterval(() => {
      for (const [jobId, runId] of idOf) if (!out.has(runId)) void check(jobId).catch(() => {});
    }, opts.pollMs ?? 2000);
    try {
      if (out.size < total) await finished;
    } finally {
      clearInterval(poll);
    }
    for (const [jobId] of idOf) await (await Job.fromId(queue, jobId))?.remove().catch(() => {});
  } finally {
    await events.close();
    await queue.close();
    eventsConn.disconnect(); // bullmq leaves connections it was given open
    conn.disconnect();
  }
  return out;
}

export interface WorkerOptions {
  queue?: string;
  /** Worker threads, and jobs taken at once. */
  jobs: number;
  /** ms a job's lock lasts without renewal (bullmq default 30 000). */
  lockDurationMs?: number;
  /** ms between checks for stalled jobs (bullmq default 30 000). */
  stalledIntervalMs?: number;
  log?: (line: string) => void;
}

/** Process sweep jobs until `stop` resolves; then finish the jobs in hand and return. */
export async function runWorker(url: string, opts: WorkerOptions, stop: Promise<unknown>): Promise<number> {
  const name = opts.queue ?? DEFAULT_QUEUE;
  const conn = await connect(url);
  const pool = workerPool(opts.jobs);
  let processed = 0;
  const worker = new Worker<JobData, RunResult>(
    name,
    async (job) => {
      if (job.data.format !== RESULT_FORMAT) throw new Error(`job format ${job.data.format}, this worker runs ${RESULT_FORMAT}`);
      const t0 = performance.now();
      opts.log?.(`run "${job.data.task.id}" started (job ${job.id})`);
      const r = canonical((await pool.run(job.data.task)) as RunResult);
      processed++;
      opts.log?.(`run "${job.data.task.id}" ${r.status} in ${((performance.now() - t0) / 1000).toFixed(2)} s (job ${job.id})`);
      return r;
    },
    {
      connection: conn,
      concurrency: opts.jobs,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: 5,
      removeOnComplete: { count: 10_000 },
    },
  );
  worker.on('error', (e) => opts.log?.(`error: ${e.message}`));
  worker.on('stalled', (jobId) => opts.log?.(`job ${jobId} was stalled (its worker died?): re-queued`));
  await worker.waitUntilReady();
  opts.log?.(`waiting for runs on "${name}" with ${opts.jobs} thread(s)`);
  try {
    await stop;
  } finally {
    await worker.close();
    await pool.destroy();
    conn.disconnect();
  }
  return processed;
}
