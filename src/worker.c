/* SPDX-License-Identifier: MIT */
/* worker.c - transport threads: start the jobs the dispatcher hands over,
 * run transfers, and settle each ended attempt with the scheduler.
 *
 * Invariants: only this worker's thread calls its transport instance (but
 * wakeup); a job leaves w->inbox under p->mu and is then marked started, so
 * a cancel knows whether to abort it or let the worker drop it at start; an
 * attempt is settled (pacer__sched_done) by the worker that ran it, so no
 * abort can race with the job being freed. */
#include "worker.h"
#include "config.h"
#include "deliver.h"
#include "http.h"
#include "log.h"
#include "ratehdr.h"
#include "spool.h"
#include "thread.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* w's fixed share of the concurrency, as the dispatcher's hand-off
 * (engine.c) counts it: the active workers' shares sum to the concurrency. */
static unsigned share_of(pacer_t *p, pacer__worker_t *w)
{
  unsigned conc = p->sched.cfg.concurrency, n = p->active, k = 0;
  for (unsigned i = 0; i < p->nworkers; i++) {
    if (p->workers[i] == w)
      break;
    k += !p->workers[i]->retiring;
  }
  return conc / n + (k < conc % n);
}

/* mu held, right after a settle: w starts for itself the jobs that may
 * start now, up to its share, as a dispatcher pass would. The slots just
 * freed are refilled by the thread already awake, without waking the
 * dispatcher (a futex call and two context switches) for it to wake this
 * worker back (a write to the transport's wakeup). What needs the
 * dispatcher's thread stays there: a pending cancel of the queue, and the
 * callbacks of jobs that ended while waiting (handed over on p->ended). */
static void pull(pacer_t *p, pacer__worker_t *w)
{
  if (w->retiring || p->stopping || p->cancel_pending)
    return;
  /* The time is read under mu, as the dispatcher reads it: a token taken at
   * a time read before a wait for the lock would be booked earlier than it
   * is spent, and the bucket would then allow that much more in the next
   * second than its rate. */
  int64_t now = p->clock.now(p->clock.ctx);
  unsigned share = share_of(p, w);
  if (w->assigned >= share)
    return;
  size_t backlog = pacer__sched_backlog(&p->sched);
  pacer__link_t ended;
  pacer__list_init(&ended);
  pacer__sched_tick(&p->sched, now, &ended);
  pacer__job_t *j;
  while (w->assigned < share &&
         (j = pacer__sched_next(&p->sched, now, &ended))) {
    pacer__worker_give(w, j);
    p->started++;
    if (j->attempts == 1)
      pacer__hist_add(&p->qwait[j->prio], (now - j->submit_ns) / 1000);
  }
  if (pacer__sched_backlog(&p->sched) < backlog)
    pthread_cond_broadcast(&p->room_cond);
  if (!pacer__list_empty(&ended)) {
    pacer__list_splice(&p->ended, &ended);
    pacer__kick(p);
  }
}

/* Logs, with no lock held, the values of q that were cut to a cap (the
 * bits in q->clamped), as the server sent them. */
static void log_clamped(pacer_t *p, const pacer__ratehdr_t *q, const char *key)
{
  static const struct {
    unsigned bit;
    const char *what;
  } kinds[] = {{PACER__RATEHDR_CLAMP_LIMIT, "limit"},
               {PACER__RATEHDR_CLAMP_REMAINING, "remaining"},
               {PACER__RATEHDR_CLAMP_RESET, "reset (s)"},
               {PACER__RATEHDR_CLAMP_WINDOW, "window (s)"}};
  const int64_t raw[] = {q->limit_raw, q->remaining_raw, q->reset_raw_s,
                         q->window_raw_s};
  char detail[256] = "";
  size_t len = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (!(q->clamped & kinds[i].bit) || len >= sizeof detail)
      continue;
    int n = snprintf(detail + len, sizeof detail - len, "%s %s %lld",
                     len ? "," : "", kinds[i].what, (long long)raw[i]);
    len += n > 0 ? (size_t)n : 0;
  }
  pacer__logf(&p->cfg, PACER_LOG_WARN,
              "key %s: %s rate limit fields with absurd values, cut to their "
              "caps:%s (each kind is logged once)",
              key, pacer__ratehdr_source_name(q->source), detail);
}

/* What an ended attempt's answer tells the scheduler: its outcome, its
 * Retry-After and the quota it announced. Read without the engine's lock:
 * an attempt's response is its worker's until the attempt is settled. */
