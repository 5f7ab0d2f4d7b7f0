/**
 * Trace to a file as JSON lines, streamed (buffered writes, never the whole trace in memory).
 * Every record is one line of its fields in a fixed order, so equal runs give equal bytes.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { TraceBus, TraceRecord } from '@xenotype/core';

export class JsonlTraceWriter {
  private fd: number;
  private buf: string[] = [];
  private size = 0;
  private unsubscribe: (() => void) | null = null;
  records = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  /** Write every record of `bus`, each tagged with `run` when given. */
  attach(bus: TraceBus, run?: string): this {
    this.unsubscribe?.();
    this.unsubscribe = bus.subscribe((r) => this.write(r, run));
    return this;
  }

  write(r: TraceRecord, run?: string): void {
    const line = (run === undefined ? JSON.stringify(r) : JSON.stringify({ run, ...r })) + '\n';
    this.buf.push(line);
    this.size += line.length;
    this.records++;
    if (this.size > 1 << 16) this.flush();
  }

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.flush();
  }

  close(): void {
    this.detach();
    closeSync(this.fd);
  }
}
