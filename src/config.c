/* SPDX-License-Identifier: MIT */
/* config.c - defaults, checks and private copies of the caller's settings.
 *
 * Public input structs carry struct_size, written by their _init() macro
 * from the caller's own header: we start from our defaults and copy only the
 * bytes the caller knows of, so a program built against an older, shorter
 * struct keeps working. The structs the library fills for the caller
 * (pacer_resume_info_t, pacer_spool_status_t) carry it too: the library
 * fills its own full struct, then hands over only the bytes the caller's
 * struct_size covers. */
#include "config.h"
#include "clock.h"
#include "budget.h"
#include "concur.h"
#include "http.h"
#include "limiter.h"
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

unsigned pacer__auto_burst(double rate)
{
  double b = isfinite(rate) && rate > 0 ? floor(rate / 100) : 1;
  return b < 1 ? 1 : b > 1e9 ? 1000000000u : (unsigned)b;
}

static void config_defaults(pacer_config_t *c)
{
  memset(c, 0, sizeof *c);
  c->struct_size = sizeof *c;
  c->queue_max = 100000;
  c->weight_high = 4;
  c->weight_low = 1;
  c->max_low_wait_ms = 10000;
  c->max_idle_keys = 10000;
  c->concurrency = 50;
  c->workers = 2;
  c->max_attempts = 3;
  c->backoff_base_ms = 200;
  c->backoff_max_ms = 30000;
  c->retry_after_max_ms = 3600000;
  c->timeout_ms = 30000;
  c->connect_timeout_ms = 10000;
  c->breaker_window = 20;
  c->breaker_min_calls = 10;
  c->breaker_threshold = 0.5;
  c->breaker_cooldown_ms = 30000;
  c->breaker_probes = 1;
  c->breaker_probe_timeout_ms = 0; /* resolved from the timeouts */
  c->breaker_enabled = 1;
  c->max_response_bytes = (size_t)8 << 20;
  c->max_header_bytes = (size_t)64 << 10;
  c->tls_verify = 1;
  c->low_speed_bytes = 1;
  c->low_speed_time_ms = 30000;
  c->log_level = PACER_LOG_WARN;
  c->spool_idempotency_keys = 1;
  c->deny_private = 0; /* a guard for crawlers; most callers talk to their
                          own services, often on private addresses */
  /* Adaptation only ever slows a key down, so it is on by default. */
  c->adapt_announced = 1;
  c->adapt_aimd = 1;
  c->adapt_min_rate = 0.1;
  /* Concurrency by latency is opt-in: it can raise a key's concurrency
   * (within its bounds), which a caller must ask for. */
  c->adaptive_concurrency_min = 0;
  c->adaptive_concurrency_max = 0;
  c->random_seed = 0; /* a new seed each run */
  /* Envoy's and Finagle's shape: a fifth more load at most, and a floor
   * so that a quiet client can still retry. */
  c->retry_budget_ratio = 0.2;
  c->retry_budget_min_per_s = 3;
  c->retry_budget_window_ms = 10000;
  c->breaker_slow_ms = 0; /* slow calls judge nothing unless asked */
  c->breaker_slow_threshold = 0.5;
  c->queue_policy = PACER_QUEUE_BLOCK;
  /* HTTP/2 where the server offers it; libcurl's own caps and idle time. */
  c->http_version = PACER_HTTP_DEFAULT;
  c->max_host_connections = 0;
  c->idle_connection_timeout_ms = 0;
}

void pacer_config_init_sized(pacer_config_t *cfg, size_t size)
{
  if (!cfg)
    return;
  pacer_config_t d;
  config_defaults(&d);
  if (size > sizeof d)
    size = sizeof d;
  d.struct_size = size;
  memcpy(cfg, &d, size);
}

/* The _init() of a struct whose every field defaults to zero: struct_size,
 * then zeros, as far as the caller's size reaches. */
static void init_zeroed(void *dst, size_t size, void *full, size_t full_size)
{
  memset(full, 0, full_size);
  if (size > full_size)
    size = full_size;
  memcpy(full, &size, sizeof size); /* struct_size comes first */
  memcpy(dst, full, size);
}

