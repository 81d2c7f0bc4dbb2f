/* SPDX-License-Identifier: MIT */
/* test_stats.c - a hand-built snapshot rendered to JSON and parsed back.
 *
 * Every field gets a distinct value, so a field written under the wrong
 * name shows up. Snapshots are allocated exactly as pacer_stats_get() does
 * (malloc'd struct and key array, strdup'd keys) so pacer_stats_free() is
 * exercised on the real contract; ASan reports any leak. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pacer/pacer.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Quote, backslash, control character, 2-, 3- and 4-byte UTF-8. */
#define WEIRD_KEY "a\"b\\c\n\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80"

static pacer_stats_t *snapshot(size_t nkeys)
{
  pacer_stats_t *s = malloc(sizeof *s);
  assert_non_null(s);
  memset(s, 0, sizeof *s);
  s->submitted = 1;
  s->started = 2;
  s->succeeded = 3;
  s->failed_http = 4;
  s->failed_transport = 5;
  s->failed_timeout = 6;
  s->failed_too_large = 7;
  s->failed_retries = 8;
  s->failed_deadline = 9;
  s->failed_breaker = 10;
  s->failed_other = 11;
  s->retried = 12;
  s->cancelled = 13;
  s->expired = 14;
  s->held_by_breaker = 15;
  s->queued_high = 16;
  s->queued_low = 17;
  s->in_flight = 18;
  s->shared_grants = 19;
  s->shared_wait_us = 20;
  s->shared_errors = 21;
  s->shared_state = 2;
  s->shared_disconnects = 22;
  s->shared_fallback_grants = 23;
  s->retries_refused = 24;
  s->slow_calls = 25;
  s->shed = 26;
  s->events_dropped = 27;
  s->retry_waiting = 28;
  s->conn = (pacer_conn_stats_t){29, 30, 31, 32, 33, 34};
  s->shutdown_queued = 35;
  /* Latencies: 100 * (1 + index) + field, index in the order qh ql th tl. */
  pacer_latency_t *l[4] = {
      &s->queue_wait[PACER_PRIORITY_HIGH], &s->queue_wait[PACER_PRIORITY_LOW],
      &s->transfer[PACER_PRIORITY_HIGH], &s->transfer[PACER_PRIORITY_LOW]};
  for (int i = 0; i < 4; i++) {
    int64_t base = 100 * (1 + i);
    l[i]->count = (uint64_t)base;
    l[i]->p50_us = base + 1;
    l[i]->p90_us = base + 2;
    l[i]->p99_us = base + 3;
    l[i]->max_us = base + 4;
  }
  if (nkeys) {
    s->keys = malloc(nkeys * sizeof *s->keys);
    assert_non_null(s->keys);
    s->key_adapt = calloc(nkeys, sizeof *s->key_adapt);
    assert_non_null(s->key_adapt);
    s->key_conn = calloc(nkeys, sizeof *s->key_conn);
    assert_non_null(s->key_conn);
  }
  return s;
}

static void add_key(pacer_stats_t *s, const char *key, pacer_breaker_state_t b,
                    unsigned queued, unsigned in_flight, int64_t paused_ms)
{
  pacer_key_stats_t *k = &s->keys[s->key_count];
  k->key = key ? strdup(key) : NULL;
  assert_true(!key || k->key);
  k->breaker = b;
  k->queued = queued;
  k->in_flight = in_flight;
  k->paused_ms = paused_ms;
  /* Connections: the key's index times 10, plus the field's place. */
  uint64_t c = 10 * (uint64_t)s->key_count;
  s->key_conn[s->key_count] =
      (pacer_conn_stats_t){c + 1, c + 2, c + 3, c + 4, c + 5, c + 6};
  s->key_count++;
}

static json_t *render_and_parse(const pacer_stats_t *s)
{
  char *text = (char *)1;
  assert_int_equal(pacer_stats_json(s, &text), 0);
  assert_non_null(text);
  assert_null(strchr(text, '\n')); /* one line */
  assert_null(strstr(text, ": ")); /* compact */
  json_error_t err;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (!root)
    fail_msg("bad JSON at %d:%d: %s in %s", err.line, err.column, err.text,
             text);
  free(text);
  assert_true(json_is_object(root));
  return root;
}

/* The integer at path "a.b.c" in root. */
static json_int_t int_at(json_t *root, const char *path)
{
  char buf[128];
  json_t *v = root;
  assert_true(strlen(path) < sizeof buf);
  strcpy(buf, path);
  for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) {
    v = json_object_get(v, tok);
    if (!v)
      fail_msg("missing %s (at %s)", path, tok);
  }
  if (!json_is_integer(v))
    fail_msg("%s is not an integer", path);
  return json_integer_value(v);
}

