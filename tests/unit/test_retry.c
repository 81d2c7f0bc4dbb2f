/* SPDX-License-Identifier: MIT */
/* test_retry.c - retry and breaker classification, the rng and full-jitter
 * backoff. Seeds are fixed, so the statistical checks are deterministic; their
 * margins are wide enough that any sound generator passes them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "retry.h"
#include <limits.h>
#include <pacer/pacer.h>

#define MS INT64_C(1000000)
#define SEED UINT64_C(20240601)

/* Errors that end a job at once, whatever the status says. */
static const int final_errors[] = {
    PACER_EINVAL,    PACER_ENOMEM,   PACER_ECANCELED, PACER_EDEADLINE,
    PACER_EEXPIRED,  PACER_EBREAKER, PACER_ERETRIES,  PACER_ETOOLARGE,
    PACER_EURL,      PACER_ESCHEME,  PACER_EHEADER,   PACER_ETLS,
    PACER_ESHUTDOWN, PACER_ESYSTEM,  PACER_EDENIED,
};

/* ---- classification ------------------------------------------------------ */

static void retryable_statuses(void **state)
{
  int s;

  (void)state;
  for (s = 0; s <= 999; s++) {
    int want =
        s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;

    assert_int_equal(pacer__retryable(0, s), want);
  }
}

static void retryable_errors(void **state)
{
  size_t i;

  (void)state;
  assert_int_equal(pacer__retryable(PACER_ETRANSPORT, 0), 1);
  assert_int_equal(pacer__retryable(PACER_ETIMEDOUT, 0), 1);
  assert_int_equal(pacer__retryable(PACER_ETRANSPORT, 200), 1);
  for (i = 0; i < sizeof final_errors / sizeof final_errors[0]; i++) {
    assert_int_equal(pacer__retryable(final_errors[i], 0), 0);
    assert_int_equal(pacer__retryable(final_errors[i], 503), 0);
  }
}

/* The statuses a caller lists replace the default set; errors keep their
 * own rule whatever the list says. */
static void retry_set_chosen(void **state)
{
  static const int only[] = {503, 599, 100};
  pacer__retry_set_t set, dflt;
  int s;

  (void)state;
  pacer__retry_set_init(&set, only, 3);
  for (s = 0; s <= 999; s++)
    assert_int_equal(pacer__retryable_in(&set, 0, s),
                     s == 503 || s == 599 || s == 100);
  assert_int_equal(pacer__retryable_in(&set, PACER_ETRANSPORT, 0), 1);
  assert_int_equal(pacer__retryable_in(&set, PACER_ETIMEDOUT, 0), 1);
  assert_int_equal(pacer__retryable_in(&set, PACER_ETOOLARGE, 503), 0);
  assert_int_equal(pacer__retryable_in(&set, 0, -1), 0);
  /* No list, or an empty one: the default set. */
  pacer__retry_set_init(&dflt, NULL, 0);
  pacer__retry_set_init(&set, only, 0);
  for (s = 0; s <= 999; s++) {
    assert_int_equal(pacer__retryable_in(&dflt, 0, s), pacer__retryable(0, s));
    assert_int_equal(pacer__retryable_in(&set, 0, s), pacer__retryable(0, s));
  }
}

#define FAIL PACER__OUTCOME_FAILURE
#define OK PACER__OUTCOME_SUCCESS
#define IGN PACER__OUTCOME_IGNORE

static void breaker_statuses(void **state)
{
  int s;

  (void)state;
  for (s = 0; s <= 999; s++)
    assert_int_equal(pacer__breaker_outcome(0, s),
                     s >= 500 && s <= 599 ? FAIL : OK);
  /* 429 is back-pressure, not a fault */
  assert_int_equal(pacer__breaker_outcome(0, 429), OK);
  assert_int_equal(pacer__breaker_outcome(0, 408), OK);
}

/* Each error is classified on purpose: the host's failures count, what is
 * ours (a cap, a lack of memory, a cancel, a deadline) judges nothing. */
static void breaker_errors(void **state)
{
  (void)state;
  assert_int_equal(pacer__breaker_outcome(PACER_ETRANSPORT, 0), FAIL);
  assert_int_equal(pacer__breaker_outcome(PACER_ETIMEDOUT, 0), FAIL);
  assert_int_equal(pacer__breaker_outcome(PACER_ETLS, 0), FAIL);
  static const int ignored[] = {
      PACER_ETOOLARGE, PACER_ENOMEM,    PACER_ESYSTEM,  PACER_ECANCELED,
      PACER_EDEADLINE, PACER_EEXPIRED,  PACER_EURL,     PACER_ESCHEME,
      PACER_EHEADER,   PACER_EMETHOD,   PACER_EINVAL,   PACER_EBREAKER,
      PACER_ERETRIES,  PACER_ESHUTDOWN, PACER_EHANDLER, PACER_EDENIED};
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
    assert_int_equal(pacer__breaker_outcome(ignored[i], 0), IGN);
    assert_int_equal(pacer__breaker_outcome(ignored[i], 500), IGN);
  }
}

