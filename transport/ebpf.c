// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The eBPF transport: the kernel fans requests out (TC egress) and reduces
 * contributions (XDP). One datapath (loaded object, attachments, mmapped
 * results, ring buffer) serves every communicator of this process on one
 * interface, because an interface has one XDP hook.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf/maps.h"
#include "sgbpf.skel.h"
#include "coll/comm.h"
#include "coll/log.h"
#include "transport/neigh.h"
#include "transport/transport.h"
#include "transport/udp.h"

/* The kernel's enum bpf_attach_type values of tcx (Linux 6.6), which the
 * installed UAPI headers may predate. */
#define SG_BPF_TCX_EGRESS 47

#define SG_NEIGH_TIMEOUT_MS 3000
#define SG_VERIFIER_LOG (1 << 20)

struct sg_datapath {
	struct sg_datapath *next;	/* registry list */
	int ifindex;
	int refs;
	struct sgbpf_bpf *skel;
	struct bpf_link *xdp_link;
	int tcx_link_fd;		/* -1 when attached as a classic tc filter */
	struct bpf_tc_hook tc_hook;
	struct bpf_tc_opts tc_opts;
	/* Mmapped maps: accumulators, float SUM exponents, completion words. */
	uint8_t *results;
	size_t results_len;
	uint16_t *aux;
	size_t aux_len;
	volatile struct sg_completion *completions;
	size_t completions_len;
	/* Mmapped read-write: arm descriptors, one per slot. */
	struct sg_arm_desc *arm_descs;
	size_t arm_descs_len;
	struct ring_buffer *rb;
	int ncpus;
	pthread_mutex_t lock;		/* everything below, and ring consumption */
	struct sg_transport *comms[SG_MAX_COMMS];
	uint64_t gen;			/* last generation handed out */
	uint64_t pool_used[SG_POOL_CHUNKS / 64];
	struct bpf_object *user_obj[SG_MAX_COMMS];	/* aggregation programs */
};

struct sg_transport {
	struct sg_datapath *dp;
	struct sg_comm *comm;
	uint32_t idx;			/* communicator index in the datapath */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_datapath *registry;

/* Completion is read from the mmapped completion words; the ring buffer only
 * wakes the waiter, so its records need no handling. */
static int on_event(void *ctx, void *data, size_t size)
{
	return 0;
}

static int attach_tc(struct sg_datapath *dp)
{
	int prog_fd = bpf_program__fd(dp->skel->progs.sg_scatter), err;

	/* A tcx link is owned by its fd: the kernel detaches it when the process
	 * dies, like the XDP link. */
	dp->tcx_link_fd = bpf_link_create(prog_fd, dp->ifindex, SG_BPF_TCX_EGRESS, NULL);
	if (dp->tcx_link_fd >= 0)
		return 0;
	sg_log(SG_LOG_INFO, "tcx link unavailable (%s), attaching a clsact filter",
	       strerror(-dp->tcx_link_fd));
	dp->tcx_link_fd = -1;
	dp->tc_hook = (struct bpf_tc_hook){ .sz = sizeof(dp->tc_hook), .ifindex = dp->ifindex,
					    .attach_point = BPF_TC_EGRESS };
	err = bpf_tc_hook_create(&dp->tc_hook);
	if (err && err != -EEXIST)
		return sg_fail(err, "cannot create clsact hook: %s", strerror(-err));
	dp->tc_opts = (struct bpf_tc_opts){ .sz = sizeof(dp->tc_opts), .prog_fd = prog_fd };
	err = bpf_tc_attach(&dp->tc_hook, &dp->tc_opts);
	if (err)
		return sg_fail(err, "cannot attach the TC egress program: %s", strerror(-err));
	return 0;
}

static void detach_tc(struct sg_datapath *dp)
{
	if (dp->tcx_link_fd >= 0) {
		close(dp->tcx_link_fd);
	} else if (dp->tc_opts.prog_id) {
		/* Only our filter: the clsact hook may serve other programs. */
		dp->tc_opts.prog_fd = 0;
		dp->tc_opts.prog_id = 0;
		dp->tc_opts.flags = 0;
		bpf_tc_detach(&dp->tc_hook, &dp->tc_opts);
	}
}

static void dp_free(struct sg_datapath *dp)
{
	if (!dp)
		return;
	ring_buffer__free(dp->rb);
	if (dp->results)
		munmap(dp->results, dp->results_len);
	if (dp->aux)
		munmap(dp->aux, dp->aux_len);
	if (dp->completions)
		munmap((void *)dp->completions, dp->completions_len);
	if (dp->arm_descs)
		munmap(dp->arm_descs, dp->arm_descs_len);
	detach_tc(dp);
	bpf_link__destroy(dp->xdp_link);
	sgbpf_bpf__destroy(dp->skel);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}

static void *map_mmap(const struct bpf_map *map, int prot, size_t *len)
{
	void *p;

	*len = (size_t)bpf_map__max_entries(map) * ((bpf_map__value_size(map) + 7) & ~7u);
	p = mmap(NULL, *len, prot, MAP_SHARED, bpf_map__fd(map), 0);
	return p == MAP_FAILED ? NULL : p;
}

static int dp_create(int ifindex, const char *ifname, struct sg_datapath **out)
{
	struct sg_datapath *dp;
	long err;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return sg_fail(-ENOMEM, "out of memory");
	dp->ifindex = ifindex;
	dp->tcx_link_fd = -1;
	pthread_mutex_init(&dp->lock, NULL);
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = sg_fail(dp->ncpus ? dp->ncpus : -EINVAL, "cannot count possible CPUs");
		goto fail;
	}

