/* SPDX-License-Identifier: MIT */
/* retry.h - what may be retried, and how long to wait before a retry.
 *
 * Pure functions; the caller supplies the random state. */
#ifndef PACER_RETRY_H
#define PACER_RETRY_H

#include <stdint.h>

/* 1 if an attempt that ended with error (a PACER_E code, 0 for an HTTP
 * response) and status may be retried: transport errors, timeouts, and the
 * statuses 408, 429, 500, 502, 503, 504. Too large, cancelled, TLS and scheme
 * errors are final. */
int pacer__retryable(int error, int status);

/* 1 if the outcome counts as a failure for the circuit breaker: transport
 * errors, timeouts and 5xx. 429 and other 4xx are not failures. */
int pacer__breaker_failure(int error, int status);

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
