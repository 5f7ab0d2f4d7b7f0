/**
 * What the paper's scenarios need from the scenario format: cost-model presets (`host.costs:
 * { preset: sosp03 }`, single fields overriding), named experiment sizes (`presets:` → xt sweep
 * --preset), the instance number `{i}` in workload and device parameters and as a weight, and
 * `count: 0` switching an entry off even with a weight per instance.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRegistry } from '../src/host/registry';
import { Scenario, ScenarioError, readScenario } from '../src/scenario/load';
import { COST_PRESETS } from '../src/scenario/cost-presets';
import { planSweep } from '../src/sweep/plan';

const dir = mkdtempSync(join(tmpdir(), 'xt-presets-'));
const reg = defaultRegistry();

function scenario(text: string): Scenario {
  const f = join(dir, `s${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, text);
  return new Scenario(readScenario(f));
}

const BASE = `name: p
params:
  n: 2
  slice: 5ms
presets:
  small: { doc: tiny, sweep: { n: [1, 2] }, params: { duration: 20ms, slice: 50ms }, seeds: 2 }
host:
  cpus: 1
  memoryMiB: 256
  costs: COSTS
  pools:
    - scheduler: bvt
      params: { bvt: { ctx_allow: "\${slice}" } }
domains:
  - name: w{i}
    count: \${n}
    weight: "{i}"
    memoryMiB: 8
    workload: { type: cpuhog, chunk: "{i+99}", ws: 1KiB }
  - name: off{i}
    count: 0
    weight: [1, 2, 3]
    memoryMiB: 8
    workload: { type: idle }
duration: 50ms
`;

describe('scenario presets and cost presets', () => {
  it('a cost preset gives its values; single fields override; an unknown preset is named', () => {
    const sc = scenario(BASE.replace('COSTS', '{ preset: sosp03, softirqNs: 2us }')).resolve([], reg);
    expect(sc.host.costs).toEqual({ ...COST_PRESETS.sosp03.costs, softirqNs: 2000 });
    expect(COST_PRESETS.sosp03.costs).toMatchObject({ switchNs: 1970, tlbRefillNs: 0, cacheBytes: 512 * 1024, refillBytesPerNs: 1.75, hypercallNs: 450 });
    for (const [k, v] of Object.entries(COST_PRESETS.sosp03.sources)) expect(v.length, k).toBeGreaterThan(10);
    expect(() => scenario(BASE.replace('COSTS', '{ preset: pentium }')).resolve([], reg)).toThrow(/host\.costs\.preset: unknown cost preset "pentium" \(presets: default, sosp03\)/);
  });

  it('{i} in workload parameters and as a weight is the instance number; count 0 switches an entry off', () => {
    const sc = scenario(BASE.replace('COSTS', '{}')).resolve([{ name: 'n', value: 3 }], reg);
    expect(sc.domains.map((d) => [d.name, d.weight, d.workload.args.chunk, d.sched.mcu_adv])).toEqual([
      ['w1', 1, 100, 840],
      ['w2', 2, 101, 420],
      ['w3', 3, 102, 280],
    ]);
  });

  it('a preset is a sweep, fixed values and seeds; fixed values stay out of run labels', () => {
    const sc = scenario(BASE.replace('COSTS', '{}'));
    expect(sc.presets.map((p) => p.name)).toEqual(['small']);
    const p = sc.preset('small');
    const plan = planSweep(sc, p.sweep, [1, 2], reg, { fixed: p.params, preset: p.name });
    expect(plan.runs.map((r) => r.id)).toEqual(['n=1 seed=1', 'n=1 seed=2', 'n=2 seed=1', 'n=2 seed=2']);
    expect(plan.combos[1].scenario.durationNs).toBe(20_000_000);
    expect(plan.combos[1].scenario.host.pools[0].params.ctx_allow).toBe(50_000_000);
    expect(plan.scenario.preset).toBe('small');
    // an axis beats a fixed value of the same name
    const plan2 = planSweep(sc, [{ name: 'slice', values: ['10ms'] }], [1], reg, { fixed: p.params });
    expect(plan2.combos[0].scenario.host.pools[0].params.ctx_allow).toBe(10_000_000);
    expect(() => sc.preset('huge')).toThrow(ScenarioError);
    expect(() => sc.preset('huge')).toThrow(/has no preset "huge" \(presets: small\)/);
    expect(() => scenario(BASE.replace('COSTS', '{}').replace('params: { duration: 20ms, slice: 50ms }', 'params: { nosuch: 1 }'))).toThrow(/presets\.small\.params\.nosuch: scenario "p" has no parameter "nosuch"/);
  });

  it('the built-in paper scenarios define ci and full presets', () => {
    for (const name of ['scalability', 'isolation', 'concurrent', 'bvt-latency']) {
      const sc = new Scenario(readScenario(name));
      expect(sc.presets.map((p) => p.name), name).toEqual(['ci', 'full']);
      for (const p of sc.presets) planSweep(sc, p.sweep.length ? p.sweep : sc.sweep, [1], reg, { fixed: p.params });
    }
  });
});
