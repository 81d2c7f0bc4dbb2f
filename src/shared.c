/* SPDX-License-Identifier: MIT */
/* shared.c - a limit shared with other processes: one interface over the
 * stores, chosen by the URL's form.
 *
 * Invariant: a take that the store could not serve (PACER_ENOMEM from a
 * full shared-memory table, or any other negative answer) becomes a wait of
 * PACER__SHARED_RETRY_NS and one error counted, never a token. The counters
 * are atomics so that stats may be read from any thread.
 *
 * The margin: a store counts a token when it grants it, a server when the
 * request arrives, and requests granted together do not arrive together (a
 * process's first requests open their connections; a thread waits for a
 * CPU). When the earliest of a window's requests arrives d later than the
 * latest, the server's window holds d x rate more than burst + rate x 1 s.
 * So every take asks the store for burst - ceil(rate x margin) (at least
 * 1): the tokens kept in hand absorb that much spread. Over Redis the
 * margin grows by the reservations' grace, since a reservation taken late
 * within it is one more such spread. margin_ms in the URL's query, default
 * PACER__SHARED_MARGIN_MS, 0 for none (the burst as given); shared.c takes
 * it out of the URL before the store parses the rest. */
#include "shared.h"
#include "log.h"
#include "redis_store.h"
#include "shm_store.h"
#include <math.h>
#include <pacer/pacer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PACER__REDIS_PENDING == PACER__SHARED_PENDING,
               "the Redis store's pending answer passes through as is");

enum { KIND_SHM, KIND_REDIS };

struct pacer__shared {
  int kind;
  pacer__shm_t *shm;
  pacer__redis_t *redis;
  const pacer_config_t *log; /* borrowed until close; NULL: no log */
  void (*on_state)(void *, int, const char *); /* NULL: none */
  void *arg;
  int fallback;      /* the Redis URL has fallback=F: a loss falls back */
  int64_t margin_ns; /* 0..1 s */
  atomic_uint_fast64_t grants, errors;
  atomic_int_fast64_t wait_ns;
};

/* The Redis store's changes of state, into the dispatcher's log (on the
 * store's thread, no lock held: pacer_log_cb may run on any pacer thread). */
static void store_log(pacer_log_level_t level, const char *msg, void *arg)
{
  pacer__shared_t *s = arg;
  if (s->log)
    pacer__logf(s->log, level, "shared limit %s", msg);
  if (s->on_state) {
    /* The Redis store logs only its changes of state: a loss at WARN (then
     * it holds, or falls back when its URL says so), a return at INFO. Read
     * from the line, not the store, which may still be opening. */
    int state = level == PACER_LOG_INFO ? PACER__SHARED_CONNECTED
                : s->fallback           ? PACER__SHARED_FALLBACK
                                        : PACER__SHARED_HOLDING;
    s->on_state(s->arg, state, msg);
  }
}

/* Copies url into out without its margin_ms parameter, whose value goes to
 * *margin_ms (left as is when absent). 0, or -1 with err set for a bad
 * value. out has room for strlen(url) + 1. */
static int take_margin(const char *url, char *out, int64_t *margin_ms,
                       char *err, size_t errlen)
{
  const char *q = strchr(url, '?');
  if (!q) {
    memcpy(out, url, strlen(url) + 1);
    return 0;
  }
  if (!q[1]) { /* "?" with nothing after it: a mistake, not a default */
    pacer__set_err(err, errlen, "shared limit '%s': an empty query", url);
    return -1;
  }
  size_t n = (size_t)(q - url);
  memcpy(out, url, n);
  char *o = out + n;
  const char *p = q + 1;
  while (*p) {
    size_t len = strcspn(p, "&");
    if (len >= 10 && !memcmp(p, "margin_ms=", 10)) {
      int64_t v = 0;
      size_t i = 10;
      for (; i < len && p[i] >= '0' && p[i] <= '9' && v <= 1000; i++)
        v = v * 10 + (p[i] - '0');
      if (i == 10 || i != len || v > 1000) {
        pacer__set_err(err, errlen,
                       "shared limit '%s': margin_ms must be 0..1000", url);
        return -1;
      }
      *margin_ms = v;
    } else if (len) {
      char sep = o == out + n ? '?' : '&';
      *o++ = sep;
      memcpy(o, p, len);
      o += len;
    }
    p += len + (p[len] == '&');
  }
  *o = '\0';
  return 0;
}

