/* SPDX-License-Identifier: MIT */
/* test_limiter.c - exact GCRA token bucket; the clock is a parameter, nothing
 * sleeps, so every count and wait below is exact and deterministic.
 *
 * Exactness runs use bursts >= 2: GCRA absorbs a poll that comes late only
 * out of the slack of burst - 1 tokens, so with burst 1 a late poll loses
 * its lateness (the header's "when asked often enough"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "limiter.h"
#include <math.h>
#include <pacer/pacer.h>

#define US INT64_C(1000)
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)
#define HOUR (3600 * SEC)
/* No integer number of tokens per second, minute, hour or day. */
#define PI_100 314.1592653589793
#define TEN_YEARS (INT64_C(3652) * 24 * HOUR + 12 * HOUR) /* 3.15576e17 */

static pacer__bucket_t make(double rate, int64_t burst)
{
  pacer__bucket_t b;
  assert_int_equal(pacer__bucket_init(&b, rate, burst), 0);
  return b;
}

/* Takes every token available at now. */
static int64_t drain(pacer__bucket_t *b, int64_t now)
{
  int64_t n = 0;
  while (pacer__bucket_try(b, now) == 0) {
    n++;
    assert_true(n <= b->burst); /* a bug here would otherwise spin */
  }
  return n;
}

/* Polls every step from 0 to span inclusive, taking all it may. */
static int64_t admitted(double rate, int64_t burst, int64_t step, int64_t span)
{
  pacer__bucket_t b = make(rate, burst);
  int64_t n = 0;
  for (int64_t t = 0; t <= span; t += step)
    n += drain(&b, t);
  return n;
}

static void assert_same_bucket(const pacer__bucket_t *a,
                               const pacer__bucket_t *b)
{
  assert_int_equal(a->unlimited, b->unlimited);
  assert_int_equal(a->count, b->count);
  assert_int_equal(a->period_ns, b->period_ns);
  assert_int_equal(a->q, b->q);
  assert_int_equal(a->r, b->r);
  assert_int_equal(a->burst, b->burst);
  assert_int_equal(a->bq, b->bq);
  assert_int_equal(a->br, b->br);
  assert_int_equal(a->tat_ns, b->tat_ns);
  assert_int_equal(a->tat_rem, b->tat_rem);
}

/* ---- a new bucket ---------------------------------------------------------
 */

static void new_bucket_is_full(void **state)
{
  pacer__bucket_t b = make(2, 2);

  (void)state;
  assert_true(pacer__bucket_full(&b, 0));
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_try(&b, 0), 500000000);
  /* Waiting changes nothing. */
  assert_int_equal(pacer__bucket_wait(&b, 0), 500000000);
  assert_int_equal(pacer__bucket_wait(&b, 0), 500000000);
  assert_int_equal(pacer__bucket_wait(&b, 500 * MS - 1), 1);
  assert_int_equal(pacer__bucket_wait(&b, 500 * MS), 0);
}

static void new_bucket_full_at_any_time(void **state)
{
  pacer__bucket_t b = make(10, 3);

  (void)state;
  assert_true(pacer__bucket_full(&b, INT64_MIN));
  assert_true(pacer__bucket_full(&b, -5 * SEC));
  assert_true(pacer__bucket_full(&b, INT64_MAX / 2));
  assert_int_equal(drain(&b, INT64_MAX / 2), 3);
}

/* full_at() is the first nanosecond at which full() holds again. */
static void full_at_is_when_full_holds_again(void **state)
{
  (void)state;
  pacer__bucket_t b = make(3, 2); /* a token every 333,333,333.3 ns */
  assert_true(pacer__bucket_full_at(&b) <= 0);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  int64_t t = pacer__bucket_full_at(&b);
  assert_int_equal(t, 666666667);
  assert_false(pacer__bucket_full(&b, t - 1));
  assert_true(pacer__bucket_full(&b, t));
  pacer__bucket_t u = make(0, 1);
  assert_int_equal(pacer__bucket_full_at(&u), INT64_MIN);
}

/* ---- rate as a fraction -----------------------------------------------------
 */

