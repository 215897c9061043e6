// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the XDP gather program (sg_gather and the sg_fold_<op>
 * programs it tail-calls), in the style of the kernel selftests: the object is
 * loaded but not attached, its maps are filled as transport/ebpf.c fills them
 * (slots armed with a generation and a run of the shared accumulator pool),
 * and the program is run with bpf_prog_test_run_opts() on crafted frames. Each
 * test checks the verdict, the frame (for XDP_PASS), the slot, the pool
 * entries' chunk states, the result vector, counters, completion words and
 * completion events. Float types are tested in tests/test_bpf_floats.c.
 *
 * Needs root (CAP_BPF + CAP_NET_ADMIN); exits 77 (skipped) when BPF is not
 * available. No network is used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "bpf_frames.h"
#include "bpf/fold.bpf.h"
#include "transport/accum.h"

#define NWORKERS 3

/* The integer types; the float and pair types are in test_bpf_floats.c. */
#define NINT_TYPES (SG_UINT64 + 1)
#define dsize(dt) sg_wire_dtype_size(dt)
static const char *const dname[NINT_TYPES] = {
	"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
};
static const char *const oname[SG_OP_MAXLOC] = {
	"SUM", "PROD", "MIN", "MAX", "BAND", "BOR", "BXOR",
};

/* ------------------------------------------------------------------ helpers */

static int setup(void **state)
{
	struct sgt_fixture *f;
	char reason[256];
	int err;

	f = sgt_shared_fixture(reason, sizeof(reason));
	if (!f) {
		fprintf(stderr, "fixture: %s\n", reason);
		return -1;
	}
	err = sgt_add_comm(f, 0, NWORKERS);
	if (err) {
		fprintf(stderr, "fixture: cannot install communicator 0: %s\n", strerror(-err));
		return -1;
	}
	*state = f;
	return 0;
}

/* The fixture is reset by the next setup and closed at the end of main(). */
static int teardown(void **state)
{
	return 0;
}

static int gather_fd(struct sgt_fixture *f)
{
	return bpf_program__fd(f->dp.skel->progs.sg_gather);
}

/* Run sg_gather on a frame; the test fails if the run itself fails. */
static uint32_t run(struct sgt_fixture *f, const void *frame, size_t len)
{
	uint32_t rv = ~0u;
	int err = sgt_run(gather_fd(f), frame, len, NULL, NULL, &rv);

	if (err)
		fail_msg("bpf_prog_test_run_opts: %s", strerror(-err));
	return rv;
}

static size_t chunk_frame(struct sgt_fixture *f, uint8_t *fr, uint32_t comm, uint32_t w,
			  const struct sg_wire_msg *m, unsigned int chunk, const uint8_t *vec)
{
	return sgt_build_frame(fr, &f->comms[comm].workers[w], &f->comms[comm].local, m, chunk,
			       vec + (size_t)chunk * sgt_chunk_bytes(m));
}

/* Worker @w of @comm sends chunk @chunk of its vector @vec. */
static uint32_t send_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t w,
			   const struct sg_wire_msg *m, unsigned int chunk, const uint8_t *vec)
{
	uint8_t fr[SGT_FRAME_MAX];

	return run(f, fr, chunk_frame(f, fr, comm, w, m, chunk, vec));
}

#define STAT_FIELDS(X) X(rx_accepted) X(rx_duplicate) X(rx_stale) X(rx_late) \
	X(rx_unknown_src) X(rx_malformed) X(rx_forged) X(completed) X(tx_fanout)

static void expect_stats(const char *what, const struct sg_stats *got, const struct sg_stats *want)
{
#define CMP(fld)								\
	if (got->fld != want->fld)						\
		fail_msg("%s: " #fld " is %llu, expected %llu", what,		\
			 (unsigned long long)got->fld, (unsigned long long)want->fld);
	STAT_FIELDS(CMP)
#undef CMP
}

/* Run a frame that must change nothing but one counter: verdict @want, the
 * frame unchanged when passed, no slot, pool entry (chunk state, accumulator,
 * aux words), completion word, event or other counter changed anywhere, and
 * the counter of @comm at @stat_off (offsetof(struct sg_stats, ...), or -1 for
 * none) incremented once. */
static void expect_rejected(struct sgt_fixture *f, uint32_t comm, const uint8_t *fr, size_t len,
			    uint32_t want, long stat_off, const char *what)
{
	static uint8_t out[SGT_FRAME_MAX];
	struct sgt_snapshot snap;
	struct sg_stats after, expected;
	size_t out_len = sizeof(out);
	uint32_t rv = ~0u;
	int err, diff = 0;

	memset(&snap, 0, sizeof(snap));
	assert_int_equal(sgt_snapshot_take(f, &snap), 0);
	err = sgt_run(gather_fd(f), fr, len, out, &out_len, &rv);
	if (stat_off >= 0) {
		uint64_t v;

		memcpy(&v, (uint8_t *)&snap.stats[comm] + stat_off, sizeof(v));
		v++;
		memcpy((uint8_t *)&snap.stats[comm] + stat_off, &v, sizeof(v));
	}
	expected = snap.stats[comm];
	if (!err)
		diff = sgt_snapshot_diff(f, &snap, NULL, true);
	sgt_snapshot_free(&snap);
	if (err)
		fail_msg("%s: bpf_prog_test_run_opts: %s", what, strerror(-err));
	if (rv != want)
		fail_msg("%s: verdict %u, expected %u", what, rv, want);
	if (want == XDP_PASS && (out_len != len || memcmp(out, fr, len)))
		fail_msg("%s: passed frame was changed", what);
	after = sgt_counters(f, comm);
	expect_stats(what, &after, &expected);
	if (diff)
		fail_msg("%s: state changed", what);
}

#define STAT(fld) ((long)offsetof(struct sg_stats, fld))

/* ------------------------------------------------------ reference reduction */

static uint64_t load_le(const uint8_t *p, unsigned int size)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void store_le(uint8_t *p, unsigned int size, uint64_t v)
{
	for (unsigned int i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Sign-extend the @size-byte value @v. */
static int64_t sext(uint64_t v, unsigned int size)
{
	unsigned int shift = 64 - 8 * size;

	return (int64_t)(v << shift) >> shift;
}

static bool is_signed(uint8_t dtype)
{
	return dtype == SG_INT8 || dtype == SG_INT16 || dtype == SG_INT32 || dtype == SG_INT64;
}

/* acc = op(acc, src) element-wise, in plain C: SUM and PROD wrap modulo the
 * element width, MIN and MAX compare signed for the signed types. */
static void ref_fold(uint8_t dtype, uint8_t op, uint8_t *acc, const uint8_t *src, size_t count)
{
	unsigned int size = dsize(dtype);
	uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

	for (size_t i = 0; i < count; i++) {
		uint64_t a = load_le(acc + i * size, size), b = load_le(src + i * size, size), r;
		bool less = is_signed(dtype) ? sext(b, size) < sext(a, size) : b < a;

		switch (op) {
		case SG_OP_SUM: r = a + b; break;
		case SG_OP_PROD: r = a * b; break;
		case SG_OP_MIN: r = less ? b : a; break;
		case SG_OP_MAX: r = (!less && b != a) ? b : a; break;
		case SG_OP_BAND: r = a & b; break;
		case SG_OP_BOR: r = a | b; break;
		default: r = a ^ b; break;
		}
		store_le(acc + i * size, size, r & mask);
	}
}

/* Random elements, with the interesting values (0, -1 / all ones, the signed
 * minimum and maximum, 1) over-represented. */
static void fill_random(uint8_t *v, size_t count, unsigned int size, uint64_t *seed)
{
	uint64_t smin = 1ull << (8 * size - 1);

	for (size_t i = 0; i < count; i++) {
		uint64_t r = sgt_rand64(seed), x;

		switch (r % 8) {
		case 0: x = 0; break;
		case 1: x = ~0ull; break;
		case 2: x = smin; break;
		case 3: x = smin - 1; break;
		case 4: x = 1; break;
		default: x = sgt_rand64(seed); break;
		}
		store_le(v + i * size, size, x);
	}
}

/* Worker vectors of a whole message, heap-allocated and zero past msg_len. */
struct vecs {
	uint32_t nw;
	size_t msg_len;
	uint8_t *v[SG_MAX_WORKERS];
	uint8_t *ref;
};

static void vecs_init(struct vecs *vs, uint32_t nw, uint8_t dtype, uint8_t op, uint32_t count,
		      uint64_t seed)
{
	size_t cap;

	memset(vs, 0, sizeof(*vs));
	vs->nw = nw;
	vs->msg_len = (size_t)count * dsize(dtype);
	cap = (size_t)sg_wire_nchunks(vs->msg_len) * SG_CHUNK_BYTES + SG_CHUNK_BYTES;
	for (uint32_t w = 0; w < nw; w++) {
		vs->v[w] = calloc(1, cap);
		assert_non_null(vs->v[w]);
		fill_random(vs->v[w], count, dsize(dtype), &seed);
	}
	vs->ref = calloc(1, cap);
	assert_non_null(vs->ref);
	memcpy(vs->ref, vs->v[0], vs->msg_len);
	for (uint32_t w = 1; w < nw; w++)
		ref_fold(dtype, op, vs->ref, vs->v[w], count);
}

/* Reference over a subset of the workers (bit w of @mask). */
static void vecs_ref_subset(struct vecs *vs, uint8_t dtype, uint8_t op, uint64_t mask)
{
	bool first = true;

	for (uint32_t w = 0; w < vs->nw; w++) {
		if (!(mask >> w & 1))
			continue;
		if (first)
			memcpy(vs->ref, vs->v[w], vs->msg_len);
		else
			ref_fold(dtype, op, vs->ref, vs->v[w], vs->msg_len / dsize(dtype));
		first = false;
	}
}

static void vecs_free(struct vecs *vs)
{
	for (uint32_t w = 0; w < vs->nw; w++)
		free(vs->v[w]);
	free(vs->ref);
}

/* The result of what is armed in @coll_id's slot, read as sg_result_copy()
 * reads it, must be @ref (@len bytes, the whole message). */
static void expect_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id,
			  const uint8_t *ref, size_t len, const char *what)
{
	const struct sgt_arming *a = sgt_armed(f, comm, coll_id);
	uint8_t *res;

	assert_true(a->armed);
	assert_int_equal(a->msg_len, len);
	res = malloc(len);
	assert_non_null(res);
	sgt_copy_result(f, comm, coll_id, res);
	for (size_t i = 0; i < len; i++) {
		if (res[i] != ref[i]) {
			uint8_t got = res[i];

			free(res);
			fail_msg("%s: result byte %zu is 0x%02x, expected 0x%02x", what, i, got,
				 ref[i]);
		}
	}
	free(res);
}

/* The completion word of @coll_id's slot names the collective armed there
 * (its generation) with @ndone workers, or (@ndone < 0) does not name it. */
static void expect_completion(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, int ndone,
			      const char *what)
{
	const struct sgt_arming *a = sgt_armed(f, comm, coll_id);
	struct sg_completion c = sgt_completion(f, comm, coll_id);

	if (ndone < 0) {
		if (c.gen == a->gen)
			fail_msg("%s: completion word already names generation %llu", what,
				 (unsigned long long)a->gen);
		return;
	}
	if (c.gen != a->gen || c.ndone != (uint32_t)ndone)
		fail_msg("%s: completion word (gen %llu, ndone %u), expected (%llu, %d)", what,
			 (unsigned long long)c.gen, c.ndone, (unsigned long long)a->gen, ndone);
}

/* The chunk state of chunk @chunk of @coll_id's collective: owned by its
 * generation, folded by the workers in @seen (word 0). */
static void expect_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk,
			 uint64_t seen)
{
	struct sg_chunk_state cs;

	assert_int_equal(sgt_read_chunk(f, comm, coll_id, chunk, &cs), 0);
	assert_int_equal(cs.gen, sgt_armed(f, comm, coll_id)->gen);
	assert_int_equal(cs.ncontrib, __builtin_popcountll(seen));
	assert_int_equal(cs.seen[0], seen);
	for (int i = 1; i < SG_WORKER_WORDS; i++)
		assert_int_equal(cs.seen[i], 0);
}

static void expect_event(struct sgt_fixture *f, unsigned int idx, uint32_t comm, uint32_t coll_id,
			 uint32_t ndone)
{
	const struct sg_event *ev = &f->events[idx];

	assert_true(idx < SGT_MAX_EVENTS);
	assert_int_equal(ev->comm, comm);
	assert_int_equal(ev->slot, coll_id % SG_SLOTS);
	assert_int_equal(ev->coll_id, coll_id);
	assert_int_equal(ev->ndone, ndone);
}

/* ------------------------------------------------------- every op and dtype */

/* For each datatype, one collective (in its own slot) of NWORKERS workers that
 * send one chunk each: count = one chunk minus one element, so the last
 * 64-bit word of the narrower types is partial. */
static void check_op(void **state, uint8_t op)
{
	struct sgt_fixture *f = *state;
	uint64_t seed = 0x5eed0000u + op;
	unsigned int events = 0;

	for (uint8_t dt = 0; dt < NINT_TYPES; dt++) {
		uint32_t coll_id = dt + 1, count = SG_CHUNK_BYTES / dsize(dt) - 1;
		struct sg_wire_msg m = sgt_msg(coll_id, 0x1122334455667788ull ^ dt, dt, op, count);
		struct sg_slot s;
		struct sg_stats st;
		struct vecs vs;
		char what[64];

		snprintf(what, sizeof(what), "%s/%s", oname[op], dname[dt]);
		vecs_init(&vs, NWORKERS, dt, op, count, seed + dt);
		assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
		for (uint32_t w = 0; w < NWORKERS; w++) {
			if (send_chunk(f, 0, w, &m, 0, vs.v[w]) != XDP_DROP)
				fail_msg("%s: worker %u not dropped", what, w);
			sgt_poll_events(f);
			if (f->nevents != events + (w + 1 == NWORKERS))
				fail_msg("%s: %u events after worker %u", what,
					 f->nevents - events, w);
			expect_completion(f, 0, coll_id, w + 1 == NWORKERS ? NWORKERS : -1, what);
		}
		events++;
		expect_event(f, events - 1, 0, coll_id, NWORKERS);
		expect_result(f, 0, coll_id, vs.ref, vs.msg_len, what);

		s = sgt_slot(f, 0, coll_id);
		assert_int_equal(s.coll_id, coll_id);
		assert_int_equal(s.gen, sgt_armed(f, 0, coll_id)->gen);
		assert_int_equal(s.chunk_base, sgt_armed(f, 0, coll_id)->base);
		assert_int_equal(s.nchunks, 1);
		assert_int_equal(s.ndone, NWORKERS);
		assert_int_equal(s.nadmitted, NWORKERS);
		assert_int_equal(s.complete, 1);
		assert_int_equal(s.active, 1);
		assert_int_equal(s.done[0], (1u << NWORKERS) - 1);
		assert_int_equal(s.admitted[0], (1u << NWORKERS) - 1);
		for (uint32_t w = 0; w < NWORKERS; w++)
			assert_int_equal(s.progress[w], 1);
		expect_chunk(f, 0, coll_id, 0, (1u << NWORKERS) - 1);
		st = sgt_counters(f, 0);
		assert_int_equal(st.rx_accepted, (uint64_t)NWORKERS * (dt + 1));
		assert_int_equal(st.completed, dt + 1);
		assert_int_equal(st.rx_malformed + st.rx_duplicate + st.rx_stale + st.rx_late +
				 st.rx_unknown_src, 0);
		vecs_free(&vs);
	}
}

