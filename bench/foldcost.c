// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * foldcost: what the gather datapath costs per byte of payload, per datatype.
 *
 * What is measured: the kernel's own duration (bpf_prog_test_run_opts(),
 * opts.duration) of the XDP program sg_gather on a worker's contribution
 * frame, which covers everything a received chunk costs in XDP: parsing,
 * the source lookup, the authenticator (SipHash), admission under the slot
 * lock, the payload copy to per-CPU scratch, the tail call to the op's fold
 * program, the chunk claim and the element-wise fold under the chunk lock,
 * and sg_gather_finish (verdict counter, worker progress, completion). The
 * object is loaded but not attached, as tests/bpf_frames.c's fixture does
 * (the transport's transport/datapath.h), with one communicator of 1024
 * workers.
 *
 * Each case is measured twice: on one-chunk collectives whose chunk is full
 * (sg_wire_response_chunk() bytes: 1408, or 1024 for float32 and 512
 * for float16 and bfloat16) and on
 * collectives of one element. The difference is what the extra payload
 * costs (its copy and its fold), divided by the extra bytes: ns/byte.
 *
 * Every measured run folds. A frame run again on the same slot is a
 * duplicate (the chunk's bitmap of workers) and is dropped before the fold,
 * so .repeat > 1 would time the first fold and N - 1 duplicates. Instead
 * each of the 1024 workers' frames runs once (.repeat = 1, the kernel's
 * duration of that one run), and in the next batch the collective is armed
 * again with a newer generation (the chunk is reset by its first frame) and
 * the frames run again. The counters must show exactly one accepted fold per
 * run and one completion per collective and batch, or the program fails.
 * The same frames run once more after their batch (duplicates: everything
 * but the fold and the progress count) and, one of them, with .repeat =
 * 100000 ("dup/rep"), for reference.
 *
 * The machine it was written on is shared and noisy, so in each batch the
 * frames of every case's two collectives run in turn, [group] (64) frames
 * of one collective in a row: a burst of one datatype, as a gather is, yet
 * close enough in time that all cases see the same machine. A batch gives
 * each case the median (or [percentile]) of its runs; the payload's cost is
 * the median over batches of the paired differences full - one, and the
 * ratio to int32 SUM per byte the median of the paired ratios. Each figure
 * is taken in 3 rounds and the median round is printed (the 3 in []).
 *
 * Payload: int32/int64 random bits, float values uniform in [-1, 1) (as
 * gradients are; their exponents vary from element to element), different
 * for every worker.
 *
 * Usage: foldcost [batches [group [percentile]]]   (defaults 16 64 50)
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN); exits 77 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "common/floatbits.h"
#include "sgbpf.skel.h"
#include "tests/bpf_frames.h"

#define NWORKERS	1024
#define ROUNDS		3
#define DUP_REPEAT	100000

struct fcase {
	const char *name;
	uint8_t dtype;
	uint8_t op;
};

