/* SPDX-License-Identifier: MIT */
/* bench_mem.c - figure 5: memory per queued job. Queues N GET jobs with
 * short, distinct URLs ("http://127.0.0.1/j/123456") into a dispatcher whose
 * rate is so low that none starts, and reports the growth of the resident
 * set (VmRSS) and of the heap (mallinfo2 in-use bytes) per job, and both
 * less the URL's own bytes (strlen + 1).
 *
 * --mode ref: the reference, the least a queue of copies can cost: each URL
 * strdup'ed into one malloc, the pointers in one array.
 *
 * usage: bench_mem [--mode pacer|ref] [--jobs N] */
#include "bench_util.h"
#include "clock.h"
#include "engine.h"
#include "null_transport.h"
#include <malloc.h>

static void on_done(const pacer_result_t *r, void *user)
{
  (void)r;
  (void)user;
}

int main(int argc, char **argv)
{
  const char *mode = bench_arg(argc, argv, "--mode", "pacer");
  unsigned long n = (unsigned long)bench_argf(argc, argv, "--jobs", 1e6);
  int ref = strcmp(mode, "ref") == 0;
  pacer_t *p = NULL;
  char **urls = NULL;
  if (ref) {
    urls = malloc(n * sizeof *urls);
    if (!urls)
      return 1;
    memset(urls, 0, n * sizeof *urls); /* the array counts, as slots do */
  } else {
    pacer_config_t cfg;
    pacer_config_init(&cfg);
    cfg.rate = 0.001; /* one token, then one per 1000 s: nothing else starts */
    cfg.burst = 1;
    cfg.concurrency = 1;
    cfg.workers = 1;
    cfg.queue_max = n + 16;
    int rc =
        pacer__new_with(&cfg, &pacer__clock_real, &bench_null_transport, &p);
    if (rc) {
      fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
      return 1;
    }
    pacer_request_t q;
    pacer_request_init(&q);
    q.url = "http://127.0.0.1/warm-up";
    pacer_submit(p, &q, on_done, NULL, NULL); /* takes the only token */
    pacer_drain(p, -1);
  }
  malloc_trim(0);
  long rss0 = bench_status_kb("VmRSS");
  size_t heap0 = mallinfo2().uordblks;
  unsigned long url_bytes = 0, failed = 0;
  char url[64];
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = url;
  double t0 = bench_now();
  for (unsigned long i = 0; i < n; i++) {
    int len = snprintf(url, sizeof url, "http://127.0.0.1/j/%lu", i);
    url_bytes += (unsigned long)len + 1;
    if (ref) {
      urls[i] = strdup(url);
      failed += urls[i] == NULL;
    } else {
      failed += pacer_submit(p, &q, on_done, NULL, NULL) != 0;
    }
  }
  double secs = bench_now() - t0;
  long rss1 = bench_status_kb("VmRSS");
  size_t heap1 = mallinfo2().uordblks;
  unsigned long queued = n;
  size_t job_chunk = 0, slot_table = 0;
  if (p) {
    /* Where the bytes go: the last job's malloc chunk (usable size plus the
     * 8-byte chunk header), and the id tables (slots, gens, free_slots). */
    pthread_mutex_lock(&p->mu);
    const pacer__jobs_t *t = &p->jobs;
    if (t->nslots)
      job_chunk = malloc_usable_size(t->slots[t->nslots - 1]) + 8;
    slot_table = (size_t)t->cap *
                 (sizeof *t->slots + sizeof *t->gens + sizeof *t->free_slots);
    pthread_mutex_unlock(&p->mu);
    pacer_stats_t *st;
    if (pacer_stats_get(p, &st) == 0) {
      queued = st->queued_low + st->queued_high;
      pacer_stats_free(st);
    }
  }
  double rss_per = (double)(rss1 - rss0) * 1024.0 / (double)n;
  double heap_per = (double)(heap1 - heap0) / (double)n;
  double url_per = (double)url_bytes / (double)n;
  printf("{\"mode\":\"%s\",\"jobs\":%lu,\"queued\":%lu,\"failed\":%lu,"
         "\"submit_secs\":%.3f,\"rss_delta_kb\":%ld,\"rss_per_job\":%.1f,"
         "\"heap_per_job\":%.1f,\"url_bytes_per_job\":%.1f,"
         "\"rss_beyond_url\":%.1f,\"heap_beyond_url\":%.1f,"
         "\"sizeof_job\":%zu,\"job_chunk\":%zu,"
         "\"slot_tables_per_job\":%.1f}\n",
         mode, n, queued, failed, secs, rss1 - rss0, rss_per, heap_per, url_per,
         rss_per - url_per, heap_per - url_per,
         ref ? (size_t)0 : sizeof(pacer__job_t), job_chunk,
         (double)slot_table / (double)n);
  fflush(stdout);
  if (ref) {
    for (unsigned long i = 0; i < n; i++)
      free(urls[i]);
    free(urls);
  } else {
    pacer_shutdown(p, PACER_SHUTDOWN_CANCEL);
    pacer_drain(p, -1);
    pacer_free(p);
  }
  return failed == 0 && queued == n ? 0 : 1;
}