	sg_log_install_libbpf();
	dp->skel = sgbpf_bpf__open();
	if (!dp->skel) {
		err = sg_fail(-errno ? -errno : -EINVAL, "cannot open the BPF object: %s",
			      strerror(errno));
		goto fail;
	}
	err = sgbpf_bpf__load(dp->skel);
	if (err) {
		err = sg_fail(err, "cannot load the BPF programs: %s%s", strerror((int)-err),
			      err == -EPERM || err == -EACCES ?
			      " (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root; "
			      "sgbpf-probe tells what is missing)" :
			      " (the verifier log went to the log callback)");
		goto fail;
	}
	dp->xdp_link = bpf_program__attach_xdp(dp->skel->progs.sg_gather, ifindex);
	if (!dp->xdp_link) {
		err = -errno;
		err = sg_fail(err, "cannot attach XDP to %s: %s%s", ifname, strerror((int)-err),
			      err == -EBUSY ? " (another program, maybe another sgbpf process, "
					      "holds the interface's XDP hook)" : "");
		goto fail;
	}
	err = attach_tc(dp);
	if (err)
		goto fail;

	dp->results = map_mmap(dp->skel->maps.results, PROT_READ, &dp->results_len);
	dp->aux = map_mmap(dp->skel->maps.result_aux, PROT_READ, &dp->aux_len);
	dp->completions = map_mmap(dp->skel->maps.completions, PROT_READ, &dp->completions_len);
	dp->arm_descs = map_mmap(dp->skel->maps.arm_descs, PROT_READ | PROT_WRITE,
				 &dp->arm_descs_len);
	if (!dp->results || !dp->aux || !dp->completions || !dp->arm_descs) {
		err = sg_fail(-errno, "cannot mmap the result maps: %s", strerror(errno));
		goto fail;
	}
	dp->rb = ring_buffer__new(bpf_map__fd(dp->skel->maps.events), on_event, dp, NULL);
	if (!dp->rb) {
		err = sg_fail(-errno, "cannot open the completion ring buffer: %s",
			      strerror(errno));
		goto fail;
	}
	*out = dp;
	return 0;
fail:
	dp_free(dp);
	return (int)err;
}

/* Load a user aggregation program into the datapath: its maps that share a
 * name with the datapath's are the datapath's, and it becomes the fold program
 * of op SG_OP_USER for this communicator only. */
