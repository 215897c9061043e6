/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Packet loss and duplication for the tests, on every port of a lab's bridge
 * (so in both directions), by tests/lab/faultinject.bpf.c: at random, or
 * the datagrams a rule names. */
#ifndef SGBPF_FAULTINJECT_H
#define SGBPF_FAULTINJECT_H

#include <netinet/in.h>
#include <stdint.h>

#include "tests/lab/netlab.h"

struct faultinject;

/* Attach to the bridge ports of @lab (leaves the calling thread in the
 * coordinator's namespace). 0 or -errno. */
int faultinject_attach(struct netlab *lab, struct faultinject **out);
/* Drop and duplicate UDP datagrams with these probabilities (per million). */
void faultinject_set(struct faultinject *f, uint32_t drop_ppm, uint32_t dup_ppm);
void faultinject_counts(const struct faultinject *f, uint64_t *dropped, uint64_t *duplicated);
/* Drop the next @budget sgbpf datagrams of type @type (enum sg_wire_type)
 * sent to or from @who whose chunk index is at least @chunk_min (0: every
 * chunk); a budget of 0 removes the rule. Replaces the previous rule. */
void faultinject_rule(struct faultinject *f, const struct sockaddr_in *who, uint8_t type,
		      uint16_t chunk_min, int64_t budget);
/* Datagrams dropped by rules so far. */
uint64_t faultinject_rule_dropped(const struct faultinject *f);
void faultinject_detach(struct faultinject *f);

#endif
