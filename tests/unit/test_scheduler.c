/* SPDX-License-Identifier: MIT */
/* test_scheduler.c - the scheduling rules, driven step by step with time as a
 * number: priorities and aging, exact tokens, caps, breaker, retries,
 * Retry-After pauses, deadlines and cancel. No threads, no sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "job.h"
#include "sched_fixture.h"
#include "scheduler.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS
#define HIGH PACER_PRIORITY_HIGH
#define LOW PACER_PRIORITY_LOW

static pacer__job_t *push(sched_fx_t *f, const char *key, int prio)
{
  pacer_request_t r;
  sched_fx_request(&r, key);
  r.priority = (pacer_priority_t)prio;
  return sched_fx_push_req(f, &r);
}

/* Ends j's attempt and returns the decision; j is the test's to free. */
static int done(sched_fx_t *f, pacer__job_t *j, int error, int status,
                int64_t retry_after_ns)
{
  pacer__attempt_end_t e = {
      .error = error, .status = status, .retry_after_ns = retry_after_ns};
  int r = pacer__sched_done(&f->s, j, &e, f->now);
  return r;
}

/* The next job, which must be j. */
static pacer__job_t *next_of(sched_fx_t *f, pacer__job_t *j)
{
  assert_ptr_equal(sched_fx_next(f), j);
  return j;
}

static void ok(sched_fx_t *f, pacer__job_t *j)
{
  assert_int_equal(done(f, j, 0, 200, -1), PACER__SCHED_END);
  assert_int_equal(j->error, 0);
  sched_fx_release(f, j);
}

static size_t free_ended_count_errors(sched_fx_t *f, int error)
{
  size_t n = 0;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&f->ended))) {
    pacer__job_t *j = pacer__job_of(l);
    n += j->error == error;
    sched_fx_release(f, j);
  }
  return n;
}

/* ---- priorities ---- */

static void no_aging_concurrency_1(pacer_config_t *c)
{
  c->concurrency = 1;
}

static void weights_4_to_1_under_saturation(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(no_aging_concurrency_1);
  for (int i = 0; i < 3000; i++) {
    push(f, "a", HIGH);
    push(f, "b", LOW);
  }
  int low = 0;
  for (int i = 0; i < 2500; i++) {
    pacer__job_t *j = sched_fx_next(f);
    assert_non_null(j);
    assert_null(sched_fx_next(f)); /* one slot */
    low += j->prio == LOW;
    ok(f, j);
  }
  double share = low / 2500.0;
  fprintf(stderr, "weights 4:1, one slot: %d of 2500 starts low (%.2f%%)\n",
          low, 100 * share);
  assert_true(share >= 0.19 && share <= 0.21);
  sched_fx_free(f);
}

static void rate_100_burst_1(pacer_config_t *c)
{
  c->rate = 100;
  c->burst = 1;
}

/* With the rate the bottleneck, tokens are shared 4:1 too. */
static void weights_apply_to_tokens(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(rate_100_burst_1);
  for (int i = 0; i < 1500; i++) {
    push(f, "a", HIGH);
    push(f, "b", LOW);
  }
  int low = 0, total = 0;
  for (int64_t t = 0; t <= 10 * S; t += MS) {
    f->now = 1000 * S + t;
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      low += j->prio == LOW;
      total++;
      ok(f, j);
    }
  }
  assert_int_equal(total, 1 + 100 * 10);
  double share = (double)low / total;
  fprintf(stderr,
          "weights 4:1, 100 tokens/s for 10 s: %d of %d tokens low "
          "(%.2f%%)\n",
          low, total, 100 * share);
  assert_true(share >= 0.19 && share <= 0.21);
  sched_fx_free(f);
}

static void fifo_within_priority_across_keys(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(no_aging_concurrency_1);
  const char *keys[] = {"a", "b", "c", "b", "a", "c", "c", "a"};
  uint64_t ids[8];
  for (int i = 0; i < 8; i++)
    ids[i] = push(f, keys[i], LOW)->id;
  for (int i = 0; i < 8; i++) {
    pacer__job_t *j = sched_fx_next(f);
    assert_non_null(j);
    assert_int_equal(j->id, ids[i]);
    ok(f, j);
  }
  assert_null(sched_fx_next(f));
  sched_fx_free(f);
}

static void rate_1000_burst_1(pacer_config_t *c)
{
  c->rate = 1000; /* a token every ms */
  c->burst = 1;
}

/* A high job arriving alone at a saturated low queue takes the next token:
 * the weighting's credits start afresh whenever one priority was alone. */
static void sparse_high_takes_the_next_token(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(rate_1000_burst_1);
  int64_t t0 = f->now, worst = 0, sub = 0;
  for (int i = 0; i < 3000; i++)
    push(f, "l", LOW);
  int highs = 0, waiting = 0;
  /* 300 high jobs, one every 7.3 ms (not in step with the tokens). */
  for (int64_t t = 0; t < 2200 * MS; t += 100 * 1000) {
    f->now = t0 + t;
    if (!waiting && highs < 300 && t >= (int64_t)highs * 7300 * 1000) {
      sub = push(f, "h", HIGH)->submit_ns;
      waiting = 1;
    }
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      if (j->prio == HIGH) {
        worst = f->now - sub > worst ? f->now - sub : worst;
        waiting = 0;
        highs++;
      }
      ok(f, j);
    }
  }
  fprintf(stderr,
          "1000 tokens/s, lows saturated, %d lone highs: longest wait "
          "%.2f ms\n",
          highs, worst / 1e6);
  assert_int_equal(highs, 300);
  assert_true(worst <= 1 * MS); /* at most one token interval */
  sched_fx_free(f);
}

/* ---- priorities behind an aged backlog ---- */

static int64_t tweak_rate;
static unsigned tweak_wl;
static int64_t tweak_age_ms;
/* The defaults (4:1, aging at 10 s) unless a test changes them. */
static void rate_default_weights(pacer_config_t *c)
{
  c->rate = (double)tweak_rate;
  c->burst = 1;
  c->weight_low = tweak_wl;
  c->max_low_wait_ms = tweak_age_ms;
}

static void set_tweak(int64_t rate, unsigned wl, int64_t age_ms)
{
  tweak_rate = rate;
  tweak_wl = wl;
  tweak_age_ms = age_ms;
}

/* The bulk sender's day: 5,000 low jobs queued at 0 (a newsletter) and, from
 * 15 s on, when every low job is older than the 10 s aging limit, one high
 * job a second (a password reset). Each high job takes the next token. */
static void lone_highs_behind_aged_low_backlog(void **state)
{
  (void)state;
  set_tweak(100, 1, 10000);
  sched_fx_t *f = sched_fx_new(rate_default_weights);
  int64_t t0 = f->now, worst = 0, sub = 0;
  for (int i = 0; i < 5000; i++)
    push(f, "news", LOW);
  int highs = 0, lows = 0, waiting = 0;
  for (int64_t t = 0; t < 46 * S; t += MS) {
    f->now = t0 + t;
    if (!waiting && highs < 30 && t >= 15 * S + highs * S) {
      sub = push(f, "reset", HIGH)->submit_ns;
      waiting = 1;
    }
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      if (j->prio == HIGH) {
        worst = f->now - sub > worst ? f->now - sub : worst;
        waiting = 0;
        highs++;
      } else {
        lows++;
      }
      ok(f, j);
    }
  }
  fprintf(stderr,
          "100 tokens/s, 5000 lows aged 15 s, 30 lone highs: %d started, "
          "longest high wait %.1f ms; %d lows started\n",
          highs, worst / 1e6, lows);
  assert_int_equal(highs, 30);
  assert_true(worst <= 2 * 10 * MS); /* within 2 token intervals */
  /* Low kept every token high did not need. */
  assert_int_equal(lows + highs, 1 + 100 * 46 - 1);
  sched_fx_free(f);
}

/* 500 low jobs at 0, 20 high jobs at 15 s, 10 tokens/s: high gets 4 of
 * every 5 starts and low 1, aged or not. */
static void weights_hold_behind_aged_low_backlog(void **state)
{
  (void)state;
  set_tweak(10, 1, 10000);
  sched_fx_t *f = sched_fx_new(rate_default_weights);
  int64_t t0 = f->now, first_high = -1, last_high = -1;
  for (int i = 0; i < 500; i++)
    push(f, "news", LOW);
  char order[64];
  int n = 0, highs = 0;
  for (int64_t t = 0; t < 20 * S; t += MS) {
    f->now = t0 + t;
    if (t == 15 * S)
      for (int i = 0; i < 20; i++)
        push(f, "reset", HIGH);
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      if (t >= 15 * S && highs < 20 && n < (int)sizeof order)
        order[n++] = j->prio == HIGH ? 'H' : 'L';
      if (j->prio == HIGH) {
        if (first_high < 0)
          first_high = t - 15 * S;
        last_high = t - 15 * S;
        highs++;
      }
      ok(f, j);
    }
  }
  fprintf(stderr,
          "10 tokens/s, 500 lows aged 15 s, 20 highs: first high after "
          "%.0f ms, last after %.0f ms; starts %.*s\n",
          first_high / 1e6, last_high / 1e6, n, order);
  assert_int_equal(highs, 20);
  assert_true(first_high <= 100 * MS); /* the next token */
  /* 20 highs at 4 in 5 take 25 starts: 2.5 s at 10/s. */
  assert_true(last_high <= 2500 * MS);
  assert_int_equal(n, 25);
  for (int w = 0; w + 5 <= n; w++) {
    int h = 0;
    for (int i = w; i < w + 5; i++)
      h += order[i] == 'H';
    assert_int_equal(h, 4); /* high 4, low 1, in every window of 5 */
  }
  sched_fx_free(f);
}

/* Returns the longest queue wait of a low job, in ns, over 30 s with the
 * high queue saturated and a low job arriving every second, at 10 tokens/s
 * with strict priority (4:0); a low job still queued at the end counts with
 * its wait so far. *most_lows: the most low starts in any 5 in a row. */
static int64_t strict_longest_low_wait(int64_t age_ms, int *most_lows)
{
  set_tweak(10, 0, age_ms);
  sched_fx_t *f = sched_fx_new(rate_default_weights);
  for (int i = 0; i < 400; i++)
    push(f, "h", HIGH);
  int64_t pushed[64];
  int npushed = 0, lows = 0;
  int64_t worst = 0;
  unsigned window = 0; /* last 5 starts, 1 bit per low */
  *most_lows = 0;
  for (int64_t t = 0; t <= 30 * S; t += MS) {
    f->now = 1000 * S + t;
    if (t % S == 0)
      pushed[npushed++] = push(f, "l", LOW)->submit_ns;
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      window = ((window << 1) | (j->prio == LOW)) & 0x1f;
      int in5 = __builtin_popcount(window);
      *most_lows = in5 > *most_lows ? in5 : *most_lows;
      if (j->prio == LOW) {
        assert_int_equal(j->submit_ns, pushed[lows]); /* FIFO */
        lows++;
        if (f->now - j->submit_ns > worst)
          worst = f->now - j->submit_ns;
      }
      ok(f, j);
    }
  }
  if (lows < npushed && f->now - pushed[lows] > worst)
    worst = f->now - pushed[lows];
  sched_fx_free(f);
  return worst;
}

