// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The worker side: plain UDP, no privileges. Receives requests, broadcasts and
 * allgather results (reassembling multi-chunk messages) and answers requests
 * in chunks the coordinator's kernel program can fold one by one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sgbpf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/codec.h"
#include "common/udp.h"

/* Room for a burst of a 1 MiB message (about 2.3 KiB of kernel memory per
 * 1 KiB chunk) with margin. */
#define SG_WORKER_RCVBUF (8 << 20)

/* The message being reassembled: one at a time, since a coordinator sends its
 * messages one after the other. */
struct sg_reassembly {
	int active;
	struct sg_wire_hdr first;	/* header of the first chunk seen */
	struct sockaddr_in from;
	unsigned int received;
	uint64_t seen[SG_MAX_CHUNKS / 64];
};

/* Messages already delivered, so a repeated one (a retransmission, or a
 * duplicate the network made) is not delivered twice; and the last answers,
 * so a repeated request is answered again without the application: as many
 * as a coordinator can have collectives in flight, or a lost answer to one
 * of a full window would never be sent again. A cached answer keeps its
 * buffer (at most the largest answer given, 1 MiB each). */
#define SG_SEEN_MSGS	(2 * (int)SG_MAX_INFLIGHT)
#define SG_CACHED_REPLIES ((int)SG_MAX_INFLIGHT)

struct sg_seen {
	uint8_t type;
	uint32_t coll_id;
	uint64_t nonce;
	struct sockaddr_in from;
};

struct sg_cached_reply {
	struct sg_wire_msg m;
	struct sockaddr_in to;
	uint8_t *data;
	size_t cap;
};

