/**
 * Scenario files: read (YAML or JSON — YAML 1.2 parses both, keeping positions), parameters
 * assigned and substituted, validated against scenario.schema.json and then against the plugins a
 * registry has (schedulers and their ParamSpecs, workloads and their parameters, device types), and
 * resolved into a ResolvedScenario: plain data with every unit converted.
 *
 * Every problem is a ScenarioError whose one-line message names the file, the line and column, the
 * field (as a path such as domains[1].vcpus) and what was expected — bad input, never a crash.
 *
 * Parameters: `params` declares names with defaults; `${name}` anywhere else is replaced by the value
 * (a whole-string `${n}` keeps the value's type). A parameter may declare `values`: labels that each
 * set other parameters (e.g. policy: bvt-warp → scheduler: bvt, warp: 1). Assignments come from
 * `--param name=value`; a name with dots (domains.hog.count, host.cpus) sets that field directly.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, isMap, isScalar, parseDocument, type Document } from 'yaml';
import type { AnySchedulerOps, ParamSpec, Registry } from '@xenotype/core';
import { WORKLOADS } from '@xenotype/minios';
import { WEIGHTINGS } from '../demo/compare';
import schema from './scenario.schema.json' with { type: 'json' };
import { parseBytes, parseDuration, timeUnitNs } from './units';
import { COST_PRESETS, costPreset } from './cost-presets';
import { isScenarioDevice } from '../runner/devices';
import type { ResolvedDomain, ResolvedPool, ResolvedScenario, ResolvedWorkload, Scalar } from './types';

/** Bad scenario input: the CLI prints the message and exits 2. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

export const BUILTIN_DIR = fileURLToPath(new URL('./builtin/', import.meta.url));

/** Names of the built-in scenarios (tools/src/scenario/builtin/NAME.yaml). */
export function builtinScenarios(): string[] {
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

export interface ScenarioSource {
  /** How errors name it: the path given, or builtin:NAME. */
  file: string;
  text: string;
}

const EXTS = ['.yaml', '.yml', '.json'];

/** Read a scenario file, or a built-in scenario by name. */
export function readScenario(ref: string): ScenarioSource {
  const builtin = join(BUILTIN_DIR, `${ref}.yaml`);
  if (!ref.includes('/') && !EXTS.includes(extname(ref)) && existsSync(builtin)) return { file: `builtin:${ref}`, text: readFileSync(builtin, 'utf8') };
  if (!existsSync(ref)) {
    const have = builtinScenarios().join(', ');
    throw new ScenarioError(`scenario file "${ref}" not found (nor a built-in scenario of that name; built-in: ${have})`);
  }
  if (!EXTS.includes(extname(ref))) throw new ScenarioError(`${ref}: expected a .yaml, .yml or .json scenario file`);
  let text: string;
  try {
    text = readFileSync(ref, 'utf8');
  } catch (e) {
    throw new ScenarioError(`${ref}: cannot read: ${(e as Error).message}`);
  }
  return { file: ref, text };
}

// ------------------------------------------------------------------ schema validation

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
ajv.addSchema(schema);
const SCHEMA_ID = schema.$id;
const validateFull = ajv.getSchema(SCHEMA_ID) as ValidateFunction;
const validateParamsBlock = ajv.compile({ $ref: `${SCHEMA_ID}#/properties/params` });
const validateSweepBlock = ajv.compile({ $ref: `${SCHEMA_ID}#/properties/sweep` });
const validateSeeds = ajv.compile({ $ref: `${SCHEMA_ID}#/properties/seeds` });
const validatePresets = ajv.compile({ $ref: `${SCHEMA_ID}#/properties/presets` });

export const SCENARIO_SCHEMA = schema;

type Path = (string | number)[];

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
};
const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function pathOf(instancePath: string): Path {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The one most useful message among ajv's errors, with the path it is about. */
function explain(errors: ErrorObject[]): { path: Path; message: string; atKey: boolean } {
  const scored = errors.map((e) => {
    let path = pathOf(e.instancePath);
    let message: string;
    const ps = e.parentSchema as { description?: string; properties?: Record<string, unknown> } | undefined;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        path = [...path, key];
        const allowed = Object.keys(ps?.properties ?? {});
        message = `unknown field "${key}"${allowed.length ? ` (expected one of: ${allowed.join(', ')})` : ''}`;
        break;
      }
      case 'required': {
        const key = (e.params as { missingProperty: string }).missingProperty;
        message = `missing required field "${key}"`;
        break;
      }
      case 'type': {
        const t = (e.params as { type: string | string[] }).type;
        const ts = Array.isArray(t) ? t.join(' or ') : t;
        message = `expected ${article(ts)}, got ${show(e.data)}`;
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const p = e.params as { comparison: string; limit: number };
        message = `expected a value ${p.comparison.replace('>=', '≥').replace('<=', '≤')} ${p.limit}, got ${show(e.data)}`;
        break;
      }
      case 'anyOf':
      case 'oneOf':
      case 'pattern':
        message = ps?.description ? `expected ${ps.description}, got ${show(e.data)}` : `${e.message}, got ${show(e.data)}`;
        break;
      case 'enum':
        message = `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(show).join(', ')}, got ${show(e.data)}`;
        break;
      case 'minItems':
        message = `expected at least ${(e.params as { limit: number }).limit} item(s)`;
        break;
      case 'propertyNames':
        message = `invalid name "${(e.params as { propertyName: string }).propertyName}"`;
        break;
      default:
        message = `${e.message ?? e.keyword}`;
    }
    // Prefer the deepest path; at one depth an anyOf's summary beats the failures of its branches.
    const rank = path.length * 10 + (e.keyword === 'anyOf' || e.keyword === 'oneOf' ? 5 : 0) + (e.keyword === 'additionalProperties' || e.keyword === 'required' ? 3 : 0);
    return { path, message, rank, atKey: e.keyword === 'additionalProperties' };
  });
  // Errors inside an anyOf branch at the same path as the anyOf are noise once the anyOf speaks.
  scored.sort((a, b) => b.rank - a.rank);
  return scored[0];
}