static void test_op_sum(void **state) { check_op(state, SG_OP_SUM); }
static void test_op_prod(void **state) { check_op(state, SG_OP_PROD); }
static void test_op_min(void **state) { check_op(state, SG_OP_MIN); }
static void test_op_max(void **state) { check_op(state, SG_OP_MAX); }
static void test_op_band(void **state) { check_op(state, SG_OP_BAND); }
static void test_op_bor(void **state) { check_op(state, SG_OP_BOR); }
static void test_op_bxor(void **state) { check_op(state, SG_OP_BXOR); }

/* The reference itself, on values worked out by hand, so that a reference bug
 * cannot hide a datapath bug. */
static void test_reference_fold(void **state)
{
	int8_t a8[4] = { 127, -128, -1, 5 }, b8[4] = { 1, -1, -1, -3 };
	int32_t a32[3] = { INT32_MIN, INT32_MAX, -7 }, b32[3] = { -1, 1, 3 };
	uint16_t au16[2] = { 65535, 2 }, bu16[2] = { 65535, 40000 };

	ref_fold(SG_INT8, SG_OP_SUM, (uint8_t *)a8, (uint8_t *)b8, 4);
	assert_int_equal(a8[0], -128);
	assert_int_equal(a8[1], 127);
	assert_int_equal(a8[2], -2);
	assert_int_equal(a8[3], 2);
	ref_fold(SG_INT32, SG_OP_MIN, (uint8_t *)a32, (uint8_t *)b32, 3);
	assert_int_equal(a32[0], INT32_MIN);
	assert_int_equal(a32[1], 1);
	assert_int_equal(a32[2], -7);
	ref_fold(SG_INT32, SG_OP_MAX, (uint8_t *)a32, (uint8_t *)b32, 3);
	assert_int_equal(a32[0], -1);
	assert_int_equal(a32[1], 1);
	assert_int_equal(a32[2], 3);
	ref_fold(SG_UINT16, SG_OP_PROD, (uint8_t *)au16, (uint8_t *)bu16, 2);
	assert_int_equal(au16[0], 1);			/* (2^16-1)^2 mod 2^16 */
	assert_int_equal(au16[1], (80000u & 0xffff));
	ref_fold(SG_UINT16, SG_OP_MIN, (uint8_t *)au16, (uint8_t *)bu16, 2);
	assert_int_equal(au16[0], 1);
	assert_int_equal(au16[1], 14464);
}

/* --------------------------------------------------------- chunk boundaries */

/* Every worker sends every chunk of a @msg_len-byte message, the (worker,
 * chunk) pairs in a shuffled order; progress, done bits, the completion word
 * and the completion event are checked after each datagram, the result and
 * the chunk states of the collective's pool run at the end. The collective is
 * armed at pool entry @base, or first fit if @base < 0. */
static void check_vector_at(struct sgt_fixture *f, uint8_t dtype, uint8_t op, uint32_t msg_len,
			    uint32_t coll_id, uint64_t seed, long base)
{
	uint32_t count = msg_len / dsize(dtype), nchunks = sg_wire_nchunks(msg_len);
	struct sg_wire_msg m = sgt_msg(coll_id, seed * 31 + 7, dtype, op, count);
	uint32_t npairs = NWORKERS * nchunks, *order, sent[NWORKERS] = { 0 }, ndone = 0;
	unsigned int events0 = f->nevents;
	struct sg_stats st0 = sgt_counters(f, 0), st;
	const struct sgt_arming *a;
	struct vecs vs;
	char what[48];

	snprintf(what, sizeof(what), "msg_len %u", msg_len);
	assert_int_equal(msg_len % dsize(dtype), 0);
	assert_int_equal(sgt_nchunks(&m), nchunks);
	vecs_init(&vs, NWORKERS, dtype, op, count, seed);
	order = calloc(npairs, sizeof(*order));
	assert_non_null(order);
	for (uint32_t i = 0; i < npairs; i++)
		order[i] = i;
	for (uint32_t i = npairs - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(sgt_rand64(&seed) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	if (base < 0)
		assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	else
		assert_int_equal(sgt_arm_at(f, 0, &m, NWORKERS, (uint32_t)base), 0);
	a = sgt_armed(f, 0, coll_id);
	assert_int_equal(a->nchunks, nchunks);
	for (uint32_t i = 0; i < npairs; i++) {
		uint32_t w = order[i] % NWORKERS, c = order[i] / NWORKERS;
		struct sg_slot s;

		if (send_chunk(f, 0, w, &m, c, vs.v[w]) != XDP_DROP)
			fail_msg("msg_len %u: worker %u chunk %u not dropped", msg_len, w, c);
		if (++sent[w] == nchunks)
			ndone++;
		s = sgt_slot(f, 0, coll_id);
		if (s.progress[w] != sent[w])
			fail_msg("msg_len %u: worker %u progress %u after %u chunks", msg_len, w,
				 s.progress[w], sent[w]);
		if (!!(s.done[0] >> w & 1) != (sent[w] == nchunks))
			fail_msg("msg_len %u: worker %u done bit wrong after %u/%u chunks",
				 msg_len, w, sent[w], nchunks);
		if (s.ndone != ndone || s.complete != (i + 1 == npairs))
			fail_msg("msg_len %u: ndone %u complete %u after %u/%u datagrams",
				 msg_len, s.ndone, s.complete, i + 1, npairs);
		expect_completion(f, 0, coll_id, i + 1 == npairs ? NWORKERS : -1, what);
		sgt_poll_events(f);
		if (f->nevents - events0 != (i + 1 == npairs))
			fail_msg("msg_len %u: %u events after %u/%u datagrams", msg_len,
				 f->nevents - events0, i + 1, npairs);
	}
	expect_event(f, events0, 0, coll_id, NWORKERS);
	expect_result(f, 0, coll_id, vs.ref, msg_len, "vector");
	for (uint32_t c = 0; c < nchunks; c++)
		expect_chunk(f, 0, coll_id, c, (1u << NWORKERS) - 1);
	st = sgt_counters(f, 0);
	assert_int_equal(st.rx_accepted - st0.rx_accepted, npairs);
	assert_int_equal(st.completed - st0.completed, 1);
	assert_int_equal(st.rx_malformed + st.rx_duplicate + st.rx_stale + st.rx_late, 0);
	free(order);
	vecs_free(&vs);
}

static void check_vector(struct sgt_fixture *f, uint8_t dtype, uint8_t op, uint32_t msg_len,
			 uint32_t coll_id, uint64_t seed)
{
	check_vector_at(f, dtype, op, msg_len, coll_id, seed, -1);
}

static void test_chunks_1024(void **state)
{
	check_vector(*state, SG_UINT8, SG_OP_SUM, 1024, 1, 101);
	check_vector(*state, SG_INT64, SG_OP_MAX, 1024, 2, 102);
}

static void test_chunks_1025(void **state)
{
	/* Two chunks, the last of one byte. */
	check_vector(*state, SG_UINT8, SG_OP_SUM, 1025, 1, 103);
	check_vector(*state, SG_INT8, SG_OP_MIN, 1025, 2, 104);
	check_vector(*state, SG_UINT8, SG_OP_BXOR, 1025, 3, 105);
}

static void test_chunks_2048(void **state)
{
	check_vector(*state, SG_INT32, SG_OP_SUM, 2048, 1, 106);
	check_vector(*state, SG_UINT16, SG_OP_BAND, 2048 - 2, 2, 107);
}

static void test_chunks_64k(void **state)
{
	check_vector(*state, SG_INT32, SG_OP_SUM, 64 * 1024, 1, 108);
	check_vector(*state, SG_UINT64, SG_OP_PROD, 64 * 1024 - 8, 2, 109);
}

static void test_chunks_max(void **state)
{
	/* SG_MAX_CHUNKS chunks: the last chunk index, and a run of the largest
	 * length. */
	check_vector(*state, SG_INT16, SG_OP_BOR, SG_MAX_MSG_BYTES, 7, 110);
}

/* The ends of the pool: a run that ends at entry SG_POOL_CHUNKS - 1, one at
 * entry 0, and a run of SG_MAX_CHUNKS right before the first. */
static void test_chunks_pool_end(void **state)
{
	struct sgt_fixture *f = *state;

	check_vector_at(f, SG_UINT32, SG_OP_SUM, 16 * SG_CHUNK_BYTES, 3, 113, SG_POOL_CHUNKS - 16);
	assert_int_equal(sgt_armed(f, 0, 3)->base + sgt_armed(f, 0, 3)->nchunks, SG_POOL_CHUNKS);
	check_vector_at(f, SG_INT8, SG_OP_MAX, SG_CHUNK_BYTES, 4, 114, 0);
	check_vector_at(f, SG_INT8, SG_OP_MIN, SG_MAX_MSG_BYTES, 5, 115,
			SG_POOL_CHUNKS - SG_MAX_CHUNKS - 16);
}

/* Two slots whose pool runs are adjacent (first fit puts slot 7's run right
 * after slot 8's: pool order is not slot order): the traffic of each never
 * touches an entry of the other, chunk states included, with their boundary
 * chunks (a's last, b's first) interleaved. */
static void test_chunks_adjacent_slots(void **state)
{
	struct sgt_fixture *f = *state;
	const uint32_t count = 64 * SG_CHUNK_BYTES / 4;	/* uint32: 64 chunks */
	struct sg_wire_msg ma = sgt_msg(8, 0xa8, SG_UINT32, SG_OP_SUM, count);
	struct sg_wire_msg mb = sgt_msg(7, 0xb7, SG_UINT32, SG_OP_BXOR, count);
	const struct sgt_arming *a, *b;
	struct sgt_snapshot snap;
	struct vecs va, vb;

	vecs_init(&va, NWORKERS, SG_UINT32, SG_OP_SUM, count, 111);
	vecs_init(&vb, NWORKERS, SG_UINT32, SG_OP_BXOR, count, 112);
	assert_int_equal(sgt_arm(f, 0, &ma, NWORKERS), 0);
	assert_int_equal(sgt_arm(f, 0, &mb, NWORKERS), 0);
	a = sgt_armed(f, 0, 8);
	b = sgt_armed(f, 0, 7);
	assert_int_equal(a->nchunks, 64);
	assert_int_equal(b->base, a->base + a->nchunks);
	assert_true(b->gen > a->gen);

	/* The boundary chunks first, interleaved: a's last, b's first. */
	for (uint32_t w = 0; w < NWORKERS; w++) {
		assert_int_equal(send_chunk(f, 0, w, &ma, 63, va.v[w]), XDP_DROP);
		assert_int_equal(send_chunk(f, 0, w, &mb, 0, vb.v[w]), XDP_DROP);
	}
	/* Then the rest of a, while b's entries must not move. */
	assert_int_equal(sgt_snapshot_take(f, &snap), 0);
	for (uint32_t c = 0; c < 63; c++)
		for (uint32_t w = 0; w < NWORKERS; w++)
			assert_int_equal(send_chunk(f, 0, w, &ma, c, va.v[w]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 1);
	expect_event(f, 0, 0, 8, NWORKERS);
	snap.nevents = f->nevents;
	{
		/* Everything but a's slot, completion word, run and counters. */
		struct sgt_except ex = { .comms = 1 };

		sgt_except_slot(&ex, 0, 8);
		assert_int_equal(sgt_snapshot_diff(f, &snap, &ex, true), 0);
	}
	sgt_snapshot_free(&snap);
	expect_result(f, 0, 8, va.ref, va.msg_len, "run a");

	/* Then the rest of b; a's result and chunk states must not move. */
	for (uint32_t c = 1; c < 64; c++)
		for (uint32_t w = 0; w < NWORKERS; w++)
			assert_int_equal(send_chunk(f, 0, w, &mb, c, vb.v[w]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 2);
	expect_event(f, 1, 0, 7, NWORKERS);
	expect_result(f, 0, 8, va.ref, va.msg_len, "run a after b");
	expect_result(f, 0, 7, vb.ref, vb.msg_len, "run b");
	for (uint32_t c = 0; c < 64; c++) {
		expect_chunk(f, 0, 8, c, (1u << NWORKERS) - 1);
		expect_chunk(f, 0, 7, c, (1u << NWORKERS) - 1);
	}
	expect_completion(f, 0, 8, NWORKERS, "run a");
	expect_completion(f, 0, 7, NWORKERS, "run b");
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2 * 64 * NWORKERS);
	assert_int_equal(sgt_counters(f, 0).rx_stale + sgt_counters(f, 0).rx_duplicate, 0);
	vecs_free(&va);
	vecs_free(&vb);
}

/* --------------------------------------------------------------- duplicates */

static void test_duplicate(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(3, 0xabcdef, SG_INT32, SG_OP_SUM, 500);	/* 2 chunks */
	uint8_t fr[SGT_FRAME_MAX], fr2[SGT_FRAME_MAX];
	struct sg_slot s;
	struct vecs vs;
	size_t n, n2;

	vecs_init(&vs, NWORKERS, SG_INT32, SG_OP_SUM, 500, 7);
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);

	n = chunk_frame(f, fr, 0, 0, &m, 0, vs.v[0]);
	assert_int_equal(run(f, fr, n), XDP_DROP);
	/* The same datagram again. */
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_duplicate), "identical duplicate");
	/* Same chunk, same worker, other bytes: still a duplicate, not folded. */
	memcpy(fr2, fr, n);
	n2 = n;
	for (size_t i = SGT_PAYLOAD_OFF; i < n2; i++)
		fr2[i] ^= 0x5a;
	sgt_fix_csums(fr2, n2);
	expect_rejected(f, 0, fr2, n2, XDP_DROP, STAT(rx_duplicate), "altered duplicate");
	s = sgt_slot(f, 0, 3);
	assert_int_equal(s.progress[0], 1);

	/* Finish the collective, then duplicate a chunk of each worker. */
	assert_int_equal(send_chunk(f, 0, 0, &m, 1, vs.v[0]), XDP_DROP);
	for (uint32_t w = 1; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 2; c++)
			assert_int_equal(send_chunk(f, 0, w, &m, c, vs.v[w]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 1);
	for (uint32_t w = 0; w < NWORKERS; w++) {
		n = chunk_frame(f, fr, 0, w, &m, w % 2, vs.v[w]);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_duplicate),
				"duplicate after completion");
	}
	s = sgt_slot(f, 0, 3);
	assert_int_equal(s.ndone, NWORKERS);
	for (uint32_t w = 0; w < NWORKERS; w++)
		assert_int_equal(s.progress[w], 2);
	expect_result(f, 0, 3, vs.ref, vs.msg_len, "duplicates");
	assert_int_equal(sgt_counters(f, 0).rx_duplicate, 2 + NWORKERS);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2 * NWORKERS);
	assert_int_equal(f->nevents, 1);
	vecs_free(&vs);
}

