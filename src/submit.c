/* SPDX-License-Identifier: MIT */
/* submit.c - pacer_submit() and its kin: each request checked and made into
 * a job, stored in the spool if there is one, then queued, all of a batch
 * or none of it.
 *
 * Invariants: a job is durable (its spool row committed) before it is
 * queued, and queued before submit returns its id; a submit that fails
 * accepts nothing (no job is queued, no id given, its spool rows are
 * forgotten), so no callback of it ever runs. */
#include "submit.h"
#include "config.h"
#include "deliver.h"
#include "handlers.h"
#include "log.h"
#include "spool.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int pacer__submit_accept(pacer_t *p, pacer__job_t *j, const char *key,
                         int64_t now, int64_t due)
{
  int rc = pacer__jobs_add(&p->jobs, j);
  if (rc)
    return rc;
  rc = pacer__sched_push_due(&p->sched, j, key, now, due);
  if (rc) {
    pacer__jobs_remove(&p->jobs, j);
    return rc;
  }
  p->live++;
  p->submitted++;
  return 0;
}

/* What one job of a submit needs until it is queued. */
typedef struct pending {
  pacer__job_t *job; /* NULL once queued */
  uint64_t id;
  char key[PACER__KEY_MAX];
} pending_t;

/* A batch on its way in: its jobs and their spool rows. */
typedef struct batch {
  pacer_t *p;
  size_t n;
  const char *mark;         /* stored with the rows; NULL: none */
  pending_t *pd, one;       /* pd is &one for a single job */
  pacer__spool_rec_t *recs; /* NULL: no spool; else &rec1 or an array */
  pacer__spool_rec_t rec1;
  uint64_t base; /* the first of the batch's spool ids; 0: no spool */
} batch_t;

/* The handler a request names (*h, NULL if none), checking that the job
 * will have a callback, and that a spooled one names its handler. */
static int find_handler(pacer_t *p, const pacer_request_t *r, pacer_done_cb cb,
                        const pacer__handler_t **h)
{
  *h = NULL;
  if (r->handler) {
    *h = pacer__handler_find(p, r->handler);
    if (!*h)
      return PACER_EHANDLER;
  } else if (p->spool) {
    return PACER_EINVAL; /* a spooled job must name its handler */
  }
  return !cb && !*h ? PACER_EINVAL : 0;
}

/* A spooled job's Idempotency-Key, unless the request has one: r's headers
 * become a copy in *hdrs (free it) with the key added, its value in
 * idem[64]. 0 or PACER_ENOMEM. */
static int add_idempotency_key(pacer_t *p, pacer_request_t *r,
                               uint64_t spool_id, char *idem,
                               pacer_header_t **hdrs)
{
  for (size_t i = 0; i < r->header_count && r->headers; i++)
    if (strcasecmp(r->headers[i].name, "Idempotency-Key") == 0)
      return 0;
  *hdrs = malloc((r->header_count + 1) * sizeof **hdrs);
  if (!*hdrs)
    return PACER_ENOMEM;
  if (r->header_count && r->headers)
    memcpy(*hdrs, r->headers, r->header_count * sizeof **hdrs);
  snprintf(idem, 64, "pacer-%s-%llu", pacer__spool_uuid(p->spool),
           (unsigned long long)spool_id);
  (*hdrs)[r->header_count].name = "Idempotency-Key";
  (*hdrs)[r->header_count].value = idem;
  r->headers = *hdrs;
  r->header_count++;
  return 0;
}

static int64_t wall_ms(pacer_t *p)
{
  return p->clock.wall(p->clock.ctx) / PACER__NS_PER_MS;
}

/* Fills the spool row of job j, made from r. A row over SQLite's limit is
 * refused alone here: in the spool it would fail a whole group commit. */
