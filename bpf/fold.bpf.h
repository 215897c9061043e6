/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Element-wise folds of one chunk into its accumulator. Called with the chunk's
 * spin lock held, so no helper calls and no out-of-line functions; indices are
 * masked to the chunk so the verifier sees every access in bounds. */
#ifndef SG_FOLD_BPF_H
#define SG_FOLD_BPF_H

#include "sgbpf/types.h"
#include "sgbpf/wire.h"

#define SG_FOLD_LOOP(T, acc, src, len, EXPR)					\
	do {									\
		T *a_ = (T *)(acc);						\
		const T *b_ = (const T *)(src);					\
		__u32 n_ = (len) / sizeof(T);					\
		for (__u32 i = 0; i < SG_CHUNK_BYTES / sizeof(T); i++) {	\
			__u32 k = i & (SG_CHUNK_BYTES / sizeof(T) - 1);		\
			T a, b;							\
			if (i >= n_)						\
				break;						\
			a = a_[k];						\
			b = b_[k];						\
			(void)a;						\
			a_[k] = (EXPR);						\
		}								\
	} while (0)

/* Integer ops whose result bits do not depend on signedness. */
#define SG_FOLD_BITS(acc, src, len, dtype, EXPR)				\
	do {									\
		switch (dtype) {						\
		case SG_INT8: case SG_UINT8:					\
			SG_FOLD_LOOP(__u8, acc, src, len, EXPR); break;		\
		case SG_INT16: case SG_UINT16:					\
			SG_FOLD_LOOP(__u16, acc, src, len, EXPR); break;	\
		case SG_INT32: case SG_UINT32:					\
			SG_FOLD_LOOP(__u32, acc, src, len, EXPR); break;	\
		default:							\
			SG_FOLD_LOOP(__u64, acc, src, len, EXPR); break;	\
		}								\
	} while (0)

/* Ops that compare, so signedness matters. */
#define SG_FOLD_ORDERED(acc, src, len, dtype, EXPR)				\
	do {									\
		switch (dtype) {						\
		case SG_INT8: SG_FOLD_LOOP(__s8, acc, src, len, EXPR); break;	\
		case SG_UINT8: SG_FOLD_LOOP(__u8, acc, src, len, EXPR); break;	\
		case SG_INT16: SG_FOLD_LOOP(__s16, acc, src, len, EXPR); break; \
		case SG_UINT16: SG_FOLD_LOOP(__u16, acc, src, len, EXPR); break; \
		case SG_INT32: SG_FOLD_LOOP(__s32, acc, src, len, EXPR); break; \
		case SG_UINT32: SG_FOLD_LOOP(__u32, acc, src, len, EXPR); break; \
		case SG_INT64: SG_FOLD_LOOP(__s64, acc, src, len, EXPR); break; \
		default: SG_FOLD_LOOP(__u64, acc, src, len, EXPR); break;	\
		}								\
	} while (0)

/* acc = op(acc, src) over @len bytes. @op is a compile-time constant at every
 * call site, so each fold program contains only its own loops. */
static __always_inline void sg_fold(void *acc, const void *src, __u32 len, __u8 dtype, int op)
{
	switch (op) {
	case SG_OP_SUM:
		SG_FOLD_BITS(acc, src, len, dtype, a + b);
		break;
	case SG_OP_PROD:
		SG_FOLD_BITS(acc, src, len, dtype, a * b);
		break;
	case SG_OP_MIN:
		SG_FOLD_ORDERED(acc, src, len, dtype, b < a ? b : a);
		break;
	case SG_OP_MAX:
		SG_FOLD_ORDERED(acc, src, len, dtype, b > a ? b : a);
		break;
	/* Bitwise ops are the same on 64-bit words whatever the element type;
	 * the bytes past @len in the last word are never returned. */
	case SG_OP_BAND:
		SG_FOLD_LOOP(__u64, acc, src, len + 7, a & b);
		break;
	case SG_OP_BOR:
		SG_FOLD_LOOP(__u64, acc, src, len + 7, a | b);
		break;
	case SG_OP_BXOR:
		SG_FOLD_LOOP(__u64, acc, src, len + 7, a ^ b);
		break;
	}
}

/* The first contribution of a chunk is copied, so no identity element is
 * needed and the accumulator needs no reset between collectives. */
static __always_inline void sg_fold_copy(void *acc, const void *src, __u32 len)
{
	SG_FOLD_LOOP(__u64, acc, src, len + 7, b);
}

#endif