/* ---------------------------------------------------------- unknown sources */

static void test_unknown_src(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(1, 99, SG_UINT32, SG_OP_BOR, 16);
	struct sgt_addr src;
	uint8_t fr[SGT_FRAME_MAX], pl[64];
	size_t n;

	memset(pl, 0xee, sizeof(pl));
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	assert_int_equal(sgt_add_comm(f, 1, 2), 0);

	/* An IP that is no worker's. */
	src = f->comms[0].workers[1];
	src.ip = htonl(0x0a636363);
	n = sgt_build_frame(fr, &src, &f->comms[0].local, &m, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_unknown_src), "unknown IP");
	/* A worker's IP, another port. */
	src = f->comms[0].workers[1];
	src.port = htons(6999);
	n = sgt_build_frame(fr, &src, &f->comms[0].local, &m, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_unknown_src), "unknown port");
	/* A port of one worker with the IP of another. */
	src = f->comms[0].workers[1];
	src.port = f->comms[0].workers[2].port;
	n = sgt_build_frame(fr, &src, &f->comms[0].local, &m, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_unknown_src), "mixed worker address");
	/* A worker of communicator 1 writing to communicator 0. */
	n = sgt_build_frame(fr, &f->comms[1].workers[0], &f->comms[0].local, &m, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_unknown_src), "other communicator's worker");
	assert_int_equal(sgt_counters(f, 0).rx_unknown_src, 4);
	assert_int_equal(sgt_counters(f, 1).rx_unknown_src, 0);
}

/* ------------------------------------------------------------ stale coll ids */

static void test_stale_coll_id(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m65 = sgt_msg(65, 0x99, SG_INT16, SG_OP_SUM, 40);
	struct sg_wire_msg m1 = sgt_msg(1, 0x99, SG_INT16, SG_OP_SUM, 40);
	struct sg_wire_msg m129 = sgt_msg(129, 0x99, SG_INT16, SG_OP_SUM, 40);
	struct sg_wire_msg m2 = sgt_msg(2, 0x99, SG_INT16, SG_OP_SUM, 40);
	uint8_t fr[SGT_FRAME_MAX], pl[SG_CHUNK_BYTES];
	struct vecs vs;
	size_t n;

	vecs_init(&vs, NWORKERS, SG_INT16, SG_OP_SUM, 40, 9);
	memset(pl, 0x11, sizeof(pl));
	assert_int_equal(sgt_arm(f, 0, &m65, NWORKERS), 0);
	assert_int_equal(send_chunk(f, 0, 0, &m65, 0, vs.v[0]), XDP_DROP);

	/* 1 % 64 == 65 % 64: an older collective of the same slot. */
	n = chunk_frame(f, fr, 0, 1, &m1, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "older collective");
	/* A newer one, not posted yet. */
	n = chunk_frame(f, fr, 0, 1, &m129, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "future collective");
	/* An acknowledgement id (coll | SG_COLL_ACK) shares the slot. */
	m129.coll_id = 65 | SG_COLL_ACK;
	n = chunk_frame(f, fr, 0, 1, &m129, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "acknowledgement id");
	/* A collective whose slot (2) was never armed. */
	n = chunk_frame(f, fr, 0, 1, &m2, 0, pl);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "inactive slot");
	/* Worker 0 again with the older id: stale, not a duplicate. */
	n = chunk_frame(f, fr, 0, 0, &m1, 0, vs.v[0]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "older collective, worker 0");

	for (uint32_t w = 1; w < NWORKERS; w++)
		assert_int_equal(send_chunk(f, 0, w, &m65, 0, vs.v[w]), XDP_DROP);
	expect_result(f, 0, 65, vs.ref, vs.msg_len, "after stale");
	assert_int_equal(sgt_slot(f, 0, 65).ndone, NWORKERS);
	expect_completion(f, 0, 65, NWORKERS, "after stale");
	assert_int_equal(sgt_counters(f, 0).rx_stale, 5);
	vecs_free(&vs);
}

/* A pool entry is reused by a later arm: collective 1 (slot 1) leaves chunk
 * states of its generation in entries 0 and 1 and releases its run (its slot
 * stays armed, as ebpf_release() leaves it); collective 2 (slot 2) is armed
 * with a higher generation and gets the same run. Its first chunk in each
 * entry resets the entry: worker 0's chunk 0 of coll 1 does not make its
 * chunk 0 of coll 2 a duplicate, and only coll 2's data ends up in the result.
 * Stragglers of coll 1 (accepted by their still-armed slot) are stale once
 * coll 2 owns the entry, and change nothing; one that reaches an entry coll 2
 * has not touched yet is folded under coll 1's generation and then discarded
 * by coll 2's reset. */
static void test_chunk_reset_by_newer(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m1 = sgt_msg(1, 0x1111, SG_INT32, SG_OP_SUM, 500);	/* 2 chunks */
	struct sg_wire_msg m2 = sgt_msg(2, 0x2222, SG_INT32, SG_OP_SUM, 500);
	const struct sgt_arming *a1, *a2;
	struct sg_chunk_state cs;
	uint8_t fr[SGT_FRAME_MAX];
	struct vecs v1, v2;
	struct sg_slot s;
	size_t n;

	vecs_init(&v1, NWORKERS, SG_INT32, SG_OP_SUM, 500, 1);
	vecs_init(&v2, NWORKERS, SG_INT32, SG_OP_SUM, 500, 2);
	assert_int_equal(sgt_arm(f, 0, &m1, NWORKERS), 0);
	a1 = sgt_armed(f, 0, 1);
	/* Coll 1: chunk 0 from workers 0 and 1, chunk 1 from worker 2 only. */
	assert_int_equal(send_chunk(f, 0, 0, &m1, 0, v1.v[0]), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 1, &m1, 0, v1.v[1]), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 2, &m1, 1, v1.v[2]), XDP_DROP);
	expect_chunk(f, 0, 1, 0, 0x3);
	expect_chunk(f, 0, 1, 1, 0x4);

	/* User space gives up on coll 1 and moves on: the run is reused. */
	sgt_release(f, 0, 1);
	assert_int_equal(sgt_arm(f, 0, &m2, NWORKERS), 0);
	a2 = sgt_armed(f, 0, 2);
	assert_int_equal(a2->base, a1->base);
	assert_true(a2->gen > a1->gen);
	assert_int_equal(send_chunk(f, 0, 0, &m2, 0, v2.v[0]), XDP_DROP);
	expect_chunk(f, 0, 2, 0, 0x1);
	s = sgt_slot(f, 0, 2);
	assert_int_equal(s.progress[0], 1);
	/* Entry 1 still belongs to coll 1 until coll 2 touches it. */
	assert_int_equal(sgt_read_chunk(f, 0, 2, 1, &cs), 0);
	assert_int_equal(cs.gen, a1->gen);
	assert_int_equal(cs.seen[0], 0x4);

	/* A straggler of coll 1 (worker 2, admitted there) for entry 0, which
	 * coll 2 owns now: stale, nothing changes. */
	n = chunk_frame(f, fr, 0, 2, &m1, 0, v1.v[2]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "coll 1 straggler, entry 0");
	/* One for entry 1, which coll 2 has not touched: folded under coll 1's
	 * generation (its slot counts it) ... */
	assert_int_equal(send_chunk(f, 0, 0, &m1, 1, v1.v[0]), XDP_DROP);
	assert_int_equal(sgt_read_chunk(f, 0, 2, 1, &cs), 0);
	assert_int_equal(cs.gen, a1->gen);
	assert_int_equal(cs.seen[0], 0x5);
	assert_int_equal(sgt_slot(f, 0, 1).progress[0], 2);
	assert_int_equal(sgt_slot(f, 0, 1).ndone, 1);
	expect_completion(f, 0, 1, -1, "coll 1");

	/* ... and reset by coll 2's first chunk there. */
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 2; c++)
			if (w || c)
				assert_int_equal(send_chunk(f, 0, w, &m2, c, v2.v[w]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 1);
	expect_event(f, 0, 0, 2, NWORKERS);
	expect_completion(f, 0, 2, NWORKERS, "coll 2");
	expect_completion(f, 0, 1, -1, "coll 1");
	expect_result(f, 0, 2, v2.ref, v2.msg_len, "coll 2 after coll 1");
	expect_chunk(f, 0, 2, 0, 0x7);
	expect_chunk(f, 0, 2, 1, 0x7);

	/* Stragglers of coll 1 after coll 2 folded every entry: stale, from a
	 * worker that contributed to coll 1 and from one that did not send that
	 * chunk. */
	n = chunk_frame(f, fr, 0, 1, &m1, 1, v1.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "coll 1 straggler, entry 1");
	n = chunk_frame(f, fr, 0, 0, &m1, 0, v1.v[0]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "coll 1 duplicate straggler");
	expect_result(f, 0, 2, v2.ref, v2.msg_len, "coll 2 after stragglers");
	assert_int_equal(sgt_counters(f, 0).rx_duplicate, 0);
	assert_int_equal(sgt_counters(f, 0).rx_stale, 3);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 4 + 2 * NWORKERS);
	assert_int_equal(sgt_counters(f, 0).completed, 1);
	vecs_free(&v1);
	vecs_free(&v2);
}

/* The same through a re-armed slot: coll 65 takes coll 1's slot (and a new
 * run); coll 1's stragglers are stale by their id, and coll 1's old run keeps
 * what it had. */
static void test_stale_after_rearm(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m1 = sgt_msg(1, 0x1111, SG_UINT64, SG_OP_BXOR, 200);	/* 2 chunks */
	struct sg_wire_msg m65 = sgt_msg(65, 0x6565, SG_UINT64, SG_OP_BXOR, 200);
	uint8_t fr[SGT_FRAME_MAX], old_acc[2 * SG_CHUNK_BYTES];
	uint32_t old_base;
	struct vecs v1, v65;
	size_t n;

	vecs_init(&v1, NWORKERS, SG_UINT64, SG_OP_BXOR, 200, 11);
	vecs_init(&v65, NWORKERS, SG_UINT64, SG_OP_BXOR, 200, 12);
	assert_int_equal(sgt_arm(f, 0, &m1, NWORKERS), 0);
	for (uint32_t w = 0; w < NWORKERS; w++)
		assert_int_equal(send_chunk(f, 0, w, &m1, 0, v1.v[w]), XDP_DROP);
	old_base = sgt_armed(f, 0, 1)->base;
	memcpy(old_acc, sgt_entry_acc(f, old_base), sizeof(old_acc));
	assert_int_equal(sgt_arm(f, 0, &m65, NWORKERS), 0);
	assert_true(sgt_armed(f, 0, 65)->base != old_base);
	for (uint32_t w = 0; w < NWORKERS; w++) {
		n = chunk_frame(f, fr, 0, w, &m1, 1, v1.v[w]);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "coll 1 after re-arm");
	}
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 2; c++)
			assert_int_equal(send_chunk(f, 0, w, &m65, c, v65.v[w]), XDP_DROP);
	expect_result(f, 0, 65, v65.ref, v65.msg_len, "coll 65");
	expect_completion(f, 0, 65, NWORKERS, "coll 65");
	assert_memory_equal(sgt_entry_acc(f, old_base), old_acc, sizeof(old_acc));
	assert_int_equal(sgt_counters(f, 0).rx_stale, NWORKERS);
	vecs_free(&v1);
	vecs_free(&v65);
}

/* ---------------------------------------------------------------- malformed */

/* The message the malformed tests corrupt: uint8, two chunks (a full one and
 * 300 bytes), armed in slot 5; worker 1 is the sender. */
#define BAD_COLL 5
#define BAD_COUNT (SG_CHUNK_BYTES + 300)

static struct sg_wire_msg bad_msg(void)
{
	return sgt_msg(BAD_COLL, 0x0102030405060708ull, SG_UINT8, SG_OP_SUM, BAD_COUNT);
}

static uint8_t bad_vec[2 * SG_CHUNK_BYTES];

/* A valid frame for chunk @chunk of bad_msg() (possibly altered by @m). */
static size_t good_frame(struct sgt_fixture *f, uint8_t *fr, const struct sg_wire_msg *m,
			 unsigned int chunk)
{
	return chunk_frame(f, fr, 0, 1, m, chunk, bad_vec);
}

static void arm_bad(struct sgt_fixture *f)
{
	struct sg_wire_msg m = bad_msg();
	uint64_t seed = 55;

	fill_random(bad_vec, sizeof(bad_vec), 1, &seed);
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	/* Some accepted state first, so "no change" is not vacuous. */
	assert_int_equal(send_chunk(f, 0, 0, &m, 0, bad_vec), XDP_DROP);
}

/* Set the UDP and IP lengths to carry @dlen datagram bytes (the frame is cut
 * or extended to match) and fix the checksums. */
