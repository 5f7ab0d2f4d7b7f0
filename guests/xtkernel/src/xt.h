/*
 * xtkernel's runtime, all of it running in ring 3 (see entry.S for why): hypercalls through the
 * hypercall page, shared_info and event channels, time, grants, the PV console, xenstore, a page
 * allocator, formatting. Single vCPU; no threads: code waits by polling its events and blocking.
 */
#ifndef XT_H
#define XT_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

#define mb() __asm__ volatile("mfence" ::: "memory")
#define rmb() __asm__ volatile("lfence" ::: "memory")
#define wmb() __asm__ volatile("sfence" ::: "memory")
#define barrier() __asm__ volatile("" ::: "memory")
#define xen_mb() mb()
#define xen_rmb() rmb()
#define xen_wmb() wmb()

#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/memory.h>
#include <xen/grant_table.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/io/xs_wire.h>
#include <xen/io/console.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#include "layout.h"

#define PAGE_SIZE 4096UL
#define PAGE_SHIFT 12
#define XT_EINVAL 22

/* ---- hypercalls (xen/include/public/xen.h numbers; args rdi rsi rdx r10 r8; result rax) ---- */
extern uint8_t hypercall_page[4096];

static inline long hcall(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
  register unsigned long r10 __asm__("r10") = a4;
  register unsigned long r8 __asm__("r8") = a5;
  long ret;
  __asm__ volatile("call *%[stub]"
                   : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                   : [stub] "r"(hypercall_page + nr * 32)
                   : "memory", "cc");
  return ret;
}
#define HC0(n) hcall((n), 0, 0, 0, 0, 0)
#define HC1(n, a) hcall((n), (unsigned long)(a), 0, 0, 0, 0)
#define HC2(n, a, b) hcall((n), (unsigned long)(a), (unsigned long)(b), 0, 0, 0)
#define HC3(n, a, b, c) hcall((n), (unsigned long)(a), (unsigned long)(b), (unsigned long)(c), 0, 0)

/* ---- boot state ---- */
extern start_info_t *start_info;
extern shared_info_t *shared;
extern struct vcpu_info *vcpu0;
extern grant_entry_v1_t *gnttab;
extern unsigned long nr_pages;
extern int domid;
extern volatile uint64_t upcall_count;

/* ---- memory ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcpy(char *d, const char *s);
unsigned long page_alloc(void);          /* a zeroed page; returns its gfn (0: none left) */
static inline void *gfn_ptr(unsigned long gfn) { return (void *)(gfn << PAGE_SHIFT); }
static inline unsigned long ptr_gfn(const void *p) { return (unsigned long)p >> PAGE_SHIFT; }

/* ---- formatting and console ---- */
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void console_init(void);
long parse_long(const char *s, long dflt);
const char *cmdline_arg(const char *name);       /* value of name=... on the command line, or NULL */
long arg_long(const char *name, long dflt);

/* ---- time ---- */
static inline uint64_t rdtsc(void)
{
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
uint64_t now_ns(void);                           /* Xen system time from vcpu_time_info + TSC */
uint64_t tsc_to_ns_delta(uint64_t tsc_delta);
void sleep_until(uint64_t t);
void spin_ns(uint64_t ns);                       /* busy for ns of system time (native ring 3) */

/* ---- event channels ---- */
void evtchn_init(void);
void poll_events(void);                          /* move pending & ~mask ports into fired[] */
int evtchn_fired(evtchn_port_t p);               /* test-and-clear */
void wait_event(evtchn_port_t p);                /* poll, block until p fires */
void block(void);                                /* SCHEDOP_block */
long evtchn_notify(evtchn_port_t p);
long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *out);
long evtchn_bind_virq(uint32_t virq, evtchn_port_t *out);
long evtchn_unmask(evtchn_port_t p);
long evtchn_close(evtchn_port_t p);
void mask_port(evtchn_port_t p);
int port_pending(evtchn_port_t p);
int port_masked(evtchn_port_t p);
extern evtchn_port_t timer_port;

/* ---- grants ---- */
grant_ref_t grant_page(domid_t to, unsigned long gfn, int readonly);
void grant_end(grant_ref_t ref);

/* ---- xenstore (store ring) ---- */
int xs_read(const char *path, char *out, size_t n);     /* length, or -errno */
int xs_write(const char *path, const char *value);
int xs_directory(const char *path, char *out, size_t n); /* NUL-separated names; byte length */
int xs_wait_value(const char *path, const char *want, uint64_t timeout_ns);

/* ---- blkfront ---- */
struct blkfront {
  int devid;
  domid_t backend_id;
  char backend[96];
  char front[64];
  blkif_front_ring_t ring;
  grant_ref_t ring_ref;
  evtchn_port_t port;
  uint64_t sectors;
  unsigned sector_size;
  uint64_t next_id;
};
int blkfront_connect(struct blkfront *b);
/* Transfer `count` sectors at `sector` from/to `buf` (page-aligned, ≤ 11 pages per request, any
 * length; up to `depth` requests in flight). Returns 0 or the first failing BLKIF_RSP_* status. */
int blkfront_io(struct blkfront *b, int write, uint64_t sector, void *buf, unsigned long count, unsigned depth);

/* ---- the end ---- */
void shutdown(unsigned reason) __attribute__((noreturn));
void fatal_exception(uint64_t *frame) __attribute__((noreturn));
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
