/* SPDX-License-Identifier: MIT */
/* test_lifecycle.c - how jobs go out and end against a real pacer-mock on
 * loopback: what is sent (method, body, headers, as the server journals
 * them), per-attempt timeouts, job deadlines, the low-speed abort against a
 * trickling body, pacer_cancel() and both shutdown modes in the middle of a
 * run, and callbacks that call back into the dispatcher.
 *
 * Results are collected under a lock in the callbacks and checked on the main
 * thread after pacer_drain(). Nothing sleeps to wait: a run is caught
 * "mid-way" by a callback after its Nth completion, and every wait is bounded
 * (pacer_drain() or a timed condition wait). Time bounds are loose enough for
 * sanitizer builds on a loaded two-core machine; the measured figures are
 * printed. */
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

/* The state of a run or of the re-entrant callbacks (below), which their
 * callbacks change and the test waits on. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

/* Slack for a slow machine, in ms: larger under the sanitizers. */
#define SLACK_MS(ms) ((int64_t)((ms)*timing_scale()))

/* ---- the server ---- */

static void reset_mock(void)
{
  assert_int_equal(mock_reset(&mock), 0);
  rec_reset(&rec);
}

/* The server's arrival records since the last reset (free with
 * json_decref). */
static json_t *server_stats(void)
{
  json_t *s = mock_get(&mock, "/__stats");
  assert_non_null(s);
  assert_false(json_is_true(json_object_get(s, "arrivals_truncated")));
  assert_true(json_is_array(json_object_get(s, "arrivals")));
  return s;
}

/* Arrivals whose job id is prefix<i>, counted into counts[i] (n entries).
 * Returns the number of all arrivals. */
static long arrivals(const char *prefix, int *counts, int n)
{
  json_t *s = server_stats();
  json_t *a = json_object_get(s, "arrivals"), *it;
  for (int i = 0; i < n; i++)
    counts[i] = 0;
  size_t plen = strlen(prefix), k;
  json_array_foreach(a, k, it)
  {
    const char *job = json_string_value(json_object_get(it, "job"));
    if (!job || strncmp(job, prefix, plen) != 0 || job[plen] == '\0')
      continue;
    char *end;
    long i = strtol(job + plen, &end, 10);
    if (*end == '\0' && i >= 0 && i < n)
      counts[i]++;
  }
  long total = (long)json_array_size(a);
  json_decref(s);
  return total;
}

/* Arrivals of one job id. */
static int arrivals_of(const char *job)
{
  json_t *s = server_stats();
  json_t *it;
  size_t k;
  int c = 0;
  json_array_foreach(json_object_get(s, "arrivals"), k, it)
  {
    const char *j = json_string_value(json_object_get(it, "job"));
    c += j && strcmp(j, job) == 0;
  }
  json_decref(s);
  return c;
}

/* Runs one job with cfg and req (url filled in from path) and waits for its
 * end. */
static const rec_entry_t *fetch(const pacer_config_t *cfg, pacer_request_t *q,
                                const char *path)
{
  char u[512];
  mock_url(u, sizeof u, &mock, path);
  q->url = u;
  return fetch_one(cfg, q, 60000);
}

/* ---- what is sent ---- */

/* FNV-1a 64, as pacer-mock's journal hashes request bodies. */
static void fnv1a_hex(const void *data, size_t n, char out[17])
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The journal entry of the request whose query has job=JOB (new reference),
 * or NULL. */
static json_t *journal_entry(const char *job)
{
  json_t *j = mock_get(&mock, "/__requests");
  assert_non_null(j);
  json_t *it, *found = NULL;
  size_t k;
  json_array_foreach(json_object_get(j, "requests"), k, it)
  {
    const char *v =
        json_string_value(json_object_get(json_object_get(it, "query"), "job"));
    if (v && strcmp(v, job) == 0) {
      found = json_incref(it);
    }
  }
  json_decref(j);
  return found;
}

/* Every method and body arrives as given: a transport that sent every job as
 * an empty GET, or cut a binary body at its first NUL, fails here. */
static void methods_and_bodies_arrive_intact(void **state)
{
  (void)state;
  reset_mock();
  static const char json_body[] =
      "{\"user\":\"ada\",\"n\":[1,2,3],\"ok\":true}";
  unsigned char bin[4096];
  for (size_t i = 0; i < sizeof bin; i++)
    bin[i] = (unsigned char)((i * 131 + 7) & 0xff); /* NULs, CR, LF, 0xff */
  bin[0] = 0;
  struct {
    const char *method, *type;
    const void *body;
    size_t len;
  } cases[] = {
      {"POST", "application/json", json_body, sizeof json_body - 1},
      {"PUT", "application/octet-stream", bin, sizeof bin},
      {"PATCH", "application/json", json_body, sizeof json_body - 1},
      {"POST", NULL, NULL, 0}, /* empty */
      {"PUT", NULL, NULL, 0},
      {"DELETE", NULL, NULL, 0},
      {NULL, NULL, NULL, 0}, /* NULL: GET */
  };
  enum { N = sizeof cases / sizeof cases[0] };
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t id[N];
  for (int i = 0; i < N; i++) {
    char u[256];
    snprintf(u, sizeof u, "%s/sent?job=s-%d", mock.base, i);
    pacer_header_t h[2] = {{"Content-Type", cases[i].type},
                           {"X-Sent-Check", "kept"}};
    pacer_request_t q;
    pacer_request_init(&q);
    q.method = cases[i].method;
    q.url = u;
    q.body = cases[i].body;
    q.body_len = cases[i].len;
    q.headers = cases[i].type ? h : h + 1;
    q.header_count = cases[i].type ? 2 : 1;
    assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[i]), 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(rec_of(&rec, id[i])->error, 0);
    assert_int_equal(rec_of(&rec, id[i])->status, 200);
    char job[16], want_hash[17];
    snprintf(job, sizeof job, "s-%d", i);
    json_t *e = journal_entry(job);
    assert_non_null(e);
    const char *method = json_string_value(json_object_get(e, "method"));
    json_int_t bytes = json_integer_value(json_object_get(e, "body_bytes"));
    const char *hash = json_string_value(json_object_get(e, "body_fnv1a"));
    json_t *hd = json_object_get(e, "headers");
    const char *type = json_string_value(json_object_get(hd, "Content-Type"));
    const char *mark = json_string_value(json_object_get(hd, "X-Sent-Check"));
    printf("%-6s %-24s sent %5zu bytes: server saw %s, %lld bytes, %s\n",
           cases[i].method ? cases[i].method : "(GET)",
           cases[i].type ? cases[i].type : "-", cases[i].len,
           method ? method : "?", (long long)bytes, hash ? hash : "?");
    fnv1a_hex(cases[i].body, cases[i].len, want_hash);
    assert_non_null(method);
    assert_string_equal(method, cases[i].method ? cases[i].method : "GET");
    assert_int_equal(bytes, (json_int_t)cases[i].len);
    assert_non_null(hash);
    assert_string_equal(hash, want_hash);
    assert_non_null(mark);
    assert_string_equal(mark, "kept");
    if (cases[i].type) {
      assert_non_null(type);
      assert_string_equal(type, cases[i].type);
    }
    json_decref(e);
  }
}

