// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/syscount.h"

static const char *const id_paths[] = {
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

static int read_id(long long *id)
{
	for (size_t i = 0; i < sizeof(id_paths) / sizeof(id_paths[0]); i++) {
		FILE *f = fopen(id_paths[i], "r");
		int ok;

		if (!f)
			continue;
		ok = fscanf(f, "%lld", id) == 1;
		fclose(f);
		if (ok)
			return 0;
	}
	return -ENOENT;
}

static int tracepoint_id(long long *id)
{
	if (!read_id(id))
		return 0;
	/* tracefs is not mounted by default on this platform. */
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY) {
		int err = -errno;

		fprintf(stderr, "syscount: tracepoint raw_syscalls:sys_enter not found and "
			"mounting tracefs on /sys/kernel/tracing failed: %s\n", strerror(errno));
		return err;
	}
	if (read_id(id)) {
		fprintf(stderr, "syscount: no raw_syscalls:sys_enter in tracefs "
			"(kernel without CONFIG_FTRACE_SYSCALLS?)\n");
		return -ENOENT;
	}
	return 0;
}

int syscount_open(struct syscount *sc)
{
	struct perf_event_attr attr;
	long long id;
	int err, fd;

	sc->fd = -1;
	err = tracepoint_id(&id);
	if (err)
		return err;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (unsigned long long)id;
	attr.disabled = 1;
	attr.sample_period = 0;
	/* pid 0, cpu -1: this thread, on whatever CPU it runs. */
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "syscount: perf_event_open(raw_syscalls:sys_enter): %s\n",
			strerror(errno));
		return err;
	}
	sc->fd = fd;
	return 0;
}

void syscount_close(struct syscount *sc)
{
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
}

int syscount_start(struct syscount *sc)
{
	if (sc->fd < 0)
		return -ENODEV;
	if (ioctl(sc->fd, PERF_EVENT_IOC_RESET, 0) || ioctl(sc->fd, PERF_EVENT_IOC_ENABLE, 0))
		return -errno;
	return 0;
}

int syscount_stop(struct syscount *sc, uint64_t *n)
{
	uint64_t v;

	if (sc->fd < 0)
		return -ENODEV;
	if (ioctl(sc->fd, PERF_EVENT_IOC_DISABLE, 0))
		return -errno;
	if (read(sc->fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -EIO;
	/* The disabling ioctl entered while the counter was on. */
	*n = v ? v - 1 : 0;
	return 0;
}
