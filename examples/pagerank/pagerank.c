// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * PageRank supersteps over MPI_Allreduce (examples/pagerank/README.md).
 *
 * The graph: the Graph500 Kronecker graph of 2^scale vertices and
 * 16 * 2^scale edges (kronecker.c), every generated edge (u, v) taken as the
 * directed edge u -> v, duplicates and self loops kept: networkx's pagerank
 * on a MultiDiGraph (parallel edges count as weight, a self loop is an
 * ordinary edge). Every rank generates the whole edge list and keeps the
 * edges whose source it owns: source s belongs to rank s % size.
 *
 * A superstep, on every rank, from the float32 vector pr of all 2^scale
 * ranks:
 *   1. contrib[v] = sum of pr[s] / outdeg(s) over this rank's edges s -> v,
 *      and contrib[N] = the sum of pr[s] over this rank's sources without
 *      out-edges (the dangling mass), accumulated in double, each element
 *      rounded once to float: a vector of N + 1 floats;
 *   2. one MPI_Allreduce(MPI_FLOAT, MPI_SUM) of it (timed alone);
 *   3. pr[v] = (1 - d) / N + d * (sum[v] + sum[N] / N), in double, rounded
 *      to float; the L1 change sum |pr_new - pr| decides the stop (below
 *      --tol, or --iters supersteps). Every rank computes the same from the
 *      same reduced vector, so they stop together.
 * Steps 1 and 3 are the compute time of the superstep.
 *
 * --reference: the same iteration in one process, in double, without MPI
 * (MPI_Init is not called). --check FILE: the reference for the run that
 * wrote FILE (same graph, same number of supersteps), the per-element error
 * bound of README.md propagated alongside, and every element of FILE
 * checked against it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kronecker.h"

#define FILE_MAGIC "# sgbpf-pagerank"

struct opts {
	int scale, edgefactor, scramble, iters, warmup, csv, reference, quiet;
	uint64_t seed;
	double tol, damping;
	const char *out, *edges, *check, *csv_path, *ifname;
};

/* This rank's share of the graph: the out-edges of its sources
 * s = rank + i * size (i = 0 .. nloc - 1) in CSR form. */
struct graph {
	uint64_t n, m;		/* vertices and edges of the whole graph */
	uint64_t nloc;		/* sources owned here */
	uint64_t mloc;		/* their edges */
	uint64_t *off;		/* nloc + 1 */
	uint32_t *dst;		/* mloc */
};

static int rank, nranks = 1;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pagerank[%d]: ", rank);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (!p)
		die("out of memory (%zu x %zu bytes)", n, sz);
	return p;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Generate every edge, keep those whose source is ours (s % size == rank),
 * and write them all to @edges_out when given ("src dst" lines). */
static void build_graph(const struct kron *g, int me, int size, FILE *edges_out,
			struct graph *gr)
{
	uint64_t k, cap, npairs = 0, i;
	uint64_t *pairs;

	gr->n = g->nvertices;
	gr->m = g->nedges;
	gr->nloc = (gr->n - (uint64_t)me + (uint64_t)size - 1) / (uint64_t)size;
	cap = gr->m / (uint64_t)size + gr->m / (4 * (uint64_t)size) + 1024;
	pairs = xcalloc(cap, sizeof(*pairs));
	if (edges_out)
		fprintf(edges_out, "# kronecker scale=%d edgefactor=%" PRIu64 " seed=%" PRIu64
			" scramble=%d n=%" PRIu64 " m=%" PRIu64 "\n", g->scale, gr->m / gr->n,
			g->seed, g->perm != NULL, gr->n, gr->m);
	for (k = 0; k < gr->m; k++) {
		uint32_t s, d;

		kron_edge(g, k, &s, &d);
		if (edges_out)
			fprintf(edges_out, "%" PRIu32 " %" PRIu32 "\n", s, d);
		if (s % (uint32_t)size != (uint32_t)me)
			continue;
		if (npairs == cap) {
			cap *= 2;
			pairs = realloc(pairs, cap * sizeof(*pairs));
			if (!pairs)
				die("out of memory");
		}
		pairs[npairs++] = (uint64_t)(s / (uint32_t)size) << 32 | d;
	}
	/* Counting sort by local source; within a source, generation order. */
	gr->mloc = npairs;
	gr->off = xcalloc(gr->nloc + 1, sizeof(*gr->off));
	gr->dst = xcalloc(npairs, sizeof(*gr->dst));
	for (i = 0; i < npairs; i++)
		gr->off[(pairs[i] >> 32) + 1]++;
	for (i = 0; i < gr->nloc; i++)
		gr->off[i + 1] += gr->off[i];
	uint64_t *fill = xcalloc(gr->nloc, sizeof(*fill));
	for (i = 0; i < npairs; i++) {
		uint64_t ls = pairs[i] >> 32;

		gr->dst[gr->off[ls] + fill[ls]++] = (uint32_t)pairs[i];
	}
	free(fill);
	free(pairs);
}

