/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers of the BPF datapath unit tests (tests/test_bpf_gather.c,
 * tests/test_bpf_scatter.c, tests/test_bpf_floats.c): crafting
 * Ethernet/IPv4/UDP frames that carry sgbpf datagrams, checking their
 * checksums from scratch, and a fixture that loads the datapath without
 * attaching it and fills its maps with the transport's own datapath control
 * (transport/datapath.h), so the programs can be run with
 * bpf_prog_test_run_opts() on those frames.
 */
#ifndef SG_TESTS_BPF_FRAMES_H
#define SG_TESTS_BPF_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgbpf/types.h"
#include "sgbpf/wire.h"
#include "bpf/maps.h"
#include "common/codec.h"
#include "transport/datapath.h"

struct ring_buffer;

/* Byte offsets in the frames the helpers build (IPv4 header without
 * options). */
#define SGT_ETH_LEN	14
#define SGT_IP_OFF	SGT_ETH_LEN
#define SGT_IP_LEN	20
#define SGT_UDP_OFF	(SGT_IP_OFF + SGT_IP_LEN)
#define SGT_UDP_LEN	8
#define SGT_SG_OFF	(SGT_UDP_OFF + SGT_UDP_LEN)	/* sgbpf header */
#define SGT_PAYLOAD_OFF	(SGT_SG_OFF + SG_WIRE_HDR_LEN)
/* Room for the largest frame plus slack for tests that pad frames. */
#define SGT_FRAME_MAX	(SGT_PAYLOAD_OFF + SG_MAX_DGRAM_PAYLOAD + 64)	/* a span */

/* Offsets inside struct sg_wire_hdr, for tests that corrupt one field. */
#define SGT_HDR_MAGIC	0
#define SGT_HDR_VERSION	4
#define SGT_HDR_TYPE	5
#define SGT_HDR_DTYPE	6
#define SGT_HDR_OP	7
#define SGT_HDR_COLL_ID	8
#define SGT_HDR_COUNT	12
#define SGT_HDR_MSG_LEN	16
#define SGT_HDR_CHUNK	20
#define SGT_HDR_NCHUNKS	22
#define SGT_HDR_LENF	24
#define SGT_HDR_FLAGS	26
#define SGT_HDR_FANOUT	28
#define SGT_HDR_SPAN	30
#define SGT_HDR_ROOM	31
#define SGT_HDR_NONCE	32
#define SGT_HDR_AUTH	40
#define SGT_HDR_NSEGS	54

/* One end of a datagram; ip and port in network order. */
struct sgt_addr {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
};

/* SipHash-2-4 of the 16 bytes @m0, @m1 (little-endian) under @key, written
 * from the specification byte by byte, independently of the datapath's
 * sg_siphash16(): the tests' oracle for authenticators. */
uint64_t sgt_siphash_ref(const __u64 key[2], uint64_t m0, uint64_t m1);

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
uint64_t sgt_rand64(uint64_t *state);

/* Little-endian field stores and loads (the wire byte order). */
void sgt_put16(uint8_t *b, size_t off, uint16_t v);
void sgt_put32(uint8_t *b, size_t off, uint32_t v);
uint16_t sgt_get16(const uint8_t *b, size_t off);
uint32_t sgt_get32(const uint8_t *b, size_t off);

/* Write Ethernet + IPv4 (no options, DF, TTL 64) + UDP headers and @len bytes
 * of @payload into @buf, with a valid IP header checksum and, when @udp_csum,
 * a valid UDP checksum over the pseudo header (else 0, "no checksum").
 * @proto is the IP protocol (IPPROTO_UDP for ordinary frames; the UDP header
 * layout is written whatever it is). Returns the frame length. */
size_t sgt_build_ip(uint8_t *buf, const struct sgt_addr *src, const struct sgt_addr *dst,
		    uint8_t proto, const void *payload, size_t len, bool udp_csum);

/* A frame carrying chunk @chunk of message @m (header from sg_wire_encode(),
 * chunks of sg_wire_chunk_bytes(type, dtype)) followed by @payload, which must
 * hold that chunk's payload. Checksums valid. A RESPONSE with m->auth 0 gets
 * the authenticator its source should have (sgt_token() of the fixture last
 * opened, 0 when no communicator has that source and destination); any
 * other auth is sent as it is. Returns the frame length. */
