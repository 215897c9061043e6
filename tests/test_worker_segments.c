// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The worker's side of segmented collectives (docs/design.md, "Segments"),
 * over loopback: a request whose segments arrive in any order is delivered
 * once, and the one answer goes out segment by segment, each naming its
 * segment's collective, again when a segment asks again; a result's segments
 * are each acknowledged and delivered whole once, a long broadcast's as a
 * broadcast; segment headers that break the rules (sg_wire_segment_ok()), and
 * any from a stranger, are dropped and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coll/request.h"
#include "tests/worker_peer.h"

/* 1000 int32 in 3 segments: 352, 352 and 296 elements, a chunk each. */
#define WHOLE	1000u
#define NSEGS	3u
#define FIRST	100u	/* collective id of segment 0 */
#define REQ	"request!"

static uint32_t seg_elems(void)
{
	return sg_wire_seg_elems(WHOLE, NSEGS, SG_INT32);
}

static uint32_t seg_count(uint16_t seg)
{
	uint32_t e = seg_elems();

	return WHOLE - seg * e < e ? WHOLE - seg * e : e;
}

/* Segment @seg of a segmented message of type @type whose first segment is
 * collective @first. */
static struct sg_wire_msg segment_of(uint8_t type, uint16_t seg, uint32_t first)
{
	struct sg_wire_msg m = {
		.type = type, .dtype = SG_INT32, .op = SG_OP_SUM,
		.coll_id = first + seg, .count = seg_count(seg),
		.nonce = 0x5e90000000ULL + (first - FIRST) * 16 + seg,
		.auth = 0x2001 + 2 * (first - FIRST + seg),
		.seg_first = first, .seg = seg, .nsegs = NSEGS, .whole_count = WHOLE,
	};

	if (type == SG_WIRE_SCATTER) {
		m.whole_len = sizeof(REQ);
		m.msg_len = seg ? 0 : sizeof(REQ);
	} else {
		m.whole_len = WHOLE * 4;
		m.msg_len = m.count * 4;
	}
	return m;
}

static struct sg_wire_msg segment(uint8_t type, uint16_t seg)
{
	return segment_of(type, seg, FIRST);
}

/* Send message @m with payload @data, chunk by chunk, from socket @fd. */
static void send_msg_from(const struct wpeer *p, int fd, const struct sg_wire_msg *m,
			  const void *data)
{
	uint8_t b[WP_DGRAM_MAX];
	unsigned int n = sg_wire_nchunks_of(m->msg_len, sg_wire_chunk_bytes(m->type, m->dtype));

	for (unsigned int c = 0; c < n; c++) {
		size_t cb = sg_wire_chunk_bytes(m->type, m->dtype);
		size_t len = sg_wire_chunk_len_of(m->msg_len, c, (uint32_t)cb);

		sg_wire_encode(b, m, c);
		if (len)
			memcpy(b + SG_WIRE_HDR_LEN, (const uint8_t *)data + c * cb, len);
		wp_send(p, fd, b, SG_WIRE_HDR_LEN + len);
	}
}

/* The same from the coordinator. */
static void send_msg(const struct wpeer *p, const struct sg_wire_msg *m, const void *data)
{
	send_msg_from(p, p->coord, m, data);
}

/* The answer to segment @seg must arrive: its collective, nonce and token,
 * and its slice of @whole. */
static void expect_answer(struct wpeer *p, uint16_t seg, const int32_t *whole)
{
	uint8_t b[WP_DGRAM_MAX];
	struct sg_wire_hdr h;
	size_t len = wp_read_answer(p->coord, b, &h);

	assert_int_equal(h.type, SG_WIRE_RESPONSE);
	assert_int_equal(h.coll_id, FIRST + seg);
	assert_int_equal(h.count, seg_count(seg));
	assert_int_equal(h.nonce, 0x5e90000000ULL + seg);
	assert_int_equal(h.auth, 0x2001 + 2 * seg);
	assert_int_equal(len, SG_WIRE_HDR_LEN + seg_count(seg) * 4);
	assert_memory_equal(b + SG_WIRE_HDR_LEN, whole + seg * seg_elems(), seg_count(seg) * 4);
}

/* Segments 2, 0, 1: the request is delivered once, when segment 0 (which
 * carries it) arrives, with the whole count; the answer goes to the
 * segments that asked before it, then at once to those after it, and again
 * to a segment that asks again. */
