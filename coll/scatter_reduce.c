// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Scatter-reduce: one request out, every worker's vector reduced in the
 * transport, one result back. */
#include "coll/request.h"

int sg_iscatter_reduce(sg_comm *comm, const void *request, size_t request_len, void *result,
		       size_t count, enum sg_datatype dt, enum sg_op op,
		       struct sg_reduce_params *params, sg_request **req)
{
	return sg_request_post_reduce(comm, SG_REQ_REDUCE, request, request_len, result, count, dt,
				      op, params, req);
}

int sg_scatter_reduce(sg_comm *comm, const void *request, size_t request_len, void *result,
		      size_t count, enum sg_datatype dt, enum sg_op op,
		      struct sg_reduce_params *params)
{
	sg_request *req;
	int err = sg_iscatter_reduce(comm, request, request_len, result, count, dt, op, params,
				     &req);

	return err ? err : sg_wait(&req);
}
