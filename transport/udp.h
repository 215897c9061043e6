/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* UDP sockets and interface addresses. */
#ifndef SG_UDP_H
#define SG_UDP_H

#include <netinet/in.h>

/* A UDP socket bound to @local (and to @ifname when given). Returns the fd or
 * a negative errno; the message names the address. */
int sg_udp_socket(const struct sockaddr_in *local, const char *ifname);

/* First IPv4 address of @ifname, or -EADDRNOTAVAIL. */
int sg_if_ipv4(const char *ifname, struct in_addr *addr);

/* Ask for a receive buffer of @bytes, past rmem_max when privileged. */
void sg_udp_grow_rcvbuf(int fd, int bytes);

#endif
