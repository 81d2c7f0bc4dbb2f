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
#include "scheduler.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S PACER__NS_PER_S
#define MS PACER__NS_PER_MS
#define HIGH PACER_PRIORITY_HIGH
#define LOW PACER_PRIORITY_LOW

typedef struct fx {
  pacer_config_t cfg;
  pacer__sched_t s;
  int64_t now;
  pacer__link_t ended;
  uint64_t ids;
} fx_t;

typedef void (*tweak_fn)(pacer_config_t *c);

static fx_t *fx_new(tweak_fn tweak)
{
  fx_t *f = calloc(1, sizeof *f);
  pacer_config_t in;
  pacer_config_init(&in);
  in.max_low_wait_ms = 0;
  in.concurrency = 1000000;
  if (tweak)
    tweak(&in);
  assert_int_equal(pacer__config_resolve(&in, &f->cfg), 0);
  pacer__sched_cfg_t sc;
  pacer__sched_cfg_from(&f->cfg, &sc);
  sc.seed = 42;
  assert_int_equal(pacer__sched_init(&f->s, &sc), 0);
  f->now = 1000 * S;
  pacer__list_init(&f->ended);
  return f;
}

static void free_job(fx_t *f, pacer__job_t *j)
{
  pacer__sched_release(&f->s, j);
  pacer__job_free(j);
}

static size_t free_ended(fx_t *f)
{
  size_t n = 0;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&f->ended))) {
    free_job(f, pacer__job_of(l));
    n++;
  }
  return n;
}

/* Ends whatever is left (in-flight jobs are the test's to pass in). */
static void fx_free(fx_t *f)
{
  pacer__sched_cancel_all(&f->s, &f->ended);
  free_ended(f);
  pacer__sched_destroy(&f->s);
  pacer__config_release(&f->cfg);
  free(f);
}

static pacer__job_t *push_req(fx_t *f, pacer_request_t *r)
{
  char key[PACER__KEY_MAX];
  pacer__job_t *j;
  assert_int_equal(pacer__job_new(r, &f->cfg, f->now, &j, key, sizeof key), 0);
  j->id = ++f->ids;
  assert_int_equal(pacer__sched_push(&f->s, j, key, f->now), 0);
  return j;
}

static pacer__job_t *push(fx_t *f, const char *key, int prio)
{
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/x";
  r.key = key;
  r.priority = (pacer_priority_t)prio;
  return push_req(f, &r);
}

static pacer__job_t *next(fx_t *f)
{
  pacer__sched_tick(&f->s, f->now, &f->ended);
  return pacer__sched_next(&f->s, f->now, &f->ended);
}

/* Ends j's attempt; frees it if the job ended. Returns the decision. */
static int done(fx_t *f, pacer__job_t *j, int error, int status,
                int64_t retry_after_ns)
{
  pacer__attempt_end_t e = {error, status, retry_after_ns, 0};
  int r = pacer__sched_done(&f->s, j, &e, f->now);
  return r;
}

static void ok(fx_t *f, pacer__job_t *j)
{
  assert_int_equal(done(f, j, 0, 200, -1), PACER__SCHED_END);
  assert_int_equal(j->error, 0);
  free_job(f, j);
}

