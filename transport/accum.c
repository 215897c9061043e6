// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What every transport shares about the datapath's state (accum.h). */
#include <string.h>

#include "transport/accum.h"

uint32_t sg_response_nchunks(const struct sg_tp_reduce *r)
{
	uint32_t cb = sg_wire_response_chunk(r->dtype);

	return (r->msg_len + cb - 1) / cb;
}

void sg_result_copy(const uint8_t *acc, const uint16_t *aux, const struct sg_tp_reduce *r,
		    void *out)
{
	uint32_t cb = sg_wire_response_chunk(r->dtype);

	if (r->op == SG_OP_SUM && (r->dtype == SG_FLOAT32 || r->dtype == SG_FLOAT64)) {
		/* Each element is a mantissa and an exponent, rounded once here. */
		for (uint32_t j = 0; j < r->count; j++) {
			size_t e = j / SG_FSUM_ELEMS, k = j % SG_FSUM_ELEMS;
			int64_t m;
			long double v;

			memcpy(&m, acc + e * SG_CHUNK_BYTES + k * 8, sizeof(m));
			v = sg_fsum_value(m, aux[e * SG_FSUM_ELEMS + k]);
			if (r->dtype == SG_FLOAT32)
				((float *)out)[j] = (float)v;
			else
				((double *)out)[j] = (double)v;
		}
		return;
	}
	for (uint32_t c = 0; c < r->nchunks; c++) {
		size_t len = r->msg_len - (size_t)c * cb < cb ? r->msg_len - (size_t)c * cb : cb;

		memcpy((uint8_t *)out + (size_t)c * cb, acc + (size_t)c * SG_CHUNK_BYTES, len);
	}
}

struct sg_arm_desc sg_arm_desc_of(const struct sg_tp_reduce *r)
{
	return (struct sg_arm_desc){
		.coll_id = r->coll_id,
		.count = r->count,
		.nonce = r->nonce,
		.gen = r->gen,
		.msg_len = r->msg_len,
		.target = r->target,
		.chunk_base = r->pool_base,
		.nchunks = (uint16_t)r->nchunks,
		.dtype = (uint8_t)r->dtype,
		.op = (uint8_t)r->op,
	};
}

void sg_stats_public(const struct sg_stats *st, struct sg_comm_stats *out)
{
	*out = (struct sg_comm_stats){
		.rx_accepted = st->rx_accepted,
		.rx_duplicate = st->rx_duplicate,
		.rx_stale = st->rx_stale,
		.rx_late = st->rx_late,
		.rx_unknown_src = st->rx_unknown_src,
		/* A request whose arm descriptor was not its own went out
		 * unarmed: filed with the other inconsistent datagrams. */
		.rx_malformed = st->rx_malformed + st->tx_arm_mismatch,
		.completed = st->completed,
		.tx_fanout = st->tx_fanout,
		.rx_forged = st->rx_forged,
	};
}
