// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/),
 * datagrams made by sg_wire_encode(). Not built by make; to regenerate:
 *
 *   cc -Iinclude -I. tests/fuzz/gen_corpus.c common/codec.c -o gen_corpus
 *   ./gen_corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sgbpf.h"
#include "common/codec.h"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void put_text(const char *name, const char *text)
{
	put("fuzz_workers_file", name, text, strlen(text));
}

/* Chunk @chunk of message @m, payload bytes i of the message = i * 7. */
static size_t dgram(uint8_t *buf, const struct sg_wire_msg *m, unsigned int chunk)
{
	size_t cb = sg_wire_chunk_bytes(m->type, m->dtype), len, i;
	struct sg_wire_hdr h;

	sg_wire_encode(buf, m, chunk);
	memcpy(&h, buf, sizeof(h));
	len = h.len;	/* the chunk's, or the span's from it */
	for (i = 0; i < len; i++)
		buf[SG_WIRE_HDR_LEN + i] = (uint8_t)((chunk * cb + i) * 7);
	return SG_WIRE_HDR_LEN + len;
}

/* Worker-recv input: raw datagram from sender @sender appended at @p. */
static uint8_t *raw(uint8_t *p, int sender, const uint8_t *d, size_t len)
{
	*p++ = (uint8_t)sender;
	*p++ = (uint8_t)len;
	*p++ = (uint8_t)(len >> 8);
	memcpy(p, d, len);
	return p + len;
}

/* Worker-recv input: a chunk built by the fuzzer from 12 bytes. */
static uint8_t *built(uint8_t *p, uint8_t type, uint8_t dtype, uint8_t op, uint8_t coll_id,
		      uint16_t count, uint32_t msg_len, uint16_t chunk, uint8_t nonce)
{
	*p++ = 0x80;
	*p++ = (uint8_t)(type - 1);
	*p++ = dtype;
	*p++ = op;
	*p++ = coll_id;
	*p++ = (uint8_t)count;
	*p++ = (uint8_t)(count >> 8);
	*p++ = (uint8_t)msg_len;
	*p++ = (uint8_t)(msg_len >> 8);
	*p++ = (uint8_t)(msg_len >> 16);
	*p++ = (uint8_t)chunk;
	*p++ = (uint8_t)(chunk >> 8);
	*p++ = nonce;
	return p;
}

int main(int argc, char **argv)
{
	static uint8_t buf[SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD], in[16384];
	struct sg_wire_msg scatter = { .type = SG_WIRE_SCATTER, .dtype = SG_INT32,
				       .op = SG_OP_SUM, .coll_id = 7, .count = 4,
				       .msg_len = 8, .nonce = 0x1122334455667788ull,
				       .answer_room = 139 };
	struct sg_wire_msg bcast0 = { .type = SG_WIRE_BCAST, .coll_id = 8, .nonce = 9 };
	struct sg_wire_msg result = { .type = SG_WIRE_RESULT, .dtype = SG_UINT8,
				      .op = SG_OP_MAX, .coll_id = 10, .count = 2100,
				      .msg_len = 2100, .nonce = 11 };
	struct sg_wire_msg resp32 = { .type = SG_WIRE_RESPONSE, .dtype = SG_INT32,
				      .op = SG_OP_SUM, .coll_id = 7, .count = 4,
				      .msg_len = 16, .nonce = 0x1122334455667788ull };
	struct sg_wire_msg respf = { .type = SG_WIRE_RESPONSE, .dtype = SG_FLOAT32,
				     .op = SG_OP_SUM, .coll_id = 12, .count = 300,
				     .msg_len = 1200, .nonce = 13 };
	uint8_t *p;
	unsigned int c;
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) && errno != EEXIST) {
		perror(root);
		return 1;
	}

	/* Workers files. */
	put_text("good", "# workers\n10.0.0.1:7000\n10.0.0.2:7000 # second\n\n"
			 "  \t192.168.1.254:1\r\n10.0.0.3:65535");
	put_text("one", "127.0.0.1:9000\n");
	put_text("crlf", "10.0.0.1:7000\r\n# c\r\n\r\n10.0.0.2:1 # x\r\n10.0.0.3:2\r");
	put_text("duplicate", "10.0.0.9:1\n10.0.0.1:1\n10.0.0.1:1\n");
	put_text("bad", "10.0.0.01:7000\nworker1.local:7000\n10.0.0.1:99999\n224.0.0.1:1\n");
	put_text("endpoint", "192.168.100.200:65535");
	/* One worker too many (SG_MAX_WORKERS_PER_COMM + 1). */
	p = in;
	for (c = 0; c <= SG_MAX_WORKERS_PER_COMM; c++)
		p += sprintf((char *)p, "10.1.%u.%u:%u\n", c / 250, c % 250 + 1, 7000 + c % 3);
	put("fuzz_workers_file", "too_many", in, (size_t)(p - in));

	/* Datagrams. */
	put("fuzz_wire", "scatter", buf, dgram(buf, &scatter, 0));
	put("fuzz_wire", "bcast_empty", buf, dgram(buf, &bcast0, 0));
	put("fuzz_wire", "result_chunk1", buf, dgram(buf, &result, 1));
	put("fuzz_wire", "result_chunk2", buf, dgram(buf, &result, 2));
	put("fuzz_wire", "response_int32", buf, dgram(buf, &resp32, 0));
	len = dgram(buf, &respf, 2);
	sg_wire_set_fanout_first(buf, 256);
	put("fuzz_wire", "response_float32", buf, len);
	respf.msg_len = 20000;
	respf.count = 5000;
	respf.span = 8;
	put("fuzz_wire", "response_float32_span", buf, dgram(buf, &respf, 16));	/* 16..19 */

	/* Worker inputs. */
	p = in;
	*p++ = 1;
	p = raw(p, 0, buf, dgram(buf, &scatter, 0));
	put("fuzz_worker_recv", "scatter", in, (size_t)(p - in));

	p = in;
	*p++ = 3;
	for (c = 0; c < 3; c++)
		p = raw(p, 1, buf, dgram(buf, &result, c == 0 ? 2 : c - 1));
	put("fuzz_worker_recv", "result_3_chunks", in, (size_t)(p - in));

	p = in;
	*p++ = 4;
	p = built(p, SG_WIRE_BCAST, 0, 0, 3, 0, 2000, 1, 5);
	p = built(p, SG_WIRE_SCATTER, SG_INT32, SG_OP_SUM, 4, 4, 16, 0, 6);
	p = built(p, SG_WIRE_BCAST, 0, 0, 3, 0, 2000, 1, 5);
	p = built(p, SG_WIRE_BCAST, 0, 0, 3, 0, 2000, 0, 5);
	put("fuzz_worker_recv", "built_bcast", in, (size_t)(p - in));

	p = in;
	*p++ = 3;
	p = built(p, SG_WIRE_RESULT, SG_UINT16, SG_OP_MIN, 1, 1500, 3000, 0, 2);
	p = raw(p, 0, buf, dgram(buf, &bcast0, 0));
	p = built(p, SG_WIRE_RESULT, SG_UINT16, SG_OP_MIN, 1, 1500, 3000, 2, 2);
	put("fuzz_worker_recv", "interleaved", in, (size_t)(p - in));
	return 0;
}
