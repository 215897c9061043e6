/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The filters of an interface's clsact egress hook, read over rtnetlink:
 * libbpf's bpf_tc_query() answers only about a filter whose handle and
 * priority the caller already knows.
 */
#ifndef SG_TRANSPORT_CLSACT_H
#define SG_TRANSPORT_CLSACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sg_tc_filter {
	uint32_t handle;
	uint16_t prio;
	uint32_t prog_id;	/* a bpf filter's program, else 0 */
	char name[64];		/* a bpf filter's name; libbpf's: "<program>:[<id>]" */
};

/* The filters of @ifindex's clsact egress hook, the first @max of them in
 * @out. Returns how many there are (none without a clsact qdisc), which may
 * exceed @max, or -errno. */
int sg_clsact_egress_filters(int ifindex, struct sg_tc_filter *out, size_t max);

/* Whether @f is a bpf filter of the program named @prog (as libbpf names the
 * filters it attaches). */
bool sg_tc_filter_runs(const struct sg_tc_filter *f, const char *prog);

#endif
