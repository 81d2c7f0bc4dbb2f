/* SPDX-License-Identifier: MIT */
/* test_breaker.c - circuit breaker; time is a parameter, nothing sleeps.
 *
 * Times are plain nanosecond counts chosen to make the arithmetic easy to
 * follow: most tests use a cooldown of 1000 and a probe timeout of 500. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "breaker.h"

#define S PACER__OUTCOME_SUCCESS
#define F PACER__OUTCOME_FAILURE
#define I PACER__OUTCOME_IGNORE

#define CLOSED PACER_BREAKER_CLOSED
#define OPEN PACER_BREAKER_OPEN
#define HALF PACER_BREAKER_HALF_OPEN

static pacer__breaker_cfg_t make_cfg(unsigned window, unsigned min_calls,
                                     double threshold, unsigned probes)
{
  pacer__breaker_cfg_t c;

  c.window = window;
  c.min_calls = min_calls;
  c.threshold = threshold;
  c.cooldown_ns = 1000;
  c.probes = probes;
  c.probe_timeout_ns = 500;
  c.slow_ns = 0; /* slow calls off */
  c.slow_threshold = 0;
  return c;
}

/* One call through the breaker at now: allow, admit, record. Returns what
 * record() returned. */
static int call(pacer__breaker_t *b, pacer__outcome_kind_t kind, int64_t now)
{
  int64_t at = -1;

  assert_int_equal(pacer__breaker_allow(b, now, &at), 1);
  return pacer__breaker_record(b, pacer__breaker_admit(b, now), kind, now, now);
}

/* Records n outcomes of one kind at now; none of them may change the
 * state. */
static void calls(pacer__breaker_t *b, pacer__outcome_kind_t kind, unsigned n,
                  int64_t now)
{
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(call(b, kind, now), 0);
}

/* Fails calls at now until the breaker opens; it must be CLOSED first. */
static void trip_at(pacer__breaker_t *b, int64_t now)
{
  unsigned n = 0;

  assert_int_equal(pacer__breaker_state(b, now), CLOSED);
  while (call(b, F, now) == 0) {
    n++;
    assert_true(n <= b->cfg->window);
  }
  assert_int_equal(pacer__breaker_state(b, now), OPEN);
}

/* ------------------------------------------------------------------------ */

static void cfg_check_accepts_edges(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(20, 10, 0.5, 1);

  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  c = make_cfg(1, 1, 1.0, 1);
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  c = make_cfg(1024, 1024, 1e-9, 1000000);
  c.cooldown_ns = 0;
  c.probe_timeout_ns = 1;
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  c.cooldown_ns = INT64_MAX;
  c.probe_timeout_ns = INT64_MAX;
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
}

static void cfg_check_rejects_each_bad_field(void **state)
{
  const pacer__breaker_cfg_t good = make_cfg(10, 5, 0.5, 3);
  pacer__breaker_cfg_t c;

  assert_int_equal(pacer__breaker_cfg_check(NULL), PACER_EINVAL);

  c = good;
  c.window = 0;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  c = good;
  c.window = 1025;
  c.min_calls = 1;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);

  c = good;
  c.min_calls = 0;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  c = good;
  c.min_calls = 11;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);

  const double bad_thresholds[] = {0.0, -0.5,     1.0000001, 2.0,
                                   NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad_thresholds / sizeof *bad_thresholds; i++) {
    c = good;
    c.threshold = bad_thresholds[i];
    assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  }

  c = good;
  c.cooldown_ns = -1;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  c = good;
  c.cooldown_ns = INT64_MIN;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);

  c = good;
  c.probes = 0;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  c = good;
  c.probes = 1000001;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);

  c = good;
  c.probe_timeout_ns = 0;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  c = good;
  c.probe_timeout_ns = -1;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);

  /* Each case above changed one field of a valid configuration. */
  assert_int_equal(pacer__breaker_cfg_check(&good), 0);
}

static void init_is_closed_and_pristine(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 5, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_true(pacer__breaker_pristine(&b));
  assert_int_equal(pacer__breaker_allow(&b, 0, &at), 1);
  assert_int_equal(b.opened, 0);

  assert_int_equal(call(&b, S, 0), 0);
  assert_false(pacer__breaker_pristine(&b));
}

static void closed_below_min_calls_even_at_all_failures(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(20, 10, 0.5, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, F, 9, 0);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_int_equal(b.known, 9);
  assert_int_equal(b.failures, 9);
  /* The tenth outcome reaches min_calls: 10 of 10 failed. */
  assert_int_equal(call(&b, F, 0), 1);
  assert_int_equal(pacer__breaker_state(&b, 0), OPEN);
  assert_int_equal(b.opened, 1);
}

static void opens_exactly_at_threshold(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 10, 0.5, 1);
  pacer__breaker_t b;

  /* 4 of 10: below. */
  pacer__breaker_init(&b, &c);
  calls(&b, F, 4, 0);
  calls(&b, S, 6, 0);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);

  /* 5 of 10: at the threshold, which opens it; the call that makes the
   * tenth outcome is the one that changes the state. */
  pacer__breaker_init(&b, &c);
  calls(&b, F, 5, 0);
  calls(&b, S, 4, 0);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_int_equal(call(&b, S, 0), 1);
  assert_int_equal(pacer__breaker_state(&b, 0), OPEN);
  /* Opening empties the window. */
  assert_int_equal(b.known, 0);
  assert_int_equal(b.failures, 0);
}

