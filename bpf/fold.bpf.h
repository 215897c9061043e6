/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Element-wise folds of one chunk into its accumulator. Called with the chunk's
 * spin lock held, so no helper calls and no out-of-line functions; indices are
 * masked to the chunk so the verifier sees every access in bounds. eBPF has no
 * floating point: floats are folded with integer operations on their bits. */
#ifndef SG_FOLD_BPF_H
#define SG_FOLD_BPF_H

#include "sgbpf/types.h"
#include "sgbpf/wire.h"
#include "maps.h"

/* for each element k of the chunk: the body (...), with a_ and b_ the accumulator and
 * source arrays of T. */
#define SG_FOR_ELEMS(T, acc, src, len, ...)					\
	do {									\
		T *a_ = (T *)(acc);						\
		const T *b_ = (const T *)(src);					\
		__u32 n_ = (len) / sizeof(T);					\
		for (__u32 i = 0; i < SG_ACC_BYTES / sizeof(T); i++) {	\
			__u32 k = i & (SG_ACC_BYTES / sizeof(T) - 1);		\
			if (i >= n_)						\
				break;						\
			__VA_ARGS__						\
		}								\
	} while (0)

#define SG_FOLD_LOOP(T, acc, src, len, EXPR)					\
	SG_FOR_ELEMS(T, acc, src, len, {					\
		T a = a_[k], b = b_[k];						\
		(void)a;							\
		a_[k] = (EXPR);							\
	})

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
		case SG_INT64: case SG_UINT64:					\
			SG_FOLD_LOOP(__u64, acc, src, len, EXPR); break;	\
		}								\
	} while (0)

/* IEEE bits -> unsigned keys in the order of the values they encode (NaNs
 * sort beyond the infinities of their sign). */
static __always_inline __u32 sg_fkey32(__u32 b)
{
	return b ^ ((__u32)((__s32)b >> 31) | 0x80000000u);
}

static __always_inline __u64 sg_fkey64(__u64 b)
{
	return b ^ ((__u64)((__s64)b >> 63) | 0x8000000000000000ULL);
}

/* float16 and bfloat16 alike: the key only needs the sign at the top. */
static __always_inline __u16 sg_fkey16(__u16 b)
{
	return b ^ (__u16)((__u16)((__s16)b >> 15) | 0x8000u);
}

#define SG_ISNAN32(b) (((b) & 0x7fffffffu) > 0x7f800000u)
#define SG_ISNAN64(b) (((b) & 0x7fffffffffffffffULL) > 0x7ff0000000000000ULL)
#define SG_ISNAN16(b) (((b) & 0x7fffu) > 0x7c00u)	/* float16 */
#define SG_ISNANBF16(b) (((b) & 0x7fffu) > 0x7f80u)

/* MIN/MAX on IEEE bits: exact, and a NaN anywhere gives NaN. */
#define SG_FMINMAX(a, b, ISNAN, KEY, CMP)					\
	(ISNAN(a) ? (a) : ISNAN(b) ? (b) : KEY(b) CMP KEY(a) ? (b) : (a))

