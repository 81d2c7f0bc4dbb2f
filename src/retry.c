/* SPDX-License-Identifier: MIT */
/* retry.c - what may be retried, and how long to wait before a retry.
 *
 * Invariants: an rng's state is never 0 (xorshift would stay at 0 forever);
 * every delay is in [0, max_ns] and no intermediate value overflows, however
 * large the retry number. */
#include "retry.h"
#include <pacer/pacer.h>
#include <string.h>

/* Any fixed non-zero value will do; this one is 2^64 / golden ratio. */
#define RNG_FALLBACK UINT64_C(0x9E3779B97F4A7C15)

void pacer__retry_set_init(pacer__retry_set_t *set, const int *statuses,
                           size_t n)
{
  static const int dflt[] = PACER__RETRY_DEFAULT;

  memset(set, 0, sizeof *set);
  if (n == 0 || !statuses) {
    statuses = dflt;
    n = sizeof dflt / sizeof dflt[0];
  }
  for (size_t i = 0; i < n; i++)
    if (statuses[i] >= 0 && statuses[i] < 640)
      set->bits[statuses[i] / 64] |= UINT64_C(1) << (statuses[i] % 64);
}

int pacer__retryable_in(const pacer__retry_set_t *set, int error, int status)
{
  if (error == PACER_ETRANSPORT || error == PACER_ETIMEDOUT)
    return 1;
  if (error != 0) /* PACER_EDENIED too: the address will not change */
    return 0;
  if (status < 0 || status >= 640)
    return 0;
  return (set->bits[status / 64] >> (status % 64)) & 1;
}

int pacer__retryable(int error, int status)
{
  pacer__retry_set_t dflt;

  pacer__retry_set_init(&dflt, NULL, 0);
  return pacer__retryable_in(&dflt, error, status);
}

pacer__outcome_kind_t pacer__breaker_outcome(int error, int status)
{
  switch (error) {
  case 0:
    return status >= 500 && status <= 599 ? PACER__OUTCOME_FAILURE
                                          : PACER__OUTCOME_SUCCESS;
  case PACER_ETRANSPORT:
  case PACER_ETIMEDOUT:
  case PACER_ETLS: /* a failed handshake is the host's failure */
    return PACER__OUTCOME_FAILURE;
  case PACER_EDENIED: /* our own refusal; the host was never asked */
  default:
    return PACER__OUTCOME_IGNORE;
  }
}

void pacer__rng_seed(pacer__rng_t *r, uint64_t seed)
{
  /* One splitmix64 step spreads small, similar seeds (1, 2, 3...) over the
   * whole state, so their sequences do not start out alike. It is a
   * bijection, so exactly one seed lands on 0 and takes the fallback. */
  uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);

  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  r->s = z != 0 ? z : RNG_FALLBACK;
}

uint64_t pacer__rng_next(pacer__rng_t *r)
{
  uint64_t x = r->s;

  /* A state of 0 can only come from memory nobody seeded. */
  if (x == 0)
    x = RNG_FALLBACK;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}

int64_t pacer__rng_upto(pacer__rng_t *r, int64_t n)
{
  uint64_t range, limit, x;

  if (n <= 0)
    return 0;
  /* n + 1 <= 2^63 fits in a uint64_t. */
  range = (uint64_t)n + 1;
  /* Values below limit = 2^64 mod range would make the low residues more
   * likely; redraw them. At most half the draws are redrawn (range <= 2^63),
   * so this ends quickly. */
  limit = (0 - range) % range;
  do {
    x = pacer__rng_next(r);
  } while (x < limit);
  return (int64_t)(x % range);
}

int64_t pacer__backoff_ns(pacer__rng_t *r, unsigned retry, int64_t base_ns,
                          int64_t max_ns)
{
  unsigned shift;
  int64_t cap;

  if (base_ns <= 0 || max_ns <= 0)
    return 0;
  shift = retry > 0 ? retry - 1 : 0;
  /* base << shift > max exactly when base > max >> shift; asking it this way
   * round never shifts a bit out. */
  if (shift >= 63 || base_ns > (max_ns >> shift))
    cap = max_ns;
  else
    cap = base_ns << shift;
  return pacer__rng_upto(r, cap);
}
