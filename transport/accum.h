/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What every transport shares about the kernel's datapath state, whose
 * layout (bpf/maps.h) the user-space transports use too: accumulator
 * geometry, reading a result out, arm descriptors and counters. */
#ifndef SG_TRANSPORT_ACCUM_H
#define SG_TRANSPORT_ACCUM_H

#include <stdint.h>

#include "bpf/maps.h"
#include "transport/transport.h"

/* Contribution chunks of @r (response chunks of its datatype). */
uint32_t sg_response_nchunks(const struct sg_tp_reduce *r);

/* Turn the accumulators of @r (@r->nchunks chunks of SG_ACC_BYTES at @acc,
 * SG_FSUM_ELEMS aux words per chunk at @aux) into its result vector: the
 * chunks set in @whole (every chunk if NULL), with @r->own folded in when
 * given (by the kernel's fold, compiled here: a float SUM stays one rounding
 * of the exact sum's 64-bit mantissa); the others get the op's identity
 * (sg_result_identity()). @out may be @r->own. */
void sg_result_copy(const uint8_t *acc, const uint16_t *aux, const struct sg_tp_reduce *r,
		    const uint64_t *whole, void *out);
/* Fill the elements of chunk @chunk of @r's result vector @out with the
 * identity of its op: 0 for SUM, BOR, BXOR; 1 for PROD; all ones for BAND;
 * the type's largest value (+inf) for MIN and smallest (-inf) for MAX;
 * (smallest value or -inf, index INT32_MAX) for MAXLOC and (largest or +inf,
 * INT32_MAX) for MINLOC; zero bytes for SG_OP_USER, which has none known. */
void sg_result_identity(const struct sg_tp_reduce *r, uint32_t chunk, void *out);
/* The chunks of @r not set in @whole, as a bitmap of
 * SG_MAX_RESPONSE_CHUNKS / 64 words (no bit at or past @r->nchunks). */
void sg_chunks_missing(const struct sg_tp_reduce *r, const uint64_t *whole, uint64_t *missing);

/* The arm descriptor of @r, armed by the transport (nchunks, pool_base, gen
 * set): what sg_slot_arm() makes a slot of. */
struct sg_arm_desc sg_arm_desc_of(const struct sg_tp_reduce *r);

/* The public counters of datapath counters @st. */
void sg_stats_public(const struct sg_stats *st, struct sg_comm_stats *out);

#endif
