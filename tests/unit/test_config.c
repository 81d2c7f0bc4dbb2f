/* SPDX-License-Identifier: MIT */
/* test_config.c - config defaults, resolution and checks; requests into jobs.
 *
 * Nothing here sends anything: pacer__config_resolve() and pacer__job_new()
 * are pure apart from memory, and ASan checks that every copy is released.
 * The struct_size handling of the other caller-allocated structs is checked
 * through their helpers and, once, through the public entry points on a
 * dispatcher that is given no job. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "job.h"

#define MS INT64_C(1000000)
#define NOW INT64_C(5000000000) /* submit time of every job here, in ns */

/* ---- helpers ------------------------------------------------------------ */

/* Checks every documented default. resolved: the automatic values (burst,
 * breaker_probe_timeout_ms) have been filled in by pacer__config_resolve(). */
static void assert_defaults(const pacer_config_t *c, int resolved)
{
  assert_int_equal(c->struct_size, sizeof(pacer_config_t));
  assert_int_equal(c->queue_max, 100000);
  assert_int_equal(c->weight_high, 4);
  assert_int_equal(c->weight_low, 1);
  assert_int_equal(c->max_low_wait_ms, 10000);
  assert_int_equal(c->max_queue_wait_ms, 0);
  assert_true(c->rate == 0.0);
  assert_int_equal(c->burst, resolved ? 1 : 0);
  assert_int_equal(c->http_version, PACER_HTTP_DEFAULT);
  assert_int_equal(c->max_host_connections, 0);
  assert_int_equal(c->idle_connection_timeout_ms, 0);
  assert_true(c->key_rate == 0.0);
  assert_int_equal(c->key_burst, 0);
  assert_int_equal(c->key_concurrency, 0);
  assert_int_equal(c->max_idle_keys, 10000);
  assert_int_equal(c->concurrency, 50);
  assert_int_equal(c->workers, 2);
  assert_int_equal(c->max_attempts, 3);
  assert_int_equal(c->backoff_base_ms, 200);
  assert_int_equal(c->backoff_max_ms, 30000);
  assert_int_equal(c->retry_after_max_ms, 3600000);
  assert_int_equal(c->timeout_ms, 30000);
  assert_int_equal(c->connect_timeout_ms, 10000);
  assert_int_equal(c->breaker_window, 20);
  assert_int_equal(c->breaker_min_calls, 10);
  assert_true(c->breaker_threshold == 0.5);
  assert_int_equal(c->breaker_cooldown_ms, 30000);
  assert_int_equal(c->breaker_probes, 1);
  /* Default: timeout_ms + connect_timeout_ms. */
  assert_int_equal(c->breaker_probe_timeout_ms, resolved ? 40000 : 0);
  assert_int_equal(c->breaker_fail_fast, 0);
  assert_int_equal(c->breaker_enabled, 1);
  assert_int_equal(c->max_response_bytes, 8 * 1024 * 1024);
  assert_int_equal(c->max_header_bytes, 64 * 1024);
  assert_int_equal(c->follow_redirects, 0);
  assert_int_equal(c->decompress, 0);
  assert_int_equal(c->tls_verify, 1);
  assert_int_equal(c->deny_private, 0);
  assert_null(c->ca_file);
  assert_null(c->ca_path);
  assert_int_equal(c->low_speed_bytes, 1);
  assert_int_equal(c->low_speed_time_ms, 30000);
  assert_null(c->secret_headers);
  assert_null(c->user_agent);
  assert_null(c->log_cb);
  assert_null(c->log_user);
  assert_int_equal(c->log_level, PACER_LOG_WARN);
  assert_int_equal(c->adapt_announced, 1);
  assert_int_equal(c->adapt_aimd, 1);
  assert_true(c->adapt_min_rate == 0.1);
  assert_true(c->retry_budget_ratio == 0.2);
  assert_true(c->retry_budget_min_per_s == 3);
  assert_int_equal(c->retry_budget_window_ms, 10000);
  assert_int_equal(c->breaker_slow_ms, 0);
  assert_true(c->breaker_slow_threshold == 0.5);
}

/* Resolves in and returns the code; releases the copy when it succeeds. */
static int resolve_rc(const pacer_config_t *in)
{
  pacer_config_t out;
  int rc = pacer__config_resolve(in, &out);
  if (rc == 0)
    pacer__config_release(&out);
  return rc;
}

/* A config from pacer_config_init() with one statement applied to it (the
 * statement names it c), then resolved: must fail with code. */
#define EXPECT_CFG(code, ...)                                                  \
  do {                                                                         \
    pacer_config_t c;                                                          \
    pacer_config_init(&c);                                                     \
    __VA_ARGS__;                                                               \
    assert_int_equal(resolve_rc(&c), (code));                                  \
  } while (0)

/* ---- defaults ----------------------------------------------------------- */

static void init_fills_defaults(void **state)
{
  pacer_config_t c;
  memset(&c, 0xA5, sizeof c);
  pacer_config_init(&c);
  assert_defaults(&c, 0);
}

static void init_null_is_harmless(void **state)
{
  pacer_config_init_sized(NULL, sizeof(pacer_config_t));
}

static void resolve_null_gives_defaults(void **state)
{
  pacer_config_t out;
  memset(&out, 0xA5, sizeof out);
  assert_int_equal(pacer__config_resolve(NULL, &out), 0);
  assert_defaults(&out, 1);
  pacer__config_release(&out);
}

static void resolve_init_gives_defaults(void **state)
{
  pacer_config_t in, out;
  pacer_config_init(&in);
  assert_int_equal(pacer__config_resolve(&in, &out), 0);
  assert_defaults(&out, 1);
  pacer__config_release(&out);
}

static void auto_burst_values(void **state)
{
  assert_int_equal(pacer__auto_burst(0), 1);
  assert_int_equal(pacer__auto_burst(1), 1);
  assert_int_equal(pacer__auto_burst(99), 1);
  assert_int_equal(pacer__auto_burst(100), 1);
  assert_int_equal(pacer__auto_burst(250), 2);
  assert_int_equal(pacer__auto_burst(1000), 10);
  assert_int_equal(pacer__auto_burst(12345), 123);
  assert_int_equal(pacer__auto_burst(-5), 1);
  assert_int_equal(pacer__auto_burst(NAN), 1);
  assert_int_equal(pacer__auto_burst(INFINITY), 1);
  assert_int_equal(pacer__auto_burst(1e15), 1000000000u);
}