static void threshold_compares_without_float_error(void **state)
{
  /* 0.07 * 100 is 7.000000000000001 in double: comparing failures with
   * threshold * known would keep 7 of 100 below a threshold of 0.07. */
  pacer__breaker_cfg_t c = make_cfg(100, 100, 0.07, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, F, 6, 0);
  calls(&b, S, 94, 0);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);

  pacer__breaker_init(&b, &c);
  calls(&b, F, 7, 0);
  calls(&b, S, 92, 0);
  assert_int_equal(call(&b, S, 0), 1);
  assert_int_equal(pacer__breaker_state(&b, 0), OPEN);

  /* A third cannot be written exactly; 1 of 3 must still meet it. */
  c = make_cfg(3, 3, 1.0 / 3.0, 1);
  pacer__breaker_init(&b, &c);
  calls(&b, S, 2, 0);
  assert_int_equal(call(&b, F, 0), 1);
}

static void threshold_one_needs_every_call_to_fail(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 10, 1.0, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, S, 1, 0);
  calls(&b, F, 9, 0);
  /* The success is the oldest outcome; the next failure pushes it out. */
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_int_equal(call(&b, F, 0), 1);
}

static void window_slides(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 10, 0.5, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, F, 4, 0);
  calls(&b, S, 6, 0); /* 4 of 10 */
  calls(&b, S, 4, 0); /* the 4 failures fall out */
  assert_int_equal(b.known, 10);
  assert_int_equal(b.failures, 0);
  /* 8 failures recorded in all, but only 4 in the window. */
  calls(&b, F, 4, 0);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_int_equal(b.failures, 4);
  assert_int_equal(call(&b, F, 0), 1);
}

static void ignore_in_closed_records_nothing(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, I, 50, 0);
  assert_int_equal(b.known, 0);
  assert_true(pacer__breaker_pristine(&b));
  assert_int_equal(call(&b, F, 0), 1); /* min_calls 1: the first failure */
}

static void full_walk_closed_open_half_open_closed(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 10, 0.5, 3);
  pacer__breaker_t b;
  uint32_t t[3];
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  uint32_t gen0 = b.gen;
  trip_at(&b, 100);
  assert_int_equal(b.gen, gen0 + 1);
  assert_int_equal(b.opened, 1);
  assert_false(pacer__breaker_pristine(&b));

  /* OPEN for the whole cooldown, and it says when to ask again. */
  assert_int_equal(pacer__breaker_allow(&b, 100, &at), 0);
  assert_int_equal(at, 1100);
  at = -1;
  assert_int_equal(pacer__breaker_allow(&b, 1099, &at), 0);
  assert_int_equal(at, 1100);
  assert_int_equal(pacer__breaker_state(&b, 1099), OPEN);

  /* At the end of the cooldown: HALF_OPEN, exactly 3 probes. */
  assert_int_equal(pacer__breaker_state(&b, 1100), HALF);
  assert_int_equal(b.gen, gen0 + 2);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pacer__breaker_allow(&b, 1100 + i, &at), 1);
    t[i] = pacer__breaker_admit(&b, 1100 + i);
    assert_int_equal(t[i], b.gen);
  }
  at = -1;
  assert_int_equal(pacer__breaker_allow(&b, 1103, &at), 0);
  /* The deadline runs from the first probe. */
  assert_int_equal(at, 1600);

  /* Every probe succeeds: only the last one closes it. */
  assert_int_equal(pacer__breaker_record(&b, t[0], S, 1100, 1200), 0);
  assert_int_equal(pacer__breaker_record(&b, t[2], S, 1102, 1201), 0);
  assert_int_equal(pacer__breaker_state(&b, 1201), HALF);
  assert_int_equal(pacer__breaker_allow(&b, 1201, &at), 0);
  assert_int_equal(pacer__breaker_record(&b, t[1], S, 1101, 1202), 1);
  assert_int_equal(pacer__breaker_state(&b, 1202), CLOSED);
  assert_int_equal(b.gen, gen0 + 3);
  assert_true(pacer__breaker_pristine(&b));
  assert_int_equal(b.opened, 1);
  assert_int_equal(pacer__breaker_allow(&b, 1202, &at), 1);

  /* Again, and this time one probe fails: OPEN with a fresh cooldown. */
  trip_at(&b, 2000);
  assert_int_equal(b.opened, 2);
  assert_int_equal(pacer__breaker_state(&b, 3000), HALF);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pacer__breaker_allow(&b, 3000, &at), 1);
    t[i] = pacer__breaker_admit(&b, 3000);
  }
  assert_int_equal(pacer__breaker_record(&b, t[0], S, 3000, 3050), 0);
  assert_int_equal(pacer__breaker_record(&b, t[1], F, 3000, 3100), 1);
  assert_int_equal(pacer__breaker_state(&b, 3100), OPEN);
  assert_int_equal(b.opened, 3);
  at = -1;
  assert_int_equal(pacer__breaker_allow(&b, 3100, &at), 0);
  assert_int_equal(at, 4100);
  /* The last probe's success comes too late to count. */
  assert_int_equal(pacer__breaker_record(&b, t[2], S, 3000, 3200), 0);
  assert_int_equal(pacer__breaker_state(&b, 4099), OPEN);
  assert_int_equal(pacer__breaker_state(&b, 4100), HALF);
  assert_int_equal(b.probes_left, 3);
  assert_int_equal(b.probes_ok, 0);
}

