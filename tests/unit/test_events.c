/* SPDX-License-Identifier: MIT */
/* test_events.c - events (events.h, pacer_event_t): the bounded queue and
 * the JSON form; the scheduler's events on time as a number (a breaker's
 * every change, pauses of each reason and their end, rate retunes,
 * retries), with no threads; and their delivery by a dispatcher over a
 * fake clock and transport: in order, on one thread, before pacer_free()
 * returns, from a callback that may call back into pacer. Results from
 * the dispatcher's thread are collected under a lock and asserted after. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine_fixture.h"
#include "events.h"
#include "recorder.h"
#include "sched_fixture.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS
#define T0 (1000 * S)

/* ---- a recorder of events: copies of the fields a test checks ---- */

#define EV_MAX 64

typedef struct ev_copy {
  pacer_event_type_t type;
  char key[64];
  uint64_t job;
  pacer_event_reason_t reason;
  int from, to;
  double ratio, rate;
  unsigned calls, attempt;
  int64_t time_ms, duration_ms, delay_ms;
  int status, error, store_state;
  char message[160];
} ev_copy_t;

typedef struct ev_rec {
  pthread_mutex_t mu;
  ev_copy_t ev[EV_MAX];
  size_t n, over;
  pthread_t thread; /* the thread of the first event */
  int other_thread; /* a later one came on another thread */
  int stats_rc;     /* pacer_stats_get() from inside the callback */
  pacer_t *p;       /* set: the callback takes a snapshot */
} ev_rec_t;

static ev_rec_t evr = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void evr_reset(void)
{
  pthread_mutex_lock(&evr.mu);
  evr.n = evr.over = 0;
  evr.other_thread = 0;
  evr.stats_rc = 0;
  evr.p = NULL;
  memset(evr.ev, 0, sizeof evr.ev);
  pthread_mutex_unlock(&evr.mu);
}

static void evr_add(const pacer_event_t *e)
{
  pthread_mutex_lock(&evr.mu);
  if (evr.n == 0)
    evr.thread = pthread_self();
  else if (!pthread_equal(evr.thread, pthread_self()))
    evr.other_thread = 1;
  if (evr.n < EV_MAX) {
    ev_copy_t *c = &evr.ev[evr.n];
    c->type = e->type;
    snprintf(c->key, sizeof c->key, "%s", e->key ? e->key : "");
    c->job = e->job;
    c->reason = e->reason;
    c->from = e->from;
    c->to = e->to;
    c->ratio = e->ratio;
    c->rate = e->rate;
    c->calls = e->calls;
    c->attempt = e->attempt;
    c->time_ms = e->time_ms;
    c->duration_ms = e->duration_ms;
    c->delay_ms = e->delay_ms;
    c->status = e->status;
    c->error = e->error;
    c->store_state = e->store_state;
    snprintf(c->message, sizeof c->message, "%s", e->message);
    evr.n++;
  } else {
    evr.over++;
  }
  pthread_mutex_unlock(&evr.mu);
}

/* The scheduler's hook. */
static void sched_hook(void *ctx, const pacer_event_t *e)
{
  (void)ctx;
  evr_add(e);
}

/* pacer_event_cb. */
static void on_event(const pacer_event_t *e, void *user)
{
  (void)user;
  evr_add(e);
  pacer_t *p;
  pthread_mutex_lock(&evr.mu);
  p = evr.p;
  pthread_mutex_unlock(&evr.mu);
  if (p) { /* a callback may look at the dispatcher */
    pacer_stats_t *st;
    int rc = pacer_stats_get(p, &st);
    pacer_stats_free(rc ? NULL : st);
    pthread_mutex_lock(&evr.mu);
    if (rc)
      evr.stats_rc = rc;
    pthread_mutex_unlock(&evr.mu);
  }
}

/* Events of type recorded so far. */
static size_t count_of(pacer_event_type_t type)
{
  size_t k = 0;
  for (size_t i = 0; i < evr.n; i++)
    k += evr.ev[i].type == type;
  return k;
}