/* ---------------------------------------------------------------- bounds */

/* gamma_n of Higham's analysis: n roundings of unit u, first and higher
 * order. */
static double gamma_n(double n, double u)
{
	return n * u / (1 - n * u);
}

/* The relative error of one element of the reduced vector (the sum over
 * the ranks of contrib), against the exact sum of the terms pr[s]/outdeg(s)
 * from every rank's float pr, for a float32 run on @p ranks of a graph of
 * @m edges (README.md, "Against the single-process reference"):
 *   eps_loc: the rank's own sum, double terms and additions (at most m
 *            terms; 2^-53 each, doubled for the higher-order terms), then
 *            one rounding to float (2^-24);
 *   eps_red: the allreduce over p float addends: sgbpf's float SUM is
 *            within 2^-22 of the sum of magnitudes (docs/floats.md), an
 *            ordinary float summation in any order within gamma_{p-1}
 *            (p - 1 additions, 2^-24 each); the larger of the two;
 *   eps_c = eps_loc + eps_red * (1 + eps_loc). */
static double eps_reduced(uint64_t m, int p)
{
	double eps_loc = ldexp(1, -24) + (double)(m + 1) * ldexp(1, -52);
	double eps_red = fmax(ldexp(1, -22), gamma_n(p - 1, ldexp(1, -24)));

	return eps_loc + eps_red * (1 + eps_loc);
}

/* The double reference's own error, relative, in the same terms. */
static double eps_reference(uint64_t m)
{
	return (double)(m + 1) * ldexp(1, -52);
}

/* The operations of step 3 in double (the constants, a division, three
 * multiplications and additions): at most this many units of 2^-53 of the
 * magnitude, generously. */
#define UPDATE_ULPS 6.0

/* A bound on the L1 norm of one superstep's rounding error (for check.py's
 * comparison with networkx, README.md "Against networkx"): the per-element
 * terms summed over the vertices, where sum_v (T[v] + D/N) = ||pr||_1 <= ymax
 * and sum_v W[v] = (1 - d) + d * ||pr||_1. ymax, the largest ||pr||_1 of
 * the supersteps, was summed in double: 2^-20 covers that sum's error. */
static double delta_l1(int is_float, uint64_t m, int p, double d, double ymax)
{
	double eps = is_float ? eps_reduced(m, p) : eps_reference(m);

	ymax *= 1 + ldexp(1, -20);
	double w = (1 - d) + d * ymax;
	double pre = d * eps * ymax + UPDATE_ULPS * ldexp(1, -53) * (1 + eps) * w;

	return is_float ? pre + ldexp(1, -24) * (w + pre) : pre;
}

/* ---------------------------------------------------------------- output */

static void write_result(const char *path, const struct opts *o, const struct kron *g,
			 int p, int iters, double l1_last, double ymax, int is_float,
			 const float *prf, const double *prd)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, FILE_MAGIC " scale=%d edgefactor=%d seed=%" PRIu64 " scramble=%d"
		" n=%" PRIu64 " m=%" PRIu64 " ranks=%d iters=%d damping=%.17g tol=%.17g"
		" l1_last=%.17g precision=%s delta_l1=%.17g\n",
		o->scale, o->edgefactor, o->seed, o->scramble, g->nvertices, g->nedges, p,
		iters, o->damping, o->tol, l1_last, is_float ? "float32" : "float64",
		delta_l1(is_float, g->nedges, p, o->damping, ymax));
	for (uint64_t v = 0; v < g->nvertices; v++) {
		if (is_float)
			fprintf(f, "%.9g\n", prf[v]);
		else
			fprintf(f, "%.17g\n", prd[v]);
	}
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

/* The header of a result file into @o (graph and iteration parameters),
 * its ranks, supersteps and precision; the values into *vals. */