static const struct fcase cases[] = {
	{ "int32 SUM", SG_INT32, SG_OP_SUM },
	{ "int64 SUM", SG_INT64, SG_OP_SUM },
	{ "float32 SUM", SG_FLOAT32, SG_OP_SUM },
	{ "float64 SUM", SG_FLOAT64, SG_OP_SUM },
	{ "float32 MAX", SG_FLOAT32, SG_OP_MAX },
	{ "float16 SUM", SG_FLOAT16, SG_OP_SUM },
	{ "bfloat16 SUM", SG_BFLOAT16, SG_OP_SUM },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Each round's medians of one case (ns per run): full chunk, one element,
 * duplicates (one run per frame, and .repeat = DUP_REPEAT), the paired
 * difference full - one, and the paired ratio to int32 SUM per byte. */
struct fresult {
	double full[ROUNDS], one[ROUNDS], dup[ROUNDS], duprep[ROUNDS], payload[ROUNDS];
	double ratio[ROUNDS];	/* per byte, to int32 SUM */
};

static int gather_fd;
static unsigned int batches = 16;
static unsigned int group = 64;	/* frames of one collective in a row */
static unsigned int pct = 50;	/* the percentile of a batch's runs */

static void die(const char *what, int err)
{
	fprintf(stderr, "foldcost: %s: %s\n", what, err ? strerror(err < 0 ? -err : err) : "failed");
	exit(1);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The @pct-th percentile of @v. */
static double pctile_u32(uint32_t *v, size_t n, unsigned int pct)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	return v[(n - 1) * pct / 100];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median3(const double *v)
{
	double s[ROUNDS];

	memcpy(s, v, sizeof(s));
	qsort(s, ROUNDS, sizeof(s[0]), cmp_double);
	return s[ROUNDS / 2];
}

/* The @count elements worker @w contributes, as wire bytes. */
static void fill_payload(uint8_t *p, const struct fcase *c, uint32_t count, uint32_t w)
{
	uint64_t s = 0x666f6c64ULL * (w + 1) + c->dtype;

	for (uint32_t i = 0; i < count; i++) {
		uint64_t r = sgt_rand64(&s);
		double u = (double)(r >> 11) * 0x1p-52 - 1.0;	/* [-1, 1) */

		if (c->dtype == SG_FLOAT32) {
			float x = (float)u;

			memcpy(p + 4 * i, &x, 4);
		} else if (c->dtype == SG_FLOAT64) {
			memcpy(p + 8 * i, &u, 8);
		} else if (c->dtype == SG_FLOAT16 || c->dtype == SG_BFLOAT16) {
			uint16_t h = (uint16_t)sg_float_round_bits(u, c->dtype);

			memcpy(p + 2 * i, &h, 2);
		} else {
			memcpy(p + sg_wire_dtype_size(c->dtype) * i, &r,
			       sg_wire_dtype_size(c->dtype));
		}
	}
}

/* One test run of @frame, @repeat times; the kernel's ns per run. Every run
 * of a contribution ends in XDP_DROP, folded or not. */
static uint32_t run(const uint8_t *frame, size_t len, int repeat)
{
	static uint8_t out[SGT_FRAME_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = (uint32_t)len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = repeat,
	);
	int err = bpf_prog_test_run_opts(gather_fd, &opts);

	if (err)
		die("bpf_prog_test_run_opts", err);
	if (opts.retval != XDP_DROP) {
		fprintf(stderr, "foldcost: sg_gather returned %u, not XDP_DROP\n", opts.retval);
		exit(1);
	}
	return opts.duration;
}

/* Counter deltas a measurement must show, or the runs did not do what they
 * are said to measure. */
static void expect(struct sgt_fixture *f, const struct sg_stats *before, const char *what,
		   uint64_t accepted, uint64_t duplicate, uint64_t completed)
{
	struct sg_stats now;
	int err = sgt_stats(f, 0, &now);

	if (err)
		die("reading the counters", err);
	if (now.rx_accepted - before->rx_accepted != accepted ||
	    now.rx_duplicate - before->rx_duplicate != duplicate ||
	    now.completed - before->completed != completed ||
	    now.rx_stale != before->rx_stale || now.rx_late != before->rx_late ||
	    now.rx_malformed != before->rx_malformed || now.rx_forged != before->rx_forged ||
	    now.rx_unknown_src != before->rx_unknown_src) {
		fprintf(stderr,
			"foldcost: %s: the counters show the runs did not fold as intended:\n"
			"  accepted %llu (want %llu), duplicate %llu (want %llu), completed %llu (want %llu),\n"
			"  stale %llu, late %llu, malformed %llu, forged %llu, unknown source %llu\n",
			what, (unsigned long long)(now.rx_accepted - before->rx_accepted),
			(unsigned long long)accepted,
			(unsigned long long)(now.rx_duplicate - before->rx_duplicate),
			(unsigned long long)duplicate,
			(unsigned long long)(now.completed - before->completed),
			(unsigned long long)completed,
			(unsigned long long)(now.rx_stale - before->rx_stale),
			(unsigned long long)(now.rx_late - before->rx_late),
			(unsigned long long)(now.rx_malformed - before->rx_malformed),
			(unsigned long long)(now.rx_forged - before->rx_forged),
			(unsigned long long)(now.rx_unknown_src - before->rx_unknown_src));
		exit(1);
	}
}

/* The frames of every worker for one collective of communicator 0. */
struct variant {
	struct sg_wire_msg m;
	uint8_t frames[NWORKERS][SGT_FRAME_MAX];
	size_t lens[NWORKERS];
};

static void build(struct variant *v, const struct fcase *c, uint32_t count, uint32_t coll_id)
{
	uint8_t payload[SG_CHUNK_BYTES];

	v->m = sgt_msg(coll_id, 0x6e6f6e6365ULL + coll_id, c->dtype, c->op, count);
	if (sgt_nchunks(&v->m) != 1)
		die("a case of more than one chunk", EINVAL);
	for (uint32_t w = 0; w < NWORKERS; w++) {
		struct sgt_addr src = sgt_worker_addr(0, w), dst = sgt_local_addr(0);

		fill_payload(payload, c, count, w);
		v->lens[w] = sgt_build_frame(v->frames[w], &src, &dst, &v->m, 0, payload);
	}
}

static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Payload bytes of a full chunk of case @c beyond the one element. */
static unsigned int extra_bytes(const struct fcase *c)
{
	return sg_wire_response_chunk(c->dtype) - sg_wire_dtype_size(c->dtype);
}

/* One round: in each batch every case's collectives (a full chunk, one
 * element) are armed with a newer generation, so that every worker's frame
 * folds again, and their frames are run in turn, @group workers of a
 * collective at a time: a burst of one datatype, as a gather is, with
 * caches and branch predictors warm, yet close enough in time that all see
 * the same machine (it is shared and noisy). Then all again, duplicates
 * now. The payload's cost is the median of the paired
 * differences full - one, and each case's ratio to int32 SUM per byte the
 * median of the paired ratios. */
static void round_all(struct sgt_fixture *f, uint32_t coll_id, struct fresult *res, int round)
{
	static struct variant full[NCASES], one[NCASES];
	static uint32_t tf[NCASES][NWORKERS], to[NCASES][NWORKERS], td[NCASES][NWORKERS];
	double *v[NCASES][5];	/* per batch: full, one, dup, payload, ratio */
	struct sg_stats before;
	int err;

	for (size_t i = 0; i < NCASES; i++) {
		const struct fcase *c = &cases[i];

		build(&full[i], c, sg_wire_response_chunk(c->dtype) / sg_wire_dtype_size(c->dtype),
		      coll_id + 2 * (uint32_t)i);
		build(&one[i], c, 1, coll_id + 2 * (uint32_t)i + 1);
		for (int k = 0; k < 5; k++)
			if (!(v[i][k] = calloc(batches, sizeof(double))))
				die("out of memory", ENOMEM);
	}
	err = sgt_stats(f, 0, &before);
	if (err)
		die("reading the counters", err);
	for (unsigned int b = 0; b < batches; b++) {
		for (size_t i = 0; i < NCASES; i++)
			if ((err = sgt_arm(f, 0, &full[i].m, NWORKERS)) ||
			    (err = sgt_arm(f, 0, &one[i].m, NWORKERS)))
				die("arming a collective", err);
		for (uint32_t g = 0; g < NWORKERS; g += group) {
			for (size_t i = 0; i < NCASES; i++) {
				for (uint32_t w = g; w < g + group; w++)
					tf[i][w] = run(full[i].frames[w], full[i].lens[w], 1);
				for (uint32_t w = g; w < g + group; w++)
					to[i][w] = run(one[i].frames[w], one[i].lens[w], 1);
			}
		}
		for (uint32_t g = 0; g < NWORKERS; g += group)
			for (size_t i = 0; i < NCASES; i++)
				for (uint32_t w = g; w < g + group; w++)
					td[i][w] = run(full[i].frames[w], full[i].lens[w], 1);
		for (size_t i = 0; i < NCASES; i++) {
			v[i][0][b] = pctile_u32(tf[i], NWORKERS, pct);
			v[i][1][b] = pctile_u32(to[i], NWORKERS, pct);
			v[i][2][b] = pctile_u32(td[i], NWORKERS, pct);
			v[i][3][b] = v[i][0][b] - v[i][1][b];
			/* before the runs are released: after that, another
			 * collective's first chunk makes these frames stale */
			if (b + 1 == batches)
				res[i].duprep[round] = run(full[i].frames[0], full[i].lens[0],
							   DUP_REPEAT);
			sgt_release(f, 0, full[i].m.coll_id);
			sgt_release(f, 0, one[i].m.coll_id);
		}
		for (size_t i = 0; i < NCASES; i++)
			v[i][4][b] = (v[i][3][b] / extra_bytes(&cases[i])) /
				     (v[0][3][b] / extra_bytes(&cases[0]));
		sgt_poll_events(f);
	}
	/* Per batch and case: every frame of both collectives folded once,
	 * each collective completed, the full one's frames again duplicates;
	 * and the last batch's repeated duplicate. */
	expect(f, &before, "a round", 2ULL * NCASES * batches * NWORKERS,
	       (uint64_t)NCASES * (batches * NWORKERS + DUP_REPEAT), 2ULL * NCASES * batches);
	for (size_t i = 0; i < NCASES; i++) {
		res[i].full[round] = median_d(v[i][0], batches);
		res[i].one[round] = median_d(v[i][1], batches);
		res[i].dup[round] = median_d(v[i][2], batches);
		res[i].payload[round] = median_d(v[i][3], batches);
		res[i].ratio[round] = median_d(v[i][4], batches);
		for (int k = 0; k < 5; k++)
			free(v[i][k]);
	}
}

int main(int argc, char **argv)
{
	static struct fresult res[NCASES];
	struct sgt_fixture *f;
	char reason[256];
	struct utsname u;
	uint32_t coll_id = 1;
	int err;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: %s [batches [group]]   (as root; batches of %u frames per case,\n"
		       "default %u; group: frames of one collective in a row, a power of 2 <= %u,\n"
		       "default %u)\n", argv[0], NWORKERS, batches, NWORKERS, group);
		return 0;
	}
	if (argc > 1)
		batches = (unsigned int)strtoul(argv[1], NULL, 0);
	if (batches == 0)
		batches = 1;
	if (argc > 2)
		group = (unsigned int)strtoul(argv[2], NULL, 0);
	if (group == 0 || group > NWORKERS || NWORKERS % group)
		die("group must divide the workers", EINVAL);
	if (argc > 3)
		pct = (unsigned int)strtoul(argv[3], NULL, 0);
	if (pct > 100)
		die("a percentile is at most 100", EINVAL);
	if (sgt_should_skip())
		return SGT_EXIT_SKIP;
	f = calloc(1, sizeof(*f));
	if (!f)
		die("out of memory", ENOMEM);
	err = sgt_fixture_open(f, reason, sizeof(reason));
	if (err) {
		fprintf(stderr, "foldcost: loading the datapath: %s\n", reason);
		return 1;
	}
	err = sgt_add_comm(f, 0, NWORKERS);
	if (err)
		die("installing the communicator", err);
	gather_fd = bpf_program__fd(f->dp.skel->progs.sg_gather);

	for (int r = 0; r < ROUNDS; r++) {
		round_all(f, coll_id, res, r);
		coll_id += 2 * NCASES;
	}

	uname(&u);
	printf("# foldcost: sg_gather + fold + finish under BPF_PROG_TEST_RUN, kernel %s\n",
	       u.release);
	printf("# %u workers x %u batches per case, %u frames in a row, median of %d rounds\n"
	       "# (ns per run; the rounds in [])\n", NWORKERS, batches, group, ROUNDS);
	printf("# full, 1 elem: ns per folding run, chunk of <bytes> / one element; dup: the\n"
	       "# full frames again (dropped before the fold), dup/rep: one with .repeat;\n"
	       "# payload = full - 1 elem, ns/byte = payload / (bytes - one element)\n");
	printf("%-12s %5s %8s %8s %8s %9s %8s %8s   %s\n", "case", "bytes", "full", "1 elem",
	       "dup", "dup/rep", "payload", "ns/byte", "payload per round");
	for (size_t i = 0; i < NCASES; i++) {
		const struct fcase *c = &cases[i];
		unsigned int bytes = sg_wire_response_chunk(c->dtype);
		double pay = median3(res[i].payload);

		printf("%-12s %5u %8.1f %8.1f %8.1f %9.1f %8.1f %8.3f   [%.0f %.0f %.0f]\n",
		       c->name, bytes, median3(res[i].full), median3(res[i].one),
		       median3(res[i].dup), median3(res[i].duprep), pay, pay / extra_bytes(c),
		       res[i].payload[0], res[i].payload[1], res[i].payload[2]);
	}
	for (size_t i = 1; i < NCASES; i++)
		printf("ratio %s / int32 SUM per byte: %.2f   [%.2f %.2f %.2f]\n", cases[i].name,
		       median3(res[i].ratio), res[i].ratio[0], res[i].ratio[1], res[i].ratio[2]);
	sgt_fixture_close(f);
	free(f);
	return 0;
}