/* One worker and one slot, so every job runs on the same reused easy
 * handle: a plain GET keeps the options of the GET before it, any other
 * method starts from a reset handle. Nothing one job set may reach the
 * next: a GET after a POST sends no body, a GET after a HEAD gets its
 * body, a GET after a PUT is a GET. */
static void one_handle_carries_nothing_from_one_method_to_the_next(void **state)
{
  (void)state;
  reset_mock();
  static const char body[] = "{\"n\":1}";
  struct {
    const char *method;
    const char *body;
  } seq[] = {{"GET", NULL},   {"GET", NULL}, {"POST", body},   {"GET", NULL},
             {"HEAD", NULL},  {"GET", NULL}, {"PUT", NULL},    {"GET", NULL},
             {"GET", body},   {"GET", NULL}, {"DELETE", NULL}, {"GET", NULL},
             {"PATCH", body}, {"GET", NULL}};
  enum { N = sizeof seq / sizeof seq[0] };
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 1;
  c.concurrency = 1;
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t id[N];
  for (int i = 0; i < N; i++) {
    char u[256];
    snprintf(u, sizeof u, "%s/sent?job=h-%d", mock.base, i);
    pacer_request_t q;
    pacer_request_init(&q);
    q.method = seq[i].method;
    q.url = u;
    q.body = seq[i].body;
    q.body_len = seq[i].body ? strlen(seq[i].body) : 0;
    assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[i]), 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, N);
  size_t get_body = rec_of(&rec, id[0])->body_len;
  assert_true(get_body > 0);
  for (int i = 0; i < N; i++) {
    char job[16];
    snprintf(job, sizeof job, "h-%d", i);
    json_t *e = journal_entry(job);
    assert_non_null(e);
    const char *method = json_string_value(json_object_get(e, "method"));
    json_int_t bytes = json_integer_value(json_object_get(e, "body_bytes"));
    assert_non_null(method);
    assert_string_equal(method, seq[i].method);
    assert_int_equal(bytes,
                     (json_int_t)(seq[i].body ? strlen(seq[i].body) : 0));
    assert_int_equal(rec_of(&rec, id[i])->status, 200);
    /* Every answer but HEAD's carries the body. */
    assert_int_equal(rec_of(&rec, id[i])->body_len,
                     strcmp(seq[i].method, "HEAD") ? get_body : 0);
    json_decref(e);
  }
}

/* ---- per-attempt timeout ---- */

static void request_timeout_ends_a_slow_attempt(void **state)
{
  (void)state;
  reset_mock();
  /* The dispatcher's timeout stays at its 30 s default: the request's own
   * 300 ms is what ends each attempt. */
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  pacer_request_t q;
  pacer_request_init(&q);
  q.timeout_ms = 300;
  const rec_entry_t *r = fetch(&c, &q, "/slow?latency_ms=2000&job=t-1");
  printf("timeout, 1 attempt: %s after %lld ms (transfer %lld ms), "
         "attempts %u, curl %d: %s\n",
         pacer_err_name(r->error), (long long)(r->total_us / 1000),
         (long long)(r->transfer_us / 1000), r->attempts, r->transport_code,
         r->message);
  assert_int_equal(r->error, PACER_ETIMEDOUT);
  assert_int_equal(r->transport_code, 28); /* CURLE_OPERATION_TIMEDOUT */
  assert_int_equal(r->status, 0);
  assert_int_equal(r->attempts, 1);
  assert_true(r->transfer_us >= 290 * 1000);
  assert_true(r->total_us < (300 + SLACK_MS(1200)) * 1000);
  assert_int_equal(arrivals_of("t-1"), 1);

  /* A timeout is retryable: with 3 attempts each one times out after
   * 300 ms, and the last one's error ends the job. */
  c.max_attempts = 3;
  c.backoff_base_ms = 10;
  r = fetch(&c, &q, "/slow?latency_ms=2000&job=t-3");
  printf("timeout, 3 attempts: %s after %lld ms, attempts %u\n",
         pacer_err_name(r->error), (long long)(r->total_us / 1000),
         r->attempts);
  assert_int_equal(r->error, PACER_ETIMEDOUT);
  assert_int_equal(r->attempts, 3);
  assert_true(r->total_us >= 3 * 290 * 1000);
  assert_true(r->total_us < (900 + SLACK_MS(1100)) * 1000);
  assert_int_equal(arrivals_of("t-3"), 3);
}

