/**
 * Hosts with real vCPUs for the KVM tests: a Host on @xenotype/kvm's platform (real time, one host
 * mapping for machine memory, the KVM executor routing xtkernel guests to KVM and dom0 / driver
 * domains to the simulation), plus what the tests read back — console lines, each guest's
 * counters page (from its `counters@gfn N` line), crash reasons.
 *
 * `kvmSkip` is the reason these tests cannot run here (no /dev/kvm, addon or kernel not built), or
 * null; tests skip with it in their title so the reason is visible.
 */
import { kvmStatus, kvmPlatform, type KvmPlatform } from '@xenotype/kvm';
import { xtkernelMissing } from '@xenotype/xtkernel';
import type { Registry } from '@xenotype/core';
import { Host, type Dom0Service } from '../../tools/src/host/host';
import { defaultRegistry } from '../../tools/src/host/registry';
import { buildDomain, type BuiltDomain } from '../../tools/src/toolstack/builder';
import { xtkernelDomain, type XtkernelSpec } from '../../tools/src/kvm/xtkernel';

export const kvmSkip: string | null = (() => {
  const s = kvmStatus();
  if (!s.ok) return s.reason;
  return xtkernelMissing();
})();

/** A describe title that carries the skip reason when there is one. */
export const kvmTitle = (what: string): string => (kvmSkip ? `${what} (skipped: ${kvmSkip})` : what);

export interface KvmHostOptions {
  cpus?: number;
  scheduler?: string;
  memoryMiB?: number;
  services?: Dom0Service[];
  registry?: Registry;
}

export class KvmHost {
  readonly platform: KvmPlatform;
  readonly host: Host;
  readonly lines: { dom: number; text: string; t: number }[] = [];
  readonly gfns = new Map<number, number>();
  readonly crashes = new Map<number, string>();

  constructor(o: KvmHostOptions = {}) {
    this.platform = kvmPlatform();
    this.host = new Host(
      { cpus: o.cpus ?? 1, memoryMiB: o.memoryMiB ?? 256, scheduler: o.scheduler ?? 'rr', seed: 1, services: o.services, platform: this.platform },
      o.registry ?? defaultRegistry(),
    );
    this.host.hv.trace.subscribe((r) => {
      if (r.type === 'console') {
        const { dom, text } = r as unknown as { dom: number; text: string };
        this.lines.push({ dom, text, t: r.t });
        const m = /counters@gfn (\d+)/.exec(text);
        if (m && !this.gfns.has(dom)) this.gfns.set(dom, Number(m[1]));
      } else if (r.type === 'crash') {
        const { dom, why } = r as unknown as { dom: number; why: string };
        this.crashes.set(dom, why);
      }
    });
  }

  get hv() {
    return this.host.hv;
  }

  /** Build an xtkernel guest (unpaused unless spec.paused). */
  guest(spec: XtkernelSpec): BuiltDomain {
    return this.host.run('build', function* ({ xc }) {
      return buildDomain(xc, xtkernelDomain(spec));
    });
  }

  /** Counter `i` of guest `domid`, read from its memory (undefined before it printed its page). */
  counter(domid: number, i: number): number | undefined {
    const g = this.gfns.get(domid);
    const d = this.hv.domains.get(domid);
    if (g === undefined || !d) return undefined;
    return d.mem.view.getU64(g * 4096 + i * 8);
  }

  /** Run in real time until `pred()` holds (checked every `stepNs`), at most `limitNs`. */
  runUntil(pred: () => boolean, limitNs = 10e9, stepNs = 5e6): boolean {
    const end = this.host.now + limitNs;
    while (!pred()) {
      if (this.host.now >= end) return false;
      this.host.runFor(stepNs);
    }
    return true;
  }

  /** Stop every real vCPU and close their VMs. */
  dispose(): void {
    this.platform.dispose();
  }

  linesOf(domid: number): string[] {
    return this.lines.filter((l) => l.dom === domid).map((l) => l.text);
  }
}