static void resolve_burst(void **state)
{
  static const struct {
    double rate;
    unsigned burst, want;
  } cases[] = {
      {0, 0, 1},     {50, 0, 1},      {100, 0, 1},  {250, 0, 2},
      {1000, 0, 10}, {12345, 0, 123}, {1000, 7, 7}, {0.5, 3, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pacer_config_t in, out;
    pacer_config_init(&in);
    in.rate = cases[i].rate;
    in.burst = cases[i].burst;
    assert_int_equal(pacer__config_resolve(&in, &out), 0);
    assert_int_equal(out.burst, cases[i].want);
    assert_true(out.rate == cases[i].rate);
    pacer__config_release(&out);
  }
}

static void resolve_probe_timeout(void **state)
{
  pacer_config_t in, out;
  pacer_config_init(&in);
  in.timeout_ms = 1000;
  in.connect_timeout_ms = 250;
  assert_int_equal(pacer__config_resolve(&in, &out), 0);
  assert_int_equal(out.breaker_probe_timeout_ms, 1250);
  pacer__config_release(&out);

  in.breaker_probe_timeout_ms = 77; /* explicit wins */
  assert_int_equal(pacer__config_resolve(&in, &out), 0);
  assert_int_equal(out.breaker_probe_timeout_ms, 77);
  pacer__config_release(&out);
}

/* ---- bad fields, each with its own code ---------------------------------- */

static void bad_rate(void **state)
{
  EXPECT_CFG(PACER_ERATE, c.rate = NAN);
  EXPECT_CFG(PACER_ERATE, c.rate = -1);
  EXPECT_CFG(PACER_ERATE, c.rate = INFINITY);
  EXPECT_CFG(PACER_ERATE, c.rate = -INFINITY);
  EXPECT_CFG(PACER_ERATE, c.rate = NAN; c.burst = 5);
  EXPECT_CFG(PACER_ERATE, c.key_rate = -1);
  EXPECT_CFG(PACER_ERATE, c.key_rate = -0.001; c.key_burst = 4);
  EXPECT_CFG(PACER_ERATE, c.key_rate = NAN);
  /* Edges that are fine. */
  EXPECT_CFG(0, c.rate = 0);
  EXPECT_CFG(0, c.rate = 0.001);
  EXPECT_CFG(0, c.key_rate = 10; c.key_burst = 0);
}

static void bad_concurrency_and_workers(void **state)
{
  EXPECT_CFG(PACER_ECONCURRENCY, c.concurrency = 0);
  EXPECT_CFG(PACER_EWORKERS, c.workers = 0);
  EXPECT_CFG(PACER_EWORKERS, c.workers = 1000);
  EXPECT_CFG(PACER_EWORKERS, c.workers = PACER__MAX_WORKERS + 1);
  EXPECT_CFG(0, c.workers = PACER__MAX_WORKERS);
  EXPECT_CFG(0, c.workers = 1; c.concurrency = 1);
}

static void bad_queue_and_attempts(void **state)
{
  EXPECT_CFG(PACER_EINVAL, c.queue_max = 0);
  EXPECT_CFG(PACER_EINVAL, c.weight_high = 0; c.weight_low = 0);
  EXPECT_CFG(0, c.weight_high = 0; c.weight_low = 1);
  EXPECT_CFG(0, c.weight_high = 1; c.weight_low = 0);
  EXPECT_CFG(PACER_EINVAL, c.max_attempts = 0);
  EXPECT_CFG(PACER_EINVAL, c.timeout_ms = 0);
  EXPECT_CFG(PACER_EINVAL, c.timeout_ms = -1);
  EXPECT_CFG(PACER_EINVAL, c.max_queue_wait_ms = -1);
  EXPECT_CFG(PACER_EINVAL, c.backoff_base_ms = -1);
}

static void bad_breaker(void **state)
{
  EXPECT_CFG(PACER_EINVAL, c.breaker_threshold = 0);
  EXPECT_CFG(PACER_EINVAL, c.breaker_threshold = 1.5);
  EXPECT_CFG(PACER_EINVAL, c.breaker_threshold = NAN);
  EXPECT_CFG(0, c.breaker_threshold = 1.0);
  EXPECT_CFG(PACER_EINVAL, c.breaker_window = 0);
  EXPECT_CFG(PACER_EINVAL, c.breaker_window = 2000);
  EXPECT_CFG(0, c.breaker_window = 1024);
  EXPECT_CFG(PACER_EINVAL, c.breaker_window = 5; c.breaker_min_calls = 6);
  EXPECT_CFG(0, c.breaker_window = 5; c.breaker_min_calls = 5);
  EXPECT_CFG(PACER_EINVAL, c.breaker_probes = 0);
}

static void bad_transport(void **state)
{
  EXPECT_CFG(PACER_EINVAL, c.follow_redirects = 21);
  EXPECT_CFG(0, c.follow_redirects = 20);
  EXPECT_CFG(PACER_EINVAL, c.max_response_bytes = 0);
  EXPECT_CFG(PACER_EINVAL, c.log_level = (pacer_log_level_t)4);
  EXPECT_CFG(PACER_EINVAL, c.deny_private = 2);
  EXPECT_CFG(PACER_EINVAL, c.deny_private = -1);
  EXPECT_CFG(PACER_EINVAL, c.http_version = 3);
  EXPECT_CFG(PACER_EINVAL, c.http_version = -1);
  EXPECT_CFG(0, c.http_version = PACER_HTTP_1_1);
  EXPECT_CFG(0, c.http_version = PACER_HTTP_2_PRIOR_KNOWLEDGE);
  EXPECT_CFG(PACER_EINVAL, c.idle_connection_timeout_ms = -1);
  EXPECT_CFG(PACER_EINVAL, c.idle_connection_timeout_ms = 86400001);
  EXPECT_CFG(0, c.idle_connection_timeout_ms = 86400000);
  EXPECT_CFG(0, c.max_host_connections = 1);
  EXPECT_CFG(0, c.max_host_connections = UINT_MAX);
}

static void bad_adapt(void **state)
{
  EXPECT_CFG(PACER_EINVAL, c.adapt_announced = 2);
  EXPECT_CFG(PACER_EINVAL, c.adapt_aimd = -1);
  EXPECT_CFG(0, c.adapt_announced = 0; c.adapt_aimd = 0);
  EXPECT_CFG(PACER_ERATE, c.adapt_min_rate = 0);
  EXPECT_CFG(PACER_ERATE, c.adapt_min_rate = -1);
  EXPECT_CFG(PACER_ERATE, c.adapt_min_rate = NAN);
  EXPECT_CFG(PACER_ERATE, c.adapt_min_rate = INFINITY);
  EXPECT_CFG(PACER_ERATE, c.adapt_min_rate = 2e9);
  EXPECT_CFG(0, c.adapt_min_rate = 1e-6);
  EXPECT_CFG(0, c.adapt_min_rate = 1e9);
}

static void bad_retry_budget(void **state)
{
  EXPECT_CFG(0, c.retry_budget_ratio = 0); /* off */
  EXPECT_CFG(0, c.retry_budget_ratio = 1000);
  EXPECT_CFG(0, c.retry_budget_min_per_s = 0);
  EXPECT_CFG(0, c.retry_budget_window_ms = 10);
  EXPECT_CFG(0, c.retry_budget_window_ms = 86400000);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_ratio = -0.1);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_ratio = 1001);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_ratio = NAN);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_ratio = INFINITY);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_min_per_s = -1);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_min_per_s = NAN);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_min_per_s = 2e9);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_window_ms = 9);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_window_ms = 0);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_window_ms = -1);
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_window_ms = 86400001);
  /* Checked even when off: a window is a window. */
  EXPECT_CFG(PACER_EINVAL, c.retry_budget_ratio = 0;
             c.retry_budget_window_ms = 0);
}

