// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/cpucost.h"

double cpu_machine_busy_us(void)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return -1;
	/* The first line is the sum over all CPUs. */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
		   &iowait, &irq, &softirq, &steal);
	fclose(f);
	if (n != 8 || hz <= 0)
		return -1;
	return (double)(user + nice + sys + irq + softirq + steal) * 1e6 / (double)hz;
}

int cpu_snap(struct cpu_snap *s)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return -errno;
	s->thread_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
		       ru.ru_stime.tv_usec;
	s->machine_us = cpu_machine_busy_us();
	return 0;
}

void cpu_delta(const struct cpu_snap *a, const struct cpu_snap *b, double *thread_us,
	       double *machine_us)
{
	*thread_us = b->thread_us - a->thread_us;
	*machine_us = a->machine_us < 0 || b->machine_us < 0 ? -1 : b->machine_us - a->machine_us;
}
