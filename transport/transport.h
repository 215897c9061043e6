/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How bytes move for a communicator. The collective layer (coll/) decides what
 * to send and when a collective is complete; a transport moves the datagrams
 * to the workers and collects and reduces their contributions. The eBPF
 * transport does both in the kernel; the user-space transports (naive,
 * epoll, io_uring) move datagrams with system calls and reduce with the
 * kernel's own fold code (transport/ureduce.h).
 */
#ifndef SG_TRANSPORT_H
#define SG_TRANSPORT_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "common/udp.h"

struct sg_transport;

/* Words of a bitmap with a bit per contribution chunk of a collective. */
#define SG_MISSING_WORDS	(SG_MAX_RESPONSE_CHUNKS / 64)

/* What a transport is created from: the communicator's endpoints, checked by
 * the caller. The transport copies what it keeps. */
struct sg_transport_config {
	char ifname[IF_NAMESIZE];
	int ifindex;
	struct sockaddr_in local;		/* address and port of @sock */
	const struct sockaddr_in *workers;	/* by rank */
	size_t nworkers;
	int sock;				/* bound to local; the caller owns it */
	bool busy_poll;				/* wait without sleeping */
	bool pass_responses;			/* ebpf: pass folded responses on */
	const char *agg_object;			/* ebpf: user aggregation program */
	const char *agg_program;
	__u64 key[2];			/* the authenticators' secret */
	uint32_t max_dgram;		/* longest contribution datagram the workers
					 * are offered (header and answer room) */
};

/* One reduction the transport must collect. */
struct sg_tp_reduce {
	uint32_t coll_id;
	uint64_t nonce;
	enum sg_datatype dtype;
	enum sg_op op;
	uint32_t count;
	uint32_t msg_len;	/* count * element size */
	uint32_t target;	/* workers that complete it */
	/* The coordinator's own contribution (msg_len bytes), folded into
	 * every part collect() copies out whole; NULL: none (not an
	 * allreduce). It may be the result buffer itself (in place). */
	const void *own;
	/* The transport's own, set by arm(). */
	uint64_t gen;
	uint32_t pool_base;
	uint32_t nchunks;
};

struct sg_transport_ops {
	const char *name;
	int (*create)(const struct sg_transport_config *cfg, struct sg_transport **tp);
	void (*destroy)(struct sg_transport *tp);
	/* Prepare to collect @r before its request is sent (-ENOSPC when there
	 * is no room for its accumulators). */
	int (*arm)(struct sg_transport *tp, struct sg_tp_reduce *r);
	/* Forget @r: its room may serve another collective. */
	void (*release)(struct sg_transport *tp, struct sg_tp_reduce *r);
	/* Send a message, train @t of encoded datagrams (sg_wire_train()), to
	 * every worker, each copy with its worker's authenticator (the
	 * transport sets the fan-out and auth fields of the headers, which are
	 * its to write until it returns). */
	int (*send_all)(struct sg_transport *tp, struct sg_udp_train *t);
	/* Send train @t to worker @rank only, with its authenticator (a
	 * retransmission, flagged SG_WIRE_F_UNICAST so no fan-out program
	 * clones it). */
	int (*send_one)(struct sg_transport *tp, struct sg_udp_train *t, size_t rank);
	/* 0 once @r is complete; else -EAGAIN if @timeout_ms is 0, -ETIMEDOUT
	 * after waiting @timeout_ms (negative: wait until complete). */
	int (*wait)(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms);
	/* Copy the reduced vector (@r->count elements of @r->dtype) and report
	 * the workers whose whole contribution it holds (SG_WORKER_WORDS words).
	 * When @r did not complete (its deadline passed), first stop it taking
	 * contributions; then each of its chunks (of sg_response_chunk_bytes())
	 * holds the reduction over exactly those workers, or, where it cannot
	 * (a worker outside them contributed to it, or none did), the op's
	 * identity, and its bit is set in @missing (SG_MISSING_WORDS words; all
	 * clear when @r completed). */
	int (*collect)(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
		       uint64_t *contributors, unsigned int *ncontributors, uint64_t *missing,
		       int completed);
	/* The workers whose whole contribution to @r has arrived so far. */
	int (*report)(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		      unsigned int *ndone);
	int (*get_stats)(struct sg_transport *tp, struct sg_comm_stats *stats);
	/* Readable when a collective may have completed. */
	int (*fd)(struct sg_transport *tp);
};

extern const struct sg_transport_ops sg_transport_ebpf;
extern const struct sg_transport_ops sg_transport_io_uring;
extern const struct sg_transport_ops sg_transport_epoll;
extern const struct sg_transport_ops sg_transport_naive;

#endif
