// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The worker side: plain UDP, no privileges. Receives requests, broadcasts and
 * allgather results from its coordinators only (reassembling multi-chunk
 * messages) and answers requests, to the coordinator that sent them, in
 * chunks the coordinator's kernel program can fold one by one.
 *
 * Trust (docs/reliability.md, "Workers"): a datagram is taken only from a
 * coordinator, configured (exact address and port) or, without a
 * configuration, the address of the first valid coordinator datagram (trust
 * on first use). Everything else is counted as foreign before it is parsed,
 * so it can neither reach the application, nor touch a message being
 * reassembled, nor make the worker send anything: every datagram the worker
 * sends goes to the source of a message it took, a coordinator. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
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

/* Messages already delivered, so a repeated one (a retransmission, or a
 * duplicate the network made) is not delivered twice; and the answers, so a
 * repeated request is answered again without the application. Both cover the
 * whole window (SG_MAX_INFLIGHT) of up to four communicators; the answers are
 * also bounded by the byte budget (sg_worker_opts::reply_cache_bytes). */
#define SG_SEEN_MSGS	 (4 * (int)SG_MAX_INFLIGHT)
#define SG_CACHED_REPLIES (4 * (int)SG_MAX_INFLIGHT)

_Static_assert(SG_WORKER_REASSEMBLIES >= 8, "several messages in reassembly at once");

/* Segmented requests and results kept at once (their answers and wholes are
 * outside the byte budget of the answer cache: a segmented answer is needed
 * until every segment has asked for it). */
#define SG_WORKER_WHOLES 16

/* What identifies one coordinator message: its source and the header fields
 * every chunk of it repeats. Chunks, deliveries and cached answers are
 * matched on all of it. */
struct sg_msg_key {
	struct sockaddr_in from;
	uint8_t type, dtype, op;
	uint32_t coll_id, count, msg_len;
	uint64_t nonce, auth;
};

/* A key's tag: one word, compared before the whole key, in arrays of their
 * own, so the per-message searches of the delivered list and the answer
 * cache (hundreds of entries, every datagram) touch one cache line per 8
 * entries and rarely compare a key. */
static uint64_t key_tag(const struct sg_msg_key *k)
{
	return k->nonce ^ k->auth ^ ((uint64_t)k->coll_id << 32 | k->type);
}

/* A message being reassembled: its buffer has its own length. */
struct sg_reassembly {
	int active;
	struct sg_msg_key key;
	uint8_t *buf;
	unsigned int received;
	uint64_t progressed;		/* sg_worker::tick at its last new chunk */
	uint64_t seen[(SG_MAX_CHUNKS + 63) / 64];
};

/* A whole of several segments (sg_wire_segment_ok()) from one coordinator:
 * a request, delivered once, whose answer goes out segment by segment as
 * each segment's collective asks for it; or a result or broadcast assembled
 * from its segments. Matched on its source and the header fields every
 * segment repeats. */
struct sg_whole_key {
	struct sockaddr_in from;
	uint8_t type, dtype, op, bcast;
	uint16_t nsegs;
	uint32_t seg_first, whole_len, whole_count;
};

/* A segment's collective, as its answer must name it. */
struct sg_seg_ask {
	uint32_t coll_id, count;
	uint16_t seg;
	uint64_t nonce, auth;
};

struct sg_whole {
	int active;
	struct sg_whole_key key;
	uint64_t used;			/* sg_worker::tick when last touched */
	uint64_t have[SG_MAX_SEGS / 64];	/* segments taken */
	unsigned int nhave;
	/* A request: the answer once given (whole_count elements), the
	 * segments asked for before it, and the nonce of segment 0, which the
	 * delivered message carries. A result: the whole being assembled. */
	uint8_t *buf;
	uint64_t nonce0;
	unsigned int npending;
	struct sg_seg_ask pending[SG_SLOTS];
};

/* The path to one coordinator: the room its requests offer answer datagrams
 * (answer_room) and what this end's route to it takes, probed once. Answers
 * carry as many chunks per datagram as both allow (send_reply()). */
struct sg_path {
	struct sockaddr_in to;
	uint8_t offered;		/* the latest request's answer_room */
	uint8_t own;			/* sg_wire_room_for_mtu() of our route */
	uint64_t used;			/* sg_worker::tick when last offered */
};