/* ---- rng ----------------------------------------------------------------- */

static void rng_deterministic(void **state)
{
  pacer__rng_t a, b, c;
  int i, same = 0;

  (void)state;
  pacer__rng_seed(&a, SEED);
  pacer__rng_seed(&b, SEED);
  pacer__rng_seed(&c, SEED + 1);
  for (i = 0; i < 1000; i++) {
    uint64_t x = pacer__rng_next(&a);

    assert_true(x == pacer__rng_next(&b));
    same += x == pacer__rng_next(&c);
  }
  assert_int_equal(same, 0);
}

static void rng_state_never_zero(void **state)
{
  pacer__rng_t r, r2, z = {0};
  uint64_t first;
  int i;

  (void)state;
  pacer__rng_seed(&r, 0);
  assert_true(r.s != 0);
  pacer__rng_seed(&r2, 0);
  assert_true(r.s == r2.s); /* a fixed constant, not time or address */

  /* The one seed the seeding mix sends to 0 (mix(0) == 0, so it is minus
   * the splitmix increment) must take the fallback too. */
  pacer__rng_seed(&r, 0 - UINT64_C(0x9E3779B97F4A7C15));
  assert_true(r.s != 0);

  /* Memory nobody seeded still yields a live generator. */
  first = pacer__rng_next(&z);
  assert_true(z.s != 0);
  assert_true(first != 0 || pacer__rng_next(&z) != 0);

  pacer__rng_seed(&r, SEED);
  for (i = 0; i < 100000; i++) {
    (void)pacer__rng_next(&r);
    assert_true(r.s != 0);
  }
}

static void rng_small_seeds_differ(void **state)
{
  pacer__rng_t a, b;
  uint64_t x, y;
  int bits;

  (void)state;
  /* Neighbouring seeds must not start out alike: their first outputs
   * differ in roughly half of the 64 bits. */
  pacer__rng_seed(&a, 1);
  pacer__rng_seed(&b, 2);
  x = pacer__rng_next(&a);
  y = pacer__rng_next(&b);
  for (bits = 0, x ^= y; x != 0; x &= x - 1)
    bits++;
  assert_in_range(bits, 16, 48);
}

static void rng_upto_edges(void **state)
{
  pacer__rng_t r;
  int i;
  int64_t big = 0;

  (void)state;
  pacer__rng_seed(&r, SEED);
  for (i = 0; i < 1000; i++) {
    assert_int_equal(pacer__rng_upto(&r, 0), 0);
    assert_int_equal(pacer__rng_upto(&r, -5), 0);
  }
  for (i = 0; i < 1000; i++) {
    int64_t v = pacer__rng_upto(&r, INT64_MAX);

    assert_true(v >= 0);
    if (v > INT64_MAX / 2)
      big++;
  }
  /* the whole range is used, not only its bottom */
  assert_in_range(big, 400, 600);

  /* 3 * 2^61: 2^64 mod range is 2^62, so a quarter of the draws are
   * redrawn; results stay inside. */
  for (i = 0; i < 1000; i++) {
    int64_t n = INT64_C(3) << 61;
    int64_t v = pacer__rng_upto(&r, n);

    assert_true(v >= 0 && v <= n);
  }
}

static void rng_upto_uniform(void **state)
{
  enum { N = 10, DRAWS = 200000 };
  pacer__rng_t r;
  unsigned count[N] = {0};
  int i;

  (void)state;
  pacer__rng_seed(&r, SEED);
  for (i = 0; i < DRAWS; i++) {
    int64_t v = pacer__rng_upto(&r, N - 1);

    assert_in_range(v, 0, N - 1);
    count[v]++;
  }
  /* expected 20000 each; sd ~134, so +-1000 is over 7 sd */
  for (i = 0; i < N; i++)
    assert_in_range(count[i], DRAWS / N - 1000, DRAWS / N + 1000);

  /* both ends of [0, 1] occur */
  count[0] = count[1] = 0;
  for (i = 0; i < 1000; i++)
    count[pacer__rng_upto(&r, 1)]++;
  assert_in_range(count[0], 400, 600);
}

/* ---- backoff ------------------------------------------------------------- */

/* The cap computed the slow, obvious way, for comparison. */
static int64_t expected_cap(unsigned retry, int64_t base, int64_t max)
{
  int64_t cap = base;
  unsigned i;

  if (base <= 0 || max <= 0)
    return 0;
  for (i = 1; i < retry && cap < max; i++)
    cap = cap > max / 2 ? max : cap * 2;
  return cap < max ? cap : max;
}

