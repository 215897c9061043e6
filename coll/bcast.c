// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Broadcast: one message to every worker, fanned out by the transport. Up to
 * a segment it is complete once sent; a longer one is delivered in
 * acknowledged segments, like an allgather's result (coll/segment.c). */
#include <errno.h>
#include <stdlib.h>

#include "coll/request.h"
#include "common/clock.h"
#include "common/log.h"

/* Longer than a segment: acknowledged segments (sg_request_deliver()). */
static int post_segmented(sg_comm *comm, const void *buf, size_t len, sg_request **req)
{
	int timeout_ms = sg_request_default_timeout(len);
	struct sg_post d = {
		.kind = SG_REQ_DELIVER,
		.result = (void *)buf,	/* only sent */
		.count = len,
		.dt = SG_UINT8,
		.op = SG_OP_BOR,
		.target = (uint32_t)comm->nworkers,
		.timeout_ms = timeout_ms,
		.deadline_us = sg_now_us() + timeout_ms * 1000LL,
	};

	return sg_segmented_post(comm, &d, req);
}

int sg_ibcast(sg_comm *comm, const void *buf, size_t len, sg_request **req)
{
	struct sg_request *q;
	struct sg_wire_msg m;
	int err;

	if (!comm || !req)
		return sg_fail(-EINVAL, "comm and req must not be NULL");
	if (!buf && len)
		return sg_fail(-EINVAL, "buf is NULL but len is %zu", len);
	if (len > SG_MAX_MESSAGE_BYTES)
		return sg_fail(-E2BIG, "message of %zu bytes, at most %u", len,
			       SG_MAX_MESSAGE_BYTES);
	if (len > SG_MAX_SEGMENT_BYTES)
		return post_segmented(comm, buf, len, req);
	q = sg_request_sent(comm);
	if (!q)
		return sg_fail(-ENOMEM, "out of memory");
	m = (struct sg_wire_msg){
		.type = SG_WIRE_BCAST,
		.coll_id = sg_comm_slotless_id(comm),
		.msg_len = (uint32_t)len,
		.nonce = sg_comm_nonce(comm),
	};
	q->r.coll_id = m.coll_id;
	err = sg_comm_send_msg(comm, &m, buf, -1);
	if (err) {
		free(q);
		return err;
	}
	*req = q;
	return 0;
}

int sg_bcast(sg_comm *comm, const void *buf, size_t len)
{
	sg_request *req;
	int err = sg_ibcast(comm, buf, len, &req);

	return err ? err : sg_wait(&req);
}