static void check_counters(json_t *root)
{
  static const struct {
    const char *path;
    json_int_t want;
  } f[] = {
      {"submitted", 1},        {"started", 2},
      {"succeeded", 3},        {"failed.http", 4},
      {"failed.transport", 5}, {"failed.timeout", 6},
      {"failed.too_large", 7}, {"failed.retries", 8},
      {"failed.deadline", 9},  {"failed.breaker", 10},
      {"failed.other", 11},    {"retried", 12},
      {"cancelled", 13},       {"expired", 14},
      {"held_by_breaker", 15}, {"queued.high", 16},
      {"queued.low", 17},      {"in_flight", 18},
      {"shared.grants", 19},   {"shared.wait_us", 20},
      {"shared.errors", 21},   {"shed", 26},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (int_at(root, f[i].path) != f[i].want)
      fail_msg("%s: %lld, want %lld", f[i].path,
               (long long)int_at(root, f[i].path), (long long)f[i].want);
  assert_int_equal(json_object_size(json_object_get(root, "failed")), 8);
  assert_int_equal(json_object_size(json_object_get(root, "queued")), 2);
  assert_int_equal(int_at(root, "shared.disconnects"), 22);
  assert_int_equal(int_at(root, "shared.fallback_grants"), 23);
  assert_int_equal(int_at(root, "retries_refused"), 24);
  assert_int_equal(int_at(root, "slow_calls"), 25);
  assert_int_equal(json_object_size(json_object_get(root, "shared")), 6);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(root, "shared"), "state")),
                      "holding");

  static const char *const lat[4] = {
      "latency_us.queue_wait.high", "latency_us.queue_wait.low",
      "latency_us.transfer.high", "latency_us.transfer.low"};
  static const char *const fields[5] = {"count", "p50", "p90", "p99", "max"};
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 5; j++) {
      char path[96];
      snprintf(path, sizeof path, "%s.%s", lat[i], fields[j]);
      assert_int_equal(int_at(root, path), 100 * (1 + i) + j);
    }
  }
  static const char *const conn[6] = {
      "connections_opened", "tls_handshakes_full", "tls_handshakes_resumed",
      "responses_http1",    "responses_http2",     "responses_http3"};
  for (int i = 0; i < 6; i++)
    assert_int_equal(int_at(root, conn[i]), 29 + i);
  /* Exactly the documented members, nothing more. */
  assert_int_equal(json_object_size(root), 25);
  assert_int_equal(int_at(root, "shutdown_queued"), 35);
  assert_int_equal(int_at(root, "events_dropped"), 27);
  assert_int_equal(int_at(root, "retry_waiting"), 28);
}

static void renders_every_field(void **state)
{
  pacer_stats_t *s = snapshot(5);
  add_key(s, "api.example.com", PACER_BREAKER_CLOSED, 3, 2, 0);
  add_key(s, WEIRD_KEY, PACER_BREAKER_OPEN, 0, 0, 1500);
  add_key(s, "h", PACER_BREAKER_HALF_OPEN, 4000000000u, 7, INT64_MAX);
  add_key(s, "bad\xff\xc0\xafutf8\xed\xa0\x80", PACER_BREAKER_CLOSED, 0, 0, 0);
  add_key(s, NULL, (pacer_breaker_state_t)7, 1, 1, 1);
  s->key_adapt[1].reason = PACER_ADAPT_ANNOUNCED;
  s->key_adapt[1].rate = 2.5;
  s->key_adapt[2].reason = PACER_ADAPT_AIMD;
  s->key_adapt[2].rate = 0.125;
  s->key_adapt[4].reason = (pacer_adapt_reason_t)9;

  json_t *root = render_and_parse(s);
  check_counters(root);

  json_t *keys = json_object_get(root, "keys");
  assert_true(json_is_array(keys));
  assert_int_equal(json_array_size(keys), 5);
  static const struct {
    const char *key; /* NULL: JSON null */
    const char *breaker;
    json_int_t queued, in_flight, paused_ms;
    const char *adapt;
    double adapted_rate;
  } want[] = {
      {"api.example.com", "closed", 3, 2, 0, "none", 0},
      {WEIRD_KEY, "open", 0, 0, 1500, "announced", 2.5},
      {"h", "half_open", 4000000000LL, 7, INT64_MAX, "aimd", 0.125},
      /* each invalid byte becomes U+FFFD */
      {"bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdutf8\xef\xbf\xbd\xef\xbf\xbd"
       "\xef\xbf\xbd",
       "closed", 0, 0, 0, "none", 0},
      {NULL, "unknown", 1, 1, 1, "none", 0}, /* an unknown reason too */
  };
  for (size_t i = 0; i < 5; i++) {
    json_t *k = json_array_get(keys, i);
    assert_true(json_is_object(k));
    assert_int_equal(json_object_size(k), 13);
    static const char *const kconn[6] = {
        "connections_opened", "tls_handshakes_full", "tls_handshakes_resumed",
        "responses_http1",    "responses_http2",     "responses_http3"};
    for (int c = 0; c < 6; c++)
      assert_int_equal(int_at(k, kconn[c]), 10 * (json_int_t)i + c + 1);
    json_t *name = json_object_get(k, "key");
    if (want[i].key)
      assert_string_equal(json_string_value(name), want[i].key);
    else
      assert_true(json_is_null(name));
    assert_string_equal(json_string_value(json_object_get(k, "breaker")),
                        want[i].breaker);
    assert_int_equal(int_at(k, "queued"), want[i].queued);
    assert_int_equal(int_at(k, "in_flight"), want[i].in_flight);
    assert_int_equal(int_at(k, "paused_ms"), want[i].paused_ms);
    assert_string_equal(json_string_value(json_object_get(k, "adapt")),
                        want[i].adapt);
    json_t *rate = json_object_get(k, "adapted_rate");
    assert_true(json_is_real(rate));
    assert_true(json_real_value(rate) == want[i].adapted_rate);
  }
  json_decref(root);
  pacer_stats_free(s);
}

