// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The communicator's secrets: the PRF is SipHash-2-4 as specified, tokens
 * differ per worker, collective and secret, nonces give nothing of the next
 * away, without randomness from the kernel sg_comm_create() fails instead of
 * falling back to a guessable seed, and responses passed on to the socket
 * are authenticated like the XDP program authenticates them. No privileges
 * needed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sgbpf.h"
#include "coll/comm.h"

/* The reference test vector of SipHash-2-4 (key 00..0f, message 00..0f). */
static void test_siphash_vector(void **state)
{
	assert_int_equal(sg_siphash16(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull,
				      0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull),
			 0x3f2acc7f57c29bdbull);
}

static void test_tokens(void **state)
{
	const __u64 k[2] = { 0x1111, 0x2222 }, k2[2] = { 0x1111, 0x2223 };
	uint64_t t = sg_wire_token(k, 42, 7, 3);

	assert_true(t & 1);	/* never 0 */
	assert_int_not_equal(t, sg_wire_token(k, 42, 7, 4));	/* another worker */
	assert_int_not_equal(t, sg_wire_token(k, 43, 7, 3));	/* another nonce */
	assert_int_not_equal(t, sg_wire_token(k, 42, 8, 3));	/* another collective */
	assert_int_not_equal(t, sg_wire_token(k2, 42, 7, 3));	/* another secret */
	/* An allgather's acknowledgements echo the result's token. */
	assert_int_equal(t, sg_wire_token(k, 42, 7 | SG_COLL_ACK, 3));
}

/* splitmix64, the nonce generator before: its output function is invertible,
 * so one nonce gives the state and every later nonce. */
