/*
 * xtkernel's runtime (ring 3): memory, formatting, console, time, event channels, grants.
 *
 * Events are handled the way Xen guests handle them, but in ring 3: the ring-0 upcall stub only
 * EOIs the LAPIC; `poll_events` clears evtchn_upcall_pending, exchanges the selector and moves
 * every pending, unmasked port into `fired` (clearing its pending bit), exactly as Mini-OS's
 * do_hypervisor_callback does. A waiter polls, and blocks (SCHEDOP_block) when nothing it wants
 * has fired; the hypervisor does not block a vCPU whose upcall is pending, so no event is lost
 * between the poll and the block.
 */
#include "xt.h"

start_info_t *start_info;
shared_info_t *shared;
struct vcpu_info *vcpu0;
grant_entry_v1_t *gnttab;
unsigned long nr_pages;
int domid = -1;
evtchn_port_t timer_port;

/* ------------------------------------------------------------------ memory */

void *memset(void *d, int c, size_t n)
{
  uint8_t *p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
  uint8_t *p = d;
  const uint8_t *q = s;
  while (n--) *p++ = *q++;
  return d;
}
void *memmove(void *d, const void *s, size_t n)
{
  uint8_t *p = d;
  const uint8_t *q = s;
  if (p < q) return memcpy(d, s, n);
  while (n--) p[n] = q[n];
  return d;
}
int memcmp(const void *a, const void *b, size_t n)
{
  const uint8_t *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}
size_t strlen(const char *s)
{
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
int strcmp(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return (uint8_t)*a - (uint8_t)*b;
}
int strncmp(const char *a, const char *b, size_t n)
{
  for (; n; n--, a++, b++) {
    if (*a != *b) return (uint8_t)*a - (uint8_t)*b;
    if (!*a) return 0;
  }
  return 0;
}
char *strcpy(char *d, const char *s)
{
  char *r = d;
  while ((*d++ = *s++)) {}
  return r;
}

extern char _end[];
static unsigned long next_free;

/* Pages above the kernel image, up to the end of RAM. */
unsigned long page_alloc(void)
{
  if (!next_free) next_free = ((unsigned long)_end + PAGE_SIZE - 1) >> PAGE_SHIFT;
  if (next_free >= nr_pages) return 0;
  unsigned long g = next_free++;
  memset(gfn_ptr(g), 0, PAGE_SIZE);
  return g;
}

/* ------------------------------------------------------------------ formatting */

static void put(char *buf, size_t n, size_t *i, char c)
{
  if (*i + 1 < n) buf[*i] = c;
  (*i)++;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
  size_t i = 0;
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(buf, n, &i, *fmt);
      continue;
    }
    fmt++;
    int lng = 0, zero = 0, width = 0;
    if (*fmt == '0') zero = 1, fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') lng++, fmt++;
    if (*fmt == 'z') lng = 2, fmt++;
    switch (*fmt) {
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)";
      while (*s) put(buf, n, &i, *s++);
      break;
    }
    case 'c':
      put(buf, n, &i, (char)va_arg(ap, int));
      break;
    case 'd':
    case 'u':
    case 'x':
    case 'p': {
      uint64_t v;
      int neg = 0;
      unsigned base = (*fmt == 'x' || *fmt == 'p') ? 16 : 10;
      if (*fmt == 'p') {
        v = (uint64_t)(uintptr_t)va_arg(ap, void *);
        put(buf, n, &i, '0');
        put(buf, n, &i, 'x');
      } else if (*fmt == 'd') {
        int64_t s = lng ? va_arg(ap, long) : va_arg(ap, int);
        if (s < 0) neg = 1, v = (uint64_t)(-(s + 1)) + 1;
        else v = (uint64_t)s;
      } else {
        v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
      }
      char tmp[24];
      int k = 0;
      do {
        unsigned d = (unsigned)(v % base);
        tmp[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
      } while (v);
      if (neg) put(buf, n, &i, '-');
      for (int w = k; w < width; w++) put(buf, n, &i, zero ? '0' : ' ');
      while (k) put(buf, n, &i, tmp[--k]);
      break;
    }
    case '%':
      put(buf, n, &i, '%');
      break;
    default:
      put(buf, n, &i, '?');
    }
  }
  if (n) buf[i < n ? i : n - 1] = 0;
  return (int)i;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return r;
}

long parse_long(const char *s, long dflt)
{
  if (!s || !*s) return dflt;
  long v = 0;
  int neg = 0;
  if (*s == '-') neg = 1, s++;
  if (s[0] == '0' && s[1] == 'x') {
    for (s += 2; *s; s++) {
      int d = (*s >= '0' && *s <= '9') ? *s - '0' : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 : -1;
      if (d < 0) break;
      v = v * 16 + d;
    }
  } else {
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
  }
  return neg ? -v : v;
}

