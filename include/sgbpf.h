/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/**
 * @file sgbpf.h
 * @brief sgbpf: scatter-gather collectives with the fan-out and the reduction
 * done in the kernel by eBPF programs.
 *
 * A coordinator creates an ::sg_comm over a network interface and a list of
 * workers (UDP endpoints). sg_scatter_reduce() sends one request datagram; a TC
 * egress program clones it to every worker; the workers' replies are reduced
 * by an XDP program as they arrive and dropped, and the application wakes up
 * once, to read the reduced vector from memory shared with the kernel.
 *
 * Workers use ::sg_worker (plain UDP sockets, no privileges needed).
 *
 * Conventions (those of libbpf): every function that can fail returns 0 or a
 * positive value on success and a negative errno on failure; options structs
 * start with their own size (set with SG_OPTS_INIT or by hand) so they can grow
 * without breaking binaries; objects are opaque. The library never aborts or
 * exits. After a failure, sg_errmsg() returns a message naming the problem
 * (file and line for a malformed workers file, the verifier log for a rejected
 * program is sent to the log callback).
 *
 * Thread safety: one communicator or worker must be used by one thread at a
 * time; distinct objects may be used concurrently.
 */
#ifndef SGBPF_H
#define SGBPF_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "sgbpf/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SGBPF_API __attribute__((visibility("default")))

/** Declare and zero an options struct @p NAME of type @p TYPE with its size set. */
#define SG_OPTS_INIT(TYPE, NAME) struct TYPE NAME = { .sz = sizeof(struct TYPE) }

/** Largest broadcast message, reduced vector or allgather result, in bytes
 * (256 MiB). Those longer than SG_MAX_SEGMENT_BYTES are split into segments
 * that run through the window of collectives in flight (docs/design.md,
 * "Segments"). */
#define SG_MAX_MESSAGE_BYTES (256u * 1024u * 1024u)
/** Largest request of a scatter-reduce or allgather, and the most one
 * segment of a longer vector or broadcast carries, in bytes (1 MiB). */
#define SG_MAX_SEGMENT_BYTES (1024u * 1024u)
/** Collectives in flight per communicator (non-blocking calls). */
#define SG_MAX_INFLIGHT 64u
/** Largest number of workers of one communicator. */
#define SG_MAX_WORKERS_PER_COMM 1024u
/** Default timeout of a collective when the caller gives none (ms). */
#define SG_DEFAULT_TIMEOUT_MS 5000

/** When a scatter-reduce completes. */
enum sg_policy {
	SG_WAIT_ALL = 0, /**< every worker contributed */
	SG_WAIT_N,       /**< the first sg_reduce_params::n workers to answer contributed */
	SG_WAIT_ANY,     /**< the first worker to answer contributed */
};

/** Log levels, most severe first. */
enum sg_log_level {
	SG_LOG_ERROR = 0,
	SG_LOG_WARN,
	SG_LOG_INFO,
	SG_LOG_DEBUG,
};

typedef void (*sg_log_fn)(enum sg_log_level level, const char *msg, void *ctx);

/**
 * Set the log callback (NULL restores the default, which writes to stderr).
 * Messages above @p level are not delivered. The environment variable
 * SGBPF_LOG=error|warn|info|debug sets the level of the default logger
 * (default: warn). Verifier logs of rejected programs are sent at SG_LOG_WARN.
 */
SGBPF_API void sg_set_log(sg_log_fn fn, enum sg_log_level level, void *ctx);

/** Text for a negative errno returned by this library (thread-safe). */
SGBPF_API const char *sg_strerror(int err);

/** The detailed message of the last failure in this thread ("" if none). */
SGBPF_API const char *sg_errmsg(void);

/** MAXLOC/MINLOC elements (MPI's MPI_2INT, MPI_LONG_INT, MPI_FLOAT_INT,
 * MPI_DOUBLE_INT). */
struct sg_int32_loc { int32_t value; int32_t index; };
struct sg_int64_loc { int64_t value; int32_t index; int32_t pad; };
struct sg_float32_loc { float value; int32_t index; };
struct sg_float64_loc { double value; int32_t index; int32_t pad; };

