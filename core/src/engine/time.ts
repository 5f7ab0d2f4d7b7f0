/**
 * Virtual time is an integer count of nanoseconds (a JS number: exact up to 2^53 ns, ~104 days).
 * Every duration in core is an `Ns`; these helpers are the only way literals enter the code.
 */
export type Ns = number;

export const ns = (n: number): Ns => Math.round(n);
export const us = (n: number): Ns => Math.round(n * 1_000);
export const ms = (n: number): Ns => Math.round(n * 1_000_000);
export const sec = (n: number): Ns => Math.round(n * 1_000_000_000);

/** Format a duration for humans (logs and tables), never for traces. */
export function fmtNs(t: Ns): string {
  const a = Math.abs(t);
  if (a >= 1e9) return `${(t / 1e9).toFixed(3)} s`;
  if (a >= 1e6) return `${(t / 1e6).toFixed(3)} ms`;
  if (a >= 1e3) return `${(t / 1e3).toFixed(1)} µs`;
  return `${t} ns`;
}
