/** The plugins a host knows: built-in schedulers and guest kernels, registered by name. */
import { Registry } from '@xenotype/core';
import { rrScheduler } from '@xenotype/sched-rr';
import { bvtScheduler } from '@xenotype/sched-bvt';
import { rtdsScheduler } from '@xenotype/sched-rtds';
import { arinc653Scheduler } from '@xenotype/sched-arinc653';
import { nullScheduler } from '@xenotype/sched-null';
import { creditScheduler } from '@xenotype/sched-credit';
import { credit2Scheduler } from '@xenotype/sched-credit2';
import { atroposScheduler } from '@xenotype/sched-atropos';
import { sedfScheduler } from '@xenotype/sched-sedf';
import { lotteryScheduler } from '@xenotype/sched-lottery';
import { MiniOS, WORKLOADS } from '@xenotype/minios';
import { registerSplitDevices } from '../runner/split-devices';

export const SCHEDULERS = [rrScheduler, bvtScheduler, rtdsScheduler, arinc653Scheduler, nullScheduler, creditScheduler, credit2Scheduler, atroposScheduler, sedfScheduler, lotteryScheduler];

export function defaultRegistry(): Registry {
  const r = new Registry();
  for (const s of SCHEDULERS) r.registerScheduler(s);
  for (const [name, w] of Object.entries(WORKLOADS)) r.registerKernel(`minios-${name}`, () => new MiniOS(w.app, name), w.doc);
  registerSplitDevices(r);
  return r;
}
