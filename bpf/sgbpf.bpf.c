// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sgbpf datapath.
 *
 * sg_scatter (TC egress): a request, broadcast or result the coordinator sent
 * once to its first worker is cloned to every worker of its communicator,
 * rewriting the destination MAC, IP and port and fixing both checksums.
 *
 * sg_gather (XDP): a worker's contribution chunk is validated (header, lengths,
 * known source, current collective, nonce, admission under the completion
 * policy), copied to per-CPU scratch and handed by tail call to the fold
 * program of the collective's op, which folds it into the chunk's accumulator
 * exactly once per worker, counts the worker's progress and, when the policy
 * is met, posts a completion event to the ring buffer. Every contribution is
 * dropped: the application never sees it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sgbpf.bpf.h"
#include "parse.bpf.h"
#include "fold.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ------------------------------------------------------------------ scatter */

struct sg_fanout_loop {
	struct __sk_buff *skb;
	struct sg_stats *st;
	__u32 base;		/* first fan-out entry of the communicator */
	__u32 n;		/* workers */
	__u32 ip_off;
	__u32 udp_off;
	__u32 old_ip;		/* destination the packet carries now */
	__u16 old_port;
};

/* Point the packet at worker @i and, for all but the last worker, send a clone
 * (the original goes to the last). Only offset-based helpers: packet pointers
 * do not survive bpf_clone_redirect. */
static long sg_fanout_one(__u32 i, void *ctx)
{
	struct sg_fanout_loop *fl = ctx;
	struct __sk_buff *skb = fl->skb;
	__u32 key = fl->base + i, csum_off = fl->udp_off + offsetof(struct udphdr, check);
	struct sg_fanout_entry *fe;

	fe = bpf_map_lookup_elem(&fanout, &key);
	if (!fe)
		return 1;
	/* A zero UDP checksum means "none" and stays zero. */
	bpf_l4_csum_replace(skb, csum_off, fl->old_ip, fe->ip,
			    BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(fe->ip));
	bpf_l4_csum_replace(skb, csum_off, fl->old_port, fe->port,
			    BPF_F_MARK_MANGLED_0 | sizeof(fe->port));
	bpf_l3_csum_replace(skb, fl->ip_off + offsetof(struct iphdr, check), fl->old_ip, fe->ip,
			    sizeof(fe->ip));
	bpf_skb_store_bytes(skb, fl->ip_off + offsetof(struct iphdr, daddr), &fe->ip,
			    sizeof(fe->ip), 0);
	bpf_skb_store_bytes(skb, fl->udp_off + offsetof(struct udphdr, dest), &fe->port,
			    sizeof(fe->port), 0);
	bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), fe->mac, ETH_ALEN, 0);
	fl->old_ip = fe->ip;
	fl->old_port = fe->port;
	if (i + 1 < fl->n && bpf_clone_redirect(skb, skb->ifindex, 0) < 0)
		return 0;
	SG_STAT_INC(fl->st, tx_fanout);
	return 0;
}

SEC("tc")
int sg_scatter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct sg_fanout_loop fl = { .skb = skb };
	struct sg_comm_cfg *cfg;
	struct sg_wire_hdr *hdr;
	struct sg_l4 l4;
	__u32 *comm, first;

	if (skb->mark == SG_CLONE_MARK)
		return TC_ACT_OK;
	if (sg_parse_udp(data, data_end, &l4) < 0)
		return TC_ACT_OK;
	comm = bpf_map_lookup_elem(&comm_by_port, &l4.udp->source);
	if (!comm)
		return TC_ACT_OK;
	cfg = bpf_map_lookup_elem(&comms, comm);
	if (!cfg || !cfg->active || (cfg->local_ip && l4.ip->saddr != cfg->local_ip))
		return TC_ACT_OK;
	hdr = sg_parse_hdr(&l4, data_end);
	if (!hdr || hdr->type == SG_WIRE_RESPONSE)
		return TC_ACT_OK;
	/* The payload may lie past the linear data: check the whole length. */
	if (skb->len < l4.ip_off + bpf_ntohs(l4.ip->tot_len))
		return TC_ACT_OK;
	/* This datagram goes to one batch of the workers. */
	first = hdr->fanout_first;
	if (cfg->nworkers > SG_MAX_WORKERS || first >= cfg->nworkers)
		return TC_ACT_OK;
	fl.n = cfg->nworkers - first;
	if (fl.n > SG_FANOUT_BATCH)
		fl.n = SG_FANOUT_BATCH;
	fl.base = *comm * SG_MAX_WORKERS + first;
	fl.ip_off = l4.ip_off;
	fl.udp_off = l4.udp_off;
	fl.old_ip = l4.ip->daddr;
	fl.old_port = l4.udp->dest;
	fl.st = bpf_map_lookup_elem(&stats, comm);
	/* Clones inherit the mark and pass through this hook untouched. */
	skb->mark = SG_CLONE_MARK;
	bpf_loop(fl.n, sg_fanout_one, &fl, 0);
	return TC_ACT_OK;
}

