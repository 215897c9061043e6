/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layout of the state the kernel programs share with user space (the eBPF
 * transport and the user-space transports' reduction). Private: aggregation
 * programs see only sgbpf/agg_abi.h.
 *
 * Indexing: a communicator has an index `comm` (0..SG_MAX_COMMS-1) in the
 * datapath of its interface; its collective in flight with id `coll_id` lives
 * in slot `comm * SG_SLOTS + coll_id % SG_SLOTS` (user space picks ids whose
 * slot is free). A slot owns the run of chunk entries
 * [chunk_base, chunk_base + nchunks) of the chunk-state and accumulator pools,
 * allocated by user space when it arms the slot.
 */
#ifndef SG_BPF_MAPS_H
#define SG_BPF_MAPS_H

#include <linux/bpf.h>	/* struct bpf_spin_lock */

#include "sgbpf/agg_abi.h"
#include "sgbpf/wire.h"

/* Per communicator, written once at creation. */
struct sg_comm_cfg {
	__u32 local_ip;		/* network order */
	__u16 local_port;	/* network order */
	__u8 active;
	__u8 flags;		/* SG_CFG_* */
	__u32 nworkers;
	__u32 ifindex;
	__u64 key[2];		/* the authenticators' secret (sg_wire_token()) */
	__u64 sock_cookie;	/* the coordinator socket's (SO_COOKIE); only its
				 * datagrams are fanned out. 0: unchecked, for the
				 * BPF unit tests, whose skbs have no real socket */
};

#define SG_CFG_PASS	0x1	/* pass folded responses on to the stack too */
#define SG_CFG_NO_EVENTS 0x2	/* busy-polling: no ring buffer records */

/* Fan-out target i of a communicator (entry comm * SG_MAX_WORKERS + i). */
struct sg_fanout_entry {
	__u32 ip;		/* network order */
	__u16 port;		/* network order */
	__u8 mac[6];
};

/* Key of the source-address lookup: a datagram counts only if its source is a
 * worker of the communicator it is addressed to. */
struct sg_worker_key {
	__u32 comm;
	__u32 ip;		/* network order */
	__u16 port;		/* network order */
	__u16 pad;
};

/* One collective in flight. The TC program writes it from the slot's arm
 * descriptor (struct sg_arm_desc) when the collective's first coordinator
 * datagram passes; the gather program admits workers and counts their chunks
 * under the lock. */
struct sg_slot {
	struct bpf_spin_lock lock;
	__u32 coll_id;
	__u64 nonce;
	__u64 gen;		/* datapath-wide arm counter: orders chunk owners */
	__u32 chunk_base;	/* first pool entry of this collective */
	__u32 pad0;
	__u8 active;		/* 1 while the collective accepts contributions */
	__u8 dtype;
	__u8 op;
	__u8 complete;		/* set by the kernel when the policy is met */
	__u32 count;		/* elements of the result */
	__u32 msg_len;		/* count * element size */
	__u16 nchunks;
	__u16 pad;
	__u32 target;		/* workers whose whole contribution completes it */
	__u32 nadmitted;	/* workers allowed to contribute (<= target) */
	__u32 ndone;		/* admitted workers whose every chunk arrived */
	__u64 admitted[SG_WORKER_WORDS];
	__u64 done[SG_WORKER_WORDS];
	__u16 progress[SG_MAX_WORKERS];	/* distinct chunks received per worker */
};

/* Arm descriptor of a slot, in an mmapped array beside the slots (which hold a
 * spin lock and so cannot be mmapped). User space fills it with plain stores
 * before it sends the collective's first coordinator datagram; the TC program
 * copies it into the slot, under the slot's lock, when that datagram passes
 * (a SCATTER with id coll_id, or a RESULT with id coll_id & ~SG_COLL_ACK)
 * with the same nonce, and only if gen is newer than the slot's: arming costs
 * no system call of its own, and a retransmission never re-arms. */
struct sg_arm_desc {
	__u32 coll_id;
	__u32 count;
	__u64 nonce;
	__u64 gen;
	__u32 msg_len;
	__u32 target;
	__u32 chunk_base;
	__u16 nchunks;
	__u8 dtype;
	__u8 op;
};

/* What the sg_collect program reads and writes: user space runs it with
 * BPF_PROG_TEST_RUN on a frame holding this record (transport/datapath.c)
 * when a collective's deadline passed, to retire the collective
 * (sg_slot_retire()) and learn which of its chunks hold exactly the
 * contributions of its done workers (sg_chunk_whole()), all under the
 * kernel's locks. */
struct sg_partial {
	__u32 key;		/* in: global slot */
	__u32 held;		/* out: 1 if the slot holds gen (now inactive) */
	__u64 gen;		/* in: the collective's generation */
	__u32 nchunks;		/* out: its chunks */
	__u32 ndone;		/* out: its done workers */
	__u64 done[SG_WORKER_WORDS];			/* out: which */
	__u64 whole[SG_MAX_RESPONSE_CHUNKS / 64];	/* out: chunks that are their reduction */
};

/* Float SUM accumulators: the mantissa (in the result pool) is scaled by
 * 2^(exp - SG_FSUM_BIAS); the aux word holds exp and the IEEE specials seen. */
#define SG_FSUM_BIAS	1075	/* 2^-1074 is the smallest float64 quantum */
#define SG_FSUM_EXP	0x0fffu
#define SG_FSUM_NAN	0x8000u
#define SG_FSUM_PINF	0x4000u
#define SG_FSUM_NINF	0x2000u

/* Completion word of a slot, in an mmapped array: the generation of the
 * collective that completed last, so user space can busy-poll without a
 * system call. */
struct sg_completion {
	__u64 gen;
	__u32 ndone;
	__u32 pad;
};

/* Bytes of a communicator's completion ring buffer (a power of two and a
 * multiple of the page size, 64 KiB pages included). */
#define SG_EVENTS_BYTES	(64 * 1024)

/* Completion record sent through the communicator's ring buffer. */
struct sg_event {
	__u32 comm;
	__u32 slot;		/* slot index within the communicator */
	__u32 coll_id;
	__u32 ndone;
};

/* Counters per communicator (per-CPU array, summed by user space). */
struct sg_stats {
	__u64 rx_accepted;
	__u64 rx_duplicate;
	__u64 rx_stale;
	__u64 rx_late;
	__u64 rx_unknown_src;
	__u64 rx_malformed;
	__u64 rx_forged;	/* a wrong authenticator for its source */
	__u64 completed;
	__u64 tx_fanout;
	__u64 tx_armed;		/* slots armed from their descriptor by the TC program */
	__u64 tx_arm_mismatch;	/* SCATTER/RESULT whose slot's descriptor is not theirs */
};

#ifndef __BPF__
#include <math.h>
#include <stdint.h>

/* The value of a float SUM accumulator (mantissa @m, aux word @aux), exact
 * in long double until the caller rounds it to the element type once. */
static inline long double sg_fsum_value(int64_t m, uint16_t aux)
{
	if ((aux & SG_FSUM_NAN) || ((aux & SG_FSUM_PINF) && (aux & SG_FSUM_NINF)))
		return NAN;
	if (aux & SG_FSUM_PINF)
		return INFINITY;
	if (aux & SG_FSUM_NINF)
		return -INFINITY;
	return ldexpl((long double)m, (int)(aux & SG_FSUM_EXP) - SG_FSUM_BIAS);
}

/* Sum the per-CPU counters of one communicator into @acc. */
static inline void sg_stats_sum(struct sg_stats *acc, const struct sg_stats *percpu, int ncpus)
{
	for (int c = 0; c < ncpus; c++) {
		acc->rx_accepted += percpu[c].rx_accepted;
		acc->rx_duplicate += percpu[c].rx_duplicate;
		acc->rx_stale += percpu[c].rx_stale;
		acc->rx_late += percpu[c].rx_late;
		acc->rx_unknown_src += percpu[c].rx_unknown_src;
		acc->rx_malformed += percpu[c].rx_malformed;
		acc->rx_forged += percpu[c].rx_forged;
		acc->completed += percpu[c].completed;
		acc->tx_fanout += percpu[c].tx_fanout;
		acc->tx_armed += percpu[c].tx_armed;
		acc->tx_arm_mismatch += percpu[c].tx_arm_mismatch;
	}
}
#endif

#endif /* SG_BPF_MAPS_H */
