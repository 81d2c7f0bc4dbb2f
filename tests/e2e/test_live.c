/* SPDX-License-Identifier: MIT */
/* test_live.c - every setting live (issue #17 part 6) against a real
 * pacer-mock on loopback: pacer_reconfigure() while jobs flow, judged by
 * what the server saw. Rates are judged by the server's arrival times, with
 * bounds that are what the token bucket guarantees (burst + rate x span)
 * plus slack for a slow machine; counts are exact. Moments the test acts on
 * are marked at the server by a request to a path of their own, so the
 * server's clock places them among the arrivals. Callbacks only record
 * (recorder.h); every check runs on the test's thread. LIVE_FILTER=GLOB in
 * the environment runs only the cases whose names match. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e.h"
#include <errno.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* Submits a GET of path?job=tag (the server counts arrivals per job id)
 * under key; returns its id. */
static uint64_t submit_job(pacer_t *p, const char *path, const char *key,
                           int job)
{
  char url[512], rel[256];
  snprintf(rel, sizeof rel, "%s%cjob=%d", path, strchr(path, '?') ? '&' : '?',
           job);
  mock_url(url, sizeof url, &mock, rel);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  q.key = key;
  uint64_t id = 0;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id), 0);
  return id;
}

/* Marks "now" at the server: a request of its own to path, answered at
 * once. */
static void mark(const char *path)
{
  assert_int_equal(mock_post(&mock, path), 0);
}

/* The server's time of the (one) arrival on path, or fails. */
static double mark_t(const mock_arrival_t *a, size_t n, const char *path)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(a[i].path, path) == 0)
      return a[i].t_ms;
  fail_msg("no arrival on %s", path);
  return 0;
}

/* Arrivals on path in the server's time (from, to]. */
static size_t count_in(const mock_arrival_t *a, size_t n, const char *path,
                       double from, double to)
{
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(a[i].path, path) == 0 && a[i].t_ms > from && a[i].t_ms <= to)
      c++;
  return c;
}

/* The most arrivals on path in any span [t, t + span_ms) that starts at an
 * arrival in (from, to), counting only arrivals before to. */
static size_t max_window(const mock_arrival_t *a, size_t n, const char *path,
                         double from, double to, double span_ms)
{
  size_t best = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(a[i].path, path) != 0 || a[i].t_ms <= from || a[i].t_ms >= to)
      continue;
    double end = a[i].t_ms + span_ms < to ? a[i].t_ms + span_ms : to;
    size_t c = 0;
    for (size_t j = i; j < n && a[j].t_ms < end; j++)
      if (strcmp(a[j].path, path) == 0)
        c++;
    if (c > best)
      best = c;
  }
  return best;
}

/* How many arrivals each job id got on path: counts[job] for job in
 * [0, njobs). */
static void per_job(const mock_arrival_t *a, size_t n, const char *path,
                    unsigned *counts, int njobs)
{
  memset(counts, 0, (size_t)njobs * sizeof *counts);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(a[i].path, path) != 0)
      continue;
    int j = atoi(a[i].job);
    assert_true(j >= 0 && j < njobs);
    counts[j]++;
  }
}

static mock_arrival_t *arrivals(size_t *n)
{
  mock_arrival_t *a = mock_arrivals(&mock, NULL, n);
  assert_non_null(a);
  return a;
}

/* Jobs flowing at 200/s; after 100 have ended the rate is lowered to 20/s
 * (burst 2 kept), and after 30 more it is raised to 200/s again. The
 * server sees, from the lowering on, at most burst + 20 a second (plus
 * slack: what was granted before it and is still on its way, and arrival
 * jitter), and after the raise the rest come at more than twice the low
 * pace. */
