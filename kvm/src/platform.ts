/**
 * `kvmPlatform()`: what a host needs to run real vCPUs — the core's Platform seams filled:
 *  - clock: CLOCK_MONOTONIC from the addon; the engine waits for its next event in `wait`, which is
 *    where posted vCPUs (exits, stops) are handed to the executor — so an exit is handled as soon
 *    as it happens, and a timer fires on time (the addon sleeps with 1 ns timer slack);
 *  - tsc: the host's TSC (guests read it natively: PVM does not offset it), anchored afresh at
 *    every read so vcpu_time_info maps it onto the engine's time exactly;
 *  - memory: all machine frames in one anonymous host mapping (pages exist once touched), so
 *    every frame has a host address a memslot can name; a scrubbed frame's pages go back;
 *  - executor: KvmExecutor, routing TypeScript kernels to the simulation executor.
 */
import { availableParallelism } from 'node:os';
import type { HostMemory, Hypervisor, Ns, Platform, RealClock, SimExecutor, VcpuExecutor } from '@xenotype/core';
import { loadAddon, type Addon } from './addon';
import { KvmExecutor, dispatchRecord, type KvmOptions } from './executor';

export type KvmPlatformOptions = KvmOptions;

export class KvmPlatform implements Platform {
  readonly clock: RealClock;
  readonly tsc: { readonly hz: number; at(t: Ns): number };
  private readonly k: Addon;
  private readonly origin: number;
  private hostMem: HostMemory | null = null;
  /** The executor, once the hypervisor has asked for it. */
  kvm: KvmExecutor | null = null;

  constructor(private readonly opts: KvmPlatformOptions = {}) {
    const k = (this.k = loadAddon());
    this.origin = k.now();
    const hz = calibrateTsc(k);
    const origin = this.origin;
    this.tsc = {
      hz,
      at: (t: Ns) => {
        const [tsc, ns] = k.tscPair();
        return Math.round(tsc + ((t - (ns - origin)) * hz) / 1e9);
      },
    };
    this.clock = {
      now: () => k.now() - origin,
      wait: (deadline: Ns) => this.wait(deadline),
    };
  }

  memory(nrFrames: number): HostMemory {
    const k = this.k;
    const buf = k.hostMemory(nrFrames * 4096);
    this.hostMem = { first: 0, bytes: new Uint8Array(buf), scrub: (mfn, n) => k.scrub(buf, mfn * 4096, n * 4096) };
    return this.hostMem;
  }

  executor(hv: Hypervisor, sim: SimExecutor): VcpuExecutor {
    if (!this.hostMem) throw new Error('kvmPlatform: machine memory was not given to the hypervisor');
    this.kvm = new KvmExecutor(hv, sim, this.k, this.hostMem, this.opts, availableParallelism());
    return this.kvm;
  }

  private wait(deadline: Ns): boolean {
    const e = this.kvm;
    if (deadline === Infinity && !e?.live) return false;
    const recs = this.k.wait(deadline === Infinity ? Infinity : this.origin + deadline, e?.spinBudget() ?? 0);
    for (let i = 0; i < recs.length; i += 3) dispatchRecord(recs[i], recs[i + 1], recs[i + 2]);
    return true;
  }

  /** Stop every real vCPU and close their VMs (call when the host is no longer needed). */
  dispose(): void {
    this.kvm?.dispose();
  }
}

/** TSC ticks per second against CLOCK_MONOTONIC, over ~20 ms. */
function calibrateTsc(k: Addon): number {
  const [t0, n0] = k.tscPair();
  let t1 = t0;
  let n1 = n0;
  while (n1 - n0 < 20e6) [t1, n1] = k.tscPair();
  return Math.round(((t1 - t0) * 1e9) / (n1 - n0));
}

export function kvmPlatform(opts: KvmPlatformOptions = {}): KvmPlatform {
  return new KvmPlatform(opts);
}
