/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * MAXLOC/MINLOC pairs (SG_INT32_LOC .. SG_FLOAT64_LOC; pairs.c), contributed by
 * tw_contribution_ex() and reduced by tw_reference_ex() (tests/lab/fpattern.h).
 *
 * Values in a small range around a per-element base (base + k, k in [-2, 2];
 * float ones (m + k) * 2^e; int64 ones step k by 1, 2^16 or 2^32), either
 * sign, so values tie often and "the lowest index wins" decides; no NaN and
 * no -0. The index of rank r is (7 r) % 1021 - 100 (so some are negative),
 * the same for every element; pads are 0.
 */
#ifndef SGBPF_LAB_PAIRS_H
#define SGBPF_LAB_PAIRS_H

#include <stdint.h>

/* Index of @rank in its MAXLOC/MINLOC pairs. */
int32_t tw_loc_index(uint32_t rank);

#endif /* SGBPF_LAB_PAIRS_H */
