// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: the worker's receive path (sg_worker_recv: datagram
 * validation and reassembly of multi-chunk messages) and sg_worker_reply.
 *
 * One worker, bound to 127.0.0.1, lives across all inputs, so reassembly state
 * carries over from one input to the next as it would in real life. Each input
 * is a sequence of datagrams sent to it over loopback from three sockets:
 * senders 0 and 2 are the worker's configured coordinators, sender 1 (on
 * 127.0.0.2) a stranger:
 *
 *   byte 0          number of datagrams (0..32)
 *   then, for each:
 *     ctl           bit 7 clear: a raw datagram from sender (ctl & 1):
 *       len16 (LE)    its length, modulo RAW_MAX (past the worker's receive
 *                     buffer, to cover truncation), then that many bytes
 *                   bit 7 set: a valid chunk built by this program, sent from
 *                   sender 2; 12 bytes give its fields:
 *       type dtype op coll_id count16 msg_len24 chunk16 nonce
 *                     (type 1..4, msg_len modulo 1 MiB + 1, chunk modulo the
 *                     message's chunks; the payload is a pattern of the
 *                     message and the offset)
 *
 * After sending, sg_worker_recv(w, &msg, 0) is called until -EAGAIN. Each
 * message returned must have a type in 1..3, len <= 1 MiB, non-NULL data when
 * len > 0 (all of which is read), an op defined on its dtype unless BCAST
 * (sg_wire_op_valid), and come from a coordinator, never the stranger; a
 * message from sender 2 must hold exactly the pattern its chunks carried.
 * SCATTER requests are answered (up to 4 KiB) with sg_worker_reply(), which
 * must succeed, and refused (-EPERM) when addressed to the stranger; the
 * answers must decode as RESPONSE datagrams, and the stranger must receive
 * nothing, ever. Any violation aborts. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sgbpf.h"
#include "common/codec.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s (errmsg '%s')\n",     \
				__FILE__, __LINE__, #cond, sg_errmsg());                   \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define MAX_DGRAMS 32
#define RAW_MAX (SG_WIRE_HDR_LEN + SG_CHUNK_BYTES + 52)
#define NSENDERS 3
#define SYN 2		/* the sender of built chunks */
#define STRANGER 1	/* not a coordinator of the worker */
#define REPLY_MAX 4096

static sg_worker *worker;
static int senders[NSENDERS];
static uint16_t sender_port[NSENDERS];
static uint8_t dgram[RAW_MAX];
static uint8_t reply_buf[REPLY_MAX];

static void quiet(enum sg_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

static void setup(void)
{
	SG_OPTS_INIT(sg_worker_opts, opts);
	struct sockaddr_in wa = { .sin_family = AF_INET }, addr[NSENDERS], coords[2];
	int i, big = 4 << 20;

	sg_set_log(quiet, SG_LOG_ERROR, NULL);
	/* The senders first: the worker is configured with their addresses. */
	for (i = 0; i < NSENDERS; i++) {
		socklen_t alen = sizeof(addr[i]);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		addr[i] = (struct sockaddr_in){ .sin_family = AF_INET };
		addr[i].sin_addr.s_addr = htonl(i == STRANGER ? INADDR_LOOPBACK + 1 : INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&addr[i], sizeof(addr[i])) ||
		    getsockname(fd, (struct sockaddr *)&addr[i], &alen)) {
			perror("sender socket");
			abort();
		}
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		senders[i] = fd;
		sender_port[i] = ntohs(addr[i].sin_port);
	}
	coords[0] = addr[0];
	coords[1] = addr[SYN];
	opts.addr = "127.0.0.1";
	opts.coordinators = coords;
	opts.ncoordinators = 2;
	if (sg_worker_create(&opts, &worker)) {
		fprintf(stderr, "sg_worker_create: %s\n", sg_errmsg());
		abort();
	}
	wa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	wa.sin_port = htons(sg_worker_port(worker));
	for (i = 0; i < NSENDERS; i++) {
		if (connect(senders[i], (struct sockaddr *)&wa, sizeof(wa))) {
			perror("sender connect");
			abort();
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

/* The payload byte at offset @off of a built message. */
static uint8_t pattern(uint8_t type, uint32_t coll_id, uint32_t msg_len, uint64_t nonce,
		       size_t off)
{
	uint32_t x = coll_id * 2654435761u ^ (uint32_t)nonce * 40503u ^ msg_len * 97u ^ type;

	return (uint8_t)((off * 167u + (off >> 8) * 13u + x) ^ (x >> 8));
}

static uint32_t get_le(const uint8_t *p, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes--)
		v = v << 8 | p[bytes];
	return v;
}

static void send_dgram(int sender, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(senders[sender], buf, len, 0);
	} while (n < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN));
	CHECK(n == (ssize_t)len);
}

/* Build and send the chunk described by the 12 bytes at @d. */
static void send_built(const uint8_t *d)
{
	struct sg_wire_msg m = {
		.type = (uint8_t)(d[0] % 4 + 1),
		.dtype = d[1],
		.op = d[2],
		.coll_id = d[3],
		.count = get_le(d + 4, 2),
		.msg_len = get_le(d + 6, 3) % (SG_MAX_MSG_BYTES + 1),
		.nonce = d[11],
	};
	unsigned int chunk = get_le(d + 9, 2) % sg_wire_nchunks(m.msg_len);
	size_t clen = sg_wire_chunk_len(m.msg_len, chunk), off = (size_t)chunk * SG_CHUNK_BYTES;
	size_t i;

	sg_wire_encode(dgram, &m, chunk);
	for (i = 0; i < clen; i++)
		dgram[SG_WIRE_HDR_LEN + i] = pattern(m.type, m.coll_id, m.msg_len, m.nonce, off + i);
	send_dgram(SYN, dgram, SG_WIRE_HDR_LEN + clen);
}