/* Strict priority with aging: an aged low job gets 1 start in 5 (4:0 counts
 * as 4:1 while it is aged), so its wait is bounded and high keeps 4 of 5. */
static void strict_priority_aging_bounds_both(void **state)
{
  (void)state;
  int most_lows;
  int64_t with = strict_longest_low_wait(500, &most_lows);
  fprintf(stderr,
          "aging 500 ms, weights 4:0, 10 tokens/s: longest low wait %.1f ms, "
          "at most %d low in 5 starts\n",
          with / 1e6, most_lows);
  /* The limit, plus the 5 starts in which low gets its one. */
  assert_true(with <= 500 * MS + 5 * 100 * MS);
  assert_true(most_lows <= 1); /* high keeps 4 of every 5 */
  int64_t without = strict_longest_low_wait(0, &most_lows);
  fprintf(stderr, "same without aging: longest low wait %.1f ms\n",
          without / 1e6);
  assert_true(without > 5 * S); /* strict priority starves low */
  assert_int_equal(most_lows, 0);
}

/* A retry put back at the head of a key's low queue does not hide the age
 * of the jobs behind it: they were queued before the retry came back. */
static void retry_at_head_does_not_hide_aged_lows(void **state)
{
  (void)state;
  set_tweak(10, 0, 1000); /* strict priority, aging at 1 s */
  sched_fx_t *f = sched_fx_new(rate_default_weights);
  int64_t t0 = f->now;
  pacer__job_t *first = push(f, "l", LOW);
  pacer__job_t *j = sched_fx_next(f);
  assert_ptr_equal(j, first);
  push(f, "l", LOW); /* queued at 0, behind the one in flight */
  for (int i = 0; i < 400; i++)
    push(f, "h", HIGH);
  /* 503 with Retry-After 5 s: the key pauses, the job retries at 5 s and
   * goes back to the head of its key's queue. */
  assert_int_equal(done(f, first, 0, 503, 5 * S), PACER__SCHED_RETRY);
  int64_t low_at = -1;
  for (int64_t t = 0; t < 8 * S && low_at < 0; t += MS) {
    f->now = t0 + t;
    while ((j = sched_fx_next(f))) {
      if (j->prio == LOW)
        low_at = t;
      ok(f, j);
    }
  }
  fprintf(stderr,
          "aging 1 s, 4:0: a retry back at 5 s ahead of a low job queued at "
          "0: first low start at %.1f s\n",
          low_at / 1e9);
  /* Aged since 1 s: low has its 1 in 5 as soon as the key is back. */
  assert_true(low_at >= 5 * S && low_at <= 5 * S + 5 * 100 * MS);
  sched_fx_free(f);
}

/* ---- tokens ---- */

static void rate_50_burst_5(pacer_config_t *c)
{
  c->rate = 50;
  c->burst = 5;
}

static void bucket_admits_exactly_burst_plus_rate_times_60(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(rate_50_burst_5);
  int64_t t0 = f->now;
  for (int i = 0; i < 4000; i++)
    push(f, "k", LOW);
  int n = 0;
  for (int64_t t = 0; t <= 60 * S; t += MS) {
    f->now = t0 + t;
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      n++;
      ok(f, j);
    }
  }
  fprintf(stderr, "rate 50/s burst 5 over 60 s in 1 ms steps: %d admitted\n",
          n);
  assert_int_equal(n, 5 + 50 * 60);
  sched_fx_free(f);
}

static void rate_3(pacer_config_t *c)
{
  c->rate = 3;
  c->burst = 1;
}

/* The dispatcher sleeps until exactly the next token: jumping from wake to
 * wake admits the same count as stepping every millisecond. */
static void wake_is_the_next_token_time(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(rate_3);
  int64_t t0 = f->now;
  for (int i = 0; i < 400; i++)
    push(f, "k", LOW);
  int n = 0;
  while (f->now <= t0 + 60 * S) {
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      n++;
      ok(f, j);
    }
    int64_t w = pacer__sched_wake(&f->s, f->now);
    /* Nothing can start a nanosecond before the wake time. */
    int64_t save = f->now;
    f->now = w - 1;
    if (f->now > save)
      assert_null(sched_fx_next(f));
    f->now = w;
  }
  assert_int_equal(n, 1 + 3 * 60);
  sched_fx_free(f);
}

static void clock_jump_of_ten_years_leaves_burst(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(rate_50_burst_5);
  for (int i = 0; i < 20; i++)
    push(f, "k", LOW);
  for (int i = 0; i < 5; i++)
    ok(f, sched_fx_next(f));
  assert_null(sched_fx_next(f));
  f->now += INT64_C(10) * 365 * 24 * 3600 * S;
  for (int i = 0; i < 5; i++)
    ok(f, sched_fx_next(f));
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 20 * MS);
  sched_fx_free(f);
}

static double tiny_huge_rate;
static void rate_var(pacer_config_t *c)
{
  c->rate = tiny_huge_rate;
  c->burst = 1;
}

static void one_per_hour_is_exact(void **state)
{
  (void)state;
  tiny_huge_rate = 1.0 / 3600;
  sched_fx_t *f = sched_fx_new(rate_var);
  int64_t t0 = f->now;
  for (int i = 0; i < 3; i++)
    push(f, "k", LOW);
  ok(f, sched_fx_next(f));
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), t0 + 3600 * S);
  f->now = t0 + 3600 * S - 1;
  assert_null(sched_fx_next(f));
  f->now = t0 + 3600 * S;
  ok(f, sched_fx_next(f));
  assert_null(sched_fx_next(f));
  sched_fx_free(f);
}

static void a_million_per_second_is_exact(void **state)
{
  (void)state;
  tiny_huge_rate = 1e6;
  sched_fx_t *f = sched_fx_new(rate_var);
  int64_t t0 = f->now;
  for (int i = 0; i < 8; i++)
    push(f, "k", LOW);
  long n = 0;
  for (int64_t t = 0; t <= S; t += 1000) { /* 1 us steps */
    f->now = t0 + t;
    pacer__job_t *j;
    while ((j = sched_fx_next(f))) {
      n++;
      ok(f, j);
      push(f, "k", LOW);
    }
  }
  assert_int_equal(n, 1 + 1000000);
  sched_fx_free(f);
}

/* ---- all or none ---- */

static void global_10_burst_1(pacer_config_t *c)
{
  c->rate = 10;
  c->burst = 1;
}

static void blocked_key_takes_no_global_token(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(global_10_burst_1);
  pacer_key_limits_t lim = {sizeof lim, 1, 1, 0};
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "slow", lim.rate,
                                               lim.burst, 0, f->now),
                   0);
  pacer__job_t *s1 = push(f, "slow", LOW);
  pacer__job_t *s2 = push(f, "slow", LOW);
  pacer__job_t *fast = push(f, "fast", LOW);
  assert_ptr_equal(sched_fx_next(f), s1);
  assert_null(sched_fx_next(f));
  f->now += 100 * MS; /* a global token; slow's next key token is at +1 s */
  assert_ptr_equal(sched_fx_next(f), fast);
  assert_null(sched_fx_next(f));
  f->now += 900 * MS;
  assert_ptr_equal(sched_fx_next(f), s2);
  ok(f, s1);
  ok(f, fast);
  ok(f, s2);
  sched_fx_free(f);
}

static void cap_3(pacer_config_t *c)
{
  c->concurrency = 3;
}

static void global_and_key_concurrency_caps(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(cap_3);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "a", 0, 1, 1, f->now), 0);
  pacer__job_t *a[3], *b[3];
  for (int i = 0; i < 3; i++) {
    a[i] = push(f, "a", LOW);
    b[i] = push(f, "b", LOW);
  }
  assert_ptr_equal(sched_fx_next(f), a[0]);
  assert_ptr_equal(sched_fx_next(f), b[0]);
  assert_ptr_equal(sched_fx_next(f), b[1]); /* a is at its cap of 1 */
  assert_null(sched_fx_next(f));            /* global cap of 3 */
  ok(f, a[0]);
  assert_ptr_equal(sched_fx_next(f), a[1]); /* older than b[2] */
  assert_null(sched_fx_next(f));
  ok(f, b[0]);
  assert_ptr_equal(sched_fx_next(f), b[2]);
  ok(f, b[1]);
  assert_null(sched_fx_next(f)); /* a still at its cap */
  ok(f, a[1]);
  assert_ptr_equal(sched_fx_next(f), a[2]);
  ok(f, b[2]);
  ok(f, a[2]);
  assert_int_equal(f->s.inflight, 0);
  sched_fx_free(f);
}

/* ---- breaker ---- */

static int fail_fast;
static void breaker_cfg(pacer_config_t *c)
{
  c->breaker_window = 4;
  c->breaker_min_calls = 4;
  c->breaker_threshold = 0.5;
  c->breaker_cooldown_ms = 10000;
  c->breaker_probes = 2;
  c->breaker_probe_timeout_ms = 5000;
  c->breaker_fail_fast = fail_fast;
  c->max_attempts = 1;
}

static void fail_four(sched_fx_t *f)
{
  for (int i = 0; i < 4; i++) {
    pacer__job_t *j = sched_fx_next(f);
    assert_non_null(j);
    assert_string_equal(j->key->name, "bad");
    assert_int_equal(done(f, j, 0, 500, -1), PACER__SCHED_END);
    sched_fx_release(f, j);
  }
}

