// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Fuzz test of the datapath: at least 1,000,000 random and mutated frames
 * through sg_gather (XDP) and sg_scatter (TC) with BPF_PROG_TEST_RUN, then
 * real collectives, which must be exact.
 *
 * One fixture (loaded once) holds two communicators (0: NW0 workers, 1: NW1
 * workers, so worker bitmaps use more than one word) and several armed
 * collectives of different datatypes and ops (float SUM, a 10-chunk one, one
 * whose policy admits fewer workers than exist), re-armed with new ids and
 * generations every round, so that fuzz frames hit live state.
 *
 * Frames: (a) random bytes of random length 14..1600; (b) valid worker
 * responses for the armed collectives and valid coordinator requests, mutated
 * 1..8 times (bit flips, byte and header field overwrites with random and
 * boundary values, IP/UDP length, IHL, fragment, protocol, port and address
 * changes, truncations, extensions, IP options, consistent re-chunking),
 * stragglers of earlier collectives, and a few unmutated chunks; (c) the
 * same from unknown sources. Every frame is generated from one xorshift
 * seed (printed; SGT_FUZZ_SEED overrides it, SGT_FUZZ_FRAMES the number of
 * frames, a tenth of them through TC).
 *
 * Oracle, checked for every frame. The test classifies each frame from its
 * bytes and what user space armed, following the rules in bpf/parse.bpf.h and
 * bpf/sgbpf.bpf.c's comments:
 *  sg_gather: a frame not addressed to a communicator (not IPv4/UDP, a
 *    non-first fragment, another port or IP) must come back XDP_PASS,
 *    unchanged, counting nothing. Every frame addressed to one is XDP_DROP and
 *    counted exactly once, on that communicator only: unknown source ->
 *    rx_unknown_src; header, lengths, type, geometry -> rx_malformed; not
 *    the source worker's authenticator for the collective the header names
 *    (recomputed with an independent SipHash, sgt_siphash_ref()) ->
 *    rx_forged; a field disagreeing with the armed collective ->
 *    rx_malformed; no such collective in the
 *    slot -> rx_stale; a frame matching a fuzz collective exactly (mutations
 *    may leave a datagram valid: payload bytes, IP options, another worker,
 *    another chunk) is folded or not as a model of that collective says
 *    (admission up to the target, each chunk once per worker, progress,
 *    completion): rx_accepted (+ completed), rx_duplicate or rx_late, and
 *    every round the slot, chunk states, completion word and accumulators
 *    (all but float SUM's) must equal the model's, byte for byte. A test run
 *    never fails.
 *  sg_scatter: returns TC_ACT_OK and never changes the mark; a frame that is
 *    not a coordinator datagram to fan out (a clone carries an
 *    authenticator) comes back unchanged; one that is comes back addressed to
 *    the last worker of its batch (MAC, IP, port, that worker's
 *    authenticator; nothing else changed but the checksums, whose one's
 *    complement sums are preserved, a zero UDP checksum kept), with
 *    tx_fanout counting the batch.
 *    (BPF_PROG_TEST_RUN itself refuses, with EINVAL, an IPv4 or IPv6 frame
 *    shorter than its IP header; those are counted and replaced.)
 * Every round also runs a segment of frames the oracle says must be rejected,
 * between two full snapshots of the state (every slot, the whole pool,
 * accumulators, aux words, completion words, events), which must be equal:
 * hostile frames never touch state. The TC phase is bracketed by one too.
 *
 * Every round (~10,000 frames) ends with a complete valid collective on a
 * fresh arm (rotating datatypes and ops, multi-chunk, both communicators,
 * shuffled arrival), whose result must be exact and whose completion word,
 * event, slot, chunk states and counters must be right. After the fuzzing,
 * fresh collectives are armed in the slots the fuzz hit (on both
 * communicators, concurrently, frames interleaved), must be exact, and
 * stragglers of the fuzz-phase collectives sent on purpose must be counted as
 * stale and change nothing.
 *
 * sg_scatter transmits its clones on the loopback device of the caller's
 * network namespace (see tests/test_bpf_scatter.c): main() moves into a
 * private namespace with lo up first.
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN); exits 77 otherwise.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "bpf_frames.h"
#include "common/floatbits.h"

#define NW0 5
#define NW1 70			/* more than 64: two words of worker bits */
#define NCOMMS 2

#define FUZZ_MIN_LEN 14
#define FUZZ_MAX_LEN 1600
#define FR_CAP 16384	/* a span of chunks, VLAN tags and room to mutate */

#define DEFAULT_SEED 0x5347425046555a5aull	/* "SGBPFUZZ" */
#define DEFAULT_FRAMES 1000000ull
#define ROUND_FRAMES 10000u		/* frames between two valid collectives */
#define HOSTILE_FRAMES 1000u		/* rejected-only frames per round */

/* What sg_gather must do with a frame (classify_gather()). */
enum xcls { XC_PASS, XC_UNKNOWN, XC_MALFORMED, XC_STALE, XC_ACCEPT, XC_FORGED };

/* Why the oracle calls a frame malformed: how deep the fuzz got. */
enum why { WHY_HDR, WHY_TYPE, WHY_GEOMETRY, WHY_CUT, WHY_SLOT, WHY_COUNT };
static const char *const why_name[WHY_COUNT] = {
	"header/lengths", "type or empty", "chunk geometry", "payload cut",
	"disagrees with the armed collective",
};
static enum why last_why;

static uint64_t seed0;
static uint64_t total_frames, xdp_frames, tc_frames;
static uint64_t rng;

static uint64_t rnd(void)
{
	return sgt_rand64(&rng);
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static bool chance(unsigned int pct)
{
	return rn(100) < pct;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ state */

static struct sgt_fixture *F;
static struct sg_stats *percpu;

/* A collective armed for the fuzz frames to hit. Re-armed every round with a
 * new id in the same slot (id + SG_SLOTS), a new nonce and generation. */
struct fslot {
	uint32_t comm;
	uint8_t dtype, op;
	uint32_t count;
	uint32_t target;
	struct sg_wire_msg m;		/* what is armed now */
	struct sg_wire_msg old[4];	/* earlier collectives of the slot */
	unsigned int nold;
};

static struct fslot fslots[] = {
	{ 0, SG_INT32, SG_OP_SUM, 300, NW0 },		/* 2 chunks */
	{ 0, SG_FLOAT32, SG_OP_SUM, 700, NW0 },		/* 3 chunks of 1024 */
	{ 0, SG_UINT8, SG_OP_BXOR, 100, 3 },		/* target < workers */
	{ 0, SG_BFLOAT16, SG_OP_MAX, 200, NW0 },		/* 1 chunk of 512 */
	{ 0, SG_INT64_LOC, SG_OP_MINLOC, 70, NW0 },
	{ 1, SG_INT16, SG_OP_PROD, 1000, NW1 },		/* same id as comm 0's first */
	{ 1, SG_FLOAT64, SG_OP_SUM, 400, NW1 },		/* 4 chunks */
	{ 1, SG_UINT64, SG_OP_MIN, 128, 40 },
	{ 1, SG_INT32, SG_OP_BAND, 2560, NW1 },		/* 10 chunks */
};
#define NFSLOTS (sizeof(fslots) / sizeof(fslots[0]))
static const uint32_t fslot_ids[NFSLOTS] = { 1, 2, 3, 4, 5, 1, 7, 8, 9 };

/* Counts for the report. */
struct xdp_counts {
	uint64_t frames, pass, drop, other;
	uint64_t random, mutated, unmutated, stragglers, requests, unknown_src;
	uint64_t vlan_tagged;		/* unmutated chunks behind 1 or 2 VLAN tags */
	uint64_t span_frames;		/* matching a fuzz collective, several chunks */
	uint64_t cls[XC_FORGED + 1];		/* by oracle class */
	uint64_t why[WHY_COUNT];		/* malformed, by reason */
	uint64_t acc_accepted, acc_duplicate, acc_late, acc_stale;
	uint64_t folded_bad_udp_csum;	/* folded, though the stack would drop it */
	uint64_t completions;
	uint64_t hostile_segment_frames, snapshots;
	uint64_t collectives;
	double secs;
};

struct tc_counts {
	uint64_t frames, ok, shot, other;
	uint64_t fanned_out, untouched, clones;
	uint64_t refused;			/* short IP frames test_run refuses */
	uint64_t arm_mismatch, arm_match;	/* SCATTER/RESULT vs their descriptor */
	double secs;
};

static struct xdp_counts xc;
static struct tc_counts tcc;

static int stats_fd(void)
{
	return bpf_map__fd(F->dp.skel->maps.stats);
}

static void read_stats(uint32_t comm, struct sg_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(stats_fd(), &comm, percpu))
		fail_msg("cannot read the counters of communicator %u: %s", comm,
			 strerror(errno));
	sg_stats_sum(out, percpu, F->dp.ncpus);
}

static void read_stats2(struct sg_stats st[NCOMMS])
{
	for (uint32_t c = 0; c < NCOMMS; c++)
		read_stats(c, &st[c]);
}

static struct sg_stats delta(const struct sg_stats *a, const struct sg_stats *b)
{
	struct sg_stats d = {
		.rx_accepted = b->rx_accepted - a->rx_accepted,
		.rx_duplicate = b->rx_duplicate - a->rx_duplicate,
		.rx_stale = b->rx_stale - a->rx_stale,
		.rx_late = b->rx_late - a->rx_late,
		.rx_unknown_src = b->rx_unknown_src - a->rx_unknown_src,
		.rx_malformed = b->rx_malformed - a->rx_malformed,
		.rx_forged = b->rx_forged - a->rx_forged,
		.completed = b->completed - a->completed,
		.tx_fanout = b->tx_fanout - a->tx_fanout,
		.tx_armed = b->tx_armed - a->tx_armed,
		.tx_arm_mismatch = b->tx_arm_mismatch - a->tx_arm_mismatch,
	};

	return d;
}

static bool stats_zero(const struct sg_stats *d)
{
	return !d->rx_accepted && !d->rx_duplicate && !d->rx_stale && !d->rx_late &&
	       !d->rx_unknown_src && !d->rx_malformed && !d->rx_forged && !d->completed &&
	       !d->tx_fanout &&
	       !d->tx_armed && !d->tx_arm_mismatch;
}

static void fmt_stats(char *buf, size_t n, const struct sg_stats *d)
{
	snprintf(buf, n,
		 "accepted %llu duplicate %llu stale %llu late %llu unknown_src %llu "
		 "malformed %llu forged %llu completed %llu tx_fanout %llu armed %llu "
		 "arm_mismatch %llu",
		 (unsigned long long)d->rx_accepted, (unsigned long long)d->rx_duplicate,
		 (unsigned long long)d->rx_stale, (unsigned long long)d->rx_late,
		 (unsigned long long)d->rx_unknown_src, (unsigned long long)d->rx_malformed,
		 (unsigned long long)d->rx_forged,
		 (unsigned long long)d->completed, (unsigned long long)d->tx_fanout,
		 (unsigned long long)d->tx_armed, (unsigned long long)d->tx_arm_mismatch);
}

/* Consume completion events; the fuzz phase's are only counted. */
static void drain_events(void)
{
	int n = sgt_poll_events(F);

	if (n < 0)
		fail_msg("ring buffer: %s", strerror(-n));
	xc.completions += (unsigned int)n;
	F->nevents = 0;
}

/* Print the reproducer of a failing frame and fail. */
static void fail_frame(const char *prog, uint64_t idx, const uint8_t *fr, size_t len,
		       uint32_t mark, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FUZZ FAILURE: %s frame %llu (seed 0x%016llx, SGT_FUZZ_FRAMES=%llu), "
		"mark 0x%x, %zu bytes: %s\n", prog, (unsigned long long)idx,
		(unsigned long long)seed0, (unsigned long long)total_frames, mark, len, msg);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%02x%s", fr[i], (i % 32 == 31 || i + 1 == len) ? "\n" : " ");
	fail_msg("%s frame %llu: %s", prog, (unsigned long long)idx, msg);
}

/* ------------------------------------------------------------- byte access */

static uint16_t be16(const uint8_t *b, size_t off)
{
	return (uint16_t)(b[off] << 8 | b[off + 1]);
}

