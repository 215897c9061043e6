// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User aggregation programs end to end: the three examples of examples/agg
 * against references computed in plain C; a program the verifier rejects
 * (the error carries the verifier log); a program that misbehaves at run time
 * beside a communicator it must not disturb; and two of the examples on a
 * lab at MTU 9000, where each answer datagram carries several chunks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"

#define NS		2
#define PER_NS		4
#define NRANKS		(NS * PER_NS)

static struct testlab tl;
static uint32_t all_ranks[NRANKS];
static char objdir[512];
static sg_comm *comms[2];	/* destroyed after each test, also when it fails */

static int destroy_comms(void **state)
{
	for (int i = 0; i < 2; i++) {
		sg_comm_destroy(comms[i]);
		comms[i] = NULL;
	}
	return 0;
}

static int setup_mtu(int mtu)
{
	const char *b = getenv("SGBPF_BUILDDIR");

	snprintf(objdir, sizeof(objdir), "%s", b ? b : ".");
	for (uint32_t r = 0; r < NRANKS; r++)
		all_ranks[r] = r;
	return testlab_start_mtu(&tl, "sgt", NS, PER_NS, mtu) ? -1 : 0;
}

static int setup(void **state)
{
	return setup_mtu(0);
}

/* Jumbo frames: a worker's datagram carries several chunks, and the
 * datapath runs the program once per chunk (docs/design.md, "Spans"). */
static int setup_9000(void **state)
{
	return setup_mtu(9000);
}

static int teardown(void **state)
{
	testlab_stop(&tl);
	return 0;
}

static int make_comm(uint16_t port, const char *obj, const char *prog, sg_comm **c)
{
	char path[600];
	SG_OPTS_INIT(sg_comm_opts, o);

	snprintf(path, sizeof(path), "%s/%s", objdir, obj ? obj : "");
	o.agg_object = obj ? path : NULL;
	o.agg_program = prog;
	return testlab_comm(&tl, all_ranks, NRANKS, port, &o, c);
}

/* Run op SG_OP_USER and return the collective id the workers answered. */
static uint32_t run_user(sg_comm *c, enum sg_datatype dt, size_t count, void *out,
			 enum sg_policy policy, unsigned int n, uint32_t *ranks, size_t *nranks)
{
	uint64_t contrib[1] = {};
	SG_OPTS_INIT(sg_reduce_params, p);
	sg_request *req;
	uint32_t id;

	p.policy = policy;
	p.n = n;
	p.contributors = contrib;
	p.contributors_words = 1;
	assert_int_equal(sg_iscatter_reduce(c, NULL, 0, out, count, dt, SG_OP_USER, &p, &req), 0);
	id = sg_request_id(req);
	if (sg_wait(&req)) {
		struct sg_comm_stats st;

		sg_comm_get_stats(c, &st);
		fail_msg("%s (accepted %lu malformed %lu stale %lu unknown %lu dup %lu)", sg_errmsg(),
			 (unsigned long)st.rx_accepted, (unsigned long)st.rx_malformed,
			 (unsigned long)st.rx_stale, (unsigned long)st.rx_unknown_src,
			 (unsigned long)st.rx_duplicate);
	}
	*nranks = 0;
	for (uint32_t r = 0; r < NRANKS; r++)
		if (contrib[0] & (1ULL << r))
			ranks[(*nranks)++] = r;
	assert_int_equal(*nranks, p.ncontributors);
	return id;
}

static void test_histogram_saturating(void **state)
{
	const size_t count = 800;	/* three chunks */
	uint32_t got[800], one[800], want[800], ranks[NRANKS];
	size_t nranks;
	sg_comm *c;

	assert_int_equal(make_comm(6201, "examples/agg/histogram.bpf.o", "histogram_merge", &c), 0);
	comms[0] = c;
	for (int round = 0; round < 2; round++) {
		uint32_t id = run_user(c, SG_UINT32, count, got, round ? SG_WAIT_N : SG_WAIT_ALL, 2,
				       ranks, &nranks);
		int saturated = 0, exact = 0;

		memset(want, 0, sizeof(want));
		for (size_t i = 0; i < nranks; i++) {
			tw_contribution(ranks[i], id, SG_UINT32, SG_OP_USER, count, one);
			for (size_t k = 0; k < count; k++) {
				uint64_t s = (uint64_t)want[k] + one[k];

				want[k] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
			}
		}
		for (size_t k = 0; k < count; k++)
			want[k] == UINT32_MAX ? saturated++ : exact++;
		assert_memory_equal(got, want, sizeof(want));
		/* Both cases occur: the test sees saturation and plain sums. */
		if (round == 1)
			assert_true(saturated > 0 && exact > 0);
	}
}

