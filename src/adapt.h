/* SPDX-License-Identifier: MIT */
/* adapt.h - a key's rate, adapted to what its server says: the quota it
 * announces (RateLimit, X-RateLimit-*), and its refusals (429, 503) when it
 * announces nothing (AIMD).
 *
 * Pure: every function is of (state, settings, event, now), with the random
 * draw for jitter passed in; no clock, no allocation, no lock (the scheduler
 * holds its own). The module only decides; the scheduler applies what it
 * decides to the key's bucket and pause, and with a shared limit writes
 * what the fleet must obey (an announced rate and its end, a pause) to the
 * store (scheduler.h).
 *
 * Invariants: reason NONE leaves the key on its configured limits (rate and
 * until_ns mean nothing); otherwise 0 < rate <= PACER__RATE_MAX and rate is
 * never above a configured rate (base > 0); ANNOUNCED ends at until_ns.
 * The policy is described in docs/DESIGN.md, "Following the limits a server
 * announces". */
#ifndef PACER_ADAPT_H
#define PACER_ADAPT_H

#include "ratehdr.h"
#include <stdint.h>

/* Why a key's rate is not its configured one (pacer_adapt_reason_t). */
enum {
  PACER__ADAPT_NONE = 0,
  PACER__ADAPT_ANNOUNCED = 1, /* spreading an announced quota */
  PACER__ADAPT_AIMD = 2       /* after a 429 or 503 with no guidance */
};

/* AIMD: a refusal multiplies the rate by this. Not a half: against a
 * server that keeps no burst in hand, halving holds a sawtooth between half
 * its limit and all of it, about 75% on average; 0.75 holds about 87%, for
 * a refusal or so more per cycle (docs/DESIGN.md, "AIMD"). */
#define PACER__ADAPT_DECREASE 0.75
/* AIMD: each second of success adds this share of the rate the last cut
 * was made from (the rate the server refused), at least the floor: back to
 * that rate in 2.5 s. */
#define PACER__ADAPT_STEP_SHARE 0.1
/* AIMD on a key with no configured rate: it is unadapted once its rate has
 * been at least PACER__ADAPT_SLACK times what it started per second for
 * PACER__ADAPT_SLACK_NS. */
#define PACER__ADAPT_SLACK 2.0
#define PACER__ADAPT_SLACK_NS (INT64_C(5) * 1000000000)
/* A pause to an announced reset is lengthened by up to this share of the
 * time to the reset, at most PACER__ADAPT_JITTER_MAX_NS, so processes and
 * keys do not all come back in the same instant. */
#define PACER__ADAPT_JITTER_SHARE 0.1
#define PACER__ADAPT_JITTER_MAX_NS (INT64_C(1000) * 1000000)
/* Resets are announced in whole seconds, rounded up: a window announced
 * to reset in T s ends within the second before. Successive announcements
 * of one window narrow down where it ends (pacer__adapt_t.reset_lo_ns). */
#define PACER__ADAPT_RESET_RES_NS (INT64_C(1000) * 1000000)

typedef struct pacer__adapt_cfg {
  int announced;        /* 1: follow announced quotas */
  int aimd;             /* 1: AIMD on refusals with no guidance */
  double min_rate;      /* the floor, tokens/s, > 0 */
  int64_t pause_max_ns; /* a pause to the reset is cut to this (>= 0) */
} pacer__adapt_cfg_t;

typedef struct pacer__adapt {
  int reason;       /* PACER__ADAPT_* */
  double rate;      /* tokens/s while reason != NONE */
  int64_t until_ns; /* ANNOUNCED: the reset, where the adaptation ends */
  /* ANNOUNCED: the window ends in (reset_lo_ns, reset_hi_ns], as narrowed
   * by the announcements of this window so far; until_ns is reset_hi_ns. */
  int64_t reset_lo_ns, reset_hi_ns;
  /* The quota's window: as announced (IETF w=), else the longest reset
   * seen; 0 unknown. Kept across adaptations. */
  int64_t window_ns;
  /* ANNOUNCED: the pace of the next window, assumed like this one (its
   * limit over its window, bounded as any rate); 0: none known, the key
   * goes back to its configured limits at the reset. */
  double next_rate;
  int rolled; /* 1: in that assumed window, no answer of it yet */
  /* AIMD */
  int64_t cut_ns;    /* the last cut; refusals of attempts started before it
                        were sent at the old rate and cut nothing more */
  int64_t raised_ns; /* since when success has raised the rate */
  double step;       /* tokens/s added per second of success: a share of
                        the rate the last cut was made from */
  double ceiling;    /* where the rate stops rising: the configured rate, or
                        0 (none: see PACER__ADAPT_SLACK) */
  int64_t slack_ns;  /* since when the rate has been slack; 0: it is not */
  /* Starts per second, a sliding estimate over two one-second slots. */
  int64_t slot_ns; /* start of the current slot; 0: no start yet */
  uint32_t slot_n, prev_n;
} pacer__adapt_t;

/* How an attempt ended, as adaptation needs it. */
typedef struct pacer__adapt_event {
  int error;                     /* 0: an HTTP response; else no event */
  int status;                    /* its status */
  int retry_after;               /* 1: a Retry-After pause was honoured */
  const pacer__ratehdr_t *quota; /* the announced quota; NULL: none */
  int64_t attempt_start_ns;
} pacer__adapt_event_t;

/* A key's attempt started at now. */
void pacer__adapt_started(pacer__adapt_t *a, int64_t now);

/* Starts per second at now, estimated over the last second or two. */
double pacer__adapt_observed(const pacer__adapt_t *a, int64_t now);

/* At now, past the end of an ANNOUNCED adaptation's window: the key goes
 * on into the next window at next_rate, assumed like the last until an
 * answer of it says otherwise (so the jobs held by a pause do not all
 * start at once when it ends), or, when no pace is known, when that
 * assumed window also ended unconfirmed, or when the key comes back after
 * it, back to its configured limits. Returns 1 when the key's rate changed
 * (apply pacer__adapt_rate()), else 0. */
int pacer__adapt_expire(pacer__adapt_t *a, int64_t now);

/* Follows one ended attempt of a key whose configured rate is base (0: none)
 * at now. rnd is a uniform random draw for jitter. Returns 1 when the key's
 * rate changed (apply pacer__adapt_rate()), else 0; *pause_until is set
 * above now when the key must pause until then (remaining quota 0), else
 * left alone. This function can't fail. */
int pacer__adapt_end(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg,
                     double base, const pacer__adapt_event_t *ev, int64_t now,
                     uint64_t rnd, int64_t *pause_until);

/* The rate the key is held to: the adapted one, or base when not adapted
 * (0 then means no limit). */
static inline double pacer__adapt_rate(const pacer__adapt_t *a, double base)
{
  return a->reason != PACER__ADAPT_NONE ? a->rate : base;
}

/* Until when an idle key's adaptation is worth remembering (<= now:
 * nothing): the reset of an announced quota; for AIMD, when success would
 * have raised the rate back to its ceiling (INT64_MAX with none). */
int64_t pacer__adapt_keep_until(const pacer__adapt_t *a);

/* "none", "announced" or "aimd", for log lines and JSON. */
const char *pacer__adapt_reason_name(int reason);

#endif
