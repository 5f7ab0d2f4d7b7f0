/**
 * How split drivers plug into scenarios (the extension point for the disk and network experiments).
 *
 * A driver registers a ScenarioDevice under its type name (`registry.registerDevice('vbd', dev)`);
 * a scenario's domain then lists `devices: [{ type: vbd, ...params }]`. Validation accepts any
 * registered type (and checks `params` when the device declares them); the runner calls `setupHost`
 * once per host before any guest is built (e.g. to build a driver domain), and `attach` for every
 * guest listing the device, while the guest is still paused (e.g. to write its xenstore frontend
 * and backend nodes). Both run as dom0 jobs, through Xc, like the rest of the toolstack. When any
 * domain lists a device, the runner runs xenstored in dom0 and introduces every guest to it, as
 * libxl's domain creation does; both hooks get dom0's xenstore connection. `dispose` runs after
 * the run. The split drivers' devices (`vbd`, `vif`) are in ./split-devices.ts.
 *
 * Workloads that use a device (disk-bound, network request/response, disk hog) are MiniOS apps in
 * guests/minios/src/workloads.ts: add them to WORKLOADS with their parameters, and they become
 * available to scenarios as `workload: { type: NAME, ... }`.
 */
import type { ThreadOp } from '@xenotype/minios';
import type { XsClientBase } from '@xenotype/xenstore';
import type { Dom0, Host } from '../host/host';

export interface DeviceParam {
  name: string;
  doc: string;
}

export interface DeviceHostContext {
  host: Host;
  sys: Dom0;
  /** dom0's connection to xenstored (the runner starts xenstored when a scenario has devices). */
  xs: XsClientBase<ThreadOp>;
  /** The Pool-0 scheduler parameters that give a domain this weight (for driver domains). */
  schedFor(weight: number): Record<string, number>;
  /** Every entry of this type in the scenario, with its domain's name. */
  uses: { domain: string; params: Record<string, unknown> }[];
}

export interface DeviceAttachContext {
  host: Host;
  sys: Dom0;
  xs: XsClientBase<ThreadOp>;
  domid: number;
  domain: string;
  params: Record<string, unknown>;
}

export interface ScenarioDevice {
  doc?: string;
  /** Parameters a scenario may give (checked by name when present). */
  params?: DeviceParam[];
  setupHost?(ctx: DeviceHostContext): Generator<ThreadOp, void, void>;
  attach(ctx: DeviceAttachContext): Generator<ThreadOp, void, void>;
  /** After the run (also a failed one): release what setupHost took on the host (files, say). */
  dispose?(host: Host): void;
}

export function isScenarioDevice(v: unknown): v is ScenarioDevice {
  return !!v && typeof (v as ScenarioDevice).attach === 'function';
}