/* Ops that compare, so signedness and encoding matter. */
#define SG_FOLD_ORDERED(acc, src, len, dtype, CMP)				\
	do {									\
		switch (dtype) {						\
		case SG_INT8: SG_FOLD_LOOP(__s8, acc, src, len, b CMP a ? b : a); break; \
		case SG_UINT8: SG_FOLD_LOOP(__u8, acc, src, len, b CMP a ? b : a); break; \
		case SG_INT16: SG_FOLD_LOOP(__s16, acc, src, len, b CMP a ? b : a); break; \
		case SG_UINT16: SG_FOLD_LOOP(__u16, acc, src, len, b CMP a ? b : a); break; \
		case SG_INT32: SG_FOLD_LOOP(__s32, acc, src, len, b CMP a ? b : a); break; \
		case SG_UINT32: SG_FOLD_LOOP(__u32, acc, src, len, b CMP a ? b : a); break; \
		case SG_INT64: SG_FOLD_LOOP(__s64, acc, src, len, b CMP a ? b : a); break; \
		case SG_UINT64: SG_FOLD_LOOP(__u64, acc, src, len, b CMP a ? b : a); break; \
		case SG_FLOAT32:						\
			SG_FOLD_LOOP(__u32, acc, src, len,			\
				     SG_FMINMAX(a, b, SG_ISNAN32, sg_fkey32, CMP)); \
			break;							\
		case SG_FLOAT64:						\
			SG_FOLD_LOOP(__u64, acc, src, len,			\
				     SG_FMINMAX(a, b, SG_ISNAN64, sg_fkey64, CMP)); \
			break;							\
		case SG_FLOAT16:						\
			SG_FOLD_LOOP(__u16, acc, src, len,			\
				     SG_FMINMAX(a, b, SG_ISNAN16, sg_fkey16, CMP)); \
			break;							\
		case SG_BFLOAT16:						\
			SG_FOLD_LOOP(__u16, acc, src, len,			\
				     SG_FMINMAX(a, b, SG_ISNANBF16, sg_fkey16, CMP)); \
			break;							\
		}								\
	} while (0)

/* ---------------------------------------------------------- float SUM
 * Each element accumulates as a 64-bit two's-complement mantissa M (in the
 * result pool) scaled by 2^(E - SG_FSUM_BIAS), E and the specials seen in the
 * aux word. A contribution is decoded from its IEEE bits into the same form,
 * with a 53-bit mantissa; the operand with the smaller exponent is shifted
 * right to the larger one (truncating below the larger one's quantum), so each
 * addition errs by less than 2^-52 of the largest magnitude seen, and 1024
 * addends of 53 bits cannot overflow 63 bits. docs/floats.md has the bound. */

struct sg_fnum {
	__s64 m;
	__u32 e;
	__u16 special;
};

/* The IEEE bits @b of a format with @frac fraction and @expb exponent bits,
 * decoded onto the float64 scale: its significand shifted left by @shift
 * and its biased exponent (1 for subnormals) plus @offset, so that every
 * format shares one accumulator. Constant arguments at every call site. */
static __always_inline struct sg_fnum sg_fdecode_bits(__u64 b, __u32 frac, __u32 expb,
						      __u32 shift, __u32 offset)
{
	struct sg_fnum x = {};
	__u32 e = (b >> frac) & ((1u << expb) - 1);
	__u64 f = b & ((1ULL << frac) - 1);

	if (e == (1u << expb) - 1) {
		x.special = f ? SG_FSUM_NAN : (b >> (frac + expb)) & 1 ? SG_FSUM_NINF
								     : SG_FSUM_PINF;
		return x;
	}
	x.m = (__s64)((e ? f | 1ULL << frac : f) << shift);
	x.e = (e ? e : 1) + offset;
	if ((b >> (frac + expb)) & 1)
		x.m = -x.m;
	return x;
}

/* m * 2^(e - 150) == (m << 29) * 2^((e + 896) - 1075) */
static __always_inline struct sg_fnum sg_fdecode32(__u32 b)
{
	return sg_fdecode_bits(b, 23, 8, 29, 896);
}

static __always_inline struct sg_fnum sg_fdecode64(__u64 b)
{
	return sg_fdecode_bits(b, 52, 11, 0, 0);
}

/* float16: m * 2^(e - 25) == (m << 42) * 2^((e + 1008) - 1075). bfloat16 is
 * float32's top half, and decodes as float32 (sg_fsum_addbf16()). */
static __always_inline struct sg_fnum sg_fdecode16(__u16 b)
{
	return sg_fdecode_bits(b, 10, 5, 42, 1008);
}

