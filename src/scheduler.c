/* SPDX-License-Identifier: MIT */
/* scheduler.c - which job starts next, and what follows each attempt.
 *
 * Invariants (s->keys and every job are touched only under the engine lock):
 * - a key is in ready[p] iff parked == NONE and q[p] is not empty;
 * - a key is in the wake heap iff parked == TIME;
 * - a key is in the lows heap iff q[LOW] is not empty, whatever its park;
 * - a key with no queued job is parked NONE (so idle keys are in no heap);
 * - a job is in the timer heap iff it is QUEUED with a deadline or queue-wait
 *   limit, or WAITING;
 * - heaps have room reserved for every element they may hold, so nothing
 *   past push() can fail for lack of memory;
 * - a key is in store_waiting iff it is parked TIME on the store's
 *   PACER__SHARED_PENDING (park(), unpark() and key_place() take it out). */
#include "scheduler.h"
#include "clock.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIGH PACER_PRIORITY_HIGH
#define LOW PACER_PRIORITY_LOW

/* ---- events ---- */

/* A pause the store reports within this of one already told of is the
 * same pause (this process's own, read back through the store's clock). */
#define EVENT_PAUSE_SLACK_NS (INT64_C(100) * 1000000)

/* ns d >= 0 in whole ms, rounded up, without overflow. */
static int64_t ceil_ms(int64_t d)
{
  return d / 1000000 + (d % 1000000 != 0);
}

/* Hands ev (time set to now) to the events hook, if one is set. */
static void emit(pacer__sched_t *s, pacer_event_t *ev, int64_t now)
{
  ev->time_ms = now / 1000000;
  s->emit(s->emit_ctx, ev);
}

static const char *const breaker_names[] = {"closed", "open", "half-open"};

static void ev_breaker_step(pacer__sched_t *s, const pacer__key_t *k,
                            pacer_breaker_state_t from,
                            pacer_breaker_state_t to, int64_t now);

/* k's breaker moved since it was in state0 at generation gen0: tells of
 * the change. */
static void ev_breaker(pacer__sched_t *s, const pacer__key_t *k, uint32_t gen0,
                       pacer_breaker_state_t state0, int64_t now)
{
  if (!s->emit || k->breaker.gen == gen0)
    return;
  pacer_breaker_state_t to = k->breaker.state;
  /* Opened and half-opened again in one step (a probe's timeout with a
   * cooldown of 0): both changes are told, the opening with its cause. */
  if (to != PACER_BREAKER_OPEN && state0 != PACER_BREAKER_OPEN &&
      (uint32_t)(k->breaker.gen - gen0) >= 2 &&
      pacer__breaker_last_trip(&k->breaker).at_ns == now) {
    ev_breaker_step(s, k, state0, PACER_BREAKER_OPEN, now);
    state0 = PACER_BREAKER_OPEN;
  }
  if (to != state0) /* a closed breaker reset stays closed: nothing new */
    ev_breaker_step(s, k, state0, to, now);
}

/* One change of k's breaker, from to to. */
static void ev_breaker_step(pacer__sched_t *s, const pacer__key_t *k,
                            pacer_breaker_state_t from,
                            pacer_breaker_state_t to, int64_t now)
{
  pacer_event_t ev = {.type = PACER_EVENT_BREAKER,
                      .key = k->name,
                      .from = (int)from,
                      .to = (int)to};
  char msg[200];
  int n = snprintf(msg, sizeof msg, "breaker %s -> %s",
                   breaker_names[ev.from % 3], breaker_names[ev.to % 3]);
  if (ev.to == PACER_BREAKER_OPEN && n > 0 && (size_t)n < sizeof msg) {
    pacer__breaker_trip_t t = pacer__breaker_last_trip(&k->breaker);
    ev.ratio = t.failure_ratio;
    ev.slow_ratio = t.slow_ratio;
    ev.calls = t.calls;
    if (t.why & PACER__TRIP_TIMEOUT)
      snprintf(msg + n, sizeof msg - (size_t)n, ": a probe had no outcome");
    else if (t.why & PACER__TRIP_PROBE)
      snprintf(msg + n, sizeof msg - (size_t)n, ": a probe %s",
               t.why & PACER__TRIP_SLOW ? "was slow" : "failed");
    else
      snprintf(msg + n, sizeof msg - (size_t)n,
               ": %.0f%% failed, %.0f%% slow of the last %u",
               100 * t.failure_ratio, 100 * t.slow_ratio, t.calls);
  }
  ev.message = msg;
  emit(s, &ev, now);
}

/* k was paused until until for reason: tells of it. */
static void ev_pause(pacer__sched_t *s, pacer__key_t *k, int64_t until,
                     pacer_event_reason_t reason, int64_t now)
{
  if (!s->emit)
    return;
  k->event_pause = until;
  pacer_event_t ev = {.type = PACER_EVENT_PAUSE,
                      .key = k->name,
                      .reason = reason,
                      .duration_ms = ceil_ms(until - now)};
  char msg[160];
  snprintf(msg, sizeof msg, "paused %.3f s (%s)", (double)(until - now) / 1e9,
           reason == PACER_REASON_RETRY_AFTER ? "429/503 Retry-After"
           : reason == PACER_REASON_ANNOUNCED ? "announced quota spent"
                                              : "paused by another process");
  ev.message = msg;
  emit(s, &ev, now);
}

/* k's gate found it no longer paused: tells of the end of the pause last
 * told of, if any. */
static void ev_resume(pacer__sched_t *s, pacer__key_t *k, int64_t now)
{
  if (!k->event_pause)
    return;
  k->event_pause = 0;
  if (!s->emit)
    return;
  pacer_event_t ev = {
      .type = PACER_EVENT_RESUME, .key = k->name, .message = "pause over"};
  emit(s, &ev, now);
}

/* k's bucket was just set to rate r: tells why. */
static void ev_rate(pacer__sched_t *s, const pacer__key_t *k, double r,
                    int64_t now)
{
  if (!s->emit)
    return;
  pacer_event_t ev = {.type = PACER_EVENT_RATE, .key = k->name, .rate = r};
  const char *why = "back on its configured limits";
  if (k->adapt.reason == PACER__ADAPT_ANNOUNCED) {
    ev.reason = PACER_REASON_ANNOUNCED;
    why = "spreading the quota its server announced";
  } else if (k->adapt.reason == PACER__ADAPT_AIMD) {
    ev.reason = PACER_REASON_AIMD;
    why = "after a 429 or 503 with no guidance";
  }
  char msg[160];
  if (r > 0)
    snprintf(msg, sizeof msg, "rate %g/s: %s", r, why);
  else
    snprintf(msg, sizeof msg, "no rate: %s", why);
  ev.message = msg;
  emit(s, &ev, now);
}

/* j's next attempt was scheduled delay ns from now after its attempt ended
 * as end said (ra >= 0: a Retry-After set the delay). */
static void ev_retry(pacer__sched_t *s, const pacer__job_t *j,
                     const pacer__attempt_end_t *end, int64_t delay, int64_t ra,
                     int64_t now)
{
  if (!s->emit)
    return;
  pacer_event_t ev = {.type = PACER_EVENT_RETRY,
                      .key = j->key->name,
                      .job = j->id,
                      .reason = ra >= 0 ? PACER_REASON_RETRY_AFTER
                                        : PACER_REASON_BACKOFF,
                      .attempt = j->attempts,
                      .delay_ms = ceil_ms(delay),
                      .status = end->status,
                      .error = end->error};
  char msg[160];
  if (end->error)
    snprintf(msg, sizeof msg, "attempt %u: %s; retry in %.3f s", j->attempts,
             pacer_err_name(end->error), (double)delay / 1e9);
  else
    snprintf(msg, sizeof msg, "attempt %u: status %d; retry in %.3f s",
             j->attempts, end->status, (double)delay / 1e9);
  ev.message = msg;
  emit(s, &ev, now);
}