static void breaker_walks_closed_open_half_open_closed_open(void **state)
{
  (void)state;
  fail_fast = 0;
  sched_fx_t *f = sched_fx_new(breaker_cfg);
  for (int i = 0; i < 14; i++)
    push(f, "bad", LOW);
  fail_four(f);
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "bad");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  /* Held: nothing of "bad" starts, other keys flow. */
  pacer__job_t *g = push(f, "good", LOW);
  assert_ptr_equal(sched_fx_next(f), g);
  ok(f, g);
  assert_null(sched_fx_next(f));
  assert_true(f->s.held_by_breaker > 0);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 10 * S);
  f->now += 10 * S;
  pacer__job_t *p1 = sched_fx_next(f), *p2 = sched_fx_next(f);
  assert_non_null(p1);
  assert_non_null(p2);
  assert_null(sched_fx_next(f)); /* exactly 2 probes */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_HALF_OPEN);
  ok(f, p1);
  assert_null(sched_fx_next(f));
  ok(f, p2);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  /* Closed: the held jobs flow, and four failures open it again. */
  fail_four(f);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  assert_null(sched_fx_next(f));
  /* A failed probe reopens it. */
  f->now += 10 * S;
  pacer__job_t *p3 = sched_fx_next(f), *p4 = sched_fx_next(f);
  assert_non_null(p3);
  assert_non_null(p4);
  assert_int_equal(done(f, p3, PACER_ETRANSPORT, 0, -1), PACER__SCHED_END);
  sched_fx_release(f, p3);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  ok(f, p4); /* stale: cannot close it */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  sched_fx_free(f);
}

static void breaker_probe_that_never_returns_times_out(void **state)
{
  (void)state;
  fail_fast = 0;
  sched_fx_t *f = sched_fx_new(breaker_cfg);
  for (int i = 0; i < 8; i++)
    push(f, "bad", LOW);
  fail_four(f);
  f->now += 10 * S;
  pacer__job_t *p1 = sched_fx_next(f), *p2 = sched_fx_next(f);
  assert_null(sched_fx_next(f));
  /* The key waits for the probes, at most until the probe timeout. */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 5 * S);
  f->now += 5 * S;
  assert_null(sched_fx_next(f)); /* reopened, cooling down again */
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "bad");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  ok(f, p1);
  ok(f, p2);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  sched_fx_free(f);
}

/* Probe B, sent well after probe A, gets a timeout of its own: A's success
 * does not leave B judged by A's deadline. */
static void breaker_later_probe_keeps_its_own_deadline(void **state)
{
  (void)state;
  fail_fast = 0;
  sched_fx_t *f = sched_fx_new(breaker_cfg); /* 2 probes, probe timeout 5 s */
  for (int i = 0; i < 8; i++)
    push(f, "bad", LOW);
  fail_four(f);
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "bad");
  f->now += 10 * S;
  pacer__job_t *a = sched_fx_next(f);
  assert_non_null(a);
  f->now += 3 * S;
  pacer__job_t *b = sched_fx_next(f);
  assert_non_null(b);
  f->now += 1 * S;
  ok(f, a);
  f->now += 1 * S; /* 5 s after A, 2 s after B */
  assert_null(sched_fx_next(f));
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_HALF_OPEN);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 3 * S);
  f->now += 2 * S;
  ok(f, b); /* in time: it closes */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  sched_fx_free(f);
}

/* Attempts that the job's own deadline cut short, or never sent, say
 * nothing about the host: ten of them leave the breaker closed and the next
 * job starts at once. */
static void breaker_ignores_attempts_cut_by_the_deadline(void **state)
{
  (void)state;
  fail_fast = 0;
  sched_fx_t *f = sched_fx_new(breaker_cfg);
  pacer__key_t *k = NULL;
  for (int i = 0; i < 10; i++) {
    pacer_request_t r;
    pacer_request_init(&r);
    r.url = "http://example.test/x";
    r.key = "host";
    r.deadline_ms = 1000;
    sched_fx_push_req(f, &r);
    pacer__job_t *j = sched_fx_next(f);
    assert_non_null(j);
    k = j->key;
    /* Half the attempts were cut to the time left and timed out; the
     * others had no time left and were never sent. The worker reports
     * both as a timeout with deadline_cut set. */
    j->deadline_cut = 1;
    if (i % 2)
      f->now += 1000 * MS;
    assert_int_equal(done(f, j, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_END);
    assert_int_equal(j->error, PACER_EDEADLINE);
    sched_fx_release(f, j);
  }
  /* Local errors and our own size cap judge nothing either. */
  int local[] = {PACER_ENOMEM, PACER_ETOOLARGE, PACER_ESYSTEM, PACER_ENOMEM};
  for (int i = 0; i < 4; i++) {
    pacer__job_t *q = push(f, "host", LOW);
    pacer__job_t *j = sched_fx_next(f);
    assert_ptr_equal(j, q);
    assert_int_equal(done(f, j, local[i], 0, -1), PACER__SCHED_END);
    sched_fx_release(f, j);
  }
  k = pacer__keys_find(&f->s.keys, "host");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  assert_int_equal(k->breaker.known, 0);
  pacer__job_t *g = push(f, "host", LOW);
  assert_ptr_equal(sched_fx_next(f), g);
  ok(f, g);
  /* A TLS failure is the host's: with that success, three of four open
   * it. */
  for (int i = 0; i < 3; i++) {
    push(f, "host", LOW);
    pacer__job_t *j = sched_fx_next(f);
    assert_int_equal(done(f, j, PACER_ETLS, 0, -1), PACER__SCHED_END);
    sched_fx_release(f, j);
  }
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  /* A half-open probe cut short by its deadline gives its place back. */
  f->now += 10 * S;
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/x";
  r.key = "host";
  r.deadline_ms = 1;
  sched_fx_push_req(f, &r);
  pacer__job_t *p = sched_fx_next(f);
  assert_non_null(p);
  p->deadline_cut = 1;
  f->now += 1 * MS;
  assert_int_equal(done(f, p, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_END);
  sched_fx_release(f, p);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_HALF_OPEN);
  assert_int_equal(k->breaker.probes_left, 2);
  sched_fx_free(f);
}

static void breaker_fail_fast_ends_held_jobs(void **state)
{
  (void)state;
  fail_fast = 1;
  sched_fx_t *f = sched_fx_new(breaker_cfg);
  for (int i = 0; i < 7; i++)
    push(f, "bad", LOW);
  fail_four(f);
  assert_null(sched_fx_next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EBREAKER), 3);
  sched_fx_free(f);
}

/* ---- retries ---- */

static void retry_after_pauses_the_whole_key(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  int64_t t0 = f->now;
  pacer__job_t *j1 = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j1);
  pacer__job_t *j2 = push(f, "k", LOW);
  pacer__job_t *j3 = push(f, "k", HIGH);
  pacer__job_t *o = push(f, "other", LOW);
  assert_int_equal(done(f, j1, 0, 429, 2 * S), PACER__SCHED_RETRY);
  assert_int_equal(j1->state, PACER__JOB_WAITING);
  assert_ptr_equal(sched_fx_next(f), o); /* only the other key flows */
  assert_null(sched_fx_next(f));
  ok(f, o);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), t0 + 2 * S);
  f->now = t0 + 2 * S - 1;
  assert_null(sched_fx_next(f));
  f->now = t0 + 2 * S;
  pacer__job_t *a = sched_fx_next(f), *b = sched_fx_next(f),
               *c = sched_fx_next(f);
  assert_ptr_equal(a, j3); /* high first */
  assert_ptr_equal(b, j1); /* the retry goes first within low */
  assert_ptr_equal(c, j2);
  assert_int_equal(j1->attempts, 2);
  ok(f, a);
  ok(f, b);
  ok(f, c);
  sched_fx_free(f);
}

static void crawler_cfg(pacer_config_t *c)
{
  c->key_rate = 1.0 / 60; /* one request a minute per host */
  c->max_idle_keys = 2;
  c->max_attempts = 1;
  c->retry_after_max_ms = 7200 * 1000;
}

/* A host that said "come back in an hour" is not forgotten when other hosts
 * push it out of the idle keys. */
static void idle_key_with_a_pause_is_remembered(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(crawler_cfg);
  int64_t t0 = f->now;
  pacer__job_t *j = push(f, "a", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, 0, 429, 3600 * S), PACER__SCHED_END);
  sched_fx_release(f, j);
  const char *others[] = {"b", "c", "d"};
  for (int i = 0; i < 3; i++) {
    f->now += 1 * S;
    ok(f, next_of(f, push(f, others[i], LOW)));
  }
  f->now = t0 + 5 * S;
  j = push(f, "a", LOW);
  assert_null(sched_fx_next(f)); /* still paused */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), t0 + 3600 * S);
  f->now = t0 + 3600 * S;
  assert_ptr_equal(sched_fx_next(f), j);
  ok(f, j);
  sched_fx_free(f);
}

/* A crawl over 100,000 hosts at 1,000 requests/s, one request per host a
 * minute, every 1,000th host answering 429 with Retry-After: 3600. The
 * table holds the pristine idle keys (at most max_idle_keys), the hosts
 * whose bucket is still refilling (those of the last minute), and the
 * paused ones; nothing else. */
static void crawl_over_100000_keys_stays_bounded(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(crawler_cfg);
  f->s.keys.max_idle = 100;
  int64_t t0 = f->now;
  size_t most = 0;
  char name[32];
  for (int i = 0; i < 100000; i++) {
    f->now = t0 + (int64_t)i * MS;
    snprintf(name, sizeof name, "host-%d", i);
    pacer__job_t *j = next_of(f, push(f, name, LOW));
    if (i % 1000 == 999) {
      assert_int_equal(done(f, j, 0, 429, 3600 * S), PACER__SCHED_END);
      sched_fx_release(f, j);
    } else {
      ok(f, j);
    }
    most = f->s.keys.count > most ? f->s.keys.count : most;
    /* Pristine idle keys stay within the bound; the rest are the last
     * minute's hosts and the paused ones. */
    assert_true(f->s.keys.idle_count <= 100);
    assert_true(f->s.keys.count <= 100 + 60000 + 100 + 1);
  }
  size_t at_end = f->s.keys.count;
  /* A minute later the buckets are full again: only the paused remain. */
  f->now = t0 + 100 * S + 61 * S;
  ok(f, next_of(f, push(f, "late", LOW)));
  size_t remembered = pacer__keys_remembered(&f->s.keys);
  fprintf(stderr,
          "100000 hosts at 1000/s, 1/min each: at most %zu keys held, %zu "
          "at the end, %zu a minute later (%zu remembered, %zu idle)\n",
          most, at_end, f->s.keys.count, remembered, f->s.keys.idle_count);
  /* The hosts that asked for an hour, and the one just visited. */
  assert_int_equal(remembered, 100 + 1);
  assert_int_equal(f->s.keys.count, remembered + f->s.keys.idle_count);
  assert_true(f->s.keys.idle_count <= 100);
  /* After the hour, they are forgotten too. */
  f->now += 3600 * S;
  ok(f, next_of(f, push(f, "later", LOW)));
  assert_int_equal(pacer__keys_remembered(&f->s.keys), 1); /* "later" */
  assert_true(f->s.keys.count <= 100 + 1);
  sched_fx_free(f);
}

