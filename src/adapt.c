/* SPDX-License-Identifier: MIT */
/* adapt.c - a key's rate adapted to its server's announced quota and
 * refusals; pure decisions, applied by the scheduler.
 *
 * Invariants: see adapt.h. Rates are doubles in tokens per second, kept in
 * [min_rate or less when a configured rate is lower, PACER__RATE_MAX], so
 * the bucket the scheduler makes from them always accepts them; times are
 * added with pacer__time_add(), which saturates. */
#include "adapt.h"
#include "clock.h"
#include "limiter.h"

#define NS_PER_S 1e9
#define SLOT_NS PACER__NS_PER_S

/* ---- starts per second ---- */

void pacer__adapt_started(pacer__adapt_t *a, int64_t now)
{
  if (a->slot_ns == 0 || now < a->slot_ns) {
    a->slot_ns = now;
    a->slot_n = a->prev_n = 0;
  } else if (now - a->slot_ns >= 2 * SLOT_NS) {
    a->slot_ns = now - (now - a->slot_ns) % SLOT_NS;
    a->slot_n = a->prev_n = 0;
  } else if (now - a->slot_ns >= SLOT_NS) {
    a->slot_ns += SLOT_NS;
    a->prev_n = a->slot_n;
    a->slot_n = 0;
  }
  if (a->slot_n < UINT32_MAX)
    a->slot_n++;
}

/* The previous slot counts for the part of the last second it still
 * covers, as a sliding one-second window would. */
double pacer__adapt_observed(const pacer__adapt_t *a, int64_t now)
{
  if (a->slot_ns == 0 || now < a->slot_ns)
    return 0;
  int64_t pos = now - a->slot_ns;
  double cur = a->slot_n, prev = a->prev_n;
  if (pos >= 2 * SLOT_NS)
    return 0;
  if (pos >= SLOT_NS) {
    prev = cur;
    cur = 0;
    pos -= SLOT_NS;
  }
  return prev * (1.0 - (double)pos / (double)SLOT_NS) + cur;
}

/* ---- state changes ---- */

/* Back to the configured limits. Returns 1 if that is a change. */
static int unadapt(pacer__adapt_t *a)
{
  if (a->reason == PACER__ADAPT_NONE)
    return 0;
  a->reason = PACER__ADAPT_NONE;
  a->rate = 0;
  a->slack_ns = 0;
  a->rolled = 0;
  return 1;
}

static int set_rate(pacer__adapt_t *a, int reason, double rate)
{
  int changed = a->reason != reason || a->rate != rate;
  a->reason = reason;
  a->rate = rate;
  return changed;
}

/* r within [floor, ceiling]: never below the floor, never above a
 * configured rate, which wins when the floor is above it (gentler). */
static double bound(double r, const pacer__adapt_cfg_t *cfg, double base)
{
  if (!(r >= cfg->min_rate)) /* NaN too */
    r = cfg->min_rate;
  if (base > 0 && r > base)
    r = base;
  return r > PACER__RATE_MAX ? PACER__RATE_MAX : r;
}

int pacer__adapt_expire(pacer__adapt_t *a, int64_t now)
{
  if (a->reason != PACER__ADAPT_ANNOUNCED || now < a->until_ns)
    return 0;
  int64_t next_end = pacer__time_add(a->until_ns, a->window_ns);
  if (a->next_rate > 0 && a->window_ns > 0 && !a->rolled && now < next_end) {
    a->rolled = 1;
    a->until_ns = next_end;
    a->reset_lo_ns = a->reset_hi_ns = INT64_MIN; /* the next answer: afresh */
    return set_rate(a, PACER__ADAPT_ANNOUNCED, a->next_rate);
  }
  return unadapt(a);
}

/* ---- announced quota ---- */

/* Up to a tenth of the time to the reset, at most 1 s. */
static int64_t jitter(int64_t reset_ns, uint64_t rnd)
{
  int64_t max = (int64_t)((double)reset_ns * PACER__ADAPT_JITTER_SHARE);
  if (max > PACER__ADAPT_JITTER_MAX_NS)
    max = PACER__ADAPT_JITTER_MAX_NS;
  return max > 0 ? (int64_t)(rnd % ((uint64_t)max + 1)) : 0;
}

