/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the sgbpf datapath shares with aggregation programs (sgbpf/agg.bpf.h):
 * the chunk handed to a fold program and the state of one accumulator chunk,
 * with the rule that lets each worker fold a chunk exactly once. This is the
 * whole installed interface of the kernel side; everything else the datapath
 * keeps is private and may change between versions. Built for the BPF target
 * and for the host alike.
 */
#ifndef SGBPF_AGG_ABI_H
#define SGBPF_AGG_ABI_H

#include <linux/bpf.h>	/* struct bpf_spin_lock */
#include <linux/types.h>

#include "sgbpf/limits.h"

/* What became of a contribution chunk: each has a counter of its own in
 * struct sg_comm_stats. */
enum sg_verdict {
	SG_VERDICT_ACCEPT = 0,		/* folded */
	SG_VERDICT_UNKNOWN_SRC,		/* not from a worker of the communicator */
	SG_VERDICT_MALFORMED,		/* inconsistent with itself or its collective */
	SG_VERDICT_FORGED,		/* not the authenticator of its source */
	SG_VERDICT_STALE,		/* for a collective no longer in flight */
	SG_VERDICT_LATE,		/* from a worker past the completion policy */
	SG_VERDICT_DUPLICATE,		/* this worker's chunk was folded already */
};

/* The chunk the gather program hands to the fold program of its op (a
 * per-CPU scratch entry): which worker sent it and its payload. */
struct sg_fold_ctx {
	__u32 comm;		/* private: the communicator's index */
	__u32 slot;		/* private: global slot index */
	__u32 chunk;		/* index in the collective */
	__u32 entry;		/* private: accumulator pool entry */
	__u32 worker;		/* the sender's rank, from its source address */
	__u32 coll_id;
	__u64 gen;		/* private: generation of the collective */
	__u32 len;		/* payload bytes */
	__u8 dtype;		/* enum sg_datatype */
	__u8 op;		/* enum sg_op */
	__u8 verdict;		/* private: enum sg_verdict, for the finish program */
	__u8 span_left;		/* private: chunks of the datagram after this one */
	__u8 data[SG_ACC_BYTES];	/* @len bytes (at most SG_CHUNK_BYTES); the
				 * room of an accumulator, for masked indices */
	/* private: where the datagram's next chunk is, and its geometry */
	__u32 next_off;
	__u32 msg_len;
	__u32 chunk_bytes;
	__u32 prog;		/* the fold program's index */
};

/* Per accumulator chunk: which workers folded it. It records its owner's
 * generation, so an entry left over from an older collective is reset by the
 * first chunk of the newer one, and a straggler of the older one never
 * resets the newer one's entry. */
struct sg_chunk_state {
	struct bpf_spin_lock lock;
	__u32 ncontrib;
	__u64 gen;
	__u64 seen[SG_WORKER_WORDS];
};

/* Claim chunk state @cs for a contribution of @worker to the collective of
 * generation @gen, with its lock held (no helper calls: it may run under a
 * BPF spin lock). SG_VERDICT_ACCEPT, *@first set when nothing was folded
 * into the accumulator yet; SG_VERDICT_STALE for an older generation than
 * the entry's; SG_VERDICT_DUPLICATE when @worker folded it already. */
static __inline__ __attribute__((always_inline)) enum sg_verdict
sg_chunk_claim(struct sg_chunk_state *cs, __u64 gen, __u32 worker, int *first)
{
	__u32 word = (worker % SG_MAX_WORKERS) / 64;
	__u64 bit = 1ULL << (worker % 64);

	if (cs->gen != gen) {
		if (gen < cs->gen)
			return SG_VERDICT_STALE;
		cs->gen = gen;
		cs->ncontrib = 0;
		for (int i = 0; i < SG_WORKER_WORDS; i++)
			cs->seen[i] = 0;
	}
	if (cs->seen[word] & bit)
		return SG_VERDICT_DUPLICATE;
	cs->seen[word] |= bit;
	*first = cs->ncontrib++ == 0;
	return SG_VERDICT_ACCEPT;
}

#endif /* SGBPF_AGG_ABI_H */