static void probe_timeout_reopens_and_late_outcome_is_stale(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 2);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t p1 = pacer__breaker_admit(&b, 1000);
  assert_int_equal(pacer__breaker_allow(&b, 1010, &at), 1);
  uint32_t p2 = pacer__breaker_admit(&b, 1010);

  assert_int_equal(pacer__breaker_allow(&b, 1499, &at), 0);
  assert_int_equal(at, 1500);
  assert_int_equal(pacer__breaker_state(&b, 1499), HALF);

  /* No outcome by the deadline: asking at it reopens, cooling down anew. */
  at = -1;
  assert_int_equal(pacer__breaker_allow(&b, 1500, &at), 0);
  assert_int_equal(pacer__breaker_state(&b, 1500), OPEN);
  assert_int_equal(at, 2500);
  assert_int_equal(b.opened, 2);

  /* The hung probes finally succeed: their tickets are stale. */
  assert_int_equal(pacer__breaker_record(&b, p1, S, 1000, 1600), 0);
  assert_int_equal(pacer__breaker_record(&b, p2, S, 1010, 1601), 0);
  assert_int_equal(pacer__breaker_state(&b, 1601), OPEN);

  /* Nor do they count once it half-opens again. */
  assert_int_equal(pacer__breaker_state(&b, 2500), HALF);
  assert_int_equal(pacer__breaker_record(&b, p1, S, 1000, 2500), 0);
  assert_int_equal(pacer__breaker_record(&b, p2, S, 1010, 2500), 0);
  assert_int_equal(pacer__breaker_state(&b, 2500), HALF);
  assert_int_equal(b.probes_ok, 0);
  assert_int_equal(b.probes_left, 2);
}

static void probe_timeout_applies_with_free_slots(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 3);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  (void)pacer__breaker_admit(&b, 1000);
  /* Two slots are still free, but the admitted probe has hung: state()
   * alone is enough to notice. */
  assert_int_equal(pacer__breaker_state(&b, 1499), HALF);
  assert_int_equal(pacer__breaker_state(&b, 1500), OPEN);
  assert_int_equal(b.open_until, 2500);
}

static void half_open_without_probes_out_never_times_out(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  /* Nobody asks to be admitted for a long time: it keeps waiting for a
   * probe instead of reopening. */
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  assert_int_equal(pacer__breaker_state(&b, 1000000), HALF);
  assert_int_equal(pacer__breaker_allow(&b, 2000000, &at), 1);
  assert_int_equal(b.opened, 1);
}

static void stale_failure_from_closed_does_nothing(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 5, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_allow(&b, 0, &at), 1);
  uint32_t slow = pacer__breaker_admit(&b, 0);
  trip_at(&b, 10);
  assert_int_equal(b.opened, 1);
  assert_int_equal(b.open_until, 1010);

  /* It neither opens it again nor extends the cooldown. */
  assert_int_equal(pacer__breaker_record(&b, slow, F, 0, 500), 0);
  assert_int_equal(b.opened, 1);
  assert_int_equal(b.open_until, 1010);
  assert_int_equal(pacer__breaker_allow(&b, 500, &at), 0);
  assert_int_equal(at, 1010);
  /* Nor does it fail the probe stage. */
  assert_int_equal(pacer__breaker_state(&b, 1010), HALF);
  assert_int_equal(pacer__breaker_record(&b, slow, F, 0, 1010), 0);
  assert_int_equal(pacer__breaker_state(&b, 1010), HALF);
}

static void stale_success_from_closed_is_not_a_probe(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 5, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_allow(&b, 0, &at), 1);
  uint32_t slow = pacer__breaker_admit(&b, 0);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);

  /* Before any probe is admitted... */
  assert_int_equal(pacer__breaker_record(&b, slow, S, 0, 1000), 0);
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  assert_int_equal(b.probes_ok, 0);
  assert_int_equal(b.probes_left, 1);

  /* ...and while one is out: it does not stand in for the probe. */
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t probe = pacer__breaker_admit(&b, 1000);
  assert_int_equal(pacer__breaker_record(&b, slow, S, 0, 1001), 0);
  assert_int_equal(pacer__breaker_state(&b, 1001), HALF);
  assert_int_equal(pacer__breaker_record(&b, probe, S, 1000, 1002), 1);
  assert_int_equal(pacer__breaker_state(&b, 1002), CLOSED);
}

static void ignore_gives_probe_slot_back(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t p = pacer__breaker_admit(&b, 1000);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 0);

  /* The probe was cancelled: it judged nothing, the slot is free again. */
  assert_int_equal(pacer__breaker_record(&b, p, I, 1000, 1100), 0);
  assert_int_equal(pacer__breaker_state(&b, 1100), HALF);
  assert_int_equal(b.probes_left, 1);
  assert_int_equal(b.probes_out, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1100, &at), 1);
  p = pacer__breaker_admit(&b, 1100);
  assert_int_equal(pacer__breaker_allow(&b, 1100, &at), 0);
  assert_int_equal(pacer__breaker_record(&b, p, S, 1100, 1200), 1);
  assert_int_equal(pacer__breaker_state(&b, 1200), CLOSED);
}

static void probe_after_ignore_gets_its_own_timeout(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t p = pacer__breaker_admit(&b, 1000);
  assert_int_equal(pacer__breaker_record(&b, p, I, 1000, 1499), 0);

  /* The replacement starts at 1499; the first probe's deadline (1500) is
   * not its own, so 1500 does not reopen it. */
  assert_int_equal(pacer__breaker_allow(&b, 1499, &at), 1);
  (void)pacer__breaker_admit(&b, 1499);
  assert_int_equal(pacer__breaker_allow(&b, 1500, &at), 0);
  assert_int_equal(at, 1999);
  assert_int_equal(pacer__breaker_state(&b, 1998), HALF);
  assert_int_equal(pacer__breaker_state(&b, 1999), OPEN);
}

