/* SPDX-License-Identifier: MIT */
/* test_adapt.c - a key's rate adapted to what its server says: the maths of
 * adapt.c on their own, then the scheduler applying them (buckets retuned,
 * given and taken back, pauses to a reset, AIMD), then the engine reading
 * the quota from a response. Time is a number; nothing sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "adapt.h"
#include "clock.h"
#include "config.h"
#include "engine_fixture.h"
#include "fake_store.h"
#include "job.h"
#include "logcap.h"
#include "sched_fixture.h"
#include "recorder.h"
#include "scheduler.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS
#define T0 (1000 * S)

/* ---- the maths, pure ---- */

static const pacer__adapt_cfg_t on = {1, 1, 0.1, 3600 * S};

/* An announced quota: remaining left, reset_ns to the reset. */
static pacer__ratehdr_t quota(int64_t remaining, int64_t reset_ns)
{
  pacer__ratehdr_t q;
  memset(&q, 0, sizeof q);
  q.found = 1;
  q.source = PACER__RATEHDR_X;
  q.limit = q.window_ns = -1;
  q.remaining = remaining;
  q.reset_ns = reset_ns;
  return q;
}

/* One ended attempt (started at start) with status and maybe a quota;
 * returns whether the rate changed, *pause the pause (INT64_MIN: none). */
static int end_at(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg, double base,
                  int status, int retry_after, const pacer__ratehdr_t *q,
                  int64_t start, int64_t now, int64_t *pause)
{
  pacer__adapt_event_t ev = {0, status, retry_after, q, start};
  *pause = INT64_MIN;
  return pacer__adapt_end(a, cfg, base, &ev, now, 12345, pause);
}

static void announced_quota_is_spread_over_the_time_to_reset(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  pacer__ratehdr_t q = quota(49, 10 * S);
  /* No configured rate: 49 left over 10 s is 5/s until the reset (50
   * intervals: the last of the 49 starts one before the reset). */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(a.reason, PACER__ADAPT_ANNOUNCED);
  assert_true(a.rate == 5.0);
  assert_int_equal(a.until_ns, T0 + 10 * S);
  assert_int_equal(pause, INT64_MIN);
  assert_true(pacer__adapt_rate(&a, 0) == 5.0);
  /* The same announcement changes nothing. */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 0);
  /* 39 left over 5 s: 8/s. */
  q = quota(39, 5 * S);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0 + 5 * S, &pause), 1);
  assert_true(a.rate == 8.0);
  assert_int_equal(a.until_ns, T0 + 10 * S);
  /* The window passes: back to the configured limits. */
  assert_int_equal(pacer__adapt_expire(&a, T0 + 10 * S - 1), 0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 10 * S), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  assert_true(pacer__adapt_rate(&a, 0) == 0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 20 * S), 0);
}

/* A server that rounds the time to its window's end up to whole seconds,
 * as pacer-mock and the drafts' examples do: the reset it announces at t
 * for a window ending at e. */
static int64_t ceil_s(int64_t e, int64_t t)
{
  return (e - t + S - 1) / S * S;
}

/* Announcements of one window narrow down where it ends: the quota is
 * spread as announced at first, then to the middle of what is known, so
 * the end of each window is not left unused. */
static void announcements_of_one_window_narrow_its_reset(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause, e = T0 + 9700 * MS; /* the window's true end */
  pacer__ratehdr_t q = quota(49, ceil_s(e, T0));
  /* Fresh: (T0 + 8.999 s, T0 + 10 s] (the attempt started 1 ms before);
   * spread as announced, 50 over 10 s. */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0 - MS, T0, &pause), 1);
  assert_true(a.rate == 5.0);
  assert_int_equal(a.until_ns, T0 + 10 * S);
  /* At T0 + 0.8 s the server says 9 s: (T0 + 8.999 s, T0 + 9.8 s], whose
   * middle is 8.5995 s away. */
  int64_t t = T0 + 800 * MS;
  q = quota(40, ceil_s(e, t));
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, t - MS, t, &pause), 1);
  assert_int_equal(a.reset_lo_ns, T0 + 8999 * MS);
  assert_int_equal(a.reset_hi_ns, T0 + 9800 * MS);
  assert_int_equal(a.until_ns, T0 + 9800 * MS);
  assert_true(a.rate > 41 / 8.5995 - 1e-9 && a.rate < 41 / 8.5995 + 1e-9);
  /* Announcements on either side of a second's change pin it down. */
  t = T0 + 6710 * MS; /* 2.99 s left: "3" */
  q = quota(10, ceil_s(e, t));
  end_at(&a, &on, 0, 200, 0, &q, t - MS, t, &pause);
  t = T0 + 6690 * MS; /* 3.01 s left: "4", an answer that came late */
  q = quota(11, ceil_s(e, t));
  end_at(&a, &on, 0, 200, 0, &q, t - MS, t + 30 * MS, &pause);
  assert_true(a.reset_lo_ns < e && a.reset_hi_ns >= e);
  assert_true(a.reset_hi_ns - a.reset_lo_ns <= 25 * MS);
  /* 11 (12 intervals) over the 2.98 s to the middle, not over 4 s. */
  t += 30 * MS;
  int64_t mid = a.reset_lo_ns + (a.reset_hi_ns - a.reset_lo_ns) / 2;
  assert_true(a.rate == 12.0 * S / (double)(mid - t));
  assert_true(a.rate > 3.6);
  /* Nothing left: a pause to the narrowed end, plus at most a tenth of
   * the time to it, not to the announced 1 s. */
  t = T0 + 9600 * MS;
  q = quota(0, ceil_s(e, t));
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, t - MS, t, &pause), 1);
  assert_true(pause >= a.reset_hi_ns && pause >= e);
  assert_true(pause <= a.reset_hi_ns + (a.reset_hi_ns - t) / 10);
  assert_true(pause < t + 200 * MS);
  /* The next window does not overlap this one: a fresh start. */
  t = e + 5 * MS;
  q = quota(99, ceil_s(e + 10 * S, t));
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, t - MS, t, &pause), 1);
  assert_int_equal(a.reset_hi_ns, t + 10 * S);
  assert_int_equal(a.reset_lo_ns, t - MS + 9 * S);
  assert_true(a.rate == 10.0);
  /* A slow answer narrows nothing it cannot vouch for: counted somewhere
   * in the 2 s it took, its "10" says only (start + 9 s, now + 10 s]. */
  pacer__adapt_t b = {0};
  q = quota(20, 10 * S);
  end_at(&b, &on, 0, 200, 0, &q, T0, T0 + 2 * S, &pause);
  assert_int_equal(b.reset_lo_ns, T0 + 9 * S);
  assert_int_equal(b.reset_hi_ns, T0 + 12 * S);
  assert_true(b.rate == 2.1);
}

/* When a window passes, the key goes on into the next at the quota's pace
 * (limit over window), assumed until an answer says otherwise, so that the
 * jobs a pause held do not all start at the reset; once only. */
