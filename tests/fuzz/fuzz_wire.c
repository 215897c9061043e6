// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: sg_wire_decode() on arbitrary datagrams, and
 * sg_wire_encode() -> sg_wire_decode() on arbitrary messages.
 *
 * Invariants checked (any violation aborts, which libFuzzer reports):
 *  - a decoded datagram is exactly header + hdr.len bytes, has the magic and
 *    version, a type in 1..4, msg_len <= SG_MAX_MSG_BYTES, a span of 1 to
 *    SG_MAX_SPAN chunks from chunk within nchunks, an answer room in a
 *    SCATTER only, and nchunks and hdr.len agree with msg_len in chunks
 *    of sg_wire_chunk_bytes(type, dtype) (nchunks == sg_wire_nchunks(msg_len)
 *    for all but RESPONSE); all chunks are full but the last;
 *  - re-encoding the decoded header with sg_wire_encode() (and
 *    sg_wire_set_fanout_first()) gives back the input header bytes, all but
 *    the reserved flags; the re-encoded datagram decodes to the same header;
 *  - a failed decode leaves its output untouched; decoding is independent of
 *    the alignment of the buffer;
 *  - any message within the limits, encoded chunk by chunk, decodes to the
 *    fields it was encoded from. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgbpf.h"
#include "common/codec.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
				__LINE__, #cond);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define FLAGS_OFF offsetof(struct sg_wire_hdr, flags)
#define FLAGS_END (FLAGS_OFF + sizeof(((struct sg_wire_hdr *)0)->flags))

static uint32_t get_le(const uint8_t *p, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes--)
		v = v << 8 | p[bytes];
	return v;
}

static void check_hdr(const struct sg_wire_hdr *h, size_t len)
{
	size_t cb = sg_wire_chunk_bytes(h->type, h->dtype);

	CHECK(h->magic == SG_WIRE_MAGIC && h->version == SG_WIRE_VERSION);
	CHECK(h->type >= SG_WIRE_SCATTER && h->type <= SG_WIRE_RESPONSE);
	CHECK(cb >= 1 && cb <= SG_CHUNK_BYTES);
	if (h->type != SG_WIRE_RESPONSE)
		CHECK(cb == SG_CHUNK_BYTES);
	CHECK(h->msg_len <= SG_MAX_MSG_BYTES);
	CHECK(h->nchunks == sg_wire_nchunks_of(h->msg_len, cb));
	if (h->type != SG_WIRE_RESPONSE)
		CHECK(h->nchunks == sg_wire_nchunks(h->msg_len));
	CHECK(h->nchunks >= 1);
	CHECK(h->nsegs >= 1);
	CHECK(h->chunk < h->nchunks);
	CHECK(h->span >= 1 && h->span <= SG_MAX_SPAN);
	CHECK((unsigned int)h->chunk + h->span <= h->nchunks);
	CHECK(h->type == SG_WIRE_SCATTER || h->answer_room == 0);
	CHECK(h->len <= (size_t)h->span * cb && h->len <= SG_MAX_DGRAM_PAYLOAD);
	CHECK(len == SG_WIRE_HDR_LEN + (size_t)h->len);
	/* Chunks tile the message: all full but the last. */
	if (h->chunk + h->span < h->nchunks)
		CHECK(h->len == h->span * cb);
	else
		CHECK((size_t)h->chunk * cb + h->len == h->msg_len &&
		      (h->span == 1 || h->len > (size_t)(h->span - 1) * cb));
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	struct sg_wire_hdr h, h2, sentinel;
	struct sg_wire_msg m;
	uint8_t *copy, enc[SG_WIRE_HDR_LEN];
	int err;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	h = sentinel;
	err = sg_wire_decode(data, size, &h);

	/* The same bytes at an odd address decode the same. */
	copy = malloc(size + 1);
	CHECK(copy);
	memcpy(copy + 1, data, size);
	h2 = sentinel;
	CHECK(sg_wire_decode(copy + 1, size, &h2) == err);
	CHECK(memcmp(&h, &h2, sizeof(h)) == 0);

	if (err) {
		CHECK(err == -EBADMSG);
		CHECK(memcmp(&h, &sentinel, sizeof(h)) == 0);
		free(copy);
		return;
	}
	check_hdr(&h, size);
	CHECK(h.fanout_first == get_le(data + offsetof(struct sg_wire_hdr, fanout_first), 2));
	CHECK(h.flags == get_le(data + FLAGS_OFF, 2));

	/* Round trip: encoding the decoded fields gives the input header back,
	 * but for flags (reserved, not encoded) and fanout_first (set apart). */
	m = (struct sg_wire_msg){
		.type = h.type,
		.dtype = h.dtype,
		.op = h.op,
		.coll_id = h.coll_id,
		.count = h.count,
		.msg_len = h.msg_len,
		.nonce = h.nonce,
		.auth = h.auth,
		.seg_first = h.seg_first,
		.seg = h.seg,
		.nsegs = h.nsegs,
		.whole_len = h.whole_len,
		.whole_count = h.whole_count,
		.span = h.span,
		.answer_room = h.answer_room,
	};
	memset(enc, 0xee, sizeof(enc));
	sg_wire_encode(enc, &m, h.chunk);
	CHECK(get_le(enc + FLAGS_OFF, 2) == 0);
	CHECK(get_le(enc + offsetof(struct sg_wire_hdr, fanout_first), 2) == 0);
	sg_wire_set_fanout_first(enc, h.fanout_first);
	CHECK(memcmp(enc, data, FLAGS_OFF) == 0);
	CHECK(memcmp(enc + FLAGS_END, data + FLAGS_END, SG_WIRE_HDR_LEN - FLAGS_END) == 0);

	/* ... and decodes to the same header, flags cleared. */
	memcpy(copy + 1, enc, SG_WIRE_HDR_LEN);
	CHECK(sg_wire_decode(copy + 1, size, &h2) == 0);
	h.flags = 0;
	CHECK(memcmp(&h, &h2, sizeof(h)) == 0);

	/* One byte more or less is refused. */
	CHECK(sg_wire_decode(copy + 1, size - 1, &h2) == -EBADMSG);
	free(copy);
	copy = calloc(1, size + 1);
	CHECK(copy);
	memcpy(copy, enc, SG_WIRE_HDR_LEN);
	CHECK(sg_wire_decode(copy, size + 1, &h2) == -EBADMSG);
	free(copy);
}

