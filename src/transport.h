/* SPDX-License-Identifier: MIT */
/* transport.h - how workers perform attempts: a small interface the engine
 * drives, implemented with libcurl (transport_curl.c) and by a fake in the
 * tests.
 *
 * Each worker thread opens its own instance and is the only thread that
 * calls start, abort, run and close on it; wakeup may be called from any
 * thread. An attempt reports its end exactly once, from run() on the worker
 * thread, by appending the job to `done` with job->resp filled: after a
 * normal end, a failure, an abort (resp->error PACER_ECANCELED) or its
 * timeout (PACER_ETIMEDOUT). */
#ifndef PACER_TRANSPORT_H
#define PACER_TRANSPORT_H

#include "job.h"
#include "list.h"
#include <pacer/pacer.h>
#include <stdint.h>

/* What an attempt may use, fixed for the dispatcher's life. */
typedef struct pacer__tx_opts {
  const pacer_config_t *cfg; /* the engine's copy; strings stay valid */
  void *share; /* what share_open() made, or NULL: what the dispatcher's
                  instances share (TLS sessions, DNS) */
} pacer__tx_opts_t;

typedef struct pacer__transport {
  /* Opens one worker's instance. Returns 0 or a PACER_E code. */
  int (*open)(void *ctx, const pacer__tx_opts_t *opts, void **inst);
  /* Aborts what is still running without reporting it, and frees. */
  void (*close)(void *inst);
  /* Begins an attempt of job (job->resp is fresh) that may last timeout_ns
   * (always > 0). On a failure to start, it still reports the end from the
   * next run(). */
  void (*start)(void *inst, pacer__job_t *job, int64_t timeout_ns);
  /* Ends an attempt begun on this instance; it is reported as PACER_ECANCELED
   * (unless it had already ended: it is then reported as it ended). */
  void (*abort)(void *inst, pacer__job_t *job);
  /* Performs transfers until at least one attempt ended, wakeup() was
   * called, or timeout_ns (INT64_MAX: none) passed; appends ended attempts
   * to *done. */
  void (*run)(void *inst, int64_t timeout_ns, pacer__link_t *done);
  /* Makes the current or next run() return soon. Any thread. */
  void (*wakeup)(void *inst);
  /* How many connections the instance may keep open, idle ones included,
   * in all (n) and to any one host (host_max; 0: no cap of its own); called
   * before the first start and when either changes. */
  void (*set_connections)(void *inst, unsigned n, unsigned host_max);
  /* Optional (NULL: nothing shared). Makes what a dispatcher's instances
   * share, before the first open(), with the engine's configuration;
   * returns 0 or a PACER_E code. share_close() frees it after every
   * instance is closed. Any thread, one call at a time. */
  int (*share_open)(void *ctx, const pacer_config_t *cfg, void **share);
  void (*share_close)(void *share);
  void *ctx;
} pacer__transport_t;

/* The libcurl transport. Its open() calls curl_global_init() the first time
 * it succeeds in the process (a failed one is tried again by the next open),
 * before the first worker starts. */
extern const pacer__transport_t pacer__transport_curl;

#endif