/* The general path's decoding of the bits @b of the float type @dtype. */
static __always_inline struct sg_fnum sg_fdecode(__u8 dtype, __u64 b)
{
	switch (dtype) {
	case SG_FLOAT32: return sg_fdecode32((__u32)b);
	case SG_FLOAT64: return sg_fdecode64(b);
	case SG_FLOAT16: return sg_fdecode16((__u16)b);
	default: return sg_fdecode32((__u32)b << 16);	/* bfloat16 */
	}
}

/* Arithmetic shift right by @d, which may exceed 63. */
static __always_inline __s64 sg_sar(__s64 v, __u32 d)
{
	return d > 63 ? v >> 63 : v >> d;
}

static __always_inline void sg_fsum_add(__s64 *M, __u16 *aux, struct sg_fnum x)
{
	__u32 E = *aux & SG_FSUM_EXP;

	if (x.special) {
		*aux |= x.special;
		return;
	}
	if (x.m == 0)
		return;
	if (*M == 0) {
		*M = x.m;
		E = x.e;
	} else if (x.e > E) {
		*M = sg_sar(*M, x.e - E) + x.m;
		E = x.e;
	} else {
		*M += sg_sar(x.m, E - x.e);
	}
	*aux = (__u16)((*aux & ~SG_FSUM_EXP) | E);
}

/* The general path, out of the fast one's way. The barrier makes it load
 * the accumulator again, so that the fast path may consume the registers it
 * loaded it into (a register copy less per element). */
static __always_inline void sg_fsum_slow(__s64 *M, __u16 *aux, struct sg_fnum x)
{
	__asm__ __volatile__("" ::: "memory");
	sg_fsum_add(M, aux, x);
}

/* The common case of an addition, inline and straight-line: a normal number
 * (not zero, subnormal or special) into a non-zero accumulator whose exponent
 * is at most 63 above its own, with no special seen. That only shifts the
 * contribution (by d = E - x.e, in [0, 63]) and adds it, and leaves the aux
 * word as it is: exactly what sg_fsum_add() does then (tests/test_bpf_floats.c
 * checks it bit for bit); every other case goes there. The general path's
 * branches on random signs and exponents mispredicted about every other
 * element. d is computed from the whole aux word, so a flag seen makes it
 * large, and E is always the exponent of a finite contribution of the same
 * format (or 0 after the first contribution's zeroing), so a special
 * contribution makes d negative. The tests are written so that clang lays
 * the fast path out as the fall-through. */
static __always_inline void sg_fsum_fast(__s64 *M, __s64 acc, __u64 mag, __s64 s, __u32 d)
{
	*M = acc + ((__s64)((mag ^ s) - s) >> d);
}

static __always_inline void sg_fsum_add32(__s64 *M, __u16 *aux, __u32 b)
{
	/* e - 1 modulo 256: 255 for zeros and subnormals, so that d is
	 * negative for them too, with no test of its own */
	__u32 d = (__u32)*aux - 897 - (((b << 1) - (1u << 24)) >> 24);
	__s64 acc = *M;

	if (__builtin_expect(d <= 63, 1) && __builtin_expect(acc != 0, 1)) {
		/* (f | implicit bit) << 29, without a 64-bit constant */
		sg_fsum_fast(M, acc, (__u64)((b << 8) | 0x80000000u) << 21,
			     (__s64)((__u64)b << 32) >> 63, d);
		return;
	}
	sg_fsum_slow(M, aux, sg_fdecode32(b));
}

static __always_inline void sg_fsum_add64(__s64 *M, __u16 *aux, __u64 b)
{
	__u32 e = (b >> 52) & 0x7ff, d = (__u32)*aux - e;
	__s64 acc = *M;

	if (__builtin_expect(e != 0, 1) && __builtin_expect(d <= 63, 1) &&
	    __builtin_expect(acc != 0, 1)) {
		sg_fsum_fast(M, acc, ((b << 11) | (1ULL << 63)) >> 11, (__s64)b >> 63, d);
		return;
	}
	sg_fsum_slow(M, aux, sg_fdecode64(b));
}

/* As sg_fsum_add64(): a special's exponent field (31) puts its d below 0
 * for every exponent a float16 gives (1009 .. 1038). */
