// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The sgbpf datapath.
 *
 * sg_scatter (TC egress): a request, broadcast or result the coordinator sent
 * once to its first worker is cloned to every worker of its communicator,
 * rewriting the destination MAC, IP and port and the worker's authenticator
 * and fixing both checksums.
 *
 * sg_gather (XDP): a worker's contribution chunk is validated (header, lengths,
 * known source and its authenticator, current collective, nonce, admission
 * under the completion policy), copied to per-CPU scratch and handed by tail
 * call to the fold
 * program of the collective's op, which folds it into the chunk's accumulator
 * exactly once per worker, counts the worker's progress and, when the policy
 * is met, posts a completion event to the communicator's ring buffer. Every
 * contribution is dropped: the application never sees it.
 *
 * sg_collect (never attached): run by user space with BPF_PROG_TEST_RUN when
 * a collective's deadline passed, it retires the collective and reports
 * which of its chunks hold exactly its done workers' contributions, under
 * the slot's and the chunks' locks (struct sg_partial).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.bpf.h"
#include "admit.bpf.h"
#include "parse.bpf.h"
#include "fold.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ------------------------------------------------------------------ scatter */

/* Arm the slot of the collective a coordinator SCATTER or RESULT datagram
 * belongs to from the slot's descriptor, the first time one of its datagrams
 * passes. The descriptor must be this datagram's (id, nonce, and for a request
 * the reduction it announces), or nothing is armed and it is counted: only the
 * communicator's own socket reaches here, but the descriptor is user memory.
 * The generation decides: a newer one arms (resetting what the gather program
 * counts), the same one is a later chunk, batch or retransmission of the
 * collective already armed, an older one is stale; so arming is idempotent
 * and never goes back in time (sg_slot_arm()). */
static __always_inline void sg_arm_slot(__u32 comm, struct sg_wire_hdr *hdr, struct sg_stats *st)
{
	__u32 key = comm * SG_SLOTS + hdr->coll_id % SG_SLOTS, want = hdr->coll_id;
	struct sg_arm_desc *dp, d;
	struct sg_slot *slot;
	int armed;

	if (hdr->type == SG_WIRE_RESULT)
		want |= SG_COLL_ACK;	/* an allgather's delivery collects acks */
	else if (hdr->type != SG_WIRE_SCATTER)
		return;
	dp = bpf_map_lookup_elem(&arm_descs, &key);
	slot = bpf_map_lookup_elem(&slots, &key);
	if (!dp || !slot)
		return;
	/* Read once (volatile): what is checked is what is armed. */
	d = *(volatile struct sg_arm_desc *)dp;
	if (d.coll_id != want || d.nonce != hdr->nonce ||
	    (hdr->type == SG_WIRE_SCATTER &&
	     (d.dtype != hdr->dtype || d.op != hdr->op || d.count != hdr->count))) {
		SG_STAT_INC(st, tx_arm_mismatch);
		return;
	}
	bpf_spin_lock(&slot->lock);
	armed = sg_slot_arm(slot, &d);
	bpf_spin_unlock(&slot->lock);
	if (armed)
		SG_STAT_INC(st, tx_armed);
}

struct sg_fanout_loop {
	struct __sk_buff *skb;
	struct sg_stats *st;
	const struct sg_comm_cfg *cfg;
	__u64 nonce;
	__u32 coll_id;
	__u32 first;		/* rank of worker 0 of this batch */
	__u64 old_auth;		/* authenticator the packet carries now */
	__u32 base;		/* first fan-out entry of the communicator */
	__u32 n;		/* workers */
	__u32 ip_off;
	__u32 udp_off;
	__u32 old_ip;		/* destination the packet carries now */
	__u16 old_port;
	__u32 nseg;		/* datagrams of a GSO send (1: a datagram) */
	__u32 seg;		/* bytes of each of them but the last */
	__be32 saddr;		/* GSO sends: for the pseudo-header sum */
	__be16 udp_len;
};

