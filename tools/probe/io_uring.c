// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf-probe's check of the io_uring fallback: the ring setup, provided
 * buffer rings and multishot recvmsg that transport/io_uring.c needs, the
 * last one tried for real on the loopback.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include "tools/probe/probe.h"

#define URING_NBUFS 8
#define URING_BUFSZ 256
#define URING_BGID 1

bool uring_ok;

/* Multishot recvmsg into provided buffers, for real: two datagrams to
 * ourselves on the loopback must come back as two completions. */
static int uring_multishot(struct io_uring *ring, struct io_uring_buf_ring *br, char *why,
			   size_t whylen)
{
	static char bufs[URING_NBUFS][URING_BUFSZ];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct msghdr mh = { .msg_namelen = sizeof(struct sockaddr_in) };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	socklen_t alen = sizeof(a);
	int sock, err = 0;

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(sock, (struct sockaddr *)&a, &alen)) {
		err = -errno;
		snprintf(why, whylen, "no UDP socket on the loopback: %s", strerror(errno));
		goto out;
	}
	io_uring_buf_ring_init(br);
	for (int i = 0; i < URING_NBUFS; i++)
		io_uring_buf_ring_add(br, bufs[i], URING_BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(URING_NBUFS), i);
	io_uring_buf_ring_advance(br, URING_NBUFS);
	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		err = -EBUSY;
		snprintf(why, whylen, "no free submission entry");
		goto out;
	}
	io_uring_prep_recvmsg_multishot(sqe, sock, &mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	err = io_uring_submit(ring);
	if (err < 0) {
		snprintf(why, whylen, "io_uring_submit: %s", strerror(-err));
		goto out;
	}
	err = 0;
	for (int i = 0; i < 2; i++) {
		if (sendto(sock, "sgbpf", 5, 0, (struct sockaddr *)&a, sizeof(a)) < 0) {
			err = -errno;
			snprintf(why, whylen, "sendto the loopback: %s", strerror(errno));
			goto out;
		}
	}
	for (int i = 0; i < 2; i++) {
		err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (err) {
			snprintf(why, whylen, "no completion: %s", strerror(-err));
			goto out;
		}
		if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_MORE)) {
			err = cqe->res < 0 ? cqe->res : -EOPNOTSUPP;
			snprintf(why, whylen, "%s", cqe->res < 0 ? strerror(-cqe->res) :
				 "the receive ended after one datagram");
			io_uring_cqe_seen(ring, cqe);
			goto out;
		}
		io_uring_cqe_seen(ring, cqe);
	}
	snprintf(why, whylen, "two datagrams, two completions from one request");
out:
	if (sock >= 0)
		close(sock);
	return err;
}

void check_io_uring(void)
{
	struct io_uring_params p = {
		/* The flags transport/io_uring.c asks for first. */
		.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
			 IORING_SETUP_TASKRUN_FLAG,
	};
	struct io_uring_buf_reg reg = { .ring_entries = URING_NBUFS, .bgid = URING_BGID };
	struct io_uring_probe *probe;
	struct io_uring_buf_ring *br = MAP_FAILED;
	size_t br_len = (size_t)sysconf(_SC_PAGESIZE);
	struct io_uring ring;
	const char *G = "io_uring fallback";
	long dis = 0;
	char why[200], dis_txt[64] = "sysctl absent, kernel < 6.6";
	bool setup_ok = false, pbuf_ok = false, ms_ok = false;
	struct check *c;
	int err;

	if (!read_sysctl("/proc/sys/kernel/io_uring_disabled", &dis))
		snprintf(dis_txt, sizeof(dis_txt), "kernel.io_uring_disabled=%ld", dis);
	err = io_uring_queue_init_params(8, &ring, &p);
	if (err == -EINVAL) {
		/* Kernels before 5.19 lack cooperative task running. */
		p = (struct io_uring_params){};
		err = io_uring_queue_init_params(8, &ring, &p);
	}
	if (err) {
		c = add(G, "io_uring_setup", false, ST_MISSING, "%s (%s)", strerror(-err), dis_txt);
		if (err == -ENOSYS)
			set_fix(c, "kernel lacks CONFIG_IO_URING (or a seccomp filter blocks it, as "
				"container runtimes do): the library falls back to epoll");
		else if (err == -EPERM && dis == 1)
			set_fix(c, "add the user to the group in kernel.io_uring_group, or "
				"sysctl -w kernel.io_uring_disabled=0");
		else if (err == -EPERM)
			set_fix(c, "sysctl -w kernel.io_uring_disabled=0 (or a seccomp filter "
				"blocks io_uring)");
		else if (err == -ENOMEM)
			set_fix(c, "raise RLIMIT_MEMLOCK (kernels < 5.12 charge rings to it)");
		add(G, "io_uring provided buffer ring", false, ST_NA, "no ring");
		add(G, "io_uring multishot recvmsg", false, ST_NA, "no ring");
		return;
	}
	setup_ok = true;
	add(G, "io_uring_setup", false, ST_OK, "works (%s)", dis_txt);

	br = mmap(NULL, br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED) {
		err = -errno;
	} else {
		reg.ring_addr = (unsigned long)br;
		err = io_uring_register_buf_ring(&ring, &reg, 0);
	}
	if (err) {
		c = add(G, "io_uring provided buffer ring", false, ST_MISSING,
			"IORING_REGISTER_PBUF_RING: %s", strerror(-err));
		set_fix(c, "kernel < 5.19: the library falls back to epoll");
		add(G, "io_uring multishot recvmsg", false, ST_NA, "no buffer ring");
		goto out;
	}
	pbuf_ok = true;
	add(G, "io_uring provided buffer ring", false, ST_OK, "IORING_REGISTER_PBUF_RING works");

	probe = io_uring_get_probe_ring(&ring);
	if (probe && (!io_uring_opcode_supported(probe, IORING_OP_RECVMSG) ||
		      !io_uring_opcode_supported(probe, IORING_OP_SENDMSG))) {
		c = add(G, "io_uring multishot recvmsg", false, ST_MISSING,
			"opcodes RECVMSG/SENDMSG not supported");
		set_fix(c, "use a kernel >= 6.0");
	} else {
		err = uring_multishot(&ring, br, why, sizeof(why));
		if (!err) {
			ms_ok = true;
			add(G, "io_uring multishot recvmsg", false, ST_OK, "%s", why);
		} else if (err == -EINVAL || err == -EOPNOTSUPP) {
			c = add(G, "io_uring multishot recvmsg", false, ST_MISSING, "%s", why);
			set_fix(c, "kernel < 6.0 has no multishot recvmsg: use a newer kernel, or "
				"SG_TRANSPORT=epoll");
		} else {
			add(G, "io_uring multishot recvmsg", false, ST_NA, "not tested: %s", why);
			ms_ok = true;	/* not disproved; the opcode probe passed */
		}
	}
	io_uring_free_probe(probe);
out:
	io_uring_queue_exit(&ring);
	if (br != MAP_FAILED)
		munmap(br, br_len);
	uring_ok = setup_ok && pbuf_ok && ms_ok;
}
