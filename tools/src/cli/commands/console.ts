/**
 * xt console — a guest's PV console, as dom0's console daemon collects it.
 *
 * There is no live host to attach to yet from here, so `xt console` boots one: a host with the
 * console daemon as a dom0 service and one guest built with the given kernel, runs it for a span
 * of virtual time, optionally types input into the guest's console right after boot, and prints
 * the guest's console output on stdout as it is collected (a summary goes to stderr).
 *
 *   xt console --kernel minios-echo --cmdline lines=3 --input 'hello\nquit\n' --for 1s
 */
import type { Command } from 'commander';
import { Host } from '../../host/host';
import { SCHEDULERS, defaultRegistry } from '../../host/registry';
import { buildDomain } from '../../toolstack/builder';
import { ConsoleDaemon } from '../../console/daemon';
import { durationArg, intArg } from '../args';

interface Opts {
  kernel?: string;
  cmdline: string;
  for: number;
  input?: string;
  memory: number;
  vcpus: number;
  cpus: number;
  scheduler: string;
  seed: number;
}

/** `\n`, `\r`, `\t` and `\\` in --input, so a shell argument can hold several lines. */
const unescape = (s: string): string => s.replace(/\\([nrt\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!);

export function register(program: Command): void {
  program
    .command('console')
    .description('boot a host with one guest and print its PV console output, as dom0’s console daemon collects it')
    .argument('[domid]', 'domain id to give the guest', intArg(1, 0x7fef), 1)
    .option('--kernel <name>', 'guest kernel to boot, e.g. minios-echo (required: attaching to a live `xt host` is not supported yet)')
    .option('--cmdline <text>', 'guest command line (key=value ...)', '')
    .option('--for <time>', 'virtual time to run (e.g. 500ms, 2s)', durationArg, 1e9)
    .option('--input <text>', 'console input typed after boot (\\n ends a line)')
    .option('--memory <MiB>', 'guest memory', intArg(1, 4096), 16)
    .option('--vcpus <n>', 'guest vCPUs', intArg(1, 32), 1)
    .option('--cpus <n>', 'physical CPUs', intArg(1, 64), 2)
    .option('--scheduler <name>', `CPU scheduler (${SCHEDULERS.map((s) => s.name).join(', ')})`, 'rr')
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), 1)
    .action((domid: number, o: Opts, cmd: Command) => {
      if (!o.kernel) cmd.error('xt console: no live host to attach to; give --kernel to boot a guest', { exitCode: 2 });
      const registry = defaultRegistry();
      if (!registry.kernel(o.kernel!)) cmd.error(`xt console: unknown kernel "${o.kernel}" (have: ${registry.list('kernel').join(', ')})`, { exitCode: 2 });
      if (!registry.list('scheduler').includes(o.scheduler)) cmd.error(`xt console: unknown scheduler "${o.scheduler}" (have: ${registry.list('scheduler').join(', ')})`, { exitCode: 2 });
      const daemon = new ConsoleDaemon({ onOutput: (d, b) => d === domid && process.stdout.write(b) });
      const host = new Host({ cpus: o.cpus, memoryMiB: 128 + o.memory * 2, scheduler: o.scheduler, seed: o.seed, services: [daemon] }, registry);
      host.run('create', function* ({ xc }) {
        return buildDomain(xc, { name: 'guest', domid, memoryMiB: o.memory, vcpus: o.vcpus, kernel: o.kernel!, cmdline: o.cmdline }).domid;
      });
      if (o.input !== undefined) {
        const text = unescape(o.input);
        host.run('input', function* () {
          return daemon.input(domid, text);
        });
      }
      host.runFor(o.for);
      const log = daemon.log(domid);
      const info = host.run('info', function* ({ xc }) {
        return xc.domainGetInfo(domid);
      });
      const state = !info ? 'gone' : info.shutdown ? `shut down (code ${info.shutdownCode})` : 'running';
      process.stderr.write(`xt console: domain ${domid} (${o.kernel}) after ${(host.now / 1e9).toFixed(3)} s of virtual time: ${log.length} bytes of console output; ${state}\n`);
      if (log.error) throw new Error(`console of domain ${domid}: ${log.error}`);
    });
}