void pacer__sched_set_events(pacer__sched_t *s,
                             void (*fn)(void *ctx, const pacer_event_t *ev),
                             void *ctx)
{
  s->emit = fn;
  s->emit_ctx = ctx;
}

/* ---- heap adapters ---- */

static pacer__job_t *head_job(const pacer__key_t *k, int p)
{
  return pacer__job_of(k->q[p].next);
}
static int64_t ready_key_high(const void *e)
{
  return (int64_t)head_job(e, HIGH)->seq;
}
static int64_t ready_key_low(const void *e)
{
  return (int64_t)head_job(e, LOW)->seq;
}
static uint32_t *ready_pos_high(void *e)
{
  return &((pacer__key_t *)e)->ready_pos[HIGH];
}
static uint32_t *ready_pos_low(void *e)
{
  return &((pacer__key_t *)e)->ready_pos[LOW];
}
static uint32_t *low_pos(void *e)
{
  return &((pacer__key_t *)e)->low_pos;
}
static int64_t wake_key(const void *e)
{
  return ((const pacer__key_t *)e)->wake_ns;
}
static uint32_t *wake_pos(void *e)
{
  return &((pacer__key_t *)e)->wake_pos;
}
static int64_t timer_key(const void *e)
{
  return ((const pacer__job_t *)e)->timer_ns;
}
static uint32_t *timer_pos(void *e)
{
  return &((pacer__job_t *)e)->timer_pos;
}

/* ---- setup ---- */

/* 0 when cfg is a configuration the scheduler can run, else the code
 * naming what is wrong. */
static int cfg_check(const pacer__sched_cfg_t *cfg)
{
  if (cfg->concurrency < 1)
    return PACER_ECONCURRENCY;
  if (cfg->weight[HIGH] + cfg->weight[LOW] == 0 ||
      cfg->weight[HIGH] > 1000000 || cfg->weight[LOW] > 1000000)
    return PACER_EINVAL;
  if (cfg->max_low_wait_ns < 0 || cfg->max_queue_wait_ns < 0 ||
      cfg->backoff_base_ns < 0 || cfg->backoff_max_ns < 0 ||
      cfg->retry_after_max_ns < 0)
    return PACER_EINVAL;
  int rc = pacer__rate_check(cfg->rate, cfg->burst);
  if (rc)
    return rc;
  rc = pacer__rate_check(cfg->key_rate, cfg->key_burst ? cfg->key_burst : 1);
  if (rc)
    return rc;
  if (cfg->breaker_enabled && pacer__breaker_cfg_check(&cfg->breaker))
    return PACER_EINVAL;
  if ((cfg->adapt.announced || cfg->adapt.aimd) &&
      (!(cfg->adapt.min_rate > 0) ||
       pacer__rate_check(cfg->adapt.min_rate, 1) ||
       cfg->adapt.pause_max_ns < 0))
    return PACER_EINVAL;
  if (pacer__concur_cfg_check(cfg->concur.min, cfg->concur.max))
    return PACER_ECONCURRENCY;
  if (cfg->budget.ratio > 0 && pacer__budget_cfg_check(&cfg->budget))
    return PACER_EINVAL;
  if (cfg->max_attempts < 1 || cfg->max_attempts > 1000)
    return PACER_EINVAL;
  return 0;
}

int pacer__sched_init(pacer__sched_t *s, const pacer__sched_cfg_t *cfg)
{
  memset(s, 0, sizeof *s);
  s->cfg = *cfg;
  int rc = cfg_check(cfg);
  if (rc)
    return rc;
  rc = pacer__bucket_init(&s->bucket, cfg->rate, cfg->burst);
  if (rc)
    return rc;
  pacer__keys_init(&s->keys, cfg->max_idle_keys, &s->cfg.breaker, cfg->key_rate,
                   cfg->key_burst, cfg->key_concurrency);
  s->keys.budget_cfg = s->cfg.budget.ratio > 0 ? &s->cfg.budget : NULL;
  pacer__budget_init(&s->budget);
  pacer__heap_init(&s->ready[HIGH], ready_key_high, ready_pos_high);
  pacer__heap_init(&s->ready[LOW], ready_key_low, ready_pos_low);
  pacer__heap_init(&s->lows, ready_key_low, low_pos);
  pacer__heap_init(&s->wake, wake_key, wake_pos);
  pacer__heap_init(&s->timers, timer_key, timer_pos);
  pacer__rng_seed(&s->rng, cfg->seed);
  pacer__list_init(&s->store_waiting);
  return 0;
}

void pacer__sched_destroy(pacer__sched_t *s)
{
  pacer__heap_destroy(&s->ready[HIGH]);
  pacer__heap_destroy(&s->ready[LOW]);
  pacer__heap_destroy(&s->lows);
  pacer__heap_destroy(&s->wake);
  pacer__heap_destroy(&s->timers);
  pacer__keys_destroy(&s->keys);
}

/* ---- key placement ---- */

static int key_has_queued(const pacer__key_t *k)
{
  return k->queued[HIGH] + k->queued[LOW] > 0;
}

static void store_unwait(pacer__key_t *k)
{
  if (pacer__linked(&k->store_wait))
    pacer__list_unlink(&k->store_wait);
}

/* Puts k where it belongs after its queues or park state changed. */
static void key_place(pacer__sched_t *s, pacer__key_t *k)
{
  if (!key_has_queued(k))
    store_unwait(k);
  if (!key_has_queued(k) && k->parked != PACER__PARK_NONE) {
    pacer__heap_remove(&s->wake, k);
    k->parked = PACER__PARK_NONE;
  }
  for (int p = 0; p < 2; p++) {
    int want = k->parked == PACER__PARK_NONE && k->queued[p] > 0;
    int in = k->ready_pos[p] != PACER__HEAP_NONE;
    if (want && in)
      pacer__heap_update(&s->ready[p], k);
    else if (want)
      (void)pacer__heap_push(&s->ready[p], k); /* room reserved */
    else if (in)
      pacer__heap_remove(&s->ready[p], k);
  }
  /* The lows heap holds parked keys too: shedding must see every queued
   * low job, and a parked key's is often the oldest. */
  if (k->queued[LOW] == 0)
    pacer__heap_remove(&s->lows, k);
  else if (k->low_pos == PACER__HEAP_NONE)
    (void)pacer__heap_push(&s->lows, k); /* room reserved */
  else
    pacer__heap_update(&s->lows, k);
}

static void park(pacer__sched_t *s, pacer__key_t *k, int64_t until)
{
  store_unwait(k);
  if (until == INT64_MAX) {
    pacer__heap_remove(&s->wake, k);
    k->parked = PACER__PARK_SLOT;
  } else {
    k->wake_ns = until;
    if (k->parked == PACER__PARK_TIME)
      pacer__heap_update(&s->wake, k);
    else
      (void)pacer__heap_push(&s->wake, k); /* room reserved */
    k->parked = PACER__PARK_TIME;
  }
  key_place(s, k);
}