/* ------------------------------------------------------------------- gather */

static __always_inline int sg_fold_chunk(int op)
{
	__u32 zero = 0, key, w, word, p;
	struct sg_chunk_state *cs;
	struct sg_fold_ctx *fc;
	struct sg_stats *st;
	struct sg_slot *slot;
	struct sg_event *ev;
	__u64 bit;
	void *acc;
	int first, done = 0, ndone = 0;

	fc = bpf_map_lookup_elem(&fold_scratch, &zero);
	if (!fc)
		return XDP_DROP;
	st = bpf_map_lookup_elem(&stats, &fc->comm);
	key = (fc->slot % SG_TOTAL_SLOTS) * SG_MAX_CHUNKS + (fc->chunk % SG_MAX_CHUNKS);
	cs = bpf_map_lookup_elem(&chunks, &key);
	acc = bpf_map_lookup_elem(&results, &key);
	slot = bpf_map_lookup_elem(&slots, &fc->slot);
	if (!cs || !acc || !slot)
		return XDP_DROP;
	w = fc->worker % SG_MAX_WORKERS;
	word = w / 64;
	bit = 1ULL << (w % 64);

	bpf_spin_lock(&cs->lock);
	if (cs->coll_id != fc->coll_id) {
		if ((__s32)(fc->coll_id - cs->coll_id) < 0) {
			bpf_spin_unlock(&cs->lock);
			SG_STAT_INC(st, rx_stale);
			return XDP_DROP;
		}
		/* First chunk of a newer collective in this slot. */
		cs->coll_id = fc->coll_id;
		cs->ncontrib = 0;
		for (int i = 0; i < SG_WORKER_WORDS; i++)
			cs->seen[i] = 0;
	}
	if (cs->seen[word] & bit) {
		bpf_spin_unlock(&cs->lock);
		SG_STAT_INC(st, rx_duplicate);
		return XDP_DROP;
	}
	cs->seen[word] |= bit;
	first = cs->ncontrib++ == 0;
	if (first)
		sg_fold_copy(acc, fc->data, fc->len);
	else
		sg_fold(acc, fc->data, fc->len, fc->dtype, op);
	bpf_spin_unlock(&cs->lock);
	SG_STAT_INC(st, rx_accepted);

	bpf_spin_lock(&slot->lock);
	if (slot->active && slot->coll_id == fc->coll_id) {
		p = ++slot->progress[w];
		if (p == slot->nchunks) {
			slot->done[word] |= bit;
			ndone = ++slot->ndone;
			if (ndone == slot->target) {
				slot->complete = 1;
				done = 1;
			}
		}
	}
	bpf_spin_unlock(&slot->lock);

	if (done) {
		SG_STAT_INC(st, completed);
		ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
		if (ev) {
			ev->comm = fc->comm;
			ev->slot = fc->slot % SG_SLOTS;
			ev->coll_id = fc->coll_id;
			ev->ndone = ndone;
			bpf_ringbuf_submit(ev, 0);
		}
	}
	return XDP_DROP;
}

#define SG_DEFINE_FOLD_PROG(name, op)						\
	SEC("xdp") int sg_fold_##name(struct xdp_md *ctx) { return sg_fold_chunk(op); }

SG_DEFINE_FOLD_PROG(sum, SG_OP_SUM)
SG_DEFINE_FOLD_PROG(prod, SG_OP_PROD)
SG_DEFINE_FOLD_PROG(min, SG_OP_MIN)
SG_DEFINE_FOLD_PROG(max, SG_OP_MAX)
SG_DEFINE_FOLD_PROG(band, SG_OP_BAND)
SG_DEFINE_FOLD_PROG(bor, SG_OP_BOR)
SG_DEFINE_FOLD_PROG(bxor, SG_OP_BXOR)

/* Fold programs indexed by enum sg_op, filled by libbpf at load time. A
 * user-supplied op will be one more entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SG_OP_COUNT);
	__uint(key_size, sizeof(__u32));	/* no BTF key: prog arrays reject it */
	__array(values, int(struct xdp_md *));
} fold_progs SEC(".maps") = {
	.values = {
		[SG_OP_SUM] = (void *)&sg_fold_sum,
		[SG_OP_PROD] = (void *)&sg_fold_prod,
		[SG_OP_MIN] = (void *)&sg_fold_min,
		[SG_OP_MAX] = (void *)&sg_fold_max,
		[SG_OP_BAND] = (void *)&sg_fold_band,
		[SG_OP_BOR] = (void *)&sg_fold_bor,
		[SG_OP_BXOR] = (void *)&sg_fold_bxor,
	},
};

