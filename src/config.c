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
  out->ca_file = out->ca_path = out->user_agent = NULL;
  out->spool_path = out->shared_limit = NULL;
  out->secret_headers = NULL;
  out->spool_path = spool_path; /* checked, then copied below */
  out->shared_limit = shared_limit;
  int rc = check(out, sh);
  out->spool_path = out->shared_limit = NULL;
  if (rc)
    return rc;
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
}
