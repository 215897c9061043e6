// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Top-1 with worker id: each element of a worker's SG_UINT64 contribution
 * carries a score in its low 32 bits. Each element of the result holds the
 * best score in its low 32 bits and the rank of the worker that sent it in the
 * high 32 bits; of equal scores the lowest rank wins, whatever the arrival
 * order. The worker's rank comes from the datapath (its source address), not
 * from the packet, so a worker cannot claim another's.
 */
#include <sgbpf/agg.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SLOTS (SG_ACC_BYTES / sizeof(__u64))

SEC("xdp")
int top1(struct xdp_md *ctx)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);
	const __u64 *in;
	__u64 *acc, rank;
	__u32 n;

	if (verdict)
		return verdict;
	acc = a.acc;
	in = (const __u64 *)a.fc->data;
	n = a.fc->len / sizeof(__u64);
	rank = a.fc->worker;
	for (__u32 i = 0; i < SLOTS; i++) {
		__u32 k = SG_AGG_IDX(i, SLOTS);
		__u64 score, best;

		if (i >= n)
			break;
		score = in[k] & 0xffffffffu;
		best = acc[k] & 0xffffffffu;
		if (a.first || score > best || (score == best && rank < acc[k] >> 32))
			acc[k] = rank << 32 | score;
	}
	return sg_agg_end(ctx, &a);
}