static void read_end(const pacer__job_t *j, int64_t wall,
                     pacer__attempt_end_t *end)
{
  memset(end, 0, sizeof *end);
  end->error = PACER_ENOMEM;
  end->retry_after_ns = -1;
  if (!j->resp)
    return;
  end->error = j->resp->error;
  end->status = j->resp->status;
  end->other_origin = j->resp->other_origin;
  end->conns_opened = j->resp->conns_opened;
  end->tls_full = j->resp->tls_full;
  end->tls_resumed = j->resp->tls_resumed;
  end->http_version = j->resp->http_version;
  end->retry_after_ns =
      pacer__retry_after_ns(pacer__resp_header(j->resp, "Retry-After"), wall);
  /* Another origin's quota is not the key's: as for Retry-After. */
  if (end->error == 0 && !end->other_origin)
    pacer__ratehdr_read(j->resp->headers, j->resp->header_count, wall, 0,
                        &end->quota);
}

/* Ended attempts read (read_end()) per turn of the engine's lock. */
#define SETTLE_BATCH 32

/* Settles every ended attempt on *done, starts what may start in the
 * slots freed (pull()), then delivers the jobs that ended. The answers are
 * read outside the engine's lock, SETTLE_BATCH at a time. */
static void settle(pacer_t *p, pacer__worker_t *w, pacer__link_t *done)
{
  int64_t now = p->clock.now(p->clock.ctx);
  int64_t wall = p->clock.wall(p->clock.ctx);
  pacer__link_t ended;
  pacer__list_init(&ended);
  pacer__ratehdr_t clamped; /* an absurd quota to log, once per kind */
  memset(&clamped, 0, sizeof clamped);
  char clamped_key[PACER__KEY_MAX] = "";
  pacer__job_t *batch[SETTLE_BATCH];
  pacer__attempt_end_t ends[SETTLE_BATCH];
  for (;;) {
    size_t n = 0;
    pacer__link_t *l;
    while (n < SETTLE_BATCH && (l = pacer__list_pop_front(done))) {
      batch[n] = pacer__job_of(l);
      read_end(batch[n], wall, &ends[n]);
      n++;
    }
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
      pacer__job_t *j = batch[i];
      pacer__attempt_end_t *end = &ends[i];
      unsigned fresh = end->quota.found
                           ? end->quota.clamped & ~p->sched.quota_clamps_logged
                           : 0;
      if (fresh && !clamped.clamped) {
        p->sched.quota_clamps_logged |= fresh;
        clamped = end->quota;
        clamped.clamped = fresh;
        snprintf(clamped_key, sizeof clamped_key, "%s", j->key->name);
      }
      pacer__hist_add(&p->xfer[j->prio], (now - j->attempt_start_ns) / 1000);
      w->assigned--;
      j->worker = NULL;
      j->started = 0;
      if (pacer__sched_done(&p->sched, j, end, now) == PACER__SCHED_END) {
        pacer__list_push_back(&ended, &j->link);
      } else {
        drop_body(j->resp);
        if (j->spool_id) /* a retry: its time survives a restart */
          pacer__spool_waiting(p->spool, j->spool_id, j->attempts,
                               (wall + (j->timer_ns - now)) / PACER__NS_PER_MS);
      }
      p->settled++;
    }
    if (pacer__list_empty(done))
      break; /* with the lock held */
    pthread_mutex_unlock(&p->mu);
  }
  pull(p, w);
  pthread_cond_broadcast(&p->pass_cond);
  /* Freed slots, retries and breaker changes matter to the dispatcher only
   * if they bring its next start forward: at a fixed rate the next token is
   * usually what it already sleeps until, and waking it would cost a futex
   * call and two context switches per request for nothing. */
  if (!p->disp_sleeping || pacer__sched_wake(&p->sched, now) < p->disp_wake)
    pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
  if (clamped.clamped)
    log_clamped(p, &clamped, clamped_key);
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

/* What the worker thread holds between rounds. */
typedef struct local {
  pacer__link_t inbox;     /* jobs to start this round */
  pacer__link_t cancelled; /* jobs cancelled before their start */
  pacer__link_t done;      /* attempts ended, to settle */
  uint64_t *aborts;        /* the abort ids taken from the worker */
  size_t naborts, aborts_cap;
  /* The jobs to abort this round: the listed ones, or, when memory ran out
   * to list them, what a scan of the job table finds (in turns of the
   * fixed array, which needs no memory). */
  pacer__job_t **to_abort;
  size_t to_abort_cap;
  pacer__job_t *scanned[32];
  pacer__job_t **abort_list; /* to_abort or scanned */
  size_t nto;
  int more;            /* the scan found more than scanned holds */
  unsigned conns;      /* connections to keep */
  unsigned host_conns; /* of them, to one host (0: no cap of its own) */
  int tell;            /* either changed: pass it on to the transport */
  starts_t starts;
} local_t;

