/** xt compare */
import { InvalidArgumentError, type Command } from 'commander';
import { COMPARE_DEFAULTS, compareJson, compareSchedulers, defaultSchedulerNames, formatCompare } from '../../demo/compare';
import { defaultRegistry } from '../../host/registry';
import { durationArg, intArg } from '../args';

function schedulerList(v: string): string[] {
  const known = defaultRegistry().list('scheduler');
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('must name at least one scheduler');
  for (const n of names) if (!known.includes(n)) throw new InvalidArgumentError(`unknown scheduler "${n}" (have: ${known.join(', ')})`);
  return names;
}

export function register(program: Command): void {
  program
    .command('compare')
    .description("run the demo's hogs and interactive guest under several schedulers: CPU shares against weights, wake-up latency")
    .option('--schedulers <list>', `comma-separated scheduler names (default: ${defaultSchedulerNames().join(',')})`, schedulerList)
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), COMPARE_DEFAULTS.seed)
    .option('--duration <time>', 'measured virtual time per scheduler (e.g. 10s)', durationArg, COMPARE_DEFAULTS.durationNs)
    .option('--json', 'print the figures as one JSON object (integer ns) on stdout')
    .action((o: { schedulers?: string[]; seed: number; duration: number; json?: boolean }) => {
      const report = compareSchedulers(o.schedulers ?? defaultSchedulerNames(), {
        seed: o.seed,
        durationNs: o.duration,
        log: (l) => process.stderr.write(l + '\n'),
      });
      process.stdout.write((o.json ? compareJson(report) : formatCompare(report)) + '\n');
    });
}
