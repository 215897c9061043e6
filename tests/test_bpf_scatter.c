// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the TC egress fan-out program (sg_scatter), in the style of the
 * kernel selftests: the object is loaded but not attached, its maps are filled
 * as transport/ebpf.c fills them, and the program is run with
 * bpf_prog_test_run_opts() on crafted frames with a struct __sk_buff context.
 *
 * How test_run treats the clones (checked on Linux 6.18): the skb a TC test
 * run builds belongs to the loopback device of the caller's network namespace
 * (no ctx ifindex given, or ifindex 1; ctx_out.ifindex reads back 1), so the
 * program's bpf_clone_redirect(skb, skb->ifindex, 0) really transmits each
 * clone on that lo with dev_queue_xmit(). lo must be up or the clones are
 * dropped, and the clones must not leave the test: so main() first moves the
 * process into a private network namespace (unshare(CLONE_NEWNET)) and brings
 * its lo up (SIOCSIFFLAGS). An AF_PACKET socket bound to that lo then sees
 * every clone twice: as PACKET_OUTGOING from the transmit tap, queued
 * synchronously before the test run returns, and as PACKET_OTHERHOST when lo
 * loops it back (later, from the backlog; the IP layer then drops it, the
 * destination MAC being a worker's). The tests count the PACKET_OUTGOING
 * copies only, so the count is exact once the run returned. The original skb
 * is not transmitted: it comes back as data_out, with ctx_out.mark (which the
 * program must leave as the application set it).
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for the namespace); exits
 * 77 (skipped) otherwise. No traffic leaves the private namespace.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "bpf_frames.h"

/* ------------------------------------------------------------------ capture */

#define CAP_MAX_FRAMES	(2 * SG_FANOUT_BATCH)
#define CAP_FRAME_LEN	2048

static int cap_fd = -1;
static int lo_ifindex;
static uint8_t cap_frames[CAP_MAX_FRAMES][CAP_FRAME_LEN];
static size_t cap_lens[CAP_MAX_FRAMES];

