/**
 * xt list-schedulers, list-devices, list-workloads, list-scenarios: the plugins and built-in
 * scenarios installed, with the parameters a scenario may set. Each takes --json.
 */
import type { Command } from 'commander';
import type { ParamSpec } from '@xenotype/core';
import { WORKLOADS } from '@xenotype/minios';
import { defaultRegistry } from '../../host/registry';
import { Scenario, builtinScenarios, readScenario } from '../../scenario/load';
import { isScenarioDevice } from '../../runner/devices';
import { formatDuration } from '../../scenario/units';

const out = (s: string) => void process.stdout.write(s + '\n');
const param = (p: ParamSpec) => ({ name: p.name, unit: p.unit ?? null, min: p.min, max: p.max, default: p.default, doc: p.doc });
const paramLine = (p: ParamSpec) => `      ${p.name}${p.unit ? ` (${p.unit})` : ''}  ${p.min}..${p.max}, default ${p.default}: ${p.doc}`;

export function register(program: Command): void {
  program
    .command('list-schedulers')
    .description('the scheduler policies installed, with their per-domain and per-pool parameters')
    .option('--json', 'as JSON')
    .action((o: { json?: boolean }) => {
      const reg = defaultRegistry();
      const list = reg.list('scheduler').map((n) => {
        const s = reg.scheduler(n);
        return { name: n, title: s.name, schedId: s.schedId, doc: s.doc ?? '', domainParams: (s.domainParams?.params ?? []).map(param), poolParams: (s.globalParams?.params ?? []).map(param) };
      });
      if (o.json) return out(JSON.stringify(list, null, 1));
      for (const s of list) {
        out(`${s.name} — ${s.title} (XEN_SCHEDULER id ${s.schedId})`);
        if (s.doc) out(`    ${s.doc.replace(/\s+/g, ' ').slice(0, 300)}`);
        const sch = reg.scheduler(s.name);
        out(`    per-domain (domains[].sched.${s.name}):${s.domainParams.length ? '' : ' none'}`);
        for (const p of sch.domainParams?.params ?? []) out(paramLine(p));
        out(`    per-pool (host.pools[].params.${s.name}):${s.poolParams.length ? '' : ' none'}`);
        for (const p of sch.globalParams?.params ?? []) out(paramLine(p));
      }
    });

  program
    .command('list-devices')
    .description('the virtual device types drivers have registered (usable in domains[].devices)')
    .option('--json', 'as JSON')
    .action((o: { json?: boolean }) => {
      const reg = defaultRegistry();
      const list = reg.list('device').map((n) => {
        const d = reg.device<unknown>(n);
        return { name: n, doc: reg.describe('device', n), scenario: isScenarioDevice(d), params: isScenarioDevice(d) ? (d.params ?? []) : [] };
      });
      if (o.json) return out(JSON.stringify(list, null, 1));
      if (list.length === 0) return out('no device types registered yet (split drivers register theirs; see docs/scenarios.md, "Devices")');
      for (const d of list) {
        out(`${d.name}${d.doc ? ` — ${d.doc}` : ''}${d.scenario ? '' : ' (not usable in scenarios: no attach hook)'}`);
        for (const p of d.params) out(`      ${p.name}: ${p.doc}`);
      }
    });

  program
    .command('list-workloads')
    .description('the guest workloads (domains[].workload.type) and their parameters')
    .option('--json', 'as JSON')
    .action((o: { json?: boolean }) => {
      const list = Object.entries(WORKLOADS).map(([name, w]) => ({ name, doc: w.doc, unitParam: w.unitParam ?? null, params: w.params ?? null }));
      if (o.json) return out(JSON.stringify(list, null, 1));
      for (const w of list) {
        out(`${w.name} — ${w.doc}`);
        for (const p of w.params ?? []) out(`      ${p.name} (${p.kind}) default ${p.kind === 'duration' ? formatDuration(p.default) : p.default}: ${p.doc}`);
        if (!w.params) out('      (parameters not declared: any name=integer passes)');
      }
    });

  program
    .command('list-scenarios')
    .description('the built-in scenarios (xt run NAME), with their parameters and default sweeps')
    .option('--json', 'as JSON')
    .action((o: { json?: boolean }) => {
      const list = builtinScenarios().map((n) => {
        const sc = new Scenario(readScenario(n));
        return { name: n, description: sc.description, params: sc.params, sweep: sc.sweep, seeds: sc.seeds ?? null, presets: sc.presets };
      });
      if (o.json) return out(JSON.stringify(list, null, 1));
      for (const s of list) {
        out(`${s.name}`);
        out(`    ${s.description}`);
        for (const p of s.params) out(`    param ${p.name} = ${p.default}${p.values ? ` (one of ${Object.keys(p.values).join(', ')})` : ''}${p.doc ? `: ${p.doc}` : ''}`);
        if (s.sweep.length) out(`    sweeps ${s.sweep.map((a) => `${a.name} over ${a.values.join(', ')}`).join('; ')}${s.seeds ? ` with ${s.seeds} seeds` : ''}`);
        for (const p of s.presets)
          out(`    preset ${p.name}: ${[p.sweep.map((a) => `${a.name} over ${a.values.join(', ')}`).join('; '), p.params.map((a) => `${a.name}=${a.value}`).join(' '), p.seeds ? `${p.seeds} seeds` : ''].filter(Boolean).join('; ')}${p.doc ? ` — ${p.doc}` : ''}`);
      }
    });
}
