// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf demo: a coordinator and its workers in separate network namespaces
 * joined by veth pairs through a bridge. For each fan-out it runs
 * scatter-reduces (int32 SUM), checks every result against a reference
 * computed in plain C, and prints the time per collective.
 *
 *   demo [-f FANOUTS] [-c COUNT] [-i ITERATIONS]
 *     -f  comma-separated fan-outs (default 8,64; at most 1024)
 *     -c  int32 elements per contribution (default 256 = 1 KiB)
 *     -i  collectives per fan-out (default 1000)
 *
 * Needs root (namespaces, BPF). Everything it creates is removed on exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"

#define MAX_RANKS	1024

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int run_fanout(struct testlab *tl, int fanout, size_t count, int iters)
{
	uint32_t *ranks = calloc((size_t)fanout, sizeof(*ranks));
	int32_t *got = calloc(count, sizeof(int32_t)), *want = calloc(count, sizeof(int32_t));
	double *lat = calloc((size_t)iters, sizeof(double));
	struct tw_record rec;
	int err, mismatches = 0;
	sg_comm *comm = NULL;
	double sum = 0;

	if (!ranks || !got || !want || !lat) {
		err = -ENOMEM;
		goto out;
	}
	for (int r = 0; r < fanout; r++)
		ranks[r] = (uint32_t)r;
	err = testlab_comm(tl, ranks, (size_t)fanout, 6000, NULL, &comm);
	if (err) {
		fprintf(stderr, "sg_comm_create: %s: %s\n", sg_strerror(err), sg_errmsg());
		goto out;
	}
	for (int i = 0; i < iters; i++) {
		double t0 = now_us();

		err = sg_scatter_reduce(comm, NULL, 0, got, count, SG_INT32, SG_OP_SUM, NULL);
		lat[i] = now_us() - t0;
		if (err) {
			fprintf(stderr, "sg_scatter_reduce: %s: %s\n", sg_strerror(err), sg_errmsg());
			goto out;
		}
		sum += lat[i];
		/* The contributions depend on the collective id the workers saw. */
		tw_shared_read(tl->shared, 0, TW_SCATTER, &rec);
		tw_reference(SG_INT32, SG_OP_SUM, rec.coll_id, count, ranks, (size_t)fanout, want);
		if (memcmp(got, want, count * sizeof(int32_t)))
			mismatches++;
		if (i == 0)
			printf("fan-out %4d: result[0..2] = %d %d %d (reference %d %d %d)\n", fanout,
			       got[0], count > 1 ? got[1] : 0, count > 2 ? got[2] : 0, want[0],
			       count > 1 ? want[1] : 0, count > 2 ? want[2] : 0);
	}
	qsort(lat, (size_t)iters, sizeof(double), cmp_double);
	printf("fan-out %4d: %d scatter-reduces of %zu x int32: %s; per collective "
	       "median %.1f us, p99 %.1f us, mean %.1f us\n",
	       fanout, iters, count,
	       mismatches ? "RESULTS DIFFER FROM THE REFERENCE" : "all match the reference",
	       lat[iters / 2], lat[(size_t)(iters * 0.99)], sum / iters);
	err = mismatches ? -EIO : 0;
out:
	sg_comm_destroy(comm);
	free(ranks);
	free(got);
	free(want);
	free(lat);
	return err;
}

int main(int argc, char **argv)
{
	const char *fanouts = "8,64";
	int iters = 1000, max_fanout = 0, nns, per_ns, opt, err = 0;
	size_t count = 256;
	struct testlab tl;
	char why[256], *list, *tok, *save = NULL;

	while ((opt = getopt(argc, argv, "f:c:i:h")) != -1) {
		switch (opt) {
		case 'f': fanouts = optarg; break;
		case 'c': count = strtoul(optarg, NULL, 0); break;
		case 'i': iters = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-f FANOUTS] [-c COUNT] [-i ITERATIONS]\n", argv[0]);
			return 2;
		}
	}
	list = strdup(fanouts);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int f = atoi(tok);

		if (f < 1 || f > MAX_RANKS) {
			fprintf(stderr, "fan-out %s out of range 1..%d\n", tok, MAX_RANKS);
			return 2;
		}
		if (f > max_fanout)
			max_fanout = f;
	}
	free(list);
	if (count < 1 || count > SG_MAX_MESSAGE_BYTES / 4 || iters < 1) {
		fprintf(stderr, "bad -c or -i\n");
		return 2;
	}
	if (!netlab_can_run(why, sizeof(why))) {
		fprintf(stderr, "demo needs root and network namespaces: %s\n", why);
		return 1;
	}

	/* Workers: up to 64 endpoints per namespace, one server process each. */
	per_ns = max_fanout <= 64 ? 8 : 64;
	nns = (max_fanout + per_ns - 1) / per_ns;
	if (testlab_start(&tl, "sgdemo", nns, per_ns))
		return 1;
	printf("sgbpf demo: coordinator 10.77.0.1 on %s (native XDP gather, TC fan-out); "
	       "%d worker namespaces x %d workers\n", NETLAB_IFNAME, nns, per_ns);
	list = strdup(fanouts);
	for (tok = strtok_r(list, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save))
		err = run_fanout(&tl, atoi(tok), count, iters);
	free(list);
	testlab_stop(&tl);
	if (err)
		fprintf(stderr, "demo failed: %s\n", strerror(-err));
	return err ? 1 : 0;
}
