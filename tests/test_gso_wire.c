// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * UDP GSO sends on the wire, in a lab at MTU 1500 and one at MTU 9000 (jumbo
 * frames: native XDP on veth needs programs that declare frags there). In a
 * lab of namespaces whose interfaces
 * checksum nothing (TX checksum offload off everywhere, the lab's default, so
 * every checksum is computed in software for each datagram and a wrong one
 * stays wrong), a coordinator on the ebpf transport sends a broadcast, a
 * request and an allgather result of many datagrams each as GSO sends that
 * its TC program clones to every worker, and the workers answer in GSO
 * sends; datagrams both ways carry as many chunks as the MTU takes (one at
 * 1500, six at 9000). A packet socket in one worker namespace sees every datagram its
 * workers receive and send, after segmentation; each must carry a right IPv4
 * header checksum and a right, non-zero UDP checksum, both recomputed here
 * from the bytes, and the right worker's authenticator position filled.
 * The results are exact, the workers' sends were GSO sends, and the
 * coordinator never fell back from GSO.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "tests/lab/contrib.h"
#include "tests/lab/fpattern.h"
#include "tests/lab/testlab.h"

#define NS		2
#define PER_NS		4
#define NRANKS		(NS * PER_NS)
#define CPORT		6500
#define SNIFF_NS	0	/* the workers the packet socket watches */
#define BCAST_BYTES	100000	/* 98 datagrams */
#define COUNT		16384	/* int32: 64 KiB, 64 datagrams */
#define WAIT_MS		5000

static struct testlab tl;
static sg_comm *comm;
static int sniff = -1;
static int gso_refused;
static int lab_mtu;

static void on_log(enum sg_log_level level, const char *msg, void *ctx)
{
	if (strstr(msg, "GSO refused"))
		gso_refused++;
}

static int setup(int mtu)
{
	SG_OPTS_INIT(sg_comm_opts, o);
	uint32_t ranks[NRANKS];
	int rcvbuf = 64 << 20, err;

	lab_mtu = mtu;
	gso_refused = 0;
	if (testlab_start_mtu(&tl, "sgg", NS, PER_NS, mtu))
		return -1;
	for (uint32_t i = 0; i < NRANKS; i++)
		ranks[i] = i;
	o.transport = SG_TRANSPORT_EBPF;
	if (testlab_comm(&tl, ranks, NRANKS, CPORT, &o, &comm))
		return -1;
	/* The packet socket belongs to the worker namespace it is made in. */
	if (netlab_enter(tl.lab, SNIFF_NS))
		return -1;
	sniff = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (sniff >= 0) {
		struct sockaddr_ll sll = {
			.sll_family = AF_PACKET,
			.sll_protocol = htons(ETH_P_ALL),
			.sll_ifindex = (int)if_nametoindex(NETLAB_IFNAME),
		};

		if (setsockopt(sniff, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) ||
		    bind(sniff, (struct sockaddr *)&sll, sizeof(sll)))
			fprintf(stderr, "packet socket: %s\n", strerror(errno));
	}
	err = netlab_enter_coordinator(tl.lab);
	sg_set_log(on_log, SG_LOG_INFO, NULL);
	return sniff < 0 || err ? -1 : 0;
}

static int setup_1500(void **state)
{
	return setup(1500);
}

static int setup_9000(void **state)
{
	return setup(9000);
}

static int teardown(void **state)
{
	sg_set_log(NULL, SG_LOG_ERROR, NULL);
	if (sniff >= 0)
		close(sniff);
	sniff = -1;
	sg_comm_destroy(comm);
	testlab_stop(&tl);
	return 0;
}

/* The ones' complement sum of @len bytes, folded, over @sum. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

struct wire_count {
	unsigned long in, out;		/* sgbpf datagrams to / from the watched workers */
	unsigned long in_multi;		/* of messages of several datagrams */
	unsigned long out_multi;
	unsigned long bad_ip, bad_udp, no_udp_csum, no_auth;
	unsigned int max_span_in;	/* most chunks in one coordinator datagram */
	unsigned int max_span_out;	/* most chunks in one answer datagram */
	size_t max_ip_len;		/* longest IP datagram either way */
};

/* The ebpf communicator's, then those of the user-space transports. */
static int is_coord_port(uint16_t port)
{
	return port >= CPORT && port <= CPORT + 4;
}

static int is_worker_port(uint16_t port)
{
	return port >= TESTLAB_PORT && port < TESTLAB_PORT + PER_NS;
}

