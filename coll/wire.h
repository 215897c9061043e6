/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Encoding and validation of sgbpf datagrams in user space. The kernel
 * programs validate the same rules in bpf/parse.bpf.h. */
#ifndef SG_COLL_WIRE_H
#define SG_COLL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "sgbpf/wire.h"

/* Chunks of @cb bytes needed for a message of @len bytes: at least one, so
 * that an empty message is still one datagram. */
static inline unsigned int sg_wire_nchunks_of(size_t len, size_t cb)
{
	return len == 0 ? 1 : (unsigned int)((len + cb - 1) / cb);
}

/* Payload bytes of chunk @chunk of a message of @len bytes in chunks of @cb. */
static inline size_t sg_wire_chunk_len_of(size_t len, unsigned int chunk, size_t cb)
{
	size_t off = (size_t)chunk * cb;

	if (off >= len)
		return 0;
	return len - off < cb ? len - off : cb;
}

/* Coordinator messages travel in SG_CHUNK_BYTES chunks. */
static inline unsigned int sg_wire_nchunks(size_t len)
{
	return sg_wire_nchunks_of(len, SG_CHUNK_BYTES);
}

static inline size_t sg_wire_chunk_len(size_t len, unsigned int chunk)
{
	return sg_wire_chunk_len_of(len, chunk, SG_CHUNK_BYTES);
}

/* Chunk size of a message of type @type carrying @dtype elements. */
static inline size_t sg_wire_chunk_bytes(unsigned int type, unsigned int dtype)
{
	return type == SG_WIRE_RESPONSE ? sg_wire_response_chunk(dtype) : SG_CHUNK_BYTES;
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
};

/* Write the header of chunk @chunk of message @m into @buf (SG_WIRE_HDR_LEN
 * bytes). */
void sg_wire_encode(void *buf, const struct sg_wire_msg *m, unsigned int chunk);

/* Set the first worker of the fan-out batch of an encoded datagram. */
void sg_wire_set_fanout_first(void *dgram, uint32_t first);

/* Parse and validate a datagram of @len bytes: magic, version, type, that the
 * chunk index, chunk count and payload length agree with msg_len, and that the
 * datagram holds exactly the payload it announces. Returns 0 and fills @hdr, or
 * -EBADMSG. */
int sg_wire_decode(const void *buf, size_t len, struct sg_wire_hdr *hdr);

#endif
