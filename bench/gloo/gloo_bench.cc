// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * gloo_bench: Gloo's allreduce (float32 SUM) over its TCP transport, measured
 * for the comparison with sgbpf and Open MPI in the same results folder
 * (bench/gloo/README.md). One process per rank; bench/gloo/run_gloo.sh starts
 * them in the netlab namespaces.
 *
 * Rank 0 is the root (the sgbpf coordinator), so fanout = size - 1. Ranks
 * meet through a gloo FileStore in a folder every rank sees (namespaces share
 * the file system) under a per-run prefix, and connect a full mesh of TCP
 * pairs bound to --iface (sg0 in the lab).
 *
 * For each algorithm (ring: gloo::AllreduceRing, hd:
 * gloo::AllreduceHalvingDoubling, ring_chunked: gloo::AllreduceRingChunked)
 * and size, one algorithm object is built
 * (it owns its buffers and slots), then a warm-up and a measured loop, both
 * bounded in iterations and in time. Every iteration starts with a 2-int
 * control allreduce (ring) that is the barrier and carries the root's
 * decision to stop, so every rank runs the same iterations; then the timed
 * allreduce, timed at the root from the end of the barrier until run()
 * returns. p50/p99 are nearest-rank over the root's samples.
 *
 * Checking: in iteration k rank r fills element i with
 * (r+1)*(k%16+1) + i%7, so the sum is N(N+1)/2*(k%16+1) + N*(i%7): small
 * integers, exact in float32 whatever the order of the additions (N <= 1024
 * keeps them below 2^24), different from one iteration to the next (a stale
 * result is caught) and from one element to its neighbours (a misplaced
 * chunk is caught). Every rank checks every element of every result; the
 * errors (iterations with a wrong element, summed over the ranks) are in the
 * row, and any error makes every rank exit 3.
 *
 * Costs at the root, over the timed calls only (the barrier, filling and
 * checking are excluded): syscalls of the calling thread (perf counter on
 * raw_syscalls:sys_enter; gloo's TCP I/O runs in its own event-loop thread,
 * which this does not count), CPU of the whole root process, every thread
 * (getrusage(RUSAGE_SELF)), and whole-machine CPU (/proc/stat).
 *
 * Output: one row per (algorithm, size) appended by the root to --out, in
 * the columns of bench/mpi/mpi_bench.c's mpi.csv (impl gloo_<algorithm>,
 * coll allreduce, mode latency, window 1).
 */
#include <getopt.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

extern "C" {
#include "bench/cpucost.h"
#include "bench/stats.h"
#include "bench/syscount.h"
}

#define CSV_HEADER "impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us," \
	"coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors"

namespace {

struct config {
	int rank = -1, size = -1;
	std::string store, prefix = "gloo_bench", iface = "sg0", out;
	std::vector<std::string> algos{"ring", "hd"};
	std::vector<long> sizes;
	long budget_ms = 200, cap_ms = 30000, min_iters = 5, max_iters = 10000;
	long warmup = 3, warmup_ms = 1000, timeout_ms = 60000;
	int corrupt_rank = -1;	// test of the check: this rank sends one wrong value
	bool verbose = false;
} cfg;

double now_us()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double rusage_us()
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

[[noreturn]] void usage(FILE *f, int code)
{
	fprintf(f,
		"usage: gloo_bench --rank R --size N --store DIR --out CSV [options]\n"
		"  --prefix STR      rendezvous prefix in DIR, unique per run (default gloo_bench)\n"
		"  --iface NAME      interface the TCP pairs bind to (default sg0)\n"
		"  --algos LIST      ring,hd,ring_chunked (default ring,hd)\n"
		"  --sizes LIST      bytes, K/M suffixes allowed, multiples of 4 (default 4,64,1K,64K)\n"
		"  --budget-ms MS    measured loop: stop after MS once --min-iters ran (default 200)\n"
		"  --cap-ms MS       measured loop: stop after MS even below --min-iters (default 30000)\n"
		"  --min-iters N     (default 5)     --max-iters N (default 10000)\n"
		"  --warmup N        warm-up iterations (default 3), at most --warmup-ms (1000)\n"
		"  --timeout-ms MS   gloo's timeout for one operation (default 60000)\n"
		"  --corrupt-rank R  rank R adds 1 to one element in the first measured iteration\n"
		"                    (tests that a wrong result is caught: exit 3)\n"
		"  -v                print the rows\n");
	exit(code);
}

long parse_size(const std::string &s)
{
	char *end;
	long v = strtol(s.c_str(), &end, 10);

	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v < 4 || v % 4 || v > (1L << 30))
		throw std::invalid_argument("bad size " + s + " (4 bytes to 1 GiB, multiple of 4)");
	return v;
}