static void rate_as_fraction(void **state)
{
  static const struct {
    double rate;
    int64_t count, period_ns;
  } cases[] = {
      {2, 2, SEC},
      {1e9, 1000000000, SEC},
      {333.3, 19998, 60 * SEC},
      {0.25, 15, 60 * SEC},
      {1.0 / 3600, 1, HOUR},
      {1.0 / 86400, 1, 24 * HOUR},
      /* Fallback: the largest power-of-ten count with a period <= 4e18. */
      {1e-6, 1000, INT64_C(1000000000000000000)},
      {1e-9, 1, INT64_C(1000000000000000000)},
  };

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pacer__bucket_t b = make(cases[i].rate, 1);
    assert_int_equal(b.count, cases[i].count);
    assert_int_equal(b.period_ns, cases[i].period_ns);
    assert_int_equal(b.q * b.count + b.r, b.period_ns);
    assert_true(b.r >= 0 && b.r < b.count);
  }

  /* No round period fits 100 pi: the finest power of ten is used. */
  pacer__bucket_t b = make(PI_100, 1);
  assert_int_equal(b.count, 1000000000);
  assert_int_equal(b.period_ns, (int64_t)(1e18 / PI_100 + 0.5));
}

/* ---- exactness ----------------------------------------------------------- */

static void exact_over_a_minute(void **state)
{
  static const struct {
    double rate;
    int64_t per_minute;
  } cases[] = {{1, 60},      {3, 180},      {7, 420},
               {200, 12000}, {1000, 60000}, {333.3, 19998}};

  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int64_t burst = 2; burst <= 20; burst += 18) {
      int64_t n = admitted(cases[i].rate, burst, MS, 60 * SEC);
      assert_int_equal(n, burst + cases[i].per_minute);
    }
  }
}

/* A rate no round period fits goes through the power-of-ten fallback; its
 * period is rounded to a whole ns, hence the +-1. */
static void fallback_rate_over_a_minute(void **state)
{
  double rate = PI_100;
  int64_t want = 5 + (int64_t)floor(rate * 60);
  int64_t n = admitted(rate, 5, MS, 60 * SEC);

  (void)state;
  assert_true(n >= want - 1 && n <= want + 1);
}

static void exact_million_per_second(void **state)
{
  (void)state;
  assert_int_equal(admitted(1e6, 10, US, SEC), 10 + 1000000);
}

/* Polling exactly when wait() says to is also exact, with no drift from the
 * sub-ns remainder: 7/s has an interval of 142857142 + 6/7 ns. */
static void exact_when_polled_on_time(void **state)
{
  pacer__bucket_t b = make(7, 2);
  int64_t t = 0, n = 0;

  (void)state;
  while (t <= 60 * SEC) {
    int64_t w = pacer__bucket_try(&b, t);
    if (w == 0)
      n++;
    else
      t += w;
  }
  assert_int_equal(n, 2 + 420);
}

static void one_per_hour(void **state)
{
  pacer__bucket_t b = make(1.0 / 3600, 1);

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), HOUR);
  assert_int_equal(pacer__bucket_wait(&b, HOUR - 1), 1);
  assert_int_equal(pacer__bucket_try(&b, HOUR), 0);
  assert_int_equal(pacer__bucket_wait(&b, HOUR), HOUR);
}

/* ---- the clock ---------------------------------------------------------- */

static void clock_jump_ten_years(void **state)
{
  const int64_t base = INT64_MAX / 2;
  pacer__bucket_t b = make(1000, 50);
  int64_t t, n = 0;

  (void)state;
  for (t = base; t <= base + 10 * SEC; t += MS)
    n += drain(&b, t);
  assert_int_equal(n, 50 + 10000);
  assert_false(pacer__bucket_full(&b, t));

  t += TEN_YEARS;
  assert_true(pacer__bucket_full(&b, t));
  assert_int_equal(drain(&b, t), 50);
  assert_int_equal(pacer__bucket_wait(&b, t), MS);
}

/* Same with a sub-ns remainder in play: 333.3/s is 19998 per minute. */
static void clock_jump_with_remainder(void **state)
{
  const int64_t base = INT64_MAX / 2;
  const int64_t interval_up = (60 * SEC + 19998 - 1) / 19998;
  pacer__bucket_t b = make(333.3, 7);
  int64_t t;

  (void)state;
  for (t = base; t <= base + 5 * SEC; t += 3 * MS)
    drain(&b, t);
  assert_true(b.tat_rem != 0);
  t += TEN_YEARS;
  assert_int_equal(drain(&b, t), 7);
  assert_int_equal(pacer__bucket_wait(&b, t), interval_up);
}