static void a_passed_window_rolls_into_the_next_at_the_quota_pace(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  pacer__ratehdr_t q = quota(0, 2 * S);
  q.limit = 20; /* X-RateLimit: no window; the longest reset stands in */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(pause >= T0 + 2 * S);
  assert_int_equal(a.window_ns, 2 * S);
  assert_true(a.next_rate == 10.0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 2 * S - 1), 0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 2100 * MS), 1);
  assert_int_equal(a.reason, PACER__ADAPT_ANNOUNCED);
  assert_true(a.rate == 10.0);
  assert_int_equal(a.until_ns, T0 + 4 * S);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 3 * S), 0);
  /* An answer of the new window retunes it as any (afresh: 18 over 2 s). */
  q = quota(18, 2 * S);
  q.limit = 20;
  assert_int_equal(
      end_at(&a, &on, 0, 200, 0, &q, T0 + 2100 * MS, T0 + 2101 * MS, &pause),
      1);
  assert_true(a.rate == 9.5);
  assert_int_equal(a.rolled, 0);
  /* With no answer in the assumed window: back to the configured limits
   * at its end. */
  assert_int_equal(pacer__adapt_expire(&a, T0 + 4101 * MS), 1);
  assert_true(a.rate == 10.0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 6101 * MS), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  /* A key that comes back after the assumed window: its limits at once. */
  q = quota(5, 2 * S);
  q.limit = 20;
  q.window_ns = 10 * S; /* IETF w=: the window as said */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.next_rate == 2.0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 13 * S), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  /* A configured rate gentler than the quota's pace: no assumed window. */
  q.remaining = 1;
  q.reset_ns = 4 * S;
  assert_int_equal(end_at(&a, &on, 1, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.rate == 0.5);
  assert_true(a.next_rate == 0);
  assert_int_equal(pacer__adapt_expire(&a, T0 + 4 * S), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
}

static void configured_rate_is_the_ceiling_and_floor_the_bottom(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  /* 5/s announced, 2/s configured: the configured rate is gentler. */
  pacer__ratehdr_t q = quota(49, 10 * S);
  assert_int_equal(end_at(&a, &on, 2, 200, 0, &q, T0, T0, &pause), 0);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  /* 5/s announced, 10/s configured: 5/s. */
  assert_int_equal(end_at(&a, &on, 10, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.rate == 5.0);
  /* Then 20/s announced: back to the configured 10/s. */
  q = quota(200, 10 * S);
  assert_int_equal(end_at(&a, &on, 10, 200, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  /* 1 left over an hour: 1/3600 per s, lifted to the floor 0.1/s ... */
  q = quota(1, 3600 * S);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.rate == 0.1);
  /* ... unless a configured rate is lower still: it wins. */
  assert_int_equal(end_at(&a, &on, 0.05, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.rate == 0.05);
  /* Absurd quotas stay within what a bucket takes (ratehdr caps them). */
  q = quota(PACER__RATEHDR_LIMIT_MAX, 1);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_true(a.rate == PACER__RATE_MAX);
  /* A window starting afresh now, or a quota without a reset: nothing. */
  q = quota(10, 0);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  q = quota(10, -1);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 0);
  q.found = 0;
  q.reset_ns = S;
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 0);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
}

static void nothing_left_pauses_until_the_reset_with_jitter(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  pacer__ratehdr_t q = quota(0, 3 * S);
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (uint64_t rnd = 0; rnd < 2000; rnd += 7) {
    pacer__adapt_event_t ev = {0, 200, 0, &q, T0};
    pause = INT64_MIN;
    pacer__adapt_end(&a, &on, 0, &ev, T0, rnd * 104729, &pause);
    lo = pause < lo ? pause : lo;
    hi = pause > hi ? pause : hi;
  }
  /* Up to a tenth of the 3 s, and the draws do spread. */
  assert_true(lo >= T0 + 3 * S && hi <= T0 + 3 * S + 300 * MS);
  assert_true(hi - lo > 100 * MS);
  assert_int_equal(a.reason, PACER__ADAPT_ANNOUNCED);
  assert_int_equal(a.until_ns, T0 + 3 * S);
  assert_true(a.rate == 0.1); /* should the pause end early: the floor */
  /* The jitter is at most 1 s, and the pause at most the cap. */
  q = quota(0, 100 * S);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, &q, T0, T0, &pause), 0);
  assert_true(pause >= T0 + 100 * S && pause <= T0 + 101 * S);
  pacer__adapt_cfg_t capped = on;
  capped.pause_max_ns = 5 * S;
  assert_int_equal(end_at(&a, &capped, 0, 200, 0, &q, T0, T0, &pause), 0);
  assert_int_equal(pause, T0 + 5 * S);
  assert_int_equal(a.until_ns, T0 + 100 * S);
  /* A 429 that says nothing is left is explained: a pause, no AIMD. */
  pacer__adapt_t b = {0};
  assert_int_equal(end_at(&b, &on, 10, 429, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(b.reason, PACER__ADAPT_ANNOUNCED);
  assert_true(pause >= T0 + 100 * S);
}

static void retry_after_keeps_precedence(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  pacer__ratehdr_t q = quota(0, 60 * S);
  /* A 429 or 503 whose Retry-After paused the key: nothing more. */
  assert_int_equal(end_at(&a, &on, 10, 429, 1, &q, T0, T0, &pause), 0);
  assert_int_equal(end_at(&a, &on, 10, 503, 1, NULL, T0, T0, &pause), 0);
  assert_int_equal(pause, INT64_MIN);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
}

static void switches_turn_each_part_off(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  pacer__adapt_cfg_t no_ann = on, no_aimd = on;
  no_ann.announced = 0;
  no_aimd.aimd = 0;
  pacer__ratehdr_t q = quota(0, 60 * S);
  assert_int_equal(end_at(&a, &no_ann, 10, 200, 0, &q, T0, T0, &pause), 0);
  assert_int_equal(pause, INT64_MIN);
  assert_int_equal(end_at(&a, &no_aimd, 10, 429, 0, NULL, T0, T0, &pause), 0);
  assert_int_equal(end_at(&a, &no_aimd, 10, 503, 0, NULL, T0, T0, &pause), 0);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  /* A refusal announcing quota left: AIMD when on, else the quota. */
  q = quota(19, 10 * S);
  assert_int_equal(end_at(&a, &on, 10, 429, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(a.reason, PACER__ADAPT_AIMD);
  assert_true(a.rate == 7.5);
  pacer__adapt_t b = {0};
  assert_int_equal(end_at(&b, &no_aimd, 10, 429, 0, &q, T0, T0, &pause), 1);
  assert_int_equal(b.reason, PACER__ADAPT_ANNOUNCED);
  assert_true(b.rate == 2.0);
  /* Transport errors and other statuses say nothing. */
  pacer__adapt_event_t ev = {PACER_ETIMEDOUT, 0, 0, NULL, T0};
  assert_int_equal(pacer__adapt_end(&a, &on, 10, &ev, T0 + S, 1, &pause), 0);
  assert_int_equal(end_at(&a, &on, 10, 500, 0, NULL, T0, T0 + S, &pause), 0);
  assert_true(a.rate == 7.5);
}

static void aimd_cuts_then_climbs_back_to_the_configured_rate(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  /* 10/s configured: cut to 7.5/s; the step is a tenth of the 10/s. */
  assert_int_equal(end_at(&a, &on, 10, 429, 0, NULL, T0, T0 + 100 * MS, &pause),
                   1);
  assert_int_equal(a.reason, PACER__ADAPT_AIMD);
  assert_true(a.rate == 7.5);
  assert_true(a.step == 1.0);
  /* Refusals of attempts sent before the cut cut nothing more. */
  assert_int_equal(end_at(&a, &on, 10, 503, 0, NULL, T0, T0 + 200 * MS, &pause),
                   0);
  assert_true(a.rate == 7.5);
  /* One sent after it does: 5.625/s, and the step is now a tenth of the
   * 7.5/s the server refused. */
  assert_int_equal(
      end_at(&a, &on, 10, 429, 0, NULL, T0 + 300 * MS, T0 + S, &pause), 1);
  assert_true(a.rate == 5.625);
  assert_true(a.step == 0.75);
  /* (10 - 5.625) / 0.75 = 5.83 s of success to climb back. */
  assert_true(pacer__adapt_keep_until(&a) >= T0 + 6830 * MS &&
              pacer__adapt_keep_until(&a) <= T0 + 6840 * MS);
  /* Each second of success adds 0.75/s. */
  assert_int_equal(end_at(&a, &on, 10, 200, 0, NULL, T0, T0 + 2 * S, &pause),
                   1);
  assert_true(a.rate > 6.374 && a.rate < 6.376);
  assert_int_equal(end_at(&a, &on, 10, 204, 0, NULL, T0, T0 + 4 * S, &pause),
                   1);
  assert_true(a.rate > 7.874 && a.rate < 7.876);
  /* A 404 is not a success: no climb, and none credited for its time. */
  assert_int_equal(end_at(&a, &on, 10, 404, 0, NULL, T0, T0 + 5 * S, &pause),
                   0);
  /* At 10/s it is the configured rate again: not adapted. */
  assert_int_equal(end_at(&a, &on, 10, 200, 0, NULL, T0, T0 + 6 * S, &pause),
                   1);
  assert_true(a.rate > 9.374 && a.rate < 9.376);
  assert_int_equal(end_at(&a, &on, 10, 200, 0, NULL, T0, T0 + 7 * S, &pause),
                   1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  assert_int_equal(end_at(&a, &on, 10, 200, 0, NULL, T0, T0 + 8 * S, &pause),
                   0);
  assert_true(pacer__adapt_keep_until(&a) == INT64_MIN);
}

/* The climb is paced by the rate the server refused, not by how fast the
 * key ran before the first refusal: a key with no rate that started 3000/s
 * against a server taking 50/s is cut once per round trip down to it, and
 * then climbs by a tenth of the last refused rate per second (5/s, not the
 * 300/s a step fixed at the first cut would add, which would refuse again
 * within 0.2 s). Against a server with no burst the sawtooth is then
 * between 0.75 and 1 of its limit. */
static void aimd_step_follows_the_refused_rate(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause, t = T0;
  for (int i = 0; i < 3000; i++)
    pacer__adapt_started(&a, T0 + i * (S / 3000));
  t = T0 + S;
  /* Refusals, one round trip (1 ms) after each cut, until the rate is
   * below the server's 50/s. */
  int cuts = 0;
  while (!(a.reason == PACER__ADAPT_AIMD && a.rate < 50)) {
    assert_int_equal(end_at(&a, &on, 0, 429, 0, NULL, t, t + MS, &pause), 1);
    t += 2 * MS;
    cuts++;
  }
  /* 3000 x 0.75^15 = 40.1 */
  assert_int_equal(cuts, 15);
  assert_true(a.rate > 40.0 && a.rate < 40.2);
  assert_true(a.step > 5.34 && a.step < 5.36); /* a tenth of 53.4 */
  /* Back above 50/s after about 2 s of success, not at once. */
  assert_int_equal(end_at(&a, &on, 0, 200, 0, NULL, t, t + S, &pause), 1);
  assert_true(a.rate < 50);
  assert_int_equal(end_at(&a, &on, 0, 200, 0, NULL, t, t + 2 * S, &pause), 1);
  assert_true(a.rate > 50 && a.rate < 52);
  /* Refused there: cut to 0.75 of it, the step a tenth of it. */
  double r = a.rate;
  assert_int_equal(
      end_at(&a, &on, 0, 429, 0, NULL, t + 2 * S, t + 2 * S + MS, &pause), 1);
  assert_true(a.rate == r * 0.75);
  assert_true(a.step == r * 0.1);
}

static void aimd_never_goes_below_the_floor(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  int64_t t = T0;
  for (int i = 0; i < 20; i++, t += S)
    end_at(&a, &on, 10, 429, 0, NULL, t, t, &pause);
  assert_true(a.rate == 0.1);
}

static void starts_per_second_estimate(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  assert_true(pacer__adapt_observed(&a, T0) == 0);
  for (int i = 0; i < 20; i++)
    pacer__adapt_started(&a, T0 + i * 50 * MS); /* 20 in the first second */
  assert_true(pacer__adapt_observed(&a, T0 + 999 * MS) == 20);
  /* Half a second later, half of that second still counts. */
  assert_true(pacer__adapt_observed(&a, T0 + 1500 * MS) == 10);
  pacer__adapt_started(&a, T0 + 1500 * MS);
  assert_true(pacer__adapt_observed(&a, T0 + 1500 * MS) == 11);
  /* Two idle seconds forget everything. */
  assert_true(pacer__adapt_observed(&a, T0 + 3 * S) == 0);
  pacer__adapt_started(&a, T0 + 5200 * MS);
  assert_true(pacer__adapt_observed(&a, T0 + 5200 * MS) == 1);
}

static void aimd_on_a_key_without_rate_starts_from_what_it_uses(void **state)
{
  (void)state;
  pacer__adapt_t a = {0};
  int64_t pause;
  for (int i = 0; i < 20; i++)
    pacer__adapt_started(&a, T0);
  /* 20/s observed: cut to 15/s, the step is 2/s per second. */
  assert_int_equal(end_at(&a, &on, 0, 429, 0, NULL, T0, T0 + 100 * MS, &pause),
                   1);
  assert_true(a.rate == 15.0);
  assert_true(a.step == 2.0);
  /* It climbs past 20/s while the key uses it ... */
  int64_t t = T0 + 100 * MS;
  for (int i = 1; i <= 10; i++) {
    t += S;
    for (int n = 0; n < 40; n++)
      pacer__adapt_started(&a, t - S + n * 25 * MS);
    assert_int_equal(end_at(&a, &on, 0, 200, 0, NULL, t, t, &pause), 1);
  }
  assert_int_equal(a.reason, PACER__ADAPT_AIMD);
  assert_true(a.rate > 34.9 && a.rate < 35.1);
  /* ... and is let go once it stayed twice what the key uses for 5 s. */
  for (int i = 1; i <= 5; i++) {
    t += S;
    pacer__adapt_started(&a, t - 1);
    assert_int_equal(end_at(&a, &on, 0, 200, 0, NULL, t, t, &pause), 1);
    assert_int_equal(a.reason, PACER__ADAPT_AIMD);
  }
  t += S;
  assert_int_equal(end_at(&a, &on, 0, 200, 0, NULL, t, t, &pause), 1);
  assert_int_equal(a.reason, PACER__ADAPT_NONE);
  assert_true(pacer__adapt_rate(&a, 0) == 0);
}

/* ---- the scheduler applies them ---- */

static sched_fx_t *fx_new(sched_fx_tweak_fn tweak)
{
  sched_fx_opts_t o = {.tweak = tweak, .start_ns = T0, .breaker_off = 1};
  return sched_fx_open(&o);
}

/* fx_new() with a shared limit: f->fs is the scheduler's store. */
static sched_fx_t *fx_new_store(sched_fx_tweak_fn tweak)
{
  sched_fx_opts_t o = {
      .tweak = tweak, .start_ns = T0, .breaker_off = 1, .store = 1};
  return sched_fx_open(&o);
}

static pacer__job_t *push_n(sched_fx_t *f, const char *key, unsigned attempts)
{
  pacer_request_t r;
  sched_fx_request(&r, key);
  r.max_attempts = attempts;
  return sched_fx_push_req(f, &r);
}

static pacer__job_t *push(sched_fx_t *f, const char *key)
{
  return push_n(f, key, 1);
}

static void next_of(sched_fx_t *f, pacer__job_t *j)
{
  assert_ptr_equal(sched_fx_next(f), j);
}

static void ok(sched_fx_t *f, pacer__job_t *j)
{
  assert_int_equal(sched_fx_end(f, j, 200, -1, NULL), PACER__SCHED_END);
}

/* The key's entry in a snapshot at now. */
/* What the snapshot says of one key. */
typedef struct kst {
  int64_t paused_ms;
  pacer_adapt_reason_t adapt;
  double adapted_rate;
} kst_t;

static kst_t key_stats(sched_fx_t *f, const char *key)
{
  pacer_stats_t *st = calloc(1, sizeof *st);
  assert_non_null(st);
  assert_int_equal(pacer__sched_stats(&f->s, f->now, st), 0);
  kst_t out = {0, PACER_ADAPT_NONE, 0};
  int found = 0;
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, key) == 0) {
      out.paused_ms = st->keys[i].paused_ms;
      out.adapt = st->key_adapt[i].reason;
      out.adapted_rate = st->key_adapt[i].rate;
      found = 1;
    }
  pacer_stats_free(st);
  assert_true(found);
  return out;
}

static void unlimited_key_gets_a_bucket_and_loses_it(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL); /* no rate anywhere */
  pacer__job_t *j[8];
  for (int i = 0; i < 8; i++)
    j[i] = push(f, "k");
  next_of(f, j[0]);
  /* 3 left over 2 s: 2/s, burst 1, until T0 + 2 s. */
  pacer__ratehdr_t q = quota(3, 2 * S);
  sched_fx_end(f, j[0], 200, -1, &q);
  kst_t ks = key_stats(f, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(ks.adapted_rate == 2.0);
  assert_int_equal(ks.paused_ms, 0);
  next_of(f, j[1]); /* a new bucket is full */
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + 500 * MS);
  f->now = T0 + 500 * MS;
  next_of(f, j[2]);
  assert_null(sched_fx_next(f));
  ok(f, j[1]);
  ok(f, j[2]);
  /* The window passes: no bucket again, all the rest start at once. */
  f->now = T0 + 2 * S;
  for (int i = 3; i < 8; i++)
    next_of(f, j[i]);
  ks = key_stats(f, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  assert_true(ks.adapted_rate == 0);
  for (int i = 3; i < 8; i++)
    ok(f, j[i]);
  sched_fx_free(f);
}

static void no_pause(pacer_config_t *c)
{
  c->retry_after_max_ms = 0;
}

/* A slow announced rate never parks the key past the window's end. */
static void window_end_wakes_a_slow_key(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(no_pause);
  pacer__job_t *a = push(f, "k"), *b = push(f, "k"), *c = push(f, "k");
  next_of(f, a);
  /* Nothing left, and the pause to the reset cut to none by
   * retry_after_max_ms: the floor, 0.1/s, until the reset. */
  pacer__ratehdr_t q = quota(0, 15 * S);
  sched_fx_end(f, a, 200, -1, &q);
  assert_true(key_stats(f, "k").adapted_rate == 0.1);
  next_of(f, b);
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + 10 * S);
  ok(f, b);
  f->now = T0 + 10 * S;
  next_of(f, c);
  ok(f, c);
  /* The next token is at T0 + 20 s, the window ends at T0 + 15 s: the
   * key looks again then, and announcements having stopped, the
   * adaptation ends at the last reset. */
  pacer__job_t *d = push(f, "k"), *e = push(f, "k");
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + 15 * S);
  f->now = T0 + 15 * S;
  next_of(f, d);
  next_of(f, e);
  assert_int_equal(key_stats(f, "k").adapt, PACER_ADAPT_NONE);
  ok(f, d);
  ok(f, e);
  sched_fx_free(f);
}

static void key_rate_4(pacer_config_t *c)
{
  c->key_rate = 4;
}

static void configured_key_rate_is_never_exceeded(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(key_rate_4);
  pacer__job_t *a = push(f, "k");
  next_of(f, a);
  pacer__ratehdr_t q = quota(100, 10 * S); /* 10/s: above 4/s */
  sched_fx_end(f, a, 200, -1, &q);
  assert_int_equal(key_stats(f, "k").adapt, PACER_ADAPT_NONE);
  /* 1/s: below it, so the key follows it. */
  pacer__job_t *b = push(f, "k");
  f->now += 250 * MS;
  next_of(f, b);
  q = quota(9, 10 * S);
  sched_fx_end(f, b, 200, -1, &q);
  kst_t ks = key_stats(f, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(ks.adapted_rate == 1.0);
  pacer__job_t *c = push(f, "k"), *d = push(f, "k");
  assert_null(sched_fx_next(f)); /* b's token was just taken */
  f->now = T0 + 1250 * MS;
  next_of(f, c);
  f->now = T0 + 2250 * MS - 1; /* 1/s */
  assert_null(sched_fx_next(f));
  f->now = T0 + 2250 * MS;
  next_of(f, d);
  ok(f, c);
  ok(f, d);
  sched_fx_free(f);
}

static void nothing_left_pauses_the_key_until_the_reset(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL);
  pacer__job_t *a = push(f, "k"), *o = push(f, "other"), *b = push(f, "k");
  next_of(f, a);
  next_of(f, o);
  pacer__ratehdr_t q = quota(0, 3 * S);
  sched_fx_end(f, a, 200, -1, &q);
  kst_t ks = key_stats(f, "k");
  assert_true(ks.paused_ms >= 3000 && ks.paused_ms <= 3300);
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_int_equal(key_stats(f, "other").adapt, PACER_ADAPT_NONE);
  assert_null(sched_fx_next(f));
  int64_t w = pacer__sched_wake(&f->s, f->now);
  assert_true(w >= T0 + 3 * S && w <= T0 + 3300 * MS);
  /* Other keys go on. */
  pacer__job_t *o2 = push(f, "other");
  next_of(f, o2);
  f->now = w - 1;
  assert_null(sched_fx_next(f));
  f->now = w;
  next_of(f, b);
  ks = key_stats(f, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  assert_int_equal(ks.paused_ms, 0);
  ok(f, b);
  ok(f, o);
  ok(f, o2);
  sched_fx_free(f);
}

static void pause_cap_1s(pacer_config_t *c)
{
  c->retry_after_max_ms = 1000;
}

/* A reset beyond retry_after_max: the pause is cut to it, then the floor
 * paces the key until the reset. */
static void pause_is_capped_then_the_floor_paces(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(pause_cap_1s);
  pacer__job_t *a = push(f, "k"), *b = push(f, "k"), *c = push(f, "k");
  next_of(f, a);
  pacer__ratehdr_t q = quota(0, 5 * S);
  sched_fx_end(f, a, 200, -1, &q);
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + S);
  f->now = T0 + S;
  next_of(f, b);
  assert_null(sched_fx_next(f)); /* 0.1/s: 10 s, but the reset comes first */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + 5 * S);
  f->now = T0 + 5 * S;
  next_of(f, c);
  ok(f, b);
  ok(f, c);
  sched_fx_free(f);
}

