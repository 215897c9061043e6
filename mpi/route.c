/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which calls go through sgbpf: the communicator, datatype and op checks.
 * Only arguments MPI requires to be the same on every rank are looked at
 * (communicator, count, datatype, op, root), so every rank takes the same
 * path and none waits on sgbpf for a rank that went to PMPI. */
#include "sgmpi.h"

/* A communicator goes through sgbpf when it is MPI_COMM_WORLD or has its
 * group in its order (MPI_Comm_dup, a split that keeps everyone): rank r is
 * then world rank r, worker r of the sgbpf communicator. The answer is kept
 * on the communicator (copied by MPI_Comm_dup). */
enum { COMM_NO = 1, COMM_YES = 2 };

int sgmpi_comm_ok(MPI_Comm comm)
{
	void *val;
	int flag = 0, inter = 0, cmp = MPI_UNEQUAL;
	intptr_t v;

	if (comm == MPI_COMM_WORLD)
		return 1;
	if (comm == MPI_COMM_NULL)
		return 0;
	if (sgmpi.keyval != MPI_KEYVAL_INVALID &&
	    PMPI_Comm_get_attr(comm, sgmpi.keyval, &val, &flag) == MPI_SUCCESS && flag)
		return (intptr_t)val == COMM_YES;
	if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
		v = COMM_NO;
	else if (PMPI_Comm_compare(comm, MPI_COMM_WORLD, &cmp) != MPI_SUCCESS)
		v = COMM_NO;
	else
		v = (cmp == MPI_IDENT || cmp == MPI_CONGRUENT) ? COMM_YES : COMM_NO;
	if (sgmpi.keyval != MPI_KEYVAL_INVALID)
		PMPI_Comm_set_attr(comm, sgmpi.keyval, (void *)v);
	return v == COMM_YES;
}

/* The sgbpf datatype of a predefined MPI one; -1 for any other. */
static int map_datatype(MPI_Datatype t)
{
	if (t == MPI_INT || t == MPI_INT32_T)
		return SG_INT32;
	if (t == MPI_UNSIGNED || t == MPI_UINT32_T)
		return SG_UINT32;
	if (t == MPI_LONG)
		return sizeof(long) == 8 ? SG_INT64 : SG_INT32;
	if (t == MPI_UNSIGNED_LONG)
		return sizeof(long) == 8 ? SG_UINT64 : SG_UINT32;
	if (t == MPI_LONG_LONG || t == MPI_LONG_LONG_INT || t == MPI_INT64_T)
		return SG_INT64;
	if (t == MPI_UNSIGNED_LONG_LONG || t == MPI_UINT64_T)
		return SG_UINT64;
	if (t == MPI_SHORT || t == MPI_INT16_T)
		return SG_INT16;
	if (t == MPI_UNSIGNED_SHORT || t == MPI_UINT16_T)
		return SG_UINT16;
	if (t == MPI_SIGNED_CHAR || t == MPI_INT8_T)
		return SG_INT8;
	if (t == MPI_UNSIGNED_CHAR || t == MPI_UINT8_T || t == MPI_BYTE)
		return SG_UINT8;
	if (t == MPI_FLOAT)
		return SG_FLOAT32;
	if (t == MPI_DOUBLE)
		return SG_FLOAT64;
	/* The pairs' C layouts are sgbpf's struct sg_*_loc (sgbpf.h). */
	if (t == MPI_2INT)
		return SG_INT32_LOC;
	if (t == MPI_LONG_INT)
		return sizeof(long) == 8 ? SG_INT64_LOC : SG_INT32_LOC;
	if (t == MPI_FLOAT_INT)
		return SG_FLOAT32_LOC;
	if (t == MPI_DOUBLE_INT)
		return SG_FLOAT64_LOC;
	return -1;
}

static int map_op(MPI_Op o)
{
	if (o == MPI_SUM)
		return SG_OP_SUM;
	if (o == MPI_PROD)
		return SG_OP_PROD;
	if (o == MPI_MIN)
		return SG_OP_MIN;
	if (o == MPI_MAX)
		return SG_OP_MAX;
	if (o == MPI_BAND)
		return SG_OP_BAND;
	if (o == MPI_BOR)
		return SG_OP_BOR;
	if (o == MPI_BXOR)
		return SG_OP_BXOR;
	if (o == MPI_MAXLOC)
		return SG_OP_MAXLOC;
	if (o == MPI_MINLOC)
		return SG_OP_MINLOC;
	return -1;
}

static int is_float(int dt)
{
	return dt == SG_FLOAT32 || dt == SG_FLOAT64;
}

static int is_pair(int dt)
{
	return dt == SG_INT32_LOC || dt == SG_INT64_LOC || dt == SG_FLOAT32_LOC ||
	       dt == SG_FLOAT64_LOC;
}

