// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allgather: a scatter-reduce whose result the kernel then fans out to every
 * worker; the application sends it once per chunk, never once per worker. */
#include "coll/comm.h"

int sg_allgather(sg_comm *comm, const void *request, size_t request_len, void *result,
		 size_t count, enum sg_datatype dt, enum sg_op op, struct sg_reduce_params *params)
{
	struct sg_tp_reduce r;
	struct sg_wire_msg m;
	int err;

	err = sg_reduce_common(comm, request, request_len, result, count, dt, op, params, &r);
	if (err)
		return err;
	m = (struct sg_wire_msg){
		.type = SG_WIRE_RESULT,
		.dtype = (uint8_t)dt,
		.op = (uint8_t)op,
		.coll_id = r.coll_id,
		.count = r.count,
		.msg_len = r.msg_len,
		.nonce = r.nonce,
	};
	return sg_comm_send_msg(comm, &m, result);
}
