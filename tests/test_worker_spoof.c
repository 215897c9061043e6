// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Workers under an attacker who spoofs source addresses (issue 10, item 1),
 * in a lab of namespaces (tests/lab/netlab.h):
 *
 *   coordinator 10.77.0.1     a communicator on port CPORT over two workers
 *   worker ns   10.77.1.1     rank 0 on WPORT, configured with the
 *                             communicator's address and port; rank 1 on
 *                             WPORT + 1, unconfigured (it trusts the first
 *                             coordinator it hears, the real one); a test
 *                             worker process that answers every request
 *   victim ns   10.77.1.2     a UDP socket on VPORT
 *   attacker ns 10.77.1.3     a raw socket (IP_HDRINCL) that writes any
 *                             source address
 *
 * and a packet socket in the worker namespace that sees every datagram the
 * workers receive and send. A forged request for a 1 MiB answer, from the
 * victim's address, and the bytes of a real request replayed from the
 * victim's address, reach nobody: the victim receives nothing, the workers
 * count the datagram as foreign, the application never sees it. Replayed
 * from the coordinator's address, the cached answer goes to the coordinator
 * and nowhere else. Real collectives complete before and after.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
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

#include "bpf_frames.h"
#include "sgbpf.h"
#include "common/codec.h"
#include "tests/lab/testworker.h"
#include "tests/lab/netlab.h"

#define W_NS		0
#define VICTIM_NS	1
#define ATTACKER_NS	2
#define CPORT		6300
#define WPORT		7000
#define VPORT		9000
#define NRANKS		2
#define QUIET_MS	300	/* what must not arrive: how long to wait for it */
#define WAIT_MS		5000	/* what must happen: the longest wait */

static struct netlab *lab;
static struct tw_shared *shared;
static struct tw_serve_opts serve[NRANKS];
static sg_comm *comm;
static int victim = -1, raw = -1, sniff = -1;
static struct sockaddr_in coord, waddr[NRANKS], vaddr;

static long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct sockaddr_in in_addr_port(struct in_addr a, uint16_t port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr = a,
				     .sin_port = htons(port) };
}

/* ------------------------------------------------------------ the attacker */

/* Send @len bytes of UDP payload to @dst from the raw socket, with the source
 * address and port @src written into the headers: the datagram the workers
 * receive claims to come from @src. Returns the IP datagram's length. */
static size_t send_spoofed(const struct sockaddr_in *src, const struct sockaddr_in *dst,
			   const void *payload, size_t len)
{
	uint8_t frame[SGT_FRAME_MAX];
	struct sgt_addr from = { .ip = src->sin_addr.s_addr, .port = src->sin_port };
	struct sgt_addr to = { .ip = dst->sin_addr.s_addr, .port = dst->sin_port };
	size_t n;

	assert_true(len <= SG_WIRE_HDR_LEN + SG_CHUNK_BYTES);
	/* The test frames' builder, with the UDP checksum the workers' stacks
	 * check (the lab turns offload off); the raw socket takes the IP
	 * datagram, without the Ethernet header. */
	n = sgt_build_ip(frame, &from, &to, IPPROTO_UDP, payload, len, true) - SGT_IP_OFF;
	assert_int_equal(sendto(raw, frame + SGT_IP_OFF, n, 0, (const struct sockaddr *)dst,
				sizeof(*dst)), (ssize_t)n);
	return n;
}

/* ------------------------------------------------------------ observers */

/* Bytes the victim receives until it has been quiet for QUIET_MS (at most
 * WAIT_MS in all). */
