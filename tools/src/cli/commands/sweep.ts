/** xt sweep SCENARIO: the cross product of parameter values × seeds, in parallel, with results and a report. */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { defaultRegistry } from '../../host/registry';
import { Scenario, ScenarioError, readScenario } from '../../scenario/load';
import { mergeAxes, parseParamArg, planSweep, seedList } from '../../sweep/plan';
import { defaultJobs, runLocal } from '../../sweep/local';
import { DEFAULT_QUEUE, checkRedisUrl } from '../../sweep/redis-url';
import { assembleResults, writeResults } from '../../sweep/results';
import { formatSummary } from '../../runner/format';
import { formatPaperComparison, paperComparison } from '../../report/paper';
import type { RunResult } from '../../runner/run';
import { durationArg, intArg } from '../args';
import { collect, guard, log } from './experiment';

interface Opts {
  param: string[];
  preset?: string;
  seeds?: number;
  firstSeed: number;
  jobs: number;
  until?: number;
  out?: string;
  redis?: string;
  queue: string;
  progress: boolean;
  report: boolean;
}

export const DEFAULT_SEEDS = 3;

export function register(program: Command): void {
  program
    .command('sweep')
    .description("run a scenario over parameter values × seeds in parallel; write results (JSON, CSV) and a report")
    .argument('<scenario>', 'scenario file or built-in scenario name')
    .option('--param <name=v1,v2,...>', "sweep a parameter or dotted field over these values (repeatable; replaces the scenario's own sweep of it)", collect, [])
    .option('--preset <name>', "a size the scenario defines (its presets: e.g. ci, full): that preset's sweep (else the file's), fixed values and seeds (--param and --seeds still override)")
    .option('--seeds <n>', `seeds per combination (default: the scenario's seeds, else ${DEFAULT_SEEDS})`, intArg(1, 10_000))
    .option('--first-seed <n>', 'seeds are first-seed, first-seed+1, ...', intArg(0, 2 ** 31 - 1), 1)
    .option('--jobs <n>', 'worker threads (0: run in this thread)', intArg(0, 1024), defaultJobs())
    .option('--until <time>', 'end every run at this virtual time after the warm-up began (overrides duration)', durationArg)
    .option('--out <dir>', 'directory for results.json, results.csv, summary.csv and report.html (default: sweep-NAME)')
    .option('--redis <url>', 'run on remote workers through this Redis (start them with xt worker --redis URL)')
    .option('--queue <name>', 'Redis queue name', DEFAULT_QUEUE)
    .option('--no-progress', 'no progress bar on stderr')
    .option('--no-report', 'do not write report.html')
    .action(async function (this: Command, ref: string, o: Opts) {
      await guard(this, async () => {
        if (o.redis) checkRedisUrl(o.redis);
        const registry = defaultRegistry();
        const sc = new Scenario(readScenario(ref));
        const preset = o.preset === undefined ? undefined : sc.preset(o.preset);
        const axes = mergeAxes(preset?.sweep.length ? preset.sweep : sc.sweep, o.param.map((p) => parseParamArg(p)));
        const seeds = seedList(o.seeds ?? preset?.seeds ?? sc.seeds ?? DEFAULT_SEEDS, o.firstSeed);
        const plan = planSweep(sc, axes, seeds, registry, { untilNs: o.until, fixed: preset?.params, preset: preset?.name });
        const out = o.out ?? `sweep-${sc.name}${preset ? `-${preset.name}` : ''}`;
        if (plan.runs.length > 100_000) throw new ScenarioError(`${plan.runs.length} runs is too many for one sweep`);
        log(`sweep ${sc.name}${preset ? ` (preset ${preset.name})` : ''}: ${plan.combos.length} combination(s) × ${seeds.length} seed(s) = ${plan.runs.length} runs${o.redis ? ` on workers via ${o.redis}` : o.jobs === 0 ? ' in this thread' : ` on ${Math.min(o.jobs, plan.runs.length)} worker thread(s)`}`);
        const bar = o.progress ? new cliProgress.SingleBar({ stream: process.stderr, format: '  [{bar}] {value}/{total} runs | {failed} failed | {duration_formatted} elapsed | eta {eta_formatted}', hideCursor: true, etaBuffer: 20 }, cliProgress.Presets.shades_classic) : null;
        let failed = 0;
        bar?.start(plan.runs.length, 0, { failed });
        const onRun = (r: RunResult, done: number) => {
          if (r.status !== 'ok') failed++;
          bar?.update(done, { failed });
        };
        const t0 = performance.now();
        let byId: Map<string, RunResult>;
        try {
          if (o.redis) {
            const { runDistributed } = await import('../../sweep/redis'); // bullmq loads only when used
            byId = await runDistributed(plan, o.redis, { queue: o.queue, onRun, log: (l) => log(bar ? `\n${l}` : l) });
          } else byId = await runLocal(plan, { jobs: o.jobs, onRun });
        } finally {
          bar?.stop();
        }
        const res = assembleResults(plan, byId);
        const files = writeResults(out, res);
        if (o.report) files.push(await (await import('../../report/report')).writeReport(out, res));
        log(`${plan.runs.length} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${files.join(', ')}`);
        process.stdout.write(formatSummary(res.summary) + '\n');
        const cmp = paperComparison(res);
        if (cmp) process.stdout.write('\n' + formatPaperComparison(cmp) + '\n');
        if (failed > 0) throw new Error(`${failed} of ${plan.runs.length} runs failed (see ${files[0]})`);
      });
    });
}