/* ---- job deadline ---- */

static void deadline_cuts_retries_short(void **state)
{
  (void)state;
  reset_mock();
  /* Ten 503s in a row would need ten attempts and nine backoffs (200 ms
   * base, doubling): far more than the 800 ms deadline. */
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 10;
  pacer_request_t q;
  pacer_request_init(&q);
  q.deadline_ms = 800;
  const rec_entry_t *r =
      fetch(&c, &q, "/flaky?fail_first=10&fail_status=503&job=d-r");
  printf("deadline over retries: %s after %lld ms, attempts %u, last status "
         "%d: %s\n",
         pacer_err_name(r->error), (long long)(r->total_us / 1000), r->attempts,
         r->status, r->message);
  assert_int_equal(r->error, PACER_EDEADLINE);
  assert_true(r->attempts >= 1 && r->attempts < 10);
  /* The last 503, or none if the deadline cut a last attempt short. */
  assert_true(r->status == 503 || r->status == 0);
  /* It ends at the deadline, or earlier when the next retry would start
   * after it; never much later. */
  assert_true(r->total_us < (800 + SLACK_MS(1000)) * 1000);
  assert_int_equal(arrivals_of("d-r"), (int)r->attempts);
}

/* K jobs at once, each with an 800 ms deadline, against 3 s responses. */
static void deadline_in_flight(unsigned max_attempts, const char *prefix)
{
  enum { K = 10 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = max_attempts;
  c.concurrency = K;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t id[K];
  rec_reset(&rec);
  for (int i = 0; i < K; i++) {
    char u[256];
    snprintf(u, sizeof u, "%s/slow?latency_ms=3000&job=%s%d", mock.base, prefix,
             i);
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = u;
    q.deadline_ms = 800;
    assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[i]), 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, K);
  rec_entry_t c2[K];
  for (int i = 0; i < K; i++)
    c2[i] = *rec_of(&rec, id[i]);
  int deadline = 0;
  int64_t lo = INT64_MAX, hi = 0;
  for (int i = 0; i < K; i++) {
    deadline += c2[i].error == PACER_EDEADLINE;
    lo = c2[i].total_us < lo ? c2[i].total_us : lo;
    hi = c2[i].total_us > hi ? c2[i].total_us : hi;
    if (c2[i].error != PACER_EDEADLINE)
      printf("  job %s%d: %s after %lld us, attempts %u: %s\n", prefix, i,
             pacer_err_name(c2[i].error), (long long)c2[i].total_us,
             c2[i].attempts, c2[i].message);
  }
  printf("deadline in flight (%u attempts allowed): %d of %d PACER_EDEADLINE, "
         "ended after %lld..%lld ms: %s\n",
         max_attempts, deadline, K, (long long)(lo / 1000),
         (long long)(hi / 1000), c2[0].message);
  for (int i = 0; i < K; i++) {
    assert_int_equal(c2[i].error, PACER_EDEADLINE);
    assert_int_equal(c2[i].attempts, 1);
    assert_true(c2[i].total_us >= 790 * 1000);
    assert_true(c2[i].total_us < (800 + SLACK_MS(1000)) * 1000);
  }
}

static void deadline_cuts_an_attempt_in_flight(void **state)
{
  (void)state;
  reset_mock();
  /* The attempt's own timeout (30 s) is far away; the deadline ends it, and
   * the job ends as a deadline, not as a timeout. Ten jobs at once, as the
   * outcome used to depend on sub-millisecond timing. */
  deadline_in_flight(1, "d-f1-");
  /* With retries allowed too: no retry starts past the deadline. */
  deadline_in_flight(3, "d-f3-");
}

static void deadline_ends_a_queued_job_unsent(void **state)
{
  (void)state;
  reset_mock();
  /* One slot, held by a 1.5 s request: the job behind it never starts. */
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.max_attempts = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  char u1[256], u2[256];
  mock_url(u1, sizeof u1, &mock, "/blk?latency_ms=1500&job=d-blocker");
  mock_url(u2, sizeof u2, &mock, "/q?job=d-q");
  uint64_t id[2];
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u1;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[0]), 0);
  q.url = u2;
  q.deadline_ms = 400;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[1]), 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, 2);
  rec_entry_t blocker = *rec_of(&rec, id[0]), queued = *rec_of(&rec, id[1]);
  printf("deadline while queued: %s after %lld ms, attempts %u: %s\n",
         pacer_err_name(queued.error), (long long)(queued.total_us / 1000),
         queued.attempts, queued.message);
  assert_int_equal(blocker.status, 200);
  assert_int_equal(queued.error, PACER_EDEADLINE);
  assert_int_equal(queued.attempts, 0);
  assert_true(queued.total_us >= 390 * 1000);
  assert_true(queued.total_us < (400 + SLACK_MS(1000)) * 1000);
  assert_int_equal(arrivals_of("d-q"), 0);
}

/* ---- low-speed abort ---- */

