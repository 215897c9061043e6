// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Graph frontier: each worker sends the bitmap of the vertices it reached in a
 * superstep (SG_UINT64 words); the next frontier is their union.
 */
#include <sgbpf/agg.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define WORDS (SG_ACC_BYTES / sizeof(__u64))

SEC("xdp")
int frontier_union(struct xdp_md *ctx)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);
	const __u64 *in;
	__u64 *acc;
	__u32 n;

	if (verdict)
		return verdict;
	acc = a.acc;
	in = (const __u64 *)a.fc->data;
	n = a.fc->len / sizeof(__u64);
	for (__u32 i = 0; i < WORDS; i++) {
		__u32 k = SG_AGG_IDX(i, WORDS);

		if (i >= n)
			break;
		acc[k] = a.first ? in[k] : acc[k] | in[k];
	}
	return sg_agg_end(ctx, &a);
}
