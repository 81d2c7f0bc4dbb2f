/* SPDX-License-Identifier: MIT */
/* breaker.h - circuit breaker for one key, with time as a parameter.
 *
 * CLOSED: calls pass; the last `window` outcomes are kept, and once at least
 * `min_calls` are known and failures/known >= threshold, it opens.
 * OPEN: no call passes until `cooldown_ns` after opening; then HALF_OPEN.
 * HALF_OPEN: exactly `probes` calls pass, at most PACER__PROBES_OUT_MAX of
 * them out at once; when all of them succeed it closes (with an empty
 * window); the first failure, or a probe with no outcome `probe_timeout_ns`
 * after that probe was admitted, opens it again. Each probe has a deadline
 * of its own: the caller hands back the admission time with the outcome.
 *
 * Slow calls (cfg.slow_ns > 0), as Resilience4j counts them: a call whose
 * outcome (success or failure) comes more than slow_ns after its admission
 * is slow. CLOSED keeps a second ring of the same outcomes, 1 = slow, and
 * also opens once at least min_calls are known and slows/known >=
 * slow_threshold. A slow success stays a success (the failure ring does
 * not see it). In HALF_OPEN a slow probe counts as failed: it opens the
 * breaker again. pacer__breaker_last_trip() says what opened it last.
 *
 * Every admitted call gets a ticket; an outcome whose ticket predates the
 * last state change is ignored (a slow call admitted while CLOSED cannot
 * close a breaker that has opened since). Time moves it only forward
 * (OPEN -> HALF_OPEN, HALF_OPEN -> OPEN on probe timeout), and only when it is
 * asked (allow/state).
 *
 * Not thread-safe: the caller serialises. */
#ifndef PACER_BREAKER_H
#define PACER_BREAKER_H

#include <pacer/pacer.h>
#include <stdint.h>

typedef struct pacer__breaker_cfg {
  unsigned window;    /* 1..1024 */
  unsigned min_calls; /* 1..window */
  double threshold;   /* (0, 1] */
  int64_t cooldown_ns;
  unsigned probes; /* >= 1 */
  int64_t probe_timeout_ns;
  int64_t slow_ns;       /* a call longer than this is slow; 0: off */
  double slow_threshold; /* (0, 1] when slow_ns > 0: slow ratio that opens */
} pacer__breaker_cfg_t;

typedef enum pacer__outcome_kind {
  PACER__OUTCOME_SUCCESS = 0,
  PACER__OUTCOME_FAILURE = 1,
  PACER__OUTCOME_IGNORE = 2 /* e.g. cancelled: frees a probe, judges nothing */
} pacer__outcome_kind_t;

/* Probes out at once, each with its own deadline kept inline (a breaker
 * lives in every key, so it stays small). More probes than this are admitted
 * as earlier ones are judged. */
#define PACER__PROBES_OUT_MAX 4

/* What opened a breaker (pacer__breaker_trip_t.why), or-ed. */
enum {
  PACER__TRIP_FAILURES = 1, /* failure ratio reached breaker_threshold, or
                               (with PROBE) a probe failed */
  PACER__TRIP_SLOW = 2,     /* slow ratio reached slow_threshold, or (with
                               PROBE) a probe was slow */
  PACER__TRIP_PROBE = 4,    /* it opened again from HALF_OPEN */
  PACER__TRIP_TIMEOUT = 8   /* (with PROBE) a probe had no outcome by its
                               deadline */
};

/* The last time a breaker opened. While CLOSED, the ratios are those of
 * its window when it tripped (calls outcomes); from HALF_OPEN, those of the
 * probes judged in that HALF_OPEN, the one that opened it included. */
typedef struct pacer__breaker_trip {
  unsigned why;         /* PACER__TRIP_*; 0: it never opened */
  unsigned calls;       /* outcomes the ratios are of */
  double failure_ratio; /* failures / calls */
  double slow_ratio;    /* slow calls / calls */
  int64_t at_ns;        /* when it opened */
} pacer__breaker_trip_t;

