// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Communicators of one process sharing an interface on the ebpf transport
 * (one datapath, one XDP hook): a second communicator on a port the first
 * holds, from another local address, is refused on ebpf and under AUTO and
 * leaves the first working; each communicator's completion fd wakes for its
 * own collectives only, so a waiter of one never swallows another's wake-up,
 * whether the application sleeps in its own poll() or in sg_wait().
 *
 * 2 worker namespaces x 4 endpoints; communicator A talks to ranks 0-3,
 * B to ranks 4-7.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"

#define NS		3
#define PER_NS		4
#define COUNT		16	/* uint32: one response chunk */
#define SECOND_ADDR	"10.77.0.2"	/* a second address of the coordinator's sg0 */
/* Bounds on waits that only a bug makes long: reaching one is a failure,
 * not a measurement. */
#define WATCHDOG_MS	60000

static struct testlab tl;
static const uint32_t ranks_a[PER_NS] = { 0, 1, 2, 3 }, ranks_b[PER_NS] = { 4, 5, 6, 7 };
/* The lab's workers trust the first coordinator address they hear (they are
 * not configured with one): the communicator from the second address gets
 * workers of its own, which no other test uses. */
static const uint32_t ranks_c[PER_NS] = { 8, 9, 10, 11 };
/* The communicators a test made, destroyed after it even when it fails. */
static sg_comm **made[4];

static int make_comm(const uint32_t *ranks, uint16_t port, const char *local_addr,
		     enum sg_transport_kind kind, sg_comm **c)
{
	SG_OPTS_INIT(sg_comm_opts, o);
	int err;

	o.local_addr = local_addr;
	o.transport = kind;
	*c = NULL;
	err = testlab_comm(&tl, ranks, PER_NS, port, &o, c);
	for (size_t i = 0; !err && i < sizeof(made) / sizeof(made[0]); i++) {
		if (!made[i] || made[i] == c) {
			made[i] = c;
			break;
		}
	}
	return err;
}

static void destroy(sg_comm **c)
{
	sg_comm_destroy(*c);
	*c = NULL;
}

static int destroy_made(void **state)
{
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		if (made[i])
			destroy(made[i]);
		made[i] = NULL;
	}
	return 0;
}

/* The result of collective @id over @ranks is exact. */
static int exact(const uint32_t *ranks, uint32_t id, const uint32_t *got)
{
	uint32_t want[COUNT];

	return !tw_reference(SG_UINT32, SG_OP_SUM, id, COUNT, ranks, PER_NS, want) &&
	       !memcmp(got, want, sizeof(want));
}

/* One blocking scatter-reduce on @c, checked. */
static void reduce(sg_comm *c, const uint32_t *ranks)
{
	uint32_t got[COUNT];
	sg_request *req = NULL;
	uint32_t id;
	int err;

	err = sg_iscatter_reduce(c, NULL, 0, got, COUNT, SG_UINT32, SG_OP_SUM, NULL, &req);
	if (err)
		fail_msg("sg_iscatter_reduce: %s (%s)", sg_strerror(err), sg_errmsg());
	id = sg_request_id(req);
	err = sg_wait(&req);
	if (err)
		fail_msg("sg_wait: %s (%s)", sg_strerror(err), sg_errmsg());
	assert_true(exact(ranks, id, got));
}

/* -------------------------------------------------- a port already in use */

static char logged[4096];

static void capture(enum sg_log_level level, const char *msg, void *ctx)
{
	size_t used = strlen(logged);

	snprintf(logged + used, sizeof(logged) - used, "%s\n", msg);
}

/* A second communicator on A's port, from another local address of the same
 * interface, is refused with -EADDRINUSE, on ebpf and under AUTO (no fallback
 * to a transport that would seem to work), and A is untouched: its
 * collectives complete and its counters lose nothing. */