size_t sgt_build_frame(uint8_t *buf, const struct sgt_addr *src, const struct sgt_addr *dst,
		       const struct sg_wire_msg *m, unsigned int chunk, const void *payload);

/* Recompute the IP header and UDP checksums of a frame built by the helpers
 * after a test changed some of its bytes, so that the change under test is its
 * only defect. The IP total length and UDP length fields are taken as they are
 * (they may be wrong on purpose); the UDP checksum covers min(UDP length,
 * bytes present). */
void sgt_fix_csums(uint8_t *frame, size_t len);

/* Verify the checksums of an Ethernet/IPv4/UDP frame from scratch. Returns 0 if
 * the IPv4 header checksum is right and the UDP checksum is right or 0 (when
 * @allow_zero_udp), else a negative code: -1 not IPv4/UDP or truncated, -2 bad
 * IP checksum, -3 bad UDP checksum, -4 zero UDP checksum not allowed. */
int sgt_check_csums(const uint8_t *frame, size_t len, bool allow_zero_udp);

/* One's complement sum (folded, not inverted) over the UDP pseudo header and
 * the whole UDP datagram of a frame, with the checksum field taken as 0: the
 * right checksum is its complement (0 sent as 0xffff). */
uint16_t sgt_udp_sum(const uint8_t *frame, size_t len);

/* ------------------------------------------------------------------ fixture */

#define SGT_MAX_EVENTS 256
#define SGT_TOTAL_SLOTS (SG_MAX_COMMS * SG_SLOTS)

struct sgt_comm {
	uint32_t idx;			/* communicator index in the datapath */
	struct sgt_addr local;		/* the coordinator */
	uint32_t nworkers;
	struct sgt_addr *workers;	/* nworkers entries, owned by the fixture */
	__u64 key[2];			/* the authenticators' secret (sgt_comm_key()) */
};

/* What the fixture last armed in a slot, as ebpf_arm() records it in its
 * struct sg_tp_reduce. */
struct sgt_arming {
	bool armed;
	bool held;			/* pool run not released yet */
	uint32_t coll_id;
	uint64_t nonce;
	uint64_t gen;
	uint32_t base;			/* chunk_base: first pool entry */
	uint32_t nchunks;
	uint32_t cbytes;		/* sg_wire_response_chunk(dtype) */
	uint8_t dtype;
	uint8_t op;
	uint32_t count;
	uint32_t msg_len;
	uint32_t target;
};

struct sgt_fixture {
	struct sg_dp dp;		/* the transport's datapath control, unattached */
	struct ring_buffer *rb;		/* every installed communicator's ring */
	bool ring_watched[SG_MAX_COMMS];
	unsigned int nevents;		/* events consumed so far */
	struct sg_event events[SGT_MAX_EVENTS];
	struct sgt_comm comms[SG_MAX_COMMS];
	struct sgt_arming arms[SGT_TOTAL_SLOTS];	/* by global slot */
};

/* Worker @i of communicator @comm: IP 10.<comm+1>.<i/250>.<i%250+1>, port
 * 7000+i, MAC 02:00:<comm>:<i>>8>:<i&255>:77 (distinct per worker and
 * communicator). */
struct sgt_addr sgt_worker_addr(uint32_t comm, uint32_t i);
/* The coordinator of communicator @comm: 10.200.0.<comm+1>, port 9000+comm. */
struct sgt_addr sgt_local_addr(uint32_t comm);

/* Open and load the datapath with sg_dp_open() (not attached, result maps
 * writable); sgt_add_comm() adds each communicator's ring buffer. Returns 0 or a negative errno; on
 * failure everything is freed and @reason says what failed. */
int sgt_fixture_open(struct sgt_fixture *f, char *reason, size_t reason_len);
void sgt_fixture_close(struct sgt_fixture *f);
/* Bring a fixture back to the state of a freshly loaded object (every map
 * empty or zero, no pending event, no communicator, generation 0, the pool
 * free), without loading it again (loading takes most of a second: the
 * verifier), and check that it is. Returns 0 or a negative errno. */
int sgt_fixture_reset(struct sgt_fixture *f);

/* Install communicator @idx with the addresses of sgt_local_addr() and
 * sgt_worker_addr() through sg_dp_install_comm(), as the transport does:
 * fanout, worker_by_addr, inactive slots, comms (flags 0), comm_by_port.
 * Returns 0 or a negative errno. */
