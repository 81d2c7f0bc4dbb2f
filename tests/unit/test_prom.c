/* SPDX-License-Identifier: MIT */
/* test_prom.c - pacer_stats_prometheus(): hand-built snapshots rendered in
 * the Prometheus text format, exactly; hostile key names; the cap on keys
 * with series of their own and the sum of the rest; histograms cumulative
 * up to +Inf = _count; out of memory at every allocation; and, where
 * promtool is installed, its parser and linter on the output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fail_alloc.h"
#include "hist.h"
#include <pacer/pacer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const bounds[PACER_HISTOGRAM_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1",     "2.5",    "5",     "10",   "30",    "60",   "300", "900",  "3600"};

/* Every counter a distinct value; high-priority queue waits of 1 ms,
 * 2.5 ms and 1 s (so le="0.001" holds 1, le="0.0025" 2, le="1" 3); an open
 * key and a paused one whose name needs escaping. */
static void crafted(pacer_stats_t *s, pacer_key_stats_t k[2])
{
  memset(s, 0, sizeof *s);
  s->submitted = 1;
  s->succeeded = 2;
  s->failed_http = 3;
  s->failed_transport = 4;
  s->failed_timeout = 5;
  s->failed_too_large = 6;
  s->failed_retries = 7;
  s->failed_deadline = 8;
  s->failed_breaker = 9;
  s->cancelled = 10;
  s->expired = 11;
  s->failed_other = 12;
  s->started = 13;
  s->retried = 14;
  s->held_by_breaker = 15;
  s->queued_high = 16;
  s->queued_low = 17;
  s->retry_waiting = 5;
  s->in_flight = 3;
  s->concurrency = 8;
  s->shared_grants = 18;
  s->shared_fallback_grants = 19;
  s->shared_errors = 20;
  s->shared_disconnects = 21;
  s->shared_wait_us = 1500000;
  s->shared_state = 1;
  s->conn = (pacer_conn_stats_t){22, 23, 24, 25, 26, 27};
  pacer__hist_t h;
  pacer__hist_init(&h);
  pacer__hist_add(&h, 1000);
  pacer__hist_add(&h, 2500);
  pacer__hist_add(&h, 1000000);
  pacer__hist_export(&h, &s->queue_wait_hist[PACER_PRIORITY_HIGH]);
  k[0] = (pacer_key_stats_t){"a.example", PACER_BREAKER_OPEN, 2, 1, 0};
  k[1] = (pacer_key_stats_t){"b\"x", PACER_BREAKER_CLOSED, 0, 0, 1500};
  s->keys = k;
  s->key_count = 2;
}

