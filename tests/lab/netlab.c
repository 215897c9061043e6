// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * netlab: namespaces, veths and a bridge for the tests and the demo.
 *
 * Namespaces are created and links configured by iproute2 (`ip -batch`, one
 * run for every namespace, each bounded in time); namespaces are deleted here
 * directly (unmount + unlink of /run/netns/NAME, what `ip netns del` does),
 * which is async-signal-safe and so can run in the crash handlers and in the
 * watchdog.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netlab.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NETNS_DIR	"/run/netns"
#define NSNAME_MAX	40
#define NSPATH_MAX	(sizeof(NETNS_DIR "/") + NSNAME_MAX)
#define MAX_LABS	16	/* live labs per process */
#define IP_TIMEOUT_MS	30000	/* one `ip -batch` run */
#define IP_OUT_MAX	4096	/* output of `ip` kept for the error message */
#define TERM_GRACE_MS	2000	/* SIGTERM -> SIGKILL in netlab_destroy() */

struct netlab {
	pid_t owner;		/* only the creating process cleans up */
	int slot;		/* index in registry[], part of the names */
	int nworker;
	int nns;		/* nworker + 2 */
	int csum_offload;
	int mtu;
	int orig_fd;		/* netns of the creating thread */
	int wd_fd;		/* write end of the watchdog's pipe */
	pid_t wd_pid;
	char (*path)[NSPATH_MAX]; /* [0] coordinator, [1] switch, [2 + i] worker i */
	volatile pid_t child[NETLAB_MAX_CHILDREN]; /* 0: free */
};

/* Read by the signal handlers without locks: entries are published with
 * atomic stores once the lab is fully initialised (names included). */
static struct netlab *registry[MAX_LABS];

/* Signals whose default action ends the process. */
static const int cleanup_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM,
				    SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
static struct sigaction old_act[NSIG];
static int handlers_installed;

static char ip_path[64];

static const char *ns_name_of(const struct netlab *lab, int idx)
{
	return lab->path[idx] + sizeof(NETNS_DIR);
}

/* NETLAB_COORD -> 0, NETLAB_SWITCH -> 1, worker i -> 2 + i; -1 if invalid. */
static int ns_index(const struct netlab *lab, int ns)
{
	if (ns == NETLAB_COORD)
		return 0;
	if (ns == NETLAB_SWITCH)
		return 1;
	if (ns >= 0 && ns < lab->nworker)
		return 2 + ns;
	return -1;
}

/* ------------------------------------------------------------------ cleanup */

/* What `ip netns del` does. Async-signal-safe. */
static void del_ns_path(const char *path)
{
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* Kill the children and delete the namespaces of every lab this process
 * created. Async-signal-safe: used by the crash handlers and atexit. */
static void cleanup_all(void)
{
	pid_t self = getpid();

	for (int s = 0; s < MAX_LABS; s++) {
		struct netlab *lab = __atomic_load_n(&registry[s], __ATOMIC_ACQUIRE);

		if (!lab || lab->owner != self)
			continue;
		for (int i = 0; i < NETLAB_MAX_CHILDREN; i++)
			if (lab->child[i] > 0)
				kill(lab->child[i], SIGKILL);
		for (int i = 0; i < lab->nns; i++)
			del_ns_path(lab->path[i]);
	}
}

static void on_fatal_signal(int sig)
{
	int saved = errno;

	cleanup_all();
	/* Only installed over SIG_DFL: restore it and let the signal (pending
	 * now, blocked while we run) take its default action on return. */
	sigaction(sig, &old_act[sig], NULL);
	raise(sig);
	errno = saved;
}

static void on_exit_cleanup(void)
{
	cleanup_all();
}

static void install_handlers(void)
{
	if (handlers_installed)
		return;
	handlers_installed = 1;
	atexit(on_exit_cleanup);
	for (size_t i = 0; i < sizeof(cleanup_sigs) / sizeof(cleanup_sigs[0]); i++) {
		int sig = cleanup_sigs[i];
		struct sigaction sa = { .sa_handler = on_fatal_signal };

		/* Leave the application's own handlers (and SIG_IGN) alone; it
		 * then exits through exit() and atexit, or the watchdog. */
		if (sigaction(sig, NULL, &old_act[sig]) || old_act[sig].sa_handler != SIG_DFL ||
		    (old_act[sig].sa_flags & SA_SIGINFO))
			continue;
		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, NULL);
	}
}

