/** xt demo */
import { InvalidArgumentError, type Command } from 'commander';
import { runDemo, formatDemo, demoJson, DEMO_DEFAULTS } from '../../demo/demo';
import { openTrace, traceFormat, TraceFormatError } from '../../trace/open';
import { durationArg, intArg } from '../args';
import { kvmDemoUnavailable } from '../../demo/kvm';

function backendArg(v: string): 'sim' | 'kvm' {
  if (v !== 'sim' && v !== 'kvm') throw new InvalidArgumentError('expected sim or kvm');
  return v;
}

/** A trace file whose extension names a format we write. */
function traceFileArg(v: string): string {
  try {
    traceFormat(v);
  } catch (e) {
    if (e instanceof TraceFormatError) throw new InvalidArgumentError(e.message);
    throw e;
  }
  return v;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('compare round robin and BVT with warp: hog CPU shares and interactive wake-up latency')
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), DEMO_DEFAULTS.seed)
    .option('--duration <time>', 'measured virtual time (e.g. 20s)', durationArg, DEMO_DEFAULTS.durationNs)
    .option('--json', 'print the figures as one JSON object (integer ns) on stdout')
    .option('--backend <sim|kvm>', 'sim: virtual time (default); kvm: the guests run as real code on /dev/kvm, in real time', backendArg, 'sim')
    .option(
      '--trace <file>',
      'write the trace of both runs to FILE, in the format its extension names: .json Perfetto/Chrome ' +
        '(one process per run), .xentrace/.trc/.bin xentrace records for xenalyze (one file per run: ' +
        'FILE.rr.xentrace, FILE.bvt.xentrace), .jsonl JSON lines',
      traceFileArg,
    )
    .action((o: { seed: number; duration: number; json?: boolean; trace?: string; backend: 'sim' | 'kvm' }) => {
      if (o.backend === 'kvm') {
        const why = kvmDemoUnavailable();
        if (why) {
          process.stderr.write(`xt demo: the KVM backend is unavailable: ${why}\n`);
          process.exitCode = 1;
          return;
        }
      }
      const sink = o.trace ? openTrace(o.trace) : null;
      let report;
      try {
        report = runDemo({
          seed: o.seed,
          durationNs: o.duration,
          backend: o.backend,
          log: (l) => process.stderr.write(l + '\n'),
          onTrace: (run, bus) => sink?.attach(bus, run),
        });
      } finally {
        sink?.close();
      }
      if (sink) process.stderr.write(`trace: ${sink.records} ${sink.format} records written to ${sink.files.join(', ')}\n`);
      process.stdout.write((o.json ? demoJson(report) : formatDemo(report)) + '\n');
    });
}
