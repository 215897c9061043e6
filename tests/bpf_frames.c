// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Frames and a loaded-but-unattached datapath for the BPF unit tests; see
 * bpf_frames.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "bpf_frames.h"
#include "bpf/admit.bpf.h"
#include "common/log.h"

static uint64_t rotl64(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

uint64_t sgt_siphash_ref(const __u64 key[2], uint64_t m0, uint64_t m1)
{
	uint8_t msg[16];
	uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
			  key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull };
	size_t n = sizeof(msg);

	for (int i = 0; i < 8; i++) {
		msg[i] = (uint8_t)(m0 >> (8 * i));
		msg[8 + i] = (uint8_t)(m1 >> (8 * i));
	}
	/* Blocks of 8 bytes, then the last block: the tail bytes and the
	 * length in the top byte; 2 rounds per block, 4 to finish. */
	for (size_t off = 0; off <= n; off += 8) {
		uint64_t b = 0;
		int rounds;

		if (off + 8 <= n) {
			for (int i = 0; i < 8; i++)
				b |= (uint64_t)msg[off + i] << (8 * i);
		} else {
			for (size_t i = 0; off + i < n; i++)
				b |= (uint64_t)msg[off + i] << (8 * i);
			b |= (uint64_t)(n & 0xff) << 56;
		}
		v[3] ^= b;
		for (rounds = 0; rounds < 2; rounds++) {
			v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
			v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
			v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
			v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
		}
		v[0] ^= b;
	}
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++) {
		v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
		v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
		v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
		v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t sgt_rand64(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void sgt_put16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = v & 0xff;
	b[off + 1] = v >> 8;
}

void sgt_put32(uint8_t *b, size_t off, uint32_t v)
{
	sgt_put16(b, off, v & 0xffff);
	sgt_put16(b, off + 2, v >> 16);
}

uint16_t sgt_get16(const uint8_t *b, size_t off)
{
	return (uint16_t)(b[off] | b[off + 1] << 8);
}

uint32_t sgt_get32(const uint8_t *b, size_t off)
{
	return sgt_get16(b, off) | (uint32_t)sgt_get16(b, off + 2) << 16;
}

/* ---------------------------------------------------------------- checksums */

/* One's complement sum of @len bytes taken as big-endian 16-bit words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
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

static void put_be16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = v >> 8;
	b[off + 1] = v & 0xff;
}

static uint16_t get_be16(const uint8_t *b, size_t off)
{
	return (uint16_t)(b[off] << 8 | b[off + 1]);
}

/* Sum of the IPv4 pseudo header of a UDP datagram of @udp_len bytes. */
static uint32_t pseudo_sum(const uint8_t *ip, uint16_t udp_len)
{
	uint32_t sum = csum_add(0, ip + 12, 8);	/* saddr, daddr */

	sum += ip[9];	/* zero byte, protocol */
	sum += udp_len;
	return sum;
}

/* UDP checksum over the pseudo header and @n bytes from @udp (its check field
 * must be 0). */
static uint16_t udp_csum(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len, size_t n)
{
	uint16_t c = (uint16_t)~csum_fold(csum_add(pseudo_sum(ip, udp_len), udp, n));

	return c ? c : 0xffff;
}

void sgt_fix_csums(uint8_t *frame, size_t len)
{
	uint8_t *ip = frame + SGT_IP_OFF, *udp;
	size_t ihl, avail;
	uint16_t udp_len;

	if (len < SGT_IP_OFF + SGT_IP_LEN)
		return;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < SGT_IP_LEN || len < SGT_IP_OFF + ihl)
		return;
	put_be16(ip, 10, 0);
	put_be16(ip, 10, (uint16_t)~csum_fold(csum_add(0, ip, ihl)));
	if (len < SGT_IP_OFF + ihl + SGT_UDP_LEN)
		return;
	udp = ip + ihl;
	avail = len - SGT_IP_OFF - ihl;
	udp_len = get_be16(udp, 4);
	if (get_be16(udp, 6) == 0)
		return;	/* "no checksum" stays so */
	put_be16(udp, 6, 0);
	put_be16(udp, 6, udp_csum(ip, udp, udp_len, udp_len < avail ? udp_len : avail));
}

int sgt_check_csums(const uint8_t *frame, size_t len, bool allow_zero_udp)
{
	const uint8_t *ip = frame + SGT_IP_OFF, *udp;
	size_t ihl;
	uint16_t udp_len;

	if (len < SGT_IP_OFF + SGT_IP_LEN || get_be16(frame, 12) != 0x0800 || ip[0] >> 4 != 4)
		return -1;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < SGT_IP_LEN || len < SGT_IP_OFF + ihl + SGT_UDP_LEN || ip[9] != 17)
		return -1;
	if (csum_fold(csum_add(0, ip, ihl)) != 0xffff)
		return -2;
	udp = ip + ihl;
	udp_len = get_be16(udp, 4);
	if (udp_len < SGT_UDP_LEN || SGT_IP_OFF + ihl + udp_len > len)
		return -1;
	if (get_be16(udp, 6) == 0)
		return allow_zero_udp ? 0 : -4;
	if (csum_fold(csum_add(pseudo_sum(ip, udp_len), udp, udp_len)) != 0xffff)
		return -3;
	return 0;
}

