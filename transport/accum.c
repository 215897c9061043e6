// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What every transport shares about the datapath's state (accum.h). */
#include <math.h>
#include <string.h>

#include "common/datatype.h"
#include "common/floatbits.h"
#include "transport/accum.h"
#include "bpf/fold.bpf.h"

uint32_t sg_response_nchunks(const struct sg_tp_reduce *r)
{
	uint32_t cb = sg_wire_response_chunk(r->dtype);

	return (r->msg_len + cb - 1) / cb;
}

void sg_result_identity(const struct sg_tp_reduce *r, uint32_t chunk, void *out)
{
	size_t cb = sg_wire_response_chunk(r->dtype), esz = sg_wire_dtype_size(r->dtype);
	size_t from = (size_t)chunk * cb, to = from + cb < r->msg_len ? from + cb : r->msg_len;

	sg_fill_identity(r->dtype, r->op, (uint8_t *)out + from, (to - from) / esz);
}

/* sg_fsum_value() rounded to a double, when that is exact: a mantissa that
 * fits a double's 53 bits once its trailing zeros are dropped, scaled by a
 * power of two that keeps it normal
 * (its one rounding, to float32, then happens in the caller, as on the long
 * double path, at a fraction of its cost). Returns 0 when it does not apply. */
static int fsum_exact_double(int64_t m, uint16_t aux, double *v)
{
	int e = (int)(aux & SG_FSUM_EXP) - SG_FSUM_BIAS;
	union {
		uint64_t u;
		double d;
	} scale;

	if (aux & ~SG_FSUM_EXP)
		return 0;
	/* Mantissas are kept wide (a float32's 24 bits sit at bit 29): drop
	 * trailing zeros until it fits 53 bits, if it does. */
	if (m <= -(1LL << 53) || m >= (1LL << 53)) {
		uint64_t u = m < 0 ? -(uint64_t)m : (uint64_t)m;
		int excess = 64 - __builtin_clzll(u) - 53;

		if (__builtin_ctzll(u) < excess)
			return 0;
		m >>= excess;	/* exact: those bits are zeros */
		e += excess;
	}
	if (e < -1022 || e > 960)
		return 0;
	scale.u = (uint64_t)(e + 1023) << 52;
	*v = (double)m * scale.d;
	return 1;
}

static int is_whole(const uint64_t *whole, uint32_t c)
{
	return !whole || (whole[c / 64] >> (c % 64) & 1);
}

/* The coordinator's vector is the 1025th addend of a float SUM at most
 * (1024 workers): halve an accumulator at 2^62 or beyond, exponent one up,
 * so that one more 53-bit addend cannot overflow 63 bits. It drops one bit
 * below the new quantum: docs/floats.md counts it. */
static void fsum_make_room(uint64_t *m, uint16_t *aux)
{
	for (unsigned int k = 0; k < SG_FSUM_ELEMS; k++) {
		int64_t v = (int64_t)m[k];

		if (v >= (1LL << 62) || v <= -(1LL << 62)) {
			m[k] = (uint64_t)(v >> 1);
			aux[k] = (uint16_t)((aux[k] & ~SG_FSUM_EXP) | ((aux[k] & SG_FSUM_EXP) + 1));
		}
	}
}

/* The coordinator's part of a float SUM chunk, by the general addition: after
 * fsum_make_room() an exponent can be one above the format's largest finite
 * one, which the fold's fast path takes for its specials' (bpf/fold.bpf.h).
 * Not the fast path, then: this runs once per collective. */
static void fsum_fold_own(uint64_t *m, uint16_t *aux, const void *src, size_t n, uint8_t dtype)
{
	const size_t esz = sg_wire_dtype_size(dtype);

	for (size_t k = 0; k < n; k++) {
		uint64_t b = 0;

		memcpy(&b, (const uint8_t *)src + k * esz, esz);	/* little-endian */
		sg_fsum_add((__s64 *)&m[k], &aux[k], sg_fdecode(dtype, b));
	}
}

/* Store element @j of a float SUM result: @v rounded once to @dtype. */
static void fsum_store(void *out, size_t j, uint8_t dtype, long double v)
{
	switch (dtype) {
	case SG_FLOAT32: ((float *)out)[j] = (float)v; break;
	case SG_FLOAT64: ((double *)out)[j] = (double)v; break;
	default: ((uint16_t *)out)[j] = (uint16_t)sg_float_round_bits(v, dtype); break;
	}
}

void sg_result_copy(const uint8_t *acc, const uint16_t *aux, const struct sg_tp_reduce *r,
		    const uint64_t *whole, void *out)
{
	const int fsum = r->op == SG_OP_SUM && sg_wire_dtype_fsum(r->dtype);
	const size_t esz = sg_wire_dtype_size(r->dtype);
	uint32_t cb = sg_wire_response_chunk(r->dtype);
	/* A chunk with the coordinator's own part folded in: the accumulator
	 * copied, then folded as a worker's chunk would be. */
	uint64_t mine[SG_ACC_BYTES / 8];
	uint16_t mine_aux[SG_FSUM_ELEMS];

	for (uint32_t c = 0; c < r->nchunks; c++) {
		size_t len = r->msg_len - (size_t)c * cb < cb ? r->msg_len - (size_t)c * cb : cb;

		if (r->own && is_whole(whole, c)) {
			uint64_t src[SG_ACC_BYTES / 8];

			memcpy(mine, acc + (size_t)c * SG_ACC_BYTES, SG_ACC_BYTES);
			memcpy(mine_aux, aux + (size_t)c * SG_FSUM_ELEMS, sizeof(mine_aux));
			memcpy(src, (const uint8_t *)r->own + (size_t)c * cb, len);	/* aligned */
			if (fsum) {
				fsum_make_room(mine, mine_aux);
				fsum_fold_own(mine, mine_aux, src, len / esz, (uint8_t)r->dtype);
			} else {
				sg_fold(mine, mine_aux, src, (uint32_t)len, (uint8_t)r->dtype, r->op, 0);
			}
		}
		if (!is_whole(whole, c)) {
			sg_result_identity(r, c, out);
		} else if (fsum) {
			/* Each element is a mantissa and an exponent, rounded
			 * once here; an accumulator chunk has room for
			 * SG_FSUM_ELEMS of them. */
			for (size_t k = 0; k < len / esz; k++) {
				size_t j = (size_t)c * (cb / esz) + k;
				uint16_t a = r->own ? mine_aux[k] : aux[(size_t)c * SG_FSUM_ELEMS + k];
				int64_t m;
				long double v;
				double d;

				memcpy(&m, r->own ? (const uint8_t *)mine + k * 8
						  : acc + (size_t)c * SG_ACC_BYTES + k * 8, sizeof(m));
				if (fsum_exact_double(m, a, &d)) {
					if (r->dtype == SG_FLOAT32) {	/* the common case, cheaply */
						((float *)out)[j] = (float)d;
						continue;
					}
					v = d;
				} else
					v = sg_fsum_value(m, a);
				fsum_store(out, j, (uint8_t)r->dtype, v);
			}
		} else {
			memcpy((uint8_t *)out + (size_t)c * cb,
			       r->own ? (const uint8_t *)mine : acc + (size_t)c * SG_ACC_BYTES, len);
		}
	}
}

void sg_chunks_missing(const struct sg_tp_reduce *r, const uint64_t *whole, uint64_t *missing)
{
	memset(missing, 0, SG_MAX_RESPONSE_CHUNKS / 8);
	for (uint32_t c = 0; c < r->nchunks; c++)
		if (!is_whole(whole, c))
			missing[c / 64] |= 1ULL << (c % 64);
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
