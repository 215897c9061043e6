// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A test worker process: sg_worker endpoints, one rank each, that answer every
 * SCATTER with the rank's deterministic contribution and record every message
 * in the shared records (tw_serve()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>

#include "tests/lab/tw_internal.h"

#define POLL_MAX_MS	100	/* bound on each wait, so *stop is noticed */

struct endpoint {
	sg_worker *w;
	struct tw_rank *rec;
	uint32_t rank;
	int pending;		/* a SCATTER waits for its delayed reply */
	long due_ms;
	struct sg_msg msg;	/* that SCATTER; its data stays valid as long as we
				 * do not receive on this endpoint */
};

struct server {
	struct endpoint *ep;
	unsigned int n;
	unsigned char *buf;	/* contribution being sent */
	size_t bufcap;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void count_error(struct endpoint *e, int err)
{
	ST(&e->rec->errors, LD(&e->rec->errors) + 1);
	ST(&e->rec->last_error, err);
}

static void reply(struct server *srv, struct endpoint *e)
{
	const struct sg_msg *m = &e->msg;
	size_t width, len;
	int err, copies = LD(&e->rec->flags) & TW_DUP ? 2 : 1;

	e->pending = 0;
	width = (unsigned int)m->dtype < SG_DATATYPE_COUNT ? tw_dt_width[m->dtype] : 0;
	if (!width || m->count > SG_MAX_MESSAGE_BYTES / width) {
		count_error(e, -EINVAL);
		return;
	}
	len = m->count * width;
	if (len > srv->bufcap) {
		unsigned char *p = realloc(srv->buf, len);

		if (!p) {
			count_error(e, -ENOMEM);
			return;
		}
		srv->buf = p;
		srv->bufcap = len;
	}
	tw_contribution_ex(e->rank, m->coll_id, m->dtype, m->op, tw_request_pattern(m->data, m->len),
			   m->count, srv->buf);
	while (copies--) {
		err = sg_worker_reply(e->w, m, srv->buf, len);
		if (err)
			count_error(e, err);
		else
			ST(&e->rec->replies, LD(&e->rec->replies) + 1);
	}
}

/* Receive what is complete on @e, until it would block or a reply is delayed. */
static void receive(struct server *srv, struct endpoint *e)
{
	while (!e->pending) {
		struct sg_msg m;
		uint32_t flags, delay;
		int err = sg_worker_recv(e->w, &m, 0);

		if (err == -EAGAIN || err == -ETIMEDOUT)
			return;
		if (err) {
			count_error(e, err);
			return;
		}
		if (m.type < TW_SCATTER || m.type > TW_RESULT) {
			count_error(e, -EPROTO);
			continue;
		}
		tw_rec_write(&e->rec->rec[m.type - 1], m.coll_id, m.len, tw_hash(m.data, m.len));
		if (m.type != SG_MSG_SCATTER)
			continue;
		flags = LD(&e->rec->flags);
		delay = LD(&e->rec->delay_ms);
		if (flags & TW_MUTE)
			continue;
		e->msg = m;
		if (delay) {
			e->pending = 1;
			e->due_ms = now_ms() + delay;
		} else {
			reply(srv, e);
		}
	}
}

/* receive(), then publish @e's counters. */
static void drain(struct server *srv, struct endpoint *e)
{
	SG_OPTS_INIT(sg_worker_stats, st);

	receive(srv, e);
	if (!sg_worker_get_stats(e->w, &st))
		tw_stats_publish(e->rec, &st);
}

static int serve_loop(struct server *srv, const struct tw_serve_opts *o,
		      const sigset_t *waitmask)
{
	struct pollfd *pfd = calloc(srv->n, sizeof(*pfd));
	struct endpoint **who = calloc(srv->n, sizeof(*who));
	int err = 0;

	if (!pfd || !who) {
		err = -ENOMEM;
		goto out;
	}
	while (!got_signal && !(o->stop && *o->stop)) {
		long now = now_ms(), wait = POLL_MAX_MS;
		struct timespec ts;
		nfds_t n = 0;
		int r;

		for (unsigned int i = 0; i < srv->n; i++) {
			struct endpoint *e = &srv->ep[i];

			if (e->pending) {
				if (e->due_ms - now < wait)
					wait = e->due_ms - now > 0 ? e->due_ms - now : 0;
				continue;
			}
			pfd[n].fd = sg_worker_fd(e->w);
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			who[n++] = e;
		}
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000L;
		/* SIGTERM is blocked except inside ppoll(): no lost wake-up. */
		r = ppoll(pfd, n, &ts, waitmask);
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		now = now_ms();
		for (unsigned int i = 0; i < srv->n; i++) {
			struct endpoint *e = &srv->ep[i];

			if (e->pending && e->due_ms <= now) {
				reply(srv, e);
				drain(srv, e);
			}
		}
		for (nfds_t i = 0; r > 0 && i < n; i++)
			if (pfd[i].revents)
				drain(srv, who[i]);
	}
out:
	free(pfd);
	free(who);
	return err;
}

int tw_serve(const struct tw_serve_opts *uo)
{
	struct tw_serve_opts o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal }, old_term, old_int;
	sigset_t block, oldmask;
	struct server srv = { 0 };
	int err = 0;

	if (!uo || uo->sz < sizeof(size_t))
		return -EINVAL;
	memcpy(&o, uo, uo->sz < sizeof(o) ? uo->sz : sizeof(o));
	if (!o.shared || !o.nports || o.rank >= o.shared->nranks ||
	    o.nports > o.shared->nranks - o.rank || (o.port && o.port + o.nports - 1 > 65535))
		return -EINVAL;

	srv.ep = calloc(o.nports, sizeof(*srv.ep));
	if (!srv.ep)
		return -ENOMEM;
	for (unsigned int i = 0; i < o.nports && !err; i++) {
		SG_OPTS_INIT(sg_worker_opts, wo);
		struct endpoint *e = &srv.ep[i];

		e->rank = o.rank + i;
		e->rec = &o.shared->rank[e->rank];
		wo.addr = o.addr;
		wo.port = o.port ? (uint16_t)(o.port + i) : 0;
		wo.coordinators = o.coordinators;
		wo.ncoordinators = o.ncoordinators;
		err = sg_worker_create(&wo, &e->w);
		if (!err)
			srv.n++;
	}
	if (err) {
		for (unsigned int i = 0; i < o.nports; i++)
			ST(&o.shared->rank[o.rank + i].error, err);
		goto out;
	}

	got_signal = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &oldmask);

	for (unsigned int i = 0; i < srv.n; i++) {
		struct tw_rank *r = srv.ep[i].rec;

		ST(&r->port, sg_worker_port(srv.ep[i].w));
		ST(&r->error, 0);
		__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	}
	{
		sigset_t waitmask = oldmask;

		sigdelset(&waitmask, SIGTERM);
		sigdelset(&waitmask, SIGINT);
		err = serve_loop(&srv, &o, &waitmask);
	}
	for (unsigned int i = 0; i < srv.n; i++)
		__atomic_store_n(&srv.ep[i].rec->ready, 0, __ATOMIC_RELEASE);

	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
out:
	for (unsigned int i = 0; i < srv.n; i++)
		sg_worker_destroy(srv.ep[i].w);
	free(srv.ep);
	free(srv.buf);
	return err;
}

int tw_serve_fn(void *arg)
{
	return tw_serve(arg);
}