SEC("xdp")
int sg_gather(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sg_worker_key wkey = {};
	struct sg_comm_cfg *cfg;
	struct sg_wire_hdr *hdr;
	struct sg_fold_ctx *fc;
	struct sg_slot *slot;
	struct sg_stats *st;
	struct sg_l4 l4;
	__u32 zero = 0, *comm, *worker, slot_idx, coll_id, len, chunk, expect, word;
	__u64 nonce, bit;
	__u8 dtype, op;
	int verdict = 0; /* 0 ok, 1 stale, 2 malformed, 3 late */

	if (sg_parse_udp(data, data_end, &l4) < 0)
		return XDP_PASS;
	comm = bpf_map_lookup_elem(&comm_by_port, &l4.udp->dest);
	if (!comm)
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&comms, comm);
	if (!cfg || !cfg->active || (cfg->local_ip && l4.ip->daddr != cfg->local_ip))
		return XDP_PASS;
	/* From here on the datagram is addressed to a communicator: whatever is
	 * wrong with it, it is dropped and counted. */
	st = bpf_map_lookup_elem(&stats, comm);
	/* Strangers first: their bytes are not even parsed. */
	wkey.comm = *comm;
	wkey.ip = l4.ip->saddr;
	wkey.port = l4.udp->source;
	worker = bpf_map_lookup_elem(&worker_by_addr, &wkey);
	if (!worker) {
		SG_STAT_INC(st, rx_unknown_src);
		return XDP_DROP;
	}
	hdr = sg_parse_hdr(&l4, data_end);
	if (!hdr || hdr->type != SG_WIRE_RESPONSE || hdr->len == 0)
		goto malformed;

	coll_id = hdr->coll_id;
	chunk = hdr->chunk;
	nonce = hdr->nonce;
	dtype = hdr->dtype;
	op = hdr->op;
	len = hdr->len;
	if (chunk >= SG_MAX_CHUNKS || hdr->nchunks > SG_MAX_CHUNKS || hdr->chunk >= hdr->nchunks)
		goto malformed;
	expect = hdr->msg_len - chunk * SG_CHUNK_BYTES;
	if (hdr->msg_len > SG_MAX_MSG_BYTES || hdr->msg_len <= chunk * SG_CHUNK_BYTES ||
	    len != (expect < SG_CHUNK_BYTES ? expect : SG_CHUNK_BYTES))
		goto malformed;

	fc = bpf_map_lookup_elem(&fold_scratch, &zero);
	slot_idx = *comm * SG_SLOTS + coll_id % SG_SLOTS;
	slot = bpf_map_lookup_elem(&slots, &slot_idx);
	if (!fc || !slot)
		return XDP_DROP;
	len &= 2 * SG_CHUNK_BYTES - 1;
	if (len == 0 || len > SG_CHUNK_BYTES)
		goto malformed;
	if (bpf_xdp_load_bytes(ctx, l4.udp_off + sizeof(struct udphdr) + SG_WIRE_HDR_LEN,
			       fc->data, len) < 0)
		goto malformed;
	word = (*worker % SG_MAX_WORKERS) / 64;
	bit = 1ULL << (*worker % 64);

	/* Validate against the collective the slot holds and admit the worker
	 * under the completion policy, in one critical section. */
	bpf_spin_lock(&slot->lock);
	if (!slot->active || slot->coll_id != coll_id)
		verdict = 1;
	else if (slot->nonce != nonce || slot->dtype != dtype || slot->op != op ||
		 slot->msg_len != hdr->msg_len || slot->count != hdr->count ||
		 slot->nchunks != hdr->nchunks)
		verdict = 2;
	else if (!(slot->admitted[word] & bit)) {
		if (slot->nadmitted < slot->target) {
			slot->admitted[word] |= bit;
			slot->nadmitted++;
		} else {
			verdict = 3;
		}
	}
	bpf_spin_unlock(&slot->lock);
	if (verdict == 1) {
		SG_STAT_INC(st, rx_stale);
		return XDP_DROP;
	}
	if (verdict == 2)
		goto malformed;
	if (verdict == 3) {
		SG_STAT_INC(st, rx_late);
		return XDP_DROP;
	}

	fc->comm = *comm;
	fc->slot = slot_idx;
	fc->chunk = chunk;
	fc->worker = *worker;
	fc->coll_id = coll_id;
	fc->len = len;
	fc->dtype = dtype;
	bpf_tail_call(ctx, &fold_progs, op);
malformed:
	SG_STAT_INC(st, rx_malformed);
	return XDP_DROP;
}
