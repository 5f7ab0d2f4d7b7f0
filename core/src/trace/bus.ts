/**
 * The observation bus: trace records and lifecycle events for tools. It is never a channel between
 * domains. Emitting is free when nobody listens: producers test `bus.on` before building a record.
 */
import { EventEmitter } from 'eventemitter3';
import type { TraceRecord } from './records';

interface Events {
  record: [TraceRecord];
}

export class TraceBus {
  private ee = new EventEmitter<Events>();
  /** True when at least one subscriber listens; producers check it first. */
  on = false;

  subscribe(fn: (r: TraceRecord) => void): () => void {
    this.ee.on('record', fn);
    this.on = true;
    return () => {
      this.ee.off('record', fn);
      this.on = this.ee.listenerCount('record') > 0;
    };
  }

  emit(r: TraceRecord): void {
    this.ee.emit('record', r);
  }
}
