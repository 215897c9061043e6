// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Communicator lifecycle and what every collective shares. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sgbpf/siphash.h"
#include "coll/comm.h"
#include "coll/request.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/udp.h"
#include "common/workers_file.h"

uint64_t sg_comm_nonce(struct sg_comm *comm)
{
	/* SipHash of a counter under a secret key: distinct, and no nonce tells
	 * anything of the next (splitmix64 over a seed, used before, gave its
	 * state away with one output). */
	return sg_siphash16(comm->nonce_key[0], comm->nonce_key[1], ++comm->nonce_count, 0);
}

/* The communicator's secrets, from the kernel's random pool: no fallback to
 * anything guessable. */
static int draw_secrets(struct sg_comm *comm)
{
	uint64_t r[4];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom((uint8_t *)r + got, sizeof(r) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sg_fail(n < 0 ? -errno : -EIO, "cannot draw the communicator's secret "
				       "from getrandom(): %s; refusing to use a guessable one",
				       n < 0 ? strerror(errno) : "no bytes");
		got += (size_t)n;
	}
	memcpy(comm->key, r, sizeof(comm->key));
	memcpy(comm->nonce_key, r + 2, sizeof(comm->nonce_key));
	return 0;
}

int sg_comm_send_msg(struct sg_comm *comm, const struct sg_wire_msg *m, const void *payload,
		     long rank)
{
	struct sg_wire_msg um = *m;
	struct sg_udp_train t;

	/* A retransmission: this worker only, past the fan-out program. */
	if (rank >= 0)
		um.flags |= SG_WIRE_F_UNICAST;
	/* As many chunks per datagram as the path to the workers takes. */
	um.span = (uint8_t)sg_wire_span_of_room(sg_wire_room_for_mtu(comm->path_mtu),
						sg_wire_chunk_bytes(um.type, um.dtype));
	/* The whole message in one call: the transport batches its datagrams
	 * (GSO, sendmmsg) instead of a system call per chunk. */
	sg_wire_train(&um, payload, comm->train_hdrs, comm->train_iov, &t);
	if (rank < 0)
		return comm->ops->send_all(comm->tp, &t);
	return comm->ops->send_one(comm->tp, &t, (size_t)rank);
}

/* The MTU of the path to every worker: the option's, else the smallest the
 * routes report (an unroutable worker fails later, with its own message). */
static int find_path_mtu(struct sg_comm *comm, unsigned int opt)
{
	int mtu;

	if (opt) {
		if (opt < 576 || opt > 65535)
			return sg_fail(-EINVAL, "sg_comm_opts: mtu %u is not an IPv4 MTU (576..65535)",
				       opt);
		comm->path_mtu = opt;
		return 0;
	}
	comm->path_mtu = 65535;
	for (size_t i = 0; i < comm->nworkers; i++) {
		mtu = sg_udp_path_mtu(&comm->workers[i], comm->ifname);
		if (mtu > 0 && (unsigned int)mtu < comm->path_mtu)
			comm->path_mtu = (unsigned int)mtu;
	}
	if (comm->path_mtu == 65535)
		comm->path_mtu = 1500;
	return 0;
}

static const struct sg_transport_ops *const transports[SG_TRANSPORT_COUNT] = {
	[SG_TRANSPORT_EBPF] = &sg_transport_ebpf,
	[SG_TRANSPORT_IO_URING] = &sg_transport_io_uring,
	[SG_TRANSPORT_EPOLL] = &sg_transport_epoll,
	[SG_TRANSPORT_NAIVE] = &sg_transport_naive,
};

const char *sg_transport_name(enum sg_transport_kind kind)
{
	if ((unsigned int)kind >= SG_TRANSPORT_COUNT)
		return NULL;
	return kind == SG_TRANSPORT_AUTO ? "auto" : transports[kind]->name;
}

int sg_transport_from_name(const char *name, enum sg_transport_kind *kind)
{
	if (!name || !kind)
		return sg_fail(-EINVAL, "sg_transport_from_name: name and kind must not be NULL");
	for (int k = 0; k < SG_TRANSPORT_COUNT; k++) {
		if (!strcmp(name, sg_transport_name(k))) {
			*kind = k;
			return 0;
		}
	}
	return sg_fail(-EINVAL, "unknown transport '%s' (auto, ebpf, io_uring, epoll, naive)", name);
}

enum sg_transport_kind sg_comm_transport(const sg_comm *comm)
{
	for (int k = SG_TRANSPORT_EBPF; comm && k < SG_TRANSPORT_COUNT; k++)
		if (comm->ops == transports[k])
			return k;
	return SG_TRANSPORT_AUTO;
}

