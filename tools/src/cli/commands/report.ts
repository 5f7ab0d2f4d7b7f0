/** xt report DIR: a self-contained HTML report (tables and inline SVG plots) from DIR/results.json. */
import type { Command } from 'commander';
import { guard, log } from './experiment';

export function register(program: Command): void {
  program
    .command('report')
    .description('write a self-contained HTML report with plots from a results directory (xt sweep / xt run --out)')
    .argument('<dir>', 'directory holding results.json')
    .option('--out <file>', 'where to write the HTML (default: DIR/report.html)')
    .action(async function (this: Command, dir: string, o: { out?: string }) {
      await guard(this, async () => {
        const { readResults, writeReport } = await import('../../report/report'); // vega loads only here
        const res = readResults(dir);
        const file = await writeReport(dir, res, o.out);
        log(`report of ${res.runs.length} run(s) written to ${file}`);
        process.stdout.write(file + '\n');
      });
    });
}
