/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Datatypes and operations: part of the public API (sgbpf.h) and of the wire
 * format, so the kernel programs include this header too. No system headers. */
#ifndef SGBPF_TYPES_H
#define SGBPF_TYPES_H

/** Element types of reduced vectors. */
enum sg_datatype {
	SG_INT8 = 0,
	SG_UINT8,
	SG_INT16,
	SG_UINT16,
	SG_INT32,
	SG_UINT32,
	SG_INT64,
	SG_UINT64,
	SG_FLOAT32,	/**< IEEE binary32: SUM, MIN, MAX */
	SG_FLOAT64,	/**< IEEE binary64: SUM, MIN, MAX */
	/* Value-index pairs for MAXLOC and MINLOC (MPI's MPI_2INT, MPI_LONG_INT,
	 * MPI_FLOAT_INT, MPI_DOUBLE_INT), laid out as struct sg_<type>_loc. */
	SG_INT32_LOC,	/**< struct sg_int32_loc */
	SG_INT64_LOC,	/**< struct sg_int64_loc */
	SG_FLOAT32_LOC,	/**< struct sg_float32_loc */
	SG_FLOAT64_LOC,	/**< struct sg_float64_loc */
	/* Half precision (after the pairs, so older numbers keep their values). */
	SG_FLOAT16,	/**< IEEE binary16 (bits in a uint16_t): SUM, MIN, MAX */
	SG_BFLOAT16,	/**< bfloat16, float32's top half (bits in a uint16_t): SUM, MIN, MAX */
	SG_DATATYPE_COUNT
};

/** Reduction operations. Integer SUM and PROD wrap modulo 2^bits (as in C for
 * unsigned types; two's complement for signed ones). Floating-point SUM is
 * accurate to 2^-22 (float32), 2^-40 (float64), 2^-10 (float16) or 2^-7
 * (bfloat16) of the sum of the absolute values of the contributions, element
 * by element, and rounds once to the type (docs/floats.md). */
enum sg_op {
	SG_OP_SUM = 0,
	SG_OP_PROD,
	SG_OP_MIN,
	SG_OP_MAX,
	SG_OP_BAND,
	SG_OP_BOR,
	SG_OP_BXOR,
	SG_OP_MAXLOC,	/**< the largest value and its index; the lowest index wins ties */
	SG_OP_MINLOC,	/**< the smallest value and its index; the lowest index wins ties */
	SG_OP_COUNT,
	/** First op number of user aggregation programs (sg_comm_opts::agg_object). */
	SG_OP_USER = 16,
};

#endif /* SGBPF_TYPES_H */
