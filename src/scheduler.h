/* SPDX-License-Identifier: MIT */
/* scheduler.h - the dispatcher's decisions: which job starts next and when, and
 * what follows an attempt (end, retry, pause, breaker).
 *
 * Single-threaded and clock-free: the engine serialises every call under its
 * lock and passes `now` (monotonic ns), so every rule here is tested without
 * threads or sleeps.
 *
 * Structure. Each key keeps a FIFO of queued jobs per priority. A key whose
 * next job could start as far as the key is concerned sits in that
 * priority's ready heap, ordered by the submit sequence of its oldest job,
 * so jobs start in submit order across keys. Every key with a queued low
 * job, parked or not, is also in the lows heap, by the same order: its top
 * is the oldest queued low job, the one load shedding ends. A key that
 * cannot start (paused,
 * at its concurrency cap, breaker not admitting, no key token) is parked:
 * until a time (wake heap) or until one of its attempts ends. Queued jobs
 * with a deadline or queue-wait limit, and jobs waiting to retry, are in the
 * timer heap. Nothing is ever found by scanning.
 *
 * Starting a job takes, all together or not at all: a global slot, a global
 * token, a key slot, a key token and the breaker's admission. Between the
 * priorities, a smooth weighted round robin over startable work spends those
 * in weight_high:weight_low, whatever the age of either backlog; aging only
 * gives a low weight of 0 the weight 1 while the oldest startable low job is
 * older than max_low_wait (see choose() in scheduler.c).
 *
 * Shared limits. With a store set (pacer__sched_set_store()), the global
 * bucket (when rate > 0) and every key bucket with a rate are drawn from the
 * store instead of the local buckets, which are then left untouched. The
 * store's tokens are taken last, once every local condition passed (slots,
 * breaker, pause), the key's first, then the global one. A store that says
 * "wait" parks the key (or holds every start) until then; one that says
 * PACER__SHARED_PENDING parks it until pacer__sched_store_notify() (or, as a
 * fallback, PACER__SCHED_PENDING_RECHECK_NS). A Retry-After pause is also
 * written to the store, and a key paused in the store is held.
 *
 * Adaptation. A key's rate may be adapted to what its server says
 * (adapt.h): its bucket is then set to the adapted rate, at its configured
 * burst, and set back when the adaptation ends (an announced window passing
 * is noticed by the key's gate, which never parks a key past it).
 *
 * Adaptation with a store: what a key learns from an announced quota is
 * the fleet's, since the quota counts every process's requests. Each
 * announcement's rate for the key (and its end) is written to the store
 * with the quota's pace in the next window (to that one's end), which the
 * store serves once the first window ends, so that no process is unpaced
 * between a window's end and the next answer; its pause at an exhausted
 * quota too (with the next window's pace, to that window's end: the rate
 * within a paused window is moot); a key draws
 * from the store at the learned rate the store holds (whoever wrote it)
 * when that is below its configured rate or it has none, so every process,
 * even one that has not had an answer yet, obeys one rate for the whole
 * fleet. A key new to this process waits until the store knows (learned
 * says PACER__SHARED_PENDING: parked as a pending take is). While adapted (by
 * an announcement or AIMD) it must also pass its local bucket at its own
 * adapted rate. AIMD stays each process's own: each one cuts on the
 * refusals it gets, as TCP's senders sharing a link do, which shares the
 * cut across the fleet without knowing its size. A key with no configured
 * rate and nothing learned in the store draws nothing from it.
 *
 * Retry budget (cfg.budget, budget.h). Every job's first start in this
 * process is a request to the global budget and to its key's; before a
 * retry is scheduled (after the deadline check, whatever its delay: backoff
 * or Retry-After), both must allow it, and it is counted in both. Refused,
 * the job ends with PACER_EBUDGET, its last answer kept
 * (retry_budget_refuses() in scheduler.c: the one place that decides it).
 *
 * Slow calls (cfg.breaker.slow_ns): the breaker judges each attempt's
 * length from its admission to its end (breaker.h); slow_calls counts the
 * slow ones.
 *
 * Concurrency by latency (cfg.concur, opt-in). Each key's cap is then the
 * one concur.h adapts from the latency of its attempts, never above a
 * configured cap; every attempt end feeds it. */