static void low_speed_aborts_a_trickle(void **state)
{
  (void)state;
  reset_mock();
  pacer_config_t c;
  pacer_config_init(&c);
  c.max_attempts = 1;
  c.low_speed_bytes = 1000; /* B/s */
  c.low_speed_time_ms = 1000;
  pacer_request_t q;
  pacer_request_init(&q);
  /* 5 B/s: the whole body would take 20,000 s. */
  const rec_entry_t *r =
      fetch(&c, &q, "/trickle?trickle=1&trickle_ms=200&bytes=100000");
  printf("low speed: %s after %lld ms, %zu of 100000 bytes, curl %d: %s\n",
         pacer_err_name(r->error), (long long)(r->total_us / 1000), r->body_len,
         r->transport_code, r->message);
  /* A low-speed abort is the transport's timeout: PACER_ETIMEDOUT with
   * CURLE_OPERATION_TIMEDOUT. */
  assert_int_equal(r->error, PACER_ETIMEDOUT);
  assert_int_equal(r->transport_code, 28);
  assert_int_equal(r->attempts, 1);
  assert_true(r->body_len < 100000);
  assert_true(r->total_us >= 900 * 1000); /* not before the 1 s period */
  assert_true(r->total_us < SLACK_MS(10000) * 1000);

  /* The same settings leave a fast body alone. */
  pacer_request_init(&q);
  r = fetch(&c, &q, "/fast?bytes=100000");
  printf("low speed, fast body: %s, status %d, %zu bytes in %lld ms\n",
         pacer_err_name(r->error), r->status, r->body_len,
         (long long)(r->total_us / 1000));
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->body_len, 100000);
}

/* ---- runs of many jobs ---- */

enum { ACT_NONE, ACT_SHUTDOWN_FINISH, ACT_SHUTDOWN_CANCEL };

typedef struct run {
  pacer_t *p;
  int n;
  uint64_t *ids;
  int done;       /* callbacks so far */
  int armed;      /* every job is submitted: the action may fire */
  int trigger_at; /* fire after this many callbacks */
  int action;
  int acted;
  int act_rc;
  uint64_t queued_at_act, in_flight_at_act;
} run_t;

static run_t *run_new(int n, int action, int trigger_at)
{
  rec_reset(&rec);
  run_t *run = calloc(1, sizeof *run);
  assert_non_null(run);
  run->n = n;
  run->ids = calloc((size_t)n, sizeof *run->ids);
  assert_non_null(run->ids);
  run->action = action;
  run->trigger_at = trigger_at;
  return run;
}

static void run_free(run_t *run)
{
  free(run->ids);
  free(run);
}

static void on_run_done(const pacer_result_t *r, void *user)
{
  run_t *run = user;
  rec_add(&rec, r, user);
  pthread_mutex_lock(&lock);
  run->done++;
  int act = run->armed && !run->acted && run->done >= run->trigger_at &&
            run->action != ACT_NONE;
  if (act)
    run->acted = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  if (!act)
    return;
  /* From inside a callback, the middle of the run. */
  pacer_stats_t *st = NULL;
  uint64_t queued = 0, in_flight = 0;
  if (pacer_stats_get(run->p, &st) == 0) {
    queued = st->queued_low + st->queued_high;
    in_flight = st->in_flight;
    pacer_stats_free(st);
  }
  int rc = pacer_shutdown(run->p, run->action == ACT_SHUTDOWN_FINISH
                                      ? PACER_SHUTDOWN_FINISH
                                      : PACER_SHUTDOWN_CANCEL);
  pthread_mutex_lock(&lock);
  run->act_rc = rc;
  run->queued_at_act = queued;
  run->in_flight_at_act = in_flight;
  run->acted = 2; /* done */
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

/* Waits until pred(run) holds, at most timeout_ms. Returns whether it does. */
static int wait_for(run_t *run, int (*pred)(const run_t *), int64_t timeout_ms)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(timeout_ms / 1000);
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&lock);
  int ok;
  while (!(ok = pred(run)))
    if (pthread_cond_timedwait(&changed, &lock, &until) == ETIMEDOUT) {
      ok = pred(run);
      break;
    }
  pthread_mutex_unlock(&lock);
  return ok;
}

static int reached_trigger(const run_t *run)
{
  return run->done >= run->trigger_at;
}

static int action_done(const run_t *run)
{
  return run->acted == 2;
}

/* Submits run->n jobs to path?...&job=<prefix><i>. */
static void submit_all(run_t *run, const char *path, const char *prefix)
{
  for (int i = 0; i < run->n; i++) {
    char u[512];
    snprintf(u, sizeof u, "%s%s&job=%s%d", mock.base, path, prefix, i);
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = u;
    assert_int_equal(pacer_submit(run->p, &q, on_run_done, run, &run->ids[i]),
                     0);
  }
  pthread_mutex_lock(&lock);
  run->armed = 1;
  pthread_mutex_unlock(&lock);
}

/* Checks that every job of the run, and no other, ended exactly once, with
 * the run as its user pointer; returns their results in submit order
 * (free()). */
static rec_entry_t *collect(run_t *run)
{
  rec_assert_once(&rec, run->ids, (size_t)run->n);
  rec_entry_t *r = calloc((size_t)run->n, sizeof *r);
  assert_non_null(r);
  for (int i = 0; i < run->n; i++) {
    r[i] = *rec_of(&rec, run->ids[i]);
    assert_ptr_equal(r[i].user, run);
  }
  return r;
}

/* ---- cancel in the middle of a run ---- */

/* pacer's in-flight and queued counts and the server's in-flight count, once
 * pacer has want_flight in flight and want_queued queued and the server
 * holds want_flight answers; or the last figures after timeout_ms. */
typedef struct flight {
  uint64_t pacer_in_flight, pacer_queued;
  long long server_in_flight;
  int reached;
} flight_t;

