/*
 * xtkernel's ring-3 boot and its applications, chosen by `app=` on the command line:
 *
 *   hog          CPU-bound: count work units forever (chunk= iterations per unit)
 *   interactive  wake every period= ns (+ up to jitter= ns), busy work= ns, sleep again
 *   selftest     every hypercall this kernel uses, with good and bad arguments; prints each rc
 *   evtest       event-channel delivery and masking, driven by dom0 (see the kvm tests)
 *   blk          blkfront: write kib= KiB of a pattern, read it back, compare (depth= in flight)
 *   bench        null-port exits and hypercall round trips (n=), then upcall latency samples
 *   fault        do something the VMM does not handle (kind=io|mmio|ud)
 *   idle         block forever
 *
 * Every application keeps u64 counters in a page whose gfn it prints (`counters@gfn N`):
 * [0] work units, [1] wake-ups, [2] summed lateness (ns), [3..] its own (documented below).
 */
#include "xt.h"

#define SHINFO_GFN_OFFSET 16
#define GNTTAB_GFN_OFFSET 32

extern uint64_t exc_table[20];
extern char upcall_entry[], spurious_entry[], intr_stack_top[];
extern uint8_t idt[];

static volatile uint64_t *counters;

struct gate {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, rsvd;
};

static void set_gate(unsigned vec, uint64_t handler)
{
  struct gate *g = (struct gate *)idt + vec;
  g->off0 = (uint16_t)handler;
  g->sel = KERNEL_CS;
  g->ist = 0;
  g->type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
  g->off1 = (uint16_t)(handler >> 16);
  g->off2 = (uint32_t)(handler >> 32);
  g->rsvd = 0;
}

static void counters_init(const char *app)
{
  unsigned long g = page_alloc();
  counters = gfn_ptr(g);
  printk("%s: domain %d, %lu pages, counters@gfn %lu", app, domid, nr_pages, g);
}

/* ------------------------------------------------------------------ hog */

/* counters: [0] units of `chunk` loop iterations done. */
static void app_hog(void)
{
  long chunk = arg_long("chunk", 1000000);
  counters_init("hog");
  for (;;) {
    for (long i = 0; i < chunk; i++) __asm__ volatile("" ::: "memory");
    counters[0]++;
  }
}

/* ------------------------------------------------------------------ interactive */

static uint32_t rnd_state = 0x9e3779b9;
static uint32_t rnd(void)
{
  uint32_t x = rnd_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rnd_state = x;
}

/* counters: [0] work bursts, [1] wake-ups, [2] summed lateness ns, [3] max lateness ns. */
static void app_interactive(void)
{
  uint64_t period = (uint64_t)arg_long("period", 10000000);
  uint64_t jitter = (uint64_t)arg_long("jitter", 0);
  uint64_t work = (uint64_t)arg_long("work", 1000000);
  rnd_state ^= (uint32_t)arg_long("seed", 1) * 2654435761u + (uint32_t)domid;
  counters_init("interactive");
  uint64_t next = now_ns() + period;
  for (;;) {
    sleep_until(next);
    uint64_t t = now_ns();
    uint64_t late = t > next ? t - next : 0;
    counters[1]++;
    counters[2] += late;
    if (late > counters[3]) counters[3] = late;
    spin_ns(work);
    counters[0]++;
    next = t + period + (jitter ? rnd() % jitter : 0);
  }
}

/* ------------------------------------------------------------------ selftest */

#define BAD_PTR 0x40000000UL /* guest-physical address beyond RAM: nothing is mapped there */

static void report(const char *name, long rc) { printk("selftest %s %ld", name, rc); }