/* The UDP checksum field of a GSO send before segmentation: the sum of the
 * pseudo-header, which segmentation completes per datagram (in the NIC, or in
 * software where the interface cannot checksum; the kernel then sends
 * CHECKSUM_NONE super-packets whose field still means this, so incremental
 * fixes of a final checksum would be wrong there). Ports and payload are
 * summed later, with whatever they hold then. */
static __always_inline __u16 sg_pseudo_sum(__be32 saddr, __be32 daddr, __be16 udp_len)
{
	struct {
		__be32 saddr, daddr;
		__u8 zero, proto;
		__be16 len;
	} ph = { .saddr = saddr, .daddr = daddr, .proto = IPPROTO_UDP, .len = udp_len };
	__u64 sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

struct sg_seg_check {
	struct __sk_buff *skb;
	const struct sg_wire_hdr *first;
	__u32 off;		/* of the first datagram's header */
	__u32 seg;
	__u32 nseg;
	__u32 total;		/* UDP payload bytes of the whole send */
	int bad;
};

/* Datagram @k of a GSO send must be a chunk of the same message, batch and
 * collective as the first, with right framing and geometry: the fan-out
 * treats the send as one. */
static long sg_check_seg(__u32 k, void *ctx)
{
	struct sg_seg_check *sc = ctx;
	const struct sg_wire_hdr *f = sc->first;
	struct sg_wire_hdr h;
	__u32 len = k + 1 < sc->nseg ? sc->seg : sc->total - k * sc->seg;

	if (k == 0)
		return 0;
	if (len < SG_WIRE_HDR_LEN ||
	    bpf_skb_load_bytes(sc->skb, sc->off + k * sc->seg, &h, sizeof(h)) < 0 ||
	    !sg_wire_framing_ok(&h, len - SG_WIRE_HDR_LEN) || !sg_wire_geometry_ok(&h) ||
	    h.type != f->type || h.dtype != f->dtype || h.op != f->op ||
	    h.coll_id != f->coll_id || h.count != f->count || h.msg_len != f->msg_len ||
	    h.flags != f->flags || h.fanout_first != f->fanout_first || h.nonce != f->nonce ||
	    h.answer_room != f->answer_room ||
	    h.auth != f->auth || h.seg_first != f->seg_first || h.seg != f->seg ||
	    h.nsegs != f->nsegs || h.whole_len != f->whole_len || h.whole_count != f->whole_count) {
		sc->bad = 1;
		return 1;
	}
	return 0;
}

/* Point the packet at worker @i with that worker's authenticator and, for all
 * but the last worker, send a clone (the original goes to the last). Only
 * offset-based helpers: packet pointers do not survive bpf_clone_redirect. */
static long sg_fanout_one(__u32 i, void *ctx)
{
	struct sg_fanout_loop *fl = ctx;
	struct __sk_buff *skb = fl->skb;
	__u32 key = fl->base + i, csum_off = fl->udp_off + offsetof(struct udphdr, check);
	__u32 hdr_off = fl->udp_off + sizeof(struct udphdr);
	struct sg_fanout_entry *fe;
	__u64 auth;
	__s64 diff;

	fe = bpf_map_lookup_elem(&fanout, &key);
	if (!fe)
		return 1;
	auth = sg_wire_token(fl->cfg->key, fl->nonce, fl->coll_id, fl->first + i);
	if (fl->nseg > 1) {
		__u16 ps = sg_pseudo_sum(fl->saddr, fe->ip, fl->udp_len);

		bpf_skb_store_bytes(skb, csum_off, &ps, sizeof(ps), 0);
		/* Every datagram of the send has its header and its token. */
		for (__u32 k = 0; k < SG_GSO_MAX_SEGS; k++) {
			if (k >= fl->nseg)
				break;
			bpf_skb_store_bytes(skb, hdr_off + k * fl->seg +
					    offsetof(struct sg_wire_hdr, auth), &auth, sizeof(auth), 0);
		}
	} else {
		/* A zero UDP checksum means "none" and stays zero. */
		bpf_l4_csum_replace(skb, csum_off, fl->old_ip, fe->ip,
				    BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(fe->ip));
		bpf_l4_csum_replace(skb, csum_off, fl->old_port, fe->port,
				    BPF_F_MARK_MANGLED_0 | sizeof(fe->port));
		diff = bpf_csum_diff((__be32 *)&fl->old_auth, sizeof(auth), (__be32 *)&auth,
				     sizeof(auth), 0);
		bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_MARK_MANGLED_0);
		bpf_skb_store_bytes(skb, hdr_off + offsetof(struct sg_wire_hdr, auth), &auth,
				    sizeof(auth), 0);
	}
	bpf_l3_csum_replace(skb, fl->ip_off + offsetof(struct iphdr, check), fl->old_ip, fe->ip,
			    sizeof(fe->ip));
	bpf_skb_store_bytes(skb, fl->ip_off + offsetof(struct iphdr, daddr), &fe->ip,
			    sizeof(fe->ip), 0);
	bpf_skb_store_bytes(skb, fl->udp_off + offsetof(struct udphdr, dest), &fe->port,
			    sizeof(fe->port), 0);
	bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), fe->mac, ETH_ALEN, 0);
	fl->old_ip = fe->ip;
	fl->old_port = fe->port;
	fl->old_auth = auth;
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

	if (sg_parse_udp(data, data_end, &l4) < 0)
		return TC_ACT_OK;
	hdr = (void *)(l4.udp + 1);
	/* A GSO send keeps its payload in paged data: bring the first header
	 * into the linear part. */
	if ((void *)(hdr + 1) > data_end) {
		__u32 want = l4.udp_off + sizeof(struct udphdr) + SG_WIRE_HDR_LEN;

		if (want > skb->len || bpf_skb_pull_data(skb, want) < 0)
			return TC_ACT_OK;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (sg_parse_udp(data, data_end, &l4) < 0)
			return TC_ACT_OK;
		hdr = (void *)(l4.udp + 1);
	}
	/* A clone of ours coming back through the hook carries a worker's
	 * token (the application sends with none): out at once, before any
	 * lookup, since every clone passes here. Whatever else carries a
	 * token there is only left uncloned. */
	if ((void *)(hdr + 1) <= data_end && hdr->auth && !(hdr->flags & SG_WIRE_F_UNICAST))
		return TC_ACT_OK;
	comm = bpf_map_lookup_elem(&comm_by_port, &l4.udp->source);
	if (!comm)
		return TC_ACT_OK;
	cfg = bpf_map_lookup_elem(&comms, comm);
	if (!cfg || !cfg->active || (cfg->local_ip && l4.ip->saddr != cfg->local_ip))
		return TC_ACT_OK;
	/* Only what the coordinator's own socket sends: not forwarded or
	 * bridged traffic that claims its address, nor another local socket. */
	if (cfg->sock_cookie && bpf_get_socket_cookie(skb) != cfg->sock_cookie)
		return TC_ACT_OK;
	/* A UDP GSO send: several datagrams, segmented after this hook. */
	if (skb->gso_segs > 1) {
		fl.nseg = skb->gso_segs;
		fl.seg = skb->gso_size;
		if (fl.nseg > SG_GSO_MAX_SEGS || fl.seg < SG_WIRE_HDR_LEN)
			return TC_ACT_OK;
	} else {
		fl.nseg = 1;
		fl.seg = 0;
	}
	hdr = sg_parse_hdr(&l4, data_end, fl.seg);
	if (!hdr || hdr->type == SG_WIRE_RESPONSE || !sg_wire_geometry_ok(hdr))
		return TC_ACT_OK;
	/* The payload may lie past the linear data: check the whole length. */
	if (skb->len < l4.ip_off + bpf_ntohs(l4.ip->tot_len))
		return TC_ACT_OK;
	if (fl.nseg > 1) {
		struct sg_wire_hdr first = *hdr;
		struct sg_seg_check sc = {
			.skb = skb,
			.first = &first,
			.off = l4.udp_off + sizeof(struct udphdr),
			.seg = fl.seg,
			.nseg = fl.nseg,
			.total = bpf_ntohs(l4.udp->len) - sizeof(struct udphdr),
		};

		/* As many datagrams as the kernel will cut, each a chunk of
		 * this message. */
		if ((sc.total + fl.seg - 1) / fl.seg != fl.nseg)
			return TC_ACT_OK;
		bpf_loop(fl.nseg, sg_check_seg, &sc, 0);
		if (sc.bad)
			return TC_ACT_OK;
		/* The loop may have moved the packet data: re-derive. */
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (sg_parse_udp(data, data_end, &l4) < 0)
			return TC_ACT_OK;
		hdr = sg_parse_hdr(&l4, data_end, fl.seg);
		if (!hdr)
			return TC_ACT_OK;
	}
	fl.st = bpf_map_lookup_elem(&stats, comm);
	/* Unicast datagrams too: if the first send never reached this hook, a
	 * retransmission arms the slot (once: the generation says so). */
	sg_arm_slot(*comm, hdr, fl.st);
	if (hdr->flags & SG_WIRE_F_UNICAST)
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
	fl.saddr = l4.ip->saddr;
	fl.udp_len = l4.udp->len;
	fl.cfg = cfg;
	fl.nonce = hdr->nonce;
	fl.coll_id = hdr->coll_id;
	fl.first = first;
	fl.old_auth = 0;
	bpf_loop(fl.n, sg_fanout_one, &fl, 0);
	return TC_ACT_OK;
}

