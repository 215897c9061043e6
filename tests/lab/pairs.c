// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * MAXLOC/MINLOC pairs (SG_INT32_LOC .. SG_FLOAT64_LOC): each rank's value and
 * index, and the reference reduction with MPI's rule.
 */
#include <math.h>

#include "tests/lab/tw_internal.h"

int32_t tw_loc_index(uint32_t rank)
{
	return (int32_t)((uint64_t)rank * 7 % 1021) - 100;
}

/* The value of @rank's pair at element @index: an integer in *iv or a float
 * in *fv (exact in the pair's format). */
static void loc_value(enum sg_datatype dt, uint32_t rank, uint32_t coll_id, uint32_t index,
		      int op, int64_t *iv, double *fv)
{
	uint64_t es = fseed(ALL_RANKS, coll_id, index, op, SALT_LOC | dt);
	uint64_t rs = fseed(rank, coll_id, index, op, SALT_LOC | dt);
	uint64_t r = next(&es);
	int64_t k = (int64_t)below(&rs, 5) - 2;

	switch (dt) {
	case SG_INT32_LOC: {
		int64_t base = (int64_t)(r % (UINT32_MAX - 3)) + INT32_MIN + 2;

		if (index % 4 == 0)
			base = INT32_MAX - 2;
		else if (index % 4 == 1)
			base = INT32_MIN + 2;
		*iv = base + k;
		break;
	}
	case SG_INT64_LOC: {
		int64_t step = index % 3 == 0 ? 1 : index % 3 == 1 ? 1LL << 16 : 1LL << 32;
		int64_t base = (int64_t)(r >> 2) - (1LL << 61);

		if (index % 6 == 0)
			base = INT64_MAX - 2 * step;
		else if (index % 6 == 1)
			base = INT64_MIN + 2 * step;
		*iv = base + k * step;
		break;
	}
	case SG_FLOAT32_LOC: {
		int64_t m = (int64_t)(r % ((1u << 21) + 1)) - (1 << 20);

		*fv = (double)ldexpf((float)(m + k), (int)((r >> 32) % 81) - 40);
		break;
	}
	default: { /* SG_FLOAT64_LOC */
		int64_t m = (int64_t)(r % ((1ULL << 41) + 1)) - (1LL << 40);

		*fv = ldexp((double)(m + k), (int)((r >> 44) % 601) - 300);
		break;
	}
	}
}

static void loc_store(enum sg_datatype dt, unsigned char *p, int64_t iv, double fv, int32_t idx)
{
	switch (dt) {
	case SG_INT32_LOC:
		store_le(p, (uint64_t)iv, 4);
		store_le(p + 4, (uint32_t)idx, 4);
		break;
	case SG_INT64_LOC:
		store_le(p, (uint64_t)iv, 8);
		store_le(p + 8, (uint32_t)idx, 4);
		store_le(p + 12, 0, 4);
		break;
	case SG_FLOAT32_LOC:
		store_le(p, fto_bits(SG_FLOAT32, fv), 4);
		store_le(p + 4, (uint32_t)idx, 4);
		break;
	default:
		store_le(p, fto_bits(SG_FLOAT64, fv), 8);
		store_le(p + 8, (uint32_t)idx, 4);
		store_le(p + 12, 0, 4);
		break;
	}
}

void tw_loc_contribution(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
			 size_t count, void *out)
{
	unsigned char *p = out;

	for (size_t i = 0; i < count; i++) {
		int64_t iv = 0;
		double fv = 0;

		loc_value(dt, rank, coll_id, (uint32_t)i, op, &iv, &fv);
		loc_store(dt, p + i * tw_dt_width[dt], iv, fv, tw_loc_index(rank));
	}
}

/* MPI's rule: @b replaces @a if better, or equal with a lower index. */
static int loc_better_i(enum sg_op op, int64_t va, int32_t ia, int64_t vb, int32_t ib)
{
	if (vb != va)
		return op == SG_OP_MAXLOC ? vb > va : vb < va;
	return ib < ia;
}

static int loc_better_f(enum sg_op op, double va, int32_t ia, double vb, int32_t ib)
{
	if (vb != va)
		return op == SG_OP_MAXLOC ? vb > va : vb < va;
	return ib < ia;
}

void tw_loc_reference(enum sg_datatype dt, enum sg_op op, uint32_t coll_id, size_t count,
		      const uint32_t *ranks, size_t nranks, void *out)
{
	unsigned char *p = out;

	for (size_t i = 0; i < count; i++) {
		unsigned char *q = p + i * tw_dt_width[dt];
		int64_t biv = 0, iv;
		double bfv = 0, fv;
		int32_t bidx = 0;

		for (size_t r = 0; r < nranks; r++) {
			int32_t idx = tw_loc_index(ranks[r]);

			iv = 0;
			fv = 0;
			loc_value(dt, ranks[r], coll_id, (uint32_t)i, op, &iv, &fv);
			if (r == 0 || (dt == SG_INT32_LOC || dt == SG_INT64_LOC
					       ? loc_better_i(op, biv, bidx, iv, idx)
					       : loc_better_f(op, bfv, bidx, fv, idx))) {
				biv = iv;
				bfv = fv;
				bidx = idx;
			}
		}
		loc_store(dt, q, biv, bfv, bidx);
	}
}
