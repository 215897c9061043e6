// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf-probe: can this kernel, with these privileges, run the eBPF transport?
 * Checks feature by feature, says what to do about every failure, and tells
 * which transport SG_TRANSPORT_AUTO would pick (docs/probe.md).
 *
 * Loading and attaching run in a forked child: it unshares its own network
 * namespace (anonymous, never named, so it vanishes with the child), so the
 * caller's namespace is untouched and the kernel frees every program, link,
 * veth and the namespace itself when the child exits, even if it crashes or
 * the probe is killed (PR_SET_PDEATHSIG).
 *
 * Exit status: 0 eBPF usable, 1 not (the library falls back), 2 usage or
 * internal error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <liburing.h>

#include "sgbpf.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
/* enum bpf_attach_type value of tcx egress (Linux 6.6), as transport/ebpf.c. */
#define PROBE_TCX_EGRESS 47
#ifndef XDP_ATTACHED_DRV
#define XDP_ATTACHED_DRV 1
#define XDP_ATTACHED_SKB 2
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "?"
#endif

#define CHILD_TIMEOUT_MS 120000
#define MAX_CHECKS 40
#define MAX_IDS 24
#define FIX_CAPS "run as root, or grant the program the capabilities: " \
	"setcap cap_bpf,cap_net_admin,cap_perfmon+ep ./your-program " \
	"(kernels < 5.8 have no CAP_BPF: cap_sys_admin,cap_net_admin)"

enum status { ST_OK, ST_MISSING, ST_NA };
static const char *const st_name[] = { "ok", "missing", "n/a" };

struct check {
	const char *group;
	const char *name;
	enum status st;
	bool required;		/* for the eBPF transport */
	char detail[320];
	char fix[400];
};

static struct check checks[MAX_CHECKS];
static int nchecks;
static bool opt_quiet, opt_json, opt_verbose;

