/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Packet loss and duplication for the tests, on every port of a lab's bridge
 * (so in both directions), by tests/lab/faultinject.bpf.c. */
#ifndef SGBPF_FAULTINJECT_H
#define SGBPF_FAULTINJECT_H

#include <stdint.h>

#include "tests/lab/netlab.h"

struct faultinject;

/* Attach to the bridge ports of @lab (leaves the calling thread in the
 * coordinator's namespace). 0 or -errno. */
int faultinject_attach(struct netlab *lab, struct faultinject **out);
/* Drop and duplicate UDP datagrams with these probabilities (per million). */
void faultinject_set(struct faultinject *f, uint32_t drop_ppm, uint32_t dup_ppm);
void faultinject_counts(const struct faultinject *f, uint64_t *dropped, uint64_t *duplicated);
void faultinject_detach(struct faultinject *f);

#endif