/* Read the input as a message (type, dtype, op, coll_id, count, msg_len,
 * nonce, chunk), put the fields in range, encode and decode it. */
static void fuzz_encode(const uint8_t *d, size_t size)
{
	struct sg_wire_msg m;
	struct sg_wire_hdr h;
	unsigned int chunk, nchunks, span;
	size_t clen, cb;
	uint8_t *dgram;
	uint32_t fanout;

	if (size < 30)
		return;
	m = (struct sg_wire_msg){
		.type = (uint8_t)(d[0] % 4 + 1),
		.dtype = d[1],
		.op = d[2],
		.coll_id = get_le(d + 3, 4),
		.count = get_le(d + 7, 4),
		.msg_len = get_le(d + 11, 4) % (SG_MAX_MSG_BYTES + 1),
		.nonce = (uint64_t)get_le(d + 15, 4) << 32 | get_le(d + 19, 4),
	};
	m.span = d[27];
	m.answer_room = d[28];
	cb = sg_wire_chunk_bytes(m.type, m.dtype);
	nchunks = sg_wire_nchunks_of(m.msg_len, cb);
	chunk = get_le(d + 23, 2) % nchunks;
	fanout = get_le(d + 25, 2);
	/* What the encoder makes of the span it was asked for. */
	span = m.span > 1 ? m.span : 1;
	if (span > SG_MAX_SPAN)
		span = SG_MAX_SPAN;
	if (chunk + span > nchunks)
		span = nchunks - chunk;
	clen = sg_wire_span_len_of(m.msg_len, chunk, span, cb);
	CHECK(nchunks >= 1 && nchunks <= UINT16_MAX && clen <= SG_MAX_DGRAM_PAYLOAD);

	dgram = malloc(SG_WIRE_HDR_LEN + clen);
	CHECK(dgram);
	sg_wire_encode(dgram, &m, chunk);
	sg_wire_set_fanout_first(dgram, fanout);
	memset(dgram + SG_WIRE_HDR_LEN, d[29], clen);
	CHECK(sg_wire_decode(dgram, SG_WIRE_HDR_LEN + clen, &h) == 0);
	check_hdr(&h, SG_WIRE_HDR_LEN + clen);
	CHECK(h.type == m.type && h.dtype == m.dtype && h.op == m.op);
	CHECK(h.coll_id == m.coll_id && h.count == m.count && h.msg_len == m.msg_len);
	CHECK(h.nonce == m.nonce && h.chunk == chunk && h.flags == 0 && h.span == span);
	CHECK(h.answer_room == (m.type == SG_WIRE_SCATTER ? m.answer_room : 0));
	CHECK(h.fanout_first == fanout);
	free(dgram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_encode(data, size);
	return 0;
}