/* The i-th event of type (fails if there is none). */
static const ev_copy_t *nth(pacer_event_type_t type, size_t i)
{
  for (size_t k = 0; k < evr.n; k++)
    if (evr.ev[k].type == type && i-- == 0)
      return &evr.ev[k];
  fail_msg("no %s event #%zu", pacer_event_type_name(type), i);
  return NULL;
}

/* ---- the queue ---- */

static void queue_copies_keeps_order_and_counts_drops(void **state)
{
  (void)state;
  pacer__events_t q;
  pacer__events_init(&q, 2);
  char key[16] = "api", msg[16] = "first";
  pacer_event_t e = {.type = PACER_EVENT_PAUSE, .key = key, .message = msg};
  assert_int_equal(pacer__events_push(&q, &e), 0);
  /* the caller's strings may change or go once pushed */
  strcpy(key, "other");
  strcpy(msg, "second");
  e.type = PACER_EVENT_RESUME;
  e.message = NULL; /* copied as "" */
  assert_int_equal(pacer__events_push(&q, &e), 0);
  assert_int_equal(pacer__events_push(&q, &e), PACER_EFULL);
  assert_int_equal(q.dropped, 1);
  assert_int_equal(q.len, 2);
  pacer__event_node_t *l = pacer__events_take(&q);
  assert_int_equal(q.len, 0);
  assert_null(pacer__events_take(&q));
  assert_non_null(l);
  assert_int_equal(l->ev.type, PACER_EVENT_PAUSE);
  assert_string_equal(l->ev.key, "api");
  assert_string_equal(l->ev.message, "first");
  assert_non_null(l->next);
  assert_int_equal(l->next->ev.type, PACER_EVENT_RESUME);
  assert_string_equal(l->next->ev.key, "other");
  assert_string_equal(l->next->ev.message, "");
  assert_null(l->next->next);
  /* room again once taken; a keyless event keeps a NULL key */
  e.key = NULL;
  assert_int_equal(pacer__events_push(&q, &e), 0);
  pacer__event_node_t *l2 = pacer__events_take(&q);
  assert_null(l2->ev.key);
  pacer__events_free(l);
  pacer__events_free(l2);
  pacer__events_destroy(&q);
}

/* ---- the JSON form ---- */

static void json_of(const pacer_event_t *e, const char *want)
{
  char *j = NULL;
  assert_int_equal(pacer_event_json(e, &j), 0);
  assert_string_equal(j, want);
  free(j);
}

