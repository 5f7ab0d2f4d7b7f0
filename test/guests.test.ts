import { describe, expect, it } from 'vitest';
import { GTF, SHUTDOWN, ms, us, type TraceRecord } from '@xenotype/core';
import { MiniOS, type App } from '@xenotype/minios';
import { Host } from '../tools/src/host/host';
import { defaultRegistry } from '../tools/src/host/registry';
import { buildDomain } from '../tools/src/toolstack/builder';

function hostWith(apps: Record<string, App>, cpus = 2) {
  const reg = defaultRegistry();
  for (const [name, app] of Object.entries(apps)) reg.registerKernel(name, () => new MiniOS(app, name));
  const host = new Host({ cpus, memoryMiB: 256, scheduler: 'rr', seed: 5 }, reg);
  const log: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => (r.type === 'console' || r.type === 'crash' || r.type === 'shutdown') && log.push(r));
  return { host, log, console: () => log.filter((r) => r.type === 'console').map((r) => (r as { text: string }).text) };
}

describe('MiniOS guests on a host', () => {
  it('threads sleep on the guest clock and wake exactly on time when the pCPU is free', () => {
    const { host, console } = hostWith({
      sleepers: function* (os) {
        const t0 = os.now();
        const mk = (name: string, d: number) =>
          os.spawn(name, (function* () {
            yield* os.sleep(d);
            os.printk(`${name} woke +${os.now() - t0}`);
          })());
        const a = mk('a', ms(3));
        const b = mk('b', ms(1));
        yield* os.join(a);
        yield* os.join(b);
        os.printk(`both done`);
        os.shutdown();
      },
    });
    host.run('b', function* ({ xc }) {
      return buildDomain(xc, { name: 's', memoryMiB: 8, vcpus: 1, kernel: 'sleepers' }).domid;
    });
    host.runFor(ms(10));
    const lines = console();
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['b', 'a', 'both']);
    // Each wake is late only by the modelled costs: softirq, switch and pending hypercall costs.
    const late = lines.slice(0, 2).map((l) => Number(l.split('+')[1]));
    expect(late[0] - ms(1)).toBeGreaterThan(0);
    expect(late[0] - ms(1)).toBeLessThan(us(20));
    expect(late[1] - ms(3)).toBeGreaterThan(0);
    expect(late[1] - ms(3)).toBeLessThan(us(20));
  });

  it('two guests share a page by grant: B maps A’s page and reads what A wrote; A sees the in-use flags', () => {
    const { host, console } = hostWith({
      granter: function* (os) {
        const peer = os.intArg('peer', -1);
        const page = os.pages.alloc();
        os.cpu.mem.setBytes(page * 4096, new TextEncoder().encode('grant me'));
        const ref = os.gnttab.grantAccess(peer, page);
        os.printk(`granted ref ${ref}`);
        yield* os.sleep(ms(2));
        os.printk(`in use: ${(os.gnttab.entryFlags(ref) & (GTF.reading | GTF.writing)) !== 0}, end: ${os.gnttab.endAccess(ref)}`);
        yield* os.sleep(ms(4));
        os.printk(`now: ${new TextDecoder().decode(os.cpu.mem.getBytes(page * 4096, 8))}, end: ${os.gnttab.endAccess(ref)}`);
      },
      mapper: function* (os) {
        yield* os.sleep(ms(1));
        const m = os.gnttab.map(os.intArg('peer', -1), 8);
        os.printk(`read: ${new TextDecoder().decode(os.cpu.mem.getBytes(m.addr, 8))}`);
        os.cpu.mem.setBytes(m.addr, new TextEncoder().encode('written!'));
        yield* os.sleep(ms(3));
        os.gnttab.unmap(m);
        os.printk('unmapped');
      },
    });
    host.run('b', function* ({ xc }) {
      buildDomain(xc, { name: 'a', domid: 10, memoryMiB: 8, vcpus: 1, kernel: 'granter', cmdline: 'peer=11' });
      buildDomain(xc, { name: 'b', domid: 11, memoryMiB: 8, vcpus: 1, kernel: 'mapper', cmdline: 'peer=10' });
      return 0;
    });
    host.runFor(ms(10));
    expect(console()).toEqual(['granted ref 8', 'read: grant me', 'in use: true, end: false', 'unmapped', 'now: written!, end: true']);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('ballooning gives pages back to Xen and takes them again, within the reservation', () => {
    const { host, console } = hostWith({
      balloon: function* (os) {
        const out = os.pages.balloonOut(100);
        os.printk(`out ${out}`);
        yield* os.sleep(ms(1));
        const back = os.pages.balloonIn(60);
        os.printk(`in ${back}`);
        yield* os.sleep(ms(1));
      },
    });
    const id = host.run('b', function* ({ xc }) {
      return buildDomain(xc, { name: 'bal', memoryMiB: 8, vcpus: 1, kernel: 'balloon' }).domid;
    });
    const free0 = host.hv.mem.freeFrames;
    host.runFor(ms(0.5));
    const mid = host.run('i', function* ({ xc }) { return xc.domainGetInfo(id)!.totPages; });
    host.runFor(ms(3));
    const end = host.run('i', function* ({ xc }) { return xc.domainGetInfo(id)!.totPages; });
    expect(console()).toEqual(['out 100', 'in 60']);
    expect(mid).toBe(2048 - 100);
    expect(end).toBe(2048 - 40);
    expect(host.hv.mem.freeFrames).toBe(free0 + 40);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a guest that throws, faults or runs away is crashed alone; the others keep running', () => {
    const { host, log } = hostWith({
      thrower: function* (os) {
        yield* os.sleep(ms(1));
        throw new Error('guest bug');
      },
      faulter: function* (os) {
        yield* os.sleep(ms(1));
        os.cpu.mem.getU32(0x7000_0000); // not in its physmap
      },
      spinner: function* (os) {
        yield* os.sleep(ms(1));
        for (;;) os.cpu.hypercall(17, 0); // xen_version forever, never yielding
      },
    });
    const ids = host.run('b', function* ({ xc }) {
      return ['thrower', 'faulter', 'spinner', 'minios-cpuhog'].map((k) => buildDomain(xc, { name: k, memoryMiB: 8, vcpus: 1, kernel: k }).domid);
    });
    host.runFor(ms(50)); // round robin's 10 ms slice: each waits for the hog's slice to end
    const infos = host.run('i', function* ({ xc }) { return ids.map((id) => xc.domainGetInfo(id)!); });
    const crashes = log.filter((r) => r.type === 'crash') as Extract<TraceRecord, { type: 'crash' }>[];
    expect(crashes.map((c) => c.dom).sort()).toEqual(ids.slice(0, 3));
    crashes.sort((x, y) => x.dom - y.dom);
    expect(crashes[0].why).toMatch(/guest bug/);
    expect(crashes[1].why).toMatch(/GuestFault/);
    expect(crashes[2].why).toMatch(/runaway/);
    for (const i of infos.slice(0, 3)) {
      expect(i.shutdown).toBe(true);
      expect(i.shutdownCode).toBe(SHUTDOWN.crash);
    }
    expect(infos[3].shutdown).toBe(false);
    expect(infos[3].cpuTime).toBeGreaterThan(ms(20));
    expect(host.hv.checkInvariants()).toEqual([]);
    // the toolstack can destroy a crashed domain and get its memory back
    const free = host.hv.mem.freeFrames;
    host.run('d', function* ({ xc }) { xc.domainDestroy(ids[0]); return 0; });
    expect(host.hv.mem.freeFrames).toBe(free + 2048 + 2); // RAM + shared_info + grant frame
  });

  it('SMP guests: MiniOS brings up secondary vCPUs itself and runs a thread on each', () => {
    const { host } = hostWith({}, 2);
    const id = host.run('b', function* ({ xc }) {
      return buildDomain(xc, { name: 'smp', memoryMiB: 8, vcpus: 2, kernel: 'minios-cpuhog', cmdline: 'threads=2' }).domid;
    });
    host.runFor(ms(50));
    const v = host.run('i', function* ({ xc }) { return [xc.getVcpuInfo(id, 0), xc.getVcpuInfo(id, 1)]; });
    expect(v[0].online && v[1].online).toBe(true);
    // both vCPUs compute on their own pCPU (dom0 shares one of them briefly)
    expect(v[0].cpuTime).toBeGreaterThan(ms(40));
    expect(v[1].cpuTime).toBeGreaterThan(ms(40));
  });
});