/* Narrows where the window of announcement q, received at now for an
 * attempt started at start, ends. The server counted the attempt between
 * start and now, and rounded the time left up to whole seconds; an
 * announcement of the window already known narrows its interval, any other
 * starts a new one. */
static void narrow(pacer__adapt_t *a, const pacer__ratehdr_t *q, int64_t start,
                   int64_t now)
{
  if (start > now)
    start = now;
  int64_t lo = pacer__time_add(start, q->reset_ns - PACER__ADAPT_RESET_RES_NS);
  int64_t hi = pacer__time_add(now, q->reset_ns);
  if (a->reason == PACER__ADAPT_ANNOUNCED && a->reset_hi_ns > now &&
      lo < a->reset_hi_ns && hi > a->reset_lo_ns) {
    if (lo > a->reset_lo_ns)
      a->reset_lo_ns = lo;
    if (hi < a->reset_hi_ns)
      a->reset_hi_ns = hi;
  } else {
    a->reset_lo_ns = lo;
    a->reset_hi_ns = hi;
  }
}

/* What the next window will allow, from the quota's limit and window. */
static void learn_window(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg,
                         double base, const pacer__ratehdr_t *q)
{
  if (q->window_ns > 0)
    a->window_ns = q->window_ns;
  else if (q->reset_ns > a->window_ns)
    a->window_ns = q->reset_ns;
  a->next_rate = 0;
  if (q->limit > 0 && a->window_ns > 0) {
    double r = (double)q->limit * NS_PER_S / (double)a->window_ns;
    if (!(base > 0 && r >= base))
      a->next_rate = bound(r, cfg, base);
  }
}

static int announce(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg,
                    double base, const pacer__ratehdr_t *q, int64_t start,
                    int64_t now, uint64_t rnd, int64_t *pause_until)
{
  learn_window(a, cfg, base, q);
  a->rolled = 0;
  if (q->remaining > 0 && q->reset_ns == 0) /* the window starts afresh */
    return unadapt(a);
  narrow(a, q, start, now);
  int64_t hi = a->reset_hi_ns;
  if (q->remaining == 0) {
    /* Nothing left: hold the key to the reset. Should the cap end the
     * pause sooner, the floor paces it until the reset. */
    int64_t left = hi - now;
    int64_t d = pacer__time_add(left, jitter(left, rnd));
    if (d > cfg->pause_max_ns)
      d = cfg->pause_max_ns;
    if (d > 0)
      *pause_until = pacer__time_add(now, d);
    a->until_ns = hi;
    return set_rate(a, PACER__ADAPT_ANNOUNCED, bound(0, cfg, base));
  }
  /* The remaining quota over the time to the reset: as announced until
   * later announcements narrow it below the second it is rounded to, then
   * to the middle of what is left of the interval. Spreading over the
   * announced T s throughout would leave a part of every window unused
   * (6% of 100 per 10 s, 25% of 20 per 2 s: at the end of a window, T = 1
   * spreads the last few over a whole second when a tenth is left). */
  int64_t end = hi;
  if (hi - a->reset_lo_ns < PACER__ADAPT_RESET_RES_NS) {
    int64_t from = a->reset_lo_ns > now ? a->reset_lo_ns : now;
    end = from + (hi - from) / 2;
  }
  /* remaining + 1 intervals: the last of them starts an interval before
   * the end, not at it, where the least error in the estimate would put
   * it in the next window (and the next window's start, paced by it, a
   * request late: one lost per window). */
  double r = (double)(q->remaining + 1) * NS_PER_S / (double)(end - now);
  if (base > 0 && r >= base) /* the configured rate is gentler already */
    return unadapt(a);
  a->until_ns = hi;
  return set_rate(a, PACER__ADAPT_ANNOUNCED, bound(r, cfg, base));
}

/* ---- AIMD ---- */

