/* SPDX-License-Identifier: MIT */
/* worker.c - transport threads: start the jobs the dispatcher hands over,
 * run transfers, and settle each ended attempt with the scheduler.
 *
 * Invariants: only this worker's thread calls its transport instance (but
 * wakeup); a job leaves w->inbox under p->mu and is then marked started, so
 * a cancel knows whether to abort it or let the worker drop it at start; an
 * attempt is settled (pacer__sched_done) by the worker that ran it, so no
 * abort can race with the job being freed. */
#include "engine.h"
#include "http.h"
#include "spool.h"
#include <stdlib.h>

/* The attempt's timeout: the job's own, or what is left before its
 * deadline if that is sooner (then a timeout means the deadline passed,
 * even if the transport's timer rounds and fires a little early). */
static int64_t attempt_timeout(pacer__job_t *j, int64_t now)
{
  int64_t t = j->timeout_ns;
  j->deadline_cut = 0;
  if (j->deadline_ns != INT64_MAX && j->deadline_ns - now <= t) {
    t = j->deadline_ns - now;
    j->deadline_cut = 1;
  }
  return t;
}

/* A job waiting to retry keeps what its result would show (status,
 * headers, message) but not the body: the next attempt replaces it, and
 * until then queue_max waiting jobs could each hold max_response_bytes. */
static void drop_body(pacer__resp_t *r)
{
  if (!r)
    return;
  free(r->body);
  r->body = NULL;
  r->body_len = r->body_cap = 0;
}

/* Settles every ended attempt on *done, then delivers the jobs that ended. */
static void settle(pacer_t *p, pacer__worker_t *w, pacer__link_t *done)
{
  int64_t now = p->clock.now(p->clock.ctx);
  int64_t wall = p->clock.wall(p->clock.ctx);
  pacer__link_t ended;
  pacer__list_init(&ended);
  pthread_mutex_lock(&p->mu);
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(done))) {
    pacer__job_t *j = pacer__job_of(l);
    pacer__attempt_end_t end = {PACER_ENOMEM, 0, -1, 0};
    if (j->resp) {
      end.error = j->resp->error;
      end.status = j->resp->status;
      end.other_origin = j->resp->other_origin;
      end.retry_after_ns = pacer__retry_after_ns(
          pacer__resp_header(j->resp, "Retry-After"), wall);
    }
    pacer__hist_add(&p->xfer[j->prio], (now - j->attempt_start_ns) / 1000);
    w->assigned--;
    j->worker = NULL;
    j->started = 0;
    if (pacer__sched_done(&p->sched, j, &end, now) == PACER__SCHED_END) {
      pacer__list_push_back(&ended, &j->link);
    } else {
      drop_body(j->resp);
      if (j->spool_id) /* a retry: its time survives a restart */
        pacer__spool_waiting(p->spool, j->spool_id, j->attempts,
                             (wall + (j->timer_ns - now)) / PACER__NS_PER_MS);
    }
    p->settled++;
  }
  pthread_cond_broadcast(&p->pass_cond);
  /* Freed slots, retries and breaker changes matter to the dispatcher only
   * if they bring its next start forward: at a fixed rate the next token is
   * usually what it already sleeps until, and waking it would cost a futex
   * call and two context switches per request for nothing. */
  if (!p->disp_sleeping || pacer__sched_wake(&p->sched, now) < p->disp_wake)
    pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
  pacer__deliver(p, &ended);
}

/* Ids and attempt numbers of the spooled jobs about to start. */
typedef struct starts {
  uint64_t *ids;
  unsigned *attempts;
  size_t cap;
} starts_t;

/* Records in the spool that the jobs on inbox start an attempt, before any
 * request leaves: a job sent again after a crash is one the spool shows in
 * flight. If the spool cannot be written the jobs still start (losing them
 * would be worse); the error is logged. */
static void record_starts(pacer_t *p, pacer__link_t *inbox, starts_t *st)
{
  size_t n = 0;
  for (pacer__link_t *l = inbox->next; l != inbox; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    if (!j->spool_id)
      continue;
    if (n == st->cap) {
      size_t cap = st->cap ? st->cap * 2 : 64;
      uint64_t *ids = realloc(st->ids, cap * sizeof *ids);
      if (ids)
        st->ids = ids;
      unsigned *at = ids ? realloc(st->attempts, cap * sizeof *at) : NULL;
      if (at)
        st->attempts = at;
      if (!ids || !at)
        break;
      st->cap = cap;
    }
    st->ids[n] = j->spool_id;
    st->attempts[n] = j->attempts;
    n++;
  }
  if (n && pacer__spool_started(p->spool, st->ids, st->attempts, n))
    pacer__logf(&p->cfg, PACER_LOG_ERROR,
                "spool: cannot record %zu attempts as started; sending them "
                "anyway",
                n);
}

/* A fresh outcome for the next attempt; NULL when out of memory. */
static pacer__resp_t *fresh_resp(pacer__job_t *j)
{
  if (j->resp) {
    pacer__resp_reset(j->resp);
    return j->resp;
  }
  j->resp = malloc(sizeof *j->resp);
  if (j->resp)
    pacer__resp_init(j->resp);
  return j->resp;
}

