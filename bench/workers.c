// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark workers (bench/workers.h): one pinned process serving every
 * rank through the worker API, or the XDP reflector (bench/reflector.bpf.c).
 *
 * Both are checked the same way before bench_workers_start() returns: a probe
 * SCATTER to every rank from a socket in the coordinator's namespace must come
 * back as the right RESPONSE (through the stack, so with valid checksums).
 * The probe's datagrams are then taken out of the counters.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <hwloc.h>
#include <linux/if_link.h>

#include "sgbpf.h"
#include "common/codec.h"
#include "bench/workers.h"
#include "bench/reflector.h"
#include "bench/reflector.skel.h"

#define START_TIMEOUT_MS	20000	/* sockets bound in every namespace */
#define PROBE_ROUNDS		40	/* probe rounds of PROBE_ROUND_MS each */
#define PROBE_ROUND_MS		250
#define STOP_GRACE_MS		3000	/* SIGTERM -> SIGKILL */
#define DRAIN_MAX		4096	/* messages served per socket and wake-up */
#define HOST_EVENTS		64
#define PROBE_NONCE		0x70726f6265ull	/* "probe" */

/* Written by the host process, read by the parent. */
struct host_shared {
	int ready;		/* 1 once every socket is bound; -errno on failure */
	uint64_t rx;		/* coordinator datagrams of the messages received */
	uint64_t tx;		/* datagrams of the answers sent */
	uint64_t errors;	/* receive errors and unanswerable requests */
};

struct bench_workers {
	struct netlab *lab;
	enum bench_worker_mode mode;
	int nns;
	int per_ns;
	int cpu;
	/* host */
	pid_t pid;
	struct host_shared *sh;
	/* reflector */
	struct reflector_bpf *skel;
	struct bpf_link **links;	/* nns on the workers' sg0, nns on their peers */
	int nlinks;
	int ncpus;
	/* the probe's traffic, not reported */
	uint64_t base_rx;
	uint64_t base_tx;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct sockaddr_in bench_worker_addr(const struct bench_workers *w, uint32_t rank)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	if (!w || rank >= (uint32_t)(w->nns * w->per_ns))
		return a;
	a.sin_port = htons((uint16_t)(BENCH_PORT + rank % (uint32_t)w->per_ns));
	a.sin_addr = netlab_worker_addr(w->lab, (int)(rank / (uint32_t)w->per_ns));
	return a;
}

/* ------------------------------------------------------------------ host */

static volatile sig_atomic_t host_stop;

static void on_term(int sig)
{
	(void)sig;
	host_stop = 1;
}

/* Bind this process to core @cpu (-1: the last one). */
static int pin(int cpu)
{
	hwloc_topology_t topo;
	hwloc_obj_t core;
	int n, err = 0;

	if (hwloc_topology_init(&topo) || hwloc_topology_load(topo)) {
		fprintf(stderr, "bench workers: hwloc cannot load the topology\n");
		return -ENODEV;
	}
	n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	if (n <= 0 || cpu >= n) {
		fprintf(stderr, "bench workers: no core %d (the machine has %d)\n", cpu, n);
		err = -EINVAL;
		goto out;
	}
	core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, cpu < 0 ? (unsigned int)n - 1 :
							  (unsigned int)cpu);
	if (!core || hwloc_set_cpubind(topo, core->cpuset, HWLOC_CPUBIND_PROCESS)) {
		err = -errno ? -errno : -EINVAL;
		fprintf(stderr, "bench workers: cannot bind to core %d: %s\n", cpu, strerror(-err));
	}
out:
	hwloc_topology_destroy(topo);
	return err;
}

/* Answer what one socket holds, until it would block (one wake-up serves a
 * whole burst). Counts are derived from the messages: the worker API
 * reassembles chunks and answers repeated messages from its cache without
 * returning them, which on the lossless lab never happens. */
/* Every generated vector is a window of one precomputed table (element i of
 * salt s is table[s % period + i]), so answering costs no more than an echo. */
