/* SPDX-License-Identifier: MIT */
/* delay.c - one timer thread that resumes suspended connections when due.
 *
 * A delayed response or a trickled byte suspends its connection (so no
 * worker thread waits) and puts (due, connection) on a binary min-heap; the
 * timer thread sleeps on a CLOCK_MONOTONIC condition variable until the
 * earliest is due and resumes it. Invariants: every connection this module
 * suspended is on the heap until the timer thread takes it off and resumes
 * it; once stopping is set (under the lock) nothing is suspended any more,
 * so after delayer_stop() no connection is left suspended by this module,
 * which MHD_stop_daemon requires. The lock is never held while calling
 * MHD_resume_connection. */
#include "mock.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct due {
  uint64_t due_ns;
  struct MHD_Connection *conn;
} due_t;

struct delayer {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool started, stopping;
  due_t *heap;
  size_t n, cap;
};

static void sift_up(due_t *h, size_t i)
{
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p].due_ns <= h[i].due_ns)
      break;
    due_t t = h[p];
    h[p] = h[i];
    h[i] = t;
    i = p;
  }
}

static void sift_down(due_t *h, size_t n, size_t i)
{
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l].due_ns < h[m].due_ns)
      m = l;
    if (r < n && h[r].due_ns < h[m].due_ns)
      m = r;
    if (m == i)
      return;
    due_t t = h[m];
    h[m] = h[i];
    h[i] = t;
    i = m;
  }
}

static due_t pop(delayer_t *d)
{
  due_t top = d->heap[0];
  d->heap[0] = d->heap[--d->n];
  sift_down(d->heap, d->n, 0);
  return top;
}

static struct timespec abstime(uint64_t ns)
{
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / MOCK_NS_PER_S);
  ts.tv_nsec = (long)(ns % MOCK_NS_PER_S);
  return ts;
}

static void *run(void *arg)
{
  delayer_t *d = arg;
  enum { BATCH = 256 };
  struct MHD_Connection *due[BATCH];

  pthread_mutex_lock(&d->mu);
  while (!d->stopping) {
    if (d->n == 0) {
      pthread_cond_wait(&d->cv, &d->mu);
      continue;
    }
    uint64_t now = mock_now_ns();
    if (d->heap[0].due_ns > now) {
      struct timespec ts = abstime(d->heap[0].due_ns);
      pthread_cond_timedwait(&d->cv, &d->mu, &ts);
      continue;
    }
    size_t k = 0;
    while (k < BATCH && d->n > 0 && d->heap[0].due_ns <= now)
      due[k++] = pop(d).conn;
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < k; i++)
      MHD_resume_connection(due[i]);
    pthread_mutex_lock(&d->mu);
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

delayer_t *delayer_new(void)
{
  delayer_t *d = calloc(1, sizeof *d);
  pthread_condattr_t ca;
  if (d == NULL)
    return NULL;
  if (pthread_condattr_init(&ca) != 0)
    goto fail;
  if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&d->cv, &ca) != 0) {
    pthread_condattr_destroy(&ca);
    goto fail;
  }
  pthread_condattr_destroy(&ca);
  if (pthread_mutex_init(&d->mu, NULL) != 0) {
    pthread_cond_destroy(&d->cv);
    goto fail;
  }
  if (pthread_create(&d->thread, NULL, run, d) != 0) {
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    goto fail;
  }
  d->started = true;
  return d;
fail:
  free(d);
  return NULL;
}

int delayer_suspend_until(delayer_t *d, struct MHD_Connection *c,
                          uint64_t due_ns)
{
  pthread_mutex_lock(&d->mu);
  if (d->stopping) {
    pthread_mutex_unlock(&d->mu);
    return -1;
  }
  if (d->n == d->cap) {
    size_t ncap = d->cap ? d->cap * 2 : 256;
    due_t *nh = realloc(d->heap, ncap * sizeof *nh);
    if (nh == NULL) {
      pthread_mutex_unlock(&d->mu);
      return -1;
    }
    d->heap = nh;
    d->cap = ncap;
  }
  /* Suspend before the timer can see it: resuming a connection that is not
   * suspended is undefined. */
  MHD_suspend_connection(c);
  d->heap[d->n].due_ns = due_ns;
  d->heap[d->n].conn = c;
  sift_up(d->heap, d->n++);
  if (d->heap[0].conn == c)
    pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
  return 0;
}

void delayer_stop(delayer_t *d)
{
  if (d == NULL || !d->started)
    return;
  pthread_mutex_lock(&d->mu);
  d->stopping = true;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  d->started = false;
  /* Nothing is added any more: resume what is left, without the lock. */
  pthread_mutex_lock(&d->mu);
  due_t *left = d->heap;
  size_t n = d->n;
  d->heap = NULL;
  d->n = d->cap = 0;
  pthread_mutex_unlock(&d->mu);
  for (size_t i = 0; i < n; i++)
    MHD_resume_connection(left[i].conn);
  free(left);
}

void delayer_free(delayer_t *d)
{
  if (d == NULL)
    return;
  delayer_stop(d);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
  free(d->heap);
  free(d);
}
