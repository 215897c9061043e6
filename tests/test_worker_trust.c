// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Whom a worker listens and answers to, over loopback (docs/reliability.md,
 * "Workers"): configured coordinators or the first one heard; everything else
 * is dropped and counted before it is parsed and never answered, and
 * sg_worker_reply() answers nobody else. The same over a network with spoofed
 * source addresses: tests/test_worker_spoof.c.
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

/* A request for collective @id: one uint32 to be summed. */
static struct sg_wire_msg request(uint32_t id)
{
	return (struct sg_wire_msg){ .type = SG_WIRE_SCATTER, .dtype = SG_UINT32,
				     .op = SG_OP_SUM, .coll_id = id, .count = 1, .msg_len = 4,
				     .nonce = 0x1234500000ULL + id, .auth = 0x77 + 2 * id };
}

/* A request as big as the answer it asks for can be: 1 MiB. */
static struct sg_wire_msg big_request(uint32_t id)
{
	struct sg_wire_msg m = request(id);

	m.dtype = SG_INT32;
	m.count = SG_MAX_MESSAGE_BYTES / 4;
	return m;
}

static int create(const struct sockaddr_in *c, size_t n)
{
	SG_OPTS_INIT(sg_worker_opts, o);
	sg_worker *w = NULL;
	int err;

	o.addr = "127.0.0.1";
	o.coordinators = c;
	o.ncoordinators = n;
	err = sg_worker_create(&o, &w);
	sg_worker_destroy(w);
	return err;
}

static void test_options_validated(void **state)
{
	struct sockaddr_in c[SG_WORKER_MAX_COORDINATORS + 1];
	SG_OPTS_INIT(sg_worker_opts, o);
	sg_worker *w = NULL;

	for (size_t i = 0; i < SG_WORKER_MAX_COORDINATORS + 1; i++) {
		c[i] = (struct sockaddr_in){ .sin_family = AF_INET,
					     .sin_port = htons((uint16_t)(6000 + i)) };
		inet_pton(AF_INET, "10.1.2.3", &c[i].sin_addr);
	}
	assert_int_equal(create(c, SG_WORKER_MAX_COORDINATORS), 0);
	assert_int_equal(create(c, SG_WORKER_MAX_COORDINATORS + 1), -E2BIG);
	assert_non_null(strstr(sg_errmsg(), "coordinators"));
	assert_int_equal(create(NULL, 1), -EINVAL);
	assert_int_equal(create(c, 0), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "ncoordinators"));
	c[1].sin_family = AF_INET6;
	assert_int_equal(create(c, 2), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "coordinators[1]"));
	c[1].sin_family = AF_INET;
	c[1].sin_port = 0;
	assert_int_equal(create(c, 2), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "coordinators[1]"));
	c[1].sin_port = htons(6001);
	c[1].sin_addr.s_addr = 0;
	assert_int_equal(create(c, 2), -EINVAL);
	assert_non_null(strstr(sg_errmsg(), "0.0.0.0"));

	/* A caller built against the header without the new fields passes a
	 * shorter struct: trust on first use, the default budget. */
	o.sz = offsetof(struct sg_worker_opts, coordinators);
	o.addr = "127.0.0.1";
	assert_int_equal(sg_worker_create(&o, &w), 0);
	sg_worker_destroy(w);
	/* Bytes this library does not know must be zero. */
	{
		struct { struct sg_worker_opts o; uint64_t more; } big = { .o = o };

		big.o.sz = sizeof(big);
		big.more = 1;
		assert_int_equal(sg_worker_create(&big.o, &w), -EINVAL);
	}
}

