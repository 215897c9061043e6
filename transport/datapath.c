// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Control of the datapath from user space (datapath.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sgbpf.skel.h"
#include "common/log.h"
#include "transport/accum.h"
#include "transport/clsact.h"
#include "transport/datapath.h"

/* The kernel's enum bpf_attach_type value of tcx egress (Linux 6.6), which
 * the installed UAPI headers may predate. */
#define SG_BPF_TCX_EGRESS 47

#define SG_VERIFIER_LOG (1 << 20)
/* Clsact egress filters of an interface looked at for stale ones. */
#define SG_TC_FILTERS_MAX 64

int sg_tcx_attach_egress(int prog_fd, int ifindex)
{
	int fd = bpf_link_create(prog_fd, ifindex, SG_BPF_TCX_EGRESS, NULL);

	return fd >= 0 ? fd : -errno;
}

int sg_clsact_attach_egress(int prog_fd, int ifindex, struct sg_tc_attachment *a)
{
	bool demoted;
	int err;

	memset(a, 0, sizeof(*a));
	a->link_fd = -1;
	a->hook = (struct bpf_tc_hook){ .sz = sizeof(a->hook), .ifindex = ifindex,
					.attach_point = BPF_TC_EGRESS };
	/* The clsact qdisc usually exists already (filters come and go, it
	 * stays): libbpf would log the kernel's -EEXIST complaint as a
	 * warning at every attach. */
	demoted = sg_log_demote(true);
	err = bpf_tc_hook_create(&a->hook);
	sg_log_demote(demoted);
	if (err && err != -EEXIST)
		return err;
	a->opts = (struct bpf_tc_opts){ .sz = sizeof(a->opts), .prog_fd = prog_fd };
	return bpf_tc_attach(&a->hook, &a->opts);
}

/* SGBPF_FORCE_CLSACT=1: a clsact filter even where the kernel has tcx, to
 * run the older kernels' path (docs/transports.md). 0 or unset: tcx first. */
static int force_clsact(bool *force)
{
	const char *v = getenv("SGBPF_FORCE_CLSACT");

	*force = v && !strcmp(v, "1");
	if (v && *v && strcmp(v, "0") && !*force)
		return sg_fail(-EINVAL, "SGBPF_FORCE_CLSACT='%s': must be 0 or 1", v);
	return 0;
}

int sg_tc_attach_egress(int prog_fd, int ifindex, struct sg_tc_attachment *a)
{
	bool force;
	int err;

	memset(a, 0, sizeof(*a));
	a->link_fd = -1;
	err = force_clsact(&force);
	if (err)
		return err;
	if (force) {
		sg_log(SG_LOG_INFO, "SGBPF_FORCE_CLSACT=1: attaching a clsact filter");
	} else {
		a->link_fd = sg_tcx_attach_egress(prog_fd, ifindex);
		if (a->link_fd >= 0)
			return 0;
		sg_log(SG_LOG_INFO, "tcx link unavailable (%s), attaching a clsact filter",
		       strerror(-a->link_fd));
	}
	err = sg_clsact_attach_egress(prog_fd, ifindex, a);
	if (err)
		return sg_fail(err, "cannot attach the TC egress program (clsact): %s",
			       strerror(-err));
	return 0;
}

void sg_tc_detach(struct sg_tc_attachment *a)
{
	if (a->link_fd >= 0) {
		close(a->link_fd);
	} else if (a->opts.prog_id) {
		a->opts.prog_fd = 0;
		a->opts.prog_id = 0;
		a->opts.flags = 0;
		bpf_tc_detach(&a->hook, &a->opts);
	}
	a->link_fd = -1;
	a->opts.prog_id = 0;
}

/* Bytes an mmapped array map spans (values rounded up to 8, as the kernel
 * lays them out). */