static int cap_open(void)
{
	struct sockaddr_ll sll;
	struct timeval tv = { .tv_sec = 1 };	/* every blocking read is bounded */
	int rcvbuf = 64 << 20;

	lo_ifindex = (int)if_nametoindex("lo");
	if (!lo_ifindex)
		return -errno;
	cap_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (cap_fd < 0)
		return -errno;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = lo_ifindex;
	if (bind(cap_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	/* Room for both copies of a whole batch of full-size clones. */
	if (setsockopt(cap_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(cap_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		return -errno;
	if (setsockopt(cap_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/* Read one frame; returns its length, or -1 when there is none (within the
 * receive timeout if @wait). *@outgoing says whether it is a transmit copy. */
static ssize_t cap_read(uint8_t *buf, size_t size, bool wait, bool *outgoing)
{
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	do {
		n = recvfrom(cap_fd, buf, size, wait ? 0 : MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	*outgoing = from.sll_pkttype == PACKET_OUTGOING;
	return n;
}

/* Throw away everything queued (loopback copies of earlier clones). */
static void cap_drain(void)
{
	uint8_t buf[CAP_FRAME_LEN];
	bool out;

	for (int i = 0; i < 100000 && cap_read(buf, sizeof(buf), false, &out) >= 0; i++)
		;
}

static bool cap_match(const uint8_t *b, size_t n, uint16_t sport)
{
	size_t udp = SGT_IP_OFF + (size_t)(b[SGT_IP_OFF] & 0xf) * 4;

	return n >= SGT_SG_OFF && b[12] == 0x08 && b[13] == 0x00 && b[SGT_IP_OFF + 9] == 17 &&
	       n >= udp + SGT_UDP_LEN && memcmp(b + udp, &sport, 2) == 0;
}

/* The clones sent since the last cap_drain(): UDP datagrams from source port
 * @sport (network order) that lo transmitted. Waits (bounded) for @expect of
 * them, then takes whatever else is already queued, so that a surplus shows.
 * Returns how many; the first CAP_MAX_FRAMES are in cap_frames/cap_lens. */
static unsigned int cap_collect(uint16_t sport, unsigned int expect)
{
	uint8_t buf[CAP_FRAME_LEN];
	unsigned int got = 0;
	bool out;
	ssize_t n;

	/* Each read is bounded by the receive timeout, the loop by the frames
	 * a run can produce (both copies of every clone). */
	for (unsigned int i = 0; got < expect && i < 4 * CAP_MAX_FRAMES + 64; i++) {
		n = cap_read(buf, sizeof(buf), true, &out);
		if (n < 0)
			break;
		if (!out || !cap_match(buf, (size_t)n, sport))
			continue;
		if (got < CAP_MAX_FRAMES) {
			memcpy(cap_frames[got], buf, (size_t)n);
			cap_lens[got] = (size_t)n;
		}
		got++;
	}
	for (unsigned int i = 0; i < 4 * CAP_MAX_FRAMES + 64; i++) {
		n = cap_read(buf, sizeof(buf), false, &out);
		if (n < 0)
			break;
		if (out && cap_match(buf, (size_t)n, sport))
			got++;
	}
	return got;
}

/* ------------------------------------------------------------------ fixture */

struct run_out {
	uint32_t rv;
	uint32_t mark;
	uint32_t ifindex;
	size_t len;
	uint8_t data[4096];
};

/* Run sg_scatter on @fr with the context @ctx (skb->mark, and the GSO fields
 * of a GSO send); fails the test if the run does. */
static void run_ctx(struct sgt_fixture *f, const uint8_t *fr, size_t len, struct __sk_buff *ctx,
		    struct run_out *o)
{
	struct __sk_buff cout;
	int err;

	memset(&cout, 0, sizeof(cout));
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = fr,
			.data_size_in = (uint32_t)len,
			.data_out = o->data,
			.data_size_out = sizeof(o->data),
			.ctx_in = ctx,
			.ctx_size_in = sizeof(*ctx),
			.ctx_out = &cout,
			.ctx_size_out = sizeof(cout),
			.repeat = 1,
		);

		cap_drain();
		err = bpf_prog_test_run_opts(bpf_program__fd(f->dp.skel->progs.sg_scatter), &opts);
		if (err)
			fail_msg("bpf_prog_test_run_opts: %s", strerror(-err));
		o->rv = opts.retval;
		o->len = opts.data_size_out;
	}
	o->mark = cout.mark;
	o->ifindex = cout.ifindex;
}

static void run(struct sgt_fixture *f, const uint8_t *fr, size_t len, uint32_t mark,
		struct run_out *o)
{
	struct __sk_buff ctx = { .mark = mark };

	run_ctx(f, fr, len, &ctx, o);
}

/* A coordinator datagram of type @type with @len payload bytes (a message of
 * one chunk) for the batch starting at worker @first, to @dst. */
static size_t request(uint8_t *fr, const struct sgt_addr *src, const struct sgt_addr *dst,
		      uint8_t type, uint32_t len, uint32_t first, bool udp_csum, uint64_t seed)
{
	struct sg_wire_msg m = {
		.type = type,
		.dtype = SG_INT32,
		.op = SG_OP_SUM,
		.coll_id = 12,
		.count = type == SG_WIRE_BCAST ? 0 : 256,
		.msg_len = len,
		.nonce = 0xfeedface00000000ull | seed,
	};
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];

	sg_wire_encode(dgram, &m, 0);
	sg_wire_set_fanout_first(dgram, first);
	for (uint32_t i = 0; i < len; i++)
		dgram[SG_WIRE_HDR_LEN + i] = (uint8_t)sgt_rand64(&seed);
	return sgt_build_ip(fr, src, dst, 17, dgram, SG_WIRE_HDR_LEN + len, udp_csum);
}

static uint64_t tx_fanout(struct sgt_fixture *f, uint32_t comm)
{
	struct sg_stats st;

	assert_int_equal(sgt_stats(f, comm, &st), 0);
	return st.tx_fanout;
}

/* The application's mark on the datagrams of the tests: the program must
 * leave it alone. */
#define APP_MARK 0x600d0001u

/* The authenticator worker @w of @comm must find in a clone of @in. */
static uint64_t want_auth(const struct sgt_fixture *f, uint32_t comm, uint32_t w,
			  const uint8_t *in)
{
	uint64_t nonce = (uint64_t)sgt_get32(in, SGT_SG_OFF + SGT_HDR_NONCE) |
			 (uint64_t)sgt_get32(in, SGT_SG_OFF + SGT_HDR_NONCE + 4) << 32;

	return sgt_token(f, comm, w, nonce, sgt_get32(in, SGT_SG_OFF + SGT_HDR_COLL_ID));
}

/* @got must be @in sent to worker @w: destination MAC, IP and port of the
 * worker, its authenticator @auth, everything else but the checksums
 * unchanged, both checksums valid when recomputed from scratch, a zero UDP
 * checksum kept zero. */
static void expect_frame_for(const uint8_t *in, size_t in_len, const uint8_t *got, size_t got_len,
			     const struct sgt_addr *w, uint64_t auth, const char *what,
			     unsigned int idx)
{
	bool zero = in[SGT_UDP_OFF + 6] == 0 && in[SGT_UDP_OFF + 7] == 0;
	uint64_t got_auth;
	int c;

	if (got_len != in_len)
		fail_msg("%s %u: length %zu, expected %zu", what, idx, got_len, in_len);
	if (memcmp(got, w->mac, 6))
		fail_msg("%s %u: wrong destination MAC", what, idx);
	if (memcmp(got + 6, in + 6, 8))
		fail_msg("%s %u: source MAC or ethertype changed", what, idx);
	if (memcmp(got + SGT_IP_OFF, in + SGT_IP_OFF, 10) ||
	    memcmp(got + SGT_IP_OFF + 12, in + SGT_IP_OFF + 12, 4))
		fail_msg("%s %u: IP header changed", what, idx);
	if (memcmp(got + SGT_IP_OFF + 16, &w->ip, 4))
		fail_msg("%s %u: wrong destination IP", what, idx);
	if (memcmp(got + SGT_UDP_OFF, in + SGT_UDP_OFF, 2) ||
	    memcmp(got + SGT_UDP_OFF + 4, in + SGT_UDP_OFF + 4, 2))
		fail_msg("%s %u: UDP source port or length changed", what, idx);
	if (memcmp(got + SGT_UDP_OFF + 2, &w->port, 2))
		fail_msg("%s %u: wrong destination port", what, idx);
	if (memcmp(got + SGT_SG_OFF, in + SGT_SG_OFF, SGT_HDR_AUTH) ||
	    memcmp(got + SGT_PAYLOAD_OFF, in + SGT_PAYLOAD_OFF, in_len - SGT_PAYLOAD_OFF))
		fail_msg("%s %u: sgbpf header or payload changed", what, idx);
	got_auth = (uint64_t)sgt_get32(got, SGT_SG_OFF + SGT_HDR_AUTH) |
		   (uint64_t)sgt_get32(got, SGT_SG_OFF + SGT_HDR_AUTH + 4) << 32;
	if (got_auth != auth)
		fail_msg("%s %u: authenticator 0x%llx, expected the worker's 0x%llx", what, idx,
			 (unsigned long long)got_auth, (unsigned long long)auth);
	c = sgt_check_csums(got, got_len, zero);
	if (c)
		fail_msg("%s %u: checksums wrong (%d)", what, idx, c);
	if (zero && (got[SGT_UDP_OFF + 6] || got[SGT_UDP_OFF + 7]))
		fail_msg("%s %u: zero UDP checksum was set", what, idx);
}

/* Run a request for the batch at @first of @comm and check the fan-out to
 * workers first..first+n-1: n-1 clones, in order, the original to the last. */
static void check_fanout(struct sgt_fixture *f, uint32_t comm, const uint8_t *fr, size_t len,
			 uint32_t first, uint32_t n, const char *what)
{
	struct sgt_comm *c = &f->comms[comm];
	uint64_t tx0 = tx_fanout(f, comm);
	static struct run_out o;
	unsigned int got;

	run(f, fr, len, APP_MARK, &o);
	assert_int_equal(o.rv, TC_ACT_OK);
	assert_int_equal(o.mark, APP_MARK);
	assert_int_equal(o.ifindex, lo_ifindex);
	got = cap_collect(c->local.port, n - 1);
	if (got != n - 1)
		fail_msg("%s: %u clones captured, expected %u", what, got, n - 1);
	for (unsigned int i = 0; i + 1 < n && i < CAP_MAX_FRAMES; i++)
		expect_frame_for(fr, len, cap_frames[i], cap_lens[i], &c->workers[first + i],
				 want_auth(f, comm, first + i, fr), what, i);
	expect_frame_for(fr, len, o.data, o.len, &c->workers[first + n - 1],
			 want_auth(f, comm, first + n - 1, fr), what, n - 1);
	assert_int_equal(tx_fanout(f, comm) - tx0, n);
}

/* The frame must come back untouched: verdict OK, same bytes, same mark, no
 * clone, nothing counted. */
static void expect_untouched(struct sgt_fixture *f, const uint8_t *fr, size_t len, uint32_t mark,
			     const char *what)
{
	static struct run_out o;
	uint64_t tx0 = tx_fanout(f, 0) + tx_fanout(f, 1);
	unsigned int got;

	run(f, fr, len, mark, &o);
	if (o.rv != TC_ACT_OK)
		fail_msg("%s: verdict %u", what, o.rv);
	if (o.len != len || memcmp(o.data, fr, len))
		fail_msg("%s: frame changed", what);
	if (o.mark != mark)
		fail_msg("%s: mark 0x%x, expected 0x%x", what, o.mark, mark);
	got = cap_collect(sgt_local_addr(0).port, 0) + cap_collect(sgt_local_addr(1).port, 0);
	if (got)
		fail_msg("%s: %u clones sent", what, got);
	if (tx_fanout(f, 0) + tx_fanout(f, 1) != tx0)
		fail_msg("%s: tx_fanout counted", what);
}

/* -------------------------------------------------------------------- tests */

static void test_one_worker(void **state)
{
	struct sgt_fixture *f = *state;
	struct sgt_addr other = { .mac = { 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa },
				  .ip = htonl(0x0a090909), .port = htons(4321) };
	uint8_t fr[SGT_FRAME_MAX];
	static struct run_out o;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 1), 0);
	/* As the transport sends it: to the worker already. */
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 100, 0,
		    true, 1);
	check_fanout(f, 0, fr, n, 0, 1, "to the worker");
	run(f, fr, n, 0, &o);
	expect_frame_for(fr, n, o.data, o.len, &f->comms[0].workers[0], want_auth(f, 0, 0, fr),
			 "to the worker, again", 0);
	/* Addressed elsewhere: rewritten to the worker. */
	n = request(fr, &f->comms[0].local, &other, SG_WIRE_SCATTER, 100, 0, true, 2);
	check_fanout(f, 0, fr, n, 0, 1, "rewritten");
	n = request(fr, &f->comms[0].local, &other, SG_WIRE_BCAST, SG_CHUNK_BYTES, 0, true, 3);
	check_fanout(f, 0, fr, n, 0, 1, "rewritten, full chunk");
	n = request(fr, &f->comms[0].local, &other, SG_WIRE_RESULT, 1, 0, true, 4);
	check_fanout(f, 0, fr, n, 0, 1, "rewritten, 1 byte");
	assert_int_equal(tx_fanout(f, 0), 5);
}

/* A UDP GSO send of three datagrams (two full chunks and a short one of a
 * broadcast), as the kernel hands it to TC egress before segmentation. */
#define GSO_SEG		(SG_WIRE_HDR_LEN + SG_CHUNK_BYTES)
#define GSO_MSG		(2 * SG_CHUNK_BYTES + 100)
#define GSO_FRAME	(SGT_SG_OFF + 2 * GSO_SEG + SG_WIRE_HDR_LEN + 100)

static size_t gso_send(uint8_t *fr, const struct sgt_addr *src, const struct sgt_addr *dst,
		       uint32_t odd_coll_id)
{
	struct sg_wire_msg m = {
		.type = SG_WIRE_BCAST,
		.coll_id = 77,
		.msg_len = GSO_MSG,
		.nonce = 0x1234567800000000ull,
	};
	static uint8_t train[GSO_FRAME - SGT_SG_OFF];
	uint64_t seed = 9;

	for (unsigned int c = 0; c < 3; c++) {
		uint8_t *h = train + (size_t)c * GSO_SEG;

		m.coll_id = c == 2 && odd_coll_id ? odd_coll_id : 77;
		sg_wire_encode(h, &m, c);
		for (size_t i = 0; i < sg_wire_chunk_len_of(GSO_MSG, c, SG_CHUNK_BYTES); i++)
			h[SG_WIRE_HDR_LEN + i] = (uint8_t)sgt_rand64(&seed);
	}
	return sgt_build_ip(fr, src, dst, 17, train, sizeof(train), true);
}

/* Run @fr as a GSO send of @segs datagrams of GSO_SEG bytes. */
static void run_gso(struct sgt_fixture *f, const uint8_t *fr, size_t len, uint32_t segs,
		    struct run_out *o)
{
	struct __sk_buff ctx = { .gso_segs = segs, .gso_size = GSO_SEG };

	run_ctx(f, fr, len, &ctx, o);
}

/* The ones' complement sum of the pseudo-header, folded, not inverted: what
 * the checksum field of a GSO send holds for segmentation to complete. */
static uint16_t pseudo_sum(const uint8_t *fr)
{
	uint32_t sum = IPPROTO_UDP + ((uint32_t)fr[SGT_UDP_OFF + 4] << 8 | fr[SGT_UDP_OFF + 5]);

	for (int i = 0; i < 8; i += 2)
		sum += (uint32_t)fr[SGT_IP_OFF + 12 + i] << 8 | fr[SGT_IP_OFF + 13 + i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_gso_send(void **state)
{
	struct sgt_fixture *f = *state;
	struct sgt_addr other = { .mac = { 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa },
				  .ip = htonl(0x0a090909), .port = htons(4321) };
	static uint8_t fr[GSO_FRAME], bad[GSO_FRAME];
	static struct run_out o;
	const struct sgt_addr *w;
	uint64_t auth, tx0;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 1), 0);
	w = &f->comms[0].workers[0];
	n = gso_send(fr, &f->comms[0].local, &other, 0);
	assert_int_equal(n, GSO_FRAME);
	run_gso(f, fr, n, 3, &o);
	assert_int_equal(o.rv, TC_ACT_OK);
	assert_int_equal(o.len, n);
	/* Addressed to the worker, every datagram with its token. */
	assert_memory_equal(o.data, w->mac, 6);
	assert_memory_equal(o.data + SGT_IP_OFF + 16, &w->ip, 4);
	assert_memory_equal(o.data + SGT_UDP_OFF + 2, &w->port, 2);
	auth = want_auth(f, 0, 0, fr);
	for (unsigned int c = 0; c < 3; c++) {
		size_t h = SGT_SG_OFF + (size_t)c * GSO_SEG;
		uint64_t got = (uint64_t)sgt_get32(o.data, h + SGT_HDR_AUTH) |
			       (uint64_t)sgt_get32(o.data, h + SGT_HDR_AUTH + 4) << 32;

		if (got != auth)
			fail_msg("datagram %u: authenticator 0x%llx, expected 0x%llx", c,
				 (unsigned long long)got, (unsigned long long)auth);
		assert_memory_equal(o.data + h, fr + h, SGT_HDR_AUTH);
	}
	assert_memory_equal(o.data + SGT_SG_OFF + 2 * GSO_SEG + SG_WIRE_HDR_LEN,
			    fr + SGT_SG_OFF + 2 * GSO_SEG + SG_WIRE_HDR_LEN, 100);
	/* The checksum field: the pseudo-header sum for the new destination. */
	assert_int_equal(o.data[SGT_UDP_OFF + 6] << 8 | o.data[SGT_UDP_OFF + 7], pseudo_sum(o.data));
	{
		uint32_t sum = 0;

		for (int i = 0; i < 20; i += 2)
			sum += (uint32_t)o.data[SGT_IP_OFF + i] << 8 | o.data[SGT_IP_OFF + i + 1];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		assert_int_equal(sum, 0xffff);	/* the IP header's, fixed */
	}

	/* Not one message: a datagram of another collective inside, or a
	 * segment count the length does not give. Left alone, not cloned. */
	assert_int_equal(sgt_add_comm(f, 1, 2), 0);
	tx0 = tx_fanout(f, 1);
	n = gso_send(bad, &f->comms[1].local, &other, 78);
	run_gso(f, bad, n, 3, &o);
	assert_int_equal(o.rv, TC_ACT_OK);
	assert_int_equal(o.len, n);
	assert_memory_equal(o.data, bad, n);
	n = gso_send(bad, &f->comms[1].local, &other, 0);
	run_gso(f, bad, n, 2, &o);
	assert_memory_equal(o.data, bad, n);
	assert_int_equal(tx_fanout(f, 1), tx0);
	/* The same send whole is fanned out (the original counts; a test
	 * run's skb has no GSO type, so lo cannot transmit its clone: the
	 * clones are checked on the wire, tests/test_gso_wire.c). */
	run_gso(f, bad, n, 3, &o);
	assert_true(tx_fanout(f, 1) > tx0);
}

static void test_one_worker_zero_csum(void **state)
{
	struct sgt_fixture *f = *state;
	struct sgt_addr other = { .mac = { 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa },
				  .ip = htonl(0x0a090909), .port = htons(4321) };
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 1), 0);
	n = request(fr, &f->comms[0].local, &other, SG_WIRE_SCATTER, 200, 0, false, 5);
	assert_int_equal(fr[SGT_UDP_OFF + 6] | fr[SGT_UDP_OFF + 7], 0);
	check_fanout(f, 0, fr, n, 0, 1, "zero UDP checksum");
}

/* A worker whose correct UDP checksum is 0 gets 0xffff (0 would mean "no
 * checksum"), and the workers after it are still right (their checksums are
 * updated from that 0xffff). */
static void test_csum_mangled_zero(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX], probe[SGT_FRAME_MAX];
	const uint32_t len = 300, special = 1;
	struct sgt_addr *w;
	uint16_t s, x;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	w = &f->comms[0].workers[special];
	/* Choose the last payload word so that the datagram to worker
	 * `special` sums to 0xffff, i.e. has checksum 0. */
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, len, 0,
		    true, 6);
	fr[n - 2] = fr[n - 1] = 0;
	memcpy(probe, fr, n);
	{
		uint64_t a = want_auth(f, 0, special, fr);

		sgt_put32(probe, SGT_SG_OFF + SGT_HDR_AUTH, (uint32_t)a);
		sgt_put32(probe, SGT_SG_OFF + SGT_HDR_AUTH + 4, (uint32_t)(a >> 32));
	}
	memcpy(probe, w->mac, 6);
	memcpy(probe + SGT_IP_OFF + 16, &w->ip, 4);
	memcpy(probe + SGT_UDP_OFF + 2, &w->port, 2);
	s = sgt_udp_sum(probe, n);
	x = (uint16_t)~s;
	fr[n - 2] = x >> 8;
	fr[n - 1] = x & 0xff;
	memcpy(probe + n - 2, fr + n - 2, 2);
	assert_int_equal(sgt_udp_sum(probe, n), 0xffff);
	fr[SGT_UDP_OFF + 6] = fr[SGT_UDP_OFF + 7] = 0xaa;	/* nonzero: recomputed */
	sgt_fix_csums(fr, n);
	assert_int_equal(sgt_check_csums(fr, n, false), 0);

	check_fanout(f, 0, fr, n, 0, 4, "checksum 0 for one worker");
	assert_int_equal(cap_frames[special][SGT_UDP_OFF + 6], 0xff);
	assert_int_equal(cap_frames[special][SGT_UDP_OFF + 7], 0xff);
}

