// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Floats and value-index pairs end to end, in a lab like test_integration's:
 * a coordinator namespace, 16 worker namespaces serving 64 endpoints each
 * (1024 ranks), communicators with fan-outs 1, 16, 64 and 1024.
 *
 * - float32/float64 SUM against the documented bound, element by element:
 *   |result - exact| <= 2^-22 sum|x| (float32), 2^-40 sum|x| (float64), with
 *   "exact" the compensated long double sum of tests/lab/fpattern.c, for
 *   every float pattern (uniform, mixed magnitudes, cancellation,
 *   near-overflow, specials) and vector sizes across the 128-element chunks;
 *   a sum beyond the format's range must be the infinity of its sign;
 * - MIN/MAX exact (bit for bit; any NaN for a NaN);
 * - NaN/inf semantics checked from the contributions themselves;
 * - MAXLOC/MINLOC for the four pair types, with ties;
 * - allgather of a float SUM: every worker holds the coordinator's bytes.
 *
 * The worker contributions depend on a "float pattern", the first 4 bytes of
 * the request (tw_request_pattern()). The worst SUM error seen, as a fraction
 * of the bound, is printed at the end (docs/floats.md quotes it).
 *
 * Environment: SGBPF_TEST_HEAVY=1 adds 65536-element vectors at fan-out 1024
 * (256-512 MB each, minutes); TEST_FILTER=<glob> runs only matching tests.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sgbpf.h"
#include "common/floatbits.h"
#include "tests/lab/testlab.h"

#define NS		16	/* worker namespaces */
#define PER_NS		64	/* worker endpoints per namespace */
#define NRANKS		(NS * PER_NS)
#define WORKER_PORT	7000
/* Generous: a collective never takes long, but the machine may be loaded and
 * nothing here measures time. */
#define TIMEOUT_MS	300000

static struct testlab tl;

struct fix {
	sg_comm *comm;
	uint32_t ranks[NRANKS];	/* global rank of each communicator rank */
	size_t n;
};

static struct fix f1, f16, f64, f1024;

/* The worst SUM error seen, as a fraction of the bound, per format and
 * pattern, and what else the SUM checks saw. */
struct worst {
	double ratio;
	char where[160];
};

/* The float types: index, name, SUM bound (2^bound of sum|x|). */
#define NFMT 4
static const struct {
	enum sg_datatype dt;
	const char *name;
	int bound;
} fmts[NFMT] = {
	{ SG_FLOAT32, "float32", -22 },
	{ SG_FLOAT64, "float64", -40 },
	{ SG_FLOAT16, "float16", -10 },
	{ SG_BFLOAT16, "bfloat16", -7 },
};

static int fidx(enum sg_datatype dt)
{
	for (int i = 0; i < NFMT; i++)
		if (fmts[i].dt == dt)
			return i;
	return -1;
}

static struct worst worst[NFMT][TW_FP_COUNT];
static unsigned long n_sum_elems[NFMT], n_overflow[NFMT], n_nan[NFMT], n_inf[NFMT], n_collectives;
static unsigned long n_loc_ties, n_loc_elems;
static double slowest;		/* seconds of the slowest collective (reported only) */
static char slowest_what[96];

