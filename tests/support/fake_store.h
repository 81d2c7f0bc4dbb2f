/* SPDX-License-Identifier: MIT */
/* fake_store.h - a deterministic shared-limit store for unit tests: real
 * GCRA buckets by name (limiter.c) at the caller's now, counted takes, and
 * answers the test forces (a wait, PENDING) for one bucket or all.
 * Not thread-safe: the scheduler calls it under one lock, tests on one
 * thread. */
#ifndef PACER_FAKE_STORE_H
#define PACER_FAKE_STORE_H

#include "limiter.h"
#include "shared.h"
#include <stddef.h>
#include <stdint.h>

#define FAKE_STORE_MAX 16

typedef struct fake_bucket {
  char name[256];
  int used;
  int have_bucket;        /* set up at the first take */
  pacer__bucket_t bucket; /* at the rate and burst of the latest take */
  double rate;            /* of the latest take */
  int64_t burst;
  uint64_t takes, grants;
  int64_t force; /* 0: the bucket answers; else this answer */
  int64_t paused_until;
  double learned_rate; /* the latest learn() */
  int64_t learned_until;
  double next_rate; /* ... and its next window (0: none) */
  int64_t next_until;
  int learn_pending; /* 1: learned() answers PACER__SHARED_PENDING */
} fake_bucket_t;

typedef struct fake_store {
  fake_bucket_t b[FAKE_STORE_MAX];
  int64_t force_all; /* 0: per bucket; else every take answers this */
  uint64_t takes, pauses, learns;
} fake_store_t;

void fake_store_init(fake_store_t *fs);
/* The ops the scheduler calls, with fs as ctx. */
void fake_store_ops(fake_store_t *fs, pacer__store_ops_t *ops);
/* The bucket name (created empty if new). */
fake_bucket_t *fake_store_bucket(fake_store_t *fs, const char *name);
/* Takes asked and granted of bucket name (0 if it was never asked). */
uint64_t fake_store_takes(fake_store_t *fs, const char *name);
uint64_t fake_store_grants(fake_store_t *fs, const char *name);

#endif
