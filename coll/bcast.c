// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Broadcast: one message to every worker, fanned out by the transport. */
#include <errno.h>

#include "coll/comm.h"
#include "coll/log.h"

int sg_bcast(sg_comm *comm, const void *buf, size_t len)
{
	struct sg_wire_msg m;

	if (!comm)
		return sg_fail(-EINVAL, "comm must not be NULL");
	if (!buf && len)
		return sg_fail(-EINVAL, "buf is NULL but len is %zu", len);
	if (len > SG_MAX_MESSAGE_BYTES)
		return sg_fail(-E2BIG, "message of %zu bytes, at most %u", len,
			       SG_MAX_MESSAGE_BYTES);
	m = (struct sg_wire_msg){
		.type = SG_WIRE_BCAST,
		.coll_id = comm->next_coll_id++,
		.msg_len = (uint32_t)len,
		.nonce = sg_comm_nonce(comm),
	};
	return sg_comm_send_msg(comm, &m, buf);
}
