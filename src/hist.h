/* SPDX-License-Identifier: MIT */
/* hist.h - latency histogram with bounded relative error, fixed memory.
 *
 * Log-linear buckets: values below 64 us are exact; above, each power of two
 * is split into 32 buckets, so a reported percentile is within 1/32 of the
 * true value. Values are microseconds, clamped to [0, 2^40) (about 12 days).
 * Beside them, exact counts at the fixed bounds of pacer_histogram_t
 * (PACER_HISTOGRAM_BOUNDS_US) and the sum, for Prometheus.
 * Not thread-safe: the caller serialises. */
#ifndef PACER_HIST_H
#define PACER_HIST_H

#include <pacer/pacer.h>
#include <stdint.h>

#define PACER__HIST_SUB 32
#define PACER__HIST_BUCKETS (64 + 35 * PACER__HIST_SUB)

typedef struct pacer__hist {
  uint64_t count;
  int64_t max;
  uint64_t b[PACER__HIST_BUCKETS];
  uint64_t sum; /* of the clamped values, saturated */
  uint64_t fixed[PACER_HISTOGRAM_BUCKETS]; /* values in (bound i-1, bound i] */
} pacer__hist_t;

void pacer__hist_init(pacer__hist_t *h);
void pacer__hist_add(pacer__hist_t *h, int64_t us);
/* The value at quantile q in [0, 1] (upper edge of its bucket, never above
 * max); 0 when empty. */
int64_t pacer__hist_quantile(const pacer__hist_t *h, double q);
/* count, p50, p90, p99 and max. */
void pacer__hist_summary(const pacer__hist_t *h, pacer_latency_t *out);
/* count, sum and the cumulative counts at the fixed bounds. */
void pacer__hist_export(const pacer__hist_t *h, pacer_histogram_t *out);

#endif