static int cut(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg, double base,
               const pacer__adapt_event_t *ev, int64_t now)
{
  /* Sent before the last cut, at the rate that cut already answered. */
  if (ev->attempt_start_ns < a->cut_ns)
    return 0;
  double cur = a->reason != PACER__ADAPT_NONE ? a->rate
               : base > 0                     ? base
                                              : pacer__adapt_observed(a, now);
  /* The step is a share of the rate the server refused, so the climb back
   * is paced by what this server takes, not by how fast the key ran before
   * the first refusal (a key with no rate may have started thousands per
   * second; a tenth of that per second would refuse again at once). */
  a->step = cur * PACER__ADAPT_STEP_SHARE;
  if (!(a->step >= cfg->min_rate))
    a->step = cfg->min_rate;
  a->ceiling = base;
  a->cut_ns = now;
  a->raised_ns = now;
  a->slack_ns = 0;
  return set_rate(a, PACER__ADAPT_AIMD,
                  bound(cur * PACER__ADAPT_DECREASE, cfg, base));
}

static int raise_rate(pacer__adapt_t *a, double base, int64_t now)
{
  if (a->reason != PACER__ADAPT_AIMD || now <= a->raised_ns)
    return 0;
  double r = a->rate + a->step * (double)(now - a->raised_ns) / NS_PER_S;
  a->raised_ns = now;
  if (base > 0) {
    if (r >= base)
      return unadapt(a);
  } else {
    /* No configured rate to climb back to: the key is let go once its
     * rate has stayed well above what it uses. */
    if (r > PACER__RATE_MAX)
      r = PACER__RATE_MAX;
    if (r >= PACER__ADAPT_SLACK * pacer__adapt_observed(a, now)) {
      if (a->slack_ns == 0)
        a->slack_ns = now;
      else if (now - a->slack_ns >= PACER__ADAPT_SLACK_NS)
        return unadapt(a);
    } else {
      a->slack_ns = 0;
    }
  }
  return set_rate(a, PACER__ADAPT_AIMD, r);
}

/* ---- one ended attempt ---- */

int pacer__adapt_end(pacer__adapt_t *a, const pacer__adapt_cfg_t *cfg,
                     double base, const pacer__adapt_event_t *ev, int64_t now,
                     uint64_t rnd, int64_t *pause_until)
{
  if (ev->error != 0)
    return 0; /* no answer: nothing said about the limits */
  const pacer__ratehdr_t *q = ev->quota;
  int usable =
      cfg->announced && q && q->found && q->remaining >= 0 && q->reset_ns >= 0;
  if (ev->status == 429 || ev->status == 503) {
    /* Retry-After keeps precedence: it paused the key, and the key comes
     * back when it says, at the rate it had. */
    if (ev->retry_after)
      return 0;
    /* A refusal that announces quota left does not explain itself (another
     * limit refused it): it is treated as one with no guidance. */
    if (usable && (q->remaining == 0 || !cfg->aimd))
      return announce(a, cfg, base, q, ev->attempt_start_ns, now, rnd,
                      pause_until);
    return cfg->aimd ? cut(a, cfg, base, ev, now) : 0;
  }
  if (usable)
    return announce(a, cfg, base, q, ev->attempt_start_ns, now, rnd,
                    pause_until);
  if (ev->status >= 200 && ev->status < 400)
    return raise_rate(a, base, now);
  return 0;
}

/* ---- memory ---- */

int64_t pacer__adapt_keep_until(const pacer__adapt_t *a)
{
  switch (a->reason) {
  case PACER__ADAPT_ANNOUNCED:
    return a->until_ns;
  case PACER__ADAPT_AIMD: {
    if (a->ceiling <= 0)
      return pacer__time_add(a->raised_ns, PACER__ADAPT_SLACK_NS);
    double s = (a->ceiling - a->rate) / a->step;
    if (!(s < 1e9)) /* 30 years: "until forgotten by other means" */
      s = 1e9;
    return pacer__time_add(a->raised_ns, (int64_t)(s * NS_PER_S) + 1);
  }
  default:
    return INT64_MIN;
  }
}

const char *pacer__adapt_reason_name(int reason)
{
  switch (reason) {
  case PACER__ADAPT_ANNOUNCED:
    return "announced";
  case PACER__ADAPT_AIMD:
    return "aimd";
  default:
    return "none";
  }
}
