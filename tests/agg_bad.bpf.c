// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An aggregation program the verifier must reject: it writes past its
 * accumulator at an offset taken from the packet. */
#include <sgbpf/agg.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int out_of_bounds(struct xdp_md *ctx)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);

	if (verdict)
		return verdict;
	((__u8 *)a.acc)[a.fc->data[0] * 64] = 1;
	return sg_agg_end(ctx, &a);
}
