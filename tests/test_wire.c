// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of common/codec.c: chunking, the byte layout of the header on the
 * wire and every rejection of sg_wire_decode(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sgbpf.h"
#include "common/codec.h"

#define MIB (1024u * 1024u)
#define C 1408u	/* SG_CHUNK_BYTES, spelled out: the wire format's */
/* Largest datagram, plus slack for the tests that make it one byte too long. */
#define DGRAM_MAX (SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD + 8)

static void put16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = v & 0xff;
	b[off + 1] = v >> 8;
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
	put16(b, off, v & 0xffff);
	put16(b, off + 2, v >> 16);
}

static struct sg_wire_msg msg(uint8_t type, uint32_t msg_len)
{
	struct sg_wire_msg m = {
		.type = type,
		.dtype = SG_INT64,
		.op = SG_OP_SUM,
		.coll_id = 77,
		.count = msg_len / 8,
		.msg_len = msg_len,
		.nonce = 0xdeadbeefcafef00dull,
	};

	return m;
}

/* Encode chunk @chunk of a RESPONSE of @msg_len bytes with its payload; returns
 * the datagram length. */
static size_t dgram(uint8_t *b, uint32_t msg_len, unsigned int chunk)
{
	struct sg_wire_msg m = msg(SG_WIRE_RESPONSE, msg_len);
	size_t len = sg_wire_chunk_len(msg_len, chunk);

	sg_wire_encode(b, &m, chunk);
	memset(b + SG_WIRE_HDR_LEN, 0x5c, len);
	return SG_WIRE_HDR_LEN + len;
}

/* Decoding must fail with -EBADMSG and leave the output alone. */
static void expect_reject(const uint8_t *b, size_t len)
{
	struct sg_wire_hdr h, before;

	memset(&h, 0x77, sizeof(h));
	before = h;
	assert_int_equal(sg_wire_decode(b, len, &h), -EBADMSG);
	assert_memory_equal(&h, &before, sizeof(h));
}

static void expect_accept(const uint8_t *b, size_t len)
{
	struct sg_wire_hdr h;

	assert_int_equal(sg_wire_decode(b, len, &h), 0);
}

/* ------------------------------------------------------------ chunking */

static void test_nchunks(void **state)
{
	assert_int_equal(SG_CHUNK_BYTES, C);
	assert_int_equal(sg_wire_nchunks(0), 1);
	assert_int_equal(sg_wire_nchunks(1), 1);
	assert_int_equal(sg_wire_nchunks(C - 1), 1);
	assert_int_equal(sg_wire_nchunks(C), 1);
	assert_int_equal(sg_wire_nchunks(C + 1), 2);
	assert_int_equal(sg_wire_nchunks(2 * C), 2);
	assert_int_equal(sg_wire_nchunks(2 * C + 1), 3);
	assert_int_equal(sg_wire_nchunks(744 * C), 744);
	assert_int_equal(sg_wire_nchunks(744 * C + 1), 745);
	assert_int_equal(sg_wire_nchunks(MIB), 745);
	assert_int_equal(SG_MAX_CHUNKS, 745);
	/* float32 contributions: SG_ACC_BYTES of 64-bit mantissas. */
	assert_int_equal(sg_wire_response_chunk(SG_FLOAT32), 1024);
	assert_int_equal(sg_wire_response_chunk(SG_FLOAT64), C);
	assert_int_equal(sg_wire_nchunks_of(MIB, sg_wire_response_chunk(SG_FLOAT32)), 1024);
	/* float16 and bfloat16: the same 256 mantissas, the smallest chunks
	 * (their MIN and MAX too: the chunk size is the type's). */
	assert_int_equal(sg_wire_dtype_size(SG_FLOAT16), 2);
	assert_int_equal(sg_wire_dtype_size(SG_BFLOAT16), 2);
	assert_int_equal(sg_wire_response_chunk(SG_FLOAT16), 512);
	assert_int_equal(sg_wire_response_chunk(SG_BFLOAT16), 512);
	assert_int_equal(sg_wire_response_chunk(SG_INT16), C);
	assert_int_equal(sg_wire_nchunks_of(MIB, sg_wire_response_chunk(SG_FLOAT16)),
			 SG_MAX_RESPONSE_CHUNKS);
	for (unsigned int op = 0; op < SG_OP_COUNT; op++) {
		bool want = op == SG_OP_SUM || op == SG_OP_MIN || op == SG_OP_MAX;

		assert_int_equal(sg_wire_op_valid(SG_FLOAT16, op), want);
		assert_int_equal(sg_wire_op_valid(SG_BFLOAT16, op), want);
	}
	assert_false(sg_wire_op_valid(SG_DATATYPE_COUNT, SG_OP_SUM));
}

