/* SPDX-License-Identifier: MIT */
/* test_shared.c - the scheduler over a shared-limit store (a fake one,
 * tests/support/fake_store.c): global and key buckets drawn from the store
 * and the local ones left alone, the key token lost to a refused global one,
 * PENDING parked until notify, the store's waits in sched_wake, and
 * Retry-After pauses written to and read from the store; then pacer_new()
 * with a store it cannot open (PACER_ESHARED) and with a shared-memory one.
 * No sleeps: time is a number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "engine_fixture.h"
#include "fake_store.h"
#include "job.h"
#include "logcap.h"
#include "sched_fixture.h"
#include "scheduler.h"
#include "shared.h"
#include "shm_store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS

typedef struct limits {
  double rate, key_rate;
  unsigned burst, key_burst;
} limits_t;

static void set_limits(pacer_config_t *in, void *user)
{
  const limits_t *l = user;
  in->concurrency = 1000;
  in->rate = l->rate;
  in->burst = l->burst;
  in->key_rate = l->key_rate;
  in->key_burst = l->key_burst;
}

/* A scheduler over a fake store, with rate/burst and key_rate/key_burst. */
static sched_fx_t *fx_new(double rate, unsigned burst, double key_rate,
                          unsigned key_burst)
{
  limits_t l = {rate, key_rate, burst, key_burst};
  sched_fx_opts_t o = {.tweak_with = set_limits, .user = &l, .store = 1};
  return sched_fx_open(&o);
}

/* Ends an in-flight job's attempt with status (and a Retry-After, or -1)
 * and frees it if it ended. */
static int done(sched_fx_t *f, pacer__job_t *j, int status, int64_t ra)
{
  pacer__attempt_end_t e = {.status = status, .retry_after_ns = ra};
  int r = pacer__sched_done(&f->s, j, &e, f->now);
  if (r == PACER__SCHED_END)
    sched_fx_release(f, j);
  return r;
}

static void finish(sched_fx_t *f, pacer__job_t *j)
{
  assert_int_equal(done(f, j, 200, -1), PACER__SCHED_END);
}

/* The global bucket comes from the store (rate 10/s, burst 2): two at once,
 * then one per 100 ms, the waits the store's; the local bucket is never
 * touched and the keys (no rate) never ask it. */
static void global_from_store(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(10, 2, 0, 0);
  for (int i = 0; i < 4; i++)
    sched_fx_push(f, i % 2 ? "a" : "b");
  pacer__job_t *j1 = sched_fx_next(f), *j2 = sched_fx_next(f);
  assert_non_null(j1);
  assert_non_null(j2);
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_grants(&f->fs, ""), 2);
  assert_int_equal(fake_store_takes(&f->fs, ""), 3);
  assert_int_equal(fake_store_takes(&f->fs, "a"), 0);
  assert_int_equal(fake_store_takes(&f->fs, "b"), 0);
  assert_true(pacer__bucket_full(&f->s.bucket, f->now));
  /* The store's wait is the dispatcher's: nothing is asked before it. */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 100 * MS);
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_takes(&f->fs, ""), 3);
  f->now += 100 * MS;
  pacer__job_t *j3 = sched_fx_next(f);
  assert_non_null(j3);
  assert_null(sched_fx_next(f));
  assert_true(pacer__bucket_full(&f->s.bucket, f->now));
  finish(f, j1);
  finish(f, j2);
  finish(f, j3);
  sched_fx_free(f);
}

/* A key's bucket (5/s, burst 1) comes from the store; the global one, with
 * no rate, is never asked; the key's local bucket stays full. */
static void key_from_store(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(0, 0, 5, 1);
  sched_fx_push(f, "a");
  sched_fx_push(f, "a");
  pacer__job_t *j1 = sched_fx_push(f, "b");
  (void)j1;
  pacer__job_t *a1 = sched_fx_next(f), *b1 = sched_fx_next(f);
  assert_non_null(a1);
  assert_non_null(b1);
  assert_null(sched_fx_next(f)); /* a's second job waits for the store */
  assert_int_equal(fake_store_grants(&f->fs, "a"), 1);
  assert_int_equal(fake_store_takes(&f->fs, "a"), 2);
  assert_int_equal(fake_store_grants(&f->fs, "b"), 1);
  assert_int_equal(fake_store_takes(&f->fs, ""), 0);
  pacer__key_t *ka = pacer__keys_find(&f->s.keys, "a");
  assert_true(pacer__bucket_full(&ka->bucket, f->now));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 200 * MS);
  f->now += 199 * MS;
  assert_null(sched_fx_next(f));
  f->now += 1 * MS;
  pacer__job_t *a2 = sched_fx_next(f);
  assert_non_null(a2);
  finish(f, a1);
  finish(f, b1);
  finish(f, a2);
  sched_fx_free(f);
}