static struct check *add(const char *group, const char *name, bool required, enum status st,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static struct check *add(const char *group, const char *name, bool required, enum status st,
			 const char *fmt, ...)
{
	static struct check overflow;
	struct check *c = nchecks < MAX_CHECKS ? &checks[nchecks++] : &overflow;
	va_list ap;

	*c = (struct check){ .group = group, .name = name, .st = st, .required = required };
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return c;
}

static void set_fix(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fix(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

/* An integer from a /proc/sys file: 0, -ENOENT (not in this kernel) or -errno. */
static int read_sysctl(const char *path, long *val)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	*val = strtol(buf, NULL, 10);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ privileges */

static uint64_t caps_eff;

static bool has_cap(int cap)
{
	return caps_eff & (1ULL << cap);
}

static void check_privileges(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	long last_cap = 0, unpriv;
	bool bpf_ok, net_ok;
	struct check *c;
	int err;

	/* capget directly: no libcap dependency for two words of bits. */
	if (syscall(SYS_capget, &h, d) == 0)
		caps_eff = d[0].effective | (uint64_t)d[1].effective << 32;
	/* A kernel that predates CAP_BPF (5.8) only knows CAP_SYS_ADMIN. */
	if (read_sysctl("/proc/sys/kernel/cap_last_cap", &last_cap))
		last_cap = CAP_BPF;

	bpf_ok = has_cap(CAP_BPF) || has_cap(CAP_SYS_ADMIN);
	c = add("privileges", "CAP_BPF", true, bpf_ok ? ST_OK : ST_MISSING, "%s",
		has_cap(CAP_BPF) ? "effective" :
		has_cap(CAP_SYS_ADMIN) ? "not held, CAP_SYS_ADMIN covers it" :
		last_cap < CAP_BPF ? "kernel < 5.8 has no CAP_BPF and CAP_SYS_ADMIN is not held" :
		"not held: cannot create maps or load programs");
	if (!bpf_ok)
		set_fix(c, FIX_CAPS);

	net_ok = has_cap(CAP_NET_ADMIN) || has_cap(CAP_SYS_ADMIN);
	c = add("privileges", "CAP_NET_ADMIN", true, net_ok ? ST_OK : ST_MISSING, "%s",
		has_cap(CAP_NET_ADMIN) ? "effective" :
		has_cap(CAP_SYS_ADMIN) ? "not held, CAP_SYS_ADMIN covers it" :
		"not held: cannot load XDP/TC programs or attach them");
	if (!net_ok)
		set_fix(c, FIX_CAPS);

	/* Without CAP_PERFMON the verifier forbids pointer arithmetic that
	 * sgbpf's programs do ("pointer arithmetic with it prohibited for
	 * !root", measured on 6.18), so it is required like the other two. */
	c = add("privileges", "CAP_PERFMON", true,
		has_cap(CAP_PERFMON) || has_cap(CAP_SYS_ADMIN) ? ST_OK : ST_MISSING, "%s",
		has_cap(CAP_PERFMON) ? "effective" :
		has_cap(CAP_SYS_ADMIN) ? "not held, CAP_SYS_ADMIN covers it" :
		"not held: the verifier rejects sgbpf's pointer arithmetic without it");
	if (c->st != ST_OK)
		set_fix(c, FIX_CAPS);

	c = add("privileges", "CAP_SYS_ADMIN", false, has_cap(CAP_SYS_ADMIN) ? ST_OK : ST_NA, "%s",
		has_cap(CAP_SYS_ADMIN) ? "effective" :
		"not held: not needed by the library; only this probe's throw-away network "
		"namespace needs it, so the attach checks are skipped");

	err = read_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled", &unpriv);
	if (err) {
		add("privileges", "sysctl kernel.unprivileged_bpf_disabled", false, ST_NA,
		    "cannot read it: %s", strerror(-err));
	} else if (bpf_ok) {
		add("privileges", "sysctl kernel.unprivileged_bpf_disabled", false, ST_OK,
		    "%ld: does not apply, CAP_BPF is held", unpriv);
	} else {
		c = add("privileges", "sysctl kernel.unprivileged_bpf_disabled", false,
			unpriv ? ST_MISSING : ST_OK, "%ld: %s", unpriv,
			unpriv == 0 ? "unprivileged bpf() allowed (socket filters only; sgbpf "
				      "needs more)" :
			unpriv == 1 ? "bpf() refused without CAP_BPF, until reboot" :
				      "bpf() refused without CAP_BPF");
		if (unpriv)
			set_fix(c, "leave it: sgbpf's XDP and TC programs need CAP_BPF, "
				"CAP_NET_ADMIN and CAP_PERFMON whatever it says (%s)",
				unpriv == 2 ? "sysctl -w kernel.unprivileged_bpf_disabled=0 would "
					      "only allow socket filters" :
					      "and 1 cannot be changed before a reboot");
	}
}

/* ------------------------------------------------------------ kernel features */

static bool bpf_usable;

static void check_bpf_syscall(void)
{
	struct check *c;
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sgp_probe", 4, 8, 1, NULL);

	if (fd >= 0) {
		close(fd);
		bpf_usable = true;
		add("kernel", "bpf() syscall (array map)", true, ST_OK, "created a 1-entry array map");
		return;
	}
	fd = -errno;
	c = add("kernel", "bpf() syscall (array map)", true, ST_MISSING, "%s%s", strerror(-fd),
		fd == -EPERM && !has_cap(CAP_BPF) ? " (CAP_BPF not held)" : "");
	if (fd == -ENOSYS)
		set_fix(c, "kernel lacks CONFIG_BPF_SYSCALL: use a kernel built with it");
	else if (fd == -EPERM || fd == -EACCES)
		set_fix(c, FIX_CAPS);
	else if (fd == -ENOMEM)
		set_fix(c, "raise RLIMIT_MEMLOCK (ulimit -l unlimited; kernels < 5.11 charge BPF "
			"maps to it)");
}

static void check_jit(void)
{
	long v;
	int err = read_sysctl("/proc/sys/net/core/bpf_jit_enable", &v);
	struct check *c;

	if (err == -ENOENT) {
		c = add("kernel", "BPF JIT (net.core.bpf_jit_enable)", false, ST_MISSING,
			"no such sysctl: the kernel has no JIT and interprets programs (slow)");
		set_fix(c, "kernel lacks CONFIG_BPF_JIT: use a kernel built with it");
	} else if (err) {
		add("kernel", "BPF JIT (net.core.bpf_jit_enable)", false, ST_NA,
		    "cannot read it: %s", strerror(-err));
	} else if (v) {
		add("kernel", "BPF JIT (net.core.bpf_jit_enable)", false, ST_OK, "%ld%s", v,
		    v == 2 ? " (JIT with debug output)" : "");
	} else {
		c = add("kernel", "BPF JIT (net.core.bpf_jit_enable)", false, ST_MISSING,
			"0: programs are interpreted, several times slower");
		set_fix(c, "sysctl -w net.core.bpf_jit_enable=1");
	}
}

static void check_btf(void)
{
	struct check *c;

	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) {
		add("kernel", "kernel BTF (/sys/kernel/btf/vmlinux)", false, ST_OK, "present");
		return;
	}
	/* sgbpf's programs use no CO-RE relocations: informative only. */
	c = add("kernel", "kernel BTF (/sys/kernel/btf/vmlinux)", false,
		errno == ENOENT ? ST_MISSING : ST_NA, "%s (sgbpf's programs do not need it)",
		strerror(errno));
	if (errno == ENOENT)
		set_fix(c, "kernel lacks CONFIG_DEBUG_INFO_BTF; only tools such as bpftool miss it");
}

static struct check *map_check(const char *name, int err, const char *kernel_fix)
{
	struct check *c;

	if (!err)
		return add("kernel", name, true, ST_OK, "supported");
	c = add("kernel", name, true, ST_MISSING, "%s", strerror(-err));
	if (err == -EPERM)
		set_fix(c, FIX_CAPS);
	else if (err == -ENOMEM)
		set_fix(c, "raise RLIMIT_MEMLOCK (ulimit -l unlimited) or use a kernel >= 5.11");
	else
		set_fix(c, "%s", kernel_fix);
	return c;
}

static void check_ringbuf(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sgp_ringbuf", 0, 0, 4096, NULL);

	if (fd >= 0)
		close(fd);
	map_check("BPF ring buffer map", fd < 0 ? -errno : 0,
		  "kernel < 5.8 or without ring buffers: the completion events need them");
}

static void check_mmapable(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
	long pg = sysconf(_SC_PAGESIZE);
	int err = 0, fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sgp_mmap", 4, 8, 8, &o);
	void *p;

	if (fd < 0) {
		err = -errno;
	} else {
		p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			err = -errno;
		else
			munmap(p, (size_t)pg);
		close(fd);
	}
	map_check("BPF_F_MMAPABLE array (mmap)", err,
		  "kernel < 5.5: results are read from mmapped arrays");
}

/* An array whose value holds a struct bpf_spin_lock, described by BTF made
 * here, as the slots and chunks maps of sgbpf are. */
static void check_spin_lock(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	struct btf *btf = btf__new_empty();
	int err, fd = -1, int_id, lock_id, val_id;
	uint32_t key = 0;
	uint32_t val[2] = { 0, 42 };

	if (!btf) {
		err = -errno;
		goto out;
	}
	int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	lock_id = btf__add_struct(btf, "bpf_spin_lock", 4);
	err = lock_id < 0 ? lock_id : btf__add_field(btf, "val", int_id, 0, 0);
	val_id = btf__add_struct(btf, "sgp_val", 8);
	if (!err && val_id > 0)
		err = btf__add_field(btf, "lock", lock_id, 0, 0);
	if (!err)
		err = btf__add_field(btf, "x", int_id, 32, 0);
	if (!err && (int_id < 0 || val_id < 0))
		err = -EINVAL;
	if (!err)
		err = btf__load_into_kernel(btf);
	if (err)
		goto out;
	o.btf_fd = btf__fd(btf);
	o.btf_key_type_id = int_id;
	o.btf_value_type_id = val_id;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sgp_lock", 4, 8, 1, &o);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/* The library writes slots with BPF_F_LOCK. */
	err = bpf_map_update_elem(fd, &key, val, BPF_F_LOCK);
out:
	if (fd >= 0)
		close(fd);
	btf__free(btf);
	map_check("bpf_spin_lock in map values (BTF)", err,
		  "kernel < 5.1 or without BTF loading: slots and chunks are locked");
}

static void check_helpers(void)
{
	struct check *c;
	int r;

	r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_loop, NULL);
	if (r == 1) {
		add("kernel", "bpf_loop helper", true, ST_OK, "supported");
	} else if (r == 0) {
		c = add("kernel", "bpf_loop helper", true, ST_MISSING, "unknown to this kernel");
		set_fix(c, "kernel < 5.17: the TC fan-out loops with bpf_loop; use a newer kernel");
	} else {
		c = add("kernel", "bpf_loop helper", true, ST_NA, "cannot probe: %s", strerror(-r));
	}
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PROG_ARRAY, NULL);
	if (r == 1) {
		add("kernel", "program array (tail calls)", true, ST_OK, "supported");
	} else if (r == 0) {
		c = add("kernel", "program array (tail calls)", true, ST_MISSING, "not supported");
		set_fix(c, "use a kernel with tail calls (any kernel >= 4.2 has them)");
	} else {
		add("kernel", "program array (tail calls)", true, ST_NA, "cannot probe: %s",
		    strerror(-r));
	}
}