static void read_result(const char *path, struct opts *o, int *p, int *iters, int *is_float,
			double **vals, uint64_t *n)
{
	FILE *f = fopen(path, "r");
	char line[1024], prec[16];
	unsigned long long seed, nn, mm;
	double l1, dl1;

	if (!f)
		die("%s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f) || strncmp(line, FILE_MAGIC " ", strlen(FILE_MAGIC) + 1))
		die("%s: not a result of pagerank --out", path);
	if (sscanf(line + strlen(FILE_MAGIC), " scale=%d edgefactor=%d seed=%llu scramble=%d"
		   " n=%llu m=%llu ranks=%d iters=%d damping=%lf tol=%lf l1_last=%lf"
		   " precision=%15s delta_l1=%lf", &o->scale, &o->edgefactor, &seed,
		   &o->scramble, &nn, &mm, p, iters, &o->damping, &o->tol, &l1, prec, &dl1) != 13)
		die("%s: bad header: %s", path, line);
	o->seed = seed;
	*n = nn;
	*is_float = !strcmp(prec, "float32");
	*vals = xcalloc(nn, sizeof(**vals));
	for (uint64_t v = 0; v < nn; v++)
		if (fscanf(f, "%lf", &(*vals)[v]) != 1)
			die("%s: %" PRIu64 " values, %llu expected", path, v, nn);
	fclose(f);
}

static void print_top(const float *prf, const double *prd, uint64_t n)
{
	uint64_t top[5];
	int ntop = 0;

	for (uint64_t v = 0; v < n; v++) {
		double x = prf ? prf[v] : prd[v];
		int j;

		if (ntop < 5)
			j = ntop++;
		else if (x > (prf ? prf[top[4]] : prd[top[4]]))
			j = 4;
		else
			continue;
		while (j > 0 && (prf ? prf[top[j - 1]] : prd[top[j - 1]]) < x) {
			top[j] = top[j - 1];
			j--;
		}
		top[j] = v;
	}
	fprintf(stderr, "pagerank: top vertices:");
	for (int j = 0; j < ntop; j++)
		fprintf(stderr, " %" PRIu64 " (%.6g)", top[j], prf ? prf[top[j]] : prd[top[j]]);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- reference */

/* The iteration in double, in one process, for @iters supersteps or until
 * the L1 change is below @tol (tol < 0: exactly @iters). With @chk, the
 * per-element error bound b of a float32 (chk_float) or float64 run on
 * chk_ranks ranks is propagated alongside (README.md) and returned in
 * *bound. Returns the supersteps done. */
static int reference(const struct graph *gr, double d, int iters, double tol, double *x,
		     double *l1_last, double *ymax, int chk, int chk_float, int chk_ranks,
		     double *bound)
{
	uint64_t n = gr->n, v, i, e;
	double *acc = xcalloc(n, sizeof(*acc));
	double *tm = NULL, *gb = NULL;
	double eps = 0, eps_ref = eps_reference(gr->m);
	int it;

	if (chk) {
		tm = xcalloc(n, sizeof(*tm));
		gb = xcalloc(n, sizeof(*gb));
		eps = chk_float ? eps_reduced(gr->m, chk_ranks) : eps_reference(gr->m);
		for (v = 0; v < n; v++)
			bound[v] = chk_float ? fabs((double)(float)(1.0 / n) - 1.0 / n) : 0;
	}
	for (v = 0; v < n; v++)
		x[v] = 1.0 / n;
	*ymax = 1;
	*l1_last = 0;
	for (it = 0; it < iters; it++) {
		double dang = 0, dm = 0, db = 0, l1 = 0, y = 0;

		memset(acc, 0, n * sizeof(*acc));
		if (chk) {
			memset(tm, 0, n * sizeof(*tm));
			memset(gb, 0, n * sizeof(*gb));
		}
		for (i = 0; i < gr->nloc; i++) {
			uint64_t deg = gr->off[i + 1] - gr->off[i];

			if (!deg) {
				dang += x[i];
				if (chk) {
					dm += x[i] + bound[i];
					db += bound[i];
				}
				continue;
			}
			double w = x[i] / (double)deg;
			for (e = gr->off[i]; e < gr->off[i + 1]; e++)
				acc[gr->dst[e]] += w;
			if (chk) {
				double wm = (x[i] + bound[i]) / (double)deg, wb = bound[i] / (double)deg;

				for (e = gr->off[i]; e < gr->off[i + 1]; e++) {
					tm[gr->dst[e]] += wm;
					gb[gr->dst[e]] += wb;
				}
			}
		}
		double base = (1 - d) / (double)n + d * dang / (double)n;
		for (v = 0; v < n; v++) {
			double nv = base + d * acc[v];

			if (chk) {
				/* README.md: the bound of the run checked and the
				 * reference's own, on magnitudes x + b. */
				double mag = tm[v] + dm / (double)n;
				double wm = (1 - d) / (double)n + d * mag;
				double pre = d * (gb[v] + db / (double)n) + d * (eps + eps_ref) * mag +
					     2 * UPDATE_ULPS * ldexp(1, -53) * (1 + eps) * wm;

				bound[v] = chk_float ? pre + ldexp(1, -24) * (wm + pre) : pre;
			}
			l1 += fabs(nv - x[v]);
			x[v] = nv;
			y += nv;
		}
		*l1_last = l1;
		if (it + 1 < iters && y > *ymax)
			*ymax = y;
		if (tol >= 0 && l1 < tol) {
			it++;
			break;
		}
	}
	free(acc);
	free(tm);
	free(gb);
	return it;
}

static int run_reference(struct opts *o)
{
	struct kron g;
	struct graph gr;
	FILE *ef = NULL;
	double *chkvals = NULL, *bound = NULL, l1_last, ymax, t0;
	uint64_t chk_n = 0;
	int chk_ranks = 1, chk_iters = 0, chk_float = 0, iters;

	if (o->check)
		read_result(o->check, o, &chk_ranks, &chk_iters, &chk_float, &chkvals, &chk_n);
	if (kron_init(&g, o->scale, o->edgefactor, o->seed, o->scramble))
		die("kronecker generator: %s", strerror(errno));
	if (o->check && chk_n != g.nvertices)
		die("%s: %" PRIu64 " vertices, the graph has %" PRIu64, o->check, chk_n, g.nvertices);
	if (o->edges && !(ef = fopen(o->edges, "w")))
		die("%s: %s", o->edges, strerror(errno));
	t0 = now_s();
	build_graph(&g, 0, 1, ef, &gr);
	if (ef && fclose(ef))
		die("%s: %s", o->edges, strerror(errno));
	if (!o->quiet) {
		uint64_t ndang = 0, nself = 0;

		for (uint64_t s = 0; s < gr.nloc; s++) {
			ndang += gr.off[s + 1] == gr.off[s];
			for (uint64_t e = gr.off[s]; e < gr.off[s + 1]; e++)
				nself += gr.dst[e] == s;
		}
		fprintf(stderr, "pagerank: reference, scale %d: %" PRIu64 " vertices (%" PRIu64
			" without out-edges), %" PRIu64 " edges (%" PRIu64 " self loops; seed %" PRIu64
			", %s), generated in %.2f s\n", o->scale, gr.n, ndang, gr.m, nself, o->seed,
			o->scramble ? "scrambled" : "not scrambled", now_s() - t0);
	}

	double *x = xcalloc(gr.n, sizeof(*x));
	if (o->check)
		bound = xcalloc(gr.n, sizeof(*bound));
	t0 = now_s();
	iters = reference(&gr, o->damping, o->check ? chk_iters : o->iters,
			  o->check ? -1 : o->tol, x, &l1_last, &ymax, o->check != NULL, chk_float,
			  chk_ranks, bound);
	if (!o->quiet)
		fprintf(stderr, "pagerank: reference: %d supersteps in %.2f s, last L1 change %.3g\n",
			iters, now_s() - t0, l1_last);
	if (o->out)
		write_result(o->out, o, &g, 1, iters, l1_last, ymax, 0, NULL, x);
	if (!o->quiet && !o->check)
		print_top(NULL, x, gr.n);

	int rc = 0;
	if (o->check) {
		double maxdiff = 0, maxratio = 0, l1diff = 0, l1bound = 0, maxb = 0;
		uint64_t worst = 0, wdiff = 0, nbad = 0;

		for (uint64_t v = 0; v < gr.n; v++) {
			double diff = fabs(chkvals[v] - x[v]);

			l1diff += diff;
			l1bound += bound[v];
			if (bound[v] > maxb)
				maxb = bound[v];
			if (diff > maxdiff) {
				maxdiff = diff;
				wdiff = v;
			}
			if (diff / bound[v] > maxratio) {
				maxratio = diff / bound[v];
				worst = v;
			}
			if (!(diff <= bound[v]))
				nbad++;
		}
		printf("pagerank check: %s: %s, %d ranks, %d supersteps, %" PRIu64 " vertices: max |result"
		       " - reference| %.3g (bound there %.3g, largest bound %.3g), largest share of"
		       " its bound %.3g (vertex %" PRIu64 ": %.9g vs %.9g, bound %.3g); L1 %.3g"
		       " (sum of bounds %.3g): %s\n", o->check, chk_float ? "float32" : "float64",
		       chk_ranks, iters, gr.n, maxdiff, bound[wdiff], maxb, maxratio,
		       worst, chkvals[worst], x[worst], bound[worst], l1diff, l1bound,
		       nbad ? "FAIL" : "ok");
		if (nbad) {
			printf("pagerank check: %" PRIu64 " of %" PRIu64 " elements beyond their bound\n",
			       nbad, gr.n);
			rc = 1;
		}
	}
	free(x);
	free(bound);
	free(chkvals);
	free(gr.off);
	free(gr.dst);
	kron_free(&g);
	return rc;
}

/* ---------------------------------------------------------------- MPI */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0 < q <= 1) of v[0..n-1] (copied). */
static double percentile(const double *v, int n, double q)
{
	double *s = xcalloc(n, sizeof(*s)), r;
	int k;

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	k = (int)ceil(q * n);
	r = s[k < 1 ? 0 : k - 1];
	free(s);
	return r;
}

static uint64_t fnv1a(const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/* What the supersteps cost the machine, read by rank 0 around the loop:
 * the traffic of its network namespace's sg0 (the coordinator's link in
 * the lab; /proc/net/dev lists this namespace's devices) and the whole
 * machine's CPU time by kind (/proc/stat, every process, other jobs on the
 * machine included). */
struct costs {
	int have_if, have_cpu;
	unsigned long long rx_bytes, rx_packets, tx_bytes, tx_packets;
	unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
};

static void costs_read(struct costs *c, const char *ifname)
{
	char line[512];
	size_t len = strlen(ifname);
	FILE *f;

	memset(c, 0, sizeof(*c));
	if ((f = fopen("/proc/net/dev", "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char *p = line + strspn(line, " ");

			if (strncmp(p, ifname, len) || p[len] != ':')
				continue;
			c->have_if = sscanf(p + len + 1, "%llu %llu %*u %*u %*u %*u %*u %*u %llu %llu",
					    &c->rx_bytes, &c->rx_packets, &c->tx_bytes,
					    &c->tx_packets) == 4;
			break;
		}
		fclose(f);
	}
	if ((f = fopen("/proc/stat", "r"))) {
		c->have_cpu = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &c->user,
				     &c->nice, &c->system, &c->idle, &c->iowait, &c->irq,
				     &c->softirq, &c->steal) == 8;
		fclose(f);
	}
}

/* The costs between @a and @b on stderr: a human line and a key=value one
 * (run.sh's report reads it). */
static void costs_print(const struct costs *a, const struct costs *b, const char *ifname,
			int iters, double wall)
{
	double hz = (double)sysconf(_SC_CLK_TCK);

	fprintf(stderr, "pagerank-costs: supersteps=%d wall_s=%.6f", iters, wall);
	if (a->have_if && b->have_if)
		fprintf(stderr, " if=%s rx_bytes=%llu rx_packets=%llu tx_bytes=%llu tx_packets=%llu",
			ifname, b->rx_bytes - a->rx_bytes, b->rx_packets - a->rx_packets,
			b->tx_bytes - a->tx_bytes, b->tx_packets - a->tx_packets);
	if (a->have_cpu && b->have_cpu && hz > 0)
		fprintf(stderr, " cpus=%ld cpu_user_s=%.3f cpu_system_s=%.3f cpu_softirq_s=%.3f"
			" cpu_irq_s=%.3f cpu_idle_s=%.3f cpu_steal_s=%.3f", sysconf(_SC_NPROCESSORS_ONLN),
			(b->user + b->nice - a->user - a->nice) / hz, (b->system - a->system) / hz,
			(b->softirq - a->softirq) / hz, (b->irq - a->irq) / hz,
			(b->idle + b->iowait - a->idle - a->iowait) / hz, (b->steal - a->steal) / hz);
	fputc('\n', stderr);
}

static int run_mpi(struct opts *o, int *argc, char ***argv)
{
	struct kron g;
	struct graph gr;
	FILE *ef = NULL;
	double t0, tgen;

	MPI_Init(argc, argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (kron_init(&g, o->scale, o->edgefactor, o->seed, o->scramble))
		die("kronecker generator: %s", strerror(errno));
	if (g.nvertices + 1 > (uint64_t)INT32_MAX)
		die("scale %d: the vector does not fit one MPI count", o->scale);
	if (rank == 0 && o->edges && !(ef = fopen(o->edges, "w")))
		die("%s: %s", o->edges, strerror(errno));
	t0 = MPI_Wtime();
	build_graph(&g, rank, nranks, ef, &gr);
	tgen = MPI_Wtime() - t0;
	if (ef && fclose(ef))
		die("%s: %s", o->edges, strerror(errno));

	uint64_t n = gr.n, v, i, e;
	int count = (int)(n + 1), it, iters = o->iters;
	double d = o->damping;
	float *pr = xcalloc(n, sizeof(*pr));
	float *send = xcalloc(n + 1, sizeof(*send));
	float *sum = xcalloc(n + 1, sizeof(*sum));
	double *acc = xcalloc(n, sizeof(*acc));
	/* per superstep: allreduce and compute seconds of this rank */
	double *tar = xcalloc(iters, sizeof(*tar)), *tcomp = xcalloc(iters, sizeof(*tcomp));
	double *l1s = xcalloc(iters, sizeof(*l1s));
	double ymax = 0, y = 0, l1 = 0;

	for (v = 0; v < n; v++) {
		pr[v] = (float)(1.0 / n);
		y += pr[v];
	}
	ymax = y;
	/* Warm-up: connections, communicators and buffers are set up on the
	 * first collectives; not timed, not part of the iteration. */
	for (int w = 0; w < o->warmup; w++)
		MPI_Allreduce(send, sum, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);

	struct costs c0, c1;
	if (rank == 0)
		costs_read(&c0, o->ifname);
	double twall = MPI_Wtime();
	for (it = 0; it < iters; it++) {
		double ta = MPI_Wtime(), tb, tc, td, dang = 0;

		memset(acc, 0, n * sizeof(*acc));
		for (i = 0; i < gr.nloc; i++) {
			uint64_t s = (uint64_t)rank + i * (uint64_t)nranks;
			uint64_t deg = gr.off[i + 1] - gr.off[i];

			if (!deg) {
				dang += pr[s];
				continue;
			}
			double w = (double)pr[s] / (double)deg;
			for (e = gr.off[i]; e < gr.off[i + 1]; e++)
				acc[gr.dst[e]] += w;
		}
		for (v = 0; v < n; v++)
			send[v] = (float)acc[v];
		send[n] = (float)dang;
		tb = MPI_Wtime();
		MPI_Allreduce(send, sum, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		tc = MPI_Wtime();
		double base = (1 - d) / (double)n + d * (double)sum[n] / (double)n;
		l1 = 0;
		y = 0;
		for (v = 0; v < n; v++) {
			float nv = (float)(base + d * (double)sum[v]);

			l1 += fabs((double)nv - (double)pr[v]);
			pr[v] = nv;
			y += nv;
		}
		td = MPI_Wtime();
		tar[it] = tc - tb;
		tcomp[it] = (tb - ta) + (td - tc);
		l1s[it] = l1;
		if (it + 1 < iters && y > ymax)
			ymax = y;
		if (l1 < o->tol) {
			it++;
			break;
		}
	}
	twall = MPI_Wtime() - twall;
	iters = it;
	if (rank == 0)
		costs_read(&c1, o->ifname);

	/* After the timed loop: every rank's times, graph share and result
	 * hash to rank 0 (plain gathers). */
	struct { double gen, mloc, hash_hi, hash_lo, iters; } mine, *all = NULL;
	uint64_t h = fnv1a(pr, n * sizeof(*pr));
	mine.gen = tgen;
	mine.mloc = (double)gr.mloc;
	mine.hash_hi = (double)(h >> 32);
	mine.hash_lo = (double)(h & 0xffffffffu);
	mine.iters = iters;
	double *allar = NULL, *allcomp = NULL;
	if (rank == 0) {
		all = xcalloc(nranks, sizeof(*all));
		allar = xcalloc((size_t)nranks * iters, sizeof(*allar));
		allcomp = xcalloc((size_t)nranks * iters, sizeof(*allcomp));
	}
	MPI_Gather(&mine, 5, MPI_DOUBLE, all, 5, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	MPI_Gather(tar, iters, MPI_DOUBLE, allar, iters, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	MPI_Gather(tcomp, iters, MPI_DOUBLE, allcomp, iters, MPI_DOUBLE, 0, MPI_COMM_WORLD);

	int rc = 0;
	if (rank == 0) {
		double gen_max = 0, mloc_max = 0, mloc_min = 1e300;
		int agree = 1;

		for (int r = 0; r < nranks; r++) {
			gen_max = fmax(gen_max, all[r].gen);
			mloc_max = fmax(mloc_max, all[r].mloc);
			mloc_min = fmin(mloc_min, all[r].mloc);
			if (all[r].hash_hi != all[0].hash_hi || all[r].hash_lo != all[0].hash_lo ||
			    all[r].iters != all[0].iters) {
				fprintf(stderr, "pagerank: rank %d's vector differs from rank 0's\n", r);
				agree = 0;
			}
		}
		/* Per superstep: rank 0's times, and over the ranks the least and
		 * most time in MPI_Allreduce (the last rank to arrive waits
		 * least) and the most compute. */
		double *ar_min = xcalloc(iters, sizeof(double)), *ar_max = xcalloc(iters, sizeof(double));
		double *comp_max = xcalloc(iters, sizeof(double));
		for (it = 0; it < iters; it++) {
			ar_min[it] = 1e300;
			for (int r = 0; r < nranks; r++) {
				double a = allar[(size_t)r * iters + it], c = allcomp[(size_t)r * iters + it];

				ar_min[it] = fmin(ar_min[it], a);
				ar_max[it] = fmax(ar_max[it], a);
				comp_max[it] = fmax(comp_max[it], c);
			}
		}
		if (o->csv) {
			FILE *cf = stdout;

			if (o->csv_path && !(cf = fopen(o->csv_path, "w")))
				die("%s: %s", o->csv_path, strerror(errno));
			fprintf(cf, "superstep,allreduce_us,compute_us,allreduce_min_us,"
				"allreduce_max_us,compute_max_us,l1\n");
			for (it = 0; it < iters; it++)
				fprintf(cf, "%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.6g\n", it + 1,
					tar[it] * 1e6, tcomp[it] * 1e6, ar_min[it] * 1e6,
					ar_max[it] * 1e6, comp_max[it] * 1e6, l1s[it]);
			for (int q = 0; q < 2 && iters > 0; q++) {
				double p = q ? 0.99 : 0.5;

				fprintf(cf, "%s,%.1f,%.1f,%.1f,%.1f,%.1f,\n", q ? "p99" : "p50",
					percentile(tar, iters, p) * 1e6,
					percentile(tcomp, iters, p) * 1e6,
					percentile(ar_min, iters, p) * 1e6,
					percentile(ar_max, iters, p) * 1e6,
					percentile(comp_max, iters, p) * 1e6);
			}
			if (cf != stdout ? fclose(cf) : fflush(cf))
				die("%s: %s", o->csv_path ? o->csv_path : "stdout", strerror(errno));
		}
		if (!o->quiet) {
			fprintf(stderr, "pagerank: scale %d: %" PRIu64 " vertices, %" PRIu64 " edges (seed %"
				PRIu64 ", %s), %d ranks, vector of %d floats (%zu bytes); generated in"
				" %.2f s (slowest rank), %.0f to %.0f edges per rank\n", o->scale, n, gr.m,
				o->seed, o->scramble ? "scrambled" : "not scrambled", nranks, count,
				(size_t)count * sizeof(float), gen_max, mloc_min, mloc_max);
			fprintf(stderr, "pagerank: %d supersteps in %.3f s, last L1 change %.3g (tol %g%s)\n",
				iters, twall, l1, o->tol, l1 < o->tol ? "" : ": not reached");
			if (iters > 0)
				fprintf(stderr, "pagerank: per superstep, us: allreduce p50 %.1f p99 %.1f"
					" (rank 0), p50 %.1f (least over the ranks); compute p50 %.1f"
					" (rank 0), %.1f (most over the ranks)\n",
					percentile(tar, iters, 0.5) * 1e6, percentile(tar, iters, 0.99) * 1e6,
					percentile(ar_min, iters, 0.5) * 1e6,
					percentile(tcomp, iters, 0.5) * 1e6,
					percentile(comp_max, iters, 0.5) * 1e6);
			fprintf(stderr, "pagerank: ranks agree: %s (%d ranks, fnv1a %016" PRIx64 ")\n",
				agree ? "yes" : "NO", nranks, h);
			print_top(pr, NULL, n);
			costs_print(&c0, &c1, o->ifname, iters, twall);
		}
		if (!agree)
			rc = 1;
		if (o->out)
			write_result(o->out, o, &g, nranks, iters, l1, ymax, 1, pr, NULL);
		free(ar_min);
		free(ar_max);
		free(comp_max);
	}
	free(all);
	free(allar);
	free(allcomp);
	free(pr);
	free(send);
	free(sum);
	free(acc);
	free(tar);
	free(tcomp);
	free(l1s);
	free(gr.off);
	free(gr.dst);
	kron_free(&g);
	MPI_Finalize();
	return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagerank [options]                 (under mpirun)\n"
		"       pagerank --reference [options]     (one process, double, no MPI)\n"
		"       pagerank --check FILE              (the reference for FILE, and the check)\n"
		"  --scale N        2^N vertices, 16 * 2^N edges (default 14)\n"
		"  --edgefactor N   edges per vertex (default 16)\n"
		"  --seed N         the generator's seed (default 1)\n"
		"  --no-scramble    keep the generator's vertex numbers (no permutation)\n"
		"  --iters N        at most N supersteps (default 20)\n"
		"  --tol T          stop when the L1 change is below T (default 1e-4)\n"
		"  --damping D      (default 0.85)\n"
		"  --warmup N       untimed allreduces before the first superstep (default 2)\n"
		"  --out FILE       rank 0 writes the final ranks (text, one per vertex)\n"
		"  --edges FILE     rank 0 writes the edge list (\"src dst\" lines)\n"
		"  --csv[=FILE]     rank 0 prints (or writes to FILE) the times of each superstep,\n"
		"                   p50 and p99 over the supersteps, as CSV\n"
		"  --ifname NAME    rank 0 reports this link's traffic during the supersteps\n"
		"                   (default sg0, the coordinator's link in the lab)\n"
		"  --quiet          no summary on stderr\n");
}

int main(int argc, char **argv)
{
	struct opts o = {
		.scale = 14, .edgefactor = KRON_EDGEFACTOR, .scramble = 1, .iters = 20,
		.warmup = 2, .seed = 1, .tol = 1e-4, .damping = 0.85, .ifname = "sg0",
	};
	static const struct option lopts[] = {
		{ "scale", required_argument, NULL, 's' },
		{ "edgefactor", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-scramble", no_argument, NULL, 'n' },
		{ "iters", required_argument, NULL, 'i' },
		{ "tol", required_argument, NULL, 't' },
		{ "damping", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "out", required_argument, NULL, 'o' },
		{ "edges", required_argument, NULL, 'e' },
		{ "csv", optional_argument, NULL, 'c' },
		{ "reference", no_argument, NULL, 'r' },
		{ "check", required_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "ifname", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 's': o.scale = atoi(optarg); break;
		case 'f': o.edgefactor = atoi(optarg); break;
		case 'S':
			errno = 0;
			o.seed = strtoull(optarg, &end, 0);
			if (errno || *end)
				die("--seed: %s", optarg);
			break;
		case 'n': o.scramble = 0; break;
		case 'i': o.iters = atoi(optarg); break;
		case 't': o.tol = strtod(optarg, NULL); break;
		case 'd': o.damping = strtod(optarg, NULL); break;
		case 'w': o.warmup = atoi(optarg); break;
		case 'o': o.out = optarg; break;
		case 'e': o.edges = optarg; break;
		case 'c': o.csv = 1; o.csv_path = optarg; break;
		case 'r': o.reference = 1; break;
		case 'C': o.check = optarg; o.reference = 1; break;
		case 'q': o.quiet = 1; break;
		case 'I': o.ifname = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (o.scale < 1 || o.scale > KRON_MAX_SCALE || o.iters < 1 || o.iters > 100000 ||
	    o.warmup < 0 || !(o.damping > 0 && o.damping < 1) || o.edgefactor < 1)
		die("bad option value (--scale 1..%d, --iters 1..100000, --damping in (0, 1))",
		    KRON_MAX_SCALE);
	return o.reference ? run_reference(&o) : run_mpi(&o, &argc, &argv);
}
