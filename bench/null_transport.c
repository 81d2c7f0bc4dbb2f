/* SPDX-License-Identifier: MIT */
/* null_transport.c - instant 200 replies for the benchmarks.
 *
 * start() and run() run on the instance's worker thread only (the transport
 * contract), so the list of ended attempts needs no lock; only the wake-up
 * flag, set from other threads, is guarded. */
#include "null_transport.h"
#include "clock.h"
#include <pthread.h>
#include <stdlib.h>

typedef struct inst {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int woken;           /* guarded by mu */
  pacer__link_t ended; /* worker thread only */
} inst_t;

static int n_open(void *ctx, const pacer__tx_opts_t *opts, void **out)
{
  (void)ctx;
  (void)opts;
  inst_t *in = calloc(1, sizeof *in);
  if (!in)
    return PACER_ENOMEM;
  pthread_mutex_init(&in->mu, NULL);
  if (pacer__cond_init(&in->cond)) {
    pthread_mutex_destroy(&in->mu);
    free(in);
    return PACER_ESYSTEM;
  }
  pacer__list_init(&in->ended);
  *out = in;
  return 0;
}

static void n_close(void *p)
{
  inst_t *in = p;
  pthread_cond_destroy(&in->cond);
  pthread_mutex_destroy(&in->mu);
  free(in);
}

static void n_start(void *p, pacer__job_t *j, int64_t timeout_ns)
{
  inst_t *in = p;
  (void)timeout_ns;
  j->resp->status = 200;
  pacer__list_push_back(&in->ended, &j->link);
}

static void n_abort(void *p, pacer__job_t *j)
{
  (void)p;
  (void)j; /* every attempt has already ended */
}

static void n_run(void *p, int64_t timeout_ns, pacer__link_t *done)
{
  inst_t *in = p;
  if (!pacer__list_empty(&in->ended)) {
    pacer__list_splice(done, &in->ended);
    return;
  }
  int64_t deadline =
      timeout_ns == INT64_MAX
          ? INT64_MAX
          : pacer__time_add(pacer__clock_real.now(NULL), timeout_ns);
  pthread_mutex_lock(&in->mu);
  while (!in->woken &&
         (deadline == INT64_MAX || pacer__clock_real.now(NULL) < deadline))
    pacer__clock_real.wait(NULL, &in->cond, &in->mu, deadline);
  in->woken = 0;
  pthread_mutex_unlock(&in->mu);
}

static void n_wakeup(void *p)
{
  inst_t *in = p;
  pthread_mutex_lock(&in->mu);
  in->woken = 1;
  pthread_cond_signal(&in->cond);
  pthread_mutex_unlock(&in->mu);
}

static void n_set_connections(void *p, unsigned n, unsigned host_max)
{
  (void)p;
  (void)n;
  (void)host_max;
}

const pacer__transport_t bench_null_transport = {.open = n_open,
                                                 .close = n_close,
                                                 .start = n_start,
                                                 .abort = n_abort,
                                                 .run = n_run,
                                                 .wakeup = n_wakeup,
                                                 .set_connections =
                                                     n_set_connections,
                                                 .ctx = NULL};
