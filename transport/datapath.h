/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Control of the datapath (bpf/sgbpf.bpf.c) from user space: loading it,
 * attaching it to an interface, installing a communicator in its maps,
 * handing out accumulator pool runs and generations, posting a collective's
 * arm descriptor, and reading slots and counters back. The eBPF transport
 * runs it on an attached datapath; the BPF unit tests drive the very same
 * code on an unattached one with BPF_PROG_TEST_RUN.
 *
 * Not thread-safe: the caller serialises calls on one struct sg_dp.
 * Functions return 0 or a negative errno; those that set up (open, attach,
 * install, load_agg) also leave a message in sg_errmsg().
 */
#ifndef SG_TRANSPORT_DATAPATH_H
#define SG_TRANSPORT_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "bpf/maps.h"
#include "transport/transport.h"

struct sgbpf_bpf;

/* The TC egress attachment of a program: a tcx link where the kernel has
 * them (owned by its fd, so it goes when the process dies), else a classic
 * clsact filter. */
struct sg_tc_attachment {
	int link_fd;			/* -1: attached as a clsact filter */
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
};

/* Attach @prog_fd at the TC egress hook of @ifindex: a tcx link, else a
 * clsact filter. 0 or -errno with a message. */
int sg_tc_attach_egress(int prog_fd, int ifindex, struct sg_tc_attachment *a);
/* Each way alone, silent (sgbpf-probe reports both): a tcx link (the link
 * fd, or -errno), and a clsact filter (0 or -errno, @a filled). */
int sg_tcx_attach_egress(int prog_fd, int ifindex);
int sg_clsact_attach_egress(int prog_fd, int ifindex, struct sg_tc_attachment *a);
/* Detach it, and only it: a clsact hook may serve other programs. */
void sg_tc_detach(struct sg_tc_attachment *a);

struct sg_dp {
	struct sgbpf_bpf *skel;
	int ncpus;
	/* Mmapped maps: accumulators, float SUM exponents, completion words,
	 * and (read-write) the arm descriptors. */
	uint8_t *results;
	size_t results_len;
	uint16_t *aux;
	size_t aux_len;
	volatile struct sg_completion *completions;
	size_t completions_len;
	struct sg_arm_desc *arm_descs;
	size_t arm_descs_len;
	/* Attachments (sg_dp_attach()). */
	struct bpf_link *xdp_link;
	struct sg_tc_attachment tc;
	bool tc_attached;
	/* Aggregation programs, by communicator index. */
	struct bpf_object *agg[SG_MAX_COMMS];
	/* Completion ring buffers, by communicator index (-1: none), each in
	 * the events map at its index (sg_dp_install_comm()). */
	int events_fd[SG_MAX_COMMS];
	uint64_t gen;			/* last generation handed out */
	uint64_t pool_used[SG_POOL_CHUNKS / 64];
};

/* A communicator as the datapath knows it. */
struct sg_dp_comm {
	uint32_t local_ip;		/* network order; 0: any */
	uint16_t local_port;		/* network order */
	uint32_t ifindex;
	uint8_t flags;			/* SG_CFG_* */
	const struct sg_fanout_entry *workers;	/* by rank, with their MACs */
	uint32_t nworkers;
	__u64 key[2];		/* the authenticators' secret */
	__u64 sock_cookie;		/* the coordinator socket's SO_COOKIE */
};

/* Load the datapath (not attached) and mmap its shared maps, the result
 * maps read-only unless @writable (tests reset them). */
int sg_dp_open(struct sg_dp *dp, bool writable);
/* Detach, unload and unmap everything; @dp is zeroed. */
void sg_dp_close(struct sg_dp *dp);
/* Attach the gather program (XDP, through a link) and the fan-out program
 * (TC egress) to @ifindex, removing on the way the fan-out filters dead
 * processes left there (sg_dp_remove_stale_tc()). */
int sg_dp_attach(struct sg_dp *dp, int ifindex, const char *ifname);
/* Remove the clsact egress filters of the fan-out program that datapaths of
 * dead processes left on @ifindex: a clsact filter (kernels without tcx, or
 * SGBPF_FORCE_CLSACT=1) is not a link and outlives its process, with its
 * program and stale worker list. Only while @dp's gather program holds the
 * interface's XDP hook, which is what tells dead from live: every live
 * datapath holds the XDP hook of its interface, through a link that goes
 * with its process, from before its TC filter is attached until after it is
 * detached, and the hook takes one program; so while it is @dp's, every
 * other fan-out filter on the interface belongs to a process that is gone.
 * Returns how many were removed (0 when @dp does not hold the hook), or
 * -errno (logged as a warning) when they could not be listed. */
