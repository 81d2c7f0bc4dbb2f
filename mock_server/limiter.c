/* SPDX-License-Identifier: MIT */
/* limiter.c - pacer-mock's server-side token bucket, in exact integers.
 *
 * One token is 1e12 units, so one nanosecond at rate_milli tokens per 1000 s
 * adds exactly rate_milli units: no rounding ever accumulates, and a client
 * that keeps to the same rate and burst is never called over. Invariants:
 * 0 <= level <= cap; cap = burst * 1e12 <= 1e18; rate_milli <= 1e9. The
 * caller serialises access (score.c holds its lock). */
#include "mock.h"

#include <math.h>

#define UNIT UINT64_C(1000000000000) /* one token */

void bucket_init(mock_bucket_t *b, double rate, double burst, uint64_t now_ns)
{
  b->rate_milli = (uint64_t)llround(rate * 1000.0);
  if (b->rate_milli == 0)
    b->rate_milli = 1;
  b->cap = (uint64_t)llround(burst * 1e12);
  if (b->cap < UNIT)
    b->cap = UNIT;
  b->level = b->cap;
  b->last_ns = now_ns;
}

static void refill(mock_bucket_t *b, uint64_t now_ns)
{
  if (now_ns <= b->last_ns)
    return;
  uint64_t dt = now_ns - b->last_ns;
  uint64_t room = b->cap - b->level;
  /* dt * rate_milli >= room, without overflowing the product. */
  if (dt >= room / b->rate_milli + 1)
    b->level = b->cap;
  else
    b->level += dt * b->rate_milli;
  if (b->level > b->cap)
    b->level = b->cap;
  b->last_ns = now_ns;
}

bool bucket_take(mock_bucket_t *b, uint64_t now_ns)
{
  refill(b, now_ns);
  if (b->level < UNIT)
    return false;
  b->level -= UNIT;
  return true;
}

bool bucket_ready(mock_bucket_t *b, uint64_t now_ns)
{
  refill(b, now_ns);
  return b->level >= UNIT;
}

uint64_t bucket_remaining(const mock_bucket_t *b)
{
  return b->level / UNIT;
}

uint64_t bucket_secs_to_full(const mock_bucket_t *b)
{
  uint64_t room = b->cap - b->level;
  /* ns = ceil(room / rate_milli); seconds = ceil(ns / 1e9). */
  uint64_t ns = room / b->rate_milli + (room % b->rate_milli != 0);
  return ns / MOCK_NS_PER_S + (ns % MOCK_NS_PER_S != 0);
}
