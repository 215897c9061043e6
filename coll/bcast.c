// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Broadcast: one message to every worker, fanned out by the transport. It is
 * complete once sent. */
#include <errno.h>
#include <stdlib.h>

#include "coll/request.h"
#include "common/log.h"

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
