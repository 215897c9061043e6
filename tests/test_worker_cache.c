// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The worker's memory of what it answered, over loopback: a coordinator may
 * have SG_MAX_INFLIGHT collectives in flight, and a repeated request for any
 * of them (its answer was lost) is answered again from the cache, without
 * delivering the request to the application twice; the cache stays within
 * its byte budget, forgetting the oldest answers first; and only the very
 * request answered (same coordinator address and port, collective id, nonce
 * and auth) is answered again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/worker_peer.h"

#define AUTH(id) (0xa0700000000001ULL + ((uint64_t)(id) << 8))

/* A request for collective @id: @count uint32 to be summed. */
static struct sg_wire_msg request(uint32_t id, uint32_t count)
{
	return (struct sg_wire_msg){ .type = SG_WIRE_SCATTER, .dtype = SG_UINT32,
				     .op = SG_OP_SUM, .coll_id = id, .count = count,
				     .msg_len = 4, .nonce = 0x5eed0000ULL + id, .auth = AUTH(id) };
}

static void send_request(struct wpeer *p, uint32_t id)
{
	struct sg_wire_msg m = request(id, 1);

	wp_send_chunk(p, p->coord, &m, 0);
}

/* Read one response: its collective id and value; it echoes the request. */
static void read_response(struct wpeer *p, uint32_t *id, uint32_t *value)
{
	uint8_t b[WP_DGRAM_MAX];
	struct sg_wire_hdr h;

	wp_read_answer(p->coord, b, &h);
	assert_int_equal(h.nonce, 0x5eed0000ULL + h.coll_id);
	assert_int_equal(h.auth, AUTH(h.coll_id));
	*id = h.coll_id;
	memcpy(value, b + SG_WIRE_HDR_LEN, 4);
}

/* The application's side: take the next request for @want_id and answer
 * its vector, 1000 + id and zeros. */
static void serve_one(struct wpeer *p, uint32_t want_id)
{
	struct sg_msg msg;
	uint32_t *v;

	assert_int_equal(sg_worker_recv(p->w, &msg, 2000), 0);
	assert_int_equal(msg.type, SG_MSG_SCATTER);
	assert_int_equal(msg.coll_id, want_id);
	v = calloc(msg.count, 4);
	assert_non_null(v);
	v[0] = 1000 + msg.coll_id;
	assert_int_equal(sg_worker_reply(p->w, &msg, v, msg.count * 4), 0);
	free(v);
}

static void test_full_window_answered_again(void **state)
{
	struct wpeer p;
	uint32_t id, v;

	wp_open(&p, NULL, 0);
	for (uint32_t i = 0; i < SG_MAX_INFLIGHT; i++) {
		send_request(&p, i);
		serve_one(&p, i);
		read_response(&p, &id, &v);
		assert_int_equal(id, i);
		assert_int_equal(v, 1000 + i);
	}
	/* Every answer of the window was lost: each request comes again, the
	 * oldest first. The worker answers from its cache and the
	 * application sees nothing. */
	for (uint32_t i = 0; i < SG_MAX_INFLIGHT; i++) {
		send_request(&p, i);
		wp_expect_nothing(&p);
		read_response(&p, &id, &v);
		assert_int_equal(id, i);
		assert_int_equal(v, 1000 + i);
	}
	assert_int_equal(wp_stats(&p).tx_resent, SG_MAX_INFLIGHT);
	assert_int_equal(wp_stats(&p).rx_duplicate, SG_MAX_INFLIGHT);
	wp_close(&p);
}

/* Beyond the cache the oldest answer is forgotten, but the request is still
 * recognised as delivered: never handed to the application twice. */
static void test_forgotten_answer_not_redelivered(void **state)
{
	SG_OPTS_INIT(sg_worker_opts, o);
	struct wpeer p;
	uint32_t id, v;

	o.reply_cache_bytes = 4 * 4;	/* four one-element answers */
	wp_open(&p, &o, 0);
	for (uint32_t i = 0; i <= 4; i++) {
		send_request(&p, i);
		serve_one(&p, i);
		read_response(&p, &id, &v);
	}
	send_request(&p, 0);
	wp_expect_nothing(&p);
	wp_expect_silence(p.coord);
	/* A new request still goes through. */
	send_request(&p, 500);
	serve_one(&p, 500);
	read_response(&p, &id, &v);
	assert_int_equal(id, 500);
	wp_close(&p);
}

/* Answers of @count uint32 to requests 0..n-1; after each one the cache
 * holds at most @budget bytes. */