static int load_user_agg(struct sg_transport *tp)
{
	struct sg_datapath *dp = tp->dp;
	struct sg_comm *comm = tp->comm;
	uint32_t key = SG_OP_USER + tp->idx;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	char *log = NULL;
	int err, fd;

	obj = bpf_object__open_file(comm->agg_object, NULL);
	if (!obj)
		return sg_fail(-errno, "cannot open aggregation object %s: %s", comm->agg_object,
			       strerror(errno));
	prog = bpf_object__find_program_by_name(obj, comm->agg_program);
	if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_XDP) {
		err = sg_fail(-ENOENT, "%s has no XDP program named '%s'", comm->agg_object,
			      comm->agg_program);
		goto fail;
	}
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), comm->agg_program));
	prog = bpf_object__find_program_by_name(obj, comm->agg_program);
	log = calloc(1, SG_VERIFIER_LOG);
	if (log)
		bpf_program__set_log_buf(prog, log, SG_VERIFIER_LOG);
	bpf_object__for_each_map(map, obj) {
		struct bpf_map *own = bpf_object__find_map_by_name(dp->skel->obj, bpf_map__name(map));

		if (own && (err = bpf_map__reuse_fd(map, bpf_map__fd(own))) < 0) {
			err = sg_fail(err, "%s: cannot share map %s: %s", comm->agg_object,
				      bpf_map__name(map), strerror(-err));
			goto fail;
		}
	}
	err = bpf_object__load(obj);
	if (err) {
		if (log && *log)
			sg_log(SG_LOG_WARN, "verifier log of %s:\n%s", comm->agg_program, log);
		err = sg_fail(err, "aggregation program %s in %s was rejected: %s%s%.*s",
			      comm->agg_program, comm->agg_object, strerror(-err),
			      log && *log ? "; verifier log ends: " : "", 600,
			      log && strlen(log) > 600 ? log + strlen(log) - 600 : (log ? log : ""));
		goto fail;
	}
	fd = bpf_program__fd(prog);
	err = bpf_map__update_elem(dp->skel->maps.fold_progs, &key, sizeof(key), &fd, sizeof(fd), 0);
	if (err) {
		err = sg_fail(err, "cannot install aggregation program: %s", strerror(-err));
		goto fail;
	}
	dp->user_obj[tp->idx] = obj;
	free(log);
	return 0;
fail:
	free(log);
	bpf_object__close(obj);
	return err;
}

static void unload_user_agg(struct sg_transport *tp)
{
	uint32_t key = SG_OP_USER + tp->idx;

	if (!tp->dp->user_obj[tp->idx])
		return;
	bpf_map__delete_elem(tp->dp->skel->maps.fold_progs, &key, sizeof(key), 0);
	bpf_object__close(tp->dp->user_obj[tp->idx]);
	tp->dp->user_obj[tp->idx] = NULL;
}

/* Fill the maps that tell the programs who the communicator's workers are. */
static int install_comm(struct sg_transport *tp)
{
	struct sg_comm *comm = tp->comm;
	struct sgbpf_bpf *skel = tp->dp->skel;
	struct sg_comm_cfg cfg = {
		.local_ip = comm->local.sin_addr.s_addr,
		.local_port = comm->local.sin_port,
		.nworkers = (uint32_t)comm->nworkers,
		.ifindex = (uint32_t)comm->ifindex,
	};
	uint32_t *ips = NULL;
	uint8_t(*macs)[6] = NULL;
	int err;

	ips = calloc(comm->nworkers, sizeof(*ips));
	macs = calloc(comm->nworkers, sizeof(*macs));
	if (!ips || !macs) {
		err = sg_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < comm->nworkers; i++)
		ips[i] = comm->workers[i].sin_addr.s_addr;
	err = sg_neigh_resolve(comm->ifname, comm->ifindex, ips, comm->nworkers, macs,
			       SG_NEIGH_TIMEOUT_MS);
	if (err)
		goto out;

	for (uint32_t i = 0; i < comm->nworkers; i++) {
		uint32_t key = tp->idx * SG_MAX_WORKERS + i;
		struct sg_fanout_entry fe = {
			.ip = comm->workers[i].sin_addr.s_addr,
			.port = comm->workers[i].sin_port,
		};
		struct sg_worker_key wk = {
			.comm = tp->idx,
			.ip = fe.ip,
			.port = fe.port,
		};

		memcpy(fe.mac, macs[i], sizeof(fe.mac));
		err = bpf_map__update_elem(skel->maps.fanout, &key, sizeof(key), &fe, sizeof(fe), 0);
		if (!err)
			err = bpf_map__update_elem(skel->maps.worker_by_addr, &wk, sizeof(wk), &i,
						   sizeof(i), 0);
		if (err) {
			err = sg_fail(err, "cannot fill the worker maps: %s", strerror(-err));
			goto out;
		}
	}
	/* Start from inactive slots and empty descriptors (a previous
	 * communicator of this index may have left some), then open the
	 * communicator. */
	memset(&tp->dp->arm_descs[tp->idx * SG_SLOTS], 0, SG_SLOTS * sizeof(struct sg_arm_desc));
	for (uint32_t s = 0; s < SG_SLOTS; s++) {
		struct sg_slot slot = {};
		uint32_t key = tp->idx * SG_SLOTS + s;

		err = bpf_map__update_elem(skel->maps.slots, &key, sizeof(key), &slot,
					   sizeof(slot), BPF_F_LOCK);
		if (err) {
			err = sg_fail(err, "cannot reset slot %u: %s", s, strerror(-err));
			goto out;
		}
	}
	if (comm->agg_object) {
		err = load_user_agg(tp);
		if (err)
			goto out;
	}
	cfg.active = 1;
	cfg.flags = (comm->busy_poll ? SG_CFG_NO_EVENTS : 0) | (comm->pass_responses ? SG_CFG_PASS : 0);
	err = bpf_map__update_elem(skel->maps.comms, &tp->idx, sizeof(tp->idx), &cfg,
				   sizeof(cfg), 0);
	if (!err)
		err = bpf_map__update_elem(skel->maps.comm_by_port, &cfg.local_port,
					   sizeof(cfg.local_port), &tp->idx, sizeof(tp->idx),
					   BPF_NOEXIST);
	if (err)
		err = sg_fail(err, "cannot register the communicator: %s", strerror(-err));
out:
	free(ips);
	free(macs);
	return err;
}

