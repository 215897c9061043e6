/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Summary statistics of a sample of latencies. */
#ifndef SGBPF_BENCH_STATS_H
#define SGBPF_BENCH_STATS_H

#include <stddef.h>

struct lat_summary {
	double p50, p99, mean;	/* 0 when the sample is empty */
};

/* Sorts @v in place. p50 and p99 are nearest-rank percentiles. */
struct lat_summary lat_summarize(double *v, size_t n);

/* Bandwidths as nccl-tests defines them (its doc/PERFORMANCE.md), inline so
 * that bench/mpi/mpi_bench.c, built apart by mpicc, computes the same:
 * algbw = bytes / time, in GB/s (1e9 B/s); busbw = algbw x the share of the
 * data a rank moves in an optimal algorithm, 2(n-1)/n for an allreduce of n
 * ranks, 1 for reduce and broadcast, so it is comparable across rank counts. */
static inline double bw_alg_gbps(double bytes, double us)
{
	return us > 0 ? bytes / us / 1e3 : 0;
}

static inline double bw_bus_factor(int allreduce, int ranks)
{
	return allreduce && ranks > 0 ? 2.0 * (ranks - 1) / ranks : 1.0;
}

#endif
