// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The public helpers about datatypes; the sizes are the wire format's. */
#include <math.h>
#include <string.h>

#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "common/datatype.h"

size_t sg_datatype_size(enum sg_datatype dt)
{
	return sg_wire_dtype_size((unsigned int)dt);
}

size_t sg_response_chunk_bytes(enum sg_datatype dt)
{
	return (unsigned int)dt < SG_DATATYPE_COUNT ? sg_wire_response_chunk(dt) : 0;
}

/* Widths of the fraction and exponent fields of the float type @dt. */
static int float_fields(enum sg_datatype dt, int *frac, int *exp)
{
	switch (dt) {
	case SG_FLOAT16: *frac = 10; *exp = 5; return 0;
	case SG_BFLOAT16: *frac = 7; *exp = 8; return 0;
	case SG_FLOAT32: *frac = 23; *exp = 8; return 0;
	case SG_FLOAT64: *frac = 52; *exp = 11; return 0;
	default: return -1;
	}
}

uint64_t sg_float_round_bits(long double v, enum sg_datatype dt)
{
	int frac, exp, e;
	uint64_t sign, field_max, sig;
	long double r;

	if (float_fields(dt, &frac, &exp))
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

long double sg_float_bits_value(uint64_t bits, enum sg_datatype dt)
{
	int frac, exp;
	uint64_t f, field, field_max;
	long double v;

	if (float_fields(dt, &frac, &exp))
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

/* One element of the identity of @op on @dt into @e (little-endian). */
static void identity_elem(enum sg_datatype dt, enum sg_op op, uint8_t *e)
{
	size_t n = sg_wire_dtype_size(dt);
	int pair = dt >= SG_INT32_LOC && dt <= SG_FLOAT64_LOC, largest = op == SG_OP_MIN || op == SG_OP_MINLOC;
	size_t width = pair ? n / 2 : n;	/* of the value */
	int32_t worst_index = INT32_MAX;
	float f = op == SG_OP_PROD ? 1.0f : largest ? INFINITY : -INFINITY;
	double d = f;

	memset(e, 0, n);
	switch (op) {
	case SG_OP_BAND:
		memset(e, 0xff, n);
		return;
	case SG_OP_PROD: case SG_OP_MIN: case SG_OP_MAX: case SG_OP_MAXLOC: case SG_OP_MINLOC:
		break;
	default:
		return;		/* SUM, BOR, BXOR: 0; USER: none known */
	}
	if (dt == SG_FLOAT16 || dt == SG_BFLOAT16) {
		uint16_t b = (uint16_t)sg_float_round_bits(f, dt);

		memcpy(e, &b, sizeof(b));
	} else if (dt == SG_FLOAT32 || dt == SG_FLOAT32_LOC)
		memcpy(e, &f, sizeof(f));
	else if (dt == SG_FLOAT64 || dt == SG_FLOAT64_LOC)
		memcpy(e, &d, sizeof(d));
	else if (op == SG_OP_PROD)
		e[0] = 1;
	else if (dt <= SG_UINT64 && (dt - SG_INT8) % 2)	/* unsigned */
		memset(e, largest ? 0xff : 0, width);
	else {						/* signed, alone or paired */
		memset(e, largest ? 0xff : 0, width);
		e[width - 1] = largest ? 0x7f : 0x80;
	}
	/* A pair's index INT32_MAX loses every tie. */
	if (pair)
		memcpy(e + width, &worst_index, sizeof(worst_index));
}

void sg_fill_identity(enum sg_datatype dt, enum sg_op op, void *out, size_t count)
{
	size_t esz = sg_wire_dtype_size(dt);
	uint8_t e[16];

	identity_elem(dt, op, e);
	for (size_t i = 0; i < count; i++)
		memcpy((uint8_t *)out + i * esz, e, esz);
}