static size_t set_dgram_len(uint8_t *fr, size_t dlen)
{
	size_t len = SGT_SG_OFF + dlen;

	fr[SGT_IP_OFF + 2] = (uint8_t)((SGT_IP_LEN + SGT_UDP_LEN + dlen) >> 8);
	fr[SGT_IP_OFF + 3] = (uint8_t)(SGT_IP_LEN + SGT_UDP_LEN + dlen);
	fr[SGT_UDP_OFF + 4] = (uint8_t)((SGT_UDP_LEN + dlen) >> 8);
	fr[SGT_UDP_OFF + 5] = (uint8_t)(SGT_UDP_LEN + dlen);
	sgt_fix_csums(fr, len);
	return len;
}

/* Header fields that disagree with the armed slot. */
static void test_malformed_vs_slot(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_wire_msg m;
	size_t n;

	arm_bad(f);
	m = bad_msg();
	m.nonce ^= 1;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong nonce");
	m = bad_msg();
	m.dtype = SG_INT8;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong dtype");
	m = bad_msg();
	m.op = SG_OP_MAX;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong op");
	m = bad_msg();
	m.op = SG_OP_COUNT + 3;	/* no fold program: must not reach the tail call */
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "op out of range");
	m = bad_msg();
	m.count = BAD_COUNT + 1;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong count");
	m = bad_msg();
	m.msg_len = BAD_COUNT + 100;	/* consistent in itself: same chunk lengths */
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong msg_len");
	m = bad_msg();
	m.msg_len = 2048;
	m.count = 2048;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "wrong msg_len and count");
	/* A valid datagram still goes through afterwards. */
	m = bad_msg();
	assert_int_equal(run(f, fr, good_frame(f, fr, &m, 1)), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, BAD_COLL).progress[1], 1);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2);
}

/* Behind an 802.1Q tag, a priority tag (VID 0) or an 802.1ad and an 802.1Q
 * tag, a contribution is checked and folded like an untagged one, and a
 * hostile one is dropped and counted like one: tags do not bypass the checks
 * (before, such frames were passed to the stack unchecked). */
static void test_vlan(void **state)
{
	static const uint8_t tags[][2][4] = {
		{ { 0x81, 0x00, 0x00, 0x05 } },			/* 802.1Q, VID 5 */
		{ { 0x81, 0x00, 0xa0, 0x00 } },			/* priority tag, VID 0 */
		{ { 0x88, 0xa8, 0x00, 0x64 }, { 0x81, 0x00, 0x00, 0x05 } },	/* QinQ */
	};
	static const uint32_t wk[3] = { 1, 2, 2 }, ck[3] = { 1, 0, 1 };	/* worker, chunk */
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX + 8];
	struct sg_wire_msg m;
	size_t n;

	arm_bad(f);
	for (unsigned int i = 0; i < 3; i++) {
		unsigned int ntags = i == 2 ? 2 : 1;

		/* Forged: another worker's token, behind the tags. */
		m = bad_msg();
		m.auth = sgt_token(f, 0, 0, m.nonce, m.coll_id);
		n = chunk_frame(f, fr, 0, wk[i], &m, ck[i], bad_vec);
		for (int t = (int)ntags - 1; t >= 0; t--) {
			memmove(fr + 16, fr + 12, n - 12);
			memcpy(fr + 12, tags[i][t], 4);
			n += 4;
		}
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "tagged and forged");
		/* A bad IP header checksum behind the tags. */
		m = bad_msg();
		n = chunk_frame(f, fr, 0, wk[i], &m, ck[i], bad_vec);
		fr[SGT_IP_OFF + 10] ^= 0x11;
		for (int t = (int)ntags - 1; t >= 0; t--) {
			memmove(fr + 16, fr + 12, n - 12);
			memcpy(fr + 12, tags[i][t], 4);
			n += 4;
		}
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "tagged, bad IP checksum");
		/* Valid: folded. */
		n = chunk_frame(f, fr, 0, wk[i], &m, ck[i], bad_vec);
		for (int t = (int)ntags - 1; t >= 0; t--) {
			memmove(fr + 16, fr + 12, n - 12);
			memcpy(fr + 12, tags[i][t], 4);
			n += 4;
		}
		assert_int_equal(run(f, fr, n), XDP_DROP);
		assert_int_equal(sgt_counters(f, 0).rx_accepted, 2 + i);
		assert_int_equal(sgt_slot(f, 0, BAD_COLL).progress[wk[i]], i == 2 ? 2 : 1);
	}
}

/* A datagram from worker 1's address must carry worker 1's authenticator for
 * this collective: another worker's, another collective's, a corrupted one
 * or none is dropped as forged and changes nothing. */
static void test_forged(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_wire_msg m;
	size_t n;

	arm_bad(f);
	m = bad_msg();
	m.auth = sgt_token(f, 0, 0, m.nonce, m.coll_id);	/* worker 0's */
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "another worker's token");
	m.auth = sgt_token(f, 0, 1, m.nonce ^ 1, m.coll_id);
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "another nonce's token");
	m.auth = sgt_token(f, 0, 1, m.nonce, m.coll_id + SG_SLOTS);
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "another collective's token");
	m.auth = sgt_token(f, 0, 1, m.nonce, m.coll_id) ^ 0x100;
	n = good_frame(f, fr, &m, 0);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "a corrupted token");
	m.auth = 0;
	n = good_frame(f, fr, &m, 0);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_AUTH, 0);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_AUTH + 4, 0);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_forged), "no token");
	/* The acknowledgement of an allgather result echoes the result's token:
	 * the ACK bit is not part of it. */
	assert_int_equal(sgt_token(f, 0, 1, m.nonce, m.coll_id | SG_COLL_ACK),
			 sgt_token(f, 0, 1, m.nonce, m.coll_id));
	/* A bad IP header checksum: dropped as malformed, not passed. */
	m.auth = 0;
	n = good_frame(f, fr, &m, 1);
	fr[SGT_IP_OFF + 10] ^= 0x11;
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "bad IP header checksum");
	/* Its own token goes through. */
	m.auth = sgt_token(f, 0, 1, m.nonce, m.coll_id);
	assert_int_equal(run(f, fr, good_frame(f, fr, &m, 1)), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, BAD_COLL).progress[1], 1);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2);
	assert_int_equal(sgt_counters(f, 0).rx_forged, 5);
}

/* Chunk fields that are inconsistent in themselves. */
static void test_malformed_chunking(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	arm_bad(f);
	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_CHUNK, 2);	/* == nchunks */
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk == nchunks");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_CHUNK, 7);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 5);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk > nchunks");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_CHUNK, SG_MAX_CHUNKS);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 0xffff);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk == SG_MAX_CHUNKS");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_CHUNK, 0xffff);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk 0xffff");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, SG_MAX_CHUNKS + 1);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "nchunks > SG_MAX_CHUNKS");

	/* Chunk 1 of a message that ends in chunk 0. */
	n = good_frame(f, fr, &m, 1);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_MSG_LEN, 1024);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk past msg_len");

	n = good_frame(f, fr, &m, 0);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_MSG_LEN, SG_MAX_MSG_BYTES + 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, SG_MAX_CHUNKS);
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "msg_len too large");

	/* Payload length disagreeing with msg_len: the full chunk 0 shortened,
	 * the last chunk lengthened and shortened (IP and UDP lengths agree with
	 * the frame). */
	n = good_frame(f, fr, &m, 0);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_LENF, 1000);
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN + 1000);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "short full chunk");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_LENF, 477);
	fr[SGT_PAYLOAD_OFF + 476] = 0x42;
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN + 477);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "last chunk too long");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_LENF, 475);
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN + 475);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "last chunk too short");

	n = good_frame(f, fr, &m, 0);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_LENF, SG_CHUNK_BYTES + 8);
	memset(fr + SGT_PAYLOAD_OFF + SG_CHUNK_BYTES, 0, 8);
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN + SG_CHUNK_BYTES + 8);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "chunk over SG_CHUNK_BYTES");

	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_LENF, 0);
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "zero-length payload");

	assert_int_equal(sgt_counters(f, 0).rx_malformed, 12);
}

/* nchunks must agree with msg_len, as sg_wire_decode() requires ("the kernel
 * programs validate the same rules", common/codec.h). */
static void test_malformed_nchunks(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_wire_hdr h;
	size_t n;

	arm_bad(f);
	n = good_frame(f, fr, &m, 1);
	sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 3);
	sgt_fix_csums(fr, n);
	assert_int_equal(sg_wire_decode(fr + SGT_SG_OFF, n - SGT_SG_OFF, &h), -EBADMSG);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "nchunks 3 for 2 chunks");
}

static void test_malformed_header(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	static const uint8_t types[] = { 0, SG_WIRE_SCATTER, SG_WIRE_BCAST, SG_WIRE_RESULT, 5, 255 };
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	arm_bad(f);
	n = good_frame(f, fr, &m, 1);
	fr[SGT_SG_OFF + SGT_HDR_MAGIC] ^= 0x20;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "bad magic");

	n = good_frame(f, fr, &m, 1);
	sgt_put32(fr, SGT_SG_OFF + SGT_HDR_MAGIC, 0x53474246);	/* byte-swapped */
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "byte-swapped magic");

	n = good_frame(f, fr, &m, 1);
	fr[SGT_SG_OFF + SGT_HDR_VERSION] = SG_WIRE_VERSION + 1;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "bad version");

	n = good_frame(f, fr, &m, 1);
	fr[SGT_SG_OFF + SGT_HDR_VERSION] = 0;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "version 0");

	for (size_t i = 0; i < sizeof(types); i++) {
		char what[32];

		snprintf(what, sizeof(what), "type %u", types[i]);
		n = good_frame(f, fr, &m, 1);
		fr[SGT_SG_OFF + SGT_HDR_TYPE] = types[i];
		sgt_fix_csums(fr, n);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), what);
	}
	assert_int_equal(sgt_counters(f, 0).rx_malformed, 4 + sizeof(types));
}

/* IP total length and UDP length disagreeing with the frame or each other. */
static void test_malformed_lengths(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;
	struct {
		const char *what;
		int dudp, dip;	/* added to the UDP length and IP total length */
	} cases[] = {
		{ "UDP length + 1", 1, 0 },
		{ "UDP length - 1", -1, 0 },
		{ "UDP length 8", 8 - (int)(SGT_UDP_LEN + SG_WIRE_HDR_LEN + 476), 0 },
		{ "IP total length + 1", 0, 1 },
		{ "IP total length - 1", 0, -1 },
		{ "both + 4", 4, 4 },		/* consistent, but beyond the frame */
		{ "both - 4", -4, -4 },		/* consistent, but hdr->len disagrees */
		{ "UDP length 0xffff", 0xffff - (int)(SGT_UDP_LEN + SG_WIRE_HDR_LEN + 476), 0 },
	};

	arm_bad(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t udp_len, ip_len;

		n = good_frame(f, fr, &m, 1);
		udp_len = (uint16_t)(fr[SGT_UDP_OFF + 4] << 8 | fr[SGT_UDP_OFF + 5]);
		ip_len = (uint16_t)(fr[SGT_IP_OFF + 2] << 8 | fr[SGT_IP_OFF + 3]);
		udp_len = (uint16_t)(udp_len + cases[i].dudp);
		ip_len = (uint16_t)(ip_len + cases[i].dip);
		fr[SGT_UDP_OFF + 4] = udp_len >> 8;
		fr[SGT_UDP_OFF + 5] = udp_len & 0xff;
		fr[SGT_IP_OFF + 2] = ip_len >> 8;
		fr[SGT_IP_OFF + 3] = ip_len & 0xff;
		sgt_fix_csums(fr, n);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), cases[i].what);
	}

	/* A first fragment (MF set) of an otherwise valid datagram. */
	n = good_frame(f, fr, &m, 1);
	fr[SGT_IP_OFF + 6] = 0x20;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "first fragment");

	/* Ethernet padding after a complete datagram is no defect. */
	n = good_frame(f, fr, &m, 1);
	memset(fr + n, 0, 6);
	assert_int_equal(run(f, fr, n + 6), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, BAD_COLL).progress[1], 1);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2);
	assert_int_equal(sgt_counters(f, 0).rx_malformed, sizeof(cases) / sizeof(cases[0]) + 1);
}

/* A valid frame cut short. Before the UDP header is complete the frame cannot
 * be told to be ours and is passed to the stack untouched (which drops it);
 * from there on it is addressed to a communicator and dropped as malformed. */
static void test_malformed_truncated(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX];
	size_t n, full, npass = 0, nmal = 0;
	const size_t pass_cuts[] = {
		SGT_ETH_LEN,			/* Ethernet header only */
		SGT_IP_OFF + 1,			/* mid-IP */
		SGT_IP_OFF + 12,
		SGT_UDP_OFF - 1,
		SGT_UDP_OFF,			/* IP header only */
		SGT_UDP_OFF + 2,		/* mid-UDP */
		SGT_SG_OFF - 1,
	};
	const size_t mal_cuts[] = {
		SGT_SG_OFF,			/* UDP header only */
		SGT_SG_OFF + 1,			/* mid-sgbpf header */
		SGT_SG_OFF + 4,
		SGT_SG_OFF + SGT_HDR_LENF + 1,
		SGT_PAYLOAD_OFF - 1,
		SGT_PAYLOAD_OFF,		/* header only */
		SGT_PAYLOAD_OFF + 1,		/* mid-payload */
		SGT_PAYLOAD_OFF + 100,
	};

	arm_bad(f);
	full = good_frame(f, fr, &m, 1);
	/* Shorter than an Ethernet header: test_run itself refuses it. */
	{
		uint32_t rv;

		assert_int_equal(sgt_run(gather_fd(f), fr, SGT_ETH_LEN - 1, NULL, NULL, &rv),
				 -EINVAL);
	}
	for (size_t i = 0; i < sizeof(pass_cuts) / sizeof(pass_cuts[0]); i++) {
		char what[48];

		n = good_frame(f, fr, &m, 1);
		snprintf(what, sizeof(what), "cut at %zu", pass_cuts[i]);
		expect_rejected(f, 0, fr, pass_cuts[i], XDP_PASS, -1, what);
		npass++;
	}
	for (size_t i = 0; i < sizeof(mal_cuts) / sizeof(mal_cuts[0]); i++) {
		char what[48];

		n = good_frame(f, fr, &m, 1);
		snprintf(what, sizeof(what), "cut at %zu", mal_cuts[i]);
		expect_rejected(f, 0, fr, mal_cuts[i], XDP_DROP, STAT(rx_malformed), what);
		nmal++;
	}
	/* Every cut of the last bytes of the payload too. */
	for (n = full - 8; n < full; n++) {
		good_frame(f, fr, &m, 1);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "cut near the end");
		nmal++;
	}
	/* Cut, with IP and UDP lengths matching the cut: hdr->len disagrees. */
	good_frame(f, fr, &m, 1);
	n = set_dgram_len(fr, SG_WIRE_HDR_LEN + 200);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "cut, lengths fixed");
	nmal++;
	assert_int_equal(sgt_counters(f, 0).rx_malformed, nmal);
	assert_int_equal(npass, 7);
}

