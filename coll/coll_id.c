// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Collective ids. An id's slot (id % SG_SLOTS) holds the collective in the
 * transport while it is in flight, so a new collective takes an id whose
 * slot is free; ids stay below SG_COLL_ACK, the allgather acknowledgement
 * bit. */
#include <errno.h>

#include "coll/comm.h"
#include "common/log.h"

int sg_comm_take_id(struct sg_comm *comm, uint32_t *coll_id)
{
	for (uint32_t i = 0; i < SG_SLOTS; i++) {
		uint32_t id = (comm->next_coll_id + i) & ~SG_COLL_ACK, s = id % SG_SLOTS;

		if (!(comm->inflight[s / 64] & (1ULL << (s % 64)))) {
			comm->inflight[s / 64] |= 1ULL << (s % 64);
			comm->next_coll_id = id + 1;
			*coll_id = id;
			return 0;
		}
	}
	return sg_outcome(-EBUSY, "%u collectives in flight on this communicator; complete one "
			  "first", SG_SLOTS);
}

void sg_comm_free_id(struct sg_comm *comm, uint32_t coll_id)
{
	uint32_t s = coll_id % SG_SLOTS;

	comm->inflight[s / 64] &= ~(1ULL << (s % 64));
	/* posted[s] stays until the slot's next collective: its passed-on
	 * responses may be read after it completed. */
}

void sg_comm_mark_posted(struct sg_comm *comm, uint32_t coll_id, uint64_t nonce)
{
	uint32_t s = coll_id % SG_SLOTS;

	comm->posted[s].coll_id = coll_id;
	comm->posted[s].nonce = nonce;
	comm->posted[s].armed = 1;
}

bool sg_comm_is_posted(const struct sg_comm *comm, uint32_t coll_id, uint64_t nonce)
{
	uint32_t s = coll_id % SG_SLOTS;

	return comm->posted[s].armed && comm->posted[s].coll_id == coll_id &&
	       comm->posted[s].nonce == nonce;
}

uint32_t sg_comm_slotless_id(struct sg_comm *comm)
{
	return comm->next_coll_id++ & ~SG_COLL_ACK;
}

unsigned int sg_comm_inflight(const struct sg_comm *comm)
{
	unsigned int n = 0;

	for (size_t w = 0; w < SG_SLOTS / 64; w++)
		n += (unsigned int)__builtin_popcountll(comm->inflight[w]);
	return n;
}