static volatile uint8_t sink;

static void check_msg(const struct sg_msg *msg)
{
	const uint8_t *p = msg->data;
	uint8_t acc = 0;
	int sender = -1, i;
	size_t k;

	CHECK(msg->type >= SG_MSG_SCATTER && msg->type <= SG_MSG_RESULT);
	CHECK(msg->len <= SG_MAX_MESSAGE_BYTES);
	CHECK(msg->data || msg->len == 0);
	if (msg->type != SG_MSG_BCAST) {
		CHECK((unsigned int)msg->dtype < SG_DATATYPE_COUNT);
		CHECK(sg_wire_op_valid((unsigned int)msg->dtype, (unsigned int)msg->op));
	}
	CHECK(msg->count <= UINT32_MAX);
	/* Every byte must be readable (AddressSanitizer checks). */
	for (k = 0; k < msg->len; k++)
		acc ^= p[k];
	sink = acc;

	CHECK(msg->from.sin_family == AF_INET);
	CHECK(msg->from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	for (i = 0; i < NSENDERS; i++) {
		if (ntohs(msg->from.sin_port) == sender_port[i])
			sender = i;
	}
	CHECK(sender >= 0 && sender != STRANGER);
	if (sender == SYN) {
		for (k = 0; k < msg->len; k++) {
			if (p[k] != pattern((uint8_t)msg->type, msg->coll_id, (uint32_t)msg->len,
					    msg->nonce, k)) {
				fprintf(stderr,
					"message type %d coll_id %u len %zu nonce %llu: byte %zu "
					"is 0x%02x, chunk %zu was sent with 0x%02x\n",
					(int)msg->type, msg->coll_id, msg->len,
					(unsigned long long)msg->nonce, k, p[k], k / SG_CHUNK_BYTES,
					pattern((uint8_t)msg->type, msg->coll_id,
						(uint32_t)msg->len, msg->nonce, k));
				CHECK(!"reassembled message holds the bytes its chunks carried");
			}
		}
	}
}

/* Answer a SCATTER request if its reply is small; returns the number of reply
 * datagrams sent. */
static unsigned int answer(const struct sg_msg *msg)
{
	size_t want;
	int err;

	if (msg->type != SG_MSG_SCATTER)
		return 0;
	want = msg->count * sg_datatype_size(msg->dtype);
	if (want == 0 || want > REPLY_MAX) {
		CHECK(sg_worker_reply(worker, msg, reply_buf, want ? 0 : 1) == -EINVAL);
		return 0;
	}
	CHECK(sg_worker_reply(worker, msg, reply_buf, want - 1) == -EINVAL);
	{
		struct sg_msg to_stranger = *msg;

		to_stranger.from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
		to_stranger.from.sin_port = htons(sender_port[STRANGER]);
		CHECK(sg_worker_reply(worker, &to_stranger, reply_buf, want) == -EPERM);
	}
	err = sg_worker_reply(worker, msg, reply_buf, want);
	CHECK(err == 0);
	return sg_wire_nchunks(want);
}

/* Read back the answers sent to the senders: each must be a valid RESPONSE. */
static void drain_senders(void)
{
	static uint8_t buf[2048];
	struct sg_wire_hdr h;
	ssize_t n;
	int i;

	for (i = 0; i < NSENDERS; i++) {
		while ((n = recv(senders[i], buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			CHECK(i != STRANGER);
			CHECK(sg_wire_decode(buf, (size_t)n, &h) == 0);
			CHECK(h.type == SG_WIRE_RESPONSE);
			CHECK(sg_wire_op_valid(h.dtype, h.op));
			CHECK(h.msg_len == h.count * sg_datatype_size(h.dtype));
		}
		CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	unsigned int n, i, got = 0;
	struct sg_msg msg;
	int err;

	if (size == 0)
		return 0;
	n = *p++ % (MAX_DGRAMS + 1);
	for (i = 0; i < n && p < end; i++) {
		uint8_t ctl = *p++;

		if (ctl & 0x80) {
			if (end - p < 12)
				break;
			send_built(p);
			p += 12;
		} else {
			size_t len;

			if (end - p < 2)
				break;
			len = get_le(p, 2) % RAW_MAX;
			p += 2;
			if (len > (size_t)(end - p))
				len = (size_t)(end - p);
			send_dgram(ctl & 1, p, len);
			p += len;
		}
	}

	/* Each datagram completes at most one message; late ones of an earlier
	 * input may still arrive. */
	for (;;) {
		memset(&msg, 0xa5, sizeof(msg));
		err = sg_worker_recv(worker, &msg, 0);
		if (err == -EAGAIN)
			break;
		CHECK(err == 0);
		CHECK(++got <= n + MAX_DGRAMS);
		check_msg(&msg);
		answer(&msg);
	}
	drain_senders();
	return 0;
}