static flight_t wait_in_flight(pacer_t *p, uint64_t want_flight,
                               uint64_t want_queued, int64_t timeout_ms)
{
  flight_t f = {0, 0, -1, 0};
  int64_t until = rec_now_ns() / 1000000 + timeout_ms;
  do {
    pacer_stats_t *st = NULL;
    assert_int_equal(pacer_stats_get(p, &st), 0);
    f.pacer_in_flight = st->in_flight;
    f.pacer_queued = st->queued_low + st->queued_high;
    pacer_stats_free(st);
    f.server_in_flight = mock_stat(&mock, "in_flight");
    if (f.pacer_in_flight == want_flight && f.pacer_queued == want_queued &&
        f.server_in_flight == (long long)want_flight) {
      f.reached = 1;
      break;
    }
    nanosleep(&(struct timespec){0, 2 * 1000000}, NULL);
  } while (rec_now_ns() / 1000000 < until);
  return f;
}

/* Cancels every even job once the first FIRST have ended and the next
 * CONC are in flight, which the server holds for 1.5 s, so nothing moves
 * while the cancels run and each job's end is known exactly: the even ones
 * that ended are too late (ENOTFOUND), the even ones in flight are aborted
 * after reaching the server, the even ones queued are never sent, and every
 * odd one succeeds. The cancels wait until pacer and the server both report
 * the CONC in flight, so a starved dispatcher delays the test instead of
 * failing it. */
static void cancel_half_mid_run(void **state)
{
  (void)state;
  reset_mock();
  enum { N = 200, FIRST = 30, CONC = 10 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = CONC;
  c.max_attempts = 1;
  run_t *run = run_new(N, ACT_NONE, FIRST);
  assert_int_equal(pacer_new(&c, &run->p), 0);
  int64_t t0 = rec_now_ns() / 1000000;
  for (int i = 0; i < N; i++) {
    char u[512];
    snprintf(u, sizeof u, "%s/c?latency_ms=%d&job=c-%d", mock.base,
             i >= FIRST && i < FIRST + CONC ? 1500 : 20, i);
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = u;
    assert_int_equal(pacer_submit(run->p, &q, on_run_done, run, &run->ids[i]),
                     0);
  }
  assert_true(wait_for(run, reached_trigger, 60000));
  flight_t f = wait_in_flight(run->p, CONC, N - FIRST - CONC, 30000);
  int64_t t_flight = rec_now_ns() / 1000000;
  printf("cancel mid-run: %d ended, pacer %llu in flight and %llu queued, "
         "server %lld in flight after %lld ms\n",
         FIRST, (unsigned long long)f.pacer_in_flight,
         (unsigned long long)f.pacer_queued, f.server_in_flight,
         (long long)(t_flight - t0));
  assert_true(f.reached);
  /* Last job first: aborting one in flight frees its place at once, and a
   * queued even job must not start in it before its own cancel. */
  int cancel_rc[N];
  for (int i = N - 1; i >= 0; i--) {
    cancel_rc[i] = 1; /* not asked */
    if (i % 2 == 0)
      cancel_rc[i] = pacer_cancel(run->p, run->ids[i]);
  }
  int64_t t_cancel = rec_now_ns() / 1000000;
  assert_int_equal(pacer_drain(run->p, 60000), 0);
  int64_t t_end = rec_now_ns() / 1000000;
  /* A second cancel of any job, ended by now, finds nothing. */
  for (int i = 0; i < N; i += 17)
    assert_int_equal(pacer_cancel(run->p, run->ids[i]), PACER_ENOTFOUND);
  pacer_free(run->p);
  rec_entry_t *r = collect(run);

  int counts[N];
  long total = arrivals("c-", counts, N);
  int cancelled_queued = 0, cancelled_started = 0, too_late = 0, ok = 0;
  for (int i = 0; i < N; i++) {
    if (r[i].error != (i % 2 || i < FIRST ? 0 : PACER_ECANCELED) ||
        r[i].attempts != (unsigned)(i % 2 || i < FIRST + CONC))
      printf("job %d: cancel %s, %s, %u attempts, %d arrivals\n", i,
             cancel_rc[i] == 1 ? "not asked" : pacer_err_name(cancel_rc[i]),
             pacer_err_name(r[i].error), r[i].attempts, counts[i]);
    if (i % 2 == 1) {
      assert_int_equal(cancel_rc[i], 1);
      assert_int_equal(r[i].error, 0);
      assert_int_equal(r[i].status, 200);
      assert_int_equal(counts[i], 1);
      ok++;
    } else if (i < FIRST) {
      /* Ended before the cancels: nothing to cancel. */
      assert_int_equal(cancel_rc[i], PACER_ENOTFOUND);
      assert_int_equal(r[i].error, 0);
      assert_int_equal(r[i].status, 200);
      assert_int_equal(counts[i], 1);
      too_late++;
    } else if (i < FIRST + CONC) {
      /* In flight, held by the server: aborted after it arrived. */
      assert_int_equal(cancel_rc[i], 0);
      assert_int_equal(r[i].error, PACER_ECANCELED);
      assert_int_equal(r[i].attempts, 1);
      assert_int_equal(counts[i], 1);
      cancelled_started++;
    } else {
      /* Queued: never sent. */
      assert_int_equal(cancel_rc[i], 0);
      assert_int_equal(r[i].error, PACER_ECANCELED);
      assert_int_equal(r[i].attempts, 0);
      assert_int_equal(counts[i], 0);
      cancelled_queued++;
    }
  }
  printf("cancel mid-run: cancelled %d queued + %d in flight, %d too late, "
         "%d completed; drain %lld ms after the cancels; server saw %ld\n",
         cancelled_queued, cancelled_started, too_late, ok,
         (long long)(t_end - t_cancel), total);
  assert_int_equal(too_late, FIRST / 2);
  assert_int_equal(cancelled_started, CONC / 2);
  assert_int_equal(cancelled_queued, (N - FIRST - CONC) / 2);
  assert_int_equal(ok, N / 2);
  assert_int_equal(total, FIRST + CONC + (N - FIRST - CONC) / 2);
  free(r);
  run_free(run);
}

/* ---- shutdown in the middle of a run ---- */

static void shutdown_finish_mid_run(void **state)
{
  (void)state;
  reset_mock();
  enum { N = 300, FIRST = 20 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 100; /* 300 jobs take about 3 s */
  c.max_attempts = 1;
  run_t *run = run_new(N, ACT_SHUTDOWN_FINISH, FIRST);
  assert_int_equal(pacer_new(&c, &run->p), 0);
  int64_t t0 = rec_now_ns() / 1000000;
  submit_all(run, "/f?latency_ms=10", "f-");
  assert_true(wait_for(run, action_done, 60000));
  int64_t t_shut = rec_now_ns() / 1000000;

  /* Shut down: submit is refused and its callback never runs. */
  char u[256];
  mock_url(u, sizeof u, &mock, "/late?job=f-late");
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u;
  uint64_t id = 42;
  assert_int_equal(pacer_submit(run->p, &q, rec_on_done, &rec, &id),
                   PACER_ESHUTDOWN);
  assert_true(id == 0);
  assert_int_equal(pacer_try_submit(run->p, &q, rec_on_done, &rec, NULL),
                   PACER_ESHUTDOWN);

  assert_int_equal(pacer_drain(run->p, 120000), 0);
  int64_t t_end = rec_now_ns() / 1000000;
  assert_int_equal(pacer_submit(run->p, &q, rec_on_done, &rec, NULL),
                   PACER_ESHUTDOWN);
  pacer_free(run->p);
  rec_entry_t *r = collect(run);
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].error, 0);
    assert_int_equal(r[i].status, 200);
  }
  int counts[N];
  long total = arrivals("f-", counts, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(counts[i], 1);
  printf("shutdown finish: after %d of %d ended (%lld ms), %llu queued and "
         "%llu in flight; all %d ended with 200 after %lld ms more; server "
         "saw %ld\n",
         FIRST, N, (long long)(t_shut - t0),
         (unsigned long long)run->queued_at_act,
         (unsigned long long)run->in_flight_at_act, N,
         (long long)(t_end - t_shut), total);
  assert_int_equal(run->act_rc, 0);
  assert_true(run->queued_at_act > 0); /* it was mid-run */
  /* collect() found no end of the refused jobs. */
  assert_int_equal(total, N);
  free(r);
  run_free(run);
}