static void *map_mmap(const struct bpf_map *map, int prot, size_t *len)
{
	void *p;

	*len = (size_t)bpf_map__max_entries(map) * ((bpf_map__value_size(map) + 7) & ~7u);
	p = mmap(NULL, *len, prot, MAP_SHARED, bpf_map__fd(map), 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Communicator @idx's completion ring buffer: created, and put in the events
 * map at its index, unless it has one. */
static int events_ring_open(struct sg_dp *dp, uint32_t idx)
{
	int fd, err;

	if (dp->events_fd[idx] >= 0)
		return 0;
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sg_events", 0, 0, SG_EVENTS_BYTES, NULL);
	if (fd < 0)
		return sg_fail(-errno, "cannot create the completion ring buffer: %s",
			       strerror(errno));
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.events), &idx, &fd, 0)) {
		err = -errno;
		close(fd);
		return sg_fail(err, "cannot install the completion ring buffer: %s",
			       strerror(-err));
	}
	dp->events_fd[idx] = fd;
	return 0;
}

static void events_ring_close(struct sg_dp *dp, uint32_t idx)
{
	if (idx >= SG_MAX_COMMS || dp->events_fd[idx] < 0)
		return;
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.events), &idx);
	close(dp->events_fd[idx]);
	dp->events_fd[idx] = -1;
}

void sg_dp_close(struct sg_dp *dp)
{
	for (uint32_t i = 0; i < SG_MAX_COMMS; i++) {
		if (dp->agg[i])
			sg_dp_unload_agg(dp, i);
		/* A zeroed, never opened dp has no rings (and fd 0 is not one). */
		if (dp->skel)
			events_ring_close(dp, i);
	}
	if (dp->results)
		munmap(dp->results, dp->results_len);
	if (dp->aux)
		munmap(dp->aux, dp->aux_len);
	if (dp->completions)
		munmap((void *)dp->completions, dp->completions_len);
	if (dp->arm_descs)
		munmap(dp->arm_descs, dp->arm_descs_len);
	if (dp->tc_attached)
		sg_tc_detach(&dp->tc);
	bpf_link__destroy(dp->xdp_link);
	sgbpf_bpf__destroy(dp->skel);
	memset(dp, 0, sizeof(*dp));
}