static void json_has_the_fields_of_each_type(void **state)
{
  (void)state;
  pacer_event_t b = {.type = PACER_EVENT_BREAKER,
                     .time_ms = 5,
                     .key = "api",
                     .from = PACER_BREAKER_CLOSED,
                     .to = PACER_BREAKER_OPEN,
                     .ratio = 0.5,
                     .calls = 10,
                     .message = "m"};
  json_of(&b, "{\"event\":\"breaker\",\"time_ms\":5,\"key\":\"api\",\"from\":"
              "\"closed\",\"to\":\"open\",\"ratio\":0.5,\"slow_ratio\":0.0,"
              "\"calls\":10,"
              "\"message\":\"m\"}");
  b.from = PACER_BREAKER_OPEN;
  b.to = PACER_BREAKER_HALF_OPEN; /* no ratio but when it trips */
  json_of(&b, "{\"event\":\"breaker\",\"time_ms\":5,\"key\":\"api\",\"from\":"
              "\"open\",\"to\":\"half_open\",\"message\":\"m\"}");
  pacer_event_t r = {.type = PACER_EVENT_RETRY,
                     .time_ms = 7,
                     .key = "k",
                     .job = 42,
                     .reason = PACER_REASON_RETRY_AFTER,
                     .attempt = 1,
                     .delay_ms = 2000,
                     .status = 429,
                     .message = "x"};
  json_of(&r, "{\"event\":\"retry\",\"time_ms\":7,\"key\":\"k\",\"job\":42,"
              "\"attempt\":1,\"status\":429,\"error\":null,\"reason\":"
              "\"retry_after\",\"delay_ms\":2000,\"message\":\"x\"}");
  r.status = 0;
  r.error = PACER_ETIMEDOUT;
  r.reason = PACER_REASON_BACKOFF;
  json_of(&r, "{\"event\":\"retry\",\"time_ms\":7,\"key\":\"k\",\"job\":42,"
              "\"attempt\":1,\"status\":0,\"error\":\"PACER_ETIMEDOUT\","
              "\"reason\":\"backoff\",\"delay_ms\":2000,\"message\":\"x\"}");
  pacer_event_t s = {.type = PACER_EVENT_STORE, .store_state = 2};
  json_of(&s, "{\"event\":\"store\",\"time_ms\":0,\"state\":\"holding\","
              "\"message\":\"\"}");
  /* a key that is not UTF-8 still renders, as U+FFFD */
  pacer_event_t k = {.type = PACER_EVENT_RESUME, .key = "a\xff", .message = ""};
  json_of(&k, "{\"event\":\"resume\",\"time_ms\":0,\"key\":\"a\xef\xbf\xbd\","
              "\"message\":\"\"}");
  char *j = (char *)1;
  assert_int_equal(pacer_event_json(NULL, &j), PACER_EINVAL);
  assert_null(j);
  assert_int_equal(pacer_event_json(&k, NULL), PACER_EINVAL);
  assert_string_equal(pacer_event_type_name((pacer_event_type_t)99), "unknown");
  assert_string_equal(pacer_event_reason_name(PACER_REASON_AIMD), "aimd");
  assert_string_equal(pacer_event_type_name(PACER_EVENT_RETRY_REFUSED),
                      "retry_refused");
}

/* ---- the scheduler's events, on time as a number ---- */

static void breaker_small(pacer_config_t *c)
{
  c->breaker_window = 4;
  c->breaker_min_calls = 2;
  c->breaker_threshold = 1.0;
  c->breaker_cooldown_ms = 1000;
  c->breaker_probes = 1;
}

static sched_fx_t *fx_events(sched_fx_tweak_fn tweak, int store)
{
  sched_fx_opts_t o = {.tweak = tweak, .start_ns = T0, .store = store};
  sched_fx_t *f = sched_fx_open(&o);
  pacer__sched_set_events(&f->s, sched_hook, NULL);
  return f;
}

static pacer__job_t *push(sched_fx_t *f, const char *key)
{
  pacer_request_t r;
  sched_fx_request(&r, key);
  r.max_attempts = 1;
  return sched_fx_push_req(f, &r);
}

static void breaker_tells_each_change(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(breaker_small, 0);
  pacer__job_t *a = push(f, "k"), *b = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), a);
  assert_ptr_equal(sched_fx_next(f), b);
  sched_fx_end(f, a, 500, -1, NULL);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 0); /* 1 call: too few */
  f->now += 10 * MS;
  sched_fx_end(f, b, 503, -1, NULL);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 1);
  const ev_copy_t *e = nth(PACER_EVENT_BREAKER, 0);
  assert_string_equal(e->key, "k");
  assert_int_equal(e->from, PACER_BREAKER_CLOSED);
  assert_int_equal(e->to, PACER_BREAKER_OPEN);
  assert_int_equal(e->time_ms, (T0 + 10 * MS) / MS);
  assert_true(e->ratio == 1.0);
  assert_int_equal(e->calls, 2);

  /* held while open: nothing more is told */
  pacer__job_t *c = push(f, "k");
  assert_null(sched_fx_next(f));
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 1);
  /* the cooldown over, the gate half-opens it for c, the probe */
  f->now += 1000 * MS;
  assert_ptr_equal(sched_fx_next(f), c);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 2);
  e = nth(PACER_EVENT_BREAKER, 1);
  assert_int_equal(e->from, PACER_BREAKER_OPEN);
  assert_int_equal(e->to, PACER_BREAKER_HALF_OPEN);
  sched_fx_end(f, c, 200, -1, NULL);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 3);
  e = nth(PACER_EVENT_BREAKER, 2);
  assert_int_equal(e->from, PACER_BREAKER_HALF_OPEN);
  assert_int_equal(e->to, PACER_BREAKER_CLOSED);
  sched_fx_free(f);
}