static void uninstall_comm(struct sg_transport *tp)
{
	struct sgbpf_bpf *skel = tp->dp->skel;
	struct sg_comm_cfg cfg = {};
	uint16_t port = tp->comm->local.sin_port;

	bpf_map__delete_elem(skel->maps.comm_by_port, &port, sizeof(port), 0);
	bpf_map__update_elem(skel->maps.comms, &tp->idx, sizeof(tp->idx), &cfg, sizeof(cfg), 0);
	for (uint32_t i = 0; i < tp->comm->nworkers; i++) {
		struct sg_worker_key wk = {
			.comm = tp->idx,
			.ip = tp->comm->workers[i].sin_addr.s_addr,
			.port = tp->comm->workers[i].sin_port,
		};

		bpf_map__delete_elem(skel->maps.worker_by_addr, &wk, sizeof(wk), 0);
	}
	unload_user_agg(tp);
}

static void release(struct sg_transport *tp)
{
	struct sg_datapath *dp = tp->dp, **pp;

	pthread_mutex_lock(&registry_lock);
	pthread_mutex_lock(&dp->lock);
	if (tp->idx < SG_MAX_COMMS)
		dp->comms[tp->idx] = NULL;
	pthread_mutex_unlock(&dp->lock);
	if (--dp->refs == 0) {
		for (pp = &registry; *pp; pp = &(*pp)->next) {
			if (*pp == dp) {
				*pp = dp->next;
				break;
			}
		}
		dp_free(dp);
	}
	pthread_mutex_unlock(&registry_lock);
	free(tp);
}

static int ebpf_create(struct sg_comm *comm, struct sg_transport **out)
{
	struct sg_datapath *dp;
	struct sg_transport *tp;
	int err = 0, idx = -1;

	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return sg_fail(-ENOMEM, "out of memory");
	tp->comm = comm;

	pthread_mutex_lock(&registry_lock);
	for (dp = registry; dp && dp->ifindex != comm->ifindex; dp = dp->next)
		;
	if (!dp) {
		err = dp_create(comm->ifindex, comm->ifname, &dp);
		if (err) {
			pthread_mutex_unlock(&registry_lock);
			free(tp);
			return err;
		}
		dp->next = registry;
		registry = dp;
	}
	pthread_mutex_lock(&dp->lock);
	for (int i = 0; i < SG_MAX_COMMS && idx < 0; i++)
		if (!dp->comms[i])
			idx = i;
	if (idx >= 0)
		dp->comms[idx] = tp;
	pthread_mutex_unlock(&dp->lock);
	dp->refs++;
	tp->dp = dp;
	pthread_mutex_unlock(&registry_lock);
	if (idx < 0) {
		err = sg_fail(-ENOSPC, "interface %s already serves %d communicators", comm->ifname,
			      SG_MAX_COMMS);
		tp->idx = SG_MAX_COMMS;
		release(tp);
		return err;
	}
	tp->idx = (uint32_t)idx;

	err = install_comm(tp);
	if (err) {
		uninstall_comm(tp);
		release(tp);
		return err;
	}
	*out = tp;
	return 0;
}

