/**
 * @xenotype/ring — Xen's shared-memory rings, pure and sans-IO: io/ring.h request/response rings
 * (front and back halves, the event-index notification rule, producer-index sanity checks) and the
 * byte-stream rings of the console and xenstore pages. Imports only types from @xenotype/core.
 */
export * from './layout';
export * from './ring';
export * from './stream';
export { LocalBytes } from './bytes';
