export { MiniOS, type App, type StartInfo } from './minios';
export { Signal, Thread, WAIT, YIELD, type ThreadBody, type ThreadOp } from './threads';
export { XenError, check, Scratch } from './hypercalls';
export { GrantError, NR_RESERVED_ENTRIES, type GrantMapping, type CopyEnd } from './gnttab';
export * from './workloads';
export { XenstoreClient } from './xenstore';
export { MiniOSCaps, asThread } from './caps';
export { PvConsole } from './console';