static void test_chunk_len(void **state)
{
	size_t len, total;
	unsigned int c;

	assert_int_equal(sg_wire_chunk_len(0, 0), 0);
	assert_int_equal(sg_wire_chunk_len(1, 0), 1);
	assert_int_equal(sg_wire_chunk_len(C, 0), C);
	assert_int_equal(sg_wire_chunk_len(C, 1), 0);
	assert_int_equal(sg_wire_chunk_len(C + 1, 0), C);
	assert_int_equal(sg_wire_chunk_len(C + 1, 1), 1);
	assert_int_equal(sg_wire_chunk_len(C + 1, 2), 0);
	assert_int_equal(sg_wire_chunk_len(3000, 2), 184);
	assert_int_equal(sg_wire_chunk_len(MIB, 743), C);
	assert_int_equal(sg_wire_chunk_len(MIB, 744), 1024);
	assert_int_equal(sg_wire_chunk_len(MIB, 745), 0);
	assert_int_equal(sg_wire_chunk_len(MIB, 65535), 0);

	/* The chunks of a message tile it exactly. */
	for (len = 0; len <= 5000; len += 7) {
		total = 0;
		for (c = 0; c < sg_wire_nchunks(len); c++) {
			assert_true(sg_wire_chunk_len(len, c) <= SG_CHUNK_BYTES);
			if (c + 1 < sg_wire_nchunks(len))
				assert_int_equal(sg_wire_chunk_len(len, c), SG_CHUNK_BYTES);
			total += sg_wire_chunk_len(len, c);
		}
		assert_int_equal(total, len);
	}
}

/* Every element size divides the chunk size: no element straddles chunks. */
static void test_chunk_holds_whole_elements(void **state)
{
	int dt;

	for (dt = 0; dt < SG_DATATYPE_COUNT; dt++)
		assert_int_equal(SG_CHUNK_BYTES % sg_datatype_size(dt), 0);
}

/* ------------------------------------------------------------ layout */

static void test_header_layout(void **state)
{
	assert_int_equal(SG_WIRE_HDR_LEN, 64);
	assert_int_equal(offsetof(struct sg_wire_hdr, magic), 0);
	assert_int_equal(offsetof(struct sg_wire_hdr, version), 4);
	assert_int_equal(offsetof(struct sg_wire_hdr, type), 5);
	assert_int_equal(offsetof(struct sg_wire_hdr, dtype), 6);
	assert_int_equal(offsetof(struct sg_wire_hdr, op), 7);
	assert_int_equal(offsetof(struct sg_wire_hdr, coll_id), 8);
	assert_int_equal(offsetof(struct sg_wire_hdr, count), 12);
	assert_int_equal(offsetof(struct sg_wire_hdr, msg_len), 16);
	assert_int_equal(offsetof(struct sg_wire_hdr, chunk), 20);
	assert_int_equal(offsetof(struct sg_wire_hdr, nchunks), 22);
	assert_int_equal(offsetof(struct sg_wire_hdr, len), 24);
	assert_int_equal(offsetof(struct sg_wire_hdr, flags), 26);
	assert_int_equal(offsetof(struct sg_wire_hdr, fanout_first), 28);
	assert_int_equal(offsetof(struct sg_wire_hdr, span), 30);
	assert_int_equal(offsetof(struct sg_wire_hdr, answer_room), 31);
	assert_int_equal(offsetof(struct sg_wire_hdr, nonce), 32);
	assert_int_equal(offsetof(struct sg_wire_hdr, auth), 40);
	assert_int_equal(offsetof(struct sg_wire_hdr, seg_first), 48);
	assert_int_equal(offsetof(struct sg_wire_hdr, seg), 52);
	assert_int_equal(offsetof(struct sg_wire_hdr, nsegs), 54);
	assert_int_equal(offsetof(struct sg_wire_hdr, whole_len), 56);
	assert_int_equal(offsetof(struct sg_wire_hdr, whole_count), 60);
}

