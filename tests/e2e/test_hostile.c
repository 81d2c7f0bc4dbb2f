/* SPDX-License-Identifier: MIT */
/* test_hostile.c - servers that fight back, and the SSRF guard.
 *
 * Each hostile server ends its job with the documented error within a
 * bound, and the worker is free afterwards: every case runs on a dispatcher
 * with one worker and one request in flight, where a normal job submitted
 * right behind the hostile one must complete soon after it. The servers are
 * pacer-mock (trickle, endless headers, big bodies, gzip bombs, garbage) and
 * raw_peer.c (silence, dripped headers, resets). Already covered elsewhere,
 * so not repeated here: the error codes of a slow answer, a body or header
 * past its cap and a bomb on a fresh dispatcher (test_transport.c), and a
 * drop or garbage with retries (test_faults.c).
 *
 * The SSRF guard (deny_private) is tried on loopback addresses only: the
 * only addresses these tests ever connect to, whatever the guard does.
 *
 * `e2e_hostile --unresolvable` runs the one case that resolves a name, a
 * .invalid host, inside a new network namespace holding nothing but
 * loopback, so no query can leave the machine; where no such namespace can
 * be made it exits 77 (skipped) and says why. */
#define _GNU_SOURCE /* unshare(), struct ifreq */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "e2e.h"
#include "netguard.h"
#include "raw_peer.h"
#include <curl/curl.h>
#include <errno.h>
#include <net/if.h>
#include <pacer/pacer.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SKIP_CODE 77

static void submit(pacer_t *p, const char *url, uint64_t *id)
{
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  assert_int_equal(pacer_submit(p, &q, rec_on_done, &rec, id), 0);
}

/* ---- hostile servers ---- */

/* The settings every hostile case starts from: one worker, one request in
 * flight, so the normal job behind the hostile one can only start once the
 * hostile one has let go of both. No breaker: one case's failures must not
 * hold the next job. */
static pacer_config_t one_lane(unsigned attempts)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.workers = 1;
  c.concurrency = 1;
  c.max_attempts = attempts;
  c.backoff_base_ms = 1;
  c.breaker_enabled = 0;
  return c;
}

/* Runs the job at url on a one-lane dispatcher, then a normal job to
 * pacer-mock right behind it. The hostile job must end with want_error
 * after want_attempts attempts, within bound_ms of its submit; the normal
 * one with a 200, within 2 s after it. Returns the hostile result. */