static int try_transport(struct sg_comm *comm, enum sg_transport_kind kind)
{
	if (kind != SG_TRANSPORT_EBPF && (comm->agg_object || comm->pass_responses))
		return sg_fail(-EOPNOTSUPP, "the %s transport reduces in user space: it runs no "
			       "aggregation program (agg_object) and passes no responses on "
			       "(pass_responses); use the ebpf transport", transports[kind]->name);
	struct sg_transport_config cfg = {
		.ifindex = comm->ifindex,
		.local = comm->local,
		.workers = comm->workers,
		.nworkers = comm->nworkers,
		.sock = comm->sock,
		.busy_poll = comm->busy_poll,
		.pass_responses = comm->pass_responses,
		.agg_object = comm->agg_object,
		.agg_program = comm->agg_program,
		.key = { comm->key[0], comm->key[1] },
		.max_dgram = SG_WIRE_HDR_LEN +
			     sg_wire_room_for_mtu(comm->path_mtu) * SG_WIRE_ROOM_UNIT,
	};

	memcpy(cfg.ifname, comm->ifname, sizeof(cfg.ifname));
	comm->ops = transports[kind];
	return comm->ops->create(&cfg, &comm->tp);
}

/* Whether AUTO tries the next transport after @err. Not after failures the
 * next one would meet too (memory, a port in use, an unreachable worker), nor
 * after the interface's limit of communicators: that is a limit to know
 * about, not a missing feature to work around. */
static bool falls_back(int err)
{
	return err != -ENOMEM && err != -EADDRINUSE && err != -EHOSTUNREACH && err != -ENOSPC;
}

/* The transport asked for, or for SG_TRANSPORT_AUTO: $SG_TRANSPORT, else the
 * first of ebpf, io_uring, epoll that can be set up, saying why the others
 * could not. Failures that another transport would meet too end the search. */
static int create_transport(struct sg_comm *comm, enum sg_transport_kind kind)
{
	static const enum sg_transport_kind order[] = { SG_TRANSPORT_EBPF, SG_TRANSPORT_IO_URING,
							SG_TRANSPORT_EPOLL };
	const char *env = getenv("SG_TRANSPORT");
	int err = 0;

	if ((unsigned int)kind >= SG_TRANSPORT_COUNT)
		return sg_fail(-EINVAL, "sg_comm_opts: unknown transport %d", (int)kind);
	if (kind == SG_TRANSPORT_AUTO && env && *env) {
		err = sg_transport_from_name(env, &kind);
		if (err)
			return sg_fail(err, "SG_TRANSPORT: %s", sg_errmsg());
	}
	if (kind != SG_TRANSPORT_AUTO)
		return try_transport(comm, kind);
	/* Aggregation programs and passed-on responses exist only in XDP:
	 * no user-space transport can stand in. */
	if (comm->agg_object || comm->pass_responses)
		return try_transport(comm, SG_TRANSPORT_EBPF);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		bool last = i + 1 == sizeof(order) / sizeof(order[0]);
		char why[256];

		/* Only the last attempt speaks at its own level; the others
		 * are summed up in one warning. */
		sg_log_demote(!last);
		err = try_transport(comm, order[i]);
		sg_log_demote(false);
		if (!err)
			return 0;
		comm->ops = NULL;
		comm->tp = NULL;
		if (last)
			return err;
		if (!falls_back(err)) {
			/* The search ends here: this failure is the answer, and
			 * was only logged at SG_LOG_DEBUG with the attempt. */
			sg_log(SG_LOG_ERROR, "%s", sg_errmsg());
			return err;
		}
		snprintf(why, sizeof(why), "%s", sg_errmsg());
		sg_log(SG_LOG_WARN, "%s transport unavailable (%s); falling back to %s",
		       transports[order[i]]->name, why, transports[order[i + 1]]->name);
	}
	return err;
}

static int load_workers(struct sg_comm *comm, const struct sg_comm_opts *opts)
{
	if (!!opts->workers == !!opts->workers_file)
		return sg_fail(-EINVAL, "give exactly one of workers and workers_file");
	if (opts->workers_file)
		return sg_workers_file_read(opts->workers_file, &comm->workers, &comm->nworkers);
	if (opts->nworkers > SG_MAX_WORKERS_PER_COMM)
		return sg_fail(-E2BIG, "%zu workers, at most %u", opts->nworkers,
			       SG_MAX_WORKERS_PER_COMM);
	int err = sg_workers_validate(opts->workers, opts->nworkers, "workers");

	if (err)
		return err;
	comm->workers = malloc(opts->nworkers * sizeof(*comm->workers));
	if (!comm->workers)
		return sg_fail(-ENOMEM, "out of memory");
	memcpy(comm->workers, opts->workers, opts->nworkers * sizeof(*comm->workers));
	comm->nworkers = opts->nworkers;
	return 0;
}