static void time_backwards_admits_nothing(void **state)
{
  pacer__bucket_t b = make(10, 2);

  (void)state;
  assert_int_equal(drain(&b, 10 * SEC), 2);
  assert_int_equal(pacer__bucket_wait(&b, 10 * SEC), 100 * MS);
  /* TAT is 10.2 s: from 5 s a token needs 5.1 s. */
  assert_int_equal(pacer__bucket_try(&b, 5 * SEC), 5100 * MS);
  assert_int_equal(pacer__bucket_try(&b, 10 * SEC - 1), 100 * MS + 1);
  assert_false(pacer__bucket_full(&b, 5 * SEC));
  /* Caught up: exactly what the forward clock would have given. */
  assert_int_equal(drain(&b, 10 * SEC + 100 * MS), 1);
  assert_int_equal(drain(&b, 10 * SEC + 300 * MS), 2);
}

/* Extreme clocks must not overflow (UBSan is watching). */
static void extreme_clocks(void **state)
{
  pacer__bucket_t b = make(1, 2);

  (void)state;
  assert_int_equal(drain(&b, INT64_MIN), 2);
  assert_int_equal(pacer__bucket_wait(&b, INT64_MIN), SEC);
  assert_int_equal(pacer__bucket_wait(&b, INT64_MIN + SEC), 0);

  b = make(1, 2);
  assert_int_equal(drain(&b, INT64_MAX - 10 * SEC), 2);
  /* Back by the whole int64 range: too far to express, "never". */
  assert_int_equal(pacer__bucket_wait(&b, INT64_MIN), INT64_MAX);
  assert_false(pacer__bucket_full(&b, INT64_MIN));
  assert_int_equal(pacer__bucket_set(&b, 2, 3, INT64_MIN), 0);
  assert_true(pacer__bucket_wait(&b, INT64_MIN) > 0);
  assert_int_equal(pacer__bucket_set(&b, 1, 2, INT64_MAX), 0);

  /* At the very end of int64 time the TAT saturates instead of wrapping. */
  b = make(1, 2);
  pacer__bucket_take(&b, INT64_MAX);
  assert_int_equal(b.tat_ns, INT64_MAX);
  assert_true(pacer__bucket_wait(&b, INT64_MAX) >= 0);
  assert_true(pacer__bucket_wait(&b, INT64_MAX - 1) >= 0);
}

/* ---- bucket_set ---------------------------------------------------------- */

static void set_lower_burst_clamps(void **state)
{
  pacer__bucket_t b = make(1, 10);

  (void)state;
  /* Full stays full, at the new size. */
  assert_int_equal(pacer__bucket_set(&b, 1, 3, 0), 0);
  assert_int_equal(drain(&b, 0), 3);
  assert_int_equal(pacer__bucket_wait(&b, 0), SEC);

  /* 8 of 10 left: clamped to 5, and the bucket is full. */
  b = make(1, 10);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 1, 5, 0), 0);
  assert_true(pacer__bucket_full(&b, 0));
  assert_int_equal(drain(&b, 0), 5);
  assert_int_equal(pacer__bucket_wait(&b, 0), SEC);

  /* 2 of 10 left fit in 5: kept. */
  b = make(1, 10);
  for (int i = 0; i < 8; i++)
    assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 1, 5, 0), 0);
  assert_false(pacer__bucket_full(&b, 0));
  assert_int_equal(drain(&b, 0), 2);
  assert_int_equal(pacer__bucket_wait(&b, 0), SEC);

  /* Empty with a token 60% done: it still arrives on time. */
  b = make(1, 10);
  assert_int_equal(drain(&b, 0), 10);
  assert_int_equal(pacer__bucket_set(&b, 1, 5, 400 * MS), 0);
  assert_int_equal(pacer__bucket_wait(&b, 400 * MS), 600 * MS);
  assert_int_equal(drain(&b, SEC), 1);
  assert_int_equal(pacer__bucket_wait(&b, SEC), SEC);
}