static void test_request_answered_per_segment(void **state)
{
	struct sg_wire_msg s0 = segment(SG_WIRE_SCATTER, 0), s1 = segment(SG_WIRE_SCATTER, 1),
			   s2 = segment(SG_WIRE_SCATTER, 2);
	int32_t *v = malloc(WHOLE * 4);
	struct sg_worker_stats st;
	struct sg_msg msg;
	struct wpeer p;

	assert_non_null(v);
	for (uint32_t i = 0; i < WHOLE; i++)
		v[i] = (int32_t)(i * 7 + 1);
	wp_open(&p, NULL, 1);
	send_msg(&p, &s2, NULL);
	send_msg(&p, &s0, REQ);
	assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
	assert_int_equal(msg.type, SG_MSG_SCATTER);
	assert_int_equal(msg.coll_id, FIRST);
	assert_int_equal(msg.count, WHOLE);
	assert_int_equal(msg.len, sizeof(REQ));
	assert_memory_equal(msg.data, REQ, sizeof(REQ));
	wp_expect_silence(p.coord);		/* nothing before the application */
	/* A reply of the wrong length names the whole count. */
	assert_int_equal(sg_worker_reply(p.w, &msg, v, 4 * seg_count(0)), -EINVAL);
	assert_int_equal(sg_worker_reply(p.w, &msg, v, WHOLE * 4), 0);
	expect_answer(&p, 2, v);
	expect_answer(&p, 0, v);
	send_msg(&p, &s1, NULL);
	wp_expect_nothing(&p);			/* one request, delivered once */
	expect_answer(&p, 1, v);
	send_msg(&p, &s1, NULL);		/* asked again: answered again */
	wp_expect_nothing(&p);
	expect_answer(&p, 1, v);
	st = wp_stats(&p);
	assert_int_equal(st.rx_delivered, 1);
	assert_int_equal(st.rx_duplicate, 1);
	assert_int_equal(st.tx_resent, 1);
	assert_int_equal(st.cache_bytes, 0);	/* held outside the cache */
	wp_close(&p);
	free(v);
}

/* A result's segments, one twice, out of order: each acknowledged, the
 * whole delivered once; a long broadcast's segments delivered whole as a
 * broadcast. */
static void test_result_whole(void **state)
{
	static const uint16_t order[] = { 1, 0, 1, 2 };
	int32_t *v = malloc(WHOLE * 4);
	struct sg_msg msg;
	struct wpeer p;

	assert_non_null(v);
	for (uint32_t i = 0; i < WHOLE; i++)
		v[i] = (int32_t)(i * 13 - 500);
	wp_open(&p, NULL, 1);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct sg_wire_msg m = segment(SG_WIRE_RESULT, order[i]);
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;

		send_msg(&p, &m, v + order[i] * seg_elems());
		if (i < 3)
			wp_expect_nothing(&p);	/* not whole yet */
		else
			assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
		wp_read_answer(p.coord, b, &h);	/* its acknowledgement */
		assert_int_equal(h.coll_id, (FIRST + order[i]) | SG_COLL_ACK);
		assert_int_equal(h.auth, 0x2001 + 2 * order[i]);
	}
	assert_int_equal(msg.type, SG_MSG_RESULT);
	assert_int_equal(msg.coll_id, FIRST);
	assert_int_equal(msg.count, WHOLE);
	assert_int_equal(msg.len, WHOLE * 4);
	assert_memory_equal(msg.data, v, WHOLE * 4);
	wp_expect_nothing(&p);

	/* A broadcast of 4000 bytes in 3 segments of a uint8 vector. */
	for (uint16_t s = 0; s < NSEGS; s++) {
		uint32_t e = sg_wire_seg_elems(WHOLE * 4, NSEGS, SG_UINT8);
		struct sg_wire_msg m = {
			.type = SG_WIRE_RESULT, .flags = SG_WIRE_F_BCAST, .dtype = SG_UINT8,
			.op = SG_OP_BOR, .coll_id = 200 + s, .nonce = 77 + s, .auth = 9 + 2 * s,
			.seg_first = 200, .seg = s, .nsegs = NSEGS, .whole_len = WHOLE * 4,
			.whole_count = WHOLE * 4,
		};

		m.count = m.msg_len = WHOLE * 4 - s * e < e ? WHOLE * 4 - s * e : e;
		send_msg(&p, &m, (uint8_t *)v + s * e);
	}
	assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
	for (uint16_t s = 0; s < NSEGS; s++) {
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;

		wp_read_answer(p.coord, b, &h);
		assert_int_equal(h.coll_id, (200u + s) | SG_COLL_ACK);
	}
	assert_int_equal(msg.type, SG_MSG_BCAST);
	assert_int_equal(msg.coll_id, 200);
	assert_int_equal(msg.len, WHOLE * 4);
	assert_memory_equal(msg.data, v, WHOLE * 4);
	assert_int_equal(wp_stats(&p).rx_delivered, 2);
	wp_close(&p);
	free(v);
}