static void ebpf_destroy(struct sg_transport *tp)
{
	if (!tp)
		return;
	uninstall_comm(tp);
	release(tp);
}

static uint32_t slot_key(const struct sg_transport *tp, uint32_t coll_id)
{
	return tp->idx * SG_SLOTS + coll_id % SG_SLOTS;
}

/* First fit of @n free pool entries; the caller holds dp->lock. */
static int pool_alloc(struct sg_datapath *dp, uint32_t n, uint32_t *base)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < SG_POOL_CHUNKS; i++) {
		if (dp->pool_used[i / 64] & (1ULL << (i % 64))) {
			run = 0;
			continue;
		}
		if (++run == n) {
			*base = i + 1 - n;
			for (uint32_t j = *base; j <= i; j++)
				dp->pool_used[j / 64] |= 1ULL << (j % 64);
			return 0;
		}
	}
	return -ENOSPC;
}

static void pool_free(struct sg_datapath *dp, uint32_t base, uint32_t n)
{
	for (uint32_t j = base; j < base + n && j < SG_POOL_CHUNKS; j++)
		dp->pool_used[j / 64] &= ~(1ULL << (j % 64));
}

/* Write the slot's arm descriptor; the TC program arms the slot from it when
 * the collective's first datagram (its SCATTER, or an allgather's RESULT)
 * passes, so arming costs no system call. The descriptor is ours until that
 * sendto: the slot is free (sg_comm_take_id), and the previous collective of
 * the slot sends nothing more. */
static int ebpf_arm(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_datapath *dp = tp->dp;
	struct sg_arm_desc *d = &dp->arm_descs[slot_key(tp, r->coll_id)];
	int err;

	r->nchunks = sg_response_nchunks(r);
	pthread_mutex_lock(&dp->lock);
	err = pool_alloc(dp, r->nchunks, &r->pool_base);
	r->gen = ++dp->gen;
	pthread_mutex_unlock(&dp->lock);
	if (err)
		return sg_fail(err, "no room for %u more accumulator chunks on %s (pool of %u)",
			       r->nchunks, tp->comm->ifname, SG_POOL_CHUNKS);
	d->coll_id = r->coll_id;
	d->count = r->count;
	d->nonce = r->nonce;
	d->gen = r->gen;
	d->msg_len = r->msg_len;
	d->target = r->target;
	d->chunk_base = r->pool_base;
	d->nchunks = (uint16_t)r->nchunks;
	d->dtype = (uint8_t)r->dtype;
	d->op = (uint8_t)r->op;
	/* The sendto that follows orders these stores before the TC program's
	 * loads anyway; the fence documents it and keeps the compiler honest. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return 0;
}

/* The slot stays armed (until the TC program arms it for its next
 * collective): stragglers of @r are counted against it until it is
 * armed again, and the generation check keeps them out of the pool entries'
 * next owners. */
static void ebpf_release(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	pthread_mutex_lock(&tp->dp->lock);
	pool_free(tp->dp, r->pool_base, r->nchunks);
	pthread_mutex_unlock(&tp->dp->lock);
}

static int ebpf_send_all(struct sg_transport *tp, void *dgram, size_t len)
{
	struct sg_comm *comm = tp->comm;

	/* One datagram per batch of SG_FANOUT_BATCH workers, addressed to the
	 * batch's first worker; the TC program clones it to the whole batch. */
	for (uint32_t first = 0; first < comm->nworkers; first += SG_FANOUT_BATCH) {
		sg_wire_set_fanout_first(dgram, first);
		int err = sg_udp_sendto(comm->sock, dgram, len, &comm->workers[first]);

		if (err)
			return sg_fail(err, "sendto: %s", strerror(-err));
	}
	return 0;
}

static int completed(const struct sg_transport *tp, const struct sg_tp_reduce *r)
{
	const volatile struct sg_completion *c = &tp->dp->completions[slot_key(tp, r->coll_id)];

	return __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE) == r->gen;
}