static const char expected_scalars[] =
    "# HELP pacer_jobs_submitted_total Jobs accepted.\n"
    "# TYPE pacer_jobs_submitted_total counter\n"
    "pacer_jobs_submitted_total 1\n"
    "# HELP pacer_jobs_ended_total Jobs ended, by outcome: a response below "
    "400 (succeeded) or of 400 and up (http_error), else the error that ended "
    "them; each job ends once.\n"
    "# TYPE pacer_jobs_ended_total counter\n"
    "pacer_jobs_ended_total{outcome=\"succeeded\"} 2\n"
    "pacer_jobs_ended_total{outcome=\"http_error\"} 3\n"
    "pacer_jobs_ended_total{outcome=\"transport\"} 4\n"
    "pacer_jobs_ended_total{outcome=\"timeout\"} 5\n"
    "pacer_jobs_ended_total{outcome=\"too_large\"} 6\n"
    "pacer_jobs_ended_total{outcome=\"retries_exhausted\"} 7\n"
    "pacer_jobs_ended_total{outcome=\"deadline\"} 8\n"
    "pacer_jobs_ended_total{outcome=\"breaker\"} 9\n"
    "pacer_jobs_ended_total{outcome=\"cancelled\"} 10\n"
    "pacer_jobs_ended_total{outcome=\"expired\"} 11\n"
    "pacer_jobs_ended_total{outcome=\"shed\"} 0\n"
    "pacer_jobs_ended_total{outcome=\"other\"} 12\n"
    "# HELP pacer_attempts_started_total Attempts started, retries included.\n"
    "# TYPE pacer_attempts_started_total counter\n"
    "pacer_attempts_started_total 13\n"
    "# HELP pacer_retries_scheduled_total Retries scheduled.\n"
    "# TYPE pacer_retries_scheduled_total counter\n"
    "pacer_retries_scheduled_total 14\n"
    "# HELP pacer_retries_refused_total Retries the retry budget refused "
    "(their jobs ended).\n"
    "# TYPE pacer_retries_refused_total counter\n"
    "pacer_retries_refused_total 0\n"
    "# HELP pacer_breaker_holds_total Times a key's jobs were held by its open "
    "circuit breaker.\n"
    "# TYPE pacer_breaker_holds_total counter\n"
    "pacer_breaker_holds_total 15\n"
    "# HELP pacer_slow_calls_total Attempts answered slower than the "
    "breaker's slow-call limit.\n"
    "# TYPE pacer_slow_calls_total counter\n"
    "pacer_slow_calls_total 0\n"
    "# HELP pacer_events_dropped_total Events dropped because too many "
    "waited for the event callback.\n"
    "# TYPE pacer_events_dropped_total counter\n"
    "pacer_events_dropped_total 0\n"
    "# HELP pacer_queued_jobs Jobs queued now, retries waiting for their time "
    "included, by priority.\n"
    "# TYPE pacer_queued_jobs gauge\n"
    "pacer_queued_jobs{priority=\"high\"} 16\n"
    "pacer_queued_jobs{priority=\"low\"} 17\n"
    "# HELP pacer_retry_waiting_jobs Of the queued jobs, those waiting for "
    "their next attempt's time (a backoff or a Retry-After).\n"
    "# TYPE pacer_retry_waiting_jobs gauge\n"
    "pacer_retry_waiting_jobs 5\n"
    "# HELP pacer_in_flight_requests Requests in flight now.\n"
    "# TYPE pacer_in_flight_requests gauge\n"
    "pacer_in_flight_requests 3\n"
    "# HELP pacer_concurrency_limit The cap on requests in flight now.\n"
    "# TYPE pacer_concurrency_limit gauge\n"
    "pacer_concurrency_limit 8\n"
    "# HELP pacer_concurrency_utilisation_ratio Requests in flight over the "
    "cap on them (above 1 for a while after the cap was lowered).\n"
    "# TYPE pacer_concurrency_utilisation_ratio gauge\n"
    "pacer_concurrency_utilisation_ratio 0.375\n"
    "# HELP pacer_keys Keys (hosts, or the keys jobs name) the dispatcher "
    "tracks now.\n"
    "# TYPE pacer_keys gauge\n"
    "pacer_keys 2\n"
    "# HELP pacer_open_breakers Keys whose circuit breaker is open or "
    "half-open now.\n"
    "# TYPE pacer_open_breakers gauge\n"
    "pacer_open_breakers 1\n"
    "# HELP pacer_paused_keys Keys paused now by a Retry-After or an exhausted "
    "announced quota.\n"
    "# TYPE pacer_paused_keys gauge\n"
    "pacer_paused_keys 1\n"
    "# HELP pacer_connections_opened_total Connections opened.\n"
    "# TYPE pacer_connections_opened_total counter\n"
    "pacer_connections_opened_total 22\n"
    "# HELP pacer_tls_handshakes_total TLS handshakes of the connections "
    "opened: in full, or resuming a session (0 both where libcurl's TLS "
    "backend is not OpenSSL).\n"
    "# TYPE pacer_tls_handshakes_total counter\n"
    "pacer_tls_handshakes_total{kind=\"full\"} 23\n"
    "pacer_tls_handshakes_total{kind=\"resumed\"} 24\n"
    "# HELP pacer_responses_total Attempts answered, by the response's HTTP "
    "version (1: 1.0 or 1.1).\n"
    "# TYPE pacer_responses_total counter\n"
    "pacer_responses_total{http_version=\"1\"} 25\n"
    "pacer_responses_total{http_version=\"2\"} 26\n"
    "pacer_responses_total{http_version=\"3\"} 27\n"
    "# HELP pacer_shared_grants_total Tokens the shared limit store granted.\n"
    "# TYPE pacer_shared_grants_total counter\n"
    "pacer_shared_grants_total 18\n"
    "# HELP pacer_shared_fallback_grants_total Of the tokens granted, those "
    "drawn from the local fallback buckets.\n"
    "# TYPE pacer_shared_fallback_grants_total counter\n"
    "pacer_shared_fallback_grants_total 19\n"
    "# HELP pacer_shared_errors_total Takes the shared limit store could not "
    "serve.\n"
    "# TYPE pacer_shared_errors_total counter\n"
    "pacer_shared_errors_total 20\n"
    "# HELP pacer_shared_disconnects_total Times the connection to the shared "
    "limit store was lost.\n"
    "# TYPE pacer_shared_disconnects_total counter\n"
    "pacer_shared_disconnects_total 21\n"
    "# HELP pacer_shared_wait_seconds_total Time jobs waited on the shared "
    "limit store.\n"
    "# TYPE pacer_shared_wait_seconds_total counter\n"
    "pacer_shared_wait_seconds_total 1.5\n"
    "# HELP pacer_shared_state The shared limit store: 0 none, 1 connected, 2 "
    "holding (store unreachable, nothing starts), 3 fallback (store "
    "unreachable, local buckets).\n"
    "# TYPE pacer_shared_state gauge\n"
    "pacer_shared_state 1\n";

