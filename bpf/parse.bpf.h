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

/* VLAN tags parsed before the IP header: an 802.1ad service tag and an
 * 802.1Q tag (or two 802.1Q, or a priority tag). Deeper stacks are not ours. */
#define SG_MAX_VLAN_TAGS 2

struct sg_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Locate the IPv4 and UDP headers of an Ethernet frame, behind up to
 * SG_MAX_VLAN_TAGS VLAN tags. Returns 0, or -1 for anything that is not an
 * IPv4 (version 4)/UDP datagram, unfragmented or a first fragment. */
static __always_inline int sg_parse_udp(void *data, void *data_end, struct sg_l4 *l4)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ihl, off = sizeof(*eth);
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < SG_MAX_VLAN_TAGS; i++) {
		struct sg_vlan_hdr *vh = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->proto;
		off += sizeof(*vh);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = data + off;
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->protocol != IPPROTO_UDP)
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
	l4->ip_off = off;
	l4->udp_off = off + ihl;
	return 0;
}

/* Whether the IPv4 header checksum of @l4's datagram is right (the stack
 * would drop it otherwise; XDP runs before the stack looks). The header is
 * copied out first: a loop of packet reads is more than the verifier will
 * follow. */
static __always_inline int sg_xdp_ip_csum_ok(struct xdp_md *ctx, const struct sg_l4 *l4)
{
	__u16 words[30] = {};	/* 60 bytes, the longest IPv4 header */
	__u32 sum = 0, ihl = l4->ip->ihl * 4;

	if (ihl < 20 || ihl > sizeof(words) ||
	    bpf_xdp_load_bytes(ctx, l4->ip_off, words, ihl) < 0)
		return 0;
	/* Words past ihl are still 0: they add nothing. */
#pragma unroll
	for (int i = 0; i < 30; i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* The sgbpf header after @udp, or NULL if the frame is too short, its framing
 * is wrong (sg_wire_framing_ok()), or the IP or UDP lengths disagree with the
 * payload the header announces (truncated, padded or oversized datagrams).
 * @seg is 0 for a datagram, or for a UDP GSO send (TC egress sees them before
 * segmentation) the bytes of each of its datagrams but the last: the header
 * is the first datagram's. */
static __always_inline struct sg_wire_hdr *sg_parse_hdr(struct sg_l4 *l4, void *data_end,
							__u32 seg)
{
	struct sg_wire_hdr *hdr = (void *)(l4->udp + 1);
	__u32 udp_len, ip_len, first;

	if ((void *)(hdr + 1) > data_end)
		return NULL;
	udp_len = bpf_ntohs(l4->udp->len);
	ip_len = bpf_ntohs(l4->ip->tot_len);
	if (udp_len < sizeof(struct udphdr) + SG_WIRE_HDR_LEN)
		return NULL;
	first = seg ? seg : udp_len - sizeof(struct udphdr);
	if (first < SG_WIRE_HDR_LEN || first > udp_len - sizeof(struct udphdr) ||
	    !sg_wire_framing_ok(hdr, first - SG_WIRE_HDR_LEN) ||
	    ip_len != l4->udp_off - l4->ip_off + udp_len || (l4->ip->frag_off & bpf_htons(0x2000)))
		return NULL;
	return hdr;
}

#endif
