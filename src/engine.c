/* SPDX-License-Identifier: MIT */
/* engine.c - the public dispatcher API: submit, cancel, shutdown, drain,
 * setters and stats, and the dispatcher thread that starts jobs.
 *
 * Invariants: live counts every accepted job until its callback returned;
 * a job's id resolves (slots) exactly while it is live; each job's callback
 * runs once, from pacer__deliver(), on the dispatcher or a worker thread. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "engine.h"
#include "http.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dispatcher whose callback this thread is running, if any. */
static _Thread_local pacer_t *in_callback;

/* ---- logging ---- */

void pacer__logf(const pacer_config_t *cfg, pacer_log_level_t level,
                 const char *fmt, ...)
{
  if (!cfg->log_cb || level > cfg->log_level)
    return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  cfg->log_cb(level, buf, cfg->log_user);
}

/* ---- threads ---- */

int pacer__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                        const char *name)
{
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc)
    return PACER_ESYSTEM;
  pthread_setname_np(*t, name); /* cosmetic: a failure changes nothing */
  return 0;
}

/* ---- job ids ---- */

static int slot_alloc(pacer_t *p, pacer__job_t *j)
{
  uint32_t i;
  if (p->nfree) {
    i = p->free_slots[--p->nfree];
  } else {
    if (p->nslots == p->slots_cap) {
      uint32_t cap = p->slots_cap ? p->slots_cap * 2 : 1024;
      if (cap > UINT32_MAX / 2)
        return PACER_ENOMEM;
      pacer__job_t **s = realloc(p->slots, cap * sizeof *s);
      if (!s)
        return PACER_ENOMEM;
      p->slots = s;
      uint32_t *g = realloc(p->gens, cap * sizeof *g);
      if (!g)
        return PACER_ENOMEM;
      p->gens = g;
      uint32_t *f = realloc(p->free_slots, cap * sizeof *f);
      if (!f)
        return PACER_ENOMEM;
      p->free_slots = f;
      p->slots_cap = cap;
    }
    i = p->nslots++;
    p->gens[i] = 0;
  }
  p->gens[i]++;
  p->slots[i] = j;
  j->id = ((uint64_t)p->gens[i] << 32) | (uint64_t)(i + 1);
  return 0;
}

static pacer__job_t *slot_find(pacer_t *p, uint64_t id)
{
  uint64_t i = (id & 0xffffffffu) - 1;
  if ((id & 0xffffffffu) == 0 || i >= p->nslots)
    return NULL;
  pacer__job_t *j = p->slots[i];
  return j && j->id == id ? j : NULL;
}

static void slot_free(pacer_t *p, pacer__job_t *j)
{
  uint32_t i = (uint32_t)((j->id & 0xffffffffu) - 1);
  p->slots[i] = NULL;
  p->free_slots[p->nfree++] = i;
}

/* ---- shared with worker.c ---- */

void pacer__kick(pacer_t *p)
{
  p->disp_kicked = 1;
  if (p->disp_sleeping)
    pthread_cond_signal(&p->disp_cond);
}

/* Each active worker owns a fixed share of the concurrency, the shares
 * summing to it, and never runs more than its share. A worker's connection
 * pool (libcurl cannot share one across threads) then never grows past its
 * share, so the dispatcher as a whole opens no more connections to a host
 * than its concurrency. Whenever a global slot is free some active worker is
 * under its share, as retiring workers only hold slots. */
void pacer__assign(pacer_t *p, pacer__job_t *j, int64_t now)
{
  unsigned conc = p->sched.cfg.concurrency, n = p->active, k = 0;
  pacer__worker_t *best = NULL;
  uint64_t best_room = 0;
  for (unsigned i = 0; i < p->nworkers; i++) {
    pacer__worker_t *w = p->workers[i];
    if (w->retiring)
      continue;
    unsigned share = conc / n + (k++ < conc % n);
    /* Most room left, relative to share, breaks ties towards balance. */
    uint64_t room = share > w->assigned ? share - w->assigned : 0;
    if (room && (!best || room > best_room)) {
      best = w;
      best_room = room;
    }
  }
  if (!best) /* only after a lowered concurrency: keep the job moving */
    for (unsigned i = 0; i < p->nworkers; i++)
      if (!p->workers[i]->retiring &&
          (!best || p->workers[i]->assigned < best->assigned))
        best = p->workers[i];
  j->worker = best;
  j->started = 0;
  best->assigned++;
  pacer__list_push_back(&best->inbox, &j->link);
  p->started++;
  if (j->attempts == 1)
    pacer__hist_add(&p->qwait[j->prio], (now - j->submit_ns) / 1000);
}

