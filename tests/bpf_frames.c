// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Frames and a loaded-but-unattached datapath for the BPF unit tests; see
 * bpf_frames.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "bpf_frames.h"

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

size_t sgt_build_frame(uint8_t *buf, const struct sgt_addr *src, const struct sgt_addr *dst,
		       const struct sg_wire_msg *m, unsigned int chunk, const void *payload)
{
	uint8_t dgram[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES];
	size_t len = sg_wire_chunk_len(m->msg_len, chunk);

	sg_wire_encode(dgram, m, chunk);
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
	ring_buffer__free(f->rb);
	if (f->results)
		munmap(f->results, f->results_len);
	sgbpf_bpf__destroy(f->skel);
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
	int err;

	memset(f, 0, sizeof(*f));
	f->ncpus = libbpf_num_possible_cpus();
	if (f->ncpus <= 0) {
		snprintf(reason, reason_len, "cannot count possible CPUs");
		return f->ncpus ? f->ncpus : -EINVAL;
	}
	f->skel = sgbpf_bpf__open_and_load();
	if (!f->skel) {
		err = -errno;
		snprintf(reason, reason_len, "cannot load the BPF object: %s", strerror(errno));
		return err ? err : -EINVAL;
	}
	f->results_len = (size_t)bpf_map__max_entries(f->skel->maps.results) *
			 bpf_map__value_size(f->skel->maps.results);
	f->results = mmap(NULL, f->results_len, PROT_READ, MAP_SHARED,
			  bpf_map__fd(f->skel->maps.results), 0);
	if (f->results == MAP_FAILED) {
		err = -errno;
		f->results = NULL;
		snprintf(reason, reason_len, "cannot mmap the result map: %s", strerror(-err));
		sgt_fixture_close(f);
		return err;
	}
	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), on_event, f, NULL);
	if (!f->rb) {
		err = -errno;
		snprintf(reason, reason_len, "cannot open the ring buffer: %s", strerror(-err));
		sgt_fixture_close(f);
		return err;
	}
	return 0;
}

int sgt_add_comm(struct sgt_fixture *f, uint32_t idx, uint32_t nworkers)
{
	struct sgt_comm *c;
	struct sg_comm_cfg cfg;
	int err;

	if (idx >= SG_MAX_COMMS || nworkers == 0 || nworkers > SG_MAX_WORKERS)
		return -EINVAL;
	c = &f->comms[idx];
	free(c->workers);
	c->workers = calloc(nworkers, sizeof(*c->workers));
	if (!c->workers)
		return -ENOMEM;
	c->idx = idx;
	c->local = sgt_local_addr(idx);
	c->nworkers = nworkers;

	for (uint32_t i = 0; i < nworkers; i++) {
		uint32_t key = idx * SG_MAX_WORKERS + i;
		struct sg_fanout_entry fe = { 0 };
		struct sg_worker_key wk = { 0 };

		c->workers[i] = sgt_worker_addr(idx, i);
		fe.ip = c->workers[i].ip;
		fe.port = c->workers[i].port;
		memcpy(fe.mac, c->workers[i].mac, 6);
		wk.comm = idx;
		wk.ip = fe.ip;
		wk.port = fe.port;
		err = bpf_map__update_elem(f->skel->maps.fanout, &key, sizeof(key), &fe,
					   sizeof(fe), 0);
		if (!err)
			err = bpf_map__update_elem(f->skel->maps.worker_by_addr, &wk, sizeof(wk),
						   &i, sizeof(i), 0);
		if (err)
			return err;
	}
	for (uint32_t s = 0; s < SG_SLOTS; s++) {
		struct sg_slot slot;
		uint32_t key = idx * SG_SLOTS + s;

		memset(&slot, 0, sizeof(slot));
		err = bpf_map__update_elem(f->skel->maps.slots, &key, sizeof(key), &slot,
					   sizeof(slot), BPF_F_LOCK);
		if (err)
			return err;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.local_ip = c->local.ip;
	cfg.local_port = c->local.port;
	cfg.nworkers = nworkers;
	cfg.ifindex = 1;
	cfg.active = 1;
	err = bpf_map__update_elem(f->skel->maps.comms, &idx, sizeof(idx), &cfg, sizeof(cfg), 0);
	if (!err)
		err = bpf_map__update_elem(f->skel->maps.comm_by_port, &cfg.local_port,
					   sizeof(cfg.local_port), &idx, sizeof(idx), BPF_NOEXIST);
	return err;
}

struct sg_wire_msg sgt_msg(uint32_t coll_id, uint64_t nonce, uint8_t dtype, uint8_t op,
			   uint32_t count)
{
	static const uint8_t size[SG_DATATYPE_COUNT] = { 1, 1, 2, 2, 4, 4, 8, 8 };
	struct sg_wire_msg m = {
		.type = SG_WIRE_RESPONSE,
		.dtype = dtype,
		.op = op,
		.coll_id = coll_id,
		.count = count,
		.msg_len = count * (dtype < SG_DATATYPE_COUNT ? size[dtype] : 1),
		.nonce = nonce,
	};

	return m;
}

int sgt_arm(struct sgt_fixture *f, uint32_t comm, const struct sg_wire_msg *m, uint32_t target)
{
	struct sg_slot slot;
	uint32_t key = sgt_slot_key(comm, m->coll_id);

	memset(&slot, 0, sizeof(slot));
	slot.coll_id = m->coll_id;
	slot.nonce = m->nonce;
	slot.active = 1;
	slot.dtype = m->dtype;
	slot.op = m->op;
	slot.count = m->count;
	slot.msg_len = m->msg_len;
	slot.nchunks = (uint16_t)sg_wire_nchunks(m->msg_len);
	slot.target = target;
	return bpf_map__update_elem(f->skel->maps.slots, &key, sizeof(key), &slot, sizeof(slot),
				    BPF_F_LOCK);
}

uint32_t sgt_slot_key(uint32_t comm, uint32_t coll_id)
{
	return comm * SG_SLOTS + coll_id % SG_SLOTS;
}

uint32_t sgt_chunk_key(uint32_t comm, uint32_t coll_id, uint32_t chunk)
{
	return sgt_slot_key(comm, coll_id) * SG_MAX_CHUNKS + chunk;
}

int sgt_read_slot(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, struct sg_slot *out)
{
	uint32_t key = sgt_slot_key(comm, coll_id);

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem_flags(bpf_map__fd(f->skel->maps.slots), &key, out, BPF_F_LOCK))
		return -errno;
	return 0;
}

