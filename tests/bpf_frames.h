/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers of the BPF datapath unit tests (tests/test_bpf_gather.c,
 * tests/test_bpf_scatter.c): crafting Ethernet/IPv4/UDP frames that carry
 * sgbpf datagrams, checking their checksums from scratch, and a fixture that
 * loads the datapath object without attaching it and fills its maps the way
 * transport/ebpf.c does, so the programs can be run with
 * bpf_prog_test_run_opts() on those frames.
 */
#ifndef SG_TESTS_BPF_FRAMES_H
#define SG_TESTS_BPF_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgbpf/maps.h"
#include "sgbpf/types.h"
#include "sgbpf/wire.h"
#include "coll/wire.h"

struct sgbpf_bpf;
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
#define SGT_FRAME_MAX	(SGT_PAYLOAD_OFF + SG_CHUNK_BYTES + 64)

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
#define SGT_HDR_NONCE	32

/* One end of a datagram; ip and port in network order. */
struct sgt_addr {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
};

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

/* A frame carrying chunk @chunk of message @m (header from sg_wire_encode())
 * followed by @payload, which must hold sg_wire_chunk_len(m->msg_len, chunk)
 * bytes. Checksums valid. Returns the frame length. */
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

struct sgt_comm {
	uint32_t idx;			/* communicator index in the datapath */
	struct sgt_addr local;		/* the coordinator */
	uint32_t nworkers;
	struct sgt_addr *workers;	/* nworkers entries, owned by the fixture */
};

struct sgt_fixture {
	struct sgbpf_bpf *skel;
	int ncpus;
	uint8_t *results;		/* mmapped result map (read only) */
	size_t results_len;
	struct ring_buffer *rb;
	unsigned int nevents;		/* events consumed so far */
	struct sg_event events[SGT_MAX_EVENTS];
	struct sgt_comm comms[SG_MAX_COMMS];
};

/* Worker @i of communicator @comm: IP 10.<comm+1>.<i/250>.<i%250+1>, port
 * 7000+i, MAC 02:00:<comm>:<i>>8>:<i&255>:77 (distinct per worker and
 * communicator). */
struct sgt_addr sgt_worker_addr(uint32_t comm, uint32_t i);
/* The coordinator of communicator @comm: 10.200.0.<comm+1>, port 9000+comm. */
struct sgt_addr sgt_local_addr(uint32_t comm);

/* Open and load the skeleton (not attached), mmap the result map and open the
 * ring buffer. Returns 0 or a negative errno; on failure everything is freed
 * and @reason says what failed. */
int sgt_fixture_open(struct sgt_fixture *f, char *reason, size_t reason_len);
void sgt_fixture_close(struct sgt_fixture *f);

/* Install communicator @idx with the addresses of sgt_local_addr() and
 * sgt_worker_addr(), as install_comm() does: fanout, worker_by_addr, inactive
 * slots, comms, comm_by_port. Returns 0 or a negative errno. */
int sgt_add_comm(struct sgt_fixture *f, uint32_t idx, uint32_t nworkers);

/* Post a collective like ebpf_arm(): the whole slot written with BPF_F_LOCK. */
int sgt_arm(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target);

/* The wire message of a reduction of @count elements of @dtype. */
struct sg_wire_msg sgt_msg(uint32_t coll_id, uint64_t nonce, uint8_t dtype, uint8_t op,
			   uint32_t count);

/* Global slot and chunk keys (include/sgbpf/maps.h). */
uint32_t sgt_slot_key(uint32_t comm, uint32_t coll_id);
uint32_t sgt_chunk_key(uint32_t comm, uint32_t coll_id, uint32_t chunk);

int sgt_read_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, struct sg_slot *out);
int sgt_read_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk,
		   struct sg_chunk_state *out);
/* Result vector of a slot in the mmapped map (SG_MAX_MSG_BYTES bytes). */
const uint8_t *sgt_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id);
/* The per-CPU counters of @comm, summed. */
int sgt_stats(struct sgt_fixture *f, uint32_t comm, struct sg_stats *out);
/* Consume pending completion events into f->events; returns how many new. */
int sgt_poll_events(struct sgt_fixture *f);

/* Run @prog_fd once on @frame with bpf_prog_test_run_opts(). @out (may be
 * NULL) receives up to *@out_len bytes of the output frame and *@out_len its
 * length. Returns 0 and sets *@retval, or a negative errno. */
int sgt_run(int prog_fd, const void *frame, size_t len, void *out, size_t *out_len,
	    uint32_t *retval);

/* Snapshot of all the state a datagram may change (slots, chunk states and
 * results of every slot of one communicator, its stats, the events), to check
 * that a rejected datagram changed nothing. */
struct sgt_snapshot {
	struct sg_slot slots[SG_SLOTS];
	struct sg_stats stats;
	unsigned int nevents;
	uint8_t *chunks;	/* SG_SLOTS * SG_MAX_CHUNKS sg_chunk_state */
	uint8_t *results;	/* SG_SLOTS * SG_MAX_MSG_BYTES */
};

int sgt_snapshot_take(struct sgt_fixture *f, uint32_t comm, struct sgt_snapshot *s);
/* Compare the state of @comm now with @s; @stats_too also compares counters.
 * Returns 0 if equal, else a negative code and prints what differs. */
int sgt_snapshot_diff(struct sgt_fixture *f, uint32_t comm, const struct sgt_snapshot *s,
		      bool stats_too);
void sgt_snapshot_free(struct sgt_snapshot *s);

/* Exit code of a test program that cannot run here (automake's SKIP). */
#define SGT_EXIT_SKIP 77

/* If the tests cannot run on this host (not root, BPF unavailable), print why
 * and return true. Loads the object once to find out. */
bool sgt_should_skip(void);

#endif
