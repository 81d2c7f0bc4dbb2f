/* SPDX-License-Identifier: MIT */
/* engine.c - a dispatcher's life: pacer_new() and pacer_free(), the
 * dispatcher thread that starts jobs and hands them to workers, cancel,
 * shutdown and drain, and the setters.
 *
 * Invariants: live counts every accepted job until its callback returned;
 * a job's id resolves (p->jobs) exactly while it is live; each job's
 * callback runs once, from pacer__deliver(), on the dispatcher or a worker
 * thread. */
#include "engine.h"
#include "deliver.h"
#include "handlers.h"
#include "log.h"
#include "shared.h"
#include "spool.h"
#include "thread.h"
#include "worker.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the dispatcher thread ---- */

/* mu held: hands started job j to a worker. Each active worker owns a fixed
 * share of the concurrency, the shares summing to it, and never runs more than
 * its share. A worker's connection pool (libcurl cannot share one across
 * threads) then never grows past its share, so the dispatcher as a whole opens
 * no more connections to a host than its concurrency. Whenever a global slot is
 * free some active worker is under its share, as retiring workers only hold
 * slots.
 * A worker whose inbox is empty goes first: one that has not yet taken what
 * it was given is not running (on a busy machine a thread may wait 100 ms
 * and more for a CPU), and jobs whose tokens are already taken would pile
 * up there and reach the server as one bunch when it runs again. */
static void assign(pacer_t *p, pacer__job_t *j, int64_t now)
{
  /* With max_host_connections below the number of active workers, only
   * that many take jobs (pacer__worker_takers()). */
  unsigned conc = p->sched.cfg.concurrency, n = pacer__worker_takers(p), k = 0;
  pacer__worker_t *best = NULL;
  uint64_t best_room = 0;
  int best_idle = 0;
  for (unsigned i = 0; i < p->nworkers && k < n; i++) {
    pacer__worker_t *w = p->workers[i];
    if (w->retiring)
      continue;
    unsigned share = conc / n + (k < conc % n);
    k++;
    /* Then most room left, relative to share, breaks ties towards
     * balance. */
    uint64_t room = share > w->assigned ? share - w->assigned : 0;
    int idle = pacer__list_empty(&w->inbox);
    if (room && (!best || idle > best_idle ||
                 (idle == best_idle && room > best_room))) {
      best = w;
      best_room = room;
      best_idle = idle;
    }
  }
  if (!best) { /* only after a lowered concurrency: keep the job moving */
    k = 0;
    for (unsigned i = 0; i < p->nworkers && k < n; i++) {
      if (p->workers[i]->retiring)
        continue;
      k++;
      if (!best || p->workers[i]->assigned < best->assigned)
        best = p->workers[i];
    }
  }
  pacer__worker_give(best, j);
  p->started++;
  if (j->attempts == 1)
    pacer__hist_add(&p->qwait[j->prio], (now - j->submit_ns) / 1000);
}

void pacer__emit(pacer_t *p, pacer_event_t *ev, int64_t now)
{
  if (!p->cfg.event_cb)
    return;
  ev->time_ms = now / 1000000;
  if (pacer__events_push(&p->events, ev) == 0) {
    pacer__kick(p);
  } else if (!p->events_warned) {
    p->events_warned = 1;
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "events: dropping new ones (%zu wait for the event callback, "
                "at most %d; or out of memory) until it catches up, counted "
                "in events_dropped",
                p->events.len, PACER__EVENTS_MAX);
  }
}

/* The scheduler's events hook (mu held). */
static void sched_emit(void *ctx, const pacer_event_t *ev)
{
  pacer_t *p = ctx;
  pacer_event_t e = *ev;
  pacer__emit(p, &e, (int64_t)ev->time_ms * 1000000);
}

