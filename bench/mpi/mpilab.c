// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mpilab: puts Open MPI ranks into the namespaces of a netlab
 * (tests/lab/netlab.h), so that MPI's TCP BTL runs over the same veth links and
 * bridge as the sgbpf benchmarks.
 *
 *   mpilab lab [-n NS] [-p PREFIX] [-t SECONDS] -f FILE [-- CMD ARGS...]
 *	Build a lab with NS worker namespaces (default 64) and write FILE:
 *	the coordinator's namespace on the first line, then one line per worker
 *	namespace. With CMD: run it (in this namespace) with MPILAB_NSFILE=FILE
 *	in its environment, then destroy the lab and exit with CMD's status.
 *	Without CMD: wait for SIGTERM, SIGINT or SIGHUP (at most -t SECONDS,
 *	default 3600) or for its parent to die, then destroy the lab and exit
 *	0. netlab's watchdog deletes the namespaces even if this process is
 *	killed with SIGKILL.
 *
 *   mpilab exec [-f FILE] [-1|-c] [-r RANK:SIZE] [-p R:W] -- PROG ARGS...
 *	What mpirun runs for every rank: read OMPI_COMM_WORLD_RANK and
 *	OMPI_COMM_WORLD_SIZE, setns() into the rank's namespace, exec PROG.
 *	-r gives the rank and size instead, for launchers other than mpirun
 *	(bench/gloo/run_gloo.sh starts each rank itself).
 *	Rank 0 (the root) goes to the coordinator's namespace; worker w = rank-1
 *	of W = size-1 goes to worker namespace w / ceil(W / NS), the layout of
 *	bench/workers.h (consecutive workers share a namespace when W > NS).
 *	With -1 every rank goes to the coordinator's namespace (shared memory
 *	runs). With -c the program goes to the coordinator's namespace and no
 *	MPI environment is needed (to start mpirun itself there). FILE defaults
 *	to $MPILAB_NSFILE. -p R:W pins the root to CPU R and every worker to
 *	CPU W (-1: not pinned, -2: the last CPU), the placement of the sgbpf
 *	benchmarks (coordinator on one core, the host workers on another).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lab/netlab.h"

#define MAX_NS_LINES (NETLAB_MAX_WORKER_NS + 1)
#define NAME_MAX_LEN 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mpilab lab [-n NS] [-p PREFIX] [-t SECONDS] -f FILE [-- CMD ARGS...]\n"
		"       mpilab exec [-f FILE] [-1|-c] [-r RANK:SIZE] [-p R:W] -- PROG ARGS...\n");
}

