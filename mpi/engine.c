/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The engine: every collective of this process runs here, one at a time, in
 * the order the application started them, so that the n-th sgbpf collective
 * of every rank is the same one (its number, seq, is in its request).
 *
 * A blocking call runs its job on the caller's thread as soon as the jobs
 * before it are done (no thread hand-off on the common path). Non-blocking
 * calls are run by the engine's thread, which completes their generalized
 * request. On a worker rank that thread also serves the socket while no job
 * runs: an acknowledgement or answer the coordinator asks for again must not
 * wait until the application next calls MPI (it may be blocked in MPI_Recv
 * on rank 0, which is itself waiting for that answer). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sgmpi.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sgmpi_job *head, *tail;
	int busy;      /* a job is running (its runner owns the sgbpf objects) */
	int stop;
	int wake_fd;   /* kicks the thread out of poll() */
	int started;
	uint32_t next_seq;
	pthread_t thread;
} eng = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .wake_fd = -1 };

static void kick(void)
{
	uint64_t one = 1;

	if (eng.wake_fd >= 0 && write(eng.wake_fd, &one, sizeof one) < 0) {
		/* the counter is full: the thread wakes anyway */
	}
}

static void enqueue_locked(struct sgmpi_job *job)
{
	job->seq = eng.next_seq++;
	job->next = NULL;
	if (eng.tail)
		eng.tail->next = job;
	else
		eng.head = job;
	eng.tail = job;
}

static void pop_locked(void)
{
	eng.head = eng.head->next;
	if (!eng.head)
		eng.tail = NULL;
}

/* Run the head job (the caller has checked it may) without the lock held. */
static void run_head_locked(struct sgmpi_job *job)
{
	eng.busy = 1;
	pthread_mutex_unlock(&eng.mu);
	job->err = sgmpi_exec(job);
	pthread_mutex_lock(&eng.mu);
	eng.busy = 0;
	pop_locked();
	pthread_cond_broadcast(&eng.cv);
}

void sgmpi_job_put(struct sgmpi_job *job)
{
	if (__atomic_sub_fetch(&job->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(job->scratch);
		free(job);
	}
}

static void *engine_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&eng.mu);
	for (;;) {
		struct sgmpi_job *job = eng.head;

		if (job && job->async && !eng.busy) {
			run_head_locked(job);
			/* After this the request's owner may free the job. */
			pthread_mutex_unlock(&eng.mu);
			PMPI_Grequest_complete(job->greq);
			sgmpi_job_put(job);
			pthread_mutex_lock(&eng.mu);
			continue;
		}
		if (eng.stop && !eng.head)
			break;
		if (sgmpi.worker && !job && !eng.busy && !eng.stop) {
			struct pollfd p[2] = {
				{ .fd = sg_worker_fd(sgmpi.worker), .events = POLLIN },
				{ .fd = eng.wake_fd, .events = POLLIN },
			};
			uint64_t n;

			pthread_mutex_unlock(&eng.mu);
			poll(p, 2, -1);
			if ((p[1].revents & POLLIN) && read(eng.wake_fd, &n, sizeof n) < 0) {
				/* nothing to drain */
			}
			pthread_mutex_lock(&eng.mu);
			if (!eng.busy && !eng.head)
				sgmpi_worker_drain();
			continue;
		}
		pthread_cond_wait(&eng.cv, &eng.mu);
	}
	pthread_mutex_unlock(&eng.mu);
	return NULL;
}

int sgmpi_engine_start(void)
{
	int err;

	eng.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (eng.wake_fd < 0)
		return -errno;
	eng.stop = 0;
	err = pthread_create(&eng.thread, NULL, engine_thread, NULL);
	if (err) {
		close(eng.wake_fd);
		eng.wake_fd = -1;
		return -err;
	}
	eng.started = 1;
	return 0;
}

/* Wait for the jobs started (MPI_Finalize: every request is complete by
 * then, so this returns at once in a correct program) and end the thread. */
void sgmpi_engine_stop(void)
{
	if (!eng.started)
		return;
	pthread_mutex_lock(&eng.mu);
	eng.stop = 1;
	pthread_cond_broadcast(&eng.cv);
	pthread_mutex_unlock(&eng.mu);
	kick();
	pthread_join(eng.thread, NULL);
	close(eng.wake_fd);
	eng.wake_fd = -1;
	eng.started = 0;
}

int sgmpi_run(struct sgmpi_job *job)
{
	job->async = 0;
	pthread_mutex_lock(&eng.mu);
	enqueue_locked(job);
	while (eng.head != job || eng.busy)
		pthread_cond_wait(&eng.cv, &eng.mu);
	run_head_locked(job);
	pthread_mutex_unlock(&eng.mu);
	return job->err;
}

void sgmpi_submit(struct sgmpi_job *job)
{
	job->async = 1;
	pthread_mutex_lock(&eng.mu);
	enqueue_locked(job);
	pthread_cond_broadcast(&eng.cv);
	pthread_mutex_unlock(&eng.mu);
	kick();
}
