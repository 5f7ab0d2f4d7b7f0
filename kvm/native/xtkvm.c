/*
 * xtkvm — the small native half of xenotype's KVM execution backend (Node-API, C).
 *
 * What it does, and nothing more:
 *  - /dev/kvm: VMs (in-kernel irqchip, the MSR filter that makes the hypercall-page MSR exit to
 *    us, user-space MSR exits), vCPUs (Xen's CPUID leaves, long-mode start of day, kvm_run mapped
 *    and handed to JavaScript as an ArrayBuffer: exits and registers are read and written there,
 *    through sync_regs), memslots over one host mapping that JavaScript sees as frames, MSIs.
 *  - pCPU worker threads (pthreads): each runs KVM_RUN for the vCPU JavaScript assigned to it,
 *    handles the bench's null port itself, and hands every other exit back ("posts" it). A posted
 *    vCPU belongs to JavaScript until it is assigned again.
 *  - kicks: stop(vcpu) sets immediate_exit and signals the thread, so KVM_RUN returns at once.
 *  - the main thread waits for posted exits (spinning briefly, then on a condition variable) with
 *    a deadline: the engine's next event. This is how exits reach TypeScript with little latency.
 *
 * Invariants: a vCPU is in KVM_RUN on at most one thread (JavaScript assigns only vCPUs it owns);
 * handles of vCPUs and VMs are never reused; nothing here knows Xen beyond CPUID and two ports.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

/* Port the hypercall page's stubs write to (out %eax, $HC_PORT), and the bench's null port. */
#define HC_PORT 0xe2
#define NULL_PORT 0xe3
#define XEN_MSR 0x40000000u

enum { REC_EXIT = 1, REC_STOPPED = 2, REC_ERROR = 3 };

#define THROW(env, msg)                         \
  do {                                          \
    napi_throw_error((env), "XTKVM", (msg));    \
    return NULL;                                \
  } while (0)