/* ------------------------------------------------------------ not for us */

static void test_not_for_us(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX], dgram[SG_WIRE_HDR_LEN + 16];
	struct sgt_addr dst;
	size_t n;

	arm_bad(f);
	/* ARP */
	n = good_frame(f, fr, &m, 1);
	fr[12] = 0x08;
	fr[13] = 0x06;
	expect_rejected(f, 0, fr, 60, XDP_PASS, -1, "ARP");
	/* IPv6 ethertype */
	n = good_frame(f, fr, &m, 1);
	fr[12] = 0x86;
	fr[13] = 0xdd;
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "IPv6 ethertype");
	/* Three VLAN tags in front of the IP header: deeper than parsed (two),
	 * not ours. test_vlan() has the tags that are parsed. */
	n = good_frame(f, fr, &m, 1);
	for (int t = 0; t < 3; t++) {
		memmove(fr + 16, fr + 12, n - 12);
		fr[12] = 0x81;
		fr[13] = 0x00;
		fr[14] = 0x00;
		fr[15] = 0x05;
		n += 4;
	}
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "three VLAN tags");
	/* IP version 6 in an IPv4 ethertype. */
	n = good_frame(f, fr, &m, 1);
	fr[SGT_IP_OFF] = (uint8_t)(0x60 | (fr[SGT_IP_OFF] & 0xf));
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "IP version 6");
	/* TCP to the communicator's port (the same bytes, protocol 6). */
	sg_wire_encode(dgram, &m, 1);
	memset(dgram + SG_WIRE_HDR_LEN, 1, 16);
	n = sgt_build_ip(fr, &f->comms[0].workers[1], &f->comms[0].local, 6, dgram,
			 sizeof(dgram), false);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "TCP");
	/* ICMP */
	n = sgt_build_ip(fr, &f->comms[0].workers[1], &f->comms[0].local, 1, dgram,
			 sizeof(dgram), false);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "ICMP");
	/* UDP to another port of this host: a valid sgbpf response otherwise. */
	dst = f->comms[0].local;
	dst.port = htons(9999);
	n = sgt_build_frame(fr, &f->comms[0].workers[1], &dst, &m, 1, bad_vec + SG_CHUNK_BYTES);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "UDP to another port");
	/* UDP to the port but another local IP (the communicator is bound to
	 * one). */
	dst = f->comms[0].local;
	dst.ip = htonl(0x0ac80063);
	n = sgt_build_frame(fr, &f->comms[0].workers[1], &dst, &m, 1, bad_vec + SG_CHUNK_BYTES);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "UDP to another IP");
	/* A non-first fragment carries no UDP header. */
	n = good_frame(f, fr, &m, 1);
	fr[SGT_IP_OFF + 6] = 0x00;
	fr[SGT_IP_OFF + 7] = 0x10;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "non-first fragment");
	/* A broken IHL. */
	n = good_frame(f, fr, &m, 1);
	fr[SGT_IP_OFF] = 0x44;
	expect_rejected(f, 0, fr, n, XDP_PASS, -1, "IHL 4");
	assert_int_equal(sgt_counters(f, 0).rx_malformed, 0);
}

/* A valid response whose IP header has options: the UDP header is found
 * through the IHL. */
static void test_ip_options(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX + 8];
	size_t n;

	arm_bad(f);
	n = good_frame(f, fr, &m, 1);
	memmove(fr + SGT_UDP_OFF + 8, fr + SGT_UDP_OFF, n - SGT_UDP_OFF);
	memset(fr + SGT_UDP_OFF, 1, 8);		/* NOP options */
	fr[SGT_IP_OFF] = 0x47;
	fr[SGT_IP_OFF + 2] = (uint8_t)((n - SGT_IP_OFF + 8) >> 8);
	fr[SGT_IP_OFF + 3] = (uint8_t)(n - SGT_IP_OFF + 8);
	n += 8;
	sgt_fix_csums(fr, n);
	assert_int_equal(sgt_check_csums(fr, n, false), 0);
	assert_int_equal(run(f, fr, n), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, BAD_COLL).progress[1], 1);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2);
	assert_memory_equal(sgt_entry_acc(f, sgt_armed(f, 0, BAD_COLL)->base + 1),
			    bad_vec + SG_CHUNK_BYTES, BAD_COUNT - SG_CHUNK_BYTES);
}

/* ------------------------------------------------------- completion policies */

static void test_policy_wait_n(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(4, 0x4444, SG_INT64, SG_OP_SUM, 200);	/* 2 chunks */
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_slot s;
	struct vecs vs;
	size_t n;

	vecs_init(&vs, NWORKERS, SG_INT64, SG_OP_SUM, 200, 4);
	assert_int_equal(sgt_arm(f, 0, &m, 2), 0);
	assert_int_equal(send_chunk(f, 0, 0, &m, 0, vs.v[0]), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 2, &m, 1, vs.v[2]), XDP_DROP);
	/* Workers 0 and 2 are admitted; 1 is late whatever it sends. */
	n = chunk_frame(f, fr, 0, 1, &m, 0, vs.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "third worker, chunk 0");
	s = sgt_slot(f, 0, 4);
	assert_int_equal(s.nadmitted, 2);
	assert_int_equal(s.admitted[0], 0x5);
	assert_int_equal(send_chunk(f, 0, 0, &m, 1, vs.v[0]), XDP_DROP);
	n = chunk_frame(f, fr, 0, 1, &m, 1, vs.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "third worker, chunk 1");
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 0);
	expect_completion(f, 0, 4, -1, "WAIT_N before");
	assert_int_equal(send_chunk(f, 0, 2, &m, 0, vs.v[2]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 1);
	expect_event(f, 0, 0, 4, 2);
	expect_completion(f, 0, 4, 2, "WAIT_N");
	/* After completion, too. */
	n = chunk_frame(f, fr, 0, 1, &m, 0, vs.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "third worker after completion");

	s = sgt_slot(f, 0, 4);
	assert_int_equal(s.ndone, 2);
	assert_int_equal(s.complete, 1);
	assert_int_equal(s.done[0], 0x5);
	assert_int_equal(s.progress[1], 0);
	vecs_ref_subset(&vs, SG_INT64, SG_OP_SUM, 0x5);
	expect_result(f, 0, 4, vs.ref, vs.msg_len, "WAIT_N 2 of 3");
	assert_int_equal(sgt_counters(f, 0).rx_late, 3);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 4);
	assert_int_equal(sgt_counters(f, 0).completed, 1);
	vecs_free(&vs);
}

static void test_policy_any(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(6, 0x6666, SG_UINT16, SG_OP_MAX, 800);	/* 2 chunks */
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_slot s;
	struct vecs vs;
	size_t n;

	vecs_init(&vs, NWORKERS, SG_UINT16, SG_OP_MAX, 800, 6);
	assert_int_equal(sgt_arm(f, 0, &m, 1), 0);
	assert_int_equal(send_chunk(f, 0, 1, &m, 1, vs.v[1]), XDP_DROP);
	n = chunk_frame(f, fr, 0, 0, &m, 0, vs.v[0]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "second worker");
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 0);
	expect_completion(f, 0, 6, -1, "ANY before");
	assert_int_equal(send_chunk(f, 0, 1, &m, 0, vs.v[1]), XDP_DROP);
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 1);
	expect_event(f, 0, 0, 6, 1);
	expect_completion(f, 0, 6, 1, "ANY");
	n = chunk_frame(f, fr, 0, 2, &m, 1, vs.v[2]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "third worker after completion");
	s = sgt_slot(f, 0, 6);
	assert_int_equal(s.ndone, 1);
	assert_int_equal(s.done[0], 0x2);
	assert_int_equal(s.admitted[0], 0x2);
	expect_result(f, 0, 6, vs.v[1], vs.msg_len, "ANY");
	vecs_free(&vs);
}

/* ------------------------------------------------- after the deadline */

/* What a partial collect (sg_dp_result_partial(), the ebpf transport on
 * -ETIMEDOUT) gives for @coll_id: the done workers (word 0), the missing
 * chunks (word 0) and the result in @out (@len bytes, filled with 0xa5
 * first). */
static void partial(struct sgt_fixture *f, uint32_t coll_id, void *out, size_t len,
		    uint64_t *done, unsigned int *ndone, uint64_t *missing)
{
	struct sg_tp_reduce r = sgt_reduce(f, 0, coll_id);
	uint64_t d[SG_WORKER_WORDS], m[SG_MISSING_WORDS];

	memset(out, 0xa5, len);
	assert_int_equal(sg_dp_result_partial(&f->dp, 0, &r, out, d, ndone, m), 0);
	for (int i = 1; i < SG_WORKER_WORDS; i++)
		assert_int_equal(d[i], 0);
	for (unsigned int i = 1; i < SG_MISSING_WORDS; i++)
		assert_int_equal(m[i], 0);
	*done = d[0];
	*missing = m[0];
}

/* Three full chunks of uint32 and of 64-bit elements. */
#define U32_3CHUNKS (3 * SG_CHUNK_BYTES / 4)
#define U64_3CHUNKS (3 * SG_CHUNK_BYTES / 8)

/* Chunk @c of the uint32 result @res (SG_CHUNK_BYTES / 4 elements a chunk) is @want's. */
static void expect_chunk_of(const uint8_t *res, const uint8_t *want, unsigned int c,
			    const char *what)
{
	if (memcmp(res + c * SG_CHUNK_BYTES, want + c * SG_CHUNK_BYTES, SG_CHUNK_BYTES))
		fail_msg("%s: chunk %u is not what it should hold", what, c);
}

/* Another communicator's collective leaves its result in a pool run; then
 * collectives of communicator 0 over the same run pass their deadline with
 * some of their contributions in. */
static void test_partial_after_deadline(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg old = sgt_msg(7, 0x7777, SG_UINT32, SG_OP_SUM, U32_3CHUNKS);	/* 3 chunks */
	static uint8_t res[3 * SG_CHUNK_BYTES], zero[3 * SG_CHUNK_BYTES];
	uint64_t done, missing;
	uint8_t fr[SGT_FRAME_MAX];
	unsigned int ndone;
	struct vecs vo, v;
	struct sg_slot s;
	uint32_t base;
	size_t n;

	assert_int_equal(sgt_add_comm(f, 1, NWORKERS), 0);
	vecs_init(&vo, NWORKERS, SG_UINT32, SG_OP_SUM, U32_3CHUNKS, 70);
	vecs_init(&v, NWORKERS, SG_UINT32, SG_OP_SUM, U32_3CHUNKS, 71);
	assert_int_equal(sgt_arm(f, 1, &old, NWORKERS), 0);
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 3; c++)
			assert_int_equal(send_chunk(f, 1, w, &old, c, vo.v[w]), XDP_DROP);
	expect_result(f, 1, 7, vo.ref, vo.msg_len, "the other communicator's");
	base = sgt_armed(f, 1, 7)->base;
	sgt_release(f, 1, 7);

	/* Nobody done (worker 1 sent chunk 0 only): every chunk is missing
	 * and the identity, not the other communicator's result. */
	{
		struct sg_wire_msg m = sgt_msg(3, 0x3333, SG_UINT32, SG_OP_SUM, U32_3CHUNKS);

		assert_int_equal(sgt_arm_at(f, 0, &m, NWORKERS, base), 0);
		assert_int_equal(send_chunk(f, 0, 1, &m, 0, v.v[1]), XDP_DROP);
		partial(f, 3, res, sizeof(res), &done, &ndone, &missing);
		assert_int_equal(ndone, 0);
		assert_int_equal(done, 0);
		assert_int_equal(missing, 0x7);
		assert_memory_equal(res, zero, sizeof(res));
		/* Retired: inactive, and what still comes is stale and
		 * changes nothing. */
		s = sgt_slot(f, 0, 3);
		assert_int_equal(s.gen, sgt_armed(f, 0, 3)->gen);
		assert_int_equal(s.active, 0);
		n = chunk_frame(f, fr, 0, 0, &m, 1, v.v[0]);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "after retirement");
		sgt_release(f, 0, 3);
	}

	/* Worker 0 done, worker 1's chunk 0 in: chunks 1 and 2 are worker 0's
	 * exactly; chunk 0 holds worker 1's too, which the report cannot
	 * name, so it is missing. */
	{
		struct sg_wire_msg m = sgt_msg(4, 0x4444, SG_UINT32, SG_OP_SUM, U32_3CHUNKS);

		assert_int_equal(sgt_arm_at(f, 0, &m, NWORKERS, base), 0);
		for (unsigned int c = 0; c < 3; c++)
			assert_int_equal(send_chunk(f, 0, 0, &m, c, v.v[0]), XDP_DROP);
		assert_int_equal(send_chunk(f, 0, 1, &m, 0, v.v[1]), XDP_DROP);
		partial(f, 4, res, sizeof(res), &done, &ndone, &missing);
		assert_int_equal(ndone, 1);
		assert_int_equal(done, 0x1);
		assert_int_equal(missing, 0x1);
		expect_chunk_of(res, zero, 0, "worker 0 and part of worker 1");
		expect_chunk_of(res, v.v[0], 1, "worker 0 and part of worker 1");
		expect_chunk_of(res, v.v[0], 2, "worker 0 and part of worker 1");
		sgt_release(f, 0, 4);
	}

	/* Never armed (the request never passed sg_scatter): armed from its
	 * descriptor and retired at once, so a late request cannot arm it. */
	{
		struct sg_wire_msg m = sgt_msg(5, 0x5555, SG_UINT32, SG_OP_SUM, U32_3CHUNKS);

		assert_int_equal(sgt_post(f, 0, &m, NWORKERS), 0);
		partial(f, 5, res, sizeof(res), &done, &ndone, &missing);
		assert_int_equal(ndone, 0);
		assert_int_equal(missing, 0x7);
		s = sgt_slot(f, 0, 5);
		assert_int_equal(s.gen, sgt_armed(f, 0, 5)->gen);
		assert_int_equal(s.coll_id, 5);
		assert_int_equal(s.active, 0);
		n = chunk_frame(f, fr, 0, 0, &m, 0, v.v[0]);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "never armed");
		sgt_release(f, 0, 5);
	}
	vecs_free(&vo);
	vecs_free(&v);
}