static void answer_many(struct wpeer *p, uint32_t n, uint32_t count, size_t budget)
{
	for (uint32_t i = 0; i < n; i++) {
		struct sg_wire_msg m = request(i, count);
		struct sg_worker_stats st;

		wp_send_chunk(p, p->coord, &m, 0);
		serve_one(p, i);
		st = wp_stats(p);
		if (st.cache_bytes > budget || st.cache_bytes_peak > budget)
			fail_msg("after %u answers of %zu bytes the cache holds %llu (peak %llu), budget %zu",
				 i + 1, (size_t)count * 4, (unsigned long long)st.cache_bytes,
				 (unsigned long long)st.cache_bytes_peak, budget);
	}
}

/* A budget of two and a half answers keeps the last two; the older ones are
 * recognised but no longer answered. */
static void test_cache_within_budget(void **state)
{
	SG_OPTS_INIT(sg_worker_opts, o);
	struct sg_wire_hdr h;
	struct wpeer p;
	uint8_t b[WP_DGRAM_MAX];
	unsigned int nc = sg_wire_nchunks_of(4000, sg_wire_response_chunk(SG_UINT32));

	assert_int_equal(nc, 3);
	o.reply_cache_bytes = 10000;
	wp_open(&p, &o, 1);
	answer_many(&p, 6, 1000, o.reply_cache_bytes);	/* 4000 bytes each */
	assert_int_equal(wp_stats(&p).cache_bytes, 8000);
	for (unsigned int i = 0; i < 6 * nc; i++)
		wp_read_answer(p.coord, b, &h);
	for (uint32_t i = 0; i < 6; i++) {
		struct sg_wire_msg m = request(i, 1000);

		wp_send_chunk(&p, p.coord, &m, 0);
		wp_expect_nothing(&p);
		if (i < 4) {
			wp_expect_silence(p.coord);
			continue;
		}
		for (unsigned int c = 0; c < nc; c++) {
			wp_read_answer(p.coord, b, &h);
			assert_int_equal(h.coll_id, i);
			assert_int_equal(h.chunk, c);
		}
	}
	assert_int_equal(wp_stats(&p).tx_resent, 2);
	wp_close(&p);
}

/* The default budget, SG_WORKER_REPLY_CACHE_BYTES, with answers of 1 MiB
 * (the coordinator does not read them: the kernel drops what its socket
 * cannot hold). */
static void test_default_budget(void **state)
{
	uint32_t n = SG_WORKER_REPLY_CACHE_BYTES / SG_MAX_SEGMENT_BYTES + 2;
	struct wpeer p;

	wp_open(&p, NULL, 1);
	answer_many(&p, n, SG_MAX_SEGMENT_BYTES / 4, SG_WORKER_REPLY_CACHE_BYTES);
	assert_int_equal(wp_stats(&p).cache_bytes, SG_WORKER_REPLY_CACHE_BYTES);
	wp_close(&p);
}

/* A repeated request is answered from the cache only if it is the request
 * answered: same coordinator (address and port), id, nonce and auth. */
static void test_only_the_same_request_answered_again(void **state)
{
	struct sockaddr_in other_addr;
	struct sg_wire_msg m = request(7, 1), forged;
	struct sg_wire_hdr h;
	struct wpeer p;
	uint8_t b[WP_DGRAM_MAX];
	int other;

	wp_open(&p, NULL, 0);
	/* Under trust on first use, another port of the coordinator's address
	 * is the coordinator too (another communicator). */
	other = wp_socket("127.0.0.1", &other_addr);
	wp_send_chunk(&p, p.coord, &m, 0);
	serve_one(&p, 7);
	wp_read_answer(p.coord, b, &h);

	/* Another auth token: not the request answered. The application sees
	 * it (the worker cannot tell which token is genuine; the coordinator's
	 * kernel can), and the cached answer is not sent. */
	forged = m;
	forged.auth ^= 0x10;
	wp_send_chunk(&p, p.coord, &forged, 0);
	wp_expect_msg(&p, &forged, &p.coord_addr, NULL);
	wp_expect_silence(p.coord);
	/* Another port: the same. */
	wp_send_chunk(&p, other, &m, 0);
	wp_expect_msg(&p, &m, &other_addr, NULL);
	wp_expect_silence(other);
	wp_expect_silence(p.coord);
	assert_int_equal(wp_stats(&p).tx_resent, 0);
	/* The request itself is answered again. */
	wp_send_chunk(&p, p.coord, &m, 0);
	wp_expect_nothing(&p);
	wp_read_answer(p.coord, b, &h);
	assert_int_equal(h.coll_id, 7);
	assert_int_equal(h.auth, m.auth);
	assert_int_equal(wp_stats(&p).tx_resent, 1);
	close(other);
	wp_close(&p);
}

