/* SPDX-License-Identifier: MIT */
/* retry.h - what may be retried, and how long to wait before a retry.
 *
 * Pure functions; the caller supplies the random state. */
#ifndef PACER_RETRY_H
#define PACER_RETRY_H

#include "breaker.h"
#include <stdint.h>

/* 1 if an attempt that ended with error (a PACER_E code, 0 for an HTTP
 * response) and status may be retried: transport errors, timeouts, and the
 * statuses 408, 429, 500, 502, 503, 504. Too large, cancelled, TLS and scheme
 * errors are final. */
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
