/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* IEEE bits of the float types, from and to long double. C has no type for
 * float16 and bfloat16, so their float SUM results are rounded here
 * (transport/accum.c); header-only, so that the test lab's workers, which
 * link the public library alone, share it. */
#ifndef SG_COMMON_FLOATBITS_H
#define SG_COMMON_FLOATBITS_H

#include <math.h>
#include <stdint.h>
#include "sgbpf.h"

/* sg_float_round_bits(): the IEEE bits of @v rounded once, to nearest even,
 * to the float type @dt (SG_FLOAT16, SG_BFLOAT16, SG_FLOAT32 or SG_FLOAT64):
 * an infinity from MAX + half an ulp up, subnormals below the smallest
 * normal, the default quiet NaN for a NaN; 0 for any other @dt.
 * sg_float_bits_value(): the value of the bits @bits of @dt (exact). */

/* Widths of the fraction and exponent fields of the float type @dt. */
static inline int sg_float_fields(enum sg_datatype dt, int *frac, int *exp)
{
	switch (dt) {
	case SG_FLOAT16: *frac = 10; *exp = 5; return 0;
	case SG_BFLOAT16: *frac = 7; *exp = 8; return 0;
	case SG_FLOAT32: *frac = 23; *exp = 8; return 0;
	case SG_FLOAT64: *frac = 52; *exp = 11; return 0;
	default: return -1;
	}
}

static inline uint64_t sg_float_round_bits(long double v, enum sg_datatype dt)
{
	int frac, exp, e;
	uint64_t sign, field_max, sig;
	long double r;

	if (sg_float_fields(dt, &frac, &exp))
		return 0;
	sign = (uint64_t)(signbit(v) != 0) << (frac + exp);
	field_max = (1ull << exp) - 1;
	if (isnan(v))
		return (field_max << frac) | (1ull << (frac - 1));	/* quiet, positive */
	if (isinf(v))
		return sign | field_max << frac;
	if (v == 0)
		return sign;
	/* |v| = r * 2^(e - frac) with r the significand as an integer, e the
	 * binade (or the smallest normal one, for subnormals); rintl() rounds
	 * to nearest even in the default mode, and ldexpl() is exact. */
	(void)frexpl(v, &e);
	e -= 1;
	if (e < 2 - (1 << (exp - 1)))
		e = 2 - (1 << (exp - 1));
	r = rintl(ldexpl(fabsl(v), frac - e));
	if (r >= ldexpl(1, frac + 1)) {	/* rounded up to the next binade */
		r /= 2;
		e++;
	}
	sig = (uint64_t)r;
	if (sig < 1ull << frac)		/* subnormal (or zero): field 0 */
		return sign | sig;
	if ((uint64_t)(e + (1 << (exp - 1)) - 1) >= field_max)
		return sign | field_max << frac;
	return sign | (uint64_t)(e + (1 << (exp - 1)) - 1) << frac | (sig - (1ull << frac));
}

static inline long double sg_float_bits_value(uint64_t bits, enum sg_datatype dt)
{
	int frac, exp;
	uint64_t f, field, field_max;
	long double v;

	if (sg_float_fields(dt, &frac, &exp))
		return 0;
	f = bits & ((1ull << frac) - 1);
	field = bits >> frac & ((1ull << exp) - 1);
	field_max = (1ull << exp) - 1;
	if (field == field_max)
		v = f ? NAN : INFINITY;
	else
		v = ldexpl((long double)(field ? f | 1ull << frac : f),
			   (int)(field ? field : 1) - (1 << (exp - 1)) + 1 - frac);
	return bits >> (frac + exp) & 1 ? -v : v;
}

#endif
