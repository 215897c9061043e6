/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sgbpf wire format and limits, shared by the kernel programs (bpf/) and
 * user space (coll/, transport/).
 *
 * Every sgbpf datagram is UDP/IPv4 carrying one struct sg_wire_hdr followed by
 * its payload. A message longer than one chunk (a request, a broadcast, a
 * contribution or a result) is split into chunks of exactly its type's chunk
 * size (sg_wire_chunk_bytes(): SG_CHUNK_BYTES, or less for float32
 * contributions), the last one shorter. A datagram carries a span of 1 to
 * SG_MAX_SPAN consecutive chunks: the coordinator's as many as its path MTU
 * takes, a worker's as many as the coordinator allowed (answer_room) and the
 * worker's own path MTU take, so jumbo frames carry fewer, larger datagrams
 * while accumulators and reassembly stay per chunk. Multi-byte fields are
 * little-endian (the byte order of every host and of the BPF target sgbpf
 * builds for); user space converts explicitly, so a big-endian port only has
 * to touch sg_wire_* in common/codec.c. Not installed: applications and
 * aggregation programs never see it.
 */
#ifndef SGBPF_WIRE_H
#define SGBPF_WIRE_H

#include <linux/types.h>

#include "sgbpf/limits.h"
#include "sgbpf/siphash.h"
#include "sgbpf/types.h"

#define SG_WIRE_MAGIC	0x46424753u	/* "SGBF" read as little-endian */
#define SG_WIRE_VERSION	4	/* 2: the per-worker authenticator; 3: segments;
				 * 4: answers of several chunks per datagram */

/* One collective's message and vector: a segment. Longer ones (up to
 * SG_MAX_WHOLE_BYTES) are split into segments, each a collective of its own
 * (sg_wire_seg_elems()), that the header links into their whole. */
#define SG_MAX_MSG_BYTES (1024u * 1024u)
#define SG_MAX_WHOLE_BYTES (256u * 1024u * 1024u)
/* Segments of one whole: segments of 64 KiB or more for the longest. */
#define SG_MAX_SEGS	4096
#define SG_MAX_CHUNKS	((SG_MAX_MSG_BYTES + SG_CHUNK_BYTES - 1) / SG_CHUNK_BYTES)
/* Chunks of one datagram at most: 8 KiB of float32 contributions, what a
 * 9000-byte MTU carries (6 chunks of SG_CHUNK_BYTES). */
#define SG_MAX_SPAN	8
#define SG_MAX_DGRAM_PAYLOAD (SG_MAX_SPAN * SG_CHUNK_BYTES)
/* Contributions of float types travel in smaller chunks
 * (sg_wire_response_chunk()), so take more: float16's are the smallest. */
#define SG_MAX_RESPONSE_CHUNKS (SG_MAX_MSG_BYTES / (SG_ACC_BYTES / 4))

/* Workers one coordinator datagram is cloned to. The clones of one TC
 * invocation are queued before any of them is delivered (a veth queues them on
 * the CPU's backlog, 1000 packets by default; a NIC on its qdisc), so larger
 * fan-outs are sent as one datagram per batch. */
#define SG_FANOUT_BATCH	256
/* Packets one send may put on that backlog: a GSO send of k datagrams to a
 * batch of w workers puts k x w there, so k is bounded by this over w. A
 * bridged veth lab queues each packet twice on the same CPU (to the bridge,
 * then to the worker), so it is a quarter of the default backlog of 1000:
 * the most a batch of single datagrams ever queued. */
#define SG_FANOUT_BURST	SG_FANOUT_BATCH
/* Datagrams of one UDP GSO send the fan-out program takes (what the kernel
 * takes on every version with UDP_SEGMENT). */
#define SG_GSO_MAX_SEGS	64
#define SG_SLOTS	64	/* collectives in flight per communicator */
#define SG_MAX_COMMS	4	/* communicators sharing one interface in one process */

enum sg_wire_type {
	SG_WIRE_SCATTER = 1,	/* coordinator -> workers: request, reply expected */
	SG_WIRE_BCAST = 2,	/* coordinator -> workers: message, no reply */
	SG_WIRE_RESULT = 3,	/* coordinator -> workers: allgather result (or, with
				 * SG_WIRE_F_BCAST, a segment of a broadcast), acknowledged */
	SG_WIRE_RESPONSE = 4,	/* worker -> coordinator: contribution chunk */
};

