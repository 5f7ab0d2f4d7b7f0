/** xt demo */
import type { Command } from 'commander';
import { runDemo, formatDemo, demoJson, DEMO_DEFAULTS } from '../../demo/demo';
import { JsonlTraceWriter } from '../../trace/jsonl';
import { durationArg, intArg } from '../args';

export function register(program: Command): void {
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
}