struct gen_tables {
	uint32_t *u32;		/* uint32 and int32 share the bits */
	float *f32;
	size_t len;		/* elements of each */
};

/* Grow the tables to serve vectors of @count elements (they start at the
 * size of one segment, and grow only for longer vectors). */
static int gen_grow(struct gen_tables *g, size_t count)
{
	size_t len = count + BENCH_GEN_PERIOD;
	uint32_t *u;
	float *f;

	if (len <= g->len)
		return 0;
	u = realloc(g->u32, len * sizeof(*u));
	if (u)
		g->u32 = u;
	f = realloc(g->f32, len * sizeof(*f));
	if (f)
		g->f32 = f;
	if (!u || !f)
		return -ENOMEM;
	for (size_t j = g->len; j < len; j++) {
		g->u32[j] = bench_gen_value(0, j);
		g->f32[j] = (float)g->u32[j];
	}
	g->len = len;
	return 0;
}

static int gen_alloc(struct gen_tables *g)
{
	return gen_grow(g, SG_MAX_SEGMENT_BYTES / 4);
}

static void gen_free(struct gen_tables *g)
{
	free(g->u32);
	free(g->f32);
}

/* The contribution asked for by a generated-contribution request, or NULL
 * when @m is not one (or asks for what cannot be generated). */
static const void *gen_reply(struct gen_tables *g, const struct sg_msg *m, int *is_gen)
{
	uint32_t w[2];

	*is_gen = 0;
	if (m->len != BENCH_GEN_REQ_BYTES)
		return NULL;
	memcpy(w, m->data, sizeof(w));
	if (le32toh(w[0]) != BENCH_GEN_MAGIC)
		return NULL;
	*is_gen = 1;
	if (m->count > SG_MAX_MESSAGE_BYTES / 4 || gen_grow(g, m->count))
		return NULL;
	switch (m->dtype) {
	case SG_UINT32:
	case SG_INT32:
		return g->u32 + le32toh(w[1]) % BENCH_GEN_PERIOD;
	case SG_FLOAT32:
		return g->f32 + le32toh(w[1]) % BENCH_GEN_PERIOD;
	default:
		return NULL;
	}
}

static void serve(sg_worker *wk, struct host_shared *sh, struct gen_tables *g)
{
	struct sg_msg m;

	for (int i = 0; i < DRAIN_MAX; i++) {
		int err = sg_worker_recv(wk, &m, 0);

		if (err == -EAGAIN)
			return;
		if (err) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			return;
		}
		__atomic_add_fetch(&sh->rx, sg_wire_nchunks(m.len), __ATOMIC_RELAXED);
		if (m.type == SG_MSG_RESULT) {
			__atomic_add_fetch(&sh->tx, 1, __ATOMIC_RELAXED); /* the ack recv sent */
		} else if (m.type == SG_MSG_SCATTER) {
			size_t len = m.count * sg_datatype_size(m.dtype);
			int is_gen;
			const void *data = gen_reply(g, &m, &is_gen);

			if (!is_gen)
				data = len == m.len ? m.data : NULL;
			if (!data) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			/* Counted first: the parent may look once the answer arrived. */
			__atomic_add_fetch(&sh->tx, sg_wire_nchunks_of(len,
					   sg_wire_response_chunk(m.dtype)), __ATOMIC_RELAXED);
			if (sg_worker_reply(wk, &m, data, len))
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
	}
}

/* The host process: sockets in every namespace, one epoll loop, until
 * SIGTERM. */