export function formatPath(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s || '(top level)';
}

// ------------------------------------------------------------------ parameters

export interface ParamDecl {
  name: string;
  default: Scalar;
  doc: string;
  /** Labels and the parameters each sets. */
  values?: Record<string, Record<string, Scalar>>;
}

export interface Assignment {
  name: string;
  value: Scalar;
}

/** A named experiment size (`presets:` in the file; xt sweep/run --preset NAME). */
export interface ScenarioPreset {
  name: string;
  doc: string;
  /** Sweep axes (replacing the file's default sweep). */
  sweep: { name: string; values: Scalar[] }[];
  /** Fixed values for every run (not swept, not in run labels). */
  params: Assignment[];
  seeds: number | undefined;
}

/** A command-line value as YAML reads a scalar: 5 → number, true → boolean, 5ms → string. */
export function parseScalar(v: string): Scalar {
  const t = v.trim();
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  return t;
}

/** Top-level fields `--param` may set by name (when no parameter of that name is declared). */
const TOP_LEVEL_FIELDS = new Set(['duration', 'warmup']);

const TEMPLATE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_TEMPLATE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** A parsed scenario file, before parameters are assigned. */
export class Scenario {
  readonly name: string;
  readonly description: string;
  readonly params: ParamDecl[];
  /** The file's default sweep axes. */
  readonly sweep: { name: string; values: Scalar[] }[];
  readonly seeds: number | undefined;
  /** Named experiment sizes, in file order. */
  readonly presets: ScenarioPreset[];
  private readonly doc: Document;
  private readonly lines: LineCounter;
  private readonly raw: Record<string, unknown>;