#define SG_WORKER_PATHS 8

struct sg_cached_reply {
	struct sg_msg_key req;		/* the request answered */
	struct sg_wire_msg m;		/* the answer's header */
	uint8_t *data;			/* m.msg_len bytes */
};

struct sg_worker {
	int fd;
	uint16_t port;
	/* Coordinators: configured (exact address and port), or the address
	 * pinned by the first valid datagram. */
	struct sockaddr_in *coords;
	size_t ncoords;
	int pinned;
	struct in_addr pinned_addr;
	struct sg_worker_stats st;
	size_t cache_budget;
	struct sg_msg_key seen[SG_SEEN_MSGS];
	uint64_t seen_tag[SG_SEEN_MSGS];	/* key_tag() of seen[] */
	unsigned int seen_next;
	/* Answers in the order given: a ring of cache_n from cache_head. */
	struct sg_cached_reply cache[SG_CACHED_REPLIES];
	uint64_t cache_tag[SG_CACHED_REPLIES];	/* key_tag() of cache[].req */
	unsigned int cache_head, cache_n;
	struct sg_reassembly rs[SG_WORKER_REASSEMBLIES];
	struct sg_whole wholes[SG_WORKER_WHOLES];
	int any_whole;			/* a whole was ever started */
	struct sg_path paths[SG_WORKER_PATHS];
	uint64_t tick;
	uint8_t *out;			/* the last reassembled message delivered */
	uint8_t rx[SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD + 1];
	/* The datagrams of the reply being sent (sg_wire_train()). */
	uint8_t tx_hdrs[SG_MAX_RESPONSE_CHUNKS * SG_WIRE_HDR_LEN];
	struct iovec tx_iov[2 * SG_MAX_RESPONSE_CHUNKS];
	struct sg_udp_sender sender;	/* what the replies' sends cost */
};

static const char *addr_str(const struct sockaddr_in *a, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	return buf;
}

static int set_coordinators(struct sg_worker *w, const struct sockaddr_in *c, size_t n)
{
	char s[32];

	if (!c != !n)
		return sg_fail(-EINVAL, "sg_worker_opts: coordinators and ncoordinators go together");
	if (n > SG_WORKER_MAX_COORDINATORS)
		return sg_fail(-E2BIG, "sg_worker_opts: %zu coordinators, at most %u", n,
			       SG_WORKER_MAX_COORDINATORS);
	for (size_t i = 0; i < n; i++) {
		if (c[i].sin_family != AF_INET)
			return sg_fail(-EINVAL, "sg_worker_opts: coordinators[%zu]: family %d, not AF_INET",
				       i, (int)c[i].sin_family);
		if (!c[i].sin_port || !c[i].sin_addr.s_addr)
			return sg_fail(-EINVAL, "sg_worker_opts: coordinators[%zu] is %s: an address and a port are required",
				       i, addr_str(&c[i], s, sizeof(s)));
	}
	if (!n)
		return 0;
	w->coords = calloc(n, sizeof(*w->coords));
	if (!w->coords)
		return sg_fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		w->coords[i].sin_family = AF_INET;
		w->coords[i].sin_addr = c[i].sin_addr;
		w->coords[i].sin_port = c[i].sin_port;
	}
	w->ncoords = n;
	return 0;
}

