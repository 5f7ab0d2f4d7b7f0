/**
 * @xenotype/kv — an example split device, written the way a user writes one: a protocol module
 * (kvif: ring entries, codes, the request check), a backend serving a Map in a driver domain or
 * dom0, and a frontend for guests, all over @xenotype/ring and @xenotype/xenbus. Front and back
 * never import each other. docs/write-a-device.md walks through it.
 */
export * from './protocol';
export { KvBackend, kvBackendFactory, type KvBackendOptions, type KvStats } from './backend';
export { KvFront, type KvFrontOptions, type KvGetResult, type Bytes } from './frontend';