/** Size in bytes of one element of @p dt, or 0 if @p dt is not a datatype. */
SGBPF_API size_t sg_datatype_size(enum sg_datatype dt);

/* ------------------------------------------------------------------------ */
/* Coordinator                                                               */
/* ------------------------------------------------------------------------ */

typedef struct sg_comm sg_comm;

/** How a communicator moves data (docs/transports.md compares them). */
enum sg_transport_kind {
	/** The SG_TRANSPORT environment variable ("ebpf", "io_uring", "epoll",
	 * "naive") when it is set; otherwise ebpf, falling back to io_uring (and
	 * to epoll if io_uring is unavailable) with a logged reason when the BPF
	 * programs cannot be loaded or attached. */
	SG_TRANSPORT_AUTO = 0,
	SG_TRANSPORT_EBPF,     /**< fan-out by TC egress, reduction by XDP, in the kernel */
	SG_TRANSPORT_IO_URING, /**< user space: batched sends, multishot receive into a buffer ring */
	SG_TRANSPORT_EPOLL,    /**< user space: sendmmsg, epoll and recvmmsg */
	SG_TRANSPORT_NAIVE,    /**< user space: one blocking sendto/recvfrom per datagram */
	SG_TRANSPORT_COUNT
};

/** Name of @p kind ("auto", "ebpf", "io_uring", "epoll", "naive"), or NULL. */
SGBPF_API const char *sg_transport_name(enum sg_transport_kind kind);

/** The transport named @p name (as sg_transport_name(), case-sensitive).
 * @return 0, or -EINVAL for an unknown name (the message lists the known ones). */
SGBPF_API int sg_transport_from_name(const char *name, enum sg_transport_kind *kind);

/** Options of sg_comm_create(). Unset fields are zero. */
struct sg_comm_opts {
	size_t sz;                 /**< sizeof(struct sg_comm_opts) */
	const char *ifname;        /**< interface the workers are reached through (required) */
	const char *local_addr;    /**< IPv4 address to send from; default: the first of @ref ifname */
	uint16_t local_port;       /**< UDP port the workers reply to (required, host order) */
	/** Workers as an array (sin_family AF_INET, port in network order)... */
	const struct sockaddr_in *workers;
	size_t nworkers;
	/** ...or as a file of "host:port" lines ('#' comments and blank lines allowed).
	 * Exactly one of @ref workers and @ref workers_file must be given. */
	const char *workers_file;
	/** Completion delivery: 0 (default) sleeps in poll() on an fd (see
	 * sg_comm_fd()); 1 busy-polls memory shared with the kernel and completes
	 * without any system call, burning a core while it waits. */
	int busy_poll;
	/** Also pass every folded response on to the network stack, where
	 * sg_comm_recv_response() reads it (default: dropped after folding). */
	int pass_responses;
	/** A user aggregation program: an object file built against
	 * <sgbpf/agg.bpf.h> (see docs/aggregation.md) and the name of its XDP
	 * program. Collectives select it with op SG_OP_USER. */
	const char *agg_object;
	const char *agg_program;
	/** The transport (default SG_TRANSPORT_AUTO). An explicit choice is
	 * never replaced by another: if it cannot be set up, sg_comm_create()
	 * fails. The user-space transports reduce in the coordinator process and
	 * need no privileges; they do not run user aggregation programs
	 * (@ref agg_object) or pass responses on (@ref pass_responses), and
	 * busy_poll makes them poll their socket without sleeping. */
	enum sg_transport_kind transport;
	/** The largest IPv4 datagram, in bytes, the path to every worker carries
	 * (its MTU). Default 0: the smallest MTU the coordinator's routes to the
	 * workers report. Workers put as many chunks of their answers into one
	 * datagram as it takes (up to 8 KiB of data at MTU 9000; 1.4 KiB at
	 * 1500), capped by their own route's MTU: see docs/design.md, "Chunk
	 * sizes". Set it lower when a link between is narrower than both ends'
	 * (at least 576). */
	unsigned int mtu;
	/** Bytes of answers all workers may send at once. A reduction whose
	 * answers together pass it runs in segments of this share per worker
	 * (at least 64 KiB), SG_WAIT_ALL vectors of one segment
	 * included, so that the burst at the coordinator's receive path stays
	 * within what it queues (docs/design.md, "Segments"). Default 0: 256
	 * KiB, what the 256-frame XDP ring of a veth takes at MTU 1500; raise
	 * it for receive rings that hold more. SIZE_MAX: never split a vector
	 * of one segment (workers that answer in the kernel from the request
	 * itself, as bench/reflector.bpf.c, take only unsplit ones). */
	size_t incast_bytes;
};
#define sg_comm_opts__last_field incast_bytes

