/* SPDX-License-Identifier: MIT */
/* shared.h - a limit shared with other processes: one interface over the
 * stores (shm_store.c on one host, redis_store.c across hosts).
 *
 * A store holds named GCRA buckets: "" is the global bucket, any other name
 * a limiter key's (at most 255 bytes). Every time here is the caller's
 * monotonic ns. The scheduler reaches a store only through
 * pacer__store_ops_t, so its tests give it a fake one
 * (tests/support/fake_store.c).
 *
 * A store that fails a take (a full shared-memory table) answers a short
 * wait, PACER__SHARED_RETRY_NS, and counts an error: a failure is never a
 * free token.
 *
 * Threads: take, pause, paused_until and stats may be called from any
 * thread (the dispatcher calls them under its lock); open and close from
 * one thread, close never from notify. */
#ifndef PACER_SHARED_H
#define PACER_SHARED_H

#include "clock.h"
#include <pacer/pacer.h>
#include <stddef.h>
#include <stdint.h>

/* take's "nothing granted yet; the store calls notify when a take may
 * succeed" (Redis only). */
#define PACER__SHARED_PENDING INT64_MAX
/* The wait answered for a take the store could not serve (an error). */
#define PACER__SHARED_RETRY_NS (INT64_C(10) * 1000000)

/* The default margin_ms of a shared limit's URL (shared.c): the spread of
 * arrival times its tokens kept in hand absorb. */
#define PACER__SHARED_MARGIN_MS 5

/* pacer__shared_stats_t.state, as pacer_stats_t.shared_state gives it. */
#define PACER__SHARED_NONE 0
#define PACER__SHARED_CONNECTED 1
#define PACER__SHARED_HOLDING 2
#define PACER__SHARED_FALLBACK 3

/* The name of a PACER__SHARED_ state in the JSON stats and events: "none",
 * "connected", "holding", "fallback"; "unknown" for any other value.
 * Static storage. */
const char *pacer__shared_state_name(int state);

/* What the scheduler calls, with what it calls it on (ctx). take returns
 * 0 (one token taken at now), > 0 (ns to wait before asking again) or
 * PACER__SHARED_PENDING; it never blocks and never fails. paused_until
 * returns 0 or the time until which the bucket is paused. learn and
 * learned carry a rate learned from a server's announced quota, as
 * pacer__shared_learn() and pacer__shared_learned() say. */
typedef struct pacer__store_ops {
  int64_t (*take)(void *ctx, const char *name, double rate, int64_t burst,
                  int64_t now);
  void (*pause)(void *ctx, const char *name, int64_t until);
  int64_t (*paused_until)(void *ctx, const char *name, int64_t now);
  void (*learn)(void *ctx, const char *name, double rate, int64_t until,
                double next_rate, int64_t next_until);
  int64_t (*learned)(void *ctx, const char *name, int64_t now, double *rate,
                     int peek);
  void *ctx;
} pacer__store_ops_t;

typedef struct pacer__shared pacer__shared_t;

/* Opens the store url names: "shm:NAME" (shm_store.h: NAME is
 * [A-Za-z0-9._-], 1..200 chars) or "redis://..." (redis_store.h's URL),
 * either with "margin_ms=N" (0..1000) in its query string.
 * clock is borrowed until close (Redis converts its server's offsets with
 * it); notify(arg) is called on the store's thread, with no store lock
 * held, when a take that returned PENDING may now succeed (never for shm).
 * log (the dispatcher's settings, may be NULL: no log) is borrowed until
 * close: a Redis store logs through it each time its connection is lost
 * (PACER_LOG_WARN) and back (PACER_LOG_INFO), from its own thread with no
 * lock held. on_state(arg, state, msg) (may be NULL) is called right
 * after each such line, on the same thread, with the state the store
 * entered (PACER__SHARED_CONNECTED, _HOLDING or _FALLBACK) and the line
 * (borrowed until it returns). Returns 0 and *out (free with
 * pacer__shared_close()), PACER_EINVAL (url NULL or of neither form, a bad name
 * or URL, no Redis support), PACER_ESYSTEM (cannot open the segment, Redis
 * unreachable) or PACER_ENOMEM; err (may be NULL) then gets a one-line reason.
 * May block (Redis: up to its 2 s connect). */
