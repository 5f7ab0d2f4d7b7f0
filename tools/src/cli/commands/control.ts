/**
 * Commands that act on a live host (`xt host`) through its control socket, as xl acts on a running
 * Xen: list, create, pause, unpause, destroy, vcpu-list, vcpu-pin, sched, sched-pool, the xl-style
 * sched-credit / sched-credit2 / sched-rtds / sched-bvt, and cpupool-*. The host is found with
 * --host PATH or $XENOTYPE_HOST (`xt host` prints it).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { controlRequest } from '../../control/client';
import { intArg } from '../args';

const hostOpt = (c: Command) => c.option('--host <path>', 'control socket of a live host (default: $XENOTYPE_HOST)').option('--json', 'print the result as JSON');

function hostPath(o: { host?: string }): string {
  const p = o.host ?? process.env.XENOTYPE_HOST;
  if (!p) throw new Error('no live host: start one with `xt host` and set XENOTYPE_HOST, or pass --host');
  return p;
}

/** "0,2-3" → [0,2,3]; "all" → every pCPU (resolved by the host as the empty list meaning all). */
function cpuList(v: string): number[] {
  if (v === 'all') return [];
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new InvalidArgumentError('must be a CPU list such as 0,2-3 or all');
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return out;
}

function paramPairs(pairs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(-?\d+)$/.exec(p);
    if (!m) throw new InvalidArgumentError(`"${p}" must be name=integer`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(w[i])).join('  ').trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

function show(o: { json?: boolean }, result: unknown): void {
  if (result === null && !o.json) return; // done; nothing to report
  if (o.json || result === null || typeof result !== 'object') {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  if (Array.isArray(result)) process.stdout.write(table(result as Record<string, unknown>[]) + '\n');
  else if ('params' in (result as object)) {
    const r = result as { scheduler: string; params: Record<string, number> };
    process.stdout.write(`${r.scheduler}: ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  } else if ('text' in (result as object)) process.stdout.write((result as { text: string }).text);
  else process.stdout.write(Object.entries(result as object).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
}

async function call(o: { host?: string; json?: boolean }, op: string, args: Record<string, unknown>): Promise<void> {
  show(o, await controlRequest(hostPath(o), op, args));
}

const domid = intArg(0, 0x7fef);

export function register(program: Command): void {
  hostOpt(program.command('list').description('list the domains of a live host')).action((o) => call(o, 'list', {}));

  hostOpt(program.command('create <name>').description('build and start a domain on a live host'))
    .requiredOption('--kernel <name>', 'guest kernel (see xt list-kernels or the registry)')
    .option('--memory <MiB>', 'memory', intArg(1, 1 << 20), 16)
    .option('--vcpus <n>', 'vCPUs', intArg(1, 128), 1)
    .option('--cmdline <s>', 'kernel command line', '')
    .option('--pool <id>', 'cpupool', intArg(0, 1 << 30), 0)
    .action((name: string, o) => call(o, 'create', { name, kernel: o.kernel, memoryMiB: o.memory, vcpus: o.vcpus, cmdline: o.cmdline, pool: o.pool }));

  for (const op of ['pause', 'unpause', 'destroy'] as const)
    hostOpt(program.command(`${op} <domid>`).description(`${op} a domain of a live host`)).action((d: string, o) => call(o, op, { domid: domid(d) }));

  hostOpt(program.command('vcpu-list <domid>').description('vCPUs of a domain: pCPU, state, CPU time, affinities')).action((d: string, o) =>
    call(o, 'vcpu-list', { domid: domid(d) }),
  );
  hostOpt(program.command('vcpu-pin <domid> <vcpu> <hard> [soft]').description('set a vCPU’s hard (and soft) affinity; CPU lists like 0,2-3 or all')).action(
    (d: string, v: string, hard: string, soft: string | undefined, o) =>
      call(o, 'vcpu-pin', { domid: domid(d), vcpu: intArg(0, 127)(v), hard: hard === '-' ? undefined : cpuList(hard), soft: soft === undefined ? undefined : cpuList(soft) }),
  );

  hostOpt(program.command('sched <domid> [params...]').description('get or set a domain’s scheduler parameters (name=value), whatever its pool runs')).action(
    (d: string, params: string[], o) => call(o, 'sched', { domid: domid(d), params: paramPairs(params) }),
  );
  hostOpt(program.command('sched-pool <pool> [params...]').description('get or set a cpupool’s scheduler parameters (name=value)')).action((p: string, params: string[], o) =>
    call(o, 'sched-pool', { pool: intArg(0, 1 << 30)(p), params: paramPairs(params) }),
  );

  // xl's per-policy commands: -d DOM for a domain, -s for the pool (-p POOL, default 0).
  const xlStyle = (name: string, policy: string, dom: [string, string, string][], pool: [string, string, string][]) => {
    const c = hostOpt(program.command(name).description(`xl ${name}: get or set ${policy} parameters of a domain (-d) or of a pool (-s)`))
      .option('-d, --domain <domid>', 'domain', domid)
      .option('-s, --schedparam', 'pool-wide parameters')
      .option('-p, --cpupool <pool>', 'cpupool for -s', intArg(0, 1 << 30), 0);
    for (const [flag, param, doc] of [...dom, ...pool]) c.option(`${flag} <n>`, `${doc} (${param})`, intArg(-(2 ** 31), 2 ** 53));
    c.action((o: Record<string, unknown> & { host?: string; json?: boolean; domain?: number; schedparam?: boolean; cpupool: number }) => {
      const pick = (list: [string, string, string][]) => {
        const out: Record<string, number> = {};
        for (const [flag, param] of list) {
          const key = flag.replace(/^.*--/, '').replace(/-([a-z])/g, (_, x: string) => x.toUpperCase());
          if (o[key] !== undefined) out[param] = o[key] as number;
        }
        return out;
      };
      if (o.schedparam) return call(o, 'sched-pool', { pool: o.cpupool, params: pick(pool), expect: policy });
      if (o.domain === undefined) throw new Error(`give -d DOMID (a domain) or -s (the pool's parameters)`);
      return call(o, 'sched', { domid: o.domain, params: pick(dom), expect: policy });
    });
  };
  xlStyle('sched-credit', 'credit', [['-w, --weight', 'weight', 'weight'], ['-c, --cap', 'cap', 'cap in %']], [['-t, --tslice-ms', 'tslice_ms', 'time slice ms'], ['-r, --ratelimit-us', 'ratelimit_us', 'rate limit µs'], ['-m, --migration-delay-us', 'vcpu_migr_delay_us', 'migration delay µs']]);
  xlStyle('sched-credit2', 'credit2', [['-w, --weight', 'weight', 'weight'], ['-c, --cap', 'cap', 'cap in %']], [['-r, --ratelimit-us', 'ratelimit_us', 'rate limit µs']]);
  xlStyle('sched-rtds', 'rtds', [['-P, --period', 'period', 'period µs (all vCPUs)'], ['-b, --budget', 'budget', 'budget µs (all vCPUs)'], ['-e, --extratime', 'flags', 'extratime 0|1']], []);
  xlStyle('sched-bvt', 'bvt', [['-m, --mcuadv', 'mcu_adv', 'MCU advance (10/weight)'], ['-w, --warpback', 'warpback', 'warp 0|1'], ['-v, --warpvalue', 'warpvalue', 'warp value'], ['-l, --warpl', 'warpl', 'warp limit ms'], ['-u, --warpu', 'warpu', 'unwarp requirement ms']], [['-a, --ctx-allow', 'ctx_allow', 'context-switch allowance ns']]);

  hostOpt(program.command('cpupool-list').description('cpupools of a live host')).action((o) => call(o, 'cpupool-list', {}));
  hostOpt(program.command('cpupool-create').description('create a cpupool').requiredOption('--scheduler <name>', 'its policy')).action((o) =>
    call(o, 'cpupool-create', { scheduler: o.scheduler }),
  );
  hostOpt(program.command('cpupool-destroy <pool>').description('destroy an empty cpupool')).action((p: string, o) => call(o, 'cpupool-destroy', { pool: intArg(0, 1 << 30)(p) }));
  for (const [op, doc] of [['cpupool-cpu-add', 'move a free pCPU into a pool'], ['cpupool-cpu-remove', 'take a pCPU out of a pool']] as const)
    hostOpt(program.command(`${op} <pool> <cpu>`).description(`${doc} (cpu: a number or any)`)).action((p: string, c: string, o) =>
      call(o, op, { pool: intArg(0, 1 << 30)(p), cpu: c === 'any' ? -1 : intArg(0, 4095)(c) }),
    );
  hostOpt(program.command('cpupool-migrate <domid> <pool>').description('move a running domain to another pool (swaps its scheduler)')).action((d: string, p: string, o) =>
    call(o, 'cpupool-migrate', { domid: domid(d), pool: intArg(0, 1 << 30)(p) }),
  );
}
