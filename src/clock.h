/* SPDX-License-Identifier: MIT */
/* clock.h - the time source the dispatcher reads and waits on.
 *
 * Everything that depends on time asks a pacer__clock_t, so tests can drive
 * simulated time. `now` is monotonic nanoseconds (never goes back); `wall`
 * is real time, ns since the Unix epoch, used only to turn HTTP dates into
 * delays. `wait` blocks on cond (mutex held, as pthread_cond_wait) until it
 * is signalled or the clock reaches deadline (INT64_MAX: no deadline);
 * spurious returns are allowed, so callers re-check their condition. */
#ifndef PACER_CLOCK_H
#define PACER_CLOCK_H

#include <pthread.h>
#include <stdint.h>

typedef struct pacer__clock {
  int64_t (*now)(void *ctx);
  int64_t (*wall)(void *ctx);
  void (*wait)(void *ctx, pthread_cond_t *cond, pthread_mutex_t *mutex,
               int64_t deadline);
  void *ctx;
} pacer__clock_t;

/* CLOCK_MONOTONIC and CLOCK_REALTIME; waits with pthread_cond_timedwait on
 * conditions made by pacer__cond_init(). */
extern const pacer__clock_t pacer__clock_real;

/* A condition variable whose timed waits use CLOCK_MONOTONIC. Returns 0 or
 * PACER_ESYSTEM. */
int pacer__cond_init(pthread_cond_t *cond);

#define PACER__NS_PER_MS INT64_C(1000000)
#define PACER__NS_PER_S INT64_C(1000000000)

/* a + b for times, saturating at INT64_MAX (a, b >= 0 or a + b in range). */
static inline int64_t pacer__time_add(int64_t a, int64_t b)
{
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  return a + b;
}
/* ms to ns, saturating. */
static inline int64_t pacer__ms_to_ns(int64_t ms)
{
  if (ms > INT64_MAX / PACER__NS_PER_MS)
    return INT64_MAX;
  return ms * PACER__NS_PER_MS;
}

#endif
