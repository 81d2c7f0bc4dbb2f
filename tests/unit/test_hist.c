/* SPDX-License-Identifier: MIT */
/* test_hist.c - latency histogram: exactness below 64 us, the 1/32 error
 * bound above, clamping, that nothing reported exceeds the maximum, and the
 * exact counts at the fixed bounds of pacer_histogram_t. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hist.h"
#include <math.h>
#include <stdlib.h>

#define LIMIT ((int64_t)1 << 40)

/* Own generator so the sequence is the same with every libc. */
static uint64_t rng_state;
static void rng_seed(uint64_t s)
{
  rng_state = s ? s : 1;
}
static uint64_t rng(void)
{
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return x;
}

/* The histogram is ~9 KiB: keep it off the stack of the test runner. */
static pacer__hist_t *hist_new(void)
{
  pacer__hist_t *h = malloc(sizeof *h);
  assert_non_null(h);
  pacer__hist_init(h);
  return h;
}

/* got reports true value want: never below it, and above by less than
 * want/32 (strictly: a bucket is at most want/32 wide and got is inside it). */
static void assert_within(int64_t got, int64_t want)
{
  if (got < want || (got > want && (got - want) * 32 >= want))
    fail_msg("got %lld for %lld: outside [v, v + v/32]", (long long)got,
             (long long)want);
}

static void empty_is_zero(void **state)
{
  pacer__hist_t *h = hist_new();
  pacer_latency_t s;
  assert_int_equal(pacer__hist_quantile(h, 0.0), 0);
  assert_int_equal(pacer__hist_quantile(h, 0.5), 0);
  assert_int_equal(pacer__hist_quantile(h, 1.0), 0);
  s.count = 99;
  s.p50_us = s.p90_us = s.p99_us = s.max_us = -1;
  pacer__hist_summary(h, &s);
  assert_int_equal(s.count, 0);
  assert_int_equal(s.p50_us, 0);
  assert_int_equal(s.p90_us, 0);
  assert_int_equal(s.p99_us, 0);
  assert_int_equal(s.max_us, 0);
  free(h);
}

static void exact_below_64(void **state)
{
  pacer__hist_t *h = hist_new();
  for (int64_t v = 0; v < 64; v++)
    pacer__hist_add(h, v);
  for (int64_t v = 0; v < 64; v++)
    assert_int_equal(pacer__hist_quantile(h, (double)(v + 1) / 64.0), v);
  assert_int_equal(pacer__hist_quantile(h, 0.0), 0);
  for (int64_t v = 0; v < 64; v++) {
    /* Alone with a large value, so max does not hide the bucket's edge. */
    pacer__hist_init(h);
    pacer__hist_add(h, v);
    pacer__hist_add(h, LIMIT - 1);
    assert_int_equal(pacer__hist_quantile(h, 0.0), v);
  }
  free(h);
}

static void bucket_edges_within_bound(void **state)
{
  pacer__hist_t *h = hist_new();
  int64_t prev = -1;
  rng_seed(3);
  /* Every power of two, its neighbours, and random values between. */
  for (int k = 6; k < 40; k++) {
    int64_t p = (int64_t)1 << k;
    int64_t vs[] = {p - 1,     p,         p + 1,
                    p + p / 2, 2 * p - 1, p + (int64_t)(rng() % (uint64_t)p)};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
      pacer__hist_init(h);
      pacer__hist_add(h, vs[i]);
      pacer__hist_add(h, LIMIT - 1);
      int64_t got = pacer__hist_quantile(h, 0.0);
      assert_within(got, vs[i]);
    }
  }
  /* Upper edges never go down as values go up. */
  for (int64_t v = 0; v < 100000; v++) {
    pacer__hist_init(h);
    pacer__hist_add(h, v);
    pacer__hist_add(h, LIMIT - 1);
    int64_t got = pacer__hist_quantile(h, 0.0);
    assert_within(got, v);
    assert_true(got >= prev);
    prev = got;
  }
  free(h);
}

