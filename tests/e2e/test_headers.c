/* SPDX-License-Identifier: MIT */
/* test_headers.c - what a job's headers can and cannot do on the wire,
 * against a real pacer-mock on loopback: framing stays the transport's on a
 * pooled connection, empty values are sent empty, a redirect drops only the
 * headers it names, URLs in logs are redacted, and a Retry-After from another
 * origin pauses no key. Every wait is pacer_drain(); every arrival is counted
 * by the server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "logcap.h"
#include "e2e.h"
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static logcap_t logs = LOGCAP_INITIALIZER;

/* Another origin on the same host (so the same key) than the group's
 * server: every answer is 429 with Retry-After: 30. Started with the group,
 * so that a failed assertion leaves no server behind. */
static mock_proc_t busy;

static int start_mocks(void **state)
{
  static const char *const args[] = {"--status", "429", "--retry-after", "30",
                                     NULL};
  if (e2e_setup(state) != 0)
    return -1;
  if (mock_start(&busy, args) != 0) {
    e2e_teardown(state);
    return -1;
  }
  return 0;
}

static int stop_mocks(void **state)
{
  int a = mock_stop(&busy);
  int b = e2e_teardown(state);
  return a || b;
}

/* ---- framing belongs to the transport ---- */

#define SMUGGLED "GET /smuggled?bytes=99 HTTP/1.1\r\nHost: victim\r\n\r\n"

typedef struct job_case {
  const char *method, *path; /* path's bytes= tells its response apart */
  pacer_header_t h[3];
  size_t nh;
  const char *body;
  int want_rc;     /* of pacer_submit */
  size_t want_len; /* body length of its own response */
} job_case_t;

/* One connection (concurrency 1) carries every job in turn. Whatever the
 * jobs' headers say, the server sees exactly one request per accepted job,
 * and each job gets its own response: a job's Content-Length: 0 in front of
 * a body that is a whole request must not make that body a second request
 * whose response the next job (another tenant's) would take as its own. */
static void one_request_per_job_on_a_pooled_connection(void **state)
{
  (void)state;
  assert_int_equal(mock_reset(&mock), 0);
  const job_case_t cases[] = {
      {"POST",
       "/a?bytes=11",
       {{"Content-Length", "0"}},
       1,
       SMUGGLED,
       PACER_EHEADER,
       0},
      {"GET",
       "/victim?bytes=22",
       {{"Authorization", "Bearer tenant-2"}},
       1,
       NULL,
       0,
       22},
      {"POST",
       "/c?bytes=33",
       {{"transfer-encoding", "chunked"}},
       1,
       "0\r\n\r\n" SMUGGLED,
       PACER_EHEADER,
       0},
      {"POST",
       "/d?bytes=44",
       {{"CONTENT-LENGTH", ""}},
       1,
       SMUGGLED,
       PACER_EHEADER,
       0},
      {"GET",
       "/e?bytes=55",
       {{"Connection", "close"}},
       1,
       NULL,
       PACER_EHEADER,
       0},
      {"GET", "/f?bytes=66", {{"Host", "victim"}}, 1, NULL, PACER_EHEADER, 0},
      {"POST",
       "/g?bytes=77",
       {{"Content-Length2", "0"}, {"X-Empty", ""}},
       2,
       SMUGGLED,
       0,
       77},
      {"GET",
       "/h?bytes=88",
       {{"Keep-Alive", "timeout=1"}},
       1,
       NULL,
       PACER_EHEADER,
       0},
      {"GET",
       "/i?bytes=10",
       {{"Upgrade", "h2c"}, {"TE", "trailers"}},
       2,
       NULL,
       PACER_EHEADER,
       0},
      {"GET", "/j?bytes=12", {{"X-Plain", "1"}}, 1, NULL, 0, 12},
  };
  enum { N = sizeof cases / sizeof cases[0] };
  pacer_config_t c = one_attempt();
  c.concurrency = 1;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  uint64_t id[N] = {0};
  int rc[N];
  rec_reset(&rec);
  for (size_t i = 0; i < N; i++) {
    char u[256];
    mock_url(u, sizeof u, &mock, cases[i].path);
    pacer_request_t q;
    pacer_request_init(&q);
    q.method = cases[i].method;
    q.url = u;
    q.headers = cases[i].h;
    q.header_count = cases[i].nh;
    q.body = cases[i].body;
    q.body_len = cases[i].body ? strlen(cases[i].body) : 0;
    rc[i] = pacer_submit(p, &q, rec_on_done, &rec, &id[i]);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);

  /* What the server saw: the accepted jobs, in order, and nothing else. */
  size_t n = 0;
  mock_arrival_t *a = mock_arrivals(&mock, NULL, &n);
  assert_non_null(a);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "arrival %zu: %s status %d\n", i, a[i].path, a[i].status);
  for (size_t i = 0; i < N; i++) {
    if (rc[i] != 0)
      continue;
    char want[32];
    snprintf(want, sizeof want, "%.*s", (int)strcspn(cases[i].path, "?"),
             cases[i].path);
    assert_true(k < n);
    assert_string_equal(a[k].path, want);
    k++;
  }
  assert_int_equal(n, k);
  free(a);
  assert_int_equal(mock_stat(&mock, "connections"), 1);

  /* Each accepted job got its own response; the others were refused. */
  rec_assert_once(&rec, id, N);
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(rc[i], cases[i].want_rc);
    if (rc[i] != 0) {
      assert_int_equal(id[i], 0);
      continue;
    }
    const rec_entry_t *r = rec_of(&rec, id[i]);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, cases[i].want_len);
  }
}

/* An empty value is sent as an empty field; it does not remove the field
 * libcurl would otherwise write (User-Agent, Accept). */