static void probe_after_judged_ones_gets_its_own_timeout(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 2);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t p1 = pacer__breaker_admit(&b, 1000);
  assert_int_equal(pacer__breaker_record(&b, p1, S, 1000, 1100), 0);

  /* Nothing is out: the first probe's deadline no longer means anything. */
  assert_int_equal(pacer__breaker_state(&b, 1500), HALF);

  /* The second probe, admitted just before it, gets a full timeout. */
  assert_int_equal(pacer__breaker_allow(&b, 1499, &at), 1);
  uint32_t p2 = pacer__breaker_admit(&b, 1499);
  assert_int_equal(pacer__breaker_allow(&b, 1500, &at), 0);
  assert_int_equal(at, 1999);
  assert_int_equal(pacer__breaker_state(&b, 1998), HALF);
  assert_int_equal(pacer__breaker_record(&b, p2, S, 1499, 1998), 1);
  assert_int_equal(pacer__breaker_state(&b, 1998), CLOSED);
}

static void eight_racing_callers_admit_exactly_k(void **state)
{
  /* Single-threaded by contract: the engine serialises callers, so a race
   * is 8 allow()+admit() pairs at the same instant, one after another. */
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 2);
  pacer__breaker_t b;
  uint32_t tickets[8];
  int admitted = 0;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  for (int i = 0; i < 8; i++) {
    int64_t at = -1;

    if (pacer__breaker_allow(&b, 1000, &at)) {
      tickets[admitted++] = pacer__breaker_admit(&b, 1000);
    } else {
      assert_int_equal(at, 1500);
    }
  }
  assert_int_equal(admitted, 2);
  assert_int_equal(b.probes_out, 2);
  assert_int_equal(b.probes_left, 0);
  assert_int_equal(pacer__breaker_record(&b, tickets[0], S, 1000, 1100), 0);
  assert_int_equal(pacer__breaker_record(&b, tickets[1], S, 1000, 1100), 1);
  assert_int_equal(pacer__breaker_state(&b, 1100), CLOSED);
}

static void admit_without_allow_gets_a_stale_ticket(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  /* OPEN: a caller that skipped allow() gets a ticket that counts for
   * nothing, and no probe slot. */
  uint32_t t = pacer__breaker_admit(&b, 10);
  assert_int_not_equal(t, b.gen);
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  assert_int_equal(pacer__breaker_record(&b, t, S, 10, 1000), 0);

  /* HALF_OPEN with no slot left: the same. */
  assert_int_equal(pacer__breaker_allow(&b, 1000, &at), 1);
  uint32_t p = pacer__breaker_admit(&b, 1000);
  t = pacer__breaker_admit(&b, 1000);
  assert_int_not_equal(t, b.gen);
  assert_int_equal(b.probes_out, 1);
  assert_int_equal(pacer__breaker_record(&b, t, F, 1000, 1001), 0);
  assert_int_equal(pacer__breaker_state(&b, 1001), HALF);
  assert_int_equal(pacer__breaker_record(&b, p, S, 1000, 1002), 1);
  assert_int_equal(pacer__breaker_state(&b, 1002), CLOSED);
}

static void window_1024_spans_words(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(1024, 1024, 0.5, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, S, 1000, 0);
  calls(&b, F, 24, 0); /* slots 1000..1023, the last word */
  assert_int_equal(b.known, 1024);
  assert_int_equal(b.failures, 24);
  assert_int_equal(b.pos, 0);
  calls(&b, S, 1000, 0);
  assert_int_equal(b.failures, 24);
  calls(&b, S, 24, 0); /* the failures fall out across the wrap */
  assert_int_equal(b.failures, 0);
  assert_int_equal(b.known, 1024);

  /* 511 failures over words 0..7, then the 512th opens it. */
  calls(&b, F, 511, 0);
  assert_int_equal(b.failures, 511);
  assert_int_equal(pacer__breaker_state(&b, 0), CLOSED);
  assert_int_equal(call(&b, F, 0), 1);
  assert_int_equal(pacer__breaker_state(&b, 0), OPEN);
}

static void window_one(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(1, 1, 1.0, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  calls(&b, S, 5, 0);
  assert_int_equal(b.known, 1);
  assert_int_equal(b.pos, 0);
  assert_int_equal(call(&b, F, 0), 1);

  /* Recover, then a success followed by a failure: only the last counts. */
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  assert_int_equal(call(&b, S, 1000), 1);
  assert_int_equal(pacer__breaker_state(&b, 1000), CLOSED);
  calls(&b, S, 1, 1000);
  assert_int_equal(call(&b, F, 1000), 1);
  assert_int_equal(b.opened, 2);
}

static void zero_cooldown_half_opens_at_once(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  c.cooldown_ns = 0;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 50), 1);
  assert_int_equal(pacer__breaker_allow(&b, 50, &at), 1);
  assert_int_equal(pacer__breaker_state(&b, 50), HALF);

  /* A probe timeout reopens it, and it half-opens in the same breath. */
  (void)pacer__breaker_admit(&b, 50);
  assert_int_equal(pacer__breaker_state(&b, 550), HALF);
  assert_int_equal(b.opened, 2);
  assert_int_equal(b.probes_left, 1);
}

