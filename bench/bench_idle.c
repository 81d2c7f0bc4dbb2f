/* SPDX-License-Identifier: MIT */
/* bench_idle.c - figure 6: the CPU an idle dispatcher uses. A real
 * dispatcher (libcurl transport, default settings) sits with an empty queue
 * for S seconds twice: just created, and again after it sent W requests to
 * URL (so its connections are open and pooled). Reports each spell's CPU
 * time as a share of one core, and the context switches per second of the
 * whole process (the main thread's one sleep included), which counts
 * wake-ups: polling would show as many.
 *
 * usage: bench_idle --url URL [--secs S] [--warm W] */
#include "bench_util.h"
#include <pacer/pacer.h>

static void on_done(const pacer_result_t *r, void *user)
{
  (void)r;
  (void)user;
}

static void spell(double secs, double *pct, double *wakeups)
{
  bench_cpu_t a = bench_cpu();
  bench_sleep(secs);
  bench_cpu_t b = bench_cpu();
  *pct = ((b.user - a.user) + (b.sys - a.sys)) / secs * 100.0;
  *wakeups = (double)((b.vcsw - a.vcsw) + (b.ivcsw - a.ivcsw)) / secs;
}

int main(int argc, char **argv)
{
  const char *url = bench_arg(argc, argv, "--url", NULL);
  double secs = bench_argf(argc, argv, "--secs", 5);
  unsigned long warm = (unsigned long)bench_argf(argc, argv, "--warm", 100);
  if (!url)
    return 2;
  pacer_t *p;
  int rc = pacer_new(NULL, &p);
  if (rc) {
    fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
    return 1;
  }
  bench_sleep(0.2); /* threads settle */
  double fresh_pct, fresh_wk;
  spell(secs, &fresh_pct, &fresh_wk);
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  for (unsigned long i = 0; i < warm; i++)
    pacer_submit(p, &q, on_done, NULL, NULL);
  pacer_drain(p, -1);
  bench_sleep(0.2);
  double used_pct, used_wk;
  spell(secs, &used_pct, &used_wk);
  int threads = bench_threads();
  pacer_free(p);
  printf("{\"secs\":%g,\"fresh_pct_core\":%.4f,\"fresh_wakeups_per_s\":%.2f,"
         "\"after_pct_core\":%.4f,\"after_wakeups_per_s\":%.2f,"
         "\"pct_core\":%.4f,\"wakeups_per_s\":%.2f,\"threads\":%d}\n",
         secs, fresh_pct, fresh_wk, used_pct, used_wk,
         fresh_pct > used_pct ? fresh_pct : used_pct,
         fresh_wk > used_wk ? fresh_wk : used_wk, threads);
  return 0;
}
