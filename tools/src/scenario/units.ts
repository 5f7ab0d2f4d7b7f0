/**
 * Units in scenario files: durations (integer ns, or a number with ns/us/µs/ms/s) and sizes
 * (integer bytes, or a number with B/KiB/MiB/GiB). Parsers return null for input they do not
 * accept, so callers can say what was expected where.
 */

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)\s*$/;
const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)\s*$/;
const NS_PER: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
const BYTES_PER: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A duration in integer ns, or null. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = DURATION.exec(v);
  if (!m) return null;
  const n = Math.round(Number(m[1]) * NS_PER[m[2]]);
  return Number.isSafeInteger(n) ? n : null;
}

/** A size in integer bytes, or null. */
export function parseBytes(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = SIZE.exec(v);
  if (!m) return null;
  const n = Math.round(Number(m[1]) * BYTES_PER[m[2]]);
  return Number.isSafeInteger(n) ? n : null;
}

/** ns per unit of a scheduler parameter's unit ('ns', 'µs'/'us', 'ms', 's'), or null if not a time unit. */
export function timeUnitNs(unit: string | undefined): number | null {
  if (unit === undefined) return null;
  return NS_PER[unit] ?? null;
}

/** A compact duration for labels: 5ms, 250us, 1.5s. */
export function formatDuration(ns: number): string {
  if (ns !== 0 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns >= 1e9) return `${+(ns / 1e9).toFixed(3)}s`;
  if (ns !== 0 && ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns >= 1e6) return `${+(ns / 1e6).toFixed(3)}ms`;
  if (ns !== 0 && ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}