static void shutdown_cancel_mid_run(void **state)
{
  (void)state;
  reset_mock();
  enum { N = 300, FIRST = 20 };
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 100;
  /* Each response takes 200 ms, so about 20 are in flight at a time. */
  run_t *run = run_new(N, ACT_SHUTDOWN_CANCEL, FIRST);
  assert_int_equal(pacer_new(&c, &run->p), 0);
  int64_t t0 = rec_now_ns() / 1000000;
  submit_all(run, "/k?latency_ms=200", "k-");
  assert_true(wait_for(run, action_done, 60000));
  int64_t t_shut = rec_now_ns() / 1000000;
  /* FINISH cannot undo CANCEL; both calls return 0. */
  assert_int_equal(pacer_shutdown(run->p, PACER_SHUTDOWN_FINISH), 0);
  char u[256];
  mock_url(u, sizeof u, &mock, "/late?job=k-late");
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u;
  assert_int_equal(pacer_submit(run->p, &q, rec_on_done, &rec, NULL),
                   PACER_ESHUTDOWN);
  assert_int_equal(pacer_drain(run->p, 60000), 0);
  int64_t t_end = rec_now_ns() / 1000000;
  pacer_free(run->p);
  rec_entry_t *r = collect(run);
  int counts[N];
  long total = arrivals("k-", counts, N);
  int cancelled = 0, finished = 0;
  for (int i = 0; i < N; i++) {
    if (r[i].error == PACER_ECANCELED) {
      /* Not started when the shutdown came: never sent. */
      assert_int_equal(r[i].attempts, 0);
      assert_int_equal(counts[i], 0);
      cancelled++;
    } else {
      /* In flight (or already ended): it finished normally. */
      assert_int_equal(r[i].error, 0);
      assert_int_equal(r[i].status, 200);
      assert_int_equal(r[i].attempts, 1);
      assert_int_equal(counts[i], 1);
      finished++;
    }
  }
  printf("shutdown cancel: after %d of %d ended (%lld ms), %llu queued and "
         "%llu in flight; %d finished, %d cancelled, drained %lld ms later; "
         "server saw %ld\n",
         FIRST, N, (long long)(t_shut - t0),
         (unsigned long long)run->queued_at_act,
         (unsigned long long)run->in_flight_at_act, finished, cancelled,
         (long long)(t_end - t_shut), total);
  assert_int_equal(run->act_rc, 0);
  /* collect() found no end of the refused job. */
  assert_true(finished >= FIRST);
  assert_true(cancelled > 0);
  assert_int_equal(finished + cancelled, N);
  assert_int_equal(total, finished);
  free(r);
  run_free(run);
}

/* ---- callbacks that call back in ---- */

enum { VICTIMS = 3, CHAIN = 6 };

typedef struct reent {
  pacer_t *p;
  uint64_t first_id, vid[VICTIMS], cid[CHAIN];
  int chain_rc[CHAIN], cancel_rc[VICTIMS], cancel_self_rc, drain_rc, stats_rc;
  int chain_done, shutdown_rc[2], late_rc;
  int64_t submits_ms;
  int first_done, last_done;
} reent_t;