/* The command line as key=value words: a NUL-terminated copy of the value (valid for the next 7 calls). */
const char *cmdline_arg(const char *name)
{
  static char vals[8][128];
  static unsigned next;
  char *val = vals[next++ % 8];
  const char *c = (const char *)start_info->cmd_line;
  size_t ln = strlen(name);
  while (*c) {
    while (*c == ' ') c++;
    const char *w = c;
    while (*c && *c != ' ') c++;
    if ((size_t)(c - w) > ln && !strncmp(w, name, ln) && w[ln] == '=') {
      size_t k = 0;
      for (const char *p = w + ln + 1; p < c && k + 1 < sizeof vals[0]; p++) val[k++] = *p;
      val[k] = 0;
      return val;
    }
    if ((size_t)(c - w) == ln && !strncmp(w, name, ln)) return "";
  }
  return 0;
}

long arg_long(const char *name, long dflt) { return parse_long(cmdline_arg(name), dflt); }

/* ------------------------------------------------------------------ console */

static struct xencons_interface *cons;
static evtchn_port_t cons_port;

void console_init(void)
{
  if (start_info->console.domU.evtchn) {
    cons = gfn_ptr(start_info->console.domU.mfn);
    cons_port = start_info->console.domU.evtchn;
  }
}

/* The PV console ring (what does not fit is dropped, as Mini-OS drops it). */
static void console_ring_write(const char *s, size_t n)
{
  if (!cons) return;
  XENCONS_RING_IDX prod = cons->out_prod, c = cons->out_cons;
  rmb();
  size_t sent = 0;
  while (sent < n && prod - c < sizeof cons->out) cons->out[MASK_XENCONS_IDX(prod++, cons->out)] = s[sent++];
  wmb();
  cons->out_prod = prod;
  evtchn_notify(cons_port);
}

/* A line to the hypervisor console (Xen traces it) and to the PV console, as MiniOS's printk. */
void printk(const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  if (n == 0 || buf[n - 1] != '\n') buf[n++] = '\n';
  buf[n] = 0;
  HC3(__HYPERVISOR_console_io, CONSOLEIO_write, n, buf);
  console_ring_write(buf, (size_t)n);
}

/* ------------------------------------------------------------------ time */

uint64_t tsc_to_ns_delta(uint64_t d)
{
  struct vcpu_time_info *t = &vcpu0->time;
  int8_t shift = t->tsc_shift;
  if (shift < 0) d >>= -shift;
  else d <<= shift;
  return (uint64_t)(((unsigned __int128)d * t->tsc_to_system_mul) >> 32);
}

uint64_t now_ns(void)
{
  struct vcpu_time_info *t = &vcpu0->time;
  for (;;) {
    uint32_t v = t->version;
    rmb();
    uint64_t ts = t->tsc_timestamp, st = t->system_time;
    uint32_t mul = t->tsc_to_system_mul;
    int8_t shift = t->tsc_shift;
    rmb();
    if ((v & 1) || v != t->version) continue;
    uint64_t d = rdtsc() - ts;
    if ((int64_t)d < 0) d = 0;
    if (shift < 0) d >>= -shift;
    else d <<= shift;
    return st + (uint64_t)(((unsigned __int128)d * mul) >> 32);
  }
}

void spin_ns(uint64_t ns)
{
  uint64_t end = now_ns() + ns;
  while (now_ns() < end) {}
}

void block(void) { HC2(__HYPERVISOR_sched_op, SCHEDOP_block, 0); }

void sleep_until(uint64_t t)
{
  HC1(__HYPERVISOR_set_timer_op, t);
  for (;;) {
    if (now_ns() >= t) return;
    poll_events();
    evtchn_fired(timer_port);
    if (now_ns() >= t) return;
    block();
  }
}

/* ------------------------------------------------------------------ event channels */

static unsigned long fired[EVTCHN_2L_NR_CHANNELS / (8 * sizeof(unsigned long))];

void poll_events(void)
{
  vcpu0->evtchn_upcall_pending = 0;
  mb();
  unsigned long sel = __atomic_exchange_n(&vcpu0->evtchn_pending_sel, 0UL, __ATOMIC_SEQ_CST);
  while (sel) {
    unsigned w = (unsigned)__builtin_ctzl(sel);
    sel &= sel - 1;
    unsigned long pend = shared->evtchn_pending[w] & ~shared->evtchn_mask[w];
    while (pend) {
      unsigned b = (unsigned)__builtin_ctzl(pend);
      pend &= pend - 1;
      __atomic_fetch_and(&shared->evtchn_pending[w], ~(1UL << b), __ATOMIC_SEQ_CST);
      fired[w] |= 1UL << b;
    }
  }
}

