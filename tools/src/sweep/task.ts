/** One sweep run on a worker thread (piscina): a pure function of its input. */
import { runScenario, type RunResult } from '../runner/run';
import type { ResolvedScenario } from '../scenario/types';

export interface RunTask {
  id: string;
  combo: number;
  seed: number;
  scenario: ResolvedScenario;
}

export default function runTask(t: RunTask): RunResult {
  return runScenario(t.scenario, t.seed, { id: t.id, combo: t.combo });
}