typedef struct pacer__breaker {
  const pacer__breaker_cfg_t *cfg; /* borrowed; outlives the breaker */
  pacer_breaker_state_t state;
  uint32_t gen;         /* bumped at every state change */
  uint64_t bits[16];    /* window ring: 1 = failure */
  uint64_t slow[16];    /* the same outcomes: 1 = slow */
  unsigned pos;         /* next slot in the ring */
  unsigned known;       /* outcomes in the ring (<= window) */
  unsigned failures;    /* ones in bits */
  unsigned slows;       /* ones in slow */
  int64_t open_until;   /* OPEN: when HALF_OPEN begins */
  unsigned probes_out;  /* HALF_OPEN: admitted and not yet judged */
  unsigned probes_left; /* HALF_OPEN: may still be admitted */
  unsigned probes_ok;   /* HALF_OPEN: succeeded */
  unsigned probes_need; /* HALF_OPEN: the cfg's probes when it half-opened
                           (a changed setting applies from the next
                           half-open) */
  int64_t probe_at[PACER__PROBES_OUT_MAX]; /* HALF_OPEN: admission times
                                              of the probes out, oldest
                                              first */
  uint64_t opened;                         /* times it opened */
  pacer__breaker_trip_t last_trip;         /* why it last opened */
} pacer__breaker_t;

/* Validates a configuration. Returns 0 or PACER_EINVAL. */
int pacer__breaker_cfg_check(const pacer__breaker_cfg_t *cfg);

/* A CLOSED breaker with an empty window. cfg is borrowed. */
void pacer__breaker_init(pacer__breaker_t *b, const pacer__breaker_cfg_t *cfg);

/* The name of a breaker state in the JSON stats and events: "closed",
 * "open", "half_open"; "unknown" for a value no state has. Static storage. */
const char *pacer__breaker_state_name(int state);

/* May one call start at now? 1: yes (then call pacer__breaker_admit()
 * before anything else changes it). 0: no, and *retry_at tells when asking
 * again can change the answer (INT64_MAX: only when an admitted call's
 * outcome arrives). May move OPEN -> HALF_OPEN or HALF_OPEN -> OPEN. */
int pacer__breaker_allow(pacer__breaker_t *b, int64_t now, int64_t *retry_at);

/* Admits one call. Precondition: pacer__breaker_allow() just returned 1.
 * Returns the call's ticket. */
uint32_t pacer__breaker_admit(pacer__breaker_t *b, int64_t now);

/* Records the outcome of the call holding ticket, admitted at admitted_ns
 * (the now given to its pacer__breaker_admit()). Returns 1 if this changed
 * the state, else 0. */
int pacer__breaker_record(pacer__breaker_t *b, uint32_t ticket,
                          pacer__outcome_kind_t kind, int64_t admitted_ns,
                          int64_t now);

/* 1 when a call admitted at admitted_ns whose outcome of kind came at now
 * is slow under cfg: a success or a failure, more than slow_ns long, with
 * slow_ns > 0. Pure. */
int pacer__breaker_is_slow(const pacer__breaker_cfg_t *cfg,
                           pacer__outcome_kind_t kind, int64_t admitted_ns,
                           int64_t now);

/* Why b last opened (why 0: never). The ratios that tripped it, for the
 * event the dispatcher may emit when it opens. Pure. */
pacer__breaker_trip_t pacer__breaker_last_trip(const pacer__breaker_t *b);
/* The settings b borrows are about to change from window old_window to
 * new_window (both 1..1024): a CLOSED breaker keeps its newest outcomes,
 * as many as the new window holds, judged from its next outcome. Call
 * before the window changes in the borrowed cfg. Can't fail. */
void pacer__breaker_rewindow(pacer__breaker_t *b, unsigned old_window,
                             unsigned new_window);

/* Back to CLOSED with an empty window; outcomes of calls admitted before
 * are ignored (breakers turned on again: what they knew is stale). */
void pacer__breaker_reset(pacer__breaker_t *b);

/* The state at now (applies due time transitions). */
pacer_breaker_state_t pacer__breaker_state(pacer__breaker_t *b, int64_t now);

/* 1 when the breaker holds nothing worth keeping: CLOSED with an empty
 * window. */
int pacer__breaker_pristine(const pacer__breaker_t *b);

/* Until when an idle breaker (no call out) holds something worth keeping,
 * given that its last outcome came at or before now: INT64_MIN when nothing
 * (CLOSED with no failure nor slow call in its window); OPEN: one cooldown past
 * the end of its cooldown (a key idle that long has had its chance to probe);
 * HALF_OPEN, or CLOSED with failures or slow calls in its window: one
 * cooldown from now.
 * Forgetting a breaker then costs at most what min_calls protects against. */
int64_t pacer__breaker_keep_until(const pacer__breaker_t *b, int64_t now);

#endif
