// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/udp.h"

int sg_udp_socket(const struct sockaddr_in *local, const char *ifname)
{
	char addr[INET_ADDRSTRLEN];
	int fd, err;

	inet_ntop(AF_INET, &local->sin_addr, addr, sizeof(addr));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sg_fail(-errno, "socket: %s", strerror(errno));
	if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname)) < 0) {
		err = -errno;
		close(fd);
		return sg_fail(err, "cannot bind socket to interface %s: %s", ifname,
			       strerror(-err));
	}
	if (bind(fd, (const struct sockaddr *)local, sizeof(*local)) < 0) {
		err = -errno;
		close(fd);
		return sg_fail(err, "cannot bind UDP %s:%u: %s", addr, ntohs(local->sin_port),
			       strerror(-err));
	}
	return fd;
}

int sg_udp_path_mtu(const struct sockaddr_in *to, const char *ifname)
{
	socklen_t sl = sizeof(int);
	int fd, mtu = 0, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() picks the route; a UDP one sends nothing. */
	if ((ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname)) < 0) ||
	    connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
	    getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &sl) < 0)
		err = -errno;
	close(fd);
	return err ? err : mtu;
}

int sg_if_ipv4(const char *ifname, struct in_addr *addr)
{
	struct ifaddrs *ifa, *it;
	int err = -EADDRNOTAVAIL;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (it = ifa; it; it = it->ifa_next) {
		if (it->ifa_addr && it->ifa_addr->sa_family == AF_INET &&
		    !strcmp(it->ifa_name, ifname)) {
			*addr = ((struct sockaddr_in *)it->ifa_addr)->sin_addr;
			err = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	return err;
}

void sg_udp_grow_rcvbuf(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

int sg_udp_sendmsg(int fd, const struct msghdr *msg)
{
	ssize_t n;

	do {
		n = sendmsg(fd, msg, 0);
	} while (n < 0 && (errno == EINTR || errno == ENOBUFS || errno == EAGAIN));
	return n < 0 ? -errno : 0;
}

int sg_udp_sendto(int fd, const void *buf, size_t len, const struct sockaddr_in *to)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)to,
		.msg_namelen = sizeof(*to),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};

	return sg_udp_sendmsg(fd, &msg);
}

#define SG_UDP_ONE_MAX 1536	/* a datagram of an MTU, copied to send at once */

/* One message of a train: datagrams [first, first + k) as one GSO send when
 * k > 1 (a control message of its own carries the segment size). */
struct train_msg {
	char cmsg[CMSG_SPACE(sizeof(uint16_t))];
};

static unsigned int fill_msg(struct mmsghdr *mm, struct train_msg *tm, const struct sockaddr_in *to,
			     const struct sg_udp_train *t, unsigned int first, unsigned int k)
{
	mm->msg_len = 0;
	mm->msg_hdr = (struct msghdr){
		.msg_name = (void *)to,
		.msg_namelen = sizeof(*to),
		.msg_iov = t->iov + 2 * (size_t)first,
		.msg_iovlen = 2 * (size_t)k,
	};
	if (k > 1) {
		struct cmsghdr *cm;
		uint16_t seg = (uint16_t)t->seg;

		memset(tm->cmsg, 0, sizeof(tm->cmsg));
		mm->msg_hdr.msg_control = tm->cmsg;
		mm->msg_hdr.msg_controllen = sizeof(tm->cmsg);
		cm = CMSG_FIRSTHDR(&mm->msg_hdr);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
	}
	return k;
}

int sg_udp_send_train(int fd, const struct sockaddr_in *to, const struct sg_udp_train *t,
		      struct sg_udp_sender *s)
{
	enum { BATCH = 64 };
	struct mmsghdr mm[BATCH];
	struct train_msg tm[BATCH];
	unsigned int per = 1, done = 0;

	/* One datagram (most collectives): one contiguous sendto, the
	 * kernel's shortest send path (no msghdr to copy in, one buffer). */
	if (t->n == 1 && t->iov[0].iov_len + t->iov[1].iov_len <= SG_UDP_ONE_MAX) {
		uint8_t one[SG_UDP_ONE_MAX];
		size_t len = t->iov[0].iov_len;

		memcpy(one, t->iov[0].iov_base, len);
		if (t->iov[1].iov_len)
			memcpy(one + len, t->iov[1].iov_base, t->iov[1].iov_len);
		s->calls++;
		return sg_udp_sendto(fd, one, len + t->iov[1].iov_len, to);
	}
	if (!s->no_gso && t->n > 1 && t->seg > 0 && t->seg <= UINT16_MAX) {
		per = SG_UDP_GSO_BYTES / (unsigned int)t->seg;
		if (per > SG_UDP_GSO_SEGS)
			per = SG_UDP_GSO_SEGS;
		if (t->max_gso && per > t->max_gso)
			per = t->max_gso;
		if (per < 1)
			per = 1;
	}
	while (done < t->n) {
		unsigned int nm = 0, next = done;
		int k;

		while (nm < BATCH && next < t->n) {
			unsigned int left = t->n - next;

			next += fill_msg(&mm[nm], &tm[nm], to, t, next, left < per ? left : per);
			nm++;
		}
		s->calls++;
		k = sendmmsg(fd, mm, nm, 0);
		if (k < 0) {
			if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
				continue;
			/* No GSO here: the kernel lacks UDP_SEGMENT (EINVAL,
			 * ENOPROTOOPT) or the interface cannot checksum GSO
			 * (EIO). Nothing of the failed message went out. */
			if (per > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT ||
					errno == EOPNOTSUPP)) {
				sg_log(SG_LOG_INFO, "UDP GSO refused on this path (%s): sending "
				       "datagram by datagram in sendmmsg batches", strerror(errno));
				s->no_gso = true;
				per = 1;
				continue;
			}
			return -errno;
		}
		for (int i = 0; i < k; i++) {
			done += (unsigned int)(mm[i].msg_hdr.msg_iovlen / 2);
			s->gso_sends += mm[i].msg_hdr.msg_iovlen > 2;
		}
	}
	return 0;
}

ssize_t sg_udp_recv_until(int fd, void *buf, size_t cap, struct sockaddr_in *from,
			  long long deadline_us)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		socklen_t alen = sizeof(*from);
		ssize_t n;
		int ms;

		n = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &alen);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sg_fail(-errno, "recvfrom: %s", strerror(errno));
		if (deadline_us == SG_DEADLINE_NOW)
			return -EAGAIN;
		ms = sg_poll_ms(deadline_us);
		if (ms == 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
			return sg_fail(-errno, "poll: %s", strerror(errno));
	}
}
