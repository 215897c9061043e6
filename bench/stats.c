// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>

#include "bench/stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least @q of the sample at or below it. */
static double rank(const double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	return v[k ? k - 1 : 0];
}

struct lat_summary lat_summarize(double *v, size_t n)
{
	struct lat_summary s = { 0 };
	double sum = 0;

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s.p50 = rank(v, n, 0.50);
	s.p99 = rank(v, n, 0.99);
	s.mean = sum / (double)n;
	return s;
}