int sg_dp_open(struct sg_dp *dp, bool writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0), err, fd;
	uint32_t zero = 0;

	memset(dp, 0, sizeof(*dp));
	for (uint32_t i = 0; i < SG_MAX_COMMS; i++)
		dp->events_fd[i] = -1;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0)
		return sg_fail(dp->ncpus ? dp->ncpus : -EINVAL, "cannot count possible CPUs");
	sg_log_install_libbpf();
	dp->skel = sgbpf_bpf__open();
	if (!dp->skel)
		return sg_fail(-errno ? -errno : -EINVAL, "cannot open the BPF object: %s",
			       strerror(errno));
	err = sgbpf_bpf__load(dp->skel);
	if (err) {
		err = sg_fail(err, "cannot load the BPF programs: %s%s", strerror(-err),
			      err == -EPERM || err == -EACCES ?
			      " (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root; "
			      "sgbpf-probe tells what is missing)" :
			      " (the verifier log went to the log callback)");
		goto fail;
	}
	/* Where aggregation programs hand their chunks back. */
	fd = bpf_program__fd(dp->skel->progs.sg_finish);
	err = bpf_map__update_elem(dp->skel->maps.agg_finish, &zero, sizeof(zero), &fd, sizeof(fd), 0);
	if (err) {
		err = sg_fail(err, "cannot install the finish program: %s", strerror(-err));
		goto fail;
	}
	dp->results = map_mmap(dp->skel->maps.results, prot, &dp->results_len);
	dp->aux = map_mmap(dp->skel->maps.result_aux, prot, &dp->aux_len);
	dp->completions = map_mmap(dp->skel->maps.completions, prot, &dp->completions_len);
	dp->arm_descs = map_mmap(dp->skel->maps.arm_descs, PROT_READ | PROT_WRITE,
				 &dp->arm_descs_len);
	if (!dp->results || !dp->aux || !dp->completions || !dp->arm_descs) {
		err = sg_fail(-errno, "cannot mmap the result maps: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	sg_dp_close(dp);
	return err;
}

/* The id of the program of @fd, 0 if it cannot be read. */
static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int sg_dp_remove_stale_tc(struct sg_dp *dp, int ifindex)
{
	const struct bpf_program *scatter = dp->skel->progs.sg_scatter;
	uint32_t xdp = 0, ours = prog_id(bpf_program__fd(scatter));
	struct sg_tc_filter *f;
	int n, removed = 0;

	if (bpf_xdp_query_id(ifindex, 0, &xdp) || !xdp ||
	    xdp != prog_id(bpf_program__fd(dp->skel->progs.sg_gather)))
		return 0;
	f = calloc(SG_TC_FILTERS_MAX, sizeof(*f));
	n = f ? sg_clsact_egress_filters(ifindex, f, SG_TC_FILTERS_MAX) : -ENOMEM;
	if (n < 0) {
		sg_log(SG_LOG_WARN, "cannot list the clsact egress filters of interface %d (%s): "
		       "filters of dead coordinators may remain", ifindex, strerror(-n));
		free(f);
		return n;
	}
	for (int i = 0; i < n && i < SG_TC_FILTERS_MAX; i++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = f[i].handle, .priority = f[i].prio);
		int err;

		if (!sg_tc_filter_runs(&f[i], bpf_program__name(scatter)) || f[i].prog_id == ours)
			continue;
		err = bpf_tc_detach(&hook, &opts);
		if (err && err != -ENOENT) {
			sg_log(SG_LOG_WARN, "cannot remove the clsact filter (program %u) a dead "
			       "coordinator left on interface %d: %s", f[i].prog_id, ifindex,
			       strerror(-err));
			continue;
		}
		removed++;
		sg_log(SG_LOG_INFO, "removed the clsact filter (program %u, priority %u) a dead "
		       "coordinator left on interface %d", f[i].prog_id, f[i].prio, ifindex);
	}
	free(f);
	return removed;
}

int sg_dp_attach(struct sg_dp *dp, int ifindex, const char *ifname)
{
	int err;

	dp->xdp_link = bpf_program__attach_xdp(dp->skel->progs.sg_gather, ifindex);
	if (!dp->xdp_link) {
		err = -errno;
		return sg_fail(err, "cannot attach XDP to %s: %s%s", ifname, strerror(-err),
			       err == -EBUSY ? " (another program, maybe another sgbpf process, "
					       "holds the interface's XDP hook)" : "");
	}
	/* Ours now: no live datapath can be on the interface but this one. */
	sg_dp_remove_stale_tc(dp, ifindex);
	err = sg_tc_attach_egress(bpf_program__fd(dp->skel->progs.sg_scatter), ifindex, &dp->tc);
	if (err)
		return err;
	dp->tc_attached = true;
	return 0;
}

int sg_dp_write_cfg(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c)
{
	struct sg_comm_cfg cfg = {
		.local_ip = c->local_ip,
		.local_port = c->local_port,
		.active = 1,
		.flags = c->flags,
		.nworkers = c->nworkers,
		.ifindex = c->ifindex,
		.key = { c->key[0], c->key[1] },
		.sock_cookie = c->sock_cookie,
	};
	int err = bpf_map__update_elem(dp->skel->maps.comms, &idx, sizeof(idx), &cfg, sizeof(cfg), 0);

	return err ? sg_fail(err, "cannot configure the communicator: %s", strerror(-err)) : 0;
}