static void empty_values_are_sent_empty(void **state)
{
  (void)state;
  pacer_config_t c = one_attempt();
  pacer_header_t h[] = {
      {"User-Agent", ""}, {"Accept", " "}, {"X-Empty", ""}, {"X-Full", "1"}};
  char u[256];
  mock_url(u, sizeof u, &mock, "/empty");
  const rec_entry_t *r = fetch_req(&c, NULL, u, h, 4, NULL, 0);
  assert_int_equal(r->status, 200);
  json_t *req = mock_last_request(&mock, "/empty");
  assert_non_null(req);
  const char *ua = mock_header(req, "User-Agent");
  const char *acc = mock_header(req, "Accept");
  const char *xe = mock_header(req, "X-Empty");
  fprintf(stderr, "User-Agent %s, Accept %s, X-Empty %s\n",
          ua ? ua : "(absent)", acc ? acc : "(absent)", xe ? xe : "(absent)");
  assert_non_null(ua);
  assert_string_equal(ua, "");
  assert_non_null(acc);
  assert_string_equal(acc, "");
  assert_non_null(xe);
  assert_string_equal(xe, "");
  assert_string_equal(mock_header(req, "X-Full"), "1");
  json_decref(req);
}

/* ---- redirects ---- */

/* A 302 after a POST turns it into a GET without a body: Content-Type stays
 * behind, and only that name; "Content" and "C" are other headers. */
static void redirect_drops_only_whole_names(void **state)
{
  (void)state;
  pacer_config_t c = one_attempt();
  c.follow_redirects = 5;
  pacer_header_t h[] = {{"Content", "kept-1"},
                        {"C", "kept-2"},
                        {"Content-T", "kept-3"},
                        {"Content-Type", "text/plain"}};
  char u[256];
  mock_url(u, sizeof u, &mock, "/r?redirect=same&redirect_code=302");
  const rec_entry_t *r = fetch_req(&c, "POST", u, h, 4, "body", 0);
  assert_int_equal(r->status, 200);
  json_t *req = mock_last_request(&mock, "/final");
  assert_non_null(req);
  assert_string_equal(json_string_value(json_object_get(req, "method")), "GET");
  const char *v1 = mock_header(req, "Content");
  const char *v2 = mock_header(req, "C");
  fprintf(stderr, "Content %s, C %s\n", v1 ? v1 : "(absent)",
          v2 ? v2 : "(absent)");
  assert_non_null(v1);
  assert_string_equal(v1, "kept-1");
  assert_non_null(v2);
  assert_string_equal(v2, "kept-2");
  assert_non_null(mock_header(req, "Content-T"));
  assert_null(mock_header(req, "Content-Type"));
  json_decref(req);
}

/* ---- logs ---- */

/* Debug lines name the URL of each attempt and redirect without its
 * userinfo or query values. */
static void urls_in_logs_are_redacted(void **state)
{
  (void)state;
  pacer_config_t c = one_attempt();
  c.log_cb = logcap_on_log;
  c.log_user = &logs;
  c.log_level = PACER_LOG_DEBUG;
  c.follow_redirects = 5;
  logcap_reset(&logs);
  char u[256];
  snprintf(u, sizeof u,
           "http://alice:pw-AAA@127.0.0.1:%d/logged?token=tok-BBB&redirect="
           "same",
           mock.port);
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->status, 200);
  static logcap_t seen;
  logcap_take(&logs, &seen);
  const char *copy = seen.text;
  fprintf(stderr, "%s", copy);
  assert_non_null(strstr(copy, "/logged?token=[redacted]&redirect=[redacted]"));
  assert_non_null(strstr(copy, "redirect 302 to http://"));
  assert_null(strstr(copy, "alice"));
  assert_null(strstr(copy, "-AAA"));
  assert_null(strstr(copy, "tok-"));
}

/* ---- Retry-After ---- */

static int64_t paused_ms(pacer_t *p, const char *key)
{
  pacer_stats_t *st;
  int64_t ms = -1;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, key) == 0)
      ms = st->keys[i].paused_ms;
  pacer_stats_free(st);
  return ms;
}

/* The job's URL is on this mock; a redirect takes it to another origin
 * (busy: same host, so the same key, another port) that answers 429 with
 * Retry-After: 30. That host never spoke for the key: the key is
 * not paused. The job's own origin saying the same pauses it. */
static void retry_after_from_another_origin_pauses_no_key(void **state)
{
  (void)state;
  pacer_config_t c = one_attempt();
  c.follow_redirects = 5;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  char u[256];
  snprintf(u, sizeof u, "%s/r?redirect=port&to_port=%d", mock.base, busy.port);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = u;
  uint64_t id;
  rec_reset(&rec);
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id), 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  assert_int_equal(rec_of(&rec, id)->status, 429);
  int64_t ms = paused_ms(p, "127.0.0.1");
  fprintf(stderr, "key paused for %lld ms after a cross-origin 429\n",
          (long long)ms);
  assert_int_equal(ms, 0);

  /* The same answer from the job's own origin pauses the key. */
  mock_url(u, sizeof u, &mock, "/x?status=429&retry_after=30");
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &id), 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  assert_int_equal(rec_of(&rec, id)->status, 429);
  ms = paused_ms(p, "127.0.0.1");
  assert_true(ms > 20000 && ms <= 30000);
  pacer_free(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(one_request_per_job_on_a_pooled_connection),
      cmocka_unit_test(empty_values_are_sent_empty),
      cmocka_unit_test(redirect_drops_only_whole_names),
      cmocka_unit_test(urls_in_logs_are_redacted),
      cmocka_unit_test(retry_after_from_another_origin_pauses_no_key),
  };
  return cmocka_run_group_tests(tests, start_mocks, stop_mocks);
}
