/**
 * Restarting the network driver domain while guests keep running (DESIGN §2: "a driver domain can
 * be destroyed and restarted while guests keep their data"): the toolstack destroys the driver
 * domain, builds a new one and moves the vifs' backend directories to it (reattach.ts); each
 * netfront sees its backend vanish and its `backend` node change, lets go of its rings, and
 * handshakes with the new netback — same MAC, same address — and traffic resumes. Frames in
 * flight during the outage are lost, as on a wire, and nothing else is.
 */
import { describe, expect, it } from 'vitest';
import { ms } from '@xenotype/core';
import { NetStack, netConnect, type App, type NetDevice } from '@xenotype/minios';
import { parseIpv4 } from '@xenotype/net';
import { restartDriverDomain } from '../tools/src/toolstack/reattach';
import { netHost, runUntil } from './support/net-host';

const ip = (s: string) => parseIpv4(s)!;

describe('network driver-domain restart', () => {
  it('guests reconnect to the new netback and ping again; no guest crashes, no grant is left pinned', () => {
    const pings: { t: number; rtt: number | null }[] = [];
    const devs: Record<string, NetDevice> = {};
    const a: App = function* (os) {
      const dev = (devs.a = yield* netConnect(os, { deadline: os.now() + ms(50) }));
      const st = new NetStack(os, dev, { ip: ip('10.0.0.1') }).start();
      for (let seq = 0; ; seq++) {
        const t = os.now();
        pings.push({ t, rtt: yield* st.ping(ip('10.0.0.2'), seq, { timeoutNs: ms(5) }) });
        yield* os.sleepUntil(t + ms(2));
      }
    };
    const b: App = function* (os) {
      devs.b = yield* netConnect(os, { deadline: os.now() + ms(50) });
      new NetStack(os, devs.b, { ip: ip('10.0.0.2') }).start();
    };
    const h = netHost([
      { name: 'a', app: a, nic: { ip: '10.0.0.1' } },
      { name: 'b', app: b, nic: { ip: '10.0.0.2' } },
    ]);
    expect(runUntil(h, () => pings.filter((p) => p.rtt !== null).length >= 5, ms(100))).toBe(true);
    const first = h.netback();
    const macs = { a: devs.a.mac, b: devs.b.mac };

    const restartAt = h.host.now;
    const moved = h.host.run('restart', function* ({ xc, os }) {
      return yield* restartDriverDomain(xc, h.xsd.client(os), h.dd, { name: 'netdd2', memoryMiB: 16, vcpus: 1, kernel: 'netdd' });
    });
    expect(moved.moved.map((m) => m.type)).toEqual(['vif', 'vif']);

    // traffic resumes through the new driver domain
    expect(runUntil(h, () => pings.filter((p) => p.t > restartAt && p.rtt !== null).length >= 5, ms(200))).toBe(true);
    const second = h.netback();
    expect(second).not.toBe(first);
    for (const g of ['a', 'b'] as const) {
      expect(devs[g].front.stats.connects, g).toBe(2);
      expect(devs[g].front.backendId, g).toBe(moved.domain.domid);
      expect(devs[g].mac, g).toBe(macs[g]);
    }
    expect([...second.vifs.keys()].sort()).toEqual([`vif${h.ids.a}.0`, `vif${h.ids.b}.0`].sort());
    expect(second.bridge('xenbr0').lookup(macs.b)).toBe(`vif${h.ids.b}.0`);
    // the outage was short: the first answer after the restart came within a few pings
    const back = pings.find((p) => p.t > restartAt && p.rtt !== null)!;
    expect(back.t - restartAt).toBeLessThan(ms(30));
    expect(h.crashes).toEqual([]);
    expect(h.host.hv.checkInvariants()).toEqual([]);
  });
});
