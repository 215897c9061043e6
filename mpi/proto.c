/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One collective on one rank: rank 0 drives it with sgbpf's coordinator
 * calls, the other ranks answer it with the worker's (mpi/README.md,
 * "Protocol").
 *
 * Every request starts with struct sgmpi_hdr: the collective's number (the
 * same on every rank, as MPI calls collectives in the same order) and its
 * arguments, which a worker checks against its own call, so that mismatched
 * calls fail with a message instead of mixing data. A worker keeps the
 * requests of collectives it has not reached yet (the coordinator may be
 * ahead: a reduce completes at rank 0 as soon as the answers are in). */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sgmpi.h"

#define SGMPI_MAGIC 0x53474d50u /* "SGMP" */

struct sgmpi_hdr {
	uint32_t magic;
	uint32_t seq;
	uint8_t prim, call, dt, op;
	int32_t root;
	uint64_t count;
	uint64_t offset; /* BCAST0: the piece's first byte */
};

/* Bytes of rank 0's message in one BCAST0 request (a request is at most
 * SG_MAX_SEGMENT_BYTES with its header). */
#define BCAST_PIECE (SG_MAX_SEGMENT_BYTES - sizeof(struct sgmpi_hdr))
/* BCAST0 requests in flight. */
#define BCAST_WINDOW 16

static int job_fail(struct sgmpi_job *job, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->msg, sizeof job->msg, fmt, ap);
	va_end(ap);
	return err;
}

/* The failed sgbpf call's own message (thread-local, so taken now). */
static int lib_fail(struct sgmpi_job *job, int err, const char *what)
{
	return job_fail(job, err, "%s: %s", what, *sg_errmsg() ? sg_errmsg() : sg_strerror(err));
}

static struct sgmpi_hdr hdr_of(const struct sgmpi_job *job)
{
	return (struct sgmpi_hdr){ .magic = SGMPI_MAGIC, .seq = job->seq, .prim = job->prim,
				   .call = job->call, .dt = job->dt, .op = job->op,
				   .root = job->root, .count = job->count };
}

static size_t elem_size(const struct sgmpi_job *job)
{
	return job->prim == SGMPI_BCAST0 ? 1 : sg_datatype_size(job->dt);
}

/* ------------------------------------------------------------ coordinator */

static struct sg_reduce_params params(void)
{
	SG_OPTS_INIT(sg_reduce_params, p);