static rec_entry_t hostile(const char *name, pacer_config_t c, const char *url,
                           int want_error, unsigned want_attempts,
                           int64_t bound_ms)
{
  pacer_t *p;
  char ok[256];
  mock_url(ok, sizeof ok, &mock, "/after?bytes=5");
  assert_int_equal(pacer_new(&c, &p), 0);
  rec_reset(&rec);
  uint64_t id[2];
  int64_t t0 = rec_now_ns() / 1000;
  submit(p, url, &id[0]);
  submit(p, ok, &id[1]);
  assert_int_equal(pacer_drain(p, bound_ms + 10000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, 2);
  rec_entry_t bad = *rec_of(&rec, id[0]), next = *rec_of(&rec, id[1]);
  int64_t took_ms = (bad.end_ns / 1000 - t0) / 1000;
  int64_t after_ms = (next.end_ns - bad.end_ns) / 1000000;
  printf("# %s: %s (curl %d, \"%s\"), %u attempts, %lld ms (bound %lld); "
         "next job %d in %lld ms after it\n",
         name, pacer_err_name(bad.error), bad.transport_code, bad.message,
         bad.attempts, (long long)took_ms, (long long)bound_ms, next.status,
         (long long)after_ms);
  assert_int_equal(bad.error, want_error);
  assert_int_equal(bad.attempts, want_attempts);
  assert_true(took_ms <= bound_ms);
  assert_int_equal(next.error, 0);
  assert_int_equal(next.status, 200);
  assert_int_equal(next.body_len, 5);
  assert_true(after_ms < 2000);
  return bad;
}

/* Accepts, reads the request, never answers: the attempt's timeout ends
 * it (PACER_ETIMEDOUT, not retried past max_attempts). */
static void silent_server_times_out(void **state)
{
  (void)state;
  raw_peer_t rp;
  assert_int_equal(raw_start(&rp, RAW_SILENT, 0), 0);
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/silent", rp.port);
  pacer_config_t c = one_lane(2);
  c.timeout_ms = 700;
  rec_entry_t r =
      hostile("accepts, never answers", c, u, PACER_ETIMEDOUT, 2, 4000);
  assert_int_equal(r.transport_code, 28); /* CURLE_OPERATION_TIMEDOUT */
  assert_int_equal(atomic_load(&rp.accepted), 2);
  raw_stop(&rp);
}

/* Over HTTP/1.1 a worker's first https transfer to an origin goes alone
 * and the others wait for it: a server that accepts and never answers the
 * TLS handshake must not hold them past their time. The first ends at its
 * connect timeout; the waiting ones then try on their own, each within its
 * own time left; all five end once, timed out. */
static void a_silent_tls_server_holds_no_waiting_transfer(void **state)
{
  (void)state;
  raw_peer_t rp;
  assert_int_equal(raw_start(&rp, RAW_SILENT, 0), 0);
  char u[128];
  snprintf(u, sizeof u, "https://127.0.0.1:%d/silent-tls", rp.port);
  pacer_config_t c = one_lane(1);
  c.concurrency = 5;
  c.http_version = PACER_HTTP_1_1;
  c.connect_timeout_ms = 300;
  c.timeout_ms = 800;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  rec_reset(&rec);
  uint64_t id[5];
  int64_t t0 = rec_now_ns();
  for (int i = 0; i < 5; i++)
    submit(p, u, &id[i]);
  assert_int_equal(pacer_drain(p, 10000), 0);
  pacer_free(p);
  rec_assert_once(&rec, id, 5);
  int64_t last_ms = 0;
  for (int i = 0; i < 5; i++) {
    const rec_entry_t *r = rec_of(&rec, id[i]);
    assert_int_equal(r->error, PACER_ETIMEDOUT);
    int64_t ms = (r->end_ns - t0) / 1000000;
    if (ms > last_ms)
      last_ms = ms;
  }
  printf("# silent TLS server, 5 transfers over HTTP/1.1: all timed out, "
         "the last after %lld ms; %d connections accepted\n",
         (long long)last_ms, atomic_load(&rp.accepted));
  assert_true(last_ms <= 800 * timing_scale() + 500);
  assert_int_equal(atomic_load(&rp.accepted), 5);
  raw_stop(&rp);
}

/* Slowloris: the headers come one byte every 2 s. Either bound ends it:
 * the attempt's timeout, or the low-speed limit (1 B/s over 3 s) under a
 * generous timeout. Both are PACER_ETIMEDOUT. */
static void dripped_headers_hit_a_time_limit(void **state)
{
  (void)state;
  raw_peer_t rp;
  assert_int_equal(raw_start(&rp, RAW_DRIP_HEADERS, 2000), 0);
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/drip", rp.port);
  pacer_config_t c = one_lane(1);
  c.timeout_ms = 3000;
  c.low_speed_bytes = 0; /* the timeout alone */
  rec_entry_t r = hostile("headers, a byte every 2 s, timeout 3 s", c, u,
                          PACER_ETIMEDOUT, 1, 4500);
  assert_int_equal(r.transport_code, 28);

  c = one_lane(1);
  c.timeout_ms = 60000;
  c.low_speed_bytes = 1;
  c.low_speed_time_ms = 3000;
  r = hostile("headers, a byte every 2 s, low speed 1 B/s over 3 s", c, u,
              PACER_ETIMEDOUT, 1, 7000);
  assert_int_equal(r.transport_code, 28);
  raw_stop(&rp);
}

/* Slowloris in the body, a byte every 2 s (0.5 B/s): with a generous
 * timeout the low-speed limit (1 B/s over 3 s) ends it, as PACER_ETIMEDOUT. */
static void dripped_body_hits_the_low_speed_limit(void **state)
{
  (void)state;
  char u[256];
  snprintf(u, sizeof u, "%s/drip?trickle=1&trickle_ms=2000&bytes=10",
           mock.base);
  pacer_config_t c = one_lane(1);
  c.timeout_ms = 60000;
  c.low_speed_bytes = 1;
  c.low_speed_time_ms = 3000;
  rec_entry_t r =
      hostile("body, a byte every 2 s", c, u, PACER_ETIMEDOUT, 1, 7000);
  assert_int_equal(r.transport_code, 28);
}

/* A reset in the middle of the headers or of the body, and a close before
 * the announced body is complete: transport errors, retried. */
static void resets_are_transport_errors(void **state)
{
  (void)state;
  static const struct {
    raw_mode_t mode;
    const char *name;
  } cases[] = {
      {RAW_RESET_HEADERS, "reset mid-headers"},
      {RAW_RESET_BODY, "reset mid-body"},
      {RAW_CLOSE_BODY, "closed mid-body"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    raw_peer_t rp;
    assert_int_equal(raw_start(&rp, cases[i].mode, 0), 0);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/reset", rp.port);
    rec_entry_t r =
        hostile(cases[i].name, one_lane(2), u, PACER_ETRANSPORT, 2, 3000);
    assert_int_not_equal(r.transport_code, 0);
    assert_int_equal(atomic_load(&rp.accepted), 2);
    raw_stop(&rp);
  }
}

/* Headers without end (many lines, or one endless value), a body past the
 * cap and a gzip bomb with decompression on: PACER_ETOOLARGE, not retried,
 * stopped as the bytes arrive. */
static void oversized_answers_are_cut(void **state)
{
  (void)state;
  char u[256];
  pacer_config_t c = one_lane(3);
  mock_url(u, sizeof u, &mock, "/h?endless_headers=1");
  hostile("endless header lines", c, u, PACER_ETOOLARGE, 1, 3000);
  mock_url(u, sizeof u, &mock, "/h?endless_headers=2");
  hostile("one endless header value", c, u, PACER_ETOOLARGE, 1, 3000);

  c.max_response_bytes = 1 << 20;
  mock_url(u, sizeof u, &mock, "/big?bytes=50000000");
  hostile("body past the cap", c, u, PACER_ETOOLARGE, 1, 3000);

  c.decompress = 1;
  mock_url(u, sizeof u, &mock, "/bomb?gzip_bomb=100000000");
  rec_entry_t r =
      hostile("gzip bomb, 100 MB decoded", c, u, PACER_ETOOLARGE, 1, 5000);
  (void)r;
}

/* A garbage status line: a transport error, retried. */
static void garbage_is_a_transport_error(void **state)
{
  (void)state;
  char u[256];
  mock_url(u, sizeof u, &mock, "/g?garbage=1");
  hostile("garbage", one_lane(2), u, PACER_ETRANSPORT, 2, 3000);
}

/* ---- the SSRF guard ---- */

static pacer_config_t guard(int on)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.deny_private = on;
  c.backoff_base_ms = 1;
  return c; /* max_attempts 3: a refusal must not be retried */
}

static const rec_entry_t *fetch(const pacer_config_t *c, const char *url)
{
  return fetch_url(c, url, 30000);
}

/* Arrivals pacer-mock m counted since its last reset. */
static long long arrivals(const mock_proc_t *m)
{
  return mock_stat(m, "total");
}

/* Refused with the guard on, served with it off, on 127.0.0.1, on [::1]
 * and through a name that resolves to loopback; a refused job reaches the
 * server not once. */
static void loopback_refused_when_denied(mock_proc_t *m, const char *url)
{
  assert_int_equal(mock_reset(m), 0);
  pacer_config_t c = guard(1);
  const rec_entry_t *r = fetch(&c, url);
  printf("# deny_private on, %s: %s (%s), %u attempts\n", url,
         pacer_err_name(r->error), r->message, r->attempts);
  assert_int_equal(r->error, PACER_EDENIED);
  assert_int_equal(r->attempts, 1);
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->message, "not allowed"));
  assert_int_equal(arrivals(m), 0);

  c = guard(0);
  r = fetch(&c, url);
  printf("# deny_private off, %s: status %d\n", url, r->status);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(arrivals(m), 1);
}

