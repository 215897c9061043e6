/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Deterministic integer contributions and their references (contrib.c).
 *
 * tw_value() defines what worker `rank` contributes to element `index` of
 * collective `coll_id`, so that the coordinator side can compute the expected
 * reduction (tw_reference()) for any set of contributing ranks. Floats:
 * tests/lab/fpattern.h; MAXLOC/MINLOC pairs: tests/lab/pairs.h.
 */
#ifndef SGBPF_LAB_CONTRIB_H
#define SGBPF_LAB_CONTRIB_H

#include <stddef.h>
#include <stdint.h>
#include <sgbpf.h>

/*
 * Contribution of @rank to element @index of collective @coll_id under @op
 * (enum sg_op), as a 64-bit pattern truncated to the datatype's width. Chosen
 * so that every op's result is non-trivial at 1 to 1024 contributors and every
 * width: PROD values are odd; BAND values are mostly ones and BOR values
 * mostly zeros, with bits cleared/set with probabilities from 1/2 to 1/4096
 * (the same spread in every byte); MIN/MAX values are random above the low
 * byte, and the low byte is a per-element base in [-96, 96] plus (MAX) or
 * minus (MIN) a small, rarely large offset, so the extreme is rarely the type's
 * limit and signed results are negative for about half the elements; SUM and
 * BXOR values are uniformly random.
 */
uint64_t tw_value(uint32_t rank, uint32_t coll_id, uint32_t index, int op);

/* The vector tw_value(rank, coll_id, 0..count-1, op) in @dt (little-endian);
 * floats and pairs: tw_contribution_ex() with pattern 0. */
void tw_contribution(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
		     size_t count, void *out);

/*
 * The reduction of the contributions of @ranks[0..nranks-1] in plain C: SUM and
 * PROD wrap modulo 2^width, MIN/MAX compare as signed or unsigned of the
 * width. With no ranks, the identity of @op (0, 1, the type's max/min, all
 * ones, 0, 0). Floats and pairs: tw_reference_ex() with pattern 0. Returns 0
 * or -EINVAL.
 */
int tw_reference(enum sg_datatype dt, enum sg_op op, uint32_t coll_id, size_t count,
		 const uint32_t *ranks, size_t nranks, void *out);

/* The smallest rank not among @ranks[0..n-1]: its tw_contribution() stands
 * for a contributor outside the workers (the coordinator of an allreduce),
 * and a reference over @ranks and it is tw_reference()'s. */
uint32_t tw_rank_outside(const uint32_t *ranks, size_t n);

#endif /* SGBPF_LAB_CONTRIB_H */
