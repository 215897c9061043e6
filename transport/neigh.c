// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "transport/neigh.h"

static int if_flags(const char *ifname, short *flags)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	else
		*flags = ifr.ifr_flags;
	close(fd);
	return err;
}

/* Look @ip up in the kernel's ARP table for @ifname: 1 and @mac when the entry
 * is complete, 0 when absent or incomplete. */
static int arp_lookup(const char *ifname, uint32_t ip, uint8_t mac[6])
{
	char line[256], ipbuf[64], hw[64], dev[IFNAMSIZ + 1];
	unsigned int type, flags, m[6];
	int found = 0;
	FILE *f;

	f = fopen("/proc/net/arp", "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		struct in_addr a;

		if (sscanf(line, "%63s 0x%x 0x%x %63s %*s %16s", ipbuf, &type, &flags, hw, dev) != 5)
			continue;
		if (inet_pton(AF_INET, ipbuf, &a) != 1 || a.s_addr != ip || strcmp(dev, ifname) ||
		    !(flags & 0x2 /* ATF_COM */))
			continue;
		if (sscanf(hw, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
			continue;
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)m[i];
		found = 1;
	}
	fclose(f);
	return found;
}

/* RTM_NEWNEIGH with NTF_USE: the kernel creates the entry if needed and starts
 * resolving it, as if it had a packet to send. */
static int neigh_kick(int nl, int ifindex, uint32_t ip)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg ndm;
		struct rtattr rta;
		uint32_t dst;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_NEWNEIGH,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE,
		},
		.ndm = {
			.ndm_family = AF_INET,
			.ndm_ifindex = ifindex,
			.ndm_state = NUD_NONE,
			.ndm_flags = NTF_USE,
		},
		.rta = { .rta_len = RTA_LENGTH(sizeof(uint32_t)), .rta_type = NDA_DST },
		.dst = ip,
	};

	return send(nl, &req, sizeof(req), 0) < 0 ? -errno : 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int sg_neigh_resolve(const char *ifname, int ifindex, const uint32_t *ips, size_t n,
		     uint8_t (*macs)[6], int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	uint8_t *resolved;
	size_t missing;
	short flags = 0;
	int nl, err;

	err = if_flags(ifname, &flags);
	if (err)
		return sg_fail(err, "interface %s: %s", ifname, strerror(-err));
	memset(macs, 0, n * sizeof(*macs));
	if (flags & (IFF_LOOPBACK | IFF_NOARP))
		return 0;

	resolved = calloc(n, 1);
	if (!resolved)
		return sg_fail(-ENOMEM, "out of memory");
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	for (int round = 0;; round++) {
		missing = 0;
		for (size_t i = 0; i < n; i++) {
			if (resolved[i])
				continue;
			resolved[i] = (uint8_t)arp_lookup(ifname, ips[i], macs[i]);
			if (!resolved[i]) {
				missing++;
				/* Kick every ~100 ms; the kernel rate-limits its requests. */
				if (nl >= 0 && round % 10 == 0)
					neigh_kick(nl, ifindex, ips[i]);
			}
		}
		if (!missing || now_ms() >= deadline)
			break;
		usleep(10000);
	}
	err = 0;
	for (size_t i = 0; i < n && missing; i++) {
		if (!resolved[i]) {
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &ips[i], a, sizeof(a));
			err = sg_fail(-EHOSTUNREACH,
				      "worker %s has no link-layer address on %s after %d ms "
				      "(workers must be on the interface's link)",
				      a, ifname, timeout_ms);
			break;
		}
	}
	if (nl >= 0)
		close(nl);
	free(resolved);
	return err;
}
