/*
 * LD_PRELOAD shim that lets Xen 4.17's C xenstored run on a machine without a hypervisor, so the
 * benchmarks and interop tests can measure the real daemon beside ours (xenotype's own code).
 *
 * xenstored needs, at start-up, a privcmd handle (xc_interface_open), the event-channel and
 * grant devices, dom0's store event channel (/proc/xen/xsd_port) and dom0's ring page
 * (/proc/xen/xsd_kva); with --no-domain-init it crashes on its first request (its database is only
 * created when dom0 is introduced). This shim answers those calls:
 *   - domains: 0 exists, plus the comma-separated ids in $XS_SHIM_DOMAINS;
 *   - /proc/xen/xsd_port reads "1"; /proc/xen/xsd_kva is a zeroed 4 KiB page (nobody writes it);
 *   - event channels bind to fresh port numbers and never fire; grant maps give zeroed pages.
 * Only socket clients talk to the daemon then, which is all the benchmark needs.
 *
 * With $XS_SHIM_DIR set, guests can be emulated too (the differential tests do): domain existence
 * is read from $XS_SHIM_DIR/domains (comma-separated ids) at every query; a guest's ring page
 * (grant map of domain D) is the shared file $XS_SHIM_DIR/ring-D, which a test reads and writes;
 * the event channel device is the FIFO $XS_SHIM_DIR/evtchn: each byte written wakes the daemon,
 * 'V' as VIRQ_DOM_EXC (domains re-checked), anything else as a guest's store port.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

static int syscall_open(const char *path);
static int shim_pipe[2] = { -1, -1 };
static int next_port = 10;
static int virq_port = -1;
static char dummy_handle[64];

static const char *shim_dir(void)
{
	const char *d = getenv("XS_SHIM_DIR");
	return d && *d ? d : NULL;
}

/* The domain list: $XS_SHIM_DIR/domains if there is one, else $XS_SHIM_DOMAINS. */
static const char *domain_list(char *buf, size_t len)
{
	char path[512];
	int fd;
	ssize_t n;

	if (!shim_dir())
		return getenv("XS_SHIM_DOMAINS");
	snprintf(path, sizeof(path), "%s/domains", shim_dir());
	fd = syscall_open(path);
	if (fd < 0)
		return "";
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static int dom_exists(uint32_t d)
{
	const char *s;
	char *end;
	char buf[1024];

	if (d == 0)
		return 1;
	s = domain_list(buf, sizeof(buf));
	while (s && *s) {
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		if ((uint32_t)v == d)
			return 1;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int memfd_with(const char *name, const void *data, size_t len, size_t size)
{
	int fd = memfd_create(name, 0);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, size) != 0 || (len && pwrite(fd, data, len, 0) != (ssize_t)len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int fake_open(const char *path)
{
	if (!strcmp(path, "/proc/xen/xsd_port"))
		return memfd_with("xsd_port", "1\n", 2, 2);
	if (!strcmp(path, "/proc/xen/xsd_kva"))
		return memfd_with("xsd_kva", NULL, 0, 4096);
	return -2;
}

static int syscall_open(const char *path)
{
	static int (*real)(const char *, int, ...);

	if (!real)
		real = dlsym(RTLD_NEXT, "open");
	return real(path, O_RDONLY | O_CLOEXEC);
}

int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	mode_t mode = 0;
	va_list ap;
	int fd = fake_open(path);

	if (fd != -2)
		return fd;
	if (!real)
		real = dlsym(RTLD_NEXT, "open");
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	mode_t mode = 0;
	va_list ap;
	int fd = fake_open(path);

	if (fd != -2)
		return fd;
	if (!real)
		real = dlsym(RTLD_NEXT, "open64");
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return real(path, flags, mode);
}

xc_interface *xc_interface_open(xentoollog_logger *l, xentoollog_logger *dl, unsigned flags)
{
	(void)l; (void)dl; (void)flags;
	return (xc_interface *)dummy_handle;
}

int xc_interface_close(xc_interface *xch)
{
	(void)xch;
	return 0;
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid, unsigned int max_doms, xc_dominfo_t *info)
{
	(void)xch;
	if (!max_doms || !dom_exists(first_domid))
		return 0;
	memset(info, 0, sizeof(*info));
	info->domid = first_domid;
	return 1;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	(void)logger; (void)flags;
	if (shim_pipe[0] < 0) {
		if (shim_dir()) {
			static int (*real)(const char *, int, ...);
			char path[512];

			if (!real)
				real = dlsym(RTLD_NEXT, "open");
			snprintf(path, sizeof(path), "%s/evtchn", shim_dir());
			mkfifo(path, 0600);
			shim_pipe[0] = real(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (shim_pipe[0] < 0)
				return NULL;
		} else if (pipe(shim_pipe) != 0)
			return NULL;
	}
	return (xenevtchn_handle *)dummy_handle;
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned int flags)
{
	(void)fd;
	return xenevtchn_open(logger, flags);
}

int xenevtchn_fd(xenevtchn_handle *xce) { (void)xce; return shim_pipe[0]; }
int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port) { (void)xce; (void)port; return 0; }
xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid, evtchn_port_t remote)
{
	(void)xce; (void)domid; (void)remote;
	return next_port++;
}
xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
	(void)xce; (void)virq;
	virq_port = next_port++;
	return virq_port;
}
int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) { (void)xce; (void)port; return 0; }
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	char c;

	(void)xce;
	if (read(shim_pipe[0], &c, 1) != 1) {
		errno = EAGAIN;
		return -1;
	}
	return c == 'V' ? virq_port : 1;
}
int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port) { (void)xce; (void)port; return 0; }

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned int open_flags)
{
	(void)logger; (void)open_flags;
	return (xengnttab_handle *)dummy_handle;
}
int xengnttab_close(xengnttab_handle *xgt) { (void)xgt; return 0; }
int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr) { (void)xgt; (void)nr; return 0; }
void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot)
{
	void *p;

	(void)xgt; (void)ref;
	if (!dom_exists(domid)) {
		errno = ENOENT;
		return NULL;
	}
	if (shim_dir()) {
		static int (*real)(const char *, int, ...);
		char path[512];
		int fd;

		if (!real)
			real = dlsym(RTLD_NEXT, "open");
		snprintf(path, sizeof(path), "%s/ring-%u", shim_dir(), domid);
		fd = real(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, 4096) != 0)
			return NULL;
		p = mmap(NULL, 4096, prot, MAP_SHARED, fd, 0);
		close(fd);
		return p == MAP_FAILED ? NULL : p;
	}
	p = mmap(NULL, 4096, prot, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}
int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	(void)xgt;
	return munmap(start_address, count * 4096);
}