static void unpark(pacer__sched_t *s, pacer__key_t *k)
{
  store_unwait(k);
  if (k->parked == PACER__PARK_NONE)
    return;
  pacer__heap_remove(&s->wake, k);
  k->parked = PACER__PARK_NONE;
  key_place(s, k);
}

/* ---- job timers ---- */

static void timer_set(pacer__sched_t *s, pacer__job_t *j, int64_t at)
{
  if (at == INT64_MAX) {
    pacer__heap_remove(&s->timers, j);
    return;
  }
  j->timer_ns = at;
  if (j->timer_pos == PACER__HEAP_NONE)
    (void)pacer__heap_push(&s->timers, j); /* room reserved */
  else
    pacer__heap_update(&s->timers, j);
}

static void end_job(pacer__job_t *j, int error, const char *msg,
                    pacer__link_t *ended)
{
  j->state = PACER__JOB_ENDED;
  j->error = error;
  j->message = msg;
  if (ended)
    pacer__list_push_back(ended, &j->link);
}

/* Takes a QUEUED job out of its key's queue (not out of the timers). */
static void dequeue(pacer__sched_t *s, pacer__job_t *j)
{
  pacer__key_t *k = j->key;
  pacer__list_unlink(&j->link);
  k->queued[j->prio]--;
  s->queued[j->prio]--;
  key_place(s, k);
}

/* ---- push ---- */

int pacer__sched_push(pacer__sched_t *s, pacer__job_t *job,
                      const char *key_name, int64_t now)
{
  return pacer__sched_push_due(s, job, key_name, now, 0);
}

int pacer__sched_push_due(pacer__sched_t *s, pacer__job_t *job,
                          const char *key_name, int64_t now, int64_t due)
{
  size_t jobs = pacer__sched_backlog(s) + s->inflight + 1;
  if (jobs > UINT32_MAX - 1 ||
      pacer__heap_reserve(&s->timers, (uint32_t)jobs) != 0)
    return PACER_ENOMEM;
  pacer__key_t *k = pacer__keys_acquire(&s->keys, key_name);
  if (!k)
    return PACER_ENOMEM;
  uint32_t nkeys = (uint32_t)s->keys.count;
  if (pacer__heap_reserve(&s->ready[HIGH], nkeys) ||
      pacer__heap_reserve(&s->ready[LOW], nkeys) ||
      pacer__heap_reserve(&s->lows, nkeys) ||
      pacer__heap_reserve(&s->wake, nkeys)) {
    pacer__keys_release(&s->keys, k, now);
    return PACER_ENOMEM;
  }
  job->key = k;
  job->seq = ++s->seq;
  job->timer_pos = PACER__HEAP_NONE;
  if (due > now) { /* a retry still to wait for (a resumed job) */
    job->state = PACER__JOB_WAITING;
    s->waiting[job->prio]++;
    /* A waiting job must be in the timer heap, where cancel_all() and the
     * clock find it; INT64_MAX means "no timer", so a due time saturated
     * there (a stored retry centuries ahead) waits just short of it. */
    int64_t at = due < job->deadline_ns ? due : job->deadline_ns;
    timer_set(s, job, at < INT64_MAX ? at : INT64_MAX - 1);
    return 0;
  }
  job->state = PACER__JOB_QUEUED;
  job->timer_pos = PACER__HEAP_NONE;
  int64_t expire = s->cfg.max_queue_wait_ns
                       ? pacer__time_add(now, s->cfg.max_queue_wait_ns)
                       : INT64_MAX;
  pacer__list_push_back(&k->q[job->prio], &job->link);
  k->queued[job->prio]++;
  s->queued[job->prio]++;
  key_place(s, k);
  int64_t at = job->deadline_ns < expire ? job->deadline_ns : expire;
  timer_set(s, job, at);
  return 0;
}

/* ---- time ---- */

static void requeue(pacer__sched_t *s, pacer__job_t *j, int64_t now)
{
  pacer__key_t *k = j->key;
  s->waiting[j->prio]--;
  j->state = PACER__JOB_QUEUED;
  /* A retry goes first within its key and priority. */
  pacer__list_push_front(&k->q[j->prio], &j->link);
  k->queued[j->prio]++;
  s->queued[j->prio]++;
  key_place(s, k);
  timer_set(s, j, j->deadline_ns);
}

void pacer__sched_tick(pacer__sched_t *s, int64_t now, pacer__link_t *ended)
{
  pacer__key_t *k;
  while ((k = pacer__heap_top(&s->wake)) && k->wake_ns <= now)
    unpark(s, k);

  pacer__job_t *j;
  while ((j = pacer__heap_top(&s->timers)) && j->timer_ns <= now) {
    pacer__heap_pop(&s->timers);
    if (j->state == PACER__JOB_QUEUED) {
      dequeue(s, j);
      if (j->deadline_ns <= now)
        end_job(j, PACER_EDEADLINE, "deadline passed while queued", ended);
      else
        end_job(j, PACER_EEXPIRED, "queue wait limit passed", ended);
    } else if (j->deadline_ns <= now) {
      s->waiting[j->prio]--;
      end_job(j, PACER_EDEADLINE, "deadline passed while waiting to retry",
              ended);
    } else {
      requeue(s, j, now);
    }
  }
}

/* ---- shared limits ---- */

/* Is the global bucket drawn from the store? */
static int store_global(const pacer__sched_t *s)
{
  return s->has_store && s->cfg.rate > 0;
}

/* The rate the store holds k to at now from an announced quota (this
 * process's or another's, scheduler.h), 0: none, or -1: the store has yet
 * to find out (PACER__SHARED_PENDING; never with peek, which has no side
 * effect: stats). *until (may be NULL) gets the record's end. */
static double store_learned(const pacer__sched_t *s, const pacer__key_t *k,
                            int64_t now, int peek, int64_t *until)
{
  double r = 0;
  if (until)
    *until = 0;
  if (!s->has_store || !s->cfg.adapt.announced)
    return 0;
  int64_t u = s->store.learned(s->store.ctx, k->name, now, &r, peek);
  if (u == PACER__SHARED_PENDING)
    return -1;
  if (u <= now)
    return 0;
  if (until)
    *until = u;
  return r;
}

/* The rate k draws from the store given what the store learned (l, as
 * store_learned() says): its configured rate, or the learned one when lower
 * or none is configured; 0: k draws nothing from the store. */
static double store_rate(const pacer__key_t *k, double l)
{
  return l > 0 && !(k->base_rate > 0 && k->base_rate <= l) ? l : k->base_rate;
}

/* Writes what k's latest answer announced to the store, for the fleet
 * (announced: the answer carried a quota): the rate to the window's end,
 * then the quota's pace in the next window, to its end (unless the key
 * already rolled into a window of its own guessing, as pacer__adapt_expire()
 * does once), so that a process which has had no answer of its own lately
 * is not unpaced between the window's end and the next answer. Paused to
 * the window's end (its quota spent, or a Retry-After), the key's rate in
 * the window is moot: what is written then is the pace of the next window,
 * to the end of that one. An announcement that leaves the key on its
 * configured limits (the quota allows more) clears the record: the latest
 * announcement wins. A window that ends now writes nothing (the roll into
 * the next window does, at the key's gate). */
