/**
 * Run a sweep plan on this machine: in this thread (jobs = 0) or on a pool of worker threads
 * (piscina, one run per task). Results are keyed by run id, so completion order does not matter.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { runScenario, type RunResult } from '../runner/run';
import type { SweepPlan } from './plan';
import { canonical } from './results';
import type { RunTask } from './task';

export const WORKER_FILE = new URL('./worker.mjs', import.meta.url).href;

export interface LocalOptions {
  /** Worker threads; 0 runs everything in this thread. Default: the machine's parallelism. */
  jobs?: number;
  /** Called after each run finishes. */
  onRun?: (r: RunResult, done: number, total: number) => void;
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

export function taskOf(plan: SweepPlan, i: number): RunTask {
  const p = plan.runs[i];
  return { id: p.id, combo: p.combo, seed: p.seed, scenario: plan.combos[p.combo].scenario };
}

/** A pool of worker threads running RunTasks. */
export function workerPool(threads: number): Piscina {
  return new Piscina({ filename: WORKER_FILE, minThreads: 0, maxThreads: threads, idleTimeout: 1000 });
}

export async function runLocal(plan: SweepPlan, opts: LocalOptions = {}): Promise<Map<string, RunResult>> {
  const jobs = opts.jobs ?? defaultJobs();
  const out = new Map<string, RunResult>();
  const total = plan.runs.length;
  const done = (r: RunResult) => {
    out.set(r.id, canonical(r));
    opts.onRun?.(r, out.size, total);
  };
  if (jobs === 0) {
    for (let i = 0; i < total; i++) {
      const t = taskOf(plan, i);
      done(runScenario(t.scenario, t.seed, { id: t.id, combo: t.combo }));
      await new Promise((res) => setImmediate(res)); // let the progress bar draw
    }
    return out;
  }
  const pool = workerPool(Math.min(jobs, total));
  try {
    await Promise.all(plan.runs.map((_, i) => (pool.run(taskOf(plan, i)) as Promise<RunResult>).then(done)));
  } finally {
    await pool.destroy();
  }
  return out;
}