static void set_raise_burst_keeps_tokens(void **state)
{
  pacer__bucket_t b = make(1, 2);

  (void)state;
  assert_int_equal(drain(&b, 0), 2);
  assert_int_equal(pacer__bucket_set(&b, 1, 10, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), SEC);
  /* The extra room fills at the rate, it is not a gift. */
  pacer__bucket_t peek = b;
  assert_int_equal(drain(&peek, 5 * SEC), 5);
  assert_false(pacer__bucket_full(&b, 10 * SEC - 1));
  assert_true(pacer__bucket_full(&b, 10 * SEC));
  assert_int_equal(drain(&b, 10 * SEC), 10);

  /* A bucket never taken from is new, so full at the new burst. */
  b = make(1, 2);
  assert_int_equal(pacer__bucket_set(&b, 1, 10, 0), 0);
  assert_true(pacer__bucket_full(&b, 0));
  assert_int_equal(drain(&b, 0), 10);

  /* A used bucket that refilled keeps its tokens, no more; the rest come at
   * the rate. */
  b = make(1, 2);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_true(pacer__bucket_full(&b, 5 * SEC));
  assert_int_equal(pacer__bucket_set(&b, 1, 10, 5 * SEC), 0);
  assert_false(pacer__bucket_full(&b, 5 * SEC));
  assert_int_equal(drain(&b, 5 * SEC), 2);
  assert_int_equal(pacer__bucket_wait(&b, 5 * SEC), SEC);
  assert_true(pacer__bucket_full(&b, 15 * SEC));
}

static void set_raise_rate_shortens_wait(void **state)
{
  pacer__bucket_t b = make(1, 1);

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), SEC);
  assert_int_equal(pacer__bucket_set(&b, 10, 1, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), 100 * MS);
  assert_int_equal(pacer__bucket_try(&b, 100 * MS), 0);
  assert_int_equal(pacer__bucket_wait(&b, 100 * MS), 100 * MS);

  /* A token nearly done keeps its time when the rate goes up. */
  b = make(1, 1);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 10, 1, 950 * MS), 0);
  assert_int_equal(pacer__bucket_wait(&b, 950 * MS), 50 * MS);
}

static void set_lower_rate_keeps_next_token(void **state)
{
  pacer__bucket_t b = make(10, 1);

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 1, 1, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), 100 * MS);
  assert_int_equal(pacer__bucket_try(&b, 100 * MS), 0);
  assert_int_equal(pacer__bucket_wait(&b, 100 * MS), SEC);
}

/* Setting what is already set changes nothing, remainder included. */
static void set_same_values_keeps_state(void **state)
{
  pacer__bucket_t b = make(333.3, 3), before;

  (void)state;
  assert_int_equal(drain(&b, 0), 3);
  assert_int_equal(pacer__bucket_try(&b, 4 * MS), 0);
  before = b;
  assert_true(before.tat_rem != 0);
  /* In debt until TAT = 4 intervals (12.0012 ms), then full. */
  for (int64_t t = 4 * MS; t < 20 * MS; t += 777777) {
    assert_int_equal(pacer__bucket_set(&b, 333.3, 3, t), 0);
    assert_same_bucket(&b, &before);
  }
}

static void set_invalid_leaves_bucket(void **state)
{
  static const struct {
    double rate;
    int64_t burst;
  } bad[] = {{NAN, 1}, {INFINITY, 1}, {-INFINITY, 1},  {-1, 1},   {2e9, 1},
             {5, 0},   {5, -3},       {1e-6, 1000000}, {1e-12, 1}};
  pacer__bucket_t b = make(7, 4), before;

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  before = b;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(pacer__bucket_set(&b, bad[i].rate, bad[i].burst, 5 * MS),
                     PACER_ERATE);
    assert_same_bucket(&b, &before);
  }
}

static void set_to_and_from_unlimited(void **state)
{
  pacer__bucket_t b = make(1, 1);

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 0, 1, 0), 0);
  assert_int_equal(pacer__bucket_wait(&b, 0), 0);
  assert_int_equal(pacer__bucket_set(&b, 2, 2, 0), 0);
  assert_true(pacer__bucket_full(&b, 0));
  assert_int_equal(drain(&b, 0), 2);
  assert_int_equal(pacer__bucket_wait(&b, 0), 500 * MS);
}

/* ---- rate_check -----------------------------------------------------------
 */

