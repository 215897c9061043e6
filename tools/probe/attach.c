// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf-probe's load and attach test. A forked child loads the skeleton the
 * library embeds, unshares its own network namespace (anonymous, never named,
 * so it vanishes with the child), creates a veth pair there and attaches XDP
 * and TC egress as the library does; the parent reads its result through a
 * pipe and adds the checks. The kernel frees every program, link, veth and
 * the namespace itself when the child exits, even if it crashes or the probe
 * is killed (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "tools/probe/probe.h"
/* The library's own TC attachment code, so the probe tries what ships. */
#include "transport/datapath.h"
#ifndef XDP_ATTACHED_DRV
#define XDP_ATTACHED_DRV 1
#define XDP_ATTACHED_SKB 2
#endif

#define CHILD_TIMEOUT_MS 120000

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static char libbpf_log[8192];
static size_t libbpf_log_len;
static char verifier_err[256];	/* "prog: the verifier's complaint" */

/* libbpf prints a rejected program's log in one message, between BEGIN and
 * END markers; its complaint is the line before "processed N insns". */
static void note_verifier_log(const char *msg)
{
	const char *b = strstr(msg, "-- BEGIN PROG LOAD LOG --"), *name, *e, *line, *p;
	int namelen = 0;

	if (!b || verifier_err[0])
		return;
	name = strstr(msg, "prog '");
	if (name && name < b) {
		name += 6;
		namelen = (int)strcspn(name, "'");
	}
	b = strchr(b, '\n');
	e = b ? strstr(b, "-- END PROG LOAD LOG --") : NULL;
	if (!b || !e)
		return;
	line = NULL;
	for (p = b + 1; p < e; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, "processed ", 10))
			break;
		if (*p != '\n')
			line = p;
		if (!strchr(p, '\n'))
			break;
	}
	if (line)
		snprintf(verifier_err, sizeof(verifier_err), "%.*s: %.*s", namelen,
			 name ? name : "", (int)strcspn(line, "\n"), line);
}

/* libbpf's messages (verifier log included) are kept for the failure report;
 * -v passes them through. */
int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list cp;

	if (opt_verbose) {
		va_copy(cp, ap);
		vfprintf(stderr, fmt, cp);
		va_end(cp);
	}
	if (level == LIBBPF_DEBUG)
		return 0;
	if (!verifier_err[0]) {
		static char msg[1 << 16];

		va_copy(cp, ap);
		vsnprintf(msg, sizeof(msg), fmt, cp);
		va_end(cp);
		note_verifier_log(msg);
	}
	if (libbpf_log_len >= sizeof(libbpf_log) - 1)
		libbpf_log_len = 0;	/* keep the latest messages */
	libbpf_log_len += (size_t)vsnprintf(libbpf_log + libbpf_log_len,
					     sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
	if (libbpf_log_len > sizeof(libbpf_log) - 1)
		libbpf_log_len = sizeof(libbpf_log) - 1;
	return 0;
}