static const char expected_high_wait[] =
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.001\"} 1\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.0025\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.005\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.01\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.025\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.05\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.1\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.25\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"0.5\"} 2\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"1\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"2.5\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"5\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"10\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"30\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"60\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"300\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"900\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"3600\"} 3\n"
    "pacer_queue_wait_seconds_bucket{priority=\"high\",le=\"+Inf\"} 3\n"
    "pacer_queue_wait_seconds_sum{priority=\"high\"} 1.0035\n"
    "pacer_queue_wait_seconds_count{priority=\"high\"} 3\n";

static const char expected_keys[] =
    "# HELP pacer_key_queued_jobs Jobs in the key's queues now (retries "
    "waiting for their time not counted); key=\"~other\" sums the keys without "
    "series of their own.\n"
    "# TYPE pacer_key_queued_jobs gauge\n"
    "pacer_key_queued_jobs{key=\"a.example\"} 2\n"
    "pacer_key_queued_jobs{key=\"~other\"} 0\n"
    "# HELP pacer_key_in_flight_requests Requests of the key in flight now; "
    "key=\"~other\" sums the rest.\n"
    "# TYPE pacer_key_in_flight_requests gauge\n"
    "pacer_key_in_flight_requests{key=\"a.example\"} 1\n"
    "pacer_key_in_flight_requests{key=\"~other\"} 0\n"
    "# HELP pacer_key_open_breakers 1 when the key's circuit breaker is open "
    "or half-open; key=\"~other\" counts the rest's.\n"
    "# TYPE pacer_key_open_breakers gauge\n"
    "pacer_key_open_breakers{key=\"a.example\"} 1\n"
    "pacer_key_open_breakers{key=\"~other\"} 0\n"
    "# HELP pacer_key_paused 1 when the key is paused (Retry-After, exhausted "
    "quota); key=\"~other\" counts the rest's.\n"
    "# TYPE pacer_key_paused gauge\n"
    "pacer_key_paused{key=\"a.example\"} 0\n"
    "pacer_key_paused{key=\"~other\"} 1\n"
    "# HELP pacer_other_keys Keys without series of their own, summed under "
    "key=\"~other\".\n"
    "# TYPE pacer_other_keys gauge\n"
    "pacer_other_keys 1\n";

