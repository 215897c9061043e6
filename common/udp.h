/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* UDP sockets, datagrams and interface addresses. */
#ifndef SG_UDP_H
#define SG_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/types.h>

/* A UDP socket bound to @local (and to @ifname when given). Returns the fd or
 * a negative errno; the message names the address. */
int sg_udp_socket(const struct sockaddr_in *local, const char *ifname);

/* First IPv4 address of @ifname, or -EADDRNOTAVAIL. */
int sg_if_ipv4(const char *ifname, struct in_addr *addr);

/* Send one datagram to @to, again after transient failures (EINTR, and the
 * full queues ENOBUFS/EAGAIN). 0 or -errno; no message: the caller knows
 * what it was sending. */
int sg_udp_sendto(int fd, const void *buf, size_t len, const struct sockaddr_in *to);
/* The same for a prepared message. */
int sg_udp_sendmsg(int fd, const struct msghdr *msg);

/* A train: @n datagrams to one destination, datagram i being iov[2i] (its
 * header) then iov[2i + 1] (its payload, in place). Every datagram but the
 * last is @seg bytes long; the last is at most that. */
struct sg_udp_train {
	struct iovec *iov;
	unsigned int n;
	size_t seg;
	unsigned int max_gso;	/* datagrams per GSO send at most; 0: no bound */
};

/* Datagrams of one UDP GSO send (the kernel takes 64 on every version that
 * has UDP_SEGMENT), within the 64 KiB of one IPv4 datagram. */
#define SG_UDP_GSO_SEGS 64
#define SG_UDP_GSO_BYTES 65507u

/* What one socket's trains have cost; zeroed, it allows GSO. */
struct sg_udp_sender {
	bool no_gso;		/* the kernel refused GSO on this socket's path */
	uint64_t calls;		/* send system calls */
	uint64_t gso_sends;	/* GSO sends (of 2 datagrams or more) */
};

/* Send train @t to @to in as few system calls as the kernel allows: runs of
 * datagrams as UDP GSO sends (UDP_SEGMENT, segmented by the kernel or the
 * NIC), several of them per sendmmsg; without GSO, one datagram per message
 * of the sendmmsg. When the kernel refuses GSO on this path (no UDP_SEGMENT,
 * or EIO), @s remembers it, says so once (INFO), and the train goes without.
 * Transient failures (EINTR, full queues) are retried. 0 or -errno, no
 * message. */
int sg_udp_send_train(int fd, const struct sockaddr_in *to, const struct sg_udp_train *t,
		      struct sg_udp_sender *s);

/* Receive one datagram into @buf (@cap bytes) from @fd, sleeping in poll()
 * until one arrives or @deadline_us (common/clock.h: SG_DEADLINE_NONE,
 * SG_DEADLINE_NOW or a time) passes. Returns its length, -EAGAIN (nothing
 * queued and no wait), -ETIMEDOUT, or a negative errno with a message. */
ssize_t sg_udp_recv_until(int fd, void *buf, size_t cap, struct sockaddr_in *from,
			  long long deadline_us);

/* The MTU of the route to @to (IP_MTU of a socket connected to it, bound to
 * @ifname when given), or a negative errno. */
int sg_udp_path_mtu(const struct sockaddr_in *to, const char *ifname);

/* Ask for a receive buffer of @bytes, past rmem_max when privileged. */
void sg_udp_grow_rcvbuf(int fd, int bytes);

#endif
