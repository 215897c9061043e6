// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Error messages, logging and the small public helpers that go with them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bpf/libbpf.h>

#include "common/log.h"

/* Messages are short (a path and a reason); longer ones are cut with "...". */
#define SG_ERRMSG_LEN 1024
/* Log messages longer than this (verifier logs) are formatted on the heap. */
#define SG_LOG_STACK_LEN 1024

static __thread char errmsg_buf[SG_ERRMSG_LEN];
static __thread char strerror_buf[48];
static __thread bool demoted;	/* sg_log_demote() */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
/* Recursive, and held while the callback runs: a callback may itself log or
 * call sg_set_log(), and once sg_set_log() returns the previous callback is
 * never called again, so its ctx can be freed. */
static pthread_mutex_t log_lock;
static sg_log_fn log_fn;	/* NULL: default_logger */
static void *log_ctx;
static int log_level = SG_LOG_WARN;	/* read without the lock */

static const char *const level_names[] = {
	[SG_LOG_ERROR] = "error",
	[SG_LOG_WARN] = "warn",
	[SG_LOG_INFO] = "info",
	[SG_LOG_DEBUG] = "debug",
};

static const char *level_name(enum sg_log_level level)
{
	if ((unsigned int)level > SG_LOG_DEBUG)
		return "?";
	return level_names[level];
}

static int clamp_level(enum sg_log_level level)
{
	if ((int)level < SG_LOG_ERROR)
		return SG_LOG_ERROR;
	if ((int)level > SG_LOG_DEBUG)
		return SG_LOG_DEBUG;
	return level;
}

static void log_init(void)
{
	pthread_mutexattr_t attr;
	const char *env;
	int level = SG_LOG_WARN;
	unsigned int i;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&log_lock, &attr);
	pthread_mutexattr_destroy(&attr);

	env = getenv("SGBPF_LOG");
	if (env && *env) {
		level = -1;
		for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
			if (!strcasecmp(env, level_names[i]))
				level = (int)i;
		}
		if (!strcasecmp(env, "warning"))
			level = SG_LOG_WARN;
		if (level < 0) {
			/* Not through sg_log(): we are inside its pthread_once. */
			fprintf(stderr,
				"sgbpf: warn: SGBPF_LOG='%s' is not one of %s; using warn\n", env,
				"error, warn, info, debug");
			level = SG_LOG_WARN;
		}
	}
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

/* One "sgbpf: <level>: " prefix per line, so that multi-line messages (verifier
 * logs) stay attributable when interleaved with other output. */
static void default_logger(enum sg_log_level level, const char *msg, void *ctx)
{
	const char *p = msg, *nl;

	flockfile(stderr);
	for (;;) {
		nl = strchr(p, '\n');
		if (!nl) {
			fprintf(stderr, "sgbpf: %s: %s\n", level_name(level), p);
			break;
		}
		fprintf(stderr, "sgbpf: %s: %.*s\n", level_name(level), (int)(nl - p), p);
		p = nl + 1;
		if (!*p)
			break;
	}
	funlockfile(stderr);
}

bool sg_log_enabled(enum sg_log_level level)
{
	pthread_once(&log_once, log_init);
	return (unsigned int)level <= (unsigned int)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

static void sg_vlog(enum sg_log_level level, const char *fmt, va_list ap)
{
	char stack[SG_LOG_STACK_LEN], *heap = NULL, *msg = stack;
	va_list aq;
	size_t len;
	int n;

	if (demoted)
		level = SG_LOG_DEBUG;
	if (!sg_log_enabled(level))
		return;

	va_copy(aq, ap);
	n = vsnprintf(stack, sizeof(stack), fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stack)) {
		/* On allocation failure the truncated text is still worth delivering. */
		heap = malloc((size_t)n + 1);
		if (heap && vsnprintf(heap, (size_t)n + 1, fmt, ap) >= 0)
			msg = heap;
	}

	/* libbpf and callers may or may not end messages with '\n'; loggers get
	 * none. */
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (len) {
		pthread_mutex_lock(&log_lock);
		if (log_fn)
			log_fn(level, msg, log_ctx);
		else
			default_logger(level, msg, NULL);
		pthread_mutex_unlock(&log_lock);
	}
	free(heap);
}

bool sg_log_demote(bool on)
{
	bool was = demoted;

	demoted = on;
	return was;
}

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	sg_vlog(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

static int vfail(enum sg_log_level level, int err, const char *fmt, va_list ap)
{
	/* Formatted on the stack first: an argument may be errmsg_buf itself. */
	char msg[SG_ERRMSG_LEN];
	int saved = errno;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "failed (%s)", sg_strerror(err));
	else if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	memcpy(errmsg_buf, msg, sizeof(msg));

	sg_log(level, "%s", errmsg_buf);
	errno = saved;
	if (err > 0)
		return -err;
	return err ? err : -EINVAL;
}

int sg_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vfail(SG_LOG_ERROR, err, fmt, ap);
	va_end(ap);
	return err;
}

int sg_outcome(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vfail(SG_LOG_INFO, err, fmt, ap);
	va_end(ap);
	return err;
}

const char *sg_errmsg(void)
{
	return errmsg_buf;
}

void sg_set_log(sg_log_fn fn, enum sg_log_level level, void *ctx)
{
	pthread_once(&log_once, log_init);
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_ctx = fn ? ctx : NULL;
	__atomic_store_n(&log_level, clamp_level(level), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&log_lock);
}

#if !(defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32)))
/* strerror_r is the GNU char * one or the XSI int one depending on the libc
 * and feature macros; pick the right reading of its result at compile time. */
static const char *strerror_gnu(char *r, char *buf)
{
	return r;
}

static const char *strerror_xsi(int r, char *buf)
{
	return r ? NULL : buf;
}

#define strerror_result(r, buf) _Generic((r), char *: strerror_gnu, int: strerror_xsi)(r, buf)
#endif

const char *sg_strerror(int err)
{
	const char *s = NULL;
	int e;

	if (err == INT_MIN)
		goto unknown;
	e = err < 0 ? -err : err;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	/* Static strings, thread-safe, and NULL rather than "Unknown error" text
	 * for values that are not errnos. */
	s = strerrordesc_np(e);
#else
	s = strerror_result(strerror_r(e, strerror_buf, sizeof(strerror_buf)), strerror_buf);
	if (s && !strncasecmp(s, "unknown error", 13))
		s = NULL;
#endif
	if (s)
		return s;
unknown:
	snprintf(strerror_buf, sizeof(strerror_buf), "unknown error %d", err);
	return strerror_buf;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum sg_log_level l;

	switch (level) {
	case LIBBPF_WARN:
		l = SG_LOG_WARN;
		break;
	case LIBBPF_INFO:
		l = SG_LOG_INFO;
		break;
	default:
		l = SG_LOG_DEBUG;
		break;
	}
	sg_vlog(l, fmt, ap);
	return 0;
}

static pthread_once_t libbpf_once = PTHREAD_ONCE_INIT;

static void libbpf_install(void)
{
	libbpf_set_print(libbpf_print);
}

void sg_log_install_libbpf(void)
{
	pthread_once(&libbpf_once, libbpf_install);
}