static void test_encode_bytes(void **state)
{
	static const uint8_t want[64] = {
		'S', 'G', 'B', 'F',		/* 0: magic, little-endian */
		SG_WIRE_VERSION,		/* 4 */
		SG_WIRE_SCATTER,		/* 5: type */
		SG_UINT32,			/* 6: dtype */
		SG_OP_MAX,			/* 7: op */
		0x04, 0x03, 0x02, 0x01,		/* 8: coll_id 0x01020304 */
		0x0d, 0x0c, 0x0b, 0x0a,		/* 12: count 0x0a0b0c0d */
		0xb8, 0x0b, 0x00, 0x00,		/* 16: msg_len 3000 */
		0x02, 0x00,			/* 20: chunk 2 */
		0x03, 0x00,			/* 22: nchunks 3 */
		0xb8, 0x00,			/* 24: len 184 */
		0x00, 0x00,			/* 26: flags */
		0x00, 0x00,			/* 28: fanout_first */
		0x01,				/* 30: span: one chunk */
		0x8b,				/* 31: answer_room 139 x 64 (MTU 9000) */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* 32: nonce */
		0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, /* 40: auth */
		0x04, 0x03, 0x02, 0x01,		/* 48: seg_first: itself, unsegmented */
		0x00, 0x00,			/* 52: seg 0 */
		0x01, 0x00,			/* 54: of 1 */
		0xb8, 0x0b, 0x00, 0x00,		/* 56: whole_len: msg_len */
		0x0d, 0x0c, 0x0b, 0x0a,		/* 60: whole_count: count */
	};
	struct sg_wire_msg m = {
		.type = SG_WIRE_SCATTER,
		.dtype = SG_UINT32,
		.op = SG_OP_MAX,
		.coll_id = 0x01020304,
		.count = 0x0a0b0c0d,
		.msg_len = 3000,
		.nonce = 0x1122334455667788ull,
		.auth = 0x78695a4b3c2d1e0full,
		.span = 4,	/* a SCATTER carries one chunk whatever it asks */
		.answer_room = 139,
	};
	uint8_t buf[72];

	memset(buf, 0xee, sizeof(buf));
	sg_wire_encode(buf, &m, 2);
	assert_memory_equal(buf, want, sizeof(want));
	/* Exactly the header is written. */
	assert_int_equal(buf[64], 0xee);
	assert_int_equal(buf[71], 0xee);
}

static void test_encode_first_and_empty(void **state)
{
	struct sg_wire_msg m = msg(SG_WIRE_BCAST, 0);
	uint8_t buf[SG_WIRE_HDR_LEN];

	sg_wire_encode(buf, &m, 0);
	assert_int_equal(buf[5], SG_WIRE_BCAST);
	assert_memory_equal(buf + 16, "\0\0\0\0", 4);	/* msg_len 0 */
	assert_memory_equal(buf + 20, "\0\0", 2);	/* chunk 0 */
	assert_memory_equal(buf + 22, "\1\0", 2);	/* one chunk */
	assert_memory_equal(buf + 24, "\0\0", 2);	/* no payload */

	m = msg(SG_WIRE_RESULT, MIB);
	sg_wire_encode(buf, &m, 743);
	assert_memory_equal(buf + 16, "\0\0\x10\0", 4);	/* 1 MiB */
	assert_memory_equal(buf + 20, "\xe7\x02", 2);	/* chunk 743 */
	assert_memory_equal(buf + 22, "\xe9\x02", 2);	/* 745 chunks */
	assert_memory_equal(buf + 24, "\x80\x05", 2);	/* 1408 bytes */
}

