/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Header parsing shared by the XDP and TC programs: every step checks bounds
 * against the end of the linear packet data. */
#ifndef SG_PARSE_BPF_H
#define SG_PARSE_BPF_H

#include <linux/in.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sgbpf/wire.h"

struct sg_l4 {
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ip_off;	/* offset of the IP header from the frame start */
	__u32 udp_off;	/* offset of the UDP header */
};

/* Locate the IPv4 and UDP headers of an Ethernet frame. Returns 0, or -1 for
 * anything that is not an unfragmented-or-first-fragment IPv4/UDP datagram. */
static __always_inline int sg_parse_udp(void *data, void *data_end, struct sg_l4 *l4)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ihl;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return -1;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return -1;
	/* Non-first fragments carry no UDP header. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return -1;
	udp = (void *)ip + ihl;
	if ((void *)(udp + 1) > data_end)
		return -1;
	l4->ip = ip;
	l4->udp = udp;
	l4->ip_off = sizeof(*eth);
	l4->udp_off = sizeof(*eth) + ihl;
	return 0;
}

/* The sgbpf header after @udp, or NULL if the frame is too short, its framing
 * is wrong (sg_wire_framing_ok()), or the IP or UDP lengths disagree with the
 * payload the header announces (truncated, padded or oversized datagrams). */
static __always_inline struct sg_wire_hdr *sg_parse_hdr(struct sg_l4 *l4, void *data_end)
{
	struct sg_wire_hdr *hdr = (void *)(l4->udp + 1);
	__u32 udp_len, ip_len;

	if ((void *)(hdr + 1) > data_end)
		return NULL;
	udp_len = bpf_ntohs(l4->udp->len);
	ip_len = bpf_ntohs(l4->ip->tot_len);
	if (udp_len < sizeof(struct udphdr) + SG_WIRE_HDR_LEN ||
	    !sg_wire_framing_ok(hdr, udp_len - sizeof(struct udphdr) - SG_WIRE_HDR_LEN) ||
	    ip_len != l4->udp_off - l4->ip_off + udp_len || (l4->ip->frag_off & bpf_htons(0x2000)))
		return NULL;
	return hdr;
}

#endif
