/* SPDX-License-Identifier: MIT */
/* sched_fixture.h - the scheduler on its own over time as a number: a
 * resolved config, a pacer__sched_t (seed 42), the jobs it ended, and the
 * moves every scheduler test makes (push, next, release, free), with hooks
 * for what a test changes: the config, the start time, the breaker and a
 * fake shared-limit store (fake_store.h). No threads, no sleeps. */
#ifndef PACER_SCHED_FIXTURE_H
#define PACER_SCHED_FIXTURE_H

#include "config.h"
#include "fake_store.h"
#include "job.h"
#include "scheduler.h"
#include <stddef.h>
#include <stdint.h>

/* Changes the config before it is resolved (after the fixture's defaults). */
typedef void (*sched_fx_tweak_fn)(pacer_config_t *c);
typedef void (*sched_fx_tweak_with_fn)(pacer_config_t *c, void *user);

typedef struct sched_fx_opts {
  sched_fx_tweak_fn tweak;           /* NULL: none */
  sched_fx_tweak_with_fn tweak_with; /* after tweak, with user; NULL: none */
  void *user;
  int64_t start_ns; /* the first now; 0: 1000 s */
  int breaker_off;  /* 1: breaker_enabled = 0 before the tweaks */
  int store;        /* 1: shared limits from a fake store, fs */
} sched_fx_opts_t;

typedef struct sched_fx {
  pacer_config_t cfg; /* resolved */
  pacer__sched_t s;
  fake_store_t fs; /* the store, with opts.store */
  int64_t now;     /* moves only when the test sets it */
  pacer__link_t ended;
  uint64_t ids; /* the last job id given */
} sched_fx_t;

/* A scheduler over a config with max_low_wait_ms 0 (no aging) and
 * concurrency 1000000, then o's changes (o NULL: none); fails the test if
 * the config does not resolve. Free with sched_fx_free(). */
sched_fx_t *sched_fx_open(const sched_fx_opts_t *o);
/* sched_fx_open() with only tweak (NULL: the defaults as they are). */
sched_fx_t *sched_fx_new(sched_fx_tweak_fn tweak);
/* Ends whatever is queued and frees the jobs that ended, the scheduler and
 * f. Jobs in flight are the test's to end first. */
void sched_fx_free(sched_fx_t *f);

/* Fills r for key: http://example.test/x, the rest the defaults. */
void sched_fx_request(pacer_request_t *r, const char *key);
/* Makes a job of r at now with the next id and pushes it (must succeed). */
pacer__job_t *sched_fx_push_req(sched_fx_t *f, pacer_request_t *r);
/* sched_fx_push_req() of sched_fx_request(key). */
pacer__job_t *sched_fx_push(sched_fx_t *f, const char *key);
/* Ticks, then the job that may start now, or NULL. */
pacer__job_t *sched_fx_next(sched_fx_t *f);
/* Ends j's attempt at now with status, a Retry-After (-1: none) and an
 * announced quota (NULL: none); releases and frees j if that ended it.
 * Returns the scheduler's decision (PACER__SCHED_END or _RETRY). */
int sched_fx_end(sched_fx_t *f, pacer__job_t *j, int status, int64_t ra,
                 const pacer__ratehdr_t *quota);
/* Releases an ended job at now and frees it. */
void sched_fx_release(sched_fx_t *f, pacer__job_t *j);
/* sched_fx_release() of every job in ended; returns how many. */
size_t sched_fx_free_ended(sched_fx_t *f);

#endif