static void test_stats_sizes(void **state)
{
	struct sg_worker_stats st = { .sz = 3 };
	struct wpeer p;

	wp_open(&p, NULL, 1);
	assert_int_equal(sg_worker_get_stats(p.w, &st), -EINVAL);
	assert_int_equal(sg_worker_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(sg_worker_get_stats(p.w, NULL), -EINVAL);
	/* An older, shorter struct gets its own fields and nothing past them. */
	{
		struct { struct sg_worker_stats st; uint64_t guard; } s;

		memset(&s, 0xee, sizeof(s));
		s.st.sz = offsetof(struct sg_worker_stats, rx_foreign);
		assert_int_equal(sg_worker_get_stats(p.w, &s.st), 0);
		assert_int_equal(s.st.rx_delivered, 0);
		assert_int_equal(s.st.rx_foreign, 0xeeeeeeeeeeeeeeeeULL);
		assert_int_equal(s.guard, 0xeeeeeeeeeeeeeeeeULL);
	}
	wp_close(&p);
}

/* A configured worker takes nothing from a stranger, not even from another
 * port of its coordinator's address, and answers it nothing; a second
 * configured coordinator is heard. */
static void test_configured_drops_strangers(void **state)
{
	struct sockaddr_in stranger_addr, second_addr, coords[2];
	SG_OPTS_INIT(sg_worker_opts, o);
	struct sg_wire_msg m;
	struct sg_wire_hdr h;
	struct sg_msg msg;
	struct wpeer p;
	uint8_t b[WP_DGRAM_MAX];
	uint32_t one = 1;
	int stranger, second;

	stranger = wp_socket("127.0.0.1", &stranger_addr);
	second = wp_socket("127.0.0.2", &second_addr);
	p.coord = wp_socket("127.0.0.1", &p.coord_addr);
	coords[0] = p.coord_addr;
	coords[1] = second_addr;
	o.addr = "127.0.0.1";
	o.coordinators = coords;
	o.ncoordinators = 2;
	assert_int_equal(sg_worker_create(&o, &p.w), 0);
	p.to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(sg_worker_port(p.w)),
				     .sin_addr = p.coord_addr.sin_addr };

	/* Ten requests for 1 MiB answers with fresh nonces, from a stranger:
	 * nothing delivered, nothing answered, nothing cached. */
	for (uint32_t i = 0; i < 10; i++) {
		m = big_request(i);
		wp_send_chunk(&p, stranger, &m, 0);
	}
	wp_expect_nothing(&p);
	wp_expect_silence(stranger);
	assert_int_equal(wp_stats(&p).rx_foreign, 10);
	assert_int_equal(wp_stats(&p).rx_malformed, 0);
	assert_int_equal(wp_stats(&p).cache_bytes, 0);

	/* Both coordinators are heard and answered. */
	m = request(20);
	wp_send_chunk(&p, p.coord, &m, 0);
	wp_expect_msg(&p, &m, &p.coord_addr, &msg);
	assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), 0);
	wp_read_answer(p.coord, b, &h);
	assert_int_equal(h.coll_id, 20);
	m = request(21);
	wp_send_chunk(&p, second, &m, 0);
	wp_expect_msg(&p, &m, &second_addr, &msg);
	assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), 0);
	wp_read_answer(second, b, &h);
	assert_int_equal(h.coll_id, 21);
	wp_expect_silence(stranger);
	assert_int_equal(wp_stats(&p).rx_delivered, 2);
	close(stranger);
	close(second);
	wp_close(&p);
}

/* sg_worker_reply() answers only a coordinator, whatever req->from says. */
static void test_reply_refuses_strangers(void **state)
{
	struct sockaddr_in stranger_addr;
	struct sg_wire_msg m = request(3);
	struct sg_msg msg;
	struct wpeer p;
	uint32_t one = 1;
	int stranger;

	for (int configure = 0; configure <= 1; configure++) {
		wp_open(&p, NULL, configure);
		stranger = wp_socket("127.0.0.2", &stranger_addr);
		/* Before any coordinator was heard (trust on first use), there is
		 * nobody to answer. */
		msg = (struct sg_msg){ .type = SG_MSG_SCATTER, .dtype = SG_UINT32, .op = SG_OP_SUM,
				       .count = 1, .from = stranger_addr };
		assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), -EPERM);
		assert_non_null(strstr(sg_errmsg(), "not a coordinator"));

		wp_send_chunk(&p, p.coord, &m, 0);
		wp_expect_msg(&p, &m, &p.coord_addr, &msg);
		msg.from = stranger_addr;
		assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), -EPERM);
		assert_non_null(strstr(sg_errmsg(), "127.0.0.2"));
		wp_expect_silence(stranger);
		assert_int_equal(wp_stats(&p).cache_bytes, 0);
		close(stranger);
		wp_close(&p);
	}
}

