// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The XDP gather program's logic for the user-space transports (ureduce.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "coll/comm.h"
#include "coll/log.h"
#include "coll/wire.h"
#include "transport/udp.h"
#include "transport/ureduce.h"
/* The kernel's fold code, compiled for the host: one implementation of every
 * op, so results cannot differ between transports. */
#include "bpf/fold.bpf.h"

/* Receive buffer: a burst of a few thousand full contribution chunks. */
#define SG_UREDUCE_RCVBUF (32 << 20)

struct sg_ureduce_worker {
	uint32_t ip;		/* network order, as received */
	uint16_t port;
	uint32_t rank;
};

/* One collective in flight: the struct sg_slot and chunk states of the
 * kernel, in process memory. */
struct sg_ureduce_slot {
	int active;
	int complete;
	struct sg_tp_reduce r;
	uint32_t nadmitted;
	uint32_t ndone;
	uint64_t *admitted;	/* words */
	uint64_t *done;		/* words */
	uint16_t *progress;	/* distinct chunks per worker */
	/* Per chunk, sized for cap chunks. */
	uint32_t cap;
	uint32_t *ncontrib;
	uint64_t *seen;		/* words per chunk */
	uint8_t *acc;		/* SG_CHUNK_BYTES per chunk */
	uint16_t *aux;		/* SG_FSUM_ELEMS per chunk */
};

static int addr_cmp(const void *a, const void *b)
{
	const struct sg_ureduce_worker *x = a, *y = b;

	if (x->ip != y->ip)
		return x->ip < y->ip ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static void ureduce_fini(struct sg_ureduce *u);

static int ureduce_init(struct sg_ureduce *u, struct sg_comm *comm, sg_ureduce_pump_fn pump)
{
	u->comm = comm;
	u->sock = comm->sock;
	u->pump = pump;
	u->nworkers = comm->nworkers;
	u->words = (comm->nworkers + 63) / 64;
	u->by_addr = calloc(comm->nworkers, sizeof(*u->by_addr));
	u->slots = calloc(SG_SLOTS, sizeof(*u->slots));
	if (!u->by_addr || !u->slots)
		goto nomem;
	for (size_t i = 0; i < comm->nworkers; i++)
		u->by_addr[i] = (struct sg_ureduce_worker){
			.ip = comm->workers[i].sin_addr.s_addr,
			.port = comm->workers[i].sin_port,
			.rank = (uint32_t)i,
		};
	qsort(u->by_addr, comm->nworkers, sizeof(*u->by_addr), addr_cmp);
	for (int s = 0; s < SG_SLOTS; s++) {
		struct sg_ureduce_slot *sl = &u->slots[s];

		sl->admitted = calloc(2 * u->words, sizeof(uint64_t));
		sl->progress = calloc(comm->nworkers, sizeof(uint16_t));
		if (!sl->admitted || !sl->progress)
			goto nomem;
		sl->done = sl->admitted + u->words;
	}
	return 0;
nomem:
	ureduce_fini(u);
	return sg_fail(-ENOMEM, "out of memory");
}

static void ureduce_fini(struct sg_ureduce *u)
{
	for (int s = 0; u->slots && s < SG_SLOTS; s++) {
		struct sg_ureduce_slot *sl = &u->slots[s];

		free(sl->admitted);
		free(sl->progress);
		free(sl->ncontrib);
		free(sl->seen);
		free(sl->acc);
		free(sl->aux);
	}
	free(u->slots);
	free(u->by_addr);
}

int sg_ureduce_new(struct sg_comm *comm, size_t size, sg_ureduce_pump_fn pump,
		   struct sg_transport **out)
{
	struct sg_ureduce *u = calloc(1, size);
	int err;

	if (!u)
		return sg_fail(-ENOMEM, "out of memory");
	err = ureduce_init(u, comm, pump);
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

struct msghdr sg_ureduce_msghdr(const struct sg_ureduce *u, size_t worker, struct iovec *iov)
{
	return (struct msghdr){
		.msg_name = &u->comm->workers[worker],
		.msg_namelen = sizeof(u->comm->workers[worker]),
		.msg_iov = iov,
		.msg_iovlen = 1,
	};
}

/* Room for @n chunks in @sl (kept between collectives: no allocation on the
 * common path). */
static int slot_reserve(struct sg_ureduce *u, struct sg_ureduce_slot *sl, uint32_t n)
{
	uint32_t *nc;
	uint64_t *seen;
	uint8_t *acc;
	uint16_t *aux;

	if (n <= sl->cap)
		return 0;
	nc = calloc(n, sizeof(*nc));
	seen = calloc((size_t)n * u->words, sizeof(*seen));
	acc = aligned_alloc(64, (size_t)n * SG_CHUNK_BYTES);
	aux = calloc((size_t)n * SG_FSUM_ELEMS, sizeof(*aux));
	if (!nc || !seen || !acc || !aux) {
		free(nc);
		free(seen);
		free(acc);
		free(aux);
		return -ENOMEM;
	}
	free(sl->ncontrib);
	free(sl->seen);
	free(sl->acc);
	free(sl->aux);
	sl->ncontrib = nc;
	sl->seen = seen;
	sl->acc = acc;
	sl->aux = aux;
	sl->cap = n;
	return 0;
}

int sg_ureduce_arm(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];

	r->nchunks = sg_response_nchunks(r);
	r->pool_base = 0;
	r->gen = ++u->gen;
	if (slot_reserve(u, sl, r->nchunks))
		return sg_fail(-ENOMEM, "no memory for %u accumulator chunks", r->nchunks);
	sl->r = *r;
	sl->active = 1;
	sl->complete = 0;
	sl->nadmitted = 0;
	sl->ndone = 0;
	memset(sl->admitted, 0, 2 * u->words * sizeof(uint64_t));
	memset(sl->progress, 0, u->nworkers * sizeof(uint16_t));
	memset(sl->ncontrib, 0, r->nchunks * sizeof(uint32_t));
	memset(sl->seen, 0, (size_t)r->nchunks * u->words * sizeof(uint64_t));
	return 0;
}

void sg_ureduce_release(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];

	/* Stragglers of @r now count as stale. */
	if (sl->r.gen == r->gen)
		sl->active = 0;
}

