// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Segmented collectives. A vector or broadcast longer than one segment
 * (SG_MAX_SEGMENT_BYTES) runs as collectives of one segment each
 * (sg_wire_seg_elems() elements), SG_SEG_WINDOW of them in flight at once,
 * each with its own slot, accumulators, retransmissions and deadline (the
 * whole's), so a lost segment is recovered like any collective. The header
 * links them (seg_first, seg, nsegs, whole_*): workers deliver a request once
 * and answer each segment from their one answer, and deliver a result or a
 * broadcast whole.
 *
 * The report of a segmented reduction names one set of workers. On time, it
 * is every worker (segments take SG_WAIT_ALL only). After -ETIMEDOUT, it is
 * the done set shared by the segments that keep the most of the result; the
 * parts of those segments are as each reported them, and every part of the
 * others (never posted ones included) is missing and holds the op's identity.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coll/request.h"
#include "common/clock.h"
#include "common/datatype.h"
#include "common/log.h"
#include "common/opts.h"

/* Segments in flight at once: the next segment's request is out while the
 * workers' answers to the last one arrive. */
#define SG_SEG_WINDOW 2
/* The least a segment asks of each worker: every segment costs a round
 * trip, and under loss a retransmission timeout, so a 64 MiB vector of
 * 16 KiB segments (fan-out 16) took 141 s at 1% loss in test_loss where
 * 64 KiB segments take a few seconds. */
#define SG_SEG_MIN_BYTES	(SG_MAX_WHOLE_BYTES / SG_MAX_SEGS)
/* Bytes of contributions all workers send for one segment
 * (sg_comm_opts.incast_bytes, SG_SEG_INCAST_BYTES by default): they arrive
 * at once (incast), and what a receive path queues is bounded (a NIC's
 * ring; on a veth lab with XDP attached, the 256 frames of the veth's XDP
 * ring). A segment is this share of it per worker, at least
 * SG_SEG_MIN_BYTES and at most a whole segment (SG_MAX_SEGMENT_BYTES), so
 * past 4 workers each answers 64 KiB per segment; a lone worker,
 * whose answers are one stream, takes whole segments. Vectors of one
 * segment are split too when their answers together pass the share
 * (request.c): a 256 KiB allreduce at 8 ranks runs as 4 segments (docs/design.md,
 * "Segments", has the measurements).
 * Deliveries (results, broadcasts) are fanned out in bounded bursts already
 * (SG_FANOUT_BURST) and go in whole segments. */

struct sg_seg_outcome {
	int posted;
	int status;
	struct sg_reduce_params p;	/* its report */
	uint64_t done[SG_WORKER_WORDS];
	uint64_t missing[SG_MISSING_WORDS];
};

struct sg_segmented {
	struct sg_post whole;
	uint32_t nsegs, next;		/* segments; the next to post */
	size_t elems;			/* of each segment but the last */
	struct sg_request *fly[SG_SEG_WINDOW];
	uint32_t fly_seg[SG_SEG_WINDOW];
	unsigned int nfly;
	struct sg_seg_outcome *out;	/* per segment */
};

static size_t seg_count(const struct sg_segmented *sg, uint32_t i)
{
	size_t first = (size_t)i * sg->elems;

	return sg->whole.count - first < sg->elems ? sg->whole.count - first : sg->elems;
}

static int expired(const struct sg_segmented *sg)
{
	return sg->whole.deadline_us >= 0 && sg_now_us() >= sg->whole.deadline_us;
}

static int post_segment(struct sg_request *q, uint32_t i)
{
	struct sg_segmented *sg = q->seg;
	struct sg_seg_outcome *o = &sg->out[i];
	size_t size = sg_datatype_size(sg->whole.dt), e = sg->elems;
	struct sg_post d = sg->whole;
	int err;

	d.seg = (uint16_t)i;
	d.nsegs = (uint16_t)sg->nsegs;
	d.count = seg_count(sg, i);
	d.result = (uint8_t *)sg->whole.result + i * e * size;
	if (d.own)
		d.own = (const uint8_t *)sg->whole.own + i * e * size;
	d.params = NULL;
	if (d.kind != SG_REQ_DELIVER) {
		o->p = (struct sg_reduce_params){
			.sz = sizeof(o->p),
			.policy = SG_WAIT_ALL,
			.contributors = o->done,
			.contributors_words = SG_WORKER_WORDS,
			.missing = o->missing,
			.missing_words = SG_MISSING_WORDS,
		};
		d.params = &o->p;
	}
	err = sg_request_post(q->comm, &d, &sg->fly[sg->nfly]);
	if (err)
		return err;
	if (i == 0)
		sg->whole.seg_first = q->r.coll_id = sg->fly[sg->nfly]->r.coll_id & ~SG_COLL_ACK;
	sg->fly_seg[sg->nfly++] = i;
	o->posted = 1;
	sg->next++;
	return 0;
}

/* Post segments while the window has room. A full communicator (slots or
 * accumulators) waits for the segments in flight; with none, it is the
 * caller's error. Past the deadline, the rest are never posted. */
static int fill_window(struct sg_request *q)
{
	struct sg_segmented *sg = q->seg;

	while (sg->nfly < SG_SEG_WINDOW && sg->next < sg->nsegs) {
		int err;

		if (expired(sg)) {
			sg->next = sg->nsegs;
			break;
		}
		err = post_segment(q, sg->next);
		if (err && sg->nfly && (err == -EBUSY || err == -ENOSPC))
			break;
		if (err)
			return err;
	}
	return 0;
}

/* Segment in flight @k is over with @status. */
static void land(struct sg_segmented *sg, unsigned int k, int status)
{
	sg->out[sg->fly_seg[k]].status = status;
	sg->nfly--;
	memmove(&sg->fly[k], &sg->fly[k + 1], (sg->nfly - k) * sizeof(sg->fly[0]));
	memmove(&sg->fly_seg[k], &sg->fly_seg[k + 1], (sg->nfly - k) * sizeof(sg->fly_seg[0]));
}

static int same_set(const uint64_t *a, const uint64_t *b)
{
	return !memcmp(a, b, SG_WORKER_WORDS * sizeof(*a));
}

/* Whether segment @o's reduction ended with a report (complete or timed out,
 * its delivery aside). */
static int reported(const struct sg_seg_outcome *o)
{
	return o->posted && (o->status == 0 || o->status == -ETIMEDOUT);
}

/* Elements of segment @i its report keeps (not missing). */
static size_t kept(const struct sg_segmented *sg, uint32_t i)
{
	const struct sg_seg_outcome *o = &sg->out[i];

	return reported(o) ? seg_count(sg, i) - o->p.nmissing : 0;
}

/* The segment whose done set keeps the most of the result, over every
 * segment with the same set. */
static uint32_t best_set(const struct sg_segmented *sg)
{
	uint32_t best = 0;
	size_t most = 0;

	for (uint32_t i = 0; i < sg->nsegs; i++) {
		size_t sum = 0;

		if (!reported(&sg->out[i]))
			continue;
		for (uint32_t j = 0; j < sg->nsegs; j++)
			if (reported(&sg->out[j]) && same_set(sg->out[i].done, sg->out[j].done))
				sum += kept(sg, j);
		if (sum > most) {
			most = sum;
			best = i;
		}
	}
	return best;
}

/* Settle the whole reduction: its report, the parts of segments outside the
 * chosen set made missing. Returns the status. */
static int settle_reduction(struct sg_request *q)
{
	struct sg_segmented *sg = q->seg;
	struct sg_reduce_params *p = sg->whole.params;
	size_t size = sg_datatype_size(sg->whole.dt), e = sg->elems;
	size_t cb = sg_response_chunk_bytes(sg->whole.dt), pps = e * size / cb, nmissing = 0;
	size_t nparts = (sg->whole.count * size + cb - 1) / cb;
	const struct sg_seg_outcome *c = &sg->out[best_set(sg)];
	unsigned int ndelivered = 0, nreduced = 0;
	int has_missing = p && SG_OPTS_HAS(p, missing_words) && p->missing;

	if (has_missing)
		memset(p->missing, 0, (nparts + 63) / 64 * sizeof(uint64_t));
	for (uint32_t i = 0; i < sg->nsegs; i++) {
		const struct sg_seg_outcome *o = &sg->out[i];
		size_t n = seg_count(sg, i), parts = (n * size + cb - 1) / cb;
		int keep = reported(o) && same_set(o->done, c->done);

		ndelivered += o->posted && o->status == 0;
		nreduced += reported(o) && o->p.nmissing == 0 && o->p.ncontributors == sg->whole.target;
		if (keep)
			nmissing += o->p.nmissing;
		else {
			sg_fill_identity(sg->whole.dt, sg->whole.op,
					 (uint8_t *)sg->whole.result + i * e * size, n);
			nmissing += n;
		}
		for (size_t k = 0; has_missing && k < parts; k++)
			if (!keep || (o->missing[k / 64] >> (k % 64) & 1))
				p->missing[(i * pps + k) / 64] |= 1ULL << ((i * pps + k) % 64);
	}
	if (p) {
		p->ncontributors = c->p.ncontributors;
		if (p->contributors)
			memcpy(p->contributors, c->done,
			       (q->comm->nworkers + 63) / 64 * sizeof(uint64_t));
		if (SG_OPTS_HAS(p, missing_words))
			p->nmissing = nmissing;
	}
	if (nreduced < sg->nsegs)
		return sg_outcome(-ETIMEDOUT, "collective %u: %u of %u workers contributed to every "
				  "segment kept (%u segments, %u reduced in full) within %d ms; %zu "
				  "of %zu elements missing", q->r.coll_id, c->p.ncontributors,
				  sg->whole.target, sg->nsegs, nreduced, sg->whole.timeout_ms,
				  nmissing, sg->whole.count);
	if (sg->whole.kind == SG_REQ_ALLGATHER && ndelivered < sg->nsegs)
		return sg_outcome(-ETIMEDOUT, "collective %u: the result reached every worker in "
				  "%u of its %u segments within %d ms", q->r.coll_id, ndelivered,
				  sg->nsegs, sg->whole.timeout_ms);
	return 0;
}

static int settle(struct sg_request *q)
{
	struct sg_segmented *sg = q->seg;
	unsigned int ndelivered = 0;
	int err;

	if (sg->whole.kind != SG_REQ_DELIVER) {
		err = settle_reduction(q);
	} else {
		for (uint32_t i = 0; i < sg->nsegs; i++)
			ndelivered += sg->out[i].posted && sg->out[i].status == 0;
		err = ndelivered == sg->nsegs ? 0 :
		      sg_outcome(-ETIMEDOUT, "broadcast %u of %zu bytes: %u of its %u segments "
				 "reached every worker within %d ms", q->r.coll_id,
				 sg->whole.count, ndelivered, sg->nsegs, sg->whole.timeout_ms);
	}
	free(sg->out);
	free(sg);
	free(q);
	return err;
}

int sg_segmented_progress(struct sg_request *q, int block, int *done)
{
	struct sg_segmented *sg = q->seg;

	*done = 0;
	for (;;) {
		int err = fill_window(q);

		if (err)
			return err;
		for (unsigned int k = 0; k < sg->nfly;) {
			int d, st = sg_test(&sg->fly[k], &d);

			if (d)
				land(sg, k, st);
			else if (st)
				return st;	/* a failed wait: the request stays */
			else
				k++;
		}
		if (!sg->nfly && sg->next == sg->nsegs)
			break;
		if (!block)
			return 0;
		if (sg->nfly) {	/* the oldest first: segments complete in order */
			int st = sg_wait(&sg->fly[0]);

			if (sg->fly[0])
				return st;
			land(sg, 0, st);
		}
	}
	*done = 1;
	return settle(q);
}

uint32_t sg_segment_count(size_t nworkers, size_t incast_bytes, int delivery, size_t count,
			  enum sg_datatype dt)
{
	size_t size = sg_datatype_size(dt), k = sg_response_chunk_bytes(dt) / size;
	size_t bytes = SG_MAX_SEGMENT_BYTES, elems, fewest;

	if (!delivery && nworkers > 1 && incast_bytes / nworkers < bytes) {
		bytes = incast_bytes / nworkers;
		if (bytes < SG_SEG_MIN_BYTES)
			bytes = SG_SEG_MIN_BYTES;
	}
	elems = bytes / size / k * k;
	/* Whole chunks round a segment down: never past SG_MAX_SEGS of them. */
	fewest = ((count + SG_MAX_SEGS - 1) / SG_MAX_SEGS + k - 1) / k * k;
	if (elems < fewest)
		elems = fewest;
	if (elems > sg_wire_seg_max_elems(dt))
		elems = sg_wire_seg_max_elems(dt);
	return (uint32_t)((count + elems - 1) / elems);
}

int sg_segmented_post(struct sg_comm *comm, const struct sg_post *d, struct sg_request **out)
{
	struct sg_request *q = calloc(1, sizeof(*q));
	struct sg_segmented *sg = calloc(1, sizeof(*sg));
	int err;

	if (q && sg) {
		sg->nsegs = sg_segment_count(comm->nworkers, comm->incast_bytes,
					     d->kind == SG_REQ_DELIVER, d->count, d->dt);
		sg->elems = sg_wire_seg_elems((uint32_t)d->count, sg->nsegs, d->dt);
		sg->out = calloc(sg->nsegs, sizeof(*sg->out));
	}
	if (!q || !sg || !sg->out) {
		free(sg ? sg->out : NULL);
		free(sg);
		free(q);
		return sg_fail(-ENOMEM, "out of memory");
	}
	sg->whole = *d;
	sg->whole.whole_count = (uint32_t)d->count;
	q->comm = comm;
	q->kind = d->kind;
	q->result = d->result;
	q->params = d->params;
	q->seg = sg;
	err = fill_window(q);
	if (err && !sg->nfly) {
		free(sg->out);
		free(sg);
		free(q);
		return err;
	}
	/* A later segment that could not be posted is posted again as the
	 * request moves on (and fails it then if it still cannot). */
	*out = q;
	return 0;
}
