// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The records test workers keep in memory shared with the parent (struct
 * tw_shared): what each rank received, its state and its behaviour, and the
 * parent's waits on them.
 */
#include <errno.h>
#include <sys/mman.h>

#include "tests/lab/tw_internal.h"

uint64_t tw_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct tw_shared *tw_shared_create(size_t nranks)
{
	size_t len;
	struct tw_shared *s;

	if (!nranks || nranks > SIZE_MAX / sizeof(struct tw_rank) - 1) {
		errno = EINVAL;
		return NULL;
	}
	len = sizeof(struct tw_shared) + nranks * sizeof(struct tw_rank);
	s = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	s->nranks = nranks; /* the mapping comes zeroed */
	s->maplen = len;
	return s;
}

void tw_shared_destroy(struct tw_shared *s)
{
	if (s)
		munmap(s, s->maplen);
}

size_t tw_shared_nranks(const struct tw_shared *s)
{
	return s ? s->nranks : 0;
}

void tw_rec_write(struct tw_rec *r, uint32_t coll_id, uint64_t len, uint64_t hash)
{
	uint32_t seq = LD(&r->seq);

	ST(&r->seq, seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ST(&r->coll_id, coll_id);
	ST(&r->len, len);
	ST(&r->hash, hash);
	ST(&r->count, LD(&r->count) + 1);
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

static void rec_read(const struct tw_rec *r, struct tw_record *out)
{
	/* Bounded: a writer killed in the middle leaves the sequence odd. */
	for (int tries = 0;; tries++) {
		uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

		if ((seq & 1) && tries < 1000000)
			continue;
		out->coll_id = LD(&r->coll_id);
		out->len = LD(&r->len);
		out->hash = LD(&r->hash);
		out->count = LD(&r->count);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LD(&r->seq) == seq || tries >= 1000000)
			return;
	}
}

static int kind_ok(int kind)
{
	return kind >= TW_SCATTER && kind <= TW_RESULT;
}

int tw_shared_read(const struct tw_shared *s, size_t rank, int kind, struct tw_record *out)
{
	if (!s || rank >= s->nranks || !kind_ok(kind) || !out)
		return -EINVAL;
	rec_read(&s->rank[rank].rec[kind - 1], out);
	return 0;
}

int tw_shared_info(const struct tw_shared *s, size_t rank, struct tw_rank_info *out)
{
	const struct tw_rank *r;

	if (!s || rank >= s->nranks || !out)
		return -EINVAL;
	r = &s->rank[rank];
	out->ready = (int)__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE);
	out->error = LD(&r->error);
	out->port = (uint16_t)LD(&r->port);
	out->replies = LD(&r->replies);
	out->errors = LD(&r->errors);
	out->last_error = LD(&r->last_error);
	out->stats = (struct sg_worker_stats){
		.sz = sizeof(out->stats),
		.rx_delivered = LD(&r->delivered),
		.rx_foreign = LD(&r->foreign),
		.rx_malformed = LD(&r->malformed),
		.rx_duplicate = LD(&r->duplicate),
		.tx_resent = LD(&r->resent),
		.tx_calls = LD(&r->tx_calls),
		.tx_gso_sends = LD(&r->tx_gso),
	};
	return 0;
}

void tw_stats_publish(struct tw_rank *r, const struct sg_worker_stats *st)
{
	ST(&r->delivered, st->rx_delivered);
	ST(&r->foreign, st->rx_foreign);
	ST(&r->malformed, st->rx_malformed);
	ST(&r->duplicate, st->rx_duplicate);
	ST(&r->resent, st->tx_resent);
	ST(&r->tx_calls, st->tx_calls);
	ST(&r->tx_gso, st->tx_gso_sends);
}

int tw_shared_set_behavior(struct tw_shared *s, size_t rank, unsigned int flags,
			   unsigned int delay_ms)
{
	if (!s || rank >= s->nranks || (flags & ~(TW_MUTE | TW_DUP)))
		return -EINVAL;
	ST(&s->rank[rank].flags, flags);
	ST(&s->rank[rank].delay_ms, delay_ms);
	return 0;
}

enum wait_what { W_READY, W_COLL, W_COUNT };

/* 1 if rank @r satisfies the condition, 0 if not yet, <0 a setup error. */
static int wait_test(const struct tw_shared *s, size_t r, enum wait_what what, int kind,
		     uint64_t want)
{
	struct tw_record rec;

	switch (what) {
	case W_READY:
		if (LD(&s->rank[r].error))
			return LD(&s->rank[r].error);
		return __atomic_load_n(&s->rank[r].ready, __ATOMIC_ACQUIRE) != 0;
	case W_COLL:
		rec_read(&s->rank[r].rec[kind - 1], &rec);
		return rec.count && rec.coll_id == (uint32_t)want;
	default:
		rec_read(&s->rank[r].rec[kind - 1], &rec);
		return rec.count >= want;
	}
}

static int wait_for(const struct tw_shared *s, size_t first, size_t n, enum wait_what what,
		    int kind, uint64_t want, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	size_t r = first;

	if (!s || first > s->nranks || n > s->nranks - first ||
	    (what != W_READY && !kind_ok(kind)))
		return -EINVAL;
	/* Ranks that passed stay passed (ready, coll ids and counts only move
	 * forward in a test), so resume at the first one that has not. */
	for (;;) {
		struct timespec ms = { 0, 1000000 };
		int ok = 0;

		while (r < first + n && (ok = wait_test(s, r, what, kind, want)) > 0)
			r++;
		if (ok < 0)
			return ok;
		if (r == first + n)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		nanosleep(&ms, NULL);
	}
}

int tw_shared_wait_ready(const struct tw_shared *s, size_t rank_first, size_t nranks,
			 int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_READY, 0, 0, timeout_ms);
}

int tw_shared_wait(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
		   uint32_t coll_id, int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_COLL, kind, coll_id, timeout_ms);
}

int tw_shared_wait_count(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
			 uint64_t count, int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_COUNT, kind, count, timeout_ms);
}