std::vector<std::string> split(const char *s)
{
	std::vector<std::string> v;
	std::string cur;

	for (; *s; s++) {
		if (*s == ',') {
			if (!cur.empty())
				v.push_back(cur);
			cur.clear();
		} else {
			cur += *s;
		}
	}
	if (!cur.empty())
		v.push_back(cur);
	return v;
}

void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rank", 1, nullptr, 'r'},	{"size", 1, nullptr, 'n'},
		{"store", 1, nullptr, 's'},	{"prefix", 1, nullptr, 'P'},
		{"iface", 1, nullptr, 'i'},	{"out", 1, nullptr, 'o'},
		{"algos", 1, nullptr, 'a'},	{"sizes", 1, nullptr, 'S'},
		{"budget-ms", 1, nullptr, 'b'}, {"cap-ms", 1, nullptr, 'c'},
		{"min-iters", 1, nullptr, 'm'}, {"max-iters", 1, nullptr, 'M'},
		{"warmup", 1, nullptr, 'w'},	{"warmup-ms", 1, nullptr, 'W'},
		{"timeout-ms", 1, nullptr, 't'}, {"corrupt-rank", 1, nullptr, 'C'},
		{"help", 0, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	std::vector<std::string> sizes{"4", "64", "1K", "64K"};
	int opt;

	while ((opt = getopt_long(argc, argv, "vh", opts, nullptr)) != -1) {
		switch (opt) {
		case 'r': cfg.rank = atoi(optarg); break;
		case 'n': cfg.size = atoi(optarg); break;
		case 's': cfg.store = optarg; break;
		case 'P': cfg.prefix = optarg; break;
		case 'i': cfg.iface = optarg; break;
		case 'o': cfg.out = optarg; break;
		case 'a': cfg.algos = split(optarg); break;
		case 'S': sizes = split(optarg); break;
		case 'b': cfg.budget_ms = atol(optarg); break;
		case 'c': cfg.cap_ms = atol(optarg); break;
		case 'm': cfg.min_iters = atol(optarg); break;
		case 'M': cfg.max_iters = atol(optarg); break;
		case 'w': cfg.warmup = atol(optarg); break;
		case 'W': cfg.warmup_ms = atol(optarg); break;
		case 't': cfg.timeout_ms = atol(optarg); break;
		case 'C': cfg.corrupt_rank = atoi(optarg); break;
		case 'v': cfg.verbose = true; break;
		case 'h': usage(stdout, 0);
		default: usage(stderr, 2);
		}
	}
	// The expected sums must stay exact in float32 (see the top).
	if (cfg.size < 2 || cfg.size > 1024 || cfg.rank < 0 || cfg.rank >= cfg.size ||
	    cfg.store.empty() || (cfg.rank == 0 && cfg.out.empty()))
		usage(stderr, 2);
	if (cfg.budget_ms < 1 || cfg.cap_ms < 1 || cfg.min_iters < 1 ||
	    cfg.max_iters < cfg.min_iters || cfg.warmup < 0 || cfg.warmup_ms < 1 ||
	    cfg.timeout_ms < 1)
		usage(stderr, 2);
	for (const auto &a : cfg.algos)
		if (a != "ring" && a != "hd" && a != "ring_chunked")
			throw std::invalid_argument("--algos: ring, hd, ring_chunked");
	for (const auto &s : sizes)
		cfg.sizes.push_back(parse_size(s));
}

// The control allreduce: {stop flag, errors}, summed. Doubles as the barrier.
struct control {
	int v[2] = {0, 0};
	std::unique_ptr<gloo::AllreduceRing<int>> op;

