/**
 * A host: the hypervisor booted with dom0, whose userspace (the toolstack and other dom0 services)
 * runs as threads of dom0's MiniOS kernel and acts only through dom0's hypercalls.
 *
 * Work enters dom0 the way operator input does: a job is queued and VIRQ_CONSOLE ("bytes received
 * on the console") wakes dom0, which runs each job as a thread. A job that throws fails alone, as a
 * process would; it does not crash dom0. All of this happens in virtual time and is charged to
 * dom0's vCPUs.
 */
import { Hypervisor, VIRQ, type CostModel, type Ns, type Platform, type Registry, type TopologySpec, type TraceBus } from '@xenotype/core';
import { MiniOS, type ThreadOp } from '@xenotype/minios';
import { Xc } from '../xc/xc';
import { defaultRegistry } from './registry';

export interface HostSpec {
  cpus: number | TopologySpec;
  memoryMiB: number;
  scheduler: string;
  seed?: number;
  costs?: Partial<CostModel>;
  dom0?: { memoryMiB?: number; vcpus?: number };
  trace?: TraceBus;
  /** dom0 services (daemons) started as dom0 threads at boot, before any job runs. */
  services?: Dom0Service[];
  /** Real time and real vCPUs (e.g. @xenotype/kvm's kvmPlatform); absent: the simulation. */
  platform?: Platform;
}

/**
 * A dom0 daemon (xenstored, the console daemon, ...): its `main` runs as a dom0 thread from boot,
 * acting only through dom0's hypercalls. Tools find a running service with `host.service(name)`.
 */
export interface Dom0Service {
  readonly name: string;
  main(sys: Dom0): Generator<ThreadOp, void, void>;
}

/** What a dom0 job sees: dom0's kernel and its control library. */
export interface Dom0 {
  os: MiniOS;
  xc: Xc;
}

export type JobBody<T> = (sys: Dom0) => Generator<ThreadOp, T, void>;

export class Job<T> {
  done = false;
  result: T | undefined;
  error: unknown;
  constructor(
    readonly name: string,
    readonly body: JobBody<T>,
  ) {}
  /** The result, or the job's error rethrown. */
  value(): T {
    if (!this.done) throw new Error(`job ${this.name} has not finished`);
    if (this.error !== undefined) throw this.error;
    return this.result as T;
  }
}

export class JobFailed extends Error {}

export class Host {
  readonly hv: Hypervisor;
  readonly registry: Registry;
  private readonly queue: Job<unknown>[] = [];
  private dom0sys: Dom0 | null = null;

  constructor(
    readonly spec: HostSpec,
    registry: Registry = defaultRegistry(),
  ) {
    this.registry = registry;
    const host = this;
    registry.registerKernel('xenotype-dom0', () => new MiniOS((os) => host.dom0Main(os), 'dom0'), 'dom0: runs toolstack jobs');
    this.hv = new Hypervisor({
      cpus: spec.cpus,
      memoryMiB: spec.memoryMiB,
      seed: spec.seed ?? 1,
      scheduler: registry.scheduler(spec.scheduler),
      schedulers: (id) => registry.schedulerById(id),
      kernels: (img) => registry.kernel(img.name)?.(img),
      costs: spec.costs,
      trace: spec.trace,
      platform: spec.platform,
    });
    this.hv.bootDom0({ memoryMiB: spec.dom0?.memoryMiB ?? 64, vcpus: spec.dom0?.vcpus ?? 1, kernel: 'xenotype-dom0' });
  }

  private *dom0Main(os: MiniOS): Generator<ThreadOp, void, void> {
    const xc = new Xc(os);
    this.dom0sys = { os, xc };
    for (const svc of this.spec.services ?? []) os.spawn(svc.name, this.runService(svc, this.dom0sys));
    const input = os.evtchn.signal(os.evtchn.bindVirq(VIRQ.CONSOLE, 0));
    let seen = input.gen;
    for (;;) {
      while (this.queue.length > 0) {
        const job = this.queue.shift()!;
        os.spawn(job.name, this.runJob(job, this.dom0sys));
      }
      seen = yield* os.waitFor(input, seen);
    }
  }

  /** A service that fails stops alone, as a daemon process would; dom0 goes on. */
  private *runService(svc: Dom0Service, sys: Dom0): Generator<ThreadOp, void, void> {
    try {
      yield* svc.main(sys);
    } catch (e) {
      sys.os.printk(`dom0: service ${svc.name} failed: ${(e as Error)?.message ?? e}`);
    }
  }

  /** A dom0 service given in the spec, by name. */
  service<T extends Dom0Service>(name: string): T | undefined {
    return this.spec.services?.find((s) => s.name === name) as T | undefined;
  }

  private *runJob<T>(job: Job<T>, sys: Dom0): Generator<ThreadOp, void, void> {
    try {
      job.result = yield* job.body(sys);
    } catch (e) {
      job.error = e;
    }
    job.done = true;
  }

  get now(): Ns {
    return this.hv.now();
  }

  /** Queue a job for dom0 at the current instant. */
  submit<T>(name: string, body: JobBody<T>): Job<T> {
    const job = new Job(name, body);
    this.queue.push(job as Job<unknown>);
    this.hv.consoleInput();
    return job;
  }

  /** Submit a job and advance virtual time until it finishes (at most `limit` ns). */
  run<T>(name: string, body: JobBody<T>, limit: Ns = 60e9): T {
    const job = this.submit(name, body);
    const deadline = this.now + limit;
    const e = this.hv.engine;
    while (!job.done) {
      const t = e.peekTime();
      if (t === undefined || t > deadline) throw new JobFailed(`job ${name} did not finish within ${limit} ns of virtual time`);
      e.step();
    }
    return job.value();
  }

  runFor(ns: Ns): void {
    this.hv.runFor(ns);
  }
}