static void on_chain(const pacer_result_t *r, void *user)
{
  reent_t *x = user;
  rec_add(&rec, r, user);
  pthread_mutex_lock(&lock);
  int last = ++x->chain_done == CHAIN;
  pthread_mutex_unlock(&lock);
  if (!last)
    return;
  /* The last one shuts down from inside its callback, then is refused. */
  int s0 = pacer_shutdown(x->p, PACER_SHUTDOWN_FINISH);
  char u[256];
  mock_url(u, sizeof u, &mock, "/late?job=r-late");
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u;
  int lrc = pacer_submit(x->p, &q, rec_on_done, &rec, NULL);
  int s1 = pacer_shutdown(x->p, PACER_SHUTDOWN_CANCEL);
  pthread_mutex_lock(&lock);
  x->shutdown_rc[0] = s0;
  x->shutdown_rc[1] = s1;
  x->late_rc = lrc;
  x->last_done = 1;
  pthread_mutex_unlock(&lock);
}

static void on_first(const pacer_result_t *r, void *user)
{
  reent_t *x = user;
  rec_add(&rec, r, user);
  /* The main thread holds the lock until every id is stored. */
  pthread_mutex_lock(&lock);
  uint64_t vid[VICTIMS];
  memcpy(vid, x->vid, sizeof vid);
  pthread_mutex_unlock(&lock);

  /* More jobs than queue_max: from a callback submit never blocks. */
  int crc[CHAIN];
  uint64_t cid[CHAIN];
  int64_t t0 = rec_now_ns() / 1000000;
  for (int i = 0; i < CHAIN; i++) {
    char u[256];
    snprintf(u, sizeof u, "%s/chain?latency_ms=20&job=r-c%d", mock.base, i);
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = u;
    crc[i] = pacer_submit(x->p, &q, on_chain, x, &cid[i]);
  }
  int64_t t1 = rec_now_ns() / 1000000;
  int vrc[VICTIMS];
  for (int i = 0; i < VICTIMS; i++)
    vrc[i] = pacer_cancel(x->p, vid[i]);
  int self = pacer_cancel(x->p, r->id); /* its end is decided */
  int drc = pacer_drain(x->p, 1000);
  pacer_stats_t *st = NULL;
  int src = pacer_stats_get(x->p, &st);
  pacer_stats_free(st);

  pthread_mutex_lock(&lock);
  memcpy(x->chain_rc, crc, sizeof crc);
  memcpy(x->cid, cid, sizeof cid);
  memcpy(x->cancel_rc, vrc, sizeof vrc);
  x->cancel_self_rc = self;
  x->drain_rc = drc;
  x->stats_rc = src;
  x->submits_ms = t1 - t0;
  x->first_done = 1;
  pthread_mutex_unlock(&lock);
}

static void callbacks_may_call_back_in(void **state)
{
  (void)state;
  reset_mock();
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.queue_max = 4;
  c.max_attempts = 1;
  reent_t *x = calloc(1, sizeof *x);
  assert_non_null(x);
  x->cancel_self_rc = x->drain_rc = x->stats_rc = 1;
  assert_int_equal(pacer_new(&c, &x->p), 0);
  int64_t t0 = rec_now_ns() / 1000000;

  pthread_mutex_lock(&lock);
  char u[256];
  mock_url(u, sizeof u, &mock, "/first?latency_ms=50&job=r-first");
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u;
  assert_int_equal(pacer_submit(x->p, &q, on_first, x, &x->first_id), 0);
  for (int i = 0; i < VICTIMS; i++) {
    snprintf(u, sizeof u, "%s/victim?latency_ms=50&job=r-v%d", mock.base, i);
    q.url = u;
    assert_int_equal(pacer_submit(x->p, &q, rec_on_done, &rec, &x->vid[i]), 0);
  }
  pthread_mutex_unlock(&lock);

  /* Bounded: a deadlock fails here instead of hanging the suite. */
  assert_int_equal(pacer_drain(x->p, 30000), 0);
  int64_t t_end = rec_now_ns() / 1000000;
  pacer_free(x->p);

  pthread_mutex_lock(&lock);
  reent_t y = *x;
  pthread_mutex_unlock(&lock);
  printf("re-entrant callbacks: %d submits past queue_max in %lld ms, "
         "cancels %s/%s/%s, own cancel %s, drain %s, shutdown %s then %s, "
         "late submit %s; drained in %lld ms\n",
         CHAIN, (long long)y.submits_ms, pacer_err_name(y.cancel_rc[0]),
         pacer_err_name(y.cancel_rc[1]), pacer_err_name(y.cancel_rc[2]),
         pacer_err_name(y.cancel_self_rc), pacer_err_name(y.drain_rc),
         pacer_err_name(y.shutdown_rc[0]), pacer_err_name(y.shutdown_rc[1]),
         pacer_err_name(y.late_rc), (long long)(t_end - t0));
  assert_true(y.first_done && y.last_done);
  /* Every job ended once; the late one, refused, never. */
  uint64_t all[1 + VICTIMS + CHAIN] = {y.first_id};
  memcpy(all + 1, y.vid, sizeof y.vid);
  memcpy(all + 1 + VICTIMS, y.cid, sizeof y.cid);
  rec_assert_once(&rec, all, 1 + VICTIMS + CHAIN);
  assert_int_equal(rec_of(&rec, y.first_id)->status, 200);
  for (int i = 0; i < CHAIN; i++) {
    assert_int_equal(y.chain_rc[i], 0);
    assert_int_equal(rec_of(&rec, y.cid[i])->error, 0);
    assert_int_equal(rec_of(&rec, y.cid[i])->status, 200);
    assert_ptr_equal(rec_of(&rec, y.cid[i])->user, x);
  }
  for (int i = 0; i < VICTIMS; i++) {
    const rec_entry_t *v = rec_of(&rec, y.vid[i]);
    if (y.cancel_rc[i] == 0) {
      assert_int_equal(v->error, PACER_ECANCELED);
    } else {
      assert_int_equal(y.cancel_rc[i], PACER_ENOTFOUND);
      assert_int_equal(v->status, 200);
    }
  }
  /* With one slot, the last victims were surely still queued. */
  assert_int_equal(y.cancel_rc[VICTIMS - 1], 0);
  assert_int_equal(rec_of(&rec, y.vid[VICTIMS - 1])->attempts, 0);
  assert_int_equal(arrivals_of("r-v2"), 0);
  assert_int_equal(y.cancel_self_rc, PACER_ENOTFOUND);
  assert_int_equal(y.drain_rc, PACER_EINCALLBACK);
  assert_int_equal(y.stats_rc, 0);
  assert_int_equal(y.shutdown_rc[0], 0);
  assert_int_equal(y.shutdown_rc[1], 0);
  assert_int_equal(y.late_rc, PACER_ESHUTDOWN);
  free(x);
}

