/**
 * Determinism of sweeps: a run is a pure function of (scenario, parameters, seed), so one sweep run
 * serially in this thread and in parallel on worker threads (piscina, loading TypeScript through
 * tsx in each worker) gives byte-identical result files; so does running it again. Seeds matter
 * where the scenario draws random numbers (the interactive guest's jitter).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRegistry } from '../tools/src/host/registry';
import { Scenario, readScenario } from '../tools/src/scenario/load';
import { planSweep, seedList, type SweepPlan } from '../tools/src/sweep/plan';
import { runLocal } from '../tools/src/sweep/local';
import { assembleResults, writeResults } from '../tools/src/sweep/results';
import { runScenario } from '../tools/src/runner/run';

const dir = mkdtempSync(join(tmpdir(), 'xt-sweep-det-'));

function plan(seeds: number[]): SweepPlan {
  const sc = new Scenario(readScenario('bvt-latency'));
  return planSweep(sc, [{ name: 'policy', values: ['rr', 'bvt-warp', 'credit'] }], seeds, defaultRegistry(), { untilNs: 1_200_000_000 });
}

async function sweepFiles(p: SweepPlan, jobs: number, out: string): Promise<Record<string, Buffer>> {
  const res = assembleResults(p, await runLocal(p, { jobs }));
  const files = writeResults(join(dir, out), res);
  return Object.fromEntries(files.map((f) => [f.slice(f.lastIndexOf('/') + 1), readFileSync(f)]));
}

describe('sweep determinism', () => {
  it('serial, parallel and repeated sweeps give byte-identical result files', async () => {
    const p = plan(seedList(2));
    expect(p.runs).toHaveLength(6);
    const serial = await sweepFiles(p, 0, 'serial');
    const parallel = await sweepFiles(p, 2, 'parallel');
    const again = await sweepFiles(plan(seedList(2)), 3, 'again');
    expect(Object.keys(serial).sort()).toEqual(['results.csv', 'results.json', 'summary.csv']);
    for (const f of Object.keys(serial)) {
      expect(parallel[f].equals(serial[f]), `${f} serial vs parallel`).toBe(true);
      expect(again[f].equals(serial[f]), `${f} serial vs again`).toBe(true);
    }
    const res = JSON.parse(serial['results.json'].toString());
    expect(res.runs.map((r: { id: string }) => r.id)).toEqual(p.runs.map((r) => r.id));
    expect(res.runs.every((r: { status: string }) => r.status === 'ok')).toBe(true);
    // the figures are real: warp gives the interactive guest far lower wake-up latency than rr
    const p99 = (label: string) => res.summary.find((s: { label: string }) => s.label === label).groups.find((g: { group: string }) => g.group === 'interactive').latencyP99.mean;
    expect(p99('policy=bvt-warp')).toBeLessThan(p99('policy=rr') / 100);
  });

  it('a run is a pure function of its inputs; another seed draws other jitter', () => {
    const p = plan([1, 2]);
    const sc = p.combos[0].scenario;
    const a = runScenario(sc, 1, { id: 'a' });
    const b = runScenario(sc, 1, { id: 'a' });
    const c = runScenario(sc, 2, { id: 'a' });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(c.domains.find((d) => d.name === 'interactive')!.latency).not.toEqual(a.domains.find((d) => d.name === 'interactive')!.latency);
  });
});
