/**
 * The extension point for split drivers: a ScenarioDevice registered under a type name is accepted
 * in `domains[].devices` (its parameters checked by name), its setupHost runs once per host before
 * any guest is built and its attach once per guest listing it, while that guest is still paused —
 * both as dom0 jobs acting through Xc.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRegistry } from '../src/host/registry';
import { Scenario, readScenario } from '../src/scenario/load';
import { runScenario } from '../src/runner/run';
import type { ScenarioDevice } from '../src/runner/devices';

const dir = mkdtempSync(join(tmpdir(), 'xt-dev-'));
const SC = `name: dev
host:
  cpus: 1
  memoryMiB: 128
  pools:
    - scheduler: rr
domains:
  - name: g{i}
    count: 2
    memoryMiB: 8
    workload: { type: cpuhog }
    devices:
      - { type: fakedisk, size: 64 }
  - name: plain
    memoryMiB: 8
    workload: { type: idle }
duration: 50ms
`;

describe('scenario devices', () => {
  it('setupHost once, attach per guest while paused, parameters checked', () => {
    const calls: string[] = [];
    const dev: ScenarioDevice = {
      doc: 'a test device',
      params: [{ name: 'size', doc: 'MiB' }],
      *setupHost({ uses, sys }) {
        calls.push(`setup ${uses.map((u) => `${u.domain}:${JSON.stringify(u.params)}`).join(' ')} dom0 ${sys.xc.domainGetInfo(0) ? 'up' : '?'}`);
      },
      *attach({ domid, domain, params, sys }) {
        calls.push(`attach ${domain} d${domid} size=${params.size} paused=${sys.xc.domainGetInfo(domid)!.paused}`);
      },
    };
    const registry = defaultRegistry();
    registry.registerDevice('fakedisk', dev, dev.doc);
    const file = join(dir, 'dev.yaml');
    writeFileSync(file, SC);
    const sc = new Scenario(readScenario(file)).resolve([], registry);
    expect(sc.domains[0].devices).toEqual([{ type: 'fakedisk', params: { size: 64 } }]);
    const r = runScenario(sc, 1, { registry });
    expect(r.status).toBe('ok');
    expect(calls).toEqual(['setup g1:{"size":64} g2:{"size":64} dom0 up', 'attach g1 d1 size=64 paused=true', 'attach g2 d2 size=64 paused=true']);

    writeFileSync(file, SC.replace('size: 64', 'sise: 64'));
    expect(() => new Scenario(readScenario(file)).resolve([], registry)).toThrow(/:13:\d+: domains\[0\]\.devices\[0\]\.sise: device "fakedisk" has no parameter "sise" \(has: size\)$/);
    expect(() => new Scenario(readScenario(file)).resolve([], defaultRegistry())).toThrow(/domains\[0\]\.devices\[0\]\.type: unknown device type "fakedisk" \((registered: |none registered yet)/);
  });
});