static int spool_row(pacer_t *p, const pacer_request_t *r,
                     const pacer__job_t *j, pacer__spool_rec_t *rec)
{
  pacer__spool_rec_from_request(rec, j->spool_id, r, pacer__job_headers(j),
                                j->body_off - j->hdr_off, wall_ms(p));
  size_t size, max;
  if (!pacer__spool_fits(p->spool, rec, &size, &max)) {
    pacer__logf(&p->cfg, PACER_LOG_WARN,
                "submit: a job of up to %zu bytes does not fit the spool "
                "(SQLite's limit is %zu bytes a row)",
                size, max);
    return PACER_ETOOLARGE;
  }
  return 0;
}

/* Builds the job of req into pd (and its spool row into rec, if any). The
 * job stays in pd on a late error, to be freed as never accepted. */
static int make_job(pacer_t *p, const pacer_request_t *in, pacer_done_cb cb,
                    void *user, uint64_t spool_id, int64_t now, pending_t *pd,
                    pacer__spool_rec_t *rec)
{
  pacer_request_t r;
  int rc = pacer__request_copy(&r, in);
  if (rc)
    return rc;
  const pacer__handler_t *h;
  if ((rc = find_handler(p, &r, cb, &h)))
    return rc;
  pacer_header_t *hdrs = NULL;
  char idem[64];
  if (spool_id && p->cfg.spool_idempotency_keys &&
      (rc = add_idempotency_key(p, &r, spool_id, idem, &hdrs)))
    return rc;
  rc = pacer__job_make(&r, &p->cfg, now, &pd->job, pd->key, sizeof pd->key);
  free(hdrs);
  if (rc)
    return rc;
  pacer__job_t *j = pd->job;
  j->cb = cb ? cb : h->cb;
  j->user = cb ? user : h->user;
  j->spool_id = spool_id;
  return rec ? spool_row(p, &r, j, rec) : 0;
}

/* mu held: queues pd's job. */
static int enqueue(pacer_t *p, pending_t *pd, int64_t now)
{
  int rc = pacer__submit_accept(p, pd->job, pd->key, now, 0);
  if (rc == 0)
    pd->id = pd->job->id;
  return rc;
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
  pacer__jobs_remove(&p->jobs, j);
  p->live--;
  p->submitted--;
  pd->id = 0;
}

/* mu held: the one place a job is shed (PACER_QUEUE_DROP_OLDEST_LOW). Ends
 * the oldest queued low job with PACER_ESHED to make room for a newer one;
 * the dispatcher thread runs its callback (never this submit, which may
 * return first), and deliver.c counts it in stats.shed. Returns 1, or 0
 * when no low job is queued. */
static int shed_oldest_low(pacer_t *p)
{
  pacer__job_t *j = pacer__sched_shed_oldest_low(&p->sched, &p->ended);
  if (!j)
    return 0;
  pacer_event_t ev = {.type = PACER_EVENT_SHED,
                      .key = j->key->name,
                      .job = j->id,
                      .message = "shed: the oldest queued low job made room "
                                 "in a full queue"};
  pacer__emit(p, &ev, p->clock.now(p->clock.ctx));
  pacer__kick(p);
  return 1;
}

/* mu held: waits for queue room as the queue policy says (read at each
 * look: it may change live), or, try_only, as pacer_try_submit() does
 * whatever the policy. Never waits from a callback, so a pipeline stage
 * cannot deadlock on a full queue: there it returns 0 where it would
 * wait. Under DROP_OLDEST_LOW a full queue with a low job queued is room
 * (accept_batch() sheds). *waited set to 1 if it waited. 0, PACER_EFULL
 * or PACER_ESHUTDOWN. */
