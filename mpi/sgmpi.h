/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* libsgbpf-mpi's internals (mpi/README.md): the state set up by MPI_Init,
 * the collectives' jobs and the engine that runs them in order, and the
 * counters SGBPF_MPI_STATS prints. Only sgbpf's public API is used. */
#ifndef SGMPI_H
#define SGMPI_H

#include <mpi.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sgbpf.h"

/* The three collectives on sgbpf every MPI call is made of (docs in
 * mpi/README.md, "Mapping"). */
enum sgmpi_prim {
	SGMPI_ALLREDUCE = 1, /* every rank contributes, every rank gets the result */
	SGMPI_REDUCE0,       /* every rank contributes, rank 0 gets the result */
	SGMPI_BCAST0,        /* rank 0's bytes reach every rank */
};

/* The interposed MPI calls, for the counters and messages. */
enum sgmpi_call {
	SGMPI_CALL_ALLREDUCE, SGMPI_CALL_REDUCE, SGMPI_CALL_BCAST, SGMPI_CALL_BARRIER,
	SGMPI_CALL_IALLREDUCE, SGMPI_CALL_IREDUCE, SGMPI_CALL_IBCAST,
	SGMPI_CALL_COUNT
};

/* Why a call went to PMPI. */
enum sgmpi_why {
	SGMPI_WHY_DISABLED,   /* sgbpf was not set up at MPI_Init (said then) */
	SGMPI_WHY_COMM,       /* not MPI_COMM_WORLD nor a communicator of its group in its order */
	SGMPI_WHY_DATATYPE,   /* not one of the mapped datatypes (Bcast: not contiguous) */
	SGMPI_WHY_OP,         /* a user op, a logical op, or an op the datatype does not take */
	SGMPI_WHY_FLOAT_PROD, /* MPI_PROD of floating-point numbers: sgbpf has no float PROD */
	SGMPI_WHY_TOO_LONG,   /* more than SG_MAX_MESSAGE_BYTES */
	SGMPI_WHY_ARGS,       /* a negative count or a root out of range: PMPI reports it */
	SGMPI_WHY_COUNT
};

/* One collective of one rank. */
struct sgmpi_job {
	enum sgmpi_prim prim;
	enum sgmpi_call call;
	int root;              /* the MPI call's root (-1: none) */
	const void *own;       /* this rank's contribution; BCAST0: rank 0's bytes */
	void *out;             /* where the result goes (NULL: nowhere); BCAST0: the workers' buffer */
	size_t count;          /* elements of dt; BCAST0: bytes */
	enum sg_datatype dt;
	enum sg_op op;
	void *scratch;         /* freed with the job */
	uint32_t seq;          /* the collective's number, the same on every rank */
	int async;             /* run by the engine's thread, completes greq */
	int err;               /* 0 or a negative errno */
	char msg[256];         /* what went wrong, when err */
	MPI_Comm comm;
	MPI_Request greq;
	int refs;              /* async: the engine's and the request's */
	struct sgmpi_job *next;
};

struct sgmpi_state {
	int enabled;
	int rank, size;
	sg_comm *comm;         /* rank 0 */
	sg_worker *worker;     /* the other ranks */
	int timeout_ms;        /* SGBPF_MPI_TIMEOUT_MS; -1: none, as MPI */
	long long spin_us;     /* spin this long before sleeping (SGBPF_MPI_SPIN_US; -1: forever) */
	int keyval;            /* caches the communicator check */
	char ifname[32];
	char addr[16];
	uint16_t port;
	char why_disabled[256];

	/* Counters (atomics: MPI_THREAD_MULTIPLE callers). */
	uint64_t via_sgbpf[SGMPI_CALL_COUNT];
	uint64_t via_pmpi[SGMPI_CALL_COUNT];
	uint64_t empty[SGMPI_CALL_COUNT];     /* count 0: nothing to move */
	uint64_t why[SGMPI_WHY_COUNT];
	uint64_t worker_stale;                /* requests of collectives already done */
	uint64_t worker_foreign;              /* messages without our header */
	uint64_t worker_dropped;              /* requests past the held ones' bound */
};

extern struct sgmpi_state sgmpi;

static inline void sgmpi_count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* init.c */
void sgmpi_setup(void);
void sgmpi_teardown(void);

/* route.c: 1 when the call goes through sgbpf (with *dt, *op set), else 0
 * (counted: the caller calls PMPI). Decided only from arguments that are the
 * same on every rank, so every rank takes the same path. */
int sgmpi_route_reduce(enum sgmpi_call call, int count, MPI_Datatype type, MPI_Op mop,
		       MPI_Comm comm, int root, enum sg_datatype *dt, enum sg_op *op);
int sgmpi_route_bcast(enum sgmpi_call call, int count, MPI_Datatype type, MPI_Comm comm,
		      int root, size_t *bytes);
int sgmpi_route_barrier(MPI_Comm comm);
int sgmpi_comm_ok(MPI_Comm comm);
int sgmpi_fallback(enum sgmpi_call call, enum sgmpi_why why); /* counts; returns 1 */

/* engine.c: run jobs one at a time, in the order they are started. */
int sgmpi_engine_start(void);
void sgmpi_engine_stop(void);
int sgmpi_run(struct sgmpi_job *job);    /* blocking: returns job->err */
void sgmpi_submit(struct sgmpi_job *job); /* the engine thread runs it, then completes job->greq */
void sgmpi_job_put(struct sgmpi_job *job);

/* proto.c: one job on this rank's side (coordinator or worker). */
int sgmpi_exec(struct sgmpi_job *job);
void sgmpi_worker_drain(void);           /* serve the socket while no job runs */
void sgmpi_worker_serve_until(MPI_Request *req); /* serve until *req completes (finalize) */
void sgmpi_stash_clear(void);

/* errors.c: an MPI error code for a failed job, through comm's handler. */
int sgmpi_fail(MPI_Comm comm, const char *call, int err, const char *msg);
int sgmpi_error_code(int err);
const char *sgmpi_call_name(enum sgmpi_call call);

/* stats.c */
void sgmpi_print_stats(void);

#endif /* SGMPI_H */