static void bad_breaker_slow(void **state)
{
  EXPECT_CFG(0, c.breaker_slow_ms = 1);
  EXPECT_CFG(0, c.breaker_slow_ms = 500; c.breaker_slow_threshold = 1.0);
  EXPECT_CFG(PACER_EINVAL, c.breaker_slow_ms = -1);
  EXPECT_CFG(PACER_EINVAL, c.breaker_slow_threshold = 0);
  EXPECT_CFG(PACER_EINVAL, c.breaker_slow_threshold = 1.5);
  EXPECT_CFG(PACER_EINVAL, c.breaker_slow_threshold = NAN);
}

static void bad_retry_statuses(void **state)
{
  (void)state;
  static const int bad_low[] = {503, 99}, bad_high[] = {600},
                   good[] = {100, 599};
  EXPECT_CFG(PACER_EINVAL, c.retry_status_count = 1); /* no array */
  EXPECT_CFG(PACER_EINVAL, c.retry_statuses = bad_low;
             c.retry_status_count = 2);
  EXPECT_CFG(PACER_EINVAL, c.retry_statuses = bad_high;
             c.retry_status_count = 1);
  EXPECT_CFG(0, c.retry_statuses = good; c.retry_status_count = 2);
  EXPECT_CFG(0, c.retry_statuses = bad_high; c.retry_status_count = 0);
}

/* The statuses are copied: the caller's array may change at once. */
static void retry_statuses_are_copied(void **state)
{
  (void)state;
  int st[] = {503, 429};
  pacer_config_t in, out;
  pacer_config_init(&in);
  in.retry_statuses = st;
  in.retry_status_count = 2;
  assert_int_equal(pacer__config_resolve(&in, &out), 0);
  assert_ptr_not_equal(out.retry_statuses, st);
  st[0] = 1;
  assert_int_equal(out.retry_status_count, 2);
  assert_int_equal(out.retry_statuses[0], 503);
  assert_int_equal(out.retry_statuses[1], 429);
  pacer__config_release(&out);
  assert_null(out.retry_statuses);
  assert_int_equal(out.retry_status_count, 0);
}

static void bad_secret_header(void **state)
{
  static const char *const spaced[] = {"X-Ok", "X Bad", NULL};
  static const char *const empty[] = {"", NULL};
  EXPECT_CFG(PACER_EHEADER, c.secret_headers = spaced);
  EXPECT_CFG(PACER_EHEADER, c.secret_headers = empty);
}

static void bad_struct_size(void **state)
{
  EXPECT_CFG(PACER_EINVAL, c.struct_size = 0);
  EXPECT_CFG(PACER_EINVAL, c.struct_size = sizeof(size_t) - 1);
}

/* ---- ownership ---------------------------------------------------------- */

static void strings_are_copied(void **state)
{
  char ca_file[] = "/etc/ssl/bundle.pem";
  char ca_path[] = "/etc/ssl/certs";
  char ua[] = "tester/1.0";
  char h1[] = "X-Api-Key", h2[] = "X-Token";
  const char *sh[] = {h1, h2, NULL};
  pacer_config_t in, out;

  pacer_config_init(&in);
  in.ca_file = ca_file;
  in.ca_path = ca_path;
  in.user_agent = ua;
  in.secret_headers = sh;
  assert_int_equal(pacer__config_resolve(&in, &out), 0);

  assert_ptr_not_equal(out.ca_file, ca_file);
  assert_ptr_not_equal(out.ca_path, ca_path);
  assert_ptr_not_equal(out.user_agent, ua);
  assert_ptr_not_equal(out.secret_headers, sh);
  assert_ptr_not_equal(out.secret_headers[0], h1);
  assert_ptr_not_equal(out.secret_headers[1], h2);

  /* The caller may reuse its memory at once. */
  memset(ca_file, 'x', sizeof ca_file - 1);
  memset(ca_path, 'y', sizeof ca_path - 1);
  memset(ua, 'z', sizeof ua - 1);
  h1[0] = 'Q';
  h2[0] = 'Q';
  sh[0] = "Changed";
  sh[1] = NULL;

  assert_string_equal(out.ca_file, "/etc/ssl/bundle.pem");
  assert_string_equal(out.ca_path, "/etc/ssl/certs");
  assert_string_equal(out.user_agent, "tester/1.0");
  assert_string_equal(out.secret_headers[0], "X-Api-Key");
  assert_string_equal(out.secret_headers[1], "X-Token");
  assert_null(out.secret_headers[2]);

  pacer__config_release(&out);
  assert_null(out.ca_file);
  assert_null(out.ca_path);
  assert_null(out.user_agent);
  assert_null(out.secret_headers);
  pacer__config_release(&out); /* a released copy may be released again */
}