#define CALL(env, x)                                         \
  do {                                                       \
    if ((x) != napi_ok) THROW(env, "node-api call failed: " #x); \
  } while (0)

static int kvm_fd = -1;
static int run_size;
static struct kvm_cpuid2 *supported;
static int sig_kick;

static uint64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* ------------------------------------------------------------------ tables */

typedef struct pcpu pcpu_t;

typedef struct vcpu {
  int fd;
  int vm;
  int id;
  int handle;
  struct kvm_run *run;
  _Atomic int stop;
  /* The thread running it now (NULL when JavaScript owns it). */
  _Atomic(pcpu_t *) on;
  /* 1 from assign until the thread has posted it. */
  _Atomic int busy;
  _Atomic int dead;
  uint64_t null_count, null_first, null_last;
} vcpu_t;

typedef struct vm {
  int fd;
  int closed;
} vm_t;

struct pcpu {
  int index;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Atomic(vcpu_t *) assigned;
  _Atomic int sleeping;
  _Atomic int quit;
};

#define MAX_VCPUS 4096
#define MAX_VMS 4096
#define MAX_PCPUS 256
static vcpu_t *vcpus[MAX_VCPUS];
static int nvcpus;
static vm_t vms[MAX_VMS];
static int nvms;
static pcpu_t *pcpus[MAX_PCPUS];
static int npcpus;

/* How long before a deadline the main thread stops sleeping and spins (ns). */
#define DEADLINE_SPIN_NS 40000ull

/* Spin budgets (ns): a thread waiting for its next assignment, the main thread waiting for exits. */
static _Atomic uint64_t thread_spin_ns = 50000;

/* ------------------------------------------------------------------ the posted-exit queue */

#define QCAP 8192
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int waiting;
  _Atomic int count;
  int head;
  uint32_t recs[QCAP][3];
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void post(vcpu_t *v, int handle, int kind, int err) {
  pthread_mutex_lock(&q.mu);
  int n = atomic_load(&q.count);
  if (n < QCAP) {
    int i = (q.head + n) % QCAP;
    q.recs[i][0] = (uint32_t)handle;
    q.recs[i][1] = (uint32_t)kind;
    q.recs[i][2] = (uint32_t)err;
    atomic_store(&q.count, n + 1);
  }
  atomic_store(&v->on, NULL);
  atomic_store(&v->busy, 0);
  if (q.waiting) pthread_cond_signal(&q.cv);
  pthread_mutex_unlock(&q.mu);
}

/* ------------------------------------------------------------------ pCPU threads */

static void kick_handler(int sig) { (void)sig; }

static vcpu_t *take_assignment(pcpu_t *p) {
  uint64_t until = mono_ns() + atomic_load(&thread_spin_ns);
  for (;;) {
    vcpu_t *v = atomic_exchange(&p->assigned, NULL);
    if (v) return v;
    if (atomic_load(&p->quit)) return NULL;
    if (mono_ns() < until) {
      cpu_relax();
      continue;
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->sleeping, 1);
    while (!atomic_load(&p->assigned) && !atomic_load(&p->quit)) pthread_cond_wait(&p->cv, &p->mu);
    atomic_store(&p->sleeping, 0);
    pthread_mutex_unlock(&p->mu);
  }
}

static void run_vcpu(pcpu_t *p, vcpu_t *v, int h) {
  atomic_store(&v->on, p);
  struct kvm_run *run = v->run;
  for (;;) {
    if (atomic_load(&v->stop)) {
      post(v, h, REC_STOPPED, 0);
      return;
    }
    int r = ioctl(v->fd, KVM_RUN, 0);
    if (r < 0) {
      int e = errno;
      if (e == EINTR || e == EAGAIN) continue;
      post(v, h, REC_ERROR, e);
      return;
    }
    uint32_t reason = run->exit_reason;
    if (reason == KVM_EXIT_IO && run->io.port == NULL_PORT && run->io.direction == KVM_EXIT_IO_OUT) {
      uint64_t t = mono_ns();
      if (v->null_count++ == 0) v->null_first = t;
      v->null_last = t;
      continue;
    }
    if (reason == KVM_EXIT_INTR) continue;
    post(v, h, REC_EXIT, 0);
    return;
  }
}

static void *pcpu_main(void *arg) {
  pcpu_t *p = arg;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig_kick);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  char name[16];
  snprintf(name, sizeof name, "xt-pcpu%d", p->index);
  pthread_setname_np(pthread_self(), name);
  for (;;) {
    vcpu_t *v = take_assignment(p);
    if (!v) break;
    run_vcpu(p, v, v->handle);
  }
  return NULL;
}

/* ------------------------------------------------------------------ argument helpers */

static int arg_i32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }
static int arg_f64(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }
static napi_value num(napi_env env, double d) {
  napi_value r;
  napi_create_double(env, d, &r);
  return r;
}
static napi_value i32(napi_env env, int32_t d) {
  napi_value r;
  napi_create_int32(env, d, &r);
  return r;
}

#define ARGS(n)                                                   \
  size_t argc = (n);                                              \
  napi_value argv[(n) > 0 ? (n) : 1];                             \
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < (n)) THROW(env, "too few arguments");

static vcpu_t *get_vcpu(napi_env env, napi_value h) {
  int32_t i;
  if (!arg_i32(env, h, &i) || i < 0 || i >= nvcpus || !vcpus[i]) return NULL;
  return vcpus[i];
}
static vm_t *get_vm(napi_env env, napi_value h) {
  int32_t i;
  if (!arg_i32(env, h, &i) || i < 0 || i >= nvms || vms[i].closed) return NULL;
  return &vms[i];
}

/* ------------------------------------------------------------------ open / capabilities */