/* The cooldown's end noticed by a stats snapshot, not a gate, is told
 * too (once). */
static void breaker_change_seen_by_stats_is_told(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(breaker_small, 0);
  pacer__job_t *a = push(f, "k"), *b = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), a);
  assert_ptr_equal(sched_fx_next(f), b);
  sched_fx_end(f, a, 500, -1, NULL);
  sched_fx_end(f, b, 500, -1, NULL);
  f->now += 2 * S;
  pacer_stats_t *st = calloc(1, sizeof *st);
  assert_non_null(st);
  assert_int_equal(pacer__sched_stats(&f->s, f->now, st), 0);
  assert_int_equal(st->keys[0].breaker, PACER_BREAKER_HALF_OPEN);
  pacer_stats_free(st);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 2);
  assert_int_equal(nth(PACER_EVENT_BREAKER, 1)->to, PACER_BREAKER_HALF_OPEN);
  pacer__job_t *c = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), c);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 2);
  sched_fx_end(f, c, 200, -1, NULL);
  sched_fx_free(f);
}

static void retry_after_pauses_retries_and_resumes(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(NULL, 0);
  pacer_request_t r;
  sched_fx_request(&r, "k");
  r.max_attempts = 3;
  pacer__job_t *a = sched_fx_push_req(f, &r);
  assert_ptr_equal(sched_fx_next(f), a);
  pacer__job_t *b = push(f, "k");
  assert_int_equal(sched_fx_end(f, a, 429, 2 * S, NULL), PACER__SCHED_RETRY);
  assert_int_equal(evr.n, 2);
  const ev_copy_t *p = &evr.ev[0], *t = &evr.ev[1];
  assert_int_equal(p->type, PACER_EVENT_PAUSE);
  assert_string_equal(p->key, "k");
  assert_int_equal(p->reason, PACER_REASON_RETRY_AFTER);
  assert_int_equal(p->duration_ms, 2000);
  assert_int_equal(t->type, PACER_EVENT_RETRY);
  assert_int_equal(t->job, a->id);
  assert_int_equal(t->attempt, 1);
  assert_int_equal(t->status, 429);
  assert_int_equal(t->error, 0);
  assert_int_equal(t->reason, PACER_REASON_RETRY_AFTER);
  assert_int_equal(t->delay_ms, 2000);
  /* held: no resume yet */
  f->now += 1999 * MS;
  assert_null(sched_fx_next(f));
  assert_int_equal(count_of(PACER_EVENT_RESUME), 0);
  f->now += 1 * MS;
  pacer__job_t *n = sched_fx_next(f);
  assert_true(n == a || n == b);
  assert_int_equal(count_of(PACER_EVENT_RESUME), 1);
  assert_string_equal(nth(PACER_EVENT_RESUME, 0)->key, "k");
  pacer__job_t *n2 = sched_fx_next(f);
  assert_non_null(n2);
  assert_int_equal(count_of(PACER_EVENT_RESUME), 1); /* once */
  /* a backoff retry says so */
  assert_int_equal(sched_fx_end(f, a, 503, -1, NULL), PACER__SCHED_RETRY);
  const ev_copy_t *t2 = nth(PACER_EVENT_RETRY, 1);
  assert_int_equal(t2->reason, PACER_REASON_BACKOFF);
  assert_int_equal(t2->attempt, 2);
  assert_true(t2->delay_ms >= 0 && t2->delay_ms <= 400);
  sched_fx_end(f, b, 200, -1, NULL);
  sched_fx_free(f);
}

