/**
 * xenstored as dom0 userspace, end to end: guests talk to it over their real store rings (grant
 * entry 1 mapped by dom0, the store event channel bound interdomain), the toolstack in dom0 over
 * its in-process connection; work is charged to dom0's vCPU.
 */
import { describe, expect, it } from 'vitest';
import { ms, type TraceRecord } from '@xenotype/core';
import { MiniOS, type App, type ThreadOp } from '@xenotype/minios';
import { XenstoreError } from '@xenotype/xenbus';
import { Host } from '../tools/src/host/host';
import { defaultRegistry } from '../tools/src/host/registry';
import { createDomain, releaseDomain } from '../tools/src/toolstack/xenstore';
import { Xenstored } from '../tools/src/xenstored/service';

function hostWith(apps: Record<string, App>) {
  const reg = defaultRegistry();
  for (const [name, app] of Object.entries(apps)) reg.registerKernel(name, () => new MiniOS(app, name));
  const xsd = new Xenstored();
  const host = new Host({ cpus: 2, memoryMiB: 256, scheduler: 'rr', seed: 5, services: [xsd] }, reg);
  const log: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => (r.type === 'console' || r.type === 'crash') && log.push(r));
  const lines = (dom?: number) =>
    log.filter((r) => dom === undefined || (r as { dom: number }).dom === dom).map((r) => (r.type === 'console' ? (r as { text: string }).text.trim() : `CRASH ${(r as { why: string }).why}`));
  const create = (name: string, kernel: string, domid?: number, cmdline?: string) =>
    host.run(`create ${name}`, function* ({ xc, os }) {
      return (yield* createDomain(xc, xsd.client(os), { name, domid, memoryMiB: 8, vcpus: 1, kernel, cmdline })).domid;
    });
  return { host, xsd, lines, create };
}

function* attempt<T>(os: MiniOS, what: string, body: Generator<ThreadOp, T, void>): Generator<ThreadOp, void, void> {
  try {
    const v = yield* body;
    os.printk(`${what}: ok${v === undefined ? '' : ' ' + JSON.stringify(v)}`);
  } catch (e) {
    os.printk(`${what}: ${e instanceof XenstoreError ? e.code : String(e)}`);
  }
}

