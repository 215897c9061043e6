/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* An MPI program that checks the collectives libsgbpf-mpi interposes,
 * with and without it (tests/test_mpi_pmpi.sh): every datatype and op it
 * maps, counts of one element to more than one segment, every root,
 * MPI_IN_PLACE, the non-blocking forms several in flight, a duplicated
 * communicator, and the calls that must go to PMPI (a split communicator,
 * a user op, float MPI_PROD, a derived datatype), each against values every
 * rank computes for itself. With --sgbpf, an error (a NULL receive buffer,
 * which Open MPI does not check) must come back through the communicator's
 * handler (MPI_ERRORS_RETURN) and leave it usable.
 * Usage: mpi_check [--sgbpf] [COUNT of the long vectors, default 300000]
 * Prints "mpi_check: N checks, F failed" on rank 0; exits 1 on a failure. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size, checks, failed;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		checks++;                                                       \
		if (!(cond)) {                                                  \
			failed++;                                               \
			if (failed < 20) {                                      \
				fprintf(stderr, "mpi_check: rank %d: ", rank);  \
				fprintf(stderr, __VA_ARGS__);                   \
				fprintf(stderr, "\n");                          \
			}                                                       \
		}                                                               \
	} while (0)

/* ------------------------------------------------------------ integers */

struct itype {
	const char *name;
	MPI_Datatype t;
	int bits;
	int is_signed;
};

/* The contribution of rank @r to element @i, small enough that SUM does
 * not overflow any type at these fan-outs (PROD wraps, as C's unsigned
 * arithmetic does; the expectation wraps the same way). */
static int64_t ival(int r, size_t i)
{
	return (int64_t)((r * 31 + i * 7) % 13) + 1 - ((r + i) % 3 == 0 ? 3 : 0);
}

static void put_int(void *buf, const struct itype *t, size_t i, int64_t v)
{
	switch (t->bits) {
	case 8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
	case 16: ((uint16_t *)buf)[i] = (uint16_t)v; break;
	case 32: ((uint32_t *)buf)[i] = (uint32_t)v; break;
	default: ((uint64_t *)buf)[i] = (uint64_t)v; break;
	}
}

/* The value as the type holds it, widened (sign- or zero-extended). */
static int64_t get_int(const void *buf, const struct itype *t, size_t i)
{
	switch (t->bits) {
	case 8: return t->is_signed ? (int64_t)((int8_t *)buf)[i] : ((uint8_t *)buf)[i];
	case 16: return t->is_signed ? (int64_t)((int16_t *)buf)[i] : ((uint16_t *)buf)[i];
	case 32: return t->is_signed ? (int64_t)((int32_t *)buf)[i] : ((uint32_t *)buf)[i];
	default: return (int64_t)((uint64_t *)buf)[i];
	}
}

static int64_t narrow(const struct itype *t, int64_t v)
{
	uint64_t tmp[1];

	put_int(tmp, t, 0, v);
	return get_int(tmp, t, 0);
}

static int64_t ifold(const struct itype *t, MPI_Op op, size_t i, int nranks)
{
	int64_t acc = narrow(t, ival(0, i));

	for (int r = 1; r < nranks; r++) {
		int64_t v = narrow(t, ival(r, i));

		if (op == MPI_SUM)
			acc = narrow(t, (int64_t)((uint64_t)acc + (uint64_t)v));
		else if (op == MPI_PROD)
			acc = narrow(t, (int64_t)((uint64_t)acc * (uint64_t)v));
		else if (op == MPI_MIN)
			acc = t->is_signed ? (acc < v ? acc : v)
					   : ((uint64_t)acc < (uint64_t)v ? acc : v);
		else if (op == MPI_MAX)
			acc = t->is_signed ? (acc > v ? acc : v)
					   : ((uint64_t)acc > (uint64_t)v ? acc : v);
		else if (op == MPI_BAND)
			acc = narrow(t, acc & v);
		else if (op == MPI_BOR)
			acc = narrow(t, acc | v);
		else
			acc = narrow(t, acc ^ v);
	}
	return acc;
}

