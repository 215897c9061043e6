// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The worker's reassembly of multi-chunk messages, over loopback: several
 * messages at once (interleaved, in any order), each keyed by its source and
 * header; junk, from strangers or malformed, never touches a message in
 * progress; with more messages in progress than SG_WORKER_REASSEMBLIES, the
 * one that least recently received a new chunk is abandoned
 * (sg_worker_recv(3)); datagrams of several chunks are taken chunk by chunk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/worker_peer.h"

/* A message of @nchunks chunks, the last one shorter. */
static struct sg_wire_msg message(uint8_t type, uint32_t id, unsigned int nchunks)
{
	struct sg_wire_msg m = { .type = type, .dtype = SG_INT64, .op = SG_OP_MAX,
				 .coll_id = id, .count = 3,
				 .msg_len = (nchunks - 1) * SG_CHUNK_BYTES + 100,
				 .nonce = 0xabc0000000ULL ^ ((uint64_t)id << 20 | type),
				 .auth = 0x4001 + 2 * id };

	if (type == SG_WIRE_BCAST)
		m.count = m.dtype = m.op = 0;
	return m;
}

/* Two messages, chunk by chunk in turn: both arrive whole. */
static void test_interleaved(void **state)
{
	struct sg_wire_msg a = message(SG_WIRE_SCATTER, 1, 3), b = message(SG_WIRE_BCAST, 2, 4);
	struct wpeer p;

	wp_open(&p, NULL, 1);
	for (unsigned int c = 0; c < 4; c++) {
		if (c < 3)
			wp_send_chunk(&p, p.coord, &a, c);
		wp_send_chunk(&p, p.coord, &b, c);
	}
	wp_expect_msg(&p, &a, &p.coord_addr, NULL);
	wp_expect_msg(&p, &b, &p.coord_addr, NULL);
	wp_expect_nothing(&p);
	assert_int_equal(wp_stats(&p).rx_evicted, 0);
	wp_close(&p);
}

/* The same message from two ports of the coordinator's address (trust on
 * first use: two communicators) are two messages. */
static void test_sources_kept_apart(void **state)
{
	struct sg_wire_msg a = message(SG_WIRE_SCATTER, 1, 2);
	struct sockaddr_in other_addr;
	struct wpeer p;
	int other;

	wp_open(&p, NULL, 0);
	other = wp_socket("127.0.0.1", &other_addr);
	wp_send_chunk(&p, p.coord, &a, 0);
	wp_send_chunk(&p, other, &a, 1);
	wp_expect_nothing(&p);
	wp_send_chunk(&p, other, &a, 0);
	wp_expect_msg(&p, &a, &other_addr, NULL);
	wp_send_chunk(&p, p.coord, &a, 1);
	wp_expect_msg(&p, &a, &p.coord_addr, NULL);
	close(other);
	wp_close(&p);
}

/* Junk between the chunks of a message: a chunk of another message from a
 * stranger (another port of the coordinator's address for a configured
 * worker, another address for an unconfigured one), malformed datagrams from
 * the stranger and from the coordinator. The message arrives whole. */
