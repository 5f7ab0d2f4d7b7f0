/** @xenotype/tools — dom0 userspace and host tools. */
export { Host, Job, JobFailed, type Dom0, type HostSpec, type JobBody } from './host/host';
export { defaultRegistry, SCHEDULERS } from './host/registry';
export { Xc, type DomainInfo, type VcpuInfo, type CreateDomainArgs } from './xc/xc';
export { buildDomain, type DomainSpec, type BuiltDomain } from './toolstack/builder';
export * from './metrics';
export { JsonlTraceWriter } from './trace/jsonl';
export { setDomainSchedParams, getDomainSchedParams, setPoolSchedParams, getPoolSchedParams, ParamError } from './toolstack/sched';
