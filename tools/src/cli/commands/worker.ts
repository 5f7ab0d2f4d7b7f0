/** xt worker --redis URL: run sweep jobs from a Redis queue on this machine's threads until stopped. */
import type { Command } from 'commander';
import { defaultJobs } from '../../sweep/local';
import { DEFAULT_QUEUE, checkRedisUrl } from '../../sweep/redis-url';
import { intArg } from '../args';
import { guard } from './experiment';

interface Opts {
  redis: string;
  queue: string;
  jobs: number;
  lockDuration: number;
  stalledInterval: number;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('process sweep runs queued in Redis by xt sweep --redis (stop with SIGINT or SIGTERM)')
    .requiredOption('--redis <url>', 'the Redis the sweep uses, e.g. redis://10.0.0.1:6379')
    .option('--queue <name>', 'Redis queue name', DEFAULT_QUEUE)
    .option('--jobs <n>', 'worker threads (runs at once)', intArg(1, 1024), defaultJobs())
    .option('--lock-duration <ms>', "a run's lock expires this long after its worker stops renewing it; then it is re-queued", intArg(100, 3_600_000), 30_000)
    .option('--stalled-interval <ms>', 'how often to look for runs whose worker died', intArg(100, 3_600_000), 30_000)
    .action(async function (this: Command, o: Opts) {
      await guard(this, async () => {
        const log = (l: string) => void process.stderr.write(`worker ${process.pid}: ${l}\n`);
        const stop = new Promise<string>((res) => {
          process.once('SIGINT', () => res('SIGINT'));
          process.once('SIGTERM', () => res('SIGTERM'));
        });
        void stop.then((s) => log(`${s}: finishing the runs in hand`));
        checkRedisUrl(o.redis);
        const { runWorker } = await import('../../sweep/redis'); // bullmq loads only here
        const n = await runWorker(o.redis, { queue: o.queue, jobs: o.jobs, lockDurationMs: o.lockDuration, stalledIntervalMs: o.stalledInterval, log }, stop);
        log(`stopped after ${n} run(s)`);
      });
    });
}