/* In a freshly forked child: default dispositions, nothing blocked, and no
 * write end of any watchdog pipe (which would keep that watchdog waiting). */
static void child_reset(void)
{
	sigset_t none;

	for (size_t i = 0; i < sizeof(cleanup_sigs) / sizeof(cleanup_sigs[0]); i++)
		signal(cleanup_sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 0; s < MAX_LABS; s++) {
		struct netlab *lab = __atomic_load_n(&registry[s], __ATOMIC_ACQUIRE);

		if (lab && lab->wd_fd >= 0)
			close(lab->wd_fd);
	}
}

/*
 * The watchdog deletes the lab's namespaces once the write end of its pipe is
 * closed everywhere, i.e. when the creator (and its children, which die with
 * it) are gone, however they died. Its own session keeps it out of process
 * group kills (Ctrl-C, a test runner's kill of the group) and its own name out
 * of kills by name (but `pkill -f` still matches its command line).
 */
static int start_watchdog(struct netlab *lab)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		char c;
		ssize_t n;

		for (size_t i = 0; i < sizeof(cleanup_sigs) / sizeof(cleanup_sigs[0]); i++)
			signal(cleanup_sigs[i], SIG_DFL);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		setsid();
		/* Not matched by `pkill NAME` / `killall NAME` of the creator. */
		prctl(PR_SET_NAME, "netlab-watchdog");
		if (p[0] != 3) {
			dup2(p[0], 3);
			p[0] = 3;
		}
		/* Hold no other descriptor: not the other labs' pipes, not the
		 * application's sockets or pipes. */
		if (syscall(SYS_close_range, 4, ~0U, 0))
			for (int fd = 4; fd < 1024; fd++)
				close(fd);
		close(0);
		close(1);
		do
			n = read(p[0], &c, 1);
		while (n > 0 || (n < 0 && errno == EINTR));
		for (int i = 0; i < lab->nns; i++)
			del_ns_path(lab->path[i]);
		_exit(0);
	}
	close(p[0]);
	lab->wd_fd = p[1];
	lab->wd_pid = pid;
	return 0;
}

/* Reap @pid, waiting up to @ms for it to exit. 1 if reaped (*status set) or
 * no longer our child (*status = -1), 0 if still running. */
static int reap(pid_t pid, int ms, int *status)
{
	struct timespec step = { 0, 1000000 };

	for (int waited = 0;; waited++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR) {
			*status = -1;
			return 1;
		}
		if (r == 0 && waited >= ms)
			return 0;
		nanosleep(&step, NULL);
	}
}

/* --------------------------------------------------------------- running ip */