/* Run the fold program of @op on a chunk the gather program admitted
 * (fc: what it hands over in fold_scratch), as a chunk does that was
 * admitted before a retirement and folds after it. */
static uint32_t fold_admitted(struct sgt_fixture *f, const struct sg_fold_ctx *fc, int prog_fd)
{
	size_t vsz = (sizeof(*fc) + 7) & ~(size_t)7;
	uint8_t *vals = calloc((size_t)f->dp.ncpus, vsz), fr[64] = { 0 };
	uint32_t zero = 0, rv = ~0u;

	assert_non_null(vals);
	for (int c = 0; c < f->dp.ncpus; c++)
		memcpy(vals + c * vsz, fc, sizeof(*fc));
	assert_int_equal(bpf_map__update_elem(f->dp.skel->maps.fold_scratch, &zero, sizeof(zero),
					      vals, (size_t)f->dp.ncpus * vsz, 0), 0);
	free(vals);
	assert_int_equal(sgt_run(prog_fd, fr, sizeof(fr), NULL, NULL, &rv), 0);
	return rv;
}

/* A chunk admitted before the retirement and folded after it: the second
 * retirement (sg_dp_result_partial() brackets its copy with two) no longer
 * finds it whole, so a copy that may have raced with the fold is not
 * taken; and the worker does not become done. */
static void test_partial_fold_in_flight(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(9, 0x9999, SG_UINT32, SG_OP_SUM, U32_3CHUNKS);
	static uint8_t res[3 * SG_CHUNK_BYTES], zero[3 * SG_CHUNK_BYTES];
	struct sg_partial first, second;
	struct sg_tp_reduce r;
	struct sg_fold_ctx fc;
	uint64_t done, missing;
	unsigned int ndone;
	struct vecs v;

	vecs_init(&v, NWORKERS, SG_UINT32, SG_OP_SUM, U32_3CHUNKS, 90);
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	r = sgt_reduce(f, 0, 9);
	for (unsigned int c = 0; c < 3; c++)
		assert_int_equal(send_chunk(f, 0, 0, &m, c, v.v[0]), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 1, &m, 0, v.v[1]), XDP_DROP);	/* admits 1 */

	assert_int_equal(sg_dp_retire(&f->dp, 0, &r, &first), 0);
	assert_int_equal(first.held, 1);
	assert_int_equal(first.nchunks, 3);
	assert_int_equal(first.ndone, 1);
	assert_int_equal(first.done[0], 0x1);
	assert_int_equal(first.whole[0], 0x6);

	fc = (struct sg_fold_ctx){
		.comm = 0,
		.slot = sgt_slot_key(0, 9),
		.chunk = 1,
		.entry = sgt_entry(f, 0, 9, 1),
		.worker = 1,
		.coll_id = 9,
		.gen = r.gen,
		.len = SG_CHUNK_BYTES,
		.dtype = SG_UINT32,
		.op = SG_OP_SUM,
	};
	memcpy(fc.data, v.v[1] + SG_CHUNK_BYTES, SG_CHUNK_BYTES);
	assert_int_equal(fold_admitted(f, &fc, bpf_program__fd(f->dp.skel->progs.sg_fold_sum)),
			 XDP_DROP);
	expect_chunk(f, 0, 9, 1, 0x3);
	assert_int_equal(sgt_slot(f, 0, 9).progress[1], 1);	/* not counted */

	assert_int_equal(sg_dp_retire(&f->dp, 0, &r, &second), 0);
	assert_int_equal(second.held, 1);
	assert_int_equal(second.ndone, 1);
	assert_int_equal(second.done[0], 0x1);
	assert_int_equal(second.whole[0], 0x4);

	partial(f, 9, res, sizeof(res), &done, &ndone, &missing);
	assert_int_equal(done, 0x1);
	assert_int_equal(missing, 0x3);
	expect_chunk_of(res, zero, 0, "fold in flight");
	expect_chunk_of(res, zero, 1, "fold in flight");
	expect_chunk_of(res, v.v[0], 2, "fold in flight");
	vecs_free(&v);
}

/* Float SUM after the deadline: the whole chunks decoded from mantissa and
 * exponent, a missing one +0.0; over a run whose accumulators and exponent
 * words another collective left non-zero. */
static void test_partial_float_sum(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg old = sgt_msg(11, 0xb0b0, SG_UINT64, SG_OP_BXOR, U64_3CHUNKS);	/* 3 chunks */
	struct sg_wire_msg m = sgt_msg(12, 0xc0c0, SG_FLOAT64, SG_OP_SUM, U64_3CHUNKS);
	double vec[NWORKERS][U64_3CHUNKS], res[U64_3CHUNKS];
	uint64_t done, missing;
	unsigned int ndone;
	struct vecs vo;

	vecs_init(&vo, NWORKERS, SG_UINT64, SG_OP_BXOR, U64_3CHUNKS, 110);
	assert_int_equal(sgt_arm(f, 0, &old, NWORKERS), 0);
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 3; c++)
			assert_int_equal(send_chunk(f, 0, w, &old, c, vo.v[w]), XDP_DROP);
	sgt_release(f, 0, 11);
	assert_int_equal(sgt_arm_at(f, 0, &m, NWORKERS, sgt_armed(f, 0, 11)->base), 0);
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (int i = 0; i < U64_3CHUNKS; i++)
			vec[w][i] = (i + 1) * 0.5 * (w + 1);
	for (unsigned int c = 0; c < 3; c++)
		assert_int_equal(send_chunk(f, 0, 2, &m, c, (const uint8_t *)vec[2]), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 0, &m, 2, (const uint8_t *)vec[0]), XDP_DROP);
	partial(f, 12, res, sizeof(res), &done, &ndone, &missing);
	assert_int_equal(done, 0x4);
	assert_int_equal(missing, 0x4);
	for (int i = 0; i < U64_3CHUNKS; i++) {
		double want = i < 2 * SG_CHUNK_BYTES / 8 ? vec[2][i] : 0.0;
		uint64_t a, b;

		memcpy(&a, &res[i], sizeof(a));
		memcpy(&b, &want, sizeof(b));
		if (a != b)
			fail_msg("element %d is %g, expected %g", i, res[i], want);
	}
	vecs_free(&vo);
}

/* The identity a missing chunk holds is the identity of the very fold code:
 * folding any value into it gives that value, for every datatype and
 * built-in op (float SUM, whose accumulators are mantissas, reads +0.0). */
static void test_partial_identity(void **state)
{
	uint64_t seed = 0x1de7;

	for (int dt = 0; dt < SG_DATATYPE_COUNT; dt++) {
		for (int op = 0; op < SG_OP_COUNT; op++) {
			unsigned int esz = dsize(dt), cb = sg_wire_response_chunk(dt);
			struct sg_tp_reduce r = { .dtype = dt, .op = op, .count = cb / esz,
						  .msg_len = cb, .nchunks = 1 };
			uint64_t acc[SG_CHUNK_BYTES / 8], x[SG_CHUNK_BYTES / 8];
			uint16_t aux[SG_FSUM_ELEMS] = { 0 };

			if (!sg_wire_op_valid(dt, op) || (op == SG_OP_SUM && sg_wire_dtype_fsum(dt)))
				continue;
			sg_result_identity(&r, 0, acc);
			fill_random((uint8_t *)x, cb / 8, 8, &seed);
			for (unsigned int i = 0; i < r.count && dt >= SG_INT32_LOC && dt <= SG_FLOAT64_LOC;
			     i++) {
				uint8_t *e = (uint8_t *)x + i * esz;

				if (dt == SG_INT64_LOC || dt == SG_FLOAT64_LOC)
					memset(e + 12, 0, 4);	/* pad */
				/* Pairs order NaNs beyond the infinities:
				 * finite values only (the exponent's top bit
				 * clear). */
				if (dt == SG_FLOAT32_LOC)
					e[3] &= 0xbf;
				if (dt == SG_FLOAT64_LOC)
					e[7] &= 0xbf;
			}
			sg_fold(acc, aux, x, cb, dt, op, 0);
			if (memcmp(acc, x, cb))
				fail_msg("datatype %d op %d: the identity is not neutral", dt, op);
		}
	}
}

/* ------------------------------------------------------ two communicators */

static void test_two_comms(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m0 = sgt_msg(1, 0xa0, SG_INT32, SG_OP_SUM, 500);
	struct sg_wire_msg m1 = sgt_msg(1, 0xa1, SG_INT32, SG_OP_SUM, 500);
	struct sgt_except ex;
	struct sgt_snapshot snap;
	struct vecs v0, v1;
	uint8_t fr[SGT_FRAME_MAX];
	size_t n;

	assert_int_equal(sgt_add_comm(f, 1, 2), 0);
	vecs_init(&v0, NWORKERS, SG_INT32, SG_OP_SUM, 500, 20);
	vecs_init(&v1, 2, SG_INT32, SG_OP_SUM, 500, 21);
	/* The same collective id in both: global slots 1 and 65, adjacent runs
	 * of the one pool. */
	assert_int_equal(sgt_arm(f, 0, &m0, NWORKERS), 0);
	assert_int_equal(sgt_arm(f, 1, &m1, 2), 0);
	assert_int_equal(sgt_armed(f, 1, 1)->base, sgt_armed(f, 0, 1)->base + 2);

	/* Communicator 0's traffic: everything but its own state unchanged,
	 * communicator 1's counters and the rest of the pool included (events
	 * excepted). */
	assert_int_equal(sgt_snapshot_take(f, &snap), 0);
	for (uint32_t w = 0; w < NWORKERS; w++)
		for (unsigned int c = 0; c < 2; c++)
			assert_int_equal(send_chunk(f, 0, w, &m0, c, v0.v[w]), XDP_DROP);
	sgt_poll_events(f);
	snap.nevents = f->nevents;
	memset(&ex, 0, sizeof(ex));
	sgt_except_comm(&ex, 0);
	assert_int_equal(sgt_snapshot_diff(f, &snap, &ex, true), 0);
	sgt_snapshot_free(&snap);
	assert_int_equal(f->nevents, 1);
	expect_event(f, 0, 0, 1, NWORKERS);
	expect_completion(f, 0, 1, NWORKERS, "communicator 0");
	expect_completion(f, 1, 1, -1, "communicator 1 before");

	assert_int_equal(sgt_snapshot_take(f, &snap), 0);
	for (uint32_t w = 0; w < 2; w++)
		for (unsigned int c = 0; c < 2; c++)
			assert_int_equal(send_chunk(f, 1, w, &m1, c, v1.v[w]), XDP_DROP);
	/* Communicator 1's nonce sent to communicator 0: no admission there. */
	n = sgt_build_frame(fr, &f->comms[1].workers[0], &f->comms[0].local, &m1, 0, v1.v[0]);
	assert_int_equal(run(f, fr, n), XDP_DROP);
	sgt_poll_events(f);
	snap.nevents = f->nevents;
	snap.stats[0].rx_unknown_src++;
	memset(&ex, 0, sizeof(ex));
	sgt_except_comm(&ex, 1);
	assert_int_equal(sgt_snapshot_diff(f, &snap, &ex, true), 0);
	sgt_snapshot_free(&snap);
	assert_int_equal(f->nevents, 2);
	expect_event(f, 1, 1, 1, 2);
	expect_completion(f, 1, 1, 2, "communicator 1");

	expect_result(f, 0, 1, v0.ref, v0.msg_len, "communicator 0");
	expect_result(f, 1, 1, v1.ref, v1.msg_len, "communicator 1");
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 2 * NWORKERS);
	assert_int_equal(sgt_counters(f, 1).rx_accepted, 4);
	assert_int_equal(sgt_counters(f, 1).completed, 1);
	vecs_free(&v0);
	vecs_free(&v1);
}

/* ----------------------------------------------------- completion word */

/* The completion word of a slot is written exactly when its collective meets
 * its policy: not before, not by another slot's completion, not by rejected
 * datagrams after it, and it keeps naming the last completed generation when
 * the slot is armed again, until the new collective completes. */