static void wr_le(uint8_t *fr, size_t len, size_t off, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (off + i < len)
			fr[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd_le(const uint8_t *fr, size_t len, size_t off, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		if (off + i < len)
			v |= (uint64_t)fr[off + i] << (8 * i);
	return v;
}

static void wr_be16(uint8_t *fr, size_t len, size_t off, uint16_t v)
{
	if (off < len)
		fr[off] = v >> 8;
	if (off + 1 < len)
		fr[off + 1] = v & 0xff;
}

static void wr_bytes(uint8_t *fr, size_t len, size_t off, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (off + i < len)
			fr[off + i] = ((const uint8_t *)p)[i];
}

static void fill_rand(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* One's complement sums (big-endian words), as the checksums use them. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* 0 and 0xffff are the same one's complement number. */
static uint16_t ones_norm(uint16_t x)
{
	return x ? x : 0xffff;
}

/* ------------------------------------------------------------------ oracle */

struct l4 {
	size_t ip, ihl, udp;	/* offset of the IP header, IHL in bytes, offset of UDP */
	uint32_t saddr, daddr;	/* as in the frame */
	uint16_t sport, dport;	/* as in the frame */
	uint16_t ip_len, udp_len, frag;
};

/* bpf/parse.bpf.h sg_parse_udp(): Ethernet, up to two VLAN tags (802.1Q or
 * 802.1ad), IPv4 version 4, UDP, no fragment but the first. */
static bool parse_udp(const uint8_t *fr, size_t len, struct l4 *l)
{
	size_t ip = 14;
	uint16_t proto;

	if (len < 14)
		return false;
	proto = be16(fr, 12);
	for (int tags = 0; tags < 2 && (proto == 0x8100 || proto == 0x88a8); tags++) {
		if (len < ip + 4)
			return false;
		proto = be16(fr, ip + 2);
		ip += 4;
	}
	if (proto != 0x0800)
		return false;
	if (len < ip + 20 || fr[ip] >> 4 != 4 || fr[ip + 9] != 17)
		return false;
	l->ip = ip;
	l->ihl = (size_t)(fr[ip] & 0xf) * 4;
	if (l->ihl < 20)
		return false;
	l->frag = be16(fr, ip + 6);
	if (l->frag & 0x1fff)
		return false;
	l->udp = ip + l->ihl;
	if (l->udp + 8 > len)
		return false;
	memcpy(&l->saddr, fr + ip + 12, 4);
	memcpy(&l->daddr, fr + ip + 16, 4);
	memcpy(&l->sport, fr + l->udp, 2);
	memcpy(&l->dport, fr + l->udp + 2, 2);
	l->ip_len = be16(fr, ip + 2);
	l->udp_len = be16(fr, l->udp + 4);
	return true;
}

/* The IPv4 header checksum of a parsed frame is right (a header cut by the
 * frame's end counts as wrong). */
static bool ip_csum_ok(const uint8_t *fr, size_t len, const struct l4 *l)
{
	uint32_t sum = 0;

	if (l->ihl > 60 || l->ip + l->ihl > len)
		return false;
	for (size_t i = 0; i < l->ihl; i += 2)
		sum += be16(fr, l->ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* bpf/parse.bpf.h sg_parse_hdr(): the offset of the sgbpf header or 0. */
static size_t parse_hdr(const uint8_t *fr, size_t len, const struct l4 *l)
{
	size_t sg = l->udp + 8;
	uint32_t hlen;

	if (sg + SG_WIRE_HDR_LEN > len)
		return 0;
	if (sgt_get32(fr, sg + SGT_HDR_MAGIC) != SG_WIRE_MAGIC ||
	    fr[sg + SGT_HDR_VERSION] != SG_WIRE_VERSION)
		return 0;
	hlen = sgt_get16(fr, sg + SGT_HDR_LENF);
	if (hlen > SG_MAX_SPAN * SG_CHUNK_BYTES || l->udp_len != 8 + SG_WIRE_HDR_LEN + hlen ||
	    l->ip_len != l->ihl + l->udp_len || (l->frag & 0x2000))
		return 0;
	return sg;
}

/* A coordinator datagram the fan-out program takes (sg_wire_geometry_ok()):
 * SCATTER, BCAST or RESULT, a message within the limit in SG_CHUNK_BYTES
 * chunks, the chunk index, span, count and payload length agreeing with it,
 * an answer room in a SCATTER only, segment 0 of 1 at least. */
static bool coordinator_geometry_ok(const uint8_t *fr, size_t sg)
{
	uint8_t type = fr[sg + SGT_HDR_TYPE];
	uint32_t msg_len = sgt_get32(fr, sg + SGT_HDR_MSG_LEN);
	uint32_t chunk = sgt_get16(fr, sg + SGT_HDR_CHUNK), nchunks = sgt_get16(fr, sg + SGT_HDR_NCHUNKS);
	uint32_t span = fr[sg + SGT_HDR_SPAN];
	uint32_t want_n = msg_len ? (msg_len + SG_CHUNK_BYTES - 1) / SG_CHUNK_BYTES : 1;
	uint32_t off = chunk * SG_CHUNK_BYTES, span_bytes = span * SG_CHUNK_BYTES;
	uint32_t want_len = off >= msg_len ? 0 :
			    msg_len - off < span_bytes ? msg_len - off : span_bytes;

	return type >= SG_WIRE_SCATTER && type <= SG_WIRE_RESULT && msg_len <= SG_MAX_MSG_BYTES &&
	       nchunks == want_n && span >= 1 && span <= SG_MAX_SPAN && chunk + span <= nchunks &&
	       sgt_get16(fr, sg + SGT_HDR_LENF) == want_len &&
	       (type == SG_WIRE_SCATTER || fr[sg + SGT_HDR_ROOM] == 0) &&
	       sgt_get16(fr, sg + SGT_HDR_NSEGS) != 0;
}

/* The installed communicator a port (as in the frame) belongs to, or -1. */
static int comm_of_port(uint16_t port)
{
	for (int c = 0; c < NCOMMS; c++)
		if (F->comms[c].local.port == port)
			return c;
	return -1;
}

static int worker_of(uint32_t comm, uint32_t ip, uint16_t port)
{
	const struct sgt_comm *c = &F->comms[comm];

	for (uint32_t w = 0; w < c->nworkers; w++)
		if (c->workers[w].ip == ip && c->workers[w].port == port)
			return (int)w;
	return -1;
}


static const char *const xcls_name[] = { "pass", "unknown_src", "malformed", "stale",
					 "matches armed collective", "forged" };

/* Where a frame addressed to a communicator points. */
struct xinfo {
	uint32_t comm;
	int worker;		/* -1: unknown source */
	uint32_t chunk, span, hlen, coll_id;
	size_t sg;		/* offset of the sgbpf header */
};

/* What sg_gather must do with a frame, from its bytes and what is armed. */
static enum xcls classify_gather(const uint8_t *fr, size_t len, struct xinfo *xi)
{
	const struct sgt_arming *a;
	struct l4 l;
	size_t sg;
	uint32_t hlen, chunk, span, nchunks, msg_len, cbytes, expect, coll_id;
	uint8_t dtype;
	int comm;

	if (!parse_udp(fr, len, &l))
		return XC_PASS;
	comm = comm_of_port(l.dport);
	if (comm < 0 || l.daddr != F->comms[comm].local.ip)
		return XC_PASS;
	memset(xi, 0, sizeof(*xi));
	xi->comm = (uint32_t)comm;
	xi->worker = worker_of((uint32_t)comm, l.saddr, l.sport);
	if (xi->worker < 0)
		return XC_UNKNOWN;
	last_why = WHY_HDR;
	if (!ip_csum_ok(fr, len, &l))
		return XC_MALFORMED;
	sg = parse_hdr(fr, len, &l);
	last_why = WHY_HDR;
	if (!sg)
		return XC_MALFORMED;
	hlen = sgt_get16(fr, sg + SGT_HDR_LENF);
	last_why = WHY_TYPE;
	if (fr[sg + SGT_HDR_TYPE] != SG_WIRE_RESPONSE || hlen == 0)
		return XC_MALFORMED;
	last_why = WHY_GEOMETRY;
	chunk = sgt_get16(fr, sg + SGT_HDR_CHUNK);
	nchunks = sgt_get16(fr, sg + SGT_HDR_NCHUNKS);
	msg_len = sgt_get32(fr, sg + SGT_HDR_MSG_LEN);
	dtype = fr[sg + SGT_HDR_DTYPE];
	cbytes = sg_wire_response_chunk(dtype);
	span = fr[sg + SGT_HDR_SPAN];
	if (chunk >= SG_MAX_RESPONSE_CHUNKS || chunk >= nchunks || msg_len > SG_MAX_MSG_BYTES ||
	    msg_len <= chunk * cbytes || nchunks != (msg_len + cbytes - 1) / cbytes ||
	    span < 1 || span > SG_MAX_SPAN || chunk + span > nchunks ||
	    fr[sg + SGT_HDR_ROOM] != 0 ||		/* SCATTER only */
	    sgt_get16(fr, sg + SGT_HDR_NSEGS) == 0)	/* segment 0 of 1 at least */
		return XC_MALFORMED;
	expect = msg_len - chunk * cbytes;
	if (hlen != (expect < span * cbytes ? expect : span * cbytes))
		return XC_MALFORMED;
	last_why = WHY_CUT;
	if (sg + SG_WIRE_HDR_LEN + hlen > len)	/* payload cut */
		return XC_MALFORMED;
	coll_id = sgt_get32(fr, sg + SGT_HDR_COLL_ID);
	/* The source's own authenticator for this collective (its nonce and
	 * id as the frame says; the ACK bit is not part of it). */
	if (rd_le(fr, len, sg + SGT_HDR_AUTH, 8) !=
	    (sgt_siphash_ref(F->comms[comm].key, rd_le(fr, len, sg + SGT_HDR_NONCE, 8),
			     (coll_id & 0x7fffffffu) | (uint64_t)xi->worker << 32) | 1))
		return XC_FORGED;
	a = sgt_armed(F, (uint32_t)comm, coll_id);
	if (!a->armed || a->coll_id != coll_id)
		return XC_STALE;
	last_why = WHY_SLOT;
	if (a->nonce != rd_le(fr, len, sg + SGT_HDR_NONCE, 8) || a->dtype != dtype ||
	    a->op != fr[sg + SGT_HDR_OP] || a->msg_len != msg_len ||
	    a->count != sgt_get32(fr, sg + SGT_HDR_COUNT) || a->nchunks != nchunks)
		return XC_MALFORMED;
	xi->chunk = chunk;
	xi->span = span;
	xi->hlen = hlen;
	xi->coll_id = coll_id;
	xi->sg = sg;
	return XC_ACCEPT;
}

/* What sg_scatter must do: 0 (pass untouched) or the number of workers the
 * datagram goes to, with its communicator and first worker. */
static uint32_t classify_scatter(const uint8_t *fr, size_t len, uint32_t mark, uint32_t *comm_out,
				 uint32_t *first_out)
{
	const struct sgt_comm *c;
	struct l4 l;
	size_t sg;
	uint32_t first, n;
	int comm;

	if (!parse_udp(fr, len, &l))
		return 0;
	comm = comm_of_port(l.sport);
	if (comm < 0)
		return 0;
	c = &F->comms[comm];
	if (l.saddr != c->local.ip)
		return 0;
	sg = parse_hdr(fr, len, &l);
	/* Whatever the mark: a datagram with an authenticator is a clone or a
	 * retransmission for one worker. */
	if (!sg || !coordinator_geometry_ok(fr, sg) ||
	    (sgt_get16(fr, sg + SGT_HDR_FLAGS) & SG_WIRE_F_UNICAST) ||
	    rd_le(fr, len, sg + SGT_HDR_AUTH, 8))
		return 0;
	if (len < l.ip + (size_t)l.ip_len)
		return 0;
	first = sgt_get16(fr, sg + SGT_HDR_FANOUT);
	if (c->nworkers > SG_MAX_WORKERS || first >= c->nworkers)
		return 0;
	n = c->nworkers - first;
	if (n > SG_FANOUT_BATCH)
		n = SG_FANOUT_BATCH;
	*comm_out = (uint32_t)comm;
	*first_out = first;
	return n;
}

/* What sg_scatter's arming must do with a frame (bpf/sgbpf.bpf.c
 * sg_arm_slot()): 0 nothing, 1 count a mismatch, 2 arm the slot, 3 nothing
 * (its own descriptor, but not newer than the slot's). A coordinator
 * SCATTER or RESULT (unicast ones too) is checked against its slot's
 * descriptor (id, nonce, and for SCATTER dtype, op, count); a match arms only
 * a newer generation than the slot's. */
static int classify_arm(const uint8_t *fr, size_t len, uint32_t mark, uint32_t *comm_out)
{
	const struct sg_arm_desc *d;
	struct sg_slot slot;
	uint32_t coll, want;
	uint64_t nonce;
	struct l4 l;
	uint8_t type;
	size_t sg;
	int comm;

	if (!parse_udp(fr, len, &l))
		return 0;
	comm = comm_of_port(l.sport);
	if (comm < 0 || l.saddr != F->comms[comm].local.ip)
		return 0;
	sg = parse_hdr(fr, len, &l);
	if (!sg || len < l.ip + (size_t)l.ip_len || !coordinator_geometry_ok(fr, sg))
		return 0;
	/* A clone coming back (an authenticator, not for one worker only). */
	if (rd_le(fr, len, sg + SGT_HDR_AUTH, 8) &&
	    !(sgt_get16(fr, sg + SGT_HDR_FLAGS) & SG_WIRE_F_UNICAST))
		return 0;
	type = fr[sg + SGT_HDR_TYPE];
	if (type != SG_WIRE_SCATTER && type != SG_WIRE_RESULT)
		return 0;
	*comm_out = (uint32_t)comm;
	coll = sgt_get32(fr, sg + SGT_HDR_COLL_ID);
	want = type == SG_WIRE_RESULT ? coll | SG_COLL_ACK : coll;
	nonce = sgt_get32(fr, sg + SGT_HDR_NONCE) |
		(uint64_t)sgt_get32(fr, sg + SGT_HDR_NONCE + 4) << 32;
	d = sgt_arm_desc(F, (uint32_t)comm, coll);
	if (d->coll_id != want || d->nonce != nonce ||
	    (type == SG_WIRE_SCATTER &&
	     (d->dtype != fr[sg + SGT_HDR_DTYPE] || d->op != fr[sg + SGT_HDR_OP] ||
	      d->count != sgt_get32(fr, sg + SGT_HDR_COUNT))))
		return 1;
	if (sgt_read_slot(F, (uint32_t)comm, coll, &slot))
		fail_msg("cannot read a slot: %s", strerror(errno));
	return d->gen > slot.gen ? 2 : 3;
}

/* ---------------------------------------------------------------- builders */

static const struct sg_wire_msg *fslot_msg(unsigned int i)
{
	return &fslots[i].m;
}

/* A valid response chunk of @m from worker @w of @comm, random payload. */
static size_t build_chunk_of(uint8_t *fr, uint32_t comm, uint32_t w, const struct sg_wire_msg *m,
			     uint32_t chunk, bool spans)
{
	uint8_t payload[SG_MAX_DGRAM_PAYLOAD];
	struct sg_wire_msg sm = *m;

	/* A quarter of them carry a span of chunks from @chunk on (cut at the
	 * message's end), as workers on jumbo links send. */
	if (spans && sm.type == SG_WIRE_RESPONSE && chance(25))
		sm.span = (uint8_t)(2 + rn(SG_MAX_SPAN - 1));
	fill_rand(payload, sizeof(payload));
	return sgt_build_frame(fr, &F->comms[comm].workers[w], &F->comms[comm].local, &sm, chunk,
			       payload);
}

static size_t build_chunk(uint8_t *fr, uint32_t comm, uint32_t w, const struct sg_wire_msg *m,
			  uint32_t chunk)
{
	return build_chunk_of(fr, comm, w, m, chunk, true);
}

/* A valid coordinator datagram of @comm: a request, broadcast or result
 * (or, rarely, another type), chunk @chunk of a random message, for the
 * batch starting at a random worker. */
static size_t build_request(uint8_t *fr, uint32_t comm)
{
	const struct sgt_comm *c = &F->comms[comm];
	uint8_t dgram[SG_WIRE_HDR_LEN + 2 * SG_CHUNK_BYTES];
	struct sg_wire_msg m;
	uint32_t first, nchunks, chunk, len;
	const struct sgt_addr *dst;
	struct sgt_addr other;

	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)(1 + rn(3));
	if (chance(3))
		m.type = (uint8_t)rnd();
	m.dtype = (uint8_t)rn(SG_DATATYPE_COUNT);
	m.op = (uint8_t)rn(SG_OP_COUNT);
	m.coll_id = chance(50) ? fslot_ids[rn(NFSLOTS)] : (uint32_t)rnd() & 0x7fffffff;
	m.msg_len = chance(50) ? rn(SG_CHUNK_BYTES + 1) : rn(8 * SG_CHUNK_BYTES);
	m.count = m.type == SG_WIRE_BCAST ? 0 : m.msg_len / 4;
	m.nonce = rnd();
	if (chance(25)) {
		/* The request of a collective armed now, as a retransmission
		 * or later chunk would carry it: it must not re-arm. */
		const struct fslot *fs = &fslots[rn(NFSLOTS)];

		if (fs->comm == comm) {
			m.type = SG_WIRE_SCATTER;
			m.coll_id = fs->m.coll_id;
			m.nonce = fs->m.nonce;
			m.dtype = fs->m.dtype;
			m.op = fs->m.op;
			m.count = fs->m.count;
		}
	}
	nchunks = sg_wire_nchunks(m.msg_len);
	chunk = rn(nchunks);
	/* Sometimes two chunks in one datagram, as on a jumbo link (more do
	 * not fit the page BPF_PROG_TEST_RUN gives an skb). */
	if (chance(20))
		m.span = 2;
	sg_wire_encode(dgram, &m, chunk);
	len = sgt_get16(dgram, SGT_HDR_LENF);
	/* Batches: mostly near the end of a large communicator (fewer clones). */
	if (c->nworkers > 8 && chance(70))
		first = c->nworkers - 1 - rn(8);
	else
		first = rn(c->nworkers + 1);	/* nworkers: nobody left */
	sg_wire_set_fanout_first(dgram, first);
	fill_rand(dgram + SG_WIRE_HDR_LEN, len);
	if (first < c->nworkers && chance(80)) {
		dst = &c->workers[first];
	} else {
		other = sgt_worker_addr(comm ^ 1, rn(4));
		dst = &other;
	}
	return sgt_build_ip(fr, &c->local, dst, 17, dgram, SG_WIRE_HDR_LEN + len, chance(70));
}

/* Another source: random, a worker of the other communicator, the
 * coordinator itself, a worker's IP with another port, a worker's port from
 * another IP. */
static void other_source(uint8_t *fr, size_t len, uint32_t comm)
{
	const struct sgt_comm *c = &F->comms[comm];
	struct sgt_addr a = c->workers[rn(c->nworkers)], o;
	size_t udp = SGT_IP_OFF + 20;

	if (len > SGT_IP_OFF && (fr[SGT_IP_OFF] & 0xf) >= 5)
		udp = SGT_IP_OFF + (size_t)(fr[SGT_IP_OFF] & 0xf) * 4;
	switch (rn(6)) {
	case 0:
		a.ip = (uint32_t)rnd();
		a.port = (uint16_t)rnd();
		break;
	case 1:
		o = sgt_worker_addr(comm ^ 1, rn(comm ? NW0 : NW1));
		a.ip = o.ip;
		a.port = o.port;
		break;
	case 2:
		a.ip = c->local.ip;
		a.port = c->local.port;
		break;
	case 3:
		a.port = htons((uint16_t)(ntohs(a.port) + 1 + rn(2000)));
		break;
	case 4:
		a.ip = htonl(ntohl(a.ip) ^ (1u << rn(32)));
		break;
	default:
		a.ip = 0;
		break;
	}
	wr_bytes(fr, len, SGT_IP_OFF + 12, &a.ip, 4);
	wr_bytes(fr, len, udp, &a.port, 2);
}

/* ---------------------------------------------------------------- mutation */

static uint64_t boundary(uint64_t cur, unsigned int bytes)
{
	unsigned int bits = 8 * bytes;
	uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1, v;

	switch (rn(9)) {
	case 0: v = 0; break;
	case 1: v = ~0ull; break;
	case 2: v = cur + 1; break;
	case 3: v = cur - 1; break;
	case 4: v = rn(16); break;
	case 5: v = 1ull << rn(bits); break;
	case 6: v = cur ^ (1ull << rn(bits)); break;
	case 7: v = (1ull << (bits - 1)) - rn(2); break;	/* signed max/min */
	default: v = rnd(); break;
	}
	return v & mask;
}

/* Header fields: offset and width. */
static const struct {
	uint8_t off, width;
} hdr_fields[] = {
	{ SGT_HDR_MAGIC, 4 }, { SGT_HDR_VERSION, 1 }, { SGT_HDR_TYPE, 1 },
	{ SGT_HDR_DTYPE, 1 }, { SGT_HDR_OP, 1 }, { SGT_HDR_COLL_ID, 4 },
	{ SGT_HDR_COUNT, 4 }, { SGT_HDR_MSG_LEN, 4 }, { SGT_HDR_CHUNK, 2 },
	{ SGT_HDR_NCHUNKS, 2 }, { SGT_HDR_LENF, 2 }, { SGT_HDR_FLAGS, 2 },
	{ SGT_HDR_FANOUT, 2 }, { SGT_HDR_SPAN, 1 }, { SGT_HDR_ROOM, 1 }, { SGT_HDR_NONCE, 8 },
};
#define NHDR_FIELDS (sizeof(hdr_fields) / sizeof(hdr_fields[0]))

static size_t udp_off_of(const uint8_t *fr, size_t len)
{
	size_t ihl = len > SGT_IP_OFF ? (size_t)(fr[SGT_IP_OFF] & 0xf) * 4 : 20;

	return SGT_IP_OFF + (ihl < 20 ? 20 : ihl);
}

/* Set the IP total length and UDP length to cover @len bytes of frame. */
static void fix_lengths(uint8_t *fr, size_t len)
{
	size_t udp = udp_off_of(fr, len);

	if (len >= udp + 8) {
		wr_be16(fr, len, SGT_IP_OFF + 2, (uint16_t)(len - SGT_IP_OFF));
		wr_be16(fr, len, udp + 4, (uint16_t)(len - udp));
	}
}

static void mutate_one(uint8_t *fr, size_t *lenp, uint32_t comm)
{
	size_t len = *lenp, udp = udp_off_of(fr, len), sg = udp + 8;
	unsigned int k;

	switch (rn(20)) {
	case 0:	/* bit flip anywhere */
		k = rn((uint32_t)len);
		fr[k] ^= (uint8_t)(1u << rn(8));
		break;
	case 1:	/* random byte anywhere */
		fr[rn((uint32_t)len)] = (uint8_t)rnd();
		break;
	case 2: case 3: case 4: case 5: {	/* a header field */
		unsigned int i = rn(NHDR_FIELDS), w = hdr_fields[i].width;
		size_t off = sg + hdr_fields[i].off;
		uint64_t v = boundary(rd_le(fr, len, off, w), w);

		/* Ids and nonces of other collectives, armed or not. */
		if (hdr_fields[i].off == SGT_HDR_COLL_ID && chance(50)) {
			const struct fslot *s = &fslots[rn(NFSLOTS)];

			v = s->nold && chance(40) ? s->old[rn(s->nold)].coll_id : s->m.coll_id;
			if (chance(20))
				v += SG_SLOTS * (1 + rn(4));
		} else if (hdr_fields[i].off == SGT_HDR_NONCE && chance(50)) {
			v = fslots[rn(NFSLOTS)].m.nonce;
		} else if (hdr_fields[i].off == SGT_HDR_TYPE && chance(60)) {
			v = rn(6);
		} else if ((hdr_fields[i].off == SGT_HDR_DTYPE) && chance(60)) {
			v = rn(SG_DATATYPE_COUNT + 2);
		} else if ((hdr_fields[i].off == SGT_HDR_OP) && chance(60)) {
			v = chance(20) ? SG_OP_USER : rn(SG_OP_COUNT + 2);
		}
		wr_le(fr, len, off, v, w);
		break;
	}
	case 6: {	/* an IP field */
		switch (rn(9)) {
		case 0: wr_be16(fr, len, SGT_IP_OFF + 2, (uint16_t)boundary(be16(fr, SGT_IP_OFF + 2), 2)); break;
		case 1: fr[SGT_IP_OFF] = (uint8_t)((fr[SGT_IP_OFF] & 0xf0) | rn(16)); break;
		case 2: fr[SGT_IP_OFF] = (uint8_t)((rn(16) << 4) | (fr[SGT_IP_OFF] & 0xf)); break;
		case 3: wr_be16(fr, len, SGT_IP_OFF + 6, chance(50) ? 0x2000 : (uint16_t)rnd()); break;
		case 4: fr[SGT_IP_OFF + 9] = chance(50) ? 6 : (uint8_t)rnd(); break;
		case 5: case 6: other_source(fr, len, comm); break;
		case 7: {	/* another destination */
			struct sgt_addr d = sgt_local_addr(rn(3));

			if (chance(30))
				d.ip = (uint32_t)rnd();
			wr_bytes(fr, len, SGT_IP_OFF + 16, &d.ip, 4);
			break;
		}
		default: fr[SGT_IP_OFF + 8] = (uint8_t)rnd(); break;	/* TTL */
		}
		break;
	}
	case 7: {	/* a UDP field */
		switch (rn(4)) {
		case 0: {
			uint16_t p = chance(50) ? sgt_local_addr(rn(3)).port : (uint16_t)rnd();

			wr_bytes(fr, len, udp + 2, &p, 2);
			break;
		}
		case 1: {
			uint16_t p = chance(50) ? F->comms[comm].workers[0].port :
				     chance(50) ? sgt_local_addr(rn(3)).port : (uint16_t)rnd();

			wr_bytes(fr, len, udp, &p, 2);
			break;
		}
		case 2: wr_be16(fr, len, udp + 4, (uint16_t)boundary(len > udp + 5 ? be16(fr, udp + 4) : 0, 2)); break;
		default: wr_be16(fr, len, udp + 6, chance(50) ? 0 : (uint16_t)rnd()); break;
		}
		break;
	}
	case 8: {	/* ethertype */
		static const uint16_t types[] = { 0x86dd, 0x0806, 0x8100, 0x0801, 0x0000 };

		wr_be16(fr, len, 12, chance(80) ? types[rn(5)] : (uint16_t)rnd());
		break;
	}
	case 9:	/* truncation */
		if (len > FUZZ_MIN_LEN)
			*lenp = FUZZ_MIN_LEN + rn((uint32_t)(len - FUZZ_MIN_LEN));
		break;
	case 10:	/* cut the last bytes only */
		if (len > FUZZ_MIN_LEN + 8)
			*lenp = len - 1 - rn(8);
		break;
	case 11: {	/* extension, lengths as they were */
		size_t add = 1 + rn(chance(50) ? 8 : (uint32_t)(FUZZ_MAX_LEN - len + 1));

		if (len + add <= FUZZ_MAX_LEN) {
			fill_rand(fr + len, add);
			*lenp = len + add;
		}
		break;
	}
	case 12: {	/* extension or cut with IP and UDP lengths following */
		size_t n = len;

		if (chance(50) && len + 1 < FUZZ_MAX_LEN)
			n = len + 1 + rn(chance(50) ? 8 : (uint32_t)(FUZZ_MAX_LEN - len - 1));
		else if (len > sg + SG_WIRE_HDR_LEN)
			n = sg + SG_WIRE_HDR_LEN + rn((uint32_t)(len - sg - SG_WIRE_HDR_LEN));
		if (n > len)
			fill_rand(fr + len, n - len);
		fix_lengths(fr, n);
		*lenp = n;
		break;
	}
	case 13: case 14: {	/* consistent re-chunking: parses, may disagree */
		uint8_t type = sg < len ? fr[sg + SGT_HDR_TYPE] : 0;
		uint32_t cb = (uint32_t)sg_wire_chunk_bytes(type, sg + SGT_HDR_DTYPE < len ?
							    fr[sg + SGT_HDR_DTYPE] : 0);
		uint32_t msg_len = (uint32_t)rd_le(fr, len, sg + SGT_HDR_MSG_LEN, 4);
		uint32_t nch, ch, clen;
		size_t n;

		if (sg + SG_WIRE_HDR_LEN > len)
			break;
		if (chance(40))
			msg_len = chance(50) ? (uint32_t)boundary(msg_len, 4) % (SG_MAX_MSG_BYTES + 2)
					     : rn(6 * SG_CHUNK_BYTES);
		nch = sg_wire_nchunks_of(msg_len, cb);
		ch = chance(20) ? (uint32_t)boundary(0, 2) : rn(nch);
		clen = (uint32_t)sg_wire_chunk_len_of(msg_len, ch, cb);
		if (clen > SG_CHUNK_BYTES)
			clen = SG_CHUNK_BYTES;
		wr_le(fr, len, sg + SGT_HDR_MSG_LEN, msg_len, 4);
		wr_le(fr, len, sg + SGT_HDR_CHUNK, ch, 2);
		wr_le(fr, len, sg + SGT_HDR_NCHUNKS, chance(90) ? nch : nch + 1, 2);
		wr_le(fr, len, sg + SGT_HDR_LENF, clen, 2);
		n = sg + SG_WIRE_HDR_LEN + clen;
		if (n > FUZZ_MAX_LEN)
			break;
		if (n > len)
			fill_rand(fr + len, n - len);
		fix_lengths(fr, n);
		*lenp = n;
		break;
	}
	case 15: {	/* IP options (a valid datagram stays valid) */
		size_t words = 1 + rn(10), add = 4 * words;

		if ((fr[SGT_IP_OFF] & 0xf) != 5 || len < SGT_UDP_OFF || len + add > FUZZ_MAX_LEN)
			break;
		memmove(fr + SGT_UDP_OFF + add, fr + SGT_UDP_OFF, len - SGT_UDP_OFF);
		if (chance(70))
			memset(fr + SGT_UDP_OFF, 1, add);	/* NOPs */
		else
			fill_rand(fr + SGT_UDP_OFF, add);
		fr[SGT_IP_OFF] = (uint8_t)((fr[SGT_IP_OFF] & 0xf0) | (5 + words));
		wr_be16(fr, len + add, SGT_IP_OFF + 2, (uint16_t)(be16(fr, SGT_IP_OFF + 2) + add));
		*lenp = len + add;
		break;
	}
	case 16: case 17: {	/* payload bytes (the datagram stays valid) */
		if (len > sg + SG_WIRE_HDR_LEN)
			for (unsigned int i = 0, n = 1 + rn(8); i < n; i++)
				fr[sg + SG_WIRE_HDR_LEN + rn((uint32_t)(len - sg - SG_WIRE_HDR_LEN))] =
					(uint8_t)rnd();
		break;
	}
	case 18: {	/* another worker of the same communicator */
		const struct sgt_comm *c = &F->comms[comm];
		struct sgt_addr a = c->workers[rn(c->nworkers)];

		wr_bytes(fr, len, SGT_IP_OFF + 12, &a.ip, 4);
		wr_bytes(fr, len, udp, &a.port, 2);
		break;
	}
	default:	/* the other communicator's coordinator */
		{
			struct sgt_addr d = F->comms[comm ^ 1].local;

			wr_bytes(fr, len, SGT_IP_OFF + 16, &d.ip, 4);
			wr_bytes(fr, len, udp + 2, &d.port, 2);
		}
		break;
	}
}

/* 1..8 mutations, then (half the time) checksums made right again. */
static void mutate(uint8_t *fr, size_t *len, uint32_t comm)
{
	for (unsigned int i = 0, n = 1 + rn(8); i < n; i++)
		mutate_one(fr, len, comm);
	if (chance(50))
		sgt_fix_csums(fr, *len);
}

/* ------------------------------------------------------ valid collectives */

static bool is_signed_int(uint8_t dt)
{
	return dt == SG_INT8 || dt == SG_INT16 || dt == SG_INT32 || dt == SG_INT64;
}

static int64_t sext(uint64_t v, unsigned int size)
{
	unsigned int shift = 64 - 8 * size;

	return (int64_t)(v << shift) >> shift;
}

static uint64_t fkey(uint64_t b, unsigned int size)
{
	if (size == 2)
		return (uint16_t)(b ^ ((uint16_t)((int16_t)b >> 15) | 0x8000u));
	if (size == 4)
		return (uint32_t)(b ^ ((uint32_t)((int32_t)b >> 31) | 0x80000000u));
	return b ^ ((uint64_t)((int64_t)b >> 63) | 0x8000000000000000ull);
}

/* NaN bits of the float type @dt: the exponent all ones, a fraction. */
static bool fnan(uint64_t b, uint8_t dt)
{
	switch (dt) {
	case SG_FLOAT16: return (b & 0x7fffu) > 0x7c00u;
	case SG_BFLOAT16: return (b & 0x7fffu) > 0x7f80u;
	case SG_FLOAT32: return (b & 0x7fffffffu) > 0x7f800000u;
	default: return (b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
	}
}

/* acc = op(acc, src) for @count elements, in plain C. Not float SUM. */
static void ref_fold(uint8_t dt, uint8_t op, uint8_t *acc, const uint8_t *src, uint32_t count)
{
	unsigned int size = sg_wire_dtype_size(dt);

	for (uint32_t i = 0; i < count; i++) {
		uint8_t *pa = acc + (size_t)i * size;
		const uint8_t *pb = src + (size_t)i * size;

		if (dt == SG_INT32_LOC || dt == SG_INT64_LOC) {
			unsigned int vs = dt == SG_INT32_LOC ? 4 : 8;
			int64_t va = sext(rd_le(pa, size, 0, vs), vs);
			int64_t vb = sext(rd_le(pb, size, 0, vs), vs);
			int32_t ia = (int32_t)rd_le(pa, size, vs, 4);
			int32_t ib = (int32_t)rd_le(pb, size, vs, 4);
			bool better = op == SG_OP_MAXLOC ? vb > va : vb < va;

			if (better || (vb == va && ib < ia))
				memcpy(pa, pb, vs + 4);	/* value and index; pad stays */
			continue;
		}
		{
			uint64_t a = rd_le(pa, size, 0, size), b = rd_le(pb, size, 0, size), r;
			bool fl = sg_wire_dtype_fsum(dt);
			bool less = fl ? fkey(b, size) < fkey(a, size) :
				    is_signed_int(dt) ? sext(b, size) < sext(a, size) : b < a;
			bool greater = fl ? fkey(b, size) > fkey(a, size) :
				       is_signed_int(dt) ? sext(b, size) > sext(a, size) : b > a;

			/* A NaN anywhere gives NaN (the accumulator's first). */
			if (fl && (op == SG_OP_MIN || op == SG_OP_MAX) &&
			    (fnan(a, dt) || fnan(b, dt))) {
				r = fnan(a, dt) ? a : b;
				wr_le(pa, size, 0, r, size);
				continue;
			}
			switch (op) {
			case SG_OP_SUM: r = a + b; break;
			case SG_OP_PROD: r = a * b; break;
			case SG_OP_MIN: r = less ? b : a; break;
			case SG_OP_MAX: r = greater ? b : a; break;
			case SG_OP_BAND: r = a & b; break;
			case SG_OP_BOR: r = a | b; break;
			default: r = a ^ b; break;
			}
			wr_le(pa, size, 0, r, size);
		}
	}
}

static bool is_fsum(uint8_t dt, uint8_t op)
{
	return op == SG_OP_SUM && sg_wire_dtype_fsum(dt);
}

struct vcoll {
	uint32_t comm, nw, target;
	bool late_extra;		/* worker nw-1 sends after completion */
	struct sg_wire_msg m;
	uint32_t nchunks, cbytes;
	uint8_t *v[NW1];
	uint8_t *ref;			/* expected bytes (not float SUM) */
	int64_t *fref;			/* expected exact sums (float SUM) */
	uint64_t gen;
};

/* Contributions: integers with the interesting values over-represented; for
 * float SUM integers below 2^20 (so the sum is exact); for float MIN/MAX any
 * finite value, signed zeros included; for pairs few distinct values (ties). */
static void vc_init(struct vcoll *vc, uint32_t comm, uint32_t coll_id, uint8_t dt, uint8_t op,
		    uint32_t count, bool late_extra)
{
	unsigned int size = sg_wire_dtype_size(dt);
	size_t cap;

	memset(vc, 0, sizeof(*vc));
	vc->comm = comm;
	vc->nw = F->comms[comm].nworkers;
	vc->late_extra = late_extra;
	vc->target = late_extra ? vc->nw - 1 : vc->nw;
	vc->m = sgt_msg(coll_id, rnd(), dt, op, count);
	vc->nchunks = sgt_nchunks(&vc->m);
	vc->cbytes = sgt_chunk_bytes(&vc->m);
	cap = (size_t)vc->nchunks * vc->cbytes + SG_CHUNK_BYTES;
	for (uint32_t w = 0; w < vc->nw; w++) {
		uint8_t *p = calloc(1, cap);

		assert_non_null(p);
		vc->v[w] = p;
		for (uint32_t j = 0; j < count; j++) {
			uint8_t *e = p + (size_t)j * size;
			uint64_t r = rnd();

			if (is_fsum(dt, op)) {
				/* integers the type holds exactly */
				int bits = dt == SG_FLOAT16 ? 10 : dt == SG_BFLOAT16 ? 7 : 20;
				int32_t x = (int32_t)(rnd() % (2u << bits)) - (1 << bits);

				if (r % 5 == 0)
					x = 0;
				wr_le(e, size, 0, sg_float_round_bits(x, dt), size);
			} else if (sg_wire_dtype_fsum(dt)) {
				uint64_t b = rnd();

				if (size == 2) {
					unsigned int fbits = dt == SG_FLOAT16 ? 10 : 7;

					b &= 0xffffu;
					if ((b & 0x7fffu) >> fbits == 0x7fffu >> fbits)
						b ^= 1u << fbits;
					if (r % 7 == 0)
						b &= 0x8000u;		/* signed zeros */
				} else if (dt == SG_FLOAT32) {
					b &= 0xffffffffu;
					if (((b >> 23) & 0xff) == 0xff)
						b ^= 1u << 23;
					if (r % 7 == 0)
						b &= 0x80000000u;	/* signed zeros */
				} else {
					if (((b >> 52) & 0x7ff) == 0x7ff)
						b ^= 1ull << 52;
					if (r % 7 == 0)
						b &= 0x8000000000000000ull;
				}
				wr_le(e, size, 0, b, size);
			} else if (dt == SG_INT32_LOC || dt == SG_INT64_LOC) {
				unsigned int vs = dt == SG_INT32_LOC ? 4 : 8;

				wr_le(e, size, 0, (uint64_t)((int64_t)rn(7) - 3), vs);
				wr_le(e, size, vs, rn(50), 4);	/* index; pad stays 0 */
			} else {
				uint64_t smin = 1ull << (8 * size - 1), x;

				switch (r % 8) {
				case 0: x = 0; break;
				case 1: x = ~0ull; break;
				case 2: x = smin; break;
				case 3: x = smin - 1; break;
				case 4: x = 1; break;
				default: x = rnd(); break;
				}
				wr_le(e, size, 0, x, size);
			}
		}
	}
	if (is_fsum(dt, op)) {
		vc->fref = calloc(count ? count : 1, sizeof(*vc->fref));
		assert_non_null(vc->fref);
		for (uint32_t w = 0; w < vc->target; w++)
			for (uint32_t j = 0; j < count; j++)
				vc->fref[j] += (int64_t)sg_float_bits_value(
					rd_le(vc->v[w] + (size_t)j * size, size, 0, size), dt);
	} else {
		vc->ref = calloc(1, cap);
		assert_non_null(vc->ref);
		memcpy(vc->ref, vc->v[0], vc->m.msg_len);
		for (uint32_t w = 1; w < vc->target; w++)
			ref_fold(dt, op, vc->ref, vc->v[w], count);
	}
}

static void vc_free(struct vcoll *vc)
{
	for (uint32_t w = 0; w < vc->nw; w++)
		free(vc->v[w]);
	free(vc->ref);
	free(vc->fref);
	memset(vc, 0, sizeof(*vc));
}

static void vc_arm(struct vcoll *vc)
{
	int err = sgt_arm(F, vc->comm, &vc->m, vc->target);

	if (err)
		fail_msg("cannot arm collective %u of communicator %u: %s", vc->m.coll_id,
			 vc->comm, strerror(-err));
	vc->gen = sgt_armed(F, vc->comm, vc->m.coll_id)->gen;
}

static size_t vc_frame(struct vcoll *vc, uint8_t *fr, uint32_t w, uint32_t ch)
{
	return sgt_build_frame(fr, &F->comms[vc->comm].workers[w], &F->comms[vc->comm].local,
			       &vc->m, ch, vc->v[w] + (size_t)ch * vc->cbytes);
}

/* Check the state a complete collective left: result, completion word,
 * slot, chunk states. */
static void vc_check(struct vcoll *vc, const char *what)
{
	uint32_t comm = vc->comm, id = vc->m.coll_id;
	const struct sgt_arming *a = sgt_armed(F, comm, id);
	struct sg_completion comp = sgt_completion(F, comm, id);
	struct sg_slot s;
	uint64_t want_bits[SG_WORKER_WORDS] = { 0 };

	for (uint32_t w = 0; w < vc->target; w++)
		want_bits[w / 64] |= 1ull << (w % 64);
	if (comp.gen != vc->gen || comp.ndone != vc->target)
		fail_msg("%s: completion word (gen %llu, ndone %u), expected (%llu, %u)", what,
			 (unsigned long long)comp.gen, comp.ndone, (unsigned long long)vc->gen,
			 vc->target);
	assert_int_equal(sgt_read_slot(F, comm, id, &s), 0);
	if (s.gen != vc->gen || s.coll_id != id || !s.active || !s.complete ||
	    s.ndone != vc->target || s.nadmitted != vc->target)
		fail_msg("%s: slot gen %llu id %u active %u complete %u ndone %u nadmitted %u",
			 what, (unsigned long long)s.gen, s.coll_id, s.active, s.complete,
			 s.ndone, s.nadmitted);
	for (uint32_t i = 0; i < SG_WORKER_WORDS; i++)
		if (s.admitted[i] != want_bits[i] || s.done[i] != want_bits[i])
			fail_msg("%s: slot worker bits word %u: admitted 0x%llx done 0x%llx", what,
				 i, (unsigned long long)s.admitted[i],
				 (unsigned long long)s.done[i]);
	for (uint32_t w = 0; w < vc->nw; w++)
		if (s.progress[w] != (w < vc->target ? vc->nchunks : 0))
			fail_msg("%s: worker %u progress %u", what, w, s.progress[w]);
	for (uint32_t ch = 0; ch < vc->nchunks; ch++) {
		struct sg_chunk_state cs;

		assert_int_equal(sgt_read_chunk(F, comm, id, ch, &cs), 0);
		if (cs.gen != vc->gen || cs.ncontrib != vc->target ||
		    memcmp(cs.seen, want_bits, sizeof(want_bits)))
			fail_msg("%s: chunk %u state gen %llu ncontrib %u", what, ch,
				 (unsigned long long)cs.gen, cs.ncontrib);
	}
	if (vc->fref) {
		unsigned int size = sg_wire_dtype_size(vc->m.dtype);

		for (uint32_t j = 0; j < vc->m.count; j++) {
			uint32_t e = a->base + j / sgt_chunk_elems(vc->m.dtype),
				 k = j % sgt_chunk_elems(vc->m.dtype);
			int64_t mant;
			uint16_t aux = sgt_entry_aux(F, e)[k];
			uint32_t E = aux & SG_FSUM_EXP;
			__int128 want;

			memcpy(&mant, sgt_entry_acc(F, e) + 8 * k, 8);
			/* value = mant * 2^(E - 1075), exactly the integer sum */
			if (aux & ~SG_FSUM_EXP)
				fail_msg("%s: float%u SUM element %u: specials 0x%x", what,
					 8 * size, j, aux);
			if (vc->fref[j] == 0 ? mant != 0 :
			    (E > SG_FSUM_BIAS || SG_FSUM_BIAS - E > 62 ||
			     (want = (__int128)vc->fref[j] * ((__int128)1 << (SG_FSUM_BIAS - E)),
			      want != (__int128)mant)))
				fail_msg("%s: float%u SUM element %u: mantissa %lld exp %u, "
					 "expected %lld", what, 8 * size, j, (long long)mant, E,
					 (long long)vc->fref[j]);
		}
	} else {
		uint8_t *res = malloc(vc->m.msg_len + 1);

		assert_non_null(res);
		sgt_copy_result(F, comm, id, res);
		for (uint32_t i = 0; i < vc->m.msg_len; i++)
			if (res[i] != vc->ref[i]) {
				uint8_t g = res[i];

				free(res);
				fail_msg("%s: result byte %u is 0x%02x, expected 0x%02x", what, i, g,
					 vc->ref[i]);
			}
		free(res);
	}
}

/* Run @n collectives (armed already) to completion with their frames
 * interleaved in a random order, the late workers' frames last, and check
 * every frame's verdict, the counters, events and each collective's state. */
static void vc_run(struct vcoll *vcs, unsigned int n, const char *what)
{
	uint32_t npairs = 0, nlate = 0, *pairs, k = 0;
	uint64_t want_acc[NCOMMS] = { 0 }, want_late[NCOMMS] = { 0 }, want_done[NCOMMS] = { 0 };
	struct sg_stats st0[NCOMMS], st1[NCOMMS];
	uint8_t fr[SGT_FRAME_MAX];
	bool seen_ev[16] = { false };

	assert_true(n <= 16);
	for (unsigned int i = 0; i < n; i++) {
		npairs += vcs[i].nw * vcs[i].nchunks;
		want_acc[vcs[i].comm] += vcs[i].target * vcs[i].nchunks;
		want_late[vcs[i].comm] += (vcs[i].nw - vcs[i].target) * vcs[i].nchunks;
		want_done[vcs[i].comm]++;
	}
	pairs = calloc(npairs, sizeof(*pairs));
	assert_non_null(pairs);
	/* pair = collective << 24 | worker << 12 | chunk; late ones at the end */
	for (unsigned int i = 0; i < n; i++)
		for (uint32_t w = 0; w < vcs[i].nw; w++)
			for (uint32_t ch = 0; ch < vcs[i].nchunks; ch++) {
				uint32_t p = i << 24 | w << 12 | ch;

				if (w < vcs[i].target)
					pairs[k++] = p;
				else
					pairs[npairs - 1 - nlate++] = p;
			}
	for (uint32_t i = k - 1; i > 0 && k > 1; i--) {
		uint32_t j = rn(i + 1), t = pairs[i];

		pairs[i] = pairs[j];
		pairs[j] = t;
	}
	drain_events();
	read_stats2(st0);
	for (uint32_t i = 0; i < npairs; i++) {
		struct vcoll *vc = &vcs[pairs[i] >> 24];
		uint32_t w = pairs[i] >> 12 & 0xfff, ch = pairs[i] & 0xfff, rv = ~0u;
		size_t len = vc_frame(vc, fr, w, ch);
		int err = sgt_run(bpf_program__fd(F->dp.skel->progs.sg_gather), fr, len, NULL, NULL,
				  &rv);

		if (err || rv != XDP_DROP) {
			free(pairs);
			fail_msg("%s: collective %u worker %u chunk %u: run %d verdict %u", what,
				 vc->m.coll_id, w, ch, err, rv);
		}
	}
	free(pairs);
	read_stats2(st1);
	for (uint32_t c = 0; c < NCOMMS; c++) {
		struct sg_stats d = delta(&st0[c], &st1[c]);
		char buf[256];

		fmt_stats(buf, sizeof(buf), &d);
		if (d.rx_accepted != want_acc[c] || d.rx_late != want_late[c] ||
		    d.completed != want_done[c] || d.rx_duplicate || d.rx_stale ||
		    d.rx_malformed || d.rx_unknown_src || d.tx_fanout)
			fail_msg("%s: communicator %u counted %s; expected accepted %llu late %llu "
				 "completed %llu", what, c, buf, (unsigned long long)want_acc[c],
				 (unsigned long long)want_late[c],
				 (unsigned long long)want_done[c]);
	}
	if (sgt_poll_events(F) < 0 || F->nevents != n)
		fail_msg("%s: %u completion events, expected %u", what, F->nevents, n);
	for (unsigned int e = 0; e < n; e++) {
		const struct sg_event *ev = &F->events[e];
		bool found = false;

		for (unsigned int i = 0; i < n && !found; i++) {
			if (seen_ev[i] || ev->comm != vcs[i].comm || ev->coll_id != vcs[i].m.coll_id)
				continue;
			if (ev->slot != vcs[i].m.coll_id % SG_SLOTS || ev->ndone != vcs[i].target)
				fail_msg("%s: event of collective %u: slot %u ndone %u", what,
					 ev->coll_id, ev->slot, ev->ndone);
			seen_ev[i] = found = true;
		}
		if (!found)
			fail_msg("%s: unexpected event comm %u coll_id %u", what, ev->comm,
				 ev->coll_id);
	}
	F->nevents = 0;
	for (unsigned int i = 0; i < n; i++) {
		char w2[96];

		snprintf(w2, sizeof(w2), "%s: comm %u coll %u (dtype %u op %u, %u chunks)", what,
			 vcs[i].comm, vcs[i].m.coll_id, vcs[i].m.dtype, vcs[i].m.op,
			 vcs[i].nchunks);
		vc_check(&vcs[i], w2);
	}
}

/* ------------------------------------------------------- fuzz-slot model */

/* What the frames of the fuzz that match a fuzz collective must have done to
 * it, by the rules of include/sgbpf/agg.bpf.h and sg_gather: admission up to
 * the target, each chunk folded once per worker, progress, completion; and
 * the accumulators (but for float SUM, whose rounding is tested in
 * tests/test_bpf_floats.c). */
#define MAXCH 10

struct fmodel {
	uint64_t admitted[SG_WORKER_WORDS], done[SG_WORKER_WORDS];
	uint32_t nadmitted, ndone;
	bool complete;
	uint16_t progress[NW1];
	uint64_t seen[MAXCH][SG_WORKER_WORDS];
	uint32_t ncontrib[MAXCH];
	uint8_t acc[MAXCH][SG_CHUNK_BYTES];
};

static struct fmodel fmodels[NFSLOTS];
static uint64_t fmodel_checks;

static int fslot_of(uint32_t comm, uint32_t coll_id)
{
	for (unsigned int i = 0; i < NFSLOTS; i++)
		if (fslots[i].comm == comm && fslots[i].m.coll_id == coll_id)
			return (int)i;
	return -1;
}

/* Apply an accepted-class frame of worker @w for chunk @ch (payload @p of
 * @len bytes) to the model; returns the counters it must change. */
static struct sg_stats fmodel_apply(unsigned int i, uint32_t w, uint32_t ch, const uint8_t *p,
				    uint32_t len)
{
	struct fmodel *fm = &fmodels[i];
	const struct fslot *s = &fslots[i];
	uint64_t bit = 1ull << (w % 64);
	uint32_t word = w / 64, nch = sgt_nchunks(&s->m);
	struct sg_stats e = { 0 };

	if (!(fm->admitted[word] & bit)) {
		if (fm->nadmitted >= s->target) {
			e.rx_late = 1;
			return e;
		}
		fm->admitted[word] |= bit;
		fm->nadmitted++;
	}
	if (ch >= MAXCH)
		fail_msg("model: chunk %u", ch);
	if (fm->seen[ch][word] & bit) {
		e.rx_duplicate = 1;
		return e;
	}
	fm->seen[ch][word] |= bit;
	if (!is_fsum(s->dtype, s->op)) {
		if (fm->ncontrib[ch] == 0)
			memcpy(fm->acc[ch], p, len);
		else
			ref_fold(s->dtype, s->op, fm->acc[ch], p,
				 len / sg_wire_dtype_size(s->dtype));
	}
	fm->ncontrib[ch]++;
	e.rx_accepted = 1;
	if (++fm->progress[w] == nch) {
		fm->done[word] |= bit;
		if (++fm->ndone == s->target) {
			fm->complete = true;
			e.completed = 1;
		}
	}
	return e;
}

/* The fuzz collective @i in the datapath must be what the model says. */
static void fmodel_check(unsigned int i)
{
	const struct fmodel *fm = &fmodels[i];
	const struct fslot *s = &fslots[i];
	const struct sgt_arming *a = sgt_armed(F, s->comm, s->m.coll_id);
	uint32_t nch = sgt_nchunks(&s->m), cb = sgt_chunk_bytes(&s->m);
	struct sg_slot sl;

	assert_int_equal(sgt_read_slot(F, s->comm, s->m.coll_id, &sl), 0);
	if (sl.gen != a->gen || sl.nadmitted != fm->nadmitted || sl.ndone != fm->ndone ||
	    sl.complete != fm->complete || memcmp(sl.admitted, fm->admitted, sizeof(fm->admitted)) ||
	    memcmp(sl.done, fm->done, sizeof(fm->done)) ||
	    memcmp(sl.progress, fm->progress, sizeof(fm->progress)))
		fail_msg("fuzz collective %u (comm %u id %u, seed 0x%016llx, frame %llu): slot "
			 "nadmitted %u ndone %u complete %u, model %u %u %u (or worker bits or "
			 "progress differ)", i, s->comm, s->m.coll_id, (unsigned long long)seed0,
			 (unsigned long long)xc.frames, sl.nadmitted, sl.ndone, sl.complete,
			 fm->nadmitted, fm->ndone, fm->complete);
	if (fm->complete) {
		struct sg_completion c = sgt_completion(F, s->comm, s->m.coll_id);

		if (c.gen != a->gen || c.ndone != s->target)
			fail_msg("fuzz collective %u: completion word gen %llu ndone %u", i,
				 (unsigned long long)c.gen, c.ndone);
	}
	for (uint32_t ch = 0; ch < nch; ch++) {
		struct sg_chunk_state cs;
		uint32_t clen = (uint32_t)sg_wire_chunk_len_of(s->m.msg_len, ch, cb);

		if (!fm->ncontrib[ch])
			continue;	/* may still hold an older owner's state */
		assert_int_equal(sgt_read_chunk(F, s->comm, s->m.coll_id, ch, &cs), 0);
		if (cs.gen != a->gen || cs.ncontrib != fm->ncontrib[ch] ||
		    memcmp(cs.seen, fm->seen[ch], sizeof(cs.seen)))
			fail_msg("fuzz collective %u chunk %u (seed 0x%016llx, frame %llu): state "
				 "gen %llu ncontrib %u, model gen %llu ncontrib %u (or seen bits)",
				 i, ch, (unsigned long long)seed0, (unsigned long long)xc.frames,
				 (unsigned long long)cs.gen, cs.ncontrib,
				 (unsigned long long)a->gen, fm->ncontrib[ch]);
		if (!is_fsum(s->dtype, s->op) &&
		    memcmp(sgt_entry_acc(F, sgt_entry(F, s->comm, s->m.coll_id, ch)), fm->acc[ch],
			   clen)) {
			const uint8_t *got = sgt_entry_acc(F, sgt_entry(F, s->comm, s->m.coll_id, ch));
			uint32_t b = 0;

			while (b < clen && got[b] == fm->acc[ch][b])
				b++;
			fail_msg("fuzz collective %u (dtype %u op %u) chunk %u (seed 0x%016llx, "
				 "frame %llu): accumulator byte %u is 0x%02x, model 0x%02x", i,
				 s->dtype, s->op, ch, (unsigned long long)seed0,
				 (unsigned long long)xc.frames, b, got[b], fm->acc[ch][b]);
		}
	}
	fmodel_checks++;
}

/* ------------------------------------------------------- fuzz-slot arming */

static void arm_fslot(unsigned int i, bool first_time)
{
	struct fslot *s = &fslots[i];
	uint32_t coll_id;
	int err;

	if (!first_time) {
		fmodel_check(i);
		if (s->nold == 4)
			memmove(s->old, s->old + 1, 3 * sizeof(s->old[0]));
		else
			s->nold++;
		s->old[s->nold - 1] = s->m;
		sgt_release(F, s->comm, s->m.coll_id);
		coll_id = s->m.coll_id + SG_SLOTS;
	} else {
		coll_id = fslot_ids[i];
	}
	s->m = sgt_msg(coll_id, rnd(), s->dtype, s->op, s->count);
	err = sgt_arm(F, s->comm, &s->m, s->target);
	if (err)
		fail_msg("cannot arm fuzz collective %u: %s", i, strerror(-err));
	memset(&fmodels[i], 0, sizeof(fmodels[i]));
}

/* The collectives run mid-fuzz, in rotation. */
static const struct {
	uint32_t comm;
	uint8_t dtype, op;
	uint32_t count;
	bool late;
} mid_colls[] = {
	{ 0, SG_INT32, SG_OP_SUM, 600, false },		/* 3 chunks */
	{ 1, SG_FLOAT32, SG_OP_SUM, 300, false },	/* 3 chunks of 512 */
	{ 0, SG_UINT8, SG_OP_PROD, 1500, true },
	{ 1, SG_INT64, SG_OP_MIN, 200, false },
	{ 0, SG_FLOAT64, SG_OP_SUM, 260, false },
	{ 1, SG_UINT16, SG_OP_BXOR, 100, true },
	{ 0, SG_FLOAT64, SG_OP_MAX, 130, false },
	{ 1, SG_INT32_LOC, SG_OP_MAXLOC, 200, false },
	{ 0, SG_INT16, SG_OP_MAX, 1000, false },
	{ 1, SG_UINT32, SG_OP_BOR, 256, false },
	{ 0, SG_FLOAT32, SG_OP_MIN, 300, false },
	{ 1, SG_INT8, SG_OP_BAND, 2000, false },
};
#define NMID (sizeof(mid_colls) / sizeof(mid_colls[0]))

static void mid_collective(unsigned int k)
{
	unsigned int i = k % NMID;
	/* Slots 20..59, which no fuzz collective uses; a new id each time. */
	uint32_t coll_id = SG_SLOTS * (16 + k) + 20 + k % 40;
	struct vcoll vc;
	char what[64];

	snprintf(what, sizeof(what), "mid-fuzz collective %u", k);
	vc_init(&vc, mid_colls[i].comm, coll_id, mid_colls[i].dtype, mid_colls[i].op,
		mid_colls[i].count, mid_colls[i].late);
	vc_arm(&vc);
	vc_run(&vc, 1, what);
	sgt_release(F, vc.comm, coll_id);
	vc_free(&vc);
	xc.collectives++;
}

/* ----------------------------------------------------------- gather fuzzing */

static int gather_fd(void)
{
	return bpf_program__fd(F->dp.skel->progs.sg_gather);
}

enum gkind { GK_RANDOM, GK_MUTATED, GK_UNMUTATED, GK_STRAGGLER, GK_REQUEST, GK_UNKNOWN };

/* One fuzz frame for sg_gather. */
static size_t gen_gather(uint8_t *fr, enum gkind *kind)
{
	unsigned int r = rn(100), si = rn(NFSLOTS);
	const struct fslot *s = &fslots[si];
	const struct sgt_comm *c = &F->comms[s->comm];
	uint32_t w = chance(90) ? rn(c->nworkers) : rn(s->target);
	size_t len;

	memset(fr, 0, FR_CAP);	/* bytes past a frame read by mutations: deterministic */
	if (r < 20) {		/* (a) random bytes */
		len = FUZZ_MIN_LEN + rn(FUZZ_MAX_LEN - FUZZ_MIN_LEN + 1);
		fill_rand(fr, len);
		if (chance(10)) {	/* ... behind a plausible Ethernet type */
			fr[12] = 0x08;
			fr[13] = 0x00;
		}
		*kind = GK_RANDOM;
		return len;
	}
	if (r < 25) {		/* a valid, unmutated chunk, sometimes VLAN-tagged */
		*kind = GK_UNMUTATED;
		len = build_chunk(fr, s->comm, w, fslot_msg(si), rn(sgt_nchunks(&s->m)));
		int ntags = chance(30) ? 1 + (int)rn(3) : 0;	/* 3: not parsed, passed */

		for (int t = 0; t < ntags; t++) {
			memmove(fr + 16, fr + 12, len - 12);
			fr[12] = chance(50) ? 0x81 : 0x88;
			fr[13] = fr[12] == 0x81 ? 0x00 : 0xa8;
			fr[14] = (uint8_t)rn(16);	/* PCP, DEI, VID high */
			fr[15] = chance(20) ? 0 : (uint8_t)rnd();	/* VID 0: priority tag */
			len += 4;
		}
		xc.vlan_tagged += ntags == 1 || ntags == 2;
		return len;
	}
	if (r < 32 && s->nold) {	/* a straggler of an earlier collective */
		const struct sg_wire_msg *m = &s->old[rn(s->nold)];

		len = build_chunk(fr, s->comm, w, m, rn(sgt_nchunks(m)));
		if (chance(50))
			mutate(fr, &len, s->comm);
		*kind = GK_STRAGGLER;
		return len;
	}
	if (r < 38) {		/* a coordinator request, mutated */
		len = build_request(fr, s->comm);
		mutate(fr, &len, s->comm);
		*kind = GK_REQUEST;
		return len;
	}
	len = build_chunk(fr, s->comm, w, fslot_msg(si), rn(sgt_nchunks(&s->m)));
	if (r < 53) {		/* (c) from an unknown source */
		other_source(fr, len, s->comm);
		if (chance(50))
			mutate(fr, &len, s->comm);
		else if (chance(50))
			sgt_fix_csums(fr, len);
		*kind = GK_UNKNOWN;
		return len;
	}
	mutate(fr, &len, s->comm);	/* (b) */
	*kind = GK_MUTATED;
	return len;
}

static struct sg_stats known[NCOMMS];	/* the counters as of the last frame */

/* Run one frame and check it against the oracle. */
static void gather_one(const uint8_t *fr, size_t len, enum xcls cls, const struct xinfo *xi)
{
	uint32_t comm = xi->comm;
	static uint8_t out[FR_CAP];
	size_t out_len = sizeof(out);
	struct sg_stats now_st[NCOMMS], d[NCOMMS];
	uint32_t rv = ~0u;
	uint64_t idx = xc.frames++;
	char buf[256];
	int err;

	err = sgt_run(gather_fd(), fr, len, out, &out_len, &rv);
	if (err)
		fail_frame("sg_gather", idx, fr, len, 0, "test run failed: %s", strerror(-err));
	read_stats2(now_st);
	for (uint32_t c = 0; c < NCOMMS; c++)
		d[c] = delta(&known[c], &now_st[c]);
	memcpy(known, now_st, sizeof(known));
	xc.cls[cls]++;
	if (cls == XC_MALFORMED)
		xc.why[last_why]++;
	if (rv == XDP_PASS)
		xc.pass++;
	else if (rv == XDP_DROP)
		xc.drop++;
	else
		xc.other++;
	if (rv != XDP_PASS && rv != XDP_DROP)
		fail_frame("sg_gather", idx, fr, len, 0, "verdict %u", rv);
	if (cls == XC_PASS) {
		if (rv != XDP_PASS)
			fail_frame("sg_gather", idx, fr, len, 0,
				   "not addressed to a communicator, verdict %u", rv);
		if (out_len != len || memcmp(out, fr, len))
			fail_frame("sg_gather", idx, fr, len, 0, "passed frame changed");
		for (uint32_t c = 0; c < NCOMMS; c++)
			if (!stats_zero(&d[c])) {
				fmt_stats(buf, sizeof(buf), &d[c]);
				fail_frame("sg_gather", idx, fr, len, 0,
					   "passed frame counted on comm %u: %s", c, buf);
			}
		return;
	}
	if (rv != XDP_DROP)
		fail_frame("sg_gather", idx, fr, len, 0, "%s frame for comm %u: verdict %u",
			   xcls_name[cls], comm, rv);
	if (!stats_zero(&d[comm ^ 1])) {
		fmt_stats(buf, sizeof(buf), &d[comm ^ 1]);
		fail_frame("sg_gather", idx, fr, len, 0, "frame for comm %u counted on comm %u: %s",
			   comm, comm ^ 1, buf);
	}
	fmt_stats(buf, sizeof(buf), &d[comm]);
	{
		struct sg_stats e = { 0 };
		bool ok;

		switch (cls) {
		case XC_UNKNOWN: e.rx_unknown_src = 1; ok = !memcmp(&e, &d[comm], sizeof(e)); break;
		case XC_MALFORMED: e.rx_malformed = 1; ok = !memcmp(&e, &d[comm], sizeof(e)); break;
		case XC_STALE: e.rx_stale = 1; ok = !memcmp(&e, &d[comm], sizeof(e)); break;
		case XC_FORGED: e.rx_forged = 1; ok = !memcmp(&e, &d[comm], sizeof(e)); break;
		default: {
			const struct sg_stats *x = &d[comm];
			int fi = fslot_of(comm, xi->coll_id);

			xc.acc_accepted += x->rx_accepted;
			xc.acc_duplicate += x->rx_duplicate;
			xc.acc_late += x->rx_late;
			xc.acc_stale += x->rx_stale;
			if (fi >= 0) {	/* exactly what the model says, chunk by chunk */
				const uint8_t *p = fr + xi->sg + SG_WIRE_HDR_LEN;
				uint32_t cb = sgt_chunk_bytes(&fslots[fi].m);

				for (uint32_t ch = xi->chunk; ch < xi->chunk + xi->span; ch++) {
					uint32_t clen = (uint32_t)sg_wire_chunk_len_of(
						fslots[fi].m.msg_len, ch, cb);
					struct sg_stats ce = fmodel_apply((unsigned int)fi,
									  (uint32_t)xi->worker, ch,
									  p, clen);

					e.rx_accepted += ce.rx_accepted;
					e.rx_duplicate += ce.rx_duplicate;
					e.rx_late += ce.rx_late;
					e.completed += ce.completed;
					p += clen;
				}
				xc.span_frames += xi->span > 1;
				ok = !memcmp(&e, x, sizeof(e));
				/* (untagged frames: the helper knows no VLAN) */
				if (ok && e.rx_accepted && xi->sg == SGT_SG_OFF &&
				    sgt_check_csums(fr, len, true))
					xc.folded_bad_udp_csum++;
				if (!ok) {
					char eb[256];

					fmt_stats(eb, sizeof(eb), &e);
					fail_frame("sg_gather", idx, fr, len, 0,
						   "worker %d chunk %u of fuzz collective %d: expected "
						   "%s, counted %s", xi->worker, xi->chunk, fi, eb, buf);
				}
				break;
			}
			ok = x->rx_accepted + x->rx_duplicate + x->rx_late + x->rx_stale == xi->span &&
			     !x->rx_malformed && !x->rx_unknown_src && !x->tx_fanout &&
			     x->completed <= x->rx_accepted;
			break;
		}
		}
		if (!ok)
			fail_frame("sg_gather", idx, fr, len, 0,
				   "expected %s on comm %u, counted %s", xcls_name[cls], comm, buf);
	}
}

/* The frames of one round's hostile segment: only frames the oracle says
 * must be rejected (passed or counted), between two snapshots that must be
 * equal. */
static void hostile_segment(unsigned int nframes)
{
	uint8_t fr[FR_CAP];
	struct sgt_snapshot snap;
	int err;

	drain_events();
	memset(&snap, 0, sizeof(snap));
	err = sgt_snapshot_take(F, &snap);
	if (err)
		fail_msg("snapshot: %s", strerror(-err));
	for (unsigned int i = 0; i < nframes; i++) {
		enum gkind kind;
		enum xcls cls = XC_ACCEPT;
		struct xinfo xi = { 0 };
		size_t len = 0;

		/* Bounded: a frame that may be folded is replaced by another. */
		for (unsigned int tries = 0; tries < 64 && cls == XC_ACCEPT; tries++) {
			len = gen_gather(fr, &kind);
			cls = classify_gather(fr, len, &xi);
		}
		if (cls == XC_ACCEPT)
			continue;
		gather_one(fr, len, cls, &xi);
		xc.hostile_segment_frames++;
	}
	if (sgt_snapshot_diff(F, &snap, NULL, false))
		fail_msg("hostile frames changed the state (seed 0x%016llx, up to frame %llu)",
			 (unsigned long long)seed0, (unsigned long long)xc.frames);
	sgt_snapshot_free(&snap);
	xc.snapshots++;
}

static void test_gather_fuzz(void **state)
{
	uint8_t fr[FR_CAP];
	double t0 = now();
	uint64_t target = xdp_frames, round = 0;

	drain_events();
	read_stats2(known);
	/* Bounded by the frame budget: every round consumes ROUND_FRAMES. */
	while (xc.frames < target) {
		uint64_t end = xc.frames + ROUND_FRAMES;

		if (end > target)
			end = target;
		for (unsigned int i = 0; i < NFSLOTS; i++)
			arm_fslot(i, false);
		hostile_segment(end - xc.frames < HOSTILE_FRAMES ? (unsigned int)(end - xc.frames)
								  : HOSTILE_FRAMES);
		while (xc.frames < end) {
			enum gkind kind;
			struct xinfo xi = { 0 };
			size_t len = gen_gather(fr, &kind);
			enum xcls cls = classify_gather(fr, len, &xi);

			switch (kind) {
			case GK_RANDOM: xc.random++; break;
			case GK_MUTATED: xc.mutated++; break;
			case GK_UNMUTATED: xc.unmutated++; break;
			case GK_STRAGGLER: xc.stragglers++; break;
			case GK_REQUEST: xc.requests++; break;
			default: xc.unknown_src++; break;
			}
			gather_one(fr, len, cls, &xi);
		}
		drain_events();
		mid_collective((unsigned int)round++);
		read_stats2(known);
	}
	xc.secs = now() - t0;
}

/* ---------------------------------------------------------- scatter fuzzing */

struct tc_out {
	uint32_t rv, mark;
	size_t len;
	uint8_t data[4096];
};

static int run_tc(const uint8_t *fr, size_t len, uint32_t mark, struct tc_out *o)
{
	struct __sk_buff ctx, cout;
	int err;

	memset(&ctx, 0, sizeof(ctx));
	memset(&cout, 0, sizeof(cout));
	ctx.mark = mark;
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = fr,
			.data_size_in = (uint32_t)len,
			.data_out = o->data,
			.data_size_out = sizeof(o->data),
			.ctx_in = &ctx,
			.ctx_size_in = sizeof(ctx),
			.ctx_out = &cout,
			.ctx_size_out = sizeof(cout),
			.repeat = 1,
		);

		err = bpf_prog_test_run_opts(bpf_program__fd(F->dp.skel->progs.sg_scatter), &opts);
		if (err)
			return err < 0 ? err : -EINVAL;
		o->rv = opts.retval;
		o->len = opts.data_size_out;
	}
	o->mark = cout.mark;
	return 0;
}

static size_t gen_scatter(uint8_t *fr, uint32_t *mark)
{
	uint32_t comm = rn(NCOMMS), r = rn(100);
	size_t len;

	memset(fr, 0, FR_CAP);
	*mark = 0;
	if (r < 20) {
		len = FUZZ_MIN_LEN + rn(FUZZ_MAX_LEN - FUZZ_MIN_LEN + 1);
		fill_rand(fr, len);
		return len;
	}
	if (r < 35) {		/* a worker's response */
		unsigned int si = rn(NFSLOTS);

		/* one chunk: BPF_PROG_TEST_RUN takes skbs of a page at most */
		len = build_chunk_of(fr, fslots[si].comm, rn(F->comms[fslots[si].comm].nworkers),
				     fslot_msg(si), rn(sgt_nchunks(&fslots[si].m)), false);
		if (chance(50))
			mutate(fr, &len, fslots[si].comm);
		return len;
	}
	len = build_request(fr, comm);
	if (r < 45) {		/* from another source */
		other_source(fr, len, comm);
		if (chance(50))
			sgt_fix_csums(fr, len);
	} else if (r < 52) {	/* the application's mark; a clone (an authenticator) */
		*mark = (uint32_t)rnd();
		if (chance(60) && len >= SGT_SG_OFF + SG_WIRE_HDR_LEN) {
			sgt_put32(fr, SGT_SG_OFF + SGT_HDR_AUTH, (uint32_t)rnd() | 1);
			sgt_fix_csums(fr, len);
		}
	} else if (r < 60) {
		return len;	/* valid, unmutated */
	}
	if (chance(85))
		mutate(fr, &len, comm);
	return len;
}

static void tc_one(const uint8_t *fr, size_t len, uint32_t mark)
{
	static struct tc_out o;
	struct sg_stats now_st[NCOMMS], d[NCOMMS];
	uint32_t comm = 0, first = 0, n = classify_scatter(fr, len, mark, &comm, &first);
	uint32_t acomm = 0;
	int arm = classify_arm(fr, len, mark, &acomm);
	uint64_t idx = tcc.frames++;
	char buf[256];
	int err;

	err = run_tc(fr, len, mark, &o);
	/* Since Linux 6.18.22 (and the other stable series), BPF_PROG_TEST_RUN
	 * refuses an skb whose Ethernet type is IPv4 or IPv6 but which is
	 * shorter than that IP header: the program never sees it. */
	if (err == -EINVAL && len >= 14 &&
	    ((be16(fr, 12) == 0x0800 && len < SGT_IP_OFF + 20) ||
	     (be16(fr, 12) == 0x86dd && len < SGT_IP_OFF + 40))) {
		tcc.refused++;
		return;
	}
	if (err)
		fail_frame("sg_scatter", idx, fr, len, mark, "test run failed: %s", strerror(-err));
	read_stats2(now_st);
	for (uint32_t c = 0; c < NCOMMS; c++)
		d[c] = delta(&known[c], &now_st[c]);
	memcpy(known, now_st, sizeof(known));
	if (o.rv == TC_ACT_OK)
		tcc.ok++;
	else if (o.rv == TC_ACT_SHOT)
		tcc.shot++;
	else
		tcc.other++;
	if (o.rv != TC_ACT_OK)
		fail_frame("sg_scatter", idx, fr, len, mark, "verdict %u", o.rv);
	if (o.len != len)
		fail_frame("sg_scatter", idx, fr, len, mark, "length %zu came back", o.len);
	for (uint32_t c = 0; c < NCOMMS; c++) {
		struct sg_stats e = { 0 };

		if (n && c == comm)
			e.tx_fanout = n;
		if (arm == 1 && c == acomm)
			e.tx_arm_mismatch = 1;
		if (arm == 2 && c == acomm)
			e.tx_armed = 1;
		if (memcmp(&e, &d[c], sizeof(e))) {
			fmt_stats(buf, sizeof(buf), &d[c]);
			fail_frame("sg_scatter", idx, fr, len, mark,
				   "comm %u counted %s, expected tx_fanout %u, arm_mismatch %u, "
				   "armed %u", c, buf, (unsigned int)e.tx_fanout,
				   (unsigned int)e.tx_arm_mismatch, (unsigned int)e.tx_armed);
		}
	}
	tcc.arm_mismatch += arm == 1;
	tcc.arm_match += arm == 3;
	if (!n) {
		if (memcmp(o.data, fr, len))
			fail_frame("sg_scatter", idx, fr, len, mark, "frame not to fan out changed");
		if (o.mark != mark)
			fail_frame("sg_scatter", idx, fr, len, mark, "mark 0x%x", o.mark);
		tcc.untouched++;
		return;
	}
	/* Fanned out: the original now goes to the batch's last worker. */
	{
		const struct sgt_addr *w = &F->comms[comm].workers[first + n - 1];
		struct l4 l;
		size_t ip = SGT_IP_OFF, udp, ihl;
		uint8_t exp[FR_CAP];
		uint16_t ulen;

		if (!parse_udp(fr, len, &l))
			fail_msg("oracle: fanned-out frame does not parse");
		udp = l.udp;
		ihl = l.ihl;
		ulen = l.udp_len;
		if (o.mark != mark)
			fail_frame("sg_scatter", idx, fr, len, mark, "fanned out, mark 0x%x", o.mark);
		memcpy(exp, fr, len);
		memcpy(exp, w->mac, 6);
		memcpy(exp + ip + 16, &w->ip, 4);
		memcpy(exp + udp + 2, &w->port, 2);
		{	/* the worker's own authenticator */
			size_t sg = udp + 8;
			uint64_t a = sgt_siphash_ref(F->comms[comm].key,
						     rd_le(fr, len, sg + SGT_HDR_NONCE, 8),
						     (sgt_get32(fr, sg + SGT_HDR_COLL_ID) & 0x7fffffffu) |
						     (uint64_t)(first + n - 1) << 32) | 1;

			for (int b = 0; b < 8; b++)
				exp[sg + SGT_HDR_AUTH + b] = (uint8_t)(a >> (8 * b));
		}
		/* Checksums compared apart. */
		memcpy(exp + ip + 10, o.data + ip + 10, 2);
		memcpy(exp + udp + 6, o.data + udp + 6, 2);
		if (memcmp(exp, o.data, len))
			fail_frame("sg_scatter", idx, fr, len, mark,
				   "fanned out to worker %u: bytes other than the destination "
				   "and checksums differ (or wrong destination)", first + n - 1);
		if (ones_norm(csum_fold(csum_add(0, fr + ip, ihl))) !=
		    ones_norm(csum_fold(csum_add(0, o.data + ip, ihl))))
			fail_frame("sg_scatter", idx, fr, len, mark, "IP checksum not updated");
		if (!fr[udp + 6] && !fr[udp + 7]) {
			if (o.data[udp + 6] || o.data[udp + 7])
				fail_frame("sg_scatter", idx, fr, len, mark,
					   "zero UDP checksum was set");
		} else {
			uint32_t si = csum_add(0, fr + ip + 12, 8) + 17 + ulen;
			uint32_t so = csum_add(0, o.data + ip + 12, 8) + 17 + ulen;

			si = csum_add(si, fr + udp, ulen);
			so = csum_add(so, o.data + udp, ulen);
			if (ones_norm(csum_fold(si)) != ones_norm(csum_fold(so)))
				fail_frame("sg_scatter", idx, fr, len, mark,
					   "UDP checksum not updated");
			if (!o.data[udp + 6] && !o.data[udp + 7])
				fail_frame("sg_scatter", idx, fr, len, mark,
					   "nonzero UDP checksum became 0");
		}
		tcc.fanned_out++;
		tcc.clones += n - 1;
	}
}

static void test_scatter_fuzz(void **state)
{
	uint8_t fr[FR_CAP];
	struct sgt_snapshot snap;
	double t0 = now();
	int err;

	drain_events();
	read_stats2(known);
	memset(&snap, 0, sizeof(snap));
	err = sgt_snapshot_take(F, &snap);
	if (err)
		fail_msg("snapshot: %s", strerror(-err));
	/* tc_frames frames run by the program; the few test_run refuses are
	 * replaced (bounded). */
	for (uint64_t i = 0; i < 2 * tc_frames + 1000 && tcc.frames - tcc.refused < tc_frames;
	     i++) {
		uint32_t mark;
		size_t len = gen_scatter(fr, &mark);

		tc_one(fr, len, mark);
	}
	if (sgt_snapshot_diff(F, &snap, NULL, false))
		fail_msg("sg_scatter changed the gather state (seed 0x%016llx)",
			 (unsigned long long)seed0);
	sgt_snapshot_free(&snap);
	tcc.secs = now() - t0;
}

/* ------------------------------------------------------ after the fuzzing */

static const struct {
	uint8_t dtype, op;
	uint32_t count;
	bool late;
} final_colls[NFSLOTS] = {
	/* In the fuzz collectives' slots, other types, so that the accumulators
	 * the fuzz folded into are reused by other folds. */
	{ SG_FLOAT64, SG_OP_SUM, 300, false },		/* 3 chunks */
	{ SG_INT32, SG_OP_SUM, 700, false },		/* 3 chunks */
	{ SG_UINT8, SG_OP_BXOR, 3000, true },		/* 3 chunks, a late worker */
	{ SG_FLOAT32, SG_OP_SUM, 400, false },		/* 2 chunks of 1024 */
	{ SG_INT64_LOC, SG_OP_MINLOC, 70, false },
	{ SG_INT16, SG_OP_PROD, 1000, false },
	{ SG_FLOAT16, SG_OP_SUM, 700, false },		/* 3 chunks of 512 */
	{ SG_UINT64, SG_OP_MIN, 128, true },
	{ SG_INT32, SG_OP_BAND, 2560, false },		/* 10 chunks */
};

static void run_final(uint32_t id_step, const char *what)
{
	struct vcoll vcs[NFSLOTS + 2];
	unsigned int n = 0;

	for (unsigned int i = 0; i < NFSLOTS; i++) {
		struct fslot *s = &fslots[i];
		uint32_t coll_id = s->m.coll_id + id_step;

		vc_init(&vcs[n], s->comm, coll_id, final_colls[i].dtype, final_colls[i].op,
			final_colls[i].count, final_colls[i].late);
		vc_arm(&vcs[n]);
		n++;
	}
	/* And two in slots the fuzz reached only with stray ids. */
	vc_init(&vcs[n], 0, SG_SLOTS * 1000 + 63, SG_BFLOAT16, SG_OP_MIN, 500, false);
	vc_arm(&vcs[n++]);
	vc_init(&vcs[n], 1, SG_SLOTS * 1000 + 62, SG_UINT32, SG_OP_SUM, 1000, false);
	vc_arm(&vcs[n++]);
	vc_run(vcs, n, what);
	for (unsigned int i = 0; i < n; i++) {
		sgt_release(F, vcs[i].comm, vcs[i].m.coll_id);
		vc_free(&vcs[i]);
	}
	xc.collectives += n;
}

static void test_after_fuzz(void **state)
{
	uint8_t fr[FR_CAP];
	struct sg_wire_msg fuzz_msgs[NFSLOTS];
	struct sg_stats st0[NCOMMS], st1[NCOMMS];
	struct sgt_snapshot snap;
	uint32_t nstale[NCOMMS] = { 0 };
	int err;

	drain_events();
	/* The fuzz collectives are over: free their runs; the fresh ones take
	 * the same entries (first fit) and slots, with new generations. */
	for (unsigned int i = 0; i < NFSLOTS; i++) {
		fmodel_check(i);
		fuzz_msgs[i] = fslots[i].m;
		sgt_release(F, fslots[i].comm, fslots[i].m.coll_id);
	}
	run_final(SG_SLOTS, "after fuzzing");

	/* Stragglers of the fuzz collectives, on purpose: stale, nothing
	 * changes but rx_stale. */
	drain_events();
	read_stats2(st0);
	memset(&snap, 0, sizeof(snap));
	err = sgt_snapshot_take(F, &snap);
	if (err)
		fail_msg("snapshot: %s", strerror(-err));
	for (unsigned int i = 0; i < NFSLOTS; i++) {
		const struct sg_wire_msg *m = &fuzz_msgs[i];
		uint32_t comm = fslots[i].comm;

		for (uint32_t k = 0; k < 50; k++) {
			uint32_t rv = ~0u, w = rn(F->comms[comm].nworkers);
			size_t len = build_chunk(fr, comm, w, m, rn(sgt_nchunks(m)));

			err = sgt_run(gather_fd(), fr, len, NULL, NULL, &rv);
			if (err || rv != XDP_DROP)
				fail_msg("straggler: run %d verdict %u", err, rv);
			nstale[comm]++;
		}
	}
	if (sgt_snapshot_diff(F, &snap, NULL, false))
		fail_msg("stragglers of the fuzz collectives changed the state");
	sgt_snapshot_free(&snap);
	read_stats2(st1);
	for (uint32_t c = 0; c < NCOMMS; c++) {
		struct sg_stats d = delta(&st0[c], &st1[c]), e = { .rx_stale = nstale[c] };
		char buf[256];

		fmt_stats(buf, sizeof(buf), &d);
		if (memcmp(&d, &e, sizeof(d)))
			fail_msg("stragglers on comm %u counted %s, expected stale %u", c, buf,
				 nstale[c]);
	}
	/* And once more, in the same slots, after the stragglers. */
	run_final(2 * SG_SLOTS, "after the stragglers");
}

/* ---------------------------------------------------------------- the report */

static void report(void)
{
	printf("fuzz: seed 0x%016llx, %llu frames requested (SGT_FUZZ_SEED, SGT_FUZZ_FRAMES)\n",
	       (unsigned long long)seed0, (unsigned long long)total_frames);
	printf("fuzz: sg_gather (XDP): %llu frames in %.1f s: XDP_PASS %llu, XDP_DROP %llu, "
	       "other %llu\n", (unsigned long long)xc.frames, xc.secs,
	       (unsigned long long)xc.pass, (unsigned long long)xc.drop,
	       (unsigned long long)xc.other);
	printf("fuzz:   mixed-segment kinds: random %llu, mutated chunks %llu, unmutated %llu "
	       "(%llu behind VLAN tags), stragglers %llu, mutated requests %llu, unknown sources "
	       "%llu; hostile-only segments %llu frames, %llu snapshot pairs equal\n",
	       (unsigned long long)xc.random, (unsigned long long)xc.mutated,
	       (unsigned long long)xc.unmutated, (unsigned long long)xc.vlan_tagged,
	       (unsigned long long)xc.stragglers,
	       (unsigned long long)xc.requests, (unsigned long long)xc.unknown_src,
	       (unsigned long long)xc.hostile_segment_frames, (unsigned long long)xc.snapshots);
	printf("fuzz:   oracle: not addressed %llu, unknown source %llu, malformed %llu, "
	       "forged %llu, stale %llu, matching an armed collective %llu (accepted %llu, "
	       "duplicate %llu, late %llu, stale %llu; %llu of several chunks); fuzz "
	       "completions %llu\n",
	       (unsigned long long)xc.cls[XC_PASS], (unsigned long long)xc.cls[XC_UNKNOWN],
	       (unsigned long long)xc.cls[XC_MALFORMED], (unsigned long long)xc.cls[XC_FORGED],
	       (unsigned long long)xc.cls[XC_STALE],
	       (unsigned long long)xc.cls[XC_ACCEPT], (unsigned long long)xc.acc_accepted,
	       (unsigned long long)xc.acc_duplicate, (unsigned long long)xc.acc_late,
	       (unsigned long long)xc.acc_stale, (unsigned long long)xc.span_frames,
	       (unsigned long long)xc.completions);
	printf("fuzz:   folded although the IP stack would drop them (sg_gather checks the IP "
	       "header checksum and version, not the UDP checksum: docs/reliability.md): bad UDP "
	       "checksum %llu\n", (unsigned long long)xc.folded_bad_udp_csum);
	printf("fuzz:   malformed because of:");
	for (int i = 0; i < WHY_COUNT; i++)
		printf("%s %s %llu", i ? "," : "", why_name[i], (unsigned long long)xc.why[i]);
	printf("\n");
	printf("fuzz:   hostile frames rejected (addressed, dropped, not folded): %llu\n",
	       (unsigned long long)(xc.cls[XC_UNKNOWN] + xc.cls[XC_MALFORMED] +
				    xc.cls[XC_STALE] + xc.acc_duplicate + xc.acc_late +
				    xc.acc_stale));
	printf("fuzz: sg_scatter (TC): %llu frames generated in %.1f s, %llu run: TC_ACT_OK %llu, "
	       "TC_ACT_SHOT %llu, other %llu; fanned out %llu (%llu clones), untouched %llu; "
	       "%llu IP frames shorter than their IP header refused by BPF_PROG_TEST_RUN "
	       "(-EINVAL)\n",
	       (unsigned long long)tcc.frames, tcc.secs,
	       (unsigned long long)(tcc.frames - tcc.refused), (unsigned long long)tcc.ok,
	       (unsigned long long)tcc.shot, (unsigned long long)tcc.other,
	       (unsigned long long)tcc.fanned_out, (unsigned long long)tcc.clones,
	       (unsigned long long)tcc.untouched, (unsigned long long)tcc.refused);
	printf("fuzz:   SCATTER/RESULT against their slot's arm descriptor: %llu mismatched "
	       "(counted, not armed), %llu matched an armed collective (not re-armed)\n",
	       (unsigned long long)tcc.arm_mismatch, (unsigned long long)tcc.arm_match);
	printf("fuzz: frames run through the programs: %llu (sg_gather %llu + sg_scatter %llu)\n",
	       (unsigned long long)(xc.frames + tcc.frames - tcc.refused),
	       (unsigned long long)xc.frames, (unsigned long long)(tcc.frames - tcc.refused));
	printf("fuzz: valid collectives checked exact: %llu; fuzz collectives checked against "
	       "the model: %llu\n", (unsigned long long)xc.collectives,
	       (unsigned long long)fmodel_checks);
	for (uint32_t c = 0; c < NCOMMS && F; c++) {
		struct sg_stats st;

		if (sgt_stats(F, c, &st))
			continue;
		printf("fuzz: comm %u counters: rx_malformed %llu, rx_unknown_src %llu, "
		       "rx_stale %llu, rx_late %llu, rx_duplicate %llu, rx_accepted %llu, "
		       "completed %llu, tx_fanout %llu\n", c,
		       (unsigned long long)st.rx_malformed, (unsigned long long)st.rx_unknown_src,
		       (unsigned long long)st.rx_stale, (unsigned long long)st.rx_late,
		       (unsigned long long)st.rx_duplicate, (unsigned long long)st.rx_accepted,
		       (unsigned long long)st.completed, (unsigned long long)st.tx_fanout);
	}
	fflush(stdout);
}

/* ------------------------------------------------------------------- setup */

static int group_setup(void **state)
{
	char reason[256];
	int err;

	F = sgt_shared_fixture(reason, sizeof(reason));
	if (!F) {
		fprintf(stderr, "fixture: %s\n", reason);
		return -1;
	}
	percpu = calloc((size_t)F->dp.ncpus, sizeof(*percpu));
	if (!percpu)
		return -1;
	err = sgt_add_comm(F, 0, NW0);
	if (!err)
		err = sgt_add_comm(F, 1, NW1);
	if (err) {
		fprintf(stderr, "fixture: cannot install the communicators: %s\n", strerror(-err));
		return -1;
	}
	for (unsigned int i = 0; i < NFSLOTS; i++)
		arm_fslot(i, true);
	return 0;
}

static int group_teardown(void **state)
{
	report();
	free(percpu);
	percpu = NULL;
	return 0;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *p = getenv(name);
	char *end;
	unsigned long long v;

	if (!p || !*p)
		return dflt;
	errno = 0;
	v = strtoull(p, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "%s=%s is not a number; using %llu\n", name, p,
			(unsigned long long)dflt);
		return dflt;
	}
	return v;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather_fuzz),
		cmocka_unit_test(test_scatter_fuzz),
		cmocka_unit_test(test_after_fuzz),
	};
	int err, rc;

	seed0 = env_u64("SGT_FUZZ_SEED", DEFAULT_SEED);
	total_frames = env_u64("SGT_FUZZ_FRAMES", DEFAULT_FRAMES);
	if (total_frames > (1ull << 40))
		total_frames = 1ull << 40;
	tc_frames = total_frames / 10;
	xdp_frames = total_frames - tc_frames;
	rng = seed0;	/* sgt_rand64() maps state 0 to a fixed one */
	printf("fuzz: seed 0x%016llx, %llu frames (%llu sg_gather, %llu sg_scatter)\n",
	       (unsigned long long)seed0, (unsigned long long)total_frames,
	       (unsigned long long)xdp_frames, (unsigned long long)tc_frames);
	fflush(stdout);

	if (geteuid() != 0) {
		printf("SKIP: the BPF datapath tests need root (CAP_BPF, CAP_NET_ADMIN)\n");
		return SGT_EXIT_SKIP;
	}
	/* sg_scatter's clones go out on this namespace's lo. */
	err = sgt_private_netns();
	if (err)
		return err;
	if (sgt_should_skip())
		return SGT_EXIT_SKIP;
	sgt_test_filter();
	rc = cmocka_run_group_tests_name("bpf_fuzz", tests, group_setup, group_teardown);
	sgt_shared_close();
	return rc;
}
