// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbench: the benchmark driver. Builds a netlab once, sized for the largest
 * fan-out asked for, starts the bench workers (bench/workers.h) in host or
 * reflector mode, and for every point of the sweep (transport x collective x
 * fan-out x size x mode) measures, on a communicator of the chosen transport
 * over the first `fanout` ranks:
 *
 *  - latency mode: one collective at a time; p50, p99, mean of each call;
 *  - throughput mode: a closed loop keeping a fixed window of collectives in
 *    flight with the non-blocking API (wait for the oldest, post the next);
 *    collectives per second;
 *  - for both: the coordinator's system calls (perf counter on
 *    raw_syscalls:sys_enter for this thread, on only around the measured
 *    loop), the coordinator thread's CPU time and the whole machine's busy CPU
 *    time, per collective;
 *  - correctness: every scatter-reduce and allgather result is compared with
 *    fanout x the contribution (the workers echo the request, or with
 *    --request small generate a vector from an 8-byte request), every return
 *    code is checked; failures are counted in `errors`.
 *
 * Contributions are uint32 (default), int32 or float32 (--dtype), op SUM.
 *
 * One CSV line per point (appended; header written to a new file):
 *   impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,
 *   syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors,
 *   algbw_gbps,busbw_gbps
 *
 * Every loop is bounded by a count and by the per-point time cap.
 * Exit status: 0, 1 on failure, 2 on bad usage, 77 when labs cannot be built
 * here (not root, no namespaces).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <hwloc.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sgbpf.h"
#include "sgbpf/wire.h"
#include "tests/lab/netlab.h"
#include "bench/workers.h"
#include "bench/syscount.h"
#include "bench/stats.h"
#include "bench/cpucost.h"

#define MAX_LIST	32
#define MAX_FANOUT	SG_MAX_WORKERS_PER_COMM
#define DEFAULT_NS_MAX	64	/* namespaces for 64..1024 ranks: 64 x (1..16 ports) */
#define COMM_PORT_BASE	6000
#define MAX_HARD_ERRORS	20	/* consecutive failures that end a point early */

enum coll { COLL_SCATTER_REDUCE, COLL_ALLGATHER, COLL_BCAST, COLL_COUNT };
enum mode { MODE_LATENCY, MODE_THROUGHPUT, MODE_COUNT };

static const char *const coll_names[COLL_COUNT] = { "scatter_reduce", "allgather", "bcast" };
static const char *const mode_names[MODE_COUNT] = { "latency", "throughput" };

struct cfg {
	enum sg_transport_kind impls[SG_TRANSPORT_COUNT];
	int nimpls;
	enum coll colls[COLL_COUNT];
	int ncolls;
	enum mode modes[MODE_COUNT];
	int nmodes;
	int fanouts[MAX_LIST];
	int nfanouts;
	size_t sizes[MAX_LIST];
	int nsizes;
	int window;
	size_t window_bytes;	/* cap on window x fanout x bytes in flight */
	int window_msgs;	/* cap on window x fanout (requests in flight) */
	int iters;
	int warmup;
	double time_cap_s;
	double warmup_cap_s;
	int timeout_ms;
	enum bench_worker_mode wmode;
	const char *out_dir;
	const char *csv_name;
	int nns, per_ns;	/* 0: chosen from the largest fan-out */
	int cpu, worker_cpu;
	int quiet;
	enum sg_datatype dtype;	/* 4-byte elements: uint32, int32, float32 */
	int small_req;		/* --request small: generated contributions */
	int check_fanout;	/* test hook: expect sums of this many workers */
};

struct point {
	enum sg_transport_kind impl;
	enum coll coll;
	enum mode mode;
	int fanout;
	size_t bytes;
	int window;
};

struct outcome {
	long iters;		/* collectives measured (attempted) */
	struct lat_summary lat;
	double coll_per_s;
	double syscalls_per_coll;	/* -1: not counted */
	double cpu_us_per_coll;
	double machine_cpu_us_per_coll;	/* -1: not available */
	long errors;
};