  constructor(readonly source: ScenarioSource) {
    this.lines = new LineCounter();
    this.doc = parseDocument(source.text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    if (this.doc.errors.length > 0) {
      const e = this.doc.errors[0];
      const at = this.lines.linePos(e.pos[0]);
      throw new ScenarioError(`${source.file}:${at.line}:${at.col}: not valid YAML/JSON: ${e.message.split('\n')[0]}`);
    }
    const raw = this.doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ScenarioError(`${source.file}: expected a mapping (name: ..., host: ..., domains: ...) at the top level`);
    this.raw = raw as Record<string, unknown>;
    for (const [key, v] of [['params', validateParamsBlock], ['sweep', validateSweepBlock], ['seeds', validateSeeds], ['presets', validatePresets]] as const) {
      if (this.raw[key] !== undefined && !v(this.raw[key])) {
        const { path, message, atKey } = explain(v.errors ?? []);
        throw this.error([key, ...path], message, atKey);
      }
    }
    this.name = typeof this.raw.name === 'string' ? this.raw.name : basename(source.file, extname(source.file));
    this.description = typeof this.raw.description === 'string' ? this.raw.description.trim() : '';
    this.params = Object.entries((this.raw.params ?? {}) as Record<string, unknown>).map(([name, d]) => {
      if (d !== null && typeof d === 'object') {
        const o = d as { default: Scalar; doc?: string; values?: Record<string, Record<string, Scalar>> };
        return { name, default: o.default, doc: o.doc ?? '', values: o.values };
      }
      return { name, default: d as Scalar, doc: '' };
    });
    const names = new Set(this.params.map((p) => p.name));
    for (const p of this.params) {
      if (!p.values) continue;
      if (!Object.hasOwn(p.values, String(p.default))) throw this.error(['params', p.name, 'default'], `expected one of the labels ${Object.keys(p.values).join(', ')}, got ${show(p.default)}`);
      for (const [label, sets] of Object.entries(p.values))
        for (const k of Object.keys(sets))
          if (!names.has(k) || k === p.name) throw this.error(['params', p.name, 'values', label, k], `expected the name of another declared parameter (${[...names].filter((n) => n !== p.name).join(', ')})`);
    }
    this.sweep = Object.entries((this.raw.sweep ?? {}) as Record<string, Scalar[]>).map(([name, values]) => {
      this.checkAssignable(name, ['sweep', name]);
      return { name, values };
    });
    this.seeds = this.raw.seeds as number | undefined;
    type RawPreset = { doc?: string; sweep?: Record<string, Scalar[]>; params?: Record<string, Scalar>; seeds?: number };
    this.presets = Object.entries((this.raw.presets ?? {}) as Record<string, RawPreset>).map(([name, p]) => {
      for (const k of Object.keys(p.sweep ?? {})) this.checkAssignable(k, ['presets', name, 'sweep', k]);
      for (const k of Object.keys(p.params ?? {})) this.checkAssignable(k, ['presets', name, 'params', k]);
      return {
        name,
        doc: p.doc ?? '',
        sweep: Object.entries(p.sweep ?? {}).map(([n, values]) => ({ name: n, values })),
        params: Object.entries(p.params ?? {}).map(([n, value]) => ({ name: n, value })),
        seeds: p.seeds,
      };
    });
  }

  /** The preset of that name, or a ScenarioError naming the ones there are. */
  preset(name: string): ScenarioPreset {
    const p = this.presets.find((x) => x.name === name);
    if (!p) throw new ScenarioError(`scenario "${this.name}" has no preset "${name}" (${this.presets.length ? `presets: ${this.presets.map((x) => x.name).join(', ')}` : 'it defines none'})`);
    return p;
  }

  /** An error at a field of this file: "file:line:col: path: message" (at its key with `atKey`). */
  error(path: Path, message: string, atKey = false): ScenarioError {
    let node: unknown = null;
    if (atKey && path.length > 0) {
      const parent = this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) node = parent.items.find((it) => isScalar(it.key) && it.key.value === path[path.length - 1])?.key ?? null;
    }
    for (let n = path.length; n >= 0 && !node; n--) node = this.doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const at = range ? this.lines.linePos(range[0]) : null;
    return new ScenarioError(`${this.source.file}${at ? `:${at.line}:${at.col}` : ''}: ${formatPath(path)}: ${message}`);
  }

  /** A field path (dotted, or a top-level field like duration) rather than a declared parameter. */
  isPath(name: string): boolean {
    return !this.params.some((p) => p.name === name) && (name.includes('.') || TOP_LEVEL_FIELDS.has(name));
  }

  /** Throw unless `name` is a declared parameter or a field path. */
  checkAssignable(name: string, where?: Path): void {
    if (this.isPath(name) || this.params.some((p) => p.name === name)) return;
    const have = this.params.map((p) => p.name);
    const msg = `scenario "${this.name}" has no parameter "${name}" (${have.length ? `declared: ${have.join(', ')}` : 'it declares none'}; duration, warmup or a dotted path such as host.cpus or domains.NAME.count sets a field directly)`;
    if (where) throw this.error(where, msg);
    throw new ScenarioError(msg);
  }