int pacer__shared_open(const char *url, const pacer__clock_t *clock,
                       void (*notify)(void *),
                       void (*on_state)(void *, int, const char *), void *arg,
                       const pacer_config_t *log, pacer__shared_t **out,
                       char *err, size_t errlen);

/* The burst a take asks the store for: burst less ceil(rate x margin_ns),
 * at least 1 (shared.c says why). Pure. */
int64_t pacer__shared_burst(double rate, int64_t burst, int64_t margin_ns);

/* One token of bucket name at now for rate tokens/s (> 0) and burst (>= 1):
 * 0, ns to wait, or PACER__SHARED_PENDING; as pacer__store_ops_t.take. */
int64_t pacer__shared_take(pacer__shared_t *s, const char *name, double rate,
                           int64_t burst, int64_t now);

/* Pauses bucket name until until for every process on the store (a
 * Retry-After); only ever extends a pause. */
void pacer__shared_pause(pacer__shared_t *s, const char *name, int64_t until);

/* 0, or the time until which bucket name is paused, if after now. Cheap:
 * shm reads the bucket's slot, Redis its local copy. */
int64_t pacer__shared_paused_until(pacer__shared_t *s, const char *name,
                                   int64_t now);

/* Tells every process on the store that bucket name's server asks for at
 * most rate tokens/s (> 0, finite) until until, and then, when next_rate is
 * not 0, at most next_rate until next_until (> until): a rate learned from
 * the quota it announces, and the quota's pace in its next window, which
 * every process holds to once the first ends with no newer write (so that
 * the fleet is never unpaced between a window's end and the next answer).
 * The latest write wins (a newer announcement is the truer one); rate 0
 * clears it (next_rate ignored), and an until already past holds nothing
 * (but its next window). A bad name, or a rate negative, not finite or too
 * slow for the store to hold (shm: below one per 2^62 ns; Redis: below
 * 1e-9/s), is ignored; so is a next window that does not follow until.
 * Never blocks. */
void pacer__shared_learn(pacer__shared_t *s, const char *name, double rate,
                         int64_t until, double next_rate, int64_t next_until);

/* The time until which bucket name holds a learned rate, if after now,
 * with *rate set to it (never above the rate written): the first window's
 * until it ends, then the next window's; else 0; or
 * PACER__SHARED_PENDING while the store has yet to find out (Redis: a
 * bucket it has had no reply for since this process first asked; notify
 * follows the reply; never while Redis is unreachable or refusing: then 0,
 * what this process knows). shm reads the bucket's slot; Redis its local
 * copy, with another process's write from its next call for that bucket
 * (asking makes one, redis_store.h says when). peek 1: only what is known
 * now, with no side effect and never PENDING (for stats). */
int64_t pacer__shared_learned(pacer__shared_t *s, const char *name, int64_t now,
                              double *rate, int peek);

typedef struct pacer__shared_stats {
  uint64_t grants;      /* takes that returned 0 */
  int64_t wait_ns;      /* waits the store answered, summed over buckets, and
                           (Redis) time from a PENDING take to the next grant */
  uint64_t errors;      /* takes the store could not serve; Redis: its errors */
  uint64_t disconnects; /* Redis: times its connection was lost */
  uint64_t fallback_grants; /* Redis: of grants, those from its fallback */
  int state;                /* PACER__SHARED_CONNECTED, _HOLDING or _FALLBACK */
} pacer__shared_stats_t;

/* A snapshot of the counters; s NULL gives zeros and PACER__SHARED_NONE. */
void pacer__shared_stats(pacer__shared_t *s, pacer__shared_stats_t *st);

/* The store as the scheduler calls it. */
void pacer__shared_ops(pacer__shared_t *s, pacer__store_ops_t *ops);

/* Closes the store (Redis: stops its thread, so no notify runs after) and
 * frees s. The buckets stay for the other processes. NULL is a no-op. */
void pacer__shared_close(pacer__shared_t *s);

#endif