static int write_nsfile(struct netlab *lab, int nns, const char *file)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp)) {
		fprintf(stderr, "mpilab: path too long: %s\n", file);
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "mpilab: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "%s\n", netlab_ns_name(lab, NETLAB_COORD));
	for (int i = 0; i < nns; i++)
		fprintf(f, "%s\n", netlab_ns_name(lab, i));
	if (fclose(f) || rename(tmp, file)) {
		fprintf(stderr, "mpilab: cannot write %s: %s\n", file, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int cmd_lab(int argc, char **argv)
{
	struct netlab_opts o = { .sz = sizeof(o), .prefix = "sgtm", .nworker_ns = 64 };
	const char *file = NULL;
	char **cmd = NULL;
	struct netlab *lab;
	sigset_t set;
	int opt, err, ret = 0;
	long max_wait = 3600;

	while ((opt = getopt(argc, argv, "+n:p:f:t:h")) != -1) {
		switch (opt) {
		case 't': max_wait = atol(optarg); break;
		case 'n': o.nworker_ns = atoi(optarg); break;
		case 'p': o.prefix = optarg; break;
		case 'f': file = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		cmd = argv + optind;
	if (!file || o.nworker_ns < 1 || o.nworker_ns > NETLAB_MAX_WORKER_NS) {
		fprintf(stderr, "mpilab lab: need -f FILE and 1 <= NS <= %d\n",
			NETLAB_MAX_WORKER_NS);
		return 2;
	}

	/* Signals are taken with sigwait(); netlab's own handlers (installed
	 * because the dispositions are still the default) cover the rest. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* A parent killed with SIGKILL (a script) takes the lab along. */
	{
		pid_t parent = getppid();

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			return 1;
	}

	err = netlab_create(&o, &lab);
	if (err) {
		fprintf(stderr, "mpilab: cannot build the lab: %s\n", strerror(-err));
		return 1;
	}
	if (write_nsfile(lab, o.nworker_ns, file)) {
		netlab_destroy(lab);
		return 1;
	}

	if (cmd) {
		pid_t pid = fork();
		int st;

		if (pid < 0) {
			fprintf(stderr, "mpilab: fork: %s\n", strerror(errno));
			ret = 1;
			goto out;
		}
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			setenv("MPILAB_NSFILE", file, 1);
			execvp(cmd[0], cmd);
			fprintf(stderr, "mpilab: cannot run %s: %s\n", cmd[0], strerror(errno));
			_exit(127);
		}
		for (;;) {
			int sig;

			if (sigwait(&set, &sig))
				continue;
			if (sig == SIGCHLD) {
				pid_t r = waitpid(pid, &st, WNOHANG);

				if (r == pid)
					break;
				continue;
			}
			/* Pass the signal on and wait for the command to go. */
			kill(pid, sig);
		}
		ret = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	} else {
		/* Wait for a signal, at most -t seconds. */
		struct timespec ts = { .tv_sec = max_wait };
		siginfo_t si;

		sigdelset(&set, SIGCHLD);
		while (sigtimedwait(&set, &si, &ts) < 0 && errno == EINTR)
			;
	}
out:
	netlab_destroy(lab);
	unlink(file);
	return ret;
}

static int read_nsfile(const char *file, char names[][NAME_MAX_LEN], int max)
{
	FILE *f = fopen(file, "r");
	char line[256];
	int n = 0;

	if (!f) {
		fprintf(stderr, "mpilab exec: cannot read %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0])
			continue;
		if (strlen(line) >= NAME_MAX_LEN || strchr(line, '/')) {
			fprintf(stderr, "mpilab exec: bad namespace name in %s: %s\n", file, line);
			fclose(f);
			return -1;
		}
		memcpy(names[n++], line, strlen(line) + 1);
	}
	fclose(f);
	if (n < 2) {
		fprintf(stderr, "mpilab exec: %s names no worker namespace\n", file);
		return -1;
	}
	return n;
}

static int env_int(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s)
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

static int cmd_exec(int argc, char **argv)
{
	static char names[MAX_NS_LINES][NAME_MAX_LEN];
	const char *file = getenv("MPILAB_NSFILE");
	int all_coord = 0, no_rank = 0, opt, n, rank = 0, size = 1, ns, fd;
	int given_rank = -1, given_size = -1;
	int root_cpu = -1, worker_cpu = -1;
	char path[128];

	while ((opt = getopt(argc, argv, "+f:1cp:r:h")) != -1) {
		switch (opt) {
		case 'r':
			if (sscanf(optarg, "%d:%d", &given_rank, &given_size) != 2 ||
			    given_rank < 0 || given_size < 1 || given_rank >= given_size) {
				fprintf(stderr, "mpilab exec: -r RANK:SIZE with 0 <= RANK < SIZE\n");
				return 2;
			}
			break;
		case 'p':
			if (sscanf(optarg, "%d:%d", &root_cpu, &worker_cpu) != 2) {
				fprintf(stderr, "mpilab exec: -p ROOT_CPU:WORKER_CPU (-1: no pinning)\n");
				return 2;
			}
			break;
		case 'c': no_rank = 1; break;
		case 'f': file = optarg; break;
		case '1': all_coord = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc || !file) {
		fprintf(stderr, "mpilab exec: need a program and -f FILE or MPILAB_NSFILE\n");
		return 2;
	}
	if (given_rank >= 0) {
		rank = given_rank;
		size = given_size;
	} else if (!no_rank) {
		rank = env_int("OMPI_COMM_WORLD_RANK");
		size = env_int("OMPI_COMM_WORLD_SIZE");
	}
	if (rank < 0 || size < 1 || rank >= size) {
		fprintf(stderr, "mpilab exec: OMPI_COMM_WORLD_RANK/SIZE not set: run me under mpirun or give -r\n");
		return 2;
	}
	n = read_nsfile(file, names, MAX_NS_LINES);
	if (n < 0)
		return 1;
	if (rank == 0 || all_coord || no_rank) {
		ns = 0;
	} else {
		int nworkers = size - 1, nns = n - 1;
		int per_ns = (nworkers + nns - 1) / nns;

		ns = 1 + (rank - 1) / per_ns;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", names[ns]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mpilab exec: rank %d: cannot open %s: %s\n", rank, path,
			strerror(errno));
		return 1;
	}
	if (setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, "mpilab exec: rank %d: setns %s: %s\n", rank, path,
			strerror(errno));
		return 1;
	}
	close(fd);
	if (!no_rank) {
		int cpu = rank == 0 ? root_cpu : worker_cpu;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		if (cpu == -2)	/* the last CPU */
			cpu = (int)ncpu - 1;
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (cpu >= ncpu || sched_setaffinity(0, sizeof(set), &set)) {
				fprintf(stderr, "mpilab exec: rank %d: cannot pin to CPU %d: %s\n",
					rank, cpu, cpu >= ncpu ? "no such CPU" : strerror(errno));
				return 1;
			}
		}
	}
	setenv("MPILAB_NS", names[ns], 1);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "mpilab exec: rank %d: cannot run %s: %s\n", rank, argv[optind],
		strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "lab"))
		return cmd_lab(argc - 1, argv + 1);
	if (!strcmp(argv[1], "exec"))
		return cmd_exec(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
