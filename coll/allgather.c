// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Allgather: a scatter-reduce whose result is then delivered to every
 * worker; allreduce, the same with the coordinator's own vector in the
 * result. The application sends it once per chunk, never once per worker:
 * the transport fans it out. Each worker's library acknowledges the result,
 * and workers that do not get it again, like a request. The completion
 * policy governs the reduction only (who is in the result); the delivery
 * waits for every worker. */
#include <errno.h>
#include <stdlib.h>

#include "coll/request.h"
#include "common/log.h"

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

int sg_iallreduce(sg_comm *comm, const void *request, size_t request_len,
		  const void *contribution, void *result, size_t count, enum sg_datatype dt,
		  enum sg_op op, struct sg_reduce_params *params, sg_request **req)
{
	if (!contribution)
		return sg_fail(-EINVAL, "sg_allreduce: contribution must not be NULL "
			       "(sg_allgather() has none)");
	return sg_request_post_reduce_own(comm, SG_REQ_ALLGATHER, request, request_len,
					  contribution, result, count, dt, op, params, req);
}

int sg_allreduce(sg_comm *comm, const void *request, size_t request_len, const void *contribution,
		 void *result, size_t count, enum sg_datatype dt, enum sg_op op,
		 struct sg_reduce_params *params)
{
	sg_request *req;
	int err = sg_iallreduce(comm, request, request_len, contribution, result, count, dt, op,
				params, &req);

	return err ? err : sg_wait(&req);
}

/* The same slot is re-armed as a one-byte collective under id coll_id |
 * SG_COLL_ACK that the workers' libraries answer on receiving the result, and
 * the result is fanned out. It completes when every worker has acknowledged
 * (whatever the policy of the reduction), so workers outside the first N get
 * the result again too. */
int sg_allgather_deliver(struct sg_request *q)
{
	q->comm->ops->release(q->comm->tp, &q->r);
	free(q->payload);
	q->payload = NULL;
	return sg_request_deliver(q);
}

int sg_request_deliver(struct sg_request *q)
{
	struct sg_comm *comm = q->comm;
	const struct sg_wire_msg req = q->msg;
	int err;

	q->msg = (struct sg_wire_msg){
		.type = SG_WIRE_RESULT,
		.flags = q->kind == SG_REQ_DELIVER ? SG_WIRE_F_BCAST : 0,
		.dtype = (uint8_t)q->r.dtype,
		.op = (uint8_t)q->r.op,
		.coll_id = q->r.coll_id,
		.count = q->r.count,
		.msg_len = q->r.msg_len,
		.nonce = sg_comm_nonce(comm),
		.seg_first = req.seg_first,
		.seg = req.seg,
		.nsegs = req.nsegs,
		.whole_len = (uint32_t)(req.whole_count * sg_datatype_size(q->r.dtype)),
		.whole_count = req.whole_count,
	};
	q->r.coll_id |= SG_COLL_ACK;
	q->r.nonce = q->msg.nonce;
	q->r.dtype = SG_UINT8;
	q->r.op = SG_OP_BOR;
	q->r.count = 1;
	q->r.msg_len = 1;
	q->r.target = (uint32_t)comm->nworkers;
	err = comm->ops->arm(comm->tp, &q->r);
	if (err)
		return err;
	sg_comm_mark_posted(comm, q->r.coll_id, q->r.nonce);
	q->phase = 1;
	return sg_request_restart(q);
}

int sg_allgather_undelivered(struct sg_request *q, int werr)
{
	struct sg_comm *comm = q->comm;
	uint64_t acked[SG_WORKER_WORDS];
	unsigned int nacked;

	if (comm->ops->report(comm->tp, &q->r, acked, &nacked))
		return sg_outcome(werr, "collective %u: the result reached only some workers "
				  "within %d ms", q->r.coll_id & ~SG_COLL_ACK, q->timeout_ms);
	return sg_outcome(werr, "collective %u: %u of %zu workers acknowledged the result within "
			  "%d ms", q->r.coll_id & ~SG_COLL_ACK, nacked, comm->nworkers,
			  q->timeout_ms);
}