static napi_value Open(napi_env env, napi_callback_info info) {
  (void)info;
  if (kvm_fd >= 0) return i32(env, 0);
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    char m[128];
    snprintf(m, sizeof m, "cannot open /dev/kvm: %s", strerror(errno));
    THROW(env, m);
  }
  if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
    close(fd);
    THROW(env, "/dev/kvm: unexpected KVM API version");
  }
  static const struct { int cap; const char *name; } need[] = {
      {KVM_CAP_IRQCHIP, "IRQCHIP"},           {KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI"},
      {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"}, {KVM_CAP_SYNC_REGS, "SYNC_REGS"},
      {KVM_CAP_X86_USER_SPACE_MSR, "X86_USER_SPACE_MSR"}, {KVM_CAP_X86_MSR_FILTER, "X86_MSR_FILTER"},
  };
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
      char m[128];
      snprintf(m, sizeof m, "/dev/kvm lacks KVM_CAP_%s", need[i].name);
      close(fd);
      THROW(env, m);
    }
  }
  run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  int n = 256;
  supported = calloc(1, sizeof(struct kvm_cpuid2) + n * sizeof(struct kvm_cpuid_entry2));
  supported->nent = n;
  if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, supported) < 0) {
    close(fd);
    THROW(env, "KVM_GET_SUPPORTED_CPUID failed");
  }
  /* The exit queue's condition variable times out on CLOCK_MONOTONIC, the engine's clock. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q.cv, &ca);
  pthread_condattr_destroy(&ca);
  sig_kick = SIGRTMIN + 7;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(sig_kick, &sa, NULL);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  kvm_fd = fd;
  return i32(env, 0);
}

/* ------------------------------------------------------------------ host memory */

static void unmap_finalizer(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

/* hostMemory(bytes): one anonymous mapping (MAP_NORESERVE: pages exist once touched). */
static napi_value HostMemory(napi_env env, napi_callback_info info) {
  ARGS(1);
  double bytes;
  if (!arg_f64(env, argv[0], &bytes) || bytes <= 0 || (uint64_t)bytes % 4096) THROW(env, "bad size");
  void *p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) THROW(env, "mmap failed");
  napi_value ab;
  CALL(env, napi_create_external_arraybuffer(env, p, (size_t)bytes, unmap_finalizer, (void *)(uintptr_t)(size_t)bytes, &ab));
  return ab;
}

static int buffer_range(napi_env env, napi_value ab, double off, double len, uint8_t **out) {
  void *data;
  size_t size;
  if (napi_get_arraybuffer_info(env, ab, &data, &size) != napi_ok) return 0;
  if (off < 0 || len < 0 || off + len > (double)size || ((uint64_t)off & 4095) || ((uint64_t)len & 4095)) return 0;
  *out = (uint8_t *)data + (size_t)off;
  return 1;
}

/* scrub(buffer, offset, length): the pages read as zeros afterwards and give their memory back. */
static napi_value Scrub(napi_env env, napi_callback_info info) {
  ARGS(3);
  double off, len;
  uint8_t *p;
  if (!arg_f64(env, argv[1], &off) || !arg_f64(env, argv[2], &len) || !buffer_range(env, argv[0], off, len, &p))
    THROW(env, "scrub: bad range");
  if (madvise(p, (size_t)len, MADV_DONTNEED) < 0) memset(p, 0, (size_t)len);
  return NULL;
}

/* ------------------------------------------------------------------ VMs */

static napi_value CreateVm(napi_env env, napi_callback_info info) {
  (void)info;
  if (kvm_fd < 0) THROW(env, "open() first");
  if (nvms >= MAX_VMS) THROW(env, "too many VMs");
  int fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (fd < 0) THROW(env, "KVM_CREATE_VM failed");
  ioctl(fd, KVM_SET_TSS_ADDR, 0xfffbd000ul); /* needed by VMX hosts, harmless elsewhere */
  if (ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0) {
    close(fd);
    THROW(env, "KVM_CREATE_IRQCHIP failed");
  }
  struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .args = {KVM_MSR_EXIT_REASON_FILTER}};
  if (ioctl(fd, KVM_ENABLE_CAP, &cap) < 0) {
    close(fd);
    THROW(env, "KVM_ENABLE_CAP(X86_USER_SPACE_MSR) failed");
  }
  /* Deny (so: exit to us) reads and writes of the hypercall-page MSR; allow everything else. */
  static uint8_t deny = 0;
  struct kvm_msr_filter f;
  memset(&f, 0, sizeof f);
  f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  f.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
  f.ranges[0].nmsrs = 1;
  f.ranges[0].base = XEN_MSR;
  f.ranges[0].bitmap = &deny;
  if (ioctl(fd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
    close(fd);
    THROW(env, "KVM_X86_SET_MSR_FILTER failed");
  }
  vms[nvms].fd = fd;
  vms[nvms].closed = 0;
  return i32(env, nvms++);
}

