/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The interposed collectives: MPI_Allreduce, MPI_Reduce, MPI_Bcast,
 * MPI_Barrier and MPI_Iallreduce, MPI_Ireduce, MPI_Ibcast. Each either
 * becomes a job on sgbpf (mapping in mpi/README.md) or goes to PMPI,
 * counted, when route.c says so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sgmpi.h"

#define API __attribute__((visibility("default")))

static int bad_buffer(MPI_Comm comm, enum sgmpi_call call, const char *what)
{
	fprintf(stderr, "sgbpf-mpi: rank %d: %s: %s\n", sgmpi.rank, sgmpi_call_name(call), what);
	PMPI_Comm_call_errhandler(comm, MPI_ERR_BUFFER);
	return MPI_ERR_BUFFER;
}

static int no_memory(MPI_Comm comm, enum sgmpi_call call, size_t bytes)
{
	fprintf(stderr, "sgbpf-mpi: rank %d: %s: no memory for %zu bytes\n", sgmpi.rank,
		sgmpi_call_name(call), bytes);
	PMPI_Comm_call_errhandler(comm, MPI_ERR_NO_MEM);
	return MPI_ERR_NO_MEM;
}

/* The arguments every job has. */
static void job_args(struct sgmpi_job *job, enum sgmpi_call call, MPI_Comm comm, int root,
		     size_t count, enum sg_datatype dt, enum sg_op op)
{
	job->call = call;
	job->comm = comm;
	job->root = root;
	job->count = count;
	job->dt = dt;
	job->op = op;
}

/* A reduction to every rank (root -1) or to @root. Rank r of a routed
 * communicator is world rank r (route.c), so sgmpi.rank says who is root.
 * Returns MPI_SUCCESS or the error of a bad buffer. */
static int reduce_job(struct sgmpi_job *job, enum sgmpi_call call, const void *sendbuf,
		      void *recvbuf, size_t count, enum sg_datatype dt, enum sg_op op, int root,
		      MPI_Comm comm)
{
	int gets = root < 0 || root == sgmpi.rank;
	const void *own = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;

	if (sendbuf == MPI_IN_PLACE && !gets)
		return bad_buffer(comm, call, "MPI_IN_PLACE is the root's only");
	if (!own || (gets && !recvbuf))
		return bad_buffer(comm, call, "NULL buffer");
	job_args(job, call, comm, root, count, dt, op);
	job->own = own;
	if (root < 0) {
		job->prim = SGMPI_ALLREDUCE;
		job->out = recvbuf;
	} else if (root == 0) {
		/* rank 0 is sgbpf's coordinator: the one that gets a reduce's result */
		job->prim = SGMPI_REDUCE0;
		job->out = gets ? recvbuf : NULL;
	} else {
		/* another root: an allreduce, whose result only the root keeps */
		job->prim = SGMPI_ALLREDUCE;
		job->out = gets ? recvbuf : (job->scratch = malloc(count * sg_datatype_size(dt)));
		if (!job->out)
			return no_memory(comm, call, count * sg_datatype_size(dt));
	}
	return MPI_SUCCESS;
}

/* Rank @root's @bytes of @buf to every rank: from rank 0, its own requests
 * carry them (BCAST0); from another root, a bitwise-OR allreduce of the
 * bytes, zeros everywhere but at the root. */
static int bcast_job(struct sgmpi_job *job, enum sgmpi_call call, void *buf, size_t bytes,
		     int root, MPI_Comm comm)
{
	if (!buf)
		return bad_buffer(comm, call, "NULL buffer");
	job_args(job, call, comm, root, bytes, SG_UINT8, SG_OP_BOR);
	job->out = buf;
	if (root == 0) {
		job->prim = SGMPI_BCAST0;
		job->own = buf;
		return MPI_SUCCESS;
	}
	job->prim = SGMPI_ALLREDUCE;
	job->own = root == sgmpi.rank ? buf : (job->scratch = calloc(bytes, 1));
	return job->own ? MPI_SUCCESS : no_memory(comm, call, bytes);
}

