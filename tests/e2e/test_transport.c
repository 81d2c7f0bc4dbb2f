/* SPDX-License-Identifier: MIT */
/* test_transport.c - the libcurl transport against a real pacer-mock on
 * loopback: each safe default, connection reuse, and 1,000 requests in
 * flight on a handful of threads. Every wait is pacer_drain(); every figure
 * is counted by the server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "logcap.h"
#include "e2e.h"
#include <dirent.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static logcap_t logs = LOGCAP_INITIALIZER;

/* ---- basics ---- */

static void get_returns_status_and_body(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/hello?bytes=10");
  const rec_entry_t *r = fetch_req(NULL, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->body_len, 10);
}

static void retryable_status_is_retried(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock,
           "/flaky?job=retry-1&fail_first=2&fail_status=503");
  pacer_config_t c;
  pacer_config_init(&c);
  c.backoff_base_ms = 1;
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->attempts, 3);
}

/* ---- redirects ---- */

static void redirects_are_off_by_default(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/r?redirect=same");
  const rec_entry_t *r = fetch_req(NULL, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 302);
}

static void redirects_followed_when_asked(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/r?redirect=same");
  pacer_config_t c;
  pacer_config_init(&c);
  c.follow_redirects = 3;
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  r = fetch_req(NULL, NULL, u, NULL, 0, NULL, PACER_REQ_FOLLOW);
  assert_int_equal(r->status, 200);
}

static void redirect_chain_is_bounded(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/r?redirect=loop");
  pacer_config_t c = one_attempt();
  c.follow_redirects = 5;
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETRANSPORT);
  assert_non_null(strstr(r->message, "more than 5 redirects"));
  /* Six hops reached the server: the request and five redirects. */
  json_t *reqs = mock_get(&mock, "/__requests");
  size_t hops = 0, i;
  json_t *it;
  json_array_foreach(json_object_get(reqs, "requests"), i, it)
  {
    json_t *q = json_object_get(json_object_get(it, "query"), "redirect");
    hops += json_is_string(q) && strcmp(json_string_value(q), "loop") == 0;
  }
  json_decref(reqs);
  assert_int_equal(hops, 6);
}

static void redirects_to_other_schemes_are_refused(void **state)
{
  (void)state;
  const char *paths[] = {"/r?redirect=file", "/r?redirect=gopher"};
  pacer_config_t c = one_attempt();
  c.follow_redirects = 5;
  for (int i = 0; i < 2; i++) {
    char u[256];
    mock_url(u, sizeof u, &mock, paths[i]);
    const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
    assert_int_equal(r->error, PACER_ESCHEME);
  }
}

static void secrets_stay_behind_when_the_origin_changes(void **state)
{
  (void)state;
  mock_proc_t other;
  assert_int_equal(mock_start(&other, NULL), 0);
  const char *secret_names[] = {"X-Api-Key", NULL};
  pacer_config_t c = one_attempt();
  c.follow_redirects = 5;
  c.secret_headers = secret_names;
  pacer_header_t h[] = {{"Authorization", "Bearer s3cret"},
                        {"Cookie", "session=s3cret"},
                        {"X-Api-Key", "s3cret"},
                        {"X-Plain", "visible"}};
  char u[256];
  snprintf(u, sizeof u, "%s/r?redirect=port&to_port=%d", mock.base, other.port);
  const rec_entry_t *r = fetch_req(&c, NULL, u, h, 4, NULL, 0);
  assert_int_equal(r->status, 200);
  json_t *there = mock_last_request(&other, "/final");
  assert_non_null(there);
  assert_null(mock_header(there, "Authorization"));
  assert_null(mock_header(there, "Cookie"));
  assert_null(mock_header(there, "X-Api-Key"));
  assert_non_null(mock_header(there, "X-Plain"));
  json_decref(there);
  assert_int_equal(mock_stop(&other), 0);
  /* The same origin keeps them. */
  mock_url(u, sizeof u, &mock, "/r?redirect=same");
  r = fetch_req(&c, NULL, u, h, 4, NULL, 0);
  assert_int_equal(r->status, 200);
  json_t *here = mock_last_request(&mock, "/final");
  assert_non_null(mock_header(here, "Authorization"));
  assert_non_null(mock_header(here, "X-Api-Key"));
  json_decref(here);
}

/* ---- TLS ---- */

