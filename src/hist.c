/* SPDX-License-Identifier: MIT */
/* hist.c - log-linear latency histogram (see hist.h).
 *
 * Invariants:
 * - bucket i < 64 holds exactly the value i;
 * - above, the values [2^k, 2^(k+1)), k = 6..39, fill the 32 buckets from
 *   64 + (k-6)*32, each 2^(k-5) wide; a bucket's width is at most 1/32 of
 *   its smallest value, which is what bounds the relative error;
 * - every stored value is in [0, HIST_LIMIT), so the last bucket used is
 *   64 + 33*32 + 31 = 1151 and the header's 1184 leave one power spare;
 * - count is the sum of b[], and max the largest value stored (0 if none);
 * - fixed[i] counts the stored values v with bound[i-1] < v <= bound[i]
 *   (bound[-1] = -1), so count minus the sum of fixed[] took longer than
 *   the last bound; sum is the sum of the stored values, saturated. */
#include "hist.h"
#include <string.h>

#define HIST_EXACT 64
#define HIST_LOG2_EXACT 6
#define HIST_LOG2_SUB 5
#define HIST_LIMIT ((int64_t)1 << 40)

_Static_assert((1 << HIST_LOG2_SUB) == PACER__HIST_SUB, "sub-bucket count");
_Static_assert(HIST_EXACT + (40 - HIST_LOG2_EXACT) * PACER__HIST_SUB <=
                   PACER__HIST_BUCKETS,
               "buckets must reach 2^40");

/* Portable floor(log2(v)) for v > 0: six halving steps cover 64 bits, and no
 * compiler builtin is needed. */
static int floor_log2(uint64_t v)
{
  int k = 0;
  for (int step = 32; step > 0; step /= 2) {
    if (v >> step) {
      v >>= step;
      k += step;
    }
  }
  return k;
}

static uint32_t bucket_of(int64_t us)
{
  uint64_t v = (uint64_t)us;
  if (v < HIST_EXACT)
    return (uint32_t)v;
  int k = floor_log2(v);
  int shift = k - HIST_LOG2_SUB;
  uint32_t sub = (uint32_t)(v >> shift) - PACER__HIST_SUB;
  return HIST_EXACT + (uint32_t)(k - HIST_LOG2_EXACT) * PACER__HIST_SUB + sub;
}

/* The largest value that lands in bucket i. */
static int64_t upper_edge(uint32_t i)
{
  if (i < HIST_EXACT)
    return (int64_t)i;
  uint32_t group = (i - HIST_EXACT) / PACER__HIST_SUB;
  uint32_t sub = (i - HIST_EXACT) % PACER__HIST_SUB;
  int shift = (int)group + HIST_LOG2_EXACT - HIST_LOG2_SUB;
  int64_t lower = (int64_t)(PACER__HIST_SUB + sub) << shift;
  return lower + ((int64_t)1 << shift) - 1;
}

static const int64_t fixed_bound[PACER_HISTOGRAM_BUCKETS] =
    PACER_HISTOGRAM_BOUNDS_US;

void pacer__hist_init(pacer__hist_t *h)
{
  memset(h, 0, sizeof *h);
}

void pacer__hist_add(pacer__hist_t *h, int64_t us)
{
  /* A clock step backwards can produce a negative duration; count it as 0
   * rather than lose it. */
  if (us < 0)
    us = 0;
  else if (us >= HIST_LIMIT)
    us = HIST_LIMIT - 1;
  h->b[bucket_of(us)]++;
  h->count++;
  uint64_t u = (uint64_t)us;
  h->sum = h->sum > UINT64_MAX - u ? UINT64_MAX : h->sum + u;
  for (int i = 0; i < PACER_HISTOGRAM_BUCKETS; i++)
    if (us <= fixed_bound[i]) {
      h->fixed[i]++;
      break;
    }
  if (us > h->max)
    h->max = us;
}

int64_t pacer__hist_quantile(const pacer__hist_t *h, double q)
{
  if (!h->count)
    return 0;
  /* NaN fails every comparison; treat it as 0 rather than read garbage. */
  if (!(q > 0.0))
    q = 0.0;
  else if (q > 1.0)
    q = 1.0;
  /* rank = ceil(q * count), 1-based (q = 0 means the smallest value);
   * rounded up by hand so the library needs no libm. */
  double r = q * (double)h->count;
  uint64_t rank;
  if (r >= (double)h->count) {
    rank = h->count;
  } else {
    rank = (uint64_t)r;
    if ((double)rank < r)
      rank++;
    if (rank < 1)
      rank = 1;
  }
  uint64_t seen = 0;
  for (uint32_t i = 0; i < PACER__HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      int64_t v = upper_edge(i);
      return v < h->max ? v : h->max;
    }
  }
  return h->max; /* unreachable while count == sum of b[] */
}

void pacer__hist_summary(const pacer__hist_t *h, pacer_latency_t *out)
{
  out->count = h->count;
  out->p50_us = pacer__hist_quantile(h, 0.50);
  out->p90_us = pacer__hist_quantile(h, 0.90);
  out->p99_us = pacer__hist_quantile(h, 0.99);
  out->max_us = h->count ? h->max : 0;
}

void pacer__hist_export(const pacer__hist_t *h, pacer_histogram_t *out)
{
  out->count = h->count;
  out->sum_us = h->sum;
  uint64_t seen = 0;
  for (int i = 0; i < PACER_HISTOGRAM_BUCKETS; i++) {
    seen += h->fixed[i];
    out->le[i] = seen;
  }
}