static void ipv4_loopback_is_refused(void **state)
{
  (void)state;
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/ssrf?bytes=3", mock.port);
  loopback_refused_when_denied(&mock, u);
}

/* "localhost" is answered by libcurl itself, never by a DNS query: a name
 * whose address is loopback is refused by its address. */
static void a_name_resolving_to_loopback_is_refused(void **state)
{
  (void)state;
  /* Seen to resolve "localhost" without a lookup from 7.88.0 on; an older
   * one might ask the system's resolver. */
  if (curl_version_info(CURLVERSION_NOW)->version_num < 0x075800) {
    printf("# skipped: libcurl older than 7.88.0 may look localhost up\n");
    skip();
  }
  char u[128];
  snprintf(u, sizeof u, "http://localhost:%d/ssrf?bytes=3", mock.port);
  loopback_refused_when_denied(&mock, u);
}

/* A second pacer-mock, started and stopped around one test, so that a
 * failed assertion does not leave it running. */
static mock_proc_t other;

static int start_other(const char *host, const char *url_host)
{
  const char *const args[] = {"--host", host, NULL};
  if (mock_start(&other, args) != 0)
    return -1;
  snprintf(other.base, sizeof other.base, "http://%s:%d", url_host, other.port);
  return 0;
}

static int start_v6(void **state)
{
  (void)state;
  if (start_other("::1", "[::1]") != 0)
    memset(&other, 0, sizeof other); /* the test skips */
  return 0;
}