  /** The parameter values for these assignments (declared names only; dotted paths pass through). */
  paramValues(assign: Assignment[]): Record<string, Scalar> {
    for (const a of assign) this.checkAssignable(a.name);
    const vals: Record<string, Scalar> = Object.fromEntries(this.params.map((p) => [p.name, p.default]));
    const isChoice = (n: string) => !!this.params.find((p) => p.name === n)?.values;
    for (const a of assign) if (!this.isPath(a.name) && isChoice(a.name)) vals[a.name] = a.value;
    for (const p of this.params) {
      if (!p.values) continue;
      const label = String(vals[p.name]);
      const sets = Object.hasOwn(p.values, label) ? p.values[label] : undefined;
      if (!sets) throw new ScenarioError(`${this.source.file}: parameter ${p.name}: expected one of ${Object.keys(p.values).join(', ')}, got ${show(vals[p.name])}`);
      Object.assign(vals, sets);
      vals[p.name] = label;
    }
    for (const a of assign) if (!this.isPath(a.name) && !isChoice(a.name)) vals[a.name] = a.value;
    return vals;
  }

  /** Assign parameters, substitute, validate and resolve against a registry's plugins. */
  resolve(assign: Assignment[], registry: Registry): ResolvedScenario {
    const vals = this.paramValues(assign);
    const body: Record<string, unknown> = {};
    const templated = new Map<string, string>();
    for (const [k, v] of Object.entries(this.raw)) if (k !== 'params' && k !== 'sweep' && k !== 'seeds' && k !== 'presets') body[k] = this.substitute(v, [k], vals, templated);
    for (const a of assign) if (this.isPath(a.name)) this.setPath(body, a.name, a.value);
    if (!validateFull(body)) {
      const { path, message, atKey } = explain(validateFull.errors ?? []);
      const from = templated.get(JSON.stringify(path));
      throw this.error(path, from ? `${message} (from ${from})` : message, atKey);
    }
    return new Resolver(this, body as unknown as RawScenario, vals, registry).resolve();
  }

  private substitute(v: unknown, path: Path, vals: Record<string, Scalar>, templated: Map<string, string>): unknown {
    if (typeof v === 'string') {
      if (!v.includes('${')) return v;
      for (const m of v.matchAll(TEMPLATE))
        if (!Object.hasOwn(vals, m[1])) throw this.error(path, `unknown parameter "${m[1]}" in "${v}" (declared: ${Object.keys(vals).join(', ') || 'none'})`);
      templated.set(JSON.stringify(path), v);
      const whole = WHOLE_TEMPLATE.exec(v);
      if (whole) return vals[whole[1]];
      return v.replace(TEMPLATE, (_, n: string) => String(vals[n]));
    }
    if (Array.isArray(v)) return v.map((x, i) => this.substitute(x, [...path, i], vals, templated));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.substitute(x, [...path, k], vals, templated)]));
    return v;
  }

  /** Set a dotted path (array items by index or by their name field). */
  private setPath(body: Record<string, unknown>, dotted: string, value: Scalar): void {
    const parts = dotted.split('.');
    let cur: unknown = body;
    const where: Path = [];
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i];
      let next: unknown;
      if (Array.isArray(cur)) {
        const named = (x: unknown) => {
          const o = (x ?? {}) as { name?: unknown; group?: unknown };
          return o.name === p || o.group === p || (typeof o.name === 'string' && o.name.replace(/\{i\}/g, '').replace(/[-_.]+$/, '') === p);
        };
        const idx = /^\d+$/.test(p) ? Number(p) : cur.findIndex(named);
        next = cur[idx];
        where.push(idx);
      } else if (cur && typeof cur === 'object') {
        next = (cur as Record<string, unknown>)[p];
        if (next === undefined && i < parts.length - 1) (cur as Record<string, unknown>)[p] = next = {};
        where.push(p);
      }
      if (next === undefined || next === null || typeof next !== 'object') throw new ScenarioError(`--param ${dotted}: ${this.source.file} has no field ${formatPath([...where.slice(0, -1), p])}`);
      cur = next;
    }
    const last = parts[parts.length - 1];
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(last) || Number(last) >= cur.length) throw new ScenarioError(`--param ${dotted}: ${this.source.file} has no item ${formatPath([...where, last])}`);
      cur[Number(last)] = value;
    } else (cur as Record<string, unknown>)[last] = value;
  }
}

// ------------------------------------------------------------------ resolution against plugins

interface RawPool {
  name?: string;
  scheduler: string;
  cpus?: number | number[];
  params?: Record<string, Record<string, number | string>>;
}
interface RawDomain {
  name: string;
  group?: string;
  count?: number;
  memoryMiB: number;
  maxMemoryMiB?: number;
  vcpus?: number;
  pool?: string;
  weight?: number | number[] | string;
  sched?: Record<string, Record<string, number | string>>;
  workload: { type: string } & Record<string, number | string>;
  devices?: ({ type: string } & Record<string, unknown>)[];
}
interface RawScenario {
  name: string;
  description?: string;
  host: {
    cpus?: number;
    topology?: { sockets: number; coresPerSocket: number; threadsPerCore: number };
    memoryMiB: number;
    dom0?: { memoryMiB?: number; vcpus?: number; weight?: number };
    costs?: Record<string, number | string>;
    pools: RawPool[];
  };
  domains: RawDomain[];
  duration: number | string;
  warmup?: number | string;
  measure?: { share?: Selector; latency?: Selector; throughput?: Selector; timeline?: number | string };
}
type Selector = 'all' | 'none' | string[];