static void tls_is_verified_unless_told_otherwise(void **state)
{
  (void)state;
  char dir[] = "/tmp/pacer-tls-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char cmd[1024], cert[300], key[300];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
           "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s "
           "-out %s 2>/dev/null",
           key, cert);
  assert_int_equal(system(cmd), 0);
  const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
  mock_proc_t tls;
  assert_int_equal(mock_start(&tls, args), 0);
  char u[256];
  snprintf(u, sizeof u, "https://127.0.0.1:%d/secure", tls.port);

  pacer_config_t c = one_attempt();
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETLS);

  c.ca_file = cert;
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);

  /* Every connection's TLS handshake is counted, full or resumed (this
   * server resumes none); all answered over HTTP/1.1 (it offers nothing
   * else by ALPN). */
  pacer_config_t h = c;
  h.workers = 2;
  h.concurrency = 8;
  pacer_t *p;
  assert_int_equal(pacer_new(&h, &p), 0);
  enum { NT = 100 };
  uint64_t ids[NT];
  rec_reset(&rec);
  for (int i = 0; i < NT; i++) {
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = u;
    assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, &ids[i]), 0);
  }
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, NT);
  rec_assert_all(&rec, ids, NT, 0, 200);
  print_message("TLS: %llu connections, %llu full handshakes, %llu resumed\n",
                (unsigned long long)st->conn.opened,
                (unsigned long long)st->conn.tls_full,
                (unsigned long long)st->conn.tls_resumed);
  assert_true(st->conn.opened >= 1 && st->conn.opened <= 8);
  assert_int_equal(st->conn.tls_full + st->conn.tls_resumed, st->conn.opened);
  assert_int_equal(st->conn.http1, NT);
  pacer_stats_free(st);

  pacer_config_t w = one_attempt();
  w.log_cb = logcap_on_log;
  w.log_user = &logs;
  logcap_reset(&logs);
  r = fetch_req(&w, NULL, u, NULL, 0, NULL, PACER_REQ_INSECURE);
  assert_int_equal(r->status, 200);
  static logcap_t seen;
  logcap_take(&logs, &seen);
  assert_true(seen.levels[PACER_LOG_WARN] >= 1);

  assert_int_equal(mock_stop(&tls), 0);
  unlink(cert);
  unlink(key);
  rmdir(dir);
}

/* ---- timeouts and caps ---- */

static void attempt_timeout_and_low_speed_abort(void **state)
{
  (void)state;
  char u[256];
  pacer_config_t c = one_attempt();
  c.timeout_ms = 300;
  mock_url(u, sizeof u, &mock, "/slow?latency_ms=3000");
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETIMEDOUT);

  c = one_attempt();
  c.low_speed_bytes = 50;
  c.low_speed_time_ms = 1000;
  mock_url(u, sizeof u, &mock, "/trickle?trickle=1&trickle_ms=200&bytes=1000");
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETIMEDOUT);
  assert_int_equal(r->transport_code, 28); /* CURLE_OPERATION_TIMEDOUT */
}

static void body_and_header_caps(void **state)
{
  (void)state;
  char u[256];
  pacer_config_t c = one_attempt();
  c.max_response_bytes = 1000;
  mock_url(u, sizeof u, &mock, "/big?bytes=1000");
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->body_len, 1000);
  mock_url(u, sizeof u, &mock, "/big?bytes=1001");
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETOOLARGE);
  mock_url(u, sizeof u, &mock, "/big?bytes=50000000");
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETOOLARGE);

  c = one_attempt();
  mock_url(u, sizeof u, &mock, "/h?endless_headers=1");
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETOOLARGE);
}

static void gzip_is_decoded_only_when_asked_and_capped(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/bomb?gzip_bomb=100000000");
  pacer_config_t c = one_attempt();
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0); /* the raw, small, compressed body */
  assert_true(r->body_len < 1000000);
  assert_string_equal(rec_header(r, "Content-Encoding"), "gzip");
  c.decompress = 1;
  c.max_response_bytes = 1 << 20;
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETOOLARGE); /* decoded bytes count */
}

/* ---- logs ---- */

static void secret_headers_are_redacted_in_logs(void **state)
{
  (void)state;
  const char *secret_names[] = {"X-Api-Key", NULL};
  pacer_config_t c = one_attempt();
  c.log_cb = logcap_on_log;
  c.log_user = &logs;
  c.log_level = PACER_LOG_DEBUG;
  c.secret_headers = secret_names;
  pacer_header_t h[] = {{"Authorization", "Bearer tok-AAA"},
                        {"Proxy-Authorization", "Basic tok-BBB"},
                        {"Cookie", "sid=tok-CCC"},
                        {"x-api-key", "tok-DDD"},
                        {"X-Plain", "plain-EEE"}};
  logcap_reset(&logs);
  char u[256];
  mock_url(u, sizeof u, &mock, "/logged");
  const rec_entry_t *r = fetch_req(&c, NULL, u, h, 5, NULL, 0);
  assert_int_equal(r->status, 200);
  static logcap_t seen;
  logcap_take(&logs, &seen);
  assert_non_null(strstr(seen.text, "[redacted]"));
  assert_non_null(strstr(seen.text, "plain-EEE"));
  assert_null(strstr(seen.text, "tok-"));
}

/* ---- connections and scale ---- */

