/** The plugins a host knows: built-in schedulers and guest kernels, registered by name. */
import { Registry } from '@xenotype/core';
import { rrScheduler } from '@xenotype/sched-rr';
import { bvtScheduler } from '@xenotype/sched-bvt';
import { MiniOS, WORKLOADS } from '@xenotype/minios';

export const SCHEDULERS = [rrScheduler, bvtScheduler];

export function defaultRegistry(): Registry {
  const r = new Registry();
  for (const s of SCHEDULERS) r.registerScheduler(s);
  for (const [name, w] of Object.entries(WORKLOADS)) r.registerKernel(`minios-${name}`, () => new MiniOS(w.app, name), w.doc);
  return r;
}