static int wait_room(pacer_t *p, int try_only, int *waited)
{
  int from_cb = pacer__in_callback() == p;
  for (;;) {
    if (p->shutdown)
      return PACER_ESHUTDOWN;
    if (pacer__sched_backlog(&p->sched) < p->cfg.queue_max)
      return 0;
    int policy = p->cfg.queue_policy;
    if (try_only)
      return from_cb ? 0 : PACER_EFULL;
    if (policy == PACER_QUEUE_FAIL)
      return PACER_EFULL;
    if (policy == PACER_QUEUE_DROP_OLDEST_LOW &&
        p->sched.queued[PACER_PRIORITY_LOW] > 0)
      return 0;
    if (from_cb)
      return 0;
    *waited = 1;
    p->clock.wait(p->clock.ctx, &p->room_cond, &p->mu, INT64_MAX);
  }
}

/* mu held, before a batch of n is queued: how many jobs it sheds under
 * DROP_OLDEST_LOW: one for each of its jobs past the bound, while a low
 * job queued before it is left. Counted before the batch is queued, so
 * none of its own is shed: its jobs have the highest seqs, and shedding
 * takes the lowest. */
static size_t shed_count(const pacer_t *p, int try_only, size_t n)
{
  if (try_only || p->cfg.queue_policy != PACER_QUEUE_DROP_OLDEST_LOW)
    return 0;
  size_t backlog = pacer__sched_backlog(&p->sched), max = p->cfg.queue_max;
  size_t past = backlog + n > max ? backlog + n - max : 0;
  size_t lows = p->sched.queued[PACER_PRIORITY_LOW];
  if (past > n)
    past = n; /* one per job added, whatever the excess */
  return past < lows ? past : lows;
}

/* mu held, dropped meanwhile: stores the batch's rows. Durable before
 * accepted; other submitters go on meanwhile. */
static int store(batch_t *b)
{
  pacer_t *p = b->p;
  pthread_mutex_unlock(&p->mu);
  char err[512];
  int rc = pacer__spool_add(p->spool, b->recs, b->n, b->mark, err, sizeof err);
  if (rc)
    pacer__logf(&p->cfg, PACER_LOG_ERROR, "submit: %s", err);
  pthread_mutex_lock(&p->mu);
  if (rc == 0 && p->shutdown) {
    rc = PACER_ESHUTDOWN;
    for (size_t i = 0; i < b->n; i++)
      pacer__spool_forget(p->spool, b->base + i);
  }
  return rc;
}

/* Accepts every job of the made batch b, made at now, or none: ids[i]
 * (ids may be NULL) get their ids. */
