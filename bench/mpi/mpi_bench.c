// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mpi_bench: Open MPI's MPI_Reduce, MPI_Allreduce and MPI_Bcast measured the
 * way bench/ measures sgbpf, for the comparison in the same results folder.
 *
 * Rank 0 is the root (the sgbpf coordinator); ranks 1..P-1 are the workers,
 * so fanout = P - 1. Contributions are int32 (default) or, with --dtype float,
 * MPI_FLOAT vectors of bytes/4 elements, reduced with MPI_SUM, the element
 * types and op of the sgbpf runs. Rank r contributes c[i] = (r+1)*t(i+1),
 * except c[0] = (r+1)*t(op+1) where op is the sequence number of the
 * collective, so a stale result is caught; t(k) = k for int32 (wrapping),
 * t(k) = (k-1) % 251 + 1 for float, small integers whose sums are exact
 * (and so checked exactly) in any order of addition; the root
 * (every rank for allreduce) checks every element of every result, each
 * worker checks every broadcast it receives. Checking is outside the timed
 * region in latency mode and inside it in throughput mode, as in the sgbpf
 * driver.
 *
 * Each measurement runs for about --budget-ms after a warm-up, at least
 * --min-iters and at most --max-iters collectives; the root decides when to
 * stop and says so in its next message, so all ranks agree.
 *  - latency: one collective at a time. reduce/allreduce: the root
 *    broadcasts a 4-byte request (the collective's number, -1 to stop),
 *    then the collective; timed at the root from the request until it holds
 *    the result, the round trip of an sgbpf scatter-reduce. No barrier: no
 *    rank can run ahead of the request. bcast: an MPI_Allreduce of the
 *    root's go flag (a barrier, not timed), then MPI_Bcast, timed at the
 *    root until it returns (the root's buffer may be reused, which is when
 *    an sgbpf bcast completes too). p50/p99 (nearest rank) and mean;
 *    coll_per_s = 1e6 / mean. Costs over the whole loop for reduce and
 *    allreduce; for bcast the syscall counter is on only inside MPI_Bcast
 *    and CPU/machine time are pro-rated to the timed share of the loop.
 *  - throughput, once per --window value: W > 0: a closed loop of
 *    non-blocking collectives (MPI_Ireduce, MPI_Iallreduce, MPI_Ibcast)
 *    with W in flight on every rank (MPI_Waitany, then the freed slot posts
 *    the next one), run in rounds whose sizes the root broadcasts (not
 *    timed); ops/s at the root over the rounds, p50/p99/mean per collective
 *    from post to completion at the root. W is capped as bench/sgbench.c
 *    caps it (W x fanout x bytes <= --window-bytes, W x fanout <=
 *    --window-msgs), so both run the same window; the row gives the window
 *    used. W = 0: blocking collectives back to back (no window, no request;
 *    workers run ahead), p50/p99/mean are the root's time per call.
 *    Costs over the rounds.
 *
 * Costs at the root: system calls of the root's main thread (a perf counter
 * on the tracepoint raw_syscalls:sys_enter, pid 0 / this thread; tracefs is
 * mounted on /sys/kernel/tracing if needed); CPU time of the root process,
 * all its threads (getrusage(RUSAGE_SELF), user + system: Open MPI runs
 * progress threads of its own); whole-machine CPU (/proc/stat).
 *
 * Output: one CSV row per (collective, size, mode) appended by the root to
 * --out, the header written when the file is empty; the last two columns are
 * nccl-tests' algbw and busbw from the p50 time (bench/stats.h). The root also prints the
 * bytes and packets its network namespace's sg0 (--ifname) received and sent
 * during the measurements, the proof that the TCP BTL used that link.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "include/sgbpf.h"
#include "bench/cpucost.h"
#include "bench/syscount.h"
#include "bench/stats.h"

#define CSV_HEADER "impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us," \
	"coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors," \
	"algbw_gbps,busbw_gbps"
#define MAX_SIZES 32
/* Up to 64 MiB: past sgbpf's own limit (SG_MAX_MESSAGE_BYTES), so the
 * comparison shows the sizes it cannot reach in one collective too. */
#define MAX_BYTES (64u << 20)
#define FLOAT_PERIOD 251u	/* float values: 1..251, exact sums up to 2^24 */
#define MAX_WINDOW 64
#define MAX_PLANS 8
#define MAX_WINDOWS 8