static void *dispatcher_main(void *arg)
{
  pacer_t *p = arg;
  pacer__worker_t *towake[PACER__MAX_WORKERS];
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
      assign(p, j, now);
    /* The workers handed jobs are woken after mu is released: woken under
     * it, a worker would run straight into the held lock and sleep again
     * (two more context switches and futex calls per hand-off). waking
     * keeps a worker from being reaped meanwhile. */
    unsigned nwake = 0;
    for (unsigned i = 0; i < p->nworkers; i++)
      if (!pacer__list_empty(&p->workers[i]->inbox)) {
        towake[nwake++] = p->workers[i];
        p->workers[i]->waking = 1;
      }
    if (pacer__sched_backlog(&p->sched) < backlog)
      pthread_cond_broadcast(&p->room_cond);
    int deliver = !pacer__list_empty(&ended);
    /* Events first: a job the dispatcher ends (shed, expired) is told of
     * before its callback runs. */
    pacer__event_node_t *evs = pacer__events_take(&p->events);
    int told = evs != NULL;
    if (told)
      p->events_warned = 0; /* the next overflow is logged again */
    if (nwake || deliver || told) {
      pthread_mutex_unlock(&p->mu);
      for (unsigned i = 0; i < nwake; i++)
        pacer__worker_wake(towake[i]);
      pacer__deliver_events(p, evs);
      if (deliver)
        pacer__deliver(p, &ended);
      pthread_mutex_lock(&p->mu);
      for (unsigned i = 0; i < nwake; i++)
        towake[i]->waking = 0;
      if (deliver || told)
        continue;
    }
    if (p->disp_kicked || p->stopping) /* stopping: set while mu was free */
      continue;
    int64_t wake = pacer__sched_wake(&p->sched, now);
    p->disp_sleeping = 1;
    p->disp_woken = 0;
    p->disp_wake = wake;
    pthread_cond_broadcast(&p->pass_cond);
    p->clock.wait(p->clock.ctx, &p->disp_cond, &p->mu, wake);
    p->disp_sleeping = 0;
  }
  /* Stopping: every job has ended; what they told of is still told, and
   * what those callbacks made in turn. */
  pacer__event_node_t *evs;
  while ((evs = pacer__events_take(&p->events))) {
    pthread_mutex_unlock(&p->mu);
    pacer__deliver_events(p, evs);
    pthread_mutex_lock(&p->mu);
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

size_t pacer__waiting_resp_bytes(pacer_t *p, size_t *body)
{
  size_t all = 0, b = 0;
  pthread_mutex_lock(&p->mu);
  uint32_t pos = 0;
  const pacer__job_t *j;
  while ((j = pacer__jobs_next(&p->jobs, &pos))) {
    if (j->state != PACER__JOB_WAITING || !j->resp)
      continue;
    const pacer__resp_t *r = j->resp;
    b += r->body_cap;
    all += r->body_cap + r->hmem_cap + r->header_cap * sizeof *r->headers;
  }
  pthread_mutex_unlock(&p->mu);
  if (body)
    *body = b;
  return all;
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
  if (p->tx_share)
    p->tx.share_close(p->tx_share);
  /* Before the lock and the scheduler go: the store's notify uses both.
   * Closing stops its thread, so no notify runs after. */
  pacer__shared_close(p->shared);
  pacer__spool_close(p->spool); /* commits what is queued */
  pacer__handlers_free(p);
  free(p->workers);
  pacer__sched_destroy(&p->sched);
  pacer__config_release(&p->cfg);
  pacer__jobs_destroy(&p->jobs);
  pacer__events_destroy(&p->events);
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
    pacer__worker_wake(p->workers[i]);
  pthread_mutex_unlock(&p->mu);
  if (p->disp_started)
    pthread_join(p->disp, NULL);
}

/* mu held: starts one more active worker. */
static int add_worker(pacer_t *p)
{
  int rc = pacer__worker_start(p, &p->workers[p->nworkers]);
  if (rc == 0) {
    p->nworkers++;
    p->active++;
  }
  return rc;
}

/* A dispatcher with no thread yet: settings, scheduler, locks. 0 and *out,
 * or the error (nothing to free). */
static int make(const pacer_config_t *cfg, const pacer__clock_t *clock,
                const pacer__transport_t *tx, pacer_t **out)
{
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
  sc.seed = p->cfg.random_seed
                ? p->cfg.random_seed
                : (uint64_t)clock->now(clock->ctx) ^ (uint64_t)(uintptr_t)p;
  rc = pacer__sched_init(&p->sched, &sc);
  if (rc) {
    pacer__config_release(&p->cfg);
    free(p);
    return rc;
  }
  p->clock = *clock;
  p->tx = *tx;
  pacer__jobs_init(&p->jobs);
  pacer__list_init(&p->ended);
  pacer__events_init(&p->events, PACER__EVENTS_MAX);
  if (p->cfg.event_cb)
    pacer__sched_set_events(&p->sched, sched_emit, p);
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
  *out = p;
  return 0;
}

/* Opens the configured spool, if any. 0 or its error (logged). */
static int open_spool(pacer_t *p)
{
  if (!p->cfg.spool_path)
    return 0;
  char err[512];
  int rc = pacer__spool_open(p->cfg.spool_path,
                             p->cfg.spool_sync == PACER_SPOOL_FULL, &p->spool,
                             err, sizeof err);
  if (rc) {
    pacer__logf(&p->cfg, PACER_LOG_ERROR, "%s", err);
    return rc;
  }
  p->spool_first = pacer__spool_reserve(p->spool, 0);
  pacer__spool_set_log(p->spool, p->cfg.log_cb, p->cfg.log_user,
                       p->cfg.log_level);
  return 0;
}

/* The shared store's notify, on its own thread: takes parked on its
 * PENDING may now succeed. */
static void shared_notify(void *arg)
{
  pacer_t *p = arg;
  pthread_mutex_lock(&p->mu);
  pacer__sched_store_notify(&p->sched);
  pacer__kick(p);
  pthread_mutex_unlock(&p->mu);
}

/* The shared store's change of state, on its own thread: an event. */
static void shared_state(void *arg, int state, const char *msg)
{
  pacer_t *p = arg;
  pacer_event_t ev = {
      .type = PACER_EVENT_STORE, .store_state = state, .message = msg};
  pthread_mutex_lock(&p->mu);
  pacer__emit(p, &ev, p->clock.now(p->clock.ctx));
  pthread_mutex_unlock(&p->mu);
}

/* Opens the configured shared limit, if any, and gives it to the
 * scheduler. 0 or PACER_ESHARED (logged with the store's reason). */
static int open_shared(pacer_t *p)
{
  if (!p->cfg.shared_limit)
    return 0;
  char err[512];
  int rc = pacer__shared_open(p->cfg.shared_limit, &p->clock, shared_notify,
                              p->cfg.event_cb ? shared_state : NULL, p, &p->cfg,
                              &p->shared, err, sizeof err);
  if (rc) {
    pacer__logf(&p->cfg, PACER_LOG_ERROR, "shared limit %s: %s",
                p->cfg.shared_limit, err);
    return PACER_ESHARED;
  }
  pacer__store_ops_t ops;
  pacer__shared_ops(p->shared, &ops);
  pacer__sched_set_store(&p->sched, &ops);
  return 0;
}

int pacer__new_with(const pacer_config_t *cfg, const pacer__clock_t *clock,
                    const pacer__transport_t *tx, pacer_t **out)
{
  if (!out || !clock || !tx)
    return PACER_EINVAL;
  *out = NULL;
  pacer_t *p;
  int rc = make(cfg, clock, tx, &p);
  if (rc)
    return rc;
  p->workers = calloc(PACER__MAX_WORKERS, sizeof *p->workers);
  rc = p->workers ? open_spool(p) : PACER_ENOMEM;
  if (rc == 0)
    rc = open_shared(p);
  if (rc == 0 && p->tx.share_open)
    rc = p->tx.share_open(p->tx.ctx, &p->cfg, &p->tx_share);
  if (rc) {
    destroy(p);
    return rc;
  }
  pthread_mutex_lock(&p->mu);
  for (unsigned i = 0; i < p->cfg.workers && rc == 0; i++)
    rc = add_worker(p);
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

/* mu held; j is INFLIGHT. */
static void cancel_inflight(pacer_t *p, pacer__job_t *j)
{
  if (pacer__sched_cancel(&p->sched, j, &p->ended) != 0)
    return; /* already asked */
  /* A job still in its worker's inbox will not be started: no abort. */
  if (j->started)
    pacer__worker_abort(j->worker, j->id);
}

void pacer_free(pacer_t *p)
{
  if (!p)
    return;
  if (pacer__in_callback() == p) {
    fprintf(stderr, "pacer: pacer_free() called from a pacer callback; "
                    "this would wait for itself\n");
    abort();
  }
  pthread_mutex_lock(&p->mu);
  if (p->shutdown < 1 + PACER_SHUTDOWN_CANCEL)
    p->shutdown_queued = pacer__sched_backlog(&p->sched);
  p->shutdown = 1 + PACER_SHUTDOWN_CANCEL;
  p->cancel_pending = 1;
  uint32_t pos = 0;
  pacer__job_t *j;
  while ((j = pacer__jobs_next(&p->jobs, &pos)))
    if (j->state == PACER__JOB_INFLIGHT)
      cancel_inflight(p, j);
  pthread_cond_broadcast(&p->room_cond);
  pacer__kick(p);
  while (p->live > 0)
    p->clock.wait(p->clock.ctx, &p->drain_cond, &p->mu, INT64_MAX);
  pthread_mutex_unlock(&p->mu);
  stop_threads(p);
  destroy(p);
}

/* ---- cancel, shutdown, drain ---- */

int pacer_cancel(pacer_t *p, uint64_t id)
{
  if (!p)
    return PACER_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&p->mu);
  pacer__job_t *j = pacer__jobs_find(&p->jobs, id);
  if (!j || j->state == PACER__JOB_ENDED) {
    rc = PACER_ENOTFOUND;
  } else if (j->state == PACER__JOB_INFLIGHT) {
    if (j->cancel_req) {
      rc = PACER_ENOTFOUND;
    } else {
      j->user_cancel = 1;
      cancel_inflight(p, j);
    }
  } else {
    j->user_cancel = 1;
    pacer__sched_cancel(&p->sched, j, &p->ended);
    pthread_cond_broadcast(&p->room_cond);
    pacer__kick(p);
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_shutdown(pacer_t *p, pacer_shutdown_mode_t mode)
{
  if (!p || (mode != PACER_SHUTDOWN_FINISH && mode != PACER_SHUTDOWN_CANCEL &&
             mode != PACER_SHUTDOWN_ABORT))
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  /* The modes only go forward: FINISH, CANCEL, ABORT. */
  if (mode != PACER_SHUTDOWN_FINISH &&
      p->shutdown < 1 + PACER_SHUTDOWN_CANCEL) {
    /* Counted here, under the lock the queue is cancelled under, so a
     * snapshot taken after this call says how many will not start even
     * if the dispatcher has already taken them off the queue and their
     * callbacks (which count them in cancelled) have not yet run. */
    p->shutdown_queued = pacer__sched_backlog(&p->sched);
    p->shutdown = 1 + PACER_SHUTDOWN_CANCEL;
    p->cancel_pending = 1;
  } else if (!p->shutdown) {
    p->shutdown = 1 + PACER_SHUTDOWN_FINISH;
  }
  /* ABORT also ends the attempts in flight, as pacer_free() does (a job
   * handed to a worker and not yet started is dropped at its start). No
   * job starts after this: the dispatcher cancels the queue, under mu,
   * before it hands out another. */
  if (mode == PACER_SHUTDOWN_ABORT) {
    p->shutdown = 1 + PACER_SHUTDOWN_ABORT;
    uint32_t pos = 0;
    pacer__job_t *j;
    while ((j = pacer__jobs_next(&p->jobs, &pos)))
      if (j->state == PACER__JOB_INFLIGHT)
        cancel_inflight(p, j);
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
  if (pacer__in_callback())
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
      pacer__worker_wake(p->workers[i]); /* to pass on the new size */
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
    if (w->exited && !w->waking) {
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
    rc = add_worker(p);
  }
  for (unsigned i = p->nworkers; i-- > 0 && p->active > workers;) {
    pacer__worker_t *w = p->workers[i];
    if (!w->retiring) {
      w->retiring = 1;
      p->active--;
      pacer__worker_wake(w);
    }
  }
  if (rc == 0)
    p->cfg.workers = workers;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_key_limits_set(pacer_t *p, const char *key,
                         const pacer_key_limits_t *given)
{
  pacer_key_limits_t l, *lim = &l;
  if (!p || pacer__key_limits_copy(lim, given))
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

/* ---- every setting live ---- */

int pacer_config_get(pacer_t *p, pacer_config_t *cfg)
{
  if (!p)
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  int rc = pacer__config_copy_out(&p->cfg, cfg);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int pacer_reconfigure(pacer_t *p, const pacer_config_t *cfg)
{
  if (!p)
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  pacer_config_t want;
  const char *field;
  int rc = pacer__config_merge(&p->cfg, cfg, &want, &field);
  if (rc == 0) {
    pacer__sched_cfg_t sc;
    pacer__sched_cfg_from(&want, &sc);
    sc.seed = p->sched.cfg.seed; /* resolved once, by pacer_new() */
    rc = pacer__sched_reconfigure(&p->sched, &sc, p->clock.now(p->clock.ctx));
  }
  if (rc == 0) {
    unsigned conc = p->cfg.concurrency;
    pacer__config_apply(&p->cfg, &want);
    /* A raised bound or another policy may let a blocked submit on. */
    pthread_cond_broadcast(&p->room_cond);
    pacer__kick(p);
    if (conc != p->cfg.concurrency)
      for (unsigned i = 0; i < p->nworkers; i++)
        pacer__worker_wake(p->workers[i]); /* to pass on the new size */
  }
  pthread_mutex_unlock(&p->mu);
  if (rc && field)
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "reconfigure: %s cannot change while the dispatcher runs%s; "
                "nothing changed",
                field,
                strcmp(field, "workers") == 0 ? " (use pacer_set_workers())"
                                              : "");
  else if (rc)
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "reconfigure: refused (%s); nothing changed",
                pacer_strerror(rc));
  return rc;
}
