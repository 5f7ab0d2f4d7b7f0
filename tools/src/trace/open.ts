/**
 * Open a trace file whose format is chosen by its extension, for any command that runs scenarios:
 *   .json                  Chrome/Perfetto trace-event JSON (perfetto.ts): every run one process
 *   .xentrace .trc .bin    xentrace binary records (xentrace.ts), which Xen's xenalyze reads: one
 *                          file per run, since a file holds one host's pCPUs and TSC
 *   .jsonl                 JSON lines of the trace records (jsonl.ts), each tagged with its run
 *
 * A sink is attached to each run's trace bus in turn (`attach(bus, run)`), then closed once.
 * xentrace: a run attached without a name writes FILE itself; with a name, FILE with the name
 * before the extension (trace.xentrace → trace.rr.xentrace, trace.bvt.xentrace).
 */
import { basename, dirname, extname, join } from 'node:path';
import type { TraceBus } from '@xenotype/core';
import { JsonlTraceWriter } from './jsonl';
import { PerfettoTraceWriter } from './perfetto';
import { XentraceWriter, type XentraceOptions } from './xentrace';

export type TraceFormat = 'perfetto' | 'xentrace' | 'jsonl';

export const TRACE_EXTENSIONS: Readonly<Record<string, TraceFormat>> = {
  '.json': 'perfetto',
  '.xentrace': 'xentrace',
  '.trc': 'xentrace',
  '.bin': 'xentrace',
  '.jsonl': 'jsonl',
};

export class TraceFormatError extends Error {}

/** The format for `path`, or a TraceFormatError naming the extensions we know. */
export function traceFormat(path: string): TraceFormat {
  const ext = extname(path).toLowerCase();
  const f = TRACE_EXTENSIONS[ext];
  if (!f) throw new TraceFormatError(`cannot tell the trace format of "${path}": use ${Object.keys(TRACE_EXTENSIONS).join(', ')}`);
  return f;
}

export interface TraceSink {
  readonly format: TraceFormat;
  /** Write the records of `bus` (the next run) from now on. */
  attach(bus: TraceBus, run?: string): void;
  /** Finish every file. */
  close(): void;
  /** Files written so far. */
  readonly files: string[];
  /** Records (or events) written so far. */
  readonly records: number;
}

export interface OpenTraceOptions {
  /** For xentrace: TSC frequency and pCPU count of the hosts (see XentraceOptions). */
  xentrace?: XentraceOptions;
}

/** `trace.xentrace` + `rr` → `trace.rr.xentrace`. */
export function runFile(path: string, run: string): string {
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}.${run}${ext}`);
}

export function openTrace(path: string, opts: OpenTraceOptions = {}): TraceSink {
  const format = traceFormat(path);
  if (format === 'jsonl') {
    const w = new JsonlTraceWriter(path);
    return {
      format,
      files: [path],
      attach: (bus, run) => void w.attach(bus, run),
      close: () => w.close(),
      get records() {
        return w.records;
      },
    };
  }
  if (format === 'perfetto') {
    const w = new PerfettoTraceWriter(path);
    return {
      format,
      files: [path],
      attach: (bus, run) => void w.attach(bus, run),
      close: () => w.close(),
      get records() {
        return w.records;
      },
    };
  }
  const writers: XentraceWriter[] = [];
  const files: string[] = [];
  return {
    format,
    files,
    attach(bus, run) {
      writers.at(-1)?.close();
      const file = run === undefined ? path : runFile(path, run);
      const w = new XentraceWriter(file, opts.xentrace);
      writers.push(w);
      files.push(file);
      w.attach(bus);
    },
    close() {
      writers.at(-1)?.close();
      if (writers.length === 0) {
        new XentraceWriter(path, opts.xentrace).close(); // an empty trace: CPU_CHANGE windows only
        files.push(path);
      }
    },
    get records() {
      return writers.reduce((a, w) => a + w.records, 0);
    },
  };
}
