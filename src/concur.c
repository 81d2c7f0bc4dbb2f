/* SPDX-License-Identifier: MIT */
/* concur.c - a key's concurrency limit adapted to latency: windows of RTT
 * samples, a gradient against the lowest window, a periodic probe of that
 * lowest; pure decisions, applied by the scheduler.
 *
 * Invariants: see concur.h. limit is a double so that small steps add up
 * (the cap is its floor); min_rtt and rtt are window means, never single
 * samples, so one fast outlier does not set the floor. */
#include "concur.h"
#include <math.h>

int pacer__concur_cfg_check(unsigned min, unsigned max)
{
  if (min == 0 && max == 0)
    return 0;
  return min >= 1 && min <= max && max <= PACER__CONCUR_MAX ? 0 : -1;
}

int pacer__concur_kind(int error, int status, int other_origin, int timed_out)
{
  if (error != 0)
    return timed_out ? PACER__CONCUR_TIMEOUT : PACER__CONCUR_IGNORE;
  /* A redirect's answer timed two servers; a refusal or a server error may
   * come at once without the work, or after the server's own timeout. */
  if (other_origin || status == 429 || status >= 500)
    return PACER__CONCUR_IGNORE;
  return PACER__CONCUR_SAMPLE;
}

static unsigned bound(double v, const pacer__concur_cfg_t *cfg)
{
  if (!(v >= cfg->min)) /* NaN too */
    return cfg->min;
  if (v >= cfg->max)
    return cfg->max;
  return (unsigned)v;
}

unsigned pacer__concur_cap(const pacer__concur_t *c,
                           const pacer__concur_cfg_t *cfg)
{
  return c->cap ? bound(c->cap, cfg) : cfg->min;
}

static void window_reset(pacer__concur_t *c)
{
  c->win_sum = 0;
  c->win_n = 0;
  c->win_inflight = 0;
}

/* Puts cap in force at now: attempts started before it measure the old
 * one. */
static void set_cap(pacer__concur_t *c, unsigned cap, int64_t now)
{
  if (cap != c->cap) {
    c->cap = cap;
    c->changed_ns = now;
    window_reset(c);
  }
}

/* The limit after a window of mean r. */
static double next_limit(const pacer__concur_t *c, double l, int64_t r,
                         int app_limited)
{
  double g = r > 0 ? (double)c->min_rtt / (double)r : 1.0;
  if (g > 1)
    g = 1;
  if (g < PACER__CONCUR_GRADIENT_MIN)
    g = PACER__CONCUR_GRADIENT_MIN;
  double n;
  if (l * (1 - g) < PACER__CONCUR_IDLE) /* nothing waits: grow fast */
    n = l * PACER__CONCUR_GROW;
  else
    n = l + (l * g + sqrt(l) - l) * PACER__CONCUR_SMOOTH;
  /* A key that kept less than half its cap busy says nothing of more. */
  if (app_limited && n > l)
    n = l;
  return n;
}

static unsigned window_end(pacer__concur_t *c, const pacer__concur_cfg_t *cfg,
                           int64_t now)
{
  int64_t r = c->win_sum / (int64_t)c->win_n;
  int app_limited = 2u * c->win_inflight < pacer__concur_cap(c, cfg);
  window_reset(c);
  c->rtt = r;
  if (c->probing) {
    /* Below the server's capacity nothing queues: this is its unloaded
     * latency as it is now, higher or lower than before. */
    c->probing = 0;
    c->min_rtt = r;
    c->probe_ns = now + PACER__CONCUR_PROBE_NS;
    set_cap(c, bound(c->limit, cfg), now);
    c->changed_ns = now;
    return pacer__concur_cap(c, cfg);
  }
  if (c->min_rtt == 0 || r < c->min_rtt)
    c->min_rtt = r;
  if (c->probe_ns == 0)
    c->probe_ns = now + PACER__CONCUR_PROBE_NS;
  double l = next_limit(c, c->limit, r, app_limited);
  c->limit = l < cfg->min ? cfg->min : l > cfg->max ? cfg->max : l;
  if (now >= c->probe_ns) {
    unsigned half = (unsigned)(c->limit / 2);
    c->probing = 1;
    set_cap(c, half < cfg->min ? cfg->min : half, now);
    c->changed_ns = now; /* even when the cap is the same */
    window_reset(c);
  } else {
    set_cap(c, bound(c->limit, cfg), now);
  }
  return pacer__concur_cap(c, cfg);
}

unsigned pacer__concur_end(pacer__concur_t *c, const pacer__concur_cfg_t *cfg,
                           int kind, int64_t start_ns, unsigned inflight,
                           int64_t now)
{
  if (c->limit == 0) {
    c->limit = cfg->min;
    c->cap = cfg->min;
  }
  /* Settings changed under a live key (they cannot today: kept safe). */
  if (c->limit < cfg->min || c->limit > cfg->max)
    c->limit = c->limit < cfg->min ? cfg->min : cfg->max;
  if (kind == PACER__CONCUR_TIMEOUT) {
    /* Attempts that started before the cut timed out under the old cap:
     * they were its overload, already answered. */
    if (start_ns < c->cut_ns)
      return pacer__concur_cap(c, cfg);
    c->cut_ns = now;
    c->limit *= PACER__CONCUR_TIMEOUT_CUT;
    if (c->limit < cfg->min)
      c->limit = cfg->min;
    c->probing = 0;
    set_cap(c, bound(c->limit, cfg), now);
    window_reset(c);
    return pacer__concur_cap(c, cfg);
  }
  if (kind != PACER__CONCUR_SAMPLE || start_ns <= c->changed_ns ||
      now < start_ns)
    return pacer__concur_cap(c, cfg);
  int64_t rtt = now - start_ns;
  /* Sums stay far from overflow: 64 samples of at most 2^56 ns (2 years). */
  if (rtt > INT64_C(1) << 56)
    rtt = INT64_C(1) << 56;
  c->win_sum += rtt;
  c->win_n++;
  if (inflight > c->win_inflight)
    c->win_inflight = inflight;
  unsigned need = pacer__concur_cap(c, cfg);
  if (need > PACER__CONCUR_WINDOW_MAX)
    need = PACER__CONCUR_WINDOW_MAX;
  if (c->win_n < need)
    return pacer__concur_cap(c, cfg);
  return window_end(c, cfg, now);
}
