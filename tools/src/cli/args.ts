/** Option parsers that turn bad input into commander's one-line "invalid argument" errors. */
import { InvalidArgumentError } from 'commander';

export function intArg(min = -Infinity, max = Infinity) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError('must be an integer');
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** A duration: a number with a unit (ns, us, ms, s), e.g. "20s" or "500ms"; bare numbers are ns. */
export function durationArg(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('must be a duration such as 500ms or 20s');
  const mult = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 }[(m[2] ?? 'ns') as 'ns'];
  const n = Math.round(Number(m[1]) * mult);
  if (n <= 0) throw new InvalidArgumentError('must be positive');
  return n;
}