static size_t victim_bytes(void)
{
	static uint8_t buf[2048];
	long end = ms_now() + WAIT_MS;
	size_t total = 0;
	struct pollfd pfd = { .fd = victim, .events = POLLIN };

	while (ms_now() < end && poll(&pfd, 1, QUIET_MS) > 0) {
		ssize_t n;

		while ((n = recv(victim, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			total += (size_t)n;
	}
	return total;
}

/* What the packet socket saw the workers receive and send. */
struct capture {
	size_t to_coord[NRANKS];	/* datagrams a worker sent to the communicator */
	size_t to_others;		/* datagrams a worker sent to anyone else */
	uint8_t req[NRANKS][SG_WIRE_HDR_LEN + SG_CHUNK_BYTES]; /* the first request from the communicator */
	size_t req_len[NRANKS];
};

static int rank_of_port(uint16_t port)
{
	for (int r = 0; r < NRANKS; r++)
		if (port == waddr[r].sin_port)
			return r;
	return -1;
}

/* Read the packet socket until it has been quiet for QUIET_MS (at most
 * WAIT_MS in all); with @cap NULL, just empty it. */
static void capture(struct capture *cap)
{
	static uint8_t buf[2048];
	struct pollfd pfd = { .fd = sniff, .events = POLLIN };
	long end = ms_now() + WAIT_MS;

	if (cap)
		memset(cap, 0, sizeof(*cap));
	while (ms_now() < end && poll(&pfd, 1, QUIET_MS) > 0) {
		struct sockaddr_ll sll;
		socklen_t alen = sizeof(sll);
		const struct iphdr *ip = (const struct iphdr *)buf;
		const struct udphdr *udp;
		ssize_t n = recvfrom(sniff, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&sll, &alen);
		size_t hl;
		int r;

		if (n <= 0 || !cap || sll.sll_protocol != htons(ETH_P_IP))
			continue;
		hl = (size_t)ip->ihl * 4;
		if ((size_t)n < hl + sizeof(*udp) || ip->protocol != IPPROTO_UDP)
			continue;
		udp = (const struct udphdr *)(buf + hl);
		if (sll.sll_pkttype == PACKET_OUTGOING && (r = rank_of_port(udp->source)) >= 0) {
			if (ip->daddr == coord.sin_addr.s_addr && udp->dest == coord.sin_port)
				cap->to_coord[r]++;
			else
				cap->to_others++;
		} else if (sll.sll_pkttype == PACKET_HOST && (r = rank_of_port(udp->dest)) >= 0 &&
			   ip->saddr == coord.sin_addr.s_addr && udp->source == coord.sin_port &&
			   !cap->req_len[r]) {
			cap->req_len[r] = (size_t)n - hl - sizeof(*udp);
			assert_true(cap->req_len[r] <= sizeof(cap->req[r]));
			memcpy(cap->req[r], buf + hl + sizeof(*udp), cap->req_len[r]);
		}
	}
}

static struct tw_rank_info info(int rank)
{
	struct tw_rank_info i;

	assert_int_equal(tw_shared_info(shared, (size_t)rank, &i), 0);
	return i;
}

static uint64_t requests_seen(int rank)
{
	struct tw_record rec;

	assert_int_equal(tw_shared_read(shared, (size_t)rank, TW_SCATTER, &rec), 0);
	return rec.count;
}

/* Wait until worker @rank has handled a datagram sent after @before: counted
 * it as foreign, as a duplicate, or delivered it to the application. */
static void wait_handled(int rank, const struct tw_rank_info *before, uint64_t requests)
{
	long end = ms_now() + WAIT_MS;

	for (;;) {
		struct tw_rank_info now = info(rank);

		if (now.stats.rx_foreign > before->stats.rx_foreign ||
		    now.stats.rx_duplicate > before->stats.rx_duplicate ||
		    requests_seen(rank) > requests)
			return;
		if (ms_now() > end)
			fail_msg("worker %d did not handle the datagram in %d ms", rank, WAIT_MS);
		usleep(1000);
	}
}

/* ------------------------------------------------------------ collectives */

/* A scatter-reduce of @count int32 over both workers, exact. Returns the
 * collective id. */
static uint32_t collective(size_t count)
{
	static const uint32_t ranks[NRANKS] = { 0, 1 };
	int32_t *got = calloc(count, 4), *want = calloc(count, 4);
	struct tw_record rec;
	uint32_t id;
	int err;

	assert_non_null(got);
	assert_non_null(want);
	err = sg_scatter_reduce(comm, NULL, 0, got, count, SG_INT32, SG_OP_SUM, NULL);
	if (err)
		fail_msg("sg_scatter_reduce: %s (%s)", sg_strerror(err), sg_errmsg());
	assert_int_equal(tw_shared_read(shared, 0, TW_SCATTER, &rec), 0);
	id = rec.coll_id;
	assert_int_equal(tw_reference(SG_INT32, SG_OP_SUM, id, count, ranks, NRANKS, want), 0);
	assert_memory_equal(got, want, count * 4);
	free(got);
	free(want);
	return id;
}

/* ------------------------------------------------------------ setup */

/* A socket of @type made in namespace @ns (the thread returns to the
 * coordinator's); for a packet socket, bound to the namespace's sg0. */
static int socket_in(int ns, int domain, int type, int proto)
{
	int fd, one = 1, big = 8 << 20;

	assert_int_equal(netlab_enter(lab, ns), 0);
	fd = socket(domain, type | SOCK_CLOEXEC, proto);
	assert_true(fd >= 0);
	if (domain == AF_INET && type == SOCK_RAW)
		assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)), 0);
	if (domain == AF_INET && type == SOCK_DGRAM)
		assert_int_equal(bind(fd, (struct sockaddr *)&vaddr, sizeof(vaddr)), 0);
	if (domain == AF_PACKET) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = (uint16_t)proto,
					   .sll_ifindex = (int)if_nametoindex(NETLAB_IFNAME) };

		assert_true(sll.sll_ifindex > 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	assert_int_equal(netlab_enter_coordinator(lab), 0);
	return fd;
}