static int stop_other(void **state)
{
  (void)state;
  pacer__netguard_allow_for_tests(0);
  return other.pid > 0 ? mock_stop(&other) : 0;
}

static void ipv6_loopback_is_refused(void **state)
{
  (void)state;
  if (other.pid <= 0) {
    printf("# skipped: pacer-mock cannot listen on [::1] here\n");
    skip();
  }
  char u[128];
  snprintf(u, sizeof u, "%s/ssrf?bytes=3", other.base);
  loopback_refused_when_denied(&other, u);
}

/* Many refusals leave the key's breaker closed: a refusal says nothing
 * about the host, which was never asked. */
static void refusals_do_not_open_the_breaker(void **state)
{
  (void)state;
  pacer_config_t c = guard(1);
  c.breaker_window = 4;
  c.breaker_min_calls = 2;
  pacer_t *p;
  assert_int_equal(pacer_new(&c, &p), 0);
  char u[128];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/ssrf", mock.port);
  uint64_t id[8];
  rec_reset(&rec);
  for (size_t i = 0; i < 8; i++)
    submit(p, u, &id[i]);
  assert_int_equal(pacer_drain(p, 30000), 0);
  pacer_stats_t *st;
  assert_int_equal(pacer_stats_get(p, &st), 0);
  int seen = 0;
  for (size_t i = 0; i < st->key_count; i++)
    if (strcmp(st->keys[i].key, "127.0.0.1") == 0) {
      seen = 1;
      assert_int_equal(st->keys[i].breaker, PACER_BREAKER_CLOSED);
    }
  assert_int_equal(st->started, 8); /* one attempt each */
  pacer_stats_free(st);
  pacer_free(p);
  (void)seen; /* a key with nothing to remember may be forgotten */
  rec_assert_once(&rec, id, 8);
  for (size_t i = 0; i < 8; i++) {
    assert_int_equal(rec_of(&rec, id[i])->error, PACER_EDENIED);
    assert_int_equal(rec_of(&rec, id[i])->attempts, 1);
  }
}

/* The first hop goes to 127.0.0.2, allowed for this test only; it
 * redirects to 127.0.0.1, which the guard must refuse before connecting:
 * the server there records no arrival. With the guard off the same chain
 * reaches it. */
static int start_first_hop(void **state)
{
  (void)state;
  return start_other("127.0.0.2", "127.0.0.2");
}

static void a_redirect_to_a_denied_address_is_refused(void **state)
{
  (void)state;
  mock_proc_t *first = &other; /* on 127.0.0.2 */
  char u[256];
  snprintf(u, sizeof u, "%s/hop?redirect=port&to_port=%d", first->base,
           mock.port);
  pacer__netguard_allow_for_tests(0x7f000002);

  pacer_config_t c = guard(1);
  c.follow_redirects = 5;
  assert_int_equal(mock_reset(&mock), 0);
  long long conns = mock_stat(&mock, "connections_accepted");
  const rec_entry_t *r = fetch(&c, u);
  /* Each /__stats read is a connection of its own: one more, no other. */
  long long conns_after = mock_stat(&mock, "connections_accepted");
  printf("# redirect 127.0.0.2 -> 127.0.0.1, deny_private on: %s (%s); "
         "arrivals: first %lld, second %lld; connections to the second: "
         "%lld\n",
         pacer_err_name(r->error), r->message, arrivals(first), arrivals(&mock),
         conns_after - conns - 1);
  assert_int_equal(conns_after - conns, 1);
  assert_int_equal(r->error, PACER_EDENIED);
  assert_int_equal(r->attempts, 1);
  assert_non_null(strstr(r->message, "127.0.0.1"));
  assert_int_equal(arrivals(first), 1); /* the allowed first hop */
  assert_int_equal(arrivals(&mock), 0); /* nothing reached the second */

  c = guard(0);
  c.follow_redirects = 5;
  r = fetch(&c, u);
  assert_int_equal(r->error, 0);
  assert_int_equal(r->status, 200);
  assert_int_equal(arrivals(first), 2);
  assert_int_equal(arrivals(&mock), 1);
}