void pacer_key_limits_init_sized(pacer_key_limits_t *lim, size_t size)
{
  pacer_key_limits_t d;
  if (lim)
    init_zeroed(lim, size, &d, sizeof d);
}

void pacer_resume_info_init_sized(pacer_resume_info_t *info, size_t size)
{
  pacer_resume_info_t d;
  if (info)
    init_zeroed(info, size, &d, sizeof d);
}

void pacer_spool_status_init_sized(pacer_spool_status_t *st, size_t size)
{
  pacer_spool_status_t d;
  if (st)
    init_zeroed(st, size, &d, sizeof d);
}

/* A caller's struct_size this library can serve: at least the field itself,
 * at most our own struct. */
static int size_ok(size_t size, size_t ours)
{
  return size >= sizeof(size_t) && size <= ours;
}

/* Copies what the caller's struct holds over our defaults. */
static int take_sized(void *dst, size_t dst_size, const void *src,
                      size_t src_size)
{
  if (!size_ok(src_size, dst_size))
    return PACER_EINVAL;
  memcpy(dst, src, src_size);
  return 0;
}

/* Hands our filled struct src to the caller's dst: the fields after
 * struct_size, as far as dst's struct_size (already checked) reaches. */
static void give_sized(void *dst, size_t dst_size, const void *src)
{
  memcpy((char *)dst + sizeof dst_size, (const char *)src + sizeof dst_size,
         dst_size - sizeof dst_size);
}

static char *dup_or_null(const char *s, int *oom)
{
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    *oom = 1;
  return d;
}

void pacer__config_release(pacer_config_t *c)
{
  free((char *)c->ca_file);
  free((char *)c->ca_path);
  free((char *)c->user_agent);
  free((char *)c->spool_path);
  free((char *)c->shared_limit);
  c->shared_limit = NULL;
  free((void *)c->retry_statuses);
  c->retry_statuses = NULL;
  c->retry_status_count = 0;
  if (c->secret_headers) {
    for (size_t i = 0; c->secret_headers[i]; i++)
      free((char *)c->secret_headers[i]);
    free((void *)c->secret_headers);
  }
  c->ca_file = c->ca_path = c->user_agent = c->spool_path = NULL;
  c->secret_headers = NULL;
}

