/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Error messages and logging inside the library.
 *
 * Every failure is reported as `return sg_fail(-EXXX, "what went wrong");`:
 * the message becomes this thread's sg_errmsg() and is logged at
 * SG_LOG_ERROR. sg_log() writes through the callback set by sg_set_log()
 * (default: stderr, level from SGBPF_LOG). */
#ifndef SG_COMMON_LOG_H
#define SG_COMMON_LOG_H

#include <stdbool.h>

#include "sgbpf.h"

/* Format the message of a failure into this thread's sg_errmsg() buffer (it may
 * take sg_errmsg() itself as an argument, to wrap an inner message), log it at
 * SG_LOG_ERROR and return @err. @err must be a negative errno; a positive one
 * is negated and 0 becomes -EINVAL, so that a failure never reads as success.
 * errno is preserved. */
int sg_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sg_fail() for an outcome the caller expects and handles (a full window,
 * a timeout): the same message and return value, logged at SG_LOG_INFO, not
 * as an error. */
int sg_outcome(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log a message (a trailing newline is optional) if @level is enabled. errno
 * is preserved. */
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether messages at @level are currently delivered; lets callers skip
 * building expensive debug output. */
bool sg_log_enabled(enum sg_log_level level);

/* While @on, this thread's messages (libbpf's included) are logged at
 * SG_LOG_DEBUG whatever their level: for attempts whose failure is expected
 * and reported once by the caller (trying transports in turn), or harmless.
 * Returns the previous setting, for a nested use to restore. */
bool sg_log_demote(bool on);

/* Route libbpf's messages (including verifier logs, printed at WARN) to
 * sg_log(). Idempotent and thread-safe; call before any libbpf use. */
void sg_log_install_libbpf(void);

#endif
