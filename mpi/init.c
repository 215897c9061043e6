/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* MPI_Init, MPI_Init_thread and MPI_Finalize: set sgbpf up after PMPI's
 * initialization and take it down before PMPI's finalization.
 *
 * Rank 0 becomes the coordinator (an sg_comm) and every other rank a worker
 * (an sg_worker that trusts only rank 0's address and port). Rank 0 picks
 * its interface and port and broadcasts them; each worker binds the address
 * its route to rank 0 leaves from; PMPI_Allgather brings the workers'
 * addresses to rank 0, which creates the communicator with the workers in
 * rank order; its outcome is broadcast, so every rank agrees on whether
 * collectives go through sgbpf. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sgmpi.h"

#define API __attribute__((visibility("default")))

struct sgmpi_state sgmpi = { .keyval = MPI_KEYVAL_INVALID };

/* Spin before sleeping: a small collective completes within it on a busy
 * host (mpi/README.md, "Waiting"). */
#define SGMPI_SPIN_US 500

static int stats_wanted;

/* What each rank tells rank 0. */
struct endpoint {
	int32_t ok;
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	char err[118];
};

/* What rank 0 tells every rank, first where to find it, then the outcome. */
struct announce {
	int32_t ok;
	uint32_t addr;
	uint16_t port;
	int32_t transport;
	int32_t stats;
};

static int __attribute__((format(printf, 1, 2))) disable(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sgmpi.why_disabled, sizeof sgmpi.why_disabled, fmt, ap);
	va_end(ap);
	return -1;
}

/* Rank 0's interface: SGBPF_IFNAME; else the one interface Open MPI's TCP
 * BTL was told to use; else the only non-loopback IPv4 interface; else lo. */
static int pick_interface(void)
{
	const char *env = getenv("SGBPF_IFNAME");
	const char *btl = getenv("OMPI_MCA_btl_tcp_if_include");
	struct ifaddrs *ifa, *i;
	char found[256] = "";
	int n = 0;

	if (env && *env) {
		snprintf(sgmpi.ifname, sizeof sgmpi.ifname, "%s", env);
	} else if (btl && *btl && !strpbrk(btl, ",/") && strlen(btl) < sizeof sgmpi.ifname) {
		snprintf(sgmpi.ifname, sizeof sgmpi.ifname, "%s", btl);
	}
	if (getifaddrs(&ifa) < 0)
		return disable("getifaddrs: %s", strerror(errno));
	for (i = ifa; i; i = i->ifa_next) {
		const struct sockaddr_in *sin = (const void *)i->ifa_addr;

		if (!sin || sin->sin_family != AF_INET || !(i->ifa_flags & IFF_UP))
			continue;
		if (sgmpi.ifname[0]) {
			if (strcmp(i->ifa_name, sgmpi.ifname) == 0 && !sgmpi.addr[0])
				inet_ntop(AF_INET, &sin->sin_addr, sgmpi.addr, sizeof sgmpi.addr);
			continue;
		}
		if (i->ifa_flags & IFF_LOOPBACK)
			continue;
		if (n++ == 0) {
			snprintf(sgmpi.ifname, sizeof sgmpi.ifname, "%s", i->ifa_name);
			inet_ntop(AF_INET, &sin->sin_addr, sgmpi.addr, sizeof sgmpi.addr);
		}
		snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s",
			 n > 1 ? ", " : "", i->ifa_name);
	}
	freeifaddrs(ifa);
	if (n > 1)
		return disable("rank 0 has several interfaces (%s): set SGBPF_IFNAME", found);
	if (!sgmpi.ifname[0]) {	/* one host, no network: loopback */
		snprintf(sgmpi.ifname, sizeof sgmpi.ifname, "lo");
		snprintf(sgmpi.addr, sizeof sgmpi.addr, "127.0.0.1");
	}
	if (!sgmpi.addr[0])
		return disable("interface %s has no IPv4 address", sgmpi.ifname);
	return 0;
}

/* A free UDP port on @addr (SGBPF_MPI_PORT chooses one). */
static int pick_port(const char *addr)
{
	const char *env = getenv("SGBPF_MPI_PORT");
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd, port = -1;

	if (env && *env)
		return atoi(env) > 0 && atoi(env) < 65536 ? atoi(env) : -1;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* The address this rank's packets to @to leave from (a UDP connect sends
 * nothing). */
static int route_source(uint32_t to, uint32_t *from)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9),
				   .sin_addr.s_addr = to };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		err = -errno;
	close(fd);
	*from = sin.sin_addr.s_addr;
	return err;
}

/* 1 if @addr is one of this namespace's own addresses. */
static int is_local(uint32_t addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = addr };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), local;

	if (fd < 0)
		return 0;
	local = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return local;
}