/* The ops MPI defines on each kind of datatype (MPI 4.0, 6.9.2), less float
 * PROD, which sgbpf does not have; MPI_BYTE takes only the bitwise ops. */
static enum sgmpi_why check_op(MPI_Datatype t, int dt, int op)
{
	if (is_pair(dt))
		return op == SG_OP_MAXLOC || op == SG_OP_MINLOC ? SGMPI_WHY_COUNT : SGMPI_WHY_OP;
	if (op == SG_OP_MAXLOC || op == SG_OP_MINLOC)
		return SGMPI_WHY_OP;
	if (is_float(dt)) {
		if (op == SG_OP_PROD)
			return SGMPI_WHY_FLOAT_PROD;
		return op == SG_OP_SUM || op == SG_OP_MIN || op == SG_OP_MAX ? SGMPI_WHY_COUNT
									   : SGMPI_WHY_OP;
	}
	if (t == MPI_BYTE)
		return op == SG_OP_BAND || op == SG_OP_BOR || op == SG_OP_BXOR ? SGMPI_WHY_COUNT
									       : SGMPI_WHY_OP;
	return SGMPI_WHY_COUNT;
}

/* Count a call that goes to PMPI; returns 1 (for conditions) */
int sgmpi_fallback(enum sgmpi_call call, enum sgmpi_why why)
{
	sgmpi_count(&sgmpi.via_pmpi[call]);
	sgmpi_count(&sgmpi.why[why]);
	return 1;
}

static int fallback(enum sgmpi_call call, enum sgmpi_why why)
{
	sgmpi_fallback(call, why);
	return 0;
}

/* The checks every call shares: enabled, communicator, root. */
static enum sgmpi_why check_common(int count, MPI_Comm comm, int root)
{
	if (!sgmpi.enabled)
		return SGMPI_WHY_DISABLED;
	if (!sgmpi_comm_ok(comm))
		return SGMPI_WHY_COMM;
	if (count < 0 || root < -1 || root >= sgmpi.size)
		return SGMPI_WHY_ARGS;
	return SGMPI_WHY_COUNT;
}

int sgmpi_route_reduce(enum sgmpi_call call, int count, MPI_Datatype type, MPI_Op mop,
		       MPI_Comm comm, int root, enum sg_datatype *dt, enum sg_op *op)
{
	enum sgmpi_why why = check_common(count, comm, root);
	int d, o;

	if (why != SGMPI_WHY_COUNT)
		return fallback(call, why);
	d = map_datatype(type);
	if (d < 0)
		return fallback(call, SGMPI_WHY_DATATYPE);
	o = map_op(mop);
	if (o < 0)
		return fallback(call, SGMPI_WHY_OP);
	why = check_op(type, d, o);
	if (why != SGMPI_WHY_COUNT)
		return fallback(call, why);
	if ((uint64_t)count * sg_datatype_size(d) > SG_MAX_MESSAGE_BYTES)
		return fallback(call, SGMPI_WHY_TOO_LONG);
	*dt = d;
	*op = o;
	return 1;
}

int sgmpi_route_bcast(enum sgmpi_call call, int count, MPI_Datatype type, MPI_Comm comm,
		      int root, size_t *bytes)
{
	enum sgmpi_why why = check_common(count, comm, root);
	MPI_Aint lb, extent, tlb, textent;
	int size;

	if (why == SGMPI_WHY_COUNT && root < 0)
		why = SGMPI_WHY_ARGS;
	if (why != SGMPI_WHY_COUNT)
		return fallback(call, why);
	/* Bytes as they lie in memory: any datatype whose elements are
	 * contiguous, predefined or derived. */
	if (type == MPI_DATATYPE_NULL || PMPI_Type_size(type, &size) != MPI_SUCCESS ||
	    PMPI_Type_get_extent(type, &lb, &extent) != MPI_SUCCESS ||
	    PMPI_Type_get_true_extent(type, &tlb, &textent) != MPI_SUCCESS || size <= 0 ||
	    lb != 0 || tlb != 0 || extent != size || textent != size)
		return fallback(call, SGMPI_WHY_DATATYPE);
	if ((uint64_t)count * (uint64_t)size > SG_MAX_MESSAGE_BYTES)
		return fallback(call, SGMPI_WHY_TOO_LONG);
	*bytes = (size_t)count * (size_t)size;
	return 1;
}

int sgmpi_route_barrier(MPI_Comm comm)
{
	enum sgmpi_why why = check_common(0, comm, -1);

	if (why != SGMPI_WHY_COUNT)
		return fallback(SGMPI_CALL_BARRIER, why);
	return 1;
}