/* Chunk boundaries: float64 chunks hold 176 elements, float32 ones 256. */
static const size_t sizes[] = { 1, 176, 177, 256, 257, 1000, 65536 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static const char *const pattern_name[TW_FP_COUNT] = {
	"uniform", "mixed", "cancel", "large", "special",
};

static int make_comm(struct fix *f, const uint32_t *ranks, size_t n, uint16_t port)
{
	memmove(f->ranks, ranks, n * sizeof(*ranks));
	f->n = n;
	return testlab_comm(&tl, ranks, n, port, NULL, &f->comm);
}

static int setup(void **state)
{
	uint32_t ranks[NRANKS];

	if (testlab_start(&tl, "sgt", NS, PER_NS))
		return -1;

	/* Fan-out 1: an odd rank, whose cancellation partner is absent. */
	ranks[0] = 3 * PER_NS + 5;
	if (make_comm(&f1, ranks, 1, 6301))
		return -1;
	/* 16: pairs (r, r^1) in eight namespaces. */
	for (uint32_t i = 0; i < 16; i++)
		ranks[i] = (i >> 1) * 2 * PER_NS + 2 * (i >> 1) + (i & 1);
	if (make_comm(&f16, ranks, 16, 6316))
		return -1;
	/* 64: pairs, four endpoints in each namespace, interleaved. */
	for (uint32_t i = 0; i < 64; i++)
		ranks[i] = ((i >> 1) % NS) * PER_NS + (i >> 5) * 2 + (i & 1);
	if (make_comm(&f64, ranks, 64, 6364))
		return -1;
	for (uint32_t i = 0; i < NRANKS; i++)
		ranks[i] = i;
	if (make_comm(&f1024, ranks, NRANKS, 6324))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	sg_comm_destroy(f1.comm);
	sg_comm_destroy(f16.comm);
	sg_comm_destroy(f64.comm);
	sg_comm_destroy(f1024.comm);
	testlab_stop(&tl);
	return 0;
}

/* The collective id the workers saw last: the contributions depend on it. */
static uint32_t last_coll_id(uint32_t rank)
{
	struct tw_record rec;

	assert_int_equal(tw_shared_read(tl.shared, rank, TW_SCATTER, &rec), 0);
	return rec.coll_id;
}

/* What run() runs: a scatter-reduce (0), an allgather (ALLGATHER); with OWN
 * the coordinator contributes too (sg_reduce(), sg_allreduce()), the test
 * vector of a rank outside the workers (tw_rank_outside()), from the result
 * buffer with IN_PLACE. */
enum { ALLGATHER = 1, OWN = 2, IN_PLACE = 4 };

/* One collective (@how) with float pattern @pattern in its request: returns
 * its id, the contributors in @ranks (NRANKS + 1 of room: all the workers,
 * SG_WAIT_ALL, and the coordinator with OWN) and their number in *@nranks. */
static uint32_t run(struct fix *f, enum sg_datatype dt, enum sg_op op, uint32_t pattern,
		    size_t count, int how, void *got, uint32_t *ranks, size_t *nranks)
{
	int allgather = how & ALLGATHER;
	unsigned char *own = NULL;
	sg_request *q;
	uint64_t contrib[NRANKS / 64] = {};
	unsigned char req[4] = { (unsigned char)pattern, (unsigned char)(pattern >> 8),
				 (unsigned char)(pattern >> 16), (unsigned char)(pattern >> 24) };
	SG_OPTS_INIT(sg_reduce_params, p);
	size_t len = count * sg_datatype_size(dt);
	struct timespec t0, t1;
	double secs;
	int err;

	memset(got, 0xa5, len);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p.timeout_ms = TIMEOUT_MS;
	p.contributors = contrib;
	p.contributors_words = NRANKS / 64;
	if (how & OWN) {
		own = how & IN_PLACE ? got : malloc(len);
		assert_non_null(own);
		err = allgather ?
			sg_iallreduce(f->comm, req, sizeof(req), own, got, count, dt, op, &p, &q) :
			sg_ireduce(f->comm, req, sizeof(req), own, got, count, dt, op, &p, &q);
		/* The coordinator's vector depends on the collective id: it is
		 * written now, before sg_wait(), where the library reads it. */
		if (!err)
			tw_contribution_ex(tw_rank_outside(f->ranks, f->n), sg_request_id(q), dt, op,
					   pattern, count, own);
		if (!err)
			err = sg_wait(&q);
		if (own != got)
			free(own);
	} else if (allgather) {
		err = sg_allgather(f->comm, req, sizeof(req), got, count, dt, op, &p);
	} else {
		err = sg_scatter_reduce(f->comm, req, sizeof(req), got, count, dt, op, &p);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (secs > slowest) {
		slowest = secs;
		snprintf(slowest_what, sizeof(slowest_what), "dt %d op %d count %zu fan-out %zu", dt,
			 op, count, f->n);
	}
	if (err) {
		struct sg_comm_stats st;

		/* Say who is missing and what the kernel counted. */
		for (size_t i = 0; i < f->n; i++) {
			struct tw_rank_info info;

			if (contrib[i / 64] & (1ULL << (i % 64)))
				continue;
			tw_shared_info(tl.shared, f->ranks[i], &info);
			fprintf(stderr, "rank %u did not contribute: replies %llu errors %llu "
				"last error %d\n", f->ranks[i], (unsigned long long)info.replies,
				(unsigned long long)info.errors, info.last_error);
		}
		if (!sg_comm_get_stats(f->comm, &st))
			fprintf(stderr, "stats: accepted %llu duplicate %llu stale %llu late %llu "
				"unknown %llu malformed %llu completed %llu fanout %llu\n",
				(unsigned long long)st.rx_accepted, (unsigned long long)st.rx_duplicate,
				(unsigned long long)st.rx_stale, (unsigned long long)st.rx_late,
				(unsigned long long)st.rx_unknown_src,
				(unsigned long long)st.rx_malformed, (unsigned long long)st.completed,
				(unsigned long long)st.tx_fanout);
		fail_msg("dt %d op %d pattern %u count %zu fan-out %zu: %s (%s)", dt, op, pattern,
			 count, f->n, sg_strerror(err), sg_errmsg());
	}
	n_collectives++;
	*nranks = 0;
	for (size_t i = 0; i < f->n; i++)
		if (contrib[i / 64] & (1ULL << (i % 64)))
			ranks[(*nranks)++] = f->ranks[i];
	assert_int_equal(*nranks, p.ncontributors);
	assert_int_equal(*nranks, f->n);
	if (how & OWN)
		ranks[(*nranks)++] = tw_rank_outside(f->ranks, f->n);
	return last_coll_id(ranks[0]);
}

/* Every worker of @f received @len bytes hashing like @want as the result. */
static void check_allgather_delivery(struct fix *f, uint32_t id, const void *want, size_t len)
{
	uint64_t h = tw_hash(want, len);

	for (size_t i = 0; i < f->n; i++) {
		struct tw_record rec;

		assert_int_equal(tw_shared_wait(tl.shared, f->ranks[i], 1, TW_RESULT, id, 10000), 0);
		assert_int_equal(tw_shared_read(tl.shared, f->ranks[i], TW_RESULT, &rec), 0);
		assert_int_equal(rec.len, len);
		if (rec.hash != h)
			fail_msg("allgather coll %u: rank %u holds other bytes than the coordinator",
				 id, f->ranks[i]);
	}
}

static long double got_value(enum sg_datatype dt, const void *got, size_t i)
{
	if (dt == SG_FLOAT16 || dt == SG_BFLOAT16) {
		uint16_t b;

		memcpy(&b, (const char *)got + 2 * i, 2);
		return sg_float_bits_value(b, dt);
	}
	if (dt == SG_FLOAT32) {
		float x;

		memcpy(&x, (const char *)got + 4 * i, 4);
		return x;
	} else {
		double x;

		memcpy(&x, (const char *)got + 8 * i, 8);
		return x;
	}
}

/* The smallest magnitude that rounds to infinity: MAX + half an ulp. */
/* MAX + half an ulp: from there on, sums round to infinity. */
static long double overflow_threshold(enum sg_datatype dt)
{
	switch (dt) {
	case SG_FLOAT16: return ldexpl(1, 16) - ldexpl(1, 4);
	case SG_BFLOAT16: return ldexpl(1, 128) - ldexpl(1, 119);
	case SG_FLOAT32: return ldexpl(1, 128) - ldexpl(1, 103);
	default: return ldexpl(1, 1024) - ldexpl(1, 970);
	}
}

/* A float SUM on @f checked element by element against the bound. */
static void check_fsum(struct fix *f, enum sg_datatype dt, uint32_t pattern, size_t count,
		       int how)
{
	size_t len = count * sg_datatype_size(dt);
	void *got = malloc(len);
	long double *sum = malloc(count * sizeof(*sum)), *abssum = malloc(count * sizeof(*abssum));
	uint32_t ranks[NRANKS + 1], id;
	size_t nranks;
	int d = fidx(dt) < 0 ? 0 : fidx(dt), shift = fmts[d].bound;
	long double T = overflow_threshold(dt);

	assert_non_null(got);
	assert_non_null(sum);
	assert_non_null(abssum);
	id = run(f, dt, SG_OP_SUM, pattern, count, how, got, ranks, &nranks);
	assert_int_equal(tw_reference_fsum(dt, pattern, id, count, ranks, nranks, sum, abssum), 0);
	for (size_t i = 0; i < count; i++) {
		long double S = sum[i], g = got_value(dt, got, i);
		long double bound = ldexpl(abssum[i], shift), err;
		double ratio;

		n_sum_elems[d]++;
		if (isnan(S)) {
			if (!isnan(g))
				fail_msg("%s SUM %s count %zu fan-out %zu elem %zu: %Lg, not NaN",
					 fmts[d].name, pattern_name[pattern], count,
					 f->n, i, g);
			n_nan[d]++;
			continue;
		}
		if (isinf(S)) {
			if (g != S)
				fail_msg("%s SUM %s count %zu fan-out %zu elem %zu: %Lg, not %Lg",
					 fmts[d].name, pattern_name[pattern], count,
					 f->n, i, g, S);
			n_inf[d]++;
			continue;
		}
		if (isinf(g)) {
			/* Overflow: only if the exact sum may round beyond MAX. */
			if (signbit(g) != signbit(S) || fabsl(S) + bound < T)
				fail_msg("%s SUM %s count %zu fan-out %zu elem %zu: %Lg for %.21Lg",
					 fmts[d].name, pattern_name[pattern], count,
					 f->n, i, g, S);
			n_overflow[d]++;
			continue;
		}
		err = isnan(g) ? INFINITY : fabsl(g - S);
		if (err > bound)
			fail_msg("%s SUM %s count %zu fan-out %zu elem %zu: got %.21Lg exact %.21Lg "
				 "sum|x| %.6Lg: error %.6Lg > bound %.6Lg",
				 fmts[d].name, pattern_name[pattern], count, f->n, i, g,
				 S, abssum[i], err, bound);
		ratio = bound > 0 ? (double)(err / bound) : 0;
		if (ratio > worst[d][pattern].ratio) {
			worst[d][pattern].ratio = ratio;
			snprintf(worst[d][pattern].where, sizeof(worst[d][pattern].where),
				 "count %zu fan-out %zu elem %zu: got %.17Lg exact %.21Lg",
				 count, f->n, i, g, S);
		}
	}
	if (how & ALLGATHER)
		check_allgather_delivery(f, id, got, len);
	free(got);
	free(sum);
	free(abssum);
}

static int is_nan_bits(enum sg_datatype dt, const unsigned char *p)
{
	return isnan(got_value(dt, p, 0));
}

/* MIN/MAX (bit-exact; any NaN for NaN) or MAXLOC/MINLOC (bit-exact). */
static void check_exact(struct fix *f, enum sg_datatype dt, enum sg_op op, uint32_t pattern,
			size_t count, int how)
{
	size_t w = sg_datatype_size(dt), len = count * w;
	unsigned char *got = malloc(len), *want = malloc(len);
	uint32_t ranks[NRANKS + 1], id;
	size_t nranks;

	assert_non_null(got);
	assert_non_null(want);
	id = run(f, dt, op, pattern, count, how, got, ranks, &nranks);
	assert_int_equal(tw_reference_ex(dt, op, pattern, id, count, ranks, nranks, want), 0);
	for (size_t i = 0; i < count; i++) {
		const unsigned char *g = got + i * w, *e = want + i * w;

		if (fidx(dt) >= 0 && is_nan_bits(dt, e)) {
			if (!is_nan_bits(dt, g))
				fail_msg("dt %d op %d pattern %u count %zu fan-out %zu elem %zu: "
					 "%Lg, not NaN", dt, op, pattern, count, f->n, i,
					 got_value(dt, g, 0));
			continue;
		}
		if (memcmp(g, e, w)) {
			char gs[40] = "", es[40] = "";

			for (size_t b = 0; b < w && b < 16; b++) {
				sprintf(gs + 2 * b, "%02x", g[w - 1 - b]);
				sprintf(es + 2 * b, "%02x", e[w - 1 - b]);
			}
			fail_msg("dt %d op %d pattern %u count %zu fan-out %zu elem %zu: got 0x%s "
				 "want 0x%s", dt, op, pattern, count, f->n, i, gs, es);
		}
	}
	if (how & ALLGATHER)
		check_allgather_delivery(f, id, got, len);

	/* Pairs: count the elements whose best value several ranks shared, so
	 * that the index decided (the reference took the lowest). */
	if (op == SG_OP_MAXLOC || op == SG_OP_MINLOC) {
		size_t vw = dt == SG_INT32_LOC || dt == SG_FLOAT32_LOC ? 4 : 8;
		unsigned char *c = malloc(len);
		unsigned int *same = calloc(count, sizeof(*same));

		assert_non_null(c);
		assert_non_null(same);
		for (size_t r = 0; r < nranks; r++) {
			tw_contribution_ex(ranks[r], id, dt, op, pattern, count, c);
			for (size_t i = 0; i < count; i++)
				if (!memcmp(c + i * w, want + i * w, vw))
					same[i]++;
		}
		for (size_t i = 0; i < count; i++) {
			assert_true(same[i] >= 1);
			n_loc_ties += same[i] > 1;
		}
		n_loc_elems += count;
		free(c);
		free(same);
	}
	free(got);
	free(want);
}

/* ------------------------------------------------------------------ tests */

/* The generators and references on their own (no network). */
static void test_reference_selfcheck(void **state)
{
	uint32_t r0 = 9, pair[2] = { 40, 41 }, three[3] = { 100, 0, 1 };
	long double s[8], a[8];
	float f32[8];
	unsigned char req[4] = { 3, 0, 0, 0 };
	int found = 0;

	assert_int_equal(tw_request_pattern(req, 4), 3);
	assert_int_equal(tw_request_pattern(req, 3), 0);
	assert_int_equal(tw_request_pattern(NULL, 0), 0);
	/* One rank: the reference is its contribution. */
	tw_contribution_ex(r0, 77, SG_FLOAT32, SG_OP_SUM, TW_FP_MIXED, 8, f32);
	assert_int_equal(tw_reference_fsum(SG_FLOAT32, TW_FP_MIXED, 77, 8, &r0, 1, s, a), 0);
	for (int i = 0; i < 8; i++)
		assert_true(s[i] == f32[i] && a[i] == fabsl(s[i]));
	/* Cancellation: a pair without residues sums to exactly 0. */
	assert_int_equal(tw_reference_fsum(SG_FLOAT64, TW_FP_CANCEL, 5, 8, pair, 2, s, a), 0);
	for (uint32_t i = 0; i < 8; i++) {
		uint64_t x = tw_fbits(SG_FLOAT64, TW_FP_CANCEL, 40, 5, i, SG_OP_SUM);
		uint64_t y = tw_fbits(SG_FLOAT64, TW_FP_CANCEL, 41, 5, i, SG_OP_SUM);

		if ((x ^ y) == 1ULL << 63) {
			assert_true(s[i] == 0);
			found++;
		}
		assert_true(fabsl(s[i]) <= ldexpl(a[i], -18));
	}
	assert_true(found > 0);
	/* Patterns change float contributions, never integer ones. */
	assert_true(tw_fbits(SG_FLOAT64, 0, 1, 2, 3, SG_OP_SUM) !=
		    tw_fbits(SG_FLOAT64, 1, 1, 2, 3, SG_OP_SUM));
	{
		int32_t a0[8], a1[8];

		tw_contribution_ex(3, 4, SG_INT32, SG_OP_SUM, 0, 8, a0);
		tw_contribution_ex(3, 4, SG_INT32, SG_OP_SUM, 4, 8, a1);
		assert_memory_equal(a0, a1, sizeof(a0));
		tw_contribution(3, 4, SG_INT32, SG_OP_SUM, 8, a1);
		assert_memory_equal(a0, a1, sizeof(a0));
	}
	/* Pairs: the best value; of equal ones the lowest index. */
	{
		struct sg_int32_loc c[3][16], want[16];
		struct sg_float64_loc fl[16];

		for (int r = 0; r < 3; r++)
			tw_contribution_ex(three[r], 8, SG_INT32_LOC, SG_OP_MAXLOC, 0, 16, c[r]);
		assert_int_equal(tw_reference_ex(SG_INT32_LOC, SG_OP_MAXLOC, 0, 8, 16, three, 3, want),
				 0);
		for (int i = 0; i < 16; i++) {
			int32_t best = INT32_MIN, idx = INT32_MAX;

			for (int r = 0; r < 3; r++)
				if (c[r][i].value > best)
					best = c[r][i].value;
			for (int r = 0; r < 3; r++)
				if (c[r][i].value == best && c[r][i].index < idx)
					idx = c[r][i].index;
			assert_int_equal(want[i].value, best);
			assert_int_equal(want[i].index, idx);
		}
		assert_int_equal(tw_reference_ex(SG_FLOAT64_LOC, SG_OP_MINLOC, 0, 8, 16, three, 3, fl),
				 0);
		for (int i = 0; i < 16; i++)
			assert_int_equal(fl[i].pad, 0);
	}
	assert_int_equal(tw_loc_index(0), -100);
	assert_int_equal(tw_loc_index(1), -93);
	/* Invalid combinations. */
	assert_int_equal(tw_reference_ex(SG_FLOAT32, SG_OP_PROD, 0, 1, 1, &r0, 1, f32), -EINVAL);
	assert_int_equal(tw_reference_ex(SG_INT32_LOC, SG_OP_SUM, 0, 1, 1, &r0, 1, f32), -EINVAL);
	assert_int_equal(tw_reference_fsum(SG_INT32, 0, 1, 1, &r0, 1, s, a), -EINVAL);
}

/* Every format, pattern and size; @big: also 65536 elements. */
static void fsum_all(struct fix *f, int big)
{
	for (int d = 0; d < NFMT; d++)
		for (uint32_t pat = 0; pat < TW_FP_COUNT; pat++)
			for (size_t s = 0; s < NSIZES; s++)
				if (sizes[s] < 65536 || (big && d < 2))
					check_fsum(f, fmts[d].dt, pat, sizes[s], 0);
}

static void test_fsum_fanout_1(void **state) { fsum_all(&f1, 1); }
static void test_fsum_fanout_16(void **state) { fsum_all(&f16, 1); }
static void test_fsum_fanout_64(void **state) { fsum_all(&f64, 1); }

/* Whether SGBPF_TEST_HEAVY is set: 65536-element vectors at fan-out 1024. */
static int heavy(void)
{
	const char *e = getenv("SGBPF_TEST_HEAVY");

	return e && *e && strcmp(e, "0");
}

/*
 * At 1024 workers a 65536-element vector is 256-512 MB of contributions,
 * longer to move on this lab than the library's retransmission timeout (at
 * most 1 s), and the retransmitted whole vectors make it take tens of
 * seconds: those run only with SGBPF_TEST_HEAVY=1. By default the multi-chunk
 * case at 1024 is 8192 elements (64 chunks).
 */
static void test_fsum_fanout_1024(void **state)
{
	fsum_all(&f1024, heavy());
	check_fsum(&f1024, SG_FLOAT32, TW_FP_MIXED, 8192, 0);
	check_fsum(&f1024, SG_FLOAT64, TW_FP_CANCEL, 8192, 0);
}

static void minmax_all(struct fix *f, size_t big)
{
	static const size_t n[] = { 1, 88, 89, 176, 177, 256, 257, 1000 };

	for (int d = 0; d < NFMT; d++)
		for (int op = SG_OP_MIN; op <= SG_OP_MAX; op++)
			for (uint32_t pat = 0; pat < TW_FP_COUNT; pat++) {
				for (size_t s = 0; s < sizeof(n) / sizeof(n[0]); s++)
					check_exact(f, fmts[d].dt, op, pat, n[s], 0);
				if (big && d < 2)
					check_exact(f, fmts[d].dt, op, pat, big, 0);
			}
}

static void test_minmax(void **state)
{
	minmax_all(&f1, 65536);
	minmax_all(&f16, 65536);
	minmax_all(&f64, 65536);
	minmax_all(&f1024, heavy() ? 65536 : 0);
	check_exact(&f1024, SG_FLOAT64, SG_OP_MAX, TW_FP_SPECIAL, 8192, 0);
}

/*
 * NaN/inf semantics from the contributions themselves (not the reference):
 * SUM: a NaN anywhere, or +inf and -inf together, give NaN; else an infinity
 * wins. MIN/MAX: a NaN anywhere gives NaN; else the infinity of the op's
 * direction if any; the other infinity only if every value is it. Each case
 * must occur.
 */
static void check_specials(struct fix *f, enum sg_datatype dt, enum sg_op op, size_t count,
			   unsigned long seen[4])
{
	size_t w = sg_datatype_size(dt);
	unsigned char *got = malloc(count * w);
	uint32_t ranks[NRANKS], id;
	size_t nranks;

	assert_non_null(got);
	id = run(f, dt, op, TW_FP_SPECIAL, count, 0, got, ranks, &nranks);
	for (size_t i = 0; i < count; i++) {
		int nan = 0, pinf = 0, ninf = 0, allpinf = 1, allninf = 1;
		long double g = got_value(dt, got, i);

		for (size_t r = 0; r < nranks; r++) {
			uint64_t b = tw_fbits(dt, TW_FP_SPECIAL, ranks[r], id, (uint32_t)i, op);
			long double v = sg_float_bits_value(b, dt);
			nan |= isnan(v);
			pinf |= isinf(v) && v > 0;
			ninf |= isinf(v) && v < 0;
			allpinf &= isinf(v) && v > 0;
			allninf &= isinf(v) && v < 0;
		}
		int ok;

		if (nan) {
			seen[0]++;
			ok = isnan(g);
		} else if (op == SG_OP_SUM && pinf && ninf) {
			seen[1]++;
			ok = isnan(g);
		} else if (pinf && (op == SG_OP_SUM || op == SG_OP_MAX)) {
			seen[2]++;
			ok = isinf(g) && g > 0;
		} else if (ninf && (op == SG_OP_SUM || op == SG_OP_MIN)) {
			seen[3]++;
			ok = isinf(g) && g < 0;
		} else if (allpinf || allninf) { /* MIN of +infs, MAX of -infs */
			ok = isinf(g) && (g > 0) == allpinf;
		} else {
			ok = isfinite(g);
		}
		if (!ok)
			fail_msg("%s op %d fan-out %zu coll %u elem %zu: got %Lg; contributions: "
				 "NaN %d +inf %d -inf %d", fmts[fidx(dt)].name,
				 op, f->n, id, i, g, nan, pinf, ninf);
	}
	free(got);
}

static void test_nan_inf(void **state)
{
	struct fix *fs[] = { &f1, &f16, &f64, &f1024 };

	for (size_t k = 0; k < 4; k++)
		for (int d = 0; d < NFMT; d++)
			for (int op = SG_OP_SUM; op <= SG_OP_MAX; op++) {
				unsigned long seen[4] = {};

				if (op == SG_OP_PROD)
					continue;
				check_specials(fs[k], fmts[d].dt, op, 1000, seen);
				/* Every case occurs in 1000 elements at any fan-out. */
				assert_true(seen[0] > 0);
				assert_true(op == SG_OP_MIN || seen[2] > 0);
				assert_true(op == SG_OP_MAX || seen[3] > 0);
				if (op == SG_OP_SUM && fs[k]->n > 1)
					assert_true(seen[1] > 0);
			}
}

static void test_overflow(void **state)
{
	unsigned long before32 = n_overflow[0], before64 = n_overflow[1];

	/* Sums of 16 values near MAX/2 with one sign must overflow. */
	check_fsum(&f16, SG_FLOAT32, TW_FP_LARGE, 1000, 0);
	check_fsum(&f16, SG_FLOAT64, TW_FP_LARGE, 1000, 0);
	assert_true(n_overflow[0] - before32 >= 500);
	assert_true(n_overflow[1] - before64 >= 500);
	for (int d = 2; d < NFMT; d++) {
		unsigned long before = n_overflow[d];

		check_fsum(&f16, fmts[d].dt, TW_FP_LARGE, 1000, 0);
		assert_true(n_overflow[d] - before >= 500);
	}
}

static void loc_all(struct fix *f, size_t big)
{
	static const size_t n[] = { 1, 88, 89, 176, 177, 256, 257, 1000 };

	for (int dt = SG_INT32_LOC; dt <= SG_FLOAT64_LOC; dt++)
		for (int op = SG_OP_MAXLOC; op <= SG_OP_MINLOC; op++) {
			for (size_t s = 0; s < sizeof(n) / sizeof(n[0]); s++)
				check_exact(f, dt, op, 0, n[s], 0);
			if (big)
				check_exact(f, dt, op, 0, big, 0);
		}
}

static void test_loc(void **state)
{
	unsigned long ties = n_loc_ties;

	loc_all(&f1, 0);
	assert_int_equal(n_loc_ties, ties); /* one rank: no ties */
	loc_all(&f16, 0);
	assert_true(n_loc_ties - ties > 1000);
	ties = n_loc_ties;
	loc_all(&f64, 65536);
	loc_all(&f1024, 0);
	assert_true(n_loc_ties - ties > 10000);
}

static void test_allgather(void **state)
{
	check_fsum(&f16, SG_FLOAT32, TW_FP_MIXED, 1000, 1);
	check_fsum(&f16, SG_FLOAT64, TW_FP_SPECIAL, 129, 1);
	check_fsum(&f64, SG_FLOAT64, TW_FP_CANCEL, 65536, 1);
	check_fsum(&f64, SG_FLOAT32, TW_FP_LARGE, 127, 1);
	check_fsum(&f1024, SG_FLOAT32, TW_FP_UNIFORM, 1000, 1);
	check_fsum(&f1024, SG_FLOAT64, TW_FP_MIXED, 1000, 1);
	check_exact(&f64, SG_FLOAT64_LOC, SG_OP_MAXLOC, 0, 1000, 1);
	check_exact(&f1024, SG_FLOAT32, SG_OP_MIN, TW_FP_SPECIAL, 300, 1);
}

/* The coordinator as a contributor (sg_allreduce(), sg_reduce()): its
 * vector folded by the same fold as the workers', so a float SUM stays
 * within the same bound over every contribution (docs/floats.md); MIN, MAX
 * and the pairs exact; in place and not, within a segment and across
 * segments, fan-outs 1 to 1024. */
static void test_allreduce(void **state)
{
	for (int d = 0; d < NFMT; d++)
		for (uint32_t pat = 0; pat < TW_FP_COUNT; pat++) {
			enum sg_datatype dt = fmts[d].dt;

			check_fsum(&f16, dt, pat, 1000, ALLGATHER | OWN | (pat & 1 ? IN_PLACE : 0));
			check_fsum(&f1, dt, pat, 257, OWN);
			check_exact(&f16, dt, SG_OP_MAX, pat, 300, ALLGATHER | OWN);
			check_exact(&f16, dt, SG_OP_MIN, pat, 300, OWN | IN_PLACE);
		}
	check_fsum(&f64, SG_FLOAT32, TW_FP_CANCEL, 65536, ALLGATHER | OWN);
	check_fsum(&f1024, SG_FLOAT64, TW_FP_MIXED, 1000, ALLGATHER | OWN | IN_PLACE);
	check_exact(&f64, SG_FLOAT64_LOC, SG_OP_MAXLOC, 0, 1000, ALLGATHER | OWN);
	check_fsum(&f16, SG_FLOAT32, TW_FP_MIXED, 2 * (SG_MAX_SEGMENT_BYTES / 4) + 9,
		   ALLGATHER | OWN | IN_PLACE);
	check_fsum(&f16, SG_BFLOAT16, TW_FP_MIXED, SG_MAX_SEGMENT_BYTES / 2 + 5,
		   ALLGATHER | OWN | IN_PLACE);
	check_fsum(&f1024, SG_FLOAT16, TW_FP_UNIFORM, 1000, ALLGATHER | OWN);
}

/* Vectors longer than a segment (the gradient buckets of data-parallel
 * training): every segment within the bound, and delivered whole. */
static void test_segments(void **state)
{
	check_fsum(&f16, SG_FLOAT32, TW_FP_MIXED, 3 * (SG_MAX_SEGMENT_BYTES / 4) + 7, 1);
	check_fsum(&f16, SG_FLOAT32, TW_FP_CANCEL, SG_MAX_SEGMENT_BYTES / 4 + 1, 0);
	check_fsum(&f64, SG_FLOAT64, TW_FP_SPECIAL, 2 * (SG_MAX_SEGMENT_BYTES / 8) + 3, 1);
	check_exact(&f16, SG_FLOAT32, SG_OP_MAX, TW_FP_UNIFORM, SG_MAX_SEGMENT_BYTES / 2, 1);
	/* float16: 2048 chunks of 512 bytes in a full segment */
	check_fsum(&f16, SG_FLOAT16, TW_FP_UNIFORM, 2 * (SG_MAX_SEGMENT_BYTES / 2) + 3, 1);
}

/* No request: pattern 0. */
static void test_no_request_is_pattern_0(void **state)
{
	double got[300];
	uint64_t contrib[1] = {};
	SG_OPTS_INIT(sg_reduce_params, p);
	long double sum[300], abssum[300];
	uint32_t id;

	p.timeout_ms = TIMEOUT_MS;
	p.contributors = contrib;
	p.contributors_words = 1;
	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, got, 300, SG_FLOAT64, SG_OP_SUM, &p),
			 0);
	assert_int_equal(p.ncontributors, 16);
	id = last_coll_id(f16.ranks[0]);
	assert_int_equal(tw_reference_fsum(SG_FLOAT64, TW_FP_UNIFORM, id, 300, f16.ranks, 16, sum,
					   abssum), 0);
	for (size_t i = 0; i < 300; i++)
		assert_true(fabsl(got[i] - sum[i]) <= ldexpl(abssum[i], -40));
}