static void times_saturate_instead_of_overflowing(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;
  int64_t at = -1;

  c.cooldown_ns = INT64_MAX;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 1000), 1);
  assert_int_equal(b.open_until, INT64_MAX);
  assert_int_equal(pacer__breaker_allow(&b, INT64_MAX - 1, &at), 0);
  assert_int_equal(at, INT64_MAX);

  c = make_cfg(10, 1, 0.5, 1);
  c.probe_timeout_ns = INT64_MAX;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 0), 1);
  assert_int_equal(pacer__breaker_allow(&b, INT64_MAX - 10, &at), 1);
  uint32_t p = pacer__breaker_admit(&b, INT64_MAX - 10);
  assert_int_equal(b.probe_at[0], INT64_MAX - 10);
  assert_int_equal(pacer__breaker_allow(&b, INT64_MAX - 1, &at), 0);
  assert_int_equal(at, INT64_MAX);
  assert_int_equal(pacer__breaker_state(&b, INT64_MAX - 1), HALF);

  /* A failure this late opens it until the end of time. */
  assert_int_equal(
      pacer__breaker_record(&b, p, F, INT64_MAX - 10, INT64_MAX - 1), 1);
  assert_int_equal(b.open_until, INT64_MAX);
  assert_int_equal(pacer__breaker_allow(&b, INT64_MAX - 1, &at), 0);
  assert_int_equal(at, INT64_MAX);
}

static void allow_accepts_null_retry_at(void **state)
{
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 1);
  pacer__breaker_t b;

  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 0), 1);
  assert_int_equal(pacer__breaker_allow(&b, 0, NULL), 0);
  assert_int_equal(pacer__breaker_allow(&b, 1000, NULL), 1);
}

/* Each probe is judged by its own deadline: probe B, admitted 30 after
 * probe A with a timeout of 40, is still in time at 70 once A succeeded. */
static void each_probe_has_its_own_deadline(void **state)
{
  (void)state;
  pacer__breaker_t b;
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 2);
  c.cooldown_ns = 10;
  c.probe_timeout_ns = 40;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 0), 1); /* OPEN until 10 */
  int64_t at;
  assert_int_equal(pacer__breaker_allow(&b, 30, &at), 1);
  uint32_t a = pacer__breaker_admit(&b, 30);
  assert_int_equal(pacer__breaker_allow(&b, 60, &at), 1);
  uint32_t p = pacer__breaker_admit(&b, 60);
  assert_int_equal(pacer__breaker_allow(&b, 61, &at), 0);
  assert_int_equal(at, 70); /* A's deadline */
  assert_int_equal(pacer__breaker_record(&b, a, S, 30, 65), 0);
  assert_int_equal(pacer__breaker_allow(&b, 70, &at), 0);
  assert_int_equal(at, 100); /* B's own */
  assert_int_equal(pacer__breaker_state(&b, 99), HALF);
  assert_int_equal(pacer__breaker_state(&b, 100), OPEN);
  (void)p;
}

/* More probes than can be out at once are let through as earlier ones are
 * judged, each with its own deadline; the count stays exact. */
static void many_probes_go_out_in_turns(void **state)
{
  (void)state;
  pacer__breaker_t b;
  pacer__breaker_cfg_t c = make_cfg(10, 1, 0.5, 6);
  c.cooldown_ns = 10;
  c.probe_timeout_ns = 1000;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call(&b, F, 0), 1);
  uint32_t t[6];
  int64_t at;
  for (int i = 0; i < PACER__PROBES_OUT_MAX; i++) {
    assert_int_equal(pacer__breaker_allow(&b, 10 + i, &at), 1);
    t[i] = pacer__breaker_admit(&b, 10 + i);
  }
  assert_int_equal(pacer__breaker_allow(&b, 20, &at), 0);
  assert_int_equal(at, 1010); /* the oldest probe's deadline */
  /* The second one succeeds: a fifth may go, and the oldest still rules. */
  assert_int_equal(pacer__breaker_record(&b, t[1], S, 11, 30), 0);
  assert_int_equal(pacer__breaker_allow(&b, 30, &at), 1);
  t[4] = pacer__breaker_admit(&b, 30);
  assert_int_equal(pacer__breaker_allow(&b, 31, &at), 0);
  assert_int_equal(at, 1010);
  /* The first one succeeds: now the third one's deadline rules. */
  assert_int_equal(pacer__breaker_record(&b, t[0], S, 10, 40), 0);
  assert_int_equal(pacer__breaker_allow(&b, 40, &at), 1);
  t[5] = pacer__breaker_admit(&b, 40);
  assert_int_equal(pacer__breaker_allow(&b, 41, &at), 0);
  assert_int_equal(at, 1012);
  assert_int_equal(pacer__breaker_record(&b, t[2], S, 12, 50), 0);
  assert_int_equal(pacer__breaker_record(&b, t[3], S, 13, 50), 0);
  assert_int_equal(pacer__breaker_record(&b, t[4], S, 30, 50), 0);
  assert_int_equal(pacer__breaker_allow(&b, 50, &at), 0); /* all 6 given */
  assert_int_equal(at, 1040);
  assert_int_equal(pacer__breaker_record(&b, t[5], S, 40, 60), 1);
  assert_int_equal(pacer__breaker_state(&b, 60), CLOSED);
}