/* ------------------------------------------------------------------- gather */

/* Fold programs indexed by op, and float SUMs by type from SG_FOLD_FSUM
 * (sg_fold_fsum()): the built-in ones filled by libbpf at load time, user
 * aggregation programs from SG_OP_USER on by the loader. Declared ahead of
 * the programs, which tail-call it for a datagram's next chunk. */
#define SG_FOLD_FSUM SG_OP_COUNT
_Static_assert(SG_FOLD_FSUM + 4 <= SG_OP_USER, "fold program indices");

static __always_inline __u32 sg_fold_prog(__u8 op, __u8 dtype, __u32 comm)
{
	if (op == SG_OP_USER)
		return SG_OP_USER + comm;	/* the communicator's aggregation program */
	if (op != SG_OP_SUM || !sg_wire_dtype_fsum(dtype))
		return op;
	return SG_FOLD_FSUM + (dtype == SG_FLOAT32 ? 0 : dtype == SG_FLOAT64 ? 1 :
			       dtype == SG_FLOAT16 ? 2 : 3);
}

int sg_fold_sum(struct xdp_md *ctx);
int sg_fold_fsum32(struct xdp_md *ctx);
int sg_fold_fsum64(struct xdp_md *ctx);
int sg_fold_fsum16(struct xdp_md *ctx);
int sg_fold_fsumbf16(struct xdp_md *ctx);
int sg_fold_prod(struct xdp_md *ctx);
int sg_fold_min(struct xdp_md *ctx);
int sg_fold_max(struct xdp_md *ctx);
int sg_fold_band(struct xdp_md *ctx);
int sg_fold_bor(struct xdp_md *ctx);
int sg_fold_bxor(struct xdp_md *ctx);
int sg_fold_maxloc(struct xdp_md *ctx);
int sg_fold_minloc(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SG_OP_USER + SG_MAX_COMMS);
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
		[SG_OP_MAXLOC] = (void *)&sg_fold_maxloc,
		[SG_OP_MINLOC] = (void *)&sg_fold_minloc,
		[SG_FOLD_FSUM + 0] = (void *)&sg_fold_fsum32,
		[SG_FOLD_FSUM + 1] = (void *)&sg_fold_fsum64,
		[SG_FOLD_FSUM + 2] = (void *)&sg_fold_fsum16,
		[SG_FOLD_FSUM + 3] = (void *)&sg_fold_fsumbf16,
	},
};