static void store_learn(pacer__sched_t *s, const pacer__key_t *k, int64_t now,
                        int announced)
{
  const pacer__adapt_t *a = &k->adapt;
  if (!s->has_store || !s->cfg.adapt.announced)
    return;
  int next = a->next_rate > 0 && a->window_ns > 0;
  int64_t next_end = next ? pacer__time_add(a->until_ns, a->window_ns) : 0;
  if (a->reason != PACER__ADAPT_ANNOUNCED) {
    if (announced)
      s->store.learn(s->store.ctx, k->name, 0, 0, 0, 0);
  } else if (k->paused_until >= a->until_ns && next) {
    s->store.learn(s->store.ctx, k->name, a->next_rate, next_end, 0, 0);
  } else if (a->until_ns > now) {
    if (a->rolled || !next)
      s->store.learn(s->store.ctx, k->name, a->rate, a->until_ns, 0, 0);
    else
      s->store.learn(s->store.ctx, k->name, a->rate, a->until_ns, a->next_rate,
                     next_end);
  }
}

/* Sets k's bucket to the rate it is now held to (adapted or configured),
 * keeping the tokens it has as far as the burst allows. */
static void key_retune(pacer__sched_t *s, pacer__key_t *k, int64_t now)
{
  double r = pacer__adapt_rate(&k->adapt, k->base_rate);
  if (r != k->event_rate)
    ev_rate(s, k, r, now);
  k->event_rate = r;
  /* Both come from checked settings; a burst too long for a slow adapted
   * rate (burst x interval over 100 years) falls back to 1. */
  if (pacer__bucket_set(&k->bucket, r, k->base_burst, now))
    (void)pacer__bucket_set(&k->bucket, r, 1, now);
}

/* The store refused k's token at now with w (ns or PENDING): park k. */
static void store_park(pacer__sched_t *s, pacer__key_t *k, int64_t now,
                       int64_t w)
{
  if (w == PACER__SHARED_PENDING) {
    park(s, k, pacer__time_add(now, PACER__SCHED_PENDING_RECHECK_NS));
    pacer__list_push_back(&s->store_waiting, &k->store_wait);
  } else {
    park(s, k, pacer__time_add(now, w));
  }
}

void pacer__sched_set_store(pacer__sched_t *s, const pacer__store_ops_t *ops)
{
  s->has_store = ops != NULL;
  if (ops)
    s->store = *ops;
  s->store_global_until = 0;
  s->store_global_pending = 0;
}

void pacer__sched_store_notify(pacer__sched_t *s)
{
  if (s->store_global_pending) {
    s->store_global_pending = 0;
    s->store_global_until = 0;
  }
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&s->store_waiting)))
    unpark(s, pacer__container_of(l, pacer__key_t, store_wait));
}

/* ---- starting ---- */

/* GATE_STORE: held until the store knows what k learned (a
 * PACER__SHARED_PENDING, parked as one). */
enum { GATE_OPEN, GATE_BLOCKED, GATE_EMPTIED, GATE_STORE };

/* Ends every queued job of k with error. */
static void end_key_queue(pacer__sched_t *s, pacer__key_t *k, int error,
                          const char *msg, pacer__link_t *ended)
{
  for (int p = 0; p < 2; p++) {
    pacer__link_t *l;
    while ((l = pacer__list_pop_front(&k->q[p]))) {
      pacer__job_t *j = pacer__job_of(l);
      k->queued[p]--;
      s->queued[p]--;
      pacer__heap_remove(&s->timers, j);
      end_job(j, error, msg, ended);
    }
  }
  key_place(s, k);
}

/* Attempts k may have in flight (0: any): its configured cap, or with
 * concurrency by latency on, the adapted one when that is lower. */
static unsigned key_cap(const pacer__sched_t *s, const pacer__key_t *k)
{
  if (s->cfg.concur.max == 0)
    return k->cap;
  unsigned c = pacer__concur_cap(&k->concur, &s->cfg.concur);
  return k->cap && k->cap < c ? k->cap : c;
}

/* Can k's oldest job start as far as k is concerned? If not, *until is when
 * to look again (INT64_MAX: when one of its attempts ends). */
static int key_gate(pacer__sched_t *s, pacer__key_t *k, int64_t now,
                    int64_t *until, pacer__link_t *ended)
{
  int64_t window_end = k->adapt.until_ns;
  if (pacer__adapt_expire(&k->adapt, now)) { /* an announced window passed */
    key_retune(s, k, now);
    /* Rolled into the next window at the quota's pace: the fleet hears it,
     * unless the store already holds a record of a later window (another
     * process's answer of it, which is truer than this guess). */
    int64_t su;
    if (k->adapt.reason == PACER__ADAPT_ANNOUNCED &&
        !(store_learned(s, k, now, 1, &su) > 0 && su > window_end))
      store_learn(s, k, now, 0);
  }
  if (k->paused_until > now) {
    *until = k->paused_until;
    return GATE_BLOCKED;
  }
  double sr = 0;      /* the rate k draws from the store */
  if (s->has_store) { /* another process's Retry-After for this key */
    int64_t pu = s->store.paused_until(s->store.ctx, k->name, now);
    if (pu > now) {
      if (pu > pacer__time_add(k->event_pause, EVENT_PAUSE_SLACK_NS))
        ev_pause(s, k, pu, PACER_REASON_SHARED, now);
      *until = pu;
      return GATE_BLOCKED;
    }
    /* A key new to this process starts only once the store has said what
     * the fleet learned of it (Redis: one exchange). */
    double l = store_learned(s, k, now, 0, NULL);
    if (l < 0)
      return GATE_STORE;
    sr = store_rate(k, l);
  }
  ev_resume(s, k, now);
  k->gate_store_rate = sr; /* for pacer__sched_next(), right after */
  unsigned cap = key_cap(s, k);
  if (cap && k->inflight >= cap) {
    *until = INT64_MAX;
    return GATE_BLOCKED;
  }
  uint32_t gen0 = k->breaker.gen;
  pacer_breaker_state_t state0 = k->breaker.state;
  int allowed =
      !s->cfg.breaker_enabled || pacer__breaker_allow(&k->breaker, now, until);
  ev_breaker(s, k, gen0, state0, now);
  if (!allowed) {
    if (s->cfg.breaker_fail_fast) {
      end_key_queue(s, k, PACER_EBREAKER, "circuit breaker open", ended);
      return GATE_EMPTIED;
    }
    s->held_by_breaker++;
    return GATE_BLOCKED;
  }
  /* The local bucket: always without the store; with it, while adapted
   * here (the store holds the fleet's rate). */
  int local = k->adapt.reason != PACER__ADAPT_NONE || !(sr > 0);
  int64_t w = local ? pacer__bucket_wait(&k->bucket, now) : 0;
  if (w > 0) {
    *until = pacer__time_add(now, w);
    /* The window's end brings the configured rate back, maybe sooner. */
    if (k->adapt.reason == PACER__ADAPT_ANNOUNCED && k->adapt.until_ns < *until)
      *until = k->adapt.until_ns;
    return GATE_BLOCKED;
  }
  return GATE_OPEN;
}

static pacer__key_t *top_startable(pacer__sched_t *s, int p, int64_t now,
                                   pacer__link_t *ended)
{
  pacer__key_t *k;
  while ((k = pacer__heap_top(&s->ready[p]))) {
    int64_t until = INT64_MAX;
    int g = key_gate(s, k, now, &until, ended);
    if (g == GATE_OPEN)
      return k;
    if (g == GATE_BLOCKED)
      park(s, k, until);
    else if (g == GATE_STORE)
      store_park(s, k, now, PACER__SHARED_PENDING);
  }
  return NULL;
}

