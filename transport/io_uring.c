// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The io_uring transport: the strongest user-space design on liburing 2.3.
 *  - fan-out: one SENDMSG entry per worker, all submitted with one system
 *    call per chunk (UDP sends complete inline, so the same call reaps them);
 *  - gather: one multishot RECVMSG keeps receiving into a ring of provided
 *    buffers (set up by hand: liburing 2.3 has no io_uring_setup_buf_ring);
 *    each completion carries the datagram and its source, and the buffer
 *    goes straight back to the ring;
 *  - cooperative task running with the TASKRUN flag, so completions are
 *    reaped from shared memory and the kernel is entered only when it has
 *    work for us or we have nothing to do but sleep.
 * The reduction is in the coordinator (transport/ureduce.c).
 */
#define _GNU_SOURCE	/* struct mmsghdr (transport/ureduce.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <liburing.h>

#include "common/log.h"
#include "transport/ureduce.h"

#define SG_URING_SQ	1024
#define SG_URING_CQ	16384
#define SG_URING_BGID	0x5347
/* Receive buffers: 4096 of 2 KiB at MTU 1500, or as many of the path's
 * larger size as fit the same 8 MiB (a power of two, 1024 at least: a
 * ring). */
#define SG_URING_BUF_BYTES (8u << 20)
#define SG_URING_NBUFS_MAX 4096u
#define SG_URING_NBUFS_MIN 1024u
/* recvmsg_out + name + one datagram of the path's (sg_transport_config's
 * max_dgram): 2 KiB at MTU 1500, 12 KiB on jumbo links. */
#define SG_URING_BUF_EXTRA 64
#define SG_URING_RECV	(1ULL << 63)	/* user_data of the multishot receive */
#define SG_URING_SEND	(1ULL << 62)	/* | worker index */

struct sg_transport {
	struct sg_ureduce u;	/* first: the shared ops take the transport */
	int ring_ready;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint8_t *bufs;
	size_t bufsz;
	unsigned int nbufs;
	int br_registered;
	struct msghdr recv_msg;		/* multishot template: name length only */
	int recv_armed;
	int error;			/* first failed completion since the last check */
	unsigned int sends_pending;
};

static struct io_uring_sqe *get_sqe(struct sg_transport *tp)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&tp->ring);

	if (!sqe) {
		/* Full: hand what is queued to the kernel and take a new one. */
		io_uring_submit(&tp->ring);
		sqe = io_uring_get_sqe(&tp->ring);
	}
	return sqe;
}

static int arm_recv(struct sg_transport *tp)
{
	struct io_uring_sqe *sqe = get_sqe(tp);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, tp->u.sock, &tp->recv_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SG_URING_BGID;
	io_uring_sqe_set_data64(sqe, SG_URING_RECV);
	tp->recv_armed = 1;
	return 0;
}

static int queue_send(struct sg_transport *tp, size_t worker)
{
	struct io_uring_sqe *sqe = get_sqe(tp);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_sendmsg(sqe, tp->u.sock, &tp->u.msgs[worker].msg_hdr, 0);
	io_uring_sqe_set_data64(sqe, SG_URING_SEND | worker);
	tp->sends_pending++;
	return 0;
}

static void on_recv(struct sg_transport *tp, const struct io_uring_cqe *cqe, unsigned int *nbufs)
{
	unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = tp->bufs + (size_t)bid * tp->bufsz;
	struct io_uring_recvmsg_out *o;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		tp->recv_armed = 0;	/* ended (e.g. out of buffers): re-armed below */
	if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
		if (cqe->res < 0 && cqe->res != -ENOBUFS && !tp->error)
			tp->error = cqe->res;
		return;
	}
	o = io_uring_recvmsg_validate(buf, cqe->res, &tp->recv_msg);
	if (o && !(o->flags & MSG_TRUNC) && o->namelen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in from;

		memcpy(&from, io_uring_recvmsg_name(o), sizeof(from));
		sg_ureduce_input(&tp->u, io_uring_recvmsg_payload(o, &tp->recv_msg),
				 io_uring_recvmsg_payload_length(o, cqe->res, &tp->recv_msg), &from);
	} else {
		tp->u.stats.rx_malformed++;	/* longer than any sgbpf datagram */
	}
	io_uring_buf_ring_add(tp->br, buf, (unsigned int)tp->bufsz, (unsigned short)bid,
			      io_uring_buf_ring_mask(tp->nbufs), (int)(*nbufs)++);
}