static pacer__ratehdr_t quota(int64_t limit, int64_t remaining,
                              int64_t reset_ns)
{
  pacer__ratehdr_t q;
  memset(&q, 0, sizeof q);
  q.found = 1;
  q.source = PACER__RATEHDR_X;
  q.limit = limit;
  q.window_ns = -1;
  q.remaining = remaining;
  q.reset_ns = reset_ns;
  return q;
}

static void announced_quota_retunes_and_pauses(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(NULL, 0);
  pacer__job_t *a = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), a);
  pacer__ratehdr_t q = quota(100, 10, 10 * S); /* 10 left for 10 s */
  sched_fx_end(f, a, 200, -1, &q);
  assert_int_equal(count_of(PACER_EVENT_RATE), 1);
  const ev_copy_t *r = nth(PACER_EVENT_RATE, 0);
  assert_string_equal(r->key, "k");
  assert_int_equal(r->reason, PACER_REASON_ANNOUNCED);
  assert_true(r->rate > 0.9 && r->rate <= 1.2); /* 10 (+1) over 10 s */
  /* the quota spent: paused to the reset */
  pacer__job_t *b = push(f, "k");
  f->now += 1 * S;
  assert_ptr_equal(sched_fx_next(f), b);
  q = quota(100, 0, 9 * S);
  sched_fx_end(f, b, 200, -1, &q);
  assert_int_equal(count_of(PACER_EVENT_PAUSE), 1);
  const ev_copy_t *p = nth(PACER_EVENT_PAUSE, 0);
  assert_int_equal(p->reason, PACER_REASON_ANNOUNCED);
  assert_true(p->duration_ms >= 9000 && p->duration_ms <= 10000);
  /* no answer for long after the window: back on its own limits */
  f->now += 30 * S;
  pacer__job_t *c = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), c);
  const ev_copy_t *last = nth(PACER_EVENT_RATE, count_of(PACER_EVENT_RATE) - 1);
  assert_int_equal(last->reason, PACER_REASON_NONE);
  assert_true(last->rate == 0); /* the key has no rate of its own */
  assert_int_equal(count_of(PACER_EVENT_RESUME), 1);
  sched_fx_end(f, c, 200, -1, NULL);
  sched_fx_free(f);
}

static void aimd_cut_is_told(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(NULL, 0);
  pacer__job_t *a = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), a);
  sched_fx_end(f, a, 429, -1, NULL); /* no Retry-After, no quota */
  assert_int_equal(count_of(PACER_EVENT_RATE), 1);
  assert_int_equal(nth(PACER_EVENT_RATE, 0)->reason, PACER_REASON_AIMD);
  assert_true(nth(PACER_EVENT_RATE, 0)->rate > 0);
  assert_int_equal(count_of(PACER_EVENT_PAUSE), 0);
  sched_fx_free(f);
}

/* A pause another process wrote to the store is told once, as shared; the
 * process's own pause, read back from the store, is not told again. */