/* Appends the lines of an empty histogram. */
static void empty_hist(char *out, size_t cap, const char *name,
                       const char *prio)
{
  size_t n = strlen(out);
  for (int i = 0; i <= PACER_HISTOGRAM_BUCKETS; i++)
    n += (size_t)snprintf(
        out + n, cap - n, "%s_bucket{priority=\"%s\",le=\"%s\"} 0\n", name,
        prio, i < PACER_HISTOGRAM_BUCKETS ? bounds[i] : "+Inf");
  snprintf(out + n, cap - n,
           "%s_sum{priority=\"%s\"} 0\n%s_count{priority=\"%s\"} 0\n", name,
           prio, name, prio);
}

/* Not inlined: GCC 12 then takes the text for a pointer to render()'s
 * local (-Wdangling-pointer). */
__attribute__((noinline)) static char *render(const pacer_stats_t *s,
                                              unsigned max_keys)
{
  char *text = NULL;
  assert_int_equal(pacer_stats_prometheus(s, max_keys, &text), 0);
  assert_non_null(text);
  return text;
}

static void renders_crafted_snapshot_exactly(void **state)
{
  (void)state;
  pacer_stats_t s;
  pacer_key_stats_t k[2];
  crafted(&s, k);
  static char want[32768];
  snprintf(want, sizeof want, "%s%s%s", expected_scalars,
           "# HELP pacer_queue_wait_seconds Time from submit to a job's "
           "first attempt, by priority.\n"
           "# TYPE pacer_queue_wait_seconds histogram\n",
           expected_high_wait);
  empty_hist(want, sizeof want, "pacer_queue_wait_seconds", "low");
  strcat(want, "# HELP pacer_transfer_seconds Duration of each attempt, by "
               "priority.\n"
               "# TYPE pacer_transfer_seconds histogram\n");
  empty_hist(want, sizeof want, "pacer_transfer_seconds", "high");
  empty_hist(want, sizeof want, "pacer_transfer_seconds", "low");
  strcat(want, expected_keys);
  char *text = render(&s, 1);
  assert_string_equal(text, want);
  /* The same snapshot, the same text. */
  char *again = render(&s, 1);
  assert_string_equal(again, text);
  free(again);
  free(text);
}

/* Where the value of a key's sample of one per-key metric starts in
 * text, or -1. */
static long key_line(const char *text, const char *metric,
                     const char *label_value)
{
  char want[512];
  snprintf(want, sizeof want, "\n%s{key=\"%s\"} ", metric, label_value);
  const char *at = strstr(text, want);
  return at ? (long)(at - text + strlen(want)) : -1;
}

static uint64_t key_value(const char *text, const char *metric,
                          const char *label_value)
{
  long at = key_line(text, metric, label_value);
  assert_true(at >= 0);
  return strtoull(text + at, NULL, 10);
}