/* What an idle breaker asks to be kept for. */
static void keep_until_follows_the_state(void **state)
{
  (void)state;
  pacer__breaker_t b;
  pacer__breaker_cfg_t c = make_cfg(4, 4, 0.5, 1);
  c.cooldown_ns = 100;
  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_keep_until(&b, 5), INT64_MIN);
  assert_int_equal(call(&b, S, 5), 0);
  assert_int_equal(pacer__breaker_keep_until(&b, 5), INT64_MIN);
  assert_int_equal(call(&b, F, 6), 0);
  assert_int_equal(pacer__breaker_keep_until(&b, 6), 106);
  assert_int_equal(call(&b, F, 7), 0);
  assert_int_equal(call(&b, F, 8), 1); /* OPEN until 108 */
  assert_int_equal(pacer__breaker_keep_until(&b, 8), 208);
  assert_int_equal(pacer__breaker_state(&b, 108), HALF);
  assert_int_equal(pacer__breaker_keep_until(&b, 150), 250);
}

/* ---- slow calls ---- */

static pacer__breaker_cfg_t slow_cfg(unsigned window, unsigned min_calls,
                                     double slow_threshold)
{
  pacer__breaker_cfg_t c = make_cfg(window, min_calls, 0.5, 1);
  c.slow_ns = 100;
  c.slow_threshold = slow_threshold;
  return c;
}

/* One call admitted at start whose outcome comes at end. */
static int call_timed(pacer__breaker_t *b, pacer__outcome_kind_t kind,
                      int64_t start, int64_t end)
{
  int64_t at = -1;
  assert_int_equal(pacer__breaker_allow(b, start, &at), 1);
  return pacer__breaker_record(b, pacer__breaker_admit(b, start), kind, start,
                               end);
}

static void slow_cfg_check(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(10, 10, 0.5);
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  c.slow_threshold = 1.0;
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  const double bad[] = {0.0, -0.5, 1.01, NAN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c.slow_threshold = bad[i];
    assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
  }
  c.slow_ns = 0; /* off: the threshold is not looked at */
  assert_int_equal(pacer__breaker_cfg_check(&c), 0);
  c.slow_ns = -1;
  assert_int_equal(pacer__breaker_cfg_check(&c), PACER_EINVAL);
}

/* Slower than slow_ns, strictly; a success or a failure; never an ignored
 * outcome, never with slow_ns 0, never with a clock that went back. */
static void slow_is_strictly_longer(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(10, 10, 0.5);
  assert_false(pacer__breaker_is_slow(&c, S, 1000, 1100));
  assert_true(pacer__breaker_is_slow(&c, S, 1000, 1101));
  assert_true(pacer__breaker_is_slow(&c, F, 1000, 1101));
  assert_false(pacer__breaker_is_slow(&c, I, 1000, 5000));
  assert_false(pacer__breaker_is_slow(&c, S, 1000, 900));
  c.slow_ns = 0;
  assert_false(pacer__breaker_is_slow(&c, S, 0, INT64_MAX));
}

/* Slow successes open it as failures do: at min_calls, once slow/known
 * reaches the threshold; the failure ring never sees them. */
static void slow_successes_open_it(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(10, 10, 0.5);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_last_trip(&b).why, 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(call_timed(&b, S, 0, 50), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(call_timed(&b, S, 0, 150), 0);
  assert_int_equal(b.slows, 4);
  assert_int_equal(b.failures, 0);
  assert_int_equal(call_timed(&b, S, 0, 150), 1); /* 5 of 10 */
  assert_int_equal(pacer__breaker_state(&b, 150), OPEN);
  pacer__breaker_trip_t t = pacer__breaker_last_trip(&b);
  assert_int_equal(t.why, PACER__TRIP_SLOW);
  assert_int_equal(t.calls, 10);
  assert_true(t.slow_ratio == 0.5);
  assert_true(t.failure_ratio == 0.0);
  assert_int_equal(t.at_ns, 150);
}

/* A slow failure counts in both rings: both ratios are reported. */
static void slow_failures_count_twice(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(4, 4, 0.5);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call_timed(&b, S, 0, 10), 0);
  assert_int_equal(call_timed(&b, S, 0, 10), 0);
  assert_int_equal(call_timed(&b, F, 0, 200), 0);
  assert_int_equal(call_timed(&b, F, 0, 200), 1);
  pacer__breaker_trip_t t = pacer__breaker_last_trip(&b);
  assert_int_equal(t.why, PACER__TRIP_FAILURES | PACER__TRIP_SLOW);
  assert_true(t.failure_ratio == 0.5);
  assert_true(t.slow_ratio == 0.5);
}

/* Slow outcomes leave the window as they age out of it, and keep an idle
 * breaker worth remembering while they are in it. */
static void slow_calls_age_out_of_the_window(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(4, 4, 0.75);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  assert_int_equal(call_timed(&b, S, 0, 200), 0);
  assert_int_equal(pacer__breaker_keep_until(&b, 200), 1200);
  assert_false(pacer__breaker_pristine(&b));
  assert_int_equal(call_timed(&b, S, 0, 200), 0);
  assert_int_equal(call_timed(&b, S, 0, 10), 0);
  assert_int_equal(call_timed(&b, S, 0, 10), 0); /* 2 of 4 */
  assert_int_equal(call_timed(&b, S, 0, 10), 0); /* the first slow leaves */
  assert_int_equal(b.slows, 1);
  assert_int_equal(call_timed(&b, S, 0, 10), 0);
  assert_int_equal(b.slows, 0);
  assert_int_equal(pacer__breaker_keep_until(&b, 10), INT64_MIN);
  assert_int_equal(call_timed(&b, S, 0, 200), 0);
  assert_int_equal(call_timed(&b, S, 0, 200), 0);
  assert_int_equal(call_timed(&b, S, 0, 200), 1); /* 3 of 4 */
  assert_int_equal(pacer__breaker_state(&b, 200), OPEN);
}