/* Run a blocking job; its status as an MPI error. */
static int run(struct sgmpi_job *job)
{
	int err;

	sgmpi_count(&sgmpi.via_sgbpf[job->call]);
	err = sgmpi_run(job);
	free(job->scratch);
	if (err)
		return sgmpi_fail(job->comm, sgmpi_call_name(job->call), err, job->msg);
	return MPI_SUCCESS;
}

/* ------------------------------------------------------------ blocking */

API int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
		      MPI_Op mop, MPI_Comm comm)
{
	struct sgmpi_job job = { 0 };
	enum sg_datatype dt;
	enum sg_op op;
	int rc;

	if (!sgmpi_route_reduce(SGMPI_CALL_ALLREDUCE, count, datatype, mop, comm, -1, &dt, &op))
		return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, mop, comm);
	if (count == 0) {
		sgmpi_count(&sgmpi.empty[SGMPI_CALL_ALLREDUCE]);
		return MPI_SUCCESS;
	}
	rc = reduce_job(&job, SGMPI_CALL_ALLREDUCE, sendbuf, recvbuf, count, dt, op, -1, comm);
	return rc ? rc : run(&job);
}

API int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
		   MPI_Op mop, int root, MPI_Comm comm)
{
	struct sgmpi_job job = { 0 };
	enum sg_datatype dt;
	enum sg_op op;
	int rc;

	if (root < 0 ? sgmpi_fallback(SGMPI_CALL_REDUCE, SGMPI_WHY_ARGS) :
	    !sgmpi_route_reduce(SGMPI_CALL_REDUCE, count, datatype, mop, comm, root, &dt, &op))
		return PMPI_Reduce(sendbuf, recvbuf, count, datatype, mop, root, comm);
	if (count == 0) {
		sgmpi_count(&sgmpi.empty[SGMPI_CALL_REDUCE]);
		return MPI_SUCCESS;
	}
	rc = reduce_job(&job, SGMPI_CALL_REDUCE, sendbuf, recvbuf, count, dt, op, root, comm);
	return rc ? rc : run(&job);
}

API int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm)
{
	struct sgmpi_job job = { 0 };
	size_t bytes;
	int rc;

	if (!sgmpi_route_bcast(SGMPI_CALL_BCAST, count, datatype, comm, root, &bytes))
		return PMPI_Bcast(buffer, count, datatype, root, comm);
	if (bytes == 0) {
		sgmpi_count(&sgmpi.empty[SGMPI_CALL_BCAST]);
		return MPI_SUCCESS;
	}
	rc = bcast_job(&job, SGMPI_CALL_BCAST, buffer, bytes, root, comm);
	return rc ? rc : run(&job);
}

/* No rank leaves before every rank has come: rank 0 has every worker's
 * answer before it sends the result the workers wait for. */
API int MPI_Barrier(MPI_Comm comm)
{
	uint8_t byte = 0;
	struct sgmpi_job job = { .prim = SGMPI_ALLREDUCE, .call = SGMPI_CALL_BARRIER,
				 .root = -1, .own = &byte, .out = &byte, .count = 1,
				 .dt = SG_UINT8, .op = SG_OP_BOR, .comm = comm };

	if (!sgmpi_route_barrier(comm))
		return PMPI_Barrier(comm);
	return run(&job);
}

/* ------------------------------------------------------------ non-blocking */

/* A generalized request completed by the engine's thread. */
static int greq_query(void *extra, MPI_Status *status)
{
	struct sgmpi_job *job = extra;
	int code = MPI_SUCCESS;

	if (job->err) {
		code = sgmpi_error_code(job->err);
		if (job->msg[0]) {
			fprintf(stderr, "sgbpf-mpi: rank %d: %s: %s (%s)\n", sgmpi.rank,
				sgmpi_call_name(job->call), job->msg, sg_strerror(job->err));
			job->msg[0] = 0;	/* said once */
		}
	}
	PMPI_Status_set_elements(status, MPI_BYTE, 0);
	PMPI_Status_set_cancelled(status, 0);
	status->MPI_SOURCE = MPI_UNDEFINED;
	status->MPI_TAG = MPI_UNDEFINED;
	status->MPI_ERROR = code;
	return code;
}

static int greq_free(void *extra)
{
	sgmpi_job_put(extra);
	return MPI_SUCCESS;
}

