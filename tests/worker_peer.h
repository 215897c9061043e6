/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The loopback tests of the worker (tests/test_worker_*.c): a worker on
 * 127.0.0.1 and plain UDP sockets that play its coordinator or a stranger,
 * sending it datagrams crafted with common/codec.h. The helpers fail the
 * current cmocka test on any unexpected result.
 */
#ifndef SGBPF_TESTS_WORKER_PEER_H
#define SGBPF_TESTS_WORKER_PEER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sgbpf.h"
#include "common/codec.h"

#define WP_QUIET_MS 300	/* how long to wait for what must not arrive */
#define WP_DGRAM_MAX (SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD)	/* a datagram's room */

struct wpeer {
	sg_worker *w;
	struct sockaddr_in to;		/* the worker */
	int coord;			/* the coordinator's socket, on 127.0.0.1 */
	struct sockaddr_in coord_addr;
};

/* A UDP socket bound to @ip on a port the kernel picks (its address in
 * *@addr), with a 2 s receive timeout. */
int wp_socket(const char *ip, struct sockaddr_in *addr);

/* The coordinator's socket, then the worker on 127.0.0.1 with options @o
 * (NULL: defaults); with @configure, the worker's coordinators are the
 * coordinator's socket alone. */
void wp_open(struct wpeer *p, const struct sg_worker_opts *o, int configure);
void wp_close(struct wpeer *p);

/* Byte @off of message @m: a pattern of the message, so that every message's
 * bytes differ. */
uint8_t wp_pattern(const struct sg_wire_msg *m, size_t off);

/* Encode the datagram of message @m from chunk @chunk (m->span chunks) with
 * its pattern into @buf (room for SG_WIRE_HDR_LEN + SG_MAX_DGRAM_PAYLOAD);
 * returns the datagram's length. */
size_t wp_encode(void *buf, const struct sg_wire_msg *m, unsigned int chunk);

/* Send @len bytes from socket @fd to the worker. */
void wp_send(const struct wpeer *p, int fd, const void *buf, size_t len);
/* Send chunk @chunk of @m from @fd to the worker. */
void wp_send_chunk(const struct wpeer *p, int fd, const struct sg_wire_msg *m,
		   unsigned int chunk);

/* sg_worker_recv() must return message @m, from @from, with its pattern. */
void wp_expect_msg(struct wpeer *p, const struct sg_wire_msg *m, const struct sockaddr_in *from,
		   struct sg_msg *out);
/* sg_worker_recv() must return nothing within WP_QUIET_MS. */
void wp_expect_nothing(struct wpeer *p);
/* Socket @fd must receive nothing within WP_QUIET_MS. */
void wp_expect_silence(int fd);

/* Read one answer datagram from @fd into @buf (WP_DGRAM_MAX
 * bytes) and decode it; returns its length. */
size_t wp_read_answer(int fd, void *buf, struct sg_wire_hdr *h);

struct sg_worker_stats wp_stats(const struct wpeer *p);

#endif
