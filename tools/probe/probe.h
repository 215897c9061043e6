/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the parts of sgbpf-probe share, besides the table of checks
 * (report.h): the checks each part runs, the capabilities held, the result of
 * the child that loads and attaches (for the output), the libbpf print hook
 * and the rtnetlink helpers the child uses.
 */
#ifndef SGBPF_PROBE_H
#define SGBPF_PROBE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>

#include "tools/probe/report.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define MAX_IDS 24
#define FIX_CAPS "run as root, or grant the program the capabilities: " \
	"setcap cap_bpf,cap_net_admin,cap_perfmon+ep ./your-program " \
	"(kernels < 5.8 have no CAP_BPF: cap_sys_admin,cap_net_admin)"

extern bool opt_verbose;	/* -v: libbpf's messages to stderr (main.c) */

/* ------------------------------------------------------------ kernel.c */

/* An integer from a /proc/sys file: 0, -ENOENT (not in this kernel) or -errno. */
int read_sysctl(const char *path, long *val);
bool has_cap(int cap);		/* in the effective set */
extern bool bpf_usable;		/* the bpf() syscall works: run the other checks */

void check_privileges(void);
void check_bpf_syscall(void);
void check_jit(void);
void check_btf(void);
void check_ringbuf(void);
void check_mmapable(void);
void check_spin_lock(void);
void check_helpers(void);
void check_memlock(void);

/* ------------------------------------------------------------ attach.c */

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

extern struct child_result child;
extern bool attach_tested;
extern bool internal_error;	/* the child gave no answer: exit status 2 */

int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap);
/* Load and attach in a child process, and add the checks of what it found. */
void report_child(void);

/* ------------------------------------------------------------ netlink.c */

/* A veth pair @a/@b, @a up; link @ifindex up; link @ifindex deleted.
 * 0 or -errno. */
int veth_create(const char *a, const char *b);
int link_set_up(int ifindex);
int link_delete(int ifindex);

/* ------------------------------------------------------------ io_uring.c */

extern bool uring_ok;		/* the io_uring transport would work */
void check_io_uring(void);

#endif /* SGBPF_PROBE_H */