/* setSlot(vm, slot, gpa, size, buffer, offset, readonly): size 0 deletes the slot. */
static napi_value SetSlot(napi_env env, napi_callback_info info) {
  ARGS(7);
  vm_t *vm = get_vm(env, argv[0]);
  int32_t slot;
  double gpa, size, off;
  bool ro;
  if (!vm || !arg_i32(env, argv[1], &slot) || !arg_f64(env, argv[2], &gpa) || !arg_f64(env, argv[3], &size) ||
      !arg_f64(env, argv[5], &off) || napi_get_value_bool(env, argv[6], &ro) != napi_ok)
    THROW(env, "setSlot: bad arguments");
  uint8_t *host = NULL;
  if (size > 0 && !buffer_range(env, argv[4], off, size, &host)) THROW(env, "setSlot: range outside the buffer");
  struct kvm_userspace_memory_region r = {
      .slot = (uint32_t)slot,
      .flags = ro ? KVM_MEM_READONLY : 0,
      .guest_phys_addr = (uint64_t)gpa,
      .memory_size = (uint64_t)size,
      .userspace_addr = (uint64_t)(uintptr_t)host,
  };
  if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) return i32(env, -errno);
  return i32(env, 0);
}

/* signalMsi(vm, vector, apicId): a fixed, edge-triggered MSI. Safe from any thread, any time. */
static napi_value SignalMsi(napi_env env, napi_callback_info info) {
  ARGS(3);
  vm_t *vm = get_vm(env, argv[0]);
  int32_t vec, dest;
  if (!vm || !arg_i32(env, argv[1], &vec) || !arg_i32(env, argv[2], &dest)) THROW(env, "signalMsi: bad arguments");
  struct kvm_msi m = {.address_lo = 0xfee00000u | ((uint32_t)dest << 12), .address_hi = 0, .data = (uint32_t)vec & 0xff};
  int r = ioctl(vm->fd, KVM_SIGNAL_MSI, &m);
  return i32(env, r < 0 ? -errno : r);
}

static napi_value DestroyVm(napi_env env, napi_callback_info info) {
  ARGS(1);
  vm_t *vm = get_vm(env, argv[0]);
  if (!vm) return NULL;
  close(vm->fd);
  vm->closed = 1;
  return NULL;
}

/* ------------------------------------------------------------------ vCPUs */

static void set_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t a, uint32_t b, uint32_t cx, uint32_t d) {
  struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
  memset(e, 0, sizeof *e);
  e->function = fn;
  e->eax = a;
  e->ebx = b;
  e->ecx = cx;
  e->edx = d;
}