static void retry_after_decides_the_pause(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL);
  pacer__job_t *a = push_n(f, "k", 2), *b = push(f, "k");
  next_of(f, a);
  pacer__ratehdr_t q = quota(0, 60 * S);
  assert_int_equal(sched_fx_end(f, a, 429, 2 * S, &q), PACER__SCHED_RETRY);
  kst_t ks = key_stats(f, "k");
  assert_int_equal(ks.paused_ms, 2000);
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  assert_null(sched_fx_next(f));
  f->now = T0 + 2 * S;
  next_of(f, a); /* the retry first, then b: no bucket, no reset pause */
  next_of(f, b);
  ok(f, a);
  ok(f, b);
  sched_fx_free(f);
}

/* A response from another origin (a followed redirect) speaks for its own
 * host: its quota and refusals leave the key alone. */
static void other_origin_adapts_nothing(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL);
  pacer__job_t *a = push(f, "k"), *b = push_n(f, "k", 2);
  next_of(f, a);
  next_of(f, b);
  pacer__attempt_end_t e = {.status = 200,
                            .retry_after_ns = -1,
                            .other_origin = 1,
                            .quota = quota(0, 60 * S)};
  assert_int_equal(pacer__sched_done(&f->s, a, &e, f->now), PACER__SCHED_END);
  sched_fx_release(f, a);
  e.status = 429;
  e.quota.found = 0;
  f->now += 100 * MS;
  assert_int_equal(pacer__sched_done(&f->s, b, &e, f->now), PACER__SCHED_RETRY);
  kst_t ks = key_stats(f, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  assert_int_equal(ks.paused_ms, 0);
  sched_fx_free(f);
}

