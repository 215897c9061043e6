/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Datatypes and ops beyond the public helpers (common/datatype.c). */
#ifndef SG_COMMON_DATATYPE_H
#define SG_COMMON_DATATYPE_H

#include <stddef.h>
#include "sgbpf.h"

/* Fill @count elements of @dt at @out with the identity of @op: 0 for SUM,
 * BOR, BXOR; 1 for PROD; all ones for BAND; the type's largest value (+inf)
 * for MIN and smallest (-inf) for MAX; (smallest value or -inf, index
 * INT32_MAX) for MAXLOC and (largest or +inf, INT32_MAX) for MINLOC; zero
 * bytes for SG_OP_USER, which has none known. */
void sg_fill_identity(enum sg_datatype dt, enum sg_op op, void *out, size_t count);

#endif