static void shared_pause_is_told_once(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(NULL, 1);
  fake_store_bucket(&f->fs, "k")->paused_until = f->now + 3 * S;
  pacer__job_t *a = push(f, "k");
  assert_null(sched_fx_next(f));
  assert_null(sched_fx_next(f));
  assert_int_equal(count_of(PACER_EVENT_PAUSE), 1);
  const ev_copy_t *p = nth(PACER_EVENT_PAUSE, 0);
  assert_int_equal(p->reason, PACER_REASON_SHARED);
  assert_int_equal(p->duration_ms, 3000);
  f->now += 3 * S;
  assert_ptr_equal(sched_fx_next(f), a);
  assert_int_equal(count_of(PACER_EVENT_RESUME), 1);
  /* its own Retry-After goes to the store and comes back from it */
  pacer_request_t r;
  sched_fx_request(&r, "k");
  r.max_attempts = 2;
  sched_fx_end(f, a, 200, -1, NULL);
  pacer__job_t *b = sched_fx_push_req(f, &r);
  assert_ptr_equal(sched_fx_next(f), b);
  pacer__job_t *c = push(f, "k");
  sched_fx_end(f, b, 503, 2 * S, NULL);
  assert_int_equal(count_of(PACER_EVENT_PAUSE), 2);
  assert_int_equal(nth(PACER_EVENT_PAUSE, 1)->reason, PACER_REASON_RETRY_AFTER);
  f->now += 1 * S;
  assert_null(sched_fx_next(f));
  assert_int_equal(count_of(PACER_EVENT_PAUSE), 2);
  f->now += 1 * S;
  pacer__job_t *n1 = sched_fx_next(f), *n2 = sched_fx_next(f);
  assert_true((n1 == b && n2 == c) || (n1 == c && n2 == b));
  assert_int_equal(count_of(PACER_EVENT_RESUME), 2);
  sched_fx_end(f, b, 200, -1, NULL);
  sched_fx_end(f, c, 200, -1, NULL);
  sched_fx_free(f);
}

/* Settings changed live: new key defaults are the program's own change,
 * not an event (a crawler's many keys would each tell of it); breakers
 * turned on again start closed, and an open one tells of it. */
static int reconf(sched_fx_t *f, double key_rate, int breakers)
{
  pacer_config_t c = f->cfg;
  c.key_rate = key_rate;
  c.breaker_enabled = breakers;
  pacer__sched_cfg_t sc;
  pacer__sched_cfg_from(&c, &sc);
  sc.seed = 42;
  int rc = pacer__sched_reconfigure(&f->s, &sc, f->now);
  if (rc == 0)
    f->cfg = c;
  return rc;
}

static void live_changes_tell_only_of_state(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f = fx_events(breaker_small, 0);
  for (int i = 0; i < 50; i++) { /* 50 keys, each with one answer */
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    pacer__job_t *j = push(f, key);
    assert_ptr_equal(sched_fx_next(f), j);
    sched_fx_end(f, j, 200, -1, NULL);
  }
  pacer__job_t *a = push(f, "bad"), *b = push(f, "bad");
  assert_ptr_equal(sched_fx_next(f), a);
  assert_ptr_equal(sched_fx_next(f), b);
  sched_fx_end(f, a, 500, -1, NULL);
  sched_fx_end(f, b, 500, -1, NULL);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 1); /* bad opened */
  size_t before = evr.n;
  assert_int_equal(reconf(f, 5, 1), 0); /* new key defaults */
  assert_int_equal(evr.n, before);      /* told of nothing */
  assert_int_equal(reconf(f, 5, 0), 0); /* breakers off ... */
  assert_int_equal(reconf(f, 5, 1), 0); /* ... and on again */
  assert_int_equal(count_of(PACER_EVENT_RATE), 0);
  assert_int_equal(count_of(PACER_EVENT_BREAKER), 2);
  const ev_copy_t *e = nth(PACER_EVENT_BREAKER, 1);
  assert_string_equal(e->key, "bad");
  assert_int_equal(e->from, PACER_BREAKER_OPEN);
  assert_int_equal(e->to, PACER_BREAKER_CLOSED);
  sched_fx_free(f);
}

/* No hook: nothing is made, nothing breaks. */
static void no_hook_no_events(void **state)
{
  (void)state;
  evr_reset();
  sched_fx_t *f =
      sched_fx_open(&(sched_fx_opts_t){.tweak = breaker_small, .start_ns = T0});
  pacer__job_t *a = push(f, "k"), *b = push(f, "k");
  assert_ptr_equal(sched_fx_next(f), a);
  assert_ptr_equal(sched_fx_next(f), b);
  sched_fx_end(f, a, 429, 1 * S, NULL);
  sched_fx_end(f, b, 500, -1, NULL);
  assert_int_equal(evr.n, 0);
  sched_fx_free(f);
}

/* ---- delivery by a dispatcher ---- */