static void test_fanout_4(void **state)
{
	struct sgt_fixture *f = *state;
	static const uint8_t types[] = { SG_WIRE_SCATTER, SG_WIRE_BCAST, SG_WIRE_RESULT };
	static const uint32_t lens[] = { 1, 64, SG_CHUNK_BYTES };
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	for (size_t t = 0; t < sizeof(types); t++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			char what[48];

			snprintf(what, sizeof(what), "type %u, %u bytes", types[t], lens[l]);
			n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], types[t],
				    lens[l], 0, true, 10 + t * 4 + l);
			check_fanout(f, 0, fr, n, 0, 4, what);
		}
	}
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 500, 0,
		    false, 20);
	check_fanout(f, 0, fr, n, 0, 4, "zero UDP checksum");
	assert_int_equal(tx_fanout(f, 0), 4 * 10);
}

static void test_fanout_64(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 64), 0);
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER,
		    SG_CHUNK_BYTES, 0, true, 30);
	check_fanout(f, 0, fr, n, 0, 64, "64 workers");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_BCAST, 77, 0,
		    false, 31);
	check_fanout(f, 0, fr, n, 0, 64, "64 workers, zero UDP checksum");
	assert_int_equal(tx_fanout(f, 0), 128);
}

/* Communicators larger than SG_FANOUT_BATCH get one datagram per batch,
 * addressed to the batch's first worker and naming it in fanout_first. */
