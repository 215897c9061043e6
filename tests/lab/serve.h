/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A test worker process (serve.c): tw_serve() runs one or more sg_worker
 * endpoints (one rank each) that answer every SCATTER with the rank's
 * contribution (tests/lab/fpattern.h) and record what they received in the
 * shared records (tests/lab/shared.h) that the parent reads.
 */
#ifndef SGBPF_LAB_SERVE_H
#define SGBPF_LAB_SERVE_H

#include <stdint.h>
#include <netinet/in.h>

#include "tests/lab/shared.h"

struct tw_serve_opts {
	size_t sz;			/* sizeof(struct tw_serve_opts) */
	const char *addr;		/* IPv4 address to bind (NULL: any) */
	uint16_t port;			/* first port; port + p serves rank + p; 0: ephemeral */
	unsigned int nports;		/* endpoints (>= 1) */
	uint32_t rank;			/* rank of the first endpoint */
	struct tw_shared *shared;	/* required; ranks must be < its nranks */
	const volatile int *stop;	/* optional: return once *stop != 0 */
	/* The endpoints' coordinators (sg_worker_opts::coordinators); NULL
	 * and 0: trust on first use. */
	const struct sockaddr_in *coordinators;
	size_t ncoordinators;
};

/*
 * Serve until SIGTERM or SIGINT (handlers installed for the duration) or
 * *stop: answer SCATTERs with tw_contribution_ex(rank, coll_id, dtype, op,
 * tw_request_pattern(request), count), record every message and publish
 * the endpoints' counters (tw_rank_info::stats) each time they wake up.
 * Returns 0, or -errno if the endpoints could not be set up (also recorded as
 * the ranks' error, which tw_shared_wait_ready() returns).
 */
int tw_serve(const struct tw_serve_opts *o);

/* tw_serve((const struct tw_serve_opts *)arg), for netlab_spawn(). */
int tw_serve_fn(void *arg);

#endif /* SGBPF_LAB_SERVE_H */
