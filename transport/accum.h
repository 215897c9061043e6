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

/* Turn the accumulators of @r (@r->nchunks chunks of SG_CHUNK_BYTES at @acc,
 * SG_FSUM_ELEMS aux words per chunk at @aux) into its result vector. */
void sg_result_copy(const uint8_t *acc, const uint16_t *aux, const struct sg_tp_reduce *r,
		    void *out);

/* The arm descriptor of @r, armed by the transport (nchunks, pool_base, gen
 * set): what sg_slot_arm() makes a slot of. */
struct sg_arm_desc sg_arm_desc_of(const struct sg_tp_reduce *r);

/* The public counters of datapath counters @st. */
void sg_stats_public(const struct sg_stats *st, struct sg_comm_stats *out);

#endif
