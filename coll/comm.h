/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The communicator and what every collective shares: sending a message in
 * chunks through the transport, collective ids and nonces. */
#ifndef SG_COMM_H
#define SG_COMM_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "sgbpf.h"
#include "common/codec.h"
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
	size_t incast_bytes;		/* sg_comm_opts.incast_bytes, the default resolved */
	unsigned int path_mtu;		/* to every worker (sg_comm_opts.mtu) */
	char *agg_object;
	char *agg_program;
	uint32_t next_coll_id;
	uint64_t inflight[SG_SLOTS / 64];	/* slots of requests not yet freed */
	struct {
		uint32_t coll_id;	/* what the slot collected last (id | ACK too) */
		uint64_t nonce;
		int armed;
	} posted[SG_SLOTS];
	double srtt_ms;			/* smoothed service time, 0: none yet */
	long long last_done_us;		/* when the last collective completed */
	long long rto_floor_us;		/* since the last clean sample, see request.c */
	uint64_t retransmits;
	uint64_t passed_dropped;	/* passed-on datagrams that failed the checks */
	__u64 key[2];		/* the authenticators' secret (sgbpf/wire.h) */
	uint64_t nonce_key[2];		/* nonces: a keyed PRF of a counter */
	uint64_t nonce_count;
	/* The datagrams of the message being sent: headers, and an iovec for
	 * each header and chunk (sg_wire_train()). */
	uint8_t train_hdrs[SG_MAX_CHUNKS * SG_WIRE_HDR_LEN];
	struct iovec train_iov[2 * SG_MAX_CHUNKS];
	uint8_t rx[SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD + 1];	/* passed-on responses */
};

/* Collective ids (coll/coll_id.c): one whose slot is free (and mark it
 * taken), or -EBUSY; give it back; and an id for a collective that takes no
 * slot (a broadcast). */
int sg_comm_take_id(struct sg_comm *comm, uint32_t *coll_id);
void sg_comm_free_id(struct sg_comm *comm, uint32_t coll_id);
uint32_t sg_comm_slotless_id(struct sg_comm *comm);
/* Record what the slot of @coll_id collects (armed in the transport; kept
 * until the slot's next collective), and ask whether (@coll_id, @nonce) is
 * what its slot collected last. */
void sg_comm_mark_posted(struct sg_comm *comm, uint32_t coll_id, uint64_t nonce);
bool sg_comm_is_posted(const struct sg_comm *comm, uint32_t coll_id, uint64_t nonce);
/* Collectives in flight now. */
unsigned int sg_comm_inflight(const struct sg_comm *comm);

/* Send message @m with payload @payload (m->msg_len bytes), one datagram per
 * chunk, through the transport: to every worker, or with @rank >= 0 to that
 * worker only (a retransmission). */
int sg_comm_send_msg(struct sg_comm *comm, const struct sg_wire_msg *m, const void *payload,
		     long rank);

/* Whether a datagram passed on to the socket (pass_responses) is a
 * contribution the XDP program would have taken: from a worker (its rank in
 * *@rank), well formed (*@h decoded), with that worker's authenticator, for
 * a collective this communicator posted last in its slot. 0, -EBADMSG,
 * -EPERM (forged) or -ESTALE. */
int sg_comm_check_passed(const struct sg_comm *comm, const void *buf, size_t len,
			 const struct sockaddr_in *from, struct sg_wire_hdr *h, size_t *rank);

/* A fresh nonce for a collective: unpredictable to anyone without the
 * communicator's secret, whatever nonces they saw. */
uint64_t sg_comm_nonce(struct sg_comm *comm);


#endif