/* ------------------------------------------------------------ round trips */

static void roundtrip(uint8_t type, uint32_t msg_len, size_t misalign)
{
	uint8_t *mem = malloc(DGRAM_MAX + 8), *b = mem + misalign;
	struct sg_wire_msg m = msg(type, msg_len);
	struct sg_wire_hdr h;
	unsigned int c, n = sg_wire_nchunks(msg_len);
	size_t len;

	assert_non_null(mem);
	m.dtype = SG_UINT16;
	m.op = SG_OP_BXOR;
	m.coll_id = 0xfffffffe;
	m.count = msg_len / 2;
	m.nonce = ~0ull - msg_len;
	for (c = 0; c < n; c++) {
		len = sg_wire_chunk_len(msg_len, c);
		sg_wire_encode(b, &m, c);
		memset(b + SG_WIRE_HDR_LEN, (int)c, len);
		memset(&h, 0, sizeof(h));
		assert_int_equal(sg_wire_decode(b, SG_WIRE_HDR_LEN + len, &h), 0);
		assert_int_equal(h.magic, SG_WIRE_MAGIC);
		assert_int_equal(h.version, SG_WIRE_VERSION);
		assert_int_equal(h.type, type);
		assert_int_equal(h.dtype, SG_UINT16);
		assert_int_equal(h.op, SG_OP_BXOR);
		assert_int_equal(h.coll_id, 0xfffffffe);
		assert_int_equal(h.count, msg_len / 2);
		assert_int_equal(h.msg_len, msg_len);
		assert_int_equal(h.chunk, c);
		assert_int_equal(h.nchunks, n);
		assert_int_equal(h.len, len);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.fanout_first, 0);
		assert_true(h.nonce == ~0ull - msg_len);
	}
	free(mem);
}

static void test_roundtrip(void **state)
{
	static const uint32_t lens[] = {
		0, 1, 8, 1023, 1024, 1025, 2048, 4096, 5000, MIB - 1, MIB,
	};
	uint8_t type;
	size_t i;

	for (type = SG_WIRE_SCATTER; type <= SG_WIRE_RESPONSE; type++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			roundtrip(type, lens[i], type & 3);	/* also at odd addresses */
	}
}

/* ------------------------------------------------------------ rejections */

static void test_reject_short(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 0, 0);

	uint8_t *exact;
	size_t n;

	assert_int_equal(len, SG_WIRE_HDR_LEN);
	expect_accept(b, len);
	/* In buffers of exactly the datagram's size, so that a read past the
	 * end shows under valgrind or ASan. */
	for (n = 0; n < SG_WIRE_HDR_LEN; n++) {
		exact = malloc(n ? n : 1);
		assert_non_null(exact);
		memcpy(exact, b, n);
		expect_reject(exact, n);
		free(exact);
	}
}

static void test_reject_magic(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 100, 0);

	expect_accept(b, len);
	b[0] ^= 1;
	expect_reject(b, len);
	b[0] ^= 1;
	put32(b, 0, 0x53474246);	/* "SGBF" in the wrong byte order */
	expect_reject(b, len);
	put32(b, 0, 0);
	expect_reject(b, len);
}

static void test_reject_version(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 100, 0);

	expect_accept(b, len);
	b[4] = 0;
	expect_reject(b, len);
	b[4] = SG_WIRE_VERSION + 1;
	expect_reject(b, len);
	b[4] = 0xff;
	expect_reject(b, len);
}

static void test_reject_type(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 100, 0);
	int t;

	for (t = SG_WIRE_SCATTER; t <= SG_WIRE_RESPONSE; t++) {
		b[5] = (uint8_t)t;
		expect_accept(b, len);
	}
	b[5] = 0;
	expect_reject(b, len);
	b[5] = SG_WIRE_RESPONSE + 1;
	expect_reject(b, len);
	b[5] = 0xff;
	expect_reject(b, len);
}

