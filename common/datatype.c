// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The public helpers about datatypes; the sizes are the wire format's. */
#include "sgbpf.h"
#include "sgbpf/wire.h"

size_t sg_datatype_size(enum sg_datatype dt)
{
	return sg_wire_dtype_size((unsigned int)dt);
}

size_t sg_response_chunk_bytes(enum sg_datatype dt)
{
	return (unsigned int)dt < SG_DATATYPE_COUNT ? sg_wire_response_chunk(dt) : 0;
}
