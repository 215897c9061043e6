// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark workers (bench/workers.h) in both modes, against the ebpf
 * transport and the user-space ones (epoll, io_uring: the coordinator's stack
 * checks every checksum the reflector wrote): scatter-reduce results equal n times the
 * request for one- and multi-chunk requests (host workers: n times the
 * generated vector for an 8-byte request), allgather and bcast are
 * delivered, the workers' counters move by the datagrams sent, and stopping
 * leaves no process, socket or XDP program behind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/libbpf.h>

#include "sgbpf.h"
#include "common/codec.h"
#include "bench/workers.h"

#define NS	4
#define PER_NS	4
#define NRANKS	(NS * PER_NS)

static struct netlab *lab;
static char ns_names[NS + 2][64];

struct run {
	enum bench_worker_mode mode;
	enum sg_transport_kind transport;
	uint16_t port;
	struct bench_workers *bw;
	sg_comm *comm;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t retransmits(struct run *r)
{
	struct sg_comm_stats st;

	assert_int_equal(sg_comm_get_stats(r->comm, &st), 0);
	return st.retransmits;
}

/* Wait (bounded) for the counters to reach @rx0 + @drx and @tx0 + @dtx, then
 * check they moved by exactly that, unless the coordinator retransmitted
 * (under load a worker can be slower than the 5 ms minimum timeout): then a
 * repeated datagram may have been counted too. */
static void expect_counters(struct run *r, uint64_t rx0, uint64_t tx0, uint64_t retr0,
			    uint64_t drx, uint64_t dtx)
{
	uint64_t rx = 0, tx = 0;

	for (int i = 0; i < 500; i++) {
		assert_int_equal(bench_workers_counters(r->bw, &rx, &tx), 0);
		if (rx - rx0 >= drx && tx - tx0 >= dtx)
			break;
		sleep_ms(10);
	}
	if (retransmits(r) != retr0) {
		assert_true(rx - rx0 >= drx);
		assert_true(tx - tx0 >= dtx);
		return;
	}
	assert_int_equal(rx - rx0, drx);
	assert_int_equal(tx - tx0, dtx);
}

static void counters_now(struct run *r, uint64_t *rx, uint64_t *tx, uint64_t *retr)
{
	assert_int_equal(bench_workers_counters(r->bw, rx, tx), 0);
	*retr = retransmits(r);
}

/* Element i of a request of @dt: varied, and for floats exact in sums of 16. */
static void fill_request(void *req, enum sg_datatype dt, size_t count, uint32_t seed)
{
	for (size_t i = 0; i < count; i++) {
		uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;

		switch (dt) {
		case SG_UINT32: ((uint32_t *)req)[i] = (uint32_t)(x >> 7); break;
		case SG_INT64: ((int64_t *)req)[i] = (int64_t)x; break;
		case SG_FLOAT32: ((float *)req)[i] = (float)((int)(x % 2001) - 1000) / 8; break;
		case SG_FLOAT64: ((double *)req)[i] = (double)((int)(x % 20001) - 10000) / 16;
			break;
		default: fail_msg("datatype %d", dt);
		}
	}
}

/* n x request, element by element, with C's wrap-around for the integers. */
static void check_sum(const void *req, const void *got, enum sg_datatype dt, size_t count,
		      unsigned int n)
{
	for (size_t i = 0; i < count; i++) {
		switch (dt) {
		case SG_UINT32:
			assert_int_equal(((const uint32_t *)got)[i],
					 (uint32_t)(n * ((const uint32_t *)req)[i]));
			break;
		case SG_INT64:
			assert_int_equal(((const uint64_t *)got)[i],
					 (uint64_t)n * ((const uint64_t *)req)[i]);
			break;
		case SG_FLOAT32:
			assert_true(fabsf(((const float *)got)[i] - n * ((const float *)req)[i]) <=
				    fabsf(n * ((const float *)req)[i]) * 1e-6f);
			break;
		case SG_FLOAT64:
			assert_true(fabs(((const double *)got)[i] - n * ((const double *)req)[i]) <=
				    fabs(n * ((const double *)req)[i]) * 1e-12);
			break;
		default:
			fail_msg("datatype %d", dt);
		}
	}
}

static size_t resp_chunks(enum sg_datatype dt, size_t len)
{
	return sg_wire_nchunks_of(len, sg_wire_response_chunk(dt));
}

static void one_reduce(struct run *r, enum sg_datatype dt, size_t count, int allgather)
{
	size_t len = count * sg_datatype_size(dt);
	uint8_t *req = malloc(len), *got = malloc(len);
	uint64_t rx0, tx0, retr0, contrib[1] = { 0 };
	SG_OPTS_INIT(sg_reduce_params, p);
	int err;

	assert_non_null(req);
	assert_non_null(got);
	fill_request(req, dt, count, (uint32_t)(count * 7919 + dt));
	memset(got, 0xa5, len);
	p.timeout_ms = 5000;
	p.contributors = contrib;
	p.contributors_words = 1;
	counters_now(r, &rx0, &tx0, &retr0);
	if (allgather)
		err = sg_allgather(r->comm, req, len, got, count, dt, SG_OP_SUM, &p);
	else
		err = sg_scatter_reduce(r->comm, req, len, got, count, dt, SG_OP_SUM, &p);
	if (err)
		fail_msg("%s %s dt %d count %zu: %s (%s)", allgather ? "allgather" : "reduce",
			 sg_transport_name(r->transport), dt, count, sg_strerror(err), sg_errmsg());
	assert_int_equal(p.ncontributors, NRANKS);
	assert_int_equal(contrib[0], (1ull << NRANKS) - 1);
	check_sum(req, got, dt, count, NRANKS);
	/* Requests (and results) in 1024-byte chunks; answers in response
	 * chunks; one acknowledgement per result. */
	expect_counters(r, rx0, tx0, retr0,
			NRANKS * (sg_wire_nchunks(len) * (allgather ? 2 : 1)),
			NRANKS * (resp_chunks(dt, len) + (allgather ? 1 : 0)));
	free(req);
	free(got);
}

/* A generated-contribution request (bench/workers.h): 8 bytes in, @count
 * elements of bench_gen_value() out from every rank; the sum is exact, float32
 * included. */
static void one_gen(struct run *r, enum sg_datatype dt, size_t count, uint32_t salt)
{
	uint32_t req[2] = { htole32(BENCH_GEN_MAGIC), htole32(salt) };
	uint32_t *got = malloc(count * 4);
	uint64_t rx0, tx0, retr0;
	SG_OPTS_INIT(sg_reduce_params, p);
	int err;

	assert_non_null(got);
	p.timeout_ms = 5000;
	counters_now(r, &rx0, &tx0, &retr0);
	err = sg_scatter_reduce(r->comm, req, sizeof(req), got, count, dt, SG_OP_SUM, &p);
	if (err)
		fail_msg("generated %s dt %d count %zu: %s (%s)", sg_transport_name(r->transport),
			 dt, count, sg_strerror(err), sg_errmsg());
	assert_int_equal(p.ncontributors, NRANKS);
	for (size_t i = 0; i < count; i++) {
		uint32_t want = NRANKS * bench_gen_value(salt, i);

		if (dt == SG_FLOAT32)
			assert_true(((float *)got)[i] == (float)want);
		else
			assert_int_equal(got[i], want);
	}
	expect_counters(r, rx0, tx0, retr0, NRANKS, NRANKS * resp_chunks(dt, count * 4));
	free(got);
}

static void one_bcast(struct run *r, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t rx0, tx0, retr0;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	counters_now(r, &rx0, &tx0, &retr0);
	assert_int_equal(sg_bcast(r->comm, buf, len), 0);
	expect_counters(r, rx0, tx0, retr0, NRANKS * sg_wire_nchunks(len), 0);
	free(buf);
}

/* Bound to a rank's address and port in its namespace: only possible when no
 * worker socket holds it any more. */
static int port_free(const struct sockaddr_in *a, int ns)
{
	int fd, ok;

	assert_int_equal(netlab_enter(lab, ns), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	ok = !bind(fd, (const struct sockaddr *)a, sizeof(*a));
	close(fd);
	assert_int_equal(netlab_enter_coordinator(lab), 0);
	return ok;
}

static uint32_t xdp_prog_on(int ns, const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	unsigned int ifindex;

	assert_int_equal(netlab_enter(lab, ns), 0);
	ifindex = if_nametoindex(ifname);
	assert_true(ifindex > 0);
	assert_int_equal(bpf_xdp_query((int)ifindex, 0, &q), 0);
	assert_int_equal(netlab_enter_coordinator(lab), 0);
	return q.prog_id;
}

static void check_nothing_left(struct run *r)
{
	for (int ns = 0; ns < NS; ns++) {
		char peer[IF_NAMESIZE];

		snprintf(peer, sizeof(peer), "sgw%d", ns);
		assert_int_equal(xdp_prog_on(ns, NETLAB_IFNAME), 0);
		assert_int_equal(xdp_prog_on(NETLAB_SWITCH, peer), 0);
	}
	for (uint32_t rank = 0; rank < NRANKS; rank++) {
		struct sockaddr_in a = {
			.sin_family = AF_INET,
			.sin_port = htons((uint16_t)(BENCH_PORT + rank % PER_NS)),
			.sin_addr = netlab_worker_addr(lab, (int)(rank / PER_NS)),
		};

		assert_true(port_free(&a, (int)(rank / PER_NS)));
	}
}

/* Field @name of the @proto line pair of /proc/net/snmp, in the calling
 * thread's namespace; -1 if absent. */
static long long snmp(const char *proto, const char *name)
{
	char keys[2048], vals[2048], *ks, *vs, *k, *v;
	size_t plen = strlen(proto);
	long long found = -1;
	FILE *f = fopen("/proc/net/snmp", "r");

	assert_non_null(f);
	while (found < 0 && fgets(keys, sizeof(keys), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(keys, proto, plen) || keys[plen] != ':')
			continue;
		k = strtok_r(keys + plen + 1, " \n", &ks);
		v = strtok_r(vals + plen + 1, " \n", &vs);
		for (; k && v; k = strtok_r(NULL, " \n", &ks), v = strtok_r(NULL, " \n", &vs))
			if (!strcmp(k, name))
				found = atoll(v);
	}
	fclose(f);
	return found;
}

static void run_all(enum bench_worker_mode mode, enum sg_transport_kind transport, uint16_t port)
{
	struct run r = { .mode = mode, .transport = transport, .port = port };
	struct sockaddr_in workers[NRANKS];
	SG_OPTS_INIT(sg_comm_opts, o);
	long long csum_errs = snmp("Udp", "InCsumErrors"), hdr_errs = snmp("Ip", "InHdrErrors");
	uint64_t rx, tx;
	int err;

	assert_true(csum_errs >= 0 && hdr_errs >= 0);
	assert_int_equal(bench_workers_start(lab, NS, PER_NS, mode, -1, &r.bw), 0);
	/* The probe of start is not reported. */
	assert_int_equal(bench_workers_counters(r.bw, &rx, &tx), 0);
	assert_int_equal(rx, 0);
	assert_int_equal(tx, 0);
	if (mode == BENCH_WORKERS_REFLECTOR) {
		assert_true(xdp_prog_on(0, NETLAB_IFNAME) != 0);
		assert_true(xdp_prog_on(NETLAB_SWITCH, "sgw0") != 0);
	}
	for (uint32_t i = 0; i < NRANKS; i++) {
		workers[i] = bench_worker_addr(r.bw, i);
		assert_int_equal(workers[i].sin_addr.s_addr, netlab_worker_addr(lab, i / PER_NS).s_addr);
		assert_int_equal(ntohs(workers[i].sin_port), BENCH_PORT + i % PER_NS);
	}
	o.ifname = NETLAB_IFNAME;
	o.local_port = port;
	o.workers = workers;
	o.nworkers = NRANKS;
	o.transport = transport;
	/* reflectors answer from the request itself: no split vectors */
	if (mode == BENCH_WORKERS_REFLECTOR)
		o.incast_bytes = SIZE_MAX;
	err = sg_comm_create(&o, &r.comm);
	if (err)
		fail_msg("sg_comm_create(%s): %s (%s)", sg_transport_name(transport),
			 sg_strerror(err), sg_errmsg());

	/* One chunk, exactly one chunk, and two to four chunks. */
	one_reduce(&r, SG_UINT32, 1, 0);
	one_reduce(&r, SG_UINT32, 16, 0);
	one_reduce(&r, SG_UINT32, 256, 0);
	one_reduce(&r, SG_UINT32, 257, 0);
	one_reduce(&r, SG_UINT32, 1000, 0);
	one_reduce(&r, SG_INT64, 1, 0);
	one_reduce(&r, SG_INT64, 300, 0);
	one_reduce(&r, SG_FLOAT64, 200, 0);
	one_reduce(&r, SG_FLOAT32, 128, 0); /* 512 bytes: the reflector's largest */
	if (mode == BENCH_WORKERS_HOST)
		one_reduce(&r, SG_FLOAT32, 600, 0);
	one_reduce(&r, SG_UINT32, SG_MAX_SEGMENT_BYTES / 4, 0); /* the largest request: 745 chunks */
	if (mode == BENCH_WORKERS_HOST) {
		one_gen(&r, SG_FLOAT32, 1, 7);
		one_gen(&r, SG_FLOAT32, 3000, 250);
		one_gen(&r, SG_INT32, 700, 0xfffffffe);
		one_gen(&r, SG_UINT32, 5, 3);
		one_gen(&r, SG_FLOAT32, SG_MAX_SEGMENT_BYTES / 4, 1);
	}
	for (int i = 0; i < 20; i++) /* back to back: no state between rounds */
		one_reduce(&r, SG_UINT32, 16, 0);

	one_reduce(&r, SG_UINT32, 16, 1);
	one_reduce(&r, SG_INT64, 300, 1);
	one_bcast(&r, 1);
	one_bcast(&r, 100);
	one_bcast(&r, 3000);

	/* What reached the coordinator's stack (the probe, and every answer
	 * with the user-space transport) had valid checksums. */
	assert_int_equal(snmp("Udp", "InCsumErrors"), csum_errs);
	assert_int_equal(snmp("Ip", "InHdrErrors"), hdr_errs);

	sg_comm_destroy(r.comm);
	bench_workers_stop(r.bw);
	check_nothing_left(&r);
}

static void test_host_ebpf(void **state)
{
	run_all(BENCH_WORKERS_HOST, SG_TRANSPORT_EBPF, 6101);
}

static void test_host_epoll(void **state)
{
	run_all(BENCH_WORKERS_HOST, SG_TRANSPORT_EPOLL, 6102);
}

static void test_reflector_ebpf(void **state)
{
	run_all(BENCH_WORKERS_REFLECTOR, SG_TRANSPORT_EBPF, 6103);
}

static void test_reflector_epoll(void **state)
{
	run_all(BENCH_WORKERS_REFLECTOR, SG_TRANSPORT_EPOLL, 6104);
}

static void test_reflector_io_uring(void **state)
{
	run_all(BENCH_WORKERS_REFLECTOR, SG_TRANSPORT_IO_URING, 6106);
}

static void quiet(enum sg_log_level level, const char *msg, void *ctx)
{
}

/* A float32 request of one frame but above a float32 response chunk (1024
 * bytes) would need two response frames: the reflector drops it, and the
 * collective times out. */
static void test_reflector_float32_limit(void **state)
{
	struct bench_workers *bw;
	struct sockaddr_in workers[1];
	SG_OPTS_INIT(sg_comm_opts, o);
	SG_OPTS_INIT(sg_reduce_params, p);
	float req[300] = { 1.0f }, got[300];
	sg_comm *comm;

	assert_int_equal(bench_workers_start(lab, 1, 1, BENCH_WORKERS_REFLECTOR, -1, &bw), 0);
	workers[0] = bench_worker_addr(bw, 0);
	o.ifname = NETLAB_IFNAME;
	o.local_port = 6105;
	o.workers = workers;
	o.nworkers = 1;
	o.transport = SG_TRANSPORT_EBPF;
	assert_int_equal(sg_comm_create(&o, &comm), 0);
	p.timeout_ms = 100;
	sg_set_log(quiet, SG_LOG_ERROR, NULL); /* the timeout is the expected outcome */
	assert_true(sizeof(req) > sg_response_chunk_bytes(SG_FLOAT32) &&
		    sizeof(req) <= SG_CHUNK_BYTES);
	assert_int_equal(sg_scatter_reduce(comm, req, sizeof(req), got, 300, SG_FLOAT32,
					   SG_OP_SUM, &p), -ETIMEDOUT);
	sg_set_log(NULL, SG_LOG_WARN, NULL);
	sg_comm_destroy(comm);
	bench_workers_stop(bw);
}

static void test_bad_args(void **state)
{
	struct bench_workers *bw = NULL;
	struct sockaddr_in a;
	uint64_t rx, tx;

	assert_int_equal(bench_workers_start(NULL, 1, 1, BENCH_WORKERS_HOST, -1, &bw), -EINVAL);
	assert_int_equal(bench_workers_start(lab, NS + 1, 1, BENCH_WORKERS_HOST, -1, &bw), -EINVAL);
	assert_int_equal(bench_workers_start(lab, 1, 0, BENCH_WORKERS_HOST, -1, &bw), -EINVAL);
	assert_int_equal(bench_workers_start(lab, 1, 1, (enum bench_worker_mode)7, -1, &bw),
			 -EINVAL);
	assert_int_equal(bench_workers_start(lab, 1, 1, BENCH_WORKERS_HOST, -2, &bw), -EINVAL);
	/* A core the machine does not have: the host process says so. */
	assert_int_equal(bench_workers_start(lab, 1, 1, BENCH_WORKERS_HOST, 4096, &bw), -EINVAL);
	assert_null(bw);
	assert_int_equal(bench_workers_counters(NULL, &rx, &tx), -EINVAL);
	a = bench_worker_addr(NULL, 0);
	assert_int_equal(a.sin_port, 0);
	bench_workers_stop(NULL);
}

static int setup(void **state)
{
	struct netlab_opts lo = { .sz = sizeof(lo), .prefix = "sgbw", .nworker_ns = NS };

	if (netlab_create(&lo, &lab))
		return -1;
	for (int i = 0; i < NS + 2; i++)
		snprintf(ns_names[i], sizeof(ns_names[i]), "/run/netns/%s",
			 netlab_ns_name(lab, i < 2 ? -1 - i : i - 2));
	return netlab_enter_coordinator(lab);
}

static int teardown(void **state)
{
	netlab_destroy(lab);
	lab = NULL;
	for (int i = 0; i < NS + 2; i++)
		if (!access(ns_names[i], F_OK)) {
			fprintf(stderr, "namespace %s left behind\n", ns_names[i]);
			return -1;
		}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_host_ebpf),
		cmocka_unit_test(test_host_epoll),
		cmocka_unit_test(test_reflector_ebpf),
		cmocka_unit_test(test_reflector_epoll),
		cmocka_unit_test(test_reflector_io_uring),
		cmocka_unit_test(test_reflector_float32_limit),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("skipped: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