static void rate_check_rejects(void **state)
{
  pacer__bucket_t b;

  (void)state;
  assert_int_equal(pacer__rate_check(NAN, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(INFINITY, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(-INFINITY, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(-1, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(2e9, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(1e9 * 1.000001, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(10, 0), PACER_ERATE);
  assert_int_equal(pacer__rate_check(0, 0), PACER_ERATE);
  /* burst x interval over 100 years: 1e6 tokens of 1e6 s each. */
  assert_int_equal(pacer__rate_check(1e-6, 1000000), PACER_ERATE);
  assert_int_equal(pacer__rate_check(1e-9, 4), PACER_ERATE);
  assert_int_equal(pacer__rate_check(1e-12, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(1e-300, 1), PACER_ERATE);
  assert_int_equal(pacer__rate_check(1e9, INT64_MAX), PACER_ERATE);
  assert_int_equal(pacer__bucket_init(&b, NAN, 1), PACER_ERATE);
  assert_int_equal(pacer__bucket_init(&b, 1, 0), PACER_ERATE);
}

static void rate_check_accepts(void **state)
{
  (void)state;
  assert_int_equal(pacer__rate_check(0, 1), 0);
  assert_int_equal(pacer__rate_check(1e9, 1), 0);
  assert_int_equal(pacer__rate_check(1e9, 1000000000), 0);
  assert_int_equal(pacer__rate_check(1e-6, 1), 0);
  assert_int_equal(pacer__rate_check(1e-6, 3000), 0); /* 95 years */
  assert_int_equal(pacer__rate_check(1e-9, 3), 0);
  assert_int_equal(pacer__rate_check(333.3, UINT32_MAX), 0);
  assert_int_equal(pacer__rate_check(1e6, UINT32_MAX), 0);
}

/* ---- bucket_full and unlimited ------------------------------------------ */

static void full_tracks_refill(void **state)
{
  pacer__bucket_t b = make(2, 2);

  (void)state;
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_false(pacer__bucket_full(&b, 0));
  assert_false(pacer__bucket_full(&b, 500 * MS - 1));
  assert_true(pacer__bucket_full(&b, 500 * MS));

  /* 3/s: the TAT lies a third of a ns past a whole ns. */
  b = make(3, 2);
  assert_int_equal(pacer__bucket_try(&b, 0), 0);
  assert_false(pacer__bucket_full(&b, 333333333));
  assert_true(pacer__bucket_full(&b, 333333334));
}

static void unlimited_bucket(void **state)
{
  pacer__bucket_t b = make(0, 1);

  (void)state;
  assert_true(b.unlimited);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(pacer__bucket_try(&b, 0), 0);
  pacer__bucket_take(&b, INT64_MIN);
  assert_int_equal(pacer__bucket_wait(&b, INT64_MIN), 0);
  assert_true(pacer__bucket_full(&b, 0));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(new_bucket_is_full),
      cmocka_unit_test(new_bucket_full_at_any_time),
      cmocka_unit_test(full_at_is_when_full_holds_again),
      cmocka_unit_test(rate_as_fraction),
      cmocka_unit_test(exact_over_a_minute),
      cmocka_unit_test(fallback_rate_over_a_minute),
      cmocka_unit_test(exact_million_per_second),
      cmocka_unit_test(exact_when_polled_on_time),
      cmocka_unit_test(one_per_hour),
      cmocka_unit_test(clock_jump_ten_years),
      cmocka_unit_test(clock_jump_with_remainder),
      cmocka_unit_test(time_backwards_admits_nothing),
      cmocka_unit_test(extreme_clocks),
      cmocka_unit_test(set_lower_burst_clamps),
      cmocka_unit_test(set_raise_burst_keeps_tokens),
      cmocka_unit_test(set_raise_rate_shortens_wait),
      cmocka_unit_test(set_lower_rate_keeps_next_token),
      cmocka_unit_test(set_same_values_keeps_state),
      cmocka_unit_test(set_invalid_leaves_bucket),
      cmocka_unit_test(set_to_and_from_unlimited),
      cmocka_unit_test(rate_check_rejects),
      cmocka_unit_test(rate_check_accepts),
      cmocka_unit_test(full_tracks_refill),
      cmocka_unit_test(unlimited_bucket),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
