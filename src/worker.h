/* SPDX-License-Identifier: MIT */
/* worker.h - transport threads: what the dispatcher may ask of a worker.
 *
 * The dispatcher (engine.c) starts, feeds, retires and joins workers; a
 * worker reports back only through the shared state of dispatch.h and
 * through deliver.h, never by calling the dispatcher. Every call below but
 * start and join is made with p->mu held. */
#ifndef PACER_WORKER_H
#define PACER_WORKER_H

#include "dispatch.h"

typedef struct pacer__worker {
  pacer_t *p;
  pthread_t thread;
  void *tx;            /* transport instance; used by this thread only */
  pacer__link_t inbox; /* jobs handed over, not yet started */
  uint64_t *aborts;    /* ids of started jobs to abort */
  size_t naborts, aborts_cap;
  int abort_scan;       /* an abort could not be listed (out of memory): the
                           worker looks for its cancelled started jobs itself */
  unsigned assigned;    /* INFLIGHT jobs given to this worker */
  int retiring;         /* takes no new job; exits when assigned is 0; set by
                           the dispatcher */
  unsigned connections; /* the size last passed to the transport */
  unsigned host_connections; /* the host cap last passed to it */
  int exited;                /* its thread has returned (join it) */
  int waking; /* the dispatcher wakes it with mu released: not to be joined */
} pacer__worker_t;

/* Opens a transport instance for a new worker and starts its thread.
 * mu held (the thread waits for it). Returns 0 and *out, or the transport's
 * error or PACER_ESYSTEM (nothing started). */
int pacer__worker_start(pacer_t *p, pacer__worker_t **out);
/* Waits for w's thread to return, closes its transport and frees it. mu
 * NOT held. The thread returns once w is retiring or the dispatcher
 * stopping, with no job assigned. */
void pacer__worker_join(pacer__worker_t *w);

/* mu held: how many of the active workers take jobs: all of them, or
 * max_host_connections when it is set and lower (the first ones, in the
 * order of p->workers), so that each holds at least one connection per
 * host. */
unsigned pacer__worker_takers(const pacer_t *p);
/* mu held: w's share of max_host_connections, the cap on connections to
 * one host its transport keeps: of the takers (above), the k-th gets
 * max / takers, the first max % takers one more; 0 when there is no cap,
 * and for a worker that takes no jobs (it opens none). */
unsigned pacer__worker_host_share(const pacer_t *p, const pacer__worker_t *w);

/* mu held: hands INFLIGHT job j to w's inbox; w starts it after its next
 * wake (pacer__worker_wake()). */
void pacer__worker_give(pacer__worker_t *w, pacer__job_t *j);
/* mu held: asks w to abort the attempt of its started job id (id may have
 * ended meanwhile: then nothing is aborted), and wakes it. Never fails: out
 * of memory to list the id, w looks for its cancelled jobs itself. */
void pacer__worker_abort(pacer__worker_t *w, uint64_t id);
/* Makes w's thread look at its inbox, aborts and settings soon. Any
 * thread, any lock; without mu, the caller keeps w from being joined
 * meanwhile (w->waking). */
void pacer__worker_wake(pacer__worker_t *w);

#endif