int sgt_add_comm(struct sgt_fixture *f, uint32_t idx, uint32_t nworkers);
/* The secret communicator @idx is installed with: fixed per index, so tests
 * can compute tokens. */
void sgt_comm_key(uint32_t idx, __u64 key[2]);
/* The authenticator of worker @w of communicator @comm for a collective
 * (sg_wire_token() under the fixture's key). */
uint64_t sgt_token(const struct sgt_fixture *f, uint32_t comm, uint32_t w, uint64_t nonce,
		   uint32_t coll_id);
/* Install @cookie as communicator @idx's socket cookie (the fixture runs
 * with 0, unchecked: a test run's skb has a throw-away socket). */
int sgt_set_cookie(struct sgt_fixture *f, uint32_t idx, uint64_t cookie);
/* Rewrite the cfg flags (SG_CFG_*) of communicator @idx. */
int sgt_set_flags(struct sgt_fixture *f, uint32_t idx, uint8_t flags);

/* Payload bytes per response chunk of @m, and its chunks. */
uint32_t sgt_chunk_bytes(const struct sg_wire_msg *m);
uint32_t sgt_nchunks(const struct sg_wire_msg *m);

/* Post a collective and arm its slot at once, as ebpf_arm() followed by the
 * request passing sg_scatter would: nchunks = msg_len in chunks of
 * sg_wire_response_chunk(dtype), a first-fit run of nchunks free pool entries,
 * the next generation, the arm descriptor written and the whole slot written
 * with BPF_F_LOCK (for tests of sg_gather alone). The slot's
 * previous run is not released (ebpf_arm() does not either). Returns 0 or a
 * negative errno (-ENOSPC: no run that long). */
int sgt_arm(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target);
/* Post a collective as the transport's ebpf_arm() does: the pool run and the
 * generation as sgt_arm(), but only the slot's arm descriptor is written (the
 * slot is armed by sg_scatter when the request passes). Recorded like
 * sgt_arm() so that sgt_entry() and friends find the run. */