struct sg_worker {
	int fd;
	uint16_t port;
	uint64_t dropped;		/* malformed datagrams */
	struct sg_seen seen[SG_SEEN_MSGS];
	unsigned int seen_next;
	struct sg_cached_reply replies[SG_CACHED_REPLIES];
	unsigned int replies_next;
	struct sg_reassembly rs;
	uint8_t *msg;			/* reassembled message, SG_MAX_MSG_BYTES */
	uint8_t rx[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES + 1];
	uint8_t tx[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
};

int sg_worker_create(const struct sg_worker_opts *opts, sg_worker **out)
{
	struct sockaddr_in local = { .sin_family = AF_INET };
	socklen_t alen = sizeof(local);
	struct sg_worker *w;
	int err;

	if (!opts || !out)
		return sg_fail(-EINVAL, "sg_worker_create: opts and worker must not be NULL");
	err = SG_OPTS_CHECK(sg_worker_opts, opts);
	if (err)
		return err;
	if (opts->addr && inet_pton(AF_INET, opts->addr, &local.sin_addr) != 1)
		return sg_fail(-EINVAL, "sg_worker_opts: addr '%s' is not an IPv4 address",
			       opts->addr);
	local.sin_port = htons(opts->port);

	w = calloc(1, sizeof(*w));
	if (!w)
		return sg_fail(-ENOMEM, "out of memory");
	err = sg_udp_socket(&local, NULL);
	if (err < 0) {
		free(w);
		return err;
	}
	w->fd = err;
	sg_udp_grow_rcvbuf(w->fd, SG_WORKER_RCVBUF);
	getsockname(w->fd, (struct sockaddr *)&local, &alen);
	w->port = ntohs(local.sin_port);
	*out = w;
	return 0;
}

void sg_worker_destroy(sg_worker *w)
{
	if (!w)
		return;
	for (int i = 0; i < SG_CACHED_REPLIES; i++)
		free(w->replies[i].data);
	close(w->fd);
	free(w->msg);
	free(w);
}

int sg_worker_fd(const sg_worker *w)
{
	return w ? w->fd : -EINVAL;
}

uint16_t sg_worker_port(const sg_worker *w)
{
	return w ? w->port : 0;
}

static void fill_msg(struct sg_msg *msg, const struct sg_wire_hdr *h,
		     const struct sockaddr_in *from, const void *data)
{
	msg->type = (enum sg_msg_type)h->type;
	msg->coll_id = h->coll_id;
	msg->dtype = (enum sg_datatype)h->dtype;
	msg->op = (enum sg_op)h->op;
	msg->count = h->count;
	msg->data = data;
	msg->len = h->msg_len;
	msg->from = *from;
	msg->nonce = h->nonce;
	msg->auth = h->auth;
}

static int same_message(const struct sg_reassembly *rs, const struct sg_wire_hdr *h,
			const struct sockaddr_in *from)
{
	return rs->active && rs->first.type == h->type && rs->first.coll_id == h->coll_id &&
	       rs->first.msg_len == h->msg_len && rs->first.nonce == h->nonce &&
	       rs->from.sin_addr.s_addr == from->sin_addr.s_addr &&
	       rs->from.sin_port == from->sin_port;
}

static int send_reply(struct sg_worker *w, const struct sg_wire_msg *m,
		      const struct sockaddr_in *to, const void *data);

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Acknowledge an allgather result, so the coordinator stops sending it. */
static void send_ack(struct sg_worker *w, const struct sg_msg *msg)
{
	struct sg_wire_msg m = {
		.type = SG_WIRE_RESPONSE,
		.dtype = SG_UINT8,
		.op = SG_OP_BOR,
		.coll_id = msg->coll_id | SG_COLL_ACK,
		.count = 1,
		.msg_len = 1,
		.nonce = msg->nonce,
		.auth = msg->auth,
	};
	uint8_t one = 1;

	send_reply(w, &m, &msg->from, &one);
}

/* 1 if @msg was delivered before, after answering a repeated request or
 * result again; else remember it (acknowledging a result) and return 0. */
static int repeated(struct sg_worker *w, const struct sg_msg *msg)
{
	struct sg_seen *s;

	for (int i = 0; i < SG_SEEN_MSGS; i++) {
		s = &w->seen[i];
		if (s->type != msg->type || s->coll_id != msg->coll_id || s->nonce != msg->nonce ||
		    !same_addr(&s->from, &msg->from))
			continue;
		for (int j = 0; msg->type == SG_MSG_SCATTER && j < SG_CACHED_REPLIES; j++) {
			struct sg_cached_reply *c = &w->replies[j];

			if (c->data && c->m.coll_id == msg->coll_id && c->m.nonce == msg->nonce &&
			    same_addr(&c->to, &msg->from))
				send_reply(w, &c->m, &c->to, c->data);
		}
		if (msg->type == SG_MSG_RESULT)
			send_ack(w, msg);
		return 1;
	}
	s = &w->seen[w->seen_next++ % SG_SEEN_MSGS];
	*s = (struct sg_seen){ .type = (uint8_t)msg->type, .coll_id = msg->coll_id,
			       .nonce = msg->nonce, .from = msg->from };
	if (msg->type == SG_MSG_RESULT)
		send_ack(w, msg);
	return 0;
}

/* Take one datagram. Returns 1 and fills @msg when it completes a message, 0
 * when it was consumed (a chunk, a duplicate, or dropped as malformed). */
static int take_datagram(struct sg_worker *w, size_t len, const struct sockaddr_in *from,
			 struct sg_msg *msg)
{
	struct sg_reassembly *rs = &w->rs;
	struct sg_wire_hdr h;
	uint64_t bit;

