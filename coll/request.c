// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The lifecycle of a collective: post (check, take a slot, arm, send), test or
 * wait (until complete or past its deadline, sending the request again to the
 * workers that have not answered each time the retransmission timeout runs
 * out), finish (collect the result and the report, re-broadcast an
 * allgather's result, free the slot). Blocking collectives are a post followed
 * by a wait.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coll/request.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/opts.h"


/* Retransmission timeout: twice the smoothed service time for each
 * collective in flight when it was posted, itself included (they are served
 * before it), plus the time the data takes to arrive at a modest 64 MB/s, at
 * least 5 ms. It doubles
 * after a round in which fewer than half the missing workers completed (so
 * steady loss, which each round mostly repairs, does not inflate it), up to
 * 1 s or four times the transfer time if that is longer. */
#define SG_RTO_MIN_US		5000LL
#define SG_RTO_MAX_US		1000000LL
#define SG_RTO_BYTES_PER_US	64

static long long transfer_us(const struct sg_comm *comm, const struct sg_request *q)
{
	/* Contributions in, and for an allgather's delivery the result out. */
	uint64_t bytes = (uint64_t)q->r.msg_len * q->r.target + (uint64_t)q->msg.msg_len *
			 (q->phase ? comm->nworkers : 1);

	return (long long)(bytes / SG_RTO_BYTES_PER_US);
}

static long long rto_cap(const struct sg_comm *comm, const struct sg_request *q)
{
	long long cap = 4 * transfer_us(comm, q);

	return cap > SG_RTO_MAX_US ? cap : SG_RTO_MAX_US;
}

static long long initial_rto(const struct sg_comm *comm, const struct sg_request *q)
{
	long long rto = (long long)(2 * comm->srtt_ms * 1000 * (q->ahead + 1)) + SG_RTO_MIN_US +
			transfer_us(comm, q);

	if (rto < comm->rto_floor_us)
		rto = comm->rto_floor_us;

	return rto < rto_cap(comm, q) ? rto : rto_cap(comm, q);
}

/* Parts of a result of @count elements of @dt: its contribution chunks. */
static size_t parts_of(size_t count, enum sg_datatype dt)
{
	size_t cb = sg_response_chunk_bytes(dt);

	return (count * sg_datatype_size(dt) + cb - 1) / cb;
}

int sg_request_default_timeout(size_t bytes)
{
	size_t per = 16u << 20;

	return SG_DEFAULT_TIMEOUT_MS * (int)(bytes ? (bytes + per - 1) / per : 1);
}

int sg_request_check(const struct sg_comm *comm, struct sg_post *d)
{
	const struct sg_reduce_params *p = d->params;
	size_t words = (comm->nworkers + 63) / 64, size;
	int err;

	if (!d->result)
		return sg_fail(-EINVAL, "result must not be NULL");
	if (!d->request && d->request_len)
		return sg_fail(-EINVAL, "request is NULL but request_len is %zu", d->request_len);
	if (d->request_len > SG_MAX_SEGMENT_BYTES)
		return sg_fail(-E2BIG, "request of %zu bytes, at most %u", d->request_len,
			       SG_MAX_SEGMENT_BYTES);
	if ((unsigned int)d->dt >= SG_DATATYPE_COUNT)
		return sg_fail(-EINVAL, "unknown datatype %d", (int)d->dt);
	if (d->op == SG_OP_USER && !comm->agg_object)
		return sg_fail(-EINVAL, "SG_OP_USER needs an aggregation program (agg_object)");
	if (!sg_wire_op_valid(d->dt, d->op))
		return sg_fail(-EINVAL, "op %d is not defined on datatype %d", (int)d->op, (int)d->dt);
	if (d->count == 0)
		return sg_fail(-EINVAL, "count is 0");
	size = sg_datatype_size(d->dt);
	if (d->count > SG_MAX_MESSAGE_BYTES / size)
		return sg_fail(-E2BIG, "%zu elements of %zu bytes exceed %u bytes", d->count, size,
			       SG_MAX_MESSAGE_BYTES);
	if (d->own && d->op == SG_OP_USER)
		return sg_fail(-EOPNOTSUPP, "an aggregation program (SG_OP_USER) runs in the kernel "
			       "only: it cannot fold the coordinator's own contribution");
	if (d->own && d->own != d->result &&
	    (const uint8_t *)d->own < (const uint8_t *)d->result + d->count * size &&
	    (const uint8_t *)d->result < (const uint8_t *)d->own + d->count * size)
		return sg_fail(-EINVAL, "contribution and result overlap without being the same "
			       "buffer (in place)");
	d->target = (uint32_t)comm->nworkers;
	d->timeout_ms = !p || p->timeout_ms == 0 ? sg_request_default_timeout(d->count * size)
						 : p->timeout_ms;
	if (!p)
		return 0;
	err = SG_OPTS_CHECK(sg_reduce_params, p);
	if (err)
		return err;
	switch (p->policy) {
	case SG_WAIT_ALL:
		break;
	case SG_WAIT_ANY:
		d->target = 1;
		break;
	case SG_WAIT_N:
		if (p->n == 0 || p->n > comm->nworkers)
			return sg_fail(-EINVAL, "SG_WAIT_N with n = %u; must be 1..%zu", p->n,
				       comm->nworkers);
		d->target = p->n;
		break;
	default:
		return sg_fail(-EINVAL, "unknown policy %d", (int)p->policy);
	}
	if (p->policy != SG_WAIT_ALL && d->count * size > SG_MAX_SEGMENT_BYTES)
		return sg_fail(-EOPNOTSUPP, "a vector of %zu bytes is reduced in segments, which "
			       "take SG_WAIT_ALL only (first-N sets could differ between segments); "
			       "at most %u bytes with policy %d", d->count * size,
			       SG_MAX_SEGMENT_BYTES, (int)p->policy);
	if (p->contributors && p->contributors_words < words)
		return sg_fail(-EINVAL, "contributors holds %zu words; %zu workers need %zu",
			       p->contributors_words, comm->nworkers, words);
	if (SG_OPTS_HAS(p, missing_words) && p->missing) {
		size_t parts = parts_of(d->count, d->dt);

		if (p->missing_words < (parts + 63) / 64)
			return sg_fail(-EINVAL, "missing holds %zu words; %zu parts need %zu",
				       p->missing_words, parts, (parts + 63) / 64);
	}
	return 0;
}

/* The message of @d, a segment's or a whole's: a request, or for DELIVER
 * nothing yet (its result message is built by sg_request_deliver()). */
static struct sg_wire_msg request_msg(const struct sg_post *d, uint32_t coll_id, uint64_t nonce)
{
	return (struct sg_wire_msg){
		.type = SG_WIRE_SCATTER,
		.dtype = (uint8_t)d->dt,
		.op = (uint8_t)d->op,
		.coll_id = coll_id,
		.count = (uint32_t)d->count,
		.msg_len = d->seg ? 0 : (uint32_t)d->request_len,	/* rides on segment 0 */
		.nonce = nonce,
		.seg_first = d->seg ? d->seg_first : coll_id,
		.seg = d->seg,
		.nsegs = d->nsegs,
		.whole_len = (uint32_t)d->request_len,
		.whole_count = d->whole_count,
	};
}

int sg_request_post(struct sg_comm *comm, const struct sg_post *d, struct sg_request **out)
{
	struct sg_request *q;
	int err;

	q = calloc(1, sizeof(*q));
	if (!q)
		return sg_fail(-ENOMEM, "out of memory");
	q->ahead = sg_comm_inflight(comm);
	err = sg_comm_take_id(comm, &q->r.coll_id);
	if (err) {
		free(q);
		return err;
	}
	q->comm = comm;
	q->kind = d->kind;
	q->result = d->result;
	q->params = d->params;
	q->timeout_ms = d->timeout_ms;
	q->posted_us = sg_now_us();
	q->deadline_us = d->deadline_us;
	q->r.dtype = d->dt;
	q->r.op = d->op;
	q->r.count = (uint32_t)d->count;
	q->r.msg_len = (uint32_t)(d->count * sg_datatype_size(d->dt));
	q->r.target = d->target;
	q->r.own = d->own;
	q->msg = request_msg(d, q->r.coll_id, 0);
	q->msg.answer_room = (uint8_t)sg_wire_room_for_mtu(comm->path_mtu);
	if (d->kind == SG_REQ_DELIVER) {
		err = sg_request_deliver(q);
		if (err) {
			if (q->phase)	/* armed, the send failed */
				comm->ops->release(comm->tp, &q->r);
			goto fail;
		}
		*out = q;
		return 0;
	}
	q->r.nonce = q->msg.nonce = sg_comm_nonce(comm);
	err = comm->ops->arm(comm->tp, &q->r);
	if (err)
		goto fail;
	sg_comm_mark_posted(comm, q->r.coll_id, q->r.nonce);
	if (q->msg.msg_len) {
		q->payload = malloc(q->msg.msg_len);
		if (!q->payload) {
			err = sg_fail(-ENOMEM, "out of memory");
			comm->ops->release(comm->tp, &q->r);
			goto fail;
		}
		memcpy(q->payload, d->request, q->msg.msg_len);
	}
	err = sg_request_restart(q);
	if (err) {
		comm->ops->release(comm->tp, &q->r);
		goto fail;
	}
	*out = q;
	return 0;
fail:
	sg_comm_free_id(comm, q->r.coll_id);
	free(q->payload);
	free(q);
	return err;
}

int sg_request_post_reduce(struct sg_comm *comm, enum sg_request_kind kind, const void *request,
			   size_t request_len, void *result, size_t count, enum sg_datatype dt,
			   enum sg_op op, struct sg_reduce_params *p, struct sg_request **out)
{
	return sg_request_post_reduce_own(comm, kind, request, request_len, NULL, result, count,
					  dt, op, p, out);
}

/* Whether a vector of one segment is still reduced in segments: all the
 * workers' answers would arrive at once past sg_comm_opts.incast_bytes
 * (segment.c).
 * Only where segments change nothing but the timing: every worker waited
 * for, the kernel's own folds, no responses passed on. */
static int incast_split(const struct sg_comm *comm, const struct sg_post *d)
{
	size_t bytes = d->count * sg_datatype_size(d->dt);

	return d->target == comm->nworkers && d->op != SG_OP_USER && !comm->pass_responses &&
	       comm->nworkers > 1 && bytes > comm->incast_bytes / comm->nworkers &&
	       sg_segment_count(comm->nworkers, comm->incast_bytes, 0, d->count, d->dt) > 1;
}

int sg_request_post_reduce_own(struct sg_comm *comm, enum sg_request_kind kind,
			       const void *request, size_t request_len, const void *own,
			       void *result, size_t count, enum sg_datatype dt, enum sg_op op,
			       struct sg_reduce_params *p, struct sg_request **out)
{
	struct sg_post d = { .kind = kind, .request = request, .request_len = request_len,
			     .result = result, .own = own, .count = count, .dt = dt, .op = op,
			     .params = p };
	int err;

	if (!comm || !out)
		return sg_fail(-EINVAL, "comm and req must not be NULL");
	err = sg_request_check(comm, &d);
	if (err)
		return err;
	d.deadline_us = d.timeout_ms < 0 ? -1 : sg_now_us() + d.timeout_ms * 1000LL;
	d.whole_count = (uint32_t)count;
	if (count * sg_datatype_size(dt) > SG_MAX_SEGMENT_BYTES || incast_split(comm, &d))
		return sg_segmented_post(comm, &d, out);
	return sg_request_post(comm, &d, out);
}

/* Send the request again to every worker whose contribution is incomplete.
 * Workers answer a repeated request with their cached answer. */
static int retransmit(struct sg_request *q)
{
	struct sg_comm *comm = q->comm;
	uint64_t done[SG_WORKER_WORDS];
	unsigned int ndone;
	int err;

	err = comm->ops->report(comm->tp, &q->r, done, &ndone);
	if (err)
		return err;
	for (size_t i = 0; i < comm->nworkers; i++) {
		if (done[i / 64] & (1ULL << (i % 64)))
			continue;
		err = sg_comm_send_msg(comm, &q->msg, q->phase ? q->result : q->payload, (long)i);
		if (err)
			return err;
		comm->retransmits++;
	}
	/* Back off only when nothing moved since the last round: under steady
	 * loss each round completes more workers and the timeout holds. */
	if (q->retries && (ndone - q->last_ndone) * 2 < q->r.target - q->last_ndone)
		q->rto_us = q->rto_us * 2 < rto_cap(comm, q) ? q->rto_us * 2 : rto_cap(comm, q);
	q->last_ndone = ndone;
	q->retries++;
	q->next_rto_us = sg_now_us() + q->rto_us;
	return 0;
}

int sg_request_restart(struct sg_request *q)
{
	q->retries = 0;
	q->last_ndone = 0;
	q->rto_us = initial_rto(q->comm, q);
	q->next_rto_us = sg_now_us() + q->rto_us;
	return sg_comm_send_msg(q->comm, &q->msg, q->phase ? q->result : q->payload, -1);
}

/* The reduction of @q is over (@werr 0 or -ETIMEDOUT): copy the result and
 * fill the report. */
static int collect(struct sg_request *q, int werr)
{
	struct sg_comm *comm = q->comm;
	struct sg_reduce_params *p = q->params;
	uint64_t contributors[SG_WORKER_WORDS], missing[SG_MISSING_WORDS];
	size_t per = sg_response_chunk_bytes(q->r.dtype) / sg_datatype_size(q->r.dtype);
	size_t nparts = parts_of(q->r.count, q->r.dtype), nmissing = 0;
	unsigned int ncontrib = 0;
	long long now;
	int err;

	err = comm->ops->collect(comm->tp, &q->r, q->result, contributors, &ncontrib, missing,
				 !werr);
	if (err)
		return err;
	for (size_t c = 0; c < nparts; c++)
		if (missing[c / 64] >> (c % 64) & 1)
			nmissing += c + 1 < nparts ? per : q->r.count - c * per;
	if (p) {
		p->ncontributors = ncontrib;
		if (p->contributors)
			memcpy(p->contributors, contributors,
			       (comm->nworkers + 63) / 64 * sizeof(uint64_t));
		if (SG_OPTS_HAS(p, missing_words)) {
			p->nmissing = nmissing;
			if (p->missing)
				memcpy(p->missing, missing, (nparts + 63) / 64 * sizeof(uint64_t));
		}
	}
	if (werr)
		return sg_outcome(werr, "collective %u: %u of %u workers contributed within %d ms; "
				  "%zu of %u elements missing", q->r.coll_id, ncontrib,
				  q->r.target, q->timeout_ms, nmissing, q->r.count);
	now = sg_now_us();
	if (!q->retries) {
		/* Karn: only collectives that needed no retransmission. The
		 * service time starts when the collective was posted or when
		 * the one before it completed, whichever is later, so that a
		 * window of collectives in flight does not count its queueing
		 * twice (initial_rto() multiplies by what was ahead). */
		long long from = q->posted_us > comm->last_done_us ? q->posted_us : comm->last_done_us;
		double ms = (now - from) / 1000.0;

		comm->srtt_ms = comm->srtt_ms ? comm->srtt_ms * 0.875 + ms * 0.125 : ms;
		comm->rto_floor_us = 0;
	} else if (!comm->srtt_ms) {
		/* Karn's rule leaves no sample when every collective is
		 * retransmitted, as when the first timeout (5 ms with no
		 * sample) is below the real completion time: the timeout
		 * would stay there, resending every collective. Until the
		 * first sample, the time a collective took (an upper bound)
		 * is a floor for the next, at most 8 times the first timeout
		 * so that loss from the start cannot ratchet it up. Once
		 * there are samples, loss backs off per collective only. */
		long long took = now - q->posted_us, most = 8 * (SG_RTO_MIN_US + transfer_us(comm, q));

		took = took < most ? took : most;
		if (took > comm->rto_floor_us)
			comm->rto_floor_us = took;
	}
	comm->last_done_us = now;
	return 0;
}

/* Settle @q after its wait ended with @werr. Returns 1 when an allgather
 * moves on to delivering its result, else the status, @q freed. */
static int finish(struct sg_request *q, int werr)
{
	struct sg_comm *comm = q->comm;
	int err = werr;

	if (q->kind == SG_REQ_BCAST)
		goto out;
	if (q->phase == 0) {
		err = collect(q, werr);
		if (!err && q->kind == SG_REQ_ALLGATHER) {
			err = sg_allgather_deliver(q);
			if (!err)
				return 1;
		}
	} else if (werr) {
		err = sg_allgather_undelivered(q, werr);
	}
out:
	if (q->kind != SG_REQ_BCAST) {
		comm->ops->release(comm->tp, &q->r);
		sg_comm_free_id(comm, q->r.coll_id);
	}
	free(q->payload);
	free(q);
	return err;
}

/* Look at @q, or with @block wait for it, retransmitting as its timeout runs
 * out, until it completes or its deadline passes. */
static int progress(struct sg_request *q, int block, int *done)
{
	struct sg_comm *comm = q->comm;
	int werr;

	if (q->seg)
		return sg_segmented_progress(q, block, done);
	*done = 1;
	if (q->kind == SG_REQ_BCAST)
		return finish(q, 0);
	for (;;) {
		long long now = sg_now_us(), until = q->next_rto_us;
		int slice;

		if (q->deadline_us >= 0 && q->deadline_us < until)
			until = q->deadline_us;
		slice = block ? (int)((until - now + 999) / 1000) : 0;
		werr = comm->ops->wait(comm->tp, &q->r, slice > 0 ? slice : 0);
		if (!werr) {
			int err = finish(q, 0);

			if (err == 1)
				continue;	/* an allgather's delivery began */
			return err;
		}
		if (werr != -EAGAIN && werr != -ETIMEDOUT) {
			/* A failed wait leaves the request to be waited on again. */
			*done = 0;
			return werr;
		}
		now = sg_now_us();
		if (q->deadline_us >= 0 && now >= q->deadline_us)
			return finish(q, -ETIMEDOUT);	/* never 1: the wait failed */
		if (now >= q->next_rto_us) {
			int err = retransmit(q);

			if (err) {
				*done = 0;
				return err;
			}
		}
		if (!block) {
			*done = 0;
			return 0;
		}
	}
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
