/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The records test workers keep in memory shared with the parent (shared.c):
 * what each rank received of each kind of message, the state of its endpoint
 * and its behaviour, in a MAP_SHARED area (struct tw_shared) created before
 * the workers are forked; the parent reads them and waits on them.
 */
#ifndef SGBPF_LAB_SHARED_H
#define SGBPF_LAB_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include <sgbpf.h>

/* FNV-1a 64 of @len bytes: what workers record of the data they received. */
uint64_t tw_hash(const void *p, size_t len);

/* Kinds of records: the enum sg_msg_type values. */
#define TW_SCATTER	SG_MSG_SCATTER
#define TW_BCAST	SG_MSG_BCAST
#define TW_RESULT	SG_MSG_RESULT

/* What one rank received of one kind. */
struct tw_record {
	uint64_t count;		/* messages of this kind received */
	uint32_t coll_id;	/* of the last one */
	uint64_t len;		/* its data bytes (the request for a SCATTER) */
	uint64_t hash;		/* tw_hash() of its data */
};

/* State of one rank's endpoint. */
struct tw_rank_info {
	int ready;		/* bound and serving */
	int error;		/* negative errno if its setup failed, else 0 */
	uint16_t port;		/* bound port (host order), valid once ready */
	uint64_t replies;	/* sg_worker_reply() calls that succeeded */
	uint64_t errors;	/* failed receives and replies */
	int last_error;		/* the last of those errors */
	/* The endpoint's sg_worker_get_stats() counters, published after
	 * each batch of datagrams it handled: rx_delivered, rx_foreign,
	 * rx_malformed, rx_duplicate, tx_resent, tx_calls and tx_gso_sends
	 * (the others are 0). */
	struct sg_worker_stats stats;
};

/* Behaviour of a rank, changeable while it runs (tw_shared_set_behavior()). */
#define TW_MUTE	0x1u	/* record SCATTERs but never reply */
#define TW_DUP	0x2u	/* send every reply twice */

struct tw_shared;

/* Records for ranks 0..nranks-1 in MAP_SHARED anonymous memory: create before
 * forking the workers. NULL on failure (errno set). */
struct tw_shared *tw_shared_create(size_t nranks);
void tw_shared_destroy(struct tw_shared *s);
size_t tw_shared_nranks(const struct tw_shared *s);

/* A consistent copy of the record of @kind (TW_*) of @rank. 0 or -EINVAL. */
int tw_shared_read(const struct tw_shared *s, size_t rank, int kind, struct tw_record *out);
int tw_shared_info(const struct tw_shared *s, size_t rank, struct tw_rank_info *out);

/* @flags (TW_MUTE, TW_DUP) and a delay before each reply of @rank; 0 or -EINVAL.
 * A delayed rank holds its later messages until the reply is sent. */
int tw_shared_set_behavior(struct tw_shared *s, size_t rank, unsigned int flags,
			   unsigned int delay_ms);

/*
 * Wait (1 ms steps, at most @timeout_ms) until every rank in
 * [rank_first, rank_first + nranks) ...
 *   _ready: is bound and serving; returns the setup error of a rank if any;
 *   _wait:  has as its last record of @kind the collective @coll_id;
 *   _wait_count: has received at least @count messages of @kind.
 * Return 0, -ETIMEDOUT or -EINVAL.
 */
int tw_shared_wait_ready(const struct tw_shared *s, size_t rank_first, size_t nranks,
			 int timeout_ms);
int tw_shared_wait(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
		   uint32_t coll_id, int timeout_ms);
int tw_shared_wait_count(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
			 uint64_t count, int timeout_ms);

#endif /* SGBPF_LAB_SHARED_H */
