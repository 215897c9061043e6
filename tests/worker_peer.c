// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/worker_peer.h"

int wp_socket(const char *ip, struct sockaddr_in *addr)
{
	struct timeval tv = { .tv_sec = 2 };
	socklen_t alen = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, ip, &addr->sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &alen), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

void wp_open(struct wpeer *p, const struct sg_worker_opts *o, int configure)
{
	SG_OPTS_INIT(sg_worker_opts, wo);

	memset(p, 0, sizeof(*p));
	p->coord = wp_socket("127.0.0.1", &p->coord_addr);
	if (o)
		wo = *o;
	wo.addr = "127.0.0.1";
	if (configure) {
		wo.coordinators = &p->coord_addr;
		wo.ncoordinators = 1;
	}
	assert_int_equal(sg_worker_create(&wo, &p->w), 0);
	p->to = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(sg_worker_port(p->w)) };
	inet_pton(AF_INET, "127.0.0.1", &p->to.sin_addr);
}

void wp_close(struct wpeer *p)
{
	close(p->coord);
	sg_worker_destroy(p->w);
}

uint8_t wp_pattern(const struct sg_wire_msg *m, size_t off)
{
	uint32_t x = m->coll_id * 2654435761u ^ (uint32_t)m->nonce * 40503u ^ m->type * 97u;

	return (uint8_t)((off * 167u + (off >> 8) * 13u + x) ^ (x >> 8));
}

size_t wp_encode(void *buf, const struct sg_wire_msg *m, unsigned int chunk)
{
	size_t clen, off = (size_t)chunk * SG_CHUNK_BYTES;
	uint8_t *b = buf;
	struct sg_wire_hdr h;

	sg_wire_encode(b, m, chunk);
	memcpy(&h, b, sizeof(h));
	clen = h.len;	/* the chunk's, or the span's from it */
	for (size_t i = 0; i < clen; i++)
		b[SG_WIRE_HDR_LEN + i] = wp_pattern(m, off + i);
	return SG_WIRE_HDR_LEN + clen;
}

void wp_send(const struct wpeer *p, int fd, const void *buf, size_t len)
{
	assert_int_equal(sendto(fd, buf, len, 0, (const struct sockaddr *)&p->to, sizeof(p->to)),
			 (ssize_t)len);
}

void wp_send_chunk(const struct wpeer *p, int fd, const struct sg_wire_msg *m, unsigned int chunk)
{
	uint8_t b[WP_DGRAM_MAX];

	wp_send(p, fd, b, wp_encode(b, m, chunk));
}

void wp_expect_msg(struct wpeer *p, const struct sg_wire_msg *m, const struct sockaddr_in *from,
		   struct sg_msg *out)
{
	const uint8_t *d;
	struct sg_msg msg;

	assert_int_equal(sg_worker_recv(p->w, &msg, 2000), 0);
	assert_int_equal(msg.type, m->type);
	assert_int_equal(msg.coll_id, m->coll_id);
	assert_int_equal(msg.nonce, m->nonce);
	assert_int_equal(msg.auth, m->auth);
	assert_int_equal(msg.len, m->msg_len);
	assert_int_equal(msg.from.sin_addr.s_addr, from->sin_addr.s_addr);
	assert_int_equal(msg.from.sin_port, from->sin_port);
	d = msg.data;
	for (size_t i = 0; i < msg.len; i++)
		if (d[i] != wp_pattern(m, i))
			fail_msg("collective %u: byte %zu of %u is 0x%02x, sent 0x%02x",
				 m->coll_id, i, m->msg_len, d[i], wp_pattern(m, i));
	if (out)
		*out = msg;
}

void wp_expect_nothing(struct wpeer *p)
{
	struct sg_msg msg;
	int err = sg_worker_recv(p->w, &msg, WP_QUIET_MS);

	if (err != -ETIMEDOUT)
		fail_msg("sg_worker_recv: %d (type %d, collective %u from port %u), expected -ETIMEDOUT",
			 err, err ? 0 : (int)msg.type, err ? 0 : msg.coll_id,
			 err ? 0 : ntohs(msg.from.sin_port));
}

void wp_expect_silence(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, WP_QUIET_MS), 0);
}

size_t wp_read_answer(int fd, void *buf, struct sg_wire_hdr *h)
{
	ssize_t n = recv(fd, buf, WP_DGRAM_MAX, 0);

	assert_true(n > 0);
	assert_int_equal(sg_wire_decode(buf, (size_t)n, h), 0);
	assert_int_equal(h->type, SG_WIRE_RESPONSE);
	return (size_t)n;
}

struct sg_worker_stats wp_stats(const struct wpeer *p)
{
	SG_OPTS_INIT(sg_worker_stats, st);

	assert_int_equal(sg_worker_get_stats(p->w, &st), 0);
	return st;
}
