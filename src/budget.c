/* SPDX-License-Identifier: MIT */
/* budget.c - retry budget: retries limited to a share of recent requests,
 * with time as a parameter.
 *
 * Invariants:
 * - bucket i holds the counts of bucket number slot[i] (time / width),
 *   with slot[i] % PACER__BUDGET_BUCKETS == i, or is unused (INT64_MIN, all
 *   counts 0);
 * - newest is the largest slot[] in use (INT64_MIN: none); a bucket is in
 *   the window at now when its number is in (cur - BUCKETS, cur], cur being
 *   the later of now's bucket and newest, so a clock that goes back keeps
 *   the window where it was.
 */
#include "budget.h"
#include "clock.h"

#define NB PACER__BUDGET_BUCKETS

int pacer__budget_cfg_check(const pacer__budget_cfg_t *cfg)
{
  if (cfg == NULL)
    return PACER_EINVAL;
  /* Written so that NaN fails: every comparison with NaN is false. */
  if (!(cfg->ratio >= 0.0 && cfg->ratio <= PACER__BUDGET_RATIO_MAX))
    return PACER_EINVAL;
  if (!(cfg->min_per_s >= 0.0 && cfg->min_per_s <= PACER__BUDGET_MIN_PER_S_MAX))
    return PACER_EINVAL;
  if (cfg->window_ns < PACER__BUDGET_WINDOW_MIN_NS ||
      cfg->window_ns > PACER__BUDGET_WINDOW_MAX_NS)
    return PACER_EINVAL;
  return 0;
}

void pacer__budget_init(pacer__budget_t *b)
{
  for (int i = 0; i < NB; i++) {
    b->slot[i] = INT64_MIN;
    b->requests[i] = 0;
    b->retries[i] = 0;
  }
  b->newest = INT64_MIN;
}

static int64_t width(const pacer__budget_cfg_t *cfg)
{
  return cfg->window_ns / NB; /* >= 1 ms: the window is checked */
}

/* The number of the bucket now falls in (floor division). */
static int64_t slot_of(const pacer__budget_cfg_t *cfg, int64_t now)
{
  int64_t w = width(cfg);
  int64_t q = now / w;
  return now % w < 0 ? q - 1 : q;
}

static int idx_of(int64_t slot)
{
  int64_t i = slot % NB;
  return (int)(i < 0 ? i + NB : i);
}

/* The bucket now counts in, emptied first if it held an older number. */
static int bucket_at(pacer__budget_t *b, const pacer__budget_cfg_t *cfg,
                     int64_t now)
{
  int64_t s = slot_of(cfg, now);
  if (b->newest != INT64_MIN && s < b->newest)
    s = b->newest; /* the clock went back */
  int i = idx_of(s);
  if (b->slot[i] != s) {
    b->slot[i] = s;
    b->requests[i] = 0;
    b->retries[i] = 0;
  }
  b->newest = s;
  return i;
}

static void add(uint32_t *c)
{
  if (*c < UINT32_MAX)
    (*c)++;
}

void pacer__budget_request(pacer__budget_t *b, const pacer__budget_cfg_t *cfg,
                           int64_t now)
{
  if (cfg->ratio > 0)
    add(&b->requests[bucket_at(b, cfg, now)]);
}

void pacer__budget_retry(pacer__budget_t *b, const pacer__budget_cfg_t *cfg,
                         int64_t now)
{
  if (cfg->ratio > 0)
    add(&b->retries[bucket_at(b, cfg, now)]);
}

void pacer__budget_counts(const pacer__budget_t *b,
                          const pacer__budget_cfg_t *cfg, int64_t now,
                          uint64_t *requests, uint64_t *retries)
{
  uint64_t rq = 0, rt = 0;
  int64_t cur = slot_of(cfg, now);
  if (b->newest != INT64_MIN && cur < b->newest)
    cur = b->newest;
  for (int i = 0; i < NB; i++) {
    /* In the window: cur - NB < slot <= cur (no overflow: slot <= newest
     * <= cur, and an unused slot is INT64_MIN, far below). */
    if (b->slot[i] != INT64_MIN && b->slot[i] <= cur && cur - b->slot[i] < NB) {
      rq += b->requests[i];
      rt += b->retries[i];
    }
  }
  if (requests)
    *requests = rq;
  if (retries)
    *retries = rt;
}

int pacer__budget_allows(const pacer__budget_t *b,
                         const pacer__budget_cfg_t *cfg, int64_t now)
{
  if (!(cfg->ratio > 0))
    return 1;
  uint64_t rq, rt;
  pacer__budget_counts(b, cfg, now, &rq, &rt);
  double share = cfg->ratio * (double)rq;
  double floor_ = cfg->min_per_s * ((double)cfg->window_ns / 1e9);
  double allowed = share > floor_ ? share : floor_;
  /* ratio x requests is rounded once or twice (0.1 x 3 is
   * 0.30000000000000004): a hair of slack keeps an exact share exact. */
  return (double)rt + 1.0 <= allowed * (1.0 + 1e-12) + 1e-9;
}

int64_t pacer__budget_keep_until(const pacer__budget_t *b,
                                 const pacer__budget_cfg_t *cfg)
{
  int64_t last = INT64_MIN;
  if (!(cfg->ratio > 0))
    return INT64_MIN;
  for (int i = 0; i < NB; i++)
    if (b->retries[i] && b->slot[i] > last)
      last = b->slot[i];
  if (last == INT64_MIN)
    return INT64_MIN;
  /* The bucket leaves the window when bucket last + NB begins. */
  int64_t w = width(cfg);
  if (last > INT64_MAX / w - NB)
    return INT64_MAX;
  return (last + NB) * w;
}
