/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Datatypes and ops beyond the public helpers (common/datatype.c). */
#ifndef SG_COMMON_DATATYPE_H
#define SG_COMMON_DATATYPE_H

#include <stddef.h>
#include <stdint.h>
#include "sgbpf.h"

/* Fill @count elements of @dt at @out with the identity of @op: 0 for SUM,
 * BOR, BXOR; 1 for PROD; all ones for BAND; the type's largest value (+inf)
 * for MIN and smallest (-inf) for MAX; (smallest value or -inf, index
 * INT32_MAX) for MAXLOC and (largest or +inf, INT32_MAX) for MINLOC; zero
 * bytes for SG_OP_USER, which has none known. */
void sg_fill_identity(enum sg_datatype dt, enum sg_op op, void *out, size_t count);

/* The IEEE bits of @v rounded once, to nearest even, to the float type @dt
 * (SG_FLOAT16, SG_BFLOAT16, SG_FLOAT32 or SG_FLOAT64): an infinity from
 * MAX + half an ulp up, subnormals below the smallest normal, the default
 * quiet NaN for a NaN. C has no type for the half formats, so the float SUM
 * results of those are rounded here; 0 for any other @dt. */
uint64_t sg_float_round_bits(long double v, enum sg_datatype dt);

/* The value of the IEEE bits @bits of the float type @dt (exact). */
long double sg_float_bits_value(uint64_t bits, enum sg_datatype dt);

#endif
