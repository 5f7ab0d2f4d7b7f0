/** xt run SCENARIO: one run of a scenario file (or a built-in scenario) with one seed. */
import type { Command } from 'commander';
import { defaultRegistry } from '../../host/registry';
import { Scenario, readScenario } from '../../scenario/load';
import { planSweep, parseParamArg } from '../../sweep/plan';
import { runScenario } from '../../runner/run';
import { formatRun } from '../../runner/format';
import { assembleResults, writeResults } from '../../sweep/results';
import { openTrace, traceFormat } from '../../trace/open';
import { durationArg, intArg } from '../args';
import { collect, guard, log } from './experiment';

interface Opts {
  param: string[];
  preset?: string;
  seed: number;
  until?: number;
  trace?: string;
  json?: boolean;
  out?: string;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run a scenario (a .yaml/.json file or a built-in name: xt list-scenarios) once')
    .argument('<scenario>', 'scenario file or built-in scenario name')
    .option('--param <name=value>', 'set a scenario parameter or a dotted field (repeatable)', collect, [])
    .option('--preset <name>', "take the fixed values of one of the scenario's presets (its sweep is not run; --param overrides)")
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), 1)
    .option('--until <time>', 'end the run at this virtual time after the warm-up began (overrides duration)', durationArg)
    .option('--trace <file>', 'write the trace: .json (Perfetto), .xentrace/.trc/.bin (xentrace), .jsonl (JSON lines)')
    .option('--json', 'print the run result as one JSON object on stdout')
    .option('--out <dir>', 'also write results.json, results.csv, summary.csv and report.html to DIR')
    .action(async function (this: Command, ref: string, o: Opts) {
      await guard(this, async () => {
        const registry = defaultRegistry();
        const sc = new Scenario(readScenario(ref));
        const axes = o.param.map((p) => parseParamArg(p, true));
        if (o.trace) traceFormat(o.trace);
        const preset = o.preset === undefined ? undefined : sc.preset(o.preset);
        const plan = planSweep(sc, axes, [o.seed], registry, { untilNs: o.until, fixed: preset?.params, preset: preset?.name });
        const combo = plan.combos[0];
        const p = plan.runs[0];
        const sink = o.trace ? openTrace(o.trace, { xentrace: { pcpus: combo.scenario.host.nrCpus } }) : null;
        log(`running ${sc.name} (${p.id}) for ${(combo.scenario.warmupNs + combo.scenario.durationNs) / 1e9} s of virtual time`);
        let r;
        try {
          r = runScenario(combo.scenario, p.seed, { id: p.id, combo: 0, registry, onTrace: (bus) => sink?.attach(bus), log });
        } finally {
          sink?.close();
        }
        if (sink) log(`trace: ${sink.records} records written to ${sink.files.join(', ')} (${sink.format})`);
        process.stdout.write((o.json ? JSON.stringify(r) : formatRun(r, combo.scenario)) + '\n');
        if (o.out) {
          const res = assembleResults(plan, new Map([[r.id, r]]));
          const files = writeResults(o.out, res);
          files.push(await (await import('../../report/report')).writeReport(o.out, res)); // vega loads only here
          log(`wrote ${files.join(', ')}`);
        }
        if (r.status !== 'ok') throw new Error(`run failed: ${r.error}`);
      });
    });
}
