// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Deterministic test workers: values, reference reductions, server, records. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testworker.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GOLDEN		0x9e3779b97f4a7c15ULL
#define BYTE_LSBS	0x0101010101010101ULL
#define POLL_MAX_MS	100	/* bound on each wait, so *stop is noticed */
#define NKINDS		3

/* ------------------------------------------------------------------ values */

/* Bytes of an element; the integer types' widths come first. */
static const unsigned char dt_width[SG_DATATYPE_COUNT] = {
	1, 1, 2, 2, 4, 4, 8, 8,		/* integers */
	4, 8,				/* SG_FLOAT32, SG_FLOAT64 */
	8, 16, 8, 16,			/* SG_INT32_LOC .. SG_FLOAT64_LOC */
};

static int dt_integer(enum sg_datatype dt)
{
	return (unsigned int)dt <= SG_UINT64;
}

static int dt_signed(enum sg_datatype dt)
{
	return dt == SG_INT8 || dt == SG_INT16 || dt == SG_INT32 || dt == SG_INT64;
}

uint64_t tw_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The splitmix64 output function. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Successive words of a splitmix64 stream. */
static uint64_t next(uint64_t *state)
{
	*state += GOLDEN;
	return mix64(*state);
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

static void store_le(unsigned char *p, uint64_t v, unsigned int width)
{
	for (unsigned int i = 0; i < width; i++)
		p[i] = (unsigned char)(v >> (8 * i));
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
	width = dt_width[dt];
	for (size_t i = 0; i < count; i++)
		store_le(p + i * width, tw_value(rank, coll_id, (uint32_t)i, op), width);
}

/* @v as a value of type @dt widened to 64 bits, so that signed and unsigned
 * comparisons of the widened values order them as the narrow ones. */
static uint64_t widen(uint64_t v, enum sg_datatype dt)
{
	unsigned int bits = dt_width[dt] * 8;

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
	unsigned int bits = dt_width[dt] * 8;
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
		store_le(p + i * dt_width[dt], acc, dt_width[dt]);
	}
	return 0;
}

/* ------------------------------------------------------------ floats, pairs */