static void app_selftest(void)
{
  counters_init("selftest");
  char *scratch = gfn_ptr(page_alloc());
  long rc;
  /* xen_version */
  report("xen_version.version", HC2(__HYPERVISOR_xen_version, XENVER_version, 0));
  report("xen_version.extraversion.bad_ptr", HC2(__HYPERVISOR_xen_version, XENVER_extraversion, BAD_PTR));
  report("xen_version.bad_cmd", HC2(__HYPERVISOR_xen_version, 9999, 0));
  /* console_io */
  memcpy(scratch, "selftest console\n", 17);
  report("console_io.write", HC3(__HYPERVISOR_console_io, CONSOLEIO_write, 17, scratch));
  report("console_io.write.bad_ptr", HC3(__HYPERVISOR_console_io, CONSOLEIO_write, 16, BAD_PTR));
  report("console_io.read", HC3(__HYPERVISOR_console_io, CONSOLEIO_read, 16, scratch));
  /* memory_op */
  struct xen_add_to_physmap *x = (void *)scratch;
  *x = (struct xen_add_to_physmap){.domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = nr_pages + SHINFO_GFN_OFFSET};
  report("memory_op.add_to_physmap.shared_info", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, x));
  report("memory_op.add_to_physmap.bad_ptr", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, BAD_PTR));
  *x = (struct xen_add_to_physmap){.domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 1, .gpfn = nr_pages + 100};
  report("memory_op.add_to_physmap.bad_idx", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, x));
  *x = (struct xen_add_to_physmap){.domid = 0, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = nr_pages + 100};
  report("memory_op.add_to_physmap.foreign_domain", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, x));
  *x = (struct xen_add_to_physmap){.domid = DOMID_SELF, .space = XENMAPSPACE_gmfn, .idx = nr_pages + 500, .gpfn = nr_pages + 101};
  report("memory_op.add_to_physmap.unowned_frame", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, x));
  *x = (struct xen_add_to_physmap){.domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = nr_pages + GNTTAB_GFN_OFFSET};
  report("memory_op.add_to_physmap.grant_table", HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, x));
  uint64_t *ext = (uint64_t *)(scratch + 2048);
  ext[0] = nr_pages + 700; /* a gfn we do not own */
  struct xen_memory_reservation *r = (void *)(scratch + 1024);
  *r = (struct xen_memory_reservation){.nr_extents = 1, .extent_order = 0, .domid = DOMID_SELF};
  set_xen_guest_handle(r->extent_start, ext);
  report("memory_op.decrease_reservation.unowned_frame", HC2(__HYPERVISOR_memory_op, XENMEM_decrease_reservation, r));
  report("memory_op.current_reservation", HC2(__HYPERVISOR_memory_op, XENMEM_current_reservation, &(domid_t){DOMID_SELF}));
  report("memory_op.bad_cmd", HC2(__HYPERVISOR_memory_op, 63, 0));
  /* hvm_op */
  struct xen_hvm_evtchn_upcall_vector *u = (void *)scratch;
  *u = (struct xen_hvm_evtchn_upcall_vector){.vcpu = 0, .vector = UPCALL_VECTOR};
  report("hvm_op.set_evtchn_upcall_vector", HC2(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, u));
  *u = (struct xen_hvm_evtchn_upcall_vector){.vcpu = 0, .vector = 5};
  report("hvm_op.set_evtchn_upcall_vector.bad_vector", HC2(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, u));
  *u = (struct xen_hvm_evtchn_upcall_vector){.vcpu = 7, .vector = UPCALL_VECTOR};
  report("hvm_op.set_evtchn_upcall_vector.bad_vcpu", HC2(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, u));
  report("hvm_op.set_evtchn_upcall_vector.bad_ptr", HC2(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, BAD_PTR));
  /* event_channel_op */
  evtchn_port_t p;
  report("event_channel_op.alloc_unbound", rc = evtchn_alloc_unbound(0, &p));
  struct evtchn_alloc_unbound *au = (void *)scratch;
  *au = (struct evtchn_alloc_unbound){.dom = 0, .remote_dom = DOMID_SELF};
  report("event_channel_op.alloc_unbound.foreign_domain", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, au));
  report("event_channel_op.alloc_unbound.bad_ptr", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, BAD_PTR));
  report("event_channel_op.send", evtchn_notify(p));
  report("event_channel_op.send.foreign_port", evtchn_notify(900));
  report("event_channel_op.send.bad_ptr", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, BAD_PTR));
  struct evtchn_bind_virq *bv = (void *)scratch;
  *bv = (struct evtchn_bind_virq){.virq = 99, .vcpu = 0};
  report("event_channel_op.bind_virq.bad_virq", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, bv));
  *bv = (struct evtchn_bind_virq){.virq = VIRQ_TIMER, .vcpu = 0};
  report("event_channel_op.bind_virq.already_bound", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, bv));
  struct evtchn_bind_interdomain *bi = (void *)scratch;
  *bi = (struct evtchn_bind_interdomain){.remote_dom = 0, .remote_port = 1};
  report("event_channel_op.bind_interdomain.foreign_port", HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, bi));
  report("event_channel_op.unmask", evtchn_unmask(p));
  report("event_channel_op.unmask.bad_port", evtchn_unmask(5000));
  report("event_channel_op.close", evtchn_close(p));
  report("event_channel_op.close.port0", evtchn_close(0));
  report("event_channel_op.bad_cmd", HC2(__HYPERVISOR_event_channel_op, 77, scratch));
  /* grant_table_op: copy from a frame we do not own */
  struct gnttab_copy *c = (void *)scratch;
  memset(c, 0, sizeof *c);
  c->source.u.gmfn = nr_pages + 700;
  c->source.domid = DOMID_SELF;
  c->dest.u.gmfn = ptr_gfn(scratch) ;
  c->dest.offset = 2048;
  c->dest.domid = DOMID_SELF;
  c->len = 16;
  rc = HC3(__HYPERVISOR_grant_table_op, GNTTABOP_copy, c, 1);
  report("grant_table_op.copy.unowned_frame", rc < 0 ? rc : c->status);
  report("grant_table_op.copy.bad_ptr", HC3(__HYPERVISOR_grant_table_op, GNTTABOP_copy, BAD_PTR, 1));
  struct gnttab_query_size *qs = (void *)scratch;
  *qs = (struct gnttab_query_size){.dom = DOMID_SELF};
  rc = HC3(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, qs, 1);
  report("grant_table_op.query_size", rc < 0 ? rc : qs->status);
  /* sched_op, set_timer_op */
  report("sched_op.yield", HC2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0));
  report("sched_op.shutdown.bad_ptr", HC2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, BAD_PTR));
  struct sched_remote_shutdown *rs = (void *)scratch;
  *rs = (struct sched_remote_shutdown){.domain_id = 0, .reason = SHUTDOWN_poweroff};
  report("sched_op.remote_shutdown.dom0", HC2(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, rs));
  report("sched_op.poll.bad_ptr", HC2(__HYPERVISOR_sched_op, SCHEDOP_poll, BAD_PTR));
  report("sched_op.bad_cmd", HC2(__HYPERVISOR_sched_op, 99, 0));
  report("set_timer_op", HC1(__HYPERVISOR_set_timer_op, now_ns() + 1000000));
  report("set_timer_op.cancel", HC1(__HYPERVISOR_set_timer_op, 0));
  /* privileged and unknown hypercalls */
  report("domctl.unprivileged", HC1(__HYPERVISOR_domctl, scratch));
  report("sysctl.unprivileged", HC1(__HYPERVISOR_sysctl, scratch));
  report("unknown_hypercall", HC0(60));
  counters[3] = 1;
  printk("selftest done");
}