static int find_ip(void)
{
	static const char *const cand[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
	const char *path;

	if (ip_path[0])
		return 0;
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		if (!access(cand[i], X_OK)) {
			snprintf(ip_path, sizeof(ip_path), "%s", cand[i]);
			return 0;
		}
	}
	path = getenv("PATH");
	while (path && *path) {
		const char *end = strchrnul(path, ':');
		char buf[sizeof(ip_path)];
		int n = snprintf(buf, sizeof(buf), "%.*s/ip", (int)(end - path), path);

		if (end > path && n < (int)sizeof(buf) && !access(buf, X_OK)) {
			memcpy(ip_path, buf, sizeof(buf));
			return 0;
		}
		path = *end ? end + 1 : end;
	}
	return -ENOENT;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* iproute2 prints strerror() of the netlink error; map it back. */
static int errno_from_output(const char *out)
{
	if (strstr(out, "Cannot find device"))
		return -ENODEV;
	for (int e = 1; e < 134; e++) {
		const char *s = strerror(e);

		if (strncmp(s, "Unknown error", 13) && strstr(out, s))
			return -e;
	}
	return -EIO;
}

/* The text of line @n (1-based) of @batch, for the error message. */
static void batch_line(const char *batch, long n, char *buf, size_t len)
{
	const char *p = batch;

	while (--n > 0 && (p = strchr(p, '\n')))
		p++;
	if (!p || !*p) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%.*s", (int)(strchrnul(p, '\n') - p), p);
}

/*
 * Run `ip [-n NS] -batch -` on @batch (stdin from a memfd, so any size works),
 * bounded by IP_TIMEOUT_MS. On failure print the failing command and the
 * output of ip to stderr and return -errno.
 */
static int run_ip(const char *ns, const char *batch)
{
	static char *const envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char *argv[6];
	char out[IP_OUT_MAX];
	size_t outlen = 0, blen = strlen(batch);
	posix_spawn_file_actions_t fa;
	int in = -1, pipefd[2] = { -1, -1 }, status = 0, err;
	long deadline = now_ms() + IP_TIMEOUT_MS, left;
	char line[256] = "?";
	const char *cf;
	pid_t pid;
	int a = 0;

	err = find_ip();
	if (err) {
		fprintf(stderr, "netlab: iproute2 'ip' not found\n");
		return err;
	}
	argv[a++] = "ip";
	if (ns) {
		argv[a++] = "-n";
		argv[a++] = (char *)ns;
	}
	argv[a++] = "-batch";
	argv[a++] = "-";
	argv[a] = NULL;

	in = memfd_create("netlab-batch", MFD_CLOEXEC);
	if (in < 0)
		return -errno;
	for (size_t off = 0; off < blen;) {
		ssize_t n = write(in, batch + off, blen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			close(in);
			return err;
		}
		off += n;
	}
	if (lseek(in, 0, SEEK_SET) < 0 || pipe2(pipefd, O_CLOEXEC)) {
		err = -errno;
		close(in);
		return err;
	}
	err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (!err)
		err = posix_spawn(&pid, ip_path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(in);
	close(pipefd[1]);
	if (err) {
		close(pipefd[0]);
		fprintf(stderr, "netlab: cannot run %s: %s\n", ip_path, strerror(err));
		return -err;
	}

	/* Collect the output until EOF or the deadline. */
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		char tmp[512];
		ssize_t n;

		left = deadline - now_ms();
		if (left <= 0)
			break;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = read(pipefd[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (outlen < sizeof(out) - 1) {
			size_t k = (size_t)n < sizeof(out) - 1 - outlen ? (size_t)n :
									  sizeof(out) - 1 - outlen;

			memcpy(out + outlen, tmp, k);
			outlen += k;
		}
	}
	out[outlen] = '\0';
	close(pipefd[0]);

	left = deadline - now_ms();
	if (!reap(pid, left > 0 ? (int)left : 0, &status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "netlab: 'ip%s%s -batch' timed out after %d ms\n%s", ns ? " -n " : "",
			ns ? ns : "", IP_TIMEOUT_MS, out);
		return -ETIMEDOUT;
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	/* ip -batch stops at the first error and says "Command failed -:N". */
	cf = strstr(out, "Command failed -:");
	if (cf)
		batch_line(batch, strtol(cf + 17, NULL, 10), line, sizeof(line));
	fprintf(stderr, "netlab: 'ip%s%s': '%s' failed (%s %d):\n%s", ns ? " -n " : "",
		ns ? ns : "", line,
		status == -1 ? "lost" : WIFEXITED(status) ? "exit" : "signal",
		status == -1 ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		out);
	return errno_from_output(out);
}

/* A growing string for building batches. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->err)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->p ? sb->p + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			sb->len += n;
			return;
		}

		size_t cap = sb->cap ? sb->cap * 2 : 4096;
		char *p;

		while (cap < sb->len + n + 1)
			cap *= 2;
		p = realloc(sb->p, cap);
		if (!p) {
			sb->err = -ENOMEM;
			return;
		}
		sb->p = p;
		sb->cap = cap;
	}
}

/* ---------------------------------------------------------- per-namespace */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* No IPv6 at all: a bridge or veth that comes up otherwise sends MLD reports,
 * which the programs under test would see and count. Before any link exists
 * so that new links inherit "default". */
static int ns_disable_ipv6(struct netlab *lab, int idx)
{
	int err = write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");

	if (!err)
		err = write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	if (err == -ENOENT) /* kernel without IPv6 */
		err = 0;
	if (err)
		fprintf(stderr, "netlab: %s: disable_ipv6: %s\n", ns_name_of(lab, idx),
			strerror(-err));
	return err;
}

/* The switch runs no firewall: where br_netfilter is in the kernel, bridged
 * frames go through the iptables hooks while either this namespace's sysctl
 * or the bridge's own option asks for it, and the sysctl defaults to on. */
static int ns_no_bridge_netfilter(struct netlab *lab, int idx)
{
	static const char *const knobs[] = {
		"/proc/sys/net/bridge/bridge-nf-call-iptables",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables",
		"/proc/sys/net/bridge/bridge-nf-call-arptables",
	};
	int err = 0;

	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]) && !err; i++) {
		err = write_file(knobs[i], "0");
		if (err == -ENOENT) /* no br_netfilter: nothing to turn off */
			err = 0;
	}
	if (err)
		fprintf(stderr, "netlab: %s: bridge netfilter: %s\n", ns_name_of(lab, idx),
			strerror(-err));
	return err;
}

/* TX checksum offload off on sg0: see netlab_opts::csum_offload. (RX
 * offload makes no difference: a veth never marks packets as verified.) */
static int ns_csum_offload_off(struct netlab *lab, int idx)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr = { .ifr_data = (void *)&ev };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NETLAB_IFNAME);
	if (ioctl(fd, SIOCETHTOOL, &ifr)) {
		err = -errno;
		fprintf(stderr, "netlab: %s: tx checksum offload off on %s: %s\n",
			ns_name_of(lab, idx), NETLAB_IFNAME, strerror(-err));
	}
	close(fd);
	return err;
}