static int host_main(void *arg)
{
	struct bench_workers *w = arg;
	int n = w->nns * w->per_ns, self = -1, ep = -1, err = 0;
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t term, waitmask;
	struct rlimit rl;
	struct gen_tables gen = { 0 };
	sg_worker **wk;

	/* SIGTERM is blocked except inside epoll_pwait, so that one arriving
	 * between the check of host_stop and the wait is not lost. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	wk = calloc((size_t)n, sizeof(*wk));
	if (!wk || gen_alloc(&gen)) {
		err = -ENOMEM;
		goto out;
	}
	/* A socket per rank, up to 1024 of them and more. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	err = pin(w->cpu);
	if (err)
		goto out;
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (self < 0 || ep < 0) {
		err = -errno;
		fprintf(stderr, "bench workers: %s: %s\n", self < 0 ? "own netns" : "epoll_create1",
			strerror(errno));
		goto out;
	}
	for (int i = 0; i < n && !err; i++) {
		int ns = i / w->per_ns;
		char addr[INET_ADDRSTRLEN];
		struct in_addr a = netlab_worker_addr(w->lab, ns);
		SG_OPTS_INIT(sg_worker_opts, o);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		if (i % w->per_ns == 0) {
			err = netlab_enter(w->lab, ns);
			if (err) {
				fprintf(stderr, "bench workers: cannot enter namespace %d: %s\n", ns,
					strerror(-err));
				break;
			}
		}
		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		o.addr = addr;
		o.port = (uint16_t)(BENCH_PORT + i % w->per_ns);
		err = sg_worker_create(&o, &wk[i]);
		if (err) {
			fprintf(stderr, "bench workers: rank %d at %s:%u: %s\n", i, addr, o.port,
				sg_errmsg());
			break;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, sg_worker_fd(wk[i]), &ev)) {
			err = -errno;
			fprintf(stderr, "bench workers: epoll_ctl: %s\n", strerror(errno));
		}
	}
	/* Back home; the sockets keep the namespace they were made in. */
	if (setns(self, CLONE_NEWNET) && !err) {
		err = -errno;
		fprintf(stderr, "bench workers: cannot return to its netns: %s\n", strerror(errno));
	}
out:
	__atomic_store_n(&w->sh->ready, err ? err : 1, __ATOMIC_RELEASE);
	while (!err && !host_stop) {
		struct epoll_event evs[HOST_EVENTS];
		int nev = epoll_pwait(ep, evs, HOST_EVENTS, -1, &waitmask);

		if (nev < 0 && errno != EINTR) {
			err = -errno;
			fprintf(stderr, "bench workers: epoll_pwait: %s\n", strerror(errno));
		}
		for (int i = 0; i < nev; i++)
			serve(wk[evs[i].data.u32], w->sh, &gen);
	}
	for (int i = 0; wk && i < n; i++)
		sg_worker_destroy(wk[i]);
	free(wk);
	gen_free(&gen);
	if (ep >= 0)
		close(ep);
	if (self >= 0)
		close(self);
	return err;
}

