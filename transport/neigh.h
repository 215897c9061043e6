/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Link-layer addresses of the workers, for the fan-out program's rewrites. */
#ifndef SG_NEIGH_H
#define SG_NEIGH_H

#include <stddef.h>
#include <stdint.h>

/* Fill @macs[i] with the MAC address of IPv4 @ips[i] (network order) on
 * @ifname, asking the kernel to resolve the ones it does not know yet (an ARP
 * request, no datagram to the worker). Loopback and no-ARP devices get zero
 * addresses. Returns 0, or -EHOSTUNREACH naming the first address that did
 * not resolve within @timeout_ms (workers must be on the interface's link). */
int sg_neigh_resolve(const char *ifname, int ifindex, const uint32_t *ips, size_t n,
		     uint8_t (*macs)[6], int timeout_ms);

#endif
