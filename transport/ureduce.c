// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The XDP gather program's logic for the user-space transports (ureduce.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/codec.h"
#include "common/log.h"
#include "common/udp.h"
#include "transport/accum.h"
#include "transport/ureduce.h"
/* The kernel's rules and fold code, compiled for the host: one implementation
 * of each, so transports cannot differ. */
#include "bpf/admit.bpf.h"
#include "bpf/fold.bpf.h"

/* Receive buffer: a burst of a few thousand full contribution chunks. */
#define SG_UREDUCE_RCVBUF (32 << 20)

struct sg_ureduce_tx {
	uint8_t hdr[SG_WIRE_HDR_LEN];
	struct iovec iov[2];	/* the header above, the shared payload */
};

struct sg_ureduce_worker {
	uint32_t ip;		/* network order, as received */
	uint16_t port;
	uint32_t rank;
};

/* One collective in flight: the kernel's slot and its chunks' states and
 * accumulators, in process memory (kept between collectives, grown on
 * demand; chunk states reset themselves by generation). */
struct sg_ureduce_slot {
	struct sg_slot s;
	uint32_t cap;			/* chunks below */
	struct sg_chunk_state *chunks;
	uint8_t *acc;			/* SG_ACC_BYTES per chunk */
	uint16_t *aux;			/* SG_FSUM_ELEMS per chunk */
};

static int addr_cmp(const void *a, const void *b)
{
	const struct sg_ureduce_worker *x = a, *y = b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static void ureduce_fini(struct sg_ureduce *u)
{
	for (int s = 0; u->slots && s < SG_SLOTS; s++) {
		free(u->slots[s].chunks);
		free(u->slots[s].acc);
		free(u->slots[s].aux);
	}
	free(u->slots);
	free(u->by_addr);
	free(u->workers);
	free(u->tx);
	free(u->msgs);
}

static int ureduce_init(struct sg_ureduce *u, const struct sg_transport_config *cfg,
			sg_ureduce_pump_fn pump)
{
	u->sock = cfg->sock;
	u->busy_poll = cfg->busy_poll;
	u->pump = pump;
	u->nworkers = cfg->nworkers;
	u->workers = calloc(cfg->nworkers, sizeof(*u->workers));
	u->by_addr = calloc(cfg->nworkers, sizeof(*u->by_addr));
	u->slots = calloc(SG_SLOTS, sizeof(*u->slots));
	u->tx = calloc(cfg->nworkers, sizeof(*u->tx));
	u->msgs = calloc(cfg->nworkers, sizeof(*u->msgs));
	if (!u->workers || !u->by_addr || !u->slots || !u->tx || !u->msgs) {
		ureduce_fini(u);
		return sg_fail(-ENOMEM, "out of memory");
	}
	memcpy(u->workers, cfg->workers, cfg->nworkers * sizeof(*u->workers));
	memcpy(u->key, cfg->key, sizeof(u->key));
	for (size_t i = 0; i < cfg->nworkers; i++) {
		u->tx[i].iov[0] = (struct iovec){ .iov_base = u->tx[i].hdr,
						  .iov_len = SG_WIRE_HDR_LEN };
		u->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &u->workers[i],
			.msg_namelen = sizeof(u->workers[i]),
			.msg_iov = u->tx[i].iov,
			.msg_iovlen = 2,
		};
	}
	for (size_t i = 0; i < cfg->nworkers; i++)
		u->by_addr[i] = (struct sg_ureduce_worker){
			.ip = cfg->workers[i].sin_addr.s_addr,
			.port = cfg->workers[i].sin_port,
			.rank = (uint32_t)i,
		};
	qsort(u->by_addr, cfg->nworkers, sizeof(*u->by_addr), addr_cmp);
	return 0;
}

int sg_ureduce_new(const struct sg_transport_config *cfg, size_t size, sg_ureduce_pump_fn pump,
		   struct sg_transport **out)
{
	struct sg_ureduce *u = calloc(1, size);
	int err;

	if (!u)
		return sg_fail(-ENOMEM, "out of memory");
	err = ureduce_init(u, cfg, pump);
	if (err) {
		free(u);
		return err;
	}
	sg_udp_grow_rcvbuf(u->sock, SG_UREDUCE_RCVBUF);
	*out = (struct sg_transport *)u;
	return 0;
}

void sg_ureduce_free(struct sg_transport *tp)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;

	if (!u)
		return;
	ureduce_fini(u);
	free(u);
}

void sg_ureduce_stamp(struct sg_ureduce *u, const struct sg_udp_train *t, size_t first, size_t n)
{
	const void *hdr = t->iov[0].iov_base;
	uint64_t nonce = sg_wire_nonce_of(hdr);
	uint32_t coll_id = sg_wire_coll_id_of(hdr);

	for (size_t i = first; i < first + n && i < u->nworkers; i++) {
		struct sg_ureduce_tx *tx = &u->tx[i];

		memcpy(tx->hdr, hdr, SG_WIRE_HDR_LEN);
		sg_wire_set_auth(tx->hdr, sg_wire_token(u->key, nonce, coll_id, (uint32_t)i));
		tx->iov[1] = t->iov[1];
	}
}