static void test_junk_does_not_abort(void **state)
{
	struct sg_wire_msg a = message(SG_WIRE_SCATTER, 1, 3), j = message(SG_WIRE_BCAST, 66, 2);
	uint8_t bad[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
	struct sockaddr_in stranger_addr;
	struct sg_worker_stats st;
	struct wpeer p;
	size_t len;
	int stranger;

	for (int configure = 0; configure <= 1; configure++) {
		wp_open(&p, NULL, configure);
		stranger = wp_socket(configure ? "127.0.0.1" : "127.0.0.2", &stranger_addr);
		/* A chunk of a message that claims more chunks than it has. */
		len = wp_encode(bad, &a, 1);
		bad[offsetof(struct sg_wire_hdr, nchunks)]++;

		wp_send_chunk(&p, p.coord, &a, 0);
		wp_send_chunk(&p, stranger, &j, 0);
		wp_send(&p, stranger, bad, len);
		wp_send_chunk(&p, p.coord, &a, 1);
		wp_send(&p, p.coord, bad, len);
		wp_send_chunk(&p, stranger, &j, 1);
		wp_send_chunk(&p, p.coord, &a, 2);
		wp_expect_msg(&p, &a, &p.coord_addr, NULL);
		wp_expect_nothing(&p);
		st = wp_stats(&p);
		assert_int_equal(st.rx_foreign, 3);
		assert_int_equal(st.rx_malformed, 1);
		assert_int_equal(st.rx_evicted, 0);
		close(stranger);
		wp_close(&p);
	}
}

/* Two messages whose chunks arrive last first, interleaved. */
static void test_reverse_order(void **state)
{
	struct sg_wire_msg a = message(SG_WIRE_RESULT, 4, 5), b = message(SG_WIRE_SCATTER, 5, 3);
	struct wpeer p;

	a.count = 5 * SG_CHUNK_BYTES / 8;	/* a result is its vector */
	a.msg_len = a.count * 8;
	wp_open(&p, NULL, 1);
	for (int c = 4; c >= 0; c--) {
		wp_send_chunk(&p, p.coord, &a, (unsigned int)c);
		if (c < 3)
			wp_send_chunk(&p, p.coord, &b, (unsigned int)c);
	}
	wp_expect_msg(&p, &a, &p.coord_addr, NULL);
	wp_expect_msg(&p, &b, &p.coord_addr, NULL);
	wp_expect_nothing(&p);
	wp_close(&p);
}

/* SG_WORKER_REASSEMBLIES messages in progress and one more: the new one
 * takes the place of the message that least recently received a new chunk
 * (not the oldest: that one progressed since), which is lost until its chunks
 * come again. All the others arrive whole. */
static void test_more_messages_than_entries(void **state)
{
	enum { N = SG_WORKER_REASSEMBLIES + 1 };
	struct sg_wire_msg m[N];
	struct wpeer p;

	wp_open(&p, NULL, 1);
	for (uint32_t i = 0; i < N; i++)
		m[i] = message(SG_WIRE_BCAST, 100 + i, 3);
	for (uint32_t i = 0; i + 1 < N; i++)
		wp_send_chunk(&p, p.coord, &m[i], 0);
	wp_send_chunk(&p, p.coord, &m[0], 1);	/* the oldest progresses */
	wp_send_chunk(&p, p.coord, &m[N - 1], 0);	/* evicts m[1] */
	wp_expect_nothing(&p);
	assert_int_equal(wp_stats(&p).rx_evicted, 1);
	for (uint32_t i = 0; i < N; i++) {
		if (i == 1)
			continue;
		for (unsigned int c = i == 0 ? 2 : 1; c < 3; c++)
			wp_send_chunk(&p, p.coord, &m[i], c);
		wp_expect_msg(&p, &m[i], &p.coord_addr, NULL);
	}
	/* m[1]'s other chunks start it over; it needs its first one again. */
	wp_send_chunk(&p, p.coord, &m[1], 1);
	wp_send_chunk(&p, p.coord, &m[1], 2);
	wp_expect_nothing(&p);
	wp_send_chunk(&p, p.coord, &m[1], 0);
	wp_expect_msg(&p, &m[1], &p.coord_addr, NULL);
	assert_int_equal(wp_stats(&p).rx_evicted, 1);
	assert_int_equal(wp_stats(&p).rx_delivered, N);
	wp_close(&p);
}

/* Datagrams of several chunks (a coordinator on a jumbo link), overlapping
 * and out of order: every chunk is taken once, the message arrives whole
 * and once; a message in one datagram needs no reassembly. */
static void test_spans(void **state)
{
	struct sg_wire_msg a = message(SG_WIRE_RESULT, 7, 10), b = message(SG_WIRE_SCATTER, 8, 3);
	uint8_t d[WP_DGRAM_MAX];
	struct wpeer p;

	a.count = 10 * SG_CHUNK_BYTES / 8;
	a.msg_len = a.count * 8;
	wp_open(&p, NULL, 1);
	a.span = 4;
	wp_send_chunk(&p, p.coord, &a, 6);	/* 6..9 */
	wp_send_chunk(&p, p.coord, &a, 0);	/* 0..3 */
	/* 2..5 with other bytes where 2 and 3 were taken: they keep theirs. */
	wp_encode(d, &a, 2);
	memset(d + SG_WIRE_HDR_LEN, 0xee, 2 * SG_CHUNK_BYTES);
	wp_send(&p, p.coord, d, SG_WIRE_HDR_LEN + 4 * SG_CHUNK_BYTES);
	wp_expect_msg(&p, &a, &p.coord_addr, NULL);
	/* All of it again, in other spans: a duplicate, not delivered. */
	a.span = 5;
	wp_send_chunk(&p, p.coord, &a, 0);
	wp_send_chunk(&p, p.coord, &a, 5);
	wp_expect_nothing(&p);
	b.span = 3;
	wp_send_chunk(&p, p.coord, &b, 0);
	wp_expect_msg(&p, &b, &p.coord_addr, NULL);
	wp_expect_nothing(&p);
	assert_int_equal(wp_stats(&p).rx_malformed, 0);
	assert_int_equal(wp_stats(&p).rx_duplicate, 1);
	wp_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_sources_kept_apart),
		cmocka_unit_test(test_junk_does_not_abort),
		cmocka_unit_test(test_reverse_order),
		cmocka_unit_test(test_more_messages_than_entries),
		cmocka_unit_test(test_spans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
