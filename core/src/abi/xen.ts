/**
 * Constants of Xen's public ABI (xen/include/public, 4.17, x86_64), as numbers. Names follow the C
 * headers so that a reader can grep both.
 */
import { domid } from './types';

export const XEN_VERSION = { major: 4, minor: 17 } as const;
export const XEN_EXTRAVERSION = '-xenotype';

/** __HYPERVISOR_* (xen.h). */
export const HYPERVISOR = {
  set_trap_table: 0,
  mmu_update: 1,
  memory_op: 12,
  multicall: 13,
  update_va_mapping: 14,
  set_timer_op: 15,
  xen_version: 17,
  console_io: 18,
  grant_table_op: 20,
  vm_assist: 21,
  vcpu_op: 24,
  mmuext_op: 26,
  sched_op: 29,
  callback_op: 30,
  event_channel_op: 32,
  physdev_op: 33,
  hvm_op: 34,
  sysctl: 35,
  domctl: 36,
} as const;
export const HYPERCALL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(HYPERVISOR).map(([k, v]) => [v, k]),
);

/** Xen errno values (errno.h). Hypercalls return their negation. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ETIME: 62,
  EOVERFLOW: 75,
  ERESTART: 85,
  EOPNOTSUPP: 95,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
} as const;
export type ErrnoName = keyof typeof Errno;
export const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Errno).map(([k, v]) => [v, k]));
export const errnoName = (rc: number): string => (rc < 0 ? (ERRNO_NAMES[-rc] ?? `E${-rc}`) : String(rc));

/** Reserved domain ids (xen.h). */
export const DOMID_FIRST_RESERVED = domid(0x7ff0);
export const DOMID_SELF = domid(0x7ff0);
export const DOMID_IO = domid(0x7ff1);
export const DOMID_XEN = domid(0x7ff2);
export const DOMID_COW = domid(0x7ff3);
export const DOMID_INVALID = domid(0x7ff4);
export const DOMID_IDLE = domid(0x7fff);

/** VIRQ_* (xen.h). V = per-vCPU, G = global (bound on vCPU 0 only). */
export const VIRQ = {
  TIMER: 0,
  DEBUG: 1,
  CONSOLE: 2,
  DOM_EXC: 3,
  TBUF: 4,
  DEBUGGER: 6,
  XENOPROF: 7,
  CON_RING: 8,
  PCPU_STATE: 9,
  MEM_EVENT: 10,
  ARGO: 11,
  ENOMEM: 12,
  XENPMU: 13,
} as const;
export const NR_VIRQS = 24;
/** Per-vCPU VIRQs; all others are global (virq_is_global in event_channel.c). */
export const VIRQ_PER_VCPU: ReadonlySet<number> = new Set([VIRQ.TIMER, VIRQ.DEBUG, VIRQ.XENOPROF, VIRQ.XENPMU]);

/** EVTCHNOP_* (event_channel.h). */
export const EVTCHNOP = {
  bind_interdomain: 0,
  bind_virq: 1,
  bind_pirq: 2,
  close: 3,
  send: 4,
  status: 5,
  alloc_unbound: 6,
  bind_ipi: 7,
  bind_vcpu: 8,
  unmask: 9,
  reset: 10,
  init_control: 11,
  expand_array: 12,
  set_priority: 13,
} as const;
export const EVTCHNSTAT = { closed: 0, unbound: 1, interdomain: 2, pirq: 3, virq: 4, ipi: 5 } as const;
/** 2-level ABI on x86_64: 64 words of 64 bits. */
export const EVTCHN_2L_NR_CHANNELS = 64 * 64;

/** GNTTABOP_* and GNTST_* (grant_table.h). */
export const GNTTABOP = {
  map_grant_ref: 0,
  unmap_grant_ref: 1,
  setup_table: 2,
  dump_table: 3,
  transfer: 4,
  copy: 5,
  query_size: 6,
  unmap_and_replace: 7,
  set_version: 8,
  get_status_frames: 9,
  get_version: 10,
  swap_grant_ref: 11,
  cache_flush: 12,
} as const;
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
} as const;
export const GTF = {
  invalid: 0,
  permit_access: 1,
  accept_transfer: 2,
  transfer_committed: 1 << 2,
  transfer_completed: 1 << 3,
  type_mask: 3,
  readonly: 1 << 2,
  reading: 1 << 3,
  writing: 1 << 4,
  sub_page: 1 << 8,
} as const;
export const GNTMAP = { device_map: 1, host_map: 2, readonly: 4, application_map: 8, contains_pte: 16 } as const;
export const GNTCOPY = { source_gref: 1, dest_gref: 2 } as const;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;
export const GRANT_ENTRIES_PER_FRAME_V1 = 4096 / 8;

/** XENMEM_* (memory.h). */
export const XENMEM = {
  increase_reservation: 0,
  decrease_reservation: 1,
  maximum_ram_page: 2,
  current_reservation: 3,
  maximum_reservation: 4,
  populate_physmap: 6,
  add_to_physmap: 7,
  remove_from_physmap: 15,
  add_to_physmap_batch: 23,
} as const;
export const XENMAPSPACE = { shared_info: 0, grant_table: 1, gmfn: 2, gmfn_range: 3, gmfn_foreign: 4, dev_mmio: 5 } as const;
/** XENMAPIDX_grant_table_status (bit 31 of idx for grant_table space). */
export const XENMAPIDX_grant_table_status = 0x80000000;