#ifndef PACER_SCHEDULER_H
#define PACER_SCHEDULER_H

#include "adapt.h"
#include "budget.h"
#include "concur.h"
#include "heap.h"
#include "job.h"
#include "keys.h"
#include "limiter.h"
#include "ratehdr.h"
#include "retry.h"
#include "shared.h"
#include <pacer/pacer.h>

/* A key or the global start parked on PACER__SHARED_PENDING asks the store
 * again after this long even if its notify never came. */
#define PACER__SCHED_PENDING_RECHECK_NS (INT64_C(1000) * 1000000)

typedef struct pacer__sched_cfg {
  unsigned weight[2];        /* by pacer_priority_t */
  int64_t max_low_wait_ns;   /* 0: no aging */
  int64_t max_queue_wait_ns; /* 0: no limit */
  unsigned concurrency;
  double rate;
  unsigned burst;
  double key_rate;
  unsigned key_burst, key_concurrency;
  size_t max_idle_keys;
  int64_t backoff_base_ns, backoff_max_ns, retry_after_max_ns;
  unsigned max_attempts; /* of a job whose request gives none */
  int breaker_enabled, breaker_fail_fast;
  pacer__breaker_cfg_t breaker;
  uint64_t seed;            /* jitter */
  pacer__adapt_cfg_t adapt; /* announced quotas and AIMD (adapt.h) */
  /* Concurrency by latency (concur.h); max 0: off. */
  pacer__concur_cfg_t concur;
  /* Retry budget (budget.h), global and per key; ratio 0: off. */
  pacer__budget_cfg_t budget;
  /* The statuses that are retried (pacer_config_t.retry_statuses). */
  pacer__retry_set_t retry;
} pacer__sched_cfg_t;

typedef struct pacer__sched {
  pacer__sched_cfg_t cfg;
  pacer__bucket_t bucket;
  pacer__keys_t keys;
  pacer__heap_t ready[2]; /* keys, by their oldest job's seq */
  pacer__heap_t lows;     /* keys with a queued low job, parked or not,
                             by their oldest low job's seq (shedding) */
  pacer__heap_t wake;     /* parked keys, by wake_ns */
  pacer__heap_t timers;   /* jobs, by timer_ns */
  int64_t swrr[2];
  unsigned inflight;
  size_t queued[2], waiting[2];
  uint64_t seq;
  pacer__rng_t rng;
  int no_retry; /* shutdown in cancel mode */
  uint64_t held_by_breaker;
  uint64_t retried;
  pacer__budget_t budget;   /* the global retry budget */
  uint64_t retries_refused; /* by a retry budget */
  uint64_t slow_calls;      /* attempts slower than cfg.breaker.slow_ns */
  pacer_conn_stats_t conn;  /* every attempt's connections */
  /* Shared limits (has_store): the store, when the global bucket may next
   * be asked (INT64_MAX never: not used), whether that waits on a notify,
   * the keys parked on a notify, and the key tokens lost to a refused
   * global token. */
  int has_store;
  pacer__store_ops_t store;
  int64_t store_global_until;
  int store_global_pending;
  pacer__link_t store_waiting;
  uint64_t store_key_lost;
  /* PACER__RATEHDR_CLAMP_* bits already logged (worker.c): each kind of
   * absurd announced value is logged once per dispatcher. */
  unsigned quota_clamps_logged;
  /* Events (pacer__sched_set_events()); NULL: none are made. */
  void (*emit)(void *ctx, const pacer_event_t *ev);
  void *emit_ctx;
} pacer__sched_t;

/* How an attempt ended, as the scheduler needs it. */
typedef struct pacer__attempt_end {
  int error; /* 0: HTTP response; else PACER_E code */
  int status;
  int64_t retry_after_ns; /* parsed Retry-After; -1: none */
  int other_origin;       /* 1: the response came from another origin than
                             the job's URL (a followed redirect) */
  pacer__ratehdr_t quota; /* the quota the response announced (found 0:
                             none, or not read: another origin) */
  /* Connections the attempt opened, its TLS handshakes and its response's
   * HTTP version (pacer__resp_t's; counted into pacer_conn_stats_t). */
  unsigned conns_opened, tls_full, tls_resumed;
  int http_version;
} pacer__attempt_end_t;