uint16_t sgt_udp_sum(const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + SGT_IP_OFF, *udp;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	uint16_t udp_len;
	uint32_t sum;

	udp = ip + ihl;
	udp_len = get_be16(udp, 4);
	if (SGT_IP_OFF + ihl + udp_len > len)
		return 0;
	sum = pseudo_sum(ip, udp_len);
	sum = csum_add(sum, udp, 6);
	sum = csum_add(sum, udp + 8, udp_len - 8u);
	return csum_fold(sum);
}

/* ------------------------------------------------------------------- frames */

size_t sgt_build_ip(uint8_t *buf, const struct sgt_addr *src, const struct sgt_addr *dst,
		    uint8_t proto, const void *payload, size_t len, bool with_udp_csum)
{
	uint8_t *ip = buf + SGT_IP_OFF, *udp = buf + SGT_UDP_OFF;
	size_t total = SGT_UDP_OFF + SGT_UDP_LEN + len;

	memcpy(buf, dst->mac, 6);
	memcpy(buf + 6, src->mac, 6);
	put_be16(buf, 12, 0x0800);

	memset(ip, 0, SGT_IP_LEN);
	ip[0] = 0x45;
	put_be16(ip, 2, (uint16_t)(SGT_IP_LEN + SGT_UDP_LEN + len));
	put_be16(ip, 4, 0x1234);	/* id */
	put_be16(ip, 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &src->ip, 4);
	memcpy(ip + 16, &dst->ip, 4);

	memcpy(udp, &src->port, 2);
	memcpy(udp + 2, &dst->port, 2);
	put_be16(udp, 4, (uint16_t)(SGT_UDP_LEN + len));
	put_be16(udp, 6, 0);
	if (len)
		memcpy(udp + SGT_UDP_LEN, payload, len);

	put_be16(ip, 10, (uint16_t)~csum_fold(csum_add(0, ip, SGT_IP_LEN)));
	if (with_udp_csum)
		put_be16(udp, 6, udp_csum(ip, udp, (uint16_t)(SGT_UDP_LEN + len),
					  SGT_UDP_LEN + len));
	return total;
}

/* The fixture sgt_build_frame() takes authenticators from. */
static const struct sgt_fixture *token_fixture;

static uint64_t auto_token(const struct sgt_addr *src, const struct sgt_addr *dst,
			   const struct sg_wire_msg *m)
{
	const struct sgt_fixture *f = token_fixture;

	for (uint32_t c = 0; f && c < SG_MAX_COMMS; c++) {
		const struct sgt_comm *cm = &f->comms[c];

		if (!cm->workers || cm->local.ip != dst->ip || cm->local.port != dst->port)
			continue;
		for (uint32_t w = 0; w < cm->nworkers; w++)
			if (cm->workers[w].ip == src->ip && cm->workers[w].port == src->port)
				return sgt_token(f, c, w, m->nonce, m->coll_id);
	}
	return 0;
}

size_t sgt_build_frame(uint8_t *buf, const struct sgt_addr *src, const struct sgt_addr *dst,
		       const struct sg_wire_msg *m, unsigned int chunk, const void *payload)
{
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD];
	struct sg_wire_msg am = *m;
	size_t len;

	if (am.type == SG_WIRE_RESPONSE && !am.auth)
		am.auth = auto_token(src, dst, m);
	m = &am;
	sg_wire_encode(dgram, m, chunk);
	len = sgt_get16(dgram, SGT_HDR_LENF);	/* the chunk's, or its span's */
	if (len)
		memcpy(dgram + SG_WIRE_HDR_LEN, payload, len);
	return sgt_build_ip(buf, src, dst, 17, dgram, SG_WIRE_HDR_LEN + len, true);
}

/* ------------------------------------------------------------------ fixture */

struct sgt_addr sgt_worker_addr(uint32_t comm, uint32_t i)
{
	struct sgt_addr a = {
		.mac = { 0x02, 0x00, (uint8_t)comm, (uint8_t)(i >> 8), (uint8_t)i, 0x77 },
		.ip = htonl(10u << 24 | (comm + 1) << 16 | (i / 250) << 8 | (i % 250 + 1)),
		.port = htons((uint16_t)(7000 + i)),
	};

	return a;
}

struct sgt_addr sgt_local_addr(uint32_t comm)
{
	struct sgt_addr a = {
		.mac = { 0x02, 0xaa, 0x00, 0x00, 0x00, (uint8_t)comm },
		.ip = htonl(10u << 24 | 200u << 16 | (comm + 1)),
		.port = htons((uint16_t)(9000 + comm)),
	};

	return a;
}

static int read_all_chunks(struct sgt_fixture *f, struct sg_chunk_state *out);

