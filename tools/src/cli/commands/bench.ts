/** xt bench */
import { Option, type Command } from 'commander';
import { runBenchmarks, BENCHMARKS } from '../../bench/bench';

export function register(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks; each figure beside a baseline measured in the same run')
    .addOption(new Option('--only <names...>', 'run only these benchmarks').choices(BENCHMARKS.map((b) => b.name)))
    .option('--json', 'print results as JSON')
    .action((o: { only?: string[]; json?: boolean }) => {
      const results = runBenchmarks(o.only, (l) => process.stderr.write(l + '\n'));
      process.stdout.write((o.json ? JSON.stringify(results, null, 2) : results.map((r) => r.line).join('\n')) + '\n');
    });
}