static void test_fanout_batches(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, SG_MAX_WORKERS), 0);
	for (uint32_t first = 0; first < SG_MAX_WORKERS; first += SG_FANOUT_BATCH) {
		char what[48];

		snprintf(what, sizeof(what), "batch at %u of %u", first, SG_MAX_WORKERS);
		n = request(fr, &f->comms[0].local, &f->comms[0].workers[first],
			    SG_WIRE_SCATTER, 256, first, true, 40 + first);
		check_fanout(f, 0, fr, n, first, SG_FANOUT_BATCH, what);
	}
	assert_int_equal(tx_fanout(f, 0), SG_MAX_WORKERS);
	/* A batch starting anywhere, one ending at the last worker. */
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[5], SG_WIRE_BCAST, 8, 5, true,
		    50);
	check_fanout(f, 0, fr, n, 5, SG_FANOUT_BATCH, "batch at 5");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[1000], SG_WIRE_BCAST, 8, 1000,
		    true, 51);
	check_fanout(f, 0, fr, n, 1000, SG_MAX_WORKERS - 1000, "batch at 1000");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[1023], SG_WIRE_BCAST, 8, 1023,
		    true, 52);
	check_fanout(f, 0, fr, n, 1023, 1, "batch at 1023");
	/* Beyond the last worker: nobody to send to. */
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_BCAST, 8,
		    SG_MAX_WORKERS, true, 53);
	expect_untouched(f, fr, n, 0, "fanout_first == nworkers");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_BCAST, 8,
		    0xffffffffu, true, 54);
	expect_untouched(f, fr, n, 0, "fanout_first 0xffffffff");
}

