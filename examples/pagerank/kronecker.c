// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Graph500 Kronecker generator (kronecker.h), after the specification's
 * reference (kronecker_generator.m): for each edge and each of the scale bit
 * levels ib, one uniform u1 picks the start vertex's bit, ii = u1 > A + B
 * (probability C + D), and a second, u2, the end vertex's bit,
 * jj = u2 > (ii ? C / (C + D) : A / (A + B)), so that the quadrant
 * (ii, jj) is (0,0) with probability A, (0,1) B, (1,0) C, (1,1) D; bit ib of
 * the start vertex is ii, of the end vertex jj. Then, optionally, both ends go
 * through a random permutation of the vertices. The reference also shuffles
 * the order of the edges; the order does not matter to PageRank and is not
 * done here (edge k is always the k-th of the stream).
 *
 * The uniforms are 32-bit: one 64-bit splitmix64 draw per bit level, its
 * high half for u1 and its low half for u2, compared with the probabilities
 * scaled to 2^32 (integer comparisons: the same edges on every machine).
 */
#include <errno.h>
#include <stdlib.h>

#include "kronecker.h"

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t kron_splitmix64_at(uint64_t s, uint64_t i)
{
	return mix64(s + (i + 1) * GOLDEN_GAMMA);
}

static uint32_t prob32(double p)
{
	return (uint32_t)(p * 4294967296.0);
}

int kron_init(struct kron *g, int scale, int edgefactor, uint64_t seed, int scramble)
{
	uint64_t i, n;

	if (scale < 1 || scale > KRON_MAX_SCALE || edgefactor < 1 || edgefactor > 1024) {
		errno = EINVAL;
		return -1;
	}
	n = 1ULL << scale;
	g->scale = scale;
	g->nvertices = n;
	g->nedges = (uint64_t)edgefactor * n;
	g->seed = seed;
	g->perm = NULL;
	g->thr_ab = prob32(KRON_A + KRON_B);
	g->thr_a = prob32(KRON_A / (KRON_A + KRON_B));
	g->thr_c = prob32(KRON_C / (1.0 - (KRON_A + KRON_B)));
	if (!scramble)
		return 0;

	/* Fisher-Yates on a stream of its own (another start state), the
	 * index drawn as the high 64 bits of r * (i + 1): bias below 2^-36
	 * for any scale allowed, and the same permutation everywhere. */
	g->perm = malloc(n * sizeof(*g->perm));
	if (!g->perm)
		return -1;
	for (i = 0; i < n; i++)
		g->perm[i] = (uint32_t)i;
	uint64_t ps = mix64(seed ^ 0x5052414e4b504552ULL);	/* "PRANKPER" */
	for (i = n - 1; i > 0; i--) {
		uint64_t r = kron_splitmix64_at(ps, n - 1 - i);
		uint64_t j = (uint64_t)(((unsigned __int128)r * (i + 1)) >> 64);
		uint32_t t = g->perm[i];
		g->perm[i] = g->perm[j];
		g->perm[j] = t;
	}
	return 0;
}

void kron_free(struct kron *g)
{
	free(g->perm);
	g->perm = NULL;
}

void kron_edge(const struct kron *g, uint64_t k, uint32_t *src, uint32_t *dst)
{
	uint32_t s = 0, d = 0;
	uint64_t base = k * (uint64_t)g->scale;

	for (int ib = 0; ib < g->scale; ib++) {
		uint64_t r = kron_splitmix64_at(g->seed, base + (uint64_t)ib);
		uint32_t u1 = (uint32_t)(r >> 32), u2 = (uint32_t)r;
		uint32_t ii = u1 > g->thr_ab;
		uint32_t jj = u2 > (ii ? g->thr_c : g->thr_a);

		s |= ii << ib;
		d |= jj << ib;
	}
	if (g->perm) {
		s = g->perm[s];
		d = g->perm[d];
	}
	*src = s;
	*dst = d;
}
