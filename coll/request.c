// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The lifecycle of a collective: post (check, take a slot, arm, send), test or
 * wait (until complete or past its deadline), finish (collect the result and
 * the report, re-broadcast an allgather's result, free the slot). Blocking
 * collectives are a post followed by a wait.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coll/comm.h"
#include "coll/log.h"


#define SG_PARAMS_KNOWN \
	(offsetof(struct sg_reduce_params, contributors_words) + sizeof(size_t))

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int sg_comm_take_id(struct sg_comm *comm, uint32_t *coll_id)
{
	for (uint32_t i = 0; i < SG_SLOTS; i++) {
		uint32_t id = comm->next_coll_id + i, s = id % SG_SLOTS;

		if (!(comm->inflight[s / 64] & (1ULL << (s % 64)))) {
			comm->inflight[s / 64] |= 1ULL << (s % 64);
			comm->next_coll_id = id + 1;
			*coll_id = id;
			return 0;
		}
	}
	return sg_fail(-EBUSY, "%u collectives in flight on this communicator; complete one first",
		       SG_SLOTS);
}

void sg_comm_free_id(struct sg_comm *comm, uint32_t coll_id)
{
	uint32_t s = coll_id % SG_SLOTS;

	comm->inflight[s / 64] &= ~(1ULL << (s % 64));
}

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
	if (op == SG_OP_USER && !comm->agg_object)
		return sg_fail(-EINVAL, "SG_OP_USER needs an aggregation program (agg_object)");
	if (!sg_wire_op_valid(dt, op))
		return sg_fail(-EINVAL, "op %d is not defined on datatype %d", (int)op, (int)dt);
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

int sg_request_post_reduce(struct sg_comm *comm, enum sg_request_kind kind, const void *request,
			   size_t request_len, void *result, size_t count, enum sg_datatype dt,
			   enum sg_op op, struct sg_reduce_params *p, struct sg_request **out)
{
	struct sg_request *q;
	struct sg_wire_msg m;
	uint32_t target = 0;
	int err;

	if (!comm || !out)
		return sg_fail(-EINVAL, "comm and req must not be NULL");
	err = check_args(comm, request, request_len, result, count, dt, op, p, &target);
	if (err)
		return err;
	q = calloc(1, sizeof(*q));
	if (!q)
		return sg_fail(-ENOMEM, "out of memory");
	err = sg_comm_take_id(comm, &q->r.coll_id);
	if (err) {
		free(q);
		return err;
	}
	q->comm = comm;
	q->kind = kind;
	q->result = result;
	q->params = p;
	q->timeout_ms = !p || p->timeout_ms == 0 ? SG_DEFAULT_TIMEOUT_MS : p->timeout_ms;
	q->deadline_ms = q->timeout_ms < 0 ? -1 : now_ms() + q->timeout_ms;
	q->r.nonce = sg_comm_nonce(comm);
	q->r.dtype = dt;
	q->r.op = op;
	q->r.count = (uint32_t)count;
	q->r.msg_len = (uint32_t)(count * sg_datatype_size(dt));
	q->r.target = target;
	err = comm->ops->arm(comm->tp, &q->r);
	if (err)
		goto fail;

	m = (struct sg_wire_msg){
		.type = SG_WIRE_SCATTER,
		.dtype = (uint8_t)dt,
		.op = (uint8_t)op,
		.coll_id = q->r.coll_id,
		.count = q->r.count,
		.msg_len = (uint32_t)request_len,
		.nonce = q->r.nonce,
	};
	err = sg_comm_send_msg(comm, &m, request);
	if (err) {
		comm->ops->release(comm->tp, &q->r);
		goto fail;
	}
	*out = q;
	return 0;
fail:
	sg_comm_free_id(comm, q->r.coll_id);
	free(q);
	return err;
}

/* Collect, report, re-broadcast an allgather result, free. @werr is the
 * outcome of the wait: 0 or -ETIMEDOUT. */
static int finish(struct sg_request *q, int werr)
{
	struct sg_comm *comm = q->comm;
	uint64_t contributors[SG_WORKER_WORDS];
	unsigned int ncontrib = 0;
	int err = werr;

	if (q->kind == SG_REQ_BCAST)
		goto out;
	err = comm->ops->collect(comm->tp, &q->r, q->result, contributors, &ncontrib, !werr);
	if (err)
		goto out;
	if (q->params) {
		q->params->ncontributors = ncontrib;
		if (q->params->contributors)
			memcpy(q->params->contributors, contributors,
			       (comm->nworkers + 63) / 64 * sizeof(uint64_t));
	}
	if (werr) {
		err = sg_fail(werr, "collective %u: %u of %u workers contributed within %d ms",
			      q->r.coll_id, ncontrib, q->r.target, q->timeout_ms);
		goto out;
	}
	if (q->kind == SG_REQ_ALLGATHER) {
		struct sg_wire_msg m = {
			.type = SG_WIRE_RESULT,
			.dtype = (uint8_t)q->r.dtype,
			.op = (uint8_t)q->r.op,
			.coll_id = q->r.coll_id,
			.count = q->r.count,
			.msg_len = q->r.msg_len,
			.nonce = q->r.nonce,
		};

		err = sg_comm_send_msg(comm, &m, q->result);
	}
out:
	if (q->kind != SG_REQ_BCAST) {
		comm->ops->release(comm->tp, &q->r);
		sg_comm_free_id(comm, q->r.coll_id);
	}
	free(q);
	return err;
}

/* Wait up to @timeout_ms (0: just look; negative: until the deadline). */
static int progress(struct sg_request *q, int block, int *done)
{
	long long left = q->deadline_ms < 0 ? -1 : q->deadline_ms - now_ms();
	int werr;

	*done = 1;
	if (q->kind == SG_REQ_BCAST)
		return finish(q, 0);
	if (!block)
		left = 0;
	else if (left < 0 && q->deadline_ms >= 0)
		left = 0;
	werr = q->comm->ops->wait(q->comm->tp, &q->r, (int)(left > 0 || left == 0 ? left : -1));
	if (werr == -EAGAIN || werr == -ETIMEDOUT) {
		if (q->deadline_ms < 0 || now_ms() < q->deadline_ms) {
			*done = 0;
			return 0;
		}
		werr = -ETIMEDOUT;
	} else if (werr) {
		/* A failed wait leaves the request to be waited on again. */
		*done = 0;
		return werr;
	}
	return finish(q, werr);
}

uint32_t sg_request_id(const sg_request *req)
{
	return req ? req->r.coll_id : 0;
}

int sg_test(sg_request **req, int *done)
{
	int d, err;

	if (!req || !*req || !done)
		return sg_fail(-EINVAL, "sg_test: req, *req and done must not be NULL");
	err = progress(*req, 0, &d);
	*done = d;
	if (d)
		*req = NULL;
	return err;
}

int sg_wait(sg_request **req)
{
	int d = 0, err;

	if (!req || !*req)
		return sg_fail(-EINVAL, "sg_wait: req and *req must not be NULL");
	do {
		err = progress(*req, 1, &d);
	} while (!d && !err);
	if (d)
		*req = NULL;
	return err;
}

int sg_waitall(size_t n, sg_request **reqs, int *statuses)
{
	int first = 0;

	if (n && !reqs)
		return sg_fail(-EINVAL, "sg_waitall: reqs must not be NULL");
	for (size_t i = 0; i < n; i++) {
		int err = reqs[i] ? sg_wait(&reqs[i]) : 0;

		if (statuses)
			statuses[i] = err;
		if (err && !first)
			first = err;
	}
	return first;
}

struct sg_request *sg_request_sent(struct sg_comm *comm)
{
	struct sg_request *q = calloc(1, sizeof(*q));

	if (q) {
		q->comm = comm;
		q->kind = SG_REQ_BCAST;
	}
	return q;
}