int pacer__shared_open(const char *url, const pacer__clock_t *clock,
                       void (*notify)(void *),
                       void (*on_state)(void *, int, const char *), void *arg,
                       const pacer_config_t *log, pacer__shared_t **out,
                       char *err, size_t errlen)
{
  if (err && errlen)
    err[0] = '\0';
  if (!out)
    return PACER_EINVAL;
  *out = NULL;
  if (!url) {
    pacer__set_err(err, errlen, "no shared limit named");
    return PACER_EINVAL;
  }
  pacer__shared_t *s = calloc(1, sizeof *s);
  if (!s)
    return PACER_ENOMEM;
  s->log = log;
  s->on_state = on_state;
  s->arg = arg;
  int64_t margin_ms = PACER__SHARED_MARGIN_MS;
  char *bare = malloc(strlen(url) + 1);
  if (!bare) {
    free(s);
    return PACER_ENOMEM;
  }
  int rc;
  if (take_margin(url, bare, &margin_ms, err, errlen)) {
    rc = PACER_EINVAL;
  } else if (!strncmp(bare, "shm:", 4)) {
    s->kind = KIND_SHM;
    rc = strchr(bare, '?') ? PACER_EINVAL
                           : pacer__shm_open(bare + 4, 0, &s->shm, err, errlen);
    if (rc == PACER_EINVAL)
      pacer__set_err(err, errlen,
                     "shared limit '%s': the name after shm: must be 1 to "
                     "200 of A-Z a-z 0-9 . _ -, and margin_ms the only "
                     "parameter",
                     url);
  } else if (!strncmp(bare, "redis://", 8)) {
    s->kind = KIND_REDIS;
    s->fallback = strstr(bare, "?fallback=") || strstr(bare, "&fallback=");
    pacer__redis_opts_t o = {.url = bare,
                             .clock = clock,
                             .notify = notify,
                             .notify_arg = arg,
                             .log = log || on_state ? store_log : NULL,
                             .log_arg = s};
    rc = pacer__redis_open(&o, &s->redis, err, errlen);
  } else {
    pacer__set_err(err, errlen,
                   "shared limit '%s': expected shm:NAME or redis://HOST...",
                   url);
    rc = PACER_EINVAL;
  }
  free(bare);
  if (rc) {
    free(s);
    return rc;
  }
  s->margin_ns = margin_ms * 1000000;
  *out = s;
  return 0;
}

int64_t pacer__shared_burst(double rate, int64_t burst, int64_t margin_ns)
{
  /* The small subtraction keeps an exact product (400/s x 5 ms = 2) from
   * rounding up to one token more. */
  double m = ceil(rate * (double)margin_ns / 1e9 - 1e-9);
  if (!(m > 0))
    return burst;
  return m >= (double)(burst - 1) ? 1 : burst - (int64_t)m;
}

int64_t pacer__shared_take(pacer__shared_t *s, const char *name, double rate,
                           int64_t burst, int64_t now)
{
  if (s->margin_ns)
    burst = pacer__shared_burst(
        rate, burst,
        s->margin_ns +
            (s->kind == KIND_REDIS ? pacer__redis_grace_ns(rate) : 0));
  int64_t w = s->kind == KIND_SHM
                  ? pacer__shm_take(s->shm, name, rate, burst, now)
                  : pacer__redis_take(s->redis, name, rate, burst, now);
  if (w == 0) {
    atomic_fetch_add_explicit(&s->grants, 1, memory_order_relaxed);
  } else if (w < 0) {
    /* The store could not serve this take: hold it a little, as a wait,
     * rather than start a job without a grant. */
    atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    w = PACER__SHARED_RETRY_NS;
    atomic_fetch_add_explicit(&s->wait_ns, w, memory_order_relaxed);
  } else if (w != PACER__SHARED_PENDING) {
    atomic_fetch_add_explicit(&s->wait_ns, w, memory_order_relaxed);
  }
  return w;
}