static void test_same_port_other_address(void **state)
{
	static const enum sg_transport_kind kinds[] = { SG_TRANSPORT_EBPF, SG_TRANSPORT_AUTO };
	const int rounds = 20;
	struct sg_comm_stats s0, s1;
	static sg_comm *a, *b;
	int n = 0;

	assert_int_equal(make_comm(ranks_a, 6400, NULL, SG_TRANSPORT_EBPF, &a), 0);
	reduce(a, ranks_a);
	assert_int_equal(sg_comm_get_stats(a, &s0), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int err;

		/* Refused clearly: the reason is logged as an error, as for an
		 * explicit transport, not only left in sg_errmsg(). */
		logged[0] = '\0';
		sg_set_log(capture, SG_LOG_ERROR, NULL);
		err = make_comm(ranks_c, 6400, SECOND_ADDR, kinds[k], &b);
		sg_set_log(NULL, SG_LOG_WARN, NULL);
		if (err != -EADDRINUSE)
			fail_msg("%s: second communicator on port 6400 from %s: %s (%s), "
				 "transport %s", sg_transport_name(kinds[k]), SECOND_ADDR,
				 sg_strerror(err), sg_errmsg(),
				 err ? "none" : sg_transport_name(sg_comm_transport(b)));
		assert_null(b);
		assert_non_null(strstr(sg_errmsg(), "port 6400"));
		if (!strstr(logged, "port 6400"))
			fail_msg("%s: the refusal was not logged as an error; log: '%s'",
				 sg_transport_name(kinds[k]), logged);
		for (int i = 0; i < rounds; i++, n++)
			reduce(a, ranks_a);
	}
	assert_int_equal(sg_comm_get_stats(a, &s1), 0);
	/* Every contribution of every collective folded in the kernel, nothing
	 * passed up, dropped as foreign or malformed. */
	assert_int_equal(s1.completed - s0.completed, n);
	assert_int_equal(s1.rx_accepted - s0.rx_accepted, n * PER_NS);
	assert_int_equal(s1.tx_fanout - s0.tx_fanout, n * PER_NS);
	assert_int_equal(s1.rx_unknown_src - s0.rx_unknown_src, 0);
	assert_int_equal(s1.rx_malformed - s0.rx_malformed, 0);
	destroy(&a);

	/* The address and the port are fine on their own: once A is gone the
	 * same communicator is created and completes. */
	assert_int_equal(make_comm(ranks_c, 6400, SECOND_ADDR, SG_TRANSPORT_EBPF, &b), 0);
	reduce(b, ranks_c);
	destroy(&b);
}

/* ------------------------------------------------ completion fds of their own */

/* A's waiter drains what it can while B's completion record is pending: B's
 * fd must still be readable afterwards. A's collective cannot complete (a
 * muted worker), so its sg_wait() sleeps in poll() and consumes whatever
 * wakes it until its timeout. */
static void test_wait_leaves_other_comm_readable(void **state)
{
	uint32_t got_a[COUNT], got_b[COUNT];
	SG_OPTS_INIT(sg_reduce_params, pa);
	struct pollfd pfd = { .events = POLLIN };
	sg_request *ra = NULL, *rb = NULL;
	static sg_comm *a, *b;
	uint32_t id_b;
	int done = 0;

	assert_int_equal(make_comm(ranks_a, 6410, NULL, SG_TRANSPORT_EBPF, &a), 0);
	assert_int_equal(make_comm(ranks_b, 6411, NULL, SG_TRANSPORT_EBPF, &b), 0);
	pfd.fd = sg_comm_fd(b);
	assert_true(pfd.fd >= 0);

	/* B completes; its record waits behind B's fd. */
	assert_int_equal(sg_iscatter_reduce(b, NULL, 0, got_b, COUNT, SG_UINT32, SG_OP_SUM, NULL,
					    &rb), 0);
	id_b = sg_request_id(rb);
	if (poll(&pfd, 1, WATCHDOG_MS) != 1)
		fail_msg("watchdog: B's fd did not become readable in %d ms", WATCHDOG_MS);

	/* A waits, and drains. */
	assert_int_equal(tw_shared_set_behavior(tl.shared, ranks_a[0], TW_MUTE, 0), 0);
	pa.timeout_ms = 300;
	assert_int_equal(sg_iscatter_reduce(a, NULL, 0, got_a, COUNT, SG_UINT32, SG_OP_SUM, &pa,
					    &ra), 0);
	assert_int_equal(sg_wait(&ra), -ETIMEDOUT);
	assert_int_equal(tw_shared_set_behavior(tl.shared, ranks_a[0], 0, 0), 0);

	/* B's application still gets its wake-up. */
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(sg_test(&rb, &done), 0);
	assert_int_equal(done, 1);
	assert_true(exact(ranks_b, id_b, got_b));
	/* Each communicator has an fd of its own. */
	assert_int_not_equal(sg_comm_fd(a), sg_comm_fd(b));
	reduce(a, ranks_a);
	destroy(&a);
	destroy(&b);
}

/* An application thread per communicator, both with collectives in flight at
 * once. Most collectives are waited for the way an event loop does (sleep in
 * poll() on sg_comm_fd() with no timeout, then sg_test()); every third one
 * with sg_wait(), the library's own waiter, which drains its fd meanwhile.
 * Every wake-up must reach its application: a lost one leaves a thread asleep
 * for good, and the watchdog ends the test as a failure. */
#define APP_ROUNDS	300

