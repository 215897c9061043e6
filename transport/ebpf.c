// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The eBPF transport: the kernel fans requests out (TC egress) and reduces
 * contributions (XDP). One datapath (transport/datapath.h: loaded object,
 * attachments, mmapped results) serves every communicator of this process on
 * one interface, because an interface has one XDP hook; each communicator has
 * a completion ring buffer of its own, so that its fd wakes for its own
 * collectives and its waiter consumes no other communicator's wake-up.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "common/clock.h"
#include "common/codec.h"
#include "common/log.h"
#include "common/udp.h"
#include "transport/accum.h"
#include "transport/datapath.h"
#include "transport/neigh.h"
#include "transport/transport.h"

#define SG_NEIGH_TIMEOUT_MS 3000

/* The datapath of one interface, shared by the communicators on it. */
struct sg_iface {
	struct sg_iface *next;		/* registry list */
	int ifindex;
	int refs;
	struct sg_dp dp;
	pthread_mutex_t lock;		/* dp's pool and generations, comms */
	struct sg_transport *comms[SG_MAX_COMMS];
};

struct sg_transport {
	struct sg_iface *ifc;
	uint32_t idx;			/* communicator index in the datapath */
	char ifname[IF_NAMESIZE];
	int sock;
	bool busy_poll;
	size_t nworkers;
	struct sockaddr_in *workers;	/* by rank */
	struct sg_fanout_entry *fanout;	/* by rank, with MACs */
	struct sg_dp_comm dpc;
	__u64 key[2];
	struct sg_udp_sender sender;	/* what the sends cost */
	struct ring_buffer *rb;		/* consumer of the communicator's ring */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_iface *registry;

/* Completion is read from the mmapped completion words; the ring buffer only
 * wakes the waiter, so its records need no handling. */
static int on_event(void *ctx, void *data, size_t size)
{
	return 0;
}

static void iface_free(struct sg_iface *ifc)
{
	if (!ifc)
		return;
	sg_dp_close(&ifc->dp);
	pthread_mutex_destroy(&ifc->lock);
	free(ifc);
}

static int iface_create(int ifindex, const char *ifname, struct sg_iface **out)
{
	struct sg_iface *ifc = calloc(1, sizeof(*ifc));
	int err;

	if (!ifc)
		return sg_fail(-ENOMEM, "out of memory");
	ifc->ifindex = ifindex;
	pthread_mutex_init(&ifc->lock, NULL);
	err = sg_dp_open(&ifc->dp, false);
	if (err) {
		pthread_mutex_destroy(&ifc->lock);
		free(ifc);
		return err;
	}
	err = sg_dp_attach(&ifc->dp, ifindex, ifname);
	if (err) {
		iface_free(ifc);
		return err;
	}
	*out = ifc;
	return 0;
}

/* The workers' fan-out entries: addresses and the MACs to rewrite to. */
static int resolve_workers(struct sg_transport *tp, const struct sg_transport_config *cfg)
{
	uint32_t *ips = calloc(cfg->nworkers, sizeof(*ips));
	uint8_t(*macs)[6] = calloc(cfg->nworkers, sizeof(*macs));
	int err;

	if (!ips || !macs) {
		err = sg_fail(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->nworkers; i++)
		ips[i] = cfg->workers[i].sin_addr.s_addr;
	err = sg_neigh_resolve(cfg->ifname, cfg->ifindex, ips, cfg->nworkers, macs,
			       SG_NEIGH_TIMEOUT_MS);
	for (size_t i = 0; !err && i < cfg->nworkers; i++) {
		tp->fanout[i] = (struct sg_fanout_entry){ .ip = ips[i],
							  .port = cfg->workers[i].sin_port };
		memcpy(tp->fanout[i].mac, macs[i], sizeof(macs[i]));
	}
out:
	free(ips);
	free(macs);
	return err;
}

static void release(struct sg_transport *tp)
{
	struct sg_iface *ifc = tp->ifc, **pp;

	if (ifc) {
		pthread_mutex_lock(&registry_lock);
		pthread_mutex_lock(&ifc->lock);
		if (tp->idx < SG_MAX_COMMS && ifc->comms[tp->idx] == tp)
			ifc->comms[tp->idx] = NULL;
		pthread_mutex_unlock(&ifc->lock);
		if (--ifc->refs == 0) {
			for (pp = &registry; *pp; pp = &(*pp)->next) {
				if (*pp == ifc) {
					*pp = ifc->next;
					break;
				}
			}
			iface_free(ifc);
		}
		pthread_mutex_unlock(&registry_lock);
	}
	free(tp->workers);
	free(tp->fanout);
	free(tp);
}

/* Join the datapath of @cfg's interface (creating it for the first
 * communicator) and take a communicator index in it. */
static int join(struct sg_transport *tp, const struct sg_transport_config *cfg)
{
	struct sg_iface *ifc;
	int err = 0, idx = -1;

	pthread_mutex_lock(&registry_lock);
	for (ifc = registry; ifc && ifc->ifindex != cfg->ifindex; ifc = ifc->next)
		;
	if (!ifc) {
		err = iface_create(cfg->ifindex, cfg->ifname, &ifc);
		if (err) {
			pthread_mutex_unlock(&registry_lock);
			return err;
		}
		ifc->next = registry;
		registry = ifc;
	}
	pthread_mutex_lock(&ifc->lock);
	for (int i = 0; i < SG_MAX_COMMS && idx < 0; i++)
		if (!ifc->comms[i])
			idx = i;
	if (idx >= 0)
		ifc->comms[idx] = tp;
	pthread_mutex_unlock(&ifc->lock);
	ifc->refs++;
	tp->ifc = ifc;
	tp->idx = idx < 0 ? SG_MAX_COMMS : (uint32_t)idx;
	pthread_mutex_unlock(&registry_lock);
	if (idx < 0)
		return sg_fail(-ENOSPC, "interface %s already serves %d communicators", cfg->ifname,
			       SG_MAX_COMMS);
	return 0;
}

static int ebpf_create(const struct sg_transport_config *cfg, struct sg_transport **out)
{
	struct sg_transport *tp = calloc(1, sizeof(*tp));
	socklen_t clen = sizeof(__u64);
	__u64 cookie = 0;
	int err;

	if (!tp)
		return sg_fail(-ENOMEM, "out of memory");
	tp->idx = SG_MAX_COMMS;
	memcpy(tp->ifname, cfg->ifname, sizeof(tp->ifname));
	tp->sock = cfg->sock;
	tp->busy_poll = cfg->busy_poll;
	tp->nworkers = cfg->nworkers;
	memcpy(tp->key, cfg->key, sizeof(tp->key));
	tp->workers = calloc(cfg->nworkers, sizeof(*tp->workers));
	tp->fanout = calloc(cfg->nworkers, sizeof(*tp->fanout));
	if (!tp->workers || !tp->fanout) {
		release(tp);
		return sg_fail(-ENOMEM, "out of memory");
	}
	memcpy(tp->workers, cfg->workers, cfg->nworkers * sizeof(*tp->workers));
	/* The fan-out program clones only what this socket sends. */
	if (getsockopt(cfg->sock, SOL_SOCKET, SO_COOKIE, &cookie, &clen) < 0 || !cookie) {
		err = sg_fail(-errno ? -errno : -EINVAL, "cannot read the socket's cookie "
			      "(SO_COOKIE): %s", strerror(errno));
		release(tp);
		return err;
	}
	err = join(tp, cfg);
	if (!err)
		err = resolve_workers(tp, cfg);
	if (err) {
		release(tp);
		return err;
	}
	tp->dpc = (struct sg_dp_comm){
		.sock_cookie = cookie,
		.local_ip = cfg->local.sin_addr.s_addr,
		.local_port = cfg->local.sin_port,
		.ifindex = (uint32_t)cfg->ifindex,
		.flags = (cfg->busy_poll ? SG_CFG_NO_EVENTS : 0) |
			 (cfg->pass_responses ? SG_CFG_PASS : 0),
		.workers = tp->fanout,
		.nworkers = (uint32_t)cfg->nworkers,
		.key = { cfg->key[0], cfg->key[1] },
	};
	pthread_mutex_lock(&tp->ifc->lock);
	err = sg_dp_install_comm(&tp->ifc->dp, tp->idx, &tp->dpc);
	if (!err && cfg->agg_object)
		err = sg_dp_load_agg(&tp->ifc->dp, tp->idx, cfg->agg_object, cfg->agg_program);
	if (!err) {
		tp->rb = ring_buffer__new(tp->ifc->dp.events_fd[tp->idx], on_event, NULL, NULL);
		if (!tp->rb)
			err = sg_fail(-errno, "cannot open the completion ring buffer: %s",
				      strerror(errno));
	}
	if (err)
		sg_dp_uninstall_comm(&tp->ifc->dp, tp->idx, &tp->dpc);
	pthread_mutex_unlock(&tp->ifc->lock);
	if (err) {
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
	ring_buffer__free(tp->rb);
	pthread_mutex_lock(&tp->ifc->lock);
	sg_dp_uninstall_comm(&tp->ifc->dp, tp->idx, &tp->dpc);
	pthread_mutex_unlock(&tp->ifc->lock);
	release(tp);
}

/* Take a pool run and a generation and post the arm descriptor; the TC
 * program arms the slot from it when the collective's first datagram (its
 * SCATTER, or an allgather's RESULT) passes. The descriptor is ours until
 * that sendto: the slot is free (the collective layer took its id), and the
 * previous collective of the slot sends nothing more. */
static int ebpf_arm(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	struct sg_iface *ifc = tp->ifc;
	int err;

	r->nchunks = sg_response_nchunks(r);
	pthread_mutex_lock(&ifc->lock);
	err = sg_dp_pool_alloc(&ifc->dp, r->nchunks, &r->pool_base);
	if (!err)
		sg_dp_post(&ifc->dp, tp->idx, r);
	pthread_mutex_unlock(&ifc->lock);
	if (err)
		return sg_fail(err, "no room for %u more accumulator chunks on %s (pool of %u)",
			       r->nchunks, tp->ifname, SG_POOL_CHUNKS);
	return 0;
}

/* The slot stays armed (until the TC program arms it for its next
 * collective): stragglers of @r are counted against it until it is
 * armed again, and the generation check keeps them out of the pool entries'
 * next owners. */
static void ebpf_release(struct sg_transport *tp, struct sg_tp_reduce *r)
{
	pthread_mutex_lock(&tp->ifc->lock);
	sg_dp_pool_free(&tp->ifc->dp, r->pool_base, r->nchunks);
	pthread_mutex_unlock(&tp->ifc->lock);
}

static int ebpf_send_all(struct sg_transport *tp, struct sg_udp_train *t)
{
	/* One train per batch of SG_FANOUT_BATCH workers, addressed to the
	 * batch's first worker and with no authenticator; the TC program clones
	 * each of its datagrams (or GSO sends, whole) to the whole batch,
	 * writing each worker's. */
	sg_wire_train_set_auth(t, 0);
	/* Each datagram of a GSO send becomes one packet per worker on the
	 * receiving CPU's backlog: bound the burst. */
	t->max_gso = SG_FANOUT_BURST / (tp->nworkers < SG_FANOUT_BATCH ? tp->nworkers : SG_FANOUT_BATCH);
	if (!t->max_gso)
		t->max_gso = 1;
	for (uint32_t first = 0; first < tp->nworkers; first += SG_FANOUT_BATCH) {
		int err;

		sg_wire_train_set_fanout_first(t, first);
		err = sg_udp_send_train(tp->sock, &tp->workers[first], t, &tp->sender);
		if (err)
			return sg_fail(err, "sendto: %s", strerror(-err));
	}
	return 0;
}

static int ebpf_send_one(struct sg_transport *tp, struct sg_udp_train *t, size_t rank)
{
	const void *h = t->iov[0].iov_base;
	int err;

	sg_wire_train_set_auth(t, sg_wire_token(tp->key, sg_wire_nonce_of(h), sg_wire_coll_id_of(h),
						(uint32_t)rank));
	err = sg_udp_send_train(tp->sock, &tp->workers[rank], t, &tp->sender);
	return err ? sg_fail(err, "sendto worker %zu: %s", rank, strerror(-err)) : 0;
}

static int completed(const struct sg_transport *tp, const struct sg_tp_reduce *r)
{
	return sg_dp_completed(&tp->ifc->dp, sg_dp_slot_key(tp->idx, r->coll_id), r->gen);
}

static int ebpf_wait(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms)
{
	long long deadline = sg_deadline_us(timeout_ms);
	struct pollfd pfd = { .fd = ring_buffer__epoll_fd(tp->rb), .events = POLLIN };

	for (;;) {
		long long left;

		if (completed(tp, r))
			return 0;
		if (timeout_ms == 0)
			return -EAGAIN;
		left = deadline < 0 ? -1 : deadline - sg_now_us();
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		if (tp->busy_poll) {
			/* No system call: the completion word is shared memory. */
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		if (poll(&pfd, 1, left < 0 ? -1 : (int)((left + 999) / 1000)) < 0 && errno != EINTR)
			return sg_fail(-errno, "poll: %s", strerror(errno));
		/* Drain this communicator's wake-ups (its ring holds no other's);
		 * the completion words say who is done. */
		ring_buffer__consume(tp->rb);
	}
}

static int ebpf_report(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		       unsigned int *ndone)
{
	uint32_t key = sg_dp_slot_key(tp->idx, r->coll_id);
	struct sg_slot slot;
	int err = sg_dp_read_slot(&tp->ifc->dp, key, &slot);

	if (err)
		return sg_fail(err, "cannot read slot %u: %s", key, strerror(-err));
	if (slot.gen != r->gen) {
		*ndone = 0;
		memset(done, 0, SG_WORKER_WORDS * sizeof(uint64_t));
		return 0;
	}
	memcpy(done, slot.done, sizeof(slot.done));
	*ndone = slot.ndone;
	return 0;
}

/* A collective that completed takes no more contributions (every admitted
 * worker is done, and no other is admitted): its accumulators are final.
 * One whose deadline passed is retired first (sg_dp_result_partial()). */
static int ebpf_collect(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
			uint64_t *contributors, unsigned int *ncontributors, uint64_t *missing,
			int done)
{
	if (!done) {
		int err = sg_dp_result_partial(&tp->ifc->dp, tp->idx, r, result, contributors,
					       ncontributors, missing);

		return err ? sg_fail(err, "cannot collect collective %u: %s", r->coll_id,
				     strerror(-err)) : 0;
	}
	sg_dp_result_copy(&tp->ifc->dp, r, result);
	memset(missing, 0, SG_MISSING_WORDS * sizeof(uint64_t));
	if (r->target == tp->nworkers) {
		/* Everyone contributed: no need to ask the kernel who. */
		memset(contributors, 0, SG_WORKER_WORDS * sizeof(uint64_t));
		for (size_t i = 0; i < tp->nworkers; i++)
			contributors[i / 64] |= 1ULL << (i % 64);
		*ncontributors = (unsigned int)tp->nworkers;
		return 0;
	}
	return ebpf_report(tp, r, contributors, ncontributors);
}

static int ebpf_fd(struct sg_transport *tp)
{
	return ring_buffer__epoll_fd(tp->rb);
}

static int ebpf_get_stats(struct sg_transport *tp, struct sg_comm_stats *out)
{
	struct sg_stats sum;
	int err = sg_dp_read_stats(&tp->ifc->dp, tp->idx, &sum);

	if (err)
		return sg_fail(err, "cannot read statistics: %s", strerror(-err));
	sg_stats_public(&sum, out);
	return 0;
}

const struct sg_transport_ops sg_transport_ebpf = {
	.name = "ebpf",
	.create = ebpf_create,
	.destroy = ebpf_destroy,
	.arm = ebpf_arm,
	.release = ebpf_release,
	.send_all = ebpf_send_all,
	.send_one = ebpf_send_one,
	.wait = ebpf_wait,
	.collect = ebpf_collect,
	.report = ebpf_report,
	.get_stats = ebpf_get_stats,
	.fd = ebpf_fd,
};
