/* SPDX-License-Identifier: MIT */
/* limiter.h - exact token bucket (GCRA) with time as a parameter.
 *
 * The rate is held as a rational number, count tokens per period_ns, and the
 * theoretical arrival time (TAT) as whole nanoseconds plus a remainder in
 * units of 1/count ns, so admissions never drift: over any span the bucket
 * admits exactly burst + floor(rate x span) tokens when asked often enough.
 * "Full" means burst tokens may be taken at once. A new bucket is full. A take
 * in the same nanosecond as TAT counts as on time, so a caller that comes at
 * each token's rounded-up due time loses nothing; with burst 1 a caller that
 * comes later than that loses the delay, as any bucket of size 1 does.
 * Time only matters through max(TAT, now), so a clock that jumps forward by
 * years leaves a full bucket and cannot overflow; a clock that goes backwards
 * admits nothing new until it catches up.
 *
 * Not thread-safe: the caller serialises (the scheduler holds its lock). */
#ifndef PACER_LIMITER_H
#define PACER_LIMITER_H

#include <stdint.h>

typedef struct pacer__bucket {
  int unlimited;     /* rate 0: every check passes, nothing is tracked */
  int64_t count;     /* tokens ... */
  int64_t period_ns; /* ... per this many ns */
  int64_t q, r;    /* period_ns = q * count + r: one token is q + r/count ns */
  int64_t burst;   /* tokens */
  int64_t bq, br;  /* burst x token interval = bq + br/count ns */
  int64_t tat_ns;  /* TAT = tat_ns + tat_rem/count */
  int64_t tat_rem; /* 0 <= tat_rem < count */
} pacer__bucket_t;

/* Largest rate accepted (tokens per second); above it, use 0 (no limit). */
#define PACER__RATE_MAX 1e9

/* Checks a rate and burst as the public API takes them (burst already
 * resolved, >= 1). Returns 0 or PACER_ERATE: rate NaN, infinite, negative or
 * above PACER__RATE_MAX; burst 0; burst x token interval over 100 years. */
int pacer__rate_check(double rate, int64_t burst);

/* Sets up a full bucket. rate 0 means no limit. Returns 0 or PACER_ERATE. */
int pacer__bucket_init(pacer__bucket_t *b, double rate, int64_t burst);

/* Changes rate and burst, keeping how many tokens are available as far as
 * the new burst allows. Returns 0 or PACER_ERATE (b unchanged). */
int pacer__bucket_set(pacer__bucket_t *b, double rate, int64_t burst,
                      int64_t now);

/* 0 if one token can be taken at now, else the ns until it can (>= 1).
 * Changes nothing. */
int64_t pacer__bucket_wait(const pacer__bucket_t *b, int64_t now);

/* Takes one token at now. Precondition: pacer__bucket_wait(b, now) == 0. */
void pacer__bucket_take(pacer__bucket_t *b, int64_t now);

/* Check and take: returns 0 and takes a token, or the ns to wait. */
int64_t pacer__bucket_try(pacer__bucket_t *b, int64_t now);

/* 1 when burst tokens are available at now (the bucket is full). */
int pacer__bucket_full(const pacer__bucket_t *b, int64_t now);

/* The first time at which the bucket is full if nothing is taken:
 * INT64_MIN for an unlimited bucket. pacer__bucket_full(b, t) holds for
 * every t >= the result. */
int64_t pacer__bucket_full_at(const pacer__bucket_t *b);

#endif
