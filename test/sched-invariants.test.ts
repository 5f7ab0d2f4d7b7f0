/**
 * The scheduler framework's invariants under every registered policy (our issue's property test):
 * random sequences of wake/block (an interactive guest sleeping on timers), yield (a guest calling
 * SCHEDOP_yield in a loop), pause/unpause, hard and soft affinity changes, and moves between two
 * cpupools (the policy under test in Pool-0, round robin in a second pool) — with every invariant
 * checked after each step: a vCPU current on at most one pCPU, no non-runnable vCPU picked (checked
 * on every switch record as well as by the framework), runstate times adding up, no policy error.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CpuSet, HALT, HYPERVISOR, SCHEDOP, ms, us, type TraceRecord, type Vcpu } from '@xenotype/core';
import { MiniOS, XenError } from '@xenotype/minios';
import { Host } from '../tools/src/host/host';
import { SCHEDULERS, defaultRegistry } from '../tools/src/host/registry';
import { buildDomain } from '../tools/src/toolstack/builder';
import { rrScheduler } from '@xenotype/sched-rr';

type Cmd =
  | { k: 'run'; ns: number }
  | { k: 'pause' | 'unpause'; d: number }
  | { k: 'hard' | 'soft'; d: number; v: number; mask: number }
  | { k: 'move'; d: number; pool: 0 | 1 };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('run' as const), ns: fc.integer({ min: us(50), max: ms(15) }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('pause' as const, 'unpause' as const), d: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('hard' as const, 'soft' as const), d: fc.integer({ min: 0, max: 3 }), v: fc.integer({ min: 0, max: 1 }), mask: fc.integer({ min: 1, max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('move' as const), d: fc.integer({ min: 0, max: 3 }), pool: fc.constantFrom(0 as const, 1 as const) }) },
);

function scenario(scheduler: string, seed: number) {
  const reg = defaultRegistry();
  reg.registerKernel('yielder', () => new MiniOS(function* (os) {
    for (;;) {
      yield* os.compute(us(300));
      os.cpu.hypercall(HYPERVISOR.sched_op, SCHEDOP.yield, 0);
      yield HALT;
    }
  }, 'yielder'));
  const host = new Host({ cpus: 3, memoryMiB: 256, scheduler, seed }, reg);
  const bad: string[] = [];
  host.hv.trace.subscribe((r: TraceRecord) => {
    if (r.type !== 'switch' || r.nextDom === 0x7fff) return;
    const v = host.hv.domains.get(r.nextDom)?.vcpus[r.nextVcpu];
    if (!v || !v.runnable) bad.push(`t=${r.t}: switched to d${r.nextDom}v${r.nextVcpu}, which cannot run`);
  });
  const ids = host.run('build', function* ({ xc }) {
    const pool = xc.cpupoolCreate(rrScheduler.schedId);
    xc.cpupoolRemoveCpu(0, 2);
    xc.cpupoolAddCpu(pool, 2);
    return [
      buildDomain(xc, { name: 'hog', memoryMiB: 8, vcpus: 2, kernel: 'minios-cpuhog', cmdline: 'threads=2' }).domid,
      buildDomain(xc, { name: 'int', memoryMiB: 8, vcpus: 1, kernel: 'minios-interactive', cmdline: `period=${ms(2)} jitter=${us(500)} work=${us(200)}` }).domid,
      buildDomain(xc, { name: 'yield', memoryMiB: 8, vcpus: 1, kernel: 'yielder' }).domid,
      buildDomain(xc, { name: 'hog1', memoryMiB: 8, vcpus: 1, kernel: 'minios-cpuhog' }).domid,
    ];
  });
  return { host, ids, bad, pool1: 1 };
}

function apply(s: ReturnType<typeof scenario>, c: Cmd): void {
  const { host, ids } = s;
  if (c.k === 'run') {
    host.runFor(c.ns);
    return;
  }
  const id = ids[c.d];
  host.run(c.k, function* ({ xc }) {
    try {
      if (c.k === 'pause') xc.domainPause(id);
      else if (c.k === 'unpause') xc.domainUnpause(id);
      else if (c.k === 'move') xc.cpupoolMoveDomain(c.pool === 0 ? 0 : s.pool1, id);
      else if (c.k === 'hard' || c.k === 'soft') {
        const d = host.hv.domains.get(id)!;
        if (c.v >= d.vcpus.length) return 0;
        // a mask over the 3 pCPUs; one outside the domain's pool is refused with -EINVAL
        const mask = CpuSet.of([0, 1, 2].filter((i) => c.mask & (1 << i)));
        xc.setVcpuAffinity(id, c.v, c.k === 'hard' ? mask : null, c.k === 'soft' ? mask : null, 3);
      }
    } catch (e) {
      if (!(e instanceof XenError)) throw e; // -EINVAL etc. are fine: nothing may break
    }
    return 0;
  });
}

const liveVcpus = (s: ReturnType<typeof scenario>): Vcpu[] => s.ids.flatMap((id) => s.host.hv.domains.get(id)?.vcpus ?? []);

describe('scheduler framework invariants under every policy', () => {
  for (const ops of SCHEDULERS) {
    it(`${ops.optName}: random wake/block/yield/pause/affinity/pool-move sequences keep every invariant`, () => {
      let steps = 0;
      fc.assert(
        fc.property(fc.array(cmd, { minLength: 5, maxLength: 25 }), fc.integer({ min: 1, max: 1000 }), (cmds, seed) => {
          const s = scenario(ops.optName, seed);
          for (const c of cmds) {
            apply(s, c);
            steps++;
            const errs = s.host.hv.checkInvariants();
            expect(errs, JSON.stringify(c)).toEqual([]);
            expect(s.host.hv.fw.policyErrors, JSON.stringify(c)).toEqual([]);
            expect(s.bad).toEqual([]);
            for (const v of liveVcpus(s)) {
              const sum = v.runstateTime.reduce((a, b) => a + b, 0) + (s.host.now - v.stateEntryTime);
              expect(sum).toBe(s.host.now - v.domain.createdAt);
            }
          }
        }),
        { seed: 0x5eed, numRuns: 12 },
      );
      expect(steps).toBeGreaterThan(60);
    });
  }
});