const INSTANCE = /\{i(?:([+-])(\d+))?\}/g;
const WHOLE_INSTANCE = /^\{i(?:([+-])(\d+))?\}$/;

/** `{i}`, `{i+N}`, `{i-N}` in the strings of a domain's workload or devices → instance number k (a whole string keeps a number). */
function instance<T>(v: T, k: number): T {
  const val = (sign?: string, n?: string) => k + (n === undefined ? 0 : sign === '-' ? -Number(n) : Number(n));
  if (typeof v === 'string') {
    const whole = WHOLE_INSTANCE.exec(v);
    if (whole) return val(whole[1], whole[2]) as T;
    return v.replace(INSTANCE, (_, sign?: string, n?: string) => String(val(sign, n))) as T;
  }
  if (Array.isArray(v)) return v.map((x) => instance(x, k)) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, instance(x, k)])) as T;
  return v;
}

/** BVT's mcu_advance is the inverse of weight: 840 = lcm(1..8), so weights 1–8 (Fig. 5) are exact. */
export const BVT_WEIGHT_SCALE = 840;

/**
 * Scheduler parameters that give a domain weight `w`: xt compare's WEIGHTINGS table (credit and
 * credit2 256·w, lottery 100·w tickets, sEDF's weight mode), except BVT, whose mcu_adv here is
 * round(840 / w) — exact for weights 1–8, where libxc's 10 / w is not; a policy with neither but
 * a per-domain `weight` parameter gets round(w × its default); others have no notion of weight.
 */
export function weightParams(ops: AnySchedulerOps, w: number): Record<string, number> {
  if (ops.optName === 'bvt') return { mcu_adv: Math.max(1, Math.round(BVT_WEIGHT_SCALE / w)) };
  const table = Object.hasOwn(WEIGHTINGS, ops.optName) ? WEIGHTINGS[ops.optName] : undefined;
  if (table) return Object.fromEntries(Object.entries(table(w)).map(([k, v]) => [k, Math.round(v)]));
  const p = (ops.domainParams?.params ?? []).find((x) => x.name === 'weight');
  if (p) return { weight: Math.min(p.max, Math.max(p.min, Math.round(p.default * w))) };
  return {};
}

export const DEFAULT_TIMELINE_NS = 100_000_000;
const MIN_DOMAIN_MIB = 4;

class Resolver {
  constructor(
    private readonly sc: Scenario,
    private readonly r: RawScenario,
    private readonly vals: Record<string, Scalar>,
    private readonly reg: Registry,
  ) {}

  private err(path: Path, msg: string): ScenarioError {
    return this.sc.error(path, msg);
  }

  private scheduler(name: string, path: Path): AnySchedulerOps {
    if (!this.reg.has('scheduler', name)) throw this.err(path, `unknown scheduler "${name}" (registered: ${this.reg.list('scheduler').join(', ')})`);
    return this.reg.scheduler(name);
  }

  /** One scheduler parameter's value in the parameter's own unit, range-checked. */
  private schedValue(p: ParamSpec, v: number | string, path: Path): number {
    let n: number;
    const per = timeUnitNs(p.unit === 'µs' ? 'us' : p.unit);
    if (typeof v === 'number') n = v;
    else {
      const ns = parseDuration(v);
      if (per === null || ns === null) throw this.err(path, `expected ${per === null ? 'an integer' : `an integer (${p.unit}) or a duration such as 5ms`}, got ${show(v)}`);
      n = ns / per;
      if (!Number.isInteger(n)) throw this.err(path, `expected a whole number of ${p.unit}, got ${show(v)}`);
    }
    if (!Number.isInteger(n)) throw this.err(path, `expected an integer${p.unit ? ` (${p.unit})` : ''}, got ${show(v)}`);
    if (n < p.min || n > p.max) throw this.err(path, `expected a value between ${p.min} and ${p.max}${p.unit ? ` ${p.unit}` : ''}, got ${show(v)}`);
    return n;
  }