enum { PACER__SCHED_END = 0, PACER__SCHED_RETRY = 1 };

/* Checks cfg (PACER_ERATE, PACER_ECONCURRENCY, PACER_EINVAL) and sets up s.
 * Returns 0 or that code; s needs no destroy on error. */
int pacer__sched_init(pacer__sched_t *s, const pacer__sched_cfg_t *cfg);
/* Frees the scheduler's own memory. Jobs still inside are not touched. */
void pacer__sched_destroy(pacer__sched_t *s);

/* Queues job under key_name (QUEUED; sets seq, key, its timer;
 * submit_ns and deadline_ns must be set). Returns 0 or PACER_ENOMEM (job
 * untouched, not queued). */
int pacer__sched_push(pacer__sched_t *s, pacer__job_t *job,
                      const char *key_name, int64_t now);
/* As push, but a job due later than now waits until due (WAITING, as a
 * retry does): a resumed job keeps its backoff. */
int pacer__sched_push_due(pacer__sched_t *s, pacer__job_t *job,
                          const char *key_name, int64_t now, int64_t due);

/* Moves what time has made due: parked keys whose time came back to ready,
 * due retries back to their queue (at the front), and queued or waiting jobs
 * past their deadline or queue-wait limit to *ended (ENDED, error set). */
void pacer__sched_tick(pacer__sched_t *s, int64_t now, pacer__link_t *ended);

/* The next job that may start at now, with its tokens, slots and breaker
 * admission taken (INFLIGHT, attempts counted), or NULL. Jobs failed fast by
 * an open breaker go to *ended. Call tick() first. */
pacer__job_t *pacer__sched_next(pacer__sched_t *s, int64_t now,
                                pacer__link_t *ended);

/* When tick() or next() may next have work, if nothing else happens (no
 * push, no attempt end, no setting changed): INT64_MAX for never. Meaningful
 * right after next() returned NULL. */
int64_t pacer__sched_wake(pacer__sched_t *s, int64_t now);

/* An INFLIGHT job's attempt ended. Frees its slots, feeds the breaker,
 * applies a Retry-After pause to the key (429 and 503, unless other_origin:
 * then it only delays this job's retry), adapts the key's rate to what the
 * answer said (its announced quota, or a refusal with no guidance: adapt.h;
 * not for other_origin), then either ends the
 * job (returns PACER__SCHED_END; ENDED, error and message set) or schedules
 * a retry (PACER__SCHED_RETRY; WAITING). After cancel_all(), a job that
 * would have been retried ends with PACER_ECANCELED instead. */
int pacer__sched_done(pacer__sched_t *s, pacer__job_t *job,
                      const pacer__attempt_end_t *end, int64_t now);

/* Cancels job. A queued or waiting job ends (ECANCELED, appended to *ended)
 * and 1 is returned; an INFLIGHT job is marked (cancel_req) and 0 is returned:
 * the caller aborts the attempt and done() ends it. PACER_ENOTFOUND when the
 * job has ended or its cancel was already asked. */
int pacer__sched_cancel(pacer__sched_t *s, pacer__job_t *job,
                        pacer__link_t *ended);

/* Load shedding: ends the oldest QUEUED low job (the top of the lows
 * heap: of the jobs at the head of each key's low queue, parked keys
 * included, the one with the lowest seq) with PACER_ESHED, appended to
 * *ended, and returns it; NULL when no low job is queued. Jobs waiting to
 * retry and high jobs are never shed. O(log keys). */
pacer__job_t *pacer__sched_shed_oldest_low(pacer__sched_t *s,
                                           pacer__link_t *ended);

/* Ends every queued and waiting job (ECANCELED, to *ended) and stops
 * retries from now on. */
void pacer__sched_cancel_all(pacer__sched_t *s, pacer__link_t *ended);

