/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The datapath's own maps (bpf/maps.h has their layouts); the maps it shares
 * with aggregation programs are in sgbpf/agg.bpf.h. */
#ifndef SG_BPF_MAPS_BPF_H
#define SG_BPF_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sgbpf/agg.bpf.h"
#include "maps.h"

#define SG_TOTAL_SLOTS (SG_MAX_COMMS * SG_SLOTS)

/* Local UDP port (network order) -> communicator index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u16);
	__type(value, __u32);
} comm_by_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u32);
	__type(value, struct sg_comm_cfg);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_MAX_COMMS * SG_MAX_WORKERS);
	__type(key, struct sg_worker_key);
	__type(value, __u32);
} worker_by_addr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_MAX_COMMS * SG_MAX_WORKERS);
	__type(key, __u32);
	__type(value, struct sg_fanout_entry);
} fanout SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SG_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct sg_slot);
} slots SEC(".maps");

/* Arm descriptors, one per slot, mmapped read-write by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct sg_arm_desc);
} arm_descs SEC(".maps");

/* Completion words, mmapped: busy-polling completes without a system call. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SG_TOTAL_SLOTS);
	__type(key, __u32);
	__type(value, struct sg_completion);
} completions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u32);
	__type(value, struct sg_stats);
} stats SEC(".maps");

/* The record sg_collect works on (per CPU: a test run stays on one). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_partial);
} collect_scratch SEC(".maps");

/* Completion records, in a ring buffer per communicator (by index), which
 * user space creates when it installs the communicator: a communicator's fd
 * (sg_comm_fd()) wakes for its own collectives only, and draining it
 * consumes no other communicator's wake-up. */
struct sg_events_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SG_EVENTS_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SG_MAX_COMMS);
	__type(key, __u32);
	__array(values, struct sg_events_ring);
} events SEC(".maps");

#define SG_STAT_INC(st, field) do { if (st) (st)->field++; } while (0)

#endif
