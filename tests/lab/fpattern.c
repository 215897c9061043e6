// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Float test patterns (enum tw_fpattern): the contributions of SG_FLOAT32,
 * SG_FLOAT64, SG_FLOAT16 and SG_BFLOAT16 and their exact references (MIN/MAX bit for bit, SUM in
 * compensated long double); and the entry points for every datatype,
 * tw_contribution_ex() and tw_reference_ex(), which hand integers to
 * contrib.c and pairs to pairs.c.
 */
#include <errno.h>
#include <float.h>
#include <math.h>

#include "tests/lab/tw_internal.h"

uint32_t tw_request_pattern(const void *data, size_t len)
{
	const unsigned char *b = data;

	if (!data || len < 4)
		return 0;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Uniform in [-1, 1), 53 bits. */
static double uniform_pm1(uint64_t *st)
{
	return (double)(next(st) >> 11) * 0x1p-52 - 1.0;
}

/* IEEE layouts. */
struct ffmt {
	int mbits;		/* fraction bits */
	int sbit;		/* sign bit */
	int bias;
	uint32_t emax;		/* largest biased exponent of a finite value */
	double max;		/* largest finite value */
};

static const struct ffmt F32 = { 23, 31, 127, 254, FLT_MAX };
static const struct ffmt F64 = { 52, 63, 1023, 2046, DBL_MAX };
static const struct ffmt F16 = { 10, 15, 15, 30, 65504.0 };
static const struct ffmt BF16 = { 7, 15, 127, 254, 0x1.fep127 };

static int is_float(enum sg_datatype dt)
{
	return dt == SG_FLOAT32 || dt == SG_FLOAT64 || dt == SG_FLOAT16 || dt == SG_BFLOAT16;
}

static const struct ffmt *fmt_of(enum sg_datatype dt)
{
	return dt == SG_FLOAT32 ? &F32 : dt == SG_FLOAT64 ? &F64 : dt == SG_FLOAT16 ? &F16 : &BF16;
}

static uint64_t fmake(const struct ffmt *f, int neg, uint32_t ebiased, uint64_t frac)
{
	return (uint64_t)(neg != 0) << f->sbit | (uint64_t)ebiased << f->mbits |
	       (frac & ((1ULL << f->mbits) - 1));
}

/* A value with a random fraction and the unbiased exponent @e (normal;
 * exponents beyond float16's range fold back into it, e % 15). */
static uint64_t fwith_exp(const struct ffmt *f, uint64_t *st, int neg, int e)
{
	if (e + f->bias < 1 || (uint32_t)(e + f->bias) > f->emax)
		e %= f->bias;
	return fmake(f, neg, (uint32_t)(e + f->bias), next(st));
}

/* The value of bits @b of @dt, exactly. */
static long double ffrom_bits(enum sg_datatype dt, uint64_t b)
{
	return sg_float_bits_value(b, dt);
}

static uint64_t finf_bits(enum sg_datatype dt, int neg)
{
	const struct ffmt *f = fmt_of(dt);

	return fmake(f, neg, f->emax + 1, 0);
}

/* Quiet, negative quiet, signalling, quiet with a payload. */
static uint64_t fnan_bits(enum sg_datatype dt, unsigned int kind)
{
	const struct ffmt *f = fmt_of(dt);
	uint64_t quiet = 1ULL << (f->mbits - 1);

	switch (kind & 3) {
	case 0: return finf_bits(dt, 0) | quiet;
	case 1: return finf_bits(dt, 1) | quiet;
	case 2: return finf_bits(dt, 0) | 1;
	default: return finf_bits(dt, 0) | quiet | (0x12345 & (quiet - 1));
	}
}

/* What the ranks of one element share. */
struct felem {
	enum sg_datatype dt;
	uint32_t pattern, coll_id, index;
	int op;
	uint64_t base;		/* UNIFORM MIN/MAX: the base value's bits */
	unsigned int cls;	/* SPECIAL: the element's class; LARGE: sign class */
};

static void felem_init(struct felem *E, enum sg_datatype dt, uint32_t pattern, uint32_t coll_id,
		       uint32_t index, int op)
{
	uint64_t st;

	E->dt = dt;
	E->pattern = pattern;
	E->coll_id = coll_id;
	E->index = index;
	E->op = op;
	E->base = 0;
	E->cls = index % 4;
	/* Only what the pattern uses: the workers compute this per element. */
	if (pattern == TW_FP_SPECIAL ||
	    (pattern == TW_FP_UNIFORM && (op == SG_OP_MIN || op == SG_OP_MAX))) {
		st = fseed(ALL_RANKS, coll_id, index, op, SALT_ELEM | pattern << 4 | dt);
		E->base = fwith_exp(fmt_of(dt), &st, (int)(next(&st) & 1),
				    (int)below(&st, 41) - 20);
		E->cls = (unsigned int)below(&st, 8);
	}
}

static uint64_t fbits_rank(const struct felem *E, uint32_t rank)
{
	const struct ffmt *f = fmt_of(E->dt);
	uint64_t st = fseed(rank, E->coll_id, E->index, E->op, SALT_RANK | E->pattern << 4 | E->dt);
	uint64_t r = next(&st), sign = 1ULL << f->sbit;
	int neg = (int)(r >> 63);

	switch (E->pattern) {
	case TW_FP_MIXED:
		switch (r & 7) {
		case 0: /* subnormal */
			return fmake(f, neg, 0, next(&st));
		case 1: /* signed zero */
			return fmake(f, neg, 0, 0);
		case 2:
		case 3: /* anywhere in the normal range */
			return fmake(f, neg, 1 + (uint32_t)below(&st, f->emax), next(&st));
		default: /* 1e-30 .. 1e30 */
			return fwith_exp(f, &st, neg, (int)below(&st, 201) - 100);
		}
	case TW_FP_CANCEL: {
		uint64_t ps = fseed(rank >> 1, E->coll_id, E->index, E->op,
				    SALT_PAIR | E->pattern << 4 | E->dt);
		uint64_t xb = fwith_exp(f, &ps, (int)(next(&ps) & 1), (int)below(&ps, 61) - 30);
		double x = (double)ffrom_bits(E->dt, xb), v = rank & 1 ? -x : x;

		if ((r & 3) == 0)
			v += x * ldexp(uniform_pm1(&st), -20 - (int)below(&st, 31));
		return fto_bits(E->dt, v);
	}
	case TW_FP_LARGE: {
		double mag = (r & 15) == 0 ? f->max : f->max / 2 * (1 - ldexp((double)(next(&st) >> 11), -61));

		if (E->cls == 0)
			neg = 0;
		else if (E->cls == 1)
			neg = 1;
		return fto_bits(E->dt, neg ? -mag : mag);
	}
	case TW_FP_SPECIAL:
		switch (E->cls) {
		case 1:
			if ((r & 3) == 0)
				return fnan_bits(E->dt, 0);
			break;
		case 2:
			if ((r & 3) == 0)
				return finf_bits(E->dt, 0);
			break;
		case 3:
			if ((r & 3) == 0)
				return finf_bits(E->dt, 1);
			break;
		case 4:
			return finf_bits(E->dt, rank & 1);
		case 5:
			if (r & 1)
				return finf_bits(E->dt, 0);
			break;
		case 6:
			if (r & 1)
				return fnan_bits(E->dt, (unsigned int)(r >> 1));
			break;
		case 7:
			if ((r & 63) == 0)
				return fnan_bits(E->dt, (unsigned int)(r >> 6));
			break;
		}
		return fto_bits(E->dt, uniform_pm1(&st));
	default: /* TW_FP_UNIFORM and unknown patterns */
		if (E->op == SG_OP_MIN || E->op == SG_OP_MAX) {
			/* A few ulps around the element's base, or a signed zero. */
			if ((r & 15) == 0)
				return fmake(f, neg, 0, 0);
			return (E->base & sign) | ((E->base & ~sign) + below(&st, 7) - 3);
		}
		return fto_bits(E->dt, uniform_pm1(&st));
	}
}

uint64_t tw_fbits(enum sg_datatype dt, uint32_t pattern, uint32_t rank, uint32_t coll_id,
		  uint32_t index, int op)
{
	struct felem E;

	if (!is_float(dt))
		return 0;
	felem_init(&E, dt, pattern, coll_id, index, op);
	return fbits_rank(&E, rank);
}

void tw_contribution_ex(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
			uint32_t pattern, size_t count, void *out)
{
	unsigned char *p = out;

	if ((unsigned int)dt >= SG_DATATYPE_COUNT)
		return;
	if (dt_integer(dt)) {
		tw_contribution(rank, coll_id, dt, op, count, out);
		return;
	}
	if (!is_float(dt)) {
		tw_loc_contribution(rank, coll_id, dt, op, count, out);
		return;
	}
	for (size_t i = 0; i < count; i++)
		store_le(p + i * tw_dt_width[dt],
			 tw_fbits(dt, pattern, rank, coll_id, (uint32_t)i, op), tw_dt_width[dt]);
}

static int fisnan_bits(enum sg_datatype dt, uint64_t b)
{
	return (b & ~(1ULL << fmt_of(dt)->sbit)) > finf_bits(dt, 0);
}

/* -1, 0, 1 as a is below, equal to or above b, for non-NaN bits: by value,
 * and -0 below +0. */
static int fcmp_bits(enum sg_datatype dt, uint64_t a, uint64_t b)
{
	long double x = ffrom_bits(dt, a), y = ffrom_bits(dt, b);

	if (x != y)
		return x < y ? -1 : 1;
	if (x == 0 && signbit(x) != signbit(y))
		return signbit(x) ? -1 : 1;
	return 0;
}

/* Sum and sum of |x| of the finite values in long double (Neumaier's
 * compensated summation); specials set *nan / *pinf / *ninf. */
struct fsum {
	long double s, c, abs;
	int nan, pinf, ninf;
};

static void fsum_add(struct fsum *a, long double x)
{
	long double t;

	if (isnan(x)) {
		a->nan = 1;
		return;
	}
	if (isinf(x)) {
		if (x > 0)
			a->pinf = 1;
		else
			a->ninf = 1;
		return;
	}
	t = a->s + x;
	if (fabsl(a->s) >= fabsl(x))
		a->c += (a->s - t) + x;
	else
		a->c += (x - t) + a->s;
	a->s = t;
	a->abs += fabsl(x);
}

static long double fsum_result(const struct fsum *a)
{
	if (a->nan || (a->pinf && a->ninf))
		return NAN;
	if (a->pinf)
		return INFINITY;
	if (a->ninf)
		return -INFINITY;
	return a->s + a->c;
}

int tw_reference_fsum(enum sg_datatype dt, uint32_t pattern, uint32_t coll_id, size_t count,
		      const uint32_t *ranks, size_t nranks, long double *sum, long double *abssum)
{
	if (!is_float(dt) || !nranks || !ranks)
		return -EINVAL;
	for (size_t i = 0; i < count; i++) {
		struct fsum a = { 0 };
		struct felem E;

		felem_init(&E, dt, pattern, coll_id, (uint32_t)i, SG_OP_SUM);
		for (size_t r = 0; r < nranks; r++)
			fsum_add(&a, ffrom_bits(dt, fbits_rank(&E, ranks[r])));
		if (sum)
			sum[i] = fsum_result(&a);
		if (abssum)
			abssum[i] = a.abs;
	}
	return 0;
}

int tw_reference_ex(enum sg_datatype dt, enum sg_op op, uint32_t pattern, uint32_t coll_id,
		    size_t count, const uint32_t *ranks, size_t nranks, void *out)
{
	unsigned char *p = out;

	if ((unsigned int)dt >= SG_DATATYPE_COUNT || (count && !out))
		return -EINVAL;
	if (dt_integer(dt))
		return tw_reference(dt, op, coll_id, count, ranks, nranks, out);
	if (!nranks || !ranks)
		return -EINVAL;
	if (is_float(dt) ? op != SG_OP_SUM && op != SG_OP_MIN && op != SG_OP_MAX
			 : op != SG_OP_MAXLOC && op != SG_OP_MINLOC)
		return -EINVAL;
	if (!is_float(dt)) {
		tw_loc_reference(dt, op, coll_id, count, ranks, nranks, out);
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		unsigned char *q = p + i * tw_dt_width[dt];
		struct felem E;
		uint64_t acc = 0;

		felem_init(&E, dt, pattern, coll_id, (uint32_t)i, op);
		if (op == SG_OP_SUM) {
			struct fsum a = { 0 };
			long double s;

			for (size_t r = 0; r < nranks; r++)
				fsum_add(&a, ffrom_bits(dt, fbits_rank(&E, ranks[r])));
			s = fsum_result(&a);
			acc = dt == SG_FLOAT32 ? fto_bits(dt, (float)s) :
			      dt == SG_FLOAT64 ? fto_bits(dt, (double)s) :
			      sg_float_round_bits(s, dt);	/* once, from long double */
		} else {
			for (size_t r = 0; r < nranks; r++) {
				uint64_t b = fbits_rank(&E, ranks[r]);
				int c;

				if (r == 0) {
					acc = b;
					continue;
				}
				if (fisnan_bits(dt, acc))
					continue;
				if (fisnan_bits(dt, b)) {
					acc = b;
					continue;
				}
				c = fcmp_bits(dt, b, acc);
				if (op == SG_OP_MIN ? c < 0 : c > 0)
					acc = b;
			}
		}
		store_le(q, acc, tw_dt_width[dt]);
	}
	return 0;
}