/* mu held. Jobs cancelled before their start are sorted out here, under
 * the lock that guards cancel_req; a cancel from now on finds them started
 * and asks for an abort instead. */
static void take_inbox(pacer__worker_t *w, local_t *t)
{
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&w->inbox))) {
    pacer__job_t *j = pacer__job_of(l);
    if (j->cancel_req) {
      pacer__list_push_back(&t->cancelled, l);
    } else {
      j->started = 1;
      pacer__list_push_back(&t->inbox, l);
    }
  }
}

/* mu held. Takes the abort ids by swapping arrays, so listing more never
 * waits for this round. */
static void take_abort_ids(pacer__worker_t *w, local_t *t)
{
  t->naborts = 0;
  if (!w->naborts)
    return;
  uint64_t *a = t->aborts;
  t->aborts = w->aborts;
  w->aborts = a;
  t->naborts = w->naborts;
  size_t c = t->aborts_cap;
  t->aborts_cap = w->aborts_cap;
  w->aborts_cap = c;
  w->naborts = 0;
}

/* mu held. Out of memory on the way: every started job of this worker
 * that carries a cancel mark and has no outcome yet, up to the array's
 * size; the rest in the next round, which then does not sleep. */
static void scan_aborts(pacer__worker_t *w, local_t *t)
{
  t->abort_list = t->scanned;
  uint32_t pos = 0;
  pacer__job_t *j;
  while (!t->more && (j = pacer__jobs_next(&w->p->jobs, &pos))) {
    if (j->state == PACER__JOB_INFLIGHT && j->worker == w && j->started &&
        j->cancel_req) {
      if (t->nto == sizeof t->scanned / sizeof t->scanned[0])
        t->more = w->abort_scan = 1;
      else
        t->scanned[t->nto++] = j;
    }
  }
}

/* mu held. The jobs whose attempt this round aborts, checked under the
 * lock: a job may have ended since its cancel, and then has no attempt. */
static void find_aborts(pacer__worker_t *w, local_t *t)
{
  t->nto = 0;
  t->more = 0;
  int scan = w->abort_scan;
  w->abort_scan = 0;
  if (t->naborts > t->to_abort_cap) {
    pacer__job_t **a = realloc(t->to_abort, t->naborts * sizeof *a);
    if (a) {
      t->to_abort = a;
      t->to_abort_cap = t->naborts;
    } else {
      scan = 1; /* the listed ids cannot all be held: find them instead */
    }
  }
  t->abort_list = t->to_abort;
  if (scan) {
    scan_aborts(w, t);
    return;
  }
  for (size_t i = 0; i < t->naborts && t->nto < t->to_abort_cap; i++) {
    pacer__job_t *j = pacer__jobs_find(&w->p->jobs, t->aborts[i]);
    if (j && j->state == PACER__JOB_INFLIGHT && j->worker == w && j->started)
      t->to_abort[t->nto++] = j;
  }
}

/* mu held. Takes this round's work; returns 0 when the thread is to exit
 * (retiring or stopping, with nothing assigned). */
static int take_work(pacer__worker_t *w, local_t *t)
{
  pacer_t *p = w->p;
  take_inbox(w, t);
  take_abort_ids(w, t);
  if ((w->retiring || p->stopping) && w->assigned == 0)
    return 0;
  /* Connections kept: the whole concurrency, for many hosts; to one host,
   * the worker's share of max_host_connections. A retiring worker keeps
   * its last share: it takes no new job. */
  t->conns = p->sched.cfg.concurrency;
  t->host_conns =
      w->retiring ? w->host_connections : pacer__worker_host_share(p, w);
  t->tell = t->conns != w->connections || t->host_conns != w->host_connections;
  w->connections = t->conns;
  w->host_connections = t->host_conns;
  find_aborts(w, t);
  return 1;
}

/* Starts this round's jobs on the transport; those that cannot start
 * (cancelled, out of memory, no time left) go to done with their outcome. */