enum coll { C_REDUCE, C_ALLREDUCE, C_BCAST, C_N };
static const char *const coll_name[C_N] = { "reduce", "allreduce", "bcast" };
enum mode { M_LAT, M_TP, M_N };
static const char *const mode_name[M_N] = { "latency", "throughput" };

static struct cfg {
	const char *impl;
	const char *out;
	const char *ifname;
	struct plan {
		int colls[C_N], ncolls;
		unsigned sizes[MAX_SIZES];
		int nsizes;
	} plan[MAX_PLANS];	/* [0]: --colls x --sizes; more from --run */
	int nplans;
	int modes[M_N], nmodes;
	int windows[MAX_WINDOWS], nwindows;
	unsigned long long window_bytes;	/* cap on W x fanout x bytes */
	long window_msgs;			/* cap on W x fanout */
	int warmup;
	long budget_ms;
	long min_iters, max_iters;
	int verbose;
	int fp;			/* --dtype float: MPI_FLOAT, else MPI_INT32_T */
} cfg = {
	.impl = "mpi_tcp",
	.ifname = "sg0",
	.windows = { 16 },
	.nwindows = 1,
	.window_bytes = 16u << 20,
	.window_msgs = 2048,
	.warmup = 5,
	.budget_ms = 300,
	.min_iters = 10,
	.max_iters = 100000,
};

static int rank, nranks;
static MPI_Comm comm;

/* ------------------------------------------------------------------ helpers */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mpi_bench: rank %d: ", rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double rusage_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v. */
static double pct(const double *v, long n, double q)
{
	long k = (long)ceil(q * (double)n);

	if (n <= 0)
		return 0;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* ------------------------------------------------------------------ syscalls */

/* The root's counter (bench/syscount.h), summed over the stretches it is
 * on: the collectives, not the barriers and broadcasts between rounds. */
static struct syscount sc = { .fd = -1 };
static uint64_t sc_total;
static int sc_ok;

static void sc_reset(void)
{
	sc_total = 0;
	sc_ok = sc.fd >= 0;
}

static void sc_enable(void)
{
	if (sc_ok && syscount_start(&sc))
		sc_ok = 0;
}

static void sc_disable(void)
{
	uint64_t n;

	if (!sc_ok)
		return;
	if (syscount_stop(&sc, &n))
		sc_ok = 0;
	else
		sc_total += n;
}

static long long sc_read(void)
{
	return sc_ok ? (long long)sc_total : -1;
}

/* ------------------------------------------------------------------ sg0 counters */

struct netdev {
	unsigned long long rx_bytes, rx_packets, tx_bytes, tx_packets;
	int found;
};

/* /proc/net/dev shows the devices of this process's network namespace. */
static struct netdev netdev_read(const char *ifname)
{
	struct netdev d = { 0 };
	FILE *f = fopen("/proc/net/dev", "r");
	char line[512];
	size_t len = strlen(ifname);

	if (!f)
		return d;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		unsigned long long v[16];

		while (*p == ' ')
			p++;
		if (strncmp(p, ifname, len) || p[len] != ':')
			continue;
		if (sscanf(p + len + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
			   &v[9]) == 10) {
			d.rx_bytes = v[0];
			d.rx_packets = v[1];
			d.tx_bytes = v[8];
			d.tx_packets = v[9];
			d.found = 1;
		}
		break;
	}
	fclose(f);
	return d;
}

/* ------------------------------------------------------------------ data */

struct bufs {
	int w;			/* slots */
	long n;			/* elements */
	int32_t **snd, **rcv;	/* 4-byte elements: int32, or float bits */
};

static MPI_Datatype dtype(void)
{
	return cfg.fp ? MPI_FLOAT : MPI_INT32_T;
}

/* The value term t(k) of the header comment, for k >= 1. */
static uint32_t term(long k)
{
	return cfg.fp ? (uint32_t)((k - 1) % FLOAT_PERIOD) + 1 : (uint32_t)k;
}

/* An integer value as an element: its int32 bits, or the float (exact: the
 * values stay below 2^24 in float mode). */
static int32_t elem(uint32_t v)
{
	float f = (float)v;
	int32_t b;

	if (!cfg.fp)
		return (int32_t)v;
	memcpy(&b, &f, sizeof(b));
	return b;
}

