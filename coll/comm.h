/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The communicator and what every collective shares: argument checks, sending
 * a message in chunks, collective ids and nonces. */
#ifndef SG_COMM_H
#define SG_COMM_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

#include "sgbpf.h"
#include "coll/wire.h"
#include "transport/transport.h"

struct sg_comm {
	char ifname[IF_NAMESIZE];
	int ifindex;
	struct sockaddr_in local;
	struct sockaddr_in *workers;
	size_t nworkers;
	int sock;			/* bound to local; sends requests */
	const struct sg_transport_ops *ops;
	struct sg_transport *tp;
	int busy_poll;
	int pass_responses;
	char *agg_object;
	char *agg_program;
	uint32_t next_coll_id;
	uint64_t inflight[SG_SLOTS / 64];	/* slots of requests not yet freed */
	double srtt_ms;			/* smoothed service time, 0: none yet */
	long long last_done_us;		/* when the last collective completed */
	long long rto_floor_us;		/* since the last clean sample, see request.c */
	uint64_t retransmits;
	uint64_t nonce_state;
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
	uint8_t rx[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES + 1];	/* passed-on responses */
};

enum sg_request_kind {
	SG_REQ_REDUCE,
	SG_REQ_ALLGATHER,
	SG_REQ_BCAST,
};

/* A collective in flight. */
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
};

/* Start a reduce or allgather: check arguments, take a slot, arm the
 * transport, send the request. */
int sg_request_post_reduce(struct sg_comm *comm, enum sg_request_kind kind, const void *request,
			   size_t request_len, void *result, size_t count, enum sg_datatype dt,
			   enum sg_op op, struct sg_reduce_params *params, struct sg_request **req);

/* A request that is complete once created (a broadcast already sent). */
struct sg_request *sg_request_sent(struct sg_comm *comm);

/* A collective id whose slot is free (and mark it taken), or -EBUSY. */
int sg_comm_take_id(struct sg_comm *comm, uint32_t *coll_id);
void sg_comm_free_id(struct sg_comm *comm, uint32_t coll_id);

/* Send message @m with payload @payload (m->msg_len bytes), one datagram per
 * chunk, to every worker, or to worker @to only when it is not NULL. */
int sg_comm_send_msg(struct sg_comm *comm, const struct sg_wire_msg *m, const void *payload,
		     const struct sockaddr_in *to);

/* A fresh random token for a collective. */
uint64_t sg_comm_nonce(struct sg_comm *comm);

/* Check a caller's options struct: @sz must cover at least the first field and
 * any bytes past what this library knows (@known) must be zero. */
int sg_opts_check(const void *opts, size_t sz, size_t known, const char *name);


#endif
