/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Options structs that carry their size (libbpf's discipline): a caller built
 * against an older header passes a shorter struct, a newer one may set fields
 * this library does not know, which must then be zero. */
#ifndef SG_COMMON_OPTS_H
#define SG_COMMON_OPTS_H

#include <stddef.h>

/* Check a caller's options struct: @sz must cover at least the first field
 * and any bytes past what this library knows (@known) must be zero. 0 or
 * -EINVAL with a message naming @name. */
int sg_opts_check(const void *opts, size_t sz, size_t known, const char *name);

/* Bytes of struct TYPE this library knows: up to the end of its last field,
 * named by TYPE##__last_field in sgbpf.h. */
#define SG_OPTS_KNOWN(TYPE)							\
	(offsetof(struct TYPE, TYPE##__last_field) +				\
	 sizeof(((struct TYPE *)0)->TYPE##__last_field))

/* Whether the caller's struct at @opts (of (opts)->sz bytes, from a caller
 * built against any version of the header) has field FIELD: a field a
 * caller's version does not have is neither read nor written. */
#define SG_OPTS_HAS(opts, FIELD)						\
	((opts)->sz >= offsetof(__typeof__(*(opts)), FIELD) + sizeof((opts)->FIELD))

/* sg_opts_check() of @opts, a pointer to struct TYPE with its sz field. */
#define SG_OPTS_CHECK(TYPE, opts)						\
	sg_opts_check((opts), (opts)->sz, SG_OPTS_KNOWN(TYPE), #TYPE)

#endif