static void test_invalid_ops(void **state)
{
	float f[4];
	struct sg_int32_loc l[4];
	int32_t i[4];

	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, f, 4, SG_FLOAT32, SG_OP_PROD, NULL),
			 -EINVAL);
	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, f, 4, SG_FLOAT32, SG_OP_BXOR, NULL),
			 -EINVAL);
	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, f, 4, SG_FLOAT32, SG_OP_MAXLOC, NULL),
			 -EINVAL);
	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, l, 4, SG_INT32_LOC, SG_OP_SUM, NULL),
			 -EINVAL);
	assert_int_equal(sg_scatter_reduce(f16.comm, NULL, 0, i, 4, SG_INT32, SG_OP_MINLOC, NULL),
			 -EINVAL);
	assert_int_equal(sg_datatype_size(SG_FLOAT32_LOC), sizeof(struct sg_float32_loc));
	assert_int_equal(sg_datatype_size(SG_INT64_LOC), sizeof(struct sg_int64_loc));
	assert_int_equal(sg_datatype_size(SG_FLOAT64_LOC), sizeof(struct sg_float64_loc));
	assert_int_equal(sg_response_chunk_bytes(SG_FLOAT32), 1024);
	assert_int_equal(sg_response_chunk_bytes(SG_FLOAT64), 1408);
	assert_int_equal(sg_response_chunk_bytes(SG_FLOAT16), 512);
	assert_int_equal(sg_response_chunk_bytes(SG_BFLOAT16), 512);
	assert_int_equal(sg_datatype_size(SG_BFLOAT16), 2);
	/* Nothing was lost: the next collective is right. */
	check_fsum(&f16, SG_FLOAT32, TW_FP_UNIFORM, 4, 0);
}

