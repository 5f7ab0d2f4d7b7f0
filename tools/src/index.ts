/** @xenotype/tools — dom0 userspace and host tools. */
export { Host, Job, JobFailed, type Dom0, type Dom0Service, type HostSpec, type JobBody } from './host/host';
export { defaultRegistry, SCHEDULERS } from './host/registry';
export { Xc, type DomainInfo, type VcpuInfo, type CreateDomainArgs } from './xc/xc';
export { buildDomain, type DomainSpec, type BuiltDomain } from './toolstack/builder';
export * from './metrics';
export { JsonlTraceWriter } from './trace/jsonl';
export { setDomainSchedParams, getDomainSchedParams, setPoolSchedParams, getPoolSchedParams, ParamError } from './toolstack/sched';
export { compareSchedulers, formatCompare, compareJson, defaultSchedulerNames, WEIGHTINGS, type CompareReport, type CompareRow, type CompareOptions } from './demo/compare';
export { Xenstored, LocalXenstore, XENSTORED_SOCKET_PIRQ, DEFAULT_XENSTORED_COSTS, type XenstoredCosts, type XenstoredOptions } from './xenstored/service';
export { XenstoreSocketServer } from './xenstored/unix-socket';
export { createDomain, introduceDomain, releaseDomain } from './toolstack/xenstore';
export { LiveHost, defaultSocketPath, type LiveHostOptions, type LiveGuest } from './host/live';
export { RealtimePacer, type PacerClock, type PacerOptions } from './host/realtime';
