/* SPDX-License-Identifier: MIT */
/* dispatch.h - the dispatcher object behind pacer_t: the state its modules
 * and threads share under one lock, and the kick that wakes its thread.
 *
 * Who uses it, top to bottom (the data flow): submit.c and resume.c queue
 * jobs; engine.c runs the dispatcher thread, which starts them and hands
 * each to a worker; worker.c runs attempts through the transport and
 * settles them with the scheduler; deliver.c runs each ended job's
 * callback. A lower module never calls a higher one: the workers report
 * back only through this state (pacer__kick(), the scheduler, the
 * counters) and deliver.h.
 *
 * Threads. The dispatcher thread applies time (tick), starts jobs (next)
 * and hands each to the least busy worker's inbox, delivers callbacks of
 * jobs ended by cancel, expiry or fail-fast, then sleeps on disp_cond
 * until the scheduler's next due time or a kick. A worker thread starts
 * the jobs in its inbox on its transport instance, runs transfers, and for
 * each ended attempt asks the scheduler what follows, delivering the
 * callback itself when the job ended; right after settling it starts
 * what may start in the slots it freed, up to its share (worker.c,
 * pull()), so a busy dispatcher at fixed concurrency needs no pass per
 * completion. Callbacks run with no lock held.
 *
 * Lock. mu guards every field except those marked immutable; it is never
 * held while a callback or a transport call (but wakeup) runs. */
#ifndef PACER_DISPATCH_H
#define PACER_DISPATCH_H

#include "clock.h"
#include "events.h"
#include "hist.h"
#include "jobs.h"
#include "scheduler.h"
#include "transport.h"
#include <pacer/pacer.h>
#include <pthread.h>

struct pacer__spool;
struct pacer__shared;
struct pacer__handler;
struct pacer__worker;

struct pacer {
  pthread_mutex_t mu;
  pthread_cond_t disp_cond;  /* the dispatcher sleeps here */
  pthread_cond_t room_cond;  /* submitters wait for queue room */
  pthread_cond_t drain_cond; /* live reached 0 */
  pthread_cond_t pass_cond;  /* the dispatcher finished a pass, or a
                                worker settled attempts (tests) */
  pacer__clock_t clock;      /* immutable */
  pacer__transport_t tx;     /* immutable */
  void *tx_share;     /* tx.share_open()'s, given to every worker's open(); set
                         before the first worker, freed after the last */
  pacer_config_t cfg; /* immutable after pacer_new, but the fields
                         the setters change are read under mu */
  pacer__sched_t sched;
  pacer__jobs_t jobs; /* every live job, by id */

  uint64_t live;       /* accepted jobs whose callback has not returned */
  pacer__link_t ended; /* ended jobs whose callback the dispatcher runs */
  int shutdown;        /* 0, or 1 + pacer_shutdown_mode_t */
  int cancel_pending;  /* the dispatcher must cancel the queue */
  /* The jobs queued (waiting retries included) when a shutdown first
   * cancelled the queue: each ends cancelled without starting again. */
  uint64_t shutdown_queued;
  int stopping; /* threads exit */

  pthread_t disp;
  int disp_started;
  int disp_sleeping, disp_kicked;
  int disp_woken;    /* signalled since it went to sleep */
  int64_t disp_wake; /* while asleep: when it will wake by itself */
  uint64_t settled;  /* attempts settled by workers (tests wait on it) */

  struct pacer__worker **workers;
  unsigned nworkers; /* entries in workers (retiring ones included) */
  unsigned active;   /* workers not retiring */

  struct pacer__spool *spool;      /* NULL: no spool; immutable */
  uint64_t spool_first;            /* the first spool id this dispatcher took:
                                      rows below it are an earlier run's, the
                                      ones pacer_resume() loads; immutable */
  struct pacer__handler *handlers; /* newest first (handlers.h) */
  int resumed;                     /* pacer_resume() ran */
  struct pacer__shared *shared;    /* NULL: no shared limit; immutable
                                      (its own threads and locks) */

  /* Events waiting for cfg.event_cb, which the dispatcher thread
   * delivers (pacer__emit()); events_warned: a drop was logged. */
  pacer__events_t events;
  int events_warned;

  /* Counters for pacer_stats_get(). */
  uint64_t submitted, started, succeeded, failed_http, failed_transport,
      failed_timeout, failed_too_large, failed_retries, failed_deadline,
      failed_breaker, failed_other, cancelled, expired;
  uint64_t shed; /* ended with PACER_ESHED (load shedding) */
  pacer__hist_t qwait[2], xfer[2];
};

/* mu held. Queues ev (time_ms set from now, ns) for cfg.event_cb, if
 * there is one, and asks the dispatcher thread to deliver it; ev and what
 * it points to are copied. Any thread; the scheduler's events come
 * through here too. */
void pacer__emit(pacer_t *p, pacer_event_t *ev, int64_t now);

/* mu held. Asks the dispatcher thread for another pass: something it
 * decides on changed (a job queued or ended, a slot freed, a setting
 * changed). Any thread; the only way a lower module reaches the
 * dispatcher. */
static inline void pacer__kick(pacer_t *p)
{
  p->disp_kicked = 1;
  /* One wake-up is enough until the dispatcher runs again: the kicks in
   * between (a burst of submits or completions) need no futex call. */
  if (p->disp_sleeping && !p->disp_woken) {
    p->disp_woken = 1;
    pthread_cond_signal(&p->disp_cond);
  }
}

#endif
