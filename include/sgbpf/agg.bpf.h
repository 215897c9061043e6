/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The aggregation interface of the sgbpf datapath, for the built-in fold
 * programs and for user aggregation programs alike.
 *
 * A fold program is an XDP program that the gather program tail-calls once it
 * has validated a contribution chunk and admitted its worker. It finds the
 * chunk in sg_agg_begin(), folds the payload into the accumulator, and ends
 * with sg_agg_end(), which counts the worker's progress, completes the
 * collective when its policy is met, and returns the packet's fate:
 *
 *	SEC("xdp") int my_fold(struct xdp_md *ctx)
 *	{
 *		struct sg_agg a;
 *		int v = sg_agg_begin(&a);
 *
 *		if (v)
 *			return v;	// duplicate or stale: counted, dropped
 *		... fold a.fc->data (a.fc->len bytes) into a.acc (SG_CHUNK_BYTES),
 *		    or copy it if a.first ...
 *		return sg_agg_end(&a);
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

#include "sgbpf/maps.h"

#define SG_TOTAL_SLOTS (SG_MAX_COMMS * SG_SLOTS)

/* i masked into [0, n) for a power-of-two n: an access the verifier can see. */
#define SG_AGG_IDX(i, n) ((i) & ((n) - 1))

/* Local UDP port (network order) -> communicator index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u16);
	__type(value, __u32);
} comm_by_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u32);
	__type(value, struct sg_comm_cfg);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_COMMS * SG_MAX_WORKERS);
	__type(key, struct sg_worker_key);
	__type(value, __u32);
} worker_by_addr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_MAX_COMMS * SG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct sg_fanout_entry);
} fanout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct sg_slot);
} slots SEC(".maps");

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
	__type(value, __u8[SG_CHUNK_BYTES]);
} results SEC(".maps");

/* Exponents and specials of float SUM accumulators, mmapped likewise. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_POOL_CHUNKS);
	__type(key, __u32);
	__type(value, __u16[SG_FSUM_ELEMS]);
} result_aux SEC(".maps");

/* Completion words, mmapped: busy-polling completes without a system call. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct sg_completion);
} completions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_fold_ctx);
} fold_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u32);
	__type(value, struct sg_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

#define SG_STAT_INC(st, field) do { if (st) (st)->field++; } while (0)

struct sg_agg {
	struct sg_fold_ctx *fc;	/* the chunk: data, len, dtype, op, worker */
	void *acc;		/* SG_CHUNK_BYTES of accumulator */
	__u16 *aux;		/* SG_FSUM_ELEMS words beside it (float SUM) */
	int first;		/* nothing folded into acc yet: initialise it */
	/* private */
	struct sg_chunk_state *cs;
	struct sg_slot *slot;
	struct sg_stats *st;
	__u64 bit;
	__u32 word;
};

/* Find the chunk, take its lock, and check this worker has not folded it yet.
 * Returns 0 with the lock held, or an XDP verdict (counted) without it. */
static __always_inline int sg_agg_begin(struct sg_agg *a)
{
	__u32 zero = 0, entry, w;

	a->fc = bpf_map_lookup_elem(&fold_scratch, &zero);
	if (!a->fc)
		return XDP_DROP;
	a->st = bpf_map_lookup_elem(&stats, &a->fc->comm);
	entry = a->fc->entry % SG_POOL_CHUNKS;
	a->cs = bpf_map_lookup_elem(&chunks, &entry);
	a->acc = bpf_map_lookup_elem(&results, &entry);
	a->aux = bpf_map_lookup_elem(&result_aux, &entry);
	a->slot = bpf_map_lookup_elem(&slots, &a->fc->slot);
	if (!a->cs || !a->acc || !a->aux || !a->slot)
		return XDP_DROP;
	w = a->fc->worker % SG_MAX_WORKERS;
	a->word = w / 64;
	a->bit = 1ULL << (w % 64);

	bpf_spin_lock(&a->cs->lock);
	if (a->cs->gen != a->fc->gen) {
		if (a->fc->gen < a->cs->gen) {
			/* A straggler of a collective that no longer owns it. */
			bpf_spin_unlock(&a->cs->lock);
			SG_STAT_INC(a->st, rx_stale);
			return XDP_DROP;
		}
		a->cs->gen = a->fc->gen;
		a->cs->ncontrib = 0;
		for (int i = 0; i < SG_WORKER_WORDS; i++)
			a->cs->seen[i] = 0;
	}
	if (a->cs->seen[a->word] & a->bit) {
		bpf_spin_unlock(&a->cs->lock);
		SG_STAT_INC(a->st, rx_duplicate);
		return XDP_DROP;
	}
	a->cs->seen[a->word] |= a->bit;
	a->first = a->cs->ncontrib++ == 0;
	return 0;
}

/* Release the chunk, count the worker's progress and complete the collective
 * when its policy is met. Returns the packet's fate. */
static __always_inline int sg_agg_end(struct sg_agg *a)
{
	struct sg_fold_ctx *fc = a->fc;
	struct sg_completion *comp;
	struct sg_comm_cfg *cfg;
	struct sg_slot *slot = a->slot;
	__u32 w = fc->worker % SG_MAX_WORKERS, ndone = 0;
	int done = 0;

	bpf_spin_unlock(&a->cs->lock);
	SG_STAT_INC(a->st, rx_accepted);

	bpf_spin_lock(&slot->lock);
	if (slot->active && slot->gen == fc->gen) {
		if (++slot->progress[w] == slot->nchunks) {
			slot->done[a->word] |= a->bit;
			ndone = ++slot->ndone;
			if (ndone == slot->target) {
				slot->complete = 1;
				done = 1;
			}
		}
	}
	bpf_spin_unlock(&slot->lock);

	cfg = bpf_map_lookup_elem(&comms, &fc->comm);
	if (done) {
		SG_STAT_INC(a->st, completed);
		comp = bpf_map_lookup_elem(&completions, &fc->slot);
		if (comp) {
			comp->ndone = ndone;
			/* Full barrier: user space sees ndone once it sees gen. */
			__sync_lock_test_and_set(&comp->gen, fc->gen);
		}
		if (cfg && !(cfg->flags & SG_CFG_NO_EVENTS)) {
			struct sg_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

			if (ev) {
				ev->comm = fc->comm;
				ev->slot = fc->slot % SG_SLOTS;
				ev->coll_id = fc->coll_id;
				ev->ndone = ndone;
				bpf_ringbuf_submit(ev, 0);
			}
		}
	}
	return cfg && (cfg->flags & SG_CFG_PASS) ? XDP_PASS : XDP_DROP;
}

#endif /* SGBPF_AGG_BPF_H */
