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

#endif
