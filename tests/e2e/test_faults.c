/* SPDX-License-Identifier: MIT */
/* test_faults.c - the circuit breaker, retries and a storm of faults against
 * a real pacer-mock on loopback. Every figure about what was sent is counted
 * by the server (its arrivals, with their times); every figure about how jobs
 * ended is counted in the callbacks, under a lock, and checked on the main
 * thread after pacer_drain(). Nothing sleeps to wait: waits are drains, and
 * time bounds come from the configuration under test (cool-down,
 * Retry-After), checked as lower bounds, which load cannot break. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e.h"
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_key_limits(pacer_t *p, const char *key, double rate,
                           unsigned burst, unsigned concurrency)
{
  pacer_key_limits_t lim = {sizeof lim, rate, burst, concurrency};
  assert_int_equal(pacer_key_limits_set(p, key, &lim), 0);
}

/* ---- the server's arrivals ---- */

typedef mock_arrival_t arrival_t;

/* Every arrival since the last reset, in time order; free() it. */
static arrival_t *arrivals(size_t *n)
{
  arrival_t *a = mock_arrivals(&mock, NULL, n);
  assert_non_null(a);
  for (size_t i = 1; i < *n; i++)
    assert_true(a[i].t_ms >= a[i - 1].t_ms);
  return a;
}

/* The arrivals whose path is path, in order; free() it. */
static arrival_t *arrivals_on(const arrival_t *all, size_t n, const char *path,
                              size_t *out_n)
{
  arrival_t *a = calloc(n ? n : 1, sizeof *a);
  assert_non_null(a);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i].path, path) == 0)
      a[k++] = all[i];
  *out_n = k;
  return a;
}

static size_t count_between(const arrival_t *a, size_t n, double from,
                            double to)
{
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += a[i].t_ms > from && a[i].t_ms < to;
  return c;
}

/* ---- 3. the circuit breaker ---- */

/* Key "bad" (/bad) answers 503 until FAIL_UNTIL_MS after the reset, then 200;
 * key "good" (/good) always answers 200. The bad key's breaker must open
 * after WINDOW failures, hold its jobs (no arrival) for the cool-down while
 * the good key carries on, let exactly PROBES probes through after each
 * cool-down, and once the path has recovered, close and let every held job
 * end with 200. The bad key may have PROBES attempts in flight: then both
 * probes start together, and at most PROBES - 1 attempts admitted while
 * CLOSED can still arrive after the one that opened it. */
enum {
  WINDOW = 10,
  COOLDOWN_MS = 500,
  PROBES = 2,
  FAIL_UNTIL_MS = 2000,
  N_BAD = 30,
  N_GOOD = 120, /* at 20/s: 6 s, well past the recovery */
  GOOD_RATE = 20
};

