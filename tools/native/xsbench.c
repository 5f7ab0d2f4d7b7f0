/*
 * xenstore throughput client (xenotype's own code), built on Xen's libxenstore exactly as the
 * reference figures were measured: one persistent connection (xs_open(0), which honours
 * XENSTORED_PATH), 2000 distinct keys, synchronous requests. Prints one JSON object of ops/s:
 *   write_new  xs_write of 2000 new nodes
 *   write      xs_write overwriting those nodes, round robin
 *   read       xs_read of those nodes, round robin
 *   tx         transactions per second: start + xs_write + commit (retried on EAGAIN)
 * Usage: xsbench [ops-per-phase] [transactions]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#define KEYS 2000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	int ntx = argc > 2 ? atoi(argv[2]) : 5000;
	struct xs_handle *h = xs_open(0);
	char path[64], val[32];
	double t0, wn, w, r, tx;
	unsigned int len;
	int i;

	if (!h) {
		perror("xs_open");
		return 2;
	}
	xs_rm(h, XBT_NULL, "/bench");

	t0 = now();
	for (i = 0; i < KEYS; i++) {
		snprintf(path, sizeof(path), "/bench/k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		if (!xs_write(h, XBT_NULL, path, val, strlen(val))) { perror("write"); return 1; }
	}
	wn = KEYS / (now() - t0);

	t0 = now();
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/bench/k%d", i % KEYS);
		snprintf(val, sizeof(val), "w%d", i);
		if (!xs_write(h, XBT_NULL, path, val, strlen(val))) { perror("write"); return 1; }
	}
	w = n / (now() - t0);

	t0 = now();
	for (i = 0; i < n; i++) {
		char *v;
		snprintf(path, sizeof(path), "/bench/k%d", i % KEYS);
		v = xs_read(h, XBT_NULL, path, &len);
		if (!v) { perror("read"); return 1; }
		free(v);
	}
	r = n / (now() - t0);

	t0 = now();
	for (i = 0; i < ntx; i++) {
		for (;;) {
			xs_transaction_t t = xs_transaction_start(h);
			if (t == XBT_NULL) { perror("transaction_start"); return 1; }
			snprintf(path, sizeof(path), "/bench/k%d", i % KEYS);
			if (!xs_write(h, t, path, "t", 1)) { perror("tx write"); return 1; }
			if (xs_transaction_end(h, t, false))
				break;
			if (errno != EAGAIN) { perror("transaction_end"); return 1; }
		}
	}
	tx = ntx / (now() - t0);

	xs_rm(h, XBT_NULL, "/bench");
	xs_close(h);
	printf("{\"write_new\": %.0f, \"write\": %.0f, \"read\": %.0f, \"tx\": %.0f}\n", wn, w, r, tx);
	return 0;
}