/* In HALF_OPEN a slow probe counts as failed, whatever it answered; an
 * ignored one frees its place even when long; a quick one closes it. */
static void slow_probe_opens_it_again(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(4, 4, 0.5);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_last_trip(&b).why, PACER__TRIP_FAILURES);
  assert_true(pacer__breaker_last_trip(&b).failure_ratio == 1.0); /* 4 of 4 */
  /* Cooldown 1000: half-open at 1000. */
  assert_int_equal(call_timed(&b, I, 1000, 1400), 0);
  assert_int_equal(pacer__breaker_state(&b, 1400), HALF);
  assert_int_equal(call_timed(&b, S, 1400, 1501), 1);
  assert_int_equal(pacer__breaker_state(&b, 1501), OPEN);
  pacer__breaker_trip_t t = pacer__breaker_last_trip(&b);
  assert_int_equal(t.why, PACER__TRIP_PROBE | PACER__TRIP_SLOW);
  assert_int_equal(t.calls, 1);
  assert_true(t.slow_ratio == 1.0);
  assert_true(t.failure_ratio == 0.0);
  /* A probe that fails slowly: both. */
  assert_int_equal(call_timed(&b, F, 2501, 2700), 1);
  assert_int_equal(pacer__breaker_last_trip(&b).why,
                   PACER__TRIP_PROBE | PACER__TRIP_SLOW | PACER__TRIP_FAILURES);
  /* A probe with no outcome by its deadline (probe timeout 500). */
  int64_t at;
  assert_int_equal(pacer__breaker_allow(&b, 3700, &at), 1);
  (void)pacer__breaker_admit(&b, 3700);
  assert_int_equal(pacer__breaker_state(&b, 4200), OPEN);
  assert_int_equal(pacer__breaker_last_trip(&b).why, PACER__TRIP_PROBE |
                                                         PACER__TRIP_TIMEOUT |
                                                         PACER__TRIP_FAILURES);
  assert_int_equal(pacer__breaker_last_trip(&b).at_ns, 4200);
  /* A quick probe closes it. */
  assert_int_equal(call_timed(&b, S, 5200, 5300), 1);
  assert_int_equal(pacer__breaker_state(&b, 5300), CLOSED);
}

/* ---- settings changed live (pacer_reconfigure()) ---- */

/* A smaller window keeps the newest outcomes that fit, in order; a larger
 * one keeps them all, and the ring then fills on from where it was. Every
 * step is checked against a breaker that saw the same outcomes under the
 * new window alone. */
static void rewindow_keeps_the_newest_outcomes(void **state)
{
  (void)state;
  /* 70 outcomes in window 64 (wrapped), the last 8 all successes: shrunk
   * to 8, nothing failed in it. */
  pacer__breaker_cfg_t c = make_cfg(64, 64, 0.9, 1);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  for (int i = 0; i < 70; i++)
    assert_int_equal(call(&b, i < 62 && i % 2 ? F : S, 0), 0);
  assert_int_equal(b.known, 64);
  pacer__breaker_rewindow(&b, 64, 8);
  c.window = 8;
  c.min_calls = 8;
  c.threshold = 0.5;
  assert_int_equal(b.known, 8);
  assert_int_equal(b.failures, 0);
  assert_int_equal(b.pos, 0);
  /* Four failures of the next 4 make half of the window of 8: it opens
   * at the fourth, exactly as a breaker of window 8 would. */
  calls(&b, F, 3, 1);
  assert_int_equal(call(&b, F, 1), 1);
  assert_int_equal(pacer__breaker_state(&b, 1), OPEN);

  /* Not wrapped, grown: every outcome stays, and the ring goes on. */
  pacer__breaker_cfg_t d = make_cfg(4, 4, 0.6, 1);
  pacer__breaker_init(&b, &d);
  calls(&b, F, 1, 0);
  calls(&b, S, 1, 0);
  calls(&b, F, 1, 0); /* F S F: 3 known, below min_calls */
  pacer__breaker_rewindow(&b, 4, 6);
  d.window = 6;
  d.min_calls = 5;
  assert_int_equal(b.known, 3);
  assert_int_equal(b.failures, 2);
  assert_int_equal(b.pos, 3);
  calls(&b, S, 1, 0);                  /* F S F S: 2 of 4 */
  assert_int_equal(call(&b, F, 0), 1); /* F S F S F: 3 of 5 opens it */
}

/* A wrapped ring shrunk: the oldest outcome of the kept ones is where the
 * new ring starts, and a window of one keeps the very last. */
static void rewindow_of_a_wrapped_ring(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = make_cfg(5, 5, 1.0, 1);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  /* 7 outcomes in window 5: S S F S F S F (the last 5: F S F S F). */
  static const int seq[7] = {0, 0, 1, 0, 1, 0, 1};
  for (int i = 0; i < 7; i++)
    assert_int_equal(call(&b, seq[i] ? F : S, 0), 0);
  pacer__breaker_t one = b;
  pacer__breaker_rewindow(&b, 5, 3); /* F S F */
  c.window = 3;
  assert_int_equal(b.known, 3);
  assert_int_equal(b.failures, 2);
  assert_int_equal(b.pos, 0);
  assert_int_equal(b.bits[0], 0x5);    /* oldest first: F S F */
  pacer__breaker_rewindow(&one, 5, 1); /* F */
  assert_int_equal(one.known, 1);
  assert_int_equal(one.failures, 1);
  assert_int_equal(one.bits[0], 0x1);
}