static void backoff_bounds(void **state)
{
  static const int64_t combos[][2] = {
      {200 * MS, 30000 * MS}, /* the defaults */
      {1, 1},
      {1, INT64_MAX},
      {INT64_MAX, INT64_MAX},
      {INT64_MAX / 3, INT64_MAX},
      {INT64_C(3) << 40, INT64_MAX},
      {1000 * MS, 10 * MS}, /* max < base */
      {7, 1000},
  };
  pacer__rng_t r;
  size_t c;
  unsigned retry;
  int i;

  (void)state;
  pacer__rng_seed(&r, SEED);
  for (c = 0; c < sizeof combos / sizeof combos[0]; c++) {
    int64_t base = combos[c][0], max = combos[c][1];

    for (retry = 1; retry <= 70; retry++) {
      int64_t cap = expected_cap(retry, base, max);

      for (i = 0; i < 50; i++) {
        int64_t d = pacer__backoff_ns(&r, retry, base, max);

        assert_true(d >= 0);
        assert_true(d <= cap);
      }
    }
    /* huge retry numbers must not overflow the shift */
    assert_true(pacer__backoff_ns(&r, 1000, base, max) <= max);
    assert_true(pacer__backoff_ns(&r, UINT_MAX, base, max) <= max);
  }
}

static void backoff_first_retry_uses_base(void **state)
{
  pacer__rng_t r;
  int i, above_base = 0;

  (void)state;
  pacer__rng_seed(&r, SEED);
  for (i = 0; i < 1000; i++) {
    assert_true(pacer__backoff_ns(&r, 1, 200 * MS, 30000 * MS) <= 200 * MS);
    /* retry 0 is read as the first retry */
    assert_true(pacer__backoff_ns(&r, 0, 200 * MS, 30000 * MS) <= 200 * MS);
    /* the third retry's window is 4 x base */
    above_base += pacer__backoff_ns(&r, 3, 200 * MS, 30000 * MS) > 200 * MS;
  }
  assert_in_range(above_base, 650, 850); /* expect 750 */
}

static void backoff_degenerate(void **state)
{
  pacer__rng_t r;

  (void)state;
  pacer__rng_seed(&r, SEED);
  assert_int_equal(pacer__backoff_ns(&r, 1, 0, 30000 * MS), 0);
  assert_int_equal(pacer__backoff_ns(&r, 5, 200 * MS, 0), 0);
  assert_int_equal(pacer__backoff_ns(&r, 5, -1, 30000 * MS), 0);
  assert_int_equal(pacer__backoff_ns(&r, 5, 200 * MS, -1), 0);
  assert_int_equal(pacer__backoff_ns(&r, 5, INT64_MIN, INT64_MIN), 0);
}

static void backoff_mean_is_half_cap(void **state)
{
  enum { DRAWS = 40000 };
  static const struct {
    unsigned retry;
    int64_t base, max;
  } cases[] = {
      {1, 200 * MS, 30000 * MS}, {4, 200 * MS, 30000 * MS},
      {8, 200 * MS, 30000 * MS}, {70, 200 * MS, 30000 * MS},
      {1000, 1, INT64_MAX},      {63, INT64_MAX / 4, INT64_MAX},
  };
  pacer__rng_t r;
  size_t c;
  int i;

  (void)state;
  pacer__rng_seed(&r, SEED);
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t cap = expected_cap(cases[c].retry, cases[c].base, cases[c].max);
    double sum = 0, mean, half = (double)cap / 2;

    for (i = 0; i < DRAWS; i++)
      sum += (double)pacer__backoff_ns(&r, cases[c].retry, cases[c].base,
                                       cases[c].max);
    mean = sum / DRAWS;
    /* sd of the mean is cap / sqrt(12 * DRAWS) ~ 0.0014 cap; allow 0.02 */
    assert_true(mean > half - 0.02 * (double)cap);
    assert_true(mean < half + 0.02 * (double)cap);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retryable_statuses),
      cmocka_unit_test(retryable_errors),
      cmocka_unit_test(breaker_statuses),
      cmocka_unit_test(breaker_errors),
      cmocka_unit_test(rng_deterministic),
      cmocka_unit_test(rng_state_never_zero),
      cmocka_unit_test(rng_small_seeds_differ),
      cmocka_unit_test(rng_upto_edges),
      cmocka_unit_test(rng_upto_uniform),
      cmocka_unit_test(backoff_bounds),
      cmocka_unit_test(backoff_first_retry_uses_base),
      cmocka_unit_test(retry_set_chosen),
      cmocka_unit_test(backoff_degenerate),
      cmocka_unit_test(backoff_mean_is_half_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