/* The end of every chunk's way: count its verdict and, for a folded chunk,
 * the worker's progress; complete the collective when its policy is met. */
/* Hand the datagram's next chunk, if any, to the fold program: load its
 * bytes and tail-call (returns only when there is none, or on failure). */
static __always_inline void sg_gather_next(struct xdp_md *ctx, struct sg_fold_ctx *fc)
{
	__u32 len;

	if (!fc->span_left)
		return;
	fc->span_left--;
	fc->chunk++;
	fc->entry++;
	len = sg_wire_chunk_len_of(fc->msg_len, fc->chunk, fc->chunk_bytes) & (SG_ACC_BYTES - 1);
	if (len == 0 ||
	    bpf_xdp_load_bytes(ctx, fc->next_off & 0xffff, fc->data, len) < 0)
		return;
	fc->next_off += len;
	fc->len = len;
	fc->verdict = SG_VERDICT_ACCEPT;
	bpf_tail_call(ctx, &fold_progs, fc->prog);
}

static __always_inline int sg_chunk_done(struct sg_fold_ctx *fc)
{
	struct sg_stats *st = bpf_map_lookup_elem(&stats, &fc->comm);
	struct sg_completion *comp;
	struct sg_comm_cfg *cfg;
	struct sg_slot *slot;
	__u32 ndone = 0;
	void *ring;
	int done;

	sg_verdict_count(st, fc->verdict);
	if (fc->verdict != SG_VERDICT_ACCEPT)
		return XDP_DROP;
	slot = bpf_map_lookup_elem(&slots, &fc->slot);
	if (!slot)
		return XDP_DROP;
	bpf_spin_lock(&slot->lock);
	done = sg_slot_progress(slot, fc->gen, fc->worker, &ndone);
	bpf_spin_unlock(&slot->lock);

	cfg = bpf_map_lookup_elem(&comms, &fc->comm);
	if (done) {
		SG_STAT_INC(st, completed);
		comp = bpf_map_lookup_elem(&completions, &fc->slot);
		if (comp) {
			comp->ndone = ndone;
			/* Full barrier: user space sees ndone once it sees gen. */
			__sync_lock_test_and_set(&comp->gen, fc->gen);
		}
		ring = bpf_map_lookup_elem(&events, &fc->comm);
		if (ring && cfg && !(cfg->flags & SG_CFG_NO_EVENTS)) {
			struct sg_event *ev = bpf_ringbuf_reserve(ring, sizeof(*ev), 0);

			if (ev) {
				ev->comm = fc->comm;
				ev->slot = fc->slot % SG_SLOTS;
				ev->coll_id = fc->coll_id;
				ev->ndone = ndone;
				bpf_ringbuf_submit(ev, 0);
			}
		}
	}
	return cfg && (cfg->flags & SG_CFG_PASS) ? XDP_PASS : XDP_DROP;
}

