// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Deterministic integer contributions (tw_value()) and their references in
 * plain C (tw_reference()); other datatypes go to fpattern.c.
 */
#include <errno.h>

#include "tests/lab/tw_internal.h"

#define BYTE_LSBS	0x0101010101010101ULL

const unsigned char tw_dt_width[SG_DATATYPE_COUNT] = {
	1, 1, 2, 2, 4, 4, 8, 8,		/* integers */
	4, 8,				/* SG_FLOAT32, SG_FLOAT64 */
	8, 16, 8, 16,			/* SG_INT32_LOC .. SG_FLOAT64_LOC */
	2, 2,				/* SG_FLOAT16, SG_BFLOAT16 */
};

static int dt_signed(enum sg_datatype dt)
{
	return dt == SG_INT8 || dt == SG_INT16 || dt == SG_INT32 || dt == SG_INT64;
}

/* Bit b of every byte is set with probability 2^-level[b]: combined over
 * N contributors, the bits whose level is near log2(N) stay interesting. */
static const unsigned char level[8] = { 1, 2, 3, 4, 6, 8, 10, 12 };

static uint64_t sparse_ones(uint64_t *state)
{
	uint64_t and = ~0ULL, ones = 0;
	int k = 0;

	for (int b = 0; b < 8; b++) {
		while (k < level[b]) {
			and &= next(state);
			k++;
		}
		ones |= and & (BYTE_LSBS << b);
	}
	return ones;
}

uint64_t tw_value(uint32_t rank, uint32_t coll_id, uint32_t index, int op)
{
	uint64_t st = mix64(((uint64_t)coll_id << 32 | rank) + GOLDEN);
	uint64_t r, base, w;
	int8_t low;
	int g;

	st = mix64(st ^ (((uint64_t)(uint32_t)op << 32 | index) * GOLDEN));
	r = next(&st);
	switch (op) {
	case SG_OP_PROD:
		return r | 1;
	case SG_OP_BAND:
		return ~sparse_ones(&st);
	case SG_OP_BOR:
		return sparse_ones(&st);
	case SG_OP_MIN:
	case SG_OP_MAX:
		/* Low byte: an element's base shared by all ranks, plus or minus
		 * a geometric offset (0..31, large ones rare). */
		base = mix64(mix64((uint64_t)coll_id << 32 ^ 0x5851f42d4c957f2dULL) +
			     ((uint64_t)(uint32_t)op << 32 | index) * GOLDEN);
		w = next(&st);
		g = __builtin_ctzll(w | 1ULL << 15) * 2 + (int)(next(&st) & 1);
		low = (int8_t)((int)(base % 193) - 96 + (op == SG_OP_MAX ? g : -g));
		return (r & ~0xffULL) | (uint8_t)low;
	default: /* SUM, BXOR */
		return r;
	}
}

void tw_contribution(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
		     size_t count, void *out)
{
	unsigned char *p = out;
	unsigned int width;

	if ((unsigned int)dt >= SG_DATATYPE_COUNT)
		return;
	if (!dt_integer(dt)) {
		tw_contribution_ex(rank, coll_id, dt, op, 0, count, out);
		return;
	}
	width = tw_dt_width[dt];
	for (size_t i = 0; i < count; i++)
		store_le(p + i * width, tw_value(rank, coll_id, (uint32_t)i, op), width);
}

/* @v as a value of type @dt widened to 64 bits, so that signed and unsigned
 * comparisons of the widened values order them as the narrow ones. */
static uint64_t widen(uint64_t v, enum sg_datatype dt)
{
	unsigned int bits = tw_dt_width[dt] * 8;

	if (bits == 64)
		return v;
	if (dt_signed(dt))
		return (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
	return v & ((1ULL << bits) - 1);
}

static int less(uint64_t a, uint64_t b, enum sg_datatype dt)
{
	return dt_signed(dt) ? (int64_t)a < (int64_t)b : a < b;
}

static uint64_t identity(enum sg_datatype dt, enum sg_op op)
{
	unsigned int bits = tw_dt_width[dt] * 8;
	uint64_t umax = bits == 64 ? ~0ULL : (1ULL << bits) - 1;

	switch (op) {
	case SG_OP_PROD:
		return 1;
	case SG_OP_MIN: /* the type's max */
		return dt_signed(dt) ? umax >> 1 : umax;
	case SG_OP_MAX: /* the type's min */
		return dt_signed(dt) ? widen(1ULL << (bits - 1), dt) : 0;
	case SG_OP_BAND:
		return ~0ULL;
	default:
		return 0;
	}
}

int tw_reference(enum sg_datatype dt, enum sg_op op, uint32_t coll_id, size_t count,
		 const uint32_t *ranks, size_t nranks, void *out)
{
	unsigned char *p = out;

	if ((unsigned int)dt >= SG_DATATYPE_COUNT || (unsigned int)op >= SG_OP_COUNT ||
	    (nranks && !ranks) || (count && !out))
		return -EINVAL;
	if (!dt_integer(dt))
		return tw_reference_ex(dt, op, 0, coll_id, count, ranks, nranks, out);
	for (size_t i = 0; i < count; i++) {
		uint64_t acc = identity(dt, op);

		for (size_t r = 0; r < nranks; r++) {
			uint64_t v = widen(tw_value(ranks[r], coll_id, (uint32_t)i, op), dt);

			switch (op) {
			case SG_OP_SUM:
				acc += v;
				break;
			case SG_OP_PROD:
				acc *= v;
				break;
			case SG_OP_MIN:
				if (less(v, acc, dt))
					acc = v;
				break;
			case SG_OP_MAX:
				if (less(acc, v, dt))
					acc = v;
				break;
			case SG_OP_BAND:
				acc &= v;
				break;
			case SG_OP_BOR:
				acc |= v;
				break;
			default:
				acc ^= v;
				break;
			}
		}
		/* Truncating the 64-bit sum/product gives the wrapped result. */
		store_le(p + i * tw_dt_width[dt], acc, tw_dt_width[dt]);
	}
	return 0;
}

uint32_t tw_rank_outside(const uint32_t *ranks, size_t n)
{
	for (uint32_t r = 0;; r++) {
		size_t i = 0;

		while (i < n && ranks[i] != r)
			i++;
		if (i == n)
			return r;
	}
}