static size_t free_ended_count_errors(fx_t *f, int error)
{
  size_t n = 0;
  pacer__link_t *l;
  while ((l = pacer__list_pop_front(&f->ended))) {
    pacer__job_t *j = pacer__job_of(l);
    n += j->error == error;
    free_job(f, j);
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
  fx_t *f = fx_new(no_aging_concurrency_1);
  for (int i = 0; i < 3000; i++) {
    push(f, "a", HIGH);
    push(f, "b", LOW);
  }
  int low = 0;
  for (int i = 0; i < 2500; i++) {
    pacer__job_t *j = next(f);
    assert_non_null(j);
    assert_null(next(f)); /* one slot */
    low += j->prio == LOW;
    ok(f, j);
  }
  double share = low / 2500.0;
  fprintf(stderr, "weights 4:1, one slot: %d of 2500 starts low (%.2f%%)\n",
          low, 100 * share);
  assert_true(share >= 0.19 && share <= 0.21);
  fx_free(f);
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
  fx_t *f = fx_new(rate_100_burst_1);
  for (int i = 0; i < 1500; i++) {
    push(f, "a", HIGH);
    push(f, "b", LOW);
  }
  int low = 0, total = 0;
  for (int64_t t = 0; t <= 10 * S; t += MS) {
    f->now = 1000 * S + t;
    pacer__job_t *j;
    while ((j = next(f))) {
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
  fx_free(f);
}

static void fifo_within_priority_across_keys(void **state)
{
  (void)state;
  fx_t *f = fx_new(no_aging_concurrency_1);
  const char *keys[] = {"a", "b", "c", "b", "a", "c", "c", "a"};
  uint64_t ids[8];
  for (int i = 0; i < 8; i++)
    ids[i] = push(f, keys[i], LOW)->id;
  for (int i = 0; i < 8; i++) {
    pacer__job_t *j = next(f);
    assert_non_null(j);
    assert_int_equal(j->id, ids[i]);
    ok(f, j);
  }
  assert_null(next(f));
  fx_free(f);
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
  fx_t *f = fx_new(rate_1000_burst_1);
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
    while ((j = next(f))) {
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
  fx_free(f);
}

static int aging_on;
static void aging_cfg(pacer_config_t *c)
{
  c->weight_high = 1000;
  c->weight_low = 1;
  c->rate = 10; /* a token every 100 ms */
  c->burst = 1;
  c->max_low_wait_ms = aging_on ? 500 : 0;
}

/* Returns the longest queue wait of a low job, in ns, over 30 s with the
 * high queue saturated and a low job arriving every 500 ms; a low job still
 * queued at the end counts with its wait so far. */
static int64_t longest_low_wait(void)
{
  fx_t *f = fx_new(aging_cfg);
  for (int i = 0; i < 400; i++)
    push(f, "h", HIGH);
  int64_t pushed[64];
  int npushed = 0, lows = 0;
  int64_t worst = 0;
  for (int64_t t = 0; t <= 30 * S; t += MS) {
    f->now = 1000 * S + t;
    if (t % (500 * MS) == 0)
      pushed[npushed++] = push(f, "l", LOW)->submit_ns;
    pacer__job_t *j;
    while ((j = next(f))) {
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
  fx_free(f);
  return worst;
}

static void aging_after_cfg(pacer_config_t *c)
{
  c->rate = 50; /* a token every 20 ms; weights 4:1 */
  c->burst = 1;
  c->max_low_wait_ms = 2000;
}

/* Picks forced by aging do not count in the weighting: once the aged jobs
 * are gone, a fresh low job gets its 1-in-5 share at once, not after a run
 * of high jobs making up for the aging episode. */
static void aging_leaves_no_high_burst(void **state)
{
  (void)state;
  fx_t *f = fx_new(aging_after_cfg);
  int64_t t0 = f->now, fresh_sub[5], worst = 0, last_old = 0;
  for (int i = 0; i < 200; i++)
    push(f, "old", LOW);
  int fresh = 0;
  for (int64_t t = 0; t <= 20 * S && fresh < 5; t += MS) {
    f->now = t0 + t;
    if (t == 100 * MS)
      for (int i = 0; i < 400; i++)
        push(f, "h", HIGH);
    if (t == 7 * S)
      for (int i = 0; i < 5; i++)
        fresh_sub[i] = push(f, "fresh", LOW)->submit_ns;
    pacer__job_t *j;
    while ((j = next(f))) {
      if (strcmp(j->key->name, "fresh") == 0) {
        int64_t w = f->now - fresh_sub[fresh++];
        worst = w > worst ? w : worst;
      } else if (strcmp(j->key->name, "old") == 0) {
        last_old = t;
      }
      ok(f, j);
    }
  }
  fprintf(stderr,
          "aging 2 s at 50/s, 4:1: old lows done at %.2f s; 5 fresh lows "
          "at 7 s waited at most %.0f ms\n",
          last_old / 1e9, worst / 1e6);
  assert_true(last_old < 7 * S); /* the aging episode was over */
  assert_int_equal(fresh, 5);
  /* 5 fresh lows at 1 in 5 picks of 20 ms: 25 picks, plus one. */
  assert_true(worst <= 26 * 20 * MS);
  fx_free(f);
}

static void aging_bounds_low_wait(void **state)
{
  (void)state;
  aging_on = 1;
  int64_t with = longest_low_wait();
  fprintf(stderr,
          "aging 500 ms, weights 1000:1, 10 tokens/s: longest low "
          "wait %.1f ms\n",
          with / 1e6);
  /* The limit, plus at most one token interval until the next start. */
  assert_true(with <= 500 * MS + 100 * MS);
  aging_on = 0;
  int64_t without = longest_low_wait();
  fprintf(stderr, "same without aging: longest low wait %.1f ms\n",
          without / 1e6);
  assert_true(without > 5 * S); /* weights alone starve low for long */
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
  fx_t *f = fx_new(rate_50_burst_5);
  int64_t t0 = f->now;
  for (int i = 0; i < 4000; i++)
    push(f, "k", LOW);
  int n = 0;
  for (int64_t t = 0; t <= 60 * S; t += MS) {
    f->now = t0 + t;
    pacer__job_t *j;
    while ((j = next(f))) {
      n++;
      ok(f, j);
    }
  }
  fprintf(stderr, "rate 50/s burst 5 over 60 s in 1 ms steps: %d admitted\n",
          n);
  assert_int_equal(n, 5 + 50 * 60);
  fx_free(f);
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
  fx_t *f = fx_new(rate_3);
  int64_t t0 = f->now;
  for (int i = 0; i < 400; i++)
    push(f, "k", LOW);
  int n = 0;
  while (f->now <= t0 + 60 * S) {
    pacer__job_t *j;
    while ((j = next(f))) {
      n++;
      ok(f, j);
    }
    int64_t w = pacer__sched_wake(&f->s, f->now);
    /* Nothing can start a nanosecond before the wake time. */
    int64_t save = f->now;
    f->now = w - 1;
    if (f->now > save)
      assert_null(next(f));
    f->now = w;
  }
  assert_int_equal(n, 1 + 3 * 60);
  fx_free(f);
}

static void clock_jump_of_ten_years_leaves_burst(void **state)
{
  (void)state;
  fx_t *f = fx_new(rate_50_burst_5);
  for (int i = 0; i < 20; i++)
    push(f, "k", LOW);
  for (int i = 0; i < 5; i++)
    ok(f, next(f));
  assert_null(next(f));
  f->now += INT64_C(10) * 365 * 24 * 3600 * S;
  for (int i = 0; i < 5; i++)
    ok(f, next(f));
  assert_null(next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 20 * MS);
  fx_free(f);
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
  fx_t *f = fx_new(rate_var);
  int64_t t0 = f->now;
  for (int i = 0; i < 3; i++)
    push(f, "k", LOW);
  ok(f, next(f));
  assert_null(next(f));
  assert_int_equal(pacer__sched_wake(&f->s, f->now), t0 + 3600 * S);
  f->now = t0 + 3600 * S - 1;
  assert_null(next(f));
  f->now = t0 + 3600 * S;
  ok(f, next(f));
  assert_null(next(f));
  fx_free(f);
}

static void a_million_per_second_is_exact(void **state)
{
  (void)state;
  tiny_huge_rate = 1e6;
  fx_t *f = fx_new(rate_var);
  int64_t t0 = f->now;
  for (int i = 0; i < 8; i++)
    push(f, "k", LOW);
  long n = 0;
  for (int64_t t = 0; t <= S; t += 1000) { /* 1 us steps */
    f->now = t0 + t;
    pacer__job_t *j;
    while ((j = next(f))) {
      n++;
      ok(f, j);
      push(f, "k", LOW);
    }
  }
  assert_int_equal(n, 1 + 1000000);
  fx_free(f);
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
  fx_t *f = fx_new(global_10_burst_1);
  pacer_key_limits_t lim = {1, 1, 0};
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "slow", lim.rate,
                                               lim.burst, 0, f->now),
                   0);
  pacer__job_t *s1 = push(f, "slow", LOW);
  pacer__job_t *s2 = push(f, "slow", LOW);
  pacer__job_t *fast = push(f, "fast", LOW);
  assert_ptr_equal(next(f), s1);
  assert_null(next(f));
  f->now += 100 * MS; /* a global token; slow's next key token is at +1 s */
  assert_ptr_equal(next(f), fast);
  assert_null(next(f));
  f->now += 900 * MS;
  assert_ptr_equal(next(f), s2);
  ok(f, s1);
  ok(f, fast);
  ok(f, s2);
  fx_free(f);
}

static void cap_3(pacer_config_t *c)
{
  c->concurrency = 3;
}

static void global_and_key_concurrency_caps(void **state)
{
  (void)state;
  fx_t *f = fx_new(cap_3);
  assert_int_equal(pacer__sched_set_key_limits(&f->s, "a", 0, 1, 1, f->now), 0);
  pacer__job_t *a[3], *b[3];
  for (int i = 0; i < 3; i++) {
    a[i] = push(f, "a", LOW);
    b[i] = push(f, "b", LOW);
  }
  assert_ptr_equal(next(f), a[0]);
  assert_ptr_equal(next(f), b[0]);
  assert_ptr_equal(next(f), b[1]); /* a is at its cap of 1 */
  assert_null(next(f));            /* global cap of 3 */
  ok(f, a[0]);
  assert_ptr_equal(next(f), a[1]); /* older than b[2] */
  assert_null(next(f));
  ok(f, b[0]);
  assert_ptr_equal(next(f), b[2]);
  ok(f, b[1]);
  assert_null(next(f)); /* a still at its cap */
  ok(f, a[1]);
  assert_ptr_equal(next(f), a[2]);
  ok(f, b[2]);
  ok(f, a[2]);
  assert_int_equal(f->s.inflight, 0);
  fx_free(f);
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

static void fail_four(fx_t *f)
{
  for (int i = 0; i < 4; i++) {
    pacer__job_t *j = next(f);
    assert_non_null(j);
    assert_string_equal(j->key->name, "bad");
    assert_int_equal(done(f, j, 0, 500, -1), PACER__SCHED_END);
    free_job(f, j);
  }
}

static void breaker_walks_closed_open_half_open_closed_open(void **state)
{
  (void)state;
  fail_fast = 0;
  fx_t *f = fx_new(breaker_cfg);
  for (int i = 0; i < 14; i++)
    push(f, "bad", LOW);
  fail_four(f);
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "bad");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  /* Held: nothing of "bad" starts, other keys flow. */
  pacer__job_t *g = push(f, "good", LOW);
  assert_ptr_equal(next(f), g);
  ok(f, g);
  assert_null(next(f));
  assert_true(f->s.held_by_breaker > 0);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 10 * S);
  f->now += 10 * S;
  pacer__job_t *p1 = next(f), *p2 = next(f);
  assert_non_null(p1);
  assert_non_null(p2);
  assert_null(next(f)); /* exactly 2 probes */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_HALF_OPEN);
  ok(f, p1);
  assert_null(next(f));
  ok(f, p2);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_CLOSED);
  /* Closed: the held jobs flow, and four failures open it again. */
  fail_four(f);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  assert_null(next(f));
  /* A failed probe reopens it. */
  f->now += 10 * S;
  pacer__job_t *p3 = next(f), *p4 = next(f);
  assert_non_null(p3);
  assert_non_null(p4);
  assert_int_equal(done(f, p3, PACER_ETRANSPORT, 0, -1), PACER__SCHED_END);
  free_job(f, p3);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  ok(f, p4); /* stale: cannot close it */
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  fx_free(f);
}

static void breaker_probe_that_never_returns_times_out(void **state)
{
  (void)state;
  fail_fast = 0;
  fx_t *f = fx_new(breaker_cfg);
  for (int i = 0; i < 8; i++)
    push(f, "bad", LOW);
  fail_four(f);
  f->now += 10 * S;
  pacer__job_t *p1 = next(f), *p2 = next(f);
  assert_null(next(f));
  /* The key waits for the probes, at most until the probe timeout. */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 5 * S);
  f->now += 5 * S;
  assert_null(next(f)); /* reopened, cooling down again */
  pacer__key_t *k = pacer__keys_find(&f->s.keys, "bad");
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  ok(f, p1);
  ok(f, p2);
  assert_int_equal(pacer__breaker_state(&k->breaker, f->now),
                   PACER_BREAKER_OPEN);
  fx_free(f);
}