/* The end of a datagram's chunk: done with it, on to the next one. Returns
 * the datagram's fate once the last one is done. */
static __always_inline int sg_gather_finish(struct xdp_md *ctx, struct sg_fold_ctx *fc)
{
	int verdict = sg_chunk_done(fc);

	sg_gather_next(ctx, fc);
	return verdict;
}

/* Every XDP program of the datapath declares frags (xdp.frags): a driver
 * needs it to run XDP on an interface whose MTU exceeds a page (jumbo frames
 * on veth, for one), and the programs of one tail-call array must agree. A
 * chunk datagram always fits a 1500-byte MTU, so its headers are in the
 * linear part; payloads are copied with bpf_xdp_load_bytes(), which reads
 * across frags. */

/* Tail-called by sg_agg_end() of aggregation programs (sgbpf/agg.bpf.h). */
SEC("xdp.frags")
int sg_finish(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct sg_fold_ctx *fc = bpf_map_lookup_elem(&fold_scratch, &zero);

	return fc ? sg_gather_finish(ctx, fc) : XDP_DROP;
}

/* The built-in ops finish inline: no tail call of their own. @fsum_dtype is
 * the float type of a float SUM program, or 0 (SG_INT8: never a float). */
static __always_inline int sg_fold_builtin(struct xdp_md *ctx, int op, __u8 fsum_dtype)
{
	struct sg_agg a;
	int verdict = sg_agg_begin(ctx, &a);

	if (verdict)
		return verdict;
	if (fsum_dtype)
		sg_fold_fsum(a.acc, a.aux, a.fc->data, a.fc->len, fsum_dtype, a.first);
	else
		sg_fold_elems(a.acc, a.fc->data, a.fc->len, a.fc->dtype, op, a.first);
	sg_agg_unlock(&a);
	a.fc->verdict = SG_VERDICT_ACCEPT;
	return sg_gather_finish(ctx, a.fc);
}

