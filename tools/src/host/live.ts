/**
 * A live host (DESIGN §4): the hypervisor with dom0 running xenstored, its virtual time paced to
 * the wall clock, Xen's own xenstore clients served over a Unix socket, optionally a few guests
 * (built, introduced to xenstored and started by the toolstack in dom0). Live sessions are not
 * deterministic; experiments run as fast as possible and are.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Host, type HostSpec } from './host';
import { RealtimePacer, type PacerClock } from './realtime';
import { Xenstored, type XenstoredOptions } from '../xenstored/service';
import { XenstoreSocketServer } from '../xenstored/unix-socket';
import { createDomain } from '../toolstack/xenstore';
import type { Registry } from '@xenotype/core';
import { ConsoleDaemon } from '../console/daemon';
import { ControlServer } from '../control/server';
import { defaultRegistry } from './registry';
import type { JobBody } from './host';

export interface LiveGuest {
  name: string;
  kernel: string;
  memoryMiB?: number;
  vcpus?: number;
  cmdline?: string;
}

export interface LiveHostOptions {
  socket: string;
  /** Control socket for `xt list`, `xt sched`, ... (default: "control" beside the xenstored socket). */
  control?: string;
  host?: Partial<Omit<HostSpec, 'services'>>;
  xenstored?: XenstoredOptions;
  guests?: LiveGuest[];
  leadNs?: number;
  clock?: PacerClock;
  registry?: Registry;
  log?: (line: string) => void;
}

/** Where `xt host` puts its socket: --socket, else $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket, else a fresh temp dir. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XENSTORED_PATH) return env.XENSTORED_PATH;
  if (env.XENSTORED_RUNDIR) return join(env.XENSTORED_RUNDIR, 'socket');
  return join(mkdtempSync(join(tmpdir(), 'xenotype-host-')), 'socket');
}

export class LiveHost {
  readonly host: Host;
  readonly xsd: Xenstored;
  readonly pacer: RealtimePacer;
  readonly socket: XenstoreSocketServer;
  readonly control: ControlServer;
  readonly consoles = new ConsoleDaemon();
  readonly guests: { name: string; domid: number }[] = [];

  constructor(readonly opts: LiveHostOptions) {
    this.xsd = new Xenstored({ log: opts.log, ...opts.xenstored });
    const registry = opts.registry ?? defaultRegistry();
    const spec: HostSpec = { cpus: 2, memoryMiB: 512, scheduler: 'rr', seed: 1, ...opts.host, services: [this.xsd, this.consoles] };
    this.host = new Host(spec, registry);
    this.pacer = new RealtimePacer(this.host.hv.engine, { leadNs: opts.leadNs, clock: opts.clock });
    this.socket = new XenstoreSocketServer(this.xsd, this.host.hv, this.pacer, opts.socket);
    this.control = new ControlServer(
      { host: this.host, xsd: this.xsd, registry },
      { run: (name, body) => this.runJob(name, body) },
      opts.control ?? join(dirname(opts.socket), 'control'),
    );
  }

  /** Run a dom0 job on the paced host and wait (in wall time) for it to finish. */
  async runJob<T>(name: string, body: JobBody<T>, timeoutMs = 30_000): Promise<T> {
    const job = this.host.submit(name, body);
    this.pacer.pump();
    await this.until(() => job.done, timeoutMs, `${name} did not finish`);
    return job.value();
  }

  /** Boot (paced), build the guests, then listen. Resolves when the socket accepts clients. */
  async start(): Promise<void> {
    this.pacer.start();
    await this.until(() => this.xsd.running, 5000, 'dom0 did not start xenstored');
    for (const g of this.opts.guests ?? []) {
      const xsd = this.xsd;
      const job = this.host.submit(`create ${g.name}`, function* ({ xc, os }) {
        const xs = xsd.client(os);
        try {
          return (yield* createDomain(xc, xs, { name: g.name, memoryMiB: g.memoryMiB ?? 8, vcpus: g.vcpus ?? 1, kernel: g.kernel, cmdline: g.cmdline })).domid;
        } finally {
          xs.close();
        }
      });
      this.pacer.pump();
      await this.until(() => job.done, 10000, `guest ${g.name} was not created`);
      this.guests.push({ name: g.name, domid: job.value() });
    }
    await this.socket.listen();
    await this.control.listen();
  }

  private async until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) throw new Error(what);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async stop(): Promise<void> {
    await this.control.close();
    await this.socket.close();
    this.pacer.pump(); // catch virtual time up with the wall clock
    this.pacer.stop();
  }
}
