// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/codec.h"

/* Chunks per datagram of message @m: its span, 1 to SG_MAX_SPAN. */
static unsigned int span_of(const struct sg_wire_msg *m)
{
	return m->span < 1 ? 1 : m->span > SG_MAX_SPAN ? SG_MAX_SPAN : m->span;
}

void sg_wire_encode(void *buf, const struct sg_wire_msg *m, unsigned int chunk)
{
	size_t cb = sg_wire_chunk_bytes(m->type, m->dtype);
	unsigned int n = sg_wire_nchunks_of(m->msg_len, (__u32)cb), span = span_of(m);

	if (chunk + span > n)
		span = chunk < n ? n - chunk : 1;
	struct sg_wire_hdr h = {
		.magic = htole32(SG_WIRE_MAGIC),
		.version = SG_WIRE_VERSION,
		.type = m->type,
		.dtype = m->dtype,
		.op = m->op,
		.flags = htole16(m->flags),
		.coll_id = htole32(m->coll_id),
		.count = htole32(m->count),
		.msg_len = htole32(m->msg_len),
		.chunk = htole16((uint16_t)chunk),
		.nchunks = htole16((uint16_t)n),
		.len = htole16((uint16_t)sg_wire_span_len_of(m->msg_len, chunk, span, (__u32)cb)),
		.span = (uint8_t)span,
		.answer_room = m->type == SG_WIRE_SCATTER ? m->answer_room : 0,
		.nonce = htole64(m->nonce),
		.auth = htole64(m->auth),
		.seg_first = htole32(m->nsegs ? m->seg_first : m->coll_id),
		.seg = htole16(m->nsegs ? m->seg : 0),
		.nsegs = htole16(m->nsegs ? m->nsegs : 1),
		.whole_len = htole32(m->nsegs ? m->whole_len : m->msg_len),
		.whole_count = htole32(m->nsegs ? m->whole_count : m->count),
	};

	memcpy(buf, &h, sizeof(h));
}

void sg_wire_train(const struct sg_wire_msg *m, const void *payload, uint8_t *hdrs,
		   struct iovec *iov, struct sg_udp_train *t)
{
	size_t cb = sg_wire_chunk_bytes(m->type, m->dtype);
	unsigned int nchunks = sg_wire_nchunks_of(m->msg_len, (__u32)cb), span = span_of(m);
	unsigned int n = (nchunks + span - 1) / span;

	for (unsigned int d = 0; d < n; d++) {
		uint8_t *h = hdrs + (size_t)d * SG_WIRE_HDR_LEN;
		unsigned int c = d * span;

		sg_wire_encode(h, m, c);
		iov[2 * d] = (struct iovec){ .iov_base = h, .iov_len = SG_WIRE_HDR_LEN };
		iov[2 * d + 1] = (struct iovec){
			.iov_len = sg_wire_span_len_of(m->msg_len, c, span, (__u32)cb),
		};
		if (iov[2 * d + 1].iov_len)
			iov[2 * d + 1].iov_base = (uint8_t *)payload + (size_t)c * cb;
	}
	*t = (struct sg_udp_train){
		.iov = iov,
		.n = n,
		.seg = SG_WIRE_HDR_LEN + (n > 1 ? span * cb : iov[1].iov_len),
	};
}

void sg_wire_train_set_auth(struct sg_udp_train *t, uint64_t auth)
{
	for (unsigned int i = 0; i < t->n; i++)
		sg_wire_set_auth(t->iov[2 * i].iov_base, auth);
}

void sg_wire_train_set_fanout_first(struct sg_udp_train *t, uint32_t first)
{
	for (unsigned int i = 0; i < t->n; i++)
		sg_wire_set_fanout_first(t->iov[2 * i].iov_base, first);
}

void sg_wire_set_fanout_first(void *dgram, uint32_t first)
{
	uint16_t v = htole16((uint16_t)first);

	memcpy((uint8_t *)dgram + offsetof(struct sg_wire_hdr, fanout_first), &v, sizeof(v));
}

void sg_wire_set_auth(void *dgram, uint64_t auth)
{
	uint64_t v = htole64(auth);

	memcpy((uint8_t *)dgram + offsetof(struct sg_wire_hdr, auth), &v, sizeof(v));
}

uint64_t sg_wire_nonce_of(const void *dgram)
{
	uint64_t v;

	memcpy(&v, (const uint8_t *)dgram + offsetof(struct sg_wire_hdr, nonce), sizeof(v));
	return le64toh(v);
}

uint32_t sg_wire_coll_id_of(const void *dgram)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)dgram + offsetof(struct sg_wire_hdr, coll_id), sizeof(v));
	return le32toh(v);
}

int sg_wire_decode(const void *buf, size_t len, struct sg_wire_hdr *hdr)
{
	struct sg_wire_hdr h;

	if (len < SG_WIRE_HDR_LEN || len - SG_WIRE_HDR_LEN > SG_MAX_DGRAM_PAYLOAD)
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	h.magic = le32toh(h.magic);
	h.coll_id = le32toh(h.coll_id);
	h.count = le32toh(h.count);
	h.msg_len = le32toh(h.msg_len);
	h.chunk = le16toh(h.chunk);
	h.nchunks = le16toh(h.nchunks);
	h.len = le16toh(h.len);
	h.flags = le16toh(h.flags);
	h.fanout_first = le16toh(h.fanout_first);
	h.nonce = le64toh(h.nonce);
	h.auth = le64toh(h.auth);
	h.seg_first = le32toh(h.seg_first);
	h.seg = le16toh(h.seg);
	h.nsegs = le16toh(h.nsegs);
	h.whole_len = le32toh(h.whole_len);
	h.whole_count = le32toh(h.whole_count);

	if (!sg_wire_framing_ok(&h, (__u32)(len - SG_WIRE_HDR_LEN)) || !sg_wire_geometry_ok(&h))
		return -EBADMSG;
	*hdr = h;
	return 0;
}
