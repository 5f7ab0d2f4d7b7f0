/**
 * A sweep plan: the cross product of parameter axes (first axis outermost, values in the order
 * given) times the seeds, each combination resolved and validated before anything runs. Run ids
 * are stable names ("policy=rr n=4 seed=3"); results are keyed by them, so a run done twice (a
 * re-queued job) is still counted once.
 */
import type { Registry } from '@xenotype/core';
import { ScenarioError, parseScalar, type Assignment, type Scenario } from '../scenario/load';
import type { ResolvedScenario, Scalar } from '../scenario/types';

export interface Axis {
  name: string;
  values: Scalar[];
}

export interface Combo {
  index: number;
  /** "policy=rr n=4", or "defaults" when nothing is swept. */
  label: string;
  assign: Record<string, Scalar>;
  scenario: ResolvedScenario;
}

export interface PlannedRun {
  id: string;
  combo: number;
  seed: number;
}

export interface SweepPlan {
  /** `preset`: the named experiment size the sweep was planned from (xt sweep --preset), if any. */
  scenario: { name: string; description: string; source: string; preset?: string };
  axes: Axis[];
  seeds: number[];
  combos: Combo[];
  runs: PlannedRun[];
}

/** `--param name=v1,v2,...` (or one value with `single`). */
export function parseParamArg(arg: string, single = false): Axis {
  const m = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/.exec(arg);
  if (!m || m[2].trim() === '') throw new ScenarioError(`--param "${arg}": expected name=value${single ? '' : '[,value...]'}`);
  const values = m[2].split(',').map((v) => v.trim());
  if (values.some((v) => v === '')) throw new ScenarioError(`--param "${arg}": empty value in the list`);
  if (single && values.length > 1) throw new ScenarioError(`--param "${arg}": xt run takes one value per parameter (xt sweep takes lists)`);
  return { name: m[1], values: values.map(parseScalar) };
}

/** The file's default axes with command-line axes replacing or extending them. */
export function mergeAxes(fileAxes: Axis[], cli: Axis[]): Axis[] {
  const out = fileAxes.map((a) => ({ ...a }));
  for (const a of cli) {
    const i = out.findIndex((x) => x.name === a.name);
    if (i >= 0) out[i] = a;
    else out.push(a);
  }
  return out;
}

const fmt = (v: Scalar) => String(v);

export interface PlanOptions {
  /** End every run at this virtual time after the warm-up begins (overrides duration). */
  untilNs?: number;
  /** Values set in every combination before the axes (a preset's params); an axis of the same name wins. */
  fixed?: Assignment[];
  /** The preset these axes, seeds and fixed values came from (recorded in the results). */
  preset?: string;
}

export function planSweep(sc: Scenario, axes: Axis[], seeds: number[], registry: Registry, opts: PlanOptions = {}): SweepPlan {
  for (const a of [...axes, ...(opts.fixed ?? [])]) sc.checkAssignable(a.name);
  const names = axes.map((a) => a.name);
  if (new Set(names).size !== names.length) throw new ScenarioError(`--param: "${names.find((n, i) => names.indexOf(n) !== i)}" is given twice`);
  let tuples: Scalar[][] = [[]];
  for (const a of axes) tuples = tuples.flatMap((t) => a.values.map((v) => [...t, v]));
  const combos: Combo[] = tuples.map((t, index) => {
    const assign = Object.fromEntries(axes.map((a, k) => [a.name, t[k]]));
    const label = axes.length ? axes.map((a, k) => `${a.name}=${fmt(t[k])}`).join(' ') : 'defaults';
    let scenario: ResolvedScenario;
    try {
      scenario = sc.resolve([...(opts.fixed ?? []), ...axes.map((a, k): Assignment => ({ name: a.name, value: t[k] }))], registry);
    } catch (e) {
      if (e instanceof ScenarioError && axes.length) throw new ScenarioError(`${e.message} [with ${label}]`);
      throw e;
    }
    scenario = { ...scenario, params: { ...scenario.params, ...assign } };
    if (opts.untilNs !== undefined) scenario = withUntil(scenario, opts.untilNs);
    return { index, label, assign, scenario };
  });
  const runs = combos.flatMap((c) => seeds.map((seed) => ({ id: `${c.label === 'defaults' ? '' : c.label + ' '}seed=${seed}`, combo: c.index, seed })));
  const scenario = { name: sc.name, description: sc.description, source: sc.source.file, ...(opts.preset ? { preset: opts.preset } : {}) };
  return { scenario, axes, seeds, combos, runs };
}

/** `--until T`: the run ends at virtual time T counted from the start of the warm-up. */
export function withUntil(sc: ResolvedScenario, untilNs: number): ResolvedScenario {
  if (untilNs <= sc.warmupNs) throw new ScenarioError(`--until ${untilNs / 1e6}ms: must be later than the warm-up (${sc.warmupNs / 1e6} ms)`);
  return { ...sc, durationNs: untilNs - sc.warmupNs };
}

/** Seeds 1..n from `first`. */
export function seedList(n: number, first = 1): number[] {
  return Array.from({ length: n }, (_, i) => first + i);
}
