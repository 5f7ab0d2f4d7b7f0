/**
 * Xen's public structs on x86_64, as layouts (see layout.ts). Every offset here is checked against
 * Debian's libxen-dev headers by test/conformance. Arrays and unions appear as their first element
 * or as explicit members; callers index into them with the element sizes given beside them.
 */
import { struct, u8, i8, u16, i16, u32, i32, u64 } from './layout';

// ---- shared_info, vcpu_info, time (xen.h) ----

export const vcpu_time_info = struct('struct vcpu_time_info', 32, {
  version: u32(0),
  tsc_timestamp: u64(8),
  system_time: u64(16),
  tsc_to_system_mul: u32(24),
  tsc_shift: i8(28),
  flags: u8(29),
});

export const vcpu_info = struct('struct vcpu_info', 64, {
  evtchn_upcall_pending: u8(0),
  evtchn_upcall_mask: u8(1),
  evtchn_pending_sel: u64(8),
  arch_cr2: u64(16, 'arch.cr2'),
  time: u32(32), // offset of struct vcpu_time_info (first member: version)
});
export const VCPU_INFO_TIME_OFFSET = 32;

export const shared_info = struct('struct shared_info', 3136, {
  vcpu_info: u8(0), // struct vcpu_info[32], 64 bytes each
  evtchn_pending: u64(2048), // xen_ulong_t[64]
  evtchn_mask: u64(2560), // xen_ulong_t[64]
  wc_version: u32(3072),
  wc_sec: u32(3076),
  wc_nsec: u32(3080),
  wc_sec_hi: u32(3084),
  max_pfn: u64(3088, 'arch.max_pfn'),
  pfn_to_mfn_frame_list_list: u64(3096, 'arch.pfn_to_mfn_frame_list_list'),
  nmi_reason: u64(3104, 'arch.nmi_reason'),
  p2m_cr3: u64(3112, 'arch.p2m_cr3'),
  p2m_vaddr: u64(3120, 'arch.p2m_vaddr'),
  p2m_generation: u64(3128, 'arch.p2m_generation'),
});
export const SHINFO_EVTCHN_PENDING = 2048;
export const SHINFO_EVTCHN_MASK = 2560;
export const VCPU_INFO_SIZE = 64;

export const start_info = struct('struct start_info', 1168, {
  magic: u8(0), // char[32]
  nr_pages: u64(32),
  shared_info: u64(40),
  flags: u32(48),
  store_mfn: u64(56),
  store_evtchn: u32(64),
  console_mfn: u64(72, 'console.domU.mfn'),
  console_evtchn: u32(80, 'console.domU.evtchn'),
  pt_base: u64(88),
  nr_pt_frames: u64(96),
  mfn_list: u64(104),
  mod_start: u64(112),
  mod_len: u64(120),
  cmd_line: u8(128), // char[1024]
  first_p2m_pfn: u64(1152),
  nr_p2m_frames: u64(1160),
});
export const START_INFO_MAGIC_LEN = 32;
export const START_INFO_CMDLINE = 128;

// ---- grant tables (grant_table.h) ----

export const grant_entry_v1 = struct('struct grant_entry_v1', 8, {
  flags: u16(0),
  domid: u16(2),
  frame: u32(4),
});

export const gnttab_map_grant_ref = struct('struct gnttab_map_grant_ref', 32, {
  host_addr: u64(0),
  flags: u32(8),
  ref: u32(12),
  dom: u16(16),
  status: i16(18),
  handle: u32(20),
  dev_bus_addr: u64(24),
});

export const gnttab_unmap_grant_ref = struct('struct gnttab_unmap_grant_ref', 24, {
  host_addr: u64(0),
  dev_bus_addr: u64(8),
  handle: u32(16),
  status: i16(20),
});

export const gnttab_setup_table = struct('struct gnttab_setup_table', 24, {
  dom: u16(0),
  nr_frames: u32(4),
  status: i16(8),
  frame_list: u64(16),
});

export const gnttab_query_size = struct('struct gnttab_query_size', 16, {
  dom: u16(0),
  nr_frames: u32(4),
  max_nr_frames: u32(8),
  status: i16(12),
});

export const gnttab_copy = struct('struct gnttab_copy', 40, {
  source_ref: u32(0, 'source.u.ref'),
  source_gmfn: u64(0, 'source.u.gmfn'),
  source_domid: u16(8, 'source.domid'),
  source_offset: u16(10, 'source.offset'),
  dest_ref: u32(16, 'dest.u.ref'),
  dest_gmfn: u64(16, 'dest.u.gmfn'),
  dest_domid: u16(24, 'dest.domid'),
  dest_offset: u16(26, 'dest.offset'),
  len: u16(32),
  flags: u16(34),
  status: i16(36),
});

// ---- event channels (event_channel.h) ----