static void start_jobs(pacer__worker_t *w, local_t *t, int64_t now)
{
  pacer_t *p = w->p;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&t->cancelled))) {
    pacer__resp_t *r = fresh_resp(pacer__job_of(l));
    if (r)
      pacer__resp_fail(r, PACER_ECANCELED, 0, "cancelled before it started");
    pacer__list_push_back(&t->done, l);
  }
  if (p->spool)
    record_starts(p, &t->inbox, &t->starts);
  while ((l = pacer__list_pop_front(&t->inbox))) {
    pacer__job_t *j = pacer__job_of(l);
    pacer__resp_t *r = fresh_resp(j);
    int64_t left = attempt_timeout(j, now);
    if (!r) {
      pacer__list_push_back(&t->done, &j->link);
    } else if (left <= 0) {
      pacer__resp_fail(r, PACER_ETIMEDOUT, 0,
                       "no time left before the deadline");
      pacer__list_push_back(&t->done, &j->link);
    } else {
      p->tx.start(w->tx, j, left);
    }
  }
}

/* mu NOT held: one round of work taken by take_work(). */
static void run_round(pacer__worker_t *w, local_t *t)
{
  pacer_t *p = w->p;
  if (t->tell)
    p->tx.set_connections(w->tx, t->conns, t->host_conns);
  start_jobs(w, t, p->clock.now(p->clock.ctx));
  for (size_t i = 0; i < t->nto; i++)
    p->tx.abort(w->tx, t->abort_list[i]);
  p->tx.run(w->tx, pacer__list_empty(&t->done) && !t->more ? INT64_MAX : 0,
            &t->done);
  if (!pacer__list_empty(&t->done))
    settle(p, w, &t->done);
}

static void *worker_main(void *arg)
{
  pacer__worker_t *w = arg;
  pacer_t *p = w->p;
  local_t t;
  memset(&t, 0, sizeof t);
  pacer__list_init(&t.inbox);
  pacer__list_init(&t.cancelled);
  pacer__list_init(&t.done);
  pthread_mutex_lock(&p->mu);
  while (take_work(w, &t)) {
    pthread_mutex_unlock(&p->mu);
    run_round(w, &t);
    pthread_mutex_lock(&p->mu);
  }
  w->exited = 1;
  pthread_mutex_unlock(&p->mu);
  free(t.aborts);
  free(t.to_abort);
  free(t.starts.ids);
  free(t.starts.attempts);
  return NULL;
}

int pacer__worker_start(pacer_t *p, pacer__worker_t **out)
{
  pacer__worker_t *w = calloc(1, sizeof *w);
  if (!w)
    return PACER_ENOMEM;
  w->p = p;
  pacer__list_init(&w->inbox);
  pacer__tx_opts_t opts = {&p->cfg, p->tx_share};
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
  return 0;
}

void pacer__worker_join(pacer__worker_t *w)
{
  pthread_join(w->thread, NULL);
  w->p->tx.close(w->tx);
  free(w->aborts);
  free(w);
}

unsigned pacer__worker_takers(const pacer_t *p)
{
  unsigned m = p->cfg.max_host_connections;
  return m && m < p->active ? m : p->active;
}

unsigned pacer__worker_host_share(const pacer_t *p, const pacer__worker_t *w)
{
  unsigned m = p->cfg.max_host_connections, n = pacer__worker_takers(p);
  if (!m || !n)
    return 0;
  unsigned k = 0;
  for (unsigned i = 0; i < p->nworkers && k < n; i++) {
    if (p->workers[i]->retiring)
      continue;
    if (p->workers[i] == w)
      return m / n + (k < m % n);
    k++;
  }
  return 0;
}

void pacer__worker_give(pacer__worker_t *w, pacer__job_t *j)
{
  j->worker = w;
  j->started = 0;
  w->assigned++;
  pacer__list_push_back(&w->inbox, &j->link);
}

void pacer__worker_abort(pacer__worker_t *w, uint64_t id)
{
  if (w->naborts == w->aborts_cap) {
    size_t cap = w->aborts_cap ? w->aborts_cap * 2 : 16;
    uint64_t *a = realloc(w->aborts, cap * sizeof *a);
    if (!a) {
      /* No room to list it: the worker finds it by its cancel mark. */
      w->abort_scan = 1;
      pacer__worker_wake(w);
      return;
    }
    w->aborts = a;
    w->aborts_cap = cap;
  }
  w->aborts[w->naborts++] = id;
  pacer__worker_wake(w);
}

void pacer__worker_wake(pacer__worker_t *w)
{
  w->p->tx.wakeup(w->tx);
}