static void retry_after_is_capped(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL); /* cap 1 hour */
  int64_t t0 = f->now;
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, 0, 503, 86400 * S), PACER__SCHED_RETRY);
  assert_int_equal(j->timer_ns, t0 + 3600 * S);
  f->now = t0 + 3600 * S;
  assert_ptr_equal(sched_fx_next(f), j);
  ok(f, j);
  sched_fx_free(f);
}

/* A 503 with no guidance also slows its key (AIMD, test_adapt.c); here
 * only the job's own backoff is looked at. */
static void no_aimd(pacer_config_t *c)
{
  c->adapt_aimd = 0;
}

static void backoff_then_retries_exhausted(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(no_aimd); /* 3 attempts, base 200 ms */
  pacer__job_t *j = push(f, "k", LOW);
  for (int attempt = 1; attempt <= 3; attempt++) {
    assert_ptr_equal(sched_fx_next(f), j);
    assert_int_equal(j->attempts, attempt);
    int r = done(f, j, 0, 503, -1);
    if (attempt < 3) {
      assert_int_equal(r, PACER__SCHED_RETRY);
      int64_t cap = 200 * MS << (attempt - 1);
      assert_true(j->timer_ns >= f->now && j->timer_ns <= f->now + cap);
      f->now = j->timer_ns;
    } else {
      assert_int_equal(r, PACER__SCHED_END);
      assert_int_equal(j->error, PACER_ERETRIES);
    }
  }
  assert_int_equal(f->s.retried, 2);
  sched_fx_release(f, j);
  sched_fx_free(f);
}

static void transport_errors_retry_too_large_does_not(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, PACER_ETRANSPORT, 0, -1), PACER__SCHED_RETRY);
  f->now = j->timer_ns;
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, PACER_ETOOLARGE, 200, -1), PACER__SCHED_END);
  assert_int_equal(j->error, PACER_ETOOLARGE);
  sched_fx_release(f, j);
  sched_fx_free(f);
}

static void post_retried_only_when_allowed(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/send";
  r.method = "POST";
  pacer__job_t *plain = sched_fx_push_req(f, &r);
  r.flags = PACER_REQ_RETRY_UNSAFE;
  pacer__job_t *opted = sched_fx_push_req(f, &r);
  r.flags = 0;
  pacer_header_t h = {"Idempotency-Key", "abc"};
  r.headers = &h;
  r.header_count = 1;
  pacer__job_t *keyed = sched_fx_push_req(f, &r);
  pacer__job_t *a = sched_fx_next(f), *b = sched_fx_next(f),
               *c = sched_fx_next(f);
  assert_ptr_equal(a, plain);
  assert_int_equal(done(f, a, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(a->error, 0); /* not retried: the 503 ends it */
  assert_int_equal(a->not_retried, PACER_NOT_RETRIED_UNSAFE); /* and says so */
  assert_int_equal(done(f, b, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, c, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_RETRY);
  assert_int_equal(b->not_retried, 0);
  assert_int_equal(c->not_retried, 0);
  (void)opted;
  (void)keyed;
  sched_fx_release(f, a);
  sched_fx_free(f);
}

/* not_retried names the method rule only when a retry was otherwise due:
 * a retryable outcome with an attempt left. */
static void post_not_retried_only_when_a_retry_was_due(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/send";
  r.method = "PATCH";
  pacer__job_t *bad = sched_fx_push_req(f, &r);  /* 400: final anyway */
  pacer__job_t *down = sched_fx_push_req(f, &r); /* transport error */
  r.max_attempts = 1;
  pacer__job_t *single = sched_fx_push_req(f, &r); /* no attempt left */
  assert_ptr_equal(sched_fx_next(f), bad);
  assert_ptr_equal(sched_fx_next(f), down);
  assert_ptr_equal(sched_fx_next(f), single);
  assert_int_equal(done(f, bad, 0, 400, -1), PACER__SCHED_END);
  assert_int_equal(bad->not_retried, PACER_NOT_RETRIED_NONE);
  assert_int_equal(done(f, down, PACER_ETRANSPORT, 0, -1), PACER__SCHED_END);
  assert_int_equal(down->error, PACER_ETRANSPORT);
  assert_int_equal(down->not_retried, PACER_NOT_RETRIED_UNSAFE);
  assert_int_equal(done(f, single, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(single->not_retried, PACER_NOT_RETRIED_NONE);
  sched_fx_release(f, bad);
  sched_fx_release(f, down);
  sched_fx_release(f, single);
  sched_fx_free(f);
}

static void retry_only_503(pacer_config_t *c)
{
  static const int only[] = {503};
  c->retry_statuses = only;
  c->retry_status_count = 1;
}

/* retry_statuses replaces the set: a 429 ends its job, a 503 is retried,
 * a transport error still is. */
static void retry_statuses_choose_what_is_retried(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(retry_only_503);
  pacer__job_t *a = push(f, "k", LOW), *b = push(f, "k", LOW),
               *c = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), a);
  assert_ptr_equal(sched_fx_next(f), b);
  assert_ptr_equal(sched_fx_next(f), c);
  assert_int_equal(done(f, a, 0, 429, -1), PACER__SCHED_END);
  assert_int_equal(a->error, 0);
  assert_int_equal(a->not_retried, PACER_NOT_RETRIED_NONE);
  assert_int_equal(done(f, b, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, c, PACER_ETRANSPORT, 0, -1), PACER__SCHED_RETRY);
  assert_int_equal(f->s.retried, 2);
  sched_fx_release(f, a);
  sched_fx_free(f);
}

/* ---- deadlines ---- */

static void queue_wait_1s(pacer_config_t *c)
{
  c->max_queue_wait_ms = 1000;
  c->concurrency = 1;
}

static pacer__job_t *push_deadline(sched_fx_t *f, const char *key, int64_t ms)
{
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/x";
  r.key = key;
  r.deadline_ms = ms;
  return sched_fx_push_req(f, &r);
}

static void deadline_and_queue_wait_while_queued(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(queue_wait_1s);
  pacer__job_t *busy = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), busy);
  push_deadline(f, "k", 500); /* ends by its deadline */
  push(f, "k", LOW);          /* ends by the queue-wait limit */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 500 * MS);
  f->now += 500 * MS;
  assert_null(sched_fx_next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EDEADLINE), 1);
  f->now += 500 * MS;
  assert_null(sched_fx_next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EEXPIRED), 1);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  ok(f, busy);
  sched_fx_free(f);
}

static void deadline_while_waiting_and_in_flight(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  /* A retry due after the deadline ends the job at once. */
  pacer__job_t *a = push_deadline(f, "k", 1000);
  assert_ptr_equal(sched_fx_next(f), a);
  assert_int_equal(done(f, a, 0, 429, 5 * S), PACER__SCHED_END);
  assert_int_equal(a->error, PACER_EDEADLINE);
  sched_fx_release(f, a);
  /* An attempt that times out at the deadline ends with EDEADLINE. */
  pacer__job_t *b = push_deadline(f, "k2", 1000);
  assert_ptr_equal(sched_fx_next(f), b);
  f->now += 1000 * MS;
  assert_int_equal(done(f, b, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_END);
  assert_int_equal(b->error, PACER_EDEADLINE);
  sched_fx_release(f, b);
  /* A deadline that passes while waiting to retry. */
  pacer__job_t *c = push_deadline(f, "k3", 1000);
  assert_ptr_equal(sched_fx_next(f), c);
  assert_int_equal(done(f, c, 0, 503, 900 * MS), PACER__SCHED_RETRY);
  f->now += 900 * MS;
  assert_ptr_equal(sched_fx_next(f), c); /* retried in time */
  assert_int_equal(done(f, c, 0, 503, 50 * MS), PACER__SCHED_RETRY);
  f->now += 100 * MS; /* due at +950 ms was missed by the test: deadline */
  assert_null(sched_fx_next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EDEADLINE), 1);
  sched_fx_free(f);
}

/* ---- cancel ---- */