/* Collective ids are below 2^31. A worker acknowledges an allgather result of
 * collective id X with a one-byte SG_UINT8/SG_OP_BOR response under id
 * X | SG_COLL_ACK, which lives in the same slot (2^31 is a multiple of
 * SG_SLOTS). */
#define SG_COLL_ACK 0x80000000u

/* A coordinator datagram for one worker only (a retransmission): the fan-out
 * program passes it as it is. */
#define SG_WIRE_F_UNICAST 0x1
/* A RESULT that is a segment of a broadcast longer than SG_MAX_MSG_BYTES: a
 * uint8 vector whose whole the worker delivers as a broadcast. */
#define SG_WIRE_F_BCAST 0x2

struct sg_wire_hdr {
	__u32 magic;	/* SG_WIRE_MAGIC */
	__u8 version;	/* SG_WIRE_VERSION */
	__u8 type;	/* enum sg_wire_type */
	__u8 dtype;	/* enum sg_datatype of the reduced vector */
	__u8 op;	/* enum sg_op */
	__u32 coll_id;	/* collective id, increasing per communicator */
	__u32 count;	/* elements of the reduced vector (0 for BCAST) */
	__u32 msg_len;	/* bytes of the whole message this chunk belongs to */
	__u16 chunk;	/* index of this datagram's first chunk in the message */
	__u16 nchunks;	/* chunks in the message */
	__u16 len;	/* payload bytes following this header */
	__u16 flags;	/* SG_WIRE_F_* */
	__u16 fanout_first; /* coordinator -> workers: first worker of this fan-out batch */
	__u8 span;	/* chunks this datagram carries from chunk, 1..SG_MAX_SPAN */
	__u8 answer_room; /* SCATTER: payload bytes of an answer datagram the
			   * path to the coordinator carries, in SG_WIRE_ROOM_UNIT
			   * (sg_wire_room_for_mtu()); 0 elsewhere */
	__u64 nonce;	/* unpredictable per collective; responses echo it */
	__u64 auth;	/* the worker's authenticator for this collective (see below) */
	/* Segments (sg_wire_segment_ok()): this message and vector are segment
	 * seg of nsegs of a whole of whole_len bytes and whole_count elements,
	 * whose first segment is collective seg_first. Unsegmented: seg 0 of 1,
	 * the whole is the message itself. */
	__u32 seg_first;
	__u16 seg;
	__u16 nsegs;
	__u32 whole_len;
	__u32 whole_count;
};

#define SG_WIRE_HDR_LEN ((unsigned int)sizeof(struct sg_wire_hdr))

_Static_assert(sizeof(struct sg_wire_hdr) == 64, "wire header is 64 bytes");

/*
 * Authenticators. A communicator holds a random 128-bit secret that never
 * leaves the coordinator (user space and its kernel programs). Every
 * coordinator datagram to worker r of a collective carries in auth that
 * worker's token, SipHash-2-4 under the secret of (nonce, collective id,
 * r): the fan-out program writes each clone's own as it clones, a unicast
 * send is written by the transport. The worker echoes it in every answer,
 * and the gather program recomputes it from the source address's rank: a
 * worker, or anyone who saw one worker's traffic, cannot compute the token
 * of another worker, nor one of a later collective. The acknowledgements of
 * an allgather result (id | SG_COLL_ACK) echo the result's token.
 *
 * A token is never 0 (its low bit is set; 63 bits are left): the
 * coordinator sends the datagram it wants fanned out with auth 0, so the
 * fan-out program tells the original from its clones by this field alone and
 * leaves skb->mark to the application.
 */
static __inline__ __attribute__((always_inline)) __u64
sg_wire_token(const __u64 key[2], __u64 nonce, __u32 coll_id, __u32 rank)
{
	return sg_siphash16(key[0], key[1], nonce,
			    (__u64)(coll_id & ~SG_COLL_ACK) | (__u64)rank << 32) | 1;
}

/* Chunks of @cb bytes needed for a message of @len bytes: at least one, so
 * that an empty message is still one datagram. */
static __inline__ __u32 sg_wire_nchunks_of(__u32 len, __u32 cb)
{
	return len == 0 ? 1 : (len + cb - 1) / cb;
}

/* Payload bytes of chunk @chunk of a message of @len bytes in chunks of @cb. */
static __inline__ __u32 sg_wire_chunk_len_of(__u32 len, __u32 chunk, __u32 cb)
{
	__u32 off = chunk * cb;

	if (off >= len)
		return 0;
	return len - off < cb ? len - off : cb;
}

/* Payload bytes of the @span chunks from chunk @chunk of a message of @len
 * bytes in chunks of @cb. */