/* Keys limited by pacer_key_limits_set() are drawn from the store too. */
static void set_key_limits_from_store(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(0, 0, 0, 0);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "slow", 2, 1, 0, f->now),
                   0);
  sched_fx_push(f, "slow");
  sched_fx_push(f, "slow");
  sched_fx_push(f, "free");
  pacer__job_t *a = sched_fx_next(f), *b = sched_fx_next(f);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_grants(&f->fs, "slow"), 1);
  assert_int_equal(fake_store_takes(&f->fs, "free"), 0);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 500 * MS);
  finish(f, a);
  finish(f, b);
  sched_fx_free(f);
}

/* Key first, then global: a global refusal right after the key's grant
 * loses that key token (counted), and the key then waits a full interval
 * for its next one. */
static void key_token_lost_when_global_refuses(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(100, 1, 10, 1);
  sched_fx_push(f, "a");
  fake_store_bucket(&f->fs, "")->force = 30 * MS;
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_grants(&f->fs, "a"), 1);
  assert_int_equal(f->s.store_key_lost, 1);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 30 * MS);
  fake_store_bucket(&f->fs, "")->force = 0;
  f->now += 30 * MS;
  assert_null(sched_fx_next(f)); /* a's token went with the refusal */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 70 * MS);
  f->now += 70 * MS;
  pacer__job_t *j = sched_fx_next(f);
  assert_non_null(j);
  assert_int_equal(fake_store_grants(&f->fs, "a"), 2);
  assert_int_equal(fake_store_grants(&f->fs, ""), 1);
  finish(f, j);
  sched_fx_free(f);
}

/* A key told PENDING is parked until the store's notify; other keys go on;
 * notify lets it start at the same instant. */
static void key_pending_until_notify(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(0, 0, 10, 1);
  sched_fx_push(f, "a");
  fake_store_bucket(&f->fs, "a")->force = PACER__SHARED_PENDING;
  assert_null(sched_fx_next(f));
  uint64_t asked = fake_store_takes(&f->fs, "a");
  pacer__job_t *b = sched_fx_push(f, "b");
  assert_ptr_equal(sched_fx_next(f), b);
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_takes(&f->fs, "a"), asked); /* parked */
  /* Only the fallback recheck, never a busy loop. */
  assert_int_equal(pacer__sched_wake(&f->s, f->now),
                   f->now + PACER__SCHED_PENDING_RECHECK_NS);
  fake_store_bucket(&f->fs, "a")->force = 0;
  pacer__sched_store_notify(&f->s);
  pacer__job_t *a = sched_fx_next(f);
  assert_non_null(a);
  finish(f, a);
  finish(f, b);
  sched_fx_free(f);
}

/* The global bucket told PENDING holds every start until notify, without
 * asking the store again meanwhile. */
static void global_pending_until_notify(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(50, 1, 0, 0);
  sched_fx_push(f, "a");
  sched_fx_push(f, "b");
  fake_store_bucket(&f->fs, "")->force = PACER__SHARED_PENDING;
  assert_null(sched_fx_next(f));
  assert_null(sched_fx_next(f));
  assert_int_equal(fake_store_takes(&f->fs, ""), 1);
  assert_int_equal(pacer__sched_wake(&f->s, f->now),
                   f->now + PACER__SCHED_PENDING_RECHECK_NS);
  fake_store_bucket(&f->fs, "")->force = 0;
  pacer__sched_store_notify(&f->s);
  pacer__job_t *j = sched_fx_next(f);
  assert_non_null(j);
  assert_null(sched_fx_next(f)); /* 50/s, burst 1: the next in 20 ms */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 20 * MS);
  finish(f, j);
  sched_fx_free(f);
}

/* A positive wait answered by the store is when the dispatcher wakes. */
static void store_wait_in_wake(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(1000, 1000, 0, 0);
  sched_fx_push(f, "a");
  fake_store_bucket(&f->fs, "")->force = 7 * MS;
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 7 * MS);
  fake_store_bucket(&f->fs, "")->force = 0;
  f->now += 7 * MS;
  pacer__job_t *j = sched_fx_next(f);
  assert_non_null(j);
  finish(f, j);
  sched_fx_free(f);
}

