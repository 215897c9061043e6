// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An aggregation program that verifies but misbehaves: it scribbles over its
 * whole accumulator and tries to pass every packet on (the datapath decides
 * a chunk's fate once it is handed back, so it cannot). It must not disturb
 * any other communicator. */
#include <sgbpf/agg.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int scribble(struct xdp_md *ctx)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);

	if (verdict)
		return verdict;
	/* volatile: element by element, not a memset the BPF target lacks. */
	for (__u32 i = 0; i < SG_ACC_BYTES / 8; i++)
		((volatile __u64 *)a.acc)[SG_AGG_IDX(i, SG_ACC_BYTES / 8)] = ~0ULL;
	sg_agg_end(ctx, &a);
	return XDP_PASS;
}
