/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one clock of the library: deadlines, timeouts and service times. */
#ifndef SG_COMMON_CLOCK_H
#define SG_COMMON_CLOCK_H

#include <time.h>

/* Monotonic time in microseconds. */
static inline long long sg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

#define SG_DEADLINE_NONE (-1LL)	/* wait as long as it takes */
#define SG_DEADLINE_NOW 0LL	/* do not wait */

/* The deadline of a timeout in the library's convention: negative waits
 * forever, 0 does not wait, else @timeout_ms from now. */
static inline long long sg_deadline_us(int timeout_ms)
{
	if (timeout_ms <= 0)
		return timeout_ms < 0 ? SG_DEADLINE_NONE : SG_DEADLINE_NOW;
	return sg_now_us() + timeout_ms * 1000LL;
}

/* Milliseconds left until @deadline_us, rounded up, for poll(): -1 for
 * none, 0 when it has passed. */
static inline int sg_poll_ms(long long deadline_us)
{
	long long left;

	if (deadline_us == SG_DEADLINE_NONE)
		return -1;
	left = deadline_us - sg_now_us();
	return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

#endif
