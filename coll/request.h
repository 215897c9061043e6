/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A collective in flight and its lifecycle (coll/request.c): post, test or
 * wait with retransmission, finish. The collectives (scatter_reduce.c,
 * allgather.c, bcast.c) post their requests through it. */
#ifndef SG_COLL_REQUEST_H
#define SG_COLL_REQUEST_H

#include "coll/comm.h"

enum sg_request_kind {
	SG_REQ_REDUCE,
	SG_REQ_ALLGATHER,
	SG_REQ_BCAST,		/* sent and forgotten */
	SG_REQ_DELIVER,		/* a segment of a longer broadcast: acknowledged */
};

/* What to post: a whole collective, or one segment of a longer one. */
struct sg_post {
	enum sg_request_kind kind;
	const void *request;
	size_t request_len;
	void *result;		/* DELIVER: the bytes to deliver */
	const void *own;	/* allreduce: the coordinator's contribution */
	size_t count;
	enum sg_datatype dt;
	enum sg_op op;
	struct sg_reduce_params *params;
	uint32_t target;	/* workers that complete the reduction */
	int timeout_ms;		/* as given or defaulted, for the report */
	long long deadline_us;	/* -1: none */
	/* A segment (nsegs > 0): its place in the whole (sg_wire_segment_ok()). */
	uint32_t seg_first;
	uint16_t seg, nsegs;
	uint32_t whole_count;
};

struct sg_segmented;

struct sg_request {
	struct sg_comm *comm;
	enum sg_request_kind kind;
	struct sg_tp_reduce r;
	void *result;
	struct sg_reduce_params *params;
	int timeout_ms;			/* as given, for the report */
	long long posted_us;
	unsigned int ahead;		/* collectives in flight when it was posted */
	long long deadline_us;		/* -1: none */
	long long rto_us;		/* current retransmission timeout */
	long long next_rto_us;
	int phase;			/* allgather: 0 reducing, 1 delivering */
	unsigned int retries;
	unsigned int last_ndone;	/* workers done at the last retransmission */
	struct sg_wire_msg msg;		/* the request, for retransmission */
	void *payload;			/* its bytes (a copy) */
	struct sg_segmented *seg;	/* a segmented collective: its segments */
};

/* Start a reduce or allgather: check arguments, take a slot, arm the
 * transport, send the request. */
int sg_request_post_reduce(struct sg_comm *comm, enum sg_request_kind kind, const void *request,
			   size_t request_len, void *result, size_t count, enum sg_datatype dt,
			   enum sg_op op, struct sg_reduce_params *params, struct sg_request **req);
/* The same with the coordinator's own contribution @own (count elements;
 * may be @result itself) folded into the result: an allreduce (kind
 * SG_REQ_ALLGATHER) or, with SG_REQ_REDUCE, a reduce that includes it. */
int sg_request_post_reduce_own(struct sg_comm *comm, enum sg_request_kind kind,
			       const void *request, size_t request_len, const void *own,
			       void *result, size_t count, enum sg_datatype dt, enum sg_op op,
			       struct sg_reduce_params *params, struct sg_request **req);

/* Check the arguments of a reduction into @d (its target and timeout set). */
int sg_request_check(const struct sg_comm *comm, struct sg_post *d);

/* Post @d: take a slot, arm the transport, send the request (or, for
 * DELIVER, the message to acknowledge). */
int sg_request_post(struct sg_comm *comm, const struct sg_post *d, struct sg_request **req);

/* A request that is complete once created (a broadcast already sent). */
struct sg_request *sg_request_sent(struct sg_comm *comm);

/* Timeout of a collective moving @bytes when the caller gives none. */
int sg_request_default_timeout(size_t bytes);

/* Segmented collectives (coll/segment.c): post the whole @d, longer than a
 * segment, whose arguments are checked; move it on (as sg_test()/sg_wait(),
 * *@done set when it is over and freed). */
int sg_segmented_post(struct sg_comm *comm, const struct sg_post *d, struct sg_request **req);
/* Segments of a vector of @count elements of @dt for @nworkers workers: of
 * their share of @incast_bytes each for a reduction, whole segments for a
 * @delivery (a broadcast); at most SG_MAX_SEGS. */
uint32_t sg_segment_count(size_t nworkers, size_t incast_bytes, int delivery, size_t count,
			  enum sg_datatype dt);
/* Default bytes of answers all workers send for one segment of a reduction
 * (sg_comm_opts.incast_bytes). */
#define SG_SEG_INCAST_BYTES	(256u << 10)
int sg_segmented_progress(struct sg_request *q, int block, int *done);

/* Start a new phase of @q (its message in q->msg, its collective in q->r
 * armed): reset the retransmission state and send the message to every
 * worker. */
int sg_request_restart(struct sg_request *q);

/* Allgather (coll/allgather.c): turn @q, whose reduction is complete, into
 * the delivery of its result to every worker (complete once every worker
 * has acknowledged it); and the status of a delivery whose wait ended with
 * @werr, naming how many workers acknowledged. */
int sg_allgather_deliver(struct sg_request *q);
/* Arm @q (q->r holding the collective's id and the message's geometry) for
 * the acknowledgements of its message, a result at q->result, and send it. */
int sg_request_deliver(struct sg_request *q);
int sg_allgather_undelivered(struct sg_request *q, int werr);

#endif