static void worker_setup(const struct announce *a, struct endpoint *me)
{
	struct sockaddr_in coord = { .sin_family = AF_INET, .sin_addr.s_addr = a->addr,
				     .sin_port = htons(a->port) };
	SG_OPTS_INIT(sg_worker_opts, o);
	char addr[16];
	int err;

	err = route_source(a->addr, &me->addr);
	if (err) {
		snprintf(me->err, sizeof me->err, "no route to rank 0: %s", strerror(-err));
		return;
	}
	inet_ntop(AF_INET, &me->addr, addr, sizeof addr);
	o.addr = addr;
	o.coordinators = &coord;
	o.ncoordinators = 1;
	err = sg_worker_create(&o, &sgmpi.worker);
	if (err) {
		snprintf(me->err, sizeof me->err, "sg_worker_create: %s", sg_errmsg());
		return;
	}
	me->port = sg_worker_port(sgmpi.worker);
	me->ok = 1;
}

static void coordinator_setup(const struct endpoint *eps, struct announce *out)
{
	struct sockaddr_in *workers = calloc(sgmpi.size - 1, sizeof *workers);
	SG_OPTS_INIT(sg_comm_opts, o);
	const char *tname = getenv("SGBPF_TRANSPORT");
	enum sg_transport_kind kind = SG_TRANSPORT_AUTO;
	int err, shared = 0;

	if (!workers) {
		disable("no memory");
		return;
	}
	for (int r = 1; r < sgmpi.size; r++) {
		if (!eps[r].ok) {
			disable("rank %d: %.*s", r, (int)sizeof eps[r].err, eps[r].err);
			free(workers);
			return;
		}
		workers[r - 1] = (struct sockaddr_in){ .sin_family = AF_INET,
						       .sin_addr.s_addr = eps[r].addr,
						       .sin_port = htons(eps[r].port) };
		shared |= is_local(eps[r].addr);
	}
	if (tname && *tname && sg_transport_from_name(tname, &kind) < 0) {
		disable("SGBPF_TRANSPORT: %s", sg_errmsg());
		free(workers);
		return;
	}
	if (shared && kind == SG_TRANSPORT_AUTO) {
		/* The kernel path sees the workers' answers on the interface's
		 * receive path; ranks in rank 0's own namespace answer through
		 * loopback instead. */
		fprintf(stderr, "sgbpf-mpi: some ranks share rank 0's network namespace: the "
				"ebpf transport needs the ranks on other hosts or namespaces; "
				"using the user-space transport io_uring\n");
		kind = SG_TRANSPORT_IO_URING;
	}
	o.ifname = sgmpi.ifname;
	o.local_addr = sgmpi.addr;
	o.local_port = sgmpi.port;
	o.workers = workers;
	o.nworkers = sgmpi.size - 1;
	o.transport = kind;
	/* Spinning forever needs no wake-up events (wait_req()) */
	o.busy_poll = sgmpi.spin_us < 0;
	err = sg_comm_create(&o, &sgmpi.comm);
	if (err == -EPERM && shared && kind == SG_TRANSPORT_IO_URING) {
		o.transport = SG_TRANSPORT_EPOLL;	/* io_uring may be disabled */
		err = sg_comm_create(&o, &sgmpi.comm);
	}
	free(workers);
	if (err) {
		disable("sg_comm_create on %s: %s", sgmpi.ifname, sg_errmsg());
		return;
	}
	out->ok = 1;
	out->transport = sg_comm_transport(sgmpi.comm);
}

