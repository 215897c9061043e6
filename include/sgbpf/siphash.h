/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SipHash-2-4 (Aumasson and Bernstein) of a 16-byte message under a 128-bit
 * key: the keyed PRF behind sgbpf's per-worker authenticators and nonces, one
 * definition for the kernel programs and user space. Straight-line code: no
 * helper calls, no loops, so it may run anywhere in a BPF program. Not
 * installed.
 */
#ifndef SGBPF_SIPHASH_H
#define SGBPF_SIPHASH_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define SG_ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SG_SIPROUND(v0, v1, v2, v3)						\
	do {									\
		v0 += v1; v1 = SG_ROTL64(v1, 13); v1 ^= v0; v0 = SG_ROTL64(v0, 32); \
		v2 += v3; v3 = SG_ROTL64(v3, 16); v3 ^= v2;			\
		v0 += v3; v3 = SG_ROTL64(v3, 21); v3 ^= v0;			\
		v2 += v1; v1 = SG_ROTL64(v1, 17); v1 ^= v2; v2 = SG_ROTL64(v2, 32); \
	} while (0)

/* SipHash-2-4 under key (@k0, @k1) of the 16 bytes that are @m0 then @m1 as
 * little-endian words. */
static __always_inline __u64 sg_siphash16(__u64 k0, __u64 k1, __u64 m0, __u64 m1)
{
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	__u64 last = 16ULL << 56;	/* the length byte; no tail bytes */

	v3 ^= m0;
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	v0 ^= m0;
	v3 ^= m1;
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	v0 ^= m1;
	v3 ^= last;
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	SG_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif
