// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Individual responses passed on by the kernel (sg_comm_opts::pass_responses)
 * beside the reduced value, checked again on their way to the application. */
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

int sg_comm_check_passed(const struct sg_comm *comm, const void *buf, size_t len,
			 const struct sockaddr_in *from, struct sg_wire_hdr *h, size_t *rank)
{
	if (rank_of(comm, from, rank) || sg_wire_decode(buf, len, h) ||
	    h->type != SG_WIRE_RESPONSE || h->len == 0)
		return -EBADMSG;
	if (h->auth != sg_wire_token(comm->key, h->nonce, h->coll_id, (uint32_t)*rank))
		return -EPERM;
	return sg_comm_is_posted(comm, h->coll_id, h->nonce) ? 0 : -ESTALE;
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
		/* What reaches the socket need not have passed the XDP
		 * program (another interface, a frame it could not parse):
		 * the same checks as it, or it is not delivered. */
		if (sg_comm_check_passed(comm, comm->rx, (size_t)n, &from, &h, &resp->rank)) {
			comm->passed_dropped++;
			continue;
		}
		resp->coll_id = h.coll_id;
		resp->chunk = h.chunk;
		resp->data = comm->rx + SG_WIRE_HDR_LEN;
		resp->len = h.len;
		return 0;
	}
}