/* ------------------------------------------------------------------ evtest */

/*
 * counters: [3] stage (1: ports ready, 2: data port unmasked, 3: data delivered), [4] data port,
 * [5] control port, [6] upcalls seen, [7] data deliveries before unmask (must stay 0),
 * [8] pending bit of the data port as the guest saw it at the control event, [9] its mask bit,
 * [10] evtchn_upcall_pending as the guest saw it then, [11] upcalls at delivery of the data port.
 */
static void app_evtest(void)
{
  counters_init("evtest");
  evtchn_port_t data, ctl;
  if (evtchn_alloc_unbound(0, &data) || evtchn_alloc_unbound(0, &ctl)) panic("evtest: alloc_unbound failed");
  mask_port(data);
  counters[4] = data;
  counters[5] = ctl;
  mb();
  counters[3] = 1;
  printk("evtest: data port %u (masked) control port %u", data, ctl);
  for (;;) {
    counters[6] = upcall_count;
    if (counters[3] == 1) {
      /* Before the control event: look at the bytes without consuming anything. */
      if (vcpu0->evtchn_upcall_pending) {
        counters[10] = 1;
        counters[8] = (uint64_t)port_pending(data);
        counters[9] = (uint64_t)port_masked(data);
      }
      poll_events();
      if (evtchn_fired(data)) counters[7]++;
      if (evtchn_fired(ctl)) {
        counters[8] = (uint64_t)port_pending(data);
        counters[9] = (uint64_t)port_masked(data);
        mb();
        counters[3] = 2;
        evtchn_unmask(data);
      }
    } else {
      poll_events();
      if (evtchn_fired(data)) {
        counters[11] = upcall_count;
        counters[3] = 3;
        printk("evtest: data port delivered after unmask, %lu upcalls", (unsigned long)upcall_count);
        for (;;) block();
      }
    }
  }
}

