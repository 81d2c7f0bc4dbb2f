/* SPDX-License-Identifier: MIT */
/* bench_sched.c - figure 1: scheduling overhead without network. Jobs go
 * submit -> limiter -> dispatch -> callback through a dispatcher whose
 * transport answers at once (null_transport.c), at no rate limit, from 1 or
 * 2 submitting threads; prints jobs per second.
 *
 * --mode ref runs the reference instead: the smallest pipeline of the same
 * shape (each job copied into one malloc, handed under a mutex to one
 * consumer thread that calls its callback and frees it), i.e. what a
 * locked cross-thread hand-off costs on this machine.
 *
 * usage: bench_sched [--mode pacer|ref] [--jobs N] [--threads T]
 *                    [--concurrency C] [--workers W] */
#include "bench_util.h"
#include "clock.h"
#include "engine.h"
#include "null_transport.h"
#include <pthread.h>
#include <stdatomic.h>

static const char *const URL = "http://bench.test/job";
static atomic_ulong callbacks;

static void on_done(const pacer_result_t *r, void *user)
{
  (void)user;
  if (r->error == 0 && r->status == 200)
    atomic_fetch_add_explicit(&callbacks, 1, memory_order_relaxed);
}

/* ---- pacer ---- */

typedef struct sub {
  pacer_t *p;
  unsigned long n;
  int failed;
} sub_t;

static void *submitter(void *arg)
{
  sub_t *s = arg;
  pacer_request_t q;
  pacer_request_init(&q);
  q.url = URL;
  for (unsigned long i = 0; i < s->n; i++)
    if (pacer_submit(s->p, &q, on_done, NULL, NULL) != 0)
      s->failed++;
  return NULL;
}

/* ---- reference: one locked queue, one consumer ---- */

typedef struct rjob {
  struct rjob *next;
  pacer_done_cb cb;
  void *user;
  size_t len;
  char url[];
} rjob_t;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  rjob_t *head, **tail;
  unsigned long expected, consumed;
} rq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

static void *ref_consumer(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&rq.mu);
  while (rq.consumed < rq.expected) {
    while (!rq.head)
      pthread_cond_wait(&rq.cv, &rq.mu);
    rjob_t *batch = rq.head;
    rq.head = NULL;
    rq.tail = &rq.head;
    pthread_mutex_unlock(&rq.mu);
    unsigned long n = 0;
    while (batch) {
      rjob_t *j = batch;
      batch = j->next;
      pacer_result_t r;
      memset(&r, 0, sizeof r);
      r.status = 200;
      r.url = j->url;
      j->cb(&r, j->user);
      free(j);
      n++;
    }
    pthread_mutex_lock(&rq.mu);
    rq.consumed += n;
  }
  pthread_mutex_unlock(&rq.mu);
  return NULL;
}

static void *ref_submitter(void *arg)
{
  sub_t *s = arg;
  size_t len = strlen(URL);
  for (unsigned long i = 0; i < s->n; i++) {
    rjob_t *j = malloc(sizeof *j + len + 1);
    if (!j) {
      s->failed++;
      continue;
    }
    memcpy(j->url, URL, len + 1);
    j->len = len;
    j->cb = on_done;
    j->user = NULL;
    j->next = NULL;
    pthread_mutex_lock(&rq.mu);
    int was_empty = rq.head == NULL;
    *rq.tail = j;
    rq.tail = &j->next;
    if (was_empty)
      pthread_cond_signal(&rq.cv);
    pthread_mutex_unlock(&rq.mu);
  }
  return NULL;
}

int main(int argc, char **argv)
{
  const char *mode = bench_arg(argc, argv, "--mode", "pacer");
  unsigned long jobs = (unsigned long)bench_argf(argc, argv, "--jobs", 1e6);
  int threads = (int)bench_argf(argc, argv, "--threads", 1);
  unsigned conc = (unsigned)bench_argf(argc, argv, "--concurrency", 1000);
  unsigned workers = (unsigned)bench_argf(argc, argv, "--workers", 2);
  if (threads < 1 || threads > 64 || jobs < 1)
    return 2;
  int ref = strcmp(mode, "ref") == 0;

  pacer_t *p = NULL;
  pthread_t consumer;
  if (ref) {
    rq.tail = &rq.head;
    rq.expected = jobs / (unsigned long)threads * (unsigned long)threads;
    pthread_create(&consumer, NULL, ref_consumer, NULL);
  } else {
    pacer_config_t cfg;
    pacer_config_init(&cfg);
    cfg.rate = 0;
    cfg.concurrency = conc;
    cfg.workers = workers;
    cfg.queue_max = jobs + 1;
    int rc =
        pacer__new_with(&cfg, &pacer__clock_real, &bench_null_transport, &p);
    if (rc) {
      fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
      return 1;
    }
  }
  sub_t subs[64];
  pthread_t tid[64];
  bench_cpu_t c0 = bench_cpu();
  double t0 = bench_now();
  for (int i = 0; i < threads; i++) {
    subs[i] = (sub_t){p, jobs / (unsigned long)threads, 0};
    pthread_create(&tid[i], NULL, ref ? ref_submitter : submitter, &subs[i]);
  }
  int failed = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    failed += subs[i].failed;
  }
  if (ref)
    pthread_join(consumer, NULL);
  else
    pacer_drain(p, -1);
  double secs = bench_now() - t0;
  bench_cpu_t c1 = bench_cpu();
  unsigned long done = atomic_load(&callbacks);
  pacer_free(p);
  printf("{\"mode\":\"%s\",\"threads\":%d,\"jobs\":%lu,\"callbacks\":%lu,"
         "\"failed\":%d,\"secs\":%.6f,\"jobs_per_s\":%.1f,\"cpu_s\":%.4f,"
         "\"concurrency\":%u,\"workers\":%u}\n",
         mode, threads, jobs / (unsigned long)threads * (unsigned long)threads,
         done, failed, secs, (double)done / secs,
         (c1.user + c1.sys) - (c0.user + c0.sys), conc, workers);
  return done == jobs / (unsigned long)threads * (unsigned long)threads ? 0 : 1;
}