static int ebpf_wait(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : sg_now_us() + timeout_ms * 1000LL;
	struct pollfd pfd = { .fd = ring_buffer__epoll_fd(tp->dp->rb), .events = POLLIN };

	for (;;) {
		long long left;

		if (completed(tp, r))
			return 0;
		if (timeout_ms == 0)
			return -EAGAIN;
		left = deadline < 0 ? -1 : deadline - sg_now_us();
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		if (tp->comm->busy_poll) {
			/* No system call: the completion word is shared memory. */
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		if (poll(&pfd, 1, left < 0 ? -1 : (int)((left + 999) / 1000)) < 0 && errno != EINTR)
			return sg_fail(-errno, "poll: %s", strerror(errno));
		/* Drain the wake-ups; the completion words say who is done. */
		pthread_mutex_lock(&tp->dp->lock);
		ring_buffer__consume(tp->dp->rb);
		pthread_mutex_unlock(&tp->dp->lock);
	}
}

static int ebpf_report(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		       unsigned int *ndone)
{
	uint32_t key = slot_key(tp, r->coll_id);
	struct sg_slot slot;

	if (bpf_map_lookup_elem_flags(bpf_map__fd(tp->dp->skel->maps.slots), &key, &slot,
				      BPF_F_LOCK))
		return sg_fail(-errno, "cannot read slot %u: %s", key, strerror(errno));
	if (slot.gen != r->gen) {
		*ndone = 0;
		memset(done, 0, SG_WORKER_WORDS * sizeof(uint64_t));
		return 0;
	}
	memcpy(done, slot.done, sizeof(slot.done));
	*ndone = slot.ndone;
	return 0;
}

static int ebpf_collect(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
			uint64_t *contributors, unsigned int *ncontributors, int done)
{
	sg_result_copy(tp->dp->results + (size_t)r->pool_base * SG_CHUNK_BYTES,
		       tp->dp->aux + (size_t)r->pool_base * SG_FSUM_ELEMS, r, result);
	if (done && r->target == tp->comm->nworkers) {
		/* Everyone contributed: no need to ask the kernel who. */
		memset(contributors, 0, SG_WORKER_WORDS * sizeof(uint64_t));
		for (size_t i = 0; i < tp->comm->nworkers; i++)
			contributors[i / 64] |= 1ULL << (i % 64);
		*ncontributors = (unsigned int)tp->comm->nworkers;
		return 0;
	}
	return ebpf_report(tp, r, contributors, ncontributors);
}

static int ebpf_fd(struct sg_transport *tp)
{
	return ring_buffer__epoll_fd(tp->dp->rb);
}

static int ebpf_get_stats(struct sg_transport *tp, struct sg_comm_stats *out)
{
	struct sg_stats *percpu, sum = {};
	int err;

	percpu = calloc((size_t)tp->dp->ncpus, sizeof(*percpu));
	if (!percpu)
		return sg_fail(-ENOMEM, "out of memory");
	err = bpf_map__lookup_elem(tp->dp->skel->maps.stats, &tp->idx, sizeof(tp->idx), percpu,
				   (size_t)tp->dp->ncpus * sizeof(*percpu), 0);
	if (err) {
		free(percpu);
		return sg_fail(err, "cannot read statistics: %s", strerror(-err));
	}
	sg_stats_sum(&sum, percpu, tp->dp->ncpus);
	*out = (struct sg_comm_stats){
		.rx_accepted = sum.rx_accepted,
		.rx_duplicate = sum.rx_duplicate,
		.rx_stale = sum.rx_stale,
		.rx_late = sum.rx_late,
		.rx_unknown_src = sum.rx_unknown_src,
		.rx_malformed = sum.rx_malformed,
		.completed = sum.completed,
		.tx_fanout = sum.tx_fanout,
	};
	/* A request whose arm descriptor was not its own went out unarmed: the
	 * public counters file it with the other inconsistent datagrams. */
	out->rx_malformed += sum.tx_arm_mismatch;
	free(percpu);
	return 0;
}

const struct sg_transport_ops sg_transport_ebpf = {
	.name = "ebpf",
	.create = ebpf_create,
	.destroy = ebpf_destroy,
	.arm = ebpf_arm,
	.release = ebpf_release,
	.send_all = ebpf_send_all,
	.wait = ebpf_wait,
	.collect = ebpf_collect,
	.report = ebpf_report,
	.get_stats = ebpf_get_stats,
	.fd = ebpf_fd,
};
