/* SPDX-License-Identifier: MIT */
/* test_budget.c - retry budget; time is a parameter, nothing sleeps.
 *
 * Most tests use a 10 s window (1 s buckets), so "the window at t" is the
 * bucket t falls in and the nine before it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "budget.h"

#define S INT64_C(1000000000)
#define MS INT64_C(1000000)

static pacer__budget_cfg_t cfg_of(double ratio, double min_per_s,
                                  int64_t window_ns)
{
  pacer__budget_cfg_t c = {ratio, min_per_s, window_ns};
  return c;
}

static void requests(pacer__budget_t *b, const pacer__budget_cfg_t *c,
                     unsigned n, int64_t now)
{
  for (unsigned i = 0; i < n; i++)
    pacer__budget_request(b, c, now);
}

/* Schedules retries at now while the budget allows them, at most max;
 * returns how many it allowed. */
static unsigned retries_allowed(pacer__budget_t *b,
                                const pacer__budget_cfg_t *c, unsigned max,
                                int64_t now)
{
  unsigned n = 0;
  while (n < max && pacer__budget_allows(b, c, now)) {
    pacer__budget_retry(b, c, now);
    n++;
  }
  return n;
}

static void counts(const pacer__budget_t *b, const pacer__budget_cfg_t *c,
                   int64_t now, uint64_t want_requests, uint64_t want_retries)
{
  uint64_t rq, rt;
  pacer__budget_counts(b, c, now, &rq, &rt);
  assert_int_equal(rq, want_requests);
  assert_int_equal(rt, want_retries);
}

/* ------------------------------------------------------------------------ */

static void cfg_check_edges(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 3, 10 * S);
  assert_int_equal(pacer__budget_cfg_check(&c), 0);
  assert_int_equal(pacer__budget_cfg_check(NULL), PACER_EINVAL);
  c = cfg_of(0, 0, 10 * MS); /* off, smallest window */
  assert_int_equal(pacer__budget_cfg_check(&c), 0);
  c = cfg_of(1000, 1e9, 86400 * S);
  assert_int_equal(pacer__budget_cfg_check(&c), 0);
  const pacer__budget_cfg_t bad[] = {
      cfg_of(-0.1, 3, 10 * S),       cfg_of(1000.5, 3, 10 * S),
      cfg_of(NAN, 3, 10 * S),        cfg_of(INFINITY, 3, 10 * S),
      cfg_of(0.2, -1, 10 * S),       cfg_of(0.2, NAN, 10 * S),
      cfg_of(0.2, 2e9, 10 * S),      cfg_of(0.2, 3, 10 * MS - 1),
      cfg_of(0.2, 3, 86400 * S + 1), cfg_of(0, 3, 0), /* checked when off */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(pacer__budget_cfg_check(&bad[i]), PACER_EINVAL);
}

/* No request at all: the floor alone, 3/s x 10 s = 30 retries. */
static void floor_lets_a_quiet_client_retry(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 3, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  assert_int_equal(retries_allowed(&b, &c, 1000, 5 * S), 30);
  counts(&b, &c, 5 * S, 0, 30);
  /* 100 requests: 20 % of them is 20, still below the floor. */
  requests(&b, &c, 100, 5 * S);
  assert_false(pacer__budget_allows(&b, &c, 5 * S));
  /* 200 more: 60 allowed in all, so 30 more. */
  requests(&b, &c, 200, 5 * S);
  assert_int_equal(retries_allowed(&b, &c, 1000, 5 * S), 30);
}

/* Above the floor, exactly ratio x requests: 0.2 x 1000 = 200, and
 * 0.1 x 30 = 3 (0.30000000000000004 x 10 must not lose one). */
static void share_is_exact(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 0, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  requests(&b, &c, 1000, 0);
  assert_int_equal(retries_allowed(&b, &c, 10000, 0), 200);
  c = cfg_of(0.1, 0, 10 * S);
  pacer__budget_init(&b);
  requests(&b, &c, 30, 0);
  assert_int_equal(retries_allowed(&b, &c, 10000, 0), 3);
  /* No floor and no request: no retry. */
  pacer__budget_init(&b);
  assert_false(pacer__budget_allows(&b, &c, 0));
  /* A ratio above 1 (max_attempts > 2): 2.5 x 4 = 10. */
  c = cfg_of(2.5, 0, 10 * S);
  requests(&b, &c, 4, 0);
  assert_int_equal(retries_allowed(&b, &c, 10000, 0), 10);
}

/* The window is the current bucket and the nine before it: what was
 * counted in bucket 0 ([0, 1 s)) is in the window until 10 s. */
static void window_slides_by_buckets(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.5, 0, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  requests(&b, &c, 10, 500 * MS);
  assert_int_equal(retries_allowed(&b, &c, 100, 500 * MS), 5);
  counts(&b, &c, 10 * S - 1, 10, 5);
  assert_false(pacer__budget_allows(&b, &c, 10 * S - 1));
  /* At 10 s bucket 0 has left: nothing counted, no request to share. */
  counts(&b, &c, 10 * S, 0, 0);
  assert_false(pacer__budget_allows(&b, &c, 10 * S));
  requests(&b, &c, 4, 10 * S);
  assert_int_equal(retries_allowed(&b, &c, 100, 10 * S), 2);
  /* Requests spread over buckets: each leaves on its own. */
  pacer__budget_init(&b);
  for (int i = 0; i < 10; i++)
    requests(&b, &c, 2, i * S);
  counts(&b, &c, 9 * S, 20, 0);
  counts(&b, &c, 12 * S + 1, 14, 0); /* buckets 3..12 */
  counts(&b, &c, 18 * S, 2, 0);
  counts(&b, &c, 19 * S, 0, 0);
  /* A bucket reused ten seconds on starts empty. */
  requests(&b, &c, 1, 20 * S);
  counts(&b, &c, 20 * S, 1, 0);
}

