// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The reflector: benchmark workers with no process. Attached (native XDP) to
 * a worker namespace's sg0, it answers what the coordinator sends to a served
 * port as the worker API (coll/worker.c) would, with the request's own bytes
 * as the contribution, and sends the answer straight back (XDP_TX):
 *
 *  - SCATTER datagram -> RESPONSE datagram of the same chunks: the same
 *    header with type RESPONSE, flags, fanout_first and answer_room zero, and
 *    the same payload. A request is count * element size bytes (the contract
 *    of bench/workers.h), so the response has the same length and, with
 *    response chunks of SG_CHUNK_BYTES, the same chunking. float32 responses
 *    travel in 1024-byte chunks, and XDP sends one frame per frame received:
 *    float32 requests above 1024 bytes are dropped and counted as
 *    unsupported.
 *  - RESULT -> its acknowledgement (id | SG_COLL_ACK, one SG_UINT8 byte 1,
 *    BOR), sent on the datagram that ends the message, which on a lossless
 *    lab arrives last; the others are consumed.
 *  - BCAST: consumed (counted, dropped), as an application ignoring it would.
 *
 * Addresses, ports and MACs are swapped; the UDP checksum is updated (the IP
 * checksum does not change under a swap) or, for the shorter acknowledgement,
 * both are recomputed. Everything else passes to the stack (ARP among it).
 * The request must not carry IP options.
 *
 * It is stateless: a retransmitted request is answered again and the
 * coordinator drops what it already has, like the worker API's reply cache.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "parse.bpf.h"
#include "reflector.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Served ports: [port_lo, port_lo + nports), host order; set before load. */
const volatile __u16 port_lo = 9000;
const volatile __u16 nports = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REFL_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#define ACK_PAYLOAD	1
#define ACK_UDP_LEN	(sizeof(struct udphdr) + SG_WIRE_HDR_LEN + ACK_PAYLOAD)
#define ACK_IP_LEN	(sizeof(struct iphdr) + ACK_UDP_LEN)
#define ACK_FRAME_LEN	(sizeof(struct ethhdr) + ACK_IP_LEN)
#define L2L3L4		(sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

static __always_inline void count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;
}

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Element size; 0 for an unknown datatype. */
static __always_inline __u32 dtype_size(__u32 dt)
{
	return sg_wire_dtype_size(dt);
}

/* What the worker API checks of a SCATTER or RESULT before delivering it, and
 * the chunking rules its decoder applies (coordinator chunks of
 * SG_CHUNK_BYTES, a span of them per datagram). */
static __always_inline int valid_request(const struct sg_wire_hdr *h)
{
	__u32 es = dtype_size(h->dtype);

	if (!es || !sg_wire_op_valid(h->dtype, h->op) || h->count == 0 ||
	    h->count > SG_MAX_MSG_BYTES / es || h->msg_len != h->count * es)
		return 0;
	return h->type != SG_WIRE_RESPONSE && sg_wire_geometry_ok(h);
}

static __always_inline void swap_addrs(struct ethhdr *eth, struct iphdr *ip, struct udphdr *udp)
{
	__u8 mac[ETH_ALEN];
	__u32 a = ip->saddr;
	__u16 p = udp->source;

	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	ip->saddr = ip->daddr;
	ip->daddr = a;
	udp->source = udp->dest;
	udp->dest = p;
}

/* The request chunk becomes the response chunk in place: only type, flags,
 * fanout_first and answer_room change (a response of one chunk, span 1 as the
 * request's), so the UDP checksum is updated by their difference. */
static __always_inline int reflect_scatter(struct ethhdr *eth, struct sg_l4 *l4,
					   struct sg_wire_hdr *h)
{
	struct sg_wire_hdr old, nw;
	__s64 s;

	if (!valid_request(h))
		return XDP_DROP; /* the worker API would drop it too */
	if (h->dtype == SG_FLOAT32 && h->msg_len > sg_wire_response_chunk(SG_FLOAT32)) {
		count(REFL_UNSUPPORTED);
		return XDP_DROP;
	}
	__builtin_memcpy(&old, h, sizeof(old));
	nw = old;
	nw.type = SG_WIRE_RESPONSE;
	nw.flags = 0;
	nw.fanout_first = 0;
	nw.answer_room = 0;
	__builtin_memcpy(h, &nw, sizeof(nw));
	if (l4->udp->check) { /* zero means "no checksum" and stays zero */
		s = bpf_csum_diff((__be32 *)&old, sizeof(old), (__be32 *)&nw, sizeof(nw),
				  ~(__u32)l4->udp->check & 0xffff);
		if (s < 0)
			return XDP_ABORTED;
		l4->udp->check = csum_fold((__u32)s) ?: 0xffff;
	}
	swap_addrs(eth, l4->ip, l4->udp);
	count(REFL_TX);
	return XDP_TX;
}

/* The checksummed bytes of the acknowledgement's UDP datagram, pseudo-header
 * first; the payload is padded to a multiple of 4 with zeros (which add
 * nothing) for bpf_csum_diff. */