uint32_t tw_request_pattern(const void *data, size_t len)
{
	const unsigned char *b = data;

	if (!data || len < 4)
		return 0;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Stream salts: what a stream is for, so that no two coincide. */
#define SALT_RANK	0x10000000u	/* one rank's value */
#define SALT_ELEM	0x20000000u	/* shared by the ranks of an element */
#define SALT_PAIR	0x30000000u	/* shared by ranks r and r^1 */
#define SALT_LOC	0x40000000u	/* pairs (MAXLOC/MINLOC) */
#define ALL_RANKS	0xffffffffu

/* A stream for (who, coll_id, index, op, salt). */
static uint64_t fseed(uint32_t who, uint32_t coll_id, uint32_t index, int op, uint32_t salt)
{
	uint64_t st = mix64(((uint64_t)coll_id << 32 | who) + GOLDEN);

	st = mix64(st ^ (((uint64_t)(uint32_t)op << 32 | index) * GOLDEN));
	return mix64(st ^ ((uint64_t)salt * 0x632be59bd9b4e019ULL));
}

/* Uniform in [0, n). */
static uint64_t below(uint64_t *st, uint64_t n)
{
	return next(st) % n;
}

/* Uniform in [-1, 1), 53 bits. */
static double uniform_pm1(uint64_t *st)
{
	return (double)(next(st) >> 11) * 0x1p-52 - 1.0;
}

/* IEEE binary32/binary64 layout. */
struct ffmt {
	int mbits;		/* fraction bits */
	int sbit;		/* sign bit */
	int bias;
	uint32_t emax;		/* largest biased exponent of a finite value */
	double max;		/* largest finite value */
};

static const struct ffmt F32 = { 23, 31, 127, 254, FLT_MAX };
static const struct ffmt F64 = { 52, 63, 1023, 2046, DBL_MAX };

static const struct ffmt *fmt_of(enum sg_datatype dt)
{
	return dt == SG_FLOAT32 ? &F32 : &F64;
}

static uint64_t fmake(const struct ffmt *f, int neg, uint32_t ebiased, uint64_t frac)
{
	return (uint64_t)(neg != 0) << f->sbit | (uint64_t)ebiased << f->mbits |
	       (frac & ((1ULL << f->mbits) - 1));
}

/* A value with a random fraction and the unbiased exponent @e (normal). */
static uint64_t fwith_exp(const struct ffmt *f, uint64_t *st, int neg, int e)
{
	return fmake(f, neg, (uint32_t)(e + f->bias), next(st));
}

/* @d rounded to @dt, as bits. */
static uint64_t fto_bits(enum sg_datatype dt, double d)
{
	if (dt == SG_FLOAT32) {
		float x = (float)d;
		uint32_t b;

		memcpy(&b, &x, sizeof(b));
		return b;
	} else {
		uint64_t b;

		memcpy(&b, &d, sizeof(b));
		return b;
	}
}

/* The value of bits @b of @dt, exactly. */
static long double ffrom_bits(enum sg_datatype dt, uint64_t b)
{
	if (dt == SG_FLOAT32) {
		uint32_t w = (uint32_t)b;
		float x;

		memcpy(&x, &w, sizeof(x));
		return x;
	} else {
		double x;

		memcpy(&x, &b, sizeof(x));
		return x;
	}
}

static uint64_t fnan_bits(enum sg_datatype dt, unsigned int kind)
{
	static const uint64_t n32[4] = { 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fc12345u };
	static const uint64_t n64[4] = { 0x7ff8000000000000ULL, 0xfff8000000000000ULL,
					 0x7ff0000000000001ULL, 0x7ff8000123456789ULL };

	return dt == SG_FLOAT32 ? n32[kind & 3] : n64[kind & 3];
}

static uint64_t finf_bits(enum sg_datatype dt, int neg)
{
	return dt == SG_FLOAT32 ? (neg ? 0xff800000u : 0x7f800000u)
				: (neg ? 0xfff0000000000000ULL : 0x7ff0000000000000ULL);
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

	if (dt != SG_FLOAT32 && dt != SG_FLOAT64)
		return 0;
	felem_init(&E, dt, pattern, coll_id, index, op);
	return fbits_rank(&E, rank);
}

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

static int is_float(enum sg_datatype dt)
{
	return dt == SG_FLOAT32 || dt == SG_FLOAT64;
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
	for (size_t i = 0; i < count; i++) {
		if (is_float(dt)) {
			store_le(p + i * dt_width[dt],
				 tw_fbits(dt, pattern, rank, coll_id, (uint32_t)i, op), dt_width[dt]);
		} else {
			int64_t iv = 0;
			double fv = 0;

			loc_value(dt, rank, coll_id, (uint32_t)i, op, &iv, &fv);
			loc_store(dt, p + i * dt_width[dt], iv, fv, tw_loc_index(rank));
		}
	}
}

static int fisnan_bits(enum sg_datatype dt, uint64_t b)
{
	return dt == SG_FLOAT32 ? (b & 0x7fffffffu) > 0x7f800000u
				: (b & ~(1ULL << 63)) > 0x7ff0000000000000ULL;
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
	for (size_t i = 0; i < count; i++) {
		unsigned char *q = p + i * dt_width[dt];

		if (is_float(dt)) {
			struct felem E;
			uint64_t acc = 0;

			felem_init(&E, dt, pattern, coll_id, (uint32_t)i, op);
			if (op == SG_OP_SUM) {
				struct fsum a = { 0 };
				long double s;

				for (size_t r = 0; r < nranks; r++)
					fsum_add(&a, ffrom_bits(dt, fbits_rank(&E, ranks[r])));
				s = fsum_result(&a);
				acc = dt == SG_FLOAT32 ? fto_bits(dt, (float)s)
						       : fto_bits(dt, (double)s);
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
			store_le(q, acc, dt_width[dt]);
		} else {
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
	return 0;
}

/* ------------------------------------------------------------ shared state */

/* One kind's record, under a sequence lock: one writer (the rank's server),
 * readers retry while the sequence is odd or changed under them. */
struct tw_rec {
	uint32_t seq;
	uint32_t coll_id;
	uint64_t count;
	uint64_t len;
	uint64_t hash;
};

struct tw_rank {
	struct tw_rec rec[NKINDS];
	uint32_t flags;		/* written by the parent */
	uint32_t delay_ms;	/* written by the parent */
	uint32_t ready;
	uint32_t port;
	int32_t error;
	int32_t last_error;
	uint64_t replies;
	uint64_t errors;
} __attribute__((aligned(64)));

struct tw_shared {
	size_t nranks;
	size_t maplen;
	struct tw_rank rank[];
};

#define LD(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define ST(p, v)	__atomic_store_n(p, v, __ATOMIC_RELAXED)

struct tw_shared *tw_shared_create(size_t nranks)
{
	size_t len;
	struct tw_shared *s;

	if (!nranks || nranks > SIZE_MAX / sizeof(struct tw_rank) - 1) {
		errno = EINVAL;
		return NULL;
	}
	len = sizeof(struct tw_shared) + nranks * sizeof(struct tw_rank);
	s = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	s->nranks = nranks; /* the mapping comes zeroed */
	s->maplen = len;
	return s;
}

void tw_shared_destroy(struct tw_shared *s)
{
	if (s)
		munmap(s, s->maplen);
}

size_t tw_shared_nranks(const struct tw_shared *s)
{
	return s ? s->nranks : 0;
}

static void rec_write(struct tw_rec *r, uint32_t coll_id, uint64_t len, uint64_t hash)
{
	uint32_t seq = LD(&r->seq);

	ST(&r->seq, seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ST(&r->coll_id, coll_id);
	ST(&r->len, len);
	ST(&r->hash, hash);
	ST(&r->count, LD(&r->count) + 1);
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

static void rec_read(const struct tw_rec *r, struct tw_record *out)
{
	/* Bounded: a writer killed in the middle leaves the sequence odd. */
	for (int tries = 0;; tries++) {
		uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

		if ((seq & 1) && tries < 1000000)
			continue;
		out->coll_id = LD(&r->coll_id);
		out->len = LD(&r->len);
		out->hash = LD(&r->hash);
		out->count = LD(&r->count);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (LD(&r->seq) == seq || tries >= 1000000)
			return;
	}
}

static int kind_ok(int kind)
{
	return kind >= TW_SCATTER && kind <= TW_RESULT;
}

int tw_shared_read(const struct tw_shared *s, size_t rank, int kind, struct tw_record *out)
{
	if (!s || rank >= s->nranks || !kind_ok(kind) || !out)
		return -EINVAL;
	rec_read(&s->rank[rank].rec[kind - 1], out);
	return 0;
}

int tw_shared_info(const struct tw_shared *s, size_t rank, struct tw_rank_info *out)
{
	const struct tw_rank *r;

	if (!s || rank >= s->nranks || !out)
		return -EINVAL;
	r = &s->rank[rank];
	out->ready = (int)__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE);
	out->error = LD(&r->error);
	out->port = (uint16_t)LD(&r->port);
	out->replies = LD(&r->replies);
	out->errors = LD(&r->errors);
	out->last_error = LD(&r->last_error);
	return 0;
}

int tw_shared_set_behavior(struct tw_shared *s, size_t rank, unsigned int flags,
			   unsigned int delay_ms)
{
	if (!s || rank >= s->nranks || (flags & ~(TW_MUTE | TW_DUP)))
		return -EINVAL;
	ST(&s->rank[rank].flags, flags);
	ST(&s->rank[rank].delay_ms, delay_ms);
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

enum wait_what { W_READY, W_COLL, W_COUNT };

/* 1 if rank @r satisfies the condition, 0 if not yet, <0 a setup error. */
static int wait_test(const struct tw_shared *s, size_t r, enum wait_what what, int kind,
		     uint64_t want)
{
	struct tw_record rec;

	switch (what) {
	case W_READY:
		if (LD(&s->rank[r].error))
			return LD(&s->rank[r].error);
		return __atomic_load_n(&s->rank[r].ready, __ATOMIC_ACQUIRE) != 0;
	case W_COLL:
		rec_read(&s->rank[r].rec[kind - 1], &rec);
		return rec.count && rec.coll_id == (uint32_t)want;
	default:
		rec_read(&s->rank[r].rec[kind - 1], &rec);
		return rec.count >= want;
	}
}

static int wait_for(const struct tw_shared *s, size_t first, size_t n, enum wait_what what,
		    int kind, uint64_t want, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	size_t r = first;

	if (!s || first > s->nranks || n > s->nranks - first ||
	    (what != W_READY && !kind_ok(kind)))
		return -EINVAL;
	/* Ranks that passed stay passed (ready, coll ids and counts only move
	 * forward in a test), so resume at the first one that has not. */
	for (;;) {
		struct timespec ms = { 0, 1000000 };
		int ok = 0;

		while (r < first + n && (ok = wait_test(s, r, what, kind, want)) > 0)
			r++;
		if (ok < 0)
			return ok;
		if (r == first + n)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		nanosleep(&ms, NULL);
	}
}

int tw_shared_wait_ready(const struct tw_shared *s, size_t rank_first, size_t nranks,
			 int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_READY, 0, 0, timeout_ms);
}

int tw_shared_wait(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
		   uint32_t coll_id, int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_COLL, kind, coll_id, timeout_ms);
}

int tw_shared_wait_count(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
			 uint64_t count, int timeout_ms)
{
	return wait_for(s, rank_first, nranks, W_COUNT, kind, count, timeout_ms);
}

/* ------------------------------------------------------------------ server */

struct endpoint {
	sg_worker *w;
	struct tw_rank *rec;
	uint32_t rank;
	int pending;		/* a SCATTER waits for its delayed reply */
	long due_ms;
	struct sg_msg msg;	/* that SCATTER; its data stays valid as long as we
				 * do not receive on this endpoint */
};

struct server {
	struct endpoint *ep;
	unsigned int n;
	unsigned char *buf;	/* contribution being sent */
	size_t bufcap;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void count_error(struct endpoint *e, int err)
{
	ST(&e->rec->errors, LD(&e->rec->errors) + 1);
	ST(&e->rec->last_error, err);
}

static void reply(struct server *srv, struct endpoint *e)
{
	const struct sg_msg *m = &e->msg;
	size_t width, len;
	int err, copies = LD(&e->rec->flags) & TW_DUP ? 2 : 1;

	e->pending = 0;
	width = (unsigned int)m->dtype < SG_DATATYPE_COUNT ? dt_width[m->dtype] : 0;
	if (!width || m->count > SG_MAX_MESSAGE_BYTES / width) {
		count_error(e, -EINVAL);
		return;
	}
	len = m->count * width;
	if (len > srv->bufcap) {
		unsigned char *p = realloc(srv->buf, len);

		if (!p) {
			count_error(e, -ENOMEM);
			return;
		}
		srv->buf = p;
		srv->bufcap = len;
	}
	tw_contribution_ex(e->rank, m->coll_id, m->dtype, m->op, tw_request_pattern(m->data, m->len),
			   m->count, srv->buf);
	while (copies--) {
		err = sg_worker_reply(e->w, m, srv->buf, len);
		if (err)
			count_error(e, err);
		else
			ST(&e->rec->replies, LD(&e->rec->replies) + 1);
	}
}

/* Receive what is complete on @e, until it would block or a reply is delayed. */
static void drain(struct server *srv, struct endpoint *e)
{
	while (!e->pending) {
		struct sg_msg m;
		uint32_t flags, delay;
		int err = sg_worker_recv(e->w, &m, 0);

		if (err == -EAGAIN || err == -ETIMEDOUT)
			return;
		if (err) {
			count_error(e, err);
			return;
		}
		if (m.type < TW_SCATTER || m.type > TW_RESULT) {
			count_error(e, -EPROTO);
			continue;
		}
		rec_write(&e->rec->rec[m.type - 1], m.coll_id, m.len, tw_hash(m.data, m.len));
		if (m.type != SG_MSG_SCATTER)
			continue;
		flags = LD(&e->rec->flags);
		delay = LD(&e->rec->delay_ms);
		if (flags & TW_MUTE)
			continue;
		e->msg = m;
		if (delay) {
			e->pending = 1;
			e->due_ms = now_ms() + delay;
		} else {
			reply(srv, e);
		}
	}
}

static int serve_loop(struct server *srv, const struct tw_serve_opts *o,
		      const sigset_t *waitmask)
{
	struct pollfd *pfd = calloc(srv->n, sizeof(*pfd));
	struct endpoint **who = calloc(srv->n, sizeof(*who));
	int err = 0;

	if (!pfd || !who) {
		err = -ENOMEM;
		goto out;
	}
	while (!got_signal && !(o->stop && *o->stop)) {
		long now = now_ms(), wait = POLL_MAX_MS;
		struct timespec ts;
		nfds_t n = 0;
		int r;

		for (unsigned int i = 0; i < srv->n; i++) {
			struct endpoint *e = &srv->ep[i];

			if (e->pending) {
				if (e->due_ms - now < wait)
					wait = e->due_ms - now > 0 ? e->due_ms - now : 0;
				continue;
			}
			pfd[n].fd = sg_worker_fd(e->w);
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			who[n++] = e;
		}
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000L;
		/* SIGTERM is blocked except inside ppoll(): no lost wake-up. */
		r = ppoll(pfd, n, &ts, waitmask);
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		now = now_ms();
		for (unsigned int i = 0; i < srv->n; i++) {
			struct endpoint *e = &srv->ep[i];

			if (e->pending && e->due_ms <= now) {
				reply(srv, e);
				drain(srv, e);
			}
		}
		for (nfds_t i = 0; r > 0 && i < n; i++)
			if (pfd[i].revents)
				drain(srv, who[i]);
	}
out:
	free(pfd);
	free(who);
	return err;
}

int tw_serve(const struct tw_serve_opts *uo)
{
	struct tw_serve_opts o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal }, old_term, old_int;
	sigset_t block, oldmask;
	struct server srv = { 0 };
	int err = 0;

	if (!uo || uo->sz < sizeof(size_t))
		return -EINVAL;
	memcpy(&o, uo, uo->sz < sizeof(o) ? uo->sz : sizeof(o));
	if (!o.shared || !o.nports || o.rank >= o.shared->nranks ||
	    o.nports > o.shared->nranks - o.rank || (o.port && o.port + o.nports - 1 > 65535))
		return -EINVAL;

	srv.ep = calloc(o.nports, sizeof(*srv.ep));
	if (!srv.ep)
		return -ENOMEM;
	for (unsigned int i = 0; i < o.nports && !err; i++) {
		SG_OPTS_INIT(sg_worker_opts, wo);
		struct endpoint *e = &srv.ep[i];

		e->rank = o.rank + i;
		e->rec = &o.shared->rank[e->rank];
		wo.addr = o.addr;
		wo.port = o.port ? (uint16_t)(o.port + i) : 0;
		err = sg_worker_create(&wo, &e->w);
		if (!err)
			srv.n++;
	}
	if (err) {
		for (unsigned int i = 0; i < o.nports; i++)
			ST(&o.shared->rank[o.rank + i].error, err);
		goto out;
	}

	got_signal = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &oldmask);

	for (unsigned int i = 0; i < srv.n; i++) {
		struct tw_rank *r = srv.ep[i].rec;

		ST(&r->port, sg_worker_port(srv.ep[i].w));
		ST(&r->error, 0);
		__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	}
	{
		sigset_t waitmask = oldmask;

		sigdelset(&waitmask, SIGTERM);
		sigdelset(&waitmask, SIGINT);
		err = serve_loop(&srv, &o, &waitmask);
	}
	for (unsigned int i = 0; i < srv.n; i++)
		__atomic_store_n(&srv.ep[i].rec->ready, 0, __ATOMIC_RELEASE);

	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
out:
	for (unsigned int i = 0; i < srv.n; i++)
		sg_worker_destroy(srv.ep[i].w);
	free(srv.ep);
	free(srv.buf);
	return err;
}

int tw_serve_fn(void *arg)
{
	return tw_serve(arg);
}
