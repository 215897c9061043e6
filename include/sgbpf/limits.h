/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sizes fixed by the datapath, shared by the kernel programs, user space and
 * aggregation programs. No system headers. */
#ifndef SGBPF_LIMITS_H
#define SGBPF_LIMITS_H

/* Payload bytes per datagram and per accumulator chunk. A multiple of every
 * element size, so no element straddles two chunks, and small enough that
 * header + payload fit a 1500-byte MTU with room for IP options. */
#define SG_CHUNK_BYTES	1024
#define SG_MAX_WORKERS	1024	/* per communicator */
#define SG_WORKER_WORDS	(SG_MAX_WORKERS / 64)
/* Chunks of accumulator space shared by the collectives in flight of the
 * communicators of one interface (64 MiB). */
#define SG_POOL_CHUNKS	65536
/* Float SUM accumulators per chunk (64-bit mantissas), each with an aux word. */
#define SG_FSUM_ELEMS	(SG_CHUNK_BYTES / 8)

#endif /* SGBPF_LIMITS_H */
