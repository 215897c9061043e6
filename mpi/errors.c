/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* sgbpf's errors as MPI errors: each errno gets an MPI error code of the
 * class that fits (MPI_Error_class() gives it) whose MPI_Error_string() is
 * sgbpf's text, and the failure goes through the communicator's error
 * handler, as MPI's own would. The detailed message goes to stderr first:
 * with MPI_ERRORS_ARE_FATAL the job ends, but not silently. */
#include <errno.h>
#include <stdio.h>

#include "sgmpi.h"

static const char *const call_names[SGMPI_CALL_COUNT] = {
	[SGMPI_CALL_ALLREDUCE] = "MPI_Allreduce", [SGMPI_CALL_REDUCE] = "MPI_Reduce",
	[SGMPI_CALL_BCAST] = "MPI_Bcast", [SGMPI_CALL_BARRIER] = "MPI_Barrier",
	[SGMPI_CALL_IALLREDUCE] = "MPI_Iallreduce", [SGMPI_CALL_IREDUCE] = "MPI_Ireduce",
	[SGMPI_CALL_IBCAST] = "MPI_Ibcast",
};

const char *sgmpi_call_name(enum sgmpi_call call)
{
	return (unsigned int)call < SGMPI_CALL_COUNT ? call_names[call] : "?";
}

static int class_of(int err)
{
	switch (err) {
	case -EINVAL:
		return MPI_ERR_ARG;
	case -E2BIG:
		return MPI_ERR_COUNT;
	case -ENOMEM:
	case -ENOSPC:
		return MPI_ERR_NO_MEM;
	case -EPROTO:
	case -EFAULT:
		return MPI_ERR_INTERN;
	default:
		return MPI_ERR_OTHER;
	}
}

/* Codes are made once per errno (MPI_Add_error_code is not thread-safe:
 * under the lock) and kept for the life of MPI. */
#define NCODES 256
static int codes[NCODES];
static pthread_mutex_t codes_mu = PTHREAD_MUTEX_INITIALIZER;

int sgmpi_error_code(int err)
{
	int e = -err, code = class_of(err);
	char text[MPI_MAX_ERROR_STRING];

	if (e <= 0 || e >= NCODES)
		return code;
	pthread_mutex_lock(&codes_mu);
	if (!codes[e] && PMPI_Add_error_code(class_of(err), &codes[e]) == MPI_SUCCESS) {
		snprintf(text, sizeof text, "sgbpf: %s", sg_strerror(err));
		PMPI_Add_error_string(codes[e], text);
	}
	if (codes[e])
		code = codes[e];
	pthread_mutex_unlock(&codes_mu);
	return code;
}

int sgmpi_fail(MPI_Comm comm, const char *call, int err, const char *msg)
{
	int code = sgmpi_error_code(err);

	fprintf(stderr, "sgbpf-mpi: rank %d: %s: %s (%s)\n", sgmpi.rank, call,
		msg && *msg ? msg : sg_strerror(err), sg_strerror(err));
	PMPI_Comm_call_errhandler(comm, code);
	return code;
}
