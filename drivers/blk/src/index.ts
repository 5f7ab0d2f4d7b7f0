/**
 * @xenotype/blk — Xen's virtual block device as a split driver: the blkif protocol (io/blkif.h
 * layouts, codecs, the request check), the `BlockDevice` capability a backend exports, the disk
 * model and VBD scheduler of a driver domain, blkback and blkfront. Front and back never import
 * each other; both are built over @xenotype/xenbus's DriverCaps.
 */
export * from './protocol';
export * from './device';
export * from './disk';
export { Blkback, VbdBackend, DEFAULT_BLKBACK_COSTS, type BlkbackCosts, type BlkbackOptions, type OpenBlockDevice, type VbdConfig, type VbdStats } from './backend';
export { BlkFrontend, type BlkInfo, type BlkResult, type BlkfrontStats } from './frontend';
