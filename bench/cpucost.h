/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPU time spent over a measured loop: by the calling thread
 * (getrusage(RUSAGE_THREAD): user + system; the library starts no threads)
 * and by the whole machine (busy jiffies of all CPUs in /proc/stat: user,
 * nice, system, irq, softirq, steal; so softirq work done on behalf of any
 * process, and the workers, are included).
 */
#ifndef SGBPF_BENCH_CPUCOST_H
#define SGBPF_BENCH_CPUCOST_H

struct cpu_snap {
	double thread_us;
	double machine_us;	/* -1 when /proc/stat could not be read */
};

int cpu_snap(struct cpu_snap *s);

/* Busy time of all CPUs so far, in microseconds; -1 if /proc/stat is
 * unreadable. */
double cpu_machine_busy_us(void);

/* Microseconds of CPU between @a and @b: thread and machine. */
void cpu_delta(const struct cpu_snap *a, const struct cpu_snap *b, double *thread_us,
	       double *machine_us);

#endif