static void test_reject_chunk_index(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 2048, 1);

	expect_accept(b, len);
	/* chunk == nchunks, with a len and datagram length that would fit. */
	put16(b, 20, 2);
	put16(b, 24, 0);
	expect_reject(b, SG_WIRE_HDR_LEN);
	put16(b, 24, C);
	expect_reject(b, len);
	put16(b, 20, 0xffff);
	expect_reject(b, len);
	put16(b, 24, 0);
	expect_reject(b, SG_WIRE_HDR_LEN);
}

static void test_reject_nchunks(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 2048, 0);

	expect_accept(b, len);
	put16(b, 22, 1);
	expect_reject(b, len);
	put16(b, 22, 3);
	expect_reject(b, len);
	put16(b, 22, 0);
	expect_reject(b, len);
	put16(b, 22, 0xffff);
	expect_reject(b, len);

	/* An empty message is one chunk, not zero. */
	len = dgram(b, 0, 0);
	put16(b, 22, 0);
	expect_reject(b, len);
	put16(b, 22, 2);
	expect_reject(b, len);
}

static void test_reject_len(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 1500, 1);	/* last chunk: 92 bytes */

	assert_int_equal(len, SG_WIRE_HDR_LEN + 92);
	expect_accept(b, len);
	/* Wrong announced length, the datagram carrying exactly that much. */
	put16(b, 24, 91);
	expect_reject(b, SG_WIRE_HDR_LEN + 91);
	put16(b, 24, 93);
	expect_reject(b, SG_WIRE_HDR_LEN + 93);
	put16(b, 24, C);
	expect_reject(b, SG_WIRE_HDR_LEN + C);
	put16(b, 24, 0);
	expect_reject(b, SG_WIRE_HDR_LEN);

	/* A full chunk that claims less. */
	len = dgram(b, 1500, 0);
	expect_accept(b, len);
	put16(b, 24, 92);
	expect_reject(b, SG_WIRE_HDR_LEN + 92);
}

static void test_reject_datagram_length(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, 1500, 1);

	expect_reject(b, len - 1);
	expect_reject(b, len + 1);
	expect_reject(b, SG_WIRE_HDR_LEN);

	len = dgram(b, 1024, 0);
	expect_accept(b, len);
	expect_reject(b, len - 1);
	expect_reject(b, len + 1);

	len = dgram(b, 0, 0);
	expect_accept(b, len);
	expect_reject(b, len + 1);
}

static void test_reject_msg_len(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = dgram(b, MIB, 744);

	expect_accept(b, len);
	/* One byte more than 1 MiB, every other field consistent with it. */
	len = dgram(b, MIB + 1, 744);
	assert_int_equal(len, SG_WIRE_HDR_LEN + 1025);
	assert_memory_equal(b + 22, "\xe9\x02", 2);	/* 745 chunks */
	expect_reject(b, len);
	len = dgram(b, MIB + 1, 0);
	expect_reject(b, len);
	len = dgram(b, 2 * MIB, 0);
	expect_reject(b, len);
	put32(b, 16, 0xffffffff);
	expect_reject(b, len);
}

/* ------------------------------------------------------------ spans */

/* Chunk @chunk on of a RESPONSE of @msg_len bytes of @dt, @span chunks per
 * datagram, with its payload; returns the datagram length. */
static size_t span_dgram(uint8_t *b, uint32_t msg_len, uint8_t dt, unsigned int span,
			 unsigned int chunk)
{
	struct sg_wire_msg m = msg(SG_WIRE_RESPONSE, msg_len);
	struct sg_wire_hdr h;

	m.dtype = dt;
	m.count = msg_len / (uint32_t)sg_wire_dtype_size(dt);
	m.span = (uint8_t)span;
	sg_wire_encode(b, &m, chunk);
	memcpy(&h, b, sizeof(h));
	memset(b + SG_WIRE_HDR_LEN, 0x3a, h.len);
	return SG_WIRE_HDR_LEN + h.len;
}

