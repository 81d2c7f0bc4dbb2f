/* SPDX-License-Identifier: MIT */
/* curl_multi_loop.c - the reference for what libcurl itself allows: one
 * thread, one multi handle, C easy handles reused (so connections stay
 * alive), each re-added as soon as its transfer ends, until N transfers are
 * done. With --rate R, transfers start no faster than R per second (at most
 * C in flight). With --idle S, it first runs N transfers, then waits S
 * seconds in curl_multi_poll() with nothing to do and reports the CPU time
 * of that idle spell alone.
 *
 * usage: curl_multi_loop --url URL [--n N] [--parallel C] [--rate R]
 *                        [--idle S] */
#include "bench_util.h"
#include <curl/curl.h>

static size_t discard(char *d, size_t s, size_t n, void *u)
{
  (void)d;
  (void)u;
  return s * n;
}

int main(int argc, char **argv)
{
  const char *url = bench_arg(argc, argv, "--url", NULL);
  unsigned long n = (unsigned long)bench_argf(argc, argv, "--n", 10000);
  unsigned par = (unsigned)bench_argf(argc, argv, "--parallel", 100);
  double rate = bench_argf(argc, argv, "--rate", 0);
  double idle = bench_argf(argc, argv, "--idle", 0);
  if (!url || par < 1) {
    fprintf(stderr, "usage: curl_multi_loop --url URL [--n N] "
                    "[--parallel C] [--rate R] [--idle S]\n");
    return 2;
  }
  bench_raise_nofile();
  bench_cpu_t c0 = bench_cpu();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)par);
  CURL **free_h = calloc(par, sizeof *free_h);
  unsigned nfree = 0;
  for (unsigned i = 0; i < par; i++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    free_h[nfree++] = e;
  }
  unsigned long started = 0, done = 0, ok = 0;
  double t0 = bench_now();
  double interval = rate > 0 ? 1.0 / rate : 0;
  while (done < n) {
    double now = bench_now();
    while (nfree && started < n &&
           (interval == 0 || now >= t0 + (double)started * interval)) {
      curl_multi_add_handle(m, free_h[--nfree]);
      started++;
    }
    int running;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result == CURLE_OK && status == 200)
        ok++;
      curl_multi_remove_handle(m, msg->easy_handle);
      free_h[nfree++] = msg->easy_handle;
      done++;
    }
    if (done >= n)
      break;
    int wait_ms = 1000;
    if (interval == 0 && nfree && started < n)
      wait_ms = 0; /* free handles: add them at once */
    else if (interval > 0 && nfree && started < n) {
      double next = t0 + (double)started * interval - bench_now();
      wait_ms = next <= 0 ? 0 : (int)(next * 1000) + 1;
    }
    if (!(nfree && started < n && wait_ms == 0))
      curl_multi_poll(m, NULL, 0, wait_ms, NULL);
  }
  double secs = bench_now() - t0;
  bench_cpu_t c1 = bench_cpu();
  double idle_cpu = 0;
  long idle_csw = 0;
  if (idle > 0) {
    bench_cpu_t i0 = bench_cpu();
    double end = bench_now() + idle;
    double left;
    while ((left = end - bench_now()) > 0)
      curl_multi_poll(m, NULL, 0, (int)(left * 1000) + 1, NULL);
    bench_cpu_t i1 = bench_cpu();
    idle_cpu = (i1.user - i0.user) + (i1.sys - i0.sys);
    idle_csw = (i1.vcsw - i0.vcsw) + (i1.ivcsw - i0.ivcsw);
  }
  for (unsigned i = 0; i < nfree; i++)
    curl_easy_cleanup(free_h[i]);
  free(free_h);
  curl_multi_cleanup(m);
  double cpu = (c1.user - c0.user) + (c1.sys - c0.sys);
  printf("{\"n\":%lu,\"ok\":%lu,\"secs\":%.6f,\"rps\":%.1f,\"cpu_s\":%.4f,"
         "\"cpu_us_per_req\":%.2f,\"threads\":%d,\"parallel\":%u,"
         "\"rate\":%g,\"idle_s\":%g,\"idle_cpu_s\":%.6f,"
         "\"idle_pct_core\":%.4f,\"idle_wakeups_per_s\":%.2f}\n",
         n, ok, secs, (double)ok / secs, cpu, cpu * 1e6 / (double)n,
         bench_threads(), par, rate, idle, idle_cpu,
         idle > 0 ? idle_cpu / idle * 100 : 0,
         idle > 0 ? (double)idle_csw / idle : 0);
  return ok == n ? 0 : 1;
}
