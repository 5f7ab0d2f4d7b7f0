/** @xenotype/xenstore — the xenstore protocol (xs_wire), the daemon as a pure server, the ring page. */
export * from './wire';
export * from './errors';
export * from './paths';
export * from './perms';
export * from './store';
export * from './server';
export * from './ring';
export * from './transport';
export * from './client';