/* createVcpu(vm, id): Xen's CPUID leaves, sync_regs on, kvm_run mapped. Returns a handle. */
static napi_value CreateVcpu(napi_env env, napi_callback_info info) {
  ARGS(2);
  vm_t *vm = get_vm(env, argv[0]);
  int32_t id;
  if (!vm || !arg_i32(env, argv[1], &id) || id < 0) THROW(env, "createVcpu: bad arguments");
  if (nvcpus >= MAX_VCPUS) THROW(env, "too many vCPUs");
  int fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
  if (fd < 0) THROW(env, "KVM_CREATE_VCPU failed");
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) {
    close(fd);
    THROW(env, "mmap(kvm_run) failed");
  }
  size_t n = supported->nent + 8;
  struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
  for (uint32_t i = 0; i < supported->nent; i++) {
    struct kvm_cpuid_entry2 e = supported->entries[i];
    if ((e.function & 0xffffff00u) == 0x40000000u) continue; /* KVM's own leaves: replaced by Xen's */
    if (e.function == 1) {
      /* Instructions this host's ring-0 emulator cannot run: hide them (kvm.md §1). */
      e.ecx &= ~((1u << 13) | (1u << 23) | (1u << 26) | (1u << 27)); /* CX16 POPCNT XSAVE OSXSAVE */
      e.ecx |= 1u << 31;                                              /* hypervisor present */
    }
    if (e.function == 7 && e.index == 0) e.ebx &= ~(1u << 20); /* SMAP */
    c->entries[c->nent++] = e;
  }
  uint32_t sig[3];
  memcpy(sig, "XenVMMXenVMM", 12);
  set_entry(c, 0x40000000, 0x40000005, sig[0], sig[1], sig[2]);
  set_entry(c, 0x40000001, (4u << 16) | 17u, 0, 0, 0);  /* Xen 4.17 */
  set_entry(c, 0x40000002, 1, XEN_MSR, 0, 0);           /* 1 hypercall page, via MSR 0x40000000 */
  set_entry(c, 0x40000003, 0, 0, 0, 0);
  set_entry(c, 0x40000004, (1u << 3) | (1u << 6), (uint32_t)id, 0, 0); /* VCPU_ID_PRESENT, UPCALL_VECTOR */
  set_entry(c, 0x40000005, 0, 0, 0, 0);
  int r = ioctl(fd, KVM_SET_CPUID2, c);
  free(c);
  if (r < 0) {
    munmap(run, run_size);
    close(fd);
    THROW(env, "KVM_SET_CPUID2 failed");
  }
  run->kvm_valid_regs = KVM_SYNC_X86_REGS;
  vcpu_t *v = calloc(1, sizeof *v);
  v->fd = fd;
  v->vm = (int)(vm - vms);
  v->id = id;
  v->run = run;
  v->handle = nvcpus;
  vcpus[nvcpus] = v;
  return i32(env, nvcpus++);
}

/* vcpuRun(handle): kvm_run as an ArrayBuffer (valid until destroyVcpu). */
static napi_value VcpuRun(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v) THROW(env, "bad vcpu");
  napi_value ab;
  CALL(env, napi_create_external_arraybuffer(env, v->run, (size_t)run_size, NULL, NULL, &ab));
  return ab;
}

/* setupLongMode(handle, rip, rsp, rsi, rdi, cr3): 64-bit ring 0, paging on at cr3. */
static napi_value SetupLongMode(napi_env env, napi_callback_info info) {
  ARGS(6);
  vcpu_t *v = get_vcpu(env, argv[0]);
  double rip, rsp, rsi, rdi, cr3;
  if (!v || !arg_f64(env, argv[1], &rip) || !arg_f64(env, argv[2], &rsp) || !arg_f64(env, argv[3], &rsi) ||
      !arg_f64(env, argv[4], &rdi) || !arg_f64(env, argv[5], &cr3))
    THROW(env, "setupLongMode: bad arguments");
  struct kvm_sregs s;
  if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0) THROW(env, "KVM_GET_SREGS failed");
  struct kvm_segment cs = {.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1};
  struct kvm_segment ds = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1};
  s.cs = cs;
  s.ds = s.es = s.fs = s.gs = s.ss = ds;
  s.cr0 = 0x80050033; /* PG WP NE ET MP PE */
  s.cr3 = (uint64_t)cr3;
  s.cr4 = 0x20;       /* PAE */
  s.efer = 0x500;     /* LME LMA */
  if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0) THROW(env, "KVM_SET_SREGS failed");
  struct kvm_regs r;
  memset(&r, 0, sizeof r);
  r.rip = (uint64_t)rip;
  r.rsp = (uint64_t)rsp;
  r.rsi = (uint64_t)rsi;
  r.rdi = (uint64_t)rdi;
  r.rflags = 2;
  if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) THROW(env, "KVM_SET_REGS failed");
  return NULL;
}