/* Smooth weighted round robin between the two priorities. The weights are
 * the contract both ways: while both classes have a startable job, high gets
 * weight_high and low weight_low of every weight_high + weight_low starts,
 * however old either backlog is. Aging only lifts a low weight of 0 (strict
 * priority): once the oldest startable low job was submitted max_low_wait
 * ago, low counts as weight 1, so high still keeps weight_high of every
 * weight_high + 1 starts. With weight_low > 0 low cannot starve, and low jobs
 * already start oldest first across keys (the ready heap's order), so aging
 * has nothing to add there. The age is the head job's time since submit, not
 * since it last entered a queue: a retry put back at the head of its key's
 * queue was submitted before every job behind it, so it never hides their
 * age. Both kh and kl are startable keys (not NULL). */
static int choose(pacer__sched_t *s, pacer__key_t *kh, pacer__key_t *kl,
                  int64_t now)
{
  int64_t wh = s->cfg.weight[HIGH], wl = s->cfg.weight[LOW];
  if (wl == 0 && s->cfg.max_low_wait_ns &&
      now - head_job(kl, LOW)->submit_ns >= s->cfg.max_low_wait_ns)
    wl = 1;
  if (wl == 0) {
    /* Strict priority: no credit builds up for an aging episode to come. */
    s->swrr[HIGH] = s->swrr[LOW] = 0;
    return HIGH;
  }
  s->swrr[HIGH] += wh;
  s->swrr[LOW] += wl;
  int pick = s->swrr[HIGH] >= s->swrr[LOW] ? HIGH : LOW;
  s->swrr[pick] -= wh + wl;
  return pick;
}

pacer__job_t *pacer__sched_next(pacer__sched_t *s, int64_t now,
                                pacer__link_t *ended)
{
  if (s->inflight >= s->cfg.concurrency)
    return NULL;
  if (store_global(s) ? s->store_global_until > now
                      : pacer__bucket_wait(&s->bucket, now) > 0)
    return NULL;
  pacer__key_t *k;
  pacer__job_t *j;
  int drew; /* k's token came from the store */
  for (;;) {
    drew = 0;
    pacer__key_t *kh = top_startable(s, HIGH, now, ended);
    pacer__key_t *kl = top_startable(s, LOW, now, ended);
    if (!kh && !kl)
      return NULL;
    int p;
    if (kh && kl) {
      p = choose(s, kh, kl, now);
    } else {
      /* With one priority alone there is nothing to share: the credits
       * start afresh, so a high job arriving at a busy low queue takes the
       * next token rather than losing it to credit low saved up
       * meanwhile. */
      s->swrr[HIGH] = s->swrr[LOW] = 0;
      p = kh ? HIGH : LOW;
    }
    k = p == HIGH ? kh : kl;
    j = head_job(k, p);
    /* The store's tokens come last, when nothing local can refuse any
     * more: a token taken from other processes is never wasted on a job
     * that a slot, a pause or a breaker then holds. */
    double sr = k->gate_store_rate; /* as its gate just found it */
    if (sr > 0) {
      int64_t w = s->store.take(s->store.ctx, k->name, sr, k->base_burst, now);
      if (w != 0) {
        store_park(s, k, now, w);
        continue; /* another key may start */
      }
      drew = 1;
    }
    break;
  }
  if (store_global(s)) {
    int64_t w = s->store.take(s->store.ctx, "", s->cfg.rate, s->cfg.burst, now);
    if (w != 0) {
      /* The key's token, if one was just taken, is lost: the store has no
       * way to give it back. This costs that key one token only when both
       * its rate and the global one are shared and the global refused
       * right after the key granted, which the global check at the top
       * makes rare (DESIGN.md, "Shared limits in the scheduler"). */
      if (drew)
        s->store_key_lost++;
      s->store_global_pending = w == PACER__SHARED_PENDING;
      s->store_global_until =
          s->store_global_pending
              ? pacer__time_add(now, PACER__SCHED_PENDING_RECHECK_NS)
              : pacer__time_add(now, w);
      return NULL;
    }
  } else {
    pacer__bucket_take(&s->bucket, now);
  }
  if (!drew || k->adapt.reason != PACER__ADAPT_NONE)
    pacer__bucket_take(&k->bucket, now);
  pacer__adapt_started(&k->adapt, now);
  if (s->cfg.breaker_enabled)
    j->breaker_ticket = pacer__breaker_admit(&k->breaker, now);
  k->inflight++;
  s->inflight++;
  dequeue(s, j);
  pacer__heap_remove(&s->timers, j);
  j->state = PACER__JOB_INFLIGHT;
  j->attempts++;
  if (!j->first_start_ns) { /* a resumed job's first start in this run */
    j->first_start_ns = now;
    /* A request to the retry budgets; its retries are not (budget.h). */
    pacer__budget_request(&s->budget, &s->cfg.budget, now);
    pacer__budget_request(&k->budget, &s->cfg.budget, now);
  }
  j->attempt_start_ns = now;
  return j;
}

int64_t pacer__sched_wake(pacer__sched_t *s, int64_t now)
{
  int64_t t = INT64_MAX;
  pacer__key_t *k = pacer__heap_top(&s->wake);
  if (k && k->wake_ns < t)
    t = k->wake_ns;
  pacer__job_t *j = pacer__heap_top(&s->timers);
  if (j && j->timer_ns < t)
    t = j->timer_ns;
  if (s->inflight < s->cfg.concurrency &&
      (pacer__heap_len(&s->ready[HIGH]) || pacer__heap_len(&s->ready[LOW]))) {
    /* With a shared global bucket, the store's answered wait (or the
     * recheck of a pending one) is the bucket's wait. */
    int64_t at =
        store_global(s)
            ? s->store_global_until
            : pacer__time_add(now, pacer__bucket_wait(&s->bucket, now));
    if (at < t)
      t = at;
  }
  return t;
}

/* ---- after an attempt ---- */

static int is_deadline_hit(const pacer__job_t *j, int64_t now)
{
  return j->deadline_ns != INT64_MAX && now >= j->deadline_ns;
}

/* Tells the key's breaker how the attempt went. An attempt that was
 * cancelled or cut by its job's deadline (ignore) says nothing of the host:
 * it frees its probe, if it was one, and judges nothing. */
static void record_outcome(pacer__sched_t *s, pacer__job_t *j,
                           const pacer__attempt_end_t *end, int64_t now,
                           int ignore)
{
  if (!s->cfg.breaker_enabled)
    return;
  pacer__outcome_kind_t kind =
      ignore ? PACER__OUTCOME_IGNORE
             : pacer__breaker_outcome(end->error, end->status);
  pacer__key_t *k = j->key;
  uint32_t gen0 = k->breaker.gen;
  pacer_breaker_state_t state0 = k->breaker.state;
  if (pacer__breaker_is_slow(&s->cfg.breaker, kind, j->attempt_start_ns, now))
    s->slow_calls++;
  pacer__breaker_record(&k->breaker, j->breaker_ticket, kind,
                        j->attempt_start_ns, now);
  ev_breaker(s, k, gen0, state0, now);
}

/* The Retry-After of a 429 or 503, capped at retry_after_max, in ns; -1
 * when the answer has none. It also pauses the key, unless the answer
 * came from another origin through a redirect. */