static int check(const pacer_config_t *c, const char *const *secret_headers)
{
  if (c->queue_max < 1)
    return PACER_EINVAL;
  if (c->http_version != PACER_HTTP_DEFAULT &&
      c->http_version != PACER_HTTP_1_1 &&
      c->http_version != PACER_HTTP_2_PRIOR_KNOWLEDGE)
    return PACER_EINVAL;
  if (c->idle_connection_timeout_ms < 0 ||
      c->idle_connection_timeout_ms > PACER__IDLE_CONN_MAX_MS)
    return PACER_EINVAL;
  if (c->queue_policy != PACER_QUEUE_BLOCK &&
      c->queue_policy != PACER_QUEUE_FAIL &&
      c->queue_policy != PACER_QUEUE_DROP_OLDEST_LOW)
    return PACER_EINVAL;
  if ((uint64_t)c->weight_high + c->weight_low == 0 ||
      c->weight_high > 1000000 || c->weight_low > 1000000)
    return PACER_EINVAL;
  if (c->max_low_wait_ms < 0 || c->max_queue_wait_ms < 0)
    return PACER_EINVAL;
  if (pacer__rate_check(c->rate, c->burst) ||
      pacer__rate_check(c->key_rate, c->key_burst ? c->key_burst : 1))
    return PACER_ERATE;
  if (c->concurrency < 1)
    return PACER_ECONCURRENCY;
  if (c->workers < 1 || c->workers > PACER__MAX_WORKERS)
    return PACER_EWORKERS;
  if (c->max_attempts < 1 || c->max_attempts > 1000)
    return PACER_EINVAL;
  if (c->backoff_base_ms < 0 || c->backoff_max_ms < 0 ||
      c->retry_after_max_ms < 0 || c->timeout_ms < 1 ||
      c->connect_timeout_ms < 0 || c->breaker_cooldown_ms < 0 ||
      c->breaker_probe_timeout_ms < 1 || c->low_speed_bytes < 0 ||
      c->low_speed_time_ms < 0)
    return PACER_EINVAL;
  if (c->breaker_window < 1 || c->breaker_window > 1024 ||
      c->breaker_min_calls < 1 || c->breaker_min_calls > c->breaker_window ||
      !(c->breaker_threshold > 0.0 && c->breaker_threshold <= 1.0) ||
      c->breaker_probes < 1 || c->breaker_probes > 1000000)
    return PACER_EINVAL;
  if (c->max_response_bytes < 1 || c->max_header_bytes < 256 ||
      c->follow_redirects > 20)
    return PACER_EINVAL;
  if (c->log_level < PACER_LOG_ERROR || c->log_level > PACER_LOG_DEBUG)
    return PACER_EINVAL;
  if ((c->spool_sync != PACER_SPOOL_NORMAL &&
       c->spool_sync != PACER_SPOOL_FULL) ||
      (c->spool_path && !*c->spool_path))
    return PACER_EINVAL;
  if (c->shared_limit && !*c->shared_limit)
    return PACER_EINVAL;
  if (c->deny_private != 0 && c->deny_private != 1)
    return PACER_EINVAL; /* room for finer settings later */
  if ((c->adapt_announced != 0 && c->adapt_announced != 1) ||
      (c->adapt_aimd != 0 && c->adapt_aimd != 1))
    return PACER_EINVAL; /* room for finer settings later */
  if (!(c->adapt_min_rate > 0) || pacer__rate_check(c->adapt_min_rate, 1))
    return PACER_ERATE;
  if (pacer__concur_cfg_check(c->adaptive_concurrency_min,
                              c->adaptive_concurrency_max))
    return PACER_ECONCURRENCY;
  pacer__budget_cfg_t bc = {c->retry_budget_ratio, c->retry_budget_min_per_s,
                            pacer__ms_to_ns(c->retry_budget_window_ms)};
  if (c->retry_budget_window_ms < 0 || pacer__budget_cfg_check(&bc))
    return PACER_EINVAL;
  if (c->breaker_slow_ms < 0 ||
      !(c->breaker_slow_threshold > 0.0 && c->breaker_slow_threshold <= 1.0))
    return PACER_EINVAL;
  if (c->retry_status_count > 1000 ||
      (c->retry_status_count && !c->retry_statuses))
    return PACER_EINVAL;
  for (size_t i = 0; i < c->retry_status_count; i++)
    if (c->retry_statuses[i] < 100 || c->retry_statuses[i] > 599)
      return PACER_EINVAL;
  if (secret_headers)
    for (size_t i = 0; secret_headers[i]; i++)
      if (pacer__header_check(secret_headers[i], ""))
        return PACER_EHEADER;
  return 0;
}