static void cancel_in_each_state(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer__job_t *q = push(f, "k", LOW);
  pacer__job_t *run = push(f, "k", LOW);
  assert_int_equal(pacer__sched_cancel(&f->s, q, &f->ended), 1);
  assert_int_equal(pacer__sched_cancel(&f->s, q, &f->ended), PACER_ENOTFOUND);
  assert_ptr_equal(sched_fx_next(f), run);
  assert_int_equal(pacer__sched_cancel(&f->s, run, &f->ended), 0);
  assert_int_equal(pacer__sched_cancel(&f->s, run, &f->ended), PACER_ENOTFOUND);
  /* The attempt completes anyway: the cancel wins, no retry. */
  assert_int_equal(done(f, run, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(run->error, PACER_ECANCELED);
  sched_fx_release(f, run);
  pacer__job_t *w = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), w);
  assert_int_equal(done(f, w, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(pacer__sched_cancel(&f->s, w, &f->ended), 1);
  assert_int_equal(free_ended_count_errors(f, PACER_ECANCELED), 2);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  sched_fx_free(f);
}

static void cancel_all_ends_queue_and_stops_retries(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer__job_t *run = push(f, "a", HIGH);
  assert_ptr_equal(sched_fx_next(f), run);
  pacer__job_t *w = push(f, "b", LOW);
  assert_ptr_equal(sched_fx_next(f), w);
  assert_int_equal(done(f, w, 0, 503, -1), PACER__SCHED_RETRY);
  for (int i = 0; i < 5; i++)
    push(f, i % 2 ? "a" : "c", i % 2);
  pacer__sched_cancel_all(&f->s, &f->ended);
  assert_int_equal(free_ended_count_errors(f, PACER_ECANCELED), 6);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  /* The in-flight one finishes, and is not retried: the shutdown stopped a
   * job that had attempts left, so it ends cancelled (kept in a spool). */
  assert_int_equal(done(f, run, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(run->error, PACER_ECANCELED);
  assert_null(run->resp);
  sched_fx_release(f, run);
  sched_fx_free(f);
}

/* A 429 with Retry-After that came from another origin, at the end of a
 * followed redirect: that host never spoke for the key, so the key goes on;
 * the job's own retry still waits as asked. */
static void retry_after_from_another_origin_pauses_no_key(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  int64_t t0 = f->now;
  pacer__job_t *j1 = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j1);
  pacer__job_t *j2 = push(f, "k", LOW);
  pacer__attempt_end_t e = {
      .error = 0, .status = 429, .retry_after_ns = 2 * S, .other_origin = 1};
  assert_int_equal(pacer__sched_done(&f->s, j1, &e, f->now),
                   PACER__SCHED_RETRY);
  assert_int_equal(j1->timer_ns, t0 + 2 * S); /* this job waits */
  assert_ptr_equal(sched_fx_next(f), j2);     /* its key does not */
  ok(f, j2);
  f->now = t0 + 2 * S;
  assert_ptr_equal(sched_fx_next(f), j1);
  /* The job's own origin answering the same pauses the key. */
  pacer__job_t *j3 = push(f, "k", LOW);
  e.other_origin = 0;
  assert_int_equal(pacer__sched_done(&f->s, j1, &e, f->now),
                   PACER__SCHED_RETRY);
  assert_null(sched_fx_next(f));
  f->now = t0 + 4 * S;
  pacer__job_t *a = sched_fx_next(f), *b = sched_fx_next(f);
  assert_ptr_equal(a, j1);
  assert_ptr_equal(b, j3);
  ok(f, a);
  ok(f, b);
  sched_fx_free(f);
}

/* A resumed job due centuries ahead (its time saturated at INT64_MAX)
 * still waits in the timer heap, so a shutdown ends it. */
static void job_due_at_the_end_of_time_still_ends(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/x";
  char key[PACER__KEY_MAX];
  pacer__job_t *j;
  assert_int_equal(pacer__job_new(&r, &f->cfg, f->now, &j, key, sizeof key), 0);
  assert_int_equal(pacer__sched_push_due(&f->s, j, key, f->now, INT64_MAX), 0);
  assert_int_equal(j->state, PACER__JOB_WAITING);
  assert_int_equal(pacer__sched_backlog(&f->s), 1);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), INT64_MAX - 1);
  pacer__sched_cancel_all(&f->s, &f->ended);
  assert_int_equal(free_ended_count_errors(f, PACER_ECANCELED), 1);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  sched_fx_free(f);
}

/* ---- retry budget ---- */

static int budget_ra; /* 1: the failures are 429s with Retry-After 1 ms */

static void budget_cfg(pacer_config_t *c)
{
  c->breaker_enabled = 0;
  c->adapt_aimd = 0; /* bare 503s would slow the key */
  c->max_attempts = 3;
  c->backoff_base_ms = 1;
  c->backoff_max_ms = 1;
  c->retry_budget_ratio = 0.2;
  c->retry_budget_min_per_s = 3;
  c->retry_budget_window_ms = 10000;
}

/* Starts every job that may start now, then ends each attempt as failed
 * (a bare 503, or a 429 with Retry-After 1 ms, which pauses the key); counts
 * the attempts and the jobs' first ones, and the jobs that ended by
 * error. */
static void fail_all_startable(sched_fx_t *f, unsigned *attempts,
                               unsigned *requests, unsigned *budget_ends,
                               unsigned *retries_ends)
{
  enum { CAP = 4096 };
  static pacer__job_t *started[CAP];
  size_t n = 0;
  pacer__job_t *j;
  while ((j = sched_fx_next(f))) {
    assert_true(n < CAP);
    started[n++] = j;
  }
  for (size_t i = 0; i < n; i++) {
    j = started[i];
    (*attempts)++;
    *requests += j->attempts == 1;
    int r = budget_ra ? done(f, j, 0, 429, 1 * MS) : done(f, j, 0, 503, -1);
    if (r == PACER__SCHED_END) {
      assert_true(j->error == PACER_EBUDGET || j->error == PACER_ERETRIES);
      if (j->error == PACER_EBUDGET) {
        (*budget_ends)++;
        assert_non_null(strstr(j->message, "retry budget"));
      } else {
        (*retries_ends)++;
      }
      sched_fx_release(f, j);
    }
  }
}

/* A key failing every request, 100 requests/s for 5 s (one window): the
 * server sees at most (1 + ratio) x the requests, or the requests plus the
 * floor; every retry refused ends its job with PACER_EBUDGET and is
 * counted. Retries after a Retry-After count alike. */
static void budget_run_failing_key(int ra)
{
  budget_ra = ra;
  sched_fx_t *f = sched_fx_new(budget_cfg);
  unsigned attempts = 0, requests = 0, budget_ends = 0, retries_ends = 0;
  for (int step = 0; step < 50; step++) {
    for (int i = 0; i < 10; i++)
      push(f, "bad", LOW);
    fail_all_startable(f, &attempts, &requests, &budget_ends, &retries_ends);
    f->now += 100 * MS;
  }
  for (int step = 0; step < 10; step++) { /* the last retries */
    fail_all_startable(f, &attempts, &requests, &budget_ends, &retries_ends);
    f->now += 100 * MS;
  }
  unsigned retries = attempts - requests;
  printf("# %s: %u requests, %u attempts (%u retries), %u ended by the "
         "budget, %u by max_attempts\n",
         ra ? "429 + Retry-After" : "bare 503", requests, attempts, retries,
         budget_ends, retries_ends);
  assert_int_equal(requests, 500);
  assert_int_equal(budget_ends + retries_ends, 500);
  assert_int_equal(f->s.retries_refused, budget_ends);
  assert_int_equal(f->s.retried, retries);
  /* 0.2 x 500 = 100 > the floor (3/s x 10 s = 30). */
  assert_true(retries <= 100);
  assert_true(attempts <= (unsigned)(1.2 * 500));
  assert_true(retries >= 90); /* the budget is spent, not wasted */
  pacer_stats_t st;
  memset(&st, 0, sizeof st);
  assert_int_equal(pacer__sched_stats(&f->s, f->now, &st), 0);
  assert_int_equal(st.retries_refused, budget_ends);
  free((void *)st.keys[0].key);
  free(st.keys);
  free(st.key_adapt);
  free(st.key_concurrency);
  free(st.key_pause);
  free(st.key_conn);
  sched_fx_free(f);
}

/* A key following the quota its server announced is held to it, retries
 * included: its retries are not the budget's to refuse (nor counted in
 * it), while another key's bare failures still are. */
static void budget_leaves_a_key_on_its_announced_quota(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(budget_cfg);
  f->s.cfg.budget.min_per_s = 0; /* no floor: 0.2 per request */
  enum { N = 40 };
  pacer__job_t *js[N];
  for (int i = 0; i < N; i++)
    js[i] = push(f, "q", LOW);
  for (int i = 0; i < N; i++)
    next_of(f, js[i]);
  /* every answer a 429 announcing 5 more over 10 s: spread, not paused */
  unsigned retried = 0;
  for (int i = 0; i < N; i++) {
    pacer__attempt_end_t e = {.status = 429, .retry_after_ns = -1};
    e.quota.found = 1;
    e.quota.source = PACER__RATEHDR_X;
    e.quota.limit = 100;
    e.quota.remaining = 5;
    e.quota.reset_ns = 10 * PACER__NS_PER_S;
    e.quota.window_ns = -1;
    int r = pacer__sched_done(&f->s, js[i], &e, f->now);
    assert_int_equal(r, PACER__SCHED_RETRY);
    retried++;
  }
  assert_int_equal(retried, N); /* 40 retries of 40 requests: 5x the 0.2 */
  assert_int_equal(f->s.retries_refused, 0);
  /* a key on no quota: 0.2 x its requests and the others' */
  pacer__job_t *b[10];
  for (int i = 0; i < 10; i++)
    b[i] = push(f, "bare", LOW);
  unsigned refused = 0;
  for (int i = 0; i < 10; i++) {
    next_of(f, b[i]);
    if (done(f, b[i], 0, 503, -1) == PACER__SCHED_END) {
      assert_int_equal(b[i]->error, PACER_EBUDGET);
      refused++;
      sched_fx_release(f, b[i]);
    }
  }
  assert_true(refused >= 1);
  assert_int_equal(f->s.retries_refused, refused);
  sched_fx_free(f);
}

static void budget_bounds_a_failing_key(void **state)
{
  (void)state;
  budget_run_failing_key(0);
  budget_run_failing_key(1);
}

/* With few requests the floor still allows retries: 5 failing jobs, each
 * retried up to max_attempts, all within the 30 of the floor. */
static void budget_floor_lets_a_quiet_key_retry(void **state)
{
  (void)state;
  budget_ra = 0;
  sched_fx_t *f = sched_fx_new(budget_cfg);
  unsigned attempts = 0, requests = 0, budget_ends = 0, retries_ends = 0;
  for (int i = 0; i < 5; i++)
    push(f, "quiet", LOW);
  for (int step = 0; step < 5; step++) {
    fail_all_startable(f, &attempts, &requests, &budget_ends, &retries_ends);
    f->now += 100 * MS;
  }
  assert_int_equal(attempts, 15);
  assert_int_equal(retries_ends, 5);
  assert_int_equal(budget_ends, 0);
  sched_fx_free(f);
}

static void budget_no_floor(pacer_config_t *c)
{
  budget_cfg(c);
  c->retry_budget_min_per_s = 0;
  c->max_attempts = 2;
}

/* Starts every startable job; returns how many. jobs[] gets them. */
static size_t start_all(sched_fx_t *f, pacer__job_t **jobs, size_t cap)
{
  size_t n = 0;
  pacer__job_t *j;
  while (n < cap && (j = sched_fx_next(f)))
    jobs[n++] = j;
  return n;
}

/* Per key: key "bad" fails all of its 100 requests and gets 20 retries
 * (0.2 x 100), the other 80 end with PACER_EBUDGET; key "good" fails 10 of
 * its 100 and all 10 are retried: bad's failures took 20 of the global 40,
 * not good's own 20. */
static void budget_failing_key_leaves_a_healthy_key_its_own(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(budget_no_floor);
  pacer__job_t *jobs[200];
  for (int i = 0; i < 100; i++) {
    push(f, "bad", LOW);
    push(f, "good", LOW);
  }
  assert_int_equal(start_all(f, jobs, 200), 200);
  unsigned bad_retried = 0, bad_refused = 0, good_retried = 0;
  for (int i = 0; i < 200; i++) { /* bad's attempts end first */
    pacer__job_t *j = jobs[i];
    if (strcmp(j->key->name, "bad") != 0)
      continue;
    if (done(f, j, 0, 503, -1) == PACER__SCHED_RETRY) {
      bad_retried++;
      continue;
    }
    assert_int_equal(j->error, PACER_EBUDGET);
    assert_non_null(strstr(j->message, "this key's retries"));
    bad_refused++;
    sched_fx_release(f, j);
    jobs[i] = NULL;
  }
  int good_failing = 0;
  for (int i = 0; i < 200; i++) {
    pacer__job_t *j = jobs[i];
    if (!j || strcmp(j->key->name, "good") != 0)
      continue;
    if (good_failing++ < 10) {
      assert_int_equal(done(f, j, 0, 503, -1), PACER__SCHED_RETRY);
      good_retried++;
    } else {
      ok(f, j);
    }
  }
  printf("# bad: %u retried, %u refused; good: %u of 10 retried\n", bad_retried,
         bad_refused, good_retried);
  assert_int_equal(bad_retried, 20);
  assert_int_equal(bad_refused, 80);
  assert_int_equal(good_retried, 10);
  assert_int_equal(f->s.retries_refused, 80);
  /* The retries run (and, with max_attempts 2, end the jobs). */
  f->now += 10 * MS;
  pacer__job_t *j;
  while ((j = sched_fx_next(f))) {
    assert_int_equal(done(f, j, 0, 503, -1), PACER__SCHED_END);
    assert_int_equal(j->error, PACER_ERETRIES);
    sched_fx_release(f, j);
  }
  sched_fx_free(f);
}

static void budget_floor_1(pacer_config_t *c)
{
  budget_cfg(c);
  c->retry_budget_min_per_s = 1; /* 10 retries per 10 s window */
}

/* The floor is each key's and the whole dispatcher's, not the sum of the
 * keys': 10 keys of 5 failing jobs each would each be allowed their 10
 * retries (5 jobs x 2), but all keys together only max(0.2 x 50, 10) = 10. */
static void budget_global_bounds_many_failing_keys(void **state)
{
  (void)state;
  budget_ra = 0;
  sched_fx_t *f = sched_fx_new(budget_floor_1);
  char key[16];
  for (int k = 0; k < 10; k++)
    for (int i = 0; i < 5; i++) {
      snprintf(key, sizeof key, "k%d", k);
      push(f, key, LOW);
    }
  unsigned attempts = 0, requests = 0, budget_ends = 0, retries_ends = 0;
  for (int step = 0; step < 10; step++) {
    fail_all_startable(f, &attempts, &requests, &budget_ends, &retries_ends);
    f->now += 100 * MS;
  }
  printf("# 10 keys x 5 failing jobs: %u attempts, %u ended by the budget\n",
         attempts, budget_ends);
  assert_int_equal(requests, 50);
  assert_int_equal(attempts - requests, 10);
  assert_int_equal(budget_ends + retries_ends, 50);
  sched_fx_free(f);
}

/* ratio 0: the budget is off, every retry max_attempts allows is made. */
static void budget_off(pacer_config_t *c)
{
  budget_cfg(c);
  c->retry_budget_ratio = 0;
}

static void budget_ratio_zero_retries_as_before(void **state)
{
  (void)state;
  budget_ra = 0;
  sched_fx_t *f = sched_fx_new(budget_off);
  for (int i = 0; i < 200; i++)
    push(f, "bad", LOW);
  unsigned attempts = 0, requests = 0, budget_ends = 0, retries_ends = 0;
  for (int step = 0; step < 10; step++) {
    fail_all_startable(f, &attempts, &requests, &budget_ends, &retries_ends);
    f->now += 100 * MS;
  }
  assert_int_equal(attempts, 600);
  assert_int_equal(budget_ends, 0);
  assert_int_equal(f->s.retries_refused, 0);
  sched_fx_free(f);
}

/* ---- slow calls ---- */

static void slow_cfg(pacer_config_t *c)
{
  c->breaker_window = 10;
  c->breaker_min_calls = 10;
  c->breaker_threshold = 0.5;
  c->breaker_cooldown_ms = 1000;
  c->breaker_probes = 1;
  c->breaker_probe_timeout_ms = 5000;
  c->breaker_slow_ms = 100;
  c->breaker_slow_threshold = 0.5;
  c->max_attempts = 1;
}

/* Ten answers 200 after 150 ms each: the jobs succeed, the breaker counts
 * them slow and opens (the slow ratio 1.0, no failure); a slow probe opens
 * it again; a quick one closes it. */
static void slow_successes_open_the_breaker(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(slow_cfg);
  pacer__job_t *jobs[10];
  for (int i = 0; i < 11; i++)
    push(f, "slow", LOW);
  assert_int_equal(start_all(f, jobs, 10), 10);
  f->now += 150 * MS;
  for (int i = 0; i < 10; i++)
    ok(f, jobs[i]); /* success for the job */
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "slow");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  assert_int_equal(f->s.slow_calls, 10);
  pacer__breaker_trip_t t = pacer__breaker_last_trip(&k->breaker);
  assert_int_equal(t.why, PACER__TRIP_SLOW);
  assert_int_equal(t.calls, 10);
  assert_true(t.slow_ratio == 1.0);
  assert_true(t.failure_ratio == 0.0);
  assert_int_equal(t.at_ns, f->now);
  assert_null(sched_fx_next(f)); /* the 11th job is held */
  /* The probe answers 200, slowly: open again. */
  f->now += 1000 * MS;
  pacer__job_t *p = sched_fx_next(f);
  assert_non_null(p);
  f->now += 101 * MS;
  assert_int_equal(done(f, p, 0, 200, -1), PACER__SCHED_END);
  assert_int_equal(p->error, 0);
  sched_fx_release(f, p);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  t = pacer__breaker_last_trip(&k->breaker);
  assert_int_equal(t.why, PACER__TRIP_PROBE | PACER__TRIP_SLOW);
  assert_int_equal(f->s.slow_calls, 11);
  /* A quick probe (exactly 100 ms is not slower than 100 ms) closes it. */
  push(f, "slow", LOW);
  f->now += 1000 * MS;
  p = sched_fx_next(f);
  assert_non_null(p);
  f->now += 100 * MS;
  ok(f, p);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  assert_int_equal(f->s.slow_calls, 11);
  sched_fx_free(f);
}