static void key_rate_10_burst_2(pacer_config_t *c)
{
  c->key_rate = 10;
  c->key_burst = 2;
}

static void aimd_slows_only_the_refused_key(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(key_rate_10_burst_2);
  pacer__job_t *a1 = push_n(f, "a", 3), *a2 = push(f, "a");
  pacer__job_t *b[4];
  for (int i = 0; i < 4; i++)
    b[i] = push(f, "b");
  next_of(f, a1);
  next_of(f, a2);
  next_of(f, b[0]);
  next_of(f, b[1]);
  f->now = T0 + 100 * MS;
  /* Two bare 429s of attempts sent together: one cut, to 7.5/s. */
  assert_int_equal(sched_fx_end(f, a1, 429, -1, NULL), PACER__SCHED_RETRY);
  /* The refused job keeps its own backoff (200 ms, full jitter). */
  assert_true(a1->timer_ns >= f->now && a1->timer_ns <= f->now + 200 * MS);
  sched_fx_end(f, a2, 429, -1, NULL);
  kst_t ks = key_stats(f, "a");
  assert_int_equal(ks.adapt, PACER_ADAPT_AIMD);
  assert_true(ks.adapted_rate == 7.5);
  /* b is untouched: 10/s, burst 2. */
  ks = key_stats(f, "b");
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  next_of(f, b[2]);
  ok(f, b[0]);
  ok(f, b[1]);
  ok(f, b[2]);
  /* a's retry is due (at T0 + 142 ms with this seed) and goes first, on
   * the token a had left when it was cut; b goes on at its own rate. */
  f->now = T0 + 200 * MS;
  next_of(f, a1);
  next_of(f, b[3]);
  ok(f, b[3]);
  f->now = T0 + 1300 * MS;
  ok(f, a1); /* 1.2 s of success since the cut: 7.5 + 1.2 = 8.7/s */
  ks = key_stats(f, "a");
  assert_true(ks.adapted_rate > 8.69 && ks.adapted_rate < 8.71);
  /* Back at 10/s 1.3 s later: on the configured limits again. */
  f->now = T0 + 2600 * MS;
  pacer__job_t *a3 = push(f, "a");
  next_of(f, a3);
  ok(f, a3);
  assert_int_equal(key_stats(f, "a").adapt, PACER_ADAPT_NONE);
  sched_fx_free(f);
}

