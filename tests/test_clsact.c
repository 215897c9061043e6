// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The TC egress path of kernels without tcx, forced with
 * SGBPF_FORCE_CLSACT=1: the fan-out program is a clsact filter, which, unlike
 * a link, outlives a coordinator killed with SIGKILL (with its stale worker
 * list and program). The next communicator created on the interface removes
 * it and works alone (one clone per worker per datagram); a live
 * coordinator's filter, in another process, is never removed.
 *
 * Filters are listed with the library's rtnetlink reader
 * (transport/clsact.h) and each one confirmed with libbpf's bpf_tc_query()
 * at its handle and priority. The removal of stale filters is also called
 * directly (transport/datapath.h), while another process holds the
 * interface.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"
#include "transport/clsact.h"
#include "transport/datapath.h"

#define NS		1
#define PER_NS		4
#define NRANKS		(NS * PER_NS)
#define COUNT		16	/* uint32: one request and one response datagram */
#define SCATTER_PROG	"sg_scatter"
#define TCX_EGRESS	47
/* Bounds on waits that only a bug makes long: reaching one is a failure,
 * not a measurement. */
#define WATCHDOG_MS	60000

static struct testlab tl;
static const uint32_t ranks[NRANKS] = { 0, 1, 2, 3 };
static int ifindex;

/* A coordinator in a child process, and what it shares with the test. */
enum { CMD_NONE, CMD_REDUCE, CMD_EXIT };

struct child {
	uint16_t port;
	int ready;	/* its communicator completed collectives */
	int cmd;	/* CMD_*, reset to CMD_NONE when carried out */
	int result;	/* of the last CMD_REDUCE: 0 when exact */
};

static struct child *kid;	/* MAP_SHARED */
static pid_t kid_pid;
static sg_comm *comm;		/* the test's own */

static int make_comm(uint16_t port, sg_comm **c)
{
	SG_OPTS_INIT(sg_comm_opts, o);

	o.transport = SG_TRANSPORT_EBPF;
	*c = NULL;
	return testlab_comm(&tl, ranks, NRANKS, port, &o, c);
}

/* One scatter-reduce: 0 when exact, else the error (or -EIO). */
static int reduce(sg_comm *c)
{
	uint32_t got[COUNT], want[COUNT];
	sg_request *req = NULL;
	uint32_t id;
	int err;

	err = sg_iscatter_reduce(c, NULL, 0, got, COUNT, SG_UINT32, SG_OP_SUM, NULL, &req);
	if (err)
		return err;
	id = sg_request_id(req);
	err = sg_wait(&req);
	if (err)
		return err;
	if (tw_reference(SG_UINT32, SG_OP_SUM, id, COUNT, ranks, NRANKS, want) ||
	    memcmp(got, want, sizeof(want)))
		return -EIO;
	return 0;
}

static int coordinator(void *arg)
{
	struct child *k = arg;
	sg_comm *c;
	int err = make_comm(k->port, &c);

	for (int i = 0; i < 5 && !err; i++)
		err = reduce(c);
	if (err)
		return err;
	__atomic_store_n(&k->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		int cmd = __atomic_load_n(&k->cmd, __ATOMIC_ACQUIRE);

		if (cmd == CMD_EXIT)
			break;
		if (cmd == CMD_REDUCE) {
			k->result = reduce(c);
			__atomic_store_n(&k->cmd, CMD_NONE, __ATOMIC_RELEASE);
		}
		usleep(1000);
	}
	sg_comm_destroy(c);
	return 0;
}

/* Start a coordinator on @port in a child and wait until it works. */
static void start_kid(uint16_t port)
{
	memset(kid, 0, sizeof(*kid));
	kid->port = port;
	kid_pid = netlab_spawn(tl.lab, NETLAB_COORD, coordinator, kid);
	assert_true(kid_pid > 0);
	for (int ms = 0; !__atomic_load_n(&kid->ready, __ATOMIC_ACQUIRE); ms++) {
		int st = netlab_wait(tl.lab, kid_pid, 0);

		if (st != -ETIMEDOUT) {
			kid_pid = 0;
			fail_msg("the child coordinator exited with status %d before it was ready",
				 st);
		}
		if (ms > WATCHDOG_MS)
			fail_msg("watchdog: the child coordinator not ready in %d ms", WATCHDOG_MS);
		usleep(1000);
	}
}