describe('xenstored in dom0, guests over their store rings', () => {
  it('a guest reads its directory, writes its data, watches, and uses transactions', () => {
    const { host, xsd, lines, create } = hostWith({
      g: function* (os) {
        const xs = os.xs;
        os.printk(`name=${yield* xs.read('name')} domid=${yield* xs.read(`/local/domain/${os.domid}/domid`)}`);
        yield* xs.write('data/x', 'hello');
        os.printk(`data/x=${yield* xs.read('data/x')}`);
        yield* xs.watch('data', 'tok');
        const ev = yield* xs.nextWatch(0);
        os.printk(`initial event ${ev!.path} ${ev!.token}`);
        const tx = yield* xs.transactionStart();
        yield* xs.write('data/y', 'in-tx', tx);
        os.printk(`outside sees ${yield* xs.read('data/y')}`);
        os.printk(`commit ${yield* xs.transactionEnd(tx, true)}`);
        const ev2 = yield* xs.nextWatch(ev!.gen, os.now() + ms(5));
        os.printk(`event ${ev2?.path}`);
        os.printk(`dir ${(yield* xs.directory('data')).join(',')}`);
        yield* attempt(os, 'write name', xs.write('name', 'evil'));
        // a value larger than the 1024-byte ring goes through in pieces (within the node-size quota)
        const big = 'z'.repeat(1900);
        yield* xs.write('data/big', big);
        os.printk(`big ok ${(yield* xs.read('data/big')) === big}`);
        yield* attempt(os, 'too big', xs.write('data/big', 'z'.repeat(3000)));
      },
    });
    const id = create('guest1', 'g');
    const cpu0 = host.run('cpu', function* ({ xc }) { return xc.domainGetInfo(0)!.cpuTime; });
    host.runFor(ms(20));
    const cpu1 = host.run('cpu', function* ({ xc }) { return xc.domainGetInfo(0)!.cpuTime; });
    expect(lines(id)).toEqual([
      `name=guest1 domid=${id}`,
      'data/x=hello',
      'initial event data tok',
      'outside sees null',
      'commit true',
      'event data/y',
      'dir x,y',
      'write name: EACCES',
      'big ok true',
      'too big: ENOSPC',
    ]);
    expect(xsd.server.check()).toEqual([]);
    expect(xsd.stats.requests).toBeGreaterThan(12);
    // the daemon's work is dom0's CPU time
    expect(cpu1 - cpu0).toBeGreaterThan(xsd.stats.requests * xsd.costs.requestNs);
  });

  it('an unprivileged guest cannot read, write or watch another guest’s nodes, end to end', () => {
    const { host, lines, create } = hostWith({
      victim: function* (os) {
        yield* os.xs.write('data/secret', 's3cret');
        yield* os.sleep(ms(10));
        yield* os.xs.write('data/secret', 'changed');
        os.printk('victim wrote twice');
      },
      attacker: function* (os) {
        yield* os.sleep(ms(5));
        const other = `/local/domain/${os.intArg('victim', 0)}`;
        yield* attempt(os, 'read', os.xs.read(`${other}/data/secret`));
        yield* attempt(os, 'read missing', os.xs.read(`${other}/data/nope`));
        yield* attempt(os, 'read name', os.xs.read(`${other}/name`));
        yield* attempt(os, 'write', os.xs.write(`${other}/data/secret`, 'x'));
        yield* attempt(os, 'write new', os.xs.write(`${other}/data/new`, 'x'));
        yield* attempt(os, 'mkdir', os.xs.mkdir(`${other}/data/dir`));
        yield* attempt(os, 'rm', os.xs.rm(`${other}/data/secret`));
        yield* attempt(os, 'dir', os.xs.directory(`${other}/data`));
        yield* attempt(os, 'getperms', os.xs.getPerms(`${other}/data/secret`));
        yield* attempt(os, 'setperms', os.xs.setPerms(`${other}/data/secret`, [{ perm: 'b', domid: os.domid }]));
        yield* attempt(os, 'watch', os.xs.watch(`${other}/data`, 'spy'));
        yield* os.sleep(ms(10)); // the victim writes meanwhile
        os.printk(`spy events: ${os.xs.watchGeneration}`);
        yield* attempt(os, 'read own', os.xs.read('name'));
      },
    });
    const v = create('victim', 'victim', 20);
    const a = create('attacker', 'attacker', 21, `victim=${v}`);
    host.runFor(ms(30));
    expect(lines(v)).toEqual(['victim wrote twice']);
    expect(lines(a)).toEqual([
      'read: EACCES',
      'read missing: EACCES',
      'read name: EACCES',
      'write: EACCES',
      'write new: EACCES',
      'mkdir: EACCES',
      'rm: EACCES',
      'dir: EACCES',
      'getperms: EACCES',
      'setperms: EACCES',
      'watch: ok',
      'spy events: 1', // the initial event only
      'read own: ok "attacker"',
    ]);
  });

  it('dom0 tools and guests see each other’s writes; several guest threads share one ring', () => {
    const { host, xsd, lines, create } = hostWith({
      g: function* (os) {
        yield* os.xs.watch('control/shutdown', 'sd');
        const kids = [1, 2, 3].map((k) =>
          os.spawn(`t${k}`, (function* () {
            for (let i = 0; i < 5; i++) yield* os.xs.write(`data/t${k}`, `${i}`);
          })()),
        );
        for (const k of kids) yield* os.join(k);
        os.printk(`threads done: ${(yield* os.xs.directory('data')).sort().join(',')}`);
        let seen = 0;
        for (;;) {
          const ev = yield* os.xs.nextWatch(seen);
          seen = ev!.gen;
          const v = yield* os.xs.read('control/shutdown');
          if (v) {
            os.printk(`shutdown requested: ${v}`);
            return;
          }
        }
      },
    });
    const id = create('g', 'g');
    host.runFor(ms(5));
    const got = host.run('tools', function* ({ os }) {
      const xs = xsd.client(os);
      const d = yield* xs.read(`/local/domain/${id}/data/t2`);
      yield* xs.write(`/local/domain/${id}/control/shutdown`, 'poweroff');
      return d;
    });
    host.runFor(ms(5));
    expect(got).toBe('4');
    expect(lines(id)).toEqual(['threads done: t1,t2,t3', 'shutdown requested: poweroff']);
  });

  it('destroying a domain removes its nodes and fires @releaseDomain to dom0 watchers', () => {
    const { host, xsd, create } = hostWith({});
    const id = create('g', 'minios-idle');
    const evs = host.run('watch+destroy', function* ({ xc, os }) {
      const xs = xsd.client(os);
      yield* xs.watch('@releaseDomain', 'r');
      yield* xs.write(`/owned-by-guest`, 'x');
      yield* xs.setPerms(`/owned-by-guest`, [{ perm: 'n', domid: id }]);
      const first = yield* xs.nextWatch(0);
      yield* releaseDomain(xs, xc, id);
      const ev = yield* xs.nextWatch(first!.gen, os.now() + ms(10));
      return [first!.path, ev?.path, yield* xs.read('/owned-by-guest'), yield* xs.read(`/local/domain/${id}/name`)];
    });
    expect(evs).toEqual(['@releaseDomain', '@releaseDomain', null, null]);
    expect(xsd.server.domains.has(id)).toBe(false);
    expect(xsd.rings.size).toBe(0);
    expect(xsd.server.check()).toEqual([]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('a guest that corrupts its ring indexes is ignored; others carry on', () => {
    const { host, xsd, lines, create } = hostWith({
      bad: function* (os) {
        const ring = os.si.storeGfn * 4096;
        os.cpu.mem.setU32(ring + 2052, 999_999); // req_prod far beyond req_cons
        os.evtchn.notify(os.si.storeEvtchn);
        yield* os.sleep(ms(1));
        os.printk(`error field ${os.cpu.mem.getU32(ring + 2072)}`);
      },
      good: function* (os) {
        yield* os.sleep(ms(2));
        yield* os.xs.write('data/x', '1');
        os.printk('good wrote');
      },
    });
    const b = create('bad', 'bad');
    const g = create('good', 'good');
    host.runFor(ms(10));
    expect(lines(b)).toEqual(['error field 2']);
    expect(lines(g)).toEqual(['good wrote']);
    expect(xsd.server.domainConnection(b)!.ignored).toBe(true);
  });
});