static int teardown(void **state);

static int setup(void **state)
{
	struct netlab_opts lo = { .sz = sizeof(lo), .prefix = "sgsp", .nworker_ns = 3 };
	SG_OPTS_INIT(sg_comm_opts, co);
	int err;

	shared = tw_shared_create(NRANKS);
	if (!shared || netlab_create(&lo, &lab))
		goto fail;
	coord = in_addr_port(netlab_coordinator_addr(lab), CPORT);
	for (int r = 0; r < NRANKS; r++)
		waddr[r] = in_addr_port(netlab_worker_addr(lab, W_NS), (uint16_t)(WPORT + r));
	vaddr = in_addr_port(netlab_worker_addr(lab, VICTIM_NS), VPORT);
	for (int r = 0; r < NRANKS; r++) {
		serve[r] = (struct tw_serve_opts){ .sz = sizeof(serve[r]),
						   .port = (uint16_t)(WPORT + r), .nports = 1,
						   .rank = (uint32_t)r, .shared = shared };
		if (r == 0) {
			serve[r].coordinators = &coord;
			serve[r].ncoordinators = 1;
		}
		if (netlab_spawn(lab, W_NS, tw_serve_fn, &serve[r]) < 0)
			goto fail;
	}
	if (tw_shared_wait_ready(shared, 0, NRANKS, 20000) || netlab_enter_coordinator(lab))
		goto fail;
	victim = socket_in(VICTIM_NS, AF_INET, SOCK_DGRAM, 0);
	raw = socket_in(ATTACKER_NS, AF_INET, SOCK_RAW, IPPROTO_RAW);
	/* ETH_P_ALL: only such sockets see the datagrams sent too. */
	sniff = socket_in(W_NS, AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));

	co.ifname = NETLAB_IFNAME;
	co.local_port = CPORT;
	co.workers = waddr;
	co.nworkers = NRANKS;
	err = sg_comm_create(&co, &comm);
	if (!err)
		return 0;
	fprintf(stderr, "sg_comm_create: %s\n", sg_errmsg());
fail:
	teardown(state);
	return -1;
}

static int teardown(void **state)
{
	if (victim >= 0)
		close(victim);
	if (raw >= 0)
		close(raw);
	if (sniff >= 0)
		close(sniff);
	sg_comm_destroy(comm);
	netlab_destroy(lab);
	tw_shared_destroy(shared);
	victim = raw = sniff = -1;
	comm = NULL;
	lab = NULL;
	shared = NULL;
	return 0;
}