static void unlimited_key_under_aimd_gets_a_bucket_and_loses_it(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL);
  pacer__job_t *j[20];
  for (int i = 0; i < 20; i++) {
    j[i] = push(f, "u");
    next_of(f, j[i]); /* no limit: all at once */
  }
  f->now = T0 + 100 * MS;
  for (int i = 0; i < 20; i++)
    sched_fx_end(f, j[i], 429, -1, NULL); /* one cut: 20/s seen, 15/s */
  kst_t ks = key_stats(f, "u");
  assert_int_equal(ks.adapt, PACER_ADAPT_AIMD);
  assert_true(ks.adapted_rate == 15.0);
  pacer__job_t *x = push(f, "u"), *y = push(f, "u");
  next_of(f, x);
  assert_null(sched_fx_next(f)); /* a bucket now: 15/s, a token every 66.7 ms */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), T0 + 100 * MS + 66666667);
  ok(f, x);
  /* Success, with the key using far less than its rate, for 5 s. */
  f->now = T0 + 3 * S;
  next_of(f, y);
  ok(f, y);
  f->now = T0 + 8 * S;
  x = push(f, "u");
  next_of(f, x);
  ok(f, x);
  ks = key_stats(f, "u");
  assert_int_equal(ks.adapt, PACER_ADAPT_NONE);
  for (int i = 0; i < 5; i++)
    j[i] = push(f, "u");
  for (int i = 0; i < 5; i++)
    next_of(f, j[i]); /* no bucket again */
  for (int i = 0; i < 5; i++)
    ok(f, j[i]);
  sched_fx_free(f);
}

