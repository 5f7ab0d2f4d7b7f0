/**
 * The paper's antisocial CPU and memory guests (§4.4) in the isolation scenario: the fork bomb
 * fills its process table and keeps trying; the memory hog grows to its reservation, is refused,
 * frees everything and starts again, never holding more than its reservation; and the other
 * domains still get their entitled CPU share and prompt wake-ups, under BVT and credit.
 */
import { describe, expect, it } from 'vitest';
import type { Host } from '../src/host/host';
import { defaultRegistry } from '../src/host/registry';
import { loadScenario } from '../src/scenario/load';
import { withUntil } from '../src/sweep/plan';
import { runScenario } from '../src/runner/run';

describe.each(['bvt', 'credit'])('isolation under %s', (scheduler) => {
  it('antisocial guests are contained', () => {
    const sc = withUntil(loadScenario('isolation-cpu', [{ name: 'scheduler', value: scheduler }], defaultRegistry()), 1_500_000_000);
    let host!: Host;
    let maxOverReservation = 0;
    const r = runScenario(sc, 1, {
      onHost: (h) => {
        host = h;
        h.hv.trace.subscribe((rec) => {
          if (rec.type !== 'hypercall') return;
          const d = h.hv.domains.get(rec.dom);
          if (d) maxOverReservation = Math.max(maxOverReservation, d.mem.totPages - d.mem.maxPages);
        });
      },
    });
    expect(r.status).toBe('ok');
    expect(r.invariantErrors).toEqual([]);
    const by = Object.fromEntries(r.domains.map((d) => [d.name, d]));
    for (const d of r.domains) expect(d.crashed, d.name).toBe(false);

    // fork bomb: the table is full (128 threads) and forks are being refused
    expect(by.forkbomb.counters![3]).toBe(128);
    expect(by.forkbomb.counters![4]).toBeGreaterThan(0);
    // memory hog: refused at its reservation, freed and restarted; never above max_pages
    expect(by.memhog.counters![4]).toBeGreaterThanOrEqual(1);
    expect(by.memhog.counters![5]).toBeGreaterThanOrEqual(1);
    expect(maxOverReservation).toBeLessThanOrEqual(0);
    const hog = host.hv.domains.get(by.memhog.domid)!;
    expect(hog.mem.maxPages).toBe(64 * 256);
    expect(hog.mem.totPages).toBeLessThanOrEqual(hog.mem.maxPages);

    // the others still get their due: equal thirds of the CPU among the three CPU-hungry guests,
    // and the interactive guest all its wake-ups, each within a scheduling period
    for (const n of ['cpu', 'forkbomb', 'memhog']) expect(Math.abs(by[n].shareError!), n).toBeLessThan(0.05);
    expect(by.interactive.throughput).toBeGreaterThan(95); // 100 wake-ups/s asked for
    expect(by.interactive.latency!.p99!).toBeLessThan(40_000_000);
  });
});