static void hostile_keys_escaped(void **state)
{
  (void)state;
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  pacer_key_stats_t k[] = {
      {"q\"uote", PACER_BREAKER_CLOSED, 1, 0, 0},
      {"back\\slash\\", PACER_BREAKER_CLOSED, 2, 0, 0},
      {"new\nline", PACER_BREAKER_CLOSED, 3, 0, 0},
      {"} 1\n# TYPE evil counter\nevil_total{x=\"", PACER_BREAKER_CLOSED, 4, 0,
       0},
      {"tab\tcr\r\xc3\xa9", PACER_BREAKER_CLOSED, 5, 0, 0},
      {"bad\xff utf8", PACER_BREAKER_CLOSED, 100, 0, 0},
      {PACER_PROMETHEUS_OTHER_KEY, PACER_BREAKER_CLOSED, 1000, 0, 0},
  };
  s.keys = k;
  s.key_count = sizeof k / sizeof k[0];
  char *text = render(&s, 100);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "q\\\"uote"), 1);
  assert_int_equal(
      key_value(text, "pacer_key_queued_jobs", "back\\\\slash\\\\"), 2);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "new\\nline"), 3);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs",
                             "} 1\\n# TYPE evil counter\\nevil_total{x=\\\""),
                   4);
  assert_int_equal(
      key_value(text, "pacer_key_queued_jobs", "tab\tcr\r\xc3\xa9"), 5);
  /* Not UTF-8, or the rest's own name: summed with the rest. */
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "~other"), 1100);
  assert_null(strstr(text, "\xff"));
  assert_null(strstr(text, "\nevil_total"));
  assert_null(strstr(text, "\n# TYPE evil"));
  /* Every line is a comment or a sample of a pacer_ metric. */
  for (const char *l = text; *l; l = strchr(l, '\n') + 1)
    assert_true(!strncmp(l, "# ", 2) || !strncmp(l, "pacer_", 6));
  assert_true(strstr(text, "\npacer_other_keys 2\n") != NULL);
  free(text);
}

static void key_cap_sums_the_rest(void **state)
{
  (void)state;
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  /* busy = queued + in flight: k3 9, k1 and k2 7 (a tie: by name), k0 5,
   * k4 1, k5 0; k4 and k5 open and paused. */
  pacer_key_stats_t k[] = {
      {"k0", PACER_BREAKER_CLOSED, 5, 0, 0},
      {"k2", PACER_BREAKER_CLOSED, 3, 4, 0},
      {"k1", PACER_BREAKER_HALF_OPEN, 7, 0, 0},
      {"k3", PACER_BREAKER_CLOSED, 4, 5, 0},
      {"k4", PACER_BREAKER_OPEN, 1, 0, 10},
      {"k5", PACER_BREAKER_OPEN, 0, 0, 10},
  };
  s.keys = k;
  s.key_count = sizeof k / sizeof k[0];
  char *text = render(&s, 3);
  /* Own series for k3, k1, k2 in that order; not k0, k4, k5. */
  long l3 = key_line(text, "pacer_key_queued_jobs", "k3");
  long l1 = key_line(text, "pacer_key_queued_jobs", "k1");
  long l2 = key_line(text, "pacer_key_queued_jobs", "k2");
  assert_true(l3 >= 0 && l3 < l1 && l1 < l2);
  assert_int_equal(key_line(text, "pacer_key_queued_jobs", "k0"), -1);
  assert_int_equal(key_line(text, "pacer_key_in_flight_requests", "k4"), -1);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "~other"), 6);
  assert_int_equal(key_value(text, "pacer_key_in_flight_requests", "~other"),
                   0);
  assert_int_equal(key_value(text, "pacer_key_in_flight_requests", "k3"), 5);
  assert_int_equal(key_value(text, "pacer_key_open_breakers", "k1"), 1);
  assert_int_equal(key_value(text, "pacer_key_open_breakers", "~other"), 2);
  assert_int_equal(key_value(text, "pacer_key_paused", "~other"), 2);
  assert_true(strstr(text, "\npacer_other_keys 3\n") != NULL);
  assert_true(strstr(text, "\npacer_open_breakers 3\n") != NULL);
  assert_true(strstr(text, "\npacer_keys 6\n") != NULL);
  free(text);

  /* A cap of 0: every key summed, one series per per-key metric. */
  text = render(&s, 0);
  assert_int_equal(key_line(text, "pacer_key_queued_jobs", "k3"), -1);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "~other"), 20);
  assert_true(strstr(text, "\npacer_other_keys 6\n") != NULL);
  free(text);

  /* No keys: the rest is there, at 0. */
  s.key_count = 0;
  s.keys = NULL;
  text = render(&s, 3);
  assert_int_equal(key_value(text, "pacer_key_queued_jobs", "~other"), 0);
  assert_true(strstr(text, "\npacer_other_keys 0\n") != NULL);
  free(text);
}

