// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allgather: a scatter-reduce whose result the kernel then fans out to every
 * worker; the application sends it once per chunk, never once per worker (the
 * request layer does it when the reduction completes). */
#include "coll/comm.h"

int sg_iallgather(sg_comm *comm, const void *request, size_t request_len, void *result,
		  size_t count, enum sg_datatype dt, enum sg_op op, struct sg_reduce_params *params,
		  sg_request **req)
{
	return sg_request_post_reduce(comm, SG_REQ_ALLGATHER, request, request_len, result, count,
				      dt, op, params, req);
}

int sg_allgather(sg_comm *comm, const void *request, size_t request_len, void *result,
		 size_t count, enum sg_datatype dt, enum sg_op op, struct sg_reduce_params *params)
{
	sg_request *req;
	int err = sg_iallgather(comm, request, request_len, result, count, dt, op, params, &req);

	return err ? err : sg_wait(&req);
}
