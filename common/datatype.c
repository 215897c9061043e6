// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The public helpers about datatypes; the sizes are the wire format's. */
#include <math.h>
#include <string.h>

#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "common/datatype.h"
#include "common/floatbits.h"

size_t sg_datatype_size(enum sg_datatype dt)
{
	return sg_wire_dtype_size((unsigned int)dt);
}

size_t sg_response_chunk_bytes(enum sg_datatype dt)
{
	return (unsigned int)dt < SG_DATATYPE_COUNT ? sg_wire_response_chunk(dt) : 0;
}

/* One element of the identity of @op on @dt into @e (little-endian). */
static void identity_elem(enum sg_datatype dt, enum sg_op op, uint8_t *e)
{
	size_t n = sg_wire_dtype_size(dt);
	int pair = dt >= SG_INT32_LOC && dt <= SG_FLOAT64_LOC;
	int largest = op == SG_OP_MIN || op == SG_OP_MINLOC;
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