static int64_t honour_retry_after(pacer__sched_t *s, pacer__key_t *k,
                                  const pacer__attempt_end_t *end, int64_t now)
{
  if (end->error != 0 || end->retry_after_ns < 0 ||
      (end->status != 429 && end->status != 503))
    return -1;
  int64_t ra = end->retry_after_ns < s->cfg.retry_after_max_ns
                   ? end->retry_after_ns
                   : s->cfg.retry_after_max_ns;
  int64_t until = pacer__time_add(now, ra);
  /* A host reached through a cross-origin redirect speaks for itself, not
   * for the key's host: its Retry-After delays this job only. */
  if (!end->other_origin && until > k->paused_until) {
    k->paused_until = until;
    k->pause_reason = PACER_REASON_RETRY_AFTER;
    k->pause_status = (uint16_t)end->status;
    ev_pause(s, k, until, PACER_REASON_RETRY_AFTER, now);
    /* Every process on the shared limit holds the key too. */
    if (s->has_store)
      s->store.pause(s->store.ctx, k->name, until);
    if (key_has_queued(k))
      park(s, k, until);
  }
  return ra;
}

/* Adapts k's rate to what j's answer said (adapt.h), ra being the
 * Retry-After honour_retry_after() found (-1: none): retunes its bucket if
 * the rate changed, and pauses it to an announced reset. */
static void follow_server(pacer__sched_t *s, pacer__key_t *k,
                          const pacer__job_t *j,
                          const pacer__attempt_end_t *end, int64_t ra,
                          int64_t now)
{
  /* A host reached through a cross-origin redirect has limits of its own. */
  if (end->other_origin)
    return;
  pacer__adapt_event_t ev = {end->error, end->status, ra >= 0, &end->quota,
                             j->attempt_start_ns};
  /* Drawn only when a pause may need jitter, so that the backoff's draws
   * are the same as without adaptation. */
  uint64_t rnd = end->quota.found && end->quota.remaining == 0
                     ? pacer__rng_next(&s->rng)
                     : 0;
  int64_t pause = INT64_MIN;
  if (pacer__adapt_end(&k->adapt, &s->cfg.adapt, k->base_rate, &ev, now, rnd,
                       &pause))
    key_retune(s, k, now);
  if (pause > now && pause > k->paused_until) {
    k->paused_until = pause;
    k->pause_reason = PACER_REASON_ANNOUNCED;
    k->pause_status = 0;
    ev_pause(s, k, pause, PACER_REASON_ANNOUNCED, now);
    if (s->has_store) /* every process holds the key to the reset */
      s->store.pause(s->store.ctx, k->name, pause);
    if (key_has_queued(k))
      park(s, k, pause);
  }
  /* Every announcement may move the window's end even when the rate stays:
   * the fleet hears each one. */
  if (end->quota.found || pause > now)
    store_learn(s, k, now, end->quota.found);
}

/* Feeds k's concurrency-by-latency cap with j's attempt, which ended at now
 * with k->inflight others in flight; ignore: it was cancelled or cut by its
 * job's deadline. A raised cap is seen at k's next gate (the attempt's end
 * unparks k anyway). */
static void follow_latency(pacer__sched_t *s, pacer__key_t *k,
                           const pacer__job_t *j,
                           const pacer__attempt_end_t *end, int64_t now,
                           int ignore)
{
  if (s->cfg.concur.max == 0)
    return;
  int kind =
      ignore ? PACER__CONCUR_IGNORE
             : pacer__concur_kind(end->error, end->status, end->other_origin,
                                  end->error == PACER_ETIMEDOUT);
  (void)pacer__concur_end(&k->concur, &s->cfg.concur, kind, j->attempt_start_ns,
                          k->inflight + 1, now);
}

/* The retry budgets' decision on j's retry at now: 0 when the global budget
 * and j's key's both allow it (it is then counted in both), else 1, with j
 * ended with PACER_EBUDGET (its last answer kept by the engine) and the
 * refusal counted. The one place a retry is refused for its budget: what
 * a refusal should also do (an event) belongs here. */
static int retry_budget_refuses(pacer__sched_t *s, pacer__job_t *j,
                                const pacer__attempt_end_t *end, int64_t now)
{
  const pacer__budget_cfg_t *bc = &s->cfg.budget;
  pacer__key_t *k = j->key;
  /* A key following the quota its server announced (adapt.h) is held to
   * that quota, retries included: they cannot multiply its load, only
   * take the place of queued jobs within it, and the refusals that come
   * before the quota is learned are the server's way of telling it. The
   * budget is for answers that pace nothing (errors, bare refusals, a
   * Retry-After, which paces one wait, not what follows). */
  if (k->adapt.reason == PACER__ADAPT_ANNOUNCED)
    return 0;
  const char *why = NULL;
  if (!pacer__budget_allows(&k->budget, bc, now))
    why = "retry refused by the retry budget: this key's retries reached "
          "their share of its recent requests";
  else if (!pacer__budget_allows(&s->budget, bc, now))
    why = "retry refused by the retry budget: retries reached their share "
          "of all recent requests";
  if (why) {
    s->retries_refused++;
    end_job(j, PACER_EBUDGET, why, NULL);
    if (s->emit) {
      pacer_event_t ev = {.type = PACER_EVENT_RETRY_REFUSED,
                          .key = k->name,
                          .job = j->id,
                          .attempt = j->attempts,
                          .status = end->status,
                          .error = end->error,
                          .message = why};
      emit(s, &ev, now);
    }
    return 1;
  }
  pacer__budget_retry(&k->budget, bc, now);
  pacer__budget_retry(&s->budget, bc, now);
  return 0;
}

/* Puts j back to wait for its next attempt, after ra (the server's
 * Retry-After, or -1: the backoff), unless a cancelling shutdown stops
 * retries, the retry would start after the job's deadline or the retry
 * budget refuses it. */
static int schedule_retry(pacer__sched_t *s, pacer__job_t *j,
                          const pacer__attempt_end_t *end, int64_t now,
                          int64_t ra)
{
  /* A cancelling shutdown stopped a job that had more to do: it ends as
   * the jobs it stopped while queued do (kept in a spool for resume). */
  if (s->no_retry) {
    end_job(j, PACER_ECANCELED, "cancelled by shutdown", NULL);
    return PACER__SCHED_END;
  }
  int64_t delay =
      ra >= 0 ? ra
              : pacer__backoff_ns(&s->rng, j->attempts, s->cfg.backoff_base_ns,
                                  s->cfg.backoff_max_ns);
  int64_t due = pacer__time_add(now, delay);
  if (due >= j->deadline_ns) {
    end_job(j, PACER_EDEADLINE, "next retry would start after the deadline",
            NULL);
    return PACER__SCHED_END;
  }
  if (retry_budget_refuses(s, j, end, now))
    return PACER__SCHED_END;
  j->state = PACER__JOB_WAITING;
  s->waiting[j->prio]++;
  s->retried++;
  timer_set(s, j, due);
  ev_retry(s, j, end, delay, ra, now);
  return PACER__SCHED_RETRY;
}

/* Retries j if its answer is retryable and attempts are left; else ends it
 * with the attempt's error, or PACER_ERETRIES when a retryable answer used
 * up the attempts. */
static int retry_or_end(pacer__sched_t *s, pacer__job_t *j,
                        const pacer__attempt_end_t *end, int64_t now,
                        int64_t ra)
{
  int retryable = pacer__retryable_in(&s->cfg.retry, end->error, end->status);
  unsigned max = j->max_attempts ? j->max_attempts : s->cfg.max_attempts;
  if (retryable && j->retry_ok && j->attempts < max)
    return schedule_retry(s, j, end, now, ra);
  /* Told in the result, so that a caller sees the rule that held it. */
  if (retryable && !j->retry_ok && j->attempts < max && !s->no_retry)
    j->not_retried = PACER_NOT_RETRIED_UNSAFE;
  int error = end->error;
  const char *msg = NULL;
  if (error == 0 && retryable && j->retry_ok) {
    error = PACER_ERETRIES;
    msg = "last response was retryable and no attempt is left";
  }
  end_job(j, error, msg, NULL);
  return PACER__SCHED_END;
}