int pacer__config_resolve(const pacer_config_t *in, pacer_config_t *out)
{
  config_defaults(out);
  if (in) {
    int rc = take_sized(out, sizeof *out, in, in->struct_size);
    if (rc)
      return rc;
    out->struct_size = sizeof *out;
  }
  /* Resolve "0 means automatic" before checking. */
  if (out->burst == 0)
    out->burst = pacer__auto_burst(out->rate);
  if (out->breaker_probe_timeout_ms == 0)
    out->breaker_probe_timeout_ms =
        out->timeout_ms >= 1 && out->connect_timeout_ms >= 0
            ? pacer__time_add(out->timeout_ms, out->connect_timeout_ms)
            : 1; /* check() refuses the bad timeout anyway */
  /* The strings are still the caller's: take them out of *out so that no
   * path below, nor a caller releasing *out after an error, frees them. */
  const char *ca_file = out->ca_file, *ca_path = out->ca_path,
             *user_agent = out->user_agent, *spool_path = out->spool_path,
             *shared_limit = out->shared_limit;
  const char *const *sh = out->secret_headers;
  const int *statuses = out->retry_statuses;
  out->ca_file = out->ca_path = out->user_agent = NULL;
  out->spool_path = out->shared_limit = NULL;
  out->secret_headers = NULL;
  out->spool_path = spool_path; /* checked, then copied below */
  out->shared_limit = shared_limit;
  int rc = check(out, sh);
  out->spool_path = out->shared_limit = NULL;
  out->retry_statuses = NULL;
  if (rc) {
    out->retry_status_count = 0;
    return rc;
  }
  int oom = 0;
  out->ca_file = dup_or_null(ca_file, &oom);
  out->ca_path = dup_or_null(ca_path, &oom);
  out->user_agent = dup_or_null(user_agent, &oom);
  out->spool_path = dup_or_null(spool_path, &oom);
  out->shared_limit = dup_or_null(shared_limit, &oom);
  if (sh) {
    size_t n = 0;
    while (sh[n])
      n++;
    char **copy = calloc(n + 1, sizeof *copy);
    if (!copy)
      oom = 1;
    /* Stop at the first failure: the copies stay contiguous for release. */
    for (size_t i = 0; copy && i < n && !oom; i++)
      copy[i] = dup_or_null(sh[i], &oom);
    out->secret_headers = (const char *const *)copy;
  }
  if (out->retry_status_count) {
    size_t n = out->retry_status_count * sizeof *statuses;
    int *copy = malloc(n);
    if (copy)
      memcpy(copy, statuses, n);
    else
      oom = 1;
    out->retry_statuses = copy;
  }
  if (oom) {
    pacer__config_release(out);
    return PACER_ENOMEM;
  }
  return 0;
}

/* ---- the caller's structs of the other calls ---- */

int pacer__key_limits_copy(pacer_key_limits_t *dst,
                           const pacer_key_limits_t *src)
{
  pacer_key_limits_init(dst);
  if (!src)
    return PACER_EINVAL;
  int rc = take_sized(dst, sizeof *dst, src, src->struct_size);
  dst->struct_size = sizeof *dst;
  return rc;
}

int pacer__resume_info_clear(pacer_resume_info_t *info)
{
  if (!info)
    return 0;
  if (!size_ok(info->struct_size, sizeof *info))
    return PACER_EINVAL;
  pacer_resume_info_t zero = {0};
  give_sized(info, info->struct_size, &zero);
  return 0;
}

void pacer__resume_info_give(pacer_resume_info_t *dst,
                             const pacer_resume_info_t *src)
{
  if (dst)
    give_sized(dst, dst->struct_size, src);
}

int pacer__spool_status_check(const pacer_spool_status_t *st)
{
  return st && size_ok(st->struct_size, sizeof *st) ? 0 : PACER_EINVAL;
}

void pacer__spool_status_give(pacer_spool_status_t *dst,
                              const pacer_spool_status_t *src)
{
  give_sized(dst, dst->struct_size, src);
}

