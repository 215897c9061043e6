// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf-probe's checks of the kernel and the privileges: capabilities, the
 * bpf() syscall, the JIT, BTF, the map kinds and helpers sgbpf's programs
 * use, and how BPF memory is accounted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tools/probe/probe.h"

/* An integer from a /proc/sys file: 0, -ENOENT (not in this kernel) or -errno. */
int read_sysctl(const char *path, long *val)
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

/* ------------------------------------------------------------ privileges */

static uint64_t caps_eff;

bool has_cap(int cap)
{
	return caps_eff & (1ULL << cap);
}

void check_privileges(void)
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

bool bpf_usable;

void check_bpf_syscall(void)
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

void check_jit(void)
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

void check_btf(void)
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

void check_ringbuf(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sgp_ringbuf", 0, 0, 4096, NULL);

	if (fd >= 0)
		close(fd);
	map_check("BPF ring buffer map", fd < 0 ? -errno : 0,
		  "kernel < 5.8 or without ring buffers: the completion events need them");
}

void check_mmapable(void)
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
void check_spin_lock(void)
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

void check_helpers(void)
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
void check_memlock(void)
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