/* Segment headers against the rules: each dropped and counted, nothing
 * delivered or sent; a good segmented request is served after them. */
static void test_bad_segments_dropped(void **state)
{
	struct sg_wire_msg bad[10];
	int32_t *v = calloc(WHOLE, 4);
	struct sg_msg msg;
	struct wpeer p;
	size_t n = 0;

	assert_non_null(v);
	bad[n] = segment(SG_WIRE_SCATTER, 1);	/* a count not its segment's */
	bad[n++].count--;
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* seg past nsegs */
	bad[n++].seg = NSEGS;
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* nsegs the whole does not give */
	bad[n].nsegs = 7;	/* 352 each (whole chunks): 6 overrun the whole */
	bad[n++].count = seg_count(0);
	bad[n] = segment(SG_WIRE_SCATTER, 1);	/* the request on another segment */
	bad[n++].msg_len = sizeof(REQ);
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* a request past a segment */
	bad[n].whole_len = SG_MAX_MSG_BYTES + 1;
	bad[n++].msg_len = 0;
	bad[n] = segment(SG_WIRE_RESULT, 0);	/* whole_len not the vector's */
	bad[n++].whole_len = WHOLE * 4 - 4;
	bad[n] = segment(SG_WIRE_RESULT, 0);	/* a whole past 256 MiB */
	bad[n++].whole_count = SG_MAX_WHOLE_BYTES / 4 + 1;
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* more segments than allowed */
	bad[n++].nsegs = SG_MAX_SEGS + 1;
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* a broadcast cannot be segmented */
	bad[n].type = SG_WIRE_BCAST;
	bad[n].dtype = bad[n].op = 0;
	bad[n++].count = 0;
	bad[n] = segment(SG_WIRE_SCATTER, 0);	/* unsegmented, but not its own whole */
	bad[n].nsegs = 1;
	bad[n++].whole_count = WHOLE + 1;
	/* Payloads as long as each header says: the request, then zeros. */
	static uint8_t pay[WHOLE * 4] = REQ;

	wp_open(&p, NULL, 1);
	for (size_t i = 0; i < n; i++)
		send_msg(&p, &bad[i], pay);
	wp_expect_nothing(&p);
	wp_expect_silence(p.coord);
	assert_int_equal(wp_stats(&p).rx_malformed, n);
	for (uint16_t s = 0; s < NSEGS; s++) {
		struct sg_wire_msg m = segment(SG_WIRE_SCATTER, s);

		send_msg(&p, &m, REQ);
	}
	assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
	assert_int_equal(msg.count, WHOLE);
	assert_int_equal(sg_worker_reply(p.w, &msg, v, WHOLE * 4), 0);
	expect_answer(&p, 0, v);
	wp_expect_nothing(&p);		/* takes segments 1 and 2: answered at once */
	for (uint16_t s = 1; s < NSEGS; s++)
		expect_answer(&p, s, v);
	wp_close(&p);
	free(v);
}

/* Segments from a stranger, well formed and with the coordinator's ids, are
 * dropped before they are parsed: nothing delivered, stored or sent, and the
 * coordinator's own request is then served as if they never came. */
static void test_stranger_segments_ignored(void **state)
{
	struct sockaddr_in sa;
	int stranger = wp_socket("127.0.0.1", &sa);
	int32_t *v = calloc(WHOLE, 4);
	struct sg_worker_stats st;
	struct sg_msg msg;
	struct wpeer p;

	assert_true(stranger >= 0 && v);
	wp_open(&p, NULL, 1);
	for (uint16_t s = 0; s < NSEGS; s++) {
		struct sg_wire_msg q = segment(SG_WIRE_SCATTER, s), r = segment(SG_WIRE_RESULT, s);

		send_msg_from(&p, stranger, &q, REQ);
		send_msg_from(&p, stranger, &r, v);
	}
	wp_expect_nothing(&p);
	wp_expect_silence(stranger);
	wp_expect_silence(p.coord);
	st = wp_stats(&p);
	assert_int_equal(st.rx_foreign, 2 * NSEGS);
	assert_int_equal(st.rx_delivered, 0);
	for (uint16_t s = 0; s < NSEGS; s++) {
		struct sg_wire_msg m = segment(SG_WIRE_SCATTER, s);

		send_msg(&p, &m, REQ);
	}
	assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
	assert_int_equal(msg.coll_id, FIRST);
	assert_int_equal(sg_worker_reply(p.w, &msg, v, WHOLE * 4), 0);
	expect_answer(&p, 0, v);
	wp_close(&p);
	close(stranger);
	free(v);
}