static void on_send(struct sg_transport *tp, const struct io_uring_cqe *cqe)
{
	size_t worker = cqe->user_data & ~SG_URING_SEND;

	tp->sends_pending--;
	if (cqe->res >= 0) {
		tp->u.stats.tx_fanout++;
		return;
	}
	/* A full device queue is worth another try; anything else is not. */
	if ((cqe->res == -ENOBUFS || cqe->res == -EAGAIN || cqe->res == -EINTR) &&
	    !queue_send(tp, worker))
		return;
	if (!tp->error)
		tp->error = cqe->res;
}

/* Handle every completion in the ring: no system call. Returns how many. */
static unsigned int reap(struct sg_transport *tp)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0, nbufs = 0;

	io_uring_for_each_cqe(&tp->ring, head, cqe) {
		n++;
		if (cqe->user_data == SG_URING_RECV)
			on_recv(tp, cqe, &nbufs);
		else if (cqe->user_data & SG_URING_SEND)
			on_send(tp, cqe);
	}
	if (nbufs)
		io_uring_buf_ring_advance(tp->br, (int)nbufs);
	io_uring_cq_advance(&tp->ring, n);
	if (!tp->recv_armed)
		arm_recv(tp);
	return n;
}

static int take_error(struct sg_transport *tp, const char *what)
{
	int err = tp->error;

	tp->error = 0;
	return err ? sg_fail(err, "io_uring %s: %s", what, strerror(-err)) : 0;
}

