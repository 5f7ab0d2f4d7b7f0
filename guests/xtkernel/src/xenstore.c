/*
 * A xenstore client over the store ring page (io/xs_wire.h): one request at a time, no
 * transactions, no watches (waiters poll). Relative paths are relative to /local/domain/<domid>,
 * resolved by xenstored as for any guest.
 */
#include "xt.h"

static struct xenstore_domain_interface *ring(void) { return gfn_ptr(start_info->store_mfn); }

/* Wait until cond() holds, taking store events as they come. */
static void wait_store(int (*cond)(void))
{
  evtchn_port_t port = start_info->store_evtchn;
  for (;;) {
    if (cond()) return;
    poll_events();
    evtchn_fired(port);
    if (cond()) return;
    block();
  }
}

static int req_space(void)
{
  struct xenstore_domain_interface *x = ring();
  return x->req_prod - x->req_cons < XENSTORE_RING_SIZE;
}
static int rsp_data(void)
{
  struct xenstore_domain_interface *x = ring();
  return x->rsp_prod != x->rsp_cons;
}

static void write_bytes(const void *data, size_t len)
{
  struct xenstore_domain_interface *x = ring();
  const char *p = data;
  while (len) {
    wait_store(req_space);
    XENSTORE_RING_IDX prod = x->req_prod;
    mb();
    while (len && prod - x->req_cons < XENSTORE_RING_SIZE) {
      x->req[MASK_XENSTORE_IDX(prod++)] = *p++;
      len--;
    }
    wmb();
    x->req_prod = prod;
    evtchn_notify(start_info->store_evtchn);
  }
}

static void read_bytes(void *data, size_t len)
{
  struct xenstore_domain_interface *x = ring();
  char *p = data;
  while (len) {
    wait_store(rsp_data);
    XENSTORE_RING_IDX cons = x->rsp_cons;
    rmb();
    while (len && cons != x->rsp_prod) {
      if (p) *p++ = x->rsp[MASK_XENSTORE_IDX(cons)];
      cons++;
      len--;
    }
    mb();
    x->rsp_cons = cons;
    evtchn_notify(start_info->store_evtchn);
  }
}

static const struct { const char *name; int err; } errs[] = {
    {"ENOENT", 2}, {"EACCES", 13}, {"EEXIST", 17}, {"EISDIR", 21}, {"EINVAL", 22}, {"ENOSPC", 28},
    {"EROFS", 30}, {"EAGAIN", 11}, {"EBUSY", 16}, {"E2BIG", 7},   {"EPERM", 1},  {"ENOSYS", 38},
};

static uint32_t req_id;

/* One request: payload = the given strings, each with its NUL unless it is the last of a write. */
static int talk(uint32_t type, const char *a, int a_nul, const char *b, size_t blen, char *out, size_t n)
{
  struct xsd_sockmsg m = {.type = type, .req_id = ++req_id, .tx_id = 0};
  size_t alen = strlen(a) + (a_nul ? 1 : 0);
  m.len = (uint32_t)(alen + (b ? blen : 0));
  write_bytes(&m, sizeof m);
  write_bytes(a, alen);
  if (b) write_bytes(b, blen);
  for (;;) {
    struct xsd_sockmsg r;
    read_bytes(&r, sizeof r);
    if (r.len > XENSTORE_PAYLOAD_MAX) panic("xenstore: reply of %u bytes", r.len);
    if (r.type == XS_WATCH_EVENT) {
      read_bytes(0, r.len);
      continue;
    }
    char buf[XENSTORE_PAYLOAD_MAX + 1];
    read_bytes(buf, r.len);
    buf[r.len] = 0;
    if (r.type == XS_ERROR) {
      for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (!strcmp(buf, errs[i].name)) return -errs[i].err;
      return -XT_EINVAL;
    }
    size_t k = r.len < n ? r.len : n;
    if (out) memcpy(out, buf, k);
    if (out && n) out[k < n ? k : n - 1] = 0;
    return (int)r.len;
  }
}

int xs_read(const char *path, char *out, size_t n) { return talk(XS_READ, path, 1, 0, 0, out, n); }
int xs_directory(const char *path, char *out, size_t n) { return talk(XS_DIRECTORY, path, 1, 0, 0, out, n); }

int xs_write(const char *path, const char *value)
{
  int r = talk(XS_WRITE, path, 1, value, strlen(value), 0, 0);
  return r < 0 ? r : 0;
}

/* Poll `path` until it reads `want` (every 1 ms), or the timeout passes: 0, or -1 on timeout. */
int xs_wait_value(const char *path, const char *want, uint64_t timeout_ns)
{
  uint64_t end = now_ns() + timeout_ns;
  char buf[64];
  for (;;) {
    if (xs_read(path, buf, sizeof buf) >= 0 && !strcmp(buf, want)) return 0;
    if (now_ns() > end) return -1;
    sleep_until(now_ns() + 1000000);
  }
}
