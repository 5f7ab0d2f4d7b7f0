/**
 * Test support for the network tests: a host with dom0's xenstored, a driver domain running
 * netback (through the generic driver-domain loop), and guests each given a vif by the toolstack
 * exactly as libxl adds one. Guests are MiniOS apps; tests observe them through closures (what a
 * guest saw) and through the Netback object (counters) — domains themselves share nothing but
 * xenstore, grants, event channels and the frames netback carries.
 */
import { ms, type Ns } from '@xenotype/core';
import { MiniOS, asThread, type App } from '@xenotype/minios';
import { Netback, type NetbackOptions } from '@xenotype/net';
import { Host } from '../../tools/src/host/host';
import { defaultRegistry } from '../../tools/src/host/registry';
import { createDomain } from '../../tools/src/toolstack/xenstore';
import { registerDriverDomain } from '../../tools/src/toolstack/driver-domain';
import { nicAdd, type NicSpec } from '../../tools/src/toolstack/nic';
import { Xenstored } from '../../tools/src/xenstored/service';
import type { Co, XenstoreCap } from '@xenotype/xenbus';

export interface GuestSpec {
  name: string;
  app: App;
  cmdline?: string;
  /** The vif, as the toolstack adds it (domid and backend are filled in); null: no vif. */
  nic?: Omit<NicSpec, 'domid' | 'backendDomid'> | null;
  memoryMiB?: number;
}

export interface NetHost {
  host: Host;
  xsd: Xenstored;
  netback: () => Netback;
  dd: number;
  ids: Record<string, number>;
  macs: Record<string, string>;
  lines: string[];
  crashes: string[];
  /** Run a toolstack step in dom0 with its xenstore connection. */
  dom0<T>(name: string, body: (xs: XenstoreCap) => Co<T>): T;
}

const ipOf = (nic: GuestSpec['nic']): string | undefined => nic?.ip;

export function netHost(guests: GuestSpec[], o: { cpus?: number; netback?: NetbackOptions; seed?: number } = {}): NetHost {
  const reg = defaultRegistry();
  let nb: Netback | null = null;
  registerDriverDomain(reg, 'netdd', [
    (caps) => {
      nb = new Netback(caps, o.netback);
      return nb;
    },
  ]);
  for (const g of guests) reg.registerKernel(`t-${g.name}`, () => new MiniOS(g.app, g.name));
  const xsd = new Xenstored();
  const host = new Host({ cpus: o.cpus ?? 2, memoryMiB: 512, scheduler: 'rr', seed: o.seed ?? 3, services: [xsd] }, reg);
  const lines: string[] = [];
  const crashes: string[] = [];
  host.hv.trace.subscribe((r) => {
    if (r.type === 'console') lines.push(`d${r.dom}: ${(r as { text: string }).text.trimEnd()}`);
    if (r.type === 'crash') crashes.push(`d${r.dom}: ${(r as { why: string }).why}`);
  });
  const ids: Record<string, number> = {};
  const macs: Record<string, string> = {};
  const dd = host.run('create', function* ({ xc, os }) {
    const xs = xsd.client(os);
    const d = yield* createDomain(xc, xs, { name: 'netdd', memoryMiB: 16, vcpus: 1, kernel: 'netdd' });
    for (const g of guests) {
      const b = yield* createDomain(xc, xs, { name: g.name, memoryMiB: g.memoryMiB ?? 8, vcpus: 1, kernel: `t-${g.name}`, cmdline: g.cmdline ?? (ipOf(g.nic) ? `ip=${ipOf(g.nic)}` : ''), paused: true });
      ids[g.name] = b.domid;
      if (g.nic !== null) macs[g.name] = (yield* asThread(nicAdd(xs, { ...g.nic, domid: b.domid, backendDomid: d.domid }))).mac;
    }
    for (const g of guests) xc.domainUnpause(ids[g.name]);
    return d.domid;
  });
  return {
    host,
    xsd,
    netback: () => {
      if (!nb) throw new Error('netback not started');
      return nb;
    },
    dd,
    ids,
    macs,
    lines,
    crashes,
    dom0: (name, body) =>
      host.run(name, function* ({ os }) {
        return yield* asThread(body(xsd.client(os)));
      }),
  };
}

/** Run until `cond` holds (checked every `step` of virtual time), at most `limit`; returns whether it held. */
export function runUntil(h: NetHost, cond: () => boolean, limit: Ns = ms(500), step: Ns = ms(1)): boolean {
  const end = h.host.now + limit;
  while (!cond()) {
    if (h.host.now >= end) return false;
    h.host.runFor(step);
  }
  return true;
}