static int host_start(struct bench_workers *w)
{
	long long end = now_ms() + START_TIMEOUT_MS;
	int ready = 0;

	w->sh = mmap(NULL, sizeof(*w->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (w->sh == MAP_FAILED) {
		w->sh = NULL;
		fprintf(stderr, "bench workers: mmap: %s\n", strerror(errno));
		return -ENOMEM;
	}
	w->pid = netlab_spawn(w->lab, 0, host_main, w);
	if (w->pid < 0) {
		int err = (int)w->pid;

		w->pid = 0;
		fprintf(stderr, "bench workers: cannot start the host process: %s\n",
			strerror(-err));
		return err;
	}
	while (!ready && now_ms() < end) {
		int st;

		ready = __atomic_load_n(&w->sh->ready, __ATOMIC_ACQUIRE);
		if (ready)
			break;
		st = netlab_wait(w->lab, w->pid, 0);
		if (st != -ETIMEDOUT) {
			fprintf(stderr, "bench workers: the host process ended (status %d)\n", st);
			w->pid = 0;
			return -ECHILD;
		}
		sleep_ms(1);
	}
	if (ready == 1)
		return 0;
	if (!ready) {
		fprintf(stderr, "bench workers: the host process bound no sockets in %d ms\n",
			START_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	return ready; /* its reason is on stderr */
}

static void host_stop_proc(struct bench_workers *w)
{
	int st;

	if (w->pid > 0) {
		kill(w->pid, SIGTERM);
		st = netlab_wait(w->lab, w->pid, STOP_GRACE_MS);
		if (st == -ETIMEDOUT) {
			fprintf(stderr, "bench workers: host process %d ignored SIGTERM\n",
				(int)w->pid);
			kill(w->pid, SIGKILL);
			netlab_wait(w->lab, w->pid, STOP_GRACE_MS);
		} else if (st) {
			fprintf(stderr, "bench workers: host process %d ended with status %d\n",
				(int)w->pid, st);
		}
		w->pid = 0;
	}
	if (w->sh)
		munmap(w->sh, sizeof(*w->sh));
	w->sh = NULL;
}

/* ------------------------------------------------------------- reflector */

/* Attach @prog to @ifname of the current namespace, natively. */
static int attach(struct bench_workers *w, struct bpf_program *prog, const char *ifname, int ns)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	unsigned int ifindex = if_nametoindex(ifname);
	struct bpf_link *link;
	int err;

	if (!ifindex) {
		err = -errno;
		fprintf(stderr, "bench workers: no %s in namespace %s\n", ifname,
			netlab_ns_name(w->lab, ns));
		return err;
	}
	link = bpf_program__attach_xdp(prog, (int)ifindex);
	if (!link) {
		err = -errno;
		fprintf(stderr, "bench workers: cannot attach XDP to %s in %s: %s\n", ifname,
			netlab_ns_name(w->lab, ns), strerror(-err));
		return err;
	}
	w->links[w->nlinks++] = link;
	/* Generic XDP would work too, but would not measure the same thing. */
	err = bpf_xdp_query((int)ifindex, 0, &q);
	if (err || q.attach_mode != XDP_ATTACHED_DRV) {
		fprintf(stderr, "bench workers: XDP on %s in %s is not native (mode %d)\n", ifname,
			netlab_ns_name(w->lab, ns), (int)q.attach_mode);
		return err ? err : -EOPNOTSUPP;
	}
	return 0;
}

static int refl_start(struct bench_workers *w)
{
	int self, err = 0;

	w->ncpus = libbpf_num_possible_cpus();
	if (w->ncpus <= 0) {
		fprintf(stderr, "bench workers: cannot count the possible CPUs\n");
		return w->ncpus ? w->ncpus : -EINVAL;
	}
	w->links = calloc(2 * (size_t)w->nns, sizeof(*w->links));
	if (!w->links)
		return -ENOMEM;
	w->skel = reflector_bpf__open();
	if (!w->skel) {
		err = -errno;
		fprintf(stderr, "bench workers: cannot open the reflector: %s\n", strerror(-err));
		return err;
	}
	w->skel->rodata->port_lo = BENCH_PORT;
	w->skel->rodata->nports = (uint16_t)w->per_ns;
	err = reflector_bpf__load(w->skel);
	if (err) {
		fprintf(stderr, "bench workers: cannot load the reflector: %s\n", strerror(-err));
		return err;
	}
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		err = -errno;
		fprintf(stderr, "bench workers: own netns: %s\n", strerror(errno));
		return err;
	}
	for (int ns = 0; ns < w->nns && !err; ns++) {
		err = netlab_enter(w->lab, ns);
		if (!err)
			err = attach(w, w->skel->progs.reflector, NETLAB_IFNAME, ns);
	}
	/* The switch ends of the same veths: XDP_TX needs NAPI on the peer. */
	if (!err)
		err = netlab_enter(w->lab, NETLAB_SWITCH);
	for (int ns = 0; ns < w->nns && !err; ns++) {
		char peer[IF_NAMESIZE];

		snprintf(peer, sizeof(peer), "sgw%d", ns);
		err = attach(w, w->skel->progs.reflector_peer, peer, NETLAB_SWITCH);
	}
	if (setns(self, CLONE_NEWNET) && !err) {
		err = -errno;
		fprintf(stderr, "bench workers: cannot return to the caller's netns: %s\n",
			strerror(errno));
	}
	close(self);
	return err;
}

static void refl_stop(struct bench_workers *w)
{
	for (int i = 0; i < w->nlinks; i++)
		bpf_link__destroy(w->links[i]);
	free(w->links);
	w->links = NULL;
	w->nlinks = 0;
	reflector_bpf__destroy(w->skel);
	w->skel = NULL;
}

static int refl_counters(const struct bench_workers *w, uint64_t *rx, uint64_t *tx)
{
	uint64_t *v = calloc((size_t)w->ncpus, sizeof(*v));
	uint64_t sum[2] = { 0, 0 };
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t key = REFL_RX; key <= REFL_TX && !err; key++) {
		err = bpf_map__lookup_elem(w->skel->maps.counters, &key, sizeof(key), v,
					   (size_t)w->ncpus * sizeof(*v), 0);
		for (int c = 0; c < w->ncpus && !err; c++)
			sum[key] += v[c];
	}
	free(v);
	if (err) {
		fprintf(stderr, "bench workers: cannot read the reflector's counters: %s\n",
			strerror(-err));
		return err;
	}
	*rx = sum[REFL_RX];
	*tx = sum[REFL_TX];
	return 0;
}

/* ------------------------------------------------------------------ probe */

static int raw_counters(const struct bench_workers *w, uint64_t *rx, uint64_t *tx)
{
	if (w->mode == BENCH_WORKERS_REFLECTOR)
		return refl_counters(w, rx, tx);
	*rx = __atomic_load_n(&w->sh->rx, __ATOMIC_RELAXED);
	*tx = __atomic_load_n(&w->sh->tx, __ATOMIC_RELAXED);
	return 0;
}

/* A socket in the coordinator's namespace, at its address, any port. */
static int probe_socket(struct bench_workers *w)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr = netlab_coordinator_addr(w->lab) };
	int self, fd = -1, err;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	err = netlab_enter_coordinator(w->lab);
	if (!err) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
			err = -errno;
	}
	if (setns(self, CLONE_NEWNET) && !err)
		err = -errno;
	close(self);
	if (err && fd >= 0)
		close(fd);
	return err ? err : fd;
}