/* Run @fn with the calling thread in namespace @idx, then come back. */
static int in_ns(struct netlab *lab, int idx, int (*fn)(struct netlab *, int))
{
	int fd = open(lab->path[idx], O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	err = fn(lab, idx);
	if (setns(lab->orig_fd, CLONE_NEWNET)) {
		/* Stuck in the lab: nothing sensible can follow. */
		err = -errno;
		fprintf(stderr, "netlab: cannot return to the original netns: %s\n",
			strerror(-err));
	}
	return err;
}

/* ------------------------------------------------------------------- API */

int netlab_can_run(char *why, size_t len)
{
	char name[NSNAME_MAX], path[NSPATH_MAX], batch[NSNAME_MAX + 16];
	int err;

	if (!why)
		len = 0;
	if (geteuid() != 0) {
		snprintf(why, len, "not root (network namespaces need CAP_SYS_ADMIN)");
		return 0;
	}
	if (find_ip()) {
		snprintf(why, len, "iproute2 'ip' not found");
		return 0;
	}
	snprintf(name, sizeof(name), "sgtprobe%d", (int)getpid());
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	snprintf(batch, sizeof(batch), "netns add %s\n", name);
	del_ns_path(path);
	err = run_ip(NULL, batch);
	del_ns_path(path);
	if (err) {
		snprintf(why, len, "'ip netns add' failed: %s", strerror(-err));
		return 0;
	}
	if (!access(path, F_OK)) {
		snprintf(why, len, "cannot delete %s", path);
		return 0;
	}
	return 1;
}

static int build(struct netlab *lab)
{
	struct sbuf sb = { 0 };
	int err = 0;

	/* Leftovers with our names are from a dead process that had our pid. */
	for (int i = 0; i < lab->nns; i++) {
		if (!access(lab->path[i], F_OK)) {
			fprintf(stderr, "netlab: removing stale namespace %s\n", ns_name_of(lab, i));
			del_ns_path(lab->path[i]);
		}
	}

	for (int i = 0; i < lab->nns; i++)
		sb_printf(&sb, "netns add %s\n", ns_name_of(lab, i));
	err = sb.err ? sb.err : run_ip(NULL, sb.p);
	for (int i = 0; i < lab->nns && !err; i++)
		err = in_ns(lab, i, ns_disable_ipv6);
	if (err)
		goto out;

	/* The switch: the bridge, and every veth pair created from here with
	 * its other end (sg0) directly in the coordinator or worker ns, so
	 * that names need only be unique per namespace. No bridge netfilter
	 * (see ns_no_bridge_netfilter()). */
	sb.len = 0;
	sb_printf(&sb, "link set lo up\n"
		       "link add sgbr type bridge forward_delay 0 stp_state 0 mcast_snooping 0 "
		       "nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0\n"
		       "link set sgbr up\n");
	for (int i = 0; i <= lab->nworker; i++) {
		char port[IFNAMSIZ];

		if (i == 0)
			snprintf(port, sizeof(port), "sgc");
		else
			snprintf(port, sizeof(port), "sgw%d", i - 1);
		sb_printf(&sb,
			  "link add %s mtu %d type veth peer name %s mtu %d netns %s\n"
			  "link set %s master sgbr\n"
			  "link set %s up\n",
			  port, lab->mtu, NETLAB_IFNAME, lab->mtu, ns_name_of(lab, i == 0 ? 0 : i + 1),
			  port, port);
	}
	err = sb.err ? sb.err : run_ip(ns_name_of(lab, 1), sb.p);
	if (!err)
		err = in_ns(lab, 1, ns_no_bridge_netfilter);

	for (int i = -1; i < lab->nworker && !err; i++) {
		struct in_addr a = i < 0 ? netlab_coordinator_addr(lab) : netlab_worker_addr(lab, i);
		int idx = i < 0 ? 0 : i + 2;

		sb.len = 0;
		sb_printf(&sb,
			  "link set lo up\n"
			  "addr add %s/%d dev %s\n"
			  "link set %s up\n",
			  inet_ntoa(a), NETLAB_PREFIX_LEN, NETLAB_IFNAME, NETLAB_IFNAME);
		err = sb.err ? sb.err : run_ip(ns_name_of(lab, idx), sb.p);
		if (!err && !lab->csum_offload)
			err = in_ns(lab, idx, ns_csum_offload_off);
	}
out:
	free(sb.p);
	return err;
}

static void unregister(struct netlab *lab)
{
	if (lab->slot >= 0)
		__atomic_store_n(&registry[lab->slot], NULL, __ATOMIC_RELEASE);
}

int netlab_create(const struct netlab_opts *uopts, struct netlab **out)
{
	struct netlab_opts o = { 0 };
	struct netlab *lab;
	size_t n;
	int err, slot = -1;

	if (!uopts || !out || uopts->sz < sizeof(size_t))
		return -EINVAL;
	memcpy(&o, uopts, uopts->sz < sizeof(o) ? uopts->sz : sizeof(o));
	*out = NULL;
	if (!o.prefix || !*o.prefix || strlen(o.prefix) > NETLAB_MAX_PREFIX ||
	    strspn(o.prefix, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(o.prefix) ||
	    o.nworker_ns < 0 || o.nworker_ns > NETLAB_MAX_WORKER_NS) {
		fprintf(stderr, "netlab: bad options (prefix 1..%d chars of [a-z0-9], 0..%d "
				"worker namespaces)\n", NETLAB_MAX_PREFIX, NETLAB_MAX_WORKER_NS);
		return -EINVAL;
	}
	for (int s = 0; s < MAX_LABS && slot < 0; s++)
		if (!registry[s])
			slot = s;
	if (slot < 0)
		return -EMFILE;

	lab = calloc(1, sizeof(*lab));
	if (!lab)
		return -ENOMEM;
	lab->owner = getpid();
	lab->slot = -1;
	lab->nworker = o.nworker_ns;
	lab->nns = o.nworker_ns + 2;
	lab->csum_offload = o.csum_offload;
	/* The benchmarks take every lab to jumbo frames at once (bench/README.md). */
	if (!o.mtu && getenv("NETLAB_MTU"))
		o.mtu = atoi(getenv("NETLAB_MTU"));
	if (o.mtu && (o.mtu < 576 || o.mtu > 65535)) {
		free(lab);
		return -EINVAL;
	}
	lab->mtu = o.mtu ? o.mtu : 1500;
	lab->wd_fd = -1;
	lab->orig_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	lab->path = calloc(lab->nns, sizeof(*lab->path));
	if (lab->orig_fd < 0 || !lab->path) {
		err = lab->path ? -errno : -ENOMEM;
		if (lab->orig_fd >= 0)
			close(lab->orig_fd);
		free(lab->path);
		free(lab);
		return err;
	}
	for (int i = 0; i < lab->nns; i++) {
		char tag[16], seq[16] = "";

		if (i == 0)
			snprintf(tag, sizeof(tag), "c");
		else if (i == 1)
			snprintf(tag, sizeof(tag), "s");
		else
			snprintf(tag, sizeof(tag), "w%d", i - 2);
		if (slot)
			snprintf(seq, sizeof(seq), "-%d", slot);
		n = snprintf(lab->path[i], NSPATH_MAX, NETNS_DIR "/%s%d%s%s", o.prefix,
			     (int)lab->owner, seq, tag);
		if (n >= NSPATH_MAX) { /* cannot happen with the limits above */
			free(lab->path);
			close(lab->orig_fd);
			free(lab);
			return -ENAMETOOLONG;
		}
	}

	install_handlers();
	lab->slot = slot;
	__atomic_store_n(&registry[slot], lab, __ATOMIC_RELEASE);

	err = start_watchdog(lab);
	if (!err)
		err = build(lab);
	if (err) {
		netlab_destroy(lab);
		return err;
	}
	*out = lab;
	return 0;
}

void netlab_destroy(struct netlab *lab)
{
	int status, any = 0;

	if (!lab)
		return;

	/* Children: SIGTERM, a grace period, then SIGKILL. kill() only after
	 * waitpid() said the child is still ours, so never a recycled pid. */
	for (int i = 0; i < NETLAB_MAX_CHILDREN; i++) {
		pid_t pid = lab->child[i];

		if (pid <= 0)
			continue;
		if (reap(pid, 0, &status)) {
			lab->child[i] = 0;
		} else {
			kill(pid, SIGTERM);
			any = 1;
		}
	}
	for (long end = now_ms() + TERM_GRACE_MS; any && now_ms() < end;) {
		struct timespec step = { 0, 1000000 };

		any = 0;
		for (int i = 0; i < NETLAB_MAX_CHILDREN; i++) {
			if (lab->child[i] <= 0)
				continue;
			if (reap(lab->child[i], 0, &status))
				lab->child[i] = 0;
			else
				any = 1;
		}
		if (any)
			nanosleep(&step, NULL);
	}
	for (int i = 0; i < NETLAB_MAX_CHILDREN; i++) {
		pid_t pid = lab->child[i];

		if (pid <= 0)
			continue;
		if (!reap(pid, 0, &status)) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		lab->child[i] = 0;
	}

	if (lab->orig_fd >= 0) {
		if (setns(lab->orig_fd, CLONE_NEWNET))
			fprintf(stderr, "netlab: cannot return to the original netns: %s\n",
				strerror(errno));
		close(lab->orig_fd);
	}
	for (int i = 0; i < lab->nns; i++)
		del_ns_path(lab->path[i]);

	/* The namespaces are gone: the watchdog has nothing left to do. */
	if (lab->wd_fd >= 0)
		close(lab->wd_fd);
	if (lab->wd_pid > 0 && !reap(lab->wd_pid, 200, &status)) {
		kill(lab->wd_pid, SIGKILL);
		while (waitpid(lab->wd_pid, &status, 0) < 0 && errno == EINTR)
			;
	}

	unregister(lab);
	free(lab->path);
	free(lab);
}

int netlab_nworker_ns(const struct netlab *lab)
{
	return lab ? lab->nworker : 0;
}

const char *netlab_ns_name(const struct netlab *lab, int ns)
{
	int idx = lab ? ns_index(lab, ns) : -1;

	return idx < 0 ? NULL : ns_name_of(lab, idx);
}

int netlab_enter(struct netlab *lab, int ns)
{
	int idx = lab ? ns_index(lab, ns) : -1, fd, err = 0;

	if (idx < 0)
		return -EINVAL;
	fd = open(lab->path[idx], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

int netlab_enter_coordinator(struct netlab *lab)
{
	return netlab_enter(lab, NETLAB_COORD);
}

int netlab_leave(struct netlab *lab)
{
	if (!lab)
		return -EINVAL;
	return setns(lab->orig_fd, CLONE_NEWNET) ? -errno : 0;
}

const char *netlab_coordinator_ifname(const struct netlab *lab)
{
	(void)lab;
	return NETLAB_IFNAME;
}

struct in_addr netlab_coordinator_addr(const struct netlab *lab)
{
	struct in_addr a = { htonl(10u << 24 | NETLAB_SUBNET << 16 | 1) };

	(void)lab;
	return a;
}

struct in_addr netlab_worker_addr(const struct netlab *lab, int i)
{
	struct in_addr a = { htonl(INADDR_ANY) };

	if (lab && i >= 0 && i < lab->nworker)
		a.s_addr = htonl(10u << 24 | NETLAB_SUBNET << 16 | 1u << 8 | (uint32_t)(i + 1));
	return a;
}

pid_t netlab_spawn(struct netlab *lab, int ns, int (*fn)(void *arg), void *arg)
{
	int idx = lab ? ns_index(lab, ns) : -1, slot = -1, fd, err;
	pid_t parent = getpid(), pid;

	if (idx < 0 || !fn)
		return -EINVAL;
	for (int i = 0; i < NETLAB_MAX_CHILDREN && slot < 0; i++)
		if (lab->child[i] <= 0)
			slot = i;
	if (slot < 0)
		return -EAGAIN;
	/* Open in the parent so that a missing namespace is reported here. */
	fd = open(lab->path[idx], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fflush(NULL); /* or the child would write the parent's buffered output again */
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (pid == 0) {
		int ret;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* the parent died before prctl() */
			_exit(255);
		child_reset();
		if (setns(fd, CLONE_NEWNET)) {
			fprintf(stderr, "netlab: child: setns %s: %s\n", ns_name_of(lab, idx),
				strerror(errno));
			_exit(255);
		}
		close(fd);
		/* Keep nothing of the parent's: a BPF link (an attached XDP or tcx
		 * program) lives as long as any process holds an fd to it. */
		close_range(3, ~0U, 0);
		ret = fn(arg);
		fflush(NULL);
		_exit(ret >= 0 && ret <= 255 ? ret : ret < 0 && ret >= -255 ? -ret : 255);
	}
	close(fd);
	lab->child[slot] = pid;
	return pid;
}

int netlab_wait(struct netlab *lab, pid_t pid, int timeout_ms)
{
	long end = now_ms() + timeout_ms, step_us = 100;
	int slot = -1, status;

	if (!lab || pid <= 0)
		return -ECHILD;
	for (int i = 0; i < NETLAB_MAX_CHILDREN && slot < 0; i++)
		if (lab->child[i] == pid)
			slot = i;
	if (slot < 0)
		return -ECHILD;
	for (;;) {
		struct timespec ts = { 0, step_us * 1000 };
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) { /* reaped behind our back */
			lab->child[slot] = 0;
			return -ECHILD;
		}
		if (r == pid) {
			lab->child[slot] = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (timeout_ms >= 0 && now_ms() >= end)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		if (step_us < 10000)
			step_us *= 2;
	}
}