static void *worker_main(void *arg)
{
  pacer__worker_t *w = arg;
  pacer_t *p = w->p;
  pacer__link_t inbox, cancelled, done;
  pacer__list_init(&inbox);
  pacer__list_init(&cancelled);
  pacer__list_init(&done);
  uint64_t *aborts = NULL;
  size_t naborts = 0, aborts_cap = 0;
  /* The jobs to abort this round: the listed ones, or, when memory ran out
   * to list them, what a scan of the job table finds (in turns of the
   * fixed array, which needs no memory). */
  pacer__job_t **to_abort = NULL;
  size_t to_abort_cap = 0;
  pacer__job_t *scanned[32];
  starts_t starts = {NULL, NULL, 0};

  pthread_mutex_lock(&p->mu);
  for (;;) {
    /* Jobs cancelled before their start are sorted out here, under the lock
     * that guards cancel_req; a cancel from now on finds them started and
     * asks for an abort instead. */
    pacer__link_t *l;
    while ((l = pacer__list_pop_front(&w->inbox))) {
      pacer__job_t *j = pacer__job_of(l);
      if (j->cancel_req) {
        pacer__list_push_back(&cancelled, l);
      } else {
        j->started = 1;
        pacer__list_push_back(&inbox, l);
      }
    }
    /* Take the abort ids, keeping the jobs' identity checks under the lock. */
    naborts = 0;
    if (w->naborts) {
      uint64_t *t = aborts;
      aborts = w->aborts;
      w->aborts = t;
      naborts = w->naborts;
      size_t c = aborts_cap;
      aborts_cap = w->aborts_cap;
      w->aborts_cap = c;
      w->naborts = 0;
    }
    if ((w->retiring || p->stopping) && w->assigned == 0)
      break;
    /* Connections kept: the whole concurrency, for many hosts. */
    unsigned conns = p->sched.cfg.concurrency;
    int tell = conns != w->connections;
    w->connections = conns;
    size_t nto = 0;
    int scan = w->abort_scan, more = 0;
    w->abort_scan = 0;
    if (naborts > to_abort_cap) {
      pacer__job_t **t = realloc(to_abort, naborts * sizeof *t);
      if (t) {
        to_abort = t;
        to_abort_cap = naborts;
      } else {
        scan = 1; /* the listed ids cannot all be held: find them instead */
      }
    }
    pacer__job_t **abort_list = to_abort;
    if (scan) {
      /* Out of memory on the way: every started job of this worker that
       * carries a cancel mark and has no outcome yet, up to the array's
       * size; the rest in the next round, which then does not sleep. */
      abort_list = scanned;
      for (uint32_t i = 0; i < p->nslots && !more; i++) {
        pacer__job_t *j = p->slots[i];
        if (j && j->state == PACER__JOB_INFLIGHT && j->worker == w &&
            j->started && j->cancel_req) {
          if (nto == sizeof scanned / sizeof scanned[0])
            more = w->abort_scan = 1;
          else
            scanned[nto++] = j;
        }
      }
    } else {
      for (size_t i = 0; i < naborts && nto < to_abort_cap; i++) {
        uint64_t id = aborts[i];
        uint64_t slot = (id & 0xffffffffu) - 1;
        pacer__job_t *j = slot < p->nslots ? p->slots[slot] : NULL;
        /* The job may have ended since the cancel: then there is no
         * attempt. */
        if (j && j->id == id && j->state == PACER__JOB_INFLIGHT &&
            j->worker == w && j->started)
          to_abort[nto++] = j;
      }
    }
    pthread_mutex_unlock(&p->mu);

    if (tell)
      p->tx.set_connections(w->tx, conns);
    int64_t now = p->clock.now(p->clock.ctx);
    while ((l = pacer__list_pop_front(&cancelled))) {
      pacer__job_t *j = pacer__job_of(l);
      pacer__resp_t *r = fresh_resp(j);
      if (r)
        pacer__resp_fail(r, PACER_ECANCELED, 0, "cancelled before it started");
      pacer__list_push_back(&done, l);
    }
    if (p->spool)
      record_starts(p, &inbox, &starts);
    while ((l = pacer__list_pop_front(&inbox))) {
      pacer__job_t *j = pacer__job_of(l);
      pacer__resp_t *r = fresh_resp(j);
      int64_t t = attempt_timeout(j, now);
      if (!r) {
        pacer__list_push_back(&done, &j->link);
      } else if (t <= 0) {
        pacer__resp_fail(r, PACER_ETIMEDOUT, 0,
                         "no time left before the "
                         "deadline");
        pacer__list_push_back(&done, &j->link);
      } else {
        p->tx.start(w->tx, j, t);
      }
    }
    for (size_t i = 0; i < nto; i++)
      p->tx.abort(w->tx, abort_list[i]);
    p->tx.run(w->tx, pacer__list_empty(&done) && !more ? INT64_MAX : 0, &done);
    if (!pacer__list_empty(&done))
      settle(p, w, &done);
    pthread_mutex_lock(&p->mu);
  }
  w->exited = 1;
  pthread_mutex_unlock(&p->mu);
  free(aborts);
  free(to_abort);
  free(starts.ids);
  free(starts.attempts);
  return NULL;
}

int pacer__worker_start(pacer_t *p, pacer__worker_t **out)
{
  pacer__worker_t *w = calloc(1, sizeof *w);
  if (!w)
    return PACER_ENOMEM;
  w->p = p;
  pacer__list_init(&w->inbox);
  pacer__tx_opts_t opts = {&p->cfg};
  int rc = p->tx.open(p->tx.ctx, &opts, &w->tx);
  if (rc) {
    free(w);
    return rc;
  }
  rc = pacer__thread_start(&w->thread, worker_main, w, "pacer-worker");
  if (rc) {
    p->tx.close(w->tx);
    free(w);
    return rc;
  }
  *out = w;
  p->nworkers++;
  p->active++;
  return 0;
}

void pacer__worker_join(pacer__worker_t *w)
{
  pthread_join(w->thread, NULL);
  w->p->tx.close(w->tx);
  free(w->aborts);
  free(w);
}