int sg_ureduce_send_train(struct sg_ureduce *u, struct sg_udp_train *t, size_t rank)
{
	const void *h = t->iov[0].iov_base;
	int err;

	sg_wire_train_set_auth(t, sg_wire_token(u->key, sg_wire_nonce_of(h), sg_wire_coll_id_of(h),
						(uint32_t)rank));
	err = sg_udp_send_train(u->sock, &u->workers[rank], t, &u->sender);
	return err ? sg_fail(err, "sendto worker %zu: %s", rank, strerror(-err)) : 0;
}

int sg_ureduce_send_each(struct sg_ureduce *u, struct sg_udp_train *t)
{
	for (size_t i = 0; i < u->nworkers; i++) {
		int err = sg_ureduce_send_train(u, t, i);

		if (err)
			return err;
		u->stats.tx_fanout += t->n;
	}
	return 0;
}

int sg_ureduce_send_one(struct sg_transport *tp, struct sg_udp_train *t, size_t rank)
{
	return sg_ureduce_send_train((struct sg_ureduce *)tp, t, rank);
}

/* Room for @n chunks in @sl. */
static int slot_reserve(struct sg_ureduce_slot *sl, uint32_t n)
{
	struct sg_chunk_state *chunks;
	uint8_t *acc;
	uint16_t *aux;

	if (n <= sl->cap)
		return 0;
	chunks = calloc(n, sizeof(*chunks));
	acc = aligned_alloc(64, (size_t)n * SG_ACC_BYTES);
	aux = calloc((size_t)n * SG_FSUM_ELEMS, sizeof(*aux));
	if (!chunks || !acc || !aux) {
		free(chunks);
		free(acc);
		free(aux);
		return -ENOMEM;
	}
	free(sl->chunks);
	free(sl->acc);
	free(sl->aux);
	sl->chunks = chunks;
	sl->acc = acc;
	sl->aux = aux;
	sl->cap = n;
	return 0;
}

int sg_ureduce_arm(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];
	struct sg_arm_desc d;

	r->nchunks = sg_response_nchunks(r);
	r->pool_base = 0;
	r->gen = ++u->gen;
	if (slot_reserve(sl, r->nchunks))
		return sg_fail(-ENOMEM, "no memory for %u accumulator chunks", r->nchunks);
	d = sg_arm_desc_of(r);
	sg_slot_arm(&sl->s, &d);
	return 0;
}

void sg_ureduce_release(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];

	/* Stragglers of @r now count as stale. */
	if (sl->s.gen == r->gen)
		sl->s.active = 0;
}

static const struct sg_ureduce_slot *slot_of(const struct sg_ureduce *u,
					     const struct sg_tp_reduce *r)
{
	const struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];

	return sl->s.gen == r->gen ? sl : NULL;
}

static int complete(const struct sg_ureduce *u, const struct sg_tp_reduce *r)
{
	const struct sg_ureduce_slot *sl = slot_of(u, r);

	return sl && sl->s.complete;
}

int sg_ureduce_report(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		      unsigned int *ndone)
{
	const struct sg_ureduce *u = (const struct sg_ureduce *)tp;
	const struct sg_ureduce_slot *sl = slot_of(u, r);

	memset(done, 0, SG_WORKER_WORDS * sizeof(uint64_t));
	*ndone = 0;
	if (sl) {
		memcpy(done, sl->s.done, sizeof(sl->s.done));
		*ndone = sl->s.ndone;
	}
	return 0;
}

/* As the kernel does it (ebpf.c): a collective whose deadline passed is
 * retired, and only its chunks that hold exactly its done workers'
 * contributions are copied. Nothing folds concurrently here. */
int sg_ureduce_collect(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
		       uint64_t *contributors, unsigned int *ncontributors, uint64_t *missing,
		       int completed)
{
	struct sg_ureduce_slot *sl = &((struct sg_ureduce *)tp)->slots[r->coll_id % SG_SLOTS];
	uint64_t whole[SG_MISSING_WORDS] = { 0 };
	struct sg_arm_desc d = sg_arm_desc_of(r);

	if (sl->s.gen != r->gen)
		return sg_fail(-EINVAL, "collective %u is not armed", r->coll_id);
	if (!completed) {
		sg_slot_retire(&sl->s, &d, r->gen);
		for (uint32_t c = 0; c < r->nchunks; c++)
			if (sg_chunk_whole(&sl->chunks[c], r->gen, sl->s.done))
				whole[c / 64] |= 1ULL << (c % 64);
	}
	sg_result_copy(sl->acc, sl->aux, r, completed ? NULL : whole, result);
	sg_chunks_missing(r, completed ? NULL : whole, missing);
	return sg_ureduce_report(tp, r, contributors, ncontributors);
}