/* Check one captured frame; the checksums recomputed from its bytes. */
static void check_frame(const uint8_t *f, size_t len, struct wire_count *c)
{
	const struct ethhdr *eth = (const void *)f;
	const struct iphdr *ip = (const void *)(eth + 1);
	const struct udphdr *udp;
	struct sg_wire_hdr h;
	size_t ihl, ulen;
	uint16_t sport, dport;
	uint32_t ps;
	int in;

	if (len < sizeof(*eth) + sizeof(*ip) || eth->h_proto != htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP)
		return;
	ihl = ip->ihl * 4u;
	udp = (const void *)((const uint8_t *)ip + ihl);
	if (len < sizeof(*eth) + ihl + sizeof(*udp))
		return;
	sport = ntohs(udp->source);
	dport = ntohs(udp->dest);
	in = is_coord_port(sport) && is_worker_port(dport);
	if (!in && !(is_coord_port(dport) && is_worker_port(sport)))
		return;
	ulen = ntohs(udp->len);
	if (ulen < sizeof(*udp) + SG_WIRE_HDR_LEN || len < sizeof(*eth) + ihl + ulen) {
		c->bad_udp++;
		return;
	}
	*(in ? &c->in : &c->out) += 1;
	if (sum16((const uint8_t *)ip, ihl, 0) != 0xffff)
		c->bad_ip++;
	if (!udp->check)
		c->no_udp_csum++;
	/* Pseudo-header, then the UDP header and payload as sent. */
	ps = sum16((const uint8_t *)&ip->saddr, 8, 0) + IPPROTO_UDP + (uint32_t)ulen;
	if (sum16((const uint8_t *)udp, ulen, ps) != 0xffff)
		c->bad_udp++;
	memcpy(&h, udp + 1, sizeof(h));
	if (!h.auth)
		c->no_auth++;
	if (le16toh(h.nchunks) > 1)
		*(in ? &c->in_multi : &c->out_multi) += 1;
	if (h.span > *(in ? &c->max_span_in : &c->max_span_out))
		*(in ? &c->max_span_in : &c->max_span_out) = h.span;
	if (ntohs(ip->tot_len) > c->max_ip_len)
		c->max_ip_len = ntohs(ip->tot_len);
}

