/**
 * Scheduler parameters by name — what `xl sched-credit -d D -w 512` does, for any policy: the
 * policy declares its payload layout and parameters (ParamSpec); values are validated here with a
 * clear message, then read-modify-written through XEN_DOMCTL_scheduler_op / XEN_SYSCTL_scheduler_op
 * so the hypervisor's own checks still apply.
 */
import type { AnySchedulerOps, ParamSpec } from '@xenotype/core';
import type { Xc } from '../xc/xc';

export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

type Spec = NonNullable<AnySchedulerOps['domainParams']>;

function validate(ops: AnySchedulerOps, spec: Spec | undefined, kind: string, values: Record<string, number>): Record<string, number> {
  if (!spec) {
    if (Object.keys(values).length === 0) return {};
    throw new ParamError(`scheduler "${ops.optName}" has no ${kind} parameters`);
  }
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(values)) {
    const p: ParamSpec | undefined = spec.params.find((x) => x.name === name);
    if (!p) throw new ParamError(`scheduler "${ops.optName}" has no ${kind} parameter "${name}" (have: ${spec.params.map((x) => x.name).join(', ')})`);
    if (!Number.isInteger(v)) throw new ParamError(`${name} must be an integer, got ${v}`);
    if (v < p.min || v > p.max) throw new ParamError(`${name} must be between ${p.min} and ${p.max}${p.unit ? ' ' + p.unit : ''}, got ${v}`);
    out[p.field] = v;
  }
  return out;
}

function byName(spec: Spec, raw: Record<string, number>): Record<string, number> {
  return Object.fromEntries(spec.params.map((p) => [p.name, raw[p.field]]));
}

/** Set per-domain parameters (unnamed ones keep their values); returns all of them after the change. */
export function setDomainSchedParams(xc: Xc, ops: AnySchedulerOps, domid: number, values: Record<string, number>): Record<string, number> {
  const spec = ops.domainParams;
  const fields = validate(ops, spec, 'per-domain', values);
  if (!spec) return {};
  const cur = xc.schedDomainGet(domid, ops.schedId, spec.layout);
  xc.schedDomainSet(domid, ops.schedId, spec.layout, { ...cur, ...fields });
  return byName(spec, xc.schedDomainGet(domid, ops.schedId, spec.layout));
}

export function getDomainSchedParams(xc: Xc, ops: AnySchedulerOps, domid: number): Record<string, number> {
  const spec = ops.domainParams;
  if (!spec) return {};
  return byName(spec, xc.schedDomainGet(domid, ops.schedId, spec.layout));
}

/** Set per-pool parameters of the pool's policy (xl sched-<policy> -s -p POOL ...). */
export function setPoolSchedParams(xc: Xc, ops: AnySchedulerOps, pool: number, values: Record<string, number>): Record<string, number> {
  const spec = ops.globalParams;
  const fields = validate(ops, spec, 'per-pool', values);
  if (!spec) return {};
  xc.schedGlobalSet(pool, ops.schedId, spec.layout, fields);
  return byName(spec, xc.schedGlobalGet(pool, ops.schedId, spec.layout));
}

export function getPoolSchedParams(xc: Xc, ops: AnySchedulerOps, pool: number): Record<string, number> {
  const spec = ops.globalParams;
  if (!spec) return {};
  return byName(spec, xc.schedGlobalGet(pool, ops.schedId, spec.layout));
}