static void test_completion_word(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m10 = sgt_msg(10, 0x1010, SG_UINT8, SG_OP_SUM, 1500);	/* 2 chunks */
	struct sg_wire_msg m11 = sgt_msg(11, 0x1111, SG_UINT8, SG_OP_SUM, 100);
	struct sg_wire_msg m74 = sgt_msg(74, 0x7474, SG_UINT8, SG_OP_BOR, 1500);
	uint8_t fr[SGT_FRAME_MAX];
	struct sg_completion c;
	uint64_t gen10;
	struct vecs v10, v11, v74;
	size_t n;

	vecs_init(&v10, NWORKERS, SG_UINT8, SG_OP_SUM, 1500, 30);
	vecs_init(&v11, NWORKERS, SG_UINT8, SG_OP_SUM, 100, 31);
	vecs_init(&v74, NWORKERS, SG_UINT8, SG_OP_BOR, 1500, 32);
	for (uint32_t k = 0; k < SGT_TOTAL_SLOTS; k++) {
		c = sgt_completion(f, k / SG_SLOTS, k % SG_SLOTS);
		assert_int_equal(c.gen, 0);
		assert_int_equal(c.ndone, 0);
	}
	assert_int_equal(sgt_arm(f, 0, &m10, NWORKERS), 0);
	assert_int_equal(sgt_arm(f, 0, &m11, 1), 0);
	gen10 = sgt_armed(f, 0, 10)->gen;
	/* Slot 11 completes (ANY) first: slot 10's word does not move. */
	for (uint32_t w = 0; w < NWORKERS; w++) {
		assert_int_equal(send_chunk(f, 0, w, &m10, 0, v10.v[w]), XDP_DROP);
		expect_completion(f, 0, 10, -1, "coll 10, chunk 0");
	}
	assert_int_equal(send_chunk(f, 0, 2, &m11, 0, v11.v[2]), XDP_DROP);
	expect_completion(f, 0, 11, 1, "coll 11");
	c = sgt_completion(f, 0, 10);
	assert_int_equal(c.gen, 0);
	for (uint32_t w = 0; w < NWORKERS; w++) {
		expect_completion(f, 0, 10, -1, "coll 10, chunk 1");
		assert_int_equal(send_chunk(f, 0, w, &m10, 1, v10.v[w]), XDP_DROP);
	}
	expect_completion(f, 0, 10, NWORKERS, "coll 10");
	expect_completion(f, 0, 11, 1, "coll 11 after coll 10");
	/* A duplicate and a late worker after completion change nothing. */
	n = chunk_frame(f, fr, 0, 1, &m10, 1, v10.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_duplicate), "duplicate after completion");
	n = chunk_frame(f, fr, 0, 0, &m11, 0, v11.v[0]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "late after completion");

	/* Slot 10 armed again (coll 74, WAIT_N 2): the word keeps coll 10's
	 * generation until coll 74 completes. */
	sgt_release(f, 0, 10);
	assert_int_equal(sgt_arm(f, 0, &m74, 2), 0);
	assert_true(sgt_armed(f, 0, 74)->gen > gen10);
	for (unsigned int c2 = 0; c2 < 2; c2++) {
		assert_int_equal(send_chunk(f, 0, 2, &m74, c2, v74.v[2]), XDP_DROP);
		c = sgt_completion(f, 0, 74);
		assert_int_equal(c.gen, gen10);
		assert_int_equal(c.ndone, NWORKERS);
	}
	assert_int_equal(send_chunk(f, 0, 0, &m74, 1, v74.v[0]), XDP_DROP);
	expect_completion(f, 0, 74, -1, "coll 74, 1.5 workers");
	assert_int_equal(send_chunk(f, 0, 0, &m74, 0, v74.v[0]), XDP_DROP);
	expect_completion(f, 0, 74, 2, "coll 74");
	n = chunk_frame(f, fr, 0, 1, &m74, 0, v74.v[1]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "coll 74, third worker");
	vecs_ref_subset(&v74, SG_UINT8, SG_OP_BOR, 0x5);
	expect_result(f, 0, 74, v74.ref, v74.msg_len, "coll 74");
	sgt_poll_events(f);
	assert_int_equal(f->nevents, 3);
	expect_event(f, 0, 0, 11, 1);
	expect_event(f, 1, 0, 10, NWORKERS);
	expect_event(f, 2, 0, 74, 2);
	assert_int_equal(sgt_counters(f, 0).completed, 3);
	vecs_free(&v10);
	vecs_free(&v11);
	vecs_free(&v74);
}

/* Busy-polling communicators (SG_CFG_NO_EVENTS) get no ring buffer records,
 * but the completion word and the counters as always. */
static void test_no_events(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(20, 0x2020, SG_INT16, SG_OP_MAX, 1000);	/* 2 chunks */
	struct sg_wire_msg m2 = sgt_msg(21, 0x2121, SG_INT16, SG_OP_MAX, 1000);
	struct vecs vs;

	vecs_init(&vs, NWORKERS, SG_INT16, SG_OP_MAX, 1000, 40);
	assert_int_equal(sgt_set_flags(f, 0, SG_CFG_NO_EVENTS), 0);
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	for (unsigned int c = 0; c < 2; c++) {
		for (uint32_t w = 0; w < NWORKERS; w++) {
			expect_completion(f, 0, 20, -1, "NO_EVENTS, before");
			assert_int_equal(send_chunk(f, 0, w, &m, c, vs.v[w]), XDP_DROP);
		}
	}
	expect_completion(f, 0, 20, NWORKERS, "NO_EVENTS");
	assert_int_equal(sgt_slot(f, 0, 20).complete, 1);
	expect_result(f, 0, 20, vs.ref, vs.msg_len, "NO_EVENTS");
	assert_int_equal(sgt_poll_events(f), 0);
	assert_int_equal(f->nevents, 0);
	assert_int_equal(sgt_counters(f, 0).completed, 1);

	/* Events again without the flag (so the check above can fail). */
	assert_int_equal(sgt_set_flags(f, 0, 0), 0);
	assert_int_equal(sgt_arm(f, 0, &m2, NWORKERS), 0);
	for (unsigned int c = 0; c < 2; c++)
		for (uint32_t w = 0; w < NWORKERS; w++)
			assert_int_equal(send_chunk(f, 0, w, &m2, c, vs.v[w]), XDP_DROP);
	assert_int_equal(sgt_poll_events(f), 1);
	expect_event(f, 0, 0, 21, NWORKERS);
	expect_completion(f, 0, 21, NWORKERS, "events again");
	vecs_free(&vs);
}

/* SG_CFG_PASS: a folded response goes on to the stack (XDP_PASS, the frame
 * unchanged); what is not folded is still dropped. */
static void test_pass(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(30, 0x3030, SG_UINT32, SG_OP_SUM, 500);	/* 2 chunks */
	struct sg_wire_msg stale = sgt_msg(94, 0x3030, SG_UINT32, SG_OP_SUM, 500);
	static uint8_t out[4096];
	uint8_t fr[SGT_FRAME_MAX];
	struct vecs vs;
	size_t n;

	vecs_init(&vs, NWORKERS, SG_UINT32, SG_OP_SUM, 500, 50);
	assert_int_equal(sgt_set_flags(f, 0, SG_CFG_PASS | SG_CFG_NO_EVENTS), 0);
	assert_int_equal(sgt_arm(f, 0, &m, 2), 0);
	for (uint32_t w = 0; w < 2; w++) {
		for (unsigned int c = 0; c < 2; c++) {
			size_t out_len = sizeof(out);
			uint32_t rv = ~0u;

			n = chunk_frame(f, fr, 0, w, &m, c, vs.v[w]);
			assert_int_equal(sgt_run(gather_fd(f), fr, n, out, &out_len, &rv), 0);
			assert_int_equal(rv, XDP_PASS);
			assert_int_equal(out_len, n);
			assert_memory_equal(out, fr, n);
			assert_int_equal(sgt_slot(f, 0, 30).progress[w], c + 1);
		}
	}
	expect_completion(f, 0, 30, 2, "PASS");
	vecs_ref_subset(&vs, SG_UINT32, SG_OP_SUM, 0x3);
	expect_result(f, 0, 30, vs.ref, vs.msg_len, "PASS");
	/* Duplicate, late, stale, malformed, unknown source: dropped. */
	n = chunk_frame(f, fr, 0, 0, &m, 1, vs.v[0]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_duplicate), "PASS: duplicate");
	n = chunk_frame(f, fr, 0, 2, &m, 0, vs.v[2]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_late), "PASS: late");
	n = chunk_frame(f, fr, 0, 2, &stale, 0, vs.v[2]);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_stale), "PASS: stale");
	n = chunk_frame(f, fr, 0, 1, &m, 0, vs.v[1]);
	fr[SGT_SG_OFF + SGT_HDR_VERSION] = 0;
	sgt_fix_csums(fr, n);
	expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed), "PASS: malformed");
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 4);
	assert_int_equal(sgt_counters(f, 0).completed, 1);
	/* And PASS alone (with events). */
	assert_int_equal(sgt_set_flags(f, 0, SG_CFG_PASS), 0);
	stale.coll_id = 31;
	assert_int_equal(sgt_arm(f, 0, &stale, 1), 0);
	assert_int_equal(send_chunk(f, 0, 1, &stale, 0, vs.v[1]), XDP_PASS);
	assert_int_equal(send_chunk(f, 0, 1, &stale, 1, vs.v[1]), XDP_PASS);
	assert_int_equal(sgt_poll_events(f), 1);
	expect_event(f, 0, 0, 31, 1);
	/* And without: dropped. */
	assert_int_equal(sgt_set_flags(f, 0, 0), 0);
	stale.coll_id = 32;
	assert_int_equal(sgt_arm(f, 0, &stale, 1), 0);
	assert_int_equal(send_chunk(f, 0, 1, &stale, 0, vs.v[1]), XDP_DROP);
	vecs_free(&vs);
}

/* ------------------------------------------------------------- geometry */

static uint8_t any_valid_op(uint8_t dt)
{
	for (uint8_t op = 0; op < SG_OP_COUNT; op++)
		if (sg_wire_op_valid(dt, op))
			return op;
	return SG_OP_COUNT;
}

/* Every datatype's responses travel in chunks of sg_wire_response_chunk()
 * bytes (1024 for float32 and 512 for float16 and bfloat16, whose SUM
 * accumulators are 2 and 4 times as wide; 1408 for the others): the slot's
 * nchunks, the frames, and a whole collective of three chunks (the last one
 * partial) for each type. */
static void test_geometry(void **state)
{
	struct sgt_fixture *f = *state;
	uint8_t fr[SGT_FRAME_MAX];
	uint64_t seed = 60;

	for (uint8_t dt = 0; dt < SG_DATATYPE_COUNT; dt++) {
		uint32_t size = sg_wire_dtype_size(dt);
		uint32_t cb = dt == SG_FLOAT32 ? 1024 : dt == SG_FLOAT16 || dt == SG_BFLOAT16 ? 512 : 1408;
		uint32_t count = 3 * cb / size - 1, coll_id = 40 + dt;
		struct sg_wire_msg m = sgt_msg(coll_id, 0x6000 + dt, dt, any_valid_op(dt), count);
		uint8_t *vec = calloc(4, cb);
		const struct sgt_arming *a;
		struct sg_slot s;

		assert_non_null(vec);
		assert_true(m.op < SG_OP_COUNT);
		for (uint32_t i = 0; i < 4 * cb; i++)
			vec[i] = (uint8_t)sgt_rand64(&seed);
		assert_int_equal(sg_wire_response_chunk(dt), cb);
		assert_int_equal(sgt_chunk_bytes(&m), cb);
		assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
		a = sgt_armed(f, 0, coll_id);
		s = sgt_slot(f, 0, coll_id);
		assert_int_equal(s.nchunks, 3);
		assert_int_equal(a->nchunks, 3);
		assert_int_equal(s.msg_len, 3 * cb - size);
		assert_int_equal(s.chunk_base, a->base);
		for (unsigned int c = 0; c < 3; c++) {
			size_t len = chunk_frame(f, fr, 0, 0, &m, c, vec);

			assert_int_equal(len - SGT_PAYLOAD_OFF, c < 2 ? cb : cb - size);
			assert_int_equal(sgt_get16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS), 3);
		}
		for (uint32_t w = 0; w < NWORKERS; w++)
			for (unsigned int c = 0; c < 3; c++)
				if (send_chunk(f, 0, w, &m, c, vec) != XDP_DROP)
					fail_msg("dtype %u: worker %u chunk %u not dropped", dt, w, c);
		expect_completion(f, 0, coll_id, NWORKERS, "geometry");
		for (unsigned int c = 0; c < 3; c++)
			expect_chunk(f, 0, coll_id, c, (1u << NWORKERS) - 1);
		/* Every worker sent the same vector: an integer SUM is three times
		 * it, a pair type's MAXLOC it (equal values and indices); float SUM
		 * is test_bpf_floats.c's. */
		if (dt < NINT_TYPES || m.op == SG_OP_MAXLOC) {
			uint8_t *res = malloc(m.msg_len), *ref = malloc(m.msg_len);

			assert_non_null(res);
			assert_non_null(ref);
			memcpy(ref, vec, m.msg_len);
			if (dt < NINT_TYPES) {
				assert_int_equal(m.op, SG_OP_SUM);
				ref_fold(dt, SG_OP_SUM, ref, vec, count);
				ref_fold(dt, SG_OP_SUM, ref, vec, count);
			}
			sgt_copy_result(f, 0, coll_id, res);
			if (memcmp(res, ref, m.msg_len)) {
				free(res);
				free(ref);
				fail_msg("dtype %u: wrong result", dt);
			}
			free(res);
			free(ref);
		}
		free(vec);
	}
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 3 * NWORKERS * SG_DATATYPE_COUNT);
	assert_int_equal(sgt_counters(f, 0).rx_malformed, 0);
	assert_int_equal(sgt_counters(f, 0).completed, SG_DATATYPE_COUNT);
}

/* Responses in the wrong geometry for their type are malformed: a float32
 * response in 1408-byte chunks, a float64 one in 1024-byte chunks, and every
 * mix of the two rules in one header. */