/**
 * Create a communicator: resolve the workers' link-layer addresses, load and
 * attach the kernel programs (XDP on @ref sg_comm_opts::ifname for the gather,
 * TC egress for the fan-out) and bind the coordinator's socket.
 *
 * The ebpf transport needs CAP_BPF, CAP_PERFMON (the verifier refuses the
 * fan-out program's pointer arithmetic without it) and CAP_NET_ADMIN, or
 * root; sgbpf-probe checks. Communicators of one
 * process on one interface share the attached programs (up to 4 per
 * interface, distinct ports); the programs are detached when the last one is
 * destroyed or the process exits. The user-space transports need no
 * privileges (see sg_comm_opts::transport); `sgbpf-probe` tells whether this
 * machine can run the ebpf one.
 *
 * @return 0 and *@p comm, or -EINVAL (bad option; see sg_errmsg()),
 * -E2BIG (more than SG_MAX_WORKERS_PER_COMM workers), -ENODEV (no such
 * interface), -EADDRINUSE (port taken), -EHOSTUNREACH (a worker's link-layer
 * address could not be resolved), -EPERM (no privileges), -EBUSY (another
 * process holds the interface's XDP hook), -ENOSPC (too many communicators on
 * this interface), -ENOENT/-EIO (workers file unreadable), or the error of
 * the failed kernel call.
 */
SGBPF_API int sg_comm_create(const struct sg_comm_opts *opts, sg_comm **comm);

/** Detach and free everything @p comm holds. NULL is allowed. */
SGBPF_API void sg_comm_destroy(sg_comm *comm);

/** The transport @p comm runs on (never SG_TRANSPORT_AUTO). */
SGBPF_API enum sg_transport_kind sg_comm_transport(const sg_comm *comm);

/** Number of workers of @p comm. */
SGBPF_API size_t sg_comm_size(const sg_comm *comm);

/** The address of worker @p rank (the order of the options or the file). */
SGBPF_API int sg_comm_worker(const sg_comm *comm, size_t rank, struct sockaddr_in *addr);

/** Counters of the kernel programs for this communicator. */
struct sg_comm_stats {
	uint64_t rx_accepted;    /**< contribution chunks folded into a result */
	uint64_t rx_duplicate;   /**< chunks a worker had already contributed */
	uint64_t rx_stale;       /**< chunks of a collective that is no longer current */
	uint64_t rx_late;        /**< chunks from workers beyond a first-N policy */
	uint64_t rx_unknown_src; /**< datagrams from addresses that are not workers */
	uint64_t rx_malformed;   /**< truncated or inconsistent datagrams, bad magic/version/nonce; on ebpf also own requests whose arm descriptor was not theirs */
	uint64_t completed;      /**< collectives completed in the kernel */
	uint64_t tx_fanout;      /**< datagrams fanned out (one per worker per chunk) */
	uint64_t retransmits;    /**< requests sent again to workers that had not answered */
	uint64_t rx_forged;      /**< datagrams from a worker's address without that worker's authenticator for the collective (spoofed, or replayed from another worker) */
};

/** Read the counters of @p comm. */
SGBPF_API int sg_comm_get_stats(const sg_comm *comm, struct sg_comm_stats *stats);

