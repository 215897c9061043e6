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
	uint32_t next_coll_id;
	uint64_t nonce_state;
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
};

/* Send message @m with payload @payload (m->msg_len bytes) to every worker,
 * one datagram per chunk. */
int sg_comm_send_msg(struct sg_comm *comm, const struct sg_wire_msg *m, const void *payload);

/* A fresh random token for a collective. */
uint64_t sg_comm_nonce(struct sg_comm *comm);

/* Check a caller's options struct: @sz must cover at least the first field and
 * any bytes past what this library knows (@known) must be zero. */
int sg_opts_check(const void *opts, size_t sz, size_t known, const char *name);

/* Shared body of sg_scatter_reduce() and sg_allgather(). */
int sg_reduce_common(struct sg_comm *comm, const void *request, size_t request_len,
		     void *result, size_t count, enum sg_datatype dt, enum sg_op op,
		     struct sg_reduce_params *params, struct sg_tp_reduce *r);

#endif