struct ack_csum {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
	struct udphdr udp;
	struct sg_wire_hdr hdr;
	__u8 payload[4];
};

/* Replace the RESULT chunk by the acknowledgement: shrink the frame, write
 * the new headers and compute both checksums. */
static __always_inline int ack_result(struct xdp_md *ctx, struct sg_wire_hdr *h)
{
	struct ack_csum ac = {};
	struct iphdr iph;
	struct ethhdr eth;
	struct udphdr *udp;
	struct iphdr *ip;
	void *data, *data_end;
	__u8 *payload;
	__s64 s;
	int delta;

	if (!valid_request(h))
		return XDP_DROP;
	if (h->chunk + h->span != h->nchunks)
		return XDP_DROP; /* acknowledged on the last chunk */
	ac.hdr = (struct sg_wire_hdr){
		.magic = SG_WIRE_MAGIC,
		.version = SG_WIRE_VERSION,
		.type = SG_WIRE_RESPONSE,
		.dtype = SG_UINT8,
		.op = SG_OP_BOR,
		.coll_id = h->coll_id | SG_COLL_ACK,
		.count = 1,
		.msg_len = ACK_PAYLOAD,
		.chunk = 0,
		.nchunks = 1,
		.span = 1,
		.len = ACK_PAYLOAD,
		.nonce = h->nonce,
		.auth = h->auth,	/* the result's token, echoed */
		.seg_first = h->coll_id | SG_COLL_ACK,	/* unsegmented: its own whole */
		.nsegs = 1,
		.whole_len = ACK_PAYLOAD,
		.whole_count = 1,
	};
	ac.payload[0] = 1;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + L2L3L4 > data_end)
		return XDP_DROP;
	__builtin_memcpy(&eth, data, sizeof(eth));
	__builtin_memcpy(&iph, data + sizeof(eth), sizeof(iph));
	__builtin_memcpy(&ac.udp, data + sizeof(eth) + sizeof(iph), sizeof(ac.udp));
	swap_addrs(&eth, &iph, &ac.udp);

	delta = (int)ACK_FRAME_LEN - (int)(data_end - data);
	if (delta > 0) /* a RESULT chunk carries at least one byte: never larger */
		return XDP_DROP;
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ACK_FRAME_LEN > data_end)
		return XDP_ABORTED;

	iph.tot_len = bpf_htons(ACK_IP_LEN);
	iph.check = 0;
	s = bpf_csum_diff(NULL, 0, (__be32 *)&iph, sizeof(iph), 0);
	if (s < 0)
		return XDP_ABORTED;
	iph.check = csum_fold((__u32)s);

	ac.saddr = iph.saddr;
	ac.daddr = iph.daddr;
	ac.proto = IPPROTO_UDP;
	ac.len = bpf_htons(ACK_UDP_LEN);
	ac.udp.len = bpf_htons(ACK_UDP_LEN);
	ac.udp.check = 0;
	s = bpf_csum_diff(NULL, 0, (__be32 *)&ac, sizeof(ac), 0);
	if (s < 0)
		return XDP_ABORTED;
	ac.udp.check = csum_fold((__u32)s) ?: 0xffff;

	__builtin_memcpy(data, &eth, sizeof(eth));
	ip = data + sizeof(eth);
	__builtin_memcpy(ip, &iph, sizeof(iph));
	udp = (void *)(ip + 1);
	__builtin_memcpy(udp, &ac.udp, sizeof(ac.udp));
	__builtin_memcpy(udp + 1, &ac.hdr, sizeof(ac.hdr));
	payload = (__u8 *)(udp + 1) + SG_WIRE_HDR_LEN;
	payload[0] = 1;
	count(REFL_TX);
	return XDP_TX;
}

SEC("xdp")
int reflector(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sg_wire_hdr *h;
	struct sg_l4 l4;
	__u16 dport;

	if (sg_parse_udp(data, data_end, &l4))
		return XDP_PASS;
	dport = bpf_ntohs(l4.udp->dest);
	if (dport < port_lo || dport - port_lo >= nports)
		return XDP_PASS;
	h = sg_parse_hdr(&l4, data_end, 0);
	if (!h || h->type == SG_WIRE_RESPONSE)
		return XDP_PASS;
	count(REFL_RX);
	if (l4.udp_off != sizeof(struct ethhdr) + sizeof(struct iphdr)) {
		count(REFL_UNSUPPORTED); /* IP options */
		return XDP_DROP;
	}
	switch (h->type) {
	case SG_WIRE_SCATTER:
		return reflect_scatter(data, &l4, h);
	case SG_WIRE_RESULT:
		return ack_result(ctx, h);
	default: /* BCAST */
		return XDP_DROP;
	}
}

/* For the veth peers of the reflecting interfaces: a veth delivers XDP_TX
 * frames to its peer only when the peer runs NAPI, which an attached XDP
 * program turns on. */
SEC("xdp")
int reflector_peer(struct xdp_md *ctx)
{
	return XDP_PASS;
}