static void connections_are_reused(void **state)
{
  (void)state;
  assert_int_equal(mock_reset(&mock), 0);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 10;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  enum { N = 1000 };
  uint64_t *ids = calloc(N, sizeof *ids);
  assert_non_null(ids);
  rec_reset(&rec);
  for (int i = 0; i < N; i++)
    ids[i] = submit_path(p, "/reuse", NULL, PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  rec_assert_all(&rec, ids, N, 0, 200);
  free(ids);
  long long conns = mock_stat(&mock, "connections");
  long long total = mock_stat(&mock, "total");
  assert_int_equal(total, N);
  if (!(conns >= 1 && conns <= 10))
    fprintf(stderr, "connections: %lld (accepted %lld)\n", conns,
            mock_stat(&mock, "connections_accepted"));
  assert_true(conns >= 1 && conns <= 10);
}

/* The connections pacer counts are the server's, and max_host_connections
 * holds them: 2 workers, 10 in flight, each answer 5 ms late, a cap of 3. */
static void connections_are_counted_and_capped(void **state)
{
  (void)state;
  assert_int_equal(mock_reset(&mock), 0);
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 10;
  c.workers = 2;
  c.max_host_connections = 3;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  enum { N = 300 };
  uint64_t ids[N];
  rec_reset(&rec);
  for (int i = 0; i < N; i++)
    ids[i] = submit_path(p, "/cap?latency_ms=5", NULL, PACER_PRIORITY_LOW, 0);
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  rec_assert_all(&rec, ids, N, 0, 200);
  long long conns = mock_stat(&mock, "connections");
  print_message("max_host_connections 3: %lld connections at the server, "
                "%llu counted\n",
                conns, (unsigned long long)st->conn.opened);
  assert_true(conns >= 1 && conns <= 3);
  assert_int_equal(st->conn.opened, (uint64_t)conns);
  assert_int_equal(st->conn.http1, N);
  assert_int_equal(st->conn.http2 + st->conn.http3, 0);
  assert_int_equal(st->conn.tls_full + st->conn.tls_resumed, 0);
  assert_int_equal(st->key_count, 1);
  assert_int_equal(st->key_conn[0].opened, st->conn.opened);
  assert_int_equal(st->key_conn[0].http1, N);
  pacer_stats_free(st);
}

/* HTTP/2 by prior knowledge to a server that speaks only HTTP/1.1 fails
 * the attempt as a transport error (the option is for servers known to
 * speak h2c). */
static void h2_prior_knowledge_needs_a_server_that_speaks_it(void **state)
{
  (void)state;
  pacer_config_t c = one_attempt();
  c.http_version = PACER_HTTP_2_PRIOR_KNOWLEDGE;
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/h2c", mock.port);
  const rec_entry_t *r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, PACER_ETRANSPORT);
  c.http_version = PACER_HTTP_DEFAULT;
  r = fetch_req(&c, NULL, u, NULL, 0, NULL, 0);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
}

static int thread_count(void)
{
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  while (d && (de = readdir(d)))
    n += de->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

/* Each response waits 1 s, times timing_scale() (3 s under ASan, 4 s under
 * TSan, which start connections far more slowly): long enough for all 1,000
 * to be at the server at once even on a loaded machine. */
static void slow_path(char *path, size_t n)
{
  snprintf(path, n, "/wait?latency_ms=%d", (int)(1000 * timing_scale()));
}

static void a_thousand_in_flight_on_few_threads(void **state)
{
  (void)state;
  assert_int_equal(mock_reset(&mock), 0);
  int before = thread_count();
  pacer_config_t c;
  pacer_config_init(&c);
  c.concurrency = 1000;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  enum { N = 1000 };
  uint64_t *ids = calloc(N, sizeof *ids);
  assert_non_null(ids);
  rec_reset(&rec);
  char path[64];
  slow_path(path, sizeof path);
  for (int i = 0; i < N; i++)
    ids[i] = submit_path(p, path, NULL, PACER_PRIORITY_LOW, 0);
  int during = thread_count();
  assert_int_equal(pacer_drain(p, 60000), 0);
  pacer_free(p);
  rec_assert_once(&rec, ids, N);
  rec_assert_all(&rec, ids, N, 0, 200);
  free(ids);
  /* All 1,000 were at the server at once... */
  assert_true(mock_stat(&mock, "peak_concurrency") >= N);
  /* ...driven by a dispatcher and two workers. */
  assert_true(during <= 8);
  assert_int_equal(during - before, 3);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(get_returns_status_and_body),
      cmocka_unit_test(retryable_status_is_retried),
      cmocka_unit_test(redirects_are_off_by_default),
      cmocka_unit_test(redirects_followed_when_asked),
      cmocka_unit_test(redirect_chain_is_bounded),
      cmocka_unit_test(redirects_to_other_schemes_are_refused),
      cmocka_unit_test(secrets_stay_behind_when_the_origin_changes),
      cmocka_unit_test(tls_is_verified_unless_told_otherwise),
      cmocka_unit_test(attempt_timeout_and_low_speed_abort),
      cmocka_unit_test(body_and_header_caps),
      cmocka_unit_test(gzip_is_decoded_only_when_asked_and_capped),
      cmocka_unit_test(secret_headers_are_redacted_in_logs),
      cmocka_unit_test(connections_are_reused),
      cmocka_unit_test(connections_are_counted_and_capped),
      cmocka_unit_test(h2_prior_knowledge_needs_a_server_that_speaks_it),
      cmocka_unit_test(a_thousand_in_flight_on_few_threads),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
