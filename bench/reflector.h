/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shared by the reflector XDP program (bench/reflector.bpf.c) and its loader
 * (bench/workers.c): the slots of its per-CPU counter array. */
#ifndef SGBPF_BENCH_REFLECTOR_H
#define SGBPF_BENCH_REFLECTOR_H

enum reflector_counter {
	REFL_RX = 0,		/* sgbpf datagrams to a served port */
	REFL_TX,		/* responses and acknowledgements sent back (XDP_TX) */
	REFL_UNSUPPORTED,	/* requests it cannot answer (see reflector.bpf.c), dropped */
	REFL_NCOUNTERS
};

#endif