static napi_value TscKhz(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v) THROW(env, "bad vcpu");
  int r = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
  return i32(env, r < 0 ? -errno : r);
}

/* destroyVcpu(handle): only a vCPU no thread runs (JavaScript owns it, or stopSync returned). */
static napi_value DestroyVcpu(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v || atomic_load(&v->dead)) return NULL;
  if (atomic_load(&v->busy)) THROW(env, "destroyVcpu: the vCPU is still running");
  atomic_store(&v->dead, 1);
  munmap(v->run, run_size);
  close(v->fd);
  return NULL;
}

/* ------------------------------------------------------------------ running */

/* startThreads(n): n new pCPU threads (each host has its own); returns the index of the first. */
static napi_value StartThreads(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t n;
  if (!arg_i32(env, argv[0], &n) || n < 0 || npcpus + n > MAX_PCPUS) THROW(env, "bad thread count");
  int first = npcpus;
  while (npcpus < first + n) {
    pcpu_t *p = calloc(1, sizeof *p);
    p->index = npcpus;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&p->th, NULL, pcpu_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) THROW(env, "pthread_create failed");
    pcpus[npcpus++] = p;
  }
  return i32(env, first);
}

/* quitThreads(first, n): those threads end once idle (their host is gone). */
static napi_value QuitThreads(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t first, n;
  if (!arg_i32(env, argv[0], &first) || !arg_i32(env, argv[1], &n) || first < 0 || n < 0 || first + n > npcpus)
    THROW(env, "bad threads");
  for (int i = first; i < first + n; i++) {
    pcpu_t *p = pcpus[i];
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

/* assign(thread, vcpu): the thread runs the vCPU until an exit or a stop. */
static napi_value Assign(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t t;
  vcpu_t *v = get_vcpu(env, argv[1]);
  if (!arg_i32(env, argv[0], &t) || t < 0 || t >= npcpus || !v || atomic_load(&v->dead)) THROW(env, "assign: bad arguments");
  if (atomic_exchange(&v->busy, 1)) THROW(env, "assign: the vCPU is already running");
  pcpu_t *p = pcpus[t];
  atomic_store(&v->stop, 0);
  v->run->immediate_exit = 0;
  vcpu_t *prev = atomic_exchange(&p->assigned, v);
  if (prev) {
    atomic_store(&p->assigned, prev);
    atomic_store(&v->busy, 0);
    THROW(env, "assign: the thread already has a vCPU waiting");
  }
  if (atomic_load(&p->sleeping)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

static void request_stop(vcpu_t *v) {
  v->run->immediate_exit = 1;
  atomic_store(&v->stop, 1);
  pcpu_t *p = atomic_load(&v->on);
  if (p) pthread_kill(p->th, sig_kick);
}

/* stop(vcpu): make KVM_RUN return soon; the thread then posts the vCPU (STOPPED or an exit). */
static napi_value Stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v || !atomic_load(&v->busy)) return NULL;
  request_stop(v);
  return NULL;
}

/* stopSync(vcpu): stop, and wait until no thread runs it (its record stays queued). */
static napi_value StopSync(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v) return NULL;
  uint64_t t0 = mono_ns();
  while (atomic_load(&v->busy)) {
    /* A thread may pick the vCPU up after our first signal: keep signalling until it posts. */
    request_stop(v);
    if (mono_ns() - t0 > 5000000000ull) THROW(env, "stopSync: the vCPU did not stop within 5 s");
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/*
 * wait(deadlineNs, spinNs): posted records, as a flat array [handle, kind, errno, ...], once at
 * least one is there or the monotonic clock reaches deadlineNs (Infinity: no deadline). Spins for
 * up to spinNs first, then sleeps.
 */
static napi_value Wait(napi_env env, napi_callback_info info) {
  ARGS(2);
  double deadline, spin;
  if (!arg_f64(env, argv[0], &deadline) || !arg_f64(env, argv[1], &spin)) THROW(env, "wait: bad arguments");
  uint64_t now = mono_ns();
  uint64_t dl = deadline >= 1.8e19 ? UINT64_MAX : deadline <= 0 ? 0 : (uint64_t)deadline;
  if (atomic_load(&q.count) == 0 && now < dl && spin > 0) {
    uint64_t until = now + (uint64_t)spin;
    if (until > dl) until = dl;
    while (atomic_load(&q.count) == 0 && (now = mono_ns()) < until) cpu_relax();
  }
  pthread_mutex_lock(&q.mu);
  while (atomic_load(&q.count) == 0 && (now = mono_ns()) < dl) {
    /* Sleep until a little before the deadline (a wake-up from sleep is late by tens of µs on a
     * virtual machine), then spin the rest: the engine's timers fire on time. */
    if (dl != UINT64_MAX && dl - now <= DEADLINE_SPIN_NS) {
      pthread_mutex_unlock(&q.mu);
      while (atomic_load(&q.count) == 0 && mono_ns() < dl) cpu_relax();
      pthread_mutex_lock(&q.mu);
      break;
    }
    q.waiting = 1;
    if (dl == UINT64_MAX) {
      pthread_cond_wait(&q.cv, &q.mu);
    } else {
      uint64_t wake = dl - DEADLINE_SPIN_NS;
      struct timespec ts = {.tv_sec = (time_t)(wake / 1000000000ull), .tv_nsec = (long)(wake % 1000000000ull)};
      pthread_cond_timedwait(&q.cv, &q.mu, &ts);
    }
    q.waiting = 0;
  }
  int n = atomic_load(&q.count);
  napi_value arr;
  napi_create_array_with_length(env, (size_t)n * 3, &arr);
  for (int i = 0; i < n; i++) {
    int k = (q.head + i) % QCAP;
    for (int j = 0; j < 3; j++) napi_set_element(env, arr, (uint32_t)(i * 3 + j), i32(env, (int32_t)q.recs[k][j]));
  }
  q.head = (q.head + n) % QCAP;
  atomic_store(&q.count, 0);
  pthread_mutex_unlock(&q.mu);
  return arr;
}

/* Wake a main thread sleeping in wait() (e.g. live input arrived). */
static napi_value Notify(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&q.mu);
  pthread_cond_signal(&q.cv);
  pthread_mutex_unlock(&q.mu);
  return NULL;
}

/* ------------------------------------------------------------------ clocks and statistics */

static napi_value Now(napi_env env, napi_callback_info info) {
  (void)info;
  return num(env, (double)mono_ns());
}

/* tscPair(): [host TSC, CLOCK_MONOTONIC ns] read back to back (the guest's TSC is the host's). */
static napi_value TscPair(napi_env env, napi_callback_info info) {
  (void)info;
  uint64_t a = rdtsc();
  uint64_t t = mono_ns();
  uint64_t b = rdtsc();
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, (double)(a / 2 + b / 2)));
  napi_set_element(env, arr, 1, num(env, (double)t));
  return arr;
}

