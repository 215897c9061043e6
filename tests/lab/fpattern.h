/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Float test patterns, and contributions and references for every datatype
 * (fpattern.c).
 *
 * Float (SG_FLOAT32, SG_FLOAT64, SG_FLOAT16, SG_BFLOAT16) and value-index pair (SG_*_LOC) contributions
 * are deterministic functions of (rank, coll_id, index, op) and of a "float
 * pattern". A test chooses the pattern per collective with no new API: the
 * first 4 bytes of the SCATTER request, as a little-endian u32
 * (tw_request_pattern()); a request shorter than 4 bytes selects pattern 0.
 * Integer contributions never depend on the request.
 *
 * The values of each pattern (F is the format, MAX its largest finite value):
 *   TW_FP_UNIFORM  SUM: uniform in [-1, 1). MIN/MAX: a random base per element
 *                  (exponent in [-20, 20], either sign), each rank a few ulps
 *                  above or below it, and now and then a +0 or -0.
 *   TW_FP_MIXED    random sign, mantissa and exponent for each value: 1/8
 *                  subnormals, 1/8 signed zeros, 1/4 exponents anywhere in F's
 *                  normal range, 1/2 magnitudes in 2^-100..2^100 (~1e-30..1e30);
 *                  so the magnitudes within one chunk differ by up to ~2^2100.
 *   TW_FP_CANCEL   ranks r and r^1 contribute x and -x (x per element and pair,
 *                  exponent in [-30, 30]); one rank in four adds a residue of
 *                  2^-20..2^-50 of x, so sums are small against sum|x|.
 *   TW_FP_LARGE    magnitudes in [MAX/2 * (1 - 2^-8), MAX/2], one in 16 MAX; the
 *                  sign is + for every rank at index % 4 == 0, - at index % 4 ==
 *                  1, random elsewhere: sums of 3 or more overflow F.
 *   TW_FP_SPECIAL  per element (index and coll_id decide) one of: finite only;
 *                  NaN at 1/4 of the ranks; +inf at 1/4; -inf at 1/4; +inf at
 *                  even ranks and -inf at odd ones; +inf at half; NaNs of every
 *                  kind (quiet, negative, signaling, payload) at half; NaN at
 *                  1/64. Other ranks contribute finite values in [-1, 1).
 * Pairs (MAXLOC/MINLOC): tests/lab/pairs.h.
 */
#ifndef SGBPF_LAB_FPATTERN_H
#define SGBPF_LAB_FPATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <sgbpf.h>

enum tw_fpattern {
	TW_FP_UNIFORM = 0,
	TW_FP_MIXED = 1,
	TW_FP_CANCEL = 2,
	TW_FP_LARGE = 3,
	TW_FP_SPECIAL = 4,
	TW_FP_COUNT
};

/* The pattern a SCATTER request of @len bytes selects (0 if @len < 4). */
uint32_t tw_request_pattern(const void *data, size_t len);

/* IEEE bits of the contribution of @rank to element @index under @op and
 * @pattern, for a float type (in the low bits of the result). Exponents a
 * pattern draws beyond float16's range fold back into it (e % 15). */
uint64_t tw_fbits(enum sg_datatype dt, uint32_t pattern, uint32_t rank, uint32_t coll_id,
		  uint32_t index, int op);

/* tw_contribution() with a float pattern (ignored for integer types), for
 * every datatype: floats from tw_fbits(), pairs as tests/lab/pairs.h
 * says. */
void tw_contribution_ex(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
			uint32_t pattern, size_t count, void *out);

/*
 * tw_reference() with a float pattern, for every datatype and valid op
 * (sg_wire_op_valid()). Floats: MIN/MAX exact, a NaN anywhere gives a NaN (the
 * first one's bits; the kernel may return another NaN), -0 < +0, as the
 * kernel's keys order them; SUM is the long double sum of
 * tw_reference_fsum() rounded once to @dt (NaN if any NaN or both infinities,
 * else an infinity if any). Pairs: MPI semantics, the best value and, of equal
 * values, the lowest index. No ranks: -EINVAL for floats and pairs.
 */
int tw_reference_ex(enum sg_datatype dt, enum sg_op op, uint32_t pattern, uint32_t coll_id,
		    size_t count, const uint32_t *ranks, size_t nranks, void *out);

/*
 * Float SUM reference per element: @sum the sum of the finite contributions of
 * @ranks in long double with compensated (two-sum) accumulation, so its error
 * is far below 2^-60 of sum|x|, or NaN / +-inf as IEEE addition of the
 * specials gives (NaN if any NaN or both infinities); @abssum the sum of |x|
 * over the finite contributions (the scale of the error bound). Either output
 * may be NULL. Returns 0 or -EINVAL.
 */
int tw_reference_fsum(enum sg_datatype dt, uint32_t pattern, uint32_t coll_id, size_t count,
		      const uint32_t *ranks, size_t nranks, long double *sum, long double *abssum);

#endif /* SGBPF_LAB_FPATTERN_H */