static void setup_once(void)
{
	struct announce a = { 0 };
	struct endpoint me = { 0 }, *eps = NULL;
	const char *env = getenv("SGBPF_MPI_TIMEOUT_MS");
	const char *off = getenv("SGBPF_MPI");

	PMPI_Comm_rank(MPI_COMM_WORLD, &sgmpi.rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &sgmpi.size);
	sgmpi.timeout_ms = env && *env ? atoi(env) : -1;
	env = getenv("SGBPF_MPI_SPIN_US");
	sgmpi.spin_us = env && *env ? atoll(env) : SGMPI_SPIN_US;
	if (sgmpi.spin_us < -1)
		sgmpi.spin_us = -1;
	PMPI_Comm_create_keyval(MPI_COMM_DUP_FN, MPI_COMM_NULL_DELETE_FN, &sgmpi.keyval, NULL);

	/* Rank 0 decides and says where it is. */
	if (sgmpi.rank == 0) {
		const char *st = getenv("SGBPF_MPI_STATS");

		a.stats = st && strcmp(st, "0") != 0 && *st;
		if (off && strcmp(off, "0") == 0)
			disable("SGBPF_MPI=0");
		else if (sgmpi.size < 2)
			disable("one rank: nothing to reduce");
		else if (pick_interface() == 0) {
			int port = pick_port(sgmpi.addr);

			if (port <= 0)
				disable("no free UDP port on %s", sgmpi.addr);
			else {
				sgmpi.port = port;
				a.ok = 1;
				inet_pton(AF_INET, sgmpi.addr, &a.addr);
				a.port = port;
			}
		}
	}
	PMPI_Bcast(&a, sizeof a, MPI_BYTE, 0, MPI_COMM_WORLD);
	stats_wanted = a.stats;
	if (!a.ok)
		goto out;

	if (sgmpi.rank != 0)
		worker_setup(&a, &me);
	else
		me.ok = 1;
	if (sgmpi.rank == 0)
		eps = calloc(sgmpi.size, sizeof *eps);
	/* Gathered to rank 0 only would do; Allgather lets every rank see
	 * every address (the design, and cheap at MPI_Init). */
	{
		struct endpoint *all = calloc(sgmpi.size, sizeof *all);

		if (!all)
			goto out;
		PMPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, MPI_COMM_WORLD);
		if (eps)
			memcpy(eps, all, sgmpi.size * sizeof *eps);
		free(all);
	}
	a.ok = 0;
	if (sgmpi.rank == 0) {
		if (eps)
			coordinator_setup(eps, &a);
		else
			disable("no memory");
		free(eps);
	}
	PMPI_Bcast(&a, sizeof a, MPI_BYTE, 0, MPI_COMM_WORLD);
	if (a.ok && sgmpi_engine_start() < 0) {
		/* every rank must agree: tell rank 0 through the next collective */
		a.ok = 0;
	}
	{
		int ok = a.ok, all_ok = 0;

		PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
		if (!all_ok) {
			if (ok)
				sgmpi_engine_stop();
			if (a.ok && !sgmpi.why_disabled[0])
				disable("a rank could not start its engine thread");
			a.ok = 0;
		}
	}
	if (a.ok) {
		sgmpi.enabled = 1;
		if (sgmpi.rank == 0 && (a.transport != SG_TRANSPORT_EBPF || stats_wanted))
			fprintf(stderr, "sgbpf-mpi: %d ranks on sgbpf, transport %s%s, rank 0 on %s %s:%u\n",
				sgmpi.size, sg_transport_name(a.transport),
				a.transport != SG_TRANSPORT_EBPF
					? " (not the kernel path: see sgbpf-probe)" : "",
				sgmpi.ifname, sgmpi.addr, sgmpi.port);
		return;
	}
out:
	sg_comm_destroy(sgmpi.comm);
	sgmpi.comm = NULL;
	sg_worker_destroy(sgmpi.worker);
	sgmpi.worker = NULL;
	if (sgmpi.rank == 0)
		fprintf(stderr, "sgbpf-mpi: not on sgbpf (%s): every collective goes to PMPI\n",
			sgmpi.why_disabled[0] ? sgmpi.why_disabled : "a rank failed to set up");
}

static int set_up;

void sgmpi_setup(void)
{
	if (!set_up) {
		set_up = 1;
		setup_once();
	}
}

void sgmpi_teardown(void)
{
	if (!set_up)
		return;
	set_up = 0;
	if (sgmpi.enabled) {
		sgmpi_engine_stop();
		/* Rank 0 reaches the barrier once its last collective is done;
		 * until then a worker answers what rank 0 asks again.
		 * (An MPI_Ibarrier matches only MPI_Ibarriers.) */
		MPI_Request r;

		if (PMPI_Ibarrier(MPI_COMM_WORLD, &r) == MPI_SUCCESS) {
			if (sgmpi.worker)
				sgmpi_worker_serve_until(&r);
			else
				PMPI_Wait(&r, MPI_STATUS_IGNORE);
		}
	}
	if (stats_wanted)
		sgmpi_print_stats();
	sgmpi.enabled = 0;
	sg_comm_destroy(sgmpi.comm);
	sgmpi.comm = NULL;
	sg_worker_destroy(sgmpi.worker);
	sgmpi.worker = NULL;
	sgmpi_stash_clear();
	if (sgmpi.keyval != MPI_KEYVAL_INVALID)
		PMPI_Comm_free_keyval(&sgmpi.keyval);
}

API int MPI_Init(int *argc, char ***argv)
{
	int rc = PMPI_Init(argc, argv);

	if (rc == MPI_SUCCESS)
		sgmpi_setup();
	return rc;
}

API int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	int rc = PMPI_Init_thread(argc, argv, required, provided);

	if (rc == MPI_SUCCESS)
		sgmpi_setup();
	return rc;
}

API int MPI_Finalize(void)
{
	sgmpi_teardown();
	return PMPI_Finalize();
}