	p.timeout_ms = sgmpi.timeout_ms;
	return p;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* When a wait that started now stops spinning (SGBPF_MPI_SPIN_US): -1 never. */
static long long spin_until(void)
{
	return sgmpi.spin_us < 0 ? -1 : now_us() + sgmpi.spin_us;
}

static int spinning(long long until)
{
	return until < 0 || now_us() < until;
}

/* Wait for @req as MPI implementations wait, spinning, for up to
 * SGBPF_MPI_SPIN_US (sg_test() reads the completion from memory the kernel
 * shares and does the retransmissions; sched_yield() lets the other ranks
 * of an oversubscribed host run), then asleep in sg_wait(), which frees the
 * CPU for the workers and the kernel's receive path when a collective is
 * long. */
static int wait_req(sg_request **req)
{
	long long until = spin_until();
	int done = 0, err;

	while (spinning(until)) {
		err = sg_test(req, &done);
		if (done || err < 0)
			return err;
		sched_yield();
	}
	return sg_wait(req);
}

/* Rank 0's bytes in requests of up to SG_MAX_SEGMENT_BYTES, BCAST_WINDOW in
 * flight; each worker answers each with one byte, which says it has the
 * piece (the requests of a piece that is not answered are sent again). */
static int coord_bcast(struct sgmpi_job *job)
{
	static uint8_t stage[SG_MAX_SEGMENT_BYTES]; /* the engine runs one job at a time */
	struct sgmpi_hdr h = hdr_of(job);
	sg_request *reqs[BCAST_WINDOW] = { 0 };
	struct sg_reduce_params ps[BCAST_WINDOW];
	uint8_t acks[BCAST_WINDOW];
	size_t npieces = (job->count + BCAST_PIECE - 1) / BCAST_PIECE;
	int err = 0, e;

	for (size_t i = 0; i < npieces && !err; i++) {
		unsigned int slot = i % BCAST_WINDOW;
		size_t len = job->count - i * BCAST_PIECE;

		if (len > BCAST_PIECE)
			len = BCAST_PIECE;
		if (reqs[slot] && (e = wait_req(&reqs[slot])) < 0) {
			err = lib_fail(job, e, "broadcast");
			break;
		}
		h.offset = i * BCAST_PIECE;
		memcpy(stage, &h, sizeof h);
		memcpy(stage + sizeof h, (const uint8_t *)job->own + h.offset, len);
		ps[slot] = params();
		/* the request is sent before the call returns: stage is free again */
		e = sg_iscatter_reduce(sgmpi.comm, stage, sizeof h + len, &acks[slot], 1, SG_UINT8,
				       SG_OP_BOR, &ps[slot], &reqs[slot]);
		if (e < 0)
			err = lib_fail(job, e, "broadcast");
	}
	for (unsigned int slot = 0; slot < BCAST_WINDOW; slot++) {
		if (reqs[slot] && (e = wait_req(&reqs[slot])) < 0 && !err)
			err = lib_fail(job, e, "broadcast");
	}
	return err;
}

static int coord_exec(struct sgmpi_job *job)
{
	struct sgmpi_hdr h = hdr_of(job);
	struct sg_reduce_params p = params();
	sg_request *req = NULL;
	int err;

	switch (job->prim) {
	case SGMPI_ALLREDUCE:
		err = sg_iallreduce(sgmpi.comm, &h, sizeof h, job->own, job->out, job->count,
				    job->dt, job->op, &p, &req);
		if (!err)
			err = wait_req(&req);
		return err < 0 ? lib_fail(job, err, "allreduce") : 0;
	case SGMPI_REDUCE0:
		err = sg_ireduce(sgmpi.comm, &h, sizeof h, job->own, job->out, job->count, job->dt,
				 job->op, &p, &req);
		if (!err)
			err = wait_req(&req);
		return err < 0 ? lib_fail(job, err, "reduce") : 0;
	case SGMPI_BCAST0:
		return coord_bcast(job);
	}
	return job_fail(job, -EINVAL, "unknown collective %d", (int)job->prim);
}

/* ------------------------------------------------------------ worker */

/* Requests that arrived before this rank reached their collective. */
struct held {
	struct sg_msg m;
	struct held *next;
};
static struct held *stash;
/* Requests held at most: rank 0 runs one collective at a time, so a worker
 * is at most a few behind; more can only be forged (a request is
 * authenticated by its source address alone, which an attacker on the path
 * can spoof: docs/reliability.md) and is dropped and counted. */
#define STASH_MAX 64
static unsigned int nstash;

static int hdr_ok(const struct sg_msg *m, struct sgmpi_hdr *h)
{
	if (m->type != SG_MSG_SCATTER || m->len < sizeof *h)
		return 0;
	memcpy(h, m->data, sizeof *h);
	return h->magic == SGMPI_MAGIC;
}

/* Keep @m (copied) if it is a request of a collective to come; drop and
 * count it otherwise. */
static void hold(const struct sg_msg *m, uint32_t next_seq)
{
	struct sgmpi_hdr h;
	struct held *e, **tail;

	if (!hdr_ok(m, &h)) {
		sgmpi_count(&sgmpi.worker_foreign);
		return;
	}
	if ((int32_t)(h.seq - next_seq) < 0) {
		sgmpi_count(&sgmpi.worker_stale);
		return;
	}
	if (nstash >= STASH_MAX) {
		sgmpi_count(&sgmpi.worker_dropped);
		return;
	}
	e = malloc(sizeof *e + m->len);
	if (!e)
		return;	/* the coordinator asks again */
	nstash++;
	e->m = *m;
	memcpy(e + 1, m->data, m->len);
	e->m.data = e + 1;
	e->next = NULL;
	for (tail = &stash; *tail; tail = &(*tail)->next)
		;
	*tail = e;
}

void sgmpi_stash_clear(void)
{
	while (stash) {
		struct held *e = stash;

		stash = e->next;
		free(e);
	}
	nstash = 0;
}

/* The lowest number a collective to come can have: anything below is done. */
static uint32_t done_below;

void sgmpi_worker_drain(void)
{
	struct sg_msg m;

	while (sg_worker_recv(sgmpi.worker, &m, 0) == 0)
		hold(&m, done_below);
}

void sgmpi_worker_serve_until(MPI_Request *req)
{
	int done = 0;
	struct sg_msg m;

	while (!done) {
		if (sg_worker_recv(sgmpi.worker, &m, 10) == 0)
			hold(&m, done_below);
		if (PMPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			break;
	}
}

/* The next message for @job: 0, -ETIMEDOUT after SGBPF_MPI_TIMEOUT_MS, or a
 * receive error. Spinning on non-blocking receives for up to
 * SGBPF_MPI_SPIN_US, then asleep in the receive (as wait_req()). */
static int recv_next(struct sgmpi_job *job, struct sg_msg *out, const char *what)
{
	long long deadline = sgmpi.timeout_ms < 0 ? -1 : now_us() + sgmpi.timeout_ms * 1000LL;
	long long until = spin_until();
	int err, spin, ms;

	for (;;) {
		spin = spinning(until);
		ms = deadline < 0 ? -1 : (int)((deadline - now_us() + 999) / 1000);
		err = sg_worker_recv(sgmpi.worker, out, spin ? 0 : (deadline < 0 ? -1 : ms > 0 ? ms : 0));
		if (err == 0)
			return 0;
		if (err != -ETIMEDOUT && err != -EAGAIN)
			return lib_fail(job, err, "receive");
		if (deadline >= 0 && now_us() >= deadline)
			return job_fail(job, -ETIMEDOUT, "no %s from rank 0 within %d ms", what,
					sgmpi.timeout_ms);
		if (spin)
			sched_yield();
	}
}

/* The next request of @job: from the stash, else from the socket. The
 * message and its data stay valid until release(). */
static int take_request(struct sgmpi_job *job, struct sg_msg *out, struct held **from_stash)
{
	struct sgmpi_hdr h;
	int err;

	*from_stash = NULL;
	for (struct held **pp = &stash; *pp; pp = &(*pp)->next) {
		if (hdr_ok(&(*pp)->m, &h) && h.seq == job->seq) {
			*from_stash = *pp;
			*pp = (*pp)->next;
			nstash--;
			*out = (*from_stash)->m;
			goto check;
		}
	}
	for (;;) {
		err = recv_next(job, out, "request");
		if (err)
			return err;
		if (hdr_ok(out, &h) && h.seq == job->seq)
			break;
		hold(out, job->seq);
	}
check:
	if (h.prim != job->prim || h.dt != job->dt || h.op != job->op || h.count != job->count ||
	    (h.prim == SGMPI_BCAST0 ? 0 : h.root != job->root)) {
		free(*from_stash);
		*from_stash = NULL;
		return job_fail(job, -EPROTO,
				"collective %u does not match rank 0's: here %s (count %zu, datatype %d, op %d, root %d), "
				"at rank 0 %s (count %llu, datatype %d, op %d, root %d)",
				job->seq, sgmpi_call_name(job->call), job->count, (int)job->dt,
				(int)job->op, job->root, sgmpi_call_name(h.call),
				(unsigned long long)h.count, h.dt, h.op, h.root);
	}
	return 0;
}

static int take_result(struct sgmpi_job *job, uint32_t coll_id, struct sg_msg *out)
{
	int err;

	for (;;) {
		err = recv_next(job, out, "result");
		if (err)
			return err;
		if (out->type == SG_MSG_RESULT && out->coll_id == coll_id)
			break;
		hold(out, job->seq + 1);
	}
	if (out->len != job->count * elem_size(job))
		return job_fail(job, -EPROTO, "result of %zu bytes, %zu expected", out->len,
				job->count * elem_size(job));
	return 0;
}

static int worker_bcast(struct sgmpi_job *job)
{
	size_t npieces = (job->count + BCAST_PIECE - 1) / BCAST_PIECE, got = 0;
	uint64_t *seen = calloc((npieces + 63) / 64, sizeof *seen);
	uint8_t zero = 0;
	int err = 0;

	if (!seen)
		return job_fail(job, -ENOMEM, "no memory for %zu pieces", npieces);
	while (got < npieces && !err) {
		struct sg_msg m;
		struct held *e;
		struct sgmpi_hdr h;
		size_t i, len;

		err = take_request(job, &m, &e);
		if (err)
			break;
		memcpy(&h, m.data, sizeof h);
		i = h.offset / BCAST_PIECE;
		len = m.len - sizeof h;
		if (h.offset % BCAST_PIECE || i >= npieces || h.offset + len > job->count ||
		    (i + 1 < npieces && len != BCAST_PIECE)) {
			err = job_fail(job, -EPROTO, "broadcast piece at %llu of %zu bytes out of place",
				       (unsigned long long)h.offset, len);
		} else {
			if (!(seen[i / 64] & (1ULL << (i % 64)))) {
				seen[i / 64] |= 1ULL << (i % 64);
				memcpy((uint8_t *)job->out + h.offset, (const uint8_t *)m.data + sizeof h, len);
				got++;
			}
			err = sg_worker_reply(sgmpi.worker, &m, &zero, 1);
			if (err < 0)
				err = lib_fail(job, err, "answer");
		}
		free(e);
	}
	free(seen);
	return err;
}

static int worker_exec(struct sgmpi_job *job)
{
	struct sg_msg req, res;
	struct held *e;
	uint32_t coll_id;
	int err;

	if (job->prim == SGMPI_BCAST0)
		return worker_bcast(job);
	err = take_request(job, &req, &e);
	if (err)
		return err;
	err = sg_worker_reply(sgmpi.worker, &req, job->own, job->count * elem_size(job));
	coll_id = req.coll_id;
	free(e);
	if (err < 0)
		return lib_fail(job, err, "answer");
	if (job->prim == SGMPI_REDUCE0)
		return 0;
	err = take_result(job, coll_id, &res);
	if (err)
		return err;
	if (job->out)
		memcpy(job->out, res.data, res.len);
	return 0;
}

int sgmpi_exec(struct sgmpi_job *job)
{
	int err;

	job->msg[0] = 0;
	if (sgmpi.comm)
		return coord_exec(job);
	err = worker_exec(job);
	done_below = job->seq + 1;
	return err;
}
