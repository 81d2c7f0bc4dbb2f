/* SPDX-License-Identifier: MIT */
/* engine.c - the public dispatcher API: submit, cancel, shutdown, drain,
 * setters and stats, and the dispatcher thread that starts jobs.
 *
 * Invariants: live counts every accepted job until its callback returned;
 * a job's id resolves (slots) exactly while it is live; each job's callback
 * runs once, from pacer__deliver(), on the dispatcher or a worker thread. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "engine.h"
#include "spool.h"
#include "http.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dispatcher whose callback this thread is running, if any. */
static _Thread_local pacer_t *in_callback;
/* The job whose callback this thread is running, and whether the callback
 * asked to keep it in the spool (pacer_keep()). */
static _Thread_local pacer__job_t *cb_job;
static _Thread_local int cb_keep;

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
  /* One wake-up is enough until the dispatcher runs again: the kicks in
   * between (a burst of submits or completions) need no futex call. */
  if (p->disp_sleeping && !p->disp_woken) {
    p->disp_woken = 1;
    pthread_cond_signal(&p->disp_cond);
  }
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
    int64_t first = j->first_start_ns ? j->first_start_ns : now;
    r.queue_us = (first - j->submit_ns) / 1000;
    r.transfer_us = j->attempts && j->attempt_end_ns > j->attempt_start_ns
                        ? (j->attempt_end_ns - j->attempt_start_ns) / 1000
                        : 0;
    r.total_us = (now - j->submit_ns) / 1000;
    r.tag = pacer__job_tag(j);
    r.tag_len = j->tag_len;
    r.handler = pacer__job_handler(j);
    r.kept = j->spool_id && j->error == PACER_ECANCELED && !j->user_cancel;
    pacer__job_t *outer_job = cb_job;
    int outer_keep = cb_keep;
    in_callback = p;
    cb_job = j;
    cb_keep = 0;
    j->cb(&r, j->user);
    int keep = r.kept || cb_keep;
    in_callback = outer;
    cb_job = outer_job;
    cb_keep = outer_keep;
    /* After the callback: at least once. */
    if (j->spool_id && !keep)
      pacer__spool_done(p->spool, j->spool_id, j->error == 0 && r.status < 400);
  }
  pthread_mutex_lock(&p->mu);
  for (pacer__link_t *l = ended->next; l != ended; l = l->next) {
    pacer__job_t *j = pacer__job_of(l);
    account_end(p, j);
    pacer__sched_release(&p->sched, j, now);
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

int pacer_keep(pacer_t *p, uint64_t id)
{
  if (!p || in_callback != p || !cb_job || cb_job->id != id ||
      !cb_job->spool_id)
    return PACER_EINVAL;
  cb_keep = 1;
  return 0;
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
    p->disp_woken = 0;
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

size_t pacer__waiting_resp_bytes(pacer_t *p, size_t *body)
{
  size_t all = 0, b = 0;
  pthread_mutex_lock(&p->mu);
  for (uint32_t i = 0; i < p->nslots; i++) {
    const pacer__job_t *j = p->slots[i];
    if (!j || j->state != PACER__JOB_WAITING || !j->resp)
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
  pacer__spool_close(p->spool); /* commits what is queued */
  while (p->handlers) {
    pacer__handler_t *h = p->handlers;
    p->handlers = h->next;
    free(h);
  }
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
  if (p->cfg.spool_path) {
    char err[512];
    rc = pacer__spool_open(p->cfg.spool_path,
                           p->cfg.spool_sync == PACER_SPOOL_FULL, &p->spool,
                           err, sizeof err);
    if (rc) {
      pacer__logf(&p->cfg, PACER_LOG_ERROR, "%s", err);
      destroy(p);
      return rc;
    }
    p->spool_first = pacer__spool_reserve(p->spool, 0);
    pacer__spool_set_log(p->spool, p->cfg.log_cb, p->cfg.log_user,
                         p->cfg.log_level);
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

/* mu held. The newest handler registered under name, or NULL. */
static pacer__handler_t *handler_find(pacer_t *p, const char *name)
{
  for (pacer__handler_t *h = p->handlers; h; h = h->next)
    if (strcmp(h->name, name) == 0)
      return h;
  return NULL;
}

int pacer_register_handler(pacer_t *p, const char *name, pacer_done_cb cb,
                           void *user)
{
  if (!p || !name || !*name || !cb)
    return PACER_EINVAL;
  size_t n = strlen(name) + 1;
  pacer__handler_t *h = malloc(sizeof *h + n);
  if (!h)
    return PACER_ENOMEM;
  h->cb = cb;
  h->user = user;
  memcpy(h->name, name, n);
  pthread_mutex_lock(&p->mu);
  h->next = p->handlers;
  p->handlers = h;
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* What one job of a submit needs until it is queued. */
typedef struct pending {
  pacer__job_t *job; /* NULL once queued */
  uint64_t id;
  char key[PACER__KEY_MAX];
} pending_t;

static int64_t wall_ms(pacer_t *p)
{
  return p->clock.wall(p->clock.ctx) / PACER__NS_PER_MS;
}

/* Builds the job of req (and its spool record). */
static int make_job(pacer_t *p, const pacer_request_t *in, pacer_done_cb cb,
                    void *user, uint64_t spool_id, int64_t now, pending_t *pd,
                    pacer__spool_rec_t *rec)
{
  pacer_request_t r;
  int rc = pacer__request_copy(&r, in);
  if (rc)
    return rc;
  pacer__handler_t *h = NULL;
  if (r.handler) {
    pthread_mutex_lock(&p->mu);
    h = handler_find(p, r.handler);
    pthread_mutex_unlock(&p->mu);
    if (!h)
      return PACER_EHANDLER;
  } else if (p->spool) {
    return PACER_EINVAL; /* a spooled job must name its handler */
  }
  if (!cb && !h)
    return PACER_EINVAL;

  /* A spooled job's Idempotency-Key, unless the request has one. */
  pacer_header_t *hdrs = NULL;
  char idem[64];
  if (spool_id && p->cfg.spool_idempotency_keys) {
    int has = 0;
    for (size_t i = 0; i < r.header_count && r.headers; i++)
      has |= strcasecmp(r.headers[i].name, "Idempotency-Key") == 0;
    if (!has) {
      hdrs = malloc((r.header_count + 1) * sizeof *hdrs);
      if (!hdrs)
        return PACER_ENOMEM;
      if (r.header_count)
        memcpy(hdrs, r.headers, r.header_count * sizeof *hdrs);
      snprintf(idem, sizeof idem, "pacer-%s-%llu", pacer__spool_uuid(p->spool),
               (unsigned long long)spool_id);
      hdrs[r.header_count].name = "Idempotency-Key";
      hdrs[r.header_count].value = idem;
      r.headers = hdrs;
      r.header_count++;
    }
  }
  rc = pacer__job_new(&r, &p->cfg, now, &pd->job, pd->key, sizeof pd->key);
  free(hdrs);
  if (rc)
    return rc;
  pacer__job_t *j = pd->job;
  j->cb = cb ? cb : h->cb;
  j->user = cb ? user : h->user;
  j->spool_id = spool_id;
  if (rec) {
    int64_t wall = wall_ms(p);
    memset(rec, 0, sizeof *rec);
    rec->id = spool_id;
    rec->state = PACER__SPOOL_QUEUED;
    rec->max_attempts = r.max_attempts;
    rec->deadline_ms = r.deadline_ms ? wall + r.deadline_ms : 0;
    rec->created_ms = wall;
    rec->timeout_ms = r.timeout_ms;
    rec->priority = (int)r.priority;
    rec->flags = r.flags;
    rec->handler = h->name;
    rec->key = r.key;
    rec->method = pacer__job_method(j);
    rec->url = pacer__job_url(j);
    rec->headers = pacer__job_headers(j);
    rec->headers_len = j->body_off - j->hdr_off;
    rec->body = j->body_len ? pacer__job_body(j) : NULL;
    rec->body_len = j->body_len;
    rec->tag = pacer__job_tag(j);
    rec->tag_len = j->tag_len;
    /* Refused alone here: in the spool it would fail a whole commit. */
    size_t size, max;
    if (!pacer__spool_fits(p->spool, rec, &size, &max)) {
      pacer__logf(&p->cfg, PACER_LOG_WARN,
                  "submit: a job of up to %zu bytes does not fit the spool "
                  "(SQLite's limit is %zu bytes a row)",
                  size, max);
      return PACER_ETOOLARGE;
    }
  }
  return 0;
}

/* mu held: queues pd's job. */
static int enqueue(pacer_t *p, pending_t *pd, int64_t now)
{
  pacer__job_t *j = pd->job;
  int rc = slot_alloc(p, j);
  if (rc)
    return rc;
  rc = pacer__sched_push(&p->sched, j, pd->key, now);
  if (rc) {
    slot_free(p, j);
    return rc;
  }
  p->live++;
  p->submitted++;
  pd->id = j->id;
  return 0;
}

/* mu held, and held since pd's job was queued by enqueue(): takes it out
 * again, unseen by any other thread, so a batch that fails part way accepts
 * nothing. The job stays in pd, to be freed as never accepted. */
static void unqueue(pacer_t *p, pending_t *pd)
{
  pacer__job_t *j = pd->job;
  pacer__link_t gone;
  pacer__list_init(&gone);
  pacer__sched_cancel(&p->sched, j, &gone); /* QUEUED: ends it, to gone */
  pacer__sched_release(&p->sched, j, p->clock.now(p->clock.ctx));
  slot_free(p, j);
  p->live--;
  p->submitted--;
  pd->id = 0;
}

static int submit_many(pacer_t *p, const pacer_request_t *reqs, size_t n,
                       pacer_done_cb cb, void *const *users, uint64_t *ids,
                       int block, size_t *bad, const char *mark)
{
  if (ids)
    for (size_t i = 0; i < n; i++)
      ids[i] = 0;
  if (bad)
    *bad = n;
  if (!p || (!reqs && n) || (mark && strlen(mark) > 4095))
    return PACER_EINVAL;
  if (n == 0) {
    if (!mark || !p->spool)
      return 0;
    char err[512];
    int rc = pacer__spool_add(p->spool, NULL, 0, mark, err, sizeof err);
    if (rc)
      pacer__logf(&p->cfg, PACER_LOG_ERROR, "mark: %s", err);
    return rc;
  }
  pending_t one, *pd = n == 1 ? &one : calloc(n, sizeof *pd);
  pacer__spool_rec_t rec1, *recs = NULL;
  if (!pd)
    return PACER_ENOMEM;
  pd[0].job = NULL;
  if (p->spool) {
    recs = n == 1 ? &rec1 : calloc(n, sizeof *recs);
    if (!recs) {
      free(pd);
      return PACER_ENOMEM;
    }
  }
  uint64_t base = p->spool ? pacer__spool_reserve(p->spool, n) : 0;
  int64_t now = p->clock.now(p->clock.ctx);
  int rc = 0;
  size_t made = 0;
  for (; made < n; made++) {
    rc = make_job(p, &reqs[made], cb, users ? users[made] : NULL,
                  base ? base + made : 0, now, &pd[made],
                  recs ? &recs[made] : NULL);
    if (rc) {
      if (bad) /* memory is no request's fault */
        *bad = rc == PACER_ENOMEM ? n : made;
      break;
    }
  }
  int from_cb = in_callback == p;
  size_t queued = 0;
  if (rc == 0) {
    pthread_mutex_lock(&p->mu);
    while (!p->shutdown &&
           pacer__sched_backlog(&p->sched) >= p->cfg.queue_max && !from_cb) {
      if (!block) {
        rc = PACER_EFULL;
        break;
      }
      p->clock.wait(p->clock.ctx, &p->room_cond, &p->mu, INT64_MAX);
    }
    if (rc == 0 && p->shutdown)
      rc = PACER_ESHUTDOWN;
    if (rc == 0 && p->spool) {
      /* Durable before accepted; other submitters go on meanwhile. */
      pthread_mutex_unlock(&p->mu);
      char err[512];
      rc = pacer__spool_add(p->spool, recs, n, mark, err, sizeof err);
      if (rc)
        pacer__logf(&p->cfg, PACER_LOG_ERROR, "submit: %s", err);
      pthread_mutex_lock(&p->mu);
      if (rc == 0 && p->shutdown) {
        rc = PACER_ESHUTDOWN;
        for (size_t i = 0; i < n; i++)
          pacer__spool_forget(p->spool, base + i);
      }
    }
    int stored = rc == 0 && p->spool; /* rows to forget on a late error */
    now = p->clock.now(p->clock.ctx);
    for (; rc == 0 && queued < n; queued++)
      if ((rc = enqueue(p, &pd[queued], now)))
        break;
    /* Only out of memory stops a batch part way. The lock has been held
     * since the first job was queued, so nothing has seen them: take them
     * out again, and the batch accepts nothing, as documented. */
    if (rc)
      while (queued > 0)
        unqueue(p, &pd[--queued]);
    if (queued > 0) {
      pacer__kick(p);
      for (size_t i = 0; i < n; i++) {
        pd[i].job = NULL; /* the scheduler's now */
        if (ids)
          ids[i] = pd[i].id;
      }
    }
    pthread_mutex_unlock(&p->mu);
    if (rc && stored)
      for (size_t i = 0; i < n; i++)
        pacer__spool_forget(p->spool, base + i);
  }
  for (size_t i = 0; i < n; i++)
    pacer__job_free(pd[i].job); /* not accepted */
  if (pd != &one)
    free(pd);
  if (recs != &rec1)
    free(recs);
  return rc;
}
int pacer_submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                 void *user, uint64_t *id)
{
  if (!req) {
    if (id)
      *id = 0;
    return PACER_EINVAL;
  }
  return submit_many(p, req, 1, cb, &user, id, 1, NULL, NULL);
}

int pacer_try_submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                     void *user, uint64_t *id)
{
  if (!req) {
    if (id)
      *id = 0;
    return PACER_EINVAL;
  }
  return submit_many(p, req, 1, cb, &user, id, 0, NULL, NULL);
}

int pacer_submit_batch(pacer_t *p, const pacer_request_t *reqs, size_t n,
                       pacer_done_cb cb, void *const *users, uint64_t *ids,
                       size_t *bad)
{
  return submit_many(p, reqs, n, cb, users, ids, 1, bad, NULL);
}

int pacer_submit_batch_marked(pacer_t *p, const pacer_request_t *reqs, size_t n,
                              pacer_done_cb cb, void *const *users,
                              uint64_t *ids, size_t *bad, const char *mark)
{
  return submit_many(p, reqs, n, cb, users, ids, 1, bad, mark);
}

/* ---- resume ---- */

typedef struct resume_ctx {
  pacer_t *p;
  pacer_resume_info_t info;
  int64_t now, wall;
} resume_ctx_t;

/* A stored wall-clock time on the monotonic clock; the past is now. */
static int64_t wall_to_now(const resume_ctx_t *c, int64_t ms)
{
  return ms <= c->wall ? c->now
                       : pacer__time_add(c->now, pacer__ms_to_ns(ms - c->wall));
}

/* resume_one(): the rows left are this run's own jobs. */
#define RESUME_STOP 1

/* Schedules one stored job again. */
static int resume_one(void *arg, const pacer__spool_rec_t *rec)
{
  resume_ctx_t *c = arg;
  pacer_t *p = c->p;
  /* Rows come in id order, and this run's jobs took the ids from
   * spool_first on: they are live here (or their row is about to go), and
   * loading them would run them twice. */
  if (rec->id >= p->spool_first)
    return RESUME_STOP;
  pthread_mutex_lock(&p->mu);
  pacer__handler_t *h = handler_find(p, rec->handler);
  pthread_mutex_unlock(&p->mu);
  if (!h) {
    c->info.no_handler++;
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "spool: job %llu names handler \"%s\", which is not "
                "registered; it stays in the spool",
                (unsigned long long)rec->id, rec->handler);
    return 0;
  }
  /* The header lines are stored NUL-terminated, as in the job. */
  size_t nh = 0;
  for (size_t i = 0; i < rec->headers_len; i++)
    nh += rec->headers[i] == '\0';
  pacer_header_t *hdrs = nh ? calloc(nh, sizeof *hdrs) : NULL;
  char *lines = rec->headers_len ? malloc(rec->headers_len) : NULL;
  if ((nh && !hdrs) || (rec->headers_len && !lines)) {
    free(hdrs);
    free(lines);
    return PACER_ENOMEM;
  }
  if (lines)
    memcpy(lines, rec->headers, rec->headers_len);
  size_t k = 0;
  if (lines && lines[rec->headers_len - 1] != '\0')
    nh = 0; /* not the stored form: no headers rather than a bad read */
  for (char *l = lines; l && l < lines + rec->headers_len && k < nh;) {
    size_t len = strlen(l);
    char *colon = strstr(l, ": ");
    if (colon) {
      *colon = '\0';
      hdrs[k].name = l;
      hdrs[k].value = colon + 2;
      k++;
    }
    l += len + 1;
  }
  pacer_request_t r;
  pacer_request_init(&r);
  r.method = rec->method;
  r.url = rec->url;
  r.headers = hdrs;
  r.header_count = k;
  r.body = rec->body;
  r.body_len = rec->body_len;
  r.priority = rec->priority ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
  r.key = rec->key;
  r.timeout_ms = rec->timeout_ms;
  r.max_attempts = rec->max_attempts;
  r.flags = rec->flags;
  r.handler = rec->handler;
  r.tag = rec->tag;
  r.tag_len = rec->tag_len;
  pending_t pd;
  pd.job = NULL;
  int rc = pacer__job_new(&r, &p->cfg, c->now, &pd.job, pd.key, sizeof pd.key);
  free(hdrs);
  free(lines);
  if (rc) {
    pacer__logf(&p->cfg, PACER_LOG_ERROR,
                "spool: job %llu cannot be rebuilt (%s); it stays in the spool",
                (unsigned long long)rec->id, pacer_strerror(rc));
    return rc == PACER_ENOMEM ? rc : 0;
  }
  pacer__job_t *j = pd.job;
  j->cb = h->cb;
  j->user = h->user;
  j->spool_id = rec->id;
  j->attempts = (uint16_t)(rec->attempts < j->max_attempts
                               ? rec->attempts
                               : (unsigned)j->max_attempts - 1u);
  if (rec->deadline_ms)
    j->deadline_ns = wall_to_now(c, rec->deadline_ms);
  int64_t due = rec->state == PACER__SPOOL_WAITING && rec->due_ms > c->wall
                    ? wall_to_now(c, rec->due_ms)
                    : 0;
  pthread_mutex_lock(&p->mu);
  /* Checked under the lock the shutdown takes: a job queued before it is
   * ended by it, as a submitted one; none is queued after it. */
  rc = p->shutdown ? PACER_ESHUTDOWN : slot_alloc(p, j);
  if (rc == 0) {
    rc = pacer__sched_push_due(&p->sched, j, pd.key, c->now, due);
    if (rc)
      slot_free(p, j);
  }
  if (rc == 0) {
    p->live++;
    p->submitted++;
    pacer__kick(p);
  }
  pthread_mutex_unlock(&p->mu);
  if (rc) {
    pacer__job_free(j);
    return rc;
  }
  c->info.loaded++;
  c->info.in_flight += rec->state == PACER__SPOOL_STARTED;
  return 0;
}

int pacer_resume(pacer_t *p, pacer_resume_info_t *info)
{
  if (pacer__resume_info_clear(info))
    return PACER_EINVAL;
  if (!p || !p->spool)
    return PACER_EINVAL;
  pthread_mutex_lock(&p->mu);
  int rc = p->resumed ? PACER_EINVAL : p->shutdown ? PACER_ESHUTDOWN : 0;
  p->resumed = 1;
  pthread_mutex_unlock(&p->mu);
  if (rc)
    return rc;
  resume_ctx_t c = {.p = p};
  c.now = p->clock.now(p->clock.ctx);
  c.wall = wall_ms(p);
  rc = pacer__spool_load(p->spool, resume_one, &c);
  pacer__resume_info_give(info, &c.info);
  return rc == RESUME_STOP ? 0 : rc;
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
      /* No room to list it: the worker finds it by its cancel mark. */
      w->abort_scan = 1;
      p->tx.wakeup(w->tx);
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