int sg_dp_install_comm(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c)
{
	struct sgbpf_bpf *skel = dp->skel;
	int err;

	if (idx >= SG_MAX_COMMS || c->nworkers > SG_MAX_WORKERS)
		return sg_fail(-EINVAL, "communicator %u with %u workers does not fit the datapath",
			       idx, c->nworkers);
	for (uint32_t i = 0; i < c->nworkers; i++) {
		uint32_t key = idx * SG_MAX_WORKERS + i;
		struct sg_worker_key wk = {
			.comm = idx,
			.ip = c->workers[i].ip,
			.port = c->workers[i].port,
		};

		err = bpf_map__update_elem(skel->maps.fanout, &key, sizeof(key), &c->workers[i],
					   sizeof(c->workers[i]), 0);
		if (!err)
			err = bpf_map__update_elem(skel->maps.worker_by_addr, &wk, sizeof(wk), &i,
						   sizeof(i), 0);
		if (err)
			return sg_fail(err, "cannot fill the worker maps: %s", strerror(-err));
	}
	/* Start from inactive slots and empty descriptors (a previous
	 * communicator of this index may have left some), then open it. */
	memset(&dp->arm_descs[sg_dp_slot_key(idx, 0)], 0, SG_SLOTS * sizeof(struct sg_arm_desc));
	for (uint32_t s = 0; s < SG_SLOTS; s++) {
		struct sg_slot slot = {};
		uint32_t key = sg_dp_slot_key(idx, s);

		err = bpf_map__update_elem(skel->maps.slots, &key, sizeof(key), &slot, sizeof(slot),
					   BPF_F_LOCK);
		if (err)
			return sg_fail(err, "cannot reset slot %u: %s", s, strerror(-err));
	}
	err = events_ring_open(dp, idx);
	if (!err)
		err = sg_dp_write_cfg(dp, idx, c);
	if (err)
		return err;
	err = bpf_map__update_elem(skel->maps.comm_by_port, &c->local_port, sizeof(c->local_port),
				   &idx, sizeof(idx), BPF_NOEXIST);
	if (err == -EEXIST)
		return sg_fail(-EADDRINUSE, "another communicator of this process has port %u on "
			       "this interface", ntohs(c->local_port));
	return err ? sg_fail(err, "cannot register the communicator: %s", strerror(-err)) : 0;
}

void sg_dp_uninstall_comm(struct sg_dp *dp, uint32_t idx, const struct sg_dp_comm *c)
{
	struct sgbpf_bpf *skel = dp->skel;
	struct sg_comm_cfg cfg = {};
	uint32_t owner;

	/* The port's entry only if it is ours (a failed install may have met
	 * another communicator's). */
	if (!bpf_map__lookup_elem(skel->maps.comm_by_port, &c->local_port, sizeof(c->local_port),
				  &owner, sizeof(owner), 0) && owner == idx)
		bpf_map__delete_elem(skel->maps.comm_by_port, &c->local_port,
				     sizeof(c->local_port), 0);
	bpf_map__update_elem(skel->maps.comms, &idx, sizeof(idx), &cfg, sizeof(cfg), 0);
	for (uint32_t i = 0; i < c->nworkers; i++) {
		struct sg_worker_key wk = {
			.comm = idx,
			.ip = c->workers[i].ip,
			.port = c->workers[i].port,
		};

		bpf_map__delete_elem(skel->maps.worker_by_addr, &wk, sizeof(wk), 0);
	}
	sg_dp_unload_agg(dp, idx);
	events_ring_close(dp, idx);
}