static void empty_secret_list_is_copied(void **state)
{
  static const char *const none[] = {NULL};
  pacer_config_t in, out;
  pacer_config_init(&in);
  in.secret_headers = none;
  assert_int_equal(pacer__config_resolve(&in, &out), 0);
  assert_non_null(out.secret_headers);
  assert_ptr_not_equal(out.secret_headers, none);
  assert_null(out.secret_headers[0]);
  pacer__config_release(&out);
}

/* ---- ABI growth: a caller built against an older, shorter struct --------- */

#define OLD_SIZE offsetof(pacer_config_t, breaker_window)

/* The point of this test is a struct shorter than the type: GCC sees it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
static void older_caller_exact_buffer(void **state)
{
  /* Exactly the old size, so ASan would catch a read past it. */
  pacer_config_t *old = malloc(OLD_SIZE);
  pacer_config_t out;
  assert_non_null(old);
  pacer_config_init_sized(old, OLD_SIZE);
  assert_int_equal(old->struct_size, OLD_SIZE);
  assert_int_equal(old->concurrency, 50);
  old->concurrency = 7;
  old->timeout_ms = 5000;
  old->rate = 300;

  assert_int_equal(pacer__config_resolve(old, &out), 0);
  free(old);
  assert_int_equal(out.struct_size, sizeof(pacer_config_t));
  assert_int_equal(out.concurrency, 7);
  assert_int_equal(out.timeout_ms, 5000);
  assert_true(out.rate == 300);
  assert_int_equal(out.burst, 3);
  /* Fields the old caller does not know of: defaults. */
  assert_int_equal(out.breaker_window, 20);
  assert_int_equal(out.breaker_min_calls, 10);
  assert_true(out.breaker_threshold == 0.5);
  assert_int_equal(out.breaker_probe_timeout_ms, 15000);
  assert_int_equal(out.breaker_enabled, 1);
  assert_int_equal(out.max_response_bytes, 8 * 1024 * 1024);
  assert_int_equal(out.tls_verify, 1);
  assert_null(out.ca_file);
  assert_null(out.user_agent);
  assert_null(out.secret_headers);
  assert_int_equal(out.log_level, PACER_LOG_WARN);
  assert_int_equal(out.adapt_announced, 1); /* appended after the old size */
  assert_int_equal(out.adapt_aimd, 1);
  assert_true(out.adapt_min_rate == 0.1);
  assert_true(out.retry_budget_ratio == 0.2);
  assert_int_equal(out.breaker_slow_ms, 0);
  pacer__config_release(&out);
}
#pragma GCC diagnostic pop

static void older_caller_garbage_tail(void **state)
{
  /* A full-size buffer whose tail the old caller never wrote. */
  pacer_config_t buf, out;
  memset(&buf, 0xA5, sizeof buf);
  pacer_config_init_sized(&buf, OLD_SIZE);
  assert_int_equal(buf.struct_size, OLD_SIZE);
  buf.workers = 3;

  assert_int_equal(pacer__config_resolve(&buf, &out), 0);
  assert_int_equal(out.workers, 3);
  assert_int_equal(out.concurrency, 50);
  assert_int_equal(out.breaker_window, 20);
  assert_int_equal(out.breaker_probes, 1);
  assert_int_equal(out.breaker_fail_fast, 0);
  assert_int_equal(out.max_header_bytes, 64 * 1024);
  assert_int_equal(out.low_speed_time_ms, 30000);
  assert_null(out.ca_path);
  assert_null(out.log_cb);
  pacer__config_release(&out);
}

static void newer_size_clamped_by_init(void **state)
{
  pacer_config_t c;
  pacer_config_init_sized(&c, sizeof c + 64);
  assert_int_equal(c.struct_size, sizeof c);
  assert_defaults(&c, 0);
}

/* ---- the caller's structs of the other calls ------------------------------
 * pacer_key_limits_t (read), pacer_resume_info_t and pacer_spool_status_t
 * (filled): struct_size from the _init() macro; a struct from an older,
 * shorter header is read or written only as far as it reaches. "Older" here
 * is the struct without its last field, in a buffer of exactly that size,
 * so ASan sees any byte the library touches past it. */

#define OLD_LIMITS offsetof(pacer_key_limits_t, concurrency)
#define OLD_INFO offsetof(pacer_resume_info_t, no_handler)
#define OLD_STATUS offsetof(pacer_spool_status_t, integrity)

static void key_limits_init(void **state)
{
  pacer_key_limits_t l;
  memset(&l, 0xA5, sizeof l);
  pacer_key_limits_init(&l);
  assert_int_equal(l.struct_size, sizeof l);
  assert_true(l.rate == 0.0);
  assert_int_equal(l.burst, 0);
  assert_int_equal(l.concurrency, 0);
  memset(&l, 0xA5, sizeof l);
  pacer_key_limits_init_sized(&l, sizeof l + 64); /* a newer header's */
  assert_int_equal(l.struct_size, sizeof l);
  pacer_key_limits_init(NULL);
}