static void bufs_alloc(struct bufs *b, int w, long n)
{
	b->w = w;
	b->n = n;
	b->snd = calloc((size_t)w, sizeof(*b->snd));
	b->rcv = calloc((size_t)w, sizeof(*b->rcv));
	if (!b->snd || !b->rcv)
		die("out of memory");
	for (int s = 0; s < w; s++) {
		b->snd[s] = malloc((size_t)n * 4);
		b->rcv[s] = malloc((size_t)n * 4);
		if (!b->snd[s] || !b->rcv[s])
			die("out of memory (%d buffers of %ld bytes)", 2 * w, n * 4);
		for (long i = 0; i < n; i++) {
			b->snd[s][i] = elem((uint32_t)(rank + 1) * term(i + 1));
			b->rcv[s][i] = elem(term(i + 1));	/* bcast pattern */
		}
	}
}

static void bufs_free(struct bufs *b)
{
	for (int s = 0; s < b->w; s++) {
		free(b->snd[s]);
		free(b->rcv[s]);
	}
	free(b->snd);
	free(b->rcv);
}

#define POISON ((int32_t)0x5a5a5a5a)

/* Fill slot @s for collective number @seq before it is posted. */
static void prepare(enum coll c, struct bufs *b, int s, long seq)
{
	int32_t *r = b->rcv[s];
	long n = b->n;

	switch (c) {
	case C_REDUCE:
	case C_ALLREDUCE:
		b->snd[s][0] = elem((uint32_t)(rank + 1) * term(seq + 1));
		if (c == C_ALLREDUCE || rank == 0) {
			r[0] = POISON;
			r[n - 1] = POISON;
		}
		break;
	case C_BCAST:
		if (rank == 0) {
			r[0] = elem(term(seq + 1));
		} else {
			r[0] = POISON;
			r[n - 1] = POISON;
		}
		break;
	default:
		break;
	}
}

/* Number of wrong elements in slot @s after collective @seq completed here. */
static long check(enum coll c, const struct bufs *b, int s, long seq)
{
	const int32_t *r = b->rcv[s];
	uint32_t sum = (uint32_t)nranks * (uint32_t)(nranks + 1) / 2;
	long n = b->n, bad = 0;

	switch (c) {
	case C_REDUCE:
	case C_ALLREDUCE:
		if (c == C_REDUCE && rank != 0)
			return 0;
		bad += r[0] != elem(sum * term(seq + 1));
		for (long i = 1; i < n; i++)
			bad += r[i] != elem(sum * term(i + 1));
		break;
	case C_BCAST:
		if (rank == 0)
			return 0;
		bad += r[0] != elem(term(seq + 1));
		for (long i = 1; i < n; i++)
			bad += r[i] != elem(term(i + 1));
		break;
	default:
		break;
	}
	return bad;
}

static int post(enum coll c, struct bufs *b, int s, MPI_Request *req)
{
	long n = b->n;

	switch (c) {
	case C_REDUCE:
		return MPI_Ireduce(b->snd[s], b->rcv[s], (int)n, dtype(), MPI_SUM, 0, comm, req);
	case C_ALLREDUCE:
		return MPI_Iallreduce(b->snd[s], b->rcv[s], (int)n, dtype(), MPI_SUM, comm, req);
	case C_BCAST:
		return MPI_Ibcast(b->rcv[s], (int)n, dtype(), 0, comm, req);
	default:
		return MPI_ERR_ARG;
	}
}

static int blocking(enum coll c, struct bufs *b, int s)
{
	long n = b->n;

	switch (c) {
	case C_REDUCE:
		return MPI_Reduce(b->snd[s], b->rcv[s], (int)n, dtype(), MPI_SUM, 0, comm);
	case C_ALLREDUCE:
		return MPI_Allreduce(b->snd[s], b->rcv[s], (int)n, dtype(), MPI_SUM, comm);
	case C_BCAST:
		return MPI_Bcast(b->rcv[s], (int)n, dtype(), 0, comm);
	default:
		return MPI_ERR_ARG;
	}
}

/* ------------------------------------------------------------------ measurements */

struct row {
	long iters;
	int window;
	double p50, p99, mean, per_s, sys, cpu, mcpu;
	long long errors;
};

/* The root's decision to go on: until the budget is spent, at least
 * min_iters and at most max_iters. */
static int root_goes_on(long done, double elapsed_us)
{
	if (done >= cfg.max_iters)
		return 0;
	return done < cfg.min_iters || elapsed_us < (double)cfg.budget_ms * 1000.0;
}

/* One latency iteration, or the end of the loop when the root's @go is 0
 * (returns 1 then, on every rank).
 * reduce/allreduce: the root broadcasts a 4-byte request (the collective's
 * number, from which every rank derives element 0 of its contribution; -1
 * ends the loop), then the collective; the root's time covers both, the
 * round trip an sgbpf scatter-reduce makes.
 * bcast: an MPI_Allreduce of the root's go flag (not timed: a barrier that
 * also ends the loop), then the broadcast, timed with the syscall counter
 * enabled around it. */