static void known_bucket_edges(void **state)
{
  pacer__hist_t *h = hist_new();
  static const struct {
    int64_t v, edge;
  } cases[] = {
      {63, 63},
      {64, 65}, /* [64, 128) in 32 buckets of 2 */
      {65, 65},
      {66, 67},
      {127, 127},
      {128, 131}, /* [128, 256) in buckets of 4 */
      {1000, 1007},
      {(int64_t)1 << 39, ((int64_t)1 << 39) + ((int64_t)1 << 34) - 1},
      {LIMIT - 2, LIMIT - 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pacer__hist_init(h);
    pacer__hist_add(h, cases[i].v);
    pacer__hist_add(h, LIMIT - 1);
    assert_int_equal(pacer__hist_quantile(h, 0.0), cases[i].edge);
    /* The edge lies in the same bucket as the value. */
    pacer__hist_init(h);
    pacer__hist_add(h, cases[i].edge);
    pacer__hist_add(h, LIMIT - 1);
    assert_int_equal(pacer__hist_quantile(h, 0.0), cases[i].edge);
  }
  free(h);
}

static void quantiles_of_1_to_100000(void **state)
{
  enum { N = 100000 };
  pacer__hist_t *h = hist_new();
  for (int64_t v = N; v >= 1; v--) /* order does not matter */
    pacer__hist_add(h, v);
  /* The true value is the rank-th smallest, rank = ceil(q N), at least 1;
   * with values 1..N that is the rank itself. */
  static const struct {
    double q;
    int64_t want;
  } cases[] = {{0.0, 1},     {0.00001, 1},  {0.001, 100},   {0.01, 1000},
               {0.1, 10000}, {0.25, 25000}, {0.5, 50000},   {0.75, 75000},
               {0.9, 90000}, {0.99, 99000}, {0.999, 99900}, {1.0, 100000}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t got = pacer__hist_quantile(h, cases[i].q);
    assert_within(got, cases[i].want);
    assert_true(got <= N);
  }
  for (int64_t rank = 1; rank <= N; rank += 997) {
    int64_t got = pacer__hist_quantile(h, (double)rank / N);
    assert_within(got, rank);
  }
  pacer_latency_t s;
  pacer__hist_summary(h, &s);
  assert_int_equal(s.count, N);
  assert_within(s.p50_us, 50000);
  assert_within(s.p90_us, 90000);
  assert_within(s.p99_us, 99000);
  assert_int_equal(s.max_us, N);
  assert_int_equal(pacer__hist_quantile(h, 1.0), N);
  free(h);
}

static void max_never_exceeded(void **state)
{
  pacer__hist_t *h = hist_new();
  /* 1000 sits in the bucket [992, 1007]: its edge must give way to max. */
  for (int i = 0; i < 10; i++)
    pacer__hist_add(h, 1000);
  assert_int_equal(pacer__hist_quantile(h, 0.0), 1000);
  assert_int_equal(pacer__hist_quantile(h, 0.5), 1000);
  assert_int_equal(pacer__hist_quantile(h, 1.0), 1000);
  rng_seed(7);
  for (int round = 0; round < 200; round++) {
    pacer__hist_init(h);
    int n = 1 + (int)(rng() % 50);
    int64_t max = 0;
    for (int i = 0; i < n; i++) {
      /* Spread over many powers of two. */
      int64_t v = (int64_t)(rng() % ((uint64_t)1 << (rng() % 40)));
      if (v > max)
        max = v;
      pacer__hist_add(h, v);
    }
    int64_t prev = -1;
    for (int p = 0; p <= 100; p++) {
      int64_t got = pacer__hist_quantile(h, p / 100.0);
      assert_true(got <= max);
      assert_true(got >= prev); /* quantiles are monotone in q */
      prev = got;
    }
    assert_int_equal(pacer__hist_quantile(h, 1.0), max);
    pacer_latency_t s;
    pacer__hist_summary(h, &s);
    assert_int_equal(s.count, (uint64_t)n);
    assert_int_equal(s.max_us, max);
    assert_true(s.p50_us <= s.p90_us && s.p90_us <= s.p99_us);
    assert_true(s.p99_us <= s.max_us);
  }
  free(h);
}

static void out_of_range_values_clamp(void **state)
{
  pacer__hist_t *h = hist_new();
  pacer__hist_add(h, INT64_MAX);
  pacer__hist_add(h, LIMIT);
  pacer__hist_add(h, -5);
  pacer__hist_add(h, INT64_MIN);
  assert_int_equal(h->count, 4);
  assert_int_equal(h->max, LIMIT - 1);
  assert_int_equal(pacer__hist_quantile(h, 0.0), 0);
  assert_int_equal(pacer__hist_quantile(h, 0.5), 0);
  assert_int_equal(pacer__hist_quantile(h, 0.75), LIMIT - 1);
  assert_int_equal(pacer__hist_quantile(h, 1.0), LIMIT - 1);
  pacer__hist_init(h);
  pacer__hist_add(h, LIMIT - 1);
  pacer__hist_add(h, LIMIT - 1);
  pacer_latency_t s;
  pacer__hist_summary(h, &s);
  assert_int_equal(s.p50_us, LIMIT - 1);
  assert_int_equal(s.max_us, LIMIT - 1);
  free(h);
}

static void q_out_of_range_clamps(void **state)
{
  pacer__hist_t *h = hist_new();
  for (int64_t v = 10; v <= 50; v += 10)
    pacer__hist_add(h, v);
  assert_int_equal(pacer__hist_quantile(h, -1.0), 10);
  assert_int_equal(pacer__hist_quantile(h, NAN), 10);
  assert_int_equal(pacer__hist_quantile(h, 2.0), 50);
  assert_int_equal(pacer__hist_quantile(h, INFINITY), 50);
  /* ceil(q count): 0.2 of 5 is rank 1, a hair more is rank 2. */
  assert_int_equal(pacer__hist_quantile(h, 0.2), 10);
  assert_int_equal(pacer__hist_quantile(h, 0.21), 20);
  free(h);
}

/* Random values: each exported le[i] is exactly the number of values at
 * most bound i, counted by hand; the sum is exact. */
static void fixed_bounds_exact(void **state)
{
  (void)state;
  static const int64_t bound[PACER_HISTOGRAM_BUCKETS] =
      PACER_HISTOGRAM_BOUNDS_US;
  pacer__hist_t *h = hist_new();
  uint64_t want[PACER_HISTOGRAM_BUCKETS] = {0}, sum = 0;
  rng_seed(7);
  for (int n = 0; n < 20000; n++) {
    /* Around the bounds (bound - 1, bound, bound + 1) and anywhere. */
    int64_t v = n % 2 ? (int64_t)(rng() % 5000000000ULL)
                      : bound[rng() % PACER_HISTOGRAM_BUCKETS] +
                            (int64_t)(rng() % 3) - 1;
    pacer__hist_add(h, v);
    sum += (uint64_t)v;
    for (int i = 0; i < PACER_HISTOGRAM_BUCKETS; i++)
      want[i] += v <= bound[i];
  }
  pacer_histogram_t out;
  pacer__hist_export(h, &out);
  assert_int_equal(out.count, 20000);
  assert_int_equal(out.sum_us, sum);
  for (int i = 0; i < PACER_HISTOGRAM_BUCKETS; i++)
    assert_int_equal(out.le[i], want[i]);
  free(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_is_zero),
      cmocka_unit_test(exact_below_64),
      cmocka_unit_test(bucket_edges_within_bound),
      cmocka_unit_test(known_bucket_edges),
      cmocka_unit_test(quantiles_of_1_to_100000),
      cmocka_unit_test(max_never_exceeded),
      cmocka_unit_test(out_of_range_values_clamp),
      cmocka_unit_test(q_out_of_range_clamps),
      cmocka_unit_test(fixed_bounds_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
