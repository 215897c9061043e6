// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Individual responses passed on by the kernel (sg_comm_opts::pass_responses)
 * beside the reduced value. */
#include <errno.h>

#include "coll/comm.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/udp.h"

static int rank_of(const struct sg_comm *comm, const struct sockaddr_in *from, size_t *rank)
{
	for (size_t i = 0; i < comm->nworkers; i++) {
		if (comm->workers[i].sin_addr.s_addr == from->sin_addr.s_addr &&
		    comm->workers[i].sin_port == from->sin_port) {
			*rank = i;
			return 0;
		}
	}
	return -ENOENT;
}

int sg_comm_recv_response(sg_comm *comm, struct sg_response *resp, int timeout_ms)
{
	long long deadline = sg_deadline_us(timeout_ms);

	if (!comm || !resp)
		return sg_fail(-EINVAL, "comm and resp must not be NULL");
	if (!comm->pass_responses)
		return sg_fail(-EINVAL, "responses are not passed on: set pass_responses");
	for (;;) {
		struct sockaddr_in from;
		struct sg_wire_hdr h;
		ssize_t n = sg_udp_recv_until(comm->sock, comm->rx, sizeof(comm->rx), &from, deadline);

		if (n < 0)
			return (int)n;
		/* The kernel folded it, so it is well formed; check anyway. */
		if (sg_wire_decode(comm->rx, (size_t)n, &h) || h.type != SG_WIRE_RESPONSE ||
		    rank_of(comm, &from, &resp->rank))
			continue;
		resp->coll_id = h.coll_id;
		resp->chunk = h.chunk;
		resp->data = comm->rx + SG_WIRE_HDR_LEN;
		resp->len = h.len;
		return 0;
	}
}
