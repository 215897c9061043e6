// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The filters of an interface's clsact egress hook (clsact.h). */
#include <errno.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/clsact.h"

/* Enough for one datagram of a dump (the kernel fills at most 32 KiB). */
#define SG_NL_BUF 32768

/* @f from one RTM_NEWTFILTER message: @t and @len bytes of attributes. */
static void parse_filter(const struct tcmsg *t, int len, struct sg_tc_filter *f)
{
	const struct rtattr *a = (const void *)((const char *)t + NLMSG_ALIGN(sizeof(*t)));

	memset(f, 0, sizeof(*f));
	f->handle = t->tcm_handle;
	f->prio = (uint16_t)(TC_H_MAJ(t->tcm_info) >> 16);
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		const struct rtattr *o = RTA_DATA(a);
		int olen = (int)RTA_PAYLOAD(a);

		if (a->rta_type != TCA_OPTIONS)
			continue;
		for (; RTA_OK(o, olen); o = RTA_NEXT(o, olen)) {
			if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= sizeof(f->prog_id))
				memcpy(&f->prog_id, RTA_DATA(o), sizeof(f->prog_id));
			else if (o->rta_type == TCA_BPF_NAME)
				snprintf(f->name, sizeof(f->name), "%.*s", (int)RTA_PAYLOAD(o),
					 (const char *)RTA_DATA(o));
		}
	}
}

/* Read the dump's replies until NLMSG_DONE: the filters into @out. */
static int read_dump(int fd, char *buf, struct sg_tc_filter *out, size_t max, size_t *n)
{
	for (;;) {
		ssize_t got = recv(fd, buf, SG_NL_BUF, 0);
		int len = (int)got;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EPROTO;
		/* NLMSG_OK() compares the u32 nlmsg_len with an int length. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
		for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
#pragma GCC diagnostic pop
			const struct tcmsg *t = NLMSG_DATA(nh);

			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				int err = ((const struct nlmsgerr *)NLMSG_DATA(nh))->error;

				return err ? err : -EPROTO;
			}
			/* Each priority is dumped once on its own (handle 0), then
			 * its filters. */
			if (nh->nlmsg_type != RTM_NEWTFILTER || !t->tcm_handle)
				continue;
			if (*n < max)
				parse_filter(t, (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t))),
					     &out[*n]);
			++*n;
		}
	}
}

int sg_clsact_egress_filters(int ifindex, struct sg_tc_filter *out, size_t max)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg t;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1,
		},
		.t = {
			.tcm_family = AF_UNSPEC,
			.tcm_ifindex = ifindex,
			.tcm_parent = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS),
		},
	};
	char *buf = malloc(SG_NL_BUF);	/* malloc: aligned for nlmsghdr */
	size_t n = 0;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		err = -errno;
	} else {
		err = send(fd, &req, sizeof(req), 0) < 0 ? -errno : read_dump(fd, buf, out, max, &n);
		close(fd);
	}
	free(buf);
	return err ? err : (int)n;
}

bool sg_tc_filter_runs(const struct sg_tc_filter *f, const char *prog)
{
	size_t len = strlen(prog);

	return f->prog_id && !strncmp(f->name, prog, len) &&
	       (f->name[len] == ':' || f->name[len] == '\0');
}