static void breaker_fail_fast_ends_held_jobs(void **state)
{
  (void)state;
  fail_fast = 1;
  fx_t *f = fx_new(breaker_cfg);
  for (int i = 0; i < 7; i++)
    push(f, "bad", LOW);
  fail_four(f);
  assert_null(next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EBREAKER), 3);
  fx_free(f);
}

/* ---- retries ---- */

static void retry_after_pauses_the_whole_key(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  int64_t t0 = f->now;
  pacer__job_t *j1 = push(f, "k", LOW);
  assert_ptr_equal(next(f), j1);
  pacer__job_t *j2 = push(f, "k", LOW);
  pacer__job_t *j3 = push(f, "k", HIGH);
  pacer__job_t *o = push(f, "other", LOW);
  assert_int_equal(done(f, j1, 0, 429, 2 * S), PACER__SCHED_RETRY);
  assert_int_equal(j1->state, PACER__JOB_WAITING);
  assert_ptr_equal(next(f), o); /* only the other key flows */
  assert_null(next(f));
  ok(f, o);
  assert_int_equal(pacer__sched_wake(&f->s, f->now), t0 + 2 * S);
  f->now = t0 + 2 * S - 1;
  assert_null(next(f));
  f->now = t0 + 2 * S;
  pacer__job_t *a = next(f), *b = next(f), *c = next(f);
  assert_ptr_equal(a, j3); /* high first */
  assert_ptr_equal(b, j1); /* the retry goes first within low */
  assert_ptr_equal(c, j2);
  assert_int_equal(j1->attempts, 2);
  ok(f, a);
  ok(f, b);
  ok(f, c);
  fx_free(f);
}