/* What one point needs: the communicator, buffers and counters. */
struct ctx {
	const struct cfg *cfg;
	const struct point *pt;
	sg_comm *comm;
	struct syscount *sc;
	size_t count;		/* 4-byte elements of a contribution */
	uint32_t *base;		/* an integer echo request is base[i] + salt */
	uint32_t *req;		/* request being built (bytes, at least 8) */
	size_t req_len;		/* bytes of a scatter-reduce or allgather request */
	uint32_t *res;		/* window x count results */
	struct sg_reduce_params *params;	/* window */
	long reported;		/* error messages printed for this point */
	long checked;		/* results compared in the measured loop */
	long bcasts;		/* broadcasts sent (warm-up included) */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_error(struct ctx *c, const char *what, int err)
{
	if (c->reported++ >= 3)
		return;
	fprintf(stderr, "sgbench: %s %s fanout %d bytes %zu: %s: %s%s%s\n",
		sg_transport_name(c->pt->impl), coll_names[c->pt->coll], c->pt->fanout,
		c->pt->bytes, what, err ? sg_strerror(err) : "wrong result",
		err ? ": " : "", err ? sg_errmsg() : "");
}

/* The library's log: the first few messages of each point, then silence
 * (every failure is counted in the CSV anyway). */
static long log_budget = 3;

static void bench_log(enum sg_log_level level, const char *msg, void *ctx)
{
	if (log_budget-- > 0)
		fprintf(stderr, "sgbpf: %s\n", msg);
}

/* --------------------------------------------------------------- options */

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

/* Split @arg on commas and call @fn on each item; -EINVAL on the first bad one. */
static int each_item(const char *arg, int (*fn)(struct cfg *, const char *), struct cfg *cfg)
{
	char *list = strdup(arg), *save = NULL, *tok;
	int err = list ? 0 : -ENOMEM;

	for (tok = list ? strtok_r(list, ",", &save) : NULL; tok && !err;
	     tok = strtok_r(NULL, ",", &save))
		err = fn(cfg, tok);
	free(list);
	return err;
}

static int add_impl(struct cfg *cfg, const char *s)
{
	enum sg_transport_kind k;

	if (sg_transport_from_name(s, &k) || k == SG_TRANSPORT_AUTO) {
		fprintf(stderr, "sgbench: unknown transport '%s' (ebpf, io_uring, epoll, naive)\n", s);
		return -EINVAL;
	}
	if (cfg->nimpls >= SG_TRANSPORT_COUNT)
		return -EINVAL;
	cfg->impls[cfg->nimpls++] = k;
	return 0;
}

static int add_coll(struct cfg *cfg, const char *s)
{
	for (int i = 0; i < COLL_COUNT; i++)
		if (!strcmp(s, coll_names[i]) && cfg->ncolls < COLL_COUNT) {
			cfg->colls[cfg->ncolls++] = (enum coll)i;
			return 0;
		}
	fprintf(stderr, "sgbench: unknown collective '%s' (scatter_reduce, allgather, bcast)\n", s);
	return -EINVAL;
}

static int add_mode(struct cfg *cfg, const char *s)
{
	for (int i = 0; i < MODE_COUNT; i++)
		if (!strcmp(s, mode_names[i]) && cfg->nmodes < MODE_COUNT) {
			cfg->modes[cfg->nmodes++] = (enum mode)i;
			return 0;
		}
	fprintf(stderr, "sgbench: unknown mode '%s' (latency, throughput)\n", s);
	return -EINVAL;
}

static int add_fanout(struct cfg *cfg, const char *s)
{
	char *end;
	long f = strtol(s, &end, 10);

	if (*end || f < 1 || f > MAX_FANOUT || cfg->nfanouts >= MAX_LIST) {
		fprintf(stderr, "sgbench: fan-out '%s' not in 1..%u (at most %d values)\n", s,
			MAX_FANOUT, MAX_LIST);
		return -EINVAL;
	}
	cfg->fanouts[cfg->nfanouts++] = (int)f;
	return 0;
}

static int add_size(struct cfg *cfg, const char *s)
{
	size_t v;

	if (parse_size(s, &v) || v < 4 || v % 4 || v > SG_MAX_MESSAGE_BYTES ||
	    cfg->nsizes >= MAX_LIST) {
		fprintf(stderr, "sgbench: size '%s' must be a multiple of 4 in 4..%u "
			"(suffixes K, M; at most %d values)\n", s, SG_MAX_MESSAGE_BYTES,
			MAX_LIST);
		return -EINVAL;
	}
	cfg->sizes[cfg->nsizes++] = v;
	return 0;
}

static int parse_dtype(const char *s, enum sg_datatype *dt)
{
	static const struct { const char *name; enum sg_datatype dt; } names[] = {
		{ "uint32", SG_UINT32 }, { "int32", SG_INT32 }, { "float32", SG_FLOAT32 },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name)) {
			*dt = names[i].dt;
			return 0;
		}
	fprintf(stderr, "sgbench: unknown datatype '%s' (uint32, int32, float32)\n", s);
	return -EINVAL;
}

static const char *dtype_name(enum sg_datatype dt)
{
	return dt == SG_FLOAT32 ? "float32" : dt == SG_INT32 ? "int32" : "uint32";
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: sgbench [options]\n"
"  --impls LIST      transports: ebpf,io_uring,epoll,naive (default all)\n"
"  --colls LIST      scatter_reduce,allgather,bcast (default all)\n"
"  --modes LIST      latency,throughput (default both)\n"
"  --fanouts LIST    worker counts, 1..1024 (default 1,8,64)\n"
"  --sizes LIST      contribution bytes, multiple of 4 up to %u, K/M suffixes\n"
"                    (default 64)\n"
"  --dtype T         element type of the contributions, op SUM: uint32\n"
"                    (default), int32 or float32 (small integers: exact sums)\n"
"  --request R       full (default): the request is the contribution's size and\n"
"                    the workers echo it; small: an %d-byte request, the workers\n"
"                    generate the contribution (host workers only)\n"
"  --window W        collectives in flight in throughput mode, 1..64 (default 16)\n"
"  --window-bytes B  cap the window so W x fanout x bytes <= B (default 16M)\n"
"  --window-msgs M   and so W x fanout <= M (default 2048)\n"
"  --iters N         measured collectives per point (default 1000)\n"
"  --warmup N        unmeasured collectives first (default iters/10, 1..100)\n"
"  --time-cap S      seconds of the measured loop of a point (default 2)\n"
"  --warmup-cap S    seconds of its warm-up (default: the smaller of 0.25 and S)\n"
"  --timeout-ms MS   timeout of one collective (default 1000)\n"
"  --workers MODE    host (one worker process) or reflector (XDP on the workers)\n"
"  --ns N --per-ns P worker namespaces and ports per namespace (default from\n"
"                    the largest fan-out: up to %d namespaces)\n"
"  --cpu C           core of the coordinator (default 0)\n"
"  --worker-cpu C    core of the host worker process (default -1: the last)\n"
"  --out DIR         results folder (default .), --csv NAME (default results.csv)\n"
"  --quiet           no line per point on stderr\n"
"  --print-max-bytes print the largest size (the library's maximum message)\n"
"  --check-fanout N  (tests) expect sums of N workers: every result is wrong\n",
		SG_MAX_MESSAGE_BYTES, BENCH_GEN_REQ_BYTES, DEFAULT_NS_MAX);
}