/* With a byte budget of one answer, a new segmented request's answer makes
 * the worker forget an answer every segment of which was answered: a repeat
 * of one of its segments goes unanswered; one still being asked for is
 * kept. */
static void test_answers_within_budget(void **state)
{
	SG_OPTS_INIT(sg_worker_opts, o);
	int32_t *v = calloc(WHOLE, 4);
	struct sg_msg msg;
	struct wpeer p;

	assert_non_null(v);
	o.reply_cache_bytes = WHOLE * 4;
	wp_open(&p, &o, 1);
	for (uint16_t s = 0; s < NSEGS; s++) {	/* A, answered in full */
		struct sg_wire_msg m = segment(SG_WIRE_SCATTER, s);

		send_msg(&p, &m, REQ);
	}
	assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
	assert_int_equal(sg_worker_reply(p.w, &msg, v, WHOLE * 4), 0);
	expect_answer(&p, 0, v);
	wp_expect_nothing(&p);
	expect_answer(&p, 1, v);
	expect_answer(&p, 2, v);
	{	/* B: its segment 0 only */
		struct sg_wire_msg m = segment_of(SG_WIRE_SCATTER, 0, 500);
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;

		send_msg(&p, &m, REQ);
		assert_int_equal(sg_worker_recv(p.w, &msg, 2000), 0);
		assert_int_equal(msg.coll_id, 500);
		assert_int_equal(sg_worker_reply(p.w, &msg, v, WHOLE * 4), 0);
		wp_read_answer(p.coord, b, &h);
		assert_int_equal(h.coll_id, 500);
	}
	{	/* A's segment 1 again: forgotten, nothing sent */
		struct sg_wire_msg m = segment(SG_WIRE_SCATTER, 1);

		send_msg(&p, &m, NULL);
		wp_expect_nothing(&p);
		wp_expect_silence(p.coord);
	}
	{	/* B's segment 1: B is kept, whatever the budget */
		struct sg_wire_msg m = segment_of(SG_WIRE_SCATTER, 1, 500);
		uint8_t b[WP_DGRAM_MAX];
		struct sg_wire_hdr h;

		send_msg(&p, &m, NULL);
		wp_expect_nothing(&p);
		wp_read_answer(p.coord, b, &h);
		assert_int_equal(h.coll_id, 501);
	}
	wp_close(&p);
	free(v);
}

/* The coordinator's segmentation of every datatype, fan-out and length up to
 * the largest gives headers the workers take (sg_wire_segment_ok()): at most
 * SG_MAX_SEGS segments of at most a segment's bytes, none empty. */
static void test_coordinator_geometry(void **state)
{
	static const size_t fanouts[] = { 1, 8, 16, 17, 64, 1024 };

	for (int dt = 0; dt < SG_DATATYPE_COUNT; dt++) {
		size_t size = sg_datatype_size(dt);
		size_t counts[] = { SG_MAX_SEGMENT_BYTES / size + 1, 3 * SG_MAX_SEGMENT_BYTES / size,
				    (64u << 20) / size + 7, SG_MAX_MESSAGE_BYTES / size - 1,
				    SG_MAX_MESSAGE_BYTES / size };

		for (size_t f = 0; f < sizeof(fanouts) / sizeof(fanouts[0]); f++)
			for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
				for (int delivery = 0; delivery < 2; delivery++) {
					uint32_t n = sg_segment_count(fanouts[f],
								      SG_SEG_INCAST_BYTES, delivery,
								      counts[c], dt);
					struct sg_wire_hdr h = {
						.type = SG_WIRE_SCATTER, .dtype = (uint8_t)dt,
						.nsegs = (uint16_t)n, .seg = (uint16_t)(n - 1),
						.whole_count = (uint32_t)counts[c],
					};
					uint32_t e = sg_wire_seg_elems(h.whole_count, n, dt);

					if (n < 2 || n > SG_MAX_SEGS)
						fail_msg("dt %d fan-out %zu count %zu: %u segments",
							 dt, fanouts[f], counts[c], n);
					h.count = h.whole_count - (n - 1) * e;
					if (!sg_wire_segment_ok(&h))
						fail_msg("dt %d fan-out %zu count %zu: %u segments of %u "
							 "rejected", dt, fanouts[f], counts[c], n, e);
				}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_answered_per_segment),
		cmocka_unit_test(test_result_whole),
		cmocka_unit_test(test_bad_segments_dropped),
		cmocka_unit_test(test_stranger_segments_ignored),
		cmocka_unit_test(test_answers_within_budget),
		cmocka_unit_test(test_coordinator_geometry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