/* Does the kernel charge BPF memory to the memory cgroup (5.11+) or to
 * RLIMIT_MEMLOCK? A child lowers its own limit to nothing and creates a map. */
static void check_memlock(void)
{
	struct rlimit rl = {};
	struct check *c;
	int status = 0;
	pid_t pid;

	getrlimit(RLIMIT_MEMLOCK, &rl);
	pid = fork();
	if (pid == 0) {
		struct rlimit zero = {};
		int fd;

		setrlimit(RLIMIT_MEMLOCK, &zero);
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sgp_memlock", 4, 4096, 64, NULL);
		_exit(fd >= 0 ? 0 : errno == EPERM ? 1 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 2) {
		add("kernel", "BPF memory accounting", true, ST_NA, "could not be tested");
		return;
	}
	if (WEXITSTATUS(status) == 0) {
		add("kernel", "BPF memory accounting", true, ST_OK,
		    "memory cgroup (kernel >= 5.11): RLIMIT_MEMLOCK does not matter");
	} else if (rl.rlim_cur == RLIM_INFINITY) {
		add("kernel", "BPF memory accounting", true, ST_OK,
		    "RLIMIT_MEMLOCK (kernel < 5.11), which is unlimited");
	} else if (has_cap(CAP_SYS_RESOURCE)) {
		add("kernel", "BPF memory accounting", true, ST_OK,
		    "RLIMIT_MEMLOCK (kernel < 5.11), %llu KiB, raised by libbpf (CAP_SYS_RESOURCE)",
		    (unsigned long long)rl.rlim_cur / 1024);
	} else {
		c = add("kernel", "BPF memory accounting", true, ST_MISSING,
			"RLIMIT_MEMLOCK (kernel < 5.11) is only %llu KiB; the maps need several MiB",
			(unsigned long long)rl.rlim_cur / 1024);
		set_fix(c, "raise RLIMIT_MEMLOCK: ulimit -l unlimited, LimitMEMLOCK=infinity in a "
			"systemd unit, or a memlock line in /etc/security/limits.conf; or use a "
			"kernel >= 5.11");
	}
}

/* ------------------------------------------------------------ the child: load and attach */

struct step {
	int err;		/* 0, or a negative errno */
	int done;		/* the step ran */
	char msg[256];
};

struct child_result {
	struct step load, ns, veth, xdp, tcx, clsact, detach;
	int nprogs;
	long load_ms;
	int xdp_mode;		/* XDP_ATTACHED_DRV or _SKB */
	/* Programs and links this child made, for the tests to check that
	 * none outlives the probe. */
	uint32_t prog_ids[MAX_IDS], link_ids[4];
	int nprog_ids, nlink_ids;
};

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
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
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

/* rtnetlink, just enough for one veth pair. */
struct nl_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[512];
};