static void drain(struct wire_count *c)
{
	static uint8_t buf[65536];
	ssize_t n;

	while ((n = recv(sniff, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC)) >= 0) {
		assert_true((size_t)n <= sizeof(buf));	/* nothing larger than a datagram */
		check_frame(buf, (size_t)n, c);
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_gso_on_the_wire(void **state)
{
	static uint8_t msg[BCAST_BYTES];
	static int32_t got[COUNT], want[COUNT];
	uint64_t before_bcast[NRANKS], before_result[NRANKS];
	uint32_t ranks[NRANKS], req = 0x5eed;
	unsigned long gso_sends = 0;
	unsigned int span;
	struct wire_count c = { 0 };
	struct tw_record rec;
	SG_OPTS_INIT(sg_reduce_params, p);
	struct ifreq ifr = { 0 };
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	/* The lab is what it says, and the gather program runs in the
	 * driver at that MTU. */
	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NETLAB_IFNAME);
	assert_int_equal(ioctl(fd, SIOCGIFMTU, &ifr), 0);
	close(fd);
	assert_int_equal(ifr.ifr_mtu, lab_mtu);
	assert_int_equal(bpf_xdp_query((int)if_nametoindex(NETLAB_IFNAME), 0, &q), 0);
	assert_int_equal(q.attach_mode, XDP_ATTACHED_DRV);

	for (uint32_t r = 0; r < NRANKS; r++) {
		ranks[r] = r;
		tw_shared_read(tl.shared, r, TW_BCAST, &rec);
		before_bcast[r] = rec.count;
		tw_shared_read(tl.shared, r, TW_RESULT, &rec);
		before_result[r] = rec.count;
	}
	drain(&c);
	memset(&c, 0, sizeof(c));

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(sg_bcast(comm, msg, sizeof(msg)), 0);
	for (uint32_t r = 0; r < NRANKS; r++) {
		assert_int_equal(tw_shared_wait_count(tl.shared, r, 1, TW_BCAST, before_bcast[r] + 1,
						      WAIT_MS), 0);
		tw_shared_read(tl.shared, r, TW_BCAST, &rec);
		assert_int_equal(rec.len, sizeof(msg));
		assert_true(rec.hash == tw_hash(msg, sizeof(msg)));
	}

	/* A request of one datagram, answers of 64 each; then the same
	 * reduced and delivered to every worker. */
	for (int allgather = 0; allgather <= 1; allgather++) {
		int err = allgather ?
			sg_allgather(comm, &req, sizeof(req), got, COUNT, SG_INT32, SG_OP_SUM, &p) :
			sg_scatter_reduce(comm, &req, sizeof(req), got, COUNT, SG_INT32, SG_OP_SUM, &p);

		if (err)
			fail_msg("%s: %s", allgather ? "allgather" : "scatter-reduce", sg_errmsg());
		tw_shared_read(tl.shared, 0, TW_SCATTER, &rec);
		assert_int_equal(tw_reference(SG_INT32, SG_OP_SUM, rec.coll_id, COUNT, ranks, NRANKS,
					      want), 0);
		assert_memory_equal(got, want, sizeof(got));
	}
	for (uint32_t r = 0; r < NRANKS; r++) {
		assert_int_equal(tw_shared_wait_count(tl.shared, r, 1, TW_RESULT,
						      before_result[r] + 1, WAIT_MS), 0);
		tw_shared_read(tl.shared, r, TW_RESULT, &rec);
		assert_int_equal(rec.len, sizeof(want));
		assert_true(rec.hash == tw_hash(want, sizeof(want)));
	}

	drain(&c);
	fprintf(stderr, "# MTU %d, on the wire at %d workers: %lu datagrams in (%lu of long "
		"messages, up to %u chunks each), %lu out (%lu of long messages, up to %u chunks "
		"each)\n", lab_mtu, PER_NS, c.in, c.in_multi, c.max_span_in, c.out, c.out_multi,
		c.max_span_out);
	assert_int_equal(c.bad_ip, 0);
	assert_int_equal(c.bad_udp, 0);
	assert_int_equal(c.no_udp_csum, 0);
	assert_int_equal(c.no_auth, 0);
	/* Datagrams carry as many chunks as the MTU takes (6 of 1408 bytes at
	 * 9000), both ways, every one within it. */
	span = sg_wire_span_of_room(sg_wire_room_for_mtu((uint32_t)lab_mtu), SG_CHUNK_BYTES);
	assert_int_equal(span, lab_mtu == 9000 ? 6 : 1);
	assert_int_equal(c.max_span_in, span);
	assert_int_equal(c.max_span_out, span);
	/* Every datagram of the three long messages reached each watched
	 * worker (retransmissions may add some), and every answer left. */
	assert_true(c.in_multi >= PER_NS * ((sg_wire_nchunks_of(BCAST_BYTES, SG_CHUNK_BYTES) +
					     span - 1) / span +
					    (sg_wire_nchunks_of(sizeof(want), SG_CHUNK_BYTES) +
					     span - 1) / span));
	assert_true(c.max_ip_len <= (size_t)lab_mtu);
	assert_true(c.out_multi >= PER_NS * 2 *
				   ((sg_wire_nchunks_of(sizeof(want), SG_CHUNK_BYTES) + span - 1) / span));
	/* They went as GSO sends, both ways. */
	for (uint32_t r = 0; r < NRANKS; r++) {
		struct tw_rank_info info;

		assert_int_equal(tw_shared_info(tl.shared, r, &info), 0);
		gso_sends += info.stats.tx_gso_sends;
	}
	assert_true(gso_sends >= NRANKS * 2);
	assert_int_equal(gso_refused, 0);
}

/* Long float32 (MAX: exact) and int64 vectors on every transport: the answers come in
 * spans of as many chunks as the MTU takes (8 of float32's 1024 bytes at
 * 9000), which each transport's reduction takes apart chunk by chunk, and
 * the results are exact. */
static void test_spans_every_transport(void **state)
{
	static const enum sg_transport_kind kinds[] = {
		SG_TRANSPORT_EBPF, SG_TRANSPORT_EPOLL, SG_TRANSPORT_IO_URING, SG_TRANSPORT_NAIVE,
	};
	enum { FCOUNT = 200003, ICOUNT = 12345 };	/* 782 and 71 chunks, the last short */
	static float fgot[FCOUNT], fwant[FCOUNT];
	static int64_t igot[ICOUNT], iwant[ICOUNT];
	uint32_t ranks[NRANKS], req = TW_FP_MIXED;	/* signs and exponents, no NaN */
	unsigned int fspan = sg_wire_span_of_room(sg_wire_room_for_mtu((uint32_t)lab_mtu), 1024);
	struct tw_record rec;

	for (uint32_t r = 0; r < NRANKS; r++)
		ranks[r] = r;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		SG_OPTS_INIT(sg_comm_opts, o);
		SG_OPTS_INIT(sg_reduce_params, p);
		struct wire_count c = { 0 };
		sg_comm *uc = comm;
		int err;

		if (kinds[k] != SG_TRANSPORT_EBPF) {
			o.transport = kinds[k];
			assert_int_equal(testlab_comm(&tl, ranks, NRANKS, (uint16_t)(CPORT + 1 + k),
						      &o, &uc), 0);
		}
		drain(&c);
		memset(&c, 0, sizeof(c));
		err = sg_scatter_reduce(uc, &req, sizeof(req), fgot, FCOUNT, SG_FLOAT32, SG_OP_MAX,
					&p);
		if (err)
			fail_msg("%s: float32: %s", sg_transport_name(kinds[k]), sg_errmsg());
		tw_shared_read(tl.shared, 0, TW_SCATTER, &rec);
		assert_int_equal(tw_reference_ex(SG_FLOAT32, SG_OP_MAX,
						 tw_request_pattern(&req, sizeof(req)), rec.coll_id,
						 FCOUNT, ranks, NRANKS, fwant), 0);
		assert_memory_equal(fgot, fwant, sizeof(fgot));
		drain(&c);
		assert_int_equal(c.max_span_out, fspan);
		assert_true(c.max_ip_len <= (size_t)lab_mtu);
		assert_int_equal(c.bad_udp + c.bad_ip, 0);

		err = sg_allgather(uc, &req, sizeof(req), igot, ICOUNT, SG_INT64, SG_OP_MAX, &p);
		if (err)
			fail_msg("%s: int64: %s", sg_transport_name(kinds[k]), sg_errmsg());
		tw_shared_read(tl.shared, 0, TW_SCATTER, &rec);
		assert_int_equal(tw_reference(SG_INT64, SG_OP_MAX, rec.coll_id, ICOUNT, ranks, NRANKS,
					      iwant), 0);
		assert_memory_equal(igot, iwant, sizeof(igot));
		fprintf(stderr, "# MTU %d, %s: float32 answers in datagrams of up to %u chunks\n",
			lab_mtu, sg_transport_name(kinds[k]), c.max_span_out);
		if (uc != comm)
			sg_comm_destroy(uc);
	}
}