/* A paused key says why ("pause"), a key not paused nothing more. */
static void paused_keys_say_why(void **state)
{
  (void)state;
  pacer_stats_t *s = snapshot(3);
  add_key(s, "ra", PACER_BREAKER_CLOSED, 1, 0, 6000);
  add_key(s, "quota", PACER_BREAKER_CLOSED, 1, 0, 900);
  add_key(s, "idle", PACER_BREAKER_CLOSED, 0, 0, 0);
  s->key_pause = calloc(3, sizeof *s->key_pause);
  assert_non_null(s->key_pause);
  s->key_pause[0] = (pacer_key_pause_t){PACER_REASON_RETRY_AFTER, 429};
  s->key_pause[1] = (pacer_key_pause_t){PACER_REASON_ANNOUNCED, 0};
  json_t *root = render_and_parse(s);
  json_t *keys = json_object_get(root, "keys");
  json_t *p0 = json_object_get(json_array_get(keys, 0), "pause");
  json_t *p1 = json_object_get(json_array_get(keys, 1), "pause");
  assert_string_equal(json_string_value(json_object_get(p0, "reason")),
                      "retry_after");
  assert_int_equal(int_at(p0, "status"), 429);
  assert_string_equal(json_string_value(json_object_get(p1, "reason")),
                      "announced");
  assert_int_equal(int_at(p1, "status"), 0);
  assert_null(json_object_get(json_array_get(keys, 2), "pause"));
  json_decref(root);
  pacer_stats_free(s);
}

#define FFFD "\xef\xbf\xbd"

static void invalid_utf8_bytes_replaced(void **state)
{
  /* jansson refuses these; each offending byte becomes U+FFFD instead of
   * the whole rendering failing. Valid sequences at the edges survive. */
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"\xff", FFFD},
      {"\xc0\xaf", FFFD FFFD},                   /* overlong '/' */
      {"\xe0\x80\x80", FFFD FFFD FFFD},          /* overlong 3-byte */
      {"\xed\xa0\x80", FFFD FFFD FFFD},          /* surrogate */
      {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD}, /* above U+10FFFF */
      {"\xf5\x80", FFFD FFFD},
      {"x\xf0\x9f\x98", "x" FFFD FFFD FFFD}, /* cut short by the end */
      {"\xc3", FFFD},
      {"\xc3\xa9\x80\xc3\xa9", "\xc3\xa9" FFFD "\xc3\xa9"},
      {"\xef\xbf\xbf\xf4\x8f\xbf\xbf",
       "\xef\xbf\xbf\xf4\x8f\xbf\xbf"}, /* valid */
  };
  size_t n = sizeof cases / sizeof cases[0];
  pacer_stats_t *s = snapshot(n);
  for (size_t i = 0; i < n; i++)
    add_key(s, cases[i].in, PACER_BREAKER_CLOSED, 0, 0, 0);
  json_t *root = render_and_parse(s);
  json_t *keys = json_object_get(root, "keys");
  assert_int_equal(json_array_size(keys), n);
  for (size_t i = 0; i < n; i++) {
    json_t *k = json_object_get(json_array_get(keys, i), "key");
    assert_string_equal(json_string_value(k), cases[i].out);
  }
  json_decref(root);
  pacer_stats_free(s);
}