static struct rtattr *nl_attr(struct nlmsghdr *nh, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)nh + nh->nlmsg_len - (char *)nest);
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

static int veth_create(const char *a, const char *b)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_NEWLINK, .nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP },
	};
	struct rtattr *linkinfo, *data, *peer;
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };

	nl_attr(&req.nh, IFLA_IFNAME, a, strlen(a) + 1);
	linkinfo = nl_attr(&req.nh, IFLA_LINKINFO, NULL, 0);
	nl_attr(&req.nh, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(&req.nh, IFLA_INFO_DATA, NULL, 0);
	peer = nl_attr(&req.nh, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi));
	nl_attr(&req.nh, IFLA_IFNAME, b, strlen(b) + 1);
	nl_nest_end(&req.nh, peer);
	nl_nest_end(&req.nh, data);
	nl_nest_end(&req.nh, linkinfo);
	return nl_talk(&req.nh);
}

static int link_set_up(int ifindex)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_NEWLINK },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP,
			 .ifi_change = IFF_UP },
	};

	return nl_talk(&req.nh);
}

static int link_delete(int ifindex)
{
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_DELLINK },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};

	return nl_talk(&req.nh);
}

static void child_attach(struct sgbpf_bpf *skel, struct child_result *r)
{
	int ifindex, peer, err, prog_fd = bpf_program__fd(skel->progs.sg_scatter), tcx_fd;
	LIBBPF_OPTS(bpf_xdp_query_opts, xq);
	struct bpf_link *xdp = NULL;
	struct bpf_tc_hook hook = { .sz = sizeof(hook), .attach_point = BPF_TC_EGRESS };
	struct bpf_tc_opts tco = { .sz = sizeof(tco), .prog_fd = prog_fd };
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
	tcx_fd = bpf_link_create(prog_fd, ifindex, PROBE_TCX_EGRESS, NULL);
	if (tcx_fd >= 0) {
		add_link_id(r, tcx_fd);
		step_set(&r->tcx, 0, "bpf_link_create(BPF_TCX_EGRESS)");
		close(tcx_fd);
	} else {
		step_set(&r->tcx, tcx_fd, "bpf_link_create(BPF_TCX_EGRESS): %s", strerror(-tcx_fd));
	}
	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		step_set(&r->clsact, err, "bpf_tc_hook_create(clsact): %s", strerror(-err));
	} else {
		err = bpf_tc_attach(&hook, &tco);
		if (err) {
			step_set(&r->clsact, err, "bpf_tc_attach: %s", strerror(-err));
		} else {
			step_set(&r->clsact, 0, "bpf_tc_hook_create + bpf_tc_attach");
			/* Only our filter, as the library does on destroy. */
			tco.prog_fd = tco.prog_id = tco.flags = 0;
			err = bpf_tc_detach(&hook, &tco);
			if (err)
				step_set(&r->detach, err, "bpf_tc_detach: %s", strerror(-err));
		}
		/* Here the hook is ours alone (our namespace, our veth). */
		bpf_tc_hook_destroy(&hook);
	}

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