	explicit control(const std::shared_ptr<gloo::Context> &ctx)
		: op(new gloo::AllreduceRing<int>(ctx, {v}, 2)) {}
	void run(int stop, int errors, int *stop_out, int *errors_out)
	{
		v[0] = stop;
		v[1] = errors;
		op->run();
		*stop_out = v[0];
		*errors_out = v[1];
	}
};

float contribution(int rank, long k, size_t i)
{
	return (float)((rank + 1) * (k % 16 + 1) + (long)(i % 7));
}

float expected(int n, long k, size_t i)
{
	return (float)((long)n * (n + 1) / 2 * (k % 16 + 1) + (long)n * (long)(i % 7));
}

void fill(std::vector<float> &buf, long k)
{
	for (size_t i = 0; i < buf.size(); i++)
		buf[i] = contribution(cfg.rank, k, i);
}

bool check(const std::vector<float> &buf, long k)
{
	for (size_t i = 0; i < buf.size(); i++) {
		if (buf[i] != expected(cfg.size, k, i)) {
			fprintf(stderr, "gloo_bench: rank %d: iteration %ld, %zu elements: "
				"element %zu is %g, expected %g\n", cfg.rank, k, buf.size(), i,
				(double)buf[i], (double)expected(cfg.size, k, i));
			return false;
		}
	}
	return true;
}

struct row {
	long iters = 0;
	long errors = 0;	// over every rank
	std::vector<double> lat;
	uint64_t syscalls = 0;
	bool syscalls_ok = true;
	double cpu_us = 0, machine_us = 0;
	bool machine_ok = true;
};

struct limits {
	long min_iters, max_iters, budget_ms, cap_ms;
};

// Runs iterations until the root says stop; *k is the iteration number,
// carried over from the warm-up so that consecutive results always differ.
void loop(gloo::Algorithm &alg, control &ctl, std::vector<float> &buf, long *k,
	  const limits &lim, struct syscount *sc, row *r)
{
	double start = now_us();
	long n = 0;
	int my_errors = 0;

	for (;; n++, (*k)++) {
		int stop = 0, unused;

		if (cfg.rank == 0) {
			double ms = (now_us() - start) / 1e3;

			stop = n >= lim.max_iters || (n >= lim.min_iters && ms >= lim.budget_ms) ||
			       (n >= 1 && ms >= lim.cap_ms);
		}
		fill(buf, *k);
		if (r && n == 0 && cfg.rank == cfg.corrupt_rank)
			buf.back() += 1;
		ctl.run(stop, 0, &stop, &unused);
		if (stop)
			break;

		if (r && cfg.rank == 0) {
			double m0 = cpu_machine_busy_us(), c0 = rusage_us(), t0, t1;
			uint64_t ns = 0;

			if (sc->fd >= 0)
				syscount_start(sc);
			t0 = now_us();
			alg.run();
			t1 = now_us();
			if (sc->fd >= 0 && syscount_stop(sc, &ns) == 0)
				r->syscalls += ns;
			else
				r->syscalls_ok = false;
			r->cpu_us += rusage_us() - c0;
			double m1 = cpu_machine_busy_us();
			if (m0 < 0 || m1 < 0)
				r->machine_ok = false;
			r->machine_us += m1 - m0;
			r->lat.push_back(t1 - t0);
		} else {
			alg.run();
		}
		if (!check(buf, *k))
			my_errors++;
	}
	// Every rank learns the total, so that every rank fails on an error.
	int total = 0, unused;
	ctl.run(0, my_errors, &unused, &total);
	if (r) {
		r->iters = n;
		r->errors = total;
	} else if (total) {
		throw std::runtime_error("wrong results in the warm-up");
	}
}

std::unique_ptr<gloo::Algorithm> make_algo(const std::string &name,
					   const std::shared_ptr<gloo::Context> &ctx,
					   std::vector<float> &buf)
{
	std::vector<float *> ptrs{buf.data()};
	int count = (int)buf.size();

	// AllreduceRing passes the whole vector around the ring (n-1 steps of
	// all the bytes); AllreduceRingChunked is the reduce-scatter + allgather
	// ring that moves 2(n-1)/n of them, the one nccl-tests' busbw assumes.
	if (name == "ring")
		return std::unique_ptr<gloo::Algorithm>(
			new gloo::AllreduceRing<float>(ctx, ptrs, count));
	if (name == "ring_chunked")
		return std::unique_ptr<gloo::Algorithm>(
			new gloo::AllreduceRingChunked<float>(ctx, ptrs, count));
	return std::unique_ptr<gloo::Algorithm>(
		new gloo::AllreduceHalvingDoubling<float>(ctx, ptrs, count));
}