static __always_inline void sg_fsum_add16(__s64 *M, __u16 *aux, __u16 b)
{
	__u32 e = (b >> 10) & 0x1f, d = (__u32)*aux - 1008 - e;
	__s64 acc = *M;

	if (__builtin_expect(e != 0, 1) && __builtin_expect(d <= 63, 1) &&
	    __builtin_expect(acc != 0, 1)) {
		sg_fsum_fast(M, acc, (__u64)((b & 0x3ffu) | 0x400u) << 42,
			     -(__s64)(b >> 15), d);
		return;
	}
	sg_fsum_slow(M, aux, sg_fdecode16(b));
}

/* bfloat16 is the top half of the float32 of the same value. */
static __always_inline void sg_fsum_addbf16(__s64 *M, __u16 *aux, __u16 b)
{
	sg_fsum_add32(M, aux, (__u32)b << 16);
}

/* A first contribution starts from zero accumulators, zeroed beforehand so
 * that the loop has no test for it: all of them, since a loop bounded by the
 * count would let the verifier walk the main loop once per count. */
#define SG_FSUM_LOOP(T, ADD, acc, aux, src, len, first)				\
	do {									\
		__s64 *m_ = (__s64 *)(acc);					\
		const T *b_ = (const T *)(src);					\
		__u32 n_ = (len) / sizeof(T), i;				\
										\
		if (first) {							\
			for (i = 0; i < SG_FSUM_ELEMS; i++) {			\
				m_[i] = 0;					\
				(aux)[i] = 0;					\
			}							\
		}								\
		/* Four elements per iteration: a quarter of the loop's	\
		 * own instructions, and independent chains for the CPU; one	\
		 * test per iteration, against a count the verifier knows is	\
		 * at most SG_FSUM_ELEMS. */					\
		if (n_ > SG_FSUM_ELEMS)						\
			n_ = SG_FSUM_ELEMS;					\
		for (i = 0; i + 3 < n_; i += 4) {				\
			ADD(&m_[i], &(aux)[i], b_[i]);				\
			ADD(&m_[i + 1], &(aux)[i + 1], b_[i + 1]);		\
			ADD(&m_[i + 2], &(aux)[i + 2], b_[i + 2]);		\
			ADD(&m_[i + 3], &(aux)[i + 3], b_[i + 3]);		\
		}								\
		for (; i < n_; i++) {						\
			__u32 k = i & (SG_FSUM_ELEMS - 1);			\
			ADD(&m_[k], &(aux)[k], b_[k]);				\
		}								\
	} while (0)

/* ---------------------------------------------------------- MAXLOC/MINLOC
 * Pairs of a value and an int32 index; the better value wins, and of equal
 * values the lower index (MPI). */
struct sg_loc32 {
	__u32 v;
	__s32 i;
};

struct sg_loc64 {
	__u64 v;
	__s32 i;
	__s32 pad;
};

#define SG_LOC_BETTER(KA, KB, IA, IB, CMP) ((KB) CMP (KA) || ((KB) == (KA) && (IB) < (IA)))

#define SG_FOLD_LOC(T, KEYT, KEY, acc, src, len, CMP)				\
	SG_FOR_ELEMS(T, acc, src, len, {					\
		KEYT ka = KEY(a_[k].v), kb = KEY(b_[k].v);			\
		if (SG_LOC_BETTER(ka, kb, a_[k].i, b_[k].i, CMP)) {		\
			a_[k].v = b_[k].v;					\
			a_[k].i = b_[k].i;					\
		}								\
	})

#define SG_KEY_S32(v) ((__s32)(v))
#define SG_KEY_S64(v) ((__s64)(v))
/* MPI compares LOC values with ==, so -0 ties with +0 (and the index
 * decides); MIN/MAX keep IEEE's total order, -0 below +0. */