/* ---- an unresolvable host, in a network namespace of its own ---- */

/* Why the namespace cannot keep every query in, or NULL when it can: a
 * name service other than files and DNS (systemd-resolved, mDNS, a
 * directory) or nscd would resolve through a daemon outside it. */
static const char *resolver_leaks(void)
{
  if (access("/run/nscd/socket", F_OK) == 0 ||
      access("/var/run/nscd/socket", F_OK) == 0)
    return "nscd is running: it would resolve outside the namespace";
  FILE *f = fopen("/etc/nsswitch.conf", "r");
  if (!f)
    return NULL; /* glibc's default: dns, then files */
  char line[512];
  const char *why = NULL;
  while (!why && fgets(line, sizeof line, f)) {
    if (strncmp(line, "hosts:", 6) != 0)
      continue;
    for (char *s = strtok(line + 6, " \t\n"); s; s = strtok(NULL, " \t\n"))
      if (s[0] != '[' && strcmp(s, "files") != 0 && strcmp(s, "dns") != 0 &&
          strcmp(s, "myhostname") != 0)
        why = "/etc/nsswitch.conf names a host service other than files "
              "and dns";
  }
  fclose(f);
  return why;
}

/* Enters a new network namespace and brings its loopback up. Returns NULL,
 * or why it cannot. Must run before any thread starts. */
static const char *enter_loopback_only_namespace(void)
{
  static char why[160];
  if (unshare(CLONE_NEWNET) != 0 &&
      unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    snprintf(why, sizeof why, "cannot make a network namespace: %s",
             strerror(errno));
    return why;
  }
  struct if_nameindex *ifs = if_nameindex();
  for (size_t i = 0; ifs && ifs[i].if_index; i++)
    if (strcmp(ifs[i].if_name, "lo") != 0) {
      if_freenameindex(ifs);
      return "the new namespace has an interface besides lo";
    }
  if (ifs)
    if_freenameindex(ifs);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int bad = fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0;
  if (!bad) {
    ifr.ifr_flags |= IFF_UP;
    bad = ioctl(fd, SIOCSIFFLAGS, &ifr) != 0;
  }
  if (bad) {
    snprintf(why, sizeof why, "cannot bring lo up: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    return why;
  }
  close(fd);
  return NULL;
}

/* libcurl cannot resolve the name: a transport error (CURLE_COULDNT_
 * RESOLVE_HOST), retried like any other, and the worker is free after. */
static void unresolvable_host_is_a_transport_error(void **state)
{
  (void)state;
  hostile("unresolvable .invalid host", one_lane(2),
          "http://pacer-hostile-test.invalid/", PACER_ETRANSPORT, 2, 5000);
}

static void unset_proxies(void)
{
  /* The tests talk to loopback directly, never through a proxy. */
  static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                     "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    unsetenv(vars[i]);
}

int main(int argc, char **argv)
{
  unset_proxies();
  if (argc > 1 && strcmp(argv[1], "--unresolvable") == 0) {
    const char *why = resolver_leaks();
    if (!why)
      why = enter_loopback_only_namespace();
    if (why) {
      printf("# skipped: %s; a name lookup could leave the machine\n", why);
      return SKIP_CODE;
    }
    const struct CMUnitTest t[] = {
        cmocka_unit_test(unresolvable_host_is_a_transport_error),
    };
    return cmocka_run_group_tests(t, e2e_setup, e2e_teardown);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(silent_server_times_out),
      cmocka_unit_test(a_silent_tls_server_holds_no_waiting_transfer),
      cmocka_unit_test(dripped_headers_hit_a_time_limit),
      cmocka_unit_test(dripped_body_hits_the_low_speed_limit),
      cmocka_unit_test(resets_are_transport_errors),
      cmocka_unit_test(oversized_answers_are_cut),
      cmocka_unit_test(garbage_is_a_transport_error),
      cmocka_unit_test(ipv4_loopback_is_refused),
      cmocka_unit_test(a_name_resolving_to_loopback_is_refused),
      cmocka_unit_test_setup_teardown(ipv6_loopback_is_refused, start_v6,
                                      stop_other),
      cmocka_unit_test(refusals_do_not_open_the_breaker),
      cmocka_unit_test_setup_teardown(a_redirect_to_a_denied_address_is_refused,
                                      start_first_hop, stop_other),
  };
  return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