static int greq_cancel(void *extra, int complete)
{
	(void)extra;
	(void)complete;
	return MPI_SUCCESS;	/* a collective cannot be cancelled (MPI 4.0, 5.12) */
}

/* Start @job (heap, filled) behind a generalized request; with @empty, a
 * request that is complete at once. */
static int start(struct sgmpi_job *job, int empty, MPI_Request *req)
{
	int rc;

	job->refs = empty ? 1 : 2;
	rc = PMPI_Grequest_start(greq_query, greq_free, greq_cancel, job, req);
	if (rc != MPI_SUCCESS) {
		free(job->scratch);
		free(job);
		return rc;
	}
	job->greq = *req;
	if (empty) {
		sgmpi_count(&sgmpi.empty[job->call]);
		return PMPI_Grequest_complete(*req);
	}
	sgmpi_count(&sgmpi.via_sgbpf[job->call]);
	sgmpi_submit(job);
	return MPI_SUCCESS;
}

static struct sgmpi_job *new_job(MPI_Comm comm, enum sgmpi_call call)
{
	struct sgmpi_job *job = calloc(1, sizeof *job);

	if (!job) {
		fprintf(stderr, "sgbpf-mpi: rank %d: %s: no memory\n", sgmpi.rank,
			sgmpi_call_name(call));
		PMPI_Comm_call_errhandler(comm, MPI_ERR_NO_MEM);
		return NULL;
	}
	job->call = call;
	job->comm = comm;
	return job;
}

static int istart_reduce(enum sgmpi_call call, const void *sendbuf, void *recvbuf, int count,
			 enum sg_datatype dt, enum sg_op op, int root, MPI_Comm comm,
			 MPI_Request *req)
{
	struct sgmpi_job *job = new_job(comm, call);
	int rc;

	if (!job)
		return MPI_ERR_NO_MEM;
	if (count > 0) {
		rc = reduce_job(job, call, sendbuf, recvbuf, count, dt, op, root, comm);
		if (rc) {
			free(job->scratch);
			free(job);
			return rc;
		}
	}
	return start(job, count == 0, req);
}

API int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
		       MPI_Op mop, MPI_Comm comm, MPI_Request *req)
{
	enum sg_datatype dt;
	enum sg_op op;

	if (!req || !sgmpi_route_reduce(SGMPI_CALL_IALLREDUCE, count, datatype, mop, comm, -1,
					&dt, &op))
		return PMPI_Iallreduce(sendbuf, recvbuf, count, datatype, mop, comm, req);
	return istart_reduce(SGMPI_CALL_IALLREDUCE, sendbuf, recvbuf, count, dt, op, -1, comm, req);
}

API int MPI_Ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
		    MPI_Op mop, int root, MPI_Comm comm, MPI_Request *req)
{
	enum sg_datatype dt;
	enum sg_op op;

	if (!req || (root < 0 ? sgmpi_fallback(SGMPI_CALL_IREDUCE, SGMPI_WHY_ARGS) :
	    !sgmpi_route_reduce(SGMPI_CALL_IREDUCE, count, datatype, mop, comm, root, &dt, &op)))
		return PMPI_Ireduce(sendbuf, recvbuf, count, datatype, mop, root, comm, req);
	return istart_reduce(SGMPI_CALL_IREDUCE, sendbuf, recvbuf, count, dt, op, root, comm, req);
}

API int MPI_Ibcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm,
		   MPI_Request *req)
{
	struct sgmpi_job *job;
	size_t bytes;
	int rc;

	if (!req || !sgmpi_route_bcast(SGMPI_CALL_IBCAST, count, datatype, comm, root, &bytes))
		return PMPI_Ibcast(buffer, count, datatype, root, comm, req);
	job = new_job(comm, SGMPI_CALL_IBCAST);
	if (!job)
		return MPI_ERR_NO_MEM;
	if (bytes > 0) {
		rc = bcast_job(job, SGMPI_CALL_IBCAST, buffer, bytes, root, comm);
		if (rc) {
			free(job->scratch);
			free(job);
			return rc;
		}
	}
	return start(job, bytes == 0, req);
}