void pacer__shared_pause(pacer__shared_t *s, const char *name, int64_t until)
{
  if (s->kind == KIND_SHM)
    pacer__shm_pause(s->shm, name, until);
  else
    pacer__redis_pause(s->redis, name, until);
}

int64_t pacer__shared_paused_until(pacer__shared_t *s, const char *name,
                                   int64_t now)
{
  return s->kind == KIND_SHM ? pacer__shm_paused_until(s->shm, name, now)
                             : pacer__redis_paused_until(s->redis, name, now);
}

void pacer__shared_learn(pacer__shared_t *s, const char *name, double rate,
                         int64_t until, double next_rate, int64_t next_until)
{
  if (s->kind == KIND_SHM)
    pacer__shm_learn(s->shm, name, rate, until, next_rate, next_until);
  else
    pacer__redis_learn(s->redis, name, rate, until, next_rate, next_until);
}

int64_t pacer__shared_learned(pacer__shared_t *s, const char *name, int64_t now,
                              double *rate, int peek)
{
  /* shm's answer has no side effect: peek changes nothing there */
  return s->kind == KIND_SHM
             ? pacer__shm_learned(s->shm, name, now, rate)
             : pacer__redis_learned(s->redis, name, now, rate, peek);
}

void pacer__shared_stats(pacer__shared_t *s, pacer__shared_stats_t *st)
{
  memset(st, 0, sizeof *st);
  if (!s) {
    st->state = PACER__SHARED_NONE;
    return;
  }
  st->grants = atomic_load_explicit(&s->grants, memory_order_relaxed);
  st->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
  st->wait_ns = atomic_load_explicit(&s->wait_ns, memory_order_relaxed);
  st->state = PACER__SHARED_CONNECTED;
  if (s->kind == KIND_REDIS) {
    pacer__redis_stats_t rs;
    pacer__redis_stats(s->redis, &rs);
    st->errors += rs.errors;
    st->wait_ns += rs.wait_ns;
    st->disconnects = rs.disconnects;
    st->fallback_grants = rs.fallback_grants;
    st->state = rs.state == PACER__REDIS_HOLDING    ? PACER__SHARED_HOLDING
                : rs.state == PACER__REDIS_FALLBACK ? PACER__SHARED_FALLBACK
                                                    : PACER__SHARED_CONNECTED;
  }
}

static int64_t ops_take(void *ctx, const char *name, double rate, int64_t burst,
                        int64_t now)
{
  return pacer__shared_take(ctx, name, rate, burst, now);
}
static void ops_pause(void *ctx, const char *name, int64_t until)
{
  pacer__shared_pause(ctx, name, until);
}
static int64_t ops_paused_until(void *ctx, const char *name, int64_t now)
{
  return pacer__shared_paused_until(ctx, name, now);
}

static void ops_learn(void *ctx, const char *name, double rate, int64_t until,
                      double next_rate, int64_t next_until)
{
  pacer__shared_learn(ctx, name, rate, until, next_rate, next_until);
}
static int64_t ops_learned(void *ctx, const char *name, int64_t now,
                           double *rate, int peek)
{
  return pacer__shared_learned(ctx, name, now, rate, peek);
}

void pacer__shared_ops(pacer__shared_t *s, pacer__store_ops_t *ops)
{
  ops->take = ops_take;
  ops->pause = ops_pause;
  ops->paused_until = ops_paused_until;
  ops->learn = ops_learn;
  ops->learned = ops_learned;
  ops->ctx = s;
}

void pacer__shared_close(pacer__shared_t *s)
{
  if (!s)
    return;
  if (s->kind == KIND_SHM)
    pacer__shm_close(s->shm);
  else
    pacer__redis_close(s->redis);
  free(s);
}

const char *pacer__shared_state_name(int state)
{
  switch (state) {
  case PACER__SHARED_NONE:
    return "none";
  case PACER__SHARED_CONNECTED:
    return "connected";
  case PACER__SHARED_HOLDING:
    return "holding";
  case PACER__SHARED_FALLBACK:
    return "fallback";
  }
  return "unknown";
}