/** An fd that becomes readable when a collective of @p comm may have
 * completed, for the application's own poll/epoll loop (then call sg_test()
 * on the requests in flight; call it before sleeping too: a completion that
 * sg_wait() on @p comm has seen does not make the fd readable again).
 * On the ebpf transport it is the fd of the communicator's own ring buffer
 * (other communicators' completions neither wake it nor are drained from
 * it); on io_uring it is the ring's fd, and the ring delivers its
 * completions as task work, which interrupts a sleeping poll/epoll_wait of the
 * same thread like a signal: expect EINTR there and call sg_test(); on epoll
 * it is the transport's epoll fd and on naive its socket. */
SGBPF_API int sg_comm_fd(const sg_comm *comm);

/** One worker's response, passed on with sg_comm_opts::pass_responses. */
struct sg_response {
	size_t rank;             /**< the worker */
	uint32_t coll_id;        /**< its collective (of a segmented one, the segment's) */
	unsigned int chunk;      /**< chunk index; chunks hold sg_response_chunk_bytes() bytes */
	const void *data;        /**< valid until the next call */
	size_t len;
};

/** Read the next passed-on response (@p timeout_ms as sg_worker_recv()).
 * @return 0, -EAGAIN, -ETIMEDOUT, -EINVAL (pass_responses not set). */
SGBPF_API int sg_comm_recv_response(sg_comm *comm, struct sg_response *resp, int timeout_ms);

/** Bytes of a full response chunk of @p dt (the last one may be shorter). */
SGBPF_API size_t sg_response_chunk_bytes(enum sg_datatype dt);

/** Parameters and report of one scatter-reduce (may be NULL: wait for all,
 * SG_DEFAULT_TIMEOUT_MS).
 *
 * The report: the result is the reduction over exactly the workers it names
 * (ncontributors, contributors), the workers whose whole contribution
 * arrived. After -ETIMEDOUT that holds part by part: the result is made of
 * parts of sg_response_chunk_bytes() bytes (part c holds elements
 * c * k .. c * k + k - 1, k = sg_response_chunk_bytes(dt) /
 * sg_datatype_size(dt), the last part possibly shorter); each part is either
 * the reduction over exactly the named workers, or, when it cannot be (no
 * worker is named, or a worker whose contribution arrived only in part sent
 * this part), it is *missing*: it holds the op's identity (0 for SUM, BOR,
 * BXOR; 1 for PROD; all ones for BAND; the type's largest value, +inf for
 * floats, for MIN and smallest, -inf, for MAX; for MAXLOC and MINLOC that
 * value with index INT32_MAX; zero bytes for SG_OP_USER), and nmissing and
 * missing say so. A result never holds another collective's data nor a
 * contribution of a worker the report does not name. */
struct sg_reduce_params {
	size_t sz;              /**< sizeof(struct sg_reduce_params) */
	enum sg_policy policy;  /**< default SG_WAIT_ALL */
	unsigned int n;         /**< workers to wait for with SG_WAIT_N (1..size) */
	/** 0: SG_DEFAULT_TIMEOUT_MS for every 16 MiB (or part) of the
	 * vector; negative: no timeout */
	int timeout_ms;
	/** Out: number of workers whose whole contribution is in the result. */
	unsigned int ncontributors;
	/** In/out, optional: bitmap of contributing ranks (bit r of word r/64),
	 * caller-provided, at least (size + 63) / 64 words. */
	uint64_t *contributors;
	size_t contributors_words;
	/** Out: elements of the result in missing parts (above); 0 unless the
	 * call returned -ETIMEDOUT. */
	size_t nmissing;
	/** In/out, optional: bitmap of the missing parts (bit c of word c/64
	 * for part c), caller-provided, at least (parts + 63) / 64 words, where
	 * parts = ceil(count * sg_datatype_size(dt) / sg_response_chunk_bytes(dt))
	 * (at most 1024 for a vector of one segment, SG_MAX_SEGMENT_BYTES: 16
	 * words always suffice there). */
	uint64_t *missing;
	size_t missing_words;
};
#define sg_reduce_params__last_field missing_words