std::string num(bool ok, double v, const char *fmt)
{
	char b[64];

	if (!ok || !std::isfinite(v) || v < 0)
		return "";	// not measured
	snprintf(b, sizeof(b), fmt, v);
	return b;
}

void emit(FILE *csv, const std::string &algo, long bytes, row &r)
{
	struct lat_summary s = lat_summarize(r.lat.data(), r.lat.size());
	double it = r.iters ? (double)r.iters : NAN;
	char line[512];

	snprintf(line, sizeof(line), "gloo_%s,allreduce,latency,%d,%ld,1,%ld,%s,%s,%s,%s,%s,%s,%s,%ld",
		 algo.c_str(), cfg.size - 1, bytes, r.iters,
		 num(r.iters, s.p50, "%.2f").c_str(), num(r.iters, s.p99, "%.2f").c_str(),
		 num(r.iters, s.mean, "%.2f").c_str(),
		 num(r.iters && s.mean > 0, 1e6 / s.mean, "%.1f").c_str(),
		 num(r.syscalls_ok, r.syscalls / it, "%.2f").c_str(),
		 num(true, r.cpu_us / it, "%.2f").c_str(),
		 num(r.machine_ok, r.machine_us / it, "%.2f").c_str(), r.errors);
	fprintf(csv, "%s\n", line);
	fflush(csv);
	if (cfg.verbose)
		printf("%s\n", line);
}

int run()
{
	gloo::transport::tcp::attr attr;
	attr.iface = cfg.iface;
	auto dev = gloo::transport::tcp::CreateDevice(attr);
	gloo::rendezvous::FileStore fstore(cfg.store);
	gloo::rendezvous::PrefixStore store(cfg.prefix, fstore);
	auto ctx = std::make_shared<gloo::rendezvous::Context>(cfg.rank, cfg.size);
	ctx->setTimeout(std::chrono::milliseconds(cfg.timeout_ms));
	ctx->connectFullMesh(store, dev);

	FILE *csv = nullptr;
	struct syscount sc = {-1};
	if (cfg.rank == 0) {
		csv = fopen(cfg.out.c_str(), "a");
		if (!csv)
			throw std::runtime_error("cannot open " + cfg.out + ": " + strerror(errno));
		fseek(csv, 0, SEEK_END);	// "a" alone leaves ftell() at 0
		if (ftell(csv) == 0)
			fprintf(csv, "%s\n", CSV_HEADER);
		if (syscount_open(&sc))
			fprintf(stderr, "gloo_bench: syscalls_per_coll will be empty\n");
	}

	control ctl(ctx);
	long total_errors = 0;
	for (const auto &algo : cfg.algos) {
		for (long bytes : cfg.sizes) {
			std::vector<float> buf((size_t)bytes / 4);
			auto alg = make_algo(algo, ctx, buf);
			long k = 0;
			row r;

			loop(*alg, ctl, buf, &k,
			     limits{1, cfg.warmup, cfg.warmup_ms, cfg.warmup_ms}, &sc, nullptr);
			loop(*alg, ctl, buf, &k,
			     limits{cfg.min_iters, cfg.max_iters, cfg.budget_ms, cfg.cap_ms}, &sc, &r);
			total_errors += r.errors;
			if (cfg.rank == 0)
				emit(csv, algo, bytes, r);
		}
	}
	if (cfg.rank == 0) {
		fclose(csv);
		syscount_close(&sc);
	}
	if (total_errors) {
		fprintf(stderr, "gloo_bench: rank %d: %ld wrong results\n", cfg.rank, total_errors);
		return 3;
	}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	try {
		parse_args(argc, argv);
		return run();
	} catch (const std::exception &e) {
		// gloo reports timeouts and broken connections by throwing.
		fprintf(stderr, "gloo_bench: rank %d: %s\n", cfg.rank, e.what());
		return 1;
	}
}