static int lat_iter(enum coll c, struct bufs *b, long seq, int go, double *lat,
		    long long *errors)
{
	double ta, tb;

	if (c == C_BCAST) {
		int flag = rank == 0 ? go : 1, all = 0;

		*errors += MPI_Allreduce(&flag, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS;
		if (!all)
			return 1;
		prepare(c, b, 0, seq);
		if (rank == 0)
			sc_enable();
		ta = now_us();
		*errors += MPI_Bcast(b->rcv[0], (int)b->n, dtype(), 0, comm) != MPI_SUCCESS;
		tb = now_us();
		if (rank == 0)
			sc_disable();
	} else {
		int32_t req = go ? (int32_t)seq : -1;

		if (rank == 0)
			prepare(c, b, 0, seq);
		ta = now_us();
		*errors += MPI_Bcast(&req, 1, MPI_INT32_T, 0, comm) != MPI_SUCCESS;
		if (req < 0)
			return 1;
		if (rank != 0)
			prepare(c, b, 0, req);
		*errors += blocking(c, b, 0) != MPI_SUCCESS;
		tb = now_us();
	}
	if (lat)
		*lat = tb - ta;
	*errors += check(c, b, 0, seq) != 0;
	return 0;
}

static void run_latency(enum coll c, long n, struct row *out)
{
	struct bufs b;
	long long errors = 0, all_errors = 0, sys1 = -1;
	double *lat = NULL, timed = 0, c0, c1 = 0, m0, m1 = -1, w0, w1 = 0;
	long iters = 0, seq = 0;
	int barrier = c == C_BCAST;

	bufs_alloc(&b, 1, n);
	if (rank == 0) {
		lat = calloc((size_t)cfg.max_iters, sizeof(*lat));
		if (!lat)
			die("out of memory");
	}

	for (int i = 0; i < cfg.warmup; i++, seq++)
		lat_iter(c, &b, seq, 1, NULL, &errors);

	MPI_Barrier(comm);
	sc_reset();
	if (!barrier)
		sc_enable();
	m0 = cpu_machine_busy_us();
	c0 = rusage_us();
	w0 = now_us();
	/* Bounded: the root stops at max_iters at the latest. */
	for (;; seq++) {
		int go = 1;

		if (rank == 0) {
			go = root_goes_on(iters, now_us() - w0);
			if (!go) {
				/* Stop counting before the request that ends the loop. */
				w1 = now_us();
				if (!barrier)
					sc_disable();
				c1 = rusage_us();
				m1 = cpu_machine_busy_us();
				sys1 = sc_read();
			}
		}
		if (lat_iter(c, &b, seq, go, rank == 0 ? &lat[iters] : NULL, &errors))
			break;
		iters++;
	}

	MPI_Reduce(&errors, &all_errors, 1, MPI_LONG_LONG, MPI_SUM, 0, comm);
	if (rank == 0) {
		double sum = 0, share;

		for (long j = 0; j < iters; j++)
			sum += lat[j];
		timed = sum;
		qsort(lat, (size_t)iters, sizeof(*lat), cmp_double);
		out->iters = iters;
		out->window = 1;
		out->p50 = pct(lat, iters, 0.50);
		out->p99 = pct(lat, iters, 0.99);
		out->mean = sum / (double)iters;
		out->per_s = out->mean > 0 ? 1e6 / out->mean : 0;
		out->sys = sys1 >= 0 ? (double)sys1 / (double)iters : -1;
		/* With barriers, CPU time is pro-rated to the timed share of the
		 * loop, as the machine's; without, the whole loop is the
		 * collectives (and the checks). */
		share = barrier && w1 > w0 ? timed / (w1 - w0) : 1;
		out->cpu = (c1 - c0) * share / (double)iters;
		out->mcpu = m0 >= 0 && m1 >= 0 ? (m1 - m0) * share / (double)iters : -1;
		out->errors = all_errors;
	}
	free(lat);
	bufs_free(&b);
}

/* Closed loop of @iters collectives, @w in flight; @lat gets the root's
 * post-to-completion times when not NULL. Returns the errors seen here. */
static long long window_loop(enum coll c, struct bufs *b, int w, long iters, long *seq,
			     double *lat)
{
	MPI_Request req[MAX_WINDOW];
	long slot_seq[MAX_WINDOW];
	double posted_at[MAX_WINDOW];
	long posted = 0, done = 0, base = *seq;
	long long errors = 0;

	if (w == 0) {
		/* Blocking collectives back to back, no window. */
		for (long j = 0; j < iters; j++) {
			double ta;

			prepare(c, b, 0, base + j);
			ta = now_us();
			errors += blocking(c, b, 0) != MPI_SUCCESS;
			if (lat)
				lat[j] = now_us() - ta;
			errors += check(c, b, 0, base + j) != 0;
		}
		*seq = base + iters;
		return errors;
	}
	for (int s = 0; s < w; s++)
		req[s] = MPI_REQUEST_NULL;
	for (int s = 0; s < w && posted < iters; s++, posted++) {
		slot_seq[s] = base + posted;
		prepare(c, b, s, slot_seq[s]);
		posted_at[s] = now_us();
		if (post(c, b, s, &req[s]) != MPI_SUCCESS) {
			errors++;
			req[s] = MPI_REQUEST_NULL;
		}
	}
	/* Every pass completes one request or finds none left: bounded by
	 * iters + w passes. */
	for (long pass = 0; done < iters && pass < iters + w; pass++) {
		int idx = MPI_UNDEFINED;

		if (MPI_Waitany(w, req, &idx, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			errors++;
		if (idx == MPI_UNDEFINED)
			break;
		if (lat)
			lat[done] = now_us() - posted_at[idx];
		errors += check(c, b, idx, slot_seq[idx]) != 0;
		done++;
		if (posted < iters) {
			slot_seq[idx] = base + posted++;
			prepare(c, b, idx, slot_seq[idx]);
			posted_at[idx] = now_us();
			if (post(c, b, idx, &req[idx]) != MPI_SUCCESS) {
				errors++;
				req[idx] = MPI_REQUEST_NULL;
			}
		}
	}
	errors += iters - done;
	*seq = base + posted;
	return errors;
}

/* Throughput: closed loops of non-blocking collectives in rounds; between
 * rounds the root broadcasts the size of the next one (0: stop), chosen
 * from the rate so far to fill the budget. The decisions are not timed and
 * their syscalls not counted. The first round is 2W collectives, later
 * ones at least W, so the window drains at most once per W collectives
 * (once per measurement when the budget allows, usually two or three
 * times). */
static void run_throughput(enum coll c, long n, int window, struct row *out)
{
	struct bufs b;
	long long errors = 0, all_errors = 0, sys1;
	double *lat = NULL, c0, c1, m0, m1, timed = 0;
	long iters = 0, seq = 0, rounds = 0, next;
	int w = window, slots, step;

	if (w > 0) {
		/* The cap of bench/sgbench.c, so both run the same window. */
		unsigned long long per = (unsigned long long)(nranks - 1) * (unsigned long long)n * 4;

		if (per * (unsigned long long)w > cfg.window_bytes)
			w = (int)(cfg.window_bytes / per);
		if ((long)(nranks - 1) * w > cfg.window_msgs)
			w = (int)(cfg.window_msgs / (nranks - 1));
		if (w < 1)
			w = 1;
	}
	slots = w ? w : 1;
	step = w ? w : 8;	/* round granularity */
	bufs_alloc(&b, slots, n);
	if (rank == 0) {
		lat = calloc((size_t)cfg.max_iters, sizeof(*lat));
		if (!lat)
			die("out of memory");
	}

	/* Warm-up: one window. */
	MPI_Barrier(comm);
	errors += window_loop(c, &b, w, step, &seq, NULL);

	MPI_Barrier(comm);
	m0 = cpu_machine_busy_us();
	c0 = rusage_us();
	sc_reset();
	next = 2L * step;
	/* Bounded: every round adds at least one collective, the root stops
	 * at max_iters. */
	for (;;) {
		double t0;

		if (rank == 0) {
			if (!root_goes_on(iters, timed)) {
				next = 0;
			} else if (rounds > 0) {
				double per_op = timed / (double)iters;
				double left = (double)cfg.budget_ms * 1000.0 - timed;

				next = per_op > 0 ? (long)(left / per_op) : 2L * step;
				if (next < step)
					next = step;
				if (next < cfg.min_iters - iters)
					next = cfg.min_iters - iters;
			}
			if (next > cfg.max_iters - iters)
				next = cfg.max_iters - iters;
		}
		MPI_Bcast(&next, 1, MPI_LONG, 0, comm);
		if (next <= 0)
			break;
		if (rank == 0)
			sc_enable();
		t0 = now_us();
		errors += window_loop(c, &b, w, next, &seq, rank == 0 ? lat + iters : NULL);
		timed += now_us() - t0;
		if (rank == 0)
			sc_disable();
		iters += next;
		rounds++;
	}
	c1 = rusage_us();
	m1 = cpu_machine_busy_us();
	sys1 = sc_read();

	MPI_Reduce(&errors, &all_errors, 1, MPI_LONG_LONG, MPI_SUM, 0, comm);
	if (rank == 0) {
		double sum = 0;

		for (long j = 0; j < iters; j++)
			sum += lat[j];
		qsort(lat, (size_t)iters, sizeof(*lat), cmp_double);
		out->iters = iters;
		out->window = w;
		out->p50 = pct(lat, iters, 0.50);
		out->p99 = pct(lat, iters, 0.99);
		out->mean = sum / (double)iters;
		out->per_s = (double)iters * 1e6 / timed;
		out->sys = sys1 >= 0 ? (double)sys1 / (double)iters : -1;
		out->cpu = (c1 - c0) / (double)iters;
		out->mcpu = m0 >= 0 && m1 >= 0 ? (m1 - m0) / (double)iters : -1;
		out->errors = all_errors;
	}
	free(lat);
	bufs_free(&b);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpirun ... mpi_bench --out FILE [options]\n"
		"  --impl NAME        label of the rows: mpi_tcp or mpi_sm (default mpi_tcp)\n"
		"  --out FILE         CSV to append to (header written when empty)\n"
		"  --colls LIST       reduce,allreduce,bcast (default all)\n"
		"  --sizes LIST       contribution bytes, multiples of 4 up to %u (default 64)\n"
		"  --dtype T          int32 (default) or float (MPI_FLOAT), op MPI_SUM\n"
		"  --run COLLS:SIZES  instead of --colls/--sizes, repeatable: e.g.\n"
		"                     --run reduce:4,64,1024 --run allreduce,bcast:64\n"
		"  --modes LIST       latency,throughput (default both)\n"
		"  --window LIST      collectives in flight in throughput mode (default 16;\n"
		"                     0: blocking collectives back to back, no window);\n"
		"                     one throughput row per window\n"
		"  --window-bytes B   cap W so that W x fanout x bytes <= B (default 16777216)\n"
		"  --window-msgs M    and W x fanout <= M (default 2048): bench/sgbench's caps\n"
		"  --budget-ms MS     target duration of one measurement (default 300)\n"
		"  --min-iters N      at least N iterations (default 10)\n"
		"  --max-iters N      at most N iterations (default 100000)\n"
		"  --warmup N         warm-up iterations in latency mode (default 5)\n"
		"  --ifname NAME      link whose counters the root reports (default sg0)\n"
		"  -v                 print each row on stdout too\n", MAX_BYTES);
}

static int parse_list(char *s, const char *const *names, int nnames, int *out, int max)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		int k;

		for (k = 0; k < nnames; k++)
			if (!strcmp(tok, names[k]))
				break;
		if (k == nnames || n == max)
			return -1;
		out[n++] = k;
	}
	return n;
}

