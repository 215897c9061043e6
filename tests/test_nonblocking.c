// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Non-blocking collectives end to end at fan-out 16 (4 worker namespaces x 4
 * endpoints): 10,000 pipelined scatter-reduces with random sizes and ops, every
 * result checked; 64 in flight completed out of order; the completion fd in an
 * epoll loop; busy-poll completion; passed-on responses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"

#define NS		4
#define PER_NS		4
#define NRANKS		(NS * PER_NS)
#define PIPELINED	10000
#define WINDOW		SG_MAX_INFLIGHT

static struct testlab tl;
static uint32_t all_ranks[NRANKS];

static sg_comm *make_comm(uint16_t port, int busy_poll, int pass)
{
	SG_OPTS_INIT(sg_comm_opts, o);
	sg_comm *c = NULL;

	o.busy_poll = busy_poll;
	o.pass_responses = pass;
	if (testlab_comm(&tl, all_ranks, NRANKS, port, &o, &c))
		fprintf(stderr, "sg_comm_create: %s\n", sg_errmsg());
	return c;
}

static int setup(void **state)
{
	for (uint32_t r = 0; r < NRANKS; r++)
		all_ranks[r] = r;
	return testlab_start(&tl, "sgt", NS, PER_NS) ? -1 : 0;
}

static int teardown(void **state)
{
	testlab_stop(&tl);
	return 0;
}