int evtchn_fired(evtchn_port_t p)
{
  unsigned long m = 1UL << (p % 64);
  if (!(fired[p / 64] & m)) return 0;
  fired[p / 64] &= ~m;
  return 1;
}

void wait_event(evtchn_port_t p)
{
  for (;;) {
    poll_events();
    if (evtchn_fired(p)) return;
    block();
  }
}

long evtchn_notify(evtchn_port_t p)
{
  struct evtchn_send s = {.port = p};
  return HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, &s);
}

long evtchn_alloc_unbound(domid_t remote, evtchn_port_t *out)
{
  struct evtchn_alloc_unbound a = {.dom = DOMID_SELF, .remote_dom = remote};
  long rc = HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, &a);
  if (rc == 0) *out = a.port;
  return rc;
}

long evtchn_bind_virq(uint32_t virq, evtchn_port_t *out)
{
  struct evtchn_bind_virq b = {.virq = virq, .vcpu = 0};
  long rc = HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, &b);
  if (rc == 0) *out = b.port;
  return rc;
}

long evtchn_unmask(evtchn_port_t p)
{
  struct evtchn_unmask u = {.port = p};
  return HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_unmask, &u);
}

long evtchn_close(evtchn_port_t p)
{
  struct evtchn_close c = {.port = p};
  return HC2(__HYPERVISOR_event_channel_op, EVTCHNOP_close, &c);
}

void mask_port(evtchn_port_t p) { __atomic_fetch_or(&shared->evtchn_mask[p / 64], 1UL << (p % 64), __ATOMIC_SEQ_CST); }
int port_pending(evtchn_port_t p) { return (shared->evtchn_pending[p / 64] >> (p % 64)) & 1; }
int port_masked(evtchn_port_t p) { return (shared->evtchn_mask[p / 64] >> (p % 64)) & 1; }

void evtchn_init(void)
{
  memset(fired, 0, sizeof fired);
  if (evtchn_bind_virq(VIRQ_TIMER, &timer_port)) panic("bind VIRQ_TIMER failed");
}

/* ------------------------------------------------------------------ grants */

#define NR_GRANTS (PAGE_SIZE / sizeof(grant_entry_v1_t))
static grant_ref_t free_refs[NR_GRANTS];
static unsigned nfree, next_ref = GNTTAB_NR_RESERVED_ENTRIES;

grant_ref_t grant_page(domid_t to, unsigned long gfn, int readonly)
{
  grant_ref_t ref;
  if (nfree) ref = free_refs[--nfree];
  else if (next_ref < NR_GRANTS) ref = next_ref++;
  else panic("out of grant references");
  gnttab[ref].domid = to;
  gnttab[ref].frame = (uint32_t)gfn;
  wmb();
  gnttab[ref].flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
  return ref;
}

/* Withdraw a grant (waiting while the peer still has it in use), and recycle the reference. */
void grant_end(grant_ref_t ref)
{
  uint16_t f = gnttab[ref].flags;
  for (;;) {
    if (f & (GTF_reading | GTF_writing)) {
      f = gnttab[ref].flags;
      continue;
    }
    if (__atomic_compare_exchange_n(&gnttab[ref].flags, &f, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
  }
  free_refs[nfree++] = ref;
}

/* ------------------------------------------------------------------ the end */

void shutdown(unsigned reason)
{
  struct sched_shutdown s = {.reason = reason};
  for (;;) HC2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &s);
}

void panic(const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printk("xtkernel: panic: %s", buf);
  shutdown(SHUTDOWN_crash);
}

/*
 * A CPU exception (entry.S, ring 0 — the only C that ever runs there, once, on the way down):
 * report the vector and rip, and crash the domain.
 */
void fatal_exception(uint64_t *frame)
{
  /* frame: vector, error code, rip, cs, rflags, rsp, ss */
  printk("xtkernel: exception %lu (error 0x%lx) at rip 0x%lx cs 0x%lx rflags 0x%lx rsp 0x%lx", (unsigned long)frame[0],
         (unsigned long)frame[1], (unsigned long)frame[2], (unsigned long)frame[3], (unsigned long)frame[4],
         (unsigned long)frame[5]);
  shutdown(SHUTDOWN_crash);
}