static __inline__ __u32 sg_wire_span_len_of(__u32 len, __u32 chunk, __u32 span, __u32 cb)
{
	__u32 off = chunk * cb, end = (chunk + span) * cb;

	if (off >= len)
		return 0;
	return (end < len ? end : len) - off;
}

/* Payload bytes one datagram carries through a path of @mtu bytes (after an
 * option-less IPv4 header, UDP and ours), in the units of answer_room, at
 * most SG_MAX_DGRAM_PAYLOAD. */
#define SG_WIRE_ROOM_UNIT 64
static __inline__ __u32 sg_wire_room_for_mtu(__u32 mtu)
{
	__u32 room = mtu > 20 + 8 + SG_WIRE_HDR_LEN ? mtu - 20 - 8 - SG_WIRE_HDR_LEN : 0;

	if (room > SG_MAX_DGRAM_PAYLOAD)
		room = SG_MAX_DGRAM_PAYLOAD;
	return room / SG_WIRE_ROOM_UNIT;
}

/* Chunks of @cb bytes in a datagram of @room units of payload: 1..SG_MAX_SPAN
 * (one chunk always goes: it fits any IPv4 path of 1500 bytes). */
static __inline__ __u32 sg_wire_span_of_room(__u32 room, __u32 cb)
{
	__u32 span = cb ? room * SG_WIRE_ROOM_UNIT / cb : 0;

	return span < 1 ? 1 : span > SG_MAX_SPAN ? SG_MAX_SPAN : span;
}

/* Bytes of one element of @dt, 0 if unknown. */
static __inline__ unsigned int sg_wire_dtype_size(unsigned int dt)
{
	switch (dt) {
	case SG_INT8: case SG_UINT8: return 1;
	case SG_INT16: case SG_UINT16: case SG_FLOAT16: case SG_BFLOAT16: return 2;
	case SG_INT32: case SG_UINT32: case SG_FLOAT32: return 4;
	case SG_INT64: case SG_UINT64: case SG_FLOAT64: return 8;
	case SG_INT32_LOC: case SG_FLOAT32_LOC: return 8;
	case SG_INT64_LOC: case SG_FLOAT64_LOC: return 16;
	default: return 0;
	}
}

/* Whether @dt is a float whose SUM accumulates each element as a 64-bit
 * mantissa and an exponent (bpf/fold.bpf.h), whatever its width. */
static __inline__ int sg_wire_dtype_fsum(unsigned int dt)
{
	return dt == SG_FLOAT32 || dt == SG_FLOAT64 || dt == SG_FLOAT16 || dt == SG_BFLOAT16;
}

/* Payload bytes of a full contribution chunk of @dt. A float SUM accumulates
 * each element in a 64-bit mantissa, so a chunk of a float narrower than 8
 * bytes holds what fills SG_ACC_BYTES of those (float32: 1024 bytes; float16
 * and bfloat16: 512); other types fill a datagram. */
static __inline__ unsigned int sg_wire_response_chunk(unsigned int dt)
{
	unsigned int size = sg_wire_dtype_size(dt);

	return sg_wire_dtype_fsum(dt) && size < 8 ? SG_ACC_BYTES / 8 * size : SG_CHUNK_BYTES;
}

/* Chunk size of a message of type @type carrying @dtype elements. */
static __inline__ __u32 sg_wire_chunk_bytes(unsigned int type, unsigned int dtype)
{
	return type == SG_WIRE_RESPONSE ? sg_wire_response_chunk(dtype) : SG_CHUNK_BYTES;
}

/*
 * The validity rules of a header, one definition for the kernel programs and
 * user space (a header in host byte order: the wire's, see above).
 *
 * Framing: the magic and version are ours and the header announces exactly
 * the @payload bytes that follow it.
 */
static __inline__ int sg_wire_framing_ok(const struct sg_wire_hdr *h, __u32 payload)
{
	return h->magic == SG_WIRE_MAGIC && h->version == SG_WIRE_VERSION &&
	       h->len <= SG_MAX_DGRAM_PAYLOAD && h->len == payload;
}

/* Geometry: a known type, a message within the limits (segment 0 of 1 at
 * least), and chunk index, span, chunk count and payload length that agree
 * with the message length in the chunks of its type; an answer room only in
 * a SCATTER. */
