/**
 * The C side of the content conformance test: a program that reads memory images written by
 * xenotype (frames core maintains, hypercall argument structs the guest runtime and Xc lay out,
 * results core writes back) through Xen's own structs from /usr/include/xen, and prints every
 * field as `label.member=value`.
 *
 * It is written by hand against the headers' member names, not generated from our layouts, so a
 * wrong offset in core/src/abi/structs.ts shows up as a wrong value here.
 *
 * Usage: content (kind label file base count)...
 *   kind   which struct is at the start of the file (see main)
 *   base   the guest address the file's first byte had, so that guest handles in the struct can be
 *          followed into the rest of the file
 *   count  number of entries, for kinds that are arrays (multicall)
 */
import { PRELUDE } from './cc';

const BODY = String.raw`
static unsigned char *buf;
static size_t buflen;
static uint64_t base;
static const char *L;
static char kb[256];
#define K(...) (snprintf(kb, sizeof kb, __VA_ARGS__), kb)

static void U(const char *k, unsigned long long v) { printf("%s.%s=%llu\n", L, k, v); }
static void I(const char *k, long long v) { printf("%s.%s=%lld\n", L, k, v); }
static void S(const char *k, const char *s, size_t n) { printf("%s.%s=%.*s\n", L, k, (int)n, s); }

static void hex(const char *k, const unsigned char *p, size_t n) {
    printf("%s.%s=", L, k);
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

static size_t nonzero(const void *p, size_t n) {
    const unsigned char *b = p;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += b[i] != 0;
    return c;
}

static void load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    size_t cap = 0;
    free(buf);
    buf = NULL;
    buflen = 0;
    for (;;) {
        if (buflen == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf) { perror("realloc"); exit(2); }
        }
        size_t n = fread(buf + buflen, 1, cap - buflen, f);
        if (n == 0) break;
        buflen += n;
    }
    fclose(f);
}

/* The struct at the start of the file. */
static void get(void *dst, size_t size) {
    if (buflen < size) { fprintf(stderr, "%s: %zu bytes, need %zu\n", L, buflen, size); exit(3); }
    memcpy(dst, buf, size);
}
#define GET(T, v) T v; get(&v, sizeof v)

/* Guest memory a handle in the struct points at: it must lie inside the image. */
static const unsigned char *follow(uint64_t gaddr, size_t len) {
    if (gaddr < base || gaddr - base > buflen || len > buflen - (gaddr - base)) {
        fprintf(stderr, "%s: guest address %#llx (+%zu) outside the image\n", L, (unsigned long long)gaddr, len);
        exit(3);
    }
    return buf + (gaddr - base);
}
#define H(h) ((uint64_t)(uintptr_t)(h).p)

/* Bytes of the image after the first n (frames: nothing may follow the struct). */
static void trailing(size_t n) { U("trailing_nonzero_bytes", buflen > n ? nonzero(buf + n, buflen - n) : 0); }

/* ---------------------------------------------------------------- frames core maintains */

/* System time at a TSC value, by the formula in xen.h's comment on struct vcpu_time_info. */
static uint64_t pvclock_ns(uint64_t tsc, const struct vcpu_time_info *t) {
    uint64_t d = t->tsc_shift < 0 ? tsc >> -t->tsc_shift : tsc << t->tsc_shift;
    return (uint64_t)(((unsigned __int128)d * t->tsc_to_system_mul) >> 32);
}

static void vcpu_time(const char *p, const struct vcpu_time_info *t) {
    U(K("%s.version", p), t->version);
    U(K("%s.pad0", p), t->pad0);
    U(K("%s.tsc_timestamp", p), t->tsc_timestamp);
    U(K("%s.system_time", p), t->system_time);
    U(K("%s.tsc_to_system_mul", p), t->tsc_to_system_mul);
    I(K("%s.tsc_shift", p), t->tsc_shift);
    U(K("%s.flags", p), t->flags);
    U(K("%s.pad1", p), nonzero(t->pad1, sizeof t->pad1));
    if (t->tsc_to_system_mul) {
        /* What a guest derives: the TSC frequency, "((10^9 << 32) / tsc_to_system_mul) >> tsc_shift",
           and, the TSC having started with system time, system time back from tsc_timestamp. */
        uint64_t hz = (1000000000ULL << 32) / t->tsc_to_system_mul;
        hz = t->tsc_shift < 0 ? hz << -t->tsc_shift : hz >> t->tsc_shift;
        U(K("%s.tsc_hz", p), hz);
        I(K("%s.pvclock_error_ns", p), (long long)(pvclock_ns(t->tsc_timestamp, t) - t->system_time));
    }
}

static void shared_info(void) {
    GET(struct shared_info, s);
    for (int i = 0; i < XEN_LEGACY_MAX_VCPUS; i++) {
        const struct vcpu_info *v = &s.vcpu_info[i];
        char p[64];
        snprintf(p, sizeof p, "vcpu_info[%d]", i);
        U(K("%s.evtchn_upcall_pending", p), v->evtchn_upcall_pending);
        U(K("%s.evtchn_upcall_mask", p), v->evtchn_upcall_mask);
        U(K("%s.evtchn_pending_sel", p), v->evtchn_pending_sel);
        U(K("%s.arch.cr2", p), v->arch.cr2);
        U(K("%s.arch.pad", p), v->arch.pad);
        char tp[80];
        snprintf(tp, sizeof tp, "%s.time", p);
        vcpu_time(tp, &v->time);
    }
    for (size_t w = 0; w < sizeof s.evtchn_pending / sizeof s.evtchn_pending[0]; w++)
        if (s.evtchn_pending[w]) U(K("evtchn_pending[%zu]", w), s.evtchn_pending[w]);
    for (size_t w = 0; w < sizeof s.evtchn_mask / sizeof s.evtchn_mask[0]; w++)
        if (s.evtchn_mask[w]) U(K("evtchn_mask[%zu]", w), s.evtchn_mask[w]);
    U("wc_version", s.wc_version);
    U("wc_sec", s.wc_sec);
    U("wc_nsec", s.wc_nsec);
    U("wc_sec_hi", s.wc_sec_hi);
    U("wallclock_sec", ((uint64_t)s.wc_sec_hi << 32) | s.wc_sec);
    U("arch.max_pfn", s.arch.max_pfn);
    U("arch.pfn_to_mfn_frame_list_list", s.arch.pfn_to_mfn_frame_list_list);
    U("arch.nmi_reason", s.arch.nmi_reason);
    U("arch.p2m_cr3", s.arch.p2m_cr3);
    U("arch.p2m_vaddr", s.arch.p2m_vaddr);
    U("arch.p2m_generation", s.arch.p2m_generation);
    trailing(sizeof s);
}

static void start_info(void) {
    GET(struct start_info, s);
    size_t ml = strnlen(s.magic, sizeof s.magic);
    S("magic", s.magic, ml);
    U("magic_tail_nonzero_bytes", nonzero(s.magic + ml, sizeof s.magic - ml));
    U("nr_pages", s.nr_pages);
    U("shared_info", s.shared_info);
    U("flags", s.flags);
    U("store_mfn", s.store_mfn);
    U("store_evtchn", s.store_evtchn);
    if (s.flags & SIF_INITDOMAIN) {
        U("console.dom0.info_off", s.console.dom0.info_off);
        U("console.dom0.info_size", s.console.dom0.info_size);
        U("console.tail_nonzero_bytes", nonzero((const char *)&s.console + sizeof s.console.dom0, sizeof s.console - sizeof s.console.dom0));
    } else {
        U("console.domU.mfn", s.console.domU.mfn);
        U("console.domU.evtchn", s.console.domU.evtchn);
    }
    U("pt_base", s.pt_base);
    U("nr_pt_frames", s.nr_pt_frames);
    U("mfn_list", s.mfn_list);
    U("mod_start", s.mod_start);
    U("mod_len", s.mod_len);
    size_t cl = strnlen((const char *)s.cmd_line, sizeof s.cmd_line);
    S("cmd_line", (const char *)s.cmd_line, cl);
    U("cmd_line_unterminated", cl == sizeof s.cmd_line);
    U("cmd_line_tail_nonzero_bytes", nonzero((const char *)s.cmd_line + cl, sizeof s.cmd_line - cl));
    U("first_p2m_pfn", s.first_p2m_pfn);
    U("nr_p2m_frames", s.nr_p2m_frames);
    trailing(sizeof s);
}

static void grant_table(void) {
    GET(grant_entry_v1_t, first);
    (void)first;
    static grant_entry_v1_t g[4096 / sizeof(grant_entry_v1_t)];
    get(g, sizeof g);
    U("nr_entries", sizeof g / sizeof g[0]);
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (!g[i].flags && !g[i].domid && !g[i].frame) continue;
        U(K("entry[%zu].flags", i), g[i].flags);
        U(K("entry[%zu].domid", i), g[i].domid);
        U(K("entry[%zu].frame", i), g[i].frame);
    }
    trailing(sizeof g);
}

/* ---------------------------------------------------------------- event-channel ops */

static void evtchn_alloc_unbound(void) {
    GET(struct evtchn_alloc_unbound, s);
    U("dom", s.dom); U("remote_dom", s.remote_dom); U("port", s.port);
}
static void evtchn_bind_interdomain(void) {
    GET(struct evtchn_bind_interdomain, s);
    U("remote_dom", s.remote_dom); U("remote_port", s.remote_port); U("local_port", s.local_port);
}
static void evtchn_bind_virq(void) {
    GET(struct evtchn_bind_virq, s);
    U("virq", s.virq); U("vcpu", s.vcpu); U("port", s.port);
}
static void evtchn_bind_ipi(void) { GET(struct evtchn_bind_ipi, s); U("vcpu", s.vcpu); U("port", s.port); }
static void evtchn_send(void) { GET(struct evtchn_send, s); U("port", s.port); }
static void evtchn_close(void) { GET(struct evtchn_close, s); U("port", s.port); }
static void evtchn_unmask(void) { GET(struct evtchn_unmask, s); U("port", s.port); }
static void evtchn_bind_vcpu(void) { GET(struct evtchn_bind_vcpu, s); U("port", s.port); U("vcpu", s.vcpu); }
static void evtchn_reset(void) { GET(struct evtchn_reset, s); U("dom", s.dom); }
static void evtchn_status(void) {
    GET(struct evtchn_status, s);
    U("dom", s.dom); U("port", s.port); U("status", s.status); U("vcpu", s.vcpu);
    switch (s.status) {
    case EVTCHNSTAT_unbound: U("u.unbound.dom", s.u.unbound.dom); break;
    case EVTCHNSTAT_interdomain: U("u.interdomain.dom", s.u.interdomain.dom); U("u.interdomain.port", s.u.interdomain.port); break;
    case EVTCHNSTAT_pirq: U("u.pirq", s.u.pirq); break;
    case EVTCHNSTAT_virq: U("u.virq", s.u.virq); break;
    default: U("u.nonzero_bytes", nonzero(&s.u, sizeof s.u));
    }
}

/* ---------------------------------------------------------------- grant-table ops */

static void gnttab_map_grant_ref(void) {
    GET(struct gnttab_map_grant_ref, s);
    U("host_addr", s.host_addr); U("flags", s.flags); U("ref", s.ref); U("dom", s.dom);
    I("status", s.status); U("handle", s.handle); U("dev_bus_addr", s.dev_bus_addr);
}
static void gnttab_unmap_grant_ref(void) {
    GET(struct gnttab_unmap_grant_ref, s);
    U("host_addr", s.host_addr); U("dev_bus_addr", s.dev_bus_addr); U("handle", s.handle); I("status", s.status);
}
static void gnttab_setup_table(void) {
    GET(struct gnttab_setup_table, s);
    U("dom", s.dom); U("nr_frames", s.nr_frames); I("status", s.status); U("frame_list", H(s.frame_list));
}
static void gnttab_query_size(void) {
    GET(struct gnttab_query_size, s);
    U("dom", s.dom); U("nr_frames", s.nr_frames); U("max_nr_frames", s.max_nr_frames); I("status", s.status);
}
static void copy_ptr(const char *side, const struct gnttab_copy_ptr *p, int gref) {
    if (gref) U(K("%s.u.ref", side), p->u.ref);
    else U(K("%s.u.gmfn", side), p->u.gmfn);
    U(K("%s.domid", side), p->domid);
    U(K("%s.offset", side), p->offset);
}
static void gnttab_copy(void) {
    GET(struct gnttab_copy, s);
    copy_ptr("source", &s.source, s.flags & GNTCOPY_source_gref);
    copy_ptr("dest", &s.dest, s.flags & GNTCOPY_dest_gref);
    U("len", s.len); U("flags", s.flags); I("status", s.status);
}

/* ---------------------------------------------------------------- memory ops */

static void xen_memory_reservation(void) {
    GET(struct xen_memory_reservation, s);
    U("extent_start", H(s.extent_start)); U("nr_extents", s.nr_extents); U("extent_order", s.extent_order);
    U("mem_flags", s.mem_flags); U("domid", s.domid);
    const unsigned char *e = follow(H(s.extent_start), s.nr_extents * sizeof(xen_pfn_t));
    for (size_t i = 0; i < s.nr_extents; i++) {
        xen_pfn_t pfn;
        memcpy(&pfn, e + i * sizeof pfn, sizeof pfn);
        U(K("extent[%zu]", i), pfn);
    }
}
static void xen_add_to_physmap(void) {
    GET(struct xen_add_to_physmap, s);
    U("domid", s.domid); U("size", s.size); U("space", s.space); U("idx", s.idx); U("gpfn", s.gpfn);
}
static void xen_add_to_physmap_batch(void) {
    GET(struct xen_add_to_physmap_batch, s);
    U("domid", s.domid); U("space", s.space); U("size", s.size); U("u.foreign_domid", s.u.foreign_domid);
    U("idxs", H(s.idxs)); U("gpfns", H(s.gpfns)); U("errs", H(s.errs));
    const unsigned char *ix = follow(H(s.idxs), s.size * sizeof(xen_ulong_t));
    const unsigned char *gp = follow(H(s.gpfns), s.size * sizeof(xen_pfn_t));
    const unsigned char *er = follow(H(s.errs), s.size * sizeof(int));
    for (size_t i = 0; i < s.size; i++) {
        xen_ulong_t a; xen_pfn_t b; int c;
        memcpy(&a, ix + i * sizeof a, sizeof a);
        memcpy(&b, gp + i * sizeof b, sizeof b);
        memcpy(&c, er + i * sizeof c, sizeof c);
        U(K("idx[%zu]", i), a); U(K("gpfn[%zu]", i), b); I(K("err[%zu]", i), c);
    }
}
static void xen_remove_from_physmap(void) {
    GET(struct xen_remove_from_physmap, s);
    U("domid", s.domid); U("gpfn", s.gpfn);
}

/* ---------------------------------------------------------------- sched, vcpu, multicall */

static void sched_shutdown(void) { GET(struct sched_shutdown, s); U("reason", s.reason); }
static void sched_remote_shutdown(void) {
    GET(struct sched_remote_shutdown, s);
    U("domain_id", s.domain_id); U("reason", s.reason);
}
static void sched_poll(void) {
    GET(struct sched_poll, s);
    U("ports", H(s.ports)); U("nr_ports", s.nr_ports); U("timeout", s.timeout);
    const unsigned char *p = follow(H(s.ports), s.nr_ports * sizeof(evtchn_port_t));
    for (size_t i = 0; i < s.nr_ports; i++) {
        evtchn_port_t port;
        memcpy(&port, p + i * sizeof port, sizeof port);
        U(K("port[%zu]", i), port);
    }
}
static void multicall(size_t count) {
    static multicall_entry_t e[64];
    if (count > 64) { fprintf(stderr, "%s: too many entries\n", L); exit(3); }
    get(e, count * sizeof e[0]);
    for (size_t i = 0; i < count; i++) {
        U(K("entry[%zu].op", i), e[i].op);
        U(K("entry[%zu].result", i), e[i].result);
        for (int a = 0; a < 6; a++) U(K("entry[%zu].args[%d]", i, a), e[i].args[a]);
        if (e[i].op == __HYPERVISOR_event_channel_op && e[i].args[0] == EVTCHNOP_send) {
            struct evtchn_send snd;
            memcpy(&snd, follow(e[i].args[1], sizeof snd), sizeof snd);
            U(K("entry[%zu].send.port", i), snd.port);
        }
    }
}
static void vcpu_set_singleshot_timer(void) {
    GET(struct vcpu_set_singleshot_timer, s);
    U("timeout_abs_ns", s.timeout_abs_ns); U("flags", s.flags);
}
static void vcpu_set_periodic_timer(void) { GET(struct vcpu_set_periodic_timer, s); U("period_ns", s.period_ns); }
static void vcpu_register_runstate_memory_area(void) {
    GET(struct vcpu_register_runstate_memory_area, s);
    U("addr.p", s.addr.p);
}
static void vcpu_runstate_info(void) {
    GET(struct vcpu_runstate_info, s);
    I("state", s.state);
    U("state_entry_time", s.state_entry_time);
    for (int i = 0; i < 4; i++) U(K("time[%d]", i), s.time[i]);
}

/* ---------------------------------------------------------------- domctl, sysctl */

static void vcpu_guest_context(const char *p, uint64_t gaddr) {
    struct vcpu_guest_context c;
    memcpy(&c, follow(gaddr, sizeof c), sizeof c);
    const struct cpu_user_regs *r = &c.user_regs;
    U(K("%s.flags", p), c.flags);
#define R(x) U(K("%s.user_regs." #x, p), r->x)
    R(r15); R(r14); R(r13); R(r12); R(rbp); R(rbx); R(r11); R(r10); R(r9); R(r8);
    R(rax); R(rcx); R(rdx); R(rsi); R(rdi); R(error_code); R(entry_vector); R(rip); R(cs);
    R(saved_upcall_mask); R(rflags); R(rsp); R(ss); R(es); R(ds); R(fs); R(gs);
#undef R
    U(K("%s.fpu_ctxt.nonzero_bytes", p), nonzero(&c.fpu_ctxt, sizeof c.fpu_ctxt));
    U(K("%s.trap_ctxt.nonzero_bytes", p), nonzero(c.trap_ctxt, sizeof c.trap_ctxt));
    U(K("%s.ldt_base", p), c.ldt_base); U(K("%s.ldt_ents", p), c.ldt_ents);
    U(K("%s.gdt_frames.nonzero_bytes", p), nonzero(c.gdt_frames, sizeof c.gdt_frames));
    U(K("%s.gdt_ents", p), c.gdt_ents);
    U(K("%s.kernel_ss", p), c.kernel_ss); U(K("%s.kernel_sp", p), c.kernel_sp);
    for (int i = 0; i < 8; i++) U(K("%s.ctrlreg[%d]", p, i), c.ctrlreg[i]);
    U(K("%s.debugreg.nonzero_bytes", p), nonzero(c.debugreg, sizeof c.debugreg));
    U(K("%s.event_callback_eip", p), c.event_callback_eip);
    U(K("%s.failsafe_callback_eip", p), c.failsafe_callback_eip);
    U(K("%s.syscall_callback_eip", p), c.syscall_callback_eip);
    U(K("%s.vm_assist", p), c.vm_assist);
    U(K("%s.fs_base", p), c.fs_base); U(K("%s.gs_base_kernel", p), c.gs_base_kernel); U(K("%s.gs_base_user", p), c.gs_base_user);
}

static void bitmap(const char *k, const struct xenctl_bitmap *b) {
    U(K("%s.bitmap", k), H(b->bitmap));
    U(K("%s.nr_bits", k), b->nr_bits);
    if (H(b->bitmap)) {
        char kk[64];
        snprintf(kk, sizeof kk, "%s.bits", k);
        hex(kk, follow(H(b->bitmap), (b->nr_bits + 7) / 8), (b->nr_bits + 7) / 8);
    }
}

static void xen_domctl(void) {
    GET(struct xen_domctl, d);
    U("cmd", d.cmd); U("interface_version", d.interface_version); U("domain", d.domain);
    size_t used = 0;
    switch (d.cmd) {
    case XEN_DOMCTL_createdomain: {
        const struct xen_domctl_createdomain *c = &d.u.createdomain;
        U("u.createdomain.ssidref", c->ssidref);
        hex("u.createdomain.handle", c->handle, sizeof c->handle);
        U("u.createdomain.flags", c->flags);
        U("u.createdomain.iommu_opts", c->iommu_opts);
        U("u.createdomain.max_vcpus", c->max_vcpus);
        U("u.createdomain.max_evtchn_port", c->max_evtchn_port);
        I("u.createdomain.max_grant_frames", c->max_grant_frames);
        I("u.createdomain.max_maptrack_frames", c->max_maptrack_frames);
        U("u.createdomain.grant_opts", c->grant_opts);
        U("u.createdomain.vmtrace_size", c->vmtrace_size);
        U("u.createdomain.cpupool_id", c->cpupool_id);
        U("u.createdomain.arch.emulation_flags", c->arch.emulation_flags);
        U("u.createdomain.arch.misc_flags", c->arch.misc_flags);
        used = sizeof *c;
        break;
    }
    case XEN_DOMCTL_getdomaininfo: {
        const struct xen_domctl_getdomaininfo *i = &d.u.getdomaininfo;
        U("u.getdomaininfo.domain", i->domain);
        U("u.getdomaininfo.pad1", i->pad1);
        U("u.getdomaininfo.flags", i->flags);
        U("u.getdomaininfo.tot_pages", i->tot_pages);
        U("u.getdomaininfo.max_pages", i->max_pages);
        U("u.getdomaininfo.outstanding_pages", i->outstanding_pages);
        U("u.getdomaininfo.shr_pages", i->shr_pages);
        U("u.getdomaininfo.paged_pages", i->paged_pages);
        U("u.getdomaininfo.shared_info_frame", i->shared_info_frame);
        U("u.getdomaininfo.cpu_time", i->cpu_time);
        U("u.getdomaininfo.nr_online_vcpus", i->nr_online_vcpus);
        U("u.getdomaininfo.max_vcpu_id", i->max_vcpu_id);
        U("u.getdomaininfo.ssidref", i->ssidref);
        hex("u.getdomaininfo.handle", i->handle, sizeof i->handle);
        U("u.getdomaininfo.cpupool", i->cpupool);
        U("u.getdomaininfo.gpaddr_bits", i->gpaddr_bits);
        U("u.getdomaininfo.pad2", nonzero(i->pad2, sizeof i->pad2));
        U("u.getdomaininfo.arch_config.emulation_flags", i->arch_config.emulation_flags);
        U("u.getdomaininfo.arch_config.misc_flags", i->arch_config.misc_flags);
        used = sizeof *i;
        break;
    }
    case XEN_DOMCTL_max_mem:
        U("u.max_mem.max_memkb", d.u.max_mem.max_memkb);
        used = sizeof d.u.max_mem;
        break;
    case XEN_DOMCTL_setvcpucontext:
        U("u.vcpucontext.vcpu", d.u.vcpucontext.vcpu);
        U("u.vcpucontext.ctxt", H(d.u.vcpucontext.ctxt));
        if (H(d.u.vcpucontext.ctxt)) vcpu_guest_context("ctxt", H(d.u.vcpucontext.ctxt));
        used = sizeof d.u.vcpucontext;
        break;
    case XEN_DOMCTL_setvcpuaffinity:
        U("u.vcpuaffinity.vcpu", d.u.vcpuaffinity.vcpu);
        U("u.vcpuaffinity.flags", d.u.vcpuaffinity.flags);
        bitmap("u.vcpuaffinity.cpumap_hard", &d.u.vcpuaffinity.cpumap_hard);
        bitmap("u.vcpuaffinity.cpumap_soft", &d.u.vcpuaffinity.cpumap_soft);
        used = sizeof d.u.vcpuaffinity;
        break;
    default:
        fprintf(stderr, "%s: domctl %u not handled\n", L, d.cmd);
        exit(3);
    }
    /* Nothing may be written into the union beyond the payload. */
    U("u.beyond_payload_nonzero_bytes", nonzero((const char *)&d.u + used, sizeof d.u - used));
}

static void xen_sysctl(void) {
    GET(struct xen_sysctl, s);
    U("cmd", s.cmd); U("interface_version", s.interface_version);
    U("u.nonzero_bytes", nonzero(&s.u, sizeof s.u));
}

/* ---------------------------------------------------------------- main */

struct kind { const char *name; void (*fn)(void); };
static const struct kind kinds[] = {
#define KIND(x) { #x, x }
    KIND(shared_info), KIND(start_info), KIND(grant_table),
    KIND(evtchn_alloc_unbound), KIND(evtchn_bind_interdomain), KIND(evtchn_bind_virq), KIND(evtchn_bind_ipi),
    KIND(evtchn_send), KIND(evtchn_close), KIND(evtchn_unmask), KIND(evtchn_bind_vcpu), KIND(evtchn_reset),
    KIND(evtchn_status),
    KIND(gnttab_map_grant_ref), KIND(gnttab_unmap_grant_ref), KIND(gnttab_setup_table), KIND(gnttab_query_size),
    KIND(gnttab_copy),
    KIND(xen_memory_reservation), KIND(xen_add_to_physmap), KIND(xen_add_to_physmap_batch), KIND(xen_remove_from_physmap),
    KIND(sched_shutdown), KIND(sched_remote_shutdown), KIND(sched_poll),
    KIND(vcpu_set_singleshot_timer), KIND(vcpu_set_periodic_timer), KIND(vcpu_register_runstate_memory_area),
    KIND(vcpu_runstate_info),
    KIND(xen_domctl), KIND(xen_sysctl),
#undef KIND
};

int main(int argc, char **argv) {
    if ((argc - 1) % 5) { fprintf(stderr, "usage: %s (kind label file base count)...\n", argv[0]); return 1; }
    for (int a = 1; a < argc; a += 5) {
        const char *kind = argv[a];
        L = argv[a + 1];
        load(argv[a + 2]);
        base = strtoull(argv[a + 3], NULL, 0);
        size_t count = strtoull(argv[a + 4], NULL, 0);
        if (!strcmp(kind, "multicall")) { multicall(count); continue; }
        size_t k = 0;
        while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].name, kind)) k++;
        if (k == sizeof kinds / sizeof kinds[0]) { fprintf(stderr, "unknown kind %s\n", kind); return 1; }
        kinds[k].fn();
    }
    return 0;
}
`;

export const CONTENT_C = PRELUDE + BODY;
