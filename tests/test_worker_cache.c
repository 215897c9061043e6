// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The worker's memory of what it answered, over loopback: a coordinator may
 * have SG_MAX_INFLIGHT collectives in flight, and a repeated request for any
 * of them (its answer was lost) is answered again from the cache, without
 * delivering the request to the application twice.
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

#include "sgbpf.h"
#include "common/codec.h"

struct pair {
	sg_worker *w;
	int coord;			/* the coordinator's socket */
	struct sockaddr_in to;		/* the worker */
};

static void open_pair(struct pair *p)
{
	SG_OPTS_INIT(sg_worker_opts, o);
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 2 };

	o.addr = "127.0.0.1";
	assert_int_equal(sg_worker_create(&o, &p->w), 0);
	p->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(sg_worker_port(p->w)) };
	inet_pton(AF_INET, "127.0.0.1", &p->to.sin_addr);
	p->coord = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(p->coord >= 0);
	inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
	assert_int_equal(bind(p->coord, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(setsockopt(p->coord, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void close_pair(struct pair *p)
{
	close(p->coord);
	sg_worker_destroy(p->w);
}

/* A one-element uint32 SUM request for collective @id. */
static void send_request(struct pair *p, uint32_t id)
{
	struct sg_wire_msg m = { .type = SG_WIRE_SCATTER, .dtype = SG_UINT32, .op = SG_OP_SUM,
				 .coll_id = id, .count = 1, .msg_len = 4,
				 .nonce = 0x5eed0000ULL + id };
	uint8_t b[SG_WIRE_HDR_LEN + 4];

	sg_wire_encode(b, &m, 0);
	memcpy(b + SG_WIRE_HDR_LEN, &id, 4);
	assert_int_equal(sendto(p->coord, b, sizeof(b), 0, (struct sockaddr *)&p->to,
				sizeof(p->to)), sizeof(b));
}

/* Read one response: its collective id and value. */
static void read_response(struct pair *p, uint32_t *id, uint32_t *value)
{
	uint8_t b[2048];
	struct sg_wire_hdr h;
	ssize_t n = recv(p->coord, b, sizeof(b), 0);

	assert_true(n > 0);
	assert_int_equal(sg_wire_decode(b, (size_t)n, &h), 0);
	assert_int_equal(h.type, SG_WIRE_RESPONSE);
	assert_int_equal(h.nonce, 0x5eed0000ULL + h.coll_id);
	*id = h.coll_id;
	memcpy(value, b + SG_WIRE_HDR_LEN, 4);
}

/* The application's side: take the next request and answer 1000 + id. */
static void serve_one(struct pair *p, uint32_t want_id)
{
	struct sg_msg msg;
	uint32_t v;

	assert_int_equal(sg_worker_recv(p->w, &msg, 2000), 0);
	assert_int_equal(msg.type, SG_MSG_SCATTER);
	assert_int_equal(msg.coll_id, want_id);
	v = 1000 + msg.coll_id;
	assert_int_equal(sg_worker_reply(p->w, &msg, &v, 4), 0);
}

static void test_full_window_answered_again(void **state)
{
	struct pair p;
	struct sg_msg msg;
	uint32_t id, v;

	open_pair(&p);
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
		assert_int_equal(sg_worker_recv(p.w, &msg, 200), -ETIMEDOUT);
		read_response(&p, &id, &v);
		assert_int_equal(id, i);
		assert_int_equal(v, 1000 + i);
	}
	close_pair(&p);
}

/* Beyond the window the oldest answer is forgotten, but the request is still
 * recognised as delivered: never handed to the application twice. */
static void test_older_than_window_not_redelivered(void **state)
{
	struct pair p;
	struct sg_msg msg;
	uint32_t id, v;

	open_pair(&p);
	for (uint32_t i = 0; i <= SG_MAX_INFLIGHT; i++) {
		send_request(&p, i);
		serve_one(&p, i);
		read_response(&p, &id, &v);
	}
	send_request(&p, 0);
	assert_int_equal(sg_worker_recv(p.w, &msg, 200), -ETIMEDOUT);
	/* A new request still goes through. */
	send_request(&p, 500);
	serve_one(&p, 500);
	read_response(&p, &id, &v);
	assert_int_equal(id, 500);
	close_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_window_answered_again),
		cmocka_unit_test(test_older_than_window_not_redelivered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
