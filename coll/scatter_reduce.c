// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Scatter-reduce: one request out, every worker's vector reduced in the
 * transport, one result back; and reduce, the same with the coordinator's own
 * vector folded in as it is copied out. */
#include <errno.h>

#include "coll/request.h"
#include "common/log.h"

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

int sg_ireduce(sg_comm *comm, const void *request, size_t request_len, const void *contribution,
	       void *result, size_t count, enum sg_datatype dt, enum sg_op op,
	       struct sg_reduce_params *params, sg_request **req)
{
	if (!contribution)
		return sg_fail(-EINVAL, "sg_reduce: contribution must not be NULL "
			       "(sg_scatter_reduce() has none)");
	return sg_request_post_reduce_own(comm, SG_REQ_REDUCE, request, request_len, contribution,
					  result, count, dt, op, params, req);
}

int sg_reduce(sg_comm *comm, const void *request, size_t request_len, const void *contribution,
	      void *result, size_t count, enum sg_datatype dt, enum sg_op op,
	      struct sg_reduce_params *params)
{
	sg_request *req;
	int err = sg_ireduce(comm, request, request_len, contribution, result, count, dt, op,
			     params, &req);

	return err ? err : sg_wait(&req);
}