int sg_dp_load_agg(struct sg_dp *dp, uint32_t idx, const char *object, const char *program)
{
	uint32_t key = SG_OP_USER + idx;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	char *log = NULL;
	int err, fd;

	obj = bpf_object__open_file(object, NULL);
	if (!obj)
		return sg_fail(-errno, "cannot open aggregation object %s: %s", object,
			       strerror(errno));
	prog = bpf_object__find_program_by_name(obj, program);
	if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_XDP) {
		err = sg_fail(-ENOENT, "%s has no XDP program named '%s'", object, program);
		goto fail;
	}
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), program));
	prog = bpf_object__find_program_by_name(obj, program);
	/* It joins the datapath's tail-call arrays, whose programs declare
	 * frags (bpf/sgbpf.bpf.c): the kernel wants all of one array alike. */
	bpf_program__set_flags(prog, bpf_program__flags(prog) | BPF_F_XDP_HAS_FRAGS);
	log = calloc(1, SG_VERIFIER_LOG);
	if (log)
		bpf_program__set_log_buf(prog, log, SG_VERIFIER_LOG);
	bpf_object__for_each_map(map, obj) {
		struct bpf_map *own = bpf_object__find_map_by_name(dp->skel->obj, bpf_map__name(map));

		if (own && (err = bpf_map__reuse_fd(map, bpf_map__fd(own))) < 0) {
			err = sg_fail(err, "%s: cannot share map %s: %s", object,
				      bpf_map__name(map), strerror(-err));
			goto fail;
		}
	}
	err = bpf_object__load(obj);
	if (err) {
		if (log && *log)
			sg_log(SG_LOG_WARN, "verifier log of %s:\n%s", program, log);
		err = sg_fail(err, "aggregation program %s in %s was rejected: %s%s%.*s", program,
			      object, strerror(-err), log && *log ? "; verifier log ends: " : "", 600,
			      log && strlen(log) > 600 ? log + strlen(log) - 600 : (log ? log : ""));
		goto fail;
	}
	fd = bpf_program__fd(prog);
	err = bpf_map__update_elem(dp->skel->maps.fold_progs, &key, sizeof(key), &fd, sizeof(fd), 0);
	if (err) {
		err = sg_fail(err, "cannot install aggregation program: %s", strerror(-err));
		goto fail;
	}
	dp->agg[idx] = obj;
	free(log);
	return 0;
fail:
	free(log);
	bpf_object__close(obj);
	return err;
}

void sg_dp_unload_agg(struct sg_dp *dp, uint32_t idx)
{
	uint32_t key = SG_OP_USER + idx;

	if (idx >= SG_MAX_COMMS || !dp->agg[idx])
		return;
	bpf_map__delete_elem(dp->skel->maps.fold_progs, &key, sizeof(key), 0);
	bpf_object__close(dp->agg[idx]);
	dp->agg[idx] = NULL;
}

bool sg_dp_pool_used(const struct sg_dp *dp, uint32_t entry)
{
	return dp->pool_used[entry / 64] >> (entry % 64) & 1;
}

static void pool_mark(struct sg_dp *dp, uint32_t base, uint32_t n, bool used)
{
	for (uint32_t j = base; j < base + n && j < SG_POOL_CHUNKS; j++) {
		if (used)
			dp->pool_used[j / 64] |= 1ULL << (j % 64);
		else
			dp->pool_used[j / 64] &= ~(1ULL << (j % 64));
	}
}

int sg_dp_pool_alloc(struct sg_dp *dp, uint32_t n, uint32_t *base)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < SG_POOL_CHUNKS && n; i++) {
		if (sg_dp_pool_used(dp, i)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			*base = i + 1 - n;
			pool_mark(dp, *base, n, true);
			return 0;
		}
	}
	return -ENOSPC;
}

int sg_dp_pool_claim(struct sg_dp *dp, uint32_t base, uint32_t n)
{
	if ((uint64_t)base + n > SG_POOL_CHUNKS)
		return -EINVAL;
	for (uint32_t j = base; j < base + n; j++)
		if (sg_dp_pool_used(dp, j))
			return -EBUSY;
	pool_mark(dp, base, n, true);
	return 0;
}

void sg_dp_pool_free(struct sg_dp *dp, uint32_t base, uint32_t n)
{
	pool_mark(dp, base, n, false);
}

struct sg_arm_desc sg_dp_post(struct sg_dp *dp, uint32_t idx, struct sg_tp_reduce *r)
{
	struct sg_arm_desc d;