/* Retries free up as they leave the window, whatever the requests do. */
static void old_retries_leave_the_window(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 1, 10 * S); /* floor 10 per window */
  pacer__budget_t b;
  pacer__budget_init(&b);
  assert_int_equal(retries_allowed(&b, &c, 100, 0), 10);
  assert_int_equal(retries_allowed(&b, &c, 100, 9 * S), 0);
  assert_int_equal(retries_allowed(&b, &c, 100, 10 * S), 10);
}

/* ratio 0: off. Every retry is allowed and nothing is counted. */
static void ratio_zero_is_off(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0, 0, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  assert_int_equal(retries_allowed(&b, &c, 5000, 0), 5000);
  requests(&b, &c, 10, 0);
  counts(&b, &c, 0, 0, 0);
  assert_int_equal(pacer__budget_keep_until(&b, &c), INT64_MIN);
}

/* A clock that goes back counts in the newest bucket and keeps the window
 * where it was. */
static void clock_going_back_counts_in_the_newest_bucket(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.5, 0, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  requests(&b, &c, 2, 15 * S);
  requests(&b, &c, 2, 3 * S); /* back: into bucket 15 */
  counts(&b, &c, 15 * S, 4, 0);
  counts(&b, &c, 0, 4, 0);
  assert_int_equal(retries_allowed(&b, &c, 100, 0), 2);
  counts(&b, &c, 24 * S, 4, 2);
  counts(&b, &c, 25 * S, 0, 0);
  /* Negative times divide down, not towards zero. */
  pacer__budget_init(&b);
  requests(&b, &c, 1, -1);     /* bucket -1 */
  counts(&b, &c, 8 * S, 1, 0); /* buckets -1..8 */
  counts(&b, &c, 9 * S, 0, 0); /* buckets 0..9 */
}

/* A budget with retries in its window is worth keeping until the newest
 * of them leaves it; requests alone are not. */
static void keep_until_the_last_retry_leaves(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 3, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  assert_int_equal(pacer__budget_keep_until(&b, &c), INT64_MIN);
  requests(&b, &c, 50, 1 * S);
  assert_int_equal(pacer__budget_keep_until(&b, &c), INT64_MIN);
  pacer__budget_retry(&b, &c, 1500 * MS);
  pacer__budget_retry(&b, &c, 3200 * MS);
  assert_int_equal(pacer__budget_keep_until(&b, &c), 13 * S);
  counts(&b, &c, 13 * S - 1, 0, 1);
  counts(&b, &c, 13 * S, 0, 0);
}

/* Counts saturate instead of wrapping. */
static void counts_saturate(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(1, 0, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  b.slot[0] = 0;
  b.newest = 0;
  b.requests[0] = UINT32_MAX - 1;
  requests(&b, &c, 3, 0);
  counts(&b, &c, 0, UINT32_MAX, 0);
}

/* A 100 %-failing client: every request's retries are asked for at once,
 * over 60 s of steady traffic. Each window of it carries at most ratio x its
 * requests or the floor in retries: in all, at most 20 % more than the
 * requests plus one floor per window. */
static void failing_client_gets_its_share_only(void **state)
{
  (void)state;
  pacer__budget_cfg_t c = cfg_of(0.2, 3, 10 * S);
  pacer__budget_t b;
  pacer__budget_init(&b);
  uint64_t total_rq = 0, total_rt = 0;
  for (int64_t t = 0; t < 60 * S; t += 100 * MS) {
    requests(&b, &c, 10, t); /* 100 requests/s, each failing */
    total_rq += 10;
    total_rt += retries_allowed(&b, &c, 20, t); /* 2 retries each asked */
  }
  printf("# 60 s at 100 requests/s, all failing: %llu retries for %llu "
         "requests (%.3f)\n",
         (unsigned long long)total_rt, (unsigned long long)total_rq,
         (double)total_rt / (double)total_rq);
  /* Over whole windows, at most 20 % plus the floor. */
  assert_true((double)total_rt <= 0.2 * (double)total_rq + 6 * 30);
  assert_true((double)total_rt >= 0.2 * (double)total_rq - 30);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cfg_check_edges),
      cmocka_unit_test(floor_lets_a_quiet_client_retry),
      cmocka_unit_test(share_is_exact),
      cmocka_unit_test(window_slides_by_buckets),
      cmocka_unit_test(old_retries_leave_the_window),
      cmocka_unit_test(ratio_zero_is_off),
      cmocka_unit_test(clock_going_back_counts_in_the_newest_bucket),
      cmocka_unit_test(keep_until_the_last_retry_leaves),
      cmocka_unit_test(counts_saturate),
      cmocka_unit_test(failing_client_gets_its_share_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