static void key_limits_copy(void **state)
{
  pacer_key_limits_t in, out;
  pacer_key_limits_init(&in);
  in.rate = 2.5;
  in.burst = 3;
  in.concurrency = 4;
  assert_int_equal(pacer__key_limits_copy(&out, &in), 0);
  assert_int_equal(out.struct_size, sizeof out);
  assert_true(out.rate == 2.5);
  assert_int_equal(out.burst, 3);
  assert_int_equal(out.concurrency, 4);

  assert_int_equal(pacer__key_limits_copy(&out, NULL), PACER_EINVAL);
  in.struct_size = 0; /* never initialised */
  assert_int_equal(pacer__key_limits_copy(&out, &in), PACER_EINVAL);
  in.struct_size = sizeof in + 8; /* a newer header than this library */
  assert_int_equal(pacer__key_limits_copy(&out, &in), PACER_EINVAL);
  in.struct_size = sizeof(size_t) - 1;
  assert_int_equal(pacer__key_limits_copy(&out, &in), PACER_EINVAL);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
static void key_limits_older_caller(void **state)
{
  pacer_key_limits_t *old = malloc(OLD_LIMITS), out;
  assert_non_null(old);
  pacer_key_limits_init_sized(old, OLD_LIMITS);
  assert_int_equal(old->struct_size, OLD_LIMITS);
  old->rate = 7;
  old->burst = 2;
  assert_int_equal(pacer__key_limits_copy(&out, old), 0);
  free(old);
  assert_true(out.rate == 7);
  assert_int_equal(out.burst, 2);
  assert_int_equal(out.concurrency, 0); /* unknown to the caller: no cap */
}

static void resume_info_sizes(void **state)
{
  pacer_resume_info_t full, got;
  memset(&got, 0xA5, sizeof got);
  pacer_resume_info_init(&got);
  assert_int_equal(got.struct_size, sizeof got);
  assert_int_equal(got.loaded + got.in_flight + got.no_handler, 0);
  pacer_resume_info_init(NULL);

  /* Cleared before use, then handed the counts. */
  got.loaded = got.in_flight = got.no_handler = 9;
  assert_int_equal(pacer__resume_info_clear(&got), 0);
  assert_int_equal(got.struct_size, sizeof got);
  assert_int_equal(got.loaded + got.in_flight + got.no_handler, 0);
  full = (pacer_resume_info_t){.loaded = 5, .in_flight = 2, .no_handler = 1};
  pacer__resume_info_give(&got, &full);
  assert_int_equal(got.struct_size, sizeof got);
  assert_int_equal(got.loaded, 5);
  assert_int_equal(got.in_flight, 2);
  assert_int_equal(got.no_handler, 1);

  assert_int_equal(pacer__resume_info_clear(NULL), 0); /* info is optional */
  pacer__resume_info_give(NULL, &full);
  got.struct_size = 0;
  assert_int_equal(pacer__resume_info_clear(&got), PACER_EINVAL);
  got.struct_size = sizeof got + 8;
  assert_int_equal(pacer__resume_info_clear(&got), PACER_EINVAL);

  /* An older caller's: only the fields it has are written. */
  pacer_resume_info_t *old = malloc(OLD_INFO);
  assert_non_null(old);
  memset(old, 0xA5, OLD_INFO);
  pacer_resume_info_init_sized(old, OLD_INFO);
  assert_int_equal(old->struct_size, OLD_INFO);
  old->loaded = 3;
  assert_int_equal(pacer__resume_info_clear(old), 0);
  assert_int_equal(old->loaded, 0);
  pacer__resume_info_give(old, &full);
  assert_int_equal(old->struct_size, OLD_INFO);
  assert_int_equal(old->loaded, 5);
  assert_int_equal(old->in_flight, 2);
  free(old);
}

static void spool_status_sizes(void **state)
{
  pacer_spool_status_t full, got;
  memset(&got, 0xA5, sizeof got);
  pacer_spool_status_init(&got);
  assert_int_equal(got.struct_size, sizeof got);
  assert_int_equal(got.queued + got.done + got.failed, 0);
  assert_int_equal(got.version, 0);
  assert_string_equal(got.mark, "");
  assert_string_equal(got.message, "");
  pacer_spool_status_init(NULL);

  assert_int_equal(pacer__spool_status_check(&got), 0);
  assert_int_equal(pacer__spool_status_check(NULL), PACER_EINVAL);
  got.struct_size = 0;
  assert_int_equal(pacer__spool_status_check(&got), PACER_EINVAL);
  got.struct_size = sizeof got + 1;
  assert_int_equal(pacer__spool_status_check(&got), PACER_EINVAL);

  memset(&full, 0, sizeof full);
  full.queued = 4;
  full.done = 6;
  full.version = 3;
  snprintf(full.mark, sizeof full.mark, "line 42");
  snprintf(full.integrity, sizeof full.integrity, "ok");
  pacer_spool_status_init(&got);
  pacer__spool_status_give(&got, &full);
  assert_int_equal(got.struct_size, sizeof got);
  assert_int_equal(got.queued, 4);
  assert_int_equal(got.done, 6);
  assert_string_equal(got.mark, "line 42");
  assert_string_equal(got.integrity, "ok");

  pacer_spool_status_t *old = malloc(OLD_STATUS);
  assert_non_null(old);
  pacer_spool_status_init_sized(old, OLD_STATUS);
  assert_int_equal(pacer__spool_status_check(old), 0);
  pacer__spool_status_give(old, &full);
  assert_int_equal(old->struct_size, OLD_STATUS);
  assert_int_equal(old->done, 6);
  assert_int_equal(old->version, 3);
  assert_string_equal(old->mark, "line 42");
  free(old);
}

/* The entry points, through the public API: a bad struct_size is refused
 * before anything happens (the spool is still resumable, the key still
 * unset), and an older caller's struct works. The dispatcher sends nothing:
 * no job is submitted. */
static void entry_points_honour_struct_size(void **state)
{
  char dir[] = "/tmp/pacer-test-config-XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/spool.db", dir);

  pacer_spool_status_t st;
  pacer_spool_status_init(&st);
  assert_int_equal(pacer_spool_status(path, &st), PACER_ESPOOL); /* none */
  assert_non_null(strstr(st.message, "no spool at"));
  st.struct_size = 0;
  st.message[0] = '\0';
  assert_int_equal(pacer_spool_status(path, &st), PACER_EINVAL);
  assert_string_equal(st.message, ""); /* left as it was */
  st.struct_size = sizeof st + 8;
  assert_int_equal(pacer_spool_status(path, &st), PACER_EINVAL);
  assert_int_equal(pacer_spool_status(NULL, &st), PACER_EINVAL);

  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.spool_path = path;
  pacer_t *p;
  assert_int_equal(pacer_new(&cfg, &p), 0);

  pacer_key_limits_t lim;
  pacer_key_limits_init(&lim);
  lim.rate = 10;
  lim.struct_size = 0;
  assert_int_equal(pacer_key_limits_set(p, "k", &lim), PACER_EINVAL);
  lim.struct_size = sizeof lim + 8;
  assert_int_equal(pacer_key_limits_set(p, "k", &lim), PACER_EINVAL);
  assert_int_equal(pacer_key_limits_set(p, "k", NULL), PACER_EINVAL);
  lim.struct_size = sizeof lim;
  assert_int_equal(pacer_key_limits_set(p, "k", &lim), 0);
  pacer_key_limits_t *old_lim = malloc(OLD_LIMITS);
  assert_non_null(old_lim);
  pacer_key_limits_init_sized(old_lim, OLD_LIMITS);
  old_lim->rate = 5;
  assert_int_equal(pacer_key_limits_set(p, "old", old_lim), 0);
  free(old_lim);
  /* A bad rate is still checked after the copy. */
  lim.rate = -1;
  assert_int_equal(pacer_key_limits_set(p, "k", &lim), PACER_ERATE);

  pacer_resume_info_t info;
  pacer_resume_info_init(&info);
  info.struct_size = 0;
  assert_int_equal(pacer_resume(p, &info), PACER_EINVAL);
  info.struct_size = sizeof info + 8;
  assert_int_equal(pacer_resume(p, &info), PACER_EINVAL);
  /* Refused before loading: the one resume still comes, with an older
   * caller's struct. */
  pacer_resume_info_t *old_info = malloc(OLD_INFO);
  assert_non_null(old_info);
  memset(old_info, 0xA5, OLD_INFO);
  pacer_resume_info_init_sized(old_info, OLD_INFO);
  assert_int_equal(pacer_resume(p, old_info), 0);
  assert_int_equal(old_info->loaded, 0);
  assert_int_equal(old_info->in_flight, 0);
  free(old_info);
  assert_int_equal(pacer_resume(p, NULL), PACER_EINVAL); /* only once */
  pacer_free(p);

  /* The spool pacer_new() made, read into an older caller's struct. */
  pacer_spool_status_t *old_st = malloc(OLD_STATUS);
  assert_non_null(old_st);
  pacer_spool_status_init_sized(old_st, OLD_STATUS);
  assert_int_equal(pacer_spool_status(path, old_st), 0);
  assert_true(old_st->version > 0);
  assert_int_equal(old_st->queued + old_st->waiting + old_st->in_flight, 0);
  assert_string_equal(old_st->mark, "");
  free(old_st);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}
