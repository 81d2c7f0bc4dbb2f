/* SPDX-License-Identifier: MIT */
/* curl_multi_loop.c - the reference for what libcurl itself allows: one
 * thread, one multi handle, C easy handles reused (so connections stay
 * alive), each re-added as soon as its transfer ends, until N transfers are
 * done. With --rate R, transfers start no faster than R per second (at most
 * C in flight). With --idle S, it first runs N transfers, then waits S
 * seconds in curl_multi_poll() with nothing to do and reports the CPU time
 * of that idle spell alone.
 *
 * Over https:// (figure 11) it uses HTTP/2 as a plain multi loop uses it
 * well: CURL_HTTP_VERSION_2TLS, the multi handle multiplexing
 * (CURLMOPT_PIPELINING CURLPIPE_MULTIPLEX) and every transfer waiting for a
 * connection it can multiplex on rather than opening its own
 * (CURLOPT_PIPEWAIT); --http1.1 asks for HTTP/1.1 instead (one transfer per
 * connection, so C connections). --cacert FILE trusts FILE's certificates.
 * It reports the connections it opened (CURLINFO_NUM_CONNECTS summed over
 * the transfers) and the responses by HTTP version.
 *
 * usage: curl_multi_loop --url URL [--n N] [--parallel C] [--rate R]
 *                        [--idle S] [--cacert FILE] [--http1.1] */
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
  const char *cacert = bench_arg(argc, argv, "--cacert", NULL);
  int http11 = bench_flag(argc, argv, "--http1.1");
  int h2tls = !http11 && url && strncmp(url, "https://", 8) == 0;
  if (!url || par < 1) {
    fprintf(stderr, "usage: curl_multi_loop --url URL [--n N] "
                    "[--parallel C] [--rate R] [--idle S] [--cacert FILE] "
                    "[--http1.1]\n");
    return 2;
  }
  bench_raise_nofile();
  bench_cpu_t c0 = bench_cpu();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)par);
  curl_multi_setopt(m, CURLMOPT_PIPELINING,
                    http11 ? CURLPIPE_NOTHING : CURLPIPE_MULTIPLEX);
  CURL **free_h = calloc(par, sizeof *free_h);
  unsigned nfree = 0;
  for (unsigned i = 0; i < par; i++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     http11 ? (long)CURL_HTTP_VERSION_1_1
                            : (long)CURL_HTTP_VERSION_2TLS);
    if (h2tls) /* not over http://: figure 2's loop stays as it was */
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (cacert)
      curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
    free_h[nfree++] = e;
  }
  unsigned long started = 0, done = 0, ok = 0, h1 = 0, h2 = 0;
  long conns = 0;
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
      else if (done - ok < 3)
        fprintf(stderr,
                "curl_multi_loop: transfer ended with %s (status "
                "%ld)\n",
                curl_easy_strerror(msg->data.result), status);
      long nc = 0, ver = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &nc);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_HTTP_VERSION, &ver);
      conns += nc;
      if (ver == CURL_HTTP_VERSION_2_0)
        h2++;
      else if (ver != 0)
        h1++;
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
         "\"idle_pct_core\":%.4f,\"idle_wakeups_per_s\":%.2f,"
         "\"connections\":%ld,\"responses_http1\":%lu,"
         "\"responses_http2\":%lu}\n",
         n, ok, secs, (double)ok / secs, cpu, cpu * 1e6 / (double)n,
         bench_threads(), par, rate, idle, idle_cpu,
         idle > 0 ? idle_cpu / idle * 100 : 0,
         idle > 0 ? (double)idle_csw / idle : 0, conns, h1, h2);
  return ok == n ? 0 : 1;
}