static void parse_sizes(char *arg, struct plan *pl)
{
	char *save = NULL;

	pl->nsizes = 0;
	for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || v < 4 || v > MAX_BYTES || v % 4 || pl->nsizes == MAX_SIZES)
			die("sizes: up to %d sizes, multiples of 4 from 4 to %u "
			    "(4-byte elements): '%s'", MAX_SIZES, MAX_BYTES, tok);
		pl->sizes[pl->nsizes++] = (unsigned)v;
	}
	if (!pl->nsizes)
		die("sizes: empty list");
}

static void parse_colls(char *arg, struct plan *pl)
{
	pl->ncolls = parse_list(arg, coll_name, C_N, pl->colls, C_N);
	if (pl->ncolls <= 0)
		die("collectives: a comma-separated list of reduce, allreduce, bcast");
}

static void parse_args(int argc, char **argv)
{
	enum { O_IMPL = 256, O_OUT, O_COLLS, O_SIZES, O_RUN, O_MODES, O_WINDOW, O_BUDGET, O_MIN,
	       O_MAX, O_WARM, O_IF, O_WBYTES, O_WMSGS, O_DTYPE };
	static const struct option opts[] = {
		{ "impl", required_argument, 0, O_IMPL },
		{ "out", required_argument, 0, O_OUT },
		{ "colls", required_argument, 0, O_COLLS },
		{ "sizes", required_argument, 0, O_SIZES },
		{ "run", required_argument, 0, O_RUN },
		{ "modes", required_argument, 0, O_MODES },
		{ "window", required_argument, 0, O_WINDOW },
		{ "budget-ms", required_argument, 0, O_BUDGET },
		{ "min-iters", required_argument, 0, O_MIN },
		{ "max-iters", required_argument, 0, O_MAX },
		{ "warmup", required_argument, 0, O_WARM },
		{ "ifname", required_argument, 0, O_IF },
		{ "window-bytes", required_argument, 0, O_WBYTES },
		{ "window-msgs", required_argument, 0, O_WMSGS },
		{ "dtype", required_argument, 0, O_DTYPE },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int o;

	int runs = 0;

	cfg.plan[0].ncolls = 3;
	cfg.plan[0].colls[0] = C_REDUCE;
	cfg.plan[0].colls[1] = C_ALLREDUCE;
	cfg.plan[0].colls[2] = C_BCAST;
	cfg.plan[0].nsizes = 1;
	cfg.plan[0].sizes[0] = 64;
	cfg.nplans = 1;
	cfg.nmodes = 2;
	cfg.modes[0] = M_LAT;
	cfg.modes[1] = M_TP;
	opterr = rank == 0;
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case O_IMPL: cfg.impl = optarg; break;
		case O_OUT: cfg.out = optarg; break;
		case O_COLLS: parse_colls(optarg, &cfg.plan[0]); break;
		case O_RUN: {
			char *colon = strchr(optarg, ':');

			if (!colon || runs == MAX_PLANS)
				die("--run COLLS:SIZES, at most %d times", MAX_PLANS);
			*colon = 0;
			parse_colls(optarg, &cfg.plan[runs]);
			parse_sizes(colon + 1, &cfg.plan[runs]);
			cfg.nplans = ++runs;
			break;
		}
		case O_MODES:
			cfg.nmodes = parse_list(optarg, mode_name, M_N, cfg.modes, M_N);
			if (cfg.nmodes <= 0)
				die("--modes: a comma-separated list of latency, throughput");
			break;
		case O_SIZES: parse_sizes(optarg, &cfg.plan[0]); break;
		case O_WINDOW: {
			char *save = NULL;

			cfg.nwindows = 0;
			for (char *tok = strtok_r(optarg, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				char *end;
				long v = strtol(tok, &end, 10);

				if (*end || v < 0 || v > MAX_WINDOW || cfg.nwindows == MAX_WINDOWS)
					die("--window: up to %d values in 0..%d", MAX_WINDOWS,
					    MAX_WINDOW);
				cfg.windows[cfg.nwindows++] = (int)v;
			}
			if (!cfg.nwindows)
				die("--window: empty list");
			break;
		}
		case O_BUDGET: cfg.budget_ms = atol(optarg); break;
		case O_MIN: cfg.min_iters = atol(optarg); break;
		case O_MAX: cfg.max_iters = atol(optarg); break;
		case O_WARM: cfg.warmup = atoi(optarg); break;
		case O_IF: cfg.ifname = optarg; break;
		case O_WBYTES: cfg.window_bytes = strtoull(optarg, NULL, 10); break;
		case O_WMSGS: cfg.window_msgs = atol(optarg); break;
		case O_DTYPE:
			if (strcmp(optarg, "int32") && strcmp(optarg, "float"))
				die("--dtype: int32 or float");
			cfg.fp = !strcmp(optarg, "float");
			break;
		case 'v': cfg.verbose = 1; break;
		case 'h':
			if (rank == 0)
				usage(stdout);
			MPI_Finalize();
			exit(0);
		default:
			if (rank == 0)
				usage(stderr);
			die("bad arguments");
		}
	}
	if (!cfg.out)
		die("--out FILE is required");
	if (cfg.budget_ms < 1 || cfg.min_iters < 1 || cfg.max_iters < cfg.min_iters ||
	    cfg.warmup < 0 || cfg.warmup > 10000 || cfg.window_bytes < 1 || cfg.window_msgs < 1)
		die("bad --budget-ms/--min-iters/--max-iters/--warmup");
	/* Float sums are checked exactly: they must stay integers below 2^24. */
	if (cfg.fp && (double)nranks * (nranks + 1) / 2 * FLOAT_PERIOD >= (double)(1 << 24))
		die("--dtype float: %d ranks are too many for exact float sums", nranks);
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (v < 0 || !isfinite(v))
		buf[0] = 0;	/* not measured */
	else
		snprintf(buf, len, fmt, v);
}

