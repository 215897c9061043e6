// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The epoll transport: the best a classic event loop does. The fan-out is
 * one sendmmsg per 1024 workers and chunk; the coordinator sleeps in
 * epoll_wait and takes the contributions in batches with recvmmsg; the
 * reduction is in the coordinator (transport/ureduce.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/ureduce.h"

#define SG_EPOLL_SEND_BATCH 1024	/* UIO_MAXIOV: the most one sendmmsg takes */
#define SG_EPOLL_RECV_BATCH 64
/* Batches taken per pump, so one call cannot spin forever under load. */
#define SG_EPOLL_DRAIN 64
#define SG_EPOLL_BUF (SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD + 8)

struct sg_transport {
	struct sg_ureduce u;	/* first: the shared ops take the transport */
	int epfd;
	struct mmsghdr recv[SG_EPOLL_RECV_BATCH];
	struct iovec recv_iov[SG_EPOLL_RECV_BATCH];
	struct sockaddr_in from[SG_EPOLL_RECV_BATCH];
	uint64_t bufs[SG_EPOLL_RECV_BATCH][SG_EPOLL_BUF / 8];
};

/* Take what is queued, a batch per recvmmsg; first wait up to @timeout_ms
 * for something to arrive. */
static int epoll_pump(struct sg_transport *tp, int timeout_ms)
{
	struct epoll_event ev;

	if (timeout_ms) {
		int n = epoll_wait(tp->epfd, &ev, 1, timeout_ms);

		if (n < 0 && errno != EINTR)
			return sg_fail(-errno, "epoll_wait: %s", strerror(errno));
		if (n <= 0)
			return 0;
	}
	for (int round = 0; round < SG_EPOLL_DRAIN; round++) {
		int n;

		for (int i = 0; i < SG_EPOLL_RECV_BATCH; i++)
			tp->recv[i].msg_hdr.msg_namelen = sizeof(tp->from[i]);
		n = recvmmsg(tp->u.sock, tp->recv, SG_EPOLL_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				return 0;
			return sg_fail(-errno, "recvmmsg: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++)
			sg_ureduce_input(&tp->u, tp->bufs[i], tp->recv[i].msg_len, &tp->from[i]);
		if (n < SG_EPOLL_RECV_BATCH)
			return 0;
	}
	return 0;
}

static void epoll_destroy(struct sg_transport *tp)
{
	if (!tp)
		return;
	if (tp->epfd >= 0)
		close(tp->epfd);
	sg_ureduce_free(tp);
}

static int epoll_create_tp(const struct sg_transport_config *cfg, struct sg_transport **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sg_transport *tp;
	int err;

	err = sg_ureduce_new(cfg, sizeof(*tp), epoll_pump, &tp);
	if (err)
		return err;
	tp->epfd = -1;
	for (int i = 0; i < SG_EPOLL_RECV_BATCH; i++) {
		tp->recv_iov[i] = (struct iovec){ .iov_base = tp->bufs[i], .iov_len = SG_EPOLL_BUF };
		tp->recv[i].msg_hdr = (struct msghdr){
			.msg_name = &tp->from[i],
			.msg_iov = &tp->recv_iov[i],
			.msg_iovlen = 1,
		};
	}
	tp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (tp->epfd < 0 || epoll_ctl(tp->epfd, EPOLL_CTL_ADD, tp->u.sock, &ev) < 0) {
		err = sg_fail(-errno, "epoll: %s", strerror(errno));
		goto fail;
	}
	*out = tp;
	return 0;
fail:
	epoll_destroy(tp);
	return err;
}

static int epoll_send_all(struct sg_transport *tp, struct sg_udp_train *t)
{
	size_t n = tp->u.nworkers, sent = 0;

	if (t->n > 1)
		return sg_ureduce_send_each(&tp->u, t);
	sg_ureduce_stamp(&tp->u, t, 0, n);
	while (sent < n) {
		unsigned int batch = n - sent < SG_EPOLL_SEND_BATCH ? (unsigned int)(n - sent) :
								       SG_EPOLL_SEND_BATCH;
		int k = sendmmsg(tp->u.sock, tp->u.msgs + sent, batch, 0);

		if (k < 0) {
			if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
				continue;
			return sg_fail(-errno, "sendmmsg to worker %zu: %s", sent, strerror(errno));
		}
		sent += (size_t)k;
		tp->u.stats.tx_fanout += (uint64_t)k;
	}
	return 0;
}

static int epoll_fd(struct sg_transport *tp)
{
	return tp->epfd;
}

const struct sg_transport_ops sg_transport_epoll = {
	.name = "epoll",
	.create = epoll_create_tp,
	.destroy = epoll_destroy,
	.send_all = epoll_send_all,
	.fd = epoll_fd,
	SG_UREDUCE_OPS,
};
