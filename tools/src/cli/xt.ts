/**
 * xt — xenotype's command line. Each command lives in commands/<name>.ts and registers itself here.
 * Usage errors print one line and exit 2; a failed run prints one line and exits 1.
 */
import { Command, CommanderError } from 'commander';
import * as demo from './commands/demo';
import * as bench from './commands/bench';
import * as host from './commands/host';
import * as compare from './commands/compare';
import * as run from './commands/run';
import * as sweep from './commands/sweep';
import * as report from './commands/report';
import * as worker from './commands/worker';
import * as list from './commands/list';
import * as consoleCmd from './commands/console';
import * as control from './commands/control';

const COMMANDS: { register(p: Command): void }[] = [demo, bench, host, compare, run, sweep, report, worker, list, consoleCmd, control];

const program = new Command();
program
  .name('xt')
  .description('xenotype: the Xen hypervisor architecture in deterministic simulation, or on KVM with real guests')
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(s.split('\n').filter(Boolean)[0] + '\n') })
  .showHelpAfterError(false);
for (const c of COMMANDS) c.register(program);
for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`xt: ${(e as Error)?.message ?? e}\n`);
    process.exitCode = 1;
  }
}
