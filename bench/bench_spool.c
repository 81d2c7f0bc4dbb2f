/* SPDX-License-Identifier: MIT */
/* bench_spool.c - submit throughput (jobs/s) with no spool, and with the
 * spool at synchronous NORMAL and FULL: single submits from 4 threads, and
 * batches of 1,000 from one thread. The dispatcher's rate is held near zero
 * so the figure is the cost of accepting jobs (validation, the spool's group
 * commit, queueing), not of sending them.
 *
 * Usage: bench_spool DIR [JOBS] [FULL_JOBS]
 * Prints one JSON object per line: {"mode", "sync", "jobs", "seconds",
 * "jobs_per_s"}. DIR receives the spool files (removed afterwards). */
#define _XOPEN_SOURCE 700
#include <pacer/pacer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define BATCH 1000

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(const pacer_result_t *r, void *user)
{
  (void)r;
  (void)user;
}

typedef struct run {
  pacer_t *p;
  int spooled;
  size_t jobs; /* per thread */
  int failed;
} run_t;

static void fill(pacer_request_t *q, int spooled, char *url, size_t cap,
                 size_t i)
{
  pacer_request_init(q);
  snprintf(url, cap, "http://127.0.0.1:9/jobs/%zu", i);
  q->url = url;
  q->method = "POST";
  q->body = "{\"to\":\"user@example.test\"}";
  q->body_len = strlen(q->body);
  if (spooled)
    q->handler = "bench";
}

static void *submitter(void *arg)
{
  run_t *r = arg;
  char url[64];
  for (size_t i = 0; i < r->jobs; i++) {
    pacer_request_t q;
    fill(&q, r->spooled, url, sizeof url, i);
    if (pacer_submit(r->p, &q, r->spooled ? NULL : on_done, NULL, NULL)) {
      r->failed = 1;
      break;
    }
  }
  return NULL;
}

static pacer_t *open_dispatcher(const char *spool, int sync, size_t jobs)
{
  pacer_config_t c;
  pacer_config_init(&c);
  c.rate = 0.001; /* one job may start; the rest stay queued */
  c.burst = 1;
  c.queue_max = jobs + 1;
  c.spool_path = spool;
  c.spool_sync = sync;
  pacer_t *p;
  if (pacer_new(&c, &p)) {
    fprintf(stderr, "bench_spool: pacer_new failed for %s\n",
            spool ? spool : "(no spool)");
    exit(1);
  }
  if (spool && pacer_register_handler(p, "bench", on_done, NULL)) {
    fprintf(stderr, "bench_spool: cannot register the handler\n");
    exit(1);
  }
  return p;
}

static void remove_spool(const char *path)
{
  const char *ext[] = {"", "-wal", "-shm", ".lock"};
  char f[4200];
  for (int i = 0; i < 4; i++) {
    snprintf(f, sizeof f, "%s%s", path, ext[i]);
    unlink(f);
  }
}

static void report(const char *mode, const char *sync, size_t jobs, double s)
{
  printf("{\"mode\": \"%s\", \"sync\": \"%s\", \"jobs\": %zu, \"seconds\": "
         "%.3f, \"jobs_per_s\": %.0f}\n",
         mode, sync, jobs, s, (double)jobs / s);
  fflush(stdout);
}

static void bench_threads(const char *dir, int spooled, int sync, size_t jobs)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/bench-spool.db", dir);
  remove_spool(path);
  pacer_t *p = open_dispatcher(spooled ? path : NULL, sync, jobs);
  run_t r[THREADS];
  pthread_t t[THREADS];
  double t0 = now_s();
  for (int i = 0; i < THREADS; i++) {
    r[i] = (run_t){p, spooled, jobs / THREADS, 0};
    pthread_create(&t[i], NULL, submitter, &r[i]);
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  double s = now_s() - t0;
  pacer_free(p);
  remove_spool(path);
  for (int i = 0; i < THREADS; i++)
    if (r[i].failed) {
      fprintf(stderr, "bench_spool: a submit failed\n");
      exit(1);
    }
  report("single, 4 threads",
         !spooled                   ? "none"
         : sync == PACER_SPOOL_FULL ? "full"
                                    : "normal",
         jobs / THREADS * THREADS, s);
}

static void bench_batch(const char *dir, int spooled, int sync, size_t jobs)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/bench-spool.db", dir);
  remove_spool(path);
  pacer_t *p = open_dispatcher(spooled ? path : NULL, sync, jobs);
  pacer_request_t *q = calloc(BATCH, sizeof *q);
  char(*urls)[64] = calloc(BATCH, sizeof *urls);
  if (!q || !urls)
    exit(1);
  double t0 = now_s();
  size_t done = 0;
  while (done < jobs) {
    size_t n = jobs - done < BATCH ? jobs - done : BATCH;
    for (size_t i = 0; i < n; i++)
      fill(&q[i], spooled, urls[i], sizeof urls[i], done + i);
    if (pacer_submit_batch(p, q, n, spooled ? NULL : on_done, NULL, NULL,
                           NULL)) {
      fprintf(stderr, "bench_spool: a batch failed\n");
      exit(1);
    }
    done += n;
  }
  double s = now_s() - t0;
  pacer_free(p);
  remove_spool(path);
  free(q);
  free(urls);
  report("batches of 1000",
         !spooled                   ? "none"
         : sync == PACER_SPOOL_FULL ? "full"
                                    : "normal",
         jobs, s);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: bench_spool DIR [JOBS] [FULL_JOBS]\n");
    return 2;
  }
  size_t jobs = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
  size_t full_jobs = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000;
  bench_threads(argv[1], 0, 0, jobs);
  bench_batch(argv[1], 0, 0, jobs);
  bench_threads(argv[1], 1, PACER_SPOOL_NORMAL, jobs);
  bench_batch(argv[1], 1, PACER_SPOOL_NORMAL, jobs);
  bench_threads(argv[1], 1, PACER_SPOOL_FULL, full_jobs);
  bench_batch(argv[1], 1, PACER_SPOOL_FULL, full_jobs);
  return 0;
}
