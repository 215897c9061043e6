// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A test fault injector (the kernel has no netem): attached at the egress of
 * the lab's bridge ports, it drops and duplicates IPv4/UDP datagrams with the
 * given probabilities, in both directions. ARP and everything else pass.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define FAULT_MARK 0x46415554u	/* our duplicates pass untouched */

/* Set by the test at any time through the skeleton's .bss. */
__u32 drop_ppm;
__u32 dup_ppm;
__u64 dropped;
__u64 duplicated;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int fault_inject(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 r;

	if (skb->mark == FAULT_MARK || (void *)(ip + 1) > data_end ||
	    eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	r = bpf_get_prandom_u32() % 1000000;
	if (r < drop_ppm) {
		__sync_fetch_and_add(&dropped, 1);
		return TC_ACT_SHOT;
	}
	if (r < drop_ppm + dup_ppm) {
		skb->mark = FAULT_MARK;
		if (!bpf_clone_redirect(skb, skb->ifindex, 0))
			__sync_fetch_and_add(&duplicated, 1);
	}
	return TC_ACT_OK;
}