#pragma GCC diagnostic pop

/* ---- requests into jobs ---------------------------------------------------
 */

/* The dispatcher settings jobs are made with: not the defaults, so that a
 * job taking "the dispatcher's" value is told apart from a hard-coded one. */
static int cfg_setup(void **state)
{
  pacer_config_t in;
  pacer_config_t *cfg = malloc(sizeof *cfg);
  if (!cfg)
    return -1;
  pacer_config_init(&in);
  in.max_attempts = 5;
  in.timeout_ms = 12000;
  if (pacer__config_resolve(&in, cfg)) {
    free(cfg);
    return -1;
  }
  *state = cfg;
  return 0;
}

static int cfg_teardown(void **state)
{
  pacer__config_release(*state);
  free(*state);
  return 0;
}

/* Builds a job from req; returns the code, and frees the job it made. */
static int job_rc(const pacer_request_t *req, const pacer_config_t *cfg)
{
  pacer__job_t *j = (pacer__job_t *)&j; /* must be overwritten */
  char key[PACER__KEY_MAX];
  int rc = pacer__job_new(req, cfg, NOW, &j, key, sizeof key);
  if (rc)
    assert_null(j);
  else
    pacer__job_free(j);
  return rc;
}

/* A request from pacer_request_init() for a good URL, one statement applied
 * (naming it r), must give code. */
#define EXPECT_REQ(code, ...)                                                  \
  do {                                                                         \
    pacer_request_t r;                                                         \
    pacer_request_init(&r);                                                    \
    r.url = "http://example.com/";                                             \
    __VA_ARGS__;                                                               \
    assert_int_equal(job_rc(&r, *state), (code));                              \
  } while (0)

static void job_get_defaults(void **state)
{
  const pacer_config_t *cfg = *state;
  pacer_request_t r;
  pacer__job_t *j = NULL;
  char key[PACER__KEY_MAX];

  pacer_request_init(&r);
  assert_int_equal(r.struct_size, sizeof r);
  r.url = "http://example.com/path?q=1";
  assert_int_equal(pacer__job_new(&r, cfg, NOW, &j, key, sizeof key), 0);
  assert_non_null(j);
  assert_string_equal(pacer__job_method(j), "GET");
  assert_string_equal(pacer__job_url(j), "http://example.com/path?q=1");
  assert_string_equal(key, "example.com");
  assert_int_equal(j->hdr_count, 0);
  assert_int_equal(j->body_len, 0);
  assert_int_equal(((const char *)pacer__job_body(j))[0], '\0');
  assert_int_equal(j->prio, PACER_PRIORITY_LOW);
  assert_int_equal(j->state, PACER__JOB_QUEUED);
  assert_int_equal(j->max_attempts, 0); /* the dispatcher's, read live */
  assert_int_equal(j->timeout_ns, 12000 * MS);
  assert_int_equal(j->submit_ns, NOW);
  assert_true(j->deadline_ns == INT64_MAX);
  assert_true(j->deadline_ns == INT64_MAX);
  assert_int_equal(j->timer_pos, UINT32_MAX);
  assert_int_equal(j->attempts, 0);
  assert_int_equal(j->retry_ok, 1);
  assert_int_equal(j->insecure, 0);
  assert_int_equal(j->follow, 0);
  assert_null(j->resp);
  assert_null(j->key);
  assert_false(pacer__linked(&j->link));
  pacer__job_free(j);
  pacer__job_free(NULL);
}