static const struct sg_ureduce_slot *slot_of(const struct sg_ureduce *u,
					     const struct sg_tp_reduce *r)
{
	const struct sg_ureduce_slot *sl = &u->slots[r->coll_id % SG_SLOTS];

	return sl->r.gen == r->gen ? sl : NULL;
}

static int complete(const struct sg_ureduce *u, const struct sg_tp_reduce *r)
{
	const struct sg_ureduce_slot *sl = slot_of(u, r);

	return sl && sl->complete;
}

int sg_ureduce_report(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		      unsigned int *ndone)
{
	const struct sg_ureduce *u = (const struct sg_ureduce *)tp;
	const struct sg_ureduce_slot *sl = slot_of(u, r);

	memset(done, 0, SG_WORKER_WORDS * sizeof(uint64_t));
	*ndone = 0;
	if (sl) {
		memcpy(done, sl->done, u->words * sizeof(uint64_t));
		*ndone = sl->ndone;
	}
	return 0;
}

int sg_ureduce_collect(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
		       uint64_t *contributors, unsigned int *ncontributors, int completed)
{
	const struct sg_ureduce_slot *sl = slot_of((struct sg_ureduce *)tp, r);

	if (!sl)
		return sg_fail(-EINVAL, "collective %u is not armed", r->coll_id);
	sg_result_copy(sl->acc, sl->aux, r, result);
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

void sg_ureduce_input(struct sg_ureduce *u, const void *buf, size_t len,
		      const struct sockaddr_in *from)
{
	uint64_t scratch[SG_CHUNK_BYTES / 8];
	struct sg_ureduce_slot *sl;
	struct sg_wire_hdr h;
	const uint8_t *data;
	uint32_t w, word;
	uint64_t bit, *seen;
	int first;

	/* Strangers first: their bytes are not even parsed. */
	if (rank_of(u, from, &w)) {
		u->stats.rx_unknown_src++;
		return;
	}
	if (sg_wire_decode(buf, len, &h) || h.type != SG_WIRE_RESPONSE || h.len == 0 ||
	    h.chunk >= SG_MAX_RESPONSE_CHUNKS) {
		u->stats.rx_malformed++;
		return;
	}
	sl = &u->slots[h.coll_id % SG_SLOTS];
	if (!sl->active || sl->r.coll_id != h.coll_id) {
		u->stats.rx_stale++;
		return;
	}
	if (sl->r.nonce != h.nonce || sl->r.dtype != h.dtype || sl->r.op != h.op ||
	    sl->r.msg_len != h.msg_len || sl->r.count != h.count || sl->r.nchunks != h.nchunks) {
		u->stats.rx_malformed++;
		return;
	}
	word = w / 64;
	bit = 1ULL << (w % 64);
	if (!(sl->admitted[word] & bit)) {
		if (sl->nadmitted >= sl->r.target) {
			u->stats.rx_late++;
			return;
		}
		sl->admitted[word] |= bit;
		sl->nadmitted++;
	}
	seen = &sl->seen[(size_t)h.chunk * u->words];
	if (seen[word] & bit) {
		u->stats.rx_duplicate++;
		return;
	}
	seen[word] |= bit;
	first = sl->ncontrib[h.chunk]++ == 0;

	/* The fold reads whole elements: give it an aligned copy when the
	 * transport's buffer is not. */
	data = (const uint8_t *)buf + SG_WIRE_HDR_LEN;
	if ((uintptr_t)data % 8) {
		memcpy(scratch, data, h.len);
		data = (const uint8_t *)scratch;
	}
	sg_fold(sl->acc + (size_t)h.chunk * SG_CHUNK_BYTES, sl->aux + (size_t)h.chunk * SG_FSUM_ELEMS, data,
		h.len, h.dtype, h.op, first);
	u->stats.rx_accepted++;
	if (++sl->progress[w] == sl->r.nchunks) {
		sl->done[word] |= bit;
		if (++sl->ndone == sl->r.target) {
			sl->complete = 1;
			u->stats.completed++;
		}
	}
}

int sg_ureduce_get_stats(struct sg_transport *tp, struct sg_comm_stats *stats)
{
	*stats = ((struct sg_ureduce *)tp)->stats;
	return 0;
}

int sg_ureduce_wait(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms)
{
	struct sg_ureduce *u = (struct sg_ureduce *)tp;
	long long deadline = timeout_ms < 0 ? -1 : sg_now_us() + timeout_ms * 1000LL;

	for (;;) {
		long long left = deadline < 0 ? -1 : deadline - sg_now_us();
		int slice, err;

		if (complete(u, r))
			return 0;
		if (deadline >= 0 && left <= 0 && timeout_ms)
			return -ETIMEDOUT;
		if (timeout_ms == 0 || u->comm->busy_poll)
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
