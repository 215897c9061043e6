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
	SG_DATATYPE_COUNT
};

/** Reduction operations. Integer SUM and PROD wrap modulo 2^bits (as in C for
 * unsigned types; two's complement for signed ones). */
enum sg_op {
	SG_OP_SUM = 0,
	SG_OP_PROD,
	SG_OP_MIN,
	SG_OP_MAX,
	SG_OP_BAND,
	SG_OP_BOR,
	SG_OP_BXOR,
	SG_OP_COUNT
};

#endif /* SGBPF_TYPES_H */