/* ------------------------------------------------------------ tests */

/* The attack of the issue: 98 bytes from the victim's address that ask for
 * 262144 int32, 1 MiB, from each worker. Nothing reaches the victim. */
static void test_forged_request_reflects_nothing(void **state)
{
	collective(100);	/* the unconfigured worker hears its coordinator first */
	for (int r = 0; r < NRANKS; r++) {
		struct sg_wire_msg m = { .type = SG_WIRE_SCATTER, .dtype = SG_INT32,
					 .op = SG_OP_SUM, .coll_id = 4242 + (uint32_t)r,
					 .count = SG_MAX_SEGMENT_BYTES / 4, .msg_len = 6,
					 .nonce = 0x6a09e667f3bcc908ULL + (uint64_t)r,
					 .auth = 0xbb67ae8584caa73bULL };
		uint8_t dgram[SG_WIRE_HDR_LEN + 6] = { 0 };
		struct tw_rank_info before = info(r), after;
		uint64_t requests = requests_seen(r);
		struct capture cap;
		size_t sent, got;

		capture(NULL);
		sg_wire_encode(dgram, &m, 0);
		sent = send_spoofed(&vaddr, &waddr[r], dgram, sizeof(dgram));
		assert_int_equal(sent, 20 + 8 + SG_WIRE_HDR_LEN + 6);
		wait_handled(r, &before, requests);
		got = victim_bytes();
		if (got)
			fail_msg("worker %d sent the victim %zu bytes for %zu forged ones (%.0fx)", r,
				 got, sent, (double)got / (double)sent);
		after = info(r);
		assert_int_equal(after.stats.rx_foreign, before.stats.rx_foreign + 1);
		assert_int_equal(requests_seen(r), requests);
		capture(&cap);
		assert_int_equal(cap.to_others, 0);
		assert_int_equal(cap.to_coord[r], 0);
	}
	/* The workers still answer their coordinator, in full. */
	collective(SG_MAX_SEGMENT_BYTES / 4);
}

/* The exact bytes of a real request (with the worker's own authenticator),
 * replayed from the victim's address: nothing. Replayed from the
 * coordinator's address and port: the cached answer, to the coordinator. */
static void test_replayed_request(void **state)
{
	size_t count = 1000, chunks = sg_wire_nchunks(count * 4);
	struct capture cap, again;

	capture(NULL);
	collective(count);
	capture(&cap);
	assert_int_equal(cap.to_others, 0);
	for (int r = 0; r < NRANKS; r++) {
		struct tw_rank_info before = info(r), after;
		uint64_t requests = requests_seen(r);
		size_t got;

		assert_true(cap.req_len[r] > 0);
		assert_true(cap.to_coord[r] >= chunks);

		send_spoofed(&vaddr, &waddr[r], cap.req[r], cap.req_len[r]);
		wait_handled(r, &before, requests);
		got = victim_bytes();
		if (got)
			fail_msg("worker %d sent the victim %zu bytes for a replayed request", r, got);
		after = info(r);
		assert_int_equal(after.stats.rx_foreign, before.stats.rx_foreign + 1);
		assert_int_equal(after.stats.tx_resent, before.stats.tx_resent);
		capture(&again);
		assert_int_equal(again.to_others, 0);
		assert_int_equal(again.to_coord[r], 0);

		before = after;
		send_spoofed(&coord, &waddr[r], cap.req[r], cap.req_len[r]);
		wait_handled(r, &before, requests);
		capture(&again);
		assert_int_equal(again.to_others, 0);
		assert_int_equal(again.to_coord[r], chunks);
		assert_int_equal(victim_bytes(), 0);
		after = info(r);
		assert_int_equal(after.stats.rx_duplicate, before.stats.rx_duplicate + 1);
		assert_int_equal(after.stats.tx_resent, before.stats.tx_resent + 1);
		assert_int_equal(after.stats.rx_foreign, before.stats.rx_foreign);
		assert_int_equal(requests_seen(r), requests);
	}
	collective(count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_request_reflects_nothing),
		cmocka_unit_test(test_replayed_request),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