static void rate_lowered_and_raised_while_jobs_flow(void **state)
{
  (void)state;
  enum { N = 400 };
  const double scale = timing_scale();
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 200;
  c.burst = 2;
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  static uint64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, "/pace", "pace", i);

  assert_int_equal(rec_wait_for(&rec, 100, 60000), 0);
  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  assert_true(live.rate == 200);
  assert_int_equal(live.burst, 2);
  live.rate = 20;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  mark("/mark-low");
  int64_t low_ns = rec_now_ns();
  size_t at_low = rec_count(&rec);
  pacer_config_t got;
  pacer_config_init(&got);
  assert_int_equal(pacer_config_get(p, &got), 0);
  assert_true(got.rate == 20);

  assert_int_equal(rec_wait_for(&rec, at_low + 30, 60000), 0);
  live.rate = 200;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  mark("/mark-high");
  int64_t high_ns = rec_now_ns();
  size_t at_high = rec_count(&rec);
  assert_int_equal(pacer_drain(p, 60000), 0);
  int64_t end_ns = rec_now_ns();
  pacer_free(p);
  rec_assert_all(&rec, ids, N, 0, 200);
  rec_assert_once(&rec, ids, N);

  size_t n;
  mock_arrival_t *a = arrivals(&n);
  double t_low = mark_t(a, n, "/mark-low"), t_high = mark_t(a, n, "/mark-high");
  size_t low = count_in(a, n, "/pace", t_low, t_high);
  size_t low_1s = max_window(a, n, "/pace", t_low, t_high, 1000);
  size_t after = count_in(a, n, "/pace", t_high, 1e12);
  double low_s = (t_high - t_low) / 1000;
  double high_s = (double)(end_ns - high_ns) / 1e9;
  double high_rate = (double)(N - at_high) / high_s;
  /* In flight at each change and jitter of arrivals: a few requests. */
  const double slack = 5 * scale;
  printf("# 200/s, lowered to 20/s after %zu jobs: %zu arrivals in %.2f s "
         "(client %.2f s), at most %zu in any second; raised after %zu: "
         "%zu jobs ended in %.2f s (%.0f/s)\n",
         at_low, low, low_s, (double)(high_ns - low_ns) / 1e9, low_1s, at_high,
         N - at_high, high_s, high_rate);
  assert_int_equal(count_in(a, n, "/pace", -1, 1e12), N);
  assert_true(after >= N - at_high);
  /* The bucket's promise: burst + rate x span, from the change on. */
  assert_true((double)low_1s <= 2 + 20 + slack);
  assert_true((double)low <= 2 + 20 * low_s + slack);
  /* At 200/s, about 200 a second would have come: the 30 jobs that ended
   * took most of their 1.5 s at the low pace. */
  assert_true(low_s >= (30 - 2 - slack) / 20.0);
  /* Raised: the rest came faster than twice the low pace (at 200/s they
   * take about 1.3 s; at 20/s they would take 13 s). */
  assert_true(high_rate > 40);
  free(a);
}

/* A server answering 503 to everything. max_attempts 1: each job makes
 * one attempt. Raised live to 3 with the retry budget off: each new job is
 * retried twice. The budget turned back on live (ratio 0.1, a floor of 1 in
 * its minute): the server sees at most (1 + 0.1) x the jobs plus the floor. */
static void max_attempts_and_budget_changed_live(void **state)
{
  (void)state;
  enum { N = 40 };
  const char *path = "/fail?fail503_rate=1";
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 20;
  c.max_attempts = 1;
  c.backoff_base_ms = 5;
  c.backoff_max_ms = 20;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0; /* bare 503s would slow the key, not what is tested */
  c.retry_budget_ratio = 0;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  static uint64_t ids[3 * N];
  static unsigned counts[3 * N];

  /* Before: one attempt each. */
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, path, "fail", i);
  assert_int_equal(pacer_drain(p, 60000), 0);

  /* max_attempts 3, budget off: every new job is tried 3 times. */
  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.max_attempts = 3;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  for (int i = N; i < 2 * N; i++)
    ids[i] = submit_job(p, path, "fail", i);
  assert_int_equal(pacer_drain(p, 60000), 0);

  /* The budget on: 10% of the minute's requests, floor 1 in the window. */
  live.retry_budget_ratio = 0.1;
  live.retry_budget_min_per_s = 1.0 / 60;
  live.retry_budget_window_ms = 60000;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  for (int i = 2 * N; i < 3 * N; i++)
    ids[i] = submit_job(p, path, "fail", i);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, 3 * N);

  size_t n;
  mock_arrival_t *a = arrivals(&n);
  per_job(a, n, "/fail", counts, 3 * N);
  unsigned third = 0, budget_ends = 0;
  for (int i = 2 * N; i < 3 * N; i++)
    third += counts[i];
  for (int i = 0; i < N; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(counts[i], 1);
    assert_int_equal(r->attempts, 1);
    assert_int_equal(r->error, PACER_ERETRIES);
    assert_int_equal(r->status, 503);
  }
  for (int i = N; i < 2 * N; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(counts[i], 3);
    assert_int_equal(r->attempts, 3);
    assert_int_equal(r->error, PACER_ERETRIES);
  }
  for (int i = 2 * N; i < 3 * N; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(counts[i], r->attempts);
    assert_int_equal(r->status, 503);
    if (r->error == PACER_EBUDGET)
      budget_ends++;
    else
      assert_int_equal(r->error, PACER_ERETRIES);
  }
  printf("# 503 server: %d jobs at max_attempts 1 -> %d requests; raised "
         "to 3 -> %d; budget 0.1 on -> %u requests, %u jobs ended by it; "
         "stats retried %llu, refused %llu\n",
         N, N, 3 * N, third, budget_ends, (unsigned long long)st->retried,
         (unsigned long long)st->retries_refused);
  assert_true(third >= N);
  assert_true(third <= N + N / 10 + 1);
  assert_true(budget_ends >= N - (N / 10 + 1));
  assert_int_equal(st->retries_refused, budget_ends);
  assert_int_equal(st->retried, (uint64_t)(2 * N + (third - N)));
  assert_int_equal(st->started, (uint64_t)(N + 3 * N + third));
  pacer_stats_free(st);
  free(a);
}