static void job_key_from_host(void **state)
{
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];

  pacer_request_init(&r);
  r.url = "HTTPS://API.Example.COM:8443/v1/Items?Q=A";
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_string_equal(key, "api.example.com");
  /* The URL itself is kept as given. */
  assert_string_equal(pacer__job_url(j),
                      "HTTPS://API.Example.COM:8443/v1/Items?Q=A");
  pacer__job_free(j);
}

static void job_explicit_key_wins(void **state)
{
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];
  char longest[PACER__KEY_MAX];

  pacer_request_init(&r);
  r.url = "http://example.com/";
  r.key = "Tenant-42";
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_string_equal(key, "Tenant-42"); /* as given, not lower-cased */
  pacer__job_free(j);

  /* The longest key that fits: PACER__KEY_MAX - 1 bytes. */
  memset(longest, 'k', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  r.key = longest;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_string_equal(key, longest);
  pacer__job_free(j);
}

static void job_headers_and_body(void **state)
{
  static const pacer_header_t hdrs[] = {
      {"X-One", "1"},
      {"Accept", "application/json"},
      {"X-Empty", ""},
  };
  static const char body[5] = {'a', '\0', 'b', '\0', 'c'};
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];

  pacer_request_init(&r);
  r.method = "POST";
  r.url = "https://example.com/upload";
  r.headers = hdrs;
  r.header_count = 3;
  r.body = body;
  r.body_len = sizeof body;
  r.priority = PACER_PRIORITY_HIGH;
  r.flags = PACER_REQ_INSECURE | PACER_REQ_FOLLOW;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);

  assert_string_equal(pacer__job_method(j), "POST");
  assert_string_equal(pacer__job_url(j), "https://example.com/upload");
  assert_int_equal(j->hdr_count, 3);
  const char *h = pacer__job_headers(j);
  assert_string_equal(h, "X-One: 1");
  h += strlen(h) + 1;
  assert_string_equal(h, "Accept: application/json");
  h += strlen(h) + 1;
  assert_string_equal(h, "X-Empty: ");
  h += strlen(h) + 1;
  /* The body follows the last header line. */
  assert_ptr_equal(h, pacer__job_body(j));
  assert_int_equal(j->body_len, 5);
  assert_memory_equal(pacer__job_body(j), body, sizeof body);
  assert_int_equal(((const char *)pacer__job_body(j))[5], '\0');
  assert_int_equal(j->prio, PACER_PRIORITY_HIGH);
  assert_int_equal(j->insecure, 1);
  assert_int_equal(j->follow, 1);
  assert_int_equal(j->retry_ok, 0);
  pacer__job_free(j);
}

static void job_times_and_attempts(void **state)
{
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];

  pacer_request_init(&r);
  r.url = "http://example.com/";
  r.deadline_ms = 1500;
  r.timeout_ms = 250;
  r.max_attempts = 7;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_int_equal(j->deadline_ns, NOW + 1500 * MS);
  assert_int_equal(j->timeout_ns, 250 * MS);
  assert_int_equal(j->max_attempts, 7);
  pacer__job_free(j);

  /* 0 takes the dispatcher's. */
  r.deadline_ms = 0;
  r.timeout_ms = 0;
  r.max_attempts = 0;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_true(j->deadline_ns == INT64_MAX);
  assert_int_equal(j->timeout_ns, 12000 * MS);
  assert_int_equal(j->max_attempts, 0); /* the dispatcher's, read live */
  pacer__job_free(j);

  /* A huge deadline saturates instead of overflowing. */
  r.deadline_ms = INT64_MAX;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  assert_true(j->deadline_ns == INT64_MAX);
  pacer__job_free(j);
}

static void job_request_is_copied(void **state)
{
  char url[] = "http://example.com/a";
  char name[] = "X-Id", value[] = "abc";
  char body[] = "payload";
  pacer_header_t hdr = {name, value};
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];

  pacer_request_init(&r);
  r.url = url;
  r.headers = &hdr;
  r.header_count = 1;
  r.body = body;
  r.body_len = 7;
  assert_int_equal(pacer__job_new(&r, *state, NOW, &j, key, sizeof key), 0);
  memset(url, 'u', sizeof url - 1);
  memset(name, 'n', sizeof name - 1);
  memset(value, 'v', sizeof value - 1);
  memset(body, 'b', sizeof body - 1);
  assert_string_equal(pacer__job_url(j), "http://example.com/a");
  assert_string_equal(pacer__job_headers(j), "X-Id: abc");
  assert_memory_equal(pacer__job_body(j), "payload", 7);
  pacer__job_free(j);
}

static void job_bad_requests(void **state)
{
  static const pacer_header_t bad_name[] = {{"X Bad", "v"}};
  static const pacer_header_t crlf[] = {{"X-A", "a\r\nX-Injected: 1"}};
  static const pacer_header_t lf[] = {{"X-A", "a\nb"}};
  static const pacer_header_t cr[] = {{"X-A", "a\rb"}};
  static const pacer_header_t empty_name[] = {{"", "v"}};
  char long_key[301];
  char edge_key[PACER__KEY_MAX + 1];

  memset(long_key, 'k', 300);
  long_key[300] = '\0';
  memset(edge_key, 'k', PACER__KEY_MAX);
  edge_key[PACER__KEY_MAX] = '\0';

  assert_int_equal(job_rc(NULL, *state), PACER_EINVAL);
  EXPECT_REQ(PACER_EINVAL, r.struct_size = 0);
  EXPECT_REQ(PACER_EURL, r.url = NULL);
  EXPECT_REQ(PACER_EURL, r.url = "");
  EXPECT_REQ(PACER_EURL, r.url = "not a url");
  EXPECT_REQ(PACER_ESCHEME, r.url = "ftp://x/");
  EXPECT_REQ(PACER_ESCHEME, r.url = "file:///etc/passwd");
  EXPECT_REQ(PACER_EMETHOD, r.method = "GE T");
  EXPECT_REQ(PACER_EMETHOD, r.method = "");
  EXPECT_REQ(PACER_EHEADER, r.headers = bad_name; r.header_count = 1);
  EXPECT_REQ(PACER_EHEADER, r.headers = empty_name; r.header_count = 1);
  EXPECT_REQ(PACER_EHEADER, r.headers = crlf; r.header_count = 1);
  EXPECT_REQ(PACER_EHEADER, r.headers = lf; r.header_count = 1);
  EXPECT_REQ(PACER_EHEADER, r.headers = cr; r.header_count = 1);
  EXPECT_REQ(PACER_EKEY, r.key = "");
  EXPECT_REQ(PACER_EKEY, r.key = long_key);
  EXPECT_REQ(PACER_EKEY, r.key = edge_key);
  EXPECT_REQ(PACER_EINVAL, r.priority = (pacer_priority_t)7);
  EXPECT_REQ(PACER_EINVAL, r.priority = (pacer_priority_t)-1);
  EXPECT_REQ(PACER_EINVAL, r.timeout_ms = -1);
  EXPECT_REQ(PACER_EINVAL, r.deadline_ms = -1);
  EXPECT_REQ(PACER_EINVAL, r.flags = 0x8u);
  EXPECT_REQ(PACER_EINVAL, r.flags = PACER_REQ_FOLLOW | 0x80000000u);
  EXPECT_REQ(PACER_EINVAL, r.header_count = 2; r.headers = NULL);
  EXPECT_REQ(PACER_EINVAL, r.body_len = 5; r.body = NULL);
  /* The baseline itself is fine. */
  EXPECT_REQ(0, (void)0);
}