static void new_key_limits_end_an_adaptation(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new(NULL);
  pacer__job_t *a = push(f, "k");
  next_of(f, a);
  pacer__ratehdr_t q = quota(9, 10 * S);
  sched_fx_end(f, a, 200, -1, &q);
  assert_int_equal(key_stats(f, "k").adapt, PACER_ADAPT_ANNOUNCED);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "k", 5, 1, 0, f->now), 0);
  assert_int_equal(key_stats(f, "k").adapt, PACER_ADAPT_NONE);
  sched_fx_free(f);
}

/* With a shared limit, a key with a rate still draws that rate from the
 * store when cut by AIMD (each process's own); adapted, it must also pass
 * its local bucket at the adapted rate. A key with no rate draws nothing
 * from the store until an announced quota is learned: then it draws that. */
static void shared_keys_adapt_locally(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new_store(NULL);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "k", 10, 1, 0, f->now),
                   0);
  pacer__job_t *a = push(f, "k");
  next_of(f, a);
  f->now = T0 + 100 * MS;
  sched_fx_end(f, a, 429, -1, NULL); /* 10/s cut: 7.5/s here */
  assert_true(key_stats(f, "k").adapted_rate == 7.5);
  int starts = 0;
  for (int64_t t = T0 + 100 * MS; t < T0 + 2100 * MS; t += MS) {
    f->now = t;
    pacer__job_t *j = sched_fx_next(f);
    if (!j && pacer__sched_backlog(&f->s) == 0) {
      pacer__job_t *x = push(f, "k");
      j = sched_fx_next(f);
      if (!j) { /* stays queued for the next turn */
        assert_int_equal(x->state, PACER__JOB_QUEUED);
        continue;
      }
    }
    if (j) {
      starts++;
      ok(f, j); /* success raises the rate, by 2/s in 2 s */
    }
  }
  /* 2 s from 7.5/s climbing by 1/s per second: about 15 + 2, below the
   * store's 10/s x 2 s = 20. */
  fprintf(stderr, "shared key at 7.5/s rising: %d starts in 2 s\n", starts);
  assert_true(starts >= 15 && starts <= 18);
  assert_int_equal(fake_store_grants(&f->fs, "k"), (uint64_t)starts + 1);
  const pacer__bucket_t *sb = &fake_store_bucket(&f->fs, "k")->bucket;
  assert_true((double)sb->count * 1e9 / (double)sb->period_ns == 10.0);
  while (pacer__sched_backlog(&f->s)) { /* the one left queued, if any */
    f->now += MS;
    pacer__job_t *j = sched_fx_next(f);
    if (j)
      ok(f, j);
  }
  /* AIMD wrote nothing for the fleet. */
  assert_int_equal(f->fs.learns, 0);
  /* A key with no rate: the store is not asked until it learns a quota,
   * which it writes there, and then draws from. */
  pacer__job_t *u = push(f, "u");
  next_of(f, u);
  assert_int_equal(fake_store_takes(&f->fs, "u"), 0);
  pacer__ratehdr_t q = quota(9, 10 * S);
  sched_fx_end(f, u, 200, -1, &q);
  assert_int_equal(key_stats(f, "u").adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(fake_store_bucket(&f->fs, "u")->learned_rate == 1.0);
  assert_int_equal(fake_store_bucket(&f->fs, "u")->learned_until,
                   f->now + 10 * S);
  pacer__job_t *u2 = push(f, "u"), *u3 = push(f, "u");
  next_of(f, u2);
  assert_null(sched_fx_next(f)); /* 1/s, locally and in the store */
  f->now += S;
  next_of(f, u3);
  ok(f, u2);
  ok(f, u3);
  assert_int_equal(fake_store_grants(&f->fs, "u"), 2);
  sched_fx_free(f);
}

/* Two processes on one store (two schedulers, one fake store): what one
 * learns from an announced quota the other obeys before any answer of its
 * own, the two drawing the one rate between them; the lower of a learned
 * and a configured rate holds; an exhausted quota's pause holds both; a
 * cut by AIMD stays the cut process's own. */