/* Unconfigured, the worker trusts the address of the first valid coordinator
 * datagram: not a malformed one, and from then on nobody else's. */
static void test_first_coordinator_pinned(void **state)
{
	struct sockaddr_in early_addr, other_port_addr;
	struct sg_wire_msg m = request(5);
	struct sg_msg msg;
	struct wpeer p;
	uint8_t junk[60] = { 0x53, 0x47, 0x42, 0x46, 9 };
	uint32_t one = 1;
	int early, other_port;

	early = wp_socket("127.0.0.2", &early_addr);
	wp_open(&p, NULL, 0);
	other_port = wp_socket("127.0.0.1", &other_port_addr);
	wp_send(&p, early, junk, sizeof(junk));		/* malformed: pins nothing */
	wp_expect_nothing(&p);
	assert_int_equal(wp_stats(&p).rx_malformed, 1);

	wp_send_chunk(&p, p.coord, &m, 0);		/* the first valid one */
	wp_expect_msg(&p, &m, &p.coord_addr, NULL);
	m = request(6);
	wp_send_chunk(&p, early, &m, 0);
	wp_expect_nothing(&p);
	assert_int_equal(wp_stats(&p).rx_foreign, 1);
	/* Another port of the coordinator's address: another communicator. */
	wp_send_chunk(&p, other_port, &m, 0);
	wp_expect_msg(&p, &m, &other_port_addr, &msg);
	assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), 0);
	wp_expect_silence(early);
	close(early);
	close(other_port);
	wp_close(&p);
}

/* A request's bytes replayed by a stranger are not answered; replayed from
 * the coordinator, they are answered from the cache, to the coordinator. */
static void test_replay(void **state)
{
	struct sockaddr_in stranger_addr;
	struct sg_wire_msg m = request(9);
	struct sg_wire_hdr h;
	struct sg_msg msg;
	struct wpeer p;
	uint8_t b[WP_DGRAM_MAX], req[SG_WIRE_HDR_LEN + 4];
	size_t len;
	uint32_t one = 1;
	int stranger;

	for (int configure = 0; configure <= 1; configure++) {
		wp_open(&p, NULL, configure);
		stranger = wp_socket(configure ? "127.0.0.1" : "127.0.0.2", &stranger_addr);
		len = wp_encode(req, &m, 0);
		wp_send(&p, p.coord, req, len);
		wp_expect_msg(&p, &m, &p.coord_addr, &msg);
		assert_int_equal(sg_worker_reply(p.w, &msg, &one, 4), 0);
		wp_read_answer(p.coord, b, &h);

		wp_send(&p, stranger, req, len);
		wp_expect_nothing(&p);
		wp_expect_silence(stranger);
		wp_expect_silence(p.coord);
		assert_int_equal(wp_stats(&p).rx_foreign, 1);
		assert_int_equal(wp_stats(&p).tx_resent, 0);

		wp_send(&p, p.coord, req, len);
		wp_expect_nothing(&p);
		wp_read_answer(p.coord, b, &h);
		assert_int_equal(h.coll_id, 9);
		wp_expect_silence(stranger);
		assert_int_equal(wp_stats(&p).tx_resent, 1);
		assert_int_equal(wp_stats(&p).rx_duplicate, 1);
		close(stranger);
		wp_close(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_validated),
		cmocka_unit_test(test_stats_sizes),
		cmocka_unit_test(test_configured_drops_strangers),
		cmocka_unit_test(test_reply_refuses_strangers),
		cmocka_unit_test(test_first_coordinator_pinned),
		cmocka_unit_test(test_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