static void test_geometry_malformed(void **state)
{
	struct sgt_fixture *f = *state;
	/* 600 float32 = 2400 bytes: chunks 1024, 1024, 352 (1408-byte: 1408, 992). */
	struct sg_wire_msg m32 = sgt_msg(50, 0x5050, SG_FLOAT32, SG_OP_SUM, 600);
	struct sg_wire_msg m32max = sgt_msg(52, 0x5252, SG_FLOAT32, SG_OP_MAX, 600);
	/* 300 float64 = 2400 bytes: chunks 1408, 992 (1024-byte: 1024, 1024, 352). */
	struct sg_wire_msg m64 = sgt_msg(51, 0x5151, SG_FLOAT64, SG_OP_SUM, 300);
	struct sg_wire_msg as;
	uint8_t fr[SGT_FRAME_MAX], vec[4096];
	unsigned int nmal = 0;
	size_t n;

	for (size_t i = 0; i < sizeof(vec); i++)
		vec[i] = (uint8_t)(i * 7 % 61);	/* small normal floats and doubles */
	assert_int_equal(sgt_arm(f, 0, &m32, NWORKERS), 0);
	assert_int_equal(sgt_arm(f, 0, &m32max, NWORKERS), 0);
	assert_int_equal(sgt_arm(f, 0, &m64, NWORKERS), 0);
	assert_int_equal(sgt_slot(f, 0, 50).nchunks, 3);
	assert_int_equal(sgt_slot(f, 0, 51).nchunks, 2);
	/* Some accepted state first. */
	assert_int_equal(send_chunk(f, 0, 0, &m32, 0, vec), XDP_DROP);
	assert_int_equal(send_chunk(f, 0, 0, &m64, 0, vec), XDP_DROP);

	for (int which = 0; which < 2; which++) {
		const struct sg_wire_msg *m = which ? &m32max : &m32;

		/* float32 with the int32 geometry: header and lengths consistent
		 * with 1408-byte chunks, dtype float32. */
		for (unsigned int c = 0; c < 2; c++) {
			as = *m;
			as.dtype = SG_INT32;
			n = sgt_build_frame(fr, &f->comms[0].workers[1], &f->comms[0].local, &as, c,
					    vec);
			assert_int_equal(n - SGT_PAYLOAD_OFF, c ? 992 : 1408);
			fr[SGT_SG_OFF + SGT_HDR_DTYPE] = SG_FLOAT32;
			sgt_fix_csums(fr, n);
			expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed),
					"float32 in 1408-byte chunks");
			nmal++;
		}
		/* The right nchunks (3) with a 1408-byte chunk 0. */
		as = *m;
		as.dtype = SG_INT32;
		n = sgt_build_frame(fr, &f->comms[0].workers[1], &f->comms[0].local, &as, 0, vec);
		fr[SGT_SG_OFF + SGT_HDR_DTYPE] = SG_FLOAT32;
		sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 3);
		sgt_fix_csums(fr, n);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed),
				"float32, nchunks 3, 1408 bytes");
		nmal++;
		/* The 1024-byte geometry but nchunks of the 1408-byte one. */
		n = chunk_frame(f, fr, 0, 1, m, 1, vec);
		sgt_put16(fr, SGT_SG_OFF + SGT_HDR_NCHUNKS, 2);
		sgt_fix_csums(fr, n);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed),
				"float32, nchunks 2, 1024 bytes");
		nmal++;
	}
	/* float64 in 1024-byte chunks. */
	for (unsigned int c = 0; c < 3; c++) {
		as = m64;
		as.dtype = SG_FLOAT32;
		as.msg_len = m64.msg_len;
		n = sgt_build_frame(fr, &f->comms[0].workers[1], &f->comms[0].local, &as, c, vec);
		fr[SGT_SG_OFF + SGT_HDR_DTYPE] = SG_FLOAT64;
		sgt_fix_csums(fr, n);
		expect_rejected(f, 0, fr, n, XDP_DROP, STAT(rx_malformed),
				"float64 in 1024-byte chunks");
		nmal++;
	}
	/* The right frames still go through. */
	for (unsigned int c = 0; c < 3; c++)
		assert_int_equal(send_chunk(f, 0, 1, &m32, c, vec), XDP_DROP);
	for (unsigned int c = 0; c < 2; c++)
		assert_int_equal(send_chunk(f, 0, 1, &m64, c, vec), XDP_DROP);
	assert_int_equal(sgt_slot(f, 0, 50).progress[1], 3);
	assert_int_equal(sgt_slot(f, 0, 51).progress[1], 2);
	assert_int_equal(sgt_counters(f, 0).rx_malformed, nmal);
	assert_int_equal(sgt_counters(f, 0).rx_accepted, 7);
}

/* The largest vectors of the types with the smallest response chunks: a
 * float32 segment of SG_MAX_MSG_BYTES (262144 elements) is 1024 chunks of
 * 1024 bytes, a float16 one 2048 of 512 (SG_MAX_RESPONSE_CHUNKS), more than
 * SG_MAX_CHUNKS (763, the chunks of a request): the chunks with an index past
 * it must complete like any other. */
static void check_large_vector(struct sgt_fixture *f, uint8_t dtype, uint32_t coll_id)
{
	const uint32_t size = sg_wire_dtype_size(dtype), count = SG_MAX_MSG_BYTES / size;
	struct sg_wire_msg m = sgt_msg(coll_id, 0x6060, dtype, SG_OP_MAX, count);
	uint8_t fr[SGT_FRAME_MAX], *vec = calloc(1, SG_MAX_MSG_BYTES);
	uint32_t nchunks = sgt_nchunks(&m), rejected = 0, first_bad = 0;
	struct sg_stats st0, st;

	assert_non_null(vec);
	for (uint32_t i = 0; i < count; i++) {
		float x = (float)i;

		if (size == 4)
			memcpy(vec + 4 * (size_t)i, &x, 4);
		else
			memcpy(vec + 2 * (size_t)i, &(uint16_t){ (uint16_t)(i * 7) }, 2);
	}
	assert_int_equal(nchunks, SG_MAX_MSG_BYTES / sg_wire_response_chunk(dtype));
	assert_true(nchunks > SG_MAX_CHUNKS && nchunks <= SG_MAX_RESPONSE_CHUNKS);
	assert_int_equal(sgt_arm(f, 0, &m, 1), 0);
	assert_int_equal(sgt_slot(f, 0, coll_id).nchunks, nchunks);
	st0 = sgt_counters(f, 0);
	for (uint32_t c = 0; c < nchunks; c++) {
		size_t n = chunk_frame(f, fr, 0, 0, &m, c, vec);
		uint64_t mal = sgt_counters(f, 0).rx_malformed;

		assert_int_equal(run(f, fr, n), XDP_DROP);
		if (sgt_counters(f, 0).rx_malformed != mal && !rejected++)
			first_bad = c;
	}
	st = sgt_counters(f, 0);
	if (rejected) {
		free(vec);
		fail_msg("datatype %u, %u elements (%u chunks): %u chunks from index %u rejected "
			 "as malformed", dtype, count, nchunks, rejected, first_bad);
	}
	assert_int_equal(st.rx_accepted - st0.rx_accepted, nchunks);
	expect_completion(f, 0, coll_id, 1, "a 1 MiB vector");
	{
		uint8_t *res = malloc(SG_MAX_MSG_BYTES);

		assert_non_null(res);
		sgt_copy_result(f, 0, coll_id, res);
		assert_memory_equal(res, vec, SG_MAX_MSG_BYTES);
		free(res);
	}
	sgt_release(f, 0, coll_id);
	free(vec);
}

static void test_large_vectors(void **state)
{
	check_large_vector(*state, SG_FLOAT32, 60);
	check_large_vector(*state, SG_FLOAT16, 61);
}

/* ------------------------------------------------------------------ spans */

/* Every worker sends its vector in datagrams of @span chunks, as on a jumbo
 * link (frames past a page reach the program in frags), the datagrams of all
 * workers in a shuffled order: each chunk is folded and counted as one, and
 * the result is exact. */
static void check_spans(struct sgt_fixture *f, uint8_t dtype, uint8_t op, uint32_t msg_len,
			uint32_t coll_id, unsigned int span, uint64_t seed)
{
	struct sg_wire_msg m = sgt_msg(coll_id, seed * 17 + 3, dtype, op, msg_len / dsize(dtype));
	uint32_t nchunks, ndg, *order;
	struct sg_stats st0 = sgt_counters(f, 0), st;
	uint8_t fr[SGT_FRAME_MAX];
	struct vecs vs;
	char what[64];

	snprintf(what, sizeof(what), "span %u, msg_len %u", span, msg_len);
	nchunks = sgt_nchunks(&m);
	ndg = (nchunks + span - 1) / span;
	vecs_init(&vs, NWORKERS, dtype, op, m.count, seed);
	if (dtype == SG_FLOAT32) {
		/* Finite non-negative floats, which MAX orders as their bits:
		 * the reference is uint32's. */
		for (uint32_t w = 0; w < NWORKERS; w++)
			for (uint32_t i = 0; i < m.count; i++)
				((uint32_t *)vs.v[w])[i] &= 0x3fffffffu;
		assert_int_equal(op, SG_OP_MAX);
		vecs_ref_subset(&vs, SG_UINT32, op, (1u << NWORKERS) - 1);
	}
	order = calloc((size_t)NWORKERS * ndg, sizeof(*order));
	assert_non_null(order);
	for (uint32_t i = 0; i < NWORKERS * ndg; i++)
		order[i] = i;
	for (uint32_t i = NWORKERS * ndg - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(sgt_rand64(&seed) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	m.span = (uint8_t)span;
	for (uint32_t i = 0; i < NWORKERS * ndg; i++) {
		uint32_t w = order[i] % NWORKERS, c = order[i] / NWORKERS * span;
		size_t n = chunk_frame(f, fr, 0, w, &m, c, vs.v[w]);

		if (run(f, fr, n) != XDP_DROP)
			fail_msg("%s: worker %u chunks from %u not dropped", what, w, c);
	}
	st = sgt_counters(f, 0);
	if (st.rx_accepted - st0.rx_accepted != NWORKERS * nchunks ||
	    st.completed - st0.completed != 1 ||
	    st.rx_malformed + st.rx_duplicate + st.rx_stale + st.rx_late !=
		    st0.rx_malformed + st0.rx_duplicate + st0.rx_stale + st0.rx_late)
		fail_msg("%s: accepted %llu of %u chunks, %llu completed", what,
			 (unsigned long long)(st.rx_accepted - st0.rx_accepted), NWORKERS * nchunks,
			 (unsigned long long)(st.completed - st0.completed));
	expect_completion(f, 0, coll_id, NWORKERS, what);
	expect_result(f, 0, coll_id, vs.ref, msg_len, what);
	for (uint32_t c = 0; c < nchunks; c++)
		expect_chunk(f, 0, coll_id, c, (1u << NWORKERS) - 1);
	free(order);
	vecs_free(&vs);
}

static void test_spans(void **state)
{
	struct sgt_fixture *f = *state;

	/* 6 chunks of 1408 (8448 bytes: past a page, in frags) with the last
	 * datagram shorter; 8 of float32's 1024 bytes; 8 of 1408 (past a 9000
	 * MTU, within the wire's limit); 2; and spans longer than the rest. */
	check_spans(f, SG_INT32, SG_OP_SUM, 100000, 1, 6, 201);
	check_spans(f, SG_FLOAT32, SG_OP_MAX, 64 * 1024 + 4, 2, 8, 202);
	check_spans(f, SG_INT16, SG_OP_MAX, 33 * 1024, 3, 8, 203);
	check_spans(f, SG_UINT64, SG_OP_PROD, 20000, 4, 2, 204);
	check_spans(f, SG_UINT8, SG_OP_BXOR, 3 * 1408 - 1, 5, 6, 205);
	check_spans(f, SG_INT8, SG_OP_MIN, 7 * 1408, 6, 3, 206);
}

/* Run @fr (@n bytes) of worker 0 for collective @coll_id: dropped, with
 * @accepted chunks folded and @dup counted duplicates, the worker's progress
 * then @progress. */
static void expect_span(struct sgt_fixture *f, const uint8_t *fr, size_t n, uint32_t coll_id,
			uint64_t accepted, uint64_t dup, uint32_t progress)
{
	struct sg_stats st0 = sgt_counters(f, 0), st;

	assert_int_equal(run(f, fr, n), XDP_DROP);
	st = sgt_counters(f, 0);
	assert_int_equal(st.rx_accepted - st0.rx_accepted, accepted);
	assert_int_equal(st.rx_duplicate - st0.rx_duplicate, dup);
	assert_int_equal(sgt_slot(f, 0, coll_id).progress[0], progress);
}

/* A span over chunks some already folded folds only the others, each
 * counted; a span cut short folds none. */
static void test_span_overlap(void **state)
{
	struct sgt_fixture *f = *state;
	struct sg_wire_msg m = sgt_msg(9, 0x9999, SG_INT32, SG_OP_SUM, 4 * 1408 / 4);
	uint8_t fr[SGT_FRAME_MAX];
	struct vecs vs;
	size_t n;

	vecs_init(&vs, NWORKERS, SG_INT32, SG_OP_SUM, m.count, 9);
	assert_int_equal(sgt_arm(f, 0, &m, NWORKERS), 0);
	assert_int_equal(send_chunk(f, 0, 0, &m, 1, vs.v[0]), XDP_DROP);
	m.span = 3;
	n = chunk_frame(f, fr, 0, 0, &m, 0, vs.v[0]);	/* chunks 0, 1, 2 */
	expect_span(f, fr, n, 9, 2, 1, 3);
	/* Chunks 1..3 in a frame cut by a byte: malformed, nothing folded. */
	n = chunk_frame(f, fr, 0, 0, &m, 1, vs.v[0]);
	expect_rejected(f, 0, fr, n - 1, XDP_DROP, STAT(rx_malformed), "span cut short");
	assert_int_equal(sgt_slot(f, 0, 9).progress[0], 3);
	/* Whole, it folds chunk 3 only, which completes the worker. */
	expect_span(f, fr, n, 9, 1, 2, 4);
	assert_int_equal(sgt_slot(f, 0, 9).done[0] & 1, 1);
	vecs_free(&vs);
}

/* ---------------------------------------------------------------- helpers */

/* The frame helpers themselves: what they build passes the checks, and the
 * checks catch single-bit errors. */
static void test_frame_helpers(void **state)
{
	struct sgt_addr a = sgt_worker_addr(0, 3), b = sgt_local_addr(0);
	struct sg_wire_msg m = bad_msg();
	uint8_t fr[SGT_FRAME_MAX], pl[SG_CHUNK_BYTES] = { 0 };
	size_t n = sgt_build_frame(fr, &a, &b, &m, 1, pl);

	assert_int_equal(n, SGT_PAYLOAD_OFF + BAD_COUNT - SG_CHUNK_BYTES);
	assert_int_equal(sgt_check_csums(fr, n, false), 0);
	fr[SGT_PAYLOAD_OFF + 3] ^= 1;
	assert_int_equal(sgt_check_csums(fr, n, false), -3);
	sgt_fix_csums(fr, n);
	assert_int_equal(sgt_check_csums(fr, n, false), 0);
	fr[SGT_IP_OFF + 8] ^= 1;
	assert_int_equal(sgt_check_csums(fr, n, false), -2);
	n = sgt_build_ip(fr, &a, &b, 17, pl, 11, false);
	assert_int_equal(sgt_check_csums(fr, n, false), -4);
	assert_int_equal(sgt_check_csums(fr, n, true), 0);
	assert_int_equal(sgt_get32(fr + SGT_SG_OFF - SGT_UDP_LEN, 0) & 0xffff, htons(7003));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_helpers),
		cmocka_unit_test(test_reference_fold),
		cmocka_unit_test_setup_teardown(test_op_sum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_prod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_min, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_band, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_bor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_bxor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_1024, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_1025, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_2048, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_64k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_pool_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks_adjacent_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_src, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_coll_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_reset_by_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_after_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_vs_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chunking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_nchunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_for_us, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ip_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_wait_n, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_any, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_after_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_fold_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_float_sum, setup, teardown),
		cmocka_unit_test(test_partial_identity),
		cmocka_unit_test_setup_teardown(test_two_comms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_completion_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_geometry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_geometry_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_vectors, setup, teardown),
	};

	int rc;

	if (sgt_should_skip())
		return SGT_EXIT_SKIP;
	sgt_test_filter();
	rc = cmocka_run_group_tests_name("bpf_gather", tests, NULL, NULL);
	sgt_shared_close();
	return rc;
}