static void reply_by_path(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  const char *u = pacer__job_url(j);
  if (strstr(u, "/ra") && j->attempts == 1) {
    r->status = 429;
    r->retry_after = "1";
  } else if (strstr(u, "/fail")) {
    r->status = 500;
  } else {
    r->status = 200;
  }
}

static int submit_url(pacer_t *p, const char *url, unsigned attempts,
                      uint64_t *id)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  q.max_attempts = attempts;
  return pacer_submit(p, &q, rec_on_done, &rec, id);
}

static void dispatcher_delivers_in_order_on_one_thread(void **state)
{
  (void)state;
  evr_reset();
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.breaker_window = 2;
  c.breaker_min_calls = 2;
  c.breaker_threshold = 1.0;
  c.event_cb = on_event;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_by_path});
  pthread_mutex_lock(&evr.mu);
  evr.p = e.p; /* the callback takes a snapshot each time */
  pthread_mutex_unlock(&evr.mu);
  uint64_t ids[3];
  assert_int_equal(submit_url(e.p, "http://a.test/ra", 2, &ids[0]), 0);
  pacer__wait_settled(e.p, 1);
  fake_clock_advance(&e.clk, 1 * S);
  assert_int_equal(submit_url(e.p, "http://b.test/fail", 1, &ids[1]), 0);
  assert_int_equal(submit_url(e.p, "http://b.test/fail", 1, &ids[2]), 0);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, ids, 3);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->events_dropped, 0);
  pacer_stats_free(st);
  pthread_mutex_lock(&evr.mu);
  evr.p = NULL;
  pthread_mutex_unlock(&evr.mu);
  eng_free(&e); /* every event is delivered before it returns */
  assert_int_equal(evr.stats_rc, 0);
  assert_false(evr.other_thread);
  /* pause, retry, resume of a.test, then b.test's breaker opening */
  assert_true(evr.n >= 4);
  assert_int_equal(evr.ev[0].type, PACER_EVENT_PAUSE);
  assert_string_equal(evr.ev[0].key, "a.test");
  assert_int_equal(evr.ev[1].type, PACER_EVENT_RETRY);
  assert_int_equal(evr.ev[1].job, ids[0]);
  assert_int_equal(evr.ev[2].type, PACER_EVENT_RESUME);
  const ev_copy_t *b = nth(PACER_EVENT_BREAKER, 0);
  assert_string_equal(b->key, "b.test");
  assert_int_equal(b->to, PACER_BREAKER_OPEN);
  for (size_t i = 1; i < evr.n; i++)
    assert_true(evr.ev[i].time_ms >= evr.ev[i - 1].time_ms);
}

/* A job shed from a full queue is told, before its callback's end is
 * counted. */
static void shed_is_told(void **state)
{
  (void)state;
  evr_reset();
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.queue_max = 2;
  c.queue_policy = PACER_QUEUE_DROP_OLDEST_LOW;
  c.event_cb = on_event;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = fake_reply_hold});
  uint64_t ids[4];
  assert_int_equal(submit_url(e.p, "http://s.test/1", 1, &ids[0]), 0);
  fake_tx_wait_held(e.tx, 1); /* in flight, held: the rest stay queued */
  assert_int_equal(submit_url(e.p, "http://s.test/2", 1, &ids[1]), 0);
  assert_int_equal(submit_url(e.p, "http://s.test/3", 1, &ids[2]), 0);
  assert_int_equal(submit_url(e.p, "http://s.test/4", 1, &ids[3]), 0);
  rec_wait(&rec, 1); /* the shed job's callback */
  fake_reply_t ok = {.status = 200};
  for (size_t done = 2; done <= 4; done++) { /* 1, 3 and 4 in turn */
    fake_tx_wait_held(e.tx, 1);
    assert_int_equal(fake_tx_release_all(e.tx, &ok), 1);
    rec_wait(&rec, done);
  }
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  rec_assert_once(&rec, ids, 4);
  assert_int_equal(rec_of(&rec, ids[1])->error, PACER_ESHED);
  assert_int_equal(count_of(PACER_EVENT_SHED), 1);
  const ev_copy_t *sh = nth(PACER_EVENT_SHED, 0);
  assert_int_equal(sh->job, ids[1]);
  assert_string_equal(sh->key, "s.test");
}