/* Under the slow threshold nothing opens: 4 slow of 10 (0.4 < 0.5); a
 * cancelled slow attempt counts for nothing; and breaker_slow_ms 0 (the
 * default) counts no call slow. */
static void slow_calls_below_the_threshold_or_off(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(slow_cfg);
  pacer__job_t *jobs[11];
  for (int i = 0; i < 11; i++)
    push(f, "k", LOW);
  assert_int_equal(start_all(f, jobs, 11), 11);
  f->now += 50 * MS;
  for (int i = 0; i < 6; i++)
    ok(f, jobs[i]);
  f->now += 100 * MS;
  jobs[10]->cancel_req = 1;
  assert_int_equal(done(f, jobs[10], PACER_ECANCELED, 0, -1), PACER__SCHED_END);
  sched_fx_release(f, jobs[10]);
  for (int i = 6; i < 10; i++)
    ok(f, jobs[i]);
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "k");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  assert_int_equal(f->s.slow_calls, 4);
  assert_int_equal(pacer__breaker_last_trip(&k->breaker).why, 0);
  sched_fx_free(f);

  f = sched_fx_new(NULL); /* defaults: slow calls off */
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  f->now += 3600 * S;
  ok(f, j);
  assert_int_equal(f->s.slow_calls, 0);
  sched_fx_free(f);
}

/* Live settings: turning the budget off lets every retry through; on again
 * (or a new window) starts every budget empty, at the floor; bad settings
 * change nothing. */