/* Answers go in datagrams of as many chunks as the coordinator's offer
 * (answer_room) and the worker's route (loopback: 64 KiB) take: 10 chunks
 * of uint32 in two datagrams of 6 and 4 at an offer of MTU 9000's room, ten
 * of one at MTU 1500's or with no offer; the answer again from the cache the
 * same way. */
static void test_answer_spans(void **state)
{
	static const struct {
		uint8_t room;
		unsigned int span;
	} cases[] = { { 139, 6 }, { 22, 1 }, { 0, 1 } };
	const uint32_t count = 10 * SG_CHUNK_BYTES / 4;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sg_wire_msg m = request((uint32_t)(40 + i), count);
		unsigned int ndg = (10 + cases[i].span - 1) / cases[i].span;
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;
		struct wpeer p;

		wp_open(&p, NULL, 1);
		m.answer_room = cases[i].room;
		wp_send_chunk(&p, p.coord, &m, 0);
		serve_one(&p, m.coll_id);
		for (int again = 0; again <= 1; again++) {
			unsigned int chunks = 0;

			for (unsigned int d = 0; d < ndg; d++) {
				size_t len = wp_read_answer(p.coord, b, &h);

				assert_int_equal(h.nchunks, 10);
				assert_int_equal(h.span, d + 1 < ndg ? cases[i].span
								   : 10 - d * cases[i].span);
				assert_int_equal(len, SG_WIRE_HDR_LEN + h.span * SG_CHUNK_BYTES);
				chunks += h.span;
			}
			assert_int_equal(chunks, 10);
			wp_expect_silence(p.coord);
			if (!again) {	/* the answer was lost: asked again */
				wp_send_chunk(&p, p.coord, &m, 0);
				wp_expect_nothing(&p);	/* answered, not delivered */
			}
		}
		assert_int_equal(wp_stats(&p).tx_resent, 1);
		wp_close(&p);
	}
}

/* A worker contributes to many collectives at once (a training step reduces
 * many gradient buckets while backward runs): it takes 16 requests before
 * answering any, answers them in the reverse order, and each answer goes to
 * its own collective with its own bytes. */
static void test_many_in_flight(void **state)
{
	enum { N = 16 };
	struct sg_msg msgs[N];
	struct wpeer p;

	wp_open(&p, NULL, 1);
	for (uint32_t i = 0; i < N; i++) {
		struct sg_wire_msg m = request(100 + i, 2 + i * 300);	/* 2 to 4502 elements */

		wp_send_chunk(&p, p.coord, &m, 0);
	}
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(sg_worker_recv(p.w, &msgs[i], 2000), 0);
		assert_int_equal(msgs[i].coll_id, 100 + i);
	}
	for (int i = N - 1; i >= 0; i--) {
		uint32_t *v = calloc(msgs[i].count, 4), got[2];
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;
		unsigned int chunks = 0;

		assert_non_null(v);
		v[0] = 7000 + (uint32_t)i;
		v[msgs[i].count - 1] = 9000 + (uint32_t)i;
		assert_int_equal(sg_worker_reply(p.w, &msgs[i], v, msgs[i].count * 4), 0);
		while (chunks < sg_wire_nchunks(msgs[i].count * 4)) {
			size_t len = wp_read_answer(p.coord, b, &h);

			assert_int_equal(h.coll_id, 100 + (uint32_t)i);
			assert_int_equal(h.nonce, 0x5eed0000ULL + h.coll_id);
			assert_int_equal(h.auth, AUTH(h.coll_id));
			assert_int_equal(h.count, msgs[i].count);
			if (h.chunk == 0) {
				memcpy(got, b + SG_WIRE_HDR_LEN, 4);
				assert_int_equal(got[0], 7000 + (uint32_t)i);
			}
			if (h.chunk + h.span == h.nchunks) {
				memcpy(got + 1, b + len - 4, 4);
				assert_int_equal(got[1], 9000 + (uint32_t)i);
			}
			chunks += h.span;
		}
		free(v);
	}
	wp_expect_silence(p.coord);
	wp_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_window_answered_again),
		cmocka_unit_test(test_forgotten_answer_not_redelivered),
		cmocka_unit_test(test_cache_within_budget),
		cmocka_unit_test(test_default_budget),
		cmocka_unit_test(test_only_the_same_request_answered_again),
		cmocka_unit_test(test_answer_spans),
		cmocka_unit_test(test_many_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