static int on_event(void *ctx, void *data, size_t size)
{
	struct sgt_fixture *f = ctx;

	if (size >= sizeof(struct sg_event) && f->nevents < SGT_MAX_EVENTS)
		memcpy(&f->events[f->nevents], data, sizeof(struct sg_event));
	f->nevents++;
	return 0;
}

void sgt_fixture_close(struct sgt_fixture *f)
{
	if (token_fixture == f)
		token_fixture = NULL;
	ring_buffer__free(f->rb);
	sg_dp_close(&f->dp);
	for (int i = 0; i < SG_MAX_COMMS; i++)
		free(f->comms[i].workers);
	memset(f, 0, sizeof(*f));
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int sgt_fixture_open(struct sgt_fixture *f, char *reason, size_t reason_len)
{
	struct sgbpf_bpf *skel;
	int err;

	memset(f, 0, sizeof(*f));
	/* The transport's own loader, with the result maps writable so that
	 * sgt_fixture_reset() can clear them. */
	err = sg_dp_open(&f->dp, true);
	if (err) {
		snprintf(reason, reason_len, "%s", sg_errmsg());
		return err;
	}
	skel = f->dp.skel;
	if (bpf_map__value_size(skel->maps.results) != SG_ACC_BYTES ||
	    bpf_map__max_entries(skel->maps.results) != SG_POOL_CHUNKS ||
	    bpf_map__value_size(skel->maps.result_aux) != SG_FSUM_ELEMS * 2 ||
	    bpf_map__max_entries(skel->maps.completions) != SGT_TOTAL_SLOTS ||
	    bpf_map__value_size(skel->maps.chunks) != sizeof(struct sg_chunk_state)) {
		snprintf(reason, reason_len, "the maps disagree with bpf/maps.h");
		sgt_fixture_close(f);
		return -EINVAL;
	}
	token_fixture = f;
	return 0;
}

/* Consume communicator @idx's ring buffer (made by sg_dp_install_comm() and
 * kept by the datapath across resets) in f->rb, with the others. */
static int watch_ring(struct sgt_fixture *f, uint32_t idx)
{
	int fd = f->dp.events_fd[idx];

	if (f->ring_watched[idx])
		return 0;
	if (f->rb ? ring_buffer__add(f->rb, fd, on_event, f) :
		    !(f->rb = ring_buffer__new(fd, on_event, f, NULL)))
		return -errno;
	f->ring_watched[idx] = true;
	return 0;
}

/* Write zeros to entries [0, n) of array map @map, in batches. */
static int zero_array(const struct bpf_map *map, uint32_t n, bool locked)
{
	size_t vsz = bpf_map__value_size(map);
	uint32_t batch = 4096;
	uint32_t *keys = calloc(batch, sizeof(*keys));
	void *vals = calloc(batch, vsz);
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = locked ? BPF_F_LOCK : 0);
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t done = 0; done < n && !err;) {
		uint32_t count = n - done < batch ? n - done : batch;

		for (uint32_t i = 0; i < count; i++)
			keys[i] = done + i;
		if (bpf_map_update_batch(bpf_map__fd(map), keys, vals, &count, &opts))
			err = -errno;
		done += count;
	}
out:
	free(keys);
	free(vals);
	return err;
}

static int empty_hash(const struct bpf_map *map)
{
	uint8_t key[64];
	int fd = bpf_map__fd(map);

	if (bpf_map__key_size(map) > sizeof(key))
		return -EINVAL;
	for (int i = 0; i < SG_MAX_COMMS * SG_MAX_WORKERS + 16; i++) {
		if (bpf_map_get_next_key(fd, NULL, key))
			return errno == ENOENT ? 0 : -errno;
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	}
	return -EIO;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	return n == 0 || (b[0] == 0 && !memcmp(b, b + 1, n - 1));
}