static void test_worst_error(void **state)
{
	for (int d = 0; d < NFMT; d++) {
		for (int p = 0; p < TW_FP_COUNT; p++)
			assert_true(worst[d][p].ratio <= 1.0);
		assert_true(n_sum_elems[d] > 0);
	}
}

static void report(double secs)
{
	printf("\n# %lu collectives in %.1f s\n", n_collectives, secs);
	for (int d = 0; d < NFMT; d++)
		printf("# %s SUM: %lu elements checked; NaN/inf by the specials %lu/%lu; "
		       "overflowed to inf %lu\n", fmts[d].name, n_sum_elems[d], n_nan[d], n_inf[d],
		       n_overflow[d]);
	printf("# slowest collective: %.2f s (%s)\n", slowest, slowest_what);
	printf("# MAXLOC/MINLOC: %lu elements, %lu decided by the index among tied values\n",
	       n_loc_elems, n_loc_ties);
	for (int d = 0; d < NFMT; d++) {
		double all = 0;

		printf("# worst |error| / bound, %s (bound 2^%d sum|x|):\n", fmts[d].name,
		       fmts[d].bound);
		for (int p = 0; p < TW_FP_COUNT; p++) {
			printf("#   %-8s %.6g  (%s)\n", pattern_name[p], worst[d][p].ratio,
			       worst[d][p].where[0] ? worst[d][p].where : "exact");
			if (worst[d][p].ratio > all)
				all = worst[d][p].ratio;
		}
		printf("# WORST %s: %.6g of the bound\n", fmts[d].name, all);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_selfcheck),
		cmocka_unit_test(test_invalid_ops),
		cmocka_unit_test(test_no_request_is_pattern_0),
		cmocka_unit_test(test_fsum_fanout_1),
		cmocka_unit_test(test_fsum_fanout_16),
		cmocka_unit_test(test_fsum_fanout_64),
		cmocka_unit_test(test_fsum_fanout_1024),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_nan_inf),
		cmocka_unit_test(test_minmax),
		cmocka_unit_test(test_loc),
		cmocka_unit_test(test_allgather),
		cmocka_unit_test(test_allreduce),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_worst_error),
	};
	char why[256];
	struct timespec t0, t1;
	int rc;

	if (!netlab_can_run(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	/* TEST_FILTER=<glob>: run only the matching tests (development). */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	report((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return rc;
}