export const evtchn_alloc_unbound = struct('struct evtchn_alloc_unbound', 8, {
  dom: u16(0),
  remote_dom: u16(2),
  port: u32(4),
});
export const evtchn_bind_interdomain = struct('struct evtchn_bind_interdomain', 12, {
  remote_dom: u16(0),
  remote_port: u32(4),
  local_port: u32(8),
});
export const evtchn_bind_virq = struct('struct evtchn_bind_virq', 12, { virq: u32(0), vcpu: u32(4), port: u32(8) });
export const evtchn_bind_pirq = struct('struct evtchn_bind_pirq', 12, { pirq: u32(0), flags: u32(4), port: u32(8) });
export const evtchn_bind_ipi = struct('struct evtchn_bind_ipi', 8, { vcpu: u32(0), port: u32(4) });
export const evtchn_close = struct('struct evtchn_close', 4, { port: u32(0) });
export const evtchn_send = struct('struct evtchn_send', 4, { port: u32(0) });
export const evtchn_status = struct('struct evtchn_status', 24, {
  dom: u16(0),
  port: u32(4),
  status: u32(8),
  vcpu: u32(12),
  unbound_dom: u16(16, 'u.unbound.dom'),
  interdomain_dom: u16(16, 'u.interdomain.dom'),
  interdomain_port: u32(20, 'u.interdomain.port'),
  pirq: u32(16, 'u.pirq'),
  virq: u32(16, 'u.virq'),
});
export const evtchn_bind_vcpu = struct('struct evtchn_bind_vcpu', 8, { port: u32(0), vcpu: u32(4) });
export const evtchn_unmask = struct('struct evtchn_unmask', 4, { port: u32(0) });
export const evtchn_reset = struct('struct evtchn_reset', 2, { dom: u16(0) });

// ---- memory (memory.h) ----

export const xen_memory_reservation = struct('struct xen_memory_reservation', 32, {
  extent_start: u64(0),
  nr_extents: u64(8),
  extent_order: u32(16),
  mem_flags: u32(20),
  domid: u16(24),
});
export const xen_add_to_physmap = struct('struct xen_add_to_physmap', 24, {
  domid: u16(0),
  size: u16(2),
  space: u32(4),
  idx: u64(8),
  gpfn: u64(16),
});
export const xen_add_to_physmap_batch = struct('struct xen_add_to_physmap_batch', 32, {
  domid: u16(0),
  space: u16(2),
  size: u16(4),
  foreign_domid: u16(6, 'u.foreign_domid'),
  idxs: u64(8),
  gpfns: u64(16),
  errs: u64(24),
});
export const xen_remove_from_physmap = struct('struct xen_remove_from_physmap', 16, { domid: u16(0), gpfn: u64(8) });

// ---- scheduling and vCPUs (sched.h, vcpu.h) ----

export const sched_shutdown = struct('struct sched_shutdown', 4, { reason: u32(0) });
export const sched_poll = struct('struct sched_poll', 24, { ports: u64(0), nr_ports: u32(8), timeout: u64(16) });
export const sched_remote_shutdown = struct('struct sched_remote_shutdown', 8, { domain_id: u16(0), reason: u32(4) });

export const vcpu_runstate_info = struct('struct vcpu_runstate_info', 48, {
  state: i32(0),
  state_entry_time: u64(8),
  time_running: u64(16, 'time[0]'),
  time_runnable: u64(24, 'time[1]'),
  time_blocked: u64(32, 'time[2]'),
  time_offline: u64(40, 'time[3]'),
});
export const vcpu_set_singleshot_timer = struct('struct vcpu_set_singleshot_timer', 16, {
  timeout_abs_ns: u64(0),
  flags: u32(8),
});
export const vcpu_set_periodic_timer = struct('struct vcpu_set_periodic_timer', 8, { period_ns: u64(0) });
export const vcpu_register_runstate_memory_area = struct('struct vcpu_register_runstate_memory_area', 8, {
  addr: u64(0, 'addr.p'),
});
export const vcpu_register_vcpu_info = struct('struct vcpu_register_vcpu_info', 16, {
  mfn: u64(0),
  offset: u32(8),
});

/** The registers of x86_64 `struct cpu_user_regs` that a simulated vCPU starts from. */
export const cpu_user_regs = struct('struct cpu_user_regs', 200, {
  rax: u64(80),
  rsi: u64(104),
  rdi: u64(112),
  rip: u64(128),
  rflags: u64(144),
  rsp: u64(152),
});
/** x86_64 `struct vcpu_guest_context`; only the members a domain builder sets are named. */
export const vcpu_guest_context = struct('struct vcpu_guest_context', 5168, {
  flags: u64(512),
  rax: u64(520 + 80, 'user_regs.rax'),
  rsi: u64(520 + 104, 'user_regs.rsi'),
  rdi: u64(520 + 112, 'user_regs.rdi'),
  rip: u64(520 + 128, 'user_regs.rip'),
  rflags: u64(520 + 144, 'user_regs.rflags'),
  rsp: u64(520 + 152, 'user_regs.rsp'),
  ctrlreg3: u64(4984 + 24, 'ctrlreg[3]'),
  event_callback_eip: u64(5112),
});
export const VGCF_online = 1 << 5;

