// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reliability end to end at fan-out 16 (4 worker namespaces x 4 endpoints):
 * scatter-reduces under packet loss and duplication injected in both
 * directions on the bridge (tests/lab/faultinject.bpf.c), with some workers
 * duplicating and delaying their own answers; every result exact, none hung.
 * First-N allgathers whose first copy of the result to one worker is dropped
 * by a rule of the injector: every worker gets it. Then a worker killed with
 * SIGKILL and restarted, and a coordinator killed with SIGKILL and replaced
 * at once on the same interface and port.
 *
 * Iterations: SGBPF_LOSS_ITERS (default 10000 one-element collectives per loss
 * rate), SGBPF_LOSS_ITERS_BIG (default 300 of 64 KiB) and SGBPF_LOSS_ITERS_HUGE
 * (default 1 of 64 MiB, segmented), so that `make check` stays short; the
 * closing notes report longer runs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "tests/lab/faultinject.h"
#include "tests/lab/testlab.h"

#define NS		4
#define PER_NS		4
#define NRANKS		(NS * PER_NS)
#define TCX_EGRESS	47

static struct testlab tl;
static struct faultinject *faults;
static uint32_t all_ranks[NRANKS];
static sg_comm *comm;

static int make_comm(uint16_t port, sg_comm **c)
{
	return testlab_comm(&tl, all_ranks, NRANKS, port, NULL, c);
}

static int setup(void **state)
{
	for (uint32_t r = 0; r < NRANKS; r++)
		all_ranks[r] = r;
	if (testlab_start(&tl, "sgt", NS, PER_NS))
		return -1;
	return faultinject_attach(tl.lab, &faults) ? -1 : 0;
}

