/**
 * Physical CPUs and their topology: sockets × cores per socket × threads per core, numbered as
 * Linux and Xen number them on a typical server (cpu = (socket * cores + core) * threads + thread).
 */
import { pcpuid, type PcpuId } from '../abi/types';

export interface TopologySpec {
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
}

export interface CpuInfo {
  readonly id: PcpuId;
  readonly socket: number;
  readonly core: number;
  readonly thread: number;
}

export class Topology {
  readonly cpus: readonly CpuInfo[];

  constructor(readonly spec: TopologySpec) {
    const { sockets, coresPerSocket, threadsPerCore } = spec;
    for (const [k, v] of Object.entries(spec)) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`topology: ${k} must be a positive integer`);
    }
    const cpus: CpuInfo[] = [];
    for (let s = 0; s < sockets; s++)
      for (let c = 0; c < coresPerSocket; c++)
        for (let t = 0; t < threadsPerCore; t++)
          cpus.push({ id: pcpuid(cpus.length), socket: s, core: s * coresPerSocket + c, thread: t });
    this.cpus = cpus;
  }

  get nrCpus(): number {
    return this.cpus.length;
  }

  /** A flat topology of n single-threaded cores on one socket. */
  static flat(n: number): Topology {
    return new Topology({ sockets: 1, coresPerSocket: n, threadsPerCore: 1 });
  }

  sameCore(a: PcpuId, b: PcpuId): boolean {
    return this.cpus[a].core === this.cpus[b].core;
  }

  sameSocket(a: PcpuId, b: PcpuId): boolean {
    return this.cpus[a].socket === this.cpus[b].socket;
  }
}