int sg_dp_remove_stale_tc(struct sg_dp *dp, int ifindex);

/* Fill the maps that say who communicator @idx and its workers are, with
 * inactive slots and empty arm descriptors, give it a completion ring buffer
 * of its own (dp->events_fd[idx], kept if the index has one), and open it
 * (comm_by_port). -EADDRINUSE when another communicator has its port. */
int sg_dp_install_comm(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c);
/* Rewrite the configuration of communicator @idx (flags, say). */
int sg_dp_write_cfg(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c);
/* Close communicator @idx, forget its workers and close its ring buffer
 * (best effort). */
void sg_dp_uninstall_comm(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c);

/* Load aggregation program @program of object file @object as the fold
 * program of SG_OP_USER for communicator @idx: its maps that share a name
 * with the datapath's are the datapath's. */
int sg_dp_load_agg(struct sg_dp *dp, uint32_t idx, const char *object, const char *program);
void sg_dp_unload_agg(struct sg_dp *dp, uint32_t idx);

/* The accumulator pool: a first-fit run of @n free entries (-ENOSPC), a
 * given run (-EBUSY if any entry is taken), and giving a run back. */
int sg_dp_pool_alloc(struct sg_dp *dp, uint32_t n, uint32_t *base);
int sg_dp_pool_claim(struct sg_dp *dp, uint32_t base, uint32_t n);
void sg_dp_pool_free(struct sg_dp *dp, uint32_t base, uint32_t n);
bool sg_dp_pool_used(const struct sg_dp *dp, uint32_t entry);

/* The global slot of collective @coll_id of communicator @idx. */
static inline uint32_t sg_dp_slot_key(uint32_t idx, uint32_t coll_id)
{
	return idx * SG_SLOTS + coll_id % SG_SLOTS;
}

/* Give @r (its pool run and nchunks set) the next generation and write its
 * arm descriptor into its slot's entry, for the fan-out program to arm the
 * slot with when the collective's first datagram passes: arming costs no
 * system call. Returns the descriptor written. */
struct sg_arm_desc sg_dp_post(struct sg_dp *dp, uint32_t idx, struct sg_tp_reduce *r);

/* Whether the collective of generation @gen in slot @key has completed (the
 * completion word, read with acquire order). */
bool sg_dp_completed(const struct sg_dp *dp, uint32_t key, uint64_t gen);
/* Slot @key as the kernel holds it (read under its lock). */
int sg_dp_read_slot(const struct sg_dp *dp, uint32_t key, struct sg_slot *out);
/* The counters of communicator @idx, summed over the CPUs. */
int sg_dp_read_stats(const struct sg_dp *dp, uint32_t idx, struct sg_stats *out);
/* The result of @r out of the accumulator pool, once @r completed. */
void sg_dp_result_copy(const struct sg_dp *dp, const struct sg_tp_reduce *r, void *out);
/* Retire @r (of communicator @idx) with the sg_collect program: it takes no
 * more contributions (a slot not armed yet for it is armed, inactive), and
 * *@out says which workers are done and which chunks hold exactly their
 * contributions. Idempotent. 0 or a negative errno. */
int sg_dp_retire(const struct sg_dp *dp, uint32_t idx, const struct sg_tp_reduce *r,
		 struct sg_partial *out);
/* The partial result of @r, whose deadline passed: retire it, copy the
 * chunks that hold exactly the done workers' contributions, and retire it
 * again, so that a chunk folded in between (admitted before the first
 * retirement) is not taken torn. Every other chunk holds the op's identity
 * and is set in @missing (SG_MAX_RESPONSE_CHUNKS / 64 words); the done
 * workers go to @done (SG_WORKER_WORDS words) and *@ndone. 0 or a negative
 * errno. */
int sg_dp_result_partial(const struct sg_dp *dp, uint32_t idx, const struct sg_tp_reduce *r,
			 void *out, uint64_t *done, unsigned int *ndone, uint64_t *missing);

#endif