/* The coordinator's path MTU (sg_comm_opts.mtu) caps what workers put in a
 * datagram, and theirs caps what they take from its offer: 4000 bytes is 3
 * chunks of float32 in the MTU 9000 lab and still 1 in the 1500 one. An
 * MTU no IPv4 path has is refused. */
static void test_mtu_option(void **state)
{
	enum { FCOUNT = 30000 };
	static float fgot[FCOUNT], fwant[FCOUNT];
	uint32_t ranks[NRANKS], req = TW_FP_MIXED;
	SG_OPTS_INIT(sg_comm_opts, o);
	SG_OPTS_INIT(sg_reduce_params, p);
	struct wire_count c = { 0 };
	struct tw_record rec;
	sg_comm *uc;

	for (uint32_t r = 0; r < NRANKS; r++)
		ranks[r] = r;
	o.transport = SG_TRANSPORT_EPOLL;
	o.mtu = 575;
	assert_int_equal(testlab_comm(&tl, ranks, NRANKS, CPORT + 4, &o, &uc), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "mtu 575"));
	o.mtu = 4000;
	assert_int_equal(testlab_comm(&tl, ranks, NRANKS, CPORT + 4, &o, &uc), 0);
	drain(&c);
	memset(&c, 0, sizeof(c));
	assert_int_equal(sg_scatter_reduce(uc, &req, sizeof(req), fgot, FCOUNT, SG_FLOAT32,
					   SG_OP_MAX, &p), 0);
	tw_shared_read(tl.shared, 0, TW_SCATTER, &rec);
	assert_int_equal(tw_reference_ex(SG_FLOAT32, SG_OP_MAX, tw_request_pattern(&req, sizeof(req)),
					 rec.coll_id, FCOUNT, ranks, NRANKS, fwant), 0);
	assert_memory_equal(fgot, fwant, sizeof(fgot));
	drain(&c);
	assert_int_equal(c.max_span_out, lab_mtu == 9000 ? 3 : 1);
	sg_comm_destroy(uc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gso_on_the_wire),
		cmocka_unit_test(test_spans_every_transport),
		cmocka_unit_test(test_mtu_option),
	};
	char why[256];

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	return cmocka_run_group_tests_name("MTU 1500", tests, setup_1500, teardown) |
	       cmocka_run_group_tests_name("MTU 9000", tests, setup_9000, teardown);
}