void pacer__sched_cfg_from(const pacer_config_t *c, pacer__sched_cfg_t *s)
{
  memset(s, 0, sizeof *s);
  s->weight[PACER_PRIORITY_HIGH] = c->weight_high;
  s->weight[PACER_PRIORITY_LOW] = c->weight_low;
  s->max_low_wait_ns = pacer__ms_to_ns(c->max_low_wait_ms);
  s->max_queue_wait_ns = pacer__ms_to_ns(c->max_queue_wait_ms);
  s->concurrency = c->concurrency;
  s->rate = c->rate;
  s->burst = c->burst;
  s->key_rate = c->key_rate;
  s->key_burst = c->key_burst;
  s->key_concurrency = c->key_concurrency;
  s->max_idle_keys = c->max_idle_keys;
  s->backoff_base_ns = pacer__ms_to_ns(c->backoff_base_ms);
  s->backoff_max_ns = pacer__ms_to_ns(c->backoff_max_ms);
  s->retry_after_max_ns = pacer__ms_to_ns(c->retry_after_max_ms);
  s->max_attempts = c->max_attempts;
  s->breaker_enabled = c->breaker_enabled != 0;
  s->breaker_fail_fast = c->breaker_fail_fast != 0;
  s->breaker.window = c->breaker_window;
  s->breaker.min_calls = c->breaker_min_calls;
  s->breaker.threshold = c->breaker_threshold;
  s->breaker.cooldown_ns = pacer__ms_to_ns(c->breaker_cooldown_ms);
  s->breaker.probes = c->breaker_probes;
  s->breaker.probe_timeout_ns = pacer__ms_to_ns(c->breaker_probe_timeout_ms);
  s->breaker.slow_ns = pacer__ms_to_ns(c->breaker_slow_ms);
  s->breaker.slow_threshold = c->breaker_slow_threshold;
  s->budget.ratio = c->retry_budget_ratio;
  s->budget.min_per_s = c->retry_budget_min_per_s;
  s->budget.window_ns = pacer__ms_to_ns(c->retry_budget_window_ms);
  s->adapt.announced = c->adapt_announced;
  s->adapt.aimd = c->adapt_aimd;
  s->adapt.min_rate = c->adapt_min_rate;
  s->adapt.pause_max_ns = s->retry_after_max_ns;
  s->concur.min = c->adaptive_concurrency_min;
  s->concur.max = c->adaptive_concurrency_max;
  pacer__retry_set_init(&s->retry, c->retry_statuses, c->retry_status_count);
}

/* ---- live settings: pacer_config_get() and pacer_reconfigure() ---- */

/* Every field of pacer_config_t, in order, and what pacer_reconfigure()
 * does with it: LIVE fields are applied (the scheduler's part by
 * pacer__sched_reconfigure()); FIXED ones must be as they are (workers has
 * pacer_set_workers()); STR and ARR (a string, an array of them) must be
 * NULL (as pacer_config_get() gives them) or equal to what they are;
 * INTS (an int array) with the COUNT field after it must be NULL and 0,
 * or the same values;
 * SIZE is struct_size. A field added to pacer_config_t is added here, with
 * its kind, and nowhere else (a LIVE one also in pacer__sched_cfg_from()
 * if the scheduler uses it): the static checks below fail the build when
 * this list and the struct disagree on a field's place. */