/* Whether @buf is the right answer to the probe of rank @rank. */
static int probe_answer(const uint8_t *buf, size_t len, uint32_t nranks, uint32_t *rank)
{
	struct sg_wire_hdr h;
	uint32_t v;

	if (sg_wire_decode(buf, len, &h) || h.type != SG_WIRE_RESPONSE || h.dtype != SG_UINT32 ||
	    h.op != SG_OP_SUM || h.count != 1 || h.msg_len != 4 || h.nonce != PROBE_NONCE ||
	    h.coll_id >= nranks)
		return 0;
	memcpy(&v, buf + SG_WIRE_HDR_LEN, sizeof(v));
	if (le32toh(v) != ~h.coll_id)
		return 0;
	*rank = h.coll_id;
	return 1;
}

/* Send every rank a SCATTER (collective id = its rank, payload its
 * complement) until each has answered, in bounded rounds. */
static int probe(struct bench_workers *w)
{
	uint32_t nranks = (uint32_t)(w->nns * w->per_ns), left = nranks;
	uint8_t buf[SG_WIRE_HDR_LEN + SG_CHUNK_BYTES + 1];
	uint8_t *done = calloc(nranks, 1);
	int fd, err = 0;

	if (!done)
		return -ENOMEM;
	fd = probe_socket(w);
	if (fd < 0) {
		free(done);
		fprintf(stderr, "bench workers: no probe socket in the coordinator's namespace: %s\n",
			strerror(-fd));
		return fd;
	}
	for (int round = 0; round < PROBE_ROUNDS && left; round++) {
		long long end = now_ms() + PROBE_ROUND_MS;

		for (uint32_t r = 0; r < nranks; r++) {
			struct sg_wire_msg m = { .type = SG_WIRE_SCATTER, .dtype = SG_UINT32,
						 .op = SG_OP_SUM, .coll_id = r, .count = 1,
						 .msg_len = 4, .nonce = PROBE_NONCE };
			struct sockaddr_in to = bench_worker_addr(w, r);
			uint32_t v = htole32(~r);

			if (done[r])
				continue;
			sg_wire_encode(buf, &m, 0);
			memcpy(buf + SG_WIRE_HDR_LEN, &v, sizeof(v));
			/* A full socket buffer is retried next round. */
			sendto(fd, buf, SG_WIRE_HDR_LEN + sizeof(v), 0, (struct sockaddr *)&to,
			       sizeof(to));
		}
		for (long long left_ms; left && (left_ms = end - now_ms()) > 0;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			uint32_t rank;
			ssize_t n;

			if (poll(&p, 1, (int)left_ms) <= 0)
				continue;
			for (int i = 0; i < 4096 && left; i++) {
				n = recv(fd, buf, sizeof(buf), 0);
				if (n < 0)
					break;
				if (probe_answer(buf, (size_t)n, nranks, &rank) && !done[rank]) {
					done[rank] = 1;
					left--;
				}
			}
		}
	}
	if (left) {
		uint64_t rx = 0, tx = 0;

		/* Did the requests arrive, or did the answers get lost? */
		raw_counters(w, &rx, &tx);
		fprintf(stderr, "bench workers: the workers counted %llu datagrams in, %llu out%s\n",
			(unsigned long long)rx, (unsigned long long)tx,
			w->sh && __atomic_load_n(&w->sh->errors, __ATOMIC_RELAXED) ?
			", with errors" : "");
		for (uint32_t r = 0; r < nranks; r++) {
			struct sockaddr_in a = bench_worker_addr(w, r);
			char s[INET_ADDRSTRLEN];

			if (done[r])
				continue;
			inet_ntop(AF_INET, &a.sin_addr, s, sizeof(s));
			fprintf(stderr, "bench workers: rank %u (%s:%u) did not answer "
				"(%u of %u silent)\n", r, s, ntohs(a.sin_port), left, nranks);
			break;
		}
		err = -ETIMEDOUT;
	}
	close(fd);
	free(done);
	return err;
}

