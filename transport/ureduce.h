/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The reduction of the user-space transports: what the XDP gather program
 * does in the kernel, done in the coordinator process on the datagrams a
 * transport received. Same checks in the same order, same counters, same
 * completion policy, and the same fold code (bpf/fold.bpf.h, compiled for
 * the host), so every transport returns bit-identical results.
 *
 * A transport embeds a struct sg_ureduce, implements how datagrams are sent
 * and received, and forwards the rest of its ops table here.
 */
#ifndef SG_UREDUCE_H
#define SG_UREDUCE_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/maps.h"
#include "transport/transport.h"

struct sg_ureduce_slot;
struct sg_ureduce_worker;
struct sg_ureduce_tx;

/* Receive for up to @timeout_ms (0: only what is already queued; negative:
 * until something arrives) and feed every datagram to sg_ureduce_input().
 * Returns 0, or a negative errno from the system. */
typedef int (*sg_ureduce_pump_fn)(struct sg_transport *tp, int timeout_ms);

/* The first member of the struct sg_transport of every user-space transport,
 * so the ops below can take the transport itself. */
struct sg_ureduce {
	int sock;				/* the communicator's socket */
	int busy_poll;
	sg_ureduce_pump_fn pump;
	size_t nworkers;
	struct sockaddr_in *workers;		/* by rank */
	__u64 key[2];			/* the authenticators' secret */
	struct sg_udp_sender sender;	/* what the sends cost */
	struct sg_ureduce_tx *tx;		/* by rank: a header of its own */
	struct mmsghdr *msgs;			/* by rank: what sends it (sg_ureduce_stamp());
						 * needs _GNU_SOURCE */
	struct sg_ureduce_worker *by_addr;	/* workers sorted by address */
	struct sg_ureduce_slot *slots;		/* SG_SLOTS */
	uint64_t gen;
	struct sg_stats stats;			/* the kernel's counters */
};

/* A zeroed transport of @size bytes, which starts with its struct
 * sg_ureduce, set up for @cfg (whose socket gets a receive buffer for a
 * burst of contributions) with @pump. 0 or -errno. */
int sg_ureduce_new(const struct sg_transport_config *cfg, size_t size, sg_ureduce_pump_fn pump,
		   struct sg_transport **out);
/* Free what sg_ureduce_new() made, after the transport freed its own
 * (NULL allowed). */
void sg_ureduce_free(struct sg_transport *tp);

/* Make u->msgs[first .. first + n) send the one datagram of train @t to
 * their workers, each with a copy of its header carrying that worker's
 * authenticator and the payload shared in place: the payload must stay put
 * until they are sent. For the transports' sends of one datagram to many
 * workers in one batch. */
void sg_ureduce_stamp(struct sg_ureduce *u, const struct sg_udp_train *t, size_t first, size_t n);

/* Send train @t to worker @rank, its headers stamped with that worker's
 * authenticator, in as few system calls as the kernel allows
 * (sg_udp_send_train()). 0 or -errno with a message. */
int sg_ureduce_send_train(struct sg_ureduce *u, struct sg_udp_train *t, size_t rank);
/* The same to every worker in turn: how the user-space transports send a
 * message of several datagrams (a system call per worker and GSO send
 * rather than per worker and datagram). */
int sg_ureduce_send_each(struct sg_ureduce *u, struct sg_udp_train *t);

/* A datagram of @len bytes from @from: validated, folded or dropped and
 * counted, like the XDP program does it. */
void sg_ureduce_input(struct sg_ureduce *u, const void *buf, size_t len,
		      const struct sockaddr_in *from);

/* The ops that are the same for every user-space transport; wait pumps
 * until the collective completes (busy-polling communicators pump without
 * sleeping). */
int sg_ureduce_arm(struct sg_transport *tp, struct sg_tp_reduce *r);
void sg_ureduce_release(struct sg_transport *tp, struct sg_tp_reduce *r);
int sg_ureduce_wait(struct sg_transport *tp, const struct sg_tp_reduce *r, int timeout_ms);
int sg_ureduce_collect(struct sg_transport *tp, const struct sg_tp_reduce *r, void *result,
		       uint64_t *contributors, unsigned int *ncontributors, uint64_t *missing,
		       int completed);
int sg_ureduce_report(struct sg_transport *tp, const struct sg_tp_reduce *r, uint64_t *done,
		      unsigned int *ndone);
int sg_ureduce_get_stats(struct sg_transport *tp, struct sg_comm_stats *stats);
int sg_ureduce_send_one(struct sg_transport *tp, struct sg_udp_train *t, size_t rank);

#define SG_UREDUCE_OPS							\
	.arm = sg_ureduce_arm,						\
	.release = sg_ureduce_release,					\
	.wait = sg_ureduce_wait,					\
	.collect = sg_ureduce_collect,					\
	.report = sg_ureduce_report,					\
	.get_stats = sg_ureduce_get_stats,				\
	.send_one = sg_ureduce_send_one

#endif