static void breaker_opens_holds_probes_and_recovers(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  c.breaker_window = WINDOW;
  c.breaker_min_calls = WINDOW;
  c.breaker_threshold = 0.5;
  c.breaker_cooldown_ms = COOLDOWN_MS;
  c.breaker_probes = PROBES;
  c.breaker_fail_fast = 0; /* the default: an open breaker holds jobs */
  c.max_attempts = 100;    /* enough for every cycle until the recovery */
  c.backoff_base_ms = 1;
  c.backoff_max_ms = 10;
  /* The bare 503s would also slow key bad (AIMD) below what fills the
   * breaker's window; the breaker alone is looked at here. */
  c.adapt_aimd = 0;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  set_key_limits(p, "bad", 0, 0, PROBES);
  set_key_limits(p, "good", GOOD_RATE, 1, 0);

  uint64_t bad[N_BAD], good[N_GOOD];
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  char path[128];
  for (int i = 0; i < N_GOOD; i++) {
    if (i < N_BAD) {
      snprintf(path, sizeof path, "/bad?job=bad%d&fail_until_ms=%d", i,
               FAIL_UNTIL_MS);
      bad[i] = submit_path(p, path, "bad", PACER_PRIORITY_LOW, 0);
    }
    snprintf(path, sizeof path, "/good?job=good%d", i);
    good[i] = submit_path(p, path, "good", PACER_PRIORITY_LOW, 0);
  }
  assert_int_equal(pacer_drain(p, 120000), 0);

  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  uint64_t held = st->held_by_breaker;
  int bad_state = -1;
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, "bad") == 0)
      bad_state = (int)st->keys[i].breaker;
  pacer_stats_free(st);
  pacer_free(p);

  /* Every held job ended once, with 200, once the path had recovered. */
  assert_int_equal(rec_count(&rec), N_BAD + N_GOOD);
  rec_assert_distinct(&rec);
  unsigned bad_attempts = 0;
  for (int i = 0; i < N_BAD; i++) {
    const rec_entry_t *r = rec_of(&rec, bad[i]);
    assert_int_equal(r->error, 0);
    assert_int_equal(r->status, 200);
    bad_attempts += r->attempts;
  }
  for (int i = 0; i < N_GOOD; i++) {
    const rec_entry_t *r = rec_of(&rec, good[i]);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->attempts, 1);
  }
  assert_true(held > 0);
  if (bad_state >= 0) /* a key that went idle may have been forgotten */
    assert_int_equal(bad_state, PACER_BREAKER_CLOSED);

  size_t n, nb, ng;
  arrival_t *all = arrivals(&n);
  arrival_t *b = arrivals_on(all, n, "/bad", &nb);
  arrival_t *g = arrivals_on(all, n, "/good", &ng);
  free(all);
  assert_int_equal(nb, bad_attempts); /* no drops here: one per attempt */
  assert_int_equal(ng, N_GOOD);
  /* The mock's own contract: 503 before FAIL_UNTIL_MS, 200 from then on. */
  for (size_t i = 0; i < nb; i++)
    assert_int_equal(b[i].status, b[i].t_ms < FAIL_UNTIL_MS ? 503 : 200);

  printf("# breaker: window %d, cool-down %d ms, %d probes; /bad fails until "
         "%d ms\n",
         WINDOW, COOLDOWN_MS, PROBES, FAIL_UNTIL_MS);

  /* Opening: it opened no sooner than the WINDOW-th arrival (its outcome
   * came after it), so nothing admitted later can arrive within a cool-down
   * of that arrival. Counting the arrivals in that span therefore checks the
   * hold: the window's own, plus at most PROBES - 1 admitted while CLOSED
   * and still in flight. */
  assert_true(nb >= WINDOW);
  double trip = b[WINDOW - 1].t_ms; /* it opened after this arrival */
  size_t i = 0;
  while (i < nb && b[i].t_ms < trip + COOLDOWN_MS)
    i++;
  printf("#   CLOSED: %zu arrivals, all 503, t %.1f..%.1f ms; opened after "
         "the %dth (t %.1f)\n",
         i, b[0].t_ms, b[i - 1].t_ms, WINDOW, trip);
  assert_true(i >= WINDOW && i <= WINDOW + PROBES - 1);
  for (size_t k = 0; k < i; k++)
    assert_int_equal(b[k].status, 503);

  /* Then cycles: after each cool-down exactly PROBES probes, started
   * together. While one of them fails, the breaker opens again, no sooner
   * than the group's first arrival, so again nothing else may arrive within
   * a cool-down of it: the group is exactly PROBES arrivals. When all of
   * them succeed it closes and the held jobs follow, all 200. */
  int failed_cycles = 0, recovered = 0;
  while (!recovered) {
    assert_true(i < nb); /* a probe group must follow every cool-down */
    size_t first = i;
    double start = b[first].t_ms;
    size_t good_in_gap = count_between(g, ng, trip, start);
    printf("#   OPEN %.1f ms (from %.1f to %.1f), %zu /good arrivals in it\n",
           start - trip, trip, start, good_in_gap);
    assert_true(good_in_gap >= 1); /* the hold is the bad key's alone */
    assert_true(first + PROBES <= nb);
    int ok = 1;
    for (size_t k = first; k < first + PROBES; k++)
      ok &= b[k].status == 200;
    if (ok) {
      /* Both probes succeeded: CLOSED; the rest are the held jobs. */
      for (size_t k = first; k < nb; k++)
        assert_int_equal(b[k].status, 200);
      printf("#   HALF_OPEN: %d probes at %.1f, %.1f ms got 200 -> CLOSED; "
             "then %zu held attempts by %.1f ms, all 200\n",
             PROBES, b[first].t_ms, b[first + 1].t_ms, nb - first - PROBES,
             b[nb - 1].t_ms);
      assert_true(start >= FAIL_UNTIL_MS);
      recovered = 1;
      break;
    }
    while (i < nb && b[i].t_ms < start + COOLDOWN_MS)
      i++;
    printf("#   HALF_OPEN: %zu arrivals at %.1f..%.1f ms (statuses %d, %d) -> "
           "OPEN\n",
           i - first, start, b[i - 1].t_ms, b[first].status,
           b[first + 1].status);
    assert_int_equal(i - first, PROBES);
    failed_cycles++;
    trip = start; /* it reopened after the failing probe arrived */
  }
  printf("#   %d failed probe cycles, %zu /bad arrivals for %d jobs, "
         "held_by_breaker %llu, /good arrivals %zu\n",
         failed_cycles, nb, N_BAD, (unsigned long long)held, ng);
  assert_true(failed_cycles >= 1);
  free(b);
  free(g);
}