static int rank_of(const struct sg_ureduce *u, const struct sockaddr_in *from, uint32_t *rank)
{
	struct sg_ureduce_worker key = { .ip = from->sin_addr.s_addr, .port = from->sin_port };
	const struct sg_ureduce_worker *w;

	if (from->sin_family != AF_INET)
		return -ENOENT;
	w = bsearch(&key, u->by_addr, u->nworkers, sizeof(key), addr_cmp);
	if (!w)
		return -ENOENT;
	*rank = w->rank;
	return 0;
}

/* What the fold program and sg_gather_finish() do with chunk @c (@len bytes
 * at @data) of an admitted datagram. */
static enum sg_verdict take_chunk(struct sg_ureduce *u, struct sg_ureduce_slot *sl,
				  const struct sg_wire_hdr *h, uint32_t w, uint32_t c,
				  const uint8_t *data, uint32_t len)
{
	uint64_t scratch[SG_ACC_BYTES / 8];
	enum sg_verdict v;
	uint32_t ndone;
	int first;

	/* Admitted: c < h->nchunks == the armed nchunks <= cap. */
	v = sg_chunk_claim(&sl->chunks[c], sl->s.gen, w, &first);
	if (v != SG_VERDICT_ACCEPT)
		return v;
	/* The fold reads whole elements: give it an aligned copy when the
	 * transport's buffer is not. */
	if ((uintptr_t)data % 8) {
		memcpy(scratch, data, len);
		data = (const uint8_t *)scratch;
	}
	sg_fold(sl->acc + (size_t)c * SG_ACC_BYTES, sl->aux + (size_t)c * SG_FSUM_ELEMS, data, len,
		h->dtype, h->op, first);
	if (sg_slot_progress(&sl->s, sl->s.gen, w, &ndone))
		u->stats.completed++;
	return SG_VERDICT_ACCEPT;
}

/* What sg_gather and the fold program do with a datagram, in their order:
 * its checks, then each chunk of its span on its own, counted as a chunk. */
static enum sg_verdict take(struct sg_ureduce *u, const void *buf, size_t len,
			    const struct sockaddr_in *from)
{
	struct sg_ureduce_slot *sl;
	struct sg_wire_hdr h;
	const uint8_t *data;
	enum sg_verdict v;
	uint32_t w, cb, c;

	/* Strangers first: their bytes are not even parsed. */
	if (rank_of(u, from, &w))
		return SG_VERDICT_UNKNOWN_SRC;
	if (sg_wire_decode(buf, len, &h) || !sg_is_contribution(&h))
		return SG_VERDICT_MALFORMED;
	if (!sg_is_authentic(&h, u->key, w))
		return SG_VERDICT_FORGED;
	sl = &u->slots[h.coll_id % SG_SLOTS];
	v = sg_slot_admit(&sl->s, &h, w);
	if (v != SG_VERDICT_ACCEPT)
		return v;
	cb = sg_wire_response_chunk(h.dtype);
	data = (const uint8_t *)buf + SG_WIRE_HDR_LEN;
	for (c = h.chunk; c + 1 < (uint32_t)h.chunk + h.span; c++) {
		uint32_t clen = sg_wire_chunk_len_of(h.msg_len, c, cb);

		sg_verdict_count(&u->stats, take_chunk(u, sl, &h, w, c, data, clen));
		data += clen;
	}
	return take_chunk(u, sl, &h, w, c, data, sg_wire_chunk_len_of(h.msg_len, c, cb));
}

void sg_ureduce_input(struct sg_ureduce *u, const void *buf, size_t len,
		      const struct sockaddr_in *from)
{
	sg_verdict_count(&u->stats, take(u, buf, len, from));
}

int sg_ureduce_get_stats(struct sg_transport *tp, struct sg_comm_stats *stats)
{
	sg_stats_public(&((struct sg_ureduce *)tp)->stats, stats);
	return 0;
}

int sg_ureduce_wait(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	long long deadline = sg_deadline_us(timeout_ms);

	for (;;) {
		long long left = deadline < 0 ? -1 : deadline - sg_now_us();
		int slice, err;

		if (complete(u, r))
			return 0;
		if (deadline >= 0 && left <= 0 && timeout_ms)
			return -ETIMEDOUT;
		if (timeout_ms == 0 || u->busy_poll)
			slice = 0;
		else
			slice = left < 0 ? -1 : (int)((left + 999) / 1000);
		err = u->pump(tp, slice);
		if (err)
			return err;
		if (complete(u, r))
			return 0;
		if (timeout_ms == 0)
			return -EAGAIN;
	}
}
