/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* UDP sockets, datagrams and interface addresses. */
#ifndef SG_UDP_H
#define SG_UDP_H

#include <netinet/in.h>
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

/* Receive one datagram into @buf (@cap bytes) from @fd, sleeping in poll()
 * until one arrives or @deadline_us (common/clock.h: SG_DEADLINE_NONE,
 * SG_DEADLINE_NOW or a time) passes. Returns its length, -EAGAIN (nothing
 * queued and no wait), -ETIMEDOUT, or a negative errno with a message. */
ssize_t sg_udp_recv_until(int fd, void *buf, size_t cap, struct sockaddr_in *from,
			  long long deadline_us);

/* Ask for a receive buffer of @bytes, past rmem_max when privileged. */
void sg_udp_grow_rcvbuf(int fd, int bytes);

#endif
