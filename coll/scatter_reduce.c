// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Scatter-reduce: one request out, every worker's vector reduced in the
 * transport, one result back. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "coll/comm.h"
#include "coll/log.h"

#define SG_PARAMS_KNOWN \
	(offsetof(struct sg_reduce_params, contributors_words) + sizeof(size_t))

/* Check the arguments and work out how many workers complete the collective. */
static int check_args(const struct sg_comm *comm, const void *request, size_t request_len,
		      const void *result, size_t count, enum sg_datatype dt, enum sg_op op,
		      const struct sg_reduce_params *p, uint32_t *target)
{
	size_t words = (comm->nworkers + 63) / 64;
	int err;

	if (!result)
		return sg_fail(-EINVAL, "result must not be NULL");
	if (!request && request_len)
		return sg_fail(-EINVAL, "request is NULL but request_len is %zu", request_len);
	if (request_len > SG_MAX_MESSAGE_BYTES)
		return sg_fail(-E2BIG, "request of %zu bytes, at most %u", request_len,
			       SG_MAX_MESSAGE_BYTES);
	if ((unsigned int)dt >= SG_DATATYPE_COUNT)
		return sg_fail(-EINVAL, "unknown datatype %d", (int)dt);
	if ((unsigned int)op >= SG_OP_COUNT)
		return sg_fail(-EINVAL, "unknown op %d", (int)op);
	if (count == 0)
		return sg_fail(-EINVAL, "count is 0");
	if (count > SG_MAX_MESSAGE_BYTES / sg_datatype_size(dt))
		return sg_fail(-E2BIG, "%zu elements of %zu bytes exceed %u bytes", count,
			       sg_datatype_size(dt), SG_MAX_MESSAGE_BYTES);
	*target = (uint32_t)comm->nworkers;
	if (!p)
		return 0;
	err = sg_opts_check(p, p->sz, SG_PARAMS_KNOWN, "sg_reduce_params");
	if (err)
		return err;
	switch (p->policy) {
	case SG_WAIT_ALL:
		break;
	case SG_WAIT_ANY:
		*target = 1;
		break;
	case SG_WAIT_N:
		if (p->n == 0 || p->n > comm->nworkers)
			return sg_fail(-EINVAL, "SG_WAIT_N with n = %u; must be 1..%zu", p->n,
				       comm->nworkers);
		*target = p->n;
		break;
	default:
		return sg_fail(-EINVAL, "unknown policy %d", (int)p->policy);
	}
	if (p->contributors && p->contributors_words < words)
		return sg_fail(-EINVAL, "contributors holds %zu words; %zu workers need %zu",
			       p->contributors_words, comm->nworkers, words);
	return 0;
}

int sg_reduce_common(struct sg_comm *comm, const void *request, size_t request_len,
		     void *result, size_t count, enum sg_datatype dt, enum sg_op op,
		     struct sg_reduce_params *p, struct sg_tp_reduce *r)
{
	uint64_t contributors[SG_WORKER_WORDS];
	unsigned int ncontrib = 0;
	struct sg_wire_msg m;
	int timeout, err, werr;

	if (!comm)
		return sg_fail(-EINVAL, "comm must not be NULL");
	err = check_args(comm, request, request_len, result, count, dt, op, p, &r->target);
	if (err)
		return err;
	timeout = !p || p->timeout_ms == 0 ? SG_DEFAULT_TIMEOUT_MS : p->timeout_ms;

	r->coll_id = comm->next_coll_id++;
	r->nonce = sg_comm_nonce(comm);
	r->dtype = dt;
	r->op = op;
	r->count = (uint32_t)count;
	r->msg_len = (uint32_t)(count * sg_datatype_size(dt));
	err = comm->ops->arm(comm->tp, r);
	if (err)
		return err;

	m = (struct sg_wire_msg){
		.type = SG_WIRE_SCATTER,
		.dtype = (uint8_t)dt,
		.op = (uint8_t)op,
		.coll_id = r->coll_id,
		.count = r->count,
		.msg_len = (uint32_t)request_len,
		.nonce = r->nonce,
	};
	err = sg_comm_send_msg(comm, &m, request);
	if (err)
		return err;
	werr = comm->ops->wait(comm->tp, r, timeout);
	if (werr && werr != -ETIMEDOUT)
		return werr;
	err = comm->ops->collect(comm->tp, r, result, contributors, &ncontrib, !werr);
	if (err)
		return err;
	if (p) {
		p->ncontributors = ncontrib;
		if (p->contributors)
			memcpy(p->contributors, contributors,
			       (comm->nworkers + 63) / 64 * sizeof(uint64_t));
	}
	if (werr)
		return sg_fail(werr, "collective %u: %u of %u workers contributed within %d ms",
			       r->coll_id, ncontrib, r->target, timeout);
	return 0;
}

int sg_scatter_reduce(sg_comm *comm, const void *request, size_t request_len, void *result,
		      size_t count, enum sg_datatype dt, enum sg_op op,
		      struct sg_reduce_params *params)
{
	struct sg_tp_reduce r;

	return sg_reduce_common(comm, request, request_len, result, count, dt, op, params, &r);
}
