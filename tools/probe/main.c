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
 * Here: the options, the order of the checks and the transport choice. The
 * checks are in kernel.c (privileges and kernel features), attach.c (load and
 * attach, in the child; rtnetlink in netlink.c) and io_uring.c (the
 * fallback); the table, the verdict and the output in report.c.
 *
 * Exit status: 0 eBPF usable, 1 not (the library falls back), 2 usage or
 * internal error.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/libbpf.h>

#include "tools/probe/probe.h"

bool opt_verbose;
static bool opt_quiet, opt_json;

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
	const char *env = getenv("SG_TRANSPORT");
	struct verdict v = {};
	struct utsname u = {};
	int opt;

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

	report_verdict(&v);
	v.status = internal_error ? 2 : v.ebpf_ok ? 0 : 1;
	v.fallback = uring_ok ? "io_uring" : "epoll";
	v.autopick = v.ebpf_ok ? "ebpf" : v.fallback;
	if (env && *env) {
		if (known_transport(env) && strcmp(env, "auto")) {
			snprintf(v.auto_note, sizeof(v.auto_note),
				 "SG_TRANSPORT=%s overrides the choice", env);
			v.autopick = env;
		} else if (strcmp(env, "auto")) {
			snprintf(v.auto_note, sizeof(v.auto_note), "SG_TRANSPORT=%s is not a "
				 "transport: sg_comm_create fails with -EINVAL", env);
			v.autopick = "none";
		}
	}

	if (opt_json)
		report_json(&v, &u);
	else
		report_text(&v, &u, opt_quiet);
	return v.status;
}