/* A Retry-After pauses the key in the store too, for every process. */
static void retry_after_written_to_store(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(0, 0, 0, 0);
  pacer__job_t *j = sched_fx_push(f, "a");
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, 429, 2 * S), PACER__SCHED_RETRY);
  assert_int_equal(f->fs.pauses, 1);
  assert_int_equal(fake_store_bucket(&f->fs, "a")->paused_until,
                   f->now + 2 * S);
  f->now += 2 * S;
  assert_ptr_equal(sched_fx_next(f), j);
  finish(f, j);
  sched_fx_free(f);
}

/* A pause another process wrote to the store holds the key here; other
 * keys go on. */
static void pause_read_from_store(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(0, 0, 0, 0);
  fake_store_bucket(&f->fs, "a")->paused_until = f->now + 1500 * MS;
  pacer__job_t *a = sched_fx_push(f, "a");
  pacer__job_t *b = sched_fx_push(f, "b");
  assert_ptr_equal(sched_fx_next(f), b);
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 1500 * MS);
  f->now += 1499 * MS;
  assert_null(sched_fx_next(f));
  f->now += 1 * MS;
  assert_ptr_equal(sched_fx_next(f), a);
  finish(f, a);
  finish(f, b);
  sched_fx_free(f);
}

/* No store: the local buckets as before (the store is never consulted). */
static void without_store_local_buckets(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(10, 1, 0, 0);
  pacer__sched_set_store(&f->s, NULL);
  sched_fx_push(f, "a");
  sched_fx_push(f, "a");
  pacer__job_t *j = sched_fx_next(f);
  assert_non_null(j);
  assert_null(sched_fx_next(f));
  assert_int_equal(f->fs.takes, 0);
  assert_false(pacer__bucket_full(&f->s.bucket, f->now));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 100 * MS);
  finish(f, j);
  sched_fx_free(f);
}

/* pacer_new() refuses a store it cannot open with PACER_ESHARED, and an
 * empty name as a bad setting. */
static void new_fails_with_eshared(void **state)
{
  (void)state;
  static const char *const bad[] = {"nope:x",
                                    "shm:",
                                    "shm:a/b",
                                    "redis://127.0.0.1:notaport/0",
                                    "redis://127.0.0.1:6379?fallback=0",
                                    "redis://127.0.0.1:6379?fallback=1.5"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pacer_config_t cfg;
    pacer_config_init(&cfg);
    cfg.shared_limit = bad[i];
    eng_t e;
    assert_int_equal(eng_try(&e, &cfg, NULL), PACER_ESHARED);
    assert_null(e.p);
  }
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.shared_limit = "";
  eng_t e;
  assert_int_equal(eng_try(&e, &cfg, NULL), PACER_EINVAL);
}

/* A fallback fraction out of (0, 1], or not a plain decimal, is refused
 * before any connection is tried, and the log says what is wrong. */
static void bad_fallback_logged(void **state)
{
  (void)state;
  static const char *const bad[] = {"0", "1.5", "-1", "x", "", "1e-1", "0.5%"};
  static logcap_t cap = LOGCAP_INITIALIZER;
  static logcap_t got;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:6379/0?name=q&fallback=%s",
             bad[i]);
    logcap_reset(&cap);
    pacer_config_t cfg;
    pacer_config_init(&cfg);
    cfg.shared_limit = url;
    cfg.log_cb = logcap_on_log;
    cfg.log_user = &cap;
    eng_t e;
    assert_int_equal(eng_try(&e, &cfg, NULL), PACER_ESHARED);
    assert_null(e.p);
    logcap_take(&cap, &got);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.first_level[0], PACER_LOG_ERROR);
    if (!strstr(got.first[0], "fallback must be a fraction above 0 and at "
                              "most 1"))
      fail_msg("fallback=%s: %s", bad[i], got.first[0]);
  }
}

/* The tokens a take keeps in hand: ceil(rate x margin), the burst never
 * below 1, none with a margin of 0. */
static void margin_burst(void **state)
{
  (void)state;
  assert_int_equal(pacer__shared_burst(400, 10, 5 * MS), 8);
  assert_int_equal(pacer__shared_burst(400, 10, 0), 10);
  assert_int_equal(pacer__shared_burst(400, 10, 10 * MS), 6);
  assert_int_equal(pacer__shared_burst(401, 10, 5 * MS), 7);
  assert_int_equal(pacer__shared_burst(5, 1, 5 * MS), 1);
  assert_int_equal(pacer__shared_burst(5, 3, 5 * MS), 2);
  assert_int_equal(pacer__shared_burst(400, 2, 5 * MS), 1);
  assert_int_equal(pacer__shared_burst(1e6, 10, 5 * MS), 1);
  assert_int_equal(pacer__shared_burst(1000, 1000, 1000 * MS), 1);
}