static void test_fanout_batch_partial(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 300), 0);
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 64, 0,
		    true, 60);
	check_fanout(f, 0, fr, n, 0, SG_FANOUT_BATCH, "first batch of 300");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[256], SG_WIRE_SCATTER, 64,
		    SG_FANOUT_BATCH, true, 61);
	check_fanout(f, 0, fr, n, SG_FANOUT_BATCH, 300 - SG_FANOUT_BATCH, "second batch of 300");
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 64, 300,
		    true, 62);
	expect_untouched(f, fr, n, 0, "fanout_first 300 of 300");
	assert_int_equal(tx_fanout(f, 0), 300);
}

static void test_passthrough(void **state)
{
	struct sgt_fixture *f = *state;
	struct sgt_addr src, *w0;
	uint8_t fr[SGT_FRAME_MAX], dgram[SG_WIRE_HDR_LEN + 32];
	struct sg_wire_msg m = { .type = SG_WIRE_SCATTER, .coll_id = 3, .msg_len = 32 };
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	w0 = &f->comms[0].workers[0];
	/* A valid request, but already fanned out (a clone coming back: it
	 * carries a worker's authenticator), whatever its mark. */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 70);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_AUTH, 0x1235);
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "a clone");
	expect_untouched(f, fr, n, APP_MARK, "a clone with the application's mark");
	/* A retransmission for one worker (SG_WIRE_F_UNICAST). */
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[2], SG_WIRE_SCATTER, 100, 0,
		    true, 70);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_FLAGS, SG_WIRE_F_UNICAST);
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "unicast");
	/* From another port of the coordinator's host. */
	src = f->comms[0].local;
	src.port = htons(9999);
	n = request(fr, &src, w0, SG_WIRE_SCATTER, 100, 0, true, 71);
	expect_untouched(f, fr, n, 0, "other source port");
	/* From the communicator's port but another source IP. */
	src = f->comms[0].local;
	src.ip = htonl(0x0ac80063);
	n = request(fr, &src, w0, SG_WIRE_SCATTER, 100, 0, true, 72);
	expect_untouched(f, fr, n, 0, "other source IP");
	/* A type the fan-out program does not know, and a chunk count that
	 * disagrees with the message length: not cloned. */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 76);
	fr[SGT_SG_OFF + SGT_HDR_TYPE] = 7;
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "unknown type");
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_BCAST, 100, 0, true, 77);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 2);
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "chunk count against message length");
	/* Not from the coordinator's socket: with the socket's cookie
	 * installed, the test run's skb (whose socket is a throw-away one)
	 * is another sender, like forwarded traffic claiming the address. */
	assert_int_equal(sgt_set_cookie(f, 0, 0x5eed), 0);
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 78);
	expect_untouched(f, fr, n, 0, "another socket");
	assert_int_equal(sgt_set_cookie(f, 0, 0), 0);
	/* A response (a worker's kind of datagram). */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_RESPONSE, 100, 0, true, 73);
	expect_untouched(f, fr, n, 0, "RESPONSE");
	/* Bad magic, bad version. */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 74);
	fr[SGT_SG_OFF + SGT_HDR_MAGIC + 3] ^= 0x01;
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "bad magic");
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 75);
	fr[SGT_SG_OFF + SGT_HDR_VERSION] = SG_WIRE_VERSION - 1;	/* the format before */
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "bad version");
	/* Lengths disagreeing with the header: truncated header, UDP length. */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 76);
	expect_untouched(f, fr, SGT_SG_OFF + 20, 0, "truncated header");
	fr[SGT_UDP_OFF + 5]++;
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "UDP length + 1");
	/* Not UDP: TCP from the communicator's port; not IP: ARP. */
	sg_wire_encode(dgram, &m, 0);
	memset(dgram + SG_WIRE_HDR_LEN, 3, 32);
	n = sgt_build_ip(fr, &f->comms[0].local, w0, 6, dgram, sizeof(dgram), false);
	expect_untouched(f, fr, n, 0, "TCP");
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 77);
	fr[12] = 0x08;
	fr[13] = 0x06;
	expect_untouched(f, fr, n, 0, "ARP ethertype");
	/* A non-first fragment. */
	n = request(fr, &f->comms[0].local, w0, SG_WIRE_SCATTER, 100, 0, true, 78);
	fr[SGT_IP_OFF + 7] = 0x20;
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "non-first fragment");
	assert_int_equal(tx_fanout(f, 0), 0);
}

/* A frame shorter than its IP and UDP lengths say (the sgbpf header complete,
 * the payload cut) is not a datagram to fan out: sg_parse_hdr() promises to
 * reject truncated datagrams (bpf/parse.bpf.h). */
static void test_passthrough_truncated(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 100, 0,
		    true, 79);
	expect_untouched(f, fr, n - 1, 0, "payload cut by 1 byte");
	expect_untouched(f, fr, SGT_PAYLOAD_OFF, 0, "payload cut entirely");
}

/* IP options move the UDP header: every offset the program rewrites follows
 * the IHL. */
static void test_ip_options(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX + 8], plain[SGT_FRAME_MAX];
	const size_t opt = 8, udp = SGT_UDP_OFF + 8;
	static struct run_out o;
	struct sgt_comm *c;
	unsigned int got;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	c = &f->comms[0];
	n = request(plain, &c->local, &c->workers[0], SG_WIRE_SCATTER, 120, 0, true, 90);
	memcpy(fr, plain, SGT_UDP_OFF);
	memset(fr + SGT_UDP_OFF, 1, opt);	/* NOP options */
	memcpy(fr + udp, plain + SGT_UDP_OFF, n - SGT_UDP_OFF);
	fr[SGT_IP_OFF] = 0x47;
	fr[SGT_IP_OFF + 3] = (uint8_t)(fr[SGT_IP_OFF + 3] + opt);
	n += opt;
	sgt_fix_csums(fr, n);
	assert_int_equal(sgt_check_csums(fr, n, false), 0);

	run(f, fr, n, APP_MARK, &o);
	assert_int_equal(o.mark, APP_MARK);
	got = cap_collect(c->local.port, 3);
	assert_int_equal(got, 3);
	for (unsigned int i = 0; i < 4; i++) {
		const uint8_t *g = i < 3 ? cap_frames[i] : o.data;
		size_t len = i < 3 ? cap_lens[i] : o.len;
		const struct sgt_addr *w = &c->workers[i];

		assert_int_equal(len, n);
		assert_memory_equal(g, w->mac, 6);
		assert_memory_equal(g + SGT_IP_OFF + 16, &w->ip, 4);
		assert_memory_equal(g + SGT_UDP_OFF, fr + SGT_UDP_OFF, opt);
		assert_memory_equal(g + udp + 2, &w->port, 2);
		assert_memory_equal(g + udp + SGT_UDP_LEN, fr + udp + SGT_UDP_LEN, SGT_HDR_AUTH);
		assert_int_equal(sgt_get32(g, udp + SGT_UDP_LEN + SGT_HDR_AUTH),
				 (uint32_t)sgt_token(f, 0, i, sgt_get32(fr, udp + SGT_UDP_LEN +
								      SGT_HDR_NONCE) |
							 (uint64_t)sgt_get32(fr, udp + SGT_UDP_LEN +
									     SGT_HDR_NONCE + 4) << 32,
						     12));
		assert_memory_equal(g + udp + SGT_UDP_LEN + SG_WIRE_HDR_LEN,
				    fr + udp + SGT_UDP_LEN + SG_WIRE_HDR_LEN,
				    n - udp - SGT_UDP_LEN - SG_WIRE_HDR_LEN);
		assert_int_equal(sgt_check_csums(g, len, false), 0);
	}
}