/* ------------------------------------------------------------------ blk */

/* counters: [3] write ns, [4] read ns, [5] bytes, [6] result (1 ok, 2 mismatch, 3 I/O error, 4 no device). */
static void app_blk(void)
{
  counters_init("blk");
  unsigned long kib = (unsigned long)arg_long("kib", 256);
  unsigned depth = (unsigned)arg_long("depth", 8);
  uint64_t seed = (uint64_t)arg_long("seed", 7);
  unsigned long npages = (kib * 1024 + PAGE_SIZE - 1) / PAGE_SIZE;
  struct blkfront b;
  memset(&b, 0, sizeof b);
  int rc = blkfront_connect(&b);
  if (rc) {
    counters[6] = 4;
    printk("blk: connect failed (%d)", rc);
    return;
  }
  printk("blk: vbd %d connected to %s: %lu sectors of %u bytes", b.devid, b.backend, (unsigned long)b.sectors, b.sector_size);
  unsigned long first = page_alloc();
  for (unsigned long i = 1; i < npages; i++)
    if (page_alloc() != first + i) panic("blk: buffer pages not contiguous");
  uint8_t *buf = gfn_ptr(first);
  unsigned long bytes = npages * PAGE_SIZE;
  uint32_t x = (uint32_t)seed | 1;
  for (unsigned long i = 0; i < bytes; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    buf[i] = (uint8_t)x;
  }
  unsigned long sectors = bytes / b.sector_size;
  uint64_t t0 = now_ns();
  rc = blkfront_io(&b, 1, 0, buf, sectors, depth);
  uint64_t t1 = now_ns();
  if (rc) {
    counters[6] = 3;
    printk("blk: write failed (%d)", rc);
    return;
  }
  memset(buf, 0, bytes);
  uint64_t t2 = now_ns();
  rc = blkfront_io(&b, 0, 0, buf, sectors, depth);
  uint64_t t3 = now_ns();
  if (rc) {
    counters[6] = 3;
    printk("blk: read failed (%d)", rc);
    return;
  }
  x = (uint32_t)seed | 1;
  int same = 1;
  for (unsigned long i = 0; i < bytes && same; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    if (buf[i] != (uint8_t)x) same = 0;
  }
  counters[3] = t1 - t0;
  counters[4] = t3 - t2;
  counters[5] = bytes;
  counters[6] = same ? 1 : 2;
  printk("blk: wrote and read back %lu bytes: %s (write %lu us, read %lu us)", bytes, same ? "match" : "MISMATCH",
         (unsigned long)((t1 - t0) / 1000), (unsigned long)((t3 - t2) / 1000));
}

/* ------------------------------------------------------------------ bench */

/*
 * counters: [3] null-port exits done, [4] their TSC cycles, [5] hypercalls done, [6] their cycles,
 * [7] event port for latency samples, [8] samples taken, [9] stage (1 exits done, 2 sampling),
 * [16 + i] TSC at which sample i was seen (ring 3, spinning, interrupts on).
 */
static void app_bench(void)
{
  counters_init("bench");
  long n = arg_long("n", 2000);
  long samples = arg_long("samples", 200);
  if (samples > 400) samples = 400;
  /* warm up, then time */
  for (int i = 0; i < 10; i++) __asm__ volatile("out %%eax, $0xe3" ::"a"(0));
  uint64_t t0 = rdtsc();
  for (long i = 0; i < n; i++) __asm__ volatile("out %%eax, $0xe3" ::"a"(0));
  uint64_t t1 = rdtsc();
  counters[3] = (uint64_t)n;
  counters[4] = t1 - t0;
  for (int i = 0; i < 10; i++) HC2(__HYPERVISOR_xen_version, XENVER_version, 0);
  t0 = rdtsc();
  for (long i = 0; i < n; i++) HC2(__HYPERVISOR_xen_version, XENVER_version, 0);
  t1 = rdtsc();
  counters[5] = (uint64_t)n;
  counters[6] = t1 - t0;
  printk("bench: null exit %lu ns, hypercall %lu ns", (unsigned long)tsc_to_ns_delta(counters[4] / n),
         (unsigned long)tsc_to_ns_delta(counters[6] / n));
  evtchn_port_t port;
  if (evtchn_alloc_unbound(0, &port)) panic("bench: alloc_unbound failed");
  counters[7] = port;
  mb();
  counters[9] = 1;
  for (long i = 0; i < samples; i++) {
    uint64_t seen = upcall_count;
    while (upcall_count == seen) barrier();
    counters[16 + i] = rdtsc();
    poll_events();
    evtchn_fired(port);
    mb();
    counters[8] = (uint64_t)(i + 1);
  }
  counters[9] = 2;
  printk("bench: %ld upcall samples", samples);
  for (;;) block();
}