static int uring_pump(struct sg_transport *tp, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	int err;

	/* Enter the kernel only if it has work for us (a receive to arm, or
	 * task work that posts completions), then take what is there. */
	if (io_uring_sq_ready(&tp->ring) ||
	    (IO_URING_READ_ONCE(*tp->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
		err = io_uring_submit_and_get_events(&tp->ring);
		if (err < 0 && err != -EINTR)
			return sg_fail(err, "io_uring_enter: %s", strerror(-err));
	}
	if (!reap(tp) && timeout_ms) {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ms / 1000,
			.tv_nsec = (timeout_ms % 1000) * 1000000LL,
		};

		err = io_uring_submit_and_wait_timeout(&tp->ring, &cqe, 1,
						       timeout_ms > 0 ? &ts : NULL, NULL);
		if (err < 0 && err != -ETIME && err != -EINTR)
			return sg_fail(err, "io_uring wait: %s", strerror(-err));
		reap(tp);
	}
	return take_error(tp, "receive");
}

static int uring_send_all(struct sg_transport *tp, struct sg_udp_train *t)
{
	size_t n = tp->u.nworkers;
	int err;

	/* A message of several datagrams goes as GSO sends, one system call
	 * per worker, which the ring would only wrap. */
	if (t->n > 1)
		return sg_ureduce_send_each(&tp->u, t);
	/* The entries point at the payload: it stays put until they have all
	 * completed, below. */
	sg_ureduce_stamp(&tp->u, t, 0, n);
	for (size_t i = 0; i < n; i++) {
		err = queue_send(tp, i);
		if (err)
			return sg_fail(err, "io_uring: no submission entry");
	}
	while (tp->sends_pending) {
		err = io_uring_submit_and_wait(&tp->ring, 1);
		if (err < 0 && err != -EINTR)
			return sg_fail(err, "io_uring submit: %s", strerror(-err));
		reap(tp);
	}
	return take_error(tp, "send");
}

static void uring_destroy(struct sg_transport *tp)
{
	if (!tp)
		return;
	/* Closing the ring cancels the multishot receive before the buffers go. */
	if (tp->ring_ready)
		io_uring_queue_exit(&tp->ring);
	if (tp->br)
		munmap(tp->br, tp->br_len);
	free(tp->bufs);
	sg_ureduce_free(tp);
}

static int setup_ring(struct sg_transport *tp)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
			 IORING_SETUP_TASKRUN_FLAG,
		.cq_entries = SG_URING_CQ,
	};
	struct io_uring_buf_reg reg = { .ring_entries = tp->nbufs, .bgid = SG_URING_BGID };
	int err;

	err = io_uring_queue_init_params(SG_URING_SQ, &tp->ring, &p);
	if (err == -EINVAL) {
		/* Kernels before 5.19 lack cooperative task running. */
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
					      .cq_entries = SG_URING_CQ };
		err = io_uring_queue_init_params(SG_URING_SQ, &tp->ring, &p);
	}
	if (err)
		return sg_fail(err, "io_uring_queue_init: %s%s", strerror(-err),
			       err == -EPERM ? " (io_uring disabled: see kernel.io_uring_disabled)" : "");
	tp->ring_ready = 1;

	tp->br_len = tp->nbufs * sizeof(struct io_uring_buf);
	tp->br = mmap(NULL, tp->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tp->bufs = aligned_alloc(4096, (size_t)tp->nbufs * tp->bufsz);
	if (tp->br == MAP_FAILED || !tp->bufs) {
		tp->br = tp->br == MAP_FAILED ? NULL : tp->br;
		return sg_fail(-ENOMEM, "no memory for the io_uring receive buffers");
	}
	reg.ring_addr = (unsigned long)tp->br;
	err = io_uring_register_buf_ring(&tp->ring, &reg, 0);
	if (err)
		return sg_fail(err, "io_uring: cannot register the buffer ring: %s (kernel >= 5.19 "
			       "needed)", strerror(-err));
	io_uring_buf_ring_init(tp->br);
	for (unsigned int i = 0; i < tp->nbufs; i++)
		io_uring_buf_ring_add(tp->br, tp->bufs + (size_t)i * tp->bufsz, (unsigned int)tp->bufsz,
				      (unsigned short)i, io_uring_buf_ring_mask(tp->nbufs),
				      (int)i);
	io_uring_buf_ring_advance(tp->br, (int)tp->nbufs);

	tp->recv_msg.msg_namelen = sizeof(struct sockaddr_in);
	err = arm_recv(tp);
	if (!err)
		err = io_uring_submit(&tp->ring);
	if (err < 0)
		return sg_fail(err, "io_uring: cannot start receiving: %s", strerror(-err));
	return 0;
}

static int uring_create(const struct sg_transport_config *cfg, struct sg_transport **out)
{
	struct sg_transport *tp;
	int err;

	err = sg_ureduce_new(cfg, sizeof(*tp), uring_pump, &tp);
	if (err)
		return err;
	tp->bufsz = (SG_URING_BUF_EXTRA + cfg->max_dgram + 1023) / 1024 * 1024;
	tp->nbufs = SG_URING_NBUFS_MAX;
	while (tp->nbufs > SG_URING_NBUFS_MIN && tp->nbufs * tp->bufsz > SG_URING_BUF_BYTES)
		tp->nbufs /= 2;
	err = setup_ring(tp);
	if (err)
		goto fail;
	*out = tp;
	return 0;
fail:
	uring_destroy(tp);
	return err;
}

static int uring_fd(struct sg_transport *tp)
{
	return tp->ring.ring_fd;
}

const struct sg_transport_ops sg_transport_io_uring = {
	.name = "io_uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.send_all = uring_send_all,
	.fd = uring_fd,
	SG_UREDUCE_OPS,
};