static void check_ints(MPI_Comm comm, size_t count)
{
	static const struct itype types[] = {
		{ "MPI_INT", MPI_INT, 32, 1 }, { "MPI_UNSIGNED", MPI_UNSIGNED, 32, 0 },
		{ "MPI_LONG", MPI_LONG, 64, 1 }, { "MPI_LONG_LONG", MPI_LONG_LONG, 64, 1 },
		{ "MPI_INT8_T", MPI_INT8_T, 8, 1 }, { "MPI_UINT8_T", MPI_UINT8_T, 8, 0 },
		{ "MPI_INT16_T", MPI_INT16_T, 16, 1 }, { "MPI_UINT16_T", MPI_UINT16_T, 16, 0 },
		{ "MPI_INT32_T", MPI_INT32_T, 32, 1 }, { "MPI_UINT32_T", MPI_UINT32_T, 32, 0 },
		{ "MPI_INT64_T", MPI_INT64_T, 64, 1 }, { "MPI_UINT64_T", MPI_UINT64_T, 64, 0 },
		{ "MPI_SHORT", MPI_SHORT, 16, 1 },
	};
	MPI_Op ops[] = { MPI_SUM, MPI_PROD, MPI_MIN, MPI_MAX, MPI_BAND, MPI_BOR, MPI_BXOR };
	const char *opn[] = { "SUM", "PROD", "MIN", "MAX", "BAND", "BOR", "BXOR" };

	for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
		const struct itype *t = &types[k];
		uint64_t *in = calloc(count, 8), *out = calloc(count, 8);

		for (size_t i = 0; i < count; i++)
			put_int(in, t, i, ival(rank, i));
		for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
			size_t bad = 0, first = 0;

			memset(out, 0xa5, count * 8);
			MPI_Allreduce(in, out, (int)count, t->t, ops[o], comm);
			for (size_t i = 0; i < count; i++) {
				if (get_int(out, t, i) != ifold(t, ops[o], i, size) && !bad++)
					first = i;
			}
			CHECK(!bad, "Allreduce %s %s count %zu: %zu wrong, first [%zu] = %lld, want %lld",
			      t->name, opn[o], count, bad, first, (long long)get_int(out, t, first),
			      (long long)ifold(t, ops[o], first, size));
		}
		free(in);
		free(out);
	}
}

/* ------------------------------------------------------------ floats */

static void check_floats(MPI_Comm comm, size_t count)
{
	float *f = calloc(count, 4), *fo = malloc(count * 4);
	double *d = malloc(count * 8), *dout = malloc(count * 8);
	size_t badf = 0, badd = 0;

	/* integer values: every order of summation gives the exact sum */
	for (size_t i = 0; i < count; i++) {
		f[i] = (float)ival(rank, i) * 0.5f;
		d[i] = (double)ival(rank, i) * 0.25;
	}
	MPI_Allreduce(f, fo, (int)count, MPI_FLOAT, MPI_SUM, comm);
	MPI_Allreduce(d, dout, (int)count, MPI_DOUBLE, MPI_MAX, comm);
	for (size_t i = 0; i < count; i++) {
		double sum = 0, max = -1e300;

		for (int r = 0; r < size; r++) {
			sum += ival(r, i) * 0.5;
			max = ival(r, i) * 0.25 > max ? ival(r, i) * 0.25 : max;
		}
		badf += fo[i] != (float)sum;
		badd += dout[i] != max;
	}
	CHECK(!badf, "Allreduce MPI_FLOAT SUM count %zu: %zu wrong", count, badf);
	CHECK(!badd, "Allreduce MPI_DOUBLE MAX count %zu: %zu wrong", count, badd);
	free(f);
	free(fo);
	free(d);
	free(dout);
}

/* ------------------------------------------------------------ pairs */

static void check_pairs(MPI_Comm comm)
{
	enum { N = 100 };
	struct { int v, i; } a[N], ao[N];
	struct { double v; int i; } b[N], bo[N];
	struct { long v; int i; } c[N], co[N];
	size_t bad = 0;

	for (int i = 0; i < N; i++) {
		a[i].v = (int)((rank * 7 + i) % 5);	/* ties: lowest rank wins */
		a[i].i = rank;
		b[i].v = (double)((rank * 3 + i) % 4) - 1.5;
		b[i].i = rank;
		c[i].v = -(long)((rank * 5 + i) % 3) * 1000000000000L;
		c[i].i = rank;
	}
	MPI_Allreduce(a, ao, N, MPI_2INT, MPI_MAXLOC, comm);
	MPI_Allreduce(b, bo, N, MPI_DOUBLE_INT, MPI_MINLOC, comm);
	MPI_Allreduce(c, co, N, MPI_LONG_INT, MPI_MAXLOC, comm);
	for (int i = 0; i < N; i++) {
		int ai = 0, bi = 0, ci = 0;

		for (int r = 1; r < size; r++) {
			if ((r * 7 + i) % 5 > (ai * 7 + i) % 5)
				ai = r;
			if ((double)((r * 3 + i) % 4) < (double)((bi * 3 + i) % 4))
				bi = r;
			if (-(long)((r * 5 + i) % 3) > -(long)((ci * 5 + i) % 3))
				ci = r;
		}
		bad += ao[i].i != ai || ao[i].v != (ai * 7 + i) % 5;
		bad += bo[i].i != bi || bo[i].v != (double)((bi * 3 + i) % 4) - 1.5;
		bad += co[i].i != ci || co[i].v != -(long)((ci * 5 + i) % 3) * 1000000000000L;
	}
	CHECK(!bad, "MAXLOC/MINLOC pairs: %zu wrong", bad);
}

