/**
 * The plugin registry: scheduler policies, guest kernels and device backends resolved by name
 * through a tsyringe container. Registration uses explicit string tokens and value/factory
 * providers (esbuild-based runners emit no decorator metadata, so nothing relies on it).
 *
 * A scheduler missing a mandatory hook is refused at registration, naming the hook — as Xen's
 * scheduler_init() drops such a scheduler.
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { MANDATORY_HOOKS, type AnySchedulerOps } from '../sched/ops';
import type { GuestKernel, KernelImage } from '../exec/guest';

export type KernelFactory = (image: KernelImage) => GuestKernel;

export class PluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginError';
  }
}

export type PluginKind = 'scheduler' | 'kernel' | 'device';

export class Registry {
  private readonly names: Record<PluginKind, Map<string, string>> = {
    scheduler: new Map(),
    kernel: new Map(),
    device: new Map(),
  };

  constructor(private readonly c: DependencyContainer = rootContainer.createChildContainer()) {}

  private token(kind: PluginKind, name: string): string {
    return `xenotype:${kind}:${name}`;
  }

  private add(kind: PluginKind, name: string, doc: string, provide: (token: string) => void): void {
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(name)) throw new PluginError(`${kind} name "${name}" is not a valid name`);
    if (this.names[kind].has(name)) throw new PluginError(`${kind} "${name}" is already registered`);
    provide(this.token(kind, name));
    this.names[kind].set(name, doc);
  }

  registerScheduler(ops: AnySchedulerOps): void {
    const missing = MANDATORY_HOOKS.filter((h) => typeof (ops as unknown as Record<string, unknown>)[h] !== 'function');
    if (missing.length > 0) throw new PluginError(`scheduler "${ops.optName}" lacks mandatory hook ${missing.join(', ')}`);
    if (!Number.isInteger(ops.schedId) || ops.schedId < 0) throw new PluginError(`scheduler "${ops.optName}" has no valid schedId`);
    for (const other of this.names.scheduler.keys())
      if (this.scheduler(other).schedId === ops.schedId)
        throw new PluginError(`scheduler "${ops.optName}" reuses schedId ${ops.schedId} of "${other}"`);
    this.add('scheduler', ops.optName, ops.doc ?? ops.name, (t) => this.c.register(t, { useValue: ops }));
  }

  scheduler(name: string): AnySchedulerOps {
    if (!this.names.scheduler.has(name)) throw new PluginError(`unknown scheduler "${name}" (have: ${this.list('scheduler').join(', ')})`);
    return this.c.resolve<AnySchedulerOps>(this.token('scheduler', name));
  }

  schedulerById(id: number): AnySchedulerOps | undefined {
    for (const n of this.names.scheduler.keys()) {
      const s = this.scheduler(n);
      if (s.schedId === id) return s;
    }
    return undefined;
  }

  registerKernel(name: string, factory: KernelFactory, doc = ''): void {
    this.add('kernel', name, doc, (t) => this.c.register(t, { useValue: factory }));
  }

  kernel(name: string): KernelFactory | undefined {
    if (!this.names.kernel.has(name)) return undefined;
    return this.c.resolve<KernelFactory>(this.token('kernel', name));
  }

  registerDevice<T>(name: string, value: T, doc = ''): void {
    this.add('device', name, doc, (t) => this.c.register(t, { useValue: value }));
  }

  device<T>(name: string): T {
    if (!this.names.device.has(name)) throw new PluginError(`unknown device "${name}" (have: ${this.list('device').join(', ')})`);
    return this.c.resolve<T>(this.token('device', name));
  }

  has(kind: PluginKind, name: string): boolean {
    return this.names[kind].has(name);
  }

  list(kind: PluginKind): string[] {
    return [...this.names[kind].keys()].sort();
  }

  describe(kind: PluginKind, name: string): string {
    return this.names[kind].get(name) ?? '';
  }
}