/* Drops an ENDED job's hold on its key at now. Call before freeing the
 * job. */
void pacer__sched_release(pacer__sched_t *s, pacer__job_t *job, int64_t now);

int pacer__sched_set_rate(pacer__sched_t *s, double rate, unsigned burst,
                          int64_t now);
int pacer__sched_set_concurrency(pacer__sched_t *s, unsigned concurrency);
/* New retry budget settings (for live reconfiguration): PACER_EINVAL (a
 * ratio above 0 with a bad cfg; nothing changed) or 0. From the next
 * decision on, every key's budget and the global one use them. A new
 * window (or turning the budget on) empties every budget, since counts
 * kept in buckets of the old width mean nothing in the new: the floor
 * alone holds until requests are counted again. */
int pacer__sched_set_budget(pacer__sched_t *s, const pacer__budget_cfg_t *cfg);
/* New slow-call settings of every key's breaker (breaker.h: slow_ns 0 is
 * off): PACER_EINVAL (nothing changed) or 0. Outcomes already in the
 * windows keep the slowness they were judged with. */
int pacer__sched_set_breaker_slow(pacer__sched_t *s, int64_t slow_ns,
                                  double slow_threshold);
int pacer__sched_set_key_limits(pacer__sched_t *s, const char *key, double rate,
                                unsigned burst, unsigned cap, int64_t now);

/* Applies cfg (a whole configuration, checked as pacer__sched_init()
 * checks it) from the next decision on: every field but max_idle_keys,
 * max_queue_wait_ns, seed, adapt (but its pause_max_ns, which follows
 * retry_after_max_ns) and concur, which must be as they are. Returns 0,
 * or PACER_EINVAL / PACER_ERATE / PACER_ECONCURRENCY and nothing changed.
 * What changes for what is already held (docs/DESIGN.md, "Every setting
 * live"): keys without limits of their own take the new key defaults at
 * once (tokens kept as far as the burst allows); closed breakers keep
 * their newest outcomes that fit a new window; breakers turned on start
 * CLOSED and empty; the other breaker settings apply from each breaker's
 * next outcome, opening or half-opening; the retry settings from each
 * job's next retry decision (max_attempts for jobs whose request gives
 * none). Walks the key table when a key default or the breaker changed. */
int pacer__sched_reconfigure(pacer__sched_t *s, const pacer__sched_cfg_t *cfg,
                             int64_t now);

/* Fills the scheduler's part of a pacer_stats_get() snapshot at now:
 * retried, retries_refused, slow_calls, conn, held_by_breaker, queued_high and
 * queued_low (waiting retries included), in_flight, and one keys[] entry for
 * each key held (its name strdup'd), as stats.c's allocation contract says;
 * st->keys must be NULL. Returns 0, or PACER_ENOMEM with the entries filled so
 * far (free the snapshot with pacer_stats_free()). The only walk of the key
 * table outside the scheduler's own rules. */
int pacer__sched_stats(pacer__sched_t *s, int64_t now, pacer_stats_t *st);

/* Draws the global and key buckets from ops (copied; its ctx borrowed
 * until destroy) from now on; NULL: the local buckets again. */
void pacer__sched_set_store(pacer__sched_t *s, const pacer__store_ops_t *ops);

/* The store's notify came: keys and the global start parked on
 * PACER__SHARED_PENDING may ask it again. Kick the dispatcher after. */
void pacer__sched_store_notify(pacer__sched_t *s);

/* From now on hands every event (pacer_event_t: breaker changes, pauses
 * and their end, rate retunes, retries scheduled) to fn(ctx, ev) as it is
 * made, inside the call that made it; ev and what it points to are
 * borrowed until fn returns. NULL: none. */
void pacer__sched_set_events(pacer__sched_t *s,
                             void (*fn)(void *ctx, const pacer_event_t *ev),
                             void *ctx);

/* Jobs queued or waiting to retry. */
static inline size_t pacer__sched_backlog(const pacer__sched_t *s)
{
  return s->queued[0] + s->queued[1] + s->waiting[0] + s->waiting[1];
}

#endif