#define SG_LOCKEY32(v) sg_fkey32((__u32)((v) << 1) ? (v) : 0)
#define SG_LOCKEY64(v) sg_fkey64((__u64)((v) << 1) ? (v) : 0)

#define SG_FOLD_LOCS(acc, src, len, dtype, CMP)					\
	do {									\
		switch (dtype) {						\
		case SG_INT32_LOC:						\
			SG_FOLD_LOC(struct sg_loc32, __s32, SG_KEY_S32, acc, src, len, CMP); \
			break;							\
		case SG_FLOAT32_LOC:						\
			SG_FOLD_LOC(struct sg_loc32, __u32, SG_LOCKEY32, acc, src, len, CMP); \
			break;							\
		case SG_INT64_LOC:						\
			SG_FOLD_LOC(struct sg_loc64, __s64, SG_KEY_S64, acc, src, len, CMP); \
			break;							\
		case SG_FLOAT64_LOC:						\
			SG_FOLD_LOC(struct sg_loc64, __u64, SG_LOCKEY64, acc, src, len, CMP); \
			break;							\
		}								\
	} while (0)

/* The first contribution of a chunk is copied, so no identity element is
 * needed and the accumulator needs no reset between collectives. */
static __always_inline void sg_fold_copy(void *acc, const void *src, __u32 len)
{
	SG_FOLD_LOOP(__u64, acc, src, len + 7, b);
}

/* A float SUM (sg_wire_dtype_fsum()): acc = acc + src over @len bytes, or
 * the first contribution stored. The kernel has a fold program per float
 * type, each with @dtype constant: the verifier walks every iteration of
 * these loops, and two of them fill its budget of one program. */
static __always_inline void sg_fold_fsum(void *acc, __u16 *aux, const void *src, __u32 len,
					 __u8 dtype, int first)
{
	switch (dtype) {
	case SG_FLOAT32:
		SG_FSUM_LOOP(__u32, sg_fsum_add32, acc, aux, src, len, first);
		break;
	case SG_FLOAT64:
		SG_FSUM_LOOP(__u64, sg_fsum_add64, acc, aux, src, len, first);
		break;
	case SG_FLOAT16:
		SG_FSUM_LOOP(__u16, sg_fsum_add16, acc, aux, src, len, first);
		break;
	case SG_BFLOAT16:
		SG_FSUM_LOOP(__u16, sg_fsum_addbf16, acc, aux, src, len, first);
		break;
	}
}

/* acc = op(acc, src) over @len bytes (or the first contribution stored), for
 * every op but a float SUM. @op is a compile-time constant at every call
 * site, so each fold program holds only its own loops. */
static __always_inline void sg_fold_elems(void *acc, const void *src, __u32 len, __u8 dtype,
					  int op, int first)
{
	if (first) {
		sg_fold_copy(acc, src, len);
		return;
	}
	switch (op) {
	case SG_OP_SUM:
		SG_FOLD_BITS(acc, src, len, dtype, a + b);
		break;
	case SG_OP_PROD:
		SG_FOLD_BITS(acc, src, len, dtype, a * b);
		break;
	case SG_OP_MIN:
		SG_FOLD_ORDERED(acc, src, len, dtype, <);
		break;
	case SG_OP_MAX:
		SG_FOLD_ORDERED(acc, src, len, dtype, >);
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
	case SG_OP_MAXLOC:
		SG_FOLD_LOCS(acc, src, len, dtype, >);
		break;
	case SG_OP_MINLOC:
		SG_FOLD_LOCS(acc, src, len, dtype, <);
		break;
	}
}

/* acc = op(acc, src): either of the above (user space's entry point). */
static __always_inline void sg_fold(void *acc, __u16 *aux, const void *src, __u32 len,
				    __u8 dtype, int op, int first)
{
	if (op == SG_OP_SUM && sg_wire_dtype_fsum(dtype))
		sg_fold_fsum(acc, aux, src, len, dtype, first);
	else
		sg_fold_elems(acc, src, len, dtype, op, first);
}

#endif