#define SG_DEFINE_FOLD_PROG(name, op, fsum_dtype)				\
	SEC("xdp.frags") int sg_fold_##name(struct xdp_md *ctx)		\
	{ return sg_fold_builtin(ctx, op, fsum_dtype); }

SG_DEFINE_FOLD_PROG(sum, SG_OP_SUM, 0)
SG_DEFINE_FOLD_PROG(prod, SG_OP_PROD, 0)
SG_DEFINE_FOLD_PROG(min, SG_OP_MIN, 0)
SG_DEFINE_FOLD_PROG(max, SG_OP_MAX, 0)
SG_DEFINE_FOLD_PROG(band, SG_OP_BAND, 0)
SG_DEFINE_FOLD_PROG(bor, SG_OP_BOR, 0)
SG_DEFINE_FOLD_PROG(bxor, SG_OP_BXOR, 0)
SG_DEFINE_FOLD_PROG(maxloc, SG_OP_MAXLOC, 0)
SG_DEFINE_FOLD_PROG(minloc, SG_OP_MINLOC, 0)
SG_DEFINE_FOLD_PROG(fsum32, SG_OP_SUM, SG_FLOAT32)
SG_DEFINE_FOLD_PROG(fsum64, SG_OP_SUM, SG_FLOAT64)
SG_DEFINE_FOLD_PROG(fsum16, SG_OP_SUM, SG_FLOAT16)
SG_DEFINE_FOLD_PROG(fsumbf16, SG_OP_SUM, SG_BFLOAT16)


/* Drop a chunk of a communicator's traffic, counted. */
static __always_inline int sg_reject(struct sg_stats *st, enum sg_verdict v)
{
	sg_verdict_count(st, v);
	return XDP_DROP;
}

SEC("xdp.frags")
int sg_gather(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sg_worker_key wkey = {};
	struct sg_wire_hdr *hdr, h;
	struct sg_comm_cfg *cfg;
	struct sg_fold_ctx *fc;
	struct sg_slot *slot;
	struct sg_stats *st;
	struct sg_l4 l4;
	__u32 zero = 0, *comm, *worker, slot_idx, len, entry;
	enum sg_verdict v;
	__u64 gen;

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
	if (!worker)
		return sg_reject(st, SG_VERDICT_UNKNOWN_SRC);
	if (!sg_xdp_ip_csum_ok(ctx, &l4))
		return sg_reject(st, SG_VERDICT_MALFORMED);
	hdr = sg_parse_hdr(&l4, data_end, 0);
	if (!hdr)
		return sg_reject(st, SG_VERDICT_MALFORMED);
	h = *hdr;
	if (!sg_is_contribution(&h))
		return sg_reject(st, SG_VERDICT_MALFORMED);

	fc = bpf_map_lookup_elem(&fold_scratch, &zero);
	slot_idx = *comm * SG_SLOTS + h.coll_id % SG_SLOTS;
	slot = bpf_map_lookup_elem(&slots, &slot_idx);
	if (!fc || !slot)
		return XDP_DROP;
	/* The first chunk of the datagram's span; sg_gather_next() takes the
	 * others after it, each folded and counted as a chunk of its own. */
	fc->chunk_bytes = sg_wire_response_chunk(h.dtype);
	fc->msg_len = h.msg_len;
	len = sg_wire_chunk_len_of(h.msg_len, h.chunk, fc->chunk_bytes) & (SG_ACC_BYTES - 1);
	if (len == 0 || len > SG_CHUNK_BYTES)
		return sg_reject(st, SG_VERDICT_MALFORMED);
	fc->next_off = l4.udp_off + sizeof(struct udphdr) + SG_WIRE_HDR_LEN;
	/* Every chunk of the span is there, frags included: none is folded
	 * from a datagram cut short. */
	if (bpf_xdp_get_buff_len(ctx) < fc->next_off + h.len ||
	    bpf_xdp_load_bytes(ctx, fc->next_off, fc->data, len) < 0)
		return sg_reject(st, SG_VERDICT_MALFORMED);
	fc->next_off += len;
	if (!sg_is_authentic(&h, cfg->key, *worker))
		return sg_reject(st, SG_VERDICT_FORGED);

	/* Validate against the collective the slot holds and admit the worker
	 * under the completion policy, in one critical section. */
	bpf_spin_lock(&slot->lock);
	v = sg_slot_admit(slot, &h, *worker);
	gen = slot->gen;
	entry = slot->chunk_base + h.chunk;
	bpf_spin_unlock(&slot->lock);
	if (v != SG_VERDICT_ACCEPT)
		return sg_reject(st, v);

	fc->comm = *comm;
	fc->slot = slot_idx;
	fc->chunk = h.chunk;
	fc->entry = entry;
	fc->worker = *worker;
	fc->coll_id = h.coll_id;
	fc->gen = gen;
	fc->len = len;
	fc->dtype = h.dtype;
	fc->op = h.op;
	fc->span_left = h.span - 1;
	fc->prog = sg_fold_prog(h.op, h.dtype, *comm);
	bpf_tail_call(ctx, &fold_progs, fc->prog);
	return sg_reject(st, SG_VERDICT_MALFORMED);
}

