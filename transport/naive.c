// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The naive transport: what a plain sockets program does. One blocking
 * sendto per worker and chunk, one blocking recvfrom per contribution chunk,
 * reduction in the coordinator (transport/ureduce.c). The baseline every
 * other transport is measured against, and a fallback that needs nothing.
 */
#define _GNU_SOURCE	/* struct mmsghdr (transport/ureduce.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/log.h"
#include "common/udp.h"
#include "transport/ureduce.h"

/* A blocking recvfrom wakes up at least this often to let the collective
 * layer check its deadlines (set once: no setsockopt per wait). */
#define SG_NAIVE_TICK_US 2000
/* Datagrams taken per non-blocking pump, so one call cannot spin forever. */
#define SG_NAIVE_DRAIN 4096

struct sg_transport {
	struct sg_ureduce u;	/* first: the shared ops take the transport */
	uint64_t buf[(SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD + 8) / 8];
};

/* One datagram per blocking call; with @timeout_ms 0 what is queued. */
static int naive_pump(struct sg_transport *tp, int timeout_ms)
{
	for (int i = 0; i < SG_NAIVE_DRAIN; i++) {
		struct sockaddr_in from;
		socklen_t alen = sizeof(from);
		ssize_t n;

		n = recvfrom(tp->u.sock, tp->buf, sizeof(tp->buf), timeout_ms ? 0 : MSG_DONTWAIT,
			     (struct sockaddr *)&from, &alen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				return 0;
			return sg_fail(-errno, "recvfrom: %s", strerror(errno));
		}
		sg_ureduce_input(&tp->u, tp->buf, (size_t)n, &from);
		if (timeout_ms)
			return 0;
	}
	return 0;
}

static int naive_create(const struct sg_transport_config *cfg, struct sg_transport **out)
{
	struct timeval tick = { .tv_usec = SG_NAIVE_TICK_US };
	struct sg_transport *tp;
	int err;

	err = sg_ureduce_new(cfg, sizeof(*tp), naive_pump, &tp);
	if (err)
		return err;
	if (setsockopt(tp->u.sock, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) < 0) {
		err = sg_fail(-errno, "SO_RCVTIMEO: %s", strerror(errno));
		sg_ureduce_free(tp);
		return err;
	}
	*out = tp;
	return 0;
}

static int naive_send_all(struct sg_transport *tp, struct sg_udp_train *t)
{
	/* Plain sockets as a first program writes them: a sendmsg per worker
	 * and datagram, the baseline the batched sends are measured against. */
	for (unsigned int d = 0; d < t->n; d++) {
		struct sg_udp_train one = { .iov = t->iov + 2 * (size_t)d, .n = 1 };

		sg_ureduce_stamp(&tp->u, &one, 0, tp->u.nworkers);
		for (size_t i = 0; i < tp->u.nworkers; i++) {
			int err = sg_udp_sendmsg(tp->u.sock, &tp->u.msgs[i].msg_hdr);

			if (err)
				return sg_fail(err, "sendto worker %zu: %s", i, strerror(-err));
			tp->u.stats.tx_fanout++;
		}
	}
	return 0;
}

static int naive_fd(struct sg_transport *tp)
{
	return tp->u.sock;
}

const struct sg_transport_ops sg_transport_naive = {
	.name = "naive",
	.create = naive_create,
	.destroy = sg_ureduce_free,
	.send_all = naive_send_all,
	.fd = naive_fd,
	SG_UREDUCE_OPS,
};