/* Write one CSV row; returns its errors. */
static long long emit(FILE *csv, enum coll c, enum mode m, unsigned bytes, const struct row *r)
{
	char p50[32], p99[32], mean[32], ps[32], sys[32], cpu[32], mc[32], alg[32], bus[32];
	char line[640];
	double algbw = bw_alg_gbps(bytes, r->p50);

	fmt_num(p50, sizeof(p50), r->p50, "%.2f");
	fmt_num(p99, sizeof(p99), r->p99, "%.2f");
	fmt_num(mean, sizeof(mean), r->mean, "%.2f");
	fmt_num(ps, sizeof(ps), r->per_s, "%.1f");
	fmt_num(sys, sizeof(sys), r->sys, "%.2f");
	fmt_num(cpu, sizeof(cpu), r->cpu, "%.2f");
	fmt_num(mc, sizeof(mc), r->mcpu, "%.2f");
	fmt_num(alg, sizeof(alg), r->p50 > 0 ? algbw : -1, "%.6g");
	fmt_num(bus, sizeof(bus), r->p50 > 0 ? algbw * bw_bus_factor(c == C_ALLREDUCE, nranks) : -1,
		"%.6g");
	snprintf(line, sizeof(line), "%s,%s,%s,%d,%u,%d,%ld,%s,%s,%s,%s,%s,%s,%s,%lld,%s,%s",
		 cfg.impl, coll_name[c], mode_name[m], nranks - 1, bytes, r->window, r->iters,
		 p50, p99, mean, ps, sys, cpu, mc, r->errors, alg, bus);
	fprintf(csv, "%s\n", line);
	fflush(csv);
	if (cfg.verbose)
		printf("%s\n", line);
	return r->errors;
}