int sgt_fixture_reset(struct sgt_fixture *f)
{
	struct sgbpf_bpf *skel = f->dp.skel;
	struct sg_chunk_state *cs;
	void *percpu;
	uint8_t key[64];
	int err;

	/* Pending records first (they must not show up in the next test). */
	if (f->rb)
		ring_buffer__consume(f->rb);

	err = empty_hash(skel->maps.comm_by_port);
	if (!err)
		err = empty_hash(skel->maps.worker_by_addr);
	if (!err)
		err = zero_array(skel->maps.comms, SG_MAX_COMMS, false);
	if (!err)
		err = zero_array(skel->maps.fanout, SG_MAX_COMMS * SG_MAX_WORKERS, false);
	if (!err)
		err = zero_array(skel->maps.slots, SGT_TOTAL_SLOTS, true);
	if (!err)
		err = zero_array(skel->maps.chunks, SG_POOL_CHUNKS, true);
	if (err)
		return err;
	percpu = calloc((size_t)f->dp.ncpus, ((bpf_map__value_size(skel->maps.fold_scratch) + 7) & ~7u));
	if (!percpu)
		return -ENOMEM;
	for (uint32_t c = 0; c < SG_MAX_COMMS && !err; c++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &c, percpu, 0))
			err = -errno;
	if (!err) {
		uint32_t zero = 0;

		/* The scratch records (fold_scratch is the larger). */
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.fold_scratch), &zero, percpu, 0) ||
		    bpf_map_update_elem(bpf_map__fd(skel->maps.collect_scratch), &zero, percpu, 0))
			err = -errno;
	}
	free(percpu);
	if (err)
		return err;
	memset(f->dp.results, 0, f->dp.results_len);
	memset(f->dp.aux, 0, f->dp.aux_len);
	memset((void *)f->dp.completions, 0, f->dp.completions_len);
	memset(f->dp.arm_descs, 0, f->dp.arm_descs_len);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	/* The fixture's own state. */
	for (int i = 0; i < SG_MAX_COMMS; i++)
		free(f->comms[i].workers);
	memset(f->comms, 0, sizeof(f->comms));
	f->nevents = 0;
	memset(f->events, 0, sizeof(f->events));
	f->dp.gen = 0;
	memset(f->dp.pool_used, 0, sizeof(f->dp.pool_used));
	memset(f->arms, 0, sizeof(f->arms));

	/* Check it is all as just loaded, so no test can see another's state. */
	if (bpf_map_get_next_key(bpf_map__fd(skel->maps.comm_by_port), NULL, key) == 0 ||
	    bpf_map_get_next_key(bpf_map__fd(skel->maps.worker_by_addr), NULL, key) == 0)
		return -ENOTEMPTY;
	cs = malloc((size_t)SG_POOL_CHUNKS * sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	err = read_all_chunks(f, cs);
	if (!err && !all_zero(cs, (size_t)SG_POOL_CHUNKS * sizeof(*cs)))
		err = -ENOTEMPTY;
	free(cs);
	for (uint32_t k = 0; k < SGT_TOTAL_SLOTS && !err; k++) {
		struct sg_slot slot;

		err = sgt_read_slot(f, k / SG_SLOTS, k % SG_SLOTS, &slot);
		if (!err && !all_zero(&slot, sizeof(slot)))
			err = -ENOTEMPTY;
	}
	for (uint32_t c = 0; c < SG_MAX_COMMS && !err; c++) {
		struct sg_stats st;
		struct sg_comm_cfg cfg;

		err = sgt_stats(f, c, &st);
		if (!err && !all_zero(&st, sizeof(st)))
			err = -ENOTEMPTY;
		if (!err && bpf_map_lookup_elem(bpf_map__fd(skel->maps.comms), &c, &cfg))
			err = -errno;
		if (!err && !all_zero(&cfg, sizeof(cfg)))
			err = -ENOTEMPTY;
	}
	if (!err && sgt_poll_events(f) != 0)
		err = -ENOTEMPTY;
	f->nevents = 0;
	return err;
}

/* Communicator @idx as the datapath knows it (fan-out entries in @fe). */
static struct sg_dp_comm dp_comm(const struct sgt_fixture *f, uint32_t idx, uint8_t flags,
				 struct sg_fanout_entry *fe)
{
	const struct sgt_comm *c = &f->comms[idx];

	for (uint32_t i = 0; fe && i < c->nworkers; i++) {
		memset(&fe[i], 0, sizeof(fe[i]));
		fe[i].ip = c->workers[i].ip;
		fe[i].port = c->workers[i].port;
		memcpy(fe[i].mac, c->workers[i].mac, 6);
	}
	return (struct sg_dp_comm){
		.local_ip = c->local.ip,
		.local_port = c->local.port,
		.ifindex = 1,
		.flags = flags,
		.workers = fe,
		.nworkers = c->nworkers,
		.key = { c->key[0], c->key[1] },
	};
}

void sgt_comm_key(uint32_t idx, __u64 key[2])
{
	key[0] = 0x7367627066746573ULL ^ idx;	/* "sgbpftes" */
	key[1] = 0x6b65792d2d2d2d00ULL | idx;
}

uint64_t sgt_token(const struct sgt_fixture *f, uint32_t comm, uint32_t w, uint64_t nonce,
		   uint32_t coll_id)
{
	return sg_wire_token(f->comms[comm].key, nonce, coll_id, w);
}

int sgt_add_comm(struct sgt_fixture *f, uint32_t idx, uint32_t nworkers)
{
	struct sg_fanout_entry *fe;
	struct sg_dp_comm dc;
	struct sgt_comm *c;
	int err;

	if (idx >= SG_MAX_COMMS || nworkers == 0 || nworkers > SG_MAX_WORKERS)
		return -EINVAL;
	c = &f->comms[idx];
	free(c->workers);
	c->workers = calloc(nworkers, sizeof(*c->workers));
	fe = calloc(nworkers, sizeof(*fe));
	if (!c->workers || !fe) {
		free(fe);
		return -ENOMEM;
	}
	c->idx = idx;
	c->local = sgt_local_addr(idx);
	c->nworkers = nworkers;
	sgt_comm_key(idx, c->key);
	for (uint32_t i = 0; i < nworkers; i++)
		c->workers[i] = sgt_worker_addr(idx, i);
	/* The transport's install_comm, with the test's addresses. */
	dc = dp_comm(f, idx, 0, fe);
	err = sg_dp_install_comm(&f->dp, idx, &dc);
	free(fe);
	return err ? err : watch_ring(f, idx);
}

