/* SPDX-License-Identifier: MIT */
/* bench_load.c - the library against a real server: submits N GET jobs to
 * one URL with C in flight (and a rate, if given), waits for every callback,
 * and prints requests per second, CPU time, and the process's threads.
 * Figures 2, 3, 4, 8 and 11 of bench/run. Over https:// (figure 11)
 * --cacert FILE is the configuration's ca_file and --http1.1 its
 * http_version PACER_HTTP_1_1 (else the default: HTTP/2 where the server
 * offers it); it also prints the dispatcher's connection counters
 * (pacer_stats_t.conn): connections opened, TLS handshakes in full and
 * resumed, responses by HTTP version.
 *
 * usage: bench_load --url URL [--n N] [--concurrency C] [--rate R]
 *                   [--burst B] [--workers W] [--cacert FILE] [--http1.1] */
#include "bench_util.h"
#include <pacer/pacer.h>
#include <stdatomic.h>

static atomic_ulong ok, bad;
static double *submit_at, *start_at; /* by job index, seconds */

static int cmpd(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void on_done(const pacer_result_t *r, void *user)
{
  size_t i = (size_t)(uintptr_t)user;
  start_at[i] = r->attempts ? submit_at[i] + (double)r->queue_us / 1e6 : -1;
  if (r->error == 0 && r->status == 200)
    atomic_fetch_add_explicit(&ok, 1, memory_order_relaxed);
  else if (atomic_fetch_add(&bad, 1) < 3)
    fprintf(stderr, "bench_load: job ended with %s (status %d): %s\n",
            pacer_err_name(r->error), r->status, r->message);
}

int main(int argc, char **argv)
{
  const char *url = bench_arg(argc, argv, "--url", NULL);
  unsigned long n = (unsigned long)bench_argf(argc, argv, "--n", 10000);
  if (!url) {
    fprintf(stderr, "usage: bench_load --url URL [--n N] [--concurrency C] "
                    "[--rate R] [--burst B] [--workers W] [--cacert FILE] "
                    "[--http1.1]\n");
    return 2;
  }
  bench_raise_nofile();
  submit_at = calloc(n, sizeof *submit_at);
  start_at = calloc(n, sizeof *start_at);
  if (!submit_at || !start_at)
    return 1;
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.concurrency = (unsigned)bench_argf(argc, argv, "--concurrency", 100);
  cfg.rate = bench_argf(argc, argv, "--rate", 0);
  cfg.burst = (unsigned)bench_argf(argc, argv, "--burst", 0);
  cfg.workers = (unsigned)bench_argf(argc, argv, "--workers", 2);
  cfg.queue_max = n + 1;
  cfg.max_attempts = 1;
  cfg.breaker_enabled = 0;
  cfg.ca_file = bench_arg(argc, argv, "--cacert", NULL);
  if (bench_flag(argc, argv, "--http1.1"))
    cfg.http_version = PACER_HTTP_1_1;

  bench_cpu_t c0 = bench_cpu();
  pacer_t *p;
  int rc = pacer_new(&cfg, &p);
  if (rc) {
    fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
    return 1;
  }
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  double t0 = bench_now();
  for (unsigned long i = 0; i < n; i++) {
    submit_at[i] = bench_now();
    if (pacer_submit(p, &q, on_done, (void *)(uintptr_t)i, NULL) != 0)
      atomic_fetch_add(&bad, 1);
  }
  int threads = bench_threads();
  pacer_drain(p, -1);
  double secs = bench_now() - t0;
  pacer_conn_stats_t conn = {0};
  pacer_stats_t *st = NULL;
  if (pacer_stats_get(p, &st) == 0) {
    conn = st->conn;
    pacer_stats_free(st);
  }
  char *sw = NULL;
  size_t swlen = 0;
  FILE *swf = open_memstream(&sw, &swlen);
  if (swf) {
    bench_print_thread_switches(swf);
    fclose(swf);
  }
  pacer_free(p);
  bench_cpu_t c1 = bench_cpu();
  double cpu = (c1.user - c0.user) + (c1.sys - c0.sys);
  unsigned long good = atomic_load(&ok);
  /* Starts as the client saw them (submit time + queue wait): the most in
   * any 1-second window (t - 1 s, t], to set beside the server's count. */
  size_t ns = 0;
  for (unsigned long i = 0; i < n; i++)
    if (start_at[i] >= 0)
      start_at[ns++] = start_at[i];
  qsort(start_at, ns, sizeof *start_at, cmpd);
  size_t win = 0;
  for (size_t i = 0, lo = 0; i < ns; i++) {
    while (start_at[lo] <= start_at[i] - 1.0)
      lo++;
    if (i - lo + 1 > win)
      win = i - lo + 1;
  }
  printf("{\"n\":%lu,\"ok\":%lu,\"failed\":%lu,\"secs\":%.6f,\"rps\":%.1f,"
         "\"cpu_user\":%.4f,\"cpu_sys\":%.4f,\"cpu_s\":%.4f,"
         "\"cpu_us_per_req\":%.2f,\"threads\":%d,\"concurrency\":%u,"
         "\"workers\":%u,\"rate\":%g,\"hwm_kb\":%ld,\"max_1s_starts\":%zu,"
         "\"thread_switches\":{%s},\"connections\":%llu,"
         "\"tls_handshakes_full\":%llu,\"tls_handshakes_resumed\":%llu,"
         "\"responses_http1\":%llu,\"responses_http2\":%llu}\n",
         n, good, atomic_load(&bad), secs, (double)good / secs,
         c1.user - c0.user, c1.sys - c0.sys, cpu, cpu * 1e6 / (double)n,
         threads, cfg.concurrency, cfg.workers, cfg.rate,
         bench_status_kb("VmHWM"), win, sw ? sw : "",
         (unsigned long long)conn.opened, (unsigned long long)conn.tls_full,
         (unsigned long long)conn.tls_resumed, (unsigned long long)conn.http1,
         (unsigned long long)conn.http2);
  free(sw);
  free(submit_at);
  free(start_at);
  return good == n ? 0 : 1;
}
