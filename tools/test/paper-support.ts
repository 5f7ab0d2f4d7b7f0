/**
 * Runs a built-in scenario's preset (the CI size of the paper's experiments) in this thread and
 * returns its results with the paper comparison, for the tests of the paper's experiments.
 */
import { defaultRegistry } from '../src/host/registry';
import { Scenario, readScenario } from '../src/scenario/load';
import { planSweep, seedList, type Axis } from '../src/sweep/plan';
import { runLocal } from '../src/sweep/local';
import { assembleResults, type ComboSummary, type SweepResults } from '../src/sweep/results';
import { paperComparison, type PaperComparison } from '../src/report/paper';
import type { Scalar } from '../src/scenario/types';

export interface PresetRun {
  res: SweepResults;
  cmp: PaperComparison;
  combo(where: Record<string, Scalar>): ComboSummary;
}

export async function runPreset(name: string, preset = 'ci', extra: Axis[] = []): Promise<PresetRun> {
  const sc = new Scenario(readScenario(name));
  const p = sc.preset(preset);
  const axes = [...(p.sweep.length ? p.sweep : sc.sweep), ...extra];
  const plan = planSweep(sc, axes, seedList(p.seeds ?? 2), defaultRegistry(), { fixed: p.params, preset: p.name });
  const res = assembleResults(plan, await runLocal(plan, { jobs: 0 }));
  return {
    res,
    cmp: paperComparison(res)!,
    combo: (where) => {
      const s = res.summary.find((x) => Object.entries(where).every(([k, v]) => String(x.params[k]) === String(v)));
      if (!s) throw new Error(`no combination ${JSON.stringify(where)}`);
      return s;
    },
  };
}