static void test_span_room(void **state)
{
	/* What an MTU leaves for payload, in 64-byte units. */
	assert_int_equal(sg_wire_room_for_mtu(1500), 1408 / 64);
	assert_int_equal(sg_wire_room_for_mtu(9000), (9000 - 92) / 64);
	assert_int_equal(sg_wire_room_for_mtu(65535), SG_MAX_DGRAM_PAYLOAD / 64);
	assert_int_equal(sg_wire_room_for_mtu(0), 0);
	/* Chunks of each kind it holds. */
	assert_int_equal(sg_wire_span_of_room(sg_wire_room_for_mtu(1500), C), 1);
	assert_int_equal(sg_wire_span_of_room(sg_wire_room_for_mtu(1500), 1024), 1);
	assert_int_equal(sg_wire_span_of_room(sg_wire_room_for_mtu(9000), C), 6);
	assert_int_equal(sg_wire_span_of_room(sg_wire_room_for_mtu(9000), 1024), 8);
	assert_int_equal(sg_wire_span_of_room(sg_wire_room_for_mtu(4000), 1024), 3);
	assert_int_equal(sg_wire_span_of_room(0, C), 1);	/* never none */
	assert_int_equal(sg_wire_span_of_room(255, 1024), SG_MAX_SPAN);
	/* A span within the datagram's MTU. */
	assert_true(20 + 8 + SG_WIRE_HDR_LEN + 6 * C <= 9000);
	assert_true(20 + 8 + SG_WIRE_HDR_LEN + 8 * 1024 <= 9000);
}

static void test_span_encode(void **state)
{
	uint8_t b[DGRAM_MAX];
	struct sg_wire_hdr h;
	size_t len;

	/* 10000 bytes of int64 in 1408-byte chunks: 8 chunks, 6 per datagram,
	 * the second datagram the last two (1408 + 144). */
	len = span_dgram(b, 10000, SG_INT64, 6, 0);
	assert_int_equal(len, SG_WIRE_HDR_LEN + 6 * C);
	assert_int_equal(sg_wire_decode(b, len, &h), 0);
	assert_int_equal(h.span, 6);
	assert_int_equal(h.nchunks, 8);
	len = span_dgram(b, 10000, SG_INT64, 6, 6);
	assert_int_equal(len, SG_WIRE_HDR_LEN + 10000 - 6 * C);
	assert_int_equal(sg_wire_decode(b, len, &h), 0);
	assert_int_equal(h.span, 2);	/* cut at the message's end */
	/* float32: 1024-byte chunks, 8 per datagram. */
	len = span_dgram(b, 8 * 1024, SG_FLOAT32, 8, 0);
	assert_int_equal(len, SG_WIRE_HDR_LEN + 8 * 1024);
	assert_int_equal(sg_wire_decode(b, len, &h), 0);
	assert_int_equal(h.span, 8);
	/* More than SG_MAX_SPAN asked: SG_MAX_SPAN. */
	len = span_dgram(b, MIB, SG_FLOAT32, 200, 0);
	assert_int_equal(sg_wire_decode(b, len, &h), 0);
	assert_int_equal(h.span, SG_MAX_SPAN);
}