int sgt_set_flags(struct sgt_fixture *f, uint32_t idx, uint8_t flags)
{
	struct sg_dp_comm dc;

	if (idx >= SG_MAX_COMMS || !f->comms[idx].workers)
		return -EINVAL;
	dc = dp_comm(f, idx, flags, NULL);
	return sg_dp_write_cfg(&f->dp, idx, &dc);
}

int sgt_set_cookie(struct sgt_fixture *f, uint32_t idx, uint64_t cookie)
{
	struct sg_dp_comm dc;

	if (idx >= SG_MAX_COMMS || !f->comms[idx].workers)
		return -EINVAL;
	dc = dp_comm(f, idx, 0, NULL);
	dc.sock_cookie = cookie;
	return sg_dp_write_cfg(&f->dp, idx, &dc);
}

struct sg_wire_msg sgt_msg(uint32_t coll_id, uint64_t nonce, uint8_t dtype, uint8_t op,
			   uint32_t count)
{
	unsigned int size = sg_wire_dtype_size(dtype);
	struct sg_wire_msg m = {
		.type = SG_WIRE_RESPONSE,
		.dtype = dtype,
		.op = op,
		.coll_id = coll_id,
		.count = count,
		.msg_len = count * (size ? size : 1),
		.nonce = nonce,
	};

	return m;
}

uint32_t sgt_chunk_bytes(const struct sg_wire_msg *m)
{
	return (uint32_t)sg_wire_chunk_bytes(m->type, m->dtype);
}

uint32_t sgt_nchunks(const struct sg_wire_msg *m)
{
	return sg_wire_nchunks_of(m->msg_len, sgt_chunk_bytes(m));
}

uint32_t sgt_pool_free(const struct sgt_fixture *f)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < SG_POOL_CHUNKS; i++)
		n += !sg_dp_pool_used(&f->dp, i);
	return n;
}

/* @desc_only: write the arm descriptor alone, as the transport does; else the
 * descriptor and the slot itself, as if the request had passed sg_scatter. */
static int arm(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m,
	       uint32_t target, int64_t at, bool desc_only)
{
	uint32_t key = sgt_slot_key(comm, m->coll_id), n = sgt_nchunks(m);
	struct sgt_arming *a = &f->arms[key];
	struct sg_tp_reduce r = {
		.coll_id = m->coll_id,
		.nonce = m->nonce,
		.dtype = m->dtype,
		.op = m->op,
		.count = m->count,
		.msg_len = m->msg_len,
		.target = target,
		.nchunks = n,
	};
	struct sg_arm_desc d;
	struct sg_slot slot;
	int err;

	if (comm >= SG_MAX_COMMS || n == 0)
		return -EINVAL;
	if (at < 0)
		err = sg_dp_pool_alloc(&f->dp, n, &r.pool_base);
	else
		err = sg_dp_pool_claim(&f->dp, (uint32_t)at, n);
	if (err)
		return err;
	if (at >= 0)
		r.pool_base = (uint32_t)at;
	d = sg_dp_post(&f->dp, comm, &r);
	/* The slot as sg_scatter arms it from the descriptor. */
	memset(&slot, 0, sizeof(slot));
	sg_slot_arm(&slot, &d);
	err = desc_only ? 0 : bpf_map__update_elem(f->dp.skel->maps.slots, &key, sizeof(key), &slot,
						   sizeof(slot), BPF_F_LOCK);
	if (err) {
		sg_dp_pool_free(&f->dp, r.pool_base, n);
		return err;
	}
	*a = (struct sgt_arming){
		.armed = true,
		.held = true,
		.coll_id = m->coll_id,
		.nonce = m->nonce,
		.gen = r.gen,
		.base = r.pool_base,
		.nchunks = n,
		.cbytes = sgt_chunk_bytes(m),
		.dtype = m->dtype,
		.op = m->op,
		.count = m->count,
		.msg_len = m->msg_len,
		.target = target,
	};
	return 0;
}

int sgt_arm(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target)
{
	return arm(f, comm, m, target, -1, false);
}

int sgt_post(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target)
{
	return arm(f, comm, m, target, -1, true);
}

struct sg_arm_desc *sgt_arm_desc(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	return &f->dp.arm_descs[sgt_slot_key(comm, coll_id)];
}

int sgt_arm_at(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m,
	       uint32_t target, uint32_t base)
{
	return arm(f, comm, m, target, base, false);
}

