/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the parts of the test workers share and the tests do not use: the
 * pseudo-random streams every value comes from, little-endian stores, the
 * datatypes' widths, and the layout of the shared records that the server
 * writes and the parent reads. One definition each, for contrib.c,
 * fpattern.c, pairs.c, shared.c and serve.c.
 */
#ifndef SGBPF_LAB_TW_INTERNAL_H
#define SGBPF_LAB_TW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/floatbits.h"
#include "tests/lab/testworker.h"

#define GOLDEN		0x9e3779b97f4a7c15ULL
#define NKINDS		3

/* ------------------------------------------------------------------ values */

/* Bytes of an element; the integer types' widths come first (contrib.c). */
extern const unsigned char tw_dt_width[SG_DATATYPE_COUNT];

static inline int dt_integer(enum sg_datatype dt)
{
	return (unsigned int)dt <= SG_UINT64;
}

/* The splitmix64 output function. */
static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Successive words of a splitmix64 stream. */
static inline uint64_t next(uint64_t *state)
{
	*state += GOLDEN;
	return mix64(*state);
}

static inline void store_le(unsigned char *p, uint64_t v, unsigned int width)
{
	for (unsigned int i = 0; i < width; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* ------------------------------------------------------------ floats, pairs */

/* Stream salts: what a stream is for, so that no two coincide. */
#define SALT_RANK	0x10000000u	/* one rank's value */
#define SALT_ELEM	0x20000000u	/* shared by the ranks of an element */
#define SALT_PAIR	0x30000000u	/* shared by ranks r and r^1 */
#define SALT_LOC	0x40000000u	/* pairs (MAXLOC/MINLOC) */
#define ALL_RANKS	0xffffffffu

/* A stream for (who, coll_id, index, op, salt). */
static inline uint64_t fseed(uint32_t who, uint32_t coll_id, uint32_t index, int op,
			     uint32_t salt)
{
	uint64_t st = mix64(((uint64_t)coll_id << 32 | who) + GOLDEN);

	st = mix64(st ^ (((uint64_t)(uint32_t)op << 32 | index) * GOLDEN));
	return mix64(st ^ ((uint64_t)salt * 0x632be59bd9b4e019ULL));
}

/* Uniform in [0, n). */
static inline uint64_t below(uint64_t *st, uint64_t n)
{
	return next(st) % n;
}

/* @d rounded to @dt, as bits. */
static inline uint64_t fto_bits(enum sg_datatype dt, double d)
{
	if (dt == SG_FLOAT32) {
		float x = (float)d;
		uint32_t b;

		memcpy(&b, &x, sizeof(b));
		return b;
	} else if (dt == SG_FLOAT64) {
		uint64_t b;

		memcpy(&b, &d, sizeof(b));
		return b;
	}
	return sg_float_round_bits(d, dt);	/* the half formats */
}

/* Pairs (pairs.c) for tw_contribution_ex() and tw_reference_ex() (fpattern.c):
 * @dt is one of SG_*_LOC and, for the reference, @op MAXLOC or MINLOC and
 * @nranks at least 1. */
void tw_loc_contribution(uint32_t rank, uint32_t coll_id, enum sg_datatype dt, enum sg_op op,
			 size_t count, void *out);
void tw_loc_reference(enum sg_datatype dt, enum sg_op op, uint32_t coll_id, size_t count,
		      const uint32_t *ranks, size_t nranks, void *out);

/* ------------------------------------------------------------ shared state */

/* One kind's record, under a sequence lock: one writer (the rank's server),
 * readers retry while the sequence is odd or changed under them. */
struct tw_rec {
	uint32_t seq;
	uint32_t coll_id;
	uint64_t count;
	uint64_t len;
	uint64_t hash;
};

struct tw_rank {
	struct tw_rec rec[NKINDS];
	uint32_t flags;		/* written by the parent */
	uint32_t delay_ms;	/* written by the parent */
	uint32_t ready;
	uint32_t port;
	int32_t error;
	int32_t last_error;
	uint64_t replies;
	uint64_t errors;
	/* sg_worker_stats counters (tw_stats_publish()) */
	uint64_t delivered, foreign, malformed, duplicate, resent, tx_calls, tx_gso;
} __attribute__((aligned(64)));

struct tw_shared {
	size_t nranks;
	size_t maplen;
	struct tw_rank rank[];
};

#define LD(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define ST(p, v)	__atomic_store_n(p, v, __ATOMIC_RELAXED)

/* Update record @r under its sequence lock (shared.c); only the rank's server
 * writes it. */
void tw_rec_write(struct tw_rec *r, uint32_t coll_id, uint64_t len, uint64_t hash);

/* Publish an endpoint's counters in its rank's record (shared.c). */
void tw_stats_publish(struct tw_rank *r, const struct sg_worker_stats *st);

static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

#endif /* SGBPF_LAB_TW_INTERNAL_H */
