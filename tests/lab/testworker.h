/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Deterministic test workers, in parts:
 *
 *   contrib.h   integer contributions and their reference reductions
 *   fpattern.h  float patterns, their contributions and exact references,
 *               and the contribution and reference of every datatype
 *   pairs.h     MAXLOC/MINLOC pairs
 *   shared.h    the records shared between the workers and the parent
 *   serve.h     the worker process: answer every SCATTER, record everything
 *
 * tw_value() defines what worker `rank` contributes to element `index` of
 * collective `coll_id`, so that the coordinator side can compute the expected
 * reduction (tw_reference()) for any set of contributing ranks. tw_serve()
 * runs one or more sg_worker endpoints (one rank each) that answer every
 * SCATTER with tw_contribution() and record what they received in a
 * shared-memory area (struct tw_shared, created before fork) that the parent
 * reads.
 */
#ifndef SGBPF_TESTWORKER_H
#define SGBPF_TESTWORKER_H

#include "tests/lab/contrib.h"
#include "tests/lab/fpattern.h"
#include "tests/lab/pairs.h"
#include "tests/lab/shared.h"
#include "tests/lab/serve.h"

#endif /* SGBPF_TESTWORKER_H */