#define PACER__CONFIG_FIELDS(XX)                                               \
  XX(size_t, struct_size, SIZE)                                                \
  XX(size_t, queue_max, LIVE)                                                  \
  XX(unsigned, weight_high, LIVE)                                              \
  XX(unsigned, weight_low, LIVE)                                               \
  XX(int64_t, max_low_wait_ms, LIVE)                                           \
  XX(int64_t, max_queue_wait_ms, FIXED)                                        \
  XX(double, rate, LIVE)                                                       \
  XX(unsigned, burst, LIVE)                                                    \
  XX(double, key_rate, LIVE)                                                   \
  XX(unsigned, key_burst, LIVE)                                                \
  XX(unsigned, key_concurrency, LIVE)                                          \
  XX(unsigned, max_idle_keys, FIXED)                                           \
  XX(unsigned, concurrency, LIVE)                                              \
  XX(unsigned, workers, FIXED)                                                 \
  XX(unsigned, max_attempts, LIVE)                                             \
  XX(int64_t, backoff_base_ms, LIVE)                                           \
  XX(int64_t, backoff_max_ms, LIVE)                                            \
  XX(int64_t, retry_after_max_ms, LIVE)                                        \
  XX(int64_t, timeout_ms, FIXED)                                               \
  XX(int64_t, connect_timeout_ms, FIXED)                                       \
  XX(unsigned, breaker_window, LIVE)                                           \
  XX(unsigned, breaker_min_calls, LIVE)                                        \
  XX(double, breaker_threshold, LIVE)                                          \
  XX(int64_t, breaker_cooldown_ms, LIVE)                                       \
  XX(unsigned, breaker_probes, LIVE)                                           \
  XX(int64_t, breaker_probe_timeout_ms, LIVE)                                  \
  XX(int, breaker_fail_fast, LIVE)                                             \
  XX(int, breaker_enabled, LIVE)                                               \
  XX(size_t, max_response_bytes, FIXED)                                        \
  XX(size_t, max_header_bytes, FIXED)                                          \
  XX(unsigned, follow_redirects, FIXED)                                        \
  XX(int, decompress, FIXED)                                                   \
  XX(int, tls_verify, FIXED)                                                   \
  XX(const char *, ca_file, STR)                                               \
  XX(const char *, ca_path, STR)                                               \
  XX(int64_t, low_speed_bytes, FIXED)                                          \
  XX(int64_t, low_speed_time_ms, FIXED)                                        \
  XX(const char *const *, secret_headers, ARR)                                 \
  XX(const char *, user_agent, STR)                                            \
  XX(pacer_log_cb, log_cb, FIXED)                                              \
  XX(void *, log_user, FIXED)                                                  \
  XX(pacer_log_level_t, log_level, FIXED)                                      \
  XX(const char *, spool_path, STR)                                            \
  XX(int, spool_sync, FIXED)                                                   \
  XX(int, spool_idempotency_keys, FIXED)                                       \
  XX(int, deny_private, FIXED)                                                 \
  XX(const char *, shared_limit, STR)                                          \
  XX(int, adapt_announced, FIXED)                                              \
  XX(int, adapt_aimd, FIXED)                                                   \
  XX(double, adapt_min_rate, FIXED)                                            \
  XX(unsigned, adaptive_concurrency_min, FIXED)                                \
  XX(unsigned, adaptive_concurrency_max, FIXED)                                \
  XX(uint64_t, random_seed, FIXED)                                             \
  XX(pacer_event_cb, event_cb, FIXED)                                          \
  XX(void *, event_user, FIXED)                                                \
  XX(double, retry_budget_ratio, LIVE)                                         \
  XX(double, retry_budget_min_per_s, LIVE)                                     \
  XX(int64_t, retry_budget_window_ms, LIVE)                                    \
  XX(int64_t, breaker_slow_ms, LIVE)                                           \
  XX(double, breaker_slow_threshold, LIVE)                                     \
  XX(int, queue_policy, LIVE)                                                  \
  XX(const int *, retry_statuses, INTS)                                        \
  XX(size_t, retry_status_count, COUNT)                                        \
  XX(int, http_version, FIXED)                                                 \
  XX(unsigned, max_host_connections, FIXED)                                    \
  XX(int64_t, idle_connection_timeout_ms, FIXED)

enum {
  KIND_SIZE,
  KIND_LIVE,
  KIND_FIXED,
  KIND_STR,
  KIND_ARR,
  KIND_INTS,
  KIND_COUNT
};