void sgt_release(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	struct sgt_arming *a = &f->arms[sgt_slot_key(comm, coll_id)];

	if (a->armed && a->held)
		sg_dp_pool_free(&f->dp, a->base, a->nchunks);
	a->held = false;
}

const struct sgt_arming *sgt_armed(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	return &f->arms[sgt_slot_key(comm, coll_id)];
}

struct sg_tp_reduce sgt_reduce(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	const struct sgt_arming *a = sgt_armed(f, comm, coll_id);

	return (struct sg_tp_reduce){
		.coll_id = a->coll_id,
		.nonce = a->nonce,
		.dtype = a->dtype,
		.op = a->op,
		.count = a->count,
		.msg_len = a->msg_len,
		.target = a->target,
		.gen = a->gen,
		.pool_base = a->base,
		.nchunks = a->nchunks,
	};
}

uint32_t sgt_slot_key(uint32_t comm, uint32_t coll_id)
{
	return sg_dp_slot_key(comm, coll_id);
}

uint32_t sgt_entry(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk)
{
	return (sgt_armed(f, comm, coll_id)->base + chunk) % SG_POOL_CHUNKS;
}

int sgt_read_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, struct sg_slot *out)
{
	return sg_dp_read_slot(&f->dp, sgt_slot_key(comm, coll_id), out);
}

int sgt_read_entry(struct sgt_fixture *f, uint32_t entry, struct sg_chunk_state *out)
{
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem_flags(bpf_map__fd(f->dp.skel->maps.chunks), &entry, out, BPF_F_LOCK))
		return -errno;
	return 0;
}

int sgt_read_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk,
		   struct sg_chunk_state *out)
{
	return sgt_read_entry(f, sgt_entry(f, comm, coll_id, chunk), out);
}

const uint8_t *sgt_entry_acc(struct sgt_fixture *f, uint32_t entry)
{
	return f->dp.results + (size_t)(entry % SG_POOL_CHUNKS) * SG_ACC_BYTES;
}

const uint16_t *sgt_entry_aux(struct sgt_fixture *f, uint32_t entry)
{
	return f->dp.aux + (size_t)(entry % SG_POOL_CHUNKS) * SG_FSUM_ELEMS;
}

const uint8_t *sgt_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	return sgt_entry_acc(f, sgt_armed(f, comm, coll_id)->base);
}

void sgt_copy_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, void *out)
{
	const struct sgt_arming *a = sgt_armed(f, comm, coll_id);

	for (uint32_t c = 0; c < a->nchunks; c++) {
		size_t off = (size_t)c * a->cbytes;
		size_t len = a->msg_len - off < a->cbytes ? a->msg_len - off : a->cbytes;

		memcpy((uint8_t *)out + off, sgt_entry_acc(f, a->base + c), len);
	}
}

struct sg_completion sgt_completion(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	const volatile struct sg_completion *c = &f->dp.completions[sgt_slot_key(comm, coll_id)];
	struct sg_completion r;

	r.gen = __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
	r.ndone = c->ndone;
	r.pad = c->pad;
	return r;
}

int sgt_stats(struct sgt_fixture *f, uint32_t comm, struct sg_stats *out)
{
	return sg_dp_read_stats(&f->dp, comm, out);
}

int sgt_poll_events(struct sgt_fixture *f)
{
	unsigned int before = f->nevents;
	int err = f->rb ? ring_buffer__consume(f->rb) : 0;

	if (err < 0)
		return err;
	return (int)(f->nevents - before);
}

int sgt_run(int prog_fd, const void *frame, size_t len, void *out, size_t *out_len,
	    uint32_t *retval)
{
	static uint8_t scratch[16384];	/* a span of chunks fits */
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = (uint32_t)len,
		.data_out = out ? out : scratch,
		.data_size_out = out ? (uint32_t)*out_len : sizeof(scratch),
		.repeat = 1,
	);
	int err;

	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return err < 0 ? err : -EINVAL;
	if (out_len)
		*out_len = opts.data_size_out;
	*retval = opts.retval;
	return 0;
}

/* ---------------------------------------------------------------- snapshots */

/* All chunk states, in batches (one lookup per entry would be 65536 system
 * calls per snapshot). */
static int read_all_chunks(struct sgt_fixture *f, struct sg_chunk_state *out)
{
	int fd = bpf_map__fd(f->dp.skel->maps.chunks);
	uint32_t done = 0, in = 0, next = 0;
	static uint32_t keys[4096];
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_F_LOCK);

	memset(out, 0, (size_t)SG_POOL_CHUNKS * sizeof(*out));
	while (done < SG_POOL_CHUNKS) {
		uint32_t count = SG_POOL_CHUNKS - done < 4096 ? SG_POOL_CHUNKS - done : 4096;
		int err = bpf_map_lookup_batch(fd, done ? &in : NULL, &next, keys, out + done,
					       &count, &opts);

		if (err && errno != ENOENT)
			return -errno;
		for (uint32_t i = 0; i < count; i++)
			if (keys[i] != done + i)
				return -EIO;
		done += count;
		in = next;
		if (err)	/* ENOENT: the last batch */
			break;
	}
	return done == SG_POOL_CHUNKS ? 0 : -EIO;
}

