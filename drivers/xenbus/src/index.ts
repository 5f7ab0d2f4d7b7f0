/**
 * @xenotype/xenbus — what every split driver shares: the capabilities drivers are built over, the
 * XenbusState machine, the xenstore directory conventions of devices, the handshake steps of
 * frontends and backends, and the toolstack's device creation with libxl's permissions.
 */
export * from './caps';
export * from './state';
export * from './paths';
export * from './xs';
export * from './connect';
export * from './restart';
export * from './toolstack';