/* ------------------------------------------------------------------ collect */

struct sg_collect_loop {
	struct sg_partial *p;
	__u32 base;		/* first pool entry of the collective */
};

/* Chunk @i: whole or not, under its lock. */
static long sg_collect_chunk(__u32 i, void *ctx)
{
	struct sg_collect_loop *cl = ctx;
	__u32 entry = (cl->base + i) % SG_POOL_CHUNKS;
	struct sg_chunk_state *cs = bpf_map_lookup_elem(&chunks, &entry);
	int whole;

	if (!cs)
		return 1;
	bpf_spin_lock(&cs->lock);
	whole = sg_chunk_whole(cs, cl->p->gen, cl->p->done);
	bpf_spin_unlock(&cs->lock);
	if (whole)
		cl->p->whole[(i / 64) % (SG_MAX_RESPONSE_CHUNKS / 64)] |= 1ULL << (i % 64);
	return 0;
}

SEC("xdp.frags")
int sg_collect(struct xdp_md *ctx)
{
	struct sg_collect_loop cl = {};
	struct sg_arm_desc *dp, d;
	struct sg_slot *slot;
	__u32 zero = 0, key, n = 0;

	cl.p = bpf_map_lookup_elem(&collect_scratch, &zero);
	if (!cl.p || bpf_xdp_load_bytes(ctx, 0, cl.p, sizeof(*cl.p)) < 0)
		return XDP_ABORTED;
	key = cl.p->key;
	slot = bpf_map_lookup_elem(&slots, &key);
	dp = bpf_map_lookup_elem(&arm_descs, &key);
	if (!slot || !dp)
		return XDP_ABORTED;
	d = *(volatile struct sg_arm_desc *)dp;
	bpf_spin_lock(&slot->lock);
	cl.p->held = sg_slot_retire(slot, &d, cl.p->gen);
	if (cl.p->held) {
		cl.base = slot->chunk_base;
		n = slot->nchunks;
		cl.p->ndone = slot->ndone;
#pragma unroll
		for (int i = 0; i < SG_WORKER_WORDS; i++)
			cl.p->done[i] = slot->done[i];
	}
	bpf_spin_unlock(&slot->lock);
	if (!cl.p->held) {
		cl.p->ndone = 0;
		__builtin_memset(cl.p->done, 0, sizeof(cl.p->done));
	}
	__builtin_memset(cl.p->whole, 0, sizeof(cl.p->whole));
	cl.p->nchunks = n;
	if (n > SG_MAX_RESPONSE_CHUNKS)
		n = SG_MAX_RESPONSE_CHUNKS;
	bpf_loop(n, sg_collect_chunk, &cl, 0);
	if (bpf_xdp_store_bytes(ctx, 0, cl.p, sizeof(*cl.p)) < 0)
		return XDP_ABORTED;
	return XDP_DROP;
}