static int teardown(void **state)
{
	sg_comm_destroy(comm);
	faultinject_detach(faults);
	testlab_stop(&tl);
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static unsigned long iters(const char *env, unsigned long dflt)
{
	const char *v = getenv(env);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

/* @n WAIT_ALL scatter-reduces of @count uint32 under the given faults: all
 * exact, none timed out. Prints p50/p99 completion times. */
static void run(unsigned long n, size_t count, uint32_t drop_ppm, uint32_t dup_ppm)
{
	uint32_t *got = malloc(count * 4), *want = malloc(count * 4);
	double *lat = malloc(n * sizeof(double));
	struct sg_comm_stats before, after;
	uint64_t dropped0, dup0, dropped1, dup1;

	assert_non_null(got);
	assert_non_null(want);
	assert_non_null(lat);
	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	assert_int_equal(sg_comm_get_stats(comm, &before), 0);
	faultinject_counts(faults, &dropped0, &dup0);
	faultinject_set(faults, drop_ppm, dup_ppm);
	for (unsigned long i = 0; i < n; i++) {
		SG_OPTS_INIT(sg_reduce_params, p);
		sg_request *req;
		uint32_t id;
		double t0 = now_us();
		int err;

		p.timeout_ms = 10000 + (int)(count >> 8);	/* and 1 s per MiB */
		assert_int_equal(sg_iscatter_reduce(comm, NULL, 0, got, count, SG_UINT32, SG_OP_SUM,
						    &p, &req), 0);
		id = sg_request_id(req);
		err = sg_wait(&req);
		lat[i] = now_us() - t0;
		if (err)
			fail_msg("collective %lu of %lu (%zu elements, drop %u ppm): %s", i, n, count,
				 drop_ppm, sg_errmsg());
		tw_reference(SG_UINT32, SG_OP_SUM, id, count, all_ranks, NRANKS, want);
		if (memcmp(got, want, count * 4))
			fail_msg("collective %lu: wrong result", i);
	}
	faultinject_set(faults, 0, 0);
	faultinject_counts(faults, &dropped1, &dup1);
	assert_int_equal(sg_comm_get_stats(comm, &after), 0);
	qsort(lat, n, sizeof(double), cmp_double);
	printf("# %lu x %zu B, loss %.1f%% dup %.1f%%: all exact; p50 %.0f us, p99 %.0f us; "
	       "%llu dropped, %llu duplicated by the injector; %llu retransmissions, "
	       "%llu duplicates folded once\n",
	       n, count * 4, drop_ppm / 1e4, dup_ppm / 1e4, lat[n / 2], lat[n * 99 / 100],
	       (unsigned long long)(dropped1 - dropped0), (unsigned long long)(dup1 - dup0),
	       (unsigned long long)(after.retransmits - before.retransmits),
	       (unsigned long long)(after.rx_duplicate - before.rx_duplicate));
	if (drop_ppm)
		assert_true(dropped1 > dropped0);
	free(got);
	free(want);
	free(lat);
}

static void test_no_loss(void **state)
{
	run(iters("SGBPF_LOSS_ITERS", 10000), 1, 0, 0);
	run(iters("SGBPF_LOSS_ITERS_BIG", 300), 16384, 0, 0);
}

static void test_loss_1pct(void **state)
{
	/* Some workers also duplicate their answers, some delay theirs. */
	tw_shared_set_behavior(tl.shared, 1, TW_DUP, 0);
	tw_shared_set_behavior(tl.shared, 6, 0, 1);
	run(iters("SGBPF_LOSS_ITERS", 10000), 1, 10000, 10000);
	run(iters("SGBPF_LOSS_ITERS_BIG", 300), 16384, 10000, 10000);
	tw_shared_set_behavior(tl.shared, 1, 0, 0);
	tw_shared_set_behavior(tl.shared, 6, 0, 0);
}

static void test_loss_10pct(void **state)
{
	run(iters("SGBPF_LOSS_ITERS", 10000), 1, 100000, 10000);
	run(iters("SGBPF_LOSS_ITERS_BIG", 300), 16384, 100000, 10000);
}

/* Allgathers of @count uint32 under loss: every worker ends up with the
 * exact result (the library re-sends it until each worker has acknowledged
 * it). */
static void allgather_under(unsigned long n, size_t count, uint32_t drop_ppm, uint32_t dup_ppm)
{
	uint32_t *got = malloc(count * 4), *want = malloc(count * 4);
	uint64_t dropped0, dup0, dropped1, dup1;

	assert_true(got && want);
	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	faultinject_counts(faults, &dropped0, &dup0);
	faultinject_set(faults, drop_ppm, dup_ppm);
	for (unsigned long i = 0; i < n; i++) {
		SG_OPTS_INIT(sg_reduce_params, p);
		sg_request *req;
		uint32_t id;

		p.timeout_ms = 10000 + (int)(count >> 7);	/* and 2 s per MiB */
		assert_int_equal(sg_iallgather(comm, NULL, 0, got, count, SG_UINT32, SG_OP_SUM, &p,
					       &req), 0);
		id = sg_request_id(req);
		if (sg_wait(&req))
			fail_msg("allgather %lu: %s", i, sg_errmsg());
		tw_reference(SG_UINT32, SG_OP_SUM, id, count, all_ranks, NRANKS, want);
		assert_memory_equal(got, want, count * 4);
		for (uint32_t r = 0; r < NRANKS; r++) {
			struct tw_record rec;

			assert_int_equal(tw_shared_wait(tl.shared, r, 1, TW_RESULT, id, 10000), 0);
			assert_int_equal(tw_shared_read(tl.shared, r, TW_RESULT, &rec), 0);
			assert_true(rec.len == count * 4 && rec.hash == tw_hash(want, count * 4));
		}
	}
	faultinject_set(faults, 0, 0);
	faultinject_counts(faults, &dropped1, &dup1);
	printf("# %lu allgathers of %zu B, loss %.1f%% dup %.1f%%: every worker holds the exact "
	       "result; %llu dropped, %llu duplicated by the injector\n", n, count * 4,
	       drop_ppm / 1e4, dup_ppm / 1e4, (unsigned long long)(dropped1 - dropped0),
	       (unsigned long long)(dup1 - dup0));
	if (drop_ppm)
		assert_true(dropped1 > dropped0);
	free(got);
	free(want);
}

static void test_allgather_under_loss(void **state)
{
	allgather_under(iters("SGBPF_LOSS_ITERS_BIG", 300), 300, 10000, 10000);
	allgather_under(iters("SGBPF_LOSS_ITERS_BIG", 300), 300, 100000, 10000);
}

/* 64 MiB, a gradient bucket: segmented reductions and allgathers under loss
 * and duplication, exact, every segment recovered like any collective
 * (SGBPF_LOSS_ITERS_HUGE of each, default 1). */
static void test_64mib_under_loss(void **state)
{
	unsigned long n = iters("SGBPF_LOSS_ITERS_HUGE", 1);
	size_t count = (64u << 20) / 4;

	if (!n) {	/* the user-space transports' and sanitizer runs: segments
			 * are covered there by test_integration and test_floats */
		printf("# 64 MiB under loss not run: SGBPF_LOSS_ITERS_HUGE=0\n");
		return;
	}
	run(n, count, 10000, 10000);
	allgather_under(n, count, 10000, 10000);
}

/* The workers the report of @p names (communicator rank = lab rank here). */
static size_t reported(const uint64_t *contrib, uint32_t *ranks)
{
	size_t n = 0;

	for (uint32_t r = 0; r < NRANKS; r++)
		if (contrib[r / 64] >> (r % 64) & 1)
			ranks[n++] = r;
	return n;
}

/* An allgather under a first-N policy: the first copy of the result to
 * worker @lose is lost. The policy decides who is in the reduction; the
 * result still reaches every worker (sent again to @lose), and the report
 * names the reduction's workers, not those that acknowledged. */
static void allgather_first_n(enum sg_policy policy, unsigned int n, uint32_t lose)
{
	SG_OPTS_INIT(sg_reduce_params, p);
	struct sockaddr_in who = testlab_addr(&tl, lose);
	uint32_t got[300], want[300], ranks[NRANKS];
	uint64_t contrib[1] = {}, lost = faultinject_rule_dropped(faults);
	sg_request *req;
	uint32_t id;

	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	p.policy = policy;
	p.n = n;
	p.timeout_ms = 10000;
	p.contributors = contrib;
	p.contributors_words = 1;
	faultinject_rule(faults, &who, SG_WIRE_RESULT, 0, 1);
	assert_int_equal(sg_iallgather(comm, NULL, 0, got, 300, SG_UINT32, SG_OP_SUM, &p, &req),
			 0);
	id = sg_request_id(req);
	if (sg_wait(&req))
		fail_msg("allgather with policy %d: %s", policy, sg_errmsg());
	faultinject_rule(faults, &who, SG_WIRE_RESULT, 0, 0);
	assert_int_equal(faultinject_rule_dropped(faults) - lost, 1);
	assert_int_equal(p.ncontributors, n);
	assert_int_equal(reported(contrib, ranks), n);
	tw_reference(SG_UINT32, SG_OP_SUM, id, 300, ranks, n, want);
	assert_memory_equal(got, want, sizeof(want));
	for (uint32_t r = 0; r < NRANKS; r++) {
		struct tw_record rec;

		if (tw_shared_wait(tl.shared, r, 1, TW_RESULT, id, 5000))
			fail_msg("policy %d: worker %u never got the result of collective %u",
				 policy, r, id);
		assert_int_equal(tw_shared_read(tl.shared, r, TW_RESULT, &rec), 0);
		assert_true(rec.len == sizeof(want) && rec.hash == tw_hash(want, sizeof(want)));
	}
}

static void test_allgather_first_n_reaches_every_worker(void **state)
{
	allgather_first_n(SG_WAIT_N, 5, 9);
	allgather_first_n(SG_WAIT_N, NRANKS - 1, 2);
	allgather_first_n(SG_WAIT_ANY, 1, 14);
}

/* Leave other collectives' data in every accumulator the next collectives
 * of @c can get: 64 in flight at once take every slot (the user-space
 * transports keep accumulators per slot) and, on ebpf, distinct pool runs
 * from entry 0 on (the pool is first-fit and the interface's communicators
 * share it). */
static void leave_garbage(sg_comm *c, size_t count)
{
	uint32_t *bufs = malloc(SG_MAX_INFLIGHT * count * sizeof(uint32_t));
	sg_request *reqs[SG_MAX_INFLIGHT];

	assert_non_null(bufs);
	for (size_t i = 0; i < SG_MAX_INFLIGHT; i++)
		assert_int_equal(sg_iscatter_reduce(c, NULL, 0, bufs + i * count, count, SG_UINT32,
						    SG_OP_MAX, NULL, &reqs[i]), 0);
	assert_int_equal(sg_waitall(SG_MAX_INFLIGHT, reqs, NULL), 0);
	free(bufs);
}

/* Elements: as many chunks as bytes per element (uint32: 4 chunks of 352). */
#define PARTIAL_COUNT	SG_CHUNK_BYTES

/* A collective that times out: each chunk of the result is the reduction
 * over exactly the reported contributors when its bit in @complete is set,
 * else the op's identity, reported missing; never other collectives' data,
 * never a contribution of a worker the report does not name. With @old_abi
 * the caller's struct ends before the fields of the missing parts, which
 * are then left alone. */
static void expect_partial(enum sg_datatype dt, enum sg_op op, unsigned int ncontrib,
			   uint64_t complete, int old_abi)
{
	size_t esz = sg_datatype_size(dt), per = SG_CHUNK_BYTES / esz;
	size_t len = PARTIAL_COUNT * esz, nparts = PARTIAL_COUNT / per;
	uint8_t *got = malloc(len), *want = malloc(len), *ident = malloc(len);
	uint64_t contrib[1] = {}, missing[1] = { 0xdead };
	uint32_t ranks[NRANKS];
	SG_OPTS_INIT(sg_reduce_params, p);
	sg_request *req;
	uint32_t id;

	assert_true(got && want && ident);
	memset(got, 0x5a, len);
	p.timeout_ms = 300;
	p.contributors = contrib;
	p.contributors_words = 1;
	p.nmissing = 12345;
	if (old_abi) {
		p.sz = offsetof(struct sg_reduce_params, nmissing);
	} else {
		p.missing = missing;
		p.missing_words = 1;
	}
	assert_int_equal(sg_iscatter_reduce(comm, NULL, 0, got, PARTIAL_COUNT, dt, op, &p, &req),
			 0);
	id = sg_request_id(req);
	assert_int_equal(sg_wait(&req), -ETIMEDOUT);
	assert_int_equal(p.ncontributors, ncontrib);
	assert_int_equal(reported(contrib, ranks), ncontrib);
	if (old_abi) {
		assert_int_equal(p.nmissing, 12345);
		assert_int_equal(missing[0], 0xdead);
	} else {
		uint64_t want_missing = ~complete & ((1ULL << nparts) - 1);

		assert_int_equal(missing[0], want_missing);
		assert_int_equal(p.nmissing, __builtin_popcountll(want_missing) * per);
	}
	if (dt == SG_FLOAT64)
		memset(ident, 0, len);	/* SUM: +0.0 */
	else
		assert_int_equal(tw_reference(dt, op, id, PARTIAL_COUNT, NULL, 0, ident), 0);
	if (ncontrib)
		assert_int_equal(tw_reference(dt, op, id, PARTIAL_COUNT, ranks, ncontrib, want), 0);
	for (size_t c = 0; c < PARTIAL_COUNT / per; c++) {
		const uint8_t *w = (complete >> c & 1 ? want : ident) + c * per * esz;

		if (memcmp(got + c * per * esz, w, per * esz))
			fail_msg("dt %d op %d, %u contributors: chunk %zu is not %s", dt, op,
				 ncontrib, c, complete >> c & 1 ? "their reduction" : "the identity");
	}
	free(got);
	free(want);
	free(ident);
}

/* Partial results after -ETIMEDOUT, with other collectives' data in the
 * accumulators first (of this communicator, and on ebpf of another one on
 * the same interface). */
static void garbage_first(void)
{
	sg_comm *other;

	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	assert_int_equal(make_comm(6302, &other), 0);
	leave_garbage(comm, PARTIAL_COUNT);
	leave_garbage(other, PARTIAL_COUNT);
	sg_comm_destroy(other);
}

/* Nobody answers: every chunk is the identity. */
static void test_timeout_nobody_answers(void **state)
{
	garbage_first();
	for (uint32_t r = 0; r < NRANKS; r++)
		tw_shared_set_behavior(tl.shared, r, TW_MUTE, 0);
	expect_partial(SG_UINT32, SG_OP_SUM, 0, 0, 0);
	expect_partial(SG_INT32, SG_OP_MIN, 0, 0, 0);
	expect_partial(SG_FLOAT64, SG_OP_SUM, 0, 0, 1);
}

/* Worker 3 is silent and only the first chunk of worker 5 arrives (a rule of
 * the injector drops the rest, however often it is resent): the other 14 are
 * reported, the chunks 5 did not reach are their exact reduction, and the
 * chunk it did reach, which cannot be theirs alone, is the identity. */
static void test_timeout_partial_worker(void **state)
{
	struct sockaddr_in five = testlab_addr(&tl, 5);

	garbage_first();
	tw_shared_set_behavior(tl.shared, 3, TW_MUTE, 0);
	faultinject_rule(faults, &five, SG_WIRE_RESPONSE, 1, INT64_MAX);
	expect_partial(SG_UINT32, SG_OP_SUM, NRANKS - 2, 0xe, 0);
	expect_partial(SG_UINT32, SG_OP_BAND, NRANKS - 2, 0xe, 1);
}

/* A segmented reduction whose worker 3 is silent: the segments in flight
 * end at the deadline with the other 15, the rest are never posted. The
 * report names the 15; the segments that ran are exactly their reduction,
 * every part of the others is missing and the identity. */
static void test_timeout_segmented(void **state)
{
	size_t count = 2 * (SG_MAX_SEGMENT_BYTES / 4), nparts = count * 4 / SG_CHUNK_BYTES + 1;
	uint32_t *got = malloc(count * 4), *want = malloc(count * 4), ranks[NRANKS];
	uint64_t contrib[1] = {}, *missing = calloc((nparts + 63) / 64, 8);
	SG_OPTS_INIT(sg_reduce_params, p);
	size_t kept = 0, nmissing = 0;
	sg_request *req;
	uint32_t id;

	assert_true(got && want && missing);
	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	tw_shared_set_behavior(tl.shared, 3, TW_MUTE, 0);
	memset(got, 0x5a, count * 4);
	p.timeout_ms = 500;
	p.contributors = contrib;
	p.contributors_words = 1;
	p.missing = missing;
	p.missing_words = (nparts + 63) / 64;
	assert_int_equal(sg_iscatter_reduce(comm, NULL, 0, got, count, SG_UINT32, SG_OP_SUM, &p,
					    &req), 0);
	id = sg_request_id(req);
	assert_int_equal(sg_wait(&req), -ETIMEDOUT);
	assert_non_null(strstr(sg_errmsg(), "15 of 16 workers"));
	assert_int_equal(p.ncontributors, NRANKS - 1);
	assert_int_equal(contrib[0], 0xffffULL & ~(1ULL << 3));
	assert_int_equal(reported(contrib, ranks), NRANKS - 1);
	assert_int_equal(tw_reference(SG_UINT32, SG_OP_SUM, id, count, ranks, NRANKS - 1, want), 0);
	/* Part by part: kept ones are the 15's reduction, missing ones 0. */
	for (size_t c = 0; c < nparts; c++) {
		size_t from = c * (SG_CHUNK_BYTES / 4), n = count - from < SG_CHUNK_BYTES / 4 ?
							    count - from : SG_CHUNK_BYTES / 4;
		int gone = missing[c / 64] >> (c % 64) & 1;

		if (gone) {
			nmissing += n;
			for (size_t i = from; i < from + n; i++)
				if (got[i])
					fail_msg("part %zu (missing) holds %u at %zu", c, got[i], i);
		} else {
			kept += n;
			if (memcmp(got + from, want + from, n * 4))
				fail_msg("part %zu is not the reduction over the 15", c);
		}
	}
	assert_int_equal(p.nmissing, nmissing);
	assert_int_equal(kept + nmissing, count);
	assert_true(kept > 0 && nmissing > 0);	/* segments ran, later ones never did */
	printf("# segmented, worker 3 silent: %zu of %zu elements kept, %zu missing\n", kept,
	       count, nmissing);
	tw_shared_set_behavior(tl.shared, 3, 0, 0);
	free(got);
	free(want);
	free(missing);
}

/* Every worker answering again, no rule: also after a failed test. */
static int workers_restored(void **state)
{
	struct sockaddr_in any = {};

	for (uint32_t r = 0; r < NRANKS; r++)
		tw_shared_set_behavior(tl.shared, r, 0, 0);
	faultinject_rule(faults, &any, 0, 0, 0);
	return 0;
}

/* A worker killed mid-run: WAIT_ALL ends by its timeout, first-N completes
 * with the others, and the restarted worker rejoins. */
static void test_worker_killed_and_restarted(void **state)
{
	SG_OPTS_INIT(sg_reduce_params, p);
	uint32_t out[64], want[64], ranks[NRANKS];
	size_t n = 0;
	sg_request *req;
	uint32_t id;

	if (!comm)
		assert_int_equal(make_comm(6300, &comm), 0);
	assert_int_equal(netlab_wait(tl.lab, tl.servers[3], 0), -ETIMEDOUT);
	kill(tl.servers[3], SIGKILL);
	assert_int_equal(netlab_wait(tl.lab, tl.servers[3], 5000), 128 + SIGKILL);
	p.timeout_ms = 300;
	assert_int_equal(sg_scatter_reduce(comm, NULL, 0, out, 64, SG_UINT32, SG_OP_SUM, &p),
			 -ETIMEDOUT);
	assert_int_equal(p.ncontributors, NRANKS - PER_NS);
	p.policy = SG_WAIT_N;
	p.n = NRANKS - PER_NS;
	p.timeout_ms = 5000;
	assert_int_equal(sg_iscatter_reduce(comm, NULL, 0, out, 64, SG_UINT32, SG_OP_SUM, &p, &req),
			 0);
	id = sg_request_id(req);
	assert_int_equal(sg_wait(&req), 0);
	for (uint32_t r = 0; r < NRANKS - PER_NS; r++)
		ranks[n++] = r;
	tw_reference(SG_UINT32, SG_OP_SUM, id, 64, ranks, n, want);
	assert_memory_equal(out, want, sizeof(out));

	/* An allgather: the reduction completes with the living workers, the
	 * result cannot reach the dead ones. The deadline says how many have
	 * it; the report still describes the reduction, which is exact. */
	{
		uint64_t contrib[1] = {};

		p.timeout_ms = 500;
		p.contributors = contrib;
		p.contributors_words = 1;
		assert_int_equal(sg_iallgather(comm, NULL, 0, out, 64, SG_UINT32, SG_OP_SUM, &p,
					       &req), 0);
		id = sg_request_id(req);
		assert_int_equal(sg_wait(&req), -ETIMEDOUT);
		assert_non_null(strstr(sg_errmsg(), "12 of 16 workers acknowledged"));
		assert_int_equal(p.ncontributors, NRANKS - PER_NS);
		assert_int_equal(reported(contrib, ranks), NRANKS - PER_NS);
		tw_reference(SG_UINT32, SG_OP_SUM, id, 64, ranks, NRANKS - PER_NS, want);
		assert_memory_equal(out, want, sizeof(out));
		p.contributors = NULL;
		p.contributors_words = 0;
		p.timeout_ms = 5000;
	}

	assert_int_equal(testlab_restart(&tl, 3), 0);
	p.policy = SG_WAIT_ALL;
	assert_int_equal(sg_iscatter_reduce(comm, NULL, 0, out, 64, SG_UINT32, SG_OP_SUM, &p, &req),
			 0);
	id = sg_request_id(req);
	assert_int_equal(sg_wait(&req), 0);
	tw_reference(SG_UINT32, SG_OP_SUM, id, 64, all_ranks, NRANKS, want);
	assert_memory_equal(out, want, sizeof(out));
}

static int attached_programs(void)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int ifindex = (int)if_nametoindex(NETLAB_IFNAME);
	__u32 ids[4], cnt = 4, flags = 0;

	if (bpf_xdp_query(ifindex, 0, &q) || bpf_prog_query(ifindex, TCX_EGRESS, 0, &flags, ids,
							   &cnt))
		return -1;
	return (q.prog_id != 0) + (int)cnt;
}

/* A coordinator killed with SIGKILL leaves nothing attached, and a new one
 * starts at once on the same interface and port. */
static void test_coordinator_killed_and_replaced(void **state)
{
	volatile uint64_t *progress = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t out[16], want[16];
	sg_request *req;
	sg_comm *c;
	pid_t pid;
	uint32_t id;

	/* The ebpf transport attaches two programs; the others none. */
	int attached = sg_comm_transport(comm) == SG_TRANSPORT_EBPF ? 2 : 0;

	assert_true(progress != MAP_FAILED);
	/* Only one process can hold the interface's XDP hook. */
	sg_comm_destroy(comm);
	comm = NULL;
	assert_int_equal(attached_programs(), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint32_t r[16];

		if (make_comm(6301, &c))
			_exit(1);
		for (;;) {
			if (sg_scatter_reduce(c, NULL, 0, r, 16, SG_UINT32, SG_OP_SUM, NULL))
				_exit(2);
			__atomic_add_fetch(progress, 1, __ATOMIC_RELAXED);
		}
	}
	for (int i = 0; i < 10000 && __atomic_load_n(progress, __ATOMIC_RELAXED) < 50; i++)
		usleep(1000);
	assert_true(*progress >= 50);
	assert_int_equal(attached_programs(), attached);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(attached_programs(), 0);

	/* The kernel tears an io_uring down asynchronously after its process
	 * died: the port is free only once the ring's pending receive has been
	 * cancelled (docs/transports.md). Every other transport frees it at
	 * once. */
	int err = make_comm(6301, &c);

	for (int i = 0; i < 2000 && err == -EADDRINUSE && attached == 0; i++) {
		usleep(1000);
		err = make_comm(6301, &c);
	}
	assert_int_equal(err, 0);
	assert_int_equal(sg_iscatter_reduce(c, NULL, 0, out, 16, SG_UINT32, SG_OP_SUM, NULL, &req), 0);
	id = sg_request_id(req);
	assert_int_equal(sg_wait(&req), 0);
	tw_reference(SG_UINT32, SG_OP_SUM, id, 16, all_ranks, NRANKS, want);
	assert_memory_equal(out, want, sizeof(out));
	sg_comm_destroy(c);
	munmap((void *)progress, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_loss),
		cmocka_unit_test(test_loss_1pct),
		cmocka_unit_test(test_loss_10pct),
		cmocka_unit_test(test_allgather_under_loss),
		cmocka_unit_test(test_64mib_under_loss),
		cmocka_unit_test(test_allgather_first_n_reaches_every_worker),
		cmocka_unit_test_teardown(test_timeout_nobody_answers, workers_restored),
		cmocka_unit_test_teardown(test_timeout_partial_worker, workers_restored),
		cmocka_unit_test_teardown(test_timeout_segmented, workers_restored),
		cmocka_unit_test(test_worker_killed_and_restarted),
		cmocka_unit_test(test_coordinator_killed_and_replaced),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