static struct sgt_snapshot snap_cache;

int sgt_snapshot_take(struct sgt_fixture *f, struct sgt_snapshot *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	/* ~90 MB: the buffers of the last freed snapshot are reused, which
	 * saves the page faults of fresh memory. */
	if (snap_cache.slots) {
		s->slots = snap_cache.slots;
		s->chunks = snap_cache.chunks;
		s->results = snap_cache.results;
		s->aux = snap_cache.aux;
		memset(&snap_cache, 0, sizeof(snap_cache));
	} else {
		s->slots = calloc(SGT_TOTAL_SLOTS, sizeof(*s->slots));
		s->chunks = malloc((size_t)SG_POOL_CHUNKS * sizeof(*s->chunks));
		s->results = malloc((size_t)SG_POOL_CHUNKS * SG_ACC_BYTES);
		s->aux = malloc((size_t)SG_POOL_CHUNKS * SG_FSUM_ELEMS * sizeof(uint16_t));
	}
	if (!s->slots || !s->chunks || !s->results || !s->aux) {
		sgt_snapshot_free(s);
		return -ENOMEM;
	}
	sgt_poll_events(f);
	s->nevents = f->nevents;
	for (uint32_t k = 0; k < SGT_TOTAL_SLOTS; k++) {
		err = sgt_read_slot(f, k / SG_SLOTS, k % SG_SLOTS, &s->slots[k]);
		if (err)
			goto fail;
		s->completions[k] = sgt_completion(f, k / SG_SLOTS, k % SG_SLOTS);
	}
	err = read_all_chunks(f, s->chunks);
	if (err)
		goto fail;
	memcpy(s->results, f->dp.results, (size_t)SG_POOL_CHUNKS * SG_ACC_BYTES);
	memcpy(s->aux, f->dp.aux, (size_t)SG_POOL_CHUNKS * SG_FSUM_ELEMS * sizeof(uint16_t));
	for (uint32_t c = 0; c < SG_MAX_COMMS; c++) {
		err = sgt_stats(f, c, &s->stats[c]);
		if (err)
			goto fail;
	}
	return 0;
fail:
	sgt_snapshot_free(s);
	return err;
}

void sgt_except_comm(struct sgt_except *ex, uint32_t comm)
{
	for (uint32_t i = 0; i < SG_SLOTS; i++)
		sgt_except_slot(ex, comm, i);
	ex->comms |= 1u << comm;
}

void sgt_except_slot(struct sgt_except *ex, uint32_t comm, uint32_t coll_id)
{
	uint32_t k = sgt_slot_key(comm, coll_id);

	ex->slots[k / 64] |= 1ULL << (k % 64);
}

/* Chunk states read by sgt_snapshot_diff(), allocated once. */
static struct sg_chunk_state *diff_chunks;

static bool excepted_slot(const struct sgt_except *ex, uint32_t k)
{
	return ex && (ex->slots[k / 64] >> (k % 64) & 1);
}

int sgt_snapshot_diff(struct sgt_fixture *f, const struct sgt_snapshot *s,
		      const struct sgt_except *ex, bool stats_too)
{
	static uint8_t skip[SG_POOL_CHUNKS];
	struct sg_chunk_state *cs = NULL;
	struct sg_slot slot;
	struct sg_stats st;
	unsigned int reported = 0;
	int diff = 0;

	memset(skip, 0, sizeof(skip));
	for (uint32_t k = 0; k < SGT_TOTAL_SLOTS; k++) {
		const struct sgt_arming *a = &f->arms[k];

		if (excepted_slot(ex, k) && a->armed)
			for (uint32_t j = 0; j < a->nchunks; j++)
				skip[(a->base + j) % SG_POOL_CHUNKS] = 1;
	}
	sgt_poll_events(f);
	if (f->nevents != s->nevents) {
		fprintf(stderr, "snapshot: %u events, expected %u\n", f->nevents, s->nevents);
		diff = -1;
	}
	for (uint32_t k = 0; k < SGT_TOTAL_SLOTS; k++) {
		struct sg_completion c;

		if (excepted_slot(ex, k))
			continue;
		if (sgt_read_slot(f, k / SG_SLOTS, k % SG_SLOTS, &slot) ||
		    memcmp(&slot, &s->slots[k], sizeof(slot))) {
			fprintf(stderr, "snapshot: comm %u slot %u changed\n", k / SG_SLOTS,
				k % SG_SLOTS);
			diff = -1;
		}
		c = sgt_completion(f, k / SG_SLOTS, k % SG_SLOTS);
		if (memcmp(&c, &s->completions[k], sizeof(c))) {
			fprintf(stderr, "snapshot: comm %u slot %u completion word changed\n",
				k / SG_SLOTS, k % SG_SLOTS);
			diff = -1;
		}
	}
	if (!diff_chunks)
		diff_chunks = malloc((size_t)SG_POOL_CHUNKS * sizeof(*diff_chunks));
	cs = diff_chunks;
	if (!cs || read_all_chunks(f, cs)) {
		fprintf(stderr, "snapshot: cannot read the chunk states\n");
		return -1;
	}
	for (uint32_t e = 0; e < SG_POOL_CHUNKS; e++) {
		bool changed;

		if (skip[e])
			continue;
		changed = memcmp(&cs[e], &s->chunks[e], sizeof(cs[e])) != 0;
		if (memcmp(sgt_entry_acc(f, e), s->results + (size_t)e * SG_ACC_BYTES,
			   SG_ACC_BYTES) ||
		    memcmp(sgt_entry_aux(f, e), s->aux + (size_t)e * SG_FSUM_ELEMS,
			   SG_FSUM_ELEMS * sizeof(uint16_t)))
			changed = true;
		if (changed) {
			if (reported++ < 8)
				fprintf(stderr, "snapshot: pool entry %u changed\n", e);
			diff = -1;
		}
	}
	if (stats_too) {
		for (uint32_t c = 0; c < SG_MAX_COMMS; c++) {
			if (ex && (ex->comms >> c & 1))
				continue;
			if (sgt_stats(f, c, &st) || memcmp(&st, &s->stats[c], sizeof(st))) {
				fprintf(stderr, "snapshot: comm %u stats changed\n", c);
				diff = -1;
			}
		}
	}
	return diff;
}