  /** Check a {scheduler: {param: value}} block; returns the converted params of each scheduler. */
  private schedBlock(block: Record<string, Record<string, number | string>> | undefined, kind: 'domainParams' | 'globalParams', path: Path): Map<string, Record<string, number>> {
    const out = new Map<string, Record<string, number>>();
    for (const [sname, params] of Object.entries(block ?? {})) {
      const ops = this.scheduler(sname, [...path, sname]);
      const spec = ops[kind]?.params ?? [];
      const conv: Record<string, number> = {};
      for (const [pname, v] of Object.entries(params)) {
        const p = spec.find((x) => x.name === pname);
        if (!p) throw this.err([...path, sname, pname], `scheduler "${sname}" has no ${kind === 'domainParams' ? 'per-domain' : 'per-pool'} parameter "${pname}" (${spec.length ? `has: ${spec.map((x) => x.name).join(', ')}` : 'it has none'})`);
        conv[pname] = this.schedValue(p, v, [...path, sname, pname]);
      }
      out.set(sname, conv);
    }
    return out;
  }

  resolve(): ResolvedScenario {
    const r = this.r;
    const h = r.host;
    if ((h.cpus === undefined) === (h.topology === undefined)) throw this.err(['host'], `expected exactly one of "cpus" (a number of pCPUs) or "topology" (sockets, coresPerSocket, threadsPerCore)`);
    const nrCpus = h.cpus ?? h.topology!.sockets * h.topology!.coresPerSocket * h.topology!.threadsPerCore;
    if (nrCpus > 256) throw this.err(['host', 'topology'], `expected at most 256 pCPUs in all, got ${nrCpus}`);

    // pools
    const taken = new Set<number>();
    const pools: ResolvedPool[] = h.pools.map((p, i) => ({ index: i, name: p.name ?? (i === 0 ? 'Pool-0' : `pool${i}`), scheduler: p.scheduler, cpus: [], params: {} }));
    const seen = new Set<string>();
    h.pools.forEach((p, i) => {
      const path: Path = ['host', 'pools', i];
      if (seen.has(pools[i].name)) throw this.err([...path, 'name'], `duplicate pool name "${pools[i].name}"`);
      seen.add(pools[i].name);
      const ops = this.scheduler(p.scheduler, [...path, 'scheduler']);
      const block = this.schedBlock(p.params, 'globalParams', [...path, 'params']);
      pools[i].params = block.get(ops.optName) ?? {};
      if (i === 0) {
        if (p.cpus !== undefined) throw this.err([...path, 'cpus'], 'the first pool (Pool-0) gets the pCPUs no other pool takes; give cpus only for the other pools');
        return;
      }
      if (p.cpus === undefined) throw this.err(path, 'missing required field "cpus" (pools after the first need their pCPUs)');
      if (Array.isArray(p.cpus)) {
        p.cpus.forEach((c, k) => {
          if (c >= nrCpus) throw this.err([...path, 'cpus', k], `expected a pCPU number below ${nrCpus}, got ${c}`);
          if (taken.has(c)) throw this.err([...path, 'cpus', k], `pCPU ${c} is already in another pool`);
          taken.add(c);
        });
        pools[i].cpus = [...p.cpus].sort((a, b) => a - b);
      }
    });
    // counted pools take the highest free pCPUs, so Pool-0 (dom0's) keeps pCPU 0
    h.pools.forEach((p, i) => {
      if (i === 0 || typeof p.cpus !== 'number') return;
      const got: number[] = [];
      for (let c = nrCpus - 1; c >= 0 && got.length < p.cpus; c--) if (!taken.has(c)) got.push(c);
      if (got.length < p.cpus) throw this.err(['host', 'pools', i, 'cpus'], `expected at most ${got.length} (the free pCPUs left), got ${p.cpus}`);
      for (const c of got) taken.add(c);
      pools[i].cpus = got.sort((a, b) => a - b);
    });
    pools[0].cpus = Array.from({ length: nrCpus }, (_, c) => c).filter((c) => !taken.has(c));
    if (pools[0].cpus.length === 0) throw this.err(['host', 'pools'], 'the other pools take every pCPU; Pool-0 (where dom0 runs) needs at least one');
    const poolOps = pools.map((p) => this.reg.scheduler(p.scheduler));

    // dom0
    const d0 = h.dom0 ?? {};
    const dom0Weight = d0.weight ?? 1;
    const dom0 = { memoryMiB: d0.memoryMiB ?? 64, vcpus: d0.vcpus ?? 1, weight: dom0Weight, sched: weightParams(poolOps[0], dom0Weight) };

    // costs: a preset's values, then single fields over them
    const costs: Record<string, number> = {};
    const { preset: presetName, ...fields } = h.costs ?? {};
    if (presetName !== undefined) {
      const p = costPreset(String(presetName));
      if (!p) throw this.err(['host', 'costs', 'preset'], `unknown cost preset "${presetName}" (presets: ${Object.keys(COST_PRESETS).join(', ')})`);
      Object.assign(costs, p.costs);
    }
    for (const [k, v] of Object.entries(fields)) {
      const n = k === 'cacheBytes' ? parseBytes(v) : k === 'refillBytesPerNs' ? (v as number) : parseDuration(v);
      costs[k] = n!;
    }

    // domains
    const domains: ResolvedDomain[] = [];
    const names = new Map<string, Path>();
    r.domains.forEach((d, i) => {
      const path: Path = ['domains', i];
      const count = d.count ?? 1;
      const poolIdx = d.pool === undefined ? 0 : pools.findIndex((p) => p.name === d.pool);
      if (poolIdx < 0) throw this.err([...path, 'pool'], `unknown pool "${d.pool}" (pools: ${pools.map((p) => p.name).join(', ')})`);
      if (d.memoryMiB < MIN_DOMAIN_MIB) throw this.err([...path, 'memoryMiB'], `expected at least ${MIN_DOMAIN_MIB} MiB, got ${d.memoryMiB}`);
      const maxMem = d.maxMemoryMiB ?? d.memoryMiB;
      if (maxMem < d.memoryMiB) throw this.err([...path, 'maxMemoryMiB'], `expected at least memoryMiB (${d.memoryMiB}), got ${maxMem}`);
      if (Array.isArray(d.weight) && count > 0 && d.weight.length !== count) throw this.err([...path, 'weight'], `expected ${count} weights (one per instance, count is ${count}), got ${d.weight.length}`);
      const weightOf = (k: number): number => (Array.isArray(d.weight) ? d.weight[k - 1] : typeof d.weight === 'string' ? instance(d.weight, k) as unknown as number : (d.weight ?? 1));
      const weights = Array.from({ length: Math.max(1, count) }, (_, k) => weightOf(k + 1));
      if (weights.some((w) => !(w > 0))) throw this.err([...path, 'weight'], `expected positive weights, got ${weights.join(', ')} (from ${show(d.weight)})`);
      const ops = poolOps[poolIdx];
      const block = this.schedBlock(d.sched, 'domainParams', [...path, 'sched']);
      const explicit = block.get(ops.optName) ?? {};
      const spec = ops.domainParams?.params ?? [];
      for (const w of weights)
        for (const [k, v] of Object.entries(weightParams(ops, w))) {
          const p = spec.find((x) => x.name === k);
          if (!(k in explicit) && (!p || v < p.min || v > p.max)) throw this.err([...path, 'weight'], `weight ${w} gives ${ops.optName}'s ${k} = ${v}, outside ${p ? `${p.min}..${p.max}` : 'its parameters'}`);
        }
      // {i} (or {i+N}, {i-N}) in workload and device parameters is the instance number, as in names
      const workloadOf = (k: number) => this.workload(instance(d.workload, k), [...path, 'workload']);
      const devicesOf = (k: number) => (instance(d.devices ?? [], k)).map((dev, k) => {
        if (!this.reg.has('device', dev.type)) {
          const have = this.reg.list('device');
          throw this.err([...path, 'devices', k, 'type'], `unknown device type "${dev.type}" (${have.length ? `registered: ${have.join(', ')}` : 'none registered yet: device drivers register theirs'})`);
        }
        const { type, ...params } = dev;
        const impl = this.reg.device<unknown>(type);
        if (isScenarioDevice(impl) && impl.params)
          for (const key of Object.keys(params))
            if (!impl.params.some((p) => p.name === key)) throw this.err([...path, 'devices', k, key], `device "${type}" has no parameter "${key}" (has: ${impl.params.map((p) => p.name).join(', ') || 'none'})`);
        return { type, params };
      });
      workloadOf(1);
      devicesOf(1);
      const group = d.group ?? (d.name.replace(/\{i\}/g, '').replace(/[-_.]+$/, '') || d.name);
      for (let k = 1; k <= count; k++) {
        const name = d.name.includes('{i}') ? d.name.replace(/\{i\}/g, String(k)) : count > 1 || d.count !== undefined ? `${d.name}${count > 1 ? k : ''}` : d.name;
        if (names.has(name)) throw this.err([...path, 'name'], `duplicate domain name "${name}" (also from ${formatPath(names.get(name)!)})`);
        names.set(name, path);
        const weight = weightOf(k);
        domains.push({
          name,
          group,
          memoryMiB: d.memoryMiB,
          maxMemoryMiB: maxMem,
          vcpus: d.vcpus ?? 1,
          pool: poolIdx,
          weight,
          sched: { ...weightParams(ops, weight), ...explicit },
          workload: workloadOf(k),
          devices: devicesOf(k),
          measure: { share: true, latency: true, throughput: true },
        });
      }
    });

    const need = dom0.memoryMiB + domains.reduce((a, d) => a + d.memoryMiB, 0);
    if (need > h.memoryMiB) throw this.err(['host', 'memoryMiB'], `expected at least ${need} MiB (dom0 ${dom0.memoryMiB} + the domains' ${need - dom0.memoryMiB}), got ${h.memoryMiB}`);

    // measurement
    const m = r.measure ?? {};
    for (const key of ['share', 'latency', 'throughput'] as const) {
      const sel = m[key] ?? 'all';
      const hit = this.select(sel, domains, ['measure', key]);
      domains.forEach((d, k) => (d.measure[key] = hit[k]));
    }
    const durationNs = parseDuration(r.duration)!;
    const warmupNs = r.warmup === undefined ? 0 : parseDuration(r.warmup)!;
    const timelineNs = m.timeline === undefined ? DEFAULT_TIMELINE_NS : parseDuration(m.timeline)!;

    return {
      name: r.name,
      description: (r.description ?? '').trim(),
      params: this.vals,
      host: { cpus: h.topology ?? nrCpus, nrCpus, memoryMiB: h.memoryMiB, dom0, costs, pools },
      domains,
      durationNs,
      warmupNs,
      timelineNs,
    };
  }