/* Polls the stats until the (one) key has want jobs queued and its
 * breaker has held them (the gate has looked at them), for at most
 * 10 s x scale; none may be in flight meanwhile. */
static void wait_held(pacer_t *p, unsigned want)
{
  int64_t until = rec_now_ns() + (int64_t)(10e9 * timing_scale());
  for (;;) {
    pacer_stats_t *st;
    assert_int_equal(pacer_stats_get(p, &st), 0);
    unsigned q = st->key_count ? (unsigned)st->keys[0].queued : 0;
    unsigned inflight = (unsigned)st->in_flight;
    uint64_t held = st->held_by_breaker;
    pacer_stats_free(st);
    assert_int_equal(inflight, 0);
    if (q >= want && held >= 1)
      return;
    assert_true(rec_now_ns() < until);
    sleep_ms(5);
  }
}

/* A host answering 500 to everything. Breaker off: every job reaches it.
 * Turned on live with a window of 5: the next 5 failures open it, and with
 * breaker_fail_fast the later jobs end with PACER_EBREAKER without reaching
 * the server. fail_fast turned off live: jobs are held in the queue, not
 * sent; the breaker turned off live: the held jobs go. */
static void breaker_settings_changed_live(void **state)
{
  (void)state;
  const char *path = "/down?fail_rate=1";
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[43];
  int k = 0;

  for (; k < 20; k++) /* breaker off */
    ids[k] = submit_job(p, path, "down", k);
  assert_int_equal(pacer_drain(p, 60000), 0);
  assert_int_equal(mock_stat(&mock, "total"), 20);

  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.breaker_enabled = 1;
  live.breaker_window = 5;
  live.breaker_min_calls = 5;
  live.breaker_threshold = 0.5;
  live.breaker_cooldown_ms = 600000; /* stays open for the test */
  live.breaker_fail_fast = 1;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  for (; k < 25; k++) /* start CLOSED and empty: these 5 reach the server */
    ids[k] = submit_job(p, path, "down", k);
  assert_int_equal(pacer_drain(p, 60000), 0);
  for (; k < 35; k++) /* open, fail fast */
    ids[k] = submit_job(p, path, "down", k);
  assert_int_equal(pacer_drain(p, 60000), 0);
  long long after_open = mock_stat(&mock, "total");

  live.breaker_fail_fast = 0; /* held instead */
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  for (; k < 38; k++)
    ids[k] = submit_job(p, path, "down", k);
  wait_held(p, 3);
  long long while_held = mock_stat(&mock, "total");
  size_t ended_held = rec_count(&rec);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  assert_int_equal(st->key_count, 1);
  assert_int_equal(st->keys[0].breaker, PACER_BREAKER_OPEN);
  uint64_t held = st->held_by_breaker;
  pacer_stats_free(st);

  live.breaker_enabled = 0; /* the held jobs go */
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, 38);
  long long total = mock_stat(&mock, "total");
  printf("# 500 host: 20 jobs breaker off -> 20 requests; on (window 5): "
         "%lld after 15 more, %s; fail_fast off: 3 held (held_by_breaker "
         "%llu), server at %lld; breaker off: %lld\n",
         after_open, pacer_err_name(rec_of(&rec, ids[25])->error),
         (unsigned long long)held, while_held, total);
  for (int i = 0; i < 25; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->status, 500);
    assert_int_equal(r->attempts, 1);
  }
  for (int i = 25; i < 35; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->error, PACER_EBREAKER);
    assert_int_equal(r->attempts, 0);
  }
  for (int i = 35; i < 38; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(r->status, 500);
    assert_int_equal(r->attempts, 1);
  }
  assert_int_equal(after_open, 25);
  assert_int_equal(while_held, 25);
  assert_int_equal(ended_held, 35);
  assert_true(held >= 1);
  assert_int_equal(total, 28);
}

