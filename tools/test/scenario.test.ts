/**
 * Scenario files: the schema accepts every built-in scenario; resolution expands counts, weights,
 * pools, parameters (declared, labelled choices, dotted paths) and units; every kind of bad input
 * is one ScenarioError naming the file, line:column, field and what was expected.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { defaultRegistry } from '../src/host/registry';
import { SCENARIO_SCHEMA, Scenario, ScenarioError, builtinScenarios, loadScenario, readScenario, weightParams, type Assignment } from '../src/scenario/load';
import { parseBytes, parseDuration } from '../src/scenario/units';
import { mergeAxes, parseParamArg, planSweep, seedList } from '../src/sweep/plan';

const registry = defaultRegistry();
const dir = mkdtempSync(join(tmpdir(), 'xt-scenario-'));

const BASE = `name: tiny
params:
  n: 2
  slice: 2ms
host:
  cpus: 2
  memoryMiB: 256
  pools:
    - scheduler: rr
      params:
        rr:
          slice: \${slice}
domains:
  - name: hog{i}
    count: \${n}
    memoryMiB: 8
    workload: { type: cpuhog, chunk: 500us, ws: 64KiB }
  - name: inter
    memoryMiB: 8
    weight: 3
    workload: { type: interactive, period: 10ms }
duration: 300ms
warmup: 50ms
`;

let k = 0;
function file(text: string, ext = '.yaml'): string {
  const f = join(dir, `s${k++}${ext}`);
  writeFileSync(f, text);
  return f;
}
const resolve = (text: string, assign: Assignment[] = [], ext?: string) => new Scenario(readScenario(file(text, ext))).resolve(assign, registry);
function fails(text: string, re: RegExp, assign: Assignment[] = []): string {
  try {
    resolve(text, assign);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const m = (e as Error).message;
    expect(m.split('\n')).toHaveLength(1);
    expect(m).toMatch(re);
    return m;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario files', () => {
  it('every built-in scenario validates and resolves with its defaults', () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema(SCENARIO_SCHEMA)).toBe(true);
    expect(builtinScenarios()).toEqual(expect.arrayContaining(['bvt-latency', 'isolation', 'scalability']));
    for (const n of builtinScenarios()) {
      const sc = loadScenario(n, [], registry);
      expect(sc.domains.length).toBeGreaterThan(0);
      expect(sc.durationNs).toBeGreaterThan(0);
    }
  });

  it('resolves counts, units, weights, parameters and measurement selectors', () => {
    const sc = resolve(BASE);
    expect(sc.domains.map((d) => d.name)).toEqual(['hog1', 'hog2', 'inter']);
    expect(sc.domains.map((d) => d.group)).toEqual(['hog', 'hog', 'inter']);
    expect(sc.host.pools).toEqual([{ index: 0, name: 'Pool-0', scheduler: 'rr', cpus: [0, 1], params: { slice: 2_000_000 } }]);
    expect(sc.domains[0].workload).toEqual({ type: 'cpuhog', kernel: 'minios-cpuhog', args: { chunk: 500_000, ws: 65536 }, cmdline: 'chunk=500000 ws=65536', unitNs: 500_000 });
    expect(sc.domains[2].workload.unitNs).toBe(1_000_000); // interactive's default work
    expect(sc.durationNs).toBe(300_000_000);
    expect(sc.warmupNs).toBe(50_000_000);
    expect(sc.params).toEqual({ n: 2, slice: '2ms' });
    // --param: a declared name and a dotted path (array item by group name)
    const sc2 = resolve(BASE, [{ name: 'n', value: 4 }, { name: 'domains.inter.vcpus', value: 2 }, { name: 'duration', value: '1s' }]);
    expect(sc2.domains.filter((d) => d.group === 'hog')).toHaveLength(4);
    expect(sc2.domains.at(-1)!.vcpus).toBe(2);
    expect(sc2.durationNs).toBe(1e9);
  });

  it('maps weights onto each policy, exactly for BVT weights 1..8', () => {
    expect(weightParams(registry.scheduler('bvt'), 1)).toEqual({ mcu_adv: 840 });
    expect(weightParams(registry.scheduler('bvt'), 3)).toEqual({ mcu_adv: 280 });
    expect(weightParams(registry.scheduler('credit'), 2)).toEqual({ weight: 512 });
    expect(weightParams(registry.scheduler('rr'), 5)).toEqual({});
    const bvt = resolve(BASE.replace('scheduler: rr', 'scheduler: bvt').replace(/      params:\n        rr:\n          slice: \$\{slice\}\n/, '').replace('    weight: 3\n', '    weight: 3\n    sched:\n      bvt: { warpback: 1, warpvalue: 5000 }\n'));
    expect(bvt.domains.map((d) => d.sched)).toEqual([{ mcu_adv: 840 }, { mcu_adv: 840 }, { mcu_adv: 280, warpback: 1, warpvalue: 5000 }]);
    expect(bvt.host.dom0.sched).toEqual({ mcu_adv: 840 });
  });

  it('labelled parameters set others; explicit assignments still win', () => {
    const sc = new Scenario(readScenario('bvt-latency'));
    expect(sc.paramValues([])).toMatchObject({ policy: 'bvt-warp', scheduler: 'bvt', warp: 1 });
    expect(sc.paramValues([{ name: 'policy', value: 'rr' }])).toMatchObject({ policy: 'rr', scheduler: 'rr', warp: 0 });
    expect(sc.paramValues([{ name: 'policy', value: 'bvt' }, { name: 'warp', value: 1 }])).toMatchObject({ scheduler: 'bvt', warp: 1 });
    expect(() => sc.paramValues([{ name: 'policy', value: 'fifo' }])).toThrow(/parameter policy: expected one of rr, bvt, bvt-warp, credit, got "fifo"/);
    const r = sc.resolve([{ name: 'policy', value: 'credit' }], registry);
    expect(r.host.pools[0]).toMatchObject({ scheduler: 'credit', params: { tslice_ms: 5 } });
    expect(r.domains.map((d) => d.sched.weight)).toEqual([256, 512, 768, 1024, 512]);
  });

  it('places extra pools on the highest free pCPUs, or on the ones listed', () => {
    const two = BASE.replace('cpus: 2', 'cpus: 4').replace(
      '          slice: ${slice}\n',
      '          slice: ${slice}\n    - name: guests\n      scheduler: credit\n      cpus: 2\n    - name: rt\n      scheduler: rtds\n      cpus: [0]\n',
    );
    const sc = resolve(two.replace('    workload: { type: cpuhog', '    pool: guests\n    workload: { type: cpuhog'));
    expect(sc.host.pools.map((p) => [p.name, p.scheduler, p.cpus])).toEqual([
      ['Pool-0', 'rr', [1]],
      ['guests', 'credit', [2, 3]],
      ['rt', 'rtds', [0]],
    ]);
    expect(sc.domains.map((d) => d.pool)).toEqual([1, 1, 0]);
    expect(sc.domains[0].sched).toEqual({ weight: 256 });
  });

  it('JSON scenario files work too', () => {
    const json = JSON.stringify({ name: 'j', host: { cpus: 1, memoryMiB: 128, pools: [{ scheduler: 'bvt' }] }, domains: [{ name: 'a', memoryMiB: 8, workload: { type: 'idle' } }], duration: '100ms' });
    expect(resolve(json, [], '.json').domains[0].workload.kernel).toBe('minios-idle');
  });

  it.each([
    ['wrong type', [/memoryMiB: 8\n    workload: \{ type: cpuhog/, 'memoryMiB: eight\n    workload: { type: cpuhog'], /s\d+\.yaml:16:16: domains\[0\]\.memoryMiB: expected an integer, got "eight"$/],
    ['unknown field', [/  cpus: 2\n/, '  cpus: 2\n  colour: red\n'], /:7:3: host\.colour: unknown field "colour" \(expected one of: cpus, topology, memoryMiB, dom0, costs, pools\)$/],
    ['missing required field', [/duration: 300ms\n/, ''], /: \(top level\): missing required field "duration"$/],
    ['unknown scheduler', [/scheduler: rr/, 'scheduler: fifo'], /:9:18: host\.pools\[0\]\.scheduler: unknown scheduler "fifo" \(registered: .*bvt.*rr/],
    ['unknown scheduler parameter', [/          slice:/, '          slise:'], /host\.pools\[0\]\.params\.rr\.slise: scheduler "rr" has no per-pool parameter "slise" \(has: slice\)$/],
    ['scheduler parameter out of range', [/slice: 2ms/, 'slice: 1ns'], /host\.pools\[0\]\.params\.rr\.slice: expected a value between \d+ and \d+ ns, got "1ns" \(from \$\{slice\}\)|expected a value between/],
    ['bad duration', [/duration: 300ms/, 'duration: soon'], /:22:11: duration: expected a positive duration: integer nanoseconds or a number with a unit .*got "soon"$/],
    ['unknown workload', [/type: interactive/, 'type: webserver'], /domains\[1\]\.workload\.type: unknown workload "webserver" \(have: cpuhog, interactive/],
    ['unknown workload parameter', [/period: 10ms/, 'perod: 10ms'], /domains\[1\]\.workload\.perod: workload "interactive" has no parameter "perod" \(has: period, jitter, work, ws\)$/],
    ['unknown device type', [/    weight: 3\n/, '    weight: 3\n    devices: [{ type: floppy, image: disk.img }]\n'], /domains\[1\]\.devices\[0\]\.type: unknown device type "floppy"/],
    ['unknown pool', [/    weight: 3\n/, '    weight: 3\n    pool: nowhere\n'], /domains\[1\]\.pool: unknown pool "nowhere" \(pools: Pool-0\)$/],
    ['not enough memory', [/memoryMiB: 256/, 'memoryMiB: 70'], /:7:14: host\.memoryMiB: expected at least 88 MiB \(dom0 64 \+ the domains' 24\), got 70$/],
    ['unknown template parameter', [/count: \$\{n\}/, 'count: ${m}'], /:15:12: domains\[0\].count: unknown parameter "m" in "\$\{m\}" \(declared: n, slice\)$/],
    ['duplicate names', [/name: inter\n/, 'name: hog1\n'], /domains\[1\]\.name: duplicate domain name "hog1" \(also from domains\[0\]\)$/],
    ['weights per instance', [/count: \$\{n\}/, 'count: ${n}\n    weight: [1, 2, 3]'], /domains\[0\]\.weight: expected 2 weights \(one per instance, count is 2\), got 3$/],
    ['selector naming nothing', [/warmup: 50ms\n/, 'warmup: 50ms\nmeasure: { latency: [ghost] }\n'], /measure\.latency\[0\]: "ghost" names no domain or group/],
    ['cpus and topology', [/  cpus: 2\n/, '  cpus: 2\n  topology: { sockets: 1, coresPerSocket: 2, threadsPerCore: 1 }\n'], /: host: expected exactly one of "cpus"/],
    ['YAML syntax', [/  cpus: 2\n/, '  cpus: [2\n'], /:\d+:\d+: not valid YAML\/JSON: /],
  ])('%s is one clear error', (_name, [from, to], re) => {
    fails(BASE.replace(from as RegExp, to as string), re as RegExp);
  });

  it('bad assignments name the parameter and the expectation', () => {
    fails(BASE, /domains\[0\]\.count: expected an integer, got "many" \(from \$\{n\}\)$/, [{ name: 'n', value: 'many' }]);
    fails(BASE, /scenario "tiny" has no parameter "m" \(declared: n, slice;/, [{ name: 'm', value: 1 }]);
    fails(BASE, /--param domains\.web\.vcpus: .* has no field domains\.web$/, [{ name: 'domains.web.vcpus', value: 1 }]);
    expect(() => parseParamArg('n')).toThrow(/--param "n": expected name=value\[,value\.\.\.\]/);
    expect(() => parseParamArg('n=1,,2')).toThrow(/empty value/);
    expect(() => parseParamArg('n=1,2', true)).toThrow(/xt run takes one value per parameter/);
    expect(parseParamArg('n=1,2,4')).toEqual({ name: 'n', values: [1, 2, 4] });
    expect(parseParamArg('slice=5ms,50ms')).toEqual({ name: 'slice', values: ['5ms', '50ms'] });
  });

  it('a sweep plan is the cross product, validated before anything runs, with stable run ids', () => {
    const sc = new Scenario(readScenario(file(BASE)));
    const axes = mergeAxes([{ name: 'n', values: [1] }], [parseParamArg('n=1,3'), parseParamArg('slice=1ms,5ms')]);
    const plan = planSweep(sc, axes, seedList(2), registry);
    expect(plan.combos.map((c) => c.label)).toEqual(['n=1 slice=1ms', 'n=1 slice=5ms', 'n=3 slice=1ms', 'n=3 slice=5ms']);
    expect(plan.runs.map((r) => r.id).slice(0, 3)).toEqual(['n=1 slice=1ms seed=1', 'n=1 slice=1ms seed=2', 'n=1 slice=5ms seed=1']);
    expect(plan.combos[3].scenario.domains).toHaveLength(4);
    expect(() => planSweep(sc, [parseParamArg('n=1,zero')], [1], registry)).toThrow(/count: expected an integer, got "zero" \(from \$\{n\}\) \[with n=zero\]/);
  });

  it('units', () => {
    expect(parseDuration('1.5ms')).toBe(1_500_000);
    expect(parseDuration('250us')).toBe(250_000);
    expect(parseDuration(42)).toBe(42);
    expect(parseDuration('5 parsecs')).toBeNull();
    expect(parseBytes('256KiB')).toBe(262144);
    expect(parseBytes('2MiB')).toBe(2097152);
    expect(parseBytes('1.5')).toBeNull();
  });
});