  private select(sel: Selector, domains: ResolvedDomain[], path: Path): boolean[] {
    if (sel === 'all') return domains.map(() => true);
    if (sel === 'none') return domains.map(() => false);
    const out = domains.map(() => false);
    sel.forEach((pat, k) => {
      const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
      let any = false;
      domains.forEach((d, i) => {
        if (re.test(d.name) || re.test(d.group)) out[i] = any = true;
      });
      if (!any && domains.length > 0 && !pat.includes('*')) throw this.err([...path, k], `"${pat}" names no domain or group (domains: ${[...new Set(domains.map((d) => d.group))].join(', ')})`);
    });
    return out;
  }

  private workload(w: RawDomain['workload'], path: Path): ResolvedWorkload {
    const info = Object.hasOwn(WORKLOADS, w.type) ? WORKLOADS[w.type] : undefined;
    const kernel = `minios-${w.type}`;
    if (!info || !this.reg.has('kernel', kernel)) throw this.err([...path, 'type'], `unknown workload "${w.type}" (have: ${Object.keys(WORKLOADS).filter((n) => this.reg.has('kernel', `minios-${n}`)).join(', ')})`);
    const args: Record<string, number> = {};
    for (const [k, v] of Object.entries(w)) {
      if (k === 'type') continue;
      const p = info.params?.find((x) => x.name === k);
      if (info.params && !p) throw this.err([...path, k], `workload "${w.type}" has no parameter "${k}" (has: ${info.params.map((x) => x.name).join(', ') || 'none'})`);
      const kind = p?.kind ?? 'int';
      const n = kind === 'duration' ? parseDuration(v) : kind === 'bytes' ? parseBytes(v) : typeof v === 'number' && Number.isInteger(v) ? v : null;
      if (n === null)
        throw this.err([...path, k], `expected ${kind === 'duration' ? 'a duration such as 1ms' : kind === 'bytes' ? 'a size such as 256KiB' : 'an integer'}, got ${show(v)}`);
      args[k] = n;
    }
    const unitParam = info.unitParam;
    const unitNs = unitParam === undefined ? null : (args[unitParam] ?? info.params?.find((x) => x.name === unitParam)?.default ?? null);
    const cmdline = Object.entries(args)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return { type: w.type, kernel, args, cmdline, unitNs };
  }
}

/** Read, parse and resolve in one go (for `xt run`). */
export function loadScenario(ref: string, assign: Assignment[], registry: Registry): ResolvedScenario {
  return new Scenario(readScenario(ref)).resolve(assign, registry);
}
