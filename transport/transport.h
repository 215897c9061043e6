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

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "sgbpf.h"

/* Monotonic time in microseconds: deadlines and timeouts everywhere. */
static inline long long sg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

struct sg_comm;
struct sg_transport;

/* One reduction the transport must collect. */
struct sg_tp_reduce {
	uint32_t coll_id;
	uint64_t nonce;
	enum sg_datatype dtype;
	enum sg_op op;
	uint32_t count;
	uint32_t msg_len;	/* count * element size */
	uint32_t target;	/* workers that complete it */
	/* The transport's own, set by arm(). */
	uint64_t gen;
	uint32_t pool_base;
	uint32_t nchunks;
};

struct sg_transport_ops {
	const char *name;
	/* Set up for @comm (its workers, address and socket are known). */
	int (*create)(struct sg_comm *comm, struct sg_transport **tp);
	void (*destroy)(struct sg_transport *tp);
	/* Prepare to collect @r before its request is sent (-ENOSPC when there
	 * is no room for its accumulators). */
	int (*arm)(struct sg_transport *tp, struct sg_tp_reduce *r);
	/* Forget @r: its room may serve another collective. */
	void (*release)(struct sg_transport *tp, struct sg_tp_reduce *r);
	/* Send one encoded datagram to every worker (the transport may set the
	 * fan-out fields of its header). */
	int (*send_all)(struct sg_transport *tp, void *dgram, size_t len);
	/* 0 once @r is complete; else -EAGAIN if @timeout_ms is 0, -ETIMEDOUT
	 * after waiting @timeout_ms (negative: wait until complete). */
	int (*wait)(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms);
	/* Copy the reduced vector (@r->count elements of @r->dtype) and report
	 * the workers whose whole contribution it holds (SG_WORKER_WORDS words). */
	int (*collect)(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
		       uint64_t *contributors, unsigned int *ncontributors, int completed);
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

/* Turn the accumulators of @r (@r->nchunks chunks of SG_CHUNK_BYTES at @acc,
 * SG_FSUM_ELEMS aux words per chunk at @aux) into its result vector. The
 * layout is the kernel's, so every transport shares this. */
void sg_result_copy(const uint8_t *acc, const uint16_t *aux, const struct sg_tp_reduce *r,
		    void *out);

/* Contribution chunks of @r (response chunks of its datatype). */
uint32_t sg_response_nchunks(const struct sg_tp_reduce *r);

#endif
