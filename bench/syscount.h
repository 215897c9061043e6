/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Count the system calls of the calling thread: a perf counter on the
 * tracepoint raw_syscalls:sys_enter (what `perf stat -e raw_syscalls:sys_enter`
 * counts), opened for this thread only and enabled only between
 * syscount_start() and syscount_stop().
 */
#ifndef SGBPF_BENCH_SYSCOUNT_H
#define SGBPF_BENCH_SYSCOUNT_H

#include <stdint.h>

struct syscount {
	int fd;		/* -1 when counting is unavailable */
};

/* Open the counter (disabled). Mounts tracefs on /sys/kernel/tracing when
 * the tracepoint id cannot be found. 0 or -errno with a message on stderr;
 * on failure sc->fd is -1 and the other calls report -ENODEV. */
int syscount_open(struct syscount *sc);
void syscount_close(struct syscount *sc);

/* Reset and enable the counter. */
int syscount_start(struct syscount *sc);
/* Disable it and return in *@n the system calls made since syscount_start(),
 * not counting the one that disables it. */
int syscount_stop(struct syscount *sc, uint64_t *n);

#endif