/* Events nobody takes are not kept without bound: past the queue's bound
 * they are dropped and counted, and every event made is either delivered
 * or counted. The callback is held on a lock so the queue fills (the
 * workers go on starting and settling jobs meanwhile). */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t held_delivered; /* under hold_mu */

static void on_event_held(const pacer_event_t *e, void *user)
{
  (void)user;
  pthread_mutex_lock(&hold_mu);
  held_delivered += e->type == PACER_EVENT_RETRY;
  pthread_mutex_unlock(&hold_mu);
}

static void reply_503(void *user, const pacer__job_t *j, fake_reply_t *r)
{
  (void)user;
  (void)j;
  r->status = 503;
}

static void undelivered_events_are_bounded(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.breaker_enabled = 0;
  c.adapt_aimd = 0;
  c.retry_budget_ratio = 0; /* every retry is made */
  c.backoff_base_ms = 1;
  c.backoff_max_ms = 1;
  c.event_cb = on_event_held;
  eng_t e;
  eng_new(&e, &c, &(eng_opts_t){.reply = reply_503});
  pthread_mutex_lock(&hold_mu);
  held_delivered = 0;
  /* each job's first 503 makes one retry event: twice what the queue
   * holds, so that it overflows however many the dispatcher took before
   * its first callback stuck (under valgrind the threads take turns) */
  enum { JOBS = 2 * PACER__EVENTS_MAX };
  /* one batch: all queued at once, so the workers, which go on starting
   * queued jobs while the dispatcher's thread is held, never run dry
   * (a later submit would wait for that thread) */
  static pacer_request_t reqs[JOBS];
  static void *users[JOBS];
  for (int i = 0; i < JOBS; i++) {
    users[i] = &rec;
    pacer_request_init(&reqs[i]);
    reqs[i].url = "http://c.test/x";
    reqs[i].max_attempts = 2;
  }
  assert_int_equal(
      pacer_submit_batch(e.p, reqs, JOBS, rec_on_done, users, NULL, NULL), 0);
  pacer__wait_settled(e.p, JOBS); /* every first attempt */
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  uint64_t dropped = st->events_dropped;
  pacer_stats_free(st);
  pthread_mutex_unlock(&hold_mu);
  fake_clock_advance(&e.clk, 10 * MS); /* the retries are due */
  assert_int_equal(pacer_drain(e.p, -1), 0);
  eng_free(&e);
  assert_int_equal(rec.n, JOBS);
  /* the queue held its bound, the rest was counted, nothing was lost */
  assert_true(dropped > 0);
  assert_true(held_delivered >= PACER__EVENTS_MAX);
  assert_int_equal(held_delivered + dropped, JOBS);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(queue_copies_keeps_order_and_counts_drops),
      cmocka_unit_test(json_has_the_fields_of_each_type),
      cmocka_unit_test(breaker_tells_each_change),
      cmocka_unit_test(breaker_change_seen_by_stats_is_told),
      cmocka_unit_test(retry_after_pauses_retries_and_resumes),
      cmocka_unit_test(announced_quota_retunes_and_pauses),
      cmocka_unit_test(aimd_cut_is_told),
      cmocka_unit_test(shared_pause_is_told_once),
      cmocka_unit_test(live_changes_tell_only_of_state),
      cmocka_unit_test(no_hook_no_events),
      cmocka_unit_test(dispatcher_delivers_in_order_on_one_thread),
      cmocka_unit_test(shed_is_told),
      cmocka_unit_test(undelivered_events_are_bounded),
  };
  return cmocka_run_group_tests(tests, rec_group_setup, rec_group_teardown);
}