static void retry_after_is_capped(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL); /* cap 1 hour */
  int64_t t0 = f->now;
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(next(f), j);
  assert_int_equal(done(f, j, 0, 503, 86400 * S), PACER__SCHED_RETRY);
  assert_int_equal(j->timer_ns, t0 + 3600 * S);
  f->now = t0 + 3600 * S;
  assert_ptr_equal(next(f), j);
  ok(f, j);
  fx_free(f);
}

static void backoff_then_retries_exhausted(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL); /* 3 attempts, base 200 ms */
  pacer__job_t *j = push(f, "k", LOW);
  for (int attempt = 1; attempt <= 3; attempt++) {
    assert_ptr_equal(next(f), j);
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
  free_job(f, j);
  fx_free(f);
}

static void transport_errors_retry_too_large_does_not(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  pacer__job_t *j = push(f, "k", LOW);
  assert_ptr_equal(next(f), j);
  assert_int_equal(done(f, j, PACER_ETRANSPORT, 0, -1), PACER__SCHED_RETRY);
  f->now = j->timer_ns;
  assert_ptr_equal(next(f), j);
  assert_int_equal(done(f, j, PACER_ETOOLARGE, 200, -1), PACER__SCHED_END);
  assert_int_equal(j->error, PACER_ETOOLARGE);
  free_job(f, j);
  fx_free(f);
}