/* ------------------------------------------------------------------ API */

int bench_workers_start(struct netlab *lab, int nns, int per_ns, enum bench_worker_mode mode,
			int cpu, struct bench_workers **out)
{
	struct bench_workers *w;
	int err;

	if (!lab || !out || nns < 1 || nns > netlab_nworker_ns(lab) || per_ns < 1 ||
	    per_ns > 65535 - BENCH_PORT || (size_t)nns * per_ns > 65536 || cpu < -1 ||
	    (mode != BENCH_WORKERS_HOST && mode != BENCH_WORKERS_REFLECTOR)) {
		fprintf(stderr, "bench workers: bad arguments (lab %p with %d worker namespaces, "
			"nns %d, per_ns %d, mode %d, cpu %d)\n", (void *)lab,
			lab ? netlab_nworker_ns(lab) : 0, nns, per_ns, (int)mode, cpu);
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->lab = lab;
	w->mode = mode;
	w->nns = nns;
	w->per_ns = per_ns;
	w->cpu = cpu;
	err = mode == BENCH_WORKERS_HOST ? host_start(w) : refl_start(w);
	if (!err)
		err = probe(w);
	if (!err)
		err = raw_counters(w, &w->base_rx, &w->base_tx);
	if (err) {
		fprintf(stderr, "bench workers: cannot start %d x %d %s workers: %s\n", nns, per_ns,
			mode == BENCH_WORKERS_HOST ? "host" : "reflector", strerror(-err));
		bench_workers_stop(w);
		return err;
	}
	*out = w;
	return 0;
}

void bench_workers_stop(struct bench_workers *w)
{
	if (!w)
		return;
	if (w->mode == BENCH_WORKERS_HOST)
		host_stop_proc(w);
	else
		refl_stop(w);
	free(w);
}

int bench_workers_counters(const struct bench_workers *w, uint64_t *rx, uint64_t *tx)
{
	uint64_t r, t;
	int err;

	if (!w || !rx || !tx)
		return -EINVAL;
	err = raw_counters(w, &r, &t);
	if (err)
		return err;
	*rx = r - w->base_rx;
	*tx = t - w->base_tx;
	return 0;
}
