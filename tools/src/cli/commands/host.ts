/** xt host */
import type { Command } from 'commander';
import { LiveHost, defaultSocketPath, type LiveGuest } from '../../host/live';
import { durationArg, intArg } from '../args';
import { SCHEDULERS } from '../../host/registry';
import { InvalidArgumentError } from 'commander';

function guestArg(v: string, prev: LiveGuest[] = []): LiveGuest[] {
  // name[:kernel[:memMiB]]  e.g. web:minios-idle:16
  const [name, kernel = 'minios-idle', mem = '8'] = v.split(':');
  if (!/^[A-Za-z0-9_-]+$/.test(name) || !/^\d+$/.test(mem)) throw new InvalidArgumentError('must be name[:kernel[:memMiB]]');
  return [...prev, { name, kernel, memoryMiB: Number(mem) }];
}

export function register(program: Command): void {
  program
    .command('host')
    .description('run a live host paced to the wall clock: dom0 with xenstored, serving Xen’s xenstore tools on a Unix socket')
    .option('--socket <path>', 'xenstored socket (default: $XENSTORED_PATH, else $XENSTORED_RUNDIR/socket, else a temp dir)')
    .option('--control <path>', 'control socket for xt list/sched/cpupool-*/... (default: "control" beside the xenstored socket)')
    .option('--cpus <n>', 'physical CPUs', intArg(1, 64), 2)
    .option('--memory <MiB>', 'machine memory', intArg(64, 1 << 20), 512)
    .option('--scheduler <name>', `CPU scheduler (${SCHEDULERS.map((s) => s.optName).join(', ')}, ...)`, 'rr')
    .option('--guest <spec>', 'start a guest: name[:kernel[:memMiB]] (repeatable)', guestArg)
    .option('--duration <time>', 'stop after this much wall time (default: until SIGINT/SIGTERM)', durationArg)
    .option('--seed <n>', 'random seed', intArg(0, 2 ** 31 - 1), 1)
    .action(async (o: { socket?: string; control?: string; cpus: number; memory: number; scheduler: string; guest?: LiveGuest[]; duration?: number; seed: number }) => {
      const socket = o.socket ?? defaultSocketPath();
      const live = new LiveHost({
        socket,
        control: o.control,
        host: { cpus: o.cpus, memoryMiB: o.memory, scheduler: o.scheduler, seed: o.seed },
        guests: o.guest,
        log: (l) => process.stderr.write(`xenstored: ${l}\n`),
      });
      await live.start();
      for (const g of live.guests) process.stderr.write(`guest ${g.name}: domain ${g.domid}\n`);
      process.stdout.write(`xenstored socket: ${socket}\ncontrol socket: ${live.control.path}\nexport XENSTORED_PATH=${socket}\nexport XENOTYPE_HOST=${live.control.path}\n`);
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
        if (o.duration) setTimeout(done, o.duration / 1e6);
      });
      const st = live.xsd.stats;
      await live.stop();
      process.stderr.write(`xt host: stopped at ${(live.host.now / 1e9).toFixed(3)} s virtual; ${st.requests} xenstore requests served in ${st.wakeups} wake-ups; ${live.host.hv.engine.executed} engine events, ${live.pacer.pumps} pumps\n`);
    });
}
