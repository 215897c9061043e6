// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Individual responses passed on by the kernel (sg_comm_opts::pass_responses)
 * beside the reduced value, and the completion fd. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "coll/comm.h"
#include "coll/log.h"

size_t sg_response_chunk_bytes(enum sg_datatype dt)
{
	return (unsigned int)dt < SG_DATATYPE_COUNT ? sg_wire_response_chunk(dt) : 0;
}

int sg_comm_fd(const sg_comm *comm)
{
	if (!comm)
		return sg_fail(-EINVAL, "comm must not be NULL");
	return comm->ops->fd(comm->tp);
}

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
	struct timespec t0;

	if (!comm || !resp)
		return sg_fail(-EINVAL, "comm and resp must not be NULL");
	if (!comm->pass_responses)
		return sg_fail(-EINVAL, "responses are not passed on: set pass_responses");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct sockaddr_in from;
		socklen_t alen = sizeof(from);
		struct pollfd pfd = { .fd = comm->sock, .events = POLLIN };
		struct sg_wire_hdr h;
		struct timespec t;
		ssize_t n;
		long left;

		n = recvfrom(comm->sock, comm->rx, sizeof(comm->rx), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &alen);
		if (n >= 0) {
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
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return sg_fail(-errno, "recvfrom: %s", strerror(errno));
		if (timeout_ms == 0)
			return -EAGAIN;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms < 0 ? -1 : timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
							   (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (timeout_ms > 0 && left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return sg_fail(-errno, "poll: %s", strerror(errno));
	}
}