static int retry_ok_of(const char *method, unsigned flags,
                       const pacer_header_t *hdrs, size_t n,
                       const pacer_config_t *cfg)
{
  pacer_request_t r;
  pacer__job_t *j;
  char key[PACER__KEY_MAX];
  pacer_request_init(&r);
  r.url = "http://example.com/";
  r.method = method;
  r.flags = flags;
  r.headers = hdrs;
  r.header_count = n;
  assert_int_equal(pacer__job_new(&r, cfg, NOW, &j, key, sizeof key), 0);
  int ok = j->retry_ok;
  pacer__job_free(j);
  return ok;
}

static void job_retry_ok(void **state)
{
  static const pacer_header_t idem_lower[] = {{"idempotency-key", "x"}};
  static const pacer_header_t idem_upper[] = {{"X-Other", "1"},
                                              {"IDEMPOTENCY-KEY", "x"}};
  static const pacer_header_t idem_mixed[] = {{"Idempotency-Key", "x"}};
  static const pacer_header_t other[] = {{"X-Idempotency", "x"}};
  const pacer_config_t *cfg = *state;

  assert_int_equal(retry_ok_of(NULL, 0, NULL, 0, cfg), 1);
  assert_int_equal(retry_ok_of("GET", 0, NULL, 0, cfg), 1);
  assert_int_equal(retry_ok_of("HEAD", 0, NULL, 0, cfg), 1);
  assert_int_equal(retry_ok_of("PUT", 0, NULL, 0, cfg), 1);
  assert_int_equal(retry_ok_of("DELETE", 0, NULL, 0, cfg), 1);
  assert_int_equal(retry_ok_of("POST", 0, NULL, 0, cfg), 0);
  assert_int_equal(retry_ok_of("PATCH", 0, NULL, 0, cfg), 0);
  assert_int_equal(retry_ok_of("POST", PACER_REQ_RETRY_UNSAFE, NULL, 0, cfg),
                   1);
  assert_int_equal(retry_ok_of("PATCH", PACER_REQ_RETRY_UNSAFE, NULL, 0, cfg),
                   1);
  assert_int_equal(retry_ok_of("POST", 0, idem_lower, 1, cfg), 1);
  assert_int_equal(retry_ok_of("POST", 0, idem_upper, 2, cfg), 1);
  assert_int_equal(retry_ok_of("PATCH", 0, idem_mixed, 1, cfg), 1);
  assert_int_equal(retry_ok_of("POST", 0, other, 1, cfg), 0);
  /* Other flags do not make a method retryable. */
  assert_int_equal(
      retry_ok_of("POST", PACER_REQ_INSECURE | PACER_REQ_FOLLOW, NULL, 0, cfg),
      0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(init_fills_defaults),
      cmocka_unit_test(init_null_is_harmless),
      cmocka_unit_test(resolve_null_gives_defaults),
      cmocka_unit_test(resolve_init_gives_defaults),
      cmocka_unit_test(auto_burst_values),
      cmocka_unit_test(resolve_burst),
      cmocka_unit_test(resolve_probe_timeout),
      cmocka_unit_test(bad_rate),
      cmocka_unit_test(bad_concurrency_and_workers),
      cmocka_unit_test(bad_queue_and_attempts),
      cmocka_unit_test(bad_breaker),
      cmocka_unit_test(bad_transport),
      cmocka_unit_test(bad_adapt),
      cmocka_unit_test(bad_retry_budget),
      cmocka_unit_test(bad_breaker_slow),
      cmocka_unit_test(bad_secret_header),
      cmocka_unit_test(bad_struct_size),
      cmocka_unit_test(strings_are_copied),
      cmocka_unit_test(empty_secret_list_is_copied),
      cmocka_unit_test(older_caller_exact_buffer),
      cmocka_unit_test(older_caller_garbage_tail),
      cmocka_unit_test(newer_size_clamped_by_init),
      cmocka_unit_test(key_limits_init),
      cmocka_unit_test(key_limits_copy),
      cmocka_unit_test(key_limits_older_caller),
      cmocka_unit_test(resume_info_sizes),
      cmocka_unit_test(spool_status_sizes),
      cmocka_unit_test(entry_points_honour_struct_size),
      cmocka_unit_test_setup_teardown(job_get_defaults, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_key_from_host, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_explicit_key_wins, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_headers_and_body, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_times_and_attempts, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_request_is_copied, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_bad_requests, cfg_setup,
                                      cfg_teardown),
      cmocka_unit_test_setup_teardown(job_retry_ok, cfg_setup, cfg_teardown),
      cmocka_unit_test(bad_retry_statuses),
      cmocka_unit_test(retry_statuses_are_copied),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
