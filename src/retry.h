/* SPDX-License-Identifier: MIT */
/* retry.h - what may be retried, and how long to wait before a retry.
 *
 * Pure functions; the caller supplies the random state. */
#ifndef PACER_RETRY_H
#define PACER_RETRY_H

#include "breaker.h"
#include <stddef.h>
#include <stdint.h>

/* The HTTP statuses that may be retried (pacer_config_t.retry_statuses),
 * one bit each for 0..639; a plain value, copied as the scheduler's
 * settings are. */
#define PACER__RETRY_DEFAULT                                                   \
  {                                                                            \
    408, 429, 500, 502, 503, 504                                               \
  }
typedef struct pacer__retry_set {
  uint64_t bits[10];
} pacer__retry_set_t;

/* Fills *set with the n statuses (each 100..599, checked by the caller);
 * n 0: the default set, 408, 429, 500, 502, 503 and 504. Can't fail. */
void pacer__retry_set_init(pacer__retry_set_t *set, const int *statuses,
                           size_t n);

/* 1 if an attempt that ended with error (a PACER_E code, 0 for an HTTP
 * response) and status may be retried under set: transport errors,
 * timeouts, and the statuses in set. Too large, cancelled, TLS and scheme
 * errors are final. */
int pacer__retryable_in(const pacer__retry_set_t *set, int error, int status);

/* pacer__retryable_in() with the default set. */
int pacer__retryable(int error, int status);

/* What an attempt that ended with error and status says about its host, for
 * the circuit breaker. FAILURE: transport errors, timeouts, TLS errors and
 * 5xx. SUCCESS: any other HTTP response (429 says "slow down", not
 * "broken"). IGNORE: everything that is not the host's doing or judges
 * nothing: cancelled, deadline, too large (the host answered; the cap is
 * ours), and local errors such as PACER_ENOMEM. The caller also ignores a
 * timeout that the job's own deadline cut short. */
pacer__outcome_kind_t pacer__breaker_outcome(int error, int status);

/* xorshift64* state; never 0. */
typedef struct pacer__rng {
  uint64_t s;
} pacer__rng_t;
void pacer__rng_seed(pacer__rng_t *r, uint64_t seed);
uint64_t pacer__rng_next(pacer__rng_t *r);
/* Uniform in [0, n]; n >= 0. */
int64_t pacer__rng_upto(pacer__rng_t *r, int64_t n);

/* Full-jitter exponential backoff before retry number `retry` (1 for the
 * first retry): uniform in [0, min(max_ns, base_ns x 2^(retry-1))].
 * Never overflows. */
int64_t pacer__backoff_ns(pacer__rng_t *r, unsigned retry, int64_t base_ns,
                          int64_t max_ns);

#endif