static int parse_args(int argc, char **argv, struct cfg *cfg)
{
	static const struct option lopts[] = {
		{ "impls", required_argument, NULL, 'I' },
		{ "colls", required_argument, NULL, 'C' },
		{ "modes", required_argument, NULL, 'M' },
		{ "fanouts", required_argument, NULL, 'F' },
		{ "sizes", required_argument, NULL, 'S' },
		{ "window", required_argument, NULL, 'W' },
		{ "window-bytes", required_argument, NULL, 'B' },
		{ "window-msgs", required_argument, NULL, 'm' },
		{ "iters", required_argument, NULL, 'N' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "time-cap", required_argument, NULL, 'T' },
		{ "warmup-cap", required_argument, NULL, 'x' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'k' },
		{ "ns", required_argument, NULL, 'n' },
		{ "per-ns", required_argument, NULL, 'p' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "worker-cpu", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "dtype", required_argument, NULL, 'd' },
		{ "request", required_argument, NULL, 'r' },
		{ "print-max-bytes", no_argument, NULL, 'P' },
		{ "check-fanout", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt, err = 0;

	*cfg = (struct cfg){
		.window = 16, .window_bytes = 16u << 20, .window_msgs = 2048, .iters = 1000, .warmup = -1,
		.time_cap_s = 2.0, .timeout_ms = 1000, .wmode = BENCH_WORKERS_HOST,
		.out_dir = ".", .csv_name = "results.csv", .cpu = 0, .worker_cpu = -1,
		.dtype = SG_UINT32,
	};
	while (!err && (opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'I': err = each_item(optarg, add_impl, cfg); break;
		case 'C': err = each_item(optarg, add_coll, cfg); break;
		case 'M': err = each_item(optarg, add_mode, cfg); break;
		case 'F': err = each_item(optarg, add_fanout, cfg); break;
		case 'S': err = each_item(optarg, add_size, cfg); break;
		case 'W': cfg->window = atoi(optarg); break;
		case 'B': err = parse_size(optarg, &cfg->window_bytes); break;
		case 'm': cfg->window_msgs = atoi(optarg); break;
		case 'N': cfg->iters = atoi(optarg); break;
		case 'w': cfg->warmup = atoi(optarg); break;
		case 'T': cfg->time_cap_s = atof(optarg); break;
		case 'x': cfg->warmup_cap_s = atof(optarg); break;
		case 't': cfg->timeout_ms = atoi(optarg); break;
		case 'k':
			if (!strcmp(optarg, "host"))
				cfg->wmode = BENCH_WORKERS_HOST;
			else if (!strcmp(optarg, "reflector"))
				cfg->wmode = BENCH_WORKERS_REFLECTOR;
			else
				err = -EINVAL;
			break;
		case 'n': cfg->nns = atoi(optarg); break;
		case 'p': cfg->per_ns = atoi(optarg); break;
		case 'c': cfg->cpu = atoi(optarg); break;
		case 'u': cfg->worker_cpu = atoi(optarg); break;
		case 'o': cfg->out_dir = optarg; break;
		case 'f': cfg->csv_name = optarg; break;
		case 'q': cfg->quiet = 1; break;
		case 'd': err = parse_dtype(optarg, &cfg->dtype); break;
		case 'r':
			if (!strcmp(optarg, "full") || !strcmp(optarg, "small"))
				cfg->small_req = !strcmp(optarg, "small");
			else
				err = -EINVAL;
			break;
		case 'K': cfg->check_fanout = atoi(optarg); break;
		case 'P': printf("%u\n", SG_MAX_MESSAGE_BYTES); exit(0);
		case 'h': usage(stdout); exit(0);
		default: err = -EINVAL;
		}
	}
	if (err || optind != argc)
		goto bad;
	if (!cfg->nimpls)
		for (int k = SG_TRANSPORT_EBPF; k < SG_TRANSPORT_COUNT; k++)
			cfg->impls[cfg->nimpls++] = (enum sg_transport_kind)k;
	if (!cfg->ncolls)
		for (int i = 0; i < COLL_COUNT; i++)
			cfg->colls[cfg->ncolls++] = (enum coll)i;
	if (!cfg->nmodes)
		for (int i = 0; i < MODE_COUNT; i++)
			cfg->modes[cfg->nmodes++] = (enum mode)i;
	if (!cfg->nfanouts) {
		cfg->fanouts[cfg->nfanouts++] = 1;
		cfg->fanouts[cfg->nfanouts++] = 8;
		cfg->fanouts[cfg->nfanouts++] = 64;
	}
	if (!cfg->nsizes)
		cfg->sizes[cfg->nsizes++] = 64;
	if (cfg->warmup < 0)
		cfg->warmup = cfg->iters / 10 < 1 ? 1 : cfg->iters / 10 > 100 ? 100 : cfg->iters / 10;
	if (cfg->warmup_cap_s <= 0)
		cfg->warmup_cap_s = cfg->time_cap_s < 0.25 ? cfg->time_cap_s : 0.25;
	if (cfg->window < 1 || cfg->window > (int)SG_MAX_INFLIGHT || cfg->iters < 1 ||
	    cfg->time_cap_s <= 0 || cfg->timeout_ms < 1 || cfg->nns < 0 || cfg->per_ns < 0 ||
	    cfg->nns > NETLAB_MAX_WORKER_NS || cfg->window_bytes < 1 ||
	    cfg->window_msgs < 1 || cfg->check_fanout < 0)
		goto bad;
	/* The reflector answers each frame with one frame of the same bytes. */
	if (cfg->wmode == BENCH_WORKERS_REFLECTOR && cfg->small_req) {
		fprintf(stderr, "sgbench: --request small needs --workers host: the reflector "
			"can only echo a request (one frame out per frame in)\n");
		return -EINVAL;
	}
	for (int i = 0; i < cfg->nsizes; i++)
		if (cfg->wmode == BENCH_WORKERS_REFLECTOR && cfg->dtype == SG_FLOAT32 &&
		    cfg->sizes[i] > sg_wire_response_chunk(SG_FLOAT32)) {
			fprintf(stderr, "sgbench: --dtype float32 with --workers reflector: sizes up "
				"to %u bytes (float32 answers travel in %u-byte chunks, smaller "
				"than a request's, so a request frame may need two, which XDP "
				"cannot send); use --workers host\n",
				sg_wire_response_chunk(SG_FLOAT32), sg_wire_response_chunk(SG_FLOAT32));
			return -EINVAL;
		}
	return 0;
bad:
	fprintf(stderr, "sgbench: bad arguments\n");
	usage(stderr);
	return -EINVAL;
}

/* --------------------------------------------------------------- collectives */

/* The request of collective @salt. Echoed integers: base[i] + salt, any
 * bits (sums wrap). Echoed floats: small integers, whose sums are exact.
 * Small: the generator's magic and the salt. A broadcast sends the echo form. */
static void fill_request(struct ctx *c, uint32_t salt)
{
	if (c->cfg->small_req && c->pt->coll != COLL_BCAST) {
		c->req[0] = htole32(BENCH_GEN_MAGIC);
		c->req[1] = htole32(salt);
	} else if (c->cfg->dtype == SG_FLOAT32) {
		for (size_t i = 0; i < c->count; i++)
			((float *)c->req)[i] = (float)bench_gen_value(salt, i);
	} else {
		for (size_t i = 0; i < c->count; i++)
			c->req[i] = c->base[i] + salt;
	}
}

/* 1 when @res is fanout x every worker's contribution to collective @salt,
 * element by element: exactly, floats included (mod 2^32 for integers). */
static int result_ok(struct ctx *c, const uint32_t *res, uint32_t salt)
{
	uint32_t n = (uint32_t)(c->cfg->check_fanout ? c->cfg->check_fanout : c->pt->fanout);

	c->checked++;
	if (c->cfg->dtype == SG_FLOAT32) {
		for (size_t i = 0; i < c->count; i++)
			if (((const float *)res)[i] != (float)(n * bench_gen_value(salt, i)))
				return 0;
	} else if (c->cfg->small_req) {
		for (size_t i = 0; i < c->count; i++)
			if (res[i] != n * bench_gen_value(salt, i))
				return 0;
	} else {
		for (size_t i = 0; i < c->count; i++)
			if (res[i] != n * (c->base[i] + salt))
				return 0;
	}
	return 1;
}

static void init_params(struct ctx *c, int k)
{
	c->params[k] = (struct sg_reduce_params){
		.sz = sizeof(c->params[k]),
		.policy = SG_WAIT_ALL,
		.timeout_ms = c->cfg->timeout_ms,
	};
}

/* One blocking collective; 0 or a negative errno. Its result is checked
 * apart (check_one), outside the timed region, as Open MPI's is. */
static int run_one(struct ctx *c, uint32_t salt)
{
	int err;

	switch (c->pt->coll) {
	case COLL_SCATTER_REDUCE:
	case COLL_ALLGATHER:
		fill_request(c, salt);
		init_params(c, 0);
		err = (c->pt->coll == COLL_ALLGATHER ? sg_allgather : sg_scatter_reduce)(
			c->comm, c->req, c->req_len, c->res, c->count, c->cfg->dtype, SG_OP_SUM,
			&c->params[0]);
		if (err)
			report_error(c, c->pt->coll == COLL_ALLGATHER ? "sg_allgather" :
				     "sg_scatter_reduce", err);
		return err;
	case COLL_BCAST:
		fill_request(c, salt);
		err = sg_bcast(c->comm, c->req, c->pt->bytes);
		if (err)
			report_error(c, "sg_bcast", err);
		else
			c->bcasts++;
		return err;
	default:
		return -EINVAL;
	}
}

/* 0, or 1 when the result of run_one(@salt) is wrong. */
static int check_one(struct ctx *c, uint32_t salt)
{
	if (c->pt->coll == COLL_BCAST || result_ok(c, c->res, salt))
		return 0;
	report_error(c, "check", 0);
	return 1;
}

/* Start collective @salt in window slot @k. */
static int post_one(struct ctx *c, int k, uint32_t salt, sg_request **req)
{
	uint32_t *res = c->res + (size_t)k * c->count;
	int err;

	fill_request(c, salt);
	switch (c->pt->coll) {
	case COLL_SCATTER_REDUCE:
		init_params(c, k);
		err = sg_iscatter_reduce(c->comm, c->req, c->req_len, res, c->count,
					 c->cfg->dtype, SG_OP_SUM, &c->params[k], req);
		break;
	case COLL_ALLGATHER:
		init_params(c, k);
		err = sg_iallgather(c->comm, c->req, c->req_len, res, c->count, c->cfg->dtype,
				    SG_OP_SUM, &c->params[k], req);
		break;
	case COLL_BCAST:
		err = sg_ibcast(c->comm, c->req, c->pt->bytes, req);
		break;
	default:
		err = -EINVAL;
	}
	if (err) {
		*req = NULL;
		report_error(c, "post", err);
	}
	return err;
}

/* Wait for the request of slot @k; 0, a negative errno or 1 (wrong result).
 * A request whose wait fails without completing it is waited on again a few
 * times, then abandoned (its slot stays taken in the communicator). */
static int finish_one(struct ctx *c, int k, uint32_t salt, sg_request **req)
{
	int err = 0;

	for (int tries = 0; tries < 3 && *req; tries++)
		err = sg_wait(req);
	*req = NULL;
	if (err) {
		report_error(c, "sg_wait", err);
		return err;
	}
	if (c->pt->coll == COLL_BCAST)
		c->bcasts++;
	if (c->pt->coll != COLL_BCAST && !result_ok(c, c->res + (size_t)k * c->count, salt)) {
		report_error(c, "check", 0);
		return 1;
	}
	return 0;
}

/* --------------------------------------------------------------- measuring */

struct meter {
	struct cpu_snap cpu0, cpu1;
	int counting;
	uint64_t syscalls;
	double t0, t1;
};

static void meter_start(struct ctx *c, struct meter *m)
{
	memset(m, 0, sizeof(*m));
	cpu_snap(&m->cpu0);
	m->counting = !syscount_start(c->sc);
	m->t0 = now_s();
}

static void meter_stop(struct ctx *c, struct meter *m)
{
	m->t1 = now_s();
	if (m->counting && syscount_stop(c->sc, &m->syscalls))
		m->counting = 0;
	cpu_snap(&m->cpu1);
}

static void meter_fill(const struct meter *m, long n, struct outcome *o)
{
	double thread_us, machine_us;

	cpu_delta(&m->cpu0, &m->cpu1, &thread_us, &machine_us);
	o->iters = n;
	if (!n)
		return;
	o->syscalls_per_coll = m->counting ? (double)m->syscalls / (double)n : -1;
	o->cpu_us_per_coll = thread_us / (double)n;
	o->machine_cpu_us_per_coll = machine_us < 0 ? -1 : machine_us / (double)n;
}

static int measure_latency(struct ctx *c, struct outcome *o)
{
	const struct cfg *cfg = c->cfg;
	double *lat = calloc((size_t)cfg->iters, sizeof(*lat)), deadline;
	uint32_t salt = 1;
	struct meter m;
	long n = 0, ok = 0, hard = 0;

	if (!lat)
		return -ENOMEM;
	deadline = now_s() + cfg->warmup_cap_s;
	for (int i = 0; i < cfg->warmup && now_s() < deadline; i++)
		run_one(c, salt++);
	c->reported = 0;
	c->checked = 0;
	meter_start(c, &m);
	deadline = m.t0 + cfg->time_cap_s;
	while (n < cfg->iters && hard < MAX_HARD_ERRORS) {
		double t0 = now_s(), t1;
		int err = run_one(c, salt);

		t1 = now_s();
		lat[n++] = (t1 - t0) * 1e6;
		if (!err)
			err = check_one(c, salt);
		salt++;
		if (err) {
			o->errors++;
			hard = err < 0 ? hard + 1 : hard;
		} else {
			ok++;
			hard = 0;
		}
		if (t1 >= deadline)
			break;
	}
	meter_stop(c, &m);
	meter_fill(&m, n, o);
	o->lat = lat_summarize(lat, (size_t)n);
	o->coll_per_s = m.t1 > m.t0 ? (double)ok / (m.t1 - m.t0) : 0;
	free(lat);
	return 0;
}

static int measure_throughput(struct ctx *c, struct outcome *o)
{
	const struct cfg *cfg = c->cfg;
	int w = c->pt->window, inflight = 0, head = 0;
	sg_request **reqs = calloc((size_t)w, sizeof(*reqs));
	double *posted = calloc((size_t)w, sizeof(*posted));
	uint32_t *salts = calloc((size_t)w, sizeof(*salts));
	double *lat = calloc((size_t)cfg->iters, sizeof(*lat)), deadline;
	long attempts = 0, n = 0, ok = 0, hard = 0;
	uint32_t salt = 1;
	struct meter m;
	int err = 0;

	if (!reqs || !posted || !salts || !lat) {
		err = -ENOMEM;
		goto out;
	}
	/* Warm-up: a few windows, bounded by count and time. */
	deadline = now_s() + cfg->warmup_cap_s;
	for (int round = 0; round < 2 && now_s() < deadline; round++) {
		for (int k = 0; k < w; k++) {
			salts[k] = salt++;
			post_one(c, k, salts[k], &reqs[k]);
		}
		for (int k = 0; k < w; k++)
			if (reqs[k])
				finish_one(c, k, salts[k], &reqs[k]);
	}
	c->reported = 0;
	c->checked = 0;

	meter_start(c, &m);
	deadline = m.t0 + cfg->time_cap_s;
	/* Closed loop: fill the window, then wait for the oldest and post the
	 * next in its slot until the count or the time is used up. */
	for (int k = 0; k < w && attempts < cfg->iters; k++) {
		salts[k] = salt++;
		attempts++;
		posted[k] = now_s();
		if (post_one(c, k, salts[k], &reqs[k]))
			o->errors++;
		else
			inflight++;
	}
	while (inflight > 0 && hard < MAX_HARD_ERRORS) {
		if (reqs[head]) {
			int e = finish_one(c, head, salts[head], &reqs[head]);
			double t = now_s();

			inflight--;
			lat[n++] = (t - posted[head]) * 1e6;
			if (e) {
				o->errors++;
				hard = e < 0 ? hard + 1 : hard;
			} else {
				ok++;
				hard = 0;
			}
		}
		if (attempts < cfg->iters && now_s() < deadline) {
			salts[head] = salt++;
			attempts++;
			posted[head] = now_s();
			if (post_one(c, head, salts[head], &reqs[head])) {
				o->errors++;
				hard++;
			} else {
				inflight++;
			}
		}
		head = (head + 1) % w;
	}
	meter_stop(c, &m);
	/* Left in flight only after MAX_HARD_ERRORS: settle them unmeasured. */
	for (int k = 0; k < w; k++)
		if (reqs[k])
			finish_one(c, k, salts[k], &reqs[k]);
	meter_fill(&m, attempts, o);
	o->lat = lat_summarize(lat, (size_t)n);
	o->coll_per_s = m.t1 > m.t0 ? (double)ok / (m.t1 - m.t0) : 0;
out:
	free(reqs);
	free(posted);
	free(salts);
	free(lat);
	return err;
}

/* --------------------------------------------------------------- the sweep */

struct bench {
	struct cfg cfg;
	struct netlab *lab;
	struct bench_workers *workers;
	struct syscount sc;
	int nns, per_ns;
	FILE *csv;
	uint16_t next_port;
	long points, failed_points;
};

/* Rank of worker @i of a communicator: spread over the namespaces first, so
 * a fan-out up to the number of namespaces has one worker per namespace. */
static uint32_t rank_of(const struct bench *b, int i)
{
	return (uint32_t)((i % b->nns) * b->per_ns + i / b->nns);
}

static int comm_open(struct bench *b, enum sg_transport_kind impl, int fanout, sg_comm **comm)
{
	struct sockaddr_in *w = calloc((size_t)fanout, sizeof(*w));
	SG_OPTS_INIT(sg_comm_opts, o);
	int err;

	if (!w)
		return -ENOMEM;
	for (int i = 0; i < fanout; i++)
		w[i] = bench_worker_addr(b->workers, rank_of(b, i));
	o.ifname = NETLAB_IFNAME;
	o.local_port = b->next_port;
	o.workers = w;
	o.nworkers = (size_t)fanout;
	o.transport = impl;
	/* Reflector workers answer in the kernel from the request itself: only
	 * vectors of one collective (sg_comm_opts.incast_bytes). */
	if (b->cfg.wmode == BENCH_WORKERS_REFLECTOR)
		o.incast_bytes = SIZE_MAX;
	/* A fresh port per communicator: stragglers of the last one are not ours. */
	b->next_port = b->next_port >= COMM_PORT_BASE + 2000 ? COMM_PORT_BASE : b->next_port + 1;
	err = sg_comm_create(&o, comm);
	if (err)
		fprintf(stderr, "sgbench: sg_comm_create(%s, fan-out %d): %s: %s\n",
			sg_transport_name(impl), fanout, sg_strerror(err), sg_errmsg());
	free(w);
	return err;
}

/* One unmeasured scatter-reduce with a long timeout on a new communicator:
 * the kernel resolves the workers' addresses (ARP) on the first datagrams of
 * the user-space transports, and a burst of resolutions can lose requests
 * for longer than a collective's timeout. That is set-up, not steady state. */
static void comm_prime(sg_comm *comm, int fanout)
{
	uint32_t req = 1, res = 0;
	SG_OPTS_INIT(sg_reduce_params, p);
	int err;

	p.timeout_ms = 10000;
	err = sg_scatter_reduce(comm, &req, sizeof(req), &res, 1, SG_UINT32, SG_OP_SUM, &p);
	if (err || res != (uint32_t)fanout)
		fprintf(stderr, "sgbench: %s fan-out %d: the first collective %s (%s)\n",
			sg_transport_name(sg_comm_transport(comm)), fanout,
			err ? "failed" : "returned a wrong sum", err ? sg_errmsg() : "");
}

/* nccl-tests' algbw and busbw from the p50 time (bench/stats.h): an
 * allgather is an allreduce (every rank ends with the reduced vector);
 * scatter-reduce is a reduce. Ranks: the workers and the coordinator. */
static void bandwidth(const struct point *p, const struct outcome *o, double *alg, double *bus)
{
	*alg = bw_alg_gbps((double)p->bytes, o->lat.p50);
	*bus = *alg * bw_bus_factor(p->coll == COLL_ALLGATHER, p->fanout + 1);
}

static void csv_row(struct bench *b, const struct point *p, const struct outcome *o)
{
	double alg, bus;

	fprintf(b->csv, "%s,%s,%s,%d,%zu,%d,%ld,%.2f,%.2f,%.2f,%.1f,", sg_transport_name(p->impl),
		coll_names[p->coll], mode_names[p->mode], p->fanout, p->bytes, p->window,
		o->iters, o->lat.p50, o->lat.p99, o->lat.mean, o->coll_per_s);
	if (o->syscalls_per_coll < 0)
		fputs(",", b->csv);
	else
		fprintf(b->csv, "%.2f,", o->syscalls_per_coll);
	fprintf(b->csv, "%.2f,", o->cpu_us_per_coll);
	if (o->machine_cpu_us_per_coll < 0)
		fputs(",", b->csv);
	else
		fprintf(b->csv, "%.2f,", o->machine_cpu_us_per_coll);
	bandwidth(p, o, &alg, &bus);
	fprintf(b->csv, "%ld,%.6g,%.6g\n", o->errors, alg, bus);
	fflush(b->csv);
}

/* A broadcast completes when it is sent: check that the workers received
 * every datagram of the @c->bcasts broadcasts sent since their counter read
 * @rx0 (waiting up to 300 ms for stragglers), and count the broadcasts that
 * did not fully arrive as errors. */
static void check_bcast_delivery(struct bench *b, struct ctx *c, uint64_t rx0,
				 struct outcome *o)
{
	uint64_t per = (uint64_t)c->pt->fanout *
		       ((c->pt->bytes + SG_CHUNK_BYTES - 1) / SG_CHUNK_BYTES);
	uint64_t want = per * (uint64_t)c->bcasts, rx = 0, tx, got = 0;
	long lost;

	for (int i = 0; i < 30; i++) {
		if (bench_workers_counters(b->workers, &rx, &tx))
			return;	/* not counted: nothing to check */
		got = rx - rx0;
		if (got >= want)
			return;
		usleep(10000);
	}
	lost = (long)((want - got + per - 1) / per);
	fprintf(stderr, "sgbench: %s bcast fanout %d bytes %zu: the workers received %llu of "
		"%llu datagrams; %ld broadcasts counted as errors\n", sg_transport_name(c->pt->impl),
		c->pt->fanout, c->pt->bytes, (unsigned long long)got, (unsigned long long)want,
		lost);
	o->errors += lost;
}

static int run_point(struct bench *b, sg_comm *comm, const struct point *p)
{
	struct outcome o = { 0 };
	struct ctx c = { .cfg = &b->cfg, .pt = p, .comm = comm, .sc = &b->sc };
	int w = p->mode == MODE_THROUGHPUT ? p->window : 1, err;
	uint64_t rx0 = 0, tx0;
	struct sg_comm_stats st0, st1;

	log_budget = 3;
	c.count = p->bytes / sizeof(uint32_t);
	c.req_len = b->cfg.small_req ? BENCH_GEN_REQ_BYTES : p->bytes;
	c.base = malloc(p->bytes);
	c.req = calloc(1, p->bytes > BENCH_GEN_REQ_BYTES ? p->bytes : BENCH_GEN_REQ_BYTES);
	c.res = calloc((size_t)w, p->bytes);
	c.params = calloc((size_t)w, sizeof(*c.params));
	if (!c.base || !c.req || !c.res || !c.params) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c.count; i++)
		c.base[i] = (uint32_t)(i * 2654435761u) ^ (uint32_t)p->bytes;
	if (p->coll == COLL_BCAST && bench_workers_counters(b->workers, &rx0, &tx0))
		rx0 = UINT64_MAX;
	if (sg_comm_get_stats(comm, &st0))
		memset(&st0, 0, sizeof(st0));
	err = p->mode == MODE_LATENCY ? measure_latency(&c, &o) : measure_throughput(&c, &o);
	if (err)
		goto out;
	if (p->coll == COLL_BCAST && rx0 != UINT64_MAX)
		check_bcast_delivery(b, &c, rx0, &o);
	if (sg_comm_get_stats(comm, &st1))
		st1 = st0;
	csv_row(b, p, &o);
	if (!b->cfg.quiet) {
		double alg, bus;

		bandwidth(p, &o, &alg, &bus);
		fprintf(stderr, "%-8s %-14s %-10s %-7s fanout %4d bytes %7zu W %2d: %5ld colls, "
			"p50 %8.1f us, p99 %8.1f us, %9.0f coll/s, %.3g GB/s bus, "
			"%7.2f syscalls, %7.1f us cpu, %7.1f us machine, %ld checked, "
			"%ld errors, %llu retransmits\n",
			sg_transport_name(p->impl), coll_names[p->coll], mode_names[p->mode],
			dtype_name(b->cfg.dtype), p->fanout, p->bytes, p->window, o.iters,
			o.lat.p50, o.lat.p99, o.coll_per_s, bus, o.syscalls_per_coll,
			o.cpu_us_per_coll, o.machine_cpu_us_per_coll, c.checked, o.errors,
			(unsigned long long)(st1.retransmits - st0.retransmits));
	}
out:
	free(c.base);
	free(c.req);
	free(c.res);
	free(c.params);
	return err;
}

static int effective_window(const struct cfg *cfg, int fanout, size_t bytes)
{
	size_t per = (size_t)fanout * bytes, w = (size_t)cfg->window;

	if (per * w > cfg->window_bytes)
		w = cfg->window_bytes / per;
	if ((size_t)fanout * w > (size_t)cfg->window_msgs)
		w = (size_t)cfg->window_msgs / (size_t)fanout;
	return w < 1 ? 1 : (int)w;
}

static int sweep(struct bench *b)
{
	const struct cfg *cfg = &b->cfg;

	for (int ii = 0; ii < cfg->nimpls; ii++) {
		for (int fi = 0; fi < cfg->nfanouts; fi++) {
			int fanout = cfg->fanouts[fi];
			sg_comm *comm = NULL;
			int err = comm_open(b, cfg->impls[ii], fanout, &comm);

			if (err) {
				b->failed_points++;
				continue;
			}
			comm_prime(comm, fanout);
			for (int ci = 0; ci < cfg->ncolls; ci++)
				for (int si = 0; si < cfg->nsizes; si++)
					for (int mi = 0; mi < cfg->nmodes; mi++) {
						struct point p = {
							.impl = cfg->impls[ii],
							.coll = cfg->colls[ci],
							.mode = cfg->modes[mi],
							.fanout = fanout,
							.bytes = cfg->sizes[si],
							.window = 1,
						};

						if (p.mode == MODE_THROUGHPUT)
							p.window = effective_window(cfg, fanout,
										    p.bytes);
						b->points++;
						if (run_point(b, comm, &p))
							b->failed_points++;
					}
			sg_comm_destroy(comm);
		}
	}
	return 0;
}

static int pin_self(int cpu)
{
	hwloc_topology_t topo;
	hwloc_obj_t core;
	int err = 0, ncores;

	if (cpu < 0)
		return 0;
	if (hwloc_topology_init(&topo))
		return -ENOMEM;
	if (hwloc_topology_load(topo)) {
		hwloc_topology_destroy(topo);
		return -EIO;
	}
	ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, ncores > 0 ? (unsigned)(cpu % ncores) : 0);
	if (!core || hwloc_set_cpubind(topo, core->cpuset, HWLOC_CPUBIND_THREAD)) {
		err = errno ? -errno : -EINVAL;
		fprintf(stderr, "sgbench: cannot bind the coordinator to core %d: %s\n", cpu,
			strerror(-err));
	}
	hwloc_topology_destroy(topo);
	return err;
}