/* Adds an attempt's connections, handshakes and protocol to c. */
static void count_conn(pacer_conn_stats_t *c, const pacer__attempt_end_t *end)
{
  c->opened += end->conns_opened;
  c->tls_full += end->tls_full;
  c->tls_resumed += end->tls_resumed;
  c->http1 += end->http_version == 1;
  c->http2 += end->http_version == 2;
  c->http3 += end->http_version == 3;
}

int pacer__sched_done(pacer__sched_t *s, pacer__job_t *j,
                      const pacer__attempt_end_t *end, int64_t now)
{
  pacer__key_t *k = j->key;
  k->inflight--;
  s->inflight--;
  j->attempt_end_ns = now;
  count_conn(&s->conn, end);
  count_conn(&k->conn, end);

  int cancelled = j->cancel_req || end->error == PACER_ECANCELED;
  /* A timeout that the job's deadline caused (the attempt was cut to the
   * time left, or had none and was never sent) says nothing of the host. */
  int deadline_end = end->error == PACER_ETIMEDOUT &&
                     (j->deadline_cut || is_deadline_hit(j, now));
  record_outcome(s, j, end, now, cancelled || deadline_end);
  /* A freed slot or probe, or a breaker that changed, can open the key's
   * gate; the gate parks it again if not. */
  unpark(s, k);
  int64_t ra = honour_retry_after(s, k, end, now);
  follow_server(s, k, j, end, ra, now);
  follow_latency(s, k, j, end, now, cancelled || deadline_end);

  if (cancelled) {
    end_job(j, PACER_ECANCELED, "cancelled", NULL);
    return PACER__SCHED_END;
  }
  if (deadline_end) {
    end_job(j, PACER_EDEADLINE, "deadline passed during the attempt", NULL);
    return PACER__SCHED_END;
  }
  return retry_or_end(s, j, end, now, ra);
}

/* ---- cancel ---- */

int pacer__sched_cancel(pacer__sched_t *s, pacer__job_t *j,
                        pacer__link_t *ended)
{
  switch (j->state) {
  case PACER__JOB_QUEUED:
    dequeue(s, j);
    pacer__heap_remove(&s->timers, j);
    end_job(j, PACER_ECANCELED, "cancelled", ended);
    return 1;
  case PACER__JOB_WAITING:
    s->waiting[j->prio]--;
    pacer__heap_remove(&s->timers, j);
    end_job(j, PACER_ECANCELED, "cancelled", ended);
    return 1;
  case PACER__JOB_INFLIGHT:
    if (j->cancel_req)
      return PACER_ENOTFOUND;
    j->cancel_req = 1;
    return 0;
  default:
    return PACER_ENOTFOUND;
  }
}

pacer__job_t *pacer__sched_shed_oldest_low(pacer__sched_t *s,
                                           pacer__link_t *ended)
{
  pacer__key_t *k = pacer__heap_top(&s->lows);
  if (!k)
    return NULL;
  pacer__job_t *j = head_job(k, LOW);
  dequeue(s, j);
  pacer__heap_remove(&s->timers, j);
  end_job(j, PACER_ESHED, "shed to make room in a full queue", ended);
  return j;
}

void pacer__sched_cancel_all(pacer__sched_t *s, pacer__link_t *ended)
{
  s->no_retry = 1;
  pacer__key_t *k, *tmp;
  HASH_ITER(hh, s->keys.table, k, tmp)
  {
    end_key_queue(s, k, PACER_ECANCELED, "cancelled by shutdown", ended);
  }
  pacer__job_t *j;
  while ((j = pacer__heap_pop(&s->timers))) {
    s->waiting[j->prio]--;
    end_job(j, PACER_ECANCELED, "cancelled by shutdown", ended);
  }
}

void pacer__sched_release(pacer__sched_t *s, pacer__job_t *j, int64_t now)
{
  if (j->key) {
    pacer__keys_release(&s->keys, j->key, now);
    j->key = NULL;
  }
}

/* ---- settings ---- */

int pacer__sched_set_rate(pacer__sched_t *s, double rate, unsigned burst,
                          int64_t now)
{
  int rc = pacer__bucket_set(&s->bucket, rate, burst, now);
  if (rc == 0) {
    s->cfg.rate = rate;
    s->cfg.burst = burst;
  }
  return rc;
}

int pacer__sched_set_concurrency(pacer__sched_t *s, unsigned concurrency)
{
  if (concurrency < 1)
    return PACER_ECONCURRENCY;
  s->cfg.concurrency = concurrency;
  return 0;
}

int pacer__sched_set_budget(pacer__sched_t *s, const pacer__budget_cfg_t *cfg)
{
  if (cfg->ratio > 0 && pacer__budget_cfg_check(cfg))
    return PACER_EINVAL;
  int empty =
      cfg->window_ns != s->cfg.budget.window_ns || !(s->cfg.budget.ratio > 0);
  s->cfg.budget = *cfg;
  s->keys.budget_cfg = cfg->ratio > 0 ? &s->cfg.budget : NULL;
  if (empty) {
    pacer__budget_init(&s->budget);
    pacer__key_t *k, *tmp;
    HASH_ITER(hh, s->keys.table, k, tmp)
    {
      pacer__budget_init(&k->budget);
    }
  }
  return 0;
}

int pacer__sched_set_breaker_slow(pacer__sched_t *s, int64_t slow_ns,
                                  double slow_threshold)
{
  pacer__breaker_cfg_t b = s->cfg.breaker;
  b.slow_ns = slow_ns;
  b.slow_threshold = slow_threshold;
  if (pacer__breaker_cfg_check(&b))
    return PACER_EINVAL;
  /* Every key's breaker borrows s->cfg.breaker: this is all it takes. */
  s->cfg.breaker.slow_ns = slow_ns;
  s->cfg.breaker.slow_threshold = slow_threshold;
  return 0;
}

int pacer__sched_set_key_limits(pacer__sched_t *s, const char *key, double rate,
                                unsigned burst, unsigned cap, int64_t now)
{
  uint32_t n = (uint32_t)s->keys.count + 1;
  if (pacer__heap_reserve(&s->ready[HIGH], n) ||
      pacer__heap_reserve(&s->ready[LOW], n) ||
      pacer__heap_reserve(&s->lows, n) || pacer__heap_reserve(&s->wake, n))
    return PACER_ENOMEM;
  pacer__key_t *k = NULL;
  int rc = pacer__keys_set_limits(&s->keys, key, rate, burst, cap, now, &k);
  if (rc == 0)
    unpark(s, k); /* its gate may have changed */
  return rc;
}

/* Is a the same breaker configuration as b? */
static int breaker_cfg_same(const pacer__breaker_cfg_t *a,
                            const pacer__breaker_cfg_t *b)
{
  return a->window == b->window && a->min_calls == b->min_calls &&
         a->threshold == b->threshold && a->cooldown_ns == b->cooldown_ns &&
         a->probes == b->probes && a->probe_timeout_ns == b->probe_timeout_ns &&
         a->slow_ns == b->slow_ns && a->slow_threshold == b->slow_threshold;
}