static int accept_batch(batch_t *b, int try_only, uint64_t *ids, int64_t now)
{
  pacer_t *p = b->p;
  pthread_mutex_lock(&p->mu);
  int waited = 0;
  int rc = wait_room(p, try_only, &waited);
  if (rc == 0 && p->spool)
    rc = store(b);
  int stored = rc == 0 && p->spool; /* rows to forget on a late error */
  /* The jobs enter the queue at the time they were made, read once for
   * both (a clock read is a fair part of a submit's cost), unless the
   * submit waited here for room or for the spool: then their queue time
   * starts now. */
  if (waited || stored)
    now = p->clock.now(p->clock.ctx);
  size_t shed = rc == 0 ? shed_count(p, try_only, b->n) : 0;
  size_t queued = 0;
  for (; rc == 0 && queued < b->n; queued++)
    if ((rc = enqueue(p, &b->pd[queued], now)))
      break;
  /* Only out of memory stops a batch part way. The lock has been held
   * since the first job was queued, so nothing has seen them: take them
   * out again, and the batch accepts nothing, as documented. */
  if (rc)
    while (queued > 0)
      unqueue(p, &b->pd[--queued]);
  if (queued > 0) {
    /* Once the batch is in: a batch that fails sheds nothing. */
    while (shed-- > 0)
      (void)shed_oldest_low(p);
    pacer__kick(p);
    for (size_t i = 0; i < b->n; i++) {
      b->pd[i].job = NULL; /* the scheduler's now */
      if (ids)
        ids[i] = b->pd[i].id;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (rc && stored)
    for (size_t i = 0; i < b->n; i++)
      pacer__spool_forget(p->spool, b->base + i);
  return rc;
}

/* Sets up b for n (> 0) jobs; 0 or PACER_ENOMEM. */
static int batch_init(batch_t *b, pacer_t *p, size_t n, const char *mark)
{
  /* Field by field, not one memset: a key buffer and a spool row that
   * make_job() fills are most of b, and this runs on every submit. */
  b->p = p;
  b->n = n;
  b->mark = mark;
  b->one.job = NULL;
  b->one.id = 0;
  b->recs = NULL;
  b->base = 0;
  b->pd = n == 1 ? &b->one : calloc(n, sizeof *b->pd);
  if (!b->pd)
    return PACER_ENOMEM;
  if (p->spool) {
    memset(&b->rec1, 0, sizeof b->rec1);
    b->recs = n == 1 ? &b->rec1 : calloc(n, sizeof *b->recs);
    if (!b->recs) {
      if (b->pd != &b->one)
        free(b->pd);
      return PACER_ENOMEM;
    }
    b->base = pacer__spool_reserve(p->spool, n);
  }
  return 0;
}

/* Frees b and the jobs it still holds: those never accepted. */
static void batch_free(batch_t *b)
{
  for (size_t i = 0; i < b->n; i++)
    pacer__job_free(b->pd[i].job);
  if (b->pd != &b->one)
    free(b->pd);
  if (b->recs != &b->rec1)
    free(b->recs);
}

/* A mark alone (a batch of no job), stored if there is a spool. */
static int add_mark(pacer_t *p, const char *mark)
{
  if (!mark || !p->spool)
    return 0;
  char err[512];
  int rc = pacer__spool_add(p->spool, NULL, 0, mark, err, sizeof err);
  if (rc)
    pacer__logf(&p->cfg, PACER_LOG_ERROR, "mark: %s", err);
  return rc;
}

static int submit_many(pacer_t *p, const pacer_request_t *reqs, size_t n,
                       pacer_done_cb cb, void *const *users, uint64_t *ids,
                       int try_only, size_t *bad, const char *mark)
{
  if (ids)
    for (size_t i = 0; i < n; i++)
      ids[i] = 0;
  if (bad)
    *bad = n;
  if (!p || (!reqs && n) || (mark && strlen(mark) > 4095))
    return PACER_EINVAL;
  if (n == 0)
    return add_mark(p, mark);
  batch_t b;
  int rc = batch_init(&b, p, n, mark);
  if (rc)
    return rc;
  int64_t now = p->clock.now(p->clock.ctx);
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = make_job(p, &reqs[i], cb, users ? users[i] : NULL,
                  b.base ? b.base + i : 0, now, &b.pd[i],
                  b.recs ? &b.recs[i] : NULL);
    if (rc && bad) /* memory is no request's fault */
      *bad = rc == PACER_ENOMEM ? n : i;
  }
  if (rc == 0)
    rc = accept_batch(&b, try_only, ids, now);
  batch_free(&b);
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
  return submit_many(p, req, 1, cb, &user, id, 0, NULL, NULL);
}

int pacer_try_submit(pacer_t *p, const pacer_request_t *req, pacer_done_cb cb,
                     void *user, uint64_t *id)
{
  if (!req) {
    if (id)
      *id = 0;
    return PACER_EINVAL;
  }
  return submit_many(p, req, 1, cb, &user, id, 1, NULL, NULL);
}

int pacer_submit_batch(pacer_t *p, const pacer_request_t *reqs, size_t n,
                       pacer_done_cb cb, void *const *users, uint64_t *ids,
                       size_t *bad)
{
  return submit_many(p, reqs, n, cb, users, ids, 0, bad, NULL);
}

int pacer_submit_batch_marked(pacer_t *p, const pacer_request_t *reqs, size_t n,
                              pacer_done_cb cb, void *const *users,
                              uint64_t *ids, size_t *bad, const char *mark)
{
  return submit_many(p, reqs, n, cb, users, ids, 0, bad, mark);
}