static void test_span_train(void **state)
{
	static uint8_t payload[3 * MIB / 2], hdrs[SG_MAX_RESPONSE_CHUNKS * SG_WIRE_HDR_LEN];
	static struct iovec iov[2 * SG_MAX_RESPONSE_CHUNKS];
	struct sg_wire_msg m = msg(SG_WIRE_RESPONSE, 100000);
	struct sg_udp_train t;
	size_t total = 0;

	m.span = 6;
	sg_wire_train(&m, payload, hdrs, iov, &t);
	/* 72 chunks of 1408 (the last 32 bytes), 12 datagrams of 6. */
	assert_int_equal(t.n, 12);
	assert_int_equal(t.seg, SG_WIRE_HDR_LEN + 6 * C);
	for (unsigned int d = 0; d < t.n; d++) {
		struct sg_wire_hdr h;
		uint8_t dg[DGRAM_MAX];

		memcpy(dg, iov[2 * d].iov_base, SG_WIRE_HDR_LEN);
		memcpy(dg + SG_WIRE_HDR_LEN, iov[2 * d + 1].iov_base, iov[2 * d + 1].iov_len);
		assert_int_equal(sg_wire_decode(dg, SG_WIRE_HDR_LEN + iov[2 * d + 1].iov_len, &h), 0);
		assert_int_equal(h.chunk, 6 * d);
		assert_ptr_equal(iov[2 * d + 1].iov_base, payload + (size_t)d * 6 * C);
		assert_true(d + 1 == t.n || iov[2 * d + 1].iov_len == 6 * C);
		total += iov[2 * d + 1].iov_len;
	}
	assert_int_equal(total, 100000);
	/* A coordinator message spans the same way; without a span, one
	 * chunk per datagram. */
	m = msg(SG_WIRE_RESULT, 100000);
	m.span = 6;
	sg_wire_train(&m, payload, hdrs, iov, &t);
	assert_int_equal(t.n, 12);
	m.span = 0;
	sg_wire_train(&m, payload, hdrs, iov, &t);
	assert_int_equal(t.n, 72);
	assert_int_equal(t.seg, SG_WIRE_HDR_LEN + C);
}

static void test_reject_span(void **state)
{
	uint8_t b[DGRAM_MAX];
	size_t len = span_dgram(b, 10000, SG_INT64, 3, 3);	/* chunks 3..5 */

	expect_accept(b, len);
	b[30] = 0;			/* no chunk */
	expect_reject(b, len);
	b[30] = 2;			/* fewer than the payload holds */
	expect_reject(b, len);
	b[30] = 4;			/* more */
	expect_reject(b, len);
	b[30] = 3;
	put16(b, 20, 6);		/* chunks 6..8 of 8: past the end */
	expect_reject(b, len);
	put16(b, 20, 3);
	expect_accept(b, len);
	b[31] = 1;			/* an answer room in a RESPONSE */
	expect_reject(b, len);
	b[31] = 0;
	/* Nine chunks of float32 (9 KiB): past SG_MAX_SPAN though it is all
	 * consistent and within SG_MAX_DGRAM_PAYLOAD. */
	len = span_dgram(b, 9 * 1024, SG_FLOAT32, 8, 0);
	expect_accept(b, len);
	b[30] = 9;
	put16(b, 24, 9 * 1024);
	memset(b + SG_WIRE_HDR_LEN, 0x3a, 9 * 1024);
	expect_reject(b, SG_WIRE_HDR_LEN + 9 * 1024);
	/* A coordinator datagram of two chunks of three, by the same rules. */
	len = dgram(b, 3000, 0);
	b[5] = SG_WIRE_RESULT;
	expect_accept(b, len);
	b[30] = 2;
	put16(b, 24, 2 * C);
	memset(b + SG_WIRE_HDR_LEN, 0x3a, 2 * C);
	expect_accept(b, SG_WIRE_HDR_LEN + 2 * C);
	b[30] = 3;
	expect_reject(b, SG_WIRE_HDR_LEN + 2 * C);
	/* A SCATTER may carry a room, nothing else may. */
	len = dgram(b, 3000, 0);
	b[5] = SG_WIRE_SCATTER;
	b[31] = 139;
	expect_accept(b, len);
	b[5] = SG_WIRE_BCAST;
	expect_reject(b, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nchunks),
		cmocka_unit_test(test_chunk_len),
		cmocka_unit_test(test_chunk_holds_whole_elements),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test(test_encode_first_and_empty),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_reject_short),
		cmocka_unit_test(test_reject_magic),
		cmocka_unit_test(test_reject_version),
		cmocka_unit_test(test_reject_type),
		cmocka_unit_test(test_reject_chunk_index),
		cmocka_unit_test(test_reject_nchunks),
		cmocka_unit_test(test_reject_len),
		cmocka_unit_test(test_reject_datagram_length),
		cmocka_unit_test(test_reject_msg_len),
		cmocka_unit_test(test_span_room),
		cmocka_unit_test(test_span_encode),
		cmocka_unit_test(test_span_train),
		cmocka_unit_test(test_reject_span),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