int sg_worker_create(const struct sg_worker_opts *uopts, sg_worker **out)
{
	struct sockaddr_in local = { .sin_family = AF_INET };
	struct sg_worker_opts opts = { 0 };
	socklen_t alen = sizeof(local);
	struct sg_worker *w;
	int err;

	if (!uopts || !out)
		return sg_fail(-EINVAL, "sg_worker_create: opts and worker must not be NULL");
	err = SG_OPTS_CHECK(sg_worker_opts, uopts);
	if (err)
		return err;
	/* A caller built against an older header passes a shorter struct. */
	memcpy(&opts, uopts, uopts->sz < sizeof(opts) ? uopts->sz : sizeof(opts));
	if (opts.addr && inet_pton(AF_INET, opts.addr, &local.sin_addr) != 1)
		return sg_fail(-EINVAL, "sg_worker_opts: addr '%s' is not an IPv4 address",
			       opts.addr);
	local.sin_port = htons(opts.port);

	w = calloc(1, sizeof(*w));
	if (!w)
		return sg_fail(-ENOMEM, "out of memory");
	w->fd = -1;
	w->cache_budget = opts.reply_cache_bytes ? opts.reply_cache_bytes
						  : SG_WORKER_REPLY_CACHE_BYTES;
	err = set_coordinators(w, opts.coordinators, opts.ncoordinators);
	if (!err)
		err = sg_udp_socket(&local, NULL);
	if (err < 0) {
		sg_worker_destroy(w);
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
		free(w->cache[i].data);
	for (unsigned int i = 0; i < SG_WORKER_REASSEMBLIES; i++)
		free(w->rs[i].buf);
	for (unsigned int i = 0; i < SG_WORKER_WHOLES; i++)
		free(w->wholes[i].buf);
	if (w->fd >= 0)
		close(w->fd);
	free(w->coords);
	free(w->out);
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

int sg_worker_get_stats(const sg_worker *w, struct sg_worker_stats *st)
{
	struct sg_worker_stats s;
	size_t sz;

	if (!w || !st)
		return sg_fail(-EINVAL, "sg_worker_get_stats: worker and stats must not be NULL");
	sz = st->sz;
	if (sz < offsetof(struct sg_worker_stats, rx_delivered) + sizeof(st->rx_delivered))
		return sg_fail(-EINVAL, "sg_worker_stats: sz is %zu; set it to sizeof(struct sg_worker_stats)",
			       sz);
	s = w->st;
	s.sz = sz;
	s.tx_calls = w->sender.calls;
	s.tx_gso_sends = w->sender.gso_sends;
	memcpy(st, &s, sz < sizeof(s) ? sz : sizeof(s));
	return 0;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* Whether @from is a coordinator of @w: one of the configured ones, or the
 * pinned address (any port). */
static int is_coordinator(const struct sg_worker *w, const struct sockaddr_in *from)
{
	if (from->sin_family != AF_INET || !from->sin_port)
		return 0;
	if (!w->ncoords)
		return w->pinned && from->sin_addr.s_addr == w->pinned_addr.s_addr;
	for (size_t i = 0; i < w->ncoords; i++)
		if (same_addr(&w->coords[i], from))
			return 1;
	return 0;
}

static int same_key(const struct sg_msg_key *a, const struct sg_msg_key *b)
{
	return same_addr(&a->from, &b->from) && a->type == b->type && a->dtype == b->dtype &&
	       a->op == b->op && a->coll_id == b->coll_id && a->count == b->count &&
	       a->msg_len == b->msg_len && a->nonce == b->nonce && a->auth == b->auth;
}

static struct sg_msg_key key_of_hdr(const struct sg_wire_hdr *h, const struct sockaddr_in *from)
{
	return (struct sg_msg_key){ .from = *from, .type = h->type, .dtype = h->dtype,
				    .op = h->op, .coll_id = h->coll_id, .count = h->count,
				    .msg_len = h->msg_len, .nonce = h->nonce, .auth = h->auth };
}

static struct sg_msg_key key_of_msg(const struct sg_msg *m)
{
	return (struct sg_msg_key){ .from = m->from, .type = (uint8_t)m->type,
				    .dtype = (uint8_t)m->dtype, .op = (uint8_t)m->op,
				    .coll_id = m->coll_id, .count = (uint32_t)m->count,
				    .msg_len = (uint32_t)m->len, .nonce = m->nonce,
				    .auth = m->auth };
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

static int send_reply(struct sg_worker *w, const struct sg_wire_msg *m,
		      const struct sockaddr_in *to, const void *data);
static void path_offered(struct sg_worker *w, const struct sockaddr_in *from,
			 const struct sg_wire_hdr *h);

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

/* ---------------------------------------------------------------- answers */

static struct sg_cached_reply *cache_at(struct sg_worker *w, unsigned int i)
{
	return &w->cache[(w->cache_head + i) % SG_CACHED_REPLIES];
}

static struct sg_cached_reply *cache_find(struct sg_worker *w, const struct sg_msg_key *req)
{
	uint64_t tag = key_tag(req);

	for (unsigned int i = 0; i < w->cache_n; i++) {
		unsigned int at = (w->cache_head + i) % SG_CACHED_REPLIES;

		if (w->cache_tag[at] == tag && same_key(&w->cache[at].req, req))
			return &w->cache[at];
	}
	return NULL;
}

static void cache_drop_oldest(struct sg_worker *w)
{
	struct sg_cached_reply *c = cache_at(w, 0);

	w->st.cache_bytes -= c->m.msg_len;
	free(c->data);
	c->data = NULL;
	w->cache_head = (w->cache_head + 1) % SG_CACHED_REPLIES;
	w->cache_n--;
}

/* Keep answer @m (@data) to request @req, forgetting the oldest answers to
 * stay within the entries and the byte budget. 0, or -ENOMEM. */
static int cache_put(struct sg_worker *w, const struct sg_msg_key *req,
		     const struct sg_wire_msg *m, const void *data)
{
	struct sg_cached_reply *c = cache_find(w, req);

	if (c) {		/* answered twice: the same key has the same length */
		memcpy(c->data, data, m->msg_len);
		c->m = *m;
		return 0;
	}
	if (m->msg_len > w->cache_budget)
		return 0;
	while (w->cache_n == SG_CACHED_REPLIES || w->st.cache_bytes + m->msg_len > w->cache_budget)
		cache_drop_oldest(w);
	c = cache_at(w, w->cache_n);
	w->cache_tag[c - w->cache] = key_tag(req);
	c->data = malloc(m->msg_len);
	if (!c->data)
		return sg_fail(-ENOMEM, "out of memory");
	memcpy(c->data, data, m->msg_len);
	c->m = *m;
	c->req = *req;
	w->cache_n++;
	w->st.cache_bytes += m->msg_len;
	if (w->st.cache_bytes > w->st.cache_bytes_peak)
		w->st.cache_bytes_peak = w->st.cache_bytes;
	return 0;
}

/* 1 if @msg (@key) was delivered before, after answering a repeated request
 * from the cache (only if the request is the one answered: same source and
 * header) or acknowledging a repeated result; else remember it
 * (acknowledging a result) and return 0. */
static int repeated(struct sg_worker *w, const struct sg_msg_key *key, const struct sg_msg *msg)
{
	uint64_t tag = key_tag(key);

	for (int i = 0; i < SG_SEEN_MSGS; i++) {
		struct sg_cached_reply *c;

		if (w->seen_tag[i] != tag || !same_key(&w->seen[i], key))
			continue;
		w->st.rx_duplicate++;
		if (msg->type == SG_MSG_SCATTER && (c = cache_find(w, key))) {
			w->st.tx_resent++;
			send_reply(w, &c->m, &c->req.from, c->data);
		}
		if (msg->type == SG_MSG_RESULT)
			send_ack(w, msg);
		return 1;
	}
	w->seen_tag[w->seen_next % SG_SEEN_MSGS] = tag;
	w->seen[w->seen_next++ % SG_SEEN_MSGS] = *key;
	if (msg->type == SG_MSG_RESULT)
		send_ack(w, msg);
	return 0;
}

/* Hand @msg to the application unless it was delivered before. */
static int deliver(struct sg_worker *w, const struct sg_msg_key *key, const struct sg_msg *msg)
{
	if (repeated(w, key, msg))
		return 0;
	w->st.rx_delivered++;
	return 1;
}

/* ------------------------------------------------------------ reassembly */

static void rs_release(struct sg_reassembly *rs)
{
	free(rs->buf);
	memset(rs, 0, sizeof(*rs));
}

/* The reassembly of the message @key, started if new: in a free entry, or in
 * place of the one that least recently received a new chunk. NULL when its
 * buffer cannot be allocated. */
static struct sg_reassembly *rs_get(struct sg_worker *w, const struct sg_msg_key *key)
{
	struct sg_reassembly *rs = NULL;

	for (unsigned int i = 0; i < SG_WORKER_REASSEMBLIES; i++) {
		struct sg_reassembly *r = &w->rs[i];

		if (r->active && same_key(&r->key, key))
			return r;
		if (!rs || (rs->active && (!r->active || r->progressed < rs->progressed)))
			rs = r;
	}
	if (rs->active) {
		w->st.rx_evicted++;
		rs_release(rs);
	}
	rs->buf = malloc(key->msg_len);
	if (!rs->buf)
		return NULL;
	rs->active = 1;
	rs->key = *key;
	return rs;
}

/* --------------------------------------------------------------- segments */

static struct sg_whole_key whole_key_of(const struct sg_wire_hdr *h, const struct sockaddr_in *from)
{
	return (struct sg_whole_key){ .from = *from, .type = h->type, .dtype = h->dtype,
				      .op = h->op, .bcast = !!(h->flags & SG_WIRE_F_BCAST),
				      .nsegs = h->nsegs,
				      .seg_first = h->seg_first, .whole_len = h->whole_len,
				      .whole_count = h->whole_count };
}

/* Elements of each segment of whole @k. */
static size_t seg_elems(const struct sg_whole_key *k)
{
	return sg_wire_seg_elems(k->whole_count, k->nsegs, k->dtype);
}

static int same_whole(const struct sg_whole_key *a, const struct sg_whole_key *b)
{
	return same_addr(&a->from, &b->from) && a->type == b->type && a->dtype == b->dtype &&
	       a->op == b->op && a->bcast == b->bcast && a->nsegs == b->nsegs &&
	       a->seg_first == b->seg_first &&
	       a->whole_len == b->whole_len && a->whole_count == b->whole_count;
}

static void whole_release(struct sg_whole *wh)
{
	free(wh->buf);
	memset(wh, 0, sizeof(*wh));
}

/* The whole @key, if known. */
static struct sg_whole *whole_find(struct sg_worker *w, const struct sg_whole_key *key)
{
	for (unsigned int i = 0; i < SG_WORKER_WHOLES; i++)
		if (w->wholes[i].active && same_whole(&w->wholes[i].key, key))
			return &w->wholes[i];
	return NULL;
}

/* The whole @key, started if new in a free entry or in place of the least
 * recently used one; a result's buffer is allocated here. NULL without
 * memory. */
static struct sg_whole *whole_get(struct sg_worker *w, const struct sg_whole_key *key)
{
	struct sg_whole *wh = whole_find(w, key);

	if (wh)
		return wh;
	for (unsigned int i = 0; i < SG_WORKER_WHOLES; i++) {
		struct sg_whole *c = &w->wholes[i];

		if (!wh || (wh->active && (!c->active || c->used < wh->used)))
			wh = c;
	}
	if (wh->active) {
		w->st.rx_evicted++;
		whole_release(wh);
	}
	if (key->type == SG_WIRE_RESULT && !(wh->buf = malloc(key->whole_len)))
		return NULL;
	wh->active = 1;
	wh->key = *key;
	w->any_whole = 1;
	return wh;
}

/* Answer segment @a of request @wh, whose answer is in. */
static void answer_segment(struct sg_worker *w, const struct sg_whole *wh,
			   const struct sg_seg_ask *a)
{
	size_t size = sg_datatype_size(wh->key.dtype);
	struct sg_wire_msg m = {
		.type = SG_WIRE_RESPONSE,
		.dtype = wh->key.dtype,
		.op = wh->key.op,
		.coll_id = a->coll_id,
		.count = a->count,
		.msg_len = (uint32_t)(a->count * size),
		.nonce = a->nonce,
		.auth = a->auth,
	};

	send_reply(w, &m, &wh->key.from,
		   wh->buf + (size_t)a->seg * seg_elems(&wh->key) * size);
}

/* A segment of a request: answer it from the whole's answer if given, else
 * keep it until the application answers; segment 0 carries the request,
 * which is delivered (1). */
static int take_request_segment(struct sg_worker *w, const struct sg_wire_hdr *h,
				const struct sockaddr_in *from, const void *data,
				struct sg_msg *msg)
{
	struct sg_whole_key key = whole_key_of(h, from);
	struct sg_whole *wh = whole_get(w, &key);
	struct sg_seg_ask a = { .coll_id = h->coll_id, .count = h->count, .seg = h->seg,
				.nonce = h->nonce, .auth = h->auth };
	uint64_t bit = 1ULL << (h->seg % 64);

	if (!wh)
		return 0;	/* no memory: the coordinator asks again */
	wh->used = ++w->tick;
	if (wh->have[h->seg / 64] & bit) {
		w->st.rx_duplicate++;
		if (wh->buf) {
			w->st.tx_resent++;
			answer_segment(w, wh, &a);
		}
		return 0;
	}
	if (!wh->buf && wh->npending == SG_SLOTS)
		return 0;	/* more than a window: asked again later */
	wh->have[h->seg / 64] |= bit;
	wh->nhave++;
	if (wh->buf)
		answer_segment(w, wh, &a);
	else
		wh->pending[wh->npending++] = a;
	if (h->seg != 0)
		return 0;
	wh->nonce0 = h->nonce;
	fill_msg(msg, h, from, data);
	msg->count = h->whole_count;
	w->st.rx_delivered++;
	return 1;
}

/* A segment of a result or broadcast, acknowledged like any result: copied
 * into its whole, which is delivered (1) once every segment is in. */
static int take_result_segment(struct sg_worker *w, const struct sg_wire_hdr *h,
			       const struct sockaddr_in *from, const void *data,
			       struct sg_msg *msg)
{
	struct sg_msg_key mkey = key_of_hdr(h, from);
	struct sg_whole_key key = whole_key_of(h, from);
	size_t size = sg_wire_dtype_size(h->dtype);
	uint64_t bit = 1ULL << (h->seg % 64);
	struct sg_whole *wh;

	fill_msg(msg, h, from, data);
	if (repeated(w, &mkey, msg))	/* acknowledges it either way */
		return 0;
	wh = whole_get(w, &key);
	if (!wh)
		return 0;
	wh->used = ++w->tick;
	if ((wh->have[h->seg / 64] & bit) || !wh->buf)
		return 0;	/* taken before; or delivered already */
	wh->have[h->seg / 64] |= bit;
	memcpy(wh->buf + (size_t)h->seg * seg_elems(&key) * size, data, h->msg_len);
	if (++wh->nhave < h->nsegs)
		return 0;
	free(w->out);
	w->out = wh->buf;
	wh->buf = NULL;		/* the entry stays, so late repeats are not taken again */
	fill_msg(msg, h, from, w->out);
	msg->coll_id = h->seg_first;
	msg->count = h->whole_count;
	msg->len = h->whole_len;
	if (key.bcast) {
		msg->type = SG_MSG_BCAST;
		msg->count = 0;
	}
	w->st.rx_delivered++;
	return 1;
}

/* The whole of request @req, if it was segmented. */
static struct sg_whole *request_whole(struct sg_worker *w, const struct sg_msg *req)
{
	if (!w->any_whole)	/* no segment taken yet: the common case */
		return NULL;
	for (unsigned int i = 0; i < SG_WORKER_WHOLES; i++) {
		struct sg_whole *wh = &w->wholes[i];

		if (wh->active && wh->key.type == SG_WIRE_SCATTER &&
		    wh->key.seg_first == req->coll_id && wh->nonce0 == req->nonce &&
		    same_addr(&wh->key.from, &req->from) && wh->key.dtype == req->dtype &&
		    wh->key.op == req->op && wh->key.whole_count == req->count)
			return wh;
	}
	return NULL;
}

/* Make room for a new segmented answer of @len bytes within the byte budget
 * of answers: forget the answers every segment of which has been answered,
 * least recently used first (a segment asked again after that is not
 * answered: its collective times out, as one whose answer outgrew the cache
 * does). Answers still being asked for are kept whatever their size. */
static void forget_answered(struct sg_worker *w, size_t len)
{
	for (;;) {
		struct sg_whole *old = NULL;
		size_t held = len;

		for (unsigned int i = 0; i < SG_WORKER_WHOLES; i++) {
			struct sg_whole *c = &w->wholes[i];

			if (!c->active || c->key.type != SG_WIRE_SCATTER || !c->buf)
				continue;
			held += (size_t)c->key.whole_count * sg_datatype_size(c->key.dtype);
			if (c->nhave == c->key.nsegs && (!old || c->used < old->used))
				old = c;
		}
		if (held <= w->cache_budget || !old)
			return;
		free(old->buf);
		old->buf = NULL;	/* the entry stays: its segments are not taken again */
	}
}

/* Answer segmented request @wh with @data (its whole_count elements): keep
 * the answer for the segments still to ask, and answer those that did. */
static int answer_whole(struct sg_worker *w, struct sg_whole *wh, const void *data, size_t len)
{
	if (!wh->buf) {
		forget_answered(w, len);
		wh->buf = malloc(len);
		if (!wh->buf)
			return sg_fail(-ENOMEM, "out of memory for an answer of %zu bytes", len);
	}
	memcpy(wh->buf, data, len);
	for (unsigned int i = 0; i < wh->npending; i++)
		answer_segment(w, wh, &wh->pending[i]);
	wh->npending = 0;
	return 0;
}

/* Whether a datagram from @from may be parsed: it comes from a coordinator,
 * or the worker, unconfigured, has not heard from one yet. */
static int source_ok(const struct sg_worker *w, const struct sockaddr_in *from)
{
	return is_coordinator(w, from) || (!w->ncoords && !w->pinned);
}

/* A complete message (@h, its bytes at @data): a segment, or delivered
 * unless it was before. 1 when @msg is to be returned. */
static int take_message(struct sg_worker *w, const struct sg_msg_key *key,
			const struct sg_wire_hdr *h, const struct sockaddr_in *from,
			const void *data, struct sg_msg *msg)
{
	if (h->nsegs > 1)
		return h->type == SG_WIRE_SCATTER ? take_request_segment(w, h, from, data, msg)
						  : take_result_segment(w, h, from, data, msg);
	fill_msg(msg, h, from, data);
	return deliver(w, key, msg);
}

/* Take one datagram. Returns 1 and fills @msg when it completes a message, 0
 * when it was consumed (a chunk, a duplicate, or dropped and counted). */
static int take_datagram(struct sg_worker *w, size_t len, const struct sockaddr_in *from,
			 struct sg_msg *msg)
{
	struct sg_reassembly *rs;
	struct sg_msg_key key;
	struct sg_wire_hdr h;
	unsigned int fresh = 0;

	if (!source_ok(w, from)) {
		w->st.rx_foreign++;
		return 0;
	}
	/* A request or result must describe a vector that fits a message: a
	 * forged count must not make the application allocate gigabytes. */
	if (sg_wire_decode(w->rx, len, &h) < 0 || h.type == SG_WIRE_RESPONSE ||
	    (h.type != SG_WIRE_BCAST &&
	     (!sg_wire_op_valid(h.dtype, h.op) || h.count == 0 ||
	      (uint64_t)h.count * sg_wire_dtype_size(h.dtype) > SG_MAX_MSG_BYTES ||
	      (h.type == SG_WIRE_RESULT &&
	       h.msg_len != (uint64_t)h.count * sg_wire_dtype_size(h.dtype)))) ||
	    !sg_wire_segment_ok(&h)) {
		w->st.rx_malformed++;
		return 0;
	}
	if (!w->ncoords && !w->pinned) {	/* trust on first use */
		w->pinned = 1;
		w->pinned_addr = from->sin_addr;
	}
	if (h.type == SG_WIRE_SCATTER)
		path_offered(w, from, &h);
	key = key_of_hdr(&h, from);
	if (h.span == h.nchunks)	/* the whole message in one datagram */
		return take_message(w, &key, &h, from, w->rx + SG_WIRE_HDR_LEN, msg);
	rs = rs_get(w, &key);
	if (!rs)
		return 0;	/* no memory: the coordinator sends it again */
	/* Each chunk of the span once: a chunk taken before keeps its bytes. */
	for (unsigned int c = h.chunk, off = 0; c < (unsigned int)h.chunk + h.span; c++) {
		size_t clen = sg_wire_chunk_len(h.msg_len, c);
		uint64_t bit = 1ULL << (c % 64);

		if (!(rs->seen[c / 64] & bit)) {
			rs->seen[c / 64] |= bit;
			memcpy(rs->buf + (size_t)c * SG_CHUNK_BYTES, w->rx + SG_WIRE_HDR_LEN + off,
			       clen);
			fresh++;
		}
		off += (unsigned int)clen;
	}
	if (!fresh)
		return 0;
	rs->progressed = ++w->tick;
	rs->received += fresh;
	if (rs->received < h.nchunks)
		return 0;
	/* Complete: the buffer is the application's until the next call. */
	free(w->out);
	w->out = rs->buf;
	rs->buf = NULL;
	rs_release(rs);
	return take_message(w, &key, &h, from, w->out, msg);
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
	struct sg_whole *wh;
	struct sg_msg_key key;
	struct sg_wire_msg m;
	char s[32];
	size_t want;
	int err;

	if (!w || !req || (!data && len))
		return sg_fail(-EINVAL, "sg_worker_reply: worker, req and data must not be NULL");
	if (req->type != SG_MSG_SCATTER)
		return sg_fail(-EINVAL, "only a SCATTER request can be answered (got type %d)",
			       (int)req->type);
	if ((unsigned int)req->dtype >= SG_DATATYPE_COUNT)
		return sg_fail(-EINVAL, "unknown datatype %d", (int)req->dtype);
	want = req->count * sg_datatype_size(req->dtype);
	wh = request_whole(w, req);
	if (want > (wh ? SG_MAX_MESSAGE_BYTES : SG_MAX_SEGMENT_BYTES))
		return sg_fail(-E2BIG, "reply of %zu bytes, at most %u", want,
			       wh ? SG_MAX_MESSAGE_BYTES : SG_MAX_SEGMENT_BYTES);
	if (len != want || want == 0)
		return sg_fail(-EINVAL, "reply of %zu bytes; collective %u expects %zu x %zu = %zu",
			       len, req->coll_id, req->count, sg_datatype_size(req->dtype), want);
	if (!is_coordinator(w, &req->from))
		return sg_fail(-EPERM, "sg_worker_reply: %s is not a coordinator of this worker; it answers only its coordinators",
			       addr_str(&req->from, s, sizeof(s)));
	if (wh)
		return answer_whole(w, wh, data, len);
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
	key = key_of_msg(req);
	err = cache_put(w, &key, &m, data);
	if (err)
		return err;
	return send_reply(w, &m, &req->from, data);
}

/* Remember the answer room request @h from @from offers; the first request
 * of a coordinator also probes our route to it. */
static void path_offered(struct sg_worker *w, const struct sockaddr_in *from,
			 const struct sg_wire_hdr *h)
{
	struct sg_path *p = NULL;
	int mtu;

	for (unsigned int i = 0; i < SG_WORKER_PATHS; i++) {
		struct sg_path *c = &w->paths[i];

		if (c->used && same_addr(&c->to, from)) {
			p = c;
			break;
		}
		if (!p || c->used < p->used)
			p = c;
	}
	if (!p->used || !same_addr(&p->to, from)) {
		mtu = sg_udp_path_mtu(from, NULL);
		p->to = *from;
		p->own = (uint8_t)sg_wire_room_for_mtu(mtu > 0 ? (unsigned int)mtu : 1500);
	}
	p->offered = h->answer_room;
	p->used = ++w->tick;
}

/* Chunks per answer datagram to @to for @dt: what both the coordinator's
 * offer and our route take, one when the coordinator never offered. */
static unsigned int path_span(const struct sg_worker *w, const struct sockaddr_in *to,
			      uint8_t dt)
{
	for (unsigned int i = 0; i < SG_WORKER_PATHS; i++) {
		const struct sg_path *p = &w->paths[i];

		if (p->used && same_addr(&p->to, to))
			return sg_wire_span_of_room(p->offered < p->own ? p->offered : p->own,
						    sg_wire_response_chunk(dt));
	}
	return 1;
}

/* Send answer @m (its msg_len bytes of @data) to @to, in datagrams of as many
 * chunks as the path takes (path_span()), which the coordinator's kernel
 * folds chunk by chunk, batched into as few system calls as the kernel
 * allows (GSO sends, segmented before they reach the coordinator's XDP
 * program). */
static int send_reply(struct sg_worker *w, const struct sg_wire_msg *m,
		      const struct sockaddr_in *to, const void *data)
{
	struct sg_wire_msg sm = *m;
	struct sg_udp_train t;
	int err;

	sm.span = (uint8_t)path_span(w, to, m->dtype);
	sg_wire_train(&sm, data, w->tx_hdrs, w->tx_iov, &t);
	err = sg_udp_send_train(w->fd, to, &t, &w->sender);
	return err ? sg_fail(err, "sendto: %s", strerror(-err)) : 0;
}