/* A backlog of 100 jobs at 50/s under PACER_QUEUE_FAIL; queue_max lowered
 * live from 1000 to 20. Submits get PACER_EFULL while the backlog is at 20
 * or more, and one is accepted once it is below; no job accepted before is
 * lost: each ends once, with the server's 200. */
static void queue_max_lowered_under_the_backlog(void **state)
{
  (void)state;
  enum { N = 100, BOUND = 20 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 50;
  c.burst = 1;
  c.max_attempts = 1;
  c.queue_max = 1000;
  c.queue_policy = PACER_QUEUE_FAIL;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  static uint64_t ids[N + 1];
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, "/backlog", NULL, i);

  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.queue_max = BOUND;
  assert_int_equal(pacer_reconfigure(p, &live), 0);

  char url[512];
  mock_url(url, sizeof url, &mock, "/backlog?job=100");
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  unsigned refused = 0;
  int64_t until = rec_now_ns() + (int64_t)(30e9 * timing_scale());
  for (;;) {
    /* The backlog only shrinks (nothing else submits): what the stats said
     * before a refused submit is at least the bound, what they say after an
     * accepted one at most the bound. */
    pacer_stats_t *st;
    assert_int_equal(pacer_stats_get(p, &st), 0);
    uint64_t before = st->queued_low + st->queued_high;
    pacer_stats_free(st);
    uint64_t id = 0;
    int rc = pacer_submit(p, &q, rec_on_done, &rec, &id);
    if (rc == 0) {
      ids[N] = id;
      assert_int_equal(pacer_stats_get(p, &st), 0);
      uint64_t after = st->queued_low + st->queued_high;
      pacer_stats_free(st);
      assert_true(after <= BOUND);
      break;
    }
    assert_int_equal(rc, PACER_EFULL);
    assert_true(before >= BOUND);
    refused++;
    assert_true(rec_now_ns() < until);
    sleep_ms(10);
  }
  size_t ended_at_accept = rec_count(&rec);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  printf("# backlog %d, queue_max lowered to %d: %u submits refused, one "
         "accepted after %zu jobs ended\n",
         N, BOUND, refused, ended_at_accept);
  assert_true(refused >= 1);
  /* Below the bound only once N - BOUND + 1 jobs had left the queue (a
   * started job leaves it; at most the in-flight ones have not ended). */
  rec_assert_once(&rec, ids, N + 1);
  rec_assert_all(&rec, ids, N + 1, 0, 200);
  assert_int_equal(mock_stat(&mock, "total"), N + 1);
}

/* Jobs at 20/s (burst 1); a reconfigure that also asks 200/s but changes a
 * fixed field (workers, then timeout_ms) is refused with PACER_EINVAL and
 * changes nothing: the settings read back are the old ones, and the
 * server still sees at most burst + 20 a second. */