static void test_top1_with_worker_id(void **state)
{
	const size_t count = 300;	/* three chunks of 128 words */
	uint64_t got[300], one[300], want[300];
	uint32_t ranks[NRANKS];
	size_t nranks;
	sg_comm *c;
	uint32_t id;

	assert_int_equal(make_comm(6202, "examples/agg/top1.bpf.o", "top1", &c), 0);
	comms[0] = c;
	id = run_user(c, SG_UINT64, count, got, SG_WAIT_ALL, 0, ranks, &nranks);
	assert_int_equal(nranks, NRANKS);
	for (size_t k = 0; k < count; k++)
		want[k] = 0;
	for (uint32_t r = 0; r < NRANKS; r++) {
		tw_contribution(r, id, SG_UINT64, SG_OP_USER, count, one);
		for (size_t k = 0; k < count; k++) {
			uint64_t score = one[k] & 0xffffffffu;

			/* Ranks ascend, so a strictly better score replaces. */
			if (r == 0 || score > (want[k] & 0xffffffffu))
				want[k] = (uint64_t)r << 32 | score;
		}
	}
	assert_memory_equal(got, want, sizeof(want));
}

static void test_frontier_union(void **state)
{
	const size_t count = 1000;
	uint64_t got[1000], one[1000], want[1000];
	uint32_t ranks[NRANKS];
	size_t nranks;
	sg_comm *c;
	uint32_t id;

	assert_int_equal(make_comm(6203, "examples/agg/frontier.bpf.o", "frontier_union", &c), 0);
	comms[0] = c;
	id = run_user(c, SG_UINT64, count, got, SG_WAIT_ALL, 0, ranks, &nranks);
	memset(want, 0, sizeof(want));
	for (uint32_t r = 0; r < NRANKS; r++) {
		tw_contribution(r, id, SG_UINT64, SG_OP_USER, count, one);
		for (size_t k = 0; k < count; k++)
			want[k] |= one[k];
	}
	assert_memory_equal(got, want, sizeof(want));
}

static void test_rejected_program_reports_verifier_log(void **state)
{
	sg_comm *c = NULL;
	int err;

	err = make_comm(6204, "tests/agg_bad.bpf.o", "out_of_bounds", &c);
	assert_true(err < 0);
	assert_null(c);
	assert_non_null(strstr(sg_errmsg(), "out_of_bounds"));
	assert_non_null(strstr(sg_errmsg(), "verifier log"));
	/* A missing program and a missing file are named too. */
	assert_int_equal(make_comm(6204, "examples/agg/top1.bpf.o", "nosuchprog", &c), -ENOENT);
	assert_non_null(strstr(sg_errmsg(), "nosuchprog"));
	assert_true(make_comm(6204, "nosuchfile.bpf.o", "x", &c) < 0);
	assert_non_null(strstr(sg_errmsg(), "nosuchfile.bpf.o"));
	/* SG_OP_USER without a program is refused. */
	assert_int_equal(make_comm(6204, NULL, NULL, &c), 0);
	comms[0] = c;
	{
		uint32_t out[4];

		assert_int_equal(sg_scatter_reduce(c, NULL, 0, out, 4, SG_UINT32, SG_OP_USER, NULL),
				 -EINVAL);
	}
}

/* A program that scribbles over its accumulators, side by side with a
 * built-in reduction on the same interface and the same workers. */
static void test_rogue_program_is_contained(void **state)
{
	sg_comm *rogue, *good;
	uint32_t bad[500], sum[500], want[500];

	assert_int_equal(make_comm(6205, "tests/agg_rogue.bpf.o", "scribble", &rogue), 0);
	comms[0] = rogue;
	assert_int_equal(make_comm(6206, NULL, NULL, &good), 0);
	comms[1] = good;
	for (int i = 0; i < 50; i++) {
		sg_request *rq, *gq;
		uint32_t id;

		assert_int_equal(sg_iscatter_reduce(rogue, NULL, 0, bad, 500, SG_UINT32, SG_OP_USER,
						    NULL, &rq), 0);
		assert_int_equal(sg_iscatter_reduce(good, NULL, 0, sum, 500, SG_UINT32, SG_OP_SUM,
						    NULL, &gq), 0);
		id = sg_request_id(gq);
		assert_int_equal(sg_wait(&rq), 0);
		assert_int_equal(sg_wait(&gq), 0);
		tw_reference(SG_UINT32, SG_OP_SUM, id, 500, all_ranks, NRANKS, want);
		assert_memory_equal(sum, want, sizeof(want));
		for (int k = 0; k < 500; k++)
			assert_int_equal(bad[k], UINT32_MAX);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_histogram_saturating, destroy_comms),
		cmocka_unit_test_teardown(test_top1_with_worker_id, destroy_comms),
		cmocka_unit_test_teardown(test_frontier_union, destroy_comms),
		cmocka_unit_test_teardown(test_rejected_program_reports_verifier_log, destroy_comms),
		cmocka_unit_test_teardown(test_rogue_program_is_contained, destroy_comms),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	const struct CMUnitTest jumbo[] = {
		cmocka_unit_test_teardown(test_histogram_saturating, destroy_comms),
		cmocka_unit_test_teardown(test_frontier_union, destroy_comms),
	};

	return cmocka_run_group_tests_name("MTU 1500", tests, setup, teardown) |
	       cmocka_run_group_tests_name("MTU 9000", jumbo, setup_9000, teardown);
}