struct app {
	sg_comm *comm;
	const uint32_t *ranks;
	pthread_t thread;
	pthread_barrier_t *start;
	volatile int stop;		/* set by the watchdog */
	int done;			/* collectives completed and exact */
	int err;			/* first failure, or 0 */
	const char *what;		/* what failed */
};

static void on_sigusr1(int sig)
{
	/* Only there to interrupt a poll() (no SA_RESTART). */
}

static void *app_main(void *arg)
{
	struct app *ap = arg;
	struct pollfd pfd = { .fd = sg_comm_fd(ap->comm), .events = POLLIN };

	pthread_barrier_wait(ap->start);
	for (int i = 0; i < APP_ROUNDS && !ap->stop; i++) {
		uint32_t got[COUNT];
		sg_request *req = NULL;
		uint32_t id;
		int err, done = 0;

		err = sg_iscatter_reduce(ap->comm, NULL, 0, got, COUNT, SG_UINT32, SG_OP_SUM, NULL,
					 &req);
		if (err) {
			ap->err = err;
			ap->what = "sg_iscatter_reduce";
			return NULL;
		}
		id = sg_request_id(req);
		if (i % 3 == 2) {
			err = sg_wait(&req);
			done = !err;
		} else {
			/* Other work before the application goes to sleep: the
			 * collective may complete meanwhile. */
			usleep(500);
		}
		while (!err && !done) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				err = -errno;
				break;
			}
			if (ap->stop) {
				ap->err = -ETIMEDOUT;
				ap->what = "a wake-up never came (watchdog)";
				return NULL;
			}
			err = sg_test(&req, &done);
		}
		if (err) {
			ap->err = err;
			ap->what = "waiting";
			return NULL;
		}
		if (!exact(ap->ranks, id, got)) {
			ap->err = -EIO;
			ap->what = "wrong result";
			return NULL;
		}
		ap->done++;
	}
	return NULL;
}

static void test_app_threads_poll_their_own_fd(void **state)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 }, old;
	static pthread_barrier_t start;
	static struct app apps[2];	/* static: destroy_made() reaches their comms */
	struct timespec deadline;
	int late = 0;

	apps[0] = (struct app){ .ranks = ranks_a, .start = &start };
	apps[1] = (struct app){ .ranks = ranks_b, .start = &start };

	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(make_comm(ranks_a, 6420, NULL, SG_TRANSPORT_EBPF, &apps[0].comm), 0);
	assert_int_equal(make_comm(ranks_b, 6421, NULL, SG_TRANSPORT_EBPF, &apps[1].comm), 0);
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&apps[i].thread, NULL, app_main, &apps[i]), 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WATCHDOG_MS / 1000;
	for (int i = 0; i < 2; i++) {
		if (pthread_timedjoin_np(apps[i].thread, NULL, &deadline) == 0)
			continue;
		/* The watchdog: wake the sleeper, which reports the failure. */
		late = 1;
		for (int j = 0; j < 2; j++) {
			apps[j].stop = 1;
			pthread_kill(apps[j].thread, SIGUSR1);
		}
		pthread_join(apps[i].thread, NULL);
	}
	pthread_barrier_destroy(&start);
	sigaction(SIGUSR1, &old, NULL);
	for (int i = 0; i < 2; i++) {
		destroy(&apps[i].comm);
		if (apps[i].err)
			fail_msg("communicator %c: %s after %d collectives: %s%s", 'A' + i,
				 apps[i].what, apps[i].done, sg_strerror(apps[i].err),
				 late ? " (the watchdog ended the test)" : "");
		assert_int_equal(apps[i].done, APP_ROUNDS);
	}
	assert_false(late);
}

static int setup(void **state)
{
	char cmd[256];

	/* AUTO must mean AUTO here, whatever the caller's environment says. */
	unsetenv("SG_TRANSPORT");
	if (testlab_start(&tl, "sgi", NS, PER_NS))
		return -1;
	/* A second address on the coordinator's interface, in the lab's own
	 * namespace (gone with it). */
	snprintf(cmd, sizeof(cmd), "ip -n %s addr add %s/%d dev %s",
		 netlab_ns_name(tl.lab, NETLAB_COORD), SECOND_ADDR, NETLAB_PREFIX_LEN,
		 NETLAB_IFNAME);
	if (system(cmd) != 0) {
		fprintf(stderr, "setup: '%s' failed\n", cmd);
		testlab_stop(&tl);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	testlab_stop(&tl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_same_port_other_address, destroy_made),
		cmocka_unit_test_teardown(test_wait_leaves_other_comm_readable, destroy_made),
		cmocka_unit_test_teardown(test_app_threads_poll_their_own_fd, destroy_made),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