/* How many tokens a fresh shm bucket (400/s, burst 10) grants at once
 * through a store opened with url (NAME in it is replaced). */
static int burst_through(const char *query)
{
  char name[64], url[128], err[256];
  snprintf(name, sizeof name, "pacer-unit-margin-%ld", (long)getpid());
  snprintf(url, sizeof url, "shm:%s%s", name, query);
  pacer__shared_t *sh;
  int rc = pacer__shared_open(url, &pacer__clock_real, NULL, NULL, NULL, NULL,
                              &sh, err, sizeof err);
  if (rc)
    fail_msg("%s: %d %s", url, rc, err);
  int n = 0;
  while (n < 100 && pacer__shared_take(sh, "", 400, 10, 1000 * S) == 0)
    n++;
  pacer__shared_close(sh);
  assert_int_equal(pacer__shm_unlink(name), 0);
  return n;
}

/* margin_ms in the URL's query sets the margin of both stores' takes
 * (default 5 ms: 2 of 10 tokens at 400/s kept in hand); a bad value, or
 * any other parameter after shm:NAME, is refused with a reason, and the
 * Redis URL's own parameters are still read after margin_ms is taken out. */
static void margin_in_url(void **state)
{
  (void)state;
  assert_int_equal(burst_through(""), 8);
  assert_int_equal(burst_through("?margin_ms=0"), 10);
  assert_int_equal(burst_through("?margin_ms=10"), 6);
  assert_int_equal(burst_through("?margin_ms=1000"), 1);
  static const char *const bad[] = {
      "shm:m?margin_ms=1001",
      "shm:m?margin_ms=",
      "shm:m?margin_ms=5x",
      "shm:m?margin_ms=-1",
      "shm:m?foo=1",
      "shm:m?margin_ms=1&x=2",
      "shm:m?margin_ms=99999999999999999999",
      "shm:m?",
      "redis://127.0.0.1:1/0?margin_ms=3&fallback=0",
      "redis://127.0.0.1:1/0?fallback=0&margin_ms=3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256];
    pacer__shared_t *sh = (pacer__shared_t *)1;
    assert_int_equal(pacer__shared_open(bad[i], &pacer__clock_real, NULL, NULL,
                                        NULL, NULL, &sh, err, sizeof err),
                     PACER_EINVAL);
    assert_null(sh);
    const char *want = strstr(bad[i], "fallback") ? "fallback must be"
                       : strstr(bad[i], "margin_ms=1&") || strstr(bad[i], "foo")
                           ? "margin_ms the only parameter"
                       : bad[i][strlen(bad[i]) - 1] == '?'
                           ? "an empty query"
                           : "margin_ms must be 0..1000";
    if (!strstr(err, want))
      fail_msg("%s: %s", bad[i], err);
  }
}

/* A dispatcher over a shared-memory store says so in its stats. */
static void new_with_shm_store(void **state)
{
  (void)state;
  char name[64], url[80];
  snprintf(name, sizeof name, "pacer-unit-shared-%ld", (long)getpid());
  snprintf(url, sizeof url, "shm:%s", name);
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.shared_limit = url;
  cfg.rate = 10;
  eng_t e;
  eng_new(&e, &cfg, NULL);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(e.p, &st), 0);
  assert_int_equal(st->shared_state, 1);
  assert_int_equal(st->shared_grants, 0);
  pacer_stats_free(st);
  eng_free(&e);
  assert_int_equal(pacer__shm_unlink(name), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(global_from_store),
      cmocka_unit_test(key_from_store),
      cmocka_unit_test(set_key_limits_from_store),
      cmocka_unit_test(key_token_lost_when_global_refuses),
      cmocka_unit_test(key_pending_until_notify),
      cmocka_unit_test(global_pending_until_notify),
      cmocka_unit_test(store_wait_in_wake),
      cmocka_unit_test(retry_after_written_to_store),
      cmocka_unit_test(pause_read_from_store),
      cmocka_unit_test(without_store_local_buckets),
      cmocka_unit_test(new_fails_with_eshared),
      cmocka_unit_test(bad_fallback_logged),
      cmocka_unit_test(new_with_shm_store),
      cmocka_unit_test(margin_burst),
      cmocka_unit_test(margin_in_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
