/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A ready lab for the end-to-end tests and the demo: worker namespaces
 * (tests/lab/netlab.h) each serving @per_ns test workers
 * (tests/lab/testworker.h) on consecutive ports, with the caller left in the
 * coordinator's namespace.
 * Rank r lives in namespace r / per_ns on port TESTLAB_PORT + r % per_ns.
 */
#ifndef SGBPF_TESTLAB_H
#define SGBPF_TESTLAB_H

#include <netinet/in.h>
#include <sys/types.h>

#include "sgbpf.h"
#include "tests/lab/netlab.h"
#include "tests/lab/testworker.h"

#define TESTLAB_PORT 7000

struct testlab {
	struct netlab *lab;
	struct tw_shared *shared;
	int nns;
	int per_ns;
	struct tw_serve_opts *serve;	/* per namespace */
	pid_t *servers;			/* per namespace */
};

/* Build the lab, start the workers, wait until they serve. 0 or -errno (the
 * reason printed); on failure whatever was built is removed. */
int testlab_start(struct testlab *t, const char *prefix, int nns, int per_ns);
/* The same with every link at MTU @mtu (0: 1500). */
int testlab_start_mtu(struct testlab *t, const char *prefix, int nns, int per_ns, int mtu);
void testlab_stop(struct testlab *t);

/* Start the worker process of namespace @ns again (after it was killed). */
int testlab_restart(struct testlab *t, int ns);

struct sockaddr_in testlab_addr(const struct testlab *t, uint32_t rank);

/* sg_comm_create() over the workers @ranks[0..n-1] on the lab's interface;
 * the rest of the options (port, flags) come from @o, which may be NULL when
 * only @port is needed. */
int testlab_comm(const struct testlab *t, const uint32_t *ranks, size_t n, uint16_t port,
		 const struct sg_comm_opts *o, sg_comm **comm);

#endif