/** SCHEDOP_* and SHUTDOWN_* (sched.h). */
export const SCHEDOP = {
  yield: 0,
  block: 1,
  shutdown: 2,
  poll: 3,
  remote_shutdown: 4,
  shutdown_code: 5,
  watchdog: 6,
  pin_override: 7,
} as const;
export const SHUTDOWN = { poweroff: 0, reboot: 1, suspend: 2, crash: 3, watchdog: 4, soft_reset: 5 } as const;
export const SHUTDOWN_NAMES = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const;

/** VCPUOP_* (vcpu.h). */
export const VCPUOP = {
  initialise: 0,
  up: 1,
  down: 2,
  is_up: 3,
  get_runstate_info: 4,
  register_runstate_memory_area: 5,
  set_periodic_timer: 6,
  stop_periodic_timer: 7,
  set_singleshot_timer: 8,
  stop_singleshot_timer: 9,
  register_vcpu_info: 10,
  send_nmi: 11,
  get_physid: 12,
  register_vcpu_time_memory_area: 13,
} as const;
export const VCPU_SSHOTTMR_future = 1;
export const RUNSTATE = { running: 0, runnable: 1, blocked: 2, offline: 3 } as const;
export type Runstate = 0 | 1 | 2 | 3;
export const RUNSTATE_NAMES = ['running', 'runnable', 'blocked', 'offline'] as const;
/** Bit 63 of state_entry_time: set while the hypervisor updates a guest's runstate area. */
export const XEN_RUNSTATE_UPDATE_HI = 0x80000000;

/** XENVER_* (version.h). */
export const XENVER = { version: 0, extraversion: 1, compile_info: 2, capabilities: 3, changeset: 4, platform_parameters: 5, get_features: 6, pagesize: 7, guest_handle: 8, commandline: 9, build_id: 10 } as const;

/** CONSOLEIO_* (xen.h). */
export const CONSOLEIO = { write: 0, read: 1 } as const;

/** XEN_DOMCTL_CDF_* (domctl.h): createdomain flags. `hvm`: the domain's vCPUs run real code. */
export const XEN_DOMCTL_CDF = { hvm: 1 << 0, hap: 1 << 1 } as const;

/** HVMOP_* (hvm/hvm_op.h) that are provided. */
export const HVMOP = { set_evtchn_upcall_vector: 23 } as const;

/** domctl (domctl.h); the interface version a caller must present. */
export const XEN_DOMCTL_INTERFACE_VERSION = 0x15;
export const DOMCTL = {
  createdomain: 1,
  destroydomain: 2,
  pausedomain: 3,
  unpausedomain: 4,
  getdomaininfo: 5,
  setvcpuaffinity: 9,
  max_mem: 11,
  setvcpucontext: 12,
  getvcpucontext: 13,
  getvcpuinfo: 14,
  max_vcpus: 15,
  scheduler_op: 16,
  setdomainhandle: 17,
  getvcpuaffinity: 25,
} as const;
export const XEN_DOMINF = {
  dying: 1 << 0,
  hvm_guest: 1 << 1,
  shutdown: 1 << 2,
  paused: 1 << 3,
  blocked: 1 << 4,
  running: 1 << 5,
  debugged: 1 << 6,
  xs_domain: 1 << 7,
  hap: 1 << 8,
  shutdownshift: 16,
  shutdownmask: 255,
} as const;
export const XEN_VCPUAFFINITY = { hard: 1 << 0, soft: 1 << 1, force: 1 << 2 } as const;
export const XEN_DOMCTL_SCHEDOP = { putinfo: 0, getinfo: 1, putvcpuinfo: 2, getvcpuinfo: 3 } as const;

/** Scheduler ids: Xen 2.0's for the historical policies, 4.17's (domctl.h) for the rest. */
export const XEN_SCHEDULER = {
  BVT: 0,
  FBVT: 1,
  ATROPOS: 2,
  RROBIN: 3,
  SEDF: 4,
  CREDIT: 5,
  CREDIT2: 6,
  ARINC653: 7,
  RTDS: 8,
  NULL: 9,
} as const;

/** sysctl (sysctl.h). */
export const XEN_SYSCTL_INTERFACE_VERSION = 0x15;
export const SYSCTL = {
  physinfo: 3,
  getdomaininfolist: 6,
  debug_keys: 7,
  cpupool_op: 18,
  scheduler_op: 19,
} as const;
export const XEN_SYSCTL_CPUPOOL_OP = { CREATE: 1, DESTROY: 2, INFO: 3, ADDCPU: 4, RMCPU: 5, MOVEDOMAIN: 6, FREEINFO: 7 } as const;
export const XEN_SYSCTL_CPUPOOL_PAR_ANY = 0xffffffff;
export const XEN_SYSCTL_SCHEDOP = { putinfo: 0, getinfo: 1 } as const;

/** start_info flags (xen.h). */
export const SIF = { privileged: 1 << 0, initdomain: 1 << 1, multiboot_mod: 1 << 2, mod_start_pfn: 1 << 3, virt_p2m_4tools: 1 << 4 } as const;
export const MAX_GUEST_CMDLINE = 1024;
export const XEN_LEGACY_MAX_VCPUS = 32;

/** vcpu_time_info.flags */
export const XEN_PVCLOCK_TSC_STABLE_BIT = 1 << 0;

/** MAX_VIRT_CPUS and limits core applies. */
export const MAX_VCPUS_PER_DOMAIN = 128;
