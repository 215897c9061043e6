/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Sizes fixed by the datapath, shared by the kernel programs, user space and
 * aggregation programs. No system headers. */
#ifndef SGBPF_LIMITS_H
#define SGBPF_LIMITS_H

/* Payload bytes per datagram: as many as a 1500-byte MTU carries after the
 * IPv4 (20: sgbpf's sockets set no options), UDP (8) and sgbpf (64)
 * headers, a multiple of 16, the largest element, so no element straddles
 * two chunks. */
#define SG_CHUNK_BYTES	1408
/* Bytes of one accumulator chunk, the state a contribution chunk is folded
 * into: a power of two (aggregation programs index it with a mask) that
 * holds a chunk of any type, float32 SUM's 64-bit mantissas included. */
#define SG_ACC_BYTES	2048
#define SG_MAX_WORKERS	1024	/* per communicator */
#define SG_WORKER_WORDS	(SG_MAX_WORKERS / 64)
/* Accumulator chunks shared by the collectives in flight of the
 * communicators of one interface (64 MiB). */
#define SG_POOL_CHUNKS	32768
/* Float SUM accumulators per chunk (64-bit mantissas), each with an aux word. */
#define SG_FSUM_ELEMS	(SG_ACC_BYTES / 8)

#endif /* SGBPF_LIMITS_H */