/* Two communicators: each request fans out to its own workers only. */
static void test_two_comms(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	assert_int_equal(sgt_add_comm(f, 1, 3), 0);
	n = request(fr, &f->comms[1].local, &f->comms[1].workers[0], SG_WIRE_SCATTER, 40, 0,
		    true, 80);
	check_fanout(f, 1, fr, n, 0, 3, "communicator 1");
	assert_int_equal(cap_collect(f->comms[0].local.port, 0), 0);
	assert_int_equal(tx_fanout(f, 0), 0);
	n = request(fr, &f->comms[0].local, &f->comms[0].workers[0], SG_WIRE_SCATTER, 40, 0,
		    true, 81);
	check_fanout(f, 0, fr, n, 0, 4, "communicator 0");
	assert_int_equal(tx_fanout(f, 1), 3);
}

/* ------------------------------------------------------------------ arming */

static uint32_t gather(struct sgt_fixture *f, const uint8_t *fr, size_t len)
{
	uint32_t rv = ~0u;
	int err = sgt_run(bpf_program__fd(f->dp.skel->progs.sg_gather), fr, len, NULL, NULL, &rv);

	if (err)
		fail_msg("sg_gather test run: %s", strerror(-err));
	return rv;
}

/* Chunk @chunk of coordinator message @m (SCATTER, BCAST or RESULT, its own
 * msg_len) for the batch at @first, addressed to that worker; @unicast marks
 * it a retransmission. Payload bytes derive from @seed. */
static size_t coord_frame(uint8_t *fr, struct sgt_fixture *f, uint32_t comm,
			  const struct sg_wire_msg *m, unsigned int chunk, uint32_t first,
			  bool unicast, uint64_t seed)
{
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
	struct sg_wire_msg um = *m;
	size_t len = sg_wire_chunk_len(m->msg_len, chunk);

	if (unicast)
		um.flags |= SG_WIRE_F_UNICAST;
	sg_wire_encode(dgram, &um, chunk);
	sg_wire_set_fanout_first(dgram, first);
	for (size_t i = 0; i < len; i++)
		dgram[SG_WIRE_HDR_LEN + i] = (uint8_t)sgt_rand64(&seed);
	return sgt_build_ip(fr, &f->comms[comm].local, &f->comms[comm].workers[first], 17, dgram,
			    SG_WIRE_HDR_LEN + len, true);
}

/* The request (type SCATTER, @req_len bytes) of reduction @red. */
static struct sg_wire_msg request_of(const struct sg_wire_msg *red, uint32_t req_len)
{
	struct sg_wire_msg m = *red;

	m.type = SG_WIRE_SCATTER;
	m.msg_len = req_len;
	return m;
}

