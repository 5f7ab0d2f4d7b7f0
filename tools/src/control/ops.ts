/**
 * Host control operations — what `xl` offers on a running host — each run as a dom0 job through Xc
 * and dom0's xenstore connection, exactly as the toolstack does. The control socket (server.ts)
 * and the CLI (client.ts, commands/control.ts) are thin adapters over this table.
 */
import { CpuSet, type AnySchedulerOps, type Registry } from '@xenotype/core';
import { XenError, type ThreadOp } from '@xenotype/minios';
import type { Dom0, Host } from '../host/host';
import type { Xenstored } from '../xenstored/service';
import type { Xc } from '../xc/xc';
import { createDomain } from '../toolstack/xenstore';
import { destroyDomain } from '../toolstack/announce';
import type { ConsoleDaemon } from '../console/daemon';
import { ParamError, getDomainSchedParams, getPoolSchedParams, setDomainSchedParams, setPoolSchedParams } from '../toolstack/sched';

export interface ControlContext {
  host: Host;
  xsd: Xenstored;
  registry: Registry;
}

/** A control error meant for the user: one line, no stack. */
export class ControlError extends Error {}

type Args = Record<string, unknown>;
type Body = (sys: Dom0) => Generator<ThreadOp, unknown, void>;

function int(a: Args, k: string): number {
  const v = a[k];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ControlError(`${k} must be an integer`);
  return v;
}
function str(a: Args, k: string): string {
  const v = a[k];
  if (typeof v !== 'string' || v === '') throw new ControlError(`${k} must be a non-empty string`);
  return v;
}
function params(a: Args): Record<string, number> {
  const p = (a.params ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(p)) if (typeof v !== 'number') throw new ControlError(`parameter ${k} must be a number`);
  return p as Record<string, number>;
}

function poolScheduler(ctx: ControlContext, xc: Xc, pool: number): AnySchedulerOps {
  const info = xc.cpupoolInfo(pool, ctx.host.hv.topology.nrCpus);
  if (info.id !== pool) throw new ControlError(`no cpupool ${pool}`);
  const ops = ctx.registry.schedulerById(info.schedId);
  if (!ops) throw new ControlError(`cpupool ${pool} runs an unknown scheduler (id ${info.schedId})`);
  return ops;
}

/** xl sched-credit on a domain whose pool runs another policy is an error, not a silent mismatch. */
function expectPolicy(ops: AnySchedulerOps, a: Args): void {
  if (a.expect !== undefined && a.expect !== ops.optName) throw new ControlError(`that pool runs ${ops.optName}, not ${String(a.expect)}`);
}

function domainPool(xc: Xc, domid: number): number {
  const i = xc.domainGetInfo(domid);
  if (!i) throw new ControlError(`no domain ${domid}`);
  return i.cpupool;
}

const cpuset = (ids: unknown, what: string): CpuSet => {
  if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x) && x >= 0)) throw new ControlError(`${what} must be a list of pCPU numbers`);
  return CpuSet.of(ids as number[]);
};