export const multicall_entry = struct('struct multicall_entry', 64, {
  op: u64(0),
  result: u64(8),
  arg0: u64(16, 'args[0]'),
  arg1: u64(24, 'args[1]'),
  arg2: u64(32, 'args[2]'),
  arg3: u64(40, 'args[3]'),
  arg4: u64(48, 'args[4]'),
  arg5: u64(56, 'args[5]'),
});

// ---- domctl (domctl.h) ----

export const xen_domctl = struct('struct xen_domctl', 144, {
  cmd: u32(0),
  interface_version: u32(4),
  domain: u16(8),
  u: u8(16),
});
export const DOMCTL_U = 16;

export const xen_domctl_createdomain = struct('struct xen_domctl_createdomain', 64, {
  ssidref: u32(0),
  handle: u8(4), // xen_domain_handle_t (16 bytes)
  flags: u32(20),
  iommu_opts: u32(24),
  max_vcpus: u32(28),
  max_evtchn_port: u32(32),
  max_grant_frames: i32(36),
  max_maptrack_frames: i32(40),
  grant_opts: u32(44),
  vmtrace_size: u32(48),
  cpupool_id: u32(52),
  arch_emulation_flags: u32(56, 'arch.emulation_flags'),
});

export const xen_domctl_getdomaininfo = struct('struct xen_domctl_getdomaininfo', 112, {
  domain: u16(0),
  flags: u32(4),
  tot_pages: u64(8),
  max_pages: u64(16),
  outstanding_pages: u64(24),
  shr_pages: u64(32),
  paged_pages: u64(40),
  shared_info_frame: u64(48),
  cpu_time: u64(56),
  nr_online_vcpus: u32(64),
  max_vcpu_id: u32(68),
  ssidref: u32(72),
  handle: u8(76),
  cpupool: u32(92),
  gpaddr_bits: u8(96),
});

export const xen_domctl_max_mem = struct('struct xen_domctl_max_mem', 8, { max_memkb: u64(0) });
export const xen_domctl_max_vcpus = struct('struct xen_domctl_max_vcpus', 4, { max: u32(0) });
export const xen_domctl_getvcpuinfo = struct('struct xen_domctl_getvcpuinfo', 24, {
  vcpu: u32(0),
  online: u8(4),
  blocked: u8(5),
  running: u8(6),
  cpu_time: u64(8),
  cpu: u32(16),
});
export const xenctl_bitmap = struct('struct xenctl_bitmap', 16, { bitmap: u64(0), nr_bits: u32(8) });
export const xen_domctl_vcpuaffinity = struct('struct xen_domctl_vcpuaffinity', 40, {
  vcpu: u32(0),
  flags: u32(4),
  hard_bitmap: u64(8, 'cpumap_hard.bitmap'),
  hard_nr_bits: u32(16, 'cpumap_hard.nr_bits'),
  soft_bitmap: u64(24, 'cpumap_soft.bitmap'),
  soft_nr_bits: u32(32, 'cpumap_soft.nr_bits'),
});
export const xen_domctl_vcpucontext = struct('struct xen_domctl_vcpucontext', 16, { vcpu: u32(0), ctxt: u64(8) });
export const xen_domctl_scheduler_op = struct('struct xen_domctl_scheduler_op', 24, {
  sched_id: u32(0),
  cmd: u32(4),
  u: u8(8),
});
export const DOMCTL_SCHEDOP_U = 8;

// ---- sysctl (sysctl.h) ----

export const xen_sysctl = struct('struct xen_sysctl', 136, { cmd: u32(0), interface_version: u32(4), u: u8(8) });
export const SYSCTL_U = 8;
export const xen_sysctl_scheduler_op = struct('struct xen_sysctl_scheduler_op', 32, {
  cpupool_id: u32(0),
  sched_id: u32(4),
  cmd: u32(8),
  u: u8(16),
});
export const SYSCTL_SCHEDOP_U = 16;
export const xen_sysctl_cpupool_op = struct('struct xen_sysctl_cpupool_op', 40, {
  op: u32(0),
  cpupool_id: u32(4),
  sched_id: u32(8),
  domid: u32(12),
  cpu: u32(16),
  n_dom: u32(20),
  cpumap_bitmap: u64(24, 'cpumap.bitmap'),
  cpumap_nr_bits: u32(32, 'cpumap.nr_bits'),
});
export const xen_sysctl_physinfo = struct('struct xen_sysctl_physinfo', 112, {
  threads_per_core: u32(0),
  cores_per_socket: u32(4),
  nr_cpus: u32(8),
  max_cpu_id: u32(12),
  nr_nodes: u32(16),
  max_node_id: u32(20),
  cpu_khz: u32(24),
  capabilities: u32(28),
  total_pages: u64(40),
  free_pages: u64(48),
  scrub_pages: u64(56),
  outstanding_pages: u64(64),
  max_mfn: u64(72),
});
export const xen_sysctl_getdomaininfolist = struct('struct xen_sysctl_getdomaininfolist', 24, {
  first_domain: u16(0),
  max_domains: u32(4),
  buffer: u64(8),
  num_domains: u32(16),
});
export const xen_sysctl_debug_keys = struct('struct xen_sysctl_debug_keys', 16, { keys: u64(0), nr_keys: u32(8) });
