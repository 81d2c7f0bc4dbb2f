/* SPDX-License-Identifier: MIT */
/* budget.h - retry budget: retries limited to a share of recent requests,
 * with time as a parameter.
 *
 * What counts. A request is a job's first attempt started in this process
 * (pacer__budget_request()); a retry is a retry the scheduler decided to
 * schedule and this budget allowed (pacer__budget_retry()), whatever its
 * delay came from: the backoff or a Retry-After. A refused retry counts for
 * nothing: it sent nothing.
 *
 * The rule. Over the last window (window_ns, kept as PACER__BUDGET_BUCKETS
 * buckets of window_ns / PACER__BUDGET_BUCKETS, so "the last window" is the
 * current bucket and the nine before it), one more retry is allowed while
 *
 *     retries + 1 <= max(ratio x requests, min_per_s x window in seconds)
 *
 * so retries add at most ratio to the load a failing server sees, and the
 * floor (min_per_s, averaged over the window) lets a quiet client retry at
 * all: with 2 requests in 10 s, 20 % of them would be no retry. The floor
 * is an allowance of the window, not a rate: the 30 retries of the default
 * floor may all be spent in one second of it. ratio 0 turns the budget off
 * (every retry is allowed, nothing is counted; pacer__budget_cfg_t.ratio).
 *
 * Counters saturate at UINT32_MAX per bucket. A clock that goes back
 * counts in the newest bucket. Not thread-safe: the caller serialises. */
#ifndef PACER_BUDGET_H
#define PACER_BUDGET_H

#include <pacer/pacer.h>
#include <stdint.h>

#define PACER__BUDGET_BUCKETS 10

/* Bounds pacer__budget_cfg_check() enforces (and config.c, in ms). */
#define PACER__BUDGET_RATIO_MAX 1000.0
#define PACER__BUDGET_MIN_PER_S_MAX 1e9
#define PACER__BUDGET_WINDOW_MIN_NS (INT64_C(10) * 1000000)       /* 10 ms */
#define PACER__BUDGET_WINDOW_MAX_NS (INT64_C(86400) * 1000000000) /* 1 day */

typedef struct pacer__budget_cfg {
  double ratio;      /* retries allowed per request; 0: off */
  double min_per_s;  /* the floor, in retries per second of the window */
  int64_t window_ns; /* PACER__BUDGET_WINDOW_MIN_NS..._MAX_NS */
} pacer__budget_cfg_t;

typedef struct pacer__budget {
  int64_t slot[PACER__BUDGET_BUCKETS]; /* the bucket's number (time / width)
                                          or INT64_MIN: unused */
  uint32_t requests[PACER__BUDGET_BUCKETS];
  uint32_t retries[PACER__BUDGET_BUCKETS];
  int64_t newest; /* the newest bucket number counted in; INT64_MIN: none */
} pacer__budget_t;

/* Validates a configuration: ratio finite in [0, PACER__BUDGET_RATIO_MAX],
 * min_per_s finite in [0, PACER__BUDGET_MIN_PER_S_MAX], window_ns in
 * bounds (checked even when ratio is 0). Returns 0 or PACER_EINVAL. */
int pacer__budget_cfg_check(const pacer__budget_cfg_t *cfg);

/* An empty budget. Cannot fail. */
void pacer__budget_init(pacer__budget_t *b);

/* One request started at now. Nothing with ratio 0. */
void pacer__budget_request(pacer__budget_t *b, const pacer__budget_cfg_t *cfg,
                           int64_t now);

/* 1 when one more retry fits the budget at now (always with ratio 0), else
 * 0. Changes nothing: call pacer__budget_retry() once it is scheduled. */
int pacer__budget_allows(const pacer__budget_t *b,
                         const pacer__budget_cfg_t *cfg, int64_t now);

/* One retry scheduled at now. Nothing with ratio 0. */
void pacer__budget_retry(pacer__budget_t *b, const pacer__budget_cfg_t *cfg,
                         int64_t now);

/* The requests and retries counted in the window at now (either may be
 * NULL). */
void pacer__budget_counts(const pacer__budget_t *b,
                          const pacer__budget_cfg_t *cfg, int64_t now,
                          uint64_t *requests, uint64_t *retries);

/* Until when the budget holds retries worth remembering: the end of the
 * window of its newest bucket with a retry; INT64_MIN when it holds none.
 * Forgetting its requests errs on the cautious side: a budget made afresh
 * allows the floor only. */
int64_t pacer__budget_keep_until(const pacer__budget_t *b,
                                 const pacer__budget_cfg_t *cfg);

#endif