static void step_set(struct step *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void step_set(struct step *s, int err, const char *fmt, ...)
{
	va_list ap;

	s->done = 1;
	s->err = err;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
}

/* The last line libbpf printed that says something about the failure. */
static const char *libbpf_last_line(void)
{
	static char line[200];
	char *end = libbpf_log + libbpf_log_len, *p;

	while (end > libbpf_log && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	for (p = end; p > libbpf_log && p[-1] != '\n'; p--)
		;
	snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
	return line;
}

static void add_id(uint32_t *ids, int *n, int max, int fd)
{
	struct bpf_prog_info info = {};	/* id is at the same offset in link info */
	uint32_t len = sizeof(info);

	if (fd >= 0 && *n < max && !bpf_obj_get_info_by_fd(fd, &info, &len))
		ids[(*n)++] = info.id;
}

#define add_link_id(r, fd) add_id((r)->link_ids, &(r)->nlink_ids, 4, fd)
#define add_prog_id(r, fd) add_id((r)->prog_ids, &(r)->nprog_ids, MAX_IDS, fd)

static void child_attach(struct sgbpf_bpf *skel, struct child_result *r)
{
	int ifindex, peer, err, prog_fd = bpf_program__fd(skel->progs.sg_scatter), tcx_fd;
	LIBBPF_OPTS(bpf_xdp_query_opts, xq);
	struct bpf_link *xdp = NULL;
	struct sg_tc_attachment tc;
	uint32_t left = 0;

	/* CAP_SYS_ADMIN for the namespace: the library needs none of this. */
	if (unshare(CLONE_NEWNET)) {
		step_set(&r->ns, -errno, "unshare(CLONE_NEWNET): %s", strerror(errno));
		return;
	}
	step_set(&r->ns, 0, "own anonymous network namespace");
	err = veth_create("sgp0", "sgp1");
	ifindex = (int)if_nametoindex("sgp0");
	peer = (int)if_nametoindex("sgp1");
	if (err || !ifindex || !peer) {
		step_set(&r->veth, err ? err : -ENODEV, "cannot create a veth pair: %s",
			 strerror(err ? -err : ENODEV));
		return;
	}
	link_set_up(peer);
	step_set(&r->veth, 0, "veth pair sgp0/sgp1");

	/* XDP as the library attaches it: a bpf_link, no mode flags, so the
	 * kernel picks native mode when the driver has it. */
	xdp = bpf_program__attach_xdp(skel->progs.sg_gather, ifindex);
	if (!xdp) {
		err = -errno;
		step_set(&r->xdp, err, "bpf_program__attach_xdp: %s", strerror(-err));
	} else {
		add_link_id(r, bpf_link__fd(xdp));
		err = bpf_xdp_query(ifindex, 0, &xq);
		r->xdp_mode = err ? 0 : xq.attach_mode;
		step_set(&r->xdp, 0, "%s", r->xdp_mode == XDP_ATTACHED_DRV ? "native (driver) mode" :
			 r->xdp_mode == XDP_ATTACHED_SKB ? "generic (skb) mode only" : "mode unknown");
	}

	/* TC egress the two ways the library can: a tcx link (6.6+), else a
	 * filter on clsact. Both are tried so both are reported. */
	tcx_fd = sg_tcx_attach_egress(prog_fd, ifindex);
	if (tcx_fd >= 0) {
		add_link_id(r, tcx_fd);
		step_set(&r->tcx, 0, "bpf_link_create(BPF_TCX_EGRESS)");
		close(tcx_fd);
	} else {
		step_set(&r->tcx, tcx_fd, "bpf_link_create(BPF_TCX_EGRESS): %s", strerror(-tcx_fd));
	}
	err = sg_clsact_attach_egress(prog_fd, ifindex, &tc);
	if (err) {
		step_set(&r->clsact, err, "clsact filter (bpf_tc_hook_create + bpf_tc_attach): %s",
			 strerror(-err));
	} else {
		step_set(&r->clsact, 0, "bpf_tc_hook_create + bpf_tc_attach");
		/* Only our filter, as the library does on destroy. */
		tc.opts.prog_fd = tc.opts.prog_id = tc.opts.flags = 0;
		err = bpf_tc_detach(&tc.hook, &tc.opts);
		if (err)
			step_set(&r->detach, err, "bpf_tc_detach: %s", strerror(-err));
	}
	/* Here the hook is ours alone (our namespace, our veth). */
	bpf_tc_hook_destroy(&tc.hook);

	bpf_link__destroy(xdp);
	if (xdp && !bpf_xdp_query_id(ifindex, 0, &left) && left && !r->detach.done)
		step_set(&r->detach, -EBUSY, "XDP program %u still attached after the link was "
			 "destroyed", left);
	if (!r->detach.done)
		step_set(&r->detach, 0, "links destroyed, filter removed, veth deleted");
	err = link_delete(ifindex);
	if (err && !r->detach.err)
		step_set(&r->detach, err, "cannot delete the veth: %s (it goes with the namespace)",
			 strerror(-err));
}

static int child_main(int wfd)
{
	struct child_result r = {};
	struct sgbpf_bpf *skel;
	struct bpf_program *prog;
	long long t0;
	ssize_t n;
	int err;

	/* Die with the probe: the kernel then frees everything we hold. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 2;
	libbpf_set_print(print_libbpf);

	skel = sgbpf_bpf__open();
	if (!skel) {
		step_set(&r.load, errno ? -errno : -EINVAL, "cannot open the BPF object: %s",
			 strerror(errno));
		goto out;
	}
	t0 = now_ms();
	err = sgbpf_bpf__load(skel);
	r.load_ms = (long)(now_ms() - t0);
	if (err) {
		if (verifier_err[0])
			step_set(&r.load, err, "%s: the verifier rejected %s", strerror(-err),
				 verifier_err);
		else if (err == -EPERM)
			step_set(&r.load, err, "%s", strerror(-err));
		else
			step_set(&r.load, err, "%s; %s", strerror(-err), libbpf_last_line());
		goto out;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		r.nprogs++;
		add_prog_id(&r, bpf_program__fd(prog));
	}
	step_set(&r.load, 0, "%d programs verified and loaded in %ld ms", r.nprogs, r.load_ms);
	child_attach(skel, &r);
out:
	sgbpf_bpf__destroy(skel);
	n = write(wfd, &r, sizeof(r));
	return n == (ssize_t)sizeof(r) ? 0 : 2;
}

/* Run child_main() in a child process; 0 and *r, or -errno and a message. */
static int run_child(struct child_result *r, char *why, size_t whylen)
{
	struct pollfd pfd = { .events = POLLIN };
	long long deadline = now_ms() + CHILD_TIMEOUT_MS;
	size_t got = 0;
	int p[2], status = 0, err = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		close(p[0]);
		_exit(child_main(p[1]));
	}
	close(p[1]);
	pfd.fd = p[0];
	while (got < sizeof(*r)) {
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		n = read(p[0], (char *)r + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n ? -errno : -EPIPE;
			break;
		}
		got += (size_t)n;
	}
	close(p[0]);
	if (err == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err)
		return 0;
	if (err == -ETIMEDOUT)
		snprintf(why, whylen, "no answer within %d s: killed", CHILD_TIMEOUT_MS / 1000);
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "the probe's child died of signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(why, whylen, "the probe's child exited with status %d and no result",
			 WEXITSTATUS(status));
	return err;
}

struct child_result child;
bool attach_tested;
bool internal_error;

void report_child(void)
{
	char why[200];
	struct check *c;
	int err = run_child(&child, why, sizeof(why));
	const struct step *s;
	const char *untested = NULL;

	if (err) {
		internal_error = true;
		c = add("sgbpf programs", "load sgbpf programs (verifier)", true, ST_MISSING,
			"internal error: %s", why);
		set_fix(c, "run sgbpf-probe -v to see libbpf's messages");
		untested = "not tested: the load did not finish";
		goto attach_na;
	}
	s = &child.load;
	if (!s->err) {
		add("sgbpf programs", "load sgbpf programs (verifier)", true, ST_OK, "%s", s->msg);
	} else {
		c = add("sgbpf programs", "load sgbpf programs (verifier)", true, ST_MISSING, "%s",
			s->msg);
		if (s->err == -EPERM || (s->err == -EACCES && !has_cap(CAP_PERFMON) &&
					 !has_cap(CAP_SYS_ADMIN)))
			set_fix(c, FIX_CAPS);
		else if (s->err == -ENOMEM)
			set_fix(c, "raise RLIMIT_MEMLOCK (ulimit -l unlimited) or use a kernel >= 5.11");
		else
			set_fix(c, "this kernel's verifier rejects a program: see the log with "
				"sgbpf-probe -v, and report it with the output of uname -r");
		untested = "not tested: the programs did not load";
		goto attach_na;
	}

	s = &child.ns;
	if (s->err) {
		c = add("attach", "throw-away network namespace", false,
			s->err == -EPERM ? ST_NA : ST_MISSING, "%s%s", s->msg,
			s->err == -EPERM ? " (needs CAP_SYS_ADMIN; the library does not)" : "");
		if (s->err == -EPERM)
			set_fix(c, "to test attaching too, run this probe as root (or add "
				"cap_sys_admin to its file capabilities)");
		else
			set_fix(c, "kernel lacks CONFIG_NET_NS: the attach checks cannot run here");
		untested = "not tested: no throw-away network namespace";
		goto attach_rest;
	}
	add("attach", "throw-away network namespace", false, ST_OK, "%s", s->msg);
	s = &child.veth;
	if (s->err) {
		c = add("attach", "veth pair", false, ST_MISSING, "%s", s->msg);
		set_fix(c, "kernel lacks CONFIG_VETH (only this probe needs it)");
		untested = "not tested: no veth pair to attach to";
		goto attach_rest;
	}
	add("attach", "veth pair", false, ST_OK, "%s", s->msg);
	attach_tested = true;

	s = &child.xdp;
	if (!s->err) {
		add("attach", "XDP attach (bpf_link)", true, ST_OK, "%s%s", s->msg,
		    child.xdp_mode == XDP_ATTACHED_SKB ? ": works, slower" : "");
	} else {
		c = add("attach", "XDP attach (bpf_link)", true, ST_MISSING, "%s", s->msg);
		set_fix(c, s->err == -EPERM ? FIX_CAPS :
			"kernel < 5.9 has no XDP links, or lacks CONFIG_XDP_SOCKETS/XDP support: "
			"use a newer kernel");
	}
	s = &child.tcx;
	if (!s->err) {
		add("attach", "TC egress attach (tcx link)", false, ST_OK, "%s", s->msg);
	} else {
		c = add("attach", "TC egress attach (tcx link)", false, ST_MISSING, "%s", s->msg);
		set_fix(c, s->err == -EPERM ? FIX_CAPS :
			"kernel < 6.6 has no tcx: the library attaches a clsact filter instead "
			"(next line), which is enough");
	}
	s = &child.clsact;
	if (!s->err) {
		add("attach", "TC egress attach (clsact filter)", child.tcx.err != 0, ST_OK, "%s",
		    s->msg);
	} else {
		c = add("attach", "TC egress attach (clsact filter)", child.tcx.err != 0,
			ST_MISSING, "%s", s->msg);
		set_fix(c, s->err == -EPERM ? FIX_CAPS :
			"kernel lacks CONFIG_NET_SCH_INGRESS (clsact) or CONFIG_NET_CLS_BPF; "
			"needed only where tcx (6.6) is missing");
	}
	s = &child.detach;
	c = add("attach", "detach and clean up", false, s->err ? ST_MISSING : ST_OK, "%s", s->msg);
	if (s->err)
		set_fix(c, "nothing is left behind (the namespace died with the probe's child); "
			"the library may leave an attachment until its process exits");
	return;

attach_na:
	add("attach", "throw-away network namespace", false, ST_NA, "%s", untested);
attach_rest:
	add("attach", "XDP attach (bpf_link)", true, ST_NA, "%s", untested);
	add("attach", "TC egress attach (tcx link)", false, ST_NA, "%s", untested);
	add("attach", "TC egress attach (clsact filter)", false, ST_NA, "%s", untested);
}
