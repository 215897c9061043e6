/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The rules of a collective's slot, one definition for the XDP gather program
 * and the user-space transports' reduction (transport/ureduce.c), which
 * compiles this header for the host: arming a slot for a collective,
 * admitting a worker's chunk under the completion policy, counting the
 * worker's progress to completion, the counter each verdict goes to, and
 * retiring a collective whose deadline passed with the chunks that hold
 * exactly its done workers' contributions.
 * Together with sg_wire_framing_ok()/sg_wire_geometry_ok() (the header) and
 * sg_chunk_claim() (each worker folds a chunk once) they decide the fate of
 * every contribution, in this order: source, header, authenticator, slot,
 * chunk.
 *
 * The slot functions run under the slot's spin lock in the kernel: no helper
 * calls, no out-of-line calls, bounded loops.
 */
#ifndef SG_BPF_ADMIT_BPF_H
#define SG_BPF_ADMIT_BPF_H

#include "maps.h"

/* Count @v in @st (may be NULL). */
static __always_inline void sg_verdict_count(struct sg_stats *st, enum sg_verdict v)
{
	if (!st)
		return;
	switch (v) {
	case SG_VERDICT_ACCEPT: st->rx_accepted++; break;
	case SG_VERDICT_UNKNOWN_SRC: st->rx_unknown_src++; break;
	case SG_VERDICT_MALFORMED: st->rx_malformed++; break;
	case SG_VERDICT_FORGED: st->rx_forged++; break;
	case SG_VERDICT_STALE: st->rx_stale++; break;
	case SG_VERDICT_LATE: st->rx_late++; break;
	case SG_VERDICT_DUPLICATE: st->rx_duplicate++; break;
	}
}

/* A header that can be a contribution chunk (after its framing was checked). */
static __always_inline int sg_is_contribution(const struct sg_wire_hdr *h)
{
	return h->type == SG_WIRE_RESPONSE && h->len != 0 && sg_wire_geometry_ok(h);
}

/* Whether contribution header @h carries the token of worker @rank under
 * secret @key (sg_wire_token()). */
static __always_inline int sg_is_authentic(const struct sg_wire_hdr *h, const __u64 key[2],
					   __u32 rank)
{
	return h->auth == sg_wire_token(key, h->nonce, h->coll_id, rank);
}

/* Arm @slot for the collective of descriptor @d if @d is newer than what the
 * slot holds: 1 if armed, 0 if not (the same collective again, or an older
 * one). Accumulators are not touched: sg_chunk_claim() resets a pool entry
 * for the first chunk of its new owner's generation. */
static __always_inline int sg_slot_arm(struct sg_slot *slot, const struct sg_arm_desc *d)
{
	if (d->gen <= slot->gen)
		return 0;
	slot->coll_id = d->coll_id;
	slot->nonce = d->nonce;
	slot->gen = d->gen;
	slot->chunk_base = d->chunk_base;
	slot->active = 1;
	slot->dtype = d->dtype;
	slot->op = d->op;
	slot->complete = 0;
	slot->count = d->count;
	slot->msg_len = d->msg_len;
	slot->nchunks = d->nchunks;
	slot->target = d->target;
	slot->nadmitted = 0;
	slot->ndone = 0;
#ifdef __BPF__
	/* Unrolled stores (volatile, or clang emits a memset call): no helper
	 * may run under the lock. */
#pragma unroll
	for (int i = 0; i < SG_WORKER_WORDS; i++) {
		((volatile __u64 *)slot->admitted)[i] = 0;
		((volatile __u64 *)slot->done)[i] = 0;
	}
#pragma unroll
	for (int i = 0; i < SG_MAX_WORKERS * 2 / 8; i++)
		((volatile __u64 *)slot->progress)[i] = 0;
#else
	__builtin_memset(slot->admitted, 0, sizeof(slot->admitted));
	__builtin_memset(slot->done, 0, sizeof(slot->done));
	__builtin_memset(slot->progress, 0, sizeof(slot->progress));
#endif
	return 1;
}

/* Check contribution header @h of @worker against the collective @slot
 * holds and admit the worker under the completion policy: at most target
 * workers contribute, the first ones to arrive. */
static __always_inline enum sg_verdict sg_slot_admit(struct sg_slot *slot,
						     const struct sg_wire_hdr *h, __u32 worker)
{
	__u32 word = (worker % SG_MAX_WORKERS) / 64;
	__u64 bit = 1ULL << (worker % 64);

	if (!slot->active || slot->coll_id != h->coll_id)
		return SG_VERDICT_STALE;
	if (slot->nonce != h->nonce || slot->dtype != h->dtype || slot->op != h->op ||
	    slot->msg_len != h->msg_len || slot->count != h->count || slot->nchunks != h->nchunks)
		return SG_VERDICT_MALFORMED;
	if (slot->admitted[word] & bit)
		return SG_VERDICT_ACCEPT;
	if (slot->nadmitted >= slot->target)
		return SG_VERDICT_LATE;
	slot->admitted[word] |= bit;
	slot->nadmitted++;
	return SG_VERDICT_ACCEPT;
}

/* Count one more folded chunk of @worker for the collective of generation
 * @gen. Returns 1 when it completed the collective (policy met), with the
 * workers done in *@ndone. */
static __always_inline int sg_slot_progress(struct sg_slot *slot, __u64 gen, __u32 worker,
					    __u32 *ndone)
{
	__u32 w = worker % SG_MAX_WORKERS;

	if (!slot->active || slot->gen != gen || ++slot->progress[w] != slot->nchunks)
		return 0;
	slot->done[w / 64] |= 1ULL << (w % 64);
	*ndone = ++slot->ndone;
	if (*ndone != slot->target)
		return 0;
	slot->complete = 1;
	return 1;
}

/* Stop the collective of generation @gen taking contributions: after this
 * sg_slot_admit() calls its chunks stale and sg_slot_progress() counts
 * nothing, so the set of done workers is final (a chunk admitted before may
 * still be folding: sg_chunk_whole() under the chunk's lock tells). A slot
 * not armed yet for @gen is first armed from @d if @d is @gen's, so that a
 * request still on its way cannot arm it later. Returns 1 if the slot now
 * holds @gen, inactive; 0 if it holds another collective (left alone). */
static __always_inline int sg_slot_retire(struct sg_slot *slot, const struct sg_arm_desc *d,
					  __u64 gen)
{
	if (slot->gen < gen && d->gen == gen)
		sg_slot_arm(slot, d);
	if (slot->gen != gen)
		return 0;
	slot->active = 0;
	return 1;
}

/* Whether chunk state @cs (its lock held) holds the contributions of exactly
 * the workers in @done (SG_WORKER_WORDS words) to the collective of
 * generation @gen, and so its accumulator is their reduction: no worker
 * outside @done folded it, and none of @done is missing (none ever is for a
 * done worker, which folded every chunk). With @done empty it never is:
 * nobody's reduction is the op's identity, not an accumulator. */
static __always_inline int sg_chunk_whole(const struct sg_chunk_state *cs, __u64 gen,
					  const __u64 *done)
{
	if (cs->gen != gen || cs->ncontrib == 0)
		return 0;
	for (int i = 0; i < SG_WORKER_WORDS; i++)
		if (cs->seen[i] != done[i])
			return 0;
	return 1;
}

#endif /* SG_BPF_ADMIT_BPF_H */