/**
 * Send @p request (@p request_len bytes, may be 0) to every worker; each worker
 * replies with a vector of @p count elements of @p dt; reduce them with @p op
 * in the kernel into @p result.
 *
 * With SG_WAIT_N and SG_WAIT_ANY the result is the reduction over exactly the
 * first workers to answer; later answers are dropped and counted as late.
 *
 * Long vectors: a vector of more than SG_MAX_SEGMENT_BYTES (up to
 * SG_MAX_MESSAGE_BYTES) is reduced in segments of about 1 MiB, each a
 * collective of its own, several in flight at once (they take slots and
 * accumulators like non-blocking calls); the request rides on the first.
 * Workers see one request and answer it once (sg_worker_reply() with the
 * whole vector); their library answers each segment. Such a collective
 * takes SG_WAIT_ALL only (a first-N set could differ from segment to
 * segment); the report then names the workers whose contribution to every
 * segment arrived.
 *
 * @return 0, or -EINVAL (bad argument), -E2BIG (request larger than
 * SG_MAX_SEGMENT_BYTES or result larger than SG_MAX_MESSAGE_BYTES),
 * -EOPNOTSUPP (a policy other than SG_WAIT_ALL on a segmented vector),
 * -ETIMEDOUT (the policy was not met in time: the
 * collective stops taking contributions, the report names the workers whose
 * whole contribution arrived, and each part of the result is their exact
 * reduction or, reported in nmissing and missing, the op's identity; see
 * struct sg_reduce_params), or the error of a failed system call. The
 * communicator stays usable after any error.
 */
SGBPF_API int sg_scatter_reduce(sg_comm *comm, const void *request, size_t request_len,
				void *result, size_t count, enum sg_datatype dt, enum sg_op op,
				struct sg_reduce_params *params);

/**
 * Like sg_scatter_reduce(), and the reduced vector is then fanned out by the
 * kernel to every worker (the application sends it once, not once per worker),
 * where sg_worker_recv() returns it as SG_MSG_RESULT.
 *
 * The completion policy of @p params governs the reduction only: which
 * workers' vectors are in the result, as the report (ncontributors,
 * contributors) says. The delivery is to every worker of the communicator,
 * whatever the policy: each worker's library acknowledges the result, and it
 * is sent again to the workers that have not, until all have or the timeout
 * (which covers both phases) runs out.
 *
 * @return as sg_scatter_reduce(); -ETIMEDOUT also when the reduction
 * completed but some workers had not acknowledged the result by the deadline:
 * @p result and the report then hold the complete reduction, and sg_errmsg()
 * says how many workers acknowledged ("N of M workers acknowledged the
 * result").
 */
SGBPF_API int sg_allgather(sg_comm *comm, const void *request, size_t request_len,
			   void *result, size_t count, enum sg_datatype dt, enum sg_op op,
			   struct sg_reduce_params *params);

/**
 * Reduce with the coordinator as a contributor: MPI_Reduce with the
 * coordinator as the root (rank 0) and every worker a rank. Like
 * sg_scatter_reduce(), and @p contribution (@p count elements of @p dt, the
 * coordinator's own vector) is folded into the result with the workers'
 * vectors, by the same fold as theirs (a float SUM keeps its error bound:
 * docs/floats.md). @p contribution may be @p result itself (in place, as
 * MPI_IN_PLACE); any other overlap is -EINVAL. The report still names the
 * workers; the coordinator is always in the result. A part the report marks
 * missing holds the op's identity, as with sg_scatter_reduce(), not the
 * coordinator's part alone.
 *
 * @return as sg_scatter_reduce(), and -EOPNOTSUPP for SG_OP_USER (an
 * aggregation program runs in the kernel only).
 */
SGBPF_API int sg_reduce(sg_comm *comm, const void *request, size_t request_len,
			const void *contribution, void *result, size_t count, enum sg_datatype dt,
			enum sg_op op, struct sg_reduce_params *params);

/**
 * Allreduce with the coordinator as a contributor: MPI_Allreduce with the
 * coordinator as rank 0. sg_reduce(), then, as sg_allgather() does, the
 * result fanned out to every worker, so that the coordinator and every worker
 * end with the same vector. sg_allgather() is the same collective without
 * the coordinator's contribution (its result is the workers' reduction
 * alone). @return as sg_allgather(), and -EOPNOTSUPP for SG_OP_USER.
 */
