/* SPDX-License-Identifier: MIT */
/* fake_clock.h - simulated time for tests: now() only moves when the test
 * says, and a wait with a deadline returns only once simulated time reaches
 * it (or on a signal), so no test sleeps and every outcome is repeatable. */
#ifndef PACER_FAKE_CLOCK_H
#define PACER_FAKE_CLOCK_H

#include "clock.h"
#include <pthread.h>
#include <stdint.h>

typedef struct fake_waiter {
  pthread_cond_t *cond;
  pthread_mutex_t *mutex;
  struct fake_waiter *next;
} fake_waiter_t;

typedef struct fake_clock {
  pthread_mutex_t mu;
  int64_t now;  /* monotonic ns */
  int64_t wall; /* ns since the epoch at now == 0 */
  fake_waiter_t *waiters;
} fake_clock_t;

void fake_clock_init(fake_clock_t *c, int64_t start_ns);
void fake_clock_destroy(fake_clock_t *c);
int64_t fake_clock_now(fake_clock_t *c);
/* Moves time forward by ns and wakes every waiter so it re-checks. */
void fake_clock_advance(fake_clock_t *c, int64_t ns);
pacer__clock_t fake_clock_iface(fake_clock_t *c);

#endif