/* ------------------------------------------------------------ roots, in place */

static void check_roots(MPI_Comm comm, size_t count)
{
	int *in = malloc(count * sizeof *in), *out = malloc(count * sizeof *out);
	uint8_t *msg = malloc(count * 4);

	for (int root = 0; root < size; root += (size > 2 ? size - 1 : 1)) {
		size_t bad = 0;

		for (size_t i = 0; i < count; i++) {
			in[i] = (int)ival(rank, i);
			out[i] = -7;
		}
		/* in place at the root, a send buffer elsewhere */
		if (rank == root) {
			memcpy(out, in, count * sizeof *in);
			MPI_Reduce(MPI_IN_PLACE, out, (int)count, MPI_INT, MPI_SUM, root, comm);
		} else {
			MPI_Reduce(in, NULL, (int)count, MPI_INT, MPI_SUM, root, comm);
		}
		for (size_t i = 0; i < count && rank == root; i++) {
			int64_t want = 0;

			for (int r = 0; r < size; r++)
				want += ival(r, i);
			bad += out[i] != want;
		}
		for (size_t i = 0; i < count && rank != root; i++)
			bad += out[i] != -7;	/* untouched off the root */
		CHECK(!bad, "Reduce root %d count %zu: %zu wrong", root, count, bad);

		for (size_t i = 0; i < count * 4; i++)
			msg[i] = rank == root ? (uint8_t)(i * 13 + root) : 0xee;
		MPI_Bcast(msg, (int)count, MPI_INT, root, comm);
		bad = 0;
		for (size_t i = 0; i < count * 4; i++)
			bad += msg[i] != (uint8_t)(i * 13 + root);
		CHECK(!bad, "Bcast root %d of %zu bytes: %zu wrong", root, count * 4, bad);
	}
	/* Allreduce in place */
	for (size_t i = 0; i < count; i++)
		out[i] = (int)ival(rank, i);
	MPI_Allreduce(MPI_IN_PLACE, out, (int)count, MPI_INT, MPI_MAX, comm);
	{
		size_t bad = 0;

		for (size_t i = 0; i < count; i++) {
			int64_t want = ival(0, i);

			for (int r = 1; r < size; r++)
				want = ival(r, i) > want ? ival(r, i) : want;
			bad += out[i] != want;
		}
		CHECK(!bad, "Allreduce MPI_IN_PLACE count %zu: %zu wrong", count, bad);
	}
	free(in);
	free(out);
	free(msg);
}

/* ------------------------------------------------------------ non-blocking */

static void check_nonblocking(MPI_Comm comm)
{
	enum { K = 6, N = 5000 };
	static int in[K][N], out[K][N];
	static uint8_t msg[3 * 1024 * 1024 + 5];
	MPI_Request reqs[K + 1];
	size_t bad = 0;

	for (int k = 0; k < K; k++)
		for (int i = 0; i < N; i++)
			in[k][i] = (int)ival(rank, (size_t)i) * (k + 1), out[k][i] = -1;
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = rank == 0 ? (uint8_t)(i * 7) : 0;
	for (int k = 0; k < K; k++) {
		if (k % 2)
			MPI_Ireduce(in[k], out[k], N, MPI_INT, MPI_SUM, 0, comm, &reqs[k]);
		else
			MPI_Iallreduce(in[k], out[k], N, MPI_INT, MPI_SUM, comm, &reqs[k]);
	}
	MPI_Ibcast(msg, sizeof msg, MPI_BYTE, 0, comm, &reqs[K]);
	MPI_Waitall(K + 1, reqs, MPI_STATUSES_IGNORE);
	for (int k = 0; k < K; k++) {
		for (int i = 0; i < N; i++) {
			int64_t want = 0;

			for (int r = 0; r < size; r++)
				want += ival(r, (size_t)i) * (k + 1);
			if (k % 2 && rank != 0)
				bad += out[k][i] != -1;
			else
				bad += out[k][i] != want;
		}
	}
	for (size_t i = 0; i < sizeof msg; i++)
		bad += msg[i] != (uint8_t)(i * 7);
	CHECK(!bad, "non-blocking collectives in flight together: %zu wrong", bad);
}