/* ---- load shedding ---- */

/* One slot, held by a 2 s request; 200 more jobs, one in 20 high, against
 * a bound of 20 under DROP_OLDEST_LOW. Every job ends exactly once; the
 * shed ones (PACER_ESHED, low, never started) never reach the server,
 * every other one arrives once and answers 200, and no high is shed. With
 * at most the blocker started when the last submit returns (the usual
 * case: submitting takes milliseconds), the backlog ends at the bound, so
 * exactly 201 - started - 20 are shed, and they are the oldest lows. */
static void drop_oldest_low_sheds_against_a_real_server(void **state)
{
  (void)state;
  enum { MORE = 200, BOUND = 20 };
  reset_mock();
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1;
  c.max_attempts = 1;
  c.queue_max = BOUND;
  c.queue_policy = PACER_QUEUE_DROP_OLDEST_LOW;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  char url[256];
  static uint64_t id[MORE + 1];
  static int high[MORE + 1];
  pacer_request_t q;
  pacer_request_init(&q);
  mock_url(url, sizeof url, &mock, "/blk?latency_ms=2000&job=s-blocker");
  q.url = url;
  /* High: it starts first and is never shed, even if the dispatcher has
   * not started it before the queue fills. */
  q.priority = PACER_PRIORITY_HIGH;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[0]), 0);
  for (int i = 1; i <= MORE; i++) {
    char path[64];
    snprintf(path, sizeof path, "/q?job=s-%d", i);
    mock_url(url, sizeof url, &mock, path);
    high[i] = i % 20 == 0;
    q.priority = high[i] ? PACER_PRIORITY_HIGH : PACER_PRIORITY_LOW;
    assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id[i]), 0);
  }
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  /* The blocker (high) starts first: with at most it started, no low job
   * has, and the backlog ends at the bound. */
  uint64_t started = st->started;
  int exact = started <= 1;
  pacer_stats_free(st);
  assert_int_equal(pacer_drain(p, 60000), 0);
  assert_int_equal(pacer_stats_get(p, &st), 0);
  uint64_t shed_stat = st->shed;
  pacer_stats_free(st);
  pacer_free(p);
  rec_assert_once(&rec, id, MORE + 1);
  size_t n;
  mock_arrival_t *a = mock_arrivals(&mock, NULL, &n);
  assert_non_null(a);
  static int arrived[MORE + 1];
  memset(arrived, 0, sizeof arrived);
  for (size_t k = 0; k < n; k++) {
    int i;
    if (sscanf(a[k].job, "s-%d", &i) == 1 && i >= 1 && i <= MORE)
      arrived[i]++;
  }
  free(a);
  size_t shed = 0, lows = 0, newest_shed = 0;
  for (int i = 1; i <= MORE; i++) {
    const rec_entry_t *r = rec_of(&rec, id[i]);
    lows += !high[i];
    if (r->error == PACER_ESHED) {
      assert_false(high[i]);
      assert_int_equal(r->attempts, 0);
      assert_int_equal(arrived[i], 0);
      shed++;
      newest_shed = lows;
    } else {
      assert_int_equal(r->status, 200);
      assert_int_equal(arrived[i], 1);
    }
  }
  assert_int_equal(shed, shed_stat);
  printf("bound %d, %d jobs behind a 2 s one: %zu shed (%s), the newest "
         "the %zuth low of %zu\n",
         BOUND, MORE, shed, exact ? "no low started meanwhile" : "not exact",
         newest_shed, lows);
  if (exact) { /* nothing started meanwhile: the oldest lows went */
    assert_int_equal(shed, MORE + 1 - started - BOUND);
    assert_int_equal(newest_shed, shed);
  }
}

int main(void)
{
  if (!mock_available())
    return MOCK_SKIP;
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* LIFECYCLE_TEST=name_or_glob runs only the matching tests. */
  const char *only = getenv("LIFECYCLE_TEST");
  if (only && *only)
    cmocka_set_test_filter(only);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(methods_and_bodies_arrive_intact),
      cmocka_unit_test(one_handle_carries_nothing_from_one_method_to_the_next),
      cmocka_unit_test(request_timeout_ends_a_slow_attempt),
      cmocka_unit_test(deadline_cuts_retries_short),
      cmocka_unit_test(deadline_cuts_an_attempt_in_flight),
      cmocka_unit_test(deadline_ends_a_queued_job_unsent),
      cmocka_unit_test(cancel_half_mid_run),
      cmocka_unit_test(shutdown_finish_mid_run),
      cmocka_unit_test(shutdown_cancel_mid_run),
      cmocka_unit_test(callbacks_may_call_back_in),
      cmocka_unit_test(low_speed_aborts_a_trickle),
      cmocka_unit_test(drop_oldest_low_sheds_against_a_real_server),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