/* ------------------------------------------------------------------ fault */

static void app_fault(void)
{
  const char *kind = cmdline_arg("kind");
  counters_init("fault");
  spin_ns((uint64_t)arg_long("after", 0));
  printk("fault: %s", kind ? kind : "io");
  if (!kind || !strcmp(kind, "io")) __asm__ volatile("outb %%al, $0x99" ::"a"(0));
  else if (!strcmp(kind, "mmio")) *(volatile uint32_t *)0x30000000UL = 1;
  else if (!strcmp(kind, "ud")) __asm__ volatile("ud2");
  printk("fault: still running");
}

/* ------------------------------------------------------------------ boot (ring 3) */

void xt_main(start_info_t *si)
{
  start_info = si;
  nr_pages = si->nr_pages;
  /* TSS: the ring-0 stack for interrupts and exceptions from ring 3; no I/O bitmap. */
  *(volatile uint64_t *)(TSS_ADDR + 4) = (uint64_t)intr_stack_top;
  *(volatile uint16_t *)(TSS_ADDR + 102) = TSS_IOMAP;
  memset((void *)(TSS_ADDR + TSS_IOMAP), 0, 32);          /* ports 0-255 open */
  *(volatile uint8_t *)(TSS_ADDR + TSS_IOMAP + 32) = 0xff; /* the terminating byte */
  for (unsigned v = 0; v < 20; v++) set_gate(v, exc_table[v]);
  set_gate(UPCALL_VECTOR, (uint64_t)upcall_entry);
  set_gate(SPURIOUS_VECTOR, (uint64_t)spurious_entry);

  struct xen_add_to_physmap x = {.domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = nr_pages + SHINFO_GFN_OFFSET};
  if (HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &x)) shutdown(SHUTDOWN_crash);
  shared = gfn_ptr(nr_pages + SHINFO_GFN_OFFSET);
  vcpu0 = &shared->vcpu_info[0];
  vcpu0->evtchn_upcall_mask = 0; /* we mask with IF, as HVM guests do */
  struct xen_hvm_evtchn_upcall_vector uv = {.vcpu = 0, .vector = UPCALL_VECTOR};
  if (HC2(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, &uv)) shutdown(SHUTDOWN_crash);
  x = (struct xen_add_to_physmap){.domid = DOMID_SELF, .space = XENMAPSPACE_grant_table, .idx = 0, .gpfn = nr_pages + GNTTAB_GFN_OFFSET};
  if (HC2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &x)) shutdown(SHUTDOWN_crash);
  gnttab = gfn_ptr(nr_pages + GNTTAB_GFN_OFFSET);
  console_init();
  evtchn_init();
  /* Our domid, without xenstore (as MiniOS learns it): an unbound port offered to ourselves. */
  evtchn_port_t self;
  if (evtchn_alloc_unbound(DOMID_SELF, &self) == 0) {
    struct evtchn_status st = {.dom = DOMID_SELF, .port = self};
    if (HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_status, &st) == 0) domid = st.u.unbound.dom;
    evtchn_close(self);
  }

  const char *app = cmdline_arg("app");
  if (!app) app = "hog";
  printk("xtkernel: domain %d up (%s), app %s", domid, (const char *)si->magic, app);
  if (!strcmp(app, "hog")) app_hog();
  else if (!strcmp(app, "interactive")) app_interactive();
  else if (!strcmp(app, "selftest")) app_selftest();
  else if (!strcmp(app, "evtest")) app_evtest();
  else if (!strcmp(app, "blk")) app_blk();
  else if (!strcmp(app, "bench")) app_bench();
  else if (!strcmp(app, "fault")) app_fault();
  else if (!strcmp(app, "idle")) for (;;) block();
  else printk("xtkernel: unknown app %s", app);
  shutdown(SHUTDOWN_poweroff);
}