static void fleet_obeys_what_one_process_learned(void **state)
{
  (void)state;
  sched_fx_t *a = fx_new(NULL), *b = fx_new(NULL);
  fake_store_t fs;
  fake_store_init(&fs);
  pacer__store_ops_t ops;
  fake_store_ops(&fs, &ops);
  pacer__sched_set_store(&a->s, &ops);
  pacer__sched_set_store(&b->s, &ops);
  pacer__job_t *x = push(a, "k");
  next_of(a, x);
  pacer__ratehdr_t q = quota(19, 10 * S); /* 2/s until T0 + 10 s */
  sched_fx_end(a, x, 200, -1, &q);
  assert_int_equal(fs.learns, 1);
  /* b, with no answer of its own, draws 2/s from the store: over 4 s the
   * two start at most burst 1 + 2/s x 4 s = 9 jobs between them. */
  int na = 0, nb = 0;
  pacer__job_t *ja = push(a, "k"), *jb = push(b, "k");
  for (int64_t t = T0; t <= T0 + 4 * S; t += 10 * MS) {
    a->now = b->now = t;
    for (int turn = 0; turn < 2; turn++) { /* the one behind asks first */
      int is_a = (na < nb) == (turn == 0);
      sched_fx_t *f = is_a ? a : b;
      pacer__job_t **jj = is_a ? &ja : &jb;
      pacer__job_t *j = sched_fx_next(f);
      if (j) {
        assert_ptr_equal(j, *jj);
        *(is_a ? &na : &nb) += 1;
        ok(f, j);
        *jj = push(f, "k");
      }
    }
  }
  fprintf(stderr, "two processes at a learned 2/s: %d + %d starts in 4 s\n", na,
          nb);
  assert_true(na + nb >= 8 && na + nb <= 9);
  assert_true(nb >= 3); /* b obeyed the store, not nothing */
  kst_t kb = key_stats(b, "k");
  assert_int_equal(kb.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(kb.adapted_rate == 2.0);
  /* A configured rate below the learned one holds; above it, the learned. */
  assert_int_equal(pacer__sched_set_key_limits(&b->s, "k", 1, 1, 0, b->now), 0);
  assert_true(key_stats(b, "k").adapt == PACER_ADAPT_NONE);
  assert_int_equal(pacer__sched_set_key_limits(&b->s, "k", 5, 1, 0, b->now), 0);
  assert_true(key_stats(b, "k").adapted_rate == 2.0);
  /* An exhausted quota: a pauses to the reset, and b with it. */
  a->now = b->now = T0 + 4 * S + 500 * MS;
  pacer__job_t *j = NULL;
  while (!j) {
    a->now += 10 * MS;
    b->now = a->now;
    j = sched_fx_next(a);
  }
  assert_ptr_equal(j, ja);
  pacer__ratehdr_t none = quota(0, 5 * S);
  sched_fx_end(a, ja, 200, -1, &none);
  int64_t reset = a->now + 5 * S;
  assert_true(fake_store_bucket(&fs, "k")->paused_until >= reset);
  assert_true(key_stats(b, "k").paused_ms == 0); /* b's own, none */
  for (int64_t t = b->now; t < reset; t += 100 * MS) {
    b->now = t;
    assert_null(sched_fx_next(b));
  }
  /* AIMD: b's refusal cuts b and writes nothing to the store. */
  uint64_t learns = fs.learns;
  b->now = a->now = fake_store_bucket(&fs, "k")->paused_until + 2 * S;
  next_of(b, jb);
  sched_fx_end(b, jb, 429, -1, NULL);
  assert_int_equal(fs.learns, learns);
  assert_int_equal(key_stats(b, "k").adapt, PACER_ADAPT_AIMD);
  assert_int_not_equal(key_stats(a, "k").adapt, PACER_ADAPT_AIMD);
  pacer__sched_set_store(&a->s, NULL);
  pacer__sched_set_store(&b->s, NULL);
  sched_fx_free(a);
  sched_fx_free(b);
}

/* A store that has yet to find out what the fleet learned of a key holds
 * the key's first start until it knows (its notify), then paces it; with
 * the announced part of adaptation off the store is not asked. */
static void new_key_waits_for_the_store_to_know(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new_store(NULL);
  fake_bucket_t *b = fake_store_bucket(&f->fs, "k");
  b->learn_pending = 1;
  pacer__job_t *j1 = push(f, "k"), *j2 = push(f, "k");
  assert_null(sched_fx_next(f));
  f->now += 10 * MS;
  assert_null(sched_fx_next(f));
  /* The reply: 2/s until T0 + 10 s. */
  b->learn_pending = 0;
  b->learned_rate = 2;
  b->learned_until = T0 + 10 * S;
  pacer__sched_store_notify(&f->s);
  next_of(f, j1);
  assert_null(sched_fx_next(f)); /* 2/s, drawn from the store */
  f->now += 500 * MS;
  next_of(f, j2);
  ok(f, j1);
  ok(f, j2);
  assert_int_equal(fake_store_grants(&f->fs, "k"), 2);
  /* Without notify, the key looks again after the recheck time. */
  fake_bucket_t *b2 = fake_store_bucket(&f->fs, "k2");
  b2->learn_pending = 1;
  pacer__job_t *j3 = push(f, "k2");
  assert_null(sched_fx_next(f));
  b2->learn_pending = 0;
  f->now += PACER__SCHED_PENDING_RECHECK_NS - 1;
  assert_null(sched_fx_next(f));
  f->now += 1;
  next_of(f, j3);
  ok(f, j3);
  sched_fx_free(f);
}

/* The latest announcement wins in the store too: one that leaves the key
 * on its configured rate (the quota allows more) clears the fleet's
 * record; each record carries the quota's pace in the next window, which
 * the store serves once the first ends (so the roll writes nothing); a
 * roll writes the quota's pace when the store holds nothing past the
 * window, and keeps another process's record of a later window. */
static void fleet_record_follows_the_latest_announcement(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new_store(NULL);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "k", 5, 1, 0, f->now), 0);
  fake_bucket_t *b = fake_store_bucket(&f->fs, "k");
  b->learned_rate = 2; /* another process's */
  b->learned_until = T0 + 10 * S;
  pacer__job_t *j = push(f, "k");
  next_of(f, j);
  pacer__ratehdr_t q = quota(999, 10 * S); /* 100/s: above the 5/s */
  sched_fx_end(f, j, 200, -1, &q);
  assert_int_equal(key_stats(f, "k").adapt, PACER_ADAPT_NONE);
  assert_int_equal(b->learned_until, 0);

  /* 20 per 2 s, 9 left: the roll at the window's end writes 10/s. */
  pacer__job_t *j2 = push(f, "k2");
  next_of(f, j2);
  pacer__ratehdr_t q2 = quota(9, 2 * S);
  q2.limit = 20;
  sched_fx_end(f, j2, 200, -1, &q2);
  fake_bucket_t *b2 = fake_store_bucket(&f->fs, "k2");
  assert_true(b2->learned_rate == 5.0); /* 10 intervals over 2 s */
  assert_int_equal(b2->learned_until, T0 + 2 * S);
  assert_true(b2->next_rate == 10.0); /* then the quota's pace */
  assert_int_equal(b2->next_until, T0 + 4 * S);
  uint64_t learns = f->fs.learns;
  pacer__job_t *j3 = push(f, "k2");
  f->now = T0 + 2 * S + 1;
  next_of(f, j3);
  assert_int_equal(f->fs.learns, learns); /* the store had the next window */
  assert_true(key_stats(f, "k2").adapted_rate == 10.0);
  ok(f, j3);
  /* With nothing past the window in the store, the roll writes it. */
  b2->learned_rate = 5;
  b2->learned_until = T0 + 4 * S;
  b2->next_rate = 0;
  b2->next_until = 0;
  pacer__job_t *j5 = push(f, "k2");
  f->now = T0 + 4 * S + 1;
  pacer__ratehdr_t q3 = quota(9, 2 * S);
  q3.limit = 20;
  next_of(f, j5);
  sched_fx_end(f, j5, 200, -1, &q3); /* a new window: 9 of 20 left */
  assert_int_equal(b2->learned_until, T0 + 6 * S + 1);
  assert_int_equal(b2->next_until, T0 + 8 * S + 1);
  pacer__job_t *j6 = push(f, "k2");
  b2->next_until = 0; /* as if another process wrote no next window */
  f->now = T0 + 6 * S + 2;
  next_of(f, j6);
  assert_true(b2->learned_rate == 10.0); /* the roll: the quota's pace */
  assert_int_equal(b2->learned_until, T0 + 8 * S + 1);
  ok(f, j6);
  /* Another process's record of the window after: the next roll keeps it. */
  b2->learned_rate = 0.5;
  b2->learned_until = T0 + 10 * S + 1;
  pacer__job_t *j4 = push(f, "k2");
  f->now = T0 + 8 * S + 2;
  next_of(f, j4); /* the store's bucket had its token */
  assert_true(b2->learned_rate == 0.5);
  assert_int_equal(b2->learned_until, T0 + 10 * S + 1);
  assert_true(key_stats(f, "k2").adapted_rate == 0.5); /* the fleet's */
  ok(f, j4);
  sched_fx_free(f);
}

static void announced_off(pacer_config_t *c)
{
  c->adapt_announced = 0;
}

