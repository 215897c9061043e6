// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tests/lab/faultinject.h"
#include "tests/lab/faultinject.skel.h"

#define TCX_EGRESS 47	/* enum bpf_attach_type, Linux 6.6 */

struct faultinject {
	struct faultinject_bpf *skel;
	int nlinks;
	int links[NETLAB_MAX_WORKER_NS + 1];
};

int faultinject_attach(struct netlab *lab, struct faultinject **out)
{
	struct faultinject *f = calloc(1, sizeof(*f));
	int err = 0, n = netlab_nworker_ns(lab);

	if (!f)
		return -ENOMEM;
	f->skel = faultinject_bpf__open_and_load();
	if (!f->skel) {
		free(f);
		return -errno;
	}
	err = netlab_enter(lab, NETLAB_SWITCH);
	for (int i = -1; i < n && !err; i++) {
		char port[IF_NAMESIZE];
		int ifindex, fd;

		snprintf(port, sizeof(port), i < 0 ? "sgc" : "sgw%d", i);
		ifindex = (int)if_nametoindex(port);
		fd = ifindex ? bpf_link_create(bpf_program__fd(f->skel->progs.fault_inject),
					       ifindex, TCX_EGRESS, NULL) : -ENODEV;
		if (fd < 0) {
			fprintf(stderr, "faultinject: cannot attach to %s: %d\n", port, fd);
			err = fd;
			break;
		}
		f->links[f->nlinks++] = fd;
	}
	if (netlab_enter_coordinator(lab) && !err)
		err = -EIO;
	if (err) {
		faultinject_detach(f);
		return err;
	}
	*out = f;
	return 0;
}

void faultinject_set(struct faultinject *f, uint32_t drop_ppm, uint32_t dup_ppm)
{
	__atomic_store_n(&f->skel->bss->drop_ppm, drop_ppm, __ATOMIC_RELAXED);
	__atomic_store_n(&f->skel->bss->dup_ppm, dup_ppm, __ATOMIC_RELAXED);
}

void faultinject_counts(const struct faultinject *f, uint64_t *dropped, uint64_t *duplicated)
{
	*dropped = __atomic_load_n(&f->skel->bss->dropped, __ATOMIC_RELAXED);
	*duplicated = __atomic_load_n(&f->skel->bss->duplicated, __ATOMIC_RELAXED);
}

void faultinject_rule(struct faultinject *f, const struct sockaddr_in *who, uint8_t type,
		      uint16_t chunk_min, int64_t budget)
{
	/* Off while it changes, then armed with its budget last. */
	__atomic_store_n(&f->skel->bss->rule_budget, 0, __ATOMIC_SEQ_CST);
	f->skel->bss->rule_ip = who->sin_addr.s_addr;
	f->skel->bss->rule_port = who->sin_port;
	f->skel->bss->rule_type = type;
	f->skel->bss->rule_chunk_min = chunk_min;
	__atomic_store_n(&f->skel->bss->rule_budget, budget, __ATOMIC_SEQ_CST);
}

uint64_t faultinject_rule_dropped(const struct faultinject *f)
{
	return __atomic_load_n(&f->skel->bss->rule_dropped, __ATOMIC_RELAXED);
}

void faultinject_detach(struct faultinject *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->nlinks; i++)
		close(f->links[i]);
	faultinject_bpf__destroy(f->skel);
	free(f);
}