	r->gen = ++dp->gen;
	d = sg_arm_desc_of(r);
	dp->arm_descs[sg_dp_slot_key(idx, r->coll_id)] = d;
	/* The sendto that follows orders these stores before the TC program's
	 * loads anyway; the fence documents it and keeps the compiler honest. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return d;
}

bool sg_dp_completed(const struct sg_dp *dp, uint32_t key, uint64_t gen)
{
	return __atomic_load_n(&dp->completions[key].gen, __ATOMIC_ACQUIRE) == gen;
}

int sg_dp_read_slot(const struct sg_dp *dp, uint32_t key, struct sg_slot *out)
{
	if (bpf_map_lookup_elem_flags(bpf_map__fd(dp->skel->maps.slots), &key, out, BPF_F_LOCK))
		return -errno;
	return 0;
}

int sg_dp_read_stats(const struct sg_dp *dp, uint32_t idx, struct sg_stats *out)
{
	struct sg_stats *percpu = calloc((size_t)dp->ncpus, sizeof(*percpu));
	int err;

	memset(out, 0, sizeof(*out));
	if (!percpu)
		return -ENOMEM;
	err = bpf_map__lookup_elem(dp->skel->maps.stats, &idx, sizeof(idx), percpu,
				   (size_t)dp->ncpus * sizeof(*percpu), 0);
	if (!err)
		sg_stats_sum(out, percpu, dp->ncpus);
	free(percpu);
	return err;
}

static void result_copy(const struct sg_dp *dp, const struct sg_tp_reduce *r,
			const uint64_t *whole, void *out)
{
	sg_result_copy(dp->results + (size_t)r->pool_base * SG_ACC_BYTES,
		       dp->aux + (size_t)r->pool_base * SG_FSUM_ELEMS, r, whole, out);
}

void sg_dp_result_copy(const struct sg_dp *dp, const struct sg_tp_reduce *r, void *out)
{
	result_copy(dp, r, NULL, out);
}

int sg_dp_retire(const struct sg_dp *dp, uint32_t idx, const struct sg_tp_reduce *r,
		 struct sg_partial *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, run);

	memset(out, 0, sizeof(*out));
	out->key = sg_dp_slot_key(idx, r->coll_id);
	out->gen = r->gen;
	run.data_in = out;
	run.data_size_in = sizeof(*out);
	run.data_out = out;
	run.data_size_out = sizeof(*out);
	run.repeat = 1;
	if (bpf_prog_test_run_opts(bpf_program__fd(dp->skel->progs.sg_collect), &run))
		return -errno;
	if (run.retval != XDP_DROP || run.data_size_out != sizeof(*out))
		return -EIO;
	return 0;
}

int sg_dp_result_partial(const struct sg_dp *dp, uint32_t idx, const struct sg_tp_reduce *r,
			 void *out, uint64_t *done, unsigned int *ndone, uint64_t *missing)
{
	uint64_t whole[SG_MISSING_WORDS];
	struct sg_partial before, after;
	int err = sg_dp_retire(dp, idx, r, &before);

	if (err)
		return err;
	memcpy(whole, before.whole, sizeof(whole));
	result_copy(dp, r, whole, out);
	err = sg_dp_retire(dp, idx, r, &after);
	if (err)
		return err;
	/* A chunk whole both times was not folded in between (a fold adds a
	 * worker, and the done workers are final): its copy is theirs. */
	for (uint32_t c = 0; c < r->nchunks; c++) {
		if ((whole[c / 64] & ~after.whole[c / 64]) >> (c % 64) & 1) {
			whole[c / 64] &= ~(1ULL << (c % 64));
			sg_result_identity(r, c, out);
		}
	}
	sg_chunks_missing(r, whole, missing);
	memcpy(done, before.done, sizeof(before.done));
	*ndone = before.ndone;
	return 0;
}