void sgt_snapshot_free(struct sgt_snapshot *s)
{
	if (s->slots && s->chunks && s->results && s->aux && !snap_cache.slots) {
		snap_cache = *s;
		memset(s, 0, sizeof(*s));
		return;
	}
	free(s->slots);
	free(s->chunks);
	free(s->results);
	free(s->aux);
	s->slots = NULL;
	s->chunks = NULL;
	s->results = NULL;
	s->aux = NULL;
}

static struct sgt_fixture *shared;

struct sgt_fixture *sgt_shared_fixture(char *reason, size_t reason_len)
{
	int err;

	if (shared) {
		err = sgt_fixture_reset(shared);
		if (!err)
			return shared;
		snprintf(reason, reason_len, "cannot reset the fixture: %s", strerror(-err));
		sgt_shared_close();
		return NULL;
	}
	shared = calloc(1, sizeof(*shared));
	if (!shared) {
		snprintf(reason, reason_len, "out of memory");
		return NULL;
	}
	err = sgt_fixture_open(shared, reason, reason_len);
	if (err) {
		free(shared);
		shared = NULL;
	}
	return shared;
}

void sgt_shared_close(void)
{
	if (shared) {
		sgt_fixture_close(shared);
		free(shared);
		shared = NULL;
	}
}

void sgt_test_filter(void)
{
	const char *p = getenv("SGT_TEST_FILTER");

	if (p && *p)
		cmocka_set_test_filter(p);
}

bool sgt_should_skip(void)
{
	libbpf_print_fn_t old;
	struct sgbpf_bpf *skel;
	int err;

	if (geteuid() != 0) {
		printf("SKIP: the BPF datapath tests need root (CAP_BPF, CAP_NET_ADMIN)\n");
		return true;
	}
	old = libbpf_set_print(quiet_print);
	skel = sgbpf_bpf__open_and_load();
	err = skel ? 0 : -errno;
	libbpf_set_print(old);
	sgbpf_bpf__destroy(skel);
	if (err == -EPERM || err == -EACCES || err == -ENOSYS || err == -EOPNOTSUPP) {
		printf("SKIP: BPF unavailable here: loading the datapath failed with %s\n",
		       strerror(-err));
		return true;
	}
	/* Any other load failure is a bug the tests must report, not skip. */
	return false;
}

int sgt_private_netns(void)
{
	struct ifreq ifr = {};
	int s, err = 0;

	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP: cannot create a network namespace: %s\n", strerror(errno));
		return SGT_EXIT_SKIP;
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		err = -errno;
	strcpy(ifr.ifr_name, "lo");
	if (!err && ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	if (s >= 0)
		close(s);
	if (err) {
		fprintf(stderr, "cannot bring lo up in the test namespace: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}

int sgt_setup_shared(void **state)
{
	char reason[256];
	struct sgt_fixture *f = sgt_shared_fixture(reason, sizeof(reason));

	if (!f) {
		fprintf(stderr, "fixture: %s\n", reason);
		return -1;
	}
	*state = f;
	return 0;
}

int sgt_teardown_none(void **state)
{
	return 0;
}

struct sg_slot sgt_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	struct sg_slot s;

	assert_int_equal(sgt_read_slot(f, comm, coll_id, &s), 0);
	return s;
}

struct sg_stats sgt_counters(struct sgt_fixture *f, uint32_t comm)
{
	struct sg_stats st;

	assert_int_equal(sgt_stats(f, comm, &st), 0);
	return st;
}