	/* A request or result must describe a vector that fits a message: a
	 * forged count must not make the application allocate gigabytes. */
	if (sg_wire_decode(w->rx, len, &h) < 0 || h.type == SG_WIRE_RESPONSE ||
	    (h.type != SG_WIRE_BCAST &&
	     (!sg_wire_op_valid(h.dtype, h.op) || h.count == 0 ||
	      (uint64_t)h.count * sg_wire_dtype_size(h.dtype) > SG_MAX_MSG_BYTES ||
	      (h.type == SG_WIRE_RESULT &&
	       h.msg_len != (uint64_t)h.count * sg_wire_dtype_size(h.dtype))))) {
		w->dropped++;
		return 0;
	}
	if (h.nchunks == 1) {
		fill_msg(msg, &h, from, w->rx + SG_WIRE_HDR_LEN);
		return !repeated(w, msg);
	}
	if (!w->msg) {
		w->msg = malloc(SG_MAX_MSG_BYTES);
		if (!w->msg) {
			w->dropped++;
			return 0;
		}
	}
	/* A chunk of another message abandons the one in progress: messages
	 * are not interleaved, so that one will not complete. */
	if (!same_message(rs, &h, from)) {
		memset(rs, 0, sizeof(*rs));
		rs->active = 1;
		rs->first = h;
		rs->from = *from;
	}
	bit = 1ULL << (h.chunk % 64);
	if (rs->seen[h.chunk / 64] & bit)
		return 0;
	rs->seen[h.chunk / 64] |= bit;
	memcpy(w->msg + (size_t)h.chunk * SG_CHUNK_BYTES, w->rx + SG_WIRE_HDR_LEN, h.len);
	if (++rs->received < h.nchunks)
		return 0;
	rs->active = 0;
	fill_msg(msg, &h, from, w->msg);
	return !repeated(w, msg);
}

int sg_worker_recv(sg_worker *w, struct sg_msg *msg, int timeout_ms)
{
	long long deadline = sg_deadline_us(timeout_ms);

	if (!w || !msg)
		return sg_fail(-EINVAL, "sg_worker_recv: worker and msg must not be NULL");
	for (;;) {
		struct sockaddr_in from;
		ssize_t n = sg_udp_recv_until(w->fd, w->rx, sizeof(w->rx), &from, deadline);

		if (n < 0)
			return (int)n;
		if (take_datagram(w, (size_t)n, &from, msg))
			return 0;
	}
}

int sg_worker_reply(sg_worker *w, const struct sg_msg *req, const void *data, size_t len)
{
	struct sg_cached_reply *c;
	struct sg_wire_msg m;
	size_t want;

	if (!w || !req || (!data && len))
		return sg_fail(-EINVAL, "sg_worker_reply: worker, req and data must not be NULL");
	if (req->type != SG_MSG_SCATTER)
		return sg_fail(-EINVAL, "only a SCATTER request can be answered (got type %d)",
			       (int)req->type);
	if ((unsigned int)req->dtype >= SG_DATATYPE_COUNT)
		return sg_fail(-EINVAL, "unknown datatype %d", (int)req->dtype);
	want = req->count * sg_datatype_size(req->dtype);
	if (want > SG_MAX_MESSAGE_BYTES)
		return sg_fail(-E2BIG, "reply of %zu bytes, at most %u", want, SG_MAX_MESSAGE_BYTES);
	if (len != want || want == 0)
		return sg_fail(-EINVAL, "reply of %zu bytes; collective %u expects %zu x %zu = %zu",
			       len, req->coll_id, req->count, sg_datatype_size(req->dtype), want);
	m = (struct sg_wire_msg){
		.type = SG_WIRE_RESPONSE,
		.dtype = (uint8_t)req->dtype,
		.op = (uint8_t)req->op,
		.coll_id = req->coll_id,
		.count = (uint32_t)req->count,
		.msg_len = (uint32_t)len,
		.nonce = req->nonce,
		.auth = req->auth,
	};
	c = &w->replies[w->replies_next++ % SG_CACHED_REPLIES];
	if (c->cap < len) {
		uint8_t *p = realloc(c->data, len);

		if (!p)
			return sg_fail(-ENOMEM, "out of memory");
		c->data = p;
		c->cap = len;
	}
	memcpy(c->data, data, len);
	c->m = m;
	c->to = req->from;
	return send_reply(w, &m, &req->from, data);
}

/* Send answer @m (its msg_len bytes of @data) to @to, in the chunks the
 * coordinator's kernel folds one by one. */
static int send_reply(struct sg_worker *w, const struct sg_wire_msg *m,
		      const struct sockaddr_in *to, const void *data)
{
	size_t cb = sg_wire_response_chunk(m->dtype), len = m->msg_len;

	for (unsigned int c = 0; c < sg_wire_nchunks_of(len, cb); c++) {
		size_t clen = sg_wire_chunk_len_of(len, c, cb);
		int err;

		sg_wire_encode(w->tx, m, c);
		memcpy(w->tx + SG_WIRE_HDR_LEN, (const uint8_t *)data + (size_t)c * cb, clen);
		err = sg_udp_sendto(w->fd, w->tx, SG_WIRE_HDR_LEN + clen, to);
		if (err)
			return sg_fail(err, "sendto: %s", strerror(-err));
	}
	return 0;
}