int sgt_read_chunk(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id, uint32_t chunk,
		   struct sg_chunk_state *out)
{
	uint32_t key = sgt_chunk_key(comm, coll_id, chunk);

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem_flags(bpf_map__fd(f->skel->maps.chunks), &key, out, BPF_F_LOCK))
		return -errno;
	return 0;
}

const uint8_t *sgt_result(struct sgt_fixture *f, uint32_t comm, uint32_t coll_id)
{
	return f->results + (size_t)sgt_slot_key(comm, coll_id) * SG_MAX_MSG_BYTES;
}

int sgt_stats(struct sgt_fixture *f, uint32_t comm, struct sg_stats *out)
{
	struct sg_stats *percpu;
	int err = 0;

	memset(out, 0, sizeof(*out));
	percpu = calloc((size_t)f->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.stats), &comm, percpu)) {
		err = -errno;
		goto out;
	}
	sg_stats_sum(out, percpu, f->ncpus);
out:
	free(percpu);
	return err;
}

int sgt_poll_events(struct sgt_fixture *f)
{
	unsigned int before = f->nevents;
	int err = ring_buffer__consume(f->rb);

	if (err < 0)
		return err;
	return (int)(f->nevents - before);
}

int sgt_run(int prog_fd, const void *frame, size_t len, void *out, size_t *out_len,
	    uint32_t *retval)
{
	static uint8_t scratch[4096];
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

int sgt_snapshot_take(struct sgt_fixture *f, uint32_t comm, struct sgt_snapshot *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->chunks = calloc((size_t)SG_SLOTS * SG_MAX_CHUNKS, sizeof(struct sg_chunk_state));
	s->results = malloc((size_t)SG_SLOTS * SG_MAX_MSG_BYTES);
	if (!s->chunks || !s->results) {
		sgt_snapshot_free(s);
		return -ENOMEM;
	}
	sgt_poll_events(f);
	s->nevents = f->nevents;
	for (uint32_t i = 0; i < SG_SLOTS; i++) {
		err = sgt_read_slot(f, comm, i, &s->slots[i]);
		if (err)
			goto fail;
		for (uint32_t c = 0; c < SG_MAX_CHUNKS; c++) {
			err = sgt_read_chunk(f, comm, i, c,
					     (struct sg_chunk_state *)s->chunks +
					     (size_t)i * SG_MAX_CHUNKS + c);
			if (err)
				goto fail;
		}
	}
	memcpy(s->results, sgt_result(f, comm, 0), (size_t)SG_SLOTS * SG_MAX_MSG_BYTES);
	err = sgt_stats(f, comm, &s->stats);
	if (err)
		goto fail;
	return 0;
fail:
	sgt_snapshot_free(s);
	return err;
}

int sgt_snapshot_diff(struct sgt_fixture *f, uint32_t comm, const struct sgt_snapshot *s,
		      bool stats_too)
{
	struct sg_chunk_state cs;
	struct sg_slot slot;
	struct sg_stats st;
	int diff = 0;

	sgt_poll_events(f);
	if (f->nevents != s->nevents) {
		fprintf(stderr, "snapshot: %u events, expected %u\n", f->nevents, s->nevents);
		diff = -1;
	}
	for (uint32_t i = 0; i < SG_SLOTS; i++) {
		if (sgt_read_slot(f, comm, i, &slot) ||
		    memcmp(&slot, &s->slots[i], sizeof(slot))) {
			fprintf(stderr, "snapshot: comm %u slot %u changed\n", comm, i);
			diff = -1;
		}
		for (uint32_t c = 0; c < SG_MAX_CHUNKS; c++) {
			if (sgt_read_chunk(f, comm, i, c, &cs) ||
			    memcmp(&cs, (struct sg_chunk_state *)s->chunks +
				   (size_t)i * SG_MAX_CHUNKS + c, sizeof(cs))) {
				fprintf(stderr, "snapshot: comm %u slot %u chunk %u changed\n",
					comm, i, c);
				diff = -1;
			}
		}
	}
	if (memcmp(s->results, sgt_result(f, comm, 0), (size_t)SG_SLOTS * SG_MAX_MSG_BYTES)) {
		fprintf(stderr, "snapshot: comm %u results changed\n", comm);
		diff = -1;
	}
	if (stats_too && (sgt_stats(f, comm, &st) || memcmp(&st, &s->stats, sizeof(st)))) {
		fprintf(stderr, "snapshot: comm %u stats changed\n", comm);
		diff = -1;
	}
	return diff;
}

void sgt_snapshot_free(struct sgt_snapshot *s)
{
	free(s->chunks);
	free(s->results);
	s->chunks = NULL;
	s->results = NULL;
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