static struct child_result child;
static bool attach_tested;
static bool internal_error;	/* the child gave no answer: exit status 2 */

static void report_child(void)
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

/* ------------------------------------------------------------ io_uring */

#define URING_NBUFS 8
#define URING_BUFSZ 256
#define URING_BGID 1

static bool uring_ok;

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

static void check_io_uring(void)
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

/* ------------------------------------------------------------ output */

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const char *const transport_names[] = { "auto", "ebpf", "io_uring", "epoll", "naive" };

static bool known_transport(const char *s)
{
	for (size_t i = 0; i < sizeof(transport_names) / sizeof(transport_names[0]); i++)
		if (!strcmp(s, transport_names[i]))
			return true;
	return false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sgbpf-probe [-q] [--json] [-v] [-h]\n"
		"Tell whether this kernel and these privileges can run sgbpf's eBPF transport,\n"
		"check by check, what to do about each failure, and which transport\n"
		"SG_TRANSPORT_AUTO would pick. Nothing is left behind: loading and attaching\n"
		"happen in a child process, in a network namespace of its own.\n"
		"\n"
		"  -q, --quiet    print the verdict line only\n"
		"      --json     print one JSON object\n"
		"  -v, --verbose  also print libbpf's messages (the verifier log) to stderr\n"
		"  -h, --help     this help\n"
		"\n"
		"Exit status: 0 the eBPF transport is usable, 1 it is not (the library falls\n"
		"back to io_uring or epoll), 2 usage or internal error.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *env = getenv("SG_TRANSPORT"), *fallback, *autopick, *group = NULL;
	char reason[400] = "", auto_note[160] = "";
	bool ebpf_ok = true;
	struct utsname u = {};
	int opt, status;

	while ((opt = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q': opt_quiet = true; break;
		case 'j': opt_json = true; break;
		case 'v': opt_verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sgbpf-probe: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* A reader that goes away must not kill us with children running. */
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(print_libbpf);
	uname(&u);

	check_privileges();
	check_bpf_syscall();
	check_jit();
	check_btf();
	if (bpf_usable) {
		check_ringbuf();
		check_mmapable();
		check_spin_lock();
		check_helpers();
		check_memlock();
	} else {
		static const char *const names[] = {
			"BPF ring buffer map", "BPF_F_MMAPABLE array (mmap)",
			"bpf_spin_lock in map values (BTF)", "bpf_loop helper",
			"program array (tail calls)", "BPF memory accounting",
		};

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			add("kernel", names[i], true, ST_NA, "not tested: bpf() is not usable");
	}
	report_child();
	check_io_uring();

	/* The verdict: every required check that ran passed. Missing
	 * capabilities come first as the reason: they explain the rest. */
	for (int i = 0; i < nchecks; i++) {
		if (!checks[i].required || checks[i].st != ST_MISSING)
			continue;
		if (ebpf_ok && !strncmp(checks[i].name, "CAP_", 4)) {
			char caps[64] = "";

			/* Every missing one, not just the first. */
			for (int j = i; j < nchecks; j++)
				if (!strncmp(checks[j].name, "CAP_", 4) && checks[j].required &&
				    checks[j].st == ST_MISSING)
					snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps),
						 "%s%s", caps[0] ? ", " : "", checks[j].name);
			snprintf(reason, sizeof(reason), "missing capabilit%s %s: run as root or "
				 "grant %s with setcap", strchr(caps, ',') ? "ies" : "y", caps,
				 strchr(caps, ',') ? "them" : "it");
		} else if (ebpf_ok) {
			snprintf(reason, sizeof(reason), "%s: %s", checks[i].name, checks[i].detail);
		}
		ebpf_ok = false;
	}
	if (!ebpf_ok && !reason[0])
		snprintf(reason, sizeof(reason), "see the checks above");
	status = internal_error ? 2 : ebpf_ok ? 0 : 1;
	fallback = uring_ok ? "io_uring" : "epoll";
	autopick = ebpf_ok ? "ebpf" : fallback;
	if (env && *env) {
		if (known_transport(env) && strcmp(env, "auto")) {
			snprintf(auto_note, sizeof(auto_note), "SG_TRANSPORT=%s overrides the choice",
				 env);
			autopick = env;
		} else if (strcmp(env, "auto")) {
			snprintf(auto_note, sizeof(auto_note), "SG_TRANSPORT=%s is not a transport: "
				 "sg_comm_create fails with -EINVAL", env);
			autopick = "none";
		}
	}

	if (opt_json) {
		printf("{\"probe\":\"sgbpf-probe\",\"version\":");
		json_str(PACKAGE_VERSION);
		printf(",\"kernel\":");
		json_str(u.release);
		printf(",\"machine\":");
		json_str(u.machine);
		printf(",\"uid\":%u,\"checks\":[", (unsigned int)geteuid());
		for (int i = 0; i < nchecks; i++) {
			printf("%s{\"group\":", i ? "," : "");
			json_str(checks[i].group);
			printf(",\"name\":");
			json_str(checks[i].name);
			printf(",\"status\":\"%s\",\"required\":%s,\"detail\":", st_name[checks[i].st],
			       checks[i].required ? "true" : "false");
			json_str(checks[i].detail);
			printf(",\"fix\":");
			if (checks[i].fix[0])
				json_str(checks[i].fix);
			else
				fputs("null", stdout);
			putchar('}');
		}
		printf("],\"ebpf_available\":%s,\"reason\":", ebpf_ok ? "true" : "false");
		if (ebpf_ok)
			fputs("null", stdout);
		else
			json_str(reason);
		printf(",\"attach_tested\":%s,\"fallback\":\"%s\",\"auto_transport\":",
		       attach_tested ? "true" : "false", fallback);
		json_str(autopick);
		printf(",\"auto_note\":");
		if (auto_note[0])
			json_str(auto_note);
		else
			fputs("null", stdout);
		/* Ids of the programs and links the probe made (all gone now): the
		 * tests check that none survived. */
		printf(",\"prog_ids\":[");
		for (int i = 0; i < child.nprog_ids; i++)
			printf("%s%u", i ? "," : "", child.prog_ids[i]);
		printf("],\"link_ids\":[");
		for (int i = 0; i < child.nlink_ids; i++)
			printf("%s%u", i ? "," : "", child.link_ids[i]);
		printf("],\"exit_status\":%d}\n", status);
		return status;
	}

	if (!opt_quiet) {
		const char *last_fix = "";

		printf("sgbpf-probe %s: kernel %s %s, euid %u\n", PACKAGE_VERSION, u.release,
		       u.machine, (unsigned int)geteuid());
		for (int i = 0; i < nchecks; i++) {
			const struct check *c = &checks[i];

			if (!group || strcmp(group, c->group))
				printf("\n%s\n", group = c->group);
			printf("  %-40s %-7s %s\n", c->name, st_name[c->st], c->detail);
			/* The same advice again would only be noise. */
			if (c->fix[0])
				printf("  %-40s   fix: %s\n", "",
				       strcmp(c->fix, last_fix) ? c->fix : "the same as above");
			if (c->fix[0])
				last_fix = c->fix;
		}
		putchar('\n');
	}
	if (ebpf_ok)
		printf("eBPF transport: available%s\n", attach_tested ? "" :
		       " (attachment not tested: no throw-away namespace)");
	else
		printf("eBPF transport: NOT available — sg_comm_create will fall back to %s (%s)\n",
		       fallback, reason);
	if (!opt_quiet)
		printf("AUTO transport: %s%s%s%s\n", autopick, auto_note[0] ? " (" : "", auto_note,
		       auto_note[0] ? ")" : "");
	return status;
}