static void account_end(pacer_t *p, const pacer__job_t *j)
{
  switch (j->error) {
  case 0:
    if (j->resp && j->resp->status >= 400)
      p->failed_http++;
    else
      p->succeeded++;
    break;
  case PACER_ETRANSPORT:
  case PACER_ETLS:
  case PACER_ESCHEME:
    p->failed_transport++;
    break;
  case PACER_ETIMEDOUT:
    p->failed_timeout++;
    break;
  case PACER_ETOOLARGE:
    p->failed_too_large++;
    break;
  case PACER_ERETRIES:
    p->failed_retries++;
    break;
  case PACER_EDEADLINE:
    p->failed_deadline++;
    break;
  case PACER_EBREAKER:
    p->failed_breaker++;
    break;
  case PACER_ECANCELED:
    p->cancelled++;
    break;
  case PACER_EEXPIRED:
    p->expired++;
    break;
  default:
    p->failed_other++;
  }
}

void pacer__deliver(pacer_t *p, pacer__link_t *ended)
{
  if (pacer__list_empty(ended))
    return;
  int64_t now = p->clock.now(p->clock.ctx);
  pacer_t *outer = in_callback;
  for (pacer__link_t *l = ended->next; l != ended; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    const pacer__resp_t *rs = j->resp;
    pacer_result_t r;
    memset(&r, 0, sizeof r);
    r.id = j->id;
    r.error = j->error;
    r.status = rs ? rs->status : 0;
    r.transport_code = rs ? rs->transport_code : 0;
    if (j->message)
      r.message = j->message;
    else if (j->error && rs && rs->message[0])
      r.message = rs->message;
    else
      r.message = j->error ? pacer_strerror(j->error) : "";
    r.headers = rs ? rs->headers : NULL;
    r.header_count = rs ? rs->header_count : 0;
    r.body = rs && rs->body ? rs->body : "";
    r.body_len = rs ? rs->body_len : 0;
    r.attempts = j->attempts;
    r.priority = (pacer_priority_t)j->prio;
    r.key = j->key->name;
    r.url = pacer__job_url(j);
    int64_t first = j->attempts ? j->first_start_ns : now;
    r.queue_us = (first - j->submit_ns) / 1000;
    r.transfer_us = j->attempts && j->attempt_end_ns > j->attempt_start_ns
                        ? (j->attempt_end_ns - j->attempt_start_ns) / 1000
                        : 0;
    r.total_us = (now - j->submit_ns) / 1000;
    in_callback = p;
    j->cb(&r, j->user);
    in_callback = outer;
  }
  pthread_mutex_lock(&p->mu);
  for (pacer__link_t *l = ended->next; l != ended; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    account_end(p, j);
    pacer__sched_release(&p->sched, j);
    slot_free(p, j);
    p->live--;
  }
  if (p->live == 0)
    pthread_cond_broadcast(&p->drain_cond);
  pthread_mutex_unlock(&p->mu);
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(ended)))
    pacer__job_free(pacer__job_of(l));
}

/* ---- the dispatcher thread ---- */

