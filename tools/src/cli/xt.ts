/**
 * xt — xenotype's command line. Usage errors print one line and exit 2; a failed run exits 1.
 */
import { Command, CommanderError, Option } from 'commander';
import { runDemo, formatDemo, demoJson, DEMO_DEFAULTS } from '../demo/demo';
import { JsonlTraceWriter } from '../trace/jsonl';
import { runBenchmarks, BENCHMARKS } from '../bench/bench';
import { durationArg, intArg } from './args';

const program = new Command();
program
  .name('xt')
  .description('xenotype: the Xen hypervisor architecture in deterministic simulation')
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(s.split('\n').filter(Boolean)[0] + '\n') })
  .showHelpAfterError(false);

program
  .command('demo')
  .description('compare round robin and BVT with warp: hog CPU shares and interactive wake-up latency')
  .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), DEMO_DEFAULTS.seed)
  .option('--duration <time>', 'measured virtual time (e.g. 20s)', durationArg, DEMO_DEFAULTS.durationNs)
  .option('--json', 'print the figures as one JSON object (integer ns) on stdout')
  .option('--trace <file>', 'write the trace of both runs to FILE (JSON lines)')
  .action((o: { seed: number; duration: number; json?: boolean; trace?: string }) => {
    const writer = o.trace ? new JsonlTraceWriter(o.trace) : null;
    const report = runDemo({
      seed: o.seed,
      durationNs: o.duration,
      log: (l) => process.stderr.write(l + '\n'),
      onTrace: (run, bus) => writer?.attach(bus, run),
    });
    writer?.close();
    if (writer) process.stderr.write(`trace: ${writer.records} records written to ${o.trace}\n`);
    process.stdout.write((o.json ? demoJson(report) : formatDemo(report)) + '\n');
  });

program
  .command('bench')
  .description('run the benchmarks; each figure beside a baseline measured in the same run')
  .addOption(new Option('--only <names...>', 'run only these benchmarks').choices(BENCHMARKS.map((b) => b.name)))
  .option('--json', 'print results as JSON')
  .action((o: { only?: string[]; json?: boolean }) => {
    const results = runBenchmarks(o.only, (l) => process.stderr.write(l + '\n'));
    process.stdout.write((o.json ? JSON.stringify(results, null, 2) : results.map((r) => r.line).join('\n')) + '\n');
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`xt: ${(e as Error)?.message ?? e}\n`);
    process.exitCode = 1;
  }
}