static FILE *open_csv(const struct cfg *cfg)
{
	char path[PATH_MAX];
	struct stat st;
	FILE *f;

	if (mkdir(cfg->out_dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "sgbench: mkdir %s: %s\n", cfg->out_dir, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->out_dir, cfg->csv_name);
	f = fopen(path, "a");
	if (!f) {
		fprintf(stderr, "sgbench: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
		fputs("impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,"
		      "syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors,"
		      "algbw_gbps,busbw_gbps\n", f);
	return f;
}

/* Namespaces x ports per namespace for @maxf ranks: one rank per namespace
 * up to DEFAULT_NS_MAX, then more ports per namespace. */
static void layout(const struct cfg *cfg, int maxf, int *nns, int *per_ns)
{
	*nns = cfg->nns ? cfg->nns : (maxf < DEFAULT_NS_MAX ? maxf : DEFAULT_NS_MAX);
	*per_ns = cfg->per_ns ? cfg->per_ns : (maxf + *nns - 1) / *nns;
}

int main(int argc, char **argv)
{
	struct bench b = { .next_port = COMM_PORT_BASE };
	struct netlab_opts lo = { .sz = sizeof(lo), .prefix = "sgb" };
	int maxf = 0, err, rc = 1;
	char why[256];
	double t0 = now_s();

	if (parse_args(argc, argv, &b.cfg))
		return 2;
	for (int i = 0; i < b.cfg.nfanouts; i++)
		if (b.cfg.fanouts[i] > maxf)
			maxf = b.cfg.fanouts[i];
	layout(&b.cfg, maxf, &b.nns, &b.per_ns);
	if (b.nns * b.per_ns < maxf || b.nns > NETLAB_MAX_WORKER_NS) {
		fprintf(stderr, "sgbench: %d namespaces x %d ports hold fewer than %d ranks\n",
			b.nns, b.per_ns, maxf);
		return 2;
	}
	if (!netlab_can_run(why, sizeof(why))) {
		fprintf(stderr, "sgbench: cannot build a lab here: %s\n", why);
		return 77;
	}
	b.csv = open_csv(&b.cfg);
	if (!b.csv)
		return 1;
	if (syscount_open(&b.sc))
		fprintf(stderr, "sgbench: system calls will not be counted\n");

	lo.nworker_ns = b.nns;
	err = netlab_create(&lo, &b.lab);
	if (err) {
		fprintf(stderr, "sgbench: netlab_create(%d namespaces): %s\n", b.nns, strerror(-err));
		goto out;
	}
	err = bench_workers_start(b.lab, b.nns, b.per_ns, b.cfg.wmode, b.cfg.worker_cpu,
				  &b.workers);
	if (err) {
		fprintf(stderr, "sgbench: bench_workers_start(%d x %d, %s): %s\n", b.nns, b.per_ns,
			b.cfg.wmode == BENCH_WORKERS_HOST ? "host" : "reflector", strerror(-err));
		goto out;
	}
	err = netlab_enter_coordinator(b.lab);
	if (err) {
		fprintf(stderr, "sgbench: entering the coordinator's namespace: %s\n",
			strerror(-err));
		goto out;
	}
	pin_self(b.cfg.cpu);
	sg_set_log(bench_log, SG_LOG_WARN, NULL);
	if (!b.cfg.quiet)
		fprintf(stderr, "sgbench: %d worker namespaces x %d ports, %s workers, %s SUM, "
			"%s requests, lab ready in %.1f s\n", b.nns, b.per_ns,
			b.cfg.wmode == BENCH_WORKERS_HOST ? "host" : "reflector",
			dtype_name(b.cfg.dtype), b.cfg.small_req ? "8-byte" : "full-size",
			now_s() - t0);
	sweep(&b);
	if (!b.cfg.quiet)
		fprintf(stderr, "sgbench: %ld points (%ld failed) in %.1f s\n", b.points,
			b.failed_points, now_s() - t0);
	rc = b.failed_points ? 1 : 0;
out:
	bench_workers_stop(b.workers);
	netlab_destroy(b.lab);
	syscount_close(&b.sc);
	if (b.csv)
		fclose(b.csv);
	return rc;
}