static __inline__ int sg_wire_geometry_ok(const struct sg_wire_hdr *h)
{
	__u32 cb = sg_wire_chunk_bytes(h->type, h->dtype);

	return h->type >= SG_WIRE_SCATTER && h->type <= SG_WIRE_RESPONSE && h->nsegs >= 1 &&
	       h->msg_len <= SG_MAX_MSG_BYTES && h->nchunks == sg_wire_nchunks_of(h->msg_len, cb) &&
	       h->span >= 1 && h->span <= SG_MAX_SPAN && (__u32)h->chunk + h->span <= h->nchunks &&
	       (h->type == SG_WIRE_SCATTER || h->answer_room == 0) &&
	       h->len == sg_wire_span_len_of(h->msg_len, h->chunk, h->span, cb);
}

/* Elements of each segment (the last may be shorter) of a vector of @whole
 * elements of @dt in @nsegs segments: an equal share, rounded up to whole
 * response chunks (sg_wire_response_chunk()) so the parts of a segmented
 * result line up with those of one collective. The coordinator picks nsegs
 * (coll/segment.c); workers derive the geometry from the header. */
static __inline__ __u32 sg_wire_seg_elems(__u32 whole, __u32 nsegs, unsigned int dt)
{
	__u32 size = sg_wire_dtype_size(dt), k = size ? sg_wire_response_chunk(dt) / size : 0;
	__u32 share = nsegs ? (__u32)(((__u64)whole + nsegs - 1) / nsegs) : 0;

	return k ? (share + k - 1) / k * k : 0;
}

/* Most elements of @dt one segment holds (SG_MAX_MSG_BYTES in whole
 * response chunks). */
static __inline__ __u32 sg_wire_seg_max_elems(unsigned int dt)
{
	__u32 cb = sg_wire_response_chunk(dt), size = sg_wire_dtype_size(dt);

	return size ? SG_MAX_MSG_BYTES / cb * cb / size : 0;
}

/*
 * Segment rules of a coordinator message (user space: the kernel programs
 * serve each segment as a collective of its own and ignore them). An
 * unsegmented message is its own whole. A segmented one is a SCATTER or a
 * RESULT whose vector is segment seg of the whole vector (sg_wire_seg_elems()
 * elements each, the last shorter but not empty), at most SG_MAX_SEGS of at
 * most SG_MAX_MSG_BYTES: a SCATTER's request (at most SG_MAX_MSG_BYTES) rides
 * whole on segment 0, the others carry none; a RESULT carries its segment of
 * the whole result.
 */
static __inline__ int sg_wire_segment_ok(const struct sg_wire_hdr *h)
{
	__u32 size = sg_wire_dtype_size(h->dtype), e, first;

	if (h->nsegs == 1)
		return h->seg == 0 && h->seg_first == h->coll_id && h->whole_len == h->msg_len &&
		       h->whole_count == h->count;
	if (h->nsegs == 0 || h->nsegs > SG_MAX_SEGS || h->seg >= h->nsegs || !size ||
	    (h->type != SG_WIRE_SCATTER && h->type != SG_WIRE_RESULT) ||
	    (__u64)h->whole_count * size > SG_MAX_WHOLE_BYTES)
		return 0;
	e = sg_wire_seg_elems(h->whole_count, h->nsegs, h->dtype);
	if (e > sg_wire_seg_max_elems(h->dtype) || (__u64)(h->nsegs - 1) * e >= h->whole_count)
		return 0;
	first = h->seg * e;
	if (h->count != (h->whole_count - first < e ? h->whole_count - first : e))
		return 0;
	if (h->type == SG_WIRE_RESULT)
		return h->whole_len == h->whole_count * size;
	return h->whole_len <= SG_MAX_MSG_BYTES && h->msg_len == (h->seg ? 0 : h->whole_len);
}

/* Whether @op is defined on @dt (built-in ops; user ops accept any type). */
static __inline__ int sg_wire_op_valid(unsigned int dt, unsigned int op)
{
	if (op == SG_OP_USER)
		return dt < SG_DATATYPE_COUNT;
	switch (dt) {
	case SG_FLOAT32: case SG_FLOAT64: case SG_FLOAT16: case SG_BFLOAT16:
		return op == SG_OP_SUM || op == SG_OP_MIN || op == SG_OP_MAX;
	case SG_INT32_LOC: case SG_INT64_LOC: case SG_FLOAT32_LOC: case SG_FLOAT64_LOC:
		return op == SG_OP_MAXLOC || op == SG_OP_MINLOC;
	default:
		return dt < SG_DATATYPE_COUNT && op < SG_OP_MAXLOC;
	}
}

#endif /* SGBPF_WIRE_H */