/* With the announced part off, nothing is asked of or written to the
 * store for what a server announces. */
static void announced_off_asks_the_store_nothing(void **state)
{
  (void)state;
  sched_fx_t *f = fx_new_store(announced_off);
  fake_store_bucket(&f->fs, "k")->learn_pending = 1;
  pacer__job_t *j = push(f, "k");
  next_of(f, j);
  pacer__ratehdr_t q = quota(0, 5 * S);
  sched_fx_end(f, j, 200, -1, &q);
  assert_int_equal(f->fs.learns, 0);
  assert_int_equal(f->fs.pauses, 0);
  sched_fx_free(f);
}

/* ---- through the engine: the worker reads the quota ---- */

static logcap_t logs = LOGCAP_INITIALIZER;

/* What pacer_stats_get() says of one key. */
static kst_t engine_key(pacer_t *p, const char *key)
{
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  kst_t out = {0, PACER_ADAPT_NONE, 0};
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, key) == 0) {
      out.paused_ms = st->keys[i].paused_ms;
      out.adapt = st->key_adapt[i].reason;
      out.adapted_rate = st->key_adapt[i].rate;
    }
  pacer_stats_free(st);
  return out;
}

static uint64_t submit(pacer_t *p, const char *key)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://example.test/x";
  q.key = key;
  uint64_t id = 0;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id), 0);
  return id;
}

static void engine_follows_x_ratelimit_headers(void **state)
{
  (void)state;
  rec_reset(&rec);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1; /* the second starts only after the first settled */
  eng_t e;
  eng_new(&e, &c, NULL);
  int64_t t0 = fake_clock_now(&e.clk);
  fake_tx_set_headers(e.tx, "X-RateLimit-Limit: 100\n"
                            "X-RateLimit-Remaining: 0\n"
                            "X-RateLimit-Reset: 4");
  uint64_t id[3] = {submit(e.p, "k"), submit(e.p, "k"), 0};
  pacer__wait_settled(e.p, 1);
  kst_t ks = engine_key(e.p, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(ks.paused_ms >= 4000 && ks.paused_ms <= 4400);
  fake_tx_set_headers(e.tx, NULL);
  fake_clock_advance(&e.clk, 4400 * MS);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  fake_start_t log[2];
  assert_int_equal(fake_tx_log(e.tx, 0, log, 2), 2);
  assert_int_equal(log[0].t, t0);
  assert_true(log[1].t >= t0 + 4 * S);
  /* The window passed, and the key went on into the next one at the
   * quota's pace, 100 per 4 s (the longest reset seen), so that the jobs
   * the pause held do not all start at once; no answer of it announced
   * anything ... */
  ks = engine_key(e.p, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(ks.adapted_rate == 25.0);
  /* ... so after it the key is on its configured limits. */
  fake_clock_advance(&e.clk, 4 * S);
  id[2] = submit(e.p, "k");
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, id, 3);
  assert_int_equal(engine_key(e.p, "k").adapt, PACER_ADAPT_NONE);
  eng_free(&e);
}

static void engine_logs_absurd_values_once(void **state)
{
  (void)state;
  rec_reset(&rec);
  logcap_reset(&logs);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.log_cb = logcap_on_log;
  c.log_user = &logs;
  eng_t e;
  eng_new(&e, &c, NULL);
  fake_tx_set_headers(e.tx, "X-RateLimit-Limit: 5000000000000\n"
                            "X-RateLimit-Remaining: 4000000000000\n"
                            "X-RateLimit-Reset: 10");
  uint64_t id[3] = {submit(e.p, "k"), submit(e.p, "k"), submit(e.p, "k")};
  /* The third waits for the key's new bucket (10 ns at 1e8/s). */
  pacer__wait_settled(e.p, 2);
  fake_clock_advance(&e.clk, MS);
  assert_int_equal(pacer_drain(e.p, -1), 0);
  rec_assert_once(&rec, id, 3);
  static logcap_t got;
  logcap_take(&logs, &got);
  assert_int_equal(got.count, 1);
  assert_non_null(strstr(got.first[0], "5000000000000"));
  assert_non_null(strstr(got.first[0], "4000000000000"));
  assert_non_null(strstr(got.first[0], "key k"));
  /* Capped at 10^9 over 10 s: no bucket a key could notice, but one. The
   * third answer, 1 ms later, still says 10 s: the reset is then known to
   * lie in (9.001 s, 10 s], and the quota is spread to its middle. */
  kst_t ks = engine_key(e.p, "k");
  assert_int_equal(ks.adapt, PACER_ADAPT_ANNOUNCED);
  assert_true(ks.adapted_rate > 1.0526e8 && ks.adapted_rate < 1.0527e8);
  eng_free(&e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(announced_quota_is_spread_over_the_time_to_reset),
      cmocka_unit_test(announcements_of_one_window_narrow_its_reset),
      cmocka_unit_test(a_passed_window_rolls_into_the_next_at_the_quota_pace),
      cmocka_unit_test(configured_rate_is_the_ceiling_and_floor_the_bottom),
      cmocka_unit_test(nothing_left_pauses_until_the_reset_with_jitter),
      cmocka_unit_test(retry_after_keeps_precedence),
      cmocka_unit_test(switches_turn_each_part_off),
      cmocka_unit_test(aimd_cuts_then_climbs_back_to_the_configured_rate),
      cmocka_unit_test(aimd_step_follows_the_refused_rate),
      cmocka_unit_test(aimd_never_goes_below_the_floor),
      cmocka_unit_test(starts_per_second_estimate),
      cmocka_unit_test(aimd_on_a_key_without_rate_starts_from_what_it_uses),
      cmocka_unit_test(unlimited_key_gets_a_bucket_and_loses_it),
      cmocka_unit_test(window_end_wakes_a_slow_key),
      cmocka_unit_test(configured_key_rate_is_never_exceeded),
      cmocka_unit_test(nothing_left_pauses_the_key_until_the_reset),
      cmocka_unit_test(pause_is_capped_then_the_floor_paces),
      cmocka_unit_test(retry_after_decides_the_pause),
      cmocka_unit_test(other_origin_adapts_nothing),
      cmocka_unit_test(aimd_slows_only_the_refused_key),
      cmocka_unit_test(unlimited_key_under_aimd_gets_a_bucket_and_loses_it),
      cmocka_unit_test(new_key_limits_end_an_adaptation),
      cmocka_unit_test(shared_keys_adapt_locally),
      cmocka_unit_test(fleet_obeys_what_one_process_learned),
      cmocka_unit_test(new_key_waits_for_the_store_to_know),
      cmocka_unit_test(fleet_record_follows_the_latest_announcement),
      cmocka_unit_test(announced_off_asks_the_store_nothing),
      cmocka_unit_test(engine_follows_x_ratelimit_headers),
      cmocka_unit_test(engine_logs_absurd_values_once),
  };
  return cmocka_run_group_tests(tests, rec_group_setup, rec_group_teardown);
}