/* The value of the sample line that starts with prefix. */
static uint64_t sample(const char *text, const char *prefix)
{
  char want[256];
  snprintf(want, sizeof want, "\n%s", prefix);
  const char *at = strstr(text, want);
  assert_non_null(at);
  return strtoull(at + strlen(want), NULL, 10);
}

static void histograms_cumulative_to_inf(void **state)
{
  (void)state;
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  pacer__hist_t h;
  pacer__hist_init(&h);
  /* A value on a bound counts in that bucket (le); negative counts as 0;
   * more than an hour only in +Inf. */
  int64_t v[] = {-5,    0,      1000,         1001,         2500,
                 99999, 100000, 3600000000LL, 3600000001LL, INT64_MAX};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    pacer__hist_add(&h, v[i]);
  pacer__hist_export(&h, &s.transfer_hist[PACER_PRIORITY_LOW]);
  char *text = render(&s, 0);
  const char *p = "pacer_transfer_seconds_bucket{priority=\"low\",le=\"";
  char pre[256];
  uint64_t want[PACER_HISTOGRAM_BUCKETS] = {3, 5, 5, 5, 5, 5, 7, 7, 7,
                                            7, 7, 7, 7, 7, 7, 7, 7, 8};
  uint64_t prev = 0;
  for (int i = 0; i < PACER_HISTOGRAM_BUCKETS; i++) {
    snprintf(pre, sizeof pre, "%s%s\"} ", p, bounds[i]);
    uint64_t got = sample(text, pre);
    assert_int_equal(got, want[i]);
    assert_true(got >= prev);
    prev = got;
  }
  snprintf(pre, sizeof pre, "%s+Inf\"} ", p);
  assert_int_equal(sample(text, pre), 10);
  assert_int_equal(
      sample(text, "pacer_transfer_seconds_count{priority=\"low\"} "), 10);
  /* The sum, in seconds: values above 2^40 us were clamped below it. */
  uint64_t sum_us = 0 + 0 + 1000 + 1001 + 2500 + 99999 + 100000 +
                    3600000000ULL + 3600000001ULL + ((1ULL << 40) - 1);
  assert_int_equal(s.transfer_hist[PACER_PRIORITY_LOW].sum_us, sum_us);
  char sum[128];
  snprintf(sum, sizeof sum,
           "\npacer_transfer_seconds_sum{priority=\"low\"} %llu.%06llu\n",
           (unsigned long long)(sum_us / 1000000),
           (unsigned long long)(sum_us % 1000000));
  assert_non_null(strstr(text, sum));
  free(text);

  /* A hand-made histogram that is not cumulative is never rendered as
   * one that decreases, or passes its count. */
  memset(&s, 0, sizeof s);
  s.transfer_hist[PACER_PRIORITY_HIGH].count = 2;
  s.transfer_hist[PACER_PRIORITY_HIGH].le[0] = 5;
  text = render(&s, 0);
  snprintf(pre, sizeof pre,
           "pacer_transfer_seconds_bucket{priority=\"high\",le=\"0.001\"} ");
  assert_int_equal(sample(text, pre), 0);
  free(text);
}