/* key_retune() as pacer__keys_set_defaults() calls it: a change the
 * program made is not an event (a crawler's 10,000 keys would each tell
 * of it). */
static void retune_of(void *ctx, pacer__key_t *k, int64_t now)
{
  pacer__sched_t *s = ctx;
  k->event_rate = pacer__adapt_rate(&k->adapt, k->base_rate);
  key_retune(s, k, now);
}

int pacer__sched_reconfigure(pacer__sched_t *s, const pacer__sched_cfg_t *cfg,
                             int64_t now)
{
  if (cfg->max_idle_keys != s->cfg.max_idle_keys ||
      cfg->max_queue_wait_ns != s->cfg.max_queue_wait_ns ||
      cfg->seed != s->cfg.seed || cfg->concur.min != s->cfg.concur.min ||
      cfg->concur.max != s->cfg.concur.max ||
      cfg->adapt.announced != s->cfg.adapt.announced ||
      cfg->adapt.aimd != s->cfg.adapt.aimd ||
      cfg->adapt.min_rate != s->cfg.adapt.min_rate)
    return PACER_EINVAL;
  int rc = cfg_check(cfg);
  if (rc)
    return rc;
  /* The one step that can refuse (a burst too long for its rate) comes
   * first, so that a refusal changes nothing. */
  if (cfg->rate != s->cfg.rate || cfg->burst != s->cfg.burst) {
    pacer__bucket_t b = s->bucket;
    if ((rc = pacer__bucket_set(&b, cfg->rate, cfg->burst, now)))
      return rc;
    s->bucket = b;
  }
  int keys_changed = cfg->key_rate != s->cfg.key_rate ||
                     cfg->key_burst != s->cfg.key_burst ||
                     cfg->key_concurrency != s->cfg.key_concurrency;
  int breaker_changed = !breaker_cfg_same(&cfg->breaker, &s->cfg.breaker) ||
                        cfg->breaker_enabled != s->cfg.breaker_enabled ||
                        cfg->breaker_fail_fast != s->cfg.breaker_fail_fast;
  pacer__key_t *k, *tmp;
  int rewindow = cfg->breaker.window != s->cfg.breaker.window;
  int reset = cfg->breaker_enabled && !s->cfg.breaker_enabled;
  if (rewindow || reset) {
    HASH_ITER(hh, s->keys.table, k, tmp)
    {
      if (reset) { /* what they knew before they were turned off is stale */
        uint32_t gen0 = k->breaker.gen;
        pacer_breaker_state_t state0 = k->breaker.state;
        pacer__breaker_reset(&k->breaker);
        ev_breaker(s, k, gen0, state0, now);
      } else
        pacer__breaker_rewindow(&k->breaker, s->cfg.breaker.window,
                                cfg->breaker.window);
    }
  }
  /* The budgets: emptied when their window changes or they are turned on
   * (what they counted was of another rule). */
  (void)pacer__sched_set_budget(s, &cfg->budget);
  /* In place: every breaker borrows &s->cfg.breaker. */
  s->cfg = *cfg;
  s->cfg.adapt.pause_max_ns = cfg->retry_after_max_ns;
  if (keys_changed)
    pacer__keys_set_defaults(&s->keys, cfg->key_rate, cfg->key_burst,
                             cfg->key_concurrency, now, retune_of, s);
  /* A gate may open (a cap raised, a rate or a breaker changed): every
   * parked key with queued jobs looks again at its next decision. */
  if (keys_changed || breaker_changed) {
    HASH_ITER(hh, s->keys.table, k, tmp)
    {
      unpark(s, k);
    }
  }
  return 0;
}

/* ---- snapshot ---- */

int pacer__sched_stats(pacer__sched_t *s, int64_t now, pacer_stats_t *st)
{
  st->retried = s->retried;
  st->retries_refused = s->retries_refused;
  st->slow_calls = s->slow_calls;
  st->conn = s->conn;
  st->held_by_breaker = s->held_by_breaker;
  st->queued_high =
      s->queued[PACER_PRIORITY_HIGH] + s->waiting[PACER_PRIORITY_HIGH];
  st->queued_low =
      s->queued[PACER_PRIORITY_LOW] + s->waiting[PACER_PRIORITY_LOW];
  st->in_flight = s->inflight;
  st->retry_waiting =
      s->waiting[PACER_PRIORITY_HIGH] + s->waiting[PACER_PRIORITY_LOW];
  size_t n = s->keys.count;
  st->keys = NULL;
  st->key_adapt = NULL;
  st->key_concurrency = NULL;
  st->key_pause = NULL;
  st->key_conn = NULL;
  if (n == 0)
    return 0;
  st->keys = calloc(n, sizeof *st->keys);
  st->key_adapt = calloc(n, sizeof *st->key_adapt);
  st->key_concurrency = calloc(n, sizeof *st->key_concurrency);
  st->key_pause = calloc(n, sizeof *st->key_pause);
  st->key_conn = calloc(n, sizeof *st->key_conn);
  if (!st->keys || !st->key_adapt || !st->key_concurrency || !st->key_pause ||
      !st->key_conn)
    return PACER_ENOMEM;
  pacer__key_t *k, *tmp;
  HASH_ITER(hh, s->keys.table, k, tmp)
  {
    pacer_key_stats_t *ks = &st->keys[st->key_count];
    ks->key = strdup(k->name);
    if (!ks->key)
      return PACER_ENOMEM;
    st->key_count++;
    uint32_t gen0 = k->breaker.gen;
    pacer_breaker_state_t state0 = k->breaker.state;
    ks->breaker = s->cfg.breaker_enabled
                      ? pacer__breaker_state(&k->breaker, now)
                      : PACER_BREAKER_CLOSED;
    ev_breaker(s, k, gen0, state0, now);
    st->key_conn[st->key_count - 1] = k->conn;
    ks->queued = k->queued[0] + k->queued[1];
    ks->in_flight = k->inflight;
    ks->paused_ms =
        k->paused_until > now ? (k->paused_until - now + 999999) / 1000000 : 0;
    if (ks->paused_ms) {
      pacer_key_pause_t *kp = &st->key_pause[st->key_count - 1];
      kp->reason = (pacer_event_reason_t)k->pause_reason;
      kp->status = k->pause_status;
    }
    /* An announced window that has passed ends (or rolls into the next)
     * at the key's next gate; the snapshot already shows what it does. */
    pacer__adapt_t a = k->adapt;
    (void)pacer__adapt_expire(&a, now);
    pacer_key_adapt_t *ka = &st->key_adapt[st->key_count - 1];
    ka->reason = (pacer_adapt_reason_t)a.reason;
    ka->rate = a.reason != PACER__ADAPT_NONE ? a.rate : 0;
    /* A rate the fleet learned, lower than this process's own. */
    double l = store_learned(s, k, now, 1, NULL);
    if (l > 0 && (a.reason == PACER__ADAPT_NONE || l < ka->rate) &&
        !(k->base_rate > 0 && k->base_rate <= l)) {
      ka->reason = PACER_ADAPT_ANNOUNCED;
      ka->rate = l;
    }
    if (s->cfg.concur.max) {
      pacer_key_concurrency_t *kc = &st->key_concurrency[st->key_count - 1];
      kc->cap = key_cap(s, k);
      kc->min_rtt_us = k->concur.min_rtt / 1000;
      kc->rtt_us = k->concur.rtt / 1000;
    }
  }
  return 0;
}