/* nullExits(vcpu): [count, first ns, last ns] of bench null-port exits handled here; resets them. */
static napi_value NullExits(napi_env env, napi_callback_info info) {
  ARGS(1);
  vcpu_t *v = get_vcpu(env, argv[0]);
  if (!v) THROW(env, "bad vcpu");
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  napi_set_element(env, arr, 0, num(env, (double)v->null_count));
  napi_set_element(env, arr, 1, num(env, (double)v->null_first));
  napi_set_element(env, arr, 2, num(env, (double)v->null_last));
  v->null_count = 0;
  return arr;
}

static napi_value SetThreadSpin(napi_env env, napi_callback_info info) {
  ARGS(1);
  double ns;
  if (!arg_f64(env, argv[0], &ns) || ns < 0) THROW(env, "bad spin");
  atomic_store(&thread_spin_ns, (uint64_t)ns);
  return NULL;
}

/* ------------------------------------------------------------------ module */

#define OFF(f) offsetof(struct kvm_run, f)
#define REG(f) (offsetof(struct kvm_run, s.regs.regs) + offsetof(struct kvm_regs, f))

static napi_value Init(napi_env env, napi_value exports) {
  static const struct { const char *name; napi_callback fn; } fns[] = {
      {"open", Open},           {"hostMemory", HostMemory}, {"scrub", Scrub},         {"createVm", CreateVm},
      {"setSlot", SetSlot},     {"signalMsi", SignalMsi},   {"destroyVm", DestroyVm}, {"createVcpu", CreateVcpu},
      {"vcpuRun", VcpuRun},     {"setupLongMode", SetupLongMode}, {"tscKhz", TscKhz}, {"destroyVcpu", DestroyVcpu},
      {"startThreads", StartThreads}, {"quitThreads", QuitThreads}, {"assign", Assign},  {"stop", Stop},           {"stopSync", StopSync},
      {"wait", Wait},           {"notify", Notify},         {"now", Now},             {"tscPair", TscPair},
      {"nullExits", NullExits}, {"setThreadSpin", SetThreadSpin},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  static const struct { const char *name; double v; } consts[] = {
      {"HC_PORT", HC_PORT},
      {"NULL_PORT", NULL_PORT},
      {"REC_EXIT", REC_EXIT},
      {"REC_STOPPED", REC_STOPPED},
      {"REC_ERROR", REC_ERROR},
      {"RUN_SIZE_MIN", sizeof(struct kvm_run)},
      {"OFF_IMMEDIATE_EXIT", OFF(immediate_exit)},
      {"OFF_EXIT_REASON", OFF(exit_reason)},
      {"OFF_IO_DIRECTION", OFF(io.direction)},
      {"OFF_IO_SIZE", OFF(io.size)},
      {"OFF_IO_PORT", OFF(io.port)},
      {"OFF_IO_COUNT", OFF(io.count)},
      {"OFF_IO_DATA_OFFSET", OFF(io.data_offset)},
      {"OFF_MMIO_PHYS", OFF(mmio.phys_addr)},
      {"OFF_MMIO_LEN", OFF(mmio.len)},
      {"OFF_MMIO_IS_WRITE", OFF(mmio.is_write)},
      {"OFF_MSR_ERROR", OFF(msr.error)},
      {"OFF_MSR_INDEX", OFF(msr.index)},
      {"OFF_MSR_DATA", OFF(msr.data)},
      {"OFF_INTERNAL_SUBERROR", OFF(internal.suberror)},
      {"OFF_FAIL_ENTRY_REASON", OFF(fail_entry.hardware_entry_failure_reason)},
      {"OFF_VALID_REGS", OFF(kvm_valid_regs)},
      {"OFF_DIRTY_REGS", OFF(kvm_dirty_regs)},
      {"OFF_RAX", REG(rax)},
      {"OFF_RBX", REG(rbx)},
      {"OFF_RCX", REG(rcx)},
      {"OFF_RDX", REG(rdx)},
      {"OFF_RSI", REG(rsi)},
      {"OFF_RDI", REG(rdi)},
      {"OFF_RSP", REG(rsp)},
      {"OFF_R8", REG(r8)},
      {"OFF_R10", REG(r10)},
      {"OFF_RIP", REG(rip)},
      {"OFF_RFLAGS", REG(rflags)},
      {"SYNC_X86_REGS", KVM_SYNC_X86_REGS},
      {"EXIT_IO", KVM_EXIT_IO},
      {"EXIT_HLT", KVM_EXIT_HLT},
      {"EXIT_MMIO", KVM_EXIT_MMIO},
      {"EXIT_SHUTDOWN", KVM_EXIT_SHUTDOWN},
      {"EXIT_FAIL_ENTRY", KVM_EXIT_FAIL_ENTRY},
      {"EXIT_INTERNAL_ERROR", KVM_EXIT_INTERNAL_ERROR},
      {"EXIT_X86_RDMSR", KVM_EXIT_X86_RDMSR},
      {"EXIT_X86_WRMSR", KVM_EXIT_X86_WRMSR},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    napi_set_named_property(env, exports, consts[i].name, num(env, consts[i].v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
