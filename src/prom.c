/* SPDX-License-Identifier: MIT */
/* prom.c - pacer_stats_prometheus(): a snapshot in the Prometheus text
 * exposition format (0.0.4), driven by tables: one row per sample, so a new
 * counter is one line.
 *
 * Invariants:
 * - the rows of one metric name are adjacent in their table; its # HELP
 *   and # TYPE are written once, from its first row, before its samples;
 * - every number is written from integers (counts, or millionths for
 *   seconds and ratios), so the output is exact and the same in any locale;
 * - the only label values not constant are key names; a key gets series of
 *   its own only if it is well-formed UTF-8 and not "~other", and is
 *   written with backslash, quote and newline escaped, so two keys never
 *   make one series and the summed rest never collides with a key;
 * - the text is one malloc'd buffer grown by doubling; after a failure
 *   nothing more is written and the buffer is freed. */
#include "utf8.h"
#include <pacer/pacer.h>
#include <stdlib.h>
#include <string.h>

/* ---- the output buffer ---- */

typedef struct buf {
  char *p;
  size_t len, cap;
  int oom;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (n >= SIZE_MAX - b->len) {
    b->oom = 1;
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void put_s(buf_t *b, const char *s)
{
  put(b, s, strlen(s));
}

static void put_u64(buf_t *b, uint64_t v)
{
  char d[24];
  size_t i = sizeof d;
  do {
    d[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(b, d + i, sizeof d - i);
}

/* v millionths as a decimal with no trailing zero: 2500 is "0.0025". */
static void put_micro(buf_t *b, uint64_t v)
{
  put_u64(b, v / 1000000);
  uint64_t f = v % 1000000;
  if (!f)
    return;
  char d[7] = {'.'};
  for (int i = 6; i >= 1; i--, f /= 10)
    d[i] = (char)('0' + f % 10);
  size_t n = sizeof d;
  while (d[n - 1] == '0')
    n--;
  put(b, d, n);
}

/* A label value: backslash, double quote and line feed escaped, as the
 * format requires; s is well-formed UTF-8. */
static void put_label_value(buf_t *b, const char *s)
{
  for (const char *run = s;; s++) {
    const char *esc = *s == '\\'   ? "\\\\"
                      : *s == '"'  ? "\\\""
                      : *s == '\n' ? "\\n"
                                   : NULL;
    if (!esc && *s)
      continue;
    put(b, run, (size_t)(s - run));
    if (!*s)
      return;
    put_s(b, esc);
    run = s + 1;
  }
}

static void put_family(buf_t *b, const char *name, const char *type,
                       const char *help)
{
  put_s(b, "# HELP ");
  put_s(b, name);
  put_s(b, " ");
  put_s(b, help);
  put_s(b, "\n# TYPE ");
  put_s(b, name);
  put_s(b, " ");
  put_s(b, type);
  put_s(b, "\n");
}

/* A value: an integer, or millionths written as a decimal. */
typedef struct value {
  uint64_t v;
  int micro;
} value_t;

/* name{labels} value, or name value when labels is NULL. */
static void put_sample(buf_t *b, const char *name, const char *labels,
                       value_t v)
{
  put_s(b, name);
  if (labels) {
    put_s(b, "{");
    put_s(b, labels);
    put_s(b, "}");
  }
  put_s(b, " ");
  if (v.micro)
    put_micro(b, v.v);
  else
    put_u64(b, v.v);
  put_s(b, "\n");
}

/* ---- the dispatcher's metrics ---- */

typedef enum kind {
  K_U64,  /* uint64_t field */
  K_UINT, /* unsigned field */
  K_INT,  /* int field, negative written as 0 */
  K_US,   /* int64_t microseconds field, written in seconds */
  K_FN    /* computed by fn */
} kind_t;

typedef struct metric {
  const char *name;
  const char *type;   /* "counter" or "gauge" */
  const char *labels; /* NULL, or this row's labels: outcome="timeout" */
  const char *help;   /* the name's first row only */
  kind_t kind;
  size_t off; /* of the field in pacer_stats_t */
  value_t (*fn)(const pacer_stats_t *s);
} metric_t;

/* offsetof(pacer_stats_t, f), which fails to compile unless f has type T
 * (a type in a _Generic association cannot be parenthesized). */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define FIELD(f, T)                                                            \
  (offsetof(pacer_stats_t, f) +                                                \
   0 * sizeof(char[_Generic(((pacer_stats_t *)0)->f, T : 1)]))
/* NOLINTEND(bugprone-macro-parentheses) */
#define COUNTER(n, lab, f, h)                                                  \
  {                                                                            \
    n, "counter", lab, h, K_U64, FIELD(f, uint64_t), NULL                      \
  }
#define GAUGE(n, lab, f, h)                                                    \
  {                                                                            \
    n, "gauge", lab, h, K_U64, FIELD(f, uint64_t), NULL                        \
  }
#define GAUGE_UINT(n, f, h)                                                    \
  {                                                                            \
    n, "gauge", NULL, h, K_UINT, FIELD(f, unsigned), NULL                      \
  }
#define GAUGE_INT(n, f, h)                                                     \
  {                                                                            \
    n, "gauge", NULL, h, K_INT, FIELD(f, int), NULL                            \
  }
#define COUNTER_US(n, f, h)                                                    \
  {                                                                            \
    n, "counter", NULL, h, K_US, FIELD(f, int64_t), NULL                       \
  }
#define GAUGE_FN(n, fn, h)                                                     \
  {                                                                            \
    n, "gauge", NULL, h, K_FN, 0, fn                                           \
  }
#define ENDED(outcome, f, h)                                                   \
  COUNTER("pacer_jobs_ended_total", "outcome=\"" outcome "\"", f, h)

static value_t utilisation(const pacer_stats_t *s)
{
  value_t v = {0, 1};
  if (s->concurrency) /* a hand-made snapshot may have none */
    v.v = s->in_flight > UINT64_MAX / 1000000
              ? UINT64_MAX
              : (s->in_flight * 1000000 + s->concurrency / 2) / s->concurrency;
  return v;
}

static value_t keys_tracked(const pacer_stats_t *s)
{
  return (value_t){s->key_count, 0};
}

static value_t open_breakers(const pacer_stats_t *s)
{
  value_t v = {0, 0};
  for (size_t i = 0; i < s->key_count; i++)
    v.v += s->keys[i].breaker != PACER_BREAKER_CLOSED;
  return v;
}

static value_t paused_keys(const pacer_stats_t *s)
{
  value_t v = {0, 0};
  for (size_t i = 0; i < s->key_count; i++)
    v.v += s->keys[i].paused_ms > 0;
  return v;
}

/* clang-format off */
static const metric_t metrics[] = {
    COUNTER("pacer_jobs_submitted_total", NULL, submitted,
            "Jobs accepted."),
    ENDED("succeeded", succeeded,
          "Jobs ended, by outcome: a response below 400 (succeeded) or "
          "of 400 and up (http_error), else the error that ended them; "
          "each job ends once."),
    ENDED("http_error", failed_http, NULL),
    ENDED("transport", failed_transport, NULL),
    ENDED("timeout", failed_timeout, NULL),
    ENDED("too_large", failed_too_large, NULL),
    ENDED("retries_exhausted", failed_retries, NULL),
    ENDED("deadline", failed_deadline, NULL),
    ENDED("breaker", failed_breaker, NULL),
    ENDED("cancelled", cancelled, NULL),
    ENDED("expired", expired, NULL),
    ENDED("shed", shed, NULL),
    ENDED("other", failed_other, NULL),
    COUNTER("pacer_attempts_started_total", NULL, started,
            "Attempts started, retries included."),
    COUNTER("pacer_retries_scheduled_total", NULL, retried,
            "Retries scheduled."),
    COUNTER("pacer_retries_refused_total", NULL, retries_refused,
            "Retries the retry budget refused (their jobs ended)."),
    COUNTER("pacer_breaker_holds_total", NULL, held_by_breaker,
            "Times a key's jobs were held by its open circuit breaker."),
    COUNTER("pacer_slow_calls_total", NULL, slow_calls,
            "Attempts answered slower than the breaker's slow-call limit."),
    COUNTER("pacer_events_dropped_total", NULL, events_dropped,
            "Events dropped because too many waited for the event "
            "callback."),
    GAUGE("pacer_queued_jobs", "priority=\"high\"", queued_high,
          "Jobs queued now, retries waiting for their time included, by "
          "priority."),
    GAUGE("pacer_queued_jobs", "priority=\"low\"", queued_low, NULL),
    GAUGE("pacer_retry_waiting_jobs", NULL, retry_waiting,
          "Of the queued jobs, those waiting for their next attempt's time "
          "(a backoff or a Retry-After)."),
    GAUGE("pacer_in_flight_requests", NULL, in_flight,
          "Requests in flight now."),
    GAUGE_UINT("pacer_concurrency_limit", concurrency,
               "The cap on requests in flight now."),
    GAUGE_FN("pacer_concurrency_utilisation_ratio", utilisation,
             "Requests in flight over the cap on them (above 1 for a while "
             "after the cap was lowered)."),
    GAUGE_FN("pacer_keys", keys_tracked,
             "Keys (hosts, or the keys jobs name) the dispatcher tracks now."),
    GAUGE_FN("pacer_open_breakers", open_breakers,
             "Keys whose circuit breaker is open or half-open now."),
    GAUGE_FN("pacer_paused_keys", paused_keys,
             "Keys paused now by a Retry-After or an exhausted announced "
             "quota."),
    COUNTER("pacer_connections_opened_total", NULL, conn.opened,
            "Connections opened."),
    COUNTER("pacer_tls_handshakes_total", "kind=\"full\"", conn.tls_full,
            "TLS handshakes of the connections opened: in full, or resuming "
            "a session (0 both where libcurl's TLS backend is not "
            "OpenSSL)."),
    COUNTER("pacer_tls_handshakes_total", "kind=\"resumed\"",
            conn.tls_resumed, NULL),
    COUNTER("pacer_responses_total", "http_version=\"1\"", conn.http1,
            "Attempts answered, by the response's HTTP version (1: 1.0 or "
            "1.1)."),
    COUNTER("pacer_responses_total", "http_version=\"2\"", conn.http2, NULL),
    COUNTER("pacer_responses_total", "http_version=\"3\"", conn.http3, NULL),
    COUNTER("pacer_shared_grants_total", NULL, shared_grants,
            "Tokens the shared limit store granted."),
    COUNTER("pacer_shared_fallback_grants_total", NULL, shared_fallback_grants,
            "Of the tokens granted, those drawn from the local fallback "
            "buckets."),
    COUNTER("pacer_shared_errors_total", NULL, shared_errors,
            "Takes the shared limit store could not serve."),
    COUNTER("pacer_shared_disconnects_total", NULL, shared_disconnects,
            "Times the connection to the shared limit store was lost."),
    COUNTER_US("pacer_shared_wait_seconds_total", shared_wait_us,
               "Time jobs waited on the shared limit store."),
    GAUGE_INT("pacer_shared_state", shared_state,
              "The shared limit store: 0 none, 1 connected, 2 holding (store "
              "unreachable, nothing starts), 3 fallback (store unreachable, "
              "local buckets)."),
};

/* Histograms, by priority: a pacer_histogram_t[2] field each. */
static const struct hist_metric {
  const char *name, *help;
  size_t off;
} hists[] = {
    {"pacer_queue_wait_seconds",
     "Time from submit to a job's first attempt, by priority.",
     FIELD(queue_wait_hist, pacer_histogram_t *)},
    {"pacer_transfer_seconds", "Duration of each attempt, by priority.",
     FIELD(transfer_hist, pacer_histogram_t *)},
};
/* clang-format on */

static value_t value_of(const pacer_stats_t *s, const metric_t *m)
{
  const char *f = (const char *)s + m->off;
  value_t v = {0, 0};
  uint64_t u;
  unsigned ui;
  int i;
  int64_t l;
  switch (m->kind) {
  case K_U64:
    memcpy(&u, f, sizeof u);
    v.v = u;
    break;
  case K_UINT:
    memcpy(&ui, f, sizeof ui);
    v.v = ui;
    break;
  case K_INT:
    memcpy(&i, f, sizeof i);
    v.v = i > 0 ? (uint64_t)i : 0;
    break;
  case K_US:
    memcpy(&l, f, sizeof l);
    v.v = l > 0 ? (uint64_t)l : 0;
    v.micro = 1;
    break;
  case K_FN:
    v = m->fn(s);
    break;
  }
  return v;
}

static void put_metrics(buf_t *b, const pacer_stats_t *s)
{
  size_t n = sizeof metrics / sizeof metrics[0];
  for (size_t i = 0; i < n; i++) {
    const metric_t *m = &metrics[i];
    if (i == 0 || strcmp(m->name, metrics[i - 1].name))
      put_family(b, m->name, m->type, m->help);
    put_sample(b, m->name, m->labels, value_of(s, m));
  }
}

static const int64_t bound_us[PACER_HISTOGRAM_BUCKETS] =
    PACER_HISTOGRAM_BOUNDS_US;

/* One histogram's samples: name_bucket per bound and +Inf, _sum, _count. */
static void put_histogram(buf_t *b, const char *name, const char *prio,
                          const pacer_histogram_t *h)
{
  for (int i = 0; i <= PACER_HISTOGRAM_BUCKETS; i++) {
    put_s(b, name);
    put_s(b, "_bucket{priority=\"");
    put_s(b, prio);
    put_s(b, "\",le=\"");
    if (i < PACER_HISTOGRAM_BUCKETS)
      put_micro(b, (uint64_t)bound_us[i]);
    else
      put_s(b, "+Inf");
    put_s(b, "\"} ");
    /* A hand-made snapshot may not be cumulative: never let a bucket say
     * more than the ones after it, nor than the count. */
    uint64_t c = i < PACER_HISTOGRAM_BUCKETS ? h->le[i] : h->count;
    for (int j = i + 1; j < PACER_HISTOGRAM_BUCKETS; j++)
      c = h->le[j] < c ? h->le[j] : c;
    put_u64(b, c < h->count ? c : h->count);
    put_s(b, "\n");
  }
  for (int k = 0; k < 2; k++) {
    put_s(b, name);
    put_s(b, k ? "_count" : "_sum");
    put_s(b, "{priority=\"");
    put_s(b, prio);
    put_s(b, "\"} ");
    if (k)
      put_u64(b, h->count);
    else
      put_micro(b, h->sum_us);
    put_s(b, "\n");
  }
}

static void put_histograms(buf_t *b, const pacer_stats_t *s)
{
  for (size_t i = 0; i < sizeof hists / sizeof hists[0]; i++) {
    const pacer_histogram_t *h =
        (const pacer_histogram_t *)((const char *)s + hists[i].off);
    put_family(b, hists[i].name, "histogram", hists[i].help);
    put_histogram(b, hists[i].name, "high", &h[PACER_PRIORITY_HIGH]);
    put_histogram(b, hists[i].name, "low", &h[PACER_PRIORITY_LOW]);
  }
}

/* ---- per-key series, for at most max_keys keys ---- */

static uint64_t k_queued(const pacer_key_stats_t *k)
{
  return k->queued;
}

static uint64_t k_in_flight(const pacer_key_stats_t *k)
{
  return k->in_flight;
}

static uint64_t k_open(const pacer_key_stats_t *k)
{
  return k->breaker != PACER_BREAKER_CLOSED;
}

static uint64_t k_paused(const pacer_key_stats_t *k)
{
  return k->paused_ms > 0;
}

/* Every value sums over keys: key="~other" is the sum of the rest. */
static const struct key_metric {
  const char *name, *help;
  uint64_t (*get)(const pacer_key_stats_t *k);
} key_metrics[] = {
    {"pacer_key_queued_jobs",
     "Jobs in the key's queues now (retries waiting for their time not "
     "counted); key=\"~other\" sums the keys without series of their own.",
     k_queued},
    {"pacer_key_in_flight_requests",
     "Requests of the key in flight now; key=\"~other\" sums the rest.",
     k_in_flight},
    {"pacer_key_open_breakers",
     "1 when the key's circuit breaker is open or half-open; key=\"~other\" "
     "counts the rest's.",
     k_open},
    {"pacer_key_paused",
     "1 when the key is paused (Retry-After, exhausted quota); "
     "key=\"~other\" counts the rest's.",
     k_paused},
};

static uint64_t busy(const pacer_key_stats_t *k)
{
  return (uint64_t)k->queued + k->in_flight;
}

/* Busiest first, then by name in byte order: a total order, as keys in a
 * snapshot are distinct. */
static int by_busy_then_name(const void *a, const void *b)
{
  const pacer_key_stats_t *x = *(const pacer_key_stats_t *const *)a;
  const pacer_key_stats_t *y = *(const pacer_key_stats_t *const *)b;
  uint64_t bx = busy(x), by = busy(y);
  if (bx != by)
    return bx > by ? -1 : 1;
  return strcmp(x->key, y->key);
}

/* 0, or -1 out of memory. */
static int put_keys(buf_t *b, const pacer_stats_t *s, unsigned max_keys)
{
  const pacer_key_stats_t **own = NULL;
  size_t n = 0;
  if (s->key_count) {
    own = malloc(s->key_count * sizeof *own);
    if (!own)
      return -1;
  }
  for (size_t i = 0; i < s->key_count; i++) {
    const char *k = s->keys[i].key;
    if (k && strcmp(k, PACER_PROMETHEUS_OTHER_KEY) && pacer__utf8_valid(k))
      own[n++] = &s->keys[i];
  }
  if (n > 1) /* also below the cap: the same snapshot, the same text */
    qsort(own, n, sizeof *own, by_busy_then_name);
  if (n > max_keys)
    n = max_keys;
  for (size_t m = 0; m < sizeof key_metrics / sizeof key_metrics[0]; m++) {
    const struct key_metric *km = &key_metrics[m];
    put_family(b, km->name, "gauge", km->help);
    uint64_t own_sum = 0, all = 0;
    for (size_t i = 0; i < n; i++) {
      uint64_t v = km->get(own[i]);
      own_sum += v;
      put_s(b, km->name);
      put_s(b, "{key=\"");
      put_label_value(b, own[i]->key);
      put_s(b, "\"} ");
      put_u64(b, v);
      put_s(b, "\n");
    }
    for (size_t i = 0; i < s->key_count; i++)
      all += km->get(&s->keys[i]);
    put_sample(b, km->name, "key=\"" PACER_PROMETHEUS_OTHER_KEY "\"",
               (value_t){all - own_sum, 0});
  }
  put_family(b, "pacer_other_keys", "gauge",
             "Keys without series of their own, summed under "
             "key=\"~other\".");
  put_sample(b, "pacer_other_keys", NULL, (value_t){s->key_count - n, 0});
  free(own);
  return 0;
}

int pacer_stats_prometheus(const pacer_stats_t *s, unsigned max_keys,
                           char **text)
{
  if (!text)
    return PACER_EINVAL;
  *text = NULL;
  if (!s || (s->key_count && !s->keys))
    return PACER_EINVAL;
  buf_t b = {0};
  put_metrics(&b, s);
  put_histograms(&b, s);
  if (put_keys(&b, s, max_keys) || b.oom) {
    free(b.p);
    return PACER_ENOMEM;
  }
  *text = b.p;
  return 0;
}
