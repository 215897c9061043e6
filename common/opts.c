// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>

#include "common/log.h"
#include "common/opts.h"

int sg_opts_check(const void *opts, size_t sz, size_t known, const char *name)
{
	if (sz < sizeof(size_t))
		return sg_fail(-EINVAL, "%s: sz is %zu; set it to sizeof(struct %s)", name, sz, name);
	for (size_t i = known; i < sz; i++)
		if (((const unsigned char *)opts)[i])
			return sg_fail(-EINVAL, "%s: fields unknown to this library version are set",
				       name);
	return 0;
}
