/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * netlab: a throw-away network of namespaces for the integration tests and the
 * demo. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2's `ip`.
 *
 *   coordinator ns "<prefix><pid>c"       sg0 10.77.0.1/16
 *        |  veth (peer "sgc" in the switch)
 *   switch ns "<prefix><pid>s"            bridge "sgbr" (no STP, no snooping)
 *        |  veth (peer "sgw<i>" in the switch)
 *   worker ns "<prefix><pid>w<i>"         sg0 10.77.1.(i+1)/16
 *
 * A second lab created while the first is alive gets "<prefix><pid>-<n>" names.
 * All links are up with MTU 1500; IPv6 is disabled in every namespace so that
 * no MLD/ND traffic reaches the programs under test.
 *
 * Cleanup: netlab_destroy(), or, if the process forgets or dies, an atexit
 * handler, handlers for the signals that end a process by default (SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL; installed only where the disposition is the default; they clean up
 * and re-raise), and a watchdog process per lab that deletes the namespaces
 * once the creator is gone, even after SIGKILL. tests/lab/netlab-cleanup.sh
 * removes leftovers by name.
 *
 * Not thread-safe: create, spawn, wait and destroy from one thread.
 */
#ifndef SGBPF_NETLAB_H
#define SGBPF_NETLAB_H

#include <stddef.h>
#include <sys/types.h>
#include <netinet/in.h>

#define NETLAB_MAX_WORKER_NS	250
#define NETLAB_SUBNET		77	/* addresses are 10.77.0.0/16 in every lab */
#define NETLAB_PREFIX_LEN	16
#define NETLAB_IFNAME		"sg0"	/* the link of the coordinator and of each worker */
#define NETLAB_MAX_PREFIX	8	/* characters of netlab_opts::prefix */
#define NETLAB_MAX_CHILDREN	1024	/* live children of netlab_spawn() per lab */

/* Namespace selectors; values >= 0 are worker namespaces. */
#define NETLAB_COORD	(-1)
#define NETLAB_SWITCH	(-2)

struct netlab_opts {
	size_t sz;		/* sizeof(struct netlab_opts) */
	const char *prefix;	/* 1..NETLAB_MAX_PREFIX chars of [a-z0-9], e.g. "sgt" */
	int nworker_ns;		/* 0..NETLAB_MAX_WORKER_NS */
	/* Keep veth's TX checksum offload. By default it is turned off on
	 * every sg0 so that every datagram carries a full UDP checksum, as on
	 * a physical wire: an XDP program sees real checksums, and a receiver
	 * drops (UdpInCsumErrors) what a TC program rewrote without fixing the
	 * checksum. With offload, sockets send CHECKSUM_PARTIAL packets whose
	 * checksum field holds only the pseudo-header sum, and receivers in
	 * the lab trust them without checking. */
	int csum_offload;
	/* MTU of every link (both ends of each veth; the bridge follows);
	 * 0: the environment's NETLAB_MTU, else 1500. */
	int mtu;
};

struct netlab;

/*
 * 1 if this process can build labs (root, `ip` found, a probe namespace could
 * be created and deleted); else 0 and the reason in @why. Tests skip (exit 77)
 * on 0.
 */
int netlab_can_run(char *why, size_t len);

/*
 * Build a lab. On failure everything built so far is removed, the failed `ip`
 * command and its output are printed to stderr, and -errno is returned
 * (-EINVAL bad options, -EPERM, -ENOENT no `ip`, -ETIMEDOUT `ip` hung, ...).
 * The calling thread's network namespace is recorded as the "original" one.
 */
int netlab_create(const struct netlab_opts *opts, struct netlab **out);

/*
 * SIGTERM every live child, SIGKILL those still alive after 2 s, reap them,
 * return the calling thread to the original namespace and delete every
 * namespace of the lab (which deletes the veths and the bridge). Sockets still
 * open in a namespace (an sg_comm, say) keep it alive until closed: destroy
 * those first. NULL is allowed.
 */
void netlab_destroy(struct netlab *lab);

int netlab_nworker_ns(const struct netlab *lab);

/* Name of namespace @ns (NETLAB_COORD, NETLAB_SWITCH or a worker index), for
 * `ip -n NAME ...`; NULL if out of range. */
const char *netlab_ns_name(const struct netlab *lab, int ns);

/* setns() the calling thread into namespace @ns / the coordinator's. */
int netlab_enter(struct netlab *lab, int ns);
int netlab_enter_coordinator(struct netlab *lab);
/* Return the calling thread to the namespace it was in at netlab_create(). */
int netlab_leave(struct netlab *lab);

const char *netlab_coordinator_ifname(const struct netlab *lab);	/* "sg0" */
struct in_addr netlab_coordinator_addr(const struct netlab *lab);	/* 10.77.0.1 */
/* 10.77.1.(i+1); INADDR_ANY if @i is out of range. */
struct in_addr netlab_worker_addr(const struct netlab *lab, int i);

/*
 * Fork a child that dies with the parent thread (PR_SET_PDEATHSIG, SIGKILL),
 * gets default signal dispositions, enters namespace @ns and exits with
 * fn(arg): 0..255 as is, a negative errno as its absolute value (at most
 * 255), anything else as 255. stdio is flushed before the fork and in the
 * child before it exits. Returns the pid or -errno.
 */
pid_t netlab_spawn(struct netlab *lab, int ns, int (*fn)(void *arg), void *arg);

/*
 * Wait up to @timeout_ms (negative: forever) for child @pid of netlab_spawn()
 * to exit and reap it. Returns its exit status (0..255), 128 + the signal that
 * killed it, -ETIMEDOUT (still running), or -ECHILD (not a live child of @lab).
 */
int netlab_wait(struct netlab *lab, pid_t pid, int timeout_ms);

#endif /* SGBPF_NETLAB_H */
