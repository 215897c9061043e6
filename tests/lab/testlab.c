// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lab/testlab.h"

int testlab_restart(struct testlab *t, int ns)
{
	t->serve[ns] = (struct tw_serve_opts){
		.sz = sizeof(t->serve[ns]),
		.port = TESTLAB_PORT,
		.nports = (unsigned int)t->per_ns,
		.rank = (uint32_t)(ns * t->per_ns),
		.shared = t->shared,
	};
	t->servers[ns] = netlab_spawn(t->lab, ns, tw_serve_fn, &t->serve[ns]);
	if (t->servers[ns] < 0)
		return (int)t->servers[ns];
	return tw_shared_wait_ready(t->shared, (size_t)ns * t->per_ns, (size_t)t->per_ns, 20000);
}

int testlab_start(struct testlab *t, const char *prefix, int nns, int per_ns)
{
	return testlab_start_mtu(t, prefix, nns, per_ns, 0);
}

int testlab_start_mtu(struct testlab *t, const char *prefix, int nns, int per_ns, int mtu)
{
	struct netlab_opts lo = { .sz = sizeof(lo), .prefix = prefix, .nworker_ns = nns,
				  .mtu = mtu };
	int err;

	memset(t, 0, sizeof(*t));
	t->nns = nns;
	t->per_ns = per_ns;
	t->shared = tw_shared_create((size_t)nns * per_ns);
	t->serve = calloc((size_t)nns, sizeof(*t->serve));
	t->servers = calloc((size_t)nns, sizeof(*t->servers));
	if (!t->shared || !t->serve || !t->servers) {
		err = -ENOMEM;
		goto fail;
	}
	err = netlab_create(&lo, &t->lab);
	for (int i = 0; i < nns && !err; i++)
		err = testlab_restart(t, i);
	if (!err)
		err = netlab_enter_coordinator(t->lab);
	if (!err)
		return 0;
fail:
	fprintf(stderr, "testlab: cannot start %d x %d workers: %s\n", nns, per_ns,
		strerror(-err));
	testlab_stop(t);
	return err;
}

void testlab_stop(struct testlab *t)
{
	netlab_destroy(t->lab);
	if (t->shared)
		tw_shared_destroy(t->shared);
	free(t->serve);
	free(t->servers);
	memset(t, 0, sizeof(*t));
}

struct sockaddr_in testlab_addr(const struct testlab *t, uint32_t rank)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)(TESTLAB_PORT + rank % t->per_ns)),
	};

	a.sin_addr = netlab_worker_addr(t->lab, (int)(rank / t->per_ns));
	return a;
}

int testlab_comm(const struct testlab *t, const uint32_t *ranks, size_t n, uint16_t port,
		 const struct sg_comm_opts *o, sg_comm **comm)
{
	struct sockaddr_in *w = calloc(n ? n : 1, sizeof(*w));
	SG_OPTS_INIT(sg_comm_opts, opts);
	int err;

	if (!w)
		return -ENOMEM;
	if (o)
		opts = *o;
	for (size_t i = 0; i < n; i++)
		w[i] = testlab_addr(t, ranks[i]);
	opts.ifname = NETLAB_IFNAME;
	opts.local_port = port;
	opts.workers = w;
	opts.nworkers = n;
	err = sg_comm_create(&opts, comm);
	free(w);
	return err;
}