static uint64_t unmix(uint64_t z)
{
	z = (z ^ (z >> 31) ^ (z >> 62)) * 0x319642b2d24d8ec3ull;
	z = (z ^ (z >> 27) ^ (z >> 54)) * 0x96de1b173f119089ull;
	return z ^ (z >> 30) ^ (z >> 60);
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_nonce_unpredictable(void **state)
{
	struct sg_comm comm;
	uint64_t n1, n2, guess;

	/* The attack works on splitmix64 (the check that it would have). */
	assert_int_equal(unmix(mix(0x123456789abcdefull)), 0x123456789abcdefull);
	memset(&comm, 0, sizeof(comm));
	comm.nonce_key[0] = 0x0123456789abcdefull;
	comm.nonce_key[1] = 0xfedcba9876543210ull;
	n1 = sg_comm_nonce(&comm);
	n2 = sg_comm_nonce(&comm);
	guess = mix(unmix(n1) + 0x9e3779b97f4a7c15ull);
	assert_int_not_equal(guess, n2);
	assert_int_not_equal(n1, n2);
	/* Another secret, the same counter: other nonces. */
	comm.nonce_count = 0;
	comm.nonce_key[0] ^= 1;
	assert_int_not_equal(sg_comm_nonce(&comm), n1);
}

/* sg_comm_create() on lo with getrandom() failing (a seccomp filter in a
 * child process): it must fail, not run on a guessable secret. */
static void test_no_guessable_fallback(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getrandom, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		struct sockaddr_in w = { .sin_family = AF_INET, .sin_port = htons(47001) };
		SG_OPTS_INIT(sg_comm_opts, o);
		sg_comm *comm = NULL;
		int err;

		w.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(3);
		sg_set_log(NULL, SG_LOG_ERROR + 0, NULL);
		o.ifname = "lo";
		o.local_addr = "127.0.0.1";
		o.local_port = 47000;
		o.workers = &w;
		o.nworkers = 1;
		o.transport = SG_TRANSPORT_NAIVE;
		err = sg_comm_create(&o, &comm);
		sg_comm_destroy(comm);
		if (err == -ENOSYS && strstr(sg_errmsg(), "getrandom"))
			_exit(0);
		_exit(err ? 2 : 1);	/* 1: created on a guessable secret */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Passed-on responses are checked like the XDP program checks them: a
 * well-formed response from a worker's address is delivered only with that
 * worker's token for a collective the communicator posted. */
static void test_passed_response_checks(void **state)
{
	struct sockaddr_in workers[2] = {
		{ .sin_family = AF_INET, .sin_port = htons(7000) },
		{ .sin_family = AF_INET, .sin_port = htons(7001) },
	};
	struct sockaddr_in stranger = workers[1];
	uint8_t dgram[SG_WIRE_HDR_LEN + 4] = { 0 };
	struct sg_wire_msg m = {
		.type = SG_WIRE_RESPONSE, .dtype = SG_UINT32, .op = SG_OP_SUM,
		.coll_id = 9, .count = 1, .msg_len = 4, .nonce = 0xabcdef,
	};
	struct sg_comm comm;
	struct sg_wire_hdr h;
	size_t rank;

	workers[0].sin_addr.s_addr = htonl(0x0a000001);
	workers[1].sin_addr.s_addr = htonl(0x0a000002);
	stranger.sin_port = htons(7002);
	memset(&comm, 0, sizeof(comm));
	comm.workers = workers;
	comm.nworkers = 2;
	comm.key[0] = 0x1234;
	comm.key[1] = 0x5678;
	sg_comm_mark_posted(&comm, 9, 0xabcdef);

	m.auth = sg_wire_token(comm.key, m.nonce, m.coll_id, 1);
	sg_wire_encode(dgram, &m, 0);
	assert_int_equal(sg_comm_check_passed(&comm, dgram, sizeof(dgram), &workers[1], &h, &rank), 0);
	assert_int_equal(rank, 1);
	/* Worker 1's datagram claimed by worker 0's address: forged. */
	assert_int_equal(sg_comm_check_passed(&comm, dgram, sizeof(dgram), &workers[0], &h, &rank),
			 -EPERM);
	assert_int_equal(sg_comm_check_passed(&comm, dgram, sizeof(dgram), &stranger, &h, &rank),
			 -EBADMSG);
	/* Not what the slot collected last: another nonce, the token right. */
	m.nonce ^= 1;
	m.auth = sg_wire_token(comm.key, m.nonce, m.coll_id, 1);
	sg_wire_encode(dgram, &m, 0);
	assert_int_equal(sg_comm_check_passed(&comm, dgram, sizeof(dgram), &workers[1], &h, &rank),
			 -ESTALE);
	/* No token at all. */
	m.nonce ^= 1;
	m.auth = 0;
	sg_wire_encode(dgram, &m, 0);
	assert_int_equal(sg_comm_check_passed(&comm, dgram, sizeof(dgram), &workers[1], &h, &rank),
			 -EPERM);
}

/* An options struct from an older header (shorter sz) gets its own fields
 * and defaults for the rest: bytes past its sz are never read. */
static void test_short_comm_opts(void **state)
{
	struct {
		struct sg_comm_opts o;
		uint8_t after[16];
	} old;
	struct sockaddr_in w = { .sin_family = AF_INET, .sin_port = htons(47011) };
	sg_comm *comm = NULL;

	w.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&old, 0xa5, sizeof(old));	/* what lies past the caller's struct */
	memset(&old.o, 0, offsetof(struct sg_comm_opts, transport));
	old.o.sz = offsetof(struct sg_comm_opts, transport);	/* no transport field */
	old.o.ifname = "lo";
	old.o.local_addr = "127.0.0.1";
	old.o.local_port = 47010;
	old.o.workers = &w;
	old.o.nworkers = 1;
	/* AUTO, from the environment: a user-space transport, no privileges. */
	setenv("SG_TRANSPORT", "naive", 1);
	assert_int_equal(sg_comm_create(&old.o, &comm), 0);
	assert_int_equal(sg_comm_transport(comm), SG_TRANSPORT_NAIVE);
	sg_comm_destroy(comm);
	unsetenv("SG_TRANSPORT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_nonce_unpredictable),
		cmocka_unit_test(test_no_guessable_fallback),
		cmocka_unit_test(test_passed_response_checks),
		cmocka_unit_test(test_short_comm_opts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