/* ------------------------------------------------------------ PMPI paths */

static void my_sum(void *in, void *inout, int *len, MPI_Datatype *t)
{
	for (int i = 0; i < *len; i++)
		((int *)inout)[i] += ((int *)in)[i];
}

static void check_fallbacks(void)
{
	MPI_Comm half;
	MPI_Op op;
	MPI_Datatype strided;
	int v = rank + 1, s = 0, want = 0;
	float f = 2.0f, fp = 0;
	int buf[8];

	/* a communicator of part of the group */
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
	MPI_Allreduce(&v, &s, 1, MPI_INT, MPI_SUM, half);
	for (int r = rank % 2; r < size; r += 2)
		want += r + 1;
	CHECK(s == want, "Allreduce on a split communicator: %d, want %d", s, want);
	MPI_Comm_free(&half);

	/* a user op */
	MPI_Op_create(my_sum, 1, &op);
	MPI_Allreduce(&v, &s, 1, MPI_INT, op, MPI_COMM_WORLD);
	CHECK(s == size * (size + 1) / 2, "Allreduce with a user op: %d", s);
	MPI_Op_free(&op);

	/* float PROD */
	MPI_Allreduce(&f, &fp, 1, MPI_FLOAT, MPI_PROD, MPI_COMM_WORLD);
	CHECK(fp == (float)(1 << size), "Allreduce MPI_FLOAT MPI_PROD: %g", (double)fp);

	/* a datatype with holes */
	MPI_Type_vector(4, 1, 2, MPI_INT, &strided);
	MPI_Type_commit(&strided);
	for (int i = 0; i < 8; i++)
		buf[i] = rank == 0 ? i * 10 : -1;
	MPI_Bcast(buf, 1, strided, 0, MPI_COMM_WORLD);
	for (int i = 0; i < 8; i += 2)
		CHECK(buf[i] == i * 10, "Bcast of a strided datatype: [%d] = %d", i, buf[i]);
	MPI_Type_free(&strided);
}

/* ------------------------------------------------------------ errors */

static void check_errors(MPI_Comm comm)
{
	int v = 1, rc, cls = -1, len;
	char text[MPI_MAX_ERROR_STRING];

	MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	/* every rank passes the same bad buffer: an error, nothing sent */
	rc = MPI_Allreduce(&v, NULL, 1, MPI_INT, MPI_SUM, comm);
	MPI_Error_class(rc, &cls);
	MPI_Error_string(rc, text, &len);
	CHECK(rc != MPI_SUCCESS && cls == MPI_ERR_BUFFER,
	      "Allreduce into NULL: rc %d class %d (%s), want MPI_ERR_BUFFER", rc, cls, text);
	/* and the communicator still works */
	rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_SUM, comm);
	CHECK(rc == MPI_SUCCESS && v == size, "Allreduce after an error: rc %d, %d", rc, v);
}

int main(int argc, char **argv)
{
	MPI_Comm dup;
	size_t big = 300000; /* 1.2 MB of int: more than one segment */
	int lib_errors = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--sgbpf") == 0)
			lib_errors = 1;	/* Open MPI itself does not check for NULL */
		else
			big = strtoul(argv[a], NULL, 0);
	}

	check_ints(MPI_COMM_WORLD, 1);
	check_ints(MPI_COMM_WORLD, 1000);
	check_floats(MPI_COMM_WORLD, 1000);
	check_floats(MPI_COMM_WORLD, big);
	check_pairs(MPI_COMM_WORLD);
	check_roots(MPI_COMM_WORLD, 3);
	check_roots(MPI_COMM_WORLD, big);
	MPI_Barrier(MPI_COMM_WORLD);

	MPI_Comm_dup(MPI_COMM_WORLD, &dup);
	check_ints(dup, 17);
	check_nonblocking(dup);
	if (lib_errors)
		check_errors(dup);
	MPI_Comm_free(&dup);
	check_fallbacks();
	MPI_Barrier(MPI_COMM_WORLD);

	{
		int f = failed, all = 0, c = checks;

		MPI_Allreduce(&f, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
		if (rank == 0)
			printf("mpi_check: %d ranks, %d checks per rank, %d failed\n", size, c, all);
		MPI_Finalize();
		return all ? 1 : 0;
	}
}
