/* SPDX-License-Identifier: MIT */
/* stats.c - pacer_stats_t snapshots: taking one, releasing it, rendering it
 * as JSON.
 *
 * Allocation contract, which pacer_stats_get() (and the scheduler's part,
 * pacer__sched_stats()) follows and
 * pacer_stats_free() relies on:
 * - the pacer_stats_t itself comes from malloc/calloc;
 * - keys is NULL or one malloc/calloc'd array; entries [0, key_count) are
 *   filled in order, so a snapshot abandoned half-way (key_count below the
 *   array's size) is still freed correctly;
 * - each keys[i].key is NULL or a strdup'd string owned by the snapshot;
 * - key_adapt, key_concurrency, key_pause and key_conn are each NULL or one
 *   calloc'd array of as many entries as keys.
 *
 * Invariants of the rendering: every value is built with jansson, so the
 * output is valid JSON whatever a key contains; the returned text comes from
 * malloc, never from jansson's (possibly replaced) allocator, so the caller
 * frees it with free(). */
#include "adapt.h"
#include "breaker.h"
#include "jsontext.h"
#include "dispatch.h"
#include "shared.h"
#include <pacer/pacer.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int pacer_stats_get(pacer_t *p, pacer_stats_t **out)
{
  if (!p || !out)
    return PACER_EINVAL;
  *out = NULL;
  pacer_stats_t *s = calloc(1, sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  pthread_mutex_lock(&p->mu);
  s->submitted = p->submitted;
  s->started = p->started;
  s->succeeded = p->succeeded;
  s->failed_http = p->failed_http;
  s->failed_transport = p->failed_transport;
  s->failed_timeout = p->failed_timeout;
  s->failed_too_large = p->failed_too_large;
  s->failed_retries = p->failed_retries;
  s->failed_deadline = p->failed_deadline;
  s->failed_breaker = p->failed_breaker;
  s->failed_other = p->failed_other;
  s->cancelled = p->cancelled;
  s->expired = p->expired;
  s->events_dropped = p->events.dropped;
  s->shed = p->shed;
  s->shutdown_queued = p->shutdown_queued;
  for (int i = 0; i < 2; i++) {
    pacer__hist_summary(&p->qwait[i], &s->queue_wait[i]);
    pacer__hist_summary(&p->xfer[i], &s->transfer[i]);
    pacer__hist_export(&p->qwait[i], &s->queue_wait_hist[i]);
    pacer__hist_export(&p->xfer[i], &s->transfer_hist[i]);
  }
  s->concurrency = p->sched.cfg.concurrency;
  int rc = pacer__sched_stats(&p->sched, p->clock.now(p->clock.ctx), s);
  pthread_mutex_unlock(&p->mu);
  pacer__shared_stats_t ss; /* the store keeps its own counters */
  pacer__shared_stats(p->shared, &ss);
  s->shared_grants = ss.grants;
  s->shared_wait_us = ss.wait_ns / 1000;
  s->shared_errors = ss.errors;
  s->shared_state = ss.state;
  s->shared_disconnects = ss.disconnects;
  s->shared_fallback_grants = ss.fallback_grants;
  if (rc) {
    pacer_stats_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void pacer_stats_free(pacer_stats_t *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->key_count; i++)
    free((void *)s->keys[i].key); /* strdup'd; const only for readers */
  free(s->keys);
  free(s->key_adapt);
  free(s->key_concurrency);
  free(s->key_pause);
  free(s->key_conn);
  free(s);
}

#if JSON_INTEGER_IS_LONG_LONG
#define JINT_MAX LLONG_MAX
#else
#define JINT_MAX LONG_MAX
#endif

/* A counter past JINT_MAX would need centuries at any real rate; clamping
 * keeps the output a valid (if saturated) number instead of a negative one. */
static json_int_t u64(uint64_t v)
{
  return v > (uint64_t)JINT_MAX ? (json_int_t)JINT_MAX : (json_int_t)v;
}

static json_t *latency(const pacer_latency_t *l)
{
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "count", u64(l->count), "p50",
                   (json_int_t)l->p50_us, "p90", (json_int_t)l->p90_us, "p99",
                   (json_int_t)l->p99_us, "max", (json_int_t)l->max_us);
}

/* {"high": {...}, "low": {...}}. json_pack (jansson >= 2.11) steals every
 * "o" argument even when it fails, and fails on a NULL one, so a failed
 * inner call leaks nothing and needs no check here. */
static json_t *by_priority(const pacer_latency_t l[2])
{
  return json_pack("{s:o,s:o}", "high", latency(&l[PACER_PRIORITY_HIGH]), "low",
                   latency(&l[PACER_PRIORITY_LOW]));
}

/* Adds a pacer_conn_stats_t's counters to o under their flat names
 * (connections_opened, tls_handshakes_full, ...); 0 or -1 (out of memory). */
static int add_conn(json_t *o, const pacer_conn_stats_t *c)
{
  const struct {
    const char *name;
    uint64_t v;
  } f[] = {{"connections_opened", c->opened},
           {"tls_handshakes_full", c->tls_full},
           {"tls_handshakes_resumed", c->tls_resumed},
           {"responses_http1", c->http1},
           {"responses_http2", c->http2},
           {"responses_http3", c->http3}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (json_object_set_new(o, f[i].name, json_integer(u64(f[i].v))))
      return -1;
  return 0;
}

static json_t *keys_array(const pacer_stats_t *s)
{
  json_t *arr = json_array();
  if (!arr)
    return NULL;
  for (size_t i = 0; i < s->key_count; i++) {
    const pacer_key_stats_t *k = &s->keys[i];
    /* A snapshot put together by hand may have no key_adapt. */
    static const pacer_key_adapt_t none = {PACER_ADAPT_NONE, 0};
    const pacer_key_adapt_t *a = s->key_adapt ? &s->key_adapt[i] : &none;
    json_t *o = json_pack(
        "{s:o,s:s,s:I,s:I,s:I,s:s,s:f}", "key", pacer__json_text(k->key),
        "breaker", pacer__breaker_state_name((int)k->breaker), "queued",
        (json_int_t)k->queued, "in_flight", (json_int_t)k->in_flight,
        "paused_ms", (json_int_t)k->paused_ms, "adapt",
        pacer__adapt_reason_name(a->reason), "adapted_rate", a->rate);
    /* Only a key whose cap adapts to latency says so: the output of a
     * dispatcher without it stays as it was. */
    const pacer_key_concurrency_t *c =
        s->key_concurrency ? &s->key_concurrency[i] : NULL;
    if (o && c && c->cap &&
        json_object_set_new(o, "concurrency",
                            json_pack("{s:I,s:I,s:I}", "cap",
                                      (json_int_t)c->cap, "min_rtt_us",
                                      (json_int_t)c->min_rtt_us, "rtt_us",
                                      (json_int_t)c->rtt_us))) {
      json_decref(o);
      o = NULL;
    }
    /* Only a paused key says why (a snapshot by hand may have none). */
    const pacer_key_pause_t *kp = s->key_pause ? &s->key_pause[i] : NULL;
    if (o && kp && k->paused_ms > 0 && kp->reason != PACER_REASON_NONE &&
        json_object_set_new(o, "pause",
                            json_pack("{s:s,s:i}", "reason",
                                      pacer_event_reason_name(kp->reason),
                                      "status", kp->status))) {
      json_decref(o);
      o = NULL;
    }
    /* A snapshot by hand may have no key_conn. */
    if (o && s->key_conn && add_conn(o, &s->key_conn[i])) {
      json_decref(o);
      o = NULL;
    }
    if (!o || json_array_append_new(arr, o)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

static json_t *render(const pacer_stats_t *s)
{
  return json_pack(
      "{s:I,s:I,s:I,"
      "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
      "s:I,s:I,s:I,s:I,s:I,"
      "s:{s:I,s:I},"
      "s:I,s:I,"
      "s:{s:o,s:o},"
      "s:o,"
      "s:{s:I,s:I,s:I,s:s,s:I,s:I},"
      "s:I,s:I,s:I}",
      "submitted", u64(s->submitted), "started", u64(s->started), "succeeded",
      u64(s->succeeded),
      /* failed */
      "failed", "http", u64(s->failed_http), "transport",
      u64(s->failed_transport), "timeout", u64(s->failed_timeout), "too_large",
      u64(s->failed_too_large), "retries", u64(s->failed_retries), "deadline",
      u64(s->failed_deadline), "breaker", u64(s->failed_breaker), "other",
      u64(s->failed_other),
      /* other counters */
      "retried", u64(s->retried), "cancelled", u64(s->cancelled), "expired",
      u64(s->expired), "shed", u64(s->shed), "held_by_breaker",
      u64(s->held_by_breaker),
      /* gauges */
      "queued", "high", u64(s->queued_high), "low", u64(s->queued_low),
      "in_flight", u64(s->in_flight), "retry_waiting", u64(s->retry_waiting),
      /* latency */
      "latency_us", "queue_wait", by_priority(s->queue_wait), "transfer",
      by_priority(s->transfer),
      /* keys */
      "keys", keys_array(s),
      /* shared limit */
      "shared", "grants", u64(s->shared_grants), "wait_us",
      (json_int_t)s->shared_wait_us, "errors", u64(s->shared_errors), "state",
      pacer__shared_state_name(s->shared_state), "disconnects",
      u64(s->shared_disconnects), "fallback_grants",
      u64(s->shared_fallback_grants),
      /* retry budget and slow calls */
      "retries_refused", u64(s->retries_refused), "slow_calls",
      u64(s->slow_calls),
      /* events */
      "events_dropped", u64(s->events_dropped));
}

int pacer_stats_json(const pacer_stats_t *s, char **json)
{
  if (!json)
    return PACER_EINVAL;
  *json = NULL;
  if (!s || (s->key_count && !s->keys))
    return PACER_EINVAL;
  json_t *root = render(s);
  if (!root || add_conn(root, &s->conn) ||
      json_object_set_new(root, "shutdown_queued",
                          json_integer(u64(s->shutdown_queued)))) {
    json_decref(root);
    return PACER_ENOMEM;
  }
  *json = pacer__json_dump(root);
  json_decref(root);
  return *json ? 0 : PACER_ENOMEM;
}
