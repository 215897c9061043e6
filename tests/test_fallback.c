// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The fallback for users who cannot load BPF programs: a coordinator that has
 * dropped root (uid nobody, no capabilities) asks for the default transport
 * and gets io_uring, with the reason logged, and exact collectives; asking
 * for ebpf explicitly fails instead of silently running something else.
 *
 * The lab and its workers are built as root; only the coordinator, a forked
 * child in the coordinator's namespace, drops its privileges.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/libbpf.h>
#include <net/if.h>

#include "sgbpf.h"
#include "tests/lab/testlab.h"

#define NS	2
#define PER_NS	4
#define NRANKS	(NS * PER_NS)
#define NOBODY	65534
#define COUNT	1000	/* int32: 4 chunks */

static struct testlab tl;
static uint32_t ranks[NRANKS];
static char logged[4096];

static void capture(enum sg_log_level level, const char *msg, void *ctx)
{
	size_t used = strlen(logged);

	snprintf(logged + used, sizeof(logged) - used, "%s\n", msg);
}

#define CHECK(cond, ...)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "coordinator: %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, " (last error: %s)\n", sg_errmsg());           \
			return 1;                                                      \
		}                                                                      \
	} while (0)

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY)) {
		perror("coordinator: dropping root");
		return -1;
	}
	return 0;
}

/* The unprivileged coordinator; exit status 0 when everything held. */
static int coordinator(void)
{
	SG_OPTS_INIT(sg_comm_opts, opts);
	int32_t got[COUNT], want[COUNT], small[4] = { 1, 2, 3, 4 };
	sg_comm *c = NULL;
	sg_request *req = NULL;
	uint32_t id;
	int err;

	unsetenv("SG_TRANSPORT");
	if (drop_privileges())
		return 1;
	CHECK(geteuid() == NOBODY, "still uid %u", geteuid());

	/* Explicit ebpf: refused, not replaced. */
	opts.transport = SG_TRANSPORT_EBPF;
	err = testlab_comm(&tl, ranks, NRANKS, 6301, &opts, &c);
	CHECK(err == -EPERM || err == -EACCES, "explicit ebpf without privileges gave %d", err);
	CHECK(!c, "a communicator came back with an error");

	/* Default: io_uring, and the log says why. */
	sg_set_log(capture, SG_LOG_WARN, NULL);
	opts.transport = SG_TRANSPORT_AUTO;
	err = testlab_comm(&tl, ranks, NRANKS, 6302, &opts, &c);
	sg_set_log(NULL, SG_LOG_WARN, NULL);
	CHECK(!err, "sg_comm_create (auto) failed: %d", err);
	CHECK(sg_comm_transport(c) == SG_TRANSPORT_IO_URING, "fell back to %s",
	      sg_transport_name(sg_comm_transport(c)));
	CHECK(strstr(logged, "ebpf transport unavailable") &&
	      strstr(logged, "falling back to io_uring"), "log: '%s'", logged);
	/* One warning, not the failed attempt's own errors. */
	CHECK(!strstr(logged, "libbpf") && !strchr(logged, '\n')[1], "log: '%s'", logged);
	fprintf(stderr, "coordinator logged: %s", logged);

	/* Exact collectives. */
	for (int round = 0; round < 20; round++) {
		err = sg_iscatter_reduce(c, NULL, 0, got, COUNT, SG_INT32, SG_OP_SUM, NULL, &req);
		CHECK(!err, "sg_iscatter_reduce: %d", err);
		id = sg_request_id(req);
		CHECK(!sg_wait(&req), "sg_wait");
		CHECK(!tw_reference(SG_INT32, SG_OP_SUM, id, COUNT, ranks, NRANKS, want), "ref");
		CHECK(!memcmp(got, want, sizeof(got)), "round %d: wrong sum", round);
	}
	err = sg_allgather(c, NULL, 0, got, COUNT, SG_INT32, SG_OP_MAX, NULL);
	CHECK(!err, "sg_allgather: %d", err);
	CHECK(!sg_bcast(c, small, sizeof(small)), "sg_bcast");
	sg_comm_destroy(c);
	return 0;
}

static void test_unprivileged_falls_back_to_io_uring(void **state)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid)
		_exit(coordinator());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Nothing was attached on the way. */
	assert_int_equal(bpf_xdp_query((int)if_nametoindex(NETLAB_IFNAME), 0, &q), 0);
	assert_int_equal(q.prog_id, 0);
}

static int setup(void **state)
{
	for (uint32_t r = 0; r < NRANKS; r++)
		ranks[r] = r;
	return testlab_start(&tl, "sgf", NS, PER_NS) ? -1 : 0;
}

static int teardown(void **state)
{
	testlab_stop(&tl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unprivileged_falls_back_to_io_uring),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