/* Have the child run one more collective; 0 when it was exact. */
static int kid_reduce(void)
{
	__atomic_store_n(&kid->cmd, CMD_REDUCE, __ATOMIC_RELEASE);
	for (int ms = 0; __atomic_load_n(&kid->cmd, __ATOMIC_ACQUIRE) != CMD_NONE; ms++) {
		if (ms > WATCHDOG_MS)
			fail_msg("watchdog: the child coordinator ran no collective in %d ms",
				 WATCHDOG_MS);
		usleep(1000);
	}
	return kid->result;
}

/* Have the child destroy its communicator and exit; its exit status. */
static int kid_exit(void)
{
	int st;

	__atomic_store_n(&kid->cmd, CMD_EXIT, __ATOMIC_RELEASE);
	st = netlab_wait(tl.lab, kid_pid, WATCHDOG_MS);
	if (st != -ETIMEDOUT)
		kid_pid = 0;
	return st;
}

/* The sg_scatter filters on sg0's clsact egress hook (at most @max in
 * @out); each one is where libbpf finds it too. */
static size_t scatter_filters(struct sg_tc_filter *out, size_t max)
{
	struct sg_tc_filter all[16];
	int n = sg_clsact_egress_filters(ifindex, all, 16);
	size_t k = 0;

	if (n < 0 || n > 16)
		fail_msg("sg_clsact_egress_filters: %d", n);
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = all[i].handle, .priority = all[i].prio);

		if (!sg_tc_filter_runs(&all[i], SCATTER_PROG))
			continue;
		assert_int_equal(bpf_tc_query(&hook, &q), 0);
		assert_int_equal(q.prog_id, all[i].prog_id);
		if (k < max)
			out[k] = all[i];
		k++;
	}
	return k;
}

static uint32_t xdp_prog(void)
{
	uint32_t id = 0;

	assert_int_equal(bpf_xdp_query_id(ifindex, 0, &id), 0);
	return id;
}

static uint32_t tcx_programs(void)
{
	uint32_t ids[4], cnt = 4, flags = 0;

	assert_int_equal(bpf_prog_query(ifindex, TCX_EGRESS, 0, &flags, ids, &cnt), 0);
	return cnt;
}

static char logged[4096];

static void capture(enum sg_log_level level, const char *msg, void *ctx)
{
	size_t used = strlen(logged);

	snprintf(logged + used, sizeof(logged) - used, "%s\n", msg);
}

/* The forced path attaches a clsact filter and no tcx link, works, and
 * leaves nothing when destroyed (but the clsact qdisc, which is not its
 * own: attaching again finds it, without a warning); a bad value is
 * refused. */
static void test_forced_clsact(void **state)
{
	struct sg_tc_filter f;

	setenv("SGBPF_FORCE_CLSACT", "yes", 1);
	assert_int_equal(make_comm(6500, &comm), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "SGBPF_FORCE_CLSACT"));
	assert_null(comm);
	setenv("SGBPF_FORCE_CLSACT", "1", 1);
	assert_int_equal(xdp_prog(), 0);

	assert_int_equal(make_comm(6500, &comm), 0);
	assert_int_equal(scatter_filters(&f, 1), 1);
	assert_int_equal(tcx_programs(), 0);
	assert_int_not_equal(xdp_prog(), 0);
	assert_int_equal(reduce(comm), 0);
	sg_comm_destroy(comm);
	comm = NULL;
	assert_int_equal(scatter_filters(&f, 1), 0);
	assert_int_equal(xdp_prog(), 0);

	logged[0] = '\0';
	sg_set_log(capture, SG_LOG_WARN, NULL);
	assert_int_equal(make_comm(6500, &comm), 0);
	sg_set_log(NULL, SG_LOG_WARN, NULL);
	if (logged[0])
		fail_msg("attaching where the clsact qdisc exists logged: '%s'", logged);
	assert_int_equal(scatter_filters(&f, 1), 1);
	assert_int_equal(reduce(comm), 0);
	sg_comm_destroy(comm);
	comm = NULL;
	assert_int_equal(scatter_filters(&f, 1), 0);
}

/* A coordinator killed with SIGKILL leaves its filter behind; the next
 * communicator on the interface removes it and fans out alone. */
