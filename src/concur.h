/* SPDX-License-Identifier: MIT */
/* concur.h - a key's concurrency limit adapted to its latency (opt-in):
 * raised while latency stays near its minimum, lowered when it climbs
 * (requests queueing at the server), within [min, max].
 *
 * Pure: every function is of (state, settings, sample, now); no clock, no
 * allocation, no lock (the scheduler holds its own). The module decides the
 * cap; the scheduler's key gate applies it.
 *
 * Algorithm (docs/DESIGN.md, "Concurrency by latency"): a gradient limit
 * with a Vegas queue target, measured in windows. Latency samples are
 * gathered into windows of a cap's worth of attempts (at most 64), each
 * started after the cap last changed, so that a window measures the cap in
 * force, its slow answers as well as its fast ones. At the end of a window
 * of mean RTT r, with min_rtt the lowest window mean seen:
 *
 *   g = clamp(min_rtt / r, 0.5, 1)         the gradient
 *   queued = limit * (1 - g)               Vegas's estimate of the
 *                                          requests waiting at the server
 *   if queued < 0.5: limit = limit * 1.5   nothing waits: grow fast
 *   else: target = limit * g + sqrt(limit)
 *         limit = limit + (target - limit) / 2
 *
 * limit * g is what the server gets through per min_rtt (its throughput
 * times its unloaded latency, Little's law), so the limit settles sqrt(limit)
 * above the concurrency the server serves at once: for a server that
 * serves K at once and queues the rest, at C = K + sqrt(C) (about 20.6 for
 * K = 16), where latency is C / K times the unloaded one (1.29). The queue
 * target grows as the square root of the limit, as Netflix's gradient2
 * does, so that the noise of large windows does not hold a large limit
 * down. The limit is not raised while the key used less than half of it
 * (the samples say nothing of more), and a window takes at most a quarter
 * off it (g >= 0.5), so one latency spike cannot collapse it.
 *
 * min_rtt only falls by itself. So that a server whose unloaded latency
 * rose is not taken for a queueing one forever, every PACER__CONCUR_PROBE_NS
 * the cap drops to half the limit (at least min) for one window, and that
 * window's mean becomes min_rtt: below the server's capacity, nothing
 * queues, so it is the unloaded latency as it is now.
 *
 * What feeds it (pacer__concur_kind()): an HTTP response from the job's
 * own origin with a status below 500 other than 429 is a sample; a timeout
 * of the attempt (not its job's deadline) halves the limit, once for the
 * attempts started before the cut; everything else (refusals and 5xx,
 * which may be answered at once without the work, or after the server's
 * own timeout; answers through a cross-origin redirect, which timed two
 * servers; transport errors; cancels) is ignored.
 *
 * Invariants: with cfg->max > 0, 1 <= cfg->min <= cfg->max; limit is 0
 * (nothing measured yet: the cap is min) or in [min, max]; the cap
 * returned is always in [min, max]. */
#ifndef PACER_CONCUR_H
#define PACER_CONCUR_H

#include <stdint.h>

/* The limit's growth per window while nothing queues: while Vegas's
 * estimate of the requests waiting at the server is below IDLE. */
#define PACER__CONCUR_GROW 1.5
#define PACER__CONCUR_IDLE 0.5
/* Share of the way to the target each window goes. */
#define PACER__CONCUR_SMOOTH 0.5
/* Lowest gradient of one window. */
#define PACER__CONCUR_GRADIENT_MIN 0.5
/* A timeout multiplies the limit by this. */
#define PACER__CONCUR_TIMEOUT_CUT 0.5
/* Windows hold a cap's worth of samples, at most this many. */
#define PACER__CONCUR_WINDOW_MAX 64u
/* How often min_rtt is measured afresh. */
#define PACER__CONCUR_PROBE_NS (INT64_C(10) * 1000000000)

/* The highest max. */
#define PACER__CONCUR_MAX 1000000u

typedef struct pacer__concur_cfg {
  unsigned min, max; /* max 0: off */
} pacer__concur_cfg_t;

/* 0 when min and max are settings: both 0 (off), or
 * 1 <= min <= max <= PACER__CONCUR_MAX; else -1. */
int pacer__concur_cfg_check(unsigned min, unsigned max);

typedef struct pacer__concur {
  double limit;       /* 0: none yet (min) */
  unsigned cap;       /* the cap in force; 0: none yet (min) */
  int probing;        /* 1: the cap is the probe's, until its window ends */
  int64_t min_rtt;    /* ns, the lowest window mean; 0: none yet */
  int64_t rtt;        /* ns, the last window's mean; 0: none yet */
  int64_t changed_ns; /* the cap's last change: older starts are dropped */
  int64_t cut_ns;     /* the last timeout cut: older starts cut no more */
  int64_t probe_ns;   /* when the next probe starts; 0: not yet set */
  /* The window being filled. */
  int64_t win_sum; /* ns */
  uint32_t win_n;
  uint32_t win_inflight; /* most in flight at one of its ends */
} pacer__concur_t;

/* What an ended attempt is to the limit. */
enum {
  PACER__CONCUR_IGNORE = 0,
  PACER__CONCUR_SAMPLE = 1, /* its latency is a sample */
  PACER__CONCUR_TIMEOUT = 2 /* it timed out: cut */
};

/* The kind of an attempt that ended with error (0: an HTTP response of
 * status) from the job's own origin (other_origin 0) or not; timed_out is 1
 * when error is a timeout of the attempt itself (not its job's deadline). */
int pacer__concur_kind(int error, int status, int other_origin, int timed_out);

/* The cap in force, in [cfg->min, cfg->max]. */
unsigned pacer__concur_cap(const pacer__concur_t *c,
                           const pacer__concur_cfg_t *cfg);

/* Follows one attempt of kind (PACER__CONCUR_*) started at start_ns and
 * ended at now, with inflight attempts of the key in flight when it ended
 * (itself included). Returns the cap in force after it. Zeroed state is a
 * valid start. This function can't fail. */
unsigned pacer__concur_end(pacer__concur_t *c, const pacer__concur_cfg_t *cfg,
                           int kind, int64_t start_ns, unsigned inflight,
                           int64_t now);

#endif
