/* SPDX-License-Identifier: MIT */
/* clock.c - the real clock: CLOCK_MONOTONIC for scheduling, CLOCK_REALTIME
 * only for HTTP dates, and condition waits on the monotonic clock so that a
 * change of the system time never stretches or cuts a wait. */
#include "clock.h"
#include <errno.h>
#include <pacer/pacer.h>
#include <time.h>

static int64_t read_clock(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * PACER__NS_PER_S + ts.tv_nsec;
}

static int64_t real_now(void *ctx)
{
  (void)ctx;
  return read_clock(CLOCK_MONOTONIC);
}

static int64_t real_wall(void *ctx)
{
  (void)ctx;
  return read_clock(CLOCK_REALTIME);
}

static void real_wait(void *ctx, pthread_cond_t *cond, pthread_mutex_t *mutex,
                      int64_t deadline)
{
  (void)ctx;
  if (deadline == INT64_MAX) {
    pthread_cond_wait(cond, mutex);
    return;
  }
  if (deadline < 0)
    deadline = 0;
  struct timespec ts = {.tv_sec = (time_t)(deadline / PACER__NS_PER_S),
                        .tv_nsec = (long)(deadline % PACER__NS_PER_S)};
  pthread_cond_timedwait(cond, mutex, &ts);
}

const pacer__clock_t pacer__clock_real = {real_now, real_wall, real_wait, NULL};

int pacer__cond_init(pthread_cond_t *cond)
{
  pthread_condattr_t a;
  if (pthread_condattr_init(&a))
    return PACER_ESYSTEM;
  int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(cond, &a);
  pthread_condattr_destroy(&a);
  return rc ? PACER_ESYSTEM : 0;
}