static void *dispatcher_main(void *arg)
{
  pacer_t *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->stopping) {
    int64_t now = p->clock.now(p->clock.ctx);
    p->disp_kicked = 0;
    pacer__link_t ended;
    pacer__list_init(&ended);
    pacer__list_splice(&ended, &p->ended);
    if (p->cancel_pending) {
      p->cancel_pending = 0;
      pacer__sched_cancel_all(&p->sched, &ended);
    }
    size_t backlog = pacer__sched_backlog(&p->sched);
    pacer__sched_tick(&p->sched, now, &ended);
    pacer__job_t *j;
    while ((j = pacer__sched_next(&p->sched, now, &ended)))
      pacer__assign(p, j, now);
    for (unsigned i = 0; i < p->nworkers; i++)
      if (!pacer__list_empty(&p->workers[i]->inbox))
        p->tx.wakeup(p->workers[i]->tx);
    if (pacer__sched_backlog(&p->sched) < backlog)
      pthread_cond_broadcast(&p->room_cond);
    if (!pacer__list_empty(&ended)) {
      pthread_mutex_unlock(&p->mu);
      pacer__deliver(p, &ended);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    if (p->disp_kicked)
      continue;
    int64_t wake = pacer__sched_wake(&p->sched, now);
    p->disp_sleeping = 1;
    p->disp_wake = wake;
    pthread_cond_broadcast(&p->pass_cond);
    p->clock.wait(p->clock.ctx, &p->disp_cond, &p->mu, wake);
    p->disp_sleeping = 0;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

void pacer__wait_idle(pacer_t *p)
{
  pthread_mutex_lock(&p->mu);
  while (!(p->disp_sleeping && !p->disp_kicked &&
           p->disp_wake > p->clock.now(p->clock.ctx) &&
           pacer__list_empty(&p->ended)))
    pthread_cond_wait(&p->pass_cond, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void pacer__wait_settled(pacer_t *p, uint64_t n)
{
  pthread_mutex_lock(&p->mu);
  while (p->settled < n)
    pthread_cond_wait(&p->pass_cond, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

/* ---- lifecycle ---- */

int pacer_new(const pacer_config_t *cfg, pacer_t **out)
{
  return pacer__new_with(cfg, &pacer__clock_real, &pacer__transport_curl, out);
}

static void destroy(pacer_t *p)
{
  for (unsigned i = 0; i < p->nworkers; i++)
    pacer__worker_join(p->workers[i]);
  free(p->workers);
  pacer__sched_destroy(&p->sched);
  pacer__config_release(&p->cfg);
  free(p->slots);
  free(p->gens);
  free(p->free_slots);
  pthread_cond_destroy(&p->disp_cond);
  pthread_cond_destroy(&p->room_cond);
  pthread_cond_destroy(&p->drain_cond);
  pthread_cond_destroy(&p->pass_cond);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static void stop_threads(pacer_t *p)
{
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_signal(&p->disp_cond);
  for (unsigned i = 0; i < p->nworkers; i++)
    p->tx.wakeup(p->workers[i]->tx);
  pthread_mutex_unlock(&p->mu);
  if (p->disp_started)
    pthread_join(p->disp, NULL);
}

int pacer__new_with(const pacer_config_t *cfg, const pacer__clock_t *clock,
                    const pacer__transport_t *tx, pacer_t **out)
{
  if (!out || !clock || !tx)
    return PACER_EINVAL;
  *out = NULL;
  pacer_t *p = calloc(1, sizeof *p);
  if (!p)
    return PACER_ENOMEM;
  int rc = pacer__config_resolve(cfg, &p->cfg);
  if (rc) {
    free(p);
    return rc;
  }
  pacer__sched_cfg_t sc;
  pacer__sched_cfg_from(&p->cfg, &sc);
  sc.seed = (uint64_t)clock->now(clock->ctx) ^ (uint64_t)(uintptr_t)p;
  rc = pacer__sched_init(&p->sched, &sc);
  if (rc) {
    pacer__config_release(&p->cfg);
    free(p);
    return rc;
  }
  p->clock = *clock;
  p->tx = *tx;
  pacer__list_init(&p->ended);
  for (int i = 0; i < 2; i++) {
    pacer__hist_init(&p->qwait[i]);
    pacer__hist_init(&p->xfer[i]);
  }
  if (pthread_mutex_init(&p->mu, NULL) || pacer__cond_init(&p->disp_cond) ||
      pacer__cond_init(&p->room_cond) || pacer__cond_init(&p->drain_cond) ||
      pacer__cond_init(&p->pass_cond)) {
    /* Only reachable when the system is out of resources; the objects that
     * did initialise hold no memory on Linux. */
    pacer__sched_destroy(&p->sched);
    pacer__config_release(&p->cfg);
    free(p);
    return PACER_ESYSTEM;
  }
  p->workers = calloc(PACER__MAX_WORKERS, sizeof *p->workers);
  if (!p->workers) {
    destroy(p);
    return PACER_ENOMEM;
  }
  pthread_mutex_lock(&p->mu);
  for (unsigned i = 0; i < p->cfg.workers && rc == 0; i++)
    rc = pacer__worker_start(p, &p->workers[p->nworkers]);
  pthread_mutex_unlock(&p->mu);
  if (rc == 0) {
    rc = pacer__thread_start(&p->disp, dispatcher_main, p, "pacer-dispatch");
    p->disp_started = rc == 0;
  }
  if (rc) {
    stop_threads(p);
    destroy(p);
    return rc;
  }
  if (!p->cfg.tls_verify)
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "TLS verification is off for every request of this "
                "dispatcher: peers are not authenticated");
  *out = p;
  return 0;
}

static void cancel_inflight(pacer_t *p, pacer__job_t *j);

void pacer_free(pacer_t *p)
{
  if (!p)
    return;
  if (in_callback == p) {
    fprintf(stderr, "pacer: pacer_free() called from a pacer callback; "
                    "this would wait for itself\n");
    abort();
  }
  pthread_mutex_lock(&p->mu);
  p->shutdown = 1 + PACER_SHUTDOWN_CANCEL;
  p->cancel_pending = 1;
  for (uint32_t i = 0; i < p->nslots; i++) {
    pacer__job_t *j = p->slots[i];
    if (j && j->state == PACER__JOB_INFLIGHT)
      cancel_inflight(p, j);
  }
  pthread_cond_broadcast(&p->room_cond);
  pacer__kick(p);
  while (p->live > 0)
    p->clock.wait(p->clock.ctx, &p->drain_cond, &p->mu, INT64_MAX);
  pthread_mutex_unlock(&p->mu);
  stop_threads(p);
  destroy(p);
}

/* ---- submit ---- */

static int submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                  void *user, uint64_t *id, int block)
{
  if (id)
    *id = 0;
  if (!p || !req || !cb)
    return PACER_EINVAL;
  char key[PACER__KEY_MAX];
  pacer__job_t *j;
  int rc = pacer__job_new(req, &p->cfg, p->clock.now(p->clock.ctx), &j, key,
                          sizeof key);
  if (rc)
    return rc;
  j->cb = cb;
  j->user = user;
  int from_cb = in_callback == p;

  pthread_mutex_lock(&p->mu);
  while (!p->shutdown && pacer__sched_backlog(&p->sched) >= p->cfg.queue_max &&
         !from_cb) {
    if (!block) {
      rc = PACER_EFULL;
      break;
    }
    p->clock.wait(p->clock.ctx, &p->room_cond, &p->mu, INT64_MAX);
  }
  if (rc == 0 && p->shutdown)
    rc = PACER_ESHUTDOWN;
  if (rc == 0)
    rc = slot_alloc(p, j);
  if (rc == 0) {
    rc = pacer__sched_push(&p->sched, j, key, p->clock.now(p->clock.ctx));
    if (rc)
      slot_free(p, j);
  }
  if (rc == 0) {
    p->live++;
    p->submitted++;
    if (id)
      *id = j->id;
    pacer__kick(p);
  }
  pthread_mutex_unlock(&p->mu);
  if (rc)
    pacer__job_free(j);
  return rc;
}

int pacer_submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                 void *user, uint64_t *id)
{
  return submit(p, req, cb, user, id, 1);
}

int pacer_try_submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                     void *user, uint64_t *id)
{
  return submit(p, req, cb, user, id, 0);
}

/* ---- cancel, shutdown, drain ---- */

/* mu held; j is INFLIGHT. */
static void cancel_inflight(pacer_t *p, pacer__job_t *j)
{
  if (pacer__sched_cancel(&p->sched, j, &p->ended) != 0)
    return; /* already asked */
  pacer__worker_t *w = j->worker;
  if (!j->started)
    return; /* still in the inbox: the worker will not start it */
  if (w->naborts == w->aborts_cap) {
    size_t cap = w->aborts_cap ? w->aborts_cap * 2 : 16;
    uint64_t *a = realloc(w->aborts, cap * sizeof *a);
    if (!a) {
      /* The cancel stands: the attempt ends on its own (it has a timeout)
       * and then ends the job as cancelled. */
      return;
    }
    w->aborts = a;
    w->aborts_cap = cap;
  }
  w->aborts[w->naborts++] = j->id;
  p->tx.wakeup(w->tx);
}

int pacer_cancel(pacer_t *p, uint64_t id)
{
  if (!p)
    return PACER_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  pacer__job_t *j = slot_find(p, id);
  if (!j || j->state == PACER__JOB_ENDED) {
    rc = PACER_ENOTFOUND;
  } else if (j->state == PACER__JOB_INFLIGHT) {
    if (j->cancel_req)
      rc = PACER_ENOTFOUND;
    else
      cancel_inflight(p, j);
  } else {
    pacer__sched_cancel(&p->sched, j, &p->ended);
    pthread_cond_broadcast(&p->room_cond);
    pacer__kick(p);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_shutdown(pacer_t *p, pacer_shutdown_mode_t mode)
{
  if (!p || (mode != PACER_SHUTDOWN_FINISH && mode != PACER_SHUTDOWN_CANCEL))
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  if (mode == PACER_SHUTDOWN_CANCEL &&
      p->shutdown != 1 + PACER_SHUTDOWN_CANCEL) {
    p->shutdown = 1 + PACER_SHUTDOWN_CANCEL;
    p->cancel_pending = 1;
  } else if (!p->shutdown) {
    p->shutdown = 1 + PACER_SHUTDOWN_FINISH;
  }
  pthread_cond_broadcast(&p->room_cond);
  pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

int pacer_drain(pacer_t *p, int64_t timeout_ms)
{
  if (!p)
    return PACER_EINVAL;
  if (in_callback)
    return PACER_EINCALLBACK;
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  int64_t deadline = timeout_ms < 0
                         ? INT64_MAX
                         : pacer__time_add(p->clock.now(p->clock.ctx),
                                           pacer__ms_to_ns(timeout_ms));
  while (p->live > 0) {
    if (deadline != INT64_MAX && p->clock.now(p->clock.ctx) >= deadline) {
      rc = PACER_ETIMEDOUT;
      break;
    }
    p->clock.wait(p->clock.ctx, &p->drain_cond, &p->mu, deadline);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* ---- setters ---- */

int pacer_set_rate(pacer_t *p, double rate, unsigned burst)
{
  if (!p)
    return PACER_EINVAL;
  if (burst == 0) {
    /* The same automatic burst as pacer_new(). */
    if (pacer__rate_check(rate, 1))
      return PACER_ERATE;
    burst = pacer__auto_burst(rate);
  }
  pthread_mutex_lock(&p->mu);
  int rc =
      pacer__sched_set_rate(&p->sched, rate, burst, p->clock.now(p->clock.ctx));
  if (rc == 0) {
    p->cfg.rate = rate;
    p->cfg.burst = burst;
    pacer__kick(p);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_set_concurrency(pacer_t *p, unsigned concurrency)
{
  if (!p)
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  int rc = pacer__sched_set_concurrency(&p->sched, concurrency);
  if (rc == 0) {
    p->cfg.concurrency = concurrency;
    pacer__kick(p);
    for (unsigned i = 0; i < p->nworkers; i++)
      p->tx.wakeup(p->workers[i]->tx); /* to pass on the new size */
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_set_workers(pacer_t *p, unsigned workers)
{
  if (!p)
    return PACER_EINVAL;
  if (workers < 1 || workers > PACER__MAX_WORKERS)
    return PACER_EWORKERS;
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  /* Reap workers that have retired and exited. */
  unsigned n = 0;
  for (unsigned i = 0; i < p->nworkers; i++) {
    pacer__worker_t *w = p->workers[i];
    if (w->exited) {
      pacer__worker_join(w);
    } else {
      p->workers[n++] = w;
    }
  }
  p->nworkers = n;
  while (p->active < workers && rc == 0) {
    if (p->nworkers == PACER__MAX_WORKERS) {
      rc = PACER_EWORKERS; /* retiring ones still hold places */
      break;
    }
    rc = pacer__worker_start(p, &p->workers[p->nworkers]);
  }
  for (unsigned i = p->nworkers; i-- > 0 && p->active > workers;) {
    pacer__worker_t *w = p->workers[i];
    if (!w->retiring) {
      w->retiring = 1;
      p->active--;
      p->tx.wakeup(w->tx);
    }
  }
  if (rc == 0)
    p->cfg.workers = workers;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_key_limits_set(pacer_t *p, const char *key,
                         const pacer_key_limits_t *lim)
{
  if (!p || !lim)
    return PACER_EINVAL;
  if (!key || !*key || strlen(key) >= PACER__KEY_MAX)
    return PACER_EKEY;
  pthread_mutex_lock(&p->mu);
  int rc =
      pacer__sched_set_key_limits(&p->sched, key, lim->rate, lim->burst,
                                  lim->concurrency, p->clock.now(p->clock.ctx));
  if (rc == 0)
    pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* ---- stats ---- */

int pacer_stats_get(pacer_t *p, pacer_stats_t **out)
{
  if (!p || !out)
    return PACER_EINVAL;
  *out = NULL;
  pacer_stats_t *s = calloc(1, sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  pthread_mutex_lock(&p->mu);
  int64_t now = p->clock.now(p->clock.ctx);
  s->submitted = p->submitted;
  s->started = p->started;
  s->succeeded = p->succeeded;
  s->failed_http = p->failed_http;
  s->failed_transport = p->failed_transport;
  s->failed_timeout = p->failed_timeout;
  s->failed_too_large = p->failed_too_large;
  s->failed_retries = p->failed_retries;
  s->failed_deadline = p->failed_deadline;
  s->failed_breaker = p->failed_breaker;
  s->failed_other = p->failed_other;
  s->retried = p->sched.retried;
  s->cancelled = p->cancelled;
  s->expired = p->expired;
  s->held_by_breaker = p->sched.held_by_breaker;
  s->queued_high = p->sched.queued[PACER_PRIORITY_HIGH] +
                   p->sched.waiting[PACER_PRIORITY_HIGH];
  s->queued_low = p->sched.queued[PACER_PRIORITY_LOW] +
                  p->sched.waiting[PACER_PRIORITY_LOW];
  s->in_flight = p->sched.inflight;
  for (int i = 0; i < 2; i++) {
    pacer__hist_summary(&p->qwait[i], &s->queue_wait[i]);
    pacer__hist_summary(&p->xfer[i], &s->transfer[i]);
  }
  int rc = 0;
  size_t n = p->sched.keys.count;
  s->keys = n ? calloc(n, sizeof *s->keys) : NULL;
  if (n && !s->keys)
    rc = PACER_ENOMEM;
  pacer__key_t *k, *tmp;
  HASH_ITER(hh, p->sched.keys.table, k, tmp)
  {
    if (rc)
      break;
    pacer_key_stats_t *ks = &s->keys[s->key_count];
    ks->key = strdup(k->name);
    if (!ks->key) {
      rc = PACER_ENOMEM;
      break;
    }
    s->key_count++;
    ks->breaker = p->cfg.breaker_enabled
                      ? pacer__breaker_state(&k->breaker, now)
                      : PACER_BREAKER_CLOSED;
    ks->queued = k->queued[0] + k->queued[1];
    ks->in_flight = k->inflight;
    ks->paused_ms =
        k->paused_until > now ? (k->paused_until - now + 999999) / 1000000 : 0;
  }
  pthread_mutex_unlock(&p->mu);
  if (rc) {
    pacer_stats_free(s);
    return rc;
  }
  *out = s;
  return 0;
}