/* Element i of worker @w's vector of int64: w * 1000 + i. */
static uint32_t respond(struct sgt_fixture *f, uint32_t comm, uint32_t w,
			const struct sg_wire_msg *red, unsigned int chunk)
{
	uint8_t fr[SGT_FRAME_MAX], payload[SG_CHUNK_BYTES];
	uint32_t cb = sgt_chunk_bytes(red), esz = sg_wire_dtype_size(red->dtype);

	for (uint32_t i = 0; i < cb / esz; i++) {
		int64_t v = (int64_t)w * 1000 + chunk * (cb / esz) + i;

		memcpy(payload + (size_t)i * esz, &v, esz);
	}
	return gather(f, fr, sgt_build_frame(fr, &f->comms[comm].workers[w],
					     &f->comms[comm].local, red, chunk, payload));
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The slot must hold what the fixture posted for @coll_id, freshly armed:
 * nobody admitted, done or counted. */
static void expect_fresh(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, const char *what)
{
	const struct sgt_arming *a = sgt_armed(f, comm, coll_id);
	struct sg_slot s = sgt_slot(f, comm, coll_id);

	if (s.coll_id != a->coll_id || s.nonce != a->nonce || s.gen != a->gen ||
	    s.chunk_base != a->base || s.nchunks != a->nchunks || s.dtype != a->dtype ||
	    s.op != a->op || s.count != a->count || s.msg_len != a->msg_len ||
	    s.target != a->target || !s.active)
		fail_msg("%s: slot holds id %u gen %llu, not the posted id %u gen %llu (or "
			 "another field differs)", what, s.coll_id, (unsigned long long)s.gen,
			 a->coll_id, (unsigned long long)a->gen);
	if (s.complete || s.nadmitted || s.ndone || !all_zero(s.admitted, sizeof(s.admitted)) ||
	    !all_zero(s.done, sizeof(s.done)) || !all_zero(s.progress, sizeof(s.progress)))
		fail_msg("%s: the armed slot kept counts of its previous collective", what);
}

/* A request arms its slot from the descriptor; its retransmissions, its other
 * chunks and a unicast copy do not re-arm it; the gather program then folds
 * the workers' answers into it and completes it. */
static void test_arm_from_request(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg old = sgt_msg(6, 0x1111, SG_INT32, SG_OP_SUM, 256);
	struct sg_wire_msg red = sgt_msg(70, 0xabcdef0123456789ull, SG_INT64, SG_OP_MAX, 500);
	struct sg_wire_msg req = request_of(&red, 1500);	/* two chunks */
	uint8_t fr[SGT_FRAME_MAX], fr1[SGT_FRAME_MAX];
	struct sg_slot before, s;
	struct sg_completion c;
	struct sg_stats st;
	int64_t out[500];
	size_t n, n1;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	/* The slot's previous collective, with answers counted in it. */
	assert_int_equal(sgt_arm(f, 0, &old, 4), 0);
	assert_int_equal(respond(f, 0, 0, &old, 0), XDP_DROP);
	assert_int_equal(respond(f, 0, 1, &old, 0), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, 6).ndone, 2);
	sgt_release(f, 0, 6);

	/* Posting writes the descriptor only: the slot is not armed yet, and an
	 * answer to the new collective is stale. */
	assert_int_equal(sgt_post(f, 0, &red, 3), 0);
	assert_int_equal(sgt_arm_desc(f, 0, 70)->gen, sgt_armed(f, 0, 70)->gen);
	assert_int_equal(sgt_slot(f, 0, 70).coll_id, 6);
	assert_int_equal(respond(f, 0, 2, &red, 0), XDP_DROP);
	assert_int_equal(sgt_counters(f, 0).rx_stale, 1);

	n = coord_frame(fr, f, 0, &req, 0, 0, false, 100);
	check_fanout(f, 0, fr, n, 0, 4, "arming request");
	expect_fresh(f, 0, 70, "after the request");
	st = sgt_counters(f, 0);
	assert_int_equal(st.tx_armed, 1);
	assert_int_equal(st.tx_arm_mismatch, 0);

	/* An answer folds in; nothing the request passes again undoes it. */
	assert_int_equal(respond(f, 0, 2, &red, 0), XDP_DROP);
	before = sgt_slot(f, 0, 70);
	assert_int_equal(before.nadmitted, 1);
	assert_int_equal(before.progress[2], 1);
	check_fanout(f, 0, fr, n, 0, 4, "retransmitted request");
	n1 = coord_frame(fr1, f, 0, &req, 1, 0, false, 101);
	check_fanout(f, 0, fr1, n1, 0, 4, "second chunk of the request");
	n1 = coord_frame(fr1, f, 0, &req, 0, 3, true, 100);
	expect_untouched(f, fr1, n1, 0, "unicast retransmission");
	s = sgt_slot(f, 0, 70);
	assert_memory_equal(&s, &before, sizeof(s));
	st = sgt_counters(f, 0);
	assert_int_equal(st.tx_armed, 1);
	assert_int_equal(st.tx_arm_mismatch, 0);

	/* The rest of the answers: the first three workers complete it. */
	for (unsigned int ch = 1; ch < 3; ch++)
		assert_int_equal(respond(f, 0, 2, &red, ch), XDP_DROP);
	for (uint32_t w = 0; w < 2; w++)
		for (unsigned int ch = 0; ch < 3; ch++)
			assert_int_equal(respond(f, 0, w, &red, ch), XDP_DROP);
	assert_int_equal(respond(f, 0, 3, &red, 0), XDP_DROP);
	c = sgt_completion(f, 0, 70);
	assert_int_equal(c.gen, sgt_armed(f, 0, 70)->gen);
	assert_int_equal(c.ndone, 3);
	st = sgt_counters(f, 0);
	assert_int_equal(st.rx_accepted, 2 + 9);
	assert_int_equal(st.rx_late, 1);
	assert_int_equal(st.completed, 1);	/* the old one never completed */
	sgt_copy_result(f, 0, 70, out);
	for (int i = 0; i < 500; i++)
		if (out[i] != 2000 + i)
			fail_msg("element %d is %lld, expected %d", i, (long long)out[i], 2000 + i);
}

/* A descriptor that is not the datagram's arms nothing and is counted; the
 * datagram is still fanned out. A descriptor older than the slot's
 * collective is neither armed nor counted. */
static void test_arm_mismatch(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg old = sgt_msg(6, 0x1111, SG_INT32, SG_OP_SUM, 256);
	struct sg_wire_msg red = sgt_msg(70, 0x5eed5eed5eed5eedull, SG_INT32, SG_OP_SUM, 256);
	struct sg_wire_msg req = request_of(&red, 64), bad[6];
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_slot before, s;
	struct sg_arm_desc keep;
	struct sg_stats st;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	assert_int_equal(sgt_arm(f, 0, &old, 4), 0);
	assert_int_equal(respond(f, 0, 0, &old, 0), XDP_DROP);
	sgt_release(f, 0, 6);
	assert_int_equal(sgt_post(f, 0, &red, 4), 0);
	before = sgt_slot(f, 0, 70);
	for (size_t i = 0; i < 6; i++)
		bad[i] = req;
	bad[0].nonce ^= 1;			/* forged or stale nonce */
	bad[1].coll_id += SG_SLOTS;		/* another id of the same slot */
	bad[2].dtype = SG_UINT32;		/* not the posted reduction */
	bad[3].op = SG_OP_MAX;
	bad[4].count = 255;
	bad[5].type = SG_WIRE_RESULT;		/* a delivery arms id | SG_COLL_ACK */
	for (size_t i = 0; i < 6; i++) {
		char what[48];

		snprintf(what, sizeof(what), "mismatch %zu", i);
		n = coord_frame(fr, f, 0, &bad[i], 0, 0, false, 200 + i);
		check_fanout(f, 0, fr, n, 0, 4, what);
		s = sgt_slot(f, 0, 70);
		if (memcmp(&s, &before, sizeof(s)))
			fail_msg("%s: the slot changed", what);
		st = sgt_counters(f, 0);
		assert_int_equal(st.tx_arm_mismatch, i + 1);
		assert_int_equal(st.tx_armed, 0);
	}
	/* A broadcast arms nothing and is no mismatch. */
	bad[0] = req;
	bad[0].type = SG_WIRE_BCAST;
	bad[0].count = 0;
	n = coord_frame(fr, f, 0, &bad[0], 0, 0, false, 210);
	check_fanout(f, 0, fr, n, 0, 4, "broadcast");
	/* Another port of the coordinator's host: not the communicator's. */
	n = coord_frame(fr, f, 0, &req, 0, 0, false, 211);
	fr[SGT_UDP_OFF] ^= 0x40;
	sgt_fix_csums(fr, n);
	expect_untouched(f, fr, n, 0, "other source port");
	s = sgt_slot(f, 0, 70);
	assert_memory_equal(&s, &before, sizeof(s));
	st = sgt_counters(f, 0);
	assert_int_equal(st.tx_arm_mismatch, 6);
	assert_int_equal(st.tx_armed, 0);
	/* Nothing armed: answers to the posted collective are stale. */
	assert_int_equal(respond(f, 0, 1, &red, 0), XDP_DROP);
	assert_int_equal(sgt_counters(f, 0).rx_stale, 1);

	/* The real request arms it; then a descriptor of an older generation
	 * with the same id and nonce is neither armed nor counted. */
	n = coord_frame(fr, f, 0, &req, 0, 0, false, 212);
	check_fanout(f, 0, fr, n, 0, 4, "the real request");
	expect_fresh(f, 0, 70, "the real request");
	assert_int_equal(respond(f, 0, 1, &red, 0), XDP_DROP);
	before = sgt_slot(f, 0, 70);
	keep = *sgt_arm_desc(f, 0, 70);
	sgt_arm_desc(f, 0, 70)->gen = keep.gen - 1;
	check_fanout(f, 0, fr, n, 0, 4, "older descriptor");
	*sgt_arm_desc(f, 0, 70) = keep;
	s = sgt_slot(f, 0, 70);
	assert_memory_equal(&s, &before, sizeof(s));
	st = sgt_counters(f, 0);
	assert_int_equal(st.tx_armed, 1);
	assert_int_equal(st.tx_arm_mismatch, 6);
	assert_int_equal(st.rx_accepted, 2);
}