static void test_killed_coordinator_filter_removed(void **state)
{
	const int rounds = 20;
	struct sg_tc_filter stale, f[4];
	struct sg_comm_stats s0, s1;

	start_kid(6501);
	assert_int_equal(scatter_filters(&stale, 1), 1);
	kill(kid_pid, SIGKILL);
	assert_int_equal(netlab_wait(tl.lab, kid_pid, WATCHDOG_MS), 128 + SIGKILL);
	kid_pid = 0;
	/* The XDP link went with the process; the clsact filter did not. */
	assert_int_equal(xdp_prog(), 0);
	assert_int_equal(scatter_filters(f, 1), 1);
	assert_int_equal(f[0].prog_id, stale.prog_id);

	assert_int_equal(make_comm(6501, &comm), 0);
	if (scatter_filters(f, 4) != 1 || f[0].prog_id == stale.prog_id)
		fail_msg("after the new communicator: %zu sg_scatter filters (program %u; the "
			 "killed coordinator's was %u)", scatter_filters(f, 4), f[0].prog_id,
			 stale.prog_id);
	assert_int_equal(sg_comm_get_stats(comm, &s0), 0);
	for (int i = 0; i < rounds; i++)
		assert_int_equal(reduce(comm), 0);
	assert_int_equal(sg_comm_get_stats(comm, &s1), 0);
	/* One clone per worker per request datagram: no second fan-out. */
	assert_int_equal(s1.tx_fanout - s0.tx_fanout, rounds * NRANKS);
	assert_int_equal(s1.completed - s0.completed, rounds);
	sg_comm_destroy(comm);
	comm = NULL;
	assert_int_equal(scatter_filters(f, 4), 0);
	assert_int_equal(xdp_prog(), 0);
}

/* The filter of the coordinator in another process, unchanged. */
static void expect_kept(const struct sg_tc_filter *live)
{
	struct sg_tc_filter f;

	assert_int_equal(scatter_filters(&f, 1), 1);
	assert_int_equal(f.prog_id, live->prog_id);
	assert_int_equal(f.handle, live->handle);
	assert_int_equal(f.prio, live->prio);
}

/* A live coordinator in another process keeps its filter: a second one on
 * the interface fails at the XDP hook (-EBUSY) and removes nothing; nor
 * does the removal of stale filters itself, asked by a datapath that does
 * not hold the interface's XDP hook. */
static void test_live_coordinator_filter_kept(void **state)
{
	struct sg_tc_filter live;
	struct sg_dp dp;

	start_kid(6502);
	assert_int_equal(scatter_filters(&live, 1), 1);
	assert_int_equal(make_comm(6503, &comm), -EBUSY);
	assert_null(comm);
	expect_kept(&live);

	assert_int_equal(sg_dp_open(&dp, false), 0);
	assert_int_equal(sg_dp_remove_stale_tc(&dp, ifindex), 0);
	sg_dp_close(&dp);
	expect_kept(&live);

	/* And it still fans out. */
	assert_int_equal(kid_reduce(), 0);
	assert_int_equal(kid_exit(), 0);
	assert_int_equal(scatter_filters(&live, 1), 0);
	assert_int_equal(xdp_prog(), 0);
}

/* After each test, even a failed one: no coordinator of its left running. */
static int cleanup(void **state)
{
	sg_comm_destroy(comm);
	comm = NULL;
	if (kid_pid > 0) {
		kill(kid_pid, SIGKILL);
		netlab_wait(tl.lab, kid_pid, -1);
	}
	kid_pid = 0;
	return 0;
}

static int setup(void **state)
{
	unsetenv("SG_TRANSPORT");
	setenv("SGBPF_FORCE_CLSACT", "1", 1);
	kid = mmap(NULL, sizeof(*kid), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kid == MAP_FAILED)
		return -1;
	if (testlab_start(&tl, "sgk", NS, PER_NS))
		return -1;
	ifindex = (int)if_nametoindex(NETLAB_IFNAME);
	return ifindex > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	/* The namespace goes, and with it any filter a failed test left. */
	testlab_stop(&tl);
	munmap(kid, sizeof(*kid));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_forced_clsact, cleanup),
		cmocka_unit_test_teardown(test_killed_coordinator_filter_removed, cleanup),
		cmocka_unit_test_teardown(test_live_coordinator_filter_kept, cleanup),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