static void post_retried_only_when_allowed(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/send";
  r.method = "POST";
  pacer__job_t *plain = push_req(f, &r);
  r.flags = PACER_REQ_RETRY_UNSAFE;
  pacer__job_t *opted = push_req(f, &r);
  r.flags = 0;
  pacer_header_t h = {"Idempotency-Key", "abc"};
  r.headers = &h;
  r.header_count = 1;
  pacer__job_t *keyed = push_req(f, &r);
  pacer__job_t *a = next(f), *b = next(f), *c = next(f);
  assert_ptr_equal(a, plain);
  assert_int_equal(done(f, a, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(a->error, 0); /* not retried: the 503 ends it */
  assert_int_equal(done(f, b, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(done(f, c, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_RETRY);
  (void)opted;
  (void)keyed;
  free_job(f, a);
  fx_free(f);
}

/* ---- deadlines ---- */

static void queue_wait_1s(pacer_config_t *c)
{
  c->max_queue_wait_ms = 1000;
  c->concurrency = 1;
}

static pacer__job_t *push_deadline(fx_t *f, const char *key, int64_t ms)
{
  pacer_request_t r;
  pacer_request_init(&r);
  r.url = "http://example.test/x";
  r.key = key;
  r.deadline_ms = ms;
  return push_req(f, &r);
}

static void deadline_and_queue_wait_while_queued(void **state)
{
  (void)state;
  fx_t *f = fx_new(queue_wait_1s);
  pacer__job_t *busy = push(f, "k", LOW);
  assert_ptr_equal(next(f), busy);
  push_deadline(f, "k", 500); /* ends by its deadline */
  push(f, "k", LOW);          /* ends by the queue-wait limit */
  assert_int_equal(pacer__sched_wake(&f->s, f->now), f->now + 500 * MS);
  f->now += 500 * MS;
  assert_null(next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EDEADLINE), 1);
  f->now += 500 * MS;
  assert_null(next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EEXPIRED), 1);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  ok(f, busy);
  fx_free(f);
}

static void deadline_while_waiting_and_in_flight(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  /* A retry due after the deadline ends the job at once. */
  pacer__job_t *a = push_deadline(f, "k", 1000);
  assert_ptr_equal(next(f), a);
  assert_int_equal(done(f, a, 0, 429, 5 * S), PACER__SCHED_END);
  assert_int_equal(a->error, PACER_EDEADLINE);
  free_job(f, a);
  /* An attempt that times out at the deadline ends with EDEADLINE. */
  pacer__job_t *b = push_deadline(f, "k2", 1000);
  assert_ptr_equal(next(f), b);
  f->now += 1000 * MS;
  assert_int_equal(done(f, b, PACER_ETIMEDOUT, 0, -1), PACER__SCHED_END);
  assert_int_equal(b->error, PACER_EDEADLINE);
  free_job(f, b);
  /* A deadline that passes while waiting to retry. */
  pacer__job_t *c = push_deadline(f, "k3", 1000);
  assert_ptr_equal(next(f), c);
  assert_int_equal(done(f, c, 0, 503, 900 * MS), PACER__SCHED_RETRY);
  f->now += 900 * MS;
  assert_ptr_equal(next(f), c); /* retried in time */
  assert_int_equal(done(f, c, 0, 503, 50 * MS), PACER__SCHED_RETRY);
  f->now += 100 * MS; /* due at +950 ms was missed by the test: deadline */
  assert_null(next(f));
  assert_int_equal(free_ended_count_errors(f, PACER_EDEADLINE), 1);
  fx_free(f);
}

/* ---- cancel ---- */

static void cancel_in_each_state(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  pacer__job_t *q = push(f, "k", LOW);
  pacer__job_t *run = push(f, "k", LOW);
  assert_int_equal(pacer__sched_cancel(&f->s, q, &f->ended), 1);
  assert_int_equal(pacer__sched_cancel(&f->s, q, &f->ended), PACER_ENOTFOUND);
  assert_ptr_equal(next(f), run);
  assert_int_equal(pacer__sched_cancel(&f->s, run, &f->ended), 0);
  assert_int_equal(pacer__sched_cancel(&f->s, run, &f->ended), PACER_ENOTFOUND);
  /* The attempt completes anyway: the cancel wins, no retry. */
  assert_int_equal(done(f, run, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(run->error, PACER_ECANCELED);
  free_job(f, run);
  pacer__job_t *w = push(f, "k", LOW);
  assert_ptr_equal(next(f), w);
  assert_int_equal(done(f, w, 0, 503, -1), PACER__SCHED_RETRY);
  assert_int_equal(pacer__sched_cancel(&f->s, w, &f->ended), 1);
  assert_int_equal(free_ended_count_errors(f, PACER_ECANCELED), 2);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  fx_free(f);
}

static void cancel_all_ends_queue_and_stops_retries(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  pacer__job_t *run = push(f, "a", HIGH);
  assert_ptr_equal(next(f), run);
  pacer__job_t *w = push(f, "b", LOW);
  assert_ptr_equal(next(f), w);
  assert_int_equal(done(f, w, 0, 503, -1), PACER__SCHED_RETRY);
  for (int i = 0; i < 5; i++)
    push(f, i % 2 ? "a" : "c", i % 2);
  pacer__sched_cancel_all(&f->s, &f->ended);
  assert_int_equal(free_ended_count_errors(f, PACER_ECANCELED), 6);
  assert_int_equal(pacer__sched_backlog(&f->s), 0);
  /* The in-flight one finishes, and is not retried. */
  assert_int_equal(done(f, run, 0, 503, -1), PACER__SCHED_END);
  assert_int_equal(run->error, 0);
  assert_null(run->resp);
  free_job(f, run);
  fx_free(f);
}

/* A 429 with Retry-After that came from another origin, at the end of a
 * followed redirect: that host never spoke for the key, so the key goes on;
 * the job's own retry still waits as asked. */
static void retry_after_from_another_origin_pauses_no_key(void **state)
{
  (void)state;
  fx_t *f = fx_new(NULL);
  int64_t t0 = f->now;
  pacer__job_t *j1 = push(f, "k", LOW);
  assert_ptr_equal(next(f), j1);
  pacer__job_t *j2 = push(f, "k", LOW);
  pacer__attempt_end_t e = {
      .error = 0, .status = 429, .retry_after_ns = 2 * S, .other_origin = 1};
  assert_int_equal(pacer__sched_done(&f->s, j1, &e, f->now),
                   PACER__SCHED_RETRY);
  assert_int_equal(j1->timer_ns, t0 + 2 * S); /* this job waits */
  assert_ptr_equal(next(f), j2);              /* its key does not */
  ok(f, j2);
  f->now = t0 + 2 * S;
  assert_ptr_equal(next(f), j1);
  /* The job's own origin answering the same pauses the key. */
  pacer__job_t *j3 = push(f, "k", LOW);
  e.other_origin = 0;
  assert_int_equal(pacer__sched_done(&f->s, j1, &e, f->now),
                   PACER__SCHED_RETRY);
  assert_null(next(f));
  f->now = t0 + 4 * S;
  pacer__job_t *a = next(f), *b = next(f);
  assert_ptr_equal(a, j1);
  assert_ptr_equal(b, j3);
  ok(f, a);
  ok(f, b);
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(weights_4_to_1_under_saturation),
      cmocka_unit_test(weights_apply_to_tokens),
      cmocka_unit_test(fifo_within_priority_across_keys),
      cmocka_unit_test(sparse_high_takes_the_next_token),
      cmocka_unit_test(aging_bounds_low_wait),
      cmocka_unit_test(aging_leaves_no_high_burst),
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
      cmocka_unit_test(retry_after_pauses_the_whole_key),
      cmocka_unit_test(retry_after_is_capped),
      cmocka_unit_test(backoff_then_retries_exhausted),
      cmocka_unit_test(transport_errors_retry_too_large_does_not),
      cmocka_unit_test(post_retried_only_when_allowed),
      cmocka_unit_test(deadline_and_queue_wait_while_queued),
      cmocka_unit_test(deadline_while_waiting_and_in_flight),
      cmocka_unit_test(cancel_in_each_state),
      cmocka_unit_test(cancel_all_ends_queue_and_stops_retries),
      cmocka_unit_test(retry_after_from_another_origin_pauses_no_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