/* A unicast retransmission arms the slot if the request never passed the
 * hook (once: the fanned-out request after it does not re-arm). */
static void test_arm_by_retransmission(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg red = sgt_msg(3, 77, SG_UINT16, SG_OP_BXOR, 10);
	struct sg_wire_msg req = request_of(&red, 0);
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_slot before, s;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	assert_int_equal(sgt_post(f, 0, &red, 4), 0);
	n = coord_frame(fr, f, 0, &req, 0, 2, true, 300);
	expect_untouched(f, fr, n, 0, "unicast retransmission");
	expect_fresh(f, 0, 3, "armed by a retransmission");
	assert_int_equal(respond(f, 0, 2, &red, 0), XDP_DROP);
	before = sgt_slot(f, 0, 3);
	n = coord_frame(fr, f, 0, &req, 0, 0, false, 301);
	check_fanout(f, 0, fr, n, 0, 4, "request after the retransmission");
	s = sgt_slot(f, 0, 3);
	assert_memory_equal(&s, &before, sizeof(s));
	assert_int_equal(sgt_counters(f, 0).tx_armed, 1);
}

/* Large communicators: the first batch's datagram arms, the next batch's
 * (the same chunk for other workers) finds the slot armed. */
static void test_arm_batches(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg red = sgt_msg(1000, 0x1234, SG_INT64, SG_OP_SUM, 128);
	struct sg_wire_msg req = request_of(&red, 32);
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_slot before, s;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 300), 0);
	assert_int_equal(sgt_post(f, 0, &red, 300), 0);
	n = coord_frame(fr, f, 0, &req, 0, 0, false, 400);
	check_fanout(f, 0, fr, n, 0, SG_FANOUT_BATCH, "first batch");
	expect_fresh(f, 0, 1000, "first batch");
	assert_int_equal(respond(f, 0, 5, &red, 0), XDP_DROP);
	before = sgt_slot(f, 0, 1000);
	assert_int_equal(before.ndone, 1);
	n = coord_frame(fr, f, 0, &req, 0, SG_FANOUT_BATCH, false, 401);
	check_fanout(f, 0, fr, n, SG_FANOUT_BATCH, 300 - SG_FANOUT_BATCH, "second batch");
	s = sgt_slot(f, 0, 1000);
	assert_memory_equal(&s, &before, sizeof(s));
	assert_int_equal(sgt_counters(f, 0).tx_armed, 1);
}

/* An allgather's delivery: the RESULT datagram of collective X arms the slot
 * for the acknowledgements, id X | SG_COLL_ACK, which then complete it. */
static void test_arm_allgather_delivery(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg red = sgt_msg(9, 0x99, SG_INT64, SG_OP_SUM, 128);
	struct sg_wire_msg ack = sgt_msg(9 | SG_COLL_ACK, 0x4242, SG_UINT8, SG_OP_BOR, 1);
	struct sg_wire_msg res = red;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 0, 4), 0);
	assert_int_equal(sgt_arm(f, 0, &red, 4), 0);
	for (uint32_t w = 0; w < 4; w++)
		assert_int_equal(respond(f, 0, w, &red, 0), XDP_DROP);
	assert_int_equal(sgt_completion(f, 0, 9).gen, sgt_armed(f, 0, 9)->gen);
	sgt_release(f, 0, 9);
	assert_int_equal(sgt_post(f, 0, &ack, 4), 0);
	res.type = SG_WIRE_RESULT;
	res.nonce = ack.nonce;
	n = coord_frame(fr, f, 0, &res, 0, 0, false, 500);
	check_fanout(f, 0, fr, n, 0, 4, "result");
	expect_fresh(f, 0, 9 | SG_COLL_ACK, "result");
	for (uint32_t w = 0; w < 4; w++)
		assert_int_equal(respond(f, 0, w, &ack, 0), XDP_DROP);
	assert_int_equal(sgt_completion(f, 0, 9).gen, sgt_armed(f, 0, 9 | SG_COLL_ACK)->gen);
	assert_int_equal(sgt_counters(f, 0).tx_armed, 1);
	assert_int_equal(sgt_counters(f, 0).completed, 2);
}

/* The capture itself: a datagram sent on lo by a socket is seen once as
 * PACKET_OUTGOING, so a missing clone cannot hide behind the capture. */
static void test_capture_sees_lo(void **state)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(5555),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(9000),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&src, sizeof(src)), 0);
	cap_drain();
	assert_int_equal(sendto(s, "x", 1, 0, (struct sockaddr *)&dst, sizeof(dst)), 1);
	assert_int_equal(cap_collect(htons(9000), 1), 1);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_sees_lo),
		cmocka_unit_test_setup_teardown(test_one_worker, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_one_worker_zero_csum, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_gso_send, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_csum_mangled_zero, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_fanout_4, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_fanout_64, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_fanout_batches, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_fanout_batch_partial, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_passthrough, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_passthrough_truncated, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_ip_options, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_two_comms, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_arm_from_request, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_arm_mismatch, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_arm_by_retransmission, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_arm_batches, sgt_setup_shared, sgt_teardown_none),
		cmocka_unit_test_setup_teardown(test_arm_allgather_delivery, sgt_setup_shared, sgt_teardown_none),
	};
	int err;

	if (geteuid() != 0) {
		printf("SKIP: the BPF datapath tests need root (CAP_BPF, CAP_NET_ADMIN)\n");
		return SGT_EXIT_SKIP;
	}
	err = sgt_private_netns();
	if (err)
		return err;
	if (sgt_should_skip())
		return SGT_EXIT_SKIP;
	err = cap_open();
	if (err) {
		fprintf(stderr, "cannot open the capture socket on lo: %s\n", strerror(-err));
		return 1;
	}
	sgt_test_filter();
	err = cmocka_run_group_tests_name("bpf_scatter", tests, NULL, NULL);
	sgt_shared_close();
	return err;
}
