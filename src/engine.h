/* SPDX-License-Identifier: MIT */
/* engine.h - the dispatcher object behind pacer_t: one lock around the
 * scheduler, a dispatcher thread that starts jobs, and worker threads that
 * run attempts through the transport.
 *
 * Threads. The dispatcher thread applies time (tick), starts jobs (next) and
 * hands each to the least busy worker's inbox, delivers callbacks of jobs
 * ended by cancel, expiry or fail-fast, then sleeps on disp_cond until the
 * scheduler's next due time or a kick. A worker thread starts the jobs in its
 * inbox on its transport instance, runs transfers, and for each ended
 * attempt asks the scheduler what follows, delivering the callback itself
 * when the job ended. Callbacks run with no lock held.
 *
 * Lock. p->mu guards everything below except the fields marked otherwise;
 * it is never held while a callback or a transport call (but wakeup) runs. */
#ifndef PACER_ENGINE_H
#define PACER_ENGINE_H

#include "clock.h"
#include "config.h"
#include "hist.h"
#include "scheduler.h"
#include "transport.h"
#include <pacer/pacer.h>
#include <pthread.h>

struct pacer__spool;

/* A named callback (pacer_register_handler). Entries are never freed
 * before pacer_free(); a name registered again gets a new entry in front. */
typedef struct pacer__handler {
  struct pacer__handler *next;
  pacer_done_cb cb;
  void *user;
  char name[];
} pacer__handler_t;

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
  int retiring;         /* takes no new job; exits when assigned is 0 */
  unsigned connections; /* the size last passed to the transport */
  int exited;           /* its thread has returned (join it) */
} pacer__worker_t;

struct pacer {
  pthread_mutex_t mu;
  pthread_cond_t disp_cond;  /* the dispatcher sleeps here */
  pthread_cond_t room_cond;  /* submitters wait for queue room */
  pthread_cond_t drain_cond; /* live reached 0 */
  pthread_cond_t pass_cond;  /* the dispatcher finished a pass (tests) */
  pacer__clock_t clock;      /* immutable */
  pacer__transport_t tx;     /* immutable */
  pacer_config_t cfg;        /* immutable after pacer_new, but the fields
                                the setters change are read under mu */
  pacer__sched_t sched;

  /* Jobs by id: id = generation << 32 | (slot + 1). */
  pacer__job_t **slots;
  uint32_t *gens;
  uint32_t *free_slots;
  uint32_t nslots, nfree, slots_cap;

  uint64_t live;       /* accepted jobs whose callback has not returned */
  pacer__link_t ended; /* ended jobs whose callback the dispatcher runs */
  int shutdown;        /* 0, or 1 + pacer_shutdown_mode_t */
  int cancel_pending;  /* the dispatcher must cancel the queue */
  int stopping;        /* threads exit */

  pthread_t disp;
  int disp_started;
  int disp_sleeping, disp_kicked;
  int disp_woken;    /* signalled since it went to sleep */
  int64_t disp_wake; /* while asleep: when it will wake by itself */
  uint64_t settled;  /* attempts settled by workers (tests wait on it) */

  pacer__worker_t **workers;
  unsigned nworkers; /* entries in workers (retiring ones included) */
  unsigned active;   /* workers not retiring */

  struct pacer__spool *spool; /* NULL: no spool; immutable */
  uint64_t spool_first;       /* the first spool id this dispatcher took:
                                 rows below it are an earlier run's, the
                                 ones pacer_resume() loads; immutable */
  pacer__handler_t *handlers; /* newest first */
  int resumed;                /* pacer_resume() ran */

  /* Counters for pacer_stats_get(). */
  uint64_t submitted, started, succeeded, failed_http, failed_transport,
      failed_timeout, failed_too_large, failed_retries, failed_deadline,
      failed_breaker, failed_other, cancelled, expired;
  pacer__hist_t qwait[2], xfer[2];
};

/* Makes a dispatcher with the given clock and transport (pacer_new uses the
 * real ones). Same contract as pacer_new(). */
int pacer__new_with(const pacer_config_t *cfg, const pacer__clock_t *clock,
                    const pacer__transport_t *tx, pacer_t **out);

/* Tests: waits until the dispatcher sleeps with nothing due before a time
 * still in the future, so everything due by the clock's now has been done. */
void pacer__wait_idle(pacer_t *p);
/* Tests: waits until at least n attempts have been settled. */
void pacer__wait_settled(pacer_t *p, uint64_t n);
/* Tests: the bytes of response held by jobs waiting to retry, as allocated
 * (body, header arena and header array); *body (may be NULL) gets the body
 * part. */
size_t pacer__waiting_resp_bytes(pacer_t *p, size_t *body);

/* Worker side (worker.c). */
int pacer__worker_start(pacer_t *p, pacer__worker_t **out);
void pacer__worker_join(pacer__worker_t *w);

/* Starts a thread with every signal blocked, so that SIGPIPE from a socket
 * cannot kill the process and the program's handlers run on its own threads,
 * and names it (at most 15 bytes) for ps, top and debuggers. Returns 0 or
 * PACER_ESYSTEM. */
int pacer__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                        const char *name);

/* Shared by engine.c and worker.c; called with p->mu held. */
void pacer__kick(pacer_t *p);
void pacer__assign(pacer_t *p, pacer__job_t *j, int64_t now);
/* Runs the callbacks of the ENDED jobs on *ended (mu NOT held), then frees
 * them and releases their ids (taking mu). */
void pacer__deliver(pacer_t *p, pacer__link_t *ended);

/* Log through cfg->log_cb when level is enabled. Any thread. */
void pacer__logf(const pacer_config_t *cfg, pacer_log_level_t level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
