// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* rtnetlink, just enough for sgbpf-probe's veth pair: create, set up, delete. */
#include <errno.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/probe/probe.h"

struct nl_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[512];
};

/* The request, not its header, is passed: the attributes are written past the
 * header, and the compiler checks those writes against the whole buffer. */
static struct rtattr *nl_attr(struct nl_req *req, unsigned short type, const void *data,
			      size_t len)
{
	struct nlmsghdr *nh = &req->nh;
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nl_req *req, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)req + req->nh.nlmsg_len - (char *)nest);
}

static int nl_talk(struct nlmsghdr *nh)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[4096];
	int fd, err;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (sendto(fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		err = n < 0 ? -errno : -EIO;
		goto out;
	}
	nh = (struct nlmsghdr *)buf;
	err = nh->nlmsg_type == NLMSG_ERROR ? ((struct nlmsgerr *)NLMSG_DATA(nh))->error : -EIO;
out:
	close(fd);
	return err;
}

int veth_create(const char *a, const char *b)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_NEWLINK, .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP },
	};
	struct rtattr *linkinfo, *data, *peer;
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };

	nl_attr(&req, IFLA_IFNAME, a, strlen(a) + 1);
	linkinfo = nl_attr(&req, IFLA_LINKINFO, NULL, 0);
	nl_attr(&req, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(&req, IFLA_INFO_DATA, NULL, 0);
	peer = nl_attr(&req, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi));
	nl_attr(&req, IFLA_IFNAME, b, strlen(b) + 1);
	nl_nest_end(&req, peer);
	nl_nest_end(&req, data);
	nl_nest_end(&req, linkinfo);
	return nl_talk(&req.nh);
}

int link_set_up(int ifindex)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_NEWLINK },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP,
			 .ifi_change = IFF_UP },
	};

	return nl_talk(&req.nh);
}

int link_delete(int ifindex)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_DELLINK },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};

	return nl_talk(&req.nh);
}