/* ---- 4. retries ---- */

/* The arrivals of one job id, in order. Returns how many; at most cap. */
static size_t job_arrivals(const arrival_t *all, size_t n, const char *job,
                           arrival_t *out, size_t cap)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(all[i].job, job) == 0) {
      if (k < cap)
        out[k] = all[i];
      k++;
    }
  return k;
}

/* (a) A 429 with Retry-After: 1 pauses its key for a second: the job is
 * retried no sooner, and the key's other jobs (one in flight at a time, so
 * they are queued when the 429 lands) wait as well, while another key goes
 * on. */
static void retry_after_pauses_the_key(void **state)
{
  (void)state;
  enum { N_SAME = 5, N_OTHER = 15 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 3;
  c.backoff_base_ms = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  set_key_limits(p, "ra", 0, 0, 1);
  set_key_limits(p, "other", 10, 1, 0);
  uint64_t first, same[N_SAME], other[N_OTHER];
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  first = submit_path(
      p, "/ra?job=ra-429&fail_first=1&fail_status=429&retry_after=1", "ra",
      PACER_PRIORITY_LOW, 0);
  char path[64];
  for (int i = 0; i < N_SAME; i++) {
    snprintf(path, sizeof path, "/ra?job=ra%d", i);
    same[i] = submit_path(p, path, "ra", PACER_PRIORITY_LOW, 0);
  }
  for (int i = 0; i < N_OTHER; i++) {
    snprintf(path, sizeof path, "/other?job=other%d", i);
    other[i] = submit_path(p, path, "other", PACER_PRIORITY_LOW, 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);

  assert_int_equal(rec_count(&rec), 1 + N_SAME + N_OTHER);
  rec_assert_distinct(&rec);
  assert_int_equal(rec_of(&rec, first)->error, 0);
  assert_int_equal(rec_of(&rec, first)->status, 200);
  assert_int_equal(rec_of(&rec, first)->attempts, 2);
  for (int i = 0; i < N_SAME; i++) {
    assert_int_equal(rec_of(&rec, same[i])->status, 200);
    assert_int_equal(rec_of(&rec, same[i])->attempts, 1);
  }
  for (int i = 0; i < N_OTHER; i++)
    assert_int_equal(rec_of(&rec, other[i])->status, 200);

  size_t n, nra, no;
  arrival_t *all = arrivals(&n);
  arrival_t *ra = arrivals_on(all, n, "/ra", &nra);
  arrival_t *ot = arrivals_on(all, n, "/other", &no);
  arrival_t two[4];
  assert_int_equal(job_arrivals(all, n, "ra-429", two, 4), 2);
  free(all);
  assert_int_equal(nra, 2 + N_SAME); /* the 429, its retry, the others */
  assert_int_equal(no, N_OTHER);
  /* The 429 came first on its key; the next arrival of that key, the retry
   * (a retry goes first within its key), a second or more later. */
  assert_string_equal(ra[0].job, "ra-429");
  assert_int_equal(ra[0].status, 429);
  assert_string_equal(ra[1].job, "ra-429");
  assert_int_equal(ra[1].status, 200);
  double t429 = two[0].t_ms, gap = two[1].t_ms - two[0].t_ms;
  size_t other_in_pause = count_between(ot, no, t429, two[1].t_ms);
  printf("# Retry-After: 1 -> retried after %.1f ms; next arrival of key "
         "'ra' after %.1f ms; %zu arrivals of key 'other' meanwhile\n",
         gap, ra[1].t_ms - t429, other_in_pause);
  assert_true(gap >= 1000.0);
  assert_int_equal(count_between(ra, nra, t429, t429 + 1000.0), 0);
  assert_true(other_in_pause >= 1); /* the pause is the key's alone */
  free(ra);
  free(ot);
}

/* (b) 503 without Retry-After is retried after a full-jitter exponential
 * backoff: retry n waits a uniform time in [0, base * 2^(n-1)]. Full jitter
 * allows any wait down to 0, so no single gap has a lower bound; what the
 * spec does fix is the cap, and the cap doubles. So many jobs are sent, each
 * must take exactly 3 attempts (3 arrivals: 503, 503, 200), and the second
 * retry must wait longer than the first retry's cap in a good share of them:
 * P(gap2 > base) = 1/2, and at least a quarter of 100 jobs fail that only
 * with probability below 1e-6. Load can only lengthen gaps, so it cannot
 * make this fail. The means are printed (expected base/2 and base). */
static void retries_back_off_exponentially(void **state)
{
  (void)state;
  enum { N = 100, BASE_MS = 400 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 3;
  c.backoff_base_ms = BASE_MS;
  c.backoff_max_ms = 60000;
  c.concurrency = 2 * N;
  c.breaker_enabled = 0;    /* 200 failures in a row are the point here */
  c.adapt_aimd = 0;         /* and each job's own backoff, not its key's rate */
  c.retry_budget_ratio = 0; /* and every job's two retries (e2e.budget) */
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t *r = calloc(N, sizeof *r);
  assert_non_null(r);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  char path[96];
  for (int i = 0; i < N; i++) {
    snprintf(path, sizeof path, "/bo?job=bo%d&fail_first=2&fail_status=503", i);
    r[i] = submit_path(p, path, NULL, PACER_PRIORITY_LOW, 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, r, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(rec_of(&rec, r[i])->error, 0);
    assert_int_equal(rec_of(&rec, r[i])->status, 200);
    assert_int_equal(rec_of(&rec, r[i])->attempts, 3);
  }
  free(r);

  size_t n;
  arrival_t *all = arrivals(&n);
  assert_int_equal(n, 3 * N);
  double sum1 = 0, sum2 = 0, min1 = 1e9, min2 = 1e9, max1 = 0, max2 = 0;
  int beyond = 0; /* second gaps longer than the first retry's cap */
  for (int i = 0; i < N; i++) {
    char job[16];
    arrival_t a[4];
    snprintf(job, sizeof job, "bo%d", i);
    assert_int_equal(job_arrivals(all, n, job, a, 4), 3);
    assert_int_equal(a[0].status, 503);
    assert_int_equal(a[1].status, 503);
    assert_int_equal(a[2].status, 200);
    double g1 = a[1].t_ms - a[0].t_ms, g2 = a[2].t_ms - a[1].t_ms;
    sum1 += g1;
    sum2 += g2;
    min1 = g1 < min1 ? g1 : min1;
    min2 = g2 < min2 ? g2 : min2;
    max1 = g1 > max1 ? g1 : max1;
    max2 = g2 > max2 ? g2 : max2;
    beyond += g2 > BASE_MS;
  }
  free(all);
  printf("# backoff base %d ms, %d jobs x 3 attempts: first gap min/mean/max "
         "%.1f/%.1f/%.1f ms (cap %d), second gap %.1f/%.1f/%.1f ms (cap %d); "
         "%d second gaps beyond %d ms\n",
         BASE_MS, N, min1, sum1 / N, max1, BASE_MS, min2, sum2 / N, max2,
         2 * BASE_MS, beyond, BASE_MS);
  assert_true(beyond >= N / 4);
}

/* (c) A job that always fails stops at max_attempts (the dispatcher's, or
 * its own) with PACER_ERETRIES and the last status; the server saw exactly
 * that many attempts. */
static void retries_stop_at_max_attempts(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 4;
  c.backoff_base_ms = 10;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t ids[2];
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  ids[0] = submit_path(p, "/ex?job=ex-a&fail_first=100", NULL,
                       PACER_PRIORITY_LOW, 0);
  ids[1] = submit_path(p, "/ex?job=ex-b&fail_first=100&fail_status=500", NULL,
                       PACER_PRIORITY_LOW, 2);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, 2);
  rec_entry_t a = *rec_of(&rec, ids[0]), b = *rec_of(&rec, ids[1]);

  size_t n;
  arrival_t *all = arrivals(&n);
  arrival_t seen[8];
  size_t na = job_arrivals(all, n, "ex-a", seen, 8);
  size_t nb = job_arrivals(all, n, "ex-b", seen, 8);
  free(all);
  printf("# always failing: dispatcher max 4 -> %s, status %d, %u attempts, "
         "%zu arrivals; request max 2 -> %s, status %d, %u attempts, %zu "
         "arrivals\n",
         pacer_err_name(a.error), a.status, a.attempts, na,
         pacer_err_name(b.error), b.status, b.attempts, nb);
  assert_int_equal(a.error, PACER_ERETRIES);
  assert_int_equal(a.status, 503);
  assert_int_equal(a.attempts, 4);
  assert_int_equal(na, 4);
  assert_int_equal(b.error, PACER_ERETRIES);
  assert_int_equal(b.status, 500);
  assert_int_equal(b.attempts, 2);
  assert_int_equal(nb, 2);
}

/* A connection closed without an answer, or a garbage status line, is a
 * transport error: PACER_ETRANSPORT, retried like any other (DESIGN.md:
 * "Transport errors ... are retried"; PACER_ESCHEME is only for a URL or
 * redirect to another scheme). */
static void broken_replies_are_transport_errors(void **state)
{
  (void)state;
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 3;
  c.backoff_base_ms = 1;
  c.breaker_enabled = 0;
  const char *paths[] = {"/broken?job=drop&drop=1",
                         "/broken?job=garbage&garbage=1"};
  rec_entry_t r[2];
  for (int i = 0; i < 2; i++) {
    pacer_t *p;
    assert_int_equal(pacer_new(&c, &p), 0);
    uint64_t id;
    rec_reset(&rec);
    id = submit_path(p, paths[i], NULL, PACER_PRIORITY_LOW, 0);
    assert_int_equal(pacer_drain(p, 60000), 0);
    pacer_free(p);
    rec_assert_once(&rec, &id, 1);
    r[i] = *rec_of(&rec, id);
    printf("# %s -> %s, %u attempts\n", paths[i], pacer_err_name(r[i].error),
           r[i].attempts);
  }
  assert_int_equal(r[0].error, PACER_ETRANSPORT);
  assert_int_equal(r[0].attempts, 3);
  assert_int_equal(r[1].error, PACER_ETRANSPORT);
  assert_int_equal(r[1].attempts, 3);
}

/* ---- 5. a storm of faults ---- */

/* 20,000 jobs against 10% 500s, 5% dropped connections, 2% garbage status
 * lines and 5% slow answers, 100 in flight, no rate limit: every job ends in
 * exactly one callback, with its own id, and the server saw every job. The
 * callbacks are the count: libcurl resends a request once on a reused
 * connection that closed without answering, so the server may see a job
 * twice. */
enum { N_STORM = 20000, N_CODES = 32 };

/* The job's index is its user pointer: a callback must get its own. */
static void on_storm(const pacer_result_t *r, void *user)
{
  rec_add(&rec, r, user);
}

static void every_job_ends_once_under_faults(void **state)
{
  (void)state;
  static uint64_t ids[N_STORM];
  static unsigned char server_seen[N_STORM];
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 100;
  c.rate = 0;
  c.max_attempts = 2;
  c.backoff_base_ms = 5;
  c.backoff_max_ms = 50;
  c.breaker_cooldown_ms = 100; /* it may open by chance; keep holds short */
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  double t0 = (double)rec_now_ns() / 1e6;
  for (size_t i = 0; i < N_STORM; i++) {
    char url[256];
    snprintf(url, sizeof url,
             "%s/storm?job=%zu&fail_rate=0.10&drop_rate=0.05&garbage_rate=0.02"
             "%s",
             mock.base, i, i % 20 == 0 ? "&latency_ms=200" : "");
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = url;
    assert_int_equal(
        pacer_submit(p, &q, on_storm, (void *)(uintptr_t)i, &ids[i]), 0);
  }
  assert_int_equal(pacer_drain(p, 400000), 0);
  double elapsed = (double)rec_now_ns() / 1e6 - t0;
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  char *json;
  assert_int_equal(pacer_stats_json(st, &json), 0);
  uint64_t started = st->started, retried = st->retried,
           held = st->held_by_breaker;
  pacer_stats_free(st);
  pacer_free(p);

  /* Exactly one callback per job, with that job's id: none lost, none
   * twice. */
  size_t calls = rec_count(&rec);
  uint64_t attempts = 0;
  size_t wrong_id = 0;
  static unsigned storm_codes[N_CODES];   /* by -error */
  static unsigned storm_status[600];      /* of jobs that ended with error 0 */
  static unsigned storm_tc[N_CODES][100]; /* by -error, then transport_code */
  for (size_t i = 0; i < calls; i++) {
    const rec_entry_t *r = rec_at(&rec, i);
    size_t job = (size_t)(uintptr_t)r->user;
    wrong_id += job >= N_STORM || ids[job] != r->id;
    assert_true(r->attempts >= 1);
    assert_true(r->attempts <= 2);
    attempts += r->attempts;
    if (r->error <= 0 && -r->error < N_CODES) {
      storm_codes[-r->error]++;
      if (r->transport_code >= 0 && r->transport_code < 100)
        storm_tc[-r->error][r->transport_code]++;
    }
    if (r->error == 0 && r->status >= 0 && r->status < 600)
      storm_status[r->status]++;
  }
  printf("# storm: %d jobs in %.0f ms: %zu callbacks, %zu with another job's "
         "id\n",
         N_STORM, elapsed, calls, wrong_id);
  rec_assert_once(&rec, ids, N_STORM);
  assert_int_equal(wrong_id, 0);
  assert_int_equal(attempts, started);

  printf("#   outcomes by error code:");
  unsigned sum = 0;
  for (int k = 0; k < N_CODES; k++)
    if (storm_codes[k]) {
      printf(" %s %u", pacer_err_name(-k), storm_codes[k]);
      sum += storm_codes[k];
      for (int tc = 0; k && tc < 100; tc++)
        if (storm_tc[k][tc])
          printf(" (CURLcode %d: %u)", tc, storm_tc[k][tc]);
    }
  printf("; PACER_OK by status:");
  for (int s = 0; s < 600; s++)
    if (storm_status[s])
      printf(" %d: %u", s, storm_status[s]);
  printf("\n");
  assert_int_equal(sum, N_STORM);
  /* Only these can end a job here: a response (200 after any retry), a
   * retryable status on the last attempt, a broken connection or a garbage
   * status line on it. */
  for (int k = 0; k < N_CODES; k++)
    if (k != 0 && k != -PACER_ERETRIES && k != -PACER_ETRANSPORT)
      assert_int_equal(storm_codes[k], 0);
  for (int s = 0; s < 600; s++)
    if (s != 200)
      assert_int_equal(storm_status[s], 0);

  /* The server saw every job at least once. */
  size_t n;
  arrival_t *all = arrivals(&n);
  for (size_t i = 0; i < n; i++) {
    char *end;
    unsigned long j = strtoul(all[i].job, &end, 10);
    assert_true(*end == '\0' && j < N_STORM);
    server_seen[j] = 1;
  }
  free(all);
  size_t unseen = 0;
  for (size_t i = 0; i < N_STORM; i++)
    unseen += !server_seen[i];
  json_t *sst = mock_get(&mock, "/__stats");
  assert_non_null(sst);
  char *codes = json_dumps(json_object_get(sst, "status_counts"), JSON_COMPACT);
  printf("#   server: %zu arrivals for %llu attempts started (%llu retries), "
         "%zu duplicate job ids, dropped %lld, garbage %lld, status_counts "
         "%s; held_by_breaker %llu\n",
         n, (unsigned long long)started, (unsigned long long)retried,
         json_array_size(json_object_get(sst, "duplicates")),
         (long long)json_integer_value(json_object_get(sst, "dropped")),
         (long long)json_integer_value(json_object_get(sst, "garbage")),
         codes ? codes : "?", (unsigned long long)held);
  free(codes);
  json_decref(sst);
  printf("#   pacer stats: %s\n", json);
  free(json);
  assert_int_equal(unseen, 0);
  assert_true(n >= started);
}

/* ---- the seed of the jitter (pacer_config_t.random_seed) ---- */

/* The retry delays one run drew, from its retry events. */
typedef struct delays {
  pthread_mutex_t mu;
  int64_t ms[8];
  size_t n;
} delays_t;

static void on_retry_event(const pacer_event_t *ev, void *user)
{
  delays_t *d = user;
  if (ev->type != PACER_EVENT_RETRY)
    return;
  pthread_mutex_lock(&d->mu);
  if (d->n < 8)
    d->ms[d->n++] = ev->delay_ms;
  pthread_mutex_unlock(&d->mu);
}

/* One job failing its first 5 attempts (503) with seed: its 5 backoffs,
 * as the retry events tell them, checked against the server's gaps. */
static void backoffs_of(uint64_t seed, int run, delays_t *d)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 6;
  c.backoff_base_ms = 20;
  c.backoff_max_ms = 200;
  c.breaker_enabled = 0;
  c.adapt_aimd = 0;
  c.random_seed = seed;
  c.event_cb = on_retry_event;
  c.event_user = d;
  pthread_mutex_init(&d->mu, NULL);
  d->n = 0;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
  char path[96], job[16];
  snprintf(job, sizeof job, "seed%d", run);
  snprintf(path, sizeof path, "/seed?job=%s&fail_first=5&fail_status=503", job);
  uint64_t id = submit_path(p, path, NULL, PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 30000), 0);
  pacer_free(p); /* every event delivered */
  pthread_mutex_destroy(&d->mu);
  rec_assert_once(&rec, &id, 1);
  assert_int_equal(rec_of(&rec, id)->status, 200);
  assert_int_equal(d->n, 5);
  size_t n;
  arrival_t *all = arrivals(&n);
  arrival_t a[6];
  assert_int_equal(job_arrivals(all, n, job, a, 6), 6);
  for (size_t i = 0; i < 5; i++) /* never earlier than drawn (1 ms slack:
                                    the server's clock is in ms) */
    assert_true(a[i + 1].t_ms - a[i].t_ms >= (double)d->ms[i] - 1.5);
  free(all);
}

/* With the same random_seed two runs draw the same backoffs, against a real
 * server on the real clock; another seed draws others. */
static void the_same_seed_draws_the_same_backoffs(void **state)
{
  (void)state;
  delays_t a, b, other;
  backoffs_of(0x5eed, 1, &a);
  backoffs_of(0x5eed, 2, &b);
  backoffs_of(0x5eee, 3, &other);
  printf("# seed 0x5eed: %lld %lld %lld %lld %lld ms; again: %lld %lld %lld "
         "%lld %lld; 0x5eee: %lld %lld %lld %lld %lld\n",
         (long long)a.ms[0], (long long)a.ms[1], (long long)a.ms[2],
         (long long)a.ms[3], (long long)a.ms[4], (long long)b.ms[0],
         (long long)b.ms[1], (long long)b.ms[2], (long long)b.ms[3],
         (long long)b.ms[4], (long long)other.ms[0], (long long)other.ms[1],
         (long long)other.ms[2], (long long)other.ms[3],
         (long long)other.ms[4]);
  assert_memory_equal(a.ms, b.ms, 5 * sizeof a.ms[0]);
  assert_memory_not_equal(a.ms, other.ms, 5 * sizeof a.ms[0]);
  for (size_t i = 0; i < 5; i++) /* full jitter: within the exponential cap */
    assert_true(a.ms[i] >= 0 && a.ms[i] <= (20 << i < 200 ? 20 << i : 200));
}

int main(void)
{
  if (!mock_available())
    return MOCK_SKIP;
  setvbuf(stdout, NULL, _IOLBF, 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(breaker_opens_holds_probes_and_recovers),
      cmocka_unit_test(retry_after_pauses_the_key),
      cmocka_unit_test(retries_back_off_exponentially),
      cmocka_unit_test(retries_stop_at_max_attempts),
      cmocka_unit_test(broken_replies_are_transport_errors),
      cmocka_unit_test(every_job_ends_once_under_faults),
      cmocka_unit_test(the_same_seed_draws_the_same_backoffs),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