static void utilisation_and_seconds(void **state)
{
  (void)state;
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  char *text = render(&s, 0); /* no concurrency known: 0, not a division */
  assert_non_null(strstr(text, "\npacer_concurrency_utilisation_ratio 0\n"));
  free(text);
  s.in_flight = 1;
  s.concurrency = 3;
  s.shared_wait_us = 7;
  text = render(&s, 0);
  assert_non_null(
      strstr(text, "\npacer_concurrency_utilisation_ratio 0.333333\n"));
  assert_non_null(strstr(text, "\npacer_shared_wait_seconds_total 0.000007\n"));
  free(text);
  s.in_flight = 10; /* after a lowered cap */
  s.concurrency = 4;
  s.shared_wait_us = -1;
  s.submitted = UINT64_MAX;
  text = render(&s, 0);
  assert_non_null(strstr(text, "\npacer_concurrency_utilisation_ratio 2.5\n"));
  assert_non_null(strstr(text, "\npacer_shared_wait_seconds_total 0\n"));
  assert_non_null(
      strstr(text, "\npacer_jobs_submitted_total 18446744073709551615\n"));
  free(text);
}

static void bad_arguments(void **state)
{
  (void)state;
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  char *text = (char *)1;
  assert_int_equal(pacer_stats_prometheus(&s, 1, NULL), PACER_EINVAL);
  assert_int_equal(pacer_stats_prometheus(NULL, 1, &text), PACER_EINVAL);
  assert_null(text);
  s.key_count = 1; /* and no keys */
  text = (char *)1;
  assert_int_equal(pacer_stats_prometheus(&s, 1, &text), PACER_EINVAL);
  assert_null(text);
}

static void out_of_memory_at_each_allocation(void **state)
{
  (void)state;
  pacer_stats_t s;
  pacer_key_stats_t k[2];
  crafted(&s, k);
  int failed = 0;
  for (long n = 0;; n++) {
    char *text = (char *)1;
    fail_alloc_arm(n);
    int rc = pacer_stats_prometheus(&s, 1, &text);
    int fired = fail_alloc_fired();
    fail_alloc_arm(-1);
    if (!fired) {
      assert_int_equal(rc, 0);
      free(text);
      break;
    }
    assert_int_equal(rc, PACER_ENOMEM);
    assert_null(text);
    failed++;
  }
  assert_true(failed >= 2); /* the key list and the text, at least */
}

/* promtool's parser and linter on a busy snapshot's text: skipped only
 * where promtool is not installed (tests/cli/test_metrics.sh requires it). */
static void promtool_accepts(void **state)
{
  (void)state;
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    skip();
    return;
  }
  pacer_stats_t s;
  memset(&s, 0, sizeof s);
  pacer_key_stats_t k[] = {
      {"a\"b\\c\nd", PACER_BREAKER_OPEN, 3, 1, 10},
      {"} x 1\n", PACER_BREAKER_HALF_OPEN, 2, 2, 0},
      {"\xc3\xa9t\xc3\xa9.example", PACER_BREAKER_CLOSED, 1, 0, 0},
      {"bad\xfe", PACER_BREAKER_CLOSED, 1, 1, 0},
      {"~other", PACER_BREAKER_CLOSED, 1, 1, 0},
      {"quiet.example", PACER_BREAKER_CLOSED, 0, 0, 0},
  };
  s.keys = k;
  s.key_count = sizeof k / sizeof k[0];
  s.in_flight = 4;
  s.concurrency = 3;
  pacer__hist_t h;
  pacer__hist_init(&h);
  for (int64_t us = 1; us < 10000000000LL; us = us * 3 + 7)
    pacer__hist_add(&h, us);
  for (int i = 0; i < 2; i++) {
    pacer__hist_export(&h, &s.queue_wait_hist[i]);
    pacer__hist_export(&h, &s.transfer_hist[i]);
  }
  char *text = render(&s, 3);
  char path[] = "/tmp/test_prom_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int rc = system(cmd);
  unlink(path);
  free(text);
  assert_int_equal(rc, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(renders_crafted_snapshot_exactly),
      cmocka_unit_test(hostile_keys_escaped),
      cmocka_unit_test(key_cap_sums_the_rest),
      cmocka_unit_test(histograms_cumulative_to_inf),
      cmocka_unit_test(utilisation_and_seconds),
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test(out_of_memory_at_each_allocation),
      cmocka_unit_test(promtool_accepts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