static void budget_settings_change_live(void **state)
{
  (void)state;
  budget_ra = 0;
  sched_fx_t *f = sched_fx_new(budget_no_floor);
  pacer__budget_cfg_t bc = f->s.cfg.budget, bad = bc;
  bad.window_ns = 1;
  assert_int_equal(pacer__sched_set_budget(&f->s, &bad), PACER_EINVAL);
  assert_true(f->s.cfg.budget.window_ns == bc.window_ns);
  pacer__job_t *jobs[10];
  for (int i = 0; i < 10; i++)
    push(f, "k", LOW);
  assert_int_equal(start_all(f, jobs, 10), 10);
  /* 0.2 x 10: two retries, then refusals. */
  assert_int_equal(done(f, jobs[0], 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, jobs[1], 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, jobs[2], 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(jobs[2]->error, PACER_EBUDGET);
  sched_fx_release(f, jobs[2]);
  /* Off: allowed. */
  pacer__budget_cfg_t off = bc;
  off.ratio = 0;
  assert_int_equal(pacer__sched_set_budget(&f->s, &off), 0);
  assert_null(f->s.keys.budget_cfg);
  assert_int_equal(done(f, jobs[3], 0, 503, -1), PACER__SCHED_RETRY);
  /* On again, with a floor of 1 per window: emptied, so one retry. */
  pacer__budget_cfg_t on = bc;
  on.min_per_s = 0.1; /* 1 in 10 s */
  assert_int_equal(pacer__sched_set_budget(&f->s, &on), 0);
  assert_non_null(f->s.keys.budget_cfg);
  assert_int_equal(done(f, jobs[4], 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, jobs[5], 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(jobs[5]->error, PACER_EBUDGET);
  sched_fx_release(f, jobs[5]);
  for (int i = 6; i < 10; i++)
    ok(f, jobs[i]);
  /* The waiting retries run and end (max_attempts 2). */
  f->now += 10 * MS;
  pacer__job_t *j;
  while ((j = sched_fx_next(f))) {
    ok(f, j);
  }
  sched_fx_free(f);
}

/* Slow calls turned on live: the next outcomes are judged slow. */
static void breaker_slow_changes_live(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(slow_cfg);
  assert_int_equal(pacer__sched_set_breaker_slow(&f->s, -1, 0.5), PACER_EINVAL);
  assert_int_equal(pacer__sched_set_breaker_slow(&f->s, 100 * MS, 0),
                   PACER_EINVAL);
  assert_int_equal(f->s.cfg.breaker.slow_ns, 100 * MS);
  assert_int_equal(pacer__sched_set_breaker_slow(&f->s, 0, 0.5), 0); /* off */
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  f->now += 1 * S;
  ok(f, j);
  assert_int_equal(f->s.slow_calls, 0);
  assert_int_equal(pacer__sched_set_breaker_slow(&f->s, 10 * MS, 1.0), 0);
  j = push(f, "k", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  f->now += 11 * MS;
  ok(f, j);
  assert_int_equal(f->s.slow_calls, 1);
  sched_fx_free(f);
}

static void budget_no_idle(pacer_config_t *c)
{
  budget_cfg(c);
  c->max_idle_keys = 0; /* a key with nothing to keep is forgotten at once */
}

/* An idle key whose budget holds a retry is remembered until that retry
 * leaves the window (else forgetting it would hand a failing key a fresh
 * budget), then forgotten; one with none is forgotten at once. */
static void budget_with_retries_keeps_an_idle_key(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(budget_no_idle);
  int64_t t0 = f->now; /* 1000 s: a bucket boundary */
  pacer__job_t *j = push(f, "a", LOW);
  assert_ptr_equal(sched_fx_next(f), j);
  assert_int_equal(done(f, j, 0, 503, -1), PACER__SCHED_RETRY);
  f->now += 10 * MS;
  assert_ptr_equal(sched_fx_next(f), j);
  ok(f, j);
  assert_non_null(pacer__keys_find(&f->s.keys, "a"));
  assert_int_equal(pacer__keys_remembered(&f->s.keys), 1);
  ok(f, next_of(f, push(f, "b", LOW)));
  assert_null(pacer__keys_find(&f->s.keys, "b")); /* nothing to keep */
  f->now = t0 + 10 * S - 1;
  ok(f, next_of(f, push(f, "c", LOW)));
  assert_non_null(pacer__keys_find(&f->s.keys, "a"));
  f->now = t0 + 10 * S; /* the retry's bucket has left the window */
  ok(f, next_of(f, push(f, "d", LOW)));
  assert_null(pacer__keys_find(&f->s.keys, "a"));
  sched_fx_free(f);
}

/* ---- load shedding ---- */

static pacer__job_t *shed(sched_fx_t *f)
{
  pacer__job_t *j = pacer__sched_shed_oldest_low(&f->s, &f->ended);
  if (j) {
    assert_int_equal(j->state, PACER__JOB_ENDED);
    assert_int_equal(j->error, PACER_ESHED);
    assert_int_equal(j->prio, LOW);
  }
  return j;
}

static void shed_cfg(pacer_config_t *c)
{
  c->key_concurrency = 1; /* a key with a job in flight parks */
  c->breaker_enabled = 0;
}

/* 6000 jobs over 300 keys, a fifth of them high, pushed, started, ended
 * and shed in turns with time standing still: most keys are parked (on
 * their slot, or, for the 30 with a rate of their own, on time), so the
 * ready heap alone would miss most queued jobs. Every shed must be the
 * oldest low job still queued (the lowest id: ids and seqs follow push
 * order), never a high or a started one, and shedding to the end empties
 * the low queue and leaves every high. */
static void shed_takes_the_oldest_low_across_keys_parked_or_not(void **state)
{
  (void)state;
  enum { KEYS = 300, N = 6000 };
  sched_fx_t *f = sched_fx_new(shed_cfg);
  char key[32];
  for (int i = 0; i < 30; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(
        pacer__sched_set_key_limits(&f->s, key, 0.001, 1, 0, f->now), 0);
  }
  static pacer__job_t *jobs[N + 1];
  static unsigned char prio[N + 1], queued[N + 1];
  static pacer__job_t *flight[N];
  size_t fl_head = 0, fl_tail = 0, highs = 0, nshed = 0, parked = 0;
  uint64_t oldest = 1; /* no queued low job has a lower id */
  uint32_t rnd = 12345;
  for (int i = 0; i < N; i++) {
    rnd = rnd * 1103515245u + 12345u;
    snprintf(key, sizeof key, "k%u", (rnd >> 16) % KEYS);
    int p = (rnd >> 8) % 5 == 0 ? HIGH : LOW;
    pacer__job_t *j = push(f, key, p);
    assert_true(j->id <= N);
    jobs[j->id] = j;
    prio[j->id] = (unsigned char)p;
    queued[j->id] = 1;
    highs += p == HIGH;
    if (i % 3 == 0 && (j = sched_fx_next(f))) {
      queued[j->id] = 0;
      highs -= j->prio == HIGH;
      flight[fl_tail++] = j;
    }
    if (i % 5 == 0 && fl_head < fl_tail && (rnd >> 4) % 2)
      ok(f, flight[fl_head++]);
    if (i % 4 == 0 || i == N - 1) {
      while (oldest <= f->ids && !(queued[oldest] && prio[oldest] == LOW))
        oldest++;
      pacer__job_t *want = oldest <= f->ids ? jobs[oldest] : NULL;
      if (want)
        parked += want->key->parked != PACER__PARK_NONE;
      assert_ptr_equal(shed(f), want);
      if (want) {
        queued[oldest] = 0;
        nshed++;
      }
      assert_int_equal(sched_fx_free_ended(f), want != NULL);
    }
    assert_int_equal(f->s.queued[HIGH], highs);
  }
  /* To the end: the rest of the lows, oldest first, and no high. */
  for (;;) {
    while (oldest <= f->ids && !(queued[oldest] && prio[oldest] == LOW))
      oldest++;
    pacer__job_t *want = oldest <= f->ids ? jobs[oldest] : NULL;
    assert_ptr_equal(shed(f), want);
    if (!want)
      break;
    queued[oldest] = 0;
    nshed++;
    sched_fx_free_ended(f);
  }
  assert_int_equal(f->s.queued[LOW], 0);
  assert_int_equal(f->s.queued[HIGH], highs);
  assert_int_equal(pacer__heap_len(&f->s.lows), 0);
  assert_true(highs > 0);
  assert_true(nshed > 1000);
  assert_true(parked > 100); /* the parked keys were really searched */
  while (fl_head < fl_tail)
    ok(f, flight[fl_head++]);
  sched_fx_free(f);
}

/* A job waiting to retry is not queued, so it is never shed, nor is a
 * high job; once its retry is due it is back at its key's head, and as
 * the key's oldest it goes first. */
static void shed_skips_waiting_retries_and_highs(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(NULL);
  pacer__job_t *l1 = next_of(f, push(f, "a", LOW));
  assert_int_equal(done(f, l1, 0, 503, -1), PACER__SCHED_RETRY);
  pacer__job_t *h = push(f, "a", HIGH);
  assert_null(shed(f));
  pacer__job_t *l2 = push(f, "b", LOW);
  assert_ptr_equal(shed(f), l2);
  assert_int_equal(sched_fx_free_ended(f), 1);
  pacer__job_t *l3 = push(f, "a", LOW);
  f->now += 60 * S;
  pacer__sched_tick(&f->s, f->now, &f->ended);
  assert_int_equal(l1->state, PACER__JOB_QUEUED);
  assert_ptr_equal(shed(f), l1);
  assert_ptr_equal(shed(f), l3);
  assert_null(shed(f));
  assert_int_equal(h->state, PACER__JOB_QUEUED);
  assert_int_equal(sched_fx_free_ended(f), 2);
  sched_fx_free(f);
}

/* ---- settings changed live ---- */

/* Applies f->cfg changed by tweak, as pacer_reconfigure() does; on
 * success f->cfg is the new one. Returns the scheduler's answer. */
static int reconfigure(sched_fx_t *f, void (*tweak)(pacer_config_t *c))
{
  pacer_config_t c = f->cfg;
  tweak(&c);
  pacer__sched_cfg_t sc;
  pacer__sched_cfg_from(&c, &sc);
  sc.seed = 42;
  int rc = pacer__sched_reconfigure(&f->s, &sc, f->now);
  if (rc == 0)
    f->cfg = c;
  return rc;
}

static void weights_1_1(pacer_config_t *c)
{
  c->weight_high = 1;
  c->weight_low = 1;
}

/* 4:1 until the change, 1:1 from the next start on. */
static void reconfigured_weights_apply_from_the_next_start(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(no_aging_concurrency_1);
  for (int i = 0; i < 300; i++) {
    push(f, "h", HIGH);
    push(f, "l", LOW);
  }
  int high = 0;
  for (int i = 0; i < 100; i++) {
    pacer__job_t *j = sched_fx_next(f);
    high += j->prio == HIGH;
    ok(f, j);
  }
  assert_int_equal(high, 80);
  assert_int_equal(reconfigure(f, weights_1_1), 0);
  high = 0;
  for (int i = 0; i < 100; i++) {
    pacer__job_t *j = sched_fx_next(f);
    high += j->prio == HIGH;
    ok(f, j);
  }
  assert_in_range(high, 49, 51);
  sched_fx_free(f);
}

static void strict_low_waits_10s(pacer_config_t *c)
{
  c->weight_low = 0;
  c->max_low_wait_ms = 10000;
}
static void low_waits_1s(pacer_config_t *c)
{
  c->max_low_wait_ms = 1000;
}

/* Strict priority ages a low job after max_low_wait_ms, read at each
 * start: 2 s old, the low job gets none of 5 starts under a 10 s limit,
 * then one of the next 5 (low counts as weight 1 of 4 + 1) under 1 s. */
static void reconfigured_max_low_wait_ages_at_the_next_start(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(strict_low_waits_10s);
  for (int i = 0; i < 20; i++)
    push(f, "h", HIGH);
  pacer__job_t *l = push(f, "l", LOW);
  f->now += 2 * S;
  pacer__job_t *started[10];
  int low_at = -1;
  for (int i = 0; i < 10; i++) {
    if (i == 5)
      assert_int_equal(reconfigure(f, low_waits_1s), 0);
    started[i] = sched_fx_next(f);
    if (started[i] == l)
      low_at = i;
  }
  assert_in_range(low_at, 5, 9);
  for (int i = 0; i < 10; i++)
    ok(f, started[i]);
  sched_fx_free(f);
}

static void key_defaults_slow(pacer_config_t *c)
{
  c->key_rate = 1;
  c->key_burst = 1;
  c->key_concurrency = 1;
}
static void key_defaults_fast(pacer_config_t *c)
{
  c->key_rate = 1000;
  c->key_concurrency = 2;
}

/* Keys without limits of their own take new defaults at once (a parked
 * one looks again at the next start), new keys too; a key with its own
 * keeps them. */
static void reconfigured_key_defaults_reach_keys_without_their_own(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(key_defaults_slow);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "own", 1, 1, 0, f->now),
                   0);
  pacer__job_t *a[3], *o[2];
  for (int i = 0; i < 3; i++)
    a[i] = push(f, "a", LOW);
  for (int i = 0; i < 2; i++)
    o[i] = push(f, "own", LOW);
  pacer__job_t *x = sched_fx_next(f), *y = sched_fx_next(f);
  assert_true((x == a[0] && y == o[0]) || (x == o[0] && y == a[0]));
  f->now += 1 * MS;
  assert_null(sched_fx_next(f)); /* a: cap 1 and 1/s; own: 1/s */
  assert_int_equal(reconfigure(f, key_defaults_fast), 0);
  assert_null(sched_fx_next(f)); /* a's bucket is empty: 1 ms at 1000/s */
  f->now += 1 * MS;
  assert_ptr_equal(sched_fx_next(f), a[1]); /* cap 2 now */
  assert_null(sched_fx_next(f)); /* a at its cap of 2; own still 1/s */
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "a");
  assert_true(k->base_rate == 1000);
  assert_int_equal(k->cap, 2);
  k = pacer__keys_find(&f->s.keys, "own");
  assert_true(k->base_rate == 1);
  assert_int_equal(k->cap, 0);
  pacer__job_t *n = push(f, "new", LOW); /* a new key: the new defaults */
  assert_ptr_equal(sched_fx_next(f), n);
  assert_true(n->key->base_rate == 1000);
  ok(f, x);
  ok(f, y);
  ok(f, a[1]);
  ok(f, n);
  f->now += 2 * S;
  assert_ptr_equal(sched_fx_next(f), a[2]);
  assert_ptr_equal(sched_fx_next(f), o[1]);
  ok(f, a[2]);
  ok(f, o[1]);
  sched_fx_free(f);
}

static void attempts_3(pacer_config_t *c)
{
  c->max_attempts = 3;
  c->adapt_aimd = 0;
  c->breaker_enabled = 0;
}
static void retry_settings_small(pacer_config_t *c)
{
  c->max_attempts = 1;
  c->backoff_base_ms = 1;
  c->backoff_max_ms = 1;
  c->retry_after_max_ms = 2000;
}

/* The retry settings apply at each job's next retry decision: a job
 * already waiting to retry that gives no max_attempts of its own ends at
 * its next retryable answer; one that gives its own keeps it, with the
 * new backoff and the new Retry-After cap. */
static void reconfigured_retry_settings_apply_at_the_next_decision(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(attempts_3);
  pacer__job_t *d = next_of(f, push(f, "d", LOW));
  pacer_request_t r;
  sched_fx_request(&r, "own");
  r.max_attempts = 5;
  pacer__job_t *o = next_of(f, sched_fx_push_req(f, &r));
  assert_int_equal(done(f, d, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, o, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(reconfigure(f, retry_settings_small), 0);
  f->now += 60 * S;
  pacer__job_t *x = sched_fx_next(f), *y = sched_fx_next(f);
  assert_true((x == d && y == o) || (x == o && y == d));
  assert_int_equal(done(f, d, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(d->error, PACER_ERETRIES);
  sched_fx_release(f, d);
  assert_int_equal(done(f, o, 0, 503, -1), PACER__SCHED_RETRY);
  assert_true(o->timer_ns - f->now <= 1 * MS); /* the new backoff */
  f->now += 1 * MS;
  assert_ptr_equal(sched_fx_next(f), o);
  assert_int_equal(done(f, o, 0, 429, 100 * S), PACER__SCHED_RETRY);
  assert_int_equal(o->timer_ns - f->now, 2 * S); /* the new cap */
  f->now += 2 * S;
  assert_ptr_equal(sched_fx_next(f), o);
  ok(f, o);
  sched_fx_free(f);
}

static void min_calls_2(pacer_config_t *c)
{
  c->breaker_min_calls = 2;
}
static void breaker_off(pacer_config_t *c)
{
  c->breaker_enabled = 0;
}
static void breaker_on(pacer_config_t *c)
{
  c->breaker_enabled = 1;
}
static void window_2(pacer_config_t *c)
{
  c->breaker_window = 2;
  c->breaker_min_calls = 2;
}

static void fail_one(sched_fx_t *f, const char *key)
{
  pacer__job_t *j = next_of(f, push(f, key, LOW));
  assert_int_equal(done(f, j, 0, 500, -1), PACER__SCHED_END);
  sched_fx_release(f, j);
}

/* Changed breaker settings: min_calls judges from the next outcome; a
 * smaller window keeps the newest outcomes; breakers turned off and on
 * again start CLOSED and empty. */
static void reconfigured_breaker_settings(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(breaker_cfg); /* window 4, min 4, 0.5 */
  fail_one(f, "x");
  fail_one(f, "x");
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "x");
  assert_int_equal(reconfigure(f, min_calls_2), 0);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  fail_one(f, "x"); /* 3 of 3, min 2: opens */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);

  /* Off, then on: forgotten. */
  assert_int_equal(reconfigure(f, breaker_off), 0);
  assert_int_equal(reconfigure(f, breaker_on), 0);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  assert_true(pacer__breaker_pristine(&k->breaker));

  /* Window 4 (min 2) holding S S F, shrunk to 2: S F is kept, and the
   * next success makes it F S, 1 of 2, which 0.5 opens. */
  pacer__job_t *j;
  for (int i = 0; i < 2; i++) {
    j = next_of(f, push(f, "y", LOW));
    ok(f, j);
  }
  k = pacer__keys_find(&f->s.keys, "y");
  fail_one(f, "y"); /* S S F: 1 of 3 */
  assert_int_equal(reconfigure(f, window_2), 0);
  assert_int_equal(k->breaker.known, 2); /* S F */
  assert_int_equal(k->breaker.failures, 1);
  j = next_of(f, push(f, "y", LOW));
  ok(f, j); /* F S: 1 of 2 = 0.5 opens it */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  sched_fx_free(f);
}

static void bad_weights(pacer_config_t *c)
{
  c->weight_high = 0;
  c->weight_low = 0;
  c->key_rate = 1000; /* would change, if the rest were good */
}
static void bad_rate(pacer_config_t *c)
{
  c->rate = -1;
  c->weight_high = 1;
}
static void bad_concurrency(pacer_config_t *c)
{
  c->concurrency = 0;
}
static void bad_breaker(pacer_config_t *c)
{
  c->breaker_min_calls = c->breaker_window + 1;
  c->backoff_base_ms = 1;
}
static void other_idle_keys(pacer_config_t *c)
{
  c->max_idle_keys = 7;
  c->key_concurrency = 9;
}

/* A refused configuration changes nothing: not the settings, not a key,
 * not the global bucket. */
static void reconfigure_refused_changes_nothing(void **state)
{
  (void)state;
  sched_fx_t *f = sched_fx_new(key_defaults_slow);
  pacer__job_t *j = next_of(f, push(f, "a", LOW));
  pacer__sched_cfg_t before = f->s.cfg;
  pacer__bucket_t bucket = f->s.bucket;
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "a");
  pacer__key_t kb = *k;
  assert_int_equal(reconfigure(f, bad_weights), PACER_EINVAL);
  assert_int_equal(reconfigure(f, bad_rate), PACER_ERATE);
  assert_int_equal(reconfigure(f, bad_concurrency), PACER_ECONCURRENCY);
  assert_int_equal(reconfigure(f, bad_breaker), PACER_EINVAL);
  assert_int_equal(reconfigure(f, other_idle_keys), PACER_EINVAL);
  assert_memory_equal(&f->s.cfg, &before, sizeof before);
  assert_memory_equal(&f->s.bucket, &bucket, sizeof bucket);
  assert_true(k->base_rate == kb.base_rate);
  assert_int_equal(k->base_burst, kb.base_burst);
  assert_int_equal(k->cap, kb.cap);
  assert_memory_equal(&k->bucket, &kb.bucket, sizeof kb.bucket);
  ok(f, j);
  sched_fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(weights_4_to_1_under_saturation),
      cmocka_unit_test(weights_apply_to_tokens),
      cmocka_unit_test(fifo_within_priority_across_keys),
      cmocka_unit_test(sparse_high_takes_the_next_token),
      cmocka_unit_test(lone_highs_behind_aged_low_backlog),
      cmocka_unit_test(weights_hold_behind_aged_low_backlog),
      cmocka_unit_test(strict_priority_aging_bounds_both),
      cmocka_unit_test(retry_at_head_does_not_hide_aged_lows),
      cmocka_unit_test(bucket_admits_exactly_burst_plus_rate_times_60),
      cmocka_unit_test(wake_is_the_next_token_time),
      cmocka_unit_test(clock_jump_of_ten_years_leaves_burst),
      cmocka_unit_test(one_per_hour_is_exact),
      cmocka_unit_test(a_million_per_second_is_exact),
      cmocka_unit_test(blocked_key_takes_no_global_token),
      cmocka_unit_test(global_and_key_concurrency_caps),
      cmocka_unit_test(breaker_walks_closed_open_half_open_closed_open),
      cmocka_unit_test(breaker_probe_that_never_returns_times_out),
      cmocka_unit_test(breaker_fail_fast_ends_held_jobs),
      cmocka_unit_test(breaker_later_probe_keeps_its_own_deadline),
      cmocka_unit_test(breaker_ignores_attempts_cut_by_the_deadline),
      cmocka_unit_test(retry_after_pauses_the_whole_key),
      cmocka_unit_test(retry_after_is_capped),
      cmocka_unit_test(idle_key_with_a_pause_is_remembered),
      cmocka_unit_test(crawl_over_100000_keys_stays_bounded),
      cmocka_unit_test(backoff_then_retries_exhausted),
      cmocka_unit_test(transport_errors_retry_too_large_does_not),
      cmocka_unit_test(post_retried_only_when_allowed),
      cmocka_unit_test(post_not_retried_only_when_a_retry_was_due),
      cmocka_unit_test(retry_statuses_choose_what_is_retried),
      cmocka_unit_test(deadline_and_queue_wait_while_queued),
      cmocka_unit_test(deadline_while_waiting_and_in_flight),
      cmocka_unit_test(cancel_in_each_state),
      cmocka_unit_test(cancel_all_ends_queue_and_stops_retries),
      cmocka_unit_test(job_due_at_the_end_of_time_still_ends),
      cmocka_unit_test(retry_after_from_another_origin_pauses_no_key),
      cmocka_unit_test(budget_bounds_a_failing_key),
      cmocka_unit_test(budget_leaves_a_key_on_its_announced_quota),
      cmocka_unit_test(budget_floor_lets_a_quiet_key_retry),
      cmocka_unit_test(budget_failing_key_leaves_a_healthy_key_its_own),
      cmocka_unit_test(budget_global_bounds_many_failing_keys),
      cmocka_unit_test(budget_ratio_zero_retries_as_before),
      cmocka_unit_test(slow_successes_open_the_breaker),
      cmocka_unit_test(slow_calls_below_the_threshold_or_off),
      cmocka_unit_test(budget_settings_change_live),
      cmocka_unit_test(budget_with_retries_keeps_an_idle_key),
      cmocka_unit_test(breaker_slow_changes_live),
      cmocka_unit_test(shed_takes_the_oldest_low_across_keys_parked_or_not),
      cmocka_unit_test(shed_skips_waiting_retries_and_highs),
      cmocka_unit_test(reconfigured_weights_apply_from_the_next_start),
      cmocka_unit_test(reconfigured_max_low_wait_ages_at_the_next_start),
      cmocka_unit_test(reconfigured_key_defaults_reach_keys_without_their_own),
      cmocka_unit_test(reconfigured_retry_settings_apply_at_the_next_decision),
      cmocka_unit_test(reconfigured_breaker_settings),
      cmocka_unit_test(reconfigure_refused_changes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
