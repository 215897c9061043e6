/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The aggregation interface of the sgbpf datapath, for the built-in fold
 * programs and for user aggregation programs alike.
 *
 * A fold program is an XDP program that the gather program tail-calls once it
 * has validated a contribution chunk and admitted its worker. It finds the
 * chunk in sg_agg_begin(), folds the payload into the accumulator, and ends
 * with sg_agg_end(), which hands the chunk back to the datapath: it counts
 * the worker's progress, completes the collective when its policy is met, and
 * decides the packet's fate.
 *
 *	SEC("xdp") int my_fold(struct xdp_md *ctx)
 *	{
 *		struct sg_agg a;
 *		int v = sg_agg_begin(ctx, &a);
 *
 *		if (v)
 *			return v;	// duplicate or stale: counted, dropped
 *		... fold a.fc->data (a.fc->len bytes) into a.acc (SG_ACC_BYTES),
 *		    or copy it if a.first ...
 *		return sg_agg_end(ctx, &a);
 *	}
 *
 * Between the two calls the chunk's spin lock is held: no helper calls, and
 * loops must be bounded (index with SG_AGG_IDX to keep the verifier sure of
 * the bounds). The maps below are replaced at load time by the datapath's own,
 * so a user program reaches only what the helpers hand it.
 */
#ifndef SGBPF_AGG_BPF_H
#define SGBPF_AGG_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sgbpf/agg_abi.h"
#include "sgbpf/types.h"

/* i masked into [0, n) for a power-of-two n: an access the verifier can see. */
#define SG_AGG_IDX(i, n) ((i) & ((n) - 1))

/* The chunk being folded (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_fold_ctx);
} fold_scratch SEC(".maps");

/* Who folded each accumulator chunk. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_POOL_CHUNKS);
	__type(key, __u32);
	__type(value, struct sg_chunk_state);
} chunks SEC(".maps");

/* Accumulators, mmapped by user space: a result is read with memory copies
 * and no system call. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_POOL_CHUNKS);
	__type(key, __u32);
	__type(value, __u8[SG_ACC_BYTES]);
} results SEC(".maps");

/* Exponents and specials of float SUM accumulators, mmapped likewise. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_POOL_CHUNKS);
	__type(key, __u32);
	__type(value, __u16[SG_FSUM_ELEMS]);
} result_aux SEC(".maps");

/* The datapath's program that takes a chunk back after its fold (entry 0;
 * filled by the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} agg_finish SEC(".maps");

struct sg_agg {
	struct sg_fold_ctx *fc;	/* the chunk: data, len, dtype, op, worker */
	void *acc;		/* SG_ACC_BYTES of accumulator */
	__u16 *aux;		/* SG_FSUM_ELEMS words beside it (float SUM) */
	int first;		/* nothing folded into acc yet: initialise it */
	/* private */
	struct sg_chunk_state *cs;
};

/* Hand the chunk back to the datapath with @verdict; returns only if that
 * fails (the packet is then dropped uncounted). */
static __always_inline int sg_agg_finish(struct xdp_md *ctx, struct sg_fold_ctx *fc, int verdict)
{
	fc->verdict = (__u8)verdict;
	bpf_tail_call(ctx, &agg_finish, 0);
	return XDP_DROP;
}

/* Find the chunk, take its lock, and check this worker has not folded it yet.
 * Returns 0 with the lock held, or an XDP verdict (the chunk counted and
 * dropped) without it. */
static __always_inline int sg_agg_begin(struct xdp_md *ctx, struct sg_agg *a)
{
	__u32 zero = 0, entry;
	enum sg_verdict v;

	a->fc = bpf_map_lookup_elem(&fold_scratch, &zero);
	if (!a->fc)
		return XDP_DROP;
	entry = a->fc->entry % SG_POOL_CHUNKS;
	a->cs = bpf_map_lookup_elem(&chunks, &entry);
	a->acc = bpf_map_lookup_elem(&results, &entry);
	a->aux = bpf_map_lookup_elem(&result_aux, &entry);
	if (!a->cs || !a->acc || !a->aux)
		return XDP_DROP;
	bpf_spin_lock(&a->cs->lock);
	v = sg_chunk_claim(a->cs, a->fc->gen, a->fc->worker, &a->first);
	if (v != SG_VERDICT_ACCEPT) {
		bpf_spin_unlock(&a->cs->lock);
		return sg_agg_finish(ctx, a->fc, v);
	}
	return 0;
}

/* Release the chunk's lock. */
static __always_inline void sg_agg_unlock(struct sg_agg *a)
{
	bpf_spin_unlock(&a->cs->lock);
}

/* Release the chunk and hand it back to the datapath, which counts the
 * worker's progress and completes the collective when its policy is met.
 * Returns the packet's fate. */
static __always_inline int sg_agg_end(struct xdp_md *ctx, struct sg_agg *a)
{
	sg_agg_unlock(a);
	return sg_agg_finish(ctx, a->fc, SG_VERDICT_ACCEPT);
}

#endif /* SGBPF_AGG_BPF_H */