/* The list as a struct of its own, to hold it to pacer_config_t. */
#define SHADOW(type, name, kind) type name;
struct config_shadow {
  PACER__CONFIG_FIELDS(SHADOW)
};
#undef SHADOW
#define SAME_PLACE(type, name, kind)                                           \
  _Static_assert(offsetof(struct config_shadow, name) ==                       \
                         offsetof(pacer_config_t, name) &&                     \
                     sizeof(type) == sizeof(((pacer_config_t *)0)->name),      \
                 "config.c's field list is not pacer_config_t at " #name);
PACER__CONFIG_FIELDS(SAME_PLACE)
#undef SAME_PLACE
_Static_assert(sizeof(struct config_shadow) == sizeof(pacer_config_t),
               "config.c's field list misses a field of pacer_config_t");

typedef struct field {
  const char *name;
  size_t off, size;
  int kind;
} field_t;

#define FIELD(type, name, kind)                                                \
  {#name, offsetof(pacer_config_t, name), sizeof(type), KIND_##kind},
static const field_t fields[] = {PACER__CONFIG_FIELDS(FIELD)};
#undef FIELD
#define NFIELDS (sizeof fields / sizeof fields[0])

static void *at(pacer_config_t *c, const field_t *f)
{
  return (char *)c + f->off;
}
static const void *at_c(const pacer_config_t *c, const field_t *f)
{
  return (const char *)c + f->off;
}

static int same_strings(const char *const *a, const char *const *b)
{
  if (!a || !b)
    return a == b;
  size_t i = 0;
  for (; a[i] && b[i]; i++)
    if (strcmp(a[i], b[i]) != 0)
      return 0;
  return a[i] == b[i];
}

int pacer__config_copy_out(const pacer_config_t *live, pacer_config_t *dst)
{
  if (!dst || !size_ok(dst->struct_size, sizeof *dst))
    return PACER_EINVAL;
  pacer_config_t c = *live;
  for (size_t i = 0; i < NFIELDS; i++)
    if (fields[i].kind == KIND_STR || fields[i].kind == KIND_ARR ||
        fields[i].kind == KIND_INTS || fields[i].kind == KIND_COUNT)
      memset(at(&c, &fields[i]), 0, fields[i].size);
  give_sized(dst, dst->struct_size, &c);
  return 0;
}

int pacer__config_merge(const pacer_config_t *live, const pacer_config_t *in,
                        pacer_config_t *want, const char **field)
{
  *field = NULL;
  *want = *live; /* the fields in's struct_size does not reach stay */
  if (!in || !size_ok(in->struct_size, sizeof *in))
    return PACER_EINVAL;
  memcpy(want, in, in->struct_size);
  want->struct_size = sizeof *want;
  /* "0 means automatic", as pacer_new() resolves it. */
  if (want->burst == 0)
    want->burst = pacer__auto_burst(want->rate);
  if (want->breaker_probe_timeout_ms == 0 && want->timeout_ms >= 1 &&
      want->connect_timeout_ms >= 0)
    want->breaker_probe_timeout_ms =
        pacer__time_add(want->timeout_ms, want->connect_timeout_ms);
  for (size_t i = 0; i < NFIELDS; i++) {
    const field_t *f = &fields[i];
    const void *now = at_c(live, f);
    void *w = at(want, f);
    int same = 1;
    if (f->kind == KIND_FIXED) {
      same = memcmp(w, now, f->size) == 0;
    } else if (f->kind == KIND_STR) {
      const char *ws, *ns;
      memcpy(&ws, w, sizeof ws);
      memcpy(&ns, now, sizeof ns);
      same = !ws || (ns && strcmp(ws, ns) == 0);
      memcpy(w, now, f->size); /* the live copy, which the dispatcher owns */
    } else if (f->kind == KIND_ARR) {
      const char *const *wa, *const *na;
      memcpy(&wa, w, sizeof wa);
      memcpy(&na, now, sizeof na);
      same = !wa || same_strings(wa, na);
      memcpy(w, now, f->size);
    } else if (f->kind == KIND_INTS) {
      /* With its count, the next field: NULL and 0 keep the list. */
      const field_t *cf = &fields[i + 1];
      const int *wi, *ni;
      size_t wn, nn;
      memcpy(&wi, w, sizeof wi);
      memcpy(&ni, now, sizeof ni);
      memcpy(&wn, at(want, cf), sizeof wn);
      memcpy(&nn, at_c(live, cf), sizeof nn);
      same =
          (!wi && wn == 0) ||
          (wi && wn == nn && (nn == 0 || memcmp(wi, ni, nn * sizeof *wi) == 0));
      memcpy(w, now, f->size);
      memcpy(at(want, cf), &nn, sizeof nn);
    }
    if (!same) {
      *field = f->name;
      return PACER_EINVAL;
    }
  }
  return check(want, want->secret_headers);
}

void pacer__config_apply(pacer_config_t *live, const pacer_config_t *want)
{
  for (size_t i = 0; i < NFIELDS; i++)
    if (fields[i].kind == KIND_LIVE)
      memcpy(at(live, &fields[i]), at_c(want, &fields[i]), fields[i].size);
}