struct op {
	sg_request *req;
	enum sg_datatype dt;
	enum sg_op op;
	size_t count;
	uint32_t coll_id;
	void *result;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random integer collective: mostly one chunk or less, now and then up to
 * 16 KiB (checking every result in this process must not dominate). */
static void random_op(struct op *o)
{
	o->dt = (enum sg_datatype)(next_rand() % (SG_UINT64 + 1));
	o->op = (enum sg_op)(next_rand() % SG_OP_MAXLOC);
	o->count = next_rand() % 16 == 0 ? 1 + next_rand() % (16384 / sg_datatype_size(o->dt))
					  : 1 + next_rand() % 64;
}

static void post(sg_comm *c, struct op *o)
{
	int err;

	o->result = malloc(o->count * sg_datatype_size(o->dt));
	assert_non_null(o->result);
	err = sg_iscatter_reduce(c, NULL, 0, o->result, o->count, o->dt, o->op, NULL, &o->req);
	if (err)
		fail_msg("post: %s", sg_errmsg());
	o->coll_id = sg_request_id(o->req);
}

static void check(struct op *o, int status)
{
	size_t len = o->count * sg_datatype_size(o->dt);
	void *want = malloc(len);

	assert_int_equal(status, 0);
	assert_non_null(want);
	tw_reference(o->dt, o->op, o->coll_id, o->count, all_ranks, NRANKS, want);
	if (memcmp(o->result, want, len))
		fail_msg("collective %u (dt %d op %d count %zu): wrong result", o->coll_id, o->dt,
			 o->op, o->count);
	free(want);
	free(o->result);
	o->result = NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 10,000 collectives, a window of 64 in flight, each checked; then the same
 * number of blocking ones, for the throughput ratio the closing note reports. */
static void test_pipelined_10000(void **state)
{
	static struct op ops[WINDOW];
	sg_comm *c = make_comm(6100, 0, 0);
	size_t posted = 0, done = 0;
	struct sg_comm_stats st;
	double t0, t_pipe, t_block;

	assert_non_null(c);
	t0 = now_s();
	while (done < PIPELINED) {
		while (posted < PIPELINED && posted - done < WINDOW) {
			random_op(&ops[posted % WINDOW]);
			post(c, &ops[posted % WINDOW]);
			posted++;
		}
		struct op *o = &ops[done % WINDOW];

		check(o, sg_wait(&o->req));
		assert_null(o->req);
		done++;
	}
	t_pipe = now_s() - t0;

	rng = 0x9e3779b97f4a7c15ULL;	/* the same sequence of sizes and ops */
	t0 = now_s();
	for (size_t i = 0; i < PIPELINED; i++) {
		struct op *o = &ops[0];

		random_op(o);
		post(c, o);
		check(o, sg_wait(&o->req));
	}
	t_block = now_s() - t0;
	assert_int_equal(sg_comm_get_stats(c, &st), 0);
	printf("# fan-out %d, %d collectives: pipelined (window %u) %.0f/s, blocking %.0f/s, "
	       "ratio %.2f (%llu retransmissions)\n", NRANKS, PIPELINED, WINDOW, PIPELINED / t_pipe,
	       PIPELINED / t_block, t_block / t_pipe, (unsigned long long)st.retransmits);
	sg_comm_destroy(c);
}

/* 64 in flight, the 65th refused; completed in reverse order; a slot is
 * reused only once its request is freed. */
static void test_window_and_out_of_order(void **state)
{
	static struct op ops[WINDOW];
	sg_comm *c = make_comm(6101, 0, 0);
	sg_request *extra = NULL;
	uint64_t out[4];

	assert_non_null(c);
	for (int i = 0; i < (int)WINDOW; i++) {
		random_op(&ops[i]);
		post(c, &ops[i]);
	}
	assert_int_equal(sg_iscatter_reduce(c, NULL, 0, out, 4, SG_UINT64, SG_OP_SUM, NULL, &extra),
			 -EBUSY);
	for (int i = (int)WINDOW - 1; i >= 0; i--)
		check(&ops[i], sg_wait(&ops[i].req));
	/* All slots free again. */
	for (int i = 0; i < (int)WINDOW; i++) {
		random_op(&ops[i]);
		post(c, &ops[i]);
	}
	{
		sg_request *reqs[WINDOW];
		int statuses[WINDOW];

		for (int i = 0; i < (int)WINDOW; i++)
			reqs[i] = ops[i].req;
		assert_int_equal(sg_waitall(WINDOW, reqs, statuses), 0);
		for (int i = 0; i < (int)WINDOW; i++) {
			assert_null(reqs[i]);
			check(&ops[i], statuses[i]);
		}
	}
	sg_comm_destroy(c);
}

/* The completion fd in the application's own epoll loop, then sg_test(). */
static void test_epoll_fd(void **state)
{
	sg_comm *c = make_comm(6102, 0, 0);
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct op o = { .dt = SG_INT32, .op = SG_OP_MAX, .count = 3000 };
	int ep, done = 0, wakeups = 0;

	assert_non_null(c);
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_true(sg_comm_fd(c) >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, sg_comm_fd(c), &ev), 0);
	post(c, &o);
	while (!done) {
		int n = epoll_wait(ep, &got, 1, 5000);

		/* io_uring delivers its completions as task work, which
		 * interrupts the sleep like a signal (see sg_comm_fd()). */
		if (n < 0)
			assert_int_equal(errno, EINTR);
		assert_true(++wakeups < 1000);
		assert_int_equal(sg_test(&o.req, &done), 0);
	}
	assert_null(o.req);
	check(&o, 0);
	close(ep);
	sg_comm_destroy(c);
}

static void test_busy_poll(void **state)
{
	sg_comm *c = make_comm(6103, 1, 0);
	struct sg_reduce_params p = { .sz = sizeof(p), .policy = SG_WAIT_N, .n = 3 };

	assert_non_null(c);
	for (int i = 0; i < 500; i++) {
		struct op o;

		random_op(&o);
		post(c, &o);
		check(&o, sg_wait(&o.req));
	}
	/* A timeout is still honoured while spinning. */
	{
		uint32_t r[4];

		tw_shared_set_behavior(tl.shared, 5, TW_MUTE, 0);
		p.policy = SG_WAIT_ALL;
		p.timeout_ms = 200;
		assert_int_equal(sg_scatter_reduce(c, NULL, 0, r, 4, SG_UINT32, SG_OP_SUM, &p),
				 -ETIMEDOUT);
		assert_int_equal(p.ncontributors, NRANKS - 1);
		tw_shared_set_behavior(tl.shared, 5, 0, 0);
	}
	sg_comm_destroy(c);
}

/* With pass_responses the application reads every worker's chunks beside the
 * reduced value. */
static void test_pass_responses(void **state)
{
	size_t cb = sg_response_chunk_bytes(SG_UINT16);
	struct op o = { .dt = SG_UINT16, .op = SG_OP_SUM, .count = cb / 2 + 50 };	/* 2 chunks */
	size_t len = o.count * 2;
	uint8_t *seen, *want;
	struct sg_response resp;
	sg_comm *c = make_comm(6104, 0, 0);
	int n = 0;

	assert_non_null(c);
	if (sg_comm_transport(c) != SG_TRANSPORT_EBPF) {
		/* User-space transports reduce in the coordinator and pass
		 * nothing on: they refuse the option instead of ignoring it. */
		SG_OPTS_INIT(sg_comm_opts, opts);
		sg_comm *refused = NULL;

		opts.pass_responses = 1;
		opts.transport = sg_comm_transport(c);
		assert_int_equal(testlab_comm(&tl, all_ranks, NRANKS, 6105, &opts, &refused),
				 -EOPNOTSUPP);
		assert_null(refused);
		sg_comm_destroy(c);
		return;
	}
	sg_comm_destroy(c);
	c = make_comm(6104, 0, 1);
	assert_non_null(c);
	seen = calloc(NRANKS, 2);
	want = malloc(len);
	assert_true(seen && want);
	post(c, &o);
	check(&o, sg_wait(&o.req));
	while (n < NRANKS * 2) {
		assert_int_equal(sg_comm_recv_response(c, &resp, 2000), 0);
		if (resp.coll_id != o.coll_id)
			continue;
		assert_true(resp.rank < NRANKS && resp.chunk < 2);
		assert_false(seen[resp.rank * 2 + resp.chunk]);
		seen[resp.rank * 2 + resp.chunk] = 1;
		tw_contribution((uint32_t)resp.rank, o.coll_id, SG_UINT16, SG_OP_SUM, o.count, want);
		assert_int_equal(resp.len, resp.chunk ? len - cb : cb);
		assert_memory_equal(resp.data, want + resp.chunk * cb, resp.len);
		n++;
	}
	free(seen);
	free(want);
	sg_comm_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_10000),
		cmocka_unit_test(test_window_and_out_of_order),
		cmocka_unit_test(test_epoll_fd),
		cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_pass_responses),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
