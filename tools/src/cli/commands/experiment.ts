/**
 * Shared by the experiment commands (run, sweep, report, worker, list-*): bad input — a scenario
 * that does not validate, an unknown parameter, a trace extension we do not know — is a usage
 * error (one line, exit 2); anything else that goes wrong while running is a failure (exit 1).
 */
import type { Command } from 'commander';
import { PluginError } from '@xenotype/core';
import { ScenarioError } from '../../scenario/load';
import { ParamError } from '../../toolstack/sched';
import { TraceFormatError } from '../../trace/open';
import { RedisUrlError } from '../../sweep/redis-url';

/** Bad input (exit 2). ReportInputError is matched by name so that vega loads only when reporting. */
export function isUsageError(e: unknown): boolean {
  return e instanceof ScenarioError || e instanceof ParamError || e instanceof TraceFormatError || e instanceof RedisUrlError || e instanceof PluginError || (e as Error)?.name === 'ReportInputError';
}

/** Run an action; bad input becomes commander's one-line error with exit code 2. */
export async function guard(cmd: Command, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (isUsageError(e)) cmd.error(`error: ${(e as Error).message}`, { exitCode: 2, code: 'xt.badInput' });
    throw e;
  }
}

/** Repeatable option: collect every value. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Progress and notes go to stderr; results to stdout. */
export const log = (line: string) => void process.stderr.write(line + '\n');
