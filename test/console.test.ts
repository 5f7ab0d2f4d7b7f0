/**
 * The PV console end to end: MiniOS guests write through their xencons_interface page, dom0's
 * console daemon (a dom0 service) maps it through grant entry 0, binds the console event channel,
 * collects the output and delivers input — all through hypercalls, in virtual time.
 */
import { describe, expect, it } from 'vitest';
import { BufferBytes, ms, type TraceRecord } from '@xenotype/core';
import { CONSOLE_OUT } from '@xenotype/console';
import { MiniOS, type App } from '@xenotype/minios';
import { Host } from '../tools/src/host/host';
import { defaultRegistry } from '../tools/src/host/registry';
import { buildDomain } from '../tools/src/toolstack/builder';
import { destroyDomain } from '../tools/src/toolstack/announce';
import { CONSOLE_DAEMON, ConsoleDaemon } from '../tools/src/console/daemon';

function hostWith(apps: Record<string, App>, cpus = 2) {
  const reg = defaultRegistry();
  for (const [name, app] of Object.entries(apps)) reg.registerKernel(name, () => new MiniOS(app, name));
  const daemon = new ConsoleDaemon();
  const host = new Host({ cpus, memoryMiB: 256, scheduler: 'rr', seed: 5, services: [daemon] }, reg);
  const trace: TraceRecord[] = [];
  host.hv.trace.subscribe((r) => (r.type === 'console' || r.type === 'crash') && trace.push(r));
  const build = (name: string, kernel: string, cmdline = '', domid?: number) =>
    host.run('build', function* ({ xc }) {
      return buildDomain(xc, { name, domid, memoryMiB: 8, vcpus: 1, kernel, cmdline }).domid;
    });
  return { host, daemon, trace, build };
}

/** 10 000 bytes of distinct lines, so any loss, duplication or reordering shows. */
const BIG = Array.from({ length: 250 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'abcdefghijklmnopqrstuvwxyz'.slice(i % 26)}\n`).join('').slice(0, 10_000);

describe('PV console', () => {
  it('a guest writes 10 KB through the 2 KB ring; it waits for the daemon, which collects every byte in order', () => {
    const { host, daemon, build } = hostWith({
      writer: function* (os) {
        let off = 0;
        for (let i = 1; off < BIG.length; i++) {
          const n = (i * 379) % 1500; // chunks of varied sizes, some larger than the ring
          yield* os.console!.write(BIG.slice(off, off + n));
          off += n;
          if (i % 7 === 0) yield* os.sleep(ms(0.1));
        }
        os.printk(`waited ${os.console!.frontend.waits} times`);
      },
    });
    expect(host.service(CONSOLE_DAEMON)).toBe(daemon);
    const id = build('writer', 'writer');
    host.runFor(ms(200));
    const log = daemon.log(id);
    expect(log.error).toBeNull();
    const text = log.text();
    expect(text.slice(0, BIG.length)).toBe(BIG);
    // the printk after the big write went to the ring as well
    const waited = /waited (\d+) times\n$/.exec(text);
    expect(waited).not.toBeNull();
    expect(Number(waited![1])).toBeGreaterThan(0); // flow control happened
    expect(daemon.domains).toEqual([id]);
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('console input reaches the guest, and its answers come back', () => {
    const { host, daemon, build } = hostWith({});
    const id = build('echo', 'minios-echo', 'lines=2');
    host.runFor(ms(5));
    expect(daemon.log(id).text()).toBe('line 1 of 2\nline 2 of 2\n');
    // input from the host enters dom0 as a job, like everything the operator does
    const long = 'x'.repeat(1500); // more than the 1 KB input ring: delivered in parts
    host.run('type', function* () {
      daemon.input(id, `hello\n${long}\nquit\n`);
      return 0;
    });
    host.runFor(ms(20));
    expect(daemon.log(id).text()).toBe(`line 1 of 2\nline 2 of 2\necho: hello\necho: ${long}\nbye\n`);
    const info = host.run('info', function* ({ xc }) {
      return xc.domainGetInfo(id)!;
    });
    expect(info.shutdown).toBe(true); // "quit" shut it down
  });

  it('printk goes to the PV console and still to the hypervisor console; several guests are served apart', () => {
    const chatty = (tag: string): App =>
      function* (os) {
        for (let i = 0; i < 3; i++) {
          os.printk(`${tag} ${i}`);
          yield* os.sleep(ms(1));
        }
      };
    const { host, daemon, trace, build } = hostWith({ a: chatty('alpha'), b: chatty('beta') });
    const a = build('a', 'a');
    const b = build('b', 'b');
    host.runFor(ms(10));
    expect(daemon.log(a).text()).toBe('alpha 0\nalpha 1\nalpha 2\n');
    expect(daemon.log(b).text()).toBe('beta 0\nbeta 1\nbeta 2\n');
    const hv = trace.filter((r) => r.type === 'console').map((r) => (r as { text: string }).text);
    expect(hv.filter((l) => l.startsWith('alpha')).length).toBe(3);
  });

  it('a guest that corrupts its ring indices faults its own console only', () => {
    const { host, daemon, trace, build } = hostWith({
      liar: function* (os) {
        os.printk('before');
        yield* os.sleep(ms(1));
        const page = os.si.consoleGfn * 4096;
        os.cpu.mem.setU32(page + CONSOLE_OUT.prod, os.cpu.mem.getU32(page + CONSOLE_OUT.cons) + 100_000);
        os.evtchn.notify(os.si.consoleEvtchn); // so the daemon looks
        yield* os.sleep(ms(1));
      },
      honest: function* (os) {
        for (let i = 0; i < 5; i++) {
          os.printk(`ok ${i}`);
          yield* os.sleep(ms(1));
        }
      },
    });
    const liar = build('liar', 'liar');
    const honest = build('honest', 'honest');
    host.runFor(ms(10));
    expect(daemon.log(liar).text()).toBe('before\n');
    expect(daemon.log(liar).error).toMatch(/in flight/);
    expect(daemon.log(honest).text()).toBe('ok 0\nok 1\nok 2\nok 3\nok 4\n');
    expect(trace.filter((r) => r.type === 'crash')).toEqual([]);
  });

  it('destroying a domain releases its console first, so its memory comes back at once', () => {
    const { host, daemon, build } = hostWith({});
    const id = build('echo', 'minios-echo', 'lines=1');
    host.runFor(ms(2));
    const free = host.hv.mem.freeFrames;
    host.run('destroy', function* ({ xc }) {
      destroyDomain(xc, id);
      return 0;
    });
    expect(daemon.log(id).closed).toBe(true);
    expect(daemon.log(id).text()).toBe('line 1 of 1\n');
    expect(daemon.domains).toEqual([]);
    expect(host.hv.mem.freeFrames).toBe(free + 2048 + 2); // RAM + shared_info + grant frame: no zombie
    expect(host.hv.checkInvariants()).toEqual([]);
  });

  it('the console page is the one io/console.h describes', () => {
    // the guest's view of its page after the daemon consumed everything: out_cons == out_prod
    let seen: number[] = [];
    const { host, build } = hostWith({
      peek: function* (os) {
        os.printk('0123456789');
        yield* os.sleep(ms(1));
        const p = new BufferBytes(os.cpu.mem.getBytes(os.si.consoleGfn * 4096, 4096));
        seen = [p.getU32(3072), p.getU32(3076), p.getU32(3080), p.getU32(3084)];
      },
    });
    build('peek', 'peek');
    host.runFor(ms(3));
    expect(seen).toEqual([0, 0, 11, 11]);
  });
});
