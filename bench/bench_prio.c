/* SPDX-License-Identifier: MIT */
/* bench_prio.c - figure 7: how long a high-priority job waits behind a queue
 * saturated with low ones. A dispatcher at R tokens/s (weights 4:1, the
 * default) over the instant transport (null_transport.c) and the real clock
 * gets L low jobs at once, waits until they are older than the aging
 * limit (max_low_wait_ms, A ms), then gets K high jobs, one every G ms plus
 * a random fraction of a token interval (so arrivals fall at every phase of
 * the token grid): the high jobs meet an aged, saturated low backlog. Reports
 * the high jobs' queue wait (submit to start, from pacer_result_t.queue_us):
 * p50, p99 and max, the share that waited past one token interval, and the
 * token interval measured over the same span (span / attempts started), the
 * reference of the target p99 <= 2 intervals.
 *
 * usage: bench_prio [--rate R] [--low L] [--high K] [--gap-ms G]
 *                   [--weight-high H] [--weight-low L] [--max-low-wait A] */
#include "bench_util.h"
#include "clock.h"
#include "engine.h"
#include "null_transport.h"
#include <pthread.h>

static int64_t *waits; /* by high job index */

static void on_low(const pacer_result_t *r, void *user)
{
  (void)r;
  (void)user;
}

static void on_high(const pacer_result_t *r, void *user)
{
  size_t i = (size_t)(uintptr_t)user;
  waits[i] = r->attempts ? r->queue_us : -1;
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t started(pacer_t *p)
{
  pacer_stats_t *st;
  uint64_t n = 0;
  if (pacer_stats_get(p, &st) == 0) {
    n = st->started;
    pacer_stats_free(st);
  }
  return n;
}

int main(int argc, char **argv)
{
  double rate = bench_argf(argc, argv, "--rate", 1000);
  unsigned long low = (unsigned long)bench_argf(argc, argv, "--low", 10000);
  size_t high = (size_t)bench_argf(argc, argv, "--high", 300);
  double gap = bench_argf(argc, argv, "--gap-ms", 10) / 1000.0;
  waits = calloc(high, sizeof *waits);
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.rate = rate;
  cfg.concurrency = 100;
  cfg.weight_high = (unsigned)bench_argf(argc, argv, "--weight-high", 4);
  cfg.weight_low = (unsigned)bench_argf(argc, argv, "--weight-low", 1);
  cfg.max_low_wait_ms = (int64_t)bench_argf(argc, argv, "--max-low-wait", 1000);
  cfg.queue_max = low + high + 16;
  pacer_t *p;
  int rc = pacer__new_with(&cfg, &pacer__clock_real, &bench_null_transport, &p);
  if (rc) {
    fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
    return 1;
  }
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = "http://127.0.0.1/low";
  for (unsigned long i = 0; i < low; i++)
    pacer_submit(p, &q, on_low, NULL, NULL);
  /* The burst is spent, and every low job left is past the aging limit. */
  bench_sleep(0.1 + (double)cfg.max_low_wait_ms / 1000.0);
  q.url = "http://127.0.0.1/high";
  q.priority = PACER_PRIORITY_HIGH;
  uint64_t s0 = started(p);
  double t0 = bench_now();
  /* Arrivals at a random phase of the token grid (gap plus up to one token
   * interval), so the waits sample every phase, not one. */
  uint64_t rng = (uint64_t)(bench_now() * 1e9) | 1;
  for (size_t i = 0; i < high; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double phase = (double)(rng >> 11) / 9007199254740992.0 / rate;
    double due = t0 + (double)i * gap + phase;
    double left = due - bench_now();
    if (left > 0)
      bench_sleep(left);
    pacer_submit(p, &q, on_high, (void *)(uintptr_t)i, NULL);
  }
  bench_sleep(0.05);
  uint64_t s1 = started(p);
  double span = bench_now() - t0;
  pacer_stats_t *st;
  uint64_t low_left = 0;
  if (pacer_stats_get(p, &st) == 0) {
    low_left = st->queued_low;
    pacer_stats_free(st);
  }
  pacer_shutdown(p, PACER_SHUTDOWN_CANCEL);
  pacer_drain(p, -1);
  pacer_free(p);
  size_t n = 0;
  for (size_t i = 0; i < high; i++)
    if (waits[i] >= 0)
      waits[n++] = waits[i];
  qsort(waits, n, sizeof *waits, cmp64);
  double interval_us = s1 > s0 ? span * 1e6 / (double)(s1 - s0) : 0;
  int64_t p50 = n ? waits[n / 2] : -1;
  int64_t p99 = n ? waits[(size_t)((double)(n - 1) * 0.99 + 0.5)] : -1;
  int64_t max = n ? waits[n - 1] : -1;
  size_t over = 0; /* waited past one token interval */
  for (size_t i = 0; i < n; i++)
    over += (double)waits[i] > interval_us;
  printf("{\"rate\":%g,\"high\":%zu,\"high_started\":%zu,\"low_left\":%llu,"
         "\"p50_us\":%lld,\"p99_us\":%lld,\"max_us\":%lld,"
         "\"interval_us\":%.1f,\"p99_intervals\":%.3f,"
         "\"over_1_interval_pct\":%.1f,\"weights\":\"%u:%u\","
         "\"max_low_wait_ms\":%lld}\n",
         rate, high, n, (unsigned long long)low_left, (long long)p50,
         (long long)p99, (long long)max, interval_us,
         interval_us > 0 ? (double)p99 / interval_us : 0,
         n ? 100.0 * (double)over / (double)n : 0, cfg.weight_high,
         cfg.weight_low, (long long)cfg.max_low_wait_ms);
  free(waits);
  return n == high && low_left > 0 ? 0 : 1;
}