static void no_keys_is_empty_array(void **state)
{
  pacer_stats_t *s = snapshot(0);
  json_t *root = render_and_parse(s);
  check_counters(root);
  json_t *keys = json_object_get(root, "keys");
  assert_true(json_is_array(keys));
  assert_int_equal(json_array_size(keys), 0);
  json_decref(root);
  pacer_stats_free(s);
}

/* Each shared_state by its name; an unknown one says so. */
static void shared_state_names(void **state)
{
  static const char *const names[] = {"none", "connected", "holding",
                                      "fallback", "unknown"};
  pacer_stats_t *s = snapshot(0);
  for (int i = 0; i < 5; i++) {
    s->shared_state = i;
    json_t *root = render_and_parse(s);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(root, "shared"), "state")),
                        names[i]);
    json_decref(root);
  }
  pacer_stats_free(s);
}

static void huge_counters_clamp(void **state)
{
  pacer_stats_t *s = snapshot(0);
  s->submitted = UINT64_MAX;
  s->started = (uint64_t)LLONG_MAX;
  s->in_flight = (uint64_t)LLONG_MAX + 1;
  s->transfer[PACER_PRIORITY_LOW].count = UINT64_MAX;
  json_t *root = render_and_parse(s);
  assert_true(int_at(root, "submitted") == LLONG_MAX);
  assert_true(int_at(root, "started") == LLONG_MAX);
  assert_true(int_at(root, "in_flight") == LLONG_MAX);
  assert_true(int_at(root, "latency_us.transfer.low.count") == LLONG_MAX);
  assert_int_equal(int_at(root, "succeeded"), 3);
  json_decref(root);
  pacer_stats_free(s);
}

static void bad_arguments(void **state)
{
  char *text = (char *)1;
  assert_int_equal(pacer_stats_json(NULL, &text), PACER_EINVAL);
  assert_null(text);
  pacer_stats_t *s = snapshot(0);
  assert_int_equal(pacer_stats_json(s, NULL), PACER_EINVAL);
  s->key_count = 2; /* keys NULL: not a snapshot pacer_stats_get makes */
  text = (char *)1;
  assert_int_equal(pacer_stats_json(s, &text), PACER_EINVAL);
  assert_null(text);
  s->key_count = 0;
  pacer_stats_free(s);
  pacer_stats_free(NULL);
}

static void free_partial_snapshot(void **state)
{
  /* As pacer_stats_get leaves it when strdup fails on the third key. */
  pacer_stats_t *s = snapshot(4);
  add_key(s, "one", PACER_BREAKER_CLOSED, 0, 0, 0);
  add_key(s, "two", PACER_BREAKER_CLOSED, 0, 0, 0);
  pacer_stats_free(s); /* ASan: nothing leaks, nothing uninitialised freed */
}

/* jansson allocator that fails after a budget, counting live blocks. */
static long alloc_budget;
static long alloc_live;

static void *failing_malloc(size_t n)
{
  if (alloc_budget-- <= 0)
    return NULL;
  void *p = malloc(n);
  if (p)
    alloc_live++;
  return p;
}

static void counting_free(void *p)
{
  if (p)
    alloc_live--;
  free(p);
}

static void out_of_memory_leaks_nothing(void **state)
{
  pacer_stats_t *s = snapshot(3);
  add_key(s, "api.example.com", PACER_BREAKER_CLOSED, 3, 2, 0);
  add_key(s, WEIRD_KEY, PACER_BREAKER_OPEN, 0, 0, 1500);
  add_key(s, "bad\xff", PACER_BREAKER_HALF_OPEN, 1, 0, 0);
  int failures = 0, ok = 0;
  /* Fail each allocation in turn until the rendering needs no more. */
  for (long budget = 0; budget < 100000 && !ok; budget++) {
    alloc_budget = budget;
    alloc_live = 0;
    json_set_alloc_funcs(failing_malloc, counting_free);
    char *text = (char *)1;
    int rc = pacer_stats_json(s, &text);
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(alloc_live, 0);
    if (rc == 0) {
      assert_non_null(text);
      free(text); /* libc free: the text is not jansson's */
      ok = 1;
    } else {
      assert_int_equal(rc, PACER_ENOMEM);
      assert_null(text);
      failures++;
    }
  }
  assert_true(ok);
  assert_true(failures > 20); /* every object and string was a failure point */
  pacer_stats_free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(renders_every_field),
      cmocka_unit_test(paused_keys_say_why),
      cmocka_unit_test(invalid_utf8_bytes_replaced),
      cmocka_unit_test(no_keys_is_empty_array),
      cmocka_unit_test(shared_state_names),
      cmocka_unit_test(huge_counters_clamp),
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test(free_partial_snapshot),
      cmocka_unit_test(out_of_memory_leaks_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