int sg_comm_create(const struct sg_comm_opts *uopts, sg_comm **out)
{
	/* The caller's struct may be shorter (an older header): its fields,
	 * and zeros for the ones it does not have. */
	struct sg_comm_opts copy = { 0 }, *opts = &copy;
	struct sg_comm *comm;
	int err;

	if (!uopts || !out)
		return sg_fail(-EINVAL, "sg_comm_create: opts and comm must not be NULL");
	err = SG_OPTS_CHECK(sg_comm_opts, uopts);
	if (err)
		return err;
	memcpy(&copy, uopts, uopts->sz < sizeof(copy) ? uopts->sz : sizeof(copy));
	if (!opts->ifname || !*opts->ifname)
		return sg_fail(-EINVAL, "sg_comm_opts: ifname is required");
	if (strlen(opts->ifname) >= IF_NAMESIZE)
		return sg_fail(-EINVAL, "sg_comm_opts: ifname '%s' is too long", opts->ifname);
	if (!opts->local_port)
		return sg_fail(-EINVAL, "sg_comm_opts: local_port is required");
	if (!!opts->agg_object != !!opts->agg_program)
		return sg_fail(-EINVAL, "sg_comm_opts: agg_object and agg_program go together");

	comm = calloc(1, sizeof(*comm));
	if (!comm)
		return sg_fail(-ENOMEM, "out of memory");
	comm->sock = -1;
	strcpy(comm->ifname, opts->ifname);
	comm->ifindex = (int)if_nametoindex(opts->ifname);
	if (!comm->ifindex) {
		err = sg_fail(-ENODEV, "no interface named '%s'", opts->ifname);
		goto fail;
	}
	comm->local.sin_family = AF_INET;
	comm->local.sin_port = htons(opts->local_port);
	if (opts->local_addr) {
		if (inet_pton(AF_INET, opts->local_addr, &comm->local.sin_addr) != 1) {
			err = sg_fail(-EINVAL, "sg_comm_opts: local_addr '%s' is not an IPv4 address",
				      opts->local_addr);
			goto fail;
		}
	} else if (sg_if_ipv4(opts->ifname, &comm->local.sin_addr) < 0) {
		err = sg_fail(-EADDRNOTAVAIL, "interface %s has no IPv4 address", opts->ifname);
		goto fail;
	}
	err = load_workers(comm, opts);
	if (err)
		goto fail;
	err = find_path_mtu(comm, opts->mtu);
	if (err)
		goto fail;
	comm->busy_poll = opts->busy_poll;
	comm->pass_responses = opts->pass_responses;
	comm->incast_bytes = opts->incast_bytes ? opts->incast_bytes : SG_SEG_INCAST_BYTES;
	comm->next_coll_id = 1;
	if (opts->agg_object) {
		comm->agg_object = strdup(opts->agg_object);
		comm->agg_program = strdup(opts->agg_program);
		if (!comm->agg_object || !comm->agg_program) {
			err = sg_fail(-ENOMEM, "out of memory");
			goto fail;
		}
	}
	err = draw_secrets(comm);
	if (err)
		goto fail;

	err = sg_udp_socket(&comm->local, comm->ifname);
	if (err < 0)
		goto fail;
	comm->sock = err;
	err = create_transport(comm, opts->transport);
	if (err)
		goto fail;
	sg_log(SG_LOG_INFO, "communicator on %s port %u with %zu workers (%s transport)",
	       comm->ifname, opts->local_port, comm->nworkers, comm->ops->name);
	*out = comm;
	return 0;
fail:
	if (comm->sock >= 0)
		close(comm->sock);
	free(comm->agg_object);
	free(comm->agg_program);
	free(comm->workers);
	free(comm);
	return err;
}

void sg_comm_destroy(sg_comm *comm)
{
	if (!comm)
		return;
	if (comm->tp)
		comm->ops->destroy(comm->tp);
	close(comm->sock);
	free(comm->agg_object);
	free(comm->agg_program);
	free(comm->workers);
	explicit_bzero(comm, sizeof(*comm));	/* the secrets */
	free(comm);
}

size_t sg_comm_size(const sg_comm *comm)
{
	return comm ? comm->nworkers : 0;
}

int sg_comm_worker(const sg_comm *comm, size_t rank, struct sockaddr_in *addr)
{
	if (!comm || !addr)
		return sg_fail(-EINVAL, "sg_comm_worker: comm and addr must not be NULL");
	if (rank >= comm->nworkers)
		return sg_fail(-EINVAL, "rank %zu out of range (size %zu)", rank, comm->nworkers);
	*addr = comm->workers[rank];
	return 0;
}

int sg_comm_fd(const sg_comm *comm)
{
	if (!comm)
		return sg_fail(-EINVAL, "comm must not be NULL");
	return comm->ops->fd(comm->tp);
}

int sg_comm_get_stats(const sg_comm *comm, struct sg_comm_stats *stats)
{
	int err;

	if (!comm || !stats)
		return sg_fail(-EINVAL, "sg_comm_get_stats: comm and stats must not be NULL");
	err = comm->ops->get_stats(comm->tp, stats);
	stats->retransmits = comm->retransmits;
	return err;
}
