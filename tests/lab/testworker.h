/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Deterministic test workers.
 *
 * tw_value() defines what worker `rank` contributes to element `index` of
 * collective `coll_id`, so that the coordinator side can compute the expected
 * reduction (tw_reference()) for any set of contributing ranks. tw_serve()
 * runs one or more sg_worker endpoints (one rank each) that answer every
 * SCATTER with tw_contribution() and record what they received in a
 * shared-memory area (struct tw_shared, created before fork) that the parent
 * reads.
 */
#ifndef SGBPF_TESTWORKER_H
#define SGBPF_TESTWORKER_H

#include <stddef.h>
#include <stdint.h>
#include <sgbpf.h>

/* FNV-1a 64 of @len bytes: what workers record of the data they received. */
uint64_t tw_hash(const void *p, size_t len);

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

/* ------------------------------------------------------------ floats, pairs
 *
 * Float (SG_FLOAT32, SG_FLOAT64) and value-index pair (SG_*_LOC) contributions
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
 * Pairs (MAXLOC/MINLOC): values in a small range around a per-element base
 * (base + k, k in [-2, 2]; float ones (m + k) * 2^e; int64 ones step k by 1,
 * 2^16 or 2^32), either sign, so values tie often and "the lowest index wins"
 * decides; no NaN and no -0. The index of rank r is (7 r) % 1021 - 100 (so
 * some are negative), the same for every element; pads are 0.
 */
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
 * @pattern, for SG_FLOAT32 (in the low 32 bits) or SG_FLOAT64. */
uint64_t tw_fbits(enum sg_datatype dt, uint32_t pattern, uint32_t rank, uint32_t coll_id,
		  uint32_t index, int op);

/* Index of @rank in its MAXLOC/MINLOC pairs. */
int32_t tw_loc_index(uint32_t rank);

/* tw_contribution() with a float pattern (ignored for integer types), for
 * every datatype: SG_FLOAT32/64 from tw_fbits(), pairs as above. */
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

/* ------------------------------------------------------------ shared state */

/* Kinds of records: the enum sg_msg_type values. */
#define TW_SCATTER	SG_MSG_SCATTER
#define TW_BCAST	SG_MSG_BCAST
#define TW_RESULT	SG_MSG_RESULT

/* What one rank received of one kind. */
struct tw_record {
	uint64_t count;		/* messages of this kind received */
	uint32_t coll_id;	/* of the last one */
	uint64_t len;		/* its data bytes (the request for a SCATTER) */
	uint64_t hash;		/* tw_hash() of its data */
};

/* State of one rank's endpoint. */
struct tw_rank_info {
	int ready;		/* bound and serving */
	int error;		/* negative errno if its setup failed, else 0 */
	uint16_t port;		/* bound port (host order), valid once ready */
	uint64_t replies;	/* sg_worker_reply() calls that succeeded */
	uint64_t errors;	/* failed receives and replies */
	int last_error;		/* the last of those errors */
};

/* Behaviour of a rank, changeable while it runs (tw_shared_set_behavior()). */
#define TW_MUTE	0x1u	/* record SCATTERs but never reply */
#define TW_DUP	0x2u	/* send every reply twice */

struct tw_shared;

/* Records for ranks 0..nranks-1 in MAP_SHARED anonymous memory: create before
 * forking the workers. NULL on failure (errno set). */
struct tw_shared *tw_shared_create(size_t nranks);
void tw_shared_destroy(struct tw_shared *s);
size_t tw_shared_nranks(const struct tw_shared *s);

/* A consistent copy of the record of @kind (TW_*) of @rank. 0 or -EINVAL. */
int tw_shared_read(const struct tw_shared *s, size_t rank, int kind, struct tw_record *out);
int tw_shared_info(const struct tw_shared *s, size_t rank, struct tw_rank_info *out);

/* @flags (TW_MUTE, TW_DUP) and a delay before each reply of @rank; 0 or -EINVAL.
 * A delayed rank holds its later messages until the reply is sent. */
int tw_shared_set_behavior(struct tw_shared *s, size_t rank, unsigned int flags,
			   unsigned int delay_ms);

/*
 * Wait (1 ms steps, at most @timeout_ms) until every rank in
 * [rank_first, rank_first + nranks) ...
 *   _ready: is bound and serving; returns the setup error of a rank if any;
 *   _wait:  has as its last record of @kind the collective @coll_id;
 *   _wait_count: has received at least @count messages of @kind.
 * Return 0, -ETIMEDOUT or -EINVAL.
 */
int tw_shared_wait_ready(const struct tw_shared *s, size_t rank_first, size_t nranks,
			 int timeout_ms);
int tw_shared_wait(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
		   uint32_t coll_id, int timeout_ms);
int tw_shared_wait_count(const struct tw_shared *s, size_t rank_first, size_t nranks, int kind,
			 uint64_t count, int timeout_ms);

/* ------------------------------------------------------------------ server */

struct tw_serve_opts {
	size_t sz;			/* sizeof(struct tw_serve_opts) */
	const char *addr;		/* IPv4 address to bind (NULL: any) */
	uint16_t port;			/* first port; port + p serves rank + p; 0: ephemeral */
	unsigned int nports;		/* endpoints (>= 1) */
	uint32_t rank;			/* rank of the first endpoint */
	struct tw_shared *shared;	/* required; ranks must be < its nranks */
	const volatile int *stop;	/* optional: return once *stop != 0 */
};

/*
 * Serve until SIGTERM or SIGINT (handlers installed for the duration) or
 * *stop: answer SCATTERs with tw_contribution_ex(rank, coll_id, dtype, op,
 * tw_request_pattern(request), count) and record every message. Returns 0, or -errno if the endpoints could not be
 * set up (also recorded as the ranks' error, which tw_shared_wait_ready()
 * returns).
 */
int tw_serve(const struct tw_serve_opts *o);

/* tw_serve((const struct tw_serve_opts *)arg), for netlab_spawn(). */
int tw_serve_fn(void *arg);

#endif /* SGBPF_TESTWORKER_H */
