/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Graph500 Kronecker edge generator (examples/pagerank/README.md), written
 * from the Graph500 specification: 2^scale vertices, edgefactor * 2^scale
 * edges, initiator A = 0.57, B = 0.19, C = 0.19, D = 0.05, an optional
 * scrambling of the vertex numbers by a random permutation.
 *
 * Deterministic and random-access: edge k depends only on (seed, scale, k),
 * so any process can generate any edge, or all of them, and every process
 * gets the same graph whatever it generates. The random numbers are one
 * splitmix64 stream: edge k uses its draws k*scale .. k*scale + scale - 1.
 */
#ifndef PAGERANK_KRONECKER_H
#define PAGERANK_KRONECKER_H

#include <stdint.h>

#define KRON_A 0.57
#define KRON_B 0.19
#define KRON_C 0.19
/* D = 1 - A - B - C = 0.05 */
#define KRON_EDGEFACTOR 16
#define KRON_MAX_SCALE 28

struct kron {
	int scale;		/* 1 .. KRON_MAX_SCALE */
	uint64_t nvertices;	/* 2^scale */
	uint64_t nedges;	/* edgefactor * 2^scale */
	uint64_t seed;
	uint32_t *perm;		/* vertex scrambling, NULL when off */
	uint32_t thr_ab, thr_a, thr_c;	/* the initiator as 32-bit thresholds */
};

/* 0 on success, -1 with errno set (EINVAL: a bad scale or edgefactor;
 * ENOMEM). scramble != 0 builds the permutation (4 * 2^scale bytes). */
int kron_init(struct kron *g, int scale, int edgefactor, uint64_t seed, int scramble);
void kron_free(struct kron *g);

/* Edge k (0 <= k < g->nedges): its start and end vertex. */
void kron_edge(const struct kron *g, uint64_t k, uint32_t *src, uint32_t *dst);

/* splitmix64 (Steele, Lea, Flood 2014): output number i of the stream that
 * starts at state s, i.e. the mix of s + (i + 1) * golden gamma. */
uint64_t kron_splitmix64_at(uint64_t s, uint64_t i);

#endif