/* A changed probes count applies from the next half-open: a breaker half
 * open when it changes closes after the probes it half-opened with. */
static void probes_change_applies_at_the_next_half_open(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = make_cfg(2, 2, 1.0, 2);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  trip_at(&b, 0);
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  c.probes = 1;                           /* live */
  assert_int_equal(call(&b, S, 1000), 0); /* 1 of the 2 it needs */
  assert_int_equal(pacer__breaker_state(&b, 1000), HALF);
  assert_int_equal(call(&b, S, 1000), 1);
  assert_int_equal(pacer__breaker_state(&b, 1000), CLOSED);
  trip_at(&b, 2000);
  assert_int_equal(pacer__breaker_state(&b, 3000), HALF);
  assert_int_equal(call(&b, S, 3000), 1); /* now 1 is enough */
  assert_int_equal(pacer__breaker_state(&b, 3000), CLOSED);
}

/* Reset: CLOSED and empty, and a call admitted before counts for
 * nothing. */
static void reset_forgets_and_makes_old_tickets_stale(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = make_cfg(4, 2, 0.5, 1);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  assert_int_equal(pacer__breaker_allow(&b, 0, NULL), 1);
  uint32_t old = pacer__breaker_admit(&b, 0);
  calls(&b, F, 1, 0);
  pacer__breaker_reset(&b);
  assert_true(pacer__breaker_pristine(&b));
  assert_int_equal(pacer__breaker_record(&b, old, F, 0, 0), 0);
  assert_int_equal(b.known, 0);
}

/* The slow marks move with their outcomes: a smaller window keeps the
 * newest ones and their count, so the slow ratio stays true. */
static void rewindow_keeps_slow_marks(void **state)
{
  (void)state;
  pacer__breaker_cfg_t c = slow_cfg(8, 8, 0.9);
  pacer__breaker_t b;
  pacer__breaker_init(&b, &c);
  /* oldest to newest: slow, slow, quick, quick, slow, quick */
  const int64_t ends[] = {200, 200, 10, 10, 200, 10};
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(call_timed(&b, S, 0, ends[i]), 0);
  assert_int_equal(b.slows, 3);
  pacer__breaker_rewindow(&b, 8, 4);
  c.window = 4;
  c.min_calls = 4;
  assert_int_equal(b.known, 4);
  assert_int_equal(b.slows, 1); /* quick, quick, slow, quick */
  assert_int_equal(b.failures, 0);
  /* two more slow: quick, slow, quick, slow... 3 of 4 trips 0.75 */
  c.slow_threshold = 0.75;
  assert_int_equal(call_timed(&b, S, 0, 200), 0); /* q s q s: 2 of 4 */
  assert_int_equal(b.slows, 2);
  assert_int_equal(call_timed(&b, S, 0, 200), 1); /* s q s s: 3 of 4 */
  assert_int_equal(pacer__breaker_last_trip(&b).why, PACER__TRIP_SLOW);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_probe_has_its_own_deadline),
      cmocka_unit_test(many_probes_go_out_in_turns),
      cmocka_unit_test(keep_until_follows_the_state),
      cmocka_unit_test(rewindow_keeps_the_newest_outcomes),
      cmocka_unit_test(rewindow_of_a_wrapped_ring),
      cmocka_unit_test(rewindow_keeps_slow_marks),
      cmocka_unit_test(probes_change_applies_at_the_next_half_open),
      cmocka_unit_test(reset_forgets_and_makes_old_tickets_stale),
      cmocka_unit_test(cfg_check_accepts_edges),
      cmocka_unit_test(cfg_check_rejects_each_bad_field),
      cmocka_unit_test(init_is_closed_and_pristine),
      cmocka_unit_test(closed_below_min_calls_even_at_all_failures),
      cmocka_unit_test(opens_exactly_at_threshold),
      cmocka_unit_test(threshold_compares_without_float_error),
      cmocka_unit_test(threshold_one_needs_every_call_to_fail),
      cmocka_unit_test(window_slides),
      cmocka_unit_test(ignore_in_closed_records_nothing),
      cmocka_unit_test(full_walk_closed_open_half_open_closed),
      cmocka_unit_test(probe_timeout_reopens_and_late_outcome_is_stale),
      cmocka_unit_test(probe_timeout_applies_with_free_slots),
      cmocka_unit_test(half_open_without_probes_out_never_times_out),
      cmocka_unit_test(stale_failure_from_closed_does_nothing),
      cmocka_unit_test(stale_success_from_closed_is_not_a_probe),
      cmocka_unit_test(ignore_gives_probe_slot_back),
      cmocka_unit_test(probe_after_ignore_gets_its_own_timeout),
      cmocka_unit_test(probe_after_judged_ones_gets_its_own_timeout),
      cmocka_unit_test(eight_racing_callers_admit_exactly_k),
      cmocka_unit_test(admit_without_allow_gets_a_stale_ticket),
      cmocka_unit_test(window_1024_spans_words),
      cmocka_unit_test(window_one),
      cmocka_unit_test(zero_cooldown_half_opens_at_once),
      cmocka_unit_test(times_saturate_instead_of_overflowing),
      cmocka_unit_test(allow_accepts_null_retry_at),
      cmocka_unit_test(slow_cfg_check),
      cmocka_unit_test(slow_is_strictly_longer),
      cmocka_unit_test(slow_successes_open_it),
      cmocka_unit_test(slow_failures_count_twice),
      cmocka_unit_test(slow_calls_age_out_of_the_window),
      cmocka_unit_test(slow_probe_opens_it_again),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
