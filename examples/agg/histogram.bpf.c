// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Histogram merge: every worker sends its bin counts (SG_UINT32); the bins add
 * up and saturate at UINT32_MAX instead of wrapping around.
 *
 * Build: clang $(pkg-config --variable=bpf_cflags sgbpf) -c histogram.bpf.c
 * Use:   sg_comm_opts.agg_object = "histogram.bpf.o";
 *        sg_comm_opts.agg_program = "histogram_merge";
 *        sg_scatter_reduce(..., SG_UINT32, SG_OP_USER, ...);
 */
#include <sgbpf/agg.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define BINS (SG_ACC_BYTES / sizeof(__u32))

SEC("xdp")
int histogram_merge(struct xdp_md *ctx)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);
	const __u32 *in;
	__u32 *acc, n;

	if (verdict)
		return verdict;
	acc = a.acc;
	in = (const __u32 *)a.fc->data;
	n = a.fc->len / sizeof(__u32);
	for (__u32 i = 0; i < BINS; i++) {
		__u32 k = SG_AGG_IDX(i, BINS), sum;

		if (i >= n)
			break;
		sum = a.first ? in[k] : acc[k] + in[k];
		if (!a.first && sum < acc[k])
			sum = 0xffffffffu;
		acc[k] = sum;
	}
	return sg_agg_end(ctx, &a);
}
