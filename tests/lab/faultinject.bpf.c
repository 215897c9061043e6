// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A test fault injector (the kernel has no netem): attached at the egress of
 * the lab's bridge ports, it drops and duplicates IPv4/UDP datagrams with the
 * given probabilities, in both directions, and drops the sgbpf datagrams a
 * rule names (to or from one endpoint, of one type, from a chunk index on),
 * as many as its budget says. ARP and everything else pass.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sgbpf/wire.h"

#define FAULT_MARK 0x46415554u	/* our duplicates pass untouched */

/* Set by the test at any time through the skeleton's .bss. */
__u32 drop_ppm;
__u32 dup_ppm;
__u64 dropped;
__u64 duplicated;
/* The rule: sgbpf datagrams of type rule_type from or to rule_ip:rule_port
 * (network order) whose chunk index is at least rule_chunk_min, while
 * rule_budget lasts (0: no rule). */
__u32 rule_ip;
__u16 rule_port;
__u8 rule_type;
__u16 rule_chunk_min;
__s64 rule_budget;
__u64 rule_dropped;

/* Whether the rule drops this IPv4/UDP datagram (one budget unit taken). */
static __always_inline int rule_drops(struct __sk_buff *skb, struct iphdr *ip)
{
	struct sg_wire_hdr h;
	__u16 ports[2];
	__u32 udp = sizeof(struct ethhdr) + ip->ihl * 4;

	if (*(volatile __s64 *)&rule_budget <= 0)
		return 0;
	if (bpf_skb_load_bytes(skb, udp, ports, sizeof(ports)) ||
	    bpf_skb_load_bytes(skb, udp + 8, &h, sizeof(h)))
		return 0;
	if (!((ip->saddr == rule_ip && ports[0] == rule_port) ||
	      (ip->daddr == rule_ip && ports[1] == rule_port)))
		return 0;
	/* The wire is little-endian, as the hosts and the BPF target are. */
	if (h.magic != SG_WIRE_MAGIC || h.type != rule_type || h.chunk < rule_chunk_min)
		return 0;
	if (__sync_fetch_and_add(&rule_budget, -1) <= 0)
		return 0;
	__sync_fetch_and_add(&rule_dropped, 1);
	return 1;
}

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
	if (rule_drops(skb, ip))
		return TC_ACT_SHOT;
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