static void refused_reconfigure_changes_nothing(void **state)
{
  (void)state;
  enum { N = 30 };
  const double scale = timing_scale();
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 20;
  c.burst = 1;
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[N];
  int64_t t0 = rec_now_ns();
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, "/steady", NULL, i);
  assert_int_equal(rec_wait_for(&rec, 5, 60000), 0);

  pacer_config_t before, want, after;
  pacer_config_init(&before);
  assert_int_equal(pacer_config_get(p, &before), 0);
  want = before;
  want.rate = 200;
  want.workers = before.workers + 1;
  assert_int_equal(pacer_reconfigure(p, &want), PACER_EINVAL);
  want = before;
  want.rate = 200;
  want.timeout_ms = before.timeout_ms + 1000;
  assert_int_equal(pacer_reconfigure(p, &want), PACER_EINVAL);
  mark("/mark-refused");
  pacer_config_init(&after);
  assert_int_equal(pacer_config_get(p, &after), 0);
  assert_true(after.rate == 20);
  assert_int_equal(after.burst, 1);
  assert_int_equal(after.workers, before.workers);
  assert_int_equal(after.timeout_ms, before.timeout_ms);
  assert_memory_equal(&after, &before, sizeof before);

  assert_int_equal(pacer_drain(p, 60000), 0);
  int64_t t1 = rec_now_ns();
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  rec_assert_all(&rec, ids, N, 0, 200);

  size_t n;
  mock_arrival_t *a = arrivals(&n);
  double t_mark = mark_t(a, n, "/mark-refused");
  size_t rest = count_in(a, n, "/steady", t_mark, 1e12);
  size_t win = max_window(a, n, "/steady", t_mark, 1e12, 1000);
  double last = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(a[i].path, "/steady") == 0)
      last = a[i].t_ms;
  double rest_s = (last - t_mark) / 1000;
  double all_s = (double)(t1 - t0) / 1e9;
  printf("# 20/s, refused reconfigures to 200/s: %zu arrivals in the %.2f s "
         "after, at most %zu in any second; %d jobs in %.2f s\n",
         rest, rest_s, win, N, all_s);
  assert_true((double)win <= 1 + 20 + 5 * scale);
  assert_true((double)rest <= 1 + 20 * rest_s + 5 * scale);
  /* The pace stayed: N jobs at 20/s with a burst of 1 take (N - 1) / 20 s
   * at least, a bound the bucket sets (at 200/s: 0.15 s). */
  assert_true(all_s >= (N - 1) / 20.0 - 0.01);
  free(a);
}

/* Jobs waiting 1 s to retry (a 503 with Retry-After: 1) at max_attempts 5;
 * max_attempts lowered live to 2 while they wait: each keeps the time it
 * was given, makes its second attempt and ends there. The server sees 2
 * requests per job, not 5. */
static void max_attempts_lowered_while_jobs_wait_to_retry(void **state)
{
  (void)state;
  enum { N = 10 };
  const char *path = "/later?fail503_rate=1&retry_after=1";
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 5;
  c.breaker_enabled = 0;
  c.retry_budget_ratio = 0;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[N];
  unsigned counts[N];
  /* A key each: a Retry-After pauses the key of the job it answered, and
   * the jobs are to make their first attempts at once. */
  for (int i = 0; i < N; i++) {
    char key[32];
    snprintf(key, sizeof key, "later-%d", i);
    ids[i] = submit_job(p, path, key, i);
  }
  /* Every first attempt answered (the decisions may still be on their
   * way: those read the new max_attempts, and retry all the same). */
  int64_t until = rec_now_ns() + (int64_t)(10e9 * timing_scale());
  while (mock_stat(&mock, "total") < N) {
    assert_true(rec_now_ns() < until);
    sleep_ms(5);
  }
  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.max_attempts = 2;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  mark("/mark-attempts");
  size_t ended_early = rec_count(&rec);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  size_t n;
  mock_arrival_t *a = arrivals(&n);
  per_job(a, n, "/later", counts, N);
  printf("# %d jobs waiting on Retry-After: 1, max_attempts 5 -> 2: %zu "
         "requests (%zu jobs had ended at the change)\n",
         N, n - 1, ended_early);
  /* What the test relies on: the change came before any second attempt
   * (so before any decision after one). */
  double t_mark = mark_t(a, n, "/mark-attempts");
  unsigned seen[N] = {0};
  for (size_t i = 0; i < n; i++) {
    if (strcmp(a[i].path, "/later") != 0)
      continue;
    int j = atoi(a[i].job);
    if (seen[j]++ == 1)
      assert_true(a[i].t_ms > t_mark);
  }
  assert_int_equal(ended_early, 0);
  for (int i = 0; i < N; i++) {
    const rec_entry_t *r = rec_of(&rec, ids[i]);
    assert_int_equal(counts[i], 2);
    assert_int_equal(r->attempts, 2);
    assert_int_equal(r->error, PACER_ERETRIES);
    assert_int_equal(r->status, 503);
  }
  free(a);
}