export const OPS: Record<string, { doc: string; run: (ctx: ControlContext, a: Args) => Body }> = {
  list: {
    doc: 'domains with name, state, memory, vCPUs, CPU time and pool',
    run: (ctx) =>
      function* ({ xc, os }) {
        const xs = ctx.xsd.client(os);
        try {
          const out = [];
          for (const d of xc.domainList()) {
            const name = d.domid === 0 ? 'Domain-0' : ((yield* xs.read(`/local/domain/${d.domid}/name`)) ?? '');
            const state = `${d.running ? 'r' : '-'}${d.blocked ? 'b' : '-'}${d.paused ? 'p' : '-'}${d.shutdown ? 's' : '-'}${d.shutdown && d.shutdownCode === 3 ? 'c' : '-'}${d.dying ? 'd' : '-'}`;
            out.push({ name, domid: d.domid, memKiB: d.totPages * 4, vcpus: d.nrOnlineVcpus, state, cpuTimeNs: d.cpuTime, pool: d.cpupool });
          }
          return out;
        } finally {
          xs.close();
        }
      },
  },
  create: {
    doc: 'build and start a domain: name, kernel, memoryMiB, vcpus, cmdline',
    run: (ctx, a) =>
      function* ({ xc, os }) {
        const xs = ctx.xsd.client(os);
        try {
          const kernel = str(a, 'kernel');
          if (!ctx.registry.has('kernel', kernel)) throw new ControlError(`unknown kernel "${kernel}" (have: ${ctx.registry.list('kernel').join(', ')})`);
          const b = yield* createDomain(xc, xs, { name: str(a, 'name'), kernel, memoryMiB: (a.memoryMiB as number) ?? 16, vcpus: (a.vcpus as number) ?? 1, cmdline: (a.cmdline as string) ?? '', cpupool: (a.pool as number) ?? 0 });
          return { domid: b.domid };
        } finally {
          xs.close();
        }
      },
  },
  pause: { doc: 'pause a domain', run: (_c, a) => function* ({ xc }) { xc.domainPause(int(a, 'domid')); return null; } },
  unpause: { doc: 'unpause a domain', run: (_c, a) => function* ({ xc }) { xc.domainUnpause(int(a, 'domid')); return null; } },
  destroy: { doc: 'destroy a domain', run: (_c, a) => function* ({ xc }) { destroyDomain(xc, int(a, 'domid')); return null; } },
  'vcpu-list': {
    doc: 'vCPUs of a domain: pCPU, state, CPU time, affinities',
    run: (ctx, a) =>
      function* ({ xc }) {
        const domid = int(a, 'domid');
        const info = xc.domainGetInfo(domid);
        if (!info) throw new ControlError(`no domain ${domid}`);
        const out = [];
        for (let v = 0; v <= info.maxVcpuId; v++) {
          const i = xc.getVcpuInfo(domid, v);
          const aff = xc.getVcpuAffinity(domid, v, ctx.host.hv.topology.nrCpus);
          out.push({ vcpu: v, cpu: i.cpu, online: i.online, running: i.running, blocked: i.blocked, cpuTimeNs: i.cpuTime, hard: aff.hard.ids, soft: aff.soft.ids });
        }
        return out;
      },
  },
  'vcpu-pin': {
    doc: 'set hard and/or soft affinity of a vCPU',
    run: (ctx, a) =>
      function* ({ xc }) {
        const n = ctx.host.hv.topology.nrCpus;
        const all = (x: unknown) => (Array.isArray(x) && x.length === 0 ? Array.from({ length: n }, (_, i) => i) : x);
        const hard = a.hard === undefined ? null : cpuset(all(a.hard), 'hard');
        const soft = a.soft === undefined ? null : cpuset(all(a.soft), 'soft');
        if (!hard && !soft) throw new ControlError('give hard and/or soft affinity');
        const r = xc.setVcpuAffinity(int(a, 'domid'), int(a, 'vcpu'), hard, soft, ctx.host.hv.topology.nrCpus);
        return { hard: r.hard.ids, soft: r.soft.ids };
      },
  },
  sched: {
    doc: 'per-domain scheduler parameters of the domain’s pool policy: get, or set name=value pairs',
    run: (ctx, a) =>
      function* ({ xc }) {
        const domid = int(a, 'domid');
        const ops = poolScheduler(ctx, xc, domainPool(xc, domid));
        expectPolicy(ops, a);
        const p = params(a);
        const values = Object.keys(p).length ? setDomainSchedParams(xc, ops, domid, p) : getDomainSchedParams(xc, ops, domid);
        return { scheduler: ops.optName, domid, params: values };
      },
  },
  'sched-pool': {
    doc: 'per-pool scheduler parameters: get, or set name=value pairs',
    run: (ctx, a) =>
      function* ({ xc }) {
        const pool = int(a, 'pool');
        const ops = poolScheduler(ctx, xc, pool);
        expectPolicy(ops, a);
        const p = params(a);
        const values = Object.keys(p).length ? setPoolSchedParams(xc, ops, pool, p) : getPoolSchedParams(xc, ops, pool);
        return { scheduler: ops.optName, pool, params: values };
      },
  },
  'cpupool-list': {
    doc: 'cpupools with their scheduler, pCPUs and number of domains',
    run: (ctx) =>
      function* ({ xc }) {
        const out = [];
        const n = ctx.host.hv.topology.nrCpus;
        for (let id = 0; ; id++) {
          let i;
          try {
            i = xc.cpupoolInfo(id, n);
          } catch (e) {
            if (e instanceof XenError) break;
            throw e;
          }
          out.push({ pool: i.id, scheduler: ctx.registry.schedulerById(i.schedId)?.optName ?? `id ${i.schedId}`, cpus: i.cpus.ids, domains: i.nDom });
          id = i.id;
        }
        return out;
      },
  },
  'cpupool-create': {
    doc: 'create a cpupool running a scheduler (by name)',
    run: (ctx, a) =>
      function* ({ xc }) {
        const name = str(a, 'scheduler');
        if (!ctx.registry.has('scheduler', name)) throw new ControlError(`unknown scheduler "${name}" (have: ${ctx.registry.list('scheduler').join(', ')})`);
        return { pool: xc.cpupoolCreate(ctx.registry.scheduler(name).schedId) };
      },
  },
  'cpupool-destroy': { doc: 'destroy an empty cpupool', run: (_c, a) => function* ({ xc }) { xc.cpupoolDestroy(int(a, 'pool')); return null; } },
  'cpupool-cpu-add': {
    doc: 'move a free pCPU (or any, cpu = -1) into a cpupool',
    run: (_c, a) => function* ({ xc }) { return { cpu: xc.cpupoolAddCpu(int(a, 'pool'), a.cpu === -1 || a.cpu === undefined ? undefined : int(a, 'cpu')) }; },
  },
  'cpupool-cpu-remove': {
    doc: 'take a pCPU (or the last, cpu = -1) out of a cpupool',
    run: (_c, a) => function* ({ xc }) { xc.cpupoolRemoveCpu(int(a, 'pool'), a.cpu === -1 || a.cpu === undefined ? undefined : int(a, 'cpu')); return null; },
  },
  'cpupool-migrate': {
    doc: 'move a running domain to another cpupool (this is how a scheduler is swapped at run time)',
    run: (_c, a) => function* ({ xc }) { xc.cpupoolMoveDomain(int(a, 'pool'), int(a, 'domid')); return null; },
  },
  console: {
    doc: 'the console output a domain has written so far (needs the console daemon)',
    run: (ctx, a) =>
      function* () {
        const d = ctx.host.service<ConsoleDaemon>('xenconsoled');
        if (!d) throw new ControlError('this host runs no console daemon');
        return { text: d.log(int(a, "domid")).text() };
      },
  },
};

/** Run one control operation on the host; resolves with its result or rejects with a one-line error. */
export function runOp(ctx: ControlContext, op: string, args: Args): Body {
  const o = OPS[op];
  if (!o) throw new ControlError(`unknown operation "${op}"`);
  const body = o.run(ctx, args);
  return function* (sys) {
    try {
      return yield* body(sys);
    } catch (e) {
      if (e instanceof XenError || e instanceof ParamError) throw new ControlError(e.message);
      throw e;
    }
  };
}
