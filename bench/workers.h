/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The workers every benchmark runs against, identical for all transports.
 *
 * Layout: a netlab (tests/lab/netlab.h) with @nns worker namespaces; rank r
 * lives in namespace r / per_ns, at that namespace's address, UDP port
 * BENCH_PORT + r % per_ns.
 *
 * Contribution: every worker answers a SCATTER with the request's own bytes
 * (the request must be count * element size bytes), so a SUM over n workers
 * is n times the request, which the driver checks for every collective. It
 * acknowledges allgather RESULTs as the worker API does and ignores BCASTs
 * (they are counted).
 *
 * Generated contributions (host mode only): a request of BENCH_GEN_REQ_BYTES,
 * BENCH_GEN_MAGIC then a salt s (little-endian uint32s), asks for count
 * elements of the message's 4-byte datatype (uint32, int32, float32), element
 * i = bench_gen_value(s, i): a few bytes in, a large vector out, the pattern
 * of ML and graph reductions. The values are small integers so that a float32
 * SUM over up to SG_MAX_WORKERS_PER_COMM workers is exact. The reflector
 * cannot answer such a request (XDP sends one frame per frame received).
 *
 * Modes:
 *  - BENCH_WORKERS_HOST: ONE process serving every rank's address (sockets
 *    opened in each namespace, one epoll loop), pinned with hwloc to core
 *    @cpu, built on the worker API (sg_worker_*).
 *  - BENCH_WORKERS_REFLECTOR: no process; an XDP program on each worker
 *    namespace's sg0 turns the SCATTER into the RESPONSE (and a RESULT into its
 *    acknowledgement) and sends it back (XDP_TX), so only the coordinator's
 *    own cost is measured.
 *
 * Added notes (bench/workers.c, bench/reflector.bpf.c):
 *  - Link with $(BENCH_WORKERS_LIBS) (bench/workers.am).
 *  - Before start returns, every rank has answered a probe SCATTER sent from
 *    the coordinator's namespace through its stack (so checksums are checked);
 *    the probe is not in the counters.
 *  - Host counters are derived from the messages the worker API returns
 *    (chunks of each request, result and bcast; chunks of each answer, one
 *    per ack); repeats it answers from its reply cache are not counted.
 *  - The reflector answers chunk by chunk and acknowledges a RESULT on its
 *    last chunk; a float32 request above 512 bytes would need two response
 *    frames and is dropped (the collective times out). It attaches a trivial
 *    XDP program to each worker veth's switch-side peer too: a veth delivers
 *    XDP_TX frames only to a peer running NAPI.
 */
#ifndef SGBPF_BENCH_WORKERS_H
#define SGBPF_BENCH_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "tests/lab/netlab.h"

#define BENCH_PORT 9000

#define BENCH_GEN_MAGIC		0x6e656753u	/* "Sgen" */
#define BENCH_GEN_REQ_BYTES	8
/* A prime above SG_MAX_INFLIGHT: the collectives in flight together all
 * expect different vectors. 1024 x 251 < 2^24: float32 sums stay exact. */
#define BENCH_GEN_PERIOD	251u

static inline uint32_t bench_gen_value(uint32_t salt, size_t i)
{
	return (uint32_t)(((uint64_t)salt + i) % BENCH_GEN_PERIOD) + 1;
}

enum bench_worker_mode {
	BENCH_WORKERS_HOST = 0,
	BENCH_WORKERS_REFLECTOR,
};

struct bench_workers;

/* Start serving ranks 0 .. nns * per_ns - 1 of @lab (which has at least @nns
 * worker namespaces); returns once every rank answers. @cpu: the core for
 * the host process (-1: let hwloc pick the last core). 0 or -errno, with a
 * message on stderr. */
int bench_workers_start(struct netlab *lab, int nns, int per_ns, enum bench_worker_mode mode,
			int cpu, struct bench_workers **out);

/* Stop serving and detach/free everything (NULL allowed). Call it before
 * netlab_destroy() of the lab, which it uses to reap the host process. */
void bench_workers_stop(struct bench_workers *w);

struct sockaddr_in bench_worker_addr(const struct bench_workers *w, uint32_t rank);

/* Datagrams the workers received / sent so far (host mode: counted by the
 * process; reflector mode: counted by the XDP program). */
int bench_workers_counters(const struct bench_workers *w, uint64_t *rx, uint64_t *tx);

#endif
