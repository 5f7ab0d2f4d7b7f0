/**
 * A fast-check command-sequence check for any scheduling policy, for policy tests to call: a
 * 2-pCPU host runs three guests (a two-vCPU CPU hog, an interactive guest, a one-vCPU hog) while
 * random commands pause and unpause them, re-pin their vCPUs, set their parameters (valid or not,
 * through XEN_DOMCTL_scheduler_op) and let time pass. After every command the framework's
 * invariants must hold, no policy error may have been reported, and the policy's own check
 * (`check`, e.g. "every runnable vCPU is queued once, on its pCPU") must return no complaint. At the
 * end everything is unpaused and, for a `live` policy, every guest vCPU must run within a second.
 */
import fc from 'fast-check';
import { CpuSet, ms, us, type Struct, type Field, type Values, type Vcpu } from '@xenotype/core';
import { XenError } from '@xenotype/minios';
import { Host } from '../src/host/host';
import { buildDomain } from '../src/toolstack/builder';

export interface StressSpec<F extends Record<string, Field>> {
  scheduler: string;
  schedId: number;
  layout: Struct<F>;
  /** Parameter sets to draw from (valid and invalid: -EINVAL is fine, a policy error is not). */
  params: fc.Arbitrary<Partial<Values<F>>>;
  /** Policy-specific complaints about its records for these vCPUs (empty: all good). */
  check: (vcpus: Vcpu[]) => string[];
  /** Every guest vCPU must get CPU once everything is unpaused (not so for reservation policies, where a configuration may starve a domain by design). */
  live?: boolean;
  runs?: number;
  seed?: number;
  /** Command sequences (and host seeds) to try first, e.g. a counterexample being fixed. */
  examples?: [Cmd[], number][];
}

export type Cmd =
  | { k: 'run'; ns: number }
  | { k: 'pause'; d: number }
  | { k: 'unpause'; d: number }
  | { k: 'pin'; d: number; v: number; cpu: number }
  | { k: 'adjust'; d: number; p: Record<string, number> };

export function stressScheduler<F extends Record<string, Field>>(spec: StressSpec<F>): void {
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: us(50), max: ms(40) }) }),
    fc.record({ k: fc.constant('pause' as const), d: fc.nat(2) }),
    fc.record({ k: fc.constant('unpause' as const), d: fc.nat(2) }),
    fc.record({ k: fc.constant('pin' as const), d: fc.nat(2), v: fc.nat(1), cpu: fc.integer({ min: -1, max: 1 }) }),
    fc.record({ k: fc.constant('adjust' as const), d: fc.nat(2), p: spec.params as fc.Arbitrary<Record<string, number>> }),
  );
  fc.assert(
    fc.property(fc.array(cmd, { minLength: 5, maxLength: 25 }), fc.nat(1000), (cmds, seed) => {
      const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: spec.scheduler, seed });
      const guests = [
        { kernel: 'minios-cpuhog', cmdline: `chunk=${ms(1)} threads=2`, vcpus: 2 },
        { kernel: 'minios-interactive', cmdline: `period=${ms(7)} jitter=${ms(3)} work=${us(700)}`, vcpus: 1 },
        { kernel: 'minios-cpuhog', cmdline: `chunk=${us(300)}`, vcpus: 1 },
      ];
      const ids = host.run('build', function* ({ xc }) {
        const out = guests.map((g, i) => buildDomain(xc, { name: `s${i}`, memoryMiB: 8, vcpus: g.vcpus, kernel: g.kernel, cmdline: g.cmdline, paused: true }).domid);
        for (const id of out) xc.domainUnpause(id);
        return out;
      });
      const paused = [0, 0, 0];
      const vcpus = () => ids.flatMap((id) => host.hv.domains.get(id)!.vcpus);
      const verify = (after: string) => {
        const errs = [...host.hv.checkInvariants(), ...host.hv.fw.policyErrors, ...spec.check(vcpus())];
        if (errs.length > 0) throw new Error(`after ${after}: ${errs.slice(0, 3).join('; ')}`);
      };
      for (const c of cmds) {
        if (c.k === 'run') host.runFor(c.ns);
        else
          host.run(c.k, function* ({ xc }) {
            const id = ids[c.d];
            try {
              if (c.k === 'pause') {
                xc.domainPause(id);
                paused[c.d]++;
              } else if (c.k === 'unpause') {
                if (paused[c.d] > 0) {
                  xc.domainUnpause(id);
                  paused[c.d]--;
                }
              } else if (c.k === 'pin') {
                if (c.v < host.hv.domains.get(id)!.vcpus.length) xc.setVcpuAffinity(id, c.v, c.cpu < 0 ? CpuSet.range(2) : CpuSet.of([c.cpu]), null, 2);
              } else xc.schedDomainSet(id, spec.schedId, spec.layout, c.p as Partial<Values<F>>);
            } catch (e) {
              if (!(e instanceof XenError)) throw e; // a refused hypercall is fine; anything else is not
            }
          });
        verify(JSON.stringify(c));
      }
      // everything unpaused again: every guest vCPU gets CPU within a second
      host.run('unpause all', function* ({ xc }) {
        ids.forEach((id, i) => {
          for (; paused[i] > 0; paused[i]--) xc.domainUnpause(id);
        });
      });
      const before = vcpus().map((v) => v.cpuTime(host.now));
      host.runFor(ms(1000));
      verify('unpausing everything');
      if (spec.live)
        vcpus().forEach((v, i) => {
          if (v.cpuTime(host.now) <= before[i]) throw new Error(`${v} got no CPU in the last second`);
        });
    }),
    { numRuns: spec.runs ?? 25, seed: spec.seed ?? 42, examples: spec.examples },
  );
}