typedef struct blocked_submit {
  pacer_t *p;
  const char *url;
  int rc;
  uint64_t id;
} blocked_submit_t;

static void *submit_thread(void *arg)
{
  blocked_submit_t *b = arg;
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = b->url;
  b->rc = pacer_submit(b->p, &q, rec_on_done, &rec, &b->id);
  return NULL;
}

/* A submit blocked at the bound under PACER_QUEUE_BLOCK (5 queued, one job
 * every 5 s) returns PACER_EFULL once queue_policy is switched live to
 * PACER_QUEUE_FAIL, and takes nothing; the queued jobs are then cancelled,
 * each ending once. */
static void blocked_submit_refused_when_policy_turns_to_fail(void **state)
{
  (void)state;
  enum { N = 6 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 0.2;
  c.burst = 1;
  c.max_attempts = 1;
  c.queue_max = 5;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[N + 1];
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, "/slowq", NULL, i);
  assert_int_equal(rec_wait_for(&rec, 1, 60000), 0); /* the burst's one */
  char url[512];
  mock_url(url, sizeof url, &mock, "/slowq?job=6");
  blocked_submit_t b = {p, url, 1, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, submit_thread, &b), 0);
  sleep_ms(100); /* most likely blocked by now; refused either way */
  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.queue_policy = PACER_QUEUE_FAIL;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(b.rc, PACER_EFULL);
  ids[N] = b.id; /* 0: it must have no callback */
  assert_int_equal(pacer_shutdown(p, PACER_SHUTDOWN_CANCEL), 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N + 1);
  assert_int_equal(rec_of(&rec, ids[0])->status, 200);
  for (int i = 1; i < N; i++)
    assert_int_equal(rec_of(&rec, ids[i])->error, PACER_ECANCELED);
  assert_int_equal(mock_stat(&mock, "total"), 1);
}

/* A key's jobs at 10 in flight against a server answering after 100 ms;
 * key_concurrency lowered live to 2: once the attempts out at the change
 * have ended, no 90 ms span at the server holds more than 2 arrivals (each
 * slot's next request follows its answer, 100 ms after its arrival). */
static void key_concurrency_lowered_live(void **state)
{
  (void)state;
  enum { N = 40 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.key_concurrency = 10;
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  uint64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = submit_job(p, "/capped?latency_ms=100", "capped", i);
  assert_int_equal(rec_wait_for(&rec, 10, 60000), 0);
  pacer_config_t live;
  pacer_config_init(&live);
  assert_int_equal(pacer_config_get(p, &live), 0);
  live.key_concurrency = 2;
  assert_int_equal(pacer_reconfigure(p, &live), 0);
  mark("/mark-cap");
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  rec_assert_all(&rec, ids, N, 0, 200);
  size_t n;
  mock_arrival_t *a = arrivals(&n);
  double t_mark = mark_t(a, n, "/mark-cap");
  /* The attempts out at the change end within 100 ms of it, plus slack. */
  double settled = t_mark + 100 + 50 * timing_scale();
  size_t before = count_in(a, n, "/capped", -1, t_mark);
  size_t worst = max_window(a, n, "/capped", settled, 1e12, 90);
  size_t peak0 = max_window(a, n, "/capped", -1, t_mark, 90);
  printf("# key_concurrency 10 -> 2 at 100 ms a request: %zu arrivals "
         "before the change (at most %zu in 90 ms), at most %zu in 90 ms "
         "after it settled\n",
         before, peak0, worst);
  assert_true(worst <= 2);
  free(a);
}

int main(void)
{
  if (!mock_available())
    return MOCK_SKIP;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getenv("LIVE_FILTER"))
    cmocka_set_test_filter(getenv("LIVE_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rate_lowered_and_raised_while_jobs_flow),
      cmocka_unit_test(max_attempts_and_budget_changed_live),
      cmocka_unit_test(breaker_settings_changed_live),
      cmocka_unit_test(queue_max_lowered_under_the_backlog),
      cmocka_unit_test(refused_reconfigure_changes_nothing),
      cmocka_unit_test(max_attempts_lowered_while_jobs_wait_to_retry),
      cmocka_unit_test(blocked_submit_refused_when_policy_turns_to_fail),
      cmocka_unit_test(key_concurrency_lowered_live),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