int sgt_post(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target);
/* The arm descriptor of @coll_id's slot, in the mmapped map. */
struct sg_arm_desc *sgt_arm_desc(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* The same as sgt_arm() with the run placed at @base (which must be free). */
int sgt_arm_at(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m,
	       uint32_t target, uint32_t base);
/* Release the pool run of the collective in @coll_id's slot, as
 * ebpf_release() does: the slot stays armed. */
void sgt_release(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* What is armed in @coll_id's slot (never NULL; ->armed false if nothing). */
const struct sgt_arming *sgt_armed(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* The collective armed in @coll_id's slot as the transport holds it (its
 * struct sg_tp_reduce), for the datapath control's calls on it. */
struct sg_tp_reduce sgt_reduce(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* Free pool entries (no run held). */
uint32_t sgt_pool_free(const struct sgt_fixture *f);

/* The wire message of a reduction of @count elements of @dtype. */
struct sg_wire_msg sgt_msg(uint32_t coll_id, uint64_t nonce, uint8_t dtype, uint8_t op,
			   uint32_t count);

/* Global slot key (bpf/maps.h) and the pool entry of chunk @chunk
 * of what is armed in @coll_id's slot. */
uint32_t sgt_slot_key(uint32_t comm, uint32_t coll_id);
uint32_t sgt_entry(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk);

int sgt_read_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, struct sg_slot *out);
/* Chunk state of chunk @chunk of the collective armed in @coll_id's slot. */
int sgt_read_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk,
		   struct sg_chunk_state *out);
int sgt_read_entry(struct sgt_fixture *f, uint32_t entry, struct sg_chunk_state *out);
/* Accumulator (SG_ACC_BYTES) and aux words (SG_FSUM_ELEMS) of pool entry
 * @entry in the mmapped maps. */
const uint8_t *sgt_entry_acc(struct sgt_fixture *f, uint32_t entry);
/* Elements of @dt in a full contribution chunk: element j of a collective
 * sits in its chunk j / this, at that index of the chunk's accumulator. */
static inline uint32_t sgt_chunk_elems(unsigned int dt)
{
	return sg_wire_response_chunk(dt) / sg_wire_dtype_size(dt);
}
const uint16_t *sgt_entry_aux(struct sgt_fixture *f, uint32_t entry);
/* The accumulators of @coll_id's run from its first entry: the result vector
 * itself for a result of one chunk (every type but float32 SUM). */
const uint8_t *sgt_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* Copy the msg_len bytes of the result of @coll_id (not float SUM) into @out,
 * chunk by chunk as sg_result_copy() does. */
void sgt_copy_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, void *out);
/* The completion word of @coll_id's slot (read with acquire order). */
struct sg_completion sgt_completion(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* The per-CPU counters of @comm, summed. */
int sgt_stats(struct sgt_fixture *f, uint32_t comm, struct sg_stats *out);
/* sgt_read_slot() and sgt_stats() asserting success, for tests. */
struct sg_slot sgt_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
struct sg_stats sgt_counters(struct sgt_fixture *f, uint32_t comm);
/* Consume pending completion events into f->events; returns how many new. */
int sgt_poll_events(struct sgt_fixture *f);

/* Run @prog_fd once on @frame with bpf_prog_test_run_opts(). @out (may be
 * NULL) receives up to *@out_len bytes of the output frame and *@out_len its
 * length. Returns 0 and sets *@retval, or a negative errno. */
int sgt_run(int prog_fd, const void *frame, size_t len, void *out, size_t *out_len,
	    uint32_t *retval);

/* Snapshot of all the state a datagram may change: every slot, the whole
 * pool (chunk states, accumulators, aux words), the completion words, the
 * counters of every communicator and the number of events, to check that a
 * rejected datagram changed nothing anywhere. */
struct sgt_snapshot {
	struct sg_slot *slots;		/* SGT_TOTAL_SLOTS */
	struct sg_stats stats[SG_MAX_COMMS];
	unsigned int nevents;
	struct sg_chunk_state *chunks;	/* SG_POOL_CHUNKS */
	uint8_t *results;		/* SG_POOL_CHUNKS * SG_ACC_BYTES */
	uint16_t *aux;			/* SG_POOL_CHUNKS * SG_FSUM_ELEMS */
	struct sg_completion completions[SGT_TOTAL_SLOTS];
};

/* What sgt_snapshot_diff() leaves out: the slots in @slots (bits by global
 * slot key), with their completion words and the pool runs the fixture armed
 * in them, and the counters of the communicators in @comms (bit per index). */
struct sgt_except {
	uint64_t slots[SGT_TOTAL_SLOTS / 64];
	uint32_t comms;
};

/* Leave out every slot and the counters of @comm / the slot of @coll_id. */
void sgt_except_comm(struct sgt_except *ex, uint32_t comm);
void sgt_except_slot(struct sgt_except *ex, uint32_t comm, uint32_t coll_id);

int sgt_snapshot_take(struct sgt_fixture *f, struct sgt_snapshot *s);
/* Compare the state now with @s, but for what @ex (may be NULL) leaves out;
 * @stats_too also compares the counters. Returns 0 if equal, else a negative
 * code and prints what differs. */
int sgt_snapshot_diff(struct sgt_fixture *f, const struct sgt_snapshot *s,
		      const struct sgt_except *ex, bool stats_too);
void sgt_snapshot_free(struct sgt_snapshot *s);

/* The fixture shared by the tests of one program: loaded on first use, reset
 * (sgt_fixture_reset()) for every later test, closed by sgt_shared_close().
 * NULL (and @reason set) on failure. */
struct sgt_fixture *sgt_shared_fixture(char *reason, size_t reason_len);

/* cmocka setup putting the shared fixture in *state, and a teardown that
 * leaves it to the next setup (it is closed at the end of main()). */
int sgt_setup_shared(void **state);
int sgt_teardown_none(void **state);

/* Move the process into a private network namespace with lo up, where the
 * clones sg_scatter sends stay. 0, SGT_EXIT_SKIP, or 1 (message printed). */
int sgt_private_netns(void);
void sgt_shared_close(void);

/* Run only the tests whose names match the environment variable
 * SGT_TEST_FILTER (a cmocka pattern: '*' and '?'), when it is set. */
void sgt_test_filter(void);

/* Exit code of a test program that cannot run here (automake's SKIP). */
#define SGT_EXIT_SKIP 77

/* If the tests cannot run on this host (not root, BPF unavailable), print why
 * and return true. Loads the object once to find out. */
bool sgt_should_skip(void);

#endif
