/* SPDX-License-Identifier: MIT */
/* test_budget.c - the retry budget and slow calls against a real pacer-mock
 * on loopback. What was sent is counted by the server; how jobs ended is
 * counted in the callbacks and checked on the main thread after
 * pacer_drain(). Nothing sleeps; no bound here is a time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e.h"
#include <pacer/pacer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dispatcher for a server failing every request: retries come quickly,
 * and neither the breaker nor AIMD (which would also spare the server)
 * stands in the way, so the budget alone bounds the load. The window is a
 * minute, longer than the run even under the sanitizers, so the bound is
 * one window's: retries <= max(ratio x jobs, the floor's 3). */
static pacer_config_t failing_server_cfg(double ratio)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 50;
  c.max_attempts = 3;
  c.backoff_base_ms = 5;
  c.backoff_max_ms = 20;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0;
  c.retry_budget_ratio = ratio;
  c.retry_budget_min_per_s = 0.05; /* 3 in the window */
  c.retry_budget_window_ms = 60000;
  return c;
}

/* Submits n GETs of path, drains, and returns the arrivals the server
 * counted and, through the pointers, how the jobs ended and the stats. */
static long long run_failing(const pacer_config_t *c, int n, const char *path,
                             unsigned *budget_ends, unsigned *retries_ends,
                             pacer_stats_t **stats)
{
  pacer_t *p;
  assert_int_equal(pacer_new(c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t *ids = calloc((size_t)n, sizeof *ids);
  assert_non_null(ids);
  for (int i = 0; i < n; i++)
    ids[i] = submit_path(p, path, "fail", PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 120000), 0);
  assert_int_equal(pacer_stats_get(p, stats), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, (size_t)n);
  *budget_ends = *retries_ends = 0;
  for (int i = 0; i < n; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->status, 503); /* the last answer, kept */
    if (r->error == PACER_EBUDGET) {
      (*budget_ends)++;
      assert_non_null(strstr(r->message, "retry budget"));
      assert_true(r->header_count > 0); /* the 503's headers, kept */
    } else {
      assert_int_equal(r->error, PACER_ERETRIES);
      assert_int_equal(r->attempts, 3);
      (*retries_ends)++;
    }
  }
  free(ids);
  return mock_stat(&mock, "total");
}

/* 300 jobs to a server answering 503 to everything: it sees at most
 * (1 + 0.2) x 300 = 360 requests, where without the budget it would see
 * max_attempts x 300 = 900 (checked on 100 jobs: 300). */
static void failing_server_sees_at_most_its_share_of_retries(void **state)
{
  (void)state;
  enum { N = 300 };
  const char *path = "/budget?fail503_rate=1";
  pacer_config_t c = failing_server_cfg(0.2);
  unsigned be, re;
  pacer_stats_t *st;
  long long seen = run_failing(&c, N, path, &be, &re, &st);
  printf("# budget 0.2: %d jobs, server saw %lld requests (%.2f per job); "
         "%u ended by the budget, %u by max_attempts; retried %llu, "
         "refused %llu\n",
         N, seen, (double)seen / N, be, re, (unsigned long long)st->retried,
         (unsigned long long)st->retries_refused);
  assert_true(seen >= N);
  assert_true(seen <= (long long)(1.2 * N));
  assert_int_equal(st->started, (uint64_t)seen);
  assert_int_equal(st->retries_refused, be);
  assert_int_equal(st->failed_retries, (uint64_t)N); /* EBUDGET and ERETRIES */
  assert_true(st->retried <= (uint64_t)(0.2 * N));
  assert_true(be >= N - (unsigned)(0.2 * N) / 2);
  pacer_stats_free(st);

  /* The same server without the budget: every job makes its 3 attempts. */
  c = failing_server_cfg(0);
  seen = run_failing(&c, 100, path, &be, &re, &st);
  printf("# budget off: 100 jobs, server saw %lld requests\n", seen);
  assert_int_equal(seen, 300);
  assert_int_equal(be, 0);
  assert_int_equal(st->retries_refused, 0);
  pacer_stats_free(st);
}

/* A key whose server answers 200 after 300 ms, with breaker_slow_ms 100:
 * the first 5 jobs succeed (a slow success is a success) and open the
 * breaker by their slowness alone; with fail-fast, the next 5 end with
 * PACER_EBREAKER without reaching the server. */
static void slow_answers_open_the_breaker(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 5;
  c.max_attempts = 1;
  c.breaker_window = 10;
  c.breaker_min_calls = 5;
  c.breaker_cooldown_ms = 600000; /* stays open for the test */
  c.breaker_fail_fast = 1;
  c.breaker_slow_ms = 100;
  c.breaker_slow_threshold = 0.5;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[10];
  for (int i = 0; i < 5; i++)
    ids[i] =
        submit_path(p, "/slow?latency_ms=300", "slow", PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  for (int i = 5; i < 10; i++)
    ids[i] =
        submit_path(p, "/slow?latency_ms=300", "slow", PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, 10);
  long long seen = mock_stat(&mock, "total");
  printf("# 5 answers after 300 ms: slow_calls %llu, breaker %s; the next "
         "5: %s; server saw %lld\n",
         (unsigned long long)st->slow_calls,
         st->key_count && st->keys[0].breaker == PACER_BREAKER_OPEN
             ? "open"
             : "not open",
         pacer_err_name(rec_of(&rec, ids[5])->error), seen);
  for (int i = 0; i < 5; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->error, 0);
    assert_int_equal(r->status, 200);
  }
  for (int i = 5; i < 10; i++)
    assert_int_equal(rec_of(&rec, ids[i])->error, PACER_EBREAKER);
  assert_int_equal(st->slow_calls, 5);
  assert_int_equal(st->succeeded, 5);
  assert_int_equal(st->failed_breaker, 5);
  assert_int_equal(st->key_count, 1);
  assert_int_equal(st->keys[0].breaker, PACER_BREAKER_OPEN);
  assert_int_equal(seen, 5);
  pacer_stats_free(st);
}

int main(void)
{
  if (!mock_available())
    return MOCK_SKIP;
  setvbuf(stdout, NULL, _IOLBF, 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(failing_server_sees_at_most_its_share_of_retries),
      cmocka_unit_test(slow_answers_open_the_breaker),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