int main(int argc, char **argv)
{
	FILE *csv = NULL;
	struct netdev nd0 = { 0 }, nd1;
	long long total_errors = 0;

	MPI_Init(&argc, &argv);
	comm = MPI_COMM_WORLD;
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &nranks);
	MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	parse_args(argc, argv);
	if (nranks < 2)
		die("needs at least 2 ranks (a root and a worker), got %d", nranks);

	if (rank == 0) {
		long end;

		csv = fopen(cfg.out, "a");
		if (!csv)
			die("cannot open %s: %s", cfg.out, strerror(errno));
		fseek(csv, 0, SEEK_END);
		end = ftell(csv);
		if (end == 0)
			fprintf(csv, "%s\n", CSV_HEADER);
		fflush(csv);
		if (syscount_open(&sc))
			fprintf(stderr, "mpi_bench: syscalls_per_coll will be empty\n");
		nd0 = netdev_read(cfg.ifname);
	}
	MPI_Barrier(comm);

	for (int pi = 0; pi < cfg.nplans; pi++) {
		const struct plan *pl = &cfg.plan[pi];

		for (int ci = 0; ci < pl->ncolls; ci++) {
			for (int si = 0; si < pl->nsizes; si++) {
				for (int mi = 0; mi < cfg.nmodes; mi++) {
					enum coll c = (enum coll)pl->colls[ci];
					enum mode m = (enum mode)cfg.modes[mi];
					int nruns = m == M_LAT ? 1 : cfg.nwindows;

					for (int wi = 0; wi < nruns; wi++) {
						struct row r = { 0 };

						if (m == M_LAT)
							run_latency(c, pl->sizes[si] / 4, &r);
						else
							run_throughput(c, pl->sizes[si] / 4,
								       cfg.windows[wi], &r);
						if (rank == 0)
							total_errors += emit(csv, c, m, pl->sizes[si], &r);
					}
				}
			}
		}
	}

	if (rank == 0) {
		const char *ns = getenv("MPILAB_NS");

		nd1 = netdev_read(cfg.ifname);
		if (nd0.found && nd1.found)
			printf("mpi_bench: %s of namespace %s during the measurements: "
			       "rx %llu bytes %llu packets, tx %llu bytes %llu packets\n",
			       cfg.ifname, ns ? ns : "(current)", nd1.rx_bytes - nd0.rx_bytes,
			       nd1.rx_packets - nd0.rx_packets, nd1.tx_bytes - nd0.tx_bytes,
			       nd1.tx_packets - nd0.tx_packets);
		else
			printf("mpi_bench: no %s in namespace %s\n", cfg.ifname,
			       ns ? ns : "(current)");
		if (total_errors)
			fprintf(stderr, "mpi_bench: %lld verification errors\n", total_errors);
		fclose(csv);
		syscount_close(&sc);
	}
	MPI_Finalize();
	return total_errors ? 3 : 0;
}