SGBPF_API int sg_allreduce(sg_comm *comm, const void *request, size_t request_len,
			   const void *contribution, void *result, size_t count,
			   enum sg_datatype dt, enum sg_op op, struct sg_reduce_params *params);

/** Send @p len bytes (0 to SG_MAX_MESSAGE_BYTES) to every worker; the kernel
 * does the fan-out. Up to SG_MAX_SEGMENT_BYTES it is one datagram train,
 * sent and forgotten (complete once sent; a lost datagram loses the message
 * at that worker). A longer message is sent reliably: in segments each
 * worker's library acknowledges and that are sent again to the workers that
 * have not, through the window of collectives in flight, like an allgather's
 * result; it completes when every worker has every segment, or fails with
 * -ETIMEDOUT after SG_DEFAULT_TIMEOUT_MS for every 16 MiB (or part).
 * @return 0, -EINVAL, -E2BIG, -ETIMEDOUT or a send error. */
SGBPF_API int sg_bcast(sg_comm *comm, const void *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Non-blocking collectives                                                  */
/* ------------------------------------------------------------------------ */

/** A collective in flight. */
typedef struct sg_request sg_request;

/**
 * Start a scatter-reduce and return at once. @p result and @p params must
 * stay valid until the request completes; @p request is sent before the call
 * returns. Up to 64 collectives may be in flight per communicator; results
 * never cross between them. The timeout of @p params runs from this call.
 * @return 0 and *@p req, -EBUSY (64 in flight: complete one first), -ENOSPC
 * (the accumulator pool of the interface is full), or the errors of
 * sg_scatter_reduce().
 */
SGBPF_API int sg_iscatter_reduce(sg_comm *comm, const void *request, size_t request_len,
				 void *result, size_t count, enum sg_datatype dt, enum sg_op op,
				 struct sg_reduce_params *params, sg_request **req);

/** Non-blocking sg_allgather(): the result is fanned out to the workers when
 * the request is completed by sg_test()/sg_wait(). */
SGBPF_API int sg_iallgather(sg_comm *comm, const void *request, size_t request_len,
			    void *result, size_t count, enum sg_datatype dt, enum sg_op op,
			    struct sg_reduce_params *params, sg_request **req);

/** Non-blocking sg_reduce(): @p contribution is read when the request
 * completes, so it must not change until then (as MPI_Ireduce's send
 * buffer). */
SGBPF_API int sg_ireduce(sg_comm *comm, const void *request, size_t request_len,
			 const void *contribution, void *result, size_t count, enum sg_datatype dt,
			 enum sg_op op, struct sg_reduce_params *params, sg_request **req);

/** Non-blocking sg_allreduce(), with sg_ireduce()'s rule for @p contribution. */
SGBPF_API int sg_iallreduce(sg_comm *comm, const void *request, size_t request_len,
			    const void *contribution, void *result, size_t count,
			    enum sg_datatype dt, enum sg_op op, struct sg_reduce_params *params,
			    sg_request **req);

/** Non-blocking sg_bcast(); the message is sent before the call returns. */
SGBPF_API int sg_ibcast(sg_comm *comm, const void *buf, size_t len, sg_request **req);

/**
 * Check @p *req without blocking. When it has completed (or timed out), set
 * *@p done to 1, free it, set *@p req to NULL and return its status (as the
 * blocking call would); otherwise set *@p done to 0 and return 0.
 */
SGBPF_API int sg_test(sg_request **req, int *done);

/** The collective id of @p req: what workers see in sg_msg::coll_id and what
 * passed-on responses carry in sg_response::coll_id. */
SGBPF_API uint32_t sg_request_id(const sg_request *req);

/** Wait for @p *req, free it, set *@p req to NULL; returns its status. */
SGBPF_API int sg_wait(sg_request **req);

/** sg_wait() on each of @p n requests (NULL entries are skipped); statuses
 * go to @p statuses when not NULL. Returns 0 or the first error. */
SGBPF_API int sg_waitall(size_t n, sg_request **reqs, int *statuses);

/* ------------------------------------------------------------------------ */
/* Worker                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sg_worker sg_worker;

/** Most coordinators a worker can be configured with. */
#define SG_WORKER_MAX_COORDINATORS 64u
/** Default byte budget of a worker's cache of answers (64 MiB). */
#define SG_WORKER_REPLY_CACHE_BYTES (64u * 1024u * 1024u)
/** Messages a worker reassembles at the same time. */
#define SG_WORKER_REASSEMBLIES 16u

/**
 * Options of sg_worker_create(). Unset fields are zero.
 *
 * Whom a worker listens to. A worker accepts datagrams only from its
 * coordinators, and sends nothing to anyone else: its answers, the answers it
 * repeats from its cache and its acknowledgements go to the coordinator
 * address the request came from, which must be one of them. Datagrams from
 * any other source are dropped and counted (sg_worker_stats::rx_foreign)
 * before they are parsed.
 *
 * - With @ref coordinators set, the coordinators are exactly those addresses
 *   and ports. This is the secure setting.
 * - Without, the worker trusts on first use: the IPv4 address of the first
 *   valid coordinator datagram it receives becomes its coordinator for the
 *   worker's lifetime, from any port (a coordinator's communicators use
 *   one port each). This is a race: on a network where others can send to the
 *   worker, spoofing a source address included, an attacker who gets a
 *   datagram in first becomes the coordinator (and the real one is ignored).
 *   Use it only on a network you trust, or configure the coordinators.
 */
struct sg_worker_opts {
	size_t sz;              /**< sizeof(struct sg_worker_opts) */
	const char *addr;       /**< IPv4 address to bind; NULL: any */
	uint16_t port;          /**< UDP port (host order); 0 picks one */
	/** The coordinators (sin_family AF_INET, a nonzero address and port, in
	 * network order; each communicator's sg_comm_opts::local_addr and
	 * local_port), at most SG_WORKER_MAX_COORDINATORS; copied. NULL and 0:
	 * trust on first use (see above). */
	const struct sockaddr_in *coordinators;
	size_t ncoordinators;
	/** Bytes of answers kept to answer repeated requests without the
	 * application; 0: SG_WORKER_REPLY_CACHE_BYTES. The oldest answers are
	 * forgotten first; an answer larger than the budget is not kept. */
	size_t reply_cache_bytes;
};
#define sg_worker_opts__last_field reply_cache_bytes

/** Kinds of messages a worker receives. */
enum sg_msg_type {
	SG_MSG_SCATTER = 1, /**< a request: answer it with sg_worker_reply() */
	SG_MSG_BCAST = 2,   /**< a broadcast */
	SG_MSG_RESULT = 3,  /**< the result of an allgather */
};

/** A received message; @ref data stays valid until the next sg_worker_recv(). */
struct sg_msg {
	enum sg_msg_type type;
	uint32_t coll_id;        /**< collective id (answers must name it) */
	enum sg_datatype dtype;  /**< SCATTER/RESULT: element type of the reduction */
	enum sg_op op;           /**< SCATTER/RESULT: reduction op */
	size_t count;            /**< SCATTER/RESULT: elements the reply must have */
	const void *data;        /**< request, broadcast or result bytes */
	size_t len;
	struct sockaddr_in from; /**< the coordinator */
	uint64_t nonce;          /**< echoed in the reply */
	uint64_t auth;           /**< this worker's authenticator, echoed in the reply */
};

/**
 * Create a worker: bind a UDP socket (@ref sg_worker_opts).
 * @return 0 and *@p worker, or -EINVAL (bad option; see sg_errmsg()), -E2BIG
 * (more than SG_WORKER_MAX_COORDINATORS coordinators), -ENOMEM, or the
 * error of socket() or bind() (-EADDRINUSE: the port is taken).
 */
SGBPF_API int sg_worker_create(const struct sg_worker_opts *opts, sg_worker **worker);
SGBPF_API void sg_worker_destroy(sg_worker *worker);
/** The bound UDP socket, for poll/epoll (readable when a datagram waits). */
SGBPF_API int sg_worker_fd(const sg_worker *worker);
/** The bound port (host order). */
SGBPF_API uint16_t sg_worker_port(const sg_worker *worker);

/**
 * Receive the next complete message (reassembling multi-chunk messages).
 * @p timeout_ms: 0 returns at once, negative waits forever.
 * @return 0, -EAGAIN (nothing complete yet: call again when sg_worker_fd() is
 * readable), -ETIMEDOUT, or a receive error. Datagrams from sources that are
 * not a coordinator (@ref sg_worker_opts) and malformed ones are dropped and
 * counted, never returned. Messages are reassembled per source and message
 * (type, collective id, nonce, auth, datatype, op, count and length), up to
 * SG_WORKER_REASSEMBLIES at once, each in a buffer of its own length; when
 * all are in progress, a new message evicts the one that least recently
 * received a new chunk (sg_worker_stats::rx_evicted). A message delivered
 * before is not delivered again; a repeated request is answered again from
 * the cache of answers (@ref sg_worker_opts::reply_cache_bytes) when it comes
 * from the same coordinator address and port with the same collective id,
 * nonce, auth and the rest of its header as the request answered.
 *
 * A collective of a vector longer than SG_MAX_SEGMENT_BYTES arrives in
 * segments (see sg_scatter_reduce()): its request is delivered once, with
 * count the whole vector's, and its result or a long broadcast whole, once
 * every segment is in. The library keeps the answers and results of its
 * last 16 such collectives whole while their segments arrive; an answer
 * every segment of which was answered is forgotten when a new one would
 * take the answers past @ref sg_worker_opts::reply_cache_bytes.
 */
SGBPF_API int sg_worker_recv(sg_worker *worker, struct sg_msg *msg, int timeout_ms);

/**
 * Answer the SCATTER @p req with @p len bytes, which must be
 * req->count * sg_datatype_size(req->dtype); sent in as many datagrams as
 * needed to req->from, and kept in the cache of answers. The answer to a
 * segmented collective's request (up to SG_MAX_MESSAGE_BYTES) is copied and
 * sent segment by segment as each segment asks for it. A worker may hold the
 * requests of many collectives in flight (up to SG_MAX_INFLIGHT per
 * coordinator) and answer them in any order: each answer names its own
 * collective (a training step reducing several gradient buckets while
 * backward still runs). The @p req of a message received earlier stays
 * valid for this; its data pointer does not (see sg_worker_recv()).
 * @return 0, -EINVAL (not a SCATTER, or wrong length), -EPERM (req->from is
 * not a coordinator of this worker), -E2BIG, -ENOMEM, or a send error.
 */
SGBPF_API int sg_worker_reply(sg_worker *worker, const struct sg_msg *req, const void *data,
			      size_t len);

/** Counters of a worker. */
struct sg_worker_stats {
	size_t sz;                 /**< sizeof(struct sg_worker_stats) */
	uint64_t rx_delivered;     /**< messages returned by sg_worker_recv() */
	uint64_t rx_foreign;       /**< datagrams from sources that are not a coordinator */
	uint64_t rx_malformed;     /**< datagrams past the source check that are not valid requests, broadcasts or results */
	uint64_t rx_duplicate;     /**< messages delivered before, not delivered again */
	uint64_t rx_evicted;       /**< incomplete messages abandoned for a newer one */
	uint64_t tx_resent;        /**< repeated requests answered again from the cache */
	uint64_t cache_bytes;      /**< bytes of answers in the cache now */
	uint64_t cache_bytes_peak; /**< the most the cache ever held */
	uint64_t tx_calls;         /**< send system calls (a reply of many datagrams takes few: GSO sends, several per sendmmsg) */
	uint64_t tx_gso_sends;     /**< UDP GSO sends among them, each of several datagrams (0 where the kernel refuses GSO) */
};
#define sg_worker_stats__last_field tx_gso_sends

/** Read the counters of @p worker into @p stats, whose sz must be set
 * (SG_OPTS_INIT(sg_worker_stats, st)); a shorter struct of an older header
 * gets the fields it has. @return 0 or -EINVAL. */
SGBPF_API int sg_worker_get_stats(const sg_worker *worker, struct sg_worker_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* SGBPF_H */
