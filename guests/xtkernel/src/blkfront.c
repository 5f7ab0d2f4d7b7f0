/*
 * blkfront (io/blkif.h, Xen's own ring macros): the xenbus handshake a Linux or Mini-OS blkfront
 * does, polled instead of watched — find our first vbd, wait for the backend's InitWait, grant a
 * ring page, allocate an event channel, publish ring-ref / event-channel / protocol and
 * Initialised, wait for Connected, read the disk's size, switch to Connected — then I/O with up to
 * 32 requests of up to 11 granted pages in flight.
 */
#include "xt.h"

#define XS_TIMEOUT 20000000000ULL

static int read_node(const char *dir, const char *node, char *out, size_t n)
{
  char path[160];
  snprintf(path, sizeof path, "%s/%s", dir, node);
  return xs_read(path, out, n);
}

static int write_node(const char *dir, const char *node, const char *v)
{
  char path[160];
  snprintf(path, sizeof path, "%s/%s", dir, node);
  return xs_write(path, v);
}

int blkfront_connect(struct blkfront *b)
{
  char buf[256], v[32];
  int n = xs_directory("device/vbd", buf, sizeof buf);
  if (n <= 0) return -1;
  b->devid = (int)parse_long(buf, -1);
  snprintf(b->front, sizeof b->front, "device/vbd/%d", b->devid);
  if (read_node(b->front, "backend", b->backend, sizeof b->backend) < 0) return -2;
  if (read_node(b->front, "backend-id", v, sizeof v) < 0) return -3;
  b->backend_id = (domid_t)parse_long(v, 0);
  char st[160];
  snprintf(st, sizeof st, "%s/state", b->backend);
  if (xs_wait_value(st, "2", XS_TIMEOUT)) return -4; /* XenbusStateInitWait */

  unsigned long g = page_alloc();
  blkif_sring_t *s = gfn_ptr(g);
  SHARED_RING_INIT(s);
  FRONT_RING_INIT(&b->ring, s, PAGE_SIZE);
  b->ring_ref = grant_page(b->backend_id, g, 0);
  if (evtchn_alloc_unbound(b->backend_id, &b->port)) return -5;

  snprintf(v, sizeof v, "%u", b->ring_ref);
  if (write_node(b->front, "ring-ref", v)) return -6;
  snprintf(v, sizeof v, "%u", b->port);
  if (write_node(b->front, "event-channel", v)) return -6;
  if (write_node(b->front, "protocol", XEN_IO_PROTO_ABI_NATIVE)) return -6;
  if (write_node(b->front, "state", "3")) return -6; /* XenbusStateInitialised */
  if (xs_wait_value(st, "4", XS_TIMEOUT)) return -7;   /* XenbusStateConnected */
  if (read_node(b->backend, "sectors", v, sizeof v) < 0) return -8;
  b->sectors = (uint64_t)parse_long(v, 0);
  b->sector_size = read_node(b->backend, "sector-size", v, sizeof v) < 0 ? 512 : (unsigned)parse_long(v, 512);
  if (write_node(b->front, "state", "4")) return -9;
  return 0;
}

struct slot {
  int busy;
  unsigned nseg;
  grant_ref_t gref[BLKIF_MAX_SEGMENTS_PER_REQUEST];
  int16_t status;
};

int blkfront_io(struct blkfront *b, int write, uint64_t sector, void *buf, unsigned long count, unsigned depth)
{
  enum { NSLOT = 32 };
  static struct slot slots[NSLOT];
  unsigned per_page = PAGE_SIZE / b->sector_size;
  unsigned long max_sect = BLKIF_MAX_SEGMENTS_PER_REQUEST * per_page;
  unsigned long done_sect = 0;
  unsigned inflight = 0;
  int result = 0;
  if (depth > NSLOT) depth = NSLOT;
  if (depth == 0) depth = 1;
  uint8_t *p = buf;
  while (done_sect < count || inflight) {
    int pushed = 0;
    while (done_sect < count && inflight < depth && !RING_FULL(&b->ring)) {
      unsigned id = 0;
      while (slots[id].busy) id++;
      unsigned long n = count - done_sect < max_sect ? count - done_sect : max_sect;
      unsigned nseg = (unsigned)((n + per_page - 1) / per_page);
      blkif_request_t *r = RING_GET_REQUEST(&b->ring, b->ring.req_prod_pvt);
      r->operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
      r->nr_segments = (uint8_t)nseg;
      r->handle = (blkif_vdev_t)b->devid;
      r->id = id;
      r->sector_number = sector + done_sect;
      for (unsigned i = 0; i < nseg; i++) {
        unsigned long secs = n - (unsigned long)i * per_page < per_page ? n - (unsigned long)i * per_page : per_page;
        grant_ref_t g = grant_page(b->backend_id, ptr_gfn(p + (done_sect + (unsigned long)i * per_page) * b->sector_size), write);
        slots[id].gref[i] = g;
        r->seg[i].gref = g;
        r->seg[i].first_sect = 0;
        r->seg[i].last_sect = (uint8_t)(secs - 1);
      }
      slots[id].busy = 1;
      slots[id].nseg = nseg;
      b->ring.req_prod_pvt++;
      done_sect += n;
      inflight++;
      pushed = 1;
    }
    if (pushed) {
      int notify;
      RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&b->ring, notify);
      if (notify) evtchn_notify(b->port);
    }
    if (!inflight) continue;
    int more;
    RING_FINAL_CHECK_FOR_RESPONSES(&b->ring, more);
    if (!more) {
      wait_event(b->port);
      continue;
    }
    while (RING_HAS_UNCONSUMED_RESPONSES(&b->ring)) {
      blkif_response_t *rsp = RING_GET_RESPONSE(&b->ring, b->ring.rsp_cons);
      b->ring.rsp_cons++;
      uint64_t id = rsp->id;
      if (id >= NSLOT || !slots[id].busy) continue;
      for (unsigned i = 0; i < slots[id].nseg; i++) grant_end(slots[id].gref[i]);
      slots[id].busy = 0;
      if (rsp->status != BLKIF_RSP_OKAY && !result) result = rsp->status;
      inflight--;
    }
  }
  return result;
}
