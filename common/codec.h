/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Encoding and decoding of sgbpf datagrams in user space. The validity rules
 * are the wire format's own (sg_wire_framing_ok(), sg_wire_geometry_ok() in
 * sgbpf/wire.h), the same the kernel programs apply. */
#ifndef SG_COMMON_CODEC_H
#define SG_COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "common/udp.h"

/* The limits the public API promises are the datapath's, and the datapath's
 * limits fit the fields and bitmaps that carry them. */
_Static_assert(SG_MAX_MESSAGE_BYTES == SG_MAX_WHOLE_BYTES, "message limit: sgbpf.h vs wire.h");
_Static_assert(SG_MAX_SEGMENT_BYTES == SG_MAX_MSG_BYTES, "segment limit: sgbpf.h vs wire.h");
_Static_assert(SG_MAX_WORKERS_PER_COMM == SG_MAX_WORKERS, "worker limit: sgbpf.h vs limits.h");
_Static_assert(SG_MAX_INFLIGHT == SG_SLOTS, "collectives in flight: one slot each");
_Static_assert(SG_SLOTS % 64 == 0 && SG_MAX_WORKERS % 64 == 0, "whole bitmap words");
_Static_assert(SG_COLL_ACK % SG_SLOTS == 0, "an acknowledgement shares its collective's slot");
_Static_assert((SG_ACC_BYTES & (SG_ACC_BYTES - 1)) == 0, "SG_AGG_IDX masks accumulator offsets");
_Static_assert(SG_CHUNK_BYTES % 16 == 0 && SG_CHUNK_BYTES <= SG_ACC_BYTES,
	       "whole elements in a chunk, a chunk in an accumulator");
_Static_assert(20 + 8 + SG_WIRE_HDR_LEN + SG_CHUNK_BYTES <= 1500, "a chunk fits a 1500-byte MTU");
_Static_assert(SG_MAX_MSG_BYTES / (SG_ACC_BYTES / 8 * 2) <= SG_MAX_RESPONSE_CHUNKS &&
	       SG_MAX_CHUNKS <= SG_MAX_RESPONSE_CHUNKS,
	       "the smallest response chunks of the largest message");
_Static_assert(SG_MAX_RESPONSE_CHUNKS % 64 == 0, "whole bitmap words of chunks");
_Static_assert(SG_MAX_RESPONSE_CHUNKS <= 0xffff, "chunk counts travel in 16 bits");
_Static_assert(SG_UDP_GSO_SEGS <= SG_GSO_MAX_SEGS, "the fan-out program takes every GSO send");
_Static_assert(SG_MAX_RESPONSE_CHUNKS <= SG_POOL_CHUNKS, "the pool holds the largest collective");
_Static_assert(SG_MAX_SEGS % 64 == 0 && SG_MAX_SEGS <= 0xffff, "segments travel in 16 bits");

/* Coordinator messages travel in SG_CHUNK_BYTES chunks. */
static inline unsigned int sg_wire_nchunks(size_t len)
{
	return sg_wire_nchunks_of(len, SG_CHUNK_BYTES);
}

static inline size_t sg_wire_chunk_len(size_t len, unsigned int chunk)
{
	return sg_wire_chunk_len_of(len, chunk, SG_CHUNK_BYTES);
}

struct sg_wire_msg {
	uint8_t type;
	uint16_t flags;		/* SG_WIRE_F_* */
	uint8_t dtype;
	uint8_t op;
	uint32_t coll_id;
	uint32_t count;
	uint32_t msg_len;
	uint64_t nonce;
	uint64_t auth;		/* the addressee's token, or what a worker echoes */
	/* Segment @seg of @nsegs of a whole (sg_wire_segment_ok()); nsegs 0
	 * encodes an unsegmented message, its own whole. */
	uint32_t seg_first;
	uint16_t seg;
	uint16_t nsegs;
	uint32_t whole_len;
	uint32_t whole_count;
	/* Chunks per datagram (0 or 1: one; at most SG_MAX_SPAN); and for a
	 * SCATTER the room of an answer datagram (sg_wire_room_for_mtu()). */
	uint8_t span;
	uint8_t answer_room;
};

/* Write the header of chunk @chunk of message @m into @buf (SG_WIRE_HDR_LEN
 * bytes). */
void sg_wire_encode(void *buf, const struct sg_wire_msg *m, unsigned int chunk);

/* Message @m and its @payload (m->msg_len bytes) as train @t of datagrams,
 * one per span of m->span chunks of its type (sg_wire_chunk_bytes()): each
 * datagram's header encoded into @hdrs (SG_WIRE_HDR_LEN bytes apiece), @iov
 * (two per datagram) pointing at the header and at its bytes in @payload,
 * which must stay put until the train is sent. Room: sg_wire_nchunks_of() of
 * each. */
void sg_wire_train(const struct sg_wire_msg *m, const void *payload, uint8_t *hdrs,
		   struct iovec *iov, struct sg_udp_train *t);

/* Set the first worker of the fan-out batch of an encoded datagram. */
void sg_wire_set_fanout_first(void *dgram, uint32_t first);

/* Set the authenticator of an encoded datagram (the token of the worker it
 * goes to: sg_wire_token()). */
void sg_wire_set_auth(void *dgram, uint64_t auth);

/* The nonce and collective id of an encoded datagram, what its tokens are
 * computed from. */
uint64_t sg_wire_nonce_of(const void *dgram);
uint32_t sg_wire_coll_id_of(const void *dgram);

/* The same for every datagram of a train (sg_wire_train()). */
void sg_wire_train_set_auth(struct sg_udp_train *t, uint64_t auth);
void sg_wire_train_set_fanout_first(struct sg_udp_train *t, uint32_t first);

/* Parse and validate a datagram of @len bytes (framing and geometry).
 * Returns 0 and fills @hdr in host byte order, or -EBADMSG. */
int sg_wire_decode(const void *buf, size_t len, struct sg_wire_hdr *hdr);

#endif
